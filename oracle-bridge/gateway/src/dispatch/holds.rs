//! The devices the dispatcher holds, with the setting each had before, kept in a file next to
//! the outbox: a bridge restarted mid-event knows what to give each device back at the end.
//!
//! The file is JSON, replaced whole (written aside, synced, renamed) on every change, so that
//! a crash leaves the old or the new version, never half of one.

use std::{
	collections::BTreeMap,
	io::Write,
	path::{Path, PathBuf},
};

use openvpp_primitives::DeviceId;
use serde::{Deserialize, Serialize};

/// A device's setting before the first command of an event.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case", deny_unknown_fields)]
pub enum Previous {
	/// SunSpec model 124 control points.
	Storage { stor_ctl_mod: u16, out_w_rte: i16, in_w_rte: i16, revert_s: u16 },
	/// An `openvpp-json` device: `release` gives it its own behaviour back.
	Released,
	/// An evcc loadpoint's current limit (A).
	Current { amps: f64 },
	/// A relay's state.
	Relay { on: bool },
}

/// A device under the dispatcher's command.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Held {
	pub event: u32,
	pub previous: Previous,
	/// The owner overrode the command: the device is left alone for the rest of the event.
	#[serde(default)]
	pub overridden: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum HoldsError {
	#[error("cannot write {path}: {source}")]
	Write { path: PathBuf, source: std::io::Error },
}

/// The held devices, mirrored in a file.
#[derive(Debug)]
pub struct Holds {
	path: PathBuf,
	held: BTreeMap<DeviceId, Held>,
}

impl Holds {
	/// Reads the file if there is one. One that cannot be read is set aside (renamed with
	/// `.unreadable`) and the dispatcher starts without holds: the devices revert by their own
	/// timeouts.
	pub fn load(path: &Path) -> Holds {
		let held = match std::fs::read(path) {
			Ok(bytes) => match serde_json::from_slice(&bytes) {
				Ok(held) => held,
				Err(error) => {
					let aside = path.with_extension("unreadable");
					let _ = std::fs::rename(path, &aside);
					tracing::error!(path = %path.display(), aside = %aside.display(), %error, "the dispatcher's holds file cannot be read; set aside, starting without holds (devices revert by their own timeouts)");
					BTreeMap::new()
				}
			},
			Err(error) if error.kind() == std::io::ErrorKind::NotFound => BTreeMap::new(),
			Err(error) => {
				tracing::error!(path = %path.display(), %error, "cannot read the dispatcher's holds file; starting without holds");
				BTreeMap::new()
			}
		};
		Holds { path: path.to_path_buf(), held }
	}

	pub fn get(&self, device: DeviceId) -> Option<&Held> {
		self.held.get(&device)
	}

	pub fn devices(&self) -> impl Iterator<Item = DeviceId> + '_ {
		self.held.keys().copied()
	}

	pub fn len(&self) -> usize {
		self.held.len()
	}

	pub fn is_empty(&self) -> bool {
		self.held.is_empty()
	}

	/// Records a hold (or its change) and writes the file.
	pub fn put(&mut self, device: DeviceId, held: Held) -> Result<(), HoldsError> {
		if self.held.get(&device) == Some(&held) {
			return Ok(());
		}
		self.held.insert(device, held);
		self.save()
	}

	/// Forgets a device given back, and writes the file.
	pub fn remove(&mut self, device: DeviceId) -> Result<(), HoldsError> {
		if self.held.remove(&device).is_some() {
			self.save()?;
		}
		Ok(())
	}

	fn save(&self) -> Result<(), HoldsError> {
		let error = |source| HoldsError::Write { path: self.path.clone(), source };
		let text = serde_json::to_vec_pretty(&self.held).map_err(|e| error(e.into()))?;
		let aside = self.path.with_extension("new");
		let mut file = std::fs::File::create(&aside).map_err(error)?;
		file.write_all(&text).map_err(error)?;
		file.sync_all().map_err(error)?;
		std::fs::rename(&aside, &self.path).map_err(error)
	}
}

#[cfg(test)]
mod tests {
	use super::*;

	#[test]
	fn holds_survive_a_restart_and_a_bad_file_is_set_aside() {
		let dir = tempfile::tempdir().unwrap();
		let path = dir.path().join("dispatch-holds.json");
		let mut holds = Holds::load(&path);
		assert!(holds.is_empty());
		let storage = Held {
			event: 3,
			previous: Previous::Storage {
				stor_ctl_mod: 0,
				out_w_rte: 100,
				in_w_rte: 100,
				revert_s: 0,
			},
			overridden: false,
		};
		holds.put(3, storage).unwrap();
		holds
			.put(7, Held { event: 3, previous: Previous::Relay { on: true }, overridden: true })
			.unwrap();
		let again = Holds::load(&path);
		assert_eq!(again.get(3), Some(&storage));
		assert_eq!(again.devices().collect::<Vec<_>>(), vec![3, 7]);
		holds.remove(3).unwrap();
		assert_eq!(Holds::load(&path).len(), 1);

		std::fs::write(&path, b"{ half").unwrap();
		assert!(Holds::load(&path).is_empty());
		assert!(path.with_extension("unreadable").exists());
	}
}
