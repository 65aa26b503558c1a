//! The bridge under hostile and changing conditions, with real processes on 127.0.0.1: a dev
//! node behind a TLS endpoint (`wss://`, its own CA), mosquitto requiring TLS, a client
//! certificate and a password, and devices that change on chain while the bridge runs.
//!
//! - MQTT over TLS with credentials carries the devices' samples; the broker refuses a client
//!   without them.
//! - An oversized payload is dropped and counted without losing the connection; a retained
//!   sample is not taken as a fresh measurement.
//! - A device that signs its own reports is forwarded unchanged: the chain holds its signature.
//! - A device suspended on chain, and one retired by its owner, are stopped (no more signing);
//!   the other devices' batches stay free; the suspended one resumes once reinstated.
//! - No secret appears in the bridge's log.

#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

mod common;

use std::{path::Path, sync::Arc, time::Duration};

use codec::{Decode, Encode};
use common::{metric_sum, metrics_at, start_bridge, wait_for_chain};
use openvpp_bridge::{
	chain::{wait_finalized, Chain},
	gateway_call::FINALITY_TIMEOUT,
};
use openvpp_primitives::{
	DeviceState, GridResponseStatus, IntervalReport, QualityFlags, SignedReport,
};
use openvpp_runtime::{demo_fleet, RuntimeCall, RuntimeEvent};
use openvpp_sim::demo;
use openvpp_testkit::{self as testkit, Process};
use rumqttc::{AsyncClient, Event, MqttOptions, Packet, QoS, TlsConfiguration, Transport};
use sp_core::{ecdsa, Pair};
use sp_keyring::Sr25519Keyring;

const INTERVAL_S: u64 = 10;
const PASSWORD: &str = "correct horse battery staple";
const SEED: &str = "//Ferdie";

/// Devices of the demo fleet, re-wired for this test: all on MQTT topics the test publishes to.
const EV: u32 = demo::EV; // suspended, then reinstated
const CHARGER: u32 = demo::CHARGER;
const HOME_BATTERY: u32 = demo::HOME_BATTERY;
const SOLAR: u32 = demo::SOLAR; // gets a retained sample, and an oversized one
const METER: u32 = demo::METER; // signs its own reports
const EMS: u32 = demo::EMS; // retired by its owner

fn topic(device: u32) -> String {
	format!("hostile/device-{device}")
}

/// A CA, a server certificate for 127.0.0.1 / localhost, and a client certificate, as PEM.
struct Pki {
	ca: String,
	server: (String, String),
	client: (String, String),
}

fn pki() -> Pki {
	use rcgen::{
		BasicConstraints, CertificateParams, DistinguishedName, DnType, IsCa, KeyPair,
		KeyUsagePurpose,
	};
	// Each certificate gets its own name: a leaf named like its issuer looks self-signed.
	let named = |names: Vec<String>, common_name: &str| {
		let mut params = CertificateParams::new(names).unwrap();
		let mut dn = DistinguishedName::new();
		dn.push(DnType::CommonName, common_name);
		params.distinguished_name = dn;
		params
	};
	let ca_key = KeyPair::generate().unwrap();
	let mut ca_params = named(Vec::new(), "OpenVPP test CA");
	ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
	ca_params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
	let ca = ca_params.self_signed(&ca_key).unwrap();
	let leaf = |names: Vec<String>, common_name: &str| {
		let key = KeyPair::generate().unwrap();
		let cert = named(names, common_name).signed_by(&key, &ca, &ca_key).unwrap();
		(cert.pem(), key.serialize_pem())
	};
	Pki {
		ca: ca.pem(),
		server: leaf(vec!["127.0.0.1".into(), "localhost".into()], "127.0.0.1"),
		client: leaf(vec!["gateway".into()], "gateway"),
	}
}

fn write_private(path: &Path, text: &str) {
	use std::os::unix::fs::PermissionsExt;
	std::fs::write(path, text).unwrap();
	std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).unwrap();
}

