//! `openvpp-bench`: the throughput benchmarks (`scripts/bench-telemetry.sh`,
//! `scripts/bench-scale.sh`).

use anyhow::Context;
use clap::{Parser, Subcommand};
use openvpp_bench as bench;
use openvpp_bridge::{chain::Chain, compat::RuntimeVersion};

#[derive(Debug, Parser)]
#[command(
	version,
	about = "Finalized throughput of a saturated transfer flood and of a report flood on an OpenVPP benchmark chain (openvpp-node --chain bench:<devices>)."
)]
struct Cli {
	#[command(subcommand)]
	command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
	/// Measure finalized throughput of a transfer flood and of a report flood on a node running
	/// a benchmark chain, and print a table.
	Run {
		/// The nodes to submit to (repeat the option for several; the first is also read).
		#[arg(long, default_value = "ws://127.0.0.1:9944")]
		url: Vec<String>,
		/// Reports to submit (0 = skip).
		#[arg(long, default_value_t = 120_000)]
		reports: u32,
		/// Devices the reports come from (at most the fleet's; all of them by default).
		#[arg(long)]
		devices: Option<u32>,
		/// Reports per batch (the size docs/performance.md measured; gateways send 250 by default;
		/// at most the pallet's 1 000).
		#[arg(long, default_value_t = 500)]
		batch: u32,
		/// Transfers to submit for the baseline (0 = skip).
		#[arg(long, default_value_t = 30_000)]
		transfers: u32,
		/// Senders of the transfers (at most the fleet's).
		#[arg(long, default_value_t = 4_000)]
		senders: u32,
		/// WebSocket connections each flood is submitted over.
		#[arg(long, default_value_t = 8)]
		connections: u32,
		/// Submissions in flight on each connection.
		#[arg(long, default_value_t = 128)]
		in_flight: u32,
		/// Transfers a second at most (0: unpaced). Full blocks take about 500 a second; three
		/// validators on two cores stopped gossiping (and so authoring) at 1 000 a second and
		/// held at the default, 400.
		#[arg(long, default_value_t = 400)]
		transfer_rate: u32,
		/// Reports a second at most (0: unpaced).
		#[arg(long, default_value_t = 5_000)]
		report_rate: u32,
		/// Process ids of the nodes (repeat the option for several), for their CPU and memory.
		#[arg(long)]
		node_pid: Vec<u32>,
	},
	/// Measure what finalized blocks carry of a fleet reporting as in service: every device one
	/// current reading an interval, each gateway releasing its devices' readings at each minute
	/// boundary in batches, with a share flagged and a share refused; print a table.
	Live {
		/// The nodes to submit to (repeat the option for several; the first is also read).
		#[arg(long, default_value = "ws://127.0.0.1:9944")]
		url: Vec<String>,
		#[command(flatten)]
		plan: LiveArgs,
		/// WebSocket connections the readings are submitted over.
		#[arg(long, default_value_t = 8)]
		connections: u32,
		/// Submissions in flight on each connection.
		#[arg(long, default_value_t = 64)]
		in_flight: u32,
		/// Process ids of the nodes (repeat the option for several), for their CPU and memory.
		#[arg(long)]
		node_pid: Vec<u32>,
		/// Home batteries of the live range that take part in a demand-response event run
		/// through the phase, discharging at --dr-committed-w while it lasts (0: no event). It
		/// starts the first whole number of intervals at least 5 minutes after the first
		/// release, lasts 2 × --interval-s and settles ten minutes after its end: give the phase
		/// two minutes more than that (22 minutes at --interval-s 120) to settle it among the
		/// readings.
		#[arg(long, default_value_t = 0)]
		dr_participants: u32,
		/// Power each participant commits (W; a benchmark home battery discharges 5 000 W).
		#[arg(long, default_value_t = 2_000)]
		dr_committed_w: u32,
	},
}

/// Which readings `live` sends.
#[derive(Debug, Clone, Copy, clap::Args)]
struct LiveArgs {
	/// The fleet index of the first device that reports (leave out devices that reported at
	/// another interval: their counters would not follow on).
	#[arg(long, default_value_t = 0)]
	first_device: u32,
	/// Devices that report (from --first-device; the rest of the fleet by default).
	#[arg(long)]
	devices: Option<u32>,
	/// Each device's reporting interval (s), a whole number of minutes.
	#[arg(long, default_value_t = 300)]
	interval_s: u32,
	/// Minute boundaries at which readings are released (a block every 6 s: 10 a minute).
	#[arg(long, default_value_t = 15)]
	minutes: u32,
	/// Reports per batch (the bridge's default).
	#[arg(long, default_value_t = openvpp_primitives::network::DEFAULT_REPORTS_PER_BATCH)]
	batch: u32,
	/// Share of readings the chain flags (basis points).
	#[arg(long, default_value_t = 100)]
	flagged_bp: u16,
	/// Share of readings the chain refuses (basis points).
	#[arg(long, default_value_t = 100)]
	rejected_bp: u16,
}

