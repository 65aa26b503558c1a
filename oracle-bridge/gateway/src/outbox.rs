//! The durable outbox: every signed report is committed here (fsync'd) before it is submitted,
//! and removed only when the chain has finalized it.
//!
//! It is a redb database with four tables:
//!
//! | table | key | value |
//! | --- | --- | --- |
//! | `pending` | (device id, sequence) | SCALE-encoded `SignedReport` |
//! | `rejected` | (device id, sequence) | SCALE `(RejectionReason, SignedReport)`, kept for the operator |
//! | `progress` | device id | SCALE `DeviceProgress`: last sequence, interval end, counters, the device's last reading and its counters before a drop |
//! | `meta` | name | the genesis hash of the chain this outbox belongs to |
//!
//! A report and its device's new progress are written in one transaction, so after a crash
//! the sequence numbers always continue where the last durable report left off.
//!
//! Only reports rejected for good reach `rejected`. Those the chain refused for a reason that may
//! go away (`IntervalInFuture`, `DeviceNotActive`) stay in `pending`; the submitter holds their
//! device back for a while and submits them again (see [`crate::submitter`]).

use std::{
	collections::{BTreeMap, BTreeSet},
	path::Path,
	sync::Arc,
};

use codec::{Decode, Encode};
use openvpp_primitives::{DeviceId, RejectionReason, SignedReport};
use redb::{Database, ReadableDatabase, ReadableTable, ReadableTableMetadata, TableDefinition};
use sp_core::H256;

use crate::aggregator::DeviceProgress;

const PENDING: TableDefinition<(u32, u64), &[u8]> = TableDefinition::new("pending");
const REJECTED: TableDefinition<(u32, u64), &[u8]> = TableDefinition::new("rejected");
const PROGRESS: TableDefinition<u32, &[u8]> = TableDefinition::new("progress");
const META: TableDefinition<&str, &[u8]> = TableDefinition::new("meta");
/// Rows that could not be read, moved out of `pending` (reports) so that they stop nothing.
const QUARANTINE: TableDefinition<(u32, u64), &[u8]> = TableDefinition::new("quarantine");
/// Progress rows that could not be read.
const QUARANTINE_PROGRESS: TableDefinition<u32, &[u8]> =
	TableDefinition::new("quarantine_progress");

/// A report's key: device and sequence.
pub type ReportKey = (DeviceId, u64);

#[derive(Debug, thiserror::Error)]
pub enum OutboxError {
	#[error("outbox database: {0}")]
	Database(#[from] redb::Error),
	#[error("outbox entry {0:?} does not decode: {1}")]
	Corrupt(String, codec::Error),
	#[error(
		"this outbox belongs to the chain with genesis {stored:?}, not {expected:?}; \
		 use another outbox file for another chain"
	)]
	WrongChain { stored: H256, expected: H256 },
	#[error("outbox task failed: {0}")]
	Task(String),
}

fn db_error(e: impl Into<redb::Error>) -> OutboxError {
	OutboxError::Database(e.into())
}

/// A row of the rejected table: the reason, then the report as it was pending.
fn rejected_row(reason: RejectionReason, report: &[u8]) -> Vec<u8> {
	let mut row = reason.encode();
	row.extend_from_slice(report);
	row
}

/// A pending row's report, if the row is sound.
fn decode_pending(key: ReportKey, mut bytes: &[u8]) -> Result<SignedReport, String> {
	let signed = SignedReport::decode(&mut bytes).map_err(|e| e.to_string())?;
	if !bytes.is_empty() {
		return Err(format!("{} bytes left over", bytes.len()));
	}
	if (signed.report.device_id, signed.report.sequence) != key {
		return Err(format!(
			"it holds report ({}, {})",
			signed.report.device_id, signed.report.sequence
		));
	}
	Ok(signed)
}

/// A handle to the outbox; cheap to clone.
#[derive(Clone)]
pub struct Outbox {
	db: Arc<Database>,
}

