//! What the telemetry pallet stores: one state record per device, the energy status map per
//! region and kind, and the raw-data digests of recent batches.

use codec::{Decode, DecodeWithMemTracking, Encode, MaxEncodedLen};
use frame_support::{
	defensive, traits::Get, weights::Weight, BoundedVec, CloneNoBound, DebugNoBound, EqNoBound,
	PartialEqNoBound,
};
use openvpp_primitives::{
	BasisPoints, DeviceKind, DeviceState, EnergyReference, EpochTelemetry, GridResponseStatus,
	LiveFigures, PlausibilityFlags, RegionCode, UnixSeconds, WattHours, Watts,
};
use scale_info::TypeInfo;
use sp_core::H256;

use crate::FactsCopy;

/// The device's latest accepted reading: the live state the status map and dispatch use.
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
pub struct LatestReading {
	pub interval_start: UnixSeconds,
	pub interval_length_s: u32,
	/// Average power (W, positive = delivered to the grid).
	pub average_power_w: Watts,
	pub peak_power_w: Watts,
	pub soc_bp: Option<BasisPoints>,
	pub device_state: DeviceState,
	pub grid_response: GridResponseStatus,
	pub cumulative_imported_wh: WattHours,
	pub cumulative_exported_wh: WattHours,
	/// Physics checks this reading failed; empty when it was plausible.
	pub plausibility: PlausibilityFlags,
}

/// What a device currently adds to the status map, and until when.
#[derive(
	Clone, PartialEq, Eq, Encode, Decode, DecodeWithMemTracking, MaxEncodedLen, TypeInfo, Debug,
)]
pub struct LiveEntry {
	pub region: RegionCode,
	pub kind: DeviceKind,
	pub figures: LiveFigures,
	/// The freshness slot the figures sit in: they stop counting at this instant (Unix seconds)
	/// unless a newer report replaces them.
	pub expires_at: UnixSeconds,
}

/// Everything the chain keeps about one device's telemetry: constant size, read and written
/// once per report.
#[derive(
	Clone, PartialEq, Eq, Encode, Decode, DecodeWithMemTracking, MaxEncodedLen, TypeInfo, Debug,
)]
pub struct DeviceTelemetryState<AccountId> {
	/// Sequence number of the last accepted report.
	pub last_sequence: u64,
	/// End of the last accepted interval (Unix seconds); the next must not start before it.
	pub last_interval_end: UnixSeconds,
	pub latest: LatestReading,
	/// What the next report's physics are checked against: counters and state of charge as
	/// of the latest plausible report (see [`openvpp_primitives::plausibility`]).
	pub reference: Option<EnergyReference>,
	/// The device's entry in the status map, if it currently counts.
	pub live: Option<LiveEntry>,
	/// Running totals of the current scoring epoch.
	pub epoch: EpochTelemetry,
	/// Whether demand response measures the device: its reports go to
	/// [`Config::Measurement`](crate::Config::Measurement).
	pub measured: bool,
	/// The registry's facts the next report is checked against, if no change has voided the
	/// copy (see [`crate::registry_facts`]). Last, so that states stored without it decode.
	pub facts: FactsCopy<AccountId>,
}

/// Figures that stop counting at the same instant.
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
pub struct FreshnessSlot {
	/// When these figures go stale (Unix seconds, a multiple of the slot length).
	pub expires_at: UnixSeconds,
	pub figures: LiveFigures,
}

/// The live figures of one device kind in one region, kept in freshness slots.
///
/// A device's figures sit in the slot of the instant they go stale (its interval end plus
/// `StaleAfterIntervals` intervals, rounded up to the slot length). Reading the map sums the
/// slots that have not expired yet, so a device that stops reporting drops out on time without
/// anything iterating over devices; a newer report moves its figures to a later slot.
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
#[scale_info(skip_type_params(S))]
#[codec(mel_bound(S: Get<u32>))]
pub struct RegionKindStatus<S: Get<u32>> {
	/// Slots ordered by expiry.
	pub slots: BoundedVec<FreshnessSlot, S>,
	/// When a report last changed these figures (Unix seconds).
	pub updated_at: UnixSeconds,
}

impl<S: Get<u32>> Default for RegionKindStatus<S> {
	fn default() -> Self {
		RegionKindStatus { slots: BoundedVec::new(), updated_at: 0 }
	}
}

impl<S: Get<u32>> RegionKindStatus<S> {
	/// Drops slots that have expired by `now`.
	pub fn prune(&mut self, now: UnixSeconds) {
		self.slots.retain(|slot| slot.expires_at > now);
	}

