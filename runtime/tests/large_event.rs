//! An event with thousands of participants through the real runtime: devices registered,
//! verified, reporting, enrolled and joined through extrinsics, then selected and settled by
//! `on_poll` across as many blocks as its weight limit needs, exactly once.
//!
//! The run prints what it measured (`cargo test --release -p openvpp-runtime --test large_event
//! -- --nocapture`): the blocks selection and settlement took, the weight `on_poll` charged in
//! each (its reference time; a solochain has no proof-size limit), and the native execution
//! time of those blocks on this machine against in-memory storage (a node executes the wasm
//! runtime against its database, which the weights price). Next to them, the blocks predicted
//! from the benchmarked per-participant weights.

#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

mod common;

use std::time::{Duration, Instant};

use codec::Encode;
use common::*;
use frame_support::{
	assert_ok,
	dispatch::DispatchClass,
	traits::{fungible::InspectHold, Get},
	weights::Weight,
	BoundedVec,
};
use openvpp_primitives::{
	AttestationSignature, Capability, ComfortLimits, DeviceId, DeviceKind, DeviceState, EventKind,
	GridResponseStatus, IntervalReport, KeyOwnershipProof, KeyProofPurpose, KindSet, QualityFlags,
	SignedReport,
};
use openvpp_runtime::{
	configs::DemandResponsePollWeight, demo_fleet, AccountId, Balances, DeviceRegistry, Runtime,
	RuntimeCall, RuntimeEvent, RuntimeHoldReason, Telemetry, OVPP,
};
use pallet_demand_response::{EventSpec, EventStatus, HoldReason, Progress, WeightModel};
use sp_core::{sr25519, Pair};
use sp_keyring::Sr25519Keyring;
use sp_runtime::{
	transaction_validity::{InvalidTransaction, TransactionValidityError},
	MultiAddress,
};

/// Devices are spread over this many owners.
const OWNERS: u32 = 100;
/// Every tenth participant is dispatched but does nothing.
const IDLE_EVERY: u32 = 10;
const COMMITTED_W: u32 = 3_000;
/// 3 kW for the event's quarter hour.
const DELIVERED_WH: u64 = 750;
/// 20 kWh batteries: 750 Wh is 375 bp of charge.
const CAPACITY_WH: u64 = 20_000;
const PRICE_PER_KWH: u128 = OVPP / 100;
const EVENT: u32 = 1;
const OPT_IN_DEADLINE: u64 = NOON + 300;
const START: u64 = NOON + 900;
const END: u64 = NOON + 1_800;
const BLOCK_S: u64 = 6;

type Weights = <Runtime as pallet_demand_response::Config>::WeightInfo;

fn key(purpose: &str, index: u32) -> sr25519::Pair {
	sr25519::Pair::from_seed(&sp_io::hashing::blake2_256(format!("{purpose}/{index}").as_bytes()))
}

fn account(pair: &sr25519::Pair) -> AccountId {
	pair.public().into()
}

fn now_s() -> u64 {
	pallet_timestamp::Now::<Runtime>::get() / 1_000
}

/// Offers `call` to the block being built; when the block is full, the next block (at the same
/// time) takes it, as a block author would.
fn include(signer: &sr25519::Pair, call: RuntimeCall) {
	loop {
		match try_apply(signer, call.clone()) {
			Ok(result) => {
				assert_ok!(result);
				return;
			}
			Err(TransactionValidityError::Invalid(InvalidTransaction::ExhaustsResources)) => {
				next_block(now_s())
			}
			Err(refused) => panic!("refused: {refused:?}"),
		}
	}
}

struct Device {
	id: DeviceId,
	key: sr25519::Pair,
	delivers: bool,
}

