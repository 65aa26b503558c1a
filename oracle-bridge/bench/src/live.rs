//! The live phase: the fleet reporting as it does in service, not a queue drained as fast as
//! blocks take it.
//!
//! Every device reports one interval of `interval_s` (a whole number of minutes) and the
//! devices are spread over the interval's minutes, so that at each minute boundary each gateway
//! releases the readings of its devices whose interval has just ended, in batches. Readings are
//! current (they end at the minute they are released), sequences continue from what the chain
//! holds, and a fixed share of the readings is bad as in service: flagged (online longer than
//! the interval), resent (a duplicate the chain refuses) or signed with the gateway's key instead
//! of the device's (refused after its signature check). The phase measures what finalized blocks carried of
//! it, and how full, late and costly they were, while the offered rate stays that of the fleet.
//! With a [`DemandPlan`], a demand-response event runs through the same blocks
//! ([`crate::demand`]), and its participants' readings follow its dispatch
//! ([`crate::response`]).

use std::{cell::Cell, time::Duration};

use openvpp_bridge::chain::{Chain, ChainError};
use openvpp_primitives::{SignedReport, UnixSeconds};
use openvpp_runtime::{
	bench_fleet::{bench_device_key, bench_gateway_key, bench_report, BenchFleet},
	extrinsic, RuntimeCall, RuntimeEvent,
};
use sp_core::Pair;
use sp_runtime::BoundedVec;

use crate::{
	declared_share,
	demand::{candidates, run_event, DemandError, DemandObserved, DemandPlan, DemandTally},
	measure_flood,
	reports::device_positions,
	response::{planned_start, Departure, Dispatch},
	FloodShape, PhaseResult, Timed,
};

/// Which readings the live phase sends.
#[derive(Debug, Clone, Copy)]
pub struct LivePlan {
	/// The fleet's devices from index `first` report, `devices` of them: leave out devices that
	/// reported at another interval (the report flood's), whose counters would not follow on.
	pub first: u32,
	pub devices: u32,
	/// Each device's interval (s), a whole number of minutes.
	pub interval_s: u32,
	/// Minute boundaries at which readings are released.
	pub minutes: u32,
	/// Readings per `submit_reports` batch.
	pub batch: u32,
	/// Share of readings flagged by the chain's plausibility checks (basis points).
	pub flagged_bp: u16,
	/// Share of readings the chain refuses (basis points): half resent, half wrongly signed.
	pub rejected_bp: u16,
}

/// What one device sends at one release.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reading {
	Plausible,
	/// Recorded, but flagged: it claims more seconds online than its interval has.
	Flagged,
	/// Sent twice: the second copy is refused as a repeated sequence.
	Resent,
	/// Signed with its gateway's key instead of the device's: refused after the signature check.
	WrongKey,
}

/// A fixed mix from the device and the minute (so that reruns send the same readings).
fn roll(index: u32, minute: u64) -> u64 {
	// splitmix64
	let mut z = ((u64::from(index) << 32) ^ minute).wrapping_add(0x9E37_79B9_7F4A_7C15);
	z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
	z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
	z ^ (z >> 31)
}

/// What device `index` sends at the release at Unix minute `minute`.
pub fn reading_at(index: u32, minute: u64, flagged_bp: u16, rejected_bp: u16) -> Reading {
	let r = roll(index, minute);
	let bp = (r % 10_000) as u16;
	if bp < flagged_bp {
		Reading::Flagged
	} else if bp < flagged_bp.saturating_add(rejected_bp) {
		if (r >> 32).is_multiple_of(2) {
			Reading::Resent
		} else {
			Reading::WrongKey
		}
	} else {
		Reading::Plausible
	}
}

/// The devices (offsets below `devices` in the plan's range) whose interval ends at Unix minute
/// `minute`: one in every `interval_s / 60`, by offset.
pub fn reporting_at(minute: u64, devices: u32, interval_s: u32) -> impl Iterator<Item = u32> {
	let minutes = (interval_s / 60).max(1);
	let first = (minute % u64::from(minutes)) as u32;
	(first..devices).step_by(minutes as usize)
}

