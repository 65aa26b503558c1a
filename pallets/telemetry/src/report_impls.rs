//! Processing a batch of reports, the status-map bookkeeping, and the registry's lifecycle
//! notifications.

use alloc::{collections::btree_map::BTreeMap, vec::Vec};
use codec::{Encode, MaxEncodedLen};
use frame_support::{
	dispatch::{Pays, PostDispatchInfo},
	traits::{Get, UnixTime},
	weights::Weight,
};
use openvpp_primitives::{
	check_plausibility, live_figures, report_signing_payload, storage_energy_wh,
	AttestationSignature, DeviceId, DeviceKind, DeviceLifecycleHooks, DeviceLookupError,
	DeviceRegistry, Direction, EnergyReference, EpochTelemetry, IntervalReport,
	LatestDeviceReading, MeasuredDevices, MeasuredInterval, MeasurementSink, OnEpochClosed,
	PlausibilityFlags, PlausibilityTolerances, RegionCode, RejectionReason, SignedReport,
	TelemetryTotals, UnixSeconds,
};
use sp_core::H256;
use sp_runtime::{traits::Zero, Perbill};

use crate::{
	fees::weight_share, pallet::*, BatchDigest, BatchFee, BatchWork, DeviceTelemetryState,
	FactsCopy, LatestReading, LiveEntry, Outcome, RegionKindStatus, RegistryFacts, TelemetryFees,
	WeightInfo,
};

/// Seconds in a day, for the UTC minute of day that dispatch windows use.
const SECONDS_PER_DAY: u64 = 86_400;

/// Status-map entries a batch changes, read once and written once.
struct StatusMapUpdate<T: Config> {
	now: UnixSeconds,
	touched: BTreeMap<(RegionCode, DeviceKind), RegionKindStatus<T::MaxFreshnessSlots>>,
	/// Devices whose scoring epoch this batch closed (each costs a registry write).
	epochs_closed: u32,
	/// Devices whose epoch this batch opened without closing one (each an index write).
	epochs_opened: u32,
	/// Accepted reports whose registry facts were read from the registry (no copy).
	facts_fetched: u32,
	/// What demand response used measuring the batch's enrolled devices.
	measurement_weight: Weight,
}

impl<T: Config> StatusMapUpdate<T> {
	fn new(now: UnixSeconds) -> Self {
		StatusMapUpdate {
			now,
			touched: BTreeMap::new(),
			epochs_closed: 0,
			epochs_opened: 0,
			facts_fetched: 0,
			measurement_weight: Weight::zero(),
		}
	}

	fn entry(
		&mut self,
		region: &RegionCode,
		kind: DeviceKind,
	) -> &mut RegionKindStatus<T::MaxFreshnessSlots> {
		let now = self.now;
		self.touched.entry((region.clone(), kind)).or_insert_with(|| {
			let mut status = EnergyStatus::<T>::get(region, kind);
			status.prune(now);
			status
		})
	}

	/// Takes a device's old figures out of the map.
	fn withdraw(&mut self, live: &LiveEntry) {
		if live.expires_at > self.now {
			self.entry(&live.region, live.kind).remove(live.expires_at, &live.figures);
		}
	}

	/// Puts a device's new figures into the map.
	fn deposit(&mut self, live: &LiveEntry) {
		if live.expires_at > self.now {
			self.entry(&live.region, live.kind).add(live.expires_at, &live.figures);
		}
	}

	/// Number of region/kind entries the batch changed.
	fn len(&self) -> u32 {
		self.touched.len() as u32
	}

	fn write(self) {
		for ((region, kind), mut status) in self.touched {
			status.updated_at = self.now;
			if status.slots.is_empty() {
				EnergyStatus::<T>::remove(&region, kind);
			} else {
				EnergyStatus::<T>::insert(&region, kind, status);
			}
		}
	}
}

/// What every report of a batch is checked against.
struct BatchContext<'a, T: Config> {
	gateway: &'a T::AccountId,
	genesis_hash: T::Hash,
	now: UnixSeconds,
	minute_of_day: u16,
	tolerances: PlausibilityTolerances,
	min_interval_length_s: u32,
}

impl<T: Config> Pallet<T> {
	/// The block's time in Unix seconds.
	pub(crate) fn now() -> UnixSeconds {
		T::UnixTime::now().as_secs()
	}

