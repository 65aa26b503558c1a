//! The bridge: sources → aggregators → signed reports in the outbox → submitter.
//!
//! At start it checks everything it can before reading a single sample: the keystore's
//! permissions and keys, the gateway key, the node's runtime versions, that every configured
//! device is registered with the key the keystore holds and bound to this gateway, and that the
//! outbox belongs to this chain. It then continues each device's sequence from the outbox (or
//! from the chain, if the outbox is new) and reports the intervals it missed while it was not
//! running as offline.
//!
//! Closed intervals are signed and queued for the outbox; the queue is written in order, each
//! report together with its device's progress. A failed write keeps the reports in memory and is
//! retried (the next interval's sequence numbers follow the queued reports, so nothing is skipped
//! and nothing is numbered twice); if the outbox stays unwritable the bridge stops rather than
//! lose what it signed, and the next start reports the intervals as offline.

use std::{
	collections::{BTreeMap, VecDeque},
	sync::{Arc, Mutex, PoisonError},
	time::Duration,
};

use openvpp_primitives::{DeviceId, DeviceStatus, IntervalReport, SignedReport, UnixSeconds};
use sp_core::{crypto::AccountId32, sr25519};
use tokio::{
	sync::{mpsc, watch, Notify},
	time::Instant,
};

use crate::{
	aggregator::{Aggregator, DeviceProgress},
	chain::{ss58, Chain, ChainError},
	config::{BridgeConfig, DeviceConfig, SourceConfig},
	device_watch::DeviceGate,
	dispatch::{responses::ResponseLog, Dispatcher},
	keystore::{self, Keystore, KeystoreError},
	mapping::Update,
	metrics::Metrics,
	outbox::{Outbox, OutboxError},
	sources::{
		self,
		modbus::ModbusDevice,
		mqtt::{MqttDevice, MqttSecrets},
		now_ms, SourceEvent,
	},
	submitter::{RetryDelay, SubmitError, Submitter, SubmitterConfig},
};

/// Why the bridge cannot start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
	#[error(transparent)]
	Keystore(#[from] KeystoreError),
	#[error(transparent)]
	Chain(#[from] ChainError),
	#[error(transparent)]
	Outbox(#[from] OutboxError),
	#[error("metrics: {0}")]
	Metrics(#[from] prometheus_endpoint::PrometheusError),
	#[error("device {id} ({name}) has no key in the keystore")]
	MissingKey { id: DeviceId, name: String },
	#[error("device {id} ({name}) is not registered on this chain")]
	UnknownDevice { id: DeviceId, name: String },
	#[error(
		"device {id} ({name}): the keystore's key {keystore:?} is not the device's attestation key \
		 on chain {chain:?}"
	)]
	KeyMismatch { id: DeviceId, name: String, keystore: String, chain: String },
	#[error(
		"device {id} ({name}) is bound to gateway {chain_gateway} on chain, but this bridge signs \
		 as {ours}: the chain would reject every report (WrongGateway); have the owner rebind the \
		 device (`deviceRegistry.rebindGateway`) or configure that gateway's seed"
	)]
	WrongGateway { id: DeviceId, name: String, chain_gateway: String, ours: String },
	#[error(
		"interval_s = {configured} is shorter than the chain's minimum report interval of \
		 {chain_minimum} s: the chain would reject every report (InvalidIntervalLength); set \
		 interval_s to at least {chain_minimum}"
	)]
	IntervalTooShort { configured: u32, chain_minimum: u32 },
	#[error(transparent)]
	Mqtt(#[from] sources::mqtt::MqttSetupError),
	#[error("chain.ca_file: {0}")]
	ChainTls(crate::tls::TlsError),
	#[error("device {id}: {message}; refusing to continue from it")]
	ImplausibleChain { id: DeviceId, message: String },
}

/// Sequence numbers the bridge must be able to use after the chain's last one; a chain that
/// says a device is closer than this to the type's limit is not believed.
const SEQUENCE_HEADROOM: u64 = 1 << 32;
/// How far ahead of this machine's clock the chain may say a device's last interval ended.
/// The chain itself accepts at most a minute of skew; more means another chain or a clock that
/// is badly wrong, and waiting for it could take forever.
const MAX_CHAIN_AHEAD_S: u64 = 600;

/// Checks what the node says a device reached before the bridge continues from it.
fn check_chain_progress(
	id: DeviceId,
	last_sequence: u64,
	last_interval_end: u64,
	now_s: u64,
) -> Result<(), StartError> {
	if last_sequence > u64::MAX - SEQUENCE_HEADROOM {
		return Err(StartError::ImplausibleChain {
			id,
			message: format!(
				"the node says the last accepted sequence is {last_sequence}, so close to the \
				 limit of the sequence number that the next reports would overflow it"
			),
		});
	}
	if last_interval_end > now_s.saturating_add(MAX_CHAIN_AHEAD_S) {
		return Err(StartError::ImplausibleChain {
			id,
			message: format!(
				"the node says the last interval ended at {last_interval_end}, {} s after this \
				 machine's clock ({now_s}): the node serves another chain, or this clock is wrong",
				last_interval_end - now_s
			),
		});
	}
	Ok(())
}

/// Refuses an interval the chain would reject as too short.
pub async fn check_interval(config: &BridgeConfig, chain: &Chain) -> Result<(), StartError> {
	let chain_minimum = chain.min_interval_length_s().await?;
	if config.interval_s < chain_minimum {
		return Err(StartError::IntervalTooShort { configured: config.interval_s, chain_minimum });
	}
	Ok(())
}

/// Why the running bridge stopped on its own.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
	#[error(transparent)]
	Submitter(#[from] SubmitError),
	#[error("the submitter stopped unexpectedly: {0}")]
	SubmitterTask(String),
	#[error(
		"{unwritten} signed reports could not be written to the outbox ({source}); stopping \
		 before more pile up in memory: make the outbox writable and start again (the intervals \
		 not written are then reported as offline)"
	)]
	Outbox { unwritten: usize, source: OutboxError },
	#[error("every source task ended: no device can be read any more")]
	SourcesEnded,
}

/// Intervals reported as missed at most, per device, at start: those that can still be
/// accepted, i.e. that start within the chain's report horizon.
pub fn max_backfill(interval_s: u32) -> usize {
	let intervals = openvpp_primitives::network::REPORT_HORIZON_S / u64::from(interval_s.max(1));
	usize::try_from(intervals).unwrap_or(usize::MAX)
}

/// Reports written to the outbox per transaction at most, so that a large backfill or backlog
/// is neither one giant transaction nor held whole in memory.
const WRITE_CHUNK: usize = 2_000;

