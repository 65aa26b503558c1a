//! # Telemetry attestation
//!
//! Devices report their operating data in signed interval reports
//! ([`openvpp_primitives::IntervalReport`]); gateways submit them in batches; this pallet checks
//! each report, keeps each device's live state and scoring-epoch totals, and maintains the
//! **energy status map**: per region and device kind, how many devices report now, what they
//! generate and consume, how much stored energy and flexibility they offer.
//!
//! ## Checks, in order
//!
//! For each report of a batch, the first failing check decides (see
//! [`openvpp_primitives::RejectionReason`]):
//!
//! 1. the device exists and is `Active` (device registry);
//! 2. the submitter is the device's bound gateway;
//! 3. the signature verifies against the device's attestation key over
//!    `SCALE(genesis_hash, report)`;
//! 4. the sequence number is above the last accepted;
//! 5. the interval's length is within [`MinIntervalLengthS`] and
//!    [`Config::MaxIntervalLengthS`], it does not end in the future (beyond
//!    [`Config::MaxClockSkewS`]), did not start before the horizon
//!    ([`Config::ReportHorizonS`]), does not overlap the previous interval and does not start
//!    before the device was last made active (approved or reinstated).
//!
//! A report failing one of these is **rejected** with its reason and changes nothing but the
//! device's rejected counter. A report passing them all is **accepted**; if it then fails a
//! physics check ([`openvpp_primitives::check_plausibility`]) it is accepted **flagged**: its
//! sequence and interval are recorded and it counts against data quality, but its energy is
//! never counted, it does not enter the status map, and it does not move the device's energy
//! reference (counters and state of charge) that later reports are checked against. No report ever aborts the rest of its
//! batch.
//!
//! ## Fees
//!
//! A batch is a free transaction (`Pays::No`). Its rejected and flagged reports, and a stored
//! raw-data digest, are charged to the gateway as their share of the batch's weight and length
//! (see [`fees`]); a gateway that cannot pay its share pays the whole batch's ordinary fee.
//! Honest, well-measured data travels free; anything else costs its submitter in proportion.
//! The weight charged afterwards counts only the work done, down to the signature scheme of
//! each report. The weight of free telemetry is recorded per block so that the runtime can keep
//! it out of the congestion fee multiplier.
//!
//! The minimum interval length bounds how many free reports a device can produce: one per
//! [`MinIntervalLengthS`] of wall-clock time, plus at most the report horizon's worth of
//! backlog. Governance sets it ([`Config::AdminOrigin`]).
//!
//! ## Cost per report
//!
//! One signature check, one read of the registry's device record, one read and one write of the
//! device's [`DeviceTelemetry`] record; the status map is updated in memory and written once per
//! region and kind touched by the batch. Once per device and scoring epoch, the closed epoch's
//! totals go to the registry's history and to [`Config::OnEpochClosed`]; retiring a device
//! closes its open epoch the same way before its state is removed.
//!
//! ## Staleness
//!
//! A device's figures count in the status map until `StaleAfterIntervals` of its own intervals
//! have passed after its last report's interval end (rounded up to [`Config::FreshnessSlotS`]);
//! then they drop out without any transaction touching the device. Suspended or retired devices
//! drop out at once.

#![cfg_attr(not(feature = "std"), no_std)]

extern crate alloc;

pub use pallet::*;

#[cfg(feature = "runtime-benchmarks")]
mod benchmarking;
mod epoch_sweep;
pub mod fees;
#[cfg(test)]
mod mock;
pub mod registry_facts;
mod report_impls;
#[cfg(test)]
mod tests;
pub mod types;
pub mod weights;

pub use fees::{FeeBalanceOf, TelemetryFees};
pub use registry_facts::{FactsCopy, RegistryFacts};
pub use types::*;
pub use weights::WeightInfo;

// The pallet macros expand to `expect` calls on values they construct themselves (metadata,
// storage prefixes); the lint is kept for the hand-written logic in the other modules.
#[allow(clippy::expect_used)]
#[frame_support::pallet]
pub mod pallet {
	use super::*;
	use alloc::vec::Vec;
	use frame_support::{pallet_prelude::*, traits::UnixTime, weights::WeightMeter};
	use frame_system::pallet_prelude::*;
	use openvpp_primitives::{
		DeviceId, DeviceKind, DeviceRegistry, LiveFigures, MeasurementSink, OnEpochClosed,
		PlausibilityFlags, PlausibilityTolerances, RegionCode, RejectionReason, SignedReport,
	};
	use sp_core::H256;
	use sp_runtime::traits::{CheckedSub, Zero};

