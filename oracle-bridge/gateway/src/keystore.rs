//! Device attestation keys and the gateway key, read from files only the bridge's user can read.
//!
//! The keystore is a JSON file:
//!
//! ```json
//! { "devices": [ { "device_id": 3, "scheme": "sr25519", "secret": "//OpenVPP-Demo//home-battery" } ] }
//! ```
//!
//! `secret` is a secret URI (a mnemonic or `0x…` seed, optionally with `//derivation` paths).
//! The bridge refuses to start if the file is readable or writable by group or others.

use std::{collections::BTreeMap, fmt, path::Path};

use openvpp_primitives::{AttestationKey, AttestationSignature, DeviceId};
use serde::Deserialize;
use sp_core::{ecdsa, ed25519, sr25519, Pair};

#[derive(Debug, thiserror::Error)]
pub enum KeystoreError {
	#[error("cannot read {path}: {source}")]
	Read { path: String, source: std::io::Error },
	#[error("{path} is accessible by group or others (mode {mode:o}); run `chmod 600 {path}`")]
	LoosePermissions { path: String, mode: u32 },
	#[error("{path} is not a valid keystore: {message}")]
	Parse { path: String, message: String },
	#[error("device {device_id}: invalid {scheme} secret")]
	BadSecret { device_id: DeviceId, scheme: &'static str },
	#[error("device {0} appears twice in the keystore")]
	Duplicate(DeviceId),
	#[error("invalid gateway secret")]
	BadGatewaySecret,
}

/// Refuses files that anyone but the owner may read or write.
pub fn check_permissions(path: &Path) -> Result<(), KeystoreError> {
	#[cfg(unix)]
	{
		use std::os::unix::fs::PermissionsExt;
		let metadata = std::fs::metadata(path)
			.map_err(|source| KeystoreError::Read { path: path.display().to_string(), source })?;
		let mode = metadata.permissions().mode() & 0o777;
		if mode & 0o077 != 0 {
			return Err(KeystoreError::LoosePermissions { path: path.display().to_string(), mode });
		}
	}
	Ok(())
}

/// Reads a secret file after checking its permissions.
pub fn read_secret_file(path: &Path) -> Result<String, KeystoreError> {
	check_permissions(path)?;
	std::fs::read_to_string(path)
		.map(|s| s.trim().to_string())
		.map_err(|source| KeystoreError::Read { path: path.display().to_string(), source })
}

/// A device's attestation key pair.
#[derive(Clone)]
pub enum DeviceKey {
	Sr25519(sr25519::Pair),
	// Boxed: an ed25519 pair is twice the size of the others.
	Ed25519(Box<ed25519::Pair>),
	Ecdsa(ecdsa::Pair),
}

impl fmt::Debug for DeviceKey {
	fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
		// Never print secrets.
		write!(f, "DeviceKey({:?})", self.public())
	}
}

impl DeviceKey {
	/// The key pair for a secret URI in the given scheme (`sr25519`, `ed25519`, `ecdsa`).
	pub fn from_secret(scheme: &str, secret: &str) -> Option<DeviceKey> {
		match scheme {
			"sr25519" => sr25519::Pair::from_string(secret, None).ok().map(DeviceKey::Sr25519),
			"ed25519" => ed25519::Pair::from_string(secret, None)
				.ok()
				.map(|p| DeviceKey::Ed25519(Box::new(p))),
			"ecdsa" => ecdsa::Pair::from_string(secret, None).ok().map(DeviceKey::Ecdsa),
			_ => None,
		}
	}

	pub fn public(&self) -> AttestationKey {
		match self {
			DeviceKey::Sr25519(pair) => pair.public().into(),
			DeviceKey::Ed25519(pair) => pair.public().into(),
			DeviceKey::Ecdsa(pair) => pair.public().into(),
		}
	}

