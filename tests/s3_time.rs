//! The three time formats of S3 agree with fixed values and with httpdate's
//! independent civil-date code, over the whole u64 nanosecond range.

use std::time::{Duration, UNIX_EPOCH};

use proptest::prelude::*;
use shale::s3::time::{http_date, iso8601_millis, parse_amz_date, parse_http_date};

const NANOS: u64 = 1_000_000_000;

#[test]
fn fixed_values() {
    let cases: &[(u64, &str, &str)] = &[
        (
            0,
            "1970-01-01T00:00:00.000Z",
            "Thu, 01 Jan 1970 00:00:00 GMT",
        ),
        (
            1_795_334_400 * NANOS,
            "2026-11-22T08:00:00.000Z",
            "Sun, 22 Nov 2026 08:00:00 GMT",
        ),
        (
            951_868_799 * NANOS + 999_999_999,
            "2000-02-29T23:59:59.999Z",
            "Tue, 29 Feb 2000 23:59:59 GMT",
        ),
        (
            4_107_542_400 * NANOS + 1_000_000,
            "2100-03-01T00:00:00.001Z",
            "Mon, 01 Mar 2100 00:00:00 GMT",
        ),
        (
            1_735_648_496 * NANOS + 123_456_789,
            "2024-12-31T12:34:56.123Z",
            "Tue, 31 Dec 2024 12:34:56 GMT",
        ),
        (
            u64::MAX,
            "2554-07-21T23:34:33.709Z",
            "Sun, 21 Jul 2554 23:34:33 GMT",
        ),
    ];
    for &(nanos, iso, http) in cases {
        assert_eq!(iso8601_millis(nanos), iso);
        assert_eq!(http_date(nanos), http);
        assert_eq!(parse_http_date(http), Some(nanos / NANOS));
        let amz: String = iso
            .chars()
            .filter(|c| c.is_ascii_digit() || *c == 'T')
            .collect();
        let amz = format!("{}Z", &amz[..15]);
        assert_eq!(parse_amz_date(&amz), Some(nanos / NANOS), "{amz}");
    }
    assert_eq!(parse_amz_date("20261122T080000Z"), Some(1_795_334_400));
}

#[test]
fn http_dates_in_all_three_forms() {
    let want = Some(784_111_777);
    assert_eq!(parse_http_date("Sun, 06 Nov 1994 08:49:37 GMT"), want);
    assert_eq!(parse_http_date("Sunday, 06-Nov-94 08:49:37 GMT"), want);
    assert_eq!(parse_http_date("Sun Nov  6 08:49:37 1994"), want);
    assert_eq!(parse_http_date("yesterday"), None);
    assert_eq!(parse_http_date(""), None);
}

#[test]
fn bad_amz_dates_are_none() {
    for s in [
        "",
        "20261122T080000",
        "20261122T080000z",
        "20261122 080000Z",
        "2026-11-22T08:00:00Z",
        "20261122T080000ZZ",
        "20261322T080000Z",
        "20260010T080000Z",
        "20260230T080000Z",
        "21000229T080000Z",
        "20261100T080000Z",
        "20261122T240000Z",
        "20261122T086000Z",
        "20261122T080060Z",
        "19691231T235959Z",
        "2026112+T080000Z",
        "２0261122T08000Z",
    ] {
        assert_eq!(parse_amz_date(s), None, "{s}");
    }
    assert_eq!(parse_amz_date("20000229T000000Z"), Some(951_782_400));
    assert_eq!(parse_amz_date("19700101T000000Z"), Some(0));
}

/// `Sun, 22 Nov 2026 08:00:00 GMT` -> `2026-11-22T08:00:00`.
fn iso_from_http(http: &str) -> String {
    let parts: Vec<&str> = http.split(' ').collect();
    let months = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let month = months.iter().position(|m| *m == parts[2]).unwrap() + 1;
    format!("{}-{month:02}-{}T{}", parts[3], parts[1], parts[4])
}

proptest! {
    #[test]
    fn iso_agrees_with_httpdate(nanos: u64) {
        let iso = iso8601_millis(nanos);
        let reference = httpdate::fmt_http_date(UNIX_EPOCH + Duration::from_nanos(nanos));
        prop_assert_eq!(&iso[..19], iso_from_http(&reference));
        prop_assert_eq!(&iso[19..], format!(".{:03}Z", nanos % NANOS / 1_000_000));
        prop_assert_eq!(http_date(nanos), reference.clone());
        prop_assert_eq!(parse_http_date(&reference), Some(nanos / NANOS));
        let amz = format!("{}Z", iso[..19].replace(['-', ':'], ""));
        prop_assert_eq!(parse_amz_date(&amz), Some(nanos / NANOS));
    }

    #[test]
    fn any_string_parses_without_panicking(s in ".{0,40}") {
        let _ = parse_amz_date(&s);
        let _ = parse_http_date(&s);
    }
}
