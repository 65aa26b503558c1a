//! How the demo fleet is wired on a development machine: which device speaks which protocol
//! where. The simulator serves this layout and `openvpp-demo config` writes the matching
//! bridge configuration and keystore.
//!
//! | device | protocol | endpoint |
//! | --- | --- | --- |
//! | 1 electric vehicle | MQTT, evcc single values | `evcc/loadpoints/1/{chargePower,vehicleSoc,chargeTotalImport}`, `evcc/status`; commands `evcc/loadpoints/1/maxCurrent/set` |
//! | 2 EV charger | MQTT, OpenVPP JSON | `openvpp/devices/ev-charger/state`, `…/status`; commands `…/set` |
//! | 3 home battery | Modbus TCP, SunSpec 1 + 103 + 124 | `127.0.0.1:<base>+3` |
//! | 4 C&I battery | Modbus TCP, SunSpec 1 + 103 + 802 | `127.0.0.1:<base>+4` |
//! | 5 rooftop solar | Modbus TCP, SunSpec 1 + 103 | `127.0.0.1:<base>+5` |
//! | 6 smart meter | Modbus TCP, SunSpec 1 + 203 | `127.0.0.1:<base>+6` |
//! | 7 energy manager | MQTT, Tasmota | `tele/openvpp-ems/{SENSOR,LWT}`; commands `cmnd/openvpp-ems/POWER` (answer on `stat/openvpp-ems/POWER`) |
//! | 8 … 7 + n: the larger fleet's home batteries (optional) | MQTT, OpenVPP JSON | `openvpp/fleet/battery-<i>/state`; commands `…/set` |
//!
//! The larger fleet is not in the genesis: `openvpp-demo fleet` registers it on a development
//! chain, where its ids follow the demo fleet's (battery `i` is device 8 + `i`).

use std::{fmt::Write, net::SocketAddr, path::Path};

use openvpp_primitives::DeviceId;
use openvpp_runtime::demo_fleet::{self, KeyScheme};

/// Ports of the demo endpoints.
#[derive(Debug, Clone, Copy)]
pub struct DemoLayout {
	pub mqtt_port: u16,
	/// Device `n`'s Modbus server listens on `modbus_base_port + n`.
	pub modbus_base_port: u16,
}

impl Default for DemoLayout {
	fn default() -> Self {
		DemoLayout { mqtt_port: 1883, modbus_base_port: 15_020 }
	}
}

pub const EV: DeviceId = 1;
pub const CHARGER: DeviceId = 2;
pub const HOME_BATTERY: DeviceId = 3;
pub const CI_BATTERY: DeviceId = 4;
pub const SOLAR: DeviceId = 5;
pub const METER: DeviceId = 6;
pub const EMS: DeviceId = 7;

pub const EV_POWER_TOPIC: &str = "evcc/loadpoints/1/chargePower";
pub const EV_SOC_TOPIC: &str = "evcc/loadpoints/1/vehicleSoc";
pub const EV_ENERGY_TOPIC: &str = "evcc/loadpoints/1/chargeTotalImport";
pub const EV_STATUS_TOPIC: &str = "evcc/status";
pub const CHARGER_TOPIC: &str = "openvpp/devices/ev-charger/state";
pub const CHARGER_STATUS_TOPIC: &str = "openvpp/devices/ev-charger/status";
pub const EMS_PREFIX: &str = "tele/openvpp-ems";
/// evcc's loadpoint current limit (A), as evcc takes it.
pub const EV_MAX_CURRENT_SET_TOPIC: &str = "evcc/loadpoints/1/maxCurrent/set";
/// evcc's loadpoint current limit as it stands (A).
pub const EV_MAX_CURRENT_TOPIC: &str = "evcc/loadpoints/1/maxCurrent";
/// The charger's `openvpp-json` command topic.
pub const CHARGER_SET_TOPIC: &str = "openvpp/devices/ev-charger/set";
/// Tasmota's relay command and answer for the heat pump behind the energy manager.
pub const EMS_POWER_COMMAND_TOPIC: &str = "cmnd/openvpp-ems/POWER";
pub const EMS_POWER_STATE_TOPIC: &str = "stat/openvpp-ems/POWER";

