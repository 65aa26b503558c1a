//! The telemetry report a device signs, the payload it signs, and the chain's physics checks.
//!
//! This module is the single definition of the wire format: the oracle bridge builds and signs
//! [`IntervalReport`]s with it and the telemetry pallet verifies them with it, so both sides
//! always agree byte for byte.
//!
//! ## Sign convention
//!
//! Power is signed from the grid's point of view: **positive = delivered to the grid**
//! (generation, battery or V2G discharge, site export), **negative = drawn from the grid**
//! (consumption, charging, site import). Energy is never signed: each interval carries what was
//! imported and what was exported separately.

use crate::{
	AttestationSignature, BasisPoints, Capability, ComfortLimits, DeviceId, DeviceKind,
	UnixSeconds, WattHours, Watts, FULL_BP,
};
use codec::{Decode, DecodeWithMemTracking, Encode, MaxEncodedLen};
use scale_info::TypeInfo;

/// Operating state of the device, from SunSpec `St` (inverters, storage) or IEC 61851 states
/// A–F (EV charging).
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
	Default,
)]
pub enum DeviceState {
	/// Not reported.
	#[default]
	Unknown,
	/// SunSpec 1: off.
	Off,
	/// SunSpec 2: sleeping (auto-shutdown, e.g. at night).
	Sleeping,
	/// SunSpec 3: starting up.
	Starting,
	/// SunSpec 4: operating normally (tracking the maximum power point).
	Operating,
	/// SunSpec 5: operating with output limited.
	Throttled,
	/// SunSpec 6: shutting down.
	ShuttingDown,
	/// SunSpec 7: fault.
	Fault,
	/// SunSpec 8: standby.
	Standby,
	/// IEC 61851 A: no vehicle connected.
	EvNotConnected,
	/// IEC 61851 B: vehicle connected, not charging.
	EvConnected,
	/// IEC 61851 C: charging.
	EvCharging,
	/// IEC 61851 D: charging with ventilation.
	EvChargingVentilated,
	/// IEC 61851 E: no power (short circuit, supply problem).
	EvNoPower,
	/// IEC 61851 F: error.
	EvError,
}

impl DeviceState {
	/// The state for a SunSpec `St` register value (models 101–103, 124, 802).
	pub fn from_sunspec(st: u16) -> Self {
		match st {
			1 => DeviceState::Off,
			2 => DeviceState::Sleeping,
			3 => DeviceState::Starting,
			4 => DeviceState::Operating,
			5 => DeviceState::Throttled,
			6 => DeviceState::ShuttingDown,
			7 => DeviceState::Fault,
			8 => DeviceState::Standby,
			_ => DeviceState::Unknown,
		}
	}

	/// The state for an IEC 61851 control-pilot state letter.
	pub fn from_iec61851(state: char) -> Self {
		match state.to_ascii_uppercase() {
			'A' => DeviceState::EvNotConnected,
			'B' => DeviceState::EvConnected,
			'C' => DeviceState::EvCharging,
			'D' => DeviceState::EvChargingVentilated,
			'E' => DeviceState::EvNoPower,
			'F' => DeviceState::EvError,
			_ => DeviceState::Unknown,
		}
	}

	/// Whether the device can respond to dispatch in this state.
	pub fn is_available(self) -> bool {
		!matches!(
			self,
			DeviceState::Off
				| DeviceState::Fault
				| DeviceState::ShuttingDown
				| DeviceState::EvNotConnected
				| DeviceState::EvNoPower
				| DeviceState::EvError
		)
	}
}

/// Where the device stands with respect to demand response.
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
	Default,
)]
pub enum GridResponseStatus {
	/// Not part of any event.
	#[default]
	Idle,
	/// Told to respond, not yet responding.
	Dispatched,
	/// Responding to a dispatch.
	Responding,
	/// The owner overrode the dispatch.
	Overridden,
}

/// Data-quality flags the gateway sets on a report.
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
	Default,
)]
pub struct QualityFlags(pub u8);

impl QualityFlags {
	/// Energy was integrated from power samples, not read from the device's counters.
	pub const ESTIMATED: u8 = 1 << 0;
	/// Samples are missing inside the interval.
	pub const GAP: u8 = 1 << 1;
	/// The device's clock disagreed with the gateway's by more than the gateway tolerates.
	pub const CLOCK_SKEW: u8 = 1 << 2;
	/// The device's cumulative counters restarted (replacement, firmware reset); they may be
	/// lower than in the previous report.
	pub const COUNTER_RESET: u8 = 1 << 3;

	/// Whether `flag` is set.
	pub const fn contains(self, flag: u8) -> bool {
		self.0 & flag == flag
	}
}

