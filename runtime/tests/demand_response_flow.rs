//! A demand-response event through the real runtime: an operator appointed by root, an owner's
//! consent, the gateway joining, the device's signed reports measured against its baseline,
//! selection and settlement in `on_poll`, the owner paid from the operator's escrow.

#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

mod common;

use common::*;
use frame_support::{
	assert_ok,
	traits::fungible::{Inspect, InspectHold},
	BoundedVec,
};
use openvpp_primitives::{
	DeviceKind, DeviceState, EventKind, GridResponseStatus, IntervalReport, KindSet, QualityFlags,
};
use openvpp_runtime::{
	demo_fleet, Balances, DeviceRegistry, Runtime, RuntimeCall, RuntimeHoldReason, Telemetry, OVPP,
};
use pallet_demand_response::{EventSpec, EventStatus, HoldReason, Settlement};
use sp_keyring::Sr25519Keyring;

/// The demo fleet's home battery (13.5 kWh, 5 kW, 20 % reserve), owned by Alice.
const BATTERY: u32 = 3;
const OWNER: Sr25519Keyring = Sr25519Keyring::Alice;
const OPERATOR: Sr25519Keyring = Sr25519Keyring::Bob;

/// The battery's report for the quarter hour starting at `start`: `power_w` (positive =
/// delivered) and the state of charge at its end.
fn battery_report(
	sequence: u64,
	start: u64,
	power_w: i32,
	soc_bp: u16,
	cumulative: (u64, u64),
	response: GridResponseStatus,
) -> IntervalReport {
	let energy_wh = u64::from(power_w.unsigned_abs()) / 4;
	let (imported, exported) = if power_w < 0 { (energy_wh, 0) } else { (0, energy_wh) };
	IntervalReport {
		device_id: BATTERY,
		sequence,
		interval_start: start,
		interval_length_s: 900,
		energy_imported_wh: imported,
		energy_exported_wh: exported,
		cumulative_imported_wh: cumulative.0,
		cumulative_exported_wh: cumulative.1,
		average_power_w: power_w,
		peak_power_w: power_w,
		soc_bp: Some(soc_bp),
		device_state: DeviceState::Operating,
		grid_response: response,
		online_s: 900,
		quality: QualityFlags::default(),
	}
}

fn submit(report: IntervalReport) {
	let call = RuntimeCall::Telemetry(pallet_telemetry::Call::submit_reports {
		reports: BoundedVec::truncate_from(vec![sign_demo(report)]),
		raw_data_digest: None,
	});
	assert_ok!(apply(demo_fleet::DEMO_GATEWAY, call));
	let state = pallet_telemetry::DeviceTelemetry::<Runtime>::get(BATTERY).unwrap();
	assert!(state.latest.plausibility.is_plausible(), "{:?}", state.latest);
}

