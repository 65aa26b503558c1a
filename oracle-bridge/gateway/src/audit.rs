//! Reading back what reached the chain: every report of every telemetry batch in a range of
//! finalized blocks, with its outcome. Operators use it (`openvpp-bridge audit`) to check a
//! gateway's delivery; the fault tests use it to prove every interval landed exactly once.

use std::collections::{BTreeMap, BTreeSet};

use openvpp_primitives::{DeviceId, IntervalReport, RejectionReason};
use serde::Serialize;

use crate::{
	chain::{Chain, ChainError},
	compat::NodeRuntime,
	wire::{Event, EventRecord},
};

/// What became of one report in one block.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Outcome {
	Accepted,
	Flagged,
	Rejected(#[serde(serialize_with = "debug")] RejectionReason),
}

fn debug<T: std::fmt::Debug, S: serde::Serializer>(value: &T, s: S) -> Result<S::Ok, S::Error> {
	s.serialize_str(&format!("{value:?}"))
}

/// A report found on chain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AuditedReport {
	pub block: u32,
	pub device_id: DeviceId,
	pub sequence: u64,
	pub interval_start: u64,
	pub interval_length_s: u32,
	pub energy_imported_wh: u64,
	pub energy_exported_wh: u64,
	pub cumulative_imported_wh: u64,
	pub cumulative_exported_wh: u64,
	pub average_power_w: i32,
	pub soc_bp: Option<u16>,
	pub online_s: u32,
	#[serde(serialize_with = "grid_response_name")]
	pub grid_response: openvpp_primitives::GridResponseStatus,
	/// The gateway's quality flags ([`openvpp_primitives::QualityFlags`]).
	pub quality: u8,
	pub outcome: Outcome,
}

fn grid_response_name<S: serde::Serializer>(
	status: &openvpp_primitives::GridResponseStatus,
	serializer: S,
) -> Result<S::Ok, S::Error> {
	serializer.serialize_str(&format!("{status:?}").to_lowercase())
}

impl AuditedReport {
	fn new(block: u32, report: &IntervalReport, outcome: Outcome) -> Self {
		AuditedReport {
			block,
			device_id: report.device_id,
			sequence: report.sequence,
			interval_start: report.interval_start,
			interval_length_s: report.interval_length_s,
			energy_imported_wh: report.energy_imported_wh,
			energy_exported_wh: report.energy_exported_wh,
			cumulative_imported_wh: report.cumulative_imported_wh,
			cumulative_exported_wh: report.cumulative_exported_wh,
			average_power_w: report.average_power_w,
			soc_bp: report.soc_bp,
			online_s: report.online_s,
			grid_response: report.grid_response,
			quality: report.quality.0,
			outcome,
		}
	}

	/// Whether the report is on chain (accepted, possibly flagged).
	pub fn landed(&self) -> bool {
		!matches!(self.outcome, Outcome::Rejected(_))
	}
}

/// The reports of the telemetry batches in one block, read with the block's runtime.
pub fn reports_in_block(
	number: u32,
	runtime: &NodeRuntime,
	extrinsics: &[Vec<u8>],
	events: &[EventRecord],
) -> Vec<AuditedReport> {
	let mut out = Vec::new();
	for (index, bytes) in extrinsics.iter().enumerate() {
		let Some(reports) = runtime.submitted_reports(bytes) else { continue };
		let mut rejected = BTreeMap::new();
		let mut flagged = BTreeSet::new();
		let mut processed = false;
		for record in
			events.iter().filter(|r| r.phase == frame_system::Phase::ApplyExtrinsic(index as u32))
		{
			match &record.event {
				Some(Event::ReportRejected { device_id, sequence, reason }) => {
					rejected.insert((*device_id, *sequence), *reason);
				}
				Some(Event::ReportFlagged { device_id, sequence, .. }) => {
					flagged.insert((*device_id, *sequence));
				}
				Some(Event::BatchProcessed { .. }) => processed = true,
				_ => {}
			}
		}
		if !processed {
			continue;
		}
		for signed in reports.iter() {
			let key = (signed.report.device_id, signed.report.sequence);
			let outcome = match (rejected.get(&key), flagged.contains(&key)) {
				(Some(reason), _) => Outcome::Rejected(*reason),
				(None, true) => Outcome::Flagged,
				(None, false) => Outcome::Accepted,
			};
			out.push(AuditedReport::new(number, &signed.report, outcome));
		}
	}
	out
}

