//! Genesis presets: the initial state of a chain, chosen by name when a chain spec is built.
//!
//! - `development`: one validator (Alice), sudo, endowed dev accounts, the verifier `//Dave`
//!   and the demo device fleet ([`crate::demo_fleet`]).
//! - `local_testnet`: four validators (Alice, Bob, Charlie, Dave) on one machine, sudo,
//!   endowed dev accounts, the verifier `//Dave`.
//! - `staging`: the template for a real network — four validators, no sudo key, five-minute
//!   minimum report intervals, governance with production timings. The validator keys here
//!   are the well-known development keys and there are no verifiers yet; a real network
//!   replaces the keys and names its first verifiers (see docs/operator.md).
//!
//! Development and local chains use the governance timing `Demonstration` (a referendum
//! passes in about two minutes, a session lasts ten blocks); staging uses `Production`.

use alloc::{format, string::String, vec, vec::Vec};
use frame_support::build_struct_json_patch;
use serde_json::Value;
use sp_consensus_aura::sr25519::AuthorityId as AuraId;
use sp_consensus_grandpa::AuthorityId as GrandpaId;
use sp_genesis_builder::{self, PresetId};
use sp_keyring::{Ed25519Keyring, Sr25519Keyring};

use crate::{
	demo_fleet, governance::origins::Timing, AccountId, BalancesConfig, DeviceRegistryConfig,
	OriginsConfig, RuntimeGenesisConfig, SessionConfig, SessionKeys, SudoConfig, TelemetryConfig,
	ValidatorSetConfig, OVPP,
};

/// Shortest report interval on development and local chains: a few seconds, so that a demo or
/// a test sees reports at once.
pub const DEV_MIN_INTERVAL_LENGTH_S: u32 = 5;
/// Shortest report interval on a real network: five minutes, the shortest settlement interval
/// of today's power markets.
pub const STAGING_MIN_INTERVAL_LENGTH_S: u32 = 300;
/// Scoring epoch on development and local chains: five minutes, so that a person running the
/// demo sees rewards arrive.
pub const DEV_EPOCH_LENGTH_S: u64 = 300;
/// How long after an epoch's end development chains close silent devices' epochs and pay
/// rewards: one minute.
pub const DEV_EPOCH_CLOSE_GRACE_S: u64 = 60;
/// Scoring epoch on a real network: one hour.
pub const STAGING_EPOCH_LENGTH_S: u64 = 3_600;

/// Name of the staging preset.
pub const STAGING_RUNTIME_PRESET: &str = "staging";

/// Balance of every endowed development account: one million OVPP.
pub const DEV_ENDOWMENT: crate::Balance = 1_000_000 * OVPP;

/// A validator at genesis: its account and its session keys.
pub struct GenesisValidator {
	pub account: AccountId,
	pub aura: AuraId,
	pub grandpa: GrandpaId,
}

/// A dev keyring member as a validator: its sr25519 account, Aura (sr25519) and GRANDPA
/// (ed25519) keys from the same seed.
fn dev_validator(sr: Sr25519Keyring, ed: Ed25519Keyring) -> GenesisValidator {
	GenesisValidator {
		account: sr.to_account_id(),
		aura: sr.public().into(),
		grandpa: ed.public().into(),
	}
}

/// The four validators of the local and staging presets.
fn four_dev_validators() -> Vec<GenesisValidator> {
	vec![
		dev_validator(Sr25519Keyring::Alice, Ed25519Keyring::Alice),
		dev_validator(Sr25519Keyring::Bob, Ed25519Keyring::Bob),
		dev_validator(Sr25519Keyring::Charlie, Ed25519Keyring::Charlie),
		dev_validator(Sr25519Keyring::Dave, Ed25519Keyring::Dave),
	]
}

/// What the treasury holds at genesis: enough that its account exists and can take any share
/// of fees.
pub const TREASURY_GENESIS_BALANCE: crate::Balance = OVPP;

/// The telemetry pallet's times a preset fixes.
pub struct TelemetryTimes {
	pub min_interval_length_s: u32,
	pub epoch_length_s: u64,
	pub epoch_close_grace_s: u64,
}

/// Development and local chains: reports every few seconds, rewards every few minutes.
pub const DEV_TELEMETRY: TelemetryTimes = TelemetryTimes {
	min_interval_length_s: DEV_MIN_INTERVAL_LENGTH_S,
	epoch_length_s: DEV_EPOCH_LENGTH_S,
	epoch_close_grace_s: DEV_EPOCH_CLOSE_GRACE_S,
};

/// A real network.
pub const STAGING_TELEMETRY: TelemetryTimes = TelemetryTimes {
	min_interval_length_s: STAGING_MIN_INTERVAL_LENGTH_S,
	epoch_length_s: STAGING_EPOCH_LENGTH_S,
	epoch_close_grace_s: crate::configs::EPOCH_CLOSE_GRACE_S,
};

