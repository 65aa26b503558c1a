//! Prometheus metrics of the bridge (served at `/metrics` when `[metrics] listen` is set) and the
//! periodic summary line.

use std::net::SocketAddr;

use prometheus_endpoint::{
	prometheus::{Histogram, HistogramOpts, IntCounter, IntCounterVec, IntGauge},
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
	/// Failed attempts to write reports to the outbox.
	pub outbox_write_errors: IntCounter,
	/// Reports signed but not yet written to the outbox (kept in memory, retried).
	pub reports_unwritten: IntGauge,
	/// Reports waiting in the outbox.
	pub outbox_pending: IntGauge,
	/// Reports the chain rejected, kept in the outbox's rejected table.
	pub outbox_rejected: IntGauge,
	/// Batch extrinsics submitted (accepted into the node's pool).
	pub batches_submitted: IntCounter,
	/// Reports submitted, counted in every batch that carried them.
	pub reports_submitted: IntCounter,
	/// Reports in finalized blocks, by outcome (accepted, flagged, duplicate).
	pub reports_finalized: IntCounterVec,
	/// Reports the chain rejected for good, by reason.
	pub reports_rejected: IntCounterVec,
	/// Reports the chain refused for a reason that may go away, kept and retried, by reason.
	pub reports_retried: IntCounterVec,
	/// Devices whose reports wait before being submitted again.
	pub deferred_devices: IntGauge,
	/// Problems talking to the node, by kind.
	pub chain_errors: IntCounterVec,
	/// MQTT messages dropped unread, by device and reason (oversized, retained).
	pub mqtt_dropped: IntCounterVec,
	/// Devices the bridge stopped signing for because the chain no longer takes their reports
	/// from it (retired, rebound, key rotated, not active).
	pub devices_stopped: IntGauge,
	/// Times a device was stopped, by reason.
	pub device_stops: IntCounterVec,
	/// Outbox rows that could not be read and were moved to the quarantine table.
	pub outbox_quarantined: IntGauge,
	/// Commands to devices in demand-response events, by device, command (hold, release,
	/// read) and outcome (acknowledged, sent, refused, failed).
	pub dispatch_commands: IntCounterVec,
	/// Seconds from an event's start to its first command to a device.
	pub dispatch_latency: Histogram,
	/// Devices held for an event now.
	pub devices_held: IntGauge,
	/// 1 while the node's runtime has the shapes of everything the bridge uses, 0 while
	/// submission waits for one that does (see [`crate::compat`]).
	pub runtime_compatible: IntGauge,
	/// The spec version of the node's runtime, as last seen.
	pub runtime_spec_version: IntGauge,
	/// Events joined for consenting owners, by device and outcome.
	pub dispatch_joins: IntCounterVec,
}

