//! The simulator's command line: bad arguments are refused with a message and a non-zero exit.

#![allow(clippy::unwrap_used)]

use std::process::Command;

const SIM: &str = env!("CARGO_BIN_EXE_openvpp-sim");

#[test]
fn a_fleet_larger_than_the_demo_supports_is_refused() {
	let output = Command::new(SIM).args(["--fleet", "1000000"]).output().unwrap();
	assert!(!output.status.success());
	let stderr = String::from_utf8_lossy(&output.stderr);
	assert!(stderr.contains("--fleet"), "{stderr}");
}

#[test]
fn help_names_the_protocols_served() {
	let output = Command::new(SIM).arg("--help").output().unwrap();
	assert!(output.status.success());
	let stdout = String::from_utf8_lossy(&output.stdout);
	assert!(stdout.contains("--modbus-base-port") && stdout.contains("--mqtt-port"), "{stdout}");
}
