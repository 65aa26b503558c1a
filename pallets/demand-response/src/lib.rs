//! # Demand response
//!
//! The network calls on its devices when the grid needs them, and pays what each delivered.
//!
//! ## Lifecycle
//!
//! ```text
//!  create_event ──► Scheduled ──(opt-in deadline: selection)──► (start) Active ──► (end) Completed
//!      │  escrow held    │ join / leave                                              │ grace period
//!      │                 ▼                                                           ▼
//!      └──────────── Cancelled ◄── cancel_event (before the end)       Settled ◄── settlement
//! ```
//!
//! - **Operators** ([`Operators`]) are appointed by [`Config::AdminOrigin`]. An operator creates
//!   an event ([`EventSpec`]): what to do ([`openvpp_primitives::EventKind`]), where (regions),
//!   which device kinds, when (opt-in deadline, start, duration, measurement interval), how much
//!   power, at what price per kWh, for whom (minimum reputation, most participants). The most
//!   the event can pay is held from the operator at creation (a fungible hold,
//!   [`HoldReason::EventEscrow`]).
//! - **Owners** enrol a device once ([`Pallet::enrol`]): a standing consent saying whether its
//!   gateway may join events for it, and up to how much power. Enrolled devices are measured:
//!   the telemetry pallet passes their reports to this pallet, which keeps the history their
//!   baselines need. Other devices cost nothing extra per report.
//! - **Joining**: the owner, or the gateway within the consent, commits a device's power to an
//!   event before its opt-in deadline. The commitment must fit what the device can do (its
//!   latest reading, capability, comfort limits: dispatch windows and the storage reserve), its
//!   region and kind must be eligible, its reputation high enough; a device serves one event at
//!   a time, and its events are at least an hour apart (so no report spans two). A site meter
//!   and a device behind it (see the registry's sites) never serve at the same time, which
//!   would pay the same energy twice.
//! - **Selection** at the deadline, when commitments exceed the target: participants in the
//!   order highest reputation, then largest commitment, then lowest device id; each is kept if
//!   its commitment still fits under the target power and the participant limit, skipped
//!   otherwise. Storage keys are in that order, so the selection walks them across blocks.
//! - **Measurement** ([`baseline`]): each selected device's delivered energy against its
//!   baseline, interval by interval, as its reports arrive.
//! - **Settlement** after the end plus [`Config::SettlementGraceS`]: for each participant,
//!   `performance = min(100 %, delivered ÷ committed energy)`; it is paid `price × delivered`,
//!   delivery counted up to its commitment plus [`Config::DeliveryToleranceBp`], from the escrow
//!   to the device's owner; its reputation moves by
//!   `(performance − ReputationPivotBp) ÷ 4` bp (+500 at 100 %, −2 000 at 0 % with the pivot at
//!   80 %); the registry counts the participation. The rest of the escrow returns to the
//!   operator. Each participant is settled exactly once.
//!
//! Selection and settlement run in [`Hooks::on_poll`], which comes before transactions in every
//! block, within [`Config::MaxPollWeight`]: full blocks of telemetry cannot starve them.

#![cfg_attr(not(feature = "std"), no_std)]

extern crate alloc;

pub use pallet::*;

pub mod baseline;
#[cfg(feature = "runtime-benchmarks")]
pub mod benchmarking;
mod event_impls;
mod invariants;
mod joining_impls;
mod measurement_impls;
#[cfg(test)]
mod mock;
mod progress_impls;
mod pruning;
#[cfg(test)]
mod tests;
pub mod types;
mod weight_model;
pub mod weights;

pub use types::*;
pub use weight_model::WeightModel;
pub use weights::WeightInfo;

// The pallet macros expand to `expect` calls on values they construct themselves.
#[allow(clippy::expect_used)]
#[frame_support::pallet]
pub mod pallet {
	use super::*;
	use frame_support::{
		pallet_prelude::*,
		traits::{
			fungible::{Inspect, Mutate, MutateHold},
			UnixTime,
		},
		weights::WeightMeter,
	};
	use frame_system::pallet_prelude::*;
	use openvpp_primitives::{
		BasisPoints, DeviceId, DeviceRegistry, EventKind, MeasuredDevices, OnParticipantSettled,
		RatedWatts, UnixSeconds, WattHours,
	};

