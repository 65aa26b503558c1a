//! The referendum tracks: which origin each track dispatches with, and its deposit, periods
//! and passing curves.
//!
//! Periods come from [`Timing`]: `Production` uses the days of [`PRODUCTION`], `Demonstration`
//! the blocks of [`DEMONSTRATION`] for every track. The timing is read from storage on each
//! call (one small, cached value), so one runtime serves both a real network and a development
//! chain; the metadata constant `referenda.tracks` reports the periods in force.

use alloc::borrow::Cow;
use pallet_referenda::{Curve, Track, TrackInfo};
use sp_runtime::{str_array as s, Perbill};

use super::origins::{Origin, Timing, TrackTiming};
use crate::{Balance, BlockNumber, OriginCaller, Runtime, RuntimeOrigin, DAYS, HOURS, OVPP};

/// Track ids. Part of every referendum's record: never renumber.
pub mod id {
	pub const ROOT: u16 = 0;
	pub const NETWORK_PARAMETERS: u16 = 1;
	pub const DEVICE_VERIFIERS: u16 = 2;
	pub const DEMAND_RESPONSE_OPERATORS: u16 = 3;
	pub const VALIDATORS: u16 = 4;
	pub const TREASURER: u16 = 5;
}

/// A track's periods, in blocks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Periods {
	pub prepare: BlockNumber,
	pub decision: BlockNumber,
	pub confirm: BlockNumber,
	pub min_enactment: BlockNumber,
}

/// Every track on a development chain: 30 s to gather a decision deposit and early votes, ten
/// minutes to decide, 30 s of confirmation and 30 s before enactment.
pub const DEMONSTRATION: Periods =
	Periods { prepare: 5, decision: 100, confirm: 5, min_enactment: 5 };

/// Approval falls linearly from `ceil` to `floor` over the decision period.
const fn linear(floor_pct: u32, ceil_pct: u32) -> Curve {
	Curve::LinearDecreasing {
		length: Perbill::from_percent(100),
		floor: Perbill::from_percent(floor_pct),
		ceil: Perbill::from_percent(ceil_pct),
	}
}

/// A track as the table in docs/governance.md lists it.
struct TrackSpec {
	id: u16,
	name: &'static str,
	max_deciding: u32,
	decision_deposit: Balance,
	production: Periods,
	/// Approval (ayes of all conviction-weighted votes) falls from this to 50 %.
	approval_ceil_pct: u32,
	/// Support (ayes, without conviction, of the total issuance) falls from this to its floor.
	support_ceil_pct: u32,
	support_floor_pct: u32,
}

static PRODUCTION: [TrackSpec; 6] = [
	TrackSpec {
		id: id::ROOT,
		name: "root",
		max_deciding: 1,
		decision_deposit: 100_000 * OVPP,
		production: Periods {
			prepare: 2 * HOURS,
			decision: 14 * DAYS,
			confirm: DAYS,
			min_enactment: DAYS,
		},
		approval_ceil_pct: 100,
		support_ceil_pct: 50,
		support_floor_pct: 1,
	},
	TrackSpec {
		id: id::NETWORK_PARAMETERS,
		name: "network_parameters",
		max_deciding: 10,
		decision_deposit: 10_000 * OVPP,
		production: Periods {
			prepare: 2 * HOURS,
			decision: 14 * DAYS,
			confirm: 3 * HOURS,
			min_enactment: DAYS,
		},
		approval_ceil_pct: 100,
		support_ceil_pct: 20,
		support_floor_pct: 1,
	},
	TrackSpec {
		id: id::DEVICE_VERIFIERS,
		name: "device_verifiers",
		max_deciding: 10,
		decision_deposit: 5_000 * OVPP,
		production: Periods {
			prepare: 2 * HOURS,
			decision: 7 * DAYS,
			confirm: 3 * HOURS,
			min_enactment: 10 * crate::MINUTES,
		},
		approval_ceil_pct: 100,
		support_ceil_pct: 10,
		support_floor_pct: 0,
	},
	TrackSpec {
		id: id::DEMAND_RESPONSE_OPERATORS,
		name: "demand_response_operators",
		max_deciding: 10,
		decision_deposit: 5_000 * OVPP,
		production: Periods {
			prepare: 2 * HOURS,
			decision: 7 * DAYS,
			confirm: 3 * HOURS,
			min_enactment: 10 * crate::MINUTES,
		},
		approval_ceil_pct: 100,
		support_ceil_pct: 10,
		support_floor_pct: 0,
	},
	TrackSpec {
		id: id::VALIDATORS,
		name: "validators",
		max_deciding: 5,
		decision_deposit: 50_000 * OVPP,
		production: Periods {
			prepare: 2 * HOURS,
			decision: 14 * DAYS,
			confirm: DAYS,
			min_enactment: 3 * HOURS,
		},
		approval_ceil_pct: 100,
		support_ceil_pct: 25,
		support_floor_pct: 1,
	},
	TrackSpec {
		id: id::TREASURER,
		name: "treasurer",
		max_deciding: 10,
		decision_deposit: 10_000 * OVPP,
		production: Periods {
			prepare: 2 * HOURS,
			decision: 14 * DAYS,
			confirm: DAYS,
			min_enactment: DAYS,
		},
		approval_ceil_pct: 100,
		support_ceil_pct: 20,
		support_floor_pct: 1,
	},
];

fn track(spec: &TrackSpec, timing: Timing) -> Track<u16, Balance, BlockNumber> {
	let periods = match timing {
		Timing::Production => spec.production,
		Timing::Demonstration => DEMONSTRATION,
	};
	Track {
		id: spec.id,
		info: TrackInfo {
			name: s(spec.name),
			max_deciding: spec.max_deciding,
			decision_deposit: spec.decision_deposit,
			prepare_period: periods.prepare,
			decision_period: periods.decision,
			confirm_period: periods.confirm,
			min_enactment_period: periods.min_enactment,
			min_approval: linear(50, spec.approval_ceil_pct),
			min_support: linear(spec.support_floor_pct, spec.support_ceil_pct),
		},
	}
}

/// The tracks of the `Referenda` pallet.
pub struct TracksInfo;
impl pallet_referenda::TracksInfo<Balance, BlockNumber> for TracksInfo {
	type Id = u16;
	type RuntimeOrigin = <RuntimeOrigin as frame_support::traits::OriginTrait>::PalletsOrigin;

	fn tracks() -> impl Iterator<Item = Cow<'static, Track<Self::Id, Balance, BlockNumber>>> {
		let timing = TrackTiming::<Runtime>::get();
		PRODUCTION.iter().map(move |spec| Cow::Owned(track(spec, timing)))
	}

	fn track_for(origin: &Self::RuntimeOrigin) -> Result<Self::Id, ()> {
		match origin {
			OriginCaller::system(frame_system::RawOrigin::Root) => Ok(id::ROOT),
			OriginCaller::Origins(origin) => Ok(match origin {
				Origin::NetworkParameters => id::NETWORK_PARAMETERS,
				Origin::DeviceVerifiers => id::DEVICE_VERIFIERS,
				Origin::DemandResponseOperators => id::DEMAND_RESPONSE_OPERATORS,
				Origin::Validators => id::VALIDATORS,
				Origin::Treasurer => id::TREASURER,
			}),
			_ => Err(()),
		}
	}
}
