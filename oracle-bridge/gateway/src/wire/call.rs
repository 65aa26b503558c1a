//! The calls a gateway signs.

use codec::Encode;
use openvpp_primitives::{DeviceId, RatedWatts, SignedReport};
use pallet_demand_response::EventId;
use sp_core::H256;

use crate::compat::Item;

/// A call a gateway signs, before it is encoded with the node's pallet and call indices.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Call {
	/// `Telemetry.submit_reports`: a batch of signed interval reports.
	SubmitReports { reports: Vec<SignedReport>, raw_data_digest: Option<H256> },
	/// `DemandResponse.join_event`: a consenting device joins an event with a commitment.
	JoinEvent { event: EventId, device: DeviceId, committed_w: RatedWatts },
}

impl Call {
	/// `Telemetry.submit_reports`.
	pub const SUBMIT_REPORTS: Item = Item::Call { pallet: "Telemetry", call: "submit_reports" };
	/// `DemandResponse.join_event`.
	pub const JOIN_EVENT: Item = Item::Call { pallet: "DemandResponse", call: "join_event" };

	/// The runtime item the call is.
	pub fn item(&self) -> Item {
		match self {
			Call::SubmitReports { .. } => Self::SUBMIT_REPORTS,
			Call::JoinEvent { .. } => Self::JOIN_EVENT,
		}
	}

	/// The call encoded for a runtime in which it is pallet `pallet_index`'s call `call_index`:
	/// the two indices, then the arguments in order.
	pub fn encode_with(&self, pallet_index: u8, call_index: u8) -> Vec<u8> {
		let mut out = vec![pallet_index, call_index];
		match self {
			// A bounded vector encodes as the vector.
			Call::SubmitReports { reports, raw_data_digest } => {
				reports.encode_to(&mut out);
				raw_data_digest.encode_to(&mut out);
			}
			Call::JoinEvent { event, device, committed_w } => {
				event.encode_to(&mut out);
				device.encode_to(&mut out);
				committed_w.encode_to(&mut out);
			}
		}
		out
	}
}
