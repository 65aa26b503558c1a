//! The telemetry pallet's reports of enrolled devices: their history for baselines, and their
//! delivery in the events they are in (see [`crate::baseline`] for the formulas).

use frame_support::{traits::Get, weights::Weight};
use openvpp_primitives::{
	storage_energy_wh, DeviceId, DeviceKind, Direction, GridResponseStatus, MeasuredInterval,
	MeasurementSink, FULL_BP,
};

use crate::{baseline::*, pallet::*, types::*, WeightInfo, WeightModel};

impl<T: Config> MeasurementSink for Pallet<T> {
	fn on_measured_interval(
		device: DeviceId,
		kind: DeviceKind,
		interval: &MeasuredInterval,
	) -> Weight {
		let Some(mut enrolment) = Enrolments::<T>::get(device) else {
			return T::DbWeight::get().reads(1);
		};
		let mut weight = T::WeightInfo::measure_interval();
		let meter_before = uses_meter_before(kind);
		let (day, hour) = day_and_hour(interval.interval_start);
		let mut hour_history =
			if meter_before { None } else { Some(HourlyHistory::<T>::get(device, hour)) };

		// Events first, against the history as it stood before this interval.
		let (from, to) = (interval.interval_start, interval.interval_end());
		let in_events: alloc::vec::Vec<ScheduledEvent> =
			enrolment.schedule.iter().filter(|entry| entry.overlaps(from, to)).copied().collect();
		for entry in in_events {
			weight = weight.saturating_add(T::WeightInfo::measure_in_event());
			Self::measure(device, &entry, interval, &mut enrolment, hour_history.as_ref());
		}
		// The device has moved past these events.
		enrolment.schedule.retain(|entry| entry.end > to);

		if interval.plausible {
			if let Some(history) = hour_history.as_mut() {
				add_to_hour(history, day, interval.net_import_wh());
				HourlyHistory::<T>::insert(device, hour, &*history);
			} else {
				add_recent(
					&mut enrolment.recent,
					RecentInterval {
						interval_start: interval.interval_start,
						interval_length_s: interval.interval_length_s,
						net_import_wh: interval.net_import_wh(),
						soc_bp: interval.soc_bp,
					},
				);
			}
		}
		Enrolments::<T>::insert(device, enrolment);
		weight
	}

	fn max_measurement_weight() -> Weight {
		// A device's events are an hour apart: a report touches one of them at most.
		T::WeightInfo::measure_interval_in_event()
	}
}