	/// The instant a reading expires from the status map: its interval end plus the stale
	/// window, rounded up to a freshness slot.
	pub fn expiry_of(report: &IntervalReport) -> UnixSeconds {
		let window = u64::from(T::StaleAfterIntervals::get())
			.saturating_mul(report.interval_length_s.into());
		let slot = u64::from(T::FreshnessSlotS::get()).max(1);
		report.interval_end().saturating_add(window).div_ceil(slot).saturating_mul(slot)
	}

	pub(crate) fn do_submit_reports(
		gateway: T::AccountId,
		reports: Vec<SignedReport>,
		raw_data_digest: Option<H256>,
	) -> PostDispatchInfo {
		let now = Self::now();
		let context = BatchContext::<T> {
			gateway: &gateway,
			genesis_hash: frame_system::Pallet::<T>::block_hash(
				frame_system::pallet_prelude::BlockNumberFor::<T>::zero(),
			),
			now,
			minute_of_day: ((now % SECONDS_PER_DAY) / 60) as u16,
			tolerances: T::Tolerances::get(),
			min_interval_length_s: MinIntervalLengthS::<T>::get(),
		};
		let mut map = StatusMapUpdate::<T>::new(now);
		let (mut accepted, mut flagged, mut rejected) = (0u32, 0u32, 0u32);
		let mut work = BatchWork::default();

		for signed in &reports {
			let outcome = Self::process_report(&context, signed, &mut map);
			let (device_id, sequence) = (signed.report.device_id, signed.report.sequence);
			let verified = match outcome {
				Outcome::Accepted => {
					accepted += 1;
					work.processed += 1;
					true
				}
				Outcome::Flagged(flags) => {
					flagged += 1;
					work.processed += 1;
					Self::deposit_event(Event::ReportFlagged { device_id, sequence, flags });
					true
				}
				Outcome::Rejected { reason, verified } => {
					rejected += 1;
					if verified {
						work.rejected_verified += 1;
					} else {
						work.rejected_unverified += 1;
					}
					Self::deposit_event(Event::ReportRejected { device_id, sequence, reason });
					verified
				}
			};
			if verified {
				match signed.signature {
					AttestationSignature::Ed25519(_) => work.ed25519_checked += 1,
					AttestationSignature::Sr25519(_) => work.sr25519_checked += 1,
					AttestationSignature::Ecdsa(_) => {}
				}
			}
		}

		work.status_entries = map.len();
		work.epochs_closed = map.epochs_closed;
		work.epochs_opened = map.epochs_opened;
		work.facts_fetched = map.facts_fetched;
		work.measurement_weight = map.measurement_weight;
		map.write();

		// Never more than was charged up front (the fits of the benchmarks differ a little at
		// small batches).
		let batch_count = reports.len() as u32;
		let actual_weight = Self::batch_weight(&work).min(Self::declared_weight(batch_count));

		// What the gateway owes: the share of the batch its bad reports account for, and the
		// storage of a digest if there is room for one.
		let block = frame_system::Pallet::<T>::block_number();
		let digest_room = raw_data_digest.is_some()
			&& BatchDigests::<T>::decode_len(block).unwrap_or(0)
				< T::MaxDigestsPerBlock::get() as usize;
		let bad_share =
			Perbill::from_rational(rejected.saturating_add(flagged), batch_count.max(1));
		let mut owed_weight = weight_share(actual_weight, bad_share);
		// Sizing the batch is a pass over every report: only when something is owed for it.
		let mut owed_bytes =
			if bad_share.is_zero() { 0 } else { bad_share * (reports.encoded_size() as u32) };
		if digest_room {
			owed_weight = owed_weight.saturating_add(T::DbWeight::get().writes(1));
			owed_bytes =
				owed_bytes.saturating_add(BatchDigest::<T::AccountId>::max_encoded_len() as u32);
		}
		let fee = if owed_weight.is_zero() && owed_bytes == 0 {
			BatchFee::Free
		} else {
			match T::Fees::charge(&gateway, owed_weight, owed_bytes) {
				Ok(amount) => BatchFee::Share(amount),
				// Bad reports always cost something: then the whole batch pays.
				Err(_) if bad_share > Perbill::zero() => BatchFee::Full,
				// Only the digest was owed: it is not stored, the reports stay free.
				Err(_) => {
					owed_weight = Weight::zero();
					BatchFee::Free
				}
			}
		};

		let digest_stored = match raw_data_digest {
			Some(digest) if digest_room && matches!(fee, BatchFee::Share(_)) => {
				let record = BatchDigest { gateway: gateway.clone(), digest, reports: batch_count };
				BatchDigests::<T>::try_append(block, record).is_ok()
			}
			_ => false,
		};

		let pays_fee = match fee {
			BatchFee::Full => Pays::Yes,
			BatchFee::Free | BatchFee::Share(_) => {
				Self::note_fee_free(actual_weight.saturating_sub(owed_weight));
				Pays::No
			}
		};

		Self::deposit_event(Event::BatchProcessed {
			gateway,
			accepted,
			flagged,
			rejected,
			raw_data_digest,
			digest_stored,
			fee,
		});

		PostDispatchInfo { actual_weight: Some(actual_weight), pays_fee }
	}

