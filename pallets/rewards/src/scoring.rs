//! The scoring rules: one formula per dimension, as pure functions of what the telemetry
//! pallet measured over the epoch, the device's registered capability and its
//! demand-response results.
//!
//! Every paid dimension is an energy and linear in what was physically delivered or held
//! ready; data quality multiplies them all. See the crate docs for why this makes splitting a
//! device pointless.

use openvpp_primitives::{
	storage_energy_wh, BasisPoints, Capability, ComfortLimits, DeviceKind, Direction,
	EpochTelemetry, WattHours, FULL_BP,
};
use sp_runtime::Perbill;

use crate::types::{DemandResponseCredit, DimensionScores};

const SECONDS_PER_HOUR: u64 = 3_600;

/// What the device's owner and verifier registered about it.
pub struct DeviceProfile<'a> {
	pub kind: DeviceKind,
	pub capability: &'a Capability,
	pub comfort: &'a ComfortLimits,
}

/// Plausible reports ÷ (expected intervals + rejected reports), at most 100 %. Flagged
/// reports, rejected reports and missed intervals all lower it; a device that was expected to
/// report nothing has no quality to speak of, so scores nothing.
pub fn data_quality(telemetry: &EpochTelemetry) -> Perbill {
	let denominator = telemetry
		.expected
		.saturating_add(telemetry.rejected)
		.max(telemetry.accepted.saturating_add(telemetry.flagged));
	if denominator == 0 {
		return Perbill::zero();
	}
	Perbill::from_rational(telemetry.accepted.min(denominator), denominator)
}

/// The device's scores for one epoch of `epoch_length_s`.
pub fn score_epoch(
	telemetry: &EpochTelemetry,
	device: &DeviceProfile<'_>,
	demand_response: &DemandResponseCredit,
	epoch_length_s: u64,
) -> (Perbill, DimensionScores) {
	let quality = data_quality(telemetry);
	let rated_w = u64::from(device.capability.rated_power_w);
	let online_s = telemetry.online_s.min(epoch_length_s);

	// Nameplate power over the whole epoch is the most a generator can have delivered.
	let generation_wh = if device.kind.generates() {
		let ceiling_wh = rated_w.saturating_mul(epoch_length_s) / SECONDS_PER_HOUR;
		telemetry.produced_wh.min(ceiling_wh)
	} else {
		0
	};

	let storage_wh = match device.capability.storage_capacity_wh {
		Some(capacity_wh) if device.kind.has_storage() => {
			let ceiling_wh = storage_energy_wh(
				capacity_wh,
				FULL_BP,
				device.comfort.min_reserve_soc_bp,
				Direction::Up,
			);
			(telemetry.stored_above_reserve_wh_s / epoch_length_s.max(1)).min(ceiling_wh)
		}
		_ => 0,
	};

	// A smart meter's capacity is that of the devices behind it, which count their own.
	let online_wh = if device.kind == DeviceKind::SmartMeter {
		0
	} else {
		rated_w.saturating_mul(online_s) / SECONDS_PER_HOUR
	};

	let raw = DimensionScores {
		generation_wh,
		storage_wh,
		grid_stability_wh: demand_response.delivered_wh.min(demand_response.committed_wh),
		participation_wh: demand_response.committed_wh,
		online_wh,
	};
	(quality, apply_quality(quality, &raw))
}

/// Every dimension times the data quality, rounded down.
fn apply_quality(quality: Perbill, raw: &DimensionScores) -> DimensionScores {
	let q = |wh: WattHours| quality.mul_floor(wh);
	DimensionScores {
		generation_wh: q(raw.generation_wh),
		storage_wh: q(raw.storage_wh),
		grid_stability_wh: q(raw.grid_stability_wh),
		participation_wh: q(raw.participation_wh),
		online_wh: q(raw.online_wh),
	}
}

/// How far the reputation moves towards an epoch's target in one step: an exponential moving
/// average with weight 1/8, so that about 16 epochs of steady behaviour bring it most of the
/// way and one bad epoch costs little.
pub const REPUTATION_STEP_DIVISOR: i32 = 8;

/// The reputation an epoch argues for: data quality × the share of the epoch online (bp).
pub fn reputation_target_bp(
	telemetry: &EpochTelemetry,
	quality: Perbill,
	epoch_length_s: u64,
) -> BasisPoints {
	let online =
		Perbill::from_rational(telemetry.online_s.min(epoch_length_s), epoch_length_s.max(1));
	let target = quality * online;
	// Perbill to basis points: 10⁹ parts are 10⁴ bp.
	BasisPoints::try_from(target.deconstruct() / 100_000).unwrap_or(FULL_BP)
}

/// The change that moves `current_bp` one step towards `target_bp`.
pub fn reputation_delta_bp(current_bp: BasisPoints, target_bp: BasisPoints) -> i32 {
	(i32::from(target_bp) - i32::from(current_bp)) / REPUTATION_STEP_DIVISOR
}
