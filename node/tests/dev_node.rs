//! End to end: a real `openvpp-node --dev` process, driven over JSON-RPC.
//!
//! It checks block production and finality, the token properties wallets read, addresses in
//! OpenVPP's own SS58 format, fee information in OVPP, a balance transfer signed with `//Alice`
//! from the runtime's own types, the rejection of a forged signature, and a clean shutdown on
//! SIGINT. A second test checks the chain specs the node ships.

#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

mod common;

use std::time::Duration;

use codec::Encode;
use common::*;
use jsonrpsee::{
	core::client::{ClientT, SubscriptionClientT},
	rpc_params,
	ws_client::WsClientBuilder,
};
use openvpp_runtime::{extrinsic, AccountId, Balance, BalancesCall, RuntimeCall, Signature, OVPP};
use sp_core::{sr25519, Bytes, Pair, H256};
use sp_keyring::Sr25519Keyring;

#[tokio::test(flavor = "multi_thread")]
async fn dev_node_produces_finalizes_transfers_and_stops_cleanly() {
	let mut node = NodeProcess::dev("dev");
	let client = wait_for_rpc(&node, Duration::from_secs(120)).await;

	// Blocks are produced and GRANDPA finalizes them.
	wait_for_finalized(&node, &client, 3, Duration::from_secs(120)).await;

	// Wallets learn the token from the chain spec's properties.
	let properties: serde_json::Value =
		client.request("system_properties", rpc_params![]).await.expect("system_properties");
	assert_eq!(properties["tokenSymbol"], "OVPP");
	assert_eq!(properties["tokenDecimals"], 12);
	assert_eq!(properties["ss58Format"], openvpp_runtime::SS58_PREFIX);

	// A transfer from //Alice to a fresh account, nonce from system_accountNextIndex.
	let genesis = genesis_hash(&client).await;
	let alice = Sr25519Keyring::Alice.pair();
	let alice_account = Sr25519Keyring::Alice.to_account_id();
	let (recipient_pair, _) = sr25519::Pair::generate();
	let recipient: AccountId = extrinsic::account_of(&recipient_pair);
	let amount: Balance = 42 * OVPP;

	// Wallets send addresses in the chain's own format (prefix 8760); the node must take them.
	let alice_address = openvpp_address(&alice_account);
	assert_ne!(alice_address, alice_account.to_string(), "not the generic Substrate format");
	let nonce: u32 = client
		.request("system_accountNextIndex", rpc_params![alice_address.clone()])
		.await
		.expect("system_accountNextIndex takes an OpenVPP address");
	let call = RuntimeCall::Balances(BalancesCall::transfer_keep_alive {
		dest: recipient.clone().into(),
		value: amount,
	});
	let xt = extrinsic::sign(call.clone(), &alice, nonce, genesis);

	// The fee a wallet shows before signing, in planck of OVPP: the base fee of 0.001 OVPP plus
	// the transfer's weight and length.
	let info: serde_json::Value = client
		.request("payment_queryInfo", rpc_params![Bytes(xt.encode())])
		.await
		.expect("payment_queryInfo");
	let partial_fee: Balance = info["partialFee"]
		.as_str()
		.and_then(|fee| fee.parse().ok())
		.or_else(|| info["partialFee"].as_u64().map(Balance::from))
		.unwrap_or_else(|| panic!("partialFee in {info}"));
	assert!(
		partial_fee > openvpp_runtime::MILLI_OVPP && partial_fee < OVPP / 100,
		"a transfer costs {partial_fee} planck"
	);
	let alice_before = free_balance(&client, &alice_account, None).await;

	let ws = WsClientBuilder::default().build(node.ws_url()).await.expect("ws client");
	let mut statuses = ws
		.subscribe::<serde_json::Value, _>(
			"author_submitAndWatchExtrinsic",
			rpc_params![Bytes(xt.encode())],
			"author_unwatchExtrinsic",
		)
		.await
		.expect("submit the transfer");
	let finalized_in: H256 = tokio::time::timeout(Duration::from_secs(90), async {
		while let Some(status) = statuses.next().await {
			let status = status.expect("transaction status");
			if let Some(hash) = status.get("finalized") {
				return serde_json::from_value(hash.clone()).expect("block hash");
			}
			assert!(
				status.get("invalid").is_none()
					&& status.get("dropped").is_none()
					&& status.get("usurped").is_none(),
				"transfer failed: {status}"
			);
		}
		panic!("status subscription ended before finalization");
	})
	.await
	.unwrap_or_else(|_| panic!("transfer not finalized in time\n{}", node.log_tail()));

	assert_eq!(free_balance(&client, &recipient, Some(finalized_in)).await, amount);
	// Alice paid the amount and the fee the node quoted, in OVPP.
	let alice_after = free_balance(&client, &alice_account, Some(finalized_in)).await;
	assert_eq!(alice_before - alice_after, amount + partial_fee);
	let next_nonce: u32 = client
		.request("system_accountNextIndex", rpc_params![alice_address])
		.await
		.expect("system_accountNextIndex");
	assert_eq!(next_nonce, nonce + 1);

	// A transaction that claims to come from Alice but is signed by Bob is refused.
	let forged_payload = extrinsic::signing_payload(&call, next_nonce, 0, genesis);
	let forged_signature: Signature = Sr25519Keyring::Bob.pair().sign(&forged_payload).into();
	let forged = extrinsic::assemble(call, alice_account.clone(), forged_signature, next_nonce, 0);
	let rejected: Result<H256, _> =
		client.request("author_submitExtrinsic", rpc_params![Bytes(forged.encode())]).await;
	let error = rejected.expect_err("a forged signature must be rejected").to_string();
	assert!(error.contains("bad signature"), "unexpected rejection: {error}");

	// SIGINT shuts the node down cleanly.
	let status =
		node.interrupt_and_wait(Duration::from_secs(60)).expect("node exits within 60 s of SIGINT");
	assert!(status.success(), "node exited with {status}");
}