/// Reports kept in memory at most while the outbox cannot be written.
const MAX_UNWRITTEN: usize = 50_000;

/// Intervals closed one by one at most when several ended at once (the process stalled, the
/// clock jumped forward); beyond, the one in progress is closed and the rest is reported as
/// offline in chunks, so that a jump of months does not mean millions of reports at once.
const MAX_CATCH_UP: u64 = 4;

/// Closes the intervals of `aggregator` that ended by `now_ms`, each with its device's progress
/// as of it. After more than [`MAX_CATCH_UP`] of them only the one in progress (it holds what
/// was measured before the stall) is closed and the aggregator moves straight to the current
/// interval; then the second value is `true` and the intervals in between are the caller's to
/// report, with [`Aggregator::backfill`].
pub fn close_ended(
	aggregator: &mut Aggregator,
	progress: &mut DeviceProgress,
	now_ms: u64,
) -> (Vec<(IntervalReport, DeviceProgress)>, bool) {
	let now_s = now_ms / 1_000;
	let length = aggregator.interval_end() - aggregator.interval_start();
	let ended = now_s.saturating_sub(aggregator.interval_start()) / length.max(1);
	let mut reports = Vec::new();
	if ended > MAX_CATCH_UP {
		let report = aggregator.close(progress);
		reports.push((report, *progress));
		aggregator.skip_to(now_ms);
		return (reports, true);
	}
	while aggregator.interval_end() <= now_s {
		let report = aggregator.close(progress);
		reports.push((report, *progress));
	}
	(reports, false)
}

/// The end of the latest interval already reported, if the wall clock (`now_s`) is before it:
/// the clock was set back, and intervals cut now would overlap reported ones.
pub fn clock_behind(
	progress: &BTreeMap<DeviceId, DeviceProgress>,
	now_s: UnixSeconds,
) -> Option<UnixSeconds> {
	progress.values().map(|p| p.last_interval_end).max().filter(|latest| now_s < *latest)
}

/// Hands a source's update to its device's aggregator; whether a sample was taken.
fn apply_update(aggregator: &mut Aggregator, update: Update) -> bool {
	match update {
		Update::Sample(sample) => aggregator.on_sample(sample),
		Update::Availability { online, at_ms } => {
			aggregator.on_availability(online, at_ms);
			false
		}
		// Signed reports bypass the aggregator (`Prepared::accept_signed`).
		Update::Signed(_) => false,
	}
}

/// How long after an interval ends the bridge waits for late samples before closing it.
fn grace(interval_s: u32) -> Duration {
	Duration::from_millis((u64::from(interval_s) * 1_000 / 20).clamp(200, 2_000))
}

/// Signed reports on their way into the outbox, oldest first, each with its device's progress
/// as of that report.
#[derive(Debug, Default)]
pub struct WriteQueue {
	entries: VecDeque<(SignedReport, DeviceProgress)>,
}

impl WriteQueue {
	pub fn push(&mut self, report: SignedReport, progress: DeviceProgress) {
		self.entries.push_back((report, progress));
	}

	pub fn len(&self) -> usize {
		self.entries.len()
	}

	pub fn is_empty(&self) -> bool {
		self.entries.is_empty()
	}

	/// Writes the queue in order, at most `chunk` reports per `write` — each with the progress
	/// of its devices as of their last report in it, so the outbox's progress never runs ahead
	/// of its reports. Stops at the first failure and keeps everything not written. Returns
	/// how many reports were written, and the failure if any.
	pub fn flush<W>(&mut self, chunk: usize, mut write: W) -> (usize, Result<(), OutboxError>)
	where
		W: FnMut(&[SignedReport], &[(DeviceId, DeviceProgress)]) -> Result<(), OutboxError>,
	{
		let mut written = 0;
		while !self.entries.is_empty() {
			let take = self.entries.len().min(chunk.max(1));
			let reports: Vec<SignedReport> =
				self.entries.iter().take(take).map(|(r, _)| r.clone()).collect();
			let progress: BTreeMap<DeviceId, DeviceProgress> =
				self.entries.iter().take(take).map(|(r, p)| (r.report.device_id, *p)).collect();
			let progress: Vec<(DeviceId, DeviceProgress)> = progress.into_iter().collect();
			if let Err(error) = write(&reports, &progress) {
				return (written, Err(error));
			}
			self.entries.drain(..take);
			written += take;
		}
		(written, Ok(()))
	}
}

/// Everything checked at start.
pub struct Prepared {
	config: BridgeConfig,
	keystore: Keystore,
	gateway: sr25519::Pair,
	outbox: Outbox,
	/// Each device's progress including the reports still queued for the outbox: what the next
	/// report continues from. The outbox holds the durable part.
	progress: BTreeMap<DeviceId, DeviceProgress>,
	genesis: sp_core::H256,
	metrics: Metrics,
	queue: Arc<Mutex<WriteQueue>>,
	/// The MQTT password and TLS set-up, read at start.
	mqtt_secrets: MqttSecrets,
	/// The TLS set-up for a `wss://` node with its own CA.
	chain_tls: Option<Arc<rustls::ClientConfig>>,
	/// Devices not signed for, because the chain no longer takes their reports from here.
	gate: DeviceGate,
	/// The devices' attestation keys on chain at start (empty after an offline start): what
	/// the reports of devices that sign their own are checked with.
	chain_keys: BTreeMap<DeviceId, openvpp_primitives::AttestationKey>,
	/// What the dispatcher had each device do for the grid, for the reports' `grid_response`.
	responses: ResponseLog,
}

/// The gateway account's key: `gateway_seed`, or `gateway_seed_file` (refused, like the
/// keystore, if group or others may read it).
pub fn gateway_key(config: &BridgeConfig) -> Result<sr25519::Pair, StartError> {
	let secret = match (&config.chain.gateway_seed, &config.chain.gateway_seed_file) {
		(Some(seed), _) => seed.clone(),
		(None, Some(file)) => keystore::read_secret_file(file)?,
		(None, None) => return Err(KeystoreError::BadGatewaySecret.into()),
	};
	Ok(keystore::gateway_pair(&secret)?)
}

