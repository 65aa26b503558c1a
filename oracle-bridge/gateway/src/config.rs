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
//! batch_size = 250
//! max_in_flight = 8
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

use crate::dispatch::config::{ControlConfig, DispatchConfig};
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
	/// Demand-response dispatch of the devices with a `control`.
	#[serde(default)]
	pub dispatch: DispatchConfig,
	#[serde(default, rename = "device")]
	pub devices: Vec<DeviceConfig>,
}

#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChainConfig {
	/// WebSocket JSON-RPC endpoint of a node (`ws://` or `wss://`).
	pub url: String,
	/// Secret URI of the gateway account (e.g. `//Ferdie` on a dev chain).
	pub gateway_seed: Option<String>,
	/// A file holding the gateway account's secret URI (mode 0600).
	pub gateway_seed_file: Option<PathBuf>,
	/// For `wss://`: a PEM file of the CA certificates the node's certificate is checked
	/// against, instead of the system's.
	pub ca_file: Option<PathBuf>,
}

/// Secrets never appear in `Debug` output.
impl std::fmt::Debug for ChainConfig {
	fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
		f.debug_struct("ChainConfig")
			.field("url", &self.url)
			.field("gateway_seed", &self.gateway_seed.as_ref().map(|_| "<redacted>"))
			.field("gateway_seed_file", &self.gateway_seed_file)
			.field("ca_file", &self.ca_file)
			.finish()
	}
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
	openvpp_primitives::network::DEFAULT_REPORTS_PER_BATCH
}
// 2 000 reports in flight, as many as four batches of 500 were.
fn default_max_in_flight() -> usize {
	8
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
	/// Client id the bridge connects with; defaults to [`default_mqtt_client_id`] of the MQTT
	/// devices.
	pub client_id: Option<String>,
	#[serde(default = "default_keep_alive_s")]
	pub keep_alive_s: u64,
	/// User name for the broker.
	pub username: Option<String>,
	/// A file holding the broker password (mode 0600, like the keystore); needs `username`.
	pub password_file: Option<PathBuf>,
	/// Connect with TLS.
	pub tls: Option<MqttTlsConfig>,
	/// Largest payload taken from a message (bytes); a larger one is dropped and counted.
	#[serde(default = "default_max_payload_bytes")]
	pub max_payload_bytes: usize,
	/// Largest MQTT packet the connection reads (bytes); a larger one ends the connection, so
	/// the broker's `message_size_limit` should stay below it.
	#[serde(default = "default_max_packet_bytes")]
	pub max_packet_bytes: usize,
}

/// TLS towards the broker: the CA its certificate is checked against, and optionally the
/// bridge's own certificate for brokers that require one.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MqttTlsConfig {
	/// PEM file of CA certificates.
	pub ca_file: PathBuf,
	/// PEM file of the bridge's certificate chain.
	pub client_cert_file: Option<PathBuf>,
	/// PEM file of the bridge's private key (mode 0600).
	pub client_key_file: Option<PathBuf>,
}

fn default_max_payload_bytes() -> usize {
	64 * 1024
}
fn default_max_packet_bytes() -> usize {
	16 * 1024 * 1024
}

impl MqttConfig {
	/// A broker at `host:port` without credentials or TLS, with every other setting at its
	/// default.
	pub fn new(host: impl Into<String>, port: u16) -> Self {
		MqttConfig {
			host: host.into(),
			port,
			client_id: None,
			keep_alive_s: default_keep_alive_s(),
			username: None,
			password_file: None,
			tls: None,
			max_payload_bytes: default_max_payload_bytes(),
			max_packet_bytes: default_max_packet_bytes(),
		}
	}

	/// The client id to connect with: the configured one, else one derived from the devices.
	pub fn effective_client_id(&self, device_ids: impl IntoIterator<Item = DeviceId>) -> String {
		match self.client_id.as_deref().map(str::trim) {
			Some(id) if !id.is_empty() => id.to_string(),
			_ => default_mqtt_client_id(device_ids),
		}
	}
}

