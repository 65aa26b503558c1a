//! The MQTT source: one connection to the broker, QoS 1 subscriptions for every configured
//! device topic, payloads mapped to samples.
//!
//! **Session.** The client id is stable (configured, or derived from the device set), and the
//! bridge connects with `clean_session = false`, so the broker keeps its subscriptions and
//! queues QoS 1 messages while the connection is down; they arrive after the reconnection. At
//! start the bridge first connects once with a clean session to discard what the broker queued
//! while the process was not running: those samples would be stamped with their arrival time
//! and put the energy of intervals already reported as offline into the current one.
//!
//! **Subscriptions** are sent again on every connection (harmless for a kept session, needed for
//! a new one), in SUBSCRIBE packets of at most [`MAX_FILTERS_PER_SUBSCRIBE`] topics, one at a
//! time: the next is handed to the client only once the event loop has sent the previous, so
//! the client's request channel never fills however many topics there are, and the event loop
//! keeps being polled meanwhile. Each SUBACK is checked; topics the broker refused are
//! subscribed again after [`RESUBSCRIBE_AFTER`].
//!
//! The connection is re-established after any error with a growing back-off (1 s to 30 s). A
//! malformed payload is logged with its device, counted in `openvpp_bridge_bad_input_total`,
//! and skipped; it never affects another device.

use std::{
	collections::{HashMap, VecDeque},
	time::{Duration, Instant},
};

use openvpp_primitives::DeviceId;
use rumqttc::{
	AsyncClient, Event, EventLoop, MqttOptions, Outgoing, Packet, QoS, Request, SubscribeFilter,
	SubscribeReasonCode,
};
use tokio::sync::{mpsc, watch};

use crate::{
	config::{MqttConfig, MqttMapping},
	mapping,
	metrics::Metrics,
	sources::{now_ms, Backoff, SourceEvent},
};

/// Topic filters per SUBSCRIBE packet: small enough for any broker's packet limit with long
/// topics (64 × 1 KiB), large enough that 10 000 topics take under 200 packets.
pub const MAX_FILTERS_PER_SUBSCRIBE: usize = 64;
/// Encoded filter bytes per SUBSCRIBE packet, whatever the topics' lengths.
const MAX_SUBSCRIBE_BYTES: usize = 64 * 1024;
/// SUBSCRIBE packets sent and not yet acknowledged, at most.
const MAX_UNACKED_SUBSCRIBES: usize = 8;
/// How long before topics the broker refused are subscribed again.
pub const RESUBSCRIBE_AFTER: Duration = Duration::from_secs(30);
/// Requests queued to the event loop: this source only sends subscriptions, one at a time, and
/// a disconnect.
const REQUEST_CHANNEL_CAPACITY: usize = 16;
/// How long a clean DISCONNECT may take at shutdown.
const DISCONNECT_TIMEOUT: Duration = Duration::from_secs(2);

/// An MQTT device: its id, name and mapping.
#[derive(Debug, Clone)]
pub struct MqttDevice {
	pub device_id: DeviceId,
	pub name: String,
	pub mapping: MqttMapping,
}

/// Splits topics into SUBSCRIBE packets of at most `max_filters` filters and about `max_bytes`
/// of encoded filters (a longer topic gets a packet of its own).
pub fn subscription_chunks(
	topics: &[String],
	max_filters: usize,
	max_bytes: usize,
) -> Vec<Vec<String>> {
	let mut chunks: Vec<Vec<String>> = Vec::new();
	let mut bytes = 0;
	for topic in topics {
		// A filter is a length-prefixed string and a QoS byte.
		let size = topic.len() + 3;
		match chunks.last_mut() {
			Some(chunk) if chunk.len() < max_filters.max(1) && bytes + size <= max_bytes => {
				chunk.push(topic.clone());
				bytes += size;
			}
			_ => {
				chunks.push(vec![topic.clone()]);
				bytes = size;
			}
		}
	}
	chunks
}

