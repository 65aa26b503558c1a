//! The device-fleet simulator: the demo fleet's physics ([`model`]) served over the protocols
//! real devices speak — SunSpec register maps over Modbus TCP and MQTT topics in the evcc,
//! OpenVPP JSON and Tasmota conventions — with the layout of [`crate::demo`].
//!
//! With `--embedded-broker` it runs its own MQTT broker (rumqttd), so the demo needs nothing
//! installed; tests point it at a real mosquitto instead. Every value it serves can be written
//! to a JSON-lines trace, which the end-to-end tests compare with what reached the chain.
//!
//! The home battery obeys SunSpec storage control (model 124, see
//! [`openvpp_bridge::sunspec::storage_control`]): what a gateway writes into its rate limits bounds its
//! power from the next step on, until the revert timeout passes. A device listed in
//! `override_devices` stands for an owner who overrides every command: it resets the control
//! to its own mode at the next step.
//!
//! The MQTT devices take commands too: the charger `openvpp-json` `hold`/`release` on its
//! `…/set` topic ([`openvpp_bridge::device_command`]), the EV's loadpoint evcc's
//! `evcc/loadpoints/1/maxCurrent/set` (A), the energy manager Tasmota's
//! `cmnd/openvpp-ems/POWER` (`OFF` sheds the heat pump, `ON` gives it back; the relay answers
//! on `stat/openvpp-ems/POWER`). An overriding owner's device ignores them (a relay answers
//! `ON`; evcc shows its current limit unchanged).
//!
//! With `fleet` > 0 it also simulates that many home batteries of the larger fleet ([`fleet`]),
//! published in `openvpp-json` and commanded like the charger.

pub mod demo;
pub mod fleet;
pub mod model;

use std::{
	collections::BTreeMap,
	io::Write,
	net::SocketAddr,
	path::PathBuf,
	sync::{Arc, Mutex},
	time::Duration,
};

use openvpp_primitives::DeviceId;
use rumqttc::{AsyncClient, Event, LastWill, MqttOptions, Packet, QoS};
use serde::Serialize;
use tokio::{net::TcpListener, sync::watch};
use tokio_modbus::{
	prelude::*,
	server::{tcp::Server, Service},
};

use crate::demo::DemoLayout;
use fleet::FleetBatteries;
use model::{Fleet, Snapshot};
use openvpp_bridge::{
	sources::now_ms,
	sunspec::{layout, RegisterMap},
};

/// How the simulator runs.
#[derive(Debug, Clone)]
pub struct SimConfig {
	pub layout: DemoLayout,
	/// Run an MQTT broker on `127.0.0.1:<mqtt_port>` instead of using an external one.
	pub embedded_broker: bool,
	/// Seconds between physics steps and MQTT publications.
	pub tick: Duration,
	pub seed: u64,
	/// Write every served value here (JSON lines).
	pub trace: Option<PathBuf>,
	/// Serve these Modbus devices with an invalid scale factor (for fault tests).
	pub bogus_modbus: Vec<DeviceId>,
	/// Publish a malformed payload on the charger's topic every this many ticks (0 = never).
	pub garbage_mqtt_every: u32,
	/// Devices whose owners override every command sent to them.
	pub override_devices: Vec<DeviceId>,
	/// How many batteries of the larger fleet to simulate (see [`fleet`]).
	pub fleet: u32,
	/// The share of the larger fleet's owners who override every command (%).
	pub fleet_override_percent: u32,
}

/// One served value, as traced.
#[derive(Debug, Clone, Serialize, serde::Deserialize, PartialEq)]
pub struct TraceLine {
	pub t_ms: u64,
	pub device: DeviceId,
	/// Power in the chain's convention (positive = delivered), as served.
	pub power_w: i64,
	pub imported_wh: u64,
	pub exported_wh: u64,
	pub soc_bp: Option<u16>,
}

/// The register maps of the Modbus devices.
type Maps = Arc<Mutex<BTreeMap<DeviceId, RegisterMap>>>;
/// When each Modbus device was last written to (ms since the Unix epoch).
type Writes = Arc<Mutex<BTreeMap<DeviceId, u64>>>;

/// The larger fleet's connection announces itself here.
const FLEET_STATUS_TOPIC: &str = "openvpp/fleet/status";

/// The home battery's maximum rate (W) as its model 124 block states it.
const HOME_BATTERY_W_CHA_MAX: u16 = 5_000;

const BASE: u16 = 40_000;

fn common(map: &mut RegisterMap, model: &str, serial: &str) {
	map.set_string(layout::common::ID, layout::common::MN, 16, "OpenVPP Simulator");
	map.set_string(layout::common::ID, layout::common::MD, 16, model);
	map.set_string(layout::common::ID, layout::common::VR, 8, "1.0.0");
	map.set_string(layout::common::ID, layout::common::SN, 16, serial);
}

fn new_map(models: &[(u16, u16)], model: &str, serial: &str) -> RegisterMap {
	let mut map = RegisterMap::new(BASE);
	map.add_model(layout::common::ID, layout::common::LEN);
	for &(id, len) in models {
		map.add_model(id, len);
	}
	let mut map = map.finish();
	common(&mut map, model, serial);
	map
}

