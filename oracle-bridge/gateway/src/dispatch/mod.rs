//! The dispatcher: the bridge's half of demand response.
//!
//! Every few seconds (`[dispatch] check_every_s`) it reads, at the finalized head, the events
//! of each device it controls (a `[[device]]` with a `control`): its schedule in the
//! demand-response pallet, its commitment, whether the selection kept it, and the meter-before
//! baseline the chain will measure it against. Between looks it acts by its own clock: it
//! wakes at each start and end of an event it knows of, so that a device changes its setting
//! at the start, not at the next look.
//!
//! During an event a selected device is held at its baseline plus (reduce load, discharge) or
//! minus (absorb) its commitment ([`plan`]), through its control ([`actuate`]); at the end, on
//! cancellation, or when its state of charge reaches the owner's reserve, it gets back the
//! setting it had before. What it held, and what to give back, is kept in a file next to the
//! outbox ([`holds`]), so a bridge restarted mid-event still gives every device back at the
//! end; every command also carries a revert timeout (the event's end plus a minute), so a
//! bridge that never comes back leaves no device held. What each device did for the grid goes
//! to the [`responses::ResponseLog`], which fills the `grid_response` of its reports.
//!
//! With `auto_join` (the default) it also joins open events for controlled devices whose owners
//! let the gateway join, within their consent and flexibility ([`plan::join_commitment`]),
//! through the submitter's nonce ([`crate::gateway_call`]). A join the chain refuses is not
//! tried again for that event.

pub mod actuate;
pub mod config;
pub mod follow;
pub mod holds;
pub mod plan;
pub mod responses;

use std::{
	collections::{BTreeMap, BTreeSet},
	path::PathBuf,
	sync::Arc,
	time::Duration,
};

use openvpp_primitives::{BasisPoints, DeviceId, GridResponseStatus};
use tokio::sync::{mpsc, oneshot, watch, Notify};

use self::{
	actuate::{Control, HoldChange, MqttLink},
	holds::Holds,
	plan::{Assignment, Target},
	responses::ResponseLog,
};
use crate::{
	chain::{Chain, ChainError},
	config::{BridgeConfig, SourceConfig},
	gateway_call::{CallFailure, GatewayCall},
	metrics::Metrics,
	sources::{mqtt::MqttSecrets, now_ms, Backoff},
};

/// A device the dispatcher commands.
pub struct Controlled {
	pub id: DeviceId,
	pub name: String,
	pub control: Control,
	/// What the chain said at the last look.
	assignments: Vec<Assignment>,
	baseline_w: Option<i64>,
	/// The event `baseline_w` is for: once that event is in progress the baseline only changes
	/// to the one the chain fixed, so that a hold does not move with the device's own response.
	baseline_event: Option<u32>,
	/// The owner's state-of-charge reserve, and the event it was read for.
	reserve_bp: BasisPoints,
	reserve_event: Option<u32>,
	/// When the last command went to it (Unix ms).
	sent_ms: Option<u64>,
}

/// The dispatcher task's parts.
pub struct Dispatcher {
	pub url: String,
	pub tls: Option<Arc<rustls::ClientConfig>>,
	pub devices: Vec<Controlled>,
	pub mqtt: Option<(crate::config::MqttConfig, MqttSecrets, String)>,
	pub auto_join: bool,
	pub check_every: Duration,
	pub calls: mpsc::Sender<GatewayCall>,
	pub wake_submitter: Arc<Notify>,
	pub responses: ResponseLog,
	pub metrics: Metrics,
	pub holds_path: PathBuf,
}

/// The ids the MQTT source derives its client id from.
fn mqtt_device_ids(config: &BridgeConfig) -> impl Iterator<Item = DeviceId> + '_ {
	config.devices.iter().filter(|d| matches!(d.source, SourceConfig::Mqtt(_))).map(|d| d.id)
}

/// Where the holds file goes: next to the outbox.
pub fn holds_path(config: &BridgeConfig) -> PathBuf {
	config.storage.outbox.with_extension("dispatch.json")
}

