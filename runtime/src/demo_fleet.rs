//! The demo fleet registered in the `development` genesis: one device of each kind, active from
//! block 0, whose attestation keys derive from the documented seeds below so that the oracle
//! bridge and the simulator can sign for them.
//!
//! | device | kind | owner | region | key scheme | seed |
//! | --- | --- | --- | --- | --- | --- |
//! | 1 | electric vehicle | Bob | DE-TENNET | sr25519 | `//OpenVPP-Demo//electric-vehicle` |
//! | 2 | EV charger | Bob | DE-TENNET | sr25519 | `//OpenVPP-Demo//ev-charger` |
//! | 3 | home battery | Alice | DE-TENNET | sr25519 | `//OpenVPP-Demo//home-battery` |
//! | 4 | C&I battery | Charlie | DE-AMPRION | sr25519 | `//OpenVPP-Demo//ci-battery` |
//! | 5 | rooftop solar | Alice | DE-TENNET | ed25519 | `//OpenVPP-Demo//rooftop-solar` |
//! | 6 | smart meter | Alice | DE-TENNET | ecdsa | `//OpenVPP-Demo//smart-meter` |
//! | 7 | energy manager | Alice | DE-TENNET | sr25519 | `//OpenVPP-Demo//energy-manager` |
//!
//! Alice's home battery, rooftop solar and energy manager sit behind her smart meter (device 6):
//! the meter's readings are her house's grid connection.
//!
//! Every device is bound to the gateway account `//Ferdie`; `//Dave` holds the verifier role.
//! The seeds are public: this fleet is for development chains only.

use alloc::{string::String, vec::Vec};
use hex_literal::hex;
use openvpp_primitives::{AttestationKey, Capability, ComfortLimits, DeviceKind, DispatchWindow};
use pallet_device_registry::GenesisDevice;
use sp_core::{ecdsa, ed25519, sr25519};
use sp_keyring::Sr25519Keyring;
use sp_runtime::BoundedVec;

use crate::AccountId;

/// The gateway every demo device is bound to.
pub const DEMO_GATEWAY: Sr25519Keyring = Sr25519Keyring::Ferdie;
/// The account with the verifier role on development chains.
pub const DEMO_VERIFIER: Sr25519Keyring = Sr25519Keyring::Dave;

/// Which signature scheme a demo device's key uses.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum KeyScheme {
	Sr25519,
	Ed25519,
	Ecdsa,
}

/// One device of the demo fleet.
#[derive(Clone, Debug)]
pub struct DemoDevice {
	/// Short name, also the last part of the seed.
	pub name: &'static str,
	pub kind: DeviceKind,
	pub owner: Sr25519Keyring,
	pub region: &'static str,
	pub capability: Capability,
	pub comfort: ComfortLimits,
	pub scheme: KeyScheme,
	/// The attestation public key, derived from [`DemoDevice::seed`].
	pub attestation_key: AttestationKey,
	pub manufacturer: &'static str,
	pub model: &'static str,
	/// The demo device id of the smart meter this device sits behind.
	pub site_meter: Option<u32>,
}

impl DemoDevice {
	/// The secret URI the device's attestation key derives from.
	pub fn seed(&self) -> String {
		alloc::format!("//OpenVPP-Demo//{}", self.name)
	}
}

fn windows(
	list: &[(u16, u16)],
) -> BoundedVec<DispatchWindow, sp_core::ConstU32<{ openvpp_primitives::MAX_DISPATCH_WINDOWS }>> {
	BoundedVec::truncate_from(
		list.iter()
			.map(|&(start_minute, end_minute)| DispatchWindow { start_minute, end_minute })
			.collect(),
	)
}

