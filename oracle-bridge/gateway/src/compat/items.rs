//! The runtime items the bridge uses, their shapes in a metadata document, and what differs
//! between two documents.
//!
//! An item's shape is a list of named parts: the pallet and call or event index the bridge
//! encodes with, the fingerprint of each argument or field, a storage entry's prefix, hashers,
//! key and value. Comparing the parts of the runtime the bridge was built with against the
//! node's says, item by item and part by part, what changed.

use std::{collections::BTreeMap, fmt};

use frame_metadata::v14::{
	PalletMetadata, RuntimeMetadataV14, StorageEntryModifier, StorageEntryType,
};
use scale_info::{form::PortableForm, TypeDef};

use super::shape::{fields_fingerprint, fingerprint, short};

/// One thing in the runtime the bridge encodes, decodes or reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Item {
	/// The extrinsic format: version, transaction extensions, address and signature types.
	Extrinsic,
	/// The frame of `System::Events` records (phase and topics around each event).
	EventRecord,
	Call {
		pallet: &'static str,
		call: &'static str,
	},
	Event {
		pallet: &'static str,
		event: &'static str,
	},
	/// A pallet's error enum (read from failed dispatches).
	Errors {
		pallet: &'static str,
	},
	Storage {
		pallet: &'static str,
		entry: &'static str,
	},
}

impl fmt::Display for Item {
	fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
		match self {
			Item::Extrinsic => write!(f, "the extrinsic format"),
			Item::EventRecord => write!(f, "the event record (System.Events)"),
			Item::Call { pallet, call } => write!(f, "call {pallet}.{call}"),
			Item::Event { pallet, event } => write!(f, "event {pallet}.{event}"),
			Item::Errors { pallet } => write!(f, "the errors of {pallet}"),
			Item::Storage { pallet, entry } => write!(f, "storage {pallet}.{entry}"),
		}
	}
}

const fn call(pallet: &'static str, call: &'static str) -> Item {
	Item::Call { pallet, call }
}
const fn event(pallet: &'static str, event: &'static str) -> Item {
	Item::Event { pallet, event }
}
const fn storage(pallet: &'static str, entry: &'static str) -> Item {
	Item::Storage { pallet, entry }
}

/// What a running gateway uses: submitting batches and demand-response calls, reading their
/// outcome, watching its devices and following demand-response events.
pub const GATEWAY: &[Item] = &[
	Item::Extrinsic,
	Item::EventRecord,
	call("Telemetry", "submit_reports"),
	call("DemandResponse", "join_event"),
	event("System", "ExtrinsicFailed"),
	event("Telemetry", "BatchProcessed"),
	event("Telemetry", "ReportRejected"),
	event("Telemetry", "ReportFlagged"),
	Item::Errors { pallet: "DemandResponse" },
	storage("Timestamp", "Now"),
	storage("DeviceRegistry", "Devices"),
	storage("Telemetry", "DeviceTelemetry"),
	storage("Telemetry", "MinIntervalLengthS"),
	storage("DemandResponse", "Enrolments"),
	storage("DemandResponse", "Events"),
	storage("DemandResponse", "Participants"),
	storage("DemandResponse", "OpenEvents"),
];

/// What the read-only commands (`audit`, `register`) read besides. The live view (`watch`)
/// reads the node's `vpp_*` read model instead of storage ([`crate::vpp`]).
pub const VIEWS: &[Item] = &[storage("DeviceRegistry", "RegistrationNonces")];

/// What the development tools (demo, load benchmark) and the tests read besides: events of
/// calls they make that a gateway never does.
pub const TOOLS: &[Item] = &[
	event("Balances", "Transfer"),
	event("DeviceRegistry", "DeviceRegistered"),
	event("DemandResponse", "EventCreated"),
	event("DemandResponse", "EventCancelled"),
];

/// Every item: gateway, views and tools.
pub fn all() -> impl Iterator<Item = Item> {
	GATEWAY.iter().chain(VIEWS).chain(TOOLS).copied()
}

/// An item's parts by name (a fingerprint in short hex, or a plain value such as an index).
pub type Parts = BTreeMap<String, String>;

/// An item's shape in one document, or why it has none there.
pub type Shape = Result<Parts, String>;

/// The shapes of `items` in `metadata`.
pub fn shapes(
	metadata: &RuntimeMetadataV14,
	items: impl Iterator<Item = Item>,
) -> BTreeMap<Item, Shape> {
	items.map(|item| (item, shape(metadata, item))).collect()
}

fn pallet<'a>(
	metadata: &'a RuntimeMetadataV14,
	name: &str,
) -> Result<&'a PalletMetadata<PortableForm>, String> {
	metadata
		.pallets
		.iter()
		.find(|p| p.name == name)
		.ok_or_else(|| format!("the runtime has no pallet {name}"))
}

fn index(value: impl fmt::Display) -> String {
	value.to_string()
}