	pub fn sign(&self, message: &[u8]) -> AttestationSignature {
		match self {
			DeviceKey::Sr25519(pair) => pair.sign(message).into(),
			DeviceKey::Ed25519(pair) => pair.sign(message).into(),
			DeviceKey::Ecdsa(pair) => pair.sign(message).into(),
		}
	}
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct KeystoreFile {
	devices: Vec<KeyEntry>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct KeyEntry {
	device_id: DeviceId,
	scheme: String,
	secret: String,
}

/// The devices' keys, by device id.
#[derive(Debug, Default, Clone)]
pub struct Keystore {
	keys: BTreeMap<DeviceId, DeviceKey>,
}

impl Keystore {
	/// Loads a keystore file, refusing loose permissions.
	pub fn load(path: &Path) -> Result<Keystore, KeystoreError> {
		let text = read_secret_file(path)?;
		Keystore::parse(&text).map_err(|e| match e {
			KeystoreError::Parse { message, .. } => {
				KeystoreError::Parse { path: path.display().to_string(), message }
			}
			other => other,
		})
	}

	/// Parses keystore JSON.
	pub fn parse(text: &str) -> Result<Keystore, KeystoreError> {
		let file: KeystoreFile = serde_json::from_str(text)
			.map_err(|e| KeystoreError::Parse { path: String::new(), message: e.to_string() })?;
		let mut keys = BTreeMap::new();
		for entry in file.devices {
			let scheme = match entry.scheme.as_str() {
				"sr25519" => "sr25519",
				"ed25519" => "ed25519",
				"ecdsa" => "ecdsa",
				other => {
					return Err(KeystoreError::Parse {
						path: String::new(),
						message: format!("device {}: unknown scheme {other:?}", entry.device_id),
					})
				}
			};
			let key = DeviceKey::from_secret(scheme, &entry.secret)
				.ok_or(KeystoreError::BadSecret { device_id: entry.device_id, scheme })?;
			if keys.insert(entry.device_id, key).is_some() {
				return Err(KeystoreError::Duplicate(entry.device_id));
			}
		}
		Ok(Keystore { keys })
	}

	pub fn get(&self, device_id: DeviceId) -> Option<&DeviceKey> {
		self.keys.get(&device_id)
	}

	pub fn insert(&mut self, device_id: DeviceId, key: DeviceKey) {
		self.keys.insert(device_id, key);
	}

	pub fn len(&self) -> usize {
		self.keys.len()
	}

	pub fn is_empty(&self) -> bool {
		self.keys.is_empty()
	}
}

/// The gateway account's key pair from its secret URI.
pub fn gateway_pair(secret: &str) -> Result<sr25519::Pair, KeystoreError> {
	sr25519::Pair::from_string(secret, None).map_err(|_| KeystoreError::BadGatewaySecret)
}

#[cfg(test)]
mod tests {
	use super::*;
	use std::io::Write;

	#[test]
	fn parses_every_scheme_and_signs() {
		let store = Keystore::parse(
			r#"{"devices": [
				{"device_id": 1, "scheme": "sr25519", "secret": "//a"},
				{"device_id": 2, "scheme": "ed25519", "secret": "//b"},
				{"device_id": 3, "scheme": "ecdsa", "secret": "//c"}
			]}"#,
		)
		.unwrap();
		assert_eq!(store.len(), 3);
		for id in 1..=3 {
			let key = store.get(id).unwrap();
			assert!(key.public().verify(b"m", &key.sign(b"m")));
		}
	}

	#[test]
	fn bad_entries_are_refused() {
		assert!(matches!(
			Keystore::parse(r#"{"devices": [{"device_id": 1, "scheme": "rsa", "secret": "//a"}]}"#),
			Err(KeystoreError::Parse { .. })
		));
		assert!(matches!(
			Keystore::parse(
				r#"{"devices": [{"device_id": 1, "scheme": "sr25519", "secret": "not a secret"}]}"#
			),
			Err(KeystoreError::BadSecret { device_id: 1, .. })
		));
		assert!(matches!(
			Keystore::parse(
				r#"{"devices": [{"device_id": 1, "scheme": "sr25519", "secret": "//a"}, {"device_id": 1, "scheme": "sr25519", "secret": "//b"}]}"#
			),
			Err(KeystoreError::Duplicate(1))
		));
	}

	#[test]
	fn loose_permissions_are_refused() {
		use std::os::unix::fs::PermissionsExt;
		let dir = tempfile::tempdir().unwrap();
		let path = dir.path().join("keys.json");
		let mut file = std::fs::File::create(&path).unwrap();
		file.write_all(br#"{"devices": []}"#).unwrap();
		std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
		assert!(matches!(
			Keystore::load(&path),
			Err(KeystoreError::LoosePermissions { mode: 0o644, .. })
		));
		std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
		assert!(Keystore::load(&path).unwrap().is_empty());
	}
}
