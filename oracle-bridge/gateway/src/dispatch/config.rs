//! How the bridge commands each device in demand-response events (`control` of a
//! `[[device]]`), and the dispatcher's own settings (`[dispatch]`).

use std::time::Duration;

use serde::Deserialize;

use super::actuate::{Control, StorageLink};
use crate::{
	config::{ConfigError, MqttMapping, SourceConfig},
	device_command::command_topic,
};

/// The dispatcher's settings.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DispatchConfig {
	/// Join open events for controlled devices whose owners let the gateway join.
	#[serde(default = "default_auto_join")]
	pub auto_join: bool,
	/// How often the chain is looked at (s); starts and ends of events are kept to the second
	/// regardless.
	#[serde(default = "default_check_every_s")]
	pub check_every_s: u64,
}

impl Default for DispatchConfig {
	fn default() -> Self {
		DispatchConfig { auto_join: default_auto_join(), check_every_s: default_check_every_s() }
	}
}

fn default_auto_join() -> bool {
	true
}
fn default_check_every_s() -> u64 {
	5
}

/// How a device is commanded.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(tag = "type", rename_all = "kebab-case", deny_unknown_fields)]
pub enum ControlConfig {
	/// SunSpec storage control (model 124) at the device's Modbus address.
	SunspecStorage,
	/// `openvpp-json` `hold` / `release` on the `…/set` topic next to the device's state topic.
	OpenvppJson,
	/// An evcc loadpoint's current limit.
	EvccCurrent {
		/// Where the limit is set (A), e.g. `evcc/loadpoints/1/maxCurrent/set`.
		set_topic: String,
		/// Where evcc states the limit in force, e.g. `evcc/loadpoints/1/maxCurrent`.
		state_topic: String,
		/// Charging power per ampere of current limit (W/A; 690 for three phases at 230 V).
		#[serde(default = "default_watts_per_amp")]
		watts_per_amp: f64,
		/// The loadpoint's highest current (A).
		#[serde(default = "default_max_current_a")]
		max_current_a: f64,
	},
	/// A Tasmota relay in front of a load that can be switched off: `cmnd/<device>/POWER`,
	/// answered on `stat/<device>/POWER`, beside the device's `tele/<device>` prefix.
	TasmotaRelay,
}

fn default_watts_per_amp() -> f64 {
	690.0
}
fn default_max_current_a() -> f64 {
	16.0
}

/// Checks a device's control against its source and resolves its topics or Modbus link;
/// `field` names it in errors.
pub fn resolve(
	control: &ControlConfig,
	source: &SourceConfig,
	field: &str,
) -> Result<Control, ConfigError> {
	let invalid = |message: &str| ConfigError::Invalid {
		field: field.to_string(),
		message: message.to_string(),
	};
	match (control, source) {
		(ControlConfig::SunspecStorage, SourceConfig::Modbus(modbus)) => {
			Ok(Control::Storage(StorageLink::new(
				modbus.address,
				modbus.unit_id,
				Duration::from_millis(modbus.timeout_ms),
				modbus.sunspec_base,
			)))
		}
		(ControlConfig::SunspecStorage, _) => Err(invalid("sunspec-storage needs a modbus source")),
		(
			ControlConfig::OpenvppJson,
			SourceConfig::Mqtt(MqttMapping::OpenvppJson { topic, .. }),
		) => Ok(Control::Json { topic: command_topic(topic) }),
		(ControlConfig::OpenvppJson, _) => {
			Err(invalid("openvpp-json control needs an openvpp-json MQTT source"))
		}
		(
			ControlConfig::EvccCurrent { set_topic, state_topic, watts_per_amp, max_current_a },
			SourceConfig::Mqtt(_),
		) => {
			for topic in [set_topic, state_topic] {
				if topic.is_empty() || topic.contains('+') || topic.contains('#') {
					return Err(invalid("topics must be non-empty and without wildcards"));
				}
			}
			if !(watts_per_amp.is_finite() && *watts_per_amp > 0.0) {
				return Err(invalid("watts_per_amp must be positive"));
			}
			if !(max_current_a.is_finite() && *max_current_a >= 6.0) {
				return Err(invalid("max_current_a must be at least 6 A"));
			}
			Ok(Control::Current {
				set_topic: set_topic.clone(),
				state_topic: state_topic.clone(),
				watts_per_amp: *watts_per_amp,
				max_current_a: *max_current_a,
			})
		}
		(ControlConfig::EvccCurrent { .. }, _) => {
			Err(invalid("evcc-current control needs an MQTT source"))
		}
		(ControlConfig::TasmotaRelay, SourceConfig::Mqtt(MqttMapping::Tasmota { prefix, .. })) => {
			let device = prefix.strip_prefix("tele/").filter(|d| !d.is_empty() && !d.contains('/'));
			let device = device.ok_or_else(|| {
				invalid("tasmota-relay needs the source prefix in the form tele/<device>")
			})?;
			Ok(Control::Relay {
				command_topic: format!("cmnd/{device}/POWER"),
				state_topic: format!("stat/{device}/POWER"),
			})
		}
		(ControlConfig::TasmotaRelay, _) => {
			Err(invalid("tasmota-relay control needs a tasmota MQTT source"))
		}
	}
}

