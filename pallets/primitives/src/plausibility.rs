//! The chain's physics checks of a signed report, and the reference they compare it with.
//!
//! A report is checked on its own (its energy and power against what the device's declared
//! capability allows, its net energy against its average power) and against the device's
//! **energy reference**: the counters and state of charge the chain last trusted. Only a
//! plausible report moves the reference. A flagged report leaves it where it was, so the next
//! report is checked against what is known rather than against what a rejected claim said; a
//! declared counter reset re-bases the counters (they restarted) but is itself flagged, and the
//! flow across it is carried as unaccounted energy into the state-of-charge balance.
//!
//! ## Limits by direction
//!
//! What a device may draw and deliver follows its declared capability, which the registry
//! checked against the kind's table ([`crate::DeviceKind::capability_rules`]):
//!
//! | kind | import limit | export limit |
//! |---|---|---|
//! | storage, EV, charger, energy manager | `max_charge_w` | `max_discharge_w`, or none (cannot deliver) |
//! | rooftop solar, smart meter | `rated_power_w` | `rated_power_w` |
//!
//! Every limit is allowed the rating tolerance ([`PlausibilityTolerances::rating_tolerance_bp`]).

use codec::{Decode, DecodeWithMemTracking, Encode, MaxEncodedLen};
use scale_info::TypeInfo;

use crate::{
	BasisPoints, Capability, DeviceKind, IntervalReport, QualityFlags, RatedWatts, UnixSeconds,
	WattHours, FULL_BP,
};

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
	/// Import and export together need more time at the device's limits than the interval has:
	/// `imported / import limit + exported / export limit > length` (+ tolerance).
	pub const ENERGY_ABOVE_RATING: u16 = 1 << 0;
	/// Average or peak power beyond the limit of its direction (+ tolerance).
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
	/// Energy or power delivered to the grid by a device whose capability cannot deliver (an EV
	/// or charger without bidirectional capability, an energy manager without an export limit).
	pub const EXPORT_NOT_CAPABLE: u16 = 1 << 10;
	/// The interval's net energy disagrees with its average power × length.
	pub const NET_ENERGY_POWER_MISMATCH: u16 = 1 << 11;
	/// The gateway declared a counter reset. A reset is never free: the report counts against
	/// data quality and its energy is not counted.
	pub const COUNTER_RESET: u16 = 1 << 12;
	/// The counters grew faster since they were last read than the device's limits allow.
	pub const COUNTERS_TOO_FAST: u16 = 1 << 13;
	/// The device was offline all interval, yet its counters moved by more than the energy the
	/// report claims.
	pub const OFFLINE_COUNTERS_MOVED: u16 = 1 << 14;

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
	/// Allowed excess of energy and power over a limit (bp), e.g. 500 = 5 %; also the allowed
	/// disagreement between net energy and average power × length, as a share of the rated
	/// energy of the interval.
	pub rating_tolerance_bp: BasisPoints,
	/// Allowed disagreement between ΔSoC × capacity and metered energy, as a share of the energy
	/// that flowed (conversion losses; bp).
	pub soc_throughput_tolerance_bp: BasisPoints,
	/// Allowed disagreement as a share of capacity (SoC measurement error; bp).
	pub soc_capacity_tolerance_bp: BasisPoints,
}

/// The latest state of charge the chain trusted, and the energy that flowed since.
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
	/// Energy drawn since the anchor's reading, by the trusted counters (Wh).
	pub imported_since_wh: WattHours,
	/// Energy delivered since the anchor's reading, by the trusted counters (Wh).
	pub exported_since_wh: WattHours,
	/// Energy that may have flowed since without any trusted counter showing it — across a
	/// counter reset, at most the device's limit × the time the counters could not account for
	/// (Wh). It widens the balance's allowance, nothing else.
	pub unaccounted_wh: WattHours,
}

/// What the chain knows of a device's energy before its next report: moved only by plausible
/// reports (and, for the counters, by a declared reset).
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
pub struct EnergyReference {
	/// The trusted cumulative counters (Wh).
	pub cumulative_imported_wh: WattHours,
	pub cumulative_exported_wh: WattHours,
	/// When they were read: the end of the interval of the report they came from, if the
	/// device was online in it (an offline report carries counters read earlier).
	pub counters_read_at: UnixSeconds,
	/// The latest trusted state of charge, for storage kinds.
	pub soc_anchor: Option<SocAnchor>,
}

