//! The node's runtime as far as the gateway is concerned.

use std::collections::{BTreeMap, BTreeSet};

use codec::{Compact, Decode};
use frame_metadata::v14::RuntimeMetadataV14;
use openvpp_primitives::SignedReport;
use scale_info::{PortableRegistry, TypeDef};
use sp_core::{sr25519, H256};

use super::{expected, items, skip, Change, EventsError, Item, RuntimeVersion, Shape, GATEWAY};
use crate::wire::{self, extrinsic::SigningVersions, Call, Event, EventRecord};

/// Why a call cannot be signed for the node's runtime.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignError {
	#[error("the node's runtime changed what the gateway uses: {0}")]
	Incompatible(String),
}

/// The types a signed extrinsic's preamble holds, in the node's registry.
#[derive(Debug, Clone)]
struct Preamble {
	address: u32,
	signature: u32,
	/// What each transaction extension carries in the extrinsic, in order.
	extensions: Vec<u32>,
}

/// The node's runtime: its versions, what differs from the shapes the gateway knows, the
/// indices its calls and events have there, and how to read its events and extrinsics.
#[derive(Debug)]
pub struct NodeRuntime {
	pub version: RuntimeVersion,
	changes: Vec<Change>,
	/// Whether everything a running gateway uses has its known shape (the submitter's verdict).
	gateway_compatible: bool,
	types: PortableRegistry,
	/// The runtime's event enum, or why the metadata has none the gateway can use.
	event_type: Result<u32, String>,
	/// The events the gateway decodes, by (pallet index, event index), when unchanged.
	known_events: BTreeMap<(u8, u8), Item>,
	/// (pallet index, call index) of the calls the gateway encodes, when unchanged.
	call_indices: BTreeMap<Item, (u8, u8)>,
	/// The names of the errors of the pallets whose errors the gateway reads.
	error_names: BTreeMap<(u8, u8), String>,
	preamble: Result<Preamble, String>,
}

fn index_part(shape: &Shape, part: &str) -> Option<u8> {
	shape.as_ref().ok()?.get(part)?.parse().ok()
}

impl NodeRuntime {
	/// Compares the node's runtime with the shapes the gateway was written for.
	pub fn new(version: RuntimeVersion, metadata: RuntimeMetadataV14) -> Self {
		Self::against(version, metadata, expected())
	}

	/// Compares the node's runtime with the given shapes (the gateway's own, or a test's).
	pub fn against(
		version: RuntimeVersion,
		metadata: RuntimeMetadataV14,
		ours: &BTreeMap<Item, Shape>,
	) -> Self {
		let theirs = items::shapes(&metadata, ours.keys().copied());
		let changes = items::diff(ours, &theirs);
		let changed: BTreeSet<Item> = changes.iter().map(Change::item).collect();
		let usable = |item: &Item| !changed.contains(item);
		let mut known_events = BTreeMap::new();
		let mut call_indices = BTreeMap::new();
		let mut error_names = BTreeMap::new();
		for (item, shape) in theirs.iter().filter(|(item, _)| usable(item)) {
			let pallet = index_part(shape, "pallet index");
			match item {
				Item::Event { .. } => {
					if let (Some(pallet), Some(event)) = (pallet, index_part(shape, "event index"))
					{
						known_events.insert((pallet, event), *item);
					}
				}
				Item::Call { .. } => {
					if let (Some(pallet), Some(call)) = (pallet, index_part(shape, "call index")) {
						call_indices.insert(*item, (pallet, call));
					}
				}
				Item::Errors { pallet: name } => {
					let (Some(pallet), Ok(parts)) = (pallet, shape) else { continue };
					for (part, value) in parts {
						let Some(error) =
							part.strip_prefix("error `").and_then(|p| p.strip_suffix('`'))
						else {
							continue;
						};
						let index = value.strip_prefix("index ").and_then(|v| v.split(' ').next());
						if let Some(index) = index.and_then(|i| i.parse().ok()) {
							error_names.insert((pallet, index), format!("{name}::{error}"));
						}
					}
				}
				_ => {}
			}
		}
		let event_type = items::event_record(&metadata).and_then(|fields| {
			fields
				.iter()
				.find(|f| f.name.as_deref() == Some("event"))
				.map(|f| f.ty.id)
				.ok_or_else(|| "an event record has no `event` field".to_string())
		});
		let preamble = preamble(&metadata);
		let gateway_compatible = !changes.iter().any(|c| GATEWAY.contains(&c.item()));
		NodeRuntime {
			version,
			changes,
			gateway_compatible,
			types: metadata.types,
			event_type,
			known_events,
			call_indices,
			error_names,
			preamble,
		}
	}

	/// What differs in the items of `usage`.
	pub fn changes(&self, usage: &[Item]) -> Vec<Change> {
		self.changes.iter().filter(|c| usage.contains(&c.item())).cloned().collect()
	}

