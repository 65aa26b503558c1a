//! Benchmark chains: `--chain bench:<devices>[:<validators>[:<gateways>[:<senders>]]]`.
//!
//! The genesis of the benchmark preset (one to four of the development validators, the demo
//! fleet, one-minute readings, ten-minute scoring epochs), plus the benchmark fleet of
//! `openvpp_runtime::bench_fleet`: `devices` devices of mixed kinds, each active, its deposit
//! held from its household's owner, bound to one of `gateways` gateways (20 by default), and
//! `senders` funded accounts for transfer floods (4 000 by default).
//!
//! The fleet is added natively, after the runtime has built the preset: the runtime reads a
//! genesis JSON in one allocation of at most 32 MiB (about 65 000 devices), while here the
//! size is bounded by memory only — half a million devices take about a minute and a few GB.
//! Every node started with the same `bench:` id builds the same state, so several validators
//! share the genesis without a chain spec file. The fleet's shape is in the chain's properties
//! (`benchFleet`), where `openvpp-bench` reads it.
//!
//! The state is built when the node asks for it (to write or check its genesis block) and not
//! kept: [`BenchChainSpec`] holds the preset and the fleet's shape, not the state. A chain spec
//! that held the built state would keep a copy for as long as the node's configuration lives,
//! and hand the node a second one when it builds its genesis block.

use frame_support::traits::{fungible::Mutate, BuildGenesisConfig};
use openvpp_runtime::{
	bench_fleet::{self, BenchFleet, DEVICES_PER_OWNER},
	extrinsic::account_of,
	genesis_config_presets::{bench_preset, MAX_BENCH_VALIDATORS},
	Balances, DeviceRegistryConfig, OVPP,
};
use sc_service::ChainType;
use sp_runtime::BuildStorage;

use crate::chain_spec::{self, ChainSpec};

/// Gateways of a benchmark fleet unless the id says otherwise.
const DEFAULT_GATEWAYS: u32 = 20;
/// Transfer senders unless the id says otherwise.
const DEFAULT_SENDERS: u32 = 4_000;
/// What each gateway and sender holds: ample for fees.
const ACCOUNT_ENDOWMENT: u128 = 1_000 * OVPP;
/// Validators unless the id says otherwise.
const DEFAULT_VALIDATORS: usize = 1;

/// Parses `bench:<devices>[:<validators>[:<gateways>[:<senders>]]]`; `None` for another id.
pub fn parse(id: &str) -> Option<Result<(BenchFleet, usize), String>> {
	let rest = id.strip_prefix("bench:")?;
	let parts: Vec<&str> = rest.split(':').collect();
	let number = |index: usize, what: &str, default: u32| -> Result<u32, String> {
		match parts.get(index) {
			None => Ok(default),
			Some(text) => text
				.parse()
				.map_err(|_| format!("`{id}`: the {what} must be a number, not `{text}`")),
		}
	};
	Some((|| {
		if parts.len() > 4 {
			return Err(format!(
				"`{id}`: expected bench:<devices>[:<validators>[:<gateways>[:<senders>]]]"
			));
		}
		let devices = number(0, "number of devices", 0)?;
		let validators = number(1, "number of validators", DEFAULT_VALIDATORS as u32)?;
		if !(1..=MAX_BENCH_VALIDATORS as u32).contains(&validators) {
			return Err(format!(
				"`{id}`: a benchmark chain has 1 to {MAX_BENCH_VALIDATORS} validators"
			));
		}
		let gateways = number(2, "number of gateways", DEFAULT_GATEWAYS)?.max(1);
		let senders = number(3, "number of senders", DEFAULT_SENDERS)?;
		Ok((BenchFleet { devices, gateways, senders }, validators as usize))
	})())
}

/// The chain spec of a benchmark chain: the runtime's preset, plus the fleet added to the state
/// each time the state is built (see the module docs).
#[derive(Clone)]
pub struct BenchChainSpec {
	/// The preset, not built.
	preset: ChainSpec,
	/// The fleet to add; `None` once a built state was set (`set_storage`), which has it.
	fleet: Option<BenchFleet>,
}

/// The benchmark chain spec of `fleet` with `validators` validators.
pub fn bench_chain_spec(fleet: BenchFleet, validators: usize) -> Result<BenchChainSpec, String> {
	let mut properties = chain_spec::properties();
	properties.insert(BenchFleet::PROPERTY.into(), fleet.to_property(validators));
	let preset = ChainSpec::builder(chain_spec::wasm_binary()?, None)
		.with_name("OpenVPP Benchmark")
		.with_id("openvpp_bench")
		.with_protocol_id("openvpp-bench")
		.with_chain_type(ChainType::Local)
		// Built by the runtime, which prints addresses in the generic format its genesis reads.
		.with_genesis_config_preset_name(&bench_preset(validators))
		.with_properties(properties)
		.build();
	Ok(BenchChainSpec { preset, fleet: Some(fleet) })
}

