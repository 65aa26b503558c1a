//! The logic behind each call.

use frame_support::{
	ensure,
	pallet_prelude::DispatchResult,
	traits::{fungible::MutateHold, tokens::Precision, Get},
	BoundedVec,
};
use openvpp_primitives::{
	is_valid_region_code, AttestationKey, AttestationSignature, Capability, CapabilityError,
	ComfortError, ComfortLimits, DeviceId, DeviceKind, DeviceLifecycleHooks, DeviceStatus,
	KeyOwnershipProof, KeyProofPurpose, KindCapabilityBounds, RegionCode,
};
use sp_runtime::{traits::Zero, DispatchError};

use crate::{pallet::*, BoundedText, CreditRecord, DeviceHistory, DeviceMetadata, DeviceRecordOf};

impl<T: Config> Pallet<T> {
	#[allow(clippy::too_many_arguments)]
	pub(crate) fn do_register(
		owner: T::AccountId,
		kind: DeviceKind,
		capability: Capability,
		region: RegionCode,
		metadata: DeviceMetadata<T::MaxMetadataLen>,
		comfort: ComfortLimits,
		gateway: T::AccountId,
		attestation_key: AttestationKey,
		proof: AttestationSignature,
	) -> DispatchResult {
		Self::validate_description(kind, &capability, &region, &comfort)?;
		ensure!(
			!DeviceByAttestationKey::<T>::contains_key(&attestation_key),
			Error::<T>::AttestationKeyInUse
		);
		Self::check_proof_of_possession(
			&owner,
			KeyProofPurpose::Register,
			&attestation_key,
			&proof,
		)?;

		let device_id = NextDeviceId::<T>::get();
		let next_id = device_id.checked_add(1).ok_or(Error::<T>::DeviceIdOverflow)?;
		let deposit = T::DeviceDeposit::get();
		Self::hold_deposit(&owner, deposit)?;

		let record = DeviceRecordOf::<T> {
			kind,
			owner: owner.clone(),
			pending_owner: None,
			gateway: gateway.clone(),
			attestation_key: attestation_key.clone(),
			capability,
			region: region.clone(),
			metadata,
			comfort,
			status: DeviceStatus::Pending,
			status_reason: BoundedVec::new(),
			registered_at: Self::now(),
			activated_at: None,
			last_seen: None,
			history: DeviceHistory::default(),
			credit: CreditRecord {
				reputation_bp: T::InitialReputationBp::get(),
				recent_changes: BoundedVec::new(),
			},
			deposit,
			site_meter: None,
		};
		Devices::<T>::insert(device_id, record);
		NextDeviceId::<T>::put(next_id);
		DeviceCount::<T>::mutate(|count| *count = count.saturating_add(1));
		DeviceByAttestationKey::<T>::insert(&attestation_key, device_id);
		DevicesByOwner::<T>::insert(&owner, device_id, ());
		DevicesByGateway::<T>::insert(&gateway, device_id, ());
		RegistrationNonces::<T>::mutate(&owner, |nonce| *nonce = nonce.wrapping_add(1));

		Self::deposit_event(Event::DeviceRegistered { device_id, owner, kind, region, deposit });
		Ok(())
	}

	pub(crate) fn do_approve(device_id: DeviceId, verifier: T::AccountId) -> DispatchResult {
		Devices::<T>::try_mutate(device_id, |maybe| {
			let record = maybe.as_mut().ok_or(Error::<T>::UnknownDevice)?;
			ensure!(record.status == DeviceStatus::Pending, Error::<T>::NotPending);
			record.status = DeviceStatus::Active;
			record.activated_at = Some(Self::now());
			Self::count_active(record);
			Ok::<_, DispatchError>(())
		})?;
		Self::deposit_event(Event::DeviceApproved { device_id, verifier });
		Ok(())
	}

	pub(crate) fn do_reject(
		device_id: DeviceId,
		verifier: T::AccountId,
		reason: BoundedText<T::MaxReasonLen>,
	) -> DispatchResult {
		Devices::<T>::try_mutate(device_id, |maybe| {
			let record = maybe.as_mut().ok_or(Error::<T>::UnknownDevice)?;
			ensure!(record.status == DeviceStatus::Pending, Error::<T>::NotPending);
			record.status = DeviceStatus::Rejected;
			record.status_reason = reason.clone();
			Ok::<_, DispatchError>(())
		})?;
		Self::deposit_event(Event::DeviceRejected { device_id, verifier, reason });
		Ok(())
	}

