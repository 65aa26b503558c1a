//! Ongoing referenda with their tallies.

use alloc::vec::Vec;
use frame_support::traits::VoteTally;
use openvpp_runtime_api::{page_limit, ReferendumView, MAX_REFERENDUM_SCAN};
use pallet_referenda::{ReferendumCount, ReferendumInfo, ReferendumInfoFor, TracksInfo as _};

use crate::{governance::tracks::TracksInfo, Runtime};

pub fn referenda(limit: u32) -> Vec<ReferendumView> {
	let limit = page_limit(limit);
	let count = ReferendumCount::<Runtime>::get();
	let oldest = count.saturating_sub(MAX_REFERENDUM_SCAN);
	(oldest..count)
		.rev()
		.filter_map(|index| match ReferendumInfoFor::<Runtime>::get(index)? {
			ReferendumInfo::Ongoing(status) => Some((index, status)),
			_ => None,
		})
		.take(limit)
		.map(|(index, status)| {
			let track_name = TracksInfo::info(status.track)
				.map(|info| info.name.iter().copied().take_while(|byte| *byte != 0).collect())
				.unwrap_or_default();
			let tally = &status.tally;
			ReferendumView {
				index,
				track: status.track,
				track_name,
				submitted_block: status.submitted,
				deciding_since_block: status.deciding.as_ref().map(|deciding| deciding.since),
				confirming_until_block: status
					.deciding
					.as_ref()
					.and_then(|deciding| deciding.confirming),
				ayes_planck: tally.ayes,
				nays_planck: tally.nays,
				support_planck: tally.support,
				approval_ppb: tally.approval(status.track).deconstruct(),
				support_ppb: tally.support(status.track).deconstruct(),
			}
		})
		.collect()
}
