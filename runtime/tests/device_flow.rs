//! The OpenVPP pallets together in the real runtime: signed extrinsics go through the full
//! extrinsic path (signature, nonce, fees, dispatch) of a chain built from the development
//! genesis preset, with its demo fleet.

#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

mod common;

use common::*;

use codec::Encode;
use frame_support::{assert_ok, traits::fungible::InspectHold, BoundedVec};
use openvpp_primitives::{
	AttestationSignature, Capability, ComfortLimits, DeviceKind, DeviceState, DeviceStatus,
	GridResponseStatus, IntervalReport, KeyOwnershipProof, KeyProofPurpose, QualityFlags,
	RejectionReason, SignedReport,
};
use openvpp_runtime::{
	demo_fleet, AccountId, Balances, DeviceRegistry, Runtime, RuntimeCall, RuntimeEvent,
	RuntimeHoldReason, System, Telemetry,
};
use sp_core::{ecdsa, Pair, H256};
use sp_keyring::Sr25519Keyring;
use sp_runtime::DispatchError;

#[test]
fn every_genesis_preset_builds() {
	for preset in openvpp_runtime::genesis_config_presets::preset_names() {
		chain_from_preset(&preset).execute_with(|| {
			DeviceRegistry::do_try_state().expect("registry invariants");
		});
	}
}

#[test]
fn the_development_chain_has_the_demo_fleet_active() {
	chain_from_preset("development").execute_with(|| {
		let fleet = demo_fleet::demo_fleet();
		assert_eq!(pallet_device_registry::DeviceCount::<Runtime>::get() as usize, fleet.len());
		for (index, device) in fleet.iter().enumerate() {
			let record = pallet_device_registry::Devices::<Runtime>::get(index as u32 + 1).unwrap();
			assert_eq!(record.kind, device.kind);
			assert_eq!(record.status, DeviceStatus::Active);
			assert_eq!(record.owner, device.owner.to_account_id());
			assert_eq!(record.gateway, demo_fleet::DEMO_GATEWAY.to_account_id());
			assert_eq!(record.attestation_key, device.attestation_key);
		}
		assert!(pallet_device_registry::Verifiers::<Runtime>::contains_key(
			demo_fleet::DEMO_VERIFIER.to_account_id()
		));
	});
}

/// Eve's call registering an ECDSA home battery in NL-TENNET, bound to the demo gateway, with
/// a proof of possession by `device_key`.
fn register_call(owner_account: &AccountId, device_key: &ecdsa::Pair) -> RuntimeCall {
	let proof = KeyOwnershipProof::new(
		KeyProofPurpose::Register,
		System::block_hash(0),
		owner_account.clone(),
		pallet_device_registry::RegistrationNonces::<Runtime>::get(owner_account),
	);
	RuntimeCall::DeviceRegistry(pallet_device_registry::Call::register_device {
		kind: DeviceKind::HomeBattery,
		capability: Capability {
			rated_power_w: 10_000,
			storage_capacity_wh: Some(20_000),
			max_charge_w: Some(10_000),
			max_discharge_w: Some(10_000),
		},
		region: BoundedVec::truncate_from(b"NL-TENNET".to_vec()),
		metadata: Default::default(),
		comfort: ComfortLimits { min_reserve_soc_bp: 1_500, dispatch_windows: Default::default() },
		gateway: demo_fleet::DEMO_GATEWAY.to_account_id(),
		attestation_key: device_key.public().into(),
		proof: AttestationSignature::Ecdsa(device_key.sign(&proof.encode())),
	})
}

