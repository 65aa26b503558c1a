//! Telemetry and the energy status map.

use alloc::vec::Vec;
use codec::{Decode, Encode};
use openvpp_primitives::{
	BasisPoints, DeviceId, DeviceKind, DeviceState, EpochTelemetry, GridResponseStatus,
	LiveFigures, UnixSeconds, WattHours, Watts,
};
use scale_info::TypeInfo;
use serde::{Deserialize, Serialize};

use super::json;

/// The latest reading the chain accepted from a device.
#[derive(Encode, Decode, TypeInfo, Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LatestReadingView {
	pub interval_start: UnixSeconds,
	pub interval_length_s: u32,
	/// Average power over the interval: positive = delivered to the grid (W).
	pub average_power_w: Watts,
	pub peak_power_w: Watts,
	pub soc_bp: Option<BasisPoints>,
	pub device_state: DeviceState,
	pub grid_response: GridResponseStatus,
	pub cumulative_imported_wh: WattHours,
	pub cumulative_exported_wh: WattHours,
	/// The plausibility checks the reading failed, as a bit set (0 = plausible; bits in
	/// `docs/telemetry.md`).
	pub plausibility_flags: u16,
}

/// A device's telemetry: its latest reading, its current epoch so far, and what it adds to
/// the energy status map now.
#[derive(Encode, Decode, TypeInfo, Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TelemetryView {
	pub device: DeviceId,
	/// Sequence number of the latest accepted report.
	pub last_sequence: u64,
	pub last_interval_end: UnixSeconds,
	pub latest: LatestReadingView,
	/// The epoch of the latest reading, totals so far.
	pub epoch: EpochTelemetry,
	/// The device's share of the energy status map while its latest reading is fresh.
	pub live: Option<LiveFigures>,
}

/// One region and device kind: registered capacity and live figures.
#[derive(Encode, Decode, TypeInfo, Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RegionKindStatusView {
	#[serde(with = "json::text")]
	pub region: Vec<u8>,
	pub kind: DeviceKind,
	/// Active (verified) devices registered here.
	pub active_devices: u32,
	/// Their rated power (W).
	pub rated_power_w: u64,
	/// Their storage capacity (Wh).
	pub storage_capacity_wh: u64,
	/// Figures of the devices whose latest reading is fresh: `live.devices` are online now.
	pub live: LiveFigures,
	/// When a reading last changed these live figures.
	pub updated_at: UnixSeconds,
}

/// Totals of one device kind over every region.
#[derive(Encode, Decode, TypeInfo, Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct KindTotals {
	pub kind: DeviceKind,
	pub active_devices: u32,
	pub rated_power_w: u64,
	pub storage_capacity_wh: u64,
	pub live: LiveFigures,
}

/// Totals over the whole network.
#[derive(Encode, Decode, TypeInfo, Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NetworkTotals {
	/// The chain's time at this block (Unix seconds).
	pub now: UnixSeconds,
	/// Devices registered, whatever their status.
	pub registered_devices: u32,
	pub active_devices: u32,
	pub rated_power_w: u64,
	pub storage_capacity_wh: u64,
	/// Live figures: `live.devices` are online now, `live.generationW` is delivered to the grid,
	/// `live.consumptionW` drawn from it, `live.storageAvailableWh` stored above reserves,
	/// `live.flexUpW` / `live.flexDownW` the flexibility.
	pub live: LiveFigures,
	pub by_kind: Vec<KindTotals>,
	/// Regions with active devices or live figures.
	pub regions: u32,
}
