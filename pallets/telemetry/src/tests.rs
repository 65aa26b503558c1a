//! Tests of every check and outcome, the epoch totals, the status map and its staleness, fees and
//! refunds. Each test ends by checking that the status map equals the sum over fresh devices.

use codec::{Decode, Encode};
use frame_support::{
	assert_noop, assert_ok,
	dispatch::{GetDispatchInfo, Pays, PostDispatchInfo},
	traits::Hooks,
	BoundedVec,
};
use openvpp_primitives::{
	AttestationSignature, Capability, ComfortLimits, DeviceId, DeviceInfo, DeviceKind,
	DeviceLifecycleHooks, DeviceState, DeviceStatus, GridResponseStatus, IntervalReport,
	LiveFigures, PlausibilityFlags, QualityFlags, RegionCode, RejectionReason, SignedReport,
};
use sp_core::{sr25519, Pair, H256};
use sp_runtime::BuildStorage;

use crate::{mock::*, *};

const GATEWAY: AccountId = 10;
const OTHER_GATEWAY: AccountId = 11;
const OWNER: AccountId = 1;
const INTERVAL: u32 = 900;

fn region(code: &str) -> RegionCode {
	BoundedVec::try_from(code.as_bytes().to_vec()).unwrap()
}

fn key(id: DeviceId) -> sr25519::Pair {
	sr25519::Pair::from_string(&format!("//device-{id}"), None).unwrap()
}

fn add_device(id: DeviceId, kind: DeviceKind, capability: Capability, zone: &str) {
	MockRegistry::add(
		id,
		DeviceInfo {
			kind,
			owner: OWNER,
			gateway: GATEWAY,
			attestation_key: key(id).public().into(),
			capability,
			region: region(zone),
			comfort: ComfortLimits::default(),
			reputation_bp: 5_000,
			counting_since: 0,
			site_meter: None,
		},
	);
}

fn add_battery(id: DeviceId, zone: &str) {
	add_device(id, DeviceKind::HomeBattery, battery_capability(), zone);
}

fn add_solar(id: DeviceId, zone: &str) {
	add_device(
		id,
		DeviceKind::RooftopSolar,
		Capability { rated_power_w: 4_000, ..Default::default() },
		zone,
	);
}

/// A battery report for interval `n` (counted from T0), discharging 500 Wh at 2 kW average and
/// losing 5 % SoC per interval from 80 %.
fn battery_report(id: DeviceId, n: u64) -> IntervalReport {
	IntervalReport {
		device_id: id,
		sequence: n + 1,
		interval_start: T0 + n * u64::from(INTERVAL),
		interval_length_s: INTERVAL,
		energy_imported_wh: 0,
		energy_exported_wh: 500,
		cumulative_imported_wh: 10_000,
		cumulative_exported_wh: 20_000 + 500 * (n + 1),
		average_power_w: 2_000,
		peak_power_w: 2_400,
		soc_bp: Some(8_000u16.saturating_sub(500 * n as u16)),
		device_state: DeviceState::Operating,
		grid_response: GridResponseStatus::Idle,
		online_s: INTERVAL,
		quality: QualityFlags::default(),
	}
}

/// A solar report for interval `n`, producing 750 Wh at 3 kW.
fn solar_report(id: DeviceId, n: u64) -> IntervalReport {
	IntervalReport {
		energy_exported_wh: 750,
		cumulative_exported_wh: 100_000 + 750 * (n + 1),
		average_power_w: 3_000,
		peak_power_w: 3_500,
		soc_bp: None,
		..battery_report(id, n)
	}
}

fn genesis() -> H256 {
	System::block_hash(0)
}

fn sign_with(pair: &sr25519::Pair, genesis: H256, report: IntervalReport) -> SignedReport {
	let signature: AttestationSignature =
		pair.sign(&openvpp_primitives::report_signing_payload(&genesis, &report)).into();
	SignedReport { report, signature }
}

fn sign(report: IntervalReport) -> SignedReport {
	let pair = key(report.device_id);
	sign_with(&pair, genesis(), report)
}

fn submit_from(gateway: AccountId, reports: Vec<SignedReport>) -> PostDispatchInfo {
	Telemetry::submit_reports(
		RuntimeOrigin::signed(gateway),
		BoundedVec::truncate_from(reports),
		None,
	)
	.expect("a non-empty batch is always processed")
}

fn submit(reports: Vec<SignedReport>) -> PostDispatchInfo {
	submit_from(GATEWAY, reports)
}

fn events() -> Vec<Event<Test>> {
	System::events()
		.into_iter()
		.filter_map(|r| if let RuntimeEvent::Telemetry(e) = r.event { Some(e) } else { None })
		.collect()
}

fn rejections() -> Vec<(DeviceId, RejectionReason)> {
	events()
		.into_iter()
		.filter_map(|e| match e {
			Event::ReportRejected { device_id, reason, .. } => Some((device_id, reason)),
			_ => None,
		})
		.collect()
}

fn last_batch() -> (u32, u32, u32) {
	events()
		.into_iter()
		.rev()
		.find_map(|e| match e {
			Event::BatchProcessed { accepted, flagged, rejected, .. } => {
				Some((accepted, flagged, rejected))
			}
			_ => None,
		})
		.expect("a batch event")
}

fn last_fee() -> BatchFee<u128> {
	events()
		.into_iter()
		.rev()
		.find_map(|e| match e {
			Event::BatchProcessed { fee, .. } => Some(fee),
			_ => None,
		})
		.expect("a batch event")
}

fn figures(zone: &str, kind: DeviceKind) -> LiveFigures {
	Telemetry::region_figures(region(zone))
		.into_iter()
		.find(|(k, _)| *k == kind)
		.map(|(_, f)| f)
		.unwrap_or_default()
}

/// The clock right after interval `n` ended.
fn after_interval(n: u64) -> u64 {
	T0 + (n + 1) * u64::from(INTERVAL) + 5
}

// ---- acceptance --------------------------------------------------------------------------

#[test]
fn a_valid_batch_is_accepted_free_of_charge_and_updates_state_and_map() {
	run_test(|| {
		add_battery(1, "DE-TENNET");
		add_solar(2, "DE-TENNET");
		set_time(after_interval(0));
		let post = submit(vec![sign(battery_report(1, 0)), sign(solar_report(2, 0))]);
		assert_eq!(post.pays_fee, Pays::No);
		assert_eq!(last_batch(), (2, 0, 0));

		let state = DeviceTelemetry::<Test>::get(1).unwrap();
		assert_eq!(state.last_sequence, 1);
		assert_eq!(state.last_interval_end, T0 + 900);
		assert_eq!(state.latest.soc_bp, Some(8_000));
		assert_eq!(state.epoch.accepted, 1);
		assert_eq!(state.epoch.discharged_wh, 500);
		assert_eq!(state.epoch.expected, 1);
		// 80 % of 10 kWh, no reserve, online for the whole 15 minutes.
		assert_eq!(state.epoch.stored_above_reserve_wh_s, 8_000 * 900);
		let solar = DeviceTelemetry::<Test>::get(2).unwrap().epoch;
		assert_eq!((solar.produced_wh, solar.stored_above_reserve_wh_s), (750, 0));

		let battery = figures("DE-TENNET", DeviceKind::HomeBattery);
		assert_eq!(battery.devices, 1);
		assert_eq!(battery.generation_w, 2_000);
		// 80 % of 10 kWh, no reserve.
		assert_eq!(battery.storage_available_wh, 8_000);
		let solar = figures("DE-TENNET", DeviceKind::RooftopSolar);
		assert_eq!((solar.devices, solar.generation_w, solar.flex_up_w), (1, 3_000, 0));
		let map = Telemetry::energy_status_map();
		assert_eq!(map.len(), 2);
		assert!(map.iter().all(|entry| entry.updated_at == after_interval(0)));
	});
}

#[test]
fn a_newer_report_replaces_the_devices_figures() {
	run_test(|| {
		add_battery(1, "DE-TENNET");
		set_time(after_interval(0));
		submit(vec![sign(battery_report(1, 0))]);
		set_time(after_interval(1));
		submit(vec![sign(battery_report(1, 1))]);
		let battery = figures("DE-TENNET", DeviceKind::HomeBattery);
		assert_eq!(battery.devices, 1);
		assert_eq!(battery.storage_available_wh, 7_500);
		assert_eq!(DeviceTelemetry::<Test>::get(1).unwrap().epoch.accepted, 2);
	});
}

// ---- rejections, in check order ------------------------------------------------------------

