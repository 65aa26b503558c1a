//! Working with the runtime the node runs, whichever it is.
//!
//! A forkless upgrade changes the runtime under a running gateway. What the gateway needs from
//! it is small and listed in [`items`]: the extrinsic format, the telemetry and demand-response
//! calls it sends, the events it reads back, the storage entries it looks at. The gateway's own
//! types for them ([`crate::wire`]) were written for the shapes recorded in
//! `runtime-shapes.json` ([`expected`]); for each item, the gateway compares that shape with
//! the shape in the node's metadata ([`NodeRuntime::changes`]):
//!
//! - the same shapes: the gateway signs with the spec and transaction versions the node reports
//!   ([`NodeRuntime::sign`]), encodes calls and reads events with the node's pallet, call and
//!   event indices, and carries on, whatever else the upgrade changed;
//! - different shapes: the submitter stops submitting (the sources, aggregator and signer keep
//!   filling the outbox) and logs each [`Change`] — which item, which part, from what to what —
//!   until a later upgrade or a newer gateway makes them match again.
//!
//! Events are read the same way: a block's events are stepped over with the node's type
//! registry ([`skip`]) and only those the gateway uses, with unchanged shapes, are decoded.

pub mod expected;
pub mod items;
mod node_runtime;
pub mod shape;
pub mod skip;

use codec::Decode;
use frame_metadata::{v14::RuntimeMetadataV14, RuntimeMetadata, RuntimeMetadataPrefixed};
use serde::Deserialize;

pub use expected::expected;
pub use items::{Change, Item, Shape, GATEWAY, TOOLS, VIEWS};
pub use node_runtime::{NodeRuntime, SignError};

/// The versions a node reports for its runtime (`state_getRuntimeVersion`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RuntimeVersion {
	pub spec_name: String,
	pub spec_version: u32,
	pub transaction_version: u32,
}

impl RuntimeVersion {
	/// The versions a runtime declares (for tools that link one).
	pub fn of(version: &sp_version::RuntimeVersion) -> Self {
		RuntimeVersion {
			spec_name: version.spec_name.to_string(),
			spec_version: version.spec_version,
			transaction_version: version.transaction_version,
		}
	}
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

#[cfg(test)]
pub(crate) mod test_runtime;
#[cfg(test)]
mod tests;