/// Runs the start-up checks against the chain (waiting for the node if it is not up yet).
pub async fn prepare(
	config: BridgeConfig,
	shutdown: &mut watch::Receiver<bool>,
) -> Result<Option<Prepared>, StartError> {
	let keystore = Keystore::load(&config.storage.keystore)?;
	let gateway = gateway_key(&config)?;
	let gateway_account = crate::wire::extrinsic::account_of(&gateway);
	let mqtt_secrets = match &config.mqtt {
		Some(mqtt) => MqttSecrets::load(mqtt)?,
		None => MqttSecrets::default(),
	};
	let chain_tls = config
		.chain
		.ca_file
		.as_deref()
		.map(|ca_file| crate::tls::client_config(ca_file, None))
		.transpose()
		.map_err(StartError::ChainTls)?;
	for device in &config.devices {
		if keystore.get(device.id).is_none() && !device.device_signs() {
			return Err(StartError::MissingKey { id: device.id, name: device.name.clone() });
		}
	}

	// The node may be down when the gateway starts. With an outbox from an earlier run the
	// bridge knows the chain and every device's progress, so it starts reading and signing at
	// once and checks the chain when the submitter reaches it. Without one it must wait.
	let existing = Outbox::open_existing(&config.storage.outbox)?;
	let mut backoff = sources::Backoff::new();
	let started = std::time::Instant::now();
	let checked = loop {
		// A node that goes away between the connection and the end of the checks is the same
		// as one that is not there yet; only what the chain says (wrong runtime, unknown
		// device, other key or gateway) stops the bridge.
		let error = match Chain::connect_with(&config.chain.url, chain_tls.as_ref()).await {
			Ok(chain) => match check_devices(&config, &keystore, &chain, &gateway_account).await {
				Ok(progress) => break Some((chain, progress)),
				Err(StartError::Chain(ChainError::Rpc(error))) => ChainError::Rpc(error),
				// A runtime that changed what the bridge uses cannot be checked against, but
				// an outbox from an earlier run knows the chain: read and sign meanwhile.
				Err(StartError::Chain(error @ ChainError::Incompatible { .. }))
					if existing.is_some() =>
				{
					tracing::error!(%error, "starting from the outbox; nothing is submitted until the node's runtime has the shapes the bridge knows");
					break None;
				}
				Err(error) => return Err(error),
			},
			Err(error) => error,
		};
		if let (Some(_), true) = (&existing, started.elapsed() >= OFFLINE_START_AFTER) {
			tracing::warn!(url = %config.chain.url, %error, "the node is unreachable: starting from the outbox; the chain is checked once the node answers");
			break None;
		}
		let delay = backoff.next_delay();
		tracing::warn!(url = %config.chain.url, %error, retry_in = ?delay, "waiting for the node");
		tokio::select! {
			_ = shutdown.changed() => return Ok(None),
			_ = tokio::time::sleep(delay) => {},
		}
	};
	let mut chain_keys = BTreeMap::new();
	let (outbox, mut progress, genesis) = match checked {
		Some((chain, ChainView { progress, keys })) => {
			chain_keys = keys;
			drop(existing);
			let outbox = Outbox::open(&config.storage.outbox, chain.genesis)?;
			let mut stored = outbox.progress()?;
			// An outbox that is new (or was lost) continues from what the chain has seen, if
			// what the chain says can be believed.
			let now_s = sources::now_ms() / 1_000;
			for (id, (sequence, end)) in progress {
				check_chain_progress(id, sequence, end, now_s)?;
				let entry = stored.entry(id).or_default();
				if entry.last_sequence < sequence {
					entry.last_sequence = sequence;
					entry.last_interval_end = entry.last_interval_end.max(end);
				}
			}
			(outbox, stored, chain.genesis)
		}
		None => {
			let Some((outbox, genesis)) = existing else {
				return Ok(None);
			};
			let progress = outbox.progress()?;
			(outbox, progress, genesis)
		}
	};
	for device in &config.devices {
		progress.entry(device.id).or_default();
	}
	let metrics = Metrics::new()?;
	let gate = DeviceGate::new(metrics.clone());
	Ok(Some(Prepared {
		config,
		keystore,
		gateway,
		outbox,
		progress,
		genesis,
		metrics,
		queue: Arc::default(),
		mqtt_secrets,
		chain_tls,
		gate,
		chain_keys,
		responses: ResponseLog::default(),
	}))
}

/// How long the bridge waits for the node at start before it starts from its outbox.
const OFFLINE_START_AFTER: Duration = Duration::from_secs(10);

/// Checks one device on chain: registered, with the keystore's key as its attestation key, and
/// bound to `gateway` (the account this bridge signs batches with). Returns its record.
pub async fn check_device(
	device: &DeviceConfig,
	keystore: &Keystore,
	chain: &Chain,
	gateway: &AccountId32,
) -> Result<crate::wire::storage::DeviceRecord, StartError> {
	let record = chain
		.device(device.id)
		.await?
		.ok_or_else(|| StartError::UnknownDevice { id: device.id, name: device.name.clone() })?;
	let ours = keystore.get(device.id).map(|k| k.public());
	// A device that signs its own reports has no key here: the chain's is the one it signs with.
	if !device.device_signs() && ours.as_ref() != Some(&record.attestation_key) {
		return Err(StartError::KeyMismatch {
			id: device.id,
			name: device.name.clone(),
			keystore: format!("{ours:?}"),
			chain: format!("{:?}", record.attestation_key),
		});
	}
	check_gateway(device.id, &device.name, &record.gateway, gateway)?;
	Ok(record)
}

/// Refuses a device bound to another gateway than `ours`.
fn check_gateway(
	id: DeviceId,
	name: &str,
	on_chain: &AccountId32,
	ours: &AccountId32,
) -> Result<(), StartError> {
	if on_chain != ours {
		return Err(StartError::WrongGateway {
			id,
			name: name.to_string(),
			chain_gateway: ss58(on_chain),
			ours: ss58(ours),
		});
	}
	Ok(())
}

/// Checks the node's runtime and every device's registration, key and gateway; returns the
/// chain's last sequence and interval end of each device that has reported.
async fn check_devices(
	config: &BridgeConfig,
	keystore: &Keystore,
	chain: &Chain,
	gateway: &AccountId32,
) -> Result<ChainView, StartError> {
	chain.check_compatible(crate::compat::GATEWAY).await?;
	check_interval(config, chain).await?;
	let mut chain_progress = BTreeMap::new();
	let mut keys = BTreeMap::new();
	for device in &config.devices {
		let record = check_device(device, keystore, chain, gateway).await?;
		keys.insert(device.id, record.attestation_key.clone());
		if record.status != DeviceStatus::Active {
			tracing::warn!(device = %device.name, status = ?record.status, "device is not active; the chain refuses its reports until a verifier activates it (they are kept and retried)");
		}
		if let Some(state) = chain.device_telemetry(device.id, None).await? {
			chain_progress.insert(device.id, (state.last_sequence, state.last_interval_end));
		}
	}
	Ok(ChainView { progress: chain_progress, keys })
}

