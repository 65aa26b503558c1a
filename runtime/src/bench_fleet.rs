//! The benchmark fleet: devices, gateways and transfer senders whose keys derive from their
//! index, so that a load generator signs for any number of them without a key file, and whose
//! kinds and readings look like a household fleet's. The node builds a benchmark chain's genesis
//! from it (`--chain bench:…`, natively, so that its size is not bounded by a genesis JSON the
//! runtime must read), `benchmark extrinsic` prices a batch of its reports, and `openvpp-bench`
//! floods a chain with its readings and transfers.
//!
//! Device `index` (0-based) gets id [`FIRST_BENCH_DEVICE`] + `index`, the kind
//! [`bench_kind`]`(index)` with the demo fleet's capability and comfort limits for that kind,
//! region `BENCH-R{index % 16}`, gateway `index % gateways` and an owner of its own household
//! (two devices per owner). The seeds are public: benchmark chains only.

use alloc::{string::String, vec::Vec};
use codec::Encode;
use openvpp_primitives::{
	AttestationKey, BasisPoints, Capability, ComfortLimits, DeviceId, DeviceKind, DeviceState,
	GridResponseStatus, IntervalReport, QualityFlags, UnixSeconds, FULL_BP,
};
use pallet_device_registry::GenesisDevice;
use sp_core::{sr25519, Pair, H256};
use sp_runtime::traits::{BlakeTwo256, Hash};

use crate::{demo_fleet, AccountId, RuntimeCall, UncheckedExtrinsic};

/// Id of the first benchmark device (after the 7 demo devices of the development genesis).
pub const FIRST_BENCH_DEVICE: DeviceId = 8;
/// Regions the benchmark devices are spread over (`BENCH-R0` …).
pub const BENCH_REGIONS: u32 = 16;
/// Devices per owner: a household with, say, a rooftop array and a battery.
pub const DEVICES_PER_OWNER: u32 = 2;

/// A benchmark chain's population on top of its preset.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BenchFleet {
	pub devices: u32,
	/// Gateways the devices are spread over (each submits its devices' batches).
	pub gateways: u32,
	/// Funded accounts that send the transfer flood.
	pub senders: u32,
}

impl BenchFleet {
	/// The chain property (`benchFleet`) a benchmark chain publishes its fleet in.
	pub const PROPERTY: &'static str = "benchFleet";

	/// The fleet as the `benchFleet` chain property.
	pub fn to_property(&self, validators: usize) -> serde_json::Value {
		serde_json::json!({
			"devices": self.devices,
			"gateways": self.gateways,
			"senders": self.senders,
			"validators": validators,
		})
	}

	/// The fleet a chain's properties (`system_properties`) publish; `None` for a chain that is
	/// not a benchmark chain.
	pub fn from_properties(
		properties: &serde_json::Map<String, serde_json::Value>,
	) -> Option<Self> {
		let fleet = properties.get(Self::PROPERTY)?;
		let field = |name: &str| fleet.get(name)?.as_u64().and_then(|n| u32::try_from(n).ok());
		Some(BenchFleet {
			devices: field("devices")?,
			gateways: field("gateways")?.max(1),
			senders: field("senders")?,
		})
	}
}

fn derived_pair(domain: &[u8], index: u32) -> sr25519::Pair {
	let seed = BlakeTwo256::hash(&(domain, index).encode());
	sr25519::Pair::from_seed(&seed.0)
}

/// The attestation key of benchmark device number `index` (0-based).
pub fn bench_device_key(index: u32) -> sr25519::Pair {
	derived_pair(b"openvpp-bench-device", index)
}

/// The key of benchmark gateway number `gateway` (0-based).
pub fn bench_gateway_key(gateway: u32) -> sr25519::Pair {
	derived_pair(b"openvpp-bench-gateway", gateway)
}

