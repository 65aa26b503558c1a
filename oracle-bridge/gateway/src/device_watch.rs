//! Devices the chain no longer takes reports for from this bridge.
//!
//! A device can change on chain while the bridge runs: its owner retires it, rebinds it to
//! another gateway or rotates its attestation key; a verifier suspends it. The chain then
//! rejects its reports (`UnknownDevice`, `WrongGateway`, `BadSignature`, `DeviceNotActive`,
//! `BeforeActivation`). When a report is rejected for such a reason, the submitter looks the
//! device up on chain and, if the chain confirms the change, the bridge **stops signing** for
//! that device: one warning line, the `openvpp_bridge_devices_stopped` gauge and
//! `openvpp_bridge_device_stops_total{reason}`. Its reports would only be rejected and cost the
//! gateway their share of every batch; the other devices' reports keep travelling free.
//!
//! A retired, rebound or re-keyed device stays stopped until the bridge is reconfigured and
//! restarted (a new key in the keystore, or the device removed from the configuration). A
//! device that is not active (suspended, or back to pending) is looked up again every
//! [`RECHECK_INACTIVE_EVERY`]; once it is active again the bridge resumes signing for it, from
//! its next interval.

use std::{
	collections::BTreeMap,
	sync::{Arc, Mutex, PoisonError},
	time::Duration,
};

use openvpp_primitives::{AttestationKey, DeviceId, DeviceStatus, RejectionReason};
use sp_core::crypto::AccountId32;

use crate::metrics::Metrics;

/// How often a device stopped for being inactive is looked up again.
pub const RECHECK_INACTIVE_EVERY: Duration = Duration::from_secs(60);

/// Why the bridge stopped signing for a device.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StopReason {
	/// No such device on chain any more.
	Retired,
	/// The device is bound to another gateway.
	Rebound { gateway: AccountId32 },
	/// The device's attestation key on chain is not the one in the keystore.
	KeyRotated,
	/// The device is not active (suspended, pending or rejected).
	Inactive(DeviceStatus),
}

impl StopReason {
	/// A short label, for the metrics.
	pub fn label(&self) -> &'static str {
		match self {
			StopReason::Retired => "retired",
			StopReason::Rebound { .. } => "rebound",
			StopReason::KeyRotated => "key-rotated",
			StopReason::Inactive(_) => "inactive",
		}
	}

	/// Whether the device may come back by itself (and is looked up again).
	pub fn may_resume(&self) -> bool {
		matches!(self, StopReason::Inactive(_))
	}
}

impl std::fmt::Display for StopReason {
	fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
		match self {
			StopReason::Retired => write!(f, "the device is no longer registered (retired)"),
			StopReason::Rebound { gateway } => {
				write!(f, "the device is bound to another gateway, {}", crate::chain::ss58(gateway))
			}
			StopReason::KeyRotated => write!(
				f,
				"the device's attestation key on chain is not the keystore's (the key was rotated)"
			),
			StopReason::Inactive(status) => write!(f, "the device is {status:?}, not active"),
		}
	}
}

/// Whether a rejection may mean the device itself changed on chain.
pub fn concerns_the_device(reason: RejectionReason) -> bool {
	matches!(
		reason,
		RejectionReason::UnknownDevice
			| RejectionReason::WrongGateway
			| RejectionReason::BadSignature
			| RejectionReason::DeviceNotActive
			| RejectionReason::BeforeActivation
	)
}

/// What the chain's record of a device means for this bridge: `None` if it still takes the
/// device's reports from it.
pub fn assess(
	on_chain: Option<(&AccountId32, &AttestationKey, DeviceStatus)>,
	gateway: &AccountId32,
	key: &AttestationKey,
) -> Option<StopReason> {
	let Some((device_gateway, device_key, status)) = on_chain else {
		return Some(StopReason::Retired);
	};
	if device_gateway != gateway {
		return Some(StopReason::Rebound { gateway: device_gateway.clone() });
	}
	if device_key != key {
		return Some(StopReason::KeyRotated);
	}
	if status != DeviceStatus::Active {
		return Some(StopReason::Inactive(status));
	}
	None
}

/// The devices the bridge does not sign for, shared by the submitter (which decides) and the
/// bridge (which signs).
#[derive(Clone)]
pub struct DeviceGate {
	stopped: Arc<Mutex<BTreeMap<DeviceId, StopReason>>>,
	metrics: Metrics,
}

impl DeviceGate {
	pub fn new(metrics: Metrics) -> Self {
		DeviceGate { stopped: Arc::default(), metrics }
	}