/// The initial register maps.
fn register_maps() -> BTreeMap<DeviceId, RegisterMap> {
	use layout::*;
	let mut maps = initial_maps();
	if let Some(map) = maps.get_mut(&demo::HOME_BATTERY) {
		// Ratings and the battery's own mode: no limit in force, rates in 0.01 %.
		map.set(storage::ID, storage::W_CHA_MAX, HOME_BATTERY_W_CHA_MAX);
		map.set_i16(storage::ID, storage::W_CHA_MAX_SF, 0);
		map.set_i16(storage::ID, storage::IN_OUT_W_RTE_SF, -2);
		map.set(storage::ID, storage::STOR_CTL_MOD, 0);
		map.set(storage::ID, storage::OUT_W_RTE, 10_000);
		map.set(storage::ID, storage::IN_W_RTE, 10_000);
		map.set(storage::ID, storage::IN_OUT_W_RTE_WIN_TMS, 0);
		map.set(storage::ID, storage::IN_OUT_W_RTE_RVRT_TMS, 0);
	}
	maps
}

fn initial_maps() -> BTreeMap<DeviceId, RegisterMap> {
	use layout::*;
	BTreeMap::from([
		(
			demo::HOME_BATTERY,
			new_map(
				&[(103, inverter::LEN), (storage::ID, storage::LEN)],
				"PowerCell 13.5",
				"DEMO-0003",
			),
		),
		(
			demo::CI_BATTERY,
			new_map(
				&[(103, inverter::LEN), (battery::ID, battery::LEN)],
				"Grid Block 500",
				"DEMO-0004",
			),
		),
		(demo::SOLAR, new_map(&[(103, inverter::LEN)], "Inverter 8K", "DEMO-0005")),
		(demo::METER, new_map(&[(203, meter::LEN)], "3-Phase 63A", "DEMO-0006")),
	])
}

fn clamp_i16(value: f64) -> i16 {
	value.round().clamp(f64::from(i16::MIN + 1), f64::from(i16::MAX)) as i16
}

/// Writes a snapshot into the register maps; returns the trace lines of what they now serve.
fn update_maps(
	maps: &mut BTreeMap<DeviceId, RegisterMap>,
	fleet: &Fleet,
	s: &Snapshot,
	bogus: &[DeviceId],
	t_ms: u64,
) -> Vec<TraceLine> {
	use layout::*;
	let mut trace = Vec::new();
	// A bogus device serves an out-of-range scale factor in every other second, so that a
	// bridge must skip those readings and still report the good ones in between.
	let bogus_now = (t_ms / 1_000) % 2 == 1;
	let w_sf = |device: DeviceId, normal: i16| {
		if bogus_now && bogus.contains(&device) {
			11
		} else {
			normal
		}
	};
	if let Some(map) = maps.get_mut(&demo::HOME_BATTERY) {
		map.set_i16(103, inverter::W, clamp_i16(s.home_battery_w));
		map.set_i16(103, inverter::W_SF, w_sf(demo::HOME_BATTERY, 0));
		map.set_acc32(103, inverter::WH, fleet.home_battery_counters.exported_wh as u32);
		map.set_i16(103, inverter::WH_SF, 0);
		map.set(103, inverter::ST, 4);
		let soc_hundredths = (s.home_battery_soc * 10_000.0).round() as u16;
		map.set(storage::ID, storage::CHA_STATE, soc_hundredths);
		map.set_i16(storage::ID, storage::CHA_STATE_SF, -2);
		trace.push(TraceLine {
			t_ms,
			device: demo::HOME_BATTERY,
			power_w: s.home_battery_w.round() as i64,
			imported_wh: fleet.home_battery_counters.imported_wh as u64,
			exported_wh: fleet.home_battery_counters.exported_wh as u64,
			soc_bp: Some(soc_hundredths),
		});
	}
	if let Some(map) = maps.get_mut(&demo::CI_BATTERY) {
		// 10 W resolution: up to 327 kW in an int16.
		map.set_i16(103, inverter::W, clamp_i16(s.ci_battery_w / 10.0));
		map.set_i16(103, inverter::W_SF, w_sf(demo::CI_BATTERY, 1));
		map.set_acc32(103, inverter::WH, fleet.ci_battery_counters.exported_wh as u32);
		map.set_i16(103, inverter::WH_SF, 0);
		map.set(103, inverter::ST, 4);
		let soc_tenths = (s.ci_battery_soc * 1_000.0).round() as u16;
		map.set(battery::ID, battery::SOC, soc_tenths);
		map.set_i16(battery::ID, battery::SOC_SF, -1);
		map.set_i16(battery::ID, battery::W, clamp_i16(s.ci_battery_w / 10.0));
		map.set_i16(battery::ID, battery::W_SF, 1);
		trace.push(TraceLine {
			t_ms,
			device: demo::CI_BATTERY,
			power_w: i64::from(clamp_i16(s.ci_battery_w / 10.0)) * 10,
			imported_wh: fleet.ci_battery_counters.imported_wh as u64,
			exported_wh: fleet.ci_battery_counters.exported_wh as u64,
			soc_bp: Some(soc_tenths * 10),
		});
	}
	if let Some(map) = maps.get_mut(&demo::SOLAR) {
		map.set_i16(103, inverter::W, clamp_i16(s.solar_w));
		map.set_i16(103, inverter::W_SF, w_sf(demo::SOLAR, 0));
		let lifetime = fleet.solar_counters.exported_wh as u32;
		map.set_acc32(103, inverter::WH, lifetime);
		map.set_i16(103, inverter::WH_SF, 0);
		map.set(103, inverter::ST, if s.solar_w > 0.0 { 4 } else { 2 });
		trace.push(TraceLine {
			t_ms,
			device: demo::SOLAR,
			power_w: i64::from(clamp_i16(s.solar_w)),
			imported_wh: 0,
			exported_wh: u64::from(lifetime),
			soc_bp: None,
		});
	}
	if let Some(map) = maps.get_mut(&demo::METER) {
		map.set_i16(203, meter::W, clamp_i16(s.meter_import_w));
		map.set_i16(203, meter::W_SF, w_sf(demo::METER, 0));
		let (imported, exported) =
			(fleet.meter_counters.imported_wh as u32, fleet.meter_counters.exported_wh as u32);
		map.set_acc32(203, meter::TOT_WH_EXP, exported);
		map.set_acc32(203, meter::TOT_WH_IMP, imported);
		map.set_i16(203, meter::TOT_WH_SF, 0);
		trace.push(TraceLine {
			t_ms,
			device: demo::METER,
			power_w: -i64::from(clamp_i16(s.meter_import_w)),
			imported_wh: u64::from(imported),
			exported_wh: u64::from(exported),
			soc_bp: None,
		});
	}
	trace
}

