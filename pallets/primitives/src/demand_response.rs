//! Demand response as the other pallets see it: what an event asks of a device, what the
//! telemetry pallet tells the demand-response pallet about the devices it measures, and how
//! much a device can offer an event.
//!
//! ## Directions
//!
//! Every event moves a device's **net import** (energy drawn from the grid minus energy
//! delivered to it) one way. *Reduce load* and *discharge storage* ask for less net import
//! ([`Direction::Up`]: the grid sees more supply); *absorb / charge* asks for more
//! ([`Direction::Down`]). Measuring everything as net import lets one formula serve all kinds:
//! delivered = baseline − actual for `Up`, actual − baseline for `Down`, never below zero.

use codec::{Decode, DecodeWithMemTracking, Encode, MaxEncodedLen};
use scale_info::TypeInfo;
use sp_runtime::Weight;

use crate::{
	plausibility::bp_of, BasisPoints, Capability, ComfortLimits, DeviceId, DeviceKind, DeviceState,
	GridResponseStatus, UnixSeconds, WattHours, Watts, FULL_BP, MINUTES_PER_DAY,
};

/// What an event asks devices to do.
#[derive(
	Clone,
	Copy,
	PartialEq,
	Eq,
	Encode,
	Decode,
	DecodeWithMemTracking,
	MaxEncodedLen,
	TypeInfo,
	Debug,
	serde::Serialize,
	serde::Deserialize,
)]
pub enum EventKind {
	/// Draw less from the grid (shed or shift load).
	ReduceLoad,
	/// Deliver stored energy to the grid.
	DischargeStorage,
	/// Draw more from the grid: charge storage, run flexible loads (renewable surplus, low
	/// prices).
	AbsorbCharge,
}

/// Which way an event moves a device's net import.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Direction {
	/// Less net import: less drawn, more delivered.
	Up,
	/// More net import: more drawn, less delivered.
	Down,
}

impl EventKind {
	pub const fn direction(self) -> Direction {
		match self {
			EventKind::ReduceLoad | EventKind::DischargeStorage => Direction::Up,
			EventKind::AbsorbCharge => Direction::Down,
		}
	}
}

/// A set of device kinds, one bit per [`DeviceKind`] in declaration order.
#[derive(
	Clone,
	Copy,
	PartialEq,
	Eq,
	Default,
	Encode,
	Decode,
	DecodeWithMemTracking,
	MaxEncodedLen,
	TypeInfo,
	Debug,
)]
pub struct KindSet(pub u8);

impl KindSet {
	pub fn of(kinds: &[DeviceKind]) -> Self {
		KindSet(kinds.iter().fold(0, |bits, kind| bits | Self::bit(*kind)))
	}

	pub fn contains(self, kind: DeviceKind) -> bool {
		self.0 & Self::bit(kind) != 0
	}

	pub fn is_empty(self) -> bool {
		self.0 & Self::all_bits() == 0
	}

	/// Whether bits beyond the known kinds are set.
	pub fn is_valid(self) -> bool {
		self.0 & !Self::all_bits() == 0
	}

	fn bit(kind: DeviceKind) -> u8 {
		1 << (kind as u8)
	}

	fn all_bits() -> u8 {
		KindSet::of(&DeviceKind::ALL).0
	}
}

/// One interval of a measured device, as the telemetry pallet accepted it.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct MeasuredInterval {
	pub interval_start: UnixSeconds,
	pub interval_length_s: u32,
	pub energy_imported_wh: WattHours,
	pub energy_exported_wh: WattHours,
	pub soc_bp: Option<BasisPoints>,
	pub grid_response: GridResponseStatus,
	/// Whether the report passed every physics check. A flagged interval delivers nothing.
	pub plausible: bool,
}

impl MeasuredInterval {
	pub fn interval_end(&self) -> UnixSeconds {
		self.interval_start.saturating_add(self.interval_length_s.into())
	}

	/// Energy drawn minus energy delivered (Wh).
	pub fn net_import_wh(&self) -> i64 {
		let imported = i64::try_from(self.energy_imported_wh).unwrap_or(i64::MAX);
		let exported = i64::try_from(self.energy_exported_wh).unwrap_or(i64::MAX);
		imported.saturating_sub(exported)
	}
}

