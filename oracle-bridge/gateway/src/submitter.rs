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
//! - rejected as `IntervalInFuture` (the gateway's clock runs ahead) or `DeviceNotActive` (the
//!   device may be re-activated): kept pending and retried with a growing delay — the device gets
//!   no batch meanwhile, so its reports stay in order — until accepted, or until the report is
//!   older than the chain's report horizon (then it is shelved);
//! - rejected for any other reason: moved to the outbox's rejected table with the reason, never
//!   retried.
//!
//! A batch that is dropped, invalid or not finalized in time leaves its reports pending; they go
//! out again in a later batch. A device with reports in flight gets none in a new batch, so its
//! reports always reach the chain in sequence order. The nonce is kept locally and resynchronised
//! from `system_accountNextIndex` after any failure. Repeated failures (refusals by the pool,
//! batches that do not make it) pause submission with an exponential back-off; the connection is
//! re-established with one too, also when it was lost or could not be used (a node that accepts
//! connections but fails every call). Both back-offs outlive connections and start again from
//! the shortest delay only when a batch is finalized ([`Pacing`]).
//!
//! The node's runtime is looked at on every connection, on every upgrade the node announces
//! (`state_subscribeRuntimeVersion`), every minute, and whenever a refusal could mean it changed
//! (bad signature, undecodable call, invalid batch). Batches are signed with the versions the
//! node reports. While what the bridge uses keeps its shape ([`crate::compat`]) an upgrade
//! changes nothing else; when it does not, the submitter submits nothing — the outbox keeps
//! filling — and logs what changed, until a later runtime has the shapes again.

use std::{
	collections::{BTreeMap, BTreeSet},
	sync::Arc,
	time::Duration,
};

use openvpp_primitives::{AttestationKey, DeviceId, RejectionReason, SignedReport, UnixSeconds};
use sp_core::{sr25519, H256};
use tokio::{
	sync::{mpsc, watch, Notify},
	task::JoinSet,
	time::Instant,
};

use crate::{
	chain::{wait_finalized, Chain, ChainError, FinalityError},
	compat::{NodeRuntime, RuntimeVersion, SignError, GATEWAY},
	device_watch::{assess, concerns_the_device, DeviceGate, StopReason, RECHECK_INACTIVE_EVERY},
	gateway_call::{self, CallFailure, GatewayCall},
	metrics::Metrics,
	outbox::{Outbox, ReportKey},
	sources::now_ms,
	wire::{extrinsic::account_of, Call, Event},
};

/// How the submitter behaves.
#[derive(Debug, Clone)]
pub struct SubmitterConfig {
	pub url: String,
	/// For a `wss://` node with its own CA.
	pub tls: Option<Arc<rustls::ClientConfig>>,
	pub batch_size: usize,
	pub max_in_flight: usize,
	pub finality_timeout: Duration,
	/// How long to wait for in-flight batches when shutting down.
	pub shutdown_grace: Duration,
}

/// Why the submitter stopped for good: retrying cannot help.
#[derive(Debug, thiserror::Error)]
pub enum SubmitError {
	#[error(
		"the node at {url} serves the chain with genesis {node:?}, but the outbox's reports are \
		 signed for {outbox:?}; point the bridge at a node of its chain"
	)]
	WrongChain { url: String, node: H256, outbox: H256 },
}

/// Why a batch did not settle.
#[derive(Debug, thiserror::Error)]
pub enum BatchError {
	#[error("the batch failed: {0}")]
	Dispatch(String),
	#[error("the batch's block has no BatchProcessed event for it")]
	NotProcessed,
	/// The pool gave up on it (`invalid`, `dropped`, `usurped`, `finalityTimeout`).
	#[error("the batch was not included: {0}")]
	NotIncluded(String),
	#[error("the batch was not finalized within {0:?}")]
	Timeout(Duration),
	#[error("the batch's status subscription ended: {0}")]
	Subscription(String),
	#[error(transparent)]
	Chain(#[from] ChainError),
}

impl BatchError {
	/// Whether the failure may come from a runtime the bridge does not know.
	fn may_be_runtime(&self) -> bool {
		matches!(self, BatchError::NotIncluded(status) if status == "invalid")
			|| matches!(self, BatchError::Chain(ChainError::Decode { .. }))
	}
}

/// What a finalized batch did with its reports.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct BatchOutcome {
	pub delivered: Vec<ReportKey>,
	/// Rejected for good.
	pub rejected: Vec<(ReportKey, RejectionReason)>,
	/// Rejected for a reason that may go away: to be submitted again later.
	pub retry: Vec<(ReportKey, RejectionReason)>,
	pub accepted: u32,
	pub flagged: u32,
	pub duplicates: u32,
}

/// Whether a rejection may go away by itself: a clock running ahead of the chain's, or a device
/// that is suspended or not yet approved.
pub fn is_transient(reason: RejectionReason) -> bool {
	matches!(reason, RejectionReason::IntervalInFuture | RejectionReason::DeviceNotActive)
}

