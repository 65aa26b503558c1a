//! The Modbus TCP source: one task per device. It connects, finds the SunSpec marker, walks the
//! model chain, then polls the models OpenVPP reads at the device's poll interval.
//!
//! Every request has a timeout. A connection that fails, a device that vanishes mid-read or an
//! exception response leads to a reconnect (and a new discovery) after a growing back-off. A
//! register value that makes no sense (a bad scale factor, 130 % state of charge, a truncated
//! model) is logged with the device, counted in `openvpp_bridge_bad_input_total` and skipped.

use std::{net::SocketAddr, time::Duration};

use openvpp_primitives::DeviceId;
use tokio::{
	sync::{mpsc, watch},
	time::timeout,
};
use tokio_modbus::{client::Context, prelude::*};

use crate::{
	mapping::Update,
	metrics::Metrics,
	sources::{now_ms, Backoff, SourceEvent},
	sunspec::{self, ModelHeader, SunSpecError},
};

/// Largest register count of one Modbus read.
const MAX_READ: u16 = 125;

/// A Modbus device as configured.
#[derive(Debug, Clone)]
pub struct ModbusDevice {
	pub device_id: DeviceId,
	pub name: String,
	pub address: SocketAddr,
	pub unit_id: u8,
	pub poll_interval: Duration,
	pub timeout: Duration,
	pub sunspec_base: Option<u16>,
}

