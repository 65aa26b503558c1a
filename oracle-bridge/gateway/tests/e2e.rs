//! End to end, with real parts on 127.0.0.1: a dev node, a mosquitto broker, the simulator's
//! Modbus TCP servers and MQTT devices, and the bridge process.
//!
//! Every demo device's reports must reach finalized blocks with the values the simulator
//! served; malformed MQTT payloads and a device serving bogus SunSpec registers must be counted
//! and skipped while every other device's reports keep landing.

#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

mod common;

use std::time::Duration;

use codec::{Decode, Encode};
use common::*;
use openvpp_bridge::{
	audit,
	chain::{wait_finalized, Chain},
	gateway_call::FINALITY_TIMEOUT,
};
use openvpp_primitives::{RejectionReason, SignedReport};
use openvpp_sim::{demo, TraceLine};

#[tokio::test(flavor = "multi_thread")]
async fn the_fleet_reaches_the_chain_with_the_values_it_served_and_bad_input_is_skipped() {
	// The solar inverter serves an invalid scale factor every other second; the charger's topic
	// gets a malformed payload every 7th tick.
	let mut stack = Stack::start(StackOptions {
		bogus_modbus: vec![demo::SOLAR],
		garbage_mqtt_every: 7,
		..Default::default()
	})
	.await;
	let first_block = 1;

	// Wait for three complete intervals of every device on chain.
	let healthy = demo::ALL_DEVICES;
	let reports = stack.wait_for_reports(first_block, &healthy, 3, Duration::from_secs(240)).await;

	// Every report of a healthy device landed (no rejection), and every interval exactly once.
	assert!(
		reports.iter().all(|r| r.landed()),
		"rejected reports: {:?}",
		reports.iter().filter(|r| !r.landed()).collect::<Vec<_>>()
	);
	assert_eq!(audit::check_exactly_once(&reports, &healthy), vec![]);
	// Nothing honest is flagged: the whole simulated fleet, the C&I battery and the EV
	// included, passes every physics check. The one exception is declared: a device whose
	// first interval had no reading (the bridge started in its last second; the bogus inverter
	// serves nothing every other second) gets zero counters first, then its own, re-based as
	// a counter reset, which the chain counts against data quality once.
	let rebased = |report: &audit::AuditedReport| {
		report.quality & openvpp_primitives::QualityFlags::COUNTER_RESET != 0
			&& reports
				.iter()
				.filter(|r| r.device_id == report.device_id && r.sequence < report.sequence)
				.all(|r| (r.cumulative_imported_wh, r.cumulative_exported_wh) == (0, 0))
	};
	let flagged: Vec<_> =
		reports.iter().filter(|r| r.outcome == audit::Outcome::Flagged && !rebased(r)).collect();
	assert!(flagged.is_empty(), "flagged reports of an honest fleet: {flagged:?}");

	// Values match what the simulator served.
	let trace = stack.trace();
	for report in reports.iter().filter(|r| healthy.contains(&r.device_id) && r.online_s > 0) {
		check_against_trace(report, &trace);
	}

	// The bogus device's good readings in between still make its reports, online.
	let solar: Vec<_> = reports.iter().filter(|r| r.device_id == demo::SOLAR).collect();
	assert!(solar.iter().any(|r| r.online_s > 0), "{solar:?}");
	// Every device, bogus readings or not, delivered values that match what it served.
	for device in healthy {
		assert!(
			reports.iter().any(|r| r.device_id == device && r.online_s > 0),
			"device {device} has no online report to compare"
		);
	}

	// Both kinds of bad input were counted.
	let metrics = stack.metrics().await;
	assert!(
		metric_sum(&metrics, "openvpp_bridge_bad_input_total", "device=\"rooftop-solar\"") > 0.0,
		"{metrics}"
	);
	assert!(
		metric_sum(&metrics, "openvpp_bridge_bad_input_total", "device=\"ev-charger\"") > 0.0,
		"{metrics}"
	);

	// While the fleet reports, the chain's energy status map shows it: every demo device counts
	// in its region, with plausible readings.
	let chain = stack.chain().await;
	let map = chain.vpp_energy_status(chain.finalized_head().await.unwrap()).await.unwrap();
	let counted: u32 = map.iter().map(|entry| entry.live.devices).sum();
	assert_eq!(counted, 7, "the status map: {map:?}");
	assert!(map.iter().any(|e| e.region == b"DE-AMPRION" && e.live.devices == 1), "{map:?}");

	// SIGTERM stops the bridge cleanly.
	let status =
		stack.bridge.signal_and_wait(libc::SIGTERM, Duration::from_secs(60)).expect("bridge exits");
	assert!(status.success(), "bridge exited with {status}\n{}", stack.bridge.log_tail(40));
	assert!(stack.bridge.log().contains("bridge stopped"));

	// On the live chain, a batch the bridge delivered, sent again, is refused report by report as
	// replayed; a copy altered after signing is refused report by report as forged.
	let delivered = delivered_batch(&chain, reports[0].block).await;
	let replayed = submit_as_gateway(&chain, delivered.clone()).await;
	assert_eq!(replayed, vec![RejectionReason::SequenceNotIncreasing; delivered.len()]);
	let tampered: Vec<SignedReport> = delivered
		.into_iter()
		.map(|mut signed| {
			signed.report.sequence += 1_000;
			signed.report.interval_start += 3_600;
			signed
		})
		.collect();
	let forged = submit_as_gateway(&chain, tampered.clone()).await;
	assert_eq!(forged, vec![RejectionReason::BadSignature; tampered.len()]);

	// `openvpp-bridge key-proof` makes the proof of possession an owner pastes into
	// `deviceRegistry.registerDevice`; the live chain accepts it.
	register_with_key_proof(&stack, &chain).await;
}

