//! Tests of every call's success and errors, the lifecycle, deposits, indexes and the interface
//! other pallets use. Each test ends by checking the state invariants (`do_try_state`).

use codec::Encode;
use frame_support::{
	assert_noop, assert_ok, pallet_prelude::DispatchResult, traits::fungible::InspectHold,
	BoundedVec,
};
use openvpp_primitives::{
	AttestationKey, AttestationSignature, Capability, ComfortLimits, DeviceId, DeviceKind,
	DeviceLookupError, DeviceRegistry as _, DeviceStatus, DispatchWindow, KeyOwnershipProof,
	KeyProofPurpose, Participation, RegionCode, ReputationReason, TelemetryTotals,
};
use sp_core::{ecdsa, ed25519, sr25519, Pair, H256};
use sp_runtime::{BuildStorage, DispatchError};

use crate::{mock::*, *};

fn region(code: &str) -> RegionCode {
	BoundedVec::try_from(code.as_bytes().to_vec()).unwrap()
}

fn text(s: &str) -> BoundedVec<u8, frame_support::traits::ConstU32<32>> {
	BoundedVec::try_from(s.as_bytes().to_vec()).unwrap()
}

fn key(seed: &str) -> sr25519::Pair {
	sr25519::Pair::from_string(&format!("//{seed}"), None).unwrap()
}

fn battery() -> Capability {
	Capability {
		rated_power_w: 5_000,
		storage_capacity_wh: Some(13_500),
		max_charge_w: Some(5_000),
		max_discharge_w: Some(5_000),
	}
}

fn metadata() -> DeviceMetadata<frame_support::traits::ConstU32<32>> {
	DeviceMetadata {
		manufacturer: text("Acme Storage"),
		model: text("PowerCell 13"),
		serial_number: text("PC13-0001"),
		firmware_version: text("2.4.1"),
	}
}

fn comfort() -> ComfortLimits {
	ComfortLimits {
		min_reserve_soc_bp: 2_000,
		dispatch_windows: BoundedVec::try_from(vec![DispatchWindow {
			start_minute: 16 * 60,
			end_minute: 21 * 60,
		}])
		.unwrap(),
	}
}

/// The payload a key signs to be bound to a device of `owner`, with the owner's current nonce.
fn proof_payload(owner: AccountId, purpose: KeyProofPurpose, genesis: H256) -> Vec<u8> {
	KeyOwnershipProof::new(purpose, genesis, owner, RegistrationNonces::<Test>::get(owner)).encode()
}

fn sign_proof<P: Pair>(pair: &P, owner: AccountId, purpose: KeyProofPurpose) -> AttestationSignature
where
	P::Signature: Into<AttestationSignature>,
{
	pair.sign(&proof_payload(owner, purpose, DeviceRegistry::genesis_hash())).into()
}

fn register_with(
	owner: AccountId,
	kind: DeviceKind,
	capability: Capability,
	comfort: ComfortLimits,
	pair: &sr25519::Pair,
) -> Result<DeviceId, DispatchError> {
	let id = NextDeviceId::<Test>::get();
	DeviceRegistry::register_device(
		RuntimeOrigin::signed(owner),
		kind,
		capability,
		region("DE-TENNET"),
		metadata(),
		comfort,
		GATEWAY,
		pair.public().into(),
		sign_proof(pair, owner, KeyProofPurpose::Register),
	)?;
	Ok(id)
}

fn register(owner: AccountId, seed: &str) -> DeviceId {
	register_with(owner, DeviceKind::HomeBattery, battery(), comfort(), &key(seed)).unwrap()
}

fn register_active(owner: AccountId, seed: &str) -> DeviceId {
	let id = register(owner, seed);
	assert_ok!(DeviceRegistry::approve_device(RuntimeOrigin::signed(VERIFIER), id));
	id
}

fn held(who: AccountId) -> Balance {
	Balances::balance_on_hold(&RuntimeHoldReason::DeviceRegistry(HoldReason::DeviceDeposit), &who)
}

fn status(id: DeviceId) -> DeviceStatus {
	Devices::<Test>::get(id).unwrap().status
}

fn last_event() -> RuntimeEvent {
	System::events().pop().expect("an event").event
}

// ---- registration ------------------------------------------------------------------------

#[test]
fn register_stores_the_record_holds_the_deposit_and_indexes_it() {
	run_test(|| {
		let pair = key("battery-1");
		let id = register(OWNER, "battery-1");
		assert_eq!(id, 1);

		let record = Devices::<Test>::get(id).unwrap();
		assert_eq!(record.kind, DeviceKind::HomeBattery);
		assert_eq!(record.owner, OWNER);
		assert_eq!(record.gateway, GATEWAY);
		assert_eq!(record.attestation_key, AttestationKey::from(pair.public()));
		assert_eq!(record.capability, battery());
		assert_eq!(record.region, region("DE-TENNET"));
		assert_eq!(record.metadata, metadata());
		assert_eq!(record.comfort, comfort());
		assert_eq!(record.status, DeviceStatus::Pending);
		assert_eq!(record.registered_at, NOW_MS / 1_000);
		assert_eq!(record.activated_at, None);
		assert_eq!(record.credit.reputation_bp, 5_000);
		assert_eq!(record.deposit, DEPOSIT);

		assert_eq!(held(OWNER), DEPOSIT);
		assert_eq!(Balances::free_balance(OWNER), START_BALANCE - DEPOSIT);
		assert_eq!(DeviceByAttestationKey::<Test>::get(record.attestation_key), Some(id));
		assert!(DevicesByOwner::<Test>::contains_key(OWNER, id));
		assert!(DevicesByGateway::<Test>::contains_key(GATEWAY, id));
		assert_eq!(DeviceCount::<Test>::get(), 1);
		assert_eq!(NextDeviceId::<Test>::get(), 2);
		assert_eq!(RegistrationNonces::<Test>::get(OWNER), 1);
		// Pending devices do not count as capacity.
		assert_eq!(RegionCapacities::<Test>::iter().count(), 0);
		assert_eq!(
			last_event(),
			Event::DeviceRegistered {
				device_id: id,
				owner: OWNER,
				kind: DeviceKind::HomeBattery,
				region: region("DE-TENNET"),
				deposit: DEPOSIT,
			}
			.into()
		);
	});
}

#[test]
fn keys_of_every_scheme_can_register() {
	run_test(|| {
		let ed = ed25519::Pair::from_string("//ed-device", None).unwrap();
		let ec = ecdsa::Pair::from_string("//ec-device", None).unwrap();
		assert_ok!(DeviceRegistry::register_device(
			RuntimeOrigin::signed(OWNER),
			DeviceKind::RooftopSolar,
			Capability { rated_power_w: 8_000, ..Default::default() },
			region("DE-TENNET"),
			metadata(),
			ComfortLimits::default(),
			GATEWAY,
			ed.public().into(),
			sign_proof(&ed, OWNER, KeyProofPurpose::Register),
		));
		assert_ok!(DeviceRegistry::register_device(
			RuntimeOrigin::signed(OWNER),
			DeviceKind::SmartMeter,
			Capability { rated_power_w: 40_000, ..Default::default() },
			region("DE-TENNET"),
			metadata(),
			ComfortLimits::default(),
			GATEWAY,
			ec.public().into(),
			sign_proof(&ec, OWNER, KeyProofPurpose::Register),
		));
		assert_eq!(DeviceCount::<Test>::get(), 2);
	});
}

