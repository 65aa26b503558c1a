//! # OpenVPP runtime
//!
//! The state-transition function of the OpenVPP chain: a solochain secured by Aura block
//! production and GRANDPA finality whose native token, **OVPP**, pays fees and rewards and
//! carries governance weight.
//!
//! The runtime is split by concern:
//! - [`configs`]: how every pallet is configured (block limits, token, fees, consensus,
//!   validators, parameters);
//! - [`governance`]: referenda, conviction voting, tracks and origins, the treasury;
//! - [`apis`]: the runtime APIs the node, polkadot.js and the oracle bridge call;
//! - [`genesis_config_presets`]: the `development`, `local_testnet` and `staging` genesis presets.

#![cfg_attr(not(feature = "std"), no_std)]
// `construct_runtime` expands to a large amount of code; give the compiler room.
#![recursion_limit = "256"]

#[cfg(feature = "std")]
include!(concat!(env!("OUT_DIR"), "/wasm_binary.rs"));

extern crate alloc;

pub mod apis;
#[cfg(feature = "std")]
pub mod bench_fleet;
#[cfg(feature = "runtime-benchmarks")]
mod benchmarks;
pub mod configs;
pub mod demo_fleet;
#[cfg(feature = "std")]
pub mod extrinsic;
pub mod genesis_config_presets;
pub mod governance;
pub mod vpp_api;
pub mod weights;

use alloc::{borrow::Cow, vec::Vec};
use sp_runtime::{
	generic, impl_opaque_keys,
	traits::{BlakeTwo256, IdentifyAccount, Verify},
	MultiAddress, MultiSignature,
};
use sp_version::RuntimeVersion;

pub use frame_system::Call as SystemCall;
pub use pallet_balances::Call as BalancesCall;
pub use pallet_timestamp::Call as TimestampCall;
#[cfg(any(feature = "std", test))]
pub use sp_runtime::BuildStorage;

/// Types the node needs without knowing the runtime's concrete extrinsic format, so that it
/// keeps syncing across runtime upgrades that change that format.
pub mod opaque {
	use super::*;
	use sp_runtime::traits::Hash as HashT;

	pub use sp_runtime::OpaqueExtrinsic as UncheckedExtrinsic;

	/// Opaque block header type.
	pub type Header = generic::Header<BlockNumber, BlakeTwo256>;
	/// Opaque block type.
	pub type Block = generic::Block<Header, UncheckedExtrinsic>;
	/// Opaque block hash type.
	pub type Hash = <BlakeTwo256 as HashT>::Output;
}

impl_opaque_keys! {
	/// The keys a validator registers for a session: Aura signs blocks, GRANDPA votes on finality.
	pub struct SessionKeys {
		pub aura: Aura,
		pub grandpa: Grandpa,
	}
}

/// The runtime version. Bump `spec_version` on every change of runtime logic and
/// `transaction_version` on every change to call indices or the extrinsic format. The oracle
/// bridge signs with the versions the node reports; it checks the shapes of what it uses in the
/// metadata, not these numbers.
#[cfg(not(feature = "next-spec-version"))]
#[sp_version::runtime_version]
pub const VERSION: RuntimeVersion = RuntimeVersion {
	spec_name: Cow::Borrowed("openvpp"),
	impl_name: Cow::Borrowed("openvpp-node"),
	authoring_version: 1,
	spec_version: 101,
	impl_version: 1,
	apis: apis::RUNTIME_API_VERSIONS,
	transaction_version: 1,
	system_version: 1,
};

/// The same runtime with the next `spec_version`: what `scripts/runtime-upgrade.sh` builds to
/// upgrade a running chain by referendum (`--features next-spec-version`). Keep it equal to
/// [`VERSION`] above but for `spec_version`, one higher.
#[cfg(feature = "next-spec-version")]
#[sp_version::runtime_version]
pub const VERSION: RuntimeVersion = RuntimeVersion {
	spec_name: Cow::Borrowed("openvpp"),
	impl_name: Cow::Borrowed("openvpp-node"),
	authoring_version: 1,
	spec_version: 102,
	impl_version: 1,
	apis: apis::RUNTIME_API_VERSIONS,
	transaction_version: 1,
	system_version: 1,
};

/// Block production timing.
pub mod time {
	use super::BlockNumber;

	/// Target block time. Aura produces at most one block per slot of this length.
	///
	/// The slot duration cannot change once a chain has started: it is fixed at genesis.
	pub const MILLI_SECS_PER_BLOCK: u64 = 6_000;
	/// Aura slot duration, equal to the block time.
	pub const SLOT_DURATION: u64 = MILLI_SECS_PER_BLOCK;

	/// Blocks per minute, hour and day at the target block time.
	pub const MINUTES: BlockNumber = 60_000 / (MILLI_SECS_PER_BLOCK as BlockNumber);
	pub const HOURS: BlockNumber = MINUTES * 60;
	pub const DAYS: BlockNumber = HOURS * 24;
}
pub use time::*;

/// The OVPP token.
pub mod currency {
	use super::Balance;

	pub use openvpp_primitives::network::{TOKEN_DECIMALS, TOKEN_SYMBOL};
	/// One OVPP.
	pub const OVPP: Balance = openvpp_primitives::network::OVPP;
	/// One thousandth of an OVPP.
	pub const MILLI_OVPP: Balance = OVPP / 1_000;
	/// One millionth of an OVPP.
	pub const MICRO_OVPP: Balance = OVPP / 1_000_000;
	/// Minimum balance that keeps an account alive (0.001 OVPP).
	pub const EXISTENTIAL_DEPOSIT: Balance = MILLI_OVPP;
}
pub use currency::*;

