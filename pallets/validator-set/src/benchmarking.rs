//! Benchmarks of the validator-set calls at their worst case: a full set to search and shift.

use frame_benchmarking::v2::*;
use frame_support::{
	traits::{EnsureOrigin, Get},
	BoundedVec,
};

use crate::pallet::*;

/// Fills the set with `n` validators whose accounts sort after `account("new", 0, 0)`'s
/// neighbours, so inserts and removals shift the whole set.
fn fill<T: Config>(n: u32) -> BoundedVec<T::AccountId, T::MaxValidators> {
	let mut set: alloc::vec::Vec<T::AccountId> =
		(0..n).map(|i| account("validator", i, 0)).collect();
	set.sort();
	let set = BoundedVec::truncate_from(set);
	Validators::<T>::put(&set);
	set
}

#[benchmarks]
mod benchmarks {
	use super::*;

	#[benchmark]
	fn add_validator() -> Result<(), BenchmarkError> {
		let origin =
			T::AddRemoveOrigin::try_successful_origin().map_err(|_| BenchmarkError::Weightless)?;
		fill::<T>(T::MaxValidators::get().saturating_sub(1));
		let new: T::AccountId = account("new", 0, 0);

		#[extrinsic_call]
		_(origin as T::RuntimeOrigin, new.clone());

		assert!(Validators::<T>::get().contains(&new));
		Ok(())
	}

	#[benchmark]
	fn remove_validator() -> Result<(), BenchmarkError> {
		let origin =
			T::AddRemoveOrigin::try_successful_origin().map_err(|_| BenchmarkError::Weightless)?;
		let set = fill::<T>(T::MaxValidators::get());
		let gone = set.first().cloned().ok_or(BenchmarkError::Weightless)?;

		#[extrinsic_call]
		_(origin as T::RuntimeOrigin, gone.clone());

		assert!(!Validators::<T>::get().contains(&gone));
		Ok(())
	}

	impl_benchmark_test_suite!(Pallet, crate::mock::new_test_ext(), crate::mock::Test);
}
