//! Working with the runtime the node runs, not only the one the bridge was built with.
//!
//! A forkless upgrade changes the runtime under a running bridge. What the bridge needs from it
//! is small and listed in [`items`]: the extrinsic format, the telemetry and demand-response
//! calls it sends, the events it reads back, the storage entries it looks at. For each, the
//! bridge compares the shape in the node's metadata with the shape in the runtime it was built
//! with ([`NodeRuntime::changes`]):
//!
//! - the same shapes: the bridge signs with the spec and transaction versions the node reports
//!   ([`NodeRuntime::sign`]) and carries on, whatever else the upgrade changed;
//! - different shapes: the submitter stops submitting (the sources, aggregator and signer keep
//!   filling the outbox) and logs each [`Change`] — which item, which part, from what to what —
//!   until a later upgrade or a newer bridge makes them match again.
//!
//! Events are read the same way: a block's events are stepped over with the node's type
//! registry ([`skip`]) and only those the bridge uses, with unchanged shapes, are decoded.

pub mod items;
pub mod shape;
pub mod skip;

use std::{
	collections::{BTreeMap, BTreeSet},
	sync::OnceLock,
};

use codec::{Compact, Decode, Encode};
use frame_metadata::{v14::RuntimeMetadataV14, RuntimeMetadata, RuntimeMetadataPrefixed};
use openvpp_runtime::{Address, RuntimeCall, RuntimeEvent, SignedPayload, UncheckedExtrinsic};
use scale_info::{PortableRegistry, TypeDef};
use serde::Deserialize;
use sp_core::{crypto::Pair, sr25519, H256};
use sp_runtime::MultiSignature;

pub use items::{Change, Item, Shape, GATEWAY, TOOLS, VIEWS};

/// The versions a node reports for its runtime (`state_getRuntimeVersion`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RuntimeVersion {
	pub spec_name: String,
	pub spec_version: u32,
	pub transaction_version: u32,
}

impl std::fmt::Display for RuntimeVersion {
	fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
		write!(
			f,
			"{} spec {} (transaction version {})",
			self.spec_name, self.spec_version, self.transaction_version
		)
	}
}

/// Why the node's metadata cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MetadataError {
	#[error("cannot decode the node's metadata: {0}")]
	Decode(String),
	#[error("the node serves metadata version {0}; the bridge reads version 14")]
	Version(u32),
}

/// Why a block's events could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EventsError {
	#[error("the node's metadata has no event record type: {0}")]
	NoRecordType(String),
	#[error("cannot step over an event: {0}")]
	Skip(#[from] skip::SkipError),
	#[error("cannot decode: {0}")]
	Decode(String),
}

impl From<codec::Error> for EventsError {
	fn from(error: codec::Error) -> Self {
		EventsError::Decode(error.to_string())
	}
}

/// Decodes `state_getMetadata`'s answer.
pub fn decode_metadata(bytes: &[u8]) -> Result<RuntimeMetadataV14, MetadataError> {
	let prefixed = RuntimeMetadataPrefixed::decode(&mut &bytes[..])
		.map_err(|e| MetadataError::Decode(e.to_string()))?;
	match prefixed.1 {
		RuntimeMetadata::V14(metadata) => Ok(metadata),
		other => Err(MetadataError::Version(other.version())),
	}
}

/// The shapes of every item in the runtime this bridge was built with.
pub fn built_with() -> &'static BTreeMap<Item, Shape> {
	static SHAPES: OnceLock<BTreeMap<Item, Shape>> = OnceLock::new();
	SHAPES.get_or_init(|| match built_with_metadata() {
		RuntimeMetadata::V14(metadata) => items::shapes(&metadata, items::all()),
		other => items::all()
			.map(|item| (item, Err(format!("metadata version {}", other.version()))))
			.collect(),
	})
}

/// The metadata of the runtime this bridge was built with. Some of its constants are runtime
/// parameters read from storage: empty storage gives their defaults, which is all the shapes
/// need.
pub fn built_with_metadata() -> RuntimeMetadata {
	sp_io::TestExternalities::default().execute_with(|| openvpp_runtime::Runtime::metadata().1)
}

