//! A runtime for the pallet's tests: system and the validator set, with session keys played by
//! a list of accounts that have them.

use core::cell::RefCell;
use std::collections::BTreeSet;

use frame_support::{derive_impl, parameter_types, traits::Contains};
use frame_system::EnsureRoot;
use sp_runtime::BuildStorage;

use crate as pallet_validator_set;

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
	pub type ValidatorSet = pallet_validator_set;
}

#[derive_impl(frame_system::config_preludes::TestDefaultConfig)]
impl frame_system::Config for Test {
	type Block = Block;
	type AccountId = AccountId;
	type Lookup = sp_runtime::traits::IdentityLookup<AccountId>;
}

thread_local! {
	static WITH_KEYS: RefCell<BTreeSet<AccountId>> = const { RefCell::new(BTreeSet::new()) };
}

/// Accounts with session keys registered.
pub struct KeysRegistered;
impl Contains<AccountId> for KeysRegistered {
	fn contains(who: &AccountId) -> bool {
		WITH_KEYS.with(|k| k.borrow().contains(who))
	}
}

/// Registers (or drops) `who`'s session keys.
pub fn set_keys(who: AccountId, present: bool) {
	WITH_KEYS.with(|k| {
		let mut k = k.borrow_mut();
		if present {
			k.insert(who);
		} else {
			k.remove(&who);
		}
	});
}

parameter_types! {
	pub const MinValidators: u32 = 2;
	pub const MaxValidators: u32 = 5;
}

impl pallet_validator_set::Config for Test {
	type AddRemoveOrigin = EnsureRoot<AccountId>;
	type HasSessionKeys = KeysRegistered;
	type MinValidators = MinValidators;
	type MaxValidators = MaxValidators;
	type WeightInfo = ();
}

/// Genesis validators 1, 2 and 3, all with keys; 4 and 5 have keys too but do not validate.
pub fn new_test_ext() -> sp_io::TestExternalities {
	WITH_KEYS.with(|k| *k.borrow_mut() = [1, 2, 3, 4, 5].into_iter().collect());
	let storage = RuntimeGenesisConfig {
		validator_set: pallet_validator_set::GenesisConfig { validators: vec![3, 1, 2] },
		..Default::default()
	}
	.build_storage()
	.expect("genesis builds");
	let mut ext = sp_io::TestExternalities::new(storage);
	ext.execute_with(|| System::set_block_number(1));
	ext
}