#[test]
fn unknown_and_inactive_devices_and_foreign_gateways_are_rejected() {
	run_test(|| {
		add_battery(1, "DE-TENNET");
		add_battery(2, "DE-TENNET");
		MockRegistry::set_status(2, DeviceStatus::Suspended);
		add_battery(3, "DE-TENNET");
		set_time(after_interval(0));
		let post = submit(vec![
			sign(battery_report(1, 0)),
			sign(battery_report(2, 0)),
			sign(battery_report(9, 0)),
		]);
		// The transaction is free; the gateway pays the share of its two bad reports.
		assert_eq!(post.pays_fee, Pays::No);
		assert!(matches!(last_fee(), BatchFee::Share(fee) if fee > 0));
		assert_eq!(last_batch(), (1, 0, 2));
		assert_eq!(
			rejections(),
			vec![(2, RejectionReason::DeviceNotActive), (9, RejectionReason::UnknownDevice)]
		);
		// Device 3 is bound to GATEWAY, not OTHER_GATEWAY.
		submit_from(OTHER_GATEWAY, vec![sign(battery_report(3, 0))]);
		assert_eq!(rejections().last(), Some(&(3, RejectionReason::WrongGateway)));
		assert!(DeviceTelemetry::<Test>::get(3).is_none());
	});
}

#[test]
fn forged_and_foreign_signatures_are_rejected() {
	run_test(|| {
		add_battery(1, "DE-TENNET");
		add_battery(2, "DE-TENNET");
		set_time(after_interval(0));
		// Signed by a key that is not the device's.
		let forged = sign_with(&key(99), genesis(), battery_report(1, 0));
		// Signed for another chain.
		let other_chain = sign_with(&key(1), H256::repeat_byte(9), battery_report(1, 0));
		// Device 1's valid report, re-labelled as device 2's.
		let mut swapped = sign(battery_report(1, 0));
		swapped.report.device_id = 2;
		// A valid signature over a report whose energy was changed afterwards.
		let mut tampered = sign(battery_report(1, 0));
		tampered.report.energy_exported_wh = 1;
		submit(vec![forged, other_chain, swapped, tampered]);
		assert_eq!(last_batch(), (0, 0, 4));
		assert!(rejections().iter().all(|(_, reason)| *reason == RejectionReason::BadSignature));
		assert!(DeviceTelemetry::<Test>::get(1).is_none());
		// The genuine report still goes through afterwards.
		submit(vec![sign(battery_report(1, 0))]);
		assert_eq!(last_batch(), (1, 0, 0));
	});
}

#[test]
fn a_replayed_sequence_is_rejected_without_counting_against_the_device() {
	run_test(|| {
		add_battery(1, "DE-TENNET");
		set_time(after_interval(1));
		assert_eq!(submit(vec![sign(battery_report(1, 0))]).pays_fee, Pays::No);
		assert_eq!(last_fee(), BatchFee::Free);
		submit(vec![sign(battery_report(1, 0))]);
		assert!(matches!(last_fee(), BatchFee::Share(_)));
		assert_eq!(rejections(), vec![(1, RejectionReason::SequenceNotIncreasing)]);
		// An old sequence number on a new interval is refused as well.
		let mut stale = battery_report(1, 1);
		stale.sequence = 1;
		submit(vec![sign(stale)]);
		assert_eq!(rejections().last(), Some(&(1, RejectionReason::SequenceNotIncreasing)));
		assert_eq!(DeviceTelemetry::<Test>::get(1).unwrap().epoch.rejected, 0);
	});
}

#[test]
fn intervals_must_be_current_well_formed_and_in_order() {
	run_test(|| {
		add_battery(1, "DE-TENNET");
		set_time(after_interval(4));
		submit(vec![sign(battery_report(1, 2))]);

		let mut zero = battery_report(1, 3);
		zero.interval_length_s = 0;
		// Shorter than the one-minute minimum.
		let mut short = battery_report(1, 3);
		short.interval_length_s = 59;
		let mut too_long = battery_report(1, 3);
		too_long.interval_length_s = 3_601;
		// Ends more than the allowed skew after the block's time.
		let future = battery_report(1, 6);
		// Starts before the report horizon.
		let mut ancient = battery_report(1, 3);
		ancient.interval_start = after_interval(4) - 2 * 86_400 - 1;
		// Starts before the previous interval ended.
		let mut overlapping = battery_report(1, 3);
		overlapping.interval_start = T0 + 2 * 900 + 600;
		submit(vec![
			sign(zero),
			sign(short),
			sign(too_long),
			sign(future),
			sign(ancient),
			sign(overlapping),
		]);
		assert_eq!(
			rejections(),
			vec![
				(1, RejectionReason::InvalidIntervalLength),
				(1, RejectionReason::InvalidIntervalLength),
				(1, RejectionReason::InvalidIntervalLength),
				(1, RejectionReason::IntervalInFuture),
				(1, RejectionReason::IntervalTooOld),
				(1, RejectionReason::IntervalOverlap),
			]
		);
		// These came from the device's own gateway and were signed: they count against it.
		assert_eq!(DeviceTelemetry::<Test>::get(1).unwrap().epoch.rejected, 6);
		// The sequence and interval did not move.
		assert_eq!(DeviceTelemetry::<Test>::get(1).unwrap().last_sequence, 3);
	});
}

#[test]
fn the_first_failing_check_decides() {
	run_test(|| {
		add_battery(1, "DE-TENNET");
		add_battery(2, "DE-TENNET");
		MockRegistry::set_status(2, DeviceStatus::Suspended);
		set_time(after_interval(1));
		submit(vec![sign(battery_report(1, 0))]);
		let forged = |report| sign_with(&key(99), genesis(), report);
		// Inactive beats wrong gateway; wrong gateway beats a bad signature.
		submit_from(
			OTHER_GATEWAY,
			vec![forged(battery_report(2, 1)), forged(battery_report(1, 1))],
		);
		// A bad signature beats a replayed sequence; a replayed sequence beats a bad interval.
		let mut replayed_and_overlapping = battery_report(1, 0);
		replayed_and_overlapping.interval_start += 60;
		submit(vec![forged(battery_report(1, 0)), sign(replayed_and_overlapping)]);
		// A bad length beats the future, the future beats an overlap.
		let mut short_future = battery_report(1, 9);
		short_future.interval_length_s = 1;
		let mut future_overlap = battery_report(1, 9);
		future_overlap.interval_start = T0 + 600;
		future_overlap.interval_length_s = 3_600;
		submit(vec![sign(short_future), sign(future_overlap)]);
		assert_eq!(
			rejections(),
			vec![
				(2, RejectionReason::DeviceNotActive),
				(1, RejectionReason::WrongGateway),
				(1, RejectionReason::BadSignature),
				(1, RejectionReason::SequenceNotIncreasing),
				(1, RejectionReason::InvalidIntervalLength),
				(1, RejectionReason::IntervalInFuture),
			]
		);
	});
}

#[test]
fn a_rejected_report_never_aborts_the_rest_of_the_batch() {
	run_test(|| {
		for id in 1..=4 {
			add_battery(id, "DE-TENNET");
		}
		set_time(after_interval(0));
		let bad = sign_with(&key(42), genesis(), battery_report(2, 0));
		submit(vec![
			sign(battery_report(1, 0)),
			bad,
			sign(battery_report(3, 0)),
			sign(battery_report(4, 0)),
		]);
		assert_eq!(last_batch(), (3, 0, 1));
		assert_eq!(figures("DE-TENNET", DeviceKind::HomeBattery).devices, 3);
	});
}

#[test]
fn an_empty_batch_is_an_error() {
	run_test(|| {
		assert_noop!(
			Telemetry::submit_reports(RuntimeOrigin::signed(GATEWAY), BoundedVec::new(), None),
			Error::<Test>::EmptyBatch
		);
	});
}

// ---- flagged reports ----------------------------------------------------------------------

