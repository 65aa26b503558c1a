//! # Device registry
//!
//! Every energy device in OpenVPP — an EV, a charger, a home or C&I battery, rooftop solar, a
//! smart meter, an energy management system — has one on-chain identity here: its kind, owner,
//! capability, grid region, the key its readings are signed with, the gateway allowed to submit
//! them, the owner's comfort limits for dispatch, and its history and credit record.
//!
//! ## Lifecycle
//!
//! ```text
//!   register_device ──► Pending ──approve_device──► Active ◄──reinstate_device── Suspended
//!   (owner, proof of       │                         │  └────suspend_device──────►   │
//!    possession, deposit)  └──reject_device──► Rejected                              │
//!                                                │                                   │
//!   retire_device (owner) from Pending, Active or Rejected: record removed,          │
//!   deposit released. A Suspended device cannot be retired until reinstated. ◄───────┘
//! ```
//!
//! Only `Active` devices count anywhere downstream: other pallets reach the registry through
//! [`openvpp_primitives::DeviceRegistry`], which answers for active devices only, and hear of
//! deactivations through [`Config::LifecycleHooks`].
//!
//! ## Proof of possession
//!
//! Registering a device (or rotating its key) requires a signature by the device's attestation
//! key over [`openvpp_primitives::KeyOwnershipProof`]: a domain tag, the purpose, this chain's
//! genesis hash, the owner and the owner's current [`RegistrationNonces`] value. Nobody can
//! bind a key they do not hold, a proof made for another chain or owner never verifies, and the
//! nonce makes each proof single-use. A key belongs to at most one device.
//!
//! ## Deposit
//!
//! Each record holds [`Config::DeviceDeposit`] from its owner (a fungible hold with reason
//! [`HoldReason::DeviceDeposit`]); the amount is stored in the record so that exactly that
//! amount is released on retirement, and it moves with the device when ownership changes.
//!
//! ## Indexes
//!
//! [`DevicesByOwner`] and [`DevicesByGateway`] list devices per account (iterate them with a
//! prefix, or page through the view functions); [`RegionCapacities`] counts active devices and
//! their rated power and storage per region and kind. Every call updates them in constant work.
//!
//! ## Sites
//!
//! A smart meter at a grid connection measures the sum of the devices behind it. The owner
//! declares which of its devices sit behind which of its meters ([`Pallet::set_site_meter`]);
//! [`SiteDevices`] lists them per meter (at most [`Config::MaxDevicesPerSite`]). Downstream, the
//! energy status map counts a site's grid exchange once, at the meter, and demand response never
//! lets a meter and a device behind it serve at the same time (it would pay the same energy
//! twice). A device leaves its site when it is retired or changes hands; a meter with devices
//! behind it can be neither until they are taken out.

#![cfg_attr(not(feature = "std"), no_std)]

extern crate alloc;

pub use pallet::*;

#[cfg(feature = "runtime-benchmarks")]
mod benchmarking;
mod dispatchable_impls;
#[cfg(test)]
mod mock;
mod registry_impls;
mod site_impls;
#[cfg(test)]
mod tests;
pub mod types;
pub mod weights;

pub use types::*;
pub use weights::WeightInfo;

/// Most device ids one page of an index view returns.
pub const MAX_PAGE_SIZE: u32 = 1_000;

// The pallet macros expand to `expect` calls on values they construct themselves (metadata,
// storage prefixes); the lint is kept for the hand-written logic in the other modules.
// `register_device` takes the whole description of a device as separate arguments, so that
// wallets show each field on its own.
#[allow(clippy::expect_used, clippy::too_many_arguments)]
#[frame_support::pallet]
pub mod pallet {
	use super::*;
	use alloc::vec::Vec;
	use frame_support::{
		pallet_prelude::*,
		traits::{
			fungible::{Inspect, Mutate, MutateHold},
			UnixTime,
		},
	};
	use frame_system::pallet_prelude::*;
	use openvpp_primitives::{
		AttestationKey, AttestationSignature, Capability, CapabilityBounds, ComfortLimits,
		DeviceCommitments, DeviceId, DeviceKind, DeviceLifecycleHooks, KindCapabilityBounds,
		RegionCode,
	};

