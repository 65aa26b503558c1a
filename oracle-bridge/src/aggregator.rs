//! From samples to interval reports.
//!
//! A source (MQTT, Modbus) turns each reading of a device into a [`Sample`]. The device's
//! [`Aggregator`] accumulates the samples of the current interval — intervals start at
//! multiples of the interval length in Unix time, so every gateway cuts the same intervals —
//! and, when the interval ends, produces the [`IntervalReport`] the chain expects:
//!
//! - **energy** from the device's cumulative counters when it has them (end minus start of the
//!   interval); otherwise, or when a counter went backwards, from integrating power over time,
//!   flagged `ESTIMATED` (and `COUNTER_RESET` if a counter went backwards);
//! - **cumulative counters** from the device, or kept by the bridge from the estimated energy;
//! - **average power** = net energy ÷ interval length; **peak** = the sample of largest
//!   magnitude;
//! - **state of charge** and **device state** from the latest sample;
//! - **online seconds**: time covered by samples no further apart than the source's maximum gap,
//!   and not declared offline; `GAP` is flagged when samples did not cover the whole interval.
//!
//! An interval without any sample still yields a report (0 s online, `GAP`), so the chain sees
//! that the device was unreachable rather than nothing at all.

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
}

/// Milliseconds × watts per watt-hour.
const MS_W_PER_WH: u128 = 3_600_000;

/// Accumulates one device's samples into interval reports.
#[derive(Debug)]
pub struct Aggregator {
	device_id: DeviceId,
	interval_s: u32,
	/// Samples further apart than this do not count as continuous presence.
	max_gap_ms: u64,
	/// Start of the interval being accumulated (Unix s).
	start_s: UnixSeconds,
	/// The latest sample: what is carried into the next instant.
	last: Option<Sample>,
	/// Whether the source declared the device offline (last will, availability topic).
	declared_offline: bool,
	/// Counters at the start of the interval, if known.
	start_counters: Option<(u64, u64)>,
	/// Counters seen in this interval: the latest.
	end_counters: Option<(u64, u64)>,
	counter_reset: bool,
	/// Integrated power, in W·ms, split by direction.
	imported_w_ms: u128,
	exported_w_ms: u128,
	/// Whether any power was integrated (otherwise counters are the only energy source).
	integrated: bool,
	online_ms: u64,
	peak_w: i32,
	samples: u32,
}

