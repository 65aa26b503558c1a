//! MQTT payload formats, turned into samples.
//!
//! - **OpenVPP JSON** (one document per sample):
//!   `{"power_w": -1500, "energy_imported_wh": 12345, "energy_exported_wh": 0,
//!     "soc_pct": 55.5, "state": "ev-charging"}` — every field optional but at least one
//!   required; `power_w` follows the chain's convention (positive = delivered to the grid).
//! - **Tasmota** `tele/<device>/SENSOR`: `{"ENERGY": {"Power": 123, "Total": 12.345}}` with
//!   `Power` in W and `Total` (lifetime import) in kWh, optional `Export`/`TotalOut` in kWh;
//!   `tele/<device>/LWT`: `Online` / `Offline`.
//! - **Single value per topic** (evcc): the payload is a number (`"3200"`, `"71.5"`); the
//!   availability topic carries `online`/`offline` or `true`/`false`.

use openvpp_primitives::DeviceState;
use serde_json::Value;

use crate::{
	aggregator::Sample,
	config::{EnergyUnit, MqttMapping, PowerDirection},
};

/// What one MQTT message says about its device.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Update {
	Sample(Sample),
	Availability(bool),
}

/// Why a payload was refused.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum PayloadError {
	#[error("payload is not UTF-8")]
	NotUtf8,
	#[error("payload is not JSON: {0}")]
	NotJson(String),
	#[error("payload {0:?} is not a number")]
	NotANumber(String),
	#[error("no usable field in payload")]
	Empty,
	#[error("{field} = {value} is out of range")]
	OutOfRange { field: &'static str, value: f64 },
	#[error("unknown device state {0:?}")]
	UnknownState(String),
	#[error("unknown availability payload {0:?}")]
	UnknownAvailability(String),
	#[error("topic {0:?} is not part of this device's mapping")]
	UnknownTopic(String),
}

fn text(payload: &[u8]) -> Result<&str, PayloadError> {
	std::str::from_utf8(payload).map(str::trim).map_err(|_| PayloadError::NotUtf8)
}

fn number(payload: &[u8]) -> Result<f64, PayloadError> {
	let text = text(payload)?;
	text.parse::<f64>()
		.ok()
		.filter(|v| v.is_finite())
		.ok_or_else(|| PayloadError::NotANumber(text.chars().take(40).collect()))
}

fn watts(value: f64, field: &'static str) -> Result<i32, PayloadError> {
	if value.abs() > f64::from(i32::MAX) {
		return Err(PayloadError::OutOfRange { field, value });
	}
	Ok(value.round() as i32)
}

fn energy_wh(value: f64, unit: EnergyUnit, field: &'static str) -> Result<u64, PayloadError> {
	let wh = match unit {
		EnergyUnit::Wh => value,
		EnergyUnit::Kwh => value * 1_000.0,
	};
	if !(0.0..=1e15).contains(&wh) {
		return Err(PayloadError::OutOfRange { field, value });
	}
	Ok(wh.round() as u64)
}

fn soc_bp_from_percent(value: f64) -> Result<u16, PayloadError> {
	if !(0.0..=100.0).contains(&value) {
		return Err(PayloadError::OutOfRange { field: "soc", value });
	}
	Ok((value * 100.0).round() as u16)
}

fn oriented(power_w: i32, direction: PowerDirection) -> i32 {
	match direction {
		PowerDirection::Export => power_w,
		PowerDirection::Import => power_w.saturating_neg(),
	}
}

/// The device state for an OpenVPP JSON `state` name.
pub fn parse_state(name: &str) -> Result<DeviceState, PayloadError> {
	Ok(match name.to_ascii_lowercase().as_str() {
		"unknown" => DeviceState::Unknown,
		"off" => DeviceState::Off,
		"sleeping" => DeviceState::Sleeping,
		"starting" => DeviceState::Starting,
		"operating" | "mppt" => DeviceState::Operating,
		"throttled" => DeviceState::Throttled,
		"shutting-down" => DeviceState::ShuttingDown,
		"fault" => DeviceState::Fault,
		"standby" => DeviceState::Standby,
		"ev-not-connected" | "a" => DeviceState::EvNotConnected,
		"ev-connected" | "b" => DeviceState::EvConnected,
		"ev-charging" | "c" => DeviceState::EvCharging,
		"ev-charging-ventilated" | "d" => DeviceState::EvChargingVentilated,
		"ev-no-power" | "e" => DeviceState::EvNoPower,
		"ev-error" | "f" => DeviceState::EvError,
		_ => return Err(PayloadError::UnknownState(name.chars().take(40).collect())),
	})
}

fn availability(payload: &[u8]) -> Result<bool, PayloadError> {
	let text = text(payload)?;
	match text.to_ascii_lowercase().as_str() {
		"online" | "true" | "1" => Ok(true),
		"offline" | "false" | "0" => Ok(false),
		_ => Err(PayloadError::UnknownAvailability(text.chars().take(40).collect())),
	}
}

