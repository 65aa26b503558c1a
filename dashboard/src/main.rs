//! `openvpp-dashboard`: the operator console of an OpenVPP network, served on 127.0.0.1.
//!
//! The page (`dashboard/static/`, built into this binary) reads the chain itself, from the
//! node's `vpp_*` JSON-RPC, in the browser: this server only hands out the files and tells the
//! page where the node is. The node must accept the page's origin (`--rpc-cors`; a `--dev`
//! node accepts every origin).

mod server;
mod site;

use std::net::SocketAddr;

use anyhow::Context;
use clap::Parser;
use tokio::{net::TcpListener, sync::watch};

use site::{RpcUrl, Site};

#[derive(Parser, Debug)]
#[command(
	name = "openvpp-dashboard",
	about = "Serve the OpenVPP operator console on a local address"
)]
struct Cli {
	/// Address to serve the page on (port 0 picks a free port).
	#[arg(long, default_value = "127.0.0.1:9955")]
	listen: SocketAddr,
	/// The node's JSON-RPC, as the browser reaches it (http:// or ws://, same port).
	#[arg(long, default_value = "http://127.0.0.1:9944")]
	rpc: String,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
	tracing_subscriber::fmt()
		.with_env_filter(
			tracing_subscriber::EnvFilter::try_from_default_env()
				.unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
		)
		.init();
	let cli = Cli::parse();
	let rpc = RpcUrl::parse(&cli.rpc)?;
	let listener = TcpListener::bind(cli.listen)
		.await
		.with_context(|| format!("cannot listen on {}", cli.listen))?;
	let address = listener.local_addr().context("the address listened on")?;
	// Scripts read this line for the port.
	println!("dashboard: http://{address}/ (reading the chain at {rpc})");

	let (stop, shutdown) = watch::channel(false);
	tokio::spawn(async move {
		wait_for_signal().await;
		tracing::info!("stopping");
		let _ = stop.send(true);
	});
	server::serve(listener, Site::new(rpc), shutdown).await.context("serving the dashboard")?;
	Ok(())
}

async fn wait_for_signal() {
	use tokio::signal::unix::{signal, SignalKind};
	match signal(SignalKind::terminate()) {
		Ok(mut terminate) => tokio::select! {
			_ = tokio::signal::ctrl_c() => {},
			_ = terminate.recv() => {},
		},
		Err(error) => {
			tracing::warn!(%error, "cannot watch for SIGTERM; stopping on Ctrl-C only");
			let _ = tokio::signal::ctrl_c().await;
		}
	}
}