/// Reads a finalized batch's events.
pub fn batch_outcome(reports: &[ReportKey], events: &[Event]) -> Result<BatchOutcome, BatchError> {
	let mut processed = false;
	let mut rejected: BTreeMap<ReportKey, RejectionReason> = BTreeMap::new();
	let mut flagged = 0;
	for event in events {
		match event {
			Event::BatchProcessed { .. } => processed = true,
			Event::ReportRejected { device_id, sequence, reason } => {
				rejected.insert((*device_id, *sequence), *reason);
			}
			Event::ReportFlagged { .. } => flagged += 1,
			Event::ExtrinsicFailed { dispatch_error } => {
				return Err(BatchError::Dispatch(format!("{dispatch_error:?}")));
			}
		}
	}
	if !processed {
		return Err(BatchError::NotProcessed);
	}
	let mut outcome = BatchOutcome { flagged, ..Default::default() };
	for key in reports {
		match rejected.get(key) {
			None => outcome.delivered.push(*key),
			Some(RejectionReason::SequenceNotIncreasing) => {
				outcome.duplicates += 1;
				outcome.delivered.push(*key);
			}
			Some(reason) if is_transient(*reason) => outcome.retry.push((*key, *reason)),
			Some(reason) => outcome.rejected.push((*key, *reason)),
		}
	}
	outcome.accepted =
		(outcome.delivered.len() as u32).saturating_sub(outcome.duplicates).saturating_sub(flagged);
	Ok(outcome)
}

/// What a refusal of `author_submitAndWatchExtrinsic` means for the submitter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
	/// A stale or already used nonce: ask the node for the nonce and go on.
	Nonce(String),
	/// The runtime may have changed under the bridge (bad signature, undecodable or unexpected
	/// call): check its versions.
	MaybeRuntime(String),
	/// A reason that does not go away by itself soon (the gateway cannot pay the fees, the pool
	/// is full, the transaction is banned for a while…): log it, wait, retry.
	Persistent(String),
	/// No verdict at all: the connection failed.
	Connection(String),
}

// `author` RPC error codes (sc-rpc-api).
const BAD_FORMAT: i32 = 1001;
const VERIFICATION_ERROR: i32 = 1002;
const POOL_INVALID_TX: i32 = 1010;
const POOL_ALREADY_IMPORTED: i32 = 1013;
const POOL_TOO_LOW_PRIORITY: i32 = 1014;

/// Classifies a refused submission.
pub fn classify_refusal(error: &ChainError) -> Refusal {
	use jsonrpsee::core::ClientError;
	let call = match error {
		ChainError::Rpc(ClientError::Call(call)) => call,
		ChainError::Rpc(other) => return Refusal::Connection(other.to_string()),
		other => return Refusal::Persistent(other.to_string()),
	};
	let data = call.data().map(|d| d.get().trim_matches('"').to_string()).unwrap_or_default();
	let reason = if data.is_empty() {
		call.message().to_string()
	} else {
		format!("{}: {data}", call.message())
	};
	match call.code() {
		BAD_FORMAT | VERIFICATION_ERROR => Refusal::MaybeRuntime(reason),
		POOL_ALREADY_IMPORTED | POOL_TOO_LOW_PRIORITY => Refusal::Nonce(reason),
		POOL_INVALID_TX => {
			// The pool's texts for `InvalidTransaction` (sp-runtime).
			let data = data.to_ascii_lowercase();
			if data.contains("outdated") || data.contains("valid in the future") {
				Refusal::Nonce(reason)
			} else if data.contains("inability to pay")
				|| data.contains("exhaust the block limits")
				|| data.contains("ancient birth block")
			{
				Refusal::Persistent(reason)
			} else {
				// Bad signature (the signed payload covers the runtime's versions), unexpected
				// call, bad signer, custom codes…
				Refusal::MaybeRuntime(reason)
			}
		}
		_ => Refusal::Persistent(reason),
	}
}

/// A growing delay between attempts after failures: doubles from `first` up to `max`.
#[derive(Debug, Clone)]
pub struct RetryDelay {
	first: Duration,
	max: Duration,
	next: Duration,
}

impl RetryDelay {
	pub fn new(first: Duration, max: Duration) -> Self {
		RetryDelay { first, max, next: first }
	}

	/// The delay before the next attempt; each call doubles the following one.
	pub fn next_delay(&mut self) -> Duration {
		let delay = self.next;
		self.next = (self.next * 2).min(self.max);
		delay
	}

	/// After a success, start again from the shortest delay.
	pub fn reset(&mut self) {
		self.next = self.first;
	}
}

/// Devices whose reports the chain refused for a reason that may go away, and when to try them
/// again. None of their reports is submitted before then, so their sequence order holds.
#[derive(Debug, Default)]
pub struct Deferrals {
	devices: BTreeMap<DeviceId, Deferral>,
}

#[derive(Debug)]
struct Deferral {
	reason: RejectionReason,
	delay: RetryDelay,
	until: Instant,
}

impl Deferrals {
	/// The first and longest waits after a transient rejection.
	fn delays(reason: RejectionReason) -> (Duration, Duration) {
		match reason {
			// The chain's clock catches up within the skew it allows (60 s) plus the gap.
			RejectionReason::IntervalInFuture => {
				(Duration::from_secs(15), Duration::from_secs(300))
			}
			// Re-activation takes a verifier: no need to ask often.
			_ => (Duration::from_secs(60), Duration::from_secs(1_800)),
		}
	}

