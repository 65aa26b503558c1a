use frame_support::{
	assert_noop, assert_ok,
	traits::fungible::{Inspect, InspectHold},
	weights::Weight,
};
use openvpp_primitives::{
	DeviceCommitments, DeviceKind, EventKind, GridResponseStatus, KindSet, MeasuredInterval,
	MeasurementSink, Participation,
};
use sp_runtime::{BoundedVec, DispatchError};

use crate::{mock::*, pallet::*, types::*, Error, Event as DrEvent, WeightModel};

const BATTERY: u32 = 10;
const NO_SHOW: u32 = 11;
const METER: u32 = 20;
const PRICE: Balance = 1_000_000;
const HOUR: u64 = 3_600;

fn spec() -> EventSpecOf<Test> {
	EventSpec {
		kind: EventKind::DischargeStorage,
		regions: BoundedVec::try_from(vec![region()]).expect("one"),
		eligible_kinds: KindSet::of(&[DeviceKind::HomeBattery, DeviceKind::SmartMeter]),
		opt_in_deadline: NOW + 600,
		start: NOW + HOUR,
		duration_s: 3_600,
		interval_length_s: 900,
		target_power_w: 10_000,
		price_per_kwh: PRICE,
		min_reputation_bp: 0,
		max_participants: 10,
	}
}

fn escrow_of(spec: &EventSpecOf<Test>) -> Balance {
	DemandResponse::escrow_for(spec).expect("fits")
}

fn create(spec: EventSpecOf<Test>) -> EventId {
	if !Operators::<Test>::contains_key(OPERATOR) {
		assert_ok!(DemandResponse::add_operator(RuntimeOrigin::root(), OPERATOR));
	}
	assert_ok!(DemandResponse::create_event(RuntimeOrigin::signed(OPERATOR), spec));
	NextEventId::<Test>::get() - 1
}

/// A battery charging at 1 kW with 60 % stored, enrolled with gateway consent up to 5 kW.
fn enrolled_battery(id: u32, owner: AccountId, reputation_bp: u16) {
	add_device(id, battery(owner, reputation_bp));
	set_reading(id, -1_000, Some(6_000));
	assert_ok!(DemandResponse::enrol(RuntimeOrigin::signed(owner), id, true, 5_000));
}

#[allow(clippy::too_many_arguments)]
fn feed(
	device: u32,
	kind: DeviceKind,
	start: u64,
	imported: u64,
	exported: u64,
	soc: Option<u16>,
	response: GridResponseStatus,
	plausible: bool,
) {
	let interval = MeasuredInterval {
		interval_start: start,
		interval_length_s: 900,
		energy_imported_wh: imported,
		energy_exported_wh: exported,
		soc_bp: soc,
		grid_response: response,
		plausible,
	};
	DemandResponse::on_measured_interval(device, kind, &interval);
}

fn battery_interval(
	device: u32,
	start: u64,
	imported: u64,
	exported: u64,
	soc: u16,
	r: GridResponseStatus,
) {
	feed(device, DeviceKind::HomeBattery, start, imported, exported, Some(soc), r, true);
}

fn participant(event: EventId, device: u32) -> Option<Participant<Balance>> {
	Participants::<Test>::iter_prefix_values(event).find(|p| p.device == device)
}

fn events() -> Vec<DrEvent<Test>> {
	System::events()
		.into_iter()
		.filter_map(|record| match record.event {
			RuntimeEvent::DemandResponse(event) => Some(event),
			_ => None,
		})
		.collect()
}

fn held(who: AccountId) -> Balance {
	Balances::balance_on_hold(&RuntimeHoldReason::DemandResponse(HoldReason::EventEscrow), &who)
}

// ---- operators ----

#[test]
fn the_admin_appoints_and_removes_operators() {
	run_test(|| {
		assert_noop!(
			DemandResponse::add_operator(RuntimeOrigin::signed(OTHER), OPERATOR),
			DispatchError::BadOrigin
		);
		assert_ok!(DemandResponse::add_operator(RuntimeOrigin::root(), OPERATOR));
		assert_noop!(
			DemandResponse::add_operator(RuntimeOrigin::root(), OPERATOR),
			Error::<Test>::AlreadyOperator
		);
		assert_ok!(DemandResponse::remove_operator(RuntimeOrigin::root(), OPERATOR));
		assert_noop!(
			DemandResponse::remove_operator(RuntimeOrigin::root(), OPERATOR),
			Error::<Test>::NotOperator
		);
		assert_eq!(
			events(),
			vec![
				DrEvent::OperatorAdded { operator: OPERATOR },
				DrEvent::OperatorRemoved { operator: OPERATOR }
			]
		);
	});
}

// ---- creating and cancelling ----

#[test]
fn creating_an_event_holds_the_most_it_can_pay() {
	run_test(|| {
		let id = create(spec());
		// 10 kW for an hour with 10 % tolerance: 11 kWh at 1 000 000 per kWh.
		assert_eq!(escrow_of(&spec()), 11_000_000);
		assert_eq!(held(OPERATOR), 11_000_000);
		let event = Events::<Test>::get(id).expect("stored");
		assert_eq!(event.status, EventStatus::Scheduled);
		assert_eq!(event.end(), NOW + 2 * HOUR);
		assert_eq!(OpenEvents::<Test>::get().into_inner(), vec![id]);
		assert!(events().contains(&DrEvent::EventCreated {
			event: id,
			operator: OPERATOR,
			kind: EventKind::DischargeStorage,
			start: NOW + HOUR,
			end: NOW + 2 * HOUR,
			target_power_w: 10_000,
			escrow: 11_000_000,
		}));
	});
}