#[cfg(test)]
mod tests {
	use super::*;
	use crate::config::{Counters, ModbusSource, PowerDirection};

	fn modbus() -> SourceConfig {
		SourceConfig::Modbus(ModbusSource {
			address: "127.0.0.1:502".parse().unwrap(),
			unit_id: 1,
			poll_interval_ms: 1_000,
			timeout_ms: 1_000,
			sunspec_base: None,
		})
	}

	fn json() -> SourceConfig {
		SourceConfig::Mqtt(MqttMapping::OpenvppJson {
			topic: "openvpp/devices/charger/state".into(),
			availability_topic: None,
			counters: Counters::default(),
			max_gap_s: None,
		})
	}

	fn tasmota(prefix: &str) -> SourceConfig {
		SourceConfig::Mqtt(MqttMapping::Tasmota {
			prefix: prefix.into(),
			power_direction: PowerDirection::default(),
			max_gap_s: None,
		})
	}

	#[test]
	fn controls_resolve_against_their_sources() {
		assert!(matches!(
			resolve(&ControlConfig::SunspecStorage, &modbus(), "c").unwrap(),
			Control::Storage(_)
		));
		assert!(matches!(
			resolve(&ControlConfig::OpenvppJson, &json(), "c").unwrap(),
			Control::Json { topic } if topic == "openvpp/devices/charger/set"
		));
		assert!(matches!(
			resolve(&ControlConfig::TasmotaRelay, &tasmota("tele/ems"), "c").unwrap(),
			Control::Relay { command_topic, state_topic }
				if command_topic == "cmnd/ems/POWER" && state_topic == "stat/ems/POWER"
		));
	}

	#[test]
	fn mismatched_controls_are_refused_with_the_field() {
		for (control, source) in [
			(ControlConfig::SunspecStorage, json()),
			(ControlConfig::OpenvppJson, modbus()),
			(ControlConfig::TasmotaRelay, json()),
			(ControlConfig::TasmotaRelay, tasmota("ems")),
		] {
			let Err(error) = resolve(&control, &source, "device[2] (x).control") else {
				panic!("{control:?} accepted");
			};
			assert!(error.to_string().contains("device[2] (x).control"), "{error}");
		}
		let bad_current = ControlConfig::EvccCurrent {
			set_topic: "a/#".into(),
			state_topic: "b".into(),
			watts_per_amp: 690.0,
			max_current_a: 16.0,
		};
		assert!(resolve(&bad_current, &json(), "c").is_err());
		let weak = ControlConfig::EvccCurrent {
			set_topic: "a".into(),
			state_topic: "b".into(),
			watts_per_amp: 0.0,
			max_current_a: 16.0,
		};
		assert!(resolve(&weak, &json(), "c").is_err());
	}
}