fn json(payload: &[u8]) -> Result<Value, PayloadError> {
	serde_json::from_str(text(payload)?).map_err(|e| PayloadError::NotJson(e.to_string()))
}

fn field_f64(object: &Value, key: &str) -> Result<Option<f64>, PayloadError> {
	match object.get(key) {
		None | Some(Value::Null) => Ok(None),
		Some(value) => {
			value.as_f64().filter(|v| v.is_finite()).map(Some).ok_or_else(|| {
				PayloadError::NotANumber(value.to_string().chars().take(40).collect())
			})
		}
	}
}

/// Interprets a message on `topic` for a device with `mapping`, received at `now_ms`.
pub fn parse(
	mapping: &MqttMapping,
	topic: &str,
	payload: &[u8],
	now_ms: u64,
) -> Result<Update, PayloadError> {
	let mut sample = Sample { at_ms: now_ms, ..Default::default() };
	match mapping {
		MqttMapping::OpenvppJson { topic: data_topic, availability_topic } => {
			if availability_topic.as_deref() == Some(topic) {
				return availability(payload).map(Update::Availability);
			}
			if topic != data_topic {
				return Err(PayloadError::UnknownTopic(topic.into()));
			}
			let doc = json(payload)?;
			if !doc.is_object() {
				return Err(PayloadError::NotJson("expected an object".into()));
			}
			sample.power_w =
				field_f64(&doc, "power_w")?.map(|v| watts(v, "power_w")).transpose()?;
			sample.imported_wh = field_f64(&doc, "energy_imported_wh")?
				.map(|v| energy_wh(v, EnergyUnit::Wh, "energy_imported_wh"))
				.transpose()?;
			sample.exported_wh = field_f64(&doc, "energy_exported_wh")?
				.map(|v| energy_wh(v, EnergyUnit::Wh, "energy_exported_wh"))
				.transpose()?;
			sample.soc_bp = field_f64(&doc, "soc_pct")?.map(soc_bp_from_percent).transpose()?;
			sample.state = match doc.get("state") {
				None | Some(Value::Null) => None,
				Some(Value::String(name)) => Some(parse_state(name)?),
				Some(other) => return Err(PayloadError::UnknownState(other.to_string())),
			};
		}
		MqttMapping::Tasmota { prefix, power_direction } => {
			if topic == format!("{prefix}/LWT") {
				return availability(payload).map(Update::Availability);
			}
			if topic != format!("{prefix}/SENSOR") {
				return Err(PayloadError::UnknownTopic(topic.into()));
			}
			let doc = json(payload)?;
			let energy = doc.get("ENERGY").ok_or(PayloadError::Empty)?;
			sample.power_w = field_f64(energy, "Power")?
				.map(|v| watts(v, "ENERGY.Power").map(|w| oriented(w, *power_direction)))
				.transpose()?;
			let total = field_f64(energy, "Total")?
				.map(|v| energy_wh(v, EnergyUnit::Kwh, "ENERGY.Total"))
				.transpose()?;
			let export = match field_f64(energy, "Export")? {
				Some(v) => Some(v),
				None => field_f64(energy, "TotalOut")?,
			}
			.map(|v| energy_wh(v, EnergyUnit::Kwh, "ENERGY.Export"))
			.transpose()?;
			// A plug that only counts what flows through it in one direction: the other
			// counter stays at zero, which keeps the energy counter-based.
			let (imported, exported) = match power_direction {
				PowerDirection::Import => (total, total.map(|_| export.unwrap_or(0))),
				PowerDirection::Export => (total.map(|_| export.unwrap_or(0)), total),
			};
			sample.imported_wh = imported;
			sample.exported_wh = exported;
		}
		MqttMapping::SingleValue {
			power_topic,
			power_direction,
			soc_topic,
			imported_energy_topic,
			exported_energy_topic,
			energy_unit,
			availability_topic,
		} => {
			if availability_topic.as_deref() == Some(topic) {
				return availability(payload).map(Update::Availability);
			}
			if topic == power_topic {
				sample.power_w =
					Some(oriented(watts(number(payload)?, "power")?, *power_direction));
			} else if soc_topic.as_deref() == Some(topic) {
				sample.soc_bp = Some(soc_bp_from_percent(number(payload)?)?);
			} else if imported_energy_topic.as_deref() == Some(topic) {
				sample.imported_wh =
					Some(energy_wh(number(payload)?, *energy_unit, "imported energy")?);
				if exported_energy_topic.is_none() {
					sample.exported_wh = Some(0);
				}
			} else if exported_energy_topic.as_deref() == Some(topic) {
				sample.exported_wh =
					Some(energy_wh(number(payload)?, *energy_unit, "exported energy")?);
				if imported_energy_topic.is_none() {
					sample.imported_wh = Some(0);
				}
			} else {
				return Err(PayloadError::UnknownTopic(topic.into()));
			}
		}
	}
	if sample == (Sample { at_ms: now_ms, ..Default::default() }) {
		return Err(PayloadError::Empty);
	}
	Ok(Update::Sample(sample))
}

