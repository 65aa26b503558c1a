//! The telemetry report a device signs, the payload it signs, and what a plausible report adds
//! to the energy status map. The physics checks are in [`crate::plausibility`].
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
	serde::Serialize,
	serde::Deserialize,
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
	serde::Serialize,
	serde::Deserialize,
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
	/// The interval starts before the device was last made active (approved or reinstated): no
	/// report may claim time in which the device did not count.
	BeforeActivation,
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
	serde::Serialize,
	serde::Deserialize,
)]
#[serde(rename_all = "camelCase")]
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
	/// The figures of a device behind a site meter: the meter counts its grid exchange (as part
	/// of the site's), so the device adds only itself, its storage and its flexibility.
	pub fn behind_site_meter(self) -> Self {
		LiveFigures { generation_w: 0, consumption_w: 0, ..self }
	}

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
		(Some(soc), Some(capacity)) => crate::demand_response::storage_energy_wh(
			capacity,
			soc,
			comfort.min_reserve_soc_bp,
			crate::demand_response::Direction::Up,
		),
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
