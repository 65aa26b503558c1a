//! The MQTT source: one connection to the broker, QoS 1 subscriptions for every configured
//! device topic, payloads mapped to samples.
//!
//! The connection is re-established after any error with a growing back-off (1 s to 30 s), and
//! every topic is subscribed again on each new connection. A malformed payload is logged with
//! its device, counted in `openvpp_bridge_bad_input_total`, and skipped; it never affects
//! another device.

use std::{collections::HashMap, time::Duration};

use openvpp_primitives::DeviceId;
use rumqttc::{AsyncClient, Event, MqttOptions, Packet, QoS};
use tokio::sync::{mpsc, watch};

use crate::{
	config::{MqttConfig, MqttMapping},
	mapping,
	metrics::Metrics,
	sources::{now_ms, Backoff, SourceEvent},
};

/// An MQTT device: its id, name and mapping.
#[derive(Debug, Clone)]
pub struct MqttDevice {
	pub device_id: DeviceId,
	pub name: String,
	pub mapping: MqttMapping,
}

/// Runs until `shutdown` turns true.
pub async fn run(
	config: MqttConfig,
	devices: Vec<MqttDevice>,
	events: mpsc::Sender<SourceEvent>,
	metrics: Metrics,
	mut shutdown: watch::Receiver<bool>,
) {
	let mut by_topic: HashMap<String, Vec<usize>> = HashMap::new();
	for (index, device) in devices.iter().enumerate() {
		for topic in device.mapping.topics() {
			by_topic.entry(topic).or_default().push(index);
		}
	}
	let client_id = config
		.client_id
		.clone()
		.unwrap_or_else(|| format!("openvpp-bridge-{}", std::process::id()));
	let mut options = MqttOptions::new(client_id, config.host.clone(), config.port);
	options
		.set_keep_alive(Duration::from_secs(config.keep_alive_s.max(1)))
		.set_clean_session(true)
		.set_max_packet_size(256 * 1024, 256 * 1024);
	let (client, mut eventloop) = AsyncClient::new(options, 256);
	let mut backoff = Backoff::new();

	loop {
		let polled = tokio::select! {
			_ = shutdown.changed() => {
				let _ = client.try_disconnect();
				tracing::info!("MQTT source stopped");
				return;
			}
			polled = eventloop.poll() => polled,
		};
		match polled {
			Ok(Event::Incoming(Packet::ConnAck(_))) => {
				backoff.reset();
				tracing::info!(host = %config.host, port = config.port, topics = by_topic.len(), "connected to the MQTT broker");
				// A clean session forgets subscriptions: subscribe again on every connection.
				for topic in by_topic.keys() {
					if let Err(e) = client.try_subscribe(topic.clone(), QoS::AtLeastOnce) {
						tracing::warn!(%topic, error = %e, "cannot subscribe");
					}
				}
			}
			Ok(Event::Incoming(Packet::Publish(publish))) => {
				let Some(indices) = by_topic.get(&publish.topic) else { continue };
				for &index in indices {
					let device = &devices[index];
					match mapping::parse(
						&device.mapping,
						&publish.topic,
						&publish.payload,
						now_ms(),
					) {
						Ok(update) => {
							if events
								.send(SourceEvent { device_id: device.device_id, update })
								.await
								.is_err()
							{
								return;
							}
						}
						Err(error) => {
							metrics
								.bad_input
								.with_label_values(&[&device.name, "mqtt", error_kind(&error)])
								.inc();
							tracing::warn!(device = %device.name, topic = %publish.topic, %error, "skipping MQTT payload");
						}
					}
				}
			}
			Ok(_) => {}
			Err(error) => {
				metrics.source_errors.with_label_values(&["mqtt"]).inc();
				let delay = backoff.next_delay();
				tracing::warn!(%error, retry_in = ?delay, "MQTT connection lost");
				tokio::select! {
					_ = shutdown.changed() => return,
					_ = tokio::time::sleep(delay) => {},
				}
			}
		}
	}
}

/// A short label for a payload error, for the metrics.
fn error_kind(error: &mapping::PayloadError) -> &'static str {
	use mapping::PayloadError::*;
	match error {
		NotUtf8 => "not-utf8",
		NotJson(_) => "not-json",
		NotANumber(_) => "not-a-number",
		Empty => "empty",
		OutOfRange { .. } => "out-of-range",
		UnknownState(_) => "unknown-state",
		UnknownAvailability(_) => "unknown-availability",
		UnknownTopic(_) => "unknown-topic",
	}
}