/// The key of transfer sender number `index` (0-based).
pub fn bench_sender_key(index: u32) -> sr25519::Pair {
	derived_pair(b"openvpp-bench-sender", index)
}

/// The owner of benchmark device `index`: an account nobody signs for (owners never act in a
/// benchmark), one per household of [`DEVICES_PER_OWNER`] devices.
pub fn bench_owner(index: u32) -> AccountId {
	let household = index / DEVICES_PER_OWNER;
	AccountId::new(BlakeTwo256::hash(&(b"openvpp-bench-owner", household).encode()).0)
}

/// The gateway account of benchmark device `index` in a fleet with `gateways` gateways.
pub fn bench_gateway_of(index: u32, gateways: u32) -> AccountId {
	crate::extrinsic::account_of(&bench_gateway_key(index % gateways.max(1)))
}

/// The kind of benchmark device `index`, in the shares of a household fleet: of every 20
/// devices, 8 rooftop arrays, 5 home batteries, 3 electric vehicles, 2 EV chargers, one energy
/// manager and one commercial battery.
pub fn bench_kind(index: u32) -> DeviceKind {
	match index % 20 {
		0..=7 => DeviceKind::RooftopSolar,
		8..=12 => DeviceKind::HomeBattery,
		13..=15 => DeviceKind::ElectricVehicle,
		16..=17 => DeviceKind::EvCharger,
		18 => DeviceKind::EnergyManagementSystem,
		_ => DeviceKind::CommercialBattery,
	}
}

/// The demo fleet's capability and comfort limits for `kind` (every kind but the smart meter
/// has a demo device), looked up once per process: a flood builds a reading per device.
pub fn bench_profile(kind: DeviceKind) -> &'static (Capability, ComfortLimits) {
	static PROFILES: std::sync::OnceLock<Vec<(DeviceKind, (Capability, ComfortLimits))>> =
		std::sync::OnceLock::new();
	static NONE: std::sync::OnceLock<(Capability, ComfortLimits)> = std::sync::OnceLock::new();
	let profiles = PROFILES.get_or_init(|| {
		DeviceKind::ALL
			.iter()
			.map(|&kind| {
				let profile = demo_fleet::demo_fleet()
					.into_iter()
					.find(|device| device.kind == kind)
					.map(|device| (device.capability, device.comfort))
					.unwrap_or_default();
				(kind, profile)
			})
			.collect()
	});
	profiles
		.iter()
		.find(|(k, _)| *k == kind)
		.map(|(_, profile)| profile)
		.unwrap_or_else(|| NONE.get_or_init(Default::default))
}

/// The fleet's devices as genesis devices, in id order.
pub fn genesis_devices(fleet: &BenchFleet) -> Vec<GenesisDevice<AccountId>> {
	let gateways: Vec<AccountId> = (0..fleet.gateways.max(1))
		.map(|g| crate::extrinsic::account_of(&bench_gateway_key(g)))
		.collect();
	(0..fleet.devices)
		.map(|index| {
			let kind = bench_kind(index);
			let (capability, comfort) = bench_profile(kind).clone();
			GenesisDevice {
				owner: bench_owner(index),
				gateway: gateways[(index % fleet.gateways.max(1)) as usize].clone(),
				kind,
				capability,
				region: alloc::format!("BENCH-R{}", index % BENCH_REGIONS),
				attestation_key: AttestationKey::Sr25519(bench_device_key(index).public()),
				comfort,
				manufacturer: String::new(),
				model: String::new(),
				serial_number: String::new(),
				firmware_version: String::new(),
				site_meter: None,
			}
		})
		.collect()
}

/// The energy a benchmark device moves in one interval (Wh): a fifth of its rating for
/// storage, a tenth for EVs and chargers, a third for rooftop arrays and energy managers.
fn interval_energy_wh(kind: DeviceKind, capability: &Capability, interval_length_s: u32) -> u64 {
	let share_percent = match kind {
		DeviceKind::HomeBattery | DeviceKind::CommercialBattery => 20,
		DeviceKind::ElectricVehicle | DeviceKind::EvCharger => 10,
		_ => 33,
	};
	u64::from(capability.rated_power_w) * share_percent / 100 * u64::from(interval_length_s) / 3_600
}

