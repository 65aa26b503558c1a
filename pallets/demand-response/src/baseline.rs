//! Measurement and verification: what a device would have done without the event (its
//! baseline), and what it delivered against it. Integer arithmetic only.
//!
//! ## Meter-before / meter-after (storage: batteries, EVs; chargers and energy managers)
//!
//! The baseline is the device's average net import over its last [`BASELINE_INTERVALS`]
//! plausible intervals that end at or before the start, none ending more than
//! [`BASELINE_LOOKBACK_S`] before it:
//!
//! `baseline_w = Σ net_import_wh × 3 600 ÷ Σ length_s`
//!
//! For each interval of the event, with `overlap_s` the part of the interval inside the event:
//!
//! `baseline_wh = baseline_w × overlap_s ÷ 3 600`, `actual_wh = net_import_wh × overlap_s ÷ length_s`
//!
//! Storage delivers at most what its state of charge allowed at the start: above the owner's
//! reserve for `Up` events, the room to full for `Down` events.
//!
//! ## "10 of 10" with a same-day adjustment (sites: smart meters; solar)
//!
//! The chain keeps, for each enrolled site and hour of the day, the net import of that hour on
//! each of the last [`BASELINE_DAYS`] days. The baseline of an hour is the mean over those days,
//! leaving out days the device took part in an event and the event's own day. It is scaled by
//! the same-day adjustment: actual ÷ baseline over the [`ADJUSTMENT_HOURS`] hours ending one
//! hour before the event's start hour, clamped to 80–120 %. Without a positive baseline or
//! actual in those hours the adjustment is 100 %.
//!
//! "10 of 10" rather than "high 5 of 10": taking the highest days inflates the baseline of a
//! site whose load varies, and pays for reductions that never happened; the same-day
//! adjustment already corrects for a hot or cold day.
//!
//! ## Delivered
//!
//! `Up` (reduce load, discharge): `max(0, baseline_wh − actual_wh)`; `Down` (absorb):
//! `max(0, actual_wh − baseline_wh)`.

use frame_support::{pallet_prelude::ConstU32, BoundedVec};
use openvpp_primitives::{Direction, UnixSeconds, WattHours};

use crate::types::*;

/// Whether a kind is measured against its own recent intervals (meter-before) rather than its
/// history by hour of day ("10 of 10").
pub fn uses_meter_before(kind: openvpp_primitives::DeviceKind) -> bool {
	use openvpp_primitives::DeviceKind::*;
	match kind {
		ElectricVehicle | EvCharger | HomeBattery | CommercialBattery | EnergyManagementSystem => {
			true
		}
		SmartMeter | RooftopSolar => false,
	}
}

/// `value × numerator ÷ denominator`, rounded toward zero; zero for a zero denominator.
pub fn scale(value: i64, numerator: u64, denominator: u64) -> i64 {
	if denominator == 0 {
		return 0;
	}
	let scaled = i128::from(value) * i128::from(numerator) / i128::from(denominator);
	i64::try_from(scaled).unwrap_or(if scaled < 0 { i64::MIN } else { i64::MAX })
}

/// The meter-before baseline (W) at `start`, if the device has an interval to take it from.
pub fn meter_before(recent: &[RecentInterval], start: UnixSeconds) -> Option<i64> {
	let usable = recent.iter().rev().filter(|interval| {
		let end = interval.interval_end();
		end <= start && start - end <= BASELINE_LOOKBACK_S
	});
	let (energy_wh, seconds) = usable.take(BASELINE_INTERVALS as usize).fold(
		(0i64, 0u64),
		|(energy, seconds), interval| {
			(
				energy.saturating_add(interval.net_import_wh),
				seconds.saturating_add(interval.interval_length_s.into()),
			)
		},
	);
	(seconds > 0).then(|| scale(energy_wh, SECONDS_PER_HOUR, seconds))
}

/// The state of charge the device reported last before `start`.
pub fn soc_before(recent: &[RecentInterval], start: UnixSeconds) -> Option<u16> {
	recent.iter().rev().find(|interval| interval.interval_end() <= start)?.soc_bp
}

