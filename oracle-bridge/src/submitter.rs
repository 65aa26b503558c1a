//! Delivering the outbox to the chain.
//!
//! Pending reports go out in batch extrinsics signed by the gateway account, several batches in
//! flight at once. Each batch is watched (`author_submitAndWatchExtrinsic`) until its block is
//! finalized; then the batch's events say what became of every report:
//!
//! - no `ReportRejected` event: on chain (accepted, or accepted flagged) — removed from the
//!   outbox;
//! - rejected as `SequenceNotIncreasing`: already on chain from an earlier submission (the bridge
//!   crashed between submitting and recording it) — removed;
//! - rejected for any other reason: moved to the outbox's rejected table with the reason, never
//!   retried.
//!
//! A batch that is dropped, invalid or not finalized in time leaves its reports pending; they go
//! out again in a later batch. A device with reports in flight gets none in a new batch, so its
//! reports always reach the chain in sequence order. The nonce is kept locally and resynchronised
//! from `system_accountNextIndex` after any failure; the connection is re-established with a
//! growing back-off.

use std::{
	collections::{BTreeMap, BTreeSet},
	sync::Arc,
	time::Duration,
};

use openvpp_primitives::{DeviceId, RejectionReason, SignedReport};
use openvpp_runtime::{extrinsic, RuntimeCall, RuntimeEvent, UncheckedExtrinsic};
use sp_core::sr25519;
use sp_runtime::BoundedVec;
use tokio::{
	sync::{watch, Notify},
	task::JoinSet,
};

use crate::{
	chain::{Chain, ChainError, TxStatus},
	metrics::Metrics,
	outbox::{Outbox, ReportKey},
	sources::Backoff,
};

/// How the submitter behaves.
#[derive(Debug, Clone)]
pub struct SubmitterConfig {
	pub url: String,
	pub batch_size: usize,
	pub max_in_flight: usize,
	pub finality_timeout: Duration,
	/// How long to wait for in-flight batches when shutting down.
	pub shutdown_grace: Duration,
}

/// What a finalized batch did with its reports.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct BatchOutcome {
	pub delivered: Vec<ReportKey>,
	pub rejected: Vec<(ReportKey, RejectionReason)>,
	pub accepted: u32,
	pub flagged: u32,
	pub duplicates: u32,
}

/// Reads a finalized batch's events.
pub fn batch_outcome(
	reports: &[ReportKey],
	events: &[RuntimeEvent],
) -> Result<BatchOutcome, String> {
	let mut processed = false;
	let mut rejected: BTreeMap<ReportKey, RejectionReason> = BTreeMap::new();
	let mut flagged = 0;
	for event in events {
		match event {
			RuntimeEvent::Telemetry(pallet_telemetry::Event::BatchProcessed { .. }) => {
				processed = true
			}
			RuntimeEvent::Telemetry(pallet_telemetry::Event::ReportRejected {
				device_id,
				sequence,
				reason,
			}) => {
				rejected.insert((*device_id, *sequence), *reason);
			}
			RuntimeEvent::Telemetry(pallet_telemetry::Event::ReportFlagged { .. }) => flagged += 1,
			RuntimeEvent::System(frame_system::Event::ExtrinsicFailed {
				dispatch_error, ..
			}) => {
				return Err(format!("the batch failed: {dispatch_error:?}"));
			}
			_ => {}
		}
	}
	if !processed {
		return Err("the batch's block has no BatchProcessed event for it".into());
	}
	let mut outcome = BatchOutcome { flagged, ..Default::default() };
	for key in reports {
		match rejected.get(key) {
			None => outcome.delivered.push(*key),
			Some(RejectionReason::SequenceNotIncreasing) => {
				outcome.duplicates += 1;
				outcome.delivered.push(*key);
			}
			Some(reason) => outcome.rejected.push((*key, *reason)),
		}
	}
	outcome.accepted =
		(outcome.delivered.len() as u32).saturating_sub(outcome.duplicates).saturating_sub(flagged);
	Ok(outcome)
}

/// Sends the outbox to the chain.
pub struct Submitter {
	pub config: SubmitterConfig,
	pub gateway: sr25519::Pair,
	pub outbox: Outbox,
	pub metrics: Metrics,
	/// Woken when new reports are in the outbox.
	pub wake: Arc<Notify>,
	/// The chain the outbox's reports were signed for.
	pub genesis: sp_core::H256,
}

struct Batch {
	devices: BTreeSet<DeviceId>,
}

type Watched = (u64, Result<BatchOutcome, String>, Vec<ReportKey>);