#[test]
fn a_battery_discharging_more_than_its_soc_allowed_is_flagged_and_never_counted() {
	run_test(|| {
		add_battery(1, "DE-TENNET");
		set_time(after_interval(0));
		// 5 % of 10 kWh left after interval 0: 500 Wh stored.
		submit(vec![sign(IntervalReport { soc_bp: Some(500), ..battery_report(1, 0) })]);
		// Claims 1.2 kWh out of those 500 Wh, ending empty.
		let mut report = battery_report(1, 1);
		report.energy_exported_wh = 1_200;
		report.cumulative_exported_wh = 20_500 + 1_200;
		report.soc_bp = Some(0);
		set_time(after_interval(1));
		submit(vec![sign(report)]);
		// Flagged reports are recorded, but only plausible reports travel free.
		assert!(matches!(last_fee(), BatchFee::Share(fee) if fee > 0));
		assert_eq!(last_batch(), (0, 1, 0));
		let flags = events()
			.into_iter()
			.find_map(|e| match e {
				Event::ReportFlagged { flags, .. } => Some(flags),
				_ => None,
			})
			.unwrap();
		assert!(flags.contains(PlausibilityFlags::DISCHARGE_EXCEEDS_STORED));
		assert!(flags.contains(PlausibilityFlags::SOC_ENERGY_MISMATCH));

		let state = DeviceTelemetry::<Test>::get(1).unwrap();
		// Recorded: the sequence and reading moved on...
		assert_eq!(state.last_sequence, 2);
		assert_eq!(state.latest.plausibility, flags);
		// ...but only the first, plausible report's energy counts.
		assert_eq!(state.epoch.discharged_wh, 500);
		assert_eq!((state.epoch.accepted, state.epoch.flagged), (1, 1));
		// An implausible device does not count in the live map.
		assert!(state.live.is_none());
		assert_eq!(figures("DE-TENNET", DeviceKind::HomeBattery).devices, 0);
	});
}

#[test]
fn a_solar_device_exporting_above_its_rating_is_flagged() {
	run_test(|| {
		add_solar(2, "DE-TENNET");
		set_time(after_interval(0));
		let mut report = solar_report(2, 0);
		// 4 kW for 15 minutes is 1 kWh; it claims 2 kWh.
		report.energy_exported_wh = 2_000;
		report.cumulative_exported_wh = 102_000;
		submit(vec![sign(report)]);
		assert_eq!(last_batch(), (0, 1, 0));
		let state = DeviceTelemetry::<Test>::get(2).unwrap();
		assert!(state.latest.plausibility.contains(PlausibilityFlags::ENERGY_ABOVE_RATING));
		assert_eq!(state.epoch.produced_wh, 0);
	});
}

#[test]
fn every_physics_check_flags_through_the_pallet() {
	// Each case: a first plausible report (interval 0), then a second (interval 1) that fails
	// exactly one check.
	type Tweak = fn(&mut IntervalReport);
	let cases: [(u16, DeviceKind, Tweak); 14] = [
		// 500 Wh in and 750 Wh out of a 4 kW inverter in 15 minutes: each fits, both do not.
		(PlausibilityFlags::ENERGY_ABOVE_RATING, DeviceKind::RooftopSolar, |r| {
			r.energy_imported_wh = 500;
			r.cumulative_imported_wh += 500;
			r.average_power_w = 1_000;
		}),
		(PlausibilityFlags::POWER_ABOVE_RATING, DeviceKind::RooftopSolar, |r| {
			r.peak_power_w = 4_201;
		}),
		(PlausibilityFlags::SOC_OUT_OF_RANGE, DeviceKind::HomeBattery, |r| {
			r.soc_bp = Some(10_001);
		}),
		(PlausibilityFlags::SOC_NOT_APPLICABLE, DeviceKind::RooftopSolar, |r| {
			r.soc_bp = Some(5_000);
		}),
		(PlausibilityFlags::SOC_ENERGY_MISMATCH, DeviceKind::HomeBattery, |r| {
			r.soc_bp = Some(7_990);
		}),
		(PlausibilityFlags::COUNTER_DECREASED, DeviceKind::RooftopSolar, |r| {
			r.cumulative_exported_wh = 10;
			r.energy_exported_wh = 0;
			r.average_power_w = 0;
		}),
		(PlausibilityFlags::COUNTER_ENERGY_MISMATCH, DeviceKind::RooftopSolar, |r| {
			r.cumulative_exported_wh -= 100;
		}),
		(PlausibilityFlags::ONLINE_EXCEEDS_INTERVAL, DeviceKind::RooftopSolar, |r| {
			r.online_s = INTERVAL + 1;
		}),
		(PlausibilityFlags::SOC_MISSING, DeviceKind::HomeBattery, |r| {
			r.soc_bp = None;
		}),
		(
			PlausibilityFlags::DISCHARGE_EXCEEDS_STORED | PlausibilityFlags::SOC_ENERGY_MISMATCH,
			DeviceKind::HomeBattery,
			// Set up below: 500 Wh out of a battery that held 50 Wh, ending empty.
			|_| {},
		),
		(PlausibilityFlags::NET_ENERGY_POWER_MISMATCH, DeviceKind::RooftopSolar, |r| {
			r.average_power_w = 1_000;
		}),
		// 5.75 kWh in 15 minutes from 4 kW.
		(PlausibilityFlags::COUNTERS_TOO_FAST, DeviceKind::RooftopSolar, |r| {
			r.cumulative_exported_wh += 5_000;
		}),
		(PlausibilityFlags::OFFLINE_COUNTERS_MOVED, DeviceKind::RooftopSolar, |r| {
			r.energy_exported_wh = 0;
			r.average_power_w = 0;
			r.peak_power_w = 0;
			r.online_s = 0;
		}),
		(PlausibilityFlags::COUNTER_RESET, DeviceKind::RooftopSolar, |r| {
			r.quality = QualityFlags(QualityFlags::COUNTER_RESET);
			r.cumulative_exported_wh = 750;
		}),
	];
	for (expected, kind, tweak) in cases {
		run_test(|| {
			let plain = |n| match kind {
				DeviceKind::HomeBattery => battery_report(1, n),
				_ => solar_report(1, n),
			};
			match kind {
				DeviceKind::HomeBattery => add_battery(1, "DE-TENNET"),
				_ => add_solar(1, "DE-TENNET"),
			}
			set_time(after_interval(1));
			let mut first = plain(0);
			if expected & PlausibilityFlags::DISCHARGE_EXCEEDS_STORED != 0 {
				first.soc_bp = Some(50);
			}
			submit(vec![sign(first)]);
			assert_eq!(last_batch(), (1, 0, 0), "{expected:#x}: the first report is plausible");
			let mut second = plain(1);
			tweak(&mut second);
			if expected & PlausibilityFlags::DISCHARGE_EXCEEDS_STORED != 0 {
				second.soc_bp = Some(0);
			}
			let post = submit(vec![sign(second)]);
			assert_eq!(last_batch(), (0, 1, 0), "{expected:#x}");
			assert_eq!(post.pays_fee, Pays::No);
			assert!(matches!(last_fee(), BatchFee::Share(fee) if fee > 0));
			let flags = DeviceTelemetry::<Test>::get(1).unwrap().latest.plausibility;
			assert_eq!(flags, PlausibilityFlags(expected), "{expected:#x}: got {:#x}", flags.0);
			// A flagged report never counts as energy.
			let epoch = DeviceTelemetry::<Test>::get(1).unwrap().epoch;
			assert_eq!((epoch.accepted, epoch.flagged), (1, 1));
		});
	}
}

#[test]
fn storage_that_hides_its_soc_is_flagged_but_an_offline_interval_is_not() {
	run_test(|| {
		add_battery(1, "DE-TENNET");
		set_time(after_interval(2));
		submit(vec![sign(battery_report(1, 0))]);
		// Unreachable the whole interval, nothing moved: no state of charge to give.
		let offline = IntervalReport {
			energy_exported_wh: 0,
			cumulative_exported_wh: 20_500,
			average_power_w: 0,
			peak_power_w: 0,
			soc_bp: None,
			online_s: 0,
			quality: QualityFlags(QualityFlags::GAP),
			..battery_report(1, 1)
		};
		submit(vec![sign(offline)]);
		assert_eq!(last_batch(), (1, 0, 0));
		// The next state of charge is still checked against the last one it gave (80 %):
		// claiming 90 % after exporting is flagged.
		let mut next = battery_report(1, 2);
		next.soc_bp = Some(9_000);
		submit(vec![sign(next)]);
		assert_eq!(last_batch(), (0, 1, 0));
		assert!(DeviceTelemetry::<Test>::get(1)
			.unwrap()
			.latest
			.plausibility
			.contains(PlausibilityFlags::SOC_ENERGY_MISMATCH));
	});
}