/// The home battery's model 124 block as it stands.
fn storage_block(map: &RegisterMap) -> Option<Vec<u16>> {
	map.read(map.model_address(layout::storage::ID)?, layout::storage::LEN + 2)
}

/// What the home battery's storage control asks of it now, applying the revert timeout and an
/// overriding owner (both reset the mode in `map`).
fn home_battery_window(
	map: &mut RegisterMap,
	last_write_ms: Option<u64>,
	now_ms: u64,
	overrides: bool,
) -> Option<model::PowerWindow> {
	use openvpp_bridge::sunspec::storage_control::{StorageControl, StorageRatings};
	let block = storage_block(map)?;
	let (ratings, control) =
		match (StorageRatings::from_block(&block), StorageControl::from_block(&block)) {
			(Ok(ratings), Ok(control)) => (ratings, control),
			_ => return None,
		};
	if control.is_released() {
		return None;
	}
	let expired = control.revert_s > 0
		&& last_write_ms.is_some_and(|at| now_ms >= at + u64::from(control.revert_s) * 1_000);
	if overrides || expired {
		map.set(layout::storage::ID, layout::storage::STOR_CTL_MOD, 0);
		tracing::info!(
			device = demo::HOME_BATTERY,
			reason = if overrides { "owner override" } else { "revert timeout" },
			"storage control back to the battery's own mode"
		);
		return None;
	}
	let (min_w, max_w) = control.window(&ratings);
	Some(model::PowerWindow {
		min_w: min_w.unwrap_or(f64::NEG_INFINITY),
		max_w: max_w.unwrap_or(f64::INFINITY),
	})
}

/// Answers Modbus requests from one device's register map.
#[derive(Clone)]
struct RegisterService {
	maps: Maps,
	writes: Writes,
	device: DeviceId,
}

impl RegisterService {
	fn written(&self, now: u64) {
		if let Ok(mut writes) = self.writes.lock() {
			writes.insert(self.device, now);
		}
	}
}

impl Service for RegisterService {
	type Request = Request<'static>;
	type Response = Response;
	type Exception = ExceptionCode;
	type Future = std::future::Ready<Result<Response, ExceptionCode>>;

	fn call(&self, request: Request<'static>) -> Self::Future {
		let Ok(mut maps) = self.maps.lock() else {
			return std::future::ready(Err(ExceptionCode::ServerDeviceFailure));
		};
		let Some(map) = maps.get_mut(&self.device) else {
			return std::future::ready(Err(ExceptionCode::ServerDeviceFailure));
		};
		let result = match request {
			Request::ReadHoldingRegisters(address, count) => map
				.read(address, count)
				.map(Response::ReadHoldingRegisters)
				.ok_or(ExceptionCode::IllegalDataAddress),
			Request::ReadInputRegisters(address, count) => map
				.read(address, count)
				.map(Response::ReadInputRegisters)
				.ok_or(ExceptionCode::IllegalDataAddress),
			// Control writes take effect at the next physics step.
			Request::WriteSingleRegister(address, value) => {
				if map.write(address, &[value]) {
					tracing::info!(device = self.device, address, value, "register written");
					self.written(now_ms());
					Ok(Response::WriteSingleRegister(address, value))
				} else {
					Err(ExceptionCode::IllegalDataAddress)
				}
			}
			Request::WriteMultipleRegisters(address, values) => {
				if map.write(address, &values) {
					tracing::info!(device = self.device, address, ?values, "registers written");
					self.written(now_ms());
					Ok(Response::WriteMultipleRegisters(address, values.len() as u16))
				} else {
					Err(ExceptionCode::IllegalDataAddress)
				}
			}
			_ => Err(ExceptionCode::IllegalFunction),
		};
		std::future::ready(result)
	}
}

