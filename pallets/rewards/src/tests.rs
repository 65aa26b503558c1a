use frame_support::{assert_noop, assert_ok, weights::Weight};
use openvpp_primitives::{
	DeviceId, DeviceLifecycleHooks, EpochTelemetry, OnEpochClosed, OnParticipantSettled,
};
use sp_runtime::Perbill;

use crate::{
	mock::*,
	pallet::{
		CurrentPayout, Error, Event, NextToSettle, PendingDemandResponse, Results, Summaries,
	},
	scoring::{data_quality, reputation_target_bp},
	types::{DimensionScores, DimensionWeights},
	Pallet,
};

type Rewards = Pallet<Test>;

fn close(device: DeviceId, telemetry: EpochTelemetry) {
	<Rewards as OnEpochClosed>::on_epoch_closed(device, &telemetry);
}

fn solar_epoch(epoch: u64, produced_wh: u64) -> EpochTelemetry {
	EpochTelemetry { produced_wh, exported_wh: produced_wh, ..full_epoch(epoch) }
}

/// Past the cutoff of `epoch`: its payout opens and, with an unlimited budget, completes.
fn settle(epoch: u64) {
	poll_at((epoch + 1) * EPOCH_S + GRACE_S);
}

fn scores_of(epoch: u64, device: DeviceId) -> DimensionScores {
	Results::<Test>::get(epoch, device).expect("scored").scores
}

#[test]
fn the_first_block_starts_scoring_at_the_current_epoch() {
	test(|| {
		assert_eq!(NextToSettle::<Test>::get(), Some(START_EPOCH));
		assert_eq!(Rewards::cutoff_of(START_EPOCH), NOW + EPOCH_S + GRACE_S);
	});
}

#[test]
fn a_generator_scores_its_energy_up_to_its_nameplate_and_its_online_capacity() {
	test(|| {
		add_device(1, solar(10, 3_000));
		add_device(2, solar(11, 1_000));
		close(1, solar_epoch(START_EPOCH, 2_000));
		// 1 kW cannot deliver 5 kWh in an hour.
		close(2, solar_epoch(START_EPOCH, 5_000));
		assert_eq!(
			scores_of(START_EPOCH, 1),
			DimensionScores { generation_wh: 2_000, online_wh: 3_000, ..Default::default() }
		);
		assert_eq!(
			scores_of(START_EPOCH, 2),
			DimensionScores { generation_wh: 1_000, online_wh: 1_000, ..Default::default() }
		);
		let totals = Summaries::<Test>::get(START_EPOCH).totals;
		assert_eq!(totals.sums, [3_000, 0, 0, 0, 4_000]);
		assert_eq!(totals.devices, 2);
	});
}

#[test]
fn data_quality_counts_flags_rejections_and_missed_intervals() {
	let base = full_epoch(1);
	assert_eq!(data_quality(&base), Perbill::one());
	let flagged = EpochTelemetry { accepted: 3, flagged: 1, ..base };
	assert_eq!(data_quality(&flagged), Perbill::from_percent(75));
	let missed = EpochTelemetry { accepted: 2, ..base };
	assert_eq!(data_quality(&missed), Perbill::from_percent(50));
	let rejected = EpochTelemetry { rejected: 4, ..base };
	assert_eq!(data_quality(&rejected), Perbill::from_percent(50));
	assert_eq!(data_quality(&EpochTelemetry::default()), Perbill::zero());

	test(|| {
		add_device(1, solar(10, 4_000));
		close(1, EpochTelemetry { accepted: 3, flagged: 1, ..solar_epoch(START_EPOCH, 2_000) });
		assert_eq!(
			scores_of(START_EPOCH, 1),
			DimensionScores { generation_wh: 1_500, online_wh: 3_000, ..Default::default() }
		);
		assert_eq!(
			Results::<Test>::get(START_EPOCH, 1).map(|r| r.data_quality),
			Some(Perbill::from_percent(75))
		);
	});
}

