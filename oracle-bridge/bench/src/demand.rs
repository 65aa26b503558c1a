//! A demand-response event inside the live phase, so that the blocks that carry the fleet's
//! readings also carry what demand response adds to them: participants' readings measured
//! against their baselines, the selection, and the settlement that pays them.
//!
//! The benchmark fleet's owners have no keys (`bench_fleet::bench_owner`), so the sudo key
//! (Alice, on a benchmark chain) acts for them: `sudo_as` dispatches each owner's consent and
//! each gateway's commitment with that account's own origin, so the pallet checks them exactly as
//! if the owner or the gateway had signed, while the gateways' nonces stay with their readings.
//! Charlie, made an operator, announces the event.
//!
//! The timeline follows the pallet's rules. The participants are home batteries whose first
//! reading of the phase is released at its first release, so that their intervals line up with
//! the event's, which starts whole intervals later ([`crate::response::planned_start`]). Once
//! their first readings are finalized their owners enrol them; the intervals they report after
//! that make their meter-before baselines. The opt-in deadline comes a minute before the start,
//! and the event settles `pallet_demand_response::Config::SettlementGraceS` after its end. The
//! participants' readings were signed with the rest of the phase's, following the planned
//! dispatch ([`crate::response`]): the chain measures what they deliver against their baselines
//! and pays it.

use std::{cell::Cell, collections::BTreeMap, time::Duration};

use codec::{Decode, Encode};
use frame_support::traits::Get;
use futures::{stream, StreamExt};
use openvpp_bridge::{
	chain::{wait_finalized, Chain, ChainError},
	gateway_call::FINALITY_TIMEOUT,
};
use openvpp_primitives::{DeviceKind, EventKind, EventStatus, KindSet, RegionCode};
use openvpp_runtime::{
	bench_fleet::{
		bench_gateway_of, bench_kind, bench_owner, BenchFleet, BENCH_REGIONS, FIRST_BENCH_DEVICE,
	},
	currency::OVPP,
	extrinsic, Balance, Runtime, RuntimeCall, RuntimeEvent,
};
use pallet_demand_response::{EventSpec, MAX_EVENT_REGIONS};
use sp_keyring::Sr25519Keyring;

use crate::{live::reporting_at, response::Dispatch, unix_s_now};

/// Calls in one `utility.batch` of consents or commitments.
const CALLS_PER_BATCH: usize = 250;
/// Storage reads in flight while checking which participants have reported.
const READS_IN_FLIGHT: usize = 32;
/// How long after its interval a reading is taken to be finalized (s): finality lags about 16 s.
const FINALITY_MARGIN_S: u64 = 40;

/// The event the live phase runs.
#[derive(Debug, Clone, Copy)]
pub struct DemandPlan {
	/// Home batteries asked to take part (the first of the live range in the event's regions).
	pub participants: u32,
	/// Power each commits (W), and the most its owner lets the gateway commit.
	pub committed_w: u32,
}

/// What the blocks of the live phase carried of the event, read from their events.
#[derive(Debug, Default)]
pub struct DemandObserved {
	pub selected: Cell<u32>,
	pub started_block: Cell<u32>,
	pub completed_block: Cell<u32>,
	pub settled_block: Cell<u32>,
	/// Participants settled, and in how many blocks.
	pub participants_settled: Cell<u32>,
	pub settlement_blocks: Cell<u32>,
	/// Of those, settled in blocks that also recorded readings, and the readings those blocks
	/// recorded.
	pub settled_beside_readings: Cell<u32>,
	pub readings_beside_settlement: Cell<u64>,
	/// Participants settled with something delivered.
	pub delivering: Cell<u32>,
	pub delivered_wh: Cell<u64>,
	pub paid: Cell<Balance>,
}

impl DemandObserved {
	/// Takes note of the demand-response events of block `number`, which recorded `readings`.
	pub fn note(&self, number: u32, events: &[RuntimeEvent], readings: u64) {
		use pallet_demand_response::Event as Dr;
		let mut settled_here = 0u32;
		for event in events {
			let RuntimeEvent::DemandResponse(event) = event else { continue };
			match event {
				Dr::SelectionFinished { selected, .. } => self.selected.set(*selected),
				Dr::EventStarted { .. } => self.started_block.set(number),
				Dr::EventCompleted { .. } => self.completed_block.set(number),
				Dr::ParticipantSettled { delivered_wh, .. } => {
					settled_here += 1;
					if *delivered_wh > 0 {
						self.delivering.set(self.delivering.get() + 1);
					}
				}
				Dr::EventSettled { delivered_wh, paid, .. } => {
					self.settled_block.set(number);
					self.delivered_wh.set(*delivered_wh);
					self.paid.set(*paid);
				}
				_ => {}
			}
		}
		if settled_here > 0 {
			self.participants_settled.set(self.participants_settled.get() + settled_here);
			self.settlement_blocks.set(self.settlement_blocks.get() + 1);
			if readings > 0 {
				self.settled_beside_readings.set(self.settled_beside_readings.get() + settled_here);
				self.readings_beside_settlement
					.set(self.readings_beside_settlement.get() + readings);
			}
		}
	}
}