#[test]
fn a_proof_signed_by_another_key_is_refused() {
	run_test(|| {
		let device = key("device");
		let impostor = key("impostor");
		assert_noop!(
			DeviceRegistry::register_device(
				RuntimeOrigin::signed(OWNER),
				DeviceKind::HomeBattery,
				battery(),
				region("DE-TENNET"),
				metadata(),
				comfort(),
				GATEWAY,
				device.public().into(),
				sign_proof(&impostor, OWNER, KeyProofPurpose::Register),
			),
			Error::<Test>::InvalidProofOfPossession
		);
	});
}

#[test]
fn a_proof_for_another_chain_owner_or_purpose_is_refused() {
	run_test(|| {
		let device = key("device");
		let register = |proof: AttestationSignature| {
			DeviceRegistry::register_device(
				RuntimeOrigin::signed(OWNER),
				DeviceKind::HomeBattery,
				battery(),
				region("DE-TENNET"),
				metadata(),
				comfort(),
				GATEWAY,
				device.public().into(),
				proof,
			)
		};
		// Signed for another chain's genesis hash.
		let other_chain = device
			.sign(&proof_payload(OWNER, KeyProofPurpose::Register, H256::repeat_byte(1)))
			.into();
		assert_noop!(register(other_chain), Error::<Test>::InvalidProofOfPossession);
		// Signed for another owner: the key holder did not consent to OWNER.
		let other_owner = sign_proof(&device, OTHER, KeyProofPurpose::Register);
		assert_noop!(register(other_owner), Error::<Test>::InvalidProofOfPossession);
		// Signed for a key rotation, not a registration.
		let rotation = sign_proof(&device, OWNER, KeyProofPurpose::Rotate(1));
		assert_noop!(register(rotation), Error::<Test>::InvalidProofOfPossession);
		// A signature of another scheme never verifies.
		let ed = ed25519::Pair::from_string("//device", None).unwrap();
		assert_noop!(
			register(sign_proof(&ed, OWNER, KeyProofPurpose::Register)),
			Error::<Test>::InvalidProofOfPossession
		);
	});
}

#[test]
fn a_proof_cannot_be_replayed() {
	run_test(|| {
		let device = key("device");
		let proof = sign_proof(&device, OWNER, KeyProofPurpose::Register);
		let register = |proof: AttestationSignature| {
			DeviceRegistry::register_device(
				RuntimeOrigin::signed(OWNER),
				DeviceKind::HomeBattery,
				battery(),
				region("DE-TENNET"),
				metadata(),
				comfort(),
				GATEWAY,
				device.public().into(),
				proof,
			)
		};
		assert_ok!(register(proof.clone()));
		// Retiring frees the key, but the old proof was made for a used nonce.
		assert_ok!(DeviceRegistry::retire_device(RuntimeOrigin::signed(OWNER), 1));
		assert_noop!(register(proof), Error::<Test>::InvalidProofOfPossession);
		// A fresh proof works.
		assert_ok!(register(sign_proof(&device, OWNER, KeyProofPurpose::Register)));
	});
}

#[test]
fn a_key_belongs_to_one_device() {
	run_test(|| {
		register(OWNER, "shared");
		assert_noop!(
			register_with(OTHER, DeviceKind::HomeBattery, battery(), comfort(), &key("shared")),
			Error::<Test>::AttestationKeyInUse
		);
	});
}

#[test]
fn capability_is_checked_against_the_kind_and_its_bounds() {
	run_test(|| {
		let pair = key("device");
		let try_register = |kind, capability| {
			register_with(OWNER, kind, capability, ComfortLimits::default(), &pair)
		};
		// Above the home-battery bound of 30 kW.
		assert_noop!(
			try_register(
				DeviceKind::HomeBattery,
				Capability { rated_power_w: 30_001, max_charge_w: Some(30_001), ..battery() }
			),
			Error::<Test>::CapabilityOutOfBounds
		);
		// Storage beyond the bound.
		assert_noop!(
			try_register(
				DeviceKind::HomeBattery,
				Capability { storage_capacity_wh: Some(100_001), ..battery() }
			),
			Error::<Test>::CapabilityOutOfBounds
		);
		// Charging faster than the nameplate.
		assert_noop!(
			try_register(
				DeviceKind::HomeBattery,
				Capability { max_charge_w: Some(6_000), ..battery() }
			),
			Error::<Test>::CapabilityOutOfBounds
		);
		// Solar has no storage.
		assert_noop!(
			try_register(DeviceKind::RooftopSolar, battery()),
			Error::<Test>::CapabilityNotApplicable
		);
		// A meter is never dispatched.
		assert_noop!(
			try_register(
				DeviceKind::SmartMeter,
				Capability { rated_power_w: 40_000, max_charge_w: Some(1), ..Default::default() }
			),
			Error::<Test>::CapabilityNotApplicable
		);
		// A battery without capacity.
		assert_noop!(
			try_register(
				DeviceKind::HomeBattery,
				Capability { storage_capacity_wh: None, ..battery() }
			),
			Error::<Test>::CapabilityMissing
		);
		// Zero rated power.
		assert_noop!(
			try_register(DeviceKind::SmartMeter, Capability::default()),
			Error::<Test>::CapabilityMissing
		);
	});
}

#[test]
fn region_and_comfort_limits_are_checked() {
	run_test(|| {
		let pair = key("device");
		assert_noop!(
			DeviceRegistry::register_device(
				RuntimeOrigin::signed(OWNER),
				DeviceKind::HomeBattery,
				battery(),
				region("de-tennet"),
				metadata(),
				comfort(),
				GATEWAY,
				pair.public().into(),
				sign_proof(&pair, OWNER, KeyProofPurpose::Register),
			),
			Error::<Test>::InvalidRegion
		);
		let reserve_too_high = ComfortLimits { min_reserve_soc_bp: 10_001, ..comfort() };
		assert_noop!(
			register_with(OWNER, DeviceKind::HomeBattery, battery(), reserve_too_high, &pair),
			Error::<Test>::InvalidComfortLimits
		);
		// A charger has no state of charge to reserve.
		let charger = Capability {
			rated_power_w: 11_000,
			storage_capacity_wh: None,
			max_charge_w: Some(11_000),
			max_discharge_w: None,
		};
		assert_noop!(
			register_with(OWNER, DeviceKind::EvCharger, charger, comfort(), &pair),
			Error::<Test>::ComfortLimitsNotApplicable
		);
	});
}

#[test]
fn registration_without_funds_for_the_deposit_fails_and_changes_nothing() {
	run_test(|| {
		let pair = key("device");
		assert_noop!(
			register_with(POOR, DeviceKind::HomeBattery, battery(), comfort(), &pair),
			Error::<Test>::InsufficientBalance
		);
	});
}

