//! A minimal runtime for the telemetry tests. The device registry is a stand-in that implements
//! the [`DeviceRegistry`] trait over an in-memory table, so these tests exercise the telemetry
//! pallet alone.

use core::cell::RefCell;
use std::collections::BTreeMap;

use frame_support::{
	derive_impl, parameter_types,
	traits::{ConstU32, ConstU64},
	weights::Weight,
};
use openvpp_primitives::{
	BasisPoints, Capability, DeviceId, DeviceInfo, DeviceKind, DeviceLifecycleHooks,
	DeviceLookupError, DeviceRegistry, DeviceStatus, EpochTelemetry, MeasuredInterval,
	MeasurementSink, OnEpochClosed, PlausibilityTolerances, ReputationReason, TelemetryTotals,
};
use sp_runtime::BuildStorage;

use crate as pallet_telemetry;

pub type AccountId = u64;
type Block = frame_system::mocking::MockBlock<Test>;

#[frame_support::runtime]
mod runtime {
	#[runtime::runtime]
	#[runtime::derive(
		RuntimeCall,
		RuntimeEvent,
		RuntimeError,
		RuntimeOrigin,
		RuntimeFreezeReason,
		RuntimeHoldReason,
		RuntimeSlashReason,
		RuntimeLockId,
		RuntimeTask,
		RuntimeViewFunction
	)]
	pub struct Test;

	#[runtime::pallet_index(0)]
	pub type System = frame_system;
	#[runtime::pallet_index(1)]
	pub type Timestamp = pallet_timestamp;
	#[runtime::pallet_index(2)]
	pub type Telemetry = pallet_telemetry;
}

#[derive_impl(frame_system::config_preludes::TestDefaultConfig)]
impl frame_system::Config for Test {
	type Block = Block;
	type AccountId = AccountId;
	type Lookup = sp_runtime::traits::IdentityLookup<AccountId>;
	/// Storage has a price, so that tests see what a batch's writes add to its weight.
	type DbWeight = frame_support::weights::constants::ParityDbWeight;
}

impl pallet_timestamp::Config for Test {
	type Moment = u64;
	type OnTimestampSet = ();
	type MinimumPeriod = ConstU64<1>;
	type WeightInfo = ();
}

/// A device as the stand-in registry knows it.
#[derive(Clone, Debug)]
pub struct MockDevice {
	pub info: DeviceInfo<AccountId>,
	pub status: DeviceStatus,
	pub history: TelemetryTotals,
}

thread_local! {
	pub static DEVICES: RefCell<BTreeMap<DeviceId, MockDevice>> = const { RefCell::new(BTreeMap::new()) };
	/// How often the pallet looked a device up in the registry.
	pub static LOOKUPS: RefCell<u32> = const { RefCell::new(0) };
	pub static CLOSED_EPOCHS: RefCell<Vec<(DeviceId, EpochTelemetry)>> = const { RefCell::new(Vec::new()) };
}

/// The stand-in device registry.
pub struct MockRegistry;

/// Like the registry, the stand-in tells the pallet when a device it may have copied changes.
impl MockRegistry {
	/// Adds an active device, or replaces one (keeping its history).
	pub fn add(id: DeviceId, info: DeviceInfo<AccountId>) {
		let replaced = DEVICES.with(|d| {
			let mut devices = d.borrow_mut();
			let history = devices.get(&id).map(|device| device.history).unwrap_or_default();
			devices.insert(id, MockDevice { info, status: DeviceStatus::Active, history }).is_some()
		});
		if replaced {
			Telemetry::on_device_changed(id);
		}
	}

	pub fn set_status(id: DeviceId, status: DeviceStatus) {
		let was = DEVICES.with(|d| {
			d.borrow_mut().get_mut(&id).map(|device| core::mem::replace(&mut device.status, status))
		});
		match was {
			Some(DeviceStatus::Active) if status != DeviceStatus::Active => {
				Telemetry::on_device_deactivated(id)
			}
			Some(was) if was != DeviceStatus::Active && status == DeviceStatus::Active => {
				Telemetry::on_device_changed(id)
			}
			_ => {}
		}
	}

	/// A device's record as the registry holds it, without counting as the pallet's lookup.
	pub fn info(id: DeviceId) -> Option<DeviceInfo<AccountId>> {
		DEVICES.with(|d| d.borrow().get(&id).map(|device| device.info.clone()))
	}

	/// Registry lookups so far.
	pub fn lookups() -> u32 {
		LOOKUPS.with(|l| *l.borrow())
	}

	pub fn history(id: DeviceId) -> TelemetryTotals {
		DEVICES.with(|d| d.borrow().get(&id).map(|device| device.history).unwrap_or_default())
	}
}

impl DeviceRegistry<AccountId> for MockRegistry {
	fn active_device(id: DeviceId) -> Result<DeviceInfo<AccountId>, DeviceLookupError> {
		LOOKUPS.with(|l| *l.borrow_mut() += 1);
		DEVICES.with(|d| match d.borrow().get(&id) {
			None => Err(DeviceLookupError::Unknown),
			Some(device) if device.status != DeviceStatus::Active => {
				Err(DeviceLookupError::NotActive(device.status))
			}
			Some(device) => Ok(device.info.clone()),
		})
	}

