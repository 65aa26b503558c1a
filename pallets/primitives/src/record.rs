//! What the chain remembers about each registered device besides its identity: lifetime
//! counters and reputation changes. The device registry stores them in the device's record; the
//! runtime API returns them as they are.

use codec::{Decode, DecodeWithMemTracking, Encode, MaxEncodedLen};
use scale_info::TypeInfo;

use crate::{
	BasisPoints, Participation, ReputationReason, TelemetryTotals, UnixSeconds, WattHours,
};

/// Lifetime counters of what a device did.
#[derive(
	Encode,
	Decode,
	DecodeWithMemTracking,
	MaxEncodedLen,
	TypeInfo,
	Clone,
	Copy,
	PartialEq,
	Eq,
	Debug,
	Default,
	serde::Serialize,
	serde::Deserialize,
)]
#[serde(rename_all = "camelCase")]
pub struct DeviceHistory {
	/// Energy generated (Wh).
	pub energy_produced_wh: WattHours,
	/// Energy drawn from the grid, charging included (Wh).
	pub energy_consumed_wh: WattHours,
	/// Energy drawn into storage (Wh).
	pub energy_charged_wh: WattHours,
	/// Energy delivered from storage (Wh).
	pub energy_discharged_wh: WattHours,
	/// Seconds the device was online.
	pub online_s: u64,
	/// Telemetry reports accepted as plausible.
	pub reports_accepted: u32,
	/// Telemetry reports accepted but flagged as implausible (never paid).
	pub reports_flagged: u32,
	/// Telemetry reports rejected (bad signature, out of sequence, …).
	pub reports_rejected: u32,
	/// Intervals the device should have reported, missed ones included: with the three counters
	/// above, its data completeness.
	pub reports_expected: u32,
	/// Demand-response events the device committed to.
	pub dr_events_joined: u32,
	/// Demand-response events in which it delivered its commitment.
	pub dr_events_delivered: u32,
	/// Scoring epochs in which it earned a reward.
	pub epochs_rewarded: u32,
}

impl DeviceHistory {
	/// Adds telemetry totals, saturating at the counters' limits.
	pub fn add_telemetry(&mut self, totals: &TelemetryTotals) {
		self.energy_produced_wh = self.energy_produced_wh.saturating_add(totals.energy_produced_wh);
		self.energy_consumed_wh = self.energy_consumed_wh.saturating_add(totals.energy_consumed_wh);
		self.energy_charged_wh = self.energy_charged_wh.saturating_add(totals.energy_charged_wh);
		self.energy_discharged_wh =
			self.energy_discharged_wh.saturating_add(totals.energy_discharged_wh);
		self.online_s = self.online_s.saturating_add(totals.online_s);
		self.reports_accepted = self.reports_accepted.saturating_add(totals.reports_accepted);
		self.reports_flagged = self.reports_flagged.saturating_add(totals.reports_flagged);
		self.reports_rejected = self.reports_rejected.saturating_add(totals.reports_rejected);
		self.reports_expected = self.reports_expected.saturating_add(totals.reports_expected);
	}

	/// Counts a demand-response event or a rewarded epoch.
	pub fn add_participation(&mut self, what: Participation) {
		let counter = match what {
			Participation::DemandResponseJoined => &mut self.dr_events_joined,
			Participation::DemandResponseDelivered => &mut self.dr_events_delivered,
			Participation::EpochRewarded => &mut self.epochs_rewarded,
		};
		*counter = counter.saturating_add(1);
	}
}

/// One change of a device's reputation.
#[derive(
	Encode,
	Decode,
	DecodeWithMemTracking,
	MaxEncodedLen,
	TypeInfo,
	Clone,
	Copy,
	PartialEq,
	Eq,
	Debug,
	serde::Serialize,
	serde::Deserialize,
)]
#[serde(rename_all = "camelCase")]
pub struct ReputationChange {
	/// When it changed (Unix seconds).
	pub at: UnixSeconds,
	/// Requested change (bp); the score itself stays within 0–10 000.
	pub delta_bp: i32,
	/// The score after the change (bp).
	pub score_bp: BasisPoints,
	pub reason: ReputationReason,
}