impl BuildStorage for BenchChainSpec {
	fn assimilate_storage(&self, storage: &mut sp_runtime::Storage) -> Result<(), String> {
		let started = std::time::Instant::now();
		self.preset.assimilate_storage(storage)?;
		let Some(fleet) = &self.fleet else { return Ok(()) };
		add_fleet(storage, fleet)?;
		log::info!(
			"benchmark genesis: {} devices, {} gateways, {} senders built in {:.1} s",
			fleet.devices,
			fleet.gateways,
			fleet.senders,
			started.elapsed().as_secs_f64()
		);
		Ok(())
	}
}

impl sc_service::ChainSpec for BenchChainSpec {
	fn name(&self) -> &str {
		self.preset.name()
	}
	fn id(&self) -> &str {
		self.preset.id()
	}
	fn chain_type(&self) -> ChainType {
		self.preset.chain_type()
	}
	fn boot_nodes(&self) -> &[sc_network::config::MultiaddrWithPeerId] {
		self.preset.boot_nodes()
	}
	fn telemetry_endpoints(&self) -> &Option<sc_telemetry::TelemetryEndpoints> {
		self.preset.telemetry_endpoints()
	}
	fn protocol_id(&self) -> Option<&str> {
		self.preset.protocol_id()
	}
	fn fork_id(&self) -> Option<&str> {
		self.preset.fork_id()
	}
	fn properties(&self) -> sc_service::Properties {
		self.preset.properties()
	}
	fn extensions(&self) -> &dyn sc_chain_spec::GetExtension {
		sc_service::ChainSpec::extensions(&self.preset)
	}
	fn extensions_mut(&mut self) -> &mut dyn sc_chain_spec::GetExtension {
		sc_service::ChainSpec::extensions_mut(&mut self.preset)
	}
	fn add_boot_node(&mut self, addr: sc_network::config::MultiaddrWithPeerId) {
		self.preset.add_boot_node(addr)
	}
	/// The raw form holds the built state, fleet included (`build-spec --raw`); the plain form
	/// is the preset's, which the fleet is not part of.
	fn as_json(&self, raw: bool) -> Result<String, String> {
		if !raw || self.fleet.is_none() {
			return self.preset.as_json(raw);
		}
		let mut built = self.preset.clone();
		sc_service::ChainSpec::set_storage(&mut built, self.build_storage()?);
		built.as_json(true)
	}
	fn as_storage_builder(&self) -> &dyn BuildStorage {
		self
	}
	fn cloned_box(&self) -> Box<dyn sc_service::ChainSpec> {
		Box::new(self.clone())
	}
	fn set_storage(&mut self, storage: sp_runtime::Storage) {
		sc_service::ChainSpec::set_storage(&mut self.preset, storage);
		self.fleet = None;
	}
	fn code_substitutes(&self) -> std::collections::BTreeMap<String, Vec<u8>> {
		sc_service::ChainSpec::code_substitutes(&self.preset)
	}
}

/// Adds the fleet to a built genesis state: funds, then devices through the registry's own
/// genesis path (every index, counter and held deposit as for a genesis device).
fn add_fleet(storage: &mut sp_runtime::Storage, fleet: &BenchFleet) -> Result<(), String> {
	let devices = bench_fleet::genesis_devices(fleet);
	sp_state_machine::BasicExternalities::execute_with_storage(storage, || {
		let deposit = openvpp_runtime::configs::DeviceDeposit::get();
		let households = fleet.devices.div_ceil(DEVICES_PER_OWNER);
		for household in 0..households {
			let owner = bench_fleet::bench_owner(household * DEVICES_PER_OWNER);
			// Every device's deposit, and the account's own existence.
			let amount = deposit.saturating_mul(DEVICES_PER_OWNER.into()).saturating_add(OVPP);
			Balances::mint_into(&owner, amount)
				.map_err(|e| format!("cannot fund a benchmark owner: {e:?}"))?;
		}
		let accounts = (0..fleet.gateways)
			.map(|g| account_of(&bench_fleet::bench_gateway_key(g)))
			.chain((0..fleet.senders).map(|s| account_of(&bench_fleet::bench_sender_key(s))));
		for account in accounts {
			Balances::mint_into(&account, ACCOUNT_ENDOWMENT)
				.map_err(|e| format!("cannot fund a benchmark account: {e:?}"))?;
		}
		DeviceRegistryConfig { verifiers: Vec::new(), devices }.build();
		Ok(())
	})
}

#[cfg(test)]
mod tests {
	use super::*;
	use sc_service::ChainSpec as _;

	#[test]
	fn ids_parse_with_defaults_and_errors_say_why() {
		assert!(parse("dev").is_none());
		let (fleet, validators) = parse("bench:1000").unwrap().unwrap();
		assert_eq!(fleet, BenchFleet { devices: 1_000, gateways: 20, senders: 4_000 });
		assert_eq!(validators, 1);
		let (fleet, validators) = parse("bench:500000:3:25:100").unwrap().unwrap();
		assert_eq!(fleet, BenchFleet { devices: 500_000, gateways: 25, senders: 100 });
		assert_eq!(validators, 3);
		assert!(parse("bench:many").unwrap().unwrap_err().contains("must be a number"));
		assert!(parse("bench:10:5").unwrap().unwrap_err().contains("1 to 4 validators"));
		assert!(parse("bench:1:1:1:1:1").unwrap().unwrap_err().contains("expected bench:"));
	}

