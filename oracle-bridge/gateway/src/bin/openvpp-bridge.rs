//! `openvpp-bridge`: the OpenVPP gateway, and what its operator runs beside it.

use std::{path::PathBuf, time::Duration};

use anyhow::{bail, Context};
use clap::{Parser, Subcommand};
use openvpp_bridge::{audit, bridge, chain::Chain, config::BridgeConfig, keystore::Keystore, view};

#[derive(Debug, Parser)]
#[command(
	version,
	about = "Reads energy devices over MQTT and Modbus TCP / SunSpec and delivers their signed interval reports to the OpenVPP chain."
)]
struct Cli {
	#[command(subcommand)]
	command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
	/// Run the bridge.
	Run {
		/// The TOML configuration.
		#[arg(long, short)]
		config: PathBuf,
	},
	/// Validate a configuration and its keystore; with a reachable node, also check the
	/// devices' registration and keys.
	CheckConfig {
		#[arg(long, short)]
		config: PathBuf,
		/// Do not contact the node.
		#[arg(long)]
		offline: bool,
	},
	/// Print the chain's energy status map every few seconds.
	Watch {
		#[arg(long, default_value = "ws://127.0.0.1:9944")]
		url: String,
		#[arg(long, default_value_t = 5)]
		every_s: u64,
		/// Print once and exit.
		#[arg(long)]
		once: bool,
	},
	/// List the reports in finalized blocks from a block on, with their outcomes (JSON).
	Audit {
		#[arg(long, default_value = "ws://127.0.0.1:9944")]
		url: String,
		#[arg(long, default_value_t = 1)]
		from_block: u32,
		/// Also check that these devices' intervals landed exactly once, without gaps.
		#[arg(long, value_delimiter = ',')]
		check_devices: Vec<u32>,
	},
	/// Make a device key's proof of possession for registering the device (or rotating its key)
	/// under an owner account, e.g. to paste into polkadot.js Apps' `registerDevice`.
	KeyProof {
		#[arg(long, default_value = "ws://127.0.0.1:9944")]
		url: String,
		/// The owner account (SS58) that will submit the registration.
		#[arg(long)]
		owner: String,
		/// `sr25519`, `ed25519` or `ecdsa`.
		#[arg(long, default_value = "sr25519")]
		scheme: String,
		/// The device key's secret URI. Prefer --secret-file outside development.
		#[arg(long, conflicts_with = "secret_file")]
		secret: Option<String>,
		/// A file holding the device key's secret URI (mode 0600).
		#[arg(long)]
		secret_file: Option<PathBuf>,
		/// Make the proof for rotating the key of this device instead of registering.
		#[arg(long)]
		rotate: Option<u32>,
	},
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
	// Addresses print and parse in the chain's SS58 format.
	openvpp_bridge::chain::use_chain_ss58_format();
	openvpp_bridge::init_logging("info");
	match Cli::parse().command {
		Command::Run { config } => {
			let config = BridgeConfig::load(&config)?;
			let mut shutdown = openvpp_bridge::shutdown_on_signals();
			let Some(prepared) = bridge::prepare(config, &mut shutdown).await? else {
				return Ok(());
			};
			prepared.run(shutdown).await?;
			Ok(())
		}
		Command::CheckConfig { config, offline } => check_config(&config, offline).await,
		Command::Watch { url, every_s, once } => {
			let shutdown = openvpp_bridge::shutdown_on_signals();
			view::watch(&url, Duration::from_secs(every_s.max(1)), once, shutdown).await?;
			Ok(())
		}
		Command::Audit { url, from_block, check_devices } => {
			let chain =
				Chain::connect(&url).await.with_context(|| format!("cannot reach {url}"))?;
			let reports = audit::audit(&chain, from_block).await?;
			println!("{}", serde_json::to_string_pretty(&reports)?);
			if !check_devices.is_empty() {
				let problems = audit::check_exactly_once(&reports, &check_devices);
				if !problems.is_empty() {
					bail!("delivery problems: {problems:?}");
				}
				eprintln!("every interval of devices {check_devices:?} is on chain exactly once");
			}
			Ok(())
		}
		Command::KeyProof { url, owner, scheme, secret, secret_file, rotate } => {
			key_proof(&url, &owner, &scheme, secret, secret_file, rotate).await
		}
	}
}