/// What the chain said about the configured devices at start.
struct ChainView {
	/// The last sequence and interval end of each device that has reported.
	progress: BTreeMap<DeviceId, (u64, u64)>,
	/// Each device's attestation key.
	keys: BTreeMap<DeviceId, openvpp_primitives::AttestationKey>,
}

impl Prepared {
	pub fn metrics(&self) -> &Metrics {
		&self.metrics
	}

	fn sign(&self, report: IntervalReport) -> Option<SignedReport> {
		let key = self.keystore.get(report.device_id)?;
		let payload = openvpp_primitives::report_signing_payload(&self.genesis, &report);
		Some(SignedReport { signature: key.sign(&payload), report })
	}

	/// Queues a report its device signed itself, unchanged, if it is the device's, new, and
	/// signed by the device's key on chain (when the bridge knows it). Anything else is
	/// counted as bad input and dropped; the chain would only reject it at the gateway's cost.
	fn accept_signed(
		&mut self,
		device_id: DeviceId,
		signed: SignedReport,
		names: &BTreeMap<DeviceId, String>,
	) -> bool {
		let name = names.get(&device_id).map(String::as_str).unwrap_or("?");
		let report = &signed.report;
		let progress = self.progress.entry(device_id).or_default();
		let problem = if report.device_id != device_id {
			Some(("wrong-device", format!("the report is device {}'s", report.device_id)))
		} else if report.sequence <= progress.last_sequence
			|| report.interval_start < progress.last_interval_end
		{
			Some((
				"stale-report",
				format!(
					"sequence {} / interval start {} is not after the last forwarded ({} / {})",
					report.sequence,
					report.interval_start,
					progress.last_sequence,
					progress.last_interval_end
				),
			))
		} else if self.chain_keys.get(&device_id).is_some_and(|key| {
			!key.verify(
				&openvpp_primitives::report_signing_payload(&self.genesis, report),
				&signed.signature,
			)
		}) {
			Some(("bad-signature", "the signature is not the device's for this chain".into()))
		} else {
			None
		};
		if let Some((kind, message)) = problem {
			self.metrics.bad_input.with_label_values(&[name, "mqtt", kind]).inc();
			tracing::warn!(device_id, device = name, sequence = report.sequence, %message, "dropping a device-signed report");
			return false;
		}
		if !self.gate.is_signing(device_id) {
			tracing::debug!(device_id, "not forwarding for a stopped device");
			return false;
		}
		*progress = DeviceProgress {
			last_sequence: report.sequence,
			last_interval_end: report.interval_end(),
			cumulative_imported_wh: report.cumulative_imported_wh,
			cumulative_exported_wh: report.cumulative_exported_wh,
			..Default::default()
		};
		let progress = *progress;
		self.metrics.samples.with_label_values(&[name]).inc();
		let mut queue = self.queue.lock().unwrap_or_else(PoisonError::into_inner);
		queue.push(signed, progress);
		self.metrics.reports_unwritten.set(queue.len() as i64);
		true
	}

	/// Signs reports and queues them for the outbox, each with its device's progress as of it.
	fn enqueue(&self, reports: Vec<(IntervalReport, DeviceProgress)>) {
		let mut queue = self.queue.lock().unwrap_or_else(PoisonError::into_inner);
		for (report, progress) in reports {
			let (device, sequence) = (report.device_id, report.sequence);
			if !self.gate.is_signing(device) {
				// Its report would only be rejected (see `device_watch`).
				tracing::debug!(device, sequence, "not signing for a stopped device");
				continue;
			}
			match self.sign(report) {
				Some(signed) => queue.push(signed, progress),
				// Every device's key was checked at start.
				None => tracing::error!(device, sequence, "no key to sign the report with"),
			}
		}
		self.metrics.reports_unwritten.set(queue.len() as i64);
	}

	/// Writes the queued reports to the outbox. On failure they stay queued for the next
	/// attempt; returns whether everything was written, or an error once too many are waiting.
	async fn write_queue(&self) -> Result<bool, RunError> {
		let queue = self.queue.clone();
		let flushed = self
			.outbox
			.run(move |outbox| {
				let mut queue = queue.lock().unwrap_or_else(PoisonError::into_inner);
				let (written, result) = queue.flush(WRITE_CHUNK, |r, p| outbox.record(r, p));
				Ok((written, result, queue.len()))
			})
			.await;
		let (written, result, left) = match flushed {
			Ok(flushed) => flushed,
			Err(error) => (0, Err(error), self.unwritten()),
		};
		self.metrics.reports_signed.inc_by(written as u64);
		self.metrics.reports_unwritten.set(left as i64);
		if let Ok((pending, rejected)) = self.outbox.run(|o| o.counts()).await {
			self.metrics.outbox_pending.set(pending as i64);
			self.metrics.outbox_rejected.set(rejected as i64);
		}
		match result {
			Ok(()) => Ok(true),
			Err(source) if left > MAX_UNWRITTEN => {
				Err(RunError::Outbox { unwritten: left, source })
			}
			Err(error) => {
				// Without the outbox nothing can be delivered safely: say so loudly. The
				// reports stay queued and later ones are numbered after them.
				self.metrics.outbox_write_errors.inc();
				tracing::error!(%error, unwritten = left, "cannot write reports to the outbox; they are kept in memory and written again");
				Ok(false)
			}
		}
	}

	fn unwritten(&self) -> usize {
		self.queue.lock().unwrap_or_else(PoisonError::into_inner).len()
	}

	/// Reports the intervals between the last report of `aggregator`'s device and its current
	/// interval as offline — the most recent `limit` of them — in chunks, each written before
	/// the next is made. Returns how many.
	async fn backfill(&mut self, aggregator: &Aggregator, limit: usize) -> Result<usize, RunError> {
		let mut total = 0;
		loop {
			let progress = self.progress.entry(aggregator.device_id()).or_default();
			let chunk = aggregator.backfill(progress, limit, WRITE_CHUNK);
			if chunk.is_empty() {
				return Ok(total);
			}
			let after = *progress;
			total += chunk.len();
			self.enqueue(
				chunk
					.into_iter()
					.map(|r| {
						let progress = DeviceProgress {
							last_sequence: r.sequence,
							last_interval_end: r.interval_end(),
							..after
						};
						(r, progress)
					})
					.collect(),
			);
			self.write_queue().await?;
		}
	}

