fn main() {
	#[cfg(feature = "std")]
	{
		// The wasm is built by a nested cargo project inside the target directory. Our target
		// directory lives outside the repository (see scripts/common.sh), where the builder
		// cannot find the workspace's Cargo.lock by itself; point it there, so that the wasm
		// uses exactly the locked dependency versions. Only this crate's build sees the hint
		// (other runtimes in the dependency graph must not). The directory is read when the
		// script runs, not when it was compiled: checkouts at other paths sharing the target
		// directory reuse the compiled script.
		if std::env::var_os("WASM_BUILD_WORKSPACE_HINT").is_none() {
			if let Some(manifest_dir) = std::env::var_os("CARGO_MANIFEST_DIR") {
				if let Some(workspace) = std::path::Path::new(&manifest_dir).parent() {
					std::env::set_var("WASM_BUILD_WORKSPACE_HINT", workspace);
				}
			}
		}
		substrate_wasm_builder::WasmBuilder::build_using_defaults();
	}
}
