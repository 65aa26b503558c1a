//! A runtime for the pallet's tests: system, timestamp, balances and demand response, with the
//! registry and the telemetry pallet played by in-memory stand-ins that keep to their traits
//! (the runtime's integration tests use the real pallets).

use core::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet};

use frame_support::{
	derive_impl, parameter_types,
	traits::{ConstU128, ConstU16, ConstU32, ConstU64, Hooks},
	weights::{Weight, WeightMeter},
};
use frame_system::EnsureRoot;
use openvpp_primitives::*;
use sp_runtime::{BoundedVec, BuildStorage};

use crate as pallet_demand_response;

pub type AccountId = u64;
pub type Balance = u128;
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
	pub type Balances = pallet_balances;
	#[runtime::pallet_index(3)]
	pub type DemandResponse = pallet_demand_response;
}

#[derive_impl(frame_system::config_preludes::TestDefaultConfig)]
impl frame_system::Config for Test {
	type Block = Block;
	type AccountId = AccountId;
	type Lookup = sp_runtime::traits::IdentityLookup<AccountId>;
	type AccountData = pallet_balances::AccountData<Balance>;
	type DbWeight = frame_support::weights::constants::RocksDbWeight;
}

#[derive_impl(pallet_balances::config_preludes::TestDefaultConfig)]
impl pallet_balances::Config for Test {
	type Balance = Balance;
	type AccountStore = System;
	type ExistentialDeposit = ConstU128<1>;
	type RuntimeHoldReason = RuntimeHoldReason;
}

impl pallet_timestamp::Config for Test {
	type Moment = u64;
	type OnTimestampSet = ();
	type MinimumPeriod = ConstU64<1>;
	type WeightInfo = ();
}

/// Devices for the benchmarks' test suite.
#[cfg(feature = "runtime-benchmarks")]
pub struct TestBenchmarkHelper;
#[cfg(feature = "runtime-benchmarks")]
impl crate::benchmarking::BenchmarkHelper<AccountId> for TestBenchmarkHelper {
	fn device_with_reading(
		owner: AccountId,
		gateway: AccountId,
		kind: DeviceKind,
		region: RegionCode,
		_: UnixSeconds,
	) -> DeviceId {
		let id = DEVICES.with(|d| d.borrow().keys().max().copied().unwrap_or(0) + 1);
		let info = DeviceInfo {
			kind,
			owner,
			gateway,
			capability: Capability {
				rated_power_w: 1_000_000,
				storage_capacity_wh: kind.has_storage().then_some(1_000_000),
				max_charge_w: Some(1_000_000),
				max_discharge_w: Some(1_000_000),
			},
			region,
			comfort: ComfortLimits::default(),
			..battery(owner, 5_000)
		};
		add_device(id, info);
		set_reading(id, -1_000, kind.has_storage().then_some(6_000));
		id
	}
	fn set_unix_time(seconds: UnixSeconds) {
		set_now(seconds);
	}
	fn put_behind_meter(_: AccountId, device: DeviceId, meter: DeviceId) {
		put_behind(device, meter);
	}
	fn max_devices_per_site() -> u32 {
		4
	}
}

/// What the stand-in registry recorded.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Recorded {
	Reputation(DeviceId, i32),
	Participation(DeviceId, Participation),
	/// Told to contribution scoring: committed and delivered Wh.
	Settled(DeviceId, WattHours, WattHours),
}

/// Records what demand response tells contribution scoring.
pub struct RecordSettled;
impl OnParticipantSettled for RecordSettled {
	fn on_participant_settled(device: DeviceId, committed_wh: WattHours, delivered_wh: WattHours) {
		RECORDED
			.with(|r| r.borrow_mut().push(Recorded::Settled(device, committed_wh, delivered_wh)));
	}
}

thread_local! {
	pub static DEVICES: RefCell<BTreeMap<DeviceId, DeviceInfo<AccountId>>> =
		const { RefCell::new(BTreeMap::new()) };
	pub static RECORDED: RefCell<Vec<Recorded>> = const { RefCell::new(Vec::new()) };
	pub static MEASURED: RefCell<BTreeSet<DeviceId>> = const { RefCell::new(BTreeSet::new()) };
	pub static READINGS: RefCell<BTreeMap<DeviceId, LatestDeviceReading>> =
		const { RefCell::new(BTreeMap::new()) };
	pub static POLL_WEIGHT: RefCell<Weight> = const { RefCell::new(Weight::MAX) };
}

