//! What the dispatcher asks of each device, and which events it joins for it: pure functions
//! of what the chain says, so that they are tested without a chain or a device.
//!
//! A device holds, during an event it was selected for, the grid power its baseline plus (for
//! reduce-load and discharge) or minus (for absorb) its commitment: the chain measures delivery
//! against the same meter-before baseline, so this is what earns the commitment. Outside
//! events it is released to its own behaviour. A discharge stops when the state of charge
//! reaches the owner's reserve, whatever the device would do.

use openvpp_primitives::{
	comfort_allows, flexibility, BasisPoints, Capability, ComfortLimits, DeviceKind, Direction,
	EventKind, LatestDeviceReading, RegionCode, UnixSeconds,
};
use pallet_demand_response::types::{EventStatus, MIN_GAP_BETWEEN_EVENTS_S};

/// A device's part in one event, as the chain states it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Assignment {
	pub event: u32,
	pub kind: EventKind,
	pub start_s: UnixSeconds,
	pub end_s: UnixSeconds,
	pub committed_w: u32,
	/// `None` until the selection reached the device; `Some(false)`: not selected.
	pub selected: Option<bool>,
	/// Neither cancelled nor settled.
	pub live: bool,
}

/// What a device should do now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
	/// Keep the device's grid power at `power_w` (positive = delivered) until `until_s`.
	Hold { event: u32, direction: Direction, power_w: i64, until_s: UnixSeconds },
	/// Its own behaviour.
	Release,
}

/// Seconds a device keeps a command past the event's end by itself (the revert timeout's
/// margin): long enough for the bridge's own release to arrive first.
pub const REVERT_MARGIN_S: u64 = 60;

/// The target at `now_s`: the event in progress the device was selected for, if any.
/// `baseline_w` is its power before the event (positive = delivered); `soc_bp` its state of
/// charge now and `reserve_bp` the owner's reserve.
pub fn target(
	assignments: &[Assignment],
	baseline_w: Option<i64>,
	soc_bp: Option<BasisPoints>,
	reserve_bp: BasisPoints,
	now_s: UnixSeconds,
) -> Target {
	let Some(current) = in_progress(assignments, now_s) else {
		return Target::Release;
	};
	let direction = current.kind.direction();
	if direction == Direction::Up && soc_bp.is_some_and(|soc| soc <= reserve_bp) {
		return Target::Release;
	}
	let baseline = baseline_w.unwrap_or(0);
	let committed = i64::from(current.committed_w);
	let power_w = match direction {
		Direction::Up => baseline.saturating_add(committed),
		Direction::Down => baseline.saturating_sub(committed),
	};
	Target::Hold { event: current.event, direction, power_w, until_s: current.end_s }
}

/// The event the device serves at `now_s`, if any.
pub fn in_progress(assignments: &[Assignment], now_s: UnixSeconds) -> Option<&Assignment> {
	assignments
		.iter()
		.find(|a| a.live && a.selected == Some(true) && a.start_s <= now_s && now_s < a.end_s)
}

/// The next instant after `now_s` at which a target may change (a start or an end of an event
/// the device is, or may be, selected for): the dispatcher wakes then, so that a device acts at
/// the start by the bridge's clock rather than at its next look at the chain.
pub fn next_change(assignments: &[Assignment], now_s: UnixSeconds) -> Option<UnixSeconds> {
	assignments
		.iter()
		.filter(|a| a.live && a.selected != Some(false))
		.flat_map(|a| [a.start_s, a.end_s])
		.filter(|at| *at > now_s)
		.min()
}

/// The revert timeout to write with a hold at `now_s` (s).
pub fn revert_after_s(until_s: UnixSeconds, now_s: UnixSeconds) -> u32 {
	u32::try_from(until_s.saturating_sub(now_s).saturating_add(REVERT_MARGIN_S)).unwrap_or(u32::MAX)
}