#[test]
fn storage_scores_the_energy_held_above_the_reserve_and_meters_no_capacity() {
	test(|| {
		add_device(1, battery(10));
		// Held 4 kWh above the reserve for half the hour, nothing the other half.
		let held =
			EpochTelemetry { stored_above_reserve_wh_s: 4_000 * 1_800, ..full_epoch(START_EPOCH) };
		close(1, held);
		assert_eq!(
			scores_of(START_EPOCH, 1),
			DimensionScores { storage_wh: 2_000, online_wh: 5_000, ..Default::default() }
		);

		// Never more than the capacity above the reserve (8 kWh of 10).
		add_device(2, battery(11));
		let impossible = EpochTelemetry {
			stored_above_reserve_wh_s: 20_000 * EPOCH_S,
			..full_epoch(START_EPOCH)
		};
		close(2, impossible);
		assert_eq!(scores_of(START_EPOCH, 2).storage_wh, 8_000);

		// A smart meter's capacity is that of its site's devices: it scores no online time.
		let meter = openvpp_primitives::DeviceInfo {
			kind: openvpp_primitives::DeviceKind::SmartMeter,
			..solar(12, 20_000)
		};
		add_device(3, meter);
		close(3, full_epoch(START_EPOCH));
		assert!(Results::<Test>::get(START_EPOCH, 3).is_none());
	});
}

#[test]
fn demand_response_results_count_at_the_next_epoch_close() {
	test(|| {
		add_device(1, battery(10));
		<Rewards as OnParticipantSettled>::on_participant_settled(1, 1_000, 800);
		// Delivering more than committed earns no more grid stability.
		<Rewards as OnParticipantSettled>::on_participant_settled(1, 500, 900);
		close(1, full_epoch(START_EPOCH));
		let scores = scores_of(START_EPOCH, 1);
		assert_eq!(scores.grid_stability_wh, 1_300);
		assert_eq!(scores.participation_wh, 1_500);
		assert!(PendingDemandResponse::<Test>::get(1).is_none());

		// Results of a retired device that no epoch took are dropped.
		<Rewards as OnParticipantSettled>::on_participant_settled(1, 1_000, 1_000);
		<Rewards as DeviceLifecycleHooks>::on_device_retired(1);
		assert!(PendingDemandResponse::<Test>::get(1).is_none());
	});
}

#[test]
fn inactive_devices_earn_nothing() {
	test(|| {
		add_device(1, solar(10, 3_000));
		set_active(1, false);
		close(1, solar_epoch(START_EPOCH, 2_000));
		assert!(Results::<Test>::get(START_EPOCH, 1).is_none());
		assert_eq!(reputation_of(1), 5_000);
	});
}

#[test]
fn an_epoch_pays_its_pool_pro_rata_and_carries_what_nobody_earned() {
	test(|| {
		add_device(1, solar(10, 3_000));
		add_device(2, solar(11, 1_000));
		close(1, solar_epoch(START_EPOCH, 2_000));
		close(2, solar_epoch(START_EPOCH, 1_000));
		settle(START_EPOCH);

		let summary = Summaries::<Test>::get(START_EPOCH);
		assert!(summary.settled);
		assert_eq!(summary.emitted, EMISSION_PER_EPOCH);
		// The pot keeps its existential deposit.
		assert_eq!(summary.pool, EMISSION_PER_EPOCH - EXISTENTIAL_DEPOSIT);
		assert_eq!(summary.to_treasury, summary.pool / 10);
		assert_eq!(balance_of(TREASURY), summary.to_treasury);
		let shared = summary.pool - summary.to_treasury;
		let per_dimension = shared / 5;
		// Only generation and online time were scored: three fifths stay in the pot.
		assert_eq!(summary.dimension_pools, [per_dimension, 0, 0, 0, per_dimension]);

		// Device 1: 2/3 of generation, 3/4 of online time.
		let reward_1 = per_dimension * 2 / 3 + per_dimension * 3 / 4;
		let reward_2 = per_dimension / 3 + per_dimension / 4;
		assert_eq!(balance_of(10), reward_1);
		assert_eq!(balance_of(11), reward_2);
		assert_eq!(summary.paid, reward_1 + reward_2);
		assert_eq!(summary.paid + summary.carried + summary.to_treasury, summary.pool);
		assert_eq!(balance_of(Rewards::pot_account()), EXISTENTIAL_DEPOSIT + summary.carried);
		assert!(events().contains(&Event::EpochSettled {
			epoch: START_EPOCH,
			paid: summary.paid,
			carried: summary.carried,
			devices: 2,
		}));
		assert_eq!(CurrentPayout::<Test>::get(), None);
		assert_eq!(NextToSettle::<Test>::get(), Some(START_EPOCH + 1));

		// What was carried is in the next epoch's pool.
		settle(START_EPOCH + 1);
		let next = Summaries::<Test>::get(START_EPOCH + 1);
		assert_eq!(next.pool, summary.carried + EMISSION_PER_EPOCH);
	});
}

