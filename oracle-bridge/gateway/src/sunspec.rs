//! SunSpec over Modbus: finding the model chain and decoding the models OpenVPP reads.
//!
//! A SunSpec device marks its register map with `"SunS"` (0x5375 0x6E53) at a base address
//! (40000, 0 or 50000). Models follow as `{ID, L, L registers}` blocks until the end marker
//! `ID = 0xFFFF`. Offsets below count from a model's ID register (ID = 0, L = 1), as in the
//! SunSpec model definitions (the tests check every one of them against the official JSON
//! definitions, `tests/data/sunspec_points.tsv`). Multi-register numbers are big-endian (high
//! word first); a value is `raw × 10^SF` with its scale-factor register.
//!
//! "Not implemented" is 0x8000 for int16 and scale factors, 0xFFFF for uint16 and enums, and 0
//! for accumulators — also for mandatory ones: an inverter that answers WH = 0 while it sleeps
//! must not be read as a counter that dropped to zero. Following the SunSpec reference
//! implementation (pysunspec2), a value whose *optional* scale factor is not implemented is
//! taken unscaled, while one whose *mandatory* scale factor is missing is absent (the device is
//! broken; guessing would scale energy by powers of ten).
//!
//! Supported models:
//!
//! | model | what is read |
//! | --- | --- |
//! | 1 common | manufacturer (Mn, 2), model (Md, 18), version (Vr, 42), serial (SN, 50) |
//! | 101/102/103 inverter | W 14 (W_SF 15), lifetime WH 24–25 (WH_SF 26), St 38 |
//! | 201–204 meter | W 18 (W_SF 22), TotWhExp 38–39, TotWhImp 46–47 (TotWh_SF 54) |
//! | 124 storage | ChaState 8 (ChaState_SF 22, optional) = SoC %; controlled through WChaMax 2 (WChaMax_SF 18), StorCtl_Mod 5, OutWRte 12 / InWRte 13 (InOutWRte_SF 25), InOutWRte_RvrtTms 15 ([`storage_control`]) |
//! | 802 battery | SoC 11 (SoC_SF 56), W 47 (W_SF 63, optional) |
//!
//! Sign conventions (the model definitions leave them open; OpenVPP uses the common ones):
//! inverter W is AC output, positive when delivering; meter W is positive when the site draws
//! from the grid (import); battery W (802) is positive when discharging.

use openvpp_primitives::DeviceState;

mod chain;
#[cfg(test)]
mod official;
pub mod storage_control;

pub use chain::{
	discover, walk, walk_chain, walk_models, Discovered, DiscoveryError, ReadFailure,
	RegisterReader,
};

/// `"SunS"` as two registers.
pub const SUNS_MARKER: [u16; 2] = [0x5375, 0x6E53];
/// Where the marker is looked for, in order.
pub const BASE_CANDIDATES: [u16; 3] = [40_000, 0, 50_000];
/// Model id that ends the chain.
pub const END_MODEL_ID: u16 = 0xFFFF;
/// Most models followed before the chain is considered broken.
pub const MAX_MODELS: usize = 64;

