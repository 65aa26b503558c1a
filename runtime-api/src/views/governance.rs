//! Referenda being decided, for the governance page.

use alloc::vec::Vec;
use codec::{Decode, Encode};
use scale_info::TypeInfo;
use serde::{Deserialize, Serialize};

use super::json;

/// An ongoing referendum and its tally.
#[derive(Encode, Decode, TypeInfo, Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ReferendumView {
	pub index: u32,
	pub track: u16,
	#[serde(with = "json::text")]
	pub track_name: Vec<u8>,
	pub submitted_block: u32,
	/// When it entered its decision period; `None` while preparing or queued.
	pub deciding_since_block: Option<u32>,
	/// While it is confirming: the block confirmation ends.
	pub confirming_until_block: Option<u32>,
	/// Conviction-weighted votes (planck).
	#[serde(with = "json::planck")]
	pub ayes_planck: u128,
	#[serde(with = "json::planck")]
	pub nays_planck: u128,
	/// Aye votes without conviction: the turnout that counts for support (planck).
	#[serde(with = "json::planck")]
	pub support_planck: u128,
	/// Ayes ÷ (ayes + nays), parts per billion.
	pub approval_ppb: u32,
	/// Support ÷ total issuance, parts per billion.
	pub support_ppb: u32,
}
