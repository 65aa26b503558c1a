//! The decoder against public SunSpec material (see `oracle-bridge/gateway/tests/data/README.md`):
//!
//! - `sunspec_points.tsv`: every point of the supported models, extracted from the official
//!   definitions (github.com/sunspec/models, `json/model_<id>.json`). The `layout` constants and
//!   their scale-factor pairings are checked against it, and register images are laid out from
//!   it — not from the constants under test.
//! - `pysunspec_mbmap_test_inverter_1.xml`: a whole device image from SunSpec's reference
//!   implementation (github.com/sunspec/pysunspec,
//!   `sunspec/core/test/devices/mbmap_test_inverter_1.xml`), served at each base address.

use std::collections::BTreeMap;

use openvpp_primitives::DeviceState;

use super::*;

const POINTS_TSV: &str = include_str!("../../tests/data/sunspec_points.tsv");
const PYSUNSPEC_INVERTER: &str =
	include_str!("../../tests/data/pysunspec_mbmap_test_inverter_1.xml");

/// One point of an official model definition.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Point {
	offset: usize,
	kind: String,
	size: usize,
	sf: Option<String>,
	mandatory: bool,
}

/// Model id → point name → point.
fn official() -> BTreeMap<u16, BTreeMap<String, Point>> {
	let mut models: BTreeMap<u16, BTreeMap<String, Point>> = BTreeMap::new();
	for line in POINTS_TSV.lines().filter(|l| !l.starts_with('#') && !l.trim().is_empty()) {
		let fields: Vec<&str> = line.split('\t').collect();
		let [model, name, offset, kind, size, sf, mandatory] = fields[..] else {
			panic!("bad fixture line {line:?}")
		};
		let point = Point {
			offset: offset.parse().unwrap(),
			kind: kind.into(),
			size: size.parse().unwrap(),
			sf: (sf != "-").then(|| sf.to_string()),
			mandatory: mandatory == "M",
		};
		models.entry(model.parse().unwrap()).or_default().insert(name.into(), point);
	}
	models
}

fn point<'a>(models: &'a BTreeMap<u16, BTreeMap<String, Point>>, id: u16, name: &str) -> &'a Point {
	models.get(&id).and_then(|m| m.get(name)).unwrap_or_else(|| panic!("{id}.{name} not official"))
}

/// L of a model: the registers after ID and L.
fn official_len(models: &BTreeMap<u16, BTreeMap<String, Point>>, id: u16) -> u16 {
	let end = models[&id].values().map(|p| p.offset + p.size).max().unwrap();
	u16::try_from(end - 2).unwrap()
}

