//! Settling epochs: the pool at the cutoff, then payouts device by device across blocks.

use frame_support::{
	traits::{
		fungible::{Inspect, Mutate},
		tokens::{Fortitude, Preservation},
		Get,
	},
	weights::WeightMeter,
};
use openvpp_primitives::{ClosedEpochs, DeviceId};
use sp_runtime::{
	helpers_128bit::multiply_by_rational_with_rounding, traits::Zero, DispatchResult, Rounding,
	SaturatedConversion, Saturating,
};

use crate::{
	emission::emission_for_epoch,
	pallet::*,
	types::{EmissionState, EpochIndex, EpochSummary, Payout, PAID_DIMENSIONS},
	WeightInfo,
};

impl<T: Config> Pallet<T> {
	/// Pays devices of the epoch being paid; opens the next epoch once its cutoff has passed.
	/// Stops when `meter` runs out and resumes in the next block.
	pub(crate) fn progress_settlement(meter: &mut WeightMeter) {
		if meter.try_consume(T::WeightInfo::poll_base()).is_err() {
			return;
		}
		let now = Self::now();
		loop {
			if let Some(payout) = CurrentPayout::<T>::get() {
				if !Self::pay_until_done(payout, meter) {
					return;
				}
				continue;
			}
			let Some(next) = NextToSettle::<T>::get() else {
				// The first block: scores count from the epoch under way.
				NextToSettle::<T>::put(Self::epoch_at(now));
				return;
			};
			// Every device's epoch must be closed, or some would be scored too late.
			let all_closed = T::ClosedEpochs::closed_before().is_some_and(|c| c > next);
			if now < Self::cutoff_of(next)
				|| !all_closed
				|| meter
					.try_consume(
						// The open payout and the telemetry pallet's sweep position.
						T::WeightInfo::open_payout().saturating_add(T::DbWeight::get().reads(1)),
					)
					.is_err()
			{
				return;
			}
			Self::open_payout(next);
		}
	}

	/// Emits the epoch's OVPP into the pot, fixes the pool and each dimension's share, and
	/// starts the payout. No score for `epoch` is accepted after this.
	pub(crate) fn open_payout(epoch: EpochIndex) {
		let schedule = T::EmissionSchedule::get();
		let mut state = Emission::<T>::get().unwrap_or(EmissionState {
			first_epoch: epoch,
			year: 0,
			yearly_emission: schedule.first_year_emission,
		});
		let due = emission_for_epoch(&mut state, epoch, &schedule, T::EpochLengthS::get(), || {
			T::Currency::total_issuance()
		});
		Emission::<T>::put(state);

		let pot = Self::pot_account();
		// Minting fails only for an amount the pot could not hold (below the existential
		// deposit of a pot that does not exist yet): then nothing is emitted this epoch.
		let emitted = if due.is_zero() {
			Zero::zero()
		} else {
			T::Currency::mint_into(&pot, due).unwrap_or_else(|_| Zero::zero())
		};
		let pool = T::Currency::reducible_balance(&pot, Preservation::Preserve, Fortitude::Polite);

		let treasury_due = schedule.treasury_share * pool;
		let to_treasury = if treasury_due.is_zero() {
			Zero::zero()
		} else {
			T::Currency::transfer(
				&pot,
				&T::TreasuryAccount::get(),
				treasury_due,
				Preservation::Preserve,
			)
			.unwrap_or_else(|_| Zero::zero())
		};

		let mut summary = Summaries::<T>::get(epoch);
		let shared = pool.saturating_sub(to_treasury);
		summary.emitted = emitted;
		summary.pool = pool;
		summary.to_treasury = to_treasury;
		summary.dimension_pools = Self::dimension_pools(shared, &summary);
		Summaries::<T>::insert(epoch, summary);
		NextToSettle::<T>::put(epoch.saturating_add(1));
		CurrentPayout::<T>::put(Payout { epoch, after: None });
		if NextToPrune::<T>::get().is_none() {
			NextToPrune::<T>::put(epoch);
		}
		Self::deposit_event(Event::PayoutStarted {
			epoch,
			emitted,
			pool,
			to_treasury,
			devices: summary.totals.devices,
		});
	}

	/// `shared` split by the dimension weights; a dimension nobody scored in gets nothing, so
	/// its share stays in the pot.
	fn dimension_pools(
		shared: BalanceOf<T>,
		summary: &EpochSummary<BalanceOf<T>>,
	) -> [BalanceOf<T>; PAID_DIMENSIONS] {
		let weights = T::DimensionWeights::get().as_array();
		let weight_sum: u128 = weights.iter().map(|w| u128::from(w.deconstruct())).sum();
		let shared: u128 = shared.saturated_into();
		let mut pools = [BalanceOf::<T>::zero(); PAID_DIMENSIONS];
		for (k, pool) in pools.iter_mut().enumerate() {
			if summary.totals.sums[k] == 0 || weight_sum == 0 {
				continue;
			}
			let share = multiply_by_rational_with_rounding(
				shared,
				u128::from(weights[k].deconstruct()),
				weight_sum,
				Rounding::Down,
			)
			.unwrap_or(0);
			*pool = share.saturated_into();
		}
		pools
	}

