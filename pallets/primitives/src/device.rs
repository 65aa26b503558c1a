//! What a device is: its kind, capability, region, comfort limits and attestation key.

use codec::{Decode, DecodeWithMemTracking, Encode, MaxEncodedLen};
use scale_info::TypeInfo;
use sp_core::{ecdsa, ed25519, sr25519, ConstU32, H256};
use sp_runtime::{traits::Verify, BoundedVec};

use crate::{BasisPoints, DeviceId, RatedWatts, WattHours, FULL_BP};

/// The kind of an energy device. The kind decides which capability fields the device may have
/// (only storage kinds have an energy capacity; only dispatchable kinds have charge and
/// discharge limits) and how the network may dispatch it.
#[derive(
	Clone,
	Copy,
	PartialEq,
	Eq,
	PartialOrd,
	Ord,
	Encode,
	Decode,
	DecodeWithMemTracking,
	MaxEncodedLen,
	TypeInfo,
	Debug,
	serde::Serialize,
	serde::Deserialize,
)]
pub enum DeviceKind {
	/// A battery electric vehicle (storage; charges, and discharges if bidirectional).
	ElectricVehicle,
	/// An EV charging point (a controllable load; no storage of its own).
	EvCharger,
	/// A residential battery (storage).
	HomeBattery,
	/// A commercial & industrial battery (storage).
	CommercialBattery,
	/// Rooftop photovoltaics behind an inverter (generation only).
	RooftopSolar,
	/// A smart meter at a site's grid connection (measurement only; never dispatched).
	SmartMeter,
	/// A home or building energy management system (a controllable aggregate load).
	EnergyManagementSystem,
}

impl DeviceKind {
	/// Every kind, in encoding order.
	pub const ALL: [DeviceKind; 7] = [
		DeviceKind::ElectricVehicle,
		DeviceKind::EvCharger,
		DeviceKind::HomeBattery,
		DeviceKind::CommercialBattery,
		DeviceKind::RooftopSolar,
		DeviceKind::SmartMeter,
		DeviceKind::EnergyManagementSystem,
	];

	/// Whether the device stores energy (has a capacity in Wh and a state of charge).
	pub const fn has_storage(self) -> bool {
		matches!(
			self,
			DeviceKind::ElectricVehicle | DeviceKind::HomeBattery | DeviceKind::CommercialBattery
		)
	}

	/// Whether the network may dispatch the device (change what it draws or delivers).
	pub const fn is_dispatchable(self) -> bool {
		!matches!(self, DeviceKind::SmartMeter | DeviceKind::RooftopSolar)
	}

	/// Whether the device generates energy by itself.
	pub const fn generates(self) -> bool {
		matches!(self, DeviceKind::RooftopSolar)
	}

	/// Which capability fields this kind must, may or must not declare.
	pub const fn capability_rules(self) -> CapabilityRules {
		use FieldRule::*;
		match self {
			DeviceKind::ElectricVehicle => CapabilityRules {
				storage_capacity_wh: Required,
				max_charge_w: Required,
				// Only bidirectional (V2G) vehicles discharge.
				max_discharge_w: Optional,
			},
			DeviceKind::EvCharger => CapabilityRules {
				storage_capacity_wh: Forbidden,
				max_charge_w: Required,
				// Only bidirectional chargers deliver power back.
				max_discharge_w: Optional,
			},
			DeviceKind::HomeBattery | DeviceKind::CommercialBattery => CapabilityRules {
				storage_capacity_wh: Required,
				max_charge_w: Required,
				max_discharge_w: Required,
			},
			DeviceKind::EnergyManagementSystem => CapabilityRules {
				storage_capacity_wh: Forbidden,
				// The controllable load it can shift or shed.
				max_charge_w: Required,
				// Only a building whose manager controls generation or storage delivers power.
				max_discharge_w: Optional,
			},
			DeviceKind::RooftopSolar | DeviceKind::SmartMeter => CapabilityRules {
				storage_capacity_wh: Forbidden,
				max_charge_w: Forbidden,
				max_discharge_w: Forbidden,
			},
		}
	}
}

/// Whether a kind must, may or must not declare a capability field.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum FieldRule {
	Required,
	Optional,
	Forbidden,
}

/// The capability fields a device kind declares.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct CapabilityRules {
	pub storage_capacity_wh: FieldRule,
	pub max_charge_w: FieldRule,
	pub max_discharge_w: FieldRule,
}