/// The parts of one variant (a call or an event) of the pallet enum `ty`.
fn variant_parts(
	metadata: &RuntimeMetadataV14,
	pallet_index: u8,
	ty: u32,
	name: &str,
	kind: &str,
) -> Shape {
	let Some(TypeDef::Variant(variants)) = metadata.types.resolve(ty).map(|t| &t.type_def) else {
		return Err(format!("its {kind} type is not an enum"));
	};
	let variant = variants
		.variants
		.iter()
		.find(|v| v.name == name)
		.ok_or_else(|| format!("the pallet has no {kind} {name}"))?;
	let mut parts = Parts::new();
	parts.insert("pallet index".into(), index(pallet_index));
	parts.insert(format!("{kind} index"), index(variant.index));
	// Fields are encoded in order: a reordering changes the bytes too.
	let order: Vec<String> =
		variant.fields.iter().enumerate().map(|(i, f)| field_label(f, i)).collect();
	parts.insert("field order".into(), order.join(", "));
	for (position, field) in variant.fields.iter().enumerate() {
		parts.insert(
			field_label(field, position),
			short(&fingerprint(&metadata.types, field.ty.id)),
		);
	}
	Ok(parts)
}

fn field_label(field: &scale_info::Field<PortableForm>, position: usize) -> String {
	match &field.name {
		Some(name) => format!("field `{name}`"),
		None => format!("field {position}"),
	}
}

fn shape(metadata: &RuntimeMetadataV14, item: Item) -> Shape {
	match item {
		Item::Call { pallet: name, call } => {
			let pallet = pallet(metadata, name)?;
			let calls = pallet.calls.as_ref().ok_or("the pallet has no calls")?;
			variant_parts(metadata, pallet.index, calls.ty.id, call, "call")
		}
		Item::Event { pallet: name, event } => {
			let pallet = pallet(metadata, name)?;
			let events = pallet.event.as_ref().ok_or("the pallet has no events")?;
			variant_parts(metadata, pallet.index, events.ty.id, event, "event")
		}
		Item::Errors { pallet: name } => {
			let pallet = pallet(metadata, name)?;
			let errors = pallet.error.as_ref().ok_or("the pallet has no errors")?;
			let Some(TypeDef::Variant(variants)) =
				metadata.types.resolve(errors.ty.id).map(|t| &t.type_def)
			else {
				return Err("its error type is not an enum".into());
			};
			let mut parts = Parts::new();
			parts.insert("pallet index".into(), index(pallet.index));
			for v in &variants.variants {
				let fields = short(&fields_fingerprint(&metadata.types, &v.fields));
				parts.insert(format!("error `{}`", v.name), format!("index {} {fields}", v.index));
			}
			Ok(parts)
		}
		Item::Storage { pallet: name, entry } => {
			let pallet = pallet(metadata, name)?;
			let storage = pallet.storage.as_ref().ok_or("the pallet has no storage")?;
			let found = storage
				.entries
				.iter()
				.find(|e| e.name == entry)
				.ok_or_else(|| format!("the pallet has no storage entry {entry}"))?;
			let mut parts = Parts::new();
			parts.insert("prefix".into(), storage.prefix.clone());
			let modifier = match found.modifier {
				StorageEntryModifier::Optional => "optional",
				StorageEntryModifier::Default => "default",
			};
			parts.insert("modifier".into(), modifier.into());
			match &found.ty {
				StorageEntryType::Plain(value) => {
					parts.insert("value".into(), short(&fingerprint(&metadata.types, value.id)));
				}
				StorageEntryType::Map { hashers, key, value } => {
					parts.insert("hashers".into(), format!("{hashers:?}"));
					parts.insert("key".into(), short(&fingerprint(&metadata.types, key.id)));
					parts.insert("value".into(), short(&fingerprint(&metadata.types, value.id)));
				}
			}
			Ok(parts)
		}
		Item::EventRecord => {
			let record = event_record(metadata)?;
			let mut parts = Parts::new();
			let order: Vec<String> =
				record.iter().enumerate().map(|(i, f)| field_label(f, i)).collect();
			parts.insert("field order".into(), order.join(", "));
			for field in record {
				let name = field.name.clone().unwrap_or_default();
				// The event itself is the union of every pallet's events: what the bridge
				// needs of it is checked event by event.
				let value = if name == "event" {
					"every pallet's events".into()
				} else {
					short(&fingerprint(&metadata.types, field.ty.id))
				};
				parts.insert(format!("field `{name}`"), value);
			}
			Ok(parts)
		}
		Item::Extrinsic => {
			let extrinsic = &metadata.extrinsic;
			let mut parts = Parts::new();
			parts.insert("version".into(), index(extrinsic.version));
			for (position, extension) in extrinsic.signed_extensions.iter().enumerate() {
				let value = format!(
					"{} {} {}",
					extension.identifier,
					short(&fingerprint(&metadata.types, extension.ty.id)),
					short(&fingerprint(&metadata.types, extension.additional_signed.id)),
				);
				parts.insert(format!("transaction extension {position}"), value);
			}
			parts.insert("transaction extensions".into(), index(extrinsic.signed_extensions.len()));
			let ty = metadata.types.resolve(extrinsic.ty.id).ok_or("no extrinsic type")?;
			for param in &ty.type_params {
				if param.name == "Address" || param.name == "Signature" {
					let value = match &param.ty {
						Some(id) => short(&fingerprint(&metadata.types, id.id)),
						None => "unknown".into(),
					};
					parts.insert(param.name.to_lowercase(), value);
				}
			}
			Ok(parts)
		}
	}
}