/// Register offsets (from the model's ID register) and lengths of the supported models.
pub mod layout {
	pub mod common {
		pub const ID: u16 = 1;
		pub const LEN: u16 = 66;
		pub const MN: usize = 2;
		pub const MD: usize = 18;
		pub const VR: usize = 42;
		pub const SN: usize = 50;
	}
	pub mod inverter {
		/// Single phase, split phase, three phase.
		pub const IDS: [u16; 3] = [101, 102, 103];
		pub const LEN: u16 = 50;
		pub const W: usize = 14;
		pub const W_SF: usize = 15;
		pub const WH: usize = 24;
		pub const WH_SF: usize = 26;
		pub const ST: usize = 38;
	}
	pub mod meter {
		/// Single phase, split phase, wye, delta.
		pub const IDS: [u16; 4] = [201, 202, 203, 204];
		pub const LEN: u16 = 105;
		pub const W: usize = 18;
		pub const W_SF: usize = 22;
		pub const TOT_WH_EXP: usize = 38;
		pub const TOT_WH_IMP: usize = 46;
		pub const TOT_WH_SF: usize = 54;
	}
	pub mod storage {
		pub const ID: u16 = 124;
		pub const LEN: u16 = 24;
		pub const W_CHA_MAX: usize = 2;
		pub const STOR_CTL_MOD: usize = 5;
		pub const CHA_STATE: usize = 8;
		pub const OUT_W_RTE: usize = 12;
		pub const IN_W_RTE: usize = 13;
		pub const IN_OUT_W_RTE_WIN_TMS: usize = 14;
		pub const IN_OUT_W_RTE_RVRT_TMS: usize = 15;
		pub const W_CHA_MAX_SF: usize = 18;
		pub const CHA_STATE_SF: usize = 22;
		pub const IN_OUT_W_RTE_SF: usize = 25;
	}
	pub mod battery {
		pub const ID: u16 = 802;
		pub const LEN: u16 = 62;
		pub const SOC: usize = 11;
		pub const W: usize = 47;
		pub const SOC_SF: usize = 56;
		pub const W_SF: usize = 63;
	}
}

/// Why registers could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SunSpecError {
	#[error("no \"SunS\" marker at 40000, 0 or 50000")]
	NoMarker,
	#[error("the model chain does not end within {MAX_MODELS} models")]
	ChainTooLong,
	#[error("model {id} has {got} registers, needs at least {needed}")]
	ModelTruncated { id: u16, got: usize, needed: usize },
	#[error("{point}: scale factor {value} is outside -10..=10")]
	BadScaleFactor { point: &'static str, value: i16 },
	#[error("{point}: value {value} is out of range")]
	OutOfRange { point: &'static str, value: i64 },
	#[error("the device has none of the models OpenVPP reads")]
	NoUsableModel,
}

/// A model in the chain: its id, where its ID register is, and its length.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ModelHeader {
	pub id: u16,
	/// Address of the model's ID register.
	pub address: u16,
	/// L: registers after ID and L.
	pub len: u16,
}

impl ModelHeader {
	/// Registers of the whole block, ID and L included.
	pub fn block_len(&self) -> u16 {
		self.len.saturating_add(2)
	}
}

fn reg(block: &[u16], id: u16, offset: usize) -> Result<u16, SunSpecError> {
	block.get(offset).copied().ok_or(SunSpecError::ModelTruncated {
		id,
		got: block.len(),
		needed: offset + 1,
	})
}

fn int16(raw: u16) -> Option<i64> {
	(raw != 0x8000).then_some(i64::from(raw as i16))
}

fn uint16(raw: u16) -> Option<i64> {
	(raw != 0xFFFF).then_some(i64::from(raw))
}

/// An accumulator (high word first); 0 is "not implemented".
fn acc32(high: u16, low: u16) -> Option<i64> {
	let value = (u32::from(high) << 16) | u32::from(low);
	(value != 0).then_some(i64::from(value))
}

/// A mandatory scale factor: not implemented makes its values absent.
fn scale_factor(raw: u16, point: &'static str) -> Result<Option<i32>, SunSpecError> {
	match int16(raw) {
		None => Ok(None),
		Some(sf) if (-10..=10).contains(&sf) => Ok(Some(sf as i32)),
		Some(sf) => Err(SunSpecError::BadScaleFactor { point, value: sf as i16 }),
	}
}

/// An optional scale factor: not implemented means the values are unscaled.
fn optional_scale_factor(raw: u16, point: &'static str) -> Result<Option<i32>, SunSpecError> {
	Ok(Some(scale_factor(raw, point)?.unwrap_or(0)))
}

