//! Telemetry and the energy status map, with the registry's capacity beside it.

use alloc::vec::Vec;
use openvpp_primitives::{DeviceId, DeviceKind, LiveFigures};
use openvpp_runtime_api::{
	KindTotals, LatestReadingView, NetworkTotals, RegionKindStatusView, TelemetryView,
};
use pallet_device_registry::{DeviceCount, RegionCapacities};
use pallet_telemetry::{DeviceTelemetry, EnergyStatus};

use super::now;
use crate::Runtime;

pub fn device_telemetry(id: DeviceId) -> Option<TelemetryView> {
	let state = DeviceTelemetry::<Runtime>::get(id)?;
	let now = now();
	let latest = state.latest;
	Some(TelemetryView {
		device: id,
		last_sequence: state.last_sequence,
		last_interval_end: state.last_interval_end,
		latest: LatestReadingView {
			interval_start: latest.interval_start,
			interval_length_s: latest.interval_length_s,
			average_power_w: latest.average_power_w,
			peak_power_w: latest.peak_power_w,
			soc_bp: latest.soc_bp,
			device_state: latest.device_state,
			grid_response: latest.grid_response,
			cumulative_imported_wh: latest.cumulative_imported_wh,
			cumulative_exported_wh: latest.cumulative_exported_wh,
			plausibility_flags: latest.plausibility.0,
		},
		epoch: state.epoch,
		live: state.live.filter(|entry| entry.expires_at > now).map(|entry| entry.figures),
	})
}

/// Every region and kind with active devices (the registry's capacity index) or live figures
/// (the telemetry's status map), merged.
pub fn energy_status() -> Vec<RegionKindStatusView> {
	let now = now();
	let mut entries: Vec<RegionKindStatusView> = RegionCapacities::<Runtime>::iter()
		.map(|(region, kind, capacity)| RegionKindStatusView {
			region: region.into_inner(),
			kind,
			active_devices: capacity.active_devices,
			rated_power_w: capacity.rated_power_w,
			storage_capacity_wh: capacity.storage_capacity_wh,
			live: LiveFigures::default(),
			updated_at: 0,
		})
		.collect();
	for (region, kind, status) in EnergyStatus::<Runtime>::iter() {
		let live = status.live(now);
		let position =
			entries.iter().position(|entry| entry.region == *region && entry.kind == kind);
		match position.and_then(|index| entries.get_mut(index)) {
			Some(entry) => {
				entry.live = live;
				entry.updated_at = status.updated_at;
			}
			None if live.devices > 0 => entries.push(RegionKindStatusView {
				region: region.into_inner(),
				kind,
				active_devices: 0,
				rated_power_w: 0,
				storage_capacity_wh: 0,
				live,
				updated_at: status.updated_at,
			}),
			None => {}
		}
	}
	entries.retain(|entry| entry.active_devices > 0 || entry.live.devices > 0);
	entries.sort_by(|a, b| a.region.cmp(&b.region).then(a.kind.cmp(&b.kind)));
	entries
}

pub fn network_totals() -> NetworkTotals {
	let status = energy_status();
	let mut by_kind: Vec<KindTotals> = DeviceKind::ALL
		.iter()
		.map(|kind| KindTotals {
			kind: *kind,
			active_devices: 0,
			rated_power_w: 0,
			storage_capacity_wh: 0,
			live: LiveFigures::default(),
		})
		.collect();
	let mut live = LiveFigures::default();
	let mut regions: Vec<&[u8]> = Vec::new();
	for entry in &status {
		live.add(&entry.live);
		if regions.last() != Some(&entry.region.as_slice()) {
			regions.push(&entry.region);
		}
		if let Some(kind) = by_kind.iter_mut().find(|totals| totals.kind == entry.kind) {
			kind.active_devices = kind.active_devices.saturating_add(entry.active_devices);
			kind.rated_power_w = kind.rated_power_w.saturating_add(entry.rated_power_w);
			kind.storage_capacity_wh =
				kind.storage_capacity_wh.saturating_add(entry.storage_capacity_wh);
			kind.live.add(&entry.live);
		}
	}
	NetworkTotals {
		now: now(),
		registered_devices: DeviceCount::<Runtime>::get(),
		active_devices: by_kind.iter().fold(0, |sum, kind| sum.saturating_add(kind.active_devices)),
		rated_power_w: by_kind.iter().fold(0, |sum, kind| sum.saturating_add(kind.rated_power_w)),
		storage_capacity_wh: by_kind
			.iter()
			.fold(0, |sum, kind| sum.saturating_add(kind.storage_capacity_wh)),
		live,
		regions: regions.len() as u32,
		by_kind,
	}
}