	/// Closes, signs and writes every interval that ended by `now_ms` (see [`close_ended`]; after
	/// a stall the skipped intervals are reported as offline, at most `limit` per device).
	/// Returns whether everything queued is written.
	async fn close_ended(
		&mut self,
		aggregators: &mut BTreeMap<DeviceId, Aggregator>,
		limit: usize,
		now_ms: u64,
	) -> Result<bool, RunError> {
		let mut reports = Vec::new();
		let mut skipped = Vec::new();
		for aggregator in aggregators.values_mut() {
			let progress = self.progress.entry(aggregator.device_id()).or_default();
			let (closed, skip) = close_ended(aggregator, progress, now_ms);
			reports.extend(closed.into_iter().map(|(mut report, progress)| {
				report.grid_response = self.responses.during(
					report.device_id,
					report.interval_start.saturating_mul(1_000),
					report.interval_end().saturating_mul(1_000),
				);
				(report, progress)
			}));
			if skip {
				skipped.push(aggregator.device_id());
			}
		}
		self.enqueue(reports);
		let mut written = self.write_queue().await?;
		if !skipped.is_empty() {
			tracing::warn!(
				devices = skipped.len(),
				"the bridge fell behind by more than {MAX_CATCH_UP} intervals (it stalled, or the clock jumped forward): the intervals missed are reported as offline"
			);
			let mut backfilled = 0;
			for id in skipped {
				if let Some(aggregator) = aggregators.get(&id) {
					backfilled += self.backfill(aggregator, limit).await?;
				}
			}
			tracing::info!(reports = backfilled, "reported the intervals missed as offline");
			written = self.unwritten() == 0;
		}
		Ok(written)
	}

	/// Waits while the wall clock is before the end of an interval already reported (it was set
	/// back): intervals cut now would overlap reports already made. `false` if shut down
	/// meanwhile.
	async fn wait_for_clock(&self, shutdown: &mut watch::Receiver<bool>) -> bool {
		loop {
			let now_s = now_ms() / 1_000;
			let Some(latest) = clock_behind(&self.progress, now_s) else { return true };
			tracing::error!(
				clock = now_s,
				last_interval_end = latest,
				behind_s = latest - now_s,
				"the system clock is before the end of the last reported interval (was it set back? check NTP); waiting for it to pass that time, so that no report overlaps one already made"
			);
			let wait = Duration::from_secs((latest - now_s).clamp(1, 60));
			tokio::select! {
				_ = shutdown.changed() => return false,
				_ = tokio::time::sleep(wait) => {}
			}
		}
	}

