//! The throughput benchmarks (`scripts/bench-telemetry.sh`, `scripts/bench-scale.sh`).
//!
//! On a node running a benchmark chain (`openvpp-node --chain bench:<devices>…`, whose fleet of
//! devices, gateways and transfer senders is `openvpp_runtime::bench_fleet`'s), two floods in
//! turn: plain balance transfers
//!    ([`transfer_flood`], the baseline a chain without batching would get, saturated over
//!    several connections) and device reports in batches of up to 1 000 ([`report_flood`]).
//!    Everything is signed before the clock starts, so the measurement is the node's, not the
//!    signer's. Throughput is what reached *finalized* blocks, over the time between the first
//!    and the last block that carried the flood (block timestamps); each of those blocks' weight
//!    says whether the weight limit or the supply of transactions set the pace; the node's CPU
//!    time and peak memory over the same phase are read from `/proc`.
//!
//! The live phase ([`live_reports`]) measures the same way a fleet reporting as in service:
//! current readings released each minute by every gateway, with flagged and refused ones, and
//! optionally a demand-response event run and settled in the same blocks ([`DemandPlan`]).

mod demand;
mod live;
mod reports;
mod response;
mod transfers;

use std::time::{Duration, Instant};

use codec::{Decode, Encode};
use frame_support::dispatch::DispatchClass;
use futures::StreamExt;
pub use openvpp_runtime::bench_fleet::{BenchFleet, FIRST_BENCH_DEVICE};
use openvpp_runtime::{RuntimeCall, RuntimeEvent, UncheckedExtrinsic};
use sp_core::H256;

pub use demand::{demand_summary, DemandError, DemandObserved, DemandPlan, DemandTally};
pub use live::{live_reports, live_summary, LiveDemand, LivePlan, LiveTally};
use openvpp_bridge::chain::{Chain, ChainError};
pub use reports::{report_flood, ReportPlan};
pub use transfers::{transfer_flood, FloodShape};

/// Interval of the benchmark reports (s): a minute, the benchmark chain's shortest. A run of M
/// reports from N devices goes M / N minutes back in time.
pub const REPORT_INTERVAL_S: u32 = 60;

/// The benchmark fleet of the chain behind `chain` (`--chain bench:…`), from its properties.
pub async fn chain_fleet(chain: &Chain) -> Result<BenchFleet, ChainError> {
	let properties: serde_json::Value =
		chain.request("system_properties", jsonrpsee::rpc_params![]).await?;
	properties.as_object().and_then(BenchFleet::from_properties).ok_or_else(|| ChainError::Decode {
		what: "system_properties",
		message: "the chain is not a benchmark chain (start the node with --chain bench:<devices>)"
			.into(),
	})
}

/// CPU time and memory of a process, from `/proc`.
#[derive(Debug, Clone, Copy, Default)]
pub struct ProcessUsage {
	/// User + system CPU time (s).
	pub cpu_s: f64,
	/// Current resident memory (MiB).
	pub rss_mib: f64,
	/// Peak resident memory (MiB).
	pub peak_rss_mib: f64,
}

/// Reads a process's CPU time and memory (`None` if it cannot be read).
pub fn process_usage(pid: u32) -> Option<ProcessUsage> {
	let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
	// Fields after the command name, which is in parentheses and may contain spaces.
	let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
	let ticks = 100.0; // sysconf(_SC_CLK_TCK) on Linux
	let utime: f64 = fields.get(11)?.parse().ok()?;
	let stime: f64 = fields.get(12)?.parse().ok()?;
	let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
	let kib = |name: &str| -> Option<f64> {
		status.lines().find(|l| l.starts_with(name))?.split_whitespace().nth(1)?.parse().ok()
	};
	Some(ProcessUsage {
		cpu_s: (utime + stime) / ticks,
		rss_mib: kib("VmRSS:")? / 1024.0,
		peak_rss_mib: kib("VmHWM:")? / 1024.0,
	})
}

/// The nodes' CPU time added up and the largest peak memory (`None` if one cannot be read).
pub fn usage_of(pids: &[u32]) -> Option<ProcessUsage> {
	if pids.is_empty() {
		return None;
	}
	pids.iter().try_fold(ProcessUsage::default(), |total, pid| {
		let usage = process_usage(*pid)?;
		Some(ProcessUsage {
			cpu_s: total.cpu_s + usage.cpu_s,
			rss_mib: total.rss_mib.max(usage.rss_mib),
			peak_rss_mib: total.peak_rss_mib.max(usage.peak_rss_mib),
		})
	})
}

