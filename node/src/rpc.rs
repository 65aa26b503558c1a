//! The node's JSON-RPC: the standard Substrate set (added by `sc-service`) merged with
//! `system_accountNextIndex`, `system_dryRun`, the transaction-payment methods and OpenVPP's
//! `vpp_*` read model ([`vpp`]).

pub mod vpp;

use std::sync::Arc;

use jsonrpsee::RpcModule;
use openvpp_runtime::{opaque::Block, AccountId, Balance, Nonce};
use sc_transaction_pool_api::TransactionPool;
use sp_api::ProvideRuntimeApi;
use sp_block_builder::BlockBuilder;
use sp_blockchain::{Error as BlockChainError, HeaderBackend, HeaderMetadata};

/// What the RPC handlers need from the node.
pub struct FullDeps<C, P> {
	/// The client: chain state and runtime API access.
	pub client: Arc<C>,
	/// The transaction pool, for nonces that count pending transactions.
	pub pool: Arc<P>,
}

/// Builds the RPC module with every method the node serves besides the standard set.
pub fn create_full<C, P>(
	deps: FullDeps<C, P>,
) -> Result<RpcModule<()>, Box<dyn std::error::Error + Send + Sync>>
where
	C: ProvideRuntimeApi<Block>
		+ HeaderBackend<Block>
		+ HeaderMetadata<Block, Error = BlockChainError>
		+ Send
		+ Sync
		+ 'static,
	C::Api: substrate_frame_rpc_system::AccountNonceApi<Block, AccountId, Nonce>,
	C::Api: pallet_transaction_payment_rpc::TransactionPaymentRuntimeApi<Block, Balance>,
	C::Api: BlockBuilder<Block>,
	C::Api: openvpp_runtime_api::VppApi<Block, AccountId>,
	P: TransactionPool + 'static,
{
	use pallet_transaction_payment_rpc::{TransactionPayment, TransactionPaymentApiServer};
	use substrate_frame_rpc_system::{System, SystemApiServer};

	let mut module = RpcModule::new(());
	let FullDeps { client, pool } = deps;

	module.merge(System::new(client.clone(), pool).into_rpc())?;
	module.merge(TransactionPayment::new(client.clone()).into_rpc())?;
	module.merge(vpp::VppApiServer::into_rpc(vpp::Vpp::new(client)))?;

	Ok(module)
}
