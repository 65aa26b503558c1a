//! `openvpp-sim`: the demo fleet simulated and served over Modbus TCP (SunSpec) and MQTT.

use std::{path::PathBuf, time::Duration};

use anyhow::Context;
use clap::Parser;
use openvpp_sim::{self as sim, demo::DemoLayout};

/// Simulates the demo fleet (see docs/gateway-integration.md) and serves it as real devices.
#[derive(Debug, Parser)]
#[command(version)]
struct Args {
	/// MQTT broker port on 127.0.0.1.
	#[arg(long, default_value_t = 1883)]
	mqtt_port: u16,
	/// Run an embedded MQTT broker on that port (otherwise one must be running).
	#[arg(long)]
	embedded_broker: bool,
	/// Device n's Modbus TCP server listens on 127.0.0.1:<base + n>.
	#[arg(long, default_value_t = 15_020)]
	modbus_base_port: u16,
	/// Milliseconds between simulation steps.
	#[arg(long, default_value_t = 1_000)]
	tick_ms: u64,
	/// Random seed of the weather and load noise.
	#[arg(long, default_value_t = 2026)]
	seed: u64,
	/// Write every served value to this file (JSON lines).
	#[arg(long)]
	trace: Option<PathBuf>,
	/// Serve these Modbus device ids with an invalid scale factor (fault testing).
	#[arg(long, value_delimiter = ',')]
	bogus_modbus: Vec<u32>,
	/// Publish a malformed payload on the charger topic every N ticks (fault testing).
	#[arg(long, default_value_t = 0)]
	garbage_mqtt_every: u32,
	/// Devices whose owners override every command sent to them (non-delivery testing).
	#[arg(long = "override", value_delimiter = ',')]
	override_devices: Vec<u32>,
	/// Also simulate this many home batteries of the larger fleet (MQTT, openvpp-json; register
	/// them with `openvpp-demo fleet`).
	#[arg(long, default_value_t = 0, value_parser = clap::value_parser!(u32).range(0..=i64::from(openvpp_sim::demo::MAX_FLEET)))]
	fleet: u32,
	/// The share of the larger fleet's owners who override every command (%).
	#[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u32).range(0..=100))]
	fleet_override_percent: u32,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
	openvpp_bridge::chain::use_chain_ss58_format();
	openvpp_bridge::init_logging("info");
	let args = Args::parse();
	let shutdown = openvpp_bridge::shutdown_on_signals();
	let config = sim::SimConfig {
		layout: DemoLayout { mqtt_port: args.mqtt_port, modbus_base_port: args.modbus_base_port },
		embedded_broker: args.embedded_broker,
		tick: Duration::from_millis(args.tick_ms.max(10)),
		seed: args.seed,
		trace: args.trace,
		bogus_modbus: args.bogus_modbus,
		garbage_mqtt_every: args.garbage_mqtt_every,
		override_devices: args.override_devices,
		fleet: args.fleet,
		fleet_override_percent: args.fleet_override_percent,
	};
	sim::run(config, shutdown).await.context("simulator failed")
}
