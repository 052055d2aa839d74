//! Backup schedules in cron syntax (Vixie cron's five fields, in UTC), and
//! which scheduled runs are due: a pure function of the schedule, the time
//! the scheduler last looked and now ([`due`]).
//!
//! Patterns are parsed and matched by `croner`. Counting the due times of
//! a long gap walks it a day at a time (a year is 366 steps, whatever the
//! schedule), each day's matching minutes known from the pattern.

use std::str::FromStr;

use chrono::{DateTime, Utc};
use croner::{
    parser::{CronParser, Seconds, Year},
    Cron, Weekday,
};

use crate::{
    errors::{Error, ErrorKind},
    time::civil_from_days,
};

/// How long after the scheduler's previous look a due time still counts
/// as seen while `gnbr serve` ran: a longer gap means it was not running
/// (or the machine slept), and the due times in the gap are missed.
pub const LIVE_GAP_SECONDS: i64 = 120;

/// The longest gap counted (centuries of a corrupt stamp are not walked).
const LONGEST_GAP_SECONDS: i64 = 100 * 366 * 86_400;

const MINUTES_PER_DAY: usize = 1440;

/// A parsed schedule: five cron fields, in UTC.
#[derive(Debug, Clone)]
pub struct Schedule {
    /// The pattern as given, spaces collapsed.
    text: String,
    cron: Cron,
    /// Whether each minute of a day (0 to 1439) matches the hour and minute fields.
    minutes: Box<[bool; MINUTES_PER_DAY]>,
}

impl Schedule {
    /// Parses a schedule: minute, hour, day of month, month, day of week
    /// (croner's `L`, `W` and `#` extensions and `@daily`-style names allowed).
    ///
    /// # Errors
    ///
    /// When `text` is not five cron fields, or never comes.
    pub fn parse(text: &str) -> Result<Self, Error> {
        let text = text.split_whitespace().collect::<Vec<_>>().join(" ");
        let cron = CronParser::builder()
            .seconds(Seconds::Disallowed)
            .year(Year::Disallowed)
            .build()
            .parse(&text)
            .map_err(|e| not_a_schedule(&text, &e.to_string()))?;
        let pattern = &cron.pattern;
        let mut minutes = Box::new([false; MINUTES_PER_DAY]);
        for (minute, matches) in minutes.iter_mut().enumerate() {
            let (hour, minute) = ((minute / 60) as u32, (minute % 60) as u32);
            *matches = pattern.second_match(0).unwrap_or(false)
                && pattern.hour_match(hour).unwrap_or(false)
                && pattern.minute_match(minute).unwrap_or(false);
        }
        if !minutes.contains(&true) {
            return Err(not_a_schedule(&text, "it matches no time of day"));
        }
        let schedule = Self {
            text,
            cron,
            minutes,
        };
        if schedule.next_after(0).is_none() {
            return Err(not_a_schedule(&schedule.text, "it never comes"));
        }
        Ok(schedule)
    }

    /// The pattern, spaces collapsed.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// The first due time after `epoch`, if one comes (croner's search).
    pub fn next_after(&self, epoch: i64) -> Option<i64> {
        let start = DateTime::<Utc>::from_timestamp(epoch, 0)?;
        self.cron
            .find_next_occurrence(&start, false)
            .ok()
            .map(|next| next.timestamp())
    }

    /// Whether the day `day` (days since 1970-01-01, UTC) matches the day
    /// of month, month and day of week fields.
    fn day_matches(&self, day: i64) -> bool {
        let (year, month, day_of_month) = civil_from_days(day);
        let Ok(year) = i32::try_from(year) else {
            return false;
        };
        // 1970-01-01 was a Thursday.
        let weekday = Weekday::from_days_from_sunday((day + 4).rem_euclid(7) as u32);
        let pattern = &self.cron.pattern;
        pattern.year_match(year).unwrap_or(false)
            && pattern.month_match(month).unwrap_or(false)
            && pattern
                .day_match(year, month, day_of_month, weekday)
                .unwrap_or(false)
    }

