//! The whole stack on 127.0.0.1 for the bridge's end-to-end tests: dev node, mosquitto,
//! simulator and bridge, each a real process.

#![allow(dead_code, clippy::expect_used, clippy::unwrap_used, clippy::panic)]

use std::{path::PathBuf, process::Command, time::Duration};

use openvpp_bridge::{
	audit::{self, AuditedReport},
	chain::Chain,
};
use openvpp_sim::{
	demo::{self, DemoConfig, DemoLayout},
	TraceLine,
};
use openvpp_testkit::{self as testkit, Process};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

pub const BRIDGE: &str = env!("CARGO_BIN_EXE_openvpp-bridge");

/// The simulator binary, from its own package (built by the workspace's tests).
pub fn sim_binary() -> PathBuf {
	testkit::workspace_binary("openvpp-sim")
}

pub struct StackOptions {
	pub bogus_modbus: Vec<u32>,
	/// Devices whose simulated owners override every command.
	pub override_devices: Vec<u32>,
	pub garbage_mqtt_every: u32,
	pub interval_s: u32,
	/// Batteries of the larger fleet simulated and served (registered by the test).
	pub fleet: u32,
	/// The share of the larger fleet's owners who override every command (%).
	pub fleet_override_percent: u32,
}

impl Default for StackOptions {
	fn default() -> Self {
		StackOptions {
			bogus_modbus: Vec::new(),
			override_devices: Vec::new(),
			garbage_mqtt_every: 0,
			interval_s: 10,
			fleet: 0,
			fleet_override_percent: 0,
		}
	}
}

pub struct Stack {
	pub node: Process,
	pub mosquitto: Process,
	pub sim: Process,
	pub bridge: Process,
	pub rpc_port: u16,
	pub mqtt_port: u16,
	pub metrics_port: u16,
	pub layout: DemoLayout,
	pub config: PathBuf,
	pub trace_path: PathBuf,
	/// Declared last: dropped after the processes, so their logs can still be shown.
	pub dir: tempfile::TempDir,
}

impl Stack {
	pub fn url(&self) -> String {
		format!("ws://127.0.0.1:{}", self.rpc_port)
	}

	pub async fn start(options: StackOptions) -> Stack {
		let dir = tempfile::Builder::new().prefix("openvpp-bridge-e2e-").tempdir().unwrap();
		let rpc_port = testkit::free_port();
		let node = testkit::start_dev_node(&dir.path().join("chain"), rpc_port, dir.path());
		let url = format!("ws://127.0.0.1:{rpc_port}");
		wait_for_chain(&url).await;

		let mqtt_port = testkit::free_port();
		let mosquitto = testkit::start_mosquitto(mqtt_port, dir.path());
		testkit::wait_for_port(mqtt_port, Duration::from_secs(20)).await;

		let layout = DemoLayout { mqtt_port, modbus_base_port: testkit::free_port_range(7) };
		let trace_path = dir.path().join("trace.jsonl");
		let sim = start_sim(&layout, &trace_path, &options, dir.path());
		for device in demo::MODBUS_DEVICES {
			testkit::wait_for_port(layout.modbus_address(device).port(), Duration::from_secs(20))
				.await;
		}
		// The bridge refuses devices the chain does not know: the larger fleet comes first.
		if options.fleet > 0 {
			let stdout =
				run_demo_command(&["fleet", "--url", &url, "--count", &options.fleet.to_string()])
					.await;
			let all = format!("{0} registered and {0} approved", options.fleet);
			assert!(stdout.contains(&all), "{stdout}");
		}

		let metrics_port = testkit::free_port();
		let bridge_dir = dir.path().join("bridge");
		std::fs::create_dir_all(&bridge_dir).unwrap();
		let keystore = bridge_dir.join("keystore.json");
		std::fs::write(&keystore, demo::keystore_json(options.fleet)).unwrap();
		use std::os::unix::fs::PermissionsExt;
		std::fs::set_permissions(&keystore, std::fs::Permissions::from_mode(0o600)).unwrap();
		let config = bridge_dir.join("bridge.toml");
		let text = demo::bridge_config_toml(&DemoConfig {
			layout,
			node_url: &url,
			interval_s: options.interval_s,
			keystore: &keystore,
			outbox: &bridge_dir.join("outbox.redb"),
			metrics_listen: Some(([127, 0, 0, 1], metrics_port).into()),
			poll_interval_ms: 500,
			fleet: options.fleet,
		});
		std::fs::write(&config, text).unwrap();
		let bridge = start_bridge(&config, dir.path());

		Stack {
			dir,
			node,
			mosquitto,
			sim,
			bridge,
			rpc_port,
			mqtt_port,
			metrics_port,
			layout,
			config,
			trace_path,
		}
	}

	pub fn start_bridge(&mut self) {
		self.bridge = start_bridge(&self.config, self.dir.path());
	}

	pub fn start_node(&mut self) {
		self.node =
			testkit::start_dev_node(&self.dir.path().join("chain"), self.rpc_port, self.dir.path());
	}

	pub fn start_mosquitto(&mut self) {
		self.mosquitto = testkit::start_mosquitto(self.mqtt_port, self.dir.path());
	}

	pub async fn chain(&self) -> Chain {
		wait_for_chain(&self.url()).await
	}