/// Submits `xt` and waits for the block that finalizes it.
async fn finalized(chain: &Chain, xt: &[u8]) -> sp_core::H256 {
	let statuses = chain.submit_and_watch(xt).await.unwrap();
	wait_finalized(statuses, FINALITY_TIMEOUT).await.expect("the extrinsic is finalized")
}

/// Registers a new ed25519 rooftop-PV device as Eve with the output of `key-proof`.
async fn register_with_key_proof(stack: &Stack, chain: &Chain) {
	use openvpp_primitives::{AttestationKey, AttestationSignature, Capability, DeviceKind};
	use sp_core::crypto::Ss58Codec;

	let owner = sp_keyring::Sr25519Keyring::Eve;
	let output = std::process::Command::new(BRIDGE)
		.args(["key-proof", "--url", &stack.url(), "--scheme", "ed25519"])
		.args(["--secret", "//OpenVPP-E2E//new-pv", "--owner"])
		.arg(owner.to_account_id().to_ss58check())
		.output()
		.unwrap();
	let stdout = String::from_utf8_lossy(&output.stdout);
	assert!(output.status.success(), "{stdout}{}", String::from_utf8_lossy(&output.stderr));
	let field = |name: &str| -> Vec<u8> {
		let line = stdout.lines().find(|l| l.starts_with(name)).expect(name);
		let value = line.split_whitespace().nth(1).unwrap();
		hex::decode(value.trim_start_matches("0x")).unwrap()
	};
	let key = AttestationKey::Ed25519(sp_core::ed25519::Public::from_raw(
		field("attestation_key:").try_into().unwrap(),
	));
	let proof = AttestationSignature::Ed25519(sp_core::ed25519::Signature::from_raw(
		field("proof:").try_into().unwrap(),
	));

	let call = openvpp_runtime::RuntimeCall::DeviceRegistry(
		pallet_device_registry::Call::register_device {
			kind: DeviceKind::RooftopSolar,
			capability: Capability { rated_power_w: 6_000, ..Default::default() },
			region: openvpp_primitives::RegionCode::truncate_from(b"DE-TENNET".to_vec()),
			metadata: Default::default(),
			comfort: Default::default(),
			gateway: sp_keyring::Sr25519Keyring::Ferdie.to_account_id(),
			attestation_key: key.clone(),
			proof,
		},
	);
	let nonce = chain.next_nonce(&owner.to_account_id()).await.unwrap();
	let xt = openvpp_runtime::extrinsic::sign(call, &owner.pair(), nonce, chain.genesis).encode();
	let block = finalized(chain, &xt).await;
	let events = chain.extrinsic_events(block, &xt).await.unwrap();
	let events: Vec<openvpp_runtime::RuntimeEvent> = events.decode_all().unwrap();
	let registered = events.into_iter().any(|event| {
		matches!(
			event,
			openvpp_runtime::RuntimeEvent::DeviceRegistry(
				pallet_device_registry::Event::DeviceRegistered {
					kind: DeviceKind::RooftopSolar,
					..
				}
			)
		)
	});
	assert!(registered, "the registration with the key-proof output failed");
}

/// The reports of the first telemetry batch in block `number`.
async fn delivered_batch(chain: &Chain, number: u32) -> Vec<SignedReport> {
	let hash = chain.block_hash(number).await.unwrap().unwrap();
	let body = chain.block(hash).await.unwrap();
	body.extrinsics
		.iter()
		.filter_map(|bytes| openvpp_runtime::UncheckedExtrinsic::decode(&mut &bytes[..]).ok())
		.find_map(|xt| match xt.function {
			openvpp_runtime::RuntimeCall::Telemetry(pallet_telemetry::Call::submit_reports {
				reports,
				..
			}) => Some(reports.into_inner()),
			_ => None,
		})
		.expect("a telemetry batch in the block")
}