/// One device's readings over one interval. Integers only; see the module docs for signs.
#[derive(
	Clone, PartialEq, Eq, Encode, Decode, DecodeWithMemTracking, MaxEncodedLen, TypeInfo, Debug,
)]
pub struct IntervalReport {
	pub device_id: DeviceId,
	/// Strictly increasing per device; the chain refuses anything not above the last accepted.
	#[codec(compact)]
	pub sequence: u64,
	/// Start of the interval (Unix seconds).
	#[codec(compact)]
	pub interval_start: UnixSeconds,
	/// Length of the interval (s), e.g. 900.
	#[codec(compact)]
	pub interval_length_s: u32,
	/// Energy drawn from the grid during the interval (Wh).
	#[codec(compact)]
	pub energy_imported_wh: WattHours,
	/// Energy delivered to the grid during the interval (Wh).
	#[codec(compact)]
	pub energy_exported_wh: WattHours,
	/// Lifetime import counter at the end of the interval (Wh); never decreases unless
	/// [`QualityFlags::COUNTER_RESET`] is set.
	#[codec(compact)]
	pub cumulative_imported_wh: WattHours,
	/// Lifetime export counter at the end of the interval (Wh).
	#[codec(compact)]
	pub cumulative_exported_wh: WattHours,
	/// Average power over the interval (W, positive = delivered to the grid).
	pub average_power_w: Watts,
	/// The sample of largest magnitude (W, same sign convention).
	pub peak_power_w: Watts,
	/// State of charge at the end of the interval (bp), for kinds that store energy.
	pub soc_bp: Option<BasisPoints>,
	pub device_state: DeviceState,
	pub grid_response: GridResponseStatus,
	/// Seconds the device was reachable during the interval.
	#[codec(compact)]
	pub online_s: u32,
	pub quality: QualityFlags,
}

impl IntervalReport {
	/// End of the interval (Unix seconds).
	pub fn interval_end(&self) -> UnixSeconds {
		self.interval_start.saturating_add(self.interval_length_s.into())
	}
}

/// What a device's attestation key signs for a report: the SCALE encoding of
/// `(genesis_hash, report)`. The genesis hash ties the signature to one chain.
pub fn report_signing_payload<Hash: Encode>(
	genesis_hash: &Hash,
	report: &IntervalReport,
) -> alloc::vec::Vec<u8> {
	(genesis_hash, report).encode()
}

/// A report with its device's signature.
#[derive(
	Clone, PartialEq, Eq, Encode, Decode, DecodeWithMemTracking, MaxEncodedLen, TypeInfo, Debug,
)]
pub struct SignedReport {
	pub report: IntervalReport,
	/// The device's attestation-key signature over [`report_signing_payload`].
	pub signature: AttestationSignature,
}

/// Why a report was rejected. Checks run in this order; the first failure decides.
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
)]
pub enum RejectionReason {
	/// No device has this id.
	UnknownDevice,
	/// The device exists but is not active (pending, rejected or suspended).
	DeviceNotActive,
	/// The submitter is not the gateway the device is bound to.
	WrongGateway,
	/// The signature does not verify against the device's attestation key for this chain.
	BadSignature,
	/// The sequence number is not above the last accepted one (a replay or duplicate).
	SequenceNotIncreasing,
	/// The interval length is below the chain's minimum or above its maximum.
	InvalidIntervalLength,
	/// The interval ends in the future (beyond the allowed clock skew).
	IntervalInFuture,
	/// The interval started before the chain's report horizon.
	IntervalTooOld,
	/// The interval starts before the previous accepted interval ended.
	IntervalOverlap,
}

/// Physics checks a signed, in-sequence report failed. Such a report is accepted as *flagged*:
/// recorded and counted against data quality, never counted as energy.
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
	Default,
)]
pub struct PlausibilityFlags(pub u16);

impl PlausibilityFlags {
	/// Imported or exported energy exceeds rated power × interval length (+ tolerance).
	pub const ENERGY_ABOVE_RATING: u16 = 1 << 0;
	/// Average or peak power exceeds the rated power (+ tolerance).
	pub const POWER_ABOVE_RATING: u16 = 1 << 1;
	/// State of charge above 10 000 bp.
	pub const SOC_OUT_OF_RANGE: u16 = 1 << 2;
	/// A state of charge for a kind that stores no energy.
	pub const SOC_NOT_APPLICABLE: u16 = 1 << 3;
	/// The change in stored energy (ΔSoC × capacity) disagrees with the metered energy.
	pub const SOC_ENERGY_MISMATCH: u16 = 1 << 4;
	/// More energy exported than was stored at the start plus what was imported.
	pub const DISCHARGE_EXCEEDS_STORED: u16 = 1 << 5;
	/// A cumulative counter went down without a counter-reset flag.
	pub const COUNTER_DECREASED: u16 = 1 << 6;
	/// The interval's energy exceeds the growth of the cumulative counter.
	pub const COUNTER_ENERGY_MISMATCH: u16 = 1 << 7;
	/// More seconds online than the interval has.
	pub const ONLINE_EXCEEDS_INTERVAL: u16 = 1 << 8;
	/// A kind that stores energy was online or moved energy without saying its state of charge,
	/// so nothing could check its energy against what it holds.
	pub const SOC_MISSING: u16 = 1 << 9;

	/// No check failed.
	pub const fn is_plausible(self) -> bool {
		self.0 == 0
	}

	/// Whether `flag` is set.
	pub const fn contains(self, flag: u16) -> bool {
		self.0 & flag == flag
	}

	fn set(&mut self, flag: u16, condition: bool) {
		if condition {
			self.0 |= flag;
		}
	}
}