impl<T: Config> Pallet<T> {
	/// Measures one interval of a device in one of its events.
	fn measure(
		device: DeviceId,
		entry: &ScheduledEvent,
		interval: &MeasuredInterval,
		enrolment: &mut Enrolment,
		hour_history: Option<&HourHistory>,
	) {
		let Some(event) = Events::<T>::get(entry.event) else { return };
		// Settlement may begin once the grace period is over: from then on the event's
		// figures are fixed, and a report that comes later changes nothing.
		let settles_from = event.end().saturating_add(T::SettlementGraceS::get());
		if event.status.is_final() || Self::now() >= settles_from {
			return;
		}
		let Some(mut participant) = Participants::<T>::get(entry.event, entry.rank) else {
			// Not selected.
			return;
		};
		if participant.settlement.is_some() {
			frame_support::defensive!("a settled participant was measured");
			return;
		}
		let (start, end) = (event.spec.start, event.end());
		let overlap = overlap_s(interval.interval_start, interval.interval_end(), start, end);
		if overlap == 0 {
			return;
		}
		let (event_day, _) = day_and_hour(start);
		if !enrolment.event_days.contains(&event_day) {
			if enrolment.event_days.is_full() {
				enrolment.event_days.remove(0);
			}
			let _ = enrolment.event_days.try_push(event_day);
		}

		let direction = event.spec.kind.direction();
		let measurement = &mut participant.measurement;
		let baseline = *measurement.baseline.get_or_insert_with(|| {
			if hour_history.is_some() {
				Self::ten_of_ten_adjustment(device, start, &enrolment.event_days)
			} else {
				match meter_before(&enrolment.recent, start) {
					Some(net_import_w) => Baseline::MeterBefore { net_import_w },
					None => Baseline::Unavailable,
				}
			}
		});
		if measurement.energy_cap_wh.is_none() {
			if let Some((capacity_wh, reserve_bp)) = participant.storage {
				measurement.energy_cap_wh = Some(Self::storage_cap(
					soc_before(&enrolment.recent, start),
					capacity_wh,
					reserve_bp,
					direction,
				));
			}
		}

		match interval.grid_response {
			GridResponseStatus::Idle => {
				measurement.idle_intervals = measurement.idle_intervals.saturating_add(1);
			}
			GridResponseStatus::Overridden => {
				measurement.overridden_intervals =
					measurement.overridden_intervals.saturating_add(1);
				Self::deposit_event(Event::OverrideRecorded {
					event: entry.event,
					device,
					interval_start: interval.interval_start,
				});
			}
			GridResponseStatus::Dispatched | GridResponseStatus::Responding
				if !interval.plausible =>
			{
				measurement.flagged_intervals = measurement.flagged_intervals.saturating_add(1);
			}
			GridResponseStatus::Dispatched | GridResponseStatus::Responding => {
				let baseline_wh = match baseline {
					Baseline::MeterBefore { net_import_w } => {
						Some(scale(net_import_w, overlap, SECONDS_PER_HOUR))
					}
					Baseline::TenOfTen { adjustment_bp } => hour_history
						.and_then(|history| {
							ten_of_ten(
								history,
								event_day,
								&enrolment.event_days,
								T::MinBaselineDays::get(),
							)
						})
						.map(|hour_wh| {
							scale(
								scale(hour_wh, overlap, SECONDS_PER_HOUR),
								adjustment_bp.into(),
								FULL_BP.into(),
							)
						}),
					Baseline::Unavailable => None,
				};
				match baseline_wh {
					Some(baseline_wh) => {
						let actual_wh = scale(
							interval.net_import_wh(),
							overlap,
							interval.interval_length_s.into(),
						);
						let mut total = measurement.delivered_wh.saturating_add(delivered(
							direction,
							baseline_wh,
							actual_wh,
						));
						if let Some(cap) = measurement.energy_cap_wh {
							total = total.min(cap);
						}
						measurement.delivered_wh = total;
						measurement.responding_intervals =
							measurement.responding_intervals.saturating_add(1);
					}
					None => {
						measurement.unmeasured_intervals =
							measurement.unmeasured_intervals.saturating_add(1);
					}
				}
			}
		}
		Participants::<T>::insert(entry.event, entry.rank, participant);
	}

	/// The "10 of 10" baseline's same-day adjustment for an event starting at `start`.
	fn ten_of_ten_adjustment(device: DeviceId, start: u64, event_days: &[u32]) -> Baseline {
		let (event_day, _) = day_and_hour(start);
		let (mut actual_wh, mut baseline_wh) = (0i64, 0i64);
		for hour in adjustment_hours(start) {
			let history = HourlyHistory::<T>::get(device, hour);
			let today = history.iter().rev().find(|entry| entry.day == event_day);
			let typical = ten_of_ten(&history, event_day, event_days, T::MinBaselineDays::get());
			if let (Some(today), Some(typical)) = (today, typical) {
				actual_wh = actual_wh.saturating_add(today.net_import_wh);
				baseline_wh = baseline_wh.saturating_add(typical);
			}
		}
		Baseline::TenOfTen { adjustment_bp: same_day_adjustment(actual_wh, baseline_wh) }
	}

	/// What storage could deliver in the event's direction from its state of charge at the
	/// start (Wh); nothing without a known state of charge.
	fn storage_cap(
		soc_bp: Option<u16>,
		capacity_wh: u64,
		reserve_bp: u16,
		direction: Direction,
	) -> u64 {
		soc_bp.map(|soc| storage_energy_wh(capacity_wh, soc, reserve_bp, direction)).unwrap_or(0)
	}
}