	/// Runs the bridge until `shutdown` turns true, or until it cannot go on (the node serves
	/// another runtime, the outbox stays unwritable, no source is left).
	pub async fn run(mut self, mut shutdown: watch::Receiver<bool>) -> Result<(), RunError> {
		let config = self.config.clone();
		if let Some(address) = config.metrics.listen {
			self.metrics.serve(address);
			tracing::info!(%address, "metrics at /metrics");
		}
		if !self.wait_for_clock(&mut shutdown).await {
			return Ok(());
		}

		// Aggregators, and reports for the intervals missed while the bridge was down (written
		// in chunks: with short intervals a long outage is many reports).
		let now = now_ms();
		let limit = max_backfill(config.interval_s);
		let mut aggregators: BTreeMap<DeviceId, Aggregator> = BTreeMap::new();
		let mut backfilled = 0;
		for device in config.devices.iter().filter(|d| !d.device_signs()) {
			let aggregator =
				Aggregator::new(device.id, config.interval_s, device.source.max_gap_ms(), now);
			backfilled += self.backfill(&aggregator, limit).await?;
			aggregators.insert(device.id, aggregator);
		}
		if backfilled > 0 {
			tracing::info!(
				reports = backfilled,
				"reported intervals missed while the bridge was not running as offline"
			);
		}

		// Sources.
		let (events_tx, mut events) = mpsc::channel::<SourceEvent>(4_096);
		let (source_stop_tx, source_stop) = watch::channel(false);
		let mut tasks = tokio::task::JoinSet::new();
		let mut mqtt_devices = Vec::new();
		let names: BTreeMap<DeviceId, String> =
			config.devices.iter().map(|d| (d.id, d.name.clone())).collect();
		for device in &config.devices {
			match &device.source {
				SourceConfig::Mqtt(mapping) => mqtt_devices.push(MqttDevice {
					device_id: device.id,
					name: device.name.clone(),
					mapping: mapping.clone(),
				}),
				SourceConfig::Modbus(source) => {
					let modbus = ModbusDevice {
						device_id: device.id,
						name: device.name.clone(),
						address: source.address,
						unit_id: source.unit_id,
						poll_interval: Duration::from_millis(source.poll_interval_ms),
						timeout: Duration::from_millis(source.timeout_ms),
						sunspec_base: source.sunspec_base,
					};
					tasks.spawn(sources::modbus::run(
						modbus,
						events_tx.clone(),
						self.metrics.clone(),
						source_stop.clone(),
					));
				}
			}
		}
		if let (Some(mqtt), false) = (config.mqtt.clone(), mqtt_devices.is_empty()) {
			tasks.spawn(sources::mqtt::run(
				mqtt,
				self.mqtt_secrets.clone(),
				mqtt_devices,
				events_tx.clone(),
				self.metrics.clone(),
				source_stop.clone(),
			));
		}
		drop(events_tx);

		// The submitter, and the dispatcher whose calls it signs.
		let wake = Arc::new(Notify::new());
		let (submit_stop_tx, submit_stop) = watch::channel(false);
		let (calls_tx, calls) = mpsc::channel(64);
		let dispatcher = Dispatcher::from_config(
			&config,
			self.chain_tls.clone(),
			self.mqtt_secrets.clone(),
			calls_tx,
			wake.clone(),
			self.responses.clone(),
			self.metrics.clone(),
		);
		let (dispatch_stop_tx, dispatch_stop) = watch::channel(false);
		let dispatcher_task = dispatcher.map(|d| tokio::spawn(d.run(dispatch_stop)));
		let submitter = Submitter {
			config: SubmitterConfig {
				url: config.chain.url.clone(),
				tls: self.chain_tls.clone(),
				batch_size: config.submission.batch_size as usize,
				max_in_flight: config.submission.max_in_flight,
				finality_timeout: Duration::from_secs(config.submission.finality_timeout_s),
				shutdown_grace: Duration::from_secs(30),
			},
			gateway: self.gateway.clone(),
			outbox: self.outbox.clone(),
			metrics: self.metrics.clone(),
			gate: self.gate.clone(),
			keys: self
				.config
				.devices
				.iter()
				.filter_map(|d| match self.keystore.get(d.id) {
					Some(key) => Some((d.id, key.public())),
					// A device that signs its own reports: the key it had on chain at start.
					None => self.chain_keys.get(&d.id).map(|key| (d.id, key.clone())),
				})
				.collect(),
			wake: wake.clone(),
			genesis: self.genesis,
			calls: Some(calls),
		};
		let mut submitter_task = Some(tokio::spawn(submitter.run(submit_stop)));
		wake.notify_one();

		let summary_every = Duration::from_secs(config.metrics.summary_every_s.max(1));
		let mut summary = tokio::time::interval(summary_every);
		summary.tick().await;
		tracing::info!(
			devices = config.devices.len(),
			interval_s = config.interval_s,
			"bridge running"
		);

		let mut write_retry = RetryDelay::new(Duration::from_secs(1), Duration::from_secs(30));
		let mut retry_write_at: Option<Instant> =
			(self.unwritten() > 0).then(|| Instant::now() + write_retry.next_delay());
		let mut failure: Option<RunError> = None;
		loop {
			let wait = match aggregators.values().map(|a| a.interval_end()).min() {
				Some(next_end) => {
					let close_at_ms =
						next_end * 1_000 + grace(config.interval_s).as_millis() as u64;
					Duration::from_millis(close_at_ms.saturating_sub(now_ms()))
				}
				// No device: nothing to close.
				None => Duration::from_secs(3_600),
			};
			let retry_at = retry_write_at.unwrap_or_else(Instant::now);
			let written = tokio::select! {
				_ = shutdown.changed() => break,
				done = async {
					match submitter_task.as_mut() {
						Some(task) => task.await,
						None => std::future::pending().await,
					}
				}, if submitter_task.is_some() => {
					submitter_task = None;
					failure = Some(match done {
						Ok(Ok(())) => RunError::SubmitterTask("it returned".into()),
						Ok(Err(error)) => RunError::Submitter(error),
						Err(error) => RunError::SubmitterTask(error.to_string()),
					});
					break;
				}
				event = events.recv() => {
					let Some(SourceEvent { device_id, update }) = event else {
						// Sources run until they are stopped: none left means they failed, and a
						// bridge that reads nothing must not look like one that stopped cleanly.
						failure = Some(RunError::SourcesEnded);
						break;
					};
					if let Update::Signed(signed) = update {
						if !self.accept_signed(device_id, *signed, &names) {
							continue;
						}
						self.write_queue().await
					} else {
					let Some(aggregator) = aggregators.get_mut(&device_id) else { continue };
					if apply_update(aggregator, update) {
						if let Some(name) = names.get(&device_id) {
							self.metrics.samples.with_label_values(&[name]).inc();
						}
					}
					continue;
					}
				}
				_ = tokio::time::sleep_until(retry_at), if retry_write_at.is_some() => {
					self.write_queue().await
				}
				_ = tokio::time::sleep(wait) => {
					self.close_ended(&mut aggregators, limit, now_ms()).await
				}
				_ = summary.tick(), if config.metrics.summary_every_s > 0 => {
					tracing::info!("{}", self.metrics.summary());
					continue;
				}
			};
			match written {
				Ok(true) => {
					write_retry.reset();
					retry_write_at = None;
					wake.notify_one();
				}
				Ok(false) => retry_write_at = Some(Instant::now() + write_retry.next_delay()),
				Err(error) => {
					failure = Some(error);
					break;
				}
			}
		}

		// Shutting down: stop reading, keep what was recorded, let the submitter finish what is
		// in flight. The interval in progress is not reported; the next start reports it as
		// offline.
		tracing::info!("stopping: the dispatcher and sources first, then the submitter");
		let _ = dispatch_stop_tx.send(true);
		let _ = source_stop_tx.send(true);
		if let Some(task) = dispatcher_task {
			let _ = task.await;
		}
		// What the sources already sent still counts; then the channel goes, so that no source
		// can wait on it while it is joined.
		while let Ok(SourceEvent { device_id, update }) = events.try_recv() {
			if let Update::Signed(signed) = update {
				self.accept_signed(device_id, *signed, &names);
			} else if let Some(aggregator) = aggregators.get_mut(&device_id) {
				apply_update(aggregator, update);
			}
		}
		drop(events);
		while tasks.join_next().await.is_some() {}
		// An interval that ended during the closing grace is fully measured: report it rather
		// than leave it to the next start's backfill as offline.
		let written = self.close_ended(&mut aggregators, limit, now_ms()).await;
		if !matches!(written, Ok(true)) {
			tracing::error!(
				unwritten = self.unwritten(),
				"stopping with reports not written to the outbox; the next start reports their intervals as offline"
			);
		}
		let _ = submit_stop_tx.send(true);
		if let Some(task) = submitter_task {
			match task.await {
				Ok(Err(error)) if failure.is_none() => failure = Some(error.into()),
				_ => {}
			}
		}
		tracing::info!("{}", self.metrics.summary());
		match failure {
			Some(error) => {
				tracing::error!(%error, "bridge stopped");
				Err(error)
			}
			None => {
				tracing::info!("bridge stopped");
				Ok(())
			}
		}
	}
}

#[cfg(test)]
mod tests {
	use super::*;
	use openvpp_primitives::{AttestationSignature, QualityFlags};

	const T0_MS: u64 = 1_767_225_600_000;

	#[test]
	fn what_the_node_says_is_checked_before_the_bridge_continues_from_it() {
		let now = T0_MS / 1_000;
		assert!(check_chain_progress(1, 41, now - 900, now).is_ok());
		// A clock a few minutes behind the chain's is waited out, not refused.
		assert!(check_chain_progress(1, 41, now + 300, now).is_ok());
		// A sequence the next reports would overflow.
		let near_limit = check_chain_progress(1, u64::MAX - 5, now - 900, now).unwrap_err();
		assert!(near_limit.to_string().contains("overflow"), "{near_limit}");
		// An interval end far ahead of this clock would be waited for forever.
		let future = check_chain_progress(2, 41, now + 86_400, now).unwrap_err();
		assert!(future.to_string().contains("86400 s after this machine's clock"), "{future}");
	}

	fn signed(report: IntervalReport) -> SignedReport {
		SignedReport {
			report,
			signature: AttestationSignature::Sr25519(sp_core::sr25519::Signature::from_raw(
				[7; 64],
			)),
		}
	}

	fn outbox_failure() -> OutboxError {
		OutboxError::Task("disk full".into())
	}

	/// Closes the aggregator's interval, as the bridge's tick does, and queues the report.
	fn close_into(
		queue: &mut WriteQueue,
		aggregator: &mut Aggregator,
		progress: &mut DeviceProgress,
	) {
		let report = aggregator.close(progress);
		queue.push(signed(report), *progress);
	}

