//! The telemetry throughput benchmark (`scripts/bench-telemetry.sh`).
//!
//! 1. [`bench_chain_spec`] extends the development chain spec with N benchmark devices (active
//!    from genesis, sr25519 keys derived from their index, bound to the gateway `//Ferdie`,
//!    spread over 16 regions).
//! 2. On a node running that spec, [`run`] measures two floods in turn: plain balance transfers
//!    (the baseline a chain without batching would get) and device reports in batches of up to
//!    1 000. Everything is signed before the clock starts, so the measurement is the node's, not
//!    the signer's. Throughput is what reached *finalized* blocks, over the time between the first
//!    and the last block that carried the flood (block timestamps), and the node's CPU time and
//!    peak memory over the same phase are read from `/proc`.

use std::{
	collections::BTreeSet,
	time::{Duration, Instant},
};

use codec::Encode;
use openvpp_primitives::{
	Capability, DeviceId, DeviceKind, DeviceState, GridResponseStatus, IntervalReport,
	QualityFlags, SignedReport,
};
use openvpp_runtime::{
	extrinsic, BalancesCall, RuntimeCall, RuntimeEvent, UncheckedExtrinsic, OVPP,
};
use serde_json::{json, Value};
use sp_core::{crypto::AccountId32, sr25519, Pair};
use sp_keyring::Sr25519Keyring;
use sp_runtime::BoundedVec;

use openvpp_bridge::chain::{Chain, ChainError};

/// Regions the benchmark devices are spread over.
pub const BENCH_REGIONS: u32 = 16;
/// Interval of the benchmark reports (s). A run of M reports from N devices goes M / N
/// quarter hours back in time, which must stay within the chain's two-day report horizon.
pub const REPORT_INTERVAL_S: u32 = 900;
/// Id of the first benchmark device (after the 7 demo devices of the development genesis).
pub const FIRST_BENCH_DEVICE: DeviceId = 8;

/// The attestation key of benchmark device number `index` (0-based).
pub fn bench_key(index: u32) -> sr25519::Pair {
	use sp_runtime::traits::{BlakeTwo256, Hash};
	let seed = BlakeTwo256::hash(&(b"openvpp-bench-device", index).encode());
	sr25519::Pair::from_seed(&seed.0)
}

/// The account owning the benchmark devices.
pub fn bench_owner() -> AccountId32 {
	Sr25519Keyring::Eve.to_account_id()
}

/// The gateway submitting the benchmark reports.
pub const BENCH_GATEWAY: Sr25519Keyring = Sr25519Keyring::Ferdie;

fn genesis_patch(spec: &mut Value) -> Option<&mut Value> {
	let runtime = spec.get_mut("genesis")?.get_mut("runtimeGenesis")?;
	if runtime.get("patch").is_some() {
		runtime.get_mut("patch")
	} else {
		runtime.get_mut("config")
	}
}

/// An account as a chain spec's genesis must spell it: the runtime parses genesis JSON without
/// knowing OpenVPP's unregistered address prefix, so it takes the generic Substrate format (42),
/// whatever format this process prints by default.
pub fn genesis_address(account: &AccountId32) -> String {
	generic_ss58(account)
}

fn generic_ss58<T: sp_core::crypto::Ss58Codec>(public: &T) -> String {
	use sp_core::crypto::Ss58AddressFormatRegistry;
	public.to_ss58check_with_version(Ss58AddressFormatRegistry::SubstrateAccount.into())
}

/// Extends a development chain spec (the JSON of `openvpp-node build-spec --chain dev`) with
/// `devices` benchmark devices.
pub fn bench_chain_spec(mut spec: Value, devices: u32) -> Result<Value, String> {
	let gateway = genesis_address(&BENCH_GATEWAY.to_account_id());
	let owner = genesis_address(&bench_owner());
	let patch =
		genesis_patch(&mut spec).ok_or("the chain spec has no runtimeGenesis patch or config")?;
	let registry = patch
		.as_object_mut()
		.ok_or("the genesis patch is not an object")?
		.entry("deviceRegistry")
		.or_insert_with(|| json!({ "verifiers": [], "devices": [] }));
	let list = registry
		.get_mut("devices")
		.and_then(Value::as_array_mut)
		.ok_or("deviceRegistry.devices is not a list")?;
	let capability = Capability { rated_power_w: 10_000, ..Default::default() };
	for index in 0..devices {
		// The runtime reads `{"Sr25519": "<SS58>"}`, in the generic format (see
		// [`genesis_address`]).
		let key = json!({ "Sr25519": generic_ss58(&bench_key(index).public()) });
		list.push(json!({
			"owner": owner,
			"gateway": gateway,
			"kind": DeviceKind::RooftopSolar,
			"capability": capability,
			"region": format!("BENCH-R{}", index % BENCH_REGIONS),
			"attestationKey": key,
		}));
	}
	// The owner pays a deposit of about 1 OVPP per device.
	let balances = patch
		.get_mut("balances")
		.and_then(|b| b.get_mut("balances"))
		.and_then(Value::as_array_mut)
		.ok_or("balances.balances is not a list")?;
	balances.retain(|entry| entry.get(0).and_then(Value::as_str) != Some(owner.as_str()));
	let endowment = u128::from(devices) * 2 * OVPP + 1_000_000 * OVPP;
	balances.push(json!([owner, endowment]));
	Ok(spec)
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
	/// Node CPU over the phase, in cores (1.0 = one core busy).
	pub node_cpu_cores: f64,
	pub node_peak_rss_mib: f64,
}

