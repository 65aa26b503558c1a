//! From samples to interval reports.
//!
//! A source (MQTT, Modbus) turns each reading of a device into a [`Sample`]. The device's
//! [`Aggregator`] accumulates the samples of the current interval — intervals start at
//! multiples of the interval length in Unix time, so every gateway cuts the same intervals —
//! and, when the interval ends, produces the [`IntervalReport`] the chain expects:
//!
//! - **energy** from the device's cumulative counters when it has them, else (or when a counter
//!   went backwards) from integrating power over time, flagged `ESTIMATED` (and `COUNTER_RESET`
//!   if a counter went backwards) — see *Counter energy* below;
//! - **cumulative counters** from the device, or kept by the bridge from the estimated energy;
//! - **average power** = net energy ÷ interval length; **peak** = the sample of largest
//!   magnitude;
//! - **state of charge** and **device state** from the latest sample;
//! - **online seconds**: time covered by samples no further apart than the source's maximum gap,
//!   and not declared offline; `GAP` is flagged when samples did not cover the whole interval.
//!
//! An interval without any sample still yields a report (0 s online, `GAP`), so the chain sees
//! that the device was unreachable rather than nothing at all. A sample (or availability change)
//! stamped at or after the current interval's end is held back and applied to the next interval
//! once the current one is closed, so the grace period before closing never moves energy across
//! the boundary.
//!
//! # Counter energy
//!
//! Let *R* be the cumulative counters the bridge last reported for the device (per direction,
//! [`DeviceProgress`]) and *C* the device's own counters at a reading.
//!
//! - **Continuous presence.** The device's latest reading is carried into the next interval as
//!   long as the device stays present (no silence longer than the source's maximum gap, no
//!   offline declaration). An interval then reports `C_end − max(C_carried, R)`: the energy from
//!   the carried reading to the interval's last reading, minus whatever was already reported as
//!   estimated since (below). Its cumulative counters are `max(C_end, R)`.
//! - **No reading, device present.** An interval in which the device sent power but no counters
//!   reports integrated power, flagged `ESTIMATED`, and its cumulative counters become
//!   `R + estimate`. The next interval with a reading subtracts that estimate (the `max` above,
//!   saturating), so the reported energy telescopes to the counters' growth and nothing is
//!   counted twice. If an estimate overshot, the cumulative counters are held at `R` until the
//!   device's counters pass it, so they never go backwards on chain.
//! - **Continuity broken** (a silence longer than the maximum gap, an offline declaration, a
//!   bridge restart): the next interval with readings starts from its first reading and is
//!   flagged `GAP`. The energy of the outage is not attributed to any interval; it stays visible
//!   in the cumulative counters, which the chain allows to grow by more than the reported energy.
//! - **First counters**: when this run reported zero counters for a device it had never read
//!   (no reading in its first interval), the device's first counters are treated as a reset
//!   (below): the chain re-bases on them instead of taking the jump from zero for energy.
//! - **Counter reset**: a reading below the device's previous one (kept across restarts in
//!   [`DeviceProgress::last_reading`]) flags `COUNTER_RESET`; that interval's energy is
//!   integrated (`ESTIMATED`) and its cumulative counters are the device's new ones. Continuity
//!   is not carried through a reset: the next interval starts from its own first reading
//!   (`GAP`), so a reading that dropped (a meter answering 0 while asleep) is never the base of
//!   the next interval's energy.
//! - **Glitch**: the counters the device had just before it went backwards are remembered
//!   ([`DeviceProgress::before_reset`]). A later reading that climbs back to them or above ends
//!   a glitch rather than counting new energy: only the growth beyond them is reported. (After a
//!   real reset, the interval in which the new counter passes the old value loses that
//!   crossing's share; the cumulative counters still show it.)
//!
//! So over any run of reports, reported energy ≤ growth of the reported cumulative counters, with
//! equality while presence is continuous; and no interval reports more counter energy than the
//! device's counters really grew over it.

use std::collections::VecDeque;

use openvpp_primitives::{
	DeviceId, DeviceState, GridResponseStatus, IntervalReport, QualityFlags, UnixSeconds,
};

/// One reading of a device. Power follows the chain's convention: positive = delivered to the
/// grid, negative = drawn from it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Sample {
	/// When it was read (Unix milliseconds).
	pub at_ms: u64,
	pub power_w: Option<i32>,
	/// Lifetime energy drawn (Wh).
	pub imported_wh: Option<u64>,
	/// Lifetime energy delivered (Wh).
	pub exported_wh: Option<u64>,
	pub soc_bp: Option<u16>,
	pub state: Option<DeviceState>,
}

/// What the bridge remembers of a device between reports (persisted in the outbox with each
/// report, so it survives restarts).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, codec::Encode, codec::Decode)]
pub struct DeviceProgress {
	pub last_sequence: u64,
	/// End of the last reported interval (Unix s).
	pub last_interval_end: UnixSeconds,
	/// Cumulative counters of the last report.
	pub cumulative_imported_wh: u64,
	pub cumulative_exported_wh: u64,
	/// The device's own counters (imported, exported) at its latest reading, if it has any:
	/// tells a counter reset from an overshooting estimate after a restart.
	pub last_reading: Option<(u64, u64)>,
	/// The device's counters just before they last went backwards, until a reading reaches them
	/// again: a climb back to them is a glitch ending, not energy.
	pub before_reset: Option<(u64, u64)>,
}

impl DeviceProgress {
	/// Decodes a stored progress record, including those written by earlier bridges (before
	/// `last_reading`, before `before_reset`).
	pub fn decode_stored(bytes: &[u8]) -> Result<DeviceProgress, codec::Error> {
		use codec::Decode;
		let error = match DeviceProgress::decode(&mut &bytes[..]) {
			Ok(progress) => return Ok(progress),
			Err(error) => error,
		};
		// The same fields, without the later ones.
		type WithLastReading = (u64, u64, u64, u64, Option<(u64, u64)>);
		let (last_sequence, last_interval_end, imported, exported, last_reading) =
			match WithLastReading::decode(&mut &bytes[..]) {
				Ok(fields) => fields,
				Err(_) => {
					let (sequence, end, imported, exported) =
						<(u64, u64, u64, u64)>::decode(&mut &bytes[..]).map_err(|_| error)?;
					(sequence, end, imported, exported, None)
				}
			};
		Ok(DeviceProgress {
			last_sequence,
			last_interval_end,
			cumulative_imported_wh: imported,
			cumulative_exported_wh: exported,
			last_reading,
			before_reset: None,
		})
	}
}

