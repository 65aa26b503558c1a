//! The dashboard in a real browser: a development chain with the simulated fleet reporting
//! through the bridge, the dashboard serving the page, and headless Chromium driven by the
//! Node.js test in `browser/` (puppeteer-core). Screenshots of the main pages are saved in
//! `<target>/release/dashboard-screenshots/`.
//!
//! `scripts/setup.sh --for-tests` installs Chromium and the test's npm packages.

#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

use std::{
	path::{Path, PathBuf},
	process::Command,
	time::Duration,
};

use jsonrpsee::{core::client::ClientT, http_client::HttpClientBuilder, rpc_params};
use openvpp_testkit::{self as testkit, Process};

const DASHBOARD: &str = env!("CARGO_BIN_EXE_openvpp-dashboard");

fn chromium() -> PathBuf {
	let path = std::env::var_os("CHROMIUM")
		.map(PathBuf::from)
		.unwrap_or_else(|| PathBuf::from("/usr/bin/chromium"));
	assert!(
		path.exists(),
		"{} does not exist: run scripts/setup.sh --for-tests (or set CHROMIUM)",
		path.display()
	);
	path
}

#[tokio::test(flavor = "multi_thread")]
async fn the_dashboard_shows_the_chain_live_in_a_browser() {
	let tests = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/browser");
	assert!(
		tests.join("node_modules/puppeteer-core").is_dir(),
		"the browser test's npm packages are missing in {}: run scripts/setup.sh --for-tests",
		tests.display()
	);
	let chromium = chromium();
	let dir = tempfile::tempdir().unwrap();
	let rpc_port = testkit::free_port();
	let _node = testkit::start_dev_node(&dir.path().join("chain"), rpc_port, dir.path());
	let rpc_url = format!("http://127.0.0.1:{rpc_port}");
	let ws_url = format!("ws://127.0.0.1:{rpc_port}");
	let client = HttpClientBuilder::default().build(&rpc_url).unwrap();

	// The simulated fleet with its own broker, and the bridge reporting every 10 s.
	let mqtt_port = testkit::free_port();
	let modbus_base_port = testkit::free_port_range(8);
	let mut sim = Command::new(testkit::workspace_binary("openvpp-sim"));
	sim.arg("--embedded-broker")
		.args(["--mqtt-port", &mqtt_port.to_string()])
		.args(["--modbus-base-port", &modbus_base_port.to_string()]);
	let _sim = Process::spawn("sim", sim, dir.path().join("sim.log"));
	testkit::wait_for_port(mqtt_port, Duration::from_secs(30)).await;
	let config = Command::new(testkit::workspace_binary("openvpp-demo"))
		.arg("config")
		.arg("--out")
		.arg(dir.path().join("bridge"))
		.args(["--url", &ws_url])
		.args(["--mqtt-port", &mqtt_port.to_string()])
		.args(["--modbus-base-port", &modbus_base_port.to_string()])
		.args(["--interval-s", "10"])
		.output()
		.unwrap();
	assert!(config.status.success(), "{}", String::from_utf8_lossy(&config.stderr));
	let config = String::from_utf8_lossy(&config.stdout).trim().to_owned();
	let mut bridge = Command::new(testkit::workspace_binary("openvpp-bridge"));
	bridge.args(["run", "--config", &config]);
	let _bridge = Process::spawn("bridge", bridge, dir.path().join("bridge.log"));

	let dashboard_port = testkit::free_port();
	let mut dashboard = Command::new(DASHBOARD);
	dashboard.args(["--listen", &format!("127.0.0.1:{dashboard_port}")]).args(["--rpc", &rpc_url]);
	let _dashboard = Process::spawn("dashboard", dashboard, dir.path().join("dashboard.log"));
	testkit::wait_for_port(dashboard_port, Duration::from_secs(30)).await;

	// The page is worth testing once the fleet's readings are on chain.
	let online = testkit::wait_for("the fleet online on chain", Duration::from_secs(240), || {
		let client = &client;
		async move {
			let totals: serde_json::Value =
				client.request("vpp_networkTotals", rpc_params![]).await.ok()?;
			let online = totals["live"]["devices"].as_u64()?;
			(online >= 5).then_some(online)
		}
	})
	.await;
	println!("{online} devices online; running the browser test");

	let screenshots = testkit::target_dir().join("dashboard-screenshots");
	let output = Command::new("node")
		.args(["--test", "--test-concurrency=1", "--test-reporter=spec"])
		.current_dir(&tests)
		.env("DASHBOARD_URL", format!("http://127.0.0.1:{dashboard_port}/"))
		.env("OPENVPP_RPC", &rpc_url)
		.env("OPENVPP_WS", &ws_url)
		.env("OPENVPP_DEMO", testkit::workspace_binary("openvpp-demo"))
		.env("SCREENSHOT_DIR", &screenshots)
		.env("CHROMIUM", &chromium)
		.output()
		.expect("run node (Node.js)");
	let stdout = String::from_utf8_lossy(&output.stdout);
	println!("{stdout}");
	assert!(
		output.status.success(),
		"the browser test failed ({}):\n{stdout}\n{}",
		output.status,
		String::from_utf8_lossy(&output.stderr)
	);
	println!("screenshots in {}", screenshots.display());
}