/// Counts a phase's items in the finalized blocks after `from_block`, until `expected` are in or
/// `timeout` passes.
async fn count_finalized(
	chain: &Chain,
	from_block: u32,
	expected: u64,
	timeout: Duration,
	count: impl Fn(&[RuntimeEvent]) -> u64,
) -> Result<(u64, f64, u64, u32), ChainError> {
	let deadline = Instant::now() + timeout;
	let mut next = from_block + 1;
	let mut total = 0u64;
	let mut max_per_block = 0u64;
	let mut blocks = 0u32;
	let mut first_ts: Option<u64> = None;
	let mut last_ts = 0u64;
	let start_ts = chain.timestamp_ms(chain.block_hash(from_block).await?).await?;
	while total < expected && Instant::now() < deadline {
		let head = chain.finalized_head().await?;
		let head_number = chain.block(head).await?.number;
		while next <= head_number {
			let Some(hash) = chain.block_hash(next).await? else { break };
			let events: Vec<RuntimeEvent> = chain
				.events(hash)
				.await?
				.iter()
				.map(|r| r.decode_as())
				.collect::<Result<_, _>>()
				.map_err(|e| ChainError::Decode { what: "event", message: e.to_string() })?;
			let in_block = count(&events);
			if in_block > 0 {
				let ts = chain.timestamp_ms(Some(hash)).await?;
				first_ts.get_or_insert(ts);
				last_ts = ts;
				total += in_block;
				max_per_block = max_per_block.max(in_block);
				blocks += 1;
			}
			next += 1;
		}
		tokio::time::sleep(Duration::from_millis(500)).await;
	}
	// From the block before the first carrying one (when inclusion could start) to the last.
	let block_ms = openvpp_runtime::MILLI_SECS_PER_BLOCK;
	let begin = first_ts.map(|t| t.saturating_sub(block_ms)).unwrap_or(start_ts).max(start_ts);
	let seconds = (last_ts.saturating_sub(begin)) as f64 / 1_000.0;
	Ok((total, seconds, max_per_block, blocks))
}

async fn submit_all(chain: &Chain, xts: &[UncheckedExtrinsic]) -> u64 {
	let mut accepted = 0;
	for xt in xts {
		match chain.submit(&xt.encode()).await {
			Ok(_) => accepted += 1,
			Err(error) => tracing::warn!(%error, "the pool refused a benchmark transaction"),
		}
	}
	accepted
}

async fn finalized_number(chain: &Chain) -> Result<u32, ChainError> {
	let head = chain.finalized_head().await?;
	Ok(chain.block(head).await?.number)
}