impl Outbox {
	/// Opens (or creates) the outbox for the chain with `genesis`.
	pub fn open(path: &Path, genesis: H256) -> Result<Outbox, OutboxError> {
		let db = Database::create(path).map_err(db_error)?;
		let tx = db.begin_write().map_err(db_error)?;
		{
			let mut meta = tx.open_table(META).map_err(db_error)?;
			let stored = meta.get("genesis").map_err(db_error)?.map(|g| g.value().to_vec());
			match stored {
				Some(bytes) => {
					let stored = H256::from_slice(bytes.get(..32).unwrap_or(&[0; 32]));
					if stored != genesis {
						return Err(OutboxError::WrongChain { stored, expected: genesis });
					}
				}
				None => {
					meta.insert("genesis", genesis.as_bytes()).map_err(db_error)?;
				}
			}
			// Create the other tables so that readers find them.
			tx.open_table(PENDING).map_err(db_error)?;
			tx.open_table(REJECTED).map_err(db_error)?;
			tx.open_table(PROGRESS).map_err(db_error)?;
		}
		tx.commit().map_err(db_error)?;
		Ok(Outbox { db: Arc::new(db) })
	}

	/// Opens an existing outbox without knowing the chain, returning the chain's genesis hash
	/// recorded in it; `None` if there is no outbox at `path` yet.
	pub fn open_existing(path: &Path) -> Result<Option<(Outbox, H256)>, OutboxError> {
		if !path.exists() {
			return Ok(None);
		}
		let db = Database::create(path).map_err(db_error)?;
		let genesis = {
			let tx = db.begin_read().map_err(db_error)?;
			let meta = match tx.open_table(META) {
				Ok(meta) => meta,
				Err(redb::TableError::TableDoesNotExist(_)) => return Ok(None),
				Err(e) => return Err(db_error(e)),
			};
			let stored = meta.get("genesis").map_err(db_error)?.map(|g| g.value().to_vec());
			match stored {
				Some(bytes) if bytes.len() == 32 => H256::from_slice(&bytes),
				_ => return Ok(None),
			}
		};
		Ok(Some((Outbox { db: Arc::new(db) }, genesis)))
	}

	/// Runs blocking outbox work off the async runtime.
	pub async fn run<T, F>(&self, work: F) -> Result<T, OutboxError>
	where
		T: Send + 'static,
		F: FnOnce(&Outbox) -> Result<T, OutboxError> + Send + 'static,
	{
		let outbox = self.clone();
		tokio::task::spawn_blocking(move || work(&outbox))
			.await
			.map_err(|e| OutboxError::Task(e.to_string()))?
	}

	/// Durably records new reports and their devices' progress, in one transaction.
	pub fn record(
		&self,
		reports: &[SignedReport],
		progress: &[(DeviceId, DeviceProgress)],
	) -> Result<(), OutboxError> {
		self.record_with(reports, progress, || Ok(()))
	}

	/// [`Outbox::record`], running `before_commit` once everything is in the transaction: an
	/// error from it abandons the whole write (tests fail a write half-way with it).
	pub(crate) fn record_with(
		&self,
		reports: &[SignedReport],
		progress: &[(DeviceId, DeviceProgress)],
		before_commit: impl FnOnce() -> Result<(), OutboxError>,
	) -> Result<(), OutboxError> {
		let tx = self.db.begin_write().map_err(db_error)?;
		{
			let mut pending = tx.open_table(PENDING).map_err(db_error)?;
			for signed in reports {
				let key = (signed.report.device_id, signed.report.sequence);
				pending.insert(key, signed.encode().as_slice()).map_err(db_error)?;
			}
			let mut table = tx.open_table(PROGRESS).map_err(db_error)?;
			for (device, state) in progress {
				table.insert(*device, state.encode().as_slice()).map_err(db_error)?;
			}
		}
		before_commit()?;
		tx.commit().map_err(db_error)
	}

	/// Every device's progress. A row that cannot be read is moved to the quarantine and left
	/// out: that device continues from what the chain has seen (or from scratch, offline).
	pub fn progress(&self) -> Result<BTreeMap<DeviceId, DeviceProgress>, OutboxError> {
		let mut out = BTreeMap::new();
		let mut corrupt = Vec::new();
		{
			let tx = self.db.begin_read().map_err(db_error)?;
			let table = tx.open_table(PROGRESS).map_err(db_error)?;
			for entry in table.iter().map_err(db_error)? {
				let (key, value) = entry.map_err(db_error)?;
				match DeviceProgress::decode_stored(value.value()) {
					Ok(progress) => {
						out.insert(key.value(), progress);
					}
					Err(error) => {
						tracing::error!(device_id = key.value(), %error, "an outbox progress row does not decode: moved to the quarantine table");
						corrupt.push((key.value(), value.value().to_vec()));
					}
				}
			}
		}
		if !corrupt.is_empty() {
			let tx = self.db.begin_write().map_err(db_error)?;
			{
				let mut table = tx.open_table(PROGRESS).map_err(db_error)?;
				let mut quarantine = tx.open_table(QUARANTINE_PROGRESS).map_err(db_error)?;
				for (key, bytes) in &corrupt {
					table.remove(*key).map_err(db_error)?;
					quarantine.insert(*key, bytes.as_slice()).map_err(db_error)?;
				}
			}
			tx.commit().map_err(db_error)?;
		}
		Ok(out)
	}

