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
//! Beside it, the [`dispatch`]er follows the chain's demand-response events for the devices it
//! controls, commands them at each event's start and gives them back at the end; what they did
//! fills the `grid_response` of their reports.
//!
//! The bridge does not link the runtime: it encodes its calls and decodes the events and
//! storage it reads with its own types ([`wire`]). The node may change its runtime under the
//! bridge by a forkless upgrade: [`compat`] checks that what the bridge uses keeps its shape,
//! and the submitter pauses when it does not.
//!
//! This crate is the gateway only: its binary `openvpp-bridge` carries what an operator runs
//! (`run`, `check-config`, `watch`, `audit`, `key-proof`). Beside it in `oracle-bridge/`: the
//! device-fleet simulator (`openvpp-sim`), the demonstration tool (`openvpp-demo`), the load
//! benchmark (`openvpp-bench`) and the test helpers (`openvpp-testkit`).

pub mod aggregator;
pub mod audit;
pub mod bridge;
pub mod chain;
pub mod compat;
pub mod config;
pub mod device_command;
pub mod device_watch;
pub mod dispatch;
pub mod gateway_call;
pub mod keystore;
pub mod mapping;
pub mod metrics;
pub mod outbox;
pub mod rewards_view;
pub mod sources;
pub mod submitter;
pub mod sunspec;
pub mod tls;
pub mod view;
pub mod vpp;
pub mod wire;

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

/// A watch channel that turns `true` on SIGINT or SIGTERM. A second SIGINT or SIGTERM while
/// shutting down exits at once (status 130), for when a graceful stop takes too long.
pub fn shutdown_on_signals() -> tokio::sync::watch::Receiver<bool> {
	let (tx, rx) = tokio::sync::watch::channel(false);
	let (signals_tx, signals) = tokio::sync::mpsc::unbounded_channel();
	tokio::spawn(async move {
		use tokio::signal::unix::{signal, SignalKind};
		let (Ok(mut interrupt), Ok(mut terminate)) =
			(signal(SignalKind::interrupt()), signal(SignalKind::terminate()))
		else {
			tracing::error!("cannot install signal handlers; stop with SIGKILL");
			return;
		};
		loop {
			let name = tokio::select! {
				_ = interrupt.recv() => "SIGINT",
				_ = terminate.recv() => "SIGTERM",
			};
			if signals_tx.send(name).is_err() {
				return;
			}
		}
	});
	tokio::spawn(on_signals(signals, tx, || std::process::exit(130)));
	rx
}

/// The first signal asks for a graceful shutdown; the second calls `force`. The shutdown
/// sender is never dropped: receivers would see the channel close and stop at once (if the
/// signal handlers could not be installed, the bridge keeps running; it is stopped with SIGKILL).
async fn on_signals(
	mut signals: tokio::sync::mpsc::UnboundedReceiver<&'static str>,
	shutdown: tokio::sync::watch::Sender<bool>,
	force: impl FnOnce(),
) {
	if let Some(signal) = signals.recv().await {
		tracing::info!("{signal}: shutting down (again to stop at once)");
		let _ = shutdown.send(true);
		if let Some(signal) = signals.recv().await {
			tracing::warn!("{signal} again: exiting without finishing the shutdown");
			force();
		}
	}
	std::future::pending::<()>().await;
	drop(shutdown);
}

#[cfg(test)]
mod tests {
	use std::sync::{
		atomic::{AtomicBool, Ordering},
		Arc,
	};

	#[tokio::test]
	async fn a_second_signal_forces_the_exit() {
		let (signals, receiver) = tokio::sync::mpsc::unbounded_channel();
		let (tx, mut shutdown) = tokio::sync::watch::channel(false);
		let forced = Arc::new(AtomicBool::new(false));
		let task = tokio::spawn(super::on_signals(receiver, tx, {
			let forced = forced.clone();
			move || forced.store(true, Ordering::SeqCst)
		}));
		signals.send("SIGINT").unwrap();
		shutdown.changed().await.unwrap();
		assert!(*shutdown.borrow());
		assert!(!forced.load(Ordering::SeqCst));
		signals.send("SIGINT").unwrap();
		tokio::time::timeout(std::time::Duration::from_secs(5), async {
			while !forced.load(Ordering::SeqCst) {
				tokio::task::yield_now().await;
			}
		})
		.await
		.unwrap();
		task.abort();
	}

	#[tokio::test]
	async fn without_signal_handlers_the_bridge_keeps_running() {
		// The task that would forward signals could not install its handlers and ended.
		let (signals, receiver) = tokio::sync::mpsc::unbounded_channel::<&'static str>();
		drop(signals);
		let (tx, mut shutdown) = tokio::sync::watch::channel(false);
		let task = tokio::spawn(super::on_signals(receiver, tx, || {}));
		// Neither a shutdown nor a closed channel (which the bridge would take as one).
		let changed =
			tokio::time::timeout(std::time::Duration::from_millis(200), shutdown.changed()).await;
		assert!(changed.is_err(), "{changed:?}");
		assert!(!*shutdown.borrow());
		task.abort();
	}
}
