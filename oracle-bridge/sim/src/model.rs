//! The physics of the simulated fleet: two sites in DE-TENNET and a C&I battery in DE-AMPRION.
//!
//! - Alice's house: 8 kWp rooftop PV (clear-sky curve × slowly drifting clouds × noise), a
//!   household base load with morning and evening peaks, a heat pump behind an energy manager,
//!   and a 5 kW / 13.5 kWh battery doing self-consumption (charges from PV surplus, covers the
//!   deficit, never below its 20 % reserve). The smart meter at the grid connection sees the sum.
//! - Bob's EV: away during the day (driving drains ~1.5 %/h), plugged in from 18:00 to 07:30 and
//!   charged at 11 kW by the wallbox up to 80 %.
//! - Charlie's C&I battery: 250 kW / 500 kWh, charges 01:00–05:00 and discharges 17:00–20:00 at
//!   100 kW within 10–95 % state of charge.
//!
//! Time is UTC wall-clock time. Power is in W with the grid's convention (positive =
//! delivered); energy counters are lifetime Wh.
//!
//! The devices obey [`Commands`] within their physics: a battery keeps its power inside the
//! window it is given (and inside its power, reserve and full limits), the wallbox charges at
//! no more than its current limit (pausing below the 6 A a charging session needs), and the
//! energy manager's heat pump stops when it is switched off.

use rand::{rngs::StdRng, Rng, SeedableRng};

/// Seconds in an hour.
const HOUR: f64 = 3_600.0;

/// Lifetime energy counters of one device (Wh).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Counters {
	pub imported_wh: f64,
	pub exported_wh: f64,
}

impl Counters {
	/// Adds `power_w` flowing for `dt_s` seconds.
	pub(crate) fn add(&mut self, power_w: f64, dt_s: f64) {
		let wh = power_w.abs() * dt_s / HOUR;
		if power_w >= 0.0 {
			self.exported_wh += wh;
		} else {
			self.imported_wh += wh;
		}
	}
}

/// A storage device's state.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Battery {
	pub capacity_wh: f64,
	pub stored_wh: f64,
	pub max_power_w: f64,
	pub reserve_fraction: f64,
	pub full_fraction: f64,
	pub efficiency: f64,
}

impl Battery {
	pub fn soc(&self) -> f64 {
		self.stored_wh / self.capacity_wh
	}

	/// Applies a requested power (positive = discharge) for `dt_s`, limited by power and state of
	/// charge; returns the power actually delivered.
	pub(crate) fn run(&mut self, requested_w: f64, dt_s: f64) -> f64 {
		let requested = requested_w.clamp(-self.max_power_w, self.max_power_w);
		if requested > 0.0 {
			let available = (self.stored_wh - self.reserve_fraction * self.capacity_wh).max(0.0);
			let max_w = available * self.efficiency * HOUR / dt_s;
			let power = requested.min(max_w);
			self.stored_wh -= power * dt_s / HOUR / self.efficiency;
			power
		} else {
			let room = (self.full_fraction * self.capacity_wh - self.stored_wh).max(0.0);
			let max_w = room / self.efficiency * HOUR / dt_s;
			let power = (-requested).min(max_w);
			self.stored_wh += power * dt_s / HOUR * self.efficiency;
			-power
		}
	}
}

/// A battery's allowed power range (W, positive = discharge). A range that excludes zero
/// forces the battery to charge or discharge.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PowerWindow {
	pub min_w: f64,
	pub max_w: f64,
}

impl PowerWindow {
	fn apply(&self, requested_w: f64) -> f64 {
		requested_w.max(self.min_w).min(self.max_w.max(self.min_w))
	}
}

/// Lowest current (A) at which an IEC 61851 charging session charges; below it the wallbox
/// pauses.
pub const MIN_CHARGING_CURRENT_A: f64 = 6.0;
/// The wallbox's current at full power: 16 A on three phases, 11 kW.
pub const MAX_CHARGING_CURRENT_A: f64 = 16.0;
pub const CHARGER_W_PER_A: f64 = 11_000.0 / MAX_CHARGING_CURRENT_A;
/// What the heat pump still draws when switched off (controls, pumps).
const HEAT_PUMP_STANDBY_W: f64 = 30.0;

