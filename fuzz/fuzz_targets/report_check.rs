//! The chain's physics checks on arbitrary reports, capabilities and references: they never
//! panic, and the reference they leave follows the rules the docs state — a plausible report
//! becomes the reference, a declared reset re-bases the counters, anything else flagged leaves
//! the reference untouched.
#![no_main]

use codec::Decode;
use libfuzzer_sys::fuzz_target;
use openvpp_primitives::{
	check_plausibility, Capability, DeviceKind, EnergyReference, IntervalReport, PlausibilityFlags,
	PlausibilityTolerances,
};

#[derive(Decode, Debug)]
struct Input {
	kind: u8,
	capability: Capability,
	reference: Option<EnergyReference>,
	report: IntervalReport,
	rating_tolerance_bp: u16,
	soc_throughput_tolerance_bp: u16,
	soc_capacity_tolerance_bp: u16,
}

fuzz_target!(|data: &[u8]| {
	let Ok(input) = Input::decode(&mut &data[..]) else { return };
	let kind = DeviceKind::ALL[usize::from(input.kind) % DeviceKind::ALL.len()];
	let tolerances = PlausibilityTolerances {
		rating_tolerance_bp: input.rating_tolerance_bp,
		soc_throughput_tolerance_bp: input.soc_throughput_tolerance_bp,
		soc_capacity_tolerance_bp: input.soc_capacity_tolerance_bp,
	};
	let assessment = check_plausibility(
		&input.report,
		kind,
		&input.capability,
		input.reference.as_ref(),
		&tolerances,
	);
	let report = &input.report;
	if assessment.flags.is_plausible() {
		let next = assessment.reference.expect("a plausible report leaves a reference");
		assert_eq!(next.cumulative_imported_wh, report.cumulative_imported_wh);
		assert_eq!(next.cumulative_exported_wh, report.cumulative_exported_wh);
		if let Some(soc_bp) = report.soc_bp {
			assert_eq!(next.soc_anchor.map(|a| a.soc_bp), Some(soc_bp));
		}
	} else if assessment.flags.contains(PlausibilityFlags::COUNTER_RESET) {
		let next = assessment.reference.expect("a reset re-bases the reference");
		assert_eq!(next.cumulative_imported_wh, report.cumulative_imported_wh);
		assert_eq!(next.cumulative_exported_wh, report.cumulative_exported_wh);
		assert_eq!(
			next.soc_anchor.map(|a| a.soc_bp),
			input.reference.and_then(|r| r.soc_anchor).map(|a| a.soc_bp)
		);
	} else {
		assert_eq!(assessment.reference, input.reference, "a flagged report moved the reference");
	}
});
