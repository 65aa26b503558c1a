use super::{
	expected::{self, expected},
	items, shape,
	test_runtime::{metadata as ours, node_with as node, version},
	*,
};
use crate::wire::{extrinsic::account_of, Call, Event};
use codec::{Compact, Decode, Encode};
use frame_metadata::v14::{PalletMetadata, RuntimeMetadataV14};
use openvpp_primitives::RejectionReason;
use openvpp_runtime::{RuntimeCall, RuntimeEvent, SignedPayload, UncheckedExtrinsic};
use scale_info::{form::PortableForm, TypeDef};
use sp_core::{crypto::Pair, sr25519, H256};
use sp_runtime::traits::Verify;

fn pallet_mut<'a>(
	metadata: &'a mut RuntimeMetadataV14,
	name: &str,
) -> &'a mut PalletMetadata<PortableForm> {
	metadata.pallets.iter_mut().find(|p| p.name == name).unwrap()
}

/// The variant `name` of the enum type `ty`, to edit.
fn variant_mut<'a>(
	metadata: &'a mut RuntimeMetadataV14,
	ty: u32,
	name: &str,
) -> &'a mut scale_info::Variant<PortableForm> {
	let entry = metadata.types.types.iter_mut().find(|t| t.id == ty).unwrap();
	let TypeDef::Variant(variants) = &mut entry.ty.type_def else { panic!("not an enum") };
	variants.variants.iter_mut().find(|v| v.name == name).unwrap()
}

fn event_type(metadata: &RuntimeMetadataV14, pallet: &str) -> u32 {
	metadata.pallets.iter().find(|p| p.name == pallet).unwrap().event.as_ref().unwrap().ty.id
}

fn type_of<T: scale_info::TypeInfo + 'static>(metadata: &RuntimeMetadataV14) -> u32 {
	// A type the runtime already has, found by its structure.
	let mut registry = scale_info::Registry::new();
	let id = registry.register_type(&scale_info::meta_type::<T>()).id;
	let wanted = shape::fingerprint(&registry.into(), id);
	metadata
		.types
		.types
		.iter()
		.find(|t| shape::fingerprint(&metadata.types, t.id) == wanted)
		.unwrap()
		.id
}

/// The recorded shapes are those of the runtime in this tree. Run with `OPENVPP_RECORD_SHAPES=1`
/// to record them again after a runtime change (then make `crate::wire` follow it).
#[test]
fn the_recorded_shapes_are_the_runtimes() {
	let runtime = items::shapes(&ours(), items::all());
	for (item, shape) in &runtime {
		assert!(shape.is_ok(), "{item}: {shape:?}");
	}
	let rendered = expected::render(&runtime);
	if std::env::var_os("OPENVPP_RECORD_SHAPES").is_some() {
		let path = concat!(env!("CARGO_MANIFEST_DIR"), "/src/compat/runtime-shapes.json");
		std::fs::write(path, &rendered).unwrap();
		return;
	}
	let changes = items::diff(expected(), &runtime);
	assert!(
		changes.is_empty() && rendered == expected::RECORDED,
		"the runtime changed what the gateway uses: {}; record the shapes again \
		 (OPENVPP_RECORD_SHAPES=1 cargo test -p openvpp-bridge --lib recorded_shapes) and make \
		 the gateway's types follow",
		changes.iter().map(|c| c.to_string()).collect::<Vec<_>>().join("; ")
	);
}

#[test]
fn every_item_is_recorded() {
	for (item, shape) in expected() {
		assert!(shape.is_ok(), "{item}: {shape:?}");
	}
	assert_eq!(expected().len(), GATEWAY.len() + VIEWS.len() + TOOLS.len());
	// An unreadable document leaves every item unknown, so nothing looks compatible.
	let broken = expected::parse("{ not json");
	assert!(broken.values().all(|shape| shape.is_err()));
	let runtime = NodeRuntime::against(version(1), ours(), &broken);
	assert!(!runtime.is_compatible(GATEWAY));
}

