//! A compact live view of the energy status map and the latest demand-response events, read
//! from the chain.

use std::{collections::BTreeMap, fmt::Write, time::Duration};

use openvpp_primitives::{network::OVPP, LiveFigures};
use pallet_demand_response::EventStatus;
use tokio::sync::watch;

use crate::{
	chain::{Chain, ChainError, RegionStatus},
	sources::Backoff,
	wire::storage::{self as keys, DrEvent, Participant},
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

/// An event with its participants, as the view shows it.
pub type EventView = (u32, DrEvent, Vec<Participant>);

/// How many of the latest events the view shows.
const EVENTS_SHOWN: u32 = 3;

/// The latest events (at most [`EVENTS_SHOWN`]) at block `at`.
pub async fn latest_events(chain: &Chain, at: sp_core::H256) -> Result<Vec<EventView>, ChainError> {
	use codec::Decode;
	let next = match chain.storage_raw(keys::next_event_id(), Some(at)).await? {
		Some(bytes) => u32::decode(&mut &bytes[..])
			.map_err(|e| ChainError::Decode { what: "next event id", message: e.to_string() })?,
		None => 0,
	};
	let mut out = Vec::new();
	for id in next.saturating_sub(EVENTS_SHOWN)..next {
		if let Some(event) = crate::dispatch::follow::event(chain, id, at).await? {
			let participants = crate::dispatch::follow::participants(chain, id, at).await?;
			out.push((id, event, participants));
		}
	}
	Ok(out)
}

/// Renders events: each one's target against what the chain measured so far, and each
/// participant's commitment, delivery and performance.
/// Participants listed under an event; the rest are counted.
const LISTED_PARTICIPANTS: usize = 10;

pub fn render_events(events: &[EventView], now_s: u64) -> String {
	let mut out = String::new();
	if events.is_empty() {
		return out;
	}
	let _ = writeln!(out, "demand-response events (from the chain)");
	for (id, event, participants) in events {
		let spec = &event.spec;
		let end = event.end();
		let elapsed_s = now_s.clamp(spec.start, end).saturating_sub(spec.start);
		let due_wh = event.selected_w.saturating_mul(elapsed_s) / 3_600;
		let delivered_wh: u64 = participants.iter().map(|p| p.measurement.delivered_wh).sum();
		let when = if now_s < spec.start {
			format!("starts in {} s", spec.start - now_s)
		} else if now_s < end {
			format!("{} s of {} s", elapsed_s, spec.duration_s)
		} else {
			"ended".to_string()
		};
		let _ = writeln!(
			out,
			"event #{id} {:?} {:?} ({when}): target {} kW, {} joined, {} selected ({} kW)",
			spec.kind,
			event.status,
			kw(spec.target_power_w),
			event.joined,
			event.selected,
			kw(event.selected_w),
		);
		if event.status != EventStatus::Scheduled && event.status != EventStatus::Cancelled {
			let _ = writeln!(
				out,
				"  measured so far {delivered_wh} Wh of {due_wh} Wh committed to date; paid {} of {} OVPP held",
				ovpp(event.paid),
				ovpp(event.escrow)
			);
		}
		for p in participants.iter().take(LISTED_PARTICIPANTS) {
			let m = &p.measurement;
			let performance = match &p.settlement {
				Some(settlement) => format!("performance {} %", settlement.performance_bp / 100),
				None => {
					let due = u64::from(p.committed_w).saturating_mul(elapsed_s) / 3_600;
					m.delivered_wh
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
				m.delivered_wh,
				m.responding_intervals,
				m.overridden_intervals,
				m.idle_intervals,
			);
		}
		if participants.len() > LISTED_PARTICIPANTS {
			let _ = writeln!(
				out,
				"  … and {} more participants",
				participants.len() - LISTED_PARTICIPANTS
			);
		}
	}
	out
}

fn ovpp(planck: u128) -> String {
	format!("{:.3}", planck as f64 / OVPP as f64)
}

/// Prints the status map, the latest demand-response events and the latest rewards every
/// `every` until `shutdown` (or once).
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
				let now_s = chain.timestamp_ms(Some(head)).await? / 1_000;
				let events = latest_events(&chain, head).await?;
				let rewards = crate::rewards_view::latest_rewards(&chain, head).await?;
				Ok::<_, ChainError>(format!(
					"{}{}{}",
					render(number, &map),
					render_events(&events, now_s),
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

	#[test]
	fn an_event_shows_its_target_against_what_was_measured() {
		use openvpp_primitives::{EventKind, KindSet};
		use pallet_demand_response::{
			DrEvent, EventSpec, JoinedBy, Measurement, Participant, Progress,
		};
		let spec = EventSpec {
			kind: EventKind::DischargeStorage,
			regions: Default::default(),
			eligible_kinds: KindSet::of(&[DeviceKind::HomeBattery]),
			opt_in_deadline: 900,
			start: 1_000,
			duration_s: 600,
			interval_length_s: 300,
			target_power_w: 3_000,
			price_per_kwh: 1,
			min_reputation_bp: 0,
			max_participants: 10,
		};
		let event = DrEvent {
			operator: sp_core::crypto::AccountId32::new([0; 32]),
			spec,
			status: EventStatus::Active,
			progress: Progress::Selected,
			escrow: 2 * OVPP,
			paid: 0,
			joined: 1,
			joined_w: 3_000,
			selected: 1,
			selected_w: 3_000,
			delivered_wh: 0,
		};
		let participant = Participant {
			device: 3,
			joined_by: JoinedBy::Gateway,
			committed_w: 3_000,
			storage: None,
			selected: true,
			measurement: Measurement {
				delivered_wh: 120,
				responding_intervals: 1,
				..Default::default()
			},
			settlement: None,
		};
		// Three minutes in: 150 Wh committed to date, 120 Wh measured.
		let text = render_events(&[(4, event.clone(), vec![participant.clone()])], 1_180);
		assert!(text.contains("event #4 DischargeStorage Active (180 s of 600 s)"), "{text}");
		assert!(text.contains("measured so far 120 Wh of 150 Wh committed to date"), "{text}");
		assert!(text.contains("paid 0.000 of 2.000 OVPP"), "{text}");
		assert!(text.contains("delivered    120 Wh") && text.contains("80 % so far"), "{text}");
		assert_eq!(render_events(&[], 0), "");
		// A large event lists its first participants and counts the others.
		let many = (0..25).map(|device| Participant { device, ..participant.clone() }).collect();
		let text = render_events(&[(4, event, many)], 1_180);
		assert_eq!(text.matches("  device ").count(), 10, "{text}");
		assert!(text.contains("… and 15 more participants"), "{text}");
	}
}