	/// The weight charged up front for a batch of `reports` reports: the worst of every report
	/// accepted, closing its device's epoch and in its own status-map entry, or every report
	/// failing its signature check, or every report rejected before it.
	pub fn declared_weight(reports: u32) -> Weight {
		// The benchmarks sign with ECDSA; a batch of the dearest scheme costs its difference more.
		let ecdsa = T::WeightInfo::verify_ecdsa();
		let dearest_scheme_extra = T::WeightInfo::verify_ed25519()
			.saturating_sub(ecdsa)
			.max(T::WeightInfo::verify_sr25519().saturating_sub(ecdsa));
		T::WeightInfo::submit_reports(reports)
			.max(T::WeightInfo::submit_reports_bad_signature(reports))
			.saturating_add(dearest_scheme_extra.saturating_mul(reports.into()))
			.max(T::WeightInfo::submit_reports_unverified(reports))
			.saturating_add(Self::fee_bookkeeping_weight())
			// Enrolled devices: what demand response may spend measuring them.
			.saturating_add(T::Measurement::max_measurement_weight().saturating_mul(reports.into()))
	}

	/// The weight of a batch that did `work`.
	///
	/// `submit_reports_known` (every report accepted, one status-map entry, no epoch closes,
	/// every device's registry facts in its state, ECDSA keys) is the base; the differences to
	/// `submit_reports_same_epoch` (every device's facts read from the registry),
	/// `submit_reports_one_region` (also every report closes an epoch) and `submit_reports`
	/// (also every report in its own entry) at the largest batch price a registry read, an
	/// epoch close and an extra entry; the slopes of
	/// `submit_reports_bad_signature` and `submit_reports_unverified` price the two kinds of
	/// rejection; the `verify_*` benchmarks price each signature by the scheme it used; and an
	/// epoch opened without a close (which none of the benchmarks does per report) is one
	/// more write.
	pub fn batch_weight(work: &BatchWork) -> Weight {
		let max = T::MaxBatchSize::get();
		let per = |total: Weight, count: u32| {
			total.checked_div(u64::from(count).max(1)).unwrap_or_default()
		};
		let slope =
			|at: fn(u32) -> Weight| per(at(max).saturating_sub(at(1)), max.saturating_sub(1));
		let per_facts_fetch = per(
			T::WeightInfo::submit_reports_same_epoch(max)
				.saturating_sub(T::WeightInfo::submit_reports_known(max)),
			max,
		);
		let per_epoch_close = per(
			T::WeightInfo::submit_reports_one_region(max)
				.saturating_sub(T::WeightInfo::submit_reports_same_epoch(max)),
			max,
		);
		let per_extra_entry = per(
			T::WeightInfo::submit_reports(max)
				.saturating_sub(T::WeightInfo::submit_reports_one_region(max)),
			max.saturating_sub(1),
		);
		let per_bad_signature = slope(T::WeightInfo::submit_reports_bad_signature);
		let per_unverified = slope(T::WeightInfo::submit_reports_unverified);
		// Each signature checked with another scheme than ECDSA costs the difference, whichever
		// way it goes.
		let ecdsa = T::WeightInfo::verify_ecdsa();
		let reprice = |weight: Weight, scheme: Weight, checked: u32| {
			weight
				.saturating_add(scheme.saturating_sub(ecdsa).saturating_mul(checked.into()))
				.saturating_sub(ecdsa.saturating_sub(scheme).saturating_mul(checked.into()))
		};

		let weight = T::WeightInfo::submit_reports_known(work.processed)
			.saturating_add(per_facts_fetch.saturating_mul(work.facts_fetched.into()))
			.saturating_add(per_bad_signature.saturating_mul(work.rejected_verified.into()))
			.saturating_add(per_unverified.saturating_mul(work.rejected_unverified.into()))
			.saturating_add(per_epoch_close.saturating_mul(work.epochs_closed.into()))
			.saturating_add(
				per_extra_entry.saturating_mul(work.status_entries.saturating_sub(1).into()),
			)
			.saturating_add(T::DbWeight::get().writes(work.epochs_opened.into()));
		let weight = reprice(weight, T::WeightInfo::verify_ed25519(), work.ed25519_checked);
		reprice(weight, T::WeightInfo::verify_sr25519(), work.sr25519_checked)
			.saturating_add(Self::fee_bookkeeping_weight())
			.saturating_add(work.measurement_weight)
	}