async fn serve_modbus(
	address: SocketAddr,
	maps: Maps,
	writes: Writes,
	device: DeviceId,
) -> std::io::Result<()> {
	let listener = TcpListener::bind(address).await?;
	tracing::info!(device, %address, "serving SunSpec over Modbus TCP");
	let server = Server::new(listener);
	let on_connected = move |stream, _peer| {
		let service = RegisterService { maps: maps.clone(), writes: writes.clone(), device };
		async move { Ok::<_, std::io::Error>(Some((service, stream))) }
	};
	server
		.serve(
			&on_connected,
			|error: std::io::Error| tracing::debug!(%error, "Modbus connection closed"),
		)
		.await
}

/// Runs an embedded MQTT broker on `127.0.0.1:port` (in its own threads).
pub fn spawn_embedded_broker(port: u16) {
	use rumqttd::{Broker, Config, ConnectionSettings, RouterConfig, ServerSettings};
	use std::collections::HashMap;
	let server = ServerSettings {
		name: "v4".into(),
		listen: SocketAddr::from(([127, 0, 0, 1], port)),
		tls: None,
		next_connection_delay_ms: 1,
		connections: ConnectionSettings {
			connection_timeout_ms: 60_000,
			max_payload_size: 256 * 1024,
			max_inflight_count: 200,
			auth: None,
			external_auth: None,
			dynamic_filters: true,
		},
	};
	let config = Config {
		id: 0,
		router: RouterConfig {
			max_connections: 100,
			max_outgoing_packet_count: 1_000,
			max_segment_size: 1 << 20,
			max_segment_count: 10,
			..Default::default()
		},
		v4: Some(HashMap::from([("1".to_string(), server)])),
		..Default::default()
	};
	std::thread::spawn(move || {
		if let Err(error) = Broker::new(config).start() {
			tracing::error!(%error, "embedded MQTT broker stopped");
		}
	});
	tracing::info!(port, "embedded MQTT broker on 127.0.0.1");
}

/// What the MQTT devices were told, as the simulator's command connection heard it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct MqttCommands {
	/// The charger's `hold`: the most it may draw (W) and when that lapses (ms).
	pub charger_hold: Option<(f64, Option<u64>)>,
	/// evcc's loadpoint current limit (A).
	pub ev_max_current_a: Option<f64>,
	pub heat_pump_off: bool,
}

impl MqttCommands {
	/// Takes in one command message; returns what the device answers (topic, payload), if
	/// anything. `overrides` lists the devices whose owners override commands.
	fn receive(
		&mut self,
		topic: &str,
		payload: &[u8],
		now_ms: u64,
		overrides: &[DeviceId],
	) -> Option<(&'static str, String)> {
		use openvpp_bridge::device_command::JsonCommand;
		let text = String::from_utf8_lossy(payload);
		match topic {
			demo::CHARGER_SET_TOPIC if !overrides.contains(&demo::CHARGER) => {
				match JsonCommand::parse(payload) {
					Ok(JsonCommand::Hold { power_w, revert_after_s, .. }) => {
						let lapses = (revert_after_s > 0)
							.then(|| now_ms + u64::from(revert_after_s) * 1_000);
						self.charger_hold = Some(((-power_w).max(0) as f64, lapses));
					}
					Ok(JsonCommand::Release {}) => self.charger_hold = None,
					Err(error) => tracing::warn!(%error, "charger command refused"),
				}
				None
			}
			demo::EV_MAX_CURRENT_SET_TOPIC => {
				if !overrides.contains(&demo::EV) {
					match text.trim().parse::<f64>() {
						Ok(amps) if (0.0..=model::MAX_CHARGING_CURRENT_A).contains(&amps) => {
							self.ev_max_current_a = Some(amps)
						}
						_ => tracing::warn!(payload = %text, "evcc current refused"),
					}
				}
				let shown = self.ev_max_current_a.unwrap_or(model::MAX_CHARGING_CURRENT_A);
				Some((demo::EV_MAX_CURRENT_TOPIC, format!("{shown}")))
			}
			demo::EMS_POWER_COMMAND_TOPIC => {
				if !overrides.contains(&demo::EMS) {
					match text.trim().to_ascii_uppercase().as_str() {
						"OFF" | "0" => self.heat_pump_off = true,
						"ON" | "1" => self.heat_pump_off = false,
						_ => tracing::warn!(payload = %text, "relay command refused"),
					}
				}
				let state = if self.heat_pump_off { "OFF" } else { "ON" };
				Some((demo::EMS_POWER_STATE_TOPIC, state.to_string()))
			}
			_ => None,
		}
	}

