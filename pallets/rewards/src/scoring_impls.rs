//! Scoring as epochs close and demand-response events settle.

use frame_support::traits::Get;
use openvpp_primitives::{
	DeviceId, DeviceRegistry, EpochTelemetry, OnEpochClosed, OnParticipantSettled,
	ReputationReason, WattHours,
};
use sp_runtime::traits::Zero;

use crate::{
	pallet::*,
	scoring::{reputation_delta_bp, reputation_target_bp, score_epoch, DeviceProfile},
	types::{DeviceEpochResult, EpochIndex},
};

impl<T: Config> Pallet<T> {
	/// Whether `epoch` still takes scores: its cutoff has not been reached by the payout.
	pub fn takes_scores(epoch: EpochIndex) -> bool {
		NextToSettle::<T>::get().is_none_or(|next| epoch >= next)
	}
}

impl<T: Config> OnEpochClosed for Pallet<T> {
	fn on_epoch_closed(device: DeviceId, telemetry: &EpochTelemetry) {
		// Suspended, retired and pending devices earn nothing and their record stays put.
		let Ok(info) = T::Registry::active_device(device) else {
			return;
		};
		let epoch_length_s = T::EpochLengthS::get();
		let profile =
			DeviceProfile { kind: info.kind, capability: &info.capability, comfort: &info.comfort };

		let epoch = telemetry.epoch;
		let takes_scores = Self::takes_scores(epoch);
		// Demand-response results wait for an epoch that can still pay them.
		let credit = if takes_scores {
			PendingDemandResponse::<T>::take(device).unwrap_or_default()
		} else {
			Default::default()
		};
		let (quality, scores) = score_epoch(telemetry, &profile, &credit, epoch_length_s);

		let target_bp = reputation_target_bp(telemetry, quality, epoch_length_s);
		let delta_bp = reputation_delta_bp(info.reputation_bp, target_bp);
		if delta_bp != 0 {
			let _ = T::Registry::record_reputation(device, delta_bp, ReputationReason::DataQuality);
		}

		if !takes_scores {
			Self::deposit_event(Event::LateEpochIgnored { epoch, device });
			return;
		}
		if scores.is_zero() {
			return;
		}
		if Results::<T>::contains_key(epoch, device) {
			frame_support::defensive!("a device's epoch was closed twice");
			return;
		}
		Results::<T>::insert(
			epoch,
			device,
			DeviceEpochResult {
				owner: info.owner,
				data_quality: quality,
				scores,
				reward: Zero::zero(),
				paid_at: None,
			},
		);
		Summaries::<T>::mutate(epoch, |summary| summary.totals.add(&scores));
		Self::deposit_event(Event::DeviceScored { epoch, device, scores });
	}
}

impl<T: Config> OnParticipantSettled for Pallet<T> {
	fn on_participant_settled(device: DeviceId, committed_wh: WattHours, delivered_wh: WattHours) {
		PendingDemandResponse::<T>::mutate(device, |credit| {
			let credit = credit.get_or_insert_with(Default::default);
			credit.committed_wh = credit.committed_wh.saturating_add(committed_wh);
			credit.delivered_wh =
				credit.delivered_wh.saturating_add(delivered_wh.min(committed_wh));
		});
	}
}
