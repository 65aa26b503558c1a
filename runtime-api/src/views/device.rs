//! Devices: identity, status, capability, comfort limits, history and credit record.

use alloc::vec::Vec;
use codec::{Decode, Encode};
use openvpp_primitives::{
	AttestationKey, BasisPoints, Capability, ComfortLimits, DeviceHistory, DeviceId, DeviceKind,
	DeviceStatus, ReputationChange, UnixSeconds,
};
use scale_info::TypeInfo;
use serde::{Deserialize, Serialize};

use super::json;

/// Descriptive data about the hardware, as the owner declared it.
#[derive(
	Encode, Decode, TypeInfo, Clone, PartialEq, Eq, Debug, Default, Serialize, Deserialize,
)]
#[serde(rename_all = "camelCase")]
pub struct DeviceMetadataView {
	#[serde(with = "json::text")]
	pub manufacturer: Vec<u8>,
	#[serde(with = "json::text")]
	pub model: Vec<u8>,
	#[serde(with = "json::text")]
	pub serial_number: Vec<u8>,
	#[serde(with = "json::text")]
	pub firmware_version: Vec<u8>,
}

/// A device's reputation and its most recent changes, newest last.
#[derive(Encode, Decode, TypeInfo, Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CreditRecordView {
	pub reputation_bp: BasisPoints,
	pub recent_changes: Vec<ReputationChange>,
}

/// Everything the registry knows about one device.
#[derive(Encode, Decode, TypeInfo, Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DeviceView<AccountId> {
	pub id: DeviceId,
	pub kind: DeviceKind,
	pub owner: AccountId,
	/// An account the owner offered the device to, until it accepts.
	pub pending_owner: Option<AccountId>,
	/// The gateway that submits the device's readings.
	pub gateway: AccountId,
	/// The key the device signs its reports with.
	pub attestation_key: AttestationKey,
	pub capability: Capability,
	#[serde(with = "json::text")]
	pub region: Vec<u8>,
	pub metadata: DeviceMetadataView,
	pub comfort: ComfortLimits,
	pub status: DeviceStatus,
	/// Why a verifier or governance last changed the status, if they said.
	#[serde(with = "json::text")]
	pub status_reason: Vec<u8>,
	pub registered_at: UnixSeconds,
	pub activated_at: Option<UnixSeconds>,
	/// End of the last interval the chain accepted a report for.
	pub last_seen: Option<UnixSeconds>,
	pub history: DeviceHistory,
	pub credit: CreditRecordView,
	/// The site meter the device sits behind, if any.
	pub site_meter: Option<DeviceId>,
	/// The registration deposit held from the owner (planck).
	#[serde(with = "json::planck")]
	pub deposit_planck: u128,
}

/// A page of devices. `next` is the `after` of the following page, `None` at the end.
#[derive(Encode, Decode, TypeInfo, Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DevicePage<AccountId> {
	pub devices: Vec<DeviceView<AccountId>>,
	pub next: Option<DeviceId>,
}
