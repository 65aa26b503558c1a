//! Owners' consent and devices joining and leaving events.

use frame_support::{ensure, pallet_prelude::DispatchResult, traits::Get};
use openvpp_primitives::{
	comfort_allows, flexibility, DeviceCommitments, DeviceId, DeviceInfo, DeviceKind,
	DeviceLifecycleHooks, DeviceRegistry, MeasuredDevices, RatedWatts, UnixSeconds,
};

use crate::{event_impls::can_serve, pallet::*, types::*};

/// How a reading must be at most this old (s) when a device joins, beyond its own interval.
pub const FRESH_READING_S: u64 = 2 * 3_600;

impl<T: Config> Pallet<T> {
	fn owned_device(
		who: &T::AccountId,
		device: DeviceId,
	) -> Result<DeviceInfo<T::AccountId>, Error<T>> {
		let info = T::Registry::active_device(device).map_err(|_| Error::<T>::DeviceNotActive)?;
		ensure!(info.owner == *who, Error::<T>::NotAllowed);
		Ok(info)
	}

	pub(crate) fn do_enrol(
		who: T::AccountId,
		device: DeviceId,
		gateway_may_join: bool,
		max_power_w: RatedWatts,
	) -> DispatchResult {
		Self::owned_device(&who, device)?;
		// The chain measures a device from its reports: it must have reported.
		if !Enrolments::<T>::contains_key(device) {
			ensure!(T::Telemetry::set_measured(device, true), Error::<T>::NoTelemetryYet);
		}
		Enrolments::<T>::mutate(device, |enrolment| {
			let enrolment = enrolment.get_or_insert_with(|| Enrolment {
				gateway_may_join,
				max_power_w,
				recent: Default::default(),
				schedule: Default::default(),
				event_days: Default::default(),
			});
			enrolment.gateway_may_join = gateway_may_join;
			enrolment.max_power_w = max_power_w;
		});
		Self::deposit_event(Event::Enrolled { device, gateway_may_join, max_power_w });
		Ok(())
	}

	pub(crate) fn do_unenrol(who: T::AccountId, device: DeviceId) -> DispatchResult {
		Self::owned_device(&who, device)?;
		let enrolment = Enrolments::<T>::get(device).ok_or(Error::<T>::NotEnrolled)?;
		let now = Self::now();
		ensure!(
			!enrolment.schedule.iter().any(|entry| Self::still_scheduled(entry, now)),
			Error::<T>::StillScheduled
		);
		Self::forget_device(device);
		Self::deposit_event(Event::Unenrolled { device });
		Ok(())
	}

	/// Deletes a device's consent and history.
	pub(crate) fn forget_device(device: DeviceId) {
		if Enrolments::<T>::take(device).is_some() {
			T::Telemetry::set_measured(device, false);
		}
		// 24 hours at most.
		let _ = HourlyHistory::<T>::clear_prefix(device, 24, None);
	}

	/// A site meter and a device behind it never serve at the same time: the meter's baseline
	/// would pay again for the energy the device delivered.
	fn ensure_site_free(
		device: DeviceId,
		info: &DeviceInfo<T::AccountId>,
		start: UnixSeconds,
		end: UnixSeconds,
	) -> DispatchResult {
		let serves_then = |other: DeviceId| {
			Enrolments::<T>::get(other).is_some_and(|enrolment| {
				enrolment
					.schedule
					.iter()
					.any(|entry| entry.overlaps(start, end) && Self::event_is_live(entry.event))
			})
		};
		if let Some(meter) = info.site_meter {
			ensure!(!serves_then(meter), Error::<T>::SiteBusy);
		}
		if info.kind == DeviceKind::SmartMeter {
			for behind in T::Registry::devices_behind(device) {
				ensure!(!serves_then(behind), Error::<T>::SiteBusy);
			}
		}
		Ok(())
	}

	/// Whether an event can still measure or pay its participants.
	pub(crate) fn event_is_live(id: EventId) -> bool {
		Events::<T>::get(id).is_some_and(|event| !event.status.is_final())
	}

	/// Whether a schedule entry still binds its device: its event has not ended and is neither
	/// settled nor cancelled.
	fn still_scheduled(entry: &ScheduledEvent, now: UnixSeconds) -> bool {
		entry.end > now && Self::event_is_live(entry.event)
	}