	/// The charger's current limit (A) now: the lower of evcc's and the `hold`.
	fn charger_current_a(&mut self, now_ms: u64) -> Option<f64> {
		if let Some((_, Some(lapses))) = self.charger_hold {
			if now_ms >= lapses {
				tracing::info!(device = demo::CHARGER, "hold lapsed: back to its own behaviour");
				self.charger_hold = None;
			}
		}
		let from_hold = self.charger_hold.map(|(max_w, _)| max_w / model::CHARGER_W_PER_A);
		match (from_hold, self.ev_max_current_a) {
			(Some(a), Some(b)) => Some(a.min(b)),
			(a, b) => a.or(b),
		}
	}
}

/// Listens on the MQTT devices' command topics and answers as the devices would.
async fn drive_commands(
	port: u16,
	commands: Arc<Mutex<MqttCommands>>,
	fleet: Arc<Mutex<FleetBatteries>>,
	overrides: Vec<DeviceId>,
	mut shutdown: watch::Receiver<bool>,
) {
	let mut options =
		MqttOptions::new(format!("openvpp-sim-commands-{}", std::process::id()), "127.0.0.1", port);
	options.set_keep_alive(Duration::from_secs(5)).set_clean_session(true);
	let (client, mut eventloop) = AsyncClient::new(options, 64);
	loop {
		let polled = tokio::select! {
			_ = shutdown.changed() => return,
			polled = eventloop.poll() => polled,
		};
		match polled {
			Ok(Event::Incoming(Packet::ConnAck(_))) => {
				for topic in [
					demo::CHARGER_SET_TOPIC,
					demo::EV_MAX_CURRENT_SET_TOPIC,
					demo::EMS_POWER_COMMAND_TOPIC,
				] {
					let _ = client.try_subscribe(topic, QoS::AtLeastOnce);
				}
				if fleet.lock().is_ok_and(|fleet| !fleet.is_empty()) {
					let _ = client.try_subscribe(demo::FLEET_COMMAND_FILTER, QoS::AtLeastOnce);
				}
			}
			Ok(Event::Incoming(Packet::Publish(publish))) => {
				if let Some(index) = demo::FleetBattery::from_command_topic(&publish.topic) {
					tracing::debug!(topic = %publish.topic, "fleet command received");
					if let Ok(mut fleet) = fleet.lock() {
						fleet.command(index, &publish.payload, now_ms());
					}
					continue;
				}
				tracing::info!(topic = %publish.topic, payload = %String::from_utf8_lossy(&publish.payload), "command received");
				let answer = match commands.lock() {
					Ok(mut commands) => {
						commands.receive(&publish.topic, &publish.payload, now_ms(), &overrides)
					}
					Err(_) => None,
				};
				if let Some((topic, payload)) = answer {
					let _ = client.try_publish(topic, QoS::AtLeastOnce, false, payload);
				}
			}
			Ok(_) => {}
			Err(error) => {
				tracing::debug!(%error, "simulator command connection down");
				tokio::time::sleep(Duration::from_secs(1)).await;
			}
		}
	}
}

/// One MQTT device's connection, with its last will.
struct MqttDevice {
	client: AsyncClient,
	status_topic: String,
	online_payload: &'static str,
}

fn mqtt_device(
	port: u16,
	id: &str,
	status_topic: &str,
	online: &'static str,
	offline: &'static str,
	capacity: usize,
) -> (MqttDevice, rumqttc::EventLoop) {
	let mut options =
		MqttOptions::new(format!("openvpp-sim-{id}-{}", std::process::id()), "127.0.0.1", port);
	options
		.set_keep_alive(Duration::from_secs(5))
		.set_clean_session(true)
		.set_last_will(LastWill::new(status_topic, offline, QoS::AtLeastOnce, true));
	let (client, eventloop) = AsyncClient::new(options, capacity);
	(
		MqttDevice { client, status_topic: status_topic.to_string(), online_payload: online },
		eventloop,
	)
}

/// Keeps an MQTT connection alive and announces the device online on every (re)connection.
async fn drive_mqtt(
	device: MqttDevice,
	mut eventloop: rumqttc::EventLoop,
	mut shutdown: watch::Receiver<bool>,
) {
	loop {
		let polled = tokio::select! {
			_ = shutdown.changed() => return,
			polled = eventloop.poll() => polled,
		};
		match polled {
			Ok(Event::Incoming(Packet::ConnAck(_))) => {
				let _ = device.client.try_publish(
					device.status_topic.clone(),
					QoS::AtLeastOnce,
					true,
					device.online_payload,
				);
			}
			Ok(_) => {}
			Err(error) => {
				tracing::debug!(%error, topic = %device.status_topic, "simulator MQTT connection down");
				tokio::time::sleep(Duration::from_secs(1)).await;
			}
		}
	}
}