#[test]
fn payouts_run_across_blocks_and_pay_each_device_once() {
	test(|| {
		for device in 1..=25 {
			add_device(device, solar(100 + u64::from(device), 2_000));
			close(device, solar_epoch(START_EPOCH, 1_000));
		}
		// Base, then either the opening or 8 payouts per block; finishing needs its own room.
		set_poll_weight(Weight::from_parts(100 + 8_000, 0));
		let cutoff = Rewards::cutoff_of(START_EPOCH);
		poll_at(cutoff);
		assert_eq!(CurrentPayout::<Test>::get().map(|p| p.epoch), Some(START_EPOCH));
		let mut blocks = 0;
		while CurrentPayout::<Test>::get().is_some() {
			poll_at(cutoff + 6 * (blocks + 1));
			blocks += 1;
			crate::Pallet::<Test>::do_try_state().expect("invariants hold mid-payout");
		}
		// 7 payouts next to the opening, then 8, 8, and the last 2 with the finish.
		assert_eq!(blocks, 3);
		let summary = Summaries::<Test>::get(START_EPOCH);
		assert_eq!(summary.devices_paid, 25);
		let paid_events =
			events().into_iter().filter(|e| matches!(e, Event::DevicePaid { .. })).count();
		assert_eq!(paid_events, 25);
		let each = balance_of(101);
		assert!(each > 0);
		assert!((101..=125).all(|owner| balance_of(owner) == each));
	});
}

#[test]
fn anyone_may_pay_a_device_ahead_of_the_sweep() {
	test(|| {
		for device in 1..=5 {
			add_device(device, solar(100 + u64::from(device), 2_000));
			close(device, solar_epoch(START_EPOCH, 1_000));
		}
		let origin = RuntimeOrigin::signed(7);
		assert_noop!(
			Rewards::pay_device(origin.clone(), START_EPOCH, 3),
			Error::<Test>::EpochNotInPayout
		);
		// Room to open the payout and nothing more.
		set_poll_weight(Weight::from_parts(1_100, 0));
		poll_at(Rewards::cutoff_of(START_EPOCH));
		assert_noop!(Rewards::pay_device(origin.clone(), START_EPOCH, 9), Error::<Test>::NoResult);
		assert_ok!(Rewards::pay_device(origin.clone(), START_EPOCH, 3));
		let early = balance_of(103);
		assert!(early > 0);
		assert_noop!(Rewards::pay_device(origin, START_EPOCH, 3), Error::<Test>::AlreadyPaid);

		set_poll_weight(Weight::MAX);
		poll_at(Rewards::cutoff_of(START_EPOCH) + 6);
		assert!(Summaries::<Test>::get(START_EPOCH).settled);
		assert_eq!(balance_of(103), early);
		assert!((101..=105).all(|owner| balance_of(owner) == early));
		assert_eq!(Summaries::<Test>::get(START_EPOCH).devices_paid, 5);
	});
}

#[test]
fn an_epoch_closed_after_its_cutoff_moves_reputation_but_not_rewards() {
	test(|| {
		add_device(1, solar(10, 3_000));
		settle(START_EPOCH);
		let before = Summaries::<Test>::get(START_EPOCH);
		close(1, solar_epoch(START_EPOCH, 2_000));
		assert!(Results::<Test>::get(START_EPOCH, 1).is_none());
		assert_eq!(Summaries::<Test>::get(START_EPOCH), before);
		assert!(events().contains(&Event::LateEpochIgnored { epoch: START_EPOCH, device: 1 }));
		assert!(reputation_of(1) > 5_000);
	});
}

#[test]
fn reputation_moves_an_eighth_of_the_way_to_quality_times_availability() {
	test(|| {
		add_device(1, solar(10, 3_000));
		close(1, solar_epoch(START_EPOCH, 2_000));
		assert_eq!(reputation_of(1), 5_000 + 5_000 / 8);

		// Online half the epoch with half the reports plausible: the target is 25 %.
		let poor =
			EpochTelemetry { online_s: EPOCH_S / 2, accepted: 2, ..full_epoch(START_EPOCH + 1) };
		assert_eq!(reputation_target_bp(&poor, data_quality(&poor), EPOCH_S), 2_500);
		close(1, poor);
		assert_eq!(reputation_of(1), 5_625 - (5_625 - 2_500) / 8);
	});
}

