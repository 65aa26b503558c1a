//! A demand-response event on a development chain, the way its people would run one: Alice
//! (owner of the demo house) lets the gateway join for her home battery, root (Alice on the dev
//! chain) makes Charlie an operator, and Charlie announces a discharge event for home batteries
//! in DE-TENNET. `openvpp-demo event` runs it; `scripts/run-dev.sh` starts one a few
//! minutes into the run. The dev accounts' keys are public: this is for development chains only.

use std::time::Duration;

use codec::Encode;
use openvpp_primitives::{DeviceKind, EventKind, KindSet, RegionCode};
use openvpp_runtime::{currency::OVPP, RuntimeCall, RuntimeEvent};
use pallet_demand_response::EventSpec;
use sp_keyring::Sr25519Keyring;

use openvpp_bridge::{
	chain::{wait_finalized, Chain, ChainError},
	gateway_call::{self, CallFailure},
	sources::now_ms,
};
use openvpp_sim::demo;

#[derive(Debug, thiserror::Error)]
pub enum DemoEventError {
	#[error(transparent)]
	Chain(#[from] ChainError),
	#[error("{what}: {failure}")]
	Call { what: &'static str, failure: CallFailure },
	#[error("the home battery has not reported within {0:?}: is the bridge running?")]
	NoReports(Duration),
	#[error("no EventCreated event")]
	NoEvent,
}

/// Signs `call` as `who`, waits for its finalized block and returns its events, or why it
/// failed.
pub async fn submit_as(
	chain: &Chain,
	who: Sr25519Keyring,
	call: RuntimeCall,
	what: &'static str,
) -> Result<Vec<RuntimeEvent>, DemoEventError> {
	let failed = |failure| DemoEventError::Call { what, failure };
	let nonce = chain.next_nonce(&who.to_account_id()).await?;
	let xt = openvpp_runtime::extrinsic::sign(call, &who.pair(), nonce, chain.genesis).encode();
	let statuses = chain.submit_and_watch(&xt).await?;
	let block = wait_finalized(statuses, gateway_call::FINALITY_TIMEOUT)
		.await
		.map_err(|e| failed(CallFailure::NotIncluded(e.to_string())))?;
	let events = chain.extrinsic_events(block, &xt).await?;
	gateway_call::outcome(&events.runtime, &events.gateway_events()).map_err(failed)?;
	Ok(events.decode_all()?)
}

/// What the demo event looks like.
#[derive(Debug, Clone, Copy)]
pub struct DemoEvent {
	/// Seconds from now to the start; devices join until a minute before.
	pub start_in_s: u64,
	pub duration_s: u32,
	pub interval_length_s: u32,
	pub target_power_w: u64,
	/// The most power the gateway may commit for the battery (W).
	pub consent_w: u32,
}

impl Default for DemoEvent {
	fn default() -> Self {
		DemoEvent {
			start_in_s: 180,
			duration_s: 600,
			interval_length_s: 300,
			target_power_w: 3_000,
			consent_w: 3_000,
		}
	}
}

/// Waits for the home battery's first report (at most `wait`), then enrols it, appoints the
/// operator if needed and creates the event. Returns its id and start.
pub async fn run(
	chain: &Chain,
	event: DemoEvent,
	wait: Duration,
) -> Result<(u32, u64), DemoEventError> {
	let deadline = tokio::time::Instant::now() + wait;
	loop {
		if chain.device_telemetry(demo::HOME_BATTERY, None).await?.is_some() {
			break;
		}
		if tokio::time::Instant::now() >= deadline {
			return Err(DemoEventError::NoReports(wait));
		}
		tokio::time::sleep(Duration::from_secs(5)).await;
	}
	let enrol = RuntimeCall::DemandResponse(pallet_demand_response::Call::enrol {
		device: demo::HOME_BATTERY,
		gateway_may_join: true,
		max_power_w: event.consent_w,
	});
	submit_as(chain, Sr25519Keyring::Alice, enrol, "Alice's consent for her battery").await?;
	let operator = Sr25519Keyring::Charlie.to_account_id();
	let key =
		pallet_demand_response::Operators::<openvpp_runtime::Runtime>::hashed_key_for(&operator);
	if chain.storage_raw(key, None).await?.is_none() {
		let add =
			RuntimeCall::DemandResponse(pallet_demand_response::Call::add_operator { operator });
		let sudo = RuntimeCall::Sudo(pallet_sudo::Call::sudo { call: Box::new(add) });
		submit_as(chain, Sr25519Keyring::Alice, sudo, "making Charlie an operator").await?;
	}
	let start = now_ms() / 1_000 + event.start_in_s.max(60);
	let spec = battery_discharge(b"DE-TENNET", event, start, event.target_power_w, 100);
	let id = create_event(chain, Sr25519Keyring::Charlie, spec).await?;
	Ok((id, start))
}

/// What each battery of the larger fleet is asked for on average in its demo event (W).
pub const FLEET_TARGET_PER_BATTERY_W: u64 = 1_500;

/// Creates a discharge event for the first `fleet` batteries of the larger fleet (in
/// [`demo::FLEET_REGION`]), at the same time as the battery's: 1.5 kW a battery on average.
/// Charlie must be an operator ([`run`] makes him one).
pub async fn create_fleet_event(
	chain: &Chain,
	event: DemoEvent,
	start: u64,
	fleet: u32,
) -> Result<u32, DemoEventError> {
	let target_power_w = u64::from(fleet) * FLEET_TARGET_PER_BATTERY_W;
	let spec =
		battery_discharge(demo::FLEET_REGION.as_bytes(), event, start, target_power_w, fleet);
	create_event(chain, Sr25519Keyring::Charlie, spec).await
}

/// A demo discharge for home batteries in `region`, at 0.25 OVPP/kWh, whose opt-in closes a
/// minute before `start`.
fn battery_discharge(
	region: &[u8],
	event: DemoEvent,
	start: u64,
	target_power_w: u64,
	max_participants: u32,
) -> EventSpec<openvpp_runtime::Balance> {
	EventSpec {
		kind: EventKind::DischargeStorage,
		regions: vec![RegionCode::truncate_from(region.to_vec())].try_into().unwrap_or_default(),
		eligible_kinds: KindSet::of(&[DeviceKind::HomeBattery]),
		opt_in_deadline: start - 60,
		start,
		duration_s: event.duration_s,
		interval_length_s: event.interval_length_s,
		target_power_w,
		price_per_kwh: OVPP / 4,
		min_reputation_bp: 0,
		max_participants,
	}
}

/// Creates an event as `operator`; returns its id.
pub async fn create_event(
	chain: &Chain,
	operator: Sr25519Keyring,
	spec: EventSpec<openvpp_runtime::Balance>,
) -> Result<u32, DemoEventError> {
	let create = RuntimeCall::DemandResponse(pallet_demand_response::Call::create_event { spec });
	let events = submit_as(chain, operator, create, "creating the event").await?;
	events
		.iter()
		.find_map(|e| match e {
			RuntimeEvent::DemandResponse(pallet_demand_response::Event::EventCreated {
				event,
				..
			}) => Some(*event),
			_ => None,
		})
		.ok_or(DemoEventError::NoEvent)
}