/// What a device can do, as declared at registration and checked by a verifier.
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
pub struct Capability {
	/// Nameplate power: inverter AC rating, charger or connection rating (W).
	pub rated_power_w: RatedWatts,
	/// Usable energy capacity, for kinds that store energy (Wh).
	pub storage_capacity_wh: Option<WattHours>,
	/// Highest power the device can draw when charging or when its load is raised (W).
	pub max_charge_w: Option<RatedWatts>,
	/// Highest power the device can deliver when discharging (W).
	pub max_discharge_w: Option<RatedWatts>,
}

/// Upper bounds a runtime sets for the capability of one device kind.
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
pub struct CapabilityBounds {
	pub max_rated_power_w: RatedWatts,
	pub max_storage_capacity_wh: WattHours,
	pub max_charge_w: RatedWatts,
	pub max_discharge_w: RatedWatts,
}

/// Why a capability is not acceptable for a device kind.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum CapabilityError {
	/// The rated power is zero.
	ZeroRating,
	/// A field the kind requires is missing (or zero).
	Missing,
	/// A field was given that the kind does not have (solar has no storage; a meter has no
	/// dispatch).
	NotApplicable,
	/// A value exceeds the runtime's bound for the kind, or charge/discharge power exceeds the
	/// rated power.
	OutOfBounds,
}

fn check_field<V: PartialOrd + Default>(
	rule: FieldRule,
	value: Option<V>,
	max: V,
) -> Result<(), CapabilityError> {
	match (rule, value) {
		(FieldRule::Forbidden, Some(_)) => Err(CapabilityError::NotApplicable),
		(FieldRule::Required, None) => Err(CapabilityError::Missing),
		(_, Some(v)) if v == V::default() => Err(CapabilityError::Missing),
		(_, Some(v)) if v > max => Err(CapabilityError::OutOfBounds),
		_ => Ok(()),
	}
}

impl Capability {
	/// Checks the capability against the rules of `kind` and the runtime's `bounds` for it.
	pub fn validate(
		&self,
		kind: DeviceKind,
		bounds: &CapabilityBounds,
	) -> Result<(), CapabilityError> {
		if self.rated_power_w == 0 {
			return Err(CapabilityError::ZeroRating);
		}
		if self.rated_power_w > bounds.max_rated_power_w {
			return Err(CapabilityError::OutOfBounds);
		}
		let rules = kind.capability_rules();
		check_field(
			rules.storage_capacity_wh,
			self.storage_capacity_wh,
			bounds.max_storage_capacity_wh,
		)?;
		check_field(rules.max_charge_w, self.max_charge_w, bounds.max_charge_w)?;
		check_field(rules.max_discharge_w, self.max_discharge_w, bounds.max_discharge_w)?;
		// No device charges or discharges faster than its nameplate allows.
		let within_rating = |p: Option<RatedWatts>| p.is_none_or(|p| p <= self.rated_power_w);
		if !within_rating(self.max_charge_w) || !within_rating(self.max_discharge_w) {
			return Err(CapabilityError::OutOfBounds);
		}
		Ok(())
	}
}

/// The runtime's capability bounds per device kind.
pub trait KindCapabilityBounds {
	/// The bounds for `kind`.
	fn bounds(kind: DeviceKind) -> CapabilityBounds;
}

/// Longest grid-zone code, in bytes.
pub const MAX_REGION_CODE_LEN: u32 = 16;

/// A grid zone the network aggregates by, such as `DE-TENNET` or `US-CAISO-NP15`: 1–16 ASCII
/// characters from `A–Z`, `0–9` and `-`, neither starting nor ending with `-`.
pub type RegionCode = BoundedVec<u8, ConstU32<MAX_REGION_CODE_LEN>>;

/// Whether `code` is a well-formed region code.
pub fn is_valid_region_code(code: &[u8]) -> bool {
	!code.is_empty()
		&& code.len() <= MAX_REGION_CODE_LEN as usize
		&& code.iter().all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || *c == b'-')
		&& code.first() != Some(&b'-')
		&& code.last() != Some(&b'-')
}

/// Most dispatch windows an owner can declare.
pub const MAX_DISPATCH_WINDOWS: u32 = 4;
/// Minutes in a day.
pub const MINUTES_PER_DAY: u16 = 1_440;