/// One measured flood.
#[derive(Debug, Clone, Default)]
pub struct PhaseResult {
	pub name: &'static str,
	/// Items submitted.
	pub submitted: u64,
	/// Items in finalized blocks.
	pub finalized: u64,
	/// Chain time from the block before the first item to the block of the last (s).
	pub chain_seconds: f64,
	/// Finalized items per second of chain time.
	pub per_second: f64,
	/// Most items in one block.
	pub max_per_block: u64,
	/// Blocks that carried items.
	pub blocks: u32,
	/// The first and the last block that carried items.
	pub first_block: u32,
	pub last_block: u32,
	/// The nodes' CPU over the phase, in cores (1.0 = one core busy).
	pub node_cpu_cores: f64,
	/// Node CPU time over the phase per finalized item (ms).
	pub node_cpu_ms_per_item: f64,
	pub node_peak_rss_mib: f64,
	/// Median share of the normal-class weight limit used by the blocks that carried the phase
	/// (its last block left out).
	pub block_fullness: f64,
	/// From a block's slot to its finality, median and 99th percentile over the blocks that
	/// carried the phase (s).
	pub finality_lag_p50_s: f64,
	pub finality_lag_p99_s: f64,
	/// Submissions the node refused (pool full, invalid).
	pub refused: u64,
	/// Time the client took to hand every item to the node (s).
	pub submit_seconds: f64,
	/// The share of a block's normal-class limit one item declares before dispatch.
	pub item_share: f64,
	/// The weight the blocks carrying items used (their normal class, each extrinsic at its
	/// actual weight) per finalized item (µs).
	pub weight_per_item_us: f64,
}

impl PhaseResult {
	/// What set the pace: the blocks' weight limit, or the pool and the client that filled it.
	///
	/// A block author adds an item while the weight the block has used (earlier items counted
	/// at their actual, refunded weight) plus the item's declared weight fits; a block whose
	/// median use leaves less room than one item declares was closed by its weight.
	pub fn limited_by(&self) -> &'static str {
		if self.block_fullness >= FULL_BY_WEIGHT || self.block_fullness + self.item_share > 1.0 {
			"block weight"
		} else {
			"pool / submission"
		}
	}
}

/// What a phase's finalized blocks held.
struct Counted {
	finalized: u64,
	chain_seconds: f64,
	max_per_block: u64,
	blocks: u32,
	first_block: u32,
	last_block: u32,
	/// Normal-class weight the blocks carrying items used, in all (ps).
	weight_ps: u64,
	/// Share of the normal-class weight limit each block carrying items used, in order.
	fullness: Vec<f64>,
	/// For each block carrying items: from its timestamp (its slot's start) to when this client
	/// saw it finalized (s), to within the polling interval.
	finality_lag_s: Vec<f64>,
}

/// How often the finalized head is polled: the resolution of the finality lag.
const POLL: Duration = Duration::from_millis(200);

fn unix_ms_now() -> u64 {
	std::time::SystemTime::now()
		.duration_since(std::time::UNIX_EPOCH)
		.map(|d| d.as_millis() as u64)
		.unwrap_or(0)
}

fn unix_s_now() -> u64 {
	unix_ms_now() / 1_000
}

/// The value at quantile `q` (0–1) of `values`, nearest rank; 0 for none.
pub fn quantile(values: &[f64], q: f64) -> f64 {
	if values.is_empty() {
		return 0.0;
	}
	let mut sorted = values.to_vec();
	sorted.sort_by(|a, b| a.total_cmp(b));
	let rank = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
	sorted[rank - 1]
}

/// How long to wait for a phase's items after the last was submitted: generous for a node that
/// takes a few hundred items per second.
fn wait_for(expected: u64) -> Duration {
	Duration::from_secs(300 + expected / 100)
}

