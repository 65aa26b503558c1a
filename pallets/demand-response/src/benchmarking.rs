//! Benchmarks (frame-benchmarking v2), each in its worst case:
//!
//! - `create_event` and `cancel_event` with the open-event list one short of full and full, and
//!   the most regions;
//! - `unenrol` of a site with a full day of hourly history and a full schedule of cancelled
//!   events that have not ended (each looked up); `join_event` with the schedule one short of
//!   full of live events (each looked up);
//! - `poll_events(n)`: `n` open events with nothing to do; `select_participants(n)` and
//!   `settle_participants(n)`: one event whose `n` participants are all decided (none selected:
//!   each is removed and its device's schedule rewritten) or all settled (each paid, its
//!   reputation and history recorded); `prune_participants(n)`: a cancelled event with `n`
//!   participants, due for deletion;
//! - `measure_interval`: a site's report with full hourly history; `measure_interval_in_event`:
//!   the same report as the first interval of an event, which fixes the "10 of 10" baseline and
//!   its same-day adjustment.

// Benchmark set-up failing is a bug in the benchmark, and must stop it loudly.
#![allow(clippy::expect_used)]

use alloc::{format, vec::Vec};
use frame_benchmarking::v2::*;
use frame_support::{
	traits::{fungible::Mutate, EnsureOrigin, Get, Hooks},
	weights::WeightMeter,
	BoundedVec,
};
use frame_system::RawOrigin;
use openvpp_primitives::{
	DeviceId, DeviceKind, EventKind, GridResponseStatus, KindSet, MeasuredInterval,
	MeasurementSink, RegionCode, UnixSeconds,
};
use sp_runtime::traits::Bounded;

use crate::{baseline::day_and_hour, pallet::*, types::*};

/// What the benchmarks need from the rest of the runtime.
pub trait BenchmarkHelper<AccountId> {
	/// Registers an active device of `kind` in `region`, owned by `owner` and bound to
	/// `gateway`, with a fresh plausible reading: drawing 1 kW and, if it stores energy, at
	/// 60 %. Its capability is large enough for any commitment the benchmarks make.
	fn device_with_reading(
		owner: AccountId,
		gateway: AccountId,
		kind: DeviceKind,
		region: RegionCode,
		now: UnixSeconds,
	) -> DeviceId;
	/// Makes the block's time `seconds` since the Unix epoch.
	fn set_unix_time(seconds: UnixSeconds);
	/// Declares `device` (of `owner`) to sit behind `owner`'s smart meter `meter`.
	fn put_behind_meter(owner: AccountId, device: DeviceId, meter: DeviceId);
	/// The most devices the registry lets sit behind one meter.
	fn max_devices_per_site() -> u32;
}

/// 2026-01-01T00:00:00Z.
const START: UnixSeconds = 1_767_225_600;
const HOUR: u64 = 3_600;

fn region(index: u32) -> RegionCode {
	BoundedVec::truncate_from(format!("R{index}").into_bytes())
}

fn funded<T: Config>(name: &'static str, index: u32) -> T::AccountId {
	let who: T::AccountId = account(name, index, 0);
	T::Currency::set_balance(&who, BalanceOf::<T>::max_value() / 1_000u32.into());
	who
}

fn operator<T: Config>() -> T::AccountId {
	let operator = funded::<T>("operator", 0);
	Operators::<T>::insert(&operator, ());
	operator
}

/// An event with every region, starting in `start_in` seconds.
fn spec<T: Config>(now: UnixSeconds, start_in: u64) -> EventSpecOf<T> {
	EventSpec {
		kind: EventKind::ReduceLoad,
		regions: BoundedVec::truncate_from((0..MAX_EVENT_REGIONS).map(region).collect()),
		eligible_kinds: KindSet::of(&DeviceKind::ALL),
		opt_in_deadline: now + start_in - 600,
		start: now + start_in,
		duration_s: 3_600,
		interval_length_s: 900,
		target_power_w: 1_000_000_000,
		price_per_kwh: 1_000u32.into(),
		min_reputation_bp: 0,
		max_participants: T::MaxParticipantsPerEvent::get(),
	}
}

