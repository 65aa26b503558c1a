//! The MQTT source: one connection to the broker, QoS 1 subscriptions for every configured
//! device topic, payloads mapped to samples.
//!
//! **Session.** The client id is stable (configured, or derived from the device set), but every
//! connection starts a clean session. MQTT payloads carry no time, so a sample is stamped when
//! it arrives; messages a broker queued during an outage would all arrive at the reconnection
//! and put the outage's energy and peak into the current interval. QoS 1 protects delivery
//! within a connection; across an outage, the bridge reports every MQTT device offline as of the
//! moment the connection was lost, and presence resumes with each device's next sample after
//! the reconnection (the intervals in between carry `GAP`, and the counters' growth stays
//! visible in the cumulative counters on chain).
//!
//! **Subscriptions** are sent on every connection, in SUBSCRIBE packets of at most
//! [`MAX_FILTERS_PER_SUBSCRIBE`] topics, one at a time: the next is handed to the client only
//! once the event loop has sent the previous, so the client's request channel never fills
//! however many topics there are, and the event loop keeps being polled meanwhile. Each SUBACK
//! is checked; topics the broker refused are subscribed again after [`RESUBSCRIBE_AFTER`]. What
//! a lost connection leaves behind in the client (a SUBSCRIBE not yet sent, the event of one
//! sent, a SUBACK read) is discarded before the next connection, so that packet ids are only
//! ever matched to the packets of the connection they belong to.
//!
//! **Security.** The broker may require a user name and password (the password is read from a
//! file that must be as private as the keystore) and TLS (the broker's certificate checked
//! against a configured CA; optionally a client certificate). Neither secret is ever logged.
//!
//! **Hostile input.** The connection is re-established after any error with a growing back-off
//! (1 s to 30 s) that starts again from 1 s only after a connection held for
//! [`sources::STABLE_CONNECTION`]: a broker or peer that drops the bridge right after every
//! connection is not hammered. A payload larger than `max_payload_bytes` is dropped and counted
//! (`openvpp_bridge_mqtt_dropped_total{reason="oversized"}`) without touching the connection;
//! only a packet beyond `max_packet_bytes` (keep the broker's `message_size_limit` below it)
//! ends the connection. A *retained* sample is dropped and counted (`reason="retained"`): it
//! was measured at some unknown time before the subscription, not now. Retained availability
//! messages (a device's last will) are used, since they state a current fact. A malformed
//! payload is counted in `openvpp_bridge_bad_input_total` and skipped; it never affects another
//! device. Warnings of each kind per device are logged at most once a minute, with a count of
//! those left out.

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
	keystore::{read_secret_file, KeystoreError},
	mapping::{self, Update},
	metrics::Metrics,
	sources::{self, now_ms, Backoff, SourceEvent, WarnLimiter, WARN_EVERY},
	tls::{self, TlsError},
};

/// What the connection needs beyond the configuration, read from their files at start: the
/// broker password and the TLS set-up. Its `Debug` output shows neither.
#[derive(Clone, Default)]
pub struct MqttSecrets {
	password: Option<String>,
	tls: Option<std::sync::Arc<rustls::ClientConfig>>,
}

impl std::fmt::Debug for MqttSecrets {
	fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
		f.debug_struct("MqttSecrets")
			.field("password", &self.password.as_ref().map(|_| "<redacted>"))
			.field("tls", &self.tls.is_some())
			.finish()
	}
}