	/// The in-code storage version.
	const STORAGE_VERSION: StorageVersion = StorageVersion::new(1);

	#[pallet::pallet]
	#[pallet::storage_version(STORAGE_VERSION)]
	pub struct Pallet<T>(_);

	#[pallet::config]
	pub trait Config: frame_system::Config<RuntimeEvent: From<Event<Self>>> {
		/// The currency deposits are held in (OVPP).
		type Currency: Inspect<Self::AccountId>
			+ Mutate<Self::AccountId>
			+ MutateHold<Self::AccountId, Reason = Self::RuntimeHoldReason>;

		/// The runtime's hold reasons, of which this pallet's are part.
		type RuntimeHoldReason: From<HoldReason>;

		/// The deposit held for each device record.
		#[pallet::constant]
		type DeviceDeposit: Get<BalanceOf<Self>>;

		/// Upper bounds on the capability of each device kind.
		type CapabilityBounds: KindCapabilityBounds;

		/// Grants and removes the verifier role (root at first, governance later).
		type VerifierAdminOrigin: EnsureOrigin<Self::RuntimeOrigin>;

		/// May suspend and reinstate devices besides verifiers.
		type GovernanceOrigin: EnsureOrigin<Self::RuntimeOrigin>;

		/// Wall-clock time, for the record's timestamps.
		type UnixTime: UnixTime;

		/// Told when a device stops counting, so that other pallets drop it.
		type LifecycleHooks: DeviceLifecycleHooks;

		/// Asked before a device is put behind a site meter: a device committed to a
		/// demand-response event stays where it is until the event ends.
		type Commitments: DeviceCommitments;

		/// Gives devices the per-device state [`Config::LifecycleHooks`] find most expensive to
		/// remove, for the benchmarks of the calls that deactivate devices.
		#[cfg(feature = "runtime-benchmarks")]
		type LifecycleBenchmarkHelper: openvpp_primitives::LifecycleHooksBenchmarkHelper;

		/// Longest metadata field (manufacturer, model, serial, firmware), in bytes.
		#[pallet::constant]
		type MaxMetadataLen: Get<u32>;

		/// Longest rejection or suspension reason, in bytes.
		#[pallet::constant]
		type MaxReasonLen: Get<u32>;

		/// Reputation of a newly registered device (bp, at most 10 000).
		#[pallet::constant]
		type InitialReputationBp: Get<u16>;

		/// How many recent reputation changes a credit record keeps.
		#[pallet::constant]
		type ReputationHistoryLen: Get<u32>;

		/// Devices that may sit behind one site meter, at most.
		#[pallet::constant]
		type MaxDevicesPerSite: Get<u32>;

		/// Weights of this pallet's calls.
		type WeightInfo: WeightInfo;
	}

	/// Why this pallet holds funds.
	#[pallet::composite_enum]
	pub enum HoldReason {
		/// The deposit for a device record.
		DeviceDeposit,
	}

	/// The registered devices, by id. Retired devices are removed.
	#[pallet::storage]
	pub type Devices<T: Config> = StorageMap<_, Twox64Concat, DeviceId, DeviceRecordOf<T>>;

	/// The id the next registered device gets.
	#[pallet::storage]
	pub type NextDeviceId<T: Config> = StorageValue<_, DeviceId, ValueQuery, ConstU32<1>>;

	/// Number of registered devices, whatever their status.
	#[pallet::storage]
	pub type DeviceCount<T: Config> = StorageValue<_, u32, ValueQuery>;

	/// Which device each attestation key belongs to.
	#[pallet::storage]
	pub type DeviceByAttestationKey<T: Config> =
		StorageMap<_, Blake2_128Concat, AttestationKey, DeviceId>;

	/// The devices of each owner.
	#[pallet::storage]
	pub type DevicesByOwner<T: Config> = StorageDoubleMap<
		_,
		Blake2_128Concat,
		T::AccountId,
		Twox64Concat,
		DeviceId,
		(),
		OptionQuery,
	>;

	/// The devices each gateway submits readings for.
	#[pallet::storage]
	pub type DevicesByGateway<T: Config> = StorageDoubleMap<
		_,
		Blake2_128Concat,
		T::AccountId,
		Twox64Concat,
		DeviceId,
		(),
		OptionQuery,
	>;