/// A client id that stays the same across restarts for the same set of MQTT devices, so that
/// the bridge is the same client to the broker (its ACLs, its logs) every time. The session is
/// clean all the same (see [`crate::sources::mqtt`]). `openvpp-bridge-` and 8 hex digits: 23
/// characters, the longest id every MQTT 3.1.1 broker must accept.
pub fn default_mqtt_client_id(device_ids: impl IntoIterator<Item = DeviceId>) -> String {
	let ids: BTreeSet<DeviceId> = device_ids.into_iter().collect();
	let bytes: Vec<u8> = ids.iter().flat_map(|id| id.to_le_bytes()).collect();
	// A fixed hash (not std's DefaultHasher, whose output may change between Rust releases).
	let digest = <sp_core::Blake2Hasher as sp_core::Hasher>::hash(&bytes);
	format!("openvpp-bridge-{}", hex::encode(&digest.as_bytes()[..4]))
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
	/// How the bridge commands the device in demand-response events; without it the bridge
	/// only reports for the device.
	pub control: Option<ControlConfig>,
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
		/// Which lifetime counters the device has.
		#[serde(default)]
		counters: Counters,
		/// Longest silence that still counts as online (s); see [`MqttMapping::max_gap_s`].
		max_gap_s: Option<u32>,
	},
	/// Tasmota: `tele/<device>/SENSOR` JSON with `ENERGY.Power` (W) and `ENERGY.Total` (kWh),
	/// and `tele/<device>/LWT` with `Online` / `Offline`.
	Tasmota {
		/// The `tele/<device>` prefix.
		prefix: String,
		/// Whether the measured power is drawn from the grid (a load; the default) or delivered.
		#[serde(default)]
		power_direction: PowerDirection,
		/// See [`MqttMapping::max_gap_s`].
		max_gap_s: Option<u32>,
	},
	/// Shelly Gen2+ energy meters with "generic status update over MQTT" on:
	/// `<prefix>/status/em:<id>` (`total_act_power`, W) and `<prefix>/status/emdata:<id>`
	/// (`total_act`, `total_act_ret`, Wh) for three-phase meters (Pro 3EM), or `em1:<id>` /
	/// `em1data:<id>` (`act_power`; `total_act_energy`, `total_act_ret_energy`) for one channel
	/// (Pro EM, EM Gen3); `<prefix>/online` carries `true` / `false`.
	Shelly {
		/// The device's MQTT topic prefix (by default its id, e.g. `shellypro3em-0cb815fc1234`).
		prefix: String,
		#[serde(default)]
		component: ShellyComponent,
		/// The component instance (`em1:1` is the Pro EM's second channel).
		#[serde(default)]
		id: u8,
		/// `import` (the default) keeps Shelly's convention: positive power and `total_act`
		/// are drawn from the grid. Use `export` for a clamp that measures a generator the other
		/// way round.
		#[serde(default)]
		power_direction: PowerDirection,
		/// See [`MqttMapping::max_gap_s`].
		max_gap_s: Option<u32>,
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
		/// See [`MqttMapping::max_gap_s`].
		max_gap_s: Option<u32>,
	},
	/// Reports the device signs itself: each message is one signed interval report, which the
	/// bridge checks and forwards unchanged. The bridge holds no key for such a device.
	OpenvppSigned { topic: String },
}

/// Which lifetime energy counters an `openvpp-json` device has.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Counters {
	/// Both (the default). A document without one of them says nothing about it: the last value
	/// is kept, so a device may send its two counters in separate messages.
	#[default]
	Both,
	/// Only an import counter (a load): the export counter is 0 whenever the import one comes.
	ImportOnly,
	/// Only an export counter (a PV gateway): the import counter is 0 whenever the export one
	/// comes.
	ExportOnly,
}

impl Counters {
	/// The name used in the configuration.
	pub fn name(self) -> &'static str {
		match self {
			Counters::Both => "both",
			Counters::ImportOnly => "import-only",
			Counters::ExportOnly => "export-only",
		}
	}
}

/// Which Shelly energy-meter component a device publishes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ShellyComponent {
	/// Three-phase `em` / `emdata` (Pro 3EM, 3EM Gen3).
	#[default]
	Em,
	/// One channel `em1` / `em1data` (Pro EM, EM Gen3).
	Em1,
}

impl ShellyComponent {
	/// The component's name in topics (`em`, `em1`); its counters are under `<name>data`.
	pub fn name(self) -> &'static str {
		match self {
			ShellyComponent::Em => "em",
			ShellyComponent::Em1 => "em1",
		}
	}
}

/// Longest `max_gap_s` accepted: an hour, the longest report interval.
pub const MAX_GAP_S_LIMIT: u32 = 3_600;

