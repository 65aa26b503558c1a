//! The report flood: the benchmark fleet's readings in batches, each gateway submitting its own
//! devices' batches as the bridge does.
//!
//! The readings are queued at once and go back in time from the latest full minute (a run of M
//! reports from N devices covers M / N minutes), so the flood measures what the chain finalizes
//! when the supply of reports is not the limit.

use futures::StreamExt;
use openvpp_bridge::chain::{Chain, ChainError};
use openvpp_primitives::{SignedReport, UnixSeconds};
use openvpp_runtime::{
	bench_fleet::{bench_device_key, bench_gateway_key, bench_report, BenchFleet},
	extrinsic, RuntimeCall, RuntimeEvent, UncheckedExtrinsic,
};
use sp_core::Pair;
use sp_runtime::BoundedVec;

use crate::{
	declared_share, measure_flood, paced, FloodShape, PhaseResult, FIRST_BENCH_DEVICE,
	REPORT_INTERVAL_S,
};

/// The last sequence and last interval end on chain (0 for none) of each benchmark device in
/// `indices`, so that a second run on the same chain continues where the first stopped.
pub(crate) async fn device_positions(
	chain: &Chain,
	indices: std::ops::Range<u32>,
) -> Result<Vec<(u64, UnixSeconds)>, ChainError> {
	let states: Vec<Result<(u64, UnixSeconds), ChainError>> = futures::stream::iter(indices)
		.map(|index| async move {
			let state = chain.device_telemetry(FIRST_BENCH_DEVICE + index, None).await?;
			Ok(state.map_or((0, 0), |s| (s.last_sequence, s.last_interval_end)))
		})
		.buffered(64)
		.collect()
		.await;
	states.into_iter().collect()
}

/// Which readings a report flood sends.
#[derive(Debug, Clone, Copy)]
pub struct ReportPlan {
	/// The first `devices` devices of the fleet report.
	pub devices: u32,
	/// Readings in all.
	pub total: u32,
	/// Readings per `submit_reports` batch.
	pub batch: u32,
}

/// The plan's readings, each gateway's batches on connection `gateway % connections`.
pub async fn report_flood(
	urls: &[String],
	chain: &Chain,
	fleet: BenchFleet,
	plan: ReportPlan,
	shape: FloodShape,
	node_pids: &[u32],
) -> Result<PhaseResult, ChainError> {
	let ReportPlan { devices, total, batch } = plan;
	let devices = devices.clamp(1, fleet.devices.max(1));
	let gateways = fleet.gateways.max(1);
	let rounds = total.div_ceil(devices).max(1);
	let interval_s = REPORT_INTERVAL_S;
	let now_s = chain.timestamp_ms(None).await? / 1_000;
	let end = now_s / u64::from(interval_s) * u64::from(interval_s);

	tracing::info!(total, devices, rounds, "reading the devices' last sequences");
	let first_sequence: Vec<u64> =
		device_positions(chain, 0..devices).await?.into_iter().map(|(s, _)| s).collect();
	tracing::info!(total, devices, rounds, "signing reports");
	let keys: Vec<_> = (0..devices).map(bench_device_key).collect();
	let mut by_gateway: Vec<Vec<SignedReport>> = vec![Vec::new(); gateways as usize];
	let mut signed = 0u32;
	'rounds: for round in 0..rounds {
		for index in 0..devices {
			if signed >= total {
				break 'rounds;
			}
			let back = u64::from(rounds - round);
			let report = bench_report(
				index,
				first_sequence[index as usize] + u64::from(round) + 1,
				end - back * u64::from(interval_s),
				interval_s,
			);
			let payload = openvpp_primitives::report_signing_payload(&chain.genesis, &report);
			let signature = keys[index as usize].sign(&payload).into();
			by_gateway[(index % gateways) as usize].push(SignedReport { report, signature });
			signed += 1;
		}
	}

	let mut item_share = 0.0;
	let connections = shape.connections.clamp(1, gateways);
	let mut queues: Vec<Vec<UncheckedExtrinsic>> = vec![Vec::new(); connections as usize];
	for (gateway, reports) in by_gateway.into_iter().enumerate() {
		let pair = bench_gateway_key(gateway as u32);
		let mut nonce = chain.next_nonce(&extrinsic::account_of(&pair)).await?;
		for chunk in reports.chunks(batch as usize) {
			let call = RuntimeCall::Telemetry(pallet_telemetry::Call::submit_reports {
				reports: BoundedVec::truncate_from(chunk.to_vec()),
				raw_data_digest: None,
			});
			if item_share == 0.0 {
				item_share = declared_share(&call);
			}
			queues[gateway % connections as usize].push(extrinsic::sign(
				call,
				&pair,
				nonce,
				chain.genesis,
			));
			nonce += 1;
		}
	}
	let accepted_items = |_: u32, events: &[RuntimeEvent]| {
		events
			.iter()
			.map(|e| match e {
				RuntimeEvent::Telemetry(pallet_telemetry::Event::BatchProcessed {
					accepted,
					flagged,
					..
				}) => u64::from(*accepted + *flagged),
				_ => 0,
			})
			.sum()
	};
	let signed = u64::from(signed);
	let items = |batches: u64| (signed, signed.min(batches * u64::from(batch)));
	// The rate is in reports; batches go `batch` times slower.
	let queues = paced(queues, f64::from(shape.per_second) / f64::from(batch.max(1)));
	let mut result =
		measure_flood("reports", urls, chain, &queues, shape, node_pids, items, accepted_items)
			.await?;
	result.item_share = item_share;
	Ok(result)
}