/// `count` home batteries in NL-TENNET, each registered by its owner, approved by the
/// verifier and bound to the demo gateway.
fn register_fleet(owners: &[sr25519::Pair], count: u32) -> Vec<Device> {
	let alice = Sr25519Keyring::Alice.pair();
	for owner in owners {
		include(
			&alice,
			RuntimeCall::Balances(pallet_balances::Call::transfer_keep_alive {
				dest: MultiAddress::Id(account(owner)),
				value: 1_000 * OVPP,
			}),
		);
	}
	let verifier = demo_fleet::DEMO_VERIFIER.pair();
	(0..count)
		.map(|index| {
			let owner = &owners[(index % OWNERS) as usize];
			let device_key = key("device", index);
			let proof = KeyOwnershipProof::new(
				KeyProofPurpose::Register,
				frame_system::Pallet::<Runtime>::block_hash(0),
				account(owner),
				pallet_device_registry::RegistrationNonces::<Runtime>::get(account(owner)),
			);
			let id = pallet_device_registry::NextDeviceId::<Runtime>::get();
			include(
				owner,
				RuntimeCall::DeviceRegistry(pallet_device_registry::Call::register_device {
					kind: DeviceKind::HomeBattery,
					capability: Capability {
						rated_power_w: 10_000,
						storage_capacity_wh: Some(CAPACITY_WH),
						max_charge_w: Some(10_000),
						max_discharge_w: Some(10_000),
					},
					region: BoundedVec::truncate_from(b"NL-TENNET".to_vec()),
					metadata: Default::default(),
					comfort: ComfortLimits {
						min_reserve_soc_bp: 1_500,
						dispatch_windows: Default::default(),
					},
					gateway: demo_fleet::DEMO_GATEWAY.to_account_id(),
					attestation_key: device_key.public().into(),
					proof: AttestationSignature::Sr25519(device_key.sign(&proof.encode())),
				}),
			);
			include(
				&verifier,
				RuntimeCall::DeviceRegistry(pallet_device_registry::Call::approve_device {
					device_id: id,
				}),
			);
			Device { id, key: device_key, delivers: (index + 1) % IDLE_EVERY != 0 }
		})
		.collect()
}

/// Every device's report for the quarter hour from `start`, submitted by the gateway in
/// batches of the largest size: idle at 60 % before the event, then discharging 3 kW for it
/// (or, for the idle tenth, dispatched and doing nothing).
fn report_quarter(devices: &[Device], sequence: u64, start: u64) {
	let in_event = start >= START;
	let signed: Vec<SignedReport> = devices
		.iter()
		.map(|device| {
			let exported_wh = if in_event && device.delivers { DELIVERED_WH } else { 0 };
			let report = IntervalReport {
				device_id: device.id,
				sequence,
				interval_start: start,
				interval_length_s: 900,
				energy_imported_wh: 0,
				energy_exported_wh: exported_wh,
				cumulative_imported_wh: 0,
				cumulative_exported_wh: exported_wh,
				average_power_w: (exported_wh * 4) as i32,
				peak_power_w: (exported_wh * 4) as i32,
				soc_bp: Some(6_000 - (exported_wh * 10_000 / CAPACITY_WH) as u16),
				device_state: DeviceState::Operating,
				grid_response: if in_event {
					if device.delivers {
						GridResponseStatus::Responding
					} else {
						GridResponseStatus::Dispatched
					}
				} else {
					GridResponseStatus::Idle
				},
				online_s: 900,
				quality: QualityFlags::default(),
			};
			let payload = openvpp_primitives::report_signing_payload(
				&frame_system::Pallet::<Runtime>::block_hash(0),
				&report,
			);
			SignedReport { report, signature: device.key.sign(&payload).into() }
		})
		.collect();
	let max_batch: u32 = <Runtime as pallet_telemetry::Config>::MaxBatchSize::get();
	let gateway = demo_fleet::DEMO_GATEWAY.pair();
	for batch in signed.chunks(max_batch as usize) {
		include(
			&gateway,
			RuntimeCall::Telemetry(pallet_telemetry::Call::submit_reports {
				reports: BoundedVec::truncate_from(batch.to_vec()),
				raw_data_digest: None,
			}),
		);
	}
	for device in devices {
		let state = pallet_telemetry::DeviceTelemetry::<Runtime>::get(device.id).unwrap();
		assert!(state.latest.plausibility.is_plausible(), "{:?}", state.latest);
	}
}

/// What `on_poll` did in one block.
struct PollBlock {
	weight: Weight,
	native: Duration,
	settled_events: usize,
}

/// Starts the next block at `unix_s` and runs its `on_poll`, measuring it.
fn poll_block(unix_s: u64) -> PollBlock {
	start_block(frame_system::Pallet::<Runtime>::block_number() + 1, unix_s);
	let mandatory =
		|| *frame_system::Pallet::<Runtime>::block_weight().get(DispatchClass::Mandatory);
	let before = mandatory();
	let started = Instant::now();
	openvpp_runtime::Executive::inherents_applied();
	let native = started.elapsed();
	let settled_events = events()
		.iter()
		.filter(|event| {
			matches!(
				event,
				RuntimeEvent::DemandResponse(pallet_demand_response::Event::EventSettled { .. })
			)
		})
		.count();
	PollBlock { weight: mandatory().saturating_sub(before), native, settled_events }
}