/// State of charge of a benchmark battery of `capacity_wh` whose meter counters stand at
/// `cumulative_imported_wh` and `cumulative_exported_wh` (bp): it starts at 30 % and follows the
/// energy the meter put in and took out, within 0–100 %.
pub fn bench_soc_bp(
	capacity_wh: u64,
	cumulative_imported_wh: u64,
	cumulative_exported_wh: u64,
) -> BasisPoints {
	const START_BP: i128 = 3_000;
	let held_wh = i128::from(cumulative_imported_wh) - i128::from(cumulative_exported_wh);
	let soc = START_BP + held_wh * i128::from(FULL_BP) / i128::from(capacity_wh.max(1));
	// The clamp keeps it within 0..=10 000, which fits.
	BasisPoints::try_from(soc.clamp(0, i128::from(FULL_BP))).unwrap_or(FULL_BP)
}

/// Reading number `sequence` (1-based, one per interval) of benchmark device `index`, plausible
/// for its kind: rooftop arrays export, chargers and energy managers import, batteries charge
/// and discharge in turn (their state of charge following the metered energy), EVs charge. The
/// meter counters are what the device's earlier readings of the same kind add up to.
pub fn bench_report(
	index: u32,
	sequence: u64,
	interval_start: UnixSeconds,
	interval_length_s: u32,
) -> IntervalReport {
	let kind = bench_kind(index);
	let (capability, _) = bench_profile(kind);
	let energy_wh = interval_energy_wh(kind, capability, interval_length_s);
	// (imported, exported) in this interval, and the counters after it.
	let (imported, exported, cumulative_imported, cumulative_exported) = match kind {
		DeviceKind::RooftopSolar => (0, energy_wh, 0, energy_wh * sequence),
		DeviceKind::HomeBattery | DeviceKind::CommercialBattery => {
			// Odd readings charge, even ones discharge.
			let charges = sequence.div_ceil(2);
			let discharges = sequence / 2;
			let (imported, exported) =
				if sequence % 2 == 1 { (energy_wh, 0) } else { (0, energy_wh) };
			(imported, exported, energy_wh * charges, energy_wh * discharges)
		}
		_ => (energy_wh, 0, energy_wh * sequence, 0),
	};
	let soc_bp = capability
		.storage_capacity_wh
		.filter(|_| kind.has_storage())
		.map(|capacity_wh| bench_soc_bp(capacity_wh, cumulative_imported, cumulative_exported));
	let net_wh = exported as i64 - imported as i64;
	let average_power_w = (net_wh * 3_600 / i64::from(interval_length_s.max(1))) as i32;
	IntervalReport {
		device_id: FIRST_BENCH_DEVICE + index,
		sequence,
		interval_start,
		interval_length_s,
		energy_imported_wh: imported,
		energy_exported_wh: exported,
		cumulative_imported_wh: cumulative_imported,
		cumulative_exported_wh: cumulative_exported,
		average_power_w,
		peak_power_w: average_power_w,
		soc_bp,
		device_state: DeviceState::Operating,
		grid_response: GridResponseStatus::Idle,
		online_s: interval_length_s,
		quality: QualityFlags::default(),
	}
}

/// Readings in a batch of a benchmark block: the size docs/performance.md measured (gateways
/// send `DEFAULT_REPORTS_PER_BATCH` by default).
pub const BENCH_BATCH: u32 = 500;

