//! MQTT payload formats, turned into samples.
//!
//! - **OpenVPP JSON** (one document per sample):
//!   `{"power_w": -1500, "energy_imported_wh": 12345, "energy_exported_wh": 0,
//!     "soc_pct": 55.5, "state": "ev-charging"}` — every field optional but at least one
//!   required; `power_w` follows the chain's convention (positive = delivered to the grid).
//!   A counter missing from a document (or `null`) is "not in this message": the aggregator
//!   keeps its last value. A device that has only one counter says so in its mapping
//!   (`counters = "import-only"` / `"export-only"`), and the other then counts as 0.
//! - **Tasmota** `tele/<device>/SENSOR`: `{"ENERGY": {"Power": 123, "Total": 12.345}}` with
//!   `Power` in W and `Total` (lifetime import) in kWh, optional `Export`/`TotalOut` in kWh;
//!   `tele/<device>/LWT`: `Online` / `Offline`.
//! - **Shelly** Gen2+ energy meters: `<prefix>/status/em:<id>` (`total_act_power`, W) and
//!   `<prefix>/status/emdata:<id>` (`total_act`, `total_act_ret`, Wh), or the one-channel
//!   `em1:<id>` (`act_power`) and `em1data:<id>` (`total_act_energy`, `total_act_ret_energy`);
//!   Shelly's power is positive when drawn from the grid; `<prefix>/online`: `true` / `false`.
//! - **Single value per topic** (evcc): the payload is a number (`"3200"`, `"71.5"`); the
//!   availability topic carries `online`/`offline` or `true`/`false`.
//! - **OpenVPP signed** (`openvpp-signed`, for devices that sign their own reports):
//!   `{"signed_report": "0x…"}`, the hex of the SCALE-encoded `SignedReport` (the report and
//!   the device's signature over `(genesis hash, report)`), forwarded unchanged.

use codec::Decode;
use openvpp_primitives::{DeviceState, SignedReport};
use serde_json::Value;

use crate::{
	aggregator::Sample,
	config::{Counters, EnergyUnit, MqttMapping, PowerDirection, ShellyComponent},
};

/// What a source learned about its device.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Update {
	Sample(Sample),
	/// A report the device signed itself, to forward unchanged.
	Signed(Box<SignedReport>),
	/// The device went offline (or came back), as of `at_ms` (Unix ms): stamped where it was
	/// learned, like samples, not when the bridge got round to it.
	Availability {
		online: bool,
		at_ms: u64,
	},
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
	#[error("{field} = {value}, but the device is configured with counters = \"{counters}\"")]
	UnexpectedCounter { field: &'static str, value: u64, counters: &'static str },
	#[error("not a signed report: {0}")]
	NotASignedReport(String),
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

/// An availability message received at `at_ms`.
fn availability(payload: &[u8], at_ms: u64) -> Result<Update, PayloadError> {
	let text = text(payload)?;
	let online = match text.to_ascii_lowercase().as_str() {
		"online" | "true" | "1" => true,
		"offline" | "false" | "0" => false,
		_ => return Err(PayloadError::UnknownAvailability(text.chars().take(40).collect())),
	};
	Ok(Update::Availability { online, at_ms })
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

/// Both lifetime counters of a document, in Wh. A counter the document does not carry (absent
/// or `null`) is `None`: not in this message, so the aggregator keeps its last value. (Filling
/// it with 0 would make a device that sends its counters in separate messages alternate
/// between (i, 0) and (0, e): a counter reset every time.)
fn counter_pair(
	doc: &Value,
	imported_key: &'static str,
	exported_key: &'static str,
) -> Result<(Option<u64>, Option<u64>), PayloadError> {
	let read = |key: &'static str| {
		field_f64(doc, key)?.map(|v| energy_wh(v, EnergyUnit::Wh, key)).transpose()
	};
	Ok((read(imported_key)?, read(exported_key)?))
}

/// Completes the counters of a device that has only one: the other is 0 whenever the one it
/// has comes. A non-zero value for the counter it does not have is a configuration mistake.
fn one_way_counters(
	(imported, exported): (Option<u64>, Option<u64>),
	counters: Counters,
	(imported_key, exported_key): (&'static str, &'static str),
) -> Result<(Option<u64>, Option<u64>), PayloadError> {
	let unexpected = |field, value: Option<u64>| match value {
		Some(value) if value > 0 => {
			Err(PayloadError::UnexpectedCounter { field, value, counters: counters.name() })
		}
		_ => Ok(()),
	};
	Ok(match counters {
		Counters::Both => (imported, exported),
		Counters::ImportOnly => {
			unexpected(exported_key, exported)?;
			(imported, imported.map(|_| 0))
		}
		Counters::ExportOnly => {
			unexpected(imported_key, imported)?;
			(exported.map(|_| 0), exported)
		}
	})
}