#[test]
fn registration_needs_a_signed_origin() {
	run_test(|| {
		let pair = key("device");
		assert_noop!(
			DeviceRegistry::register_device(
				RuntimeOrigin::none(),
				DeviceKind::HomeBattery,
				battery(),
				region("DE-TENNET"),
				metadata(),
				comfort(),
				GATEWAY,
				pair.public().into(),
				sign_proof(&pair, OWNER, KeyProofPurpose::Register),
			),
			DispatchError::BadOrigin
		);
	});
}

// ---- verification lifecycle ---------------------------------------------------------------

#[test]
fn approve_activates_and_counts_capacity() {
	run_test(|| {
		let id = register(OWNER, "battery");
		assert_ok!(DeviceRegistry::approve_device(RuntimeOrigin::signed(VERIFIER), id));
		let record = Devices::<Test>::get(id).unwrap();
		assert_eq!(record.status, DeviceStatus::Active);
		assert_eq!(record.activated_at, Some(NOW_MS / 1_000));
		let capacity = RegionCapacities::<Test>::get(region("DE-TENNET"), DeviceKind::HomeBattery);
		assert_eq!(
			capacity,
			RegionCapacity { active_devices: 1, rated_power_w: 5_000, storage_capacity_wh: 13_500 }
		);
		assert_eq!(
			last_event(),
			Event::DeviceApproved { device_id: id, verifier: VERIFIER }.into()
		);
	});
}

#[test]
fn only_verifiers_approve_reject_suspend_and_reinstate() {
	run_test(|| {
		let pending = register(OWNER, "a");
		let active = register_active(OWNER, "b");
		let as_owner = RuntimeOrigin::signed(OWNER);
		assert_noop!(
			DeviceRegistry::approve_device(as_owner.clone(), pending),
			Error::<Test>::NotVerifier
		);
		assert_noop!(
			DeviceRegistry::reject_device(as_owner.clone(), pending, text("no")),
			Error::<Test>::NotVerifier
		);
		assert_noop!(
			DeviceRegistry::suspend_device(as_owner.clone(), active, text("no")),
			Error::<Test>::NotVerifier
		);
		assert_ok!(DeviceRegistry::suspend_device(
			RuntimeOrigin::signed(VERIFIER),
			active,
			text("audit")
		));
		assert_noop!(
			DeviceRegistry::reinstate_device(as_owner, active),
			Error::<Test>::NotVerifier
		);
		assert_noop!(
			DeviceRegistry::approve_device(RuntimeOrigin::none(), pending),
			DispatchError::BadOrigin
		);
	});
}

#[test]
fn each_status_transition_is_allowed_only_from_its_source() {
	run_test(|| {
		let verifier = || RuntimeOrigin::signed(VERIFIER);
		let id = register(OWNER, "battery");
		// Pending: cannot be suspended or reinstated.
		assert_noop!(
			DeviceRegistry::suspend_device(verifier(), id, text("x")),
			Error::<Test>::NotActive
		);
		assert_noop!(DeviceRegistry::reinstate_device(verifier(), id), Error::<Test>::NotSuspended);
		// Pending → Active.
		assert_ok!(DeviceRegistry::approve_device(verifier(), id));
		// Active: cannot be approved, rejected or reinstated.
		assert_noop!(DeviceRegistry::approve_device(verifier(), id), Error::<Test>::NotPending);
		assert_noop!(
			DeviceRegistry::reject_device(verifier(), id, text("x")),
			Error::<Test>::NotPending
		);
		assert_noop!(DeviceRegistry::reinstate_device(verifier(), id), Error::<Test>::NotSuspended);
		// Active → Suspended.
		assert_ok!(DeviceRegistry::suspend_device(verifier(), id, text("meter tampering")));
		assert_eq!(status(id), DeviceStatus::Suspended);
		assert_eq!(Devices::<Test>::get(id).unwrap().status_reason, text("meter tampering"));
		assert_eq!(RegionCapacities::<Test>::iter().count(), 0);
		// Suspended: cannot be suspended again or approved.
		assert_noop!(
			DeviceRegistry::suspend_device(verifier(), id, text("x")),
			Error::<Test>::NotActive
		);
		assert_noop!(DeviceRegistry::approve_device(verifier(), id), Error::<Test>::NotPending);
		// Suspended → Active.
		assert_ok!(DeviceRegistry::reinstate_device(verifier(), id));
		assert_eq!(status(id), DeviceStatus::Active);
		assert!(Devices::<Test>::get(id).unwrap().status_reason.is_empty());
		assert_eq!(
			RegionCapacities::<Test>::get(region("DE-TENNET"), DeviceKind::HomeBattery)
				.active_devices,
			1
		);

		// Pending → Rejected; Rejected cannot be approved or suspended.
		let other = register(OWNER, "other");
		assert_ok!(DeviceRegistry::reject_device(verifier(), other, text("no inverter cert")));
		assert_eq!(status(other), DeviceStatus::Rejected);
		assert_noop!(DeviceRegistry::approve_device(verifier(), other), Error::<Test>::NotPending);
		assert_noop!(
			DeviceRegistry::suspend_device(verifier(), other, text("x")),
			Error::<Test>::NotActive
		);
		assert_eq!(
			last_event(),
			Event::DeviceRejected {
				device_id: other,
				verifier: VERIFIER,
				reason: text("no inverter cert")
			}
			.into()
		);

		// Unknown devices.
		assert_noop!(DeviceRegistry::approve_device(verifier(), 99), Error::<Test>::UnknownDevice);
		assert_noop!(
			DeviceRegistry::suspend_device(verifier(), 99, text("x")),
			Error::<Test>::UnknownDevice
		);
	});
}

#[test]
fn governance_can_suspend_and_reinstate() {
	run_test(|| {
		let id = register_active(OWNER, "battery");
		take_lifecycle();
		assert_ok!(DeviceRegistry::suspend_device(RuntimeOrigin::root(), id, text("fraud")));
		assert_eq!(
			last_event(),
			Event::DeviceSuspended { device_id: id, by: None, reason: text("fraud") }.into()
		);
		assert_eq!(take_lifecycle(), vec![Lifecycle::Deactivated(id)]);
		assert_ok!(DeviceRegistry::reinstate_device(RuntimeOrigin::root(), id));
		assert_eq!(last_event(), Event::DeviceReinstated { device_id: id, by: None }.into());
		// Active again from now: what other pallets copied of its activation is out of date.
		assert_eq!(take_lifecycle(), vec![Lifecycle::Changed(id)]);
	});
}