/// Every device of the demo fleet, in id order.
pub const ALL_DEVICES: [DeviceId; 7] = [EV, CHARGER, HOME_BATTERY, CI_BATTERY, SOLAR, METER, EMS];

/// The devices served over Modbus.
pub const MODBUS_DEVICES: [DeviceId; 4] = [HOME_BATTERY, CI_BATTERY, SOLAR, METER];

/// The larger fleet's first device id: the ids after the demo fleet's.
pub const FLEET_FIRST_ID: DeviceId = 8;
/// The larger fleet sits in another control area than the demo fleet, so that events for one
/// do not draw on the other.
pub const FLEET_REGION: &str = "DE-50HERTZ";
/// The larger fleet's command topics, as the simulator subscribes to them.
pub const FLEET_COMMAND_FILTER: &str = "openvpp/fleet/+/set";
/// The largest fleet the tools make.
pub const MAX_FLEET: u32 = 2_000;

/// One home battery of the larger fleet: what its owner registers and what the simulator runs.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FleetBattery {
	/// Its index in the fleet, from 0.
	pub index: u32,
	pub capacity_wh: u32,
	/// Its inverter's rating, charging and discharging (W).
	pub max_power_w: u32,
	/// The owner's reserve, also the simulator's floor for its own behaviour.
	pub reserve_soc_bp: u16,
	/// Its state of charge when the simulator starts.
	pub initial_soc: f64,
}

impl FleetBattery {
	/// Battery `index`: 5–15 kWh, 2.5–5 kW, starting at 35–74 %, spread over the fleet.
	pub fn new(index: u32) -> FleetBattery {
		FleetBattery {
			index,
			capacity_wh: 5_000 + (index * 7 % 11) * 1_000,
			max_power_w: 2_500 + (index * 3 % 6) * 500,
			reserve_soc_bp: 2_000,
			initial_soc: 0.35 + f64::from(index * 13 % 40) / 100.0,
		}
	}

	pub fn device_id(&self) -> DeviceId {
		FLEET_FIRST_ID + self.index
	}

	pub fn name(&self) -> String {
		format!("fleet-battery-{}", self.index)
	}

	/// The topic its readings come on.
	pub fn state_topic(&self) -> String {
		format!("openvpp/fleet/battery-{}/state", self.index)
	}

	/// The secret URI of its attestation key (sr25519; public, for development chains only).
	pub fn seed(&self) -> String {
		format!("//OpenVPP-Fleet//battery-{}", self.index)
	}

	/// Its attestation key pair, from [`FleetBattery::seed`].
	pub fn key(&self) -> Result<sp_core::sr25519::Pair, sp_core::crypto::SecretStringError> {
		use sp_core::Pair;
		sp_core::sr25519::Pair::from_string(&self.seed(), None)
	}

	/// The battery a command topic (`openvpp/fleet/battery-<i>/set`) is for.
	pub fn from_command_topic(topic: &str) -> Option<u32> {
		topic.strip_prefix("openvpp/fleet/battery-")?.strip_suffix("/set")?.parse().ok()
	}
}

impl DemoLayout {
	pub fn modbus_address(&self, device: DeviceId) -> SocketAddr {
		SocketAddr::from(([127, 0, 0, 1], self.modbus_base_port.saturating_add(device as u16)))
	}
}

/// The keystore JSON of the demo fleet and the first `fleet` batteries of the larger fleet
/// (keys from the documented public seeds).
pub fn keystore_json(fleet: u32) -> String {
	let mut entries: Vec<String> = demo_fleet::demo_fleet()
		.iter()
		.enumerate()
		.map(|(index, device)| {
			let scheme = match device.scheme {
				KeyScheme::Sr25519 => "sr25519",
				KeyScheme::Ed25519 => "ed25519",
				KeyScheme::Ecdsa => "ecdsa",
			};
			format!(
				r#"    {{ "device_id": {}, "scheme": "{scheme}", "secret": "{}" }}"#,
				index + 1,
				device.seed()
			)
		})
		.collect();
	entries.extend((0..fleet).map(FleetBattery::new).map(|battery| {
		format!(
			r#"    {{ "device_id": {}, "scheme": "sr25519", "secret": "{}" }}"#,
			battery.device_id(),
			battery.seed()
		)
	}));
	format!("{{\n  \"devices\": [\n{}\n  ]\n}}\n", entries.join(",\n"))
}