/// Default maximum silence of each MQTT format (s): one nominal publishing period of the
/// devices that speak it, plus margin for a lost message or a slow broker.
pub mod default_max_gap_s {
	/// OpenVPP's own schema: gateways we document publish every few seconds to 15 s; a minute
	/// tolerates a few lost messages without crediting long silences.
	pub const OPENVPP_JSON: u32 = 60;
	/// Tasmota's default `TelePeriod` is 300 s: one period plus 10 %, so that a plug on
	/// defaults is continuously online but one missed telemetry message is a gap.
	pub const TASMOTA: u32 = 330;
	/// evcc republishes every value each `interval` (default 30 s): three cycles.
	pub const SINGLE_VALUE: u32 = 90;
	/// Shelly publishes status on change and its energy counters each minute
	/// (`emdata`/`em1data`): a minute and a half.
	pub const SHELLY: u32 = 90;
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
			MqttMapping::OpenvppJson { topic, availability_topic, .. } => {
				std::iter::once(topic.clone()).chain(availability_topic.clone()).collect()
			}
			MqttMapping::Tasmota { prefix, .. } => {
				vec![format!("{prefix}/SENSOR"), format!("{prefix}/LWT")]
			}
			MqttMapping::Shelly { prefix, component, id, .. } => {
				let name = component.name();
				vec![
					format!("{prefix}/status/{name}:{id}"),
					format!("{prefix}/status/{name}data:{id}"),
					format!("{prefix}/online"),
				]
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
			MqttMapping::OpenvppSigned { topic } => vec![topic.clone()],
		}
	}

	/// The longest silence between a device's messages that still counts as continuous
	/// presence (s): `max_gap_s` if configured, else the format's default
	/// ([`default_max_gap_s`]).
	pub fn max_gap_s(&self) -> u32 {
		let (configured, default) = match self {
			MqttMapping::OpenvppJson { max_gap_s, .. } => {
				(max_gap_s, default_max_gap_s::OPENVPP_JSON)
			}
			MqttMapping::Tasmota { max_gap_s, .. } => (max_gap_s, default_max_gap_s::TASMOTA),
			MqttMapping::Shelly { max_gap_s, .. } => (max_gap_s, default_max_gap_s::SHELLY),
			MqttMapping::SingleValue { max_gap_s, .. } => {
				(max_gap_s, default_max_gap_s::SINGLE_VALUE)
			}
			// The device cuts its own intervals; the bridge aggregates nothing for it.
			MqttMapping::OpenvppSigned { .. } => (&None, default_max_gap_s::OPENVPP_JSON),
		};
		configured.unwrap_or(default)
	}

	/// Whether the device signs its own reports (the bridge holds no key for it).
	pub fn device_signs(&self) -> bool {
		matches!(self, MqttMapping::OpenvppSigned { .. })
	}
}

impl DeviceConfig {
	/// Whether the device signs its own reports (the bridge holds no key for it).
	pub fn device_signs(&self) -> bool {
		matches!(&self.source, SourceConfig::Mqtt(mapping) if mapping.device_signs())
	}
}

