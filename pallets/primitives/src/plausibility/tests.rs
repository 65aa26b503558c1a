use super::*;
use crate::{DeviceState, GridResponseStatus};

const TOL: PlausibilityTolerances = PlausibilityTolerances {
	rating_tolerance_bp: 500,
	soc_throughput_tolerance_bp: 1_000,
	soc_capacity_tolerance_bp: 200,
};

const START: UnixSeconds = 1_767_225_600;

fn battery() -> Capability {
	Capability {
		rated_power_w: 5_000,
		storage_capacity_wh: Some(10_000),
		max_charge_w: Some(5_000),
		max_discharge_w: Some(5_000),
	}
}

fn meter() -> Capability {
	Capability { rated_power_w: 40_000, ..Default::default() }
}

/// 1 kWh discharged in 15 minutes (4 kW), 60 % → 50 % of 10 kWh.
fn report() -> IntervalReport {
	IntervalReport {
		device_id: 1,
		sequence: 10,
		interval_start: START,
		interval_length_s: 900,
		energy_imported_wh: 0,
		energy_exported_wh: 1_000,
		cumulative_imported_wh: 50_000,
		cumulative_exported_wh: 41_000,
		average_power_w: 4_000,
		peak_power_w: 4_500,
		soc_bp: Some(5_000),
		device_state: DeviceState::Operating,
		grid_response: GridResponseStatus::Idle,
		online_s: 900,
		quality: QualityFlags::default(),
	}
}

/// The reference the example report follows: counters read at its start, 60 % state of charge.
fn reference() -> EnergyReference {
	EnergyReference {
		cumulative_imported_wh: 50_000,
		cumulative_exported_wh: 40_000,
		counters_read_at: START,
		soc_anchor: Some(SocAnchor { soc_bp: 6_000, ..Default::default() }),
	}
}

fn reference_at_soc(soc_bp: BasisPoints) -> EnergyReference {
	EnergyReference { soc_anchor: Some(SocAnchor { soc_bp, ..Default::default() }), ..reference() }
}

fn assess(
	report: &IntervalReport,
	kind: DeviceKind,
	cap: &Capability,
	reference: Option<&EnergyReference>,
) -> Assessment {
	check_plausibility(report, kind, cap, reference, &TOL)
}

fn check(
	report: &IntervalReport,
	kind: DeviceKind,
	cap: &Capability,
	reference: Option<&EnergyReference>,
) -> u16 {
	assess(report, kind, cap, reference).flags.0
}

/// Sets the interval's energy and the matching counters and average power.
fn with_energy(mut r: IntervalReport, imported_wh: u64, exported_wh: u64) -> IntervalReport {
	let reference = reference();
	r.energy_imported_wh = imported_wh;
	r.energy_exported_wh = exported_wh;
	r.cumulative_imported_wh = reference.cumulative_imported_wh + imported_wh;
	r.cumulative_exported_wh = reference.cumulative_exported_wh + exported_wh;
	let net = exported_wh as i64 - imported_wh as i64;
	r.average_power_w = (net * 3_600 / i64::from(r.interval_length_s)) as i32;
	r.peak_power_w = r.average_power_w;
	r
}

#[test]
fn a_consistent_battery_report_passes() {
	assert_eq!(check(&report(), DeviceKind::HomeBattery, &battery(), Some(&reference())), 0);
	assert_eq!(check(&report(), DeviceKind::HomeBattery, &battery(), None), 0);
}

#[test]
fn energy_and_power_above_the_limits_are_flagged() {
	// 5 kW × 0.25 h = 1.25 kWh; 5 % tolerance → 1312 Wh.
	let r = IntervalReport { soc_bp: Some(4_688), ..with_energy(report(), 0, 1_312) };
	assert_eq!(check(&r, DeviceKind::HomeBattery, &battery(), Some(&reference())), 0);
	let mut r = IntervalReport { soc_bp: Some(4_687), ..with_energy(report(), 0, 1_313) };
	r.average_power_w = 5_248;
	r.peak_power_w = 5_248;
	assert_eq!(
		check(&r, DeviceKind::HomeBattery, &battery(), Some(&reference())),
		PlausibilityFlags::ENERGY_ABOVE_RATING
	);
	let mut r = report();
	r.peak_power_w = -5_251;
	assert_eq!(
		check(&r, DeviceKind::HomeBattery, &battery(), Some(&reference())),
		PlausibilityFlags::POWER_ABOVE_RATING
	);
}

