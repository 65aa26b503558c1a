//! Benchmarks of every call (frame-benchmarking v2), each in its most expensive case: the
//! longest metadata and comfort limits, an ECDSA attestation key (public-key recovery is the
//! slowest of the three signature checks), active devices whose deactivation or change notifies
//! the other pallets while they hold the most state about the device (see
//! [`Config::LifecycleBenchmarkHelper`]), devices that leave a full site, and
//! `set_site_meter` moving a device from a full site to a site one short of full, with the
//! demand-response schedule the commitment check reads longest.

// Benchmark set-up failing is a bug in the benchmark, and must stop it loudly.
#![allow(clippy::expect_used)]

use alloc::vec;
use codec::Encode;
use frame_benchmarking::v2::*;
use frame_support::{
	traits::{fungible::Mutate, EnsureOrigin, Get},
	BoundedVec,
};
use frame_system::RawOrigin;
use openvpp_primitives::{
	AttestationKey, AttestationSignature, Capability, ComfortLimits, DeviceId, DeviceKind,
	DeviceStatus, DispatchWindow, KeyOwnershipProof, KeyProofPurpose, RegionCode,
	MAX_DISPATCH_WINDOWS, MAX_REGION_CODE_LEN,
};
use sp_core::crypto::KeyTypeId;
use sp_runtime::traits::Bounded;

use crate::{pallet::*, BoundedText, DeviceMetadata};

const KEY_TYPE: KeyTypeId = KeyTypeId(*b"ovpb");

fn funded<T: Config>(name: &'static str, index: u32) -> T::AccountId {
	let who: T::AccountId = account(name, index, 0);
	let amount = crate::BalanceOf::<T>::max_value() / 4u32.into();
	T::Currency::set_balance(&who, amount);
	who
}

fn verifier<T: Config>() -> T::AccountId {
	let who = funded::<T>("verifier", 0);
	Verifiers::<T>::insert(&who, ());
	who
}

fn text<S: Get<u32>>(fill: u8) -> BoundedText<S> {
	BoundedVec::truncate_from(vec![fill; S::get() as usize])
}

fn longest_metadata<T: Config>() -> DeviceMetadata<T::MaxMetadataLen> {
	DeviceMetadata {
		manufacturer: text(b'M'),
		model: text(b'O'),
		serial_number: text(b'S'),
		firmware_version: text(b'F'),
	}
}

fn longest_region() -> RegionCode {
	BoundedVec::truncate_from(vec![b'R'; MAX_REGION_CODE_LEN as usize])
}

fn most_windows() -> ComfortLimits {
	let windows = (0..MAX_DISPATCH_WINDOWS as u16)
		.map(|i| DispatchWindow { start_minute: i * 120, end_minute: i * 120 + 60 })
		.collect::<vec::Vec<_>>();
	ComfortLimits {
		min_reserve_soc_bp: 2_000,
		dispatch_windows: BoundedVec::truncate_from(windows),
	}
}

/// Gives a device the other pallets' most expensive per-device state, so that its deactivation
/// or change pays for taking it out of them or for their copies.
fn make_live<T: Config>(id: DeviceId) {
	use openvpp_primitives::LifecycleHooksBenchmarkHelper;
	let record = Devices::<T>::get(id).expect("the device was just created");
	T::LifecycleBenchmarkHelper::make_worst_case(id, &record.region, record.kind);
}

/// A storage device at the runtime's bounds for its kind.
fn battery<T: Config>() -> Capability {
	use openvpp_primitives::KindCapabilityBounds;
	let bounds = T::CapabilityBounds::bounds(DeviceKind::CommercialBattery);
	let power = bounds.max_rated_power_w.min(bounds.max_charge_w).min(bounds.max_discharge_w);
	Capability {
		rated_power_w: power,
		storage_capacity_wh: Some(bounds.max_storage_capacity_wh),
		max_charge_w: Some(power),
		max_discharge_w: Some(power),
	}
}

