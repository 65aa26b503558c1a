//! The runtime's read model (`VppApi`, answered by `openvpp_runtime::vpp_api`) on the
//! development chain: devices as the registry holds them, pages that walk an index without gaps,
//! telemetry and totals that follow an accepted report, and demand-response events by status and
//! region.

#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

mod common;

use common::*;
use frame_support::{assert_ok, BoundedVec};
use openvpp_primitives::{
	DeviceKind, DeviceState, DeviceStatus, EventKind, EventStatus, GridResponseStatus,
	IntervalReport, KindSet, QualityFlags, RegionCode,
};
use openvpp_runtime::{demo_fleet, vpp_api, Runtime, RuntimeCall, OVPP};
use pallet_demand_response::EventSpec;
use pallet_device_registry::Devices;
use sp_keyring::Sr25519Keyring;

const BATTERY: u32 = 3;

fn region(code: &str) -> RegionCode {
	RegionCode::truncate_from(code.as_bytes().to_vec())
}

#[test]
fn devices_are_the_registry_records() {
	chain_from_preset("development").execute_with(|| {
		let ids: Vec<u32> = Devices::<Runtime>::iter_keys().collect();
		assert_eq!(ids.len(), 7);
		for id in ids {
			let record = Devices::<Runtime>::get(id).unwrap();
			let view = vpp_api::device(id).unwrap();
			assert_eq!(view.id, id);
			assert_eq!(view.kind, record.kind);
			assert_eq!(view.owner, record.owner);
			assert_eq!(view.gateway, record.gateway);
			assert_eq!(view.region, record.region.to_vec());
			assert_eq!(view.capability, record.capability);
			assert_eq!(view.status, record.status);
			assert_eq!(view.history, record.history);
			assert_eq!(view.credit.reputation_bp, record.credit.reputation_bp);
			assert_eq!(view.deposit_planck, record.deposit);
		}
		assert!(vpp_api::device(8).is_none());
	});
}

#[test]
fn pages_walk_every_index_without_gaps_or_repeats() {
	chain_from_preset("development").execute_with(|| {
		let walk = |page: &dyn Fn(Option<u32>) -> openvpp_runtime_api::DevicePage<_>| {
			let mut ids = Vec::new();
			let mut after = None;
			loop {
				let page = page(after);
				assert!(page.devices.len() <= 2);
				ids.extend(page.devices.iter().map(|device| device.id));
				match page.next {
					Some(next) => after = Some(next),
					None => return ids,
				}
			}
		};
		let all: Vec<_> = Devices::<Runtime>::iter().collect();

		let tennet = walk(&|after| vpp_api::devices_by_region(region("DE-TENNET"), after, 2));
		let mut expected: Vec<u32> = all
			.iter()
			.filter(|(_, r)| r.region == region("DE-TENNET"))
			.map(|(id, _)| *id)
			.collect();
		assert!(expected.len() >= 4);
		let mut sorted = tennet.clone();
		sorted.sort();
		expected.sort();
		assert_eq!(sorted, expected, "every device of the region once");

		let gateway = demo_fleet::DEMO_GATEWAY.to_account_id();
		let by_gateway = walk(&|after| vpp_api::devices_by_gateway(gateway.clone(), after, 2));
		assert_eq!(by_gateway.len(), 7);

		let alice = Sr25519Keyring::Alice.to_account_id();
		let mut by_owner = walk(&|after| vpp_api::devices_by_owner(alice.clone(), after, 2));
		let mut owned: Vec<u32> =
			all.iter().filter(|(_, r)| r.owner == alice).map(|(id, _)| *id).collect();
		by_owner.sort();
		owned.sort();
		assert_eq!(by_owner, owned);

		// A limit of 0 is taken as 1; a region nobody is in is an empty last page.
		assert_eq!(vpp_api::devices_by_region(region("DE-TENNET"), None, 0).devices.len(), 1);
		let empty = vpp_api::devices_by_region(region("NOWHERE"), None, 50);
		assert!(empty.devices.is_empty() && empty.next.is_none());
	});
}

fn battery_report(sequence: u64, start: u64, power_w: i32) -> IntervalReport {
	let energy_wh = u64::from(power_w.unsigned_abs()) / 4;
	IntervalReport {
		device_id: BATTERY,
		sequence,
		interval_start: start,
		interval_length_s: 900,
		energy_imported_wh: 0,
		energy_exported_wh: energy_wh,
		cumulative_imported_wh: 10_000,
		cumulative_exported_wh: energy_wh,
		average_power_w: power_w,
		peak_power_w: power_w,
		soc_bp: Some(6_000),
		device_state: DeviceState::Operating,
		grid_response: GridResponseStatus::Idle,
		online_s: 900,
		quality: QualityFlags::default(),
	}
}