/// A charger's current limit (A) for a hold at `power_w`: what it may draw; below the 6 A a
/// charging session needs it pauses (0).
pub fn charger_current_a(power_w: i64, watts_per_amp: f64, max_a: f64) -> f64 {
	let amps = ((-power_w).max(0) as f64 / watts_per_amp).min(max_a);
	if amps < MIN_CHARGING_CURRENT_A {
		0.0
	} else {
		amps.floor()
	}
}

/// The least current (A) an IEC 61851 charging session runs at.
pub const MIN_CHARGING_CURRENT_A: f64 = 6.0;

/// Share of the device's flexibility the gateway commits (percent) at its first attempt: the
/// reading the chain checks a join against may be replaced by the next report before the
/// join is included (and a short interval's average power moves in steps of 1 Wh per
/// interval). Each later attempt commits [`COMMIT_SHARE_STEP_PERCENT`] less.
pub const COMMIT_SHARE_PERCENT: u64 = 90;
pub const COMMIT_SHARE_STEP_PERCENT: u64 = 20;
/// Attempts to join one event for one device, when the chain refuses for the reading's sake.
pub const MAX_JOIN_ATTEMPTS: u32 = 3;

/// How old (s, beyond its end) a device's latest reading may be for a join: the chain's rule.
pub const FRESH_READING_S: u64 = 2 * 3_600;

/// What the chain knows of a device that decides whether it can join an event.
#[derive(Debug, Clone)]
pub struct DeviceFacts {
	pub kind: DeviceKind,
	pub region: RegionCode,
	pub reputation_bp: BasisPoints,
	pub capability: Capability,
	pub comfort: ComfortLimits,
	pub reading: Option<LatestDeviceReading>,
	/// The owner's consent: whether the gateway may join, and up to how much power (W).
	pub consent: Option<(bool, u32)>,
	/// The device's scheduled events: (event, start, end).
	pub schedule: Vec<(u32, UnixSeconds, UnixSeconds)>,
}

/// What an event asks, for a join decision.
#[derive(Debug, Clone)]
pub struct EventFacts {
	pub id: u32,
	pub status: EventStatus,
	pub kind: EventKind,
	pub regions: Vec<RegionCode>,
	pub eligible: bool,
	pub opt_in_deadline: UnixSeconds,
	pub start: UnixSeconds,
	pub duration_s: u32,
	pub min_reputation_bp: BasisPoints,
}

/// The commitment (W) the gateway joins `event` with for a device, if it should: the owner
/// consented to gateway joins, the event is open and targets the device, and the device can
/// deliver something over the whole event now. The commitment is the least of the consent's
/// limit and a share of the device's flexibility (power, and for storage the energy above its
/// reserve spread over the event): [`COMMIT_SHARE_PERCENT`] at the first `attempt` (0), less
/// at each later one.
pub fn join_commitment(
	device: &DeviceFacts,
	event: &EventFacts,
	now_s: UnixSeconds,
	attempt: u32,
) -> Option<u32> {
	let (gateway_may_join, max_power_w) = device.consent?;
	let end = event.start.saturating_add(event.duration_s.into());
	let open = event.status == EventStatus::Scheduled && now_s < event.opt_in_deadline;
	let targeted = event.eligible
		&& event.regions.contains(&device.region)
		&& device.reputation_bp >= event.min_reputation_bp
		&& comfort_allows(&device.comfort, event.start, event.duration_s);
	let free = device.schedule.iter().all(|(id, start, finish)| {
		*id != event.id
			&& !(*start < end.saturating_add(MIN_GAP_BETWEEN_EVENTS_S)
				&& event.start.saturating_sub(MIN_GAP_BETWEEN_EVENTS_S) < *finish)
	});
	if !(gateway_may_join && open && targeted && free) {
		return None;
	}
	let reading = device
		.reading
		.filter(|r| r.plausible && r.interval_end.saturating_add(FRESH_READING_S) >= now_s)?;
	let offer = flexibility(
		device.kind,
		&device.capability,
		&device.comfort,
		&reading,
		event.kind.direction(),
	);
	let mut power_w = offer.power_w;
	if let Some(energy_wh) = offer.energy_wh {
		let duration_s = u64::from(event.duration_s.max(1));
		power_w = power_w.min(energy_wh.saturating_mul(3_600) / duration_s);
	}
	let share = COMMIT_SHARE_PERCENT
		.saturating_sub(COMMIT_SHARE_STEP_PERCENT.saturating_mul(attempt.into()))
		.max(10);
	let committed = (power_w.saturating_mul(share) / 100).min(max_power_w.into());
	u32::try_from(committed).ok().filter(|w| *w > 0)
}