/// Milliseconds × watts per watt-hour.
const MS_W_PER_WH: u128 = 3_600_000;

/// Updates held for the next interval at most (they only arrive during the closing grace).
const MAX_HELD: usize = 4_096;

/// An update stamped at or after the current interval's end.
#[derive(Clone, Copy, Debug)]
enum Held {
	Sample(Sample),
	Availability { online: bool, at_ms: u64 },
}

impl Held {
	fn at_ms(&self) -> u64 {
		match self {
			Held::Sample(sample) => sample.at_ms,
			Held::Availability { at_ms, .. } => *at_ms,
		}
	}
}

/// Accumulates one device's samples into interval reports.
#[derive(Debug)]
pub struct Aggregator {
	device_id: DeviceId,
	interval_s: u32,
	/// Samples further apart than this do not count as continuous presence.
	max_gap_ms: u64,
	/// Start of the interval being accumulated (Unix s).
	start_s: UnixSeconds,
	/// The latest sample (its missing fields filled from earlier ones), stamped with when it was
	/// really taken.
	last: Option<Sample>,
	/// Whether the device is known to be absent: the source declared it offline (last will,
	/// availability topic, lost connection), or the bridge skipped intervals and knows nothing of
	/// it since. No presence is credited until its next sample.
	absent: bool,
	/// The device's latest counter reading, whichever interval it was taken in.
	reading: Option<(u64, u64)>,
	/// Whether the device has been present without a break since `reading` was taken.
	continuous: bool,
	/// `reading` as it was when this interval started.
	prior: Option<(u64, u64)>,
	/// The first reading of this interval, and whether presence was unbroken from `prior` to it.
	first: Option<((u64, u64), bool)>,
	/// A counter went backwards between two readings of this interval.
	counter_reset: bool,
	/// The counters just before the latest decrease, until a reading reaches them again
	/// ([`DeviceProgress::before_reset`]).
	before_reset: Option<(u64, u64)>,
	/// This run reported zero counters for a device whose counters it had never read.
	zero_counters_reported: bool,
	/// Integrated power, in W·ms, split by direction.
	imported_w_ms: u128,
	exported_w_ms: u128,
	/// Whether any power was integrated (otherwise counters are the only energy source).
	integrated: bool,
	online_ms: u64,
	peak_w: i32,
	samples: u32,
	/// Updates for the next interval, in time order.
	held: VecDeque<Held>,
}

impl Aggregator {
	/// An aggregator for the interval containing `now_ms`.
	pub fn new(device_id: DeviceId, interval_s: u32, max_gap_ms: u64, now_ms: u64) -> Self {
		let interval_s = interval_s.max(1);
		let start_s = aligned_start(now_ms, interval_s);
		Aggregator {
			device_id,
			interval_s,
			max_gap_ms,
			start_s,
			last: None,
			absent: false,
			reading: None,
			continuous: false,
			prior: None,
			first: None,
			counter_reset: false,
			before_reset: None,
			zero_counters_reported: false,
			imported_w_ms: 0,
			exported_w_ms: 0,
			integrated: false,
			online_ms: 0,
			peak_w: 0,
			samples: 0,
			held: VecDeque::new(),
		}
	}

	pub fn device_id(&self) -> DeviceId {
		self.device_id
	}

	/// Start of the interval being accumulated (Unix s).
	pub fn interval_start(&self) -> UnixSeconds {
		self.start_s
	}

	/// End of the interval being accumulated (Unix s).
	pub fn interval_end(&self) -> UnixSeconds {
		self.start_s + u64::from(self.interval_s)
	}

	/// Accounts for the time from the previous sample to `until_ms` (within this interval) at
	/// the previous sample's power, if the device was present all along; otherwise notes the
	/// break in presence.
	fn advance(&mut self, until_ms: u64) {
		let Some(last) = self.last else { return };
		if until_ms <= last.at_ms {
			return;
		}
		if self.absent || until_ms - last.at_ms > self.max_gap_ms {
			self.continuous = false;
			return;
		}
		// The part before this interval was counted when the previous one closed.
		let elapsed = until_ms.saturating_sub(last.at_ms.max(self.start_s * 1_000));
		self.online_ms += elapsed;
		if let Some(power) = last.power_w {
			let w_ms = u128::from(power.unsigned_abs()) * u128::from(elapsed);
			if power >= 0 {
				self.exported_w_ms += w_ms;
			} else {
				self.imported_w_ms += w_ms;
			}
			self.integrated = true;
		}
	}

	/// Takes a sample. Samples older than the current interval or than the previous sample are
	/// ignored (returns `false`); samples at or after the interval's end are kept for the next.
	pub fn on_sample(&mut self, sample: Sample) -> bool {
		if sample.at_ms >= self.interval_end() * 1_000 {
			return self.hold(Held::Sample(sample));
		}
		if sample.at_ms < self.start_s * 1_000
			|| !self.held.is_empty()
			|| self.last.is_some_and(|l| sample.at_ms < l.at_ms)
		{
			return false;
		}
		self.apply(sample);
		true
	}

	fn hold(&mut self, update: Held) -> bool {
		let in_order = self.held.back().is_none_or(|h| update.at_ms() >= h.at_ms())
			&& self.last.is_none_or(|l| update.at_ms() >= l.at_ms);
		if !in_order || self.held.len() >= MAX_HELD {
			return false;
		}
		self.held.push_back(update);
		true
	}

