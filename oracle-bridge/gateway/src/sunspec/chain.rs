//! Finding the `"SunS"` marker and walking the model chain — the one implementation used by the
//! live Modbus source, the simulator's tests and the fixtures' tests. Registers are read through
//! [`RegisterReader`], so all of it is tested without a Modbus server.

use std::future::Future;

use super::{ModelHeader, SunSpecError, BASE_CANDIDATES, END_MODEL_ID, MAX_MODELS, SUNS_MARKER};

/// What a failed read at a candidate base address says about the connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReadFailure {
	/// The device answered, refusing the address (a Modbus exception): the marker is not here
	/// and the connection is in good order.
	Refused,
	/// No usable answer (a timeout, a reply to another request, a closed connection): nothing
	/// found here, and the connection must be re-opened before the next candidate, since a late
	/// reply would otherwise be taken for the next request's.
	NoAnswer,
}

/// Reads holding registers: a Modbus connection, or a register image in tests.
pub trait RegisterReader {
	type Error;

	/// `count` registers from `address`.
	fn read(
		&mut self,
		address: u16,
		count: u16,
	) -> impl Future<Output = Result<Vec<u16>, Self::Error>>;

	/// How a failed read at a candidate base address is treated.
	fn classify(error: &Self::Error) -> ReadFailure;

	/// Opens the connection again (after [`ReadFailure::NoAnswer`]).
	fn reopen(&mut self) -> impl Future<Output = Result<(), Self::Error>>;
}

/// Where the marker was found, and the models after it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Discovered {
	pub base: u16,
	pub models: Vec<ModelHeader>,
}

/// Why discovery failed: the registers said something wrong, or they could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DiscoveryError<E> {
	SunSpec(SunSpecError),
	Read(E),
}

/// Walks the model chain that starts after the marker at `base`, up to the end marker. The
/// outer error is the reader's; the inner one a chain that makes no sense.
pub async fn walk_models<R: RegisterReader>(
	reader: &mut R,
	base: u16,
) -> Result<Result<Vec<ModelHeader>, SunSpecError>, R::Error> {
	let mut models = Vec::new();
	let Some(mut address) = base.checked_add(2) else {
		return Ok(Err(SunSpecError::ChainTooLong));
	};
	for _ in 0..MAX_MODELS {
		let header = reader.read(address, 2).await?;
		let (Some(&id), Some(&len)) = (header.first(), header.get(1)) else {
			return Ok(Err(SunSpecError::ModelTruncated { id: 0, got: header.len(), needed: 2 }));
		};
		if id == END_MODEL_ID {
			return Ok(Ok(models));
		}
		models.push(ModelHeader { id, address, len });
		// The next header must be addressable too: a chain running past 65535 is broken.
		match address.checked_add(len).and_then(|a| a.checked_add(2)) {
			Some(next) if next.checked_add(1).is_some() => address = next,
			_ => return Ok(Err(SunSpecError::ChainTooLong)),
		}
	}
	Ok(Err(SunSpecError::ChainTooLong))
}

/// Reads the marker at `base` and walks the chain after it.
pub async fn walk<R: RegisterReader>(
	reader: &mut R,
	base: u16,
) -> Result<Result<Vec<ModelHeader>, SunSpecError>, R::Error> {
	if reader.read(base, 2).await? != SUNS_MARKER {
		return Ok(Err(SunSpecError::NoMarker));
	}
	walk_models(reader, base).await
}

