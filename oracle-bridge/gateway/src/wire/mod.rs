//! What the gateway sends to the chain and reads from it, as its own SCALE types: the two
//! calls it signs ([`call`]), the events it reads back ([`event`]), the signed extrinsic
//! around a call ([`extrinsic`]) and the storage it looks at ([`storage`]).
//!
//! The gateway does not link the runtime. What it encodes and decodes is written here, the
//! shapes the runtime gives the same items are recorded in `compat/runtime-shapes.json`, and
//! [`crate::compat`] compares those with the node's metadata before the gateway uses them. The
//! indices a call or event is encoded with are taken from the node, so a runtime that moves a
//! pallet is followed rather than refused. Tests that do link the runtime check every type and
//! key here against it.

pub mod call;
pub mod event;
pub mod extrinsic;
pub mod storage;

#[cfg(test)]
mod tests;

pub use call::Call;
pub use event::{Event, EventRecord};
