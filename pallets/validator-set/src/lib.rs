//! # Validator set
//!
//! Who validates an OpenVPP network is decided on-chain. This pallet keeps the set governance
//! chose ([`Validators`]) and hands it to `pallet-session` at session changes; the session
//! pallet then gives Aura and GRANDPA the keys of those validators.
//!
//! ## Model
//!
//! - [`Config::AddRemoveOrigin`] (the validators track of governance) adds and removes
//!   validators. The set never drops below [`Config::MinValidators`] nor grows past
//!   [`Config::MaxValidators`].
//! - A validator is identified by its account. It takes part only once it has registered
//!   session keys (`session.setKeys`): at every session change this pallet plans the chosen
//!   validators that have keys ([`Config::HasSessionKeys`]) and, when that differs from the set
//!   it planned last, hands the new set to the session pallet.
//! - `pallet-session` queues a planned set at the session change and activates it at the next
//!   one, so a change voted in session `s` is active from session `s + 2` at the latest.
//!
//! Calls, with origin, effects and errors, are documented on each dispatchable.

#![cfg_attr(not(feature = "std"), no_std)]

extern crate alloc;

#[cfg(feature = "runtime-benchmarks")]
mod benchmarking;
#[cfg(test)]
mod mock;
mod session_impls;
#[cfg(test)]
mod tests;
pub mod weights;

pub use pallet::*;
pub use weights::WeightInfo;

// The pallet macros' expansion uses `expect` on values they construct themselves.
#[allow(clippy::expect_used)]
#[frame_support::pallet]
pub mod pallet {
	use super::WeightInfo;
	use alloc::vec::Vec;
	use frame_support::{pallet_prelude::*, traits::Contains};
	use frame_system::pallet_prelude::*;

	#[pallet::pallet]
	pub struct Pallet<T>(_);

	#[pallet::config]
	pub trait Config: frame_system::Config<RuntimeEvent: From<Event<Self>>> {
		/// Who may add and remove validators: governance's validators track.
		type AddRemoveOrigin: EnsureOrigin<Self::RuntimeOrigin>;
		/// Whether an account has registered session keys. A validator without keys cannot
		/// author or vote, so it is left out of the planned set until it has them.
		type HasSessionKeys: Contains<Self::AccountId>;
		/// Fewest validators the set may have. GRANDPA finalizes only while more than two
		/// thirds of the validators are online; a set of at least this many tolerates
		/// `(MinValidators - 1) / 3` validators down.
		#[pallet::constant]
		type MinValidators: Get<u32>;
		/// Most validators the set may have; at most the consensus pallets' authority limits.
		#[pallet::constant]
		type MaxValidators: Get<u32>;
		type WeightInfo: WeightInfo;
	}

	/// The validators governance chose, sorted by account.
	#[pallet::storage]
	pub type Validators<T: Config> =
		StorageValue<_, BoundedVec<T::AccountId, T::MaxValidators>, ValueQuery>;

	/// The set last handed to the session pallet: the chosen validators that had keys then.
	#[pallet::storage]
	pub type Planned<T: Config> =
		StorageValue<_, BoundedVec<T::AccountId, T::MaxValidators>, ValueQuery>;

	#[pallet::genesis_config]
	#[derive(frame_support::DefaultNoBound)]
	pub struct GenesisConfig<T: Config> {
		/// The first validators. Each needs session keys in the session pallet's genesis.
		pub validators: Vec<T::AccountId>,
	}

	#[pallet::genesis_build]
	impl<T: Config> BuildGenesisConfig for GenesisConfig<T> {
		fn build(&self) {
			let mut validators = self.validators.clone();
			validators.sort();
			validators.dedup();
			assert!(
				validators.len() == self.validators.len(),
				"genesis validators must be distinct"
			);
			assert!(
				validators.len() <= T::MaxValidators::get() as usize,
				"genesis validators exceed MaxValidators"
			);
			let validators = BoundedVec::<_, T::MaxValidators>::truncate_from(validators);
			Validators::<T>::put(&validators);
			Planned::<T>::put(validators);
		}
	}

