//! An epoch of contribution rewards through the real runtime: the demo fleet's signed reports,
//! an epoch closed by a report and two closed by the sweep, the pool emitted at the cutoff and
//! paid to the owners in `on_poll`, and the parameters changed by root.

#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

mod common;

use common::*;
use frame_support::{assert_noop, assert_ok, traits::fungible::Inspect, BoundedVec};
use openvpp_primitives::{DeviceState, GridResponseStatus, IntervalReport, QualityFlags};
use openvpp_runtime::{
	configs::rewards::{dynamic_params, RuntimeParameters},
	demo_fleet,
	governance::TreasuryAccount,
	Balances, DeviceRegistry, Runtime, RuntimeCall, RuntimeEvent, RuntimeOrigin, Telemetry,
};
use pallet_rewards::{Results, Summaries};
use sp_keyring::Sr25519Keyring;
use sp_runtime::Perbill;

const EV: u32 = 1;
const CI_BATTERY: u32 = 4;
const SOLAR: u32 = 5;
/// The development chain's five-minute epochs.
const EPOCH_S: u64 = 300;
/// The development chain's grace before the sweep and the payout.
const GRACE_S: u64 = 60;
const INTERVAL_S: u32 = 60;

/// `device`'s report for the minute starting at `start`, delivering `exported_wh` with the
/// state of charge `soc_bp` (storage only).
fn report(
	device: u32,
	sequence: u64,
	start: u64,
	exported_wh: u64,
	soc_bp: Option<u16>,
) -> IntervalReport {
	IntervalReport {
		device_id: device,
		sequence,
		interval_start: start,
		interval_length_s: INTERVAL_S,
		energy_imported_wh: 0,
		energy_exported_wh: exported_wh,
		cumulative_imported_wh: 1_000,
		cumulative_exported_wh: 10_000 + exported_wh * sequence,
		average_power_w: (exported_wh * 60) as i32,
		peak_power_w: (exported_wh * 60) as i32,
		soc_bp,
		device_state: DeviceState::Operating,
		grid_response: GridResponseStatus::Idle,
		online_s: INTERVAL_S,
		quality: QualityFlags::default(),
	}
}

fn submit(reports: Vec<IntervalReport>) {
	let call = RuntimeCall::Telemetry(pallet_telemetry::Call::submit_reports {
		reports: BoundedVec::truncate_from(reports.into_iter().map(sign_demo).collect()),
		raw_data_digest: None,
	});
	assert_ok!(apply(demo_fleet::DEMO_GATEWAY, call));
}

fn balance(who: Sr25519Keyring) -> u128 {
	Balances::balance(&who.to_account_id())
}

