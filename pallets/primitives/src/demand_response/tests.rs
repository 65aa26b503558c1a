use super::*;
use crate::DispatchWindow;
use sp_runtime::BoundedVec;

fn battery() -> Capability {
	Capability {
		rated_power_w: 5_000,
		storage_capacity_wh: Some(10_000),
		max_charge_w: Some(4_000),
		max_discharge_w: Some(5_000),
	}
}

fn reading(average_power_w: Watts, soc_bp: Option<BasisPoints>) -> LatestDeviceReading {
	LatestDeviceReading {
		interval_end: 1_000,
		average_power_w,
		soc_bp,
		device_state: DeviceState::Operating,
		plausible: true,
	}
}

fn reserve(bp: BasisPoints) -> ComfortLimits {
	ComfortLimits { min_reserve_soc_bp: bp, dispatch_windows: BoundedVec::new() }
}

fn windows(list: &[(u16, u16)]) -> ComfortLimits {
	let windows: Vec<_> = list
		.iter()
		.map(|&(start_minute, end_minute)| DispatchWindow { start_minute, end_minute })
		.collect();
	ComfortLimits {
		min_reserve_soc_bp: 0,
		dispatch_windows: BoundedVec::try_from(windows).expect("within bound"),
	}
}

#[test]
fn kinds_map_to_directions() {
	assert_eq!(EventKind::ReduceLoad.direction(), Direction::Up);
	assert_eq!(EventKind::DischargeStorage.direction(), Direction::Up);
	assert_eq!(EventKind::AbsorbCharge.direction(), Direction::Down);
}

#[test]
fn kind_sets_hold_exactly_their_kinds() {
	let set = KindSet::of(&[DeviceKind::HomeBattery, DeviceKind::SmartMeter]);
	assert!(set.contains(DeviceKind::HomeBattery));
	assert!(set.contains(DeviceKind::SmartMeter));
	assert!(!set.contains(DeviceKind::RooftopSolar));
	assert!(set.is_valid() && !set.is_empty());
	assert!(KindSet::default().is_empty());
	assert!(!KindSet(0x80).is_valid());
	assert!(KindSet::of(&DeviceKind::ALL).is_valid());
}

#[test]
fn net_import_is_drawn_minus_delivered() {
	let interval = MeasuredInterval {
		interval_start: 0,
		interval_length_s: 900,
		energy_imported_wh: 100,
		energy_exported_wh: 350,
		soc_bp: None,
		grid_response: GridResponseStatus::Responding,
		plausible: true,
	};
	assert_eq!(interval.net_import_wh(), -250);
	assert_eq!(interval.interval_end(), 900);
}

#[test]
fn a_battery_offers_its_discharge_and_the_energy_above_its_reserve() {
	// Charging at 1 kW with 60 % stored and a 20 % reserve: stop charging and discharge fully.
	let flex = flexibility(
		DeviceKind::HomeBattery,
		&battery(),
		&reserve(2_000),
		&reading(-1_000, Some(6_000)),
		Direction::Up,
	);
	assert_eq!(flex, Flexibility { power_w: 6_000, energy_wh: Some(4_000) });
	// At its reserve it can only stop charging.
	let flex = flexibility(
		DeviceKind::HomeBattery,
		&battery(),
		&reserve(2_000),
		&reading(-1_000, Some(2_000)),
		Direction::Up,
	);
	assert_eq!(flex, Flexibility { power_w: 1_000, energy_wh: Some(0) });
}

#[test]
fn a_battery_offers_its_remaining_charge_power_and_room_to_absorb() {
	// Discharging 500 W at 75 %: stop discharging, then charge at up to 4 kW.
	let flex = flexibility(
		DeviceKind::HomeBattery,
		&battery(),
		&reserve(0),
		&reading(500, Some(7_500)),
		Direction::Down,
	);
	assert_eq!(flex, Flexibility { power_w: 4_500, energy_wh: Some(2_500) });
	// Full: nothing to absorb beyond stopping its discharge.
	let flex = flexibility(
		DeviceKind::HomeBattery,
		&battery(),
		&reserve(0),
		&reading(500, Some(10_000)),
		Direction::Down,
	);
	assert_eq!(flex, Flexibility { power_w: 500, energy_wh: Some(0) });
}

