//! The runtime's answers to [`openvpp_runtime_api::VppApi`]: each pallet's storage mapped into
//! the API's views. Reading across pallets is fine here — this is the runtime, where the pallets
//! are wired together — and nothing here writes.

mod demand_response;
mod devices;
mod energy;
mod governance;
mod rewards;

pub use demand_response::{dr_event, dr_events};
pub use devices::{device, devices_by_gateway, devices_by_owner, devices_by_region};
pub use energy::{device_telemetry, energy_status, network_totals};
pub use governance::referenda;
pub use rewards::{device_results, epoch_results, rewards_status};

use frame_support::traits::UnixTime;
use openvpp_primitives::UnixSeconds;

/// The chain's time at the block being read.
fn now() -> UnixSeconds {
	<crate::Timestamp as UnixTime>::now().as_secs()
}