	pub type BalanceOf<T> =
		<<T as Config>::Currency as Inspect<<T as frame_system::Config>::AccountId>>::Balance;
	pub type EventOf<T> = DrEvent<<T as frame_system::Config>::AccountId, BalanceOf<T>>;
	pub type EventSpecOf<T> = EventSpec<BalanceOf<T>>;
	pub type ParticipantOf<T> = Participant<BalanceOf<T>>;

	#[pallet::pallet]
	pub struct Pallet<T>(_);

	#[pallet::config]
	pub trait Config: frame_system::Config<RuntimeEvent: From<Event<Self>>> {
		/// The OVPP currency: escrows are held in it and paid from it.
		type Currency: Mutate<Self::AccountId>
			+ MutateHold<Self::AccountId, Reason = Self::RuntimeHoldReason>;
		type RuntimeHoldReason: From<HoldReason>;
		type Registry: DeviceRegistry<Self::AccountId>;
		/// The telemetry pallet: which devices it passes to the measurement, and their latest
		/// readings.
		type Telemetry: MeasuredDevices;
		/// Told of each settled participant that is still active (contribution scoring).
		type OnParticipantSettled: OnParticipantSettled;
		type UnixTime: UnixTime;
		/// Appoints and removes operators, and may cancel any event.
		type AdminOrigin: EnsureOrigin<Self::RuntimeOrigin>;

		/// Events not yet settled or cancelled, at most.
		#[pallet::constant]
		type MaxOpenEvents: Get<u32>;
		/// Devices that may join one event, at most.
		#[pallet::constant]
		type MaxParticipantsPerEvent: Get<u32>;
		/// Longest event (s).
		#[pallet::constant]
		type MaxEventDurationS: Get<u32>;
		/// How far ahead an event may start (s).
		#[pallet::constant]
		type MaxLeadTimeS: Get<u64>;
		/// How long after its end an event still takes late reports before it settles (s).
		#[pallet::constant]
		type SettlementGraceS: Get<u64>;
		/// How long a settled or cancelled event and its participants stay in storage after the
		/// event's end (s); then they are deleted, oldest first.
		#[pallet::constant]
		type EventRetentionS: Get<u64>;
		/// Delivery beyond the commitment that is still paid, in bp of the commitment.
		#[pallet::constant]
		type DeliveryToleranceBp: Get<BasisPoints>;
		/// Performance at which reputation does not move (bp).
		#[pallet::constant]
		type ReputationPivotBp: Get<BasisPoints>;
		/// Days of history a "10 of 10" baseline needs at least.
		#[pallet::constant]
		type MinBaselineDays: Get<u32>;
		/// The share of each block that selection and settlement may use.
		#[pallet::constant]
		type MaxPollWeight: Get<Weight>;

		type WeightInfo: WeightInfo;

		/// Devices with readings for the benchmarks.
		#[cfg(feature = "runtime-benchmarks")]
		type BenchmarkHelper: crate::benchmarking::BenchmarkHelper<Self::AccountId>;
	}

	/// Why this pallet holds funds.
	#[pallet::composite_enum]
	pub enum HoldReason {
		/// The most an event can pay, held from its operator until it settles or is cancelled.
		EventEscrow,
	}

	/// Accounts allowed to create events.
	#[pallet::storage]
	pub type Operators<T: Config> = StorageMap<_, Blake2_128Concat, T::AccountId, ()>;

	/// The id the next event gets.
	#[pallet::storage]
	pub type NextEventId<T: Config> = StorageValue<_, EventId, ValueQuery>;

	#[pallet::storage]
	pub type Events<T: Config> = StorageMap<_, Twox64Concat, EventId, EventOf<T>>;