#[test]
fn changes_to_what_reports_are_checked_against_are_announced() {
	run_test(|| {
		let house = meter(OWNER, "house");
		let id = register_active(OWNER, "battery");
		take_lifecycle();
		// Metadata is nothing a report is checked against.
		assert_ok!(DeviceRegistry::update_metadata(RuntimeOrigin::signed(OWNER), id, metadata()));
		assert_eq!(take_lifecycle(), vec![]);
		assert_ok!(DeviceRegistry::rebind_gateway(RuntimeOrigin::signed(OWNER), id, OTHER));
		assert_eq!(take_lifecycle(), vec![Lifecycle::Changed(id)]);
		let new = key("new");
		assert_ok!(DeviceRegistry::rotate_attestation_key(
			RuntimeOrigin::signed(OWNER),
			id,
			new.public().into(),
			sign_proof(&new, OWNER, KeyProofPurpose::Rotate(id)),
		));
		assert_eq!(take_lifecycle(), vec![Lifecycle::Changed(id)]);
		let relaxed =
			ComfortLimits { min_reserve_soc_bp: 3_000, dispatch_windows: Default::default() };
		assert_ok!(DeviceRegistry::update_comfort_limits(
			RuntimeOrigin::signed(OWNER),
			id,
			relaxed
		));
		assert_eq!(take_lifecycle(), vec![Lifecycle::Changed(id)]);
		assert_ok!(set_site(OWNER, id, Some(house)));
		assert_eq!(take_lifecycle(), vec![Lifecycle::Changed(id)]);
		// Sold, it leaves its site; the offer itself changes nothing reports depend on.
		assert_ok!(DeviceRegistry::offer_ownership(RuntimeOrigin::signed(OWNER), id, OTHER));
		assert_eq!(take_lifecycle(), vec![]);
		assert_ok!(DeviceRegistry::accept_ownership(RuntimeOrigin::signed(OTHER), id));
		assert_eq!(take_lifecycle(), vec![Lifecycle::Changed(id)]);
		// A refused change announces nothing.
		assert_noop!(
			DeviceRegistry::rebind_gateway(RuntimeOrigin::signed(OTHER), id, OTHER),
			Error::<Test>::Unchanged
		);
		assert_eq!(take_lifecycle(), vec![]);
	});
}

// ---- retirement and deposits --------------------------------------------------------------

#[test]
fn retire_releases_exactly_the_deposit_and_removes_everything() {
	run_test(|| {
		let pending = register(OWNER, "a");
		let active = register_active(OWNER, "b");
		let rejected = register(OWNER, "c");
		assert_ok!(DeviceRegistry::reject_device(
			RuntimeOrigin::signed(VERIFIER),
			rejected,
			text("x")
		));
		assert_eq!(held(OWNER), 3 * DEPOSIT);
		take_lifecycle();

		for id in [pending, active, rejected] {
			let history = Devices::<Test>::get(id).unwrap().history;
			assert_ok!(DeviceRegistry::retire_device(RuntimeOrigin::signed(OWNER), id));
			assert_eq!(
				last_event(),
				Event::DeviceRetired {
					device_id: id,
					owner: OWNER,
					deposit_released: DEPOSIT,
					history
				}
				.into()
			);
			assert!(Devices::<Test>::get(id).is_none());
			assert!(!DevicesByOwner::<Test>::contains_key(OWNER, id));
			assert!(!DevicesByGateway::<Test>::contains_key(GATEWAY, id));
		}
		assert_eq!(held(OWNER), 0);
		assert_eq!(Balances::free_balance(OWNER), START_BALANCE);
		assert_eq!(DeviceCount::<Test>::get(), 0);
		assert_eq!(DeviceByAttestationKey::<Test>::iter().count(), 0);
		assert_eq!(RegionCapacities::<Test>::iter().count(), 0);
		// Only the active one was deactivated; all three were retired.
		assert_eq!(
			take_lifecycle(),
			vec![
				Lifecycle::Retired(pending),
				Lifecycle::Deactivated(active),
				Lifecycle::Retired(active),
				Lifecycle::Retired(rejected)
			]
		);
		// Ids are never reused.
		assert_eq!(register(OWNER, "d"), 4);
	});
}

#[test]
fn retire_is_for_the_owner_and_not_while_suspended() {
	run_test(|| {
		let id = register_active(OWNER, "battery");
		assert_noop!(
			DeviceRegistry::retire_device(RuntimeOrigin::signed(OTHER), id),
			Error::<Test>::NotOwner
		);
		assert_ok!(DeviceRegistry::suspend_device(
			RuntimeOrigin::signed(VERIFIER),
			id,
			text("audit")
		));
		assert_noop!(
			DeviceRegistry::retire_device(RuntimeOrigin::signed(OWNER), id),
			Error::<Test>::DeviceSuspended
		);
		assert_noop!(
			DeviceRegistry::retire_device(RuntimeOrigin::signed(OWNER), 42),
			Error::<Test>::UnknownDevice
		);
		assert_eq!(held(OWNER), DEPOSIT);
	});
}

// ---- ownership ----------------------------------------------------------------------------

#[test]
fn two_step_transfer_moves_the_deposit_and_the_index() {
	run_test(|| {
		let id = register_active(OWNER, "battery");
		assert_ok!(DeviceRegistry::offer_ownership(RuntimeOrigin::signed(OWNER), id, OTHER));
		assert_eq!(Devices::<Test>::get(id).unwrap().pending_owner, Some(OTHER));
		assert_eq!(
			last_event(),
			Event::OwnershipOffered { device_id: id, owner: OWNER, offered_to: OTHER }.into()
		);
		// Nothing changes until it is accepted.
		assert_eq!(Devices::<Test>::get(id).unwrap().owner, OWNER);

		assert_ok!(DeviceRegistry::accept_ownership(RuntimeOrigin::signed(OTHER), id));
		let record = Devices::<Test>::get(id).unwrap();
		assert_eq!(record.owner, OTHER);
		assert_eq!(record.pending_owner, None);
		assert!(DevicesByOwner::<Test>::contains_key(OTHER, id));
		assert!(!DevicesByOwner::<Test>::contains_key(OWNER, id));
		assert_eq!(held(OWNER), 0);
		assert_eq!(held(OTHER), DEPOSIT);
		assert_eq!(Balances::free_balance(OWNER), START_BALANCE);
		assert_eq!(
			last_event(),
			Event::OwnershipTransferred { device_id: id, from: OWNER, to: OTHER }.into()
		);
	});
}

#[test]
fn transfer_errors() {
	run_test(|| {
		let id = register_active(OWNER, "battery");
		assert_noop!(
			DeviceRegistry::offer_ownership(RuntimeOrigin::signed(OTHER), id, OTHER),
			Error::<Test>::NotOwner
		);
		assert_noop!(
			DeviceRegistry::offer_ownership(RuntimeOrigin::signed(OWNER), id, OWNER),
			Error::<Test>::AlreadyOwner
		);
		assert_noop!(
			DeviceRegistry::accept_ownership(RuntimeOrigin::signed(OTHER), id),
			Error::<Test>::NoOwnershipOffer
		);
		assert_noop!(
			DeviceRegistry::cancel_ownership_offer(RuntimeOrigin::signed(OWNER), id),
			Error::<Test>::NoOwnershipOffer
		);
		assert_ok!(DeviceRegistry::offer_ownership(RuntimeOrigin::signed(OWNER), id, OTHER));
		assert_noop!(
			DeviceRegistry::accept_ownership(RuntimeOrigin::signed(GATEWAY), id),
			Error::<Test>::NotOfferedToCaller
		);
		assert_noop!(
			DeviceRegistry::cancel_ownership_offer(RuntimeOrigin::signed(OTHER), id),
			Error::<Test>::NotOwner
		);
		assert_ok!(DeviceRegistry::cancel_ownership_offer(RuntimeOrigin::signed(OWNER), id));
		assert_eq!(
			last_event(),
			Event::OwnershipOfferCancelled { device_id: id, owner: OWNER }.into()
		);
		assert!(Devices::<Test>::get(id).unwrap().pending_owner.is_none());
		assert_noop!(
			DeviceRegistry::accept_ownership(RuntimeOrigin::signed(OTHER), id),
			Error::<Test>::NoOwnershipOffer
		);

		// A new owner who cannot pay the deposit leaves everything as it was.
		assert_ok!(DeviceRegistry::offer_ownership(RuntimeOrigin::signed(OWNER), id, POOR));
		assert_noop!(
			DeviceRegistry::accept_ownership(RuntimeOrigin::signed(POOR), id),
			Error::<Test>::InsufficientBalance
		);

		// A suspended device cannot change hands.
		assert_ok!(DeviceRegistry::suspend_device(RuntimeOrigin::signed(VERIFIER), id, text("x")));
		assert_noop!(
			DeviceRegistry::accept_ownership(RuntimeOrigin::signed(POOR), id),
			Error::<Test>::DeviceSuspended
		);
		assert_noop!(
			DeviceRegistry::offer_ownership(RuntimeOrigin::signed(OWNER), id, OTHER),
			Error::<Test>::DeviceSuspended
		);
	});
}