/// The device registry's trait over an in-memory table.
pub struct TestRegistry;
impl DeviceRegistry<AccountId> for TestRegistry {
	fn active_device(id: DeviceId) -> Result<DeviceInfo<AccountId>, DeviceLookupError> {
		DEVICES.with(|d| d.borrow().get(&id).cloned()).ok_or(DeviceLookupError::Unknown)
	}
	fn record_telemetry(_: DeviceId, _: &TelemetryTotals) -> Result<(), DeviceLookupError> {
		Ok(())
	}
	fn devices_behind(meter: DeviceId) -> Vec<DeviceId> {
		DEVICES.with(|d| {
			d.borrow()
				.iter()
				.filter(|(_, info)| info.site_meter == Some(meter))
				.map(|(id, _)| *id)
				.collect()
		})
	}
	fn record_participation(id: DeviceId, what: Participation) -> Result<(), DeviceLookupError> {
		Self::active_device(id)?;
		RECORDED.with(|r| r.borrow_mut().push(Recorded::Participation(id, what)));
		Ok(())
	}
	fn record_reputation(
		id: DeviceId,
		delta_bp: i32,
		_: ReputationReason,
	) -> Result<BasisPoints, DeviceLookupError> {
		let reputation = DEVICES.with(|d| {
			let mut devices = d.borrow_mut();
			let device = devices.get_mut(&id).ok_or(DeviceLookupError::Unknown)?;
			let new = (i32::from(device.reputation_bp) + delta_bp).clamp(0, 10_000);
			device.reputation_bp = new as u16;
			Ok(device.reputation_bp)
		})?;
		RECORDED.with(|r| r.borrow_mut().push(Recorded::Reputation(id, delta_bp)));
		Ok(reputation)
	}
}

/// The telemetry pallet's trait over in-memory readings.
pub struct TestTelemetry;
impl MeasuredDevices for TestTelemetry {
	fn set_measured(device: DeviceId, measured: bool) -> bool {
		if READINGS.with(|r| !r.borrow().contains_key(&device)) {
			return false;
		}
		MEASURED.with(|m| {
			if measured {
				m.borrow_mut().insert(device);
			} else {
				m.borrow_mut().remove(&device);
			}
		});
		true
	}
	fn latest_reading(device: DeviceId) -> Option<LatestDeviceReading> {
		READINGS.with(|r| r.borrow().get(&device).copied())
	}
	fn set_measured_weight() -> Weight {
		Weight::zero()
	}
}

parameter_types! {
	pub PollWeight: Weight = POLL_WEIGHT.with(|w| *w.borrow());
}

impl pallet_demand_response::Config for Test {
	type Currency = Balances;
	type RuntimeHoldReason = RuntimeHoldReason;
	type Registry = TestRegistry;
	type Telemetry = TestTelemetry;
	type OnParticipantSettled = RecordSettled;
	type UnixTime = Timestamp;
	type AdminOrigin = EnsureRoot<AccountId>;
	type MaxOpenEvents = ConstU32<4>;
	type MaxParticipantsPerEvent = ConstU32<50>;
	type MaxEventDurationS = ConstU32<{ 4 * 3_600 }>;
	type MaxLeadTimeS = ConstU64<{ 7 * 86_400 }>;
	type SettlementGraceS = ConstU64<900>;
	type EventRetentionS = ConstU64<{ 7 * 86_400 }>;
	type DeliveryToleranceBp = ConstU16<1_000>;
	type ReputationPivotBp = ConstU16<8_000>;
	type MinBaselineDays = ConstU32<3>;
	type MaxPollWeight = PollWeight;
	type WeightInfo = ();
	#[cfg(feature = "runtime-benchmarks")]
	type BenchmarkHelper = TestBenchmarkHelper;
}

pub const OPERATOR: AccountId = 1;
pub const OWNER: AccountId = 2;
pub const GATEWAY: AccountId = 3;
pub const OTHER: AccountId = 4;
pub const POOR_OPERATOR: AccountId = 5;
pub const START_BALANCE: Balance = 1_000_000_000;
/// 2026-01-01T00:00:00Z, a Thursday.
pub const NOW: UnixSeconds = 1_767_225_600;

pub fn region() -> RegionCode {
	BoundedVec::try_from(b"DE-TENNET".to_vec()).expect("short")
}