	/// Checks one report and applies it. Never fails: every problem is an outcome.
	fn process_report(
		context: &BatchContext<'_, T>,
		signed: &SignedReport,
		map: &mut StatusMapUpdate<T>,
	) -> Outcome {
		let report = &signed.report;
		let reject = |reason, verified| Outcome::Rejected { reason, verified };

		// 1. The device exists and is active: its state's copy of the registry's facts says so
		// (the registry voids it when the device stops being active), or the registry does.
		let mut state = DeviceTelemetry::<T>::get(report.device_id);
		let copied = state.as_mut().and_then(|s| s.facts.0.take());
		let fetched = copied.is_none();
		let device = match copied {
			Some(facts) => facts,
			None => match T::Registry::active_device(report.device_id) {
				Ok(device) => RegistryFacts::from(device),
				Err(DeviceLookupError::Unknown) => {
					return reject(RejectionReason::UnknownDevice, false)
				}
				Err(DeviceLookupError::NotActive(_)) => {
					return reject(RejectionReason::DeviceNotActive, false)
				}
			},
		};
		// 2. The submitter is its gateway.
		if device.gateway != *context.gateway {
			return reject(RejectionReason::WrongGateway, false);
		}
		// 3. The device signed exactly this report for this chain.
		let payload = report_signing_payload(&context.genesis_hash, report);
		if !device.attestation_key.verify(&payload, &signed.signature) {
			Self::count_rejection(report.device_id);
			return reject(RejectionReason::BadSignature, true);
		}

		// 4. The sequence moves forward. A duplicate is a harmless resubmission: it is refused
		// without counting against the device.
		if let Some(state) = &state {
			if report.sequence <= state.last_sequence {
				return reject(RejectionReason::SequenceNotIncreasing, true);
			}
		}
		// 5. The interval is well formed, current and after the previous one.
		if let Err(reason) =
			Self::check_interval(report, state.as_ref(), device.counting_since, context)
		{
			Self::count_rejection(report.device_id);
			return reject(reason, true);
		}

		// 6. Physics. A failure flags the report; it is still recorded.
		let assessment = check_plausibility(
			report,
			device.kind,
			&device.capability,
			state.as_ref().and_then(|s| s.reference.as_ref()),
			&context.tolerances,
		);
		let flags = assessment.flags;
		let kind = device.kind;
		let new_state =
			Self::apply_report(report, device, state, assessment.reference, flags, context, map);
		if fetched {
			map.facts_fetched = map.facts_fetched.saturating_add(1);
		}
		let measured = new_state.measured;
		DeviceTelemetry::<T>::insert(report.device_id, new_state);
		if measured {
			let interval = MeasuredInterval {
				interval_start: report.interval_start,
				interval_length_s: report.interval_length_s,
				energy_imported_wh: report.energy_imported_wh,
				energy_exported_wh: report.energy_exported_wh,
				soc_bp: report.soc_bp,
				grid_response: report.grid_response,
				plausible: flags.is_plausible(),
			};
			let used = T::Measurement::on_measured_interval(report.device_id, kind, &interval);
			map.measurement_weight = map.measurement_weight.saturating_add(used);
		}

		if flags.is_plausible() {
			Outcome::Accepted
		} else {
			Outcome::Flagged(flags)
		}
	}