    /// The due times in `(after, until]`: how many, the first and the last.
    pub fn due_between(&self, after: i64, until: i64) -> DueTimes {
        let after = after.max(until.saturating_sub(LONGEST_GAP_SECONDS));
        // Due times are whole minutes: the first after `after`, the last at or before `until`.
        let first = after.div_euclid(60) + 1;
        let last = until.div_euclid(60);
        let mut due = DueTimes::default();
        if last < first {
            return due;
        }
        let per_day = MINUTES_PER_DAY as i64;
        let (first_day, last_day) = (first.div_euclid(per_day), last.div_euclid(per_day));
        for day in first_day..=last_day {
            if !self.day_matches(day) {
                continue;
            }
            let from = if day == first_day {
                first - day * per_day
            } else {
                0
            };
            let to = if day == last_day {
                last - day * per_day
            } else {
                per_day - 1
            };
            let mut matching = (from..=to).filter(|&minute| self.minutes[minute as usize]);
            let Some(earliest) = matching.next() else {
                continue;
            };
            let latest = matching.next_back().unwrap_or(earliest);
            let between = matching.count() as u64;
            due.count += 1 + between + u64::from(latest != earliest);
            due.first.get_or_insert((day * per_day + earliest) * 60);
            due.last = Some((day * per_day + latest) * 60);
        }
        due
    }
}

/// The refusal of `text`, and why.
fn not_a_schedule(text: &str, why: &str) -> Error {
    Error::new(
        ErrorKind::Usage,
        format!("the schedule `{text}` is not a cron schedule: {why}"),
    )
    .hint("give five fields, minute hour day-of-month month day-of-week, in UTC: e.g. `30 2 * * *` for 02:30 UTC every day, `0 3 * * 0` for Sundays at 03:00 UTC")
}

impl FromStr for Schedule {
    type Err = Error;

    fn from_str(text: &str) -> Result<Self, Error> {
        Self::parse(text)
    }
}

/// The due times of a span.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DueTimes {
    /// How many.
    pub count: u64,
    /// The first (seconds since the epoch).
    pub first: Option<i64>,
    /// The last.
    pub last: Option<i64>,
}

/// What the scheduler does at a look.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Due {
    /// The due times that passed while `gnbr serve` was not there to run them.
    pub missed: u64,
    /// The first of them.
    pub first_missed: Option<i64>,
    /// Start one run now: the latest due time.
    pub run_now: Option<i64>,
    /// Whether that run is a catch-up run after a gap (it stands for the
    /// missed due times), not a due time seen on time.
    pub catch_up: bool,
}