/// What the devices are told to do; the default leaves every device to itself.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Commands {
	pub home_battery: Option<PowerWindow>,
	pub ci_battery: Option<PowerWindow>,
	/// The wallbox's charging current limit (A).
	pub charger_max_current_a: Option<f64>,
	/// The heat pump behind the energy manager is switched off.
	pub heat_pump_off: bool,
}

/// What every device shows at one instant.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Snapshot {
	pub ev_charging_w: f64,
	pub ev_soc: f64,
	pub ev_connected: bool,
	pub home_battery_w: f64,
	pub home_battery_soc: f64,
	pub ci_battery_w: f64,
	pub ci_battery_soc: f64,
	pub solar_w: f64,
	pub meter_import_w: f64,
	pub ems_load_w: f64,
}

/// The whole simulated fleet.
pub struct Fleet {
	rng: StdRng,
	cloud: f64,
	pub ev_soc: f64,
	pub home_battery: Battery,
	pub ci_battery: Battery,
	pub ev_counters: Counters,
	pub charger_counters: Counters,
	pub home_battery_counters: Counters,
	pub ci_battery_counters: Counters,
	pub solar_counters: Counters,
	pub meter_counters: Counters,
	pub ems_counters: Counters,
	pub last: Snapshot,
	/// What the devices obey from the next step on.
	pub commands: Commands,
}

fn hour_of_day(unix_s: f64) -> f64 {
	(unix_s.rem_euclid(86_400.0)) / HOUR
}

impl Fleet {
	/// A fleet with realistic starting counters and states, reproducible from `seed`.
	pub fn new(seed: u64) -> Self {
		Fleet {
			rng: StdRng::seed_from_u64(seed),
			cloud: 0.8,
			ev_soc: 0.55,
			home_battery: Battery {
				capacity_wh: 13_500.0,
				stored_wh: 8_100.0,
				max_power_w: 5_000.0,
				reserve_fraction: 0.20,
				full_fraction: 0.95,
				efficiency: 0.95,
			},
			ci_battery: Battery {
				capacity_wh: 500_000.0,
				stored_wh: 250_000.0,
				max_power_w: 250_000.0,
				reserve_fraction: 0.10,
				full_fraction: 0.95,
				efficiency: 0.96,
			},
			ev_counters: Counters { imported_wh: 2_400_000.0, exported_wh: 0.0 },
			charger_counters: Counters { imported_wh: 2_600_000.0, exported_wh: 0.0 },
			home_battery_counters: Counters { imported_wh: 1_800_000.0, exported_wh: 1_650_000.0 },
			ci_battery_counters: Counters { imported_wh: 90_000_000.0, exported_wh: 84_000_000.0 },
			solar_counters: Counters { imported_wh: 0.0, exported_wh: 21_000_000.0 },
			meter_counters: Counters { imported_wh: 31_000_000.0, exported_wh: 12_000_000.0 },
			ems_counters: Counters { imported_wh: 9_500_000.0, exported_wh: 0.0 },
			last: Snapshot::default(),
			commands: Commands::default(),
		}
	}

	fn noise(&mut self, amplitude: f64) -> f64 {
		1.0 + self.rng.gen_range(-amplitude..=amplitude)
	}