/// How much measurement error the physics checks forgive.
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
)]
pub struct PlausibilityTolerances {
	/// Allowed excess of energy and power over the rating (bp), e.g. 500 = 5 %.
	pub rating_tolerance_bp: BasisPoints,
	/// Allowed disagreement between ΔSoC × capacity and metered energy, as a share of the energy
	/// that flowed (conversion losses; bp).
	pub soc_throughput_tolerance_bp: BasisPoints,
	/// Allowed disagreement as a share of capacity (SoC measurement error; bp).
	pub soc_capacity_tolerance_bp: BasisPoints,
}

/// A reading that carried a state of charge, with the counters at that moment: what the next
/// state of charge is checked against, even across readings without one.
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
	Default,
)]
pub struct SocAnchor {
	pub soc_bp: BasisPoints,
	pub cumulative_imported_wh: WattHours,
	pub cumulative_exported_wh: WattHours,
}

/// What the physics checks need from the device's previous accepted report.
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
	Default,
)]
pub struct PreviousReading {
	/// The counters of the previous report.
	pub cumulative_imported_wh: WattHours,
	pub cumulative_exported_wh: WattHours,
	/// The latest earlier reading with a state of charge (the previous report itself, if it had
	/// one).
	pub soc_anchor: Option<SocAnchor>,
}

impl PreviousReading {
	/// The previous reading for the report after `report`, given the anchor before it.
	pub fn after(report: &IntervalReport, anchor_before: Option<SocAnchor>) -> Self {
		PreviousReading {
			cumulative_imported_wh: report.cumulative_imported_wh,
			cumulative_exported_wh: report.cumulative_exported_wh,
			soc_anchor: report.soc_anchor().or(anchor_before),
		}
	}
}

impl IntervalReport {
	/// This report as an anchor for later state-of-charge checks, if it has a state of charge.
	pub fn soc_anchor(&self) -> Option<SocAnchor> {
		self.soc_bp.map(|soc_bp| SocAnchor {
			soc_bp,
			cumulative_imported_wh: self.cumulative_imported_wh,
			cumulative_exported_wh: self.cumulative_exported_wh,
		})
	}
}

fn bp_of(value: u128, bp: u128) -> u128 {
	value.saturating_mul(bp) / u128::from(FULL_BP)
}

/// Whether `energy_wh` fits in `power_w` over `seconds`, plus `tolerance_bp`.
fn energy_within(energy_wh: WattHours, power_w: u32, seconds: u32, tolerance_bp: u16) -> bool {
	// energy_wh × 3600 × 10 000 ≤ power_w × seconds × (10 000 + tolerance)
	let lhs = u128::from(energy_wh).saturating_mul(3_600).saturating_mul(FULL_BP.into());
	let rhs = u128::from(power_w)
		.saturating_mul(seconds.into())
		.saturating_mul(u128::from(FULL_BP) + u128::from(tolerance_bp));
	lhs <= rhs
}

/// Runs the physics checks on a signed, in-sequence report and returns the checks it failed.
///
/// `previous` is the device's last accepted reading, if any; the counter checks need it and are
/// skipped for a device's first report. The state-of-charge balance compares this report with
/// the latest earlier reading that had a state of charge, over the energy the counters say
/// flowed since, so leaving the state of charge out of some reports does not escape it.
pub fn check_plausibility(
	report: &IntervalReport,
	kind: DeviceKind,
	capability: &Capability,
	previous: Option<&PreviousReading>,
	tolerances: &PlausibilityTolerances,
) -> PlausibilityFlags {
	let mut flags = PlausibilityFlags::default();
	let rated = capability.rated_power_w;
	let tol = tolerances.rating_tolerance_bp;

	flags.set(
		PlausibilityFlags::ENERGY_ABOVE_RATING,
		!energy_within(report.energy_imported_wh, rated, report.interval_length_s, tol)
			|| !energy_within(report.energy_exported_wh, rated, report.interval_length_s, tol),
	);
	let max_power = bp_of(rated.into(), u128::from(FULL_BP) + u128::from(tol));
	flags.set(
		PlausibilityFlags::POWER_ABOVE_RATING,
		u128::from(report.average_power_w.unsigned_abs()) > max_power
			|| u128::from(report.peak_power_w.unsigned_abs()) > max_power,
	);
	flags.set(
		PlausibilityFlags::ONLINE_EXCEEDS_INTERVAL,
		report.online_s > report.interval_length_s,
	);

	// Counters are trustworthy when they did not restart and did not go down.
	let reset = report.quality.contains(QualityFlags::COUNTER_RESET);
	let mut counters_trusted = !reset;
	if let Some(prev) = previous.filter(|_| !reset) {
		let decreased = report.cumulative_imported_wh < prev.cumulative_imported_wh
			|| report.cumulative_exported_wh < prev.cumulative_exported_wh;
		flags.set(PlausibilityFlags::COUNTER_DECREASED, decreased);
		counters_trusted = !decreased;
		if !decreased {
			// Counters may also have grown during a gap before this interval, so the interval
			// may account for less than their growth, never for more (1 Wh of rounding).
			let imported_growth =
				report.cumulative_imported_wh.saturating_sub(prev.cumulative_imported_wh);
			let exported_growth =
				report.cumulative_exported_wh.saturating_sub(prev.cumulative_exported_wh);
			flags.set(
				PlausibilityFlags::COUNTER_ENERGY_MISMATCH,
				report.energy_imported_wh > imported_growth.saturating_add(1)
					|| report.energy_exported_wh > exported_growth.saturating_add(1),
			);
		}
	}

	match report.soc_bp {
		None => flags.set(
			PlausibilityFlags::SOC_MISSING,
			kind.has_storage()
				&& (report.online_s > 0
					|| report.energy_imported_wh > 0
					|| report.energy_exported_wh > 0),
		),
		Some(_) if !kind.has_storage() => flags.set(PlausibilityFlags::SOC_NOT_APPLICABLE, true),
		Some(soc) if soc > FULL_BP => flags.set(PlausibilityFlags::SOC_OUT_OF_RANGE, true),
		Some(soc) => {
			let anchor = previous.and_then(|p| p.soc_anchor);
			if let (Some(capacity), Some(anchor)) = (capability.storage_capacity_wh, anchor) {
				if let Some((imported_wh, exported_wh)) =
					flow_since(report, anchor, previous, counters_trusted)
				{
					let balance = StorageBalance {
						prev_soc: anchor.soc_bp.min(FULL_BP),
						soc,
						capacity_wh: capacity,
						imported_wh,
						exported_wh,
					};
					balance.check(kind, tolerances, &mut flags);
				}
			}
		}
	}
	flags
}

