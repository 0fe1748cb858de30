//! The three ways S3 writes a time: ISO 8601 with milliseconds in XML
//! (`2026-11-22T08:00:00.000Z`), the HTTP date in headers
//! (`Sun, 22 Nov 2026 08:00:00 GMT`, via `httpdate`), and the SigV4
//! `x-amz-date` (`20261122T080000Z`). Times are UTC; shale keeps them as
//! nanoseconds since the Unix epoch, which a u64 holds until the year 2554.
//!
//! Civil dates use Howard Hinnant's days-from-civil algorithms
//! (<https://howardhinnant.github.io/date_algorithms.html>), on the
//! proleptic Gregorian calendar, restricted here to years from 1970.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

const NANOS_PER_SEC: u64 = 1_000_000_000;
const SECS_PER_DAY: u64 = 86_400;

/// `2026-11-22T08:00:00.000Z`: the `LastModified`/`Initiated`/
/// `CreationDate` form of S3's XML (milliseconds truncated, not rounded).
pub fn iso8601_millis(unix_nanos: u64) -> String {
    let secs = unix_nanos / NANOS_PER_SEC;
    let millis = (unix_nanos % NANOS_PER_SEC) / 1_000_000;
    let (year, month, day) = civil_from_days(secs / SECS_PER_DAY);
    let rem = secs % SECS_PER_DAY;
    // Written digit by digit: listings format one per entry, and
    // `format!` was a tenth of a listing's CPU.
    let mut out = String::with_capacity(24);
    push_digits(&mut out, year, 4);
    for (sep, n, width) in [
        ('-', month, 2),
        ('-', day, 2),
        ('T', rem / 3600, 2),
        (':', rem % 3600 / 60, 2),
        (':', rem % 60, 2),
        ('.', millis, 3),
    ] {
        out.push(sep);
        push_digits(&mut out, n, width);
    }
    out.push('Z');
    out
}

/// The last `width` decimal digits of `n`, zero-padded.
fn push_digits(out: &mut String, n: u64, width: u32) {
    for p in (0..width).rev() {
        let d = (n / 10u64.pow(p)) % 10;
        out.push(char::from(b'0' + d as u8));
    }
}

/// `Sun, 22 Nov 2026 08:00:00 GMT` (RFC 9110 IMF-fixdate), for
/// `Last-Modified`; sub-second precision is dropped.
pub fn http_date(unix_nanos: u64) -> String {
    // A u64 of nanoseconds ends in 2554, within httpdate's range (< 10000).
    httpdate::fmt_http_date(UNIX_EPOCH + Duration::from_nanos(unix_nanos))
}

/// Seconds since the epoch of an HTTP date in any of the three forms HTTP
/// allows (IMF-fixdate, RFC 850, asctime), for `If-Modified-Since` and
/// friends; `None` if it is not one or is before 1970.
pub fn parse_http_date(s: &str) -> Option<u64> {
    let t: SystemTime = httpdate::parse_http_date(s.trim()).ok()?;
    Some(t.duration_since(UNIX_EPOCH).ok()?.as_secs())
}

