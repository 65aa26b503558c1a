//! The benchmark's command line: what cannot run is an error with a message.

#![allow(clippy::unwrap_used)]

use std::process::Command;

const BENCH: &str = env!("CARGO_BIN_EXE_openvpp-bench");

#[test]
fn an_unreachable_node_is_an_error() {
	let output = Command::new(BENCH).args(["run", "--url", "ws://127.0.0.1:1"]).output().unwrap();
	assert!(!output.status.success());
	let stderr = String::from_utf8_lossy(&output.stderr);
	assert!(stderr.contains("cannot reach ws://127.0.0.1:1"), "{stderr}");
}
