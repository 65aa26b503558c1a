//! Where samples come from: MQTT topics and Modbus TCP / SunSpec devices.

pub mod modbus;
pub mod mqtt;

use std::{
	collections::HashMap,
	time::{Duration, Instant, SystemTime, UNIX_EPOCH},
};

use openvpp_primitives::DeviceId;
use tokio::sync::{mpsc, watch};

use crate::mapping::Update;

/// Something a source learned about a device.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceEvent {
	pub device_id: DeviceId,
	pub update: Update,
}

/// Sends `event` to the bridge unless `stop` turns true first (or already is): the bridge may
/// stop reading events while it shuts down, and a source waiting in a full channel would then
/// never see its stop signal. `false` if the event was not sent (stopping, or nobody listens).
pub async fn send(
	events: &mpsc::Sender<SourceEvent>,
	event: SourceEvent,
	stop: &mut watch::Receiver<bool>,
) -> bool {
	tokio::select! {
		biased;
		_ = stop.wait_for(|stop| *stop) => false,
		sent = events.send(event) => sent.is_ok(),
	}
}

/// Wall-clock time in Unix milliseconds.
pub fn now_ms() -> u64 {
	SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or_default()
}

/// Exponential back-off between reconnection attempts: 1 s, 2 s, 4 s … 30 s.
#[derive(Debug)]
pub struct Backoff {
	next: Duration,
}

impl Backoff {
	const FIRST: Duration = Duration::from_secs(1);
	const MAX: Duration = Duration::from_secs(30);

	pub fn new() -> Self {
		Backoff { next: Self::FIRST }
	}

	/// The delay before the next attempt; each call doubles the following one.
	pub fn next_delay(&mut self) -> Duration {
		let delay = self.next;
		self.next = (self.next * 2).min(Self::MAX);
		delay
	}

	/// After a success, start again from the shortest delay.
	pub fn reset(&mut self) {
		self.next = Self::FIRST;
	}

	/// The delay after a connection was lost that had been up for `held` (`None`: it never
	/// came up). Only a connection that held for [`STABLE_CONNECTION`] starts the back-off
	/// again from the shortest delay; a peer that accepts and then drops at once (a broker
	/// refusing a message, a device failing its first reads) is retried ever more slowly.
	pub fn after_connection(&mut self, held: Option<Duration>) -> Duration {
		if held.is_some_and(|held| held >= STABLE_CONNECTION) {
			self.reset();
		}
		self.next_delay()
	}
}

/// How long a connection must have held to count as stable (see [`Backoff::after_connection`]).
pub const STABLE_CONNECTION: Duration = Duration::from_secs(30);

/// Keeps a repeated warning from flooding the log: the first occurrence of each key is logged,
/// then at most one per period, which says how many were suppressed since.
#[derive(Debug)]
pub struct WarnLimiter {
	every: Duration,
	last: HashMap<String, (Instant, u64)>,
}

impl WarnLimiter {
	/// Keys are kept at most this many; beyond it the oldest entries are forgotten (their next
	/// warning is logged at once).
	const MAX_KEYS: usize = 4_096;

	pub fn new(every: Duration) -> Self {
		WarnLimiter { every, last: HashMap::new() }
	}

	/// Whether a warning for `key` should be logged now; if so, how many were suppressed since
	/// the last one logged.
	pub fn check(&mut self, key: &str, now: Instant) -> Option<u64> {
		match self.last.get_mut(key) {
			Some((at, suppressed)) if now.duration_since(*at) < self.every => {
				*suppressed += 1;
				None
			}
			Some((at, suppressed)) => {
				*at = now;
				Some(std::mem::take(suppressed))
			}
			None => {
				if self.last.len() >= Self::MAX_KEYS {
					let every = self.every;
					self.last.retain(|_, (at, _)| now.duration_since(*at) < every);
				}
				self.last.insert(key.to_string(), (now, 0));
				Some(0)
			}
		}
	}
}

/// Warnings of one kind per device at most this often.
pub const WARN_EVERY: Duration = Duration::from_secs(60);

impl Default for Backoff {
	fn default() -> Self {
		Self::new()
	}
}

#[cfg(test)]
mod tests {
	use super::*;

	#[tokio::test]
	async fn a_send_into_a_full_channel_gives_way_to_the_stop_signal() {
		let (events, mut receiver) = mpsc::channel(1);
		let (stop_tx, mut stop) = watch::channel(false);
		let event = |at_ms| SourceEvent {
			device_id: 1,
			update: Update::Availability { online: false, at_ms },
		};
		assert!(send(&events, event(1), &mut stop).await);
		// The channel is full and nobody reads it: the send waits until the stop signal.
		let blocked = tokio::spawn({
			let events = events.clone();
			let mut stop = stop.clone();
			async move { send(&events, event(2), &mut stop).await }
		});
		tokio::time::sleep(Duration::from_millis(50)).await;
		assert!(!blocked.is_finished());
		stop_tx.send(true).unwrap();
		let sent = tokio::time::timeout(Duration::from_secs(5), blocked).await.unwrap().unwrap();
		assert!(!sent);
		// Once stopping, nothing more is sent, even with room in the channel.
		assert_eq!(receiver.recv().await, Some(event(1)));
		assert!(!send(&events, event(3), &mut stop).await);
		assert!(receiver.try_recv().is_err());
	}

	#[test]
	fn only_a_stable_connection_restarts_the_backoff() {
		let mut backoff = Backoff::new();
		// Dropped right after connecting, again and again: the delay keeps growing.
		let quick = Some(Duration::from_secs(2));
		let delays: Vec<u64> = (0..4).map(|_| backoff.after_connection(quick).as_secs()).collect();
		assert_eq!(delays, vec![1, 2, 4, 8]);
		assert_eq!(backoff.after_connection(None).as_secs(), 16);
		// A connection that held starts again from the shortest delay.
		assert_eq!(backoff.after_connection(Some(STABLE_CONNECTION)).as_secs(), 1);
	}

	#[test]
	fn repeated_warnings_are_limited_per_key() {
		let mut limiter = WarnLimiter::new(Duration::from_secs(60));
		let t0 = Instant::now();
		assert_eq!(limiter.check("a", t0), Some(0));
		assert_eq!(limiter.check("a", t0 + Duration::from_secs(1)), None);
		assert_eq!(limiter.check("a", t0 + Duration::from_secs(2)), None);
		// Another key is not held back by the first.
		assert_eq!(limiter.check("b", t0 + Duration::from_secs(2)), Some(0));
		// After the period, one line says how many were left out.
		assert_eq!(limiter.check("a", t0 + Duration::from_secs(61)), Some(2));
		assert_eq!(limiter.check("a", t0 + Duration::from_secs(62)), None);
	}

	#[test]
	fn backoff_doubles_up_to_a_ceiling_and_resets() {
		let mut backoff = Backoff::new();
		let delays: Vec<u64> = (0..7).map(|_| backoff.next_delay().as_secs()).collect();
		assert_eq!(delays, vec![1, 2, 4, 8, 16, 30, 30]);
		backoff.reset();
		assert_eq!(backoff.next_delay().as_secs(), 1);
	}
}
