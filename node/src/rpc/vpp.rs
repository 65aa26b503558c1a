//! `vpp_*`: OpenVPP's JSON-RPC methods. Each asks the runtime through
//! [`openvpp_runtime_api::VppApi`] at the given block (the best block if none) and answers with
//! the API's views as JSON. Parameters are checked here first, so that a bad one gets a
//! JSON-RPC error that says what is wrong instead of a runtime call on nonsense.

use std::{marker::PhantomData, sync::Arc};

use jsonrpsee::{core::RpcResult, proc_macros::rpc, types::ErrorObjectOwned};
use openvpp_primitives::{is_valid_region_code, DeviceId, EventStatus, RegionCode};
use openvpp_runtime::{opaque::Block, AccountId};
use openvpp_runtime_api::{
	DeviceEpochResultView, DevicePage, DeviceView, DrEventDetail, DrEventPage, EpochResultPage,
	NetworkTotals, ReferendumView, RegionKindStatusView, RewardsStatus, TelemetryView,
	VppApi as VppRuntimeApi, MAX_PAGE_SIZE, MAX_RESULT_EPOCHS,
};
use sp_api::{ApiError, ProvideRuntimeApi};
use sp_blockchain::HeaderBackend;
use sp_core::crypto::Ss58Codec;
use sp_runtime::traits::Block as BlockT;

type Hash = <Block as BlockT>::Hash;

/// Items per page when the caller gives no `limit`.
pub const DEFAULT_PAGE_SIZE: u32 = 50;

/// JSON-RPC error codes of the `vpp_*` methods.
pub mod error_code {
	/// A parameter is malformed or out of range (the JSON-RPC standard code).
	pub const INVALID_PARAMS: i32 = -32602;
	/// The device or event asked for does not exist at that block.
	pub const NOT_FOUND: i32 = 4004;
	/// The runtime could not answer (unknown block, a runtime without the API).
	pub const RUNTIME: i32 = 5000;
}

fn invalid(message: String) -> ErrorObjectOwned {
	ErrorObjectOwned::owned(error_code::INVALID_PARAMS, message, None::<()>)
}

fn not_found(message: String) -> ErrorObjectOwned {
	ErrorObjectOwned::owned(error_code::NOT_FOUND, message, None::<()>)
}

fn runtime_error(error: ApiError) -> ErrorObjectOwned {
	ErrorObjectOwned::owned(
		error_code::RUNTIME,
		format!("the runtime could not answer: {error}"),
		None::<()>,
	)
}

/// `limit` if given, checked against the page size.
fn limit(limit: Option<u32>) -> RpcResult<u32> {
	match limit.unwrap_or(DEFAULT_PAGE_SIZE) {
		limit @ 1..=MAX_PAGE_SIZE => Ok(limit),
		other => Err(invalid(format!("limit must be 1 to {MAX_PAGE_SIZE}, not {other}"))),
	}
}

/// An account as an SS58 address (any prefix) or 32 bytes of hex with `0x`.
fn account(name: &str, text: &str) -> RpcResult<AccountId> {
	if let Some(digits) = text.strip_prefix("0x") {
		let mut bytes = [0u8; 32];
		return hex::decode_to_slice(digits, &mut bytes)
			.map(|()| AccountId::new(bytes))
			.map_err(|_| invalid(format!("{name} '{text}' is not 32 bytes of hex")));
	}
	AccountId::from_ss58check_with_version(text)
		.map(|(account, _)| account)
		.map_err(|error| invalid(format!("{name} '{text}' is not an SS58 address: {error}")))
}

fn region(text: &str) -> RpcResult<RegionCode> {
	if !is_valid_region_code(text.as_bytes()) {
		return Err(invalid(format!(
			"region '{text}' is not a region code (upper-case letters, digits and inner '-', at most {} characters)",
			openvpp_primitives::MAX_REGION_CODE_LEN
		)));
	}
	RegionCode::try_from(text.as_bytes().to_vec())
		.map_err(|_| invalid(format!("region '{text}' is too long")))
}

fn event_status(text: &str) -> RpcResult<EventStatus> {
	const ALL: [(&str, EventStatus); 5] = [
		("scheduled", EventStatus::Scheduled),
		("active", EventStatus::Active),
		("completed", EventStatus::Completed),
		("settled", EventStatus::Settled),
		("cancelled", EventStatus::Cancelled),
	];
	ALL.iter()
		.find(|(name, _)| name.eq_ignore_ascii_case(text))
		.map(|(_, status)| *status)
		.ok_or_else(|| {
			invalid(format!(
				"status '{text}' is not one of scheduled, active, completed, settled, cancelled"
			))
		})
}

/// OpenVPP's read model over JSON-RPC. Every method takes an optional block hash last.
#[rpc(server)]
pub trait VppApi {
	/// One device: identity, status, capability, comfort limits, history, credit record.
	#[method(name = "vpp_device")]
	fn device(&self, id: DeviceId, at: Option<Hash>) -> RpcResult<DeviceView<AccountId>>;