/// Creates an event through the pallet and returns its id.
fn create<T: Config>(operator: &T::AccountId, spec: EventSpecOf<T>) -> EventId {
	Pallet::<T>::do_create_event(operator.clone(), spec).expect("a valid event");
	NextEventId::<T>::get() - 1
}

/// Fills the open-event list up to `count` with idle events (opt-in open for a day).
fn fill_open_events<T: Config>(operator: &T::AccountId, now: UnixSeconds, count: u32) {
	while (OpenEvents::<T>::decode_len().unwrap_or(0) as u32) < count {
		create::<T>(operator, spec::<T>(now, 2 * 86_400));
	}
}

/// An enrolled device of `kind` in region R0.
fn enrolled<T: Config>(index: u32, kind: DeviceKind, now: UnixSeconds) -> (DeviceId, T::AccountId) {
	let owner = funded::<T>("owner", index);
	(enrolled_of::<T>(&owner, kind, now), owner)
}

/// An enrolled device of `owner` of `kind` in region R0.
fn enrolled_of<T: Config>(owner: &T::AccountId, kind: DeviceKind, now: UnixSeconds) -> DeviceId {
	let gateway = funded::<T>("gateway", 0);
	let device =
		T::BenchmarkHelper::device_with_reading(owner.clone(), gateway, kind, region(0), now);
	Pallet::<T>::do_enrol(owner.clone(), device, true, 1_000_000).expect("the owner enrols");
	device
}

/// Ten days of hourly history for every hour of the day, and today's.
fn full_history<T: Config>(device: DeviceId, now: UnixSeconds) {
	let (today, _) = day_and_hour(now);
	for hour in 0..24u8 {
		let history: Vec<HourEnergy> = (0..=BASELINE_DAYS)
			.map(|back| HourEnergy { day: today - BASELINE_DAYS + back, net_import_wh: 2_000 })
			.collect();
		HourlyHistory::<T>::insert(device, hour, HourHistory::truncate_from(history));
	}
}

fn site_interval(start: UnixSeconds) -> MeasuredInterval {
	MeasuredInterval {
		interval_start: start,
		interval_length_s: 900,
		energy_imported_wh: 300,
		energy_exported_wh: 0,
		soc_bp: None,
		grid_response: GridResponseStatus::Responding,
		plausible: true,
	}
}

fn poll<T: Config>() {
	let mut meter = WeightMeter::new();
	Pallet::<T>::on_poll(frame_system::Pallet::<T>::block_number(), &mut meter);
}

/// An event with `n` joined participants, opt-in closed; returns it.
fn event_with_participants<T: Config>(n: u32, now: UnixSeconds) -> EventId {
	let operator = operator::<T>();
	let id = create::<T>(&operator, spec::<T>(now, HOUR));
	for index in 0..n {
		let (device, owner) = enrolled::<T>(index + 1, DeviceKind::EvCharger, now);
		Pallet::<T>::do_join(owner, id, device, 1_000).expect("the device fits");
	}
	id
}

#[benchmarks]
mod benchmarks {
	use super::*;

	#[benchmark]
	fn add_operator() -> Result<(), BenchmarkError> {
		let origin =
			T::AdminOrigin::try_successful_origin().map_err(|_| BenchmarkError::Weightless)?;
		let operator: T::AccountId = account("operator", 0, 0);
		#[extrinsic_call]
		_(origin as T::RuntimeOrigin, operator.clone());
		assert!(Operators::<T>::contains_key(&operator));
		Ok(())
	}

	#[benchmark]
	fn remove_operator() -> Result<(), BenchmarkError> {
		let origin =
			T::AdminOrigin::try_successful_origin().map_err(|_| BenchmarkError::Weightless)?;
		let operator = operator::<T>();
		#[extrinsic_call]
		_(origin as T::RuntimeOrigin, operator.clone());
		assert!(!Operators::<T>::contains_key(&operator));
		Ok(())
	}

	#[benchmark]
	fn create_event() {
		T::BenchmarkHelper::set_unix_time(START);
		let operator = operator::<T>();
		fill_open_events::<T>(&operator, START, T::MaxOpenEvents::get() - 1);
		#[extrinsic_call]
		_(RawOrigin::Signed(operator), spec::<T>(START, HOUR));
		assert_eq!(OpenEvents::<T>::decode_len(), Some(T::MaxOpenEvents::get() as usize));
	}