#[cfg(test)]
mod tests {
	use super::*;

	fn openvpp() -> MqttMapping {
		MqttMapping::OpenvppJson {
			topic: "openvpp/charger".into(),
			availability_topic: Some("openvpp/charger/status".into()),
		}
	}

	#[test]
	fn openvpp_json() {
		let update = parse(
			&openvpp(),
			"openvpp/charger",
			br#"{"power_w": -7200, "energy_imported_wh": 1500, "energy_exported_wh": 0, "soc_pct": 55.55, "state": "ev-charging"}"#,
			9,
		)
		.unwrap();
		assert_eq!(
			update,
			Update::Sample(Sample {
				at_ms: 9,
				power_w: Some(-7_200),
				imported_wh: Some(1_500),
				exported_wh: Some(0),
				soc_bp: Some(5_555),
				state: Some(DeviceState::EvCharging),
			})
		);
		assert_eq!(
			parse(&openvpp(), "openvpp/charger/status", b"offline", 9),
			Ok(Update::Availability(false))
		);
	}

	#[test]
	fn malformed_payloads_are_errors() {
		assert!(matches!(
			parse(&openvpp(), "openvpp/charger", b"{not json", 0),
			Err(PayloadError::NotJson(_))
		));
		assert_eq!(parse(&openvpp(), "openvpp/charger", b"{}", 0), Err(PayloadError::Empty));
		assert!(matches!(
			parse(&openvpp(), "openvpp/charger", br#"{"soc_pct": 140}"#, 0),
			Err(PayloadError::OutOfRange { field: "soc", .. })
		));
		assert!(matches!(
			parse(&openvpp(), "openvpp/charger", br#"{"power_w": "lots"}"#, 0),
			Err(PayloadError::NotANumber(_))
		));
		assert!(matches!(
			parse(&openvpp(), "openvpp/charger", br#"{"state": "dancing"}"#, 0),
			Err(PayloadError::UnknownState(_))
		));
		assert_eq!(
			parse(&openvpp(), "openvpp/charger", &[0xff, 0xfe], 0),
			Err(PayloadError::NotUtf8)
		);
		assert!(matches!(
			parse(&openvpp(), "elsewhere", b"{}", 0),
			Err(PayloadError::UnknownTopic(_))
		));
	}

	#[test]
	fn tasmota_sensor_and_lwt() {
		let mapping = MqttMapping::Tasmota {
			prefix: "tele/ems".into(),
			power_direction: PowerDirection::Import,
		};
		let update = parse(
			&mapping,
			"tele/ems/SENSOR",
			br#"{"Time":"2026-01-01T00:00:00","ENERGY":{"Total":12.3456,"Today":1.2,"Power":1500,"Voltage":231}}"#,
			5,
		)
		.unwrap();
		assert_eq!(
			update,
			Update::Sample(Sample {
				at_ms: 5,
				power_w: Some(-1_500),
				imported_wh: Some(12_346),
				exported_wh: Some(0),
				..Default::default()
			})
		);
		assert_eq!(parse(&mapping, "tele/ems/LWT", b"Offline", 5), Ok(Update::Availability(false)));
		assert_eq!(
			parse(&mapping, "tele/ems/SENSOR", br#"{"Time":"x"}"#, 5),
			Err(PayloadError::Empty)
		);
	}

	#[test]
	fn single_value_topics() {
		let mapping = MqttMapping::SingleValue {
			power_topic: "evcc/loadpoints/1/chargePower".into(),
			power_direction: PowerDirection::Import,
			soc_topic: Some("evcc/loadpoints/1/vehicleSoc".into()),
			imported_energy_topic: Some("evcc/loadpoints/1/chargeTotalImport".into()),
			exported_energy_topic: None,
			energy_unit: EnergyUnit::Kwh,
			availability_topic: Some("evcc/loadpoints/1/connected".into()),
		};
		let power = parse(&mapping, "evcc/loadpoints/1/chargePower", b"11000", 1).unwrap();
		assert_eq!(
			power,
			Update::Sample(Sample { at_ms: 1, power_w: Some(-11_000), ..Default::default() })
		);
		let soc = parse(&mapping, "evcc/loadpoints/1/vehicleSoc", b"71.5", 1).unwrap();
		assert_eq!(
			soc,
			Update::Sample(Sample { at_ms: 1, soc_bp: Some(7_150), ..Default::default() })
		);
		let energy =
			parse(&mapping, "evcc/loadpoints/1/chargeTotalImport", b"1234.5678", 1).unwrap();
		assert_eq!(
			energy,
			Update::Sample(Sample {
				at_ms: 1,
				imported_wh: Some(1_234_568),
				exported_wh: Some(0),
				..Default::default()
			})
		);
		assert_eq!(
			parse(&mapping, "evcc/loadpoints/1/connected", b"true", 1),
			Ok(Update::Availability(true))
		);
		assert!(matches!(
			parse(&mapping, "evcc/loadpoints/1/chargePower", b"NaN", 1),
			Err(PayloadError::NotANumber(_))
		));
	}
}