/// Baseline: `count` transfers from the dev accounts, all pre-signed.
pub async fn transfer_flood(
	chain: &Chain,
	count: u32,
	node_pid: Option<u32>,
) -> Result<PhaseResult, ChainError> {
	let senders = [
		Sr25519Keyring::Alice,
		Sr25519Keyring::Bob,
		Sr25519Keyring::Charlie,
		Sr25519Keyring::Dave,
		Sr25519Keyring::AliceStash,
		Sr25519Keyring::BobStash,
	];
	let mut nonces = Vec::new();
	for sender in &senders {
		nonces.push(chain.next_nonce(&sender.to_account_id()).await?);
	}
	let dest: AccountId32 = sr25519::Pair::from_seed(&[7; 32]).public().into();
	tracing::info!(count, "signing transfers");
	let xts: Vec<UncheckedExtrinsic> = (0..count)
		.map(|i| {
			let s = (i as usize) % senders.len();
			let nonce = nonces[s] + i / senders.len() as u32;
			let call = RuntimeCall::Balances(BalancesCall::transfer_keep_alive {
				dest: dest.clone().into(),
				value: OVPP / 100,
			});
			extrinsic::sign(call, &senders[s].pair(), nonce, chain.genesis)
		})
		.collect();
	let from_block = finalized_number(chain).await?;
	let before = node_pid.and_then(process_usage);
	let started = Instant::now();
	let submitted = submit_all(chain, &xts).await;
	let (finalized, seconds, max_per_block, blocks) =
		count_finalized(chain, from_block, submitted, Duration::from_secs(600), |events| {
			events
				.iter()
				.filter(|e| matches!(e, RuntimeEvent::Balances(pallet_balances::Event::Transfer { to, .. }) if *to == dest))
				.count() as u64
		})
		.await?;
	let wall = started.elapsed().as_secs_f64();
	let after = node_pid.and_then(process_usage);
	Ok(phase(
		"transfers",
		submitted,
		finalized,
		seconds,
		max_per_block,
		blocks,
		before,
		after,
		wall,
	))
}

#[allow(clippy::too_many_arguments)]
fn phase(
	name: &'static str,
	submitted: u64,
	finalized: u64,
	seconds: f64,
	max_per_block: u64,
	blocks: u32,
	before: Option<ProcessUsage>,
	after: Option<ProcessUsage>,
	wall: f64,
) -> PhaseResult {
	let (node_cpu_cores, node_peak_rss_mib) = match (before, after) {
		(Some(b), Some(a)) => ((a.cpu_s - b.cpu_s) / wall.max(0.001), a.peak_rss_mib),
		_ => (0.0, 0.0),
	};
	PhaseResult {
		name,
		submitted,
		finalized,
		chain_seconds: seconds,
		per_second: if seconds > 0.0 { finalized as f64 / seconds } else { 0.0 },
		max_per_block,
		blocks,
		node_cpu_cores,
		node_peak_rss_mib,
	}
}

/// The report flood: `total` reports from `devices` benchmark devices in batches of `batch`.
pub async fn report_flood(
	chain: &Chain,
	devices: u32,
	total: u32,
	batch: u32,
	node_pid: Option<u32>,
) -> Result<PhaseResult, ChainError> {
	let gateway = BENCH_GATEWAY.pair();
	let mut nonce = chain.next_nonce(&BENCH_GATEWAY.to_account_id()).await?;
	let per_device = total.div_ceil(devices.max(1)).max(1);
	// Quarter-hour reports, the settlement interval of most power markets: with hourly scoring
	// epochs, every fourth report of a device closes its epoch, as in a real fleet.
	let interval_s: u32 = REPORT_INTERVAL_S;
	let now_s = chain.timestamp_ms(None).await? / 1_000;
	let end = now_s / u64::from(interval_s) * u64::from(interval_s);

	tracing::info!(total, devices, per_device, "signing reports");
	let keys: Vec<sr25519::Pair> = (0..devices).map(bench_key).collect();
	// Continue where an earlier run on this chain left off.
	let mut first_sequence = vec![0u64; devices as usize];
	for (index, slot) in first_sequence.iter_mut().enumerate() {
		let id = FIRST_BENCH_DEVICE + index as u32;
		if let Some(state) = chain.device_telemetry(id, None).await? {
			*slot = state.last_sequence;
		}
		if index % 5_000 == 4_999 {
			tracing::info!(read = index + 1, "read device states");
		}
	}
	let mut reports: Vec<SignedReport> = Vec::with_capacity(total as usize);
	'rounds: for round in 0..per_device {
		for index in 0..devices {
			if reports.len() >= total as usize {
				break 'rounds;
			}
			let back = u64::from(per_device - round);
			let report = IntervalReport {
				device_id: FIRST_BENCH_DEVICE + index,
				sequence: first_sequence[index as usize] + u64::from(round) + 1,
				interval_start: end - back * u64::from(interval_s),
				interval_length_s: interval_s,
				energy_imported_wh: 0,
				energy_exported_wh: 750,
				cumulative_imported_wh: 0,
				cumulative_exported_wh: 1_000_000
					+ 750 * (first_sequence[index as usize] + u64::from(round) + 1),
				average_power_w: 3_000,
				peak_power_w: 3_100,
				soc_bp: None,
				device_state: DeviceState::Operating,
				grid_response: GridResponseStatus::Idle,
				online_s: interval_s,
				quality: QualityFlags::default(),
			};
			let payload = openvpp_primitives::report_signing_payload(&chain.genesis, &report);
			let signature = keys[index as usize].sign(&payload).into();
			reports.push(SignedReport { report, signature });
		}
	}
	let xts: Vec<UncheckedExtrinsic> = reports
		.chunks(batch as usize)
		.map(|chunk| {
			let call = RuntimeCall::Telemetry(pallet_telemetry::Call::submit_reports {
				reports: BoundedVec::truncate_from(chunk.to_vec()),
				raw_data_digest: None,
			});
			let xt = extrinsic::sign(call, &gateway, nonce, chain.genesis);
			nonce += 1;
			xt
		})
		.collect();
	let submitted_reports = reports.len() as u64;
	drop(reports);

	let from_block = finalized_number(chain).await?;
	let before = node_pid.and_then(process_usage);
	let started = Instant::now();
	tracing::info!(batches = xts.len(), "submitting");
	let accepted_batches = submit_all(chain, &xts).await;
	let expected = submitted_reports.min(accepted_batches * u64::from(batch));
	let (finalized, seconds, max_per_block, blocks) =
		count_finalized(chain, from_block, expected, Duration::from_secs(900), |events| {
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
		})
		.await?;
	let wall = started.elapsed().as_secs_f64();
	let after = node_pid.and_then(process_usage);
	Ok(phase(
		"reports",
		submitted_reports,
		finalized,
		seconds,
		max_per_block,
		blocks,
		before,
		after,
		wall,
	))
}