	/// Events that are neither settled nor cancelled, in creation order: the work list of
	/// [`Hooks::on_poll`].
	#[pallet::storage]
	pub type OpenEvents<T: Config> =
		StorageValue<_, BoundedVec<EventId, T::MaxOpenEvents>, ValueQuery>;

	/// The oldest event that may still be stored: those before it were deleted.
	#[pallet::storage]
	pub type NextToPrune<T: Config> = StorageValue<_, EventId, ValueQuery>;

	/// The devices in each event, keyed by their place in the selection order.
	#[pallet::storage]
	pub type Participants<T: Config> =
		StorageDoubleMap<_, Twox64Concat, EventId, Identity, RankKey, Participant<BalanceOf<T>>>;

	/// Owners' consent per device, with what the measurement keeps about it.
	#[pallet::storage]
	pub type Enrolments<T: Config> = StorageMap<_, Twox64Concat, DeviceId, Enrolment>;

	/// Net import per enrolled site and hour of the day over the last days ("10 of 10").
	#[pallet::storage]
	pub type HourlyHistory<T: Config> =
		StorageDoubleMap<_, Twox64Concat, DeviceId, Twox64Concat, u8, HourHistory, ValueQuery>;

	#[pallet::event]
	#[pallet::generate_deposit(pub(super) fn deposit_event)]
	pub enum Event<T: Config> {
		OperatorAdded {
			operator: T::AccountId,
		},
		OperatorRemoved {
			operator: T::AccountId,
		},
		EventCreated {
			event: EventId,
			operator: T::AccountId,
			kind: EventKind,
			start: UnixSeconds,
			end: UnixSeconds,
			target_power_w: u64,
			escrow: BalanceOf<T>,
		},
		/// Called off before its end; the whole escrow went back to the operator.
		EventCancelled {
			event: EventId,
			refunded: BalanceOf<T>,
		},
		/// The opt-in deadline passed and the participants were chosen.
		SelectionFinished {
			event: EventId,
			selected: u32,
			selected_w: u64,
		},
		EventStarted {
			event: EventId,
		},
		EventCompleted {
			event: EventId,
		},
		EventSettled {
			event: EventId,
			delivered_wh: WattHours,
			paid: BalanceOf<T>,
			refunded: BalanceOf<T>,
		},
		/// A settled or cancelled event and its participants were deleted after the retention
		/// period; what happened to it stays in these events.
		EventPruned {
			event: EventId,
		},
		Enrolled {
			device: DeviceId,
			gateway_may_join: bool,
			max_power_w: RatedWatts,
		},
		Unenrolled {
			device: DeviceId,
		},
		Joined {
			event: EventId,
			device: DeviceId,
			committed_w: RatedWatts,
			by: JoinedBy,
		},
		Left {
			event: EventId,
			device: DeviceId,
		},
		/// Kept by the selection.
		Selected {
			event: EventId,
			device: DeviceId,
		},
		/// Skipped by the selection: the target or the participant limit was already reached.
		NotSelected {
			event: EventId,
			device: DeviceId,
		},
		/// The device's report said its owner overrode the dispatch in this interval.
		OverrideRecorded {
			event: EventId,
			device: DeviceId,
			interval_start: UnixSeconds,
		},
		ParticipantSettled {
			event: EventId,
			device: DeviceId,
			delivered_wh: WattHours,
			performance_bp: BasisPoints,
			paid: BalanceOf<T>,
		},
	}