impl Submitter {
	/// Runs until `shutdown` turns true and in-flight batches are settled (or the grace period
	/// ends).
	pub async fn run(self, mut shutdown: watch::Receiver<bool>) {
		let account = extrinsic::account_of(&self.gateway);
		let mut backoff = Backoff::new();
		loop {
			if *shutdown.borrow() {
				return;
			}
			let chain = match self.connect().await {
				Ok(chain) => Arc::new(chain),
				Err(error) => {
					self.metrics.chain_errors.with_label_values(&["connect"]).inc();
					let delay = backoff.next_delay();
					tracing::warn!(url = %self.config.url, %error, retry_in = ?delay, "cannot reach the node");
					tokio::select! {
						_ = shutdown.changed() => return,
						_ = tokio::time::sleep(delay) => continue,
					}
				}
			};
			backoff.reset();
			tracing::info!(url = %self.config.url, gateway = %account, "connected to the node");
			if self.submit_while_connected(&chain, &account, &mut shutdown).await {
				return;
			}
		}
	}

	async fn connect(&self) -> Result<Chain, ChainError> {
		let chain = Chain::connect(&self.config.url).await?;
		if chain.genesis != self.genesis {
			return Err(ChainError::Missing(format!(
				"the node serves the chain with genesis {:?}, but the outbox's reports are signed for {:?}",
				chain.genesis, self.genesis
			)));
		}
		chain.check_versions().await?;
		Ok(chain)
	}

	/// Returns `true` when shutting down, `false` when the connection must be re-established.
	async fn submit_while_connected(
		&self,
		chain: &Arc<Chain>,
		account: &sp_core::crypto::AccountId32,
		shutdown: &mut watch::Receiver<bool>,
	) -> bool {
		let mut nonce = match chain.next_nonce(account).await {
			Ok(nonce) => nonce,
			Err(_) => return false,
		};
		let mut in_flight: BTreeMap<u64, Batch> = BTreeMap::new();
		let mut watchers: JoinSet<Watched> = JoinSet::new();
		let mut next_id = 0u64;

		loop {
			// Fill the pipeline.
			while in_flight.len() < self.config.max_in_flight && !*shutdown.borrow() {
				let exclude: BTreeSet<DeviceId> =
					in_flight.values().flat_map(|b| b.devices.iter().copied()).collect();
				let limit = self.config.batch_size;
				let pending = match self.outbox.run(move |o| o.pending(limit, &exclude)).await {
					Ok(pending) => pending,
					Err(error) => {
						tracing::error!(%error, "cannot read the outbox");
						break;
					}
				};
				if pending.is_empty() {
					break;
				}
				let keys: Vec<ReportKey> =
					pending.iter().map(|s| (s.report.device_id, s.report.sequence)).collect();
				let xt = batch_extrinsic(pending, &self.gateway, nonce, chain.genesis);
				match chain.submit_and_watch(&xt).await {
					Ok(subscription) => {
						nonce += 1;
						self.metrics.batches_submitted.inc();
						tracing::debug!(reports = keys.len(), nonce, "batch submitted");
						let id = next_id;
						next_id += 1;
						in_flight.insert(id, Batch { devices: keys.iter().map(|k| k.0).collect() });
						let chain = chain.clone();
						let timeout = self.config.finality_timeout;
						watchers.spawn(async move {
							let outcome =
								watch_batch(&chain, subscription, &xt, &keys, timeout).await;
							(id, outcome, keys)
						});
					}
					Err(error) => {
						self.metrics.chain_errors.with_label_values(&["submit"]).inc();
						tracing::warn!(%error, "batch refused by the node");
						if !chain.is_connected() {
							return false;
						}
						// Most refusals are a stale nonce: ask the node again.
						if let Ok(fresh) = chain.next_nonce(account).await {
							nonce = fresh;
						}
						break;
					}
				}
			}

			if *shutdown.borrow() && in_flight.is_empty() {
				return true;
			}

			tokio::select! {
				_ = shutdown.changed(), if !*shutdown.borrow() => {
					tracing::info!(in_flight = in_flight.len(), "waiting for in-flight batches before stopping");
					let grace = tokio::time::sleep(self.config.shutdown_grace);
					tokio::pin!(grace);
					while !in_flight.is_empty() {
						tokio::select! {
							_ = &mut grace => {
								tracing::warn!(in_flight = in_flight.len(), "stopping with batches in flight; their reports stay in the outbox");
								return true;
							}
							Some(done) = watchers.join_next() => {
								if let Ok(watched) = done {
									in_flight.remove(&watched.0);
									self.settle(watched).await;
								}
							}
						}
					}
					return true;
				}
				Some(done) = watchers.join_next(), if !watchers.is_empty() => {
					match done {
						Ok(watched) => {
							in_flight.remove(&watched.0);
							let failed = watched.1.is_err();
							self.settle(watched).await;
							if failed {
								if !chain.is_connected() {
									return false;
								}
								if let Ok(fresh) = chain.next_nonce(account).await {
									nonce = fresh;
								}
							}
						},
						Err(error) => tracing::error!(%error, "batch watcher failed"),
					}
				}
				_ = self.wake.notified() => {}
				_ = tokio::time::sleep(Duration::from_secs(2)) => {}
			}
			if !chain.is_connected() {
				tracing::warn!("lost the connection to the node");
				return false;
			}
		}
	}

