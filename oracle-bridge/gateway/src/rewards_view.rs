//! The live view's rewards section: the latest epoch paid, its pool and where it went, and what
//! each device scored and earned.

use std::fmt::Write as _;

use openvpp_primitives::{network::OVPP, DeviceId};
use sp_core::H256;

use crate::{
	chain::{Chain, ChainError},
	dispatch::follow::read,
	wire::storage::{self as keys, DeviceEpochResult, EpochSummary},
};

/// The latest epoch whose payout opened, with its results.
pub struct RewardsView {
	pub epoch: u64,
	pub summary: EpochSummary,
	pub results: Vec<(DeviceId, DeviceEpochResult)>,
}

/// The latest epoch being paid or paid, at block `at` (`None` before the first payout).
pub async fn latest_rewards(chain: &Chain, at: H256) -> Result<Option<RewardsView>, ChainError> {
	use codec::Decode;

	let payout: Option<pallet_rewards::Payout> =
		read(chain, "current payout", keys::current_payout(), at).await?;
	let next: Option<u64> = read(chain, "next epoch to settle", keys::next_to_settle(), at).await?;
	let Some(epoch) = payout.map(|p| p.epoch).or_else(|| next.and_then(|n| n.checked_sub(1)))
	else {
		return Ok(None);
	};
	let Some(summary) = read(chain, "epoch summary", keys::epoch_summary(epoch), at).await? else {
		return Ok(None);
	};
	// prefix | twox64(epoch) | epoch | twox64(device) | device
	let prefix = keys::results_of(epoch);
	let mut results: Vec<(DeviceId, DeviceEpochResult)> = Vec::new();
	for key in chain.storage_keys(&prefix, at).await? {
		let mut device_bytes = key.get(prefix.len() + 8..).unwrap_or_default();
		let device = DeviceId::decode(&mut device_bytes)
			.map_err(|e| ChainError::Decode { what: "result key", message: e.to_string() })?;
		if let Some(result) = read(chain, "device result", key, at).await? {
			results.push((device, result));
		}
	}
	results.sort_by(|a, b| b.1.reward.cmp(&a.1.reward).then(a.0.cmp(&b.0)));
	Ok(Some(RewardsView { epoch, summary, results }))
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
		view.epoch,
		ovpp(s.pool),
		ovpp(s.emitted),
		ovpp(s.to_treasury),
		ovpp(s.paid),
		s.devices_paid,
		s.totals.devices,
		ovpp(s.carried),
	);
	for (device, result) in view.results.iter().take(LISTED_DEVICES) {
		let sc = &result.scores;
		let _ = writeln!(
			out,
			"  device {device:>4}  quality {:>3} %  generation {:>6} Wh  storage {:>7} Wh  grid {:>6} Wh  committed {:>6} Wh  online {:>7} Wh  {} OVPP{}",
			result.data_quality.deconstruct() / 10_000_000,
			sc.generation_wh,
			sc.storage_wh,
			sc.grid_stability_wh,
			sc.participation_wh,
			sc.online_wh,
			ovpp(result.reward),
			if result.paid_at.is_some() { "" } else { " (unpaid)" },
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
	use pallet_rewards::DimensionScores;
	use sp_runtime::Perbill;

	#[test]
	fn an_epoch_shows_its_pool_and_each_device_by_reward() {
		let ovpp = OVPP;
		let mut summary = EpochSummary {
			pool: 950 * ovpp,
			emitted: 950 * ovpp,
			to_treasury: 95 * ovpp,
			paid: 800 * ovpp,
			carried: 55 * ovpp,
			devices_paid: 2,
			settled: true,
			..Default::default()
		};
		summary.totals.devices = 2;
		let result = |reward, generation_wh| DeviceEpochResult {
			owner: sp_keyring::Sr25519Keyring::Alice.to_account_id(),
			data_quality: Perbill::from_percent(40),
			scores: DimensionScores { generation_wh, ..Default::default() },
			reward,
			paid_at: Some(12),
		};
		let view = RewardsView {
			epoch: 7,
			summary,
			results: vec![(5, result(600 * ovpp, 400)), (1, result(200 * ovpp, 0))],
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
