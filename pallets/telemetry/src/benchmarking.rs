//! Benchmarks (frame-benchmarking v2).
//!
//! `submit_reports` is measured in its worst case: every report accepted, every device in its
//! own region, every device already reporting (so its old figures leave the map), no device's
//! state holding a copy of the registry's facts (so each is read from the registry) and every
//! report the first of a new scoring epoch (so the closed epoch goes to the registry). Keys are
//! ECDSA, the slowest of the three signature checks. `submit_reports_one_region` is the same
//! with all devices in one region, `submit_reports_same_epoch` also closes no epoch, and
//! `submit_reports_known` also finds every device's facts in its state, which is the steady
//! state: the differences price the per-region, per-epoch-close and per-registry-read work,
//! which the pallet charges only when it happens. Every status-map entry a batch touches has
//! all its freshness slots in use, so decoding and encoding it costs the most.
//!
//! `submit_reports_bad_signature` and `submit_reports_unverified` price rejected reports (after
//! and before the signature check), and the `verify_*` benchmarks measure one signature check
//! per scheme, so that reports signed with a cheaper scheme than ECDSA are refunded the
//! difference.

// Benchmark set-up failing is a bug in the benchmark, and must stop it loudly.
#![allow(clippy::expect_used)]

use alloc::{format, vec::Vec};
use frame_benchmarking::v2::*;
use frame_support::traits::EnsureOrigin;
use frame_support::{traits::Get, BoundedVec};
use frame_system::RawOrigin;
use openvpp_primitives::{
	AttestationKey, AttestationSignature, BenchmarkClock, Capability, DeviceId, DeviceKind,
	DeviceRegistry, DeviceRegistryBenchmarkHelper, DeviceState, EnergyReference, EpochTelemetry,
	GridResponseStatus, IntervalReport, LiveFigures, PlausibilityFlags, QualityFlags, RegionCode,
	SignedReport, SocAnchor, UnixSeconds,
};
use sp_core::{crypto::KeyTypeId, H256};

use crate::{pallet::*, DeviceTelemetryState, FactsCopy, LatestReading, LiveEntry, RegistryFacts};

const KEY_TYPE: KeyTypeId = KeyTypeId(*b"ovpt");
const INTERVAL_S: u32 = 900;

fn region(index: u32) -> RegionCode {
	BoundedVec::truncate_from(format!("R{index}").into_bytes())
}

fn capability() -> Capability {
	Capability {
		rated_power_w: 10_000,
		storage_capacity_wh: Some(20_000),
		max_charge_w: Some(10_000),
		max_discharge_w: Some(10_000),
	}
}

/// A clock time at the start of an epoch, late enough for a previous epoch to exist.
fn epoch_start<T: Config>() -> UnixSeconds {
	let epoch = Pallet::<T>::epoch_length_s();
	(1_767_225_600 / epoch + 1) * epoch
}

/// How the reports of a benchmark batch are made.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Signing {
	/// Signed by the device for this chain.
	Valid,
	/// Signed by the device over another payload: rejected at the signature check.
	Forged,
}

