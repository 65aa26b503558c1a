//! Building signed extrinsics outside the runtime: for the node's tests and the development
//! tools (demo, load benchmark), which link the runtime.
//!
//! A client that links the runtime signs exactly the call and extension types the chain
//! decodes, so a format change is a compile error rather than a rejected transaction. The
//! gateway does not link the runtime; its tests check its own extrinsics against these.

use codec::Encode;
use sp_core::{crypto::Pair, H256};
use sp_runtime::{
	generic::Era,
	traits::{IdentifyAccount, Verify},
	MultiSignature, MultiSigner,
};

use crate::{
	AccountId, Address, Balance, Nonce, RuntimeCall, Signature, SignedPayload, TxExtension,
	UncheckedExtrinsic, VERSION,
};

/// The transaction extensions of an immortal transaction with the given nonce and tip.
pub fn tx_extension(nonce: Nonce, tip: Balance) -> TxExtension {
	(
		frame_system::CheckNonZeroSender::new(),
		frame_system::CheckSpecVersion::new(),
		frame_system::CheckTxVersion::new(),
		frame_system::CheckGenesis::new(),
		frame_system::CheckEra::from(Era::Immortal),
		frame_system::CheckNonce::from(nonce),
		frame_system::CheckWeight::new(),
		pallet_transaction_payment::ChargeTransactionPayment::from(tip),
		frame_system::WeightReclaim::new(),
		#[cfg(feature = "next-spec-incompatible")]
		frame_metadata_hash_extension::CheckMetadataHash::new(false),
	)
}

/// The data the extensions add to the signed payload without carrying it in the extrinsic:
/// the runtime versions this client was built for and the chain's genesis hash (an immortal
/// transaction's era checkpoint is the genesis block).
pub fn implicit(
	genesis_hash: H256,
) -> <TxExtension as sp_runtime::traits::TransactionExtension<RuntimeCall>>::Implicit {
	(
		(),
		VERSION.spec_version,
		VERSION.transaction_version,
		genesis_hash,
		genesis_hash,
		(),
		(),
		(),
		(),
		#[cfg(feature = "next-spec-incompatible")]
		None,
	)
}

/// The account a key pair signs for.
pub fn account_of<P>(pair: &P) -> AccountId
where
	P: Pair,
	P::Public: Into<MultiSigner>,
{
	pair.public().into().into_account()
}

/// The bytes a signer signs for `call` (hashed with blake2-256 when longer than 256 bytes).
pub fn signing_payload(
	call: &RuntimeCall,
	nonce: Nonce,
	tip: Balance,
	genesis_hash: H256,
) -> Vec<u8> {
	SignedPayload::from_raw(call.clone(), tx_extension(nonce, tip), implicit(genesis_hash)).encode()
}

/// Assembles a signed extrinsic from a signature made over [`signing_payload`].
pub fn assemble(
	call: RuntimeCall,
	signer: AccountId,
	signature: Signature,
	nonce: Nonce,
	tip: Balance,
) -> UncheckedExtrinsic {
	UncheckedExtrinsic::new_signed(call, Address::Id(signer), signature, tx_extension(nonce, tip))
}

/// Signs `call` with `pair` as an immortal transaction with the given nonce and no tip.
pub fn sign<P>(call: RuntimeCall, pair: &P, nonce: Nonce, genesis_hash: H256) -> UncheckedExtrinsic
where
	P: Pair,
	P::Public: Into<MultiSigner>,
	P::Signature: Into<MultiSignature>,
{
	let payload = signing_payload(&call, nonce, 0, genesis_hash);
	let signature: Signature = pair.sign(&payload).into();
	debug_assert!(signature.verify(&payload[..], &account_of(pair)));
	assemble(call, account_of(pair), signature, nonce, 0)
}
