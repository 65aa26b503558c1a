//! Governance through the real runtime: which origin may do what, and whole referenda on the
//! development preset (demonstration timing) — a parameter change, a treasury spend and a
//! validator added — from the preimage to the enacted call.

#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

mod common;

use codec::Encode;
use common::*;
use frame_support::{
	assert_noop, assert_ok,
	traits::{fungible::Inspect, schedule::DispatchTime, Bounded},
};
use openvpp_runtime::{
	configs::parameters::{dynamic_params, RuntimeParameters},
	governance::{
		origins::{Origin, MAX_TREASURER_SPEND},
		tracks, TreasuryAccount,
	},
	AccountId, Balances, OriginCaller, Runtime, RuntimeCall, RuntimeEvent, RuntimeOrigin, System,
	OVPP,
};
use pallet_conviction_voting::{AccountVote, Conviction, Vote};
use pallet_referenda::{ReferendumInfo, TracksInfo as _};
use sp_keyring::Sr25519Keyring::{self, *};
use sp_runtime::{
	traits::{Dispatchable, Hash as _},
	DispatchError, Perbill,
};

const BLOCK_S: u64 = 6;

fn origin_of(track_origin: Origin) -> RuntimeOrigin {
	RuntimeOrigin::from(OriginCaller::Origins(track_origin))
}

fn set_generation_weight(percent: u32) -> RuntimeCall {
	RuntimeCall::Parameters(pallet_parameters::Call::set_parameter {
		key_value: RuntimeParameters::Rewards(
			dynamic_params::rewards::Parameters::GenerationWeight(
				dynamic_params::rewards::GenerationWeight,
				Some(Perbill::from_percent(percent)),
			),
		),
	})
}

fn add_verifier(who: Sr25519Keyring) -> RuntimeCall {
	RuntimeCall::DeviceRegistry(pallet_device_registry::Call::add_verifier {
		verifier: who.to_account_id(),
	})
}

fn add_operator(who: Sr25519Keyring) -> RuntimeCall {
	RuntimeCall::DemandResponse(pallet_demand_response::Call::add_operator {
		operator: who.to_account_id(),
	})
}

fn add_validator(who: Sr25519Keyring) -> RuntimeCall {
	RuntimeCall::ValidatorSet(pallet_validator_set::Call::add_validator {
		validator: who.to_account_id(),
	})
}

fn spend(amount: u128, to: Sr25519Keyring) -> RuntimeCall {
	RuntimeCall::Treasury(pallet_treasury::Call::spend {
		asset_kind: Box::new(()),
		amount,
		beneficiary: Box::new(to.to_account_id().into()),
		valid_from: None,
	})
}

fn set_min_interval(seconds: u32) -> RuntimeCall {
	RuntimeCall::Telemetry(pallet_telemetry::Call::set_min_interval_length { seconds })
}

/// Whether `origin` may dispatch `call` (the call's own errors other than a bad origin count
/// as allowed: the origin got through).
fn allowed(origin: RuntimeOrigin, call: RuntimeCall) -> bool {
	!matches!(call.dispatch(origin), Err(e) if e.error == DispatchError::BadOrigin)
}