#[derive(Debug, thiserror::Error)]
pub enum DemandError {
	#[error(transparent)]
	Chain(#[from] ChainError),
	#[error("{what}: {reason}")]
	NotFinalized { what: &'static str, reason: String },
	#[error("no home battery of the live range is in the event's regions")]
	NoCandidates,
	#[error("none of the {0} candidates reported in time to be enrolled")]
	NoneReported(u32),
	#[error("no device was enrolled: {0}")]
	NoneEnrolled(String),
	#[error("the planned start ({start}, Unix s) leaves too little time to join it ({now} now)")]
	TooLate { start: u64, now: u64 },
	#[error("creating the event: {0}")]
	NotCreated(String),
	#[error("cannot decode {what}: {message}")]
	Decode { what: &'static str, message: String },
}

/// What the driver did and saw of the event.
#[derive(Debug, Default)]
pub struct DemandTally {
	pub candidates: u32,
	pub reported: u32,
	pub enrolled: u32,
	pub joined: u32,
	/// Why consents and commitments failed, by error, with how many.
	pub failures: BTreeMap<String, u32>,
	pub event: u32,
	pub regions: u32,
	pub start: u64,
	pub end: u64,
	/// The event's status when the driver stopped.
	pub status: Option<EventStatus>,
}

/// The fleet indices of the first `count` home batteries of the live range (`devices` from
/// `first`) in the first [`MAX_EVENT_REGIONS`] regions (an event names at most that many) whose
/// first reading is released at `first_release_s`, each device reporting every `interval_s`.
pub fn candidates(
	first: u32,
	devices: u32,
	first_release_s: u64,
	interval_s: u32,
	count: u32,
) -> Vec<u32> {
	reporting_at(first_release_s / 60, devices, interval_s)
		.map(|offset| first + offset)
		.filter(|&index| {
			bench_kind(index) == DeviceKind::HomeBattery
				&& index % BENCH_REGIONS < MAX_EVENT_REGIONS
		})
		.take(count as usize)
		.collect()
}

/// How long before the event's start its commitments are sent, at the latest (s): the opt-in
/// deadline is a minute before the start, and they need a block or two.
const JOINING_S: u64 = 150;

async fn sleep_until(unix_s: u64) {
	let now = unix_s_now();
	if unix_s > now {
		tokio::time::sleep(Duration::from_secs(unix_s - now)).await;
	}
}

/// Signs `calls` as `who` with consecutive nonces, submits them together and returns each
/// one's events once finalized.
async fn submit_all(
	chain: &Chain,
	who: Sr25519Keyring,
	calls: Vec<RuntimeCall>,
	what: &'static str,
) -> Result<Vec<Vec<RuntimeEvent>>, DemandError> {
	let mut nonce = chain.next_nonce(&who.to_account_id()).await?;
	let signed: Vec<Vec<u8>> = calls
		.into_iter()
		.map(|call| {
			let xt = extrinsic::sign(call, &who.pair(), nonce, chain.genesis).encode();
			nonce += 1;
			xt
		})
		.collect();
	let mut watches = Vec::with_capacity(signed.len());
	for xt in &signed {
		watches.push(chain.submit_and_watch(xt).await?);
	}
	let mut out = Vec::with_capacity(signed.len());
	for (xt, statuses) in signed.iter().zip(watches) {
		let block = wait_finalized(statuses, FINALITY_TIMEOUT)
			.await
			.map_err(|e| DemandError::NotFinalized { what, reason: e.to_string() })?;
		let events = chain.extrinsic_events(block, xt).await?;
		out.push(events.decode_all()?);
	}
	Ok(out)
}

/// `sudo_as` calls, in batches.
fn batches_as(calls: Vec<(openvpp_runtime::AccountId, RuntimeCall)>) -> Vec<RuntimeCall> {
	calls
		.chunks(CALLS_PER_BATCH)
		.map(|chunk| {
			let calls = chunk
				.iter()
				.map(|(who, call)| {
					RuntimeCall::Sudo(pallet_sudo::Call::sudo_as {
						who: who.clone().into(),
						call: Box::new(call.clone()),
					})
				})
				.collect();
			RuntimeCall::Utility(pallet_utility::Call::batch { calls })
		})
		.collect()
}

/// How many `sudo_as` calls succeeded; the errors of the others go into `failures`.
fn count_done(events: &[Vec<RuntimeEvent>], failures: &mut BTreeMap<String, u32>) -> u32 {
	let mut done = 0;
	for event in events.iter().flatten() {
		if let RuntimeEvent::Sudo(pallet_sudo::Event::SudoAsDone { sudo_result }) = event {
			match sudo_result {
				Ok(()) => done += 1,
				Err(error) => *failures.entry(error_name(error)).or_default() += 1,
			}
		}
	}
	done
}

/// The demand-response pallet's errors by name (`NoFreshTelemetry`), others as they debug-print.
fn error_name(error: &sp_runtime::DispatchError) -> String {
	use frame_support::traits::PalletInfoAccess;
	if let sp_runtime::DispatchError::Module(module) = error {
		if usize::from(module.index) == openvpp_runtime::DemandResponse::index() {
			if let Ok(named) =
				pallet_demand_response::Error::<Runtime>::decode(&mut &module.error[..])
			{
				return format!("{named:?}");
			}
		}
	}
	format!("{error:?}")
}

async fn event_status(chain: &Chain, event: u32) -> Result<Option<EventStatus>, DemandError> {
	let key = pallet_demand_response::Events::<Runtime>::hashed_key_for(event);
	let head = chain.finalized_head().await?;
	let Some(bytes) = chain.storage_raw(key, Some(head)).await? else { return Ok(None) };
	let record =
		pallet_demand_response::EventOf::<Runtime>::decode(&mut &bytes[..]).map_err(|e| {
			DemandError::Decode { what: "demand-response event", message: e.to_string() }
		})?;
	Ok(Some(record.status))
}

/// Runs the event of `dispatch` with the home batteries `participants` (from [`candidates`])
/// over a live phase whose first readings are released at `first_release_s`, each device
/// reporting every `interval_s`, and waits for its settlement (at most five minutes after the
/// settlement grace period).
pub async fn run_event(
	chain: &Chain,
	fleet: BenchFleet,
	participants: &[u32],
	interval_s: u32,
	first_release_s: u64,
	dispatch: Dispatch,
) -> Result<DemandTally, DemandError> {
	let mut tally = DemandTally { candidates: participants.len() as u32, ..Default::default() };
	if participants.is_empty() {
		return Err(DemandError::NoCandidates);
	}

	// The participants' first readings are finalized.
	sleep_until(first_release_s + FINALITY_MARGIN_S).await;
	let head = chain.finalized_head().await?;
	let reported: Vec<u32> = stream::iter(participants.iter().copied())
		.map(|index| async move {
			let id = FIRST_BENCH_DEVICE + index;
			chain.device_telemetry(id, Some(head)).await.map(|state| state.map(|_| index))
		})
		.buffered(READS_IN_FLIGHT)
		.collect::<Vec<_>>()
		.await
		.into_iter()
		.collect::<Result<Vec<_>, _>>()?
		.into_iter()
		.flatten()
		.collect();
	tally.reported = reported.len() as u32;
	if reported.is_empty() {
		return Err(DemandError::NoneReported(tally.candidates));
	}
	tracing::info!(candidates = tally.candidates, reported = tally.reported, "enrolling");

	// Consents (owners) and the operator (root).
	let operator = Sr25519Keyring::Charlie.to_account_id();
	let mut calls = Vec::new();
	let operator_key = pallet_demand_response::Operators::<Runtime>::hashed_key_for(&operator);
	if chain.storage_raw(operator_key, None).await?.is_none() {
		let add = RuntimeCall::DemandResponse(pallet_demand_response::Call::add_operator {
			operator: operator.clone(),
		});
		calls.push(RuntimeCall::Sudo(pallet_sudo::Call::sudo { call: Box::new(add) }));
	}
	let consents = reported
		.iter()
		.map(|&index| {
			let enrol = RuntimeCall::DemandResponse(pallet_demand_response::Call::enrol {
				device: FIRST_BENCH_DEVICE + index,
				gateway_may_join: true,
				max_power_w: dispatch.committed_w,
			});
			(bench_owner(index), enrol)
		})
		.collect();
	calls.extend(batches_as(consents));
	let events = submit_all(chain, Sr25519Keyring::Alice, calls, "enrolling").await?;
	tally.enrolled = count_done(&events, &mut tally.failures);
	if tally.enrolled == 0 {
		return Err(DemandError::NoneEnrolled(format!("{:?}", tally.failures)));
	}

	// The event: a discharge of the home batteries in the candidates' regions, in the window
	// their readings follow.
	let regions: Vec<RegionCode> = (0..MAX_EVENT_REGIONS.min(BENCH_REGIONS))
		.filter(|region| reported.iter().any(|index| index % BENCH_REGIONS == *region))
		.map(|region| RegionCode::truncate_from(format!("BENCH-R{region}").into_bytes()))
		.collect();
	tally.regions = regions.len() as u32;
	let (start, now) = (dispatch.start, unix_s_now());
	if now + JOINING_S > start {
		return Err(DemandError::TooLate { start, now });
	}
	let duration_s = u32::try_from(dispatch.end.saturating_sub(start)).unwrap_or(u32::MAX);
	let spec = EventSpec::<Balance> {
		kind: EventKind::DischargeStorage,
		regions: regions.try_into().unwrap_or_default(),
		eligible_kinds: KindSet::of(&[DeviceKind::HomeBattery]),
		opt_in_deadline: start - 60,
		start,
		duration_s,
		interval_length_s: interval_s,
		target_power_w: u64::from(tally.enrolled) * u64::from(dispatch.committed_w),
		price_per_kwh: OVPP / 4,
		min_reputation_bp: 0,
		max_participants: tally.enrolled,
	};
	let create = RuntimeCall::DemandResponse(pallet_demand_response::Call::create_event { spec });
	let events =
		submit_all(chain, Sr25519Keyring::Charlie, vec![create], "creating the event").await?;
	let mut event = None;
	for e in events.iter().flatten() {
		match e {
			RuntimeEvent::DemandResponse(pallet_demand_response::Event::EventCreated {
				event: id,
				..
			}) => event = Some(*id),
			RuntimeEvent::System(frame_system::Event::ExtrinsicFailed {
				dispatch_error, ..
			}) => return Err(DemandError::NotCreated(format!("{dispatch_error:?}"))),
			_ => {}
		}
	}
	let event = event.ok_or_else(|| DemandError::NotCreated("no EventCreated".into()))?;
	tally.event = event;
	tally.start = start;
	tally.end = start + u64::from(duration_s);
	tracing::info!(event, start, end = tally.end, "event created; the gateways join");

	// Commitments (the gateways, within their owners' consent).
	let commitments = reported
		.iter()
		.map(|&index| {
			let join = RuntimeCall::DemandResponse(pallet_demand_response::Call::join_event {
				event,
				device: FIRST_BENCH_DEVICE + index,
				committed_w: dispatch.committed_w,
			});
			(bench_gateway_of(index, fleet.gateways), join)
		})
		.collect();
	let events =
		submit_all(chain, Sr25519Keyring::Alice, batches_as(commitments), "joining").await?;
	tally.joined = count_done(&events, &mut tally.failures);

	// Settlement comes the grace period after the end, in the blocks' polls.
	let grace_s: u64 = <Runtime as pallet_demand_response::Config>::SettlementGraceS::get();
	let give_up_s = tally.end + grace_s + 300;
	loop {
		tally.status = event_status(chain, event).await?;
		if tally.status.is_some_and(EventStatus::is_final) || unix_s_now() >= give_up_s {
			break;
		}
		tokio::time::sleep(Duration::from_secs(6)).await;
	}
	Ok(tally)
}

/// The event, as lines under the live phase's table.
pub fn demand_summary(tally: &DemandTally, observed: &DemandObserved, plan: &DemandPlan) -> String {
	let settled = observed.participants_settled.get();
	let failures = if tally.failures.is_empty() {
		"none".to_string()
	} else {
		tally.failures.iter().map(|(e, n)| format!("{n} × {e}")).collect::<Vec<_>>().join(", ")
	};
	let block = |n: u32| {
		if n == 0 {
			"not in the phase's blocks".to_string()
		} else {
			format!("block {n}")
		}
	};
	format!(
		"demand response: event {} (discharge, home batteries in {} regions, {} W each) from {} to {} (Unix s); {} candidates, {} had reported, {} enrolled, {} joined, {} selected; refused: {}\n\
		 demand response: started in {}, completed in {}, settled in {}; {} participants settled in {} blocks, {} of them in blocks that also recorded {} readings; {} delivered something, {} Wh in all against {} Wh committed, paid {:.2} OVPP; status at the end {:?}\n",
		tally.event,
		tally.regions,
		plan.committed_w,
		tally.start,
		tally.end,
		tally.candidates,
		tally.reported,
		tally.enrolled,
		tally.joined,
		observed.selected.get(),
		failures,
		block(observed.started_block.get()),
		block(observed.completed_block.get()),
		block(observed.settled_block.get()),
		settled,
		observed.settlement_blocks.get(),
		observed.settled_beside_readings.get(),
		observed.readings_beside_settlement.get(),
		observed.delivering.get(),
		observed.delivered_wh.get(),
		u64::from(observed.selected.get()) * u64::from(plan.committed_w) *
			tally.end.saturating_sub(tally.start) /
			3_600,
		observed.paid.get() as f64 / OVPP as f64,
		tally.status,
	)
}

#[cfg(test)]
mod tests {
	use super::*;

	#[test]
	fn candidates_are_home_batteries_in_the_events_regions_reporting_at_the_first_release() {
		// Two-minute readings, first released at an even minute: even offsets report then.
		let picked = candidates(1_000, 10_000, 600_000, 120, 50);
		assert_eq!(picked.len(), 50);
		assert!(picked.iter().all(|&i| bench_kind(i) == DeviceKind::HomeBattery));
		assert!(picked.iter().all(|&i| i % BENCH_REGIONS < MAX_EVENT_REGIONS));
		assert!(picked.iter().all(|&i| (1_000..11_000).contains(&i)));
		assert!(picked.iter().all(|&i| (i - 1_000) % 2 == 0));
		assert!(picked.windows(2).all(|w| w[0] < w[1]));
		// At an odd minute, the odd offsets.
		let odd = candidates(1_000, 10_000, 600_060, 120, 50);
		assert!(odd.iter().all(|&i| (i - 1_000) % 2 == 1));
		// A range with no home battery.
		assert!(candidates(0, 8, 600_000, 60, 10).is_empty());
	}

	#[test]
	fn the_pallets_errors_are_counted_by_name() {
		use sp_runtime::DispatchError;
		let failed = |error: pallet_demand_response::Error<Runtime>| {
			RuntimeEvent::Sudo(pallet_sudo::Event::SudoAsDone {
				sudo_result: Err(DispatchError::from(error)),
			})
		};
		let events = vec![vec![
			failed(pallet_demand_response::Error::NoFreshTelemetry),
			failed(pallet_demand_response::Error::NoFreshTelemetry),
			RuntimeEvent::Sudo(pallet_sudo::Event::SudoAsDone { sudo_result: Ok(()) }),
			RuntimeEvent::Sudo(pallet_sudo::Event::SudoAsDone {
				sudo_result: Err(DispatchError::BadOrigin),
			}),
		]];
		let mut failures = BTreeMap::new();
		assert_eq!(count_done(&events, &mut failures), 1);
		assert_eq!(failures.get("NoFreshTelemetry"), Some(&2));
		assert_eq!(failures.get("BadOrigin"), Some(&1));
	}

	#[test]
	fn settlement_is_counted_beside_the_readings_of_its_block() {
		use pallet_demand_response::Event as Dr;
		let observed = DemandObserved::default();
		let settled = |device| {
			RuntimeEvent::DemandResponse(Dr::ParticipantSettled {
				event: 1,
				device,
				delivered_wh: 10,
				performance_bp: 5_000,
				paid: 1,
			})
		};
		observed.note(10, &[settled(8), settled(9)], 500);
		observed.note(11, &[settled(10)], 0);
		observed.note(
			12,
			&[RuntimeEvent::DemandResponse(Dr::EventSettled {
				event: 1,
				delivered_wh: 30,
				paid: 3,
				refunded: 0,
			})],
			0,
		);
		assert_eq!(observed.participants_settled.get(), 3);
		assert_eq!(observed.delivering.get(), 3);
		assert_eq!(observed.settlement_blocks.get(), 2);
		assert_eq!(observed.settled_beside_readings.get(), 2);
		assert_eq!(observed.readings_beside_settlement.get(), 500);
		assert_eq!((observed.settled_block.get(), observed.delivered_wh.get()), (12, 30));
	}
}
