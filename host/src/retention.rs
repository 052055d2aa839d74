//! Which backups a retention policy keeps, decided as restic's `forget`
//! decides: a pure function of the backups' dates (UTC).
//!
//! Backups are taken newest first. Each rule with a count `n` walks them
//! and keeps a backup when it falls into a period (a day, an ISO week, a
//! month; for `last`, every backup is a period of its own) other than the
//! last one it kept, until it has kept `n`: the newest backup of each of
//! the last `n` periods that have backups. A backup is kept when any rule
//! keeps it; the newest is always kept.

use serde::Serialize;

use crate::time::civil_from_days;

/// How many backups each rule keeps; 0 turns a rule off.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct KeepPolicy {
    /// The newest `last` backups.
    pub last: u32,
    /// The newest backup of each of the last `daily` days that have one.
    pub daily: u32,
    /// The newest backup of each of the last `weekly` ISO weeks that have one.
    pub weekly: u32,
    /// The newest backup of each of the last `monthly` months that have one.
    pub monthly: u32,
}

impl KeepPolicy {
    /// Whether every rule is off.
    pub fn is_empty(&self) -> bool {
        self.rules().iter().all(|(_, n)| *n == 0)
    }

    /// The rules that are on, as `gnbr prune` takes them: `--keep-daily 7`…
    pub fn flags(&self) -> Vec<String> {
        self.rules()
            .iter()
            .filter(|(_, n)| *n > 0)
            .map(|(rule, n)| format!("--keep-{} {n}", rule.name()))
            .collect()
    }

    /// Each rule and its count.
    fn rules(&self) -> [(Rule, u32); 4] {
        [
            (Rule::Last, self.last),
            (Rule::Daily, self.daily),
            (Rule::Weekly, self.weekly),
            (Rule::Monthly, self.monthly),
        ]
    }
}

/// Why a backup is kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Rule {
    /// The newest backup, which is always kept (named only when no rule keeps it).
    Newest,
    /// `--keep-last`.
    Last,
    /// `--keep-daily`.
    Daily,
    /// `--keep-weekly`.
    Weekly,
    /// `--keep-monthly`.
    Monthly,
}

impl Rule {
    /// The rule as the report names it.
    pub fn name(self) -> &'static str {
        match self {
            Rule::Newest => "newest",
            Rule::Last => "last",
            Rule::Daily => "daily",
            Rule::Weekly => "weekly",
            Rule::Monthly => "monthly",
        }
    }

    /// The period of this rule the backup at `date` falls into, `rank` being
    /// its place newest first: equal for two backups of the same period.
    fn period(self, date: i64, rank: usize) -> i64 {
        let day = date.div_euclid(86_400);
        match self {
            Rule::Newest | Rule::Last => i64::try_from(rank).unwrap_or(i64::MAX),
            Rule::Daily => day,
            // The week's Monday: 1970-01-01 was a Thursday.
            Rule::Weekly => day - (day + 3).rem_euclid(7),
            Rule::Monthly => {
                let (year, month, _) = civil_from_days(day);
                year * 12 + i64::from(month)
            }
        }
    }
}