/// Creates `n` reporting devices spread over `regions` regions and returns their signed
/// reports for the first interval of the epoch starting at [`epoch_start`]. With
/// `close_epoch`, each device's previous report was in the previous epoch (so this report closes
/// it); otherwise in the same epoch. With `known`, each device's state holds a copy of the
/// registry's facts. Devices are bound to `device_gateway`.
fn batch<T: Config>(
	device_gateway: &T::AccountId,
	n: u32,
	regions: u32,
	close_epoch: bool,
	known: bool,
	signing: Signing,
) -> Vec<SignedReport> {
	let start = epoch_start::<T>();
	T::BenchmarkClock::set_unix_time(start + u64::from(INTERVAL_S) + 1);
	let genesis = frame_system::Pallet::<T>::block_hash(
		frame_system::pallet_prelude::BlockNumberFor::<T>::default(),
	);
	let owner: T::AccountId = account("owner", 0, 0);
	(0..n)
		.map(|i| {
			let public = sp_io::crypto::ecdsa_generate(KEY_TYPE, None);
			let zone = region(i % regions.max(1));
			let device_id = T::BenchmarkHelper::register_active_device(
				owner.clone(),
				device_gateway.clone(),
				DeviceKind::CommercialBattery,
				capability(),
				zone.clone(),
				AttestationKey::Ecdsa(public),
			);
			let previous_epoch = if close_epoch {
				start / Pallet::<T>::epoch_length_s() - 1
			} else {
				start / Pallet::<T>::epoch_length_s()
			};
			let facts = FactsCopy(
				T::Registry::active_device(device_id)
					.ok()
					.filter(|_| known)
					.map(RegistryFacts::from),
			);
			seed_previous_report::<T>(device_id, zone, start, previous_epoch, facts);
			let report = IntervalReport {
				device_id,
				sequence: 2,
				interval_start: start,
				interval_length_s: INTERVAL_S,
				energy_imported_wh: 0,
				energy_exported_wh: 1_000,
				cumulative_imported_wh: 5_000,
				cumulative_exported_wh: 11_000,
				average_power_w: 4_000,
				peak_power_w: 4_200,
				soc_bp: Some(5_000),
				device_state: DeviceState::Operating,
				grid_response: GridResponseStatus::Responding,
				online_s: INTERVAL_S,
				quality: QualityFlags::default(),
			};
			let signed_over = match signing {
				Signing::Valid => genesis,
				Signing::Forged => <T as frame_system::Config>::Hash::default(),
			};
			let payload = openvpp_primitives::report_signing_payload(&signed_over, &report);
			let signature = sp_io::crypto::ecdsa_sign(KEY_TYPE, &public, &payload)
				.expect("the key was just generated in the benchmark keystore");
			SignedReport { report, signature: AttestationSignature::Ecdsa(signature) }
		})
		.collect()
}

/// Gives a device a previous report, accounted in `epoch`, that still counts in the status map.
fn seed_previous_report<T: Config>(
	device_id: DeviceId,
	zone: RegionCode,
	start: UnixSeconds,
	epoch: u64,
	facts: FactsCopy<T::AccountId>,
) {
	let figures = LiveFigures { devices: 1, generation_w: 4_000, ..Default::default() };
	let expires_at = start + 2 * u64::from(INTERVAL_S);
	let mut status = EnergyStatus::<T>::get(&zone, DeviceKind::CommercialBattery);
	if status.slots.is_empty() {
		fill_slots::<T>(&mut status, start);
	}
	status.add(expires_at, &figures);
	EnergyStatus::<T>::insert(&zone, DeviceKind::CommercialBattery, status);
	DeviceTelemetry::<T>::insert(
		device_id,
		DeviceTelemetryState {
			last_sequence: 1,
			last_interval_end: start,
			latest: LatestReading {
				interval_start: start - u64::from(INTERVAL_S),
				interval_length_s: INTERVAL_S,
				average_power_w: 4_000,
				peak_power_w: 4_200,
				// 1 kWh of 20 kWh above the next report's 50 %.
				soc_bp: Some(5_500),
				device_state: DeviceState::Operating,
				grid_response: GridResponseStatus::Idle,
				cumulative_imported_wh: 5_000,
				cumulative_exported_wh: 10_000,
				plausibility: PlausibilityFlags::default(),
			},
			reference: Some(EnergyReference {
				cumulative_imported_wh: 5_000,
				cumulative_exported_wh: 10_000,
				counters_read_at: start,
				soc_anchor: Some(SocAnchor { soc_bp: 5_500, ..Default::default() }),
			}),
			live: Some(LiveEntry {
				region: zone,
				kind: DeviceKind::CommercialBattery,
				figures,
				expires_at,
			}),
			// Three intervals reported, online and holding energy, so that the epoch handler
			// scores the device when the epoch closes.
			epoch: EpochTelemetry {
				epoch,
				accepted: 3,
				expected: 4,
				discharged_wh: 3_000,
				online_s: 3 * u64::from(INTERVAL_S),
				stored_above_reserve_wh_s: 10_000 * 3 * u64::from(INTERVAL_S),
				..Default::default()
			},
			measured: false,
			facts,
		},
	);
	OpenEpochs::<T>::insert(epoch, device_id, ());
}