	/// Active devices with their rated power and storage, per region and kind.
	#[pallet::storage]
	pub type RegionCapacities<T: Config> = StorageDoubleMap<
		_,
		Blake2_128Concat,
		RegionCode,
		Twox64Concat,
		DeviceKind,
		RegionCapacity,
		ValueQuery,
	>;

	/// The devices behind each site meter, in the order they were declared.
	#[pallet::storage]
	pub type SiteDevices<T: Config> = StorageMap<
		_,
		Twox64Concat,
		DeviceId,
		BoundedVec<DeviceId, T::MaxDevicesPerSite>,
		ValueQuery,
	>;

	/// Accounts with the verifier role: they approve, reject, suspend and reinstate devices.
	#[pallet::storage]
	pub type Verifiers<T: Config> = StorageMap<_, Blake2_128Concat, T::AccountId, (), OptionQuery>;

	/// Per owner, the nonce the next proof of possession must carry.
	#[pallet::storage]
	pub type RegistrationNonces<T: Config> =
		StorageMap<_, Blake2_128Concat, T::AccountId, u32, ValueQuery>;

	#[pallet::event]
	#[pallet::generate_deposit(pub(super) fn deposit_event)]
	pub enum Event<T: Config> {
		/// A device was registered and awaits verification.
		DeviceRegistered {
			device_id: DeviceId,
			owner: T::AccountId,
			kind: DeviceKind,
			region: RegionCode,
			deposit: BalanceOf<T>,
		},
		/// A verifier approved a pending device: it is active.
		DeviceApproved { device_id: DeviceId, verifier: T::AccountId },
		/// A verifier rejected a pending device.
		DeviceRejected {
			device_id: DeviceId,
			verifier: T::AccountId,
			reason: BoundedText<T::MaxReasonLen>,
		},
		/// An active device was suspended; `by` is the verifier, or `None` for governance.
		DeviceSuspended {
			device_id: DeviceId,
			by: Option<T::AccountId>,
			reason: BoundedText<T::MaxReasonLen>,
		},
		/// A suspended device is active again; `by` is the verifier, or `None` for governance.
		DeviceReinstated { device_id: DeviceId, by: Option<T::AccountId> },
		/// The owner retired a device: its record is gone and its deposit released.
		DeviceRetired {
			device_id: DeviceId,
			owner: T::AccountId,
			deposit_released: BalanceOf<T>,
			history: DeviceHistory,
		},
		/// The owner offered the device to another account.
		OwnershipOffered { device_id: DeviceId, owner: T::AccountId, offered_to: T::AccountId },
		/// The owner withdrew an ownership offer.
		OwnershipOfferCancelled { device_id: DeviceId, owner: T::AccountId },
		/// The offered account accepted: it owns the device and holds its deposit.
		OwnershipTransferred { device_id: DeviceId, from: T::AccountId, to: T::AccountId },
		/// The device's readings now come from another gateway.
		GatewayRebound { device_id: DeviceId, old_gateway: T::AccountId, new_gateway: T::AccountId },
		/// The device signs its readings with a new key.
		AttestationKeyRotated { device_id: DeviceId, new_key: AttestationKey },
		/// The device's metadata changed.
		MetadataUpdated { device_id: DeviceId },
		/// The owner changed the device's comfort limits.
		ComfortLimitsUpdated { device_id: DeviceId, comfort: ComfortLimits },
		/// An account received the verifier role.
		VerifierAdded { verifier: T::AccountId },
		/// An account lost the verifier role.
		VerifierRemoved { verifier: T::AccountId },
		/// The device now sits behind `meter` (`None`: behind no meter).
		SiteMeterChanged { device_id: DeviceId, meter: Option<DeviceId> },
		/// A device's reputation changed.
		ReputationChanged {
			device_id: DeviceId,
			delta_bp: i32,
			score_bp: u16,
			reason: openvpp_primitives::ReputationReason,
		},
	}