	fn check_interval(
		report: &IntervalReport,
		state: Option<&DeviceTelemetryState<T::AccountId>>,
		counting_since: UnixSeconds,
		context: &BatchContext<'_, T>,
	) -> Result<(), RejectionReason> {
		let now = context.now;
		if report.interval_length_s < context.min_interval_length_s.max(1)
			|| report.interval_length_s > T::MaxIntervalLengthS::get()
		{
			return Err(RejectionReason::InvalidIntervalLength);
		}
		if report.interval_end() > now.saturating_add(T::MaxClockSkewS::get()) {
			return Err(RejectionReason::IntervalInFuture);
		}
		if report.interval_start < now.saturating_sub(T::ReportHorizonS::get()) {
			return Err(RejectionReason::IntervalTooOld);
		}
		if state.is_some_and(|s| report.interval_start < s.last_interval_end) {
			return Err(RejectionReason::IntervalOverlap);
		}
		if report.interval_start < counting_since {
			return Err(RejectionReason::BeforeActivation);
		}
		Ok(())
	}

	/// The device's state after an accepted (possibly flagged) report, keeping the registry's
	/// facts it was checked against for the next one.
	fn apply_report(
		report: &IntervalReport,
		device: RegistryFacts<T::AccountId>,
		state: Option<DeviceTelemetryState<T::AccountId>>,
		reference: Option<EnergyReference>,
		flags: PlausibilityFlags,
		context: &BatchContext<'_, T>,
		map: &mut StatusMapUpdate<T>,
	) -> DeviceTelemetryState<T::AccountId> {
		let length_s = Self::epoch_length_s();
		let epoch_index = report.interval_start / length_s;
		let mut closed = false;
		let (mut epoch, previous_end, old_live, measured) = match state {
			Some(state) => (state.epoch, Some(state.last_interval_end), state.live, state.measured),
			None => {
				(EpochTelemetry { epoch: epoch_index, ..Default::default() }, None, None, false)
			}
		};

		// Intervals only move forward, so a later epoch means the current one is complete.
		if epoch_index > epoch.epoch {
			Self::count_missed_until_end(
				&mut epoch,
				previous_end,
				length_s,
				report.interval_length_s,
			);
			Self::close_epoch(report.device_id, &epoch, previous_end);
			map.epochs_closed = map.epochs_closed.saturating_add(1);
			closed = true;
			OpenEpochs::<T>::remove(epoch.epoch, report.device_id);
			epoch = EpochTelemetry { epoch: epoch_index, ..Default::default() };
		}
		// The epoch's first report puts the device in the sweep's index (a device the sweep
		// left dormant comes back here too).
		if epoch.accepted.saturating_add(epoch.flagged) == 0 {
			OpenEpochs::<T>::insert(epoch.epoch, report.device_id, ());
			// A close prices this write with it; otherwise it is the batch's to pay.
			if !closed {
				map.epochs_opened = map.epochs_opened.saturating_add(1);
			}
		}
		// A report for an epoch the sweep has closed: it counts for data quality in the open
		// epoch, but its energy and time no longer count for any epoch.
		let late = epoch_index < epoch.epoch;

		// Intervals missed since the previous report (or since the epoch began) count as
		// expected but absent.
		let epoch_start = epoch_index.saturating_mul(length_s);
		let missed = previous_end
			.filter(|_| !late)
			.map(|end| end.max(epoch_start))
			.filter(|from| report.interval_start > *from)
			.map(|from| (report.interval_start - from) / u64::from(report.interval_length_s.max(1)))
			.unwrap_or(0);
		epoch.expected = epoch
			.expected
			.saturating_add(1)
			.saturating_add(u32::try_from(missed).unwrap_or(u32::MAX));
		if !late {
			epoch.online_s = epoch.online_s.saturating_add(report.online_s.into());
		}

		if flags.is_plausible() {
			epoch.accepted = epoch.accepted.saturating_add(1);
			if !late {
				Self::add_energy(&mut epoch, report, &device);
			}
		} else {
			epoch.flagged = epoch.flagged.saturating_add(1);
		}

		// The status map: out with the old figures, in with the new ones if they count.
		if let Some(old) = &old_live {
			map.withdraw(old);
		}
		let live = if flags.is_plausible() {
			let entry = LiveEntry {
				region: device.region.clone(),
				kind: device.kind,
				figures: {
					let figures = live_figures(
						report,
						device.kind,
						&device.capability,
						&device.comfort,
						context.minute_of_day,
					);
					// A site's grid exchange is counted once, at its meter.
					if device.site_meter.is_some() {
						figures.behind_site_meter()
					} else {
						figures
					}
				},
				expires_at: Self::expiry_of(report),
			};
			map.deposit(&entry);
			Some(entry).filter(|e| e.expires_at > context.now)
		} else {
			None
		};

		DeviceTelemetryState {
			last_sequence: report.sequence,
			last_interval_end: report.interval_end(),
			latest: LatestReading {
				interval_start: report.interval_start,
				interval_length_s: report.interval_length_s,
				average_power_w: report.average_power_w,
				peak_power_w: report.peak_power_w,
				soc_bp: report.soc_bp,
				device_state: report.device_state,
				grid_response: report.grid_response,
				cumulative_imported_wh: report.cumulative_imported_wh,
				cumulative_exported_wh: report.cumulative_exported_wh,
				plausibility: flags,
			},
			reference,
			live,
			epoch,
			measured,
			facts: FactsCopy(Some(device)),
		}
	}

