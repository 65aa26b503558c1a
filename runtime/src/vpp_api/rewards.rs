//! Scores, rewards and settlement from the rewards pallet.

use alloc::vec::Vec;
use openvpp_primitives::DeviceId;
use openvpp_runtime_api::{
	page_limit, DeviceEpochResultView, EpochResultPage, EpochSummaryView, RewardsStatus,
	MAX_RESULT_EPOCHS,
};
use pallet_rewards::{CurrentPayout, EpochIndex, NextToSettle, Results, Summaries};

use super::now;
use crate::{AccountId, Balances, Rewards, Runtime, Telemetry};

type ResultOf = pallet_rewards::ResultOf<Runtime>;

fn result_view(
	epoch: EpochIndex,
	device: DeviceId,
	result: ResultOf,
) -> DeviceEpochResultView<AccountId> {
	DeviceEpochResultView {
		epoch,
		device,
		owner: result.owner,
		data_quality_ppb: result.data_quality.deconstruct(),
		scores: result.scores,
		reward_planck: result.reward,
		paid_at_block: result.paid_at,
	}
}

/// The retained epochs, newest first.
fn retained_epochs() -> Vec<EpochIndex> {
	let mut epochs: Vec<EpochIndex> = Summaries::<Runtime>::iter_keys().collect();
	epochs.sort_unstable_by(|a, b| b.cmp(a));
	epochs
}

pub fn device_results(device: DeviceId, epochs: u32) -> Vec<DeviceEpochResultView<AccountId>> {
	let wanted = epochs.clamp(1, MAX_RESULT_EPOCHS) as usize;
	retained_epochs()
		.into_iter()
		.filter_map(|epoch| {
			Results::<Runtime>::get(epoch, device).map(|result| result_view(epoch, device, result))
		})
		.take(wanted)
		.collect()
}

pub fn epoch_results(
	epoch: EpochIndex,
	after: Option<DeviceId>,
	limit: u32,
) -> EpochResultPage<AccountId> {
	let limit = page_limit(limit);
	let entries = match after {
		None => Results::<Runtime>::iter_prefix(epoch),
		Some(last) => Results::<Runtime>::iter_prefix_from(
			epoch,
			Results::<Runtime>::hashed_key_for(epoch, last),
		),
	};
	let results: Vec<_> =
		entries.take(limit).map(|(device, result)| result_view(epoch, device, result)).collect();
	let next =
		if results.len() >= limit { results.last().map(|result| result.device) } else { None };
	EpochResultPage { results, next }
}

pub fn rewards_status() -> RewardsStatus {
	let now = now();
	let epoch_length_s = Telemetry::epoch_length_s();
	let recent_epochs: Vec<EpochSummaryView> = retained_epochs()
		.into_iter()
		.map(|epoch| {
			let summary = Summaries::<Runtime>::get(epoch);
			EpochSummaryView {
				epoch,
				emitted_planck: summary.emitted,
				pool_planck: summary.pool,
				to_treasury_planck: summary.to_treasury,
				paid_planck: summary.paid,
				carried_planck: summary.carried,
				devices_scored: summary.totals.devices,
				devices_paid: summary.devices_paid,
				settled: summary.settled,
			}
		})
		.collect();
	let payout = CurrentPayout::<Runtime>::get();
	RewardsStatus {
		now,
		epoch_length_s,
		current_epoch: now / epoch_length_s,
		next_to_settle: NextToSettle::<Runtime>::get(),
		paying_epoch: payout.map(|payout| payout.epoch),
		paid_through_device: payout.and_then(|payout| payout.after),
		paid_in_retained_epochs_planck: recent_epochs
			.iter()
			.fold(0, |sum, epoch| sum.saturating_add(epoch.paid_planck)),
		recent_epochs,
		pot_free_balance_planck: Balances::free_balance(Rewards::pot_account()),
	}
}
