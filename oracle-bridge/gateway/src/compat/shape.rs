//! Structural fingerprints of SCALE types in a metadata type registry.
//!
//! Two runtimes encode a value the same way when its type has the same structure: the same
//! composites with the same field names, the same variants with the same names and indices,
//! the same sequences, arrays, tuples, compacts and primitives. A fingerprint hashes exactly
//! that and nothing else (no type paths, type-parameter names or docs, which change without
//! changing a byte on the wire), so it can be compared across two metadata documents whose type
//! ids differ.

use codec::Encode;
use scale_info::{form::PortableForm, Field, PortableRegistry, TypeDef};

/// The blake2-256 hash of a type's structure.
pub type Fingerprint = [u8; 32];

/// The fingerprint of type `id`; an id the registry does not hold hashes as "unknown", so two
/// broken documents never look compatible with a sound one.
pub fn fingerprint(registry: &PortableRegistry, id: u32) -> Fingerprint {
	let mut out = Vec::new();
	describe(registry, id, &mut Vec::new(), &mut out);
	hash(&out)
}

/// The fingerprint of a list of fields (a call's arguments, an event's fields).
pub fn fields_fingerprint(
	registry: &PortableRegistry,
	fields: &[Field<PortableForm>],
) -> Fingerprint {
	let mut out = Vec::new();
	describe_fields(registry, fields, &mut Vec::new(), &mut out);
	hash(&out)
}

fn hash(bytes: &[u8]) -> Fingerprint {
	use sp_runtime::traits::{BlakeTwo256, Hash};
	BlakeTwo256::hash(bytes).0
}

/// A fingerprint as short hex, for messages.
pub fn short(fingerprint: &Fingerprint) -> String {
	format!("0x{}", hex::encode(&fingerprint[..6]))
}

fn describe(registry: &PortableRegistry, id: u32, stack: &mut Vec<u32>, out: &mut Vec<u8>) {
	// A recursive type refers back to an enclosing one: name it by its depth, so the walk ends
	// and the same recursion hashes the same in both documents.
	if let Some(depth) = stack.iter().position(|open| *open == id) {
		out.push(b'R');
		(depth as u32).encode_to(out);
		return;
	}
	let Some(ty) = registry.resolve(id) else {
		out.push(b'?');
		return;
	};
	stack.push(id);
	match &ty.type_def {
		TypeDef::Composite(composite) => {
			out.push(b'C');
			describe_fields(registry, &composite.fields, stack, out);
		}
		TypeDef::Variant(variant) => {
			out.push(b'V');
			let mut variants: Vec<_> = variant.variants.iter().collect();
			variants.sort_by_key(|v| v.index);
			(variants.len() as u32).encode_to(out);
			for v in variants {
				v.name.encode_to(out);
				out.push(v.index);
				describe_fields(registry, &v.fields, stack, out);
			}
		}
		TypeDef::Sequence(sequence) => {
			out.push(b'S');
			describe(registry, sequence.type_param.id, stack, out);
		}
		TypeDef::Array(array) => {
			out.push(b'A');
			array.len.encode_to(out);
			describe(registry, array.type_param.id, stack, out);
		}
		TypeDef::Tuple(tuple) => {
			out.push(b'T');
			(tuple.fields.len() as u32).encode_to(out);
			for field in &tuple.fields {
				describe(registry, field.id, stack, out);
			}
		}
		TypeDef::Primitive(primitive) => {
			out.push(b'P');
			primitive.encode_to(out);
		}
		TypeDef::Compact(compact) => {
			out.push(b'c');
			describe(registry, compact.type_param.id, stack, out);
		}
		TypeDef::BitSequence(bits) => {
			out.push(b'B');
			describe(registry, bits.bit_store_type.id, stack, out);
			// The bit order types (Lsb0, Msb0) differ only by name.
			let order = registry.resolve(bits.bit_order_type.id).map(|t| t.path.segments.clone());
			order.encode_to(out);
		}
	}
	stack.pop();
}

fn describe_fields(
	registry: &PortableRegistry,
	fields: &[Field<PortableForm>],
	stack: &mut Vec<u32>,
	out: &mut Vec<u8>,
) {
	(fields.len() as u32).encode_to(out);
	for field in fields {
		field.name.encode_to(out);
		describe(registry, field.ty.id, stack, out);
	}
}

#[cfg(test)]
// The test types exist for their metadata only.
#[allow(dead_code)]
mod tests {
	use super::*;
	use scale_info::{meta_type, Registry, TypeInfo};

	fn registry_of<T: TypeInfo + 'static>() -> (PortableRegistry, u32) {
		let mut registry = Registry::new();
		let id = registry.register_type(&meta_type::<T>()).id;
		(registry.into(), id)
	}

	fn print<T: TypeInfo + 'static>() -> Fingerprint {
		let (registry, id) = registry_of::<T>();
		fingerprint(&registry, id)
	}

	mod v1 {
		#[derive(scale_info::TypeInfo)]
		pub struct Reading {
			pub power_w: i32,
			pub energy_wh: u64,
		}
	}
	mod v2 {
		// Another path and docs, the same structure.
		/// Documented.
		#[derive(scale_info::TypeInfo)]
		pub struct Measurement {
			pub power_w: i32,
			pub energy_wh: u64,
		}
	}
	#[derive(scale_info::TypeInfo)]
	struct Renamed {
		power_w: i32,
		energy_kwh: u64,
	}
	#[derive(scale_info::TypeInfo)]
	struct Wider {
		power_w: i64,
		energy_wh: u64,
	}
	#[derive(scale_info::TypeInfo)]
	enum Status {
		#[codec(index = 0)]
		Active,
		#[codec(index = 1)]
		Suspended,
	}
	#[derive(scale_info::TypeInfo)]
	enum StatusReindexed {
		#[codec(index = 0)]
		Active,
		#[codec(index = 2)]
		Suspended,
	}
	#[derive(scale_info::TypeInfo)]
	struct Tree {
		children: Vec<Tree>,
	}

	#[test]
	fn the_same_structure_under_another_name_has_the_same_fingerprint() {
		assert_eq!(print::<v1::Reading>(), print::<v2::Measurement>());
	}

	#[test]
	fn a_renamed_field_a_wider_integer_or_a_moved_variant_change_it() {
		let base = print::<v1::Reading>();
		assert_ne!(base, print::<Renamed>());
		assert_ne!(base, print::<Wider>());
		assert_ne!(print::<Status>(), print::<StatusReindexed>());
		assert_ne!(print::<Vec<u8>>(), print::<[u8; 32]>());
		assert_ne!(print::<u32>(), print::<codec::Compact<u32>>());
	}

	#[test]
	fn a_recursive_type_has_a_fingerprint() {
		assert_eq!(print::<Tree>(), print::<Tree>());
		assert_ne!(print::<Tree>(), print::<Vec<u8>>());
	}

	#[test]
	fn an_unknown_id_is_not_any_known_type() {
		let (registry, _) = registry_of::<u8>();
		assert_ne!(fingerprint(&registry, 999), print::<u8>());
	}
}