/// The normal-class weight a block used (`System::BlockWeight`, ref time in ps) and its share
/// of the class's limit.
async fn normal_weight(chain: &Chain, at: H256) -> Result<(u64, f64), ChainError> {
	let key = frame_system::BlockWeight::<openvpp_runtime::Runtime>::hashed_key().to_vec();
	let Some(bytes) = chain.storage_raw(key, Some(at)).await? else { return Ok((0, 0.0)) };
	let used = frame_system::ConsumedWeight::decode(&mut &bytes[..])
		.map_err(|e| ChainError::Decode { what: "System::BlockWeight", message: e.to_string() })?;
	let limits = <openvpp_runtime::Runtime as frame_system::Config>::BlockWeights::get();
	let max = limits.get(DispatchClass::Normal).max_total.unwrap_or(limits.max_block);
	let used = used.get(DispatchClass::Normal).ref_time();
	Ok((used, used as f64 / max.ref_time().max(1) as f64))
}

/// Counts a phase's items in the finalized blocks after `from_block`, until `expected` are in or
/// the wait runs out.
async fn count_finalized(
	chain: &Chain,
	watch: &FinalityWatch,
	from_block: u32,
	expected: u64,
	count: impl Fn(u32, &[RuntimeEvent]) -> u64,
) -> Result<Counted, ChainError> {
	let deadline = Instant::now() + wait_for(expected);
	let mut next = from_block + 1;
	let mut counted = Counted {
		finalized: 0,
		chain_seconds: 0.0,
		max_per_block: 0,
		blocks: 0,
		first_block: 0,
		last_block: 0,
		weight_ps: 0,
		fullness: vec![],
		finality_lag_s: vec![],
	};
	let mut first_ts: Option<u64> = None;
	let mut last_ts = 0u64;
	let start_ts = chain.timestamp_ms(chain.block_hash(from_block).await?).await?;
	while counted.finalized < expected && Instant::now() < deadline {
		let seen_ms = unix_ms_now();
		let head_number = finalized_number(chain).await?;
		while next <= head_number {
			let Some(hash) = chain.block_hash(next).await? else { break };
			let events: Vec<RuntimeEvent> = chain
				.events(hash)
				.await?
				.iter()
				.map(|r| r.decode_as())
				.collect::<Result<_, _>>()
				.map_err(|e| ChainError::Decode { what: "event", message: e.to_string() })?;
			let in_block = count(next, &events);
			if in_block > 0 {
				let ts = chain.timestamp_ms(Some(hash)).await?;
				first_ts.get_or_insert(ts);
				last_ts = ts;
				counted.finalized += in_block;
				counted.max_per_block = counted.max_per_block.max(in_block);
				counted.blocks += 1;
				if counted.first_block == 0 {
					counted.first_block = next;
				}
				counted.last_block = next;
				let (used_ps, share) = normal_weight(chain, hash).await?;
				counted.weight_ps = counted.weight_ps.saturating_add(used_ps);
				counted.fullness.push(share);
				let finalized_ms = watch.finalized_at(next).unwrap_or(seen_ms).min(seen_ms);
				counted.finality_lag_s.push(finalized_ms.saturating_sub(ts) as f64 / 1_000.0);
			}
			next += 1;
		}
		tokio::time::sleep(POLL).await;
	}
	// From the block before the first carrying one (when inclusion could start) to the last.
	let block_ms = openvpp_runtime::MILLI_SECS_PER_BLOCK;
	let begin = first_ts.map(|t| t.saturating_sub(block_ms)).unwrap_or(start_ts).max(start_ts);
	counted.chain_seconds = (last_ts.saturating_sub(begin)) as f64 / 1_000.0;
	Ok(counted)
}

/// Opens `count` connections, spread over the nodes at `urls` in turn.
async fn connect_many(urls: &[String], count: u32) -> Result<Vec<Chain>, ChainError> {
	let mut links = Vec::with_capacity(count as usize);
	for i in 0..count.max(1) as usize {
		let url = &urls[i % urls.len().max(1)];
		links.push(Chain::connect(url).await?);
	}
	Ok(links)
}

/// An extrinsic and when to hand it to the node, from the start of submission.
pub(crate) type Timed = (Duration, UncheckedExtrinsic);