#[test]
fn every_malformed_event_is_refused_with_its_reason() {
	run_test(|| {
		assert_ok!(DemandResponse::add_operator(RuntimeOrigin::root(), OPERATOR));
		let refuse = |spec: EventSpecOf<Test>, error: Error<Test>| {
			assert_noop!(
				DemandResponse::create_event(RuntimeOrigin::signed(OPERATOR), spec),
				error
			);
		};
		assert_noop!(
			DemandResponse::create_event(RuntimeOrigin::signed(OTHER), spec()),
			Error::<Test>::NotOperator
		);
		refuse(EventSpec { regions: BoundedVec::new(), ..spec() }, Error::<Test>::NoRegions);
		let bad_region = BoundedVec::try_from(b"de tennet".to_vec()).expect("short");
		refuse(
			EventSpec { regions: BoundedVec::try_from(vec![bad_region]).expect("one"), ..spec() },
			Error::<Test>::InvalidRegion,
		);
		refuse(
			EventSpec {
				regions: BoundedVec::try_from(vec![region(), region()]).expect("two"),
				..spec()
			},
			Error::<Test>::DuplicateRegion,
		);
		refuse(EventSpec { eligible_kinds: KindSet(0), ..spec() }, Error::<Test>::InvalidKinds);
		refuse(EventSpec { eligible_kinds: KindSet(0xff), ..spec() }, Error::<Test>::InvalidKinds);
		refuse(
			EventSpec { eligible_kinds: KindSet::of(&[DeviceKind::RooftopSolar]), ..spec() },
			Error::<Test>::KindsCannotServe,
		);
		refuse(
			EventSpec {
				eligible_kinds: KindSet::of(&[DeviceKind::EvCharger]),
				kind: EventKind::DischargeStorage,
				..spec()
			},
			Error::<Test>::KindsCannotServe,
		);
		refuse(EventSpec { opt_in_deadline: NOW, ..spec() }, Error::<Test>::InvalidDeadline);
		refuse(
			EventSpec { opt_in_deadline: NOW + HOUR + 1, ..spec() },
			Error::<Test>::InvalidDeadline,
		);
		refuse(EventSpec { start: NOW + 8 * 86_400, ..spec() }, Error::<Test>::StartTooFarAhead);
		refuse(EventSpec { interval_length_s: 30, ..spec() }, Error::<Test>::InvalidInterval);
		refuse(EventSpec { interval_length_s: 7_200, ..spec() }, Error::<Test>::InvalidInterval);
		refuse(EventSpec { duration_s: 0, ..spec() }, Error::<Test>::InvalidDuration);
		refuse(EventSpec { duration_s: 1_000, ..spec() }, Error::<Test>::InvalidDuration);
		refuse(EventSpec { duration_s: 5 * 3_600, ..spec() }, Error::<Test>::InvalidDuration);
		refuse(EventSpec { target_power_w: 0, ..spec() }, Error::<Test>::ZeroAmount);
		refuse(EventSpec { price_per_kwh: 0, ..spec() }, Error::<Test>::ZeroAmount);
		refuse(EventSpec { max_participants: 0, ..spec() }, Error::<Test>::ZeroAmount);
		refuse(EventSpec { max_participants: 51, ..spec() }, Error::<Test>::TooManyParticipants);
		refuse(EventSpec { min_reputation_bp: 10_001, ..spec() }, Error::<Test>::InvalidReputation);
		refuse(
			EventSpec { price_per_kwh: Balance::MAX / 2, target_power_w: u64::MAX, ..spec() },
			Error::<Test>::EscrowOverflow,
		);
		assert_ok!(DemandResponse::add_operator(RuntimeOrigin::root(), POOR_OPERATOR));
		assert_noop!(
			DemandResponse::create_event(RuntimeOrigin::signed(POOR_OPERATOR), spec()),
			Error::<Test>::CannotHoldEscrow
		);
	});
}

#[test]
fn open_events_are_bounded() {
	run_test(|| {
		for _ in 0..4 {
			create(spec());
		}
		assert_noop!(
			DemandResponse::create_event(RuntimeOrigin::signed(OPERATOR), spec()),
			Error::<Test>::TooManyOpenEvents
		);
	});
}

#[test]
fn cancelling_refunds_the_escrow_and_releases_the_devices() {
	run_test(|| {
		enrolled_battery(BATTERY, OWNER, 5_000);
		let id = create(spec());
		assert_ok!(DemandResponse::join_event(RuntimeOrigin::signed(OWNER), id, BATTERY, 3_000));
		assert_noop!(
			DemandResponse::cancel_event(RuntimeOrigin::signed(OTHER), id),
			Error::<Test>::NotEventOperator
		);
		assert_noop!(
			DemandResponse::cancel_event(RuntimeOrigin::signed(OPERATOR), 99),
			Error::<Test>::UnknownEvent
		);
		let before = Balances::balance(&OPERATOR);
		assert_ok!(DemandResponse::cancel_event(RuntimeOrigin::signed(OPERATOR), id));
		assert_eq!(held(OPERATOR), 0);
		assert_eq!(Balances::balance(&OPERATOR), before + 11_000_000);
		assert_eq!(Events::<Test>::get(id).expect("kept").status, EventStatus::Cancelled);
		assert!(OpenEvents::<Test>::get().is_empty());
		assert!(events().contains(&DrEvent::EventCancelled { event: id, refunded: 11_000_000 }));
		assert_noop!(
			DemandResponse::cancel_event(RuntimeOrigin::signed(OPERATOR), id),
			Error::<Test>::WrongStatus
		);
		// Released: the device can join an event at the same time, and leave consent.
		let other = create(spec());
		assert_ok!(DemandResponse::join_event(RuntimeOrigin::signed(OWNER), other, BATTERY, 3_000));
		// Its reports in the cancelled window measure nothing for the cancelled event.
		battery_interval(BATTERY, NOW + HOUR, 0, 750, 5_500, GridResponseStatus::Responding);
		assert_eq!(participant(id, BATTERY).expect("kept").measurement, Default::default());
	});
}