#[test]
fn imports_count_as_consumed_and_for_storage_as_charged() {
	run_test(|| {
		add_battery(1, "DE-TENNET");
		add_device(
			5,
			DeviceKind::EvCharger,
			Capability { rated_power_w: 11_000, max_charge_w: Some(11_000), ..Default::default() },
			"DE-TENNET",
		);
		set_time(after_interval(0));
		// The battery charges 1 kWh (70 % → 80 %); the wallbox draws 2 kWh.
		let charging = IntervalReport {
			energy_imported_wh: 1_000,
			energy_exported_wh: 0,
			cumulative_imported_wh: 11_000,
			cumulative_exported_wh: 20_000,
			average_power_w: -4_000,
			peak_power_w: -4_200,
			soc_bp: Some(8_000),
			..battery_report(1, 0)
		};
		let wallbox = IntervalReport {
			device_id: 5,
			energy_imported_wh: 2_000,
			energy_exported_wh: 0,
			cumulative_imported_wh: 52_000,
			cumulative_exported_wh: 0,
			average_power_w: -8_000,
			peak_power_w: -8_000,
			soc_bp: None,
			device_state: DeviceState::EvCharging,
			..battery_report(5, 0)
		};
		submit(vec![sign(charging), sign(wallbox)]);
		assert_eq!(last_batch(), (2, 0, 0));
		let battery = DeviceTelemetry::<Test>::get(1).unwrap().epoch;
		assert_eq!(
			(battery.consumed_wh, battery.charged_wh, battery.discharged_wh),
			(1_000, 1_000, 0)
		);
		let charger = DeviceTelemetry::<Test>::get(5).unwrap().epoch;
		assert_eq!((charger.consumed_wh, charger.charged_wh, charger.produced_wh), (2_000, 0, 0));
		// The map counts their draw as consumption.
		assert_eq!(figures("DE-TENNET", DeviceKind::HomeBattery).consumption_w, 4_000);
		assert_eq!(figures("DE-TENNET", DeviceKind::EvCharger).consumption_w, 8_000);
	});
}

#[test]
fn the_minimum_interval_length_is_set_by_the_admin() {
	run_test(|| {
		assert_eq!(MinIntervalLengthS::<Test>::get(), 60);
		assert_noop!(
			Telemetry::set_min_interval_length(RuntimeOrigin::signed(GATEWAY), 300),
			sp_runtime::DispatchError::BadOrigin
		);
		assert_noop!(
			Telemetry::set_min_interval_length(RuntimeOrigin::root(), 0),
			Error::<Test>::InvalidMinIntervalLength
		);
		assert_noop!(
			Telemetry::set_min_interval_length(RuntimeOrigin::root(), 3_601),
			Error::<Test>::InvalidMinIntervalLength
		);
		assert_ok!(Telemetry::set_min_interval_length(RuntimeOrigin::root(), 1_800));
		assert_eq!(events().last(), Some(&Event::MinIntervalLengthSet { seconds: 1_800 }));
		// 15-minute reports are now too short.
		add_battery(1, "DE-TENNET");
		set_time(after_interval(0));
		submit(vec![sign(battery_report(1, 0))]);
		assert_eq!(rejections(), vec![(1, RejectionReason::InvalidIntervalLength)]);
	});
}

#[test]
fn the_genesis_sets_the_minimum_interval_length() {
	let mut storage = frame_system::GenesisConfig::<Test>::default().build_storage().unwrap();
	crate::GenesisConfig::<Test> { min_interval_length_s: Some(5), ..Default::default() }
		.assimilate_storage(&mut storage)
		.unwrap();
	sp_io::TestExternalities::new(storage).execute_with(|| {
		assert_eq!(MinIntervalLengthS::<Test>::get(), 5);
	});
}

// ---- epochs -------------------------------------------------------------------------------

#[test]
fn epoch_totals_close_into_the_registry_history() {
	run_test(|| {
		add_battery(1, "DE-TENNET");
		// Intervals 0, 1 and 3 of the first hour (interval 2 missing), then interval 4 (next hour).
		for n in [0, 1, 3] {
			set_time(after_interval(n));
			submit(vec![sign(battery_report(1, n))]);
		}
		let state = DeviceTelemetry::<Test>::get(1).unwrap();
		assert_eq!(state.epoch.epoch, T0 / 3_600);
		assert_eq!(state.epoch.accepted, 3);
		// Interval 2 was missed: 4 expected.
		assert_eq!(state.epoch.expected, 4);
		assert_eq!(state.epoch.online_s, 3 * 900);
		assert!(closed_epochs().is_empty());

		set_time(after_interval(4));
		submit(vec![sign(battery_report(1, 4))]);
		let closed = closed_epochs();
		assert_eq!(closed.len(), 1);
		let (device, epoch) = closed[0];
		assert_eq!(device, 1);
		assert_eq!(epoch.discharged_wh, 1_500);
		assert_eq!((epoch.accepted, epoch.expected), (3, 4));
		let history = MockRegistry::history(1);
		assert_eq!(history.energy_discharged_wh, 1_500);
		assert_eq!(history.reports_accepted, 3);
		assert_eq!((history.reports_expected, history.online_s), (4, 3 * 900));
		// Last seen: the end of the closed epoch's last interval (interval 3).
		assert_eq!(history.last_seen, Some(T0 + 4 * 900));
		let state = DeviceTelemetry::<Test>::get(1).unwrap();
		assert_eq!(state.epoch.epoch, T0 / 3_600 + 1);
		assert_eq!((state.epoch.accepted, state.epoch.discharged_wh), (1, 500));
	});
}

// ---- the status map -----------------------------------------------------------------------

#[test]
fn the_map_aggregates_per_region_and_kind() {
	run_test(|| {
		add_battery(1, "DE-TENNET");
		add_battery(2, "DE-TENNET");
		add_battery(3, "NL-TENNET");
		add_solar(4, "NL-TENNET");
		set_time(after_interval(0));
		submit(
			(1..=3)
				.map(|id| sign(battery_report(id, 0)))
				.chain([sign(solar_report(4, 0))])
				.collect(),
		);
		let de = figures("DE-TENNET", DeviceKind::HomeBattery);
		assert_eq!((de.devices, de.generation_w, de.storage_available_wh), (2, 4_000, 16_000));
		let nl = figures("NL-TENNET", DeviceKind::HomeBattery);
		assert_eq!(nl.devices, 1);
		assert_eq!(figures("NL-TENNET", DeviceKind::RooftopSolar).generation_w, 3_000);
		assert_eq!(Telemetry::energy_status_map().len(), 3);
	});
}

#[test]
fn stale_devices_drop_out_of_the_live_figures() {
	run_test(|| {
		add_battery(1, "DE-TENNET");
		add_battery(2, "DE-TENNET");
		set_time(after_interval(0));
		submit(vec![sign(battery_report(1, 0)), sign(battery_report(2, 0))]);
		assert_eq!(figures("DE-TENNET", DeviceKind::HomeBattery).devices, 2);

		// Device 1 keeps reporting; device 2 falls silent after interval 0.
		set_time(after_interval(1));
		submit(vec![sign(battery_report(1, 1))]);
		// Two intervals after its last interval ended (T0 + 900 + 1800 = T0 + 2700, on a slot
		// boundary), device 2 stops counting.
		set_time(T0 + 2_699);
		assert_eq!(figures("DE-TENNET", DeviceKind::HomeBattery).devices, 2);
		set_time(T0 + 2_700);
		let live = figures("DE-TENNET", DeviceKind::HomeBattery);
		assert_eq!(live.devices, 1);
		assert_eq!(live.storage_available_wh, 7_500);
		// Nothing had to touch device 2 for that; its state still says where it was.
		assert!(DeviceTelemetry::<Test>::get(2).unwrap().live.is_some());

		// When device 2 reports again it counts again, once.
		set_time(after_interval(3));
		submit(vec![sign(battery_report(2, 3))]);
		assert_eq!(figures("DE-TENNET", DeviceKind::HomeBattery).devices, 1);
		submit(vec![sign(battery_report(1, 3))]);
		assert_eq!(figures("DE-TENNET", DeviceKind::HomeBattery).devices, 2);

		// Everyone silent: the region empties.
		set_time(after_interval(3) + 3 * 3_600);
		assert!(Telemetry::energy_status_map().is_empty());
	});
}

#[test]
fn a_late_report_whose_window_has_passed_does_not_count() {
	run_test(|| {
		add_battery(1, "DE-TENNET");
		// Interval 0 delivered three hours late (within the horizon).
		set_time(after_interval(0) + 3 * 3_600);
		submit(vec![sign(battery_report(1, 0))]);
		assert_eq!(last_batch(), (1, 0, 0));
		assert!(DeviceTelemetry::<Test>::get(1).unwrap().live.is_none());
		assert_eq!(figures("DE-TENNET", DeviceKind::HomeBattery).devices, 0);
	});
}

#[test]
fn suspended_and_retired_devices_leave_the_map_at_once() {
	run_test(|| {
		add_battery(1, "DE-TENNET");
		add_battery(2, "DE-TENNET");
		set_time(after_interval(0));
		submit(vec![sign(battery_report(1, 0)), sign(battery_report(2, 0))]);
		Telemetry::on_device_deactivated(1);
		assert_eq!(figures("DE-TENNET", DeviceKind::HomeBattery).devices, 1);
		assert!(DeviceTelemetry::<Test>::get(1).unwrap().live.is_none());
		Telemetry::on_device_deactivated(2);
		Telemetry::on_device_retired(2);
		assert!(DeviceTelemetry::<Test>::get(2).is_none());
		assert!(Telemetry::energy_status_map().is_empty());
	});
}

