//! A runtime for the pallet's tests: system, timestamp, balances and rewards, with the device
//! registry played by an in-memory stand-in that keeps to its trait (the runtime's
//! integration tests use the real pallets).

use core::cell::RefCell;
use std::collections::BTreeMap;

use frame_support::{
	derive_impl,
	traits::{ConstU128, ConstU32, ConstU64, Get, Hooks},
	weights::{Weight, WeightMeter},
	PalletId,
};
use openvpp_primitives::*;
use sp_runtime::{BoundedVec, BuildStorage, Perbill};

use crate as pallet_rewards;
use crate::types::{DimensionWeights, EmissionSchedule};

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
	pub type Rewards = pallet_rewards;
}

#[derive_impl(frame_system::config_preludes::TestDefaultConfig)]
impl frame_system::Config for Test {
	type Block = Block;
	type AccountId = AccountId;
	type Lookup = sp_runtime::traits::IdentityLookup<AccountId>;
	type AccountData = pallet_balances::AccountData<Balance>;
}

#[derive_impl(pallet_balances::config_preludes::TestDefaultConfig)]
impl pallet_balances::Config for Test {
	type Balance = Balance;
	type AccountStore = System;
	type ExistentialDeposit = ConstU128<EXISTENTIAL_DEPOSIT>;
}

impl pallet_timestamp::Config for Test {
	type Moment = u64;
	type OnTimestampSet = ();
	type MinimumPeriod = ConstU64<1>;
	type WeightInfo = ();
}

thread_local! {
	static DEVICES: RefCell<BTreeMap<DeviceId, (DeviceInfo<AccountId>, bool)>> =
		const { RefCell::new(BTreeMap::new()) };
	static WEIGHTS: RefCell<DimensionWeights> = const { RefCell::new(EQUAL_WEIGHTS) };
	static SCHEDULE: RefCell<EmissionSchedule<Balance>> = const { RefCell::new(SCHEDULE_DEFAULT) };
	static POLL_WEIGHT: RefCell<Weight> = const { RefCell::new(Weight::MAX) };
}

pub const EXISTENTIAL_DEPOSIT: Balance = 100;
pub const EPOCH_S: u64 = 3_600;
pub const GRACE_S: u64 = 600;
pub const RETENTION: u32 = 3;
pub const TREASURY: AccountId = 999;
/// 2026-01-01T00:00:00Z: the start of an epoch.
pub const NOW: UnixSeconds = 1_767_225_600;
pub const START_EPOCH: u64 = NOW / EPOCH_S;
/// 1 000 000 per hourly epoch in the first year (8 766 epochs a year).
pub const EMISSION_PER_EPOCH: Balance = 1_000_000;

const EQUAL_WEIGHTS: DimensionWeights = DimensionWeights {
	generation: Perbill::from_percent(20),
	storage: Perbill::from_percent(20),
	grid_stability: Perbill::from_percent(20),
	participation: Perbill::from_percent(20),
	online: Perbill::from_percent(20),
};
const SCHEDULE_DEFAULT: EmissionSchedule<Balance> = EmissionSchedule {
	first_year_emission: EMISSION_PER_EPOCH * 8_766,
	yearly_decay: Perbill::from_percent(20),
	tail_floor: Perbill::from_parts(15_000_000),
	treasury_share: Perbill::from_percent(10),
};

pub struct TestWeights;
impl Get<DimensionWeights> for TestWeights {
	fn get() -> DimensionWeights {
		WEIGHTS.with(|w| *w.borrow())
	}
}

pub struct TestSchedule;
impl Get<EmissionSchedule<Balance>> for TestSchedule {
	fn get() -> EmissionSchedule<Balance> {
		SCHEDULE.with(|s| *s.borrow())
	}
}

pub struct PollWeight;
impl Get<Weight> for PollWeight {
	fn get() -> Weight {
		POLL_WEIGHT.with(|w| *w.borrow())
	}
}

pub struct Treasury;
impl Get<AccountId> for Treasury {
	fn get() -> AccountId {
		TREASURY
	}
}

frame_support::parameter_types! {
	pub const RewardPotId: PalletId = PalletId(*b"ovpp/rwd");
}

/// Round figures, so that tests can say how many payouts fit in a block.
pub struct UnitWeights;
impl crate::WeightInfo for UnitWeights {
	fn poll_base() -> Weight {
		Weight::from_parts(100, 0)
	}
	fn open_payout() -> Weight {
		Weight::from_parts(1_000, 0)
	}
	/// 1 000 a block (closing the epoch included), 1 000 a device.
	fn pay_devices(n: u32) -> Weight {
		Weight::from_parts(1_000 + 1_000 * u64::from(n), 0)
	}
	fn prune_one() -> Weight {
		Weight::from_parts(100, 0)
	}
	fn pay_device() -> Weight {
		Weight::from_parts(1_000, 0)
	}
}

/// The registry's trait over an in-memory map of devices and whether each is active.
pub struct TestRegistry;
impl DeviceRegistry<AccountId> for TestRegistry {
	fn active_device(id: DeviceId) -> Result<DeviceInfo<AccountId>, DeviceLookupError> {
		match DEVICES.with(|d| d.borrow().get(&id).cloned()) {
			Some((info, true)) => Ok(info),
			Some((_, false)) => Err(DeviceLookupError::NotActive(DeviceStatus::Suspended)),
			None => Err(DeviceLookupError::Unknown),
		}
	}
	fn record_telemetry(_: DeviceId, _: &TelemetryTotals) -> Result<(), DeviceLookupError> {
		Ok(())
	}
	fn record_participation(_: DeviceId, _: Participation) -> Result<(), DeviceLookupError> {
		Ok(())
	}
	fn record_reputation(
		id: DeviceId,
		delta_bp: i32,
		_: ReputationReason,
	) -> Result<BasisPoints, DeviceLookupError> {
		DEVICES.with(|d| {
			let mut devices = d.borrow_mut();
			let (device, _) = devices.get_mut(&id).ok_or(DeviceLookupError::Unknown)?;
			let new = (i32::from(device.reputation_bp) + delta_bp).clamp(0, 10_000);
			device.reputation_bp = new as u16;
			Ok(device.reputation_bp)
		})
	}
	fn devices_behind(_: DeviceId) -> Vec<DeviceId> {
		Vec::new()
	}
}

