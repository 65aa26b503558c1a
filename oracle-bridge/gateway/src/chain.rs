//! Talking to an OpenVPP node over JSON-RPC (WebSocket).
//!
//! The gateway builds extrinsics and decodes storage and events with its own types
//! ([`crate::wire`]), and does not assume which runtime the node runs: it asks the node for its
//! versions and metadata ([`Chain::node_runtime`]), signs with the node's versions, and uses
//! an item only while it keeps the shape the gateway knows (see [`crate::compat`]).

use std::{
	collections::BTreeMap,
	sync::{Arc, Mutex},
	time::Duration,
};

use codec::Decode;
use jsonrpsee::{
	core::client::{ClientT, Subscription, SubscriptionClientT},
	rpc_params,
	ws_client::{WsClient, WsClientBuilder},
};
use openvpp_primitives::{network::SS58_PREFIX, DeviceId};

use crate::{
	compat::{
		decode_metadata, Change, EventsError, Item, MetadataError, NodeRuntime, RuntimeVersion,
	},
	wire::{
		storage::{self as keys, DeviceRecord, DeviceTelemetryState},
		Event, EventRecord,
	},
};
use serde::Deserialize;
use sp_core::{crypto::AccountId32, Bytes, H256};
use sp_runtime::traits::{BlakeTwo256, Hash};

#[derive(Debug, thiserror::Error)]
pub enum ChainError {
	#[error("JSON-RPC: {0}")]
	Rpc(#[from] jsonrpsee::core::ClientError),
	/// What the bridge uses of the runtime changed shape in the node's runtime.
	#[error(
		"the node runs {node}, in which what this bridge uses changed: {}; use a bridge built \
		 for this runtime",
		.changes.iter().map(|c| c.to_string()).collect::<Vec<_>>().join("; ")
	)]
	Incompatible { node: RuntimeVersion, changes: Vec<Change> },
	/// A development tool met a runtime other than the one it was built with.
	#[error(
		"the node runs {node}, but this tool signs for {ours}, the runtime it was built with; use \
		 the tools built from the node's release"
	)]
	NotBuiltWith { node: RuntimeVersion, ours: RuntimeVersion },
	#[error(transparent)]
	Metadata(#[from] MetadataError),
	#[error("cannot read the events of block {block:?}: {error}")]
	Events { block: H256, error: EventsError },
	#[error("cannot decode {what}: {message}")]
	Decode { what: &'static str, message: String },
	#[error("{0}")]
	Missing(String),
}

fn decode<T: Decode>(what: &'static str, bytes: &[u8]) -> Result<T, ChainError> {
	T::decode(&mut &bytes[..]).map_err(|e| ChainError::Decode { what, message: e.to_string() })
}

/// Where a submitted transaction stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TxStatus {
	/// In the pool, in a block, broadcast…: keep waiting.
	Pending,
	/// In a finalized block.
	Finalized(H256),
	/// It will not be included (dropped, invalid, usurped, finality timeout).
	Failed(String),
}

impl TxStatus {
	/// Interprets an `author_submitAndWatchExtrinsic` notification.
	pub fn from_json(value: &serde_json::Value) -> TxStatus {
		if let Some(hash) = value.get("finalized").and_then(|h| h.as_str()) {
			return match parse_hash(hash) {
				Some(hash) => TxStatus::Finalized(hash),
				None => TxStatus::Failed(format!("bad block hash {hash}")),
			};
		}
		for failure in ["usurped", "finalityTimeout", "dropped", "invalid"] {
			if value.get(failure).is_some() || value.as_str() == Some(failure) {
				return TxStatus::Failed(failure.to_string());
			}
		}
		TxStatus::Pending
	}
}

/// Why a watched transaction reached no finalized block.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FinalityError {
	/// The pool gave up on it (`invalid`, `dropped`, `usurped`, `finalityTimeout`).
	#[error("not included: {0}")]
	NotIncluded(String),
	#[error("the status subscription ended: {0}")]
	Subscription(String),
	#[error("not finalized within {0:?}")]
	Timeout(Duration),
}