// ---- owner operations ---------------------------------------------------------------------

#[test]
fn rebind_gateway_moves_the_index() {
	run_test(|| {
		let id = register(OWNER, "battery");
		assert_ok!(DeviceRegistry::rebind_gateway(RuntimeOrigin::signed(OWNER), id, OTHER));
		assert_eq!(Devices::<Test>::get(id).unwrap().gateway, OTHER);
		assert!(DevicesByGateway::<Test>::contains_key(OTHER, id));
		assert!(!DevicesByGateway::<Test>::contains_key(GATEWAY, id));
		assert_eq!(
			last_event(),
			Event::GatewayRebound { device_id: id, old_gateway: GATEWAY, new_gateway: OTHER }
				.into()
		);
		assert_noop!(
			DeviceRegistry::rebind_gateway(RuntimeOrigin::signed(OWNER), id, OTHER),
			Error::<Test>::Unchanged
		);
		assert_noop!(
			DeviceRegistry::rebind_gateway(RuntimeOrigin::signed(OTHER), id, GATEWAY),
			Error::<Test>::NotOwner
		);
	});
}

#[test]
fn rotate_key_needs_a_fresh_proof_for_the_new_key() {
	run_test(|| {
		let id = register_active(OWNER, "old");
		let old = key("old");
		let new = key("new");
		// Proof signed by the old key for the new key: refused.
		assert_noop!(
			DeviceRegistry::rotate_attestation_key(
				RuntimeOrigin::signed(OWNER),
				id,
				new.public().into(),
				sign_proof(&old, OWNER, KeyProofPurpose::Rotate(id)),
			),
			Error::<Test>::InvalidProofOfPossession
		);
		// Proof made for registering, not rotating: refused.
		assert_noop!(
			DeviceRegistry::rotate_attestation_key(
				RuntimeOrigin::signed(OWNER),
				id,
				new.public().into(),
				sign_proof(&new, OWNER, KeyProofPurpose::Register),
			),
			Error::<Test>::InvalidProofOfPossession
		);
		// Proof for another device: refused.
		assert_noop!(
			DeviceRegistry::rotate_attestation_key(
				RuntimeOrigin::signed(OWNER),
				id,
				new.public().into(),
				sign_proof(&new, OWNER, KeyProofPurpose::Rotate(id + 1)),
			),
			Error::<Test>::InvalidProofOfPossession
		);
		assert_noop!(
			DeviceRegistry::rotate_attestation_key(
				RuntimeOrigin::signed(OTHER),
				id,
				new.public().into(),
				sign_proof(&new, OTHER, KeyProofPurpose::Rotate(id)),
			),
			Error::<Test>::NotOwner
		);
		assert_ok!(DeviceRegistry::rotate_attestation_key(
			RuntimeOrigin::signed(OWNER),
			id,
			new.public().into(),
			sign_proof(&new, OWNER, KeyProofPurpose::Rotate(id)),
		));
		assert_eq!(
			last_event(),
			Event::AttestationKeyRotated { device_id: id, new_key: new.public().into() }.into()
		);
		assert_eq!(Devices::<Test>::get(id).unwrap().attestation_key, new.public().into());
		assert_eq!(
			DeviceByAttestationKey::<Test>::get(AttestationKey::from(new.public())),
			Some(id)
		);
		assert_eq!(DeviceByAttestationKey::<Test>::get(AttestationKey::from(old.public())), None);
		// The old key is free for another device; a key in use cannot be rotated in.
		let other = register(OWNER, "old");
		assert_noop!(
			DeviceRegistry::rotate_attestation_key(
				RuntimeOrigin::signed(OWNER),
				other,
				new.public().into(),
				sign_proof(&new, OWNER, KeyProofPurpose::Rotate(other)),
			),
			Error::<Test>::AttestationKeyInUse
		);
	});
}

#[test]
fn metadata_and_comfort_updates() {
	run_test(|| {
		let id = register(OWNER, "battery");
		let mut new_metadata = metadata();
		new_metadata.firmware_version = text("3.0.0");
		assert_ok!(DeviceRegistry::update_metadata(
			RuntimeOrigin::signed(OWNER),
			id,
			new_metadata.clone()
		));
		assert_eq!(Devices::<Test>::get(id).unwrap().metadata, new_metadata);
		assert_eq!(last_event(), Event::MetadataUpdated { device_id: id }.into());
		assert_noop!(
			DeviceRegistry::update_metadata(RuntimeOrigin::signed(OTHER), id, metadata()),
			Error::<Test>::NotOwner
		);

		let relaxed =
			ComfortLimits { min_reserve_soc_bp: 3_000, dispatch_windows: Default::default() };
		assert_ok!(DeviceRegistry::update_comfort_limits(
			RuntimeOrigin::signed(OWNER),
			id,
			relaxed.clone()
		));
		assert_eq!(Devices::<Test>::get(id).unwrap().comfort, relaxed);
		assert_eq!(
			last_event(),
			Event::ComfortLimitsUpdated { device_id: id, comfort: relaxed.clone() }.into()
		);
		// A meter has no storage to keep a reserve in and is never dispatched.
		let meter = register_with(
			OWNER,
			DeviceKind::SmartMeter,
			Capability { rated_power_w: 40_000, ..Default::default() },
			ComfortLimits::default(),
			&key("meter"),
		)
		.unwrap();
		assert_noop!(
			DeviceRegistry::update_comfort_limits(RuntimeOrigin::signed(OWNER), meter, comfort()),
			Error::<Test>::ComfortLimitsNotApplicable
		);
		let bad_window = ComfortLimits {
			min_reserve_soc_bp: 0,
			dispatch_windows: BoundedVec::try_from(vec![DispatchWindow {
				start_minute: 60,
				end_minute: 60,
			}])
			.unwrap(),
		};
		assert_noop!(
			DeviceRegistry::update_comfort_limits(RuntimeOrigin::signed(OWNER), id, bad_window),
			Error::<Test>::InvalidComfortLimits
		);
		assert_noop!(
			DeviceRegistry::update_comfort_limits(RuntimeOrigin::signed(OTHER), id, relaxed),
			Error::<Test>::NotOwner
		);
		assert_noop!(
			DeviceRegistry::update_metadata(RuntimeOrigin::signed(OWNER), 77, metadata()),
			Error::<Test>::UnknownDevice
		);
	});
}

