//! The commands OpenVPP sends to devices in its own MQTT format (`openvpp-json`).
//!
//! A device whose readings come on `<prefix>/state` takes commands on `<prefix>/set`, one JSON
//! object per message:
//!
//! ```json
//! {"command": "hold", "power_w": -5500, "revert_after_s": 960, "event": 12}
//! {"command": "release"}
//! ```
//!
//! `hold` asks the device to keep its grid power at `power_w` (the chain's convention: positive
//! when delivering) as closely as it can within its own limits: a load draws at most
//! `−power_w`, storage charges or discharges to reach it. With `revert_after_s` > 0 the device
//! returns to its own behaviour by itself that many seconds after the message, unless a newer
//! command came — so a gateway that dies mid-event leaves no device held. `event` names the
//! demand-response event, for the device's log. `release` returns the device to its own
//! behaviour at once.

use serde::{Deserialize, Serialize};

/// One `openvpp-json` command.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "command", rename_all = "kebab-case", deny_unknown_fields)]
pub enum JsonCommand {
	Hold {
		power_w: i64,
		#[serde(default)]
		revert_after_s: u32,
		#[serde(default, skip_serializing_if = "Option::is_none")]
		event: Option<u32>,
	},
	// A struct variant, so that unknown fields are refused here too.
	Release {},
}

/// Why a command message could not be read.
#[derive(Debug, thiserror::Error)]
#[error("not an openvpp-json command: {0}")]
pub struct CommandError(#[from] serde_json::Error);

impl JsonCommand {
	pub fn parse(payload: &[u8]) -> Result<Self, CommandError> {
		Ok(serde_json::from_slice(payload)?)
	}

	pub fn to_payload(&self) -> String {
		// A plain enum of integers always serialises.
		serde_json::to_string(self).unwrap_or_default()
	}
}

/// The command topic of a device whose readings come on `state_topic`: the last level
/// replaced by `set` (`openvpp/devices/ev-charger/state` → `openvpp/devices/ev-charger/set`).
pub fn command_topic(state_topic: &str) -> String {
	match state_topic.rsplit_once('/') {
		Some((prefix, _)) => format!("{prefix}/set"),
		None => format!("{state_topic}/set"),
	}
}

#[cfg(test)]
mod tests {
	use super::*;

	#[test]
	fn commands_round_trip_in_the_documented_form() {
		let hold = JsonCommand::Hold { power_w: -5_500, revert_after_s: 960, event: Some(12) };
		assert_eq!(
			hold.to_payload(),
			r#"{"command":"hold","power_w":-5500,"revert_after_s":960,"event":12}"#
		);
		assert_eq!(JsonCommand::parse(hold.to_payload().as_bytes()).unwrap(), hold);
		assert_eq!(JsonCommand::Release {}.to_payload(), r#"{"command":"release"}"#);
		assert_eq!(
			JsonCommand::parse(br#"{"command":"hold","power_w":3000}"#).unwrap(),
			JsonCommand::Hold { power_w: 3_000, revert_after_s: 0, event: None }
		);
	}

	#[test]
	fn malformed_commands_are_refused() {
		for bad in [
			&br#"{"command":"explode"}"#[..],
			br#"{"command":"hold"}"#,
			br#"{"command":"hold","power_w":"lots"}"#,
			br#"{"command":"release","power_w":1}"#,
			b"OFF",
		] {
			assert!(JsonCommand::parse(bad).is_err(), "{}", String::from_utf8_lossy(bad));
		}
	}

	#[test]
	fn the_command_topic_sits_next_to_the_state_topic() {
		assert_eq!(
			command_topic("openvpp/devices/ev-charger/state"),
			"openvpp/devices/ev-charger/set"
		);
		assert_eq!(command_topic("charger"), "charger/set");
	}
}
