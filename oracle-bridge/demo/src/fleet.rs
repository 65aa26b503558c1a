//! Registering the larger simulated fleet on a development chain (`openvpp-demo fleet`).
//!
//! Eve owns the fleet: she registers battery `i` ([`FleetBattery`]) as device 8 + `i` in
//! [`demo::FLEET_REGION`], bound to the demo gateway, with the key from its public seed, and
//! Dave approves them ([`register`]) — before the bridge starts, which refuses devices the
//! chain does not know. Once a battery has reported, Eve lets the gateway join events for it
//! up to its rating ([`consent`]). Calls go in `utility.batchAll` batches, so a fleet of
//! hundreds takes a few blocks.
//!
//! Running either again finishes what is missing: batteries already registered with their key
//! are kept, pending ones approved, enrolled ones left alone. The ids only follow the demo
//! fleet's on a chain where nothing else was registered in between; anywhere else
//! [`register`] stops with an error before registering anything.

use std::time::Duration;

use codec::{Decode, Encode};
use openvpp_primitives::{
	AttestationKey, AttestationSignature, Capability, ComfortLimits, DeviceId, DeviceKind,
	DeviceStatus, KeyOwnershipProof, KeyProofPurpose, RegionCode,
};
use openvpp_runtime::{demo_fleet, Runtime, RuntimeCall};
use sp_core::Pair;
use sp_keyring::Sr25519Keyring;

use openvpp_bridge::{
	chain::{Chain, ChainError},
	dispatch::follow,
};
use openvpp_sim::demo::{self, FleetBattery};

use crate::event::{submit_as, DemoEventError};

/// The owner of the larger fleet.
pub const FLEET_OWNER: Sr25519Keyring = Sr25519Keyring::Eve;
/// Calls per `batchAll`.
const CALLS_PER_BATCH: usize = 50;

#[derive(Debug, thiserror::Error)]
pub enum FleetError {
	#[error(transparent)]
	Chain(#[from] ChainError),
	#[error(transparent)]
	Call(#[from] DemoEventError),
	#[error("the fleet has 1 to {max} batteries, not {0}", max = demo::MAX_FLEET)]
	Size(u32),
	#[error(
		"device {0} is registered with another key: the fleet's ids follow the demo fleet's, so \
		 register it on a fresh development chain"
	)]
	IdTaken(DeviceId),
	#[error(
		"the next device id is {next}, but battery {index} must become device {expected}: \
		 register the fleet on a fresh development chain"
	)]
	IdsMoved { index: u32, expected: DeviceId, next: DeviceId },
	#[error("the key of battery {0} does not derive from its seed: {1}")]
	Key(u32, String),
	#[error(
		"{missing} of the fleet's batteries have not reported within {waited:?}: is the bridge \
		 running with `openvpp-demo config --fleet`, and the simulator with `--fleet`?"
	)]
	NoReports { missing: usize, waited: Duration },
	#[error("device {0} is not an active battery of the fleet: run `openvpp-demo fleet` first")]
	NotRegistered(DeviceId),
}

/// What a registration did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct FleetRegistration {
	pub registered: u32,
	pub approved: u32,
}

fn fleet(count: u32) -> Result<Vec<FleetBattery>, FleetError> {
	if count == 0 || count > demo::MAX_FLEET {
		return Err(FleetError::Size(count));
	}
	Ok((0..count).map(FleetBattery::new).collect())
}

fn key_of(battery: &FleetBattery) -> Result<sp_core::sr25519::Pair, FleetError> {
	battery.key().map_err(|e| FleetError::Key(battery.index, format!("{e:?}")))
}

fn register_call(
	battery: &FleetBattery,
	owner_nonce: u32,
	genesis: sp_core::H256,
) -> Result<RuntimeCall, FleetError> {
	let key = key_of(battery)?;
	let proof = KeyOwnershipProof::new(
		KeyProofPurpose::Register,
		genesis,
		FLEET_OWNER.to_account_id(),
		owner_nonce,
	);
	Ok(RuntimeCall::DeviceRegistry(pallet_device_registry::Call::register_device {
		kind: DeviceKind::HomeBattery,
		capability: Capability {
			rated_power_w: battery.max_power_w,
			storage_capacity_wh: Some(u64::from(battery.capacity_wh)),
			max_charge_w: Some(battery.max_power_w),
			max_discharge_w: Some(battery.max_power_w),
		},
		region: RegionCode::truncate_from(demo::FLEET_REGION.as_bytes().to_vec()),
		metadata: Default::default(),
		comfort: ComfortLimits {
			min_reserve_soc_bp: battery.reserve_soc_bp,
			dispatch_windows: Default::default(),
		},
		gateway: demo_fleet::DEMO_GATEWAY.to_account_id(),
		attestation_key: AttestationKey::from(key.public()),
		proof: AttestationSignature::from(key.sign(&proof.encode())),
	}))
}

/// Submits `calls` as `who` in `batchAll`s of [`CALLS_PER_BATCH`], each waited for.
async fn submit_batches(
	chain: &Chain,
	who: Sr25519Keyring,
	calls: Vec<RuntimeCall>,
	what: &'static str,
) -> Result<(), FleetError> {
	for chunk in calls.chunks(CALLS_PER_BATCH) {
		let batch = RuntimeCall::Utility(pallet_utility::Call::batch_all { calls: chunk.to_vec() });
		submit_as(chain, who, batch, what).await?;
		tracing::info!(calls = chunk.len(), what, "finalized");
	}
	Ok(())
}

