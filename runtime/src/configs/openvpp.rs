//! Configuration of the OpenVPP pallets.

use super::parameters::{dynamic_params::demand_response as dr_params, AtMostFullBp, Within};
use super::{RuntimeBlockWeights, TelemetryFeesInOvpp};
use crate::governance::{
	DemandResponseOperatorsOrigin, DeviceVerifiersOrigin, NetworkParametersOrigin,
};
use crate::{
	Balance, Balances, BlockNumber, DemandResponse, DeviceRegistry, Rewards, Runtime,
	RuntimeHoldReason, Telemetry, Timestamp, DAYS, MILLI_OVPP,
};
use frame_support::{
	parameter_types,
	traits::{ConstU16, ConstU32, ConstU64},
	weights::Weight,
};
use openvpp_primitives::{CapabilityBounds, DeviceKind, KindCapabilityBounds};

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
		(<pallet_device_registry::DeviceRecordOf<Runtime> as codec::MaxEncodedLen>::max_encoded_len()
			as u32)
			.saturating_add(4 * 48),
	);
}

impl pallet_device_registry::Config for Runtime {
	type Currency = Balances;
	type RuntimeHoldReason = RuntimeHoldReason;
	type DeviceDeposit = DeviceDeposit;
	type CapabilityBounds = OpenVppCapabilityBounds;
	type VerifierAdminOrigin = DeviceVerifiersOrigin;
	/// Suspending and reinstating devices by referendum, besides verifiers.
	type GovernanceOrigin = DeviceVerifiersOrigin;
	type UnixTime = Timestamp;
	// Telemetry first: it closes the device's open epoch while the registry still knows it.
	type LifecycleHooks = (Telemetry, (DemandResponse, Rewards));
	type Commitments = DemandResponse;
	#[cfg(feature = "runtime-benchmarks")]
	type LifecycleBenchmarkHelper = (Telemetry, (DemandResponse, Rewards));
	type MaxMetadataLen = ConstU32<64>;
	type MaxReasonLen = ConstU32<128>;
	type InitialReputationBp = ConstU16<5_000>;
	type ReputationHistoryLen = ConstU32<8>;
	/// A house or a business site: PV, storage, chargers, heat pumps and loads behind one meter.
	type MaxDevicesPerSite = ConstU32<16>;
	type WeightInfo = pallet_device_registry::weights::SubstrateWeight<Runtime>;
}

pub use openvpp_primitives::network::REPORT_HORIZON_S;
/// Longest interval a report may cover.
pub const MAX_INTERVAL_LENGTH_S: u32 = 3_600;
/// Status-map freshness granularity.
pub const FRESHNESS_SLOT_S: u32 = 60;
/// Intervals without a report before a device leaves the status map.
pub const STALE_AFTER_INTERVALS: u32 = 2;
/// How far an interval may end after the block's time, for clock differences.
pub const MAX_CLOCK_SKEW_S: u64 = 60;

parameter_types! {
	/// Digests are kept as long as reports can still arrive.
	pub const DigestRetentionBlocks: BlockNumber = 2 * DAYS;
	/// Closing silent devices' epochs may use 2 % of every block, before any transaction.
	pub EpochSweepWeight: Weight =
		sp_runtime::Perbill::from_percent(2) * RuntimeBlockWeights::get().max_block;
}

/// How long after an epoch's end silent devices' epochs are closed and the epoch is paid: ten
/// minutes, room for a gateway's short outage.
pub const EPOCH_CLOSE_GRACE_S: u64 = 600;

impl pallet_telemetry::Config for Runtime {
	type Registry = DeviceRegistry;
	type OnEpochClosed = Rewards;
	type Measurement = DemandResponse;
	type Fees = TelemetryFeesInOvpp;
	type UnixTime = Timestamp;
	type MaxBatchSize = ConstU32<{ openvpp_primitives::network::MAX_REPORTS_PER_BATCH }>;
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
	/// Hourly scoring epochs, unless genesis sets another length.
	type EpochLengthS = ConstU64<3_600>;
	type EpochCloseGraceS = ConstU64<EPOCH_CLOSE_GRACE_S>;
	type MaxSweepWeight = EpochSweepWeight;
	/// Governed: the network-parameters track changes them (`configs::parameters`).
	type Tolerances = super::parameters::dynamic_params::telemetry::Tolerances;
	type DigestRetentionBlocks = DigestRetentionBlocks;
	type MaxDigestsPerBlock = ConstU32<256>;
	/// The minimum report interval is a network parameter.
	type AdminOrigin = NetworkParametersOrigin;
	type WeightInfo = pallet_telemetry::weights::SubstrateWeight<Runtime>;
	#[cfg(feature = "runtime-benchmarks")]
	type BenchmarkHelper = DeviceRegistry;
	#[cfg(feature = "runtime-benchmarks")]
	type BenchmarkClock = BenchmarkClock;
}

parameter_types! {
	/// Selection and settlement may use a tenth of every block, before any transaction.
	pub DemandResponsePollWeight: Weight =
		sp_runtime::Perbill::from_percent(10) * RuntimeBlockWeights::get().max_block;
}