/// What is due at `now` when the scheduler last looked at `last_checked`.
///
/// The due times in `(last_checked, now]` are counted. When the previous
/// look was at most [`LIVE_GAP_SECONDS`] ago, the scheduler was running:
/// the latest due time runs now and only the earlier ones (several due
/// within one look) are missed. After a longer gap (`gnbr serve` was
/// stopped, the machine slept) every one of them is missed, and one
/// catch-up run starts, as systemd's `Persistent=true` does.
pub fn due(schedule: &Schedule, last_checked: i64, now: i64) -> Due {
    let times = schedule.due_between(last_checked, now);
    if times.count == 0 {
        return Due::default();
    }
    let live = now - last_checked <= LIVE_GAP_SECONDS;
    let missed = if live { times.count - 1 } else { times.count };
    Due {
        missed,
        first_missed: times.first.filter(|_| missed > 0),
        run_now: times.last,
        catch_up: !live,
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::{due, Due, DueTimes, Schedule, LIVE_GAP_SECONDS};
    use crate::time::parse_utc;

    fn at(text: &str) -> i64 {
        parse_utc(text).unwrap_or_else(|| panic!("{text}"))
    }

    fn schedule(text: &str) -> Schedule {
        Schedule::parse(text).unwrap_or_else(|e| panic!("{text}: {e}"))
    }

    /// The due times of `(after, until]` found by croner's own search, one by one.
    fn by_croner(schedule: &Schedule, after: i64, until: i64) -> DueTimes {
        let mut times = DueTimes::default();
        let mut from = after;
        while let Some(next) = schedule.next_after(from).filter(|&next| next <= until) {
            times.count += 1;
            times.first.get_or_insert(next);
            times.last = Some(next);
            from = next;
        }
        times
    }

    #[test]
    fn five_fields_are_taken_and_anything_else_is_refused_with_an_example() {
        assert_eq!(schedule("  30   2 * *  * ").text(), "30 2 * * *");
        assert_eq!(
            schedule("30 2 * * *").next_after(at("2026-12-03T08:00:00")),
            Some(at("2026-12-04T02:30:00"))
        );
        for bad in [
            "",
            "30 2 * *",
            "0 30 2 * * *",
            "30 2 * * * 2027",
            "61 2 * * *",
            "30 24 * * *",
            "every night",
            "0 0 30 2 *",
        ] {
            let error = Schedule::parse(bad).expect_err(bad).to_string();
            assert!(error.contains("is not a cron schedule"), "{bad}: {error}");
            assert!(error.contains("`30 2 * * *`"), "{bad}: {error}");
        }
    }

    #[test]
    fn month_ends_and_leap_days_are_counted_as_croner_finds_them() {
        let month_end = schedule("0 12 31 * *");
        let year = month_end.due_between(at("2026-01-01T00:00:00"), at("2027-01-01T00:00:00"));
        assert_eq!(year.count, 7);
        assert_eq!(year.first, Some(at("2026-01-31T12:00:00")));
        assert_eq!(year.last, Some(at("2026-12-31T12:00:00")));
        let leap = schedule("0 0 29 2 *");
        let eight_years = leap.due_between(at("2024-03-01T00:00:00"), at("2032-02-01T00:00:00"));
        assert_eq!(eight_years.count, 1);
        assert_eq!(eight_years.first, Some(at("2028-02-29T00:00:00")));
        assert_eq!(
            leap.next_after(at("2024-02-29T00:00:00")),
            eight_years.first
        );
        let last_day = schedule("0 0 L * *");
        assert_eq!(
            last_day.due_between(at("2028-02-01T00:00:00"), at("2028-03-01T00:00:00")),
            by_croner(
                &last_day,
                at("2028-02-01T00:00:00"),
                at("2028-03-01T00:00:00")
            )
        );
    }

    #[test]
    fn a_gap_of_years_is_counted_a_day_at_a_time() {
        let every_minute = schedule("* * * * *");
        let start = at("2025-01-01T00:00:00");
        let year = every_minute.due_between(start, at("2026-01-01T00:00:00"));
        assert_eq!(year.count, 365 * 1440);
        assert_eq!(year.first, Some(start + 60));
        let decade = every_minute.due_between(start, at("2035-01-01T00:00:00"));
        assert_eq!(decade.count, (365 * 10 + 2) * 1440);
        let weekdays = schedule("15 9,17 * * 1-5");
        assert_eq!(
            weekdays
                .due_between(at("2026-11-30T00:00:00"), at("2026-12-07T00:00:00"))
                .count,
            10
        );
    }

    #[test]
    fn a_live_scheduler_runs_the_due_time_and_a_gap_reports_it_missed() {
        let nightly = schedule("30 2 * * *");
        let due_at = at("2026-12-03T02:30:00");
        assert_eq!(due(&nightly, due_at - 20, due_at - 5), Due::default());
        assert_eq!(
            due(&nightly, due_at - 20, due_at + 5),
            Due {
                missed: 0,
                first_missed: None,
                run_now: Some(due_at),
                catch_up: false
            }
        );
        // Down from Monday evening to Thursday morning: three nights missed, one catch-up.
        assert_eq!(
            due(
                &nightly,
                at("2026-11-30T20:00:00"),
                at("2026-12-03T08:00:00")
            ),
            Due {
                missed: 3,
                first_missed: Some(at("2026-12-01T02:30:00")),
                run_now: Some(due_at),
                catch_up: true
            }
        );
        // Several due within one live look: the earlier ones are missed.
        let every_minute = schedule("* * * * *");
        let now = at("2026-12-03T08:00:00");
        assert_eq!(
            due(&every_minute, now - LIVE_GAP_SECONDS, now),
            Due {
                missed: 1,
                first_missed: Some(now - 60),
                run_now: Some(now),
                catch_up: false
            }
        );
        // A clock set back is nothing due.
        assert_eq!(due(&nightly, now, now - 86_400 * 3), Due::default());
    }

    /// Patterns with every kind of field.
    fn a_pattern() -> impl Strategy<Value = String> {
        let minute = prop_oneof![
            Just("*".to_owned()),
            (0u32..60).prop_map(|m| m.to_string()),
            (1u32..31).prop_map(|s| format!("*/{s}")),
            (0u32..30, 30u32..60).prop_map(|(a, b)| format!("{a}-{b}")),
        ];
        let hour = prop_oneof![
            Just("*".to_owned()),
            (0u32..24).prop_map(|h| h.to_string()),
            (0u32..12, 12u32..24).prop_map(|(a, b)| format!("{a},{b}")),
        ];
        let day = prop_oneof![
            Just("*".to_owned()),
            (1u32..32).prop_map(|d| d.to_string()),
            Just("L".to_owned()),
            (28u32..32).prop_map(|d| format!("1,{d}")),
        ];
        let month = prop_oneof![
            Just("*".to_owned()),
            (1u32..13).prop_map(|m| m.to_string()),
            Just("2".to_owned()),
        ];
        let weekday = prop_oneof![
            Just("*".to_owned()),
            (0u32..7).prop_map(|d| d.to_string()),
            Just("1-5".to_owned()),
        ];
        (minute, hour, day, month, weekday)
            .prop_map(|(mi, h, d, mo, w)| format!("{mi} {h} {d} {mo} {w}"))
    }

    proptest! {
        #[test]
        fn counting_agrees_with_croners_search(
            pattern in a_pattern(),
            // 2020 to 2032: leap years, and every month end.
            start in 1_577_836_800i64..1_956_528_000,
            span in 0i64..3 * 86_400,
        ) {
            // Patterns that never come (`31 2`) are refused on save.
            let Ok(schedule) = Schedule::parse(&pattern) else { return Ok(()) };
            let fast = schedule.due_between(start, start + span);
            let slow = by_croner(&schedule, start, start + span);
            prop_assert_eq!(fast, slow, "{}", pattern);
        }

        #[test]
        fn due_counts_every_due_time_once_and_runs_at_most_one(
            pattern in a_pattern(),
            start in 1_577_836_800i64..1_956_528_000,
            looks in prop::collection::vec(
                prop_oneof![1i64..=LIVE_GAP_SECONDS, 1i64..4 * 86_400],
                1..12,
            ),
        ) {
            let Ok(schedule) = Schedule::parse(&pattern) else { return Ok(()) };
            let mut last = start;
            let (mut missed, mut on_time) = (0, 0);
            for step in looks {
                let now = last + step;
                let due = due(&schedule, last, now);
                let count = schedule.due_between(last, now).count;
                prop_assert!(due.missed <= count);
                prop_assert_eq!(due.first_missed.is_some(), due.missed > 0);
                prop_assert_eq!(due.run_now.is_some(), count > 0);
                prop_assert_eq!(due.catch_up, count > 0 && step > LIVE_GAP_SECONDS);
                if let Some(run) = due.run_now {
                    prop_assert!(run > last && run <= now);
                    if step <= LIVE_GAP_SECONDS {
                        on_time += 1;
                    }
                }
                missed += due.missed;
                last = now;
            }
            // Every due time either ran on time or was reported missed
            // (a catch-up run stands for none of them).
            prop_assert_eq!(missed + on_time, schedule.due_between(start, last).count);
        }
    }
}