/// The fields of `System::Events`' record type.
pub(super) fn event_record(
	metadata: &RuntimeMetadataV14,
) -> Result<&[scale_info::Field<PortableForm>], String> {
	let value = events_storage_value(metadata)?;
	let Some(TypeDef::Sequence(sequence)) = metadata.types.resolve(value).map(|t| &t.type_def)
	else {
		return Err("System.Events is not a vector".into());
	};
	match metadata.types.resolve(sequence.type_param.id).map(|t| &t.type_def) {
		Some(TypeDef::Composite(record)) => Ok(&record.fields),
		_ => Err("an event record is not a struct".into()),
	}
}

fn events_storage_value(metadata: &RuntimeMetadataV14) -> Result<u32, String> {
	let system = pallet(metadata, "System")?;
	let storage = system.storage.as_ref().ok_or("System has no storage")?;
	let events = storage
		.entries
		.iter()
		.find(|e| e.name == "Events")
		.ok_or("System has no storage entry Events")?;
	match &events.ty {
		StorageEntryType::Plain(value) => Ok(value.id),
		StorageEntryType::Map { .. } => Err("System.Events is a map".into()),
	}
}

/// One difference between the runtime the bridge knows and the node's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
	/// The item is gone or cannot be read (the reason).
	Missing { item: Item, why: String },
	/// The item was missing from the bridge's own runtime (a bug in the item list).
	UnknownToBridge { item: Item, why: String },
	/// A part has another value or fingerprint.
	Changed { item: Item, part: String, ours: String, node: String },
	/// A part is gone.
	Removed { item: Item, part: String },
	/// The node's item has a part the bridge's does not.
	Added { item: Item, part: String },
}

impl Change {
	pub fn item(&self) -> Item {
		match self {
			Change::Missing { item, .. }
			| Change::UnknownToBridge { item, .. }
			| Change::Changed { item, .. }
			| Change::Removed { item, .. }
			| Change::Added { item, .. } => *item,
		}
	}
}

impl fmt::Display for Change {
	fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
		match self {
			Change::Missing { item, why } => write!(f, "{item}: {why}"),
			Change::UnknownToBridge { item, why } => {
				write!(f, "{item}: not in the runtime this bridge was built with ({why})")
			}
			Change::Changed { item, part, ours, node } => {
				write!(f, "{item}: {part} changed ({ours} → {node})")
			}
			Change::Removed { item, part } => write!(f, "{item}: {part} removed"),
			Change::Added { item, part } => write!(f, "{item}: {part} added"),
		}
	}
}

/// Parts the gateway takes from the node's metadata instead of knowing them: a runtime that
/// moves a pallet or renumbers a call or event is followed, not refused.
pub const FOLLOWED: &[&str] = &["pallet index", "call index", "event index"];

/// What differs between the gateway's shapes and the node's, item by item.
pub fn diff(ours: &BTreeMap<Item, Shape>, node: &BTreeMap<Item, Shape>) -> Vec<Change> {
	let mut changes = Vec::new();
	for (item, our_shape) in ours {
		let our_parts = match our_shape {
			Ok(parts) => parts,
			Err(why) => {
				changes.push(Change::UnknownToBridge { item: *item, why: why.clone() });
				continue;
			}
		};
		let node_parts = match node.get(item) {
			Some(Ok(parts)) => parts,
			Some(Err(why)) => {
				changes.push(Change::Missing { item: *item, why: why.clone() });
				continue;
			}
			None => {
				changes.push(Change::Missing { item: *item, why: "not looked up".into() });
				continue;
			}
		};
		for (part, value) in our_parts {
			if FOLLOWED.contains(&part.as_str()) {
				continue;
			}
			match node_parts.get(part) {
				None => changes.push(Change::Removed { item: *item, part: part.clone() }),
				Some(theirs) if theirs != value => changes.push(Change::Changed {
					item: *item,
					part: part.clone(),
					ours: value.clone(),
					node: theirs.clone(),
				}),
				Some(_) => {}
			}
		}
		// A new error is harmless: the bridge names the errors it knows and reports others by
		// index. Anything new in a call, event, storage entry or the extrinsic changes bytes.
		if matches!(item, Item::Errors { .. }) {
			continue;
		}
		let added = node_parts.keys().filter(|p| !our_parts.contains_key(*p));
		for part in added.filter(|p| !FOLLOWED.contains(&p.as_str())) {
			changes.push(Change::Added { item: *item, part: part.clone() });
		}
	}
	changes
}
