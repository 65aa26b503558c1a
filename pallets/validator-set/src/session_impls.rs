//! The pallet as the session pallet's `SessionManager`: at each session change, plan the chosen
//! validators that have session keys, and hand them over only when that set changed.

use alloc::vec::Vec;
use frame_support::{traits::Contains, BoundedVec};

use crate::pallet::*;

impl<T: Config> Pallet<T> {
	/// The chosen validators that have session keys, sorted.
	fn keyed_validators() -> (Vec<T::AccountId>, Vec<T::AccountId>) {
		Validators::<T>::get().into_iter().partition(T::HasSessionKeys::contains)
	}

	/// The set to hand to the session pallet for `session_index`, if it differs from the last.
	pub(crate) fn plan(session_index: u32) -> Option<Vec<T::AccountId>> {
		let (keyed, without_keys) = Self::keyed_validators();
		if !without_keys.is_empty() {
			Self::deposit_event(Event::ValidatorsWithoutKeys {
				session_index,
				validators: without_keys,
			});
		}
		// No keyed validator at all would stop the chain: keep the current set instead.
		if keyed.is_empty() || keyed.as_slice() == Planned::<T>::get().as_slice() {
			return None;
		}
		// `keyed` is a subset of `Validators`, so it fits the same bound.
		Planned::<T>::put(BoundedVec::truncate_from(keyed.clone()));
		Self::deposit_event(Event::ValidatorSetPlanned {
			session_index,
			validators: keyed.clone(),
		});
		Some(keyed)
	}

	#[cfg(any(feature = "try-runtime", feature = "std", test))]
	pub fn do_try_state() -> Result<(), sp_runtime::TryRuntimeError> {
		use frame_support::{ensure, traits::Get};
		let set = Validators::<T>::get();
		ensure!(set.windows(2).all(|w| w[0] < w[1]), "validators not sorted and distinct");
		ensure!(
			set.is_empty() || set.len() >= T::MinValidators::get() as usize,
			"fewer validators than MinValidators"
		);
		let planned = Planned::<T>::get();
		ensure!(planned.windows(2).all(|w| w[0] < w[1]), "planned set not sorted and distinct");
		Ok(())
	}
}

impl<T: Config> pallet_session::SessionManager<T::AccountId> for Pallet<T> {
	fn new_session(new_index: u32) -> Option<Vec<T::AccountId>> {
		Self::plan(new_index)
	}

	/// At genesis the session pallet takes the set from its own `keys`, which the chain spec
	/// builds from the same validators.
	fn new_session_genesis(_: u32) -> Option<Vec<T::AccountId>> {
		None
	}

	fn end_session(_: u32) {}

	fn start_session(_: u32) {}
}