// ---- roles --------------------------------------------------------------------------------

#[test]
fn verifier_role_is_managed_by_the_admin_origin() {
	run_test(|| {
		assert_noop!(
			DeviceRegistry::add_verifier(RuntimeOrigin::signed(OWNER), OTHER),
			DispatchError::BadOrigin
		);
		assert_ok!(DeviceRegistry::add_verifier(RuntimeOrigin::root(), OTHER));
		assert!(Verifiers::<Test>::contains_key(OTHER));
		assert_eq!(last_event(), Event::VerifierAdded { verifier: OTHER }.into());
		assert_noop!(
			DeviceRegistry::add_verifier(RuntimeOrigin::root(), OTHER),
			Error::<Test>::AlreadyVerifier
		);
		assert_noop!(
			DeviceRegistry::remove_verifier(RuntimeOrigin::signed(OWNER), OTHER),
			DispatchError::BadOrigin
		);
		assert_ok!(DeviceRegistry::remove_verifier(RuntimeOrigin::root(), OTHER));
		assert_eq!(last_event(), Event::VerifierRemoved { verifier: OTHER }.into());
		assert_noop!(
			DeviceRegistry::remove_verifier(RuntimeOrigin::root(), OTHER),
			Error::<Test>::NotAVerifier
		);
		// A removed verifier can no longer verify.
		let id = register(OWNER, "battery");
		assert_noop!(
			DeviceRegistry::approve_device(RuntimeOrigin::signed(OTHER), id),
			Error::<Test>::NotVerifier
		);
	});
}

// ---- the interface other pallets use -------------------------------------------------------

#[test]
fn other_pallets_see_active_devices_only() {
	run_test(|| {
		let id = register(OWNER, "battery");
		assert_eq!(
			DeviceRegistry::active_device(id),
			Err(DeviceLookupError::NotActive(DeviceStatus::Pending))
		);
		assert_ok!(DeviceRegistry::approve_device(RuntimeOrigin::signed(VERIFIER), id));
		let info = DeviceRegistry::active_device(id).unwrap();
		assert_eq!(info.owner, OWNER);
		assert_eq!(info.gateway, GATEWAY);
		assert_eq!(info.kind, DeviceKind::HomeBattery);
		assert_eq!(info.capability, battery());
		assert_eq!(info.comfort, comfort());
		assert_eq!(info.attestation_key, key("battery").public().into());
		assert_eq!(info.reputation_bp, 5_000);
		assert_ok!(DeviceRegistry::suspend_device(RuntimeOrigin::signed(VERIFIER), id, text("x")));
		assert_eq!(
			DeviceRegistry::active_device(id),
			Err(DeviceLookupError::NotActive(DeviceStatus::Suspended))
		);
		assert_eq!(DeviceRegistry::active_device(99), Err(DeviceLookupError::Unknown));
	});
}

#[test]
fn telemetry_totals_accumulate_in_the_history() {
	run_test(|| {
		let id = register_active(OWNER, "battery");
		let totals = TelemetryTotals {
			energy_produced_wh: 0,
			energy_consumed_wh: 1_200,
			energy_charged_wh: 1_100,
			energy_discharged_wh: 800,
			online_s: 3_500,
			reports_accepted: 90,
			reports_flagged: 4,
			reports_rejected: 2,
			reports_expected: 100,
			last_seen: Some(1_767_226_500),
		};
		assert_ok!(DeviceRegistry::record_telemetry(id, &totals));
		assert_ok!(DeviceRegistry::record_telemetry(
			id,
			&TelemetryTotals { last_seen: Some(5), ..totals }
		));
		let record = Devices::<Test>::get(id).unwrap();
		assert_eq!(record.history.energy_consumed_wh, 2_400);
		assert_eq!(record.history.energy_charged_wh, 2_200);
		assert_eq!(record.history.energy_discharged_wh, 1_600);
		assert_eq!(record.history.online_s, 7_000);
		assert_eq!(record.history.reports_accepted, 180);
		assert_eq!(record.history.reports_flagged, 8);
		assert_eq!(record.history.reports_rejected, 4);
		assert_eq!(record.history.reports_expected, 200);
		// Last seen never goes back in time.
		assert_eq!(record.last_seen, Some(1_767_226_500));
		assert_eq!(DeviceRegistry::record_telemetry(99, &totals), Err(DeviceLookupError::Unknown));
	});
}

#[test]
fn demand_response_and_rewards_are_counted_in_the_history() {
	run_test(|| {
		let id = register_active(OWNER, "battery");
		for what in [
			Participation::DemandResponseJoined,
			Participation::DemandResponseJoined,
			Participation::DemandResponseDelivered,
			Participation::EpochRewarded,
		] {
			assert_ok!(DeviceRegistry::record_participation(id, what));
		}
		let history = Devices::<Test>::get(id).unwrap().history;
		assert_eq!(
			(history.dr_events_joined, history.dr_events_delivered, history.epochs_rewarded),
			(2, 1, 1)
		);
		assert_eq!(
			DeviceRegistry::record_participation(99, Participation::EpochRewarded),
			Err(DeviceLookupError::Unknown)
		);
	});
}

#[test]
fn device_ids_never_wrap() {
	run_test(|| {
		NextDeviceId::<Test>::put(DeviceId::MAX);
		let pair = key("last");
		let proof = sign_proof(&pair, OWNER, KeyProofPurpose::Register);
		assert_noop!(
			DeviceRegistry::register_device(
				RuntimeOrigin::signed(OWNER),
				DeviceKind::HomeBattery,
				battery(),
				region("DE-TENNET"),
				metadata(),
				comfort(),
				GATEWAY,
				pair.public().into(),
				proof,
			),
			Error::<Test>::DeviceIdOverflow
		);
	});
}

#[test]
fn every_owner_call_refuses_an_unknown_device() {
	run_test(|| {
		let owner = || RuntimeOrigin::signed(OWNER);
		let verifier = || RuntimeOrigin::signed(VERIFIER);
		let pair = key("new");
		let proof = sign_proof(&pair, OWNER, KeyProofPurpose::Rotate(99));
		let unknown = || Error::<Test>::UnknownDevice;
		assert_noop!(DeviceRegistry::reject_device(verifier(), 99, text("x")), unknown());
		assert_noop!(DeviceRegistry::reinstate_device(verifier(), 99), unknown());
		assert_noop!(DeviceRegistry::retire_device(owner(), 99), unknown());
		assert_noop!(DeviceRegistry::offer_ownership(owner(), 99, OTHER), unknown());
		assert_noop!(DeviceRegistry::cancel_ownership_offer(owner(), 99), unknown());
		assert_noop!(DeviceRegistry::accept_ownership(RuntimeOrigin::signed(OTHER), 99), unknown());
		assert_noop!(DeviceRegistry::rebind_gateway(owner(), 99, OTHER), unknown());
		assert_noop!(
			DeviceRegistry::rotate_attestation_key(owner(), 99, pair.public().into(), proof),
			unknown()
		);
		assert_noop!(DeviceRegistry::update_metadata(owner(), 99, metadata()), unknown());
		assert_noop!(DeviceRegistry::update_comfort_limits(owner(), 99, comfort()), unknown());
	});
}