/// Fills a status-map entry with other devices' figures in every freshness slot but the two the
/// benchmark's own device uses (its previous and its new expiry), all after the batch's time.
fn fill_slots<T: Config>(
	status: &mut crate::RegionKindStatus<T::MaxFreshnessSlots>,
	start: UnixSeconds,
) {
	let others = LiveFigures { devices: 3, consumption_w: 2_500, ..Default::default() };
	let slot = u64::from(T::FreshnessSlotS::get()).max(1);
	// Beyond the new report's expiry (start + 3 intervals), so none of these collide with it.
	let mut expiry = (start + 3 * u64::from(INTERVAL_S)).div_ceil(slot) * slot + slot;
	while (status.slots.len() as u32) + 2 < T::MaxFreshnessSlots::get() {
		status.add(expiry, &others);
		expiry += slot;
	}
}

/// A report payload and its signature by a fresh key of each scheme.
fn signed_payload(scheme: u8) -> (AttestationKey, Vec<u8>, AttestationSignature) {
	let payload = openvpp_primitives::report_signing_payload(
		&H256::repeat_byte(7),
		&IntervalReport {
			device_id: 1,
			sequence: 1,
			interval_start: 1_767_225_600,
			interval_length_s: INTERVAL_S,
			energy_imported_wh: 0,
			energy_exported_wh: 1_000,
			cumulative_imported_wh: 5_000,
			cumulative_exported_wh: 11_000,
			average_power_w: 4_000,
			peak_power_w: 4_200,
			soc_bp: Some(5_000),
			device_state: DeviceState::Operating,
			grid_response: GridResponseStatus::Idle,
			online_s: INTERVAL_S,
			quality: QualityFlags::default(),
		},
	);
	let (key, signature) = match scheme {
		0 => {
			let public = sp_io::crypto::ed25519_generate(KEY_TYPE, None);
			let signature = sp_io::crypto::ed25519_sign(KEY_TYPE, &public, &payload)
				.expect("the key was just generated");
			(AttestationKey::Ed25519(public), AttestationSignature::Ed25519(signature))
		}
		1 => {
			let public = sp_io::crypto::sr25519_generate(KEY_TYPE, None);
			let signature = sp_io::crypto::sr25519_sign(KEY_TYPE, &public, &payload)
				.expect("the key was just generated");
			(AttestationKey::Sr25519(public), AttestationSignature::Sr25519(signature))
		}
		_ => {
			let public = sp_io::crypto::ecdsa_generate(KEY_TYPE, None);
			let signature = sp_io::crypto::ecdsa_sign(KEY_TYPE, &public, &payload)
				.expect("the key was just generated");
			(AttestationKey::Ecdsa(public), AttestationSignature::Ecdsa(signature))
		}
	};
	(key, payload, signature)
}

#[benchmarks]
mod benchmarks {
	use super::*;

	#[benchmark]
	fn submit_reports(n: Linear<1, { T::MaxBatchSize::get() }>) {
		let gateway: T::AccountId = whitelisted_caller();
		let reports = batch::<T>(&gateway, n, n, true, false, Signing::Valid);
		let last = reports.last().map(|r| r.report.device_id).expect("n ≥ 1");

		#[extrinsic_call]
		submit_reports(
			RawOrigin::Signed(gateway),
			BoundedVec::truncate_from(reports),
			Some(H256::repeat_byte(1)),
		);

		assert_eq!(DeviceTelemetry::<T>::get(last).map(|s| s.last_sequence), Some(2));
	}