/// Follows a transaction's status notifications (from [`Chain::submit_and_watch`]) until a
/// finalized block includes it, for at most `timeout`.
pub async fn wait_finalized(
	mut statuses: Subscription<serde_json::Value>,
	timeout: Duration,
) -> Result<H256, FinalityError> {
	tokio::time::timeout(timeout, async {
		while let Some(status) = statuses.next().await {
			let status = status.map_err(|e| FinalityError::Subscription(e.to_string()))?;
			match TxStatus::from_json(&status) {
				TxStatus::Finalized(block) => return Ok(block),
				TxStatus::Failed(reason) => return Err(FinalityError::NotIncluded(reason)),
				TxStatus::Pending => {}
			}
		}
		Err(FinalityError::Subscription("the node closed it".into()))
	})
	.await
	.map_err(|_| FinalityError::Timeout(timeout))?
}

/// An account in the chain's SS58 format (prefix [`SS58_PREFIX`]), whatever the process-wide
/// default.
pub fn ss58(account: &AccountId32) -> String {
	use sp_core::crypto::{Ss58AddressFormat, Ss58Codec};
	account.to_ss58check_with_version(Ss58AddressFormat::custom(SS58_PREFIX))
}

/// Makes the chain's SS58 format the process-wide default, so that addresses print and parse
/// in it (call at the start of `main`).
pub fn use_chain_ss58_format() {
	sp_core::crypto::set_default_ss58_version(sp_core::crypto::Ss58AddressFormat::custom(
		SS58_PREFIX,
	));
}

fn parse_hash(text: &str) -> Option<H256> {
	let bytes = hex::decode(text.trim_start_matches("0x")).ok()?;
	(bytes.len() == 32).then(|| H256::from_slice(&bytes))
}

#[derive(Deserialize)]
struct SignedBlockJson {
	block: BlockJson,
}

#[derive(Deserialize)]
struct BlockJson {
	header: HeaderJson,
	extrinsics: Vec<Bytes>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct HeaderJson {
	number: String,
	parent_hash: H256,
}

/// A block's extrinsics and number.
#[derive(Debug, Clone)]
pub struct BlockBody {
	pub number: u32,
	pub parent_hash: H256,
	pub extrinsics: Vec<Vec<u8>>,
}

/// A connection to a node.
pub struct Chain {
	client: WsClient,
	/// The chain's genesis hash (what every signature commits to).
	pub genesis: H256,
	/// The runtimes met on this connection, by spec version.
	runtimes: Mutex<BTreeMap<u32, Arc<NodeRuntime>>>,
}

/// Runtimes kept per connection (an upgrade adds one).
const RUNTIMES_KEPT: usize = 4;

impl Chain {
	/// Connects once (`ws://`, or `wss://` checked against the system's CA certificates).
	pub async fn connect(url: &str) -> Result<Chain, ChainError> {
		Self::connect_with(url, None).await
	}

	/// Connects once; a `wss://` endpoint's certificate is checked against `tls` if given.
	pub async fn connect_with(
		url: &str,
		tls: Option<&std::sync::Arc<rustls::ClientConfig>>,
	) -> Result<Chain, ChainError> {
		let mut builder = WsClientBuilder::default()
			.request_timeout(Duration::from_secs(60))
			.max_request_size(64 * 1024 * 1024)
			.max_response_size(64 * 1024 * 1024);
		if let Some(tls) = tls {
			builder = builder.with_custom_cert_store(rustls::ClientConfig::clone(tls));
		}
		let client = builder.build(url).await?;
		let genesis: H256 = client.request("chain_getBlockHash", rpc_params![0u32]).await?;
		Ok(Chain { client, genesis, runtimes: Mutex::new(BTreeMap::new()) })
	}

	/// Whether the connection is still up.
	pub fn is_connected(&self) -> bool {
		self.client.is_connected()
	}

	/// The versions of the runtime at block `at` (the best block if `None`).
	pub async fn runtime_version(&self, at: Option<H256>) -> Result<RuntimeVersion, ChainError> {
		Ok(self.client.request("state_getRuntimeVersion", rpc_params![at]).await?)
	}