/// The node's runtime as far as the bridge is concerned: its versions, what differs from the
/// runtime the bridge was built with, and how to read its events.
#[derive(Debug)]
pub struct NodeRuntime {
	pub version: RuntimeVersion,
	changes: Vec<Change>,
	types: PortableRegistry,
	/// The runtime's event enum, or why the metadata has none the bridge can use.
	event_type: Result<u32, String>,
	/// (pallet index, event index) of the events the bridge decodes.
	known_events: BTreeSet<(u8, u8)>,
}

impl NodeRuntime {
	/// Compares the node's runtime with the one the bridge was built with.
	pub fn new(version: RuntimeVersion, metadata: RuntimeMetadataV14) -> Self {
		Self::against(version, metadata, built_with())
	}

	/// Compares the node's runtime with the given shapes (the bridge's own, or a test's).
	pub fn against(
		version: RuntimeVersion,
		metadata: RuntimeMetadataV14,
		ours: &BTreeMap<Item, Shape>,
	) -> Self {
		let theirs = items::shapes(&metadata, ours.keys().copied());
		let changes = items::diff(ours, &theirs);
		let changed: BTreeSet<Item> = changes.iter().map(Change::item).collect();
		let known_events = theirs
			.iter()
			.filter(|(item, _)| matches!(item, Item::Event { .. }) && !changed.contains(*item))
			.filter_map(|(_, shape)| {
				let parts = shape.as_ref().ok()?;
				Some((
					parts.get("pallet index")?.parse().ok()?,
					parts.get("event index")?.parse().ok()?,
				))
			})
			.collect();
		let event_type = items::event_record(&metadata).and_then(|fields| {
			fields
				.iter()
				.find(|f| f.name.as_deref() == Some("event"))
				.map(|f| f.ty.id)
				.ok_or_else(|| "an event record has no `event` field".to_string())
		});
		NodeRuntime { version, changes, types: metadata.types, event_type, known_events }
	}

	/// What differs in the items of `usage`.
	pub fn changes(&self, usage: &[Item]) -> Vec<Change> {
		self.changes.iter().filter(|c| usage.contains(&c.item())).cloned().collect()
	}

	/// Whether every item of `usage` has the shape the bridge knows.
	pub fn is_compatible(&self, usage: &[Item]) -> bool {
		self.changes(usage).is_empty()
	}

	/// The events of a block (`System::Events`) that the bridge uses, in order; the others are
	/// stepped over. Topics are not kept.
	pub fn decode_events(
		&self,
		bytes: &[u8],
	) -> Result<Vec<frame_system::EventRecord<RuntimeEvent, H256>>, EventsError> {
		let event_type = self.event_type.clone().map_err(EventsError::NoRecordType)?;
		if !matches!(self.types.resolve(event_type).map(|t| &t.type_def), Some(TypeDef::Variant(_)))
		{
			return Err(EventsError::NoRecordType("the event type is not an enum".into()));
		}
		let input = &mut &bytes[..];
		let Compact(count) = Compact::<u32>::decode(input)?;
		let mut records = Vec::new();
		for _ in 0..count {
			let phase = frame_system::Phase::decode(input)?;
			let start = *input;
			skip::skip(&self.types, event_type, input)?;
			let mut event = &start[..start.len() - input.len()];
			if let [pallet, index, ..] = event {
				if self.known_events.contains(&(*pallet, *index)) {
					let event = RuntimeEvent::decode(&mut event)?;
					records.push(frame_system::EventRecord { phase, event, topics: Vec::new() });
				}
			}
			Vec::<H256>::decode(input)?;
		}
		Ok(records)
	}

	/// Signs `call` as an immortal transaction with no tip, for this runtime's versions.
	pub fn sign(
		&self,
		call: RuntimeCall,
		signer: &sr25519::Pair,
		nonce: u32,
		genesis: H256,
	) -> UncheckedExtrinsic {
		let extension = openvpp_runtime::extrinsic::tx_extension(nonce, 0);
		let implicit = (
			(),
			self.version.spec_version,
			self.version.transaction_version,
			genesis,
			genesis,
			(),
			(),
			(),
			(),
		);
		let payload = SignedPayload::from_raw(call.clone(), extension.clone(), implicit);
		let signature = payload.using_encoded(|bytes| signer.sign(bytes));
		let account = openvpp_runtime::extrinsic::account_of(signer);
		UncheckedExtrinsic::new_signed(
			call,
			Address::Id(account),
			MultiSignature::Sr25519(signature),
			extension,
		)
	}
}

#[cfg(test)]
mod tests;