	fn apply(&mut self, sample: Sample) {
		self.advance(sample.at_ms);
		self.absent = false;
		self.samples += 1;
		if let Some(power) = sample.power_w {
			if power.unsigned_abs() > self.peak_w.unsigned_abs() {
				self.peak_w = power;
			}
		}
		// Carry what the sample did not say from the previous one: sources that publish one
		// quantity per message (MQTT single-value topics) build up a full picture this way.
		let carried = self.last.unwrap_or_default();
		let merged = Sample {
			at_ms: sample.at_ms,
			power_w: sample.power_w.or(carried.power_w),
			imported_wh: sample.imported_wh.or(carried.imported_wh),
			exported_wh: sample.exported_wh.or(carried.exported_wh),
			soc_bp: sample.soc_bp.or(carried.soc_bp),
			state: sample.state.or(carried.state),
		};
		// Only a sample that carries a counter is a new reading; counters merged in from an
		// earlier sample say nothing about this instant.
		let fresh = sample.imported_wh.is_some() || sample.exported_wh.is_some();
		if let (true, Some(imported), Some(exported)) =
			(fresh, merged.imported_wh, merged.exported_wh)
		{
			let counters = (imported, exported);
			if let Some(previous) = self.reading.filter(|r| went_back(*r, counters)) {
				raise(&mut self.before_reset, previous);
				// A drop at the interval's first reading is judged in `close` (it also knows
				// the reading from before a restart).
				if self.first.is_some() {
					self.counter_reset = true;
				}
			}
			if self.first.is_none() {
				self.first = Some((counters, self.continuous && self.prior.is_some()));
			}
			self.reading = Some(counters);
			self.continuous = true;
		}
		self.last = Some(merged);
	}

	/// The source says the device went offline (or came back) at `at_ms`.
	pub fn on_availability(&mut self, online: bool, at_ms: u64) {
		if at_ms >= self.interval_end() * 1_000 {
			self.hold(Held::Availability { online, at_ms });
			return;
		}
		self.apply_availability(online, at_ms);
	}

	fn apply_availability(&mut self, online: bool, at_ms: u64) {
		// "Online" alone credits nothing: presence (and integration of power) resumes with the
		// next real sample, which clears `absent`. Moving the last sample's time forward here
		// would credit the time up to that sample at the power from before the outage.
		if !online {
			self.advance(at_ms);
			self.absent = true;
			self.continuous = false;
		}
	}

	/// Closes the current interval, returning its report with the next sequence number after
	/// `progress`, and starts the next interval. Updates `progress` to include the report.
	pub fn close(&mut self, progress: &mut DeviceProgress) -> IntervalReport {
		let end_s = self.interval_end();
		self.advance(end_s * 1_000);

		let mut quality = 0u8;
		let reported = (progress.cumulative_imported_wh, progress.cumulative_exported_wh);
		// The device's reading before this interval, from this run or (after a restart) the
		// outbox; without one, what was reported.
		let before = self.prior.or(progress.last_reading).unwrap_or(reported);
		if let Some(floor) = progress.before_reset {
			raise(&mut self.before_reset, floor);
		}
		let first_went_back = self.first.is_some_and(|(first, _)| went_back(before, first));
		if let (true, Some(reading)) = (first_went_back, self.prior.or(progress.last_reading)) {
			raise(&mut self.before_reset, reading);
		}
		// The device's first counters, after this run reported zero for them (its first interval
		// had no reading, e.g. the bridge started in that interval's last second). They re-base
		// the counters on chain, declared as a reset, rather than jumping from zero faster than
		// any device could, which the chain would flag until the next reset.
		let never_read = self.prior.is_none() && progress.last_reading.is_none();
		let first_counters = self.zero_counters_reported
			&& never_read
			&& self.first.is_some_and(|(first, _)| first != reported);
		let reset = self.counter_reset || first_went_back || first_counters;
		let integrated = (
			u64::try_from(self.imported_w_ms / MS_W_PER_WH).unwrap_or(u64::MAX),
			u64::try_from(self.exported_w_ms / MS_W_PER_WH).unwrap_or(u64::MAX),
		);
		let (imported, exported, cumulative) = match (self.first, self.reading) {
			(Some((first, carried)), Some(end)) if !reset => {
				let start = match (carried, self.prior) {
					(true, Some(prior)) => prior,
					// Nothing joins this interval to the last reading: energy from its first.
					_ => {
						quality |= QualityFlags::GAP;
						first
					}
				};
				// What was already reported since `start` (estimates) is not reported again, and
				// a climb back to the counters from before a drop is the drop's glitch ending.
				let floor = self.before_reset.unwrap_or_default();
				let base = |start: u64, reported: u64, floor: u64, end: u64| {
					start.max(reported).max(if end >= floor { floor } else { 0 })
				};
				let imported = end.0.saturating_sub(base(start.0, reported.0, floor.0, end.0));
				let exported = end.1.saturating_sub(base(start.1, reported.1, floor.1, end.1));
				(imported, exported, (end.0.max(reported.0), end.1.max(reported.1)))
			}
			(Some(_), Some(end)) => {
				quality |= QualityFlags::COUNTER_RESET | QualityFlags::ESTIMATED;
				(integrated.0, integrated.1, end)
			}
			_ => {
				if self.integrated || self.samples > 0 {
					quality |= QualityFlags::ESTIMATED;
				}
				let cumulative = (
					reported.0.saturating_add(integrated.0),
					reported.1.saturating_add(integrated.1),
				);
				if never_read && cumulative == (0, 0) {
					self.zero_counters_reported = true;
				}
				(integrated.0, integrated.1, cumulative)
			}
		};
		let interval_ms = u64::from(self.interval_s) * 1_000;
		if self.online_ms < interval_ms {
			quality |= QualityFlags::GAP;
		}

		let net_wh = i128::from(exported) - i128::from(imported);
		let average_power_w = i32::try_from(net_wh * 3_600 / i128::from(self.interval_s))
			.unwrap_or(if net_wh > 0 { i32::MAX } else { i32::MIN });
		let last = self.last.unwrap_or_default();
		let report = IntervalReport {
			device_id: self.device_id,
			sequence: progress.last_sequence + 1,
			interval_start: self.start_s,
			interval_length_s: self.interval_s,
			energy_imported_wh: imported,
			energy_exported_wh: exported,
			cumulative_imported_wh: cumulative.0,
			cumulative_exported_wh: cumulative.1,
			average_power_w,
			peak_power_w: self.peak_w,
			soc_bp: last.soc_bp.filter(|_| self.samples > 0),
			device_state: last.state.unwrap_or_default(),
			grid_response: GridResponseStatus::Idle,
			online_s: u32::try_from(self.online_ms / 1_000)
				.unwrap_or(self.interval_s)
				.min(self.interval_s),
			quality: QualityFlags(quality),
		};

		// Once the counters are back at (or past) where they were before the drop, the glitch
		// (or the reset) is behind.
		if let (Some(floor), Some(end)) = (self.before_reset, self.reading) {
			if !went_back(floor, end) {
				self.before_reset = None;
			}
		}
		// Never carry continuity through a drop: the next interval starts from its own first
		// reading, not from a reading that may be a glitch.
		if reset {
			self.continuous = false;
		}

		*progress = DeviceProgress {
			last_sequence: report.sequence,
			last_interval_end: end_s,
			cumulative_imported_wh: cumulative.0,
			cumulative_exported_wh: cumulative.1,
			last_reading: self.reading.or(progress.last_reading),
			before_reset: self.before_reset,
		};

		// The next interval starts with this one's last state.
		self.start_interval(end_s);
		report
	}

