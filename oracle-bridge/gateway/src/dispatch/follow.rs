//! What the dispatcher reads from the chain, at a finalized block: each controlled device's
//! events and its part in them, the open events a gateway may join, and the facts a join is
//! decided on.

use std::collections::BTreeMap;

use codec::Decode;
use openvpp_primitives::{DeviceId, LatestDeviceReading, UnixSeconds};
use pallet_demand_response::{baseline, Enrolment, EventStatus, Progress};
use sp_core::H256;

use super::plan::{Assignment, DeviceFacts, EventFacts};
use crate::{
	chain::{Chain, ChainError},
	wire::storage::{self as keys, DeviceRecord, DrEvent, Participant},
};

pub(crate) async fn read<T: Decode>(
	chain: &Chain,
	what: &'static str,
	key: Vec<u8>,
	at: H256,
) -> Result<Option<T>, ChainError> {
	chain
		.storage_raw(key, Some(at))
		.await?
		.map(|bytes| {
			T::decode(&mut &bytes[..])
				.map_err(|e| ChainError::Decode { what, message: e.to_string() })
		})
		.transpose()
}

pub async fn enrolment(
	chain: &Chain,
	device: DeviceId,
	at: H256,
) -> Result<Option<Enrolment>, ChainError> {
	read(chain, "enrolment", keys::enrolment(device), at).await
}

pub async fn event(chain: &Chain, id: u32, at: H256) -> Result<Option<DrEvent>, ChainError> {
	read(chain, "demand-response event", keys::dr_event(id), at).await
}

/// An event's participants, in selection order.
pub async fn participants(
	chain: &Chain,
	event: u32,
	at: H256,
) -> Result<Vec<Participant>, ChainError> {
	let prefix = keys::participants_of(event);
	let mut out = Vec::new();
	for key in chain.storage_keys(&prefix, at).await? {
		if let Some(participant) = read(chain, "participant", key, at).await? {
			out.push(participant);
		}
	}
	Ok(out)
}

/// The events that are neither settled nor cancelled.
pub async fn open_events(chain: &Chain, at: H256) -> Result<Vec<(u32, DrEvent)>, ChainError> {
	let ids: Vec<u32> =
		read(chain, "open events", keys::open_events(), at).await?.unwrap_or_default();
	let mut events = Vec::with_capacity(ids.len());
	for id in ids {
		if let Some(event) = event(chain, id, at).await? {
			events.push((id, event));
		}
	}
	Ok(events)
}

/// A device's latest reading as the chain checks joins against it.
pub async fn latest_reading(
	chain: &Chain,
	device: DeviceId,
	at: H256,
) -> Result<Option<LatestDeviceReading>, ChainError> {
	Ok(chain.device_telemetry(device, Some(at)).await?.map(|state| LatestDeviceReading {
		interval_end: state.last_interval_end,
		average_power_w: state.latest.average_power_w,
		soc_bp: state.latest.soc_bp,
		device_state: state.latest.device_state,
		plausible: state.latest.plausibility.is_plausible(),
	}))
}

/// A device's events, and its baseline before the one in progress or next (W, positive =
/// delivered), as the chain states them at `at`.
pub struct Schedule {
	pub assignments: Vec<Assignment>,
	/// The meter-before baseline of the next or current event: the one the chain fixed at the
	/// device's first interval in it, else the one its recent intervals give now; `None`
	/// without intervals before it.
	pub baseline_w: Option<i64>,
	/// Whether `baseline_w` is the one the chain fixed.
	pub baseline_fixed: bool,
}

/// Reads a device's schedule; events are looked up once per block through `events`.
pub async fn schedule(
	chain: &Chain,
	enrolment: &Enrolment,
	at: H256,
	events: &mut BTreeMap<u32, Option<DrEvent>>,
) -> Result<Schedule, ChainError> {
	let mut assignments = Vec::new();
	let mut fixed: BTreeMap<u32, i64> = BTreeMap::new();
	for entry in &enrolment.schedule {
		if let std::collections::btree_map::Entry::Vacant(slot) = events.entry(entry.event) {
			slot.insert(event(chain, entry.event, at).await?);
		}
		let Some(Some(record)) = events.get(&entry.event) else { continue };
		let key = keys::participant(entry.event, &entry.rank);
		let participant: Option<Participant> = read(chain, "participant", key, at).await?;
		let Some(participant) = participant else { continue };
		if let Some(pallet_demand_response::Baseline::MeterBefore { net_import_w }) =
			participant.measurement.baseline
		{
			fixed.insert(entry.event, net_import_w.saturating_neg());
		}
		let decided = !matches!(record.progress, Progress::OptIn | Progress::Selecting { .. });
		assignments.push(Assignment {
			event: entry.event,
			kind: record.spec.kind,
			start_s: entry.start,
			end_s: entry.end,
			committed_w: participant.committed_w,
			selected: decided.then_some(participant.selected),
			live: !matches!(record.status, EventStatus::Cancelled | EventStatus::Settled),
		});
	}
	let next: Option<&Assignment> = assignments.iter().min_by_key(|a| a.start_s);
	let (baseline_w, baseline_fixed) = match next.and_then(|a| fixed.get(&a.event)) {
		Some(fixed) => (Some(*fixed), true),
		None => {
			let start: Option<UnixSeconds> = next.map(|a| a.start_s);
			let measured = start.and_then(|start| baseline::meter_before(&enrolment.recent, start));
			(measured.map(|net_import_w| net_import_w.saturating_neg()), false)
		}
	};
	Ok(Schedule { assignments, baseline_w, baseline_fixed })
}

/// What the chain knows of a device for a join decision.
pub async fn device_facts(
	chain: &Chain,
	device: DeviceId,
	enrolment: Option<&Enrolment>,
	at: H256,
) -> Result<Option<DeviceFacts>, ChainError> {
	let record: Option<DeviceRecord> =
		read(chain, "device record", keys::device(device), at).await?;
	let Some(record) = record else { return Ok(None) };
	Ok(Some(DeviceFacts {
		kind: record.kind,
		region: record.region,
		reputation_bp: record.credit.reputation_bp,
		capability: record.capability,
		comfort: record.comfort,
		reading: latest_reading(chain, device, at).await?,
		consent: enrolment.map(|e| (e.gateway_may_join, e.max_power_w)),
		schedule: enrolment
			.map(|e| e.schedule.iter().map(|s| (s.event, s.start, s.end)).collect())
			.unwrap_or_default(),
	}))
}

/// An event as a join decision for a device of `facts` sees it.
pub fn event_facts(id: u32, event: &DrEvent, facts: &DeviceFacts) -> EventFacts {
	EventFacts {
		id,
		status: event.status,
		kind: event.spec.kind,
		regions: event.spec.regions.to_vec(),
		eligible: event.spec.eligible_kinds.contains(facts.kind),
		opt_in_deadline: event.spec.opt_in_deadline,
		start: event.spec.start,
		duration_s: event.spec.duration_s,
		min_reputation_bp: event.spec.min_reputation_bp,
	}
}