impl Aggregator {
	/// An aggregator for the interval containing `now_ms`.
	pub fn new(device_id: DeviceId, interval_s: u32, max_gap_ms: u64, now_ms: u64) -> Self {
		let interval_s = interval_s.max(1);
		let start_s = (now_ms / 1_000) / u64::from(interval_s) * u64::from(interval_s);
		Aggregator {
			device_id,
			interval_s,
			max_gap_ms,
			start_s,
			last: None,
			declared_offline: false,
			start_counters: None,
			end_counters: None,
			counter_reset: false,
			imported_w_ms: 0,
			exported_w_ms: 0,
			integrated: false,
			online_ms: 0,
			peak_w: 0,
			samples: 0,
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

	/// Accounts for the time from the previous sample to `until_ms` at the previous sample's
	/// power, if the device was present all along.
	fn advance(&mut self, until_ms: u64) {
		let Some(last) = self.last else { return };
		let elapsed = until_ms.saturating_sub(last.at_ms);
		if elapsed == 0 || elapsed > self.max_gap_ms || self.declared_offline {
			return;
		}
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
	/// ignored (returns `false`).
	pub fn on_sample(&mut self, sample: Sample) -> bool {
		let interval_start_ms = self.start_s * 1_000;
		if sample.at_ms < interval_start_ms || self.last.is_some_and(|l| sample.at_ms < l.at_ms) {
			return false;
		}
		self.advance(sample.at_ms);
		self.declared_offline = false;
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
		if let (Some(imported), Some(exported)) = (merged.imported_wh, merged.exported_wh) {
			let counters = (imported, exported);
			let previous = self.end_counters.or(self.start_counters);
			if previous.is_some_and(|(i, e)| imported < i || exported < e) {
				self.counter_reset = true;
			}
			if self.start_counters.is_none() {
				// First counters of the interval: the energy before this sample is unknown.
				self.start_counters = Some(counters);
			}
			self.end_counters = Some(counters);
		}
		self.last = Some(merged);
		true
	}

	/// The source says the device went offline (or came back) at `at_ms`.
	pub fn on_availability(&mut self, online: bool, at_ms: u64) {
		if online {
			// Presence counts again from the next sample.
			if let Some(last) = self.last.as_mut() {
				last.at_ms = last.at_ms.max(at_ms);
			}
			self.declared_offline = false;
		} else {
			self.advance(at_ms);
			self.declared_offline = true;
		}
	}

	/// Closes the current interval, returning its report with the next sequence number after
	/// `progress`, and starts the next interval. Updates `progress`.
	pub fn close(&mut self, progress: &mut DeviceProgress) -> IntervalReport {
		let end_s = self.interval_end();
		self.advance(end_s * 1_000);

		let mut quality = 0u8;
		let counter_energy = match (self.start_counters, self.end_counters) {
			(Some((i0, e0)), Some((i1, e1))) if !self.counter_reset => Some((i1 - i0, e1 - e0)),
			_ => None,
		};
		let (imported, exported) = match counter_energy {
			Some(energy) => energy,
			None => {
				if self.integrated || self.samples > 0 {
					quality |= QualityFlags::ESTIMATED;
				}
				(
					u64::try_from(self.imported_w_ms / MS_W_PER_WH).unwrap_or(u64::MAX),
					u64::try_from(self.exported_w_ms / MS_W_PER_WH).unwrap_or(u64::MAX),
				)
			}
		};
		if self.counter_reset {
			quality |= QualityFlags::COUNTER_RESET;
		}
		let interval_ms = u64::from(self.interval_s) * 1_000;
		if self.online_ms < interval_ms {
			quality |= QualityFlags::GAP;
		}

		// The device's own counters when it has them; else the bridge keeps running totals.
		let (cumulative_imported_wh, cumulative_exported_wh) = match self.end_counters {
			Some(counters) => counters,
			None => (
				progress.cumulative_imported_wh.saturating_add(imported),
				progress.cumulative_exported_wh.saturating_add(exported),
			),
		};
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
			cumulative_imported_wh,
			cumulative_exported_wh,
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

		*progress = DeviceProgress {
			last_sequence: report.sequence,
			last_interval_end: end_s,
			cumulative_imported_wh,
			cumulative_exported_wh,
		};

		// The next interval starts with this one's last state.
		self.start_s = end_s;
		self.start_counters = self.end_counters;
		self.end_counters = None;
		self.counter_reset = false;
		self.imported_w_ms = 0;
		self.exported_w_ms = 0;
		self.integrated = false;
		self.online_ms = 0;
		self.peak_w = 0;
		self.samples = 0;
		if let Some(last) = self.last.as_mut() {
			last.at_ms = last.at_ms.max(end_s * 1_000);
		}
		report
	}

	/// Reports for intervals the bridge missed entirely (it was not running): from the end of
	/// the last reported interval up to the current interval, each 0 s online and flagged
	/// `GAP`, at most `limit` of them (the most recent).
	pub fn backfill(&self, progress: &mut DeviceProgress, limit: usize) -> Vec<IntervalReport> {
		let step = u64::from(self.interval_s);
		if progress.last_interval_end == 0 || progress.last_interval_end >= self.start_s {
			return Vec::new();
		}
		// Only whole intervals on the grid; a misaligned last end is rounded up.
		let first = progress.last_interval_end.div_ceil(step) * step;
		let missed = (self.start_s.saturating_sub(first) / step) as usize;
		let skip = missed.saturating_sub(limit);
		(skip..missed)
			.map(|k| {
				let start = first + k as u64 * step;
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

#[cfg(test)]
mod tests {
	use super::*;

	const T0_MS: u64 = 1_767_225_600_000;

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

	#[test]
	fn intervals_are_aligned_to_wall_clock() {
		let agg = Aggregator::new(1, 900, 30_000, T0_MS + 1_234_567);
		assert_eq!(agg.interval_start(), T0_MS / 1_000 + 900);
		assert_eq!(agg.interval_end(), T0_MS / 1_000 + 1_800);
	}

	#[test]
	fn energy_comes_from_counters_when_the_device_has_them() {
		let mut agg = Aggregator::new(1, 60, 15_000, T0_MS);
		for k in 0..=6 {
			// 3.6 kW export: 10 Wh per 10 s, counters match.
			assert!(agg.on_sample(sample(k * 10, 3_600, 500, 1_000 + 10 * k)));
		}
		let mut progress = DeviceProgress { last_sequence: 41, ..Default::default() };
		let report = agg.close(&mut progress);
		assert_eq!(report.sequence, 42);
		assert_eq!(report.interval_start, T0_MS / 1_000);
		assert_eq!((report.energy_imported_wh, report.energy_exported_wh), (0, 60));
		assert_eq!((report.cumulative_imported_wh, report.cumulative_exported_wh), (500, 1_060));
		assert_eq!(report.average_power_w, 3_600);
		assert_eq!(report.peak_power_w, 3_600);
		assert_eq!(report.online_s, 60);
		assert_eq!(report.quality, QualityFlags(0));
		assert_eq!(report.soc_bp, Some(5_000));
		assert_eq!(progress.last_sequence, 42);
		assert_eq!(progress.last_interval_end, T0_MS / 1_000 + 60);

		// The next interval starts from this one's last counters.
		agg.on_sample(sample(70, 3_600, 500, 1_070));
		agg.on_sample(sample(119, 3_600, 500, 1_120));
		let next = agg.close(&mut progress);
		assert_eq!(next.energy_exported_wh, 60);
		assert_eq!(next.sequence, 43);
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
		assert_eq!((report.energy_imported_wh, report.energy_exported_wh), (30, 0));
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
			last_interval_end: T0_MS / 1_000,
			cumulative_imported_wh: 10,
			cumulative_exported_wh: 20,
		};
		let report = agg.close(&mut progress);
		assert_eq!(report.online_s, 0);
		assert_eq!(report.quality, QualityFlags(QualityFlags::GAP));
		assert_eq!((report.cumulative_imported_wh, report.cumulative_exported_wh), (10, 20));
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
	fn missed_intervals_are_backfilled_as_offline() {
		let agg = Aggregator::new(7, 60, 15_000, T0_MS + 300_000);
		let mut progress = DeviceProgress {
			last_sequence: 10,
			last_interval_end: T0_MS / 1_000 + 60,
			cumulative_imported_wh: 5,
			cumulative_exported_wh: 6,
		};
		let filled = agg.backfill(&mut progress, 100);
		// Intervals starting at +60, +120, +180, +240 were missed; +300 is current.
		assert_eq!(filled.len(), 4);
		assert_eq!(filled[0].interval_start, T0_MS / 1_000 + 60);
		assert_eq!(filled[3].sequence, 14);
		assert!(filled.iter().all(|r| r.online_s == 0 && r.quality.contains(QualityFlags::GAP)));
		assert_eq!(progress.last_interval_end, agg.interval_start());
		// The limit keeps the most recent ones.
		let mut progress = DeviceProgress { last_interval_end: T0_MS / 1_000 + 60, ..progress };
		progress.last_sequence = 10;
		let limited = agg.backfill(&mut progress, 2);
		assert_eq!(limited.len(), 2);
		assert_eq!(limited[0].interval_start, T0_MS / 1_000 + 180);
	}
}
