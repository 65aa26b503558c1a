//! Contribution scoring and rewards, and the runtime parameters that steer them.
//!
//! The dimension weights and the emission schedule are dynamic parameters
//! (`pallet-parameters`): `parameters.setParameter` changes them, root for now. Each epoch uses
//! the values in force when its payout opens.

use frame_support::{
	dynamic_params::{dynamic_pallet_params, dynamic_params},
	parameter_types,
	traits::{ConstU32, EnsureOriginWithArg, Get},
	weights::Weight,
	PalletId,
};
use pallet_rewards::{DimensionWeights, EmissionSchedule};
use sp_runtime::Perbill;

use super::RuntimeBlockWeights;
use crate::{AccountId, Balance, Runtime, RuntimeEvent, RuntimeOrigin, Telemetry, OVPP};

#[dynamic_params(RuntimeParameters, pallet_parameters::Parameters::<Runtime>)]
pub mod dynamic_params {
	use super::*;

	/// How rewards are shared and how much OVPP is emitted. Codec indices are part of the
	/// storage keys: never reuse or renumber them.
	#[dynamic_pallet_params]
	#[codec(index = 0)]
	pub mod rewards {
		/// Share of the pool (after the treasury's) for energy generated.
		#[codec(index = 0)]
		pub static GenerationWeight: Perbill = Perbill::from_percent(25);
		/// Share for storage held ready above the owners' reserves.
		#[codec(index = 1)]
		pub static StorageWeight: Perbill = Perbill::from_percent(20);
		/// Share for energy delivered in demand-response events.
		#[codec(index = 2)]
		pub static GridStabilityWeight: Perbill = Perbill::from_percent(20);
		/// Share for energy committed in demand-response events.
		#[codec(index = 3)]
		pub static ParticipationWeight: Perbill = Perbill::from_percent(15);
		/// Share for capacity online.
		#[codec(index = 4)]
		pub static OnlineWeight: Perbill = Perbill::from_percent(20);
		/// OVPP emitted in the first year of rewards: 10 % of a planned supply of 1 000 M.
		#[codec(index = 5)]
		pub static FirstYearEmission: Balance = 100_000_000 * OVPP;
		/// Each year emits this much less than the year before.
		#[codec(index = 6)]
		pub static YearlyDecay: Perbill = Perbill::from_percent(20);
		/// A year emits at least this share of the total issuance at its start.
		#[codec(index = 7)]
		pub static TailFloor: Perbill = Perbill::from_parts(15_000_000);
		/// Share of each epoch's pool for the treasury.
		#[codec(index = 8)]
		pub static TreasuryShare: Perbill = Perbill::from_percent(10);
	}
}

/// Who may change which parameter: root for every key until governance has tracks. The match
/// is exhaustive so that a new parameter module does not compile until its origin is chosen.
pub struct ParametersAdmin;
impl EnsureOriginWithArg<RuntimeOrigin, RuntimeParametersKey> for ParametersAdmin {
	type Success = ();

	fn try_origin(
		origin: RuntimeOrigin,
		key: &RuntimeParametersKey,
	) -> Result<Self::Success, RuntimeOrigin> {
		match key {
			RuntimeParametersKey::Rewards(_) => {
				frame_system::ensure_root(origin.clone()).map_err(|_| origin)
			}
		}
	}

	#[cfg(feature = "runtime-benchmarks")]
	fn try_successful_origin(_: &RuntimeParametersKey) -> Result<RuntimeOrigin, ()> {
		Ok(RuntimeOrigin::root())
	}
}

#[cfg(feature = "runtime-benchmarks")]
impl Default for RuntimeParameters {
	fn default() -> Self {
		RuntimeParameters::Rewards(dynamic_params::rewards::Parameters::TreasuryShare(
			dynamic_params::rewards::TreasuryShare,
			Some(Perbill::from_percent(5)),
		))
	}
}

impl pallet_parameters::Config for Runtime {
	type RuntimeEvent = RuntimeEvent;
	type RuntimeParameters = RuntimeParameters;
	type AdminOrigin = ParametersAdmin;
	// The pallet's own weights: one root-only call, measured upstream.
	type WeightInfo = ();
}

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
	/// The account `pallet-treasury` uses by default, so that the treasury's share is already
	/// there when the treasury pallet arrives.
	pub TreasuryAccount: AccountId =
		sp_runtime::traits::AccountIdConversion::into_account_truncating(&PalletId(*b"py/trsry"));
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
	type TreasuryAccount = TreasuryAccount;
	type EpochLengthS = ScoringEpochLength;
	type CutoffGraceS = SweepGrace;
	type DimensionWeights = RewardWeights;
	type EmissionSchedule = RewardSchedule;
	/// A day of hourly epochs.
	type ResultRetentionEpochs = ConstU32<24>;
	type MaxPollWeight = RewardsPollWeight;
	type WeightInfo = pallet_rewards::weights::SubstrateWeight<Runtime>;
}