	#[benchmark]
	fn submit_reports_one_region(n: Linear<1, { T::MaxBatchSize::get() }>) {
		let gateway: T::AccountId = whitelisted_caller();
		let reports = batch::<T>(&gateway, n, 1, true, false, Signing::Valid);
		let last = reports.last().map(|r| r.report.device_id).expect("n ≥ 1");

		#[extrinsic_call]
		submit_reports(
			RawOrigin::Signed(gateway),
			BoundedVec::truncate_from(reports),
			Some(H256::repeat_byte(1)),
		);

		assert_eq!(DeviceTelemetry::<T>::get(last).map(|s| s.last_sequence), Some(2));
	}

	#[benchmark]
	fn submit_reports_same_epoch(n: Linear<1, { T::MaxBatchSize::get() }>) {
		let gateway: T::AccountId = whitelisted_caller();
		let reports = batch::<T>(&gateway, n, 1, false, false, Signing::Valid);
		let last = reports.last().map(|r| r.report.device_id).expect("n ≥ 1");

		#[extrinsic_call]
		submit_reports(
			RawOrigin::Signed(gateway),
			BoundedVec::truncate_from(reports),
			Some(H256::repeat_byte(1)),
		);

		assert_eq!(DeviceTelemetry::<T>::get(last).map(|s| s.last_sequence), Some(2));
	}

	/// The steady state: no epoch closes, one status-map entry, and every device's state holds
	/// the registry's facts, so each report reads and writes its state alone.
	#[benchmark]
	fn submit_reports_known(n: Linear<1, { T::MaxBatchSize::get() }>) {
		let gateway: T::AccountId = whitelisted_caller();
		let reports = batch::<T>(&gateway, n, 1, false, true, Signing::Valid);
		let last = reports.last().map(|r| r.report.device_id).expect("n ≥ 1");

		#[extrinsic_call]
		submit_reports(
			RawOrigin::Signed(gateway),
			BoundedVec::truncate_from(reports),
			Some(H256::repeat_byte(1)),
		);

		assert_eq!(DeviceTelemetry::<T>::get(last).map(|s| s.last_sequence), Some(2));
	}

	/// Every report fails its signature check, after which the device's rejected counter is
	/// written and an event deposited.
	#[benchmark]
	fn submit_reports_bad_signature(n: Linear<1, { T::MaxBatchSize::get() }>) {
		let gateway: T::AccountId = whitelisted_caller();
		let reports = batch::<T>(&gateway, n, 1, false, false, Signing::Forged);
		let last = reports.last().map(|r| r.report.device_id).expect("n ≥ 1");

		#[extrinsic_call]
		submit_reports(
			RawOrigin::Signed(gateway),
			BoundedVec::truncate_from(reports),
			Some(H256::repeat_byte(1)),
		);

		let state = DeviceTelemetry::<T>::get(last).expect("seeded");
		assert_eq!((state.last_sequence, state.epoch.rejected), (1, 1));
	}

	/// Every report comes from a gateway its device is not bound to: one registry read and an
	/// event each.
	#[benchmark]
	fn submit_reports_unverified(n: Linear<1, { T::MaxBatchSize::get() }>) {
		let gateway: T::AccountId = whitelisted_caller();
		let devices_gateway: T::AccountId = account("other-gateway", 0, 0);
		let reports = batch::<T>(&devices_gateway, n, 1, false, false, Signing::Valid);
		let last = reports.last().map(|r| r.report.device_id).expect("n ≥ 1");

		#[extrinsic_call]
		submit_reports(
			RawOrigin::Signed(gateway),
			BoundedVec::truncate_from(reports),
			Some(H256::repeat_byte(1)),
		);

		assert_eq!(DeviceTelemetry::<T>::get(last).map(|s| s.last_sequence), Some(1));
	}