/// Publishes the MQTT devices' values.
fn publish_mqtt(
	ev: &AsyncClient,
	charger: &AsyncClient,
	ems: &AsyncClient,
	fleet: &Fleet,
	s: &Snapshot,
	t_ms: u64,
	garbage: bool,
) -> Vec<TraceLine> {
	let qos = QoS::AtLeastOnce;
	// evcc: one value per topic; energy in kWh.
	let ev_kwh = fleet.ev_counters.imported_wh / 1_000.0;
	let _ = ev.try_publish(demo::EV_POWER_TOPIC, qos, false, format!("{:.0}", s.ev_charging_w));
	let _ = ev.try_publish(demo::EV_SOC_TOPIC, qos, false, format!("{:.2}", s.ev_soc * 100.0));
	let _ = ev.try_publish(demo::EV_ENERGY_TOPIC, qos, false, format!("{ev_kwh:.3}"));
	// OpenVPP JSON.
	let state = if !s.ev_connected {
		"ev-not-connected"
	} else if s.ev_charging_w > 0.0 {
		"ev-charging"
	} else {
		"ev-connected"
	};
	let charger_doc = serde_json::json!({
		"power_w": -s.ev_charging_w.round(),
		"energy_imported_wh": fleet.charger_counters.imported_wh.round(),
		"energy_exported_wh": 0,
		"state": state,
	});
	let payload = if garbage { "{\"power_w\": oops".to_string() } else { charger_doc.to_string() };
	let _ = charger.try_publish(demo::CHARGER_TOPIC, qos, false, payload);
	// Tasmota: ENERGY.Total in kWh, Power in W drawn.
	let ems_doc = serde_json::json!({
		"Time": "",
		"ENERGY": {
			"Total": (fleet.ems_counters.imported_wh / 1_000.0 * 1_000.0).round() / 1_000.0,
			"Power": s.ems_load_w.round(),
		}
	});
	let _ =
		ems.try_publish(format!("{}/SENSOR", demo::EMS_PREFIX), qos, false, ems_doc.to_string());

	vec![
		TraceLine {
			t_ms,
			device: demo::EV,
			power_w: -(s.ev_charging_w.round() as i64),
			imported_wh: (ev_kwh * 1_000.0).round() as u64,
			exported_wh: 0,
			soc_bp: Some((s.ev_soc * 10_000.0).round() as u16),
		},
		TraceLine {
			t_ms,
			device: demo::CHARGER,
			power_w: -(s.ev_charging_w.round() as i64),
			imported_wh: fleet.charger_counters.imported_wh.round() as u64,
			exported_wh: 0,
			soc_bp: None,
		},
		TraceLine {
			t_ms,
			device: demo::EMS,
			power_w: -(s.ems_load_w.round() as i64),
			imported_wh: fleet.ems_counters.imported_wh.round() as u64,
			exported_wh: 0,
			soc_bp: None,
		},
	]
}