#[test]
fn the_runtime_of_this_tree_is_compatible() {
	let runtime = node(ours());
	assert_eq!(runtime.changes(GATEWAY), vec![]);
	assert_eq!(runtime.changes(VIEWS), vec![]);
	assert_eq!(runtime.changes(TOOLS), vec![]);
	assert!(runtime.is_compatible(GATEWAY));
}

#[test]
fn a_renamed_event_field_is_reported_precisely() {
	let mut metadata = ours();
	let ty = event_type(&metadata, "Telemetry");
	let rejected = variant_mut(&mut metadata, ty, "ReportRejected");
	let reason = rejected.fields.iter_mut().find(|f| f.name.as_deref() == Some("reason")).unwrap();
	reason.name = Some("cause".into());
	let changes = node(metadata).changes(GATEWAY);
	let item = Item::Event { pallet: "Telemetry", event: "ReportRejected" };
	let messages: Vec<String> = changes.iter().map(|c| c.to_string()).collect();
	assert!(changes.iter().all(|c| c.item() == item), "{messages:?}");
	assert!(messages.contains(&"event Telemetry.ReportRejected: field `reason` removed".into()));
	assert!(messages.contains(&"event Telemetry.ReportRejected: field `cause` added".into()));
	assert!(messages.iter().any(|m| m.starts_with(
		"event Telemetry.ReportRejected: field order changed (field `device_id`, field `sequence`, field `reason` →"
	)));
}

#[test]
fn a_call_argument_of_another_type_is_reported() {
	let mut metadata = ours();
	let ty = pallet_mut(&mut metadata, "Telemetry").calls.as_ref().unwrap().ty.id;
	let byte = type_of::<u8>(&metadata);
	let submit = variant_mut(&mut metadata, ty, "submit_reports");
	submit.fields[0].ty = byte.into();
	let changes = node(metadata).changes(GATEWAY);
	assert_eq!(changes.len(), 1, "{changes:?}");
	assert!(matches!(
		&changes[0],
		Change::Changed { item: Item::Call { pallet: "Telemetry", call: "submit_reports" }, part, .. }
			if part == "field `reports`"
	));
}

fn join() -> Call {
	Call::JoinEvent { event: 4, device: 7, committed_w: 2_500 }
}

#[test]
fn a_moved_pallet_is_followed() {
	let mut metadata = ours();
	pallet_mut(&mut metadata, "Telemetry").index = 200;
	// The runtime's event enum moves the pallet's variant with it.
	let record = items::event_record(&metadata).unwrap();
	let events = record.iter().find(|f| f.name.as_deref() == Some("event")).unwrap().ty.id;
	variant_mut(&mut metadata, events, "Telemetry").index = 200;
	let runtime = node(metadata);
	assert_eq!(runtime.changes(GATEWAY), vec![]);
	let call = Call::SubmitReports { reports: vec![], raw_data_digest: None };
	let encoded = runtime.encode_call(&call).unwrap();
	assert_eq!(encoded[0], 200);
	// Its events are read at the new index.
	let mut event = rejected(5).encode();
	event[0] = 200;
	let bytes =
		(Compact(1u32), frame_system::Phase::Finalization, RawEvent(event), Vec::<H256>::new())
			.encode();
	let records = runtime.decode_events(&bytes).unwrap();
	assert_eq!(
		records[0].event,
		Some(Event::ReportRejected {
			device_id: 5,
			sequence: 3,
			reason: RejectionReason::BadSignature
		})
	);
}

/// Bytes encoded as they are (an event already encoded).
struct RawEvent(Vec<u8>);

impl Encode for RawEvent {
	fn encode_to<T: codec::Output + ?Sized>(&self, dest: &mut T) {
		dest.write(&self.0);
	}
}

