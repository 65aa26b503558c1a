//! The invariants `try_state` checks: every epoch's pool adds up, and each device is paid at
//! most once.

use frame_support::{
	ensure,
	traits::{
		fungible::Inspect,
		tokens::{Fortitude, Preservation},
	},
};
use sp_runtime::{traits::Zero, Saturating, TryRuntimeError};

use crate::{pallet::*, types::ScoreTotals};

impl<T: Config> Pallet<T> {
	#[cfg(any(feature = "try-runtime", feature = "std", test))]
	pub fn do_try_state() -> Result<(), TryRuntimeError> {
		let payout_epoch = CurrentPayout::<T>::get().map(|p| p.epoch);
		let next = NextToSettle::<T>::get();
		for (epoch, summary) in Summaries::<T>::iter() {
			let mut totals = ScoreTotals::default();
			let mut paid = BalanceOf::<T>::zero();
			let mut devices_paid = 0u32;
			for (_, result) in Results::<T>::iter_prefix(epoch) {
				totals.add(&result.scores);
				if result.paid_at.is_some() {
					paid = paid.saturating_add(result.reward);
					devices_paid = devices_paid.saturating_add(1);
				} else {
					ensure!(result.reward.is_zero(), "an unpaid result has a reward");
				}
			}
			ensure!(totals == summary.totals, "an epoch's totals differ from its results' scores");
			ensure!(paid == summary.paid, "an epoch's paid sum differs from its results' rewards");
			ensure!(
				devices_paid == summary.devices_paid,
				"an epoch's count of paid devices is off"
			);

			let collecting = next.is_none_or(|n| epoch >= n);
			if collecting {
				ensure!(devices_paid == 0, "a device was paid before its epoch's cutoff");
				continue;
			}
			let shared: BalanceOf<T> =
				summary.dimension_pools.iter().fold(Zero::zero(), |a, p| a.saturating_add(*p));
			ensure!(
				shared.saturating_add(summary.to_treasury) <= summary.pool,
				"an epoch's dimension pools exceed its pool"
			);
			if summary.settled {
				ensure!(Some(epoch) != payout_epoch, "the epoch being paid is marked settled");
				ensure!(
					summary
						.paid
						.saturating_add(summary.carried)
						.saturating_add(summary.to_treasury)
						== summary.pool,
					"paid + carried + treasury differs from the pool"
				);
				ensure!(
					devices_paid == summary.totals.devices,
					"a settled epoch has unpaid devices"
				);
			} else {
				ensure!(Some(epoch) == payout_epoch, "an unsettled epoch is not being paid");
				ensure!(
					summary.paid.saturating_add(summary.to_treasury) <= summary.pool,
					"an epoch paid out more than its pool"
				);
				// What is still owed is in the pot.
				let owed =
					summary.pool.saturating_sub(summary.to_treasury).saturating_sub(summary.paid);
				let pot = T::Currency::reducible_balance(
					&Self::pot_account(),
					Preservation::Preserve,
					Fortitude::Polite,
				);
				ensure!(pot >= owed, "the pot holds less than the epoch still owes");
			}
		}
		Ok(())
	}
}
