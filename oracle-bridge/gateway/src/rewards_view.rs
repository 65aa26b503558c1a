//! The live view's rewards section: the latest epoch paid, its pool and where it went, and what
//! each device scored and earned.

use std::fmt::Write as _;

use openvpp_primitives::network::OVPP;
use openvpp_runtime_api::{DeviceEpochResultView, EpochSummaryView};
use sp_core::H256;

use crate::{
	chain::{Chain, ChainError},
	vpp::AccountId,
};

/// The latest epoch whose payout opened, with its results.
pub struct RewardsView {
	pub summary: EpochSummaryView,
	/// By reward, largest first.
	pub results: Vec<DeviceEpochResultView<AccountId>>,
}

/// Pages of results read at most: the view is for people, not for a million devices.
const MAX_RESULT_PAGES: usize = 50;

/// The latest epoch being paid or paid, at block `at` (`None` before the first payout).
pub async fn latest_rewards(chain: &Chain, at: H256) -> Result<Option<RewardsView>, ChainError> {
	let status = chain.vpp_rewards_status(at).await?;
	let latest =
		status.paying_epoch.or_else(|| status.next_to_settle.and_then(|next| next.checked_sub(1)));
	let Some(summary) = latest
		.and_then(|epoch| status.recent_epochs.into_iter().find(|summary| summary.epoch == epoch))
	else {
		return Ok(None);
	};
	let mut results = Vec::new();
	let mut after = None;
	for _ in 0..MAX_RESULT_PAGES {
		let page = chain.vpp_epoch_results(summary.epoch, after, at).await?;
		results.extend(page.results);
		match page.next {
			Some(next) => after = Some(next),
			None => break,
		}
	}
	results.sort_by(|a, b| b.reward_planck.cmp(&a.reward_planck).then(a.device.cmp(&b.device)));
	Ok(Some(RewardsView { summary, results }))
}

/// Devices listed; the rest are counted.
const LISTED_DEVICES: usize = 10;

/// Renders the epoch: pool, treasury, paid and carried, then the devices by reward.
pub fn render_rewards(view: &RewardsView) -> String {
	let mut out = String::new();
	let s = &view.summary;
	let state = if s.settled { "paid" } else { "paying" };
	let _ = writeln!(
		out,
		"rewards: epoch {} {state}: pool {} OVPP ({} newly emitted), treasury {}, paid {} to {} of {} devices, carried {}",
		s.epoch,
		ovpp(s.pool_planck),
		ovpp(s.emitted_planck),
		ovpp(s.to_treasury_planck),
		ovpp(s.paid_planck),
		s.devices_paid,
		s.devices_scored,
		ovpp(s.carried_planck),
	);
	for result in view.results.iter().take(LISTED_DEVICES) {
		let sc = &result.scores;
		let _ = writeln!(
			out,
			"  device {:>4}  quality {:>3} %  generation {:>6} Wh  storage {:>7} Wh  grid {:>6} Wh  committed {:>6} Wh  online {:>7} Wh  {} OVPP{}",
			result.device,
			result.data_quality_ppb / 10_000_000,
			sc.generation_wh,
			sc.storage_wh,
			sc.grid_stability_wh,
			sc.participation_wh,
			sc.online_wh,
			ovpp(result.reward_planck),
			if result.paid_at_block.is_some() { "" } else { " (unpaid)" },
		);
	}
	if view.results.len() > LISTED_DEVICES {
		let _ = writeln!(out, "  … and {} more devices", view.results.len() - LISTED_DEVICES);
	}
	out
}

fn ovpp(planck: u128) -> String {
	format!("{:.3}", planck as f64 / OVPP as f64)
}

#[cfg(test)]
mod tests {
	use super::*;
	use openvpp_primitives::DimensionScores;

	#[test]
	fn an_epoch_shows_its_pool_and_each_device_by_reward() {
		let ovpp = OVPP;
		let summary = EpochSummaryView {
			epoch: 7,
			pool_planck: 950 * ovpp,
			emitted_planck: 950 * ovpp,
			to_treasury_planck: 95 * ovpp,
			paid_planck: 800 * ovpp,
			carried_planck: 55 * ovpp,
			devices_scored: 2,
			devices_paid: 2,
			settled: true,
		};
		let result = |device, reward, generation_wh| DeviceEpochResultView {
			epoch: 7,
			device,
			owner: AccountId(sp_keyring::Sr25519Keyring::Alice.to_account_id()),
			data_quality_ppb: 400_000_000,
			scores: DimensionScores { generation_wh, ..Default::default() },
			reward_planck: reward,
			paid_at_block: Some(12),
		};
		let view = RewardsView {
			summary,
			results: vec![result(5, 600 * ovpp, 400), result(1, 200 * ovpp, 0)],
		};
		let text = render_rewards(&view);
		assert!(text.starts_with(
			"rewards: epoch 7 paid: pool 950.000 OVPP (950.000 newly emitted), treasury 95.000, paid 800.000 to 2 of 2 devices, carried 55.000"
		), "{text}");
		assert!(text.contains("device    5  quality  40 %  generation    400 Wh"), "{text}");
		assert!(text.contains("600.000 OVPP"), "{text}");
		assert_eq!(text.lines().count(), 3);
	}
}
