//! # Contribution scoring and rewards
//!
//! Every scoring epoch (the telemetry pallet's epoch: Unix seconds ÷ [`Config::EpochLengthS`])
//! each active device that reported is scored on what it contributed, and the epoch's pool of
//! newly emitted OVPP is paid to the device owners in proportion, automatically, across as
//! many blocks as it takes.
//!
//! ## Scores
//!
//! When the telemetry pallet closes a device's epoch ([`OnEpochClosed`]), the device is scored
//! on five paid dimensions, each an energy in Wh ([`scoring`]):
//!
//! - **generation**: energy generated and delivered, at most rated power × epoch length;
//! - **storage**: stored energy above the owner's reserve that the device held ready while
//!   online, averaged over the epoch;
//! - **grid stability**: energy delivered in demand-response events, up to the commitment;
//! - **demand-response participation**: energy committed in events the device was selected for;
//! - **online time**: rated power × seconds online (none for smart meters, whose capacity is
//!   that of the devices behind them);
//!
//! and each is multiplied by the sixth, **data quality**: plausible reports ÷ (expected
//! intervals + rejected reports). Demand-response results arrive when an event is settled
//! ([`OnParticipantSettled`]) and count in the device's next epoch close.
//!
//! ## Pool and payouts
//!
//! An epoch's scores are accepted until its **cutoff**, its end plus [`Config::CutoffGraceS`].
//! At the cutoff the epoch's emission ([`emission`]) is minted into the reward pot; the pot's
//! spendable balance is the **pool**: the emission, what earlier epochs left, and anything sent
//! to the pot. [`EmissionSchedule::treasury_share`] of it goes to the treasury account, and the
//! rest is split between the dimensions by [`Config::DimensionWeights`]. A device's reward is,
//! per dimension, `floor(dimension pool × its score ÷ the sum of all scores)`, summed.
//!
//! Payouts run in `on_poll`, before any transaction, within [`Config::MaxPollWeight`] per
//! block, and in `on_idle` with whatever weight the block's transactions left, resuming from a
//! cursor; anyone may also pay a given device with
//! [`Pallet::pay_device`]. A result is marked paid when paid, so each device is paid once.
//! What no device receives (rounding remainders, dimensions nobody scored in, transfers that
//! could not be made) stays in the pot for the next epoch: paid + carried = pool, checked by
//! `try_state`.
//!
//! A device's epoch closed after its cutoff (its next report came too late) still moves its
//! reputation but is not scored: a settled reward never changes.
//!
//! ## Reputation
//!
//! Each epoch close moves the device's reputation an eighth of the way towards data quality ×
//! the share of the epoch it was online ([`scoring::reputation_target_bp`]).
//!
//! ## Sybil neutrality
//!
//! Every paid dimension is additive in physical quantities (energy delivered, energy held,
//! capacity × time) and pays pro rata within its pool, with no per-device constant, cap on
//! the sum or threshold. Splitting one device into parts that deliver the same energy leaves
//! every sum unchanged and gives the parts together exactly what the whole would have
//! earned, less up to one planck per part and dimension of rounding (rounding is always
//! down); each part also pays its own registration deposit.

#![cfg_attr(not(feature = "std"), no_std)]

extern crate alloc;

pub use pallet::*;

#[cfg(feature = "runtime-benchmarks")]
mod benchmarking;
pub mod emission;
mod invariants;
#[cfg(test)]
mod mock;
mod pruning;
pub mod scoring;
mod scoring_impls;
mod settlement_impls;
#[cfg(test)]
mod tests;
pub mod types;
pub mod weights;

pub use types::*;
pub use weights::WeightInfo;

// The pallet macros expand to `expect` on values they construct themselves.
#[allow(clippy::expect_used)]
#[frame_support::pallet]
pub mod pallet {
	use super::*;
	use frame_support::{
		pallet_prelude::*,
		traits::{
			fungible::{Inspect, Mutate},
			UnixTime,
		},
		weights::WeightMeter,
		PalletId,
	};
	use frame_system::pallet_prelude::*;
	use openvpp_primitives::{ClosedEpochs, DeviceId, DeviceRegistry, UnixSeconds};

	pub type BalanceOf<T> =
		<<T as Config>::Currency as Inspect<<T as frame_system::Config>::AccountId>>::Balance;
	pub type ResultOf<T> =
		DeviceEpochResult<<T as frame_system::Config>::AccountId, BalanceOf<T>, BlockNumberFor<T>>;

