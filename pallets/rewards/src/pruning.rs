//! Removing the results of epochs older than the retention, a bounded amount per block.

use frame_support::{traits::Get, weights::WeightMeter};
use openvpp_primitives::{DeviceId, DeviceLifecycleHooks};

use crate::{pallet::*, WeightInfo};

impl<T: Config> Pallet<T> {
	/// Removes results of settled epochs beyond [`Config::ResultRetentionEpochs`], oldest
	/// first, as far as `meter` allows.
	pub(crate) fn prune_results(meter: &mut WeightMeter) {
		let retention = u64::from(T::ResultRetentionEpochs::get());
		// Epochs before this one are settled.
		let Some(settled_before) =
			CurrentPayout::<T>::get().map(|payout| payout.epoch).or_else(NextToSettle::<T>::get)
		else {
			return;
		};
		while let Some(epoch) = NextToPrune::<T>::get() {
			if epoch.saturating_add(retention) >= settled_before {
				return;
			}
			// Each result is removed as the iterator yields it, so the weight is taken first.
			let mut results = Results::<T>::drain_prefix(epoch);
			loop {
				if meter.try_consume(T::WeightInfo::prune_one()).is_err() {
					return;
				}
				if results.next().is_none() {
					break;
				}
			}
			Summaries::<T>::remove(epoch);
			NextToPrune::<T>::put(epoch.saturating_add(1));
			Self::deposit_event(Event::ResultsPruned { epoch });
		}
	}
}

/// A retired device's demand-response results that no epoch took are dropped; its results
/// stay until pruned, so that its owner is still paid.
impl<T: Config> DeviceLifecycleHooks for Pallet<T> {
	fn on_device_deactivated(_: DeviceId) {}

	fn on_device_retired(id: DeviceId) {
		PendingDemandResponse::<T>::remove(id);
	}

	fn on_device_changed(_: DeviceId) {}
}

/// The worst case for the registry's benchmarks: demand-response results waiting to be dropped.
#[cfg(feature = "runtime-benchmarks")]
impl<T: Config> openvpp_primitives::LifecycleHooksBenchmarkHelper for Pallet<T> {
	fn make_worst_case(
		id: DeviceId,
		_: &openvpp_primitives::RegionCode,
		_: openvpp_primitives::DeviceKind,
	) {
		PendingDemandResponse::<T>::insert(
			id,
			crate::types::DemandResponseCredit { delivered_wh: 1_000, committed_wh: 1_000 },
		);
	}
}
