//! Where samples come from: MQTT topics and Modbus TCP / SunSpec devices.

pub mod modbus;
pub mod mqtt;

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use openvpp_primitives::DeviceId;

use crate::mapping::Update;

/// Something a source learned about a device.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SourceEvent {
	pub device_id: DeviceId,
	pub update: Update,
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
}

impl Default for Backoff {
	fn default() -> Self {
		Self::new()
	}
}

#[cfg(test)]
mod tests {
	use super::*;

	#[test]
	fn backoff_doubles_up_to_a_ceiling_and_resets() {
		let mut backoff = Backoff::new();
		let delays: Vec<u64> = (0..7).map(|_| backoff.next_delay().as_secs()).collect();
		assert_eq!(delays, vec![1, 2, 4, 8, 16, 30, 30]);
		backoff.reset();
		assert_eq!(backoff.next_delay().as_secs(), 1);
	}
}