/// Energy (imported, exported) that flowed between `anchor` and the end of `report`: the
/// counters' growth when they are trustworthy; else this interval's energy, which covers the
/// whole span only when the anchor is the previous reading itself. `None` when it is unknown.
fn flow_since(
	report: &IntervalReport,
	anchor: SocAnchor,
	previous: Option<&PreviousReading>,
	counters_trusted: bool,
) -> Option<(WattHours, WattHours)> {
	if counters_trusted
		&& report.cumulative_imported_wh >= anchor.cumulative_imported_wh
		&& report.cumulative_exported_wh >= anchor.cumulative_exported_wh
	{
		return Some((
			report.cumulative_imported_wh - anchor.cumulative_imported_wh,
			report.cumulative_exported_wh - anchor.cumulative_exported_wh,
		));
	}
	let anchor_is_previous = previous.is_some_and(|p| {
		p.cumulative_imported_wh == anchor.cumulative_imported_wh
			&& p.cumulative_exported_wh == anchor.cumulative_exported_wh
	});
	anchor_is_previous.then_some((report.energy_imported_wh, report.energy_exported_wh))
}

/// The energy balance of a storage device between two readings.
struct StorageBalance {
	prev_soc: BasisPoints,
	soc: BasisPoints,
	capacity_wh: WattHours,
	/// Energy drawn between the readings (Wh).
	imported_wh: WattHours,
	/// Energy delivered between the readings (Wh).
	exported_wh: WattHours,
}

impl StorageBalance {
	fn check(
		&self,
		kind: DeviceKind,
		tolerances: &PlausibilityTolerances,
		flags: &mut PlausibilityFlags,
	) {
		let capacity = u128::from(self.capacity_wh);
		let imported = u128::from(self.imported_wh);
		let exported = u128::from(self.exported_wh);
		let stored_before = bp_of(capacity, self.prev_soc.into());
		let stored_after = bp_of(capacity, self.soc.into());
		let allowance =
			bp_of(imported.saturating_add(exported), tolerances.soc_throughput_tolerance_bp.into())
				.saturating_add(bp_of(capacity, tolerances.soc_capacity_tolerance_bp.into()));

		// Nothing can deliver more than it held plus what it took in.
		flags.set(
			PlausibilityFlags::DISCHARGE_EXCEEDS_STORED,
			exported > stored_before.saturating_add(imported).saturating_add(allowance),
		);

		// Stored energy must follow metered energy: Δstored ≈ imported − exported.
		// An EV also spends energy driving, unmetered, so for it only a gain is checked: it
		// cannot store more than it was charged.
		let gained_more_than_charged = stored_after.saturating_add(exported)
			> stored_before.saturating_add(imported).saturating_add(allowance);
		let lost_more_than_delivered = kind != DeviceKind::ElectricVehicle
			&& stored_before.saturating_add(imported)
				> stored_after.saturating_add(exported).saturating_add(allowance);
		flags.set(
			PlausibilityFlags::SOC_ENERGY_MISMATCH,
			gained_more_than_charged || lost_more_than_delivered,
		);
	}
}

/// What one device currently adds to the energy status map of its region.
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
	Default,
)]
pub struct LiveFigures {
	/// Devices counted.
	pub devices: u32,
	/// Power delivered to the grid (W).
	pub generation_w: u64,
	/// Power drawn from the grid (W).
	pub consumption_w: u64,
	/// Stored energy above the owners' reserves (Wh).
	pub storage_available_wh: u64,
	/// How much more the devices could deliver, or stop drawing, if dispatched now (W).
	pub flex_up_w: u64,
	/// How much more the devices could draw, or stop delivering, if dispatched now (W).
	pub flex_down_w: u64,
}