	pub(crate) fn do_suspend(
		device_id: DeviceId,
		by: Option<T::AccountId>,
		reason: BoundedText<T::MaxReasonLen>,
	) -> DispatchResult {
		Devices::<T>::try_mutate(device_id, |maybe| {
			let record = maybe.as_mut().ok_or(Error::<T>::UnknownDevice)?;
			ensure!(record.status == DeviceStatus::Active, Error::<T>::NotActive);
			record.status = DeviceStatus::Suspended;
			record.status_reason = reason.clone();
			Self::uncount_active(record);
			Ok::<_, DispatchError>(())
		})?;
		T::LifecycleHooks::on_device_deactivated(device_id);
		Self::deposit_event(Event::DeviceSuspended { device_id, by, reason });
		Ok(())
	}

	pub(crate) fn do_reinstate(device_id: DeviceId, by: Option<T::AccountId>) -> DispatchResult {
		Devices::<T>::try_mutate(device_id, |maybe| {
			let record = maybe.as_mut().ok_or(Error::<T>::UnknownDevice)?;
			ensure!(record.status == DeviceStatus::Suspended, Error::<T>::NotSuspended);
			record.status = DeviceStatus::Active;
			record.status_reason = BoundedVec::new();
			record.activated_at = Some(Self::now());
			Self::count_active(record);
			Ok::<_, DispatchError>(())
		})?;
		// Its activation time moved: reports before it no longer count.
		T::LifecycleHooks::on_device_changed(device_id);
		Self::deposit_event(Event::DeviceReinstated { device_id, by });
		Ok(())
	}

	pub(crate) fn do_retire(device_id: DeviceId, caller: T::AccountId) -> DispatchResult {
		let record = Devices::<T>::get(device_id).ok_or(Error::<T>::UnknownDevice)?;
		ensure!(record.owner == caller, Error::<T>::NotOwner);
		ensure!(record.status != DeviceStatus::Suspended, Error::<T>::DeviceSuspended);
		Self::ensure_no_site_behind(device_id)?;

		let was_active = record.status == DeviceStatus::Active;
		Self::release_deposit(&record.owner, record.deposit)?;
		// The hooks run while the record still exists, so that what other pallets close for the
		// device (its last scoring epoch) still reaches its history.
		if was_active {
			T::LifecycleHooks::on_device_deactivated(device_id);
		}
		T::LifecycleHooks::on_device_retired(device_id);
		let record = Devices::<T>::take(device_id).unwrap_or(record);
		if was_active {
			Self::uncount_active(&record);
		}
		DeviceCount::<T>::mutate(|count| *count = count.saturating_sub(1));
		DeviceByAttestationKey::<T>::remove(&record.attestation_key);
		DevicesByOwner::<T>::remove(&record.owner, device_id);
		DevicesByGateway::<T>::remove(&record.gateway, device_id);
		if let Some(meter) = record.site_meter {
			Self::leave_site(device_id, meter);
		}

		Self::deposit_event(Event::DeviceRetired {
			device_id,
			owner: record.owner,
			deposit_released: record.deposit,
			history: record.history,
		});
		Ok(())
	}

	pub(crate) fn do_offer_ownership(
		device_id: DeviceId,
		caller: T::AccountId,
		new_owner: T::AccountId,
	) -> DispatchResult {
		Devices::<T>::try_mutate(device_id, |maybe| {
			let record = maybe.as_mut().ok_or(Error::<T>::UnknownDevice)?;
			ensure!(record.owner == caller, Error::<T>::NotOwner);
			ensure!(record.owner != new_owner, Error::<T>::AlreadyOwner);
			ensure!(record.status != DeviceStatus::Suspended, Error::<T>::DeviceSuspended);
			Self::ensure_no_site_behind(device_id)?;
			record.pending_owner = Some(new_owner.clone());
			Ok::<_, DispatchError>(())
		})?;
		Self::deposit_event(Event::OwnershipOffered {
			device_id,
			owner: caller,
			offered_to: new_owner,
		});
		Ok(())
	}