#[test]
fn import_and_export_together_must_fit_the_connection() {
	// Full import and full export in the same 15 minutes with the state of charge unchanged:
	// each direction alone fits the rating, both together need twice the interval.
	let r = IntervalReport { soc_bp: Some(6_000), ..with_energy(report(), 1_250, 1_250) };
	let flags =
		PlausibilityFlags(check(&r, DeviceKind::HomeBattery, &battery(), Some(&reference())));
	assert!(flags.contains(PlausibilityFlags::ENERGY_ABOVE_RATING), "{flags:?}");
	// Half and half fits (charged 7.5 minutes, discharged 7.5 minutes).
	let r = IntervalReport { soc_bp: Some(6_000), ..with_energy(report(), 625, 625) };
	assert_eq!(check(&r, DeviceKind::HomeBattery, &battery(), Some(&reference())), 0);
}

#[test]
fn charge_and_discharge_follow_the_declared_limits_not_the_rating() {
	// Rated 5 kW, but declared to charge at 3 kW at most.
	let slow = Capability { max_charge_w: Some(3_000), ..battery() };
	let charging = IntervalReport { soc_bp: Some(7_000), ..with_energy(report(), 1_000, 0) };
	let flags =
		PlausibilityFlags(check(&charging, DeviceKind::HomeBattery, &slow, Some(&reference())));
	assert!(flags.contains(PlausibilityFlags::ENERGY_ABOVE_RATING), "{flags:?}");
	assert!(flags.contains(PlausibilityFlags::POWER_ABOVE_RATING), "{flags:?}");
	assert_eq!(check(&charging, DeviceKind::HomeBattery, &battery(), Some(&reference())), 0);
	let slow_out = Capability { max_discharge_w: Some(2_000), ..battery() };
	let flags =
		PlausibilityFlags(check(&report(), DeviceKind::HomeBattery, &slow_out, Some(&reference())));
	assert!(flags.contains(PlausibilityFlags::ENERGY_ABOVE_RATING), "{flags:?}");
}

#[test]
fn kinds_that_cannot_deliver_cannot_report_export() {
	// An EV without bidirectional capability.
	let ev = Capability { max_discharge_w: None, ..battery() };
	let flags =
		PlausibilityFlags(check(&report(), DeviceKind::ElectricVehicle, &ev, Some(&reference())));
	assert!(flags.contains(PlausibilityFlags::EXPORT_NOT_CAPABLE), "{flags:?}");
	// With V2G declared, the same report is fine.
	assert_eq!(check(&report(), DeviceKind::ElectricVehicle, &battery(), Some(&reference())), 0);

	// A charger and an energy manager without an export limit.
	let load =
		Capability { rated_power_w: 11_000, max_charge_w: Some(11_000), ..Default::default() };
	let exporting = IntervalReport { soc_bp: None, ..report() };
	for kind in [DeviceKind::EvCharger, DeviceKind::EnergyManagementSystem] {
		let flags = PlausibilityFlags(check(&exporting, kind, &load, Some(&reference())));
		assert!(flags.contains(PlausibilityFlags::EXPORT_NOT_CAPABLE), "{kind:?} {flags:?}");
	}
	// Even a positive power sample alone gives it away.
	let mut idle = IntervalReport { soc_bp: None, ..with_energy(report(), 0, 0) };
	idle.peak_power_w = 50;
	assert_eq!(
		check(&idle, DeviceKind::EvCharger, &load, Some(&reference())),
		PlausibilityFlags::EXPORT_NOT_CAPABLE
	);
	// Drawing is what they do.
	let drawing = IntervalReport { soc_bp: None, ..with_energy(report(), 2_000, 0) };
	assert_eq!(check(&drawing, DeviceKind::EvCharger, &load, Some(&reference())), 0);
}