impl pallet_demand_response::Config for Runtime {
	type Currency = Balances;
	type RuntimeHoldReason = RuntimeHoldReason;
	type Registry = DeviceRegistry;
	type Telemetry = Telemetry;
	type OnParticipantSettled = Rewards;
	type UnixTime = Timestamp;
	type AdminOrigin = DemandResponseOperatorsOrigin;
	type MaxOpenEvents = ConstU32<64>;
	/// The largest single events run today (Sunrun/PG&E: 8 500 homes) fit.
	type MaxParticipantsPerEvent = ConstU32<10_000>;
	/// Governed (`configs::parameters`): four hours unless changed, between 5 min and 24 h.
	type MaxEventDurationS = Within<dr_params::MaxEventDurationS, 300, 86_400>;
	/// Governed: a week unless changed, between an hour and 30 days.
	type MaxLeadTimeS = Within<dr_params::MaxLeadTimeS, 3_600, { 30 * 86_400 }>;
	/// Gateways report an interval within seconds of its end; ten minutes covers a short
	/// outage. Reports later than that no longer change the event's settlement.
	type SettlementGraceS = ConstU64<600>;
	/// A month to look an event's participants up; its on-chain events stay in the blocks.
	type EventRetentionS = ConstU64<{ 30 * 86_400 }>;
	/// A constant: each event's escrow is computed with it and must cover the settlement.
	type DeliveryToleranceBp = ConstU16<1_000>;
	/// Governed (`configs::parameters`), at most 100 %.
	type ReputationPivotBp = AtMostFullBp<dr_params::ReputationPivotBp>;
	type MinBaselineDays = ConstU32<3>;
	type MaxPollWeight = DemandResponsePollWeight;
	type WeightInfo = pallet_demand_response::weights::SubstrateWeight<Runtime>;
	#[cfg(feature = "runtime-benchmarks")]
	type BenchmarkHelper = DemandResponseBenchmarkHelper;
}

/// Registered devices with fresh readings for the demand-response benchmarks.
#[cfg(feature = "runtime-benchmarks")]
pub struct DemandResponseBenchmarkHelper;
#[cfg(feature = "runtime-benchmarks")]
impl pallet_demand_response::benchmarking::BenchmarkHelper<crate::AccountId>
	for DemandResponseBenchmarkHelper
{
	fn device_with_reading(
		owner: crate::AccountId,
		gateway: crate::AccountId,
		kind: DeviceKind,
		region: openvpp_primitives::RegionCode,
		now: u64,
	) -> openvpp_primitives::DeviceId {
		use openvpp_primitives::{Capability, DeviceRegistryBenchmarkHelper, FieldRule};
		let rules = kind.capability_rules();
		let bounds = OpenVppCapabilityBounds::bounds(kind);
		let allowed = |rule: FieldRule| rule != FieldRule::Forbidden;
		let capability = Capability {
			rated_power_w: bounds.max_rated_power_w,
			storage_capacity_wh: allowed(rules.storage_capacity_wh)
				.then_some(bounds.max_storage_capacity_wh),
			max_charge_w: allowed(rules.max_charge_w).then_some(bounds.max_charge_w),
			max_discharge_w: allowed(rules.max_discharge_w).then_some(bounds.max_discharge_w),
		};
		// Unique per device; the registry does not use it to verify anything here.
		let mut raw = [7u8; 32];
		raw[..4]
			.copy_from_slice(&pallet_device_registry::NextDeviceId::<Runtime>::get().to_le_bytes());
		let key = sp_core::ed25519::Public::from_raw(raw);
		let device = DeviceRegistry::register_active_device(
			owner,
			gateway,
			kind,
			capability,
			region,
			openvpp_primitives::AttestationKey::Ed25519(key),
		);
		Telemetry::set_reading_for_benchmarks(
			device,
			now,
			-1_000,
			kind.has_storage().then_some(6_000),
		);
		device
	}

	fn set_unix_time(seconds: u64) {
		<BenchmarkClock as openvpp_primitives::BenchmarkClock>::set_unix_time(seconds);
	}

	#[allow(clippy::expect_used)]
	fn put_behind_meter(
		owner: crate::AccountId,
		device: openvpp_primitives::DeviceId,
		meter: openvpp_primitives::DeviceId,
	) {
		DeviceRegistry::set_site_meter(crate::RuntimeOrigin::signed(owner), device, Some(meter))
			.expect("the benchmark's devices share an owner and a region");
	}

	fn max_devices_per_site() -> u32 {
		use frame_support::traits::Get;
		<Runtime as pallet_device_registry::Config>::MaxDevicesPerSite::get()
	}
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
		// against stale window and clock skew, bounds of every kind, …). Some bounds are runtime
		// parameters, read from storage: run them with externalities, as FRAME does.
		sp_io::TestExternalities::new_empty().execute_with(|| {
			<pallet_device_registry::Pallet<Runtime> as Hooks<BlockNumber>>::integrity_test();
			<pallet_telemetry::Pallet<Runtime> as Hooks<BlockNumber>>::integrity_test();
			<pallet_demand_response::Pallet<Runtime> as Hooks<BlockNumber>>::integrity_test();
		});
	}
}
