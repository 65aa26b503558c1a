//! The baseline: a saturated flood of balance transfers.
//!
//! A node's transaction pool validates every transfer on its own (signature, nonce, fee), so a
//! client that waits for each submission measures its own round trips, not the node. This flood
//! is pre-signed from many funded senders — the spec funds them at genesis — and submitted over
//! several WebSocket connections with many requests in flight on each, so that the pool and the
//! block builder, not the client, set the pace. Each sender's transfers go over one connection in
//! nonce order.

use openvpp_bridge::chain::{Chain, ChainError};
use openvpp_runtime::{
	bench_fleet::bench_sender_key, extrinsic, BalancesCall, RuntimeCall, RuntimeEvent,
	UncheckedExtrinsic, OVPP,
};
use sp_core::crypto::AccountId32;
use sp_keyring::Sr25519Keyring;

use crate::{declared_share, measure_flood, paced, PhaseResult};

/// What each benchmark transfer moves.
pub const TRANSFER_VALUE: u128 = OVPP / 100;

/// The account every benchmark transfer pays: a development account, endowed at genesis, so
/// that no transfer creates an account.
pub fn transfer_destination() -> AccountId32 {
	Sr25519Keyring::Eve.to_account_id()
}

/// How a flood is submitted.
#[derive(Debug, Clone, Copy)]
pub struct FloodShape {
	/// Funded senders the transfers are spread over (at most the fleet's).
	pub senders: u32,
	/// WebSocket connections to the node.
	pub connections: u32,
	/// Submissions in flight on each connection.
	pub in_flight: u32,
	/// Items a second at most (0: as fast as the nodes take them). A burst far beyond what
	/// blocks take only piles up in the pools, and every node gossips what it receives to its
	/// peers: thousands at once overflow a peer's notification channel and cost the connection.
	pub per_second: u32,
}

/// `count` transfers from `shape.senders` senders, submitted as `shape` says, counted in
/// finalized blocks.
pub async fn transfer_flood(
	urls: &[String],
	chain: &Chain,
	count: u32,
	shape: FloodShape,
	node_pids: &[u32],
) -> Result<PhaseResult, ChainError> {
	let senders = shape.senders.clamp(1, count.max(1));
	let connections = shape.connections.clamp(1, senders);
	let dest = transfer_destination();
	tracing::info!(count, senders, "signing transfers");
	// Sender by sender, so that each one's nonces are consecutive in its connection's queue.
	let mut queues: Vec<Vec<UncheckedExtrinsic>> = vec![Vec::new(); connections as usize];
	for sender in 0..senders {
		let pair = bench_sender_key(sender);
		let first_nonce = chain.next_nonce(&extrinsic::account_of(&pair)).await?;
		let mine = count / senders + u32::from(sender < count % senders);
		for n in 0..mine {
			let call = RuntimeCall::Balances(BalancesCall::transfer_keep_alive {
				dest: dest.clone().into(),
				value: TRANSFER_VALUE,
			});
			let xt = extrinsic::sign(call, &pair, first_nonce + n, chain.genesis);
			queues[(sender % connections) as usize].push(xt);
		}
	}
	let to_dest = |_: u32, events: &[RuntimeEvent]| {
		events
			.iter()
			.filter(|e| matches!(e, RuntimeEvent::Balances(pallet_balances::Event::Transfer { to, .. }) if *to == dest))
			.count() as u64
	};
	let items = |accepted: u64| (accepted, accepted);
	let queues = paced(queues, f64::from(shape.per_second));
	let mut result =
		measure_flood("transfers", urls, chain, &queues, shape, node_pids, items, to_dest).await?;
	result.item_share = declared_share(&RuntimeCall::Balances(BalancesCall::transfer_keep_alive {
		dest: dest.into(),
		value: TRANSFER_VALUE,
	}));
	Ok(result)
}