#[test]
fn a_battery_discharges_for_an_event_and_its_owner_is_paid_from_the_escrow() {
	chain_from_preset("development").execute_with(|| {
		let owner = OWNER.to_account_id();
		let operator = OPERATOR.to_account_id();
		let dr = |call| RuntimeCall::DemandResponse(call);

		// Charging at 2 kW, 60 % full.
		submit(battery_report(1, NOON - 900, -2_000, 6_000, (10_000, 0), GridResponseStatus::Idle));
		assert_ok!(apply(
			OWNER,
			dr(pallet_demand_response::Call::enrol {
				device: BATTERY,
				gateway_may_join: true,
				max_power_w: 5_000
			})
		));
		assert_ok!(apply(
			Sr25519Keyring::Alice,
			RuntimeCall::Sudo(pallet_sudo::Call::sudo {
				call: Box::new(dr(pallet_demand_response::Call::add_operator {
					operator: operator.clone()
				})),
			})
		));
		let spec = EventSpec {
			kind: EventKind::DischargeStorage,
			regions: BoundedVec::truncate_from(vec![BoundedVec::truncate_from(
				b"DE-TENNET".to_vec(),
			)]),
			eligible_kinds: KindSet::of(&[DeviceKind::HomeBattery]),
			opt_in_deadline: NOON + 300,
			start: NOON + 900,
			duration_s: 900,
			interval_length_s: 900,
			target_power_w: 3_000,
			price_per_kwh: OVPP,
			min_reputation_bp: 0,
			max_participants: 100,
		};
		assert_ok!(apply(OPERATOR, dr(pallet_demand_response::Call::create_event { spec })));
		let hold = RuntimeHoldReason::DemandResponse(HoldReason::EventEscrow);
		// 3 kW for a quarter hour with 10 % tolerance: 825 Wh at 1 OVPP per kWh.
		assert_eq!(Balances::balance_on_hold(&hold, &operator), 825 * OVPP / 1_000);
		assert_ok!(apply(
			demo_fleet::DEMO_GATEWAY,
			dr(pallet_demand_response::Call::join_event {
				event: 1,
				device: BATTERY,
				committed_w: 3_000
			})
		));
		// Committed to the event, the battery stays behind Alice's meter until it is over (the
		// registry asks demand response before it moves a device between sites).
		let leave_site = || {
			RuntimeCall::DeviceRegistry(pallet_device_registry::Call::set_site_meter {
				device_id: BATTERY,
				meter: None,
			})
		};
		assert_eq!(
			apply(OWNER, leave_site()),
			Err(pallet_device_registry::Error::<Runtime>::DeviceCommitted.into())
		);

		// Still charging at 2 kW until the start: the meter-before baseline.
		next_block(NOON + 900);
		submit(battery_report(2, NOON, -2_000, 6_370, (10_500, 0), GridResponseStatus::Idle));
		let event = pallet_demand_response::Events::<Runtime>::get(1).unwrap();
		assert_eq!((event.status, event.selected_w), (EventStatus::Active, 3_000));

		// Dispatched: discharging 3 kW for the event's quarter hour.
		next_block(NOON + 1_800);
		submit(battery_report(
			3,
			NOON + 900,
			3_000,
			5_815,
			(10_500, 750),
			GridResponseStatus::Responding,
		));
		let owner_before = Balances::balance(&owner);

		// Settled after the ten-minute grace period, in `on_poll` of the first block after it.
		next_block(NOON + 1_800 + 600);
		next_block(NOON + 1_800 + 606);
		let event = pallet_demand_response::Events::<Runtime>::get(1).unwrap();
		assert_eq!(event.status, EventStatus::Settled);
		// 500 Wh baseline charge − (−750 Wh) = 1 250 Wh delivered; paid up to 825 Wh.
		assert_eq!(event.delivered_wh, 1_250);
		let participant =
			pallet_demand_response::Participants::<Runtime>::iter_prefix_values(1).next().unwrap();
		assert_eq!(
			participant.settlement,
			Some(Settlement { performance_bp: 10_000, paid: 825 * OVPP / 1_000 })
		);
		assert_eq!(Balances::balance(&owner), owner_before + 825 * OVPP / 1_000);
		assert_eq!(Balances::balance_on_hold(&hold, &operator), 0);
		// The read model says the same: measured, settled and paid.
		let view = openvpp_runtime::vpp_api::dr_event(1, None, 10).unwrap();
		assert_eq!(view.event.status, EventStatus::Settled);
		assert_eq!(view.event.measured_delivery_wh, 1_250);
		assert_eq!(view.event.settled_delivery_wh, 1_250);
		assert_eq!(view.event.paid_planck, 825 * OVPP / 1_000);
		assert_eq!(view.participants.len(), 1);
		assert_eq!(view.participants[0].delivered_wh, 1_250);
		assert_eq!(view.participants[0].performance_bp, Some(10_000));
		assert_eq!(view.participants[0].paid_planck, Some(825 * OVPP / 1_000));
		// Reputation +5 % for full performance (the device's epochs move it too, for their
		// data quality).
		let record = pallet_device_registry::Devices::<Runtime>::get(BATTERY).unwrap();
		let for_the_event: Vec<_> = record
			.credit
			.recent_changes
			.iter()
			.filter(|c| c.reason == openvpp_primitives::ReputationReason::DemandResponse)
			.map(|c| c.delta_bp)
			.collect();
		assert_eq!(for_the_event, vec![500]);

		assert_ok!(apply(OWNER, leave_site()));

		pallet_demand_response::Pallet::<Runtime>::do_try_state().unwrap();
		Telemetry::do_try_state().unwrap();
		DeviceRegistry::do_try_state().unwrap();
	});
}
