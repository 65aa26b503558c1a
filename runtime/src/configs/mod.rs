//! Configuration of every pallet in the runtime.
//!
//! Block limits are sized for the telemetry hot path: thousands of device reports per block
//! travel in batch extrinsics, so blocks are allowed 2 s of compute out of 6 s and 5 MiB.

mod openvpp;
pub use openvpp::*;

use frame_support::{
	derive_impl,
	dispatch::DispatchClass,
	parameter_types,
	traits::{ConstBool, ConstU128, ConstU32, ConstU64, ConstU8, VariantCountOf},
	weights::{
		constants::{ExtrinsicBaseWeight, ParityDbWeight, WEIGHT_REF_TIME_PER_SECOND},
		ConstantMultiplier, Weight, WeightToFee,
	},
};
use frame_system::limits::{BlockLength, BlockWeights};
use pallet_transaction_payment::{FungibleAdapter, Multiplier, TargetedFeeAdjustment};
use sp_consensus_aura::sr25519::AuthorityId as AuraId;
use sp_runtime::{FixedPointNumber, Perbill, Perquintill};
use sp_version::RuntimeVersion;

use super::{
	AccountId, Aura, Balance, Balances, Block, BlockNumber, Hash, Nonce, OriginCaller, PalletInfo,
	Runtime, RuntimeCall, RuntimeEvent, RuntimeFreezeReason, RuntimeHoldReason, RuntimeOrigin,
	RuntimeTask, System, EXISTENTIAL_DEPOSIT, MICRO_OVPP, MILLI_OVPP, SLOT_DURATION, SS58_PREFIX,
	VERSION,
};

/// Share of a block that ordinary (non-operational) transactions may fill.
const NORMAL_DISPATCH_RATIO: Perbill = Perbill::from_percent(75);

parameter_types! {
	pub const BlockHashCount: BlockNumber = 2400;
	pub const Version: RuntimeVersion = VERSION;

	/// Two seconds of compute per 6-second block. Proof size is unbounded: a solochain has no
	/// relay chain to ship state proofs to.
	pub RuntimeBlockWeights: BlockWeights = BlockWeights::with_sensible_defaults(
		Weight::from_parts(2u64 * WEIGHT_REF_TIME_PER_SECOND, u64::MAX),
		NORMAL_DISPATCH_RATIO,
	);
	pub RuntimeBlockLength: BlockLength = BlockLength::builder()
		.max_length(5 * 1024 * 1024)
		.modify_max_length_for_class(DispatchClass::Normal, |max| *max = NORMAL_DISPATCH_RATIO * *max)
		.build();
	pub const SS58Prefix: u16 = SS58_PREFIX;
}

#[derive_impl(frame_system::config_preludes::SolochainDefaultConfig)]
impl frame_system::Config for Runtime {
	type Block = Block;
	type BlockWeights = RuntimeBlockWeights;
	type BlockLength = RuntimeBlockLength;
	type AccountId = AccountId;
	type Nonce = Nonce;
	type Hash = Hash;
	type BlockHashCount = BlockHashCount;
	/// Nodes store state in ParityDB (see docs/architecture.md), so storage access is weighed
	/// with ParityDB's measured costs.
	type DbWeight = ParityDbWeight;
	type Version = Version;
	type AccountData = pallet_balances::AccountData<Balance>;
	type SS58Prefix = SS58Prefix;
	type MaxConsumers = ConstU32<16>;
}

impl pallet_timestamp::Config for Runtime {
	/// Milliseconds since the Unix epoch.
	type Moment = u64;
	type OnTimestampSet = Aura;
	type MinimumPeriod = ConstU64<{ SLOT_DURATION / 2 }>;
	type WeightInfo = ();
}

impl pallet_aura::Config for Runtime {
	type AuthorityId = AuraId;
	type DisabledValidators = ();
	type MaxAuthorities = ConstU32<32>;
	type AllowMultipleBlocksPerSlot = ConstBool<false>;
	type SlotDuration = pallet_aura::MinimumPeriodTimesTwo<Runtime>;
}

impl pallet_grandpa::Config for Runtime {
	type RuntimeEvent = RuntimeEvent;
	type WeightInfo = ();
	type MaxAuthorities = ConstU32<32>;
	type MaxNominators = ConstU32<0>;
	type MaxSetIdSessionEntries = ConstU64<0>;
	type KeyOwnerProof = sp_core::Void;
	type EquivocationReportSystem = ();
}