	#[pallet::error]
	pub enum Error<T> {
		/// The account is already an operator.
		AlreadyOperator,
		/// The account is not an operator.
		NotOperator,
		/// An event needs at least one region.
		NoRegions,
		/// A region code is malformed.
		InvalidRegion,
		/// A region is listed twice.
		DuplicateRegion,
		/// No known device kind is eligible, or the set names unknown kinds.
		InvalidKinds,
		/// None of the eligible kinds can do what the event asks.
		KindsCannotServe,
		/// The opt-in deadline must be in the future and not after the start.
		InvalidDeadline,
		/// The start is further ahead than `MaxLeadTimeS`.
		StartTooFarAhead,
		/// The duration is zero, too long, or not a whole number of measurement intervals.
		InvalidDuration,
		/// The measurement interval is outside 60 s – 1 h.
		InvalidInterval,
		/// Target power, price and participant limit must be positive.
		ZeroAmount,
		/// More participants than `MaxParticipantsPerEvent`.
		TooManyParticipants,
		/// The minimum reputation is above 10 000 bp.
		InvalidReputation,
		/// The escrow overflows the balance type.
		EscrowOverflow,
		/// The operator cannot afford the escrow.
		CannotHoldEscrow,
		/// `MaxOpenEvents` events are open already.
		TooManyOpenEvents,
		/// No event has this id.
		UnknownEvent,
		/// Only the event's operator or the admin may do this.
		NotEventOperator,
		/// The event is not in a status that allows this.
		WrongStatus,
		/// The opt-in deadline has passed.
		OptInClosed,
		/// The device does not exist or is not active.
		DeviceNotActive,
		/// Only the device's owner (or, within the consent, its gateway) may do this.
		NotAllowed,
		/// The device is not enrolled.
		NotEnrolled,
		/// The device has never reported; it can be enrolled once it has.
		NoTelemetryYet,
		/// The device still has events that have not ended.
		StillScheduled,
		/// The device's region is not targeted.
		RegionNotTargeted,
		/// The device's kind is not eligible.
		KindNotEligible,
		/// The device's reputation is below the event's minimum.
		ReputationTooLow,
		/// The device's site meter, or (for a meter) a device behind it, serves an event at the
		/// same time: the same energy would be paid twice.
		SiteBusy,
		/// The commitment is zero.
		ZeroCommitment,
		/// The gateway may not commit this much (the owner's consent).
		BeyondConsent,
		/// The device has no fresh, plausible reading to check the commitment against.
		NoFreshTelemetry,
		/// The device cannot move this much power in the event's direction now.
		BeyondFlexibility,
		/// Its storage cannot give this much energy over the event within the owner's reserve.
		BeyondStoredEnergy,
		/// The event is outside the owner's dispatch windows.
		OutsideDispatchWindows,
		/// The device is already in this event.
		AlreadyJoined,
		/// The device is in another event at the same time, or less than an hour before or
		/// after it.
		Overlapping,
		/// The device is scheduled in `MAX_SCHEDULED_PER_DEVICE` events already.
		TooManyScheduled,
		/// The event has `MaxParticipantsPerEvent` devices already.
		EventFull,
		/// The device is not in this event.
		NotJoined,
	}

	#[pallet::hooks]
	impl<T: Config> Hooks<BlockNumberFor<T>> for Pallet<T> {
		fn on_poll(_: BlockNumberFor<T>, weight: &mut WeightMeter) {
			let limit = T::MaxPollWeight::get().min(weight.remaining());
			let mut meter = WeightMeter::with_limit(limit);
			Self::progress_events(&mut meter);
			Self::prune_events(&mut meter);
			weight.consume(meter.consumed());
		}

		fn integrity_test() {
			assert!(T::MaxOpenEvents::get() > 0, "MaxOpenEvents must be positive");
			assert!(
				T::MaxParticipantsPerEvent::get() > 0,
				"MaxParticipantsPerEvent must be positive"
			);
			assert!(
				T::MaxEventDurationS::get() >= MIN_EVENT_INTERVAL_S,
				"MaxEventDurationS below one interval"
			);
			assert!(T::DeliveryToleranceBp::get() <= 10_000, "DeliveryToleranceBp above 100 %");
			assert!(T::ReputationPivotBp::get() <= 10_000, "ReputationPivotBp above 100 %");
			assert!(
				T::MinBaselineDays::get() <= BASELINE_DAYS,
				"MinBaselineDays above BASELINE_DAYS"
			);
			// Every block must be able to take at least one step of each kind.
			let step = T::WeightInfo::poll_event()
				.max(T::WeightInfo::select_participant())
				.max(T::WeightInfo::settle_participant())
				.max(T::WeightInfo::prune_event())
				.max(T::WeightInfo::prune_participant());
			assert!(
				T::MaxPollWeight::get().all_gte(step.saturating_mul(2)),
				"MaxPollWeight cannot fit two steps of selection, settlement or pruning"
			);
		}