/// The results as a table.
pub fn table(results: &[PhaseResult], devices: u32) -> String {
	let mut out = String::new();
	out.push_str(&format!(
		"| flood ({devices} devices) | submitted | finalized | chain time (s) | per second | max per block | blocks | node CPU (cores) | node peak RSS (MiB) |\n"
	));
	out.push_str("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n");
	for r in results {
		out.push_str(&format!(
			"| {} | {} | {} | {:.1} | {:.0} | {} | {} | {:.2} | {:.0} |\n",
			r.name,
			r.submitted,
			r.finalized,
			r.chain_seconds,
			r.per_second,
			r.max_per_block,
			r.blocks,
			r.node_cpu_cores,
			r.node_peak_rss_mib
		));
	}
	if let (Some(transfers), Some(reports)) = (
		results.iter().find(|r| r.name == "transfers"),
		results.iter().find(|r| r.name == "reports"),
	) {
		if transfers.per_second > 0.0 {
			out.push_str(&format!(
				"\nreports per second ÷ transfers per second = {:.1}×\n",
				reports.per_second / transfers.per_second
			));
		}
	}
	out
}

/// Devices of a benchmark spec, for checks.
pub fn bench_device_ids(devices: u32) -> BTreeSet<DeviceId> {
	(0..devices).map(|i| FIRST_BENCH_DEVICE + i).collect()
}

#[cfg(test)]
mod tests {
	use super::*;

	#[test]
	fn the_bench_spec_adds_devices_and_funds_their_owner() {
		let spec = json!({
			"genesis": { "runtimeGenesis": { "patch": {
				"balances": { "balances": [["5Alice", 1]] },
				"deviceRegistry": { "verifiers": [], "devices": [{"demo": true}] }
			}}}
		});
		let spec = bench_chain_spec(spec, 3).unwrap();
		let patch = &spec["genesis"]["runtimeGenesis"]["patch"];
		let devices = patch["deviceRegistry"]["devices"].as_array().unwrap();
		assert_eq!(devices.len(), 4);
		assert_eq!(devices[3]["region"], "BENCH-R2");
		assert_eq!(patch["balances"]["balances"].as_array().unwrap().len(), 2);
		assert_ne!(bench_key(0).public(), bench_key(1).public());
		// Genesis takes generic addresses even when this process prints OpenVPP ones.
		openvpp_bridge::chain::use_chain_ss58_format();
		assert_eq!(devices[3]["owner"], genesis_address(&bench_owner()));
		assert!(devices[3]["owner"].as_str().is_some_and(|a| a.starts_with('5')));
		let key: openvpp_primitives::AttestationKey =
			serde_json::from_value(devices[3]["attestationKey"].clone()).unwrap();
		assert_eq!(key, bench_key(2).public().into());
		assert_eq!(bench_device_ids(2), BTreeSet::from([8, 9]));
	}

	#[test]
	fn own_process_usage_is_readable() {
		let usage = process_usage(std::process::id()).unwrap();
		assert!(usage.rss_mib > 0.0 && usage.peak_rss_mib >= usage.rss_mib);
	}
}
