//! Helpers shared by the calls, the [`DeviceRegistry`] interface other pallets use, genesis
//! registration and the state invariants.

use frame_support::{
	ensure,
	traits::{EnsureOrigin, Get, UnixTime},
	BoundedVec,
};
use frame_system::pallet_prelude::OriginFor;
use openvpp_primitives::{
	BasisPoints, DeviceId, DeviceInfo, DeviceLookupError, DeviceRegistry, DeviceStatus,
	Participation, ReputationReason, TelemetryTotals, UnixSeconds, FULL_BP,
};
use sp_runtime::{traits::Zero, DispatchError};

use crate::{
	pallet::*, CreditRecord, DeviceHistory, DeviceMetadata, DeviceRecordOf, GenesisDevice,
	ReputationChange,
};

impl<T: Config> Pallet<T> {
	/// Current wall-clock time in Unix seconds; 0 at genesis, before any block has a time.
	pub(crate) fn now() -> UnixSeconds {
		if frame_system::Pallet::<T>::block_number().is_zero() {
			return 0;
		}
		T::UnixTime::now().as_secs()
	}

	/// The hash of this chain's genesis block, which proofs of possession commit to.
	pub fn genesis_hash() -> T::Hash {
		frame_system::Pallet::<T>::block_hash(
			frame_system::pallet_prelude::BlockNumberFor::<T>::zero(),
		)
	}

	/// The caller, if it has the verifier role.
	pub(crate) fn ensure_verifier(origin: OriginFor<T>) -> Result<T::AccountId, DispatchError> {
		let who = frame_system::ensure_signed(origin)?;
		ensure!(Verifiers::<T>::contains_key(&who), Error::<T>::NotVerifier);
		Ok(who)
	}

	/// `Some(verifier)` for a verifier, `None` for the governance origin.
	pub(crate) fn ensure_verifier_or_governance(
		origin: OriginFor<T>,
	) -> Result<Option<T::AccountId>, DispatchError> {
		match T::GovernanceOrigin::try_origin(origin) {
			Ok(_) => Ok(None),
			Err(origin) => Self::ensure_verifier(origin).map(Some),
		}
	}

	/// Counts a device that became active in its region's capacity.
	pub(crate) fn count_active(record: &DeviceRecordOf<T>) {
		RegionCapacities::<T>::mutate(&record.region, record.kind, |capacity| {
			capacity.add(&record.capability)
		});
	}

	/// Removes a device that stopped being active from its region's capacity.
	pub(crate) fn uncount_active(record: &DeviceRecordOf<T>) {
		RegionCapacities::<T>::mutate_exists(&record.region, record.kind, |maybe| {
			if let Some(capacity) = maybe {
				capacity.remove(&record.capability);
				if capacity.active_devices == 0 {
					*maybe = None;
				}
			}
		});
	}

	/// Registers a genesis device as active, holding its deposit from its owner.
	///
	/// Genesis configuration is trusted input checked when the chain spec is built: a device
	/// that breaks the rules stops the build with a message saying which and why.
	#[allow(clippy::expect_used, clippy::panic)]
	pub(crate) fn register_genesis_device(device: &GenesisDevice<T::AccountId>) {
		let region: openvpp_primitives::RegionCode =
			BoundedVec::try_from(device.region.as_bytes().to_vec())
				.expect("genesis device region code is at most 16 bytes");
		if let Err(e) =
			Self::validate_description(device.kind, &device.capability, &region, &device.comfort)
		{
			panic!("genesis device {:?} in {} is invalid: {:?}", device.kind, device.region, e);
		}
		let text = |s: &alloc::string::String| {
			BoundedVec::try_from(s.as_bytes().to_vec())
				.expect("genesis device metadata fits MaxMetadataLen")
		};
		let metadata = DeviceMetadata {
			manufacturer: text(&device.manufacturer),
			model: text(&device.model),
			serial_number: text(&device.serial_number),
			firmware_version: text(&device.firmware_version),
		};
		Self::insert_active_device(
			device.owner.clone(),
			device.gateway.clone(),
			device.kind,
			device.capability,
			region,
			metadata,
			device.comfort.clone(),
			device.attestation_key.clone(),
		)
		.expect("genesis devices have distinct keys and owners who can pay the deposit");
	}

