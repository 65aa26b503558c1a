//! Every MQTT payload format the bridge reads, on arbitrary payloads and topics: parsing never
//! panics, and what it accepts is within the bounds the aggregator relies on (a state of charge
//! of at most 100 %, a signed report that re-encodes to the bytes it came from).
#![no_main]

use codec::Encode;
use libfuzzer_sys::fuzz_target;
use openvpp_bridge::{
	config::{Counters, EnergyUnit, MqttMapping, PowerDirection, ShellyComponent},
	mapping::{self, Update},
};

fn mappings() -> Vec<MqttMapping> {
	vec![
		MqttMapping::OpenvppJson {
			topic: "d/state".into(),
			availability_topic: Some("d/status".into()),
			counters: Counters::Both,
			max_gap_s: None,
		},
		MqttMapping::OpenvppJson {
			topic: "d/state".into(),
			availability_topic: None,
			counters: Counters::ImportOnly,
			max_gap_s: None,
		},
		MqttMapping::Tasmota {
			prefix: "tele/d".into(),
			power_direction: PowerDirection::Export,
			max_gap_s: None,
		},
		MqttMapping::Shelly {
			prefix: "shelly".into(),
			component: ShellyComponent::Em,
			id: 0,
			power_direction: PowerDirection::Import,
			max_gap_s: None,
		},
		MqttMapping::Shelly {
			prefix: "shelly".into(),
			component: ShellyComponent::Em1,
			id: 1,
			power_direction: PowerDirection::Export,
			max_gap_s: None,
		},
		MqttMapping::SingleValue {
			power_topic: "evcc/power".into(),
			power_direction: PowerDirection::Import,
			soc_topic: Some("evcc/soc".into()),
			imported_energy_topic: Some("evcc/import".into()),
			exported_energy_topic: None,
			energy_unit: EnergyUnit::Kwh,
			availability_topic: Some("evcc/status".into()),
			max_gap_s: None,
		},
		MqttMapping::OpenvppSigned { topic: "d/report".into() },
	]
}

fuzz_target!(|data: &[u8]| {
	// The first byte picks the topic among every topic of every mapping; the rest is the payload.
	let Some((&pick, payload)) = data.split_first() else { return };
	let mappings = mappings();
	let topics: Vec<String> = mappings.iter().flat_map(|m| m.topics()).collect();
	let topic = &topics[usize::from(pick) % topics.len()];
	for mapping in &mappings {
		match mapping::parse(mapping, topic, payload, 1_767_225_600_000) {
			Ok(Update::Sample(sample)) => {
				assert!(sample.soc_bp.is_none_or(|soc| soc <= 10_000), "{sample:?}");
			}
			Ok(Update::Signed(signed)) => {
				let reencoded = signed.encode();
				assert!(!reencoded.is_empty());
			}
			Ok(Update::Availability { .. }) | Err(_) => {}
		}
	}
});
