//! Adding and removing validators, the bounds of the set, and what is handed to the session
//! pallet at session changes.

use frame_support::{assert_noop, assert_ok, traits::Hooks};
use pallet_session::SessionManager;
use sp_runtime::DispatchError;

use crate::{mock::*, Error, Event, Planned, Validators};

fn set() -> Vec<AccountId> {
	Validators::<Test>::get().into_inner()
}

fn events() -> Vec<Event<Test>> {
	System::events()
		.into_iter()
		.filter_map(|r| match r.event {
			RuntimeEvent::ValidatorSet(e) => Some(e),
			_ => None,
		})
		.collect()
}

fn check_invariants() {
	ValidatorSet::do_try_state().expect("invariants hold");
	ValidatorSet::integrity_test();
}

#[test]
fn genesis_sorts_the_set_and_plans_it() {
	new_test_ext().execute_with(|| {
		assert_eq!(set(), vec![1, 2, 3]);
		assert_eq!(Planned::<Test>::get().into_inner(), vec![1, 2, 3]);
		// Nothing changed since genesis: the session pallet keeps its set.
		assert_eq!(ValidatorSet::new_session(2), None);
		assert_eq!(ValidatorSet::new_session_genesis(0), None);
		check_invariants();
	});
}

#[test]
fn an_added_validator_is_planned_at_the_next_session() {
	new_test_ext().execute_with(|| {
		assert_ok!(ValidatorSet::add_validator(RuntimeOrigin::root(), 4));
		assert_eq!(set(), vec![1, 2, 3, 4]);
		assert_eq!(events(), vec![Event::ValidatorAdded { validator: 4 }]);
		assert_eq!(ValidatorSet::new_session(5), Some(vec![1, 2, 3, 4]));
		assert!(events().contains(&Event::ValidatorSetPlanned {
			session_index: 5,
			validators: vec![1, 2, 3, 4]
		}));
		// Handed over once; the next change of session has nothing new.
		assert_eq!(ValidatorSet::new_session(6), None);
		check_invariants();
	});
}

#[test]
fn a_removed_validator_leaves_at_the_next_session() {
	new_test_ext().execute_with(|| {
		assert_ok!(ValidatorSet::remove_validator(RuntimeOrigin::root(), 2));
		assert_eq!(set(), vec![1, 3]);
		assert_eq!(events(), vec![Event::ValidatorRemoved { validator: 2 }]);
		assert_eq!(ValidatorSet::new_session(3), Some(vec![1, 3]));
		check_invariants();
	});
}

#[test]
fn a_validator_without_keys_waits_for_them() {
	new_test_ext().execute_with(|| {
		set_keys(6, false);
		assert_ok!(ValidatorSet::add_validator(RuntimeOrigin::root(), 6));
		// Without keys, the planned set would not change: the session keeps its set, and the
		// missing keys are reported.
		assert_eq!(ValidatorSet::new_session(3), None);
		assert!(events()
			.contains(&Event::ValidatorsWithoutKeys { session_index: 3, validators: vec![6] }));
		set_keys(6, true);
		assert_eq!(ValidatorSet::new_session(4), Some(vec![1, 2, 3, 6]));
		check_invariants();
	});
}

#[test]
fn a_validator_that_drops_its_keys_is_left_out() {
	new_test_ext().execute_with(|| {
		set_keys(3, false);
		assert_eq!(ValidatorSet::new_session(3), Some(vec![1, 2]));
		set_keys(3, true);
		assert_eq!(ValidatorSet::new_session(4), Some(vec![1, 2, 3]));
	});
}

#[test]
fn no_keyed_validator_keeps_the_current_set() {
	new_test_ext().execute_with(|| {
		for v in [1, 2, 3] {
			set_keys(v, false);
		}
		assert_eq!(ValidatorSet::new_session(3), None);
		assert_eq!(Planned::<Test>::get().into_inner(), vec![1, 2, 3]);
	});
}

#[test]
fn only_the_governance_origin_changes_the_set() {
	new_test_ext().execute_with(|| {
		assert_noop!(
			ValidatorSet::add_validator(RuntimeOrigin::signed(1), 4),
			DispatchError::BadOrigin
		);
		assert_noop!(
			ValidatorSet::remove_validator(RuntimeOrigin::signed(1), 2),
			DispatchError::BadOrigin
		);
	});
}

#[test]
fn the_set_keeps_its_bounds() {
	new_test_ext().execute_with(|| {
		assert_noop!(
			ValidatorSet::add_validator(RuntimeOrigin::root(), 2),
			Error::<Test>::AlreadyValidator
		);
		assert_noop!(
			ValidatorSet::remove_validator(RuntimeOrigin::root(), 9),
			Error::<Test>::NotValidator
		);
		assert_ok!(ValidatorSet::add_validator(RuntimeOrigin::root(), 4));
		assert_ok!(ValidatorSet::add_validator(RuntimeOrigin::root(), 5));
		assert_noop!(
			ValidatorSet::add_validator(RuntimeOrigin::root(), 6),
			Error::<Test>::TooManyValidators
		);
		for v in [5, 4, 3] {
			assert_ok!(ValidatorSet::remove_validator(RuntimeOrigin::root(), v));
		}
		assert_noop!(
			ValidatorSet::remove_validator(RuntimeOrigin::root(), 2),
			Error::<Test>::TooFewValidators
		);
		assert_eq!(set(), vec![1, 2]);
		check_invariants();
	});
}