#[test]
fn an_accepted_report_shows_in_telemetry_and_totals() {
	chain_from_preset("development").execute_with(|| {
		let before = vpp_api::network_totals();
		assert_eq!(before.registered_devices, 7);
		assert_eq!(before.live.devices, 0);
		let active: Vec<_> = Devices::<Runtime>::iter_values()
			.filter(|r| r.status == DeviceStatus::Active)
			.collect();
		assert_eq!(before.active_devices as usize, active.len());
		let rated: u64 = active.iter().map(|r| u64::from(r.capability.rated_power_w)).sum();
		assert_eq!(before.rated_power_w, rated);
		assert!(vpp_api::device_telemetry(BATTERY).is_none());

		let call = RuntimeCall::Telemetry(pallet_telemetry::Call::submit_reports {
			reports: BoundedVec::truncate_from(vec![sign_demo(battery_report(
				1,
				NOON - 900,
				2_000,
			))]),
			raw_data_digest: None,
		});
		assert_ok!(apply(demo_fleet::DEMO_GATEWAY, call));

		let telemetry = vpp_api::device_telemetry(BATTERY).unwrap();
		assert_eq!(telemetry.latest.average_power_w, 2_000);
		assert_eq!(telemetry.last_sequence, 1);
		assert_eq!(telemetry.latest.plausibility_flags, 0);
		assert_eq!(telemetry.epoch.accepted, 1);
		let live = telemetry.live.expect("fresh");
		assert_eq!(live.devices, 1);

		let after = vpp_api::network_totals();
		assert_eq!(after.live.devices, 1);
		let battery_kind =
			after.by_kind.iter().find(|kind| kind.kind == DeviceKind::HomeBattery).unwrap();
		assert_eq!(battery_kind.live.devices, 1);
		let status = vpp_api::energy_status();
		let tennet_batteries = status
			.iter()
			.find(|e| e.region == b"DE-TENNET".to_vec() && e.kind == DeviceKind::HomeBattery)
			.unwrap();
		assert_eq!(tennet_batteries.live, live);
		// Totals are the sums of the map.
		assert_eq!(after.active_devices, status.iter().map(|e| e.active_devices).sum::<u32>());
		assert_eq!(
			after.live.generation_w,
			status.iter().map(|e| e.live.generation_w).sum::<u64>()
		);
	});
}

fn spec(region_code: &str, start: u64) -> EventSpec<u128> {
	EventSpec {
		kind: EventKind::DischargeStorage,
		regions: BoundedVec::truncate_from(vec![region(region_code)]),
		eligible_kinds: KindSet::of(&[DeviceKind::HomeBattery]),
		opt_in_deadline: start - 600,
		start,
		duration_s: 900,
		interval_length_s: 900,
		target_power_w: 3_000,
		price_per_kwh: OVPP,
		min_reputation_bp: 0,
		max_participants: 100,
	}
}

#[test]
fn events_are_listed_newest_first_by_status_and_region() {
	chain_from_preset("development").execute_with(|| {
		let page = vpp_api::dr_events(None, None, None, 50);
		assert!(page.events.is_empty() && page.next.is_none());
		assert!(vpp_api::dr_event(1, None, 10).is_none());

		let operator = Sr25519Keyring::Bob;
		let dr = RuntimeCall::DemandResponse;
		let add =
			dr(pallet_demand_response::Call::add_operator { operator: operator.to_account_id() });
		assert_ok!(apply(
			Sr25519Keyring::Alice,
			RuntimeCall::Sudo(pallet_sudo::Call::sudo { call: Box::new(add) })
		));
		for (region_code, offset) in
			[("DE-TENNET", 3_600), ("DE-AMPRION", 7_200), ("DE-TENNET", 10_800)]
		{
			let spec = spec(region_code, NOON + offset);
			assert_ok!(apply(operator, dr(pallet_demand_response::Call::create_event { spec })));
		}
		assert_ok!(apply(operator, dr(pallet_demand_response::Call::cancel_event { event: 2 })));

		let ids = |page: openvpp_runtime_api::DrEventPage<_>| -> Vec<u32> {
			page.events.iter().map(|event| event.id).collect()
		};
		assert_eq!(ids(vpp_api::dr_events(None, None, None, 50)), vec![3, 2, 1]);
		assert_eq!(ids(vpp_api::dr_events(None, Some(region("DE-TENNET")), None, 50)), vec![3, 1]);
		assert_eq!(ids(vpp_api::dr_events(Some(EventStatus::Cancelled), None, None, 50)), vec![2]);
		assert_eq!(
			ids(vpp_api::dr_events(Some(EventStatus::Scheduled), None, None, 50)),
			vec![3, 1]
		);
		// Pages: the newest one, then the rest before it.
		let first = vpp_api::dr_events(None, None, None, 1);
		assert_eq!(ids(first.clone()), vec![3]);
		assert_eq!(first.next, Some(3));
		assert_eq!(ids(vpp_api::dr_events(None, None, first.next, 50)), vec![2, 1]);

		let detail = vpp_api::dr_event(1, None, 10).unwrap();
		assert_eq!(detail.event.target_power_w, 3_000);
		assert_eq!(detail.event.regions, vec![b"DE-TENNET".to_vec()]);
		assert_eq!(detail.event.eligible_kinds, vec![DeviceKind::HomeBattery]);
		assert_eq!(detail.event.end, NOON + 3_600 + 900);
		let stored = pallet_demand_response::Events::<Runtime>::get(1).unwrap();
		assert_eq!(detail.event.escrow_planck, stored.escrow);
		assert!(detail.event.escrow_planck > 0);
		assert!(detail.participants.is_empty() && detail.next.is_none());
		assert_eq!(detail.now, NOON);
	});
}