	#[pallet::error]
	pub enum Error<T> {
		/// No device has this id (never registered, or retired).
		UnknownDevice,
		/// Only the device's owner may do this.
		NotOwner,
		/// Only an account with the verifier role may do this.
		NotVerifier,
		/// The device is not pending verification.
		NotPending,
		/// The device is not active.
		NotActive,
		/// The device is not suspended.
		NotSuspended,
		/// A suspended device cannot be retired or transferred.
		DeviceSuspended,
		/// The rated power is zero, or a field the kind requires is missing or zero.
		CapabilityMissing,
		/// A capability field was given that the kind does not have.
		CapabilityNotApplicable,
		/// A capability value exceeds the bound for its kind or the device's rated power.
		CapabilityOutOfBounds,
		/// The region code is empty, too long or not made of `A–Z`, `0–9` and `-`.
		InvalidRegion,
		/// A reserve above 100 % or a malformed dispatch window.
		InvalidComfortLimits,
		/// A reserve for a kind without storage, or windows for a kind never dispatched.
		ComfortLimitsNotApplicable,
		/// The proof of possession does not verify for this key, chain, owner and nonce.
		InvalidProofOfPossession,
		/// The attestation key already belongs to a device.
		AttestationKeyInUse,
		/// The device has no pending ownership offer.
		NoOwnershipOffer,
		/// The ownership offer is for another account.
		NotOfferedToCaller,
		/// The device already belongs to this account.
		AlreadyOwner,
		/// The account already has the verifier role.
		AlreadyVerifier,
		/// The account does not have the verifier role.
		NotAVerifier,
		/// The new value equals the current one.
		Unchanged,
		/// Device ids are exhausted.
		DeviceIdOverflow,
		/// The deposit could not be held: the account's free balance is too low.
		InsufficientBalance,
		/// A site's meter must be a smart meter.
		NotAMeter,
		/// A smart meter measures a site; it cannot sit behind another one.
		MeterCannotBeBehindMeter,
		/// The device and its site meter must be in the same region.
		SiteRegionMismatch,
		/// The meter has `MaxDevicesPerSite` devices behind it already.
		SiteFull,
		/// The device is committed to a demand-response event that has not ended.
		DeviceCommitted,
		/// Devices still sit behind this meter; take them out of its site first.
		SiteNotEmpty,
	}

	#[pallet::genesis_config]
	#[derive(frame_support::DefaultNoBound)]
	pub struct GenesisConfig<T: Config> {
		/// Accounts with the verifier role from the start.
		pub verifiers: Vec<T::AccountId>,
		/// Devices registered and active from the start (no proof of possession is checked;
		/// their deposits are held from their owners).
		pub devices: Vec<GenesisDevice<T::AccountId>>,
	}

	#[pallet::genesis_build]
	impl<T: Config> BuildGenesisConfig for GenesisConfig<T> {
		fn build(&self) {
			for verifier in &self.verifiers {
				Verifiers::<T>::insert(verifier, ());
			}
			for device in &self.devices {
				Pallet::<T>::register_genesis_device(device);
			}
			// Sites once every device exists, so that a meter may come after its devices.
			let first = NextDeviceId::<T>::get().saturating_sub(self.devices.len() as DeviceId);
			for (index, device) in self.devices.iter().enumerate() {
				if let Some(meter) = device.site_meter {
					Pallet::<T>::set_genesis_site(first.saturating_add(index as DeviceId), meter);
				}
			}
		}
	}

	#[pallet::hooks]
	impl<T: Config> Hooks<BlockNumberFor<T>> for Pallet<T> {
		fn integrity_test() {
			assert!(
				T::InitialReputationBp::get() <= openvpp_primitives::FULL_BP,
				"InitialReputationBp must be at most 10 000 bp"
			);
			assert!(T::ReputationHistoryLen::get() > 0, "ReputationHistoryLen must be positive");
			assert!(T::MaxMetadataLen::get() > 0, "MaxMetadataLen must be positive");
			assert!(T::MaxReasonLen::get() > 0, "MaxReasonLen must be positive");
			assert!(T::MaxDevicesPerSite::get() > 0, "MaxDevicesPerSite must be positive");
			// A zero bound for a field a kind requires would make the kind unregistrable.
			for kind in DeviceKind::ALL {
				let bounds = T::CapabilityBounds::bounds(kind);
				let rules = kind.capability_rules();
				let required = openvpp_primitives::FieldRule::Required;
				assert!(
					bounds.max_rated_power_w > 0,
					"every kind needs a positive rated-power bound"
				);
				assert!(
					rules.storage_capacity_wh != required || bounds.max_storage_capacity_wh > 0,
					"a kind that stores energy needs a positive storage bound"
				);
				assert!(
					rules.max_charge_w != required || bounds.max_charge_w > 0,
					"a kind that charges needs a positive charge-power bound"
				);
				assert!(
					rules.max_discharge_w != required || bounds.max_discharge_w > 0,
					"a kind that discharges needs a positive discharge-power bound"
				);
			}
		}