	/// Defers `device` after a rejection for `reason`; returns the wait.
	pub fn defer(&mut self, device: DeviceId, reason: RejectionReason, now: Instant) -> Duration {
		let (first, max) = Self::delays(reason);
		let entry = self.devices.entry(device).or_insert_with(|| Deferral {
			reason,
			delay: RetryDelay::new(first, max),
			until: now,
		});
		if entry.reason != reason {
			entry.reason = reason;
			entry.delay = RetryDelay::new(first, max);
		}
		let wait = entry.delay.next_delay();
		entry.until = now + wait;
		wait
	}

	/// `device`'s reports went through: no more waiting.
	pub fn clear(&mut self, device: DeviceId) {
		self.devices.remove(&device);
	}

	/// Devices still waiting at `now`.
	pub fn waiting(&self, now: Instant) -> impl Iterator<Item = DeviceId> + '_ {
		self.devices.iter().filter(move |(_, d)| d.until > now).map(|(id, _)| *id)
	}

	pub fn len(&self) -> usize {
		self.devices.len()
	}

	pub fn is_empty(&self) -> bool {
		self.devices.is_empty()
	}
}

/// Whether a report refused for a transient reason is too old to be accepted any more: the
/// chain refuses intervals that started before its report horizon.
pub fn too_old(interval_start: UnixSeconds, now_s: UnixSeconds) -> bool {
	interval_start.saturating_add(openvpp_primitives::network::REPORT_HORIZON_S) < now_s
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
	pub genesis: H256,
	/// Devices the bridge stopped signing for (see [`crate::device_watch`]).
	pub gate: DeviceGate,
	/// Each device's attestation key in the keystore, to compare with the chain's.
	pub keys: BTreeMap<DeviceId, AttestationKey>,
	/// Other calls to sign with the gateway's nonce ([`crate::gateway_call`]); they go out
	/// before the next batch.
	pub calls: Option<mpsc::Receiver<GatewayCall>>,
}

struct Batch {
	devices: BTreeSet<DeviceId>,
}

/// A watched batch: its id, outcome, and its reports with their interval starts.
type Watched = (u64, Result<BatchOutcome, BatchError>, Vec<(ReportKey, UnixSeconds)>);

/// Why `submit_while_connected` returned.
enum Stop {
	Shutdown,
	Reconnect,
}

/// Why a connection attempt failed.
enum ConnectFailure {
	Fatal(SubmitError),
	Retry(ChainError),
}

/// Shortest and longest pause after failures.
const FIRST_RETRY: Duration = Duration::from_secs(1);
const MAX_RETRY: Duration = Duration::from_secs(60);
/// Longest wait before connecting again.
const MAX_RECONNECT: Duration = Duration::from_secs(30);

/// When the submitter may connect and submit. It lives across connections: a connection that
/// opens proves nothing (a node may accept connections and fail every call), so only a finalized
/// batch resets the delays, and a pause after a failed batch holds on the next connection too.
#[derive(Debug)]
pub struct Pacing {
	reconnect: RetryDelay,
	retry: RetryDelay,
	/// Nothing new is submitted before this instant.
	paused_until: Instant,
}

impl Pacing {
	pub fn new(now: Instant) -> Self {
		Pacing {
			reconnect: RetryDelay::new(FIRST_RETRY, MAX_RECONNECT),
			retry: RetryDelay::new(FIRST_RETRY, MAX_RETRY),
			paused_until: now,
		}
	}

	/// The wait before connecting again, after an attempt failed or a connection was lost or
	/// could not be used.
	pub fn reconnect_delay(&mut self) -> Duration {
		self.reconnect.next_delay()
	}

	/// A submission was refused or a batch failed: nothing new goes out for a while. Returns
	/// the wait.
	pub fn pause(&mut self, now: Instant) -> Duration {
		let delay = self.retry.next_delay();
		self.paused_until = self.paused_until.max(now + delay);
		delay
	}

	/// A batch was finalized: the node works, so the delays start again from the shortest.
	pub fn batch_finalized(&mut self) {
		self.reconnect.reset();
		self.retry.reset();
	}

	/// Until when new submissions wait.
	pub fn paused_until(&self) -> Instant {
		self.paused_until
	}
}
/// How often the node's runtime versions are checked while all goes well.
const VERSION_CHECK_EVERY: Duration = Duration::from_secs(60);
/// How often the outbox is looked at without being woken (deferred devices, retries).
const POLL_EVERY: Duration = Duration::from_secs(2);

