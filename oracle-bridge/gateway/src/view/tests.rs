use super::*;
use openvpp_primitives::{Baseline, DeviceKind, EventKind, JoinedBy};
use openvpp_runtime_api::{DrEventView, KindTotals, ParticipantView};

fn status(region: &str, kind: DeviceKind, generation_w: u64, devices: u32) -> RegionKindStatusView {
	RegionKindStatusView {
		region: region.as_bytes().to_vec(),
		kind,
		active_devices: 1,
		rated_power_w: 5_000,
		storage_capacity_wh: 0,
		live: LiveFigures { devices, generation_w, ..Default::default() },
		updated_at: 0,
	}
}

fn totals(online: u32) -> NetworkTotals {
	NetworkTotals {
		now: 0,
		registered_devices: 7,
		active_devices: 6,
		rated_power_w: 30_000,
		storage_capacity_wh: 20_000,
		live: LiveFigures { devices: online, ..Default::default() },
		by_kind: Vec::<KindTotals>::new(),
		regions: 2,
	}
}

#[test]
fn regions_sum_their_kinds() {
	let text = render(
		12,
		&totals(3),
		&[
			status("DE-TENNET", DeviceKind::RooftopSolar, 6_000, 1),
			status("DE-TENNET", DeviceKind::HomeBattery, 2_500, 1),
			status("DE-AMPRION", DeviceKind::CommercialBattery, 0, 1),
			status("DE-50HERTZ", DeviceKind::HomeBattery, 0, 0),
		],
	);
	assert!(
		text.starts_with("block #12 — 3 of 6 active devices online (7 registered), 30.0 kW rated")
	);
	let tennet = text.lines().find(|l| l.starts_with("DE-TENNET")).unwrap();
	assert!(tennet.contains(" 2 ") && tennet.contains("8.5"), "{tennet}");
	assert!(text.contains("  RooftopSolar"));
	// A region whose devices are registered but silent is not listed.
	assert!(!text.contains("DE-50HERTZ"), "{text}");
	assert!(render(1, &totals(0), &[]).contains("no device has reported yet"));
}

fn event(participants: Vec<ParticipantView>, joined: u32) -> DrEventDetail<AccountId> {
	DrEventDetail {
		now: 1_180,
		event: DrEventView {
			id: 4,
			operator: AccountId(sp_core::crypto::AccountId32::new([0; 32])),
			kind: EventKind::DischargeStorage,
			regions: vec![b"DE-TENNET".to_vec()],
			eligible_kinds: vec![DeviceKind::HomeBattery],
			opt_in_deadline: 900,
			start: 1_000,
			end: 1_600,
			interval_length_s: 300,
			target_power_w: 3_000,
			price_per_kwh_planck: 1,
			min_reputation_bp: 0,
			max_participants: 10,
			status: EventStatus::Active,
			escrow_planck: 2 * OVPP,
			paid_planck: 0,
			joined_devices: joined,
			joined_w: 3_000,
			selected_devices: 1,
			selected_w: 3_000,
			measured_delivery_wh: 120,
			settled_delivery_wh: 0,
		},
		participants,
		next: None,
	}
}

#[test]
fn an_event_shows_its_target_against_what_was_measured() {
	let participant = ParticipantView {
		device: 3,
		joined_by: JoinedBy::Gateway,
		committed_w: 3_000,
		selected: true,
		baseline: Some(Baseline::MeterBefore { net_import_w: 0 }),
		delivered_wh: 120,
		responding_intervals: 1,
		overridden_intervals: 0,
		idle_intervals: 0,
		flagged_intervals: 0,
		unmeasured_intervals: 0,
		performance_bp: None,
		paid_planck: None,
	};
	// Three minutes in: 150 Wh committed to date, 120 Wh measured.
	let text = render_events(&[event(vec![participant.clone()], 1)], 1_180);
	assert!(text.contains("event #4 DischargeStorage Active (180 s of 600 s)"), "{text}");
	assert!(text.contains("measured so far 120 Wh of 150 Wh committed to date"), "{text}");
	assert!(text.contains("paid 0.000 of 2.000 OVPP"), "{text}");
	assert!(text.contains("delivered    120 Wh") && text.contains("80 % so far"), "{text}");
	assert_eq!(render_events(&[], 0), "");
	// A large event lists the participants the node returned and counts the others.
	let listed = (0..10).map(|device| ParticipantView { device, ..participant.clone() }).collect();
	let text = render_events(&[event(listed, 25)], 1_180);
	assert_eq!(text.matches("  device ").count(), 10, "{text}");
	assert!(text.contains("… and 15 more participants"), "{text}");
}