impl Dispatcher {
	/// The dispatcher for the devices of `config` with a control; `None` if there are none.
	pub fn from_config(
		config: &BridgeConfig,
		tls: Option<Arc<rustls::ClientConfig>>,
		mqtt_secrets: MqttSecrets,
		calls: mpsc::Sender<GatewayCall>,
		wake_submitter: Arc<Notify>,
		responses: ResponseLog,
		metrics: Metrics,
	) -> Option<Dispatcher> {
		let mut devices = Vec::new();
		for device in &config.devices {
			let Some(control) = &device.control else { continue };
			// Checked when the configuration was loaded.
			let Ok(control) = config::resolve(control, &device.source, &device.name) else {
				continue;
			};
			devices.push(Controlled {
				id: device.id,
				name: device.name.clone(),
				control,
				assignments: Vec::new(),
				baseline_w: None,
				baseline_event: None,
				reserve_bp: 0,
				reserve_event: None,
				sent_ms: None,
			});
		}
		if devices.is_empty() {
			return None;
		}
		let mqtt = config.mqtt.clone().map(|mqtt| {
			let client_id =
				format!("{}-dispatch", mqtt.effective_client_id(mqtt_device_ids(config)));
			(mqtt, mqtt_secrets, client_id)
		});
		Some(Dispatcher {
			url: config.chain.url.clone(),
			tls,
			devices,
			mqtt,
			auto_join: config.dispatch.auto_join,
			check_every: Duration::from_secs(config.dispatch.check_every_s),
			calls,
			wake_submitter,
			responses,
			metrics,
			holds_path: holds_path(config),
		})
	}

	/// Runs until `shutdown`. Held devices stay held through a shutdown: their revert timeouts
	/// and the holds file cover the time until the next start.
	pub async fn run(mut self, mut shutdown: watch::Receiver<bool>) {
		let mut holds = Holds::load(&self.holds_path);
		if !holds.is_empty() {
			tracing::info!(devices = holds.len(), "dispatcher resumes the holds of its last run");
		}
		let answer_topics: Vec<String> = self
			.devices
			.iter()
			.filter_map(|d| d.control.answer_topic().map(str::to_string))
			.collect();
		let needs_mqtt = self.devices.iter().any(|d| !matches!(d.control, Control::Storage(_)));
		let mqtt = match (&self.mqtt, needs_mqtt) {
			(Some((config, secrets, client_id)), true) => {
				let (link, _task) =
					MqttLink::start(config, secrets, client_id, answer_topics, shutdown.clone());
				Some(link)
			}
			_ => None,
		};
		let (outcomes_tx, mut outcomes) =
			mpsc::channel::<(u32, DeviceId, Result<(), CallFailure>)>(64);
		let mut joins: BTreeMap<(u32, DeviceId), JoinState> = BTreeMap::new();
		let mut chain: Option<Chain> = None;
		let mut backoff = Backoff::new();
		let mut next_look = tokio::time::Instant::now();
		let mut looked = false;
		tracing::info!(
			devices = self.devices.len(),
			auto_join = self.auto_join,
			"dispatcher running"
		);
		loop {
			if tokio::time::Instant::now() >= next_look {
				next_look = tokio::time::Instant::now() + self.check_every;
				if chain.as_ref().is_none_or(|c| !c.is_connected()) {
					chain = match Chain::connect_with(&self.url, self.tls.as_ref()).await {
						Ok(connected) => {
							backoff.reset();
							Some(connected)
						}
						Err(error) => {
							let delay = backoff.next_delay();
							self.metrics.chain_errors.with_label_values(&["dispatch"]).inc();
							tracing::warn!(%error, retry_in = ?delay, "dispatcher cannot reach the node; devices keep to what it knew");
							next_look = tokio::time::Instant::now() + delay;
							None
						}
					};
				}
				if let Some(connected) = &chain {
					match self.look(connected, &mut joins, &outcomes_tx).await {
						Ok(()) => looked = true,
						Err(error) => {
							self.metrics.chain_errors.with_label_values(&["dispatch"]).inc();
							tracing::warn!(%error, "dispatcher could not read the chain; devices keep to what it knew");
						}
					}
				}
			}
			// Until the chain was read once, a device held by the last run may still be in its
			// event: it is neither given back nor commanded.
			if looked {
				self.act(&mut holds, mqtt.as_ref()).await;
			}

			let now_s = now_ms() / 1_000;
			let next_change = self
				.devices
				.iter()
				.filter_map(|d| plan::next_change(&d.assignments, now_s))
				.min()
				.map(|at| Duration::from_millis((at * 1_000).saturating_sub(now_ms())));
			let until_look = next_look.saturating_duration_since(tokio::time::Instant::now());
			let wait = next_change.map_or(until_look, |change| change.min(until_look));
			tokio::select! {
				_ = shutdown.changed() => break,
				Some((event, device, outcome)) = outcomes.recv() => {
					self.joined(&mut joins, event, device, outcome);
				}
				_ = tokio::time::sleep(wait) => {}
			}
		}
		tracing::info!(held = holds.len(), "dispatcher stopped; held devices revert by their own timeouts unless the next run gives them back");
	}