	const STORAGE_VERSION: StorageVersion = StorageVersion::new(1);

	#[pallet::pallet]
	#[pallet::storage_version(STORAGE_VERSION)]
	pub struct Pallet<T>(_);

	#[pallet::config]
	pub trait Config: frame_system::Config<RuntimeEvent: From<Event<Self>>> {
		/// Who the devices are.
		type Registry: DeviceRegistry<Self::AccountId>;

		/// Told when a device's scoring epoch closes.
		type OnEpochClosed: OnEpochClosed;

		/// Receives the reports of devices that demand response measures.
		type Measurement: MeasurementSink;

		/// Charges gateways for rejected and flagged reports and for stored digests.
		type Fees: TelemetryFees<Self::AccountId>;

		/// Wall-clock time (the block timestamp).
		type UnixTime: UnixTime;

		/// Most reports in one batch.
		#[pallet::constant]
		type MaxBatchSize: Get<u32>;

		/// Longest interval a report may cover (s).
		#[pallet::constant]
		type MaxIntervalLengthS: Get<u32>;

		/// How far back an interval may start (s). Older reports are rejected; history older
		/// than this is not kept on-chain.
		#[pallet::constant]
		type ReportHorizonS: Get<u64>;

		/// How far an interval may end after the block's time (s), for clock differences.
		#[pallet::constant]
		type MaxClockSkewS: Get<u64>;

		/// Intervals without a report after which a device drops out of the status map.
		#[pallet::constant]
		type StaleAfterIntervals: Get<u32>;

		/// Granularity (s) with which figures expire from the status map.
		#[pallet::constant]
		type FreshnessSlotS: Get<u32>;

		/// Freshness slots kept per region and kind; must cover the longest stale window.
		#[pallet::constant]
		type MaxFreshnessSlots: Get<u32>;

		/// Length of a scoring epoch (s) unless genesis sets another ([`EpochLength`]).
		#[pallet::constant]
		type EpochLengthS: Get<u64>;

		/// How long after an epoch's end the sweep waits before closing the epochs of devices
		/// that have not reported since (s): room for late reports. Genesis may set another
		/// ([`EpochCloseGrace`]).
		#[pallet::constant]
		type EpochCloseGraceS: Get<u64>;

		/// Most weight the epoch sweep may use in one block.
		#[pallet::constant]
		type MaxSweepWeight: Get<Weight>;

		/// Tolerances of the physics checks.
		#[pallet::constant]
		type Tolerances: Get<PlausibilityTolerances>;

		/// Blocks a batch's raw-data digest is kept.
		#[pallet::constant]
		type DigestRetentionBlocks: Get<BlockNumberFor<Self>>;

		/// Most digests kept per block; a batch beyond it is processed but its digest only
		/// appears in its event.
		#[pallet::constant]
		type MaxDigestsPerBlock: Get<u32>;

		/// May change the minimum interval length (root at first, governance later).
		type AdminOrigin: EnsureOrigin<Self::RuntimeOrigin>;

		/// Weights of this pallet's calls and hooks.
		type WeightInfo: WeightInfo;

		/// Creates devices for the benchmarks.
		#[cfg(feature = "runtime-benchmarks")]
		type BenchmarkHelper: openvpp_primitives::DeviceRegistryBenchmarkHelper<Self::AccountId>;

		/// Sets the clock in the benchmarks.
		#[cfg(feature = "runtime-benchmarks")]
		type BenchmarkClock: openvpp_primitives::BenchmarkClock;
	}

	/// Each device's telemetry state: last sequence and interval, latest reading, status-map
	/// entry and current epoch totals.
	#[pallet::storage]
	pub type DeviceTelemetry<T: Config> =
		StorageMap<_, Twox64Concat, DeviceId, DeviceTelemetryState<T::AccountId>>;