	/// The runtime at block `at` (the best block if `None`), compared with the shapes the
	/// gateway knows. Its metadata is fetched once per spec version.
	pub async fn node_runtime(&self, at: Option<H256>) -> Result<Arc<NodeRuntime>, ChainError> {
		let version = self.runtime_version(at).await?;
		if let Some(known) = self.cached_runtime(&version) {
			return Ok(known);
		}
		let bytes: Bytes = self.client.request("state_getMetadata", rpc_params![at]).await?;
		let runtime = Arc::new(NodeRuntime::new(version, decode_metadata(&bytes)?));
		if let Ok(mut runtimes) = self.runtimes.lock() {
			if runtimes.len() >= RUNTIMES_KEPT {
				runtimes.pop_first();
			}
			runtimes.insert(runtime.version.spec_version, runtime.clone());
		}
		Ok(runtime)
	}

	fn cached_runtime(&self, version: &RuntimeVersion) -> Option<Arc<NodeRuntime>> {
		let runtimes = self.runtimes.lock().ok()?;
		runtimes.get(&version.spec_version).filter(|r| r.version == *version).cloned()
	}

	/// The node's current runtime, if every item of `usage` has the shape the bridge knows.
	pub async fn check_compatible(&self, usage: &[Item]) -> Result<Arc<NodeRuntime>, ChainError> {
		let runtime = self.node_runtime(None).await?;
		let changes = runtime.changes(usage);
		if !changes.is_empty() {
			return Err(ChainError::Incompatible { node: runtime.version.clone(), changes });
		}
		Ok(runtime)
	}

	/// Refuses a node whose runtime is not `ours`: for the development tools (demo, fleet,
	/// load benchmark), which link the runtime and sign every call they know for it.
	pub async fn check_built_with(&self, ours: RuntimeVersion) -> Result<(), ChainError> {
		let runtime = self.node_runtime(None).await?;
		if runtime.version != ours {
			return Err(ChainError::NotBuiltWith { node: runtime.version.clone(), ours });
		}
		let all: Vec<Item> = crate::compat::items::all().collect();
		let changes = runtime.changes(&all);
		if !changes.is_empty() {
			return Err(ChainError::Incompatible { node: runtime.version.clone(), changes });
		}
		Ok(())
	}

	/// Notifications of the runtime's versions: the current ones, then one per upgrade.
	pub async fn subscribe_runtime_version(
		&self,
	) -> Result<Subscription<RuntimeVersion>, ChainError> {
		Ok(self
			.client
			.subscribe(
				"state_subscribeRuntimeVersion",
				rpc_params![],
				"state_unsubscribeRuntimeVersion",
			)
			.await?)
	}

	/// The next nonce of `account`, counting transactions in the pool.
	pub async fn next_nonce(&self, account: &AccountId32) -> Result<u32, ChainError> {
		Ok(self.client.request("system_accountNextIndex", rpc_params![account.to_string()]).await?)
	}

	/// Submits an extrinsic (its encoded bytes) and returns its status notifications.
	pub async fn submit_and_watch(
		&self,
		xt: &[u8],
	) -> Result<Subscription<serde_json::Value>, ChainError> {
		Ok(self
			.client
			.subscribe(
				"author_submitAndWatchExtrinsic",
				rpc_params![Bytes(xt.to_vec())],
				"author_unwatchExtrinsic",
			)
			.await?)
	}

	/// Submits an extrinsic (its encoded bytes) without watching it; returns its hash.
	pub async fn submit(&self, xt: &[u8]) -> Result<H256, ChainError> {
		Ok(self.client.request("author_submitExtrinsic", rpc_params![Bytes(xt.to_vec())]).await?)
	}

	/// Any JSON-RPC method of the node, such as the `vpp_*` read model ([`crate::vpp`]).
	pub async fn request<T: serde::de::DeserializeOwned>(
		&self,
		method: &str,
		params: jsonrpsee::core::params::ArrayParams,
	) -> Result<T, ChainError> {
		Ok(self.client.request(method, params).await?)
	}