#[derive(Debug, thiserror::Error)]
enum PollError {
	#[error("connection: {0}")]
	Io(#[from] std::io::Error),
	#[error("transport: {0}")]
	Transport(#[from] tokio_modbus::Error),
	#[error("exception {0}")]
	Exception(ExceptionCode),
	#[error("timed out")]
	Timeout,
	#[error(transparent)]
	SunSpec(#[from] SunSpecError),
}

impl PollError {
	fn kind(&self) -> &'static str {
		match self {
			PollError::Io(_) | PollError::Transport(_) => "connection",
			PollError::Exception(_) => "modbus-exception",
			PollError::Timeout => "timeout",
			PollError::SunSpec(SunSpecError::NoMarker) => "no-sunspec-marker",
			PollError::SunSpec(SunSpecError::NoUsableModel) => "no-usable-model",
			PollError::SunSpec(SunSpecError::BadScaleFactor { .. }) => "bad-scale-factor",
			PollError::SunSpec(SunSpecError::OutOfRange { .. }) => "out-of-range",
			PollError::SunSpec(_) => "bad-model-chain",
		}
	}
}

struct Connection {
	context: Context,
	timeout: Duration,
}

impl Connection {
	async fn read(&mut self, address: u16, count: u16) -> Result<Vec<u16>, PollError> {
		let mut out = Vec::with_capacity(usize::from(count));
		let mut next = address;
		let end = u32::from(address) + u32::from(count);
		while u32::from(next) < end {
			let chunk = (end - u32::from(next)).min(u32::from(MAX_READ)) as u16;
			let words = timeout(self.timeout, self.context.read_holding_registers(next, chunk))
				.await
				.map_err(|_| PollError::Timeout)??
				.map_err(PollError::Exception)?;
			if words.len() != usize::from(chunk) {
				return Err(PollError::SunSpec(SunSpecError::ModelTruncated {
					id: 0,
					got: words.len(),
					needed: usize::from(chunk),
				}));
			}
			out.extend(words);
			next = next.saturating_add(chunk);
		}
		Ok(out)
	}

	/// Finds the marker and the models.
	async fn discover(&mut self, base: Option<u16>) -> Result<Vec<ModelHeader>, PollError> {
		let candidates: Vec<u16> = match base {
			Some(base) => vec![base],
			None => sunspec::BASE_CANDIDATES.to_vec(),
		};
		for base in candidates {
			match self.read(base, 2).await {
				Ok(marker) if marker == sunspec::SUNS_MARKER => {}
				// An exception at a candidate address just means "not here".
				Ok(_) | Err(PollError::Exception(_)) => continue,
				Err(e) => return Err(e),
			}
			let mut models = Vec::new();
			let mut address = base.wrapping_add(2);
			for _ in 0..sunspec::MAX_MODELS {
				let header = self.read(address, 2).await?;
				let (id, len) = (header[0], header[1]);
				if id == sunspec::END_MODEL_ID {
					return Ok(models);
				}
				models.push(ModelHeader { id, address, len });
				address = address
					.checked_add(len)
					.and_then(|a| a.checked_add(2))
					.ok_or(SunSpecError::ChainTooLong)?;
			}
			return Err(SunSpecError::ChainTooLong.into());
		}
		Err(SunSpecError::NoMarker.into())
	}
}

/// Polls one device until `shutdown` turns true.
pub async fn run(
	device: ModbusDevice,
	events: mpsc::Sender<SourceEvent>,
	metrics: Metrics,
	mut shutdown: watch::Receiver<bool>,
) {
	let mut backoff = Backoff::new();
	loop {
		let outcome = tokio::select! {
			_ = shutdown.changed() => return,
			outcome = poll_until_failure(&device, &events, &metrics, &mut backoff) => outcome,
		};
		let Err(error) = outcome else { return };
		if matches!(error, PollError::SunSpec(_)) {
			metrics.bad_input.with_label_values(&[&device.name, "modbus", error.kind()]).inc();
		} else {
			metrics.source_errors.with_label_values(&["modbus"]).inc();
		}
		let delay = backoff.next_delay();
		tracing::warn!(device = %device.name, address = %device.address, %error, retry_in = ?delay, "Modbus device unavailable");
		// Tell the aggregator the device is gone until it answers again.
		let offline =
			SourceEvent { device_id: device.device_id, update: Update::Availability(false) };
		if events.send(offline).await.is_err() {
			return;
		}
		tokio::select! {
			_ = shutdown.changed() => return,
			_ = tokio::time::sleep(delay) => {},
		}
	}
}

/// Connects, discovers and polls; returns when the device fails (or the receiver is gone).
async fn poll_until_failure(
	device: &ModbusDevice,
	events: &mpsc::Sender<SourceEvent>,
	metrics: &Metrics,
	backoff: &mut Backoff,
) -> Result<(), PollError> {
	let context =
		timeout(device.timeout, tcp::connect_slave(device.address, Slave(device.unit_id)))
			.await
			.map_err(|_| PollError::Timeout)??;
	let mut connection = Connection { context, timeout: device.timeout };
	let models = connection.discover(device.sunspec_base).await?;
	if let Some(common) = models.iter().find(|m| m.id == sunspec::layout::common::ID) {
		let block = connection.read(common.address, common.block_len()).await?;
		if let Ok(info) = sunspec::decode_common(&block) {
			tracing::info!(device = %device.name, manufacturer = %info.manufacturer, model = %info.model, serial = %info.serial_number, "SunSpec device found");
		}
	}
	let read: Vec<ModelHeader> = models.into_iter().filter(|m| sunspec::is_read(m.id)).collect();
	if read.is_empty() {
		return Err(SunSpecError::NoUsableModel.into());
	}
	backoff.reset();

	let mut ticker = tokio::time::interval(device.poll_interval);
	ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
	loop {
		ticker.tick().await;
		let mut blocks = Vec::with_capacity(read.len());
		for header in &read {
			blocks.push((*header, connection.read(header.address, header.block_len()).await?));
		}
		match sunspec::decode_device(&blocks) {
			Ok(reading) => {
				let event = SourceEvent {
					device_id: device.device_id,
					update: Update::Sample(reading.to_sample(now_ms())),
				};
				if events.send(event).await.is_err() {
					return Ok(());
				}
			}
			Err(error) => {
				// Bogus values: skip this poll, keep the connection.
				let error = PollError::SunSpec(error);
				metrics.bad_input.with_label_values(&[&device.name, "modbus", error.kind()]).inc();
				tracing::warn!(device = %device.name, %error, "skipping Modbus reading");
			}
		}
	}
}