#[test]
fn the_admin_may_cancel_a_running_event_but_nobody_an_ended_one() {
	run_test(|| {
		let id = create(spec());
		poll_at(NOW + HOUR + 60);
		assert_eq!(Events::<Test>::get(id).expect("kept").status, EventStatus::Active);
		assert_ok!(DemandResponse::cancel_event(RuntimeOrigin::root(), id));

		let ended = create(EventSpec {
			opt_in_deadline: NOW + HOUR + 600,
			start: NOW + 2 * HOUR,
			..spec()
		});
		poll_at(NOW + 3 * HOUR);
		assert_noop!(
			DemandResponse::cancel_event(RuntimeOrigin::signed(OPERATOR), ended),
			Error::<Test>::WrongStatus
		);
	});
}

// ---- consent ----

#[test]
fn owners_enrol_and_unenrol_their_devices() {
	run_test(|| {
		add_device(BATTERY, battery(OWNER, 5_000));
		assert_noop!(
			DemandResponse::enrol(RuntimeOrigin::signed(OWNER), BATTERY, true, 1_000),
			Error::<Test>::NoTelemetryYet
		);
		set_reading(BATTERY, -1_000, Some(6_000));
		assert_noop!(
			DemandResponse::enrol(RuntimeOrigin::signed(OTHER), BATTERY, true, 1_000),
			Error::<Test>::NotAllowed
		);
		assert_noop!(
			DemandResponse::enrol(RuntimeOrigin::signed(OWNER), 99, true, 1_000),
			Error::<Test>::DeviceNotActive
		);
		assert_ok!(DemandResponse::enrol(RuntimeOrigin::signed(OWNER), BATTERY, true, 1_000));
		assert!(is_measured(BATTERY));
		// Changing the consent keeps the history.
		battery_interval(BATTERY, NOW - 900, 250, 0, 6_000, GridResponseStatus::Idle);
		assert_ok!(DemandResponse::enrol(RuntimeOrigin::signed(OWNER), BATTERY, false, 2_000));
		let enrolment = Enrolments::<Test>::get(BATTERY).expect("enrolled");
		assert_eq!((enrolment.gateway_may_join, enrolment.max_power_w), (false, 2_000));
		assert_eq!(enrolment.recent.len(), 1);

		assert_ok!(DemandResponse::unenrol(RuntimeOrigin::signed(OWNER), BATTERY));
		assert!(!is_measured(BATTERY));
		assert!(Enrolments::<Test>::get(BATTERY).is_none());
		assert_noop!(
			DemandResponse::unenrol(RuntimeOrigin::signed(OWNER), BATTERY),
			Error::<Test>::NotEnrolled
		);
	});
}

#[test]
fn a_device_in_an_event_cannot_withdraw_its_consent() {
	run_test(|| {
		enrolled_battery(BATTERY, OWNER, 5_000);
		let id = create(spec());
		assert_ok!(DemandResponse::join_event(RuntimeOrigin::signed(OWNER), id, BATTERY, 3_000));
		assert_noop!(
			DemandResponse::unenrol(RuntimeOrigin::signed(OWNER), BATTERY),
			Error::<Test>::StillScheduled
		);
		assert_ok!(DemandResponse::leave_event(RuntimeOrigin::signed(OWNER), id, BATTERY));
		assert_ok!(DemandResponse::unenrol(RuntimeOrigin::signed(OWNER), BATTERY));
	});
}

// ---- joining ----

#[test]
fn the_gateway_joins_within_the_owners_consent() {
	run_test(|| {
		enrolled_battery(BATTERY, OWNER, 5_000);
		let id = create(spec());
		assert_noop!(
			DemandResponse::join_event(RuntimeOrigin::signed(GATEWAY), id, BATTERY, 5_500),
			Error::<Test>::BeyondConsent
		);
		assert_noop!(
			DemandResponse::join_event(RuntimeOrigin::signed(OTHER), id, BATTERY, 1_000),
			Error::<Test>::NotAllowed
		);
		assert_ok!(DemandResponse::join_event(RuntimeOrigin::signed(GATEWAY), id, BATTERY, 3_000));
		assert!(events().contains(&DrEvent::Joined {
			event: id,
			device: BATTERY,
			committed_w: 3_000,
			by: JoinedBy::Gateway
		}));
		assert_noop!(
			DemandResponse::join_event(RuntimeOrigin::signed(OWNER), id, BATTERY, 3_000),
			Error::<Test>::AlreadyJoined
		);
		let event = Events::<Test>::get(id).expect("stored");
		assert_eq!((event.joined, event.joined_w), (1, 3_000));

		// Without consent for the gateway, only the owner joins.
		assert_ok!(DemandResponse::enrol(RuntimeOrigin::signed(OWNER), BATTERY, false, 5_000));
		assert_ok!(DemandResponse::leave_event(RuntimeOrigin::signed(OWNER), id, BATTERY));
		assert_noop!(
			DemandResponse::join_event(RuntimeOrigin::signed(GATEWAY), id, BATTERY, 1_000),
			Error::<Test>::NotAllowed
		);
	});
}