	fn devices_behind(meter: DeviceId) -> Vec<DeviceId> {
		DEVICES.with(|d| {
			d.borrow()
				.iter()
				.filter(|(_, device)| device.info.site_meter == Some(meter))
				.map(|(id, _)| *id)
				.collect()
		})
	}

	fn record_telemetry(id: DeviceId, totals: &TelemetryTotals) -> Result<(), DeviceLookupError> {
		DEVICES.with(|d| {
			let mut devices = d.borrow_mut();
			let device = devices.get_mut(&id).ok_or(DeviceLookupError::Unknown)?;
			let h = &mut device.history;
			h.energy_produced_wh += totals.energy_produced_wh;
			h.energy_consumed_wh += totals.energy_consumed_wh;
			h.energy_charged_wh += totals.energy_charged_wh;
			h.energy_discharged_wh += totals.energy_discharged_wh;
			h.online_s += totals.online_s;
			h.reports_accepted += totals.reports_accepted;
			h.reports_flagged += totals.reports_flagged;
			h.reports_rejected += totals.reports_rejected;
			h.reports_expected += totals.reports_expected;
			h.last_seen = totals.last_seen.max(h.last_seen);
			Ok(())
		})
	}

	fn record_participation(
		id: DeviceId,
		_: openvpp_primitives::Participation,
	) -> Result<(), DeviceLookupError> {
		DEVICES.with(|d| d.borrow().get(&id).map(|_| ()).ok_or(DeviceLookupError::Unknown))
	}

	fn record_reputation(
		_: DeviceId,
		_: i32,
		_: ReputationReason,
	) -> Result<BasisPoints, DeviceLookupError> {
		Ok(5_000)
	}
}

#[cfg(feature = "runtime-benchmarks")]
impl openvpp_primitives::DeviceRegistryBenchmarkHelper<AccountId> for MockRegistry {
	fn register_active_device(
		owner: AccountId,
		gateway: AccountId,
		kind: openvpp_primitives::DeviceKind,
		capability: Capability,
		region: openvpp_primitives::RegionCode,
		attestation_key: openvpp_primitives::AttestationKey,
	) -> DeviceId {
		let id = DEVICES.with(|d| d.borrow().keys().last().map_or(1, |last| last + 1));
		MockRegistry::add(
			id,
			DeviceInfo {
				kind,
				owner,
				gateway,
				attestation_key,
				capability,
				region,
				comfort: Default::default(),
				reputation_bp: 5_000,
				counting_since: 0,
				site_meter: None,
			},
		);
		id
	}
}

thread_local! {
	/// What each gateway may still pay; a gateway not listed pays whatever it owes.
	pub static FEE_FUNDS: RefCell<BTreeMap<AccountId, u128>> = const { RefCell::new(BTreeMap::new()) };
	/// What each gateway paid through the pallet.
	pub static FEES_PAID: RefCell<BTreeMap<AccountId, u128>> = const { RefCell::new(BTreeMap::new()) };
}

/// Fees priced like the runtime's, in simpler units: one per 1 000 ref-time units and one per
/// byte; the runtime's own implementation takes them from real balances (tested there).
pub struct MockFees;

impl pallet_telemetry::TelemetryFees<AccountId> for MockFees {
	type Balance = u128;

	fn charge(
		payer: &AccountId,
		weight: frame_support::weights::Weight,
		length_bytes: u32,
	) -> Result<u128, sp_runtime::DispatchError> {
		let fee = u128::from(weight.ref_time() / 1_000) + u128::from(length_bytes);
		FEE_FUNDS.with(|funds| {
			let mut funds = funds.borrow_mut();
			if let Some(available) = funds.get_mut(payer) {
				*available =
					available.checked_sub(fee).ok_or(sp_runtime::DispatchError::Other("funds"))?;
			}
			Ok::<_, sp_runtime::DispatchError>(())
		})?;
		FEES_PAID.with(|paid| *paid.borrow_mut().entry(*payer).or_default() += fee);
		Ok(fee)
	}
}

/// Limits what `who` can pay.
pub fn set_fee_funds(who: AccountId, amount: u128) {
	FEE_FUNDS.with(|funds| funds.borrow_mut().insert(who, amount));
}

/// What `who` paid through the pallet so far.
pub fn fees_paid(who: AccountId) -> u128 {
	FEES_PAID.with(|paid| paid.borrow().get(&who).copied().unwrap_or_default())
}

/// Records closed epochs.
pub struct RecordEpochs;
impl OnEpochClosed for RecordEpochs {
	fn on_epoch_closed(device: DeviceId, telemetry: &EpochTelemetry) {
		CLOSED_EPOCHS.with(|c| c.borrow_mut().push((device, *telemetry)));
	}
}

pub fn closed_epochs() -> Vec<(DeviceId, EpochTelemetry)> {
	CLOSED_EPOCHS.with(|c| c.borrow().clone())
}