/// Finds the marker — at `base` if given, else at 40000, 0 and 50000 in turn — and walks the
/// chain after it.
///
/// A candidate that cannot be read is "not here": a refusal moves on to the next candidate, no
/// answer re-opens the connection first. Once the marker is found, any read error is returned
/// (the caller reconnects), as is a failure to re-open. If no candidate ever answered, the
/// last read error is returned rather than [`SunSpecError::NoMarker`]: the device is
/// unreachable, not without SunSpec.
pub async fn discover<R: RegisterReader>(
	reader: &mut R,
	base: Option<u16>,
) -> Result<Discovered, DiscoveryError<R::Error>> {
	let candidates: Vec<u16> = match base {
		Some(base) => vec![base],
		None => BASE_CANDIDATES.to_vec(),
	};
	let mut answered = false;
	let mut last_error = None;
	for (index, &base) in candidates.iter().enumerate() {
		match reader.read(base, 2).await {
			Ok(words) if words == SUNS_MARKER => {
				return match walk_models(reader, base).await {
					Ok(Ok(models)) => Ok(Discovered { base, models }),
					Ok(Err(error)) => Err(DiscoveryError::SunSpec(error)),
					Err(error) => Err(DiscoveryError::Read(error)),
				};
			}
			Ok(_) => answered = true,
			Err(error) => {
				match R::classify(&error) {
					ReadFailure::Refused => answered = true,
					ReadFailure::NoAnswer if index + 1 < candidates.len() => {
						tracing::debug!(base, "no answer at a SunSpec base address; reconnecting");
						reader.reopen().await.map_err(DiscoveryError::Read)?;
					}
					ReadFailure::NoAnswer => {}
				}
				last_error = Some(error);
			}
		}
	}
	match (answered, last_error) {
		(false, Some(error)) => Err(DiscoveryError::Read(error)),
		_ => Err(DiscoveryError::SunSpec(SunSpecError::NoMarker)),
	}
}

/// A synchronous register reader (a closure), for register images in memory.
struct FnReader<F>(F);

impl<E, F: FnMut(u16, u16) -> Result<Vec<u16>, E>> RegisterReader for FnReader<F> {
	type Error = E;

	fn read(&mut self, address: u16, count: u16) -> impl Future<Output = Result<Vec<u16>, E>> {
		std::future::ready((self.0)(address, count))
	}

	fn classify(_: &E) -> ReadFailure {
		ReadFailure::NoAnswer
	}

	fn reopen(&mut self) -> impl Future<Output = Result<(), E>> {
		std::future::ready(Ok(()))
	}
}

/// [`walk`] over a synchronous reader of `(address, count)` register ranges. Returns the models
/// up to the end marker.
pub fn walk_chain<E>(
	base: u16,
	read: impl FnMut(u16, u16) -> Result<Vec<u16>, E>,
) -> Result<Result<Vec<ModelHeader>, SunSpecError>, E> {
	// The reader never waits, so this completes on the first poll.
	futures::executor::block_on(walk(&mut FnReader(read), base))
}

#[cfg(test)]
mod tests {
	use std::collections::BTreeMap;

	use futures::executor::block_on;

	use super::*;
	use crate::sunspec::RegisterMap;

	/// How the fake device answers at an address.
	#[derive(Debug, Clone, Copy, PartialEq, Eq)]
	enum Fault {
		Exception,
		Timeout,
		ConnectionReset,
	}

	#[derive(Debug, Clone, PartialEq, Eq)]
	enum FakeError {
		Exception,
		Timeout,
		ConnectionReset,
		ReopenFailed,
	}

	/// A device serving a register map, with faults at chosen addresses.
	struct FakeDevice {
		map: Option<RegisterMap>,
		faults: BTreeMap<u16, Fault>,
		/// Addresses read, in order.
		reads: Vec<u16>,
		reopens: usize,
		reopen_fails: bool,
	}

	impl FakeDevice {
		fn new(map: Option<RegisterMap>) -> Self {
			FakeDevice {
				map,
				faults: BTreeMap::new(),
				reads: Vec::new(),
				reopens: 0,
				reopen_fails: false,
			}
		}

		fn fault(mut self, address: u16, fault: Fault) -> Self {
			self.faults.insert(address, fault);
			self
		}
	}

	impl RegisterReader for FakeDevice {
		type Error = FakeError;