#[test]
fn a_commitment_must_fit_the_device_and_the_event() {
	run_test(|| {
		enrolled_battery(BATTERY, OWNER, 5_000);
		let id = create(spec());
		let join = |device, watts| {
			DemandResponse::join_event(RuntimeOrigin::signed(OWNER), id, device, watts)
		};
		assert_noop!(join(BATTERY, 0), Error::<Test>::ZeroCommitment);
		// Charging 1 kW + 5 kW discharge.
		assert_noop!(join(BATTERY, 6_001), Error::<Test>::BeyondFlexibility);
		// 4 kWh above the 20 % reserve: 4 kW for an hour at most.
		assert_noop!(join(BATTERY, 4_500), Error::<Test>::BeyondStoredEnergy);
		assert_noop!(join(99, 1_000), Error::<Test>::DeviceNotActive);

		add_device(12, battery(OWNER, 5_000));
		set_reading(12, -1_000, Some(6_000));
		assert_noop!(join(12, 1_000), Error::<Test>::NotEnrolled);
		assert_ok!(DemandResponse::enrol(RuntimeOrigin::signed(OWNER), 12, true, 5_000));
		// Its reading is three hours old by now.
		set_now(NOW + 3 * HOUR);
		let late = create(EventSpec {
			opt_in_deadline: NOW + 3 * HOUR + 600,
			start: NOW + 4 * HOUR,
			..spec()
		});
		assert_noop!(
			DemandResponse::join_event(RuntimeOrigin::signed(OWNER), late, 12, 1_000),
			Error::<Test>::NoFreshTelemetry
		);
		set_reading(12, -1_000, Some(6_000));
		assert_ok!(DemandResponse::join_event(RuntimeOrigin::signed(OWNER), late, 12, 1_000));
		set_now(NOW);

		let mut elsewhere = battery(OWNER, 5_000);
		elsewhere.region = BoundedVec::try_from(b"FR".to_vec()).expect("short");
		add_device(13, elsewhere);
		set_reading(13, -1_000, Some(6_000));
		assert_ok!(DemandResponse::enrol(RuntimeOrigin::signed(OWNER), 13, true, 5_000));
		assert_noop!(join(13, 1_000), Error::<Test>::RegionNotTargeted);

		let mut distrusted = battery(OWNER, 100);
		distrusted.comfort.dispatch_windows =
			BoundedVec::try_from(vec![openvpp_primitives::DispatchWindow {
				start_minute: 17 * 60,
				end_minute: 21 * 60,
			}])
			.expect("one");
		add_device(14, distrusted);
		set_reading(14, -1_000, Some(6_000));
		assert_ok!(DemandResponse::enrol(RuntimeOrigin::signed(OWNER), 14, true, 5_000));
		assert_noop!(join(14, 1_000), Error::<Test>::OutsideDispatchWindows);

		let picky = create(EventSpec { min_reputation_bp: 6_000, ..spec() });
		assert_noop!(
			DemandResponse::join_event(RuntimeOrigin::signed(OWNER), picky, BATTERY, 1_000),
			Error::<Test>::ReputationTooLow
		);
		let load_only = create(EventSpec {
			kind: EventKind::ReduceLoad,
			eligible_kinds: KindSet::of(&[DeviceKind::EvCharger]),
			..spec()
		});
		assert_noop!(
			DemandResponse::join_event(RuntimeOrigin::signed(OWNER), load_only, BATTERY, 1_000),
			Error::<Test>::KindNotEligible
		);
		assert_noop!(
			DemandResponse::join_event(RuntimeOrigin::signed(OWNER), 99, BATTERY, 1_000),
			Error::<Test>::UnknownEvent
		);
	});
}

#[test]
fn a_device_serves_one_event_at_a_time() {
	run_test(|| {
		enrolled_battery(BATTERY, OWNER, 5_000);
		let first = create(spec());
		let overlapping = create(EventSpec { start: NOW + HOUR + 1_800, ..spec() });
		let too_soon = create(EventSpec { start: NOW + 2 * HOUR + 1_800, ..spec() });
		let later = create(EventSpec { start: NOW + 3 * HOUR, ..spec() });
		assert_ok!(DemandResponse::join_event(RuntimeOrigin::signed(OWNER), first, BATTERY, 1_000));
		assert_noop!(
			DemandResponse::join_event(RuntimeOrigin::signed(OWNER), overlapping, BATTERY, 1_000),
			Error::<Test>::Overlapping
		);
		// Within an hour of the first one's end.
		assert_noop!(
			DemandResponse::join_event(RuntimeOrigin::signed(OWNER), too_soon, BATTERY, 1_000),
			Error::<Test>::Overlapping
		);
		assert_ok!(DemandResponse::join_event(RuntimeOrigin::signed(OWNER), later, BATTERY, 1_000));
	});
}

#[test]
fn a_site_meter_and_a_device_behind_it_never_serve_at_the_same_time() {
	run_test(|| {
		enrolled_battery(BATTERY, OWNER, 5_000);
		enrolled_battery(12, OWNER, 5_000);
		add_device(METER, site_meter(OWNER));
		set_reading(METER, -4_000, None);
		assert_ok!(DemandResponse::enrol(RuntimeOrigin::signed(OWNER), METER, true, 10_000));
		put_behind(BATTERY, METER);
		put_behind(12, METER);
		let reduce = |start: u64| EventSpec { kind: EventKind::ReduceLoad, start, ..spec() };
		let first = create(reduce(NOW + HOUR));
		let same_time = create(reduce(NOW + HOUR + 1_800));
		let later = create(reduce(NOW + 3 * HOUR));
		let join = |event, device| {
			DemandResponse::join_event(RuntimeOrigin::signed(OWNER), event, device, 1_000)
		};

		// The battery serves: its meter may not at the same time, nor the other way round.
		assert_ok!(join(first, BATTERY));
		assert!(DemandResponse::is_committed(BATTERY));
		assert!(!DemandResponse::is_committed(METER));
		assert_noop!(join(same_time, METER), Error::<Test>::SiteBusy);
		assert_noop!(join(first, METER), Error::<Test>::SiteBusy);
		// Another device behind the same meter measures its own energy: it may.
		assert_ok!(join(same_time, 12));
		// Later, the meter may serve; then the devices behind it may not.
		assert_ok!(join(later, METER));
		let later_too = create(reduce(NOW + 3 * HOUR + 600));
		assert_noop!(join(later_too, BATTERY), Error::<Test>::SiteBusy);

		// A called-off event no longer blocks anybody.
		assert_ok!(DemandResponse::cancel_event(RuntimeOrigin::signed(OPERATOR), first));
		assert_ok!(DemandResponse::cancel_event(RuntimeOrigin::signed(OPERATOR), same_time));
		assert!(!DemandResponse::is_committed(BATTERY));
		let again = create(reduce(NOW + HOUR));
		assert_ok!(join(again, METER));
	});
}

