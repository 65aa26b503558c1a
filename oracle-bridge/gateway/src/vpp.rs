//! The node's `vpp_*` read model, typed: the views of [`openvpp_runtime_api`] as the node's
//! JSON-RPC returns them. The live view (`watch`) reads the chain through these instead of
//! decoding storage.

use jsonrpsee::rpc_params;
use openvpp_runtime_api::{
	DrEventDetail, DrEventPage, EpochResultPage, NetworkTotals, RegionKindStatusView, RewardsStatus,
};
use sp_core::H256;

use crate::{
	chain::{Chain, ChainError},
	wire::storage::AccountId,
};

impl Chain {
	/// `vpp_energyStatus`: the energy status map per region and kind.
	pub async fn vpp_energy_status(
		&self,
		at: H256,
	) -> Result<Vec<RegionKindStatusView>, ChainError> {
		self.request("vpp_energyStatus", rpc_params![at]).await
	}

	/// `vpp_networkTotals`.
	pub async fn vpp_network_totals(&self, at: H256) -> Result<NetworkTotals, ChainError> {
		self.request("vpp_networkTotals", rpc_params![at]).await
	}

	/// `vpp_drEvents`: the newest `limit` events.
	pub async fn vpp_latest_dr_events(
		&self,
		limit: u32,
		at: H256,
	) -> Result<DrEventPage<AccountId>, ChainError> {
		let none: Option<String> = None;
		self.request("vpp_drEvents", rpc_params![none.clone(), none, None::<u32>, limit, at]).await
	}

	/// `vpp_drEvent`: an event and its first `limit` participants.
	pub async fn vpp_dr_event(
		&self,
		id: u32,
		limit: u32,
		at: H256,
	) -> Result<DrEventDetail<AccountId>, ChainError> {
		self.request("vpp_drEvent", rpc_params![id, None::<u32>, limit, at]).await
	}

	/// `vpp_rewardsStatus`.
	pub async fn vpp_rewards_status(&self, at: H256) -> Result<RewardsStatus, ChainError> {
		self.request("vpp_rewardsStatus", rpc_params![at]).await
	}

	/// `vpp_epochResults`: one page of an epoch's results.
	pub async fn vpp_epoch_results(
		&self,
		epoch: u64,
		after: Option<u32>,
		at: H256,
	) -> Result<EpochResultPage<AccountId>, ChainError> {
		let limit = openvpp_runtime_api::MAX_PAGE_SIZE;
		self.request("vpp_epochResults", rpc_params![epoch, after, limit, at]).await
	}
}