	#[pallet::event]
	#[pallet::generate_deposit(pub(super) fn deposit_event)]
	pub enum Event<T: Config> {
		/// A validator was added; it takes part from the session after next once it has keys.
		ValidatorAdded { validator: T::AccountId },
		/// A validator was removed; it leaves at the session after next.
		ValidatorRemoved { validator: T::AccountId },
		/// A new set was handed to the session pallet, active from `session_index`.
		ValidatorSetPlanned { session_index: u32, validators: Vec<T::AccountId> },
		/// Chosen validators left out of a planned set because they have no session keys.
		ValidatorsWithoutKeys { session_index: u32, validators: Vec<T::AccountId> },
	}

	#[pallet::error]
	pub enum Error<T> {
		/// The account is already a validator.
		AlreadyValidator,
		/// The account is not a validator.
		NotValidator,
		/// The set is full ([`Config::MaxValidators`]).
		TooManyValidators,
		/// Removing would leave fewer than [`Config::MinValidators`].
		TooFewValidators,
	}

	#[pallet::hooks]
	impl<T: Config> Hooks<BlockNumberFor<T>> for Pallet<T> {
		fn integrity_test() {
			assert!(T::MinValidators::get() >= 1, "MinValidators must be at least one");
			assert!(
				T::MinValidators::get() <= T::MaxValidators::get(),
				"MinValidators must not exceed MaxValidators"
			);
		}

		#[cfg(feature = "try-runtime")]
		fn try_state(_: BlockNumberFor<T>) -> Result<(), sp_runtime::TryRuntimeError> {
			Self::do_try_state()
		}
	}

	#[pallet::call]
	impl<T: Config> Pallet<T> {
		/// Add a validator.
		///
		/// - Origin: [`Config::AddRemoveOrigin`].
		/// - Effects: `validator` joins the chosen set. It is planned at the next session change
		///   if it has session keys by then (otherwise at the first change after it sets them)
		///   and authors from the session after that.
		/// - Emits [`Event::ValidatorAdded`].
		/// - Errors: `BadOrigin`, [`Error::AlreadyValidator`], [`Error::TooManyValidators`].
		#[pallet::call_index(0)]
		#[pallet::weight(T::WeightInfo::add_validator())]
		pub fn add_validator(origin: OriginFor<T>, validator: T::AccountId) -> DispatchResult {
			T::AddRemoveOrigin::ensure_origin(origin)?;
			Validators::<T>::try_mutate(|set| match set.binary_search(&validator) {
				Ok(_) => Err(Error::<T>::AlreadyValidator),
				Err(at) => {
					set.try_insert(at, validator.clone()).map_err(|_| Error::<T>::TooManyValidators)
				}
			})?;
			Self::deposit_event(Event::ValidatorAdded { validator });
			Ok(())
		}

		/// Remove a validator.
		///
		/// - Origin: [`Config::AddRemoveOrigin`].
		/// - Effects: `validator` leaves the chosen set and stops validating from the session
		///   after the next session change. Its session keys stay registered (`session.purgeKeys`
		///   releases their deposit).
		/// - Emits [`Event::ValidatorRemoved`].
		/// - Errors: `BadOrigin`, [`Error::NotValidator`], [`Error::TooFewValidators`].
		#[pallet::call_index(1)]
		#[pallet::weight(T::WeightInfo::remove_validator())]
		pub fn remove_validator(origin: OriginFor<T>, validator: T::AccountId) -> DispatchResult {
			T::AddRemoveOrigin::ensure_origin(origin)?;
			Validators::<T>::try_mutate(|set| {
				let at = set.binary_search(&validator).map_err(|_| Error::<T>::NotValidator)?;
				ensure!(set.len() > T::MinValidators::get() as usize, Error::<T>::TooFewValidators);
				set.remove(at);
				Ok::<_, Error<T>>(())
			})?;
			Self::deposit_event(Event::ValidatorRemoved { validator });
			Ok(())
		}
	}
}
