//! Storage control through SunSpec model 124.
//!
//! Model 124 controls a battery with two rate limits, each a percentage of its maximum charge
//! rate `WChaMax` (W): `InWRte` limits charging and `OutWRte` discharging, each in force while
//! its bit of `StorCtl_Mod` is set (bit 0 charge, bit 1 discharge). A negative limit turns
//! into a forced rate the other way: `InWRte = −40 %` with the charge bit means "discharge at
//! least 40 %" (the convention inverters with SunSpec storage control follow). So the battery's
//! power, positive when discharging, stays within
//!
//! ```text
//!   −InWRte × WChaMax  ≤  power  ≤  OutWRte × WChaMax
//! ```
//!
//! and OpenVPP holds a battery at exactly `P` W by setting both bits with
//! `OutWRte = P ÷ WChaMax` and `InWRte = −P ÷ WChaMax` (both signs flip for charging).
//! `InOutWRte_RvrtTms` (s) makes the device revert to its own mode (`StorCtl_Mod = 0`) by itself
//! once that long has passed since the write: a gateway that dies mid-event leaves no battery
//! stuck on a setpoint.

use super::layout::storage;

/// `StorCtl_Mod` bit: the charge limit (`InWRte`) is in force.
pub const CHARGE_LIMIT: u16 = 1 << 0;
/// `StorCtl_Mod` bit: the discharge limit (`OutWRte`) is in force.
pub const DISCHARGE_LIMIT: u16 = 1 << 1;
/// int16 "not implemented".
const NOT_IMPLEMENTED_I16: i16 = i16::MIN;

/// The control points of a model 124 block, in register form.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StorageControl {
	pub stor_ctl_mod: u16,
	/// Raw `OutWRte` (percent × 10^`InOutWRte_SF`).
	pub out_w_rte: i16,
	/// Raw `InWRte`.
	pub in_w_rte: i16,
	/// `InOutWRte_RvrtTms` (s; 0 = no timeout).
	pub revert_s: u16,
}

/// The device's fixed ratings that the rates are relative to.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct StorageRatings {
	/// `WChaMax × 10^WChaMax_SF` (W).
	pub w_cha_max_w: f64,
	/// `InOutWRte_SF`.
	pub rate_sf: i16,
}

/// Why a battery cannot be controlled through its model 124 block.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ControlError {
	#[error("WChaMax is not implemented or zero")]
	NoMaximumRate,
	#[error("scale factor {0} is outside -10..=10")]
	BadScaleFactor(i16),
	#[error("the model 124 block is shorter than its control points")]
	Truncated,
}

impl StorageRatings {
	/// Reads the ratings from a model 124 block (registers from the ID register on).
	pub fn from_block(block: &[u16]) -> Result<Self, ControlError> {
		let get = |offset: usize| block.get(offset).copied().ok_or(ControlError::Truncated);
		let w_cha_max = get(storage::W_CHA_MAX)?;
		let w_cha_max_sf = get(storage::W_CHA_MAX_SF)? as i16;
		let rate_sf = match get(storage::IN_OUT_W_RTE_SF)? as i16 {
			// Not implemented: rates in whole percent.
			NOT_IMPLEMENTED_I16 => 0,
			sf => sf,
		};
		for sf in [w_cha_max_sf, rate_sf] {
			if !(-10..=10).contains(&sf) {
				return Err(ControlError::BadScaleFactor(sf));
			}
		}
		if w_cha_max == 0 || w_cha_max == u16::MAX {
			return Err(ControlError::NoMaximumRate);
		}
		let w_cha_max_w = f64::from(w_cha_max) * 10f64.powi(w_cha_max_sf.into());
		Ok(StorageRatings { w_cha_max_w, rate_sf })
	}

	/// `power_w` as a raw rate: percent of `WChaMax`, clamped to ±100 %.
	fn raw_rate(&self, power_w: f64) -> i16 {
		let percent = (power_w / self.w_cha_max_w * 100.0).clamp(-100.0, 100.0);
		let raw = (percent / 10f64.powi(self.rate_sf.into())).round();
		raw.clamp(f64::from(i16::MIN + 1), f64::from(i16::MAX)) as i16
	}

	fn rate_w(&self, raw: i16) -> f64 {
		f64::from(raw) * 10f64.powi(self.rate_sf.into()) / 100.0 * self.w_cha_max_w
	}
}

impl StorageControl {
	/// Reads the control points from a model 124 block.
	pub fn from_block(block: &[u16]) -> Result<Self, ControlError> {
		let get = |offset: usize| block.get(offset).copied().ok_or(ControlError::Truncated);
		Ok(StorageControl {
			stor_ctl_mod: get(storage::STOR_CTL_MOD)?,
			out_w_rte: get(storage::OUT_W_RTE)? as i16,
			in_w_rte: get(storage::IN_W_RTE)? as i16,
			revert_s: get(storage::IN_OUT_W_RTE_RVRT_TMS)?,
		})
	}

	/// The points that hold the battery at `power_w` (positive = discharge), reverting by
	/// themselves after `revert_s`.
	pub fn holding(power_w: f64, ratings: &StorageRatings, revert_s: u16) -> Self {
		let rate = ratings.raw_rate(power_w);
		StorageControl {
			stor_ctl_mod: CHARGE_LIMIT | DISCHARGE_LIMIT,
			out_w_rte: rate,
			in_w_rte: rate.saturating_neg(),
			revert_s,
		}
	}

