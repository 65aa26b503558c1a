//! What must always hold of the pallet's storage; checked after every test and by try-runtime.

use alloc::collections::BTreeMap;
use frame_support::{ensure, traits::fungible::InspectHold};
use sp_runtime::{Saturating, TryRuntimeError};

use crate::{pallet::*, types::*};

impl<T: Config> Pallet<T> {
	pub fn do_try_state() -> Result<(), TryRuntimeError> {
		let open = OpenEvents::<T>::get();
		// Escrow held per operator = what its open events can still pay.
		let mut owed: BTreeMap<T::AccountId, BalanceOf<T>> = BTreeMap::new();
		for (id, event) in Events::<T>::iter() {
			ensure!(
				open.contains(&id) != event.status.is_final(),
				"an event is open exactly while it is neither settled nor cancelled"
			);
			ensure!(event.paid <= event.escrow, "an event paid more than its escrow");
			if !event.status.is_final() {
				let rest = event.escrow.saturating_sub(event.paid);
				owed.entry(event.operator.clone()).or_default().saturating_accrue(rest);
			}
			ensure!(
				event.selected_w <= event.spec.target_power_w
					&& event.selected <= event.spec.max_participants,
				"the selection exceeded the target or the participant limit"
			);
			let (count, committed_w) = Participants::<T>::iter_prefix_values(id)
				.fold((0u32, 0u64), |(count, sum), p| {
					(count + 1, sum.saturating_add(p.committed_w.into()))
				});
			ensure!(
				count == event.joined && committed_w == event.joined_w,
				"the event's participant totals disagree with its participants"
			);
			if matches!(
				event.progress,
				Progress::Selected | Progress::Settling { .. } | Progress::Done
			) && event.status != EventStatus::Cancelled
			{
				ensure!(
					count == event.selected && committed_w == event.selected_w,
					"after selection, every participant is selected"
				);
			}
			if event.status == EventStatus::Settled {
				ensure!(
					Participants::<T>::iter_prefix_values(id).all(|p| p.settlement.is_some()),
					"a settled event has an unsettled participant"
				);
			}
		}
		for (operator, rest) in owed {
			ensure!(
				T::Currency::balance_on_hold(&HoldReason::EventEscrow.into(), &operator) == rest,
				"an operator's escrow hold differs from what its open events can pay"
			);
		}
		let next_to_prune = NextToPrune::<T>::get();
		ensure!(
			Events::<T>::iter_keys().all(|id| id >= next_to_prune),
			"an event before the pruning cursor is still stored"
		);
		ensure!(
			Participants::<T>::iter_keys().all(|(id, _)| Events::<T>::contains_key(id)),
			"a participant outlived its event"
		);
		for id in open.iter() {
			ensure!(Events::<T>::contains_key(id), "an open event is missing");
		}
		// A device serves one event at a time.
		for (_, enrolment) in Enrolments::<T>::iter() {
			for pair in enrolment.schedule.windows(2) {
				ensure!(
					pair[0].end <= pair[1].start,
					"a device is scheduled in overlapping events"
				);
			}
		}
		Ok(())
	}
}
