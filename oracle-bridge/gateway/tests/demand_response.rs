//! Demand response end to end, with real processes: dev node, mosquitto, simulator and bridge.
//!
//! The owner of the demo house consents once for its battery and its energy manager; an
//! operator announces two events; the bridge joins them for the owner, holds the devices at the
//! start (the simulated battery discharges harder, the heat pump stops: both visible in what
//! the simulator serves and in the devices' reports on chain), marks the reports as responding,
//! and gives the devices back: the battery at the end of its event, the energy manager when
//! its event is cancelled. The chain measures the battery's delivery against its meter-before
//! baseline. (Payment and reputation come after the ten-minute settlement grace period:
//! `scripts/dr-e2e.sh` runs that longer variant.)

#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

mod common;

use std::time::Duration;

use common::{metric_sum, Stack, StackOptions};
use openvpp_bridge::{chain::Chain, dispatch::follow};
use openvpp_primitives::{DeviceKind, EventKind, GridResponseStatus, KindSet, RegionCode};
use openvpp_runtime::{currency::OVPP, Runtime, RuntimeCall, RuntimeEvent};
use openvpp_sim::demo;
use openvpp_testkit as testkit;
use pallet_demand_response::{EventSpec, EventStatus, JoinedBy, ParticipantOf};
use sp_keyring::Sr25519Keyring;

/// Signs `call` as `who`, waits for its finalized block and returns its events; panics if it
/// failed.
async fn submit(chain: &Chain, who: Sr25519Keyring, call: RuntimeCall) -> Vec<RuntimeEvent> {
	match openvpp_demo::event::submit_as(chain, who, call, "a test call").await {
		Ok(events) => events,
		Err(error) => panic!("{error}"),
	}
}

fn spec(kind: EventKind, device_kind: DeviceKind, deadline: u64, start: u64) -> EventSpec<u128> {
	EventSpec {
		kind,
		regions: vec![RegionCode::truncate_from(b"DE-TENNET".to_vec())].try_into().unwrap(),
		eligible_kinds: KindSet::of(&[device_kind]),
		opt_in_deadline: deadline,
		start,
		duration_s: EVENT_S,
		interval_length_s: 60,
		target_power_w: 10_000,
		price_per_kwh: OVPP,
		min_reputation_bp: 0,
		max_participants: 10,
	}
}

const EVENT_S: u32 = 120;

async fn create(chain: &Chain, spec: EventSpec<u128>) -> u32 {
	match openvpp_demo::event::create_event(chain, Sr25519Keyring::Charlie, spec).await {
		Ok(id) => id,
		Err(error) => panic!("{error}"),
	}
}

/// The participant record of `device` in `event`, if it joined.
async fn participant(chain: &Chain, event: u32, device: u32) -> Option<ParticipantOf<Runtime>> {
	let head = chain.finalized_head().await.ok()?;
	let participants = follow::participants(chain, event, head).await.ok()?;
	participants.into_iter().find(|p| p.device == device)
}

/// The home battery's `StorCtl_Mod`, read over Modbus as any client would.
async fn storage_mode(stack: &Stack) -> Option<u16> {
	use tokio_modbus::prelude::*;
	let address = stack.layout.modbus_address(demo::HOME_BATTERY);
	let mut context = tcp::connect_slave(address, Slave(1)).await.ok()?;
	// The simulator's model 124 follows the common model and the inverter and battery models;
	// find it by walking the chain from the marker at 40000.
	let mut at = 40_002u16;
	loop {
		let header = context.read_holding_registers(at, 2).await.ok()?.ok()?;
		if header[0] == 0xFFFF {
			return None;
		}
		if header[0] == 124 {
			let block = context.read_holding_registers(at, 26).await.ok()?.ok()?;
			return Some(block[5]);
		}
		at = at.checked_add(2 + header[1])?;
	}
}

fn now_s() -> u64 {
	openvpp_bridge::sources::now_ms() / 1_000
}

