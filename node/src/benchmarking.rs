//! What `benchmark overhead` and `benchmark extrinsic` put in their blocks, and the inherents
//! those blocks carry.
//!
//! Both commands build a block on the genesis of the given chain, fill it with one kind of
//! extrinsic until the block's weight limit refuses the next, and time the block's execution
//! against an empty one. `overhead` writes the runtime's `BlockExecutionWeight` and
//! `ExtrinsicBaseWeight` from a block of remarks; `extrinsic` prints the time of one extrinsic
//! of any builder below, so that a transfer and a batch of device reports are priced on the
//! same machine, in the same way.
//!
//! The blocks carry the current time (not the epoch), so that device reports are current;
//! Aura then needs the matching slot in the block's digest.

use std::time::{SystemTime, UNIX_EPOCH};

use codec::Encode;
use frame_benchmarking_cli::ExtrinsicBuilder;
use openvpp_runtime::{
	bench_fleet::{bench_batch, BenchFleet},
	extrinsic, BalancesCall, RuntimeCall, SystemCall, UncheckedExtrinsic, MILLI_SECS_PER_BLOCK,
	OVPP,
};
use sp_core::H256;
use sp_inherents::{InherentData, InherentDataProvider};
use sp_keyring::Sr25519Keyring;
use sp_runtime::{Digest, DigestItem, OpaqueExtrinsic};

use crate::service::FullClient;

/// Reports per batch in the `telemetry submit_reports` benchmark: the size docs/performance.md
/// measured.
pub const REPORTS_PER_BATCH: u32 = openvpp_runtime::bench_fleet::BENCH_BATCH;
/// Interval of the benchmark reports (s): a minute, the benchmark chain's shortest.
const REPORT_INTERVAL_S: u32 = 60;

/// The time the benchmark blocks carry: now, on a slot boundary.
pub fn block_time_ms() -> sc_cli::Result<u64> {
	let now = SystemTime::now()
		.duration_since(UNIX_EPOCH)
		.map_err(|_| sc_cli::Error::Input("the system clock is before 1970".into()))?;
	let now_ms = u64::try_from(now.as_millis()).unwrap_or(u64::MAX);
	Ok(now_ms / MILLI_SECS_PER_BLOCK * MILLI_SECS_PER_BLOCK)
}

/// The inherents of a benchmark block at `time_ms`.
pub fn inherent_data(time_ms: u64) -> sc_cli::Result<InherentData> {
	let mut data = InherentData::new();
	let timestamp = sp_timestamp::InherentDataProvider::new(time_ms.into());
	futures::executor::block_on(timestamp.provide_inherent_data(&mut data))
		.map_err(|e| sc_cli::Error::Input(format!("timestamp inherent: {e}")))?;
	Ok(data)
}

/// The digest of a benchmark block at `time_ms`: Aura's slot for that time.
pub fn digest_items(time_ms: u64) -> Vec<DigestItem> {
	let slot = sp_consensus_aura::Slot::from(time_ms / MILLI_SECS_PER_BLOCK);
	let digest = Digest {
		logs: vec![DigestItem::PreRuntime(sp_consensus_aura::AURA_ENGINE_ID, slot.encode())],
	};
	digest.logs
}

fn opaque(xt: UncheckedExtrinsic) -> Result<OpaqueExtrinsic, &'static str> {
	OpaqueExtrinsic::try_from_encoded_extrinsic(&xt.encode())
		.map_err(|_| "a signed extrinsic did not encode as an opaque one")
}

/// `system remark`: an empty remark signed by Bob, the extrinsic `overhead` needs.
pub struct RemarkBuilder {
	pub genesis: H256,
}

impl ExtrinsicBuilder for RemarkBuilder {
	fn pallet(&self) -> &str {
		"system"
	}

	fn extrinsic(&self) -> &str {
		"remark"
	}

	fn build(&self, nonce: u32) -> Result<OpaqueExtrinsic, &'static str> {
		let call = RuntimeCall::System(SystemCall::remark { remark: Vec::new() });
		opaque(extrinsic::sign(call, &Sr25519Keyring::Bob.pair(), nonce, self.genesis))
	}
}

/// `balances transfer_keep_alive`: 0.01 OVPP from Bob to Eve, an account that exists: the item of
/// the throughput benchmark's transfer flood.
pub struct TransferBuilder {
	pub genesis: H256,
}

impl ExtrinsicBuilder for TransferBuilder {
	fn pallet(&self) -> &str {
		"balances"
	}

	fn extrinsic(&self) -> &str {
		"transfer_keep_alive"
	}

	fn build(&self, nonce: u32) -> Result<OpaqueExtrinsic, &'static str> {
		let call = RuntimeCall::Balances(BalancesCall::transfer_keep_alive {
			dest: sp_runtime::MultiAddress::Id(Sr25519Keyring::Eve.to_account_id()),
			value: OVPP / 100,
		});
		opaque(extrinsic::sign(call, &Sr25519Keyring::Bob.pair(), nonce, self.genesis))
	}
}

/// `telemetry submit_reports`: batches of [`REPORTS_PER_BATCH`] current, plausible readings of
/// a benchmark chain's devices (`--chain bench:…`; sr25519 keys, mixed kinds), each batch
/// submitted by the devices' gateway. Batch `n` holds the first reading of 500 devices of
/// gateway `n % gateways` not in an earlier batch, so every reading reads and writes its own
/// device's state: a device's first reading of an epoch.
pub struct ReportBatchBuilder {
	genesis: H256,
	fleet: BenchFleet,
	interval_start: u64,
}

impl ReportBatchBuilder {
	/// Takes the fleet from the chain's properties.
	pub fn new(
		client: &FullClient,
		chain_spec: &dyn sc_service::ChainSpec,
		time_ms: u64,
	) -> sc_cli::Result<ReportBatchBuilder> {
		use sp_blockchain::HeaderBackend;
		let Some(fleet) = BenchFleet::from_properties(&chain_spec.properties()) else {
			return Err(sc_cli::Error::Input(
				"`telemetry submit_reports` needs a benchmark chain: --chain bench:<devices>"
					.into(),
			));
		};
		let (devices, gateways) = (fleet.devices, fleet.gateways);
		if devices / fleet.gateways < REPORTS_PER_BATCH {
			return Err(sc_cli::Error::Input(format!(
				"the chain's {devices} devices over {gateways} gateways make less than one batch \
				 of {REPORTS_PER_BATCH} per gateway"
			)));
		}
		let now_s = time_ms / 1_000;
		let interval = u64::from(REPORT_INTERVAL_S);
		// The minute that ended last.
		let interval_start = (now_s / interval).saturating_sub(1).saturating_mul(interval);
		Ok(ReportBatchBuilder { genesis: client.info().genesis_hash, fleet, interval_start })
	}
}

impl ExtrinsicBuilder for ReportBatchBuilder {
	fn pallet(&self) -> &str {
		"telemetry"
	}

	fn extrinsic(&self) -> &str {
		"submit_reports"
	}

	fn build(&self, nonce: u32) -> Result<OpaqueExtrinsic, &'static str> {
		let xt =
			bench_batch(&self.fleet, self.genesis, self.interval_start, REPORT_INTERVAL_S, nonce)
				.ok_or("the benchmark chain has too few devices to fill a block with batches")?;
		opaque(xt)
	}
}