		#[cfg(feature = "try-runtime")]
		fn try_state(_: BlockNumberFor<T>) -> Result<(), sp_runtime::TryRuntimeError> {
			Self::do_try_state()
		}
	}

	#[pallet::call]
	impl<T: Config> Pallet<T> {
		/// Appoints a demand-response operator.
		///
		/// - Origin: [`Config::AdminOrigin`].
		/// - Emits [`Event::OperatorAdded`].
		/// - Errors: [`Error::AlreadyOperator`].
		#[pallet::call_index(0)]
		#[pallet::weight(T::WeightInfo::add_operator())]
		pub fn add_operator(origin: OriginFor<T>, operator: T::AccountId) -> DispatchResult {
			T::AdminOrigin::ensure_origin(origin)?;
			ensure!(!Operators::<T>::contains_key(&operator), Error::<T>::AlreadyOperator);
			Operators::<T>::insert(&operator, ());
			Self::deposit_event(Event::OperatorAdded { operator });
			Ok(())
		}

		/// Removes an operator. Its open events go on (and can still be cancelled by the admin).
		///
		/// - Origin: [`Config::AdminOrigin`].
		/// - Emits [`Event::OperatorRemoved`].
		/// - Errors: [`Error::NotOperator`].
		#[pallet::call_index(1)]
		#[pallet::weight(T::WeightInfo::remove_operator())]
		pub fn remove_operator(origin: OriginFor<T>, operator: T::AccountId) -> DispatchResult {
			T::AdminOrigin::ensure_origin(origin)?;
			ensure!(Operators::<T>::take(&operator).is_some(), Error::<T>::NotOperator);
			Self::deposit_event(Event::OperatorRemoved { operator });
			Ok(())
		}

		/// Announces an event.
		///
		/// - Origin: signed by an operator.
		/// - Effects: holds the escrow (`price × target power × duration`, plus the delivery
		///   tolerance) from the operator, stores the event as `Scheduled`.
		/// - Emits [`Event::EventCreated`].
		/// - Errors: [`Error::NotOperator`] and every malformed field (see [`Error`]);
		///   [`Error::CannotHoldEscrow`], [`Error::TooManyOpenEvents`].
		#[pallet::call_index(2)]
		#[pallet::weight(T::WeightInfo::create_event())]
		pub fn create_event(origin: OriginFor<T>, spec: EventSpecOf<T>) -> DispatchResult {
			let operator = ensure_signed(origin)?;
			Self::do_create_event(operator, spec)
		}

		/// Calls an event off before its end.
		///
		/// - Origin: signed by the event's operator, or [`Config::AdminOrigin`].
		/// - Effects: the whole escrow returns to the operator; the event becomes `Cancelled`,
		///   its devices are released (gateways restore them).
		/// - Emits [`Event::EventCancelled`].
		/// - Errors: [`Error::UnknownEvent`], [`Error::NotEventOperator`],
		///   [`Error::WrongStatus`] (ended, settled or cancelled already).
		#[pallet::call_index(3)]
		#[pallet::weight(T::WeightInfo::cancel_event())]
		pub fn cancel_event(origin: OriginFor<T>, event: EventId) -> DispatchResult {
			let by_admin = T::AdminOrigin::try_origin(origin.clone()).is_ok();
			let caller = if by_admin { None } else { Some(ensure_signed(origin)?) };
			Self::do_cancel_event(event, caller)
		}

		/// Gives (or changes) the owner's standing consent for a device.
		///
		/// - Origin: signed by the device's owner.
		/// - Effects: stores the consent; the device's reports are measured from now on.
		/// - Emits [`Event::Enrolled`].
		/// - Errors: [`Error::DeviceNotActive`], [`Error::NotAllowed`],
		///   [`Error::NoTelemetryYet`].
		#[pallet::call_index(4)]
		#[pallet::weight(T::WeightInfo::enrol())]
		pub fn enrol(
			origin: OriginFor<T>,
			device: DeviceId,
			gateway_may_join: bool,
			max_power_w: RatedWatts,
		) -> DispatchResult {
			let who = ensure_signed(origin)?;
			Self::do_enrol(who, device, gateway_may_join, max_power_w)
		}