impl pallet_rewards::Config for Test {
	type Currency = Balances;
	type Registry = TestRegistry;
	type UnixTime = Timestamp;
	type ClosedEpochs = ();
	type PotId = RewardPotId;
	type TreasuryAccount = Treasury;
	type EpochLengthS = ConstU64<EPOCH_S>;
	type CutoffGraceS = ConstU64<GRACE_S>;
	type DimensionWeights = TestWeights;
	type EmissionSchedule = TestSchedule;
	type ResultRetentionEpochs = ConstU32<RETENTION>;
	type MaxPollWeight = PollWeight;
	type WeightInfo = UnitWeights;
}

pub fn region() -> RegionCode {
	BoundedVec::try_from(b"DE-TENNET".to_vec()).expect("short")
}

/// Rooftop solar of `rated_power_w`.
pub fn solar(owner: AccountId, rated_power_w: u32) -> DeviceInfo<AccountId> {
	DeviceInfo {
		kind: DeviceKind::RooftopSolar,
		owner,
		gateway: 3,
		attestation_key: AttestationKey::Ed25519(Default::default()),
		capability: Capability { rated_power_w, ..Default::default() },
		region: region(),
		comfort: ComfortLimits::default(),
		reputation_bp: 5_000,
		counting_since: NOW - 86_400,
		site_meter: None,
	}
}

/// A home battery: 5 kW, 10 kWh, 20 % reserve.
pub fn battery(owner: AccountId) -> DeviceInfo<AccountId> {
	DeviceInfo {
		kind: DeviceKind::HomeBattery,
		capability: Capability {
			rated_power_w: 5_000,
			storage_capacity_wh: Some(10_000),
			max_charge_w: Some(5_000),
			max_discharge_w: Some(5_000),
		},
		comfort: ComfortLimits { min_reserve_soc_bp: 2_000, dispatch_windows: BoundedVec::new() },
		..solar(owner, 5_000)
	}
}

pub fn add_device(id: DeviceId, info: DeviceInfo<AccountId>) {
	DEVICES.with(|d| d.borrow_mut().insert(id, (info, true)));
}

pub fn set_active(id: DeviceId, active: bool) {
	DEVICES.with(|d| {
		if let Some(entry) = d.borrow_mut().get_mut(&id) {
			entry.1 = active;
		}
	});
}

pub fn reputation_of(id: DeviceId) -> u16 {
	DEVICES.with(|d| d.borrow().get(&id).map(|(i, _)| i.reputation_bp).unwrap_or_default())
}

pub fn set_weights(weights: DimensionWeights) {
	WEIGHTS.with(|w| *w.borrow_mut() = weights);
}

pub fn set_poll_weight(weight: Weight) {
	POLL_WEIGHT.with(|w| *w.borrow_mut() = weight);
}

/// Moves the clock to `seconds` and runs one block's `on_poll`.
pub fn poll_at(seconds: UnixSeconds) {
	pallet_timestamp::Now::<Test>::put(seconds * 1_000);
	System::set_block_number(System::block_number() + 1);
	let mut meter = WeightMeter::new();
	<Rewards as Hooks<u64>>::on_poll(System::block_number(), &mut meter);
}

/// A full epoch of telemetry: four plausible 15-minute reports, online throughout.
pub fn full_epoch(epoch: u64) -> EpochTelemetry {
	EpochTelemetry { epoch, online_s: EPOCH_S, accepted: 4, expected: 4, ..Default::default() }
}

pub fn balance_of(who: AccountId) -> Balance {
	pallet_balances::Pallet::<Test>::free_balance(who)
}

pub fn events() -> Vec<pallet_rewards::Event<Test>> {
	System::events()
		.into_iter()
		.filter_map(|r| if let RuntimeEvent::Rewards(e) = r.event { Some(e) } else { None })
		.collect()
}

/// Runs `test` at [`NOW`] after a first block, then checks the pallet's invariants.
pub fn test(test: impl FnOnce()) {
	let storage = frame_system::GenesisConfig::<Test>::default().build_storage().expect("ok");
	let mut ext = sp_io::TestExternalities::new(storage);
	ext.execute_with(|| {
		DEVICES.with(|d| d.borrow_mut().clear());
		WEIGHTS.with(|w| *w.borrow_mut() = EQUAL_WEIGHTS);
		SCHEDULE.with(|s| *s.borrow_mut() = SCHEDULE_DEFAULT);
		POLL_WEIGHT.with(|w| *w.borrow_mut() = Weight::MAX);
		poll_at(NOW);
		test();
		crate::Pallet::<Test>::do_try_state().expect("invariants hold");
	});
}

/// Storage for the benchmarks' test suite: a clock at [`NOW`].
#[cfg(feature = "runtime-benchmarks")]
pub fn bench_ext() -> sp_io::TestExternalities {
	let storage = frame_system::GenesisConfig::<Test>::default().build_storage().expect("ok");
	let mut ext = sp_io::TestExternalities::new(storage);
	ext.execute_with(|| pallet_timestamp::Now::<Test>::put(NOW * 1_000));
	ext
}
