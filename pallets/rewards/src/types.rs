//! What the rewards pallet stores: scores, per-epoch results and the settlement in progress.

use codec::{Decode, DecodeWithMemTracking, Encode, MaxEncodedLen};
use openvpp_primitives::{DeviceId, WattHours};
pub use openvpp_primitives::{DimensionScores, PAID_DIMENSIONS};
use scale_info::TypeInfo;
use sp_runtime::Perbill;

/// A scoring epoch: Unix seconds ÷ the epoch length, as the telemetry pallet counts them.
pub type EpochIndex = u64;

/// Network-wide sums of the scores of one epoch (u128: a million devices' Wh cannot overflow).
#[derive(
	Clone,
	Copy,
	PartialEq,
	Eq,
	Default,
	Encode,
	Decode,
	DecodeWithMemTracking,
	MaxEncodedLen,
	TypeInfo,
	Debug,
)]
pub struct ScoreTotals {
	pub sums: [u128; PAID_DIMENSIONS],
	/// Devices with a score in the epoch.
	pub devices: u32,
}

impl ScoreTotals {
	pub fn add(&mut self, scores: &DimensionScores) {
		for (sum, value) in self.sums.iter_mut().zip(scores.as_array()) {
			*sum = sum.saturating_add(value.into());
		}
		self.devices = self.devices.saturating_add(1);
	}
}

/// How the pool of an epoch is shared between the paid dimensions. Each weight is the share
/// of the pool (after the treasury's share) that goes to its dimension; weights that do not
/// add up to 100 % are scaled to do so.
#[derive(
	Clone,
	Copy,
	PartialEq,
	Eq,
	Encode,
	Decode,
	DecodeWithMemTracking,
	MaxEncodedLen,
	TypeInfo,
	Debug,
)]
pub struct DimensionWeights {
	pub generation: Perbill,
	pub storage: Perbill,
	pub grid_stability: Perbill,
	pub participation: Perbill,
	pub online: Perbill,
}

impl DimensionWeights {
	pub fn as_array(&self) -> [Perbill; PAID_DIMENSIONS] {
		[self.generation, self.storage, self.grid_stability, self.participation, self.online]
	}
}

/// The OVPP emission schedule: `yearly_emission` in the first year, then each year the
/// previous year's emission less `yearly_decay`, but never less than `tail_floor` of the total
/// issuance at that time.
#[derive(
	Clone,
	Copy,
	PartialEq,
	Eq,
	Encode,
	Decode,
	DecodeWithMemTracking,
	MaxEncodedLen,
	TypeInfo,
	Debug,
)]
pub struct EmissionSchedule<Balance> {
	/// OVPP emitted in the first year of rewards.
	pub first_year_emission: Balance,
	/// How much smaller each year's emission is than the year before's.
	pub yearly_decay: Perbill,
	/// The least a year emits, as a share of the total issuance when the year begins.
	pub tail_floor: Perbill,
	/// The share of each epoch's pool that goes to the treasury account.
	pub treasury_share: Perbill,
}

/// Where the emission schedule stands.
#[derive(
	Clone,
	Copy,
	PartialEq,
	Eq,
	Encode,
	Decode,
	DecodeWithMemTracking,
	MaxEncodedLen,
	TypeInfo,
	Debug,
)]
pub struct EmissionState<Balance> {
	/// The first epoch that was settled: year 0 begins with it.
	pub first_epoch: EpochIndex,
	/// The year `yearly_emission` applies to, counted from `first_epoch`.
	pub year: u32,
	pub yearly_emission: Balance,
}

/// One device's result for one epoch.
#[derive(
	Clone,
	Copy,
	PartialEq,
	Eq,
	Encode,
	Decode,
	DecodeWithMemTracking,
	MaxEncodedLen,
	TypeInfo,
	Debug,
)]
pub struct DeviceEpochResult<AccountId, Balance, BlockNumber> {
	/// Who is paid: the owner when the epoch closed.
	pub owner: AccountId,
	/// Plausible reports ÷ (expected intervals + rejected reports), at most 100 %.
	pub data_quality: Perbill,
	pub scores: DimensionScores,
	/// What the device earned, once its epoch is being paid.
	pub reward: Balance,
	/// The block it was paid in. `None` while unpaid; a device whose transfer could not be
	/// made (its owner's account is gone and the reward is below the existential deposit) is
	/// marked paid with a zero reward and its share stays in the pot.
	pub paid_at: Option<BlockNumber>,
}

/// What an epoch was worth and where its pool went.
#[derive(
	Clone,
	Copy,
	PartialEq,
	Eq,
	Default,
	Encode,
	Decode,
	DecodeWithMemTracking,
	MaxEncodedLen,
	TypeInfo,
	Debug,
)]
pub struct EpochSummary<Balance> {
	/// Newly emitted for this epoch.
	pub emitted: Balance,
	/// Everything shared out: the reward pot's spendable balance when settlement began
	/// (this epoch's emission, what earlier epochs left and any funds sent to the pot).
	pub pool: Balance,
	/// Sent to the treasury account.
	pub to_treasury: Balance,
	/// Paid to device owners so far.
	pub paid: Balance,
	/// Left in the pot for the next epoch once every device was paid: rounding remainders,
	/// dimensions no device scored in, transfers that could not be made.
	pub carried: Balance,
	/// The pool of each paid dimension.
	pub dimension_pools: [Balance; PAID_DIMENSIONS],
	pub totals: ScoreTotals,
	/// Devices paid so far.
	pub devices_paid: u32,
	/// Whether every device has been paid.
	pub settled: bool,
}

/// The epoch whose payouts are running, and the last device paid by the automatic sweep.
#[derive(
	Clone,
	Copy,
	PartialEq,
	Eq,
	Encode,
	Decode,
	DecodeWithMemTracking,
	MaxEncodedLen,
	TypeInfo,
	Debug,
)]
pub struct Payout {
	pub epoch: EpochIndex,
	/// The sweep resumes after this device (in storage order).
	pub after: Option<DeviceId>,
}

/// Demand-response results waiting for the device's next epoch close (Wh).
#[derive(
	Clone,
	Copy,
	PartialEq,
	Eq,
	Default,
	Encode,
	Decode,
	DecodeWithMemTracking,
	MaxEncodedLen,
	TypeInfo,
	Debug,
)]
pub struct DemandResponseCredit {
	/// Delivered, up to the commitment, summed over events.
	pub delivered_wh: WattHours,
	/// Committed, summed over events.
	pub committed_wh: WattHours,
}