	/// The power window (W, positive = discharge) these points keep the battery in; `None`
	/// for a side without a limit.
	pub fn window(&self, ratings: &StorageRatings) -> (Option<f64>, Option<f64>) {
		let limit = |bit: u16, raw: i16| {
			(self.stor_ctl_mod & bit != 0 && raw != NOT_IMPLEMENTED_I16)
				.then(|| ratings.rate_w(raw))
		};
		(limit(CHARGE_LIMIT, self.in_w_rte).map(|w| -w), limit(DISCHARGE_LIMIT, self.out_w_rte))
	}

	/// Whether these points are the device's own behaviour (no limit in force).
	pub fn is_released(&self) -> bool {
		self.stor_ctl_mod & (CHARGE_LIMIT | DISCHARGE_LIMIT) == 0
	}

	/// The writes that apply these points, in order: the rates with the timeout (one
	/// multi-register write from `OutWRte` to `InOutWRte_RvrtTms`, window time 0), then the mode,
	/// so that the limits take effect with their new values. Offsets count from the model's ID
	/// register.
	pub fn writes(&self) -> [(usize, Vec<u16>); 2] {
		[
			(
				storage::OUT_W_RTE,
				vec![self.out_w_rte as u16, self.in_w_rte as u16, 0, self.revert_s],
			),
			(storage::STOR_CTL_MOD, vec![self.stor_ctl_mod]),
		]
	}
}

#[cfg(test)]
mod tests {
	use super::*;

	/// A model 124 block of a 5 kW battery: WChaMax 5 000 (SF 0), rates in hundredths of a
	/// percent (SF −2), no limit in force.
	fn block() -> Vec<u16> {
		let mut block = vec![0xFFFF; 26];
		block[0] = 124;
		block[1] = 24;
		block[storage::W_CHA_MAX] = 5_000;
		block[storage::W_CHA_MAX_SF] = 0;
		block[storage::IN_OUT_W_RTE_SF] = (-2i16) as u16;
		block[storage::STOR_CTL_MOD] = 0;
		block
	}

	fn apply(block: &mut [u16], control: &StorageControl) {
		for (offset, values) in control.writes() {
			block[offset..offset + values.len()].copy_from_slice(&values);
		}
	}

	#[test]
	fn holding_a_discharge_closes_the_window_on_it() {
		let ratings = StorageRatings::from_block(&block()).unwrap();
		assert_eq!(ratings, StorageRatings { w_cha_max_w: 5_000.0, rate_sf: -2 });
		let control = StorageControl::holding(3_000.0, &ratings, 4_000);
		// 60 % in hundredths of a percent; the charge limit forces discharge.
		assert_eq!((control.out_w_rte, control.in_w_rte), (6_000, -6_000));
		let mut registers = block();
		apply(&mut registers, &control);
		let read = StorageControl::from_block(&registers).unwrap();
		assert_eq!(read, control);
		assert_eq!(read.window(&ratings), (Some(3_000.0), Some(3_000.0)));
		assert_eq!(registers[storage::IN_OUT_W_RTE_WIN_TMS], 0);
		assert!(!read.is_released());
	}

	#[test]
	fn charging_zero_and_beyond_the_rating() {
		let ratings = StorageRatings::from_block(&block()).unwrap();
		let charge = StorageControl::holding(-2_000.0, &ratings, 60);
		assert_eq!(charge.window(&ratings), (Some(-2_000.0), Some(-2_000.0)));
		let idle = StorageControl::holding(0.0, &ratings, 60);
		assert_eq!(idle.window(&ratings), (Some(0.0), Some(0.0)));
		// More than the battery can: 100 %.
		let most = StorageControl::holding(9_000.0, &ratings, 60);
		assert_eq!(most.window(&ratings), (Some(5_000.0), Some(5_000.0)));
	}

	#[test]
	fn a_released_battery_has_no_window() {
		let ratings = StorageRatings::from_block(&block()).unwrap();
		let own = StorageControl::from_block(&block()).unwrap();
		assert!(own.is_released());
		assert_eq!(own.window(&ratings), (None, None));
		// Only the discharge limit: charging is free.
		let capped = StorageControl { stor_ctl_mod: DISCHARGE_LIMIT, out_w_rte: 2_000, ..own };
		assert_eq!(capped.window(&ratings), (None, Some(1_000.0)));
	}

	#[test]
	fn a_battery_without_its_ratings_cannot_be_controlled() {
		let mut no_max = block();
		no_max[storage::W_CHA_MAX] = 0xFFFF;
		assert_eq!(StorageRatings::from_block(&no_max), Err(ControlError::NoMaximumRate));
		let mut bad_sf = block();
		bad_sf[storage::IN_OUT_W_RTE_SF] = 12;
		assert_eq!(StorageRatings::from_block(&bad_sf), Err(ControlError::BadScaleFactor(12)));
		assert_eq!(StorageRatings::from_block(&[124, 24]), Err(ControlError::Truncated));
		// Rates in whole percent when InOutWRte_SF is not implemented.
		let mut whole = block();
		whole[storage::IN_OUT_W_RTE_SF] = 0x8000;
		let ratings = StorageRatings::from_block(&whole).unwrap();
		assert_eq!(StorageControl::holding(2_500.0, &ratings, 0).out_w_rte, 50);
	}
}