#[test]
fn loads_shed_what_they_draw_and_meters_move_their_exchange() {
	let load =
		Capability { rated_power_w: 11_000, max_charge_w: Some(11_000), ..Default::default() };
	let up = flexibility(
		DeviceKind::EvCharger,
		&load,
		&reserve(0),
		&reading(-7_000, None),
		Direction::Up,
	);
	assert_eq!(up, Flexibility { power_w: 7_000, energy_wh: None });
	let down = flexibility(
		DeviceKind::EvCharger,
		&load,
		&reserve(0),
		&reading(-7_000, None),
		Direction::Down,
	);
	assert_eq!(down.power_w, 4_000);

	let meter = Capability { rated_power_w: 20_000, ..Default::default() };
	let up = flexibility(
		DeviceKind::SmartMeter,
		&meter,
		&reserve(0),
		&reading(-3_000, None),
		Direction::Up,
	);
	assert_eq!(up.power_w, 3_000);
}

#[test]
fn unavailable_implausible_or_undispatchable_devices_offer_nothing() {
	let mut off = reading(-1_000, Some(6_000));
	off.device_state = DeviceState::Fault;
	let none = Flexibility::default();
	assert_eq!(
		flexibility(DeviceKind::HomeBattery, &battery(), &reserve(0), &off, Direction::Up),
		none
	);
	let mut flagged = reading(-1_000, Some(6_000));
	flagged.plausible = false;
	assert_eq!(
		flexibility(DeviceKind::HomeBattery, &battery(), &reserve(0), &flagged, Direction::Up),
		none
	);
	let solar = Capability { rated_power_w: 5_000, ..Default::default() };
	assert_eq!(
		flexibility(
			DeviceKind::RooftopSolar,
			&solar,
			&reserve(0),
			&reading(3_000, None),
			Direction::Down
		),
		none
	);
}

#[test]
fn dispatch_windows_must_cover_the_whole_event() {
	// 17:00–21:00 UTC.
	let comfort = windows(&[(17 * 60, 21 * 60)]);
	let day = 20_000 * 86_400;
	let at = |h: u64, m: u64| day + h * 3_600 + m * 60;
	assert!(comfort_allows(&comfort, at(17, 0), 4 * 3_600));
	assert!(comfort_allows(&comfort, at(18, 30), 3_600));
	assert!(!comfort_allows(&comfort, at(20, 30), 3_600), "runs past the window");
	assert!(!comfort_allows(&comfort, at(16, 59), 600), "starts before the window");
	// A window across midnight: 22:00–06:00.
	let night = windows(&[(22 * 60, 6 * 60)]);
	assert!(comfort_allows(&night, at(23, 0), 2 * 3_600));
	assert!(!comfort_allows(&night, at(5, 30), 3_600));
	// No windows: any time.
	assert!(comfort_allows(&reserve(0), at(3, 0), 3_600));
}

#[test]
fn storage_energy_is_above_the_reserve_or_up_to_full() {
	// 13.5 kWh at 60 % with a 20 % reserve: 5.4 kWh to give, 5.4 kWh of room.
	assert_eq!(storage_energy_wh(13_500, 6_000, 2_000, Direction::Up), 5_400);
	assert_eq!(storage_energy_wh(13_500, 6_000, 2_000, Direction::Down), 5_400);
	// At or below the reserve nothing; a reading above 100 % counts as full.
	assert_eq!(storage_energy_wh(13_500, 1_500, 2_000, Direction::Up), 0);
	assert_eq!(storage_energy_wh(13_500, 12_000, 2_000, Direction::Down), 0);
	assert_eq!(storage_energy_wh(13_500, 12_000, 2_000, Direction::Up), 10_800);
}