	#[test]
	fn the_genesis_holds_the_fleet_with_its_deposits() {
		let fleet = BenchFleet { devices: 45, gateways: 4, senders: 3 };
		let spec = bench_chain_spec(fleet, 3).unwrap();
		let storage = spec.build_storage().unwrap();
		sp_io::TestExternalities::new(storage).execute_with(|| {
			use openvpp_runtime::{bench_fleet::FIRST_BENCH_DEVICE, Runtime};
			let next = pallet_device_registry::NextDeviceId::<Runtime>::get();
			assert_eq!(next, FIRST_BENCH_DEVICE + 45);
			let last = pallet_device_registry::Devices::<Runtime>::get(next - 1).unwrap();
			assert_eq!(last.kind, bench_fleet::bench_kind(44));
			assert_eq!(last.gateway, bench_fleet::bench_gateway_of(44, 4));
			pallet_device_registry::Pallet::<Runtime>::do_try_state().unwrap();
			let sender = account_of(&bench_fleet::bench_sender_key(2));
			assert_eq!(pallet_balances::Pallet::<Runtime>::free_balance(sender), ACCOUNT_ENDOWMENT);
		});
		assert_eq!(spec.properties()["benchFleet"]["gateways"], 4);
	}

	/// Every build gives the same state (every validator starts from the same genesis), the raw
	/// JSON form holds it, fleet included, and a state set from outside is used as it is.
	#[test]
	fn the_state_is_built_on_demand_the_same_each_time() {
		let fleet = BenchFleet { devices: 30, gateways: 3, senders: 2 };
		let spec = bench_chain_spec(fleet, 1).unwrap();
		let first = spec.build_storage().unwrap();
		let again = spec.cloned_box().as_storage_builder().build_storage().unwrap();
		assert_eq!(again.top, first.top);
		assert!(first.top.len() > 30 && first.children_default.is_empty());

		let raw: serde_json::Value = serde_json::from_str(&spec.as_json(true).unwrap()).unwrap();
		let top = raw["genesis"]["raw"]["top"].as_object().unwrap();
		assert_eq!(top.len(), first.top.len());
		let plain = spec.as_json(false).unwrap();
		assert!(plain.contains("runtimeGenesis") && !plain.contains("\"raw\""));

		let mut set = spec.clone();
		let mut smaller = first.clone();
		smaller.top.retain(|key, _| key.len() <= 32);
		sc_service::ChainSpec::set_storage(&mut set, smaller.clone());
		assert_eq!(set.build_storage().unwrap().top, smaller.top);
	}

	/// The batches `benchmark extrinsic` prices are what it says: every reading accepted as
	/// plausible, none flagged or rejected, from each gateway in turn.
	#[test]
	fn benchmark_batches_are_accepted_in_full() {
		use openvpp_runtime::{Executive, RuntimeEvent, System};
		use sp_runtime::traits::Header as _;
		let fleet = BenchFleet { devices: 1_000, gateways: 2, senders: 0 };
		let storage = bench_chain_spec(fleet, 1).unwrap().build_storage().unwrap();
		sp_io::TestExternalities::new(storage).execute_with(|| {
			let now_s: u64 = 1_772_452_800;
			// Aura checks the timestamp against the slot a block author puts in the header.
			let slot =
				sp_consensus_aura::Slot::from(now_s * 1_000 / openvpp_runtime::SLOT_DURATION);
			let digest = sp_runtime::Digest {
				logs: vec![sp_runtime::DigestItem::PreRuntime(
					sp_consensus_aura::AURA_ENGINE_ID,
					codec::Encode::encode(&slot),
				)],
			};
			let header = openvpp_runtime::Header::new(
				1,
				Default::default(),
				Default::default(),
				System::parent_hash(),
				digest,
			);
			Executive::initialize_block(&header);
			openvpp_runtime::Timestamp::set_timestamp(now_s * 1_000);
			Executive::inherents_applied();
			let genesis = System::block_hash(0);
			for n in 0..2 {
				let xt = bench_fleet::bench_batch(&fleet, genesis, now_s - 60, 60, n).unwrap();
				Executive::apply_extrinsic(xt).unwrap().unwrap();
			}
			assert!(bench_fleet::bench_batch(&fleet, genesis, now_s - 60, 60, 2).is_none());
			let batches: Vec<(u32, u32, u32)> = System::events()
				.into_iter()
				.filter_map(|record| match record.event {
					RuntimeEvent::Telemetry(pallet_telemetry::Event::BatchProcessed {
						accepted,
						flagged,
						rejected,
						..
					}) => Some((accepted, flagged, rejected)),
					_ => None,
				})
				.collect();
			assert_eq!(batches, vec![(500, 0, 0), (500, 0, 0)]);
		});
	}
}