#[test]
fn net_energy_must_agree_with_average_power() {
	// 1 kWh out in 15 minutes is 4 kW, not 1 kW.
	let mut r = report();
	r.average_power_w = 1_000;
	assert_eq!(
		check(&r, DeviceKind::HomeBattery, &battery(), Some(&reference())),
		PlausibilityFlags::NET_ENERGY_POWER_MISMATCH
	);
	// Within the tolerance (5 % of 5 kW) and rounding.
	r.average_power_w = 4_000 + 250;
	assert_eq!(check(&r, DeviceKind::HomeBattery, &battery(), Some(&reference())), 0);
	r.average_power_w = 4_000 + 260;
	assert_eq!(
		check(&r, DeviceKind::HomeBattery, &battery(), Some(&reference())),
		PlausibilityFlags::NET_ENERGY_POWER_MISMATCH
	);
}

#[test]
fn a_solar_device_exporting_above_its_rating_is_flagged() {
	let solar = Capability { rated_power_w: 4_000, ..Default::default() };
	let r = IntervalReport { soc_bp: None, ..with_energy(report(), 0, 2_000) };
	let flags = PlausibilityFlags(check(&r, DeviceKind::RooftopSolar, &solar, Some(&reference())));
	assert!(flags.contains(PlausibilityFlags::ENERGY_ABOVE_RATING), "{flags:?}");
}

#[test]
fn a_battery_that_discharges_more_than_its_soc_allowed_is_flagged() {
	// Starts at 5 % of 10 kWh = 500 Wh, claims 1.2 kWh exported, ends at 0 %.
	let r = IntervalReport { soc_bp: Some(0), ..with_energy(report(), 0, 1_200) };
	let flags = PlausibilityFlags(check(
		&r,
		DeviceKind::HomeBattery,
		&battery(),
		Some(&reference_at_soc(500)),
	));
	assert!(flags.contains(PlausibilityFlags::DISCHARGE_EXCEEDS_STORED));
	assert!(flags.contains(PlausibilityFlags::SOC_ENERGY_MISMATCH));
}

#[test]
fn soc_must_follow_metered_energy() {
	// Exports 1 kWh but SoC does not move: mismatch.
	let mut r = report();
	r.soc_bp = Some(6_000);
	assert_eq!(
		check(&r, DeviceKind::HomeBattery, &battery(), Some(&reference())),
		PlausibilityFlags::SOC_ENERGY_MISMATCH
	);
	// Within tolerance (10 % of 1 kWh + 2 % of 10 kWh = 300 Wh): SoC 52.5 % is fine.
	r.soc_bp = Some(5_250);
	assert_eq!(check(&r, DeviceKind::HomeBattery, &battery(), Some(&reference())), 0);
	// An EV may lose charge driving, unmetered...
	let drive = IntervalReport { soc_bp: Some(3_000), ..with_energy(report(), 0, 0) };
	assert_eq!(check(&drive, DeviceKind::ElectricVehicle, &battery(), Some(&reference())), 0);
	// ...but cannot gain charge it was not given.
	let gain = IntervalReport { soc_bp: Some(9_000), ..drive };
	assert_eq!(
		check(&gain, DeviceKind::ElectricVehicle, &battery(), Some(&reference())),
		PlausibilityFlags::SOC_ENERGY_MISMATCH
	);
}

#[test]
fn soc_range_and_applicability() {
	let mut r = report();
	r.soc_bp = Some(10_001);
	assert_eq!(
		check(&r, DeviceKind::HomeBattery, &battery(), Some(&reference())),
		PlausibilityFlags::SOC_OUT_OF_RANGE
	);
	r.soc_bp = Some(5_000);
	assert_eq!(
		check(&r, DeviceKind::SmartMeter, &meter(), Some(&reference())),
		PlausibilityFlags::SOC_NOT_APPLICABLE
	);
}

#[test]
fn counters_are_monotonic_and_cover_the_interval() {
	let mut r = report();
	r.cumulative_exported_wh = 39_000;
	assert_eq!(
		check(&r, DeviceKind::HomeBattery, &battery(), Some(&reference())),
		PlausibilityFlags::COUNTER_DECREASED
	);
	// The interval claims 1 kWh but the counter grew by 500 Wh.
	let mut r = IntervalReport { soc_bp: None, ..report() };
	r.cumulative_exported_wh = 40_500;
	assert_eq!(
		check(&r, DeviceKind::SmartMeter, &meter(), Some(&reference())),
		PlausibilityFlags::COUNTER_ENERGY_MISMATCH
	);
	// Growth beyond the interval is fine when time passed since the counters were read.
	r.cumulative_exported_wh = 45_000;
	let earlier = EnergyReference { counters_read_at: START - 900, ..reference() };
	assert_eq!(check(&r, DeviceKind::SmartMeter, &meter(), Some(&earlier)), 0);
}