	/// Up to `limit` pending reports in (device, sequence) order, skipping `exclude`d devices.
	///
	/// A row that cannot be read — it does not decode, has bytes left over, or holds another
	/// report than its key names — is moved to the quarantine table (and logged) instead of
	/// stopping the submission of every other report.
	pub fn pending(
		&self,
		limit: usize,
		exclude: &BTreeSet<DeviceId>,
	) -> Result<Vec<SignedReport>, OutboxError> {
		let mut out = Vec::new();
		let mut corrupt = Vec::new();
		{
			let tx = self.db.begin_read().map_err(db_error)?;
			let table = tx.open_table(PENDING).map_err(db_error)?;
			for entry in table.iter().map_err(db_error)? {
				if out.len() >= limit {
					break;
				}
				let (key, value) = entry.map_err(db_error)?;
				let key = key.value();
				if exclude.contains(&key.0) {
					continue;
				}
				match decode_pending(key, value.value()) {
					Ok(signed) => out.push(signed),
					Err(problem) => {
						tracing::error!(device_id = key.0, sequence = key.1, %problem, "an outbox report does not decode: moved to the quarantine table");
						corrupt.push((key, value.value().to_vec()));
					}
				}
			}
		}
		if !corrupt.is_empty() {
			let tx = self.db.begin_write().map_err(db_error)?;
			{
				let mut pending = tx.open_table(PENDING).map_err(db_error)?;
				let mut quarantine = tx.open_table(QUARANTINE).map_err(db_error)?;
				for (key, bytes) in &corrupt {
					pending.remove(*key).map_err(db_error)?;
					quarantine.insert(*key, bytes.as_slice()).map_err(db_error)?;
				}
			}
			tx.commit().map_err(db_error)?;
		}
		Ok(out)
	}

	/// Rows moved to the quarantine (reports and progress).
	pub fn quarantined(&self) -> Result<u64, OutboxError> {
		let tx = self.db.begin_read().map_err(db_error)?;
		let count = |result: Result<u64, OutboxError>| match result {
			Err(OutboxError::Database(redb::Error::TableDoesNotExist(_))) => Ok(0),
			other => other,
		};
		let reports = count(match tx.open_table(QUARANTINE) {
			Ok(table) => table.len().map_err(db_error),
			Err(error) => Err(db_error(error)),
		})?;
		let progress = count(match tx.open_table(QUARANTINE_PROGRESS) {
			Ok(table) => table.len().map_err(db_error),
			Err(error) => Err(db_error(error)),
		})?;
		Ok(reports + progress)
	}

	/// Removes finalized reports and moves rejected ones to the rejected table.
	pub fn settle(
		&self,
		delivered: &[ReportKey],
		rejected: &[(ReportKey, RejectionReason)],
	) -> Result<(), OutboxError> {
		let tx = self.db.begin_write().map_err(db_error)?;
		{
			let mut pending = tx.open_table(PENDING).map_err(db_error)?;
			let mut rejected_table = tx.open_table(REJECTED).map_err(db_error)?;
			for key in delivered {
				pending.remove(*key).map_err(db_error)?;
			}
			for (key, reason) in rejected {
				let report = pending.remove(*key).map_err(db_error)?.map(|v| v.value().to_vec());
				if let Some(report) = report {
					let entry = rejected_row(*reason, &report);
					rejected_table.insert(*key, entry.as_slice()).map_err(db_error)?;
				}
			}
		}
		tx.commit().map_err(db_error)
	}