	/// The energy status map: live figures per region and device kind, in freshness slots.
	#[pallet::storage]
	pub type EnergyStatus<T: Config> = StorageDoubleMap<
		_,
		Blake2_128Concat,
		RegionCode,
		Twox64Concat,
		DeviceKind,
		RegionKindStatus<T::MaxFreshnessSlots>,
		ValueQuery,
	>;

	/// Shortest interval a report may cover (s). Each device can report at most once per this
	/// much wall-clock time, which bounds the fee-free reports it can produce.
	#[pallet::storage]
	pub type MinIntervalLengthS<T: Config> =
		StorageValue<_, u32, ValueQuery, DefaultMinIntervalLengthS>;

	/// One minute, unless genesis or governance say otherwise.
	#[pallet::type_value]
	pub fn DefaultMinIntervalLengthS() -> u32 {
		60
	}

	/// Length of a scoring epoch (s). Fixed at genesis: epochs are numbered by it.
	#[pallet::storage]
	pub type EpochLength<T: Config> = StorageValue<_, u64, ValueQuery, DefaultEpochLength<T>>;

	#[pallet::type_value]
	pub fn DefaultEpochLength<T: Config>() -> u64 {
		T::EpochLengthS::get()
	}

	/// How long after an epoch's end the sweep closes silent devices' epochs (s). Fixed at
	/// genesis.
	#[pallet::storage]
	pub type EpochCloseGrace<T: Config> =
		StorageValue<_, u64, ValueQuery, DefaultEpochCloseGrace<T>>;

	#[pallet::type_value]
	pub fn DefaultEpochCloseGrace<T: Config>() -> u64 {
		T::EpochCloseGraceS::get()
	}

	/// Devices by the scoring epoch they have open, for the sweep that closes the epochs of
	/// devices that fell silent.
	#[pallet::storage]
	pub type OpenEpochs<T: Config> =
		StorageDoubleMap<_, Twox64Concat, u64, Twox64Concat, DeviceId, (), OptionQuery>;

	/// The oldest epoch not yet swept: every device's epochs before it are closed. Set at the
	/// first block.
	#[pallet::storage]
	pub type NextToSweep<T: Config> = StorageValue<_, u64>;

	/// Devices closed so far in the epoch being swept, for its event.
	#[pallet::storage]
	pub type SweepProgress<T: Config> = StorageValue<_, u32, ValueQuery>;

	/// Raw-data digests of the batches included in each recent block.
	#[pallet::storage]
	pub type BatchDigests<T: Config> = StorageMap<
		_,
		Twox64Concat,
		BlockNumberFor<T>,
		BoundedVec<BatchDigest<T::AccountId>, T::MaxDigestsPerBlock>,
		ValueQuery,
	>;

	/// Weight of fee-free telemetry in a block, for the fee multiplier: (block, weight).
	#[pallet::storage]
	pub type FeeFreeWeight<T: Config> = StorageValue<_, (BlockNumberFor<T>, Weight)>;

	#[pallet::event]
	#[pallet::generate_deposit(pub(super) fn deposit_event)]
	pub enum Event<T: Config> {
		/// A gateway's batch was processed.
		BatchProcessed {
			gateway: T::AccountId,
			/// Reports accepted as plausible.
			accepted: u32,
			/// Reports accepted but flagged as implausible.
			flagged: u32,
			/// Reports rejected (each has its own `ReportRejected` event).
			rejected: u32,
			/// The batch's raw-data digest, if it carried one.
			raw_data_digest: Option<H256>,
			/// Whether the digest is kept in `BatchDigests` for this block.
			digest_stored: bool,
			/// What the batch paid.
			fee: BatchFee<FeeBalanceOf<T>>,
		},
		/// A report was rejected; the gateway should fix what `reason` says.
		ReportRejected { device_id: DeviceId, sequence: u64, reason: RejectionReason },
		/// A report was accepted but failed physics checks: it counts against data quality and
		/// never as energy.
		ReportFlagged { device_id: DeviceId, sequence: u64, flags: PlausibilityFlags },
		/// The minimum interval length changed.
		MinIntervalLengthSet { seconds: u32 },
		/// Every device's epoch `epoch` is closed: the sweep closed `devices_closed` that had
		/// not reported since.
		EpochSwept { epoch: u64, devices_closed: u32 },
	}

	#[pallet::error]
	pub enum Error<T> {
		/// The batch has no reports.
		EmptyBatch,
		/// The minimum interval length must be at least 1 s and at most `MaxIntervalLengthS`.
		InvalidMinIntervalLength,
	}

