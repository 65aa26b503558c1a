//! The bridge: sources → aggregators → signed reports in the outbox → submitter.
//!
//! At start it checks everything it can before reading a single sample: the keystore's
//! permissions and keys, the node's runtime versions, that every configured device is
//! registered with the key the keystore holds, and that the outbox belongs to this chain. It
//! then continues each device's sequence from the outbox (or from the chain, if the outbox is
//! new) and reports the intervals it missed while it was not running as offline.

use std::{collections::BTreeMap, sync::Arc, time::Duration};

use openvpp_primitives::{DeviceId, DeviceStatus, IntervalReport, SignedReport};
use tokio::sync::{mpsc, watch, Notify};

use crate::{
	aggregator::{Aggregator, DeviceProgress},
	chain::{Chain, ChainError},
	config::{BridgeConfig, SourceConfig},
	keystore::{self, Keystore, KeystoreError},
	mapping::Update,
	metrics::Metrics,
	outbox::{Outbox, OutboxError},
	sources::{self, modbus::ModbusDevice, mqtt::MqttDevice, now_ms, SourceEvent},
	submitter::{Submitter, SubmitterConfig},
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
}

/// Intervals reported as missed at most, per device, at start (older ones would be beyond the
/// chain's report horizon anyway for short intervals).
const MAX_BACKFILL: usize = 500;

/// How long after an interval ends the bridge waits for late samples before closing it.
fn grace(interval_s: u32) -> Duration {
	Duration::from_millis((u64::from(interval_s) * 1_000 / 20).clamp(200, 2_000))
}

/// The longest silence between samples that still counts as continuous presence.
fn max_gap_ms(source: &SourceConfig) -> u64 {
	match source {
		SourceConfig::Modbus(modbus) => (modbus.poll_interval_ms * 3).max(3_000),
		SourceConfig::Mqtt(_) => 30_000,
	}
}

/// Everything checked at start.
pub struct Prepared {
	config: BridgeConfig,
	keystore: Keystore,
	gateway: sp_core::sr25519::Pair,
	outbox: Outbox,
	progress: BTreeMap<DeviceId, DeviceProgress>,
	genesis: sp_core::H256,
	metrics: Metrics,
}