	/// Moves every pending report of `device` to the rejected table with `reason`: the chain
	/// would reject them all (the device was retired, rebound, re-keyed or deactivated). Returns
	/// how many were moved.
	pub fn shelve_device(
		&self,
		device: DeviceId,
		reason: RejectionReason,
	) -> Result<usize, OutboxError> {
		let tx = self.db.begin_write().map_err(db_error)?;
		let moved;
		{
			let mut pending = tx.open_table(PENDING).map_err(db_error)?;
			let mut rejected = tx.open_table(REJECTED).map_err(db_error)?;
			let mut rows = Vec::new();
			for entry in pending.range((device, 0)..=(device, u64::MAX)).map_err(db_error)? {
				let (key, value) = entry.map_err(db_error)?;
				rows.push((key.value(), value.value().to_vec()));
			}
			for (key, report) in &rows {
				pending.remove(*key).map_err(db_error)?;
				rejected.insert(*key, rejected_row(reason, report).as_slice()).map_err(db_error)?;
			}
			moved = rows.len();
		}
		tx.commit().map_err(db_error)?;
		Ok(moved)
	}

	/// Numbers of pending and rejected reports.
	pub fn counts(&self) -> Result<(u64, u64), OutboxError> {
		let tx = self.db.begin_read().map_err(db_error)?;
		let pending = tx.open_table(PENDING).map_err(db_error)?.len().map_err(db_error)?;
		let rejected = tx.open_table(REJECTED).map_err(db_error)?.len().map_err(db_error)?;
		Ok((pending, rejected))
	}

	/// The rejected reports with their reasons.
	pub fn rejected(&self) -> Result<Vec<(ReportKey, RejectionReason)>, OutboxError> {
		let tx = self.db.begin_read().map_err(db_error)?;
		let table = tx.open_table(REJECTED).map_err(db_error)?;
		let mut out = Vec::new();
		for entry in table.iter().map_err(db_error)? {
			let (key, value) = entry.map_err(db_error)?;
			let reason = RejectionReason::decode(&mut value.value())
				.map_err(|e| OutboxError::Corrupt(format!("rejected {:?}", key.value()), e))?;
			out.push((key.value(), reason));
		}
		Ok(out)
	}
}

#[cfg(test)]
mod tests {
	use super::*;
	use openvpp_primitives::{
		AttestationSignature, DeviceState, GridResponseStatus, IntervalReport, QualityFlags,
	};

	fn signed(device_id: DeviceId, sequence: u64) -> SignedReport {
		SignedReport {
			report: IntervalReport {
				device_id,
				sequence,
				interval_start: 1_000 * sequence,
				interval_length_s: 60,
				energy_imported_wh: 1,
				energy_exported_wh: 2,
				cumulative_imported_wh: 3,
				cumulative_exported_wh: 4,
				average_power_w: 5,
				peak_power_w: 6,
				soc_bp: None,
				device_state: DeviceState::Operating,
				grid_response: GridResponseStatus::Idle,
				online_s: 60,
				quality: QualityFlags::default(),
			},
			signature: AttestationSignature::Sr25519(sp_core::sr25519::Signature::from_raw(
				[7; 64],
			)),
		}
	}

	#[test]
	fn reports_survive_reopening_until_settled() {
		let dir = tempfile::tempdir().unwrap();
		let path = dir.path().join("outbox.redb");
		let genesis = H256::repeat_byte(1);
		{
			let outbox = Outbox::open(&path, genesis).unwrap();
			let progress =
				DeviceProgress { last_sequence: 2, last_interval_end: 60, ..Default::default() };
			outbox.record(&[signed(1, 1), signed(1, 2), signed(2, 1)], &[(1, progress)]).unwrap();
		}
		let outbox = Outbox::open(&path, genesis).unwrap();
		assert_eq!(outbox.counts().unwrap(), (3, 0));
		assert_eq!(outbox.progress().unwrap()[&1].last_sequence, 2);
		let all = outbox.pending(10, &BTreeSet::new()).unwrap();
		assert_eq!(all, vec![signed(1, 1), signed(1, 2), signed(2, 1)]);
		// In-flight devices are skipped, and the limit holds.
		assert_eq!(outbox.pending(10, &BTreeSet::from([1])).unwrap(), vec![signed(2, 1)]);
		assert_eq!(outbox.pending(1, &BTreeSet::new()).unwrap().len(), 1);

		outbox.settle(&[(1, 1)], &[((1, 2), RejectionReason::BadSignature)]).unwrap();
		assert_eq!(outbox.counts().unwrap(), (1, 1));
		assert_eq!(outbox.rejected().unwrap(), vec![((1, 2), RejectionReason::BadSignature)]);
	}