/// What the subscriptions of the current connection are doing.
#[derive(Debug)]
struct Subscriptions {
	/// Every topic, sorted.
	topics: Vec<String>,
	/// Packets not yet handed to the client, in order.
	queue: VecDeque<Vec<String>>,
	/// The packet handed to the client and not yet seen leaving (at most one).
	handed: Option<Vec<String>>,
	/// Packets sent, by packet id, awaiting their SUBACK.
	awaiting: HashMap<u16, Vec<String>>,
	/// Topics the broker refused, and when to try them again.
	refused: Vec<String>,
	retry_at: Option<Instant>,
	/// Topics acknowledged on this connection.
	acknowledged: usize,
}

/// The result of a SUBACK.
#[derive(Debug, PartialEq, Eq)]
struct SubAckOutcome {
	refused: Vec<String>,
	/// Every topic is now acknowledged (once per connection).
	complete: bool,
}

impl Subscriptions {
	fn new(mut topics: Vec<String>) -> Self {
		topics.sort();
		topics.dedup();
		Subscriptions {
			topics,
			queue: VecDeque::new(),
			handed: None,
			awaiting: HashMap::new(),
			refused: Vec::new(),
			retry_at: None,
			acknowledged: 0,
		}
	}

	/// A new connection: subscribe to everything again.
	fn on_connected(&mut self) {
		self.on_disconnected();
		self.queue =
			subscription_chunks(&self.topics, MAX_FILTERS_PER_SUBSCRIBE, MAX_SUBSCRIBE_BYTES)
				.into();
	}

	/// The connection is gone: whatever was in flight is void.
	fn on_disconnected(&mut self) {
		self.queue.clear();
		self.handed = None;
		self.awaiting.clear();
		self.refused.clear();
		self.retry_at = None;
		self.acknowledged = 0;
	}

	/// The next packet to hand to the client, if it may be sent now.
	fn next(&mut self, now: Instant) -> Option<Vec<String>> {
		if self.retry_at.is_some_and(|at| at <= now) {
			self.retry_at = None;
			let refused = std::mem::take(&mut self.refused);
			self.queue.extend(subscription_chunks(
				&refused,
				MAX_FILTERS_PER_SUBSCRIBE,
				MAX_SUBSCRIBE_BYTES,
			));
		}
		if self.handed.is_some() || self.awaiting.len() >= MAX_UNACKED_SUBSCRIBES {
			return None;
		}
		let chunk = self.queue.pop_front()?;
		self.handed = Some(chunk.clone());
		Some(chunk)
	}

	/// The client did not take the packet: it is sent again next time.
	fn not_taken(&mut self) {
		if let Some(chunk) = self.handed.take() {
			self.queue.push_front(chunk);
		}
	}

	/// The event loop sent a SUBSCRIBE with `pkid`: the packet handed to it.
	fn on_sent(&mut self, pkid: u16) {
		if let Some(chunk) = self.handed.take() {
			self.awaiting.insert(pkid, chunk);
		}
	}

	fn on_suback(
		&mut self,
		pkid: u16,
		codes: &[SubscribeReasonCode],
		now: Instant,
	) -> SubAckOutcome {
		let Some(chunk) = self.awaiting.remove(&pkid) else {
			return SubAckOutcome { refused: Vec::new(), complete: false };
		};
		let mut refused = Vec::new();
		for (index, topic) in chunk.into_iter().enumerate() {
			// A missing code is as good as a refusal.
			match codes.get(index) {
				Some(SubscribeReasonCode::Success(_)) => self.acknowledged += 1,
				_ => refused.push(topic),
			}
		}
		if !refused.is_empty() {
			self.refused.extend(refused.iter().cloned());
			self.retry_at.get_or_insert(now + RESUBSCRIBE_AFTER);
		}
		SubAckOutcome {
			complete: refused.is_empty() && self.acknowledged == self.topics.len(),
			refused,
		}
	}
}