#[test]
fn every_origin_maps_to_its_track() {
	let cases = [
		(OriginCaller::system(frame_system::RawOrigin::Root), tracks::id::ROOT),
		(OriginCaller::Origins(Origin::NetworkParameters), tracks::id::NETWORK_PARAMETERS),
		(OriginCaller::Origins(Origin::DeviceVerifiers), tracks::id::DEVICE_VERIFIERS),
		(
			OriginCaller::Origins(Origin::DemandResponseOperators),
			tracks::id::DEMAND_RESPONSE_OPERATORS,
		),
		(OriginCaller::Origins(Origin::Validators), tracks::id::VALIDATORS),
		(OriginCaller::Origins(Origin::Treasurer), tracks::id::TREASURER),
	];
	chain_from_preset("development").execute_with(|| {
		for (origin, track) in cases {
			assert_eq!(tracks::TracksInfo::track_for(&origin), Ok(track), "{origin:?}");
		}
		// A signed origin has no track: no referendum can dispatch as an account.
		let signed = OriginCaller::system(frame_system::RawOrigin::Signed(Alice.to_account_id()));
		assert_eq!(tracks::TracksInfo::track_for(&signed), Err(()));
		tracks::TracksInfo::check_integrity().expect("tracks are sorted and unique");
		// The development chain decides in blocks...
		let info = tracks::TracksInfo::info(tracks::id::ROOT).unwrap();
		assert_eq!(info.confirm_period, tracks::DEMONSTRATION.confirm);
	});
	// ...a real network in days.
	chain_from_preset("staging").execute_with(|| {
		let info = tracks::TracksInfo::info(tracks::id::ROOT).unwrap();
		assert_eq!(info.confirm_period, openvpp_runtime::DAYS);
		assert_eq!(info.decision_period, 14 * openvpp_runtime::DAYS);
	});
}

#[test]
fn each_track_origin_has_exactly_its_own_power() {
	chain_from_preset("development").execute_with(|| {
		type Power = fn() -> RuntimeCall;
		let powers: [(Origin, Power); 5] = [
			(Origin::NetworkParameters, || set_generation_weight(30)),
			(Origin::DeviceVerifiers, || add_verifier(Eve)),
			(Origin::DemandResponseOperators, || add_operator(Eve)),
			(Origin::Validators, || add_validator(Eve)),
			(Origin::Treasurer, || spend(OVPP, Eve)),
		];
		for (holder, _) in &powers {
			for (owner, power) in &powers {
				assert_eq!(
					allowed(origin_of(holder.clone()), power()),
					holder == owner,
					"{holder:?} dispatching the power of {owner:?}"
				);
			}
			// Root can do everything; a plain account nothing.
		}
		for (_, power) in &powers {
			assert!(allowed(RuntimeOrigin::root(), power()));
			assert!(!allowed(RuntimeOrigin::signed(Alice.to_account_id()), power()));
		}
		// The minimum report interval is a network parameter too.
		assert!(allowed(origin_of(Origin::NetworkParameters), set_min_interval(10)));
		assert!(!allowed(origin_of(Origin::DeviceVerifiers), set_min_interval(10)));
		// Suspending a device by referendum belongs to the verifiers' track.
		let suspend = || {
			RuntimeCall::DeviceRegistry(pallet_device_registry::Call::suspend_device {
				device_id: 1,
				reason: b"audit".to_vec().try_into().unwrap(),
			})
		};
		assert!(allowed(origin_of(Origin::DeviceVerifiers), suspend()));
		assert!(!allowed(origin_of(Origin::Validators), suspend()));
		// The treasurer's spends are capped; root's are not.
		assert_noop!(
			spend(MAX_TREASURER_SPEND + 1, Eve).dispatch(origin_of(Origin::Treasurer)),
			pallet_treasury::Error::<Runtime>::InsufficientPermission
		);
	});
}

/// Notes `call` as a preimage, submits it on the track of `track_origin`, places the decision
/// deposit and has Alice … Ferdie vote aye with conviction. Returns the referendum's index.
fn propose_and_vote(track_origin: OriginCaller, call: RuntimeCall) -> u32 {
	let encoded = call.encode();
	let hash = <Runtime as frame_system::Config>::Hashing::hash(&encoded);
	apply(
		Alice,
		RuntimeCall::Preimage(pallet_preimage::Call::note_preimage { bytes: encoded.clone() }),
	)
	.expect("preimage noted");
	let index = pallet_referenda::ReferendumCount::<Runtime>::get();
	apply(
		Alice,
		RuntimeCall::Referenda(pallet_referenda::Call::submit {
			proposal_origin: Box::new(track_origin),
			proposal: Bounded::Lookup { hash, len: encoded.len() as u32 },
			enactment_moment: DispatchTime::After(0),
		}),
	)
	.expect("submitted");
	apply(Bob, RuntimeCall::Referenda(pallet_referenda::Call::place_decision_deposit { index }))
		.expect("decision deposit placed");
	for voter in [Alice, Bob, Charlie, Dave, Eve, Ferdie] {
		// All but what pays the fees.
		let balance = Balances::balance(&voter.to_account_id()) - 1_000 * OVPP;
		apply(
			voter,
			RuntimeCall::ConvictionVoting(pallet_conviction_voting::Call::vote {
				poll_index: index,
				vote: AccountVote::Standard {
					vote: Vote { aye: true, conviction: Conviction::Locked1x },
					balance,
				},
			}),
		)
		.expect("voted");
	}
	index
}