#[test]
fn counters_cannot_grow_faster_than_the_device_can_move_energy() {
	// 5 kW for 15 minutes since the counters were read moves 1.25 kWh, not 3 kWh.
	let mut r = report();
	r.cumulative_exported_wh = 43_000;
	r.soc_bp = Some(3_000);
	let flags =
		PlausibilityFlags(check(&r, DeviceKind::HomeBattery, &battery(), Some(&reference())));
	assert!(flags.contains(PlausibilityFlags::COUNTERS_TOO_FAST), "{flags:?}");
	// With an hour of unreported time before the interval, 3 kWh is possible.
	let earlier = EnergyReference { counters_read_at: START - 3_600, ..reference() };
	assert_eq!(check(&r, DeviceKind::HomeBattery, &battery(), Some(&earlier)), 0);
}

#[test]
fn an_offline_interval_cannot_move_the_counters() {
	let mut offline = IntervalReport { soc_bp: None, online_s: 0, ..with_energy(report(), 0, 0) };
	assert_eq!(check(&offline, DeviceKind::HomeBattery, &battery(), Some(&reference())), 0);
	// It read no counters, so it cannot say they moved.
	offline.cumulative_exported_wh += 800;
	assert_eq!(
		check(&offline, DeviceKind::HomeBattery, &battery(), Some(&reference())),
		PlausibilityFlags::OFFLINE_COUNTERS_MOVED
	);
	// And the time it covered does not count as time the counters were read.
	let plausible = IntervalReport { soc_bp: None, online_s: 0, ..with_energy(report(), 0, 0) };
	let next = assess(&plausible, DeviceKind::HomeBattery, &battery(), Some(&reference()))
		.reference
		.expect("a plausible report leaves a reference");
	assert_eq!(next.counters_read_at, START);
}

#[test]
fn online_seconds_cannot_exceed_the_interval() {
	let mut r = report();
	r.online_s = 901;
	assert_eq!(
		check(&r, DeviceKind::HomeBattery, &battery(), Some(&reference())),
		PlausibilityFlags::ONLINE_EXCEEDS_INTERVAL
	);
}

#[test]
fn storage_that_moves_energy_without_a_soc_is_flagged() {
	let mut r = report();
	r.soc_bp = None;
	assert_eq!(
		check(&r, DeviceKind::HomeBattery, &battery(), Some(&reference())),
		PlausibilityFlags::SOC_MISSING
	);
	// Online without energy still owes its state of charge.
	let idle = IntervalReport { soc_bp: None, ..with_energy(report(), 0, 0) };
	assert_eq!(
		check(&idle, DeviceKind::HomeBattery, &battery(), Some(&reference())),
		PlausibilityFlags::SOC_MISSING
	);
	// A device that was unreachable all interval and moved nothing has nothing to say.
	let offline = IntervalReport { online_s: 0, ..idle };
	assert_eq!(check(&offline, DeviceKind::HomeBattery, &battery(), Some(&reference())), 0);
	// Kinds without storage never report one.
	let r = IntervalReport { soc_bp: None, ..report() };
	assert_eq!(check(&r, DeviceKind::SmartMeter, &meter(), None), 0);
}

#[test]
fn the_soc_balance_spans_unreported_time() {
	// Counters read at 60 % an hour before the interval; they grew 3 kWh since. 50 % after
	// 3 kWh out of a 10 kWh battery is impossible; 30 % is consistent.
	let earlier = EnergyReference { counters_read_at: START - 2_700, ..reference() };
	let mut r = report();
	r.cumulative_exported_wh = 43_000;
	assert_eq!(
		check(&r, DeviceKind::HomeBattery, &battery(), Some(&earlier)),
		PlausibilityFlags::SOC_ENERGY_MISMATCH
	);
	r.soc_bp = Some(3_000);
	let assessment = assess(&r, DeviceKind::HomeBattery, &battery(), Some(&earlier));
	assert_eq!(assessment.flags.0, 0);
	// A plausible report with a state of charge is the next anchor, its counters the next
	// reference.
	assert_eq!(
		assessment.reference,
		Some(EnergyReference {
			cumulative_imported_wh: 50_000,
			cumulative_exported_wh: 43_000,
			counters_read_at: START + 900,
			soc_anchor: Some(SocAnchor { soc_bp: 3_000, ..Default::default() }),
		})
	);
}

