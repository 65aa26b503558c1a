//! `openvpp-demo`: demonstrations on a development chain (see the crate's documentation).

use std::{net::SocketAddr, path::PathBuf, time::Duration};

use anyhow::Context;
use clap::{Parser, Subcommand};
use openvpp_bridge::{chain::Chain, compat::RuntimeVersion};
use openvpp_sim::demo;

#[derive(Debug, Parser)]
#[command(
	version,
	about = "Demonstrations on an OpenVPP development chain: the demo bridge configuration, the larger simulated fleet, a demand-response event."
)]
struct Cli {
	#[command(subcommand)]
	command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
	/// Write a bridge configuration and keystore for the demo fleet served by openvpp-sim.
	Config {
		/// Directory to write bridge.toml and keystore.json to.
		#[arg(long)]
		out: PathBuf,
		#[arg(long, default_value = "ws://127.0.0.1:9944")]
		url: String,
		#[arg(long, default_value_t = 1883)]
		mqtt_port: u16,
		#[arg(long, default_value_t = 15_020)]
		modbus_base_port: u16,
		#[arg(long, default_value_t = 30)]
		interval_s: u32,
		/// Serve Prometheus metrics here.
		#[arg(long)]
		metrics: Option<SocketAddr>,
		/// Also serve the first N batteries of the larger fleet (see `fleet`).
		#[arg(long, default_value_t = 0, value_parser = clap::value_parser!(u32).range(0..=i64::from(demo::MAX_FLEET)))]
		fleet: u32,
	},
	/// On a development chain: register the first N home batteries of the larger simulated
	/// fleet (devices 8 … 7 + N, owned by Eve, in DE-50HERTZ) and have Dave approve them, before
	/// starting the bridge configured by `config --fleet N`. With --consent, once the
	/// bridge runs: wait for each battery's first report and let the gateway join events for it.
	Fleet {
		#[arg(long, default_value = "ws://127.0.0.1:9944")]
		url: String,
		#[arg(long)]
		count: u32,
		/// Consent for the registered batteries once they have reported, instead of
		/// registering them.
		#[arg(long)]
		consent: bool,
		/// With --consent: wait this long (s) for the batteries' first reports.
		#[arg(long, default_value_t = 600)]
		wait_s: u64,
	},
	/// On a development chain: Alice lets the gateway join events for her home battery, Charlie
	/// becomes an operator and announces a discharge event for home batteries in DE-TENNET.
	/// Prints the event's id. Uses the dev accounts' public keys: development chains only.
	Event {
		#[arg(long, default_value = "ws://127.0.0.1:9944")]
		url: String,
		/// Seconds from now to the start (devices join until a minute before; at least 60).
		#[arg(long, default_value_t = 180)]
		start_in_s: u64,
		/// The event's length (s), a multiple of --interval-length-s.
		#[arg(long, default_value_t = 600)]
		duration_s: u32,
		/// The intervals the event is measured in (s, 60–3600).
		#[arg(long, default_value_t = 300)]
		interval_length_s: u32,
		/// Wait this long (s) for the battery's first report.
		#[arg(long, default_value_t = 600)]
		wait_s: u64,
		/// Also announce a discharge event for the first N batteries of the larger fleet
		/// (registered with `fleet`), at the same time.
		#[arg(long, default_value_t = 0)]
		fleet: u32,
	},
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
	// Addresses print and parse in the chain's SS58 format.
	openvpp_bridge::chain::use_chain_ss58_format();
	openvpp_bridge::init_logging("info");
	match Cli::parse().command {
		Command::Config { out, url, mqtt_port, modbus_base_port, interval_s, metrics, fleet } => {
			let layout = demo::DemoLayout { mqtt_port, modbus_base_port };
			let path = demo::write_demo_files(&out, &url, layout, interval_s, metrics, fleet)
				.with_context(|| format!("cannot write to {}", out.display()))?;
			println!("{}", path.display());
			Ok(())
		}
		Command::Fleet { url, count, consent, wait_s } => {
			use openvpp_demo::fleet;
			let chain =
				Chain::connect(&url).await.with_context(|| format!("cannot reach {url}"))?;
			chain.check_built_with(RuntimeVersion::of(&openvpp_runtime::VERSION)).await?;
			if consent {
				let enrolled = fleet::consent(&chain, count, Duration::from_secs(wait_s)).await?;
				println!("larger fleet of {count}: {enrolled} enrolled by this run, every battery consented");
			} else {
				let done = fleet::register(&chain, count).await?;
				println!(
					"larger fleet of {count}: {} registered and {} approved by this run",
					done.registered, done.approved
				);
			}
			Ok(())
		}
		Command::Event { url, start_in_s, duration_s, interval_length_s, wait_s, fleet } => {
			use openvpp_demo::event::{self as demo_event, DemoEvent};
			let chain =
				Chain::connect(&url).await.with_context(|| format!("cannot reach {url}"))?;
			chain.check_built_with(RuntimeVersion::of(&openvpp_runtime::VERSION)).await?;
			let event =
				DemoEvent { start_in_s, duration_s, interval_length_s, ..Default::default() };
			let (id, start) = demo_event::run(&chain, event, Duration::from_secs(wait_s)).await?;
			println!("demand-response event #{id} starts at {start} (Unix s)");
			if fleet > 0 {
				let id = demo_event::create_fleet_event(&chain, event, start, fleet).await?;
				println!(
					"demand-response event #{id} for the larger fleet starts at {start} (Unix s)"
				);
			}
			Ok(())
		}
	}
}