impl Submitter {
	/// Runs until `shutdown` turns true and in-flight batches are settled (or the grace period
	/// ends); stops early, with the reason, when the node serves another chain or runtime.
	pub async fn run(mut self, mut shutdown: watch::Receiver<bool>) -> Result<(), SubmitError> {
		let account = account_of(&self.gateway);
		let mut calls = self.calls.take();
		let mut pacing = Pacing::new(Instant::now());
		let mut deferrals = Deferrals::default();
		loop {
			if *shutdown.borrow() {
				return Ok(());
			}
			let chain = match self.connect().await {
				Ok(chain) => Arc::new(chain),
				Err(ConnectFailure::Fatal(error)) => return Err(error),
				Err(ConnectFailure::Retry(error)) => {
					self.metrics.chain_errors.with_label_values(&["connect"]).inc();
					let delay = pacing.reconnect_delay();
					tracing::warn!(url = %self.config.url, %error, retry_in = ?delay, "cannot reach the node");
					tokio::select! {
						_ = shutdown.changed() => return Ok(()),
						_ = tokio::time::sleep(delay) => continue,
					}
				}
			};
			tracing::info!(url = %self.config.url, gateway = %account, "connected to the node");
			let stopped = self
				.submit_while_connected(
					&chain,
					&account,
					&mut shutdown,
					&mut deferrals,
					&mut pacing,
					&mut calls,
				)
				.await;
			match stopped {
				Ok(Stop::Shutdown) => return Ok(()),
				Ok(Stop::Reconnect) => {
					self.metrics.chain_errors.with_label_values(&["connect"]).inc();
					let delay = pacing.reconnect_delay();
					tracing::warn!(url = %self.config.url, retry_in = ?delay, "reconnecting to the node");
					tokio::select! {
						_ = shutdown.changed() => return Ok(()),
						_ = tokio::time::sleep(delay) => {}
					}
				}
				Err(error) => return Err(error),
			}
		}
	}

	async fn connect(&self) -> Result<Chain, ConnectFailure> {
		let chain = Chain::connect_with(&self.config.url, self.config.tls.as_ref())
			.await
			.map_err(ConnectFailure::Retry)?;
		if chain.genesis != self.genesis {
			return Err(ConnectFailure::Fatal(SubmitError::WrongChain {
				url: self.config.url.clone(),
				node: chain.genesis,
				outbox: self.genesis,
			}));
		}
		Ok(chain)
	}

	/// Looks at the node's current runtime again (after an announced upgrade, a failure that
	/// may come from one, or a minute without news) and adopts it if it is another. Not being
	/// able to ask leaves the runtime as it was; the connection handling deals with the node.
	async fn recheck_runtime(&self, chain: &Chain, runtime: &mut Arc<NodeRuntime>, after: &str) {
		match chain.node_runtime(None).await {
			Ok(current) if current.version == runtime.version => {
				tracing::debug!(after, "runtime unchanged");
			}
			Ok(current) => {
				tracing::info!(from = %runtime.version, to = %current.version, after, "the node's runtime changed");
				*runtime = current;
				self.adopt(runtime);
			}
			Err(error) => tracing::warn!(%error, "cannot read the node's runtime"),
		}
	}

	/// Says whether the bridge can submit to `runtime`, and what changed if it cannot.
	fn adopt(&self, runtime: &NodeRuntime) {
		let changes = runtime.changes(GATEWAY);
		self.metrics.runtime_spec_version.set(i64::from(runtime.version.spec_version));
		self.metrics.runtime_compatible.set(i64::from(changes.is_empty()));
		if changes.is_empty() {
			tracing::info!(runtime = %runtime.version, "what the bridge uses is unchanged in the node's runtime: submitting, signed for its versions");
			return;
		}
		for change in &changes {
			tracing::error!(runtime = %runtime.version, %change, "the node's runtime changed what the bridge uses");
		}
		tracing::error!(
			runtime = %runtime.version,
			changes = changes.len(),
			"not submitting to this runtime: the bridge keeps reading devices and signing reports into the outbox, and submits them once the node runs a runtime with the shapes it knows (a later upgrade, or a bridge built for this one)"
		);
	}