		#[cfg(feature = "try-runtime")]
		fn try_state(_: BlockNumberFor<T>) -> Result<(), sp_runtime::TryRuntimeError> {
			Self::do_try_state()
		}
	}

	#[pallet::extra_constants]
	impl<T: Config> Pallet<T> {
		/// The capability bounds of every device kind.
		pub fn capability_bounds() -> Vec<(DeviceKind, CapabilityBounds)> {
			DeviceKind::ALL.iter().map(|kind| (*kind, T::CapabilityBounds::bounds(*kind))).collect()
		}
	}

	#[pallet::view_functions]
	impl<T: Config> Pallet<T> {
		/// A page of the devices of `owner`: at most `limit` ids (capped at
		/// [`MAX_PAGE_SIZE`]), in storage order. Pass the last id of a page as `start_after` to
		/// get the next one.
		pub fn devices_of_owner(
			owner: T::AccountId,
			start_after: Option<DeviceId>,
			limit: u32,
		) -> Vec<DeviceId> {
			let limit = limit.min(MAX_PAGE_SIZE) as usize;
			match start_after {
				None => DevicesByOwner::<T>::iter_key_prefix(&owner).take(limit).collect(),
				Some(last) => {
					let from = DevicesByOwner::<T>::hashed_key_for(&owner, last);
					DevicesByOwner::<T>::iter_key_prefix_from(&owner, from).take(limit).collect()
				}
			}
		}

		/// A page of the devices whose readings `gateway` submits: at most `limit` ids (capped
		/// at [`MAX_PAGE_SIZE`]), in storage order. Pass the last id of a page as
		/// `start_after` to get the next one.
		pub fn devices_of_gateway(
			gateway: T::AccountId,
			start_after: Option<DeviceId>,
			limit: u32,
		) -> Vec<DeviceId> {
			let limit = limit.min(MAX_PAGE_SIZE) as usize;
			match start_after {
				None => DevicesByGateway::<T>::iter_key_prefix(&gateway).take(limit).collect(),
				Some(last) => {
					let from = DevicesByGateway::<T>::hashed_key_for(&gateway, last);
					DevicesByGateway::<T>::iter_key_prefix_from(&gateway, from)
						.take(limit)
						.collect()
				}
			}
		}
	}

	#[pallet::call]
	impl<T: Config> Pallet<T> {
		/// Register a device; it starts `Pending` until a verifier approves it.
		///
		/// - Origin: signed by the future owner.
		/// - `attestation_key` must sign [`openvpp_primitives::KeyOwnershipProof`] with purpose
		///   `Register`, this chain's genesis hash, the caller and the caller's current
		///   [`RegistrationNonces`] value; the signature is `proof`.
		/// - Effects: holds [`Config::DeviceDeposit`] from the caller, stores the record with a
		///   new id, indexes it by owner, gateway and key, bumps the caller's nonce.
		/// - Emits [`Event::DeviceRegistered`].
		/// - Errors: `BadOrigin` (unsigned), `CapabilityMissing`, `CapabilityNotApplicable`, `CapabilityOutOfBounds`,
		///   `InvalidRegion`, `InvalidComfortLimits`, `ComfortLimitsNotApplicable`,
		///   `InvalidProofOfPossession`, `AttestationKeyInUse`, `InsufficientBalance`,
		///   `DeviceIdOverflow`.
		#[pallet::call_index(0)]
		#[pallet::weight(T::WeightInfo::register_device())]
		pub fn register_device(
			origin: OriginFor<T>,
			kind: DeviceKind,
			capability: Capability,
			region: RegionCode,
			metadata: DeviceMetadata<T::MaxMetadataLen>,
			comfort: ComfortLimits,
			gateway: T::AccountId,
			attestation_key: AttestationKey,
			proof: AttestationSignature,
		) -> DispatchResult {
			let owner = ensure_signed(origin)?;
			Self::do_register(
				owner,
				kind,
				capability,
				region,
				metadata,
				comfort,
				gateway,
				attestation_key,
				proof,
			)
		}

