//! The event's batteries as a dispatch finds them in service: during the event they discharge
//! at their commitment and report `GridResponseStatus::Responding`; before and after it they keep
//! the fleet's usual pattern (`bench_fleet::bench_report`), with their meter counters and state
//! of charge carrying what the event moved, so that every reading stays plausible.
//!
//! The live phase signs all its readings before the first release, so the dispatch is known
//! then: the event's window is planned from the first release ([`planned_start`]) and the driver
//! creates the event for exactly that window ([`crate::demand`]).

use openvpp_primitives::{GridResponseStatus, IntervalReport, UnixSeconds};
use openvpp_runtime::bench_fleet::{bench_kind, bench_profile, bench_soc_bp, FIRST_BENCH_DEVICE};

/// Seconds between the first release and the event's start, at least: the participants' first
/// readings are finalized, then their owners' consents, the event's announcement and the
/// commitments, each waiting for finality, before the opt-in deadline a minute before the start.
const START_AFTER_S: u64 = 300;

/// When the event of a live phase whose first release is at `first_release_s` starts: the
/// first whole number of the devices' intervals after it that leaves [`START_AFTER_S`], so that
/// the participants' intervals (which end at the first release) fall wholly inside or outside
/// the event, and the interval before the start is reported after their enrolment (their
/// meter-before baseline).
pub fn planned_start(first_release_s: UnixSeconds, interval_s: u32) -> UnixSeconds {
	let interval_s = u64::from(interval_s.max(60));
	first_release_s + START_AFTER_S.div_ceil(interval_s) * interval_s
}

/// A dispatch the participants follow.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Dispatch {
	pub start: UnixSeconds,
	pub end: UnixSeconds,
	/// Power each participant discharges at (W).
	pub committed_w: u32,
}

/// What a participant's meter moved beyond the fleet's usual pattern so far (Wh): the charges
/// it skipped and the discharge it added in the event.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Departure {
	pub imported_wh: i64,
	pub exported_wh: i64,
}

impl Dispatch {
	/// The reading of a participant whose usual reading is `usual` and whose earlier readings
	/// departed from the usual pattern by `before`; returns it with the departure after it.
	pub fn follow(&self, usual: &IntervalReport, before: Departure) -> (IntervalReport, Departure) {
		let mut report = usual.clone();
		let mut after = before;
		let (from, to) = (report.interval_start, report.interval_end());
		if from < self.end && to > self.start {
			let discharged_wh =
				u64::from(self.committed_w) * u64::from(report.interval_length_s) / 3_600;
			after.imported_wh -= report.energy_imported_wh as i64;
			after.exported_wh += discharged_wh as i64 - report.energy_exported_wh as i64;
			report.energy_imported_wh = 0;
			report.energy_exported_wh = discharged_wh;
			report.grid_response = GridResponseStatus::Responding;
		}
		let shifted = |counter: u64, by: i64| counter.saturating_add_signed(by);
		report.cumulative_imported_wh = shifted(usual.cumulative_imported_wh, after.imported_wh);
		report.cumulative_exported_wh = shifted(usual.cumulative_exported_wh, after.exported_wh);
		let net_wh = report.energy_exported_wh as i64 - report.energy_imported_wh as i64;
		let average_power_w = net_wh * 3_600 / i64::from(report.interval_length_s.max(1));
		report.average_power_w = i32::try_from(average_power_w).unwrap_or(i32::MAX);
		report.peak_power_w = report.average_power_w;
		// The charge held follows the meter, as in the usual readings; it may now go below
		// the starting level.
		let index = report.device_id.saturating_sub(FIRST_BENCH_DEVICE);
		let (capability, _) = bench_profile(bench_kind(index));
		if let (Some(_), Some(capacity_wh)) = (report.soc_bp, capability.storage_capacity_wh) {
			report.soc_bp = Some(bench_soc_bp(
				capacity_wh,
				report.cumulative_imported_wh,
				report.cumulative_exported_wh,
			));
		}
		(report, after)
	}
}

#[cfg(test)]
mod tests {
	use super::*;
	use openvpp_primitives::{check_plausibility, DeviceKind, PlausibilityTolerances};
	use openvpp_runtime::bench_fleet::bench_report;

	fn tolerances() -> PlausibilityTolerances {
		use frame_support::traits::Get;
		sp_io::TestExternalities::default().execute_with(
			openvpp_runtime::configs::parameters::dynamic_params::telemetry::Tolerances::get,
		)
	}

	#[test]
	fn the_start_is_whole_intervals_after_the_first_release() {
		assert_eq!(planned_start(6_000, 120), 6_360);
		assert_eq!(planned_start(6_000, 300), 6_300);
		assert_eq!(planned_start(6_000, 60), 6_300);
		assert_eq!(planned_start(6_000, 900), 6_900);
	}

	#[test]
	fn a_participant_discharges_in_the_event_and_every_reading_stays_plausible() {
		let tolerances = tolerances();
		// Fleet index 8 is a home battery.
		let index = 8;
		assert_eq!(bench_kind(index), DeviceKind::HomeBattery);
		let (capability, _) = bench_profile(DeviceKind::HomeBattery);
		let interval_s = 120;
		let dispatch = Dispatch { start: 600_000, end: 600_000 + 240, committed_w: 2_000 };
		let (mut reference, mut departure) = (None, Departure::default());
		let (mut responding, mut exported_in_event) = (0, 0);
		for sequence in 1..=40u64 {
			let start = 600_000 - 20 * 120 + (sequence - 1) * 120;
			let usual = bench_report(index, sequence, start, interval_s);
			let (report, after) = dispatch.follow(&usual, departure);
			let assessment = check_plausibility(
				&report,
				DeviceKind::HomeBattery,
				capability,
				reference.as_ref(),
				&tolerances,
			);
			assert!(assessment.flags.is_plausible(), "reading {sequence}: {:?}", assessment.flags);
			reference = assessment.reference;
			if report.grid_response == GridResponseStatus::Responding {
				responding += 1;
				exported_in_event += report.energy_exported_wh;
				assert_eq!(report.energy_imported_wh, 0);
				// 66 whole Wh in 120 s.
				assert_eq!(report.average_power_w, 1_980);
			} else {
				assert_eq!(report.energy_imported_wh, usual.energy_imported_wh);
				assert_eq!(report.energy_exported_wh, usual.energy_exported_wh);
			}
			departure = after;
		}
		// Two whole intervals of 2 000 W for 120 s.
		assert_eq!((responding, exported_in_event), (2, 2 * 66));
		// Afterwards the battery holds less than it would have.
		let last = bench_report(index, 40, 0, interval_s);
		let (after_event, _) = dispatch.follow(&last, departure);
		assert!(after_event.soc_bp < last.soc_bp);
	}

	#[test]
	fn outside_the_event_and_with_no_departure_a_reading_is_the_usual_one() {
		let dispatch = Dispatch { start: 10_000, end: 10_240, committed_w: 2_000 };
		let usual = bench_report(8, 5, 9_000, 120);
		assert_eq!(dispatch.follow(&usual, Departure::default()), (usual, Departure::default()));
	}
}