/// A fresh ECDSA key (in the benchmark keystore) and its proof of possession for `owner`.
fn key_with_proof<T: Config>(
	owner: &T::AccountId,
	purpose: KeyProofPurpose,
) -> (AttestationKey, AttestationSignature) {
	let public = sp_io::crypto::ecdsa_generate(KEY_TYPE, None);
	let payload = KeyOwnershipProof::new(
		purpose,
		Pallet::<T>::genesis_hash(),
		owner.clone(),
		RegistrationNonces::<T>::get(owner),
	)
	.encode();
	let signature = sp_io::crypto::ecdsa_sign(KEY_TYPE, &public, &payload)
		.expect("the key was just generated in the benchmark keystore");
	(AttestationKey::Ecdsa(public), AttestationSignature::Ecdsa(signature))
}

/// Registers a device for `owner` and brings it to `status`.
fn device<T: Config>(owner: &T::AccountId, status: DeviceStatus) -> DeviceId {
	let gateway = funded::<T>("gateway", 0);
	let (key, proof) = key_with_proof::<T>(owner, KeyProofPurpose::Register);
	let id = NextDeviceId::<T>::get();
	Pallet::<T>::do_register(
		owner.clone(),
		DeviceKind::CommercialBattery,
		battery::<T>(),
		longest_region(),
		longest_metadata::<T>(),
		most_windows(),
		gateway,
		key,
		proof,
	)
	.expect("benchmark device registers");
	let verifier = verifier::<T>();
	match status {
		DeviceStatus::Pending => {}
		DeviceStatus::Active => {
			Pallet::<T>::do_approve(id, verifier).expect("approve");
		}
		DeviceStatus::Suspended => {
			Pallet::<T>::do_approve(id, verifier.clone()).expect("approve");
			Pallet::<T>::do_suspend(id, Some(verifier), text(b'x')).expect("suspend");
		}
		DeviceStatus::Rejected => {
			Pallet::<T>::do_reject(id, verifier, text(b'x')).expect("reject");
		}
	}
	id
}

/// An active smart meter of `owner` in the longest region.
fn meter<T: Config>(owner: &T::AccountId) -> DeviceId {
	use openvpp_primitives::KindCapabilityBounds;
	let gateway = funded::<T>("gateway", 0);
	let (key, proof) = key_with_proof::<T>(owner, KeyProofPurpose::Register);
	let id = NextDeviceId::<T>::get();
	let rated_power_w = T::CapabilityBounds::bounds(DeviceKind::SmartMeter).max_rated_power_w;
	Pallet::<T>::do_register(
		owner.clone(),
		DeviceKind::SmartMeter,
		Capability { rated_power_w, ..Default::default() },
		longest_region(),
		longest_metadata::<T>(),
		ComfortLimits::default(),
		gateway,
		key,
		proof,
	)
	.expect("benchmark meter registers");
	Pallet::<T>::do_approve(id, verifier::<T>()).expect("approve");
	id
}

/// A meter of `owner` with `devices` active batteries behind it.
fn site<T: Config>(owner: &T::AccountId, devices: u32) -> DeviceId {
	let meter = meter::<T>(owner);
	for _ in 0..devices {
		let id = device::<T>(owner, DeviceStatus::Active);
		Pallet::<T>::do_set_site_meter(id, owner.clone(), Some(meter)).expect("room at the site");
	}
	meter
}

/// Puts `id` behind a meter whose site it fills.
fn in_full_site<T: Config>(owner: &T::AccountId, id: DeviceId) {
	let meter = site::<T>(owner, T::MaxDevicesPerSite::get() - 1);
	Pallet::<T>::do_set_site_meter(id, owner.clone(), Some(meter)).expect("room at the site");
}

#[benchmarks]
mod benchmarks {
	use super::*;