	pub(crate) fn do_join(
		who: T::AccountId,
		id: EventId,
		device: DeviceId,
		committed_w: RatedWatts,
	) -> DispatchResult {
		let mut event = Events::<T>::get(id).ok_or(Error::<T>::UnknownEvent)?;
		ensure!(event.status == EventStatus::Scheduled, Error::<T>::WrongStatus);
		let now = Self::now();
		ensure!(now < event.spec.opt_in_deadline, Error::<T>::OptInClosed);

		let info = T::Registry::active_device(device).map_err(|_| Error::<T>::DeviceNotActive)?;
		let mut enrolment = Enrolments::<T>::get(device).ok_or(Error::<T>::NotEnrolled)?;
		let by = if who == info.owner {
			JoinedBy::Owner
		} else if who == info.gateway && enrolment.gateway_may_join {
			JoinedBy::Gateway
		} else {
			return Err(Error::<T>::NotAllowed.into());
		};

		ensure!(event.spec.regions.contains(&info.region), Error::<T>::RegionNotTargeted);
		ensure!(
			event.spec.eligible_kinds.contains(info.kind) && can_serve(info.kind, event.spec.kind),
			Error::<T>::KindNotEligible
		);
		ensure!(info.reputation_bp >= event.spec.min_reputation_bp, Error::<T>::ReputationTooLow);
		ensure!(committed_w > 0, Error::<T>::ZeroCommitment);
		if by == JoinedBy::Gateway {
			ensure!(committed_w <= enrolment.max_power_w, Error::<T>::BeyondConsent);
		}
		Self::check_capacity(&info, device, &event, committed_w, now)?;

		// One event at a time; entries of events that ended or were called off make room.
		let (start, end) = (event.spec.start, event.end());
		enrolment.schedule.retain(|entry| Self::still_scheduled(entry, now));
		ensure!(
			!enrolment.schedule.iter().any(|entry| entry.event == id),
			Error::<T>::AlreadyJoined
		);
		ensure!(
			!enrolment.schedule.iter().any(|entry| {
				entry.overlaps(
					start.saturating_sub(MIN_GAP_BETWEEN_EVENTS_S),
					end.saturating_add(MIN_GAP_BETWEEN_EVENTS_S),
				)
			}),
			Error::<T>::Overlapping
		);
		Self::ensure_site_free(device, &info, start, end)?;
		ensure!(event.joined < T::MaxParticipantsPerEvent::get(), Error::<T>::EventFull);
		let rank = RankKey::new(info.reputation_bp, committed_w, device);
		let entry = ScheduledEvent { event: id, start, end, rank };
		let position = enrolment.schedule.partition_point(|other| other.start < start);
		enrolment.schedule.try_insert(position, entry).map_err(|_| Error::<T>::TooManyScheduled)?;

		event.joined = event.joined.saturating_add(1);
		event.joined_w = event.joined_w.saturating_add(committed_w.into());
		Participants::<T>::insert(
			id,
			rank,
			Participant {
				device,
				joined_by: by,
				committed_w,
				storage: info
					.capability
					.storage_capacity_wh
					.filter(|_| info.kind.has_storage())
					.map(|capacity| (capacity, info.comfort.min_reserve_soc_bp)),
				selected: false,
				measurement: Default::default(),
				settlement: None,
			},
		);
		Enrolments::<T>::insert(device, enrolment);
		Events::<T>::insert(id, event);
		Self::deposit_event(Event::Joined { event: id, device, committed_w, by });
		Ok(())
	}

	/// The commitment must fit what the device can do now, over the whole event.
	fn check_capacity(
		info: &DeviceInfo<T::AccountId>,
		device: DeviceId,
		event: &EventOf<T>,
		committed_w: RatedWatts,
		now: u64,
	) -> DispatchResult {
		ensure!(
			comfort_allows(&info.comfort, event.spec.start, event.spec.duration_s),
			Error::<T>::OutsideDispatchWindows
		);
		let reading = T::Telemetry::latest_reading(device)
			.filter(|reading| {
				reading.plausible && reading.interval_end.saturating_add(FRESH_READING_S) >= now
			})
			.ok_or(Error::<T>::NoFreshTelemetry)?;
		let direction = event.spec.kind.direction();
		let offer = flexibility(info.kind, &info.capability, &info.comfort, &reading, direction);
		ensure!(u64::from(committed_w) <= offer.power_w, Error::<T>::BeyondFlexibility);
		if let Some(energy_wh) = offer.energy_wh {
			let needed_wh =
				u64::from(committed_w).saturating_mul(event.spec.duration_s.into()) / 3_600;
			ensure!(needed_wh <= energy_wh, Error::<T>::BeyondStoredEnergy);
		}
		Ok(())
	}