	/// A page of an owner's devices.
	#[method(name = "vpp_devicesByOwner")]
	fn devices_by_owner(
		&self,
		owner: String,
		after: Option<DeviceId>,
		limit: Option<u32>,
		at: Option<Hash>,
	) -> RpcResult<DevicePage<AccountId>>;

	/// A page of the devices a gateway submits readings for.
	#[method(name = "vpp_devicesByGateway")]
	fn devices_by_gateway(
		&self,
		gateway: String,
		after: Option<DeviceId>,
		limit: Option<u32>,
		at: Option<Hash>,
	) -> RpcResult<DevicePage<AccountId>>;

	/// A page of a region's devices.
	#[method(name = "vpp_devicesByRegion")]
	fn devices_by_region(
		&self,
		region: String,
		after: Option<DeviceId>,
		limit: Option<u32>,
		at: Option<Hash>,
	) -> RpcResult<DevicePage<AccountId>>;

	/// A device's latest reading and its epoch so far.
	#[method(name = "vpp_deviceTelemetry")]
	fn device_telemetry(&self, id: DeviceId, at: Option<Hash>) -> RpcResult<TelemetryView>;

	/// The energy status map per region and kind.
	#[method(name = "vpp_energyStatus")]
	fn energy_status(&self, at: Option<Hash>) -> RpcResult<Vec<RegionKindStatusView>>;

	/// Network totals.
	#[method(name = "vpp_networkTotals")]
	fn network_totals(&self, at: Option<Hash>) -> RpcResult<NetworkTotals>;

	/// A device's results in its most recent scored epochs, newest first.
	#[method(name = "vpp_deviceResults")]
	fn device_results(
		&self,
		id: DeviceId,
		epochs: Option<u32>,
		at: Option<Hash>,
	) -> RpcResult<Vec<DeviceEpochResultView<AccountId>>>;

	/// A page of one epoch's results.
	#[method(name = "vpp_epochResults")]
	fn epoch_results(
		&self,
		epoch: u64,
		after: Option<DeviceId>,
		limit: Option<u32>,
		at: Option<Hash>,
	) -> RpcResult<EpochResultPage<AccountId>>;

	/// Scoring and settlement progress, and the retained epochs.
	#[method(name = "vpp_rewardsStatus")]
	fn rewards_status(&self, at: Option<Hash>) -> RpcResult<RewardsStatus>;

	/// A page of demand-response events, newest first.
	#[method(name = "vpp_drEvents")]
	fn dr_events(
		&self,
		status: Option<String>,
		region: Option<String>,
		before: Option<u32>,
		limit: Option<u32>,
		at: Option<Hash>,
	) -> RpcResult<DrEventPage<AccountId>>;

	/// One demand-response event with a page of its participants.
	#[method(name = "vpp_drEvent")]
	fn dr_event(
		&self,
		id: u32,
		after: Option<u32>,
		limit: Option<u32>,
		at: Option<Hash>,
	) -> RpcResult<DrEventDetail<AccountId>>;

	/// Referenda being decided, newest first.
	#[method(name = "vpp_referenda")]
	fn referenda(&self, limit: Option<u32>, at: Option<Hash>) -> RpcResult<Vec<ReferendumView>>;
}

/// The `vpp_*` methods over a client.
pub struct Vpp<C> {
	client: Arc<C>,
	_block: PhantomData<Block>,
}

impl<C> Vpp<C> {
	pub fn new(client: Arc<C>) -> Self {
		Vpp { client, _block: PhantomData }
	}
}

impl<C> Vpp<C>
where
	C: ProvideRuntimeApi<Block> + HeaderBackend<Block>,
	C::Api: VppRuntimeApi<Block, AccountId>,
{
	fn call<R>(
		&self,
		at: Option<Hash>,
		query: impl FnOnce(&C::Api, Hash) -> Result<R, ApiError>,
	) -> RpcResult<R> {
		let at = at.unwrap_or_else(|| self.client.info().best_hash);
		let api = self.client.runtime_api();
		query(&*api, at).map_err(runtime_error)
	}
}