	/// The figures that still count at `now`.
	pub fn live(&self, now: UnixSeconds) -> LiveFigures {
		let mut total = LiveFigures::default();
		for slot in self.slots.iter().filter(|slot| slot.expires_at > now) {
			total.add(&slot.figures);
		}
		total
	}

	/// Adds a device's figures to the slot expiring at `expires_at`.
	pub fn add(&mut self, expires_at: UnixSeconds, figures: &LiveFigures) {
		match self.slots.binary_search_by_key(&expires_at, |slot| slot.expires_at) {
			Ok(index) => {
				if let Some(slot) = self.slots.get_mut(index) {
					slot.figures.add(figures);
				}
			}
			Err(index) => {
				let slot = FreshnessSlot { expires_at, figures: *figures };
				if self.slots.try_insert(index, slot).is_err() {
					// The slot count is sized so that this cannot happen (see `integrity_test`);
					// if it did, keep the figures in the latest slot rather than lose them.
					defensive!("freshness slots full");
					if let Some(last) = self.slots.last_mut() {
						last.figures.add(figures);
					}
				}
			}
		}
	}

	/// Removes a device's figures from the slot expiring at `expires_at`, if that slot still
	/// exists (an expired slot no longer counts, so there is nothing to remove).
	pub fn remove(&mut self, expires_at: UnixSeconds, figures: &LiveFigures) {
		if let Ok(index) = self.slots.binary_search_by_key(&expires_at, |slot| slot.expires_at) {
			let now_empty = match self.slots.get_mut(index) {
				Some(slot) => {
					slot.figures.subtract(figures);
					slot.figures.devices == 0
				}
				None => false,
			};
			if now_empty {
				self.slots.remove(index);
			}
		}
	}
}

/// The raw-data digest a gateway attached to a batch, kept for auditors until the report horizon
/// passes.
#[derive(
	Clone, PartialEq, Eq, Encode, Decode, DecodeWithMemTracking, MaxEncodedLen, TypeInfo, Debug,
)]
pub struct BatchDigest<AccountId> {
	pub gateway: AccountId,
	/// E.g. the Merkle root of the raw samples behind the batch's reports.
	pub digest: H256,
	/// Reports in the batch.
	pub reports: u32,
}

/// The live figures of one region and device kind, as the status map view returns them.
#[derive(Clone, PartialEq, Eq, Encode, Decode, TypeInfo, Debug)]
pub struct RegionFigures {
	pub region: RegionCode,
	pub kind: DeviceKind,
	pub figures: LiveFigures,
	/// When a report last changed these figures (Unix seconds).
	pub updated_at: UnixSeconds,
}

/// What a batch paid.
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
pub enum BatchFee<Balance> {
	/// Every report was plausible and no digest was stored: nothing.
	Free,
	/// The share of the batch's weight and length that its rejected and flagged reports (and
	/// a stored digest) account for, taken by the pallet; the transaction itself was free.
	Share(Balance),
	/// The gateway could not pay its share at dispatch, so the whole batch paid its ordinary
	/// transaction fee.
	Full,
}

/// How one report of a batch fared.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Outcome {
	Accepted,
	Flagged(PlausibilityFlags),
	/// Rejected; `verified` tells whether its signature was checked (which costs the most).
	Rejected {
		reason: openvpp_primitives::RejectionReason,
		verified: bool,
	},
}

/// What a batch did, which is what its weight is computed from.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
pub struct BatchWork {
	/// Reports accepted (flagged or not): signature checked, state read and written.
	pub processed: u32,
	/// Accepted reports whose device's state held no copy of the registry's facts, which were
	/// read from the registry (rejected reports are priced as if theirs were).
	pub facts_fetched: u32,
	/// Reports rejected after their signature was checked (bad signature, sequence, interval).
	pub rejected_verified: u32,
	/// Reports rejected before it (unknown or inactive device, wrong gateway).
	pub rejected_unverified: u32,
	/// Devices whose scoring epoch the batch closed.
	pub epochs_closed: u32,
	/// Devices whose epoch the batch opened without closing one (a first report, or the first
	/// after the sweep closed the epoch): each puts the device in the sweep's index.
	pub epochs_opened: u32,
	/// Status-map entries (region × kind) the batch changed.
	pub status_entries: u32,
	/// Signatures checked, per scheme: ed25519, sr25519 (the benchmarks sign with ECDSA; these
	/// are repriced by the difference).
	pub ed25519_checked: u32,
	pub sr25519_checked: u32,
	/// What demand response used measuring enrolled devices (reported by it).
	pub measurement_weight: Weight,
}
