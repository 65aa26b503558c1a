//! Weights measured for this runtime on its own database (generated; see each file's header).

pub mod block_weights;
pub mod extrinsic_weights;
pub mod paritydb_weights;

pub use block_weights::BlockExecutionWeight;
pub use extrinsic_weights::ExtrinsicBaseWeight;
