//! Deleting old events. A settled or cancelled event and its participants stay in storage for
//! [`Config::EventRetentionS`] after the event's end, for anyone who wants to look them up; then
//! [`Hooks::on_poll`](frame_support::traits::Hooks::on_poll) deletes them, oldest first, with
//! whatever the meter leaves after the open events' work. Ids are handed out in order, so one
//! cursor ([`NextToPrune`]) is enough: an event that is still open, or not old enough, holds
//! back the ones created after it until it is due (at most `MaxLeadTimeS` plus
//! `MaxEventDurationS` later than they would be).

use frame_support::{traits::Get, weights::WeightMeter};

use crate::{pallet::*, types::EventId, WeightModel};

impl<T: Config> Pallet<T> {
	pub(crate) fn prune_events(meter: &mut WeightMeter) {
		let now = Self::now();
		let mut id = NextToPrune::<T>::get().max(1);
		let next_id = NextEventId::<T>::get();
		let start = id;
		while id < next_id {
			if meter.try_consume(T::WeightInfo::prune_event()).is_err() {
				break;
			}
			if let Some(event) = Events::<T>::get(id) {
				let due = event.end().saturating_add(T::EventRetentionS::get());
				if !event.status.is_final() || now < due {
					break;
				}
				if !Self::prune_participants(id, meter) {
					break;
				}
				Events::<T>::remove(id);
				Self::deposit_event(Event::EventPruned { event: id });
			}
			id = id.saturating_add(1);
		}
		if id != start {
			NextToPrune::<T>::put(id);
		}
	}

	/// Deletes as many of an event's participants as the meter allows. Returns whether none is
	/// left.
	fn prune_participants(id: EventId, meter: &mut WeightMeter) -> bool {
		let step = T::WeightInfo::prune_participant();
		// `None`: deleting a participant weighs nothing, so all of them fit.
		let affordable = meter
			.remaining()
			.checked_div_per_component(&step)
			.unwrap_or_else(|| u64::from(T::MaxParticipantsPerEvent::get()));
		let affordable = usize::try_from(affordable).unwrap_or(usize::MAX);
		// Keys first, then deletion: the map is not changed while it is iterated.
		let ranks: alloc::vec::Vec<_> =
			Participants::<T>::iter_key_prefix(id).take(affordable.saturating_add(1)).collect();
		let finished = ranks.len() <= affordable;
		for rank in ranks.into_iter().take(affordable) {
			meter.consume(step);
			Participants::<T>::remove(id, rank);
		}
		finished
	}
}