/// Runs the start-up checks against the chain (waiting for the node if it is not up yet).
pub async fn prepare(
	config: BridgeConfig,
	shutdown: &mut watch::Receiver<bool>,
) -> Result<Option<Prepared>, StartError> {
	let keystore = Keystore::load(&config.storage.keystore)?;
	let gateway_secret = match (&config.chain.gateway_seed, &config.chain.gateway_seed_file) {
		(Some(seed), _) => seed.clone(),
		(None, Some(file)) => keystore::read_secret_file(file)?,
		(None, None) => return Err(KeystoreError::BadGatewaySecret.into()),
	};
	let gateway = keystore::gateway_pair(&gateway_secret)?;
	for device in &config.devices {
		if keystore.get(device.id).is_none() {
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
		// device, other key) stops the bridge.
		let error = match Chain::connect(&config.chain.url).await {
			Ok(chain) => match check_devices(&config, &keystore, &chain).await {
				Ok(progress) => break Some((chain, progress)),
				Err(StartError::Chain(ChainError::Rpc(error))) => ChainError::Rpc(error),
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
	let (outbox, mut progress, genesis) = match checked {
		Some((chain, progress)) => {
			drop(existing);
			let outbox = Outbox::open(&config.storage.outbox, chain.genesis)?;
			let mut stored = outbox.progress()?;
			// An outbox that is new (or was lost) continues from what the chain has seen.
			for (id, (sequence, end)) in progress {
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
	Ok(Some(Prepared { config, keystore, gateway, outbox, progress, genesis, metrics }))
}

/// How long the bridge waits for the node at start before it starts from its outbox.
const OFFLINE_START_AFTER: Duration = Duration::from_secs(10);

/// Checks the node's runtime and every device's registration and key; returns the chain's
/// last sequence and interval end of each device that has reported.
async fn check_devices(
	config: &BridgeConfig,
	keystore: &Keystore,
	chain: &Chain,
) -> Result<BTreeMap<DeviceId, (u64, u64)>, StartError> {
	chain.check_versions().await?;
	let mut chain_progress = BTreeMap::new();
	for device in &config.devices {
		let record = chain.device(device.id).await?.ok_or_else(|| StartError::UnknownDevice {
			id: device.id,
			name: device.name.clone(),
		})?;
		let ours = keystore.get(device.id).map(|k| k.public());
		if ours.as_ref() != Some(&record.attestation_key) {
			return Err(StartError::KeyMismatch {
				id: device.id,
				name: device.name.clone(),
				keystore: format!("{ours:?}"),
				chain: format!("{:?}", record.attestation_key),
			});
		}
		if record.status != DeviceStatus::Active {
			tracing::warn!(device = %device.name, status = ?record.status, "device is not active; the chain will reject its reports until a verifier activates it");
		}
		if let Some(state) = chain.device_telemetry(device.id, None).await? {
			chain_progress.insert(device.id, (state.last_sequence, state.last_interval_end));
		}
	}
	Ok(chain_progress)
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

	/// Signs reports and records them durably, with their devices' progress.
	async fn record(
		&self,
		reports: Vec<IntervalReport>,
		progress: Vec<(DeviceId, DeviceProgress)>,
	) {
		if reports.is_empty() {
			return;
		}
		let signed: Vec<SignedReport> = reports.into_iter().filter_map(|r| self.sign(r)).collect();
		let count = signed.len() as u64;
		match self.outbox.run(move |o| o.record(&signed, &progress)).await {
			Ok(()) => self.metrics.reports_signed.inc_by(count),
			// Without the outbox nothing can be delivered safely: say so loudly. The
			// aggregators' progress was not saved, so the same sequence numbers are used again
			// for the next interval.
			Err(error) => tracing::error!(%error, "cannot write reports to the outbox"),
		}
		if let Ok((pending, rejected)) = self.outbox.run(|o| o.counts()).await {
			self.metrics.outbox_pending.set(pending as i64);
			self.metrics.outbox_rejected.set(rejected as i64);
		}
	}

	/// Runs the bridge until `shutdown` turns true.
	pub async fn run(mut self, mut shutdown: watch::Receiver<bool>) {
		let config = self.config.clone();
		if let Some(address) = config.metrics.listen {
			self.metrics.serve(address);
			tracing::info!(%address, "metrics at /metrics");
		}

		// Aggregators, and reports for the intervals missed while the bridge was down.
		let now = now_ms();
		let mut aggregators: BTreeMap<DeviceId, Aggregator> = BTreeMap::new();
		let mut backfilled = Vec::new();
		for device in &config.devices {
			let aggregator =
				Aggregator::new(device.id, config.interval_s, max_gap_ms(&device.source), now);
			let progress = self.progress.entry(device.id).or_default();
			backfilled.extend(aggregator.backfill(progress, MAX_BACKFILL));
			aggregators.insert(device.id, aggregator);
		}
		if !backfilled.is_empty() {
			tracing::info!(
				reports = backfilled.len(),
				"reporting intervals missed while the bridge was not running as offline"
			);
			let progress = self.progress.iter().map(|(id, p)| (*id, *p)).collect();
			self.record(backfilled, progress).await;
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
				mqtt_devices,
				events_tx.clone(),
				self.metrics.clone(),
				source_stop.clone(),
			));
		}
		drop(events_tx);

		// The submitter.
		let wake = Arc::new(Notify::new());
		let (submit_stop_tx, submit_stop) = watch::channel(false);
		let submitter = Submitter {
			config: SubmitterConfig {
				url: config.chain.url.clone(),
				batch_size: config.submission.batch_size as usize,
				max_in_flight: config.submission.max_in_flight,
				finality_timeout: Duration::from_secs(config.submission.finality_timeout_s),
				shutdown_grace: Duration::from_secs(30),
			},
			gateway: self.gateway.clone(),
			outbox: self.outbox.clone(),
			metrics: self.metrics.clone(),
			wake: wake.clone(),
			genesis: self.genesis,
		};
		let submitter_task = tokio::spawn(submitter.run(submit_stop));
		wake.notify_one();

		let summary_every = Duration::from_secs(config.metrics.summary_every_s.max(1));
		let mut summary = tokio::time::interval(summary_every);
		summary.tick().await;
		tracing::info!(
			devices = config.devices.len(),
			interval_s = config.interval_s,
			"bridge running"
		);

		loop {
			let next_end = aggregators.values().map(|a| a.interval_end()).min().unwrap_or(0);
			let close_at_ms = next_end * 1_000 + grace(config.interval_s).as_millis() as u64;
			let wait = Duration::from_millis(close_at_ms.saturating_sub(now_ms()));
			tokio::select! {
				_ = shutdown.changed() => break,
				event = events.recv() => {
					let Some(SourceEvent { device_id, update }) = event else { break };
					let Some(aggregator) = aggregators.get_mut(&device_id) else { continue };
					match update {
						Update::Sample(sample) => {
							if aggregator.on_sample(sample) {
								if let Some(name) = names.get(&device_id) {
									self.metrics.samples.with_label_values(&[name]).inc();
								}
							}
						},
						Update::Availability(online) => aggregator.on_availability(online, now_ms()),
					}
				}
				_ = tokio::time::sleep(wait) => {
					let mut reports = Vec::new();
					for aggregator in aggregators.values_mut() {
						// Close every interval that has ended (several, if the process stalled).
						while aggregator.interval_end() <= now_ms() / 1_000 {
							let progress = self.progress.entry(aggregator.device_id()).or_default();
							reports.push(aggregator.close(progress));
						}
					}
					let progress = self.progress.iter().map(|(id, p)| (*id, *p)).collect();
					self.record(reports, progress).await;
					wake.notify_one();
				}
				_ = summary.tick(), if config.metrics.summary_every_s > 0 => {
					tracing::info!("{}", self.metrics.summary());
				}
			}
		}

		// Shutting down: stop reading, keep what was recorded, let the submitter finish what is
		// in flight. The interval in progress is not reported; the next start reports it as
		// offline.
		tracing::info!("stopping: sources first, then the submitter");
		let _ = source_stop_tx.send(true);
		while tasks.join_next().await.is_some() {}
		let _ = submit_stop_tx.send(true);
		let _ = submitter_task.await;
		tracing::info!("{}", self.metrics.summary());
		tracing::info!("bridge stopped");
	}
}