#[test]
fn a_device_is_registered_verified_queried_and_retired_through_extrinsics() {
	chain_from_preset("development").execute_with(|| {
		let owner = Sr25519Keyring::Eve;
		let owner_account: AccountId = owner.to_account_id();
		let device_key = ecdsa::Pair::from_string("//eve-home-battery", None).unwrap();
		let deposit: u128 = <Runtime as pallet_device_registry::Config>::DeviceDeposit::get();
		let free_before = Balances::free_balance(&owner_account);

		let register = register_call(&owner_account, &device_key);
		assert_ok!(apply(owner, register));
		let id = 8;
		let record = pallet_device_registry::Devices::<Runtime>::get(id).unwrap();
		assert_eq!(record.status, DeviceStatus::Pending);
		assert_eq!(record.deposit, deposit);
		let hold =
			RuntimeHoldReason::DeviceRegistry(pallet_device_registry::HoldReason::DeviceDeposit);
		assert_eq!(Balances::balance_on_hold(&hold, &owner_account), deposit);

		// Only a verifier may approve.
		let approve = RuntimeCall::DeviceRegistry(pallet_device_registry::Call::approve_device {
			device_id: id,
		});
		assert_eq!(
			apply(Sr25519Keyring::Bob, approve.clone()),
			Err(DispatchError::Module(sp_runtime::ModuleError {
				index: 30,
				error: [2, 0, 0, 0],
				message: Some("NotVerifier")
			}))
		);
		assert_ok!(apply(demo_fleet::DEMO_VERIFIER, approve));
		assert_eq!(
			pallet_device_registry::Devices::<Runtime>::get(id).unwrap().status,
			DeviceStatus::Active
		);
		let capacity = pallet_device_registry::RegionCapacities::<Runtime>::get(
			BoundedVec::truncate_from(b"NL-TENNET".to_vec()),
			DeviceKind::HomeBattery,
		);
		assert_eq!((capacity.active_devices, capacity.rated_power_w), (1, 10_000));
		assert_eq!(DeviceRegistry::devices_of_owner(owner_account.clone(), None, 10), vec![id]);

		// Retiring releases the deposit: only the transaction fees are gone.
		assert_ok!(apply(
			owner,
			RuntimeCall::DeviceRegistry(pallet_device_registry::Call::retire_device {
				device_id: id
			})
		));
		assert!(pallet_device_registry::Devices::<Runtime>::get(id).is_none());
		assert_eq!(Balances::balance_on_hold(&hold, &owner_account), 0);
		let fees = free_before - Balances::free_balance(&owner_account);
		assert!(fees > 0 && fees < openvpp_runtime::OVPP / 10, "fees {fees}");
		DeviceRegistry::do_try_state().unwrap();
	});
}

/// A plausible report for each demo device over the quarter hour before noon.
fn demo_reports() -> Vec<IntervalReport> {
	demo_fleet::demo_fleet()
		.iter()
		.enumerate()
		.map(|(index, device)| {
			let (power_w, soc_bp): (i32, Option<u16>) = match device.kind {
				DeviceKind::ElectricVehicle => (-7_000, Some(6_000)),
				DeviceKind::EvCharger => (-7_000, None),
				DeviceKind::HomeBattery => (3_000, Some(7_000)),
				DeviceKind::CommercialBattery => (-100_000, Some(4_000)),
				DeviceKind::RooftopSolar => (6_000, None),
				DeviceKind::SmartMeter => (-2_000, None),
				DeviceKind::EnergyManagementSystem => (-1_500, None),
			};
			let energy_wh = u64::from(power_w.unsigned_abs()) / 4;
			let (imported, exported) = if power_w < 0 { (energy_wh, 0) } else { (0, energy_wh) };
			IntervalReport {
				device_id: index as u32 + 1,
				sequence: 1,
				interval_start: NOON - 900,
				interval_length_s: 900,
				energy_imported_wh: imported,
				energy_exported_wh: exported,
				cumulative_imported_wh: 1_000_000 + imported,
				cumulative_exported_wh: 2_000_000 + exported,
				average_power_w: power_w,
				peak_power_w: power_w,
				soc_bp,
				device_state: if device.kind == DeviceKind::EvCharger {
					DeviceState::EvCharging
				} else {
					DeviceState::Operating
				},
				grid_response: GridResponseStatus::Idle,
				online_s: 900,
				quality: QualityFlags::default(),
			}
		})
		.collect()
}

/// A plausible report for the device registered by [`register_call`]: 2.5 kWh charged over the
/// quarter hour before noon, ending at 60 %.
fn registered_battery_report(device_id: u32) -> IntervalReport {
	IntervalReport {
		device_id,
		sequence: 1,
		interval_start: NOON - 900,
		interval_length_s: 900,
		energy_imported_wh: 2_500,
		energy_exported_wh: 0,
		cumulative_imported_wh: 2_500,
		cumulative_exported_wh: 0,
		average_power_w: -10_000,
		peak_power_w: -10_000,
		soc_bp: Some(6_000),
		device_state: DeviceState::Operating,
		grid_response: GridResponseStatus::Idle,
		online_s: 900,
		quality: QualityFlags::default(),
	}
}

