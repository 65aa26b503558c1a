//! # OpenVPP primitives
//!
//! The vocabulary every OpenVPP component shares: device identifiers and kinds, the units energy
//! quantities are measured in, what a device is ([`device`]), what it reports ([`telemetry`]) and
//! how the chain checks its physics ([`plausibility`]), and the traits one pallet uses to ask another ([`traits`]). The runtime wires the traits together; pallets never read each
//! other's storage.
//!
//! The oracle bridge links this crate too (and not the runtime), so that what a device key
//! signs is byte for byte what the chain verifies, and the facts the runtime is configured with
//! — address format, token, report horizon, batch limit — are the ones the gateway plans with
//! ([`network`]).
//!
//! ## Units
//!
//! All quantities are integers with the unit in the name of the field that holds them:
//! watt-hours (`_wh`) for energy, watts (`_w`) for power, basis points (`_bp`, 1/100 of a
//! percent) for state of charge and ratios, seconds (`_s`) for durations and Unix seconds for
//! instants. No floating point is used anywhere on-chain.

#![cfg_attr(not(feature = "std"), no_std)]

extern crate alloc;

pub mod demand_response;
pub mod device;
pub mod network;
pub mod plausibility;
pub mod record;
pub mod scores;
pub mod telemetry;
pub mod traits;

pub use demand_response::*;
pub use device::*;
pub use plausibility::*;
pub use record::*;
pub use scores::*;
pub use telemetry::*;
pub use traits::*;

/// Identifier of a registered device, assigned by the device registry in registration order
/// (starting at 1) and never reused.
pub type DeviceId = u32;

/// Energy in watt-hours.
pub type WattHours = u64;
/// Power in watts. Signed where a direction matters (see the telemetry sign convention).
pub type Watts = i32;
/// Unsigned power rating in watts (rated, maximum charge or discharge power).
pub type RatedWatts = u32;
/// A ratio in basis points: 10 000 bp = 100 %.
pub type BasisPoints = u16;
/// Seconds since the Unix epoch.
pub type UnixSeconds = u64;

/// 100 % in basis points.
pub const FULL_BP: BasisPoints = 10_000;