/// Runs the simulator until `shutdown` turns true.
pub async fn run(config: SimConfig, mut shutdown: watch::Receiver<bool>) -> std::io::Result<()> {
	if config.embedded_broker {
		spawn_embedded_broker(config.layout.mqtt_port);
	}
	let mut trace = match &config.trace {
		Some(path) => Some(std::io::BufWriter::new(std::fs::File::create(path)?)),
		None => None,
	};

	let maps: Maps = Arc::new(Mutex::new(register_maps()));
	let writes: Writes = Arc::new(Mutex::new(BTreeMap::new()));
	let mut fleet = Fleet::new(config.seed);
	let start = now_ms();
	// Serve values from the first instant.
	{
		let snapshot = fleet.step(start as f64 / 1_000.0, 0.001);
		if let Ok(mut maps) = maps.lock() {
			update_maps(&mut maps, &fleet, &snapshot, &config.bogus_modbus, start);
		}
	}
	let mut tasks = tokio::task::JoinSet::new();
	for device in demo::MODBUS_DEVICES {
		let address = config.layout.modbus_address(device);
		let (maps, writes) = (maps.clone(), writes.clone());
		tasks.spawn(async move {
			if let Err(error) = serve_modbus(address, maps, writes, device).await {
				tracing::error!(device, %address, %error, "Modbus server failed");
			}
		});
	}

	let port = config.layout.mqtt_port;
	let (ev, ev_loop) = mqtt_device(port, "ev", demo::EV_STATUS_TOPIC, "online", "offline", 64);
	let (charger, charger_loop) =
		mqtt_device(port, "charger", demo::CHARGER_STATUS_TOPIC, "online", "offline", 64);
	let ems_lwt = format!("{}/LWT", demo::EMS_PREFIX);
	let (ems, ems_loop) = mqtt_device(port, "ems", &ems_lwt, "Online", "Offline", 64);
	// The larger fleet shares one connection, with room for a state of each battery per step.
	let fleet_batteries =
		Arc::new(Mutex::new(FleetBatteries::new(config.fleet, config.fleet_override_percent)));
	let (fleet_link, fleet_loop) = mqtt_device(
		port,
		"fleet",
		FLEET_STATUS_TOPIC,
		"online",
		"offline",
		config.fleet as usize * 2 + 64,
	);
	let fleet_client = fleet_link.client.clone();
	if config.fleet > 0 {
		if let Ok(fleet) = fleet_batteries.lock() {
			tracing::info!(
				batteries = config.fleet,
				overriding = ?fleet.overriding(),
				"simulating the larger fleet"
			);
		}
		tasks.spawn(drive_mqtt(fleet_link, fleet_loop, shutdown.clone()));
	}
	let (ev_client, charger_client, ems_client) =
		(ev.client.clone(), charger.client.clone(), ems.client.clone());
	tasks.spawn(drive_mqtt(ev, ev_loop, shutdown.clone()));
	tasks.spawn(drive_mqtt(charger, charger_loop, shutdown.clone()));
	tasks.spawn(drive_mqtt(ems, ems_loop, shutdown.clone()));
	let commands = Arc::new(Mutex::new(MqttCommands::default()));
	tasks.spawn(drive_commands(
		port,
		commands.clone(),
		fleet_batteries.clone(),
		config.override_devices.clone(),
		shutdown.clone(),
	));

	let mut ticker = tokio::time::interval(config.tick);
	ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
	let mut last = start;
	let mut ticks = 0u32;
	tracing::info!(
		mqtt_port = port,
		modbus_base_port = config.layout.modbus_base_port,
		"simulator running"
	);
	loop {
		tokio::select! {
			_ = shutdown.changed() => break,
			_ = ticker.tick() => {},
		}
		let now = now_ms();
		let dt = (now.saturating_sub(last)) as f64 / 1_000.0;
		last = now;
		let last_write = writes.lock().ok().and_then(|w| w.get(&demo::HOME_BATTERY).copied());
		if let Ok(mut maps) = maps.lock() {
			if let Some(map) = maps.get_mut(&demo::HOME_BATTERY) {
				let overrides = config.override_devices.contains(&demo::HOME_BATTERY);
				fleet.commands.home_battery = home_battery_window(map, last_write, now, overrides);
			}
		}
		if let Ok(mut commands) = commands.lock() {
			fleet.commands.charger_max_current_a = commands.charger_current_a(now);
			fleet.commands.heat_pump_off = commands.heat_pump_off;
		}
		let snapshot = fleet.step(now as f64 / 1_000.0, dt.max(0.001));
		ticks = ticks.wrapping_add(1);
		let garbage =
			config.garbage_mqtt_every > 0 && ticks.is_multiple_of(config.garbage_mqtt_every);
		let mut lines = match maps.lock() {
			Ok(mut maps) => update_maps(&mut maps, &fleet, &snapshot, &config.bogus_modbus, now),
			Err(_) => Vec::new(),
		};
		lines.extend(publish_mqtt(
			&ev_client,
			&charger_client,
			&ems_client,
			&fleet,
			&snapshot,
			now,
			garbage,
		));
		if let Ok(mut fleet) = fleet_batteries.lock() {
			if !fleet.is_empty() {
				fleet.step(now as f64 / 1_000.0, dt.max(0.001), now);
				for (topic, payload) in fleet.states() {
					let _ = fleet_client.try_publish(topic, QoS::AtLeastOnce, false, payload);
				}
				if trace.is_some() {
					lines.extend(fleet.trace(now));
				}
			}
		}
		if let Some(trace) = trace.as_mut() {
			for line in lines {
				if let Ok(json) = serde_json::to_string(&line) {
					let _ = writeln!(trace, "{json}");
				}
			}
			let _ = trace.flush();
		}
	}
	// Announce the devices offline, as their last wills would.
	let _ = ev_client.try_publish(demo::EV_STATUS_TOPIC, QoS::AtLeastOnce, true, "offline");
	let _ =
		charger_client.try_publish(demo::CHARGER_STATUS_TOPIC, QoS::AtLeastOnce, true, "offline");
	let _ = ems_client.try_publish(ems_lwt, QoS::AtLeastOnce, true, "Offline");
	tokio::time::sleep(Duration::from_millis(200)).await;
	tasks.abort_all();
	tracing::info!("simulator stopped");
	Ok(())
}

#[cfg(test)]
mod tests {
	use super::*;
	use openvpp_bridge::sunspec::{decode_device, walk_chain};

	#[test]
	fn served_register_maps_decode_to_the_traced_values() {
		let mut maps = register_maps();
		let mut fleet = Fleet::new(3);
		let snapshot = fleet.step(1_782_043_200.0, 1.0);
		let trace = update_maps(&mut maps, &fleet, &snapshot, &[], 42);
		for line in trace {
			let map = &maps[&line.device];
			let models = walk_chain(BASE, |a, c| map.read(a, c).ok_or(())).unwrap().unwrap();
			let blocks: Vec<_> =
				models.iter().map(|h| (*h, map.read(h.address, h.block_len()).unwrap())).collect();
			let sample = decode_device(&blocks).unwrap().to_sample(42);
			assert_eq!(sample.power_w.map(i64::from), Some(line.power_w), "device {}", line.device);
			assert_eq!(sample.soc_bp, line.soc_bp, "device {}", line.device);
			if line.device == demo::METER || line.device == demo::SOLAR {
				assert_eq!(sample.imported_wh, Some(line.imported_wh));
				assert_eq!(sample.exported_wh, Some(line.exported_wh));
			}
		}
	}