	#[test]
	fn progress_of_an_older_bridge_is_read() {
		let dir = tempfile::tempdir().unwrap();
		let outbox = Outbox::open(&dir.path().join("outbox.redb"), H256::repeat_byte(1)).unwrap();
		// Written before `DeviceProgress::last_reading` existed.
		let tx = outbox.db.begin_write().unwrap();
		tx.open_table(PROGRESS)
			.unwrap()
			.insert(4, (9u64, 1_800u64, 100u64, 200u64).encode().as_slice())
			.unwrap();
		tx.commit().unwrap();
		let progress = outbox.progress().unwrap()[&4];
		assert_eq!((progress.last_sequence, progress.cumulative_exported_wh), (9, 200));
		assert_eq!(progress.last_reading, None);
	}

	#[test]
	fn a_stopped_devices_pending_reports_are_shelved() {
		let dir = tempfile::tempdir().unwrap();
		let outbox = Outbox::open(&dir.path().join("outbox.redb"), H256::repeat_byte(1)).unwrap();
		outbox.record(&[signed(1, 1), signed(2, 1), signed(2, 2), signed(3, 1)], &[]).unwrap();
		assert_eq!(outbox.shelve_device(2, RejectionReason::UnknownDevice).unwrap(), 2);
		assert_eq!(outbox.pending(10, &BTreeSet::new()).unwrap(), vec![signed(1, 1), signed(3, 1)]);
		assert_eq!(
			outbox.rejected().unwrap(),
			vec![
				((2, 1), RejectionReason::UnknownDevice),
				((2, 2), RejectionReason::UnknownDevice)
			]
		);
	}

	#[test]
	fn a_corrupt_row_is_quarantined_and_stops_nothing() {
		let dir = tempfile::tempdir().unwrap();
		let outbox = Outbox::open(&dir.path().join("outbox.redb"), H256::repeat_byte(1)).unwrap();
		outbox.record(&[signed(1, 1), signed(2, 1), signed(3, 1)], &[]).unwrap();
		let tx = outbox.db.begin_write().unwrap();
		{
			let mut pending = tx.open_table(PENDING).unwrap();
			// Truncated, and a sound report filed under another key.
			pending.insert((2, 1), &signed(2, 1).encode()[..10]).unwrap();
			pending.insert((4, 7), signed(4, 8).encode().as_slice()).unwrap();
			let mut progress = tx.open_table(PROGRESS).unwrap();
			progress.insert(5, [1u8, 2, 3].as_slice()).unwrap();
		}
		tx.commit().unwrap();

		// The sound reports still come out, in order; the bad rows are moved aside.
		assert_eq!(outbox.pending(10, &BTreeSet::new()).unwrap(), vec![signed(1, 1), signed(3, 1)]);
		assert_eq!(outbox.counts().unwrap(), (2, 0));
		assert_eq!(outbox.quarantined().unwrap(), 2);
		// A corrupt progress row does not stop the start either.
		assert!(outbox.progress().unwrap().is_empty());
		assert_eq!(outbox.quarantined().unwrap(), 3);
		// Quarantined rows are kept as they were, for inspection.
		let tx = outbox.db.begin_read().unwrap();
		let quarantine = tx.open_table(QUARANTINE).unwrap();
		assert_eq!(quarantine.get((2, 1)).unwrap().unwrap().value(), &signed(2, 1).encode()[..10]);
	}

	#[test]
	fn an_existing_outbox_opens_without_the_chain() {
		let dir = tempfile::tempdir().unwrap();
		let path = dir.path().join("outbox.redb");
		assert!(Outbox::open_existing(&path).unwrap().is_none());
		drop(Outbox::open(&path, H256::repeat_byte(3)).unwrap());
		let (_, genesis) = Outbox::open_existing(&path).unwrap().unwrap();
		assert_eq!(genesis, H256::repeat_byte(3));
	}

	#[test]
	fn an_outbox_of_another_chain_is_refused() {
		let dir = tempfile::tempdir().unwrap();
		let path = dir.path().join("outbox.redb");
		drop(Outbox::open(&path, H256::repeat_byte(1)).unwrap());
		assert!(matches!(
			Outbox::open(&path, H256::repeat_byte(2)),
			Err(OutboxError::WrongChain { .. })
		));
	}
}