/// What the live phase's finalized blocks held, besides the readings they recorded.
#[derive(Debug, Clone, Copy, Default)]
pub struct LiveTally {
	/// Readings the plan sends (resent copies included).
	pub sent: u64,
	/// Readings meant to be recorded (plausible and flagged).
	pub valid: u64,
	pub flagged: u64,
	pub rejected: u64,
	/// The fleet's rate: readings meant to be recorded per second of the plan.
	pub offered_per_second: f64,
	/// How late the first release was against its minute (signing overran the margin) (s).
	pub late_start_s: f64,
}

/// The first release: a minute boundary far enough ahead to derive the keys and sign everything
/// before it (`work` readings and keys at a generous 100 µs each), and after every device's
/// last recorded interval.
fn first_release(now_s: u64, work: u64, interval_s: u32, last_end: UnixSeconds) -> u64 {
	let margin_s = 20 + work / 10_000;
	let earliest = (now_s + margin_s).max(last_end + u64::from(interval_s));
	earliest.div_ceil(60) * 60
}

/// The demand-response event of a live phase: what its driver did (or why it stopped) and
/// what the phase's blocks carried of it.
#[derive(Debug)]
pub struct LiveDemand {
	pub plan: DemandPlan,
	pub driven: Result<DemandTally, DemandError>,
	pub observed: DemandObserved,
}

