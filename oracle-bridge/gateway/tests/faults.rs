//! Fault tolerance, with real parts on 127.0.0.1: the bridge is killed with SIGKILL while a
//! batch is in flight and restarted; the node is stopped (the bridge crashes and restarts in the
//! middle of the outage, with no node to talk to) and restarted; the MQTT broker is restarted.
//! Afterwards every interval of every device must be on chain exactly once.
//!
//! The node stays down for `OPENVPP_NODE_OUTAGE_S` seconds: 90 by default (nine intervals
//! pile up in the outbox), 600 in `scripts/outage.sh`.

#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

mod common;

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use common::*;
use openvpp_bridge::audit;
use openvpp_sim::demo;

const DEVICES: [u32; 7] = demo::ALL_DEVICES;

fn now_s() -> u64 {
	SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs()
}

fn node_outage() -> Duration {
	let seconds =
		std::env::var("OPENVPP_NODE_OUTAGE_S").ok().and_then(|s| s.parse().ok()).unwrap_or(90);
	Duration::from_secs(seconds)
}

#[tokio::test(flavor = "multi_thread")]
async fn every_interval_lands_exactly_once_through_crashes_and_outages() {
	let options = StackOptions::default();
	let interval = u64::from(options.interval_s);
	let mut stack = Stack::start(options).await;
	stack.wait_for_reports(1, &DEVICES, 2, Duration::from_secs(240)).await;

	// 1. SIGKILL the bridge while a batch is in flight: just submitted, its reports still
	// pending in the outbox (not finalized yet). A device with a batch in flight gets no new
	// batch until that one is finalized, so submissions follow finality (every 15–25 s), not the
	// interval boundaries: watch for the next one, whenever it comes.
	let mut killed_in_flight = false;
	let mut before =
		metric_sum(&stack.metrics().await, "openvpp_bridge_batches_submitted_total", "");
	let deadline = now_s() + 6 * interval;
	while now_s() < deadline {
		let metrics = stack.metrics().await;
		let submitted = metric_sum(&metrics, "openvpp_bridge_batches_submitted_total", "");
		let pending = metric_sum(&metrics, "openvpp_bridge_outbox_pending", "");
		if submitted > before && pending > 0.0 {
			stack.bridge.kill();
			killed_in_flight = true;
			break;
		}
		before = submitted;
		tokio::time::sleep(Duration::from_millis(100)).await;
	}
	assert!(killed_in_flight, "never caught a batch in flight");
	stack.wait_for_reports(1, &DEVICES, 1, Duration::from_secs(60)).await;
	eprintln!("bridge killed; restarting in 12 s");
	tokio::time::sleep(Duration::from_secs(12)).await;
	let restarted_at = now_s();
	stack.start_bridge();
	// The new bridge reads and delivers: two intervals it measured land for every device.
	stack.wait_for_reports_since(1, &DEVICES, restarted_at, 2, Duration::from_secs(240)).await;

	// 2. Stop the node; the bridge keeps reading and signing into its outbox.
	let outage = node_outage();
	let status =
		stack.node.signal_and_wait(libc::SIGINT, Duration::from_secs(60)).expect("node stops");
	assert!(status.success(), "{}", stack.node.log_tail(30));
	eprintln!("node stopped for {outage:?}");
	// Halfway through, the bridge crashes too and comes back without a node to talk to: it
	// starts from its outbox.
	tokio::time::sleep(outage / 2).await;
	stack.bridge.kill();
	stack.start_bridge();
	eprintln!("bridge killed and restarted while the node is down");
	tokio::time::sleep(outage - outage / 2).await;
	let pending = metric_sum(&stack.metrics().await, "openvpp_bridge_outbox_pending", "");
	assert!(pending > 0.0, "reports pile up in the outbox while the node is down");
	stack.start_node();
	let _ = stack.chain().await;
	eprintln!("node back");

	// 3. Restart the MQTT broker.
	stack.mosquitto.kill();
	tokio::time::sleep(Duration::from_secs(10)).await;
	stack.start_mosquitto();
	eprintln!("broker restarted");

	// Everything up to a recent interval must land, and the outbox must drain.
	let target_end = now_s() + 3 * interval;
	tokio::time::sleep(Duration::from_secs(3 * interval + 5)).await;
	let url = stack.url();
	let reports = openvpp_testkit::wait_for(
		"every device's recent intervals on chain",
		Duration::from_secs(600),
		|| {
			let url = url.clone();
			async move {
				let chain = openvpp_bridge::chain::Chain::connect(&url).await.ok()?;
				let reports = audit::audit(&chain, 1).await.ok()?;
				let caught_up = DEVICES.iter().all(|d| {
					reports
						.iter()
						.filter(|r| r.device_id == *d && r.landed())
						.any(|r| r.interval_start + u64::from(r.interval_length_s) >= target_end)
				});
				caught_up.then_some(reports)
			}
		},
	)
	.await;

	let problems = audit::check_exactly_once(&reports, &DEVICES);
	assert!(problems.is_empty(), "delivery problems: {problems:?}");
	// Resubmissions after the crash were refused as duplicates, never counted twice.
	let duplicates = reports
		.iter()
		.filter(|r| {
			r.outcome
				== audit::Outcome::Rejected(
					openvpp_primitives::RejectionReason::SequenceNotIncreasing,
				)
		})
		.count();
	eprintln!(
		"{} reports landed, {duplicates} resubmitted duplicates refused",
		reports.iter().filter(|r| r.landed()).count()
	);
	// The batch killed in flight still landed, and the restarted bridge's resubmission of it was
	// refused as duplicates: delivered once, harmlessly sent twice.
	assert!(duplicates > 0, "the in-flight batch was never resubmitted");
	// No report was rejected for any other reason.
	assert!(reports.iter().all(|r| r.landed()
		|| r.outcome
			== audit::Outcome::Rejected(
				openvpp_primitives::RejectionReason::SequenceNotIncreasing
			)));
	// Nothing is shelved, and the outbox drains down to what the latest intervals hold.
	let stack = &stack;
	openvpp_testkit::wait_for("the outbox to drain", Duration::from_secs(120), || async move {
		let metrics = stack.metrics().await;
		let pending = metric_sum(&metrics, "openvpp_bridge_outbox_pending", "");
		let shelved = metric_sum(&metrics, "openvpp_bridge_outbox_rejected", "");
		assert_eq!(shelved, 0.0, "reports were shelved: {metrics}");
		// The outage's backlog is gone once no more than the last three intervals are
		// pending: a batch waits for inclusion and finality (two to three 6-second
		// blocks, one more when a session change claims a block) and a device with
		// reports in flight gets no new batch meanwhile.
		(pending <= 3.0 * DEVICES.len() as f64).then_some(())
	})
	.await;

	let metrics = stack.metrics().await;
	assert!(
		metric_sum(&metrics, "openvpp_bridge_source_errors_total", "source=\"mqtt\"") > 0.0,
		"the broker restart was noticed"
	);
	assert!(
		metric_sum(&metrics, "openvpp_bridge_chain_errors_total", "") > 0.0,
		"the node outage was noticed"
	);
}