#[test]
fn rejected_devices_stay_rejected_until_retired() {
	run_test(|| {
		let verifier = || RuntimeOrigin::signed(VERIFIER);
		let id = register(OWNER, "battery");
		assert_ok!(DeviceRegistry::reject_device(verifier(), id, text("no certificate")));
		// Rejected is final for verifiers: no second rejection, no reinstatement.
		assert_noop!(
			DeviceRegistry::reject_device(verifier(), id, text("again")),
			Error::<Test>::NotPending
		);
		assert_noop!(DeviceRegistry::reinstate_device(verifier(), id), Error::<Test>::NotSuspended);
		// A suspended device cannot be rejected either.
		let active = register_active(OWNER, "other");
		assert_ok!(DeviceRegistry::suspend_device(verifier(), active, text("audit")));
		assert_noop!(
			DeviceRegistry::reject_device(verifier(), active, text("x")),
			Error::<Test>::NotPending
		);
		// The owner retires the rejected device and gets the deposit back.
		assert_ok!(DeviceRegistry::retire_device(RuntimeOrigin::signed(OWNER), id));
		assert_eq!(held(OWNER), DEPOSIT);
	});
}

#[test]
fn reputation_is_clamped_and_keeps_a_bounded_history() {
	run_test(|| {
		let id = register_active(OWNER, "battery");
		assert_eq!(
			DeviceRegistry::record_reputation(id, 6_000, ReputationReason::DemandResponse),
			Ok(10_000)
		);
		assert_eq!(
			DeviceRegistry::record_reputation(id, -25_000, ReputationReason::DataQuality),
			Ok(0)
		);
		assert_eq!(
			DeviceRegistry::record_reputation(id, 300, ReputationReason::Availability),
			Ok(300)
		);
		assert_eq!(
			DeviceRegistry::record_reputation(id, 200, ReputationReason::Governance),
			Ok(500)
		);
		let credit = Devices::<Test>::get(id).unwrap().credit;
		assert_eq!(credit.reputation_bp, 500);
		// The history keeps the three latest changes (ReputationHistoryLen = 3), oldest first.
		let reasons: Vec<_> =
			credit.recent_changes.iter().map(|c| (c.reason, c.score_bp)).collect();
		assert_eq!(
			reasons,
			vec![
				(ReputationReason::DataQuality, 0),
				(ReputationReason::Availability, 300),
				(ReputationReason::Governance, 500)
			]
		);
		assert_eq!(
			last_event(),
			Event::ReputationChanged {
				device_id: id,
				delta_bp: 200,
				score_bp: 500,
				reason: ReputationReason::Governance
			}
			.into()
		);
		assert_eq!(
			DeviceRegistry::record_reputation(99, 1, ReputationReason::Governance),
			Err(DeviceLookupError::Unknown)
		);
	});
}

#[test]
fn indexes_page_through_an_owners_devices() {
	run_test(|| {
		let ids: Vec<DeviceId> = (0..7).map(|i| register(OWNER, &format!("d{i}"))).collect();
		register(OTHER, "someone-else");
		let mut seen = Vec::new();
		let mut cursor = None;
		loop {
			let page = DeviceRegistry::devices_of_owner(OWNER, cursor, 3);
			assert!(page.len() <= 3);
			if page.is_empty() {
				break;
			}
			cursor = page.last().copied();
			seen.extend(page);
		}
		seen.sort();
		assert_eq!(seen, ids);
		let all = DeviceRegistry::devices_of_gateway(GATEWAY, None, 1_000);
		assert_eq!(all.len(), 8);
	});
}

#[test]
fn genesis_devices_are_active_with_deposits_held() {
	let mut storage = frame_system::GenesisConfig::<Test>::default().build_storage().unwrap();
	pallet_balances::GenesisConfig::<Test> {
		balances: vec![(OWNER, START_BALANCE)],
		..Default::default()
	}
	.assimilate_storage(&mut storage)
	.unwrap();
	crate::GenesisConfig::<Test> {
		verifiers: vec![VERIFIER],
		devices: vec![GenesisDevice {
			owner: OWNER,
			gateway: GATEWAY,
			kind: DeviceKind::HomeBattery,
			capability: battery(),
			region: "NL-TENNET".into(),
			attestation_key: key("genesis").public().into(),
			comfort: comfort(),
			manufacturer: "Acme".into(),
			model: "X".into(),
			serial_number: "1".into(),
			firmware_version: "1.0".into(),
			site_meter: None,
		}],
	}
	.assimilate_storage(&mut storage)
	.unwrap();
	sp_io::TestExternalities::new(storage).execute_with(|| {
		let record = Devices::<Test>::get(1).unwrap();
		assert_eq!(record.status, DeviceStatus::Active);
		assert_eq!(record.region, region("NL-TENNET"));
		assert_eq!(held(OWNER), DEPOSIT);
		assert!(Verifiers::<Test>::contains_key(VERIFIER));
		assert_eq!(
			RegionCapacities::<Test>::get(region("NL-TENNET"), DeviceKind::HomeBattery)
				.active_devices,
			1
		);
		DeviceRegistry::do_try_state().unwrap();
	});
}

// ---- sites -------------------------------------------------------------------------------

fn meter(owner: AccountId, seed: &str) -> DeviceId {
	let id = register_with(
		owner,
		DeviceKind::SmartMeter,
		Capability { rated_power_w: 40_000, ..Default::default() },
		ComfortLimits::default(),
		&key(seed),
	)
	.unwrap();
	assert_ok!(DeviceRegistry::approve_device(RuntimeOrigin::signed(VERIFIER), id));
	id
}

fn set_site(owner: AccountId, device: DeviceId, meter: Option<DeviceId>) -> DispatchResult {
	DeviceRegistry::set_site_meter(RuntimeOrigin::signed(owner), device, meter)
}