	/// Stores an already-verified device as `Active`: genesis devices and benchmark set-up.
	/// Holds the deposit and updates every index.
	#[allow(clippy::too_many_arguments)]
	pub(crate) fn insert_active_device(
		owner: T::AccountId,
		gateway: T::AccountId,
		kind: openvpp_primitives::DeviceKind,
		capability: openvpp_primitives::Capability,
		region: openvpp_primitives::RegionCode,
		metadata: DeviceMetadata<T::MaxMetadataLen>,
		comfort: openvpp_primitives::ComfortLimits,
		attestation_key: openvpp_primitives::AttestationKey,
	) -> Result<DeviceId, DispatchError> {
		ensure!(
			!DeviceByAttestationKey::<T>::contains_key(&attestation_key),
			Error::<T>::AttestationKeyInUse
		);
		let device_id = NextDeviceId::<T>::get();
		let next_id = device_id.checked_add(1).ok_or(Error::<T>::DeviceIdOverflow)?;
		let deposit = T::DeviceDeposit::get();
		Self::hold_deposit(&owner, deposit)?;
		let now = Self::now();
		let record = DeviceRecordOf::<T> {
			kind,
			owner,
			pending_owner: None,
			gateway,
			attestation_key,
			capability,
			region,
			metadata,
			comfort,
			status: DeviceStatus::Active,
			status_reason: BoundedVec::new(),
			registered_at: now,
			activated_at: Some(now),
			last_seen: None,
			history: DeviceHistory::default(),
			credit: CreditRecord {
				reputation_bp: T::InitialReputationBp::get(),
				recent_changes: BoundedVec::new(),
			},
			deposit,
			site_meter: None,
		};
		Self::count_active(&record);
		DeviceByAttestationKey::<T>::insert(&record.attestation_key, device_id);
		DevicesByOwner::<T>::insert(&record.owner, device_id, ());
		DevicesByGateway::<T>::insert(&record.gateway, device_id, ());
		Devices::<T>::insert(device_id, record);
		NextDeviceId::<T>::put(next_id);
		DeviceCount::<T>::mutate(|count| *count = count.saturating_add(1));
		Ok(device_id)
	}

