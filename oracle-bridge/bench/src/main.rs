//! `openvpp-bench`: the telemetry throughput benchmark (`scripts/bench-telemetry.sh`).

use std::path::PathBuf;

use anyhow::{bail, Context};
use clap::{Parser, Subcommand};
use openvpp_bench as bench;
use openvpp_bridge::{chain::Chain, compat::RuntimeVersion};

#[derive(Debug, Parser)]
#[command(
	version,
	about = "Finalized throughput of OpenVPP telemetry reports against a transfer flood, on a development chain with benchmark devices."
)]
struct Cli {
	#[command(subcommand)]
	command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
	/// Write a development chain spec extended with benchmark devices (for
	/// scripts/bench-telemetry.sh).
	Spec {
		/// The node binary, to export the development chain spec.
		#[arg(long)]
		node: PathBuf,
		#[arg(long, default_value_t = 10_000)]
		devices: u32,
		#[arg(long)]
		out: PathBuf,
	},
	/// Measure finalized throughput of a transfer flood and of a report flood on a node running a
	/// bench spec, and print a table.
	Run {
		#[arg(long, default_value = "ws://127.0.0.1:9944")]
		url: String,
		#[arg(long, default_value_t = 10_000)]
		devices: u32,
		/// Reports to submit.
		#[arg(long, default_value_t = 120_000)]
		reports: u32,
		/// Reports per batch (the bridge's default; at most the pallet's 1 000).
		#[arg(long, default_value_t = 500)]
		batch: u32,
		/// Transfers to submit for the baseline (0 = skip).
		#[arg(long, default_value_t = 30_000)]
		transfers: u32,
		/// The node's process id, for its CPU and memory.
		#[arg(long)]
		node_pid: Option<u32>,
	},
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
	openvpp_bridge::chain::use_chain_ss58_format();
	openvpp_bridge::init_logging("info");
	match Cli::parse().command {
		Command::Spec { node, devices, out } => {
			let output = std::process::Command::new(&node)
				.args(["build-spec", "--chain", "dev"])
				.stderr(std::process::Stdio::null())
				.output()
				.with_context(|| format!("cannot run {}", node.display()))?;
			if !output.status.success() {
				bail!("{} build-spec failed", node.display());
			}
			let spec: serde_json::Value =
				serde_json::from_slice(&output.stdout).context("build-spec output is not JSON")?;
			let spec =
				openvpp_bench::bench_chain_spec(spec, devices).map_err(anyhow::Error::msg)?;
			std::fs::write(&out, serde_json::to_vec(&spec)?)
				.with_context(|| format!("cannot write {}", out.display()))?;
			println!("{}", out.display());
			Ok(())
		}
		Command::Run { url, devices, reports, batch, transfers, node_pid } => {
			let chain =
				Chain::connect(&url).await.with_context(|| format!("cannot reach {url}"))?;
			chain.check_built_with(RuntimeVersion::of(&openvpp_runtime::VERSION)).await?;
			let mut results = Vec::new();
			if transfers > 0 {
				results.push(bench::transfer_flood(&chain, transfers, node_pid).await?);
				println!("{}", bench::table(&results, devices));
			}
			results.push(
				bench::report_flood(&chain, devices, reports, batch.clamp(1, 1_000), node_pid)
					.await?,
			);
			println!("{}", bench::table(&results, devices));
			Ok(())
		}
	}
}
