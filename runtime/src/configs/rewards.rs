//! Contribution scoring and rewards, and the runtime parameters that steer them.
//!
//! The dimension weights and the emission schedule are dynamic parameters
//! ([`super::parameters`]), changed by the network-parameters track. Each epoch uses the values
//! in force when its payout opens.

use frame_support::{
	parameter_types,
	traits::{ConstU32, Get},
	weights::Weight,
	PalletId,
};
use pallet_rewards::{DimensionWeights, EmissionSchedule};
use sp_runtime::Perbill;

pub use super::parameters::{dynamic_params, RuntimeParameters};
use super::RuntimeBlockWeights;
use crate::{Balance, Runtime, Telemetry};

/// The five dimension weights, read from the parameters.
pub struct RewardWeights;
impl Get<DimensionWeights> for RewardWeights {
	fn get() -> DimensionWeights {
		use dynamic_params::rewards::*;
		DimensionWeights {
			generation: GenerationWeight::get(),
			storage: StorageWeight::get(),
			grid_stability: GridStabilityWeight::get(),
			participation: ParticipationWeight::get(),
			online: OnlineWeight::get(),
		}
	}
}

/// The emission schedule, read from the parameters.
pub struct RewardSchedule;
impl Get<EmissionSchedule<Balance>> for RewardSchedule {
	fn get() -> EmissionSchedule<Balance> {
		use dynamic_params::rewards::*;
		EmissionSchedule {
			first_year_emission: FirstYearEmission::get(),
			yearly_decay: YearlyDecay::get(),
			tail_floor: TailFloor::get(),
			treasury_share: TreasuryShare::get(),
		}
	}
}

/// The telemetry sweep's grace, fixed at genesis: an epoch is paid once its sweep is done.
pub struct SweepGrace;
impl Get<u64> for SweepGrace {
	fn get() -> u64 {
		Telemetry::epoch_close_grace_s()
	}
}

/// The telemetry pallet's epoch length, fixed at genesis.
pub struct ScoringEpochLength;
impl Get<u64> for ScoringEpochLength {
	fn get() -> u64 {
		Telemetry::epoch_length_s()
	}
}

parameter_types! {
	pub const RewardPotId: PalletId = PalletId(*b"ovpp/rwd");
	/// Payouts and pruning may use 2.5 % of every block, before any transaction.
	pub RewardsPollWeight: Weight =
		Perbill::from_parts(25_000_000) * RuntimeBlockWeights::get().max_block;
}

impl pallet_rewards::Config for Runtime {
	type Currency = crate::Balances;
	type Registry = crate::DeviceRegistry;
	type UnixTime = crate::Timestamp;
	type ClosedEpochs = Telemetry;
	type PotId = RewardPotId;
	type TreasuryAccount = crate::governance::TreasuryAccount;
	type EpochLengthS = ScoringEpochLength;
	type CutoffGraceS = SweepGrace;
	type DimensionWeights = RewardWeights;
	type EmissionSchedule = RewardSchedule;
	/// A day of hourly epochs.
	type ResultRetentionEpochs = ConstU32<24>;
	type MaxPollWeight = RewardsPollWeight;
	type WeightInfo = pallet_rewards::weights::SubstrateWeight<Runtime>;
}