/// Every report in the finalized blocks `from..=` the finalized head.
pub async fn audit(chain: &Chain, from: u32) -> Result<Vec<AuditedReport>, ChainError> {
	let head = chain.finalized_head().await?;
	let last = chain.block(head).await?.number;
	let mut out = Vec::new();
	for number in from.max(1)..=last {
		let Some(hash) = chain.block_hash(number).await? else { continue };
		let body = chain.block(hash).await?;
		let runtime = chain.node_runtime(Some(hash)).await?;
		if !body.extrinsics.iter().any(|x| runtime.submitted_reports(x).is_some()) {
			continue;
		}
		let events = chain.events_read_with(hash, &runtime).await?;
		out.extend(reports_in_block(number, &runtime, &body.extrinsics, &events));
	}
	Ok(out)
}

/// A problem with the delivered intervals of one device.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeliveryProblem {
	/// The same interval landed twice.
	Duplicate { device_id: DeviceId, interval_start: u64 },
	/// An interval between the first and the last landed one is missing.
	Missing { device_id: DeviceId, interval_start: u64 },
	/// No report of this device landed at all.
	Nothing { device_id: DeviceId },
}

/// Checks that every interval of every `device` between its first and last landed report is on
/// chain exactly once.
pub fn check_exactly_once(reports: &[AuditedReport], devices: &[DeviceId]) -> Vec<DeliveryProblem> {
	let mut problems = Vec::new();
	for &device_id in devices {
		let mut starts: Vec<(u64, u32)> = reports
			.iter()
			.filter(|r| r.device_id == device_id && r.landed())
			.map(|r| (r.interval_start, r.interval_length_s))
			.collect();
		starts.sort();
		let Some(&(first, _)) = starts.first() else {
			problems.push(DeliveryProblem::Nothing { device_id });
			continue;
		};
		let mut expected = first;
		for (start, length) in starts {
			if start < expected {
				problems.push(DeliveryProblem::Duplicate { device_id, interval_start: start });
				continue;
			}
			while start > expected {
				problems.push(DeliveryProblem::Missing { device_id, interval_start: expected });
				expected += u64::from(length.max(1));
			}
			expected = start + u64::from(length.max(1));
		}
	}
	problems
}

#[cfg(test)]
mod tests {
	use super::*;

	fn landed(device_id: DeviceId, interval_start: u64) -> AuditedReport {
		AuditedReport {
			block: 1,
			device_id,
			sequence: interval_start,
			interval_start,
			interval_length_s: 60,
			energy_imported_wh: 0,
			energy_exported_wh: 0,
			cumulative_imported_wh: 0,
			cumulative_exported_wh: 0,
			average_power_w: 0,
			soc_bp: None,
			online_s: 60,
			grid_response: Default::default(),
			quality: 0,
			outcome: Outcome::Accepted,
		}
	}

	#[test]
	fn exactly_once_finds_gaps_duplicates_and_silence() {
		let mut reports =
			vec![landed(1, 0), landed(1, 60), landed(1, 120), landed(2, 0), landed(2, 180)];
		assert_eq!(
			check_exactly_once(&reports, &[1, 2, 3]),
			vec![
				DeliveryProblem::Missing { device_id: 2, interval_start: 60 },
				DeliveryProblem::Missing { device_id: 2, interval_start: 120 },
				DeliveryProblem::Nothing { device_id: 3 },
			]
		);
		reports.push(landed(1, 60));
		assert!(check_exactly_once(&reports, &[1])
			.contains(&DeliveryProblem::Duplicate { device_id: 1, interval_start: 60 }));
		// A rejected copy does not count as a second delivery.
		let mut rejected = landed(1, 120);
		rejected.outcome = Outcome::Rejected(RejectionReason::SequenceNotIncreasing);
		let clean = vec![landed(1, 0), landed(1, 60), rejected, landed(1, 120)];
		assert!(check_exactly_once(&clean, &[1]).is_empty());
	}
}
