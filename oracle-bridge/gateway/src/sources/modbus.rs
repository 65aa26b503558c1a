//! The Modbus TCP source: one task per device. It connects, finds the SunSpec marker, walks the
//! model chain (both with [`sunspec::discover`]), then polls the models OpenVPP reads at the
//! device's poll interval.
//!
//! Every request has a timeout. During discovery a base address that is refused or not answered
//! is "not here" (after no answer the connection is re-opened, so that a late reply is not taken
//! for the next request's). Otherwise a connection that fails, a device that vanishes mid-read
//! or an exception response leads to a reconnect (and a new discovery) after a growing
//! back-off. A register value that makes no sense (a bad scale factor, 130 % state of charge, a
//! truncated model) is logged with the device (at most once a minute per kind of problem, with
//! a count of those left out), counted in `openvpp_bridge_bad_input_total` and skipped.
//!
//! The back-off (1 s doubling to 30 s) starts again from 1 s only after the device kept
//! answering its polls for [`sources::STABLE_CONNECTION`]: a device that passes discovery and
//! then fails its first reads is not reconnected every second.

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
	sources::{self, now_ms, Backoff, SourceEvent, WarnLimiter, WARN_EVERY},
	sunspec::{self, DiscoveryError, ModelHeader, ReadFailure, RegisterReader, SunSpecError},
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
pub enum PollError {
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
	pub(crate) fn kind(&self) -> &'static str {
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

/// A Modbus TCP connection to one unit, every request with a timeout.
pub(crate) struct Connection {
	context: Context,
	address: SocketAddr,
	unit_id: u8,
	timeout: Duration,
}

impl Connection {
	pub(crate) async fn open(
		address: SocketAddr,
		unit_id: u8,
		timeout: Duration,
	) -> Result<Self, PollError> {
		let context = connect(address, unit_id, timeout).await?;
		Ok(Connection { context, address, unit_id, timeout })
	}

	/// Writes `values` from `address` on (function 0x10).
	pub(crate) async fn write_registers(
		&mut self,
		address: u16,
		values: &[u16],
	) -> Result<(), PollError> {
		timeout(self.timeout, self.context.write_multiple_registers(address, values))
			.await
			.map_err(|_| PollError::Timeout)??
			.map_err(PollError::Exception)
	}

	pub(crate) async fn read_registers(
		&mut self,
		address: u16,
		count: u16,
	) -> Result<Vec<u16>, PollError> {
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
}

async fn connect(address: SocketAddr, unit_id: u8, limit: Duration) -> Result<Context, PollError> {
	Ok(timeout(limit, tcp::connect_slave(address, Slave(unit_id)))
		.await
		.map_err(|_| PollError::Timeout)??)
}

impl RegisterReader for Connection {
	type Error = PollError;

	async fn read(&mut self, address: u16, count: u16) -> Result<Vec<u16>, PollError> {
		self.read_registers(address, count).await
	}

	fn classify(error: &PollError) -> ReadFailure {
		match error {
			// The device answered: the address is not one it has.
			PollError::Exception(_) => ReadFailure::Refused,
			// Silence, a reply out of step, a closed connection, a short reply: the connection
			// cannot be trusted for the next request.
			PollError::Timeout
			| PollError::Io(_)
			| PollError::Transport(_)
			| PollError::SunSpec(_) => ReadFailure::NoAnswer,
		}
	}