	/// Raw storage at a block (the best block if `None`).
	pub async fn storage_raw(
		&self,
		key: Vec<u8>,
		at: Option<H256>,
	) -> Result<Option<Vec<u8>>, ChainError> {
		let value: Option<Bytes> =
			self.client.request("state_getStorage", rpc_params![Bytes(key), at]).await?;
		Ok(value.map(|b| b.0))
	}

	async fn storage<T: Decode>(
		&self,
		what: &'static str,
		key: Vec<u8>,
		at: Option<H256>,
	) -> Result<Option<T>, ChainError> {
		self.storage_raw(key, at).await?.map(|bytes| decode(what, &bytes)).transpose()
	}

	/// A device's registry record.
	pub async fn device(&self, id: DeviceId) -> Result<Option<DeviceRecord>, ChainError> {
		self.storage("device record", keys::device(id), None).await
	}

	/// The nonce the next proof of possession of `owner` must carry.
	pub async fn registration_nonce(&self, owner: &AccountId32) -> Result<u32, ChainError> {
		let key = keys::registration_nonce(owner);
		Ok(self.storage("registration nonce", key, None).await?.unwrap_or(0))
	}

	/// A device's telemetry state (last sequence and interval…).
	pub async fn device_telemetry(
		&self,
		id: DeviceId,
		at: Option<H256>,
	) -> Result<Option<DeviceTelemetryState>, ChainError> {
		self.storage("device telemetry", keys::device_telemetry(id), at).await
	}

	/// The shortest report interval the chain accepts (s).
	pub async fn min_interval_length_s(&self) -> Result<u32, ChainError> {
		let key = keys::min_interval_length_s();
		Ok(self.storage("minimum interval length", key, None).await?.unwrap_or_else(
			<pallet_telemetry::DefaultMinIntervalLengthS as frame_support::traits::Get<u32>>::get,
		))
	}

	/// The chain's time at a block (Unix ms).
	pub async fn timestamp_ms(&self, at: Option<H256>) -> Result<u64, ChainError> {
		Ok(self.storage("timestamp", keys::timestamp_now(), at).await?.unwrap_or(0))
	}

	/// Hash of the finalized head.
	pub async fn finalized_head(&self) -> Result<H256, ChainError> {
		Ok(self.client.request("chain_getFinalizedHead", rpc_params![]).await?)
	}

	/// Hash of the block at `number` on the best chain.
	pub async fn block_hash(&self, number: u32) -> Result<Option<H256>, ChainError> {
		Ok(self.client.request("chain_getBlockHash", rpc_params![number]).await?)
	}

	/// A block's number, parent and extrinsics.
	pub async fn block(&self, hash: H256) -> Result<BlockBody, ChainError> {
		let block: Option<SignedBlockJson> =
			self.client.request("chain_getBlock", rpc_params![hash]).await?;
		let block = block.ok_or_else(|| ChainError::Missing(format!("block {hash:?}")))?.block;
		let number = u32::from_str_radix(block.header.number.trim_start_matches("0x"), 16)
			.map_err(|e| ChainError::Decode { what: "block number", message: e.to_string() })?;
		Ok(BlockBody {
			number,
			parent_hash: block.header.parent_hash,
			extrinsics: block.extrinsics.into_iter().map(|b| b.0).collect(),
		})
	}

	/// The events of a block, decoded where the gateway uses them (see [`crate::compat`]).
	pub async fn events(&self, at: H256) -> Result<Vec<EventRecord>, ChainError> {
		Ok(self.events_with_runtime(at).await?.1)
	}

	async fn events_with_runtime(
		&self,
		at: H256,
	) -> Result<(Arc<NodeRuntime>, Vec<EventRecord>), ChainError> {
		// Read with the metadata of the block's runtime.
		let runtime = self.node_runtime(Some(at)).await?;
		let records = self.events_read_with(at, &runtime).await?;
		Ok((runtime, records))
	}

	/// The events of block `at`, read with `runtime` (the block's, from [`Self::node_runtime`]).
	pub async fn events_read_with(
		&self,
		at: H256,
		runtime: &NodeRuntime,
	) -> Result<Vec<EventRecord>, ChainError> {
		let Some(bytes) = self.storage_raw(keys::system_events(), Some(at)).await? else {
			return Ok(Vec::new());
		};
		runtime.decode_events(&bytes).map_err(|error| ChainError::Events { block: at, error })
	}

