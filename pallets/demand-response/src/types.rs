//! What the pallet stores: events, participants, owners' consent and the per-device history
//! the baselines are computed from.

use codec::{Decode, DecodeWithMemTracking, Encode, MaxEncodedLen};
use frame_support::{pallet_prelude::ConstU32, BoundedVec};
pub use openvpp_primitives::{Baseline, EventStatus, JoinedBy};
use openvpp_primitives::{
	BasisPoints, DeviceId, EventKind, KindSet, RatedWatts, RegionCode, UnixSeconds, WattHours,
};
use scale_info::TypeInfo;

/// Identifier of an event, assigned in creation order from 1.
pub type EventId = u32;

/// Most regions one event may target.
pub const MAX_EVENT_REGIONS: u32 = 8;
/// Intervals kept per storage device for its meter-before baseline ("K").
pub const BASELINE_INTERVALS: u32 = 4;
/// How long before an event's start the meter-before intervals may end, at most (s): older
/// readings say nothing about what the device would have done.
pub const BASELINE_LOOKBACK_S: u64 = 2 * 3_600;
/// Days averaged by the "10 of 10" baseline.
pub const BASELINE_DAYS: u32 = 10;
/// Hours of the event's day, ending one hour before its start hour, that set the same-day
/// adjustment.
pub const ADJUSTMENT_HOURS: u8 = 2;
/// Limits of the same-day adjustment: ±20 %.
pub const ADJUSTMENT_MIN_BP: u32 = 8_000;
pub const ADJUSTMENT_MAX_BP: u32 = 12_000;
/// Events one device may be scheduled in at once (they never overlap).
pub const MAX_SCHEDULED_PER_DEVICE: u32 = 4;
/// Time between the end of one of a device's events and the start of its next (s): at least
/// the longest report interval, so that no report spans two events.
pub const MIN_GAP_BETWEEN_EVENTS_S: u64 = 3_600;
/// Shortest and longest interval an event is measured in (s).
pub const MIN_EVENT_INTERVAL_S: u32 = 60;
pub const MAX_EVENT_INTERVAL_S: u32 = 3_600;
pub const SECONDS_PER_DAY: u64 = 86_400;
pub const SECONDS_PER_HOUR: u64 = 3_600;

/// Bounded work the pallet still has to do for an event, in the order it happens.
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
pub enum Progress {
	/// Waiting for the opt-in deadline.
	OptIn,
	/// Selecting participants in rank order; `after` is the last one looked at.
	Selecting { after: Option<RankKey> },
	/// Selection done; waiting for the end plus the grace period.
	Selected,
	/// Paying participants in rank order; `after` is the last one paid.
	Settling { after: Option<RankKey> },
	/// Nothing left to do.
	Done,
}

/// What an operator asks for when creating an event.
#[derive(
	Clone, PartialEq, Eq, Encode, Decode, DecodeWithMemTracking, MaxEncodedLen, TypeInfo, Debug,
)]
pub struct EventSpec<Balance> {
	pub kind: EventKind,
	pub regions: BoundedVec<RegionCode, ConstU32<MAX_EVENT_REGIONS>>,
	pub eligible_kinds: KindSet,
	/// Devices join until this instant (Unix seconds).
	pub opt_in_deadline: UnixSeconds,
	/// Start of the event (Unix seconds).
	pub start: UnixSeconds,
	pub duration_s: u32,
	/// Length of the intervals the event is measured in (s); divides the duration.
	pub interval_length_s: u32,
	/// Power the operator wants moved (W).
	pub target_power_w: u64,
	/// Paid per kWh delivered.
	pub price_per_kwh: Balance,
	pub min_reputation_bp: BasisPoints,
	pub max_participants: u32,
}

/// An event and its running totals.
#[derive(
	Clone, PartialEq, Eq, Encode, Decode, DecodeWithMemTracking, MaxEncodedLen, TypeInfo, Debug,
)]
pub struct DrEvent<AccountId, Balance> {
	pub operator: AccountId,
	pub spec: EventSpec<Balance>,
	pub status: EventStatus,
	pub progress: Progress,
	/// Held from the operator at creation: the most the event can pay.
	pub escrow: Balance,
	/// Paid to owners so far.
	pub paid: Balance,
	/// Devices that joined, and their commitments (W), selected or not yet decided.
	pub joined: u32,
	pub joined_w: u64,
	/// Devices selected at the deadline and their commitments (W); never above the target.
	pub selected: u32,
	pub selected_w: u64,
	/// Energy delivered by the participants settled so far (Wh).
	pub delivered_wh: WattHours,
}

impl<AccountId, Balance> DrEvent<AccountId, Balance> {
	pub fn end(&self) -> UnixSeconds {
		self.spec.start.saturating_add(self.spec.duration_s.into())
	}
}

/// A participant's place in the selection order, used as its storage key (hashed by identity,
/// so that iterating an event's participants visits them in this order): higher reputation
/// first, then larger commitment, then lower device id. All big-endian.
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
)]
pub struct RankKey(pub [u8; 10]);

