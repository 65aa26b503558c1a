//! # OpenVPP runtime API
//!
//! What a developer asks the chain about the virtual power plant, answered by the runtime at
//! any block: devices (by id, and paged by owner, gateway or region), a device's latest
//! telemetry and its epoch so far, the energy status map and network totals, scores, rewards
//! and settlement progress, demand-response events with their participants, and the referenda
//! being decided.
//!
//! The answers are *views* ([`views`]): flat records with the unit in every quantity's name,
//! encoded with SCALE for the runtime API (polkadot.js decodes them from the metadata, no custom
//! types needed) and serialised by the node's `vpp_*` JSON-RPC methods as plain JSON (camelCase
//! field names, addresses in SS58, balances as decimal strings of planck so that JavaScript
//! loses no digits).
//!
//! Every list is paged and bounded by [`views::MAX_PAGE_SIZE`]; pages continue after the last
//! key of the previous page (`after`), so that a client walks a large registry in bounded calls.

#![cfg_attr(not(feature = "std"), no_std)]

extern crate alloc;

pub mod views;

use alloc::vec::Vec;
use openvpp_primitives::{DeviceId, RegionCode};

pub use views::*;

sp_api::decl_runtime_apis! {
	/// The virtual power plant's read model.
	///
	/// Version 1.
	#[api_version(1)]
	pub trait VppApi<AccountId>
	where
		AccountId: codec::Codec,
	{
		/// One device's identity, status, capability, comfort limits, history and credit record.
		fn device(id: DeviceId) -> Option<DeviceView<AccountId>>;

		/// A page of the devices of `owner`, in storage order after the device `after`.
		fn devices_by_owner(owner: AccountId, after: Option<DeviceId>, limit: u32) -> DevicePage<AccountId>;

		/// A page of the devices whose readings `gateway` submits, in storage order after the
		/// device `after`.
		fn devices_by_gateway(gateway: AccountId, after: Option<DeviceId>, limit: u32) -> DevicePage<AccountId>;

		/// A page of the devices of `region`, in storage order after the device `after`. The registry has no
		/// index by region: a call looks at most [`views::MAX_REGION_SCAN`] devices, so a page
		/// may hold fewer than `limit` devices and still have a `next`.
		fn devices_by_region(region: RegionCode, after: Option<DeviceId>, limit: u32) -> DevicePage<AccountId>;

		/// A device's latest accepted reading and its telemetry in the current epoch so far.
		fn device_telemetry(id: DeviceId) -> Option<TelemetryView>;

		/// The energy status map: every region and device kind with active devices or live
		/// figures, with its capacity and live figures now.
		fn energy_status() -> Vec<RegionKindStatusView>;

		/// Totals over the whole network, and per device kind.
		fn network_totals() -> NetworkTotals;

		/// A device's scores and rewards in its most recent `epochs` scored epochs (newest
		/// first).
		fn device_results(id: DeviceId, epochs: u32) -> Vec<DeviceEpochResultView<AccountId>>;

		/// A page of one epoch's results, in storage order after the device `after`.
		fn epoch_results(epoch: u64, after: Option<DeviceId>, limit: u32) -> EpochResultPage<AccountId>;

		/// The current epoch, settlement progress and the retained epochs' summaries.
		fn rewards_status() -> RewardsStatus;

		/// A page of demand-response events, newest first, before `before`, optionally only
		/// those with `status` or concerning `region`.
		fn dr_events(status: Option<openvpp_primitives::EventStatus>, region: Option<RegionCode>, before: Option<u32>, limit: u32) -> DrEventPage<AccountId>;

		/// One demand-response event and a page of its participants, in selection order after
		/// position `after`.
		fn dr_event(id: u32, after: Option<u32>, limit: u32) -> Option<DrEventDetail<AccountId>>;

		/// Referenda being decided (prepared, queued, deciding or confirming), newest first,
		/// looking at the newest [`views::MAX_REFERENDUM_SCAN`] indices.
		fn referenda(limit: u32) -> Vec<ReferendumView>;
	}
}
