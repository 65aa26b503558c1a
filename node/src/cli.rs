//! Command-line interface.

/// Sub-commands besides running the node.
#[derive(Debug, clap::Subcommand)]
#[allow(clippy::large_enum_variant)]
pub enum Subcommand {
	/// Key management: generate, inspect and insert keys, and the node's network key.
	#[command(subcommand)]
	Key(sc_cli::KeySubcommand),

	/// Build a chain specification (JSON), optionally in raw (storage) form.
	BuildSpec(sc_cli::BuildSpecCmd),

	/// Export a chain specification without starting a node.
	ExportChainSpec(sc_cli::ExportChainSpecCmd),

	/// Validate blocks.
	CheckBlock(sc_cli::CheckBlockCmd),

	/// Export blocks.
	ExportBlocks(sc_cli::ExportBlocksCmd),

	/// Export the state of a given block into a chain spec.
	ExportState(sc_cli::ExportStateCmd),

	/// Import blocks.
	ImportBlocks(sc_cli::ImportBlocksCmd),

	/// Remove the whole chain.
	PurgeChain(sc_cli::PurgeChainCmd),

	/// Revert the chain to a previous state.
	Revert(sc_cli::RevertCmd),

	/// Database metadata.
	ChainInfo(sc_cli::ChainInfoCmd),

	/// Runtime benchmarks: measure the weights of the pallets' calls
	/// (built with `--features runtime-benchmarks`).
	#[cfg(feature = "runtime-benchmarks")]
	#[command(subcommand)]
	Benchmark(BenchmarkCmd),
}

/// The benchmarks this node can run.
#[cfg(feature = "runtime-benchmarks")]
#[derive(Debug, clap::Subcommand)]
pub enum BenchmarkCmd {
	/// Benchmark the extrinsics of one or more pallets and write their `weights.rs`.
	Pallet(frame_benchmarking_cli::PalletCmd),
	/// Compare this machine's hardware with the reference validator hardware.
	Machine(frame_benchmarking_cli::MachineCmd),
	/// Measure what reading and writing one storage item costs on a chain's database and write
	/// the runtime's `DbWeight` (see `scripts/benchmark-db.sh`).
	Storage(frame_benchmarking_cli::StorageCmd),
	/// Time an empty block and a block of remarks on this machine and write the runtime's
	/// `BlockExecutionWeight` and `ExtrinsicBaseWeight` (see `scripts/benchmark-overhead.sh`).
	Overhead(frame_benchmarking_cli::OverheadCmd),
	/// Time one extrinsic in a full block on this machine: `system remark`, `balances
	/// transfer_keep_alive` or `telemetry submit_reports` (a batch of 500 reports; needs a chain
	/// spec with benchmark devices).
	Extrinsic(frame_benchmarking_cli::ExtrinsicCmd),
	/// Re-execute stored blocks and compare their execution time with their weight.
	Block(frame_benchmarking_cli::BlockCmd),
}

/// The `openvpp-node` command line.
#[derive(Debug, clap::Parser)]
#[command(
	propagate_version = true,
	args_conflicts_with_subcommands = true,
	subcommand_negates_reqs = true
)]
pub struct Cli {
	#[command(subcommand)]
	pub subcommand: Option<Subcommand>,

	#[clap(flatten)]
	pub run: sc_cli::RunCmd,
}