/// A daily time window (UTC) in which the owner allows the network to dispatch the device.
/// A window whose end is before its start runs over midnight (e.g. 22:00–06:00).
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
	serde::Serialize,
	serde::Deserialize,
)]
#[serde(rename_all = "camelCase")]
pub struct DispatchWindow {
	/// First minute of the window, 0–1439 (UTC).
	pub start_minute: u16,
	/// First minute after the window, 0–1439 (UTC); must differ from `start_minute`.
	pub end_minute: u16,
}

impl DispatchWindow {
	/// Whether the window is well formed.
	pub fn is_valid(&self) -> bool {
		self.start_minute < MINUTES_PER_DAY
			&& self.end_minute < MINUTES_PER_DAY
			&& self.start_minute != self.end_minute
	}

	/// Whether `minute_of_day` (UTC) falls inside the window.
	pub fn contains(&self, minute_of_day: u16) -> bool {
		if self.start_minute < self.end_minute {
			(self.start_minute..self.end_minute).contains(&minute_of_day)
		} else {
			minute_of_day >= self.start_minute || minute_of_day < self.end_minute
		}
	}
}

/// The owner's limits on how the network may dispatch a device.
#[derive(
	Clone,
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
pub struct ComfortLimits {
	/// State of charge dispatch never takes a storage device below (bp). Zero for kinds
	/// without storage.
	pub min_reserve_soc_bp: BasisPoints,
	/// When dispatch is allowed (UTC). Empty means at any time.
	pub dispatch_windows: BoundedVec<DispatchWindow, ConstU32<MAX_DISPATCH_WINDOWS>>,
}

/// Why comfort limits are not acceptable for a device kind.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum ComfortError {
	/// A reserve above 100 %, or a malformed window.
	Invalid,
	/// A reserve for a kind without storage, or windows for a kind that is never dispatched.
	NotApplicable,
}

impl ComfortLimits {
	/// Checks the limits against what `kind` can be dispatched for.
	pub fn validate(&self, kind: DeviceKind) -> Result<(), ComfortError> {
		if self.min_reserve_soc_bp > FULL_BP || !self.dispatch_windows.iter().all(|w| w.is_valid())
		{
			return Err(ComfortError::Invalid);
		}
		if self.min_reserve_soc_bp > 0 && !kind.has_storage() {
			return Err(ComfortError::NotApplicable);
		}
		if !self.dispatch_windows.is_empty() && !kind.is_dispatchable() {
			return Err(ComfortError::NotApplicable);
		}
		Ok(())
	}

	/// Whether dispatch is allowed at `minute_of_day` (UTC).
	pub fn allows_dispatch_at(&self, minute_of_day: u16) -> bool {
		self.dispatch_windows.is_empty()
			|| self.dispatch_windows.iter().any(|w| w.contains(minute_of_day))
	}
}

/// The public key a device (or its gateway, on its behalf) signs readings with.
#[derive(
	Clone,
	PartialEq,
	Eq,
	PartialOrd,
	Ord,
	Encode,
	Decode,
	DecodeWithMemTracking,
	MaxEncodedLen,
	TypeInfo,
	Debug,
	serde::Serialize,
	serde::Deserialize,
)]
pub enum AttestationKey {
	Ed25519(ed25519::Public),
	Sr25519(sr25519::Public),
	/// A compressed secp256k1 public key (secure elements commonly hold these).
	Ecdsa(ecdsa::Public),
}

/// A signature by an [`AttestationKey`].
#[derive(
	Clone, PartialEq, Eq, Encode, Decode, DecodeWithMemTracking, MaxEncodedLen, TypeInfo, Debug,
)]
pub enum AttestationSignature {
	Ed25519(ed25519::Signature),
	Sr25519(sr25519::Signature),
	/// Over the blake2-256 hash of the message, as `sp_core::ecdsa::Pair::sign` makes it.
	Ecdsa(ecdsa::Signature),
}

impl AttestationKey {
	/// Whether `signature` is this key's signature of `message`. A signature of another scheme
	/// than the key's never verifies.
	pub fn verify(&self, message: &[u8], signature: &AttestationSignature) -> bool {
		match (self, signature) {
			(AttestationKey::Ed25519(key), AttestationSignature::Ed25519(sig)) => {
				sig.verify(message, key)
			}
			(AttestationKey::Sr25519(key), AttestationSignature::Sr25519(sig)) => {
				sig.verify(message, key)
			}
			(AttestationKey::Ecdsa(key), AttestationSignature::Ecdsa(sig)) => {
				sig.verify(message, key)
			}
			_ => false,
		}
	}
}

