//! A compact live view of the energy status map, read from the chain.

use std::{collections::BTreeMap, fmt::Write, time::Duration};

use openvpp_primitives::LiveFigures;
use tokio::sync::watch;

use crate::{
	chain::{Chain, ChainError, RegionStatus},
	sources::Backoff,
};

fn kw(watts: u64) -> String {
	format!("{:.1}", watts as f64 / 1_000.0)
}

/// Renders the status map: one line per region (all kinds together) and its kinds below.
pub fn render(block: u32, map: &[RegionStatus]) -> String {
	let mut regions: BTreeMap<&str, (LiveFigures, Vec<&RegionStatus>)> = BTreeMap::new();
	for entry in map {
		let region = regions.entry(entry.region.as_str()).or_default();
		region.0.add(&entry.figures);
		region.1.push(entry);
	}
	let mut out = String::new();
	let _ = writeln!(
		out,
		"block #{block} — energy status map (from the chain)\n{:<24} {:>7} {:>11} {:>11} {:>11} {:>9} {:>9}",
		"region", "devices", "gen kW", "load kW", "stored kWh", "flex+ kW", "flex- kW"
	);
	if regions.is_empty() {
		let _ = writeln!(out, "  (no device has reported yet)");
	}
	for (region, (total, kinds)) in regions {
		let line = |name: &str, f: &LiveFigures| {
			format!(
				"{:<24} {:>7} {:>11} {:>11} {:>11} {:>9} {:>9}",
				name,
				f.devices,
				kw(f.generation_w),
				kw(f.consumption_w),
				kw(f.storage_available_wh),
				kw(f.flex_up_w),
				kw(f.flex_down_w)
			)
		};
		let _ = writeln!(out, "{}", line(region, &total));
		for kind in kinds {
			let _ = writeln!(out, "{}", line(&format!("  {:?}", kind.kind), &kind.figures));
		}
	}
	out
}

/// Prints the status map every `every` until `shutdown` (or once).
pub async fn watch(
	url: &str,
	every: Duration,
	once: bool,
	mut shutdown: watch::Receiver<bool>,
) -> Result<(), ChainError> {
	let mut backoff = Backoff::new();
	loop {
		let chain = match Chain::connect(url).await {
			Ok(chain) => chain,
			Err(error) if !once => {
				let delay = backoff.next_delay();
				eprintln!("live view: cannot reach {url} ({error}); retrying in {delay:?}");
				tokio::select! {
					_ = shutdown.changed() => return Ok(()),
					_ = tokio::time::sleep(delay) => continue,
				}
			}
			Err(error) => return Err(error),
		};
		backoff.reset();
		loop {
			let shown = async {
				// The number shown and the figures come from the same (finalized) block.
				let head = chain.finalized_head().await?;
				let number = chain.block(head).await?.number;
				let map = chain.status_map(head).await?;
				Ok::<_, ChainError>(render(number, &map))
			}
			.await;
			match shown {
				Ok(text) => println!("{text}"),
				Err(error) if once => return Err(error),
				Err(error) => {
					eprintln!("live view: {error}");
					break;
				}
			}
			if once {
				return Ok(());
			}
			tokio::select! {
				_ = shutdown.changed() => return Ok(()),
				_ = tokio::time::sleep(every) => {},
			}
		}
	}
}

#[cfg(test)]
mod tests {
	use super::*;
	use openvpp_primitives::DeviceKind;

	#[test]
	fn regions_sum_their_kinds() {
		let entry = |region: &str, kind, generation_w, devices| RegionStatus {
			region: region.into(),
			kind,
			figures: LiveFigures { devices, generation_w, ..Default::default() },
		};
		let text = render(
			12,
			&[
				entry("DE-TENNET", DeviceKind::RooftopSolar, 6_000, 1),
				entry("DE-TENNET", DeviceKind::HomeBattery, 2_500, 1),
				entry("DE-AMPRION", DeviceKind::CommercialBattery, 0, 1),
			],
		);
		assert!(text.contains("block #12"));
		let tennet = text.lines().find(|l| l.starts_with("DE-TENNET")).unwrap();
		assert!(tennet.contains(" 2 ") && tennet.contains("8.5"), "{tennet}");
		assert!(text.contains("  RooftopSolar"));
		assert!(render(1, &[]).contains("no device has reported yet"));
	}
}
