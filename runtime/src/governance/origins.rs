//! Governance origins: the powers a referendum on each track dispatches with, and the timing
//! of the tracks.
//!
//! A referendum's proposal runs with the origin of its track. Each origin carries exactly one
//! power (see docs/governance.md): `NetworkParameters` changes the scoring, telemetry and
//! demand-response parameters; `DeviceVerifiers` names verifiers and suspends devices;
//! `DemandResponseOperators` appoints operators; `Validators` changes the validator set;
//! `Treasurer` spends from the treasury. Root (the root track) can do everything.
//!
//! [`Timing`] chooses the tracks' periods: days on a real network, blocks on a development
//! chain, so that a referendum there passes in minutes. It is set at genesis only.

pub use pallet_origins::*;

// The pallet macros expand to `expect` on values they construct themselves.
#[allow(clippy::expect_used)]
#[frame_support::pallet]
pub mod pallet_origins {
	use crate::{Balance, OVPP};
	use frame_support::pallet_prelude::*;

	#[pallet::config]
	pub trait Config: frame_system::Config {}

	#[pallet::pallet]
	pub struct Pallet<T>(_);

	/// The origins of the governance tracks other than root.
	#[derive(
		PartialEq, Eq, Clone, MaxEncodedLen, Encode, Decode, DecodeWithMemTracking, TypeInfo, Debug,
	)]
	#[pallet::origin]
	pub enum Origin {
		/// Scoring weights and emission, telemetry tolerances and minimum interval,
		/// demand-response event limits and reputation pivot.
		NetworkParameters,
		/// Adds and removes device verifiers; suspends and reinstates devices.
		DeviceVerifiers,
		/// Appoints and removes demand-response operators; cancels events.
		DemandResponseOperators,
		/// Adds and removes validators.
		Validators,
		/// Spends from the treasury, up to [`MAX_TREASURER_SPEND`] per spend.
		Treasurer,
	}

	/// Largest single spend the treasurer track may approve; root may spend more.
	pub const MAX_TREASURER_SPEND: Balance = 1_000_000 * OVPP;

	/// How long the tracks' periods are.
	#[derive(
		PartialEq,
		Eq,
		Clone,
		Copy,
		Default,
		MaxEncodedLen,
		Encode,
		Decode,
		DecodeWithMemTracking,
		TypeInfo,
		Debug,
		serde::Serialize,
		serde::Deserialize,
	)]
	pub enum Timing {
		/// Days, for a network whose holders need time to read and vote.
		#[default]
		Production,
		/// Blocks: a referendum with clear support passes and is enacted in about two minutes.
		/// Development and local chains only.
		Demonstration,
	}

	/// The tracks' timing, fixed at genesis.
	#[pallet::storage]
	pub type TrackTiming<T> = StorageValue<_, Timing, ValueQuery>;

	#[pallet::genesis_config]
	#[derive(frame_support::DefaultNoBound)]
	pub struct GenesisConfig<T: Config> {
		pub timing: Timing,
		#[serde(skip)]
		pub _config: core::marker::PhantomData<T>,
	}

	#[pallet::genesis_build]
	impl<T: Config> BuildGenesisConfig for GenesisConfig<T> {
		fn build(&self) {
			TrackTiming::<T>::put(self.timing);
		}
	}

	/// An `EnsureOrigin` for each origin, succeeding with `()`.
	macro_rules! ensure_origin {
		( $name:ident ) => {
			pub struct $name;
			impl<O: OriginTrait + From<Origin>> EnsureOrigin<O> for $name
			where
				for<'a> &'a O::PalletsOrigin: TryInto<&'a Origin>,
			{
				type Success = ();

				fn try_origin(o: O) -> Result<Self::Success, O> {
					let ours = matches!(o.caller().try_into(), Ok(Origin::$name));
					if ours {
						Ok(())
					} else {
						Err(o)
					}
				}

				#[cfg(feature = "runtime-benchmarks")]
				fn try_successful_origin() -> Result<O, ()> {
					Ok(O::from(Origin::$name))
				}
			}
		};
	}
	ensure_origin!(NetworkParameters);
	ensure_origin!(DeviceVerifiers);
	ensure_origin!(DemandResponseOperators);
	ensure_origin!(Validators);

	/// The treasurer track's origin, succeeding with the most it may spend.
	pub struct Treasurer;
	impl<O: OriginTrait + From<Origin>> EnsureOrigin<O> for Treasurer
	where
		for<'a> &'a O::PalletsOrigin: TryInto<&'a Origin>,
	{
		type Success = Balance;

		fn try_origin(o: O) -> Result<Self::Success, O> {
			let ours = matches!(o.caller().try_into(), Ok(Origin::Treasurer));
			if ours {
				Ok(MAX_TREASURER_SPEND)
			} else {
				Err(o)
			}
		}

		#[cfg(feature = "runtime-benchmarks")]
		fn try_successful_origin() -> Result<O, ()> {
			Ok(O::from(Origin::Treasurer))
		}
	}
}