/// Submits a batch as the demo gateway and returns the rejection reasons, in report order.
async fn submit_as_gateway(chain: &Chain, reports: Vec<SignedReport>) -> Vec<RejectionReason> {
	let gateway = sp_keyring::Sr25519Keyring::Ferdie;
	let nonce = chain.next_nonce(&gateway.to_account_id()).await.unwrap();
	let runtime = chain.node_runtime(None).await.unwrap();
	let xt = openvpp_bridge::submitter::batch_extrinsic(
		&runtime,
		reports,
		&gateway.pair(),
		nonce,
		chain.genesis,
	)
	.unwrap();
	let block = finalized(chain, &xt).await;
	chain
		.extrinsic_events(block, &xt)
		.await
		.unwrap()
		.gateway_events()
		.into_iter()
		.filter_map(|event| match event {
			openvpp_bridge::wire::Event::ReportRejected { reason, .. } => Some(reason),
			_ => None,
		})
		.collect()
}

/// The report's end-of-interval values must be what the simulator served around the interval's
/// end (the bridge samples every 500 ms, the simulator steps every 500 ms).
fn check_against_trace(report: &audit::AuditedReport, trace: &[TraceLine]) {
	let end_ms = (report.interval_start + u64::from(report.interval_length_s)) * 1_000;
	let window: Vec<&TraceLine> = trace
		.iter()
		.filter(|l| {
			l.device == report.device_id && l.t_ms + 2_500 >= end_ms && l.t_ms <= end_ms + 500
		})
		.collect();
	assert!(!window.is_empty(), "no trace around the end of {report:?}");
	let in_window = |value: u64, pick: fn(&TraceLine) -> u64| {
		let low = window.iter().map(|l| pick(l)).min().unwrap_or(0);
		let high = window.iter().map(|l| pick(l)).max().unwrap_or(0);
		// kWh-resolution sources round to the watt-hour.
		value + 1 >= low && value <= high + 1
	};
	let counted = !matches!(report.device_id, demo::HOME_BATTERY | demo::CI_BATTERY);
	if counted {
		assert!(
			in_window(report.cumulative_imported_wh, |l| l.imported_wh),
			"imported counter {} of {report:?} not in {window:?}",
			report.cumulative_imported_wh
		);
		assert!(
			in_window(report.cumulative_exported_wh, |l| l.exported_wh),
			"exported counter of {report:?} not in {window:?}"
		);
	}
	if let Some(soc) = report.soc_bp {
		let low = window.iter().filter_map(|l| l.soc_bp).min().unwrap_or(0);
		let high = window.iter().filter_map(|l| l.soc_bp).max().unwrap_or(10_000);
		assert!(
			soc >= low.saturating_sub(1) && soc <= high + 1,
			"SoC {soc} of {report:?} not in {low}..={high}"
		);
	}
	if report.online_s < report.interval_length_s {
		return;
	}
	if counted {
		// The interval's energy is the difference of two counter samples: the one that ended the
		// previous interval and the one that ends this. Each lags what the simulator served by up
		// to the window above, so the energy lies between the counter movements that window
		// allows, not within the served power times the interval length (a late sample at one
		// end and a fresh one at the other move it by up to that lag times the power).
		let start_ms = report.interval_start * 1_000;
		let around_start: Vec<&TraceLine> = trace
			.iter()
			.filter(|l| {
				l.device == report.device_id
					&& l.t_ms + 2_500 >= start_ms
					&& l.t_ms <= start_ms + 500
			})
			.collect();
		if around_start.is_empty() {
			return;
		}
		let moved = |pick: fn(&TraceLine) -> u64| {
			let span = |lines: &[&TraceLine]| {
				let values = lines.iter().map(|l| pick(l));
				(values.clone().min().unwrap_or(0), values.max().unwrap_or(0))
			};
			let (start_low, start_high) = span(&around_start);
			let (end_low, end_high) = span(&window);
			(end_low.saturating_sub(start_high), end_high.saturating_sub(start_low))
		};
		for (energy_wh, (low, high), what) in [
			(report.energy_imported_wh, moved(|l| l.imported_wh), "imported"),
			(report.energy_exported_wh, moved(|l| l.exported_wh), "exported"),
		] {
			// kWh-resolution sources round each counter to the watt-hour.
			assert!(
				energy_wh + 2 >= low && energy_wh <= high + 2,
				"{what} {energy_wh} Wh of {report:?} outside the counters' movement {low}..={high} Wh"
			);
		}
		return;
	}
	// A battery's inverter model carries one lifetime counter, so the trace's two do not bound
	// its report: over a fully observed interval its average lies within what was served.
	let during: Vec<i64> = trace
		.iter()
		.filter(|l| {
			l.device == report.device_id
				&& l.t_ms + 1_000 >= report.interval_start * 1_000
				&& l.t_ms <= end_ms
		})
		.map(|l| l.power_w)
		.collect();
	if let (Some(low), Some(high)) = (during.iter().min(), during.iter().max()) {
		let average = i64::from(report.average_power_w);
		// Integration and counter rounding: a few watt-hours over a 10-second interval.
		let slack = 3_600 * 3 / i64::from(report.interval_length_s) + 50;
		assert!(
			average >= low - slack && average <= high + slack,
			"average {average} W of {report:?} outside served {low}..={high} W"
		);
	}
}