/// The energy manager's simulated power (W, negative = drawn) and when (s), once the simulator
/// has served it after `after_s`.
fn ems_power_after(stack: &Stack, after_s: u64) -> Option<(i64, u64)> {
	let trace = stack.trace();
	let last = trace.iter().rev().find(|l| l.device == demo::EMS)?;
	(last.t_ms / 1_000 > after_s).then_some((last.power_w, last.t_ms / 1_000))
}

/// Waits for the battery's and the energy manager's first reports; Alice consents for both
/// and lets the energy manager be dispatched at any hour; root makes Charlie an operator.
async fn consent_and_operator(chain: &Chain) {
	testkit::wait_for(
		"first reports of the battery and the energy manager",
		Duration::from_secs(180),
		|| async {
			let battery = chain.device_telemetry(demo::HOME_BATTERY, None).await.ok()??;
			let ems = chain.device_telemetry(demo::EMS, None).await.ok()??;
			(battery.last_sequence > 0 && ems.last_sequence > 0).then_some(())
		},
	)
	.await;
	// Alice consents for her battery (up to 3 kW) and energy manager (up to 2 kW).
	for (device, max_power_w) in [(demo::HOME_BATTERY, 3_000), (demo::EMS, 2_000)] {
		let call = RuntimeCall::DemandResponse(pallet_demand_response::Call::enrol {
			device,
			gateway_may_join: true,
			max_power_w,
		});
		submit(chain, Sr25519Keyring::Alice, call).await;
	}
	// The demo's energy manager may be dispatched 06:00–22:00 UTC; the tests run at any hour,
	// so Alice allows any time.
	let any_time =
		RuntimeCall::DeviceRegistry(pallet_device_registry::Call::update_comfort_limits {
			device_id: demo::EMS,
			comfort: Default::default(),
		});
	submit(chain, Sr25519Keyring::Alice, any_time).await;
	let add = RuntimeCall::DemandResponse(pallet_demand_response::Call::add_operator {
		operator: Sr25519Keyring::Charlie.to_account_id(),
	});
	let sudo = RuntimeCall::Sudo(pallet_sudo::Call::sudo { call: Box::new(add) });
	submit(chain, Sr25519Keyring::Alice, sudo).await;
}

/// Two events of Charlie's starting at `start`: a discharge for home batteries, which devices
/// join until 30 s before (a scheduled start: the bridge knows its participants ahead), and a
/// load reduction for energy managers that starts the moment its opt-in closes (the bridge
/// learns its participants only once the selection is final).
async fn two_events(chain: &Chain, start: u64) -> (u32, u32) {
	let discharge = create(
		chain,
		spec(EventKind::DischargeStorage, DeviceKind::HomeBattery, start - 30, start),
	)
	.await;
	let shed = create(
		chain,
		spec(EventKind::ReduceLoad, DeviceKind::EnergyManagementSystem, start, start),
	)
	.await;
	(discharge, shed)
}

/// Batteries of the larger fleet in the short test; a tenth of their owners override.
const FLEET: u32 = 40;
const FLEET_OVERRIDE_PERCENT: u32 = 10;

/// Consents for the larger fleet (registered by the stack) with `openvpp-demo fleet
/// --consent`, as a person would, once each battery has reported.
async fn consent_for_fleet(url: String) {
	let stdout = common::run_demo_command(&[
		"fleet",
		"--url",
		&url,
		"--count",
		&FLEET.to_string(),
		"--consent",
		"--wait-s",
		"240",
	])
	.await;
	assert!(stdout.contains(&format!("{FLEET} enrolled by this run")), "{stdout}");
}

/// The fleet battery's simulated power (W) at its last step at or before `at_s`.
fn fleet_power_at(trace: &[openvpp_sim::TraceLine], device: u32, at_s: u64) -> Option<i64> {
	trace.iter().rev().find(|l| l.device == device && l.t_ms / 1_000 <= at_s).map(|l| l.power_w)
}

