//! Paying an epoch of 100 000 devices through the real runtime, and later pruning its results,
//! under three block loads: every device paid exactly once, across as many blocks as the room
//! the rewards pallet gets needs.
//!
//! The devices' results are written straight into storage, as scoring leaves them (one per
//! device, each owner a new account, so that every payout creates an account: the dearest
//! case). Scoring itself runs inside the telemetry pallet's batches and is priced there; what
//! this test measures is the payout.
//!
//! Each block runs the rewards pallet's hooks as a block author's does: `on_poll` (after the
//! inherents, before any transaction, within its reserved share), then the block's ordinary
//! transactions, then `on_idle` with whatever of the block's weight is left. The transactions
//! are not executed: their weight is registered, as `CheckWeight` registers it. The loads:
//!
//! - *reserved share only*: something else takes every bit of weight the share does not (the
//!   floor the reservation guarantees);
//! - *full blocks*: ordinary transactions fill their class (85 % of the block), as telemetry
//!   does after an epoch boundary at a million devices, when every report closes an epoch;
//! - *design load*: ordinary transactions weigh what 1 111 device reports a second weigh (a
//!   million devices reporting every 15 minutes, sr25519 keys, a quarter of the reports
//!   closing an epoch), priced with the telemetry pallet's generated weights.
//!
//! The run prints what it measured (`cargo test --release -p openvpp-runtime --test
//! large_epoch -- --nocapture`): per load, the blocks the payout took, the devices paid per
//! block, the weight the payout was charged (at most, per block), the native execution time
//! against in-memory storage (a node executes the wasm runtime against its database, which the
//! weights price), the blocks pruning took, the state the results occupy, and the same figures
//! extrapolated to 1 000 000 devices.

#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

mod common;

use std::time::{Duration, Instant};

use codec::Encode;
use common::*;
use frame_support::{
	dispatch::DispatchClass,
	traits::{Get, OnIdle},
	weights::Weight,
};
use openvpp_runtime::{
	configs::{rewards::RewardsPollWeight, RuntimeBlockWeights},
	AccountId, AllPalletsWithSystem, Runtime, RuntimeEvent,
};
use pallet_rewards::{
	DeviceEpochResult, DimensionScores, EpochSummary, NextToPrune, NextToSettle, Results,
	ScoreTotals, Summaries, WeightInfo,
};
use sp_runtime::Perbill;

const DEVICES: u32 = 100_000;
/// The development chain's epochs and grace.
const EPOCH_S: u64 = 300;
const GRACE_S: u64 = 60;
const BLOCK_S: u64 = 6;
/// A million devices reporting every 15 minutes.
const DESIGN_REPORTS_PER_S: u32 = 1_111;
/// Reports per telemetry batch, as the bridge sends them by default.
const BATCH: u32 = openvpp_primitives::network::DEFAULT_REPORTS_PER_BATCH;

/// What the rest of each block holds while the payout runs.
#[derive(Clone, Copy, PartialEq)]
enum Load {
	ReservedShareOnly,
	FullBlocks,
	DesignTelemetry,
}

impl Load {
	fn name(self) -> &'static str {
		match self {
			Load::ReservedShareOnly => "reserved share only",
			Load::FullBlocks => "full blocks",
			Load::DesignTelemetry => "design load (1 111 reports/s)",
		}
	}

	/// The weight of the block's ordinary transactions, given what the block holds already;
	/// `None` when nothing is left for `on_idle`.
	fn ordinary(self, so_far: Weight) -> Option<Weight> {
		let weights = RuntimeBlockWeights::get();
		let normal = weights.get(DispatchClass::Normal);
		// `CheckWeight` admits an ordinary transaction while its class stays within its limit
		// and the block within its maximum.
		let room = normal
			.max_total
			.unwrap_or(weights.max_block)
			.min(weights.max_block.saturating_sub(so_far));
		match self {
			Load::ReservedShareOnly => None,
			Load::FullBlocks => Some(room),
			Load::DesignTelemetry => Some(design_telemetry_weight().min(room)),
		}
	}
}

