//! Helpers the runtime's integration tests share: a chain from a genesis preset, blocks, signed
//! extrinsics applied like a block author does, and reports signed with the demo fleet's keys.

#![allow(dead_code, clippy::expect_used, clippy::unwrap_used)]

use codec::Encode;
use openvpp_primitives::{IntervalReport, SignedReport};
use openvpp_runtime::{
	demo_fleet::{self, KeyScheme},
	extrinsic, BuildStorage, Executive, Runtime, RuntimeCall, RuntimeEvent, RuntimeGenesisConfig,
	System,
};
use sp_core::{ecdsa, ed25519, sr25519, Pair};
use sp_keyring::Sr25519Keyring;
use sp_runtime::traits::Header as _;

/// 2026-03-02T12:00:00Z.
pub const NOON: u64 = 1_772_452_800;

/// Merges a genesis-preset patch into a full genesis config, as the node does.
pub fn merge(base: &mut serde_json::Value, patch: serde_json::Value) {
	match (base, patch) {
		(serde_json::Value::Object(base), serde_json::Value::Object(patch)) => {
			for (key, value) in patch {
				merge(base.entry(key).or_insert(serde_json::Value::Null), value);
			}
		}
		(base, patch) => *base = patch,
	}
}

/// A chain at block 1 built from the named genesis preset.
pub fn chain_from_preset(preset: &str) -> sp_io::TestExternalities {
	let patch: serde_json::Value = serde_json::from_slice(
		&openvpp_runtime::genesis_config_presets::get_preset(&preset.into())
			.expect("preset exists"),
	)
	.unwrap();
	let mut config = serde_json::to_value(RuntimeGenesisConfig::default()).unwrap();
	merge(&mut config, patch);
	let config: RuntimeGenesisConfig = serde_json::from_value(config).expect("preset deserializes");
	let mut ext = sp_io::TestExternalities::new(config.build_storage().expect("preset builds"));
	ext.execute_with(|| start_block(1, NOON));
	ext
}

pub fn start_block(number: u32, unix_s: u64) {
	let header = openvpp_runtime::Header::new(
		number,
		Default::default(),
		Default::default(),
		System::parent_hash(),
		Default::default(),
	);
	Executive::initialize_block(&header);
	pallet_timestamp::Now::<Runtime>::put(unix_s * 1_000);
}

/// Signs `call` with `signer` at its current nonce and applies it like a block author does.
pub fn apply(signer: Sr25519Keyring, call: RuntimeCall) -> sp_runtime::DispatchResult {
	try_apply(&signer.pair(), call).expect("the transaction is valid")
}

/// Signs `call` with `signer` at its current nonce and offers it to the block being built: the
/// outer error is the transaction's refusal (a full block, a bad nonce), the inner one its
/// dispatch result.
pub fn try_apply(signer: &sr25519::Pair, call: RuntimeCall) -> sp_runtime::ApplyExtrinsicResult {
	let nonce = System::account_nonce(openvpp_runtime::AccountId::from(signer.public()));
	let xt = extrinsic::sign(call, signer, nonce, System::block_hash(0));
	// Round-trip through the wire format, as a node receives it.
	let xt = openvpp_runtime::UncheckedExtrinsic::decode_all_from(&xt.encode());
	Executive::apply_extrinsic(xt)
}

pub trait DecodeAll: Sized {
	fn decode_all_from(bytes: &[u8]) -> Self;
}
impl DecodeAll for openvpp_runtime::UncheckedExtrinsic {
	fn decode_all_from(bytes: &[u8]) -> Self {
		<Self as codec::DecodeAll>::decode_all(&mut &bytes[..]).expect("decodes")
	}
}

pub fn events() -> Vec<RuntimeEvent> {
	System::events().into_iter().map(|r| r.event).collect()
}

/// Signs reports for the demo fleet with the keys derived from their documented seeds.
pub fn sign_demo(report: IntervalReport) -> SignedReport {
	let device = &demo_fleet::demo_fleet()[report.device_id as usize - 1];
	let payload = openvpp_primitives::report_signing_payload(&System::block_hash(0), &report);
	let seed = device.seed();
	let signature = match device.scheme {
		KeyScheme::Sr25519 => {
			sr25519::Pair::from_string(&seed, None).unwrap().sign(&payload).into()
		}
		KeyScheme::Ed25519 => {
			ed25519::Pair::from_string(&seed, None).unwrap().sign(&payload).into()
		}
		KeyScheme::Ecdsa => ecdsa::Pair::from_string(&seed, None).unwrap().sign(&payload).into(),
	};
	SignedReport { report, signature }
}

/// Signs a report with an ECDSA device key of the test's own.
pub fn sign_ecdsa(key: &ecdsa::Pair, report: IntervalReport) -> SignedReport {
	let payload = openvpp_primitives::report_signing_payload(&System::block_hash(0), &report);
	SignedReport { report, signature: key.sign(&payload).into() }
}

/// Starts the next block at `unix_s` and runs what follows its inherents (`on_poll`), as the
/// block author does before the first transaction.
pub fn next_block(unix_s: u64) {
	start_block(System::block_number() + 1, unix_s);
	Executive::inherents_applied();
}