// ---- the registry's facts, copied --------------------------------------------------------

#[test]
fn a_device_with_a_copy_of_its_facts_is_not_looked_up_again() {
	run_test(|| {
		add_battery(1, "DE-TENNET");
		add_battery(2, "DE-TENNET");
		set_time(after_interval(2));
		submit(vec![sign(battery_report(1, 0)), sign(battery_report(2, 0))]);
		assert_eq!(MockRegistry::lookups(), 2);
		let state = DeviceTelemetry::<Test>::get(1).unwrap();
		assert_eq!(state.facts.0, Some(RegistryFacts::from(MockRegistry::info(1).unwrap())));
		let post = submit(vec![sign(battery_report(1, 1)), sign(battery_report(2, 1))]);
		assert_eq!(last_batch(), (2, 0, 0));
		assert_eq!(MockRegistry::lookups(), 2);
		// Priced as the steady state: no registry read (two sr25519 signatures).
		let work =
			BatchWork { processed: 2, status_entries: 1, sr25519_checked: 2, ..Default::default() };
		let charged = Telemetry::batch_weight(&work).min(Telemetry::declared_weight(2));
		assert_eq!(post.actual_weight, Some(charged));
	});
}

#[test]
fn a_change_in_the_registry_voids_the_copy() {
	run_test(|| {
		add_battery(1, "DE-TENNET");
		set_time(after_interval(3));
		submit(vec![sign(battery_report(1, 0))]);
		// The owner moves the device to another gateway: the registry says so, and the old
		// gateway's next report is refused on the registry's word.
		let info = MockRegistry::info(1).unwrap();
		MockRegistry::add(1, DeviceInfo { gateway: OTHER_GATEWAY, ..info });
		assert_eq!(DeviceTelemetry::<Test>::get(1).unwrap().facts, FactsCopy(None));
		submit(vec![sign(battery_report(1, 1))]);
		assert_eq!(rejections(), vec![(1, RejectionReason::WrongGateway)]);
		assert_eq!(MockRegistry::lookups(), 2);
		// The new gateway's report is accepted and copies the new facts.
		submit_from(OTHER_GATEWAY, vec![sign(battery_report(1, 1))]);
		assert_eq!(last_batch(), (1, 0, 0));
		assert_eq!(
			DeviceTelemetry::<Test>::get(1).unwrap().facts.0.map(|f| f.gateway),
			Some(OTHER_GATEWAY)
		);
		// A suspension voids it too: the report is refused though the state held a copy.
		MockRegistry::set_status(1, DeviceStatus::Suspended);
		assert_eq!(DeviceTelemetry::<Test>::get(1).unwrap().facts, FactsCopy(None));
		submit_from(OTHER_GATEWAY, vec![sign(battery_report(1, 2))]);
		assert_eq!(rejections().last(), Some(&(1, RejectionReason::DeviceNotActive)));
	});
}

#[test]
fn a_copy_the_registry_did_not_void_fails_the_state_check() {
	run_test(|| {
		add_battery(1, "DE-TENNET");
		set_time(after_interval(0));
		submit(vec![sign(battery_report(1, 0))]);
		assert_ok!(Telemetry::do_try_state());
		// A change the registry does not announce leaves a copy that differs from it.
		DEVICES.with(|d| {
			if let Some(device) = d.borrow_mut().get_mut(&1) {
				device.info.gateway = OTHER_GATEWAY;
			}
		});
		assert!(Telemetry::do_try_state().is_err());
		Telemetry::on_device_changed(1);
	});
}

#[test]
fn a_state_stored_before_the_copy_existed_decodes_without_one() {
	run_test(|| {
		add_battery(1, "DE-TENNET");
		set_time(after_interval(1));
		submit(vec![sign(battery_report(1, 0))]);
		let mut state = DeviceTelemetry::<Test>::get(1).unwrap();
		state.facts = FactsCopy(None);
		// The encoding of the state without its last field (a `None` is one byte).
		let mut older = state.encode();
		assert_eq!(older.pop(), Some(0));
		let key = DeviceTelemetry::<Test>::hashed_key_for(1);
		sp_io::storage::set(&key, &older);
		assert_eq!(DeviceTelemetry::<Test>::get(1), Some(state));
		// Its next report is checked against the registry and stores the copy.
		submit(vec![sign(battery_report(1, 1))]);
		assert_eq!(last_batch(), (1, 0, 0));
		assert!(DeviceTelemetry::<Test>::get(1).unwrap().facts.0.is_some());
		// Truncated elsewhere, a state is still refused.
		let current = DeviceTelemetry::<Test>::get(1).unwrap().encode();
		assert!(
			DeviceTelemetryState::<AccountId>::decode(&mut &current[..current.len() - 1]).is_err()
		);
	});
}

// ---- fees, weights, digests ---------------------------------------------------------------

#[test]
fn unused_weight_is_refunded() {
	run_test(|| {
		add_battery(1, "DE-TENNET");
		add_battery(2, "DE-TENNET");
		set_time(after_interval(0));
		let reports = vec![
			sign(battery_report(1, 0)),
			sign(battery_report(2, 0)),
			sign(battery_report(7, 0)),
		];
		let call = crate::Call::<Test>::submit_reports {
			reports: BoundedVec::truncate_from(reports.clone()),
			raw_data_digest: None,
		};
		let charged = call.get_dispatch_info().call_weight;
		// Charged up front: the worst case.
		assert_eq!(charged, Telemetry::declared_weight(3));
		assert!(charged.all_gte(<() as WeightInfo>::submit_reports(3)));
		let post = submit(reports);
		let actual = post.actual_weight.unwrap();
		// Two sr25519 signatures checked, two first reports opening their epochs and reading
		// their devices' facts from the registry, one status-map entry, one early rejection.
		let work = BatchWork {
			processed: 2,
			facts_fetched: 2,
			rejected_unverified: 1,
			epochs_opened: 2,
			status_entries: 1,
			sr25519_checked: 2,
			..Default::default()
		};
		assert!(actual.ref_time() < charged.ref_time(), "{actual:?} !< {charged:?}");
		assert_eq!(actual, Telemetry::batch_weight(&work));
	});
}

#[test]
fn the_weight_follows_what_the_batch_did() {
	let weight = |work: BatchWork| Telemetry::batch_weight(&work).ref_time();
	let two = BatchWork { processed: 2, status_entries: 1, ..Default::default() };
	// The base is the steady-state benchmark: same epoch, one entry, facts in the state (ECDSA
	// keys).
	assert_eq!(
		Telemetry::batch_weight(&two),
		<() as WeightInfo>::submit_reports_known(2)
			.saturating_add(Telemetry::fee_bookkeeping_weight())
	);
	let base = weight(two);
	// Registry reads, epoch closes, extra entries and rejections add their share...
	assert!(weight(BatchWork { facts_fetched: 1, ..two }) > base);
	assert!(weight(BatchWork { epochs_closed: 1, ..two }) > base);
	assert_eq!(
		weight(BatchWork { epochs_opened: 1, ..two }) - base,
		<Test as frame_system::Config>::DbWeight::get().writes(1).ref_time()
	);
	// Closing an epoch opens the next one: a close costs more than an opening.
	assert!(
		weight(BatchWork { epochs_closed: 1, ..two })
			> weight(BatchWork { epochs_opened: 1, ..two })
	);
	assert!(weight(BatchWork { status_entries: 2, ..two }) > base);
	assert!(weight(BatchWork { rejected_verified: 1, ..two }) > base);
	assert!(weight(BatchWork { rejected_unverified: 1, ..two }) > base);
	// ...and each signature is priced by its scheme (the benchmarks sign with ECDSA).
	let ecdsa = i128::from(<() as WeightInfo>::verify_ecdsa().ref_time());
	for (scheme_weight, work) in [
		(<() as WeightInfo>::verify_ed25519(), BatchWork { ed25519_checked: 2, ..two }),
		(<() as WeightInfo>::verify_sr25519(), BatchWork { sr25519_checked: 2, ..two }),
	] {
		let difference = 2 * (i128::from(scheme_weight.ref_time()) - ecdsa);
		assert_eq!(i128::from(weight(work)) - i128::from(base), difference);
	}
	// The worst case of each kind, in any scheme, costs no more than is charged up front.
	for (ed25519_checked, sr25519_checked) in [(0, 0), (3, 0), (0, 3)] {
		let worst = BatchWork {
			processed: 3,
			facts_fetched: 3,
			epochs_closed: 3,
			status_entries: 3,
			ed25519_checked,
			sr25519_checked,
			..Default::default()
		};
		assert!(weight(worst) <= Telemetry::declared_weight(3).ref_time());
	}
	let rejected = BatchWork { rejected_verified: 3, status_entries: 0, ..Default::default() };
	assert!(weight(rejected) <= Telemetry::declared_weight(3).ref_time());
	let early = BatchWork { rejected_unverified: 3, ..Default::default() };
	assert!(weight(early) <= Telemetry::declared_weight(3).ref_time());
}

