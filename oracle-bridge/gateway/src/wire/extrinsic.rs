//! Signed extrinsics, built without the runtime's types.
//!
//! The format is the one `compat/runtime-shapes.json` records for the runtime (checked against
//! the node before anything is signed): extrinsic version 4, a `MultiAddress` account id, a
//! `MultiSignature` and nine transaction extensions. Of these only `CheckEra` (immortal),
//! `CheckNonce` and `ChargeTransactionPayment` (the tip) carry data in the extrinsic; the spec
//! and transaction versions and the genesis hash are signed but not sent.

use codec::{Compact, Encode};
use sp_core::{crypto::Pair, sr25519, H256};
use sp_crypto_hashing::blake2_256;
use sp_runtime::traits::IdentifyAccount;

use super::storage::{AccountId, Balance};

/// The versions a signature commits to (the node's, not the gateway's build).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SigningVersions {
	pub spec_version: u32,
	pub transaction_version: u32,
}

/// Version byte of a signed extrinsic: format 4 with the "signed" bit.
const SIGNED_V4: u8 = 0x84;
/// `MultiAddress::Id`.
const ADDRESS_ID: u8 = 0;
/// `MultiSignature::Sr25519`.
const SR25519: u8 = 1;
/// An immortal `Era`.
const IMMORTAL: u8 = 0;

/// The account an sr25519 key signs for.
pub fn account_of(pair: &sr25519::Pair) -> AccountId {
	sp_runtime::MultiSigner::from(pair.public()).into_account()
}

/// What the extensions carry in the extrinsic: the era, the nonce and the tip.
fn explicit(nonce: u32, tip: Balance) -> Vec<u8> {
	let mut out = vec![IMMORTAL];
	Compact(nonce).encode_to(&mut out);
	Compact(tip).encode_to(&mut out);
	out
}

/// What the extensions add to the signed payload only: the versions, the genesis hash and, for
/// an immortal transaction, the genesis hash again as its era's checkpoint.
fn implicit(versions: SigningVersions, genesis: H256) -> Vec<u8> {
	(versions.spec_version, versions.transaction_version, genesis, genesis).encode()
}

/// The bytes a signer signs for `call` (their blake2-256 hash when longer than 256 bytes).
pub fn signing_payload(
	call: &[u8],
	nonce: u32,
	tip: Balance,
	versions: SigningVersions,
	genesis: H256,
) -> Vec<u8> {
	let mut payload = call.to_vec();
	payload.extend(explicit(nonce, tip));
	payload.extend(implicit(versions, genesis));
	if payload.len() > 256 {
		blake2_256(&payload).to_vec()
	} else {
		payload
	}
}

/// `call` (encoded) signed by `signer` as an immortal transaction with no tip: the extrinsic's
/// bytes as `author_submitExtrinsic` takes them.
pub fn sign(
	call: &[u8],
	signer: &sr25519::Pair,
	nonce: u32,
	versions: SigningVersions,
	genesis: H256,
) -> Vec<u8> {
	let signature = signer.sign(&signing_payload(call, nonce, 0, versions, genesis));
	let mut body = vec![SIGNED_V4, ADDRESS_ID];
	body.extend(account_of(signer).encode());
	body.push(SR25519);
	body.extend_from_slice(signature.as_ref());
	body.extend(explicit(nonce, 0));
	body.extend_from_slice(call);
	// An extrinsic is a length-prefixed byte string.
	body.encode()
}
