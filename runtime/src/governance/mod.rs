//! On-chain governance: OVPP holders decide by referendum (OpenGov).
//!
//! A proposal is a call, noted as a preimage (`Preimage`), submitted to a track
//! (`Referenda`) and voted with conviction (`ConvictionVoting`); when it passes, the
//! `Scheduler` dispatches it with the track's origin ([`origins`]) after the track's enactment
//! period. The tracks are in [`tracks`]. The `Treasury` holds a share of fees and of each
//! scoring epoch's pool and pays out what the treasurer track approves.
//!
//! Every power that used to be root's is now a track's origin, or root's: the `*Origin` types
//! below accept root (the root track, and sudo on development chains) or the track's origin.

pub mod origins;
pub mod tracks;

use frame_support::{
	parameter_types,
	traits::{
		fungible::HoldConsideration,
		tokens::{pay::PayFromAccount, UnityAssetBalanceConversion},
		ConstU32, EitherOf, EqualPrivilegeOnly, LinearStoragePrice,
	},
	weights::Weight,
	PalletId,
};
use frame_system::{EnsureRoot, EnsureRootWithSuccess, EnsureSigned};
use sp_runtime::{traits::AccountIdConversion, Perbill, Permill};

use crate::{
	configs::{deposit, RuntimeBlockWeights},
	AccountId, Balance, Balances, BlockNumber, OriginCaller, Preimage, Referenda, Runtime,
	RuntimeCall, RuntimeEvent, RuntimeHoldReason, RuntimeOrigin, Scheduler, System, Treasury, DAYS,
	OVPP,
};

/// Network parameters: the `network_parameters` track, or root.
pub type NetworkParametersOrigin = EitherOf<EnsureRoot<AccountId>, origins::NetworkParameters>;
/// Device verifiers: the `device_verifiers` track, or root.
pub type DeviceVerifiersOrigin = EitherOf<EnsureRoot<AccountId>, origins::DeviceVerifiers>;
/// Demand-response operators: the `demand_response_operators` track, or root.
pub type DemandResponseOperatorsOrigin =
	EitherOf<EnsureRoot<AccountId>, origins::DemandResponseOperators>;
/// The validator set: the `validators` track, or root.
pub type ValidatorsOrigin = EitherOf<EnsureRoot<AccountId>, origins::Validators>;

impl origins::Config for Runtime {}

parameter_types! {
	pub const PreimageHoldReason: RuntimeHoldReason =
		RuntimeHoldReason::Preimage(pallet_preimage::HoldReason::Preimage);
	pub const PreimageBaseDeposit: Balance = deposit(2, 64);
	pub const PreimageByteDeposit: Balance = deposit(0, 1);
}

impl pallet_preimage::Config for Runtime {
	type RuntimeEvent = RuntimeEvent;
	type WeightInfo = pallet_preimage::weights::SubstrateWeight<Runtime>;
	type Currency = Balances;
	type ManagerOrigin = EnsureRoot<AccountId>;
	type Consideration = HoldConsideration<
		AccountId,
		Balances,
		PreimageHoldReason,
		LinearStoragePrice<PreimageBaseDeposit, PreimageByteDeposit, Balance>,
	>;
}

parameter_types! {
	/// Scheduled calls (enactments) may use 80 % of a block.
	pub MaximumSchedulerWeight: Weight =
		Perbill::from_percent(80) * RuntimeBlockWeights::get().max_block;
}

impl pallet_scheduler::Config for Runtime {
	type RuntimeEvent = RuntimeEvent;
	type RuntimeOrigin = RuntimeOrigin;
	type PalletsOrigin = OriginCaller;
	type RuntimeCall = RuntimeCall;
	type MaximumWeight = MaximumSchedulerWeight;
	type ScheduleOrigin = EnsureRoot<AccountId>;
	type OriginPrivilegeCmp = EqualPrivilegeOnly;
	type MaxScheduledPerBlock = ConstU32<50>;
	type WeightInfo = pallet_scheduler::weights::SubstrateWeight<Runtime>;
	type Preimages = Preimage;
	type BlockNumberProvider = System;
}

parameter_types! {
	/// Locks from conviction votes count in units of a week.
	pub const VoteLockingPeriod: BlockNumber = 7 * DAYS;
}

impl pallet_conviction_voting::Config for Runtime {
	type RuntimeEvent = RuntimeEvent;
	type WeightInfo = pallet_conviction_voting::weights::SubstrateWeight<Runtime>;
	type Currency = Balances;
	type Polls = Referenda;
	/// Support is measured against the OVPP in circulation.
	type MaxTurnout =
		frame_support::traits::tokens::currency::ActiveIssuanceOf<Balances, AccountId>;
	type MaxVotes = ConstU32<512>;
	type VoteLockingPeriod = VoteLockingPeriod;
	type BlockNumberProvider = System;
	type VotingHooks = ();
}