/// Blocks from `from`, one every six seconds, until `done`.
fn poll_until(from: u64, done: impl Fn() -> bool) -> Vec<PollBlock> {
	let mut blocks = Vec::new();
	let mut at = from;
	while !done() {
		assert!(blocks.len() < 1_000, "on_poll made no progress");
		blocks.push(poll_block(at));
		at += BLOCK_S;
	}
	blocks
}

fn progress() -> Progress {
	pallet_demand_response::Events::<Runtime>::get(EVENT).unwrap().progress
}

fn print_phase(name: &str, participants: u32, per_participant: Weight, blocks: &[PollBlock]) {
	let limit = DemandResponsePollWeight::get();
	let predicted =
		(u64::from(participants) * per_participant.ref_time()).div_ceil(limit.ref_time());
	let total: Weight = blocks.iter().fold(Weight::zero(), |sum, b| sum.saturating_add(b.weight));
	let native: Duration = blocks.iter().map(|b| b.native).sum();
	println!(
		"{name}: {} blocks (predicted from the per-participant weight: {predicted}); weight \
		 charged {:.1} ms in all, at most {:.1} ms in a block (limit {:.1} ms); native execution \
		 against in-memory storage {:.1} ms in all, at most {:.1} ms in a block",
		blocks.len(),
		total.ref_time() as f64 / 1e9,
		blocks.iter().map(|b| b.weight.ref_time()).max().unwrap_or(0) as f64 / 1e9,
		limit.ref_time() as f64 / 1e9,
		native.as_secs_f64() * 1e3,
		blocks.iter().map(|b| b.native).max().unwrap_or_default().as_secs_f64() * 1e3,
	);
	for (index, block) in blocks.iter().enumerate() {
		println!(
			"  block {}: {:.1} ms of weight; native {:.1} ms",
			index + 1,
			block.weight.ref_time() as f64 / 1e9,
			block.native.as_secs_f64() * 1e3
		);
	}
}