/// Batch number `n` of a block of report batches: gateway `n % gateways` submits, at its nonce
/// `n / gateways`, the first reading (for the interval starting at `interval_start`) of the
/// `n / gateways`-th [`BENCH_BATCH`] of its own devices, so that each reading is its device's
/// first and every batch in the block is valid. `None` when the gateway has no such batch.
pub fn bench_batch(
	fleet: &BenchFleet,
	genesis: H256,
	interval_start: UnixSeconds,
	interval_length_s: u32,
	n: u32,
) -> Option<UncheckedExtrinsic> {
	let gateways = fleet.gateways.max(1);
	let (gateway, round) = (n % gateways, n / gateways);
	let first = round.checked_mul(BENCH_BATCH)?;
	if first.checked_add(BENCH_BATCH)? > fleet.devices / gateways {
		return None;
	}
	let reports: Vec<openvpp_primitives::SignedReport> = (first..first + BENCH_BATCH)
		.map(|k| {
			// Device i is bound to gateway i % gateways.
			let index = k * gateways + gateway;
			let report = bench_report(index, 1, interval_start, interval_length_s);
			let payload = openvpp_primitives::report_signing_payload(&genesis, &report);
			let signature = bench_device_key(index).sign(&payload).into();
			openvpp_primitives::SignedReport { report, signature }
		})
		.collect();
	let call = RuntimeCall::Telemetry(pallet_telemetry::Call::submit_reports {
		reports: sp_runtime::BoundedVec::truncate_from(reports),
		raw_data_digest: None,
	});
	Some(crate::extrinsic::sign(call, &bench_gateway_key(gateway), round, genesis))
}

#[cfg(test)]
mod tests {
	use super::*;
	use openvpp_primitives::{check_plausibility, PlausibilityTolerances};

	#[test]
	fn a_device_of_every_bench_kind_reads_plausibly_over_many_intervals() {
		let tolerances: PlausibilityTolerances = sp_io::TestExternalities::default().execute_with(|| {
			<crate::configs::parameters::dynamic_params::telemetry::Tolerances as frame_support::traits::Get<_>>::get()
		});
		for index in 0..20 {
			let kind = bench_kind(index);
			let (capability, _) = bench_profile(kind);
			assert!(capability.rated_power_w > 0, "{kind:?} has a demo profile");
			let mut reference = None;
			for sequence in 1..=200u64 {
				let report = bench_report(index, sequence, 60 * sequence, 60);
				let assessment =
					check_plausibility(&report, kind, capability, reference.as_ref(), &tolerances);
				assert!(
					assessment.flags.is_plausible(),
					"{kind:?} reading {sequence}: {:?}",
					assessment.flags
				);
				reference = assessment.reference;
			}
		}
	}

	#[test]
	fn the_fleet_is_spread_over_gateways_owners_and_kinds() {
		let fleet = BenchFleet { devices: 40, gateways: 3, senders: 0 };
		let devices = genesis_devices(&fleet);
		assert_eq!(devices.len(), 40);
		assert_eq!(devices[0].gateway, devices[3].gateway);
		assert_ne!(devices[0].gateway, devices[1].gateway);
		assert_eq!(devices[0].owner, devices[1].owner);
		assert_ne!(devices[0].owner, devices[2].owner);
		assert_eq!(devices.iter().filter(|d| d.kind.has_storage()).count(), 2 * (5 + 3 + 1));
		assert_ne!(bench_device_key(0).public(), bench_device_key(1).public());
	}

	#[test]
	fn the_fleet_round_trips_through_the_chain_property() {
		let fleet = BenchFleet { devices: 500_000, gateways: 20, senders: 4_000 };
		let mut properties = serde_json::Map::new();
		assert_eq!(BenchFleet::from_properties(&properties), None);
		properties.insert(BenchFleet::PROPERTY.into(), fleet.to_property(3));
		assert_eq!(BenchFleet::from_properties(&properties), Some(fleet));
		properties.insert(BenchFleet::PROPERTY.into(), serde_json::json!({ "devices": 5 }));
		assert_eq!(BenchFleet::from_properties(&properties), None);
	}
}
