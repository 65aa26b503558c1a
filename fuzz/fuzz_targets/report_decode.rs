//! A batch of signed reports as the chain decodes it from an extrinsic: decoding arbitrary bytes
//! never panics, and what decodes encodes back to exactly the bytes it was read from.
#![no_main]

use codec::{Decode, Encode};
use libfuzzer_sys::fuzz_target;
use openvpp_primitives::SignedReport;

fuzz_target!(|data: &[u8]| {
	let mut input = data;
	if let Ok(batch) = Vec::<SignedReport>::decode(&mut input) {
		let consumed = data.len() - input.len();
		assert_eq!(batch.encode(), &data[..consumed], "a decoded batch re-encodes to its bytes");
	}
	let mut input = data;
	if let Ok(signed) = SignedReport::decode(&mut input) {
		let consumed = data.len() - input.len();
		assert_eq!(signed.encode(), &data[..consumed]);
	}
});