	/// Advances the fleet by `dt_s` seconds ending at `unix_s`.
	pub fn step(&mut self, unix_s: f64, dt_s: f64) -> Snapshot {
		let hour = hour_of_day(unix_s);

		// PV: a clear-sky arc from 06:00 to 20:00 under drifting clouds.
		self.cloud = (self.cloud + self.rng.gen_range(-0.02..=0.02)).clamp(0.3, 1.0);
		let clear_sky = if (6.0..20.0).contains(&hour) {
			(std::f64::consts::PI * (hour - 6.0) / 14.0).sin().max(0.0)
		} else {
			0.0
		};
		let solar_w = 8_000.0 * 0.85 * clear_sky * self.cloud * self.noise(0.05);

		// Household base load with morning and evening peaks.
		let bump = |center: f64, width: f64| (-((hour - center) / width).powi(2)).exp();
		let base_w = (300.0 + 700.0 * bump(7.5, 1.2) + 1_500.0 * bump(19.5, 1.8)) * self.noise(0.1);
		// The heat pump: more at night and in the morning.
		let heat_pump_w =
			(900.0 + 1_200.0 * bump(6.0, 2.5) + 500.0 * bump(22.0, 2.0)) * self.noise(0.08);
		let ems_w = if self.commands.heat_pump_off { HEAT_PUMP_STANDBY_W } else { heat_pump_w };

		// The home battery covers the deficit or soaks up the surplus, within its window.
		let surplus_w = solar_w - base_w - ems_w;
		let home_request = match self.commands.home_battery {
			Some(window) => window.apply(-surplus_w),
			None => -surplus_w,
		};
		let home_battery_w = self.home_battery.run(home_request, dt_s);

		// The C&I battery follows its schedule.
		let ci_request = if (1.0..5.0).contains(&hour) {
			-100_000.0
		} else if (17.0..20.0).contains(&hour) {
			100_000.0
		} else {
			0.0
		};
		let ci_request = match self.commands.ci_battery {
			Some(window) => window.apply(ci_request),
			None => ci_request,
		};
		let ci_battery_w = self.ci_battery.run(ci_request, dt_s);

		// Bob's EV: plugged in overnight, charging to 80 %.
		let ev_connected = !(7.5..18.0).contains(&hour);
		let current_a = self
			.commands
			.charger_max_current_a
			.unwrap_or(MAX_CHARGING_CURRENT_A)
			.min(MAX_CHARGING_CURRENT_A);
		let ev_charging_w =
			if ev_connected && self.ev_soc < 0.80 && current_a >= MIN_CHARGING_CURRENT_A {
				current_a * CHARGER_W_PER_A
			} else {
				0.0
			};
		if ev_connected {
			self.ev_soc = (self.ev_soc + ev_charging_w * 0.92 * dt_s / HOUR / 64_000.0).min(1.0);
		} else {
			self.ev_soc = (self.ev_soc - 0.015 * dt_s / HOUR).max(0.05);
		}

		// The meter sees the house: positive = import.
		let meter_import_w = base_w + ems_w - solar_w - home_battery_w;

		self.solar_counters.add(solar_w, dt_s);
		self.home_battery_counters.add(home_battery_w, dt_s);
		self.ci_battery_counters.add(ci_battery_w, dt_s);
		self.ems_counters.add(-ems_w, dt_s);
		self.meter_counters.add(-meter_import_w, dt_s);
		self.charger_counters.add(-ev_charging_w, dt_s);
		self.ev_counters.add(-ev_charging_w, dt_s);

		self.last = Snapshot {
			ev_charging_w,
			ev_soc: self.ev_soc,
			ev_connected,
			home_battery_w,
			home_battery_soc: self.home_battery.soc(),
			ci_battery_w,
			ci_battery_soc: self.ci_battery.soc(),
			solar_w,
			meter_import_w,
			ems_load_w: ems_w,
		};
		self.last
	}
}

#[cfg(test)]
mod tests {
	use super::*;

	/// 2026-06-21 (midsummer) at 00:00 UTC.
	const DAY: f64 = 1_782_000_000.0 - 1_782_000_000.0 % 86_400.0;

