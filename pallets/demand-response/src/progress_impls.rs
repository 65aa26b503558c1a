//! The work [`Hooks::on_poll`](frame_support::traits::Hooks::on_poll) does for open events,
//! bounded by a [`WeightMeter`]: status changes by time, selection at the opt-in deadline and
//! settlement after the grace period, each walking the participants in rank order from a cursor
//! kept in the event, so that an event of any size finishes across blocks, exactly once.

use frame_support::{traits::Get, weights::WeightMeter};
use openvpp_primitives::{
	DeviceRegistry, OnParticipantSettled, Participation, ReputationReason, FULL_BP,
};
use sp_runtime::{SaturatedConversion, Saturating};

use crate::{pallet::*, types::*, WeightModel};

impl<T: Config> Pallet<T> {
	pub(crate) fn progress_events(meter: &mut WeightMeter) {
		if meter.try_consume(T::WeightInfo::poll_base()).is_err() {
			return;
		}
		let now = Self::now();
		let mut closed = alloc::vec::Vec::new();
		for id in OpenEvents::<T>::get() {
			if meter.try_consume(T::WeightInfo::poll_event()).is_err() {
				break;
			}
			let Some(mut event) = Events::<T>::get(id) else {
				frame_support::defensive!("an open event is missing");
				closed.push(id);
				continue;
			};
			let before = event.clone();
			Self::advance(id, &mut event, now, meter);
			if event.status.is_final() {
				closed.push(id);
			}
			if event != before {
				Events::<T>::insert(id, event);
			}
		}
		if !closed.is_empty() {
			OpenEvents::<T>::mutate(|open| open.retain(|id| !closed.contains(id)));
		}
	}

	/// Moves an event on as far as time and the meter allow.
	fn advance(id: EventId, event: &mut EventOf<T>, now: u64, meter: &mut WeightMeter) {
		if event.status == EventStatus::Scheduled && now >= event.spec.start {
			event.status = EventStatus::Active;
			Self::deposit_event(Event::EventStarted { event: id });
		}
		if event.status == EventStatus::Active && now >= event.end() {
			event.status = EventStatus::Completed;
			Self::deposit_event(Event::EventCompleted { event: id });
		}
		loop {
			match event.progress {
				Progress::OptIn if now >= event.spec.opt_in_deadline => {
					event.progress = Progress::Selecting { after: None };
				}
				Progress::Selecting { after } => {
					if !Self::select(id, event, after, meter) {
						return;
					}
				}
				Progress::Selected
					if event.status == EventStatus::Completed
						&& now >= event.end().saturating_add(T::SettlementGraceS::get()) =>
				{
					event.progress = Progress::Settling { after: None };
				}
				Progress::Settling { after } => {
					if !Self::settle(id, event, after, meter) {
						return;
					}
				}
				Progress::Done => {
					let refunded = Self::release_escrow(event);
					event.status = EventStatus::Settled;
					Self::deposit_event(Event::EventSettled {
						event: id,
						delivered_wh: event.delivered_wh,
						paid: event.paid,
						refunded,
					});
					return;
				}
				Progress::OptIn | Progress::Selected => return,
			}
		}
	}

	/// An event's participants in rank order, after the cursor `after` (from the first without).
	fn participants_after(
		id: EventId,
		after: Option<RankKey>,
	) -> impl Iterator<Item = (RankKey, ParticipantOf<T>)> {
		match after {
			Some(after) => Participants::<T>::iter_prefix_from(
				id,
				Participants::<T>::hashed_key_for(id, after),
			),
			None => Participants::<T>::iter_prefix(id),
		}
	}

	/// Selects participants in rank order from `after`. Returns whether the selection finished.
	fn select(
		id: EventId,
		event: &mut EventOf<T>,
		after: Option<RankKey>,
		meter: &mut WeightMeter,
	) -> bool {
		let mut last = after;
		for (rank, mut participant) in Self::participants_after(id, after) {
			if meter.try_consume(T::WeightInfo::select_participant()).is_err() {
				event.progress = Progress::Selecting { after: last };
				return false;
			}
			let committed_w = u64::from(participant.committed_w);
			let fits = event.selected < event.spec.max_participants
				&& event.selected_w.saturating_add(committed_w) <= event.spec.target_power_w;
			if fits {
				participant.selected = true;
				event.selected = event.selected.saturating_add(1);
				event.selected_w = event.selected_w.saturating_add(committed_w);
				Self::deposit_event(Event::Selected { event: id, device: participant.device });
				Participants::<T>::insert(id, rank, participant);
			} else {
				Participants::<T>::remove(id, rank);
				event.joined = event.joined.saturating_sub(1);
				event.joined_w = event.joined_w.saturating_sub(committed_w);
				Enrolments::<T>::mutate_extant(participant.device, |enrolment| {
					enrolment.schedule.retain(|entry| entry.event != id);
				});
				Self::deposit_event(Event::NotSelected { event: id, device: participant.device });
			}
			last = Some(rank);
		}
		event.progress = Progress::Selected;
		Self::deposit_event(Event::SelectionFinished {
			event: id,
			selected: event.selected,
			selected_w: event.selected_w,
		});
		true
	}

