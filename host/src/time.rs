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

/// Seconds since the epoch of a UTC time written `YYYY-MM-DDTHH:MM:SS`
/// (a trailing `Z` allowed) or as GeoNode names archives,
/// `YYYY-MM-DD_HHMMSS`; `None` for anything else.
pub fn parse_utc(text: &str) -> Option<i64> {
    if !text.is_ascii() {
        return None;
    }
    let text = text.strip_suffix('Z').unwrap_or(text);
    let (date, time) = text.split_once(['T', '_'])?;
    let time: String = match time.len() {
        8 if time.as_bytes()[2] == b':' && time.as_bytes()[5] == b':' => time.replace(':', ""),
        6 => time.to_owned(),
        _ => return None,
    };
    let digits = |s: &str| -> Option<i64> {
        s.bytes()
            .all(|b| b.is_ascii_digit())
            .then(|| s.parse().ok())?
    };
    let mut parts = date.split('-');
    let (y, m, d) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() || y.len() != 4 || m.len() != 2 || d.len() != 2 {
        return None;
    }
    let (y, m, d) = (digits(y)?, digits(m)?, digits(d)?);
    let (hh, mm, ss) = (
        digits(&time[..2])?,
        digits(&time[2..4])?,
        digits(&time[4..])?,
    );
    let month = u32::try_from(m).ok().filter(|m| (1..=12).contains(m))?;
    let day = u32::try_from(d).ok().filter(|d| *d >= 1)?;
    let days = days_from_civil(y, month, day);
    if civil_from_days(days) != (y, month, day) || hh > 23 || mm > 59 || ss > 59 {
        return None;
    }
    Some(days * 86_400 + hh * 3600 + mm * 60 + ss)
}

/// A proleptic Gregorian date to days since 1970-01-01 (Howard Hinnant's algorithm).
fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let mp = i64::from((m + 9) % 12);
    let doy = (153 * mp + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Days since 1970-01-01 to a proleptic Gregorian date (Howard Hinnant's algorithm).
pub fn civil_from_days(days: i64) -> (i64, u32, u32) {
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
    use super::{format_utc, parse_utc};

    #[test]
    fn formats_known_instants() {
        assert_eq!(format_utc(0), "1970-01-01T00:00:00");
        assert_eq!(format_utc(951_782_400), "2000-02-29T00:00:00");
        assert_eq!(format_utc(1_700_000_000), "2023-11-14T22:13:20");
        assert_eq!(format_utc(-1), "1969-12-31T23:59:59");
    }

    #[test]
    fn parses_what_it_formats_and_archive_stamps() {
        for epoch in [0, 951_782_400, 1_700_000_000, -1, 4_102_444_799] {
            let text = format_utc(epoch);
            assert_eq!(parse_utc(&text), Some(epoch), "{text}");
            assert_eq!(parse_utc(&format!("{text}Z")), Some(epoch), "{text}");
        }
        assert_eq!(parse_utc("2023-11-14_221320"), Some(1_700_000_000));
        for bad in [
            "",
            "2023-11-14",
            "2023-02-29_000000",
            "2023-13-01_000000",
            "2023-11-14_246000",
            "2023-11-14_2213",
            "2023-11-14 22:13:20",
            "+023-11-14_221320",
            "2023-11-14_22132x",
            "2023-11-14_22é32",
        ] {
            assert_eq!(parse_utc(bad), None, "{bad}");
        }
    }
}