	#[pallet::pallet]
	pub struct Pallet<T>(_);

	#[pallet::config]
	pub trait Config: frame_system::Config<RuntimeEvent: From<Event<Self>>> {
		/// OVPP: emitted into the pot, paid from it.
		type Currency: Mutate<Self::AccountId>;
		type Registry: DeviceRegistry<Self::AccountId>;
		type UnixTime: UnixTime;
		/// The telemetry pallet: an epoch is paid only once every device's epoch is closed.
		type ClosedEpochs: ClosedEpochs;

		/// The reward pot's account is derived from this id.
		#[pallet::constant]
		type PotId: Get<PalletId>;
		/// Receives the treasury's share of every pool.
		type TreasuryAccount: Get<Self::AccountId>;

		/// Length of a scoring epoch (s): the telemetry pallet's. Not a metadata constant,
		/// since the runtime reads it from storage.
		type EpochLengthS: Get<u64>;
		/// How long after its end an epoch still takes late epoch closes (s). Not a metadata
		/// constant either.
		type CutoffGraceS: Get<u64>;
		/// How the pool is shared between the dimensions (a runtime parameter).
		type DimensionWeights: Get<DimensionWeights>;
		/// The emission schedule and the treasury's share (runtime parameters).
		type EmissionSchedule: Get<EmissionSchedule<BalanceOf<Self>>>;

		/// Epochs whose per-device results are kept after they are settled.
		#[pallet::constant]
		type ResultRetentionEpochs: Get<u32>;
		/// Most weight `on_poll` may use in one block for payouts and pruning.
		#[pallet::constant]
		type MaxPollWeight: Get<Weight>;

		type WeightInfo: WeightInfo;
	}

	/// Each device's result per epoch: scores while the epoch collects them, then the reward
	/// and when it was paid. Kept for [`Config::ResultRetentionEpochs`] settled epochs.
	#[pallet::storage]
	pub type Results<T: Config> =
		StorageDoubleMap<_, Twox64Concat, EpochIndex, Twox64Concat, DeviceId, ResultOf<T>>;

	/// Per epoch: the sums of all scores, the pool and where it went.
	#[pallet::storage]
	pub type Summaries<T: Config> =
		StorageMap<_, Twox64Concat, EpochIndex, EpochSummary<BalanceOf<T>>, ValueQuery>;

	/// The oldest epoch still taking scores; epochs before it are settled or settling. Set at
	/// the first block.
	#[pallet::storage]
	pub type NextToSettle<T: Config> = StorageValue<_, EpochIndex>;

	/// The epoch being paid, if any.
	#[pallet::storage]
	pub type CurrentPayout<T: Config> = StorageValue<_, Payout>;

	/// The oldest epoch whose results have not been pruned.
	#[pallet::storage]
	pub type NextToPrune<T: Config> = StorageValue<_, EpochIndex>;

	/// Where the emission schedule stands; set when the first epoch is settled.
	#[pallet::storage]
	pub type Emission<T: Config> = StorageValue<_, EmissionState<BalanceOf<T>>>;

	/// Demand-response results not yet counted in an epoch.
	#[pallet::storage]
	pub type PendingDemandResponse<T: Config> =
		StorageMap<_, Twox64Concat, DeviceId, DemandResponseCredit>;

	#[pallet::event]
	#[pallet::generate_deposit(pub(super) fn deposit_event)]
	pub enum Event<T: Config> {
		/// A device's epoch was scored.
		DeviceScored { epoch: EpochIndex, device: DeviceId, scores: DimensionScores },
		/// An epoch's cutoff passed: its pool was set and payouts began.
		PayoutStarted {
			epoch: EpochIndex,
			emitted: BalanceOf<T>,
			pool: BalanceOf<T>,
			to_treasury: BalanceOf<T>,
			devices: u32,
		},
		/// A device's owner was paid its reward for an epoch.
		DevicePaid {
			epoch: EpochIndex,
			device: DeviceId,
			owner: T::AccountId,
			amount: BalanceOf<T>,
		},
		/// A reward could not be transferred (the owner's account is gone and the amount is
		/// below the existential deposit); it stays in the pot.
		PaymentFailed { epoch: EpochIndex, device: DeviceId, amount: BalanceOf<T> },
		/// Every device of the epoch was paid.
		EpochSettled { epoch: EpochIndex, paid: BalanceOf<T>, carried: BalanceOf<T>, devices: u32 },
		/// A device's epoch closed after its cutoff: it moved the reputation but was not scored.
		LateEpochIgnored { epoch: EpochIndex, device: DeviceId },
		/// The results of an epoch older than the retention were removed.
		ResultsPruned { epoch: EpochIndex },
	}