	#[benchmark]
	fn cancel_event() {
		T::BenchmarkHelper::set_unix_time(START);
		let operator = operator::<T>();
		let id = create::<T>(&operator, spec::<T>(START, HOUR));
		fill_open_events::<T>(&operator, START, T::MaxOpenEvents::get());
		#[extrinsic_call]
		_(RawOrigin::Signed(operator), id);
		assert_eq!(Events::<T>::get(id).map(|e| e.status), Some(EventStatus::Cancelled));
	}

	#[benchmark]
	fn enrol() {
		T::BenchmarkHelper::set_unix_time(START);
		let owner = funded::<T>("owner", 0);
		let device = T::BenchmarkHelper::device_with_reading(
			owner.clone(),
			funded::<T>("gateway", 0),
			DeviceKind::SmartMeter,
			region(0),
			START,
		);
		#[extrinsic_call]
		_(RawOrigin::Signed(owner), device, true, 10_000);
		assert!(Enrolments::<T>::contains_key(device));
	}

	#[benchmark]
	fn unenrol() {
		T::BenchmarkHelper::set_unix_time(START);
		let (device, owner) = enrolled::<T>(0, DeviceKind::SmartMeter, START);
		full_history::<T>(device, START);
		// A full schedule of events that were cancelled before they ended: each is looked up.
		let operator = operator::<T>();
		for slot in 0..MAX_SCHEDULED_PER_DEVICE {
			let id = create::<T>(&operator, spec::<T>(START, HOUR + u64::from(slot) * 2 * HOUR));
			Pallet::<T>::do_join(owner.clone(), id, device, 1_000).expect("fits");
			Pallet::<T>::do_cancel_event(id, None).expect("cancellable");
		}
		#[extrinsic_call]
		_(RawOrigin::Signed(owner), device);
		assert!(!Enrolments::<T>::contains_key(device));
	}

	#[benchmark]
	fn join_event() {
		T::BenchmarkHelper::set_unix_time(START);
		let (device, owner) = enrolled::<T>(0, DeviceKind::SmartMeter, START);
		let operator = operator::<T>();
		// A full site behind the meter, each device scheduled at the same time in an event
		// that was called off: every one is looked up.
		let elsewhere = create::<T>(&operator, spec::<T>(START, HOUR));
		for _ in 0..T::BenchmarkHelper::max_devices_per_site() {
			let member = enrolled_of::<T>(&owner, DeviceKind::EvCharger, START);
			T::BenchmarkHelper::put_behind_meter(owner.clone(), member, device);
			Pallet::<T>::do_join(owner.clone(), elsewhere, member, 1_000).expect("fits");
		}
		Pallet::<T>::do_cancel_event(elsewhere, None).expect("cancellable");
		for slot in 1..MAX_SCHEDULED_PER_DEVICE {
			let id = create::<T>(&operator, spec::<T>(START, HOUR + u64::from(slot) * 2 * HOUR));
			Pallet::<T>::do_join(owner.clone(), id, device, 1_000).expect("fits");
		}
		let id = create::<T>(&operator, spec::<T>(START, HOUR));
		#[extrinsic_call]
		_(RawOrigin::Signed(owner), id, device, 1_000);
		assert_eq!(Events::<T>::get(id).map(|e| e.joined), Some(1));
	}

	#[benchmark]
	fn leave_event() {
		T::BenchmarkHelper::set_unix_time(START);
		let (device, owner) = enrolled::<T>(0, DeviceKind::SmartMeter, START);
		let operator = operator::<T>();
		let id = create::<T>(&operator, spec::<T>(START, HOUR));
		Pallet::<T>::do_join(owner.clone(), id, device, 1_000).expect("fits");
		#[extrinsic_call]
		_(RawOrigin::Signed(owner), id, device);
		assert_eq!(Events::<T>::get(id).map(|e| e.joined), Some(0));
	}