thread_local! {
	pub static MEASURED_INTERVALS: RefCell<Vec<(DeviceId, MeasuredInterval)>> =
		const { RefCell::new(Vec::new()) };
}

/// Weight the recording measurement reports for each interval.
pub const MEASUREMENT_WEIGHT: Weight = Weight::from_parts(7_000_000, 0);

/// Records the intervals passed on for measurement.
pub struct RecordMeasurements;
impl MeasurementSink for RecordMeasurements {
	fn on_measured_interval(
		device: DeviceId,
		_: DeviceKind,
		interval: &MeasuredInterval,
	) -> Weight {
		MEASURED_INTERVALS.with(|m| m.borrow_mut().push((device, *interval)));
		MEASUREMENT_WEIGHT
	}
	fn max_measurement_weight() -> Weight {
		MEASUREMENT_WEIGHT
	}
}

pub fn measured_intervals() -> Vec<(DeviceId, MeasuredInterval)> {
	MEASURED_INTERVALS.with(|m| m.borrow().clone())
}

/// Seconds per freshness slot in the tests.
pub const SLOT_S: u32 = 60;

parameter_types! {
	/// Room for a handful of silent devices per block, so that tests see the sweep resume.
	pub MaxSweepWeight: Weight = crate::Pallet::<Test>::sweep_weight_for(5);
	pub const Tolerances: PlausibilityTolerances = PlausibilityTolerances {
		rating_tolerance_bp: 500,
		soc_throughput_tolerance_bp: 1_000,
		soc_capacity_tolerance_bp: 300,
	};
}

impl pallet_telemetry::Config for Test {
	type Registry = MockRegistry;
	type OnEpochClosed = RecordEpochs;
	type Measurement = RecordMeasurements;
	type Fees = MockFees;
	type UnixTime = Timestamp;
	type MaxBatchSize = ConstU32<64>;
	type MaxIntervalLengthS = ConstU32<3_600>;
	type ReportHorizonS = ConstU64<{ 2 * 86_400 }>;
	type MaxClockSkewS = ConstU64<60>;
	type StaleAfterIntervals = ConstU32<2>;
	type FreshnessSlotS = ConstU32<SLOT_S>;
	type MaxFreshnessSlots = ConstU32<{ (2 * 3_600 + 60) / SLOT_S + 2 }>;
	type EpochLengthS = ConstU64<3_600>;
	type EpochCloseGraceS = ConstU64<600>;
	type MaxSweepWeight = MaxSweepWeight;
	type Tolerances = Tolerances;
	type DigestRetentionBlocks = ConstU64<10>;
	type MaxDigestsPerBlock = ConstU32<2>;
	type AdminOrigin = frame_system::EnsureRoot<AccountId>;
	type WeightInfo = ();
	#[cfg(feature = "runtime-benchmarks")]
	type BenchmarkHelper = MockRegistry;
	#[cfg(feature = "runtime-benchmarks")]
	type BenchmarkClock = MockClock;
}

/// Sets the mock's clock for the benchmarks.
#[cfg(feature = "runtime-benchmarks")]
pub struct MockClock;
#[cfg(feature = "runtime-benchmarks")]
impl openvpp_primitives::BenchmarkClock for MockClock {
	fn set_unix_time(seconds: u64) {
		set_time(seconds);
	}
}

/// 2026-01-01T00:00:00Z: the start of an epoch.
pub const T0: u64 = 1_767_225_600;

/// Moves the block clock to `unix_s`.
pub fn set_time(unix_s: u64) {
	pallet_timestamp::Now::<Test>::put(unix_s * 1_000);
}

pub fn new_test_ext() -> sp_io::TestExternalities {
	DEVICES.with(|d| d.borrow_mut().clear());
	LOOKUPS.with(|l| *l.borrow_mut() = 0);
	CLOSED_EPOCHS.with(|c| c.borrow_mut().clear());
	MEASURED_INTERVALS.with(|m| m.borrow_mut().clear());
	FEE_FUNDS.with(|f| f.borrow_mut().clear());
	FEES_PAID.with(|f| f.borrow_mut().clear());
	let storage = frame_system::GenesisConfig::<Test>::default().build_storage().unwrap();
	let mut ext = sp_io::TestExternalities::new(storage);
	ext.register_extension(sp_keystore::KeystoreExt::new(
		sp_keystore::testing::MemoryKeystore::new(),
	));
	ext.execute_with(|| {
		System::set_block_number(1);
		set_time(T0);
	});
	ext
}

/// Runs a test, then checks that the status map equals the sum over fresh devices.
pub fn run_test(test: impl FnOnce()) {
	new_test_ext().execute_with(|| {
		test();
		Telemetry::do_try_state().expect("the status map is consistent");
	});
}

pub fn battery_capability() -> Capability {
	Capability {
		rated_power_w: 5_000,
		storage_capacity_wh: Some(10_000),
		max_charge_w: Some(5_000),
		max_discharge_w: Some(5_000),
	}
}
