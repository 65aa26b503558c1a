//! What the dashboard serves: its pages and scripts, built into the binary so that it needs no
//! files, no build step and no internet access, and a `config.json` that tells the page which
//! node to read.

use std::fmt;

/// A file of the page.
pub struct Asset {
	pub path: &'static str,
	pub content_type: &'static str,
	pub body: &'static [u8],
}

macro_rules! asset {
	($path:literal, $type:expr) => {
		Asset {
			path: $path,
			content_type: $type,
			body: include_bytes!(concat!("../static", $path)),
		}
	};
}

const JS: &str = "text/javascript; charset=utf-8";

/// Every file of the page, by the path it is served at.
pub const ASSETS: &[Asset] = &[
	asset!("/index.html", "text/html; charset=utf-8"),
	asset!("/style.css", "text/css; charset=utf-8"),
	asset!("/app.js", JS),
	asset!("/rpc.js", JS),
	asset!("/format.js", JS),
	asset!("/charts.js", JS),
	asset!("/pages/overview.js", JS),
	asset!("/pages/regions.js", JS),
	asset!("/pages/device.js", JS),
	asset!("/pages/events.js", JS),
	asset!("/pages/rewards.js", JS),
	asset!("/pages/governance.js", JS),
	asset!("/favicon.svg", "image/svg+xml"),
];

/// The node the page reads, as an `http://` or `https://` URL of its JSON-RPC.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RpcUrl(String);

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error(
	"'{0}' is not an http:// or https:// URL of a node's JSON-RPC (e.g. http://127.0.0.1:9944)"
)]
pub struct BadRpcUrl(String);

impl RpcUrl {
	pub fn parse(text: &str) -> Result<RpcUrl, BadRpcUrl> {
		// A node serves HTTP and WebSocket on one port; the page speaks HTTP.
		let text = text.trim_end_matches('/');
		let http = if let Some(rest) = text.strip_prefix("ws://") {
			format!("http://{rest}")
		} else if let Some(rest) = text.strip_prefix("wss://") {
			format!("https://{rest}")
		} else {
			text.to_owned()
		};
		let host = http.strip_prefix("http://").or_else(|| http.strip_prefix("https://"));
		match host {
			Some(host)
				if !host.is_empty() && !host.contains(['/', '"', '\'', ' ', '\\', '<', '>']) =>
			{
				Ok(RpcUrl(http))
			}
			_ => Err(BadRpcUrl(text.to_owned())),
		}
	}
}

impl fmt::Display for RpcUrl {
	fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
		f.write_str(&self.0)
	}
}

/// A response: status, content type and body.
#[derive(Debug, PartialEq, Eq)]
pub struct Reply {
	pub status: u16,
	pub content_type: &'static str,
	pub body: Vec<u8>,
}

/// The site: the assets and the node they read.
#[derive(Clone, Debug)]
pub struct Site {
	rpc: RpcUrl,
}

impl Site {
	pub fn new(rpc: RpcUrl) -> Site {
		Site { rpc }
	}

	/// The page may load its own files and talk to the node, nothing else.
	pub fn content_security_policy(&self) -> String {
		format!(
			"default-src 'self'; connect-src 'self' {}; img-src 'self' data:; style-src 'self'; script-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
			self.rpc
		)
	}

	/// The reply to a request for `path` with `method`.
	pub fn reply(&self, method: &str, path: &str) -> Reply {
		if method != "GET" && method != "HEAD" {
			return Reply {
				status: 405,
				content_type: "text/plain; charset=utf-8",
				body: b"only GET and HEAD\n".to_vec(),
			};
		}
		let path = path.split(['?', '#']).next().unwrap_or("/");
		if path == "/config.json" {
			let body = format!("{{\"rpc\":\"{}\"}}\n", self.rpc);
			return Reply {
				status: 200,
				content_type: "application/json",
				body: body.into_bytes(),
			};
		}
		let path = if path == "/" { "/index.html" } else { path };
		match ASSETS.iter().find(|asset| asset.path == path) {
			Some(asset) => {
				Reply { status: 200, content_type: asset.content_type, body: asset.body.to_vec() }
			}
			None => Reply {
				status: 404,
				content_type: "text/plain; charset=utf-8",
				body: format!("no such page: {path}\n").into_bytes(),
			},
		}
	}
}

#[cfg(test)]
mod tests {
	use super::*;

	fn site() -> Site {
		Site::new(RpcUrl::parse("ws://127.0.0.1:9944").unwrap())
	}

	#[test]
	fn the_node_url_is_checked_and_spoken_over_http() {
		assert_eq!(
			RpcUrl::parse("ws://127.0.0.1:9944").unwrap().to_string(),
			"http://127.0.0.1:9944"
		);
		assert_eq!(
			RpcUrl::parse("https://rpc.example/").unwrap().to_string(),
			"https://rpc.example"
		);
		assert!(RpcUrl::parse("127.0.0.1:9944").is_err());
		assert!(RpcUrl::parse("http://").is_err());
		assert!(RpcUrl::parse("http://a\"b").is_err());
	}

	#[test]
	fn every_asset_is_served_and_nothing_else() {
		let site = site();
		let index = site.reply("GET", "/");
		assert_eq!(index.status, 200);
		assert!(String::from_utf8_lossy(&index.body).contains("<title>OpenVPP"));
		for asset in ASSETS {
			assert!(!asset.body.is_empty(), "{}", asset.path);
			assert_eq!(site.reply("GET", asset.path).status, 200, "{}", asset.path);
		}
		assert_eq!(
			site.reply("GET", "/config.json").body,
			b"{\"rpc\":\"http://127.0.0.1:9944\"}\n"
		);
		assert_eq!(site.reply("GET", "/app.js?v=1").status, 200);
		assert_eq!(site.reply("GET", "/../Cargo.toml").status, 404);
		assert_eq!(site.reply("POST", "/").status, 405);
	}

	#[test]
	fn every_script_the_page_imports_is_served() {
		// A module imported by another but missing from ASSETS would break the page at load.
		for asset in ASSETS.iter().filter(|asset| asset.path.ends_with(".js")) {
			let text = String::from_utf8_lossy(asset.body);
			for line in text.lines().filter(|line| line.starts_with("import ")) {
				let from = line.rsplit(['"', '\'']).nth(1).unwrap_or_default();
				let dir = asset.path.rsplit_once('/').map(|(dir, _)| dir).unwrap_or_default();
				let resolved = match from.strip_prefix("./") {
					Some(rest) => format!("{dir}/{rest}"),
					None => match from.strip_prefix("../") {
						Some(rest) => {
							let parent = dir.rsplit_once('/').map(|(p, _)| p).unwrap_or_default();
							format!("{parent}/{rest}")
						}
						None => from.to_owned(),
					},
				};
				assert!(
					ASSETS.iter().any(|other| other.path == resolved),
					"{} imports {from} ({resolved}), which is not served",
					asset.path
				);
			}
		}
	}
}