/// Queue `i`'s `k`-th extrinsic at `k × period`, where the connections share `per_second`
/// extrinsics a second (`per_second` of 0: all at once).
pub(crate) fn paced(queues: Vec<Vec<UncheckedExtrinsic>>, per_second: f64) -> Vec<Vec<Timed>> {
	let period = if per_second > 0.0 {
		Duration::from_secs_f64(queues.len().max(1) as f64 / per_second)
	} else {
		Duration::ZERO
	};
	queues
		.into_iter()
		.map(|queue| {
			queue.into_iter().enumerate().map(|(k, xt)| (period.mul_f64(k as f64), xt)).collect()
		})
		.collect()
}

/// Submits queue `i` over connection `i`, each extrinsic no earlier than its time, with up to
/// `in_flight` submissions outstanding on each connection (in queue order, so one signer's
/// nonces arrive in order), all connections at once. Returns how many the nodes accepted and
/// how many they refused.
async fn submit_pipelined(links: &[Chain], queues: &[Vec<Timed>], in_flight: u32) -> (u64, u64) {
	let in_flight = in_flight.max(1) as usize;
	let start = tokio::time::Instant::now();
	let counts =
		futures::future::join_all(links.iter().zip(queues).map(|(link, queue)| async move {
			let results: Vec<bool> = futures::stream::iter(queue.iter())
				.map(|(at, xt)| async move {
					tokio::time::sleep_until(start + *at).await;
					link.submit(&xt.encode()).await
				})
				.buffered(in_flight)
				.map(|result| match result {
					Ok(_) => true,
					Err(error) => {
						tracing::debug!(%error, "the node refused a benchmark transaction");
						false
					}
				})
				.collect()
				.await;
			let accepted = results.iter().filter(|ok| **ok).count() as u64;
			(accepted, results.len() as u64 - accepted)
		}))
		.await;
	counts.iter().fold((0, 0), |(a, r), (ca, cr)| (a + ca, r + cr))
}

async fn finalized_number(chain: &Chain) -> Result<u32, ChainError> {
	let head = chain.finalized_head().await?;
	let header: serde_json::Value =
		chain.request("chain_getHeader", jsonrpsee::rpc_params![head]).await?;
	header["number"]
		.as_str()
		.and_then(|hex| u32::from_str_radix(hex.trim_start_matches("0x"), 16).ok())
		.ok_or_else(|| ChainError::Decode {
			what: "chain_getHeader",
			message: format!("no block number in {header}"),
		})
}

/// When this client first saw each finalized head, polled every [`POLL`] for as long as a
/// phase runs (submission included), so that a block's finality lag does not wait for the
/// benchmark to read it.
#[derive(Default)]
pub(crate) struct FinalityWatch {
	/// (finalized block number, unix ms it was first seen), numbers rising.
	seen: std::cell::RefCell<Vec<(u32, u64)>>,
	stopped: std::cell::Cell<bool>,
}

impl FinalityWatch {
	/// Polls until [`Self::stop`]; a failed poll is logged and retried.
	pub(crate) async fn run(&self, chain: &Chain) {
		while !self.stopped.get() {
			match finalized_number(chain).await {
				Ok(number) => {
					let mut seen = self.seen.borrow_mut();
					if seen.last().is_none_or(|(last, _)| number > *last) {
						seen.push((number, unix_ms_now()));
					}
				}
				Err(error) => tracing::warn!(%error, "reading the finalized head"),
			}
			tokio::time::sleep(POLL).await;
		}
	}

	pub(crate) fn stop(&self) {
		self.stopped.set(true);
	}

	/// Runs `work` while watching, and stops when it is done.
	pub(crate) async fn during<T>(
		&self,
		chain: &Chain,
		work: impl std::future::Future<Output = T>,
	) -> T {
		let work = async {
			let out = work.await;
			self.stop();
			out
		};
		futures::future::join(work, self.run(chain)).await.0
	}

	/// When block `number` was first seen finalized (unix ms), if it has been.
	fn finalized_at(&self, number: u32) -> Option<u64> {
		let seen = self.seen.borrow();
		let at = seen.partition_point(|(n, _)| *n < number);
		seen.get(at).map(|(_, ms)| *ms)
	}
}

/// The median fullness of the blocks that carried a phase, leaving out its last block (the
/// flood's tail, partly empty by nature) when there are others.
pub fn steady_fullness(fullness: &[f64]) -> f64 {
	let steady = match fullness.split_last() {
		Some((_, rest)) if !rest.is_empty() => rest,
		_ => fullness,
	};
	let mut steady = steady.to_vec();
	if steady.is_empty() {
		return 0.0;
	}
	steady.sort_by(|a, b| a.total_cmp(b));
	steady[steady.len() / 2]
}