#[cfg(test)]
mod tests {
	use super::*;
	use openvpp_primitives::DeviceState;

	fn discharge(selected: Option<bool>) -> Assignment {
		Assignment {
			event: 1,
			kind: EventKind::DischargeStorage,
			start_s: 1_000,
			end_s: 1_900,
			committed_w: 3_000,
			selected,
			live: true,
		}
	}

	fn hold(power_w: i64, direction: Direction) -> Target {
		Target::Hold { event: 1, direction, power_w, until_s: 1_900 }
	}

	#[test]
	fn a_selected_device_holds_baseline_plus_commitment_during_the_event() {
		let a = [discharge(Some(true))];
		assert_eq!(target(&a, Some(-1_000), Some(6_000), 2_000, 999), Target::Release);
		assert_eq!(target(&a, Some(-1_000), Some(6_000), 2_000, 1_000), hold(2_000, Direction::Up));
		assert_eq!(target(&a, Some(-1_000), Some(6_000), 2_000, 1_900), Target::Release);
		// Not selected, not yet selected, cancelled: released.
		assert_eq!(target(&[discharge(Some(false))], None, None, 0, 1_500), Target::Release);
		assert_eq!(target(&[discharge(None)], None, None, 0, 1_500), Target::Release);
		let cancelled = Assignment { live: false, ..discharge(Some(true)) };
		assert_eq!(target(&[cancelled], None, None, 0, 1_500), Target::Release);
		// At the reserve a discharge stops.
		assert_eq!(target(&a, Some(0), Some(2_000), 2_000, 1_500), Target::Release);
		// Absorbing: baseline minus commitment, whatever the state of charge.
		let absorb = Assignment { kind: EventKind::AbsorbCharge, ..discharge(Some(true)) };
		assert_eq!(
			target(&[absorb], Some(500), Some(1_000), 2_000, 1_500),
			hold(-2_500, Direction::Down)
		);
	}

	#[test]
	fn the_dispatcher_wakes_at_the_next_start_or_end() {
		let a = [discharge(Some(true))];
		assert_eq!(next_change(&a, 0), Some(1_000));
		assert_eq!(next_change(&a, 1_000), Some(1_900));
		assert_eq!(next_change(&a, 1_900), None);
		// Not selected: nothing to wake for; not yet decided: its start.
		assert_eq!(next_change(&[discharge(Some(false))], 0), None);
		assert_eq!(next_change(&[discharge(None)], 0), Some(1_000));
	}

	#[test]
	fn timeouts_and_charger_currents() {
		assert_eq!(revert_after_s(1_900, 1_000), 960);
		assert_eq!(revert_after_s(1_000, 1_900), 60);
		assert_eq!(charger_current_a(-5_500, 687.5, 16.0), 8.0);
		assert_eq!(charger_current_a(-3_000, 687.5, 16.0), 0.0);
		assert_eq!(charger_current_a(-20_000, 687.5, 16.0), 16.0);
		assert_eq!(charger_current_a(1_000, 687.5, 16.0), 0.0);
	}