impl LiveFigures {
	/// Adds another set of figures.
	pub fn add(&mut self, other: &LiveFigures) {
		self.devices = self.devices.saturating_add(other.devices);
		self.generation_w = self.generation_w.saturating_add(other.generation_w);
		self.consumption_w = self.consumption_w.saturating_add(other.consumption_w);
		self.storage_available_wh =
			self.storage_available_wh.saturating_add(other.storage_available_wh);
		self.flex_up_w = self.flex_up_w.saturating_add(other.flex_up_w);
		self.flex_down_w = self.flex_down_w.saturating_add(other.flex_down_w);
	}

	/// Removes figures added before.
	pub fn subtract(&mut self, other: &LiveFigures) {
		self.devices = self.devices.saturating_sub(other.devices);
		self.generation_w = self.generation_w.saturating_sub(other.generation_w);
		self.consumption_w = self.consumption_w.saturating_sub(other.consumption_w);
		self.storage_available_wh =
			self.storage_available_wh.saturating_sub(other.storage_available_wh);
		self.flex_up_w = self.flex_up_w.saturating_sub(other.flex_up_w);
		self.flex_down_w = self.flex_down_w.saturating_sub(other.flex_down_w);
	}

	/// Whether nothing is counted.
	pub fn is_empty(&self) -> bool {
		*self == LiveFigures::default()
	}
}

/// What a device with this latest plausible reading adds to the status map.
///
/// Flexibility honours the owner's comfort limits: nothing while dispatch is outside the
/// owner's windows or the device is unavailable, and storage never below the reserve state of
/// charge. `minute_of_day` is the current UTC minute.
pub fn live_figures(
	report: &IntervalReport,
	kind: DeviceKind,
	capability: &Capability,
	comfort: &ComfortLimits,
	minute_of_day: u16,
) -> LiveFigures {
	let generation_w = u64::from(report.average_power_w.max(0).unsigned_abs());
	let consumption_w = u64::from(report.average_power_w.min(0).unsigned_abs());
	let max_charge_w = u64::from(capability.max_charge_w.unwrap_or(0));
	let max_discharge_w = u64::from(capability.max_discharge_w.unwrap_or(0));

	let soc = report.soc_bp.filter(|_| kind.has_storage()).map(|s| s.min(FULL_BP));
	let storage_available_wh = match (soc, capability.storage_capacity_wh) {
		(Some(soc), Some(capacity)) => {
			let above_reserve = soc.saturating_sub(comfort.min_reserve_soc_bp);
			u64::try_from(bp_of(capacity.into(), above_reserve.into())).unwrap_or(u64::MAX)
		}
		_ => 0,
	};

	let dispatchable = kind.is_dispatchable()
		&& report.device_state.is_available()
		&& comfort.allows_dispatch_at(minute_of_day);
	let (flex_up_w, flex_down_w) = if !dispatchable {
		(0, 0)
	} else if kind.has_storage() {
		let can_discharge = soc.is_some_and(|s| s > comfort.min_reserve_soc_bp);
		let can_charge = soc.is_none_or(|s| s < FULL_BP);
		(
			consumption_w.saturating_add(if can_discharge { max_discharge_w } else { 0 }),
			generation_w.saturating_add(if can_charge {
				max_charge_w.saturating_sub(consumption_w)
			} else {
				0
			}),
		)
	} else {
		// Controllable loads: shed what they draw, or draw up to their limit.
		(consumption_w, max_charge_w.saturating_sub(consumption_w))
	};

	LiveFigures {
		devices: 1,
		generation_w,
		consumption_w,
		storage_available_wh,
		flex_up_w,
		flex_down_w,
	}
}

#[cfg(test)]
mod tests {
	use super::*;
	use crate::DispatchWindow;
	use sp_core::H256;
	use sp_runtime::BoundedVec;

	const TOL: PlausibilityTolerances = PlausibilityTolerances {
		rating_tolerance_bp: 500,
		soc_throughput_tolerance_bp: 1_000,
		soc_capacity_tolerance_bp: 200,
	};

	fn battery() -> Capability {
		Capability {
			rated_power_w: 5_000,
			storage_capacity_wh: Some(10_000),
			max_charge_w: Some(5_000),
			max_discharge_w: Some(5_000),
		}
	}

	fn report() -> IntervalReport {
		IntervalReport {
			device_id: 1,
			sequence: 10,
			interval_start: 1_767_225_600,
			interval_length_s: 900,
			energy_imported_wh: 0,
			energy_exported_wh: 1_000,
			cumulative_imported_wh: 50_000,
			cumulative_exported_wh: 41_000,
			average_power_w: 4_000,
			peak_power_w: 4_500,
			soc_bp: Some(5_000),
			device_state: DeviceState::Operating,
			grid_response: GridResponseStatus::Idle,
			online_s: 900,
			quality: QualityFlags::default(),
		}
	}

	fn previous() -> PreviousReading {
		// 60 % of 10 kWh before; 1 kWh exported → 50 %.
		PreviousReading {
			cumulative_imported_wh: 50_000,
			cumulative_exported_wh: 40_000,
			soc_anchor: Some(SocAnchor {
				soc_bp: 6_000,
				cumulative_imported_wh: 50_000,
				cumulative_exported_wh: 40_000,
			}),
		}
	}

