//! Configuration of the OpenVPP pallets.

use super::TelemetryFeesInOvpp;
use crate::{
	AccountId, Balance, Balances, BlockNumber, DeviceRegistry, Runtime, RuntimeHoldReason,
	Telemetry, Timestamp, DAYS, MILLI_OVPP,
};
use frame_support::{
	parameter_types,
	traits::{ConstU16, ConstU32, ConstU64},
};
use frame_system::EnsureRoot;
use openvpp_primitives::{
	CapabilityBounds, DeviceKind, KindCapabilityBounds, PlausibilityTolerances,
};

/// A storage deposit: 0.1 OVPP per item plus 0.001 OVPP per byte it may occupy.
pub const fn deposit(items: u32, bytes: u32) -> Balance {
	items as Balance * 100 * MILLI_OVPP + bytes as Balance * MILLI_OVPP
}

/// Physical limits of each device kind. A registration beyond them is refused: no home battery
/// delivers 30 kW, no rooftop carries a megawatt.
pub struct OpenVppCapabilityBounds;

impl KindCapabilityBounds for OpenVppCapabilityBounds {
	fn bounds(kind: DeviceKind) -> CapabilityBounds {
		const KW: u32 = 1_000;
		const KWH: u64 = 1_000;
		let (power, storage) = match kind {
			// Up to DC fast charging; the largest packs on the road.
			DeviceKind::ElectricVehicle => (350 * KW, 250 * KWH),
			DeviceKind::EvCharger => (400 * KW, 0),
			DeviceKind::HomeBattery => (30 * KW, 100 * KWH),
			DeviceKind::CommercialBattery => (20_000 * KW, 100_000 * KWH),
			DeviceKind::RooftopSolar => (1_000 * KW, 0),
			DeviceKind::SmartMeter => (10_000 * KW, 0),
			DeviceKind::EnergyManagementSystem => (10_000 * KW, 0),
		};
		CapabilityBounds {
			max_rated_power_w: power,
			max_storage_capacity_wh: storage,
			max_charge_w: power,
			max_discharge_w: power,
		}
	}
}

parameter_types! {
	/// One device record, its three index entries and its key entry.
	pub DeviceDeposit: Balance = deposit(
		5,
		(<pallet_device_registry::DeviceRecord<Runtime> as codec::MaxEncodedLen>::max_encoded_len()
			as u32)
			.saturating_add(4 * 48),
	);
}

impl pallet_device_registry::Config for Runtime {
	type Currency = Balances;
	type RuntimeHoldReason = RuntimeHoldReason;
	type DeviceDeposit = DeviceDeposit;
	type CapabilityBounds = OpenVppCapabilityBounds;
	// Root until governance arrives.
	type VerifierAdminOrigin = EnsureRoot<AccountId>;
	type GovernanceOrigin = EnsureRoot<AccountId>;
	type UnixTime = Timestamp;
	type LifecycleHooks = Telemetry;
	#[cfg(feature = "runtime-benchmarks")]
	type LifecycleBenchmarkHelper = Telemetry;
	type MaxMetadataLen = ConstU32<64>;
	type MaxReasonLen = ConstU32<128>;
	type InitialReputationBp = ConstU16<5_000>;
	type ReputationHistoryLen = ConstU32<8>;
	type WeightInfo = pallet_device_registry::weights::SubstrateWeight<Runtime>;
}

/// Seconds after which a report's interval is too old to be accepted: two days, long enough
/// for a gateway to ride out a network or node outage with its outbox.
pub const REPORT_HORIZON_S: u64 = 2 * 86_400;
/// Longest interval a report may cover.
pub const MAX_INTERVAL_LENGTH_S: u32 = 3_600;
/// Status-map freshness granularity.
pub const FRESHNESS_SLOT_S: u32 = 60;
/// Intervals without a report before a device leaves the status map.
pub const STALE_AFTER_INTERVALS: u32 = 2;
/// How far an interval may end after the block's time, for clock differences.
pub const MAX_CLOCK_SKEW_S: u64 = 60;

parameter_types! {
	pub const Tolerances: PlausibilityTolerances = PlausibilityTolerances {
		// Meters and inverters are class 1–2 instruments; 5 % covers them and rounding.
		rating_tolerance_bp: 500,
		// Round-trip losses of batteries and chargers.
		soc_throughput_tolerance_bp: 1_000,
		// SoC estimates drift a few per cent.
		soc_capacity_tolerance_bp: 300,
	};
	/// Digests are kept as long as reports can still arrive.
	pub const DigestRetentionBlocks: BlockNumber = 2 * DAYS;
}

impl pallet_telemetry::Config for Runtime {
	type Registry = DeviceRegistry;
	type OnEpochClosed = ();
	type Fees = TelemetryFeesInOvpp;
	type UnixTime = Timestamp;
	type MaxBatchSize = ConstU32<1_000>;
	type MaxIntervalLengthS = ConstU32<MAX_INTERVAL_LENGTH_S>;
	type ReportHorizonS = ConstU64<REPORT_HORIZON_S>;
	type MaxClockSkewS = ConstU64<MAX_CLOCK_SKEW_S>;
	type StaleAfterIntervals = ConstU32<STALE_AFTER_INTERVALS>;
	type FreshnessSlotS = ConstU32<FRESHNESS_SLOT_S>;
	// Every slot boundary a live figure can expire at: the clock skew plus the longest stale
	// window, plus two for rounding (checked by the pallet's integrity test).
	type MaxFreshnessSlots = ConstU32<
		{
			(STALE_AFTER_INTERVALS * MAX_INTERVAL_LENGTH_S + MAX_CLOCK_SKEW_S as u32)
				.div_ceil(FRESHNESS_SLOT_S)
				+ 2
		},
	>;
	/// Hourly scoring epochs.
	type EpochLengthS = ConstU64<3_600>;
	type Tolerances = Tolerances;
	type DigestRetentionBlocks = DigestRetentionBlocks;
	type MaxDigestsPerBlock = ConstU32<256>;
	// Root until governance arrives.
	type AdminOrigin = EnsureRoot<AccountId>;
	type WeightInfo = pallet_telemetry::weights::SubstrateWeight<Runtime>;
	#[cfg(feature = "runtime-benchmarks")]
	type BenchmarkHelper = DeviceRegistry;
	#[cfg(feature = "runtime-benchmarks")]
	type BenchmarkClock = BenchmarkClock;
}

/// Sets the block timestamp in benchmarks.
#[cfg(feature = "runtime-benchmarks")]
pub struct BenchmarkClock;
#[cfg(feature = "runtime-benchmarks")]
impl openvpp_primitives::BenchmarkClock for BenchmarkClock {
	fn set_unix_time(seconds: u64) {
		pallet_timestamp::Now::<Runtime>::put(seconds.saturating_mul(1_000));
	}
}

#[cfg(test)]
mod tests {
	use super::*;
	use crate::OVPP;

	#[test]
	fn the_device_deposit_is_about_one_ovpp() {
		let deposit = DeviceDeposit::get();
		assert!(deposit > OVPP / 2 && deposit < 2 * OVPP, "{deposit}");
	}

	#[test]
	fn the_openvpp_pallets_accept_their_configuration() {
		use frame_support::traits::Hooks;
		// The pallets' integrity tests check the constants against each other (slot capacity
		// against stale window and clock skew, bounds of every kind, …).
		<pallet_device_registry::Pallet<Runtime> as Hooks<BlockNumber>>::integrity_test();
		<pallet_telemetry::Pallet<Runtime> as Hooks<BlockNumber>>::integrity_test();
	}
}