/// The share of a block's normal-class weight limit one `call` declares before dispatch (its
/// weight and an extrinsic's base weight), under the runtime's default parameters.
pub fn declared_share(call: &RuntimeCall) -> f64 {
	use frame_support::dispatch::GetDispatchInfo;
	let limits = <openvpp_runtime::Runtime as frame_system::Config>::BlockWeights::get();
	let normal = limits.get(DispatchClass::Normal);
	let max = normal.max_total.unwrap_or(limits.max_block);
	let weight = sp_io::TestExternalities::default()
		.execute_with(|| call.get_dispatch_info().total_weight())
		.saturating_add(normal.base_extrinsic);
	weight.ref_time() as f64 / max.ref_time().max(1) as f64
}

/// Submits the signed `queues` (queue `i` over connection `i`, spread over `urls`, each
/// extrinsic at its time) as `shape` says, and measures the phase: items counted by `count`
/// (given each finalized block's number and events) in finalized blocks, the nodes' CPU and memory over it. `items` turns the extrinsics the
/// nodes accepted into the items submitted and the items to wait for. Both floods measure this
/// way.
#[allow(clippy::too_many_arguments)]
pub(crate) async fn measure_flood(
	name: &'static str,
	urls: &[String],
	chain: &Chain,
	queues: &[Vec<Timed>],
	shape: FloodShape,
	node_pids: &[u32],
	items: impl FnOnce(u64) -> (u64, u64),
	count: impl Fn(u32, &[RuntimeEvent]) -> u64,
) -> Result<PhaseResult, ChainError> {
	let links = connect_many(urls, queues.len() as u32).await?;
	let from_block = finalized_number(chain).await?;
	let before = usage_of(node_pids);
	let started = Instant::now();
	tracing::info!(
		extrinsics = queues.iter().map(Vec::len).sum::<usize>(),
		connections = links.len(),
		in_flight = shape.in_flight,
		"submitting {name}"
	);
	let watch = FinalityWatch::default();
	let (submitted, refused, submit_s, counted) = watch
		.during(chain, async {
			let (accepted, refused) = submit_pipelined(&links, queues, shape.in_flight).await;
			let submit_s = started.elapsed().as_secs_f64();
			let (submitted, expected) = items(accepted);
			tracing::info!(submitted, refused, submit_s, "{name} submitted");
			let counted = count_finalized(chain, &watch, from_block, expected, count).await;
			(submitted, refused, submit_s, counted)
		})
		.await;
	let counted = counted?;
	let wall = started.elapsed().as_secs_f64();
	let after = usage_of(node_pids);
	let mut result = phase(name, submitted, counted, before, after, wall);
	result.refused = refused;
	result.submit_seconds = submit_s;
	Ok(result)
}

/// Blocks at least this full (by normal-class weight) are limited by their weight.
pub const FULL_BY_WEIGHT: f64 = 0.9;

fn phase(
	name: &'static str,
	submitted: u64,
	counted: Counted,
	before: Option<ProcessUsage>,
	after: Option<ProcessUsage>,
	wall: f64,
) -> PhaseResult {
	let (node_cpu_s, node_peak_rss_mib) = match (before, after) {
		(Some(b), Some(a)) => (a.cpu_s - b.cpu_s, a.peak_rss_mib),
		_ => (0.0, 0.0),
	};
	let finalized = counted.finalized;
	PhaseResult {
		name,
		submitted,
		finalized,
		chain_seconds: counted.chain_seconds,
		per_second: if counted.chain_seconds > 0.0 {
			finalized as f64 / counted.chain_seconds
		} else {
			0.0
		},
		max_per_block: counted.max_per_block,
		blocks: counted.blocks,
		first_block: counted.first_block,
		last_block: counted.last_block,
		node_cpu_cores: node_cpu_s / wall.max(0.001),
		node_cpu_ms_per_item: if finalized > 0 {
			node_cpu_s * 1_000.0 / finalized as f64
		} else {
			0.0
		},
		node_peak_rss_mib,
		block_fullness: steady_fullness(&counted.fullness),
		weight_per_item_us: if finalized > 0 {
			counted.weight_ps as f64 / 1e6 / finalized as f64
		} else {
			0.0
		},
		finality_lag_p50_s: quantile(&counted.finality_lag_s, 0.5),
		finality_lag_p99_s: quantile(&counted.finality_lag_s, 0.99),
		..Default::default()
	}
}

