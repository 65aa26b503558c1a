//! Running the real parts in tests: node, MQTT broker, simulator and bridge processes on
//! 127.0.0.1, each owned by a [`Process`] that kills it when dropped, so that a failing test
//! never leaves anything behind.
//!
//! Used by the gateway's end-to-end tests and the node's.

#![allow(clippy::expect_used, clippy::panic)]

use std::{
	fs::File,
	io::Read,
	net::TcpListener,
	path::{Path, PathBuf},
	process::{Child, Command, ExitStatus, Stdio},
	time::{Duration, Instant},
};

/// Ports the tests listen on: below Linux's ephemeral range (32768–60999), from which the
/// kernel takes the source port of every outgoing connection. A port picked there and released
/// until a process binds it can meanwhile become some connection's source port — and a node
/// whose `--rpc-port` is taken quietly listens on another one. Tests running beside each other
/// (the test command's two lanes) open many connections.
const TEST_PORTS: std::ops::Range<u16> = 20_000..32_000;

/// A port on 127.0.0.1 that nothing listens on right now, picked at random from
/// [`TEST_PORTS`] so that tests in other processes rarely pick the same one.
pub fn free_port() -> u16 {
	use std::hash::{BuildHasher, Hasher};
	let span = u64::from(TEST_PORTS.end - TEST_PORTS.start);
	for _ in 0..1_000 {
		// Each `RandomState` is freshly keyed: a random number without a dependency.
		let random = std::collections::hash_map::RandomState::new().build_hasher().finish();
		let port = TEST_PORTS.start + (random % span) as u16;
		if TcpListener::bind(("127.0.0.1", port)).is_ok() {
			return port;
		}
	}
	panic!("no free port in {TEST_PORTS:?}");
}

/// A base port such that `base + 1 ..= base + count` are all free.
pub fn free_port_range(count: u16) -> u16 {
	for _ in 0..100 {
		let base = free_port().saturating_sub(count + 1).max(1_024);
		if (1..=count).all(|i| TcpListener::bind(("127.0.0.1", base + i)).is_ok()) {
			return base;
		}
	}
	panic!("no free range of {count} ports");
}

/// Where `cargo test` put the workspace's binaries (`target/<profile>/`).
pub fn target_dir() -> PathBuf {
	let exe = std::env::current_exe().expect("test executable path");
	// target/<profile>/deps/<test>-<hash>
	exe.parent().and_then(Path::parent).expect("target directory").to_path_buf()
}

/// A binary of the workspace built alongside the tests (`cargo test --workspace` builds every
/// package's binaries; a single package's tests need the others built first).
pub fn workspace_binary(name: &str) -> PathBuf {
	let path = target_dir().join(name);
	assert!(
		path.exists(),
		"{} does not exist: build it first (cargo build --release -p {name}) or run the workspace's tests",
		path.display()
	);
	path
}

/// The node binary built alongside the tests (or `OPENVPP_NODE`).
pub fn node_binary() -> PathBuf {
	let path = std::env::var_os("OPENVPP_NODE")
		.map(PathBuf::from)
		.unwrap_or_else(|| target_dir().join("openvpp-node"));
	assert!(
		path.exists(),
		"{} does not exist: build the node first (cargo build --release -p openvpp-node) or set OPENVPP_NODE",
		path.display()
	);
	path
}

/// A child process, killed when dropped.
pub struct Process {
	child: Option<Child>,
	pub name: String,
	pub log_path: PathBuf,
}

impl Process {
	/// Starts `command` with its output in `log_path`.
	pub fn spawn(name: &str, mut command: Command, log_path: PathBuf) -> Process {
		let log = File::create(&log_path).expect("create the process log");
		command
			.stdin(Stdio::null())
			.stdout(log.try_clone().expect("clone the log handle"))
			.stderr(log);
		let child = command.spawn().unwrap_or_else(|e| panic!("cannot start {name}: {e}"));
		Process { child: Some(child), name: name.to_string(), log_path }
	}

	pub fn pid(&self) -> Option<u32> {
		self.child.as_ref().map(Child::id)
	}

	/// The last lines of the log.
	pub fn log_tail(&self, lines: usize) -> String {
		let mut text = String::new();
		if let Ok(mut file) = File::open(&self.log_path) {
			let _ = file.read_to_string(&mut text);
		}
		let all: Vec<&str> = text.lines().collect();
		format!(
			"--- last lines of {} ---\n{}",
			self.name,
			all[all.len().saturating_sub(lines)..].join("\n")
		)
	}

	/// The whole log.
	pub fn log(&self) -> String {
		std::fs::read_to_string(&self.log_path).unwrap_or_default()
	}

