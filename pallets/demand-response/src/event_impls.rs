//! Creating and cancelling events, and the escrow that backs them.

use frame_support::{
	ensure,
	pallet_prelude::DispatchResult,
	traits::{
		fungible::MutateHold,
		tokens::{Fortitude, Precision},
		Get,
	},
};
use openvpp_primitives::{is_valid_region_code, DeviceKind, EventKind, FULL_BP};
use sp_runtime::{SaturatedConversion, Saturating};

use crate::{pallet::*, types::*};

impl<T: Config> Pallet<T> {
	/// The most an event can pay: `price × target × duration`, with the delivery tolerance,
	/// rounded up to the next whole unit. No participant's payment, nor their sum, exceeds it.
	pub fn escrow_for(spec: &EventSpecOf<T>) -> Option<BalanceOf<T>> {
		let tolerance = u128::from(FULL_BP) + u128::from(T::DeliveryToleranceBp::get());
		let max_paid_wh = u128::from(spec.target_power_w)
			.checked_mul(spec.duration_s.into())?
			.checked_mul(tolerance)?
			.div_ceil(3_600 * u128::from(FULL_BP));
		let price: u128 = spec.price_per_kwh.saturated_into();
		let escrow = price.checked_mul(max_paid_wh)?.div_ceil(1_000);
		BalanceOf::<T>::try_from(escrow).ok()
	}

	pub(crate) fn do_create_event(operator: T::AccountId, spec: EventSpecOf<T>) -> DispatchResult {
		ensure!(Operators::<T>::contains_key(&operator), Error::<T>::NotOperator);
		Self::validate_spec(&spec)?;
		let escrow = Self::escrow_for(&spec).ok_or(Error::<T>::EscrowOverflow)?;

		let id = NextEventId::<T>::get().max(1);
		OpenEvents::<T>::try_append(id).map_err(|_| Error::<T>::TooManyOpenEvents)?;
		T::Currency::hold(&HoldReason::EventEscrow.into(), &operator, escrow)
			.map_err(|_| Error::<T>::CannotHoldEscrow)?;
		NextEventId::<T>::put(id.saturating_add(1));

		let record = DrEvent {
			operator: operator.clone(),
			spec,
			status: EventStatus::Scheduled,
			progress: Progress::OptIn,
			escrow,
			paid: Default::default(),
			joined: 0,
			joined_w: 0,
			selected: 0,
			selected_w: 0,
			delivered_wh: 0,
		};
		Self::deposit_event(Event::EventCreated {
			event: id,
			operator,
			kind: record.spec.kind,
			start: record.spec.start,
			end: record.end(),
			target_power_w: record.spec.target_power_w,
			escrow,
		});
		Events::<T>::insert(id, record);
		Ok(())
	}

	fn validate_spec(spec: &EventSpecOf<T>) -> DispatchResult {
		ensure!(!spec.regions.is_empty(), Error::<T>::NoRegions);
		for (index, region) in spec.regions.iter().enumerate() {
			ensure!(is_valid_region_code(region), Error::<T>::InvalidRegion);
			ensure!(!spec.regions[..index].contains(region), Error::<T>::DuplicateRegion);
		}
		ensure!(
			spec.eligible_kinds.is_valid() && !spec.eligible_kinds.is_empty(),
			Error::<T>::InvalidKinds
		);
		ensure!(
			DeviceKind::ALL
				.iter()
				.any(|kind| spec.eligible_kinds.contains(*kind) && can_serve(*kind, spec.kind)),
			Error::<T>::KindsCannotServe
		);

		let now = Self::now();
		ensure!(
			spec.opt_in_deadline > now && spec.opt_in_deadline <= spec.start,
			Error::<T>::InvalidDeadline
		);
		ensure!(
			spec.start <= now.saturating_add(T::MaxLeadTimeS::get()),
			Error::<T>::StartTooFarAhead
		);
		ensure!(
			(MIN_EVENT_INTERVAL_S..=MAX_EVENT_INTERVAL_S).contains(&spec.interval_length_s),
			Error::<T>::InvalidInterval
		);
		ensure!(
			spec.duration_s > 0
				&& spec.duration_s <= T::MaxEventDurationS::get()
				&& spec.duration_s.is_multiple_of(spec.interval_length_s),
			Error::<T>::InvalidDuration
		);
		ensure!(
			spec.target_power_w > 0
				&& spec.price_per_kwh > 0u32.into()
				&& spec.max_participants > 0,
			Error::<T>::ZeroAmount
		);
		ensure!(
			spec.max_participants <= T::MaxParticipantsPerEvent::get(),
			Error::<T>::TooManyParticipants
		);
		ensure!(spec.min_reputation_bp <= FULL_BP, Error::<T>::InvalidReputation);
		Ok(())
	}

	pub(crate) fn do_cancel_event(id: EventId, caller: Option<T::AccountId>) -> DispatchResult {
		let mut event = Events::<T>::get(id).ok_or(Error::<T>::UnknownEvent)?;
		if let Some(caller) = &caller {
			ensure!(*caller == event.operator, Error::<T>::NotEventOperator);
		}
		ensure!(
			matches!(event.status, EventStatus::Scheduled | EventStatus::Active)
				&& Self::now() < event.end(),
			Error::<T>::WrongStatus
		);
		let refunded = Self::release_escrow(&event);
		event.status = EventStatus::Cancelled;
		event.progress = Progress::Done;
		Events::<T>::insert(id, event);
		OpenEvents::<T>::mutate(|open| open.retain(|open_id| *open_id != id));
		Self::deposit_event(Event::EventCancelled { event: id, refunded });
		Ok(())
	}

	/// Returns what is left of an event's escrow to its operator.
	pub(crate) fn release_escrow(event: &EventOf<T>) -> BalanceOf<T> {
		let rest = event.escrow.saturating_sub(event.paid);
		match T::Currency::release(
			&HoldReason::EventEscrow.into(),
			&event.operator,
			rest,
			Precision::BestEffort,
		) {
			Ok(released) => {
				if released != rest {
					frame_support::defensive!("an event's escrow was not fully held");
				}
				released
			}
			Err(_) => {
				frame_support::defensive!("an event's escrow could not be released");
				Default::default()
			}
		}
	}

	/// Pays an owner from an event's escrow.
	pub(crate) fn pay_from_escrow(
		event: &EventOf<T>,
		owner: &T::AccountId,
		amount: BalanceOf<T>,
	) -> BalanceOf<T> {
		if amount == Default::default() {
			return amount;
		}
		// The escrow covers every payment by construction; an owner account that cannot
		// receive (below the existential deposit) forfeits the payment to the operator's refund.
		T::Currency::transfer_on_hold(
			&HoldReason::EventEscrow.into(),
			&event.operator,
			owner,
			amount,
			Precision::Exact,
			frame_support::traits::tokens::Restriction::Free,
			Fortitude::Polite,
		)
		.unwrap_or_default()
	}
}

/// Whether a device of `kind` can serve an event of `event_kind` at all.
pub fn can_serve(kind: DeviceKind, event_kind: EventKind) -> bool {
	match event_kind {
		EventKind::DischargeStorage => kind.has_storage() || kind == DeviceKind::SmartMeter,
		EventKind::ReduceLoad | EventKind::AbsorbCharge => {
			kind.is_dispatchable() || kind == DeviceKind::SmartMeter
		}
	}
}