	pub(crate) fn do_cancel_ownership_offer(
		device_id: DeviceId,
		caller: T::AccountId,
	) -> DispatchResult {
		Devices::<T>::try_mutate(device_id, |maybe| {
			let record = maybe.as_mut().ok_or(Error::<T>::UnknownDevice)?;
			ensure!(record.owner == caller, Error::<T>::NotOwner);
			ensure!(record.pending_owner.take().is_some(), Error::<T>::NoOwnershipOffer);
			Ok::<_, DispatchError>(())
		})?;
		Self::deposit_event(Event::OwnershipOfferCancelled { device_id, owner: caller });
		Ok(())
	}

	pub(crate) fn do_accept_ownership(device_id: DeviceId, caller: T::AccountId) -> DispatchResult {
		let mut record = Devices::<T>::get(device_id).ok_or(Error::<T>::UnknownDevice)?;
		let offered_to = record.pending_owner.as_ref().ok_or(Error::<T>::NoOwnershipOffer)?;
		ensure!(*offered_to == caller, Error::<T>::NotOfferedToCaller);
		ensure!(record.status != DeviceStatus::Suspended, Error::<T>::DeviceSuspended);
		// Devices may have been put behind the meter since the offer.
		Self::ensure_no_site_behind(device_id)?;

		// The deposit follows the record: hold it from the new owner first, so that a new owner
		// who cannot pay leaves everything as it was.
		let deposit = record.deposit;
		Self::hold_deposit(&caller, deposit)?;
		Self::release_deposit(&record.owner, deposit)?;

		let previous = core::mem::replace(&mut record.owner, caller.clone());
		record.pending_owner = None;
		if let Some(meter) = record.site_meter.take() {
			Self::leave_site(device_id, meter);
			T::LifecycleHooks::on_device_changed(device_id);
			Self::deposit_event(Event::SiteMeterChanged { device_id, meter: None });
		}
		DevicesByOwner::<T>::remove(&previous, device_id);
		DevicesByOwner::<T>::insert(&caller, device_id, ());
		Devices::<T>::insert(device_id, record);

		Self::deposit_event(Event::OwnershipTransferred { device_id, from: previous, to: caller });
		Ok(())
	}

	pub(crate) fn do_rebind_gateway(
		device_id: DeviceId,
		caller: T::AccountId,
		new_gateway: T::AccountId,
	) -> DispatchResult {
		let old_gateway = Devices::<T>::try_mutate(device_id, |maybe| {
			let record = maybe.as_mut().ok_or(Error::<T>::UnknownDevice)?;
			ensure!(record.owner == caller, Error::<T>::NotOwner);
			ensure!(record.gateway != new_gateway, Error::<T>::Unchanged);
			Ok::<_, DispatchError>(core::mem::replace(&mut record.gateway, new_gateway.clone()))
		})?;
		DevicesByGateway::<T>::remove(&old_gateway, device_id);
		DevicesByGateway::<T>::insert(&new_gateway, device_id, ());
		T::LifecycleHooks::on_device_changed(device_id);
		Self::deposit_event(Event::GatewayRebound { device_id, old_gateway, new_gateway });
		Ok(())
	}

	pub(crate) fn do_rotate_key(
		device_id: DeviceId,
		caller: T::AccountId,
		new_key: AttestationKey,
		proof: AttestationSignature,
	) -> DispatchResult {
		let mut record = Devices::<T>::get(device_id).ok_or(Error::<T>::UnknownDevice)?;
		ensure!(record.owner == caller, Error::<T>::NotOwner);
		ensure!(
			!DeviceByAttestationKey::<T>::contains_key(&new_key),
			Error::<T>::AttestationKeyInUse
		);
		Self::check_proof_of_possession(
			&caller,
			KeyProofPurpose::Rotate(device_id),
			&new_key,
			&proof,
		)?;

		let old_key = core::mem::replace(&mut record.attestation_key, new_key.clone());
		DeviceByAttestationKey::<T>::remove(&old_key);
		DeviceByAttestationKey::<T>::insert(&new_key, device_id);
		Devices::<T>::insert(device_id, record);
		RegistrationNonces::<T>::mutate(&caller, |nonce| *nonce = nonce.wrapping_add(1));
		T::LifecycleHooks::on_device_changed(device_id);

		Self::deposit_event(Event::AttestationKeyRotated { device_id, new_key });
		Ok(())
	}