	/// Sends `signal` and waits up to `timeout` for the exit.
	pub fn signal_and_wait(&mut self, signal: i32, timeout: Duration) -> Option<ExitStatus> {
		let child = self.child.as_mut()?;
		let pid = libc::pid_t::try_from(child.id()).expect("pid fits pid_t");
		// SAFETY: sending a signal to a child process we own and have not reaped.
		unsafe {
			libc::kill(pid, signal);
		}
		let deadline = Instant::now() + timeout;
		loop {
			match child.try_wait() {
				Ok(Some(status)) => {
					self.child = None;
					return Some(status);
				}
				Ok(None) if Instant::now() < deadline => {
					std::thread::sleep(Duration::from_millis(100))
				}
				_ => return None,
			}
		}
	}

	/// SIGKILL, as a crash would.
	pub fn kill(&mut self) {
		if let Some(mut child) = self.child.take() {
			let _ = child.kill();
			let _ = child.wait();
		}
	}

	pub fn is_running(&mut self) -> bool {
		self.child.as_mut().is_some_and(|c| matches!(c.try_wait(), Ok(None)))
	}
}

impl Drop for Process {
	fn drop(&mut self) {
		if std::thread::panicking() {
			let lines = std::env::var("OPENVPP_TEST_LOG_LINES")
				.ok()
				.and_then(|n| n.parse().ok())
				.unwrap_or(60);
			eprintln!("{}", self.log_tail(lines));
		}
		self.kill();
	}
}

/// Starts `openvpp-node --dev` with its database in `base_path` (so it can be restarted).
pub fn start_dev_node(base_path: &Path, rpc_port: u16, log_dir: &Path) -> Process {
	let mut command = Command::new(node_binary());
	command
		.arg("--dev")
		.arg("--base-path")
		.arg(base_path)
		.args(["--rpc-port", &rpc_port.to_string()])
		.args(["--listen-addr", &format!("/ip4/127.0.0.1/tcp/{}", free_port())])
		.args(["--no-prometheus", "--no-telemetry", "--no-mdns"]);
	Process::spawn("node", command, log_dir.join(format!("node-{rpc_port}-{}.log", now_tag())))
}

/// Starts mosquitto listening on 127.0.0.1:`port` only.
pub fn start_mosquitto(port: u16, dir: &Path) -> Process {
	start_mosquitto_with(port, dir, "allow_anonymous true\n")
}

/// Starts mosquitto listening on 127.0.0.1:`port` only, with `settings` (lines of
/// `mosquitto.conf` that apply to the listener: TLS files, password file, …).
pub fn start_mosquitto_with(port: u16, dir: &Path, settings: &str) -> Process {
	let config = dir.join(format!("mosquitto-{port}.conf"));
	// Started as root, mosquitto would switch to its own user, which may not read the test's
	// files; it keeps the user it runs as with `user root` (ignored when not root).
	std::fs::write(
		&config,
		format!("per_listener_settings false\nuser root\npersistence false\nlistener {port} 127.0.0.1\n{settings}"),
	)
	.expect("write the mosquitto configuration");
	let mut command = Command::new("mosquitto");
	command.arg("-c").arg(&config);
	Process::spawn("mosquitto", command, dir.join(format!("mosquitto-{port}-{}.log", now_tag())))
}

fn now_tag() -> u128 {
	std::time::SystemTime::now()
		.duration_since(std::time::UNIX_EPOCH)
		.map(|d| d.as_millis())
		.unwrap_or_default()
}

/// Waits until `probe` returns `Some`, or panics with `what` after `timeout`.
pub async fn wait_for<T, F, Fut>(what: &str, timeout: Duration, mut probe: F) -> T
where
	F: FnMut() -> Fut,
	Fut: std::future::Future<Output = Option<T>>,
{
	let deadline = Instant::now() + timeout;
	loop {
		if let Some(value) = probe().await {
			return value;
		}
		assert!(Instant::now() < deadline, "timed out after {timeout:?} waiting for {what}");
		tokio::time::sleep(Duration::from_millis(500)).await;
	}
}

/// Waits until TCP connections to `port` succeed.
pub async fn wait_for_port(port: u16, timeout: Duration) {
	wait_for(&format!("port {port}"), timeout, || async move {
		tokio::net::TcpStream::connect(("127.0.0.1", port)).await.ok().map(|_| ())
	})
	.await
}

#[cfg(test)]
mod tests {
	use super::*;

	#[test]
	fn free_ports_lie_below_the_ephemeral_range_and_can_be_bound() {
		for _ in 0..200 {
			let port = free_port();
			assert!(TEST_PORTS.contains(&port), "{port}");
			assert!(TcpListener::bind(("127.0.0.1", port)).is_ok());
		}
		let base = free_port_range(8);
		assert!((1..=8).all(|i| TcpListener::bind(("127.0.0.1", base + i)).is_ok()));
	}
}