impl From<ed25519::Public> for AttestationKey {
	fn from(key: ed25519::Public) -> Self {
		AttestationKey::Ed25519(key)
	}
}
impl From<sr25519::Public> for AttestationKey {
	fn from(key: sr25519::Public) -> Self {
		AttestationKey::Sr25519(key)
	}
}
impl From<ecdsa::Public> for AttestationKey {
	fn from(key: ecdsa::Public) -> Self {
		AttestationKey::Ecdsa(key)
	}
}
impl From<ed25519::Signature> for AttestationSignature {
	fn from(sig: ed25519::Signature) -> Self {
		AttestationSignature::Ed25519(sig)
	}
}
impl From<sr25519::Signature> for AttestationSignature {
	fn from(sig: sr25519::Signature) -> Self {
		AttestationSignature::Sr25519(sig)
	}
}
impl From<ecdsa::Signature> for AttestationSignature {
	fn from(sig: ecdsa::Signature) -> Self {
		AttestationSignature::Ecdsa(sig)
	}
}

/// What a proof of possession of an attestation key is made for.
#[derive(Clone, Copy, PartialEq, Eq, Encode, Decode, DecodeWithMemTracking, TypeInfo, Debug)]
pub enum KeyProofPurpose {
	/// Registering a new device with this key.
	Register,
	/// Replacing the attestation key of this device with this key.
	Rotate(DeviceId),
}

/// Domain tag at the start of every proof-of-possession payload, so that no proof can be
/// mistaken for a telemetry report or any other message the same key signs.
pub const KEY_PROOF_TAG: [u8; 16] = *b"openvpp:key-pop:";

/// What an attestation key signs to prove its holder consents to being bound to a device of
/// `owner`: the SCALE encoding of this struct. The genesis hash pins the proof to one chain;
/// the owner's registration nonce makes each proof single-use.
#[derive(Clone, PartialEq, Eq, Encode, Decode, TypeInfo, Debug)]
pub struct KeyOwnershipProof<AccountId, Hash = H256> {
	pub tag: [u8; 16],
	pub purpose: KeyProofPurpose,
	pub genesis_hash: Hash,
	pub owner: AccountId,
	pub nonce: u32,
}

impl<AccountId: Encode, Hash: Encode> KeyOwnershipProof<AccountId, Hash> {
	/// The payload for `purpose` on the chain with `genesis_hash`.
	pub fn new(purpose: KeyProofPurpose, genesis_hash: Hash, owner: AccountId, nonce: u32) -> Self {
		KeyOwnershipProof { tag: KEY_PROOF_TAG, purpose, genesis_hash, owner, nonce }
	}
}

/// The verification status of a registered device. Only `Active` devices count anywhere
/// downstream (telemetry, demand response, rewards). A retired device is removed from state.
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
	serde::Serialize,
	serde::Deserialize,
)]
pub enum DeviceStatus {
	/// Registered, waiting for a verifier to check the installation.
	Pending,
	/// Verified: reports, participates and earns.
	Active,
	/// Taken out of service by a verifier or governance (fraud, failed audit).
	Suspended,
	/// Refused by a verifier; the owner may retire it to recover the deposit.
	Rejected,
}

#[cfg(test)]
mod tests {
	use super::*;
	use sp_core::Pair;

	fn bounds() -> CapabilityBounds {
		CapabilityBounds {
			max_rated_power_w: 10_000,
			max_storage_capacity_wh: 20_000,
			max_charge_w: 10_000,
			max_discharge_w: 10_000,
		}
	}

	#[test]
	fn kinds_encode_in_declaration_order() {
		for (index, kind) in DeviceKind::ALL.iter().enumerate() {
			assert_eq!(kind.encode(), vec![index as u8]);
			assert_eq!(DeviceKind::decode(&mut &kind.encode()[..]).ok(), Some(*kind));
		}
		assert!(DeviceKind::decode(&mut &[7u8][..]).is_err());
	}