	fn previous_at_soc(soc_bp: BasisPoints) -> PreviousReading {
		let mut prev = previous();
		prev.soc_anchor = prev.soc_anchor.map(|a| SocAnchor { soc_bp, ..a });
		prev
	}

	fn check(
		report: &IntervalReport,
		kind: DeviceKind,
		cap: &Capability,
		prev: Option<&PreviousReading>,
	) -> u16 {
		check_plausibility(report, kind, cap, prev, &TOL).0
	}

	#[test]
	fn a_consistent_battery_report_passes() {
		assert_eq!(check(&report(), DeviceKind::HomeBattery, &battery(), Some(&previous())), 0);
		assert_eq!(check(&report(), DeviceKind::HomeBattery, &battery(), None), 0);
	}

	#[test]
	fn energy_and_power_above_rating_are_flagged() {
		// 5 kW × 0.25 h = 1.25 kWh; 5 % tolerance → 1312 Wh.
		let mut r = report();
		r.energy_exported_wh = 1_312;
		r.cumulative_exported_wh = 41_312;
		r.soc_bp = Some(4_688);
		assert_eq!(check(&r, DeviceKind::HomeBattery, &battery(), Some(&previous())), 0);
		r.energy_exported_wh = 1_313;
		r.cumulative_exported_wh = 41_313;
		assert_eq!(
			check(&r, DeviceKind::HomeBattery, &battery(), Some(&previous())),
			PlausibilityFlags::ENERGY_ABOVE_RATING
		);
		let mut r = report();
		r.peak_power_w = -5_251;
		assert_eq!(
			check(&r, DeviceKind::HomeBattery, &battery(), Some(&previous())),
			PlausibilityFlags::POWER_ABOVE_RATING
		);
	}

	#[test]
	fn a_solar_device_exporting_above_its_rating_is_flagged() {
		let solar = Capability { rated_power_w: 4_000, ..Default::default() };
		let mut r = report();
		r.soc_bp = None;
		r.energy_exported_wh = 2_000; // 8 kW for 15 minutes
		r.cumulative_exported_wh = 42_000;
		r.average_power_w = 3_900;
		r.peak_power_w = 3_900;
		assert_eq!(
			check(&r, DeviceKind::RooftopSolar, &solar, Some(&previous())),
			PlausibilityFlags::ENERGY_ABOVE_RATING
		);
	}

	#[test]
	fn a_battery_that_discharges_more_than_its_soc_allowed_is_flagged() {
		// Starts at 5 % of 10 kWh = 500 Wh, claims 1.2 kWh exported, ends at 0 %.
		let mut r = report();
		r.energy_exported_wh = 1_200;
		r.cumulative_exported_wh = 41_200;
		r.soc_bp = Some(0);
		let prev = previous_at_soc(500);
		let flags = PlausibilityFlags(check(&r, DeviceKind::HomeBattery, &battery(), Some(&prev)));
		assert!(flags.contains(PlausibilityFlags::DISCHARGE_EXCEEDS_STORED));
		assert!(flags.contains(PlausibilityFlags::SOC_ENERGY_MISMATCH));
	}

	#[test]
	fn soc_must_follow_metered_energy() {
		// Exports 1 kWh but SoC does not move: mismatch.
		let mut r = report();
		r.soc_bp = Some(6_000);
		assert_eq!(
			check(&r, DeviceKind::HomeBattery, &battery(), Some(&previous())),
			PlausibilityFlags::SOC_ENERGY_MISMATCH
		);
		// Within tolerance (10 % of 1 kWh + 2 % of 10 kWh = 300 Wh): SoC 52.5 % is fine.
		r.soc_bp = Some(5_250);
		assert_eq!(check(&r, DeviceKind::HomeBattery, &battery(), Some(&previous())), 0);
		// An EV may lose charge driving, unmetered...
		let ev = Capability { max_discharge_w: None, ..battery() };
		let mut drive = report();
		drive.energy_exported_wh = 0;
		drive.cumulative_exported_wh = 40_000;
		drive.average_power_w = 0;
		drive.peak_power_w = 0;
		drive.soc_bp = Some(3_000);
		assert_eq!(check(&drive, DeviceKind::ElectricVehicle, &ev, Some(&previous())), 0);
		// ...but cannot gain charge it was not given.
		drive.soc_bp = Some(9_000);
		assert_eq!(
			check(&drive, DeviceKind::ElectricVehicle, &ev, Some(&previous())),
			PlausibilityFlags::SOC_ENERGY_MISMATCH
		);
	}

	#[test]
	fn soc_range_and_applicability() {
		let mut r = report();
		r.soc_bp = Some(10_001);
		assert_eq!(
			check(&r, DeviceKind::HomeBattery, &battery(), Some(&previous())),
			PlausibilityFlags::SOC_OUT_OF_RANGE
		);
		let meter = Capability { rated_power_w: 40_000, ..Default::default() };
		r.soc_bp = Some(5_000);
		assert_eq!(
			check(&r, DeviceKind::SmartMeter, &meter, Some(&previous())),
			PlausibilityFlags::SOC_NOT_APPLICABLE
		);
	}

