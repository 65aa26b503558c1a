//! How some fields are written in JSON: byte strings that hold text as strings, balances as
//! decimal strings (a `u128` does not fit a JavaScript number).

use alloc::{string::String, vec::Vec};
use serde::{Deserialize, Deserializer, Serializer};

/// UTF-8 text stored as bytes (region codes, metadata); invalid bytes become U+FFFD.
pub mod text {
	use super::*;

	pub fn serialize<S: Serializer>(bytes: &[u8], serializer: S) -> Result<S::Ok, S::Error> {
		serializer.serialize_str(&String::from_utf8_lossy(bytes))
	}

	pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<u8>, D::Error> {
		Ok(String::deserialize(deserializer)?.into_bytes())
	}
}

/// A list of texts stored as bytes.
pub mod texts {
	use super::*;
	use serde::ser::SerializeSeq;

	pub fn serialize<S: Serializer>(items: &[Vec<u8>], serializer: S) -> Result<S::Ok, S::Error> {
		let mut seq = serializer.serialize_seq(Some(items.len()))?;
		for item in items {
			seq.serialize_element(&*String::from_utf8_lossy(item))?;
		}
		seq.end()
	}

	pub fn deserialize<'de, D: Deserializer<'de>>(
		deserializer: D,
	) -> Result<Vec<Vec<u8>>, D::Error> {
		Ok(Vec::<String>::deserialize(deserializer)?.into_iter().map(String::into_bytes).collect())
	}
}

/// An amount of planck as a decimal string.
pub mod planck {
	use super::*;
	use alloc::string::ToString;

	pub fn serialize<S: Serializer>(amount: &u128, serializer: S) -> Result<S::Ok, S::Error> {
		serializer.serialize_str(&amount.to_string())
	}

	pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<u128, D::Error> {
		String::deserialize(deserializer)?.parse().map_err(serde::de::Error::custom)
	}
}

/// An optional amount of planck as a decimal string or `null`.
pub mod planck_option {
	use super::*;
	use alloc::string::ToString;

	pub fn serialize<S: Serializer>(
		amount: &Option<u128>,
		serializer: S,
	) -> Result<S::Ok, S::Error> {
		match amount {
			Some(amount) => serializer.serialize_str(&amount.to_string()),
			None => serializer.serialize_none(),
		}
	}

	pub fn deserialize<'de, D: Deserializer<'de>>(
		deserializer: D,
	) -> Result<Option<u128>, D::Error> {
		Option::<String>::deserialize(deserializer)?
			.map(|text| text.parse().map_err(serde::de::Error::custom))
			.transpose()
	}
}
