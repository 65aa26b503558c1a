//! Weights measured for this runtime on its own database (generated; see each file's header).

pub mod paritydb_weights;
