//! What telemetry pays, and why free telemetry leaves the fee multiplier alone.
//!
//! - [`TelemetryFeesInOvpp`] takes the share of a batch that its rejected and flagged reports
//!   (and a stored digest) account for, priced like an ordinary transaction of that weight and
//!   length at the current fee multiplier, and splits it like every transaction fee: a share to
//!   the treasury, the rest burned ([`crate::governance::FeesToTreasury`]).
//! - [`PaidFullnessFeeUpdate`] is the congestion pricing of
//!   [`SlowAdjustingFeeUpdate`](super::SlowAdjustingFeeUpdate), computed over the weight that
//!   paid: the weight of fee-free telemetry in the block
//!   ([`pallet_telemetry::Pallet::fee_free_weight`]) is left out of the block's fullness, so a
//!   block filled with free reports does not make the next transfer dearer.

use frame_support::{
	dispatch::DispatchClass,
	traits::{
		fungible::Balanced,
		tokens::{Fortitude, Precision, Preservation},
		OnUnbalanced,
	},
	weights::Weight,
};
use pallet_transaction_payment::{Multiplier, MultiplierUpdate};
use sp_runtime::{
	traits::{Convert, Zero},
	DispatchError, FixedPointNumber, Perquintill,
};

use super::SlowAdjustingFeeUpdate;
use crate::{AccountId, Balance, Balances, Runtime, Telemetry, TransactionPayment};

/// Charges telemetry fees in OVPP, at the price of an ordinary transaction, and splits them
/// between the treasury and a burn as transaction fees are.
pub struct TelemetryFeesInOvpp;

impl pallet_telemetry::TelemetryFees<AccountId> for TelemetryFeesInOvpp {
	type Balance = Balance;

	fn charge(
		payer: &AccountId,
		weight: Weight,
		length_bytes: u32,
	) -> Result<Balance, DispatchError> {
		let multiplier = pallet_transaction_payment::NextFeeMultiplier::<Runtime>::get();
		let fee = multiplier
			.saturating_mul_int(TransactionPayment::weight_to_fee(weight))
			.saturating_add(TransactionPayment::length_to_fee(length_bytes));
		let credit = <Balances as Balanced<AccountId>>::withdraw(
			payer,
			fee,
			Precision::Exact,
			Preservation::Preserve,
			Fortitude::Polite,
		)?;
		<crate::governance::FeesToTreasury as OnUnbalanced<_>>::on_unbalanced(credit);
		Ok(fee)
	}
}

/// Congestion pricing over the weight that paid (see the module docs).
pub struct PaidFullnessFeeUpdate;

impl MultiplierUpdate for PaidFullnessFeeUpdate {
	fn min() -> Multiplier {
		SlowAdjustingFeeUpdate::<Runtime>::min()
	}
	fn max() -> Multiplier {
		SlowAdjustingFeeUpdate::<Runtime>::max()
	}
	fn target() -> Perquintill {
		SlowAdjustingFeeUpdate::<Runtime>::target()
	}
	fn variability() -> Multiplier {
		SlowAdjustingFeeUpdate::<Runtime>::variability()
	}
}

impl Convert<Multiplier, Multiplier> for PaidFullnessFeeUpdate {
	fn convert(previous: Multiplier) -> Multiplier {
		let free = Telemetry::fee_free_weight();
		if free.is_zero() {
			return SlowAdjustingFeeUpdate::<Runtime>::convert(previous);
		}
		// The standard adjustment reads the block's weight from storage: show it the paying
		// weight for the computation, then put the real figure back.
		let consumed = frame_system::BlockWeight::<Runtime>::get();
		let mut paying = consumed.clone();
		paying.reduce(free, DispatchClass::Normal);
		frame_system::BlockWeight::<Runtime>::put(paying);
		let next = SlowAdjustingFeeUpdate::<Runtime>::convert(previous);
		frame_system::BlockWeight::<Runtime>::put(consumed);
		next
	}
}

#[cfg(test)]
mod tests {
	use super::*;
	use crate::{configs::RuntimeBlockWeights, OVPP};
	use frame_support::traits::fungible::{Inspect, Mutate};
	use pallet_telemetry::TelemetryFees;
	use sp_keyring::Sr25519Keyring;
	use sp_runtime::BuildStorage;

	fn ext() -> sp_io::TestExternalities {
		let storage = frame_system::GenesisConfig::<Runtime>::default()
			.build_storage()
			.expect("the system genesis builds");
		let mut ext = sp_io::TestExternalities::new(storage);
		ext.execute_with(|| frame_system::Pallet::<Runtime>::set_block_number(1));
		ext
	}

	fn fill_normal_class() -> Weight {
		let weights = RuntimeBlockWeights::get();
		let normal = weights.get(DispatchClass::Normal).max_total.unwrap_or(weights.max_block);
		frame_system::BlockWeight::<Runtime>::mutate(|w| w.set(normal, DispatchClass::Normal));
		normal
	}

	#[test]
	fn a_block_full_of_paid_transactions_raises_the_multiplier() {
		ext().execute_with(|| {
			fill_normal_class();
			let next = PaidFullnessFeeUpdate::convert(Multiplier::from_u32(1));
			assert!(next > Multiplier::from_u32(1), "{next:?}");
		});
	}

	#[test]
	fn a_block_full_of_free_telemetry_leaves_the_multiplier_alone() {
		ext().execute_with(|| {
			let before = Multiplier::from_u32(2);
			// What an empty block does to it.
			let after_empty_block = SlowAdjustingFeeUpdate::<Runtime>::convert(before);
			assert!(after_empty_block < before);
			let normal = fill_normal_class();
			// The whole normal class was fee-free telemetry: the same as an empty block.
			pallet_telemetry::FeeFreeWeight::<Runtime>::put((1, normal));
			assert_eq!(PaidFullnessFeeUpdate::convert(before), after_empty_block);
			// The block's own weight record is untouched.
			assert_eq!(
				*frame_system::BlockWeight::<Runtime>::get().get(DispatchClass::Normal),
				normal
			);
		});
	}

	#[test]
	fn telemetry_fees_are_priced_like_transactions_and_shared_with_the_treasury() {
		ext().execute_with(|| {
			let gateway: AccountId = Sr25519Keyring::Ferdie.to_account_id();
			let treasury = crate::governance::TreasuryAccount::get();
			<Balances as Mutate<AccountId>>::set_balance(&gateway, OVPP);
			<Balances as Mutate<AccountId>>::set_balance(&treasury, OVPP);
			let issuance = <Balances as Inspect<AccountId>>::total_issuance();
			let weight = Weight::from_parts(100_000_000, 0);
			let fee = TelemetryFeesInOvpp::charge(&gateway, weight, 200).expect("it can pay");
			assert_eq!(
				fee,
				TransactionPayment::weight_to_fee(weight) + TransactionPayment::length_to_fee(200)
			);
			assert_eq!(<Balances as Inspect<AccountId>>::balance(&gateway), OVPP - fee);
			let share = crate::governance::FEE_SHARE_TO_TREASURY * fee;
			assert!(share > 0);
			assert_eq!(<Balances as Inspect<AccountId>>::balance(&treasury), OVPP + share);
			assert_eq!(
				<Balances as Inspect<AccountId>>::total_issuance(),
				issuance - (fee - share)
			);
			// A gateway that cannot pay is refused, and nothing is taken.
			let poor: AccountId = Sr25519Keyring::Eve.to_account_id();
			assert!(TelemetryFeesInOvpp::charge(&poor, weight, 200).is_err());
		});
	}
}