/// The result of the physics checks: what failed, and the reference for the next report.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Assessment {
	pub flags: PlausibilityFlags,
	/// The reference after this report: the report's own when it was plausible, re-based
	/// counters after a declared reset, else unchanged.
	pub reference: Option<EnergyReference>,
}

/// The highest power the device may draw (W).
pub fn import_limit_w(kind: DeviceKind, capability: &Capability) -> RatedWatts {
	match kind {
		DeviceKind::RooftopSolar | DeviceKind::SmartMeter => capability.rated_power_w,
		_ => capability.max_charge_w.unwrap_or(capability.rated_power_w),
	}
}

/// The highest power the device may deliver (W); zero for a device that cannot deliver.
pub fn export_limit_w(kind: DeviceKind, capability: &Capability) -> RatedWatts {
	match kind {
		DeviceKind::RooftopSolar | DeviceKind::SmartMeter => capability.rated_power_w,
		_ => capability.max_discharge_w.unwrap_or(0),
	}
}

pub(crate) fn bp_of(value: u128, bp: u128) -> u128 {
	value.saturating_mul(bp) / u128::from(FULL_BP)
}

/// Watt-seconds in a watt-hour.
const WS_PER_WH: u128 = 3_600;

/// Whether `energy_wh` fits in `power_w` over `seconds`, plus `tolerance_bp`.
fn energy_within(energy_wh: WattHours, power_w: u32, seconds: u64, tolerance_bp: u16) -> bool {
	// energy_wh × 3600 × 10 000 ≤ power_w × seconds × (10 000 + tolerance)
	let lhs = u128::from(energy_wh).saturating_mul(WS_PER_WH).saturating_mul(FULL_BP.into());
	let rhs = u128::from(power_w)
		.saturating_mul(seconds.into())
		.saturating_mul(u128::from(FULL_BP) + u128::from(tolerance_bp));
	lhs <= rhs
}

/// The most energy `power_w` moves in `seconds` (Wh, rounded up).
fn energy_at(power_w: u32, seconds: u64) -> WattHours {
	let ws = u128::from(power_w).saturating_mul(seconds.into());
	WattHours::try_from(ws.div_ceil(WS_PER_WH)).unwrap_or(WattHours::MAX)
}

/// Runs the physics checks on a signed, in-sequence report.
///
/// `reference` is what the chain knows of the device's energy before it (none for a device's
/// first report, or while nothing it sent was ever trusted); the counter and state-of-charge
/// checks need it.
pub fn check_plausibility(
	report: &IntervalReport,
	kind: DeviceKind,
	capability: &Capability,
	reference: Option<&EnergyReference>,
	tolerances: &PlausibilityTolerances,
) -> Assessment {
	let mut flags = PlausibilityFlags::default();
	let tol = tolerances.rating_tolerance_bp;
	let import_limit = import_limit_w(kind, capability);
	let export_limit = export_limit_w(kind, capability);

	check_interval_energy(report, capability, import_limit, export_limit, tol, &mut flags);
	flags.set(
		PlausibilityFlags::ONLINE_EXCEEDS_INTERVAL,
		report.online_s > report.interval_length_s,
	);

	// The counters: monotonic unless a reset is declared, covering the interval's energy, no
	// faster than the limits since they were last read, still while the device was offline.
	let reset = report.quality.contains(QualityFlags::COUNTER_RESET);
	flags.set(PlausibilityFlags::COUNTER_RESET, reset);
	let growth = match reference.filter(|_| !reset) {
		Some(reference) => {
			check_counters(report, reference, (import_limit, export_limit), tol, &mut flags)
		}
		None => None,
	};

	// The energy that flowed since the state-of-charge anchor, and how much of it is unknown.
	let span_max_flow = |from: UnixSeconds| {
		energy_at(import_limit.max(export_limit), report.interval_end().saturating_sub(from))
	};
	let flow_since_reference = match (growth, reference) {
		(Some(growth), _) => Some((growth, 0)),
		// Counters restarted: the only flow the chain can vouch for is none, and everything
		// since the counters were last read may have flowed unseen.
		(None, Some(reference)) if reset => {
			Some(((0, 0), span_max_flow(reference.counters_read_at)))
		}
		_ => None,
	};

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
			let anchor = reference.and_then(|r| r.soc_anchor);
			if let (Some(capacity), Some(anchor), Some(((imported, exported), unknown))) =
				(capability.storage_capacity_wh, anchor, flow_since_reference)
			{
				let balance = StorageBalance {
					prev_soc: anchor.soc_bp.min(FULL_BP),
					soc,
					capacity_wh: capacity,
					imported_wh: anchor.imported_since_wh.saturating_add(imported),
					exported_wh: anchor.exported_since_wh.saturating_add(exported),
					unaccounted_wh: anchor.unaccounted_wh.saturating_add(unknown),
				};
				balance.check(kind, tolerances, &mut flags);
			}
		}
	}

	let next = next_reference(report, reference, flags, flow_since_reference);
	Assessment { flags, reference: next }
}