#[test]
fn raw_data_digests_are_kept_until_the_retention_ends() {
	run_test(|| {
		add_battery(1, "DE-TENNET");
		set_time(after_interval(2));
		let digest = H256::repeat_byte(0xab);
		for n in 0..3 {
			assert_ok!(Telemetry::submit_reports(
				RuntimeOrigin::signed(GATEWAY),
				BoundedVec::truncate_from(vec![sign(battery_report(1, n))]),
				Some(digest),
			));
		}
		let stored = BatchDigests::<Test>::get(1);
		// Two fit this block (MaxDigestsPerBlock = 2); the third is only in its event.
		assert_eq!(stored.len(), 2);
		assert_eq!(stored[0], BatchDigest { gateway: GATEWAY, digest, reports: 1 });
		assert!(matches!(
			events().last(),
			Some(Event::BatchProcessed { digest_stored: false, raw_data_digest: Some(_), .. })
		));
		// Retention is 10 blocks.
		Telemetry::on_initialize(10);
		assert_eq!(BatchDigests::<Test>::get(1).len(), 2);
		Telemetry::on_initialize(11);
		assert!(BatchDigests::<Test>::get(1).is_empty());
	});
}

#[test]
fn report_encoding_is_compact() {
	let signed = SignedReport {
		report: battery_report(1, 0),
		signature: AttestationSignature::Sr25519(sr25519::Signature::from_raw([0; 64])),
	};
	// About 120 bytes: 12,000 reports fit in a 5 MiB block with room to spare.
	assert!(signed.encode().len() <= 125, "{}", signed.encode().len());
}

// ---- trust: what a signed report can no longer claim ------------------------------------------

#[test]
fn a_report_cannot_claim_time_before_the_device_was_made_active() {
	run_test(|| {
		add_battery(1, "DE-TENNET");
		// Approved (or reinstated) during interval 2.
		DEVICES.with(|d| {
			if let Some(device) = d.borrow_mut().get_mut(&1) {
				device.info.counting_since = T0 + 2 * u64::from(INTERVAL) + 60;
			}
		});
		set_time(after_interval(3));
		submit(vec![
			sign(battery_report(1, 1)),
			sign(battery_report(1, 2)),
			sign(battery_report(1, 3)),
		]);
		assert_eq!(last_batch(), (1, 0, 2));
		assert_eq!(
			rejections(),
			vec![(1, RejectionReason::BeforeActivation), (1, RejectionReason::BeforeActivation)]
		);
		// Only interval 3 counts.
		let state = DeviceTelemetry::<Test>::get(1).unwrap();
		assert_eq!((state.last_sequence, state.epoch.accepted), (4, 1));
	});
}

#[test]
fn a_flagged_report_does_not_move_the_reference_later_reports_are_checked_against() {
	run_test(|| {
		add_battery(1, "DE-TENNET");
		set_time(after_interval(2));
		submit(vec![sign(battery_report(1, 0))]);
		let reference = DeviceTelemetry::<Test>::get(1).unwrap().reference;
		assert!(reference.is_some());
		// Interval 1 claims the battery refilled to 100 % while exporting: flagged.
		let mut refill = battery_report(1, 1);
		refill.soc_bp = Some(10_000);
		submit(vec![sign(refill)]);
		assert_eq!(last_batch(), (0, 1, 0));
		assert_eq!(DeviceTelemetry::<Test>::get(1).unwrap().reference, reference);
		// Interval 2 would be consistent with that 100 % (500 Wh out of it → 95 %), but it is
		// checked against the 80 % the chain trusts: 95 % after 1 kWh out of 80 % cannot be.
		let mut follow_up = battery_report(1, 2);
		follow_up.soc_bp = Some(9_500);
		submit(vec![sign(follow_up)]);
		assert_eq!(last_batch(), (0, 1, 0));
		// The honest figure passes: 80 % − 3 × 5 % = 65 %.
		set_time(after_interval(3));
		submit(vec![sign(battery_report(1, 3))]);
		assert_eq!(last_batch(), (1, 0, 0));
	});
}

#[test]
fn a_battery_cycling_full_import_and_export_is_flagged() {
	run_test(|| {
		add_battery(1, "DE-TENNET");
		set_time(after_interval(1));
		submit(vec![sign(battery_report(1, 0))]);
		// 1.25 kWh in and 1.25 kWh out in 15 minutes, each direction at full power for the
		// whole interval, the state of charge moving as if nothing had cycled.
		let mut cycling = battery_report(1, 1);
		cycling.energy_imported_wh = 1_250;
		cycling.energy_exported_wh = 1_250;
		cycling.cumulative_imported_wh += 1_250;
		cycling.cumulative_exported_wh += 750;
		cycling.average_power_w = 0;
		cycling.soc_bp = Some(7_500);
		submit(vec![sign(cycling)]);
		assert_eq!(last_batch(), (0, 1, 0));
		let state = DeviceTelemetry::<Test>::get(1).unwrap();
		assert!(state.latest.plausibility.contains(PlausibilityFlags::ENERGY_ABOVE_RATING));
		assert_eq!((state.epoch.charged_wh, state.epoch.discharged_wh), (0, 500));
	});
}

#[test]
fn what_a_kind_cannot_do_is_not_counted() {
	run_test(|| {
		let wallbox =
			Capability { rated_power_w: 11_000, max_charge_w: Some(11_000), ..Default::default() };
		add_device(5, DeviceKind::EvCharger, wallbox, "DE-TENNET");
		add_device(
			6,
			DeviceKind::SmartMeter,
			Capability { rated_power_w: 40_000, ..Default::default() },
			"DE-TENNET",
		);
		set_time(after_interval(0));
		// A one-way wallbox "delivering" 1 kWh.
		let delivering = IntervalReport {
			device_id: 5,
			soc_bp: None,
			energy_exported_wh: 1_000,
			cumulative_exported_wh: 1_000,
			average_power_w: 4_000,
			..battery_report(5, 0)
		};
		// A site meter exporting 1 kWh: plausible, but not generation.
		let site = IntervalReport {
			device_id: 6,
			soc_bp: None,
			energy_exported_wh: 1_000,
			cumulative_exported_wh: 21_000,
			average_power_w: 4_000,
			..battery_report(6, 0)
		};
		submit(vec![sign(delivering), sign(site)]);
		assert_eq!(last_batch(), (1, 1, 0));
		let wallbox = DeviceTelemetry::<Test>::get(5).unwrap();
		assert!(wallbox.latest.plausibility.contains(PlausibilityFlags::EXPORT_NOT_CAPABLE));
		assert_eq!(wallbox.epoch.exported_wh, 0);
		let meter = DeviceTelemetry::<Test>::get(6).unwrap().epoch;
		assert_eq!((meter.exported_wh, meter.produced_wh), (1_000, 0));
	});
}

#[test]
fn a_sites_grid_exchange_is_counted_once_at_its_meter() {
	run_test(|| {
		add_solar(2, "DE-TENNET");
		add_device(
			3,
			DeviceKind::SmartMeter,
			Capability { rated_power_w: 20_000, ..Default::default() },
			"DE-TENNET",
		);
		// The solar sits behind the meter, which sees the house export 2 kW of its 3 kW.
		MockRegistry::add(
			2,
			DeviceInfo {
				site_meter: Some(3),
				..<MockRegistry as openvpp_primitives::DeviceRegistry<AccountId>>::active_device(2)
					.expect("just added")
			},
		);
		let meter = IntervalReport {
			energy_exported_wh: 500,
			cumulative_exported_wh: 50_500,
			average_power_w: 2_000,
			peak_power_w: 2_500,
			..solar_report(3, 0)
		};
		set_time(after_interval(0));
		submit(vec![sign(solar_report(2, 0)), sign(meter)]);
		assert_eq!(last_batch(), (2, 0, 0));

		// The solar counts as a device, with no grid exchange of its own in the map.
		let solar = figures("DE-TENNET", DeviceKind::RooftopSolar);
		assert_eq!((solar.devices, solar.generation_w, solar.consumption_w), (1, 0, 0));
		let site = figures("DE-TENNET", DeviceKind::SmartMeter);
		assert_eq!((site.devices, site.generation_w), (1, 2_000));
		// Its own record still has what it produced.
		assert_eq!(DeviceTelemetry::<Test>::get(2).unwrap().epoch.produced_wh, 750);
	});
}

