//! The OVPP emission schedule, in exact integer arithmetic.
//!
//! Year 0 emits `first_year_emission`. Each later year emits the year before's emission less
//! `yearly_decay`, but at least `tail_floor` of the total issuance when the year begins, so
//! that rewards never dry up and, in the long run, inflation settles at the floor (less what
//! fees burn). A year is 365.25 days of epochs, counted from the first settled epoch; an
//! epoch emits the year's emission ÷ the epochs in a year, rounded down.

use sp_runtime::{traits::AtLeast32BitUnsigned, Perbill};

use crate::types::{EmissionSchedule, EmissionState, EpochIndex};

/// Seconds in a year of 365.25 days.
pub const SECONDS_PER_YEAR: u64 = 31_557_600;

/// Epochs of `epoch_length_s` in a year (at least one).
pub fn epochs_per_year(epoch_length_s: u64) -> u64 {
	(SECONDS_PER_YEAR / epoch_length_s.max(1)).max(1)
}

/// The year after `previous` under `schedule`, with `total_issuance` at the year's start.
pub fn next_year<Balance: AtLeast32BitUnsigned + Copy>(
	previous: Balance,
	schedule: &EmissionSchedule<Balance>,
	total_issuance: Balance,
) -> Balance {
	let decayed = previous.saturating_sub(schedule.yearly_decay * previous);
	decayed.max(schedule.tail_floor * total_issuance)
}

/// Brings `state` to the year `epoch` falls in and returns that epoch's emission.
/// `total_issuance` is read once per year crossed (it only matters at a year's start).
pub fn emission_for_epoch<Balance: AtLeast32BitUnsigned + Copy>(
	state: &mut EmissionState<Balance>,
	epoch: EpochIndex,
	schedule: &EmissionSchedule<Balance>,
	epoch_length_s: u64,
	total_issuance: impl Fn() -> Balance,
) -> Balance {
	let per_year = epochs_per_year(epoch_length_s);
	let year = epoch.saturating_sub(state.first_epoch) / per_year;
	// A chain that stalled for years crosses them one by one; bounded by the years elapsed.
	while u64::from(state.year) < year {
		state.yearly_emission = next_year(state.yearly_emission, schedule, total_issuance());
		state.year = state.year.saturating_add(1);
	}
	state.yearly_emission / Balance::from(per_year.min(u64::from(u32::MAX)) as u32)
}

/// The default schedule: 10 % of the genesis supply in the first year, 20 % less each year,
/// never below 1.5 % of the supply, and 10 % of every pool to the treasury.
pub fn default_schedule<Balance: AtLeast32BitUnsigned + Copy>(
	genesis_supply: Balance,
) -> EmissionSchedule<Balance> {
	EmissionSchedule {
		first_year_emission: Perbill::from_percent(10) * genesis_supply,
		yearly_decay: Perbill::from_percent(20),
		tail_floor: Perbill::from_parts(15_000_000),
		treasury_share: Perbill::from_percent(10),
	}
}

#[cfg(test)]
mod tests {
	use super::*;

	const OVPP: u128 = 1_000_000_000_000;

	/// The ten-year table in docs/rewards.md: supply 1e9 OVPP, 1e8 in year one.
	#[test]
	fn ten_years_of_supply() {
		let schedule = default_schedule(1_000_000_000 * OVPP);
		let mut supply = 1_000_000_000 * OVPP;
		let mut emission = schedule.first_year_emission;
		let mut yearly = alloc::vec::Vec::new();
		let mut emissions = alloc::vec::Vec::new();
		for year in 0..10 {
			if year > 0 {
				emission = next_year(emission, &schedule, supply);
			}
			supply += emission;
			emissions.push(emission);
			yearly.push((emission / (10_000_000 * OVPP), supply / (10_000_000 * OVPP)));
		}
		// (emission, supply at the year's end), in units of 10 M OVPP, rounded down.
		let expected = [
			(10, 110),
			(8, 118),
			(6, 124),
			(5, 129),
			(4, 133),
			(3, 136),
			(2, 139),
			(2, 141),
			(2, 143),
			(2, 145),
		];
		assert_eq!(yearly, expected);
		// Year 8 is the first the floor decides: 1.5 % of the 1 416.11392 M at its start,
		// more than the 16.78 M the decay alone would give.
		assert_eq!(emissions[8], 21_241_708_800 * OVPP / 1_000);
	}

	#[test]
	fn epochs_cross_years_one_at_a_time() {
		let schedule = EmissionSchedule {
			first_year_emission: 8_766_000u128,
			yearly_decay: Perbill::from_percent(50),
			tail_floor: Perbill::zero(),
			treasury_share: Perbill::zero(),
		};
		let mut state = EmissionState { first_epoch: 100, year: 0, yearly_emission: 8_766_000 };
		// Hourly epochs: 8 766 a year.
		assert_eq!(emission_for_epoch(&mut state, 100, &schedule, 3_600, || 0), 1_000);
		assert_eq!(emission_for_epoch(&mut state, 100 + 8_765, &schedule, 3_600, || 0), 1_000);
		assert_eq!(emission_for_epoch(&mut state, 100 + 8_766, &schedule, 3_600, || 0), 500);
		assert_eq!(state.year, 1);
		// Three years later at once: three halvings.
		assert_eq!(emission_for_epoch(&mut state, 100 + 4 * 8_766, &schedule, 3_600, || 0), 62);
		assert_eq!(state.year, 4);
	}

	#[test]
	fn the_floor_follows_the_issuance() {
		let schedule = EmissionSchedule {
			first_year_emission: 100u128,
			yearly_decay: Perbill::from_percent(90),
			tail_floor: Perbill::from_percent(2),
			treasury_share: Perbill::zero(),
		};
		assert_eq!(next_year(100, &schedule, 10_000), 200);
		assert_eq!(next_year(100, &schedule, 100), 10);
	}
}
