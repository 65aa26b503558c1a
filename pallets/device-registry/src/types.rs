//! The records the registry keeps.

use codec::{Decode, DecodeWithMemTracking, Encode, MaxEncodedLen};
use frame_support::{
	traits::{fungible::Inspect, Get},
	BoundedVec, CloneNoBound, DebugNoBound, DefaultNoBound, EqNoBound, PartialEqNoBound,
};
use openvpp_primitives::{
	AttestationKey, BasisPoints, Capability, ComfortLimits, DeviceId, DeviceKind, DeviceStatus,
	RegionCode, UnixSeconds,
};
pub use openvpp_primitives::{DeviceHistory, ReputationChange};
use scale_info::TypeInfo;

use crate::Config;

/// Balance of the deposit currency.
pub type BalanceOf<T> =
	<<T as Config>::Currency as Inspect<<T as frame_system::Config>::AccountId>>::Balance;

/// A bounded text field (metadata, reasons), UTF-8 by convention.
pub type BoundedText<S> = BoundedVec<u8, S>;

/// Descriptive data about the hardware, for people and audits; never used in checks.
#[derive(
	Encode,
	Decode,
	DecodeWithMemTracking,
	MaxEncodedLen,
	TypeInfo,
	CloneNoBound,
	PartialEqNoBound,
	EqNoBound,
	DebugNoBound,
	DefaultNoBound,
)]
#[scale_info(skip_type_params(S))]
#[codec(mel_bound(S: Get<u32>))]
pub struct DeviceMetadata<S: Get<u32>> {
	pub manufacturer: BoundedText<S>,
	pub model: BoundedText<S>,
	pub serial_number: BoundedText<S>,
	pub firmware_version: BoundedText<S>,
}

/// A device's credit record: its reputation and the most recent changes to it.
#[derive(
	Encode,
	Decode,
	DecodeWithMemTracking,
	MaxEncodedLen,
	TypeInfo,
	CloneNoBound,
	PartialEqNoBound,
	EqNoBound,
	DebugNoBound,
)]
#[scale_info(skip_type_params(N))]
#[codec(mel_bound(N: Get<u32>))]
pub struct CreditRecord<N: Get<u32>> {
	/// Reputation, 0–10 000 bp. Demand-response events can require a minimum.
	pub reputation_bp: BasisPoints,
	/// The latest changes, oldest first; the oldest is dropped when full.
	pub recent_changes: BoundedVec<ReputationChange, N>,
}

/// Everything the chain knows about one registered device.
///
/// Its parameters are explicit (not a `T: Config`) so that a client decodes the stored record
/// without linking a runtime: [`DeviceRecordOf`] is the pallet's instance.
#[derive(
	Encode,
	Decode,
	DecodeWithMemTracking,
	MaxEncodedLen,
	TypeInfo,
	CloneNoBound,
	PartialEqNoBound,
	EqNoBound,
	DebugNoBound,
)]
#[scale_info(skip_type_params(MetadataLen, ReasonLen, ReputationLen))]
#[codec(mel_bound(AccountId: MaxEncodedLen, Balance: MaxEncodedLen))]
pub struct DeviceRecord<AccountId, Balance, MetadataLen, ReasonLen, ReputationLen>
where
	AccountId: Clone + PartialEq + Eq + core::fmt::Debug,
	Balance: Clone + PartialEq + Eq + core::fmt::Debug,
	MetadataLen: Get<u32>,
	ReasonLen: Get<u32>,
	ReputationLen: Get<u32>,
{
	pub kind: DeviceKind,
	/// Who owns the device, pays its deposit and receives its rewards.
	pub owner: AccountId,
	/// An account the owner offered the device to, until it accepts.
	pub pending_owner: Option<AccountId>,
	/// The only account allowed to submit the device's telemetry.
	pub gateway: AccountId,
	/// The key the device's readings are signed with.
	pub attestation_key: AttestationKey,
	pub capability: Capability,
	/// The grid zone the device is aggregated in.
	pub region: RegionCode,
	pub metadata: DeviceMetadata<MetadataLen>,
	/// The owner's limits on dispatch.
	pub comfort: ComfortLimits,
	pub status: DeviceStatus,
	/// Why the device was last rejected or suspended (empty otherwise).
	pub status_reason: BoundedText<ReasonLen>,
	/// When it was registered (Unix seconds).
	pub registered_at: UnixSeconds,
	/// When a verifier last made it active (Unix seconds).
	pub activated_at: Option<UnixSeconds>,
	/// End of the latest telemetry interval recorded in its history (Unix seconds).
	pub last_seen: Option<UnixSeconds>,
	pub history: DeviceHistory,
	pub credit: CreditRecord<ReputationLen>,
	/// The deposit held from the owner for this record, released on retirement.
	pub deposit: Balance,
	/// The smart meter at the grid connection the device sits behind (its site), as the owner
	/// declared it.
	pub site_meter: Option<DeviceId>,
}

/// The record of a device in the pallet configured by `T`.
pub type DeviceRecordOf<T> = DeviceRecord<
	<T as frame_system::Config>::AccountId,
	BalanceOf<T>,
	<T as Config>::MaxMetadataLen,
	<T as Config>::MaxReasonLen,
	<T as Config>::ReputationHistoryLen,
>;

/// Active devices and their capacity in one region, for one device kind.
#[derive(
	Encode,
	Decode,
	DecodeWithMemTracking,
	MaxEncodedLen,
	TypeInfo,
	Clone,
	Copy,
	PartialEq,
	Eq,
	Debug,
	Default,
)]
pub struct RegionCapacity {
	/// Number of active devices.
	pub active_devices: u32,
	/// Sum of their rated power (W).
	pub rated_power_w: u64,
	/// Sum of their storage capacity (Wh).
	pub storage_capacity_wh: u64,
}

impl RegionCapacity {
	/// Adds a device's capability.
	pub fn add(&mut self, capability: &Capability) {
		self.active_devices = self.active_devices.saturating_add(1);
		self.rated_power_w = self.rated_power_w.saturating_add(capability.rated_power_w.into());
		self.storage_capacity_wh =
			self.storage_capacity_wh.saturating_add(capability.storage_capacity_wh.unwrap_or(0));
	}

	/// Removes a device's capability.
	pub fn remove(&mut self, capability: &Capability) {
		self.active_devices = self.active_devices.saturating_sub(1);
		self.rated_power_w = self.rated_power_w.saturating_sub(capability.rated_power_w.into());
		self.storage_capacity_wh =
			self.storage_capacity_wh.saturating_sub(capability.storage_capacity_wh.unwrap_or(0));
	}
}

/// A device in the genesis configuration (registered and active from block 0).
#[derive(Clone, PartialEq, Eq, Debug, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct GenesisDevice<AccountId> {
	pub owner: AccountId,
	pub gateway: AccountId,
	pub kind: DeviceKind,
	pub capability: Capability,
	/// Region code, e.g. `"DE-TENNET"`.
	pub region: alloc::string::String,
	pub attestation_key: AttestationKey,
	#[serde(default)]
	pub comfort: ComfortLimits,
	#[serde(default)]
	pub manufacturer: alloc::string::String,
	#[serde(default)]
	pub model: alloc::string::String,
	#[serde(default)]
	pub serial_number: alloc::string::String,
	#[serde(default)]
	pub firmware_version: alloc::string::String,
	/// The smart meter this device sits behind, by its genesis device id (genesis devices are
	/// numbered from 1 in list order).
	#[serde(default)]
	pub site_meter: Option<DeviceId>,
}