/// `account` in OpenVPP's SS58 format.
fn openvpp_address(account: &AccountId) -> String {
	use sp_core::crypto::{Ss58AddressFormat, Ss58Codec};
	account.to_ss58check_with_version(Ss58AddressFormat::custom(openvpp_runtime::SS58_PREFIX))
}

#[test]
fn the_chain_specs_carry_the_token_and_staging_has_no_sudo() {
	for chain in ["dev", "local", "staging"] {
		let output = std::process::Command::new(NODE_BINARY)
			.args(["build-spec", "--chain", chain])
			.output()
			.expect("run build-spec");
		assert!(output.status.success(), "{chain}: {}", String::from_utf8_lossy(&output.stderr));
		let spec: serde_json::Value = serde_json::from_slice(&output.stdout).expect("JSON spec");
		assert_eq!(spec["properties"]["tokenSymbol"], "OVPP", "{chain}");
		assert_eq!(spec["properties"]["tokenDecimals"], 12, "{chain}");
		assert_eq!(spec["properties"]["ss58Format"], openvpp_runtime::SS58_PREFIX, "{chain}");
		let patch = &spec["genesis"]["runtimeGenesis"]["patch"];
		// Aura and GRANDPA take their authorities from the genesis validators' session keys.
		let validators =
			patch["validatorSet"]["validators"].as_array().expect("genesis validators").len();
		let keys = patch["session"]["keys"].as_array().expect("session keys").len();
		assert_eq!(keys, validators, "{chain}: every genesis validator has session keys");
		let sudo = &patch["sudo"]["key"];
		let timing = &patch["origins"]["timing"];
		match chain {
			"dev" => {
				assert!(validators == 1 && sudo.is_string() && timing == "Demonstration", "{patch}")
			}
			"local" => {
				assert!(validators == 4 && sudo.is_string() && timing == "Demonstration", "{patch}")
			}
			_ => {
				assert_eq!(validators, 4);
				assert!(sudo.is_null(), "staging must have no sudo key: {sudo}");
				assert!(timing.is_null() || timing == "Production", "staging timing: {timing}");
				assert_eq!(spec["chainType"], "Live");
				assert_eq!(
					patch["telemetry"]["minIntervalLengthS"],
					openvpp_runtime::genesis_config_presets::STAGING_MIN_INTERVAL_LENGTH_S
				);
			}
		}
	}
}