/// `20261122T080000Z`: the SigV4 `x-amz-date` of `unix_secs`.
pub fn amz_date(unix_secs: u64) -> String {
    let (year, month, day) = civil_from_days(unix_secs / SECS_PER_DAY);
    let rem = unix_secs % SECS_PER_DAY;
    format!(
        "{year:04}{month:02}{day:02}T{:02}{:02}{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// Seconds since the epoch of a SigV4 `x-amz-date` (`20261122T080000Z`,
/// exactly); `None` for anything else, including impossible dates
/// (`20260230`), leap seconds and years before 1970.
pub fn parse_amz_date(s: &str) -> Option<u64> {
    let b = s.as_bytes();
    if b.len() != 16 || b.get(8) != Some(&b'T') || b.get(15) != Some(&b'Z') {
        return None;
    }
    let num = |from: usize, to: usize| -> Option<u64> {
        let digits = b.get(from..to)?;
        digits.iter().try_fold(0u64, |n, &d| {
            d.is_ascii_digit().then(|| n * 10 + u64::from(d - b'0'))
        })
    };
    let (year, month, day) = (num(0, 4)?, num(4, 6)?, num(6, 8)?);
    let (hour, minute, second) = (num(9, 11)?, num(11, 13)?, num(13, 15)?);
    let valid = year >= 1970
        && (1..=12).contains(&month)
        && (1..=days_in_month(year, month)).contains(&day)
        && hour < 24
        && minute < 60
        && second < 60;
    valid.then(|| {
        days_from_civil(year, month, day) * SECS_PER_DAY + hour * 3600 + minute * 60 + second
    })
}

/// Seconds since the epoch of an ISO 8601 time as S3's XML carries it
/// (`2026-11-22T08:00:00Z`, `2026-11-22T08:00:00.000Z`; a fraction is
/// dropped); `None` for anything else.
pub fn parse_iso8601(s: &str) -> Option<u64> {
    let s = s.trim();
    let (date, rest) = (s.get(..10)?, s.get(10..)?);
    let rest = rest.strip_prefix('T')?.strip_suffix('Z')?;
    let (hms, fraction) = rest.split_once('.').unwrap_or((rest, "0"));
    if fraction.is_empty() || !fraction.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let compact = format!("{}T{}Z", date.replace('-', ""), hms.replace(':', ""));
    let well_formed = date.len() == 10
        && hms.len() == 8
        && hms.get(2..3) == Some(":")
        && hms.get(5..6) == Some(":");
    well_formed.then_some(())?;
    parse_ymd(date)?;
    parse_amz_date(&compact)
}

/// `2027-01-01`: midnight UTC of that day, Unix seconds; `None` if it is
/// not a date (or before 1970).
pub fn parse_ymd(s: &str) -> Option<u64> {
    let b = s.as_bytes();
    if b.len() != 10 || b.get(4) != Some(&b'-') || b.get(7) != Some(&b'-') {
        return None;
    }
    let num = |from: usize, to: usize| -> Option<u64> {
        b.get(from..to)?.iter().try_fold(0u64, |n, &d| {
            d.is_ascii_digit().then(|| n * 10 + u64::from(d - b'0'))
        })
    };
    let (year, month, day) = (num(0, 4)?, num(5, 7)?, num(8, 10)?);
    let valid = year >= 1970
        && (1..=12).contains(&month)
        && (1..=days_in_month(year, month)).contains(&day);
    valid.then(|| days_from_civil(year, month, day) * SECS_PER_DAY)
}

fn is_leap(year: u64) -> bool {
    year.is_multiple_of(4) && (!year.is_multiple_of(100) || year.is_multiple_of(400))
}

fn days_in_month(year: u64, month: u64) -> u64 {
    match month {
        2 if is_leap(year) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 of a date on or after it (Hinnant, shifted so the
/// arithmetic stays unsigned: eras counted from year 0, March-based years).
fn days_from_civil(year: u64, month: u64, day: u64) -> u64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y / 400;
    let yoe = y - era * 400;
    let mp = (month + 9) % 12; // March = 0
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    // 719468 = days from 0000-03-01 to 1970-01-01.
    era * 146_097 + doe - 719_468
}

/// The date `(year, month, day)` `days` after 1970-01-01.
fn civil_from_days(days: u64) -> (u64, u64, u64) {
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + u64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    #[test]
    fn iso8601_times_as_s3_xml_writes_them() {
        let t = Some(1_795_334_400);
        assert_eq!(parse_iso8601("2026-11-22T08:00:00Z"), t);
        assert_eq!(parse_iso8601("2026-11-22T08:00:00.123Z"), t);
        for bad in [
            "2026-11-22T08:00:00",
            "2026-11-22 08:00:00Z",
            "2026-11-22T08:0000Z",
            "2026-02-30T00:00:00Z",
            "2026-11-22T08:00:00.Z",
            "",
        ] {
            assert_eq!(parse_iso8601(bad), None, "{bad}");
        }
    }

    use super::*;

    #[test]
    fn dates_round_trip_through_civil_conversion() {
        for t in [
            0u64,
            951_782_400,
            1_369_353_600,
            4_102_444_799,
            253_402_300_799,
        ] {
            assert_eq!(parse_amz_date(&amz_date(t)), Some(t), "{t}");
        }
        assert_eq!(parse_amz_date("20130524T000000Z"), Some(1_369_353_600));
        assert_eq!(parse_amz_date("20130230T000000Z"), None);
        assert_eq!(parse_amz_date("20000229T235959Z"), Some(951_868_799));
        assert_eq!(parse_amz_date("19000229T000000Z"), None);
        assert_eq!(parse_amz_date("2013052AT000000Z"), None);
        assert_eq!(parse_amz_date("20130524T240000Z"), None);
    }
}