/// The signed report of an `openvpp-signed` message: `{"signed_report": "0x…"}`.
fn signed_report(payload: &[u8]) -> Result<SignedReport, PayloadError> {
	let doc = json(payload)?;
	let hex_text = doc
		.get("signed_report")
		.and_then(Value::as_str)
		.ok_or_else(|| PayloadError::NotASignedReport("no \"signed_report\" string".into()))?;
	let bytes = hex::decode(hex_text.trim_start_matches("0x"))
		.map_err(|_| PayloadError::NotASignedReport("not hex".into()))?;
	let mut input = bytes.as_slice();
	let signed = SignedReport::decode(&mut input)
		.map_err(|e| PayloadError::NotASignedReport(e.to_string()))?;
	if !input.is_empty() {
		return Err(PayloadError::NotASignedReport(format!("{} bytes left over", input.len())));
	}
	Ok(signed)
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
		MqttMapping::OpenvppSigned { topic: data_topic } => {
			if topic != data_topic {
				return Err(PayloadError::UnknownTopic(topic.into()));
			}
			return signed_report(payload).map(|signed| Update::Signed(Box::new(signed)));
		}
		MqttMapping::OpenvppJson { topic: data_topic, availability_topic, counters, .. } => {
			if availability_topic.as_deref() == Some(topic) {
				return availability(payload, now_ms);
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
			let keys = ("energy_imported_wh", "energy_exported_wh");
			(sample.imported_wh, sample.exported_wh) =
				one_way_counters(counter_pair(&doc, keys.0, keys.1)?, *counters, keys)?;
			sample.soc_bp = field_f64(&doc, "soc_pct")?.map(soc_bp_from_percent).transpose()?;
			sample.state = match doc.get("state") {
				None | Some(Value::Null) => None,
				Some(Value::String(name)) => Some(parse_state(name)?),
				Some(other) => return Err(PayloadError::UnknownState(other.to_string())),
			};
		}
		MqttMapping::Tasmota { prefix, power_direction, .. } => {
			if topic == format!("{prefix}/LWT") {
				return availability(payload, now_ms);
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
		MqttMapping::Shelly { prefix, component, id, power_direction, .. } => {
			let name = component.name();
			if topic == format!("{prefix}/online") {
				return availability(payload, now_ms);
			}
			let (power_key, drawn_key, returned_key) = match component {
				ShellyComponent::Em => ("total_act_power", "total_act", "total_act_ret"),
				ShellyComponent::Em1 => ("act_power", "total_act_energy", "total_act_ret_energy"),
			};
			if topic == format!("{prefix}/status/{name}:{id}") {
				let doc = json(payload)?;
				// Shelly: positive = consumed, i.e. drawn from the grid (with the default
				// direction).
				sample.power_w = field_f64(&doc, power_key)?
					.map(|v| watts(v, power_key).map(|w| oriented(w, *power_direction)))
					.transpose()?;
			} else if topic == format!("{prefix}/status/{name}data:{id}") {
				let doc = json(payload)?;
				let (drawn, returned) = counter_pair(&doc, drawn_key, returned_key)?;
				(sample.imported_wh, sample.exported_wh) = match power_direction {
					PowerDirection::Import => (drawn, returned),
					PowerDirection::Export => (returned, drawn),
				};
			} else {
				return Err(PayloadError::UnknownTopic(topic.into()));
			}
		}
		MqttMapping::SingleValue {
			power_topic,
			power_direction,
			soc_topic,
			imported_energy_topic,
			exported_energy_topic,
			energy_unit,
			availability_topic,
			..
		} => {
			if availability_topic.as_deref() == Some(topic) {
				return availability(payload, now_ms);
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
		openvpp_with(Counters::Both)
	}

	fn openvpp_with(counters: Counters) -> MqttMapping {
		MqttMapping::OpenvppJson {
			topic: "openvpp/charger".into(),
			availability_topic: Some("openvpp/charger/status".into()),
			counters,
			max_gap_s: None,
		}
	}

	#[test]
	fn openvpp_signed_reports_pass_through_unchanged() {
		use codec::Encode;
		use openvpp_primitives::{
			AttestationSignature, GridResponseStatus, IntervalReport, QualityFlags,
		};
		let signed = SignedReport {
			report: IntervalReport {
				device_id: 9,
				sequence: 4,
				interval_start: 1_767_225_600,
				interval_length_s: 900,
				energy_imported_wh: 10,
				energy_exported_wh: 0,
				cumulative_imported_wh: 1_010,
				cumulative_exported_wh: 0,
				average_power_w: -40,
				peak_power_w: -60,
				soc_bp: None,
				device_state: DeviceState::Operating,
				grid_response: GridResponseStatus::Idle,
				online_s: 900,
				quality: QualityFlags::default(),
			},
			signature: AttestationSignature::Sr25519(sp_core::sr25519::Signature::from_raw(
				[7; 64],
			)),
		};
		let mapping = MqttMapping::OpenvppSigned { topic: "meter/report".into() };
		let payload = format!(r#"{{"signed_report": "0x{}"}}"#, hex::encode(signed.encode()));
		assert_eq!(
			parse(&mapping, "meter/report", payload.as_bytes(), 1),
			Ok(Update::Signed(Box::new(signed.clone())))
		);
		// Truncated, padded, not hex, or missing: refused.
		let hex = hex::encode(signed.encode());
		for bad in [
			format!(r#"{{"signed_report": "0x{}"}}"#, &hex[..hex.len() - 2]),
			format!(r#"{{"signed_report": "0x{hex}00"}}"#),
			r#"{"signed_report": "zz"}"#.to_string(),
			r#"{"report": "0x00"}"#.to_string(),
		] {
			assert!(
				matches!(
					parse(&mapping, "meter/report", bad.as_bytes(), 1),
					Err(PayloadError::NotASignedReport(_))
				),
				"{bad}"
			);
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
		// Stamped when received, like samples.
		assert_eq!(
			parse(&openvpp(), "openvpp/charger/status", b"offline", 9),
			Ok(Update::Availability { online: false, at_ms: 9 })
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
			max_gap_s: None,
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
		assert_eq!(
			parse(&mapping, "tele/ems/LWT", b"Offline", 5),
			Ok(Update::Availability { online: false, at_ms: 5 })
		);
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
			max_gap_s: None,
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
			Ok(Update::Availability { online: true, at_ms: 1 })
		);
		assert!(matches!(
			parse(&mapping, "evcc/loadpoints/1/chargePower", b"NaN", 1),
			Err(PayloadError::NotANumber(_))
		));
	}

	fn counters(update: Update) -> (Option<u64>, Option<u64>) {
		match update {
			Update::Sample(sample) => (sample.imported_wh, sample.exported_wh),
			other => panic!("{other:?}"),
		}
	}

	#[test]
	fn openvpp_json_counters_missing_from_a_document_are_not_in_it() {
		// A device with both counters that sends them in separate messages: neither message
		// says anything about the other counter.
		let import = parse(&openvpp(), "openvpp/charger", br#"{"energy_imported_wh": 42}"#, 1);
		assert_eq!(counters(import.unwrap()), (Some(42), None));
		let export = parse(&openvpp(), "openvpp/charger", br#"{"energy_exported_wh": 7}"#, 2);
		assert_eq!(counters(export.unwrap()), (None, Some(7)));
		let null = parse(
			&openvpp(),
			"openvpp/charger",
			br#"{"energy_imported_wh": 42, "energy_exported_wh": null}"#,
			1,
		);
		assert_eq!(counters(null.unwrap()), (Some(42), None));
		// No counter at all: nothing is invented.
		let power = parse(&openvpp(), "openvpp/charger", br#"{"power_w": -10}"#, 1);
		assert_eq!(counters(power.unwrap()), (None, None));
	}

	/// Reports of a device sending `payloads` (offset in s, JSON) over one 60 s interval.
	fn report_of(
		mapping: &MqttMapping,
		payloads: &[(u64, String)],
	) -> openvpp_primitives::IntervalReport {
		use crate::aggregator::{Aggregator, DeviceProgress};
		const T0_MS: u64 = 1_767_225_600_000;
		let mut aggregator = Aggregator::new(1, 60, 60_000, T0_MS);
		let mut progress = DeviceProgress::default();
		// An interval before, so that the one reported carries its readings.
		for (offset_s, payload) in payloads {
			let Update::Sample(sample) =
				parse(mapping, "openvpp/charger", payload.as_bytes(), T0_MS + offset_s * 1_000)
					.unwrap()
			else {
				panic!()
			};
			assert!(aggregator.on_sample(sample));
			if *offset_s == 59 {
				aggregator.close(&mut progress);
			}
		}
		aggregator.close(&mut progress)
	}

	#[test]
	fn a_device_sending_its_counters_separately_is_never_reset() {
		use openvpp_primitives::QualityFlags;
		// Import and export alternate, one per message, both growing.
		let payloads: Vec<(u64, String)> = (0..12u64)
			.map(|k| {
				let offset = if k == 5 {
					59
				} else if k == 11 {
					119
				} else {
					k * 10
				};
				let field = if k % 2 == 0 { "energy_imported_wh" } else { "energy_exported_wh" };
				(offset, format!(r#"{{"power_w": 100, "{field}": {}}}"#, 1_000 + k))
			})
			.collect();
		let report = report_of(&openvpp(), &payloads);
		assert!(!report.quality.contains(QualityFlags::COUNTER_RESET), "{report:?}");
		assert!(!report.quality.contains(QualityFlags::ESTIMATED), "{report:?}");
		// 1 004 → 1 010 imported, 1 005 → 1 011 exported.
		assert_eq!((report.energy_imported_wh, report.energy_exported_wh), (6, 6));
	}

	#[test]
	fn a_one_way_device_has_its_other_counter_at_zero() {
		use openvpp_primitives::QualityFlags;
		let pv = openvpp_with(Counters::ExportOnly);
		let update =
			parse(&pv, "openvpp/charger", br#"{"power_w": 2500, "energy_exported_wh": 81234}"#, 1);
		assert_eq!(counters(update.unwrap()), (Some(0), Some(81_234)));
		// Power alone is no counter reading: nothing is filled in.
		let power = parse(&pv, "openvpp/charger", br#"{"power_w": 2500}"#, 1);
		assert_eq!(counters(power.unwrap()), (None, None));
		// Energy comes from the counter, not from integrating power.
		let payloads: Vec<(u64, String)> =
			[(0u64, 1_000u64), (30, 1_005), (59, 1_010), (90, 1_020), (119, 1_030)]
				.into_iter()
				.map(|(at, e)| (at, format!(r#"{{"power_w": 1200, "energy_exported_wh": {e}}}"#)))
				.collect();
		let report = report_of(&pv, &payloads);
		assert_eq!((report.energy_imported_wh, report.energy_exported_wh), (0, 20));
		assert_eq!(report.quality.0 & QualityFlags::ESTIMATED, 0, "{report:?}");

		let load = openvpp_with(Counters::ImportOnly);
		let update = parse(&load, "openvpp/charger", br#"{"energy_imported_wh": 42}"#, 1);
		assert_eq!(counters(update.unwrap()), (Some(42), Some(0)));
		// A counter the device is configured not to have is refused (unless it reads 0).
		assert_eq!(
			parse(
				&load,
				"openvpp/charger",
				br#"{"energy_imported_wh": 42, "energy_exported_wh": 5}"#,
				1
			),
			Err(PayloadError::UnexpectedCounter {
				field: "energy_exported_wh",
				value: 5,
				counters: "import-only"
			})
		);
		let zero = parse(
			&load,
			"openvpp/charger",
			br#"{"energy_imported_wh": 42, "energy_exported_wh": 0}"#,
			1,
		);
		assert_eq!(counters(zero.unwrap()), (Some(42), Some(0)));
	}

	fn shelly(component: ShellyComponent, id: u8, power_direction: PowerDirection) -> MqttMapping {
		MqttMapping::Shelly {
			prefix: "shellypro3em-0cb815fc1234".into(),
			component,
			id,
			power_direction,
			max_gap_s: None,
		}
	}

	/// `em:0` status of a Pro 3EM (fields as in Shelly's EM.GetStatus), exporting 1.47 kW.
	const PRO_3EM_STATUS: &[u8] = br#"{"id":0,"a_current":2.154,"a_voltage":231.4,"a_act_power":-470.2,"a_aprt_power":498.4,"a_pf":-0.94,"a_freq":50.0,"b_current":2.201,"b_voltage":230.9,"b_act_power":-495.9,"b_aprt_power":508.1,"b_pf":-0.97,"b_freq":50.0,"c_current":2.187,"c_voltage":232.0,"c_act_power":-505.1,"c_aprt_power":507.4,"c_pf":-0.99,"c_freq":50.0,"n_current":null,"total_current":6.542,"total_act_power":-1471.2,"total_aprt_power":1513.9,"user_calibrated_phase":[]}"#;
	/// `emdata:0` of the same meter (EMData.GetStatus), Wh.
	const PRO_3EM_DATA: &[u8] = br#"{"id":0,"a_total_act_energy":1843512.39,"a_total_act_ret_energy":402210.11,"b_total_act_energy":1732001.58,"b_total_act_ret_energy":398811.87,"c_total_act_energy":1660450.02,"c_total_act_ret_energy":401907.33,"total_act":5235963.99,"total_act_ret":1202929.31}"#;

	#[test]
	fn shelly_pro_3em() {
		let mapping = shelly(ShellyComponent::Em, 0, PowerDirection::Import);
		let power = parse(&mapping, "shellypro3em-0cb815fc1234/status/em:0", PRO_3EM_STATUS, 7);
		// Shelly's negative active power is returned to the grid: delivered, positive here.
		assert_eq!(
			power,
			Ok(Update::Sample(Sample { at_ms: 7, power_w: Some(1_471), ..Default::default() }))
		);
		let energy = parse(&mapping, "shellypro3em-0cb815fc1234/status/emdata:0", PRO_3EM_DATA, 7);
		assert_eq!(
			energy,
			Ok(Update::Sample(Sample {
				at_ms: 7,
				imported_wh: Some(5_235_964),
				exported_wh: Some(1_202_929),
				..Default::default()
			}))
		);
		assert_eq!(
			parse(&mapping, "shellypro3em-0cb815fc1234/online", b"false", 7),
			Ok(Update::Availability { online: false, at_ms: 7 })
		);
		// Another instance's topic, or a one-channel document, is not this device's data.
		assert!(matches!(
			parse(&mapping, "shellypro3em-0cb815fc1234/status/em:1", PRO_3EM_STATUS, 7),
			Err(PayloadError::UnknownTopic(_))
		));
		assert_eq!(
			parse(
				&mapping,
				"shellypro3em-0cb815fc1234/status/em:0",
				br#"{"id":0,"act_power":5.0}"#,
				7
			),
			Err(PayloadError::Empty)
		);
		assert!(matches!(
			parse(&mapping, "shellypro3em-0cb815fc1234/status/emdata:0", br#"{"total_act":-1}"#, 7),
			Err(PayloadError::OutOfRange { .. })
		));
	}

	#[test]
	fn shelly_one_channel_em1_and_reversed_clamp() {
		// Pro EM channel 1 (EM1.GetStatus / EM1Data.GetStatus), drawing 5 kW.
		let mapping = shelly(ShellyComponent::Em1, 1, PowerDirection::Import);
		let status = br#"{"id":1,"current":22.780,"voltage":224.6,"act_power":5080.3,"aprt_power":5142.4,"pf":0.99,"freq":50.0,"calibration":"factory"}"#;
		let data = br#"{"id":1,"total_act_energy":6644.90,"total_act_ret_energy":2595.26}"#;
		assert_eq!(
			parse(&mapping, "shellypro3em-0cb815fc1234/status/em1:1", status, 3),
			Ok(Update::Sample(Sample { at_ms: 3, power_w: Some(-5_080), ..Default::default() }))
		);
		assert_eq!(
			counters(
				parse(&mapping, "shellypro3em-0cb815fc1234/status/em1data:1", data, 3).unwrap()
			),
			(Some(6_645), Some(2_595))
		);
		// A clamp on a PV inverter that reads production as positive: `export` flips power
		// and swaps the counters.
		let pv = shelly(ShellyComponent::Em1, 1, PowerDirection::Export);
		assert_eq!(
			parse(&pv, "shellypro3em-0cb815fc1234/status/em1:1", status, 3),
			Ok(Update::Sample(Sample { at_ms: 3, power_w: Some(5_080), ..Default::default() }))
		);
		assert_eq!(
			counters(parse(&pv, "shellypro3em-0cb815fc1234/status/em1data:1", data, 3).unwrap()),
			(Some(2_595), Some(6_645))
		);
		// Three-phase topics are not this mapping's.
		assert!(matches!(
			parse(&mapping, "shellypro3em-0cb815fc1234/status/emdata:0", PRO_3EM_DATA, 3),
			Err(PayloadError::UnknownTopic(_))
		));
	}
}