	/// Starts accumulating the interval from `start_s`, carrying the device's last state.
	fn start_interval(&mut self, start_s: UnixSeconds) {
		self.start_s = start_s;
		self.prior = self.reading;
		self.first = None;
		self.counter_reset = false;
		self.imported_w_ms = 0;
		self.exported_w_ms = 0;
		self.integrated = false;
		self.online_ms = 0;
		self.peak_w = 0;
		self.samples = 0;
		self.replay_held();
	}

	/// Moves straight to the interval containing `now_ms`, leaving out the intervals between the
	/// current one and it — after the bridge stalled or the clock jumped forward, closing each of
	/// them could mean millions of reports. The caller reports them with
	/// [`Aggregator::backfill`]. Nothing is known of the device meanwhile: continuity is broken,
	/// and presence resumes with its next sample.
	pub fn skip_to(&mut self, now_ms: u64) {
		let start_s = aligned_start(now_ms, self.interval_s);
		if start_s <= self.start_s {
			return;
		}
		self.held.retain(|h| h.at_ms() >= start_s * 1_000);
		self.absent = true;
		self.continuous = false;
		self.start_interval(start_s);
	}

	/// Applies the held updates that belong to the interval now current.
	fn replay_held(&mut self) {
		let end_ms = self.interval_end() * 1_000;
		while self.held.front().is_some_and(|h| h.at_ms() < end_ms) {
			match self.held.pop_front() {
				Some(Held::Sample(sample)) => self.apply(sample),
				Some(Held::Availability { online, at_ms }) => {
					self.apply_availability(online, at_ms)
				}
				None => break,
			}
		}
	}

	/// Reports for intervals the bridge missed entirely (it was not running): from the end of
	/// the last reported interval up to the current interval, each 0 s online and flagged
	/// `GAP`. Only the most recent `limit` missed intervals are reported, and at most `chunk`
	/// per call: call again until it returns nothing.
	pub fn backfill(
		&self,
		progress: &mut DeviceProgress,
		limit: usize,
		chunk: usize,
	) -> Vec<IntervalReport> {
		let step = u64::from(self.interval_s);
		if progress.last_interval_end == 0 || progress.last_interval_end >= self.start_s {
			return Vec::new();
		}
		// Only whole intervals on the grid; a misaligned last end is rounded up.
		let first = progress.last_interval_end.div_ceil(step) * step;
		let missed = self.start_s.saturating_sub(first) / step;
		let skip = missed.saturating_sub(limit as u64);
		let until = missed.min(skip.saturating_add(chunk as u64));
		(skip..until)
			.map(|k| {
				let start = first + k * step;
				let report = IntervalReport {
					device_id: self.device_id,
					sequence: progress.last_sequence + 1,
					interval_start: start,
					interval_length_s: self.interval_s,
					energy_imported_wh: 0,
					energy_exported_wh: 0,
					cumulative_imported_wh: progress.cumulative_imported_wh,
					cumulative_exported_wh: progress.cumulative_exported_wh,
					average_power_w: 0,
					peak_power_w: 0,
					soc_bp: None,
					device_state: DeviceState::Unknown,
					grid_response: GridResponseStatus::Idle,
					online_s: 0,
					quality: QualityFlags(QualityFlags::GAP),
				};
				progress.last_sequence = report.sequence;
				progress.last_interval_end = report.interval_end();
				report
			})
			.collect()
	}
}

/// Whether either counter of `now` is below `before`.
fn went_back(before: (u64, u64), now: (u64, u64)) -> bool {
	now.0 < before.0 || now.1 < before.1
}

/// Raises `floor` to at least `to`, per counter.
fn raise(floor: &mut Option<(u64, u64)>, to: (u64, u64)) {
	let (imported, exported) = floor.unwrap_or_default();
	*floor = Some((imported.max(to.0), exported.max(to.1)));
}

/// Start of the interval of `interval_s` containing `now_ms` (Unix s).
fn aligned_start(now_ms: u64, interval_s: u32) -> UnixSeconds {
	let interval_s = u64::from(interval_s.max(1));
	(now_ms / 1_000) / interval_s * interval_s
}

#[cfg(test)]
mod tests {
	use super::*;

	const T0_MS: u64 = 1_767_225_600_000;
	const T0: u64 = T0_MS / 1_000;

	fn sample(offset_s: u64, power_w: i32, imported: u64, exported: u64) -> Sample {
		Sample {
			at_ms: T0_MS + offset_s * 1_000,
			power_w: Some(power_w),
			imported_wh: Some(imported),
			exported_wh: Some(exported),
			soc_bp: Some(5_000),
			state: Some(DeviceState::Operating),
		}
	}

	fn power(offset_s: u64, power_w: i32) -> Sample {
		Sample { at_ms: T0_MS + offset_s * 1_000, power_w: Some(power_w), ..Default::default() }
	}

	fn energy(report: &IntervalReport) -> (u64, u64) {
		(report.energy_imported_wh, report.energy_exported_wh)
	}

	fn cumulative(report: &IntervalReport) -> (u64, u64) {
		(report.cumulative_imported_wh, report.cumulative_exported_wh)
	}

	#[test]
	fn intervals_are_aligned_to_wall_clock() {
		let agg = Aggregator::new(1, 900, 30_000, T0_MS + 1_234_567);
		assert_eq!(agg.interval_start(), T0 + 900);
		assert_eq!(agg.interval_end(), T0 + 1_800);
	}