	#[benchmark]
	fn register_device() {
		let owner = funded::<T>("owner", 0);
		let gateway = funded::<T>("gateway", 0);
		let (key, proof) = key_with_proof::<T>(&owner, KeyProofPurpose::Register);
		let before = DeviceCount::<T>::get();

		#[extrinsic_call]
		_(
			RawOrigin::Signed(owner.clone()),
			DeviceKind::CommercialBattery,
			battery::<T>(),
			longest_region(),
			longest_metadata::<T>(),
			most_windows(),
			gateway,
			key,
			proof,
		);

		assert_eq!(DeviceCount::<T>::get(), before + 1);
	}

	#[benchmark]
	fn approve_device() {
		let owner = funded::<T>("owner", 0);
		let id = device::<T>(&owner, DeviceStatus::Pending);
		let verifier = verifier::<T>();

		#[extrinsic_call]
		_(RawOrigin::Signed(verifier), id);

		assert_eq!(Devices::<T>::get(id).map(|d| d.status), Some(DeviceStatus::Active));
	}

	#[benchmark]
	fn reject_device() {
		let owner = funded::<T>("owner", 0);
		let id = device::<T>(&owner, DeviceStatus::Pending);
		let verifier = verifier::<T>();

		#[extrinsic_call]
		_(RawOrigin::Signed(verifier), id, text(b'r'));

		assert_eq!(Devices::<T>::get(id).map(|d| d.status), Some(DeviceStatus::Rejected));
	}

	#[benchmark]
	fn suspend_device() {
		let owner = funded::<T>("owner", 0);
		let id = device::<T>(&owner, DeviceStatus::Active);
		make_live::<T>(id);
		let verifier = verifier::<T>();

		#[extrinsic_call]
		_(RawOrigin::Signed(verifier), id, text(b's'));

		assert_eq!(Devices::<T>::get(id).map(|d| d.status), Some(DeviceStatus::Suspended));
	}

	#[benchmark]
	fn reinstate_device() {
		let owner = funded::<T>("owner", 0);
		let id = device::<T>(&owner, DeviceStatus::Suspended);
		make_live::<T>(id);
		let verifier = verifier::<T>();

		#[extrinsic_call]
		_(RawOrigin::Signed(verifier), id);

		assert_eq!(Devices::<T>::get(id).map(|d| d.status), Some(DeviceStatus::Active));
	}

	#[benchmark]
	fn retire_device() {
		let owner = funded::<T>("owner", 0);
		let id = device::<T>(&owner, DeviceStatus::Active);
		make_live::<T>(id);
		in_full_site::<T>(&owner, id);

		#[extrinsic_call]
		_(RawOrigin::Signed(owner), id);

		assert!(Devices::<T>::get(id).is_none());
	}

	#[benchmark]
	fn offer_ownership() {
		let owner = funded::<T>("owner", 0);
		let buyer = funded::<T>("buyer", 0);
		let id = device::<T>(&owner, DeviceStatus::Active);

		#[extrinsic_call]
		_(RawOrigin::Signed(owner), id, buyer.clone());

		assert_eq!(Devices::<T>::get(id).and_then(|d| d.pending_owner), Some(buyer));
	}

	#[benchmark]
	fn cancel_ownership_offer() {
		let owner = funded::<T>("owner", 0);
		let buyer = funded::<T>("buyer", 0);
		let id = device::<T>(&owner, DeviceStatus::Active);
		Pallet::<T>::do_offer_ownership(id, owner.clone(), buyer).expect("offer");

		#[extrinsic_call]
		_(RawOrigin::Signed(owner), id);

		assert_eq!(Devices::<T>::get(id).and_then(|d| d.pending_owner), None);
	}