#[test]
fn a_gateway_batch_updates_the_status_map_free_of_charge_and_a_tampered_copy_is_rejected() {
	chain_from_preset("development").execute_with(|| {
		let gateway = demo_fleet::DEMO_GATEWAY;
		let gateway_account = gateway.to_account_id();

		// A device registered and verified through extrinsics joins the demo fleet, before the
		// quarter hour its first report covers (no report may claim time before approval).
		pallet_timestamp::Now::<Runtime>::put((NOON - 1_000) * 1_000);
		let owner = Sr25519Keyring::Eve;
		let device_key = ecdsa::Pair::from_string("//eve-home-battery", None).unwrap();
		assert_ok!(apply(owner, register_call(&owner.to_account_id(), &device_key)));
		let new_id = 8;
		assert_ok!(apply(
			demo_fleet::DEMO_VERIFIER,
			RuntimeCall::DeviceRegistry(pallet_device_registry::Call::approve_device {
				device_id: new_id
			})
		));
		pallet_timestamp::Now::<Runtime>::put(NOON * 1_000);
		let new_signed = sign_ecdsa(&device_key, registered_battery_report(new_id));

		let free_before = Balances::free_balance(&gateway_account);
		let mut reports: Vec<SignedReport> = demo_reports().into_iter().map(sign_demo).collect();
		reports.push(new_signed);
		let submit = |reports: Vec<SignedReport>| {
			RuntimeCall::Telemetry(pallet_telemetry::Call::submit_reports {
				reports: BoundedVec::truncate_from(reports),
				raw_data_digest: Some(H256::repeat_byte(0x42)),
			})
		};
		assert_ok!(apply(gateway, submit(reports.clone())));
		let digest_fee = events()
			.iter()
			.find_map(|e| match e {
				RuntimeEvent::Telemetry(pallet_telemetry::Event::BatchProcessed {
					accepted: 8,
					flagged: 0,
					rejected: 0,
					digest_stored: true,
					fee: pallet_telemetry::BatchFee::Share(fee),
					..
				}) => Some(*fee),
				_ => None,
			})
			.expect("the batch is processed and its digest stored");
		// An all-accepted batch pays no transaction fee; storing its digest is paid.
		assert!(digest_fee > 0);
		assert_eq!(Balances::free_balance(&gateway_account), free_before - digest_fee);

		let map = Telemetry::energy_status_map();
		let tennet: Vec<_> = map.iter().filter(|e| e.region.as_slice() == b"DE-TENNET").collect();
		assert_eq!(tennet.len(), 6);
		let total_devices: u32 = map.iter().map(|e| e.figures.devices).sum();
		assert_eq!(total_devices, 8);
		// The solar sits behind Alice's meter: it counts as a device, and its 6 kW reach the
		// grid figures through the meter (as part of the house's exchange), not a second time.
		let solar = map.iter().find(|e| e.kind == DeviceKind::RooftopSolar).unwrap();
		assert_eq!((solar.figures.devices, solar.figures.generation_w), (1, 0));
		let ci = map.iter().find(|e| e.kind == DeviceKind::CommercialBattery).unwrap();
		assert_eq!(ci.region.as_slice(), b"DE-AMPRION");
		assert_eq!(ci.figures.consumption_w, 100_000);
		// (40 % − 10 % reserve) of 500 kWh.
		assert_eq!(ci.figures.storage_available_wh, 150_000);
		// The new battery: (60 % − 15 % reserve) of 20 kWh, drawing 10 kW.
		let nl = Telemetry::region_figures(BoundedVec::truncate_from(b"NL-TENNET".to_vec()));
		assert_eq!(nl.len(), 1);
		assert_eq!((nl[0].1.storage_available_wh, nl[0].1.consumption_w), (9_000, 10_000));

		// A tampered copy of the same batch, one way per report: each is refused with its own
		// reason, nothing changes, and the batch pays its fee.
		System::reset_events();
		start_block(2, NOON + 10);
		let tampered: Vec<SignedReport> = reports
			.into_iter()
			.enumerate()
			.map(|(index, mut signed)| {
				match index {
					// Replayed as it was.
					0 => {}
					// Re-labelled as another device.
					1 => signed.report.device_id = 3,
					// Claimed for a device that does not exist.
					2 => signed.report.device_id = 999,
					// Moved to the next interval without a new signature.
					_ => {
						signed.report.sequence += 1;
						signed.report.interval_start += 900;
					}
				}
				signed
			})
			.collect();
		let replayed_before = pallet_telemetry::DeviceTelemetry::<Runtime>::get(1);
		assert_ok!(apply(gateway, submit(tampered)));
		let rejected: Vec<_> = events()
			.into_iter()
			.filter_map(|e| match e {
				RuntimeEvent::Telemetry(pallet_telemetry::Event::ReportRejected {
					device_id,
					reason,
					..
				}) => Some((device_id, reason)),
				_ => None,
			})
			.collect();
		let mut expected = vec![
			(1, RejectionReason::SequenceNotIncreasing),
			(3, RejectionReason::BadSignature),
			(999, RejectionReason::UnknownDevice),
		];
		expected.extend((4..=8).map(|id| (id, RejectionReason::BadSignature)));
		assert_eq!(rejected, expected);
		// A replay changes nothing at all; forged reports only count against their devices.
		assert_eq!(pallet_telemetry::DeviceTelemetry::<Runtime>::get(1), replayed_before);
		let forged = pallet_telemetry::DeviceTelemetry::<Runtime>::get(5).unwrap();
		assert_eq!((forged.last_sequence, forged.epoch.rejected), (1, 1));
		assert!(Balances::free_balance(&gateway_account) < free_before);
		Telemetry::do_try_state().unwrap();
		DeviceRegistry::do_try_state().unwrap();
	});
}

