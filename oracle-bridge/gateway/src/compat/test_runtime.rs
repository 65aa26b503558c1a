//! The runtime of this source tree, for tests that check the gateway's types against it.

use frame_metadata::{v14::RuntimeMetadataV14, RuntimeMetadata};

use super::{NodeRuntime, RuntimeVersion};

/// The runtime's metadata. Some of its constants are runtime parameters read from storage:
/// empty storage gives their defaults, which is all the shapes need.
pub fn metadata() -> RuntimeMetadataV14 {
	match sp_io::TestExternalities::default()
		.execute_with(|| openvpp_runtime::Runtime::metadata().1)
	{
		RuntimeMetadata::V14(metadata) => metadata,
		other => panic!("metadata version {}", other.version()),
	}
}

/// The runtime's versions, with another spec version.
pub fn version(spec_version: u32) -> RuntimeVersion {
	RuntimeVersion { spec_version, ..RuntimeVersion::of(&openvpp_runtime::VERSION) }
}

/// A node running `metadata`, as the gateway sees it.
pub fn node_with(metadata: RuntimeMetadataV14) -> NodeRuntime {
	NodeRuntime::new(version(openvpp_runtime::VERSION.spec_version), metadata)
}

/// A node running the runtime of this tree.
pub fn node() -> NodeRuntime {
	node_with(metadata())
}