	#[test]
	fn a_failed_write_keeps_the_reports_and_the_next_interval_follows_them() {
		let dir = tempfile::tempdir().unwrap();
		let outbox = Outbox::open(&dir.path().join("outbox.redb"), sp_core::H256::zero()).unwrap();
		let mut aggregator = Aggregator::new(1, 60, 15_000, T0_MS);
		let mut progress = DeviceProgress { last_sequence: 4, ..Default::default() };
		let mut queue = WriteQueue::default();

		close_into(&mut queue, &mut aggregator, &mut progress);
		// The write gets as far as the commit, then fails (a full disk).
		let (written, result) =
			queue.flush(WRITE_CHUNK, |r, p| outbox.record_with(r, p, || Err(outbox_failure())));
		assert_eq!(written, 0);
		assert!(result.is_err());
		assert_eq!(queue.len(), 1);
		// Nothing reached the outbox, its progress included.
		assert_eq!(outbox.counts().unwrap(), (0, 0));
		assert!(outbox.progress().unwrap().is_empty());

		// The next interval is numbered after the unwritten report, and both are written.
		close_into(&mut queue, &mut aggregator, &mut progress);
		let (written, result) = queue.flush(WRITE_CHUNK, |r, p| outbox.record(r, p));
		assert!(result.is_ok());
		assert_eq!(written, 2);
		assert!(queue.is_empty());
		let pending = outbox.pending(10, &Default::default()).unwrap();
		let sequences: Vec<u64> = pending.iter().map(|s| s.report.sequence).collect();
		assert_eq!(sequences, vec![5, 6]);
		assert_eq!(pending[1].report.interval_start, pending[0].report.interval_end());
		assert_eq!(outbox.progress().unwrap()[&1].last_sequence, 6);
	}

	#[test]
	fn queued_reports_are_written_in_chunks_with_matching_progress() {
		let dir = tempfile::tempdir().unwrap();
		let outbox = Outbox::open(&dir.path().join("outbox.redb"), sp_core::H256::zero()).unwrap();
		let mut queue = WriteQueue::default();
		let mut aggregators =
			[Aggregator::new(1, 60, 15_000, T0_MS), Aggregator::new(2, 60, 15_000, T0_MS)];
		let mut progress = [DeviceProgress::default(), DeviceProgress::default()];
		for _ in 0..3 {
			for (aggregator, progress) in aggregators.iter_mut().zip(progress.iter_mut()) {
				close_into(&mut queue, aggregator, progress);
			}
		}
		let stored = |outbox: &Outbox| {
			let reports: Vec<(DeviceId, u64)> = outbox
				.pending(100, &Default::default())
				.unwrap()
				.iter()
				.map(|s| (s.report.device_id, s.report.sequence))
				.collect();
			let progress: Vec<(DeviceId, u64)> =
				outbox.progress().unwrap().iter().map(|(id, p)| (*id, p.last_sequence)).collect();
			(reports, progress)
		};
		// Chunks of 4: the second write fails at its commit, and is retried later from where
		// it stopped.
		let mut calls = 0;
		let (written, result) = queue.flush(4, |reports, progress| {
			calls += 1;
			outbox.record_with(reports, progress, || match calls {
				2 => Err(outbox_failure()),
				_ => Ok(()),
			})
		});
		assert_eq!((written, result.is_err(), queue.len()), (4, true, 2));
		// The outbox holds the first chunk, and progress only as far as its reports.
		assert_eq!(stored(&outbox), (vec![(1, 1), (1, 2), (2, 1), (2, 2)], vec![(1, 2), (2, 2)]));
		let (written, result) = queue.flush(4, |r, p| outbox.record(r, p));
		assert_eq!((written, result.is_ok(), queue.len()), (2, true, 0));
		assert_eq!(
			stored(&outbox),
			(vec![(1, 1), (1, 2), (1, 3), (2, 1), (2, 2), (2, 3)], vec![(1, 3), (2, 3)])
		);
	}

	#[test]
	fn catching_up_after_a_stall_is_bounded() {
		let mut aggregator = Aggregator::new(1, 60, 15_000, T0_MS);
		aggregator.on_sample(crate::aggregator::Sample {
			at_ms: T0_MS + 10_000,
			power_w: Some(1_000),
			..Default::default()
		});
		let mut progress = DeviceProgress { last_sequence: 7, ..Default::default() };
		// A short stall: the intervals are closed one by one.
		let (reports, skipped) = close_ended(&mut aggregator, &mut progress, T0_MS + 180_500);
		assert!(!skipped);
		assert_eq!(reports.iter().map(|(r, _)| r.sequence).collect::<Vec<_>>(), [8, 9, 10]);
		assert_eq!(aggregator.interval_start(), T0_MS / 1_000 + 180);
		// Nothing has ended yet.
		assert!(close_ended(&mut aggregator, &mut progress, T0_MS + 200_000).0.is_empty());

		// The clock jumps a year ahead: not half a million reports. The interval in progress
		// is closed, then the aggregator is at the current interval.
		let now = T0_MS + 365 * 86_400_000 + 30_500;
		let (reports, skipped) = close_ended(&mut aggregator, &mut progress, now);
		assert!(skipped);
		assert_eq!(reports.len(), 1);
		assert_eq!(reports[0].0.interval_start, T0_MS / 1_000 + 180);
		assert_eq!(aggregator.interval_start(), (now / 1_000) / 60 * 60);
		// The gap is reported as offline: the most recent intervals the chain can still
		// accept, in chunks, right up to the current interval.
		let mut filled = Vec::new();
		loop {
			let chunk = aggregator.backfill(&mut progress, max_backfill(60), WRITE_CHUNK);
			if chunk.is_empty() {
				break;
			}
			assert!(chunk.len() <= WRITE_CHUNK);
			filled.extend(chunk);
		}
		assert_eq!(filled.len(), max_backfill(60));
		assert!(filled.iter().all(|r| r.online_s == 0 && r.quality.contains(QualityFlags::GAP)));
		assert_eq!(filled.last().map(|r| r.interval_end()), Some(aggregator.interval_start()));
		assert!(filled.windows(2).all(|w| w[1].sequence == w[0].sequence + 1));
		assert_eq!(filled[0].sequence, 12);
	}

	#[test]
	fn a_clock_set_back_is_noticed() {
		let progress: BTreeMap<DeviceId, DeviceProgress> = [
			(1, DeviceProgress { last_interval_end: 1_800, ..Default::default() }),
			(2, DeviceProgress { last_interval_end: 2_700, ..Default::default() }),
		]
		.into();
		assert_eq!(clock_behind(&progress, 2_000), Some(2_700));
		assert_eq!(clock_behind(&progress, 2_700), None);
		assert_eq!(clock_behind(&BTreeMap::new(), 0), None);
	}