	/// Reads every controlled device's events at the finalized head, and joins open events.
	async fn look(
		&mut self,
		chain: &Chain,
		joins: &mut BTreeMap<(u32, DeviceId), JoinState>,
		outcomes: &mpsc::Sender<(u32, DeviceId, Result<(), CallFailure>)>,
	) -> Result<(), ChainError> {
		let head = chain.finalized_head().await?;
		let now_s = now_ms() / 1_000;
		let mut events = BTreeMap::new();
		let open =
			if self.auto_join { follow::open_events(chain, head).await? } else { Vec::new() };
		let joinable = open.iter().any(|(_, e)| {
			e.status == pallet_demand_response::EventStatus::Scheduled
				&& now_s < e.spec.opt_in_deadline
		});
		for device in &mut self.devices {
			let enrolment = follow::enrolment(chain, device.id, head).await?;
			let Some(enrolment) = enrolment else {
				device.assignments.clear();
				continue;
			};
			let schedule = follow::schedule(chain, &enrolment, head, &mut events).await?;
			device.assignments = schedule.assignments;
			let current = plan::in_progress(&device.assignments, now_s).map(|a| a.event);
			let next = device.assignments.iter().min_by_key(|a| a.start_s).map(|a| a.event);
			// Taken at the last look before the start, then kept (a bridge started mid-event
			// takes it once).
			let frozen = current.is_some() && device.baseline_event == next;
			let update_baseline = schedule.baseline_fixed || !frozen;
			if update_baseline {
				device.baseline_w = schedule.baseline_w;
				device.baseline_event = next;
			}
			// A load's baseline comes from its latest reading, below.
			let needs_reading =
				update_baseline && device.baseline_w.is_none() && !device.assignments.is_empty();
			// The owner's reserve is read once per event: it is enforced against the device's
			// own state of charge, not the chain's.
			let needs_reserve = current.is_some() && device.reserve_event != current;
			if !(joinable || needs_reserve || needs_reading) {
				continue;
			}
			let Some(facts) =
				follow::device_facts(chain, device.id, Some(&enrolment), head).await?
			else {
				continue;
			};
			device.reserve_bp = facts.comfort.min_reserve_soc_bp;
			device.reserve_event = current;
			if update_baseline && device.baseline_w.is_none() {
				// Loads are measured against their history ("10 of 10"); what they draw now is
				// where a hold starts from.
				device.baseline_w = facts.reading.map(|r| i64::from(r.average_power_w));
			}
			for (id, event) in &open {
				let attempt = match joins.get(&(*id, device.id)) {
					None => 0,
					Some(JoinState::Retry { attempts }) => *attempts,
					Some(JoinState::Pending { .. } | JoinState::Done) => continue,
				};
				let event_facts = follow::event_facts(*id, event, &facts);
				let Some(committed_w) = plan::join_commitment(&facts, &event_facts, now_s, attempt)
				else {
					continue;
				};
				let call =
					crate::wire::Call::JoinEvent { event: *id, device: device.id, committed_w };
				let (done, outcome) = oneshot::channel();
				if self.calls.try_send(GatewayCall { call, done }).is_err() {
					continue;
				}
				self.wake_submitter.notify_one();
				joins.insert((*id, device.id), JoinState::Pending { attempt });
				tracing::info!(event = id, device = %device.name, committed_w, "joining an event for the device, within its owner's consent");
				let outcomes = outcomes.clone();
				let (event, device_id) = (*id, device.id);
				tokio::spawn(async move {
					let result = outcome.await.unwrap_or_else(|_| {
						Err(CallFailure::NotIncluded("the submitter stopped".into()))
					});
					let _ = outcomes.send((event, device_id, result)).await;
				});
			}
		}
		// Forget join attempts of events that are no longer open.
		let still_open: BTreeSet<u32> = open.iter().map(|(id, _)| *id).collect();
		joins.retain(|(event, _), _| still_open.contains(event));
		Ok(())
	}