		/// Approve a pending device after checking its installation: it becomes `Active`.
		///
		/// - Origin: signed by a verifier.
		/// - Effects: status `Active`, `activated_at` set, region capacity counts it.
		/// - Emits [`Event::DeviceApproved`].
		/// - Errors: `NotVerifier`, `UnknownDevice`, `NotPending`.
		#[pallet::call_index(1)]
		#[pallet::weight(T::WeightInfo::approve_device())]
		pub fn approve_device(origin: OriginFor<T>, device_id: DeviceId) -> DispatchResult {
			let verifier = Self::ensure_verifier(origin)?;
			Self::do_approve(device_id, verifier)
		}

		/// Reject a pending device, giving a reason.
		///
		/// - Origin: signed by a verifier.
		/// - Effects: status `Rejected` with the reason; the owner may retire it.
		/// - Emits [`Event::DeviceRejected`].
		/// - Errors: `NotVerifier`, `UnknownDevice`, `NotPending`.
		#[pallet::call_index(2)]
		#[pallet::weight(T::WeightInfo::reject_device())]
		pub fn reject_device(
			origin: OriginFor<T>,
			device_id: DeviceId,
			reason: BoundedText<T::MaxReasonLen>,
		) -> DispatchResult {
			let verifier = Self::ensure_verifier(origin)?;
			Self::do_reject(device_id, verifier, reason)
		}

		/// Suspend an active device (fraud, failed audit), giving a reason.
		///
		/// - Origin: a verifier, or [`Config::GovernanceOrigin`].
		/// - Effects: status `Suspended` with the reason; region capacity no longer counts it;
		///   other pallets drop it from live figures.
		/// - Emits [`Event::DeviceSuspended`].
		/// - Errors: `NotVerifier` (neither a verifier nor governance), `UnknownDevice`,
		///   `NotActive`.
		#[pallet::call_index(3)]
		#[pallet::weight(T::WeightInfo::suspend_device())]
		pub fn suspend_device(
			origin: OriginFor<T>,
			device_id: DeviceId,
			reason: BoundedText<T::MaxReasonLen>,
		) -> DispatchResult {
			let by = Self::ensure_verifier_or_governance(origin)?;
			Self::do_suspend(device_id, by, reason)
		}

		/// Return a suspended device to service.
		///
		/// - Origin: a verifier, or [`Config::GovernanceOrigin`].
		/// - Effects: status `Active`, reason cleared, region capacity counts it again.
		/// - Emits [`Event::DeviceReinstated`].
		/// - Errors: `NotVerifier`, `UnknownDevice`, `NotSuspended`.
		#[pallet::call_index(4)]
		#[pallet::weight(T::WeightInfo::reinstate_device())]
		pub fn reinstate_device(origin: OriginFor<T>, device_id: DeviceId) -> DispatchResult {
			let by = Self::ensure_verifier_or_governance(origin)?;
			Self::do_reinstate(device_id, by)
		}

		/// Retire a device: remove its record and release its deposit.
		///
		/// - Origin: signed by the owner.
		/// - Effects: record and index entries removed, the key freed, the deposit released, the
		///   device taken out of its site; other pallets drop the device. The id is never
		///   reused.
		/// - Emits [`Event::DeviceRetired`] with the final history.
		/// - Errors: `UnknownDevice`, `NotOwner`, `DeviceSuspended`, `SiteNotEmpty` (a meter
		///   with devices behind it).
		#[pallet::call_index(5)]
		#[pallet::weight(T::WeightInfo::retire_device())]
		pub fn retire_device(origin: OriginFor<T>, device_id: DeviceId) -> DispatchResult {
			let owner = ensure_signed(origin)?;
			Self::do_retire(device_id, owner)
		}