	#[pallet::genesis_config]
	#[derive(frame_support::DefaultNoBound)]
	pub struct GenesisConfig<T: Config> {
		/// The minimum interval length (s); `None` keeps the default of one minute. Development
		/// chains use a few seconds so that a demo shows reports at once.
		pub min_interval_length_s: Option<u32>,
		/// The scoring epoch's length (s); `None` keeps `Config::EpochLengthS`. Development
		/// chains use a few minutes so that a demo shows rewards soon.
		pub epoch_length_s: Option<u64>,
		/// The sweep's grace after an epoch's end (s); `None` keeps `Config::EpochCloseGraceS`.
		pub epoch_close_grace_s: Option<u64>,
		#[serde(skip)]
		pub _config: core::marker::PhantomData<T>,
	}

	#[pallet::genesis_build]
	impl<T: Config> BuildGenesisConfig for GenesisConfig<T> {
		fn build(&self) {
			if let Some(seconds) = self.min_interval_length_s {
				assert!(
					seconds > 0 && seconds <= T::MaxIntervalLengthS::get(),
					"the genesis min_interval_length_s must be within 1..=MaxIntervalLengthS"
				);
				MinIntervalLengthS::<T>::put(seconds);
			}
			if let Some(seconds) = self.epoch_length_s {
				assert!(seconds > 0, "the genesis epoch_length_s must be positive");
				EpochLength::<T>::put(seconds);
			}
			if let Some(seconds) = self.epoch_close_grace_s {
				EpochCloseGrace::<T>::put(seconds);
			}
		}
	}

	#[pallet::hooks]
	impl<T: Config> Hooks<BlockNumberFor<T>> for Pallet<T> {
		fn on_initialize(now: BlockNumberFor<T>) -> Weight {
			// Digests older than the retention drop out one block at a time: constant work.
			match now.checked_sub(&T::DigestRetentionBlocks::get()) {
				Some(expired) if !expired.is_zero() => {
					BatchDigests::<T>::remove(expired);
					T::WeightInfo::prune_digests()
				}
				_ => Weight::zero(),
			}
		}

		fn on_poll(_: BlockNumberFor<T>, weight: &mut WeightMeter) {
			let limit = T::MaxSweepWeight::get().min(weight.remaining());
			let mut meter = WeightMeter::with_limit(limit);
			Self::sweep_epochs(&mut meter);
			weight.consume(meter.consumed());
		}

		fn integrity_test() {
			assert!(
				T::MaxSweepWeight::get().all_gte(Self::sweep_weight_for(1)),
				"MaxSweepWeight cannot fit one device of the epoch sweep"
			);
			let slot = u64::from(T::FreshnessSlotS::get());
			assert!(slot > 0, "FreshnessSlotS must be positive");
			assert!(T::MaxBatchSize::get() > 0, "MaxBatchSize must be positive");
			assert!(T::MaxIntervalLengthS::get() > 0, "MaxIntervalLengthS must be positive");
			assert!(T::StaleAfterIntervals::get() > 0, "StaleAfterIntervals must be positive");
			assert!(T::EpochLengthS::get() > 0, "EpochLengthS must be positive");
			// Live figures expire at most the clock skew plus one stale window plus one slot after
			// `now`, at slot boundaries; the ring must hold every such boundary.
			let longest_window = u64::from(T::StaleAfterIntervals::get())
				.saturating_mul(T::MaxIntervalLengthS::get().into())
				.saturating_add(T::MaxClockSkewS::get());
			let needed = longest_window.div_ceil(slot) + 2;
			assert!(
				u64::from(T::MaxFreshnessSlots::get()) >= needed,
				"MaxFreshnessSlots must be at least (StaleAfterIntervals × MaxIntervalLengthS + MaxClockSkewS) / FreshnessSlotS + 2"
			);
			assert!(
				DefaultMinIntervalLengthS::get() <= T::MaxIntervalLengthS::get(),
				"the default minimum interval length exceeds MaxIntervalLengthS"
			);
			assert!(
				T::ReportHorizonS::get() >= u64::from(T::MaxIntervalLengthS::get()),
				"the report horizon must cover at least one interval"
			);
		}