	/// Checks that every index and counter agrees with the device records, and that each
	/// owner's held deposit equals the deposits of its devices.
	#[cfg(any(feature = "try-runtime", feature = "std", test))]
	pub fn do_try_state() -> Result<(), sp_runtime::TryRuntimeError> {
		use alloc::collections::btree_map::BTreeMap;
		use frame_support::traits::fungible::InspectHold;
		use openvpp_primitives::RegionCode;
		use sp_runtime::Saturating;

		let mut count = 0u32;
		// Accounts that may hold a deposit: every owner, and every account that ever registered
		// or received a device (a deposit left behind after its last device went away would
		// otherwise go unnoticed).
		let mut accounts: alloc::collections::btree_set::BTreeSet<T::AccountId> =
			RegistrationNonces::<T>::iter_keys().collect();
		let mut capacities: BTreeMap<
			(RegionCode, openvpp_primitives::DeviceKind),
			crate::RegionCapacity,
		> = BTreeMap::new();
		let mut deposits: BTreeMap<T::AccountId, crate::BalanceOf<T>> = BTreeMap::new();
		let next_id = NextDeviceId::<T>::get();

		for (device_id, record) in Devices::<T>::iter() {
			count = count.saturating_add(1);
			accounts.insert(record.owner.clone());
			if let Some(offered_to) = &record.pending_owner {
				ensure!(*offered_to != record.owner, "a device is offered to its own owner");
				accounts.insert(offered_to.clone());
			}
			match record.status {
				DeviceStatus::Active => {
					ensure!(
						record.activated_at.is_some(),
						"an active device has no activation time"
					);
					ensure!(
						record.status_reason.is_empty(),
						"an active device has a status reason"
					);
				}
				DeviceStatus::Pending => {
					ensure!(record.status_reason.is_empty(), "a pending device has a status reason")
				}
				DeviceStatus::Rejected | DeviceStatus::Suspended => {}
			}
			ensure!(device_id < next_id, "a device id is not below NextDeviceId");
			ensure!(
				DeviceByAttestationKey::<T>::get(&record.attestation_key) == Some(device_id),
				"attestation key index disagrees with a record"
			);
			ensure!(
				DevicesByOwner::<T>::contains_key(&record.owner, device_id),
				"owner index misses a device"
			);
			ensure!(
				DevicesByGateway::<T>::contains_key(&record.gateway, device_id),
				"gateway index misses a device"
			);
			ensure!(record.credit.reputation_bp <= FULL_BP, "reputation above 100 %");
			if record.status == DeviceStatus::Active {
				capacities
					.entry((record.region.clone(), record.kind))
					.or_default()
					.add(&record.capability);
			}
			let held = deposits.entry(record.owner.clone()).or_default();
			*held = held.saturating_add(record.deposit);
			if let Some(meter) = record.site_meter {
				let meter_record = Devices::<T>::get(meter).ok_or("a site meter does not exist")?;
				ensure!(
					meter_record.kind == openvpp_primitives::DeviceKind::SmartMeter
						&& record.kind != openvpp_primitives::DeviceKind::SmartMeter,
					"a site is not a device behind a smart meter"
				);
				ensure!(
					meter_record.owner == record.owner && meter_record.region == record.region,
					"a device and its site meter differ in owner or region"
				);
				ensure!(
					SiteDevices::<T>::get(meter).contains(&device_id),
					"a site's device list misses a device"
				);
			}
		}
		for (meter, devices) in SiteDevices::<T>::iter() {
			ensure!(!devices.is_empty(), "an empty site is stored");
			for device_id in devices {
				ensure!(
					Devices::<T>::get(device_id).and_then(|record| record.site_meter)
						== Some(meter),
					"a site lists a device that is not behind its meter"
				);
			}
		}

		let entries = |n: usize| u32::try_from(n).unwrap_or(u32::MAX);
		ensure!(count == DeviceCount::<T>::get(), "DeviceCount disagrees with the records");
		ensure!(
			entries(DeviceByAttestationKey::<T>::iter().count()) == count,
			"attestation key index has entries without a device"
		);
		ensure!(
			entries(DevicesByOwner::<T>::iter().count()) == count,
			"owner index has entries without a device"
		);
		ensure!(
			entries(DevicesByGateway::<T>::iter().count()) == count,
			"gateway index has entries without a device"
		);
		let stored: BTreeMap<_, _> =
			RegionCapacities::<T>::iter().map(|(region, kind, c)| ((region, kind), c)).collect();
		ensure!(stored == capacities, "region capacities disagree with the active devices");
		for account in accounts {
			let expected = deposits.get(&account).copied().unwrap_or_default();
			let held = T::Currency::balance_on_hold(&HoldReason::DeviceDeposit.into(), &account);
			ensure!(
				held == expected,
				"an account's held deposit differs from its devices' deposits"
			);
		}
		Ok(())
	}
}

