//! Calls the gateway account signs besides its report batches (joining demand-response events
//! for consenting owners). They go through the submitter, which holds the account's running
//! nonce: two tasks signing with one account would take each other's nonces.

use tokio::sync::oneshot;

use crate::{
	chain::{wait_finalized, Chain},
	compat::NodeRuntime,
	wire::{Call, Event},
};

/// A call to sign and submit, and where its outcome goes: `Ok` once it succeeded in a
/// finalized block, else why not.
pub struct GatewayCall {
	pub call: Call,
	pub done: oneshot::Sender<Result<(), CallFailure>>,
}

/// Why a gateway call did not succeed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CallFailure {
	/// The chain ran it and refused it (a pallet error, by name where known). `may_pass_later`:
	/// the refusal depends on the device's latest reading, which the next report replaces.
	#[error("refused by the chain: {reason}")]
	Refused { reason: String, may_pass_later: bool },
	/// It never made it into a finalized block; it may be tried again.
	#[error("not included: {0}")]
	NotIncluded(String),
}

/// How long a gateway call may take to be finalized.
pub const FINALITY_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(120);

/// Waits for the call's finalization and reads its outcome from the block's events.
pub async fn watch(
	chain: &Chain,
	subscription: jsonrpsee::core::client::Subscription<serde_json::Value>,
	xt: &[u8],
) -> Result<(), CallFailure> {
	let finalized = wait_finalized(subscription, FINALITY_TIMEOUT)
		.await
		.map_err(|e| CallFailure::NotIncluded(e.to_string()))?;
	let events = chain
		.extrinsic_events(finalized, xt)
		.await
		.map_err(|e| CallFailure::NotIncluded(e.to_string()))?;
	outcome(&events.runtime, &events.gateway_events())
}

/// The outcome an extrinsic's events state, its errors named by `runtime`.
pub fn outcome(runtime: &NodeRuntime, events: &[Event]) -> Result<(), CallFailure> {
	for event in events {
		if let Event::ExtrinsicFailed { dispatch_error } = event {
			let name = runtime.error_name(dispatch_error);
			return Err(CallFailure::Refused {
				may_pass_later: name.as_deref().is_some_and(depends_on_reading),
				reason: name.unwrap_or_else(|| format!("{dispatch_error:?}")),
			});
		}
	}
	Ok(())
}

/// Whether a refusal (an error's name) came from the device's latest reading (its flexibility,
/// stored energy or freshness), which changes with every report.
pub fn depends_on_reading(error: &str) -> bool {
	matches!(
		error,
		"DemandResponse::BeyondFlexibility"
			| "DemandResponse::BeyondStoredEnergy"
			| "DemandResponse::NoFreshTelemetry"
	)
}

#[cfg(test)]
mod tests {
	use super::*;

	#[test]
	fn a_refusal_is_named_by_the_nodes_metadata() {
		use codec::Encode;
		use frame_support::traits::PalletInfoAccess;
		let error = pallet_demand_response::Error::<openvpp_runtime::Runtime>::BeyondFlexibility;
		let mut bytes = [0u8; 4];
		let encoded = error.encode();
		bytes[..encoded.len()].copy_from_slice(&encoded);
		let dispatch_error = sp_runtime::DispatchError::Module(sp_runtime::ModuleError {
			index: openvpp_runtime::DemandResponse::index() as u8,
			error: bytes,
			message: None,
		});
		let runtime = crate::compat::test_runtime::node();
		assert_eq!(
			outcome(&runtime, &[Event::ExtrinsicFailed { dispatch_error }]),
			Err(CallFailure::Refused {
				reason: "DemandResponse::BeyondFlexibility".into(),
				may_pass_later: true
			})
		);
		// Another pallet's error is shown as it comes, and never passes later.
		let other = sp_runtime::DispatchError::Module(sp_runtime::ModuleError {
			index: openvpp_runtime::Telemetry::index() as u8,
			error: [0; 4],
			message: None,
		});
		let Err(CallFailure::Refused { reason, may_pass_later: false }) =
			outcome(&runtime, &[Event::ExtrinsicFailed { dispatch_error: other }])
		else {
			panic!("not refused")
		};
		assert!(reason.contains("Module"), "{reason}");
		assert_eq!(outcome(&runtime, &[]), Ok(()));
	}
}
