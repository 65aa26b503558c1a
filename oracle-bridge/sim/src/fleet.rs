//! The larger simulated fleet: home batteries ([`FleetBattery`]) of many owners in another
//! control area, each published in the `openvpp-json` format on its own topic and commanded on
//! its `…/set` topic ([`openvpp_bridge::device_command`]).
//!
//! On their own they do self-consumption: from 09:00 to 15:00 UTC each charges from its
//! house's PV surplus at 40–80 % of its rating, from 17:00 to 23:00 it covers the evening load
//! at 30–60 %, and it rests otherwise, never going below its owner's reserve nor above 95 %. A
//! `hold` makes it charge or discharge at the held power (within its rating, empty and full)
//! until the hold lapses or is released. A configurable share of owners ignore every command,
//! so that non-delivery is exercised at scale.

use openvpp_primitives::DeviceId;

use super::{
	model::{Battery, Counters},
	TraceLine,
};
use crate::demo::FleetBattery;
use openvpp_bridge::device_command::JsonCommand;

/// One simulated battery of the larger fleet.
#[derive(Debug, Clone)]
struct Simulated {
	spec: FleetBattery,
	battery: Battery,
	counters: Counters,
	/// Its own charging and discharging power (W), from its household's size.
	charge_w: f64,
	discharge_w: f64,
	/// The held power (W, positive = discharge) and when the hold lapses (ms).
	hold: Option<(f64, Option<u64>)>,
	/// Its owner ignores every command.
	overrides: bool,
	power_w: f64,
}

/// The larger fleet's batteries.
#[derive(Debug, Clone, Default)]
pub struct FleetBatteries {
	batteries: Vec<Simulated>,
}

/// A stable spread over 0–99 for battery `index`.
fn percentile(index: u32, salt: u32) -> u32 {
	index.wrapping_mul(2_654_435_761).wrapping_add(salt.wrapping_mul(40_503)) % 100
}

impl FleetBatteries {
	/// `count` batteries; those whose spread falls below `override_percent` belong to owners
	/// who override every command.
	pub fn new(count: u32, override_percent: u32) -> FleetBatteries {
		let batteries = (0..count)
			.map(|index| {
				let spec = FleetBattery::new(index);
				let rating_w = f64::from(spec.max_power_w);
				let capacity_wh = f64::from(spec.capacity_wh);
				Simulated {
					spec,
					battery: Battery {
						capacity_wh,
						stored_wh: spec.initial_soc * capacity_wh,
						max_power_w: rating_w,
						reserve_fraction: 0.0,
						full_fraction: 1.0,
						efficiency: 0.95,
					},
					counters: Counters::default(),
					charge_w: rating_w * (0.4 + f64::from(percentile(index, 1) % 41) / 100.0),
					discharge_w: rating_w * (0.3 + f64::from(percentile(index, 2) % 31) / 100.0),
					hold: None,
					overrides: percentile(index, 3) < override_percent,
					power_w: 0.0,
				}
			})
			.collect();
		FleetBatteries { batteries }
	}

	pub fn len(&self) -> usize {
		self.batteries.len()
	}

	pub fn is_empty(&self) -> bool {
		self.batteries.is_empty()
	}

	/// The batteries whose owners override commands, by device id.
	pub fn overriding(&self) -> Vec<DeviceId> {
		self.batteries.iter().filter(|b| b.overrides).map(|b| b.spec.device_id()).collect()
	}

	/// Takes in a command for battery `index`.
	pub fn command(&mut self, index: u32, payload: &[u8], now_ms: u64) {
		let Some(simulated) = self.batteries.get_mut(index as usize) else {
			tracing::warn!(index, "command for a battery the fleet does not have");
			return;
		};
		if simulated.overrides {
			return;
		}
		match JsonCommand::parse(payload) {
			Ok(JsonCommand::Hold { power_w, revert_after_s, .. }) => {
				let lapses =
					(revert_after_s > 0).then(|| now_ms + u64::from(revert_after_s) * 1_000);
				simulated.hold = Some((power_w as f64, lapses));
			}
			Ok(JsonCommand::Release {}) => simulated.hold = None,
			Err(error) => tracing::warn!(index, %error, "fleet battery command refused"),
		}
	}

	/// Advances every battery by `dt_s` at `unix_s`.
	pub fn step(&mut self, unix_s: f64, dt_s: f64, now_ms: u64) {
		let hour = unix_s.rem_euclid(86_400.0) / 3_600.0;
		for simulated in &mut self.batteries {
			if simulated.hold.is_some_and(|(_, lapses)| lapses.is_some_and(|at| now_ms >= at)) {
				simulated.hold = None;
			}
			let battery = &mut simulated.battery;
			let reserve = f64::from(simulated.spec.reserve_soc_bp) / 10_000.0;
			let requested_w = match simulated.hold {
				Some((held_w, _)) => held_w,
				None if (9.0..15.0).contains(&hour) && battery.soc() < 0.95 => -simulated.charge_w,
				None if (17.0..23.0).contains(&hour) && battery.soc() > reserve => {
					simulated.discharge_w
				}
				None => 0.0,
			};
			simulated.power_w = battery.run(requested_w, dt_s);
			simulated.counters.add(simulated.power_w, dt_s);
		}
	}

