//! The per-step weights the pallet charges, derived from the benchmarked functions: the cost of
//! one more open event, participant or measured event is the slope of the benchmark over that
//! component.

use frame_support::weights::Weight;

use crate::WeightInfo;

pub trait WeightModel: WeightInfo {
	/// Reading the list of open events and writing it back.
	fn poll_base() -> Weight {
		Self::poll_events(0)
	}
	/// Looking at one open event that has nothing to do.
	fn poll_event() -> Weight {
		Self::poll_events(1).saturating_sub(Self::poll_events(0))
	}
	/// Deciding one participant in the selection (the dearer case: not selected).
	fn select_participant() -> Weight {
		Self::select_participants(1).saturating_sub(Self::select_participants(0))
	}
	/// Settling one participant: payment, reputation and history.
	fn settle_participant() -> Weight {
		Self::settle_participants(1).saturating_sub(Self::settle_participants(0))
	}
	/// Looking at the oldest stored event, and deleting it if it is due.
	fn prune_event() -> Weight {
		Self::prune_participants(0)
	}
	/// Deleting one participant of a pruned event.
	fn prune_participant() -> Weight {
		Self::prune_participants(1).saturating_sub(Self::prune_participants(0))
	}
	/// Measuring one interval of a device in an event, beyond recording it.
	fn measure_in_event() -> Weight {
		Self::measure_interval_in_event().saturating_sub(Self::measure_interval())
	}
}

impl<W: WeightInfo> WeightModel for W {}