	fn battery() -> DeviceFacts {
		DeviceFacts {
			kind: DeviceKind::HomeBattery,
			region: RegionCode::truncate_from(b"DE-TENNET".to_vec()),
			reputation_bp: 5_000,
			capability: Capability {
				rated_power_w: 5_000,
				max_charge_w: Some(5_000),
				max_discharge_w: Some(5_000),
				storage_capacity_wh: Some(20_000),
			},
			comfort: ComfortLimits {
				min_reserve_soc_bp: 2_000,
				dispatch_windows: Default::default(),
			},
			reading: Some(LatestDeviceReading {
				interval_end: 900,
				average_power_w: 0,
				soc_bp: Some(6_000),
				device_state: DeviceState::Operating,
				plausible: true,
			}),
			consent: Some((true, 4_000)),
			schedule: Vec::new(),
		}
	}

	fn event() -> EventFacts {
		EventFacts {
			id: 7,
			status: EventStatus::Scheduled,
			kind: EventKind::DischargeStorage,
			regions: vec![RegionCode::truncate_from(b"DE-TENNET".to_vec())],
			eligible: true,
			opt_in_deadline: 1_200,
			start: 1_800,
			duration_s: 3_600,
			min_reputation_bp: 0,
		}
	}

	#[test]
	fn the_gateway_commits_within_consent_power_and_stored_energy() {
		// 5 kW of discharge, but consent stops at 4 kW.
		assert_eq!(join_commitment(&battery(), &event(), 1_000, 0), Some(4_000));
		// 40 % of 20 kWh above the reserve over three hours is 2 666 W (rounded down); 90 % of it is committed.
		let long = EventFacts { duration_s: 10_800, ..event() };
		assert_eq!(join_commitment(&battery(), &long, 1_000, 0), Some(2_399));
		// A later attempt commits less.
		assert_eq!(join_commitment(&battery(), &long, 1_000, 1), Some(1_866));
		// At the reserve there is nothing to give.
		let mut empty = battery();
		empty.reading = empty.reading.map(|r| LatestDeviceReading { soc_bp: Some(2_000), ..r });
		assert_eq!(join_commitment(&empty, &event(), 1_000, 0), None);
	}

	#[test]
	fn the_gateway_stays_out_where_the_chain_would_refuse() {
		let device = battery();
		assert_eq!(join_commitment(&device, &event(), 1_200, 0), None, "opt-in closed");
		let active = EventFacts { status: EventStatus::Active, ..event() };
		assert_eq!(join_commitment(&device, &active, 1_000, 0), None);
		let elsewhere = EventFacts { regions: Vec::new(), ..event() };
		assert_eq!(join_commitment(&device, &elsewhere, 1_000, 0), None);
		let ineligible = EventFacts { eligible: false, ..event() };
		assert_eq!(join_commitment(&device, &ineligible, 1_000, 0), None);
		let picky = EventFacts { min_reputation_bp: 6_000, ..event() };
		assert_eq!(join_commitment(&device, &picky, 1_000, 0), None);
		let no_consent = DeviceFacts { consent: Some((false, 4_000)), ..battery() };
		assert_eq!(join_commitment(&no_consent, &event(), 1_000, 0), None);
		let not_enrolled = DeviceFacts { consent: None, ..battery() };
		assert_eq!(join_commitment(&not_enrolled, &event(), 1_000, 0), None);
		// Already in it, or in one within an hour of it.
		let joined = DeviceFacts { schedule: vec![(7, 1_800, 5_400)], ..battery() };
		assert_eq!(join_commitment(&joined, &event(), 1_000, 0), None);
		let busy = DeviceFacts { schedule: vec![(3, 6_000, 7_000)], ..battery() };
		assert_eq!(join_commitment(&busy, &event(), 1_000, 0), None);
		let later = DeviceFacts { schedule: vec![(3, 9_100, 9_900)], ..battery() };
		assert_eq!(join_commitment(&later, &event(), 1_000, 0), Some(4_000));
		// A stale reading.
		assert_eq!(join_commitment(&device, &event(), 900 + FRESH_READING_S + 1, 0), None);
	}
}