	/// Submits until the connection fails (`Reconnect`) or shutdown completes (`Shutdown`).
	async fn submit_while_connected(
		&self,
		chain: &Arc<Chain>,
		account: &sp_core::crypto::AccountId32,
		shutdown: &mut watch::Receiver<bool>,
		deferrals: &mut Deferrals,
		pacing: &mut Pacing,
		calls: &mut Option<mpsc::Receiver<GatewayCall>>,
	) -> Result<Stop, SubmitError> {
		let mut runtime = match chain.node_runtime(None).await {
			Ok(runtime) => runtime,
			Err(error) => {
				tracing::warn!(%error, "cannot read the node's runtime");
				return Ok(Stop::Reconnect);
			}
		};
		self.adopt(&runtime);
		let mut versions = match chain.subscribe_runtime_version().await {
			Ok(versions) => Some(versions),
			Err(error) => {
				tracing::warn!(%error, "the node does not announce upgrades; the runtime is checked every minute");
				None
			}
		};
		let mut nonce = match chain.next_nonce(account).await {
			Ok(nonce) => nonce,
			Err(error) => {
				tracing::warn!(%error, "the node does not answer for the gateway's nonce");
				return Ok(Stop::Reconnect);
			}
		};
		let mut in_flight: BTreeMap<u64, Batch> = BTreeMap::new();
		let mut watchers: JoinSet<Watched> = JoinSet::new();
		let mut next_id = 0u64;
		let mut version_check = tokio::time::interval(VERSION_CHECK_EVERY);
		version_check.tick().await;
		let mut recheck = tokio::time::interval(RECHECK_INACTIVE_EVERY);
		recheck.tick().await;

		loop {
			// Gateway calls first: few, and each waits for a person's or an event's deadline.
			while let Some(call) = calls.as_mut().and_then(|calls| calls.try_recv().ok()) {
				if *shutdown.borrow() {
					let _ = call.done.send(Err(CallFailure::NotIncluded("shutting down".into())));
					continue;
				}
				if !runtime.is_compatible(GATEWAY) {
					let why =
						format!("not submitted: {} changed what the bridge uses", runtime.version);
					let _ = call.done.send(Err(CallFailure::NotIncluded(why)));
					continue;
				}
				let xt = match runtime.sign(&call.call, &self.gateway, nonce, chain.genesis) {
					Ok(xt) => xt,
					Err(error) => {
						let _ = call.done.send(Err(CallFailure::NotIncluded(error.to_string())));
						continue;
					}
				};
				match chain.submit_and_watch(&xt).await {
					Ok(subscription) => {
						nonce += 1;
						let chain = chain.clone();
						tokio::spawn(async move {
							let outcome = gateway_call::watch(&chain, subscription, &xt).await;
							let _ = call.done.send(outcome);
						});
					}
					Err(error) => {
						let _ = call.done.send(Err(CallFailure::NotIncluded(error.to_string())));
						if let Ok(fresh) = chain.next_nonce(account).await {
							nonce = fresh;
						}
					}
				}
			}

			// Fill the pipeline.
			while in_flight.len() < self.config.max_in_flight
				&& !*shutdown.borrow()
				&& Instant::now() >= pacing.paused_until()
				&& runtime.is_compatible(GATEWAY)
			{
				let mut exclude: BTreeSet<DeviceId> =
					in_flight.values().flat_map(|b| b.devices.iter().copied()).collect();
				exclude.extend(deferrals.waiting(Instant::now()));
				let limit = self.config.batch_size;
				let read = self
					.outbox
					.run(move |o| Ok((o.pending(limit, &exclude)?, o.quarantined()?)))
					.await;
				let pending = match read {
					Ok((pending, quarantined)) => {
						self.metrics.outbox_quarantined.set(quarantined as i64);
						pending
					}
					Err(error) => {
						tracing::error!(%error, "cannot read the outbox");
						break;
					}
				};
				if pending.is_empty() {
					break;
				}
				let reports: Vec<(ReportKey, UnixSeconds)> = pending
					.iter()
					.map(|s| ((s.report.device_id, s.report.sequence), s.report.interval_start))
					.collect();
				let xt =
					match batch_extrinsic(&runtime, pending, &self.gateway, nonce, chain.genesis) {
						Ok(xt) => xt,
						Err(error) => {
							tracing::error!(%error, "cannot sign a batch for the node's runtime");
							break;
						}
					};
				match chain.submit_and_watch(&xt).await {
					Ok(subscription) => {
						nonce += 1;
						self.metrics.batches_submitted.inc();
						self.metrics.reports_submitted.inc_by(reports.len() as u64);
						tracing::debug!(reports = reports.len(), nonce, "batch submitted");
						let id = next_id;
						next_id += 1;
						in_flight.insert(
							id,
							Batch { devices: reports.iter().map(|(k, _)| k.0).collect() },
						);
						let chain = chain.clone();
						let timeout = self.config.finality_timeout;
						watchers.spawn(async move {
							let keys: Vec<ReportKey> = reports.iter().map(|(k, _)| *k).collect();
							let outcome =
								watch_batch(&chain, subscription, &xt, &keys, timeout).await;
							(id, outcome, reports)
						});
					}
					Err(error) => {
						self.metrics.chain_errors.with_label_values(&["submit"]).inc();
						let refusal = classify_refusal(&error);
						if let Refusal::Connection(_) = refusal {
							if !chain.is_connected() {
								tracing::warn!(%error, "lost the connection to the node");
								return Ok(Stop::Reconnect);
							}
						}
						if let Refusal::MaybeRuntime(reason) = &refusal {
							self.recheck_runtime(chain, &mut runtime, reason).await;
						}
						let delay = pacing.pause(Instant::now());
						match &refusal {
							Refusal::Nonce(reason) => {
								tracing::debug!(%reason, "batch refused: stale nonce");
							}
							Refusal::MaybeRuntime(reason)
							| Refusal::Persistent(reason)
							| Refusal::Connection(reason) => {
								tracing::warn!(%reason, retry_in = ?delay, "batch refused by the node");
							}
						}
						// Most refusals follow a stale nonce; ask the node again in any case.
						if let Ok(fresh) = chain.next_nonce(account).await {
							nonce = fresh;
						}
						break;
					}
				}
			}

			if *shutdown.borrow() && in_flight.is_empty() {
				return Ok(Stop::Shutdown);
			}

			// Paused: wake when the pause ends; else look at the outbox now and then.
			let wait = match pacing.paused_until().saturating_duration_since(Instant::now()) {
				Duration::ZERO => POLL_EVERY,
				pause => pause,
			};
			tokio::select! {
				_ = shutdown.changed(), if !*shutdown.borrow() => {
					tracing::info!(in_flight = in_flight.len(), "waiting for in-flight batches before stopping");
					let grace = tokio::time::sleep(self.config.shutdown_grace);
					tokio::pin!(grace);
					while !in_flight.is_empty() {
						tokio::select! {
							_ = &mut grace => {
								tracing::warn!(in_flight = in_flight.len(), "stopping with batches in flight; their reports stay in the outbox");
								return Ok(Stop::Shutdown);
							}
							Some(done) = watchers.join_next() => {
								if let Ok(watched) = done {
									in_flight.remove(&watched.0);
									let _ = self.settle(watched, deferrals).await;
								}
							}
						}
					}
					return Ok(Stop::Shutdown);
				}
				Some(done) = watchers.join_next(), if !watchers.is_empty() => {
					match done {
						Ok(watched) => {
							in_flight.remove(&watched.0);
							let failure = watched.1.as_ref().err().map(|e| (e.to_string(), e.may_be_runtime()));
							let review = self.settle(watched, deferrals).await;
							self.review_devices(chain, review).await;
							match failure {
								None => pacing.batch_finalized(),
								Some((reason, may_be_runtime)) => {
									pacing.pause(Instant::now());
									if !chain.is_connected() {
										return Ok(Stop::Reconnect);
									}
									if may_be_runtime {
										self.recheck_runtime(chain, &mut runtime, &reason).await;
									}
									if let Ok(fresh) = chain.next_nonce(account).await {
										nonce = fresh;
									}
								}
							}
						},
						Err(error) => tracing::error!(%error, "batch watcher failed"),
					}
				}
				_ = recheck.tick() => self.recheck_stopped(chain).await,
				_ = version_check.tick() => self.recheck_runtime(chain, &mut runtime, "a minute without news").await,
				announced = next_version(&mut versions) => match announced {
					Some(version) if version != runtime.version => {
						self.recheck_runtime(chain, &mut runtime, "the node announced an upgrade").await;
					}
					Some(_) => {}
					None => {
						tracing::warn!("the node stopped announcing upgrades; the runtime is checked every minute");
						versions = None;
					}
				},
				_ = self.wake.notified() => {}
				_ = tokio::time::sleep(wait) => {}
			}
			if !chain.is_connected() {
				tracing::warn!("lost the connection to the node");
				return Ok(Stop::Reconnect);
			}
		}
	}