fn options(config: &MqttConfig, client_id: &str, clean_session: bool) -> MqttOptions {
	let mut options = MqttOptions::new(client_id, config.host.clone(), config.port);
	options
		.set_keep_alive(Duration::from_secs(config.keep_alive_s.max(1)))
		.set_max_packet_size(256 * 1024, 256 * 1024)
		// The id is never empty here (see `MqttConfig::effective_client_id`), which a
		// persistent session requires.
		.set_clean_session(clean_session || client_id.is_empty());
	options
}

/// Connects once with a clean session and disconnects, so that the broker drops the session
/// (and the messages it queued) from before this process. `false` if shut down meanwhile.
async fn discard_old_session(
	config: &MqttConfig,
	client_id: &str,
	metrics: &Metrics,
	shutdown: &mut watch::Receiver<bool>,
) -> bool {
	let mut backoff = Backoff::new();
	loop {
		let (client, mut eventloop) =
			AsyncClient::new(options(config, client_id, true), REQUEST_CHANNEL_CAPACITY);
		let polled = tokio::select! {
			_ = shutdown.changed() => return false,
			polled = eventloop.poll() => polled,
		};
		match polled {
			Ok(Event::Incoming(Packet::ConnAck(_))) => {
				disconnect(&client, &mut eventloop).await;
				return true;
			}
			Ok(_) => {}
			Err(error) => {
				metrics.source_errors.with_label_values(&["mqtt"]).inc();
				let delay = backoff.next_delay();
				tracing::warn!(host = %config.host, port = config.port, %error, retry_in = ?delay, "cannot connect to the MQTT broker");
				tokio::select! {
					_ = shutdown.changed() => return false,
					_ = tokio::time::sleep(delay) => {},
				}
			}
		}
	}
}