/// Options of a generated bridge configuration.
pub struct DemoConfig<'a> {
	pub layout: DemoLayout,
	pub node_url: &'a str,
	pub interval_s: u32,
	pub keystore: &'a Path,
	pub outbox: &'a Path,
	pub metrics_listen: Option<SocketAddr>,
	pub poll_interval_ms: u64,
	/// How many batteries of the larger fleet the bridge serves.
	pub fleet: u32,
}

/// The bridge configuration for the demo fleet on the simulator.
pub fn bridge_config_toml(options: &DemoConfig<'_>) -> String {
	let layout = options.layout;
	let mut toml = String::new();
	let _ = writeln!(toml, "# OpenVPP bridge for the demo fleet served by openvpp-sim.");
	let _ = writeln!(toml, "interval_s = {}\n", options.interval_s);
	let _ =
		writeln!(toml, "[chain]\nurl = \"{}\"\ngateway_seed = \"//Ferdie\"\n", options.node_url);
	let _ = writeln!(
		toml,
		"[storage]\nkeystore = \"{}\"\noutbox = \"{}\"\n",
		options.keystore.display(),
		options.outbox.display()
	);
	let _ = writeln!(
		toml,
		"[submission]\nbatch_size = 500\nmax_in_flight = 4\nfinality_timeout_s = 60\n"
	);
	match options.metrics_listen {
		Some(address) => {
			let _ = writeln!(toml, "[metrics]\nlisten = \"{address}\"\nsummary_every_s = 30\n");
		}
		None => {
			let _ = writeln!(toml, "[metrics]\nsummary_every_s = 30\n");
		}
	}
	let _ = writeln!(toml, "[mqtt]\nhost = \"127.0.0.1\"\nport = {}\n", layout.mqtt_port);
	let _ = writeln!(
		toml,
		"[[device]]\nid = {EV}\nname = \"electric-vehicle\"\nsource = {{ type = \"mqtt\", format = \"single-value\", \
		 power_topic = \"{EV_POWER_TOPIC}\", power_direction = \"import\", soc_topic = \"{EV_SOC_TOPIC}\", \
		 imported_energy_topic = \"{EV_ENERGY_TOPIC}\", energy_unit = \"kwh\", availability_topic = \"{EV_STATUS_TOPIC}\" }}\n\
		 control = {{ type = \"evcc-current\", set_topic = \"{EV_MAX_CURRENT_SET_TOPIC}\", state_topic = \"{EV_MAX_CURRENT_TOPIC}\", \
		 watts_per_amp = {}, max_current_a = {} }}\n",
		crate::model::CHARGER_W_PER_A,
		crate::model::MAX_CHARGING_CURRENT_A,
	);
	let _ = writeln!(
		toml,
		"[[device]]\nid = {CHARGER}\nname = \"ev-charger\"\nsource = {{ type = \"mqtt\", format = \"openvpp-json\", \
		 topic = \"{CHARGER_TOPIC}\", availability_topic = \"{CHARGER_STATUS_TOPIC}\" }}\ncontrol = {{ type = \"openvpp-json\" }}\n"
	);
	for (id, name) in [
		(HOME_BATTERY, "home-battery"),
		(CI_BATTERY, "ci-battery"),
		(SOLAR, "rooftop-solar"),
		(METER, "smart-meter"),
	] {
		let _ = writeln!(
			toml,
			"[[device]]\nid = {id}\nname = \"{name}\"\nsource = {{ type = \"modbus\", address = \"{}\", unit_id = 1, poll_interval_ms = {} }}\n{}",
			layout.modbus_address(id),
			options.poll_interval_ms,
			// The home battery serves SunSpec storage control (model 124).
			if id == HOME_BATTERY { "control = { type = \"sunspec-storage\" }\n" } else { "" },
		);
	}
	let _ = writeln!(
		toml,
		"[[device]]\nid = {EMS}\nname = \"energy-manager\"\nsource = {{ type = \"mqtt\", format = \"tasmota\", prefix = \"{EMS_PREFIX}\" }}\ncontrol = {{ type = \"tasmota-relay\" }}"
	);
	for battery in (0..options.fleet).map(FleetBattery::new) {
		let _ = writeln!(
			toml,
			"\n[[device]]\nid = {}\nname = \"{}\"\nsource = {{ type = \"mqtt\", format = \"openvpp-json\", topic = \"{}\" }}\ncontrol = {{ type = \"openvpp-json\" }}",
			battery.device_id(),
			battery.name(),
			battery.state_topic(),
		);
	}
	toml
}

