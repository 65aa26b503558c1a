//! A minimal runtime for the registry's tests: system, balances, timestamp and the registry.

use core::cell::RefCell;

use frame_support::{
	derive_impl, parameter_types,
	traits::{ConstU128, ConstU16, ConstU32, ConstU64, Hooks},
};
use frame_system::EnsureRoot;
use openvpp_primitives::{
	CapabilityBounds, DeviceId, DeviceKind, DeviceLifecycleHooks, KindCapabilityBounds,
};
use sp_runtime::BuildStorage;

use crate as pallet_device_registry;

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
	pub type DeviceRegistry = pallet_device_registry;
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
	type ExistentialDeposit = ConstU128<1>;
	type RuntimeHoldReason = RuntimeHoldReason;
}

impl pallet_timestamp::Config for Test {
	type Moment = u64;
	type OnTimestampSet = ();
	type MinimumPeriod = ConstU64<1>;
	type WeightInfo = ();
}

/// Per-kind bounds used by the tests: small numbers, so that out-of-bounds cases are easy.
pub struct TestBounds;
impl KindCapabilityBounds for TestBounds {
	fn bounds(kind: DeviceKind) -> CapabilityBounds {
		match kind {
			DeviceKind::HomeBattery => CapabilityBounds {
				max_rated_power_w: 30_000,
				max_storage_capacity_wh: 100_000,
				max_charge_w: 30_000,
				max_discharge_w: 30_000,
			},
			_ => CapabilityBounds {
				max_rated_power_w: 1_000_000,
				max_storage_capacity_wh: 1_000_000,
				max_charge_w: 1_000_000,
				max_discharge_w: 1_000_000,
			},
		}
	}
}

/// A lifecycle event the registry reported to the other pallets.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Lifecycle {
	Deactivated(DeviceId),
	Retired(DeviceId),
	Changed(DeviceId),
}

thread_local! {
	pub static LIFECYCLE: RefCell<Vec<Lifecycle>> = const { RefCell::new(Vec::new()) };
}

/// Records lifecycle notifications so tests can check them.
pub struct RecordHooks;
impl DeviceLifecycleHooks for RecordHooks {
	fn on_device_deactivated(id: DeviceId) {
		LIFECYCLE.with(|l| l.borrow_mut().push(Lifecycle::Deactivated(id)));
	}
	fn on_device_retired(id: DeviceId) {
		LIFECYCLE.with(|l| l.borrow_mut().push(Lifecycle::Retired(id)));
	}
	fn on_device_changed(id: DeviceId) {
		LIFECYCLE.with(|l| l.borrow_mut().push(Lifecycle::Changed(id)));
	}
}

thread_local! {
	pub static COMMITTED: RefCell<Vec<DeviceId>> = const { RefCell::new(Vec::new()) };
}

/// Devices the tests say are in a demand-response event.
pub struct TestCommitments;
impl openvpp_primitives::DeviceCommitments for TestCommitments {
	fn is_committed(id: DeviceId) -> bool {
		COMMITTED.with(|c| c.borrow().contains(&id))
	}
}

pub fn set_committed(id: DeviceId, committed: bool) {
	COMMITTED.with(|c| {
		let mut c = c.borrow_mut();
		c.retain(|d| *d != id);
		if committed {
			c.push(id);
		}
	});
}

/// The lifecycle notifications so far (and forgets them).
pub fn take_lifecycle() -> Vec<Lifecycle> {
	LIFECYCLE.with(|l| core::mem::take(&mut *l.borrow_mut()))
}

pub const DEPOSIT: Balance = 100;

parameter_types! {
	pub const DeviceDeposit: Balance = DEPOSIT;
}

impl pallet_device_registry::Config for Test {
	type Currency = Balances;
	type RuntimeHoldReason = RuntimeHoldReason;
	type DeviceDeposit = DeviceDeposit;
	type CapabilityBounds = TestBounds;
	type VerifierAdminOrigin = EnsureRoot<AccountId>;
	type GovernanceOrigin = EnsureRoot<AccountId>;
	type UnixTime = Timestamp;
	type LifecycleHooks = RecordHooks;
	type Commitments = TestCommitments;
	#[cfg(feature = "runtime-benchmarks")]
	type LifecycleBenchmarkHelper = ();
	type MaxMetadataLen = ConstU32<32>;
	type MaxReasonLen = ConstU32<32>;
	type InitialReputationBp = ConstU16<5_000>;
	type ReputationHistoryLen = ConstU32<3>;
	type MaxDevicesPerSite = ConstU32<3>;
	type WeightInfo = ();
}

pub const OWNER: AccountId = 1;
pub const OTHER: AccountId = 2;
pub const GATEWAY: AccountId = 3;
pub const VERIFIER: AccountId = 4;
/// An account with less than a deposit.
pub const POOR: AccountId = 5;
pub const START_BALANCE: Balance = 10_000;
/// Unix time (ms) the tests run at: 2026-01-01T00:00:00Z.
pub const NOW_MS: u64 = 1_767_225_600_000;

/// Test state: funded accounts, one verifier, the clock set, keystore registered (for the
/// benchmarks, which generate keys through host functions).
pub fn new_test_ext() -> sp_io::TestExternalities {
	let mut storage = frame_system::GenesisConfig::<Test>::default().build_storage().unwrap();
	pallet_balances::GenesisConfig::<Test> {
		balances: vec![
			(OWNER, START_BALANCE),
			(OTHER, START_BALANCE),
			(GATEWAY, START_BALANCE),
			(VERIFIER, START_BALANCE),
			(POOR, 50),
		],
		..Default::default()
	}
	.assimilate_storage(&mut storage)
	.unwrap();
	pallet_device_registry::GenesisConfig::<Test> { verifiers: vec![VERIFIER], devices: vec![] }
		.assimilate_storage(&mut storage)
		.unwrap();
	let mut ext = sp_io::TestExternalities::new(storage);
	ext.register_extension(sp_keystore::KeystoreExt::new(
		sp_keystore::testing::MemoryKeystore::new(),
	));
	ext.execute_with(|| {
		System::set_block_number(1);
		pallet_timestamp::Now::<Test>::put(NOW_MS);
		take_lifecycle();
		COMMITTED.with(|c| c.borrow_mut().clear());
	});
	ext
}

/// Runs a test and then checks the registry's state invariants.
pub fn run_test(test: impl FnOnce()) {
	new_test_ext().execute_with(|| {
		test();
		DeviceRegistry::do_try_state().expect("state invariants hold");
		// Hooks run on every block; make sure they are callable too.
		<DeviceRegistry as Hooks<u64>>::integrity_test();
	});
}
