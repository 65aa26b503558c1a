//! The pallets whose weights this runtime benchmarks (`--features runtime-benchmarks`).
//!
//! `scripts/benchmark.sh` runs them and regenerates each OpenVPP pallet's `weights.rs`.

pub use frame_benchmarking::baseline::Pallet as BaselineBench;
pub use frame_system_benchmarking::Pallet as SystemBench;

pub use crate::*;

impl frame_benchmarking::baseline::Config for Runtime {}
impl frame_system_benchmarking::Config for Runtime {}

frame_benchmarking::define_benchmarks!(
	[frame_benchmarking, BaselineBench::<Runtime>]
	[frame_system, SystemBench::<Runtime>]
	[pallet_balances, Balances]
	[pallet_timestamp, Timestamp]
	[pallet_device_registry, DeviceRegistry]
	[pallet_telemetry, Telemetry]
	[pallet_demand_response, DemandResponse]
	[pallet_rewards, Rewards]
	[pallet_parameters, Parameters]
	[pallet_validator_set, ValidatorSet]
);