	#[test]
	fn the_home_battery_obeys_storage_control_until_it_reverts_or_its_owner_overrides() {
		use layout::storage;
		use openvpp_bridge::sunspec::storage_control::{StorageControl, StorageRatings};
		let mut maps = register_maps();
		let map = maps.get_mut(&demo::HOME_BATTERY).unwrap();
		assert_eq!(home_battery_window(map, None, 0, false), None);
		let ratings = StorageRatings::from_block(&storage_block(map).unwrap()).unwrap();
		assert_eq!(ratings.w_cha_max_w, 5_000.0);
		let control = StorageControl::holding(3_000.0, &ratings, 60);
		let address = map.model_address(storage::ID).unwrap();
		let write = |map: &mut RegisterMap| {
			for (offset, values) in control.writes() {
				assert!(map.write(address + offset as u16, &values));
			}
		};
		write(map);
		let window = home_battery_window(map, Some(1_000), 30_000, false).unwrap();
		assert_eq!((window.min_w, window.max_w), (3_000.0, 3_000.0));
		// 60 s after the write the battery is back in its own mode.
		assert_eq!(home_battery_window(map, Some(1_000), 61_000, false), None);
		assert_eq!(map.get(storage::ID, storage::STOR_CTL_MOD), Some(0));
		// An owner who overrides resets the control at once.
		write(map);
		assert_eq!(home_battery_window(map, Some(100_000), 100_500, true), None);
		assert_eq!(map.get(storage::ID, storage::STOR_CTL_MOD), Some(0));
	}

	#[test]
	fn mqtt_devices_obey_their_commands_unless_their_owners_override() {
		let mut commands = MqttCommands::default();
		let hold = br#"{"command":"hold","power_w":-5500,"revert_after_s":60}"#;
		assert_eq!(commands.receive(demo::CHARGER_SET_TOPIC, hold, 1_000, &[]), None);
		assert_eq!(commands.charger_current_a(2_000), Some(8.0));
		// evcc's limit counts too: the lower one wins; evcc shows what it holds.
		assert_eq!(
			commands.receive(demo::EV_MAX_CURRENT_SET_TOPIC, b"6", 2_000, &[]),
			Some((demo::EV_MAX_CURRENT_TOPIC, "6".to_string()))
		);
		assert_eq!(commands.charger_current_a(3_000), Some(6.0));
		// The hold lapses 60 s after it came.
		assert!(commands.receive(demo::EV_MAX_CURRENT_SET_TOPIC, b"16", 3_000, &[]).is_some());
		assert_eq!(commands.charger_current_a(61_000), Some(16.0));
		assert_eq!(commands.charger_hold, None);
		// Garbage changes nothing.
		commands.receive(demo::CHARGER_SET_TOPIC, b"{", 62_000, &[]);
		commands.receive(demo::EV_MAX_CURRENT_SET_TOPIC, b"400", 62_000, &[]);
		assert_eq!(commands.charger_current_a(62_000), Some(16.0));

		assert_eq!(
			commands.receive(demo::EMS_POWER_COMMAND_TOPIC, b"OFF", 0, &[]),
			Some((demo::EMS_POWER_STATE_TOPIC, "OFF".to_string()))
		);
		assert!(commands.heat_pump_off);
		commands.receive(demo::EMS_POWER_COMMAND_TOPIC, b"ON", 0, &[]);
		// An owner who overrides keeps the heat pump on, and the relay says so.
		assert_eq!(
			commands.receive(demo::EMS_POWER_COMMAND_TOPIC, b"OFF", 0, &[demo::EMS]),
			Some((demo::EMS_POWER_STATE_TOPIC, "ON".to_string()))
		);
		assert!(!commands.heat_pump_off);
		commands.receive(demo::CHARGER_SET_TOPIC, hold, 0, &[demo::CHARGER]);
		assert_eq!(commands.charger_hold, None);
	}

	#[test]
	fn a_bogus_device_serves_an_invalid_scale_factor_every_other_second() {
		let mut maps = register_maps();
		let mut fleet = Fleet::new(3);
		let snapshot = fleet.step(1_782_043_200.0, 1.0);
		let decodes = |maps: &BTreeMap<DeviceId, RegisterMap>| {
			let map = &maps[&demo::SOLAR];
			let models = walk_chain(BASE, |a, c| map.read(a, c).ok_or(())).unwrap().unwrap();
			let blocks: Vec<_> =
				models.iter().map(|h| (*h, map.read(h.address, h.block_len()).unwrap())).collect();
			decode_device(&blocks).is_ok()
		};
		update_maps(&mut maps, &fleet, &snapshot, &[demo::SOLAR], 1_000);
		assert!(!decodes(&maps));
		update_maps(&mut maps, &fleet, &snapshot, &[demo::SOLAR], 2_000);
		assert!(decodes(&maps));
	}
}