	#[test]
	fn energy_comes_from_counters_carried_across_intervals() {
		let mut agg = Aggregator::new(1, 60, 15_000, T0_MS);
		// 3.6 kW export: 10 Wh per 10 s, counters match; the first reading is 5 s in.
		for k in 0..6 {
			assert!(agg.on_sample(sample(5 + k * 10, 3_600, 500, 1_005 + 10 * k)));
		}
		let mut progress = DeviceProgress { last_sequence: 41, ..Default::default() };
		let report = agg.close(&mut progress);
		assert_eq!(report.sequence, 42);
		assert_eq!(report.interval_start, T0);
		// Nothing joins the first interval to an earlier reading: from its first reading on.
		assert_eq!(energy(&report), (0, 50));
		assert_eq!(cumulative(&report), (500, 1_055));
		assert_eq!(report.quality, QualityFlags(QualityFlags::GAP));
		assert_eq!(report.peak_power_w, 3_600);
		assert_eq!(report.soc_bp, Some(5_000));
		assert_eq!(progress.last_sequence, 42);
		assert_eq!(progress.last_interval_end, T0 + 60);
		assert_eq!(progress.last_reading, Some((500, 1_055)));

		// The next interval starts from the carried reading (55 s): the energy between it and
		// the interval's first reading is not lost.
		for k in 0..6 {
			agg.on_sample(sample(65 + k * 10, 3_600, 500, 1_065 + 10 * k));
		}
		let next = agg.close(&mut progress);
		assert_eq!(next.sequence, 43);
		assert_eq!(energy(&next), (0, 60));
		assert_eq!(cumulative(&next), (500, 1_115));
		assert_eq!(next.quality, QualityFlags(0));
		assert_eq!(next.online_s, 60);
		assert_eq!(next.average_power_w, 3_600);
	}

	#[test]
	fn estimated_intervals_are_not_counted_twice() {
		// Counters arrive rarely (MQTT energy topic), power often.
		let mut agg = Aggregator::new(2, 60, 15_000, T0_MS);
		let mut progress = DeviceProgress::default();
		agg.on_sample(sample(0, -1_800, 10_000, 0));
		for k in 1..6 {
			agg.on_sample(power(k * 10, -1_800));
		}
		let first = agg.close(&mut progress);
		assert_eq!(energy(&first), (0, 0));
		assert_eq!(cumulative(&first), (10_000, 0));

		// A whole interval of power only: 1.8 kW for 60 s = 30 Wh, estimated.
		for k in 6..12 {
			agg.on_sample(power(k * 10, -1_800));
		}
		let estimated = agg.close(&mut progress);
		assert_eq!(energy(&estimated), (30, 0));
		assert_eq!(cumulative(&estimated), (10_030, 0));
		assert_eq!(estimated.quality, QualityFlags(QualityFlags::ESTIMATED));

		// Then the counter: 10 070 at 125 s. Since the carried reading (10 000 at 0 s) the
		// device drew 70 Wh, 30 of which are already reported.
		agg.on_sample(sample(125, -1_800, 10_070, 0));
		for k in 13..18 {
			agg.on_sample(power(k * 10, -1_800));
		}
		let counted = agg.close(&mut progress);
		assert_eq!(energy(&counted), (40, 0));
		assert_eq!(cumulative(&counted), (10_070, 0));
		assert_eq!(counted.quality, QualityFlags(0));
		// Reported energy telescopes to the counters' growth.
		let total: u64 = [&first, &estimated, &counted].iter().map(|r| r.energy_imported_wh).sum();
		assert_eq!(total, 70);
	}

	#[test]
	fn an_overshooting_estimate_holds_the_counters_until_the_device_catches_up() {
		let mut agg = Aggregator::new(3, 60, 15_000, T0_MS);
		let mut progress = DeviceProgress::default();
		agg.on_sample(sample(0, 3_600, 0, 1_000));
		for k in 1..6 {
			agg.on_sample(power(k * 10, 3_600));
		}
		let mut reports = vec![agg.close(&mut progress)];
		// Power says 3.6 kW (60 Wh per interval), but the device only delivered 20 Wh.
		for k in 6..12 {
			agg.on_sample(power(k * 10, 3_600));
		}
		reports.push(agg.close(&mut progress));
		assert_eq!(cumulative(&reports[1]), (0, 1_060));
		agg.on_sample(sample(120, 0, 0, 1_020));
		for k in 13..18 {
			agg.on_sample(power(k * 10, 0));
		}
		reports.push(agg.close(&mut progress));
		// Nothing more to report, and the counters do not go backwards.
		assert_eq!(energy(&reports[2]), (0, 0));
		assert_eq!(cumulative(&reports[2]), (0, 1_060));
		assert!(!reports[2].quality.contains(QualityFlags::COUNTER_RESET));
		// The device passes the held total: only the excess is new.
		agg.on_sample(sample(180, 0, 0, 1_100));
		agg.on_sample(sample(239, 0, 0, 1_100));
		reports.push(agg.close(&mut progress));
		assert_eq!(energy(&reports[3]), (0, 40));
		assert_eq!(cumulative(&reports[3]), (0, 1_100));
		let total: u64 = reports.iter().map(|r| r.energy_exported_wh).sum();
		assert_eq!(total, 100);
		assert!(reports.windows(2).all(|w| cumulative(&w[1]).1 >= cumulative(&w[0]).1));
	}

	#[test]
	fn a_break_in_presence_restarts_from_the_first_reading_and_flags_a_gap() {
		let mut agg = Aggregator::new(4, 60, 15_000, T0_MS);
		let mut progress = DeviceProgress::default();
		for k in 0..6 {
			agg.on_sample(sample(k * 10, 1_000, 0, 100 + k));
		}
		agg.close(&mut progress);
		// Silent from 50 s to 80 s (longer than the 15 s maximum gap).
		for k in 8..12 {
			agg.on_sample(sample(k * 10, 1_000, 0, 200 + k));
		}
		let report = agg.close(&mut progress);
		// From the first reading after the silence (208 at 80 s) to the last (211): the 103 Wh
		// of the outage stay in the cumulative counters only.
		assert_eq!(energy(&report), (0, 3));
		assert_eq!(cumulative(&report), (0, 211));
		assert!(report.quality.contains(QualityFlags::GAP));
		assert!(!report.quality.contains(QualityFlags::COUNTER_RESET));

		// Declared offline breaks continuity too.
		agg.on_sample(sample(125, 1_000, 0, 212));
		agg.on_availability(false, T0_MS + 130_000);
		agg.close(&mut progress);
		agg.on_sample(sample(190, 1_000, 0, 230));
		agg.on_sample(sample(199, 1_000, 0, 232));
		let after = agg.close(&mut progress);
		assert_eq!(energy(&after), (0, 2));
		assert!(after.quality.contains(QualityFlags::GAP));
	}