	#[test]
	fn counters_are_monotonic_unless_reset_and_cover_the_interval() {
		let mut r = report();
		r.cumulative_exported_wh = 39_000;
		assert_eq!(
			check(&r, DeviceKind::HomeBattery, &battery(), Some(&previous())),
			PlausibilityFlags::COUNTER_DECREASED
		);
		r.quality = QualityFlags(QualityFlags::COUNTER_RESET);
		assert_eq!(check(&r, DeviceKind::HomeBattery, &battery(), Some(&previous())), 0);
		// The interval claims 1 kWh but the counter grew by 500 Wh.
		let meter = Capability { rated_power_w: 40_000, ..Default::default() };
		let mut r = report();
		r.cumulative_exported_wh = 40_500;
		r.soc_bp = None;
		assert_eq!(
			check(&r, DeviceKind::SmartMeter, &meter, Some(&previous())),
			PlausibilityFlags::COUNTER_ENERGY_MISMATCH
		);
		// Growth beyond the interval (a gap before it) is fine.
		r.cumulative_exported_wh = 45_000;
		assert_eq!(check(&r, DeviceKind::SmartMeter, &meter, Some(&previous())), 0);
	}

	#[test]
	fn online_seconds_cannot_exceed_the_interval() {
		let mut r = report();
		r.online_s = 901;
		assert_eq!(
			check(&r, DeviceKind::HomeBattery, &battery(), Some(&previous())),
			PlausibilityFlags::ONLINE_EXCEEDS_INTERVAL
		);
	}

	#[test]
	fn storage_that_moves_energy_without_a_soc_is_flagged() {
		let mut r = report();
		r.soc_bp = None;
		assert_eq!(
			check(&r, DeviceKind::HomeBattery, &battery(), Some(&previous())),
			PlausibilityFlags::SOC_MISSING
		);
		// Online without energy still owes its state of charge.
		r.energy_exported_wh = 0;
		r.cumulative_exported_wh = 40_000;
		r.average_power_w = 0;
		r.peak_power_w = 0;
		assert_eq!(
			check(&r, DeviceKind::HomeBattery, &battery(), Some(&previous())),
			PlausibilityFlags::SOC_MISSING
		);
		// A device that was unreachable all interval and moved nothing has nothing to say.
		r.online_s = 0;
		assert_eq!(check(&r, DeviceKind::HomeBattery, &battery(), Some(&previous())), 0);
		// Kinds without storage never report one.
		let meter = Capability { rated_power_w: 40_000, ..Default::default() };
		assert_eq!(check(&report_without_soc(), DeviceKind::SmartMeter, &meter, None), 0);
	}

	fn report_without_soc() -> IntervalReport {
		IntervalReport { soc_bp: None, ..report() }
	}

	#[test]
	fn the_soc_balance_spans_readings_without_a_soc() {
		// The anchor: 60 % with export counter at 40 000 Wh. An offline report in between
		// carries no SoC but the counters moved on by 2 kWh; the next report claims 1 kWh more
		// and 50 %: 3 kWh out of a 10 kWh battery since the anchor cannot leave 50 %.
		let offline = IntervalReport {
			energy_exported_wh: 0,
			cumulative_exported_wh: 42_000,
			online_s: 0,
			soc_bp: None,
			..report()
		};
		assert_eq!(check(&offline, DeviceKind::HomeBattery, &battery(), Some(&previous())), 0);
		let after_offline = PreviousReading::after(&offline, previous().soc_anchor);
		assert_eq!(after_offline.soc_anchor, previous().soc_anchor);
		let mut r = report();
		r.cumulative_exported_wh = 43_000;
		assert_eq!(
			check(&r, DeviceKind::HomeBattery, &battery(), Some(&after_offline)),
			PlausibilityFlags::SOC_ENERGY_MISMATCH
		);
		// 30 % after 3 kWh out of 60 % is consistent.
		r.soc_bp = Some(3_000);
		assert_eq!(check(&r, DeviceKind::HomeBattery, &battery(), Some(&after_offline)), 0);
		// A report with a SoC becomes the next anchor.
		assert_eq!(PreviousReading::after(&r, after_offline.soc_anchor).soc_anchor, r.soc_anchor());
	}

	#[test]
	fn after_a_counter_reset_the_interval_energy_is_the_flow() {
		// Counters restarted: the balance uses the interval's own energy when the anchor is the
		// previous reading.
		let mut r = report();
		r.quality = QualityFlags(QualityFlags::COUNTER_RESET);
		r.cumulative_imported_wh = 0;
		r.cumulative_exported_wh = 1_000;
		assert_eq!(check(&r, DeviceKind::HomeBattery, &battery(), Some(&previous())), 0);
		r.soc_bp = Some(6_000);
		assert_eq!(
			check(&r, DeviceKind::HomeBattery, &battery(), Some(&previous())),
			PlausibilityFlags::SOC_ENERGY_MISMATCH
		);
		// With an older anchor the flow since it is unknown: no balance check.
		let older = PreviousReading { cumulative_exported_wh: 40_500, ..previous() };
		assert_eq!(check(&r, DeviceKind::HomeBattery, &battery(), Some(&older)), 0);
	}