#[test]
fn a_device_is_committed_until_its_event_ends() {
	run_test(|| {
		enrolled_battery(BATTERY, OWNER, 5_000);
		assert!(!DemandResponse::is_committed(BATTERY));
		assert!(!DemandResponse::is_committed(99));
		let id = create(spec());
		assert_ok!(DemandResponse::join_event(RuntimeOrigin::signed(OWNER), id, BATTERY, 1_000));
		assert!(DemandResponse::is_committed(BATTERY));
		poll_at(NOW + HOUR);
		assert!(DemandResponse::is_committed(BATTERY));
		poll_at(NOW + 2 * HOUR);
		assert!(!DemandResponse::is_committed(BATTERY));
	});
}

#[test]
fn joining_and_leaving_close_at_the_deadline() {
	run_test(|| {
		enrolled_battery(BATTERY, OWNER, 5_000);
		let id = create(spec());
		assert_ok!(DemandResponse::join_event(RuntimeOrigin::signed(OWNER), id, BATTERY, 1_000));
		assert_noop!(
			DemandResponse::leave_event(RuntimeOrigin::signed(OTHER), id, BATTERY),
			Error::<Test>::NotAllowed
		);
		set_now(NOW + 600);
		assert_noop!(
			DemandResponse::leave_event(RuntimeOrigin::signed(OWNER), id, BATTERY),
			Error::<Test>::OptInClosed
		);
		enrolled_battery(12, OWNER, 5_000);
		assert_noop!(
			DemandResponse::join_event(RuntimeOrigin::signed(OWNER), id, 12, 1_000),
			Error::<Test>::OptInClosed
		);
		assert_noop!(
			DemandResponse::leave_event(RuntimeOrigin::signed(OWNER), 99, 12),
			Error::<Test>::UnknownEvent
		);
	});
}

#[test]
fn leaving_an_event_one_did_not_join_is_refused() {
	run_test(|| {
		enrolled_battery(BATTERY, OWNER, 5_000);
		let id = create(spec());
		assert_noop!(
			DemandResponse::leave_event(RuntimeOrigin::signed(OWNER), id, BATTERY),
			Error::<Test>::NotJoined
		);
	});
}

// ---- selection ----

#[test]
fn selection_keeps_reputation_then_commitment_then_id_up_to_the_target() {
	run_test(|| {
		let id = create(EventSpec { target_power_w: 6_000, max_participants: 3, ..spec() });
		// (device, reputation, commitment)
		let fleet = [
			(30, 5_000, 3_000),
			(31, 9_000, 1_000),
			(32, 5_000, 4_000),
			(33, 5_000, 3_000),
			(34, 9_000, 2_000),
		];
		for (device, reputation, watts) in fleet {
			enrolled_battery(device, OWNER, reputation);
			assert_ok!(DemandResponse::join_event(RuntimeOrigin::signed(OWNER), id, device, watts));
		}
		poll_at(NOW + 600);
		// Order: 34 (9 000, 2 kW), 31 (9 000, 1 kW), 32 (5 000, 4 kW), 30 (5 000, 3 kW, lower
		// id), 33. Kept: 34, 31 (3 kW); 32 would make 7 kW: skipped; 30 fits (6 kW); 33 does
		// not fit.
		let selected: Vec<u32> =
			Participants::<Test>::iter_prefix_values(id).map(|p| p.device).collect();
		assert_eq!(selected, vec![34, 31, 30]);
		let event = Events::<Test>::get(id).expect("stored");
		assert_eq!(
			(event.selected, event.selected_w, event.progress),
			(3, 6_000, Progress::Selected)
		);
		assert!(events().contains(&DrEvent::NotSelected { event: id, device: 32 }));
		assert!(events().contains(&DrEvent::SelectionFinished {
			event: id,
			selected: 3,
			selected_w: 6_000
		}));
		// The skipped devices are free again.
		assert!(Enrolments::<Test>::get(32).expect("enrolled").schedule.is_empty());
	});
}

#[test]
fn selection_of_many_runs_across_blocks_within_the_poll_budget() {
	run_test(|| {
		let id = create(EventSpec { target_power_w: 20_000, max_participants: 50, ..spec() });
		for device in 100..140 {
			enrolled_battery(device, OWNER, 5_000);
			assert_ok!(DemandResponse::join_event(RuntimeOrigin::signed(OWNER), id, device, 1_000));
		}
		// Room for the base, one event and five participants per block.
		let w = <() as WeightModel>::poll_base()
			+ <() as WeightModel>::poll_event()
			+ <() as WeightModel>::select_participant() * 5;
		set_poll_weight(w);
		let mut blocks = 0;
		while Events::<Test>::get(id).expect("stored").progress != Progress::Selected {
			poll_at(NOW + 600 + blocks);
			blocks += 1;
			assert!(blocks < 20, "selection does not finish");
		}
		assert_eq!(blocks, 8);
		set_poll_weight(Weight::MAX);
		let event = Events::<Test>::get(id).expect("stored");
		assert_eq!((event.selected, event.selected_w), (20, 20_000));
		// Each device was decided exactly once.
		let decided = events()
			.iter()
			.filter(|e| matches!(e, DrEvent::Selected { .. } | DrEvent::NotSelected { .. }))
			.count();
		assert_eq!(decided, 40);
	});
}

// ---- measurement and settlement ----

/// Four quarter-hours of charging at 1 kW before the start of `spec()`.
fn charging_before_start(device: u32) {
	for quarter in 0..4 {
		battery_interval(device, NOW + quarter * 900, 250, 0, 6_000, GridResponseStatus::Idle);
	}
}

