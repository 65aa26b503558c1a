//! Devices from the registry.

use alloc::vec::Vec;
use openvpp_primitives::{DeviceId, RegionCode};
use openvpp_runtime_api::{
	page_limit, CreditRecordView, DeviceMetadataView, DevicePage, DeviceView, MAX_REGION_SCAN,
};
use pallet_device_registry::{DeviceRecordOf, Devices};

use crate::{AccountId, DeviceRegistry, Runtime};

fn view(id: DeviceId, record: DeviceRecordOf<Runtime>) -> DeviceView<AccountId> {
	DeviceView {
		id,
		kind: record.kind,
		owner: record.owner,
		pending_owner: record.pending_owner,
		gateway: record.gateway,
		attestation_key: record.attestation_key,
		capability: record.capability,
		region: record.region.into_inner(),
		metadata: DeviceMetadataView {
			manufacturer: record.metadata.manufacturer.into_inner(),
			model: record.metadata.model.into_inner(),
			serial_number: record.metadata.serial_number.into_inner(),
			firmware_version: record.metadata.firmware_version.into_inner(),
		},
		comfort: record.comfort,
		status: record.status,
		status_reason: record.status_reason.into_inner(),
		registered_at: record.registered_at,
		activated_at: record.activated_at,
		last_seen: record.last_seen,
		history: record.history,
		credit: CreditRecordView {
			reputation_bp: record.credit.reputation_bp,
			recent_changes: record.credit.recent_changes.into_inner(),
		},
		site_meter: record.site_meter,
		deposit_planck: record.deposit,
	}
}

pub fn device(id: DeviceId) -> Option<DeviceView<AccountId>> {
	Devices::<Runtime>::get(id).map(|record| view(id, record))
}

/// A page from an index of device ids: `next` is set when the page is full.
fn page_of(ids: Vec<DeviceId>, limit: usize) -> DevicePage<AccountId> {
	let next = if ids.len() >= limit { ids.last().copied() } else { None };
	let devices = ids.into_iter().filter_map(device).collect();
	DevicePage { devices, next }
}

pub fn devices_by_owner(
	owner: AccountId,
	after: Option<DeviceId>,
	limit: u32,
) -> DevicePage<AccountId> {
	let limit = page_limit(limit);
	page_of(DeviceRegistry::devices_of_owner(owner, after, limit as u32), limit)
}

pub fn devices_by_gateway(
	gateway: AccountId,
	after: Option<DeviceId>,
	limit: u32,
) -> DevicePage<AccountId> {
	let limit = page_limit(limit);
	page_of(DeviceRegistry::devices_of_gateway(gateway, after, limit as u32), limit)
}

/// Scans the registry in storage order: there is no index by region.
pub fn devices_by_region(
	region: RegionCode,
	after: Option<DeviceId>,
	limit: u32,
) -> DevicePage<AccountId> {
	let limit = page_limit(limit);
	let records = match after {
		None => Devices::<Runtime>::iter(),
		Some(last) => Devices::<Runtime>::iter_from(Devices::<Runtime>::hashed_key_for(last)),
	};
	let mut devices = Vec::new();
	let mut last_seen = None;
	let mut scanned = 0u32;
	for (id, record) in records {
		scanned = scanned.saturating_add(1);
		last_seen = Some(id);
		if record.region == region {
			devices.push(view(id, record));
			if devices.len() >= limit {
				break;
			}
		}
		if scanned >= MAX_REGION_SCAN {
			break;
		}
	}
	// The scan stopped early (page full or scan limit): there may be more after `last_seen`.
	let next = if devices.len() >= limit || scanned >= MAX_REGION_SCAN { last_seen } else { None };
	DevicePage { devices, next }
}