impl pallet_balances::Config for Runtime {
	type RuntimeEvent = RuntimeEvent;
	type RuntimeHoldReason = RuntimeHoldReason;
	type RuntimeFreezeReason = RuntimeFreezeReason;
	type WeightInfo = pallet_balances::weights::SubstrateWeight<Runtime>;
	type Balance = Balance;
	type DustRemoval = ();
	type ExistentialDeposit = ConstU128<EXISTENTIAL_DEPOSIT>;
	type AccountStore = System;
	type ReserveIdentifier = [u8; 8];
	type FreezeIdentifier = RuntimeFreezeReason;
	type MaxLocks = ConstU32<50>;
	// Deposits use holds; the deprecated reserves are not used by any OpenVPP pallet.
	type MaxReserves = ConstU32<0>;
	type MaxFreezes = VariantCountOf<RuntimeFreezeReason>;
	type DoneSlashHandler = ();
}

/// Converts weight to a fee in OVPP: the base weight of an extrinsic costs 0.001 OVPP, and fees
/// grow linearly with weight from there.
pub struct OvppWeightToFee;

impl WeightToFee for OvppWeightToFee {
	type Balance = Balance;

	fn weight_to_fee(weight: &Weight) -> Balance {
		let base = Balance::from(ExtrinsicBaseWeight::get().ref_time()).max(1);
		Balance::from(weight.ref_time()).saturating_mul(MILLI_OVPP) / base
	}
}

parameter_types! {
	/// 10 µOVPP per byte of extrinsic: a plain transfer pays about 0.0015 OVPP for its length.
	pub const TransactionByteFee: Balance = 10 * MICRO_OVPP;
	/// Fees rise when normal-class blocks run more than half full and fall back below that.
	pub const TargetBlockFullness: Perquintill = Perquintill::from_percent(50);
	/// How fast the fee multiplier reacts: ~+0.75 % per full block (the Polkadot value).
	pub AdjustmentVariable: Multiplier = Multiplier::saturating_from_rational(3, 100_000);
	/// Fees never drop below the base schedule...
	pub MinimumMultiplier: Multiplier = Multiplier::from_u32(1);
	/// ...and never exceed ten times it, however long the network stays busy.
	pub MaximumMultiplier: Multiplier = Multiplier::from_u32(10);
}

/// Congestion pricing: the fee multiplier follows block fullness between 1× and 10×.
pub type SlowAdjustingFeeUpdate<R> = TargetedFeeAdjustment<
	R,
	TargetBlockFullness,
	AdjustmentVariable,
	MinimumMultiplier,
	MaximumMultiplier,
>;

impl pallet_transaction_payment::Config for Runtime {
	type RuntimeEvent = RuntimeEvent;
	/// Fees are withdrawn in OVPP and burned: they reduce total issuance.
	type OnChargeTransaction = FungibleAdapter<Balances, ()>;
	type WeightToFee = OvppWeightToFee;
	type LengthToFee = ConstantMultiplier<Balance, TransactionByteFee>;
	type FeeMultiplierUpdate = SlowAdjustingFeeUpdate<Self>;
	type OperationalFeeMultiplier = ConstU8<5>;
	type WeightInfo = pallet_transaction_payment::weights::SubstrateWeight<Runtime>;
}

impl pallet_utility::Config for Runtime {
	type RuntimeEvent = RuntimeEvent;
	type RuntimeCall = RuntimeCall;
	type PalletsOrigin = OriginCaller;
	type WeightInfo = pallet_utility::weights::SubstrateWeight<Runtime>;
}

impl pallet_sudo::Config for Runtime {
	type RuntimeEvent = RuntimeEvent;
	type RuntimeCall = RuntimeCall;
	type WeightInfo = pallet_sudo::weights::SubstrateWeight<Runtime>;
}

#[cfg(test)]
mod tests {
	use super::*;
	use sp_runtime::traits::Bounded;

	#[test]
	fn base_extrinsic_costs_one_milli_ovpp() {
		assert_eq!(OvppWeightToFee::weight_to_fee(&ExtrinsicBaseWeight::get()), MILLI_OVPP);
		assert_eq!(OvppWeightToFee::weight_to_fee(&Weight::zero()), 0);
	}

	#[test]
	fn a_full_block_fee_does_not_overflow() {
		let max = RuntimeBlockWeights::get().max_block;
		let fee = OvppWeightToFee::weight_to_fee(&max);
		assert!(fee > MILLI_OVPP && fee < Balance::MAX);
	}

	#[test]
	fn fee_multiplier_is_clamped() {
		assert!(MinimumMultiplier::get() <= MaximumMultiplier::get());
		assert!(MaximumMultiplier::get() < Multiplier::max_value());
	}
}
