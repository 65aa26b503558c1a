use super::*;

const DAY: u64 = 20_000 * SECONDS_PER_DAY;

fn interval(start: UnixSeconds, length_s: u32, net_import_wh: i64, soc: u16) -> RecentInterval {
	RecentInterval {
		interval_start: start,
		interval_length_s: length_s,
		net_import_wh,
		soc_bp: Some(soc),
	}
}

fn hours(values: &[(u32, i64)]) -> Vec<HourEnergy> {
	values.iter().map(|&(day, net_import_wh)| HourEnergy { day, net_import_wh }).collect()
}

#[test]
fn meter_before_averages_the_last_intervals_before_the_start() {
	// A battery charging 1 kW, then 2 kW, over four 15-minute intervals before 18:00.
	let start = DAY + 18 * 3_600;
	let recent = [
		interval(start - 3_600, 900, 250, 5_000),
		interval(start - 2_700, 900, 250, 5_100),
		interval(start - 1_800, 900, 500, 5_200),
		interval(start - 900, 900, 500, 5_400),
	];
	// (250 + 250 + 500 + 500) Wh × 3 600 ÷ 3 600 s = 1 500 W.
	assert_eq!(meter_before(&recent, start), Some(1_500));
	assert_eq!(soc_before(&recent, start), Some(5_400));
	// Intervals after the start do not count.
	assert_eq!(meter_before(&recent, start - 1_800), Some(1_000));
}

#[test]
fn meter_before_ignores_stale_intervals_and_needs_one() {
	let start = DAY + 18 * 3_600;
	let stale = [interval(start - 3 * 3_600, 900, 900, 5_000)];
	assert_eq!(meter_before(&stale, start), None);
	assert_eq!(meter_before(&[], start), None);
	// Exporting 2 kW: a negative net import.
	let exporting = [interval(start - 900, 900, -500, 8_000)];
	assert_eq!(meter_before(&exporting, start), Some(-2_000));
}

#[test]
fn ten_of_ten_averages_non_event_days_before_the_event() {
	let event_day = 20_010;
	// Ten days at 18:00–19:00: 2.0 kWh, except day 20 005 (an event day, 0.5 kWh) and the
	// event day itself (already counted 0.3 kWh today).
	let mut history = hours(&[
		(20_000, 2_000),
		(20_001, 2_200),
		(20_002, 1_800),
		(20_003, 2_000),
		(20_004, 2_000),
		(20_005, 500),
		(20_006, 2_100),
		(20_007, 1_900),
		(20_008, 2_000),
		(20_009, 2_000),
	]);
	history.push(HourEnergy { day: event_day, net_import_wh: 300 });
	// Nine days: 18 000 ÷ 9 = 2 000 Wh.
	assert_eq!(ten_of_ten(&history, event_day, &[20_005], 1), Some(2_000));
	// With the event day counted: (18 000 + 500) ÷ 10 = 1 850.
	assert_eq!(ten_of_ten(&history, event_day, &[], 1), Some(1_850));
	// Too little history.
	assert_eq!(ten_of_ten(&history[..2], event_day, &[], 3), None);
	assert_eq!(ten_of_ten(&[], event_day, &[], 0), None);
}

#[test]
fn the_same_day_adjustment_is_clamped_to_twenty_percent() {
	// A hotter day: 2.3 kWh against 2.0 kWh → 115 %.
	assert_eq!(same_day_adjustment(2_300, 2_000), 11_500);
	assert_eq!(same_day_adjustment(4_000, 2_000), 12_000);
	assert_eq!(same_day_adjustment(1_000, 2_000), 8_000);
	assert_eq!(same_day_adjustment(0, 2_000), 10_000);
	assert_eq!(same_day_adjustment(1_000, -2_000), 10_000);
}

#[test]
fn the_adjustment_hours_skip_the_hour_before_the_start() {
	assert_eq!(adjustment_hours(DAY + 18 * 3_600).collect::<Vec<_>>(), vec![15, 16]);
	assert_eq!(adjustment_hours(DAY + 18 * 3_600 + 1_800).collect::<Vec<_>>(), vec![15, 16]);
	assert_eq!(adjustment_hours(DAY + 2 * 3_600).collect::<Vec<_>>(), vec![0]);
	assert!(adjustment_hours(DAY + 3_600).next().is_none());
}

#[test]
fn delivered_counts_only_movement_in_the_event_direction() {
	assert_eq!(delivered(Direction::Up, 500, -250), 750);
	assert_eq!(delivered(Direction::Up, 500, 600), 0);
	assert_eq!(delivered(Direction::Down, 100, 1_100), 1_000);
	assert_eq!(delivered(Direction::Down, 100, 0), 0);
}

#[test]
fn scaling_and_overlap() {
	assert_eq!(scale(1_500, 900, 3_600), 375);
	assert_eq!(scale(-1_500, 900, 3_600), -375);
	assert_eq!(scale(7, 1, 0), 0);
	assert_eq!(overlap_s(0, 900, 600, 2_000), 300);
	assert_eq!(overlap_s(0, 900, 900, 2_000), 0);
	assert_eq!(day_and_hour(DAY + 18 * 3_600 + 59), (20_000, 18));
}

#[test]
fn hour_history_keeps_the_last_days() {
	let mut history = HourHistory::default();
	for day in 0..15u32 {
		add_to_hour(&mut history, day, 100);
		add_to_hour(&mut history, day, 50);
	}
	assert_eq!(history.len(), (BASELINE_DAYS + 1) as usize);
	assert_eq!(history[0].day, 4);
	assert!(history.iter().all(|hour| hour.net_import_wh == 150));
	// An older day is not counted again.
	add_to_hour(&mut history, 3, 1_000);
	assert_eq!(history[0].day, 4);
}