	/// Looks up on chain the devices that had a report rejected for `reason`, and stops
	/// signing for those whose record confirms a change (see [`crate::device_watch`]); their
	/// pending reports are shelved with that reason, since the chain would reject them all.
	async fn review_devices(&self, chain: &Chain, devices: Vec<(DeviceId, RejectionReason)>) {
		for (device, reason) in devices {
			if let Some(stop) = self.look_up(chain, device).await {
				self.gate.stop(device, stop);
				match self.outbox.run(move |o| o.shelve_device(device, reason)).await {
					Ok(0) => {}
					Ok(shelved) => tracing::info!(
						device_id = device,
						shelved,
						?reason,
						"moved the stopped device's pending reports to the rejected table"
					),
					Err(error) => {
						tracing::error!(device_id = device, %error, "cannot shelve the stopped device's reports")
					}
				}
			}
		}
	}

	/// Looks the stopped devices that may come back up again, and resumes those that did.
	async fn recheck_stopped(&self, chain: &Chain) {
		for device in self.gate.resumable() {
			if self.look_up(chain, device).await.is_none() {
				self.gate.resume(device);
			}
		}
	}

	/// Why the chain no longer takes `device`'s reports from this bridge, if it does not.
	/// Unknown (no key, or the node does not answer) counts as taking them.
	async fn look_up(&self, chain: &Chain, device: DeviceId) -> Option<StopReason> {
		let key = self.keys.get(&device)?;
		let gateway = account_of(&self.gateway);
		match chain.device(device).await {
			Ok(record) => {
				let on_chain = record.as_ref().map(|r| (&r.gateway, &r.attestation_key, r.status));
				assess(on_chain, &gateway, key)
			}
			Err(error) => {
				tracing::warn!(device_id = device, %error, "cannot look the device up on chain");
				None
			}
		}
	}