	#[benchmark]
	fn verify_ed25519() {
		let (key, payload, signature) = signed_payload(0);
		let verified;
		#[block]
		{
			verified = key.verify(&payload, &signature);
		}
		assert!(verified);
	}

	#[benchmark]
	fn verify_sr25519() {
		let (key, payload, signature) = signed_payload(1);
		let verified;
		#[block]
		{
			verified = key.verify(&payload, &signature);
		}
		assert!(verified);
	}

	#[benchmark]
	fn verify_ecdsa() {
		let (key, payload, signature) = signed_payload(2);
		let verified;
		#[block]
		{
			verified = key.verify(&payload, &signature);
		}
		assert!(verified);
	}

	#[benchmark]
	fn set_min_interval_length() -> Result<(), BenchmarkError> {
		let origin =
			T::AdminOrigin::try_successful_origin().map_err(|_| BenchmarkError::Weightless)?;

		#[extrinsic_call]
		_(origin as T::RuntimeOrigin, 300);

		assert_eq!(MinIntervalLengthS::<T>::get(), 300);
		Ok(())
	}

	#[benchmark]
	fn prune_digests() {
		let gateway: T::AccountId = account("gateway", 0, 0);
		let block = frame_system::pallet_prelude::BlockNumberFor::<T>::from(1u32);
		for i in 0..T::MaxDigestsPerBlock::get() {
			let digest = crate::BatchDigest {
				gateway: gateway.clone(),
				digest: H256::repeat_byte(i as u8),
				reports: 1,
			};
			BatchDigests::<T>::try_append(block, digest).expect("within MaxDigestsPerBlock");
		}
		let now = block + T::DigestRetentionBlocks::get();

		#[block]
		{
			<Pallet<T> as frame_support::traits::Hooks<_>>::on_initialize(now);
		}

		assert!(BatchDigests::<T>::get(block).is_empty());
	}

	#[benchmark]
	fn sweep_base() {
		let start = epoch_start::<T>();
		T::BenchmarkClock::set_unix_time(start + 1);
		NextToSweep::<T>::put(start / Pallet::<T>::epoch_length_s());
		let mut meter = frame_support::weights::WeightMeter::new();

		#[block]
		{
			Pallet::<T>::sweep_epochs(&mut meter);
		}

		assert_eq!(NextToSweep::<T>::get(), Some(start / Pallet::<T>::epoch_length_s()));
	}

	/// An epoch whose grace has passed with `n` silent devices in it, all closed by the sweep,
	/// the epoch's end included: each device's totals go to the registry's history and to the
	/// epoch handler, and it is indexed in the next epoch. The slope is one device's close; the
	/// intercept is moving on to the next epoch, so that a device is not charged the sweep's
	/// per-block and per-epoch reads and writes.
	#[benchmark]
	fn sweep_epoch(n: Linear<0, 100>) {
		let gateway: T::AccountId = account("gateway", 0, 0);
		let reports = batch::<T>(&gateway, n, 1, false, true, Signing::Valid);
		let start = epoch_start::<T>();
		let epoch = start / Pallet::<T>::epoch_length_s();
		T::BenchmarkClock::set_unix_time(
			start + Pallet::<T>::epoch_length_s() + Pallet::<T>::epoch_close_grace_s(),
		);
		NextToSweep::<T>::put(epoch);
		let mut meter = frame_support::weights::WeightMeter::new();

		#[block]
		{
			Pallet::<T>::sweep_epochs(&mut meter);
		}

		assert_eq!(NextToSweep::<T>::get(), Some(epoch + 1));
		for signed in &reports {
			let device = signed.report.device_id;
			assert_eq!(DeviceTelemetry::<T>::get(device).map(|s| s.epoch.epoch), Some(epoch + 1));
			assert!(OpenEpochs::<T>::contains_key(epoch + 1, device));
		}
	}

	impl_benchmark_test_suite!(Pallet, crate::mock::new_test_ext(), crate::mock::Test);
}