#[test]
fn a_missing_pallet_and_a_new_extension_are_reported() {
	let mut metadata = ours();
	metadata.pallets.retain(|p| p.name != "DemandResponse");
	let mut extra = metadata.extrinsic.signed_extensions[0].clone();
	extra.identifier = "CheckSomethingNew".into();
	metadata.extrinsic.signed_extensions.push(extra);
	let runtime = node(metadata);
	let changes = runtime.changes(GATEWAY);
	let messages: Vec<String> = changes.iter().map(|c| c.to_string()).collect();
	assert!(messages.contains(
		&"call DemandResponse.join_event: the runtime has no pallet DemandResponse".into()
	));
	assert!(
		messages.contains(&"the extrinsic format: transaction extensions changed (9 → 10)".into()),
		"{messages:?}"
	);
	assert!(messages
		.iter()
		.any(|m| m.starts_with("the extrinsic format: transaction extension 9 added")));
	assert!(!runtime.is_compatible(GATEWAY));
	// Nothing is signed for it.
	let pair = sr25519::Pair::from_seed(&[3; 32]);
	let call = Call::SubmitReports { reports: vec![], raw_data_digest: None };
	let error = runtime.sign(&call, &pair, 0, H256::zero()).unwrap_err();
	assert!(error.to_string().contains("transaction extension 9 added"), "{error}");
	assert!(runtime.encode_call(&join()).is_err());
}

#[test]
fn a_change_the_bridge_does_not_use_is_not_its_concern() {
	let mut metadata = ours();
	let ty = event_type(&metadata, "Balances");
	variant_mut(&mut metadata, ty, "Transfer").fields[0].name = Some("sender".into());
	// A new demand-response error: the bridge reports unknown errors by index.
	let errors = pallet_mut(&mut metadata, "DemandResponse").error.as_ref().unwrap().ty.id;
	let entry = metadata.types.types.iter_mut().find(|t| t.id == errors).unwrap();
	let TypeDef::Variant(variants) = &mut entry.ty.type_def else { panic!() };
	let mut new_error = variants.variants[0].clone();
	new_error.name = "SomethingNew".into();
	new_error.index = 250;
	variants.variants.push(new_error);
	let runtime = node(metadata);
	assert_eq!(runtime.changes(GATEWAY), vec![]);
	assert_eq!(runtime.changes(VIEWS), vec![]);
}

fn record(
	phase: frame_system::Phase,
	event: RuntimeEvent,
) -> frame_system::EventRecord<RuntimeEvent, H256> {
	frame_system::EventRecord { phase, event, topics: vec![H256::repeat_byte(7)] }
}

fn rejected(device_id: u32) -> RuntimeEvent {
	RuntimeEvent::Telemetry(pallet_telemetry::Event::ReportRejected {
		device_id,
		sequence: 3,
		reason: RejectionReason::BadSignature,
	})
}