/// `value × 10^sf`, rounded to the nearest integer.
fn apply_sf(value: i64, sf: i32) -> i128 {
	let value = i128::from(value);
	if sf >= 0 {
		value * 10i128.pow(sf as u32)
	} else {
		let divisor = 10i128.pow(sf.unsigned_abs());
		(value * 2 + value.signum() * divisor) / (2 * divisor)
	}
}

fn scaled(value: Option<i64>, sf: Option<i32>) -> Option<i128> {
	Some(apply_sf(value?, sf?))
}

fn to_i32(value: i128, point: &'static str) -> Result<i32, SunSpecError> {
	i32::try_from(value).map_err(|_| SunSpecError::OutOfRange { point, value: value as i64 })
}

fn to_u64(value: i128, point: &'static str) -> Result<u64, SunSpecError> {
	u64::try_from(value).map_err(|_| SunSpecError::OutOfRange { point, value: value as i64 })
}

/// A state of charge in percent (scaled by `sf`) as basis points; more than 100 % is an error.
fn soc_bp(raw: u16, sf: Option<i32>, point: &'static str) -> Result<Option<u16>, SunSpecError> {
	// Percent × 100 = basis points: apply the scale factor with two extra decimals.
	let Some(sf) = sf else { return Ok(None) };
	let Some(value) = uint16(raw) else { return Ok(None) };
	let bp = apply_sf(value, sf + 2);
	if !(0..=10_000).contains(&bp) {
		return Err(SunSpecError::OutOfRange { point, value: bp as i64 });
	}
	Ok(Some(bp as u16))
}

fn string(block: &[u16], offset: usize, registers: usize) -> String {
	let bytes: Vec<u8> = block
		.iter()
		.skip(offset)
		.take(registers)
		.flat_map(|r| r.to_be_bytes())
		.take_while(|b| *b != 0)
		.collect();
	String::from_utf8_lossy(&bytes).trim().to_string()
}

/// Model 1: who made the device.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Common {
	pub manufacturer: String,
	pub model: String,
	pub version: String,
	pub serial_number: String,
}

pub fn decode_common(block: &[u16]) -> Result<Common, SunSpecError> {
	use layout::common::*;
	reg(block, ID, SN + 15)?;
	Ok(Common {
		manufacturer: string(block, MN, 16),
		model: string(block, MD, 16),
		version: string(block, VR, 8),
		serial_number: string(block, SN, 16),
	})
}

/// Models 101–103: an inverter (PV or battery inverter).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct InverterReading {
	/// AC power, positive when delivering (W).
	pub power_w: Option<i32>,
	/// Lifetime energy delivered (Wh).
	pub lifetime_wh: Option<u64>,
	pub state: Option<DeviceState>,
}

pub fn decode_inverter(block: &[u16], id: u16) -> Result<InverterReading, SunSpecError> {
	use layout::inverter::*;
	let w_sf = scale_factor(reg(block, id, W_SF)?, "W_SF")?;
	let wh_sf = scale_factor(reg(block, id, WH_SF)?, "WH_SF")?;
	let power = scaled(int16(reg(block, id, W)?), w_sf);
	let energy = scaled(acc32(reg(block, id, WH)?, reg(block, id, WH + 1)?), wh_sf);
	Ok(InverterReading {
		power_w: power.map(|p| to_i32(p, "W")).transpose()?,
		lifetime_wh: energy.map(|e| to_u64(e, "WH")).transpose()?,
		state: uint16(reg(block, id, ST)?).map(|st| DeviceState::from_sunspec(st as u16)),
	})
}

/// Models 201–204: a meter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct MeterReading {
	/// Total real power, positive when importing from the grid (W).
	pub import_power_w: Option<i32>,
	pub total_exported_wh: Option<u64>,
	pub total_imported_wh: Option<u64>,
}