/// A TLS endpoint on `listen` in front of the node's RPC port: `wss://` with its own CA.
async fn tls_proxy(listen: u16, node_rpc: u16, pki: &Pki) {
	use rustls::pki_types::{pem::PemObject, CertificateDer, PrivateKeyDer};
	let certs = vec![CertificateDer::from_pem_slice(pki.server.0.as_bytes()).unwrap()];
	let key = PrivateKeyDer::from_pem_slice(pki.server.1.as_bytes()).unwrap();
	let config = rustls::ServerConfig::builder_with_provider(Arc::new(
		rustls::crypto::ring::default_provider(),
	))
	.with_safe_default_protocol_versions()
	.unwrap()
	.with_no_client_auth()
	.with_single_cert(certs, key)
	.unwrap();
	let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
	let listener = tokio::net::TcpListener::bind(("127.0.0.1", listen)).await.unwrap();
	tokio::spawn(async move {
		while let Ok((stream, _)) = listener.accept().await {
			let acceptor = acceptor.clone();
			tokio::spawn(async move {
				let Ok(mut tls) = acceptor.accept(stream).await else { return };
				let Ok(mut node) = tokio::net::TcpStream::connect(("127.0.0.1", node_rpc)).await
				else {
					return;
				};
				let _ = tokio::io::copy_bidirectional(&mut tls, &mut node).await;
			});
		}
	});
}

/// An MQTT client of the test, with the gateway's credentials and certificate.
fn publisher(port: u16, dir: &Path, id: &str) -> (AsyncClient, rumqttc::EventLoop) {
	let tls = openvpp_bridge::tls::client_config(
		&dir.join("ca.pem"),
		Some((&dir.join("client.pem"), &dir.join("client.key"))),
	)
	.unwrap();
	let mut options = MqttOptions::new(id, "127.0.0.1", port);
	options.set_credentials("gateway", PASSWORD);
	options.set_transport(Transport::tls_with_config(TlsConfiguration::Rustls(tls)));
	options.set_max_packet_size(1024 * 1024, 1024 * 1024);
	AsyncClient::new(options, 64)
}

/// Drives a client's event loop until it is connected, then in the background.
async fn connected(client: AsyncClient, mut eventloop: rumqttc::EventLoop) -> AsyncClient {
	loop {
		match tokio::time::timeout(Duration::from_secs(20), eventloop.poll()).await {
			Ok(Ok(Event::Incoming(Packet::ConnAck(_)))) => break,
			Ok(Ok(_)) => {}
			other => panic!("the test's MQTT client cannot connect: {other:?}"),
		}
	}
	tokio::spawn(async move { while eventloop.poll().await.is_ok() {} });
	client
}

/// The meter's own report of the interval starting at `start`, signed with its key.
fn meter_report(genesis: sp_core::H256, sequence: u64, start: u64) -> SignedReport {
	let report = IntervalReport {
		device_id: METER,
		sequence,
		interval_start: start,
		interval_length_s: INTERVAL_S as u32,
		energy_imported_wh: 0,
		energy_exported_wh: 0,
		cumulative_imported_wh: 31_000_000,
		cumulative_exported_wh: 12_000_000,
		average_power_w: 0,
		peak_power_w: 0,
		soc_bp: None,
		device_state: DeviceState::Operating,
		grid_response: GridResponseStatus::Idle,
		online_s: INTERVAL_S as u32,
		quality: QualityFlags::default(),
	};
	let seed = demo_fleet::demo_fleet()[(METER - 1) as usize].seed();
	let pair = ecdsa::Pair::from_string(&seed, None).unwrap();
	let signature = pair.sign(&openvpp_primitives::report_signing_payload(&genesis, &report));
	SignedReport { report, signature: signature.into() }
}

async fn submit_as(chain: &Chain, signer: Sr25519Keyring, call: RuntimeCall) {
	let nonce = chain.next_nonce(&signer.to_account_id()).await.unwrap();
	let xt = openvpp_runtime::extrinsic::sign(call, &signer.pair(), nonce, chain.genesis);
	let statuses = chain.submit_and_watch(&xt.encode()).await.unwrap();
	wait_finalized(statuses, FINALITY_TIMEOUT).await.expect("the extrinsic is finalized");
}