	#[test]
	fn after_a_restart_the_first_interval_starts_from_its_first_reading() {
		let mut progress = DeviceProgress {
			last_sequence: 9,
			last_interval_end: T0,
			cumulative_imported_wh: 0,
			// An estimate before the restart overshot the device's counter (1 000).
			cumulative_exported_wh: 1_010,
			last_reading: Some((0, 1_000)),
			before_reset: None,
		};
		let mut agg = Aggregator::new(5, 60, 15_000, T0_MS + 60_000);
		agg.on_sample(sample(60, 0, 0, 1_005));
		agg.on_sample(sample(119, 0, 0, 1_030));
		let report = agg.close(&mut progress);
		assert_eq!(report.sequence, 10);
		assert!(report.quality.contains(QualityFlags::GAP));
		assert!(!report.quality.contains(QualityFlags::COUNTER_RESET));
		// What was already reported (up to 1 010) is not reported again.
		assert_eq!(energy(&report), (0, 20));
		assert_eq!(cumulative(&report), (0, 1_030));

		// A reading below the last one known is a reset, even across a restart.
		let mut agg = Aggregator::new(5, 60, 15_000, T0_MS + 120_000);
		agg.on_sample(sample(120, 1_000, 0, 3));
		agg.on_sample(sample(179, 1_000, 0, 20));
		let reset = agg.close(&mut progress);
		assert!(reset.quality.contains(QualityFlags::COUNTER_RESET));
		assert!(reset.quality.contains(QualityFlags::ESTIMATED));
		assert_eq!(cumulative(&reset), (0, 20));
		assert_eq!(progress.last_reading, Some((0, 20)));
	}

	#[test]
	fn without_counters_power_is_integrated_and_flagged_estimated() {
		let mut agg = Aggregator::new(2, 60, 15_000, T0_MS);
		for k in 0..6 {
			agg.on_sample(Sample {
				at_ms: T0_MS + k * 10_000,
				power_w: Some(-1_800),
				..Default::default()
			});
		}
		let mut progress = DeviceProgress { cumulative_imported_wh: 1_000, ..Default::default() };
		let report = agg.close(&mut progress);
		// 1.8 kW drawn for 60 s = 30 Wh.
		assert_eq!(energy(&report), (30, 0));
		assert_eq!(report.cumulative_imported_wh, 1_030);
		assert_eq!(report.average_power_w, -1_800);
		assert!(report.quality.contains(QualityFlags::ESTIMATED));
		assert!(!report.quality.contains(QualityFlags::GAP));
	}

	#[test]
	fn gaps_and_offline_time_reduce_online_seconds() {
		let mut agg = Aggregator::new(3, 60, 15_000, T0_MS);
		agg.on_sample(sample(0, 1_000, 0, 0));
		agg.on_sample(sample(10, 1_000, 0, 3));
		// 30 s of silence: longer than the 15 s maximum gap.
		agg.on_sample(sample(40, 1_000, 0, 11));
		agg.on_availability(false, T0_MS + 50_000);
		let report = agg.close(&mut DeviceProgress::default());
		// Present 0–10 s and 40–50 s.
		assert_eq!(report.online_s, 20);
		assert!(report.quality.contains(QualityFlags::GAP));
	}

	#[test]
	fn silence_across_the_boundary_is_not_counted_as_presence() {
		let mut agg = Aggregator::new(3, 60, 15_000, T0_MS);
		agg.on_sample(sample(50, 1_000, 0, 0));
		let first = agg.close(&mut DeviceProgress::default());
		assert_eq!(first.online_s, 10);
		// 20 s after the last sample: within the gap of the interval's start, not of the sample.
		for (at, counter) in [(70, 5), (80, 8), (90, 11), (100, 14), (110, 17), (119, 18)] {
			agg.on_sample(sample(at, 1_000, 0, counter));
		}
		let second = agg.close(&mut DeviceProgress::default());
		// 70–119 s, and on to the end at 120 s.
		assert_eq!(second.online_s, 50);
		assert!(second.quality.contains(QualityFlags::GAP));
	}

	#[test]
	fn first_counters_after_a_report_without_any_rebase_as_a_reset() {
		// The bridge starts in the interval's last second: power, but no counters yet.
		let mut agg = Aggregator::new(5, 10, 15_000, T0_MS + 9_000);
		agg.on_sample(power(9, 0));
		let mut progress = DeviceProgress::default();
		let first = agg.close(&mut progress);
		assert_eq!(cumulative(&first), (0, 0));
		// Then the inverter's lifetime counter: 21 MWh. Not energy of this interval.
		for at in [10, 12, 14, 16, 18] {
			agg.on_sample(sample(at, 0, 0, 21_000_000));
		}
		let next = agg.close(&mut progress);
		assert!(next.quality.contains(QualityFlags::COUNTER_RESET), "{next:?}");
		assert_eq!(cumulative(&next), (0, 21_000_000));
		assert_eq!(energy(&next), (0, 0));
		// From then on, counter energy as usual.
		for at in [20, 24, 29] {
			agg.on_sample(sample(at, 3_600, 0, 21_000_000 + (at - 19)));
		}
		let third = agg.close(&mut progress);
		assert!(!third.quality.contains(QualityFlags::COUNTER_RESET), "{third:?}");
		assert_eq!(cumulative(&third), (0, 21_000_010));

		// A bridge that knows the device's counters from its last run is no such case.
		let mut agg = Aggregator::new(5, 10, 15_000, T0_MS);
		agg.on_sample(sample(1, 0, 0, 21_000_000));
		let mut known = DeviceProgress { last_sequence: 7, ..Default::default() };
		let report = agg.close(&mut known);
		assert!(!report.quality.contains(QualityFlags::COUNTER_RESET), "{report:?}");
	}

	#[test]
	fn a_counter_going_backwards_is_flagged_as_a_reset() {
		let mut agg = Aggregator::new(4, 60, 15_000, T0_MS);
		agg.on_sample(sample(0, 1_000, 0, 5_000));
		agg.on_sample(sample(10, 1_000, 0, 5_003));
		// The device was replaced: its counter starts again from zero.
		for (at, counter) in [(20, 2), (30, 5), (40, 8), (50, 10), (59, 12)] {
			agg.on_sample(sample(at, 1_000, 0, counter));
		}
		let report = agg.close(&mut DeviceProgress::default());
		assert!(report.quality.contains(QualityFlags::COUNTER_RESET));
		assert!(report.quality.contains(QualityFlags::ESTIMATED));
		assert_eq!(report.cumulative_exported_wh, 12);
		// 1 kW for 60 s, integrated.
		assert_eq!(report.energy_exported_wh, 16);
	}