	async fn reopen(&mut self) -> Result<(), PollError> {
		self.context = connect(self.address, self.unit_id, self.timeout).await?;
		Ok(())
	}
}

impl From<DiscoveryError<PollError>> for PollError {
	fn from(error: DiscoveryError<PollError>) -> Self {
		match error {
			DiscoveryError::SunSpec(error) => PollError::SunSpec(error),
			DiscoveryError::Read(error) => error,
		}
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
	let mut warnings = WarnLimiter::new(WARN_EVERY);
	loop {
		let mut polling_since = None;
		let outcome = tokio::select! {
			_ = shutdown.changed() => return,
			outcome = poll_until_failure(&device, &events, &metrics, &mut polling_since, &mut warnings) => outcome,
		};
		let Err(error) = outcome else { return };
		let failed_at = now_ms();
		if matches!(error, PollError::SunSpec(_)) {
			metrics.bad_input.with_label_values(&[&device.name, "modbus", error.kind()]).inc();
		} else {
			metrics.source_errors.with_label_values(&["modbus"]).inc();
		}
		// A device that answers discovery and then fails at once is retried ever more slowly;
		// only one that kept answering for a while starts again from the shortest delay.
		let held = polling_since.map(|since: std::time::Instant| since.elapsed());
		let delay = backoff.after_connection(held);
		tracing::warn!(device_id = device.device_id, device = %device.name, address = %device.address, %error, retry_in = ?delay, "Modbus device unavailable");
		// Tell the aggregator the device is gone until it answers again.
		let offline = SourceEvent {
			device_id: device.device_id,
			update: Update::Availability { online: false, at_ms: failed_at },
		};
		if !sources::send(&events, offline, &mut shutdown).await {
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
	polling_since: &mut Option<std::time::Instant>,
	warnings: &mut WarnLimiter,
) -> Result<(), PollError> {
	let mut connection = Connection::open(device.address, device.unit_id, device.timeout).await?;
	let sunspec::Discovered { base, models } =
		sunspec::discover(&mut connection, device.sunspec_base).await?;
	if let Some(common) = models.iter().find(|m| m.id == sunspec::layout::common::ID) {
		let block = connection.read_registers(common.address, common.block_len()).await?;
		if let Ok(info) = sunspec::decode_common(&block) {
			tracing::info!(device_id = device.device_id, device = %device.name, base, manufacturer = %info.manufacturer, model = %info.model, serial = %info.serial_number, "SunSpec device found");
		}
	}
	let read: Vec<ModelHeader> = models.into_iter().filter(|m| sunspec::is_read(m.id)).collect();
	if read.is_empty() {
		return Err(SunSpecError::NoUsableModel.into());
	}
	*polling_since = Some(std::time::Instant::now());

	let mut ticker = tokio::time::interval(device.poll_interval);
	ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
	loop {
		ticker.tick().await;
		let mut blocks = Vec::with_capacity(read.len());
		for header in &read {
			blocks.push((
				*header,
				connection.read_registers(header.address, header.block_len()).await?,
			));
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
				if let Some(suppressed) = warnings.check(error.kind(), std::time::Instant::now()) {
					tracing::warn!(device_id = device.device_id, device = %device.name, %error, suppressed, "skipping Modbus reading");
				}
			}
		}
	}
}

#[cfg(test)]
mod tests {
	use super::*;

	#[test]
	fn discovery_tells_refusals_from_silence() {
		// An exception: the device answered, the connection is fine.
		assert_eq!(
			Connection::classify(&PollError::Exception(ExceptionCode::IllegalDataAddress)),
			ReadFailure::Refused
		);
		// Anything else may leave a reply in flight: re-open before the next base.
		for error in [
			PollError::Timeout,
			PollError::Io(std::io::Error::from(std::io::ErrorKind::ConnectionReset)),
			PollError::SunSpec(SunSpecError::ModelTruncated { id: 0, got: 1, needed: 2 }),
		] {
			assert_eq!(Connection::classify(&error), ReadFailure::NoAnswer, "{error}");
		}
		// Discovery errors keep their kind for the metrics.
		let no_marker = PollError::from(DiscoveryError::SunSpec(SunSpecError::NoMarker));
		assert_eq!(no_marker.kind(), "no-sunspec-marker");
		let unreachable = PollError::from(DiscoveryError::Read(PollError::Timeout));
		assert_eq!(unreachable.kind(), "timeout");
	}

	/// Serves a SunSpec inverter whose discovery succeeds but whose every poll of its
	/// inverter model is refused; counts the connections made to it.
	#[derive(Clone)]
	struct FailsAfterDiscovery {
		map: std::sync::Arc<sunspec::RegisterMap>,
	}

	impl tokio_modbus::server::Service for FailsAfterDiscovery {
		type Request = Request<'static>;
		type Response = Response;
		type Exception = ExceptionCode;
		type Future = std::future::Ready<Result<Response, ExceptionCode>>;

		fn call(&self, request: Request<'static>) -> Self::Future {
			let poll_len = sunspec::layout::inverter::LEN + 2;
			std::future::ready(match request {
				Request::ReadHoldingRegisters(_, count) if count == poll_len => {
					Err(ExceptionCode::ServerDeviceFailure)
				}
				Request::ReadHoldingRegisters(address, count) => self
					.map
					.read(address, count)
					.map(Response::ReadHoldingRegisters)
					.ok_or(ExceptionCode::IllegalDataAddress),
				_ => Err(ExceptionCode::IllegalFunction),
			})
		}
	}

	#[tokio::test]
	async fn a_device_that_fails_after_discovery_is_reconnected_with_a_growing_backoff() {
		let mut map = sunspec::RegisterMap::new(40_000);
		map.add_model(sunspec::layout::common::ID, sunspec::layout::common::LEN);
		map.add_model(103, sunspec::layout::inverter::LEN);
		let service = FailsAfterDiscovery { map: std::sync::Arc::new(map.finish()) };
		let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
		let address = listener.local_addr().unwrap();
		let connections = std::sync::Arc::new(std::sync::atomic::AtomicU32::new(0));
		let counted = connections.clone();
		tokio::spawn(async move {
			let server = tokio_modbus::server::tcp::Server::new(listener);
			let on_connected = move |stream, _peer| {
				counted.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
				let service = service.clone();
				async move { Ok::<_, std::io::Error>(Some((service, stream))) }
			};
			let _ = server.serve(&on_connected, |_error: std::io::Error| {}).await;
		});
		let device = ModbusDevice {
			device_id: 5,
			name: "flaky".into(),
			address,
			unit_id: 1,
			poll_interval: Duration::from_millis(200),
			timeout: Duration::from_millis(500),
			sunspec_base: None,
		};
		let (events, mut receiver) = mpsc::channel(64);
		tokio::spawn(async move { while receiver.recv().await.is_some() {} });
		let (stop_tx, stop) = watch::channel(false);
		let metrics = Metrics::new().unwrap();
		let task = tokio::spawn(run(device, events, metrics.clone(), stop));
		// Retried after 1 s, 2 s, 4 s: the fourth connection comes about 7 s after the first.
		// Reset after every discovery, it would come after about 3 s, and a seventh by 7 s.
		let started = std::time::Instant::now();
		while connections.load(std::sync::atomic::Ordering::SeqCst) < 4 {
			assert!(started.elapsed() < Duration::from_secs(30), "the device is not retried");
			tokio::time::sleep(Duration::from_millis(50)).await;
		}
		let fourth_after = started.elapsed();
		assert!(fourth_after >= Duration::from_millis(6_500), "retried too fast: {fourth_after:?}");
		stop_tx.send(true).unwrap();
		tokio::time::timeout(Duration::from_secs(5), task).await.unwrap().unwrap();
		assert!(metrics.source_errors.with_label_values(&["modbus"]).get() >= 3);
	}

	#[tokio::test]
	async fn an_unreachable_device_does_not_hold_up_the_shutdown() {
		// Nothing listens on the port: every connection fails at once.
		let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
		let device = ModbusDevice {
			device_id: 4,
			name: "gone".into(),
			address: SocketAddr::from(([127, 0, 0, 1], port)),
			unit_id: 1,
			poll_interval: Duration::from_secs(1),
			timeout: Duration::from_millis(500),
			sunspec_base: None,
		};
		// A full channel that nobody reads (the bridge is shutting down), so the source's
		// "offline" cannot be sent.
		let (events, receiver) = mpsc::channel(1);
		let filler =
			SourceEvent { device_id: 9, update: Update::Availability { online: true, at_ms: 0 } };
		events.try_send(filler).unwrap();
		let (stop_tx, stop) = watch::channel(false);
		let task = tokio::spawn(run(device, events, Metrics::new().unwrap(), stop));
		tokio::time::sleep(Duration::from_millis(300)).await;
		stop_tx.send(true).unwrap();
		tokio::time::timeout(Duration::from_secs(5), task)
			.await
			.expect("the source stops although its event cannot be sent")
			.unwrap();
		drop(receiver);
	}
}