impl<C> VppApiServer for Vpp<C>
where
	C: ProvideRuntimeApi<Block> + HeaderBackend<Block> + Send + Sync + 'static,
	C::Api: VppRuntimeApi<Block, AccountId>,
{
	fn device(&self, id: DeviceId, at: Option<Hash>) -> RpcResult<DeviceView<AccountId>> {
		self.call(at, |api, at| api.device(at, id))?
			.ok_or_else(|| not_found(format!("device {id} is not registered")))
	}

	fn devices_by_owner(
		&self,
		owner: String,
		after: Option<DeviceId>,
		limit: Option<u32>,
		at: Option<Hash>,
	) -> RpcResult<DevicePage<AccountId>> {
		let (owner, limit) = (account("owner", &owner)?, self::limit(limit)?);
		self.call(at, |api, at| api.devices_by_owner(at, owner, after, limit))
	}

	fn devices_by_gateway(
		&self,
		gateway: String,
		after: Option<DeviceId>,
		limit: Option<u32>,
		at: Option<Hash>,
	) -> RpcResult<DevicePage<AccountId>> {
		let (gateway, limit) = (account("gateway", &gateway)?, self::limit(limit)?);
		self.call(at, |api, at| api.devices_by_gateway(at, gateway, after, limit))
	}

	fn devices_by_region(
		&self,
		region: String,
		after: Option<DeviceId>,
		limit: Option<u32>,
		at: Option<Hash>,
	) -> RpcResult<DevicePage<AccountId>> {
		let (region, limit) = (self::region(&region)?, self::limit(limit)?);
		self.call(at, |api, at| api.devices_by_region(at, region, after, limit))
	}

	fn device_telemetry(&self, id: DeviceId, at: Option<Hash>) -> RpcResult<TelemetryView> {
		self.call(at, |api, at| api.device_telemetry(at, id))?
			.ok_or_else(|| not_found(format!("device {id} has no accepted report")))
	}

	fn energy_status(&self, at: Option<Hash>) -> RpcResult<Vec<RegionKindStatusView>> {
		self.call(at, |api, at| api.energy_status(at))
	}

	fn network_totals(&self, at: Option<Hash>) -> RpcResult<NetworkTotals> {
		self.call(at, |api, at| api.network_totals(at))
	}

	fn device_results(
		&self,
		id: DeviceId,
		epochs: Option<u32>,
		at: Option<Hash>,
	) -> RpcResult<Vec<DeviceEpochResultView<AccountId>>> {
		let epochs = match epochs.unwrap_or(10) {
			epochs @ 1..=MAX_RESULT_EPOCHS => epochs,
			other => {
				return Err(invalid(format!(
					"epochs must be 1 to {MAX_RESULT_EPOCHS}, not {other}"
				)))
			}
		};
		self.call(at, |api, at| api.device_results(at, id, epochs))
	}

	fn epoch_results(
		&self,
		epoch: u64,
		after: Option<DeviceId>,
		limit: Option<u32>,
		at: Option<Hash>,
	) -> RpcResult<EpochResultPage<AccountId>> {
		let limit = self::limit(limit)?;
		self.call(at, |api, at| api.epoch_results(at, epoch, after, limit))
	}

	fn rewards_status(&self, at: Option<Hash>) -> RpcResult<RewardsStatus> {
		self.call(at, |api, at| api.rewards_status(at))
	}

	fn dr_events(
		&self,
		status: Option<String>,
		region: Option<String>,
		before: Option<u32>,
		limit: Option<u32>,
		at: Option<Hash>,
	) -> RpcResult<DrEventPage<AccountId>> {
		let status = status.as_deref().map(event_status).transpose()?;
		let region = region.as_deref().map(self::region).transpose()?;
		let limit = self::limit(limit)?;
		self.call(at, |api, at| api.dr_events(at, status, region, before, limit))
	}

	fn dr_event(
		&self,
		id: u32,
		after: Option<u32>,
		limit: Option<u32>,
		at: Option<Hash>,
	) -> RpcResult<DrEventDetail<AccountId>> {
		let limit = self::limit(limit)?;
		self.call(at, |api, at| api.dr_event(at, id, after, limit))?
			.ok_or_else(|| not_found(format!("demand-response event {id} does not exist")))
	}

	fn referenda(&self, limit: Option<u32>, at: Option<Hash>) -> RpcResult<Vec<ReferendumView>> {
		let limit = self::limit(limit)?;
		self.call(at, |api, at| api.referenda(at, limit))
	}
}

#[cfg(test)]
mod tests {
	use super::*;

	#[test]
	fn parameters_are_checked() {
		assert_eq!(limit(None).ok(), Some(DEFAULT_PAGE_SIZE));
		assert_eq!(limit(Some(100)).ok(), Some(100));
		assert!(limit(Some(0)).is_err());
		assert!(limit(Some(101)).is_err());
		assert!(region("DE-50HERTZ").is_ok());
		assert!(region("de-50hertz").is_err());
		assert!(region("").is_err());
		assert_eq!(event_status("Active").ok(), Some(EventStatus::Active));
		assert!(event_status("running").is_err());
		let alice = sp_keyring::Sr25519Keyring::Alice.to_account_id();
		let hex = format!("0x{}", hex::encode(<[u8; 32]>::from(alice.clone())));
		assert_eq!(account("owner", &hex).ok(), Some(alice.clone()));
		assert_eq!(account("owner", &alice.to_ss58check()).ok(), Some(alice));
		assert!(account("owner", "0x1234").is_err());
		let message = account("owner", "5Nope").err().map(|error| error.message().to_owned());
		assert!(message.is_some_and(|message| message.contains("not an SS58 address")));
	}
}
