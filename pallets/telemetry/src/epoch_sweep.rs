//! Closing the epochs of devices that fell silent.
//!
//! A device's epoch normally closes at its first report of a later epoch. A device that stops
//! reporting would keep its epoch open for ever, and what it delivered would never be scored.
//! So [`OpenEpochs`] indexes devices by their open epoch, and once an epoch has ended and
//! the grace ([`EpochCloseGrace`]) has passed, `on_poll` closes the epochs still open in it, a
//! bounded number per block. The intervals the device missed up to the epoch's end count as
//! expected: they lower its data quality and availability.
//!
//! A swept device starts the next epoch empty. If it reported nothing at all in the swept
//! epoch, it is not indexed again: a device silent for a whole epoch is swept once more and then
//! left alone until it reports again.
//!
//! The sweep is charged in three parts, all from the `sweep_base` and `sweep_epoch(n)`
//! benchmarks: finding out whether an epoch is due (every block), taking up or leaving an epoch
//! (each block that works on one), and one device's close (the benchmark's slope). Charging
//! each device the whole of a one-device sweep would price the per-block and per-epoch reads and
//! writes again for every device.
//!
//! A report for an interval of an epoch already swept counts for data quality in the device's
//! open epoch, but its energy no longer counts towards any epoch (see
//! `report_impls::apply_report`).

use frame_support::weights::{Weight, WeightMeter};
use openvpp_primitives::{ClosedEpochs, DeviceId, EpochTelemetry};

use crate::{pallet::*, WeightInfo};

impl<T: Config> Pallet<T> {
	/// The scoring epoch's length (s), at least 1.
	pub fn epoch_length_s() -> u64 {
		EpochLength::<T>::get().max(1)
	}

	/// How long after an epoch's end the sweep closes silent devices' epochs (s).
	pub fn epoch_close_grace_s() -> u64 {
		EpochCloseGrace::<T>::get()
	}

	/// Taking up an epoch whose grace has passed, or leaving it: its progress, its event and the
	/// cursor, beyond finding out that it is due.
	pub(crate) fn sweep_epoch_weight() -> Weight {
		T::WeightInfo::sweep_epoch(0).saturating_sub(T::WeightInfo::sweep_base())
	}

	/// Closing one silent device's epoch in the sweep.
	pub(crate) fn sweep_device_weight() -> Weight {
		T::WeightInfo::sweep_epoch(1).saturating_sub(T::WeightInfo::sweep_epoch(0))
	}

	/// What one block's sweep charges to close `devices` silent devices of one epoch: the look
	/// at the cursor, the epoch and the devices.
	pub(crate) fn sweep_weight_for(devices: u32) -> Weight {
		T::WeightInfo::sweep_base()
			.saturating_add(Self::sweep_epoch_weight())
			.saturating_add(Self::sweep_device_weight().saturating_mul(devices.into()))
	}

	/// Sweeps every epoch whose grace has passed, as far as `meter` allows.
	pub(crate) fn sweep_epochs(meter: &mut WeightMeter) {
		if meter.try_consume(T::WeightInfo::sweep_base()).is_err() {
			return;
		}
		let now = Self::now();
		let length_s = Self::epoch_length_s();
		let epoch_weight = Self::sweep_epoch_weight();
		let device_weight = Self::sweep_device_weight();
		let Some(mut epoch) = NextToSweep::<T>::get() else {
			// The first block: epochs before the current one held no device.
			NextToSweep::<T>::put(now / length_s);
			return;
		};
		while now
			>= epoch
				.saturating_add(1)
				.saturating_mul(length_s)
				.saturating_add(Self::epoch_close_grace_s())
		{
			if meter.try_consume(epoch_weight).is_err() {
				return;
			}
			let mut closed = SweepProgress::<T>::get();
			// Each entry is removed as the iterator yields it, so there must be room for a
			// device before asking for one. Finding none left is part of the epoch's weight.
			let mut open = OpenEpochs::<T>::drain_prefix(epoch);
			loop {
				if !meter.can_consume(device_weight) {
					SweepProgress::<T>::put(closed);
					return;
				}
				let Some((device, ())) = open.next() else { break };
				meter.consume(device_weight);
				if Self::close_silent_epoch(device, epoch, length_s) {
					closed = closed.saturating_add(1);
				}
			}
			Self::deposit_event(Event::EpochSwept { epoch, devices_closed: closed });
			SweepProgress::<T>::kill();
			epoch = epoch.saturating_add(1);
			NextToSweep::<T>::put(epoch);
		}
	}

	/// Closes `device`'s epoch `epoch`, counting the intervals it missed up to the epoch's
	/// end. Returns whether it did (the index may name a device that has since moved on or
	/// been retired).
	fn close_silent_epoch(device: DeviceId, epoch: u64, length_s: u64) -> bool {
		DeviceTelemetry::<T>::mutate_extant(device, |state| {
			if state.epoch.epoch != epoch {
				return false;
			}
			Self::count_missed_until_end(
				&mut state.epoch,
				Some(state.last_interval_end),
				length_s,
				state.latest.interval_length_s,
			);
			let reported = state.epoch.accepted.saturating_add(state.epoch.flagged) > 0;
			Self::close_epoch(device, &state.epoch, Some(state.last_interval_end));
			let next = epoch.saturating_add(1);
			state.epoch = EpochTelemetry { epoch: next, ..Default::default() };
			if reported {
				OpenEpochs::<T>::insert(next, device, ());
			}
			true
		})
	}
}

impl<T: Config> ClosedEpochs for Pallet<T> {
	fn closed_before() -> Option<u64> {
		NextToSweep::<T>::get()
	}
}