/// Produces blocks until referendum `index` is approved and its call dispatched; returns the
/// dispatch result and how many blocks it took.
fn run_until_enacted(index: u32) -> (sp_runtime::DispatchResult, u32) {
	let start = System::block_number();
	let mut now = pallet_timestamp::Now::<Runtime>::get() / 1_000;
	for _ in 0..200 {
		now += BLOCK_S;
		next_block(now);
		for event in events() {
			// The referendum's alarms are anonymous tasks; its enactment is a named one.
			if let RuntimeEvent::Scheduler(pallet_scheduler::Event::Dispatched {
				id: Some(_),
				result,
				..
			}) = event
			{
				assert!(matches!(
					pallet_referenda::ReferendumInfoFor::<Runtime>::get(index),
					Some(ReferendumInfo::Approved(..))
				));
				return (result, System::block_number() - start);
			}
		}
	}
	panic!(
		"referendum {index} was not enacted: {:?}",
		pallet_referenda::ReferendumInfoFor::<Runtime>::get(index)
	);
}

#[test]
fn a_parameter_change_passes_by_referendum_and_is_enacted() {
	chain_from_preset("development").execute_with(|| {
		use frame_support::traits::Get;
		assert_eq!(dynamic_params::rewards::GenerationWeight::get(), Perbill::from_percent(25));
		let index = propose_and_vote(
			OriginCaller::Origins(Origin::NetworkParameters),
			set_generation_weight(30),
		);
		let (result, blocks) = run_until_enacted(index);
		assert_ok!(result);
		assert_eq!(dynamic_params::rewards::GenerationWeight::get(), Perbill::from_percent(30));
		// Demonstration timing: prepare, confirm and enactment of five blocks each.
		assert!(blocks <= 20, "took {blocks} blocks");
		// The deposits come back once the referendum is over.
		let bob = Bob.to_account_id();
		let held = Balances::total_balance(&bob) - Balances::balance(&bob);
		assert_ok!(apply(
			Bob,
			RuntimeCall::Referenda(pallet_referenda::Call::refund_decision_deposit { index })
		));
		assert!(Balances::total_balance(&bob) - Balances::balance(&bob) < held);
	});
}

#[test]
fn a_treasury_spend_passes_by_referendum_and_is_paid() {
	chain_from_preset("development").execute_with(|| {
		let treasury = TreasuryAccount::get();
		// Fees fill the treasury too; give it a round sum to spend from.
		assert_ok!(apply(
			Alice,
			RuntimeCall::Balances(pallet_balances::Call::transfer_keep_alive {
				dest: treasury.clone().into(),
				value: 10_000 * OVPP,
			})
		));
		let index =
			propose_and_vote(OriginCaller::Origins(Origin::Treasurer), spend(5_000 * OVPP, Ferdie));
		let (result, _) = run_until_enacted(index);
		assert_ok!(result);
		let spend_index = pallet_treasury::SpendCount::<Runtime>::get() - 1;
		let ferdie_before = Balances::balance(&Ferdie.to_account_id());
		let treasury_before = Balances::balance(&treasury);
		// Anyone may claim an approved spend for its beneficiary.
		assert_ok!(apply(
			Charlie,
			RuntimeCall::Treasury(pallet_treasury::Call::payout { index: spend_index })
		));
		assert_eq!(Balances::balance(&Ferdie.to_account_id()), ferdie_before + 5_000 * OVPP);
		// The payout's own fee was Charlie's; the treasury got its share of it.
		assert!(Balances::balance(&treasury) <= treasury_before - 5_000 * OVPP + OVPP);
		assert_ok!(apply(
			Charlie,
			RuntimeCall::Treasury(pallet_treasury::Call::check_status { index: spend_index })
		));
	});
}

