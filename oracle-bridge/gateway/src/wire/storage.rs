//! The storage the gateway reads: where each entry lives and the types its values decode into.
//!
//! A key is the twox-128 hash of the pallet's name in the runtime, the twox-128 hash of the
//! entry's name, then each map key through its hasher. The names and hashers are written here
//! once; [`crate::compat`] checks them against the node's metadata, and a test checks them
//! against the runtime's own key functions.

use codec::Encode;
use openvpp_primitives::DeviceId;
use sp_core::{crypto::AccountId32, ConstU32};
use sp_crypto_hashing::{blake2_128, twox_128, twox_64};

/// Accounts on the chain.
pub type AccountId = AccountId32;
/// OVPP amounts, in planck.
pub type Balance = u128;
/// The bound a reader decodes a bounded collection with: it takes what the chain stored, even
/// if governance raised a limit since this gateway was built.
pub type AnyLength = ConstU32<{ u32::MAX }>;

/// A device's registry record (`DeviceRegistry.Devices`).
pub type DeviceRecord =
	pallet_device_registry::DeviceRecord<AccountId, Balance, AnyLength, AnyLength, AnyLength>;
/// A device's telemetry state (`Telemetry.DeviceTelemetry`).
pub type DeviceTelemetryState = pallet_telemetry::DeviceTelemetryState<AccountId>;
/// A demand-response event (`DemandResponse.Events`).
pub type DrEvent = pallet_demand_response::DrEvent<AccountId, Balance>;
/// A device's place in a demand-response event (`DemandResponse.Participants`).
pub type Participant = pallet_demand_response::Participant<Balance>;

/// The key of a plain value, and the prefix every key of a map starts with.
pub fn prefix(pallet: &str, entry: &str) -> Vec<u8> {
	let mut key = twox_128(pallet.as_bytes()).to_vec();
	key.extend(twox_128(entry.as_bytes()));
	key
}

/// A map key through `Twox64Concat`: its hash, then the key itself.
pub fn twox64_concat(key: &impl Encode) -> Vec<u8> {
	let encoded = key.encode();
	let mut out = twox_64(&encoded).to_vec();
	out.extend(encoded);
	out
}

/// A map key through `Blake2_128Concat`.
pub fn blake2_128_concat(key: &impl Encode) -> Vec<u8> {
	let encoded = key.encode();
	let mut out = blake2_128(&encoded).to_vec();
	out.extend(encoded);
	out
}

fn map_key(pallet: &str, entry: &str, hashed: Vec<u8>) -> Vec<u8> {
	let mut key = prefix(pallet, entry);
	key.extend(hashed);
	key
}

/// `System.Events`: the events of the block.
pub fn system_events() -> Vec<u8> {
	prefix("System", "Events")
}

/// `Timestamp.Now`: the block's time (Unix ms).
pub fn timestamp_now() -> Vec<u8> {
	prefix("Timestamp", "Now")
}

/// `DeviceRegistry.Devices` of `device`.
pub fn device(device: DeviceId) -> Vec<u8> {
	map_key("DeviceRegistry", "Devices", twox64_concat(&device))
}

/// `DeviceRegistry.RegistrationNonces` of `owner`.
pub fn registration_nonce(owner: &AccountId) -> Vec<u8> {
	map_key("DeviceRegistry", "RegistrationNonces", blake2_128_concat(owner))
}

/// `Telemetry.DeviceTelemetry` of `device`.
pub fn device_telemetry(device: DeviceId) -> Vec<u8> {
	map_key("Telemetry", "DeviceTelemetry", twox64_concat(&device))
}

/// `Telemetry.MinIntervalLengthS`.
pub fn min_interval_length_s() -> Vec<u8> {
	prefix("Telemetry", "MinIntervalLengthS")
}

/// `DemandResponse.Enrolments` of `device`.
pub fn enrolment(device: DeviceId) -> Vec<u8> {
	map_key("DemandResponse", "Enrolments", twox64_concat(&device))
}

/// `DemandResponse.Events` of `event`.
pub fn dr_event(event: pallet_demand_response::EventId) -> Vec<u8> {
	map_key("DemandResponse", "Events", twox64_concat(&event))
}

/// The prefix of `event`'s participants: `| rank` (identity) follows.
pub fn participants_of(event: pallet_demand_response::EventId) -> Vec<u8> {
	map_key("DemandResponse", "Participants", twox64_concat(&event))
}

/// `DemandResponse.Participants` of `event` at `rank`.
pub fn participant(
	event: pallet_demand_response::EventId,
	rank: &pallet_demand_response::RankKey,
) -> Vec<u8> {
	let mut key = participants_of(event);
	key.extend(rank.encode());
	key
}

/// `DemandResponse.OpenEvents`.
pub fn open_events() -> Vec<u8> {
	prefix("DemandResponse", "OpenEvents")
}