/// Writes `bridge.toml` and `keystore.json` (mode 0600) for the demo fleet into `dir`.
pub fn write_demo_files(
	dir: &Path,
	node_url: &str,
	layout: DemoLayout,
	interval_s: u32,
	metrics_listen: Option<SocketAddr>,
	fleet: u32,
) -> std::io::Result<std::path::PathBuf> {
	use std::os::unix::fs::PermissionsExt;
	std::fs::create_dir_all(dir)?;
	let keystore = dir.join("keystore.json");
	std::fs::write(&keystore, keystore_json(fleet))?;
	std::fs::set_permissions(&keystore, std::fs::Permissions::from_mode(0o600))?;
	let config = dir.join("bridge.toml");
	let text = bridge_config_toml(&DemoConfig {
		layout,
		node_url,
		interval_s,
		keystore: &keystore,
		outbox: &dir.join("outbox.redb"),
		metrics_listen,
		poll_interval_ms: 1_000,
		fleet,
	});
	std::fs::write(&config, text)?;
	Ok(config)
}

#[cfg(test)]
mod tests {
	use super::*;
	use openvpp_bridge::{config::BridgeConfig, keystore::Keystore};

	#[test]
	fn the_demo_configuration_and_keystore_are_valid() {
		let dir = tempfile::tempdir().unwrap();
		let config =
			write_demo_files(dir.path(), "ws://127.0.0.1:9944", DemoLayout::default(), 30, None, 3)
				.unwrap();
		let config = BridgeConfig::load(&config).unwrap();
		assert_eq!(config.devices.len(), 10);
		let keystore = Keystore::load(&config.storage.keystore).unwrap();
		for (index, device) in demo_fleet::demo_fleet().iter().enumerate() {
			assert_eq!(keystore.get(index as u32 + 1).unwrap().public(), device.attestation_key);
		}
		let last = FleetBattery::new(2);
		let key =
			openvpp_primitives::AttestationKey::from(sp_core::Pair::public(&last.key().unwrap()));
		assert_eq!(keystore.get(10).unwrap().public(), key);
		assert_eq!(config.devices[9].name, "fleet-battery-2");
	}

	#[test]
	fn fleet_batteries_are_spread_and_found_by_their_command_topics() {
		let batteries: Vec<FleetBattery> = (0..200).map(FleetBattery::new).collect();
		for battery in &batteries {
			assert!((5_000..=15_000).contains(&battery.capacity_wh));
			assert!((2_500..=5_000).contains(&battery.max_power_w));
			assert!((0.35..0.75).contains(&battery.initial_soc));
			let topic = openvpp_bridge::device_command::command_topic(&battery.state_topic());
			assert_eq!(FleetBattery::from_command_topic(&topic), Some(battery.index));
		}
		let sizes: std::collections::BTreeSet<u32> =
			batteries.iter().map(|b| b.capacity_wh).collect();
		assert_eq!(sizes.len(), 11);
		assert_eq!(FleetBattery::from_command_topic("openvpp/fleet/battery-x/set"), None);
		assert_eq!(FleetBattery::from_command_topic("openvpp/fleet/battery-1/state"), None);
	}
}