impl Metrics {
	pub fn new() -> Result<Metrics, PrometheusError> {
		let registry = Registry::new();
		let vec = |name: &str, help: &str, labels: &[&str]| {
			register(IntCounterVec::new(Opts::new(name, help), labels)?, &registry)
		};
		let counter = |name: &str, help: &str| register(IntCounter::new(name, help)?, &registry);
		let gauge = |name: &str, help: &str| register(IntGauge::new(name, help)?, &registry);
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
			reports_signed: counter(
				"openvpp_bridge_reports_signed_total",
				"Reports signed into the outbox",
			)?,
			outbox_write_errors: counter(
				"openvpp_bridge_outbox_write_errors_total",
				"Failed attempts to write reports to the outbox",
			)?,
			reports_unwritten: gauge(
				"openvpp_bridge_reports_unwritten",
				"Reports signed but not yet written to the outbox",
			)?,
			outbox_pending: gauge(
				"openvpp_bridge_outbox_pending",
				"Reports waiting in the outbox",
			)?,
			outbox_rejected: gauge("openvpp_bridge_outbox_rejected", "Reports the chain rejected")?,
			batches_submitted: counter(
				"openvpp_bridge_batches_submitted_total",
				"Batch extrinsics submitted",
			)?,
			reports_submitted: counter(
				"openvpp_bridge_reports_submitted_total",
				"Reports submitted (once per batch that carried them)",
			)?,
			reports_finalized: vec(
				"openvpp_bridge_reports_finalized_total",
				"Reports in finalized blocks, by outcome",
				&["outcome"],
			)?,
			reports_rejected: vec(
				"openvpp_bridge_reports_rejected_total",
				"Reports rejected by the chain for good, by reason",
				&["reason"],
			)?,
			reports_retried: vec(
				"openvpp_bridge_reports_retried_total",
				"Reports refused by the chain for a reason that may go away, kept for a retry",
				&["reason"],
			)?,
			deferred_devices: gauge(
				"openvpp_bridge_deferred_devices",
				"Devices whose reports wait before being submitted again",
			)?,
			chain_errors: vec(
				"openvpp_bridge_chain_errors_total",
				"Problems talking to the node",
				&["kind"],
			)?,
			mqtt_dropped: vec(
				"openvpp_bridge_mqtt_dropped_total",
				"MQTT messages dropped unread (oversized payloads, retained samples)",
				&["device", "reason"],
			)?,
			devices_stopped: gauge(
				"openvpp_bridge_devices_stopped",
				"Devices the bridge does not sign for, because the chain no longer takes their reports from it",
			)?,
			device_stops: vec(
				"openvpp_bridge_device_stops_total",
				"Times the bridge stopped signing for a device, by reason",
				&["reason"],
			)?,
			outbox_quarantined: gauge(
				"openvpp_bridge_outbox_quarantined",
				"Outbox rows that could not be read and were moved to the quarantine table",
			)?,
			dispatch_commands: vec(
				"openvpp_bridge_dispatch_commands_total",
				"Commands to devices in demand-response events, by device, command and outcome",
				&["device", "command", "outcome"],
			)?,
			dispatch_latency: register(
				Histogram::with_opts(
					HistogramOpts::new(
						"openvpp_bridge_dispatch_latency_seconds",
						"Seconds from an event's start to the first command to a device",
					)
					.buckets(vec![0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0]),
				)?,
				&registry,
			)?,
			devices_held: gauge(
				"openvpp_bridge_devices_held",
				"Devices held for a demand-response event now",
			)?,
			runtime_compatible: gauge(
				"openvpp_bridge_runtime_compatible",
				"1 while the node's runtime has the shapes the bridge uses; 0 while submission waits",
			)?,
			runtime_spec_version: gauge(
				"openvpp_bridge_runtime_spec_version",
				"Spec version of the node's runtime, as last seen",
			)?,
			dispatch_joins: vec(
				"openvpp_bridge_dispatch_joins_total",
				"Demand-response events joined for consenting owners, by device and outcome",
				&["device", "outcome"],
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
			"samples {} (bad {}), reports signed {} (unwritten {}), pending {}, submitted {} in {} batches, finalized {}, rejected {}, retried {}, chain errors {}",
			Self::total(&self.samples),
			Self::total(&self.bad_input),
			self.reports_signed.get(),
			self.reports_unwritten.get(),
			self.outbox_pending.get(),
			self.reports_submitted.get(),
			self.batches_submitted.get(),
			Self::total(&self.reports_finalized),
			Self::total(&self.reports_rejected),
			Self::total(&self.reports_retried),
			Self::total(&self.chain_errors),
		)
	}
}

#[cfg(test)]
mod tests {
	use super::*;

	#[test]
	fn reports_and_batches_are_counted_apart() {
		let metrics = Metrics::new().unwrap();
		metrics.batches_submitted.inc();
		metrics.reports_submitted.inc_by(250);
		let summary = metrics.summary();
		assert!(summary.contains("submitted 250 in 1 batches"), "{summary}");
		let names: Vec<String> =
			metrics.registry.gather().iter().map(|f| f.get_name().to_string()).collect();
		assert!(names.contains(&"openvpp_bridge_reports_submitted_total".to_string()));
		assert!(names.contains(&"openvpp_bridge_batches_submitted_total".to_string()));
	}
}