	#[test]
	fn capability_follows_the_kind() {
		let battery = Capability {
			rated_power_w: 5_000,
			storage_capacity_wh: Some(13_500),
			max_charge_w: Some(5_000),
			max_discharge_w: Some(5_000),
		};
		assert_eq!(battery.validate(DeviceKind::HomeBattery, &bounds()), Ok(()));
		// Solar has no storage and no dispatch.
		assert_eq!(
			battery.validate(DeviceKind::RooftopSolar, &bounds()),
			Err(CapabilityError::NotApplicable)
		);
		let solar = Capability { rated_power_w: 8_000, ..Default::default() };
		assert_eq!(solar.validate(DeviceKind::RooftopSolar, &bounds()), Ok(()));
		// A battery without a capacity is incomplete.
		assert_eq!(
			solar.validate(DeviceKind::HomeBattery, &bounds()),
			Err(CapabilityError::Missing)
		);
		let zero = Capability { rated_power_w: 0, ..solar };
		assert_eq!(
			zero.validate(DeviceKind::SmartMeter, &bounds()),
			Err(CapabilityError::ZeroRating)
		);
		let huge = Capability { rated_power_w: 10_001, ..solar };
		assert_eq!(
			huge.validate(DeviceKind::SmartMeter, &bounds()),
			Err(CapabilityError::OutOfBounds)
		);
		let fast = Capability { max_charge_w: Some(6_000), ..battery };
		assert_eq!(
			fast.validate(DeviceKind::HomeBattery, &bounds()),
			Err(CapabilityError::OutOfBounds)
		);
		let empty_pack = Capability { storage_capacity_wh: Some(0), ..battery };
		assert_eq!(
			empty_pack.validate(DeviceKind::HomeBattery, &bounds()),
			Err(CapabilityError::Missing)
		);
	}

	#[test]
	fn region_codes() {
		assert!(is_valid_region_code(b"DE-TENNET"));
		assert!(is_valid_region_code(b"US-CAISO-NP15"));
		assert!(!is_valid_region_code(b""));
		assert!(!is_valid_region_code(b"de-tennet"));
		assert!(!is_valid_region_code(b"-DE"));
		assert!(!is_valid_region_code(b"DE-"));
		assert!(!is_valid_region_code(b"ABCDEFGHIJKLMNOPQ"));
	}

	#[test]
	fn dispatch_windows_wrap_midnight() {
		let night = DispatchWindow { start_minute: 22 * 60, end_minute: 6 * 60 };
		assert!(night.is_valid());
		assert!(night.contains(23 * 60));
		assert!(night.contains(0));
		assert!(!night.contains(12 * 60));
		assert!(!DispatchWindow { start_minute: 10, end_minute: 10 }.is_valid());
		assert!(!DispatchWindow { start_minute: 0, end_minute: 1_440 }.is_valid());
	}

	#[test]
	fn comfort_limits_follow_the_kind() {
		let reserve =
			ComfortLimits { min_reserve_soc_bp: 2_000, dispatch_windows: Default::default() };
		assert_eq!(reserve.validate(DeviceKind::HomeBattery), Ok(()));
		assert_eq!(reserve.validate(DeviceKind::EvCharger), Err(ComfortError::NotApplicable));
		let windows = ComfortLimits {
			min_reserve_soc_bp: 0,
			dispatch_windows: BoundedVec::truncate_from(vec![DispatchWindow {
				start_minute: 0,
				end_minute: 60,
			}]),
		};
		assert_eq!(windows.validate(DeviceKind::SmartMeter), Err(ComfortError::NotApplicable));
		assert!(windows.allows_dispatch_at(30));
		assert!(!windows.allows_dispatch_at(61));
		let too_much = ComfortLimits { min_reserve_soc_bp: 10_001, ..Default::default() };
		assert_eq!(too_much.validate(DeviceKind::HomeBattery), Err(ComfortError::Invalid));
	}

	#[test]
	fn attestation_keys_of_every_scheme_verify_and_do_not_cross() {
		let message = b"interval report";
		let ed = ed25519::Pair::from_string("//ed", None).unwrap();
		let sr = sr25519::Pair::from_string("//sr", None).unwrap();
		let ec = ecdsa::Pair::from_string("//ec", None).unwrap();
		let cases: [(AttestationKey, AttestationSignature); 3] = [
			(ed.public().into(), ed.sign(message).into()),
			(sr.public().into(), sr.sign(message).into()),
			(ec.public().into(), ec.sign(message).into()),
		];
		for (i, (key, _)) in cases.iter().enumerate() {
			for (j, (_, signature)) in cases.iter().enumerate() {
				assert_eq!(key.verify(message, signature), i == j);
			}
			assert!(!key.verify(b"another message", &cases[i].1));
		}
	}
}