pub use openvpp_primitives::network::SS58_PREFIX;

/// Signature of a transaction: sr25519, ed25519 or ECDSA.
pub type Signature = MultiSignature;
/// An account on the chain: the public key (or its hash, for ECDSA) of the signing scheme.
pub type AccountId = <<Signature as Verify>::Signer as IdentifyAccount>::AccountId;
/// Amount of OVPP, in planck.
pub type Balance = u128;
/// Transaction counter of an account.
pub type Nonce = u32;
/// Block and state hash.
pub type Hash = sp_core::H256;
/// Block height.
pub type BlockNumber = u32;
/// How a transaction names an account.
pub type Address = MultiAddress<AccountId, ()>;
/// Block header.
pub type Header = generic::Header<BlockNumber, BlakeTwo256>;
/// Block.
pub type Block = generic::Block<Header, UncheckedExtrinsic>;
/// Block with its finality justification.
pub type SignedBlock = generic::SignedBlock<Block>;

/// Checks and payments every signed transaction goes through, in this order.
#[cfg(not(feature = "next-spec-incompatible"))]
pub type TxExtension = (
	frame_system::CheckNonZeroSender<Runtime>,
	frame_system::CheckSpecVersion<Runtime>,
	frame_system::CheckTxVersion<Runtime>,
	frame_system::CheckGenesis<Runtime>,
	frame_system::CheckEra<Runtime>,
	frame_system::CheckNonce<Runtime>,
	frame_system::CheckWeight<Runtime>,
	pallet_transaction_payment::ChargeTransactionPayment<Runtime>,
	frame_system::WeightReclaim<Runtime>,
);

/// The demonstration runtime with another transaction format (see the feature in Cargo.toml):
/// one more extension, so transactions signed for the format above do not decode.
#[cfg(feature = "next-spec-incompatible")]
pub type TxExtension = (
	frame_system::CheckNonZeroSender<Runtime>,
	frame_system::CheckSpecVersion<Runtime>,
	frame_system::CheckTxVersion<Runtime>,
	frame_system::CheckGenesis<Runtime>,
	frame_system::CheckEra<Runtime>,
	frame_system::CheckNonce<Runtime>,
	frame_system::CheckWeight<Runtime>,
	pallet_transaction_payment::ChargeTransactionPayment<Runtime>,
	frame_system::WeightReclaim<Runtime>,
	frame_metadata_hash_extension::CheckMetadataHash<Runtime>,
);

/// An extrinsic as it travels over the wire, before its signature is checked.
pub type UncheckedExtrinsic =
	generic::UncheckedExtrinsic<Address, RuntimeCall, Signature, TxExtension>;

/// The payload a transaction signer signs.
pub type SignedPayload = generic::SignedPayload<RuntimeCall, TxExtension>;

/// Storage migrations run on the next runtime upgrade, besides those of the pallets.
type Migrations = ();

/// Dispatches blocks and extrinsics to the pallets.
pub type Executive = frame_executive::Executive<
	Runtime,
	Block,
	frame_system::ChainContext<Runtime>,
	Runtime,
	AllPalletsWithSystem,
	Migrations,
>;

#[frame_support::runtime]
mod runtime {
	#[runtime::runtime]
	#[runtime::derive(
		RuntimeCall,
		RuntimeEvent,
		RuntimeError,
		RuntimeOrigin,
		RuntimeFreezeReason,
		RuntimeHoldReason,
		RuntimeSlashReason,
		RuntimeLockId,
		RuntimeTask,
		RuntimeViewFunction
	)]
	pub struct Runtime;

	#[runtime::pallet_index(0)]
	pub type System = frame_system;

	#[runtime::pallet_index(1)]
	pub type Timestamp = pallet_timestamp;

	// Balances before the session: genesis session keys belong to endowed accounts.
	#[runtime::pallet_index(10)]
	pub type Balances = pallet_balances;

	#[runtime::pallet_index(11)]
	pub type TransactionPayment = pallet_transaction_payment;

	// The validator set and the session come before Aura and GRANDPA: at genesis the session
	// pallet gives them their authorities.
	#[runtime::pallet_index(4)]
	pub type ValidatorSet = pallet_validator_set;

	#[runtime::pallet_index(5)]
	pub type Session = pallet_session;

	#[runtime::pallet_index(2)]
	pub type Aura = pallet_aura;

	#[runtime::pallet_index(3)]
	pub type Grandpa = pallet_grandpa;

	#[runtime::pallet_index(20)]
	pub type Utility = pallet_utility;

	#[runtime::pallet_index(21)]
	pub type Sudo = pallet_sudo;

	#[runtime::pallet_index(30)]
	pub type DeviceRegistry = pallet_device_registry;

	#[runtime::pallet_index(31)]
	pub type Telemetry = pallet_telemetry;

	#[runtime::pallet_index(32)]
	pub type DemandResponse = pallet_demand_response;

	#[runtime::pallet_index(33)]
	pub type Rewards = pallet_rewards;

	#[runtime::pallet_index(40)]
	pub type Parameters = pallet_parameters;

	#[runtime::pallet_index(41)]
	pub type Preimage = pallet_preimage;

	#[runtime::pallet_index(42)]
	pub type Scheduler = pallet_scheduler;

	#[runtime::pallet_index(43)]
	pub type Referenda = pallet_referenda;

	#[runtime::pallet_index(44)]
	pub type ConvictionVoting = pallet_conviction_voting;

	#[runtime::pallet_index(45)]
	pub type Origins = governance::origins::pallet_origins;

	#[runtime::pallet_index(46)]
	pub type Treasury = pallet_treasury;
}
