//! Demand-response events and their participants.

use alloc::vec::Vec;
use openvpp_primitives::{DeviceKind, EventStatus, RegionCode};
use openvpp_runtime_api::{
	page_limit, DrEventDetail, DrEventPage, DrEventView, ParticipantView, MAX_EVENT_SCAN,
};
use pallet_demand_response::{EventId, EventOf, Events, NextEventId, ParticipantOf, Participants};

use crate::{AccountId, Runtime};

fn participant_view(participant: ParticipantOf<Runtime>) -> ParticipantView {
	let measurement = participant.measurement;
	ParticipantView {
		device: participant.device,
		joined_by: participant.joined_by,
		committed_w: participant.committed_w,
		selected: participant.selected,
		baseline: measurement.baseline,
		delivered_wh: measurement.delivered_wh,
		responding_intervals: measurement.responding_intervals,
		overridden_intervals: measurement.overridden_intervals,
		idle_intervals: measurement.idle_intervals,
		flagged_intervals: measurement.flagged_intervals,
		unmeasured_intervals: measurement.unmeasured_intervals,
		performance_bp: participant.settlement.map(|settlement| settlement.performance_bp),
		paid_planck: participant.settlement.map(|settlement| settlement.paid),
	}
}

fn event_view(id: EventId, event: EventOf<Runtime>) -> DrEventView<AccountId> {
	let measured_delivery_wh = match event.status {
		// Nothing is measured before the start.
		EventStatus::Scheduled => 0,
		// Settlement added up every participant's measurement.
		EventStatus::Settled => event.delivered_wh,
		// The participants' measurements so far: at most the event's participant limit to
		// read, and at most `MaxOpenEvents` events are active or completed at a time.
		EventStatus::Active | EventStatus::Completed | EventStatus::Cancelled => {
			Participants::<Runtime>::iter_prefix_values(id).fold(0u64, |sum, participant| {
				sum.saturating_add(participant.measurement.delivered_wh)
			})
		}
	};
	let end = event.end();
	let spec = event.spec;
	DrEventView {
		id,
		operator: event.operator,
		kind: spec.kind,
		regions: spec.regions.into_iter().map(|region| region.into_inner()).collect(),
		eligible_kinds: DeviceKind::ALL
			.into_iter()
			.filter(|kind| spec.eligible_kinds.contains(*kind))
			.collect(),
		opt_in_deadline: spec.opt_in_deadline,
		start: spec.start,
		end,
		interval_length_s: spec.interval_length_s,
		target_power_w: spec.target_power_w,
		price_per_kwh_planck: spec.price_per_kwh,
		min_reputation_bp: spec.min_reputation_bp,
		max_participants: spec.max_participants,
		status: event.status,
		escrow_planck: event.escrow,
		paid_planck: event.paid,
		joined_devices: event.joined,
		joined_w: event.joined_w,
		selected_devices: event.selected,
		selected_w: event.selected_w,
		measured_delivery_wh,
		settled_delivery_wh: event.delivered_wh,
	}
}

/// Events newest first, looking at no more than [`MAX_EVENT_SCAN`] ids.
pub fn dr_events(
	status: Option<EventStatus>,
	region: Option<RegionCode>,
	before: Option<EventId>,
	limit: u32,
) -> DrEventPage<AccountId> {
	let limit = page_limit(limit);
	let next_id = NextEventId::<Runtime>::get();
	let first = before.unwrap_or(next_id).min(next_id);
	let mut events = Vec::new();
	let mut id = first;
	let mut scanned = 0u32;
	while id > 1 && events.len() < limit && scanned < MAX_EVENT_SCAN {
		id = id.saturating_sub(1);
		scanned = scanned.saturating_add(1);
		let Some(event) = Events::<Runtime>::get(id) else { continue };
		if status.is_some_and(|wanted| event.status != wanted) {
			continue;
		}
		if region.as_ref().is_some_and(|wanted| !event.spec.regions.contains(wanted)) {
			continue;
		}
		events.push(event_view(id, event));
	}
	let next = if id > 1 { Some(id) } else { None };
	DrEventPage { events, next }
}

pub fn dr_event(id: EventId, after: Option<u32>, limit: u32) -> Option<DrEventDetail<AccountId>> {
	let event = Events::<Runtime>::get(id)?;
	let limit = page_limit(limit);
	let skip = after.map_or(0, |position| position.saturating_add(1)) as usize;
	let mut participants: Vec<ParticipantView> = Participants::<Runtime>::iter_prefix_values(id)
		.skip(skip)
		.take(limit.saturating_add(1))
		.map(participant_view)
		.collect();
	let next = if participants.len() > limit {
		participants.truncate(limit);
		Some((skip.saturating_add(limit).saturating_sub(1)) as u32)
	} else {
		None
	};
	Some(DrEventDetail { now: super::now(), event: event_view(id, event), participants, next })
}
