//! The events a gateway reads back.

use codec::{Decode, Error};
use openvpp_primitives::{DeviceId, PlausibilityFlags, RejectionReason};
use sp_core::H256;
use sp_runtime::DispatchError;

use super::storage::{AccountId, Balance};
use crate::compat::Item;

/// An event a gateway uses, decoded from the node's bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
	/// `System.ExtrinsicFailed`: the call was refused.
	ExtrinsicFailed { dispatch_error: DispatchError },
	/// `Telemetry.BatchProcessed`: a batch ran; its reports' outcomes are the events before it.
	BatchProcessed { gateway: AccountId, accepted: u32, flagged: u32, rejected: u32 },
	/// `Telemetry.ReportRejected`.
	ReportRejected { device_id: DeviceId, sequence: u64, reason: RejectionReason },
	/// `Telemetry.ReportFlagged`: accepted, but implausible.
	ReportFlagged { device_id: DeviceId, sequence: u64, flags: PlausibilityFlags },
}

/// `Telemetry.BatchProcessed`'s fields, in order.
#[derive(Decode)]
struct BatchProcessed {
	gateway: AccountId,
	accepted: u32,
	flagged: u32,
	rejected: u32,
	_raw_data_digest: Option<H256>,
	_digest_stored: bool,
	_fee: pallet_telemetry::BatchFee<Balance>,
}

impl Event {
	/// The events the gateway decodes, as runtime items.
	pub const ITEMS: [Item; 4] = [
		Item::Event { pallet: "System", event: "ExtrinsicFailed" },
		Item::Event { pallet: "Telemetry", event: "BatchProcessed" },
		Item::Event { pallet: "Telemetry", event: "ReportRejected" },
		Item::Event { pallet: "Telemetry", event: "ReportFlagged" },
	];

	/// Decodes the fields of event `item` (the bytes after its pallet and event indices).
	/// `None` for an event the gateway does not use.
	pub fn decode_fields(item: Item, fields: &mut &[u8]) -> Result<Option<Event>, Error> {
		let Item::Event { pallet, event } = item else { return Ok(None) };
		Ok(Some(match (pallet, event) {
			// The dispatch info after the error is not needed.
			("System", "ExtrinsicFailed") => {
				Event::ExtrinsicFailed { dispatch_error: DispatchError::decode(fields)? }
			}
			("Telemetry", "BatchProcessed") => {
				let b = BatchProcessed::decode(fields)?;
				Event::BatchProcessed {
					gateway: b.gateway,
					accepted: b.accepted,
					flagged: b.flagged,
					rejected: b.rejected,
				}
			}
			("Telemetry", "ReportRejected") => Event::ReportRejected {
				device_id: Decode::decode(fields)?,
				sequence: Decode::decode(fields)?,
				reason: Decode::decode(fields)?,
			},
			("Telemetry", "ReportFlagged") => Event::ReportFlagged {
				device_id: Decode::decode(fields)?,
				sequence: Decode::decode(fields)?,
				flags: Decode::decode(fields)?,
			},
			_ => return Ok(None),
		}))
	}
}

/// One record of a block's events.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventRecord {
	/// When in the block it was emitted.
	pub phase: frame_system::Phase,
	/// The event, if it is one the gateway uses and its shape is the one the gateway knows.
	pub event: Option<Event>,
	/// The event's bytes (pallet index, event index, fields), for tools that decode them with
	/// a runtime of their own.
	pub raw: Vec<u8>,
}

impl EventRecord {
	/// The event decoded as `E`: for tools that link a runtime and read its event type.
	pub fn decode_as<E: Decode>(&self) -> Result<E, Error> {
		E::decode(&mut &self.raw[..])
	}
}
