//! End to end: the `local` chain spec as four validator processes (Alice, Bob, Charlie, Dave)
//! on 127.0.0.1.
//!
//! GRANDPA finalizes a block once votes of more than two thirds of the authority weight agree:
//! with `n` equal voters it needs `n - ⌊(n - 1) / 3⌋` of them, so four validators need three
//! and tolerate one absent voter. The test checks exactly that: with all four up finality
//! advances; with Dave stopped it keeps advancing on three; with Charlie stopped as well (two of
//! four) blocks are still produced but finality waits; once both are back, finality catches up
//! past every block produced during the outage.

#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

mod common;

use std::{
	process::Command,
	time::{Duration, Instant},
};

use common::*;

/// Fixed libp2p keys: validators refuse to invent a network identity, and Alice's peer id must
/// be known for the others to name her node as their bootnode.
const ALICE_NODE_KEY: &str = "0000000000000000000000000000000000000000000000000000000000000001";
const BOB_NODE_KEY: &str = "0000000000000000000000000000000000000000000000000000000000000002";
const CHARLIE_NODE_KEY: &str = "0000000000000000000000000000000000000000000000000000000000000003";
const DAVE_NODE_KEY: &str = "0000000000000000000000000000000000000000000000000000000000000004";

/// The libp2p peer id of a node key, as the node itself derives it.
fn peer_id_of(node_key_hex: &str) -> String {
	let dir = tempfile::tempdir().expect("temporary directory");
	let key_file = dir.path().join("node-key");
	std::fs::write(&key_file, node_key_hex).expect("write node key");
	let output = Command::new(NODE_BINARY)
		.args(["key", "inspect-node-key", "--file"])
		.arg(&key_file)
		.output()
		.expect("run key inspect-node-key");
	assert!(output.status.success(), "inspect-node-key failed: {output:?}");
	String::from_utf8(output.stdout).expect("utf-8 peer id").trim().to_string()
}

fn start_validator(
	name: &str,
	keyring_flag: &str,
	base_path: &std::path::Path,
	bootnode: Option<&str>,
	node_key: &str,
) -> NodeProcess {
	let mut args = vec![keyring_flag.to_string(), "--validator".to_string()];
	if let Some(bootnode) = bootnode {
		args.push("--bootnodes".to_string());
		args.push(bootnode.to_string());
	}
	NodeProcess::start(NodeConfig {
		name,
		chain: Some("local"),
		args,
		base_path: Some(base_path),
		node_key: Some(node_key),
	})
}

#[tokio::test(flavor = "multi_thread")]
async fn four_validators_finalize_with_one_down_and_recover_from_two() {
	let dirs: Vec<tempfile::TempDir> =
		(0..4).map(|_| tempfile::tempdir().expect("temporary directory")).collect();

	let alice = start_validator("alice", "--alice", dirs[0].path(), None, ALICE_NODE_KEY);
	let bootnode =
		format!("/ip4/127.0.0.1/tcp/{}/p2p/{}", alice.p2p_port, peer_id_of(ALICE_NODE_KEY));
	let bob = start_validator("bob", "--bob", dirs[1].path(), Some(&bootnode), BOB_NODE_KEY);
	let charlie =
		start_validator("charlie", "--charlie", dirs[2].path(), Some(&bootnode), CHARLIE_NODE_KEY);
	let mut dave =
		start_validator("dave", "--dave", dirs[3].path(), Some(&bootnode), DAVE_NODE_KEY);

	let alice_rpc = wait_for_rpc(&alice, Duration::from_secs(120)).await;
	let bob_rpc = wait_for_rpc(&bob, Duration::from_secs(120)).await;
	let charlie_rpc = wait_for_rpc(&charlie, Duration::from_secs(120)).await;
	let dave_rpc = wait_for_rpc(&dave, Duration::from_secs(120)).await;

	// All four vote: finality advances and every node sees it.
	wait_for_finalized(&alice, &alice_rpc, 3, Duration::from_secs(180)).await;
	wait_for_finalized(&bob, &bob_rpc, 3, Duration::from_secs(60)).await;
	wait_for_finalized(&charlie, &charlie_rpc, 3, Duration::from_secs(60)).await;
	wait_for_finalized(&dave, &dave_rpc, 3, Duration::from_secs(60)).await;

	// Dave stops. Three of four is a supermajority: finality keeps following the chain.
	dave.kill();
	let best_at_stop = best_number(&alice_rpc).await;
	wait_for_finalized(&alice, &alice_rpc, best_at_stop + 4, Duration::from_secs(120)).await;

	// Charlie stops too. Alice and Bob keep authoring their slots, but two of four voters are
	// below the supermajority: nothing beyond what was already voted on becomes final.
	let mut charlie = charlie;
	charlie.kill();
	let before_stop = finalized_number(&alice_rpc).await;
	let best_at_stop = best_number(&alice_rpc).await;
	let deadline = Instant::now() + Duration::from_secs(120);
	while best_number(&alice_rpc).await < best_at_stop + 6 {
		assert!(Instant::now() < deadline, "block production stopped\n{}", alice.log_tail());
		tokio::time::sleep(Duration::from_millis(500)).await;
	}
	let finalized_during_outage = finalized_number(&alice_rpc).await;
	let best_during_outage = best_number(&alice_rpc).await;
	assert!(
		finalized_during_outage + 3 < best_during_outage,
		"finality kept up without a supermajority: finalized {finalized_during_outage}, best {best_during_outage}"
	);
	assert!(finalized_during_outage >= before_stop, "finality went backwards");

	// Charlie and Dave come back with their databases and keys; finality catches up.
	let charlie =
		start_validator("charlie", "--charlie", dirs[2].path(), Some(&bootnode), CHARLIE_NODE_KEY);
	let dave = start_validator("dave", "--dave", dirs[3].path(), Some(&bootnode), DAVE_NODE_KEY);
	let charlie_rpc = wait_for_rpc(&charlie, Duration::from_secs(120)).await;
	let dave_rpc = wait_for_rpc(&dave, Duration::from_secs(120)).await;
	let caught_up =
		wait_for_finalized(&alice, &alice_rpc, best_during_outage, Duration::from_secs(180)).await;
	wait_for_finalized(&bob, &bob_rpc, best_during_outage, Duration::from_secs(60)).await;
	wait_for_finalized(&charlie, &charlie_rpc, best_during_outage, Duration::from_secs(60)).await;
	wait_for_finalized(&dave, &dave_rpc, best_during_outage, Duration::from_secs(60)).await;
	assert!(caught_up >= best_during_outage);
}