/// A point the bridge reads or writes: its name, the `layout` offset, the official type it assumes, and
/// its scale factor (name, `layout` offset, whether the decoder treats it as optional).
type Read = (&'static str, usize, &'static str, Option<(&'static str, usize, bool)>);

fn what_is_read() -> Vec<(Vec<u16>, u16, Vec<Read>)> {
	use layout::*;
	vec![
		(
			vec![common::ID],
			common::LEN,
			vec![
				("Mn", common::MN, "string", None),
				("Md", common::MD, "string", None),
				("Vr", common::VR, "string", None),
				("SN", common::SN, "string", None),
			],
		),
		(
			inverter::IDS.to_vec(),
			inverter::LEN,
			vec![
				("W", inverter::W, "int16", Some(("W_SF", inverter::W_SF, false))),
				("WH", inverter::WH, "acc32", Some(("WH_SF", inverter::WH_SF, false))),
				("St", inverter::ST, "enum16", None),
			],
		),
		(
			meter::IDS.to_vec(),
			meter::LEN,
			vec![
				("W", meter::W, "int16", Some(("W_SF", meter::W_SF, false))),
				(
					"TotWhExp",
					meter::TOT_WH_EXP,
					"acc32",
					Some(("TotWh_SF", meter::TOT_WH_SF, false)),
				),
				(
					"TotWhImp",
					meter::TOT_WH_IMP,
					"acc32",
					Some(("TotWh_SF", meter::TOT_WH_SF, false)),
				),
			],
		),
		(
			vec![storage::ID],
			storage::LEN,
			vec![
				(
					"ChaState",
					storage::CHA_STATE,
					"uint16",
					Some(("ChaState_SF", storage::CHA_STATE_SF, true)),
				),
				(
					"OutWRte",
					storage::OUT_W_RTE,
					"int16",
					Some(("InOutWRte_SF", storage::IN_OUT_W_RTE_SF, true)),
				),
				(
					"InWRte",
					storage::IN_W_RTE,
					"int16",
					Some(("InOutWRte_SF", storage::IN_OUT_W_RTE_SF, true)),
				),
				(
					"WChaMax",
					storage::W_CHA_MAX,
					"uint16",
					Some(("WChaMax_SF", storage::W_CHA_MAX_SF, false)),
				),
				("StorCtl_Mod", storage::STOR_CTL_MOD, "bitfield16", None),
				("InOutWRte_WinTms", storage::IN_OUT_W_RTE_WIN_TMS, "uint16", None),
				("InOutWRte_RvrtTms", storage::IN_OUT_W_RTE_RVRT_TMS, "uint16", None),
			],
		),
		(
			vec![battery::ID],
			battery::LEN,
			vec![
				("SoC", battery::SOC, "uint16", Some(("SoC_SF", battery::SOC_SF, false))),
				("W", battery::W, "int16", Some(("W_SF", battery::W_SF, true))),
			],
		),
	]
}

#[test]
fn layout_offsets_and_scale_factors_match_the_official_definitions() {
	let models = official();
	assert_eq!(
		models.keys().copied().collect::<Vec<_>>(),
		vec![1, 101, 102, 103, 124, 201, 202, 203, 204, 802]
	);
	for (ids, len, reads) in what_is_read() {
		for id in ids {
			assert_eq!(len, official_len(&models, id), "model {id}: L");
			for (name, offset, kind, sf) in &reads {
				let official = point(&models, id, name);
				assert_eq!(*offset, official.offset, "model {id}: {name} offset");
				assert_eq!(*kind, official.kind, "model {id}: {name} type");
				// Every accumulator read is mandatory, so a meter serves both: one at 0 (not
				// implemented) next to a live one is a direction it has not counted yet.
				if official.kind == "acc32" {
					assert!(official.mandatory, "model {id}: {name} is optional");
				}
				match sf {
					None => assert_eq!(official.sf, None, "model {id}: {name} has a scale factor"),
					Some((sf_name, sf_offset, optional)) => {
						assert_eq!(
							official.sf.as_deref(),
							Some(*sf_name),
							"model {id}: {name}'s SF"
						);
						let sf_point = point(&models, id, sf_name);
						assert_eq!(*sf_offset, sf_point.offset, "model {id}: {sf_name} offset");
						assert_eq!(sf_point.kind, "sunssf");
						assert_eq!(
							*optional, !sf_point.mandatory,
							"model {id}: {sf_name} optional"
						);
					}
				}
			}
		}
	}
	// The strings of the common model: decode_common reads 16, 16, 8 and 16 registers.
	for (name, size) in [("Mn", 16), ("Md", 16), ("Vr", 8), ("SN", 16)] {
		assert_eq!(point(&models, 1, name).size, size, "{name}");
	}
}

/// A model block laid out from the official point list: ID, L, and every point "not
/// implemented" for its type; `set` fills points by name.
struct Block {
	id: u16,
	registers: Vec<u16>,
	points: BTreeMap<String, Point>,
}

impl Block {
	fn new(models: &BTreeMap<u16, BTreeMap<String, Point>>, id: u16) -> Self {
		let points = models[&id].clone();
		let len = official_len(models, id);
		let mut registers = vec![0u16; usize::from(len) + 2];
		for point in points.values() {
			let words: Vec<u16> = match point.kind.as_str() {
				"int16" | "sunssf" | "pad" => vec![0x8000],
				"uint16" | "enum16" | "bitfield16" => vec![0xFFFF],
				"uint32" | "bitfield32" | "enum32" => vec![0xFFFF, 0xFFFF],
				"acc32" | "string" => vec![0; point.size],
				other => panic!("type {other} not in the fixture's models"),
			};
			registers[point.offset..point.offset + point.size].copy_from_slice(&words);
		}
		registers[0] = id;
		registers[1] = len;
		Block { id, registers, points }
	}

	fn set(&mut self, name: &str, value: i64) -> &mut Self {
		let point = &self.points[name];
		let words: Vec<u16> = match (point.kind.as_str(), point.size) {
			(_, 1) => vec![value as u16],
			("acc32" | "uint32", 2) => vec![(value >> 16) as u16, value as u16],
			other => panic!("cannot set {name} ({other:?})"),
		};
		self.registers[point.offset..point.offset + point.size].copy_from_slice(&words);
		self
	}

	fn header(&self, address: u16) -> ModelHeader {
		ModelHeader { id: self.id, address, len: self.registers[1] }
	}
}

#[test]
fn not_implemented_everywhere_reads_as_absent() {
	let models = official();
	for id in layout::inverter::IDS {
		assert_eq!(decode_inverter(&Block::new(&models, id).registers, id), Ok(Default::default()));
	}
	for id in layout::meter::IDS {
		assert_eq!(decode_meter(&Block::new(&models, id).registers, id), Ok(Default::default()));
	}
	assert_eq!(decode_storage(&Block::new(&models, 124).registers), Ok(Default::default()));
	assert_eq!(decode_battery(&Block::new(&models, 802).registers), Ok(Default::default()));
	// A device serving only "not implemented" makes a sample without values: nothing is
	// invented (it answers, so it is present).
	let blocks: Vec<_> = [103u16, 203, 124, 802]
		.into_iter()
		.map(|id| {
			let block = Block::new(&models, id);
			(block.header(40_002), block.registers)
		})
		.collect();
	let sample = decode_device(&blocks).unwrap().to_sample(9);
	assert_eq!(sample, crate::aggregator::Sample { at_ms: 9, ..Default::default() });
}

#[test]
fn inverters_101_to_103_from_the_official_layout() {
	let models = official();
	for id in layout::inverter::IDS {
		let mut block = Block::new(&models, id);
		block.set("W", 5_432).set("W_SF", -1).set("WH", 1_000_000).set("WH_SF", 0).set("St", 4);
		let reading = decode_inverter(&block.registers, id).unwrap();
		assert_eq!(
			reading,
			InverterReading {
				power_w: Some(543),
				lifetime_wh: Some(1_000_000),
				state: Some(DeviceState::Operating)
			},
			"model {id}"
		);
		// Negative power (a battery inverter charging), kWh-scaled energy.
		block.set("W", -1_234).set("W_SF", 0).set("WH", 70_000).set("WH_SF", 3).set("St", 7);
		let reading = decode_inverter(&block.registers, id).unwrap();
		assert_eq!(reading.power_w, Some(-1_234));
		assert_eq!(reading.lifetime_wh, Some(70_000_000));
		assert_eq!(reading.state, Some(DeviceState::Fault));
		// Sentinels: int16 0x8000, enum16 0xFFFF, a mandatory sunssf 0x8000.
		block.set("W", 0x8000).set("St", 0xFFFF).set("WH_SF", 0x8000);
		assert_eq!(decode_inverter(&block.registers, id), Ok(InverterReading::default()));
		// An accumulator at 0 is "not implemented", mandatory or not (an inverter asleep).
		block.set("WH", 0).set("WH_SF", 0);
		assert_eq!(decode_inverter(&block.registers, id).unwrap().lifetime_wh, None);
		let sample =
			decode_device(&[(block.header(40_070), block.registers.clone())]).unwrap().to_sample(1);
		assert_eq!((sample.imported_wh, sample.exported_wh), (None, None));
		// A PV inverter alone: its counter is its export, import counts as 0.
		block.set("WH", 81_000);
		let sample =
			decode_device(&[(block.header(40_070), block.registers.clone())]).unwrap().to_sample(1);
		assert_eq!((sample.imported_wh, sample.exported_wh), (Some(0), Some(81_000)));
	}
}

#[test]
fn meters_201_to_204_from_the_official_layout() {
	let models = official();
	for id in layout::meter::IDS {
		let mut block = Block::new(&models, id);
		// Exporting 1.5 kW; 1 234 560 Wh exported (×10), never imported: acc32 0.
		block
			.set("W", -15)
			.set("W_SF", 2)
			.set("TotWhExp", 123_456)
			.set("TotWhImp", 0)
			.set("TotWh_SF", 1);
		let reading = decode_meter(&block.registers, id).unwrap();
		assert_eq!(
			reading,
			MeterReading {
				import_power_w: Some(-1_500),
				total_exported_wh: Some(1_234_560),
				total_imported_wh: None,
			},
			"model {id}"
		);
		// The import not counted yet is 0 next to the live export, so energy is counter-based;
		// exporting is positive on chain.
		let sample = DeviceReading { meter: Some(reading), ..Default::default() }.to_sample(1);
		assert_eq!(sample.power_w, Some(1_500));
		assert_eq!((sample.imported_wh, sample.exported_wh), (Some(0), Some(1_234_560)));
		// High word of an accumulator beyond 16 bits.
		block.set("TotWhImp", 0x0001_86A0).set("TotWh_SF", 0);
		assert_eq!(decode_meter(&block.registers, id).unwrap().total_imported_wh, Some(100_000));
		// Sentinels: int16 W 0x8000; the mandatory TotWh_SF not implemented.
		block.set("W", 0x8000).set("TotWh_SF", 0x8000);
		assert_eq!(decode_meter(&block.registers, id), Ok(MeterReading::default()));
		// A scale factor outside the SunSpec range is an error, not a value.
		block.set("W", 10).set("W_SF", -11);
		assert_eq!(
			decode_meter(&block.registers, id),
			Err(SunSpecError::BadScaleFactor { point: "W_SF", value: -11 })
		);
	}
}

#[test]
fn storage_124_from_the_official_layout() {
	let models = official();
	let mut block = Block::new(&models, 124);
	block.set("ChaState", 6_543).set("ChaState_SF", -2);
	assert_eq!(decode_storage(&block.registers).unwrap().soc_bp, Some(6_543));
	// ChaState_SF is optional: not implemented means whole percent.
	block.set("ChaState", 65).set("ChaState_SF", 0x8000);
	assert_eq!(decode_storage(&block.registers).unwrap().soc_bp, Some(6_500));
	// uint16 0xFFFF: not implemented.
	block.set("ChaState", 0xFFFF);
	assert_eq!(decode_storage(&block.registers).unwrap().soc_bp, None);
	// More than 100 %.
	block.set("ChaState", 1_001).set("ChaState_SF", -1);
	assert!(matches!(
		decode_storage(&block.registers),
		Err(SunSpecError::OutOfRange { point: "ChaState", value: 10_010 })
	));
}

#[test]
fn battery_802_from_the_official_layout() {
	let models = official();
	let mut block = Block::new(&models, 802);
	block.set("SoC", 725).set("SoC_SF", -1).set("W", -300).set("W_SF", 1);
	// 72.5 %; charging at 3 kW (a positive W_SF).
	assert_eq!(
		decode_battery(&block.registers),
		Ok(BatteryReading { soc_bp: Some(7_250), power_w: Some(-3_000) })
	);
	// A negative W_SF rounds to the nearest watt.
	block.set("W", 12_345).set("W_SF", -2);
	assert_eq!(decode_battery(&block.registers).unwrap().power_w, Some(123));
	block.set("W", -12_350);
	assert_eq!(decode_battery(&block.registers).unwrap().power_w, Some(-124));
	// W_SF is optional in model 802: not implemented means unscaled watts.
	block.set("W", 2_500).set("W_SF", 0x8000);
	assert_eq!(decode_battery(&block.registers).unwrap().power_w, Some(2_500));
	// SoC_SF is mandatory: not implemented makes the SoC absent, not 725 %.
	block.set("SoC_SF", 0x8000);
	assert_eq!(decode_battery(&block.registers).unwrap().soc_bp, None);
	// The battery's power stands in for a missing inverter; positive = discharging.
	let sample =
		decode_device(&[(block.header(40_070), block.registers.clone())]).unwrap().to_sample(1);
	assert_eq!(sample.power_w, Some(2_500));
}

/// The registers of a pysunspec `mbmap` image: `<regs type=".." [len=".."]>value</regs>`, in
/// order (types `string`, `u16`, `s16`, `u32`).
fn parse_mbmap(xml: &str) -> Vec<u16> {
	let attribute = |tag: &str, name: &str| -> Option<String> {
		let start = tag.find(&format!("{name}=\""))? + name.len() + 2;
		Some(tag[start..].split('"').next()?.to_string())
	};
	let number = |text: &str| -> i64 {
		match text.strip_prefix("0x") {
			Some(hex) => i64::from_str_radix(hex, 16).unwrap(),
			None => text.parse().unwrap(),
		}
	};
	let mut registers = Vec::new();
	for line in xml.lines() {
		let Some(start) = line.find("<regs ") else { continue };
		let rest = &line[start..];
		let close = rest.find('>').unwrap();
		let tag = &rest[..close];
		let value = rest[close + 1..].split("</regs>").next().unwrap().trim();
		match attribute(tag, "type").unwrap().as_str() {
			"string" => {
				let len: usize = attribute(tag, "len").unwrap().parse().unwrap();
				let mut bytes = value.as_bytes().to_vec();
				bytes.resize(len * 2, 0);
				registers.extend(bytes.chunks(2).map(|p| u16::from_be_bytes([p[0], p[1]])));
			}
			"u16" | "s16" => registers.push(number(value) as u16),
			"u32" => {
				let v = number(value);
				registers.extend([(v >> 16) as u16, v as u16]);
			}
			other => panic!("type {other}"),
		}
	}
	registers
}

#[test]
fn pysunspec_reference_inverter_image_at_every_base() {
	let image = parse_mbmap(PYSUNSPEC_INVERTER);
	// Marker, common (2 + 66), model 103 (2 + 50), end marker (2).
	assert_eq!(image.len(), 2 + 68 + 52 + 2);
	for base in [40_000u16, 0, 50_000] {
		let read = |address: u16, count: u16| -> Result<Vec<u16>, ()> {
			let start = usize::from(address.checked_sub(base).ok_or(())?);
			image.get(start..start + usize::from(count)).map(<[u16]>::to_vec).ok_or(())
		};
		let models = walk_chain(base, read).unwrap().unwrap();
		assert_eq!(
			models,
			vec![
				ModelHeader { id: 1, address: base + 2, len: 66 },
				ModelHeader { id: 103, address: base + 70, len: 50 },
			]
		);
		let blocks: Vec<_> =
			models.iter().map(|h| (*h, read(h.address, h.block_len()).unwrap())).collect();
		assert_eq!(
			decode_common(&blocks[0].1).unwrap(),
			Common {
				manufacturer: "SunSpecTest".into(),
				model: "TestInverter-1".into(),
				version: "1.2.3".into(),
				serial_number: "sn-123456789".into(),
			}
		);
		// W 2970 × 10^0, WH 1 234 567 × 10^0, St 1 (off), as the image's comments say.
		let reading = decode_device(&blocks).unwrap();
		assert_eq!(
			reading.inverter,
			Some(InverterReading {
				power_w: Some(2_970),
				lifetime_wh: Some(1_234_567),
				state: Some(DeviceState::Off),
			})
		);
		let sample = reading.to_sample(5);
		assert_eq!(sample.power_w, Some(2_970));
		assert_eq!((sample.imported_wh, sample.exported_wh), (Some(0), Some(1_234_567)));
	}
	// The image's model 103 against the official layout: W_SF 0, WH_SF 0, Hz_SF -2 where the
	// official offsets put them (the image's comments count from the first point, not ID).
	let models = official();
	let block = &image[70..122];
	for (name, value) in [("W", 2_970u16), ("W_SF", 0), ("WH_SF", 0), ("Hz", 5_999), ("St", 1)] {
		assert_eq!(block[point(&models, 103, name).offset], value, "{name}");
	}
	assert_eq!(block[point(&models, 103, "Hz_SF").offset], (-2i16) as u16);
}