async fn next_device_id(chain: &Chain) -> Result<DeviceId, ChainError> {
	let key = pallet_device_registry::NextDeviceId::<Runtime>::hashed_key().to_vec();
	match chain.storage_raw(key, None).await? {
		Some(bytes) => DeviceId::decode(&mut &bytes[..])
			.map_err(|e| ChainError::Decode { what: "next device id", message: e.to_string() }),
		None => Ok(0),
	}
}

/// Registers and approves the first `count` batteries of the larger fleet.
pub async fn register(chain: &Chain, count: u32) -> Result<FleetRegistration, FleetError> {
	let batteries = fleet(count)?;
	let mut done = FleetRegistration::default();

	// What the chain has of the fleet already.
	let mut missing = Vec::new();
	let mut pending = Vec::new();
	for battery in &batteries {
		let key = key_of(battery)?;
		match chain.device(battery.device_id()).await? {
			Some(record) if record.attestation_key == AttestationKey::from(key.public()) => {
				if record.status == DeviceStatus::Pending {
					pending.push(battery.device_id());
				}
			}
			Some(_) => return Err(FleetError::IdTaken(battery.device_id())),
			None => missing.push(*battery),
		}
	}
	if let Some(first) = missing.first() {
		let next = next_device_id(chain).await?;
		// Ids are handed out in order: the missing ones must be the next ones, all of them.
		let contiguous = missing.windows(2).all(|pair| pair[1].index == pair[0].index + 1);
		if next != first.device_id() || !contiguous {
			return Err(FleetError::IdsMoved {
				index: first.index,
				expected: first.device_id(),
				next,
			});
		}
		let nonce = chain.registration_nonce(&FLEET_OWNER.to_account_id()).await?;
		let calls = missing
			.iter()
			.zip(nonce..)
			.map(|(battery, nonce)| register_call(battery, nonce, chain.genesis))
			.collect::<Result<Vec<_>, _>>()?;
		submit_batches(chain, FLEET_OWNER, calls, "registering fleet batteries").await?;
		done.registered = missing.len() as u32;
		pending.extend(missing.iter().map(FleetBattery::device_id));
	}
	if !pending.is_empty() {
		let calls = pending
			.iter()
			.map(|&device_id| {
				RuntimeCall::DeviceRegistry(pallet_device_registry::Call::approve_device {
					device_id,
				})
			})
			.collect();
		submit_batches(chain, demo_fleet::DEMO_VERIFIER, calls, "approving fleet batteries")
			.await?;
		done.approved = pending.len() as u32;
	}
	Ok(done)
}

/// Lets the gateway join events for each of the first `count` batteries of the larger fleet
/// once it has reported (the chain measures a device from its reports), waiting up to `wait`
/// for their first reports. Returns how many it enrolled.
pub async fn consent(chain: &Chain, count: u32, wait: Duration) -> Result<u32, FleetError> {
	let batteries = fleet(count)?;
	for battery in &batteries {
		let active = chain
			.device(battery.device_id())
			.await?
			.is_some_and(|record| record.status == DeviceStatus::Active);
		if !active {
			return Err(FleetError::NotRegistered(battery.device_id()));
		}
	}
	let deadline = tokio::time::Instant::now() + wait;
	let mut enrolled = 0;
	let mut unenrolled: Vec<FleetBattery> = Vec::new();
	let mut waiting = batteries;
	loop {
		let head = chain.finalized_head().await?;
		let mut still = Vec::new();
		for battery in waiting {
			if chain.device_telemetry(battery.device_id(), Some(head)).await?.is_none() {
				still.push(battery);
			} else if follow::enrolment(chain, battery.device_id(), head).await?.is_none() {
				unenrolled.push(battery);
			}
		}
		waiting = still;
		if unenrolled.len() >= CALLS_PER_BATCH || (waiting.is_empty() && !unenrolled.is_empty()) {
			let calls = unenrolled
				.iter()
				.map(|battery| {
					RuntimeCall::DemandResponse(pallet_demand_response::Call::enrol {
						device: battery.device_id(),
						gateway_may_join: true,
						max_power_w: battery.max_power_w,
					})
				})
				.collect();
			submit_batches(chain, FLEET_OWNER, calls, "consenting for fleet batteries").await?;
			enrolled += unenrolled.len() as u32;
			unenrolled.clear();
		}
		if waiting.is_empty() {
			return Ok(enrolled);
		}
		if tokio::time::Instant::now() >= deadline {
			return Err(FleetError::NoReports { missing: waiting.len(), waited: wait });
		}
		tokio::time::sleep(Duration::from_secs(3)).await;
	}
}

#[cfg(test)]
mod tests {
	use super::*;

	#[test]
	fn a_registration_carries_the_batterys_figures_and_a_valid_proof() {
		let battery = FleetBattery::new(5);
		let genesis = sp_core::H256::repeat_byte(7);
		let RuntimeCall::DeviceRegistry(pallet_device_registry::Call::register_device {
			capability,
			region,
			comfort,
			attestation_key,
			proof,
			..
		}) = register_call(&battery, 3, genesis).unwrap()
		else {
			panic!("not a registration");
		};
		assert_eq!(capability.storage_capacity_wh, Some(u64::from(battery.capacity_wh)));
		assert_eq!(capability.max_discharge_w, Some(battery.max_power_w));
		assert_eq!(region.to_vec(), demo::FLEET_REGION.as_bytes());
		assert_eq!(comfort.min_reserve_soc_bp, 2_000);
		let expected = KeyOwnershipProof::new(
			KeyProofPurpose::Register,
			genesis,
			FLEET_OWNER.to_account_id(),
			3,
		);
		assert!(attestation_key.verify(&expected.encode(), &proof));
	}
}
