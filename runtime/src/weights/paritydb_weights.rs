//! What one storage access costs in ParityDB, measured by the benchmark CLI on a chain state
//! filled by `scripts/benchmark-db.sh`; the runtime prices every storage read and write with it.
//!
//! Regenerate with `scripts/benchmark-db.sh`; do not edit by hand.
//!
//! CLI VERSION 64.0.0, DATE 2026-11-25 (Y/M/D)
//! HOSTNAME `vm`, CPU `AMD EPYC`
//! DATABASE `ParityDb`, RUNTIME `OpenVPP Development`, BLOCK `Number(23)`
//! STATE-VERSION `V1`, WARMUPS `1`, BATCH-SIZE `10000`
//! METRIC `Average`, WEIGHT-MUL `1.1`, WEIGHT-ADD `0`

// Executed command:
// /root/.cache/openvpp/target/release/openvpp-node
// benchmark
// storage
// --chain
// /tmp/openvpp-dbbench.h7kGU7/spec.json
// --base-path
// /tmp/openvpp-dbbench.h7kGU7/db
// --database
// paritydb
// --state-version
// 1
// --batch-size
// 10000
// --mul
// 1.1
// --template-path
// scripts/db-weight-template.hbs
// --weight-path
// runtime/src/weights/paritydb_weights.rs

/// Storage weights of the `OpenVPP Development` runtime on `ParityDb`.
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
			// Stats (ns): min 1_042, max 2_115_966,
			// average 7_902, median 6_682,
			// std-dev 23388.91; 99th 15_559,
			// 95th 11_922, 75th 8_366.
			read: 8_693 * constants::WEIGHT_REF_TIME_PER_NANOS,

			// Time to write one storage item, including its share of computing the state root
			// and committing a batch of writes: the *Average* ×
			// 1.1 + 0 ns.
			//
			// Stats (ns): min 11_867, max 26_531,
			// average 17_362, median 17_015,
			// std-dev 2957.53; 99th 26_531,
			// 95th 20_738, 75th 19_621.
			write: 19_099 * constants::WEIGHT_REF_TIME_PER_NANOS,
		};
	}
}