		/// Withdraws the consent; the device's history is deleted.
		///
		/// - Origin: signed by the device's owner.
		/// - Emits [`Event::Unenrolled`].
		/// - Errors: [`Error::DeviceNotActive`], [`Error::NotAllowed`], [`Error::NotEnrolled`],
		///   [`Error::StillScheduled`] (leave its events first).
		#[pallet::call_index(5)]
		#[pallet::weight(T::WeightInfo::unenrol())]
		pub fn unenrol(origin: OriginFor<T>, device: DeviceId) -> DispatchResult {
			let who = ensure_signed(origin)?;
			Self::do_unenrol(who, device)
		}

		/// Commits a device's power to an event.
		///
		/// - Origin: signed by the device's owner, or by its gateway if the owner consented
		///   (and then up to the consented power).
		/// - Effects: the device joins; the selection at the deadline decides whether it serves.
		/// - Emits [`Event::Joined`].
		/// - Errors: [`Error::UnknownEvent`], [`Error::WrongStatus`], [`Error::OptInClosed`],
		///   [`Error::DeviceNotActive`], [`Error::NotAllowed`], [`Error::NotEnrolled`],
		///   [`Error::RegionNotTargeted`], [`Error::KindNotEligible`],
		///   [`Error::ReputationTooLow`], [`Error::ZeroCommitment`], [`Error::BeyondConsent`],
		///   [`Error::NoFreshTelemetry`], [`Error::BeyondFlexibility`],
		///   [`Error::BeyondStoredEnergy`], [`Error::OutsideDispatchWindows`],
		///   [`Error::AlreadyJoined`], [`Error::Overlapping`], [`Error::SiteBusy`],
		///   [`Error::TooManyScheduled`], [`Error::EventFull`].
		#[pallet::call_index(6)]
		#[pallet::weight(T::WeightInfo::join_event())]
		pub fn join_event(
			origin: OriginFor<T>,
			event: EventId,
			device: DeviceId,
			committed_w: RatedWatts,
		) -> DispatchResult {
			let who = ensure_signed(origin)?;
			Self::do_join(who, event, device, committed_w)
		}

		/// Takes a device out of an event before the opt-in deadline.
		///
		/// - Origin: signed by the device's owner, or by its gateway if the owner consented.
		/// - Emits [`Event::Left`].
		/// - Errors: [`Error::UnknownEvent`], [`Error::OptInClosed`], [`Error::NotAllowed`],
		///   [`Error::NotEnrolled`], [`Error::NotJoined`].
		#[pallet::call_index(7)]
		#[pallet::weight(T::WeightInfo::leave_event())]
		pub fn leave_event(
			origin: OriginFor<T>,
			event: EventId,
			device: DeviceId,
		) -> DispatchResult {
			let who = ensure_signed(origin)?;
			Self::do_leave(who, event, device)
		}
	}

	#[pallet::view_functions]
	impl<T: Config> Pallet<T> {
		/// An event and its participants, in selection order.
		pub fn event_with_participants(
			event: EventId,
		) -> Option<(EventOf<T>, alloc::vec::Vec<ParticipantOf<T>>)> {
			let record = Events::<T>::get(event)?;
			Some((record, Participants::<T>::iter_prefix_values(event).collect()))
		}

		/// The events that are neither settled nor cancelled.
		pub fn open_events() -> alloc::vec::Vec<(EventId, EventOf<T>)> {
			OpenEvents::<T>::get()
				.into_iter()
				.filter_map(|id| Events::<T>::get(id).map(|event| (id, event)))
				.collect()
		}
	}

	impl<T: Config> Pallet<T> {
		pub(crate) fn now() -> UnixSeconds {
			T::UnixTime::now().as_secs()
		}
	}
}