#[test]
fn a_discharging_battery_is_measured_against_its_meter_before_baseline_and_paid() {
	run_test(|| {
		enrolled_battery(BATTERY, OWNER, 5_000);
		enrolled_battery(NO_SHOW, OTHER, 5_000);
		let id = create(spec());
		assert_ok!(DemandResponse::join_event(RuntimeOrigin::signed(GATEWAY), id, BATTERY, 3_000));
		assert_ok!(DemandResponse::join_event(RuntimeOrigin::signed(GATEWAY), id, NO_SHOW, 2_000));
		charging_before_start(BATTERY);
		charging_before_start(NO_SHOW);
		poll_at(NOW + 600);
		poll_at(NOW + HOUR);
		assert_eq!(Events::<Test>::get(id).expect("stored").status, EventStatus::Active);

		for quarter in 0..4 {
			let start = NOW + HOUR + quarter * 900;
			// Discharging 3 kW against a baseline of charging 1 kW: 1 kWh per quarter.
			battery_interval(BATTERY, start, 0, 750, 5_000, GridResponseStatus::Responding);
			// Keeps charging as before and says it was not responding.
			battery_interval(NO_SHOW, start, 250, 0, 6_500, GridResponseStatus::Idle);
		}
		let measured = participant(id, BATTERY).expect("joined").measurement;
		assert_eq!(measured.baseline, Some(Baseline::MeterBefore { net_import_w: 1_000 }));
		// 4 kWh delivered, which is also what its 60 % over a 20 % reserve allowed.
		assert_eq!((measured.delivered_wh, measured.energy_cap_wh), (4_000, Some(4_000)));
		assert_eq!(measured.responding_intervals, 4);
		let idle = participant(id, NO_SHOW).expect("joined").measurement;
		assert_eq!((idle.delivered_wh, idle.idle_intervals), (0, 4));
		// The devices have moved past the event.
		assert!(Enrolments::<Test>::get(BATTERY).expect("enrolled").schedule.is_empty());

		poll_at(NOW + 2 * HOUR);
		assert_eq!(Events::<Test>::get(id).expect("stored").status, EventStatus::Completed);
		let operator_before = Balances::balance(&OPERATOR);
		take_recorded();
		poll_at(NOW + 2 * HOUR + 900);

		// 3 kWh committed; 4 delivered; paid up to 3.3 kWh (10 % tolerance) at 1 000 000/kWh.
		assert_eq!(Balances::balance(&OWNER), 1_000 + 3_300_000);
		assert_eq!(Balances::balance(&OTHER), 1_000);
		assert_eq!(held(OPERATOR), 0);
		assert_eq!(Balances::balance(&OPERATOR), operator_before + 11_000_000 - 3_300_000);
		let event = Events::<Test>::get(id).expect("stored");
		assert_eq!(
			(event.status, event.paid, event.delivered_wh),
			(EventStatus::Settled, 3_300_000, 4_000)
		);
		assert!(OpenEvents::<Test>::get().is_empty());
		assert_eq!(
			participant(id, BATTERY).expect("kept").settlement,
			Some(Settlement { performance_bp: 10_000, paid: 3_300_000 })
		);
		// Reputation: +500 at 100 %, −2 000 at 0 %.
		assert_eq!(reputation_of(BATTERY), 5_500);
		assert_eq!(reputation_of(NO_SHOW), 3_000);
		let recorded = take_recorded();
		assert!(recorded
			.contains(&Recorded::Participation(BATTERY, Participation::DemandResponseDelivered)));
		assert!(recorded
			.contains(&Recorded::Participation(NO_SHOW, Participation::DemandResponseJoined)));
		assert!(!recorded
			.contains(&Recorded::Participation(NO_SHOW, Participation::DemandResponseDelivered)));
		// Contribution scoring hears of both, with what each committed and delivered.
		assert!(recorded.contains(&Recorded::Settled(BATTERY, 3_000, 4_000)));
		assert!(recorded.contains(&Recorded::Settled(NO_SHOW, 2_000, 0)));
		assert!(events().contains(&DrEvent::EventSettled {
			event: id,
			delivered_wh: 4_000,
			paid: 3_300_000,
			refunded: 11_000_000 - 3_300_000,
		}));

		// Settled once: later blocks change nothing.
		poll_at(NOW + 3 * HOUR);
		assert_eq!(Balances::balance(&OWNER), 1_000 + 3_300_000);
	});
}

#[test]
fn overrides_flagged_reports_and_missing_baselines_deliver_nothing() {
	run_test(|| {
		enrolled_battery(BATTERY, OWNER, 5_000);
		enrolled_battery(12, OWNER, 5_000);
		let id = create(spec());
		assert_ok!(DemandResponse::join_event(RuntimeOrigin::signed(OWNER), id, BATTERY, 2_000));
		assert_ok!(DemandResponse::join_event(RuntimeOrigin::signed(OWNER), id, 12, 2_000));
		charging_before_start(BATTERY);
		poll_at(NOW + HOUR);
		let start = NOW + HOUR;
		battery_interval(BATTERY, start, 0, 500, 5_500, GridResponseStatus::Responding);
		battery_interval(BATTERY, start + 900, 250, 0, 5_600, GridResponseStatus::Overridden);
		feed(
			BATTERY,
			DeviceKind::HomeBattery,
			start + 1_800,
			0,
			900,
			Some(5_000),
			GridResponseStatus::Responding,
			false,
		);
		let measured = participant(id, BATTERY).expect("joined").measurement;
		// Only the first quarter: 250 baseline − (−500) actual.
		assert_eq!(measured.delivered_wh, 750);
		assert_eq!((measured.overridden_intervals, measured.flagged_intervals), (1, 1));
		assert!(events().contains(&DrEvent::OverrideRecorded {
			event: id,
			device: BATTERY,
			interval_start: start + 900
		}));
		// Device 12 never reported before the start: no baseline, and no SoC to cap by.
		battery_interval(12, start, 0, 750, 5_000, GridResponseStatus::Responding);
		let unmeasured = participant(id, 12).expect("joined").measurement;
		assert_eq!(unmeasured.baseline, Some(Baseline::Unavailable));
		assert_eq!((unmeasured.delivered_wh, unmeasured.unmeasured_intervals), (0, 1));
	});
}

