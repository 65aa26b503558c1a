//! What each device was doing for the grid, over time: the dispatcher writes it, and the
//! bridge reads it when it closes an interval, to fill the report's `grid_response`.
//!
//! An interval reports the most telling status in force at any time during it: an owner's
//! override over a response, a response over a dispatch, a dispatch over idle. The chain pays
//! intervals reported as dispatched or responding, records overridden ones, and pays nothing
//! for idle ones of a device in an event.

use std::{
	collections::BTreeMap,
	sync::{Arc, Mutex},
};

use openvpp_primitives::{DeviceId, GridResponseStatus};

/// How long a status change is kept (ms): longer than any interval the chain accepts.
const KEEP_MS: u64 = 2 * 3_600 * 1_000;

/// Each device's status changes: since when (Unix ms), what.
type Changes = BTreeMap<DeviceId, Vec<(u64, GridResponseStatus)>>;

/// Each device's status changes, shared between the dispatcher and the bridge.
#[derive(Debug, Clone, Default)]
pub struct ResponseLog {
	changes: Arc<Mutex<Changes>>,
}

fn rank(status: GridResponseStatus) -> u8 {
	match status {
		GridResponseStatus::Idle => 0,
		GridResponseStatus::Dispatched => 1,
		GridResponseStatus::Responding => 2,
		GridResponseStatus::Overridden => 3,
	}
}

impl ResponseLog {
	/// The device's status from `at_ms` on.
	pub fn set(&self, device: DeviceId, at_ms: u64, status: GridResponseStatus) {
		let Ok(mut changes) = self.changes.lock() else { return };
		let list = changes.entry(device).or_default();
		if list.last().map(|(_, last)| *last) == Some(status) {
			return;
		}
		list.push((at_ms, status));
		// Forget what no interval still open can reach, but keep the status in force then.
		let cutoff = at_ms.saturating_sub(KEEP_MS);
		let stale = list.iter().take_while(|(since, _)| *since < cutoff).count();
		if stale > 1 {
			list.drain(..stale - 1);
		}
	}

	/// The status to report for the device's interval `[start_ms, end_ms)`.
	pub fn during(&self, device: DeviceId, start_ms: u64, end_ms: u64) -> GridResponseStatus {
		let Ok(changes) = self.changes.lock() else { return GridResponseStatus::Idle };
		let Some(list) = changes.get(&device) else { return GridResponseStatus::Idle };
		let in_force_at_start =
			list.iter().rev().find(|(since, _)| *since <= start_ms).map(|(_, status)| *status);
		let within = list
			.iter()
			.filter(|(since, _)| start_ms < *since && *since < end_ms)
			.map(|(_, status)| *status);
		in_force_at_start
			.into_iter()
			.chain(within)
			.max_by_key(|status| rank(*status))
			.unwrap_or(GridResponseStatus::Idle)
	}

	/// The device's status now.
	pub fn current(&self, device: DeviceId) -> GridResponseStatus {
		self.changes
			.lock()
			.ok()
			.and_then(|changes| changes.get(&device).and_then(|l| l.last().map(|(_, s)| *s)))
			.unwrap_or(GridResponseStatus::Idle)
	}
}

#[cfg(test)]
mod tests {
	use super::*;
	use GridResponseStatus::*;

	#[test]
	fn an_interval_reports_the_most_telling_status_in_force_during_it() {
		let log = ResponseLog::default();
		assert_eq!(log.during(1, 0, 60_000), Idle);
		log.set(1, 60_000, Dispatched);
		log.set(1, 61_000, Responding);
		// Before the dispatch: idle; the interval of the dispatch: responding.
		assert_eq!(log.during(1, 0, 60_000), Idle);
		assert_eq!(log.during(1, 60_000, 120_000), Responding);
		assert_eq!(log.during(1, 120_000, 180_000), Responding);
		// An override anywhere in an interval is what it reports.
		log.set(1, 150_000, Overridden);
		assert_eq!(log.during(1, 120_000, 180_000), Overridden);
		log.set(1, 200_000, Idle);
		assert_eq!(log.during(1, 180_000, 240_000), Overridden);
		assert_eq!(log.during(1, 240_000, 300_000), Idle);
		assert_eq!(log.current(1), Idle);
		// Other devices are untouched.
		assert_eq!(log.during(2, 120_000, 180_000), Idle);
	}

	#[test]
	fn old_changes_are_forgotten_but_the_status_in_force_stays() {
		let log = ResponseLog::default();
		log.set(1, 0, Dispatched);
		log.set(1, 1_000, Responding);
		let later = KEEP_MS + 10_000;
		log.set(1, later, Idle);
		assert_eq!(log.changes.lock().unwrap()[&1].len(), 2);
		assert_eq!(log.during(1, later - 5_000, later - 1_000), Responding);
	}
}