	#[test]
	fn a_day_of_the_fleet_is_physically_consistent() {
		let mut fleet = Fleet::new(7);
		let mut max_solar: f64 = 0.0;
		let mut noon_solar = 0.0;
		let start_home = fleet.home_battery.stored_wh;
		for second in (0..86_400).step_by(10) {
			let snapshot = fleet.step(DAY + f64::from(second), 10.0);
			max_solar = max_solar.max(snapshot.solar_w);
			if second == 13 * 3_600 {
				noon_solar = snapshot.solar_w;
			}
			// Batteries stay within their limits.
			assert!(snapshot.home_battery_soc >= 0.199 && snapshot.home_battery_soc <= 0.951);
			assert!(snapshot.ci_battery_soc >= 0.099 && snapshot.ci_battery_soc <= 0.951);
			assert!(snapshot.home_battery_w.abs() <= 5_000.0);
			// Night has no sun.
			if second < 5 * 3_600 {
				assert_eq!(snapshot.solar_w, 0.0);
			}
		}
		assert!(max_solar > 2_000.0 && max_solar < 8_000.0, "{max_solar}");
		assert!(noon_solar > 1_000.0);
		// Counters only grow.
		assert!(fleet.solar_counters.exported_wh > 21_000_000.0);
		assert!(fleet.meter_counters.imported_wh > 31_000_000.0);
		// The battery cycled.
		assert!((fleet.home_battery.stored_wh - start_home).abs() < 13_500.0);
		// The EV charged overnight and stopped at 80 %.
		assert!(fleet.ev_counters.imported_wh > 2_400_000.0);
	}

	#[test]
	fn batteries_follow_their_power_window_within_their_limits() {
		let mut fleet = Fleet::new(1);
		// Midnight: no sun, the house draws, the home battery would cover it.
		let night = DAY + 3_600.0 * 0.5;
		fleet.commands.home_battery = Some(PowerWindow { min_w: 3_000.0, max_w: 3_000.0 });
		let s = fleet.step(night, 60.0);
		assert!((s.home_battery_w - 3_000.0).abs() < 1e-6, "{}", s.home_battery_w);
		// The surplus of discharging beyond the house shows as export at the meter.
		assert!(s.meter_import_w < 0.0);
		// Forced charging at 2 kW.
		fleet.commands.home_battery = Some(PowerWindow { min_w: -2_000.0, max_w: -2_000.0 });
		let s = fleet.step(night + 60.0, 60.0);
		assert!((s.home_battery_w + 2_000.0).abs() < 1e-6, "{}", s.home_battery_w);
		// A window beyond the battery's power is cut to its 5 kW.
		fleet.commands.home_battery = Some(PowerWindow { min_w: 9_000.0, max_w: 9_000.0 });
		let s = fleet.step(night + 120.0, 60.0);
		assert!((s.home_battery_w - 5_000.0).abs() < 1e-6);
		// Never below the reserve, whatever it is told.
		fleet.home_battery.stored_wh = fleet.home_battery.capacity_wh * 0.2;
		let s = fleet.step(night + 180.0, 60.0);
		assert_eq!(s.home_battery_w, 0.0);
		// The C&I battery holds still at 18:00 when told to.
		fleet.commands.ci_battery = Some(PowerWindow { min_w: 0.0, max_w: 0.0 });
		let s = fleet.step(DAY + 18.0 * 3_600.0, 60.0);
		assert_eq!(s.ci_battery_w, 0.0);
	}

	#[test]
	fn the_wallbox_and_the_heat_pump_obey() {
		let mut fleet = Fleet::new(1);
		let evening = DAY + 20.0 * 3_600.0;
		let s = fleet.step(evening, 1.0);
		assert!((s.ev_charging_w - 11_000.0).abs() < 1e-6, "{}", s.ev_charging_w);
		fleet.commands.charger_max_current_a = Some(8.0);
		assert!((fleet.step(evening + 1.0, 1.0).ev_charging_w - 5_500.0).abs() < 1e-6);
		// Below 6 A the session pauses.
		fleet.commands.charger_max_current_a = Some(5.0);
		assert_eq!(fleet.step(evening + 2.0, 1.0).ev_charging_w, 0.0);

		let before = fleet.step(evening + 3.0, 1.0);
		fleet.commands.heat_pump_off = true;
		let after = fleet.step(evening + 4.0, 1.0);
		assert!(before.ems_load_w > 500.0);
		assert_eq!(after.ems_load_w, HEAT_PUMP_STANDBY_W);
	}

	#[test]
	fn the_meter_is_the_sum_of_the_house() {
		let mut fleet = Fleet::new(1);
		let s = fleet.step(DAY + 12.0 * 3_600.0, 1.0);
		let house = s.ems_load_w - s.solar_w - s.home_battery_w;
		// The base load is the rest, and it is positive.
		assert!(s.meter_import_w - house > 200.0);
	}
}
