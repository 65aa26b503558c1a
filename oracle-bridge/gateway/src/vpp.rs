//! The node's `vpp_*` read model, typed: the views of [`openvpp_runtime_api`] as the node's
//! JSON-RPC returns them. The live view (`watch`) reads the chain through these instead of
//! decoding storage.

use jsonrpsee::rpc_params;
use openvpp_runtime_api::{
	DrEventDetail, DrEventPage, EpochResultPage, NetworkTotals, RegionKindStatusView, RewardsStatus,
};
use serde::{Deserialize, Deserializer};
use sp_core::{
	crypto::{AccountId32, Ss58Codec},
	H256,
};

use crate::chain::{Chain, ChainError};

/// An account as the node's JSON writes it: an SS58 address with the chain's prefix. Parsed
/// whatever the process's default address format (`AccountId32`'s own parser accepts a custom
/// prefix only when it is the process-wide default, which a library cannot assume).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AccountId(pub AccountId32);

impl<'de> Deserialize<'de> for AccountId {
	fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
		let text = String::deserialize(deserializer)?;
		AccountId32::from_ss58check_with_version(&text)
			.map(|(account, _)| AccountId(account))
			.map_err(|error| {
				serde::de::Error::custom(format!("'{text}' is not an SS58 address: {error}"))
			})
	}
}

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

#[cfg(test)]
mod tests {
	use super::*;

	#[test]
	fn accounts_parse_in_the_chains_format_whatever_the_process_default() {
		let alice = sp_keyring::Sr25519Keyring::Alice.to_account_id();
		let address = crate::chain::ss58(&alice);
		let parsed: AccountId = serde_json::from_value(serde_json::json!(address)).unwrap();
		assert_eq!(parsed.0, alice);
		let error = serde_json::from_value::<AccountId>(serde_json::json!("bQnot")).unwrap_err();
		assert!(error.to_string().contains("is not an SS58 address"), "{error}");
	}
}