#[test]
fn transaction_fees_feed_the_treasury() {
	chain_from_preset("development").execute_with(|| {
		let treasury = TreasuryAccount::get();
		let before = Balances::balance(&treasury);
		let issuance = Balances::total_issuance();
		let alice_before = Balances::balance(&Alice.to_account_id());
		assert_ok!(apply(
			Alice,
			RuntimeCall::System(frame_system::Call::remark { remark: vec![0; 100] })
		));
		let fee = alice_before - Balances::balance(&Alice.to_account_id());
		let share = openvpp_runtime::governance::FEE_SHARE_TO_TREASURY * fee;
		assert!(share > 0);
		assert_eq!(Balances::balance(&treasury), before + share);
		assert_eq!(Balances::total_issuance(), issuance - (fee - share));
	});
}

#[test]
fn a_validator_added_by_referendum_validates_after_the_session_change() {
	let mut ext = chain_from_preset("development");
	ext.register_extension(sp_keystore::KeystoreExt::new(
		sp_keystore::testing::MemoryKeystore::new(),
	));
	ext.execute_with(|| {
		let eve: AccountId = Eve.to_account_id();
		// Eve registers session keys with a proof that she holds them, as `author_rotateKeys`
		// and `session.setKeys` do from polkadot.js.
		let generated = openvpp_runtime::SessionKeys::generate(&eve.encode(), None);
		let keys = generated.keys.clone();
		let proof = generated.proof.encode();
		assert_ok!(apply(
			Eve,
			RuntimeCall::Session(pallet_session::Call::set_keys {
				keys: keys.clone(),
				proof: proof.clone(),
			})
		));
		// A proof for another account is refused.
		assert!(matches!(
			try_apply(
				&Ferdie.pair(),
				RuntimeCall::Session(pallet_session::Call::set_keys { keys, proof })
			),
			Ok(Err(_))
		));

		let index = propose_and_vote(OriginCaller::Origins(Origin::Validators), add_validator(Eve));
		let (result, _) = run_until_enacted(index);
		assert_ok!(result);
		assert!(pallet_validator_set::Validators::<Runtime>::get().contains(&eve));
		assert!(!pallet_session::Validators::<Runtime>::get().contains(&eve));

		// Planned at the next session change, active at the one after.
		let mut now = pallet_timestamp::Now::<Runtime>::get() / 1_000;
		let start = System::block_number();
		while !pallet_session::Validators::<Runtime>::get().contains(&eve) {
			assert!(System::block_number() < start + 30, "Eve never became a validator");
			now += BLOCK_S;
			next_block(now);
		}
		let aura = pallet_aura::Authorities::<Runtime>::get();
		assert_eq!(aura.len(), 2);
		assert_eq!(pallet_session::Validators::<Runtime>::get().len(), 2);
	});
}

#[test]
fn governance_invariants_hold_on_every_preset() {
	for preset in ["development", "local_testnet", "staging"] {
		chain_from_preset(preset).execute_with(|| {
			pallet_validator_set::Pallet::<Runtime>::do_try_state().expect("invariants hold");
			let validators = pallet_validator_set::Validators::<Runtime>::get();
			assert_eq!(
				validators.len(),
				pallet_session::Validators::<Runtime>::get().len(),
				"{preset}"
			);
			assert_eq!(
				pallet_aura::Authorities::<Runtime>::get().len(),
				validators.len(),
				"{preset}"
			);
			// The treasury exists from genesis, so that the first fee share lands.
			assert!(Balances::balance(&TreasuryAccount::get()) > 0);
			let sudo = pallet_sudo::Key::<Runtime>::get();
			assert_eq!(sudo.is_some(), preset != "staging", "{preset}");
		});
	}
}
