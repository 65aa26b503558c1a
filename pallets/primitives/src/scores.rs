//! How a device's contribution over one epoch is scored: the dimensions the rewards pallet pays
//! for, kept here so that the runtime API can return a device's scores as they are stored.

use codec::{Decode, DecodeWithMemTracking, Encode, MaxEncodedLen};
use scale_info::TypeInfo;

use crate::WattHours;

/// The five dimensions that are paid, in the order of [`DimensionScores::as_array`]. Data
/// quality, the sixth, multiplies each of them instead of being paid by itself.
pub const PAID_DIMENSIONS: usize = 5;

/// One device's contribution over one epoch, every dimension already multiplied by its data
/// quality. All are energies, so that each is additive: two devices score the sum of what each
/// would score alone (see the crate docs on Sybil neutrality).
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
	serde::Serialize,
	serde::Deserialize,
)]
#[serde(rename_all = "camelCase")]
pub struct DimensionScores {
	/// Energy generated and delivered, at most rated power × epoch length (Wh).
	pub generation_wh: WattHours,
	/// Stored energy above the owner's reserve that the device held ready while online,
	/// averaged over the epoch (Wh).
	pub storage_wh: WattHours,
	/// Energy delivered in demand-response events, up to what was committed (Wh).
	pub grid_stability_wh: WattHours,
	/// Energy committed in demand-response events the device was selected to serve (Wh).
	pub participation_wh: WattHours,
	/// Rated power × time online (Wh): availability weighted by capacity.
	pub online_wh: WattHours,
}

impl DimensionScores {
	pub fn as_array(&self) -> [WattHours; PAID_DIMENSIONS] {
		[
			self.generation_wh,
			self.storage_wh,
			self.grid_stability_wh,
			self.participation_wh,
			self.online_wh,
		]
	}

	pub fn is_zero(&self) -> bool {
		self.as_array().iter().all(|v| *v == 0)
	}
}