pub fn decode_meter(block: &[u16], id: u16) -> Result<MeterReading, SunSpecError> {
	use layout::meter::*;
	let w_sf = scale_factor(reg(block, id, W_SF)?, "W_SF")?;
	let wh_sf = scale_factor(reg(block, id, TOT_WH_SF)?, "TotWh_SF")?;
	let power = scaled(int16(reg(block, id, W)?), w_sf);
	let exported =
		scaled(acc32(reg(block, id, TOT_WH_EXP)?, reg(block, id, TOT_WH_EXP + 1)?), wh_sf);
	let imported =
		scaled(acc32(reg(block, id, TOT_WH_IMP)?, reg(block, id, TOT_WH_IMP + 1)?), wh_sf);
	Ok(MeterReading {
		import_power_w: power.map(|p| to_i32(p, "W")).transpose()?,
		total_exported_wh: exported.map(|e| to_u64(e, "TotWhExp")).transpose()?,
		total_imported_wh: imported.map(|e| to_u64(e, "TotWhImp")).transpose()?,
	})
}

/// Model 124: storage settings and state of charge.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct StorageReading {
	pub soc_bp: Option<u16>,
}

pub fn decode_storage(block: &[u16]) -> Result<StorageReading, SunSpecError> {
	use layout::storage::*;
	let sf = optional_scale_factor(reg(block, ID, CHA_STATE_SF)?, "ChaState_SF")?;
	Ok(StorageReading { soc_bp: soc_bp(reg(block, ID, CHA_STATE)?, sf, "ChaState")? })
}

/// Model 802: a battery bank.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct BatteryReading {
	pub soc_bp: Option<u16>,
	/// DC power, positive when discharging (W).
	pub power_w: Option<i32>,
}

pub fn decode_battery(block: &[u16]) -> Result<BatteryReading, SunSpecError> {
	use layout::battery::*;
	let w_sf = optional_scale_factor(reg(block, ID, W_SF)?, "W_SF")?;
	let soc_sf = scale_factor(reg(block, ID, SOC_SF)?, "SoC_SF")?;
	let power = scaled(int16(reg(block, ID, W)?), w_sf);
	Ok(BatteryReading {
		soc_bp: soc_bp(reg(block, ID, SOC)?, soc_sf, "SoC")?,
		power_w: power.map(|p| to_i32(p, "W")).transpose()?,
	})
}

/// Everything read from one device's models in one poll.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct DeviceReading {
	pub inverter: Option<InverterReading>,
	pub meter: Option<MeterReading>,
	pub storage: Option<StorageReading>,
	pub battery: Option<BatteryReading>,
}

impl DeviceReading {
	/// The sample this reading makes, in the chain's sign convention (positive = delivered).
	pub fn to_sample(&self, at_ms: u64) -> crate::aggregator::Sample {
		let mut sample = crate::aggregator::Sample { at_ms, ..Default::default() };
		if let Some(meter) = self.meter {
			sample.power_w = meter.import_power_w.map(|p| p.saturating_neg());
			// Both counters come from the same poll: one at 0 next to a live one is a direction
			// the meter has not counted yet (a site that never exported), so it counts as 0 and
			// energy stays counter-based. Both at 0 is a meter without counters: no reading.
			(sample.imported_wh, sample.exported_wh) =
				match (meter.total_imported_wh, meter.total_exported_wh) {
					(Some(imported), None) => (Some(imported), Some(0)),
					(None, Some(exported)) => (Some(0), Some(exported)),
					pair => pair,
				};
		}
		if let Some(inverter) = self.inverter {
			sample.power_w = inverter.power_w.or(sample.power_w);
			sample.state = inverter.state;
			// A PV inverter draws nothing worth metering, so its lifetime counter is its export.
			// A battery inverter's counter misses what charging drew: its energy comes from
			// integrating power instead (and is flagged estimated).
			let pv_only = self.meter.is_none() && self.storage.is_none() && self.battery.is_none();
			if let (true, Some(wh)) = (pv_only, inverter.lifetime_wh) {
				sample.exported_wh = Some(wh);
				sample.imported_wh = Some(0);
			}
		}
		if let Some(battery) = self.battery {
			sample.power_w = sample.power_w.or(battery.power_w);
			sample.soc_bp = battery.soc_bp;
		}
		if let Some(storage) = self.storage {
			sample.soc_bp = sample.soc_bp.or(storage.soc_bp);
		}
		sample
	}
}