		/// Offer the device to another account (step one of a transfer). A new offer replaces
		/// the previous one.
		///
		/// - Origin: signed by the owner.
		/// - Effects: records `new_owner` as the pending owner; nothing else changes until it
		///   accepts.
		/// - Emits [`Event::OwnershipOffered`].
		/// - Errors: `UnknownDevice`, `NotOwner`, `AlreadyOwner`, `DeviceSuspended`,
		///   `SiteNotEmpty` (a meter with devices behind it).
		#[pallet::call_index(6)]
		#[pallet::weight(T::WeightInfo::offer_ownership())]
		pub fn offer_ownership(
			origin: OriginFor<T>,
			device_id: DeviceId,
			new_owner: T::AccountId,
		) -> DispatchResult {
			let owner = ensure_signed(origin)?;
			Self::do_offer_ownership(device_id, owner, new_owner)
		}

		/// Withdraw a pending ownership offer.
		///
		/// - Origin: signed by the owner.
		/// - Effects: the pending owner is cleared; the offered account can no longer accept.
		/// - Emits [`Event::OwnershipOfferCancelled`].
		/// - Errors: `UnknownDevice`, `NotOwner`, `NoOwnershipOffer`.
		#[pallet::call_index(7)]
		#[pallet::weight(T::WeightInfo::cancel_ownership_offer())]
		pub fn cancel_ownership_offer(origin: OriginFor<T>, device_id: DeviceId) -> DispatchResult {
			let owner = ensure_signed(origin)?;
			Self::do_cancel_ownership_offer(device_id, owner)
		}

		/// Accept an ownership offer (step two of a transfer).
		///
		/// - Origin: signed by the account the device was offered to.
		/// - Effects: the caller becomes the owner; the deposit is released to the previous
		///   owner and held from the caller; the owner index follows; the device leaves its
		///   site (a site belongs to one owner).
		/// - Emits [`Event::OwnershipTransferred`] (and [`Event::SiteMeterChanged`]).
		/// - Errors: `UnknownDevice`, `NoOwnershipOffer`, `NotOfferedToCaller`,
		///   `DeviceSuspended`, `InsufficientBalance`, `SiteNotEmpty`.
		#[pallet::call_index(8)]
		#[pallet::weight(T::WeightInfo::accept_ownership())]
		pub fn accept_ownership(origin: OriginFor<T>, device_id: DeviceId) -> DispatchResult {
			let new_owner = ensure_signed(origin)?;
			Self::do_accept_ownership(device_id, new_owner)
		}

		/// Let another gateway submit the device's readings.
		///
		/// - Origin: signed by the owner.
		/// - Effects: the gateway index follows; the old gateway's reports are refused from now.
		/// - Emits [`Event::GatewayRebound`].
		/// - Errors: `UnknownDevice`, `NotOwner`, `Unchanged`.
		#[pallet::call_index(9)]
		#[pallet::weight(T::WeightInfo::rebind_gateway())]
		pub fn rebind_gateway(
			origin: OriginFor<T>,
			device_id: DeviceId,
			new_gateway: T::AccountId,
		) -> DispatchResult {
			let owner = ensure_signed(origin)?;
			Self::do_rebind_gateway(device_id, owner, new_gateway)
		}

		/// Replace the device's attestation key, proving possession of the new one.
		///
		/// - Origin: signed by the owner.
		/// - `proof` is the new key's signature over a [`openvpp_primitives::KeyOwnershipProof`]
		///   with purpose `Rotate(device_id)` and the owner's current nonce.
		/// - Effects: the old key is freed, the new key indexed, the owner's nonce bumped.
		/// - Emits [`Event::AttestationKeyRotated`].
		/// - Errors: `UnknownDevice`, `NotOwner`, `InvalidProofOfPossession`,
		///   `AttestationKeyInUse`.
		#[pallet::call_index(10)]
		#[pallet::weight(T::WeightInfo::rotate_attestation_key())]
		pub fn rotate_attestation_key(
			origin: OriginFor<T>,
			device_id: DeviceId,
			new_key: AttestationKey,
			proof: AttestationSignature,
		) -> DispatchResult {
			let owner = ensure_signed(origin)?;
			Self::do_rotate_key(device_id, owner, new_key, proof)
		}