/// The `BatchProcessed` events of the current block, as (accepted, flagged, rejected, fee).
fn batch_events() -> Vec<(u32, u32, u32, pallet_telemetry::BatchFee<u128>)> {
	events()
		.into_iter()
		.filter_map(|e| match e {
			RuntimeEvent::Telemetry(pallet_telemetry::Event::BatchProcessed {
				accepted,
				flagged,
				rejected,
				fee,
				..
			}) => Some((accepted, flagged, rejected, fee)),
			_ => None,
		})
		.collect()
}

#[test]
fn a_bad_report_costs_its_gateway_its_share_in_ovpp() {
	chain_from_preset("development").execute_with(|| {
		let gateway = demo_fleet::DEMO_GATEWAY;
		let gateway_account = gateway.to_account_id();
		let submit = |reports: Vec<SignedReport>| {
			RuntimeCall::Telemetry(pallet_telemetry::Call::submit_reports {
				reports: BoundedVec::truncate_from(reports),
				raw_data_digest: None,
			})
		};

		// Seven plausible reports and one that claims a state of charge above 100 %: the
		// gateway pays for one report's share, in real OVPP, and nothing else.
		let mut reports: Vec<IntervalReport> = demo_reports();
		reports[2].soc_bp = Some(10_001);
		let signed: Vec<SignedReport> = reports.into_iter().map(sign_demo).collect();
		let before = Balances::free_balance(&gateway_account);
		assert_ok!(apply(gateway, submit(signed)));
		let share = match batch_events().as_slice() {
			[(6, 1, 0, pallet_telemetry::BatchFee::Share(fee))] => *fee,
			other => panic!("unexpected batch outcome {other:?}"),
		};
		assert!(share > 0);
		assert_eq!(Balances::free_balance(&gateway_account), before - share);
		let free_weight = Telemetry::fee_free_weight();
		assert!(free_weight.ref_time() > 0);

		// The weight that paid nothing is recorded for the fee multiplier (whose adjustment
		// over it is tested with the runtime's configuration); the whole batch's ordinary fee
		// would have been several times the share.
		let weight_fee = pallet_transaction_payment::Pallet::<Runtime>::weight_to_fee(free_weight);
		assert!(share * 2 < weight_fee, "share {share} vs the free part's weight fee {weight_fee}");
		Telemetry::do_try_state().unwrap();
	});
}

#[test]
fn retiring_a_device_brings_its_last_epoch_into_its_history() {
	chain_from_preset("development").execute_with(|| {
		let gateway = demo_fleet::DEMO_GATEWAY;
		let ems = 7;
		let report = demo_reports().into_iter().find(|r| r.device_id == ems).unwrap();
		assert_ok!(apply(
			gateway,
			RuntimeCall::Telemetry(pallet_telemetry::Call::submit_reports {
				reports: BoundedVec::truncate_from(vec![sign_demo(report.clone())]),
				raw_data_digest: None,
			})
		));
		// The epoch is still open: nothing in the history yet.
		let record = pallet_device_registry::Devices::<Runtime>::get(ems).unwrap();
		assert_eq!(record.history.reports_accepted, 0);

		// Its owner retires it: the open epoch is closed into the history the event carries.
		let owner = demo_fleet::demo_fleet()[ems as usize - 1].owner;
		System::reset_events();
		assert_ok!(apply(
			owner,
			RuntimeCall::DeviceRegistry(pallet_device_registry::Call::retire_device {
				device_id: ems
			})
		));
		let history = events()
			.into_iter()
			.find_map(|e| match e {
				RuntimeEvent::DeviceRegistry(pallet_device_registry::Event::DeviceRetired {
					history,
					..
				}) => Some(history),
				_ => None,
			})
			.expect("the device was retired");
		assert_eq!(history.reports_accepted, 1);
		assert_eq!(history.energy_consumed_wh, report.energy_imported_wh);
		assert!(pallet_telemetry::DeviceTelemetry::<Runtime>::get(ems).is_none());
		Telemetry::do_try_state().unwrap();
		DeviceRegistry::do_try_state().unwrap();
	});
}