	/// A plausible report's energy in its epoch's totals.
	fn add_energy(
		epoch: &mut EpochTelemetry,
		report: &IntervalReport,
		device: &RegistryFacts<T::AccountId>,
	) {
		let imported = report.energy_imported_wh;
		let exported = report.energy_exported_wh;
		epoch.consumed_wh = epoch.consumed_wh.saturating_add(imported);
		epoch.exported_wh = epoch.exported_wh.saturating_add(exported);
		if device.kind.has_storage() {
			epoch.charged_wh = epoch.charged_wh.saturating_add(imported);
			epoch.discharged_wh = epoch.discharged_wh.saturating_add(exported);
			// Energy it held ready, for the seconds it was online.
			let held_wh = match (report.soc_bp, device.capability.storage_capacity_wh) {
				(Some(soc_bp), Some(capacity_wh)) => storage_energy_wh(
					capacity_wh,
					soc_bp,
					device.comfort.min_reserve_soc_bp,
					Direction::Up,
				),
				_ => 0,
			};
			epoch.stored_above_reserve_wh_s = epoch
				.stored_above_reserve_wh_s
				.saturating_add(held_wh.saturating_mul(report.online_s.into()));
		} else if device.kind.generates() {
			// Only what generates counts as generation: a site meter's export is its
			// devices' generation, measured again.
			epoch.produced_wh = epoch.produced_wh.saturating_add(exported);
		}
	}

	/// Counts the intervals of `epoch` after the device's last report (`last_end`) up to the
	/// epoch's end as expected but missed: the epoch is closing, at a report of a later epoch
	/// or by the sweep.
	pub(crate) fn count_missed_until_end(
		epoch: &mut EpochTelemetry,
		last_end: Option<UnixSeconds>,
		length_s: u64,
		interval_length_s: u32,
	) {
		let epoch_start = epoch.epoch.saturating_mul(length_s);
		let epoch_end = epoch_start.saturating_add(length_s);
		let from = last_end.unwrap_or(epoch_start).max(epoch_start);
		let missed = epoch_end.saturating_sub(from) / u64::from(interval_length_s.max(1));
		epoch.expected = epoch.expected.saturating_add(u32::try_from(missed).unwrap_or(u32::MAX));
	}

	/// Hands a finished epoch to the registry's history and to the epoch handler. `last_seen` is
	/// the end of the epoch's last accepted interval.
	pub(crate) fn close_epoch(
		device_id: DeviceId,
		epoch: &EpochTelemetry,
		last_seen: Option<UnixSeconds>,
	) {
		let totals = TelemetryTotals {
			energy_produced_wh: epoch.produced_wh,
			energy_consumed_wh: epoch.consumed_wh,
			energy_charged_wh: epoch.charged_wh,
			energy_discharged_wh: epoch.discharged_wh,
			online_s: epoch.online_s,
			reports_accepted: epoch.accepted,
			reports_flagged: epoch.flagged,
			reports_rejected: epoch.rejected,
			reports_expected: epoch.expected,
			last_seen,
		};
		// The device was just found active, so the registry knows it; if it did not, the totals
		// would have nowhere to go, which an invariant check must hear of.
		if T::Registry::record_telemetry(device_id, &totals).is_err() {
			frame_support::defensive!("an active device is unknown to the registry");
		}
		T::OnEpochClosed::on_epoch_closed(device_id, epoch);
	}

