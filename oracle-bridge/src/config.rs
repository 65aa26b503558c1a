//! The bridge's TOML configuration, validated before anything starts.
//!
//! ```toml
//! interval_s = 900                     # report interval, aligned to wall-clock time
//!
//! [chain]
//! url = "ws://127.0.0.1:9944"
//! gateway_seed = "//Ferdie"            # or gateway_seed_file = "gateway.seed"
//!
//! [storage]
//! keystore = "keystore.json"           # device attestation keys (mode 0600)
//! outbox = "outbox.redb"               # durable outbox of signed reports
//!
//! [submission]
//! batch_size = 500
//! max_in_flight = 4
//!
//! [mqtt]
//! host = "127.0.0.1"
//! port = 1883
//!
//! [[device]]
//! id = 3
//! name = "home-battery"
//! source = { type = "modbus", address = "127.0.0.1:15023", unit_id = 1 }
//! ```
//!
//! See docs/gateway-integration.md for every option.

use std::{
	collections::BTreeSet,
	fmt,
	net::SocketAddr,
	path::{Path, PathBuf},
};

use openvpp_primitives::DeviceId;
use serde::Deserialize;

/// Longest interval the chain accepts (s).
pub const MAX_INTERVAL_S: u32 = 3_600;

/// A configuration problem, with where it is.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
	#[error("cannot read {path}: {source}")]
	Read { path: PathBuf, source: std::io::Error },
	#[error("{path}: {message}")]
	Parse { path: PathBuf, message: String },
	#[error("{field}: {message}")]
	Invalid { field: String, message: String },
}

fn invalid(field: impl Into<String>, message: impl Into<String>) -> ConfigError {
	ConfigError::Invalid { field: field.into(), message: message.into() }
}