/// The rules that keep each of the backups dated `dates` (seconds since
/// the epoch), in the order given: none for a backup the policy lets go.
/// Backups of the same date count newest in the order given.
pub fn kept_by(policy: &KeepPolicy, dates: &[i64]) -> Vec<Vec<Rule>> {
    let mut order: Vec<usize> = (0..dates.len()).collect();
    order.sort_by(|a, b| dates[*b].cmp(&dates[*a]));
    let mut reasons = vec![Vec::new(); dates.len()];
    for (rule, count) in policy.rules() {
        let mut left = count;
        let mut last_period = None;
        for (rank, &index) in order.iter().enumerate() {
            if left == 0 {
                break;
            }
            let period = rule.period(dates[index], rank);
            if last_period != Some(period) {
                reasons[index].push(rule);
                last_period = Some(period);
                left -= 1;
            }
        }
    }
    if let Some(&newest) = order.first() {
        if reasons[newest].is_empty() {
            reasons[newest].push(Rule::Newest);
        }
    }
    reasons
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::{kept_by, KeepPolicy, Rule};
    use crate::time::parse_utc;

    fn at(text: &str) -> i64 {
        parse_utc(text).unwrap_or_else(|| panic!("{text}"))
    }

    fn policy(last: u32, daily: u32, weekly: u32, monthly: u32) -> KeepPolicy {
        KeepPolicy {
            last,
            daily,
            weekly,
            monthly,
        }
    }

    #[test]
    fn keeps_the_newest_of_each_period_as_restic_does() {
        // Two a day from Sunday 2025-12-28 to Saturday 2026-01-10, newest first.
        let mut dates = Vec::new();
        for day in (0..14).rev() {
            let midnight = at("2025-12-28T00:00:00") + day * 86_400;
            dates.push(midnight + 20 * 3600);
            dates.push(midnight + 2 * 3600);
        }
        let kept = kept_by(&policy(2, 3, 2, 2), &dates);
        let shown: Vec<(String, Vec<Rule>)> = kept
            .iter()
            .enumerate()
            .filter(|(_, rules)| !rules.is_empty())
            .map(|(i, rules)| (crate::time::format_utc(dates[i]), rules.clone()))
            .collect();
        use Rule::{Daily, Last, Monthly, Weekly};
        assert_eq!(
            shown,
            [
                (
                    "2026-01-10T20:00:00".to_owned(),
                    vec![Last, Daily, Weekly, Monthly]
                ),
                ("2026-01-10T02:00:00".to_owned(), vec![Last]),
                ("2026-01-09T20:00:00".to_owned(), vec![Daily]),
                ("2026-01-08T20:00:00".to_owned(), vec![Daily]),
                // The ISO week of Monday 2025-12-29 to Sunday 2026-01-04.
                ("2026-01-04T20:00:00".to_owned(), vec![Weekly]),
                ("2025-12-31T20:00:00".to_owned(), vec![Monthly]),
            ]
        );
    }

    #[test]
    fn without_a_rule_only_the_newest_is_kept() {
        let kept = kept_by(&KeepPolicy::default(), &[1, 3, 2]);
        assert_eq!(kept, [vec![], vec![Rule::Newest], vec![]]);
        assert!(kept_by(&policy(1, 0, 0, 0), &[]).is_empty());
    }

    /// Whether `rule` with `count` justifies keeping the backup at `index`,
    /// told from the dates alone: it is the newest of its period, and
    /// fewer than `count` periods with backups are newer.
    fn justified(rule: Rule, count: u32, dates: &[i64], index: usize) -> bool {
        let newer = |j: usize| dates[j] > dates[index] || (dates[j] == dates[index] && j < index);
        let rank = (0..dates.len()).filter(|&j| newer(j)).count();
        if rule == Rule::Newest {
            return rank == 0;
        }
        let period = |j: usize| {
            let rank = (0..dates.len())
                .filter(|&k| dates[k] > dates[j] || (dates[k] == dates[j] && k < j))
                .count();
            rule.period(dates[j], rank)
        };
        let own = period(index);
        let newest_of_its_period = !(0..dates.len()).any(|j| newer(j) && period(j) == own);
        let newer_periods: std::collections::BTreeSet<i64> =
            (0..dates.len()).filter(|&j| newer(j)).map(period).collect();
        newest_of_its_period && newer_periods.len() < count as usize
    }

    proptest! {
        #[test]
        fn the_newest_is_kept_and_every_kept_one_is_justified(
            // About three months in steps of 4000 s: days, weeks and months
            // with several backups, and backups of the same second.
            dates in prop::collection::vec((0i64..2000).prop_map(|x| 1_500_000_000 + x * 4000), 0..40),
            last in 0u32..4, daily in 0u32..8, weekly in 0u32..6, monthly in 0u32..4,
        ) {
            let policy = policy(last, daily, weekly, monthly);
            let kept = kept_by(&policy, &dates);
            prop_assert_eq!(kept.len(), dates.len());
            if let Some(newest) = dates.iter().max() {
                let first = dates.iter().position(|d| d == newest).unwrap();
                prop_assert!(!kept[first].is_empty());
            }
            let counts = [
                (Rule::Newest, 1),
                (Rule::Last, last),
                (Rule::Daily, daily),
                (Rule::Weekly, weekly),
                (Rule::Monthly, monthly),
            ];
            for (index, rules) in kept.iter().enumerate() {
                for rule in rules {
                    let count = counts.iter().find(|(r, _)| r == rule).unwrap().1;
                    prop_assert!(justified(*rule, count, &dates, index), "{rule:?} keeps {index}");
                }
            }
            for (rule, count) in counts.into_iter().skip(1) {
                for (index, rules) in kept.iter().enumerate() {
                    if justified(rule, count, &dates, index) {
                        prop_assert!(rules.contains(&rule), "{rule:?} lets {index} go");
                    }
                }
            }
        }
    }
}