/// The demo fleet, in device-id order (ids 1 to 7 on a fresh development chain).
pub fn demo_fleet() -> Vec<DemoDevice> {
	alloc::vec![
		DemoDevice {
			name: "electric-vehicle",
			kind: DeviceKind::ElectricVehicle,
			owner: Sr25519Keyring::Bob,
			region: "DE-TENNET",
			capability: Capability {
				rated_power_w: 11_000,
				storage_capacity_wh: Some(64_000),
				max_charge_w: Some(11_000),
				max_discharge_w: None,
			},
			// Keep 40 % for the morning commute; dispatchable overnight only.
			comfort: ComfortLimits {
				min_reserve_soc_bp: 4_000,
				dispatch_windows: windows(&[(20 * 60, 7 * 60)])
			},
			scheme: KeyScheme::Sr25519,
			attestation_key: AttestationKey::Sr25519(sr25519::Public::from_raw(hex!(
				"0e57961a19bb498a0ba7798c0463c108beed9af3d5bde44a9ce9b8ac43557100"
			))),
			manufacturer: "Demo Motors",
			model: "Volt64",
			site_meter: None,
		},
		DemoDevice {
			name: "ev-charger",
			kind: DeviceKind::EvCharger,
			owner: Sr25519Keyring::Bob,
			region: "DE-TENNET",
			capability: Capability {
				rated_power_w: 11_000,
				storage_capacity_wh: None,
				max_charge_w: Some(11_000),
				max_discharge_w: None,
			},
			comfort: ComfortLimits::default(),
			scheme: KeyScheme::Sr25519,
			attestation_key: AttestationKey::Sr25519(sr25519::Public::from_raw(hex!(
				"8a1beefd2d3cce87aecb1b74cc4c3f0085ab51e2a7b5f012eca4a61e26972311"
			))),
			manufacturer: "Demo Charging",
			model: "Wallbox 11",
			site_meter: None,
		},
		DemoDevice {
			name: "home-battery",
			kind: DeviceKind::HomeBattery,
			owner: Sr25519Keyring::Alice,
			region: "DE-TENNET",
			capability: Capability {
				rated_power_w: 5_000,
				storage_capacity_wh: Some(13_500),
				max_charge_w: Some(5_000),
				max_discharge_w: Some(5_000),
			},
			comfort: ComfortLimits { min_reserve_soc_bp: 2_000, dispatch_windows: windows(&[]) },
			scheme: KeyScheme::Sr25519,
			attestation_key: AttestationKey::Sr25519(sr25519::Public::from_raw(hex!(
				"ba63022c82166d0009e41b88005972469f03129ab773016551c9847ec587bf73"
			))),
			manufacturer: "Demo Storage",
			model: "PowerCell 13.5",
			site_meter: Some(6),
		},
		DemoDevice {
			name: "ci-battery",
			kind: DeviceKind::CommercialBattery,
			owner: Sr25519Keyring::Charlie,
			region: "DE-AMPRION",
			capability: Capability {
				rated_power_w: 250_000,
				storage_capacity_wh: Some(500_000),
				max_charge_w: Some(250_000),
				max_discharge_w: Some(250_000),
			},
			comfort: ComfortLimits { min_reserve_soc_bp: 1_000, dispatch_windows: windows(&[]) },
			scheme: KeyScheme::Sr25519,
			attestation_key: AttestationKey::Sr25519(sr25519::Public::from_raw(hex!(
				"909b66e11f6450d186e3717655965ba2c8c37680c2ddf307d87f3b1bce3cfe25"
			))),
			manufacturer: "Demo Industrial",
			model: "Grid Block 500",
			site_meter: None,
		},
		DemoDevice {
			name: "rooftop-solar",
			kind: DeviceKind::RooftopSolar,
			owner: Sr25519Keyring::Alice,
			region: "DE-TENNET",
			capability: Capability { rated_power_w: 8_000, ..Default::default() },
			comfort: ComfortLimits::default(),
			scheme: KeyScheme::Ed25519,
			attestation_key: AttestationKey::Ed25519(ed25519::Public::from_raw(hex!(
				"611f06cac244c0d03f8c20f67f690468115f85a9c1a3d414e1a24ef73dd19508"
			))),
			manufacturer: "Demo Solar",
			model: "Inverter 8K",
			site_meter: Some(6),
		},
		DemoDevice {
			name: "smart-meter",
			kind: DeviceKind::SmartMeter,
			owner: Sr25519Keyring::Alice,
			region: "DE-TENNET",
			capability: Capability { rated_power_w: 44_000, ..Default::default() },
			comfort: ComfortLimits::default(),
			scheme: KeyScheme::Ecdsa,
			attestation_key: AttestationKey::Ecdsa(ecdsa::Public::from_raw(hex!(
				"0234aa32ed69ff7512f626b73a2c0c733649d18ef3208bb487f088247e60fa8b62"
			))),
			manufacturer: "Demo Metering",
			model: "3-Phase 63A",
			site_meter: None,
		},
		DemoDevice {
			name: "energy-manager",
			kind: DeviceKind::EnergyManagementSystem,
			owner: Sr25519Keyring::Alice,
			region: "DE-TENNET",
			capability: Capability {
				rated_power_w: 15_000,
				storage_capacity_wh: None,
				max_charge_w: Some(6_000),
				max_discharge_w: None,
			},
			comfort: ComfortLimits {
				min_reserve_soc_bp: 0,
				dispatch_windows: windows(&[(6 * 60, 22 * 60)])
			},
			scheme: KeyScheme::Sr25519,
			attestation_key: AttestationKey::Sr25519(sr25519::Public::from_raw(hex!(
				"04ea08ae7d1ed3b6f1d372e0c1c3f8d1fe993301a08f41769452d7a0e4e2c833"
			))),
			manufacturer: "Demo Home",
			model: "EMS One",
			site_meter: Some(6),
		},
	]
}

/// The demo fleet as genesis devices of the device registry.
pub fn genesis_devices() -> Vec<GenesisDevice<AccountId>> {
	demo_fleet()
		.into_iter()
		.enumerate()
		.map(|(index, device)| GenesisDevice {
			owner: device.owner.to_account_id(),
			gateway: DEMO_GATEWAY.to_account_id(),
			kind: device.kind,
			capability: device.capability,
			region: device.region.into(),
			attestation_key: device.attestation_key,
			comfort: device.comfort,
			manufacturer: device.manufacturer.into(),
			model: device.model.into(),
			serial_number: alloc::format!("DEMO-{:04}", index + 1),
			firmware_version: "1.0.0".into(),
			site_meter: device.site_meter,
		})
		.collect()
}

#[cfg(test)]
mod tests {
	use super::*;
	use sp_core::Pair;

	#[test]
	fn demo_keys_derive_from_their_documented_seeds() {
		for device in demo_fleet() {
			let derived: AttestationKey = match device.scheme {
				KeyScheme::Sr25519 => {
					sr25519::Pair::from_string(&device.seed(), None).unwrap().public().into()
				}
				KeyScheme::Ed25519 => {
					ed25519::Pair::from_string(&device.seed(), None).unwrap().public().into()
				}
				KeyScheme::Ecdsa => {
					ecdsa::Pair::from_string(&device.seed(), None).unwrap().public().into()
				}
			};
			assert_eq!(derived, device.attestation_key, "{}", device.name);
		}
	}

	#[test]
	fn the_fleet_has_one_device_of_each_kind() {
		let mut kinds: Vec<_> = demo_fleet().iter().map(|d| d.kind).collect();
		kinds.sort();
		assert_eq!(kinds, DeviceKind::ALL.to_vec());
	}
}
