//! Scores, rewards and settlement.

use alloc::vec::Vec;
use codec::{Decode, Encode};
use openvpp_primitives::{DeviceId, DimensionScores, UnixSeconds};
use scale_info::TypeInfo;
use serde::{Deserialize, Serialize};

use super::json;

/// One device's result in one epoch.
#[derive(Encode, Decode, TypeInfo, Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DeviceEpochResultView<AccountId> {
	pub epoch: u64,
	pub device: DeviceId,
	/// Who is paid: the owner when the epoch closed.
	pub owner: AccountId,
	/// Plausible reports ÷ (expected intervals + rejected reports), parts per billion.
	pub data_quality_ppb: u32,
	/// Every dimension already multiplied by the data quality (Wh).
	pub scores: DimensionScores,
	/// What the device earned (planck); 0 until its epoch is being settled.
	#[serde(with = "json::planck")]
	pub reward_planck: u128,
	/// The block it was paid in; `None` while unpaid.
	pub paid_at_block: Option<u32>,
}

/// A page of one epoch's results.
#[derive(Encode, Decode, TypeInfo, Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EpochResultPage<AccountId> {
	pub results: Vec<DeviceEpochResultView<AccountId>>,
	pub next: Option<DeviceId>,
}

/// What an epoch was worth and where its pool went (planck).
#[derive(Encode, Decode, TypeInfo, Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EpochSummaryView {
	pub epoch: u64,
	#[serde(with = "json::planck")]
	pub emitted_planck: u128,
	#[serde(with = "json::planck")]
	pub pool_planck: u128,
	#[serde(with = "json::planck")]
	pub to_treasury_planck: u128,
	#[serde(with = "json::planck")]
	pub paid_planck: u128,
	#[serde(with = "json::planck")]
	pub carried_planck: u128,
	/// Devices with a score in the epoch.
	pub devices_scored: u32,
	pub devices_paid: u32,
	/// Whether every device has been paid.
	pub settled: bool,
}

/// Where scoring and settlement stand.
#[derive(Encode, Decode, TypeInfo, Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RewardsStatus {
	/// The chain's time at this block.
	pub now: UnixSeconds,
	pub epoch_length_s: u64,
	/// The epoch `now` falls in; it is scored once it has ended and its grace period passed.
	pub current_epoch: u64,
	/// The next epoch to be settled, once its devices are scored.
	pub next_to_settle: Option<u64>,
	/// The epoch being paid now, and the last device paid.
	pub paying_epoch: Option<u64>,
	pub paid_through_device: Option<DeviceId>,
	/// The retained epochs, newest first.
	pub recent_epochs: Vec<EpochSummaryView>,
	/// Paid to device owners over the retained epochs (planck).
	#[serde(with = "json::planck")]
	pub paid_in_retained_epochs_planck: u128,
	/// The reward pot's free balance (planck): what the next epochs will share out.
	#[serde(with = "json::planck")]
	pub pot_free_balance_planck: u128,
}