/// Decodes the supported models of a device from their register blocks (ID and L included).
pub fn decode_device(blocks: &[(ModelHeader, Vec<u16>)]) -> Result<DeviceReading, SunSpecError> {
	let mut reading = DeviceReading::default();
	for (header, block) in blocks {
		match header.id {
			id if layout::inverter::IDS.contains(&id) => {
				reading.inverter = Some(decode_inverter(block, id)?)
			}
			id if layout::meter::IDS.contains(&id) => {
				reading.meter = Some(decode_meter(block, id)?)
			}
			layout::storage::ID => reading.storage = Some(decode_storage(block)?),
			layout::battery::ID => reading.battery = Some(decode_battery(block)?),
			_ => {}
		}
	}
	if reading == DeviceReading::default() {
		return Err(SunSpecError::NoUsableModel);
	}
	Ok(reading)
}

/// Whether OpenVPP reads this model (the others are skipped when polling).
pub fn is_read(id: u16) -> bool {
	layout::inverter::IDS.contains(&id)
		|| layout::meter::IDS.contains(&id)
		|| id == layout::storage::ID
		|| id == layout::battery::ID
}

/// Builds a SunSpec register map: the simulator serves these, and tests decode them.
#[derive(Debug, Clone)]
pub struct RegisterMap {
	base: u16,
	registers: Vec<u16>,
	/// Start (index into `registers`) of each model added.
	models: Vec<(u16, usize)>,
}

impl RegisterMap {
	/// An empty map with the marker at `base`.
	pub fn new(base: u16) -> Self {
		RegisterMap { base, registers: SUNS_MARKER.to_vec(), models: Vec::new() }
	}

	/// Appends a model block of `len` registers (after ID and L), all "not implemented"
	/// (0xFFFF) until set, and returns its index.
	pub fn add_model(&mut self, id: u16, len: u16) -> usize {
		let start = self.registers.len();
		self.registers.push(id);
		self.registers.push(len);
		self.registers.extend(std::iter::repeat_n(0xFFFF, usize::from(len)));
		self.models.push((id, start));
		start
	}

	/// Appends the end marker; the map is complete.
	pub fn finish(mut self) -> Self {
		self.registers.push(END_MODEL_ID);
		self.registers.push(0);
		self
	}

	fn model_start(&self, id: u16) -> Option<usize> {
		self.models.iter().find(|(m, _)| *m == id).map(|(_, start)| *start)
	}

	/// Sets the register at `offset` of model `id`.
	pub fn set(&mut self, id: u16, offset: usize, value: u16) {
		if let Some(slot) = self.model_start(id).and_then(|s| self.registers.get_mut(s + offset)) {
			*slot = value;
		}
	}

	/// Sets a signed 16-bit point.
	pub fn set_i16(&mut self, id: u16, offset: usize, value: i16) {
		self.set(id, offset, value as u16);
	}

	/// Sets a 32-bit accumulator (high word first).
	pub fn set_acc32(&mut self, id: u16, offset: usize, value: u32) {
		self.set(id, offset, (value >> 16) as u16);
		self.set(id, offset + 1, value as u16);
	}

	/// Sets a string point of `registers` registers.
	pub fn set_string(&mut self, id: u16, offset: usize, registers: usize, text: &str) {
		let mut bytes = text.as_bytes().to_vec();
		bytes.resize(registers * 2, 0);
		for (i, pair) in bytes.chunks(2).enumerate() {
			self.set(
				id,
				offset + i,
				u16::from_be_bytes([pair[0], pair.get(1).copied().unwrap_or(0)]),
			);
		}
	}