	fn with<T>(&self, f: impl FnOnce(&mut BTreeMap<DeviceId, StopReason>) -> T) -> T {
		let mut stopped = self.stopped.lock().unwrap_or_else(PoisonError::into_inner);
		let result = f(&mut stopped);
		self.metrics.devices_stopped.set(stopped.len() as i64);
		result
	}

	/// Whether reports of `device` are signed.
	pub fn is_signing(&self, device: DeviceId) -> bool {
		self.with(|stopped| !stopped.contains_key(&device))
	}

	/// Stops signing for `device`; logs and counts it the first time (or when the reason
	/// changes).
	pub fn stop(&self, device: DeviceId, reason: StopReason) {
		let changed =
			self.with(|stopped| stopped.insert(device, reason.clone()) != Some(reason.clone()));
		if changed {
			self.metrics.device_stops.with_label_values(&[reason.label()]).inc();
			let hint = if reason.may_resume() {
				"signing resumes once it is active again"
			} else {
				"update the keystore or the configuration and restart the bridge"
			};
			tracing::warn!(device_id = device, %reason, hint, "the chain no longer takes this device's reports from this bridge: stopped signing for it");
		}
	}

	/// Resumes signing for `device`.
	pub fn resume(&self, device: DeviceId) {
		if self.with(|stopped| stopped.remove(&device)).is_some() {
			tracing::info!(
				device_id = device,
				"the device is active again on chain: signing resumes"
			);
		}
	}

	/// Devices stopped for a reason that may go away.
	pub fn resumable(&self) -> Vec<DeviceId> {
		self.with(|stopped| {
			stopped.iter().filter(|(_, reason)| reason.may_resume()).map(|(id, _)| *id).collect()
		})
	}

	/// Every stopped device with its reason.
	pub fn stopped(&self) -> Vec<(DeviceId, StopReason)> {
		self.with(|stopped| stopped.iter().map(|(id, reason)| (*id, reason.clone())).collect())
	}
}

#[cfg(test)]
mod tests {
	use super::*;
	use sp_core::{sr25519, Pair};

	fn key(seed: &str) -> AttestationKey {
		sr25519::Pair::from_string(seed, None).unwrap().public().into()
	}

	#[test]
	fn the_chain_record_decides() {
		let ours = AccountId32::new([1; 32]);
		let theirs = AccountId32::new([2; 32]);
		let k = key("//device");
		let active = DeviceStatus::Active;
		assert_eq!(assess(Some((&ours, &k, active)), &ours, &k), None);
		assert_eq!(assess(None, &ours, &k), Some(StopReason::Retired));
		assert_eq!(
			assess(Some((&theirs, &k, active)), &ours, &k),
			Some(StopReason::Rebound { gateway: theirs.clone() })
		);
		assert_eq!(
			assess(Some((&ours, &key("//rotated"), active)), &ours, &k),
			Some(StopReason::KeyRotated)
		);
		assert_eq!(
			assess(Some((&ours, &k, DeviceStatus::Suspended)), &ours, &k),
			Some(StopReason::Inactive(DeviceStatus::Suspended))
		);
	}

	#[test]
	fn stopped_devices_are_counted_and_inactive_ones_resume() {
		let metrics = Metrics::new().unwrap();
		let gate = DeviceGate::new(metrics.clone());
		gate.stop(3, StopReason::Retired);
		gate.stop(4, StopReason::Inactive(DeviceStatus::Suspended));
		// Stopping again for the same reason is not counted twice.
		gate.stop(4, StopReason::Inactive(DeviceStatus::Suspended));
		assert!(!gate.is_signing(3) && !gate.is_signing(4) && gate.is_signing(5));
		assert_eq!(metrics.devices_stopped.get(), 2);
		assert_eq!(metrics.device_stops.with_label_values(&["inactive"]).get(), 1);
		assert_eq!(gate.resumable(), vec![4]);
		gate.resume(4);
		assert!(gate.is_signing(4));
		assert_eq!(metrics.devices_stopped.get(), 1);
	}

	#[test]
	fn only_device_level_rejections_prompt_a_look_up() {
		assert!(concerns_the_device(RejectionReason::BadSignature));
		assert!(concerns_the_device(RejectionReason::DeviceNotActive));
		assert!(!concerns_the_device(RejectionReason::SequenceNotIncreasing));
		assert!(!concerns_the_device(RejectionReason::IntervalInFuture));
	}
}