/// Runs the live phase of `plan`, with the demand-response event of `demand` if any, and
/// measures it.
pub async fn live_reports(
	urls: &[String],
	chain: &Chain,
	fleet: BenchFleet,
	plan: LivePlan,
	shape: FloodShape,
	node_pids: &[u32],
	demand: Option<DemandPlan>,
) -> Result<(PhaseResult, LiveTally, Option<LiveDemand>), ChainError> {
	let first = plan.first.min(fleet.devices.saturating_sub(1));
	let devices = plan.devices.clamp(1, fleet.devices.saturating_sub(first).max(1));
	let gateways = fleet.gateways.max(1);
	let interval_s = plan.interval_s.max(60) / 60 * 60;
	tracing::info!(first, devices, "reading the devices' last sequences and intervals");
	let mut positions = device_positions(chain, first..first + devices).await?;
	let last_end = positions.iter().map(|(_, end)| *end).max().unwrap_or(0);
	let planned = u64::from(devices) * u64::from(plan.minutes) / u64::from(interval_s / 60);
	let start_s =
		first_release(crate::unix_s_now(), planned + u64::from(devices), interval_s, last_end);
	tracing::info!(planned, first_release = start_s, "signing the live readings");

	let keys: Vec<_> = (first..first + devices).map(bench_device_key).collect();
	let gateway_keys: Vec<_> = (0..gateways).map(bench_gateway_key).collect();
	let mut nonces = Vec::with_capacity(gateways as usize);
	for pair in &gateway_keys {
		nonces.push(chain.next_nonce(&extrinsic::account_of(pair)).await?);
	}
	let connections = shape.connections.clamp(1, gateways);
	// Release times in Unix ms; made relative to the start of submission below.
	let mut queues: Vec<Vec<(u64, openvpp_runtime::UncheckedExtrinsic)>> =
		vec![Vec::new(); connections as usize];
	let mut tally = LiveTally::default();
	let mut item_share = 0.0;
	// The event's participants and the dispatch their readings follow, planned before signing.
	let participants = match demand {
		Some(demand) => candidates(first, devices, start_s, interval_s, demand.participants),
		None => Vec::new(),
	};
	let dispatch = demand.map(|demand| {
		let start = planned_start(start_s, interval_s);
		Dispatch { start, end: start + 2 * u64::from(interval_s), committed_w: demand.committed_w }
	});
	// Each participant's departure from the usual readings, by offset in the live range.
	let mut departures: Vec<Option<Departure>> = vec![None; devices as usize];
	for &index in &participants {
		departures[(index - first) as usize] = Some(Departure::default());
	}
	for j in 0..u64::from(plan.minutes) {
		let release_s = start_s + 60 * j;
		let minute = release_s / 60;
		let mut by_gateway: Vec<Vec<SignedReport>> = vec![Vec::new(); gateways as usize];
		for offset in reporting_at(minute, devices, interval_s) {
			let index = first + offset;
			let (sequence, _) = &mut positions[offset as usize];
			let mut report =
				bench_report(index, *sequence + 1, release_s - u64::from(interval_s), interval_s);
			let kind = reading_at(index, minute, plan.flagged_bp, plan.rejected_bp);
			if let (Some(dispatch), Some(departure)) = (&dispatch, &mut departures[offset as usize])
			{
				let (followed, after) = dispatch.follow(&report, *departure);
				report = followed;
				// A refused reading leaves the chain's counters where they were: the next one
				// carries on from those.
				if kind != Reading::WrongKey {
					*departure = after;
				}
			}
			if kind == Reading::Flagged {
				report.online_s = interval_s + 60;
			}
			let payload = openvpp_primitives::report_signing_payload(&chain.genesis, &report);
			let signer = match kind {
				Reading::WrongKey => &gateway_keys[(index % gateways) as usize],
				_ => &keys[offset as usize],
			};
			let signed = SignedReport { report, signature: signer.sign(&payload).into() };
			let batch = &mut by_gateway[(index % gateways) as usize];
			match kind {
				Reading::Plausible | Reading::Flagged => {
					*sequence += 1;
					tally.valid += 1;
					batch.push(signed);
				}
				Reading::Resent => {
					*sequence += 1;
					tally.valid += 1;
					batch.push(signed.clone());
					batch.push(signed);
				}
				// Nothing is recorded: the device's next reading keeps this sequence.
				Reading::WrongKey => batch.push(signed),
			}
		}
		for (gateway, reports) in by_gateway.into_iter().enumerate() {
			tally.sent += reports.len() as u64;
			for chunk in reports.chunks(plan.batch.max(1) as usize) {
				let call = RuntimeCall::Telemetry(pallet_telemetry::Call::submit_reports {
					reports: BoundedVec::truncate_from(chunk.to_vec()),
					raw_data_digest: None,
				});
				if item_share == 0.0 {
					item_share = declared_share(&call);
				}
				let xt =
					extrinsic::sign(call, &gateway_keys[gateway], nonces[gateway], chain.genesis);
				nonces[gateway] += 1;
				queues[gateway % connections as usize].push((release_s * 1_000, xt));
			}
		}
	}
	tally.offered_per_second =
		tally.valid as f64 / (f64::from(plan.minutes.max(1)) * 60.0).max(1.0);

	let now_ms = crate::unix_ms_now();
	tally.late_start_s = now_ms.saturating_sub(start_s * 1_000) as f64 / 1_000.0;
	if tally.late_start_s > 0.0 {
		tracing::warn!(late_s = tally.late_start_s, "signing overran the first release");
	}
	let queues: Vec<Vec<Timed>> = queues
		.into_iter()
		.map(|queue| {
			queue
				.into_iter()
				.map(|(at_ms, xt)| (Duration::from_millis(at_ms.saturating_sub(now_ms)), xt))
				.collect()
		})
		.collect();

	let (flagged, rejected) = (Cell::new(0u64), Cell::new(0u64));
	let observed = DemandObserved::default();
	let recorded = |number: u32, events: &[RuntimeEvent]| {
		let readings = events
			.iter()
			.map(|e| match e {
				RuntimeEvent::Telemetry(pallet_telemetry::Event::BatchProcessed {
					accepted,
					flagged: f,
					rejected: r,
					..
				}) => {
					flagged.set(flagged.get() + u64::from(*f));
					rejected.set(rejected.get() + u64::from(*r));
					u64::from(*accepted + *f)
				}
				_ => 0,
			})
			.sum();
		observed.note(number, events, readings);
		readings
	};
	let extrinsics: u64 = queues.iter().map(|q| q.len() as u64).sum();
	let (sent, valid) = (tally.sent, tally.valid);
	// Batches the nodes refused take their share of the readings with them.
	let items = |accepted: u64| (sent, valid * accepted / extrinsics.max(1));
	let flood =
		measure_flood("live reports", urls, chain, &queues, shape, node_pids, items, recorded);
	let driver = async {
		match dispatch {
			Some(dispatch) => {
				Some(run_event(chain, fleet, &participants, interval_s, start_s, dispatch).await)
			}
			None => None,
		}
	};
	let (result, driven) = tokio::join!(flood, driver);
	let mut result = result?;
	result.item_share = item_share;
	// The readings come in a burst each minute and blocks between bursts carry none: the rate
	// is over the plan's minutes, or over the blocks that carried readings when the chain fell
	// behind and took longer.
	result.chain_seconds = result.chain_seconds.max(f64::from(plan.minutes) * 60.0);
	result.per_second = result.finalized as f64 / result.chain_seconds.max(1.0);
	tally.flagged = flagged.get();
	tally.rejected = rejected.get();
	let demand = demand.zip(driven).map(|(plan, driven)| LiveDemand { plan, driven, observed });
	Ok((result, tally, demand))
}