	#[test]
	fn an_interval_without_samples_reports_the_device_offline() {
		let mut agg = Aggregator::new(5, 60, 15_000, T0_MS);
		let mut progress = DeviceProgress {
			last_sequence: 7,
			last_interval_end: T0,
			cumulative_imported_wh: 10,
			cumulative_exported_wh: 20,
			last_reading: None,
			before_reset: None,
		};
		let report = agg.close(&mut progress);
		assert_eq!(report.online_s, 0);
		assert_eq!(report.quality, QualityFlags(QualityFlags::GAP));
		assert_eq!(cumulative(&report), (10, 20));
		assert_eq!(report.soc_bp, None);
	}

	#[test]
	fn late_and_out_of_order_samples_are_ignored() {
		let mut agg = Aggregator::new(6, 60, 15_000, T0_MS + 60_000);
		assert!(!agg.on_sample(sample(30, 1_000, 0, 0)));
		assert!(agg.on_sample(sample(70, 1_000, 0, 0)));
		assert!(!agg.on_sample(sample(65, 1_000, 0, 0)));
	}

	#[test]
	fn samples_at_or_after_the_end_belong_to_the_next_interval() {
		let mut agg = Aggregator::new(8, 60, 15_000, T0_MS);
		let mut progress = DeviceProgress::default();
		for (at, counter) in [(0, 100), (10, 103), (20, 106), (30, 109), (40, 112), (50, 114)] {
			agg.on_sample(sample(at, 1_000, 0, counter));
		}
		// Received during the closing grace, stamped after the end: a surge in the next
		// interval.
		assert!(agg.on_sample(sample(60, 9_000, 0, 117)));
		assert!(agg.on_sample(sample(61, 9_000, 0, 120)));
		agg.on_availability(false, T0_MS + 62_000);
		// Nothing older may follow them.
		assert!(!agg.on_sample(sample(59, 1_000, 0, 116)));
		let report = agg.close(&mut progress);
		assert_eq!(report.peak_power_w, 1_000);
		assert_eq!(energy(&report), (0, 14));
		assert_eq!(report.online_s, 60);

		let next = agg.close(&mut progress);
		assert_eq!(next.peak_power_w, 9_000);
		// 114 → 120 from the carried reading; present 60–62 s, then declared offline.
		assert_eq!(energy(&next), (0, 6));
		assert_eq!(next.online_s, 2);
	}

	#[test]
	fn missed_intervals_are_backfilled_as_offline() {
		let agg = Aggregator::new(7, 60, 15_000, T0_MS + 300_000);
		let mut progress = DeviceProgress {
			last_sequence: 10,
			last_interval_end: T0 + 60,
			cumulative_imported_wh: 5,
			cumulative_exported_wh: 6,
			last_reading: None,
			before_reset: None,
		};
		let filled = agg.backfill(&mut progress, 100, 100);
		// Intervals starting at +60, +120, +180, +240 were missed; +300 is current.
		assert_eq!(filled.len(), 4);
		assert_eq!(filled[0].interval_start, T0 + 60);
		assert_eq!(filled[3].sequence, 14);
		assert!(filled.iter().all(|r| r.online_s == 0 && r.quality.contains(QualityFlags::GAP)));
		assert_eq!(progress.last_interval_end, agg.interval_start());
		assert!(agg.backfill(&mut progress, 100, 100).is_empty());

		// The limit keeps the most recent ones; chunks continue where the last one ended.
		let mut progress =
			DeviceProgress { last_sequence: 10, last_interval_end: T0 + 60, ..progress };
		let chunk = agg.backfill(&mut progress, 3, 2);
		assert_eq!(
			chunk.iter().map(|r| r.interval_start).collect::<Vec<_>>(),
			[T0 + 120, T0 + 180]
		);
		let rest = agg.backfill(&mut progress, 3, 2);
		assert_eq!(
			rest.iter().map(|r| (r.interval_start, r.sequence)).collect::<Vec<_>>(),
			[(T0 + 240, 13)]
		);
		assert!(agg.backfill(&mut progress, 3, 2).is_empty());
	}

	#[test]
	fn progress_written_before_last_reading_existed_still_decodes() {
		use codec::Encode;
		let old = (3u64, 600u64, 10u64, 20u64).encode();
		let progress = DeviceProgress::decode_stored(&old).unwrap();
		assert_eq!(
			progress,
			DeviceProgress {
				last_sequence: 3,
				last_interval_end: 600,
				cumulative_imported_wh: 10,
				cumulative_exported_wh: 20,
				last_reading: None,
				before_reset: None,
			}
		);
		// Written before `before_reset` existed.
		let with_reading = (3u64, 600u64, 10u64, 20u64, Some((1u64, 2u64))).encode();
		assert_eq!(
			DeviceProgress::decode_stored(&with_reading).unwrap(),
			DeviceProgress { last_reading: Some((1, 2)), ..progress }
		);
		let new =
			DeviceProgress { last_reading: Some((1, 2)), before_reset: Some((5, 6)), ..progress };
		assert_eq!(DeviceProgress::decode_stored(&new.encode()).unwrap(), new);
		assert!(DeviceProgress::decode_stored(&[1, 2, 3]).is_err());
	}

	/// A PV inverter whose lifetime counter (12 MWh) reads 0 while it sleeps.
	const LIFETIME: u64 = 12_000_000;

	fn exported(offset_s: u64, power_w: i32, exported: u64) -> Sample {
		Sample { soc_bp: None, state: None, ..sample(offset_s, power_w, 0, exported) }
	}

	/// The device's true export counter: 12 MWh, then 3.6 kW (10 Wh per 10 s) from 140 s on.
	fn true_export(at_s: u64) -> u64 {
		LIFETIME + at_s.saturating_sub(140) / 10 * 10
	}