parameter_types! {
	/// Held from a referendum's submitter until it ends; returned unless the referendum is
	/// killed.
	pub const SubmissionDeposit: Balance = 10 * OVPP;
	pub const UndecidingTimeout: BlockNumber = 14 * DAYS;
}

impl pallet_referenda::Config for Runtime {
	type RuntimeCall = RuntimeCall;
	type RuntimeEvent = RuntimeEvent;
	type WeightInfo = pallet_referenda::weights::SubstrateWeight<Runtime>;
	type Scheduler = Scheduler;
	type Currency = Balances;
	/// Any holder may submit a referendum on any track.
	type SubmitOrigin = frame_support::traits::AsEnsureOriginWithArg<EnsureSigned<AccountId>>;
	type CancelOrigin = EnsureRoot<AccountId>;
	type KillOrigin = EnsureRoot<AccountId>;
	/// Deposits of killed referenda go to the treasury.
	type Slash = Treasury;
	type Votes = Balance;
	type Tally = pallet_conviction_voting::TallyOf<Runtime>;
	type SubmissionDeposit = SubmissionDeposit;
	type MaxQueued = ConstU32<100>;
	type UndecidingTimeout = UndecidingTimeout;
	type AlarmInterval = ConstU32<1>;
	type Tracks = tracks::TracksInfo;
	type Preimages = Preimage;
	type BlockNumberProvider = System;
}

parameter_types! {
	/// The treasury's account, `py/trsry`: the account the rewards pallet already pays the
	/// treasury share of each epoch into.
	pub const TreasuryPalletId: PalletId = PalletId(*b"py/trsry");
	pub TreasuryAccount: AccountId = TreasuryPalletId::get().into_account_truncating();
	/// Nothing is burned: what the treasury holds stays for spends.
	pub const Burn: Permill = Permill::zero();
	pub const SpendPeriod: BlockNumber = 6 * DAYS;
	/// An approved spend must be claimed (`treasury.payout`) within 30 days.
	pub const PayoutPeriod: BlockNumber = 30 * DAYS;
	pub const MaxBalance: Balance = Balance::MAX;
}

impl pallet_treasury::Config for Runtime {
	type Currency = Balances;
	type RejectOrigin = EnsureRoot<AccountId>;
	type RuntimeEvent = RuntimeEvent;
	type SpendPeriod = SpendPeriod;
	type Burn = Burn;
	type PalletId = TreasuryPalletId;
	type BurnDestination = ();
	type WeightInfo = pallet_treasury::weights::SubstrateWeight<Runtime>;
	type SpendFunds = ();
	type MaxApprovals = ConstU32<100>;
	/// Root spends without limit; the treasurer track up to `MAX_TREASURER_SPEND` per spend.
	type SpendOrigin = EitherOf<EnsureRootWithSuccess<AccountId, MaxBalance>, origins::Treasurer>;
	type AssetKind = ();
	type Beneficiary = AccountId;
	type BeneficiaryLookup = <Runtime as frame_system::Config>::Lookup;
	type Paymaster = PayFromAccount<Balances, TreasuryAccount>;
	type BalanceConverter = UnityAssetBalanceConversion;
	type PayoutPeriod = PayoutPeriod;
	#[cfg(feature = "runtime-benchmarks")]
	type BenchmarkHelper = TreasuryArguments;
	type BlockNumberProvider = System;
}

/// Arguments for the treasury's benchmarks: native OVPP to a plain account.
#[cfg(feature = "runtime-benchmarks")]
pub struct TreasuryArguments;
#[cfg(feature = "runtime-benchmarks")]
impl pallet_treasury::ArgumentsFactory<(), AccountId> for TreasuryArguments {
	fn create_asset_kind(_: u32) {}
	fn create_beneficiary(seed: [u8; 32]) -> AccountId {
		AccountId::from(seed)
	}
}

/// Share of every transaction fee (and tip) paid into the treasury; the rest is burned.
pub const FEE_SHARE_TO_TREASURY: Permill = Permill::from_percent(20);

/// Where fees go: [`FEE_SHARE_TO_TREASURY`] to the treasury, the rest burned (dropping the
/// credit reduces the total issuance).
pub struct FeesToTreasury;
impl
	frame_support::traits::OnUnbalanced<
		frame_support::traits::fungible::Credit<AccountId, Balances>,
	> for FeesToTreasury
{
	fn on_nonzero_unbalanced(fees: frame_support::traits::fungible::Credit<AccountId, Balances>) {
		use frame_support::traits::{fungible::Balanced, Imbalance};
		let to_treasury = FEE_SHARE_TO_TREASURY * fees.peek();
		let (treasury, _burned) = fees.split(to_treasury);
		// The treasury account exists (it holds at least the existential deposit from
		// genesis); should it not, the credit is burned with the rest.
		let _ = Balances::resolve(&TreasuryAccount::get(), treasury);
	}
}