/// Sends DISCONNECT and lets the event loop write it (bounded in time).
async fn disconnect(client: &AsyncClient, eventloop: &mut EventLoop) {
	if client.try_disconnect().is_err() {
		return;
	}
	let _ = tokio::time::timeout(DISCONNECT_TIMEOUT, async {
		loop {
			match eventloop.poll().await {
				Ok(Event::Outgoing(Outgoing::Disconnect)) | Err(_) => return,
				Ok(_) => {}
			}
		}
	})
	.await;
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
	let client_id = config.effective_client_id(devices.iter().map(|d| d.device_id));
	if !discard_old_session(&config, &client_id, &metrics, &mut shutdown).await {
		tracing::info!("MQTT source stopped");
		return;
	}
	let (client, mut eventloop) =
		AsyncClient::new(options(&config, &client_id, false), REQUEST_CHANNEL_CAPACITY);
	let mut subscriptions = Subscriptions::new(by_topic.keys().cloned().collect());
	let mut backoff = Backoff::new();

	loop {
		// Hand the next SUBSCRIBE to the client when it may go; the event loop sends it.
		if let Some(chunk) = subscriptions.next(Instant::now()) {
			let filters = chunk.iter().map(|t| SubscribeFilter::new(t.clone(), QoS::AtLeastOnce));
			if let Err(error) = client.try_subscribe_many(filters) {
				tracing::debug!(%error, "MQTT request channel busy; subscribing later");
				subscriptions.not_taken();
			}
		}
		let polled = tokio::select! {
			_ = shutdown.changed() => {
				disconnect(&client, &mut eventloop).await;
				tracing::info!("MQTT source stopped");
				return;
			}
			polled = eventloop.poll() => polled,
		};
		match polled {
			Ok(Event::Incoming(Packet::ConnAck(connack))) => {
				backoff.reset();
				tracing::info!(host = %config.host, port = config.port, %client_id, session_present = connack.session_present, topics = by_topic.len(), "connected to the MQTT broker");
				subscriptions.on_connected();
			}
			Ok(Event::Outgoing(Outgoing::Subscribe(pkid))) => subscriptions.on_sent(pkid),
			Ok(Event::Incoming(Packet::SubAck(suback))) => {
				let outcome =
					subscriptions.on_suback(suback.pkid, &suback.return_codes, Instant::now());
				if !outcome.refused.is_empty() {
					metrics.source_errors.with_label_values(&["mqtt"]).inc();
					tracing::warn!(refused = outcome.refused.len(), first = ?outcome.refused.first(), retry_in = ?RESUBSCRIBE_AFTER, "the MQTT broker refused subscriptions");
				}
				if outcome.complete {
					tracing::info!(topics = by_topic.len(), "subscribed to every MQTT topic");
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
							tracing::warn!(device_id = device.device_id, device = %device.name, topic = %publish.topic, %error, "skipping MQTT payload");
						}
					}
				}
			}
			Ok(_) => {}
			Err(error) => {
				// Subscriptions queued for the lost connection would be sent on the next one
				// ahead of (and out of step with) its own: drop them, all are sent again.
				eventloop.pending.retain(|r| !matches!(r, Request::Subscribe(_)));
				subscriptions.on_disconnected();
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

#[cfg(test)]
mod tests {
	use super::*;

	fn topics(n: usize) -> Vec<String> {
		(0..n).map(|i| format!("site/device-{i:05}/state")).collect()
	}

	#[test]
	fn chunks_cover_every_topic_once_within_the_limits() {
		let all = topics(1_000);
		let chunks = subscription_chunks(&all, 64, MAX_SUBSCRIBE_BYTES);
		assert_eq!(chunks.len(), 16);
		assert!(chunks.iter().all(|c| !c.is_empty() && c.len() <= 64));
		assert_eq!(chunks.concat(), all);
		// The byte limit: long topics share fewer per packet; an oversized one goes alone.
		let long: Vec<String> = (0..5).map(|i| format!("{i}{}", "x".repeat(400))).collect();
		let chunks = subscription_chunks(&long, 64, 1_000);
		assert_eq!(chunks.iter().map(Vec::len).collect::<Vec<_>>(), vec![2, 2, 1]);
		let huge = vec!["y".repeat(5_000), "z".into()];
		assert_eq!(subscription_chunks(&huge, 64, 1_000).len(), 2);
		assert!(subscription_chunks(&[], 64, 1_000).is_empty());
	}

	/// Drives the subscriptions as the event loop would, acknowledging with `code`.
	fn subscribe_all(
		subscriptions: &mut Subscriptions,
		now: Instant,
		mut code: impl FnMut(&str) -> SubscribeReasonCode,
	) -> (usize, Vec<SubAckOutcome>) {
		let mut pkid = 0u16;
		let mut packets = 0;
		let mut outcomes = Vec::new();
		loop {
			// As many as may be in flight, each sent by the event loop before the next.
			let mut sent = Vec::new();
			while let Some(chunk) = subscriptions.next(now) {
				pkid += 1;
				packets += 1;
				subscriptions.on_sent(pkid);
				sent.push((pkid, chunk));
			}
			if sent.is_empty() {
				return (packets, outcomes);
			}
			assert!(sent.len() <= MAX_UNACKED_SUBSCRIBES);
			for (pkid, chunk) in sent {
				let codes: Vec<_> = chunk.iter().map(|t| code(t)).collect();
				outcomes.push(subscriptions.on_suback(pkid, &codes, now));
			}
		}
	}

	#[test]
	fn thousands_of_topics_are_subscribed_one_packet_at_a_time() {
		let mut subscriptions = Subscriptions::new(topics(10_000));
		let now = Instant::now();
		// Nothing before the connection.
		assert_eq!(subscriptions.next(now), None);
		subscriptions.on_connected();
		let first = subscriptions.next(now).unwrap();
		assert_eq!(first.len(), MAX_FILTERS_PER_SUBSCRIBE);
		// Only one packet is with the client until the event loop has sent it.
		assert_eq!(subscriptions.next(now), None);
		subscriptions.on_sent(1);
		assert!(subscriptions.next(now).is_some());
		subscriptions.not_taken();

		subscriptions.on_connected();
		let (packets, outcomes) = subscribe_all(&mut subscriptions, now, |_| {
			SubscribeReasonCode::Success(QoS::AtLeastOnce)
		});
		assert_eq!(packets, 10_000usize.div_ceil(MAX_FILTERS_PER_SUBSCRIBE));
		assert_eq!(subscriptions.acknowledged, 10_000);
		assert_eq!(outcomes.iter().filter(|o| o.complete).count(), 1);
		assert!(outcomes.last().unwrap().complete);
		assert!(outcomes.iter().all(|o| o.refused.is_empty()));
	}

	#[test]
	fn refused_topics_are_subscribed_again_later() {
		let mut subscriptions = Subscriptions::new(topics(300));
		let now = Instant::now();
		subscriptions.on_connected();
		let refuse = |t: &str| {
			if t.ends_with("00042/state") || t.ends_with("00299/state") {
				SubscribeReasonCode::Failure
			} else {
				SubscribeReasonCode::Success(QoS::AtLeastOnce)
			}
		};
		let (_, outcomes) = subscribe_all(&mut subscriptions, now, refuse);
		let refused: Vec<String> = outcomes.iter().flat_map(|o| o.refused.clone()).collect();
		assert_eq!(refused, vec!["site/device-00042/state", "site/device-00299/state"]);
		assert!(outcomes.iter().all(|o| !o.complete));
		// Not before the delay…
		assert_eq!(subscriptions.next(now + RESUBSCRIBE_AFTER / 2), None);
		// …then only the refused topics, in one packet.
		let later = now + RESUBSCRIBE_AFTER;
		assert_eq!(subscriptions.next(later), Some(refused));
		subscriptions.on_sent(900);
		let outcome = subscriptions.on_suback(
			900,
			&[SubscribeReasonCode::Success(QoS::AtLeastOnce); 2],
			later,
		);
		assert_eq!(outcome, SubAckOutcome { refused: vec![], complete: true });
		// A SUBACK with fewer codes than topics refuses the rest; an unknown packet id is
		// ignored.
		subscriptions.on_connected();
		let chunk = subscriptions.next(now).unwrap();
		subscriptions.on_sent(7);
		let outcome =
			subscriptions.on_suback(7, &[SubscribeReasonCode::Success(QoS::AtMostOnce)], now);
		assert_eq!(outcome.refused.len(), chunk.len() - 1);
		assert_eq!(
			subscriptions.on_suback(8, &[], now),
			SubAckOutcome { refused: vec![], complete: false }
		);
	}

	#[test]
	fn a_lost_connection_voids_what_was_in_flight() {
		let mut subscriptions = Subscriptions::new(topics(200));
		let now = Instant::now();
		subscriptions.on_connected();
		let _ = subscriptions.next(now);
		subscriptions.on_sent(1);
		let _ = subscriptions.next(now);
		subscriptions.on_disconnected();
		// A late SUBACK of the old connection changes nothing; nothing is sent until the next
		// connection, which starts from the first topic again.
		let outcome = subscriptions.on_suback(1, &[SubscribeReasonCode::Failure], now);
		assert!(outcome.refused.is_empty());
		assert_eq!(subscriptions.next(now + RESUBSCRIBE_AFTER), None);
		subscriptions.on_connected();
		assert_eq!(subscriptions.next(now).unwrap()[0], "site/device-00000/state");
	}

	#[test]
	fn the_session_is_persistent_with_a_stable_id() {
		let config =
			MqttConfig { host: "127.0.0.1".into(), port: 1883, client_id: None, keep_alive_s: 15 };
		let id = config.effective_client_id([4, 2]);
		let persistent = options(&config, &id, false);
		assert!(!persistent.clean_session());
		assert_eq!(persistent.client_id(), crate::config::default_mqtt_client_id([2, 4]));
		assert!(options(&config, &id, true).clean_session());
		// Never a persistent session without an id (rumqttc would refuse it).
		assert!(options(&config, "", false).clean_session());
	}
}