	#[test]
	fn a_reset_then_recovery_never_reports_more_than_the_counters_grew() {
		let mut agg = Aggregator::new(11, 60, 15_000, T0_MS);
		let mut progress = DeviceProgress::default();
		let mut reports = Vec::new();
		// Night: the true counter, then 0 while asleep (a glitch: it never really dropped).
		for k in 0..6 {
			agg.on_sample(exported(k * 10, 0, LIFETIME));
		}
		reports.push(agg.close(&mut progress));
		for k in 6..12 {
			agg.on_sample(exported(k * 10, 0, 0));
		}
		reports.push(agg.close(&mut progress));
		// Waking up: still 0 for two readings, then the true counter, now producing.
		for k in 12..18 {
			let at = k * 10;
			let (power, counter) = if at < 140 { (0, 0) } else { (3_600, true_export(at)) };
			agg.on_sample(exported(at, power, counter));
		}
		reports.push(agg.close(&mut progress));
		for k in 18..24 {
			agg.on_sample(exported(k * 10, 3_600, true_export(k * 10)));
		}
		reports.push(agg.close(&mut progress));

		for report in &reports {
			let start = report.interval_start - T0;
			let growth = true_export(start + 60) - true_export(start);
			assert!(
				report.energy_exported_wh <= growth,
				"interval at +{start} s reports {} Wh, the counter grew {growth} Wh",
				report.energy_exported_wh
			);
		}
		assert!(reports[1].quality.contains(QualityFlags::COUNTER_RESET));
		assert_eq!(cumulative(&reports[1]), (0, 0));
		// Not from the 0 of the glitch: from the counter it had before, so only the 30 Wh
		// produced between its readings.
		assert_eq!(energy(&reports[2]), (0, 30));
		assert!(reports[2].quality.contains(QualityFlags::GAP));
		assert!(!reports[2].quality.contains(QualityFlags::COUNTER_RESET));
		assert_eq!(cumulative(&reports[2]), (0, LIFETIME + 30));
		// Back to normal: carried from the last reading, no flags.
		assert_eq!(energy(&reports[3]), (0, 60));
		assert_eq!(reports[3].quality, QualityFlags(0));
		assert_eq!(progress.before_reset, None);
	}

	#[test]
	fn a_reading_that_dropped_is_never_the_base_of_the_next_interval() {
		let mut agg = Aggregator::new(12, 60, 15_000, T0_MS);
		let mut progress = DeviceProgress::default();
		for k in 0..6 {
			agg.on_sample(exported(k * 10, 0, LIFETIME));
		}
		agg.close(&mut progress);
		// The last reading of the interval drops to 0.
		for k in 6..12 {
			agg.on_sample(exported(k * 10, 0, if k < 11 { LIFETIME } else { 0 }));
		}
		let reset = agg.close(&mut progress);
		assert!(reset.quality.contains(QualityFlags::COUNTER_RESET));
		// The next interval begins at the true counter again: not 12 MWh of new energy.
		for k in 12..18 {
			agg.on_sample(exported(k * 10, 0, LIFETIME + (k - 12)));
		}
		let next = agg.close(&mut progress);
		assert_eq!(energy(&next), (0, 5));
		assert!(next.quality.contains(QualityFlags::GAP));
	}

	#[test]
	fn the_counters_before_a_drop_are_remembered_across_a_restart() {
		let mut agg = Aggregator::new(13, 60, 15_000, T0_MS);
		let mut progress = DeviceProgress::default();
		agg.on_sample(exported(0, 0, LIFETIME));
		agg.on_sample(exported(50, 0, 0));
		agg.close(&mut progress);
		assert_eq!(progress.before_reset, Some((0, LIFETIME)));
		// The bridge restarts; the device still reads 0, then recovers.
		let mut agg = Aggregator::new(13, 60, 15_000, T0_MS + 60_000);
		for (at, counter) in [(60, 0), (70, 0), (80, LIFETIME), (90, LIFETIME + 10)] {
			agg.on_sample(exported(at, 3_600, counter));
		}
		let report = agg.close(&mut progress);
		assert_eq!(energy(&report), (0, 10));
		assert_eq!(cumulative(&report), (0, LIFETIME + 10));
		assert_eq!(progress.before_reset, None);
	}

	#[test]
	fn an_online_message_credits_nothing_until_the_next_sample() {
		// Tasmota: telemetry every 300 s, "Online" on its last-will topic when it reconnects.
		let mut agg = Aggregator::new(14, 900, 330_000, T0_MS);
		agg.on_sample(power(0, 1_000));
		agg.on_sample(power(300, 1_000));
		agg.on_availability(false, T0_MS + 400_000);
		agg.on_availability(true, T0_MS + 420_000);
		// The next telemetry, 300 s after "Online" (within the maximum gap).
		agg.on_sample(power(720, 1_000));
		let report = agg.close(&mut DeviceProgress::default());
		// Present 0–400 s, then from the sample at 720 s to the end: not 420–720 s.
		assert_eq!(report.online_s, 400 + 180);
		// 1 kW over those 580 s.
		assert_eq!(energy(&report), (0, 161));
		assert!(report.quality.contains(QualityFlags::GAP));
	}

	#[test]
	fn skipping_to_the_current_interval_breaks_continuity() {
		// A maximum gap longer than the skip: only the skip breaks presence.
		let mut agg = Aggregator::new(15, 60, 3_600_000, T0_MS);
		let mut progress = DeviceProgress::default();
		agg.on_sample(sample(50, 1_000, 0, 100));
		// Taken while the bridge stalled: one for a skipped interval, one for the current.
		let now_ms = T0_MS + 620_000;
		assert!(agg.on_sample(sample(70, 1_000, 0, 102)));
		assert!(agg.on_sample(Sample { at_ms: now_ms - 5_000, ..sample(0, 1_000, 0, 5_000) }));
		agg.close(&mut progress);
		agg.skip_to(now_ms);
		assert_eq!(agg.interval_start(), T0 + 600);
		agg.on_sample(Sample { at_ms: now_ms + 10_000, ..sample(0, 1_000, 0, 5_010) });
		let report = agg.close(&mut progress);
		assert_eq!(report.interval_start, T0 + 600);
		// From the first reading of this interval, not from the one before the stall; present
		// from it on only.
		assert_eq!(energy(&report), (0, 10));
		assert!(report.quality.contains(QualityFlags::GAP));
		assert_eq!(report.online_s, 45);
		// Moving backwards, or to the same interval, does nothing.
		agg.skip_to(T0_MS);
		assert_eq!(agg.interval_start(), T0 + 660);
	}
}
