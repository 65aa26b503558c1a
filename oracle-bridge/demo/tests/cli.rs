//! The demonstration tool's command line: the configuration it writes is one the bridge
//! accepts; an unreachable node is an error with a message, not a hang.

#![allow(clippy::unwrap_used)]

use std::process::Command;

const DEMO: &str = env!("CARGO_BIN_EXE_openvpp-demo");

#[test]
fn config_writes_a_bridge_configuration_the_bridge_loads() {
	let dir = tempfile::tempdir().unwrap();
	let out = dir.path().join("bridge");
	let output = Command::new(DEMO)
		.args(["config", "--interval-s", "10", "--fleet", "3", "--out"])
		.arg(&out)
		.output()
		.unwrap();
	assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
	let path = String::from_utf8(output.stdout).unwrap();
	let config =
		openvpp_bridge::config::BridgeConfig::load(std::path::Path::new(path.trim())).unwrap();
	assert_eq!(config.interval_s, 10);
	// The seven demo devices and three batteries of the larger fleet.
	assert_eq!(config.devices.len(), 10);
}

#[test]
fn an_unreachable_node_is_an_error() {
	let output = Command::new(DEMO)
		.args(["fleet", "--url", "ws://127.0.0.1:1", "--count", "1"])
		.output()
		.unwrap();
	assert!(!output.status.success());
	let stderr = String::from_utf8_lossy(&output.stderr);
	assert!(stderr.contains("cannot reach ws://127.0.0.1:1"), "{stderr}");
}
