//! Demand-response events, their participants, commitments, measured delivery and payments.

use alloc::vec::Vec;
use codec::{Decode, Encode};
use openvpp_primitives::{
	Baseline, BasisPoints, DeviceId, DeviceKind, EventKind, EventStatus, JoinedBy, RatedWatts,
	UnixSeconds, WattHours,
};
use scale_info::TypeInfo;
use serde::{Deserialize, Serialize};

use super::json;

/// An event: what the operator asked for, where it stands and its running totals.
#[derive(Encode, Decode, TypeInfo, Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DrEventView<AccountId> {
	pub id: u32,
	pub operator: AccountId,
	pub kind: EventKind,
	#[serde(with = "json::texts")]
	pub regions: Vec<Vec<u8>>,
	pub eligible_kinds: Vec<DeviceKind>,
	pub opt_in_deadline: UnixSeconds,
	pub start: UnixSeconds,
	pub end: UnixSeconds,
	pub interval_length_s: u32,
	/// Power the operator wants moved (W).
	pub target_power_w: u64,
	/// Paid per kWh delivered (planck).
	#[serde(with = "json::planck")]
	pub price_per_kwh_planck: u128,
	pub min_reputation_bp: BasisPoints,
	pub max_participants: u32,
	pub status: EventStatus,
	/// Held from the operator: the most the event can pay (planck).
	#[serde(with = "json::planck")]
	pub escrow_planck: u128,
	/// Paid to owners so far (planck).
	#[serde(with = "json::planck")]
	pub paid_planck: u128,
	pub joined_devices: u32,
	pub joined_w: u64,
	pub selected_devices: u32,
	/// Committed by the selected devices (W); never above the target.
	pub selected_w: u64,
	/// Measured so far against the participants' baselines, over every participant (Wh).
	pub measured_delivery_wh: WattHours,
	/// Delivered by the participants settled so far (Wh).
	pub settled_delivery_wh: WattHours,
}

/// A device in an event.
#[derive(Encode, Decode, TypeInfo, Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ParticipantView {
	pub device: DeviceId,
	pub joined_by: JoinedBy,
	/// Power committed (W).
	pub committed_w: RatedWatts,
	/// Whether the selection kept it (false until the selection reached it).
	pub selected: bool,
	/// The baseline it is measured against, fixed at its first interval in the event.
	pub baseline: Option<Baseline>,
	/// Energy delivered against the baseline so far (Wh).
	pub delivered_wh: WattHours,
	pub responding_intervals: u16,
	pub overridden_intervals: u16,
	pub idle_intervals: u16,
	pub flagged_intervals: u16,
	pub unmeasured_intervals: u16,
	/// Once settled: min(100 %, delivered ÷ committed energy).
	pub performance_bp: Option<BasisPoints>,
	/// Once settled: what it was paid (planck).
	#[serde(with = "json::planck_option")]
	pub paid_planck: Option<u128>,
}

/// An event and a page of its participants, in selection order.
#[derive(Encode, Decode, TypeInfo, Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DrEventDetail<AccountId> {
	/// The chain's time at the block read (Unix seconds), to place the event in time.
	pub now: UnixSeconds,
	pub event: DrEventView<AccountId>,
	/// Participants in selection order, from position `after + 1` on.
	pub participants: Vec<ParticipantView>,
	/// The `after` of the next page of participants, `None` at the end.
	pub next: Option<u32>,
}

/// A page of events, newest first. `next` is the `before` of the following page.
#[derive(Encode, Decode, TypeInfo, Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DrEventPage<AccountId> {
	pub events: Vec<DrEventView<AccountId>>,
	pub next: Option<u32>,
}