	#[test]
	fn availability_counts_from_when_the_source_learned_it() {
		let mut aggregator = Aggregator::new(1, 60, 15_000, T0_MS);
		for k in 0..4 {
			let sample = crate::aggregator::Sample {
				at_ms: T0_MS + k * 10_000,
				power_w: Some(1_000),
				..Default::default()
			};
			assert!(apply_update(&mut aggregator, Update::Sample(sample)));
		}
		// The source lost the device at 35 s; the bridge gets to the update later.
		let offline = Update::Availability { online: false, at_ms: T0_MS + 35_000 };
		assert!(!apply_update(&mut aggregator, offline));
		let report = aggregator.close(&mut DeviceProgress::default());
		assert_eq!(report.online_s, 35);
	}

	/// A bridge ready to run, without a chain: an outbox in `dir`, a key for every device, and a
	/// node URL where nothing listens (the submitter keeps trying to connect).
	fn prepared(dir: &std::path::Path, interval_s: u32, devices: &str) -> Prepared {
		let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
		let text = format!(
			"interval_s = {interval_s}\n[chain]\nurl = \"ws://127.0.0.1:{port}\"\n\
			 gateway_seed = \"//Ferdie\"\n[storage]\nkeystore = \"keys.json\"\n\
			 outbox = \"outbox.redb\"\n{devices}"
		);
		let config = BridgeConfig::parse(&text).unwrap();
		let mut keystore = Keystore::default();
		for device in &config.devices {
			let key = crate::keystore::DeviceKey::from_secret("sr25519", "//Alice").unwrap();
			keystore.insert(device.id, key);
		}
		let progress = config.devices.iter().map(|d| (d.id, DeviceProgress::default())).collect();
		let metrics = Metrics::new().unwrap();
		Prepared {
			outbox: Outbox::open(&dir.join("outbox.redb"), sp_core::H256::zero()).unwrap(),
			gateway: keystore::gateway_pair("//Ferdie").unwrap(),
			config,
			keystore,
			progress,
			genesis: sp_core::H256::zero(),
			gate: DeviceGate::new(metrics.clone()),
			metrics,
			queue: Arc::default(),
			mqtt_secrets: MqttSecrets::default(),
			chain_tls: None,
			chain_keys: BTreeMap::new(),
			responses: ResponseLog::default(),
		}
	}

	#[tokio::test]
	async fn a_bridge_whose_sources_all_ended_stops_with_an_error() {
		let dir = tempfile::tempdir().unwrap();
		// No device, so no source: the event channel closes at once.
		let bridge = prepared(dir.path(), 60, "");
		let (_shutdown_tx, shutdown) = watch::channel(false);
		let result = tokio::time::timeout(Duration::from_secs(30), bridge.run(shutdown))
			.await
			.expect("the bridge stops by itself");
		assert!(matches!(result, Err(RunError::SourcesEnded)), "{result:?}");
	}

	#[tokio::test]
	async fn an_interval_that_ended_during_the_grace_is_reported_at_shutdown() {
		let dir = tempfile::tempdir().unwrap();
		let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
		let device = format!(
			"[[device]]\nid = 3\nname = \"battery\"\n\
			 source = {{ type = \"modbus\", address = \"{closed}\" }}\n"
		);
		// 10 s intervals: closed 0.5 s after they end.
		let bridge = prepared(dir.path(), 10, &device);
		let outbox = bridge.outbox.clone();
		let (shutdown_tx, shutdown) = watch::channel(false);
		let boundary_ms = (now_ms() / 10_000 + 1) * 10_000;
		let run = tokio::spawn(bridge.run(shutdown));
		// SIGTERM 50 ms after the interval ended, well within the grace.
		tokio::time::sleep(Duration::from_millis((boundary_ms + 50).saturating_sub(now_ms())))
			.await;
		shutdown_tx.send(true).unwrap();
		let result = tokio::time::timeout(Duration::from_secs(30), run).await.unwrap().unwrap();
		assert!(result.is_ok(), "{result:?}");
		let reports = outbox.pending(10, &Default::default()).unwrap();
		let starts: Vec<u64> = reports.iter().map(|s| s.report.interval_start).collect();
		assert_eq!(starts, vec![boundary_ms / 1_000 - 10], "{reports:?}");
		assert_eq!(outbox.progress().unwrap()[&3].last_interval_end, boundary_ms / 1_000);
	}

	#[test]
	fn a_device_bound_to_another_gateway_is_refused() {
		let ours = crate::wire::extrinsic::account_of(
			&<sr25519::Pair as sp_core::Pair>::from_string("//Ferdie", None).unwrap(),
		);
		let theirs = crate::wire::extrinsic::account_of(
			&<sr25519::Pair as sp_core::Pair>::from_string("//Eve", None).unwrap(),
		);
		assert!(check_gateway(3, "battery", &ours, &ours).is_ok());
		let error = check_gateway(3, "battery", &theirs, &ours).unwrap_err();
		match &error {
			StartError::WrongGateway { id: 3, name, chain_gateway, ours: mine } => {
				assert_eq!(name, "battery");
				assert_eq!(chain_gateway, &ss58(&theirs));
				assert_eq!(mine, &ss58(&ours));
			}
			other => panic!("unexpected {other:?}"),
		}
		assert!(error.to_string().contains(&ss58(&theirs)), "{error}");
	}

	#[test]
	fn backfill_reaches_back_to_the_report_horizon() {
		assert_eq!(max_backfill(900), 192);
		assert_eq!(max_backfill(30), 5_760);
		assert_eq!(max_backfill(0), 172_800);
		// A day and a half of 30 s intervals missed: all of them are reported, in chunks.
		let now = T0_MS + 129_600_000;
		let aggregator = Aggregator::new(1, 30, 3_000, now);
		let mut progress = DeviceProgress {
			last_sequence: 1,
			last_interval_end: T0_MS / 1_000,
			..Default::default()
		};
		let mut total = 0;
		let mut chunks = 0;
		loop {
			let chunk = aggregator.backfill(&mut progress, max_backfill(30), WRITE_CHUNK);
			if chunk.is_empty() {
				break;
			}
			assert!(chunk.len() <= WRITE_CHUNK);
			assert!(chunk.iter().all(|r| r.quality == QualityFlags(QualityFlags::GAP)));
			total += chunk.len();
			chunks += 1;
		}
		assert_eq!(total, 4_320);
		assert_eq!(chunks, 3);
		assert_eq!(progress.last_sequence, 4_321);
	}
}