	/// The events an extrinsic (its encoded bytes) emitted in the block it was included in.
	pub async fn extrinsic_events(
		&self,
		block: H256,
		xt: &[u8],
	) -> Result<ExtrinsicEvents, ChainError> {
		let wanted = BlakeTwo256::hash(xt);
		let body = self.block(block).await?;
		let index =
			body.extrinsics.iter().position(|x| BlakeTwo256::hash(x) == wanted).ok_or_else(
				|| ChainError::Missing(format!("extrinsic {wanted:?} in block {block:?}")),
			)?;
		let (runtime, records) = self.events_with_runtime(block).await?;
		let phase = frame_system::Phase::ApplyExtrinsic(index as u32);
		Ok(ExtrinsicEvents {
			runtime,
			records: records.into_iter().filter(|r| r.phase == phase).collect(),
		})
	}

	/// Every storage key that starts with `prefix` at block `at`, in key order.
	pub async fn storage_keys(&self, prefix: &[u8], at: H256) -> Result<Vec<Vec<u8>>, ChainError> {
		let mut out = Vec::new();
		let mut start_key: Option<Bytes> = None;
		loop {
			let keys: Vec<Bytes> = self
				.client
				.request(
					"state_getKeysPaged",
					rpc_params![Bytes(prefix.to_vec()), KEYS_PAGE, start_key.clone(), at],
				)
				.await?;
			let full_page = keys.len() == KEYS_PAGE as usize;
			start_key = keys.last().cloned();
			out.extend(keys.into_iter().map(|key| key.0));
			if !full_page {
				return Ok(out);
			}
		}
	}
}

/// An extrinsic's events, with the runtime that emitted them (which names its errors).
#[derive(Debug)]
pub struct ExtrinsicEvents {
	pub runtime: Arc<NodeRuntime>,
	pub records: Vec<EventRecord>,
}

impl ExtrinsicEvents {
	/// The events the gateway uses, in order.
	pub fn gateway_events(&self) -> Vec<Event> {
		self.records.iter().filter_map(|r| r.event.clone()).collect()
	}

	/// Every event decoded as `E`: for tools that link a runtime and read its event type.
	pub fn decode_all<E: Decode>(&self) -> Result<Vec<E>, ChainError> {
		self.records.iter().map(|r| decode("event", &r.raw)).collect()
	}
}

/// Keys asked for per `state_getKeysPaged` call (nodes refuse more than 1 000).
const KEYS_PAGE: u32 = 1_000;

#[cfg(test)]
mod tests {
	use super::*;

	#[test]
	fn accounts_print_with_the_chain_prefix() {
		use sp_core::crypto::{Ss58AddressFormat, Ss58Codec};
		let account = AccountId32::new([7; 32]);
		let text = ss58(&account);
		let (parsed, format) = AccountId32::from_ss58check_with_version(&text).unwrap();
		assert_eq!(parsed, account);
		assert_eq!(format, Ss58AddressFormat::custom(SS58_PREFIX));
	}

	#[test]
	fn transaction_statuses() {
		let finalized = serde_json::json!({"finalized": format!("0x{}", "11".repeat(32))});
		assert_eq!(TxStatus::from_json(&finalized), TxStatus::Finalized(H256::repeat_byte(0x11)));
		assert_eq!(TxStatus::from_json(&serde_json::json!("ready")), TxStatus::Pending);
		assert_eq!(TxStatus::from_json(&serde_json::json!({"inBlock": "0x00"})), TxStatus::Pending);
		assert_eq!(
			TxStatus::from_json(&serde_json::json!("dropped")),
			TxStatus::Failed("dropped".into())
		);
		assert_eq!(
			TxStatus::from_json(&serde_json::json!("invalid")),
			TxStatus::Failed("invalid".into())
		);
		assert_eq!(
			TxStatus::from_json(&serde_json::json!({"usurped": "0x00"})),
			TxStatus::Failed("usurped".into())
		);
	}
}