#[test]
fn splitting_a_device_never_earns_more() {
	// The same physical plant, once as one 4 kW array and once as four 1 kW arrays of a
	// quarter of its energy each, next to an unrelated honest device.
	let run = |split: bool| {
		let mut owner_total = 0;
		let mut honest = 0;
		test(|| {
			add_device(1, solar(50, 2_500));
			close(1, solar_epoch(START_EPOCH, 1_700));
			if split {
				for part in 0..4 {
					add_device(10 + part, solar(10, 1_000));
					close(10 + part, solar_epoch(START_EPOCH, 750));
				}
			} else {
				add_device(10, solar(10, 4_000));
				close(10, solar_epoch(START_EPOCH, 3_000));
			}
			settle(START_EPOCH);
			owner_total = balance_of(10);
			honest = balance_of(50);
		});
		(owner_total, honest)
	};
	let (whole, honest_next_to_whole) = run(false);
	let (parts, honest_next_to_parts) = run(true);
	assert!(parts <= whole, "four parts earned {parts}, the whole {whole}");
	// At most one unit of rounding per part and dimension.
	assert!(whole - parts <= 4 * 5, "splitting lost {} to rounding", whole - parts);
	// Nobody else's reward moves.
	assert_eq!(honest_next_to_whole, honest_next_to_parts);
}

#[test]
fn dimension_weights_apply_to_epochs_opened_after_they_change() {
	test(|| {
		add_device(1, solar(10, 3_000));
		close(1, solar_epoch(START_EPOCH, 2_000));
		set_weights(DimensionWeights {
			generation: Perbill::from_percent(30),
			storage: Perbill::zero(),
			grid_stability: Perbill::zero(),
			participation: Perbill::zero(),
			online: Perbill::from_percent(10),
		});
		settle(START_EPOCH);
		let summary = Summaries::<Test>::get(START_EPOCH);
		let shared = summary.pool - summary.to_treasury;
		// Weights that do not add to 100 % are scaled: 3 : 1.
		assert_eq!(summary.dimension_pools[0], shared * 3 / 4);
		assert_eq!(summary.dimension_pools[4], shared / 4);
		// The only device takes both pools whole.
		assert_eq!(balance_of(10), shared * 3 / 4 + shared / 4);
	});
}

#[test]
fn a_reward_that_cannot_be_transferred_stays_in_the_pot() {
	test(|| {
		// A tiny device next to a big one: its reward is below the existential deposit of an
		// owner who holds nothing.
		add_device(1, solar(10, 100_000));
		add_device(2, solar(11, 1));
		close(1, solar_epoch(START_EPOCH, 100_000));
		close(2, full_epoch(START_EPOCH));
		assert_eq!(scores_of(START_EPOCH, 2).online_wh, 1);
		settle(START_EPOCH);
		assert!(events().iter().any(|e| matches!(e, Event::PaymentFailed { device: 2, .. })));
		assert_eq!(balance_of(11), 0);
		let result = Results::<Test>::get(START_EPOCH, 2).expect("kept");
		assert_eq!(result.reward, 0);
		assert!(result.paid_at.is_some());
		let summary = Summaries::<Test>::get(START_EPOCH);
		assert_eq!(summary.paid + summary.carried + summary.to_treasury, summary.pool);
	});
}

#[test]
fn epochs_nobody_scored_in_carry_their_whole_pool() {
	test(|| {
		settle(START_EPOCH);
		settle(START_EPOCH + 1);
		let second = Summaries::<Test>::get(START_EPOCH + 1);
		let first = Summaries::<Test>::get(START_EPOCH);
		assert_eq!(first.paid, 0);
		assert_eq!(second.pool, first.carried + EMISSION_PER_EPOCH);
	});
}

#[test]
fn a_stalled_chain_catches_up_epoch_by_epoch() {
	test(|| {
		add_device(1, solar(10, 3_000));
		close(1, solar_epoch(START_EPOCH, 2_000));
		// Ten epochs without a block.
		settle(START_EPOCH + 10);
		assert_eq!(NextToSettle::<Test>::get(), Some(START_EPOCH + 11));
		assert!((START_EPOCH..=START_EPOCH + 10)
			.all(|e| Summaries::<Test>::get(e).settled
				|| e + u64::from(RETENTION) < START_EPOCH + 11));
		assert!(balance_of(10) > 0);
	});
}

