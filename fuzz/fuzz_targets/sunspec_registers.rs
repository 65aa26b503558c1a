//! SunSpec register maps as a device serves them, arbitrary: walking the model chain and
//! decoding the common, inverter, meter, storage and battery models never panics, and every
//! model the walk returns lies inside the register image it was read from.
#![no_main]

use libfuzzer_sys::fuzz_target;
use openvpp_bridge::sunspec::{self, ModelHeader};

const BASE: u16 = 40_000;

fuzz_target!(|data: &[u8]| {
	let registers: Vec<u16> =
		data.chunks_exact(2).map(|pair| u16::from_be_bytes([pair[0], pair[1]])).collect();
	// The chain walk over the image as a device at BASE: reads beyond it fail.
	let read = |address: u16, count: u16| -> Result<Vec<u16>, ()> {
		let start = usize::from(address.checked_sub(BASE).ok_or(())?);
		let end = start.checked_add(usize::from(count)).ok_or(())?;
		registers.get(start..end).map(<[u16]>::to_vec).ok_or(())
	};
	if let Ok(Ok(models)) = sunspec::walk_chain(BASE, read) {
		let mut blocks = Vec::new();
		for header in &models {
			let block = read(header.address, header.block_len())
				.expect("a model the walk returned is inside the image");
			blocks.push((*header, block));
		}
		let _ = sunspec::decode_device(&blocks);
	}
	// Every decoder on the raw words as a model block.
	let _ = sunspec::decode_common(&registers);
	for id in [101, 102, 103] {
		let _ = sunspec::decode_inverter(&registers, id);
	}
	for id in [201, 202, 203, 204] {
		let _ = sunspec::decode_meter(&registers, id);
	}
	let _ = sunspec::decode_storage(&registers);
	let _ = sunspec::decode_battery(&registers);
	for id in [1, 103, 124, 203, 802] {
		let header =
			ModelHeader { id, address: BASE, len: registers.len().saturating_sub(2) as u16 };
		let _ = sunspec::decode_device(&[(header, registers.clone())]);
	}
});
