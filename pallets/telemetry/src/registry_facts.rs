//! The registry's facts a report is checked against, copied into the device's telemetry state.
//!
//! Every report needs the device's gateway, key, kind, capability, region, comfort limits,
//! activation time and site meter. They live in the registry's device record, next to its
//! metadata, history and credit record; reading that record for every report would be a second
//! storage read besides the telemetry state. So the state keeps a copy, taken from the registry
//! at the first report after the copy was lost, and the registry says when to lose it: whenever
//! one of these facts changes or the device stops being active
//! ([`DeviceLifecycleHooks`](openvpp_primitives::DeviceLifecycleHooks)). A report of a device
//! with a copy reads one item and writes one; the `try_state` check holds every copy against
//! the registry.

use codec::{Decode, DecodeWithMemTracking, Encode, MaxEncodedLen};
use openvpp_primitives::{
	AttestationKey, Capability, ComfortLimits, DeviceId, DeviceInfo, DeviceKind, RegionCode,
	UnixSeconds,
};
use scale_info::TypeInfo;

/// What telemetry checks an active device's reports against, as the registry said.
#[derive(
	Clone, PartialEq, Eq, Encode, Decode, DecodeWithMemTracking, MaxEncodedLen, TypeInfo, Debug,
)]
pub struct RegistryFacts<AccountId> {
	pub kind: DeviceKind,
	/// The only account whose batches may carry the device's reports.
	pub gateway: AccountId,
	pub attestation_key: AttestationKey,
	pub capability: Capability,
	pub region: RegionCode,
	pub comfort: ComfortLimits,
	/// No report may cover time before this (Unix seconds).
	pub counting_since: UnixSeconds,
	/// The smart meter the device sits behind, if any.
	pub site_meter: Option<DeviceId>,
}

impl<AccountId> From<DeviceInfo<AccountId>> for RegistryFacts<AccountId> {
	fn from(info: DeviceInfo<AccountId>) -> Self {
		RegistryFacts {
			kind: info.kind,
			gateway: info.gateway,
			attestation_key: info.attestation_key,
			capability: info.capability,
			region: info.region,
			comfort: info.comfort,
			counting_since: info.counting_since,
			site_meter: info.site_meter,
		}
	}
}

/// The copy a device's telemetry state holds, if it holds one.
///
/// States stored before the copy existed end where it would begin; they decode with no copy
/// (the next report takes one), so no migration has to rewrite every device's state.
#[derive(Clone, PartialEq, Eq, Encode, MaxEncodedLen, TypeInfo, Debug)]
pub struct FactsCopy<AccountId>(pub Option<RegistryFacts<AccountId>>);

impl<AccountId> Default for FactsCopy<AccountId> {
	fn default() -> Self {
		FactsCopy(None)
	}
}

impl<AccountId: Decode> Decode for FactsCopy<AccountId> {
	fn decode<I: codec::Input>(input: &mut I) -> Result<Self, codec::Error> {
		if input.remaining_len()? == Some(0) {
			return Ok(FactsCopy(None));
		}
		Option::<RegistryFacts<AccountId>>::decode(input).map(FactsCopy)
	}
}

impl<AccountId: DecodeWithMemTracking> DecodeWithMemTracking for FactsCopy<AccountId> {}