/// The results as a table.
pub fn table(results: &[PhaseResult], devices: u32) -> String {
	let mut out = String::new();
	out.push_str(&format!(
		"| flood ({devices} devices) | submitted | refused | finalized | chain time (s) | per second | max per block | blocks | block fullness (median) | weight per item (µs) | limited by | finality lag p50 / p99 (s) | node CPU (cores) | node CPU per item (ms) | node peak RSS (MiB) |\n"
	));
	out.push_str("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- | ---: | ---: | ---: | ---: |\n");
	for r in results {
		out.push_str(&format!(
			"| {} | {} | {} | {} | {:.1} | {:.0} | {} | {} | {:.0} % | {:.1} | {} | {:.1} / {:.1} | {:.2} | {:.3} | {:.0} |\n",
			r.name,
			r.submitted,
			r.refused,
			r.finalized,
			r.chain_seconds,
			r.per_second,
			r.max_per_block,
			r.blocks,
			r.block_fullness * 100.0,
			r.weight_per_item_us,
			r.limited_by(),
			r.finality_lag_p50_s,
			r.finality_lag_p99_s,
			r.node_cpu_cores,
			r.node_cpu_ms_per_item,
			r.node_peak_rss_mib
		));
	}
	if let (Some(transfers), Some(reports)) = (
		results.iter().find(|r| r.name == "transfers"),
		results.iter().find(|r| r.name == "reports"),
	) {
		if reports.weight_per_item_us > 0.0 {
			out.push_str(&format!(
				"\nweight per transfer ÷ weight per report = {:.1}× ({:.1} µs ÷ {:.1} µs, as the blocks consumed it)\n",
				transfers.weight_per_item_us / reports.weight_per_item_us,
				transfers.weight_per_item_us,
				reports.weight_per_item_us
			));
		}
		if transfers.per_second > 0.0 {
			out.push_str(&format!(
				"reports per second ÷ transfers per second = {:.1}×\n",
				reports.per_second / transfers.per_second
			));
		}
		if reports.node_cpu_ms_per_item > 0.0 {
			out.push_str(&format!(
				"node CPU per transfer ÷ node CPU per report = {:.1}×\n",
				transfers.node_cpu_ms_per_item / reports.node_cpu_ms_per_item
			));
		}
	}
	out
}

#[cfg(test)]
mod tests {
	use super::*;

	#[test]
	fn steady_fullness_leaves_out_the_tail() {
		assert_eq!(steady_fullness(&[]), 0.0);
		assert_eq!(steady_fullness(&[0.3]), 0.3);
		assert_eq!(steady_fullness(&[0.95, 0.97, 0.96, 0.1]), 0.96);
		let full = PhaseResult { block_fullness: 0.95, ..Default::default() };
		assert_eq!(full.limited_by(), "block weight");
		let starved = PhaseResult { block_fullness: 0.4, item_share: 0.001, ..Default::default() };
		assert_eq!(starved.limited_by(), "pool / submission");
		// Batches of reports declare far more than they use: 84 % used, one more declares 20 %.
		let batches = PhaseResult { block_fullness: 0.84, item_share: 0.2, ..Default::default() };
		assert_eq!(batches.limited_by(), "block weight");
	}

	#[test]
	fn quantiles_take_the_nearest_rank() {
		assert_eq!(quantile(&[], 0.5), 0.0);
		let lags: Vec<f64> = (1..=100).map(f64::from).collect();
		assert_eq!(quantile(&lags, 0.5), 50.0);
		assert_eq!(quantile(&lags, 0.99), 99.0);
		assert_eq!(quantile(&[3.0, 1.0, 2.0], 0.99), 3.0);
	}

	#[test]
	fn own_process_usage_is_readable() {
		let usage = process_usage(std::process::id()).unwrap();
		assert!(usage.rss_mib > 0.0 && usage.peak_rss_mib >= usage.rss_mib);
	}
}