#[test]
fn results_are_pruned_after_the_retention() {
	test(|| {
		add_device(1, solar(10, 3_000));
		for epoch in START_EPOCH..START_EPOCH + 6 {
			close(1, solar_epoch(epoch, 2_000));
			settle(epoch);
		}
		// Six settled epochs, three kept.
		assert!(Results::<Test>::get(START_EPOCH + 2, 1).is_none());
		assert!(Results::<Test>::get(START_EPOCH + 3, 1).is_some());
		assert_eq!(Summaries::<Test>::get(START_EPOCH + 2), Default::default());
		assert!(events().contains(&Event::ResultsPruned { epoch: START_EPOCH + 2 }));
	});
}

/// 30 devices scored in the first epoch and `RETENTION` epochs settled; then a block whose
/// `on_poll` settles the next epoch, which makes the first due for pruning, and has room for
/// 10 removals. Returns that block's time.
fn first_epoch_pruned_but_20_results() -> u64 {
	for device in 1..=30 {
		add_device(device, solar(100 + u64::from(device), 2_000));
		close(device, solar_epoch(START_EPOCH, 1_000));
	}
	for epoch in START_EPOCH..START_EPOCH + u64::from(RETENTION) {
		settle(epoch);
	}
	// Base, the opening and the (empty) payout, 10 removals.
	set_poll_weight(Weight::from_parts(100 + 1_000 + 1_000 + 10 * 100, 0));
	let at = Rewards::cutoff_of(START_EPOCH + u64::from(RETENTION));
	poll_at(at);
	assert!(Summaries::<Test>::get(START_EPOCH + u64::from(RETENTION)).settled);
	assert_eq!(Results::<Test>::iter_prefix(START_EPOCH).count(), 20);
	at
}

#[test]
fn pruning_stops_when_the_block_budget_does() {
	test(|| {
		let at = first_epoch_pruned_but_20_results();
		for block in 1..=5 {
			poll_at(at + 6 * block);
		}
		assert_eq!(Results::<Test>::iter_prefix(START_EPOCH).count(), 0);
	});
}

#[test]
fn what_a_block_leaves_idle_pays_more_devices() {
	test(|| {
		for device in 1..=25 {
			add_device(device, solar(100 + u64::from(device), 2_000));
			close(device, solar_epoch(START_EPOCH, 1_000));
		}
		// `on_poll` opens the payout and has room for 6 devices.
		set_poll_weight(Weight::from_parts(100 + 1_000 + 7_000, 0));
		poll_at(Rewards::cutoff_of(START_EPOCH));
		assert_eq!(Summaries::<Test>::get(START_EPOCH).devices_paid, 6);
		// The rest of the block pays 10 more, and says what it used.
		use frame_support::traits::{Get, Hooks};
		let used = <Rewards as Hooks<u64>>::on_idle(
			System::block_number(),
			Weight::from_parts(100 + 100 + 1_000 + 10_000, 0),
		);
		assert_eq!(Summaries::<Test>::get(START_EPOCH).devices_paid, 16);
		assert!(used.ref_time() <= 11_200);
		// Nothing to pay or prune: it takes only the look.
		set_poll_weight(Weight::MAX);
		poll_at(Rewards::cutoff_of(START_EPOCH) + 6);
		assert!(Summaries::<Test>::get(START_EPOCH).settled);
		let idle = <Rewards as Hooks<u64>>::on_idle(System::block_number(), Weight::MAX);
		let db: frame_support::weights::RuntimeDbWeight =
			<Test as frame_system::Config>::DbWeight::get();
		assert_eq!(idle, db.reads(3));
	});
}

#[test]
fn what_a_block_leaves_idle_prunes_old_results() {
	use frame_support::traits::{Get, Hooks};
	test(|| {
		let at = first_epoch_pruned_but_20_results();
		// The rest of the block removes 15 more, and says what it used.
		let db: frame_support::weights::RuntimeDbWeight =
			<Test as frame_system::Config>::DbWeight::get();
		let look = db.reads(3);
		let room = look.saturating_add(Weight::from_parts(15 * 100, 0));
		let used = <Rewards as Hooks<u64>>::on_idle(System::block_number(), room);
		assert_eq!(Results::<Test>::iter_prefix(START_EPOCH).count(), 5);
		assert_eq!(used, room);
		// The next block's `on_poll` finishes the epoch.
		poll_at(at + 6);
		assert_eq!(Results::<Test>::iter_prefix(START_EPOCH).count(), 0);
		assert!(events().contains(&Event::ResultsPruned { epoch: START_EPOCH }));
	});
}
