//! Chain specifications: `dev` (one validator), `local` (three validators on one machine) and
//! `staging` (no sudo key; the template for a real network).

use openvpp_runtime::{
	genesis_config_presets::STAGING_RUNTIME_PRESET, SS58_PREFIX, TOKEN_DECIMALS, TOKEN_SYMBOL,
	WASM_BINARY,
};
use sc_service::{ChainType, Properties};

/// The chain spec type of OpenVPP: no chain-spec extensions.
pub type ChainSpec = sc_service::GenericChainSpec;

/// Token and address properties wallets such as polkadot.js read from `system_properties`.
pub fn properties() -> Properties {
	let mut properties = Properties::new();
	properties.insert("tokenSymbol".into(), TOKEN_SYMBOL.into());
	properties.insert("tokenDecimals".into(), TOKEN_DECIMALS.into());
	properties.insert("ss58Format".into(), SS58_PREFIX.into());
	properties
}

pub(crate) fn wasm_binary() -> Result<&'static [u8], String> {
	WASM_BINARY.ok_or_else(|| {
		"The runtime wasm is not available: this node was built with SKIP_WASM_BUILD set. \
		 Rebuild without it."
			.to_string()
	})
}

fn spec(name: &str, id: &str, chain_type: ChainType, preset: &str) -> Result<ChainSpec, String> {
	Ok(ChainSpec::builder(wasm_binary()?, None)
		.with_name(name)
		.with_id(id)
		.with_protocol_id("openvpp")
		.with_chain_type(chain_type)
		.with_genesis_config_preset_name(preset)
		.with_properties(properties())
		.build())
}

/// One validator (Alice) and sudo; used by `--dev`.
pub fn development_chain_spec() -> Result<ChainSpec, String> {
	spec(
		"OpenVPP Development",
		"openvpp_dev",
		ChainType::Development,
		sp_genesis_builder::DEV_RUNTIME_PRESET,
	)
}

/// Four validators (Alice, Bob, Charlie, Dave) and sudo, for a network on one machine.
pub fn local_chain_spec() -> Result<ChainSpec, String> {
	spec(
		"OpenVPP Local Testnet",
		"openvpp_local",
		ChainType::Local,
		sp_genesis_builder::LOCAL_TESTNET_RUNTIME_PRESET,
	)
}

/// Four validators, no sudo key and governance with production timings: the starting point
/// for a real network's chain spec.
pub fn staging_chain_spec() -> Result<ChainSpec, String> {
	spec("OpenVPP Staging", "openvpp_staging", ChainType::Live, STAGING_RUNTIME_PRESET)
}
