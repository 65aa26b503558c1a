//! The gateway's types and keys against the runtime of this tree.

use codec::Encode;
use openvpp_runtime::Runtime;
use scale_info::TypeInfo;

use super::{storage as keys, Call};
use crate::compat::{expected, shape, test_runtime, Item};

#[test]
fn storage_keys_are_the_runtimes() {
	use pallet_demand_response as dr;
	let owner = sp_core::crypto::AccountId32::new([5; 32]);
	let rank = dr::RankKey([3; 10]);
	let pairs: Vec<(Vec<u8>, Vec<u8>)> = vec![
		(keys::timestamp_now(), pallet_timestamp::Now::<Runtime>::hashed_key().to_vec()),
		(keys::device(7), pallet_device_registry::Devices::<Runtime>::hashed_key_for(7)),
		(
			keys::registration_nonce(&owner),
			pallet_device_registry::RegistrationNonces::<Runtime>::hashed_key_for(&owner),
		),
		(
			keys::device_telemetry(7),
			pallet_telemetry::DeviceTelemetry::<Runtime>::hashed_key_for(7),
		),
		(
			keys::min_interval_length_s(),
			pallet_telemetry::MinIntervalLengthS::<Runtime>::hashed_key().to_vec(),
		),
		(keys::enrolment(7), dr::Enrolments::<Runtime>::hashed_key_for(7)),
		(keys::dr_event(4), dr::Events::<Runtime>::hashed_key_for(4)),
		(keys::participant(4, &rank), dr::Participants::<Runtime>::hashed_key_for(4, rank)),
		(keys::open_events(), dr::OpenEvents::<Runtime>::hashed_key().to_vec()),
		(
			keys::system_events(),
			frame_support::storage::storage_prefix(b"System", b"Events").to_vec(),
		),
	];
	for (index, (ours, theirs)) in pairs.iter().enumerate() {
		assert_eq!(ours, theirs, "key {index}");
	}
}

/// The fingerprint of a type of the gateway's, in short hex.
fn fingerprint_of<T: TypeInfo + 'static>() -> String {
	let mut registry = scale_info::Registry::new();
	let id = registry.register_type(&scale_info::meta_type::<T>()).id;
	shape::short(&shape::fingerprint(&registry.into(), id))
}

fn recorded(pallet: &'static str, entry: &'static str, part: &str) -> String {
	let shape = expected().get(&Item::Storage { pallet, entry }).cloned().unwrap().unwrap();
	shape.get(part).cloned().unwrap()
}

#[test]
fn stored_values_decode_into_the_gateways_types() {
	use pallet_demand_response::EventId;
	let values = [
		("DeviceRegistry", "Devices", fingerprint_of::<keys::DeviceRecord>()),
		("DeviceRegistry", "RegistrationNonces", fingerprint_of::<u32>()),
		("Telemetry", "DeviceTelemetry", fingerprint_of::<keys::DeviceTelemetryState>()),
		("Telemetry", "MinIntervalLengthS", fingerprint_of::<u32>()),
		("Timestamp", "Now", fingerprint_of::<u64>()),
		("DemandResponse", "Enrolments", fingerprint_of::<pallet_demand_response::Enrolment>()),
		("DemandResponse", "Events", fingerprint_of::<keys::DrEvent>()),
		("DemandResponse", "Participants", fingerprint_of::<keys::Participant>()),
		(
			"DemandResponse",
			"OpenEvents",
			fingerprint_of::<frame_support::BoundedVec<EventId, keys::AnyLength>>(),
		),
	];
	let count = values.len();
	for (pallet, entry, ours) in values {
		assert_eq!(ours, recorded(pallet, entry, "value"), "{pallet}.{entry}");
	}
	// Every storage item the gateway and its views read is covered.
	let covered = crate::compat::GATEWAY
		.iter()
		.chain(crate::compat::VIEWS)
		.filter(|item| matches!(item, Item::Storage { .. }))
		.count();
	assert_eq!(covered, count);
}

#[test]
fn calls_encode_as_the_runtimes() {
	let runtime = test_runtime::node();
	let reports = Vec::new();
	let submit = runtime
		.encode_call(&Call::SubmitReports { reports, raw_data_digest: Some([1; 32].into()) })
		.unwrap();
	let theirs = openvpp_runtime::RuntimeCall::Telemetry(pallet_telemetry::Call::submit_reports {
		reports: Default::default(),
		raw_data_digest: Some([1; 32].into()),
	});
	assert_eq!(submit, theirs.encode());
	let join =
		runtime.encode_call(&Call::JoinEvent { event: 3, device: 9, committed_w: 4_000 }).unwrap();
	let theirs =
		openvpp_runtime::RuntimeCall::DemandResponse(pallet_demand_response::Call::join_event {
			event: 3,
			device: 9,
			committed_w: 4_000,
		});
	assert_eq!(join, theirs.encode());
}
