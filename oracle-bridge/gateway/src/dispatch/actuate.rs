//! Commands to devices, by the way each is controlled, and what the device says back.
//!
//! - **SunSpec storage (model 124)** over Modbus TCP, on a connection of its own beside the
//!   polling one: the rate limits with their revert timeout, then the control mode
//!   ([`StorageControl::writes`]), then a read-back. A hold is acknowledged when the device
//!   reads back what was written; a later read-back showing another setting means the owner (or
//!   the device) took over: overridden.
//! - **`openvpp-json`**: `hold` and `release` on the device's `…/set` topic
//!   ([`crate::device_command`]). The format has no acknowledgement: such a device is reported
//!   as dispatched, which the chain measures like responding.
//! - **evcc loadpoint current**: the limit (A) on `…/maxCurrent/set`; evcc answers on
//!   `…/maxCurrent`. The same value back is a response, another one an override.
//! - **Tasmota relay**: `OFF` (or `ON` to absorb) on `cmnd/<device>/POWER`; the relay answers
//!   on `stat/<device>/POWER`.
//!
//! At the end of an event (or its cancellation) each device gets back the setting it had
//! before the first command ([`Previous`]), unless its owner overrode: then it is left as the
//! owner set it.

use std::{
	collections::HashMap,
	net::SocketAddr,
	sync::{Arc, Mutex},
	time::Duration,
};

use openvpp_primitives::{Direction, GridResponseStatus};
use rumqttc::{AsyncClient, Event, Packet, QoS};
use tokio::sync::watch;

use super::{
	holds::{Held, Previous},
	plan::{self, Target},
};
use crate::{
	config::MqttConfig,
	device_command::JsonCommand,
	sources::{
		modbus::{Connection, PollError},
		mqtt::MqttSecrets,
		now_ms, Backoff,
	},
	sunspec::{
		self,
		layout::storage,
		storage_control::{ControlError, StorageControl, StorageRatings},
		StorageReading,
	},
};