/// The interval on its own: energy through the connection as a whole, power by direction, net
/// energy against average power.
fn check_interval_energy(
	report: &IntervalReport,
	capability: &Capability,
	import_limit: RatedWatts,
	export_limit: RatedWatts,
	tol: BasisPoints,
	flags: &mut PlausibilityFlags,
) {
	let length = u64::from(report.interval_length_s);
	let imported = u128::from(report.energy_imported_wh);
	let exported = u128::from(report.energy_exported_wh);

	// A device cannot deliver what its capability cannot deliver.
	let delivers =
		report.energy_exported_wh > 0 || report.average_power_w > 0 || report.peak_power_w > 0;
	flags.set(PlausibilityFlags::EXPORT_NOT_CAPABLE, export_limit == 0 && delivers);

	// Time at the limits: imported / import_limit + exported / export_limit ≤ length, in
	// integers: (imported × export_limit + exported × import_limit) × 3600 × 10 000
	//          ≤ length × import_limit × export_limit × (10 000 + tol).
	// (Export by a device that cannot deliver is flagged above, not again here.)
	let (il, el) = (u128::from(import_limit), u128::from(export_limit.max(1)));
	let exported_time = if export_limit == 0 { 0 } else { exported.saturating_mul(il) };
	let used = imported
		.saturating_mul(el)
		.saturating_add(exported_time)
		.saturating_mul(WS_PER_WH)
		.saturating_mul(FULL_BP.into());
	let available = u128::from(length)
		.saturating_mul(il)
		.saturating_mul(el)
		.saturating_mul(u128::from(FULL_BP) + u128::from(tol));
	flags.set(PlausibilityFlags::ENERGY_ABOVE_RATING, used > available);

	let within = |power: i32| {
		let limit = if power >= 0 { export_limit } else { import_limit };
		limit == 0
			|| u128::from(power.unsigned_abs())
				<= bp_of(limit.into(), u128::from(FULL_BP) + u128::from(tol))
	};
	flags.set(
		PlausibilityFlags::POWER_ABOVE_RATING,
		!within(report.average_power_w) || !within(report.peak_power_w),
	);

	// Net energy × 3600 ≈ average power × length, within the rounding of one watt-hour and of
	// the average, plus the tolerance's share of the rated energy of the interval.
	let net_ws = i128::from(report.energy_exported_wh)
		.saturating_sub(i128::from(report.energy_imported_wh))
		.saturating_mul(WS_PER_WH as i128);
	let power_ws = i128::from(report.average_power_w).saturating_mul(i128::from(length));
	let allowed_ws = WS_PER_WH.saturating_add(u128::from(length)).saturating_add(bp_of(
		u128::from(capability.rated_power_w).saturating_mul(length.into()),
		tol.into(),
	));
	flags.set(PlausibilityFlags::NET_ENERGY_POWER_MISMATCH, net_ws.abs_diff(power_ws) > allowed_ws);
}