#[test]
fn events_the_gateway_uses_are_decoded_and_the_others_kept_raw() {
	use frame_system::Phase;
	let alice = sp_core::crypto::AccountId32::new([1; 32]);
	let records = vec![
		record(
			Phase::Initialization,
			RuntimeEvent::Balances(pallet_balances::Event::Deposit {
				who: alice.clone(),
				amount: 5,
			}),
		),
		record(Phase::ApplyExtrinsic(1), rejected(11)),
		record(
			Phase::ApplyExtrinsic(1),
			RuntimeEvent::Telemetry(pallet_telemetry::Event::ReportFlagged {
				device_id: 12,
				sequence: 4,
				flags: openvpp_primitives::PlausibilityFlags(5),
			}),
		),
		record(
			Phase::ApplyExtrinsic(1),
			RuntimeEvent::Telemetry(pallet_telemetry::Event::BatchProcessed {
				gateway: alice.clone(),
				accepted: 3,
				flagged: 1,
				rejected: 1,
				raw_data_digest: Some(H256::repeat_byte(2)),
				digest_stored: true,
				fee: pallet_telemetry::BatchFee::Share(17),
			}),
		),
		record(
			Phase::ApplyExtrinsic(1),
			RuntimeEvent::System(frame_system::Event::ExtrinsicSuccess {
				dispatch_info: Default::default(),
			}),
		),
		record(
			Phase::ApplyExtrinsic(2),
			RuntimeEvent::System(frame_system::Event::ExtrinsicFailed {
				dispatch_error: sp_runtime::DispatchError::BadOrigin,
				dispatch_info: Default::default(),
			}),
		),
		record(Phase::Finalization, rejected(13)),
	];
	let bytes = records.encode();
	let decoded = node(ours()).decode_events(&bytes).unwrap();
	// Every record is kept, with its bytes as the runtime encoded them.
	assert_eq!(decoded.len(), records.len());
	for (ours, theirs) in decoded.iter().zip(&records) {
		assert_eq!(ours.phase, theirs.phase);
		assert_eq!(RuntimeEvent::decode(&mut &ours.raw[..]).unwrap(), theirs.event);
	}
	let reason = RejectionReason::BadSignature;
	let events: Vec<Option<Event>> = decoded.into_iter().map(|r| r.event).collect();
	assert_eq!(
		events,
		vec![
			None,
			Some(Event::ReportRejected { device_id: 11, sequence: 3, reason }),
			Some(Event::ReportFlagged {
				device_id: 12,
				sequence: 4,
				flags: openvpp_primitives::PlausibilityFlags(5)
			}),
			Some(Event::BatchProcessed { gateway: alice, accepted: 3, flagged: 1, rejected: 1 }),
			None,
			Some(Event::ExtrinsicFailed { dispatch_error: sp_runtime::DispatchError::BadOrigin }),
			Some(Event::ReportRejected { device_id: 13, sequence: 3, reason }),
		]
	);
	// Cut short, the events are an error, not fewer events.
	assert!(node(ours()).decode_events(&bytes[..bytes.len() - 3]).is_err());
}

#[test]
fn an_event_whose_shape_changed_is_not_decoded() {
	let mut metadata = ours();
	let ty = event_type(&metadata, "Telemetry");
	variant_mut(&mut metadata, ty, "BatchProcessed").fields[0].name = Some("sender".into());
	let processed = RuntimeEvent::Telemetry(pallet_telemetry::Event::BatchProcessed {
		gateway: sp_core::crypto::AccountId32::new([1; 32]),
		accepted: 0,
		flagged: 0,
		rejected: 0,
		raw_data_digest: None,
		digest_stored: false,
		fee: pallet_telemetry::BatchFee::Free,
	});
	let bytes = vec![
		record(frame_system::Phase::Finalization, rejected(1)),
		record(frame_system::Phase::Finalization, processed),
	]
	.encode();
	let runtime = node(metadata);
	assert!(!runtime.is_compatible(GATEWAY));
	// ReportRejected is unchanged and still read; BatchProcessed is not.
	let events: Vec<bool> =
		runtime.decode_events(&bytes).unwrap().iter().map(|r| r.event.is_some()).collect();
	assert_eq!(events, vec![true, false]);
}

fn decode_signed(bytes: &[u8]) -> (UncheckedExtrinsic, sp_runtime::MultiSignature) {
	let xt = UncheckedExtrinsic::decode(&mut &bytes[..]).unwrap();
	let signature = match &xt.preamble {
		sp_runtime::generic::Preamble::Signed(address, signature, extension) => {
			assert_eq!(extension.encode(), openvpp_runtime::extrinsic::tx_extension(4, 0).encode());
			assert_eq!(*address, openvpp_runtime::Address::Id(account_of(&signer())));
			signature.clone()
		}
		other => panic!("{other:?}"),
	};
	(xt, signature)
}

fn signer() -> sr25519::Pair {
	sr25519::Pair::from_seed(&[3; 32])
}