#[test]
fn settlement_of_many_runs_across_blocks_and_pays_each_once() {
	run_test(|| {
		let id = create(EventSpec { target_power_w: 40_000, max_participants: 50, ..spec() });
		for device in 100..130 {
			enrolled_battery(device, OWNER, 5_000);
			assert_ok!(DemandResponse::join_event(RuntimeOrigin::signed(OWNER), id, device, 1_000));
			charging_before_start(device);
		}
		poll_at(NOW + 600);
		for device in 100..130 {
			for quarter in 0..4 {
				// 1 kW down from +1 kW: 500 Wh per quarter → 2 kWh, capped at 1.1 kWh paid.
				let start = NOW + HOUR + quarter * 900;
				battery_interval(device, start, 0, 250, 5_000, GridResponseStatus::Responding);
			}
		}
		poll_at(NOW + 2 * HOUR);
		let w = <() as WeightModel>::poll_base()
			+ <() as WeightModel>::poll_event()
			+ <() as WeightModel>::settle_participant() * 4;
		set_poll_weight(w);
		let mut blocks = 0;
		while Events::<Test>::get(id).expect("stored").status != EventStatus::Settled {
			poll_at(NOW + 2 * HOUR + 900 + blocks);
			blocks += 1;
			assert!(blocks < 20, "settlement does not finish");
		}
		assert_eq!(blocks, 8);
		set_poll_weight(Weight::MAX);
		// 30 × 1.1 kWh × 1 000 000.
		assert_eq!(Balances::balance(&OWNER), 1_000 + 30 * 1_100_000);
		let settled =
			events().iter().filter(|e| matches!(e, DrEvent::ParticipantSettled { .. })).count();
		assert_eq!(settled, 30);
	});
}

#[test]
fn late_reports_count_until_the_grace_period_ends_and_not_after() {
	run_test(|| {
		enrolled_battery(BATTERY, OWNER, 5_000);
		let id = create(spec());
		assert_ok!(DemandResponse::join_event(RuntimeOrigin::signed(GATEWAY), id, BATTERY, 3_000));
		charging_before_start(BATTERY);
		poll_at(NOW + 600);
		poll_at(NOW + HOUR);
		let quarter = |index: u64| NOW + HOUR + index * 900;
		for index in 0..2 {
			battery_interval(
				BATTERY,
				quarter(index),
				0,
				750,
				5_000,
				GridResponseStatus::Responding,
			);
		}
		let end = NOW + 2 * HOUR;
		poll_at(end);
		// The gateway was offline: the third quarter arrives within the grace period (900 s in
		// the mock) and counts; the fourth arrives when it is over and does not.
		set_now(end + 899);
		battery_interval(BATTERY, quarter(2), 0, 750, 5_000, GridResponseStatus::Responding);
		assert_eq!(participant(id, BATTERY).expect("joined").measurement.delivered_wh, 3_000);
		set_now(end + 900);
		battery_interval(BATTERY, quarter(3), 0, 750, 5_000, GridResponseStatus::Responding);
		let measured = participant(id, BATTERY).expect("joined").measurement;
		assert_eq!((measured.delivered_wh, measured.responding_intervals), (3_000, 3));

		poll_at(end + 900);
		// 3 of 3 kWh: performance 100 %, paid 3 kWh.
		assert_eq!(
			participant(id, BATTERY).expect("kept").settlement,
			Some(Settlement { performance_bp: 10_000, paid: 3 * PRICE })
		);
		// A report after settlement changes nothing either.
		battery_interval(BATTERY, quarter(3), 0, 750, 5_000, GridResponseStatus::Responding);
		assert_eq!(participant(id, BATTERY).expect("kept").measurement, measured);
	});
}

#[test]
fn old_events_are_deleted_oldest_first_across_blocks_after_the_retention() {
	run_test(|| {
		for device in 100..103 {
			enrolled_battery(device, OWNER, 5_000);
		}
		let cancelled = create(spec());
		for device in 100..103 {
			assert_ok!(DemandResponse::join_event(
				RuntimeOrigin::signed(OWNER),
				cancelled,
				device,
				1_000
			));
		}
		assert_ok!(DemandResponse::cancel_event(RuntimeOrigin::signed(OPERATOR), cancelled));
		let settled = create(spec());
		// Open until after the others are due: it holds back the events created after it.
		let open = create(EventSpec {
			opt_in_deadline: NOW + 6 * 86_400,
			start: NOW + 7 * 86_400,
			..spec()
		});
		let last = create(spec());
		assert_ok!(DemandResponse::cancel_event(RuntimeOrigin::signed(OPERATOR), last));
		poll_at(NOW + 2 * HOUR + 900);
		assert_eq!(Events::<Test>::get(settled).expect("kept").status, EventStatus::Settled);

		let due = NOW + 2 * HOUR + 7 * 86_400;
		poll_at(due - 1);
		assert!(Events::<Test>::contains_key(cancelled));
		assert_eq!(Participants::<Test>::iter_prefix(cancelled).count(), 3);

		// One participant per block.
		set_poll_weight(
			<() as WeightModel>::poll_base()
				+ <() as WeightModel>::poll_event()
				+ <() as WeightModel>::prune_event()
				+ <() as WeightModel>::prune_participant(),
		);
		poll_at(due);
		poll_at(due + 1);
		assert_eq!(Participants::<Test>::iter_prefix(cancelled).count(), 1);
		assert!(Events::<Test>::contains_key(cancelled));
		poll_at(due + 2);
		assert!(!Events::<Test>::contains_key(cancelled));
		assert!(events().contains(&DrEvent::EventPruned { event: cancelled }));
		poll_at(due + 3);
		assert!(!Events::<Test>::contains_key(settled));
		set_poll_weight(Weight::MAX);
		poll_at(due + 4);
		assert_eq!(NextToPrune::<Test>::get(), open);
		assert!(Events::<Test>::contains_key(last));

		// Once the open event is over, settled and old enough, it and the rest go.
		poll_at(NOW + 7 * 86_400 + HOUR + 900);
		assert_eq!(Events::<Test>::get(open).expect("kept").status, EventStatus::Settled);
		poll_at(NOW + 14 * 86_400 + HOUR);
		assert!(!Events::<Test>::contains_key(open) && !Events::<Test>::contains_key(last));
		assert_eq!(NextToPrune::<Test>::get(), last + 1);
	});
}