	/// Records what became of a batch. Returns the devices with a report rejected for a
	/// reason that may mean the device changed on chain.
	async fn settle(
		&self,
		(_, outcome, reports): Watched,
		deferrals: &mut Deferrals,
	) -> Vec<(DeviceId, RejectionReason)> {
		let mut review = BTreeMap::new();
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
				let starts: BTreeMap<ReportKey, UnixSeconds> = reports.iter().copied().collect();
				let now_s = now_ms() / 1_000;
				let mut rejected = outcome.rejected;
				review.extend(
					rejected
						.iter()
						.chain(outcome.retry.iter())
						.filter(|(_, reason)| concerns_the_device(*reason))
						.map(|(key, reason)| (key.0, *reason)),
				);
				let mut retried: BTreeMap<DeviceId, RejectionReason> = BTreeMap::new();
				for (key, reason) in outcome.retry {
					if starts.get(&key).is_some_and(|start| too_old(*start, now_s)) {
						rejected.push((key, reason));
					} else {
						m.reports_retried.with_label_values(&[&format!("{reason:?}")]).inc();
						retried.entry(key.0).or_insert(reason);
					}
				}
				for key in &outcome.delivered {
					deferrals.clear(key.0);
				}
				for (device, reason) in &retried {
					let wait = deferrals.defer(*device, *reason, Instant::now());
					tracing::warn!(
						device,
						?reason,
						retry_in = ?wait,
						"reports refused for now; they stay pending and are retried"
					);
				}
				m.deferred_devices.set(deferrals.len() as i64);
				for (key, reason) in &rejected {
					m.reports_rejected.with_label_values(&[&format!("{reason:?}")]).inc();
					tracing::warn!(
						device = key.0,
						sequence = key.1,
						?reason,
						"report rejected by the chain; kept in the outbox's rejected table"
					);
				}
				tracing::info!(
					reports = reports.len(),
					accepted = outcome.accepted,
					flagged = outcome.flagged,
					duplicates = outcome.duplicates,
					rejected = rejected.len(),
					retried =
						reports.len().saturating_sub(outcome.delivered.len() + rejected.len()),
					"batch finalized"
				);
				let delivered = outcome.delivered;
				if let Err(error) = self.outbox.run(move |o| o.settle(&delivered, &rejected)).await
				{
					tracing::error!(%error, "cannot update the outbox; the reports will be resubmitted");
				}
			}
			Err(reason) => {
				self.metrics.chain_errors.with_label_values(&["batch"]).inc();
				tracing::warn!(reports = reports.len(), %reason, "batch not finalized; its reports stay pending");
			}
		}
		if let Ok((pending, rejected)) = self.outbox.run(|o| o.counts()).await {
			self.metrics.outbox_pending.set(pending as i64);
			self.metrics.outbox_rejected.set(rejected as i64);
		}
		review.into_iter().collect()
	}
}

/// The next runtime version the node announces; never, without a subscription. `None` when
/// the subscription ends.
async fn next_version(
	versions: &mut Option<jsonrpsee::core::client::Subscription<RuntimeVersion>>,
) -> Option<RuntimeVersion> {
	match versions {
		Some(versions) => match versions.next().await {
			Some(Ok(version)) => Some(version),
			Some(Err(error)) => {
				tracing::warn!(%error, "cannot read the node's runtime announcement");
				None
			}
			None => None,
		},
		None => std::future::pending().await,
	}
}

/// A `submit_reports` extrinsic signed by the gateway for `runtime`'s versions (its bytes).
pub fn batch_extrinsic(
	runtime: &NodeRuntime,
	reports: Vec<SignedReport>,
	gateway: &sr25519::Pair,
	nonce: u32,
	genesis: H256,
) -> Result<Vec<u8>, SignError> {
	let call = Call::SubmitReports { reports, raw_data_digest: None };
	runtime.sign(&call, gateway, nonce, genesis)
}

/// Waits for a batch's finalization and reads its outcome.
async fn watch_batch(
	chain: &Chain,
	subscription: jsonrpsee::core::client::Subscription<serde_json::Value>,
	xt: &[u8],
	keys: &[ReportKey],
	timeout: Duration,
) -> Result<BatchOutcome, BatchError> {
	let finalized = wait_finalized(subscription, timeout).await.map_err(|e| match e {
		FinalityError::NotIncluded(status) => BatchError::NotIncluded(status),
		FinalityError::Subscription(why) => BatchError::Subscription(why),
		FinalityError::Timeout(timeout) => BatchError::Timeout(timeout),
	})?;
	let events = chain.extrinsic_events(finalized, xt).await?;
	batch_outcome(keys, &events.gateway_events())
}

#[cfg(test)]
mod tests {
	use super::*;
	use jsonrpsee::{core::ClientError, types::ErrorObjectOwned};

	fn rejected(device_id: DeviceId, sequence: u64, reason: RejectionReason) -> Event {
		Event::ReportRejected { device_id, sequence, reason }
	}

	fn processed() -> Event {
		Event::BatchProcessed {
			gateway: sp_core::crypto::AccountId32::new([0; 32]),
			accepted: 0,
			flagged: 0,
			rejected: 0,
		}
	}

	#[test]
	fn outcomes_follow_the_events() {
		let keys = vec![(1, 5), (2, 9), (3, 1), (4, 2), (5, 7), (6, 3)];
		let events = vec![
			rejected(2, 9, RejectionReason::SequenceNotIncreasing),
			rejected(3, 1, RejectionReason::BadSignature),
			Event::ReportFlagged { device_id: 4, sequence: 2, flags: Default::default() },
			rejected(5, 7, RejectionReason::IntervalInFuture),
			rejected(6, 3, RejectionReason::DeviceNotActive),
			processed(),
		];
		let outcome = batch_outcome(&keys, &events).unwrap();
		assert_eq!(outcome.delivered, vec![(1, 5), (2, 9), (4, 2)]);
		assert_eq!(outcome.rejected, vec![((3, 1), RejectionReason::BadSignature)]);
		assert_eq!(
			outcome.retry,
			vec![
				((5, 7), RejectionReason::IntervalInFuture),
				((6, 3), RejectionReason::DeviceNotActive)
			]
		);
		assert_eq!((outcome.accepted, outcome.flagged, outcome.duplicates), (1, 1, 1));
	}