#[test]
fn a_counter_reset_counts_against_data_quality() {
	run_test(|| {
		add_solar(2, "DE-TENNET");
		set_time(after_interval(2));
		submit(vec![sign(solar_report(2, 0))]);
		// The inverter was replaced: its counters start again at 0.
		let reset = IntervalReport {
			cumulative_exported_wh: 750,
			quality: QualityFlags(QualityFlags::COUNTER_RESET),
			..solar_report(2, 1)
		};
		submit(vec![sign(reset)]);
		assert_eq!(last_batch(), (0, 1, 0));
		let state = DeviceTelemetry::<Test>::get(2).unwrap();
		assert_eq!(
			(state.epoch.accepted, state.epoch.flagged, state.epoch.produced_wh),
			(1, 1, 750)
		);
		// The new counters are the reference: the next interval continues from them.
		assert_eq!(state.reference.map(|r| r.cumulative_exported_wh), Some(750));
		let next = IntervalReport { cumulative_exported_wh: 1_500, ..solar_report(2, 2) };
		submit(vec![sign(next)]);
		assert_eq!(last_batch(), (1, 0, 0));
	});
}

#[test]
fn retiring_a_device_closes_its_open_epoch_into_its_history() {
	run_test(|| {
		add_battery(1, "DE-TENNET");
		set_time(after_interval(1));
		submit(vec![sign(battery_report(1, 0)), sign(battery_report(1, 1))]);
		assert!(closed_epochs().is_empty());
		Telemetry::on_device_deactivated(1);
		Telemetry::on_device_retired(1);
		let closed = closed_epochs();
		assert_eq!(closed.len(), 1);
		assert_eq!((closed[0].0, closed[0].1.discharged_wh, closed[0].1.accepted), (1, 1_000, 2));
		let history = MockRegistry::history(1);
		assert_eq!((history.energy_discharged_wh, history.reports_accepted), (1_000, 2));
		assert_eq!(history.last_seen, Some(T0 + 2 * u64::from(INTERVAL)));
		assert!(DeviceTelemetry::<Test>::get(1).is_none());
	});
}

// ---- fees that charge the right party ----------------------------------------------------------

#[test]
fn a_batch_pays_the_share_of_its_bad_reports() {
	run_test(|| {
		for id in 1..=4 {
			add_battery(id, "DE-TENNET");
		}
		set_time(after_interval(0));
		let flagged = |id| sign(IntervalReport { soc_bp: Some(10_001), ..battery_report(id, 0) });
		// One bad report in four.
		let post = submit(vec![
			sign(battery_report(1, 0)),
			sign(battery_report(2, 0)),
			sign(battery_report(3, 0)),
			flagged(4),
		]);
		assert_eq!(post.pays_fee, Pays::No);
		let one_in_four = fees_paid(GATEWAY);
		assert!(one_in_four > 0);
		let actual = post.actual_weight.unwrap();
		// The free part is recorded for the fee multiplier.
		assert_eq!(
			Telemetry::fee_free_weight(),
			actual.saturating_sub(crate::fees::weight_share(
				actual,
				sp_runtime::Perbill::from_percent(25)
			))
		);

		// Four bad reports in four cost about four times as much.
		set_time(after_interval(1));
		let before = fees_paid(GATEWAY);
		submit((1..=4).map(|id| flagged_at(id, 1)).collect());
		let all_four = fees_paid(GATEWAY) - before;
		assert!(
			all_four >= 3 * one_in_four && all_four <= 5 * one_in_four,
			"{all_four} vs {one_in_four}"
		);

		// A new block starts with nothing free.
		System::set_block_number(2);
		assert_eq!(Telemetry::fee_free_weight(), frame_support::weights::Weight::zero());
	});
}

fn flagged_at(id: DeviceId, n: u64) -> SignedReport {
	sign(IntervalReport { soc_bp: Some(10_001), ..battery_report(id, n) })
}

#[test]
fn a_gateway_that_cannot_pay_its_share_pays_the_whole_batch() {
	run_test(|| {
		add_battery(1, "DE-TENNET");
		add_battery(2, "DE-TENNET");
		set_time(after_interval(0));
		set_fee_funds(GATEWAY, 0);
		let post = submit(vec![sign(battery_report(1, 0)), flagged_at(2, 0)]);
		assert_eq!(post.pays_fee, Pays::Yes);
		assert_eq!(last_fee(), BatchFee::Full);
		assert_eq!(Telemetry::fee_free_weight(), frame_support::weights::Weight::zero());
		// Plausible batches stay free all the same.
		set_time(after_interval(1));
		let post = submit(vec![sign(battery_report(1, 1))]);
		assert_eq!((post.pays_fee, last_fee()), (Pays::No, BatchFee::Free));
	});
}

#[test]
fn storing_a_digest_is_paid_and_never_free_state() {
	run_test(|| {
		add_battery(1, "DE-TENNET");
		set_time(after_interval(2));
		let digest = H256::repeat_byte(0xcd);
		let submit_with_digest = |n| {
			Telemetry::submit_reports(
				RuntimeOrigin::signed(GATEWAY),
				BoundedVec::truncate_from(vec![sign(battery_report(1, n))]),
				Some(digest),
			)
			.unwrap()
		};
		// A plausible batch with a digest pays for the digest alone.
		let post = submit_with_digest(0);
		assert_eq!(post.pays_fee, Pays::No);
		assert!(matches!(last_fee(), BatchFee::Share(fee) if fee > 0));
		assert_eq!(BatchDigests::<Test>::get(1).len(), 1);
		// A gateway that cannot pay for it keeps its free report, and the digest is only in
		// the event.
		set_fee_funds(GATEWAY, 0);
		let post = submit_with_digest(1);
		assert_eq!((post.pays_fee, last_fee()), (Pays::No, BatchFee::Free));
		assert!(matches!(
			events().last(),
			Some(Event::BatchProcessed { digest_stored: false, raw_data_digest: Some(_), .. })
		));
		assert_eq!(BatchDigests::<Test>::get(1).len(), 1);
	});
}

#[test]
fn only_measured_devices_reach_demand_response_flagged_ones_marked() {
	use openvpp_primitives::MeasuredDevices;
	run_test(|| {
		add_battery(1, "DE-TENNET");
		add_battery(2, "DE-TENNET");
		// A device that never reported cannot be measured yet.
		assert!(!Telemetry::set_measured(1, true));
		assert!(Telemetry::latest_reading(1).is_none());
		set_time(after_interval(0));
		submit(vec![sign(battery_report(1, 0)), sign(battery_report(2, 0))]);
		assert!(measured_intervals().is_empty());

		assert!(Telemetry::set_measured(1, true));
		let reading = Telemetry::latest_reading(1).unwrap();
		assert_eq!(
			(reading.interval_end, reading.average_power_w, reading.soc_bp, reading.plausible),
			(T0 + 900, 2_000, Some(8_000), true)
		);
		set_time(after_interval(2));
		// Device 1's second report discharges more than its SoC fell: flagged, still passed on.
		let mut lying = battery_report(1, 1);
		lying.energy_exported_wh = 5_000;
		lying.cumulative_exported_wh = 25_000;
		let post = submit(vec![sign(lying), sign(battery_report(2, 1))]);
		let measured = measured_intervals();
		assert_eq!(measured.len(), 1);
		let (device, interval) = measured[0];
		assert_eq!(device, 1);
		assert_eq!(
			(interval.interval_start, interval.energy_exported_wh, interval.plausible),
			(T0 + 900, 5_000, false)
		);
		// The measurement's weight is charged with the batch, and declared for every report.
		let work = BatchWork {
			processed: 2,
			status_entries: 1,
			sr25519_checked: 2,
			measurement_weight: MEASUREMENT_WEIGHT,
			..Default::default()
		};
		assert_eq!(post.actual_weight.unwrap(), Telemetry::batch_weight(&work));
		assert!(Telemetry::declared_weight(2).all_gte(MEASUREMENT_WEIGHT.saturating_mul(2)));

		assert!(Telemetry::set_measured(1, false));
		submit(vec![sign(battery_report(1, 2))]);
		assert_eq!(measured_intervals().len(), 1);
	});
}

// ---- closing the epochs of silent devices ------------------------------------------------------