/// The whole configuration.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BridgeConfig {
	/// Report interval (s); intervals start at multiples of it (Unix time).
	pub interval_s: u32,
	pub chain: ChainConfig,
	pub storage: StorageConfig,
	#[serde(default)]
	pub submission: SubmissionConfig,
	#[serde(default)]
	pub metrics: MetricsConfig,
	pub mqtt: Option<MqttConfig>,
	#[serde(default, rename = "device")]
	pub devices: Vec<DeviceConfig>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChainConfig {
	/// WebSocket JSON-RPC endpoint of a node.
	pub url: String,
	/// Secret URI of the gateway account (e.g. `//Ferdie` on a dev chain).
	pub gateway_seed: Option<String>,
	/// A file holding the gateway account's secret URI (mode 0600).
	pub gateway_seed_file: Option<PathBuf>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StorageConfig {
	/// JSON file with the devices' attestation keys; must not be readable by group or others.
	pub keystore: PathBuf,
	/// The durable outbox (a redb database file).
	pub outbox: PathBuf,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SubmissionConfig {
	/// Reports per batch extrinsic (the chain accepts at most 1 000).
	#[serde(default = "default_batch_size")]
	pub batch_size: u32,
	/// Batches submitted and not yet finalized at any time.
	#[serde(default = "default_max_in_flight")]
	pub max_in_flight: usize,
	/// How long to wait for a batch to be finalized before resubmitting its reports (s).
	#[serde(default = "default_finality_timeout_s")]
	pub finality_timeout_s: u64,
}

fn default_batch_size() -> u32 {
	500
}
fn default_max_in_flight() -> usize {
	4
}
fn default_finality_timeout_s() -> u64 {
	120
}

impl Default for SubmissionConfig {
	fn default() -> Self {
		SubmissionConfig {
			batch_size: default_batch_size(),
			max_in_flight: default_max_in_flight(),
			finality_timeout_s: default_finality_timeout_s(),
		}
	}
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MetricsConfig {
	/// Address of the Prometheus endpoint (`/metrics`); none if absent.
	pub listen: Option<SocketAddr>,
	/// Seconds between summary log lines (0 = none).
	#[serde(default)]
	pub summary_every_s: u64,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MqttConfig {
	pub host: String,
	#[serde(default = "default_mqtt_port")]
	pub port: u16,
	/// Client id; defaults to `openvpp-bridge-<pid>`.
	pub client_id: Option<String>,
	#[serde(default = "default_keep_alive_s")]
	pub keep_alive_s: u64,
}

fn default_mqtt_port() -> u16 {
	1883
}
fn default_keep_alive_s() -> u64 {
	15
}

/// One device the bridge reads and reports for.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeviceConfig {
	/// The device's id in the on-chain registry.
	pub id: DeviceId,
	/// A name for logs and metrics.
	pub name: String,
	pub source: SourceConfig,
}

/// Where a device's samples come from.
#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "type", rename_all = "kebab-case")]
pub enum SourceConfig {
	/// An MQTT topic (or topics) on the broker of the `[mqtt]` section.
	Mqtt(MqttMapping),
	/// A SunSpec device over Modbus TCP.
	Modbus(ModbusSource),
}

/// A SunSpec device over Modbus TCP.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModbusSource {
	pub address: SocketAddr,
	#[serde(default = "default_unit_id")]
	pub unit_id: u8,
	#[serde(default = "default_poll_ms")]
	pub poll_interval_ms: u64,
	#[serde(default = "default_timeout_ms")]
	pub timeout_ms: u64,
	/// Where the "SunS" marker is; searched at 40000, 0 and 50000 if absent.
	pub sunspec_base: Option<u16>,
}

fn default_unit_id() -> u8 {
	1
}
fn default_poll_ms() -> u64 {
	1_000
}
fn default_timeout_ms() -> u64 {
	2_000
}

/// How an MQTT device's messages map to samples.
#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "format", rename_all = "kebab-case", deny_unknown_fields)]
pub enum MqttMapping {
	/// One JSON document per sample in OpenVPP's schema (see the gateway guide).
	OpenvppJson {
		topic: String,
		/// Topic carrying `online` / `offline` (e.g. the device's last will).
		availability_topic: Option<String>,
	},
	/// Tasmota: `tele/<device>/SENSOR` JSON with `ENERGY.Power` (W) and `ENERGY.Total` (kWh),
	/// and `tele/<device>/LWT` with `Online` / `Offline`.
	Tasmota {
		/// The `tele/<device>` prefix.
		prefix: String,
		/// Whether the measured power is drawn from the grid (a load; the default) or delivered.
		#[serde(default)]
		power_direction: PowerDirection,
	},
	/// One value per topic, as evcc publishes them (e.g. `evcc/site/pvPower`).
	SingleValue {
		/// Power in W.
		power_topic: String,
		#[serde(default)]
		power_direction: PowerDirection,
		/// State of charge in percent.
		soc_topic: Option<String>,
		/// Lifetime energy drawn, in `energy_unit`.
		imported_energy_topic: Option<String>,
		/// Lifetime energy delivered, in `energy_unit`.
		exported_energy_topic: Option<String>,
		#[serde(default)]
		energy_unit: EnergyUnit,
		/// Topic carrying `online` / `offline` (or `true` / `false`).
		availability_topic: Option<String>,
	},
}

/// Which way a source's positive power flows.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum PowerDirection {
	/// Positive = drawn from the grid (loads, chargers, meters' import).
	#[default]
	Import,
	/// Positive = delivered to the grid (PV, discharge).
	Export,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EnergyUnit {
	#[default]
	Wh,
	Kwh,
}

impl MqttMapping {
	/// Every topic the mapping listens to.
	pub fn topics(&self) -> Vec<String> {
		match self {
			MqttMapping::OpenvppJson { topic, availability_topic } => {
				std::iter::once(topic.clone()).chain(availability_topic.clone()).collect()
			}
			MqttMapping::Tasmota { prefix, .. } => {
				vec![format!("{prefix}/SENSOR"), format!("{prefix}/LWT")]
			}
			MqttMapping::SingleValue {
				power_topic,
				soc_topic,
				imported_energy_topic,
				exported_energy_topic,
				availability_topic,
				..
			} => std::iter::once(power_topic.clone())
				.chain(soc_topic.clone())
				.chain(imported_energy_topic.clone())
				.chain(exported_energy_topic.clone())
				.chain(availability_topic.clone())
				.collect(),
		}
	}
}

impl fmt::Display for SourceConfig {
	fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
		match self {
			SourceConfig::Mqtt(mapping) => write!(f, "mqtt {:?}", mapping.topics()),
			SourceConfig::Modbus(modbus) => {
				write!(f, "modbus {} unit {}", modbus.address, modbus.unit_id)
			}
		}
	}
}

impl BridgeConfig {
	/// Reads, parses and validates a configuration file. Relative paths in it are resolved
	/// against the file's directory.
	pub fn load(path: &Path) -> Result<BridgeConfig, ConfigError> {
		let text = std::fs::read_to_string(path)
			.map_err(|source| ConfigError::Read { path: path.to_path_buf(), source })?;
		let mut config = BridgeConfig::parse(&text)
			.map_err(|message| ConfigError::Parse { path: path.to_path_buf(), message })?;
		let base = path.parent().unwrap_or(Path::new("."));
		config.resolve_paths(base);
		config.validate()?;
		Ok(config)
	}

	/// Parses TOML text (without validating).
	pub fn parse(text: &str) -> Result<BridgeConfig, String> {
		toml::from_str(text).map_err(|e| e.to_string())
	}

	fn resolve_paths(&mut self, base: &Path) {
		let resolve = |p: &mut PathBuf| {
			if p.is_relative() {
				*p = base.join(&*p);
			}
		};
		resolve(&mut self.storage.keystore);
		resolve(&mut self.storage.outbox);
		if let Some(file) = self.chain.gateway_seed_file.as_mut() {
			resolve(file);
		}
	}

	/// Checks every constraint the parser cannot express.
	pub fn validate(&self) -> Result<(), ConfigError> {
		if self.interval_s == 0 || self.interval_s > MAX_INTERVAL_S {
			return Err(invalid(
				"interval_s",
				format!("must be 1–{MAX_INTERVAL_S} s, is {}", self.interval_s),
			));
		}
		if !(self.chain.url.starts_with("ws://") || self.chain.url.starts_with("wss://")) {
			return Err(invalid(
				"chain.url",
				format!("must be a ws:// or wss:// URL, is {:?}", self.chain.url),
			));
		}
		match (&self.chain.gateway_seed, &self.chain.gateway_seed_file) {
			(Some(_), Some(_)) => {
				return Err(invalid("chain", "give gateway_seed or gateway_seed_file, not both"))
			}
			(None, None) => {
				return Err(invalid("chain", "gateway_seed or gateway_seed_file is required"))
			}
			_ => {}
		}
		let max_batch = max_batch_size();
		if self.submission.batch_size == 0 || self.submission.batch_size > max_batch {
			return Err(invalid(
				"submission.batch_size",
				format!(
					"must be 1–{max_batch} (the chain's limit), is {}",
					self.submission.batch_size
				),
			));
		}
		if self.submission.max_in_flight == 0 {
			return Err(invalid("submission.max_in_flight", "must be at least 1"));
		}
		if self.devices.is_empty() {
			return Err(invalid("device", "no [[device]] configured"));
		}
		let mut ids = BTreeSet::new();
		let mut names = BTreeSet::new();
		for (index, device) in self.devices.iter().enumerate() {
			let field = |name: &str| format!("device[{index}] ({}).{name}", device.name);
			if !ids.insert(device.id) {
				return Err(invalid(
					field("id"),
					format!("device id {} is configured twice", device.id),
				));
			}
			if device.name.is_empty() || !names.insert(device.name.clone()) {
				return Err(invalid(field("name"), "names must be present and unique"));
			}
			match &device.source {
				SourceConfig::Mqtt(mapping) => {
					if self.mqtt.is_none() {
						return Err(invalid(
							field("source"),
							"an MQTT device needs an [mqtt] section",
						));
					}
					for topic in mapping.topics() {
						if topic.is_empty() || topic.contains('+') || topic.contains('#') {
							return Err(invalid(
								field("source"),
								format!("topic {topic:?} must be non-empty and without wildcards"),
							));
						}
					}
				}
				SourceConfig::Modbus(modbus) => {
					if modbus.poll_interval_ms == 0 || modbus.timeout_ms == 0 {
						return Err(invalid(
							field("source"),
							"poll_interval_ms and timeout_ms must be positive",
						));
					}
					if u64::from(self.interval_s) * 1_000 < modbus.poll_interval_ms {
						return Err(invalid(
							field("source.poll_interval_ms"),
							"must not exceed the report interval",
						));
					}
				}
			}
		}
		Ok(())
	}
}

/// The chain's batch limit, from the runtime this bridge was built with.
pub fn max_batch_size() -> u32 {
	use sp_runtime::traits::Get;
	<openvpp_runtime::Runtime as pallet_telemetry::Config>::MaxBatchSize::get()
}

#[cfg(test)]
mod tests {
	use super::*;

	const VALID: &str = r#"
		interval_s = 60
		[chain]
		url = "ws://127.0.0.1:9944"
		gateway_seed = "//Ferdie"
		[storage]
		keystore = "keys.json"
		outbox = "outbox.redb"
		[mqtt]
		host = "127.0.0.1"
		[[device]]
		id = 1
		name = "ev"
		source = { type = "mqtt", format = "single-value", power_topic = "evcc/loadpoints/1/chargePower", soc_topic = "evcc/loadpoints/1/vehicleSoc" }
		[[device]]
		id = 5
		name = "pv"
		source = { type = "modbus", address = "127.0.0.1:1502" }
	"#;

	fn check(text: &str) -> Result<BridgeConfig, String> {
		let config = BridgeConfig::parse(text)?;
		config.validate().map_err(|e| e.to_string())?;
		Ok(config)
	}

	#[test]
	fn a_valid_configuration_parses_with_defaults() {
		let config = check(VALID).unwrap();
		assert_eq!(config.devices.len(), 2);
		assert_eq!(config.submission.batch_size, 500);
		match &config.devices[1].source {
			SourceConfig::Modbus(modbus) => {
				assert_eq!((modbus.unit_id, modbus.poll_interval_ms), (1, 1_000))
			}
			other => panic!("{other:?}"),
		}
	}

	#[test]
	fn errors_name_the_field() {
		let twice = VALID.replace("id = 5", "id = 1");
		assert!(check(&twice).unwrap_err().contains("device[1] (pv).id"));
		let no_mqtt = VALID.replace("[mqtt]\n\t\thost = \"127.0.0.1\"", "");
		assert!(check(&no_mqtt).unwrap_err().contains("needs an [mqtt] section"));
		let interval = VALID.replace("interval_s = 60", "interval_s = 0");
		assert!(check(&interval).unwrap_err().contains("interval_s"));
		let batch = format!("{VALID}\n[submission]\nbatch_size = 5000\n");
		// The [submission] table after the device array is a new top-level table.
		assert!(check(&batch).unwrap_err().contains("batch_size"));
		let typo = VALID.replace("gateway_seed", "gateway_sed");
		assert!(check(&typo).unwrap_err().contains("unknown field"));
		let wildcard = VALID.replace("evcc/loadpoints/1/chargePower", "evcc/#");
		assert!(check(&wildcard).unwrap_err().contains("wildcards"));
	}
}
