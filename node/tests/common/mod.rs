//! Helpers for tests that run real `openvpp-node` processes on 127.0.0.1.
//!
//! Every process is owned by a [`NodeProcess`], which kills it when dropped, so a failing or
//! panicking test never leaves a node behind.

#![allow(dead_code)]

use std::{
	path::Path,
	process::{Command, ExitStatus},
	time::{Duration, Instant},
};

use codec::Decode;
use jsonrpsee::{
	core::client::ClientT,
	http_client::{HttpClient, HttpClientBuilder},
	rpc_params,
};
use openvpp_runtime::{AccountId, Balance, Runtime};
pub use openvpp_testkit::free_port;
use openvpp_testkit::Process;
use sp_core::H256;

/// Path of the node binary Cargo built for this test run.
pub const NODE_BINARY: &str = env!("CARGO_BIN_EXE_openvpp-node");

/// A running node process, killed when dropped.
pub struct NodeProcess {
	process: Process,
	pub name: String,
	pub rpc_port: u16,
	pub p2p_port: u16,
	_workdir: tempfile::TempDir,
}

/// What to start a node with.
pub struct NodeConfig<'a> {
	pub name: &'a str,
	/// `--dev`, or a chain name such as `local`.
	pub chain: Option<&'a str>,
	/// Extra arguments (`--alice`, `--validator`, `--bootnodes …`).
	pub args: Vec<String>,
	/// Keep the database here instead of a fresh temporary directory (for restarts).
	pub base_path: Option<&'a Path>,
	/// Hex-encoded libp2p secret key, for a predictable peer id.
	pub node_key: Option<&'a str>,
}

impl NodeProcess {
	pub fn start(config: NodeConfig<'_>) -> NodeProcess {
		let workdir = tempfile::Builder::new()
			.prefix(&format!("openvpp-e2e-{}-", config.name))
			.tempdir()
			.expect("create a temporary directory");
		let rpc_port = free_port();
		let p2p_port = free_port();

		let mut command = Command::new(NODE_BINARY);
		match config.chain {
			None => {
				command.arg("--dev");
			}
			Some(chain) => {
				command.args(["--chain", chain]);
			}
		}
		match config.base_path {
			Some(path) => command.arg("--base-path").arg(path),
			None => command.arg("--base-path").arg(workdir.path().join("db")),
		};
		if let Some(key) = config.node_key {
			command.args(["--node-key", key]);
		}
		command
			.args(["--name", config.name])
			.args(["--rpc-port", &rpc_port.to_string()])
			.args(["--listen-addr", &format!("/ip4/127.0.0.1/tcp/{p2p_port}")])
			.args(["--no-prometheus", "--no-telemetry", "--no-mdns"])
			.args(&config.args);
		let process = Process::spawn(config.name, command, workdir.path().join("node.log"));

		NodeProcess {
			process,
			name: config.name.to_string(),
			rpc_port,
			p2p_port,
			_workdir: workdir,
		}
	}

	/// Starts a `--dev` node on fresh ports with a temporary database.
	pub fn dev(name: &str) -> NodeProcess {
		NodeProcess::start(NodeConfig {
			name,
			chain: None,
			args: Vec::new(),
			base_path: None,
			node_key: None,
		})
	}

	pub fn http_url(&self) -> String {
		format!("http://127.0.0.1:{}", self.rpc_port)
	}

	pub fn ws_url(&self) -> String {
		format!("ws://127.0.0.1:{}", self.rpc_port)
	}

	/// The last lines of the node's log, for failure messages.
	pub fn log_tail(&self) -> String {
		self.process.log_tail(40)
	}

	/// Sends SIGINT and waits up to `timeout` for the process to exit.
	pub fn interrupt_and_wait(&mut self, timeout: Duration) -> Option<ExitStatus> {
		self.process.signal_and_wait(libc::SIGINT, timeout)
	}

	/// Kills the process (SIGKILL) and reaps it.
	pub fn kill(&mut self) {
		self.process.kill();
	}
}

pub fn http_client(node: &NodeProcess) -> HttpClient {
	HttpClientBuilder::default()
		.request_timeout(Duration::from_secs(30))
		.build(node.http_url())
		.expect("build an HTTP JSON-RPC client")
}

/// Waits until the node answers JSON-RPC, or panics after `timeout`.
pub async fn wait_for_rpc(node: &NodeProcess, timeout: Duration) -> HttpClient {
	let client = http_client(node);
	let deadline = Instant::now() + timeout;
	loop {
		let health: Result<serde_json::Value, _> =
			client.request("system_health", rpc_params![]).await;
		if health.is_ok() {
			return client;
		}
		assert!(
			Instant::now() < deadline,
			"{} did not answer JSON-RPC within {timeout:?}\n{}",
			node.name,
			node.log_tail()
		);
		tokio::time::sleep(Duration::from_millis(250)).await;
	}
}

fn parse_block_number(header: &serde_json::Value) -> u32 {
	let hex = header["number"].as_str().expect("header has a number");
	u32::from_str_radix(hex.trim_start_matches("0x"), 16).expect("block number is hex")
}

/// Height of the node's finalized head.
pub async fn finalized_number(client: &HttpClient) -> u32 {
	let hash: String =
		client.request("chain_getFinalizedHead", rpc_params![]).await.expect("finalized head");
	let header: serde_json::Value =
		client.request("chain_getHeader", rpc_params![hash]).await.expect("header");
	parse_block_number(&header)
}

/// Height of the node's best block.
pub async fn best_number(client: &HttpClient) -> u32 {
	let header: serde_json::Value =
		client.request("chain_getHeader", rpc_params![]).await.expect("best header");
	parse_block_number(&header)
}

/// Waits until the finalized height reaches `target`, or panics after `timeout`.
pub async fn wait_for_finalized(
	node: &NodeProcess,
	client: &HttpClient,
	target: u32,
	timeout: Duration,
) -> u32 {
	let deadline = Instant::now() + timeout;
	loop {
		let finalized = finalized_number(client).await;
		if finalized >= target {
			return finalized;
		}
		assert!(
			Instant::now() < deadline,
			"{}: finalized height {finalized} did not reach {target} within {timeout:?}\n{}",
			node.name,
			node.log_tail()
		);
		tokio::time::sleep(Duration::from_millis(500)).await;
	}
}

/// The chain's genesis hash.
pub async fn genesis_hash(client: &HttpClient) -> H256 {
	let hash: H256 =
		client.request("chain_getBlockHash", rpc_params![0u32]).await.expect("genesis hash");
	hash
}

/// The free balance of `account` at block `at` (the best block if `None`).
pub async fn free_balance(client: &HttpClient, account: &AccountId, at: Option<H256>) -> Balance {
	let key = frame_system::Account::<Runtime>::hashed_key_for(account);
	let raw: Option<sp_core::Bytes> = client
		.request("state_getStorage", rpc_params![sp_core::Bytes(key), at])
		.await
		.expect("state_getStorage");
	match raw {
		None => 0,
		Some(bytes) => {
			let info = frame_system::AccountInfo::<
				openvpp_runtime::Nonce,
				pallet_balances::AccountData<Balance>,
			>::decode(&mut &bytes[..])
			.expect("decode AccountInfo");
			info.data.free
		}
	}
}
