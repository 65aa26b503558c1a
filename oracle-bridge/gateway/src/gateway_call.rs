//! Calls the gateway account signs besides its report batches (joining demand-response events
//! for consenting owners). They go through the submitter, which holds the account's running
//! nonce: two tasks signing with one account would take each other's nonces.

use openvpp_runtime::{RuntimeCall, RuntimeEvent, UncheckedExtrinsic};
use tokio::sync::oneshot;

use crate::chain::{wait_finalized, Chain};

/// A call to sign and submit, and where its outcome goes: `Ok` once it succeeded in a
/// finalized block, else why not.
pub struct GatewayCall {
	pub call: RuntimeCall,
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
	xt: &UncheckedExtrinsic,
) -> Result<(), CallFailure> {
	let finalized = wait_finalized(subscription, FINALITY_TIMEOUT)
		.await
		.map_err(|e| CallFailure::NotIncluded(e.to_string()))?;
	let events = chain
		.extrinsic_events(finalized, xt)
		.await
		.map_err(|e| CallFailure::NotIncluded(e.to_string()))?;
	outcome(&events)
}

/// The outcome an extrinsic's events state.
pub fn outcome(events: &[RuntimeEvent]) -> Result<(), CallFailure> {
	for event in events {
		if let RuntimeEvent::System(frame_system::Event::ExtrinsicFailed {
			dispatch_error, ..
		}) = event
		{
			return Err(CallFailure::Refused {
				reason: describe(dispatch_error),
				may_pass_later: depends_on_reading(dispatch_error),
			});
		}
	}
	Ok(())
}

/// Whether a refusal came from the device's latest reading (its flexibility, stored energy or
/// freshness), which changes with every report.
pub fn depends_on_reading(error: &sp_runtime::DispatchError) -> bool {
	use pallet_demand_response::Error;
	matches!(
		demand_response_error(error),
		Some(Error::BeyondFlexibility | Error::BeyondStoredEnergy | Error::NoFreshTelemetry)
	)
}

fn demand_response_error(
	error: &sp_runtime::DispatchError,
) -> Option<pallet_demand_response::Error<openvpp_runtime::Runtime>> {
	use codec::Decode;
	use frame_support::traits::PalletInfoAccess;
	let sp_runtime::DispatchError::Module(module) = error else { return None };
	if usize::from(module.index) != openvpp_runtime::DemandResponse::index() {
		return None;
	}
	pallet_demand_response::Error::decode(&mut &module.error[..]).ok()
}

/// A dispatch error by name: demand response's errors are decoded, others shown as they come.
pub fn describe(error: &sp_runtime::DispatchError) -> String {
	match demand_response_error(error) {
		Some(error) => format!("DemandResponse::{error:?}"),
		None => format!("{error:?}"),
	}
}

#[cfg(test)]
mod tests {
	use super::*;

	#[test]
	fn a_refusal_is_named() {
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
		let failed = RuntimeEvent::System(frame_system::Event::ExtrinsicFailed {
			dispatch_error,
			dispatch_info: Default::default(),
		});
		assert_eq!(
			outcome(&[failed]),
			Err(CallFailure::Refused {
				reason: "DemandResponse::BeyondFlexibility".into(),
				may_pass_later: true
			})
		);
		assert_eq!(outcome(&[]), Ok(()));
	}
}