/// The live phase's mix, as a line under the table.
pub fn live_summary(tally: &LiveTally, result: &PhaseResult) -> String {
	let share = |n: u64| 100.0 * n as f64 / tally.sent.max(1) as f64;
	format!(
		"live reports: blocks {}-{}; {} sent, {:.0} a second offered; finalized {} recorded ({} of them flagged, {:.2} %) and {} refused ({:.2} %); first release {:.1} s late\n",
		result.first_block,
		result.last_block,
		tally.sent,
		tally.offered_per_second,
		result.finalized,
		tally.flagged,
		share(tally.flagged),
		tally.rejected,
		share(tally.rejected),
		tally.late_start_s,
	)
}

#[cfg(test)]
mod tests {
	use super::*;

	#[test]
	fn every_device_reports_once_an_interval() {
		let (devices, interval_s) = (1_003, 300);
		let mut seen = vec![0u32; devices as usize];
		for minute in 1_000..1_005 {
			for index in reporting_at(minute, devices, interval_s) {
				seen[index as usize] += 1;
			}
		}
		assert!(seen.iter().all(|n| *n == 1));
		// A one-minute interval: everyone, every minute.
		assert_eq!(reporting_at(7, 10, 60).count(), 10);
	}

	#[test]
	fn the_mix_has_the_asked_shares() {
		let (mut flagged, mut resent, mut wrong) = (0, 0, 0);
		let n = 200_000u32;
		for index in 0..n {
			match reading_at(index, 29_000_000 + u64::from(index % 7), 100, 200) {
				Reading::Flagged => flagged += 1,
				Reading::Resent => resent += 1,
				Reading::WrongKey => wrong += 1,
				Reading::Plausible => {}
			}
		}
		let bp = |count: u32| count * 10_000 / n;
		assert!((90..=110).contains(&bp(flagged)), "flagged {}", bp(flagged));
		assert!((180..=220).contains(&bp(resent + wrong)), "rejected {}", bp(resent + wrong));
		assert!(resent > wrong / 2 && wrong > resent / 2);
		assert_eq!(reading_at(5, 9, 0, 0), Reading::Plausible);
	}

	#[test]
	fn the_first_release_leaves_room_to_sign_and_follows_the_chain() {
		assert_eq!(first_release(6_000, 0, 120, 0), 6_060);
		assert_eq!(first_release(6_000, 1_000_000, 120, 0), 6_120);
		assert_eq!(first_release(6_000, 1_010_000, 120, 0), 6_180);
		assert_eq!(first_release(6_000, 0, 120, 6_100), 6_240);
	}
}