/// Told of every accepted report of a device that demand response measures (see
/// [`MeasuredDevices`]); the telemetry pallet calls it and nothing for other devices.
pub trait MeasurementSink {
	/// Records the interval; returns the weight used.
	fn on_measured_interval(
		device: DeviceId,
		kind: DeviceKind,
		interval: &MeasuredInterval,
	) -> Weight;
	/// The most [`Self::on_measured_interval`] can use, for a batch's declared weight.
	fn max_measurement_weight() -> Weight;
}

impl MeasurementSink for () {
	fn on_measured_interval(_: DeviceId, _: DeviceKind, _: &MeasuredInterval) -> Weight {
		Weight::zero()
	}
	fn max_measurement_weight() -> Weight {
		Weight::zero()
	}
}

/// The device's latest accepted reading, for checking what it can offer an event.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct LatestDeviceReading {
	pub interval_end: UnixSeconds,
	/// Average power (W, positive = delivered to the grid).
	pub average_power_w: Watts,
	pub soc_bp: Option<BasisPoints>,
	pub device_state: DeviceState,
	/// Whether it passed every physics check.
	pub plausible: bool,
}

/// The telemetry pallet, as demand response sees it.
pub trait MeasuredDevices {
	/// Starts (`true`) or stops passing the device's reports to the [`MeasurementSink`].
	/// Returns `false`, changing nothing, if the device has never reported.
	fn set_measured(device: DeviceId, measured: bool) -> bool;
	/// The device's latest accepted reading, if any.
	fn latest_reading(device: DeviceId) -> Option<LatestDeviceReading>;
	/// Weight of [`Self::set_measured`].
	fn set_measured_weight() -> Weight;
}

/// What a device can offer an event in its direction, from its capability, comfort limits and
/// latest reading.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
pub struct Flexibility {
	/// Power it can move in the event's direction (W).
	pub power_w: u64,
	/// Energy its storage can give in that direction within its reserve (Wh); `None` for kinds
	/// without storage.
	pub energy_wh: Option<WattHours>,
}

/// The energy storage of `capacity_wh` at `soc_bp` can give towards `direction` (Wh): above the
/// owner's reserve when discharging (`Up`), up to full when charging (`Down`).
pub fn storage_energy_wh(
	capacity_wh: WattHours,
	soc_bp: BasisPoints,
	reserve_bp: BasisPoints,
	direction: Direction,
) -> WattHours {
	let soc = soc_bp.min(FULL_BP);
	let share = match direction {
		Direction::Up => soc.saturating_sub(reserve_bp),
		Direction::Down => FULL_BP.saturating_sub(soc),
	};
	u64::try_from(bp_of(capacity_wh.into(), share.into())).unwrap_or(u64::MAX)
}

/// The flexibility of a device towards `direction`.
///
/// `Up`: what it draws now (it can stop) plus, for storage above its reserve, its maximum
/// discharge; the energy is what lies above the reserve. `Down`: for storage below full, its
/// maximum charge less what it draws now, plus what it delivers now; for a controllable load,
/// its limit less what it draws; the energy is the room left in the storage. Kinds that cannot
/// be dispatched, and devices that are not available, offer nothing.
pub fn flexibility(
	kind: DeviceKind,
	capability: &Capability,
	comfort: &ComfortLimits,
	reading: &LatestDeviceReading,
	direction: Direction,
) -> Flexibility {
	if !reading.plausible || !reading.device_state.is_available() {
		return Flexibility::default();
	}
	let delivering_w = u64::from(reading.average_power_w.max(0).unsigned_abs());
	let drawing_w = u64::from(reading.average_power_w.min(0).unsigned_abs());
	let max_charge_w = u64::from(capability.max_charge_w.unwrap_or(0));
	let max_discharge_w = u64::from(capability.max_discharge_w.unwrap_or(0));
	// A site meter measures a whole connection: what it draws or delivers can move either way.
	if kind == DeviceKind::SmartMeter {
		let power_w = match direction {
			Direction::Up => drawing_w,
			Direction::Down => delivering_w,
		};
		return Flexibility { power_w, energy_wh: None };
	}
	if !kind.is_dispatchable() {
		return Flexibility::default();
	}
	if !kind.has_storage() {
		let power_w = match direction {
			Direction::Up => drawing_w.saturating_add(max_discharge_w),
			Direction::Down => max_charge_w.saturating_sub(drawing_w),
		};
		return Flexibility { power_w, energy_wh: None };
	}
	let capacity = capability.storage_capacity_wh.unwrap_or(0);
	// Without a state of charge, storage has nothing it can be counted on for.
	let energy_wh = reading
		.soc_bp
		.map(|soc| storage_energy_wh(capacity, soc, comfort.min_reserve_soc_bp, direction))
		.unwrap_or(0);
	let power_w = match direction {
		Direction::Up => {
			let discharge = if energy_wh > 0 { max_discharge_w } else { 0 };
			drawing_w.saturating_add(discharge)
		}
		Direction::Down => {
			let charge = if energy_wh > 0 { max_charge_w.saturating_sub(drawing_w) } else { 0 };
			delivering_w.saturating_add(charge)
		}
	};
	Flexibility { power_w, energy_wh: Some(energy_wh) }
}