		async fn read(&mut self, address: u16, count: u16) -> Result<Vec<u16>, FakeError> {
			self.reads.push(address);
			match self.faults.get(&address) {
				Some(Fault::Exception) => return Err(FakeError::Exception),
				Some(Fault::Timeout) => return Err(FakeError::Timeout),
				Some(Fault::ConnectionReset) => return Err(FakeError::ConnectionReset),
				None => {}
			}
			// Registers outside the map answer with an exception, as real devices do.
			self.map.as_ref().and_then(|m| m.read(address, count)).ok_or(FakeError::Exception)
		}

		fn classify(error: &FakeError) -> ReadFailure {
			match error {
				FakeError::Exception => ReadFailure::Refused,
				_ => ReadFailure::NoAnswer,
			}
		}

		async fn reopen(&mut self) -> Result<(), FakeError> {
			self.reopens += 1;
			if self.reopen_fails {
				return Err(FakeError::ReopenFailed);
			}
			Ok(())
		}
	}

	/// A map at `base`: common model, an inverter, the end marker.
	fn device_at(base: u16) -> RegisterMap {
		let mut map = RegisterMap::new(base);
		map.add_model(1, 66);
		map.add_model(103, 50);
		map.finish()
	}

	fn expected(base: u16) -> Discovered {
		Discovered {
			base,
			models: vec![
				ModelHeader { id: 1, address: base + 2, len: 66 },
				ModelHeader { id: 103, address: base + 70, len: 50 },
			],
		}
	}

	#[test]
	fn finds_the_marker_at_each_candidate_base() {
		for base in [40_000, 0, 50_000] {
			let mut device = FakeDevice::new(Some(device_at(base)));
			assert_eq!(block_on(discover(&mut device, None)), Ok(expected(base)));
			// Every address before the right base was asked once, in the documented order.
			let order: Vec<u16> =
				BASE_CANDIDATES.iter().copied().take_while(|b| *b != base).collect();
			assert_eq!(device.reads[..order.len()], order[..], "base {base}");
			assert_eq!(device.reopens, 0);
		}
	}

	#[test]
	fn a_timeout_at_40000_is_not_the_end_of_discovery() {
		// A device that does not answer at all for an address it does not have.
		let mut device = FakeDevice::new(Some(device_at(0))).fault(40_000, Fault::Timeout);
		assert_eq!(block_on(discover(&mut device, None)), Ok(expected(0)));
		// The connection was re-opened once, before asking at 0.
		assert_eq!(device.reopens, 1);
		// One that drops the connection instead: re-opened, and found at 50000.
		let mut device = FakeDevice::new(Some(device_at(50_000)))
			.fault(40_000, Fault::ConnectionReset)
			.fault(0, Fault::Exception);
		assert_eq!(block_on(discover(&mut device, None)), Ok(expected(50_000)));
		assert_eq!(device.reopens, 1);
	}

	#[test]
	fn a_connection_that_cannot_be_reopened_ends_discovery() {
		let mut device = FakeDevice::new(Some(device_at(0))).fault(40_000, Fault::Timeout);
		device.reopen_fails = true;
		assert_eq!(
			block_on(discover(&mut device, None)),
			Err(DiscoveryError::Read(FakeError::ReopenFailed))
		);
		assert_eq!(device.reads, vec![40_000]);
	}

	#[test]
	fn no_marker_anywhere() {
		// Every candidate refused: a device without SunSpec.
		let mut device = FakeDevice::new(None);
		assert_eq!(
			block_on(discover(&mut device, None)),
			Err(DiscoveryError::SunSpec(SunSpecError::NoMarker))
		);
		assert_eq!(device.reads, vec![40_000, 0, 50_000]);
		// Every candidate silent: an unreachable device, reported as such.
		let mut device = FakeDevice::new(None)
			.fault(40_000, Fault::Timeout)
			.fault(0, Fault::Timeout)
			.fault(50_000, Fault::Timeout);
		assert_eq!(
			block_on(discover(&mut device, None)),
			Err(DiscoveryError::Read(FakeError::Timeout))
		);
		assert_eq!(device.reopens, 2);
		// Registers that are there but are not the marker (and silence elsewhere).
		let mut blank = device_at(0);
		assert!(blank.write(0, &[0, 0]));
		let mut device = FakeDevice::new(Some(blank))
			.fault(40_000, Fault::Timeout)
			.fault(50_000, Fault::Timeout);
		assert_eq!(
			block_on(discover(&mut device, None)),
			Err(DiscoveryError::SunSpec(SunSpecError::NoMarker))
		);
	}