/// Why the MQTT connection cannot be set up.
#[derive(Debug, thiserror::Error)]
pub enum MqttSetupError {
	#[error("MQTT password: {0}")]
	Password(#[from] KeystoreError),
	#[error("MQTT TLS: {0}")]
	Tls(#[from] TlsError),
}

impl MqttSecrets {
	/// Reads the password file (checking its permissions) and the TLS files of `config`.
	pub fn load(config: &MqttConfig) -> Result<MqttSecrets, MqttSetupError> {
		let password = config.password_file.as_deref().map(read_secret_file).transpose()?;
		let tls = match &config.tls {
			Some(tls) => Some(tls::client_config(
				&tls.ca_file,
				tls.client_cert_file.as_deref().zip(tls.client_key_file.as_deref()),
			)?),
			None => None,
		};
		Ok(MqttSecrets { password, tls })
	}
}

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

pub(crate) fn options(config: &MqttConfig, client_id: &str, secrets: &MqttSecrets) -> MqttOptions {
	let mut options = MqttOptions::new(client_id, config.host.clone(), config.port);
	options
		.set_keep_alive(Duration::from_secs(config.keep_alive_s.max(1)))
		// Outgoing packets are small (subscriptions); incoming ones are bounded by the
		// transport limit, payloads then by `max_payload_bytes`.
		.set_max_packet_size(config.max_packet_bytes, 256 * 1024)
		// Queued messages could not be placed in time (see the module's documentation).
		.set_clean_session(true);
	if let Some(username) = &config.username {
		options.set_credentials(username.clone(), secrets.password.clone().unwrap_or_default());
	}
	if let Some(tls) = &secrets.tls {
		options.set_transport(rumqttc::Transport::tls_with_config(
			rumqttc::TlsConfiguration::Rustls(tls.clone()),
		));
	}
	options
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

/// Clears what a lost connection left in the client, so that nothing of it reaches the next
/// connection: requests still in its channel (rumqttc moves them to `pending` and would send
/// them on the next connection), and events it had buffered — among them a SUBSCRIBE's
/// `Outgoing` event, which would otherwise be taken for the next connection's. Returns the
/// messages it had read before the loss, to be handled still.
fn void_connection(eventloop: &mut EventLoop) -> Vec<rumqttc::Publish> {
	// Moves what is still in the request channel to `pending` (rumqttc already did, unless the
	// connection failed before it could).
	eventloop.clean();
	eventloop.pending.retain(|r| !matches!(r, Request::Subscribe(_)));
	std::mem::take(&mut eventloop.state.events)
		.into_iter()
		.filter_map(|event| match event {
			Event::Incoming(Packet::Publish(publish)) => Some(publish),
			_ => None,
		})
		.collect()
}

/// The MQTT devices and the topics they listen to.
struct Devices {
	devices: Vec<MqttDevice>,
	by_topic: HashMap<String, Vec<usize>>,
}

impl Devices {
	fn new(devices: Vec<MqttDevice>) -> Self {
		let mut by_topic: HashMap<String, Vec<usize>> = HashMap::new();
		for (index, device) in devices.iter().enumerate() {
			for topic in device.mapping.topics() {
				by_topic.entry(topic).or_default().push(index);
			}
		}
		Devices { devices, by_topic }
	}

	/// What a message received at `at_ms` says about its devices. Oversized payloads and
	/// retained samples are dropped and counted; payloads that do not parse are counted and
	/// skipped. Warnings are rate-limited per device and kind.
	fn updates(
		&self,
		publish: &rumqttc::Publish,
		at_ms: u64,
		input: &mut InputGuard<'_>,
	) -> Vec<SourceEvent> {
		let Some(indices) = self.by_topic.get(&publish.topic) else { return Vec::new() };
		let mut events = Vec::with_capacity(indices.len());
		for device in indices.iter().filter_map(|&index| self.devices.get(index)) {
			if publish.payload.len() > input.max_payload_bytes {
				input.dropped(device, &publish.topic, "oversized", publish.payload.len());
				continue;
			}
			match mapping::parse(&device.mapping, &publish.topic, &publish.payload, at_ms) {
				// A retained sample was measured at some unknown time before the subscription.
				Ok(Update::Sample(_)) if publish.retain => {
					input.dropped(device, &publish.topic, "retained", publish.payload.len());
				}
				Ok(update) => events.push(SourceEvent { device_id: device.device_id, update }),
				Err(error) => input.bad(device, &publish.topic, &error),
			}
		}
		events
	}

	/// Every device offline as of `at_ms`: the connection that carried their messages is gone.
	fn offline(&self, at_ms: u64) -> Vec<SourceEvent> {
		self.devices
			.iter()
			.map(|device| SourceEvent {
				device_id: device.device_id,
				update: Update::Availability { online: false, at_ms },
			})
			.collect()
	}
}

/// What the source does with input it does not take: counts it, and warns at most once a
/// minute per device and kind.
struct InputGuard<'a> {
	metrics: &'a Metrics,
	warnings: &'a mut WarnLimiter,
	max_payload_bytes: usize,
}

impl InputGuard<'_> {
	fn dropped(&mut self, device: &MqttDevice, topic: &str, reason: &'static str, bytes: usize) {
		self.metrics.mqtt_dropped.with_label_values(&[&device.name, reason]).inc();
		let key = format!("{}/{reason}", device.device_id);
		if let Some(suppressed) = self.warnings.check(&key, Instant::now()) {
			tracing::warn!(device_id = device.device_id, device = %device.name, %topic, reason, bytes, suppressed, "dropping MQTT message");
		}
	}

	fn bad(&mut self, device: &MqttDevice, topic: &str, error: &mapping::PayloadError) {
		let kind = error_kind(error);
		self.metrics.bad_input.with_label_values(&[&device.name, "mqtt", kind]).inc();
		let key = format!("{}/{kind}", device.device_id);
		if let Some(suppressed) = self.warnings.check(&key, Instant::now()) {
			tracing::warn!(device_id = device.device_id, device = %device.name, %topic, %error, suppressed, "skipping MQTT payload");
		}
	}
}

/// Sends `events` in order; `false` if stopping (or nobody listens).
async fn send_all(
	sender: &mpsc::Sender<SourceEvent>,
	events: Vec<SourceEvent>,
	shutdown: &mut watch::Receiver<bool>,
) -> bool {
	for event in events {
		if !sources::send(sender, event, shutdown).await {
			return false;
		}
	}
	true
}

/// Runs until `shutdown` turns true.
pub async fn run(
	config: MqttConfig,
	secrets: MqttSecrets,
	devices: Vec<MqttDevice>,
	events: mpsc::Sender<SourceEvent>,
	metrics: Metrics,
	mut shutdown: watch::Receiver<bool>,
) {
	let client_id = config.effective_client_id(devices.iter().map(|d| d.device_id));
	let devices = Devices::new(devices);
	let (client, mut eventloop) =
		AsyncClient::new(options(&config, &client_id, &secrets), REQUEST_CHANNEL_CAPACITY);
	let mut subscriptions = Subscriptions::new(devices.by_topic.keys().cloned().collect());
	let mut backoff = Backoff::new();
	let mut warnings = WarnLimiter::new(WARN_EVERY);
	// Since when a connection is up: its loss is reported once, not at every failed attempt,
	// and only a connection that held resets the back-off.
	let mut connected_since: Option<Instant> = None;

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
			Ok(Event::Incoming(Packet::ConnAck(_))) => {
				connected_since = Some(Instant::now());
				tracing::info!(host = %config.host, port = config.port, %client_id, topics = devices.by_topic.len(), "connected to the MQTT broker");
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
					tracing::info!(
						topics = devices.by_topic.len(),
						"subscribed to every MQTT topic"
					);
				}
			}
			Ok(Event::Incoming(Packet::Publish(publish))) => {
				let mut input = InputGuard {
					metrics: &metrics,
					warnings: &mut warnings,
					max_payload_bytes: config.max_payload_bytes,
				};
				let updates = devices.updates(&publish, now_ms(), &mut input);
				if !send_all(&events, updates, &mut shutdown).await {
					return;
				}
			}
			Ok(_) => {}
			Err(error) => {
				let lost_at = now_ms();
				// Messages read just before the loss are still news from before it.
				let mut updates = Vec::new();
				let mut input = InputGuard {
					metrics: &metrics,
					warnings: &mut warnings,
					max_payload_bytes: config.max_payload_bytes,
				};
				for publish in void_connection(&mut eventloop) {
					updates.extend(devices.updates(&publish, lost_at, &mut input));
				}
				subscriptions.on_disconnected();
				let held = connected_since.take().map(|since| since.elapsed());
				if held.is_some() {
					// Nothing the devices publish reaches the bridge now: presence (and the
					// integration of their power) stops here, until each one's next sample.
					updates.extend(devices.offline(lost_at));
				}
				if !send_all(&events, updates, &mut shutdown).await {
					return;
				}
				metrics.source_errors.with_label_values(&["mqtt"]).inc();
				let delay = backoff.after_connection(held);
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
		UnexpectedCounter { .. } => "unexpected-counter",
		NotASignedReport(_) => "not-a-signed-report",
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
	fn the_session_is_clean_with_a_stable_id() {
		let config = MqttConfig::new("127.0.0.1", 1883);
		let id = config.effective_client_id([4, 2]);
		let options = options(&config, &id, &MqttSecrets::default());
		assert!(options.clean_session());
		assert_eq!(options.client_id(), crate::config::default_mqtt_client_id([2, 4]));
	}

	#[test]
	fn a_lost_connection_leaves_nothing_for_the_next() {
		let config = MqttConfig::new("127.0.0.1", 1);
		// A channel of one request: once it holds the stale SUBSCRIBE it takes nothing else.
		let (client, mut eventloop) =
			AsyncClient::new(options(&config, "test", &MqttSecrets::default()), 1);
		let mut subscriptions = Subscriptions::new(topics(200));
		let now = Instant::now();
		// Connected: the first packet goes into the client's channel, the event loop sends the
		// next (pkid 1) and has buffered its `Outgoing` event and a SUBACK when the connection
		// drops.
		subscriptions.on_connected();
		let stale = subscriptions.next(now).unwrap();
		client
			.try_subscribe_many(
				stale.iter().map(|t| SubscribeFilter::new(t.clone(), QoS::AtLeastOnce)),
			)
			.unwrap();
		eventloop.state.events.push_back(Event::Outgoing(Outgoing::Subscribe(1)));
		eventloop.state.events.push_back(Event::Incoming(Packet::SubAck(rumqttc::SubAck::new(
			1,
			vec![SubscribeReasonCode::Success(QoS::AtLeastOnce)],
		))));
		let read = rumqttc::Publish::new("site/device-00003/state", QoS::AtLeastOnce, "{}");
		eventloop.state.events.push_back(Event::Incoming(Packet::Publish(read.clone())));

		let publishes = void_connection(&mut eventloop);
		subscriptions.on_disconnected();
		// What was read is still handled; nothing else of the old connection survives.
		assert_eq!(publishes, vec![read]);
		assert!(eventloop.state.events.is_empty());
		assert!(eventloop.pending.iter().all(|r| !matches!(r, Request::Subscribe(_))));
		assert!(client.try_subscribe("x", QoS::AtLeastOnce).is_ok(), "the channel was emptied");

		// So on the next connection the first `Outgoing::Subscribe` is its own first packet,
		// and its SUBACK acknowledges exactly those topics.
		subscriptions.on_connected();
		let first = subscriptions.next(now).unwrap();
		subscriptions.on_sent(7);
		let codes = vec![SubscribeReasonCode::Success(QoS::AtLeastOnce); first.len()];
		let outcome = subscriptions.on_suback(7, &codes, now);
		assert!(outcome.refused.is_empty());
		assert_eq!(subscriptions.acknowledged, first.len());
	}

	/// A broker that accepts one connection, answers its CONNECT and SUBSCRIBE, publishes
	/// `publish` (topic, payload) at QoS 0 and hangs up. Returns the CONNECT's flags and client
	/// id.
	async fn one_shot_broker(
		listener: tokio::net::TcpListener,
		publish: (&'static str, &'static str),
	) -> (u8, String) {
		use tokio::io::{AsyncReadExt, AsyncWriteExt};
		async fn packet(stream: &mut tokio::net::TcpStream) -> (u8, Vec<u8>) {
			let kind = stream.read_u8().await.unwrap();
			let (mut length, mut shift) = (0usize, 0);
			loop {
				let byte = stream.read_u8().await.unwrap();
				length |= usize::from(byte & 0x7F) << shift;
				shift += 7;
				if byte & 0x80 == 0 {
					break;
				}
			}
			let mut body = vec![0; length];
			stream.read_exact(&mut body).await.unwrap();
			(kind, body)
		}
		let (mut stream, _) = listener.accept().await.unwrap();
		let (kind, connect) = packet(&mut stream).await;
		assert_eq!(kind, 0x10, "CONNECT");
		// Protocol name (2 + 4), level, flags, keep-alive (2), client id (2 + n).
		let flags = connect[7];
		let id_len = usize::from(u16::from_be_bytes([connect[10], connect[11]]));
		let client_id = String::from_utf8(connect[12..12 + id_len].to_vec()).unwrap();
		stream.write_all(&[0x20, 2, 0, 0]).await.unwrap();
		let subscribe = loop {
			let (kind, body) = packet(&mut stream).await;
			if kind == 0x82 {
				break body;
			}
		};
		let mut suback = vec![0x90, 0, subscribe[0], subscribe[1]];
		// One granted QoS 1 per filter (each filter: 2 + topic + 1).
		let mut rest = &subscribe[2..];
		while rest.len() >= 3 {
			let len = usize::from(u16::from_be_bytes([rest[0], rest[1]]));
			rest = &rest[2 + len + 1..];
			suback.push(1);
		}
		suback[1] = (suback.len() - 2) as u8;
		stream.write_all(&suback).await.unwrap();
		let (topic, payload) = publish;
		let mut packet = vec![0x30, (2 + topic.len() + payload.len()) as u8];
		packet.extend((topic.len() as u16).to_be_bytes());
		packet.extend(topic.as_bytes());
		packet.extend(payload.as_bytes());
		stream.write_all(&packet).await.unwrap();
		stream.flush().await.unwrap();
		// Let the client read it, then hang up.
		tokio::time::sleep(Duration::from_millis(200)).await;
		(flags, client_id)
	}

	fn json_device(device_id: DeviceId, topic: &str) -> MqttDevice {
		MqttDevice {
			device_id,
			name: format!("device-{device_id}"),
			mapping: MqttMapping::OpenvppJson {
				topic: topic.into(),
				availability_topic: None,
				counters: Default::default(),
				max_gap_s: None,
			},
		}
	}

	#[test]
	fn oversized_payloads_and_retained_samples_are_dropped_and_counted() {
		let device = MqttDevice {
			device_id: 1,
			name: "ev".into(),
			mapping: MqttMapping::OpenvppJson {
				topic: "ev/state".into(),
				availability_topic: Some("ev/status".into()),
				counters: Default::default(),
				max_gap_s: None,
			},
		};
		let devices = Devices::new(vec![device, json_device(2, "other/state")]);
		let metrics = Metrics::new().unwrap();
		let mut warnings = WarnLimiter::new(WARN_EVERY);
		let mut input =
			InputGuard { metrics: &metrics, warnings: &mut warnings, max_payload_bytes: 64 };
		let publish = |topic: &str, payload: &str, retain: bool| {
			let mut publish = rumqttc::Publish::new(topic, QoS::AtLeastOnce, payload.to_string());
			publish.retain = retain;
			publish
		};
		let dropped = |reason: &str| metrics.mqtt_dropped.with_label_values(&["ev", reason]).get();

		// A fresh sample is taken.
		assert_eq!(
			devices
				.updates(&publish("ev/state", r#"{"power_w": -10}"#, false), 1, &mut input)
				.len(),
			1
		);
		// A retained one is not a measurement of now.
		assert!(devices
			.updates(&publish("ev/state", r#"{"power_w": -10}"#, true), 2, &mut input)
			.is_empty());
		assert_eq!(dropped("retained"), 1);
		// A retained availability (a last will) is a fact about now.
		let will = devices.updates(&publish("ev/status", "offline", true), 3, &mut input);
		assert!(matches!(
			will[..],
			[SourceEvent { update: Update::Availability { online: false, .. }, .. }]
		));
		// An oversized payload is dropped before it is parsed.
		let big = format!(r#"{{"power_w": -10, "pad": "{}"}}"#, "x".repeat(100));
		assert!(devices.updates(&publish("ev/state", &big, false), 4, &mut input).is_empty());
		assert_eq!(dropped("oversized"), 1);
		// Another device's messages are unaffected.
		assert_eq!(
			devices
				.updates(&publish("other/state", r#"{"power_w": 5}"#, false), 5, &mut input)
				.len(),
			1
		);
	}

	/// A one-shot broker on 127.0.0.1 that publishes a sample for device 1 (topic `site/a`),
	/// the configuration to reach it, and devices 1 (on `site/a`) and 2 (on `site/b`).
	async fn one_shot_setup() -> (tokio::task::JoinHandle<(u8, String)>, MqttConfig, Vec<MqttDevice>)
	{
		let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
		let port = listener.local_addr().unwrap().port();
		let broker = tokio::spawn(one_shot_broker(listener, ("site/a", r#"{"power_w": 100}"#)));
		let config = MqttConfig::new("127.0.0.1", port);
		(broker, config, vec![json_device(1, "site/a"), json_device(2, "site/b")])
	}

	#[tokio::test]
	async fn a_lost_connection_reports_every_device_offline_as_of_the_loss() {
		let (broker, config, devices) = one_shot_setup().await;
		let (events, mut received) = mpsc::channel(16);
		let (stop_tx, stop) = watch::channel(false);
		let source = tokio::spawn(run(
			config.clone(),
			MqttSecrets::default(),
			devices,
			events,
			Metrics::new().unwrap(),
			stop,
		));

		let (flags, client_id) = broker.await.unwrap();
		// A clean session, under the stable id.
		assert_eq!(flags & 0x02, 0x02, "clean session flag");
		assert_eq!(client_id, config.effective_client_id([1, 2]));
		async fn next(received: &mut mpsc::Receiver<SourceEvent>) -> SourceEvent {
			tokio::time::timeout(Duration::from_secs(10), received.recv()).await.unwrap().unwrap()
		}
		let sample = next(&mut received).await;
		let Update::Sample(sample) = sample.update else { panic!("{sample:?}") };
		assert_eq!(sample.power_w, Some(100));
		let mut offline = Vec::new();
		for _ in 0..2 {
			match next(&mut received).await {
				SourceEvent {
					device_id,
					update: Update::Availability { online: false, at_ms },
				} => offline.push((device_id, at_ms)),
				other => panic!("{other:?}"),
			}
		}
		offline.sort();
		assert_eq!(offline.iter().map(|(id, _)| *id).collect::<Vec<_>>(), vec![1, 2]);
		// Stamped at the loss: after the sample, both at the same instant.
		assert!(offline[0].1 >= sample.at_ms && offline[0].1 == offline[1].1);

		// The broker is gone: reconnecting fails, and that is not reported again.
		tokio::time::sleep(Duration::from_millis(1_500)).await;
		assert!(received.try_recv().is_err());
		stop_tx.send(true).unwrap();
		tokio::time::timeout(Duration::from_secs(5), source).await.unwrap().unwrap();
	}

	#[tokio::test]
	async fn a_full_channel_does_not_hold_up_the_shutdown() {
		let (broker, config, devices) = one_shot_setup().await;
		// A full channel that nobody reads (the bridge is shutting down): neither the sample
		// nor the "offline" events of the loss can be sent.
		let (events, received) = mpsc::channel(1);
		let filler =
			SourceEvent { device_id: 9, update: Update::Availability { online: true, at_ms: 0 } };
		events.try_send(filler).unwrap();
		let (stop_tx, stop) = watch::channel(false);
		let source = tokio::spawn(run(
			config,
			MqttSecrets::default(),
			devices,
			events,
			Metrics::new().unwrap(),
			stop,
		));
		broker.await.unwrap();
		tokio::time::sleep(Duration::from_millis(300)).await;
		stop_tx.send(true).unwrap();
		tokio::time::timeout(Duration::from_secs(5), source)
			.await
			.expect("the source stops although its events cannot be sent")
			.unwrap();
		drop(received);
	}
}