/// Whether one of the owner's dispatch windows covers the whole of `[start, start + duration)`
/// (UTC minutes of the day). No windows means any time.
pub fn comfort_allows(comfort: &ComfortLimits, start: UnixSeconds, duration_s: u32) -> bool {
	if comfort.dispatch_windows.is_empty() {
		return true;
	}
	let minutes_per_day = u64::from(MINUTES_PER_DAY);
	let start_minute = (start / 60) % minutes_per_day;
	// The minutes the event touches, its last partial minute included.
	let span = u64::from(duration_s).div_ceil(60).max(1);
	comfort.dispatch_windows.iter().any(|window| {
		let from = u64::from(window.start_minute);
		let to = u64::from(window.end_minute);
		let length = if from < to { to - from } else { minutes_per_day - from + to };
		let offset = (start_minute + minutes_per_day - from) % minutes_per_day;
		offset.saturating_add(span) <= length
	})
}

/// Where an event is in its life.
#[derive(
	Clone,
	Copy,
	PartialEq,
	Eq,
	Encode,
	Decode,
	DecodeWithMemTracking,
	MaxEncodedLen,
	TypeInfo,
	Debug,
	serde::Serialize,
	serde::Deserialize,
)]
pub enum EventStatus {
	/// Announced; devices join until the opt-in deadline, then the participants are selected.
	Scheduled,
	/// Between start and end: selected devices respond and are measured.
	Active,
	/// Ended; late reports of its intervals are still measured until the grace period is over.
	Completed,
	/// Every participant was paid from the escrow and the rest returned to the operator.
	Settled,
	/// The operator (or the admin) called it off before its end; the escrow was refunded.
	Cancelled,
}

impl EventStatus {
	pub fn is_final(self) -> bool {
		matches!(self, EventStatus::Settled | EventStatus::Cancelled)
	}
}

/// Who joined a device to an event.
#[derive(
	Clone,
	Copy,
	PartialEq,
	Eq,
	Encode,
	Decode,
	DecodeWithMemTracking,
	MaxEncodedLen,
	TypeInfo,
	Debug,
	serde::Serialize,
	serde::Deserialize,
)]
pub enum JoinedBy {
	Owner,
	/// The device's gateway, within the owner's consent.
	Gateway,
}

/// The baseline a participant is measured against, fixed at its first interval in the event.
#[derive(
	Clone,
	Copy,
	PartialEq,
	Eq,
	Encode,
	Decode,
	DecodeWithMemTracking,
	MaxEncodedLen,
	TypeInfo,
	Debug,
	serde::Serialize,
	serde::Deserialize,
)]
#[serde(rename_all = "camelCase", rename_all_fields = "camelCase")]
pub enum Baseline {
	/// Meter-before: the device's average net import over its last intervals before the start
	/// (W).
	MeterBefore { net_import_w: i64 },
	/// "10 of 10" per hour of the day, scaled by the same-day adjustment (bp, 8 000–12 000).
	TenOfTen { adjustment_bp: u32 },
	/// Not enough history: the participant cannot be measured and delivers nothing.
	Unavailable,
}

#[cfg(test)]
mod tests;
