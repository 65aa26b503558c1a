//! The scale benchmark's live phase, short (`scripts/bench-scale.sh` runs it long, on three
//! validators): one validator of a real 2 000-device benchmark chain, every device sending a
//! current one-minute reading at each of three minute boundaries, 2 % flagged and 2 % refused.
//! Every reading the benchmark meant to be recorded must be finalized, and the flagged and
//! refused ones must be what the chain said of them.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::{process::Command, time::Duration};

use openvpp_testkit::{free_port, node_binary, wait_for_port, Process};

const BENCH: &str = env!("CARGO_BIN_EXE_openvpp-bench");

/// The number just before `label` in `text` ("… 6120 sent …" gives 6120 for "sent"); the summary
/// prints plain digits.
fn number_before(text: &str, label: &str) -> u64 {
	let at = text.find(label).unwrap_or_else(|| panic!("no {label:?} in: {text}"));
	let digits: String = text[..at]
		.trim_end()
		.chars()
		.rev()
		.take_while(|c| c.is_ascii_digit())
		.collect::<Vec<_>>()
		.into_iter()
		.rev()
		.collect();
	digits.parse().unwrap_or_else(|_| panic!("no number before {label:?} in: {text}"))
}

#[tokio::test(flavor = "multi_thread")]
async fn a_short_live_phase_finalizes_every_reading_meant_to_be_recorded() {
	let dir = tempfile::tempdir().unwrap();
	let rpc_port = free_port();
	let mut node_command = Command::new(node_binary());
	node_command
		.args(["--chain", "bench:2000:1", "--alice", "--validator"])
		// A validator's network key is not generated for it.
		.args(["--node-key", &format!("{:064x}", 1)])
		.arg("--base-path")
		.arg(dir.path().join("db"))
		.args(["--rpc-port", &rpc_port.to_string()])
		.args(["--listen-addr", &format!("/ip4/127.0.0.1/tcp/{}", free_port())])
		.args(["--no-prometheus", "--no-telemetry", "--no-mdns"]);
	let node = Process::spawn("node", node_command, dir.path().join("node.log"));
	wait_for_port(rpc_port, Duration::from_secs(120)).await;

	let url = format!("ws://127.0.0.1:{rpc_port}");
	let pid = node.pid().unwrap().to_string();
	let output = tokio::task::spawn_blocking(move || {
		Command::new(BENCH)
			.args(["live", "--url", &url, "--node-pid", &pid])
			.args(["--interval-s", "60", "--minutes", "3", "--batch", "250"])
			.args(["--flagged-bp", "200", "--rejected-bp", "200"])
			.output()
			.unwrap()
	})
	.await
	.unwrap();
	let stdout = String::from_utf8_lossy(&output.stdout);
	assert!(
		output.status.success(),
		"openvpp-bench live failed:\n{stdout}\n{}\n{}",
		String::from_utf8_lossy(&output.stderr),
		node.log_tail(30)
	);

	let summary = stdout
		.lines()
		.find(|line| line.starts_with("live reports: blocks"))
		.unwrap_or_else(|| panic!("no summary in: {stdout}"));
	let sent = number_before(summary, "sent");
	let recorded = number_before(summary, "recorded");
	let flagged = number_before(summary, "of them flagged");
	let refused = number_before(summary, "refused");
	// 2 000 devices, three readings each, resent copies on top.
	assert!(sent > 6_000, "{summary}");
	// Whatever was not refused was recorded and finalized; the chain flagged and refused about
	// the planned shares (2 % each of 6 000, with a resent reading's copy among the refused).
	assert_eq!(recorded + refused, sent, "{summary}");
	assert!((60..=200).contains(&flagged), "{summary}");
	assert!((60..=200).contains(&refused), "{summary}");
}