	/// Each battery's state topic and `openvpp-json` document.
	pub fn states(&self) -> impl Iterator<Item = (String, String)> + '_ {
		self.batteries.iter().map(|simulated| {
			let state = if simulated.power_w.abs() < 1.0 { "standby" } else { "operating" };
			let doc = serde_json::json!({
				"power_w": simulated.power_w.round(),
				"energy_imported_wh": simulated.counters.imported_wh.round(),
				"energy_exported_wh": simulated.counters.exported_wh.round(),
				"soc_pct": (simulated.battery.soc() * 10_000.0).round() / 100.0,
				"state": state,
			});
			(simulated.spec.state_topic(), doc.to_string())
		})
	}

	/// What the batteries serve now, as trace lines.
	pub fn trace(&self, t_ms: u64) -> impl Iterator<Item = TraceLine> + '_ {
		self.batteries.iter().map(move |simulated| TraceLine {
			t_ms,
			device: simulated.spec.device_id(),
			power_w: simulated.power_w.round() as i64,
			imported_wh: simulated.counters.imported_wh.round() as u64,
			exported_wh: simulated.counters.exported_wh.round() as u64,
			soc_bp: Some((simulated.battery.soc() * 10_000.0).round() as u16),
		})
	}
}

#[cfg(test)]
mod tests {
	use super::*;
	use openvpp_bridge::{
		config::{Counters as CounterConfig, MqttMapping},
		mapping,
	};

	/// 2026-06-21 at the given UTC hour.
	fn at(hour: f64) -> f64 {
		1_782_000_000.0 - 1_782_000_000.0_f64.rem_euclid(86_400.0) + hour * 3_600.0
	}

	#[test]
	fn batteries_charge_at_midday_discharge_in_the_evening_and_rest_at_night() {
		let mut fleet = FleetBatteries::new(20, 0);
		fleet.step(at(11.0), 60.0, 0);
		assert!(fleet.batteries.iter().all(|b| b.power_w < -900.0), "charging from PV");
		fleet.step(at(19.0), 60.0, 0);
		assert!(fleet.batteries.iter().all(|b| b.power_w > 700.0), "covering the evening");
		fleet.step(at(3.0), 60.0, 0);
		assert!(fleet.batteries.iter().all(|b| b.power_w == 0.0));
		// Different households, different powers.
		fleet.step(at(11.0), 60.0, 0);
		let powers: std::collections::BTreeSet<i64> =
			fleet.batteries.iter().map(|b| b.power_w as i64).collect();
		assert!(powers.len() > 10, "{powers:?}");
	}

	#[test]
	fn a_battery_follows_a_hold_until_it_lapses_or_is_released() {
		let mut fleet = FleetBatteries::new(3, 0);
		let hold = br#"{"command":"hold","power_w":2000,"revert_after_s":60,"event":4}"#;
		fleet.command(1, hold, 1_000);
		fleet.step(at(3.0), 10.0, 2_000);
		assert_eq!(fleet.batteries[1].power_w.round(), 2_000.0);
		assert_eq!(fleet.batteries[0].power_w, 0.0, "only the one commanded");
		// Beyond its rating it does what it can.
		fleet.command(1, br#"{"command":"hold","power_w":-9000}"#, 3_000);
		fleet.step(at(3.0), 10.0, 4_000);
		assert_eq!(fleet.batteries[1].power_w, -f64::from(FleetBattery::new(1).max_power_w));
		fleet.command(1, br#"{"command":"release"}"#, 5_000);
		fleet.step(at(3.0), 10.0, 6_000);
		assert_eq!(fleet.batteries[1].power_w, 0.0);
		// A hold with a revert timeout lapses by itself.
		fleet.command(2, hold, 10_000);
		fleet.step(at(3.0), 10.0, 69_000);
		assert!(fleet.batteries[2].power_w > 0.0);
		fleet.step(at(3.0), 10.0, 70_000);
		assert_eq!(fleet.batteries[2].power_w, 0.0);
		// Garbage and unknown batteries change nothing.
		fleet.command(0, b"{", 0);
		fleet.command(99, hold, 0);
		fleet.step(at(3.0), 10.0, 71_000);
		assert_eq!(fleet.batteries[0].power_w, 0.0);
	}

	#[test]
	fn a_configured_share_of_owners_override() {
		let fleet = FleetBatteries::new(1_000, 10);
		let overriding = fleet.overriding().len();
		assert!((70..=130).contains(&overriding), "{overriding}");
		assert!(FleetBatteries::new(100, 0).overriding().is_empty());
		let mut fleet = FleetBatteries::new(100, 10);
		let index = fleet.batteries.iter().position(|b| b.overrides).unwrap();
		fleet.command(index as u32, br#"{"command":"hold","power_w":2000}"#, 0);
		fleet.step(at(3.0), 10.0, 1_000);
		assert_eq!(fleet.batteries[index].power_w, 0.0);
	}

	#[test]
	fn the_bridge_reads_what_a_battery_publishes() {
		let mut fleet = FleetBatteries::new(2, 0);
		for minute in 0..30 {
			fleet.step(at(11.0) + f64::from(minute) * 60.0, 60.0, 0);
		}
		let (topic, payload) = fleet.states().nth(1).unwrap();
		let line = fleet.trace(0).nth(1).unwrap();
		let source = MqttMapping::OpenvppJson {
			topic: topic.clone(),
			availability_topic: None,
			counters: CounterConfig::default(),
			max_gap_s: None,
		};
		let mapping::Update::Sample(sample) =
			mapping::parse(&source, &topic, payload.as_bytes(), 7).unwrap()
		else {
			panic!("not a sample");
		};
		assert_eq!(sample.power_w.map(i64::from), Some(line.power_w));
		assert_eq!(sample.imported_wh, Some(line.imported_wh));
		assert_eq!(sample.soc_bp, line.soc_bp);
	}
}