	/// Counts a rejected report against the device (if it has reported before).
	fn count_rejection(device_id: DeviceId) {
		DeviceTelemetry::<T>::mutate_extant(device_id, |state| {
			state.epoch.rejected = state.epoch.rejected.saturating_add(1);
		});
	}

	/// Takes a device's figures out of the status map and voids its copy of the registry's
	/// facts (it is no longer active).
	fn drop_from_status_map(device_id: DeviceId) {
		DeviceTelemetry::<T>::mutate_extant(device_id, |state| {
			state.facts = FactsCopy(None);
			if let Some(live) = state.live.take() {
				let mut map = StatusMapUpdate::<T>::new(Self::now());
				map.withdraw(&live);
				map.write();
			}
		});
	}

	/// Checks that every unexpired slot of the status map equals the sum of the figures the
	/// devices say they put there.
	#[cfg(any(feature = "try-runtime", feature = "std", test))]
	pub fn do_try_state() -> Result<(), sp_runtime::TryRuntimeError> {
		use openvpp_primitives::LiveFigures;
		let now = Self::now();
		let mut expected: BTreeMap<(RegionCode, DeviceKind, UnixSeconds), LiveFigures> =
			BTreeMap::new();
		// One pass over the devices' states: their fresh figures, their copies of the registry's
		// facts (each what the registry says: it voids copies it changes) and their place in
		// the sweep's index.
		for (device, state) in DeviceTelemetry::<T>::iter() {
			if let Some(live) = state.live.filter(|l| l.expires_at > now) {
				expected
					.entry((live.region, live.kind, live.expires_at))
					.or_default()
					.add(&live.figures);
			}
			if let Some(facts) = &state.facts.0 {
				let registry = T::Registry::active_device(device).map(RegistryFacts::from);
				frame_support::ensure!(
					registry.as_ref() == Ok(facts),
					"a device's copy of the registry's facts differs from the registry"
				);
			}
			let reported = state.epoch.accepted.saturating_add(state.epoch.flagged) > 0;
			frame_support::ensure!(
				!reported || OpenEpochs::<T>::contains_key(state.epoch.epoch, device),
				"a device that reported in its open epoch is missing from the epoch index"
			);
		}
		// The sweep's index names each device at its open epoch, and only there; a device
		// missing from it has reported nothing in that epoch (the sweep left it dormant).
		for (epoch, device, ()) in OpenEpochs::<T>::iter() {
			frame_support::ensure!(
				DeviceTelemetry::<T>::get(device).is_some_and(|s| s.epoch.epoch == epoch),
				"the epoch index names a device at an epoch it does not have open"
			);
		}
		let mut stored: BTreeMap<(RegionCode, DeviceKind, UnixSeconds), LiveFigures> =
			BTreeMap::new();
		for (region, kind, status) in EnergyStatus::<T>::iter() {
			frame_support::ensure!(
				status.slots.windows(2).all(|w| w[0].expires_at < w[1].expires_at),
				"freshness slots out of order"
			);
			for slot in status.slots.iter().filter(|s| s.expires_at > now) {
				stored.insert((region.clone(), kind, slot.expires_at), slot.figures);
			}
		}
		frame_support::ensure!(
			expected == stored,
			"the status map differs from the sum over fresh devices"
		);
		Ok(())
	}
}

impl<T: Config> DeviceLifecycleHooks for Pallet<T> {
	fn on_device_deactivated(device_id: DeviceId) {
		Self::drop_from_status_map(device_id);
	}

	fn on_device_retired(device_id: DeviceId) {
		Self::drop_from_status_map(device_id);
		// Its last epoch reaches its history and the epoch handler before the state goes.
		if let Some(state) = DeviceTelemetry::<T>::take(device_id) {
			OpenEpochs::<T>::remove(state.epoch.epoch, device_id);
			Self::close_epoch(device_id, &state.epoch, Some(state.last_interval_end));
		}
	}

