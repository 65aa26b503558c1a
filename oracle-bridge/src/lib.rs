//! # OpenVPP oracle bridge
//!
//! The off-chain side of a gateway: it reads energy devices over the protocols they speak
//! (MQTT, Modbus TCP / SunSpec), turns their samples into the interval reports the telemetry
//! pallet verifies, signs each with its device's attestation key, keeps them in a durable
//! outbox and delivers them to the chain in batch extrinsics signed by the gateway account —
//! every report, exactly once, whatever fails in between.
//!
//! ```text
//!  MQTT broker ──► sources::mqtt ──┐
//!                                  ├─► aggregator (per device) ─► sign ─► outbox (redb) ─► submitter ─► node
//!  Modbus/SunSpec ► sources::modbus┘        interval reports        device key        batches, finality, events
//! ```
//!
//! The same crate holds the device-fleet simulator (`openvpp-sim`, module [`sim`]).

pub mod aggregator;
pub mod audit;
pub mod bench;
pub mod bridge;
pub mod chain;
pub mod config;
pub mod demo;
pub mod keystore;
pub mod mapping;
pub mod metrics;
pub mod outbox;
pub mod sim;
pub mod sources;
pub mod submitter;
pub mod sunspec;
pub mod testkit;
pub mod view;

/// Installs the tracing subscriber: `RUST_LOG` if set, else `default_filter`.
pub fn init_logging(default_filter: &str) {
	let filter = tracing_subscriber::EnvFilter::try_from_default_env()
		.unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default_filter));
	use std::io::IsTerminal;
	let _ = tracing_subscriber::fmt()
		.with_env_filter(filter)
		.with_ansi(std::io::stderr().is_terminal())
		.with_writer(std::io::stderr)
		.try_init();
}

/// A watch channel that turns `true` on SIGINT or SIGTERM.
pub fn shutdown_on_signals() -> tokio::sync::watch::Receiver<bool> {
	let (tx, rx) = tokio::sync::watch::channel(false);
	tokio::spawn(async move {
		use tokio::signal::unix::{signal, SignalKind};
		let (Ok(mut interrupt), Ok(mut terminate)) =
			(signal(SignalKind::interrupt()), signal(SignalKind::terminate()))
		else {
			tracing::error!("cannot install signal handlers; stop with SIGKILL");
			return;
		};
		tokio::select! {
			_ = interrupt.recv() => tracing::info!("SIGINT: shutting down"),
			_ = terminate.recv() => tracing::info!("SIGTERM: shutting down"),
		}
		let _ = tx.send(true);
	});
	rx
}