	pub(crate) fn do_leave(who: T::AccountId, id: EventId, device: DeviceId) -> DispatchResult {
		let mut event = Events::<T>::get(id).ok_or(Error::<T>::UnknownEvent)?;
		ensure!(
			event.status == EventStatus::Scheduled && Self::now() < event.spec.opt_in_deadline,
			Error::<T>::OptInClosed
		);
		let info = T::Registry::active_device(device).map_err(|_| Error::<T>::DeviceNotActive)?;
		let mut enrolment = Enrolments::<T>::get(device).ok_or(Error::<T>::NotEnrolled)?;
		ensure!(
			who == info.owner || (who == info.gateway && enrolment.gateway_may_join),
			Error::<T>::NotAllowed
		);
		let position = enrolment
			.schedule
			.iter()
			.position(|entry| entry.event == id)
			.ok_or(Error::<T>::NotJoined)?;
		let entry = enrolment.schedule.remove(position);
		let participant = Participants::<T>::take(id, entry.rank).ok_or(Error::<T>::NotJoined)?;
		event.joined = event.joined.saturating_sub(1);
		event.joined_w = event.joined_w.saturating_sub(participant.committed_w.into());
		Enrolments::<T>::insert(device, enrolment);
		Events::<T>::insert(id, event);
		Self::deposit_event(Event::Left { event: id, device });
		Ok(())
	}
}

/// A retired device's consent and history go; a suspended one keeps them (it may be
/// reinstated) but earns nothing while it is not active.
impl<T: Config> DeviceLifecycleHooks for Pallet<T> {
	fn on_device_deactivated(_: DeviceId) {}

	fn on_device_retired(device: DeviceId) {
		Self::forget_device(device);
	}

	fn on_device_changed(_: DeviceId) {}
}

/// A retired device costs the most when it is enrolled with a full day of hourly history; the
/// question whether a device is committed, when its schedule is full of events that have not
/// ended but are no longer live (each is looked up).
#[cfg(feature = "runtime-benchmarks")]
impl<T: Config> openvpp_primitives::LifecycleHooksBenchmarkHelper for Pallet<T> {
	fn make_worst_case(
		device: DeviceId,
		_: &openvpp_primitives::RegionCode,
		_: openvpp_primitives::DeviceKind,
	) {
		let far = Self::now().saturating_add(30 * 86_400);
		let schedule = (0..MAX_SCHEDULED_PER_DEVICE)
			.map(|slot| {
				let start = far.saturating_add(u64::from(slot) * 2 * 3_600);
				ScheduledEvent {
					// No such event: it is looked up and found not live.
					event: EventId::MAX - slot,
					start,
					end: start.saturating_add(3_600),
					rank: RankKey::new(0, 1, device),
				}
			})
			.collect::<alloc::vec::Vec<_>>();
		Enrolments::<T>::insert(
			device,
			Enrolment {
				gateway_may_join: true,
				max_power_w: 1_000,
				recent: Default::default(),
				schedule: frame_support::BoundedVec::truncate_from(schedule),
				event_days: Default::default(),
			},
		);
		let day = HourHistory::truncate_from(
			(0..=BASELINE_DAYS).map(|day| HourEnergy { day, net_import_wh: 1_000 }).collect(),
		);
		for hour in 0..24u8 {
			HourlyHistory::<T>::insert(device, hour, day.clone());
		}
	}
}

/// A device is committed while it is scheduled in an event that has neither ended nor been
/// settled or cancelled.
impl<T: Config> DeviceCommitments for Pallet<T> {
	fn is_committed(device: DeviceId) -> bool {
		let Some(enrolment) = Enrolments::<T>::get(device) else { return false };
		let now = Self::now();
		enrolment.schedule.iter().any(|entry| Self::still_scheduled(entry, now))
	}
}