	#[test]
	fn only_clock_skew_and_inactive_devices_are_retried() {
		use RejectionReason::*;
		for reason in [IntervalInFuture, DeviceNotActive] {
			assert!(is_transient(reason), "{reason:?}");
		}
		for reason in [
			UnknownDevice,
			WrongGateway,
			BadSignature,
			SequenceNotIncreasing,
			InvalidIntervalLength,
			IntervalTooOld,
			IntervalOverlap,
		] {
			assert!(!is_transient(reason), "{reason:?}");
		}
		let horizon = openvpp_primitives::network::REPORT_HORIZON_S;
		assert!(!too_old(1_000_000, 1_000_000 + horizon));
		assert!(too_old(1_000_000, 1_000_001 + horizon));
	}

	#[test]
	fn a_block_without_the_batch_event_is_not_a_delivery() {
		assert!(matches!(batch_outcome(&[(1, 1)], &[]), Err(BatchError::NotProcessed)));
	}

	#[test]
	fn deferred_devices_wait_longer_each_time_until_delivered() {
		let mut deferrals = Deferrals::default();
		let t0 = Instant::now();
		let waits: Vec<u64> = (0..4)
			.map(|_| deferrals.defer(7, RejectionReason::IntervalInFuture, t0).as_secs())
			.collect();
		assert_eq!(waits, vec![15, 30, 60, 120]);
		assert_eq!(deferrals.waiting(t0).collect::<Vec<_>>(), vec![7]);
		assert!(deferrals.waiting(t0 + Duration::from_secs(121)).next().is_none());
		// Capped.
		for _ in 0..10 {
			deferrals.defer(7, RejectionReason::IntervalInFuture, t0);
		}
		assert_eq!(deferrals.defer(7, RejectionReason::IntervalInFuture, t0).as_secs(), 300);
		// Another reason starts its own sequence of waits.
		assert_eq!(deferrals.defer(7, RejectionReason::DeviceNotActive, t0).as_secs(), 60);
		deferrals.clear(7);
		assert!(deferrals.is_empty());
	}

	fn call_error(code: i32, data: Option<&str>) -> ChainError {
		ChainError::Rpc(ClientError::Call(ErrorObjectOwned::owned(
			code,
			if code == POOL_INVALID_TX { "Invalid Transaction" } else { "Refused" },
			data,
		)))
	}

	#[test]
	fn refusals_are_classified() {
		assert!(matches!(
			classify_refusal(&call_error(
				1010,
				Some("Inability to pay some fees (e.g. account balance too low)")
			)),
			Refusal::Persistent(reason) if reason.contains("Inability to pay")
		));
		assert!(matches!(
			classify_refusal(&call_error(1010, Some("Transaction has a bad signature"))),
			Refusal::MaybeRuntime(_)
		));
		assert!(matches!(
			classify_refusal(&call_error(1002, Some("Could not decode call"))),
			Refusal::MaybeRuntime(_)
		));
		assert!(matches!(
			classify_refusal(&call_error(1010, Some("Transaction is outdated"))),
			Refusal::Nonce(_)
		));
		assert!(matches!(classify_refusal(&call_error(1014, None)), Refusal::Nonce(_)));
		assert!(matches!(classify_refusal(&call_error(1016, None)), Refusal::Persistent(_)));
		assert!(matches!(
			classify_refusal(&ChainError::Rpc(ClientError::RequestTimeout)),
			Refusal::Connection(_)
		));
	}

	#[test]
	fn only_a_finalized_batch_resets_the_back_off() {
		let t0 = Instant::now();
		let mut pacing = Pacing::new(t0);
		// A node that accepts connections but fails every call: each reconnection waits longer,
		// although every connection opened.
		let waits: Vec<u64> = (0..7).map(|_| pacing.reconnect_delay().as_secs()).collect();
		assert_eq!(waits, vec![1, 2, 4, 8, 16, 30, 30]);
		// Refused batches pause submission, longer each time, and the pause holds on the next
		// connection (it is not the connection's).
		assert_eq!(pacing.pause(t0), Duration::from_secs(1));
		assert_eq!(pacing.pause(t0), Duration::from_secs(2));
		pacing.reconnect_delay();
		assert_eq!(pacing.paused_until(), t0 + Duration::from_secs(2));
		assert_eq!(pacing.pause(t0), Duration::from_secs(4));
		// A pause never shortens one already running.
		assert_eq!(pacing.pause(t0 - Duration::from_secs(1)), Duration::from_secs(8));
		assert!(pacing.paused_until() >= t0 + Duration::from_secs(4));
		// A finalized batch: the node works, everything starts from the shortest delay.
		pacing.batch_finalized();
		assert_eq!(pacing.reconnect_delay(), Duration::from_secs(1));
		assert_eq!(pacing.pause(t0), Duration::from_secs(1));
	}

	#[test]
	fn retries_back_off_up_to_a_ceiling() {
		let mut delay = RetryDelay::new(FIRST_RETRY, MAX_RETRY);
		let delays: Vec<u64> = (0..8).map(|_| delay.next_delay().as_secs()).collect();
		assert_eq!(delays, vec![1, 2, 4, 8, 16, 32, 60, 60]);
		delay.reset();
		assert_eq!(delay.next_delay().as_secs(), 1);
	}
}