	/// Reads the register at `offset` of model `id`.
	pub fn get(&self, id: u16, offset: usize) -> Option<u16> {
		self.model_start(id).and_then(|s| self.registers.get(s + offset)).copied()
	}

	/// Address of model `id`'s ID register.
	pub fn model_address(&self, id: u16) -> Option<u16> {
		let start = u16::try_from(self.model_start(id)?).ok()?;
		self.base.checked_add(start)
	}

	/// Address of the marker.
	pub fn base(&self) -> u16 {
		self.base
	}

	/// Registers `count` from `address`, or `None` if outside the map.
	pub fn read(&self, address: u16, count: u16) -> Option<Vec<u16>> {
		let start = usize::from(address.checked_sub(self.base)?);
		self.registers.get(start..start.checked_add(count.into())?).map(<[u16]>::to_vec)
	}

	/// Writes registers from `address`; `false` if outside the map.
	pub fn write(&mut self, address: u16, values: &[u16]) -> bool {
		let Some(start) = address.checked_sub(self.base).map(usize::from) else { return false };
		match self.registers.get_mut(start..start + values.len()) {
			Some(slots) => {
				slots.copy_from_slice(values);
				true
			}
			None => false,
		}
	}
}

#[cfg(test)]
mod tests {
	//! The images below are written from the SunSpec model definitions directly (literal
	//! offsets from the models' ID register), independently of the `layout` constants, so a
	//! wrong constant fails these tests.

	use super::*;

	/// A model block: ID, L, then L registers of "not implemented".
	fn block(id: u16, len: u16) -> Vec<u16> {
		let mut b = vec![id, len];
		b.extend(std::iter::repeat_n(0xFFFF, usize::from(len)));
		b
	}

	#[test]
	fn finds_the_marker_and_walks_the_chain() {
		// base 40000: "SunS", model 1 (L 66), model 103 (L 50), end.
		let mut image = vec![0x5375, 0x6E53];
		image.extend(block(1, 66));
		image.extend(block(103, 50));
		image.extend([0xFFFF, 0]);
		let read = |address: u16, count: u16| -> Result<Vec<u16>, ()> {
			let start = usize::from(address - 40_000);
			Ok(image[start..start + usize::from(count)].to_vec())
		};
		let models = walk_chain(40_000, read).unwrap().unwrap();
		assert_eq!(
			models,
			vec![
				ModelHeader { id: 1, address: 40_002, len: 66 },
				ModelHeader { id: 103, address: 40_070, len: 50 },
			]
		);
		let no_marker =
			|_: u16, count: u16| -> Result<Vec<u16>, ()> { Ok(vec![0; usize::from(count)]) };
		assert_eq!(walk_chain(0, no_marker).unwrap(), Err(SunSpecError::NoMarker));
		// A chain that never ends.
		let endless = |address: u16, _: u16| -> Result<Vec<u16>, ()> {
			Ok(if address == 0 { SUNS_MARKER.to_vec() } else { vec![1, 0] })
		};
		assert_eq!(walk_chain(0, endless).unwrap(), Err(SunSpecError::ChainTooLong));
	}

	#[test]
	fn common_model_strings() {
		let mut b = block(1, 66);
		// Mn at 2 (16 registers), Md at 18, Vr at 42 (8), SN at 50 (16).
		for (offset, text) in [(2, "SunSpec Inc"), (18, "PV-8000"), (42, "1.2.3"), (50, "SN-0042")]
		{
			let mut bytes = text.as_bytes().to_vec();
			bytes.resize(32, 0);
			for (i, pair) in bytes.chunks(2).enumerate().take(16) {
				b[offset + i] = u16::from_be_bytes([pair[0], pair[1]]);
			}
		}
		let common = decode_common(&b).unwrap();
		assert_eq!(common.manufacturer, "SunSpec Inc");
		assert_eq!(common.model, "PV-8000");
		assert_eq!(common.version, "1.2.3");
		assert_eq!(common.serial_number, "SN-0042");
	}