		/// Replace the device's descriptive metadata.
		///
		/// - Origin: signed by the owner.
		/// - Effects: manufacturer, model, serial number and firmware are replaced; nothing
		///   downstream depends on them.
		/// - Emits [`Event::MetadataUpdated`].
		/// - Errors: `UnknownDevice`, `NotOwner`.
		#[pallet::call_index(11)]
		#[pallet::weight(T::WeightInfo::update_metadata())]
		pub fn update_metadata(
			origin: OriginFor<T>,
			device_id: DeviceId,
			metadata: DeviceMetadata<T::MaxMetadataLen>,
		) -> DispatchResult {
			let owner = ensure_signed(origin)?;
			Self::do_update_metadata(device_id, owner, metadata)
		}

		/// Replace the owner's comfort limits for dispatch (reserve state of charge, windows).
		///
		/// - Origin: signed by the owner.
		/// - Effects: the new limits apply to the device's next telemetry report (flexibility in
		///   the status map) and to every later dispatch.
		/// - Emits [`Event::ComfortLimitsUpdated`].
		/// - Errors: `UnknownDevice`, `NotOwner`, `InvalidComfortLimits`,
		///   `ComfortLimitsNotApplicable`.
		#[pallet::call_index(12)]
		#[pallet::weight(T::WeightInfo::update_comfort_limits())]
		pub fn update_comfort_limits(
			origin: OriginFor<T>,
			device_id: DeviceId,
			comfort: ComfortLimits,
		) -> DispatchResult {
			let owner = ensure_signed(origin)?;
			Self::do_update_comfort(device_id, owner, comfort)
		}

		/// Declare the site meter a device sits behind, or that it sits behind none.
		///
		/// - Origin: signed by the owner of the device (and of the meter).
		/// - `meter`: a smart meter of the same owner in the same region, or `None`.
		/// - Effects: the device leaves its previous site, if any, and joins the meter's
		///   ([`SiteDevices`]). From then on the status map counts the device's grid exchange at
		///   the meter only, and demand response keeps the meter and the device out of
		///   overlapping events.
		/// - Emits [`Event::SiteMeterChanged`].
		/// - Errors: `UnknownDevice` (device or meter), `NotOwner` (device or meter),
		///   `Unchanged`, `MeterCannotBeBehindMeter`, `NotAMeter`, `SiteRegionMismatch`,
		///   `SiteFull`, `DeviceCommitted`.
		#[pallet::call_index(15)]
		#[pallet::weight(T::WeightInfo::set_site_meter())]
		pub fn set_site_meter(
			origin: OriginFor<T>,
			device_id: DeviceId,
			meter: Option<DeviceId>,
		) -> DispatchResult {
			let owner = ensure_signed(origin)?;
			Self::do_set_site_meter(device_id, owner, meter)
		}

		/// Give an account the verifier role.
		///
		/// - Origin: [`Config::VerifierAdminOrigin`].
		/// - Effects: the account may approve, reject, suspend and reinstate devices.
		/// - Emits [`Event::VerifierAdded`].
		/// - Errors: `BadOrigin`, `AlreadyVerifier`.
		#[pallet::call_index(13)]
		#[pallet::weight(T::WeightInfo::add_verifier())]
		pub fn add_verifier(origin: OriginFor<T>, verifier: T::AccountId) -> DispatchResult {
			T::VerifierAdminOrigin::ensure_origin(origin)?;
			ensure!(!Verifiers::<T>::contains_key(&verifier), Error::<T>::AlreadyVerifier);
			Verifiers::<T>::insert(&verifier, ());
			Self::deposit_event(Event::VerifierAdded { verifier });
			Ok(())
		}

		/// Take the verifier role from an account.
		///
		/// - Origin: [`Config::VerifierAdminOrigin`].
		/// - Effects: the account can no longer verify; devices it approved stay active.
		/// - Emits [`Event::VerifierRemoved`].
		/// - Errors: `BadOrigin`, `NotAVerifier`.
		#[pallet::call_index(14)]
		#[pallet::weight(T::WeightInfo::remove_verifier())]
		pub fn remove_verifier(origin: OriginFor<T>, verifier: T::AccountId) -> DispatchResult {
			T::VerifierAdminOrigin::ensure_origin(origin)?;
			ensure!(Verifiers::<T>::take(&verifier).is_some(), Error::<T>::NotAVerifier);
			Self::deposit_event(Event::VerifierRemoved { verifier });
			Ok(())
		}
	}
}