#[test]
fn a_retired_device_earns_nothing_and_its_share_returns_to_the_operator() {
	run_test(|| {
		enrolled_battery(BATTERY, OWNER, 5_000);
		let id = create(spec());
		assert_ok!(DemandResponse::join_event(RuntimeOrigin::signed(OWNER), id, BATTERY, 3_000));
		charging_before_start(BATTERY);
		poll_at(NOW + HOUR);
		battery_interval(BATTERY, NOW + HOUR, 0, 750, 5_000, GridResponseStatus::Responding);
		remove_device(BATTERY);
		<DemandResponse as openvpp_primitives::DeviceLifecycleHooks>::on_device_retired(BATTERY);
		assert!(Enrolments::<Test>::get(BATTERY).is_none() && !is_measured(BATTERY));
		poll_at(NOW + 3 * HOUR);
		assert_eq!(Balances::balance(&OWNER), 1_000);
		assert_eq!(held(OPERATOR), 0);
		assert_eq!(Events::<Test>::get(id).expect("kept").status, EventStatus::Settled);
	});
}

// ---- "10 of 10" for sites ----

fn meter_interval(start: u64, imported: u64, response: GridResponseStatus) {
	feed(METER, DeviceKind::SmartMeter, start, imported, 0, None, response, true);
}

#[test]
fn a_site_is_measured_against_ten_of_ten_with_the_same_day_adjustment() {
	run_test(|| {
		add_device(METER, site_meter(OWNER));
		set_reading(METER, -4_000, None);
		assert_ok!(DemandResponse::enrol(RuntimeOrigin::signed(OWNER), METER, true, 10_000));
		let day = 86_400;
		let event_start = NOW + 10 * day + 18 * HOUR;
		// Ten days before: 4 kW from 15:00 to 19:00 (1 kWh per quarter).
		for d in 0..10 {
			for quarter in 0..16 {
				meter_interval(
					NOW + d * day + 15 * HOUR + quarter * 900,
					1_000,
					GridResponseStatus::Idle,
				);
			}
		}
		// The event day is hotter: 15:00–17:00 at 4.6 kW → adjustment 115 %.
		set_now(event_start - 2 * HOUR);
		for quarter in 0..8 {
			meter_interval(
				NOW + 10 * day + 15 * HOUR + quarter * 900,
				1_150,
				GridResponseStatus::Idle,
			);
		}
		set_reading(METER, -4_600, None);
		let id = create(EventSpec {
			kind: EventKind::ReduceLoad,
			opt_in_deadline: event_start - HOUR,
			start: event_start,
			..spec()
		});
		assert_ok!(DemandResponse::join_event(RuntimeOrigin::signed(GATEWAY), id, METER, 3_000));
		poll_at(event_start);
		// Down to 2 kW for the hour: 500 Wh per quarter.
		for quarter in 0..4 {
			meter_interval(event_start + quarter * 900, 500, GridResponseStatus::Responding);
		}
		let measured = participant(id, METER).expect("joined").measurement;
		assert_eq!(measured.baseline, Some(Baseline::TenOfTen { adjustment_bp: 11_500 }));
		// Baseline per quarter: 4 000 Wh/h × ¼ × 115 % = 1 150; delivered 650 × 4.
		assert_eq!(measured.delivered_wh, 2_600);
		// The event day no longer counts towards its baselines.
		assert_eq!(
			Enrolments::<Test>::get(METER).expect("enrolled").event_days.into_inner(),
			vec![20_464]
		);
		poll_at(event_start + HOUR + 900);
		// 3 kWh committed, 2.6 delivered: 86.66 % → paid 2.6 kWh.
		let settled = participant(id, METER).expect("kept").settlement.expect("settled");
		assert_eq!(settled, Settlement { performance_bp: 8_666, paid: 2_600_000 });
	});
}

#[test]
fn a_site_without_enough_history_delivers_nothing() {
	run_test(|| {
		add_device(METER, site_meter(OWNER));
		set_reading(METER, -4_000, None);
		assert_ok!(DemandResponse::enrol(RuntimeOrigin::signed(OWNER), METER, true, 10_000));
		// Two days of history; three are needed.
		for d in 0..2u64 {
			meter_interval(NOW + d * 86_400 + HOUR, 1_000, GridResponseStatus::Idle);
		}
		set_now(NOW + 2 * 86_400);
		set_reading(METER, -4_000, None);
		let start = NOW + 2 * 86_400 + HOUR;
		let id = create(EventSpec {
			kind: EventKind::ReduceLoad,
			opt_in_deadline: start - 600,
			start,
			..spec()
		});
		assert_ok!(DemandResponse::join_event(RuntimeOrigin::signed(OWNER), id, METER, 2_000));
		meter_interval(start, 100, GridResponseStatus::Responding);
		let measured = participant(id, METER).expect("joined").measurement;
		assert_eq!((measured.delivered_wh, measured.unmeasured_intervals), (0, 1));
	});
}

#[test]
fn devices_without_consent_cost_one_read() {
	run_test(|| {
		let weight = DemandResponse::on_measured_interval(
			BATTERY,
			DeviceKind::HomeBattery,
			&MeasuredInterval {
				interval_start: NOW,
				interval_length_s: 900,
				energy_imported_wh: 1,
				energy_exported_wh: 0,
				soc_bp: Some(5_000),
				grid_response: GridResponseStatus::Idle,
				plausible: true,
			},
		);
		assert_eq!(weight, <Test as frame_system::Config>::DbWeight::get().reads(1));
		assert!(DemandResponse::max_measurement_weight().all_gt(Weight::zero()));
	});
}
