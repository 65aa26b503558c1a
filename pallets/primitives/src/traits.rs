//! The traits through which OpenVPP pallets ask each other. Each is implemented by one pallet
//! and used by others; the runtime wires them together.

use codec::{Decode, DecodeWithMemTracking, Encode, MaxEncodedLen};
use scale_info::TypeInfo;

use crate::{
	AttestationKey, BasisPoints, Capability, ComfortLimits, DeviceId, DeviceKind, DeviceStatus,
	RegionCode, UnixSeconds, WattHours,
};

/// What other pallets may know about an active device, read in one storage access.
#[derive(Clone, PartialEq, Eq, Encode, Decode, TypeInfo, Debug)]
pub struct DeviceInfo<AccountId> {
	pub kind: DeviceKind,
	pub owner: AccountId,
	/// The only account allowed to submit the device's readings.
	pub gateway: AccountId,
	pub attestation_key: AttestationKey,
	pub capability: Capability,
	pub region: RegionCode,
	pub comfort: ComfortLimits,
	/// The device's reputation, 0–10 000 bp.
	pub reputation_bp: BasisPoints,
	/// When the device was last made active (approved or reinstated, Unix seconds): no report
	/// may cover time before it.
	pub counting_since: UnixSeconds,
	/// The smart meter at the grid connection this device sits behind, if its owner declared
	/// one: that meter measures the device's grid exchange again, as part of the site's.
	pub site_meter: Option<DeviceId>,
}

/// Why a device could not be used.
#[derive(Clone, Copy, PartialEq, Eq, Encode, Decode, TypeInfo, Debug)]
pub enum DeviceLookupError {
	/// No device has this id (never registered, or retired).
	Unknown,
	/// The device exists but is not `Active`.
	NotActive(DeviceStatus),
}

/// Lifetime telemetry totals to add to a device's history, as accumulated by the telemetry
/// pallet over one scoring epoch.
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
)]
pub struct TelemetryTotals {
	/// Energy generated and delivered by kinds that generate (Wh).
	pub energy_produced_wh: WattHours,
	/// Energy drawn from the grid, charging included (Wh).
	pub energy_consumed_wh: WattHours,
	/// Energy drawn into storage (Wh).
	pub energy_charged_wh: WattHours,
	/// Energy delivered from storage (Wh).
	pub energy_discharged_wh: WattHours,
	/// Seconds the device was online.
	pub online_s: u64,
	pub reports_accepted: u32,
	pub reports_flagged: u32,
	pub reports_rejected: u32,
	/// Intervals the device should have reported, missed ones included.
	pub reports_expected: u32,
	/// End of the latest interval these totals include (Unix seconds).
	pub last_seen: Option<UnixSeconds>,
}

/// Something a device took part in, counted in its lifetime history.
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
pub enum Participation {
	/// It committed to a demand-response event.
	DemandResponseJoined,
	/// It delivered its commitment in a demand-response event.
	DemandResponseDelivered,
	/// It earned a reward for a scoring epoch.
	EpochRewarded,
}

/// Why a device's reputation changed.
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
pub enum ReputationReason {
	/// The quality of its telemetry over an epoch (accepted vs. flagged, rejected, missing).
	DataQuality,
	/// How much of its commitment it delivered in a demand-response event.
	DemandResponse,
	/// How much of the time it was online and available.
	Availability,
	/// A verifier or governance decision (audit, suspension).
	Governance,
}

/// The device registry, as other pallets see it.
pub trait DeviceRegistry<AccountId> {
	/// The device's identity if it exists and is `Active`.
	fn active_device(id: DeviceId) -> Result<DeviceInfo<AccountId>, DeviceLookupError>;

	/// Adds telemetry totals to the device's lifetime history.
	fn record_telemetry(id: DeviceId, totals: &TelemetryTotals) -> Result<(), DeviceLookupError>;

	/// Counts a demand-response event or a rewarded epoch in the device's lifetime history.
	fn record_participation(id: DeviceId, what: Participation) -> Result<(), DeviceLookupError>;

	/// Changes the device's reputation by `delta_bp` (clamped to 0–10 000 bp) and records why.
	/// Returns the new reputation.
	fn record_reputation(
		id: DeviceId,
		delta_bp: i32,
		reason: ReputationReason,
	) -> Result<BasisPoints, DeviceLookupError>;

	/// The devices declared behind the smart meter `meter` (at most the registry's
	/// `MaxDevicesPerSite`; empty for any other device).
	fn devices_behind(meter: DeviceId) -> alloc::vec::Vec<DeviceId>;
}

/// Whether a device is committed to work it must not be moved away from: the registry asks
/// before it puts a device behind a site meter, since an event that measures the device and
/// one that measures its site at the same time would pay the same energy twice.
pub trait DeviceCommitments {
	/// The device is scheduled in a demand-response event that has not ended.
	fn is_committed(id: DeviceId) -> bool;
}

impl DeviceCommitments for () {
	fn is_committed(_: DeviceId) -> bool {
		false
	}
}

/// Notifications the device registry sends when a device stops counting or what other pallets
/// may have copied from it changes, so that pallets holding per-device state can drop the
/// device from live figures, forget a copy, or clean up.
pub trait DeviceLifecycleHooks {
	/// The device left the `Active` status (suspended or retired).
	fn on_device_deactivated(id: DeviceId);
	/// The device was retired and removed from the registry.
	fn on_device_retired(id: DeviceId);
	/// A field of the active device's [`DeviceInfo`] other than its owner and reputation
	/// changed (its gateway, key, comfort limits or site meter), or it became active again.
	fn on_device_changed(id: DeviceId);
}

