//! A compact live view of the network, the energy status map and the latest demand-response
//! events, read from the node's `vpp_*` read model ([`crate::vpp`]).

use std::{collections::BTreeMap, fmt::Write, time::Duration};

use openvpp_primitives::{network::OVPP, EventStatus, LiveFigures};
use openvpp_runtime_api::{DrEventDetail, NetworkTotals, RegionKindStatusView};
use sp_core::H256;
use tokio::sync::watch;

use crate::{
	chain::{Chain, ChainError},
	sources::Backoff,
	vpp::AccountId,
};

fn kw(watts: u64) -> String {
	format!("{:.1}", watts as f64 / 1_000.0)
}

/// Renders the network's totals, then the status map: one line per region (all kinds
/// together) and its kinds below.
pub fn render(block: u32, totals: &NetworkTotals, map: &[RegionKindStatusView]) -> String {
	let mut regions: BTreeMap<String, (LiveFigures, Vec<&RegionKindStatusView>)> = BTreeMap::new();
	for entry in map.iter().filter(|entry| entry.live.devices > 0) {
		let region =
			regions.entry(String::from_utf8_lossy(&entry.region).into_owned()).or_default();
		region.0.add(&entry.live);
		region.1.push(entry);
	}
	let mut out = String::new();
	let _ = writeln!(
		out,
		"block #{block} — {} of {} active devices online ({} registered), {} kW rated, {} kWh storage",
		totals.live.devices,
		totals.active_devices,
		totals.registered_devices,
		kw(totals.rated_power_w),
		kw(totals.storage_capacity_wh),
	);
	let _ = writeln!(
		out,
		"energy status map (from the chain)\n{:<24} {:>7} {:>11} {:>11} {:>11} {:>9} {:>9}",
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
		let _ = writeln!(out, "{}", line(&region, &total));
		for kind in kinds {
			let _ = writeln!(out, "{}", line(&format!("  {:?}", kind.kind), &kind.live));
		}
	}
	out
}

/// How many of the latest events the view shows.
const EVENTS_SHOWN: u32 = 3;
/// Participants listed under an event; the rest are counted.
const LISTED_PARTICIPANTS: u32 = 10;

/// The latest events (at most [`EVENTS_SHOWN`]), oldest first, with their first participants.
pub async fn latest_events(
	chain: &Chain,
	at: H256,
) -> Result<Vec<DrEventDetail<AccountId>>, ChainError> {
	let page = chain.vpp_latest_dr_events(EVENTS_SHOWN, at).await?;
	let mut out = Vec::new();
	for event in page.events.iter().rev() {
		out.push(chain.vpp_dr_event(event.id, LISTED_PARTICIPANTS, at).await?);
	}
	Ok(out)
}

/// Renders events: each one's target against what the chain measured so far, and each listed
/// participant's commitment, delivery and performance.
pub fn render_events(events: &[DrEventDetail<AccountId>], now_s: u64) -> String {
	let mut out = String::new();
	if events.is_empty() {
		return out;
	}
	let _ = writeln!(out, "demand-response events (from the chain)");
	for DrEventDetail { event, participants, .. } in events {
		let elapsed_s = now_s.clamp(event.start, event.end).saturating_sub(event.start);
		let due_wh = event.selected_w.saturating_mul(elapsed_s) / 3_600;
		let when = if now_s < event.start {
			format!("starts in {} s", event.start - now_s)
		} else if now_s < event.end {
			format!("{} s of {} s", elapsed_s, event.end - event.start)
		} else {
			"ended".to_string()
		};
		let _ = writeln!(
			out,
			"event #{} {:?} {:?} ({when}): target {} kW, {} joined, {} selected ({} kW)",
			event.id,
			event.kind,
			event.status,
			kw(event.target_power_w),
			event.joined_devices,
			event.selected_devices,
			kw(event.selected_w),
		);
		if event.status != EventStatus::Scheduled && event.status != EventStatus::Cancelled {
			let _ = writeln!(
				out,
				"  measured so far {} Wh of {due_wh} Wh committed to date; paid {} of {} OVPP held",
				event.measured_delivery_wh,
				ovpp(event.paid_planck),
				ovpp(event.escrow_planck)
			);
		}
		for p in participants {
			let performance = match p.performance_bp {
				Some(performance_bp) => format!("performance {} %", performance_bp / 100),
				None => {
					let due = u64::from(p.committed_w).saturating_mul(elapsed_s) / 3_600;
					p.delivered_wh
						.saturating_mul(100)
						.checked_div(due)
						.map(|percent| format!("{percent} % so far"))
						.unwrap_or_default()
				}
			};
			let _ = writeln!(
				out,
				"  device {:>4} {:>7} W {:<8} delivered {:>6} Wh  intervals responding {} overridden {} idle {}  {performance}",
				p.device,
				p.committed_w,
				if p.selected { "selected" } else { "" },
				p.delivered_wh,
				p.responding_intervals,
				p.overridden_intervals,
				p.idle_intervals,
			);
		}
		let unlisted = (event.joined_devices as usize).saturating_sub(participants.len());
		if unlisted > 0 {
			let _ = writeln!(out, "  … and {unlisted} more participants");
		}
	}
	out
}

fn ovpp(planck: u128) -> String {
	format!("{:.3}", planck as f64 / OVPP as f64)
}

/// Prints the network, the status map, the latest demand-response events and the latest
/// rewards every `every` until `shutdown` (or once).
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
				let totals = chain.vpp_network_totals(head).await?;
				let map = chain.vpp_energy_status(head).await?;
				let events = latest_events(&chain, head).await?;
				let rewards = crate::rewards_view::latest_rewards(&chain, head).await?;
				Ok::<_, ChainError>(format!(
					"{}{}{}",
					render(number, &totals, &map),
					render_events(&events, totals.now),
					rewards.as_ref().map(crate::rewards_view::render_rewards).unwrap_or_default()
				))
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
mod tests;