	pub(crate) fn do_update_metadata(
		device_id: DeviceId,
		caller: T::AccountId,
		metadata: DeviceMetadata<T::MaxMetadataLen>,
	) -> DispatchResult {
		Devices::<T>::try_mutate(device_id, |maybe| {
			let record = maybe.as_mut().ok_or(Error::<T>::UnknownDevice)?;
			ensure!(record.owner == caller, Error::<T>::NotOwner);
			record.metadata = metadata;
			Ok::<_, DispatchError>(())
		})?;
		Self::deposit_event(Event::MetadataUpdated { device_id });
		Ok(())
	}

	pub(crate) fn do_update_comfort(
		device_id: DeviceId,
		caller: T::AccountId,
		comfort: ComfortLimits,
	) -> DispatchResult {
		Devices::<T>::try_mutate(device_id, |maybe| {
			let record = maybe.as_mut().ok_or(Error::<T>::UnknownDevice)?;
			ensure!(record.owner == caller, Error::<T>::NotOwner);
			Self::validate_comfort(record.kind, &comfort)?;
			record.comfort = comfort.clone();
			Ok::<_, DispatchError>(())
		})?;
		T::LifecycleHooks::on_device_changed(device_id);
		Self::deposit_event(Event::ComfortLimitsUpdated { device_id, comfort });
		Ok(())
	}

	/// Checks a device description against the rules of its kind and the runtime's bounds.
	pub(crate) fn validate_description(
		kind: DeviceKind,
		capability: &Capability,
		region: &RegionCode,
		comfort: &ComfortLimits,
	) -> DispatchResult {
		capability.validate(kind, &T::CapabilityBounds::bounds(kind)).map_err(|e| match e {
			CapabilityError::ZeroRating | CapabilityError::Missing => Error::<T>::CapabilityMissing,
			CapabilityError::NotApplicable => Error::<T>::CapabilityNotApplicable,
			CapabilityError::OutOfBounds => Error::<T>::CapabilityOutOfBounds,
		})?;
		ensure!(is_valid_region_code(region), Error::<T>::InvalidRegion);
		Self::validate_comfort(kind, comfort)
	}

	fn validate_comfort(kind: DeviceKind, comfort: &ComfortLimits) -> DispatchResult {
		comfort.validate(kind).map_err(|e| match e {
			ComfortError::Invalid => Error::<T>::InvalidComfortLimits,
			ComfortError::NotApplicable => Error::<T>::ComfortLimitsNotApplicable,
		})?;
		Ok(())
	}

	/// Verifies that `key` signed the proof of possession for `purpose`, this chain, `owner`
	/// and the owner's current nonce.
	fn check_proof_of_possession(
		owner: &T::AccountId,
		purpose: KeyProofPurpose,
		key: &AttestationKey,
		proof: &AttestationSignature,
	) -> DispatchResult {
		let payload = KeyOwnershipProof::new(
			purpose,
			Self::genesis_hash(),
			owner.clone(),
			RegistrationNonces::<T>::get(owner),
		);
		let message = codec::Encode::encode(&payload);
		ensure!(key.verify(&message, proof), Error::<T>::InvalidProofOfPossession);
		Ok(())
	}

	pub(crate) fn hold_deposit(who: &T::AccountId, amount: crate::BalanceOf<T>) -> DispatchResult {
		if amount.is_zero() {
			return Ok(());
		}
		T::Currency::hold(&HoldReason::DeviceDeposit.into(), who, amount)
			.map_err(|_| Error::<T>::InsufficientBalance.into())
	}

	fn release_deposit(who: &T::AccountId, amount: crate::BalanceOf<T>) -> DispatchResult {
		if amount.is_zero() {
			return Ok(());
		}
		T::Currency::release(&HoldReason::DeviceDeposit.into(), who, amount, Precision::Exact)?;
		Ok(())
	}
}