#[test]
fn a_rotated_key_and_a_rebound_gateway_hold_from_the_next_report() {
	chain_from_preset("development").execute_with(|| {
		let ems = 7;
		let owner = demo_fleet::demo_fleet()[ems as usize - 1].owner;
		let first = demo_reports().into_iter().find(|r| r.device_id == ems).unwrap();
		let submit = |gateway: Sr25519Keyring, reports: Vec<SignedReport>| {
			System::reset_events();
			assert_ok!(apply(
				gateway,
				RuntimeCall::Telemetry(pallet_telemetry::Call::submit_reports {
					reports: BoundedVec::truncate_from(reports),
					raw_data_digest: None,
				})
			));
			events()
				.into_iter()
				.find_map(|e| match e {
					RuntimeEvent::Telemetry(pallet_telemetry::Event::ReportRejected {
						reason,
						..
					}) => Some(Err(reason)),
					RuntimeEvent::Telemetry(pallet_telemetry::Event::BatchProcessed {
						accepted: 1,
						..
					}) => Some(Ok(())),
					_ => None,
				})
				.expect("the batch was processed")
		};
		let facts = || pallet_telemetry::DeviceTelemetry::<Runtime>::get(ems).unwrap().facts.0;
		// The interval after `report`, its counters moved on by its energy.
		let after = |report: &IntervalReport| IntervalReport {
			sequence: report.sequence + 1,
			interval_start: report.interval_start + 900,
			cumulative_imported_wh: report.cumulative_imported_wh + report.energy_imported_wh,
			..report.clone()
		};
		let gateway = demo_fleet::DEMO_GATEWAY;
		assert_eq!(submit(gateway, vec![sign_demo(first.clone())]), Ok(()));
		assert_eq!(facts().map(|f| f.gateway), Some(gateway.to_account_id()));

		// The owner rotates the device's key: the state's copy goes, and the old key no longer
		// signs for the device.
		let new_key = ecdsa::Pair::from_string("//ems-rotated", None).unwrap();
		let proof = KeyOwnershipProof::new(
			KeyProofPurpose::Rotate(ems),
			System::block_hash(0),
			owner.to_account_id(),
			pallet_device_registry::RegistrationNonces::<Runtime>::get(owner.to_account_id()),
		);
		assert_ok!(apply(
			owner,
			RuntimeCall::DeviceRegistry(pallet_device_registry::Call::rotate_attestation_key {
				device_id: ems,
				new_key: new_key.public().into(),
				proof: AttestationSignature::Ecdsa(new_key.sign(&proof.encode())),
			})
		));
		assert_eq!(facts(), None);
		start_block(2, NOON + 900);
		let second = after(&first);
		assert_eq!(
			submit(gateway, vec![sign_demo(second.clone())]),
			Err(RejectionReason::BadSignature)
		);
		let sign_new = |report: IntervalReport| sign_ecdsa(&new_key, report);
		assert_eq!(submit(gateway, vec![sign_new(second.clone())]), Ok(()));
		assert_eq!(facts().map(|f| f.attestation_key), Some(new_key.public().into()));

		// The owner moves it to another gateway: its old gateway's batches no longer carry it.
		let new_gateway = Sr25519Keyring::Charlie;
		assert_ok!(apply(
			owner,
			RuntimeCall::DeviceRegistry(pallet_device_registry::Call::rebind_gateway {
				device_id: ems,
				new_gateway: new_gateway.to_account_id(),
			})
		));
		start_block(3, NOON + 1_800);
		let third = after(&second);
		assert_eq!(
			submit(gateway, vec![sign_new(third.clone())]),
			Err(RejectionReason::WrongGateway)
		);
		assert_eq!(submit(new_gateway, vec![sign_new(third)]), Ok(()));
		assert_eq!(facts().map(|f| f.gateway), Some(new_gateway.to_account_id()));
		Telemetry::do_try_state().unwrap();
		DeviceRegistry::do_try_state().unwrap();
	});
}