	/// Records what became of a batch.
	async fn settle(&self, (_, outcome, keys): Watched) {
		match outcome {
			Ok(outcome) => {
				let m = &self.metrics;
				m.reports_finalized
					.with_label_values(&["accepted"])
					.inc_by(outcome.accepted.into());
				m.reports_finalized.with_label_values(&["flagged"]).inc_by(outcome.flagged.into());
				m.reports_finalized
					.with_label_values(&["duplicate"])
					.inc_by(outcome.duplicates.into());
				for (key, reason) in &outcome.rejected {
					m.reports_rejected.with_label_values(&[&format!("{reason:?}")]).inc();
					tracing::warn!(
						device = key.0,
						sequence = key.1,
						?reason,
						"report rejected by the chain; kept in the outbox's rejected table"
					);
				}
				tracing::info!(
					reports = keys.len(),
					accepted = outcome.accepted,
					flagged = outcome.flagged,
					duplicates = outcome.duplicates,
					rejected = outcome.rejected.len(),
					"batch finalized"
				);
				let (delivered, rejected) = (outcome.delivered, outcome.rejected);
				if let Err(error) = self.outbox.run(move |o| o.settle(&delivered, &rejected)).await
				{
					tracing::error!(%error, "cannot update the outbox; the reports will be resubmitted");
				}
			}
			Err(reason) => {
				self.metrics.chain_errors.with_label_values(&["batch"]).inc();
				tracing::warn!(reports = keys.len(), %reason, "batch not finalized; its reports stay pending");
			}
		}
		if let Ok((pending, rejected)) = self.outbox.run(|o| o.counts()).await {
			self.metrics.outbox_pending.set(pending as i64);
			self.metrics.outbox_rejected.set(rejected as i64);
		}
	}
}

/// A `submit_reports` extrinsic signed by the gateway.
pub fn batch_extrinsic(
	reports: Vec<SignedReport>,
	gateway: &sr25519::Pair,
	nonce: u32,
	genesis: sp_core::H256,
) -> UncheckedExtrinsic {
	let call = RuntimeCall::Telemetry(pallet_telemetry::Call::submit_reports {
		reports: BoundedVec::truncate_from(reports),
		raw_data_digest: None,
	});
	extrinsic::sign(call, gateway, nonce, genesis)
}

/// Waits for a batch's finalization and reads its outcome.
async fn watch_batch(
	chain: &Chain,
	mut subscription: jsonrpsee::core::client::Subscription<serde_json::Value>,
	xt: &UncheckedExtrinsic,
	keys: &[ReportKey],
	timeout: Duration,
) -> Result<BatchOutcome, String> {
	let finalized = tokio::time::timeout(timeout, async {
		while let Some(status) = subscription.next().await {
			let status = status.map_err(|e| e.to_string())?;
			match TxStatus::from_json(&status) {
				TxStatus::Finalized(block) => return Ok(block),
				TxStatus::Failed(reason) => return Err(reason),
				TxStatus::Pending => {}
			}
		}
		Err("the node closed the status subscription".to_string())
	})
	.await
	.map_err(|_| format!("not finalized within {timeout:?}"))??;
	let events = chain.extrinsic_events(finalized, xt).await.map_err(|e| e.to_string())?;
	batch_outcome(keys, &events)
}

#[cfg(test)]
mod tests {
	use super::*;

	fn rejected(device_id: DeviceId, sequence: u64, reason: RejectionReason) -> RuntimeEvent {
		RuntimeEvent::Telemetry(pallet_telemetry::Event::ReportRejected {
			device_id,
			sequence,
			reason,
		})
	}

	fn processed() -> RuntimeEvent {
		RuntimeEvent::Telemetry(pallet_telemetry::Event::BatchProcessed {
			gateway: sp_core::crypto::AccountId32::new([0; 32]),
			accepted: 0,
			flagged: 0,
			rejected: 0,
			raw_data_digest: None,
			digest_stored: false,
		})
	}

	#[test]
	fn outcomes_follow_the_events() {
		let keys = vec![(1, 5), (2, 9), (3, 1), (4, 2)];
		let events = vec![
			rejected(2, 9, RejectionReason::SequenceNotIncreasing),
			rejected(3, 1, RejectionReason::BadSignature),
			RuntimeEvent::Telemetry(pallet_telemetry::Event::ReportFlagged {
				device_id: 4,
				sequence: 2,
				flags: Default::default(),
			}),
			processed(),
		];
		let outcome = batch_outcome(&keys, &events).unwrap();
		assert_eq!(outcome.delivered, vec![(1, 5), (2, 9), (4, 2)]);
		assert_eq!(outcome.rejected, vec![((3, 1), RejectionReason::BadSignature)]);
		assert_eq!((outcome.accepted, outcome.flagged, outcome.duplicates), (1, 1, 1));
	}

	#[test]
	fn a_block_without_the_batch_event_is_not_a_delivery() {
		assert!(batch_outcome(&[(1, 1)], &[]).is_err());
	}
}
