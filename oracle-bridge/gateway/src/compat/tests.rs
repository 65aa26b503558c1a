use super::*;
use frame_metadata::v14::PalletMetadata;
use openvpp_primitives::RejectionReason;
use scale_info::form::PortableForm;
use sp_runtime::traits::Verify;

fn ours() -> RuntimeMetadataV14 {
	match built_with_metadata() {
		RuntimeMetadata::V14(metadata) => metadata,
		other => panic!("metadata version {}", other.version()),
	}
}

fn version(spec_version: u32) -> RuntimeVersion {
	RuntimeVersion {
		spec_name: openvpp_runtime::VERSION.spec_name.to_string(),
		spec_version,
		transaction_version: openvpp_runtime::VERSION.transaction_version,
	}
}

fn node(metadata: RuntimeMetadataV14) -> NodeRuntime {
	NodeRuntime::new(version(openvpp_runtime::VERSION.spec_version), metadata)
}

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

#[test]
fn every_item_is_in_the_bridges_runtime() {
	for (item, shape) in built_with() {
		assert!(shape.is_ok(), "{item}: {shape:?}");
	}
	assert_eq!(built_with().len(), GATEWAY.len() + VIEWS.len() + TOOLS.len());
}

#[test]
fn the_runtime_the_bridge_was_built_with_is_compatible() {
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

#[test]
fn a_moved_pallet_a_missing_pallet_and_a_new_extension_are_reported() {
	let mut metadata = ours();
	pallet_mut(&mut metadata, "Telemetry").index = 200;
	metadata.pallets.retain(|p| p.name != "DemandResponse");
	let mut extra = metadata.extrinsic.signed_extensions[0].clone();
	extra.identifier = "CheckSomethingNew".into();
	metadata.extrinsic.signed_extensions.push(extra);
	let changes = node(metadata).changes(GATEWAY);
	let messages: Vec<String> = changes.iter().map(|c| c.to_string()).collect();
	assert!(
		messages
			.iter()
			.any(|m| m.starts_with("call Telemetry.submit_reports: pallet index changed (")
				&& m.ends_with("→ 200)")),
		"{messages:?}"
	);
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
fn events_the_bridge_uses_are_decoded_and_the_others_stepped_over() {
	use frame_system::Phase;
	let alice = sp_core::crypto::AccountId32::new([1; 32]);
	let records = vec![
		record(
			Phase::Initialization,
			RuntimeEvent::Balances(pallet_balances::Event::Deposit { who: alice, amount: 5 }),
		),
		record(Phase::ApplyExtrinsic(1), rejected(11)),
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
		record(Phase::Finalization, rejected(12)),
	];
	let bytes = records.encode();
	let decoded = node(ours()).decode_events(&bytes).unwrap();
	let kept: Vec<_> = decoded.iter().map(|r| (r.phase.clone(), r.event.clone())).collect();
	assert_eq!(
		kept,
		vec![
			(Phase::ApplyExtrinsic(1), rejected(11)),
			(Phase::ApplyExtrinsic(2), records[3].event.clone()),
			(Phase::Finalization, rejected(12)),
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
	let bytes = vec![record(frame_system::Phase::Finalization, rejected(1))].encode();
	let runtime = node(metadata);
	assert!(!runtime.is_compatible(GATEWAY));
	// ReportRejected is unchanged and still read.
	assert_eq!(runtime.decode_events(&bytes).unwrap().len(), 1);
}

#[test]
fn transactions_are_signed_for_the_versions_the_node_reports() {
	let pair = sr25519::Pair::from_seed(&[3; 32]);
	let genesis = H256::repeat_byte(9);
	let call = RuntimeCall::System(frame_system::Call::remark { remark: vec![1, 2, 3] });
	let account = openvpp_runtime::extrinsic::account_of(&pair);
	let signature = |xt: &UncheckedExtrinsic| match &xt.preamble {
		sp_runtime::generic::Preamble::Signed(_, signature, _) => signature.clone(),
		other => panic!("{other:?}"),
	};

	// The runtime's own payload, for the versions it was built with.
	let built = openvpp_runtime::extrinsic::signing_payload(&call, 4, 0, genesis);
	let same = node(ours()).sign(call.clone(), &pair, 4, genesis);
	assert!(signature(&same).verify(&built[..], &account));

	// After an upgrade the node reports spec + 1: the signature commits to it.
	let upgraded = NodeRuntime::new(version(openvpp_runtime::VERSION.spec_version + 1), ours());
	let xt = upgraded.sign(call.clone(), &pair, 4, genesis);
	assert!(!signature(&xt).verify(&built[..], &account));
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
	assert!(payload.using_encoded(|bytes| signature(&xt).verify(bytes, &account)));
}