impl SourceConfig {
	/// The longest silence between samples that still counts as continuous presence (ms): for
	/// Modbus three poll intervals (at least 3 s), for MQTT [`MqttMapping::max_gap_s`].
	pub fn max_gap_ms(&self) -> u64 {
		match self {
			SourceConfig::Modbus(modbus) => modbus.poll_interval_ms.saturating_mul(3).max(3_000),
			SourceConfig::Mqtt(mapping) => u64::from(mapping.max_gap_s()) * 1_000,
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

	/// Parses TOML text (without validating). The error says where and what, but never
	/// quotes the file: the line could hold a secret.
	pub fn parse(text: &str) -> Result<BridgeConfig, String> {
		toml::from_str(text).map_err(|e| describe_parse_error(text, &e))
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
		if let Some(file) = self.chain.ca_file.as_mut() {
			resolve(file);
		}
		if let Some(mqtt) = self.mqtt.as_mut() {
			if let Some(file) = mqtt.password_file.as_mut() {
				resolve(file);
			}
			if let Some(tls) = mqtt.tls.as_mut() {
				resolve(&mut tls.ca_file);
				for file in [tls.client_cert_file.as_mut(), tls.client_key_file.as_mut()]
					.into_iter()
					.flatten()
				{
					resolve(file);
				}
			}
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
		if self.chain.ca_file.is_some() && !self.chain.url.starts_with("wss://") {
			return Err(invalid("chain.ca_file", "only applies to a wss:// URL"));
		}
		if let Some(mqtt) = &self.mqtt {
			if mqtt.password_file.is_some() && mqtt.username.is_none() {
				return Err(invalid("mqtt.password_file", "needs mqtt.username"));
			}
			if let Some(tls) = &mqtt.tls {
				if tls.client_cert_file.is_some() != tls.client_key_file.is_some() {
					return Err(invalid(
						"mqtt.tls",
						"give client_cert_file and client_key_file together, or neither",
					));
				}
			}
			if mqtt.max_payload_bytes == 0 || mqtt.max_payload_bytes > mqtt.max_packet_bytes {
				return Err(invalid(
					"mqtt.max_payload_bytes",
					"must be positive and at most mqtt.max_packet_bytes",
				));
			}
			if mqtt.client_id.as_deref().is_some_and(|id| id.trim().is_empty()) {
				// An empty id makes the broker invent one per connection, so the bridge could not
				// be told apart in the broker's logs and ACLs; leave the field out for the
				// derived default instead.
				return Err(invalid(
					"mqtt.client_id",
					"must not be empty (omit it for the default)",
				));
			}
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
		if self.dispatch.check_every_s == 0 || self.dispatch.check_every_s > 60 {
			return Err(invalid("dispatch.check_every_s", "must be 1–60 s"));
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
					if let MqttMapping::Shelly { prefix, .. } = mapping {
						if prefix.is_empty() || prefix.ends_with('/') {
							return Err(invalid(
								field("source.prefix"),
								"must be the device's topic prefix, without a trailing /",
							));
						}
					}
					let max_gap_s = mapping.max_gap_s();
					if max_gap_s == 0 || max_gap_s > MAX_GAP_S_LIMIT {
						return Err(invalid(
							field("source.max_gap_s"),
							format!("must be 1–{MAX_GAP_S_LIMIT} s, is {max_gap_s}"),
						));
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
			if let Some(control) = &device.control {
				if device.device_signs() {
					return Err(invalid(
						field("control"),
						"the bridge commands only devices it reports for",
					));
				}
				crate::dispatch::config::resolve(control, &device.source, &field("control"))?;
			}
		}
		Ok(())
	}
}

/// The chain's batch limit.
pub fn max_batch_size() -> u32 {
	openvpp_primitives::network::MAX_REPORTS_PER_BATCH
}

/// A TOML error as "line L, column C: what", with every quoted value in the message left out:
/// the source line is never shown, and a value (a seed, a password) is never repeated.
fn describe_parse_error(text: &str, error: &toml::de::Error) -> String {
	let place = error.span().map(|span| {
		let before = &text[..span.start.min(text.len())];
		let line = before.matches('\n').count() + 1;
		let column = before.len() - before.rfind('\n').map_or(0, |i| i + 1) + 1;
		format!("line {line}, column {column}: ")
	});
	let mut message = String::new();
	let mut quoted = false;
	for c in error.message().trim().chars() {
		if c == '"' {
			if !quoted {
				message.push_str("\"…\"");
			}
			quoted = !quoted;
		} else if !quoted {
			message.push(c);
		}
	}
	format!("{}{}", place.unwrap_or_default(), message)
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
		assert_eq!(config.submission.batch_size, 250);
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
		let empty_id =
			VALID.replace("host = \"127.0.0.1\"", "host = \"127.0.0.1\"\nclient_id = \"\"");
		assert!(check(&empty_id).unwrap_err().contains("mqtt.client_id"));
	}

	#[test]
	fn no_secret_appears_in_errors_or_debug_output() {
		let secret = "bottom drive obey lake curtain smoke basket hold race lonely fit walk";
		let with_secret = VALID.replace("//Ferdie", secret);
		// A syntax error on the secret's line: reported by line and column, never quoted.
		let unterminated = with_secret.replace(&format!("\"{secret}\""), &format!("\"{secret}"));
		let error = BridgeConfig::parse(&unterminated).unwrap_err();
		assert!(error.starts_with("line 5, column"), "{error}");
		assert!(!error.contains("bottom drive"), "{error}");
		// A type error whose message would repeat the value.
		let wrong_type =
			with_secret.replace("interval_s = 60", &format!("interval_s = \"{secret}\""));
		let error = BridgeConfig::parse(&wrong_type).unwrap_err();
		assert!(error.contains("line 2") && !error.contains("bottom drive"), "{error}");
		// Debug output of the parsed configuration.
		let config = check(&with_secret).unwrap();
		let debug = format!("{config:?}");
		assert!(!debug.contains("bottom drive") && debug.contains("<redacted>"), "{debug}");
	}

	#[test]
	fn mqtt_credentials_and_tls_are_validated() {
		let mqtt = |extra: &str| {
			VALID.replace("host = \"127.0.0.1\"", &format!("host = \"127.0.0.1\"\n{extra}"))
		};
		let password_only = mqtt("password_file = \"mqtt.password\"");
		assert!(check(&password_only).unwrap_err().contains("needs mqtt.username"));
		let cert_only = format!(
			"{}\n[mqtt.tls]\nca_file = \"ca.pem\"\nclient_cert_file = \"gw.pem\"\n",
			mqtt("username = \"gw\"")
		);
		// (The [mqtt.tls] table after the devices is still the [mqtt] section's.)
		assert!(check(&cert_only).unwrap_err().contains("mqtt.tls"));
		let payload = mqtt("max_payload_bytes = 0");
		assert!(check(&payload).unwrap_err().contains("max_payload_bytes"));
		let ca_for_ws = VALID.replace("[storage]", "ca_file = \"ca.pem\"\n[storage]");
		assert!(check(&ca_for_ws).unwrap_err().contains("chain.ca_file"));
		let fine = mqtt("username = \"gw\"\npassword_file = \"mqtt.password\"");
		let config = check(&fine).unwrap();
		let mqtt = config.mqtt.unwrap();
		assert_eq!(mqtt.max_payload_bytes, 64 * 1024);
		assert_eq!(mqtt.max_packet_bytes, 16 * 1024 * 1024);
	}

	#[test]
	fn a_device_that_signs_its_own_reports_needs_only_a_topic() {
		let config = check(&with_device(
			r#"{ type = "mqtt", format = "openvpp-signed", topic = "meter-9/report" }"#,
		))
		.unwrap();
		let device = config.devices.last().unwrap();
		assert!(device.device_signs());
		assert!(!config.devices[0].device_signs());
	}

	fn with_device(source: &str) -> String {
		format!("{VALID}\n[[device]]\nid = 9\nname = \"extra\"\nsource = {source}\n")
	}

	fn gap_ms(text: &str) -> u64 {
		let config = check(text).unwrap();
		config.devices.last().unwrap().source.max_gap_ms()
	}

	#[test]
	fn max_gap_defaults_follow_the_format_and_can_be_configured() {
		// Tasmota on defaults publishes every 300 s: it must stay online between telemetry.
		let tasmota = r#"{ type = "mqtt", format = "tasmota", prefix = "tele/plug" }"#;
		assert_eq!(gap_ms(&with_device(tasmota)), 330_000);
		assert!(gap_ms(&with_device(tasmota)) > 300_000);
		let shelly = r#"{ type = "mqtt", format = "shelly", prefix = "shellypro3em-1" }"#;
		assert_eq!(gap_ms(&with_device(shelly)), 90_000);
		let json = r#"{ type = "mqtt", format = "openvpp-json", topic = "site/x" }"#;
		assert_eq!(gap_ms(&with_device(json)), 60_000);
		let evcc =
			r#"{ type = "mqtt", format = "single-value", power_topic = "evcc/site/pvPower" }"#;
		assert_eq!(gap_ms(&with_device(evcc)), 90_000);
		let configured =
			r#"{ type = "mqtt", format = "tasmota", prefix = "tele/plug", max_gap_s = 45 }"#;
		assert_eq!(gap_ms(&with_device(configured)), 45_000);
		// Modbus: three poll intervals, at least 3 s.
		let modbus = r#"{ type = "modbus", address = "127.0.0.1:502", poll_interval_ms = 5000 }"#;
		assert_eq!(gap_ms(&with_device(modbus)), 15_000);
		let fast = r#"{ type = "modbus", address = "127.0.0.1:502", poll_interval_ms = 200 }"#;
		assert_eq!(gap_ms(&with_device(fast)), 3_000);
	}

	#[test]
	fn max_gap_is_validated() {
		for bad in ["0", "3601"] {
			let source = format!(
				r#"{{ type = "mqtt", format = "openvpp-json", topic = "a/b", max_gap_s = {bad} }}"#
			);
			let error = check(&with_device(&source)).unwrap_err();
			assert!(error.contains("device[2] (extra).source.max_gap_s"), "{error}");
		}
		let edge = r#"{ type = "mqtt", format = "openvpp-json", topic = "a/b", max_gap_s = 3600 }"#;
		assert_eq!(gap_ms(&with_device(edge)), 3_600_000);
		// Modbus sources have no max_gap_s: it follows the poll interval.
		let modbus = r#"{ type = "modbus", address = "127.0.0.1:502", max_gap_s = 10 }"#;
		assert!(check(&with_device(modbus)).unwrap_err().contains("unknown field"));
	}

	#[test]
	fn openvpp_json_counters_default_to_both_and_are_checked() {
		let counters = |source: &str| {
			let config = check(&with_device(source))?;
			match &config.devices[2].source {
				SourceConfig::Mqtt(MqttMapping::OpenvppJson { counters, .. }) => Ok(*counters),
				other => Err(format!("{other:?}")),
			}
		};
		let plain = r#"{ type = "mqtt", format = "openvpp-json", topic = "site/pv" }"#;
		assert_eq!(counters(plain), Ok(Counters::Both));
		let pv = r#"{ type = "mqtt", format = "openvpp-json", topic = "site/pv", counters = "export-only" }"#;
		assert_eq!(counters(pv), Ok(Counters::ExportOnly));
		let load = r#"{ type = "mqtt", format = "openvpp-json", topic = "site/l", counters = "import-only" }"#;
		assert_eq!(counters(load), Ok(Counters::ImportOnly));
		let bad =
			r#"{ type = "mqtt", format = "openvpp-json", topic = "site/pv", counters = "export" }"#;
		let error = counters(bad).unwrap_err();
		assert!(error.contains("import-only") && error.contains("export-only"), "{error}");
		// Only this format has the option (the others know their devices' counters).
		let tasmota =
			r#"{ type = "mqtt", format = "tasmota", prefix = "tele/x", counters = "both" }"#;
		assert!(check(&with_device(tasmota)).unwrap_err().contains("unknown field"));
	}

	#[test]
	fn shelly_topics() {
		let three_phase =
			r#"{ type = "mqtt", format = "shelly", prefix = "shellypro3em-0cb815fc1234" }"#;
		let config = check(&with_device(three_phase)).unwrap();
		let SourceConfig::Mqtt(mapping) = &config.devices[2].source else { panic!() };
		assert_eq!(
			mapping.topics(),
			vec![
				"shellypro3em-0cb815fc1234/status/em:0",
				"shellypro3em-0cb815fc1234/status/emdata:0",
				"shellypro3em-0cb815fc1234/online",
			]
		);
		let channel = r#"{ type = "mqtt", format = "shelly", prefix = "shellyproem50", component = "em1", id = 1 }"#;
		let config = check(&with_device(channel)).unwrap();
		let SourceConfig::Mqtt(mapping) = &config.devices[2].source else { panic!() };
		assert_eq!(
			mapping.topics(),
			vec![
				"shellyproem50/status/em1:1",
				"shellyproem50/status/em1data:1",
				"shellyproem50/online"
			]
		);
		let trailing = r#"{ type = "mqtt", format = "shelly", prefix = "shellyproem50/" }"#;
		assert!(check(&with_device(trailing)).unwrap_err().contains("source.prefix"));
	}

	#[test]
	fn the_default_client_id_is_stable_and_short() {
		let a = default_mqtt_client_id([3, 1, 2]);
		// Same devices in another order: same id (the broker keeps the same session).
		assert_eq!(a, default_mqtt_client_id([1, 2, 3, 3]));
		assert_ne!(a, default_mqtt_client_id([1, 2]));
		assert!(a.starts_with("openvpp-bridge-"));
		assert_eq!(a.len(), 23, "{a}");
		// Pinned, so that a change of hashing (which would orphan every gateway's broker
		// session on upgrade) cannot go unnoticed.
		assert_eq!(default_mqtt_client_id([1, 2, 3]), PINNED_CLIENT_ID);
		let config = check(VALID).unwrap();
		let mqtt = config.mqtt.unwrap();
		assert_eq!(mqtt.effective_client_id([1]), default_mqtt_client_id([1]));
		let named = MqttConfig { client_id: Some("gateway-7".into()), ..mqtt };
		assert_eq!(named.effective_client_id([1]), "gateway-7");
	}

	const PINNED_CLIENT_ID: &str = "openvpp-bridge-6900750f";
}