	#[benchmark]
	fn poll_events(n: Linear<0, { T::MaxOpenEvents::get() }>) {
		T::BenchmarkHelper::set_unix_time(START);
		let operator = operator::<T>();
		fill_open_events::<T>(&operator, START, n);
		#[block]
		{
			poll::<T>();
		}
		assert_eq!(OpenEvents::<T>::decode_len().unwrap_or(0) as u32, n);
	}

	#[benchmark]
	fn select_participants(n: Linear<0, { T::MaxParticipantsPerEvent::get().min(100) }>) {
		T::BenchmarkHelper::set_unix_time(START);
		let id = event_with_participants::<T>(n, START);
		// A target below every commitment: nobody is selected, each is removed.
		Events::<T>::mutate(id, |event| {
			if let Some(event) = event {
				event.spec.target_power_w = 1;
			}
		});
		T::BenchmarkHelper::set_unix_time(START + HOUR - 600);
		#[block]
		{
			poll::<T>();
		}
		let event = Events::<T>::get(id).expect("exists");
		assert_eq!((event.progress, event.joined), (Progress::Selected, 0));
	}

	#[benchmark]
	fn settle_participants(n: Linear<0, { T::MaxParticipantsPerEvent::get().min(100) }>) {
		T::BenchmarkHelper::set_unix_time(START);
		let id = event_with_participants::<T>(n, START);
		// Selected, with every participant having delivered its commitment.
		T::BenchmarkHelper::set_unix_time(START + HOUR - 600);
		poll::<T>();
		let ranks: Vec<RankKey> = Participants::<T>::iter_key_prefix(id).collect();
		for rank in ranks {
			Participants::<T>::mutate(id, rank, |participant| {
				if let Some(participant) = participant {
					participant.measurement.delivered_wh = 1_000;
				}
			});
		}
		T::BenchmarkHelper::set_unix_time(START + 2 * HOUR);
		poll::<T>();
		T::BenchmarkHelper::set_unix_time(START + 2 * HOUR + T::SettlementGraceS::get());
		#[block]
		{
			poll::<T>();
		}
		assert_eq!(Events::<T>::get(id).map(|e| e.status), Some(EventStatus::Settled));
	}

	#[benchmark]
	fn prune_participants(n: Linear<0, { T::MaxParticipantsPerEvent::get().min(100) }>) {
		T::BenchmarkHelper::set_unix_time(START);
		let id = event_with_participants::<T>(n, START);
		Pallet::<T>::do_cancel_event(id, None).expect("cancellable before its end");
		let end = Events::<T>::get(id).expect("exists").end();
		T::BenchmarkHelper::set_unix_time(end + T::EventRetentionS::get());
		#[block]
		{
			poll::<T>();
		}
		assert!(!Events::<T>::contains_key(id));
		assert_eq!(Participants::<T>::iter_key_prefix(id).count(), 0);
	}

	#[benchmark]
	fn measure_interval() {
		T::BenchmarkHelper::set_unix_time(START);
		let (device, _) = enrolled::<T>(0, DeviceKind::SmartMeter, START);
		full_history::<T>(device, START + 86_400);
		#[block]
		{
			Pallet::<T>::on_measured_interval(
				device,
				DeviceKind::SmartMeter,
				&site_interval(START + 86_400 + 10 * HOUR),
			);
		}
	}

	#[benchmark]
	fn measure_interval_in_event() {
		T::BenchmarkHelper::set_unix_time(START + 86_400);
		let (device, owner) = enrolled::<T>(0, DeviceKind::SmartMeter, START + 86_400);
		full_history::<T>(device, START + 86_400);
		let operator = operator::<T>();
		let id = create::<T>(&operator, spec::<T>(START + 86_400, 10 * HOUR));
		Pallet::<T>::do_join(owner, id, device, 1_000).expect("fits");
		#[block]
		{
			Pallet::<T>::on_measured_interval(
				device,
				DeviceKind::SmartMeter,
				&site_interval(START + 86_400 + 10 * HOUR),
			);
		}
		let participant = Participants::<T>::iter_prefix_values(id).next().expect("joined");
		assert!(participant.measurement.baseline.is_some());
	}

	impl_benchmark_test_suite!(Pallet, crate::mock::new_test_ext(), crate::mock::Test);
}