	#[test]
	fn a_configured_base_is_the_only_one_tried() {
		let mut device = FakeDevice::new(Some(device_at(0)));
		assert_eq!(
			block_on(discover(&mut device, Some(50_000))),
			Err(DiscoveryError::SunSpec(SunSpecError::NoMarker))
		);
		assert_eq!(device.reads, vec![50_000]);
		let mut device = FakeDevice::new(Some(device_at(0))).fault(0, Fault::Timeout);
		assert_eq!(
			block_on(discover(&mut device, Some(0))),
			Err(DiscoveryError::Read(FakeError::Timeout))
		);
		assert_eq!(device.reopens, 0);
	}

	#[test]
	fn errors_after_the_marker_are_returned() {
		// The marker answers, the first model header times out: the caller reconnects.
		let mut device = FakeDevice::new(Some(device_at(40_000))).fault(40_002, Fault::Timeout);
		assert_eq!(
			block_on(discover(&mut device, None)),
			Err(DiscoveryError::Read(FakeError::Timeout))
		);
		// A chain without an end marker: the header read runs off the map.
		let mut open = RegisterMap::new(40_000);
		open.add_model(1, 66);
		let mut device = FakeDevice::new(Some(open));
		assert_eq!(
			block_on(discover(&mut device, None)),
			Err(DiscoveryError::Read(FakeError::Exception))
		);
	}

	#[test]
	fn the_chain_ends_at_the_end_marker_or_fails() {
		// End marker right after the marker: no models.
		let empty = RegisterMap::new(50_000).finish();
		assert_eq!(walk_chain(50_000, |a, c| empty.read(a, c).ok_or(())), Ok(Ok(vec![])));
		// The end marker's L (0) is not a model's: nothing after it is read.
		let map = device_at(0);
		let mut reads = Vec::new();
		let models = walk_chain(0, |a, c| {
			reads.push(a);
			map.read(a, c).ok_or(())
		});
		assert_eq!(models, Ok(Ok(expected(0).models)));
		assert_eq!(reads, vec![0, 2, 70, 122]);
		assert_eq!(map.read(122, 2), Some(vec![END_MODEL_ID, 0]));
		// A chain that never ends.
		let endless = |address: u16, _: u16| -> Result<Vec<u16>, ()> {
			Ok(if address == 0 { SUNS_MARKER.to_vec() } else { vec![1, 0] })
		};
		assert_eq!(walk_chain(0, endless), Ok(Err(SunSpecError::ChainTooLong)));
		// A model whose length runs past the last address.
		let overflow = |address: u16, _: u16| -> Result<Vec<u16>, ()> {
			Ok(if address == 50_000 { SUNS_MARKER.to_vec() } else { vec![1, 20_000] })
		};
		assert_eq!(walk_chain(50_000, overflow), Ok(Err(SunSpecError::ChainTooLong)));
		// A short header.
		let short = |address: u16, _: u16| -> Result<Vec<u16>, ()> {
			Ok(if address == 0 { SUNS_MARKER.to_vec() } else { vec![1] })
		};
		assert!(matches!(
			walk_chain(0, short),
			Ok(Err(SunSpecError::ModelTruncated { got: 1, needed: 2, .. }))
		));
		// A read error is the reader's.
		assert_eq!(walk_chain(0, |_, _| Err::<Vec<u16>, _>("gone")), Err("gone"));
	}
}
