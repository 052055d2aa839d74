//! The run's timestamp: `SOURCE_DATE_EPOCH` when set (reproducible
//! output), else now; formatted as Django writes datetimes.

use std::time::{SystemTime, UNIX_EPOCH};

use crate::errors::{Error, ErrorKind};

/// Seconds since the epoch for this run.
///
/// # Errors
///
/// When `SOURCE_DATE_EPOCH` is set but not a number of seconds.
pub fn run_epoch() -> Result<i64, Error> {
    match std::env::var("SOURCE_DATE_EPOCH") {
        Ok(value) => value.trim().parse().map_err(|_| {
            Error::new(
                ErrorKind::Usage,
                format!("SOURCE_DATE_EPOCH is `{value}`, not a number of seconds"),
            )
            .hint("unset it, or set it to a Unix time such as 1700000000")
        }),
        Err(_) => Ok(SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))),
    }
}

/// `%Y-%m-%dT%H:%M:%S` in UTC.
pub fn format_utc(epoch: i64) -> String {
    let days = epoch.div_euclid(86_400);
    let secs = epoch.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}",
        secs / 3600,
        secs % 3600 / 60,
        secs % 60
    )
}

/// Days since 1970-01-01 to a proleptic Gregorian date (Howard Hinnant's algorithm).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

#[cfg(test)]
mod tests {
    use super::format_utc;

    #[test]
    fn formats_known_instants() {
        assert_eq!(format_utc(0), "1970-01-01T00:00:00");
        assert_eq!(format_utc(951_782_400), "2000-02-29T00:00:00");
        assert_eq!(format_utc(1_700_000_000), "2023-11-14T22:13:20");
        assert_eq!(format_utc(-1), "1969-12-31T23:59:59");
    }
}
