//! Walking over a SCALE value of a type the bridge does not know, by its metadata.
//!
//! A block's events are one encoded vector of every pallet's events. The bridge decodes the few
//! it uses with its own types; every other event is stepped over using the node's type
//! registry, so that a change to an event the bridge never reads cannot stop it from reading
//! the ones it does.

use codec::{Compact, Decode};
use scale_info::{PortableRegistry, TypeDef, TypeDefPrimitive};

/// Deeper nesting than this is refused (a sound runtime's types nest a few dozen levels).
const MAX_DEPTH: u32 = 256;

/// Why a value could not be stepped over.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SkipError {
	#[error("the value ends early")]
	Truncated,
	#[error("type {0} is not in the registry")]
	UnknownType(u32),
	#[error("type {ty} has no variant {index}")]
	UnknownVariant { ty: u32, index: u8 },
	#[error("types nest deeper than {MAX_DEPTH}")]
	TooDeep,
	#[error("bad compact length")]
	BadCompact,
	#[error("a bit sequence stored in a non-integer type")]
	BadBitStore,
}

/// Advances `input` past one value of type `id`.
pub fn skip(registry: &PortableRegistry, id: u32, input: &mut &[u8]) -> Result<(), SkipError> {
	skip_at(registry, id, input, 0)
}

fn take(input: &mut &[u8], n: usize) -> Result<(), SkipError> {
	if input.len() < n {
		return Err(SkipError::Truncated);
	}
	*input = &input[n..];
	Ok(())
}

fn length(input: &mut &[u8]) -> Result<usize, SkipError> {
	let Compact(n) = Compact::<u32>::decode(input).map_err(|_| SkipError::BadCompact)?;
	Ok(n as usize)
}

/// Steps over a compact integer whatever its width (the first byte's two low bits say how
/// many bytes follow).
fn skip_compact(input: &mut &[u8]) -> Result<(), SkipError> {
	let first = *input.first().ok_or(SkipError::Truncated)?;
	let n = match first & 0b11 {
		0 => 1,
		1 => 2,
		2 => 4,
		_ => usize::from(first >> 2) + 5,
	};
	take(input, n)
}

fn primitive_size(primitive: &TypeDefPrimitive) -> Option<usize> {
	use TypeDefPrimitive::*;
	Some(match primitive {
		Bool | U8 | I8 => 1,
		U16 | I16 => 2,
		U32 | I32 | Char => 4,
		U64 | I64 => 8,
		U128 | I128 => 16,
		U256 | I256 => 32,
		Str => return None,
	})
}

fn skip_at(
	registry: &PortableRegistry,
	id: u32,
	input: &mut &[u8],
	depth: u32,
) -> Result<(), SkipError> {
	if depth > MAX_DEPTH {
		return Err(SkipError::TooDeep);
	}
	let ty = registry.resolve(id).ok_or(SkipError::UnknownType(id))?;
	match &ty.type_def {
		TypeDef::Composite(composite) => {
			for field in &composite.fields {
				skip_at(registry, field.ty.id, input, depth + 1)?;
			}
		}
		TypeDef::Variant(variant) => {
			let index = *input.first().ok_or(SkipError::Truncated)?;
			take(input, 1)?;
			let chosen = variant
				.variants
				.iter()
				.find(|v| v.index == index)
				.ok_or(SkipError::UnknownVariant { ty: id, index })?;
			for field in &chosen.fields {
				skip_at(registry, field.ty.id, input, depth + 1)?;
			}
		}
		TypeDef::Sequence(sequence) => {
			let n = length(input)?;
			skip_many(registry, sequence.type_param.id, n, input, depth)?;
		}
		TypeDef::Array(array) => {
			skip_many(registry, array.type_param.id, array.len as usize, input, depth)?;
		}
		TypeDef::Tuple(tuple) => {
			for field in &tuple.fields {
				skip_at(registry, field.id, input, depth + 1)?;
			}
		}
		TypeDef::Primitive(primitive) => match primitive_size(primitive) {
			Some(size) => take(input, size)?,
			None => {
				let n = length(input)?;
				take(input, n)?;
			}
		},
		TypeDef::Compact(_) => skip_compact(input)?,
		TypeDef::BitSequence(bits) => {
			let store = registry.resolve(bits.bit_store_type.id).map(|t| &t.type_def);
			let Some(TypeDef::Primitive(store)) = store else { return Err(SkipError::BadBitStore) };
			let store_bytes = primitive_size(store).ok_or(SkipError::BadBitStore)?;
			let bits = length(input)?;
			let words = bits.div_ceil(store_bytes * 8);
			take(input, words.saturating_mul(store_bytes))?;
		}
	}
	Ok(())
}

/// Steps over `n` values of type `id`; values of a fixed size are stepped over at once (a
/// byte vector is not walked byte by byte).
fn skip_many(
	registry: &PortableRegistry,
	id: u32,
	n: usize,
	input: &mut &[u8],
	depth: u32,
) -> Result<(), SkipError> {
	if let Some(TypeDef::Primitive(primitive)) = registry.resolve(id).map(|t| &t.type_def) {
		if let Some(size) = primitive_size(primitive) {
			return take(input, n.saturating_mul(size));
		}
	}
	for _ in 0..n {
		skip_at(registry, id, input, depth + 1)?;
	}
	Ok(())
}

#[cfg(test)]
mod tests {
	use super::*;
	use codec::Encode;
	use scale_info::{meta_type, Registry, TypeInfo};

	#[derive(Encode, TypeInfo)]
	enum Message {
		Empty,
		Reading { power_w: i32, label: String, energy_wh: Compact<u64> },
		Batch(Vec<(u8, [u16; 3])>, Option<Box<Message>>),
	}

	fn registry_of<T: TypeInfo + 'static>() -> (PortableRegistry, u32) {
		let mut registry = Registry::new();
		let id = registry.register_type(&meta_type::<T>()).id;
		(registry.into(), id)
	}

	#[test]
	fn steps_over_exactly_one_value() {
		let (registry, id) = registry_of::<Message>();
		let values = [
			Message::Empty,
			Message::Reading { power_w: -5, label: "pv".into(), energy_wh: Compact(u64::MAX) },
			Message::Batch(
				vec![(1, [2, 3, 4]), (5, [6, 7, 8])],
				Some(Box::new(Message::Reading {
					power_w: 1,
					label: String::new(),
					energy_wh: Compact(70_000),
				})),
			),
		];
		for value in values {
			let mut bytes = value.encode();
			bytes.extend_from_slice(b"rest");
			let mut input = &bytes[..];
			skip(&registry, id, &mut input).unwrap();
			assert_eq!(input, b"rest");
		}
	}

	#[test]
	fn a_truncated_value_or_an_unknown_variant_is_an_error() {
		let (registry, id) = registry_of::<Message>();
		let bytes =
			Message::Reading { power_w: 1, label: "x".into(), energy_wh: Compact(1) }.encode();
		let mut input = &bytes[..bytes.len() - 1];
		assert_eq!(skip(&registry, id, &mut input), Err(SkipError::Truncated));
		let mut input = &[9u8][..];
		assert!(matches!(skip(&registry, id, &mut input), Err(SkipError::UnknownVariant { .. })));
		let mut input = &[0u8][..];
		assert_eq!(skip(&registry, 4_000, &mut input), Err(SkipError::UnknownType(4_000)));
	}
}