/// Fees of the batches finalized in blocks `from..`.
async fn batches_since(chain: &Chain, from: u32) -> Vec<pallet_telemetry::BatchFee<u128>> {
	let head = chain.finalized_head().await.unwrap();
	let last = chain.block(head).await.unwrap().number;
	let mut fees = Vec::new();
	for number in from..=last {
		let Some(hash) = chain.block_hash(number).await.unwrap() else { continue };
		for event in chain.events(hash).await.unwrap() {
			if let RuntimeEvent::Telemetry(pallet_telemetry::Event::BatchProcessed {
				fee, ..
			}) = event.decode_as().unwrap()
			{
				fees.push(fee);
			}
		}
	}
	fees
}

async fn finalized_number(chain: &Chain) -> u32 {
	let head = chain.finalized_head().await.unwrap();
	chain.block(head).await.unwrap().number
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_bridge_holds_up_against_hostile_input_and_devices_that_change() {
	let dir = tempfile::Builder::new().prefix("openvpp-hostile-").tempdir().unwrap();
	let path = dir.path();
	let pki = pki();
	std::fs::write(path.join("ca.pem"), &pki.ca).unwrap();
	std::fs::write(path.join("server.pem"), &pki.server.0).unwrap();
	write_private(&path.join("server.key"), &pki.server.1);
	std::fs::write(path.join("client.pem"), &pki.client.0).unwrap();
	write_private(&path.join("client.key"), &pki.client.1);
	write_private(&path.join("mqtt.password"), PASSWORD);

	// The node, behind TLS.
	let rpc_port = testkit::free_port();
	let _node = testkit::start_dev_node(&path.join("chain"), rpc_port, path);
	let chain = wait_for_chain(&format!("ws://127.0.0.1:{rpc_port}")).await;
	let wss_port = testkit::free_port();
	tls_proxy(wss_port, rpc_port, &pki).await;

	// The broker: TLS with a client certificate, and a password.
	let status = std::process::Command::new("mosquitto_passwd")
		.args(["-b", "-c"])
		.arg(path.join("passwd"))
		.args(["gateway", PASSWORD])
		.status()
		.expect("mosquitto_passwd runs");
	assert!(status.success());
	let mqtt_port = testkit::free_port();
	let settings = format!(
		"allow_anonymous false\npassword_file {0}/passwd\ncafile {0}/ca.pem\ncertfile {0}/server.pem\nkeyfile {0}/server.key\nrequire_certificate true\n",
		path.display()
	);
	let _mosquitto: Process = testkit::start_mosquitto_with(mqtt_port, path, &settings);
	testkit::wait_for_port(mqtt_port, Duration::from_secs(20)).await;

	// A client without credentials or TLS does not get in.
	let (_anonymous, mut eventloop) =
		AsyncClient::new(MqttOptions::new("intruder", "127.0.0.1", mqtt_port), 8);
	let refused = tokio::time::timeout(Duration::from_secs(10), eventloop.poll()).await;
	assert!(
		!matches!(refused, Ok(Ok(Event::Incoming(Packet::ConnAck(ref ack)))) if ack.code == rumqttc::ConnectReturnCode::Success),
		"the broker let an anonymous plain-TCP client in: {refused:?}"
	);

	let (client, eventloop) = publisher(mqtt_port, path, "test-publisher");
	let client = connected(client, eventloop).await;
	// A retained sample, published before the bridge subscribes.
	client.publish(topic(SOLAR), QoS::AtLeastOnce, true, r#"{"power_w": 4000}"#).await.unwrap();

	// The bridge: wss:// with the CA, MQTT with TLS, client certificate and password.
	let metrics_port = testkit::free_port();
	let keystore = path.join("keystore.json");
	write_private(&keystore, &demo::keystore_json(0));
	let mut config = format!(
		"interval_s = {INTERVAL_S}\n\n[chain]\nurl = \"wss://127.0.0.1:{wss_port}\"\nca_file = \"ca.pem\"\ngateway_seed = \"{SEED}\"\n\n\
		 [storage]\nkeystore = \"keystore.json\"\noutbox = \"outbox.redb\"\n\n\
		 [submission]\nbatch_size = 500\nmax_in_flight = 2\nfinality_timeout_s = 60\n\n\
		 [metrics]\nlisten = \"127.0.0.1:{metrics_port}\"\nsummary_every_s = 0\n\n\
		 [mqtt]\nhost = \"127.0.0.1\"\nport = {mqtt_port}\nusername = \"gateway\"\npassword_file = \"mqtt.password\"\nmax_payload_bytes = 4096\n\n\
		 [mqtt.tls]\nca_file = \"ca.pem\"\nclient_cert_file = \"client.pem\"\nclient_key_file = \"client.key\"\n\n"
	);
	for (id, name) in [
		(EV, "ev"),
		(CHARGER, "charger"),
		(HOME_BATTERY, "battery"),
		(SOLAR, "solar"),
		(EMS, "ems"),
	] {
		config.push_str(&format!(
			"[[device]]\nid = {id}\nname = \"{name}\"\nsource = {{ type = \"mqtt\", format = \"openvpp-json\", topic = \"{}\" }}\n\n",
			topic(id)
		));
	}
	config.push_str(&format!(
		"[[device]]\nid = {METER}\nname = \"meter\"\nsource = {{ type = \"mqtt\", format = \"openvpp-signed\", topic = \"{}\" }}\n",
		topic(METER)
	));
	std::fs::write(path.join("bridge.toml"), config).unwrap();
	let bridge = start_bridge(&path.join("bridge.toml"), path);
	let from_block = finalized_number(&chain).await;

	// Samples every second; the meter's own report at every interval end.
	let genesis = chain.genesis;
	let publishing = {
		let client = client.clone();
		tokio::spawn(async move {
			let mut sequence = 0;
			let mut last_start = 0;
			loop {
				for device in [EV, CHARGER, HOME_BATTERY, SOLAR, EMS] {
					let payload = match device {
						EV | HOME_BATTERY => r#"{"power_w": 0, "soc_pct": 50}"#,
						_ => r#"{"power_w": 0}"#,
					};
					let _ = client.publish(topic(device), QoS::AtLeastOnce, false, payload).await;
				}
				let now = openvpp_bridge::sources::now_ms() / 1_000;
				let start = now / INTERVAL_S * INTERVAL_S - INTERVAL_S;
				if start > last_start {
					last_start = start;
					sequence += 1;
					let signed = meter_report(genesis, sequence, start);
					let payload =
						format!(r#"{{"signed_report": "0x{}"}}"#, hex::encode(signed.encode()));
					let _ = client.publish(topic(METER), QoS::AtLeastOnce, false, payload).await;
				}
				tokio::time::sleep(Duration::from_secs(1)).await;
			}
		})
	};

	// Everything lands: over wss://, from samples that came over TLS with credentials.
	let all = [EV, CHARGER, HOME_BATTERY, SOLAR, METER, EMS];
	testkit::wait_for("two reports of every device", Duration::from_secs(180), || {
		let chain = &chain;
		async move {
			let reports = openvpp_bridge::audit::audit(chain, from_block).await.ok()?;
			all.iter()
				.all(|d| reports.iter().filter(|r| r.device_id == *d && r.landed()).count() >= 2)
				.then_some(())
		}
	})
	.await;
	let metrics = metrics_at(metrics_port).await;
	assert!(metric_sum(&metrics, "openvpp_bridge_samples_total", "device=\"charger\"") > 0.0);
	// The retained sample was not taken as a measurement.
	assert!(
		metric_sum(&metrics, "openvpp_bridge_mqtt_dropped_total", "reason=\"retained\"") >= 1.0
	);

	// The meter's reports are on chain exactly as it signed them.
	let meter_state = chain.device_telemetry(METER, None).await.unwrap().expect("meter reported");
	let mut found = false;
	for number in from_block..=finalized_number(&chain).await {
		let Some(hash) = chain.block_hash(number).await.unwrap() else { continue };
		for bytes in chain.block(hash).await.unwrap().extrinsics {
			let Ok(xt) = openvpp_runtime::UncheckedExtrinsic::decode(&mut &bytes[..]) else {
				continue;
			};
			if let RuntimeCall::Telemetry(pallet_telemetry::Call::submit_reports {
				reports, ..
			}) = xt.function
			{
				for signed in reports.iter().filter(|s| s.report.device_id == METER) {
					assert_eq!(
						*signed,
						meter_report(genesis, signed.report.sequence, signed.report.interval_start)
					);
					found = true;
				}
			}
		}
	}
	assert!(found && meter_state.last_sequence >= 2);

	// An oversized payload is dropped; the connection stays up.
	let errors_before = metric_sum(&metrics, "openvpp_bridge_source_errors_total", "mqtt");
	let big = format!(r#"{{"power_w": 0, "padding": "{}"}}"#, "x".repeat(10_000));
	client.publish(topic(SOLAR), QoS::AtLeastOnce, false, big).await.unwrap();
	testkit::wait_for("the oversized payload to be counted", Duration::from_secs(30), || async {
		let metrics = metrics_at(metrics_port).await;
		(metric_sum(&metrics, "openvpp_bridge_mqtt_dropped_total", "reason=\"oversized\"") >= 1.0)
			.then_some(())
	})
	.await;
	let metrics = metrics_at(metrics_port).await;
	assert_eq!(metric_sum(&metrics, "openvpp_bridge_source_errors_total", "mqtt"), errors_before);

	// Devices change on chain: the EV is suspended (by governance, sudo on a dev chain), the
	// energy manager retired by its owner.
	let reason = sp_runtime::BoundedVec::truncate_from(b"audit".to_vec());
	let suspend = RuntimeCall::DeviceRegistry(pallet_device_registry::Call::suspend_device {
		device_id: EV,
		reason,
	});
	submit_as(
		&chain,
		Sr25519Keyring::Alice,
		RuntimeCall::Sudo(pallet_sudo::Call::sudo { call: Box::new(suspend) }),
	)
	.await;
	submit_as(
		&chain,
		Sr25519Keyring::Alice,
		RuntimeCall::DeviceRegistry(pallet_device_registry::Call::retire_device { device_id: EMS }),
	)
	.await;
	testkit::wait_for("the bridge to stop signing for both", Duration::from_secs(120), || async {
		let metrics = metrics_at(metrics_port).await;
		(metric_sum(&metrics, "openvpp_bridge_devices_stopped", "") == 2.0).then_some(metrics)
	})
	.await;
	let metrics = metrics_at(metrics_port).await;
	assert_eq!(metric_sum(&metrics, "openvpp_bridge_device_stops_total", "inactive"), 1.0);
	assert_eq!(metric_sum(&metrics, "openvpp_bridge_device_stops_total", "retired"), 1.0);
	// Once the batches in flight at the stop are through, every batch is free: nothing is
	// rejected, nothing pays.
	let stopped_at = finalized_number(&chain).await + 1;
	testkit::wait_for("two batches after the stop", Duration::from_secs(120), || {
		let chain = &chain;
		async move { (batches_since(chain, stopped_at).await.len() >= 2).then_some(()) }
	})
	.await;
	let after_stop = finalized_number(&chain).await + 1;
	testkit::wait_for("three more batches", Duration::from_secs(120), || {
		let chain = &chain;
		async move { (batches_since(chain, after_stop).await.len() >= 3).then_some(()) }
	})
	.await;
	let fees = batches_since(&chain, after_stop).await;
	assert!(fees.iter().all(|fee| *fee == pallet_telemetry::BatchFee::Free), "{fees:?}");

	// The EV is reinstated: the bridge notices and signs for it again.
	let reinstate = RuntimeCall::DeviceRegistry(pallet_device_registry::Call::reinstate_device {
		device_id: EV,
	});
	submit_as(
		&chain,
		Sr25519Keyring::Alice,
		RuntimeCall::Sudo(pallet_sudo::Call::sudo { call: Box::new(reinstate) }),
	)
	.await;
	let reinstated_at = openvpp_bridge::sources::now_ms() / 1_000;
	testkit::wait_for("a new report of the reinstated EV", Duration::from_secs(150), || {
		let chain = &chain;
		async move {
			let reports = openvpp_bridge::audit::audit(chain, after_stop).await.ok()?;
			reports
				.iter()
				.any(|r| r.device_id == EV && r.landed() && r.interval_start >= reinstated_at)
				.then_some(())
		}
	})
	.await;
	publishing.abort();

	// No secret in the log.
	let log = bridge.log();
	for secret in [PASSWORD, SEED, pki.client.1.lines().nth(1).unwrap()] {
		assert!(!log.contains(secret), "the bridge logged a secret");
	}
	assert!(log.contains("stopped signing for it"), "the stop is logged");
}
