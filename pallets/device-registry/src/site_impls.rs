//! Sites: which devices sit behind which smart meter. A meter at a grid connection measures the
//! sum of what the devices behind it import and export, so anything that adds up or pays for
//! grid exchange must count a site once. The record of each device names its meter
//! ([`crate::DeviceRecord::site_meter`]); [`SiteDevices`] is the reverse index, bounded by
//! [`Config::MaxDevicesPerSite`]. Both change together, in constant work.

use frame_support::{ensure, pallet_prelude::DispatchResult};
use openvpp_primitives::{DeviceCommitments, DeviceId, DeviceKind, DeviceLifecycleHooks};
use sp_runtime::DispatchError;

use crate::pallet::*;

impl<T: Config> Pallet<T> {
	pub(crate) fn do_set_site_meter(
		device_id: DeviceId,
		caller: T::AccountId,
		meter: Option<DeviceId>,
	) -> DispatchResult {
		let mut record = Devices::<T>::get(device_id).ok_or(Error::<T>::UnknownDevice)?;
		ensure!(record.owner == caller, Error::<T>::NotOwner);
		ensure!(record.site_meter != meter, Error::<T>::Unchanged);
		ensure!(record.kind != DeviceKind::SmartMeter, Error::<T>::MeterCannotBeBehindMeter);
		if let Some(meter) = meter {
			let meter_record = Devices::<T>::get(meter).ok_or(Error::<T>::UnknownDevice)?;
			ensure!(meter_record.kind == DeviceKind::SmartMeter, Error::<T>::NotAMeter);
			ensure!(meter_record.owner == caller, Error::<T>::NotOwner);
			ensure!(meter_record.region == record.region, Error::<T>::SiteRegionMismatch);
		}
		// An event measuring the device and another measuring the meter could overlap.
		ensure!(!T::Commitments::is_committed(device_id), Error::<T>::DeviceCommitted);

		if let Some(meter) = meter {
			SiteDevices::<T>::try_mutate(meter, |devices| devices.try_push(device_id))
				.map_err(|_| Error::<T>::SiteFull)?;
		}
		if let Some(previous) = record.site_meter {
			Self::leave_site(device_id, previous);
		}
		record.site_meter = meter;
		Devices::<T>::insert(device_id, record);
		T::LifecycleHooks::on_device_changed(device_id);
		Self::deposit_event(Event::SiteMeterChanged { device_id, meter });
		Ok(())
	}

	/// Takes a device out of the list of the meter it sat behind.
	pub(crate) fn leave_site(device_id: DeviceId, meter: DeviceId) {
		SiteDevices::<T>::mutate_exists(meter, |maybe| {
			if let Some(devices) = maybe {
				devices.retain(|id| *id != device_id);
				if devices.is_empty() {
					*maybe = None;
				}
			}
		});
	}

	/// A meter whose site still has devices can be neither retired nor handed over.
	pub(crate) fn ensure_no_site_behind(device_id: DeviceId) -> Result<(), DispatchError> {
		ensure!(!SiteDevices::<T>::contains_key(device_id), Error::<T>::SiteNotEmpty);
		Ok(())
	}

	/// Puts a genesis device behind a genesis meter, under the same rules as the call.
	///
	/// Genesis configuration is trusted input checked when the chain spec is built.
	#[allow(clippy::panic)]
	pub(crate) fn set_genesis_site(device_id: DeviceId, meter: DeviceId) {
		let owner = match Devices::<T>::get(device_id) {
			Some(record) => record.owner,
			None => panic!("genesis device {device_id} does not exist"),
		};
		if let Err(error) = Self::do_set_site_meter(device_id, owner, Some(meter)) {
			panic!("genesis device {device_id} cannot sit behind meter {meter}: {error:?}");
		}
	}
}