	/// Audits the chain until each of `devices` has at least `count` landed reports.
	pub async fn wait_for_reports(
		&self,
		from_block: u32,
		devices: &[u32],
		count: usize,
		timeout: Duration,
	) -> Vec<AuditedReport> {
		self.wait_for_reports_since(from_block, devices, 0, count, timeout).await
	}

	/// Audits the chain until each of `devices` has at least `count` landed reports of
	/// intervals that started at or after `since_s` (Unix seconds).
	pub async fn wait_for_reports_since(
		&self,
		from_block: u32,
		devices: &[u32],
		since_s: u64,
		count: usize,
		timeout: Duration,
	) -> Vec<AuditedReport> {
		let url = self.url();
		let what = format!("{count} reports since {since_s} of devices {devices:?}");
		testkit::wait_for(&what, timeout, || {
			let url = url.clone();
			async move {
				let chain = Chain::connect(&url).await.ok()?;
				let reports = audit::audit(&chain, from_block).await.ok()?;
				let enough = devices.iter().all(|d| {
					let fresh = |r: &&AuditedReport| {
						r.device_id == *d && r.landed() && r.interval_start >= since_s
					};
					reports.iter().filter(fresh).count() >= count
				});
				enough.then_some(reports)
			}
		})
		.await
	}

	pub fn trace(&self) -> Vec<TraceLine> {
		std::fs::read_to_string(&self.trace_path)
			.unwrap()
			.lines()
			.filter_map(|l| serde_json::from_str(l).ok())
			.collect()
	}

	/// The bridge's Prometheus metrics.
	/// A bridge that has just been started may take a few seconds to serve them.
	pub async fn metrics(&self) -> String {
		metrics_at(self.metrics_port).await
	}
}

/// The Prometheus metrics a bridge serves on 127.0.0.1:`port`.
pub async fn metrics_at(port: u16) -> String {
	{
		let mut stream = testkit::wait_for(
			"the bridge's metrics endpoint",
			Duration::from_secs(60),
			|| async move { tokio::net::TcpStream::connect(("127.0.0.1", port)).await.ok() },
		)
		.await;
		stream
			.write_all(b"GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
			.await
			.unwrap();
		let mut response = String::new();
		stream.read_to_string(&mut response).await.unwrap();
		response
	}
}

pub fn start_sim(
	layout: &DemoLayout,
	trace: &std::path::Path,
	options: &StackOptions,
	dir: &std::path::Path,
) -> Process {
	let mut command = Command::new(sim_binary());
	command
		.args(["--mqtt-port", &layout.mqtt_port.to_string()])
		.args(["--modbus-base-port", &layout.modbus_base_port.to_string()])
		.args(["--tick-ms", "500", "--seed", "7"])
		.arg("--trace")
		.arg(trace)
		.args(["--garbage-mqtt-every", &options.garbage_mqtt_every.to_string()])
		.args(["--fleet", &options.fleet.to_string()])
		.args(["--fleet-override-percent", &options.fleet_override_percent.to_string()]);
	if !options.bogus_modbus.is_empty() {
		let ids: Vec<String> = options.bogus_modbus.iter().map(u32::to_string).collect();
		command.args(["--bogus-modbus", &ids.join(",")]);
	}
	if !options.override_devices.is_empty() {
		let ids: Vec<String> = options.override_devices.iter().map(u32::to_string).collect();
		command.args(["--override", &ids.join(",")]);
	}
	Process::spawn("sim", command, dir.join(format!("sim-{}.log", layout.mqtt_port)))
}

/// Runs `program` with `args` to its end; returns its output, or panics with it if the
/// command failed.
pub async fn run_command(program: PathBuf, args: &[&str]) -> String {
	let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
	let output =
		tokio::task::spawn_blocking(move || Command::new(program).args(&args).output().unwrap())
			.await
			.unwrap();
	let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
	assert!(output.status.success(), "{stdout}{}", String::from_utf8_lossy(&output.stderr));
	stdout
}

/// Runs an `openvpp-demo` command (from its own package) to its end.
pub async fn run_demo_command(args: &[&str]) -> String {
	run_command(testkit::workspace_binary("openvpp-demo"), args).await
}

pub fn start_bridge(config: &std::path::Path, dir: &std::path::Path) -> Process {
	let mut command = Command::new(BRIDGE);
	command.arg("run").arg("--config").arg(config).env("RUST_LOG", "info");
	let n = std::fs::read_dir(dir).map(|d| d.count()).unwrap_or(0);
	Process::spawn("bridge", command, dir.join(format!("bridge-{n}.log")))
}

/// Connects to the node once it answers and has finalized a block.
pub async fn wait_for_chain(url: &str) -> Chain {
	testkit::wait_for(&format!("the node at {url}"), Duration::from_secs(180), || async move {
		let chain = Chain::connect(url).await.ok()?;
		let head = chain.finalized_head().await.ok()?;
		let number = chain.block(head).await.ok()?.number;
		(number >= 1).then_some(chain)
	})
	.await
}

/// Sum of a Prometheus metric's samples whose labels contain `label_filter`.
pub fn metric_sum(text: &str, name: &str, label_filter: &str) -> f64 {
	text.lines()
		.filter(|l| l.starts_with(name) && l.contains(label_filter))
		.filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
		.sum()
}