#[test]
fn a_flagged_report_does_not_move_the_reference() {
	// A report that claims 60 % after 1 kWh out is flagged; had it become the anchor, a later
	// report could claim 60 % → 10 % (5 kWh "delivered") against it.
	let mut lie = report();
	lie.soc_bp = Some(6_000);
	let assessment = assess(&lie, DeviceKind::HomeBattery, &battery(), Some(&reference()));
	assert!(!assessment.flags.is_plausible());
	assert_eq!(assessment.reference, Some(reference()));
	// A report with inflated counters is flagged, and the counters stay where they were.
	let mut jump = report();
	jump.cumulative_exported_wh = 1_000_000;
	let assessment = assess(&jump, DeviceKind::HomeBattery, &battery(), Some(&reference()));
	assert!(assessment.flags.contains(PlausibilityFlags::COUNTERS_TOO_FAST));
	assert_eq!(assessment.reference, Some(reference()));
	// A device whose first report was flagged still has nothing to be checked against.
	let overlong = IntervalReport { online_s: 901, ..report() };
	assert_eq!(assess(&overlong, DeviceKind::HomeBattery, &battery(), None).reference, None);
	// Without a SoC, a plausible report carries the anchor over its counters' flow.
	let offline = IntervalReport { soc_bp: None, online_s: 0, ..with_energy(report(), 0, 0) };
	let next = assess(&offline, DeviceKind::HomeBattery, &battery(), Some(&reference()))
		.reference
		.and_then(|r| r.soc_anchor);
	assert_eq!(next, reference().soc_anchor);
}

#[test]
fn a_counter_reset_is_flagged_and_checked_against_what_is_known() {
	// The counters restarted: the reset is flagged, never free.
	let mut reset = report();
	reset.quality = QualityFlags(QualityFlags::COUNTER_RESET);
	reset.cumulative_imported_wh = 0;
	reset.cumulative_exported_wh = 1_000;
	let assessment = assess(&reset, DeviceKind::HomeBattery, &battery(), Some(&reference()));
	assert_eq!(assessment.flags.0, PlausibilityFlags::COUNTER_RESET);
	// The counters re-base; the anchor stays at 60 % with the interval's flow unaccounted (at
	// most 5 kW × 15 minutes).
	let after = assessment.reference.expect("a reset re-bases the reference");
	assert_eq!((after.cumulative_imported_wh, after.cumulative_exported_wh), (0, 1_000));
	let anchor = after.soc_anchor.expect("the anchor survives the reset");
	assert_eq!(anchor.soc_bp, 6_000);
	assert_eq!(anchor.unaccounted_wh, 1_250);

	// The next report is checked against the new counters and the old state of charge: 50 %
	// after another 1 kWh out would be 40 %, and 40 % is within what may have flowed unseen.
	let mut next = report();
	next.sequence = 11;
	next.interval_start = START + 900;
	next.cumulative_imported_wh = 0;
	next.cumulative_exported_wh = 2_000;
	next.soc_bp = Some(4_000);
	assert_eq!(check(&next, DeviceKind::HomeBattery, &battery(), Some(&after)), 0);
	// But it cannot claim the battery refilled: 90 % after 60 % and 1 kWh out is beyond the
	// unaccounted flow.
	next.soc_bp = Some(9_000);
	assert_eq!(
		check(&next, DeviceKind::HomeBattery, &battery(), Some(&after)),
		PlausibilityFlags::SOC_ENERGY_MISMATCH
	);
	// Nor can counters that fell below the re-based ones pass.
	next.soc_bp = Some(4_000);
	next.cumulative_exported_wh = 500;
	let flags = PlausibilityFlags(check(&next, DeviceKind::HomeBattery, &battery(), Some(&after)));
	assert!(flags.contains(PlausibilityFlags::COUNTER_DECREASED), "{flags:?}");
}
