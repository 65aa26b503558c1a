//! Facts about the OpenVPP network that its runtime and its off-chain clients share: the
//! address format, the token, and the telemetry limits a gateway plans with. The runtime is
//! configured from these constants, so a gateway built from this crate agrees with it without
//! linking it.

/// SS58 address prefix of OpenVPP accounts: 8760, the number of hours in a year.
/// Addresses on this chain therefore render differently from generic Substrate (42) ones.
pub const SS58_PREFIX: u16 = 8760;

/// Number of decimals of OVPP: one OVPP is `10^12` of its smallest unit (the "planck").
pub const TOKEN_DECIMALS: u8 = 12;
/// Ticker shown by wallets.
pub const TOKEN_SYMBOL: &str = "OVPP";
/// One OVPP, in planck.
pub const OVPP: u128 = 1_000_000_000_000;

/// Seconds after which a report's interval is too old to be accepted: two days, long enough
/// for a gateway to ride out a network or node outage with its outbox.
pub const REPORT_HORIZON_S: u64 = 2 * 86_400;
/// Reports one `submit_reports` batch may carry.
pub const MAX_REPORTS_PER_BATCH: u32 = 1_000;
/// Reports a gateway puts in one batch unless configured otherwise. A block author adds a batch
/// while its worst-case weight still fits, so the last batch's worst case is room a block
/// cannot use: at the measured weights, batches of 250 fill a block further than 500 or 1 000
/// (`throughput_ceilings` in the runtime computes how far).
pub const DEFAULT_REPORTS_PER_BATCH: u32 = 250;