	/// Settles participants in rank order from `after`. Returns whether all are settled.
	fn settle(
		id: EventId,
		event: &mut EventOf<T>,
		after: Option<RankKey>,
		meter: &mut WeightMeter,
	) -> bool {
		let mut last = after;
		for (rank, mut participant) in Self::participants_after(id, after) {
			if meter.try_consume(T::WeightInfo::settle_participant()).is_err() {
				event.progress = Progress::Settling { after: last };
				return false;
			}
			last = Some(rank);
			if participant.settlement.is_some() {
				frame_support::defensive!("a participant was settled twice");
				continue;
			}
			let settlement = Self::settle_participant(event, &participant);
			event.delivered_wh =
				event.delivered_wh.saturating_add(participant.measurement.delivered_wh);
			event.paid = event.paid.saturating_add(settlement.paid);
			participant.settlement = Some(settlement);
			Self::deposit_event(Event::ParticipantSettled {
				event: id,
				device: participant.device,
				delivered_wh: participant.measurement.delivered_wh,
				performance_bp: settlement.performance_bp,
				paid: settlement.paid,
			});
			Participants::<T>::insert(id, rank, participant);
		}
		event.progress = Progress::Done;
		true
	}

	/// Performance, payment, reputation and history of one participant.
	fn settle_participant(
		event: &EventOf<T>,
		participant: &Participant<BalanceOf<T>>,
	) -> Settlement<BalanceOf<T>> {
		let outcome = settlement_of(
			participant.committed_w.into(),
			event.spec.duration_s,
			participant.measurement.delivered_wh,
			T::DeliveryToleranceBp::get(),
		);
		let device = participant.device;
		// A device that is no longer active earns nothing and its record does not move.
		let Ok(info) = T::Registry::active_device(device) else {
			return Settlement { performance_bp: outcome.performance_bp, paid: Default::default() };
		};
		let price: u128 = event.spec.price_per_kwh.saturated_into();
		let amount = price.saturating_mul(outcome.paid_wh.into()) / 1_000;
		let amount: BalanceOf<T> = amount.saturated_into();
		let paid = Self::pay_from_escrow(event, &info.owner, amount);

		let delta_bp =
			(i32::from(outcome.performance_bp) - i32::from(T::ReputationPivotBp::get())) / 4;
		let _ = T::Registry::record_reputation(device, delta_bp, ReputationReason::DemandResponse);
		let _ = T::Registry::record_participation(device, Participation::DemandResponseJoined);
		if outcome.performance_bp >= T::ReputationPivotBp::get() {
			let _ =
				T::Registry::record_participation(device, Participation::DemandResponseDelivered);
		}
		T::OnParticipantSettled::on_participant_settled(
			device,
			outcome.committed_wh,
			participant.measurement.delivered_wh,
		);
		Settlement { performance_bp: outcome.performance_bp, paid }
	}
}

/// A participant's result in energy terms.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct EnergyOutcome {
	/// min(100 %, delivered ÷ committed energy), bp.
	pub performance_bp: u16,
	/// Energy paid for: delivered, at most the commitment plus the tolerance (Wh).
	pub paid_wh: u64,
	/// The commitment in energy: committed power over the event's duration (Wh).
	pub committed_wh: u64,
}

/// Performance and paid energy of a commitment of `committed_w` over `duration_s`.
pub fn settlement_of(
	committed_w: u64,
	duration_s: u32,
	delivered_wh: u64,
	tolerance_bp: u16,
) -> EnergyOutcome {
	let committed_wh = committed_w.saturating_mul(duration_s.into()) / 3_600;
	let performance_bp = if committed_wh == 0 {
		0
	} else {
		let ratio = u128::from(delivered_wh) * u128::from(FULL_BP) / u128::from(committed_wh);
		u16::try_from(ratio.min(FULL_BP.into())).unwrap_or(FULL_BP)
	};
	let cap_wh = u128::from(committed_wh) * (u128::from(FULL_BP) + u128::from(tolerance_bp))
		/ u128::from(FULL_BP);
	let paid_wh = u64::try_from(u128::from(delivered_wh).min(cap_wh)).unwrap_or(u64::MAX);
	EnergyOutcome { performance_bp, paid_wh, committed_wh }
}