	#[test]
	fn inverter_103_with_scale_factors() {
		let mut b = block(103, 50);
		b[14] = 5_432; // W
		b[15] = 0; // W_SF = 0
		b[24] = 0x0001; // WH high word
		b[25] = 0x86A0; // WH low word: 100 000
		b[26] = 1; // WH_SF = 1 → 1 000 000 Wh
		b[38] = 4; // St = MPPT
		let reading = decode_inverter(&b, 103).unwrap();
		assert_eq!(reading.power_w, Some(5_432));
		assert_eq!(reading.lifetime_wh, Some(1_000_000));
		assert_eq!(reading.state, Some(DeviceState::Operating));
		// Negative scale factors round to the nearest watt.
		b[14] = 12_345;
		b[15] = (-2i16) as u16;
		assert_eq!(decode_inverter(&b, 103).unwrap().power_w, Some(123));
	}

	#[test]
	fn not_implemented_values_read_as_absent() {
		let mut b = block(103, 50);
		b[14] = 0x8000; // W not implemented
		b[15] = 0;
		b[24] = 0; // acc32 0: not implemented, even for the mandatory WH
		b[25] = 0;
		b[26] = 0;
		// St 0xFFFF: not implemented.
		let reading = decode_inverter(&b, 103).unwrap();
		assert_eq!(reading, InverterReading::default());
		// A not-implemented scale factor makes its value absent too.
		b[14] = 100;
		b[15] = 0x8000;
		assert_eq!(decode_inverter(&b, 103).unwrap().power_w, None);
	}

	#[test]
	fn bogus_values_are_errors() {
		let mut b = block(103, 50);
		b[14] = 100;
		b[15] = 11; // outside -10..=10
		assert_eq!(
			decode_inverter(&b, 103),
			Err(SunSpecError::BadScaleFactor { point: "W_SF", value: 11 })
		);
		// A block shorter than the model.
		b[15] = 0;
		assert!(matches!(
			decode_inverter(&b[..20], 103),
			Err(SunSpecError::ModelTruncated { id: 103, .. })
		));
		// 130 % state of charge.
		let mut storage = block(124, 24);
		storage[8] = 130;
		storage[22] = 0;
		assert!(matches!(
			decode_storage(&storage),
			Err(SunSpecError::OutOfRange { point: "ChaState", .. })
		));
	}

	#[test]
	fn meter_203_counters_and_sign() {
		let mut b = block(203, 105);
		b[18] = (-1_500i16) as u16; // W: exporting 1.5 kW
		b[22] = 0; // W_SF
		b[38] = 0; // TotWhExp = 2 500 × 10
		b[39] = 2_500;
		b[46] = 0; // TotWhImp = 12 000 × 10
		b[47] = 12_000;
		b[54] = 1; // TotWh_SF
		let reading = decode_meter(&b, 203).unwrap();
		assert_eq!(reading.import_power_w, Some(-1_500));
		assert_eq!(reading.total_exported_wh, Some(25_000));
		assert_eq!(reading.total_imported_wh, Some(120_000));
		// In the chain's convention exporting is positive.
		let sample = DeviceReading { meter: Some(reading), ..Default::default() }.to_sample(7);
		assert_eq!(sample.power_w, Some(1_500));
		assert_eq!((sample.imported_wh, sample.exported_wh), (Some(120_000), Some(25_000)));
	}