impl DeviceLifecycleHooks for () {
	fn on_device_deactivated(_: DeviceId) {}
	fn on_device_retired(_: DeviceId) {}
	fn on_device_changed(_: DeviceId) {}
}

/// Tells both, in order.
impl<A: DeviceLifecycleHooks, B: DeviceLifecycleHooks> DeviceLifecycleHooks for (A, B) {
	fn on_device_deactivated(id: DeviceId) {
		A::on_device_deactivated(id);
		B::on_device_deactivated(id);
	}
	fn on_device_retired(id: DeviceId) {
		A::on_device_retired(id);
		B::on_device_retired(id);
	}
	fn on_device_changed(id: DeviceId) {
		A::on_device_changed(id);
		B::on_device_changed(id);
	}
}

/// Puts a device into the most expensive state for the lifecycle hooks, for the registry's
/// benchmarks: the hooks' cost depends on what other pallets hold about the device.
#[cfg(feature = "runtime-benchmarks")]
pub trait LifecycleHooksBenchmarkHelper {
	/// Gives `id` (an active device of `kind` in `region`) the per-device state whose removal
	/// costs the most.
	fn make_worst_case(id: DeviceId, region: &RegionCode, kind: DeviceKind);
}

#[cfg(feature = "runtime-benchmarks")]
impl LifecycleHooksBenchmarkHelper for () {
	fn make_worst_case(_: DeviceId, _: &RegionCode, _: DeviceKind) {}
}

#[cfg(feature = "runtime-benchmarks")]
impl<A: LifecycleHooksBenchmarkHelper, B: LifecycleHooksBenchmarkHelper>
	LifecycleHooksBenchmarkHelper for (A, B)
{
	fn make_worst_case(id: DeviceId, region: &RegionCode, kind: DeviceKind) {
		A::make_worst_case(id, region, kind);
		B::make_worst_case(id, region, kind);
	}
}

/// One device's telemetry over one scoring epoch, as the telemetry pallet closes it. Energy
/// counts only plausible reports.
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
pub struct EpochTelemetry {
	/// Epoch index: interval start ÷ epoch length.
	pub epoch: u64,
	/// Energy generated and delivered by kinds that generate ([`DeviceKind::generates`], Wh).
	pub produced_wh: WattHours,
	/// Energy delivered to the grid, whatever the kind: generation, discharge, a site's export
	/// (Wh).
	pub exported_wh: WattHours,
	/// Energy drawn from the grid, charging included (Wh).
	pub consumed_wh: WattHours,
	/// Energy drawn into storage (Wh).
	pub charged_wh: WattHours,
	/// Energy delivered from storage (Wh).
	pub discharged_wh: WattHours,
	/// Seconds the device was online.
	pub online_s: u64,
	/// Stored energy above the owner's reserve, integrated over the plausible intervals of a
	/// storage device (Wh·s): divided by the epoch's length, the energy it held ready on
	/// average.
	pub stored_above_reserve_wh_s: u64,
	/// Reports accepted as plausible.
	pub accepted: u32,
	/// Reports accepted but flagged as implausible.
	pub flagged: u32,
	/// Reports rejected after the device's gateway submitted them (bad signature, interval).
	pub rejected: u32,
	/// Intervals the device should have reported, gaps included.
	pub expected: u32,
}

/// Told when a device's scoring epoch closes (at its first report of a later epoch, or when the
/// device is retired).
pub trait OnEpochClosed {
	fn on_epoch_closed(device: DeviceId, telemetry: &EpochTelemetry);
}

impl OnEpochClosed for () {
	fn on_epoch_closed(_: DeviceId, _: &EpochTelemetry) {}
}

/// How far the telemetry pallet has closed scoring epochs.
pub trait ClosedEpochs {
	/// Every device's epochs before this one are closed; `None` before the first block.
	fn closed_before() -> Option<u64>;
}

/// Every epoch counts as closed: for tests of pallets that do not run the telemetry pallet.
impl ClosedEpochs for () {
	fn closed_before() -> Option<u64> {
		Some(u64::MAX)
	}
}

/// Told when demand response settles one participant of an event, with what it committed and
/// what was measured, so that the device's contribution can be scored.
pub trait OnParticipantSettled {
	/// `device` committed `committed_wh` to an event and delivered `delivered_wh`.
	fn on_participant_settled(device: DeviceId, committed_wh: WattHours, delivered_wh: WattHours);
}

impl OnParticipantSettled for () {
	fn on_participant_settled(_: DeviceId, _: WattHours, _: WattHours) {}
}

/// Creates active devices for other pallets' benchmarks.
#[cfg(feature = "runtime-benchmarks")]
pub trait DeviceRegistryBenchmarkHelper<AccountId> {
	/// Registers an active device bound to `gateway` with `attestation_key`, funding whatever
	/// deposit it needs.
	fn register_active_device(
		owner: AccountId,
		gateway: AccountId,
		kind: DeviceKind,
		capability: Capability,
		region: RegionCode,
		attestation_key: AttestationKey,
	) -> DeviceId;
}

/// Sets the chain's clock in benchmarks whose set-up needs a given time.
#[cfg(feature = "runtime-benchmarks")]
pub trait BenchmarkClock {
	/// Makes the current time `seconds` since the Unix epoch.
	fn set_unix_time(seconds: UnixSeconds);
}