async fn check_config(path: &std::path::Path, offline: bool) -> anyhow::Result<()> {
	use openvpp_bridge::{chain::ss58, outbox::Outbox};

	let config = BridgeConfig::load(path)?;
	let keystore = Keystore::load(&config.storage.keystore)?;
	for device in &config.devices {
		if keystore.get(device.id).is_none() {
			bail!(
				"device {} ({}) has no key in {}",
				device.id,
				device.name,
				config.storage.keystore.display()
			);
		}
	}
	println!(
		"{}: {} devices, keystore with {} keys: OK",
		path.display(),
		config.devices.len(),
		keystore.len()
	);
	// The gateway key: parses, and its file (if any) is as private as the keystore.
	let gateway = bridge::gateway_key(&config)?;
	let gateway_account = openvpp_bridge::wire::extrinsic::account_of(&gateway);
	let source = match &config.chain.gateway_seed_file {
		Some(file) if config.chain.gateway_seed.is_none() => file.display().to_string(),
		_ => "gateway_seed in the configuration".to_string(),
	};
	println!("gateway account {} (from {source}): OK", ss58(&gateway_account));
	// The MQTT password and TLS files: readable, private enough, usable.
	if let Some(mqtt) = &config.mqtt {
		openvpp_bridge::sources::mqtt::MqttSecrets::load(mqtt)?;
		let credentials = if mqtt.username.is_some() { "with a password" } else { "anonymous" };
		let tls = if mqtt.tls.is_some() { "TLS" } else { "plain TCP" };
		println!("MQTT broker {}:{} ({credentials}, {tls}): OK", mqtt.host, mqtt.port);
	}
	let chain_tls = config
		.chain
		.ca_file
		.as_deref()
		.map(|ca_file| openvpp_bridge::tls::client_config(ca_file, None))
		.transpose()?;
	// The outbox, if there is one yet: whose chain it belongs to, and what it holds.
	let outbox = match Outbox::open_existing(&config.storage.outbox) {
		Ok(Some((outbox, genesis))) => {
			let (pending, rejected) = outbox.counts()?;
			println!(
				"outbox {}: chain {genesis:?}, {pending} reports pending, {rejected} rejected",
				config.storage.outbox.display()
			);
			Some(genesis)
		}
		Ok(None) => {
			println!("outbox {}: not created yet", config.storage.outbox.display());
			None
		}
		Err(openvpp_bridge::outbox::OutboxError::Database(redb::Error::DatabaseAlreadyOpen)) => {
			println!(
				"outbox {}: in use by a running bridge; not checked",
				config.storage.outbox.display()
			);
			None
		}
		Err(error) => return Err(error.into()),
	};
	if offline {
		return Ok(());
	}
	let chain =
		Chain::connect_with(&config.chain.url, chain_tls.as_ref()).await.with_context(|| {
			format!("cannot reach {} (use --offline to skip the chain checks)", config.chain.url)
		})?;
	chain.check_compatible(openvpp_bridge::compat::GATEWAY).await?;
	bridge::check_interval(&config, &chain).await?;
	if let Some(genesis) = outbox.filter(|g| *g != chain.genesis) {
		bail!(openvpp_bridge::outbox::OutboxError::WrongChain {
			stored: genesis,
			expected: chain.genesis
		});
	}
	for device in &config.devices {
		let record = bridge::check_device(device, &keystore, &chain, &gateway_account).await?;
		println!(
			"  device {} ({}): {:?}, {:?} in {}, key and gateway match",
			device.id,
			device.name,
			record.status,
			record.kind,
			String::from_utf8_lossy(&record.region)
		);
	}
	println!(
		"chain at {}: runtime versions and interval length accepted, every device registered with its key and bound to this gateway",
		config.chain.url
	);
	Ok(())
}

async fn key_proof(
	url: &str,
	owner: &str,
	scheme: &str,
	secret: Option<String>,
	secret_file: Option<PathBuf>,
	rotate: Option<u32>,
) -> anyhow::Result<()> {
	use codec::Encode;
	use openvpp_bridge::keystore::{read_secret_file, DeviceKey};
	use openvpp_primitives::{KeyOwnershipProof, KeyProofPurpose};
	use sp_core::crypto::{AccountId32, Ss58Codec};

	let secret = match (secret, secret_file) {
		(Some(secret), _) => secret,
		(None, Some(file)) => read_secret_file(&file)?,
		(None, None) => bail!("give --secret or --secret-file"),
	};
	let key = DeviceKey::from_secret(scheme, &secret).with_context(|| {
		format!("not a valid {scheme} secret (schemes: sr25519, ed25519, ecdsa)")
	})?;
	let owner = AccountId32::from_ss58check(owner)
		.map_err(|e| anyhow::anyhow!("--owner is not an SS58 address: {e:?}"))?;
	let chain = Chain::connect(url).await.with_context(|| format!("cannot reach {url}"))?;
	let nonce = chain.registration_nonce(&owner).await?;
	let purpose = match rotate {
		Some(device) => KeyProofPurpose::Rotate(device),
		None => KeyProofPurpose::Register,
	};
	let payload = KeyOwnershipProof::new(purpose, chain.genesis, owner, nonce).encode();
	let (key_hex, proof_hex) = match (key.public(), key.sign(&payload)) {
		(
			openvpp_primitives::AttestationKey::Sr25519(k),
			openvpp_primitives::AttestationSignature::Sr25519(s),
		) => (hex::encode(k), hex::encode(s)),
		(
			openvpp_primitives::AttestationKey::Ed25519(k),
			openvpp_primitives::AttestationSignature::Ed25519(s),
		) => (hex::encode(k), hex::encode(s)),
		(
			openvpp_primitives::AttestationKey::Ecdsa(k),
			openvpp_primitives::AttestationSignature::Ecdsa(s),
		) => (hex::encode(k), hex::encode(s)),
		_ => bail!("key and signature schemes differ"),
	};
	println!("scheme:          {scheme} (choose this variant for both fields)");
	println!("attestation_key: 0x{key_hex}");
	println!("proof:           0x{proof_hex}");
	println!("purpose:         {purpose:?}, owner nonce {nonce}, genesis {:?}", chain.genesis);
	Ok(())
}