impl LiveArgs {
	/// The plan for a fleet of `fleet_devices`, or what is wrong with the arguments.
	fn plan(&self, fleet_devices: u32) -> anyhow::Result<bench::LivePlan> {
		let LiveArgs { first_device, devices, interval_s, minutes, batch, flagged_bp, rejected_bp } =
			*self;
		anyhow::ensure!(
			interval_s >= 60 && interval_s.is_multiple_of(60),
			"--interval-s must be a whole number of minutes (got {interval_s})"
		);
		anyhow::ensure!(minutes > 0, "--minutes must be at least 1");
		anyhow::ensure!((1..=1_000).contains(&batch), "--batch must be 1 to 1 000 (got {batch})");
		anyhow::ensure!(
			u32::from(flagged_bp) + u32::from(rejected_bp) <= 10_000,
			"--flagged-bp and --rejected-bp add up to more than 10 000"
		);
		anyhow::ensure!(
			first_device < fleet_devices,
			"--first-device {first_device} is beyond the fleet's {fleet_devices} devices"
		);
		let rest = fleet_devices - first_device;
		Ok(bench::LivePlan {
			first: first_device,
			devices: devices.unwrap_or(rest).min(rest),
			interval_s,
			minutes,
			batch,
			flagged_bp,
			rejected_bp,
		})
	}
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
	openvpp_bridge::chain::use_chain_ss58_format();
	openvpp_bridge::init_logging("info");
	match Cli::parse().command {
		Command::Run {
			url,
			reports,
			devices,
			batch,
			transfers,
			senders,
			connections,
			in_flight,
			transfer_rate,
			report_rate,
			node_pid,
		} => {
			let first = url.first().context("--url names no node")?;
			let chain =
				Chain::connect(first).await.with_context(|| format!("cannot reach {first}"))?;
			chain.check_built_with(RuntimeVersion::of(&openvpp_runtime::VERSION)).await?;
			let fleet = bench::chain_fleet(&chain).await?;
			let devices = devices.unwrap_or(fleet.devices).min(fleet.devices);
			let mut results = Vec::new();
			if transfers > 0 {
				let shape = bench::FloodShape {
					senders: senders.min(fleet.senders),
					connections,
					in_flight,
					per_second: transfer_rate,
				};
				results
					.push(bench::transfer_flood(&url, &chain, transfers, shape, &node_pid).await?);
				println!("{}", bench::table(&results, devices));
			}
			if reports > 0 {
				let shape = bench::FloodShape {
					senders: 0,
					connections,
					in_flight,
					per_second: report_rate,
				};
				results.push(
					bench::report_flood(
						&url,
						&chain,
						fleet,
						bench::ReportPlan { devices, total: reports, batch: batch.clamp(1, 1_000) },
						shape,
						&node_pid,
					)
					.await?,
				);
				println!("{}", bench::table(&results, devices));
			}
			Ok(())
		}
		Command::Live {
			url,
			plan,
			connections,
			in_flight,
			node_pid,
			dr_participants,
			dr_committed_w,
		} => {
			anyhow::ensure!(
				dr_participants == 0 || dr_committed_w > 0,
				"--dr-committed-w must be positive"
			);
			let first = url.first().context("--url names no node")?;
			let chain =
				Chain::connect(first).await.with_context(|| format!("cannot reach {first}"))?;
			chain.check_built_with(RuntimeVersion::of(&openvpp_runtime::VERSION)).await?;
			let fleet = bench::chain_fleet(&chain).await?;
			let plan = plan.plan(fleet.devices)?;
			let shape = bench::FloodShape { senders: 0, connections, in_flight, per_second: 0 };
			let demand = (dr_participants > 0).then_some(bench::DemandPlan {
				participants: dr_participants,
				committed_w: dr_committed_w,
			});
			let (result, tally, demand) =
				bench::live_reports(&url, &chain, fleet, plan, shape, &node_pid, demand).await?;
			println!("{}", bench::table(std::slice::from_ref(&result), plan.devices));
			println!("{}", bench::live_summary(&tally, &result));
			if let Some(demand) = demand {
				let driven = demand.driven.context("the demand-response event")?;
				println!("{}", bench::demand_summary(&driven, &demand.observed, &demand.plan));
			}
			Ok(())
		}
	}
}

#[cfg(test)]
mod tests {
	use super::*;

	fn args() -> LiveArgs {
		LiveArgs {
			first_device: 100,
			devices: None,
			interval_s: 300,
			minutes: 15,
			batch: 250,
			flagged_bp: 100,
			rejected_bp: 100,
		}
	}

	#[test]
	fn a_live_plan_takes_the_rest_of_the_fleet_by_default() {
		let plan = args().plan(1_000).unwrap();
		assert_eq!((plan.first, plan.devices), (100, 900));
		let plan = LiveArgs { devices: Some(5_000), ..args() }.plan(1_000).unwrap();
		assert_eq!(plan.devices, 900);
	}

	#[test]
	fn bad_live_arguments_are_refused_with_what_is_wrong() {
		let refused = |args: LiveArgs, says: &str| {
			let error = args.plan(1_000).unwrap_err().to_string();
			assert!(error.contains(says), "{error}");
		};
		refused(LiveArgs { interval_s: 90, ..args() }, "--interval-s");
		refused(LiveArgs { interval_s: 0, ..args() }, "--interval-s");
		refused(LiveArgs { minutes: 0, ..args() }, "--minutes");
		refused(LiveArgs { batch: 1_001, ..args() }, "--batch");
		refused(LiveArgs { flagged_bp: 9_000, rejected_bp: 2_000, ..args() }, "10 000");
		refused(LiveArgs { first_device: 1_000, ..args() }, "--first-device");
	}
}