fn run(participants: u32) {
	chain_from_preset("development").execute_with(|| {
		// Devices are approved before the first quarter hour they report.
		pallet_timestamp::Now::<Runtime>::put((NOON - 1_800) * 1_000);
		let owners: Vec<sr25519::Pair> = (0..OWNERS).map(|index| key("owner", index)).collect();
		let set_up = Instant::now();
		let devices = register_fleet(&owners, participants);

		next_block(NOON);
		report_quarter(&devices, 1, NOON - 900);
		for (index, device) in devices.iter().enumerate() {
			include(
				&owners[index % OWNERS as usize],
				RuntimeCall::DemandResponse(pallet_demand_response::Call::enrol {
					device: device.id,
					gateway_may_join: true,
					max_power_w: 5_000,
				}),
			);
		}
		let operator = Sr25519Keyring::Bob;
		include(
			&Sr25519Keyring::Alice.pair(),
			RuntimeCall::Sudo(pallet_sudo::Call::sudo {
				call: Box::new(RuntimeCall::DemandResponse(
					pallet_demand_response::Call::add_operator {
						operator: operator.to_account_id(),
					},
				)),
			}),
		);
		let spec = EventSpec {
			kind: EventKind::DischargeStorage,
			regions: BoundedVec::truncate_from(vec![BoundedVec::truncate_from(
				b"NL-TENNET".to_vec(),
			)]),
			eligible_kinds: KindSet::of(&[DeviceKind::HomeBattery]),
			opt_in_deadline: OPT_IN_DEADLINE,
			start: START,
			duration_s: 900,
			interval_length_s: 900,
			target_power_w: u64::from(participants) * u64::from(COMMITTED_W),
			price_per_kwh: PRICE_PER_KWH,
			min_reputation_bp: 0,
			max_participants: participants,
		};
		include(
			&operator.pair(),
			RuntimeCall::DemandResponse(pallet_demand_response::Call::create_event { spec }),
		);
		let gateway = demo_fleet::DEMO_GATEWAY.pair();
		for device in &devices {
			include(
				&gateway,
				RuntimeCall::DemandResponse(pallet_demand_response::Call::join_event {
					event: EVENT,
					device: device.id,
					committed_w: COMMITTED_W,
				}),
			);
		}
		let event = pallet_demand_response::Events::<Runtime>::get(EVENT).unwrap();
		assert_eq!(event.joined, participants);
		println!(
			"{participants} participants registered, reporting, enrolled and joined through \
			 extrinsics in {:.1} s (native)",
			set_up.elapsed().as_secs_f64()
		);

		let selection = poll_until(OPT_IN_DEADLINE, || progress() == Progress::Selected);
		let event = pallet_demand_response::Events::<Runtime>::get(EVENT).unwrap();
		assert_eq!(event.selected, participants);

		next_block(START);
		report_quarter(&devices, 2, NOON);
		next_block(END);
		report_quarter(&devices, 3, START);

		let grace_s: u64 = <Runtime as pallet_demand_response::Config>::SettlementGraceS::get();
		let settle_from = END + grace_s;
		let settlement = poll_until(settle_from, || {
			pallet_demand_response::Events::<Runtime>::get(EVENT).unwrap().status
				== EventStatus::Settled
		});

		print_phase("selection", participants, Weights::select_participant(), &selection);
		print_phase("settlement", participants, Weights::settle_participant(), &settlement);

		// Bounded: no block's poll went beyond the shares its pallets may use (the weight
		// measured is every pallet's `on_poll`: demand response's, and the epoch sweep's and
		// the rewards' for the test devices' epochs).
		let limit = DemandResponsePollWeight::get()
			.saturating_add(openvpp_runtime::configs::EpochSweepWeight::get())
			.saturating_add(openvpp_runtime::configs::rewards::RewardsPollWeight::get());
		for block in selection.iter().chain(&settlement) {
			assert!(block.weight.all_lte(limit), "{:?} > {limit:?}", block.weight);
		}
		// Across blocks when the work needs it, and settled exactly once.
		let needed = u64::from(participants) * Weights::settle_participant().ref_time();
		assert!(
			settlement.len() as u64 >= needed.div_ceil(DemandResponsePollWeight::get().ref_time())
		);
		assert_eq!(settlement.iter().map(|b| b.settled_events).sum::<usize>(), 1);

		// Each participant settled once: the delivering ones paid for 750 Wh and credited, the
		// idle ones paid nothing and debited; the escrow's rest went back to the operator.
		let event = pallet_demand_response::Events::<Runtime>::get(EVENT).unwrap();
		let delivering = devices.iter().filter(|d| d.delivers).count() as u64;
		assert_eq!(event.delivered_wh, delivering * DELIVERED_WH);
		let paid_each = PRICE_PER_KWH * u128::from(DELIVERED_WH) / 1_000;
		assert_eq!(event.paid, u128::from(delivering) * paid_each);
		let mut paid = 0;
		for participant in
			pallet_demand_response::Participants::<Runtime>::iter_prefix_values(EVENT)
		{
			let settlement = participant.settlement.expect("every participant is settled");
			let device = devices.iter().find(|d| d.id == participant.device).unwrap();
			let reputation = pallet_device_registry::Devices::<Runtime>::get(device.id)
				.unwrap()
				.credit
				.reputation_bp;
			if device.delivers {
				assert_eq!((settlement.performance_bp, settlement.paid), (10_000, paid_each));
				assert!(reputation > 5_000, "{reputation}");
			} else {
				assert_eq!((settlement.performance_bp, settlement.paid), (0, 0));
				assert!(reputation < 5_000, "{reputation}");
			}
			paid += settlement.paid;
		}
		assert_eq!(paid, event.paid);
		let hold = RuntimeHoldReason::DemandResponse(HoldReason::EventEscrow);
		assert_eq!(Balances::balance_on_hold(&hold, &operator.to_account_id()), 0);

		pallet_demand_response::Pallet::<Runtime>::do_try_state().unwrap();
		Telemetry::do_try_state().unwrap();
		DeviceRegistry::do_try_state().unwrap();
	});
}

/// The largest event the runtime allows.
#[test]
fn an_event_of_10000_participants_settles_across_blocks_exactly_once() {
	run(<Runtime as pallet_demand_response::Config>::MaxParticipantsPerEvent::get());
}