	/// Pays the devices of `payout` from its cursor on. Returns whether the epoch is settled.
	///
	/// A block's payout costs a fixed part (the epoch's summary and cursor, the pot, closing
	/// the epoch) and a part per device (its result and its owner's account): the
	/// `pay_devices` benchmark prices both.
	pub(crate) fn pay_until_done(payout: Payout, meter: &mut WeightMeter) -> bool {
		let fixed = T::WeightInfo::pay_devices(0);
		let per_device = T::WeightInfo::pay_devices(1).saturating_sub(fixed);
		if meter.try_consume(fixed).is_err() {
			return false;
		}
		let epoch = payout.epoch;
		let mut summary = Summaries::<T>::get(epoch);
		let results = match payout.after {
			Some(last) => {
				Results::<T>::iter_prefix_from(epoch, Results::<T>::hashed_key_for(epoch, last))
			}
			None => Results::<T>::iter_prefix(epoch),
		};
		let mut after = payout.after;
		for (device, result) in results {
			if meter.try_consume(per_device).is_err() {
				Summaries::<T>::insert(epoch, summary);
				CurrentPayout::<T>::put(Payout { epoch, after });
				return false;
			}
			after = Some(device);
			// Paid already by `pay_device`.
			if result.paid_at.is_none() {
				Self::pay(epoch, device, result, &mut summary);
			}
		}
		summary.carried =
			summary.pool.saturating_sub(summary.to_treasury).saturating_sub(summary.paid);
		summary.settled = true;
		Summaries::<T>::insert(epoch, summary);
		CurrentPayout::<T>::kill();
		Self::deposit_event(Event::EpochSettled {
			epoch,
			paid: summary.paid,
			carried: summary.carried,
			devices: summary.devices_paid,
		});
		true
	}

	/// A device's reward: per dimension, its share of the dimension's pool, rounded down.
	pub fn reward_of(
		scores: &crate::types::DimensionScores,
		summary: &EpochSummary<BalanceOf<T>>,
	) -> BalanceOf<T> {
		let mut reward: u128 = 0;
		for (k, score) in scores.as_array().into_iter().enumerate() {
			let total = summary.totals.sums[k];
			if score == 0 || total == 0 {
				continue;
			}
			let pool: u128 = summary.dimension_pools[k].saturated_into();
			let share =
				multiply_by_rational_with_rounding(pool, score.into(), total, Rounding::Down)
					.unwrap_or(0);
			reward = reward.saturating_add(share);
		}
		reward.saturated_into()
	}

	/// Transfers one device's reward and marks its result paid.
	fn pay(
		epoch: EpochIndex,
		device: DeviceId,
		mut result: ResultOf<T>,
		summary: &mut EpochSummary<BalanceOf<T>>,
	) {
		let amount = Self::reward_of(&result.scores, summary);
		let paid = if amount.is_zero() {
			amount
		} else {
			match T::Currency::transfer(
				&Self::pot_account(),
				&result.owner,
				amount,
				Preservation::Preserve,
			) {
				Ok(_) => amount,
				Err(_) => {
					Self::deposit_event(Event::PaymentFailed { epoch, device, amount });
					Zero::zero()
				}
			}
		};
		result.reward = paid;
		result.paid_at = Some(frame_system::Pallet::<T>::block_number());
		summary.paid = summary.paid.saturating_add(paid);
		summary.devices_paid = summary.devices_paid.saturating_add(1);
		if !paid.is_zero() {
			Self::deposit_event(Event::DevicePaid {
				epoch,
				device,
				owner: result.owner.clone(),
				amount: paid,
			});
		}
		Results::<T>::insert(epoch, device, result);
	}

	pub(crate) fn do_pay_device(epoch: EpochIndex, device: DeviceId) -> DispatchResult {
		ensure_payout_of::<T>(epoch)?;
		let result = Results::<T>::get(epoch, device).ok_or(Error::<T>::NoResult)?;
		frame_support::ensure!(result.paid_at.is_none(), Error::<T>::AlreadyPaid);
		let mut summary = Summaries::<T>::get(epoch);
		Self::pay(epoch, device, result, &mut summary);
		Summaries::<T>::insert(epoch, summary);
		Ok(())
	}
}

fn ensure_payout_of<T: Config>(epoch: EpochIndex) -> DispatchResult {
	match CurrentPayout::<T>::get() {
		Some(payout) if payout.epoch == epoch => Ok(()),
		_ => Err(Error::<T>::EpochNotInPayout.into()),
	}
}
