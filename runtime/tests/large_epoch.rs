//! Paying an epoch of 100 000 devices through the real runtime: every device paid exactly once
//! by `on_poll`, across as many blocks as the rewards pallet's share of a block needs.
//!
//! The devices' results are written straight into storage, as scoring leaves them (one per
//! device, each owner a new account, so that every payout creates an account: the dearest
//! case). Scoring itself runs inside the telemetry pallet's batches and is priced there; what
//! this test measures is the payout.
//!
//! The run prints what it measured (`cargo test --release -p openvpp-runtime --test
//! large_epoch -- --nocapture`): the blocks the payout took against the number the benchmarked
//! per-device weight predicts, the weight charged per block, the native execution time against
//! in-memory storage (a node executes the wasm runtime against its database, which the
//! weights price), the state the results occupy, and the same figures extrapolated to
//! 1 000 000 devices.

#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

mod common;

use std::time::{Duration, Instant};

use codec::Encode;
use common::*;
use frame_support::{dispatch::DispatchClass, weights::Weight};
use openvpp_runtime::{configs::rewards::RewardsPollWeight, AccountId, Runtime, RuntimeEvent};
use pallet_rewards::{
	DeviceEpochResult, DimensionScores, EpochSummary, Results, ScoreTotals, Summaries, WeightInfo,
};
use sp_runtime::Perbill;

const DEVICES: u32 = 100_000;
/// The development chain's epochs and grace.
const EPOCH_S: u64 = 300;
const GRACE_S: u64 = 60;
const BLOCK_S: u64 = 6;

/// What `on_poll` did in one block.
struct PollBlock {
	weight: Weight,
	native: Duration,
	paid: usize,
}

fn poll_block(unix_s: u64) -> PollBlock {
	start_block(frame_system::Pallet::<Runtime>::block_number() + 1, unix_s);
	let mandatory =
		|| *frame_system::Pallet::<Runtime>::block_weight().get(DispatchClass::Mandatory);
	let before = mandatory();
	let started = Instant::now();
	openvpp_runtime::Executive::inherents_applied();
	let native = started.elapsed();
	let paid = events()
		.iter()
		.filter(|e| matches!(e, RuntimeEvent::Rewards(pallet_rewards::Event::DevicePaid { .. })))
		.count();
	PollBlock { weight: mandatory().saturating_sub(before), native, paid }
}

/// A new account for device `index`'s owner.
fn owner(index: u32) -> AccountId {
	let mut raw = [7u8; 32];
	raw[..4].copy_from_slice(&index.to_le_bytes());
	AccountId::new(raw)
}

/// Varied scores: every device generates or stores, and is online.
fn scores(index: u32) -> DimensionScores {
	let spread = u64::from(index % 997);
	DimensionScores {
		generation_wh: if index.is_multiple_of(2) { 100 + spread } else { 0 },
		storage_wh: if !index.is_multiple_of(2) { 2_000 + 3 * spread } else { 0 },
		grid_stability_wh: if index.is_multiple_of(10) { 300 } else { 0 },
		participation_wh: if index.is_multiple_of(10) { 400 } else { 0 },
		online_wh: 400 + spread,
	}
}

