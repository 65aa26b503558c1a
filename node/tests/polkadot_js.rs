//! End to end: what OVPP holders do through polkadot.js, against a real `--dev` node — the
//! Node.js tests in `tests/polkadot-js/` (referenda, conviction votes, a parameter change and a
//! treasury spend; the `VppApi` runtime API and the `vpp_*` JSON-RPC), run with Node.js's test
//! runner.
//!
//! `scripts/setup.sh --for-tests` installs their npm packages.

#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

mod common;

use std::{path::Path, process::Command, time::Duration};

use common::*;

#[tokio::test(flavor = "multi_thread")]
async fn holders_and_developers_use_the_chain_through_polkadot_js() {
	let tests = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/polkadot-js");
	assert!(
		tests.join("node_modules/@polkadot/api").is_dir(),
		"the polkadot.js packages are missing in {}: run scripts/setup.sh --for-tests",
		tests.display()
	);
	let node = NodeProcess::dev("governance");
	let rpc = wait_for_rpc(&node, Duration::from_secs(120)).await;
	wait_for_finalized(&node, &rpc, 1, Duration::from_secs(60)).await;

	let output = Command::new("node")
		.args(["--test", "--test-concurrency=1", "--test-reporter=spec"])
		.current_dir(&tests)
		.env("OPENVPP_WS", node.ws_url())
		.output()
		.expect("run node (Node.js)");
	let stdout = String::from_utf8_lossy(&output.stdout);
	let stderr = String::from_utf8_lossy(&output.stderr);
	println!("{stdout}");
	assert!(
		output.status.success(),
		"the polkadot.js tests failed ({}):\n{stdout}\n{stderr}\nnode log:\n{}",
		output.status,
		node.log_tail()
	);
}