fn reports(count: u8) -> Vec<openvpp_primitives::SignedReport> {
	(0..count)
		.map(|i| openvpp_primitives::SignedReport {
			report: openvpp_primitives::IntervalReport {
				device_id: u32::from(i) + 1,
				sequence: 9,
				interval_start: 1_800_000_000,
				interval_length_s: 60,
				energy_imported_wh: 0,
				energy_exported_wh: 25,
				cumulative_imported_wh: 0,
				cumulative_exported_wh: 1_000,
				average_power_w: 1_500,
				peak_power_w: 1_600,
				soc_bp: None,
				device_state: Default::default(),
				grid_response: Default::default(),
				online_s: 60,
				quality: Default::default(),
			},
			signature: openvpp_primitives::AttestationSignature::Sr25519(
				sp_core::sr25519::Signature::from_raw([i; 64]),
			),
		})
		.collect()
}

#[test]
fn the_gateways_extrinsics_are_the_runtimes() {
	let genesis = H256::repeat_byte(9);
	let account = account_of(&signer());
	let runtime = node(ours());
	// A short call is signed as it is, a long one (a batch) by its hash.
	for call in [join(), Call::SubmitReports { reports: reports(4), raw_data_digest: None }] {
		let bytes = runtime.sign(&call, &signer(), 4, genesis).unwrap();
		let (xt, signature) = decode_signed(&bytes);
		let expected = match &call {
			Call::JoinEvent { event, device, committed_w } => {
				RuntimeCall::DemandResponse(pallet_demand_response::Call::join_event {
					event: *event,
					device: *device,
					committed_w: *committed_w,
				})
			}
			Call::SubmitReports { reports, raw_data_digest } => {
				RuntimeCall::Telemetry(pallet_telemetry::Call::submit_reports {
					reports: sp_runtime::BoundedVec::truncate_from(reports.clone()),
					raw_data_digest: *raw_data_digest,
				})
			}
		};
		assert_eq!(xt.function, expected);
		let payload = openvpp_runtime::extrinsic::signing_payload(&expected, 4, 0, genesis);
		assert!(signature.verify(&payload[..], &account), "{call:?}");
		assert_eq!(xt.encode(), bytes);
	}
}

#[test]
fn transactions_are_signed_for_the_versions_the_node_reports() {
	let genesis = H256::repeat_byte(9);
	let account = account_of(&signer());
	let call = RuntimeCall::DemandResponse(pallet_demand_response::Call::join_event {
		event: 4,
		device: 7,
		committed_w: 2_500,
	});
	let built = openvpp_runtime::extrinsic::signing_payload(&call, 4, 0, genesis);
	// After an upgrade the node reports spec + 1: the signature commits to it.
	let upgraded = NodeRuntime::new(version(openvpp_runtime::VERSION.spec_version + 1), ours());
	let (_, signature) = decode_signed(&upgraded.sign(&join(), &signer(), 4, genesis).unwrap());
	assert!(!signature.verify(&built[..], &account));
	let implicit = (
		(),
		openvpp_runtime::VERSION.spec_version + 1,
		openvpp_runtime::VERSION.transaction_version,
		genesis,
		genesis,
		(),
		(),
		(),
		(),
	);
	let payload =
		SignedPayload::from_raw(call, openvpp_runtime::extrinsic::tx_extension(4, 0), implicit);
	assert!(payload.using_encoded(|bytes| signature.verify(bytes, &account)));
}

#[test]
fn a_batch_is_read_back_from_its_extrinsic() {
	let runtime = node(ours());
	let batch = reports(3);
	let call = Call::SubmitReports { reports: batch.clone(), raw_data_digest: None };
	let bytes = runtime.sign(&call, &signer(), 1, H256::zero()).unwrap();
	assert_eq!(runtime.submitted_reports(&bytes), Some(batch));
	let other = runtime.sign(&join(), &signer(), 1, H256::zero()).unwrap();
	assert_eq!(runtime.submitted_reports(&other), None);
	assert_eq!(runtime.submitted_reports(&bytes[..bytes.len() - 5]), None);
	assert_eq!(runtime.submitted_reports(&[]), None);
}