/// A home battery: 5 kW, 10 kWh, 20 % reserve.
pub fn battery(owner: AccountId, reputation_bp: u16) -> DeviceInfo<AccountId> {
	DeviceInfo {
		kind: DeviceKind::HomeBattery,
		owner,
		gateway: GATEWAY,
		attestation_key: AttestationKey::Ed25519(Default::default()),
		capability: Capability {
			rated_power_w: 5_000,
			storage_capacity_wh: Some(10_000),
			max_charge_w: Some(5_000),
			max_discharge_w: Some(5_000),
		},
		region: region(),
		comfort: ComfortLimits { min_reserve_soc_bp: 2_000, dispatch_windows: BoundedVec::new() },
		reputation_bp,
		counting_since: NOW - 86_400 * 30,
		site_meter: None,
	}
}

/// A site's smart meter: 20 kW connection.
pub fn site_meter(owner: AccountId) -> DeviceInfo<AccountId> {
	DeviceInfo {
		kind: DeviceKind::SmartMeter,
		capability: Capability { rated_power_w: 20_000, ..Default::default() },
		comfort: ComfortLimits::default(),
		..battery(owner, 5_000)
	}
}

pub fn add_device(id: DeviceId, info: DeviceInfo<AccountId>) {
	DEVICES.with(|d| d.borrow_mut().insert(id, info));
}

/// Declares `device` to sit behind the smart meter `meter`.
pub fn put_behind(device: DeviceId, meter: DeviceId) {
	DEVICES.with(|d| {
		if let Some(info) = d.borrow_mut().get_mut(&device) {
			info.site_meter = Some(meter);
		}
	});
}

pub fn remove_device(id: DeviceId) {
	DEVICES.with(|d| d.borrow_mut().remove(&id));
}

pub fn reputation_of(id: DeviceId) -> u16 {
	DEVICES.with(|d| d.borrow().get(&id).map(|i| i.reputation_bp).unwrap_or_default())
}

pub fn set_reading(device: DeviceId, average_power_w: Watts, soc_bp: Option<u16>) {
	let reading = LatestDeviceReading {
		interval_end: now(),
		average_power_w,
		soc_bp,
		device_state: DeviceState::Operating,
		plausible: true,
	};
	READINGS.with(|r| r.borrow_mut().insert(device, reading));
}

pub fn is_measured(device: DeviceId) -> bool {
	MEASURED.with(|m| m.borrow().contains(&device))
}

pub fn take_recorded() -> Vec<Recorded> {
	RECORDED.with(|r| core::mem::take(&mut *r.borrow_mut()))
}

pub fn set_poll_weight(weight: Weight) {
	POLL_WEIGHT.with(|w| *w.borrow_mut() = weight);
}

pub fn now() -> UnixSeconds {
	pallet_timestamp::Now::<Test>::get() / 1_000
}

pub fn set_now(seconds: UnixSeconds) {
	pallet_timestamp::Now::<Test>::put(seconds * 1_000);
}

/// Moves the clock to `seconds` and runs one block's `on_poll` with the configured budget.
pub fn poll_at(seconds: UnixSeconds) {
	set_now(seconds);
	System::set_block_number(System::block_number() + 1);
	let mut meter = WeightMeter::new();
	<DemandResponse as Hooks<u64>>::on_poll(System::block_number(), &mut meter);
}

pub fn new_test_ext() -> sp_io::TestExternalities {
	let mut storage = frame_system::GenesisConfig::<Test>::default().build_storage().expect("ok");
	pallet_balances::GenesisConfig::<Test> {
		balances: vec![
			(OPERATOR, START_BALANCE),
			(OWNER, 1_000),
			(GATEWAY, 1_000),
			(OTHER, 1_000),
			(POOR_OPERATOR, 10),
		],
		..Default::default()
	}
	.assimilate_storage(&mut storage)
	.expect("ok");
	let mut ext = sp_io::TestExternalities::new(storage);
	ext.execute_with(|| {
		System::set_block_number(1);
		set_now(NOW);
		DEVICES.with(|d| d.borrow_mut().clear());
		MEASURED.with(|m| m.borrow_mut().clear());
		READINGS.with(|r| r.borrow_mut().clear());
		take_recorded();
		set_poll_weight(Weight::MAX);
	});
	ext
}

/// Runs a test, then checks the pallet's invariants.
pub fn run_test(test: impl FnOnce()) {
	new_test_ext().execute_with(|| {
		test();
		DemandResponse::do_try_state().expect("state invariants hold");
		<DemandResponse as Hooks<u64>>::integrity_test();
	});
}