	#[test]
	fn the_signing_payload_is_genesis_then_report() {
		let genesis = H256::repeat_byte(7);
		let payload = report_signing_payload(&genesis, &report());
		assert_eq!(&payload[..32], genesis.as_bytes());
		assert_eq!(&payload[32..], &report().encode()[..]);
		// Compact encoding keeps reports small.
		assert!(report().encode().len() < 60, "{}", report().encode().len());
	}

	#[test]
	fn live_figures_of_a_discharging_battery() {
		let comfort =
			ComfortLimits { min_reserve_soc_bp: 2_000, dispatch_windows: Default::default() };
		let figures = live_figures(&report(), DeviceKind::HomeBattery, &battery(), &comfort, 600);
		assert_eq!(
			figures,
			LiveFigures {
				devices: 1,
				generation_w: 4_000,
				consumption_w: 0,
				// (50 % − 20 %) of 10 kWh
				storage_available_wh: 3_000,
				// 0 W charging to stop + 5 kW discharge
				flex_up_w: 5_000,
				// stop the 4 kW discharge + charge at 5 kW
				flex_down_w: 9_000,
			}
		);
		// Outside the owner's dispatch window nothing is flexible.
		let window = ComfortLimits {
			min_reserve_soc_bp: 2_000,
			dispatch_windows: BoundedVec::truncate_from(vec![DispatchWindow {
				start_minute: 0,
				end_minute: 60,
			}]),
		};
		let outside = live_figures(&report(), DeviceKind::HomeBattery, &battery(), &window, 600);
		assert_eq!((outside.flex_up_w, outside.flex_down_w), (0, 0));
		assert_eq!(outside.storage_available_wh, 3_000);
		// At the reserve it cannot discharge further.
		let mut at_reserve = report();
		at_reserve.soc_bp = Some(2_000);
		at_reserve.average_power_w = -2_000;
		let f = live_figures(&at_reserve, DeviceKind::HomeBattery, &battery(), &comfort, 600);
		assert_eq!((f.storage_available_wh, f.flex_up_w, f.flex_down_w), (0, 2_000, 3_000));
	}

	#[test]
	fn live_figures_of_loads_and_meters() {
		let charger =
			Capability { rated_power_w: 11_000, max_charge_w: Some(11_000), ..Default::default() };
		let mut charging = report();
		charging.soc_bp = None;
		charging.average_power_w = -7_000;
		charging.device_state = DeviceState::EvCharging;
		let f =
			live_figures(&charging, DeviceKind::EvCharger, &charger, &ComfortLimits::default(), 0);
		assert_eq!((f.consumption_w, f.flex_up_w, f.flex_down_w), (7_000, 7_000, 4_000));
		charging.device_state = DeviceState::EvNotConnected;
		let f =
			live_figures(&charging, DeviceKind::EvCharger, &charger, &ComfortLimits::default(), 0);
		assert_eq!((f.flex_up_w, f.flex_down_w), (0, 0));
		let meter = Capability { rated_power_w: 40_000, ..Default::default() };
		let f =
			live_figures(&charging, DeviceKind::SmartMeter, &meter, &ComfortLimits::default(), 0);
		assert_eq!((f.devices, f.consumption_w, f.flex_up_w, f.flex_down_w), (1, 7_000, 0, 0));
	}
}

#[cfg(test)]
mod wire_format {
	use super::*;

	/// The example report of docs/telemetry.md. Its encoding is part of the protocol between
	/// gateways and the chain: if this test fails, the wire format changed.
	pub fn example() -> IntervalReport {
		IntervalReport {
			device_id: 3,
			sequence: 42,
			interval_start: 1_767_225_600,
			interval_length_s: 900,
			energy_imported_wh: 0,
			energy_exported_wh: 750,
			cumulative_imported_wh: 10_000,
			cumulative_exported_wh: 20_750,
			average_power_w: 3_000,
			peak_power_w: 3_400,
			soc_bp: Some(6_500),
			device_state: DeviceState::Operating,
			grid_response: GridResponseStatus::Responding,
			online_s: 900,
			quality: QualityFlags(QualityFlags::GAP),
		}
	}

	#[test]
	fn the_documented_example_encodes_as_documented() {
		let expected = concat!(
			"03000000",   // device_id: u32 = 3
			"a8",         // sequence: Compact(42)
			"0300b95569", // interval_start: Compact(1_767_225_600)
			"110e",       // interval_length_s: Compact(900)
			"00",         // energy_imported_wh: Compact(0)
			"b90b",       // energy_exported_wh: Compact(750)
			"419c",       // cumulative_imported_wh: Compact(10_000)
			"3a440100",   // cumulative_exported_wh: Compact(20_750)
			"b80b0000",   // average_power_w: i32 = 3000
			"480d0000",   // peak_power_w: i32 = 3400
			"016419",     // soc_bp: Some(6500)
			"04",         // device_state: Operating
			"02",         // grid_response: Responding
			"110e",       // online_s: Compact(900)
			"02",         // quality: GAP
		);
		assert_eq!(hex::encode(example().encode()), expected);
	}
}
