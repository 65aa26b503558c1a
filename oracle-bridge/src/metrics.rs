//! Prometheus metrics of the bridge (served at `/metrics` when `[metrics] listen` is set) and the
//! periodic summary line.

use std::net::SocketAddr;

use prometheus_endpoint::{
	prometheus::{IntCounter, IntCounterVec, IntGauge},
	register, Opts, PrometheusError, Registry,
};

/// Everything the bridge counts.
#[derive(Clone)]
pub struct Metrics {
	pub registry: Registry,
	/// Samples taken from devices, by device.
	pub samples: IntCounterVec,
	/// Inputs that could not be used, by device, source and reason.
	pub bad_input: IntCounterVec,
	/// Connection problems with devices or the broker, by source.
	pub source_errors: IntCounterVec,
	/// Reports signed and written to the outbox.
	pub reports_signed: IntCounter,
	/// Reports waiting in the outbox.
	pub outbox_pending: IntGauge,
	/// Reports the chain rejected, kept in the outbox's rejected table.
	pub outbox_rejected: IntGauge,
	/// Batch extrinsics submitted.
	pub batches_submitted: IntCounter,
	/// Reports in finalized blocks, by outcome (accepted, flagged, duplicate).
	pub reports_finalized: IntCounterVec,
	/// Reports the chain rejected, by reason.
	pub reports_rejected: IntCounterVec,
	/// Problems talking to the node, by kind.
	pub chain_errors: IntCounterVec,
}

impl Metrics {
	pub fn new() -> Result<Metrics, PrometheusError> {
		let registry = Registry::new();
		let vec = |name: &str, help: &str, labels: &[&str]| {
			register(IntCounterVec::new(Opts::new(name, help), labels)?, &registry)
		};
		Ok(Metrics {
			samples: vec("openvpp_bridge_samples_total", "Samples read from devices", &["device"])?,
			bad_input: vec(
				"openvpp_bridge_bad_input_total",
				"Malformed or implausible device inputs that were skipped",
				&["device", "source", "reason"],
			)?,
			source_errors: vec(
				"openvpp_bridge_source_errors_total",
				"Connection problems with devices or the MQTT broker",
				&["source"],
			)?,
			reports_signed: register(
				IntCounter::new(
					"openvpp_bridge_reports_signed_total",
					"Reports signed into the outbox",
				)?,
				&registry,
			)?,
			outbox_pending: register(
				IntGauge::new("openvpp_bridge_outbox_pending", "Reports waiting in the outbox")?,
				&registry,
			)?,
			outbox_rejected: register(
				IntGauge::new("openvpp_bridge_outbox_rejected", "Reports the chain rejected")?,
				&registry,
			)?,
			batches_submitted: register(
				IntCounter::new(
					"openvpp_bridge_batches_submitted_total",
					"Batch extrinsics submitted",
				)?,
				&registry,
			)?,
			reports_finalized: vec(
				"openvpp_bridge_reports_finalized_total",
				"Reports in finalized blocks, by outcome",
				&["outcome"],
			)?,
			reports_rejected: vec(
				"openvpp_bridge_reports_rejected_total",
				"Reports rejected by the chain, by reason",
				&["reason"],
			)?,
			chain_errors: vec(
				"openvpp_bridge_chain_errors_total",
				"Problems talking to the node",
				&["kind"],
			)?,
			registry,
		})
	}

	/// Serves `/metrics` on `address` until the process ends.
	pub fn serve(&self, address: SocketAddr) {
		let registry = self.registry.clone();
		tokio::spawn(async move {
			if let Err(e) = prometheus_endpoint::init_prometheus(address, registry).await {
				tracing::error!(%address, error = %e, "metrics endpoint stopped");
			}
		});
	}

	/// Total of a labelled counter over all its label values.
	fn total(vec: &IntCounterVec) -> u64 {
		use prometheus_endpoint::prometheus::core::Collector;
		vec.collect()
			.iter()
			.flat_map(|family| family.get_metric())
			.map(|m| m.get_counter().get_value() as u64)
			.sum()
	}

	/// One line summarising the counters.
	pub fn summary(&self) -> String {
		format!(
			"samples {} (bad {}), reports signed {}, pending {}, finalized {}, rejected {}, batches {}, chain errors {}",
			Self::total(&self.samples),
			Self::total(&self.bad_input),
			self.reports_signed.get(),
			self.outbox_pending.get(),
			Self::total(&self.reports_finalized),
			Self::total(&self.reports_rejected),
			self.batches_submitted.get(),
			Self::total(&self.chain_errors),
		)
	}
}