const EPOCH: u64 = 3_600;
const GRACE: u64 = 600;
const E0: u64 = T0 / EPOCH;

/// Runs the sweep at `unix_s` with the mock's per-block budget.
fn sweep_at(unix_s: u64) {
	set_time(unix_s);
	System::set_block_number(System::block_number() + 1);
	let mut meter = frame_support::weights::WeightMeter::new();
	<Telemetry as Hooks<u64>>::on_poll(System::block_number(), &mut meter);
}

#[test]
fn the_sweep_closes_the_epochs_of_devices_that_fell_silent() {
	run_test(|| {
		sweep_at(T0);
		assert_eq!(NextToSweep::<Test>::get(), Some(E0));
		add_solar(2, "DE-TENNET");
		add_battery(1, "DE-TENNET");
		set_time(after_interval(1));
		// The solar array reports two intervals and falls silent; the battery reports on.
		submit(vec![
			sign(solar_report(2, 0)),
			sign(solar_report(2, 1)),
			sign(battery_report(1, 0)),
			sign(battery_report(1, 1)),
		]);
		set_time(after_interval(4));
		submit(vec![
			sign(battery_report(1, 2)),
			sign(battery_report(1, 3)),
			sign(battery_report(1, 4)),
		]);
		// The battery's first report of the next epoch closed its epoch.
		assert_eq!(closed_epochs().len(), 1);
		assert!(OpenEpochs::<Test>::contains_key(E0 + 1, 1));
		assert!(OpenEpochs::<Test>::contains_key(E0, 2));

		// Not before the grace period has passed.
		sweep_at(T0 + EPOCH + GRACE - 1);
		assert_eq!(closed_epochs().len(), 1);
		sweep_at(T0 + EPOCH + GRACE);
		let closed = closed_epochs();
		assert_eq!(closed.len(), 2);
		let (device, epoch) = closed[1];
		assert_eq!(device, 2);
		// Two intervals reported, the two up to the epoch's end missed.
		assert_eq!(
			(epoch.epoch, epoch.accepted, epoch.expected, epoch.produced_wh),
			(E0, 2, 4, 1_500)
		);
		assert_eq!(MockRegistry::history(2).reports_expected, 4);
		assert!(System::events().iter().any(|r| r.event
			== RuntimeEvent::Telemetry(Event::EpochSwept { epoch: E0, devices_closed: 1 })));
		assert_eq!(NextToSweep::<Test>::get(), Some(E0 + 1));
		assert_eq!(DeviceTelemetry::<Test>::get(2).map(|s| s.epoch.epoch), Some(E0 + 1));
		assert!(OpenEpochs::<Test>::contains_key(E0 + 1, 2));

		// Silent for a whole epoch: swept once more with every interval missed, then left alone.
		sweep_at(T0 + 2 * EPOCH + GRACE);
		let closed = closed_epochs();
		let swept: Vec<_> = closed.iter().filter(|(d, e)| *d == 2 && e.epoch == E0 + 1).collect();
		assert_eq!(swept.len(), 1);
		assert_eq!((swept[0].1.accepted, swept[0].1.expected), (0, 4));
		assert!(!OpenEpochs::<Test>::contains_key(E0 + 2, 2));
		// Back in its dormant epoch: indexed again, so that it is swept if it falls silent.
		set_time(T0 + 2 * EPOCH + 900 + 5);
		let back = IntervalReport { sequence: 3, ..solar_report(2, 8) };
		submit(vec![sign(back)]);
		assert_eq!(last_batch(), (1, 0, 0));
		assert!(OpenEpochs::<Test>::contains_key(E0 + 2, 2));
		// The battery, silent since interval 4, was swept in its epoch too.
		assert!(closed.iter().any(|(d, e)| *d == 1 && e.epoch == E0 + 1 && e.expected == 4));
	});
}

#[test]
fn the_sweep_stops_at_its_budget_and_resumes() {
	run_test(|| {
		sweep_at(T0);
		for id in 1..=12 {
			add_solar(id, "DE-TENNET");
		}
		set_time(after_interval(0));
		submit((1..=12).map(|id| sign(solar_report(id, 0))).collect());
		// The mock's budget closes five devices a block.
		sweep_at(T0 + EPOCH + GRACE);
		assert_eq!(closed_epochs().len(), 5);
		assert_eq!(NextToSweep::<Test>::get(), Some(E0));
		sweep_at(T0 + EPOCH + GRACE + 6);
		sweep_at(T0 + EPOCH + GRACE + 12);
		assert_eq!(closed_epochs().len(), 12);
		assert_eq!(NextToSweep::<Test>::get(), Some(E0 + 1));
		assert!(System::events().iter().any(|r| r.event
			== RuntimeEvent::Telemetry(Event::EpochSwept { epoch: E0, devices_closed: 12 })));
	});
}

/// The sweep's weight on `unix_s`, with the mock's per-block budget.
fn sweep_weight_at(unix_s: u64) -> frame_support::weights::Weight {
	set_time(unix_s);
	System::set_block_number(System::block_number() + 1);
	let mut meter = frame_support::weights::WeightMeter::new();
	<Telemetry as Hooks<u64>>::on_poll(System::block_number(), &mut meter);
	meter.consumed()
}

#[test]
fn the_sweep_charges_each_device_once_and_each_epoch_once_a_block() {
	run_test(|| {
		let base = <() as WeightInfo>::sweep_base();
		let epoch = Telemetry::sweep_epoch_weight();
		let device = Telemetry::sweep_device_weight();
		// The benchmark's slope is the device's share, the intercept the epoch's.
		assert_eq!(base.saturating_add(epoch), <() as WeightInfo>::sweep_epoch(0));
		assert_eq!(
			epoch.saturating_add(device),
			<() as WeightInfo>::sweep_epoch(1).saturating_sub(base)
		);
		assert!(device.ref_time() > 0 && epoch.ref_time() > 0);
		assert_eq!(
			Telemetry::sweep_weight_for(2),
			base.saturating_add(epoch).saturating_add(device.saturating_mul(2))
		);

		sweep_at(T0);
		// Nothing due: only the look at the cursor.
		assert_eq!(sweep_weight_at(T0 + 6), base);
		for id in 1..=7 {
			add_solar(id, "DE-TENNET");
		}
		set_time(after_interval(0));
		submit((1..=7).map(|id| sign(solar_report(id, 0))).collect());
		// A full budget of five, then the two left and the move to the next epoch.
		assert_eq!(sweep_weight_at(T0 + EPOCH + GRACE), Telemetry::sweep_weight_for(5));
		assert_eq!(closed_epochs().len(), 5);
		assert_eq!(sweep_weight_at(T0 + EPOCH + GRACE + 6), Telemetry::sweep_weight_for(2));
		assert_eq!(closed_epochs().len(), 7);
		assert_eq!(NextToSweep::<Test>::get(), Some(E0 + 1));
		// The next epoch is not due yet.
		assert_eq!(sweep_weight_at(T0 + EPOCH + GRACE + 12), base);
	});
}

#[test]
fn a_report_for_a_swept_epoch_counts_for_quality_but_not_energy() {
	run_test(|| {
		sweep_at(T0);
		add_solar(2, "DE-TENNET");
		set_time(after_interval(0));
		submit(vec![sign(solar_report(2, 0))]);
		sweep_at(T0 + EPOCH + GRACE);
		assert_eq!(closed_epochs()[0].1.produced_wh, 750);
		// Interval 1 of the swept epoch arrives late.
		submit(vec![sign(solar_report(2, 1))]);
		assert_eq!(last_batch(), (1, 0, 0));
		let epoch = DeviceTelemetry::<Test>::get(2).expect("reporting").epoch;
		assert_eq!(
			(epoch.epoch, epoch.accepted, epoch.expected, epoch.produced_wh, epoch.online_s),
			(E0 + 1, 1, 1, 0, 0)
		);
	});
}

#[test]
fn an_epoch_closed_by_a_later_report_counts_its_missed_tail() {
	run_test(|| {
		add_battery(1, "DE-TENNET");
		set_time(after_interval(4));
		submit(vec![sign(battery_report(1, 0)), sign(battery_report(1, 4))]);
		let closed = closed_epochs();
		assert_eq!((closed[0].1.accepted, closed[0].1.expected), (1, 4));
		assert!(!OpenEpochs::<Test>::contains_key(E0, 1));
		assert!(OpenEpochs::<Test>::contains_key(E0 + 1, 1));
		// Retiring takes the device out of the index.
		Telemetry::on_device_retired(1);
		assert!(!OpenEpochs::<Test>::contains_key(E0 + 1, 1));
	});
}