#[test]
fn owners_put_devices_behind_their_meters_and_move_them() {
	run_test(|| {
		let house = meter(OWNER, "house");
		let garage = meter(OWNER, "garage");
		let battery = register_active(OWNER, "battery");
		let pending = register(OWNER, "pending");

		assert_ok!(set_site(OWNER, battery, Some(house)));
		assert_eq!(
			last_event(),
			Event::SiteMeterChanged { device_id: battery, meter: Some(house) }.into()
		);
		// A device that is not active yet may be declared too.
		assert_ok!(set_site(OWNER, pending, Some(house)));
		assert_eq!(SiteDevices::<Test>::get(house).into_inner(), vec![battery, pending]);
		assert_eq!(DeviceRegistry::devices_behind(house), vec![battery, pending]);
		assert_eq!(DeviceRegistry::devices_behind(battery), Vec::<DeviceId>::new());
		assert_eq!(DeviceRegistry::active_device(battery).unwrap().site_meter, Some(house));
		assert_noop!(set_site(OWNER, battery, Some(house)), Error::<Test>::Unchanged);

		// Moving leaves the old site.
		assert_ok!(set_site(OWNER, battery, Some(garage)));
		assert_eq!(SiteDevices::<Test>::get(house).into_inner(), vec![pending]);
		assert_eq!(SiteDevices::<Test>::get(garage).into_inner(), vec![battery]);
		// Behind no meter; an emptied site is removed.
		assert_ok!(set_site(OWNER, battery, None));
		assert_ok!(set_site(OWNER, pending, None));
		assert!(!SiteDevices::<Test>::contains_key(house));
		assert!(!SiteDevices::<Test>::contains_key(garage));
		assert_eq!(DeviceRegistry::active_device(battery).unwrap().site_meter, None);
		assert_noop!(set_site(OWNER, battery, None), Error::<Test>::Unchanged);
	});
}

#[test]
fn a_site_is_one_owners_meter_in_the_devices_region() {
	run_test(|| {
		let house = meter(OWNER, "house");
		let other_meter = meter(OTHER, "other");
		let battery = register_active(OWNER, "battery");
		let second = register_active(OWNER, "second");
		let third = register_active(OWNER, "third");
		let fourth = register_active(OWNER, "fourth");

		assert_noop!(set_site(OTHER, battery, Some(other_meter)), Error::<Test>::NotOwner);
		assert_noop!(set_site(OWNER, battery, Some(other_meter)), Error::<Test>::NotOwner);
		assert_noop!(set_site(OWNER, battery, Some(99)), Error::<Test>::UnknownDevice);
		assert_noop!(set_site(OWNER, 99, Some(house)), Error::<Test>::UnknownDevice);
		assert_noop!(set_site(OWNER, battery, Some(second)), Error::<Test>::NotAMeter);
		let garage = meter(OWNER, "garage");
		assert_noop!(set_site(OWNER, garage, Some(house)), Error::<Test>::MeterCannotBeBehindMeter);

		let pair = key("far-meter");
		let far = NextDeviceId::<Test>::get();
		assert_ok!(DeviceRegistry::register_device(
			RuntimeOrigin::signed(OWNER),
			DeviceKind::SmartMeter,
			Capability { rated_power_w: 40_000, ..Default::default() },
			region("NL-TENNET"),
			metadata(),
			ComfortLimits::default(),
			GATEWAY,
			pair.public().into(),
			sign_proof(&pair, OWNER, KeyProofPurpose::Register),
		));
		assert_noop!(set_site(OWNER, battery, Some(far)), Error::<Test>::SiteRegionMismatch);

		// A device in a demand-response event stays where it is until the event is over.
		set_committed(battery, true);
		assert_noop!(set_site(OWNER, battery, Some(house)), Error::<Test>::DeviceCommitted);
		set_committed(battery, false);

		// Three devices at most behind one meter in the mock.
		assert_ok!(set_site(OWNER, battery, Some(house)));
		assert_ok!(set_site(OWNER, second, Some(house)));
		assert_ok!(set_site(OWNER, third, Some(house)));
		assert_noop!(set_site(OWNER, fourth, Some(house)), Error::<Test>::SiteFull);
	});
}

#[test]
fn devices_leave_their_site_when_retired_or_sold_and_a_meter_goes_last() {
	run_test(|| {
		let house = meter(OWNER, "house");
		let battery = register_active(OWNER, "battery");
		let solar = register_active(OWNER, "solar");
		assert_ok!(set_site(OWNER, battery, Some(house)));
		assert_ok!(set_site(OWNER, solar, Some(house)));

		// The meter cannot go while devices sit behind it.
		assert_noop!(
			DeviceRegistry::retire_device(RuntimeOrigin::signed(OWNER), house),
			Error::<Test>::SiteNotEmpty
		);
		assert_noop!(
			DeviceRegistry::offer_ownership(RuntimeOrigin::signed(OWNER), house, OTHER),
			Error::<Test>::SiteNotEmpty
		);

		assert_ok!(DeviceRegistry::retire_device(RuntimeOrigin::signed(OWNER), battery));
		assert_eq!(SiteDevices::<Test>::get(house).into_inner(), vec![solar]);

		// A sold device leaves the seller's site.
		assert_ok!(DeviceRegistry::offer_ownership(RuntimeOrigin::signed(OWNER), solar, OTHER));
		assert_ok!(DeviceRegistry::accept_ownership(RuntimeOrigin::signed(OTHER), solar));
		assert_eq!(Devices::<Test>::get(solar).unwrap().site_meter, None);
		assert!(!SiteDevices::<Test>::contains_key(house));
		assert!(System::events().iter().any(|record| record.event
			== Event::SiteMeterChanged { device_id: solar, meter: None }.into()));

		// An offer made while the site was empty cannot be accepted once it is not.
		assert_ok!(DeviceRegistry::offer_ownership(RuntimeOrigin::signed(OWNER), house, OTHER));
		let heat_pump = register_active(OWNER, "heat-pump");
		assert_ok!(set_site(OWNER, heat_pump, Some(house)));
		assert_noop!(
			DeviceRegistry::accept_ownership(RuntimeOrigin::signed(OTHER), house),
			Error::<Test>::SiteNotEmpty
		);
		assert_ok!(set_site(OWNER, heat_pump, None));
		assert_ok!(DeviceRegistry::accept_ownership(RuntimeOrigin::signed(OTHER), house));
		assert_ok!(DeviceRegistry::retire_device(RuntimeOrigin::signed(OTHER), house));
	});
}

#[test]
fn genesis_devices_may_sit_behind_a_genesis_meter_listed_after_them() {
	let mut storage = frame_system::GenesisConfig::<Test>::default().build_storage().unwrap();
	pallet_balances::GenesisConfig::<Test> {
		balances: vec![(OWNER, START_BALANCE)],
		..Default::default()
	}
	.assimilate_storage(&mut storage)
	.unwrap();
	let device = |kind, capability, seed: &str, site_meter| GenesisDevice {
		owner: OWNER,
		gateway: GATEWAY,
		kind,
		capability,
		region: "DE-TENNET".into(),
		attestation_key: key(seed).public().into(),
		comfort: ComfortLimits::default(),
		manufacturer: String::new(),
		model: String::new(),
		serial_number: String::new(),
		firmware_version: String::new(),
		site_meter,
	};
	crate::GenesisConfig::<Test> {
		verifiers: vec![],
		devices: vec![
			device(DeviceKind::HomeBattery, battery(), "battery", Some(2)),
			device(
				DeviceKind::SmartMeter,
				Capability { rated_power_w: 40_000, ..Default::default() },
				"meter",
				None,
			),
		],
	}
	.assimilate_storage(&mut storage)
	.unwrap();
	sp_io::TestExternalities::new(storage).execute_with(|| {
		assert_eq!(Devices::<Test>::get(1).unwrap().site_meter, Some(2));
		assert_eq!(SiteDevices::<Test>::get(2).into_inner(), vec![1]);
		DeviceRegistry::do_try_state().unwrap();
	});
}
