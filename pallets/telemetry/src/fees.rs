//! What a batch pays, and the weight that paid nothing.
//!
//! A batch is submitted as a free transaction whenever it can be: honest, plausible reports
//! travel without fee. What is not honest costs its submitter in proportion: the share of the
//! batch's weight and length that its rejected and flagged reports account for is charged by
//! the pallet through [`TelemetryFees`], at the price an ordinary transaction of that weight and
//! length pays now. Storing a raw-data digest is charged the same way (one storage write and
//! the digest's bytes), so digests never grow state for free. If the gateway cannot pay its
//! share at dispatch, the whole batch pays its ordinary transaction fee instead: bad data always
//! costs something.
//!
//! The weight of the free part is recorded per block ([`FeeFreeWeight`]) so that the runtime
//! can keep it out of the congestion fee multiplier: free telemetry may fill blocks, it must not
//! make transfers dearer.

use frame_support::{pallet_prelude::*, weights::Weight};
use sp_runtime::Perbill;

use crate::pallet::*;

/// Takes the fee for part of a batch from its gateway.
pub trait TelemetryFees<AccountId> {
	type Balance: Parameter + MaxEncodedLen + Copy + Default;

	/// Withdraws from `payer` what a transaction of `weight` and `length_bytes` pays now (fee
	/// multiplier included). An error means `payer` could not pay it; nothing was taken.
	fn charge(
		payer: &AccountId,
		weight: Weight,
		length_bytes: u32,
	) -> Result<Self::Balance, DispatchError>;
}

/// The balance type the fees are paid in.
pub type FeeBalanceOf<T> =
	<<T as Config>::Fees as TelemetryFees<<T as frame_system::Config>::AccountId>>::Balance;

/// `share` of a weight.
pub(crate) fn weight_share(weight: Weight, share: Perbill) -> Weight {
	Weight::from_parts(share * weight.ref_time(), share * weight.proof_size())
}

impl<T: Config> Pallet<T> {
	/// Weight that fee-free telemetry used in the current block.
	pub fn fee_free_weight() -> Weight {
		match FeeFreeWeight::<T>::get() {
			Some((block, weight)) if block == frame_system::Pallet::<T>::block_number() => weight,
			_ => Weight::zero(),
		}
	}

	/// Adds `weight` to the fee-free weight of the current block.
	pub(crate) fn note_fee_free(weight: Weight) {
		let now = frame_system::Pallet::<T>::block_number();
		let total = Self::fee_free_weight().saturating_add(weight);
		FeeFreeWeight::<T>::put((now, total));
	}

	/// Storage the fee bookkeeping of one batch touches: the fee-free weight and the payer's
	/// account.
	pub(crate) fn fee_bookkeeping_weight() -> Weight {
		T::DbWeight::get().reads_writes(2, 2)
	}
}