/// The genesis state shared by every preset.
fn genesis(
	validators: Vec<GenesisValidator>,
	endowed_accounts: Vec<AccountId>,
	sudo_key: Option<AccountId>,
	verifiers: Vec<AccountId>,
	devices: Vec<pallet_device_registry::GenesisDevice<AccountId>>,
	telemetry: TelemetryTimes,
	timing: Timing,
) -> Value {
	let treasury = crate::governance::TreasuryAccount::get();
	build_struct_json_patch!(RuntimeGenesisConfig {
		balances: BalancesConfig {
			balances: endowed_accounts
				.iter()
				.cloned()
				.map(|k| (k, DEV_ENDOWMENT))
				.chain(core::iter::once((treasury, TREASURY_GENESIS_BALANCE)))
				.collect::<Vec<_>>(),
		},
		validator_set: ValidatorSetConfig {
			validators: validators.iter().map(|v| v.account.clone()).collect::<Vec<_>>(),
		},
		// Aura and GRANDPA take their authorities from the session keys.
		session: SessionConfig {
			keys: validators
				.into_iter()
				.map(|v| {
					(v.account.clone(), v.account, SessionKeys { aura: v.aura, grandpa: v.grandpa })
				})
				.collect::<Vec<_>>(),
		},
		origins: OriginsConfig { timing },
		sudo: SudoConfig { key: sudo_key },
		device_registry: DeviceRegistryConfig { verifiers, devices },
		telemetry: TelemetryConfig {
			min_interval_length_s: Some(telemetry.min_interval_length_s),
			epoch_length_s: Some(telemetry.epoch_length_s),
			epoch_close_grace_s: Some(telemetry.epoch_close_grace_s),
		},
	})
}

/// All well-known development accounts (Alice … Ferdie and their `//stash` accounts).
fn dev_accounts() -> Vec<AccountId> {
	Sr25519Keyring::well_known().map(|k| k.to_account_id()).collect()
}

/// The `development` preset.
pub fn development_config_genesis() -> Value {
	genesis(
		vec![dev_validator(Sr25519Keyring::Alice, Ed25519Keyring::Alice)],
		dev_accounts(),
		Some(Sr25519Keyring::Alice.to_account_id()),
		vec![demo_fleet::DEMO_VERIFIER.to_account_id()],
		demo_fleet::genesis_devices(),
		DEV_TELEMETRY,
		Timing::Demonstration,
	)
}

/// The `local_testnet` preset: four validators, and the demo fleet so that a gateway can
/// report to the multi-validator network as it does to the development chain.
pub fn local_config_genesis() -> Value {
	genesis(
		four_dev_validators(),
		dev_accounts(),
		Some(Sr25519Keyring::Alice.to_account_id()),
		vec![demo_fleet::DEMO_VERIFIER.to_account_id()],
		demo_fleet::genesis_devices(),
		DEV_TELEMETRY,
		Timing::Demonstration,
	)
}

/// The `staging` preset: no sudo key.
pub fn staging_config_genesis() -> Value {
	genesis(
		four_dev_validators(),
		vec![
			Sr25519Keyring::Alice.to_account_id(),
			Sr25519Keyring::Bob.to_account_id(),
			Sr25519Keyring::Charlie.to_account_id(),
			Sr25519Keyring::Dave.to_account_id(),
		],
		None,
		// A real network names its first verifiers here (see docs/operator.md).
		Vec::new(),
		Vec::new(),
		STAGING_TELEMETRY,
		Timing::Production,
	)
}

/// Benchmark chains: readings every minute at most, and ten-minute scoring epochs, so that a
/// benchmark of a quarter hour crosses an epoch boundary.
pub const BENCH_TELEMETRY: TelemetryTimes = TelemetryTimes {
	min_interval_length_s: 60,
	epoch_length_s: 600,
	epoch_close_grace_s: DEV_EPOCH_CLOSE_GRACE_S,
};

/// A benchmark network's genesis before its fleet (which the node adds natively, see
/// [`crate::bench_fleet`]): the first `validators` of Alice, Bob, Charlie and Dave, the
/// development accounts, sudo and the demo fleet. Sessions last an hour, as on a real network:
/// the block a session changes in carries no transactions, and a development chain's one-minute
/// sessions would take every tenth block out of a throughput benchmark.
fn bench_config_genesis(validators: usize) -> Value {
	let mut all = four_dev_validators();
	all.truncate(validators.clamp(1, MAX_BENCH_VALIDATORS));
	genesis(
		all,
		dev_accounts(),
		Some(Sr25519Keyring::Alice.to_account_id()),
		vec![demo_fleet::DEMO_VERIFIER.to_account_id()],
		demo_fleet::genesis_devices(),
		BENCH_TELEMETRY,
		Timing::Production,
	)
}

/// The JSON patch of the named preset, if it exists.
pub fn get_preset(id: &PresetId) -> Option<Vec<u8>> {
	let patch = match id.as_ref() {
		sp_genesis_builder::DEV_RUNTIME_PRESET => development_config_genesis(),
		sp_genesis_builder::LOCAL_TESTNET_RUNTIME_PRESET => local_config_genesis(),
		STAGING_RUNTIME_PRESET => staging_config_genesis(),
		name => match bench_preset_validators(name) {
			Some(validators) => bench_config_genesis(validators),
			None => return None,
		},
	};
	// Serialising a `serde_json::Value` cannot fail.
	serde_json::to_vec(&patch).ok()
}

/// The names of all presets.
pub fn preset_names() -> Vec<PresetId> {
	vec![
		PresetId::from(sp_genesis_builder::DEV_RUNTIME_PRESET),
		PresetId::from(sp_genesis_builder::LOCAL_TESTNET_RUNTIME_PRESET),
		PresetId::from(STAGING_RUNTIME_PRESET),
	]
	.into_iter()
	.chain((1..=MAX_BENCH_VALIDATORS).map(|validators| PresetId::from(bench_preset(validators))))
	.collect()
}

/// Most validators a benchmark preset has (the development validators Alice … Dave).
pub const MAX_BENCH_VALIDATORS: usize = 4;

/// The name of the benchmark preset with `validators` validators: `bench-1` … `bench-4`.
pub fn bench_preset(validators: usize) -> String {
	format!("bench-{validators}")
}

fn bench_preset_validators(name: &str) -> Option<usize> {
	let validators: usize = name.strip_prefix("bench-")?.parse().ok()?;
	(1..=MAX_BENCH_VALIDATORS).contains(&validators).then_some(validators)
}