	/// Whether every item of `usage` has the shape the gateway knows.
	pub fn is_compatible(&self, usage: &[Item]) -> bool {
		if usage == GATEWAY {
			return self.gateway_compatible;
		}
		self.changes(usage).is_empty()
	}

	/// The events of a block (`System::Events`), in order, each decoded if the gateway uses it
	/// (and its shape is unchanged). Topics are not kept.
	pub fn decode_events(&self, bytes: &[u8]) -> Result<Vec<EventRecord>, EventsError> {
		let event_type = self.event_type.clone().map_err(EventsError::NoRecordType)?;
		if !matches!(self.types.resolve(event_type).map(|t| &t.type_def), Some(TypeDef::Variant(_)))
		{
			return Err(EventsError::NoRecordType("the event type is not an enum".into()));
		}
		let input = &mut &bytes[..];
		let Compact(count) = Compact::<u32>::decode(input)?;
		let mut records = Vec::new();
		for _ in 0..count {
			let phase = frame_system::Phase::decode(input)?;
			let start = *input;
			skip::skip(&self.types, event_type, input)?;
			let raw = &start[..start.len() - input.len()];
			let event = match raw {
				[pallet, index, fields @ ..] => match self.known_events.get(&(*pallet, *index)) {
					Some(item) => Event::decode_fields(*item, &mut &fields[..])?,
					None => None,
				},
				_ => None,
			};
			records.push(EventRecord { phase, event, raw: raw.to_vec() });
			Vec::<H256>::decode(input)?;
		}
		Ok(records)
	}

	/// `call` encoded with the node's indices for it.
	pub fn encode_call(&self, call: &Call) -> Result<Vec<u8>, SignError> {
		let item = call.item();
		let Some((pallet, index)) = self.call_indices.get(&item) else {
			let why = self.changes(&[item]).iter().map(|c| c.to_string()).collect::<Vec<_>>();
			return Err(SignError::Incompatible(if why.is_empty() {
				format!("{item}: not found")
			} else {
				why.join("; ")
			}));
		};
		Ok(call.encode_with(*pallet, *index))
	}

	/// Signs `call` as an immortal transaction with no tip, for this runtime's versions: the
	/// extrinsic's bytes.
	pub fn sign(
		&self,
		call: &Call,
		signer: &sr25519::Pair,
		nonce: u32,
		genesis: H256,
	) -> Result<Vec<u8>, SignError> {
		let changes = self.changes(&[Item::Extrinsic]);
		if !changes.is_empty() {
			let why = changes.iter().map(|c| c.to_string()).collect::<Vec<_>>();
			return Err(SignError::Incompatible(why.join("; ")));
		}
		let versions = SigningVersions {
			spec_version: self.version.spec_version,
			transaction_version: self.version.transaction_version,
		};
		Ok(wire::extrinsic::sign(&self.encode_call(call)?, signer, nonce, versions, genesis))
	}

	/// The name of a module error of a pallet whose errors the gateway reads
	/// (`DemandResponse::BeyondFlexibility`).
	pub fn error_name(&self, error: &sp_runtime::DispatchError) -> Option<String> {
		let sp_runtime::DispatchError::Module(module) = error else { return None };
		self.error_names.get(&(module.index, module.error[0])).cloned()
	}

	/// The reports of a signed `Telemetry.submit_reports` extrinsic (its bytes as in a block),
	/// or `None` for any other extrinsic.
	pub fn submitted_reports(&self, extrinsic: &[u8]) -> Option<Vec<SignedReport>> {
		let preamble = self.preamble.as_ref().ok()?;
		let &(pallet, call) = self.call_indices.get(&Call::SUBMIT_REPORTS)?;
		let input = &mut &extrinsic[..];
		Compact::<u32>::decode(input).ok()?;
		// Only signed extrinsics of format 4 carry a gateway's batch.
		let (&0x84, rest) = input.split_first()? else { return None };
		*input = rest;
		skip::skip(&self.types, preamble.address, input).ok()?;
		skip::skip(&self.types, preamble.signature, input).ok()?;
		for extension in &preamble.extensions {
			skip::skip(&self.types, *extension, input).ok()?;
		}
		let (&[p, c], args) = input.split_first_chunk::<2>()?;
		if (p, c) != (pallet, call) {
			return None;
		}
		Vec::<SignedReport>::decode(&mut &args[..]).ok()
	}
}

/// Where the address, signature and extension types of the node's extrinsics are.
fn preamble(metadata: &RuntimeMetadataV14) -> Result<Preamble, String> {
	let extrinsic = &metadata.extrinsic;
	let ty = metadata.types.resolve(extrinsic.ty.id).ok_or("no extrinsic type")?;
	let param = |name: &str| {
		ty.type_params
			.iter()
			.find(|p| p.name == name)
			.and_then(|p| p.ty.map(|t| t.id))
			.ok_or_else(|| format!("the extrinsic type has no {name}"))
	};
	Ok(Preamble {
		address: param("Address")?,
		signature: param("Signature")?,
		extensions: extrinsic.signed_extensions.iter().map(|e| e.ty.id).collect(),
	})
}