		#[cfg(feature = "try-runtime")]
		fn try_state(_: BlockNumberFor<T>) -> Result<(), sp_runtime::TryRuntimeError> {
			Self::do_try_state()
		}
	}

	#[pallet::view_functions]
	impl<T: Config> Pallet<T> {
		/// The energy status map now: live figures of every region and device kind with devices
		/// reporting.
		pub fn energy_status_map() -> Vec<RegionFigures> {
			let now = Self::now();
			EnergyStatus::<T>::iter()
				.map(|(region, kind, status)| RegionFigures {
					region,
					kind,
					figures: status.live(now),
					updated_at: status.updated_at,
				})
				.filter(|entry| entry.figures.devices > 0)
				.collect()
		}

		/// The live figures of one region, per device kind.
		pub fn region_figures(region: RegionCode) -> Vec<(DeviceKind, LiveFigures)> {
			let now = Self::now();
			EnergyStatus::<T>::iter_prefix(&region)
				.map(|(kind, status)| (kind, status.live(now)))
				.filter(|(_, figures)| figures.devices > 0)
				.collect()
		}

		/// A device's telemetry state.
		pub fn device_telemetry(device_id: DeviceId) -> Option<DeviceTelemetryState<T::AccountId>> {
			DeviceTelemetry::<T>::get(device_id)
		}
	}

	#[pallet::call]
	impl<T: Config> Pallet<T> {
		/// Submit a batch of device-signed interval reports.
		///
		/// - Origin: signed by a gateway. Each report must belong to a device bound to it.
		/// - `raw_data_digest`: optionally, a digest (e.g. Merkle root) of the raw samples
		///   behind the reports, kept for [`Config::DigestRetentionBlocks`] so that auditors can
		///   check the gateway's archive. Storing it is charged (one write and its bytes); while
		///   the block's digest list is full, or if the gateway cannot pay, it only appears in
		///   the event.
		/// - Effects: every report is checked independently (see the module docs) and accepted,
		///   accepted flagged, or rejected; accepted reports update their device's state, epoch
		///   totals and the energy status map.
		/// - Emits [`Event::BatchProcessed`], plus [`Event::ReportRejected`] and
		///   [`Event::ReportFlagged`] for those reports.
		/// - Fees: the transaction is free; the share of rejected and flagged reports (and a
		///   stored digest) is charged through [`Config::Fees`], or, if the gateway cannot pay
		///   it, the whole batch pays its ordinary fee (see [`fees`]). The weight charged counts
		///   the work done.
		/// - Errors: `EmptyBatch`. Problems with single reports are not errors.
		#[pallet::call_index(0)]
		#[pallet::weight(Pallet::<T>::declared_weight(reports.len() as u32))]
		pub fn submit_reports(
			origin: OriginFor<T>,
			reports: BoundedVec<SignedReport, T::MaxBatchSize>,
			raw_data_digest: Option<H256>,
		) -> DispatchResultWithPostInfo {
			let gateway = ensure_signed(origin)?;
			ensure!(!reports.is_empty(), Error::<T>::EmptyBatch);
			Ok(Self::do_submit_reports(gateway, reports.into_inner(), raw_data_digest))
		}

		/// Set the minimum interval length a report may cover.
		///
		/// - Origin: [`Config::AdminOrigin`].
		/// - Effects: from the next report on, intervals shorter than `seconds` are rejected with
		///   `InvalidIntervalLength`. Devices already reporting faster must lengthen their
		///   intervals.
		/// - Emits [`Event::MinIntervalLengthSet`].
		/// - Errors: `BadOrigin`, `InvalidMinIntervalLength` (zero or above
		///   [`Config::MaxIntervalLengthS`]).
		#[pallet::call_index(1)]
		#[pallet::weight(T::WeightInfo::set_min_interval_length())]
		pub fn set_min_interval_length(origin: OriginFor<T>, seconds: u32) -> DispatchResult {
			T::AdminOrigin::ensure_origin(origin)?;
			ensure!(
				seconds > 0 && seconds <= T::MaxIntervalLengthS::get(),
				Error::<T>::InvalidMinIntervalLength
			);
			MinIntervalLengthS::<T>::put(seconds);
			Self::deposit_event(Event::MinIntervalLengthSet { seconds });
			Ok(())
		}
	}
}
