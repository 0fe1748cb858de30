//! The Range header: a table of S3 cases (closed, open, suffix, clamping,
//! 416, ignored headers), and a property test of `resolve` against a model
//! that lists the selected bytes one by one.

use proptest::prelude::*;
use shale::s3::range::{content_range, content_range_unsatisfied, parse_range, resolve, RangeSpec};
use shale::s3::S3ErrorCode;

/// What GetObject does with a header on an object of `size` bytes: `None`
/// whole object (200), `Some(Ok(..))` 206, `Some(Err(code))`.
fn get(header: &str, size: u64) -> Option<Result<(u64, u64), S3ErrorCode>> {
    let spec = parse_range(header).unwrap()?;
    Some(resolve(spec, size).map_err(|e| e.code))
}

#[test]
fn satisfiable_ranges_select_the_right_bytes() {
    let cases: &[(&str, u64, (u64, u64))] = &[
        ("bytes=0-99", 1000, (0, 99)),
        ("bytes=0-0", 1000, (0, 0)),
        ("bytes=999-999", 1000, (999, 999)),
        ("bytes=100-", 1000, (100, 999)),
        ("bytes=0-", 1, (0, 0)),
        ("bytes=-500", 1000, (500, 999)),
        ("bytes=-1", 1000, (999, 999)),
        // Suffix larger than the object: the whole object.
        ("bytes=-5000", 1000, (0, 999)),
        ("bytes=-1000", 1000, (0, 999)),
        // Last past the end: clamped.
        ("bytes=900-5000", 1000, (900, 999)),
        ("bytes=0-18446744073709551615", 10, (0, 9)),
        // Beyond u64: saturates, still means "to the end".
        ("bytes=0-99999999999999999999999", 10, (0, 9)),
        ("bytes=-99999999999999999999999", 10, (0, 9)),
        // Unit is case-insensitive; surrounding whitespace is tolerated.
        ("BYTES=1-2", 10, (1, 2)),
        ("  bytes=1-2  ", 10, (1, 2)),
        ("bytes= 1-2", 10, (1, 2)),
    ];
    for &(header, size, want) in cases {
        assert_eq!(get(header, size), Some(Ok(want)), "{header} on {size}");
    }
}

#[test]
fn unsatisfiable_ranges_are_416() {
    let cases: &[(&str, u64)] = &[
        ("bytes=1000-", 1000),
        ("bytes=1000-2000", 1000),
        ("bytes=5000-6000", 1000),
        ("bytes=-0", 1000),
        ("bytes=0-0", 0),
        ("bytes=0-", 0),
        ("bytes=-1", 0),
        ("bytes=99999999999999999999999-", 10),
    ];
    for &(header, size) in cases {
        assert_eq!(
            get(header, size),
            Some(Err(S3ErrorCode::InvalidRange)),
            "{header} on {size}"
        );
    }
    let e = resolve(RangeSpec::From(5), 5).unwrap_err();
    assert_eq!(e.code.status().as_u16(), 416);
}

#[test]
fn invalid_or_multiple_ranges_are_ignored() {
    for header in [
        "",
        "bytes",
        "bytes=",
        "bytes=-",
        "bytes=5",
        "bytes=a-b",
        "bytes=1-a",
        "bytes=+1-2",
        "bytes=1-+2",
        "bytes=-+2",
        "bytes=1 -2",
        "bytes=1--2",
        "bytes=1-2-3",
        "bytes=0x1-2",
        "bytes=0-1,3-4",
        "bytes=0-1,",
        "bytes=-1,-2",
        "items=0-1",
        "bytes 0-1",
        "bytes=５-6",
        // first > last is an invalid spec, not an unsatisfiable one.
        "bytes=10-5",
    ] {
        assert_eq!(parse_range(header).unwrap(), None, "{header:?}");
    }
}

#[test]
fn content_range_headers() {
    assert_eq!(content_range(0, 99, 1000), "bytes 0-99/1000");
    assert_eq!(content_range_unsatisfied(1000), "bytes */1000");
}

/// The bytes of a `size`-byte object a spec selects, one by one.
fn model(spec: RangeSpec, size: u64) -> Option<(u64, u64)> {
    let selected: Vec<u64> = (0..size)
        .filter(|&i| match spec {
            RangeSpec::FromTo(first, last) => first <= i && i <= last,
            RangeSpec::From(first) => first <= i,
            RangeSpec::Suffix(n) => size - i <= n,
        })
        .collect();
    Some((*selected.first()?, *selected.last()?))
}

fn header_of(spec: RangeSpec) -> String {
    match spec {
        RangeSpec::FromTo(a, b) => format!("bytes={a}-{b}"),
        RangeSpec::From(a) => format!("bytes={a}-"),
        RangeSpec::Suffix(n) => format!("bytes=-{n}"),
    }
}

proptest! {
    #[test]
    fn resolve_matches_the_byte_model(
        kind in 0u8..3, a in 0u64..80, b in 0u64..80, size in 0u64..64,
    ) {
        let spec = match kind {
            0 => RangeSpec::FromTo(a.min(b), a.max(b)),
            1 => RangeSpec::From(a),
            _ => RangeSpec::Suffix(a),
        };
        prop_assert_eq!(parse_range(&header_of(spec)).unwrap(), Some(spec));
        let got = resolve(spec, size).map_err(|e| e.code);
        match model(spec, size) {
            Some(want) => prop_assert_eq!(got, Ok(want)),
            None => prop_assert_eq!(got, Err(S3ErrorCode::InvalidRange)),
        }
    }

    #[test]
    fn any_header_parses_without_panicking(header in ".{0,40}", size: u64) {
        if let Some(spec) = parse_range(&header).unwrap() {
            if let Ok((first, last)) = resolve(spec, size) {
                prop_assert!(first <= last && last < size);
            }
        }
    }

    #[test]
    fn large_numbers_resolve_within_the_object(a: u64, b: u64, size: u64) {
        for spec in [RangeSpec::FromTo(a.min(b), a.max(b)), RangeSpec::From(a), RangeSpec::Suffix(a)] {
            if let Ok((first, last)) = resolve(spec, size) {
                prop_assert!(first <= last && last < size);
            }
        }
    }
}
