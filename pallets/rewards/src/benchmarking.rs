//! Benchmarks of the rewards pallet, each at its worst case.
//!
//! `poll_base` is a block with nothing to do; `open_payout` opens an epoch that crosses into a
//! new emission year (so it reads the total issuance) and pays the treasury; `pay_devices(n)`
//! pays `n` devices whose owners' accounts do not exist yet and closes the epoch; `prune_one`
//! removes an old epoch's only result and its summary; `pay_device` is the call.

// Benchmark set-up failing is a bug in the benchmark, and must stop it loudly.
#![allow(clippy::expect_used)]

use frame_benchmarking::v2::*;
use frame_support::{
	traits::{
		fungible::{Inspect, Mutate},
		Get,
	},
	weights::WeightMeter,
};
use frame_system::RawOrigin;
use openvpp_primitives::DeviceId;
use sp_runtime::{traits::Zero, Perbill, Saturating};

use crate::{pallet::*, types::*};

// Far enough from zero that a year of epochs lies before it, whatever the epoch length.
const EPOCH: EpochIndex = 100_000_000;

fn scores() -> DimensionScores {
	DimensionScores {
		generation_wh: 1_000,
		storage_wh: 1_000,
		grid_stability_wh: 1_000,
		participation_wh: 1_000,
		online_wh: 1_000,
	}
}

/// Fills the pot with plenty and gives `devices` devices a result in `epoch`, every dimension
/// scored, owners without accounts.
fn scored_epoch<T: Config>(epoch: EpochIndex, devices: u32) {
	let plenty = T::Currency::minimum_balance().saturating_mul(1_000_000u32.into());
	T::Currency::mint_into(&Pallet::<T>::pot_account(), plenty).expect("the pot can be funded");
	let mut summary = EpochSummary::<BalanceOf<T>>::default();
	for device in 0..devices {
		let scores = scores();
		Results::<T>::insert(
			epoch,
			device as DeviceId,
			DeviceEpochResult {
				owner: account("owner", device, 0),
				data_quality: Perbill::one(),
				scores,
				reward: Zero::zero(),
				paid_at: None,
			},
		);
		summary.totals.add(&scores);
	}
	Summaries::<T>::insert(epoch, summary);
}

/// `epoch` scored and its payout opened, nobody paid yet.
fn payout_open<T: Config>(epoch: EpochIndex, devices: u32) {
	scored_epoch::<T>(epoch, devices);
	NextToSettle::<T>::put(epoch);
	Pallet::<T>::open_payout(epoch);
}

#[benchmarks]
mod benchmarks {
	use super::*;

	#[benchmark]
	fn poll_base() {
		// The current epoch's cutoff is far ahead.
		NextToSettle::<T>::put(u64::MAX / T::EpochLengthS::get().max(1) - 1);
		let mut meter = WeightMeter::new();

		#[block]
		{
			Pallet::<T>::progress_settlement(&mut meter);
		}

		assert!(CurrentPayout::<T>::get().is_none());
	}

	#[benchmark]
	fn open_payout() {
		scored_epoch::<T>(EPOCH, 1);
		NextToSettle::<T>::put(EPOCH);
		// The epoch begins a new emission year.
		let per_year = crate::emission::epochs_per_year(T::EpochLengthS::get());
		Emission::<T>::put(EmissionState {
			first_epoch: EPOCH.saturating_sub(per_year),
			year: 0,
			yearly_emission: T::Currency::minimum_balance().saturating_mul(1_000_000u32.into()),
		});

		#[block]
		{
			Pallet::<T>::open_payout(EPOCH);
		}

		assert_eq!(CurrentPayout::<T>::get().map(|p| p.epoch), Some(EPOCH));
		assert_eq!(Emission::<T>::get().map(|e| e.year), Some(1));
	}

	/// A block paying `n` devices and closing the epoch: the fixed part and the part per
	/// device.
	#[benchmark]
	fn pay_devices(n: Linear<0, 100>) {
		payout_open::<T>(EPOCH, n);
		let payout = CurrentPayout::<T>::get().expect("open");
		let mut meter = WeightMeter::new();

		#[block]
		{
			Pallet::<T>::pay_until_done(payout, &mut meter);
		}

		let summary = Summaries::<T>::get(EPOCH);
		assert!(summary.settled);
		assert_eq!(summary.devices_paid, n);
	}

	#[benchmark]
	fn prune_one() {
		payout_open::<T>(EPOCH, 1);
		Pallet::<T>::pay_until_done(
			CurrentPayout::<T>::get().expect("open"),
			&mut WeightMeter::new(),
		);
		// The epoch is past the retention.
		NextToSettle::<T>::put(EPOCH + u64::from(T::ResultRetentionEpochs::get()) + 1);
		let mut meter = WeightMeter::new();

		#[block]
		{
			Pallet::<T>::prune_results(&mut meter);
		}

		assert_eq!(Results::<T>::iter_prefix(EPOCH).count(), 0);
	}

	#[benchmark]
	fn pay_device() {
		payout_open::<T>(EPOCH, 2);
		let caller: T::AccountId = whitelisted_caller();

		#[extrinsic_call]
		_(RawOrigin::Signed(caller), EPOCH, 1);

		assert!(Results::<T>::get(EPOCH, 1).and_then(|r| r.paid_at).is_some());
	}

	impl_benchmark_test_suite!(Pallet, crate::mock::bench_ext(), crate::mock::Test);
}