/// The "10 of 10" mean of one hour (Wh) over the days before `event_day`, leaving out
/// `event_days`; `None` with fewer than `min_days` days.
pub fn ten_of_ten(
	history: &[HourEnergy],
	event_day: u32,
	event_days: &[u32],
	min_days: u32,
) -> Option<i64> {
	let days = history
		.iter()
		.rev()
		.filter(|hour| hour.day < event_day && !event_days.contains(&hour.day))
		.take(BASELINE_DAYS as usize);
	let (sum, count) = days.fold((0i64, 0i64), |(sum, count), hour| {
		(sum.saturating_add(hour.net_import_wh), count + 1)
	});
	(count > 0 && count >= i64::from(min_days)).then(|| sum / count)
}

/// The same-day adjustment (bp) from actual and baseline energy over the adjustment hours.
pub fn same_day_adjustment(actual_wh: i64, baseline_wh: i64) -> u32 {
	if actual_wh <= 0 || baseline_wh <= 0 {
		return 10_000;
	}
	let ratio = scale(actual_wh, 10_000, baseline_wh.unsigned_abs());
	u32::try_from(ratio.clamp(ADJUSTMENT_MIN_BP.into(), ADJUSTMENT_MAX_BP.into())).unwrap_or(10_000)
}

/// Energy delivered in one interval against its baseline (Wh).
pub fn delivered(direction: Direction, baseline_wh: i64, actual_wh: i64) -> WattHours {
	let moved = match direction {
		Direction::Up => baseline_wh.saturating_sub(actual_wh),
		Direction::Down => actual_wh.saturating_sub(baseline_wh),
	};
	u64::try_from(moved.max(0)).unwrap_or(0)
}

/// Seconds of `[from, to)` inside `[start, end)`.
pub fn overlap_s(from: UnixSeconds, to: UnixSeconds, start: UnixSeconds, end: UnixSeconds) -> u64 {
	to.min(end).saturating_sub(from.max(start))
}

/// Day (since the Unix epoch) and hour of the day of an instant, UTC.
pub fn day_and_hour(at: UnixSeconds) -> (u32, u8) {
	let day = u32::try_from(at / SECONDS_PER_DAY).unwrap_or(u32::MAX);
	let hour = ((at % SECONDS_PER_DAY) / SECONDS_PER_HOUR) as u8;
	(day, hour)
}

/// The hours whose actual and baseline set the same-day adjustment of an event starting at
/// `start`: the [`ADJUSTMENT_HOURS`] hours ending one hour before its start hour, on its day
/// (fewer when the event starts early in the day).
pub fn adjustment_hours(start: UnixSeconds) -> impl Iterator<Item = u8> {
	let (_, start_hour) = day_and_hour(start);
	let last = start_hour.checked_sub(2);
	let first = start_hour.checked_sub(1 + ADJUSTMENT_HOURS);
	match (first, last) {
		(Some(first), Some(last)) => first..last.saturating_add(1),
		(None, Some(last)) => 0..last.saturating_add(1),
		_ => 0..0,
	}
}

/// Adds an interval's net import to the hour it starts in, keeping [`BASELINE_DAYS`] days
/// before the current one.
pub fn add_to_hour(history: &mut HourHistory, day: u32, net_import_wh: i64) {
	if let Some(last) = history.last_mut() {
		if last.day == day {
			last.net_import_wh = last.net_import_wh.saturating_add(net_import_wh);
			return;
		}
		if last.day > day {
			// Intervals only move forward; an older day has already been counted.
			return;
		}
	}
	if history.is_full() {
		history.remove(0);
	}
	// Cannot fail: a slot was just made.
	let _ = history.try_push(HourEnergy { day, net_import_wh });
}

/// Appends a storage device's interval, dropping the oldest beyond [`BASELINE_INTERVALS`].
pub fn add_recent(
	recent: &mut BoundedVec<RecentInterval, ConstU32<BASELINE_INTERVALS>>,
	interval: RecentInterval,
) {
	if recent.is_full() {
		recent.remove(0);
	}
	let _ = recent.try_push(interval);
}

#[cfg(test)]
mod tests;