#[tokio::test(flavor = "multi_thread")]
async fn the_bridge_joins_dispatches_and_gives_back_devices_while_the_chain_measures_them() {
	let stack = Stack::start(StackOptions {
		fleet: FLEET,
		fleet_override_percent: FLEET_OVERRIDE_PERCENT,
		..Default::default()
	})
	.await;
	let chain = stack.chain().await;

	let fleet_consented = tokio::spawn(consent_for_fleet(stack.url()));
	consent_and_operator(&chain).await;
	fleet_consented.await.unwrap();
	let start = now_s() + 150;
	let end = start + u64::from(EVENT_S);
	let (discharge, shed) = two_events(&chain, start).await;
	// And a discharge for the larger fleet in its own control area, 1.5 kW a battery.
	let fleet_event = create(
		&chain,
		EventSpec {
			regions: vec![RegionCode::truncate_from(demo::FLEET_REGION.as_bytes().to_vec())]
				.try_into()
				.unwrap(),
			target_power_w: u64::from(FLEET) * 1_500,
			max_participants: FLEET,
			..spec(EventKind::DischargeStorage, DeviceKind::HomeBattery, start - 30, start)
		},
	)
	.await;

	// The gateway joins both for Alice, within her consent.
	let (battery, ems) =
		testkit::wait_for("the gateway's joins", Duration::from_secs(start - now_s()), || async {
			let battery = participant(&chain, discharge, demo::HOME_BATTERY).await?;
			let ems = participant(&chain, shed, demo::EMS).await?;
			Some((battery, ems))
		})
		.await;
	assert_eq!(battery.joined_by, JoinedBy::Gateway);
	assert_eq!(ems.joined_by, JoinedBy::Gateway);
	assert!(battery.committed_w > 0 && battery.committed_w <= 3_000, "{battery:?}");
	assert!(ems.committed_w > 0 && ems.committed_w <= 2_000, "{ems:?}");

	// Before the start the battery runs on its own.
	assert_eq!(storage_mode(&stack).await, Some(0));
	// Nearly every fleet battery joined (a join the chain refuses on a reading is retried).
	let fleet_joined = testkit::wait_for(
		"the fleet's joins",
		Duration::from_secs((start - 30).saturating_sub(now_s()) + 15),
		|| async {
			let head = chain.finalized_head().await.ok()?;
			let joined = follow::participants(&chain, fleet_event, head).await.ok()?;
			(joined.len() as u32 * 10 >= FLEET * 9).then_some(joined)
		},
	)
	.await;
	assert!(fleet_joined.iter().all(|p| p.joined_by == JoinedBy::Gateway));

	// At the start the bridge holds both: the battery's storage control is set, and the heat
	// pump stops (the energy manager draws its 30 W standby).
	let held = testkit::wait_for(
		"the battery's storage control set",
		Duration::from_secs(start - now_s() + 30),
		|| async { (storage_mode(&stack).await? == 3).then_some(now_s()) },
	)
	.await;
	assert!(held >= start, "held before the start");
	let shed_at = testkit::wait_for("the heat pump off", Duration::from_secs(60), || async {
		ems_power_after(&stack, start).filter(|(power_w, _)| *power_w > -100).map(|(_, at)| at)
	})
	.await;

	// The operator calls the load reduction off mid-event: escrow refunded, the heat pump back.
	let cancel_at = start + 70;
	tokio::time::sleep(Duration::from_secs(cancel_at.saturating_sub(now_s()))).await;
	let cancel =
		RuntimeCall::DemandResponse(pallet_demand_response::Call::cancel_event { event: shed });
	let events = submit(&chain, Sr25519Keyring::Charlie, cancel).await;
	assert!(events.iter().any(|e| matches!(
		e,
		RuntimeEvent::DemandResponse(pallet_demand_response::Event::EventCancelled { event, .. }) if *event == shed
	)));
	let cancelled_at = now_s();
	testkit::wait_for("the heat pump back on", Duration::from_secs(60), || async {
		ems_power_after(&stack, cancelled_at).filter(|(power_w, _)| *power_w < -300).map(|_| ())
	})
	.await;

	// After the end the battery is given back its own mode.
	testkit::wait_for(
		"the battery given back",
		Duration::from_secs(end - now_s() + 60),
		|| async { (storage_mode(&stack).await? == 0).then_some(()) },
	)
	.await;

	// The fleet batteries selected for the event changed their power at the start (by at least
	// 500 W towards discharging), except those whose owners override commands.
	let head = chain.finalized_head().await.unwrap();
	let selected: Vec<_> = follow::participants(&chain, fleet_event, head)
		.await
		.unwrap()
		.into_iter()
		.filter(|p| p.selected)
		.collect();
	assert!(!selected.is_empty());
	let overriding =
		openvpp_sim::fleet::FleetBatteries::new(FLEET, FLEET_OVERRIDE_PERCENT).overriding();
	let trace = stack.trace();
	let mut followed = 0;
	for participant in &selected {
		let before = fleet_power_at(&trace, participant.device, start - 5).expect("traced");
		let during = fleet_power_at(&trace, participant.device, start + 30).expect("traced");
		if overriding.contains(&participant.device) {
			continue;
		}
		assert!(during >= before + 500, "device {}: {before} W → {during} W", participant.device);
		followed += 1;
	}
	println!(
		"fleet: {} of {FLEET} joined, {} selected, {followed} followed the hold, {} override",
		fleet_joined.len(),
		selected.len(),
		selected.len() - followed
	);

	// On chain: the battery's reports inside the event say it responded, and it delivered
	// more than its baseline: the chain measured energy for it.
	let reports = stack
		.wait_for_reports_since(1, &[demo::HOME_BATTERY], end, 1, Duration::from_secs(120))
		.await;
	let in_event: Vec<_> = reports
		.iter()
		.filter(|r| {
			r.device_id == demo::HOME_BATTERY
				&& r.interval_start >= start
				&& r.interval_start + u64::from(r.interval_length_s) <= end
		})
		.collect();
	assert!(!in_event.is_empty());
	assert!(
		in_event.iter().all(|r| r.grid_response == GridResponseStatus::Responding),
		"{in_event:?}"
	);
	let before: Vec<_> = reports
		.iter()
		.filter(|r| r.device_id == demo::HOME_BATTERY && r.interval_start + 60 < start)
		.collect();
	assert!(before.iter().all(|r| r.grid_response == GridResponseStatus::Idle), "{before:?}");
	let measured = participant(&chain, discharge, demo::HOME_BATTERY).await.expect("participant");
	assert!(measured.selected, "{measured:?}");
	assert!(measured.measurement.responding_intervals > 0, "{measured:?}");
	assert!(measured.measurement.delivered_wh > 0, "{measured:?}");
	let committed_wh = u64::from(battery.committed_w) * u64::from(EVENT_S) / 3_600;
	println!(
		"battery: committed {} W ({committed_wh} Wh over the event), baseline {:?}, delivered {} Wh",
		battery.committed_w, measured.measurement.baseline, measured.measurement.delivered_wh
	);

	// The chain measured energy delivered by every fleet battery that followed its hold.
	testkit::wait_for("the fleet's delivery measured", Duration::from_secs(120), || async {
		let head = chain.finalized_head().await.ok()?;
		let participants = follow::participants(&chain, fleet_event, head).await.ok()?;
		participants
			.iter()
			.filter(|p| p.selected && !overriding.contains(&p.device))
			.all(|p| p.measurement.delivered_wh > 0)
			.then_some(())
	})
	.await;

	// The relay confirmed the heat pump off: the energy manager's reports between the start and
	// the cancellation say it responded.
	let ems: Vec<_> = reports
		.iter()
		.filter(|r| {
			r.device_id == demo::EMS
				&& r.interval_start >= shed_at
				&& r.interval_start + u64::from(r.interval_length_s) <= cancel_at
		})
		.collect();
	assert!(!ems.is_empty());
	assert!(ems.iter().all(|r| r.grid_response == GridResponseStatus::Responding), "{ems:?}");

	// The cancelled event is cancelled; its escrow went back.
	let head = chain.finalized_head().await.unwrap();
	let record = follow::event(&chain, shed, head).await.unwrap().unwrap();
	assert_eq!(record.status, EventStatus::Cancelled);

	// Every command was counted, with the latency from the start.
	let metrics = stack.metrics().await;
	assert!(
		metric_sum(
			&metrics,
			"openvpp_bridge_dispatch_commands_total",
			"command=\"hold\",device=\"home-battery\",outcome=\"acknowledged\""
		) >= 1.0,
		"{metrics}"
	);
	assert!(
		metric_sum(&metrics, "openvpp_bridge_dispatch_commands_total", "command=\"release\"")
			>= 2.0,
		"{metrics}"
	);
	assert!(
		metric_sum(&metrics, "openvpp_bridge_dispatch_latency_seconds_count", "") >= 2.0,
		"{metrics}"
	);
	assert_eq!(metric_sum(&metrics, "openvpp_bridge_devices_held", ""), 0.0, "{metrics}");
	for line in stack.bridge.log().lines().filter(|l| l.contains("device held for the event")) {
		println!("{line}");
	}

	// Meanwhile the chain has paid contribution rewards for the fleet's first epoch.
	let paid = rewards_paid(&chain).await;

	// The live view shows both events, the battery's delivery and the rewards.
	let output = std::process::Command::new(common::BRIDGE)
		.args(["watch", "--once", "--url", &stack.url()])
		.output()
		.unwrap();
	let view = String::from_utf8_lossy(&output.stdout);
	assert!(output.status.success(), "{view}");
	assert!(view.contains(&format!("event #{discharge} DischargeStorage")), "{view}");
	assert!(view.contains(&format!("event #{shed} ReduceLoad Cancelled")), "{view}");
	assert!(view.contains("measured so far"), "{view}");
	assert!(view.contains("rewards: epoch"), "{view}");
	println!("{view}");
	println!("rewards: {paid}");
}