#[test]
fn an_epoch_of_a_hundred_thousand_devices_is_paid_exactly_once() {
	chain_from_preset("development").execute_with(|| {
		// The first block fixes the first epoch to settle: the one before the fleet's.
		next_block(NOON - 1);
		let epoch = NOON / EPOCH_S;

		let set_up = Instant::now();
		let mut totals = ScoreTotals::default();
		let mut results_bytes = 0usize;
		for device in 0..DEVICES {
			let result = DeviceEpochResult {
				owner: owner(device),
				data_quality: Perbill::one(),
				scores: scores(device),
				reward: 0,
				paid_at: None,
			};
			totals.add(&result.scores);
			let key = Results::<Runtime>::hashed_key_for(epoch, device);
			results_bytes += key.len() + result.encoded_size();
			Results::<Runtime>::insert(epoch, device, result);
		}
		Summaries::<Runtime>::insert(epoch, EpochSummary { totals, ..Default::default() });
		println!("set-up: {DEVICES} results written in {:.1} s", set_up.elapsed().as_secs_f64());

		// From the cutoff on, a block every six seconds until the epoch is settled. The epoch
		// before it, empty, settles in the first block too.
		let cutoff = (epoch + 1) * EPOCH_S + GRACE_S;
		let mut blocks = Vec::new();
		let mut at = cutoff;
		while !Summaries::<Runtime>::get(epoch).settled {
			assert!(blocks.len() < 2_000, "on_poll made no progress");
			blocks.push(poll_block(at));
			at += BLOCK_S;
		}

		// Every device paid exactly once, and the pool adds up.
		let summary = Summaries::<Runtime>::get(epoch);
		assert_eq!(summary.devices_paid, DEVICES);
		assert_eq!(blocks.iter().map(|b| b.paid).sum::<usize>(), DEVICES as usize);
		let mut paid = 0u128;
		for (_, result) in Results::<Runtime>::iter_prefix(epoch) {
			assert!(result.paid_at.is_some());
			assert_eq!(openvpp_runtime::Balances::free_balance(&result.owner), result.reward);
			paid += result.reward;
		}
		assert_eq!(paid, summary.paid);
		assert_eq!(summary.paid + summary.carried + summary.to_treasury, summary.pool);
		pallet_rewards::Pallet::<Runtime>::do_try_state().unwrap();

		// What it took, against what the weights predict.
		let limit = RewardsPollWeight::get();
		type Weights = <Runtime as pallet_rewards::Config>::WeightInfo;
		let fixed = Weights::poll_base().saturating_add(Weights::pay_devices(0));
		let per_device = Weights::pay_devices(1).saturating_sub(Weights::pay_devices(0));
		// Each block pays what fits after its fixed part.
		let per_block = (limit.ref_time() - fixed.ref_time()) / per_device.ref_time();
		let predicted = u64::from(DEVICES).div_ceil(per_block);
		let total: Weight = blocks.iter().fold(Weight::zero(), |s, b| s.saturating_add(b.weight));
		let native: Duration = blocks.iter().map(|b| b.native).sum();
		let most = blocks.iter().map(|b| b.weight.ref_time()).max().unwrap_or(0);
		println!(
			"payout of {DEVICES} devices: {} blocks (predicted from the per-device weight of \
			 {:.1} µs, {per_block} a block within the limit of {:.1} ms: {predicted}); weight \
			 charged by on_poll (every pallet's) {:.1} ms in all, \
			 at most {:.1} ms in a block; native execution against in-memory storage {:.1} ms \
			 in all, at most {:.1} ms in a block",
			blocks.len(),
			per_device.ref_time() as f64 / 1e6,
			limit.ref_time() as f64 / 1e9,
			total.ref_time() as f64 / 1e9,
			most as f64 / 1e9,
			native.as_secs_f64() * 1e3,
			blocks.iter().map(|b| b.native).max().unwrap_or_default().as_secs_f64() * 1e3,
		);
		println!(
			"state: the results take {:.1} MB ({} bytes a device, keys included)",
			results_bytes as f64 / 1e6,
			results_bytes / DEVICES as usize
		);
		let blocks_per_million = blocks.len() as f64 * 1e6 / f64::from(DEVICES);
		println!(
			"extrapolated to 1 000 000 devices: {blocks_per_million:.0} blocks, {:.1} minutes at \
			 {BLOCK_S}-second blocks; results {:.0} MB an epoch",
			blocks_per_million * BLOCK_S as f64 / 60.0,
			results_bytes as f64 * 1e6 / f64::from(DEVICES) / 1e6,
		);
		// The measured count matches the weights' prediction, give or take the opening block.
		assert!(blocks.len() as u64 <= predicted + 2, "{} blocks", blocks.len());
	});
}