impl RankKey {
	pub fn new(reputation_bp: BasisPoints, committed_w: RatedWatts, device: DeviceId) -> Self {
		let mut key = [0u8; 10];
		key[0..2].copy_from_slice(&(BasisPoints::MAX - reputation_bp).to_be_bytes());
		key[2..6].copy_from_slice(&(RatedWatts::MAX - committed_w).to_be_bytes());
		key[6..10].copy_from_slice(&device.to_be_bytes());
		RankKey(key)
	}

	pub fn device(&self) -> DeviceId {
		let mut id = [0u8; 4];
		id.copy_from_slice(&self.0[6..10]);
		DeviceId::from_be_bytes(id)
	}
}

/// How a participant's event went, interval by interval.
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
pub struct Measurement {
	pub baseline: Option<Baseline>,
	/// What the storage could give in the event's direction at the start, within the owner's
	/// reserve (Wh); delivery is capped by it.
	pub energy_cap_wh: Option<WattHours>,
	/// Energy delivered against the baseline (Wh).
	pub delivered_wh: WattHours,
	/// Intervals reported as dispatched or responding, and measured.
	pub responding_intervals: u16,
	/// Intervals in which the owner overrode the dispatch (recorded, deliver nothing).
	pub overridden_intervals: u16,
	/// Intervals reported as idle although the device was in the event (deliver nothing).
	pub idle_intervals: u16,
	/// Intervals whose report failed a physics check (deliver nothing).
	pub flagged_intervals: u16,
	/// Intervals without a baseline to measure them against (deliver nothing).
	pub unmeasured_intervals: u16,
}

/// The outcome of a settled participant.
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
pub struct Settlement<Balance> {
	/// min(100 %, delivered ÷ committed energy).
	pub performance_bp: BasisPoints,
	pub paid: Balance,
}

/// A device in an event.
#[derive(
	Clone, PartialEq, Eq, Encode, Decode, DecodeWithMemTracking, MaxEncodedLen, TypeInfo, Debug,
)]
pub struct Participant<Balance> {
	pub device: DeviceId,
	pub joined_by: JoinedBy,
	/// Power committed (W).
	pub committed_w: RatedWatts,
	/// For storage: its capacity (Wh) and the owner's reserve (bp) when it joined, which cap
	/// what it can deliver from its state of charge at the start.
	pub storage: Option<(WattHours, BasisPoints)>,
	/// Whether the selection kept it; `false` until the selection reached it.
	pub selected: bool,
	pub measurement: Measurement,
	pub settlement: Option<Settlement<Balance>>,
}

/// One of a device's events, kept in its enrolment so that the measurement finds it without
/// searching.
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
pub struct ScheduledEvent {
	pub event: EventId,
	pub start: UnixSeconds,
	pub end: UnixSeconds,
	pub rank: RankKey,
}

impl ScheduledEvent {
	pub fn overlaps(&self, start: UnixSeconds, end: UnixSeconds) -> bool {
		self.start < end && start < self.end
	}
}

/// One of a storage device's recent intervals, for the meter-before baseline.
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
pub struct RecentInterval {
	pub interval_start: UnixSeconds,
	pub interval_length_s: u32,
	pub net_import_wh: i64,
	pub soc_bp: Option<BasisPoints>,
}

impl RecentInterval {
	pub fn interval_end(&self) -> UnixSeconds {
		self.interval_start.saturating_add(self.interval_length_s.into())
	}
}

/// A device's net import in one hour of one day (Wh), for the "10 of 10" baseline.
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
pub struct HourEnergy {
	/// Days since the Unix epoch (UTC).
	pub day: u32,
	pub net_import_wh: i64,
}

/// The hours of one slot over the last days, oldest first: the baseline days and today.
pub type HourHistory = BoundedVec<HourEnergy, ConstU32<{ BASELINE_DAYS + 1 }>>;

/// An owner's standing consent for a device, and what the chain keeps to measure it.
#[derive(
	Clone, PartialEq, Eq, Encode, Decode, DecodeWithMemTracking, MaxEncodedLen, TypeInfo, Debug,
)]
pub struct Enrolment {
	/// Whether the device's gateway may join events for it.
	pub gateway_may_join: bool,
	/// The most power the gateway may commit for it (W).
	pub max_power_w: RatedWatts,
	/// The last intervals (storage kinds), newest last.
	pub recent: BoundedVec<RecentInterval, ConstU32<BASELINE_INTERVALS>>,
	/// Events it is in that have not ended for it yet, by start.
	pub schedule: BoundedVec<ScheduledEvent, ConstU32<MAX_SCHEDULED_PER_DEVICE>>,
	/// Days it took part in an event (excluded from its "10 of 10" baseline), newest last.
	pub event_days: BoundedVec<u32, ConstU32<BASELINE_DAYS>>,
}