#[test]
fn the_demo_fleet_earns_ovpp_for_an_epoch_without_anyone_asking() {
	chain_from_preset("development").execute_with(|| {
		// The first block after genesis fixes the first epoch, so the fleet starts in the next.
		next_block(NOON - 1);
		let epoch = NOON / EPOCH_S;
		assert_eq!(NOON % EPOCH_S, 0);
		let before =
			[Sr25519Keyring::Alice, Sr25519Keyring::Bob, Sr25519Keyring::Charlie].map(balance);

		// Five minutes: the solar array delivers 80 Wh a minute, the commercial battery holds
		// 60 % of 500 kWh, the EV reports twice and falls silent.
		for minute in 0..5u64 {
			let start = NOON + minute * u64::from(INTERVAL_S);
			next_block(start + u64::from(INTERVAL_S) + 1);
			let mut reports = vec![
				report(SOLAR, minute + 1, start, 80, None),
				report(CI_BATTERY, minute + 1, start, 0, Some(6_000)),
			];
			if minute < 2 {
				reports.push(report(EV, minute + 1, start, 0, Some(5_000)));
			}
			submit(reports);
		}
		// The solar array's first report of the next epoch closes its epoch.
		// A half-minute interval, so that it reaches the chain within the grace.
		let next_start = NOON + EPOCH_S;
		next_block(next_start + 31);
		let half_minute = IntervalReport {
			interval_length_s: 30,
			energy_exported_wh: 40,
			..report(SOLAR, 6, next_start, 80, None)
		};
		submit(vec![half_minute]);
		assert!(Results::<Runtime>::get(epoch, SOLAR).is_some());
		assert!(Results::<Runtime>::get(epoch, CI_BATTERY).is_none());

		// At the cutoff the telemetry pallet sweeps the battery's and the EV's epochs, and the
		// rewards pallet pays, all before any transaction of the block.
		let treasury_before = Balances::balance(&TreasuryAccount::get());
		let unsettled: Vec<u64> = [epoch - 1, epoch]
			.into_iter()
			.filter(|e| !Summaries::<Runtime>::get(e).settled)
			.collect();
		assert!(unsettled.contains(&epoch));
		next_block(NOON + EPOCH_S + GRACE_S);
		let events = events();
		assert!(events.contains(&RuntimeEvent::Telemetry(pallet_telemetry::Event::EpochSwept {
			epoch,
			devices_closed: 2,
		})));
		let summary = Summaries::<Runtime>::get(epoch);
		assert!(summary.settled, "{summary:?}");
		assert_eq!(summary.totals.devices, 3);
		assert!(summary.emitted > 0);
		assert_eq!(summary.paid + summary.carried + summary.to_treasury, summary.pool);
		// What the treasury gained in this block is the treasury share of the epochs settled
		// in it (no transaction ran in it, so no fee share).
		let treasury: u128 =
			unsettled.iter().map(|e| Summaries::<Runtime>::get(e).to_treasury).sum();
		assert_eq!(Balances::balance(&TreasuryAccount::get()) - treasury_before, treasury);

		let solar = Results::<Runtime>::get(epoch, SOLAR).unwrap();
		assert_eq!(solar.scores.generation_wh, 400);
		// 8 kW online for five minutes.
		assert_eq!(solar.scores.online_wh, 8_000 * 300 / 3_600);
		let battery = Results::<Runtime>::get(epoch, CI_BATTERY).unwrap();
		// 60 % of 500 kWh less the 10 % reserve, held all epoch.
		assert_eq!(battery.scores.storage_wh, 250_000);
		let ev = Results::<Runtime>::get(epoch, EV).unwrap();
		// Two of five intervals: 40 % data quality.
		assert_eq!(ev.data_quality, Perbill::from_percent(40));

		// Alice owns the solar array, Charlie the battery, Bob the EV.
		let after =
			[Sr25519Keyring::Alice, Sr25519Keyring::Bob, Sr25519Keyring::Charlie].map(balance);
		assert_eq!(after[0] - before[0], solar.reward);
		assert_eq!(after[1] - before[1], ev.reward);
		assert_eq!(after[2] - before[2], battery.reward);
		assert!(solar.reward > 0 && ev.reward > 0 && battery.reward > 0);
		assert_eq!(summary.paid, solar.reward + ev.reward + battery.reward);
		assert!(events.iter().any(|e| matches!(
			e,
			RuntimeEvent::Rewards(pallet_rewards::Event::EpochSettled { .. })
		)));
		// The EV's reputation moved towards its poor epoch, the battery's towards its full one.
		let reputation =
			|id| pallet_device_registry::Devices::<Runtime>::get(id).unwrap().credit.reputation_bp;
		assert!(reputation(EV) < 5_000);
		assert!(reputation(CI_BATTERY) > 5_000);

		pallet_rewards::Pallet::<Runtime>::do_try_state().unwrap();
		Telemetry::do_try_state().unwrap();
		DeviceRegistry::do_try_state().unwrap();
	});
}

#[test]
fn root_changes_the_reward_weights_and_nobody_else_may() {
	chain_from_preset("development").execute_with(|| {
		use dynamic_params::rewards::{GenerationWeight, Parameters};
		let set = RuntimeParameters::Rewards(Parameters::GenerationWeight(
			GenerationWeight,
			Some(Perbill::from_percent(50)),
		));
		let call = pallet_parameters::Call::<Runtime>::set_parameter { key_value: set.clone() };
		assert_noop!(
			pallet_parameters::Pallet::<Runtime>::set_parameter(
				RuntimeOrigin::signed(Sr25519Keyring::Bob.to_account_id()),
				set.clone()
			),
			sp_runtime::DispatchError::BadOrigin
		);
		assert_ok!(apply(
			Sr25519Keyring::Alice,
			RuntimeCall::Sudo(pallet_sudo::Call::sudo { call: Box::new(call.into()) })
		));
		use frame_support::traits::Get;
		assert_eq!(GenerationWeight::get(), Perbill::from_percent(50));
		assert_eq!(
			<openvpp_runtime::configs::rewards::RewardWeights as Get<_>>::get().generation,
			Perbill::from_percent(50)
		);
	});
}