impl<T: Config> DeviceRegistry<T::AccountId> for Pallet<T> {
	fn active_device(id: DeviceId) -> Result<DeviceInfo<T::AccountId>, DeviceLookupError> {
		let record = Devices::<T>::get(id).ok_or(DeviceLookupError::Unknown)?;
		if record.status != DeviceStatus::Active {
			return Err(DeviceLookupError::NotActive(record.status));
		}
		Ok(DeviceInfo {
			kind: record.kind,
			owner: record.owner,
			gateway: record.gateway,
			attestation_key: record.attestation_key,
			capability: record.capability,
			region: record.region,
			comfort: record.comfort,
			reputation_bp: record.credit.reputation_bp,
			counting_since: record.activated_at.unwrap_or(record.registered_at),
			site_meter: record.site_meter,
		})
	}

	fn devices_behind(meter: DeviceId) -> alloc::vec::Vec<DeviceId> {
		SiteDevices::<T>::get(meter).into_inner()
	}

	fn record_telemetry(id: DeviceId, totals: &TelemetryTotals) -> Result<(), DeviceLookupError> {
		Devices::<T>::try_mutate(id, |maybe| {
			let record = maybe.as_mut().ok_or(DeviceLookupError::Unknown)?;
			record.history.add_telemetry(totals);
			if let Some(seen) = totals.last_seen {
				record.last_seen = Some(record.last_seen.map_or(seen, |prev| prev.max(seen)));
			}
			Ok(())
		})
	}

	fn record_participation(id: DeviceId, what: Participation) -> Result<(), DeviceLookupError> {
		Devices::<T>::try_mutate(id, |maybe| {
			let record = maybe.as_mut().ok_or(DeviceLookupError::Unknown)?;
			record.history.add_participation(what);
			Ok(())
		})
	}

	fn record_reputation(
		id: DeviceId,
		delta_bp: i32,
		reason: ReputationReason,
	) -> Result<BasisPoints, DeviceLookupError> {
		let now = Self::now();
		let score_bp = Devices::<T>::try_mutate(id, |maybe| {
			let record = maybe.as_mut().ok_or(DeviceLookupError::Unknown)?;
			let credit = &mut record.credit;
			let score = i32::from(credit.reputation_bp)
				.saturating_add(delta_bp)
				.clamp(0, i32::from(FULL_BP));
			// The clamp above keeps the score within 0..=10_000, which fits a u16.
			credit.reputation_bp = BasisPoints::try_from(score).unwrap_or(FULL_BP);
			let change =
				ReputationChange { at: now, delta_bp, score_bp: credit.reputation_bp, reason };
			if credit.recent_changes.is_full() {
				credit.recent_changes.remove(0);
			}
			// Room was made above, so this cannot fail; if it did, the change is still in the
			// score and in the event.
			let _ = credit.recent_changes.try_push(change);
			Ok(credit.reputation_bp)
		})?;
		Self::deposit_event(Event::ReputationChanged { device_id: id, delta_bp, score_bp, reason });
		Ok(score_bp)
	}
}

#[cfg(feature = "runtime-benchmarks")]
impl<T: Config> openvpp_primitives::DeviceRegistryBenchmarkHelper<T::AccountId> for Pallet<T> {
	#[allow(clippy::expect_used)]
	fn register_active_device(
		owner: T::AccountId,
		gateway: T::AccountId,
		kind: openvpp_primitives::DeviceKind,
		capability: openvpp_primitives::Capability,
		region: openvpp_primitives::RegionCode,
		attestation_key: openvpp_primitives::AttestationKey,
	) -> DeviceId {
		use frame_support::traits::fungible::{Inspect, Mutate};
		use sp_runtime::traits::{Bounded, Saturating};
		if T::Currency::balance(&owner) < T::DeviceDeposit::get().saturating_mul(2u32.into()) {
			T::Currency::set_balance(&owner, crate::BalanceOf::<T>::max_value() / 4u32.into());
		}
		Self::insert_active_device(
			owner,
			gateway,
			kind,
			capability,
			region,
			Default::default(),
			Default::default(),
			attestation_key,
		)
		.expect("benchmark devices have fresh keys and funded owners")
	}
}