	/// The next report takes the registry's facts afresh.
	fn on_device_changed(device_id: DeviceId) {
		DeviceTelemetry::<T>::mutate_extant(device_id, |state| state.facts = FactsCopy(None));
	}
}

impl<T: Config> MeasuredDevices for Pallet<T> {
	fn set_measured(device_id: DeviceId, measured: bool) -> bool {
		DeviceTelemetry::<T>::mutate_exists(device_id, |state| match state {
			Some(state) => {
				state.measured = measured;
				true
			}
			None => false,
		})
	}

	fn latest_reading(device_id: DeviceId) -> Option<LatestDeviceReading> {
		DeviceTelemetry::<T>::get(device_id).map(|state| LatestDeviceReading {
			interval_end: state.last_interval_end,
			average_power_w: state.latest.average_power_w,
			soc_bp: state.latest.soc_bp,
			device_state: state.latest.device_state,
			plausible: state.latest.plausibility.is_plausible(),
		})
	}

	fn set_measured_weight() -> Weight {
		T::DbWeight::get().reads_writes(1, 1)
	}
}

#[cfg(feature = "runtime-benchmarks")]
impl<T: Config> Pallet<T> {
	/// Gives a device a plausible latest reading for an interval ending at `interval_end`, for
	/// other pallets' benchmarks.
	pub fn set_reading_for_benchmarks(
		device_id: DeviceId,
		interval_end: UnixSeconds,
		average_power_w: openvpp_primitives::Watts,
		soc_bp: Option<openvpp_primitives::BasisPoints>,
	) {
		let latest = LatestReading {
			interval_start: interval_end.saturating_sub(900),
			interval_length_s: 900,
			average_power_w,
			peak_power_w: average_power_w,
			soc_bp,
			device_state: openvpp_primitives::DeviceState::Operating,
			grid_response: Default::default(),
			cumulative_imported_wh: 0,
			cumulative_exported_wh: 0,
			plausibility: PlausibilityFlags::default(),
		};
		DeviceTelemetry::<T>::insert(
			device_id,
			DeviceTelemetryState {
				last_sequence: 1,
				last_interval_end: interval_end,
				latest,
				reference: None,
				live: None,
				epoch: EpochTelemetry::default(),
				measured: false,
				facts: FactsCopy(None),
			},
		);
	}
}

#[cfg(feature = "runtime-benchmarks")]
impl<T: Config> openvpp_primitives::LifecycleHooksBenchmarkHelper for Pallet<T> {
	/// Gives the device live figures in a status-map entry whose freshness slots are all in use,
	/// so that taking it out decodes and encodes the largest entry.
	fn make_worst_case(device_id: DeviceId, region: &RegionCode, kind: DeviceKind) {
		let now = Self::now();
		let slot = u64::from(T::FreshnessSlotS::get()).max(1);
		let figures = openvpp_primitives::LiveFigures {
			devices: 1,
			generation_w: 1_000,
			..Default::default()
		};
		let first = (now / slot + 1) * slot;
		let mut status = EnergyStatus::<T>::get(region, kind);
		let mut expiry = first;
		while (status.slots.len() as u32) < T::MaxFreshnessSlots::get() {
			status.add(expiry, &figures);
			expiry = expiry.saturating_add(slot);
		}
		EnergyStatus::<T>::insert(region, kind, status);
		let latest = LatestReading {
			interval_start: now,
			interval_length_s: 900,
			average_power_w: 1_000,
			peak_power_w: 1_000,
			soc_bp: None,
			device_state: Default::default(),
			grid_response: Default::default(),
			cumulative_imported_wh: 0,
			cumulative_exported_wh: 0,
			plausibility: PlausibilityFlags::default(),
		};
		DeviceTelemetry::<T>::insert(
			device_id,
			DeviceTelemetryState {
				last_sequence: 1,
				last_interval_end: now,
				latest,
				reference: None,
				live: Some(LiveEntry { region: region.clone(), kind, figures, expires_at: first }),
				// An epoch with totals, so that retiring the device closes it.
				epoch: EpochTelemetry { accepted: 1, expected: 1, ..Default::default() },
				measured: false,
				// A copy to void, as an active device's state holds.
				facts: FactsCopy(
					T::Registry::active_device(device_id).ok().map(RegistryFacts::from),
				),
			},
		);
	}
}