	#[benchmark]
	fn accept_ownership() {
		let owner = funded::<T>("owner", 0);
		let buyer = funded::<T>("buyer", 0);
		let id = device::<T>(&owner, DeviceStatus::Active);
		make_live::<T>(id);
		in_full_site::<T>(&owner, id);
		Pallet::<T>::do_offer_ownership(id, owner, buyer.clone()).expect("offer");

		#[extrinsic_call]
		_(RawOrigin::Signed(buyer.clone()), id);

		assert_eq!(Devices::<T>::get(id).map(|d| d.owner), Some(buyer));
	}

	#[benchmark]
	fn rebind_gateway() {
		let owner = funded::<T>("owner", 0);
		let new_gateway = funded::<T>("gateway", 1);
		let id = device::<T>(&owner, DeviceStatus::Active);
		make_live::<T>(id);

		#[extrinsic_call]
		_(RawOrigin::Signed(owner), id, new_gateway.clone());

		assert_eq!(Devices::<T>::get(id).map(|d| d.gateway), Some(new_gateway));
	}

	#[benchmark]
	fn rotate_attestation_key() {
		let owner = funded::<T>("owner", 0);
		let id = device::<T>(&owner, DeviceStatus::Active);
		make_live::<T>(id);
		let (key, proof) = key_with_proof::<T>(&owner, KeyProofPurpose::Rotate(id));

		#[extrinsic_call]
		_(RawOrigin::Signed(owner), id, key.clone(), proof);

		assert_eq!(DeviceByAttestationKey::<T>::get(key), Some(id));
	}

	#[benchmark]
	fn update_metadata() {
		let owner = funded::<T>("owner", 0);
		let id = device::<T>(&owner, DeviceStatus::Active);
		let metadata = DeviceMetadata {
			manufacturer: text(b'a'),
			model: text(b'b'),
			serial_number: text(b'c'),
			firmware_version: text(b'd'),
		};

		#[extrinsic_call]
		_(RawOrigin::Signed(owner), id, metadata.clone());

		assert_eq!(Devices::<T>::get(id).map(|d| d.metadata), Some(metadata));
	}

	#[benchmark]
	fn update_comfort_limits() {
		let owner = funded::<T>("owner", 0);
		let id = device::<T>(&owner, DeviceStatus::Active);
		make_live::<T>(id);
		let mut comfort = most_windows();
		comfort.min_reserve_soc_bp = 3_000;

		#[extrinsic_call]
		_(RawOrigin::Signed(owner), id, comfort.clone());

		assert_eq!(Devices::<T>::get(id).map(|d| d.comfort), Some(comfort));
	}

	#[benchmark]
	fn add_verifier() -> Result<(), BenchmarkError> {
		let origin = T::VerifierAdminOrigin::try_successful_origin()
			.map_err(|_| BenchmarkError::Weightless)?;
		let who = funded::<T>("new-verifier", 0);

		#[extrinsic_call]
		_(origin as T::RuntimeOrigin, who.clone());

		assert!(Verifiers::<T>::contains_key(who));
		Ok(())
	}

	#[benchmark]
	fn set_site_meter() {
		let owner = funded::<T>("owner", 0);
		let id = device::<T>(&owner, DeviceStatus::Active);
		make_live::<T>(id);
		in_full_site::<T>(&owner, id);
		let target = site::<T>(&owner, T::MaxDevicesPerSite::get() - 1);

		#[extrinsic_call]
		_(RawOrigin::Signed(owner), id, Some(target));

		assert_eq!(Devices::<T>::get(id).and_then(|d| d.site_meter), Some(target));
	}

	#[benchmark]
	fn remove_verifier() -> Result<(), BenchmarkError> {
		let origin = T::VerifierAdminOrigin::try_successful_origin()
			.map_err(|_| BenchmarkError::Weightless)?;
		let who = verifier::<T>();

		#[extrinsic_call]
		_(origin as T::RuntimeOrigin, who.clone());

		assert!(!Verifiers::<T>::contains_key(who));
		Ok(())
	}

	impl_benchmark_test_suite!(Pallet, crate::mock::new_test_ext(), crate::mock::Test);
}
