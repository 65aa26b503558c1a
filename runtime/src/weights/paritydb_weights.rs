//! What one storage access costs in ParityDB, measured by the benchmark CLI on a chain state
//! filled by `scripts/benchmark-db.sh`; the runtime prices every storage read and write with it.
//!
//! Regenerate with `scripts/benchmark-db.sh`; do not edit by hand.
//!
//! CLI VERSION 64.0.0, DATE 2026-12-03 (Y/M/D)
//! HOSTNAME `vm`, CPU `AMD EPYC`
//! DATABASE `ParityDb`, RUNTIME `OpenVPP Benchmark`, BLOCK `Number(111)`
//! STATE-VERSION `V1`, WARMUPS `1`, BATCH-SIZE `10000`
//! METRIC `Average`, WEIGHT-MUL `1.1`, WEIGHT-ADD `0`

// Executed command:
// /root/.cache/openvpp/target/release/openvpp-node
// benchmark
// storage
// --chain
// bench:500000
// --base-path
// /tmp/openvpp-bench.UDy3zH/db-alice
// --database
// paritydb
// --state-version
// 1
// --batch-size
// 10000
// --mul
// 1.1
// --disable-pov-recorder
// --template-path
// scripts/db-weight-template.hbs
// --weight-path
// runtime/src/weights/paritydb_weights.rs

/// Storage weights of the `OpenVPP Benchmark` runtime on `ParityDb`.
pub mod constants {
	use frame_support::{
		parameter_types,
		weights::{constants, RuntimeDbWeight},
	};

	parameter_types! {
		/// OpenVPP nodes store state in ParityDB only (see docs/architecture.md).
		pub const ParityDbWeight: RuntimeDbWeight = RuntimeDbWeight {
			// Time to read one storage item: the *Average* of all
			// reads × 1.1 + 0 ns.
			//
			// Stats (ns): min 671, max 4_106_553,
			// average 6_297, median 5_999,
			// std-dev 4392.07; 99th 9_945,
			// 95th 8_362, 75th 6_860.
			read: 6_927 * constants::WEIGHT_REF_TIME_PER_NANOS,

			// Time to write one storage item, including its share of computing the state root
			// and committing a batch of writes: the *Average* ×
			// 1.1 + 0 ns.
			//
			// Stats (ns): min 11_481, max 71_184,
			// average 25_563, median 23_442,
			// std-dev 9568.71; 99th 69_871,
			// 95th 45_422, 75th 27_932.
			write: 28_120 * constants::WEIGHT_REF_TIME_PER_NANOS,
		};
	}
}
