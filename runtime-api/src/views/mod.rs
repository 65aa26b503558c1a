//! The records the runtime API answers with. Quantities carry their unit in the field name;
//! see the crate docs for how the JSON-RPC renders them.

mod demand_response;
mod device;
mod energy;
mod governance;
mod json;
mod rewards;

pub use demand_response::*;
pub use device::*;
pub use energy::*;
pub use governance::*;
pub use rewards::*;

/// Most items one page holds.
pub const MAX_PAGE_SIZE: u32 = 100;
/// Most devices one `devices_by_region` call looks at.
pub const MAX_REGION_SCAN: u32 = 2_000;
/// Most event ids one `dr_events` call looks at.
pub const MAX_EVENT_SCAN: u32 = 1_000;
/// Most referendum indices one `referenda` call looks at.
pub const MAX_REFERENDUM_SCAN: u32 = 200;
/// Most epochs `device_results` returns.
pub const MAX_RESULT_EPOCHS: u32 = 30;

/// `limit` clamped to `1..=MAX_PAGE_SIZE`. The JSON-RPC refuses limits outside that range
/// before asking the runtime; the runtime clamps for callers that ask it directly.
pub fn page_limit(limit: u32) -> usize {
	limit.clamp(1, MAX_PAGE_SIZE) as usize
}