/// Waits for an epoch paid to the fleet (five-minute epochs and a minute's grace on the
/// development chain), checks that each device's owner received exactly its reward in the
/// block that paid it, and describes the epoch.
async fn rewards_paid(chain: &Chain) -> String {
	use openvpp_bridge::rewards_view::latest_rewards;
	let view = testkit::wait_for("an epoch of rewards paid", Duration::from_secs(420), || async {
		let head = chain.finalized_head().await.ok()?;
		latest_rewards(chain, head)
			.await
			.ok()?
			.filter(|v| v.summary.settled && v.summary.devices_scored > 0)
	})
	.await;
	let summary = &view.summary;
	assert!(summary.emitted_planck > 0 && summary.paid_planck > 0, "{summary:?}");
	assert_eq!(
		summary.paid_planck + summary.carried_planck + summary.to_treasury_planck,
		summary.pool_planck
	);
	assert_eq!(view.results.iter().map(|r| r.reward_planck).sum::<u128>(), summary.paid_planck);
	// The demo house's battery reported all epoch: Alice was paid for it.
	let battery = view
		.results
		.iter()
		.find(|result| result.device == demo::HOME_BATTERY)
		.expect("the battery scored");
	assert!(battery.reward_planck > 0, "{battery:?}");
	let paid_at = battery.paid_at_block.expect("paid");
	let alice = Sr25519Keyring::Alice.to_account_id();
	let alice_rewards: u128 = view
		.results
		.iter()
		.filter(|r| r.owner.0 == alice && r.paid_at_block == Some(paid_at))
		.map(|r| r.reward_planck)
		.sum();
	let gained =
		free_balance(chain, &alice, paid_at).await - free_balance(chain, &alice, paid_at - 1).await;
	assert_eq!(gained, alice_rewards);
	format!(
		"epoch {}: {} devices, pool {} planck, paid {}, treasury {}, Alice +{alice_rewards} in block {paid_at}",
		summary.epoch,
		summary.devices_scored,
		summary.pool_planck,
		summary.paid_planck,
		summary.to_treasury_planck
	)
}