	#[test]
	fn a_sleeping_inverter_answering_0_makes_no_counter_reading() {
		// A PV inverter that serves WH = 0 while asleep: power and state, but no counters, so
		// the aggregator sees no drop to 0 (and later no jump back to the lifetime total).
		let mut b = block(103, 50);
		b[14] = 0; // W = 0
		b[15] = 0;
		b[24] = 0;
		b[25] = 0;
		b[26] = 0; // WH_SF = 0
		b[38] = 8; // St = standby
		let header = ModelHeader { id: 103, address: 40_070, len: 50 };
		let sample = decode_device(&[(header, b.clone())]).unwrap().to_sample(3);
		assert_eq!((sample.imported_wh, sample.exported_wh), (None, None));
		assert_eq!(sample.power_w, Some(0));
		// Awake again, the lifetime total is a reading.
		b[24] = 0x00B7;
		b[25] = 0x1B00; // 12 000 000 Wh
		let sample = decode_device(&[(header, b)]).unwrap().to_sample(4);
		assert_eq!((sample.imported_wh, sample.exported_wh), (Some(0), Some(12_000_000)));
	}

	#[test]
	fn a_meter_with_one_counter_at_0_counts_that_direction_as_0() {
		let mut b = block(203, 105);
		b[18] = 500; // W: importing 500 W
		b[22] = 0;
		b[38] = 0; // TotWhExp 0: never exported
		b[39] = 0;
		b[46] = 0; // TotWhImp 40 000
		b[47] = 40_000;
		b[54] = 0;
		let reading = decode_meter(&b, 203).unwrap();
		assert_eq!((reading.total_imported_wh, reading.total_exported_wh), (Some(40_000), None));
		let sample = DeviceReading { meter: Some(reading), ..Default::default() }.to_sample(1);
		assert_eq!((sample.imported_wh, sample.exported_wh), (Some(40_000), Some(0)));
		// Both at 0: no counters at all.
		b[47] = 0;
		let reading = decode_meter(&b, 203).unwrap();
		let sample = DeviceReading { meter: Some(reading), ..Default::default() }.to_sample(1);
		assert_eq!((sample.imported_wh, sample.exported_wh), (None, None));
	}

	#[test]
	fn storage_124_and_battery_802_state_of_charge() {
		let mut storage = block(124, 24);
		storage[8] = 6_543; // ChaState
		storage[22] = (-2i16) as u16; // ChaState_SF: 65.43 %
		assert_eq!(decode_storage(&storage).unwrap().soc_bp, Some(6_543));

		let mut battery = block(802, 62);
		battery[11] = 72; // SoC
		battery[56] = 0; // SoC_SF: 72 %
		battery[47] = (-3_000i16) as u16; // W: charging
		battery[63] = 0;
		let reading = decode_battery(&battery).unwrap();
		assert_eq!(reading.soc_bp, Some(7_200));
		assert_eq!(reading.power_w, Some(-3_000));
	}

	#[test]
	fn a_register_map_built_for_the_simulator_decodes_back() {
		let mut map = RegisterMap::new(40_000);
		map.add_model(1, 66);
		map.add_model(103, 50);
		map.add_model(124, 24);
		let mut map = map.finish();
		map.set_string(1, 2, 16, "OpenVPP Sim");
		map.set_i16(103, 14, -2_500);
		map.set_i16(103, 15, 0);
		map.set_acc32(103, 24, 77_000);
		map.set_i16(103, 26, 0);
		map.set(103, 38, 4);
		map.set(124, 8, 55);
		map.set_i16(124, 22, 0);

		let models = walk_chain(40_000, |a, c| map.read(a, c).ok_or(())).unwrap().unwrap();
		let blocks: Vec<_> =
			models.iter().map(|h| (*h, map.read(h.address, h.block_len()).unwrap())).collect();
		assert_eq!(decode_common(&blocks[0].1).unwrap().manufacturer, "OpenVPP Sim");
		let reading = decode_device(&blocks).unwrap();
		let sample = reading.to_sample(1);
		assert_eq!(sample.power_w, Some(-2_500));
		assert_eq!(sample.soc_bp, Some(5_500));
		assert_eq!(reading.inverter.unwrap().lifetime_wh, Some(77_000));
		// Reads outside the map are refused.
		assert_eq!(map.read(39_999, 2), None);
		assert!(!map.write(40_000 + 10_000, &[1]));
	}
}
