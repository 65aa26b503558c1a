//! How the demo fleet is wired on a development machine: which device speaks which protocol
//! where. The simulator serves this layout and `openvpp-bridge demo-config` writes the matching
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

impl DemoLayout {
	pub fn modbus_address(&self, device: DeviceId) -> SocketAddr {
		SocketAddr::from(([127, 0, 0, 1], self.modbus_base_port.saturating_add(device as u16)))
	}
}

/// The keystore JSON of the demo fleet (keys from the documented public seeds).
pub fn keystore_json() -> String {
	let entries: Vec<String> = demo_fleet::demo_fleet()
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
		crate::sim::model::CHARGER_W_PER_A,
		crate::sim::model::MAX_CHARGING_CURRENT_A,
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
	toml
}

/// Writes `bridge.toml` and `keystore.json` (mode 0600) for the demo fleet into `dir`.
pub fn write_demo_files(
	dir: &Path,
	node_url: &str,
	layout: DemoLayout,
	interval_s: u32,
	metrics_listen: Option<SocketAddr>,
) -> std::io::Result<std::path::PathBuf> {
	use std::os::unix::fs::PermissionsExt;
	std::fs::create_dir_all(dir)?;
	let keystore = dir.join("keystore.json");
	std::fs::write(&keystore, keystore_json())?;
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
	});
	std::fs::write(&config, text)?;
	Ok(config)
}

#[cfg(test)]
mod tests {
	use super::*;
	use crate::{config::BridgeConfig, keystore::Keystore};

	#[test]
	fn the_demo_configuration_and_keystore_are_valid() {
		let dir = tempfile::tempdir().unwrap();
		let config =
			write_demo_files(dir.path(), "ws://127.0.0.1:9944", DemoLayout::default(), 30, None)
				.unwrap();
		let config = BridgeConfig::load(&config).unwrap();
		assert_eq!(config.devices.len(), 7);
		let keystore = Keystore::load(&config.storage.keystore).unwrap();
		for (index, device) in demo_fleet::demo_fleet().iter().enumerate() {
			assert_eq!(keystore.get(index as u32 + 1).unwrap().public(), device.attestation_key);
		}
	}
}