/// The longer variant (`scripts/dr-e2e.sh`): the events run to their settlement, after the
/// ten-minute grace period. The energy manager's owner overrides every command (the simulator's
/// `--override`): it joins, does nothing, earns nothing and loses reputation; the battery is
/// paid for what it delivered, and the rest of the escrow goes back to the operator.
#[tokio::test(flavor = "multi_thread")]
#[ignore = "runs for about 20 minutes; scripts/dr-e2e.sh runs it"]
async fn settlement_pays_the_battery_and_an_owner_who_overrides_earns_nothing() {
	let stack =
		Stack::start(StackOptions { override_devices: vec![demo::EMS], ..Default::default() })
			.await;
	let chain = stack.chain().await;
	consent_and_operator(&chain).await;
	let reputation_before = chain.device(demo::EMS).await.unwrap().unwrap().credit.reputation_bp;
	let start = now_s() + 150;
	let end = start + u64::from(EVENT_S);
	let (discharge, shed) = two_events(&chain, start).await;

	// Both settle after the end plus the grace period.
	let settled = |id: u32| {
		let chain = &chain;
		async move {
			let head = chain.finalized_head().await.ok()?;
			let event = follow::event(chain, id, head).await.ok()??;
			(event.status == EventStatus::Settled).then_some(event)
		}
	};
	let grace = 600;
	let wait = Duration::from_secs(end + grace - now_s() + 180);
	let battery_event =
		testkit::wait_for("the discharge settled", wait, || settled(discharge)).await;
	let shed_event =
		testkit::wait_for("the load reduction settled", Duration::from_secs(120), || settled(shed))
			.await;

	// The battery delivered and was paid for it from the escrow, at the event's price.
	let battery = participant(&chain, discharge, demo::HOME_BATTERY).await.expect("battery");
	let paid = battery.settlement.expect("settled").paid;
	assert!(battery.measurement.delivered_wh > 0, "{battery:?}");
	assert!(paid > 0, "{battery:?}");
	assert_eq!(battery_event.paid, paid);
	let paid_wh = u128::from(battery.measurement.delivered_wh);
	assert!(paid <= paid_wh * OVPP / 1_000 + 1, "paid {paid} for {paid_wh} Wh");

	// The energy manager's owner overrode: recorded, nothing delivered, nothing paid, and its
	// reputation went down.
	let ems = participant(&chain, shed, demo::EMS).await.expect("energy manager");
	assert!(ems.measurement.overridden_intervals > 0, "{ems:?}");
	assert_eq!(ems.measurement.delivered_wh, 0, "{ems:?}");
	assert_eq!(ems.settlement.expect("settled").paid, 0);
	assert_eq!(shed_event.paid, 0);
	let record = chain.device(demo::EMS).await.unwrap().unwrap();
	assert!(record.credit.reputation_bp < reputation_before, "{:?}", record.credit);
	let battery_record = chain.device(demo::HOME_BATTERY).await.unwrap().unwrap();
	println!(
		"battery: delivered {} Wh, paid {paid} planck, reputation {} bp; energy manager: overridden {} intervals, reputation {reputation_before} → {} bp",
		battery.measurement.delivered_wh,
		battery_record.credit.reputation_bp,
		ems.measurement.overridden_intervals,
		record.credit.reputation_bp,
	);
}

/// `who`'s free balance at block `number`.
async fn free_balance(chain: &Chain, who: &sp_core::crypto::AccountId32, number: u32) -> u128 {
	let hash = chain.block_hash(number).await.unwrap().unwrap();
	let key = frame_system::Account::<Runtime>::hashed_key_for(who);
	let bytes = chain.storage_raw(key, Some(hash)).await.unwrap().unwrap();
	let info: frame_system::AccountInfo<u32, pallet_balances::AccountData<u128>> =
		codec::Decode::decode(&mut &bytes[..]).unwrap();
	info.data.free
}