/// The counter checks against the reference. Returns the counters' growth (imported,
/// exported) when they can be trusted.
fn check_counters(
	report: &IntervalReport,
	reference: &EnergyReference,
	(import_limit, export_limit): (RatedWatts, RatedWatts),
	tol: BasisPoints,
	flags: &mut PlausibilityFlags,
) -> Option<(WattHours, WattHours)> {
	let decreased = report.cumulative_imported_wh < reference.cumulative_imported_wh
		|| report.cumulative_exported_wh < reference.cumulative_exported_wh;
	flags.set(PlausibilityFlags::COUNTER_DECREASED, decreased);
	if decreased {
		return None;
	}
	let imported = report.cumulative_imported_wh - reference.cumulative_imported_wh;
	let exported = report.cumulative_exported_wh - reference.cumulative_exported_wh;

	// Counters may also have grown while nothing was reported, so the interval may account
	// for less than their growth, never for more (1 Wh of rounding).
	flags.set(
		PlausibilityFlags::COUNTER_ENERGY_MISMATCH,
		report.energy_imported_wh > imported.saturating_add(1)
			|| report.energy_exported_wh > exported.saturating_add(1),
	);
	// But no faster than the device's limits since the counters were last read.
	let since_read = report.interval_end().saturating_sub(reference.counters_read_at);
	flags.set(
		PlausibilityFlags::COUNTERS_TOO_FAST,
		!energy_within(imported.saturating_sub(1), import_limit, since_read, tol)
			|| !energy_within(exported.saturating_sub(1), export_limit, since_read, tol),
	);
	// Nobody read an offline device's counters: they stay where they were, unless the report
	// says energy flowed.
	flags.set(
		PlausibilityFlags::OFFLINE_COUNTERS_MOVED,
		report.online_s == 0
			&& (imported > report.energy_imported_wh.saturating_add(1)
				|| exported > report.energy_exported_wh.saturating_add(1)),
	);
	Some((imported, exported))
}

/// The reference after `report`. A plausible report becomes the reference; a declared reset
/// re-bases the counters and carries the state-of-charge anchor over, with the flow it cannot
/// account for; any other flagged report leaves the reference as it was.
fn next_reference(
	report: &IntervalReport,
	reference: Option<&EnergyReference>,
	flags: PlausibilityFlags,
	flow: Option<((WattHours, WattHours), WattHours)>,
) -> Option<EnergyReference> {
	let read_at = |previous: Option<&EnergyReference>| {
		if report.online_s > 0 {
			report.interval_end()
		} else {
			previous.map_or(report.interval_end(), |r| r.counters_read_at)
		}
	};
	// The anchor carried forward over this report's flow.
	let carried = |reference: Option<&EnergyReference>| {
		let anchor = reference.and_then(|r| r.soc_anchor)?;
		let ((imported, exported), unknown) = flow?;
		Some(SocAnchor {
			soc_bp: anchor.soc_bp,
			imported_since_wh: anchor.imported_since_wh.saturating_add(imported),
			exported_since_wh: anchor.exported_since_wh.saturating_add(exported),
			unaccounted_wh: anchor.unaccounted_wh.saturating_add(unknown),
		})
	};

	if flags.is_plausible() {
		let soc_anchor = match report.soc_bp {
			Some(soc_bp) => Some(SocAnchor { soc_bp, ..Default::default() }),
			None => carried(reference),
		};
		return Some(EnergyReference {
			cumulative_imported_wh: report.cumulative_imported_wh,
			cumulative_exported_wh: report.cumulative_exported_wh,
			counters_read_at: read_at(reference),
			soc_anchor,
		});
	}
	if flags.contains(PlausibilityFlags::COUNTER_RESET) {
		// New counters; the state of charge the chain trusted stays the anchor, with everything
		// since the old counters were read as unaccounted.
		return Some(EnergyReference {
			cumulative_imported_wh: report.cumulative_imported_wh,
			cumulative_exported_wh: report.cumulative_exported_wh,
			counters_read_at: report.interval_end(),
			soc_anchor: carried(reference),
		});
	}
	reference.copied()
}

/// The energy balance of a storage device between its anchor and this report.
struct StorageBalance {
	prev_soc: BasisPoints,
	soc: BasisPoints,
	capacity_wh: WattHours,
	/// Energy drawn since the anchor (Wh).
	imported_wh: WattHours,
	/// Energy delivered since the anchor (Wh).
	exported_wh: WattHours,
	/// Energy that may have flowed unseen since the anchor (Wh).
	unaccounted_wh: WattHours,
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
				.saturating_add(bp_of(capacity, tolerances.soc_capacity_tolerance_bp.into()))
				.saturating_add(u128::from(self.unaccounted_wh));

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

#[cfg(test)]
mod tests;
