//! Runtime parameters governance changes without a runtime upgrade (`pallet-parameters`).
//!
//! Each parameter lives in storage under `Parameters` and is read where it is used (one
//! storage read). All of them belong to the network-parameters track: `parameters.setParameter`
//! dispatched by a referendum on that track (or by root) changes one value; the
//! `Parameters::Updated` event records the old and new value.
//!
//! - `rewards`: dimension weights, emission schedule, treasury share (docs/rewards.md);
//! - `telemetry`: the plausibility tolerances reports are checked with (read once per batch);
//! - `demand_response`: the longest event and the furthest lead time operators may announce, and
//!   the reputation pivot of settlement.

use frame_support::{
	dynamic_params::{dynamic_pallet_params, dynamic_params},
	traits::{EnsureOrigin, EnsureOriginWithArg, Get},
};
use openvpp_primitives::PlausibilityTolerances;
use sp_runtime::Perbill;

use crate::{
	governance::NetworkParametersOrigin, Balance, Runtime, RuntimeEvent, RuntimeOrigin, OVPP,
};

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

	/// How strictly reports are checked against physics.
	#[dynamic_pallet_params]
	#[codec(index = 1)]
	pub mod telemetry {
		/// Meters and inverters are class 1–2 instruments; 5 % covers them and rounding. Round
		/// trip losses of batteries and chargers: 10 %. SoC estimates drift a few per cent.
		#[codec(index = 0)]
		pub static Tolerances: PlausibilityTolerances = PlausibilityTolerances {
			rating_tolerance_bp: 500,
			soc_throughput_tolerance_bp: 1_000,
			soc_capacity_tolerance_bp: 300,
		};
	}

	/// What operators may announce, and how delivery moves reputation. (The delivery
	/// tolerance is not here: an event's escrow is computed with it at creation and must cover
	/// its settlement, so it is a constant.)
	#[dynamic_pallet_params]
	#[codec(index = 2)]
	pub mod demand_response {
		/// Performance at which an event leaves reputation unchanged (basis points).
		#[codec(index = 0)]
		pub static ReputationPivotBp: u16 = 8_000;
		/// Longest event an operator may announce, in seconds (5 min to 24 h).
		#[codec(index = 1)]
		pub static MaxEventDurationS: u32 = 4 * 3_600;
		/// Furthest ahead an event may start, in seconds (1 h to 30 days).
		#[codec(index = 2)]
		pub static MaxLeadTimeS: u64 = 7 * 86_400;
	}
}

/// Who may change which parameter: the network-parameters track (or root) for every key. The
/// match is exhaustive so that a new parameter module does not compile until its origin is
/// chosen.
pub struct ParametersAdmin;
impl EnsureOriginWithArg<RuntimeOrigin, RuntimeParametersKey> for ParametersAdmin {
	type Success = ();

	fn try_origin(
		origin: RuntimeOrigin,
		key: &RuntimeParametersKey,
	) -> Result<Self::Success, RuntimeOrigin> {
		match key {
			RuntimeParametersKey::Rewards(_)
			| RuntimeParametersKey::Telemetry(_)
			| RuntimeParametersKey::DemandResponse(_) => {
				NetworkParametersOrigin::try_origin(origin).map(|_| ())
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
	// One call that writes one value: the pallet's weights as measured upstream.
	type WeightInfo = ();
}

/// A basis-point parameter, at most 100 %: a larger value set by governance acts as 100 %.
pub struct AtMostFullBp<P>(core::marker::PhantomData<P>);
impl<P: Get<u16>> Get<u16> for AtMostFullBp<P> {
	fn get() -> u16 {
		P::get().min(10_000)
	}
}

/// A parameter kept within `[MIN, MAX]`: a value set outside acts as the nearest bound.
pub struct Within<P, const MIN: u64, const MAX: u64>(core::marker::PhantomData<P>);
impl<P: Get<u64>, const MIN: u64, const MAX: u64> Get<u64> for Within<P, MIN, MAX> {
	fn get() -> u64 {
		P::get().clamp(MIN, MAX)
	}
}
impl<P: Get<u32>, const MIN: u64, const MAX: u64> Get<u32> for Within<P, MIN, MAX> {
	fn get() -> u32 {
		// MIN and MAX of a u32 parameter are u32 values.
		u64::from(P::get()).clamp(MIN, MAX) as u32
	}
}

#[cfg(test)]
mod tests {
	use super::*;
	use frame_support::parameter_types;

	parameter_types! {
		pub storage Bp: u16 = 12_000;
		pub storage Seconds: u32 = 10;
		pub storage Far: u64 = u64::MAX;
	}

	#[test]
	fn governed_values_stay_within_their_ranges() {
		sp_io::TestExternalities::default().execute_with(|| {
			assert_eq!(AtMostFullBp::<Bp>::get(), 10_000);
			Bp::set(&2_500);
			assert_eq!(AtMostFullBp::<Bp>::get(), 2_500);
			assert_eq!(<Within<Seconds, 300, 86_400> as Get<u32>>::get(), 300);
			Seconds::set(&3_600);
			assert_eq!(<Within<Seconds, 300, 86_400> as Get<u32>>::get(), 3_600);
			assert_eq!(<Within<Far, 3_600, 2_592_000> as Get<u64>>::get(), 2_592_000);
		});
	}

	#[test]
	fn defaults_are_the_documented_values() {
		sp_io::TestExternalities::default().execute_with(|| {
			use dynamic_params::{demand_response, telemetry};
			assert_eq!(demand_response::MaxEventDurationS::get(), 4 * 3_600);
			assert_eq!(demand_response::MaxLeadTimeS::get(), 7 * 86_400);
			assert_eq!(demand_response::ReputationPivotBp::get(), 8_000);
			assert_eq!(telemetry::Tolerances::get().rating_tolerance_bp, 500);
		});
	}
}