	fn joined(
		&self,
		joins: &mut BTreeMap<(u32, DeviceId), JoinState>,
		event: u32,
		device: DeviceId,
		outcome: Result<(), CallFailure>,
	) {
		let name = self.devices.iter().find(|d| d.id == device).map_or("", |d| d.name.as_str());
		let label = match &outcome {
			Ok(()) => {
				tracing::info!(event, device = name, "joined the event");
				joins.insert((event, device), JoinState::Done);
				"joined"
			}
			Err(CallFailure::Refused { reason, may_pass_later }) => {
				let attempt = match joins.get(&(event, device)) {
					Some(JoinState::Pending { attempt }) => *attempt,
					_ => 0,
				};
				let attempts = attempt.saturating_add(1);
				if *may_pass_later && attempts < plan::MAX_JOIN_ATTEMPTS {
					tracing::info!(event, device = name, %reason, attempts, "the chain refused the join for the device's latest reading; tried again with a smaller commitment");
					joins.insert((event, device), JoinState::Retry { attempts });
				} else {
					tracing::warn!(event, device = name, %reason, "the chain refused the join; not tried again for this event");
					joins.insert((event, device), JoinState::Done);
				}
				"refused"
			}
			Err(CallFailure::NotIncluded(reason)) => {
				tracing::warn!(event, device = name, %reason, "the join did not make it; tried again at the next look");
				joins.remove(&(event, device));
				"not-included"
			}
		};
		self.metrics.dispatch_joins.with_label_values(&[name, label]).inc();
	}

	/// Brings every device that has an event, or is held, to its target now.
	async fn act(&mut self, holds: &mut Holds, mqtt: Option<&MqttLink>) {
		let now_s = now_ms() / 1_000;
		for device in &mut self.devices {
			let held = holds.get(device.id).copied();
			let current = plan::in_progress(&device.assignments, now_s).copied();
			if held.is_none() && current.is_none() {
				continue;
			}
			// The reserve is the dispatcher's to keep: a battery's own reading decides.
			let soc_bp = match (&current, &mut device.control) {
				(Some(_), Control::Storage(_)) => match device.control.soc_bp().await {
					Ok(soc) => soc,
					Err(error) => {
						self.metrics
							.dispatch_commands
							.with_label_values(&[&device.name, "read", "failed"])
							.inc();
						tracing::warn!(device = %device.name, %error, "cannot read the battery's storage control");
						self.responses.set(device.id, now_ms(), GridResponseStatus::Dispatched);
						continue;
					}
				},
				_ => None,
			};
			let target = plan::target(
				&device.assignments,
				device.baseline_w,
				soc_bp,
				device.reserve_bp,
				now_s,
			);
			let step = device
				.control
				.apply(&target, held.as_ref(), mqtt, &mut device.sent_ms, now_s)
				.await;
			let step = match step {
				Ok(step) => step,
				Err(error) => {
					let command =
						if matches!(target, Target::Release) { "release" } else { "hold" };
					self.metrics
						.dispatch_commands
						.with_label_values(&[&device.name, command, "failed"])
						.inc();
					tracing::warn!(device = %device.name, %error, command, "command failed; tried again shortly");
					continue;
				}
			};
			if let Some(command) = step.command {
				let outcome = match step.status {
					GridResponseStatus::Responding => "acknowledged",
					GridResponseStatus::Overridden => "refused",
					_ => "sent",
				};
				self.metrics
					.dispatch_commands
					.with_label_values(&[&device.name, command, outcome])
					.inc();
				match (command, &target, current) {
					("hold", Target::Hold { power_w, event, .. }, Some(assignment)) => {
						let latency_s = (now_ms() as f64 / 1_000.0) - assignment.start_s as f64;
						self.metrics.dispatch_latency.observe(latency_s.max(0.0));
						tracing::info!(device = %device.name, event, power_w, outcome, latency_ms = (latency_s * 1_000.0) as i64, "device held for the event");
					}
					(_, Target::Hold { power_w, event, .. }, _) => {
						tracing::info!(device = %device.name, event, power_w, outcome, "hold adjusted to the baseline the chain fixed");
					}
					_ => tracing::info!(device = %device.name, "device given back its own setting"),
				}
			}
			if step.status == GridResponseStatus::Overridden
				&& self.responses.current(device.id) != GridResponseStatus::Overridden
			{
				tracing::warn!(device = %device.name, "the device's owner overrode the dispatch");
			}
			self.responses.set(device.id, now_ms(), step.status);
			let saved = match step.hold {
				HoldChange::Keep => Ok(()),
				HoldChange::Put(hold) => holds.put(device.id, hold),
				HoldChange::Remove => holds.remove(device.id),
			};
			if let Err(error) = saved {
				tracing::error!(%error, "cannot record the dispatcher's holds; a restart now would not give this device back");
			}
		}
		self.metrics.devices_held.set(holds.len() as i64);
	}
}

/// Where the joins of one event for one device stand.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum JoinState {
	/// Attempt `attempt` (from 0) is on its way.
	Pending { attempt: u32 },
	/// Refused for the device's reading after `attempts`: tried again at the next look.
	Retry { attempts: u32 },
	/// Joined, or refused for good.
	Done,
}