/// What the reports of one block at the design rate weigh, in batches of `BATCH`.
fn design_telemetry_weight() -> Weight {
	let base = RuntimeBlockWeights::get().get(DispatchClass::Normal).base_extrinsic;
	let batch = |n: u32| {
		pallet_telemetry::Pallet::<Runtime>::batch_weight(&pallet_telemetry::BatchWork {
			processed: n,
			epochs_closed: n / 4,
			status_entries: 16.min(n),
			sr25519_checked: n,
			..Default::default()
		})
		.saturating_add(base)
	};
	let reports = DESIGN_REPORTS_PER_S * BLOCK_S as u32;
	batch(BATCH).saturating_mul(u64::from(reports / BATCH)).saturating_add(batch(reports % BATCH))
}

/// What the rewards pallet did in one block.
struct PayoutBlock {
	weight: Weight,
	native: Duration,
	paid: usize,
}

fn payout_block(unix_s: u64, load: Load) -> PayoutBlock {
	let number = frame_system::Pallet::<Runtime>::block_number() + 1;
	start_block(number, unix_s);
	let mandatory =
		|| *frame_system::Pallet::<Runtime>::block_weight().get(DispatchClass::Mandatory);
	let before = mandatory();
	let started = Instant::now();
	openvpp_runtime::Executive::inherents_applied();
	let mut native = started.elapsed();
	let total = || frame_system::Pallet::<Runtime>::block_weight().total();
	if let Some(ordinary) = load.ordinary(total()) {
		frame_system::Pallet::<Runtime>::register_extra_weight_unchecked(
			ordinary,
			DispatchClass::Normal,
		);
		// As `Executive` runs the idle hooks when the block is finalized.
		let remaining = RuntimeBlockWeights::get().max_block.saturating_sub(total());
		let started = Instant::now();
		let used = <AllPalletsWithSystem as OnIdle<u32>>::on_idle(number, remaining);
		native += started.elapsed();
		frame_system::Pallet::<Runtime>::register_extra_weight_unchecked(
			used,
			DispatchClass::Mandatory,
		);
	}
	let paid = events()
		.iter()
		.filter(|e| matches!(e, RuntimeEvent::Rewards(pallet_rewards::Event::DevicePaid { .. })))
		.count();
	// The payout's weight: all of `on_idle`'s, and `on_poll`'s (every pallet's: the others
	// have nothing to do here).
	let weight = mandatory().saturating_sub(before);
	PayoutBlock { weight, native, paid }
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

/// What one load's run measured.
struct Run {
	blocks: Vec<PayoutBlock>,
	pruning_blocks: Vec<PayoutBlock>,
	results_bytes: usize,
}

/// Writes the epoch's results, pays them block by block under `load`, and checks that every
/// device was paid exactly once and that the pool adds up.
fn pay_an_epoch(load: Load) -> Run {
	chain_from_preset("development").execute_with(|| {
		// A real network's sessions (an hour): a session change claims its whole block, and
		// the development chain's ten-block sessions would take every tenth block from the
		// payout.
		openvpp_runtime::governance::origins::TrackTiming::<Runtime>::put(
			openvpp_runtime::governance::origins::Timing::Production,
		);
		// The first block fixes the first epoch to settle: the one before the fleet's.
		next_block(NOON - 1);
		let epoch = NOON / EPOCH_S;

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

		// From the cutoff on, a block every six seconds until the epoch is settled. The epoch
		// before it, empty, settles in the first block too.
		let cutoff = (epoch + 1) * EPOCH_S + GRACE_S;
		let mut blocks = Vec::new();
		let mut at = cutoff;
		while !Summaries::<Runtime>::get(epoch).settled {
			assert!(blocks.len() < 2_000, "{}: the payout made no progress", load.name());
			blocks.push(payout_block(at, load));
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

		// Later, once `ResultRetentionEpochs` more epochs are settled (as if they were: the
		// next epoch to settle moves on, its cutoff far ahead), the results are pruned.
		let retention: u32 = <Runtime as pallet_rewards::Config>::ResultRetentionEpochs::get();
		NextToSettle::<Runtime>::put(epoch + u64::from(retention) + 1);
		let mut pruning_blocks = Vec::new();
		while NextToPrune::<Runtime>::get().is_some_and(|next| next <= epoch) {
			assert!(pruning_blocks.len() < 2_000, "{}: pruning made no progress", load.name());
			pruning_blocks.push(payout_block(at, load));
			at += BLOCK_S;
		}
		assert_eq!(Results::<Runtime>::iter_prefix(epoch).count(), 0);
		pallet_rewards::Pallet::<Runtime>::do_try_state().unwrap();
		Run { blocks, pruning_blocks, results_bytes }
	})
}

/// Minutes of 6-second blocks a million devices would take at the pace of `blocks`.
fn minutes_per_million(blocks: &[PayoutBlock]) -> f64 {
	blocks.len() as f64 * 1e6 / f64::from(DEVICES) * BLOCK_S as f64 / 60.0
}

#[test]
fn an_epoch_of_a_hundred_thousand_devices_is_paid_exactly_once() {
	type Weights = <Runtime as pallet_rewards::Config>::WeightInfo;
	let limit = RewardsPollWeight::get();
	let fixed = Weights::poll_base().saturating_add(Weights::pay_devices(0));
	let per_device = Weights::pay_devices(1).saturating_sub(Weights::pay_devices(0));
	println!(
		"per device {:.1} µs; reserved share {:.1} ms a block; ordinary class {:.1} ms; \
		 design telemetry load {:.1} ms a block",
		per_device.ref_time() as f64 / 1e6,
		limit.ref_time() as f64 / 1e9,
		RuntimeBlockWeights::get()
			.get(DispatchClass::Normal)
			.max_total
			.unwrap_or_default()
			.ref_time() as f64
			/ 1e9,
		design_telemetry_weight().ref_time() as f64 / 1e9,
	);
	println!(
		"| load | blocks to pay {DEVICES} | devices a block | payout weight, most in a block | \
		 native execution in all | 1 000 000 devices | blocks to prune {DEVICES} | 1 000 000 \
		 devices |"
	);
	println!("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |");
	let mut minutes = Vec::new();
	let mut results_bytes = 0;
	for load in [Load::ReservedShareOnly, Load::FullBlocks, Load::DesignTelemetry] {
		let run = pay_an_epoch(load);
		let most = run.blocks.iter().map(|b| b.weight.ref_time()).max().unwrap_or(0);
		let native: Duration = run.blocks.iter().map(|b| b.native).sum();
		println!(
			"| {} | {} | {:.0} | {:.1} ms | {:.0} ms | {:.0} blocks, {:.1} min | {} | {:.1} min |",
			load.name(),
			run.blocks.len(),
			f64::from(DEVICES) / run.blocks.len() as f64,
			most as f64 / 1e9,
			native.as_secs_f64() * 1e3,
			run.blocks.len() as f64 * 1e6 / f64::from(DEVICES),
			minutes_per_million(&run.blocks),
			run.pruning_blocks.len(),
			minutes_per_million(&run.pruning_blocks),
		);
		if load == Load::ReservedShareOnly {
			// The count matches the weights' prediction, give or take the opening block.
			let per_block = (limit.ref_time() - fixed.ref_time()) / per_device.ref_time();
			let predicted = u64::from(DEVICES).div_ceil(per_block);
			assert!(run.blocks.len() as u64 <= predicted + 2, "{} blocks", run.blocks.len());
		}
		minutes.push((minutes_per_million(&run.blocks), minutes_per_million(&run.pruning_blocks)));
		results_bytes = run.results_bytes;
	}
	println!(
		"state: the results take {:.1} MB ({} bytes a device, keys included); {:.0} MB an \
		 epoch for 1 000 000 devices",
		results_bytes as f64 / 1e6,
		results_bytes / DEVICES as usize,
		results_bytes as f64 * 10.0 / 1e6,
	);
	// `on_idle` adds the block's headroom to the reserved share.
	assert!(minutes[1].0 < minutes[0].0 && minutes[2].0 < minutes[1].0, "{minutes:?}");
	assert!(minutes[1].1 < minutes[0].1 && minutes[2].1 < minutes[1].1, "{minutes:?}");
	// A million devices' epoch is paid within the next one (an hour) even in full blocks, and
	// at the design load an hour pays one epoch and prunes another.
	assert!(minutes[1].0 < 60.0, "{minutes:?}");
	assert!(minutes[2].0 + minutes[2].1 < 60.0, "{minutes:?}");
}