#[derive(Debug, thiserror::Error)]
pub enum ActuateError {
	#[error("Modbus: {0}")]
	Modbus(#[from] PollError),
	#[error("the device serves no SunSpec storage control (model 124)")]
	NoStorageModel,
	#[error("storage control: {0}")]
	Control(#[from] ControlError),
	#[error("bad state of charge: {0}")]
	Soc(#[from] sunspec::SunSpecError),
	#[error("no MQTT broker is configured")]
	NoBroker,
	#[error("MQTT: {0}")]
	Mqtt(#[from] rumqttc::ClientError),
}

/// The dispatcher's own MQTT connection: it publishes commands and keeps the latest message of
/// each answer topic.
#[derive(Clone)]
pub struct MqttLink {
	client: AsyncClient,
	answers: Arc<Mutex<HashMap<String, (String, u64)>>>,
}

impl MqttLink {
	/// Connects (and reconnects, with back-off) as `<client id>-dispatch`, subscribed to
	/// `answer_topics`, until `shutdown`.
	pub fn start(
		config: &MqttConfig,
		secrets: &MqttSecrets,
		client_id: &str,
		answer_topics: Vec<String>,
		mut shutdown: watch::Receiver<bool>,
	) -> (MqttLink, tokio::task::JoinHandle<()>) {
		let options = crate::sources::mqtt::options(config, client_id, secrets);
		let (client, mut eventloop) = AsyncClient::new(options, 64);
		let answers: Arc<Mutex<HashMap<String, (String, u64)>>> = Arc::default();
		let link = MqttLink { client: client.clone(), answers: answers.clone() };
		let task = tokio::spawn(async move {
			let mut backoff = Backoff::new();
			loop {
				let event = tokio::select! {
					_ = shutdown.changed() => break,
					event = eventloop.poll() => event,
				};
				match event {
					Ok(Event::Incoming(Packet::ConnAck(_))) => {
						backoff.reset();
						tracing::info!("dispatcher connected to the MQTT broker");
						for topic in &answer_topics {
							if let Err(error) = client.try_subscribe(topic, QoS::AtLeastOnce) {
								tracing::warn!(%topic, %error, "cannot subscribe to a device's answers");
							}
						}
					}
					Ok(Event::Incoming(Packet::Publish(publish))) => {
						let payload = String::from_utf8_lossy(&publish.payload).trim().to_string();
						if let Ok(mut answers) = answers.lock() {
							answers.insert(publish.topic.clone(), (payload, now_ms()));
						}
					}
					Ok(_) => {}
					Err(error) => {
						let delay = backoff.next_delay();
						tracing::warn!(%error, retry_in = ?delay, "dispatcher's MQTT connection lost");
						tokio::select! {
							_ = shutdown.changed() => break,
							_ = tokio::time::sleep(delay) => {}
						}
					}
				}
			}
			let _ = client.try_disconnect();
		});
		(link, task)
	}

	async fn publish(&self, topic: &str, payload: String) -> Result<(), ActuateError> {
		Ok(self.client.publish(topic, QoS::AtLeastOnce, false, payload).await?)
	}

	/// The latest message on `topic` and when it came (Unix ms).
	fn answer(&self, topic: &str) -> Option<(String, u64)> {
		self.answers.lock().ok()?.get(topic).cloned()
	}
}

/// A battery's model 124 block over a connection of the dispatcher's own.
pub struct StorageLink {
	pub address: SocketAddr,
	pub unit_id: u8,
	pub timeout: Duration,
	pub base: Option<u16>,
	link: Option<(Connection, u16)>,
}

/// What a model 124 block says now.
#[derive(Debug, Clone, Copy)]
pub struct StorageState {
	pub ratings: StorageRatings,
	pub control: StorageControl,
	pub soc_bp: Option<u16>,
}

impl StorageLink {
	pub fn new(address: SocketAddr, unit_id: u8, timeout: Duration, base: Option<u16>) -> Self {
		StorageLink { address, unit_id, timeout, base, link: None }
	}

	async fn connected(&mut self) -> Result<&mut (Connection, u16), ActuateError> {
		if self.link.is_none() {
			let mut connection = Connection::open(self.address, self.unit_id, self.timeout).await?;
			let discovered =
				sunspec::discover(&mut connection, self.base).await.map_err(PollError::from)?;
			let model = discovered
				.models
				.iter()
				.find(|m| m.id == storage::ID)
				.ok_or(ActuateError::NoStorageModel)?;
			self.link = Some((connection, model.address));
		}
		self.link.as_mut().ok_or(ActuateError::NoStorageModel)
	}

	/// Reads the block; a failure drops the connection (the next call opens a new one).
	pub async fn read(&mut self) -> Result<StorageState, ActuateError> {
		let result = self.read_once().await;
		if result.is_err() {
			self.link = None;
		}
		result
	}

	async fn read_once(&mut self) -> Result<StorageState, ActuateError> {
		let (connection, address) = self.connected().await?;
		let block = connection.read_registers(*address, storage::LEN + 2).await?;
		Ok(StorageState {
			ratings: StorageRatings::from_block(&block)?,
			control: StorageControl::from_block(&block)?,
			soc_bp: sunspec::decode_storage(&block)
				.map(|StorageReading { soc_bp }| soc_bp)
				.unwrap_or(None),
		})
	}

	/// Writes the control points and reads them back.
	pub async fn write(&mut self, control: &StorageControl) -> Result<StorageState, ActuateError> {
		let result = async {
			let (connection, address) = self.connected().await?;
			let address = *address;
			for (offset, values) in control.writes() {
				let at = address.saturating_add(offset as u16);
				connection.write_registers(at, &values).await?;
			}
			self.read_once().await
		}
		.await;
		if result.is_err() {
			self.link = None;
		}
		result
	}
}

/// How one device is commanded.
pub enum Control {
	Storage(StorageLink),
	Json { topic: String },
	Current { set_topic: String, state_topic: String, watts_per_amp: f64, max_current_a: f64 },
	Relay { command_topic: String, state_topic: String },
}

/// What a step did to the holds file.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum HoldChange {
	Keep,
	Put(Held),
	Remove,
}

/// The outcome of one step of a device.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Step {
	pub status: GridResponseStatus,
	pub hold: HoldChange,
	/// The command sent, if any (`hold` or `release`).
	pub command: Option<&'static str>,
}

fn same_points(a: &StorageControl, b: &StorageControl) -> bool {
	a.stor_ctl_mod == b.stor_ctl_mod && a.out_w_rte == b.out_w_rte && a.in_w_rte == b.in_w_rte
}

fn previous_points(previous: Previous) -> StorageControl {
	match previous {
		Previous::Storage { stor_ctl_mod, out_w_rte, in_w_rte, revert_s } => {
			StorageControl { stor_ctl_mod, out_w_rte, in_w_rte, revert_s }
		}
		// Not a storage setting: the device's own mode.
		_ => StorageControl { stor_ctl_mod: 0, out_w_rte: 0, in_w_rte: 0, revert_s: 0 },
	}
}

fn parse_amps(text: &str) -> Option<f64> {
	text.trim().parse::<f64>().ok().filter(|a| a.is_finite() && *a >= 0.0)
}

impl Control {
	/// The state of charge, where the control itself reads it (a battery's model 124).
	pub async fn soc_bp(&mut self) -> Result<Option<u16>, ActuateError> {
		match self {
			Control::Storage(link) => Ok(link.read().await?.soc_bp),
			_ => Ok(None),
		}
	}

	/// Brings the device to `target`. `held` is its hold on record; `sent_ms` when the last
	/// command went to it (updated here).
	pub async fn apply(
		&mut self,
		target: &Target,
		held: Option<&Held>,
		mqtt: Option<&MqttLink>,
		sent_ms: &mut Option<u64>,
		now_s: u64,
	) -> Result<Step, ActuateError> {
		let keep = |status| Step { status, hold: HoldChange::Keep, command: None };
		match *target {
			Target::Release => {
				let Some(held) = held else { return Ok(keep(GridResponseStatus::Idle)) };
				let released = Step {
					status: GridResponseStatus::Idle,
					hold: HoldChange::Remove,
					command: None,
				};
				if held.overridden {
					// The owner's setting stays.
					return Ok(released);
				}
				self.restore(held.previous, mqtt).await?;
				*sent_ms = Some(now_ms());
				Ok(Step { command: Some("release"), ..released })
			}
			Target::Hold { event, direction, power_w, until_s } => {
				let ours = held.filter(|h| h.event == event);
				if ours.is_some_and(|h| h.overridden) {
					return Ok(keep(GridResponseStatus::Overridden));
				}
				let revert_s = plan::revert_after_s(until_s, now_s);
				match self {
					Control::Storage(link) => {
						let state = link.read().await?;
						let desired = StorageControl::holding(
							power_w as f64,
							&state.ratings,
							u16::try_from(revert_s).unwrap_or(u16::MAX),
						);
						if let Some(h) = ours {
							// Another mode than ours: the owner (or the device) took over.
							if state.control.stor_ctl_mod != desired.stor_ctl_mod {
								return Ok(overridden(h));
							}
							if same_points(&state.control, &desired) {
								return Ok(keep(GridResponseStatus::Responding));
							}
						}
						// First command, or the target moved (the chain fixed the baseline).
						let (previous, command) = match (ours, held) {
							(Some(h), _) => (h.previous, "adjust"),
							(None, Some(h)) => (h.previous, "hold"),
							(None, None) => (
								Previous::Storage {
									stor_ctl_mod: state.control.stor_ctl_mod,
									out_w_rte: state.control.out_w_rte,
									in_w_rte: state.control.in_w_rte,
									revert_s: state.control.revert_s,
								},
								"hold",
							),
						};
						let back = link.write(&desired).await?;
						*sent_ms = Some(now_ms());
						let accepted = same_points(&back.control, &desired);
						let mut step = commanded(event, previous, accepted, accepted);
						step.command = Some(command);
						if ours.is_some() && accepted {
							step.hold = HoldChange::Keep;
						}
						Ok(step)
					}
					Control::Json { topic } => {
						if ours.is_some() {
							return Ok(keep(GridResponseStatus::Dispatched));
						}
						let mqtt = mqtt.ok_or(ActuateError::NoBroker)?;
						let command = JsonCommand::Hold {
							power_w,
							revert_after_s: revert_s,
							event: Some(event),
						};
						mqtt.publish(topic, command.to_payload()).await?;
						*sent_ms = Some(now_ms());
						let previous = held.map(|h| h.previous).unwrap_or(Previous::Released);
						Ok(commanded(event, previous, true, false))
					}
					Control::Current { set_topic, state_topic, watts_per_amp, max_current_a } => {
						let mqtt = mqtt.ok_or(ActuateError::NoBroker)?;
						let amps = plan::charger_current_a(power_w, *watts_per_amp, *max_current_a);
						let answer = mqtt.answer(state_topic);
						if let Some(h) = ours {
							return Ok(acknowledged(h, answer, *sent_ms, |text| {
								parse_amps(text).is_some_and(|a| (a - amps).abs() < 0.5)
							}));
						}
						let previous = held.map(|h| h.previous).unwrap_or(Previous::Current {
							amps: answer
								.and_then(|(text, _)| parse_amps(&text))
								.unwrap_or(*max_current_a),
						});
						mqtt.publish(set_topic, format!("{amps}")).await?;
						*sent_ms = Some(now_ms());
						Ok(commanded(event, previous, true, false))
					}
					Control::Relay { command_topic, state_topic } => {
						let mqtt = mqtt.ok_or(ActuateError::NoBroker)?;
						let wanted = if direction == Direction::Up { "OFF" } else { "ON" };
						let answer = mqtt.answer(state_topic);
						if let Some(h) = ours {
							return Ok(acknowledged(h, answer, *sent_ms, |text| {
								text.eq_ignore_ascii_case(wanted)
							}));
						}
						let previous = held.map(|h| h.previous).unwrap_or(Previous::Relay {
							on: !answer.is_some_and(|(text, _)| text.eq_ignore_ascii_case("OFF")),
						});
						mqtt.publish(command_topic, wanted.to_string()).await?;
						*sent_ms = Some(now_ms());
						Ok(commanded(event, previous, true, false))
					}
				}
			}
		}
	}

	async fn restore(
		&mut self,
		previous: Previous,
		mqtt: Option<&MqttLink>,
	) -> Result<(), ActuateError> {
		match self {
			Control::Storage(link) => {
				link.write(&previous_points(previous)).await?;
			}
			Control::Json { topic } => {
				let mqtt = mqtt.ok_or(ActuateError::NoBroker)?;
				mqtt.publish(topic, JsonCommand::Release {}.to_payload()).await?;
			}
			Control::Current { set_topic, max_current_a, .. } => {
				let mqtt = mqtt.ok_or(ActuateError::NoBroker)?;
				let amps = match previous {
					Previous::Current { amps } => amps,
					_ => *max_current_a,
				};
				mqtt.publish(set_topic, format!("{amps}")).await?;
			}
			Control::Relay { command_topic, .. } => {
				let mqtt = mqtt.ok_or(ActuateError::NoBroker)?;
				let on = !matches!(previous, Previous::Relay { on: false });
				mqtt.publish(command_topic, if on { "ON" } else { "OFF" }.to_string()).await?;
			}
		}
		Ok(())
	}

	/// The topics this control's answers come on.
	pub fn answer_topic(&self) -> Option<&str> {
		match self {
			Control::Current { state_topic, .. } | Control::Relay { state_topic, .. } => {
				Some(state_topic)
			}
			_ => None,
		}
	}
}

/// A first command of an event went out.
fn commanded(event: u32, previous: Previous, accepted: bool, acknowledged: bool) -> Step {
	let status = match (accepted, acknowledged) {
		(false, _) => GridResponseStatus::Overridden,
		(true, true) => GridResponseStatus::Responding,
		(true, false) => GridResponseStatus::Dispatched,
	};
	Step {
		status,
		hold: HoldChange::Put(Held { event, previous, overridden: !accepted }),
		command: Some("hold"),
	}
}

fn overridden(held: &Held) -> Step {
	Step {
		status: GridResponseStatus::Overridden,
		hold: HoldChange::Put(Held { overridden: true, ..*held }),
		command: None,
	}
}

/// A held MQTT device: its answer since the last command says whether it follows.
fn acknowledged(
	held: &Held,
	answer: Option<(String, u64)>,
	sent_ms: Option<u64>,
	follows: impl Fn(&str) -> bool,
) -> Step {
	match answer.filter(|(_, at)| *at >= sent_ms.unwrap_or(0)) {
		Some((text, _)) if follows(&text) => {
			Step { status: GridResponseStatus::Responding, hold: HoldChange::Keep, command: None }
		}
		Some(_) => overridden(held),
		None => {
			Step { status: GridResponseStatus::Dispatched, hold: HoldChange::Keep, command: None }
		}
	}
}

#[cfg(test)]
mod tests {
	use super::*;

	fn held() -> Held {
		Held { event: 4, previous: Previous::Relay { on: true }, overridden: false }
	}

	#[test]
	fn an_answer_after_the_command_decides_between_response_and_override() {
		let follows = |text: &str| text == "OFF";
		// No answer yet: dispatched.
		assert_eq!(
			acknowledged(&held(), None, Some(1_000), follows).status,
			GridResponseStatus::Dispatched
		);
		// An answer from before the command does not count.
		let old = Some(("ON".to_string(), 900));
		assert_eq!(
			acknowledged(&held(), old, Some(1_000), follows).status,
			GridResponseStatus::Dispatched
		);
		let off = Some(("OFF".to_string(), 1_100));
		assert_eq!(
			acknowledged(&held(), off, Some(1_000), follows).status,
			GridResponseStatus::Responding
		);
		let on = Some(("ON".to_string(), 1_100));
		let step = acknowledged(&held(), on, Some(1_000), follows);
		assert_eq!(step.status, GridResponseStatus::Overridden);
		assert_eq!(step.hold, HoldChange::Put(Held { overridden: true, ..held() }));
	}

	#[test]
	fn a_first_command_records_what_to_give_back() {
		let step = commanded(4, Previous::Current { amps: 16.0 }, true, false);
		assert_eq!(step.status, GridResponseStatus::Dispatched);
		assert_eq!(step.command, Some("hold"));
		let refused = commanded(4, Previous::Released, false, false);
		assert_eq!(refused.status, GridResponseStatus::Overridden);
		assert!(matches!(refused.hold, HoldChange::Put(Held { overridden: true, .. })));
		assert_eq!(previous_points(Previous::Released).stor_ctl_mod, 0);
		assert_eq!(parse_amps(" 8 "), Some(8.0));
		assert_eq!(parse_amps("-1"), None);
	}
}
