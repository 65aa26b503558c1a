//! Who validates: the validator set chosen by governance (`ValidatorSet`) and the sessions
//! (`Session`) that hand its members' keys to Aura and GRANDPA.
//!
//! A session lasts an hour on a real network and ten blocks (one minute) on a development
//! chain, following the genesis timing of governance ([`crate::governance::origins::Timing`]);
//! a change to the set is active at most two sessions after it was voted. The block in which
//! a session changes is reserved for the rotation (the session pallet claims its full weight),
//! so transactions wait one block there.

use frame_support::{
	parameter_types,
	traits::{ConstU32, Contains, Get},
};
use sp_runtime::traits::ConvertInto;

use crate::{
	governance::{
		origins::{Timing, TrackTiming},
		ValidatorsOrigin,
	},
	AccountId, Balance, Balances, BlockNumber, Runtime, RuntimeEvent, SessionKeys, HOURS,
	MILLI_OVPP,
};

/// Blocks per session: an hour, or ten blocks on a development chain.
pub struct SessionLength;
impl Get<BlockNumber> for SessionLength {
	fn get() -> BlockNumber {
		match TrackTiming::<Runtime>::get() {
			Timing::Production => HOURS,
			Timing::Demonstration => 10,
		}
	}
}

/// Sessions start at block 0 and every [`SessionLength`] blocks after it.
pub type Sessions = pallet_session::PeriodicSessions<SessionLength, ConstU32<0>>;

parameter_types! {
	/// Held while an account has session keys registered; released by `session.purgeKeys`.
	pub const SessionKeyDeposit: Balance = 100 * MILLI_OVPP;
}

impl pallet_session::Config for Runtime {
	type RuntimeEvent = RuntimeEvent;
	/// A validator is identified by its account.
	type ValidatorId = AccountId;
	type ValidatorIdOf = ConvertInto;
	type ShouldEndSession = Sessions;
	type NextSessionRotation = Sessions;
	type SessionManager = crate::ValidatorSet;
	type SessionHandler = <SessionKeys as sp_runtime::traits::OpaqueKeys>::KeyTypeIdProviders;
	type Keys = SessionKeys;
	/// No staking, no slashing: misbehaving validators are removed by governance.
	type DisablingStrategy = ();
	type WeightInfo = pallet_session::weights::SubstrateWeight<Runtime>;
	type Currency = Balances;
	type KeyDeposit = SessionKeyDeposit;
}

/// Accounts with session keys registered for the next session.
pub struct HasSessionKeys;
impl Contains<AccountId> for HasSessionKeys {
	fn contains(who: &AccountId) -> bool {
		pallet_session::NextKeys::<Runtime>::contains_key(who)
	}
}

impl pallet_validator_set::Config for Runtime {
	type AddRemoveOrigin = ValidatorsOrigin;
	type HasSessionKeys = HasSessionKeys;
	/// A development chain runs with one validator; a real network should keep at least four,
	/// so that one may fail (docs/operator.md).
	type MinValidators = ConstU32<1>;
	/// The authority limit of Aura and GRANDPA.
	type MaxValidators = ConstU32<32>;
	type WeightInfo = pallet_validator_set::weights::SubstrateWeight<Runtime>;
}