	#[pallet::error]
	pub enum Error<T> {
		/// That epoch is not being paid now (still collecting scores, or already settled).
		EpochNotInPayout,
		/// The device has no result for that epoch.
		NoResult,
		/// The device was already paid for that epoch.
		AlreadyPaid,
	}

	#[pallet::hooks]
	impl<T: Config> Hooks<BlockNumberFor<T>> for Pallet<T> {
		fn on_poll(_: BlockNumberFor<T>, weight: &mut WeightMeter) {
			let limit = T::MaxPollWeight::get().min(weight.remaining());
			let mut meter = WeightMeter::with_limit(limit);
			Self::progress_settlement(&mut meter);
			Self::prune_results(&mut meter);
			weight.consume(meter.consumed());
		}

		/// What the block's transactions left: a payout under way goes on, then old results
		/// go. At a million devices `on_poll`'s share alone could not keep up with either.
		fn on_idle(_: BlockNumberFor<T>, remaining: Weight) -> Weight {
			let mut meter = WeightMeter::with_limit(remaining);
			if meter.try_consume(T::DbWeight::get().reads(1)).is_ok()
				&& CurrentPayout::<T>::exists()
			{
				Self::progress_settlement(&mut meter);
			}
			// The epoch being settled and the next one to prune decide whether any is due.
			if meter.try_consume(T::DbWeight::get().reads(2)).is_ok() {
				Self::prune_results(&mut meter);
			}
			meter.consumed()
		}

		fn integrity_test() {
			assert!(T::EpochLengthS::get() > 0, "EpochLengthS must be positive");
			assert!(T::ResultRetentionEpochs::get() > 0, "ResultRetentionEpochs must be positive");
			// Every block must be able to open an epoch, or pay a device and prune one result.
			let step = T::WeightInfo::poll_base().saturating_add(
				T::WeightInfo::open_payout()
					.max(T::WeightInfo::pay_devices(1).saturating_add(T::WeightInfo::prune_one())),
			);
			assert!(
				T::MaxPollWeight::get().all_gte(step),
				"MaxPollWeight cannot fit one step of the payout"
			);
		}

		#[cfg(feature = "try-runtime")]
		fn try_state(_: BlockNumberFor<T>) -> Result<(), sp_runtime::TryRuntimeError> {
			Self::do_try_state()
		}
	}

	#[pallet::call]
	impl<T: Config> Pallet<T> {
		/// Pays one device its reward for the epoch being paid, ahead of the automatic payout.
		///
		/// - Origin: any signed account.
		/// - Effects: transfers the device's reward from the pot to the owner recorded in its
		///   result and marks the result paid; the automatic payout then skips it.
		/// - Events: [`Event::DevicePaid`], or [`Event::PaymentFailed`] if the transfer cannot
		///   be made (the result is marked paid with no reward, the amount stays in the pot).
		/// - Errors: [`Error::EpochNotInPayout`], [`Error::NoResult`], [`Error::AlreadyPaid`].
		#[pallet::call_index(0)]
		#[pallet::weight(T::WeightInfo::pay_device())]
		pub fn pay_device(
			origin: OriginFor<T>,
			epoch: EpochIndex,
			device: DeviceId,
		) -> DispatchResult {
			ensure_signed(origin)?;
			Self::do_pay_device(epoch, device)
		}
	}

	impl<T: Config> Pallet<T> {
		pub(crate) fn now() -> UnixSeconds {
			T::UnixTime::now().as_secs()
		}

		/// The epoch `now` falls in.
		pub(crate) fn epoch_at(now: UnixSeconds) -> EpochIndex {
			now / T::EpochLengthS::get().max(1)
		}

		/// When `epoch` stops taking scores: its end plus the grace period.
		pub fn cutoff_of(epoch: EpochIndex) -> UnixSeconds {
			epoch
				.saturating_add(1)
				.saturating_mul(T::EpochLengthS::get())
				.saturating_add(T::CutoffGraceS::get())
		}

		/// The account holding the reward pot.
		pub fn pot_account() -> T::AccountId {
			use sp_runtime::traits::AccountIdConversion;
			T::PotId::get().into_account_truncating()
		}
	}
}
