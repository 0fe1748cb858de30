//! Swift's per-object expiry headers on PUT: `X-Delete-At` (epoch
//! seconds) and `X-Delete-After` (seconds from now on the expiry clock).
//! Pure.

use crate::s3::{S3Error, S3ErrorCode};

/// The expiry a PUT asks for, as Swift spells it: `X-Delete-At` (epoch
/// seconds) or `X-Delete-After` (seconds from now on the expiry clock);
/// 0 for none. Both, a time not in the future or past 2106, or a
/// non-number is InvalidArgument.
pub fn parse(at: Option<&str>, after: Option<&str>, now_secs: u64) -> Result<u32, S3Error> {
    let parse = |name: &str, v: &str| {
        v.trim().parse::<u64>().map_err(|_| {
            S3Error::new(
                S3ErrorCode::InvalidArgument,
                format!("{name} must be a whole number of seconds, not {v:?}"),
            )
        })
    };
    let t = match (at, after) {
        (None, None) => return Ok(0),
        (Some(_), Some(_)) => {
            return Err(S3Error::new(
                S3ErrorCode::InvalidArgument,
                "give X-Delete-At or X-Delete-After, not both",
            ))
        }
        (Some(v), None) => parse("X-Delete-At", v)?,
        (None, Some(v)) => {
            let secs = parse("X-Delete-After", v)?;
            if secs == 0 {
                return Err(S3Error::new(
                    S3ErrorCode::InvalidArgument,
                    "X-Delete-After must be at least 1 second",
                ));
            }
            now_secs.saturating_add(secs)
        }
    };
    if t <= now_secs {
        return Err(S3Error::new(
            S3ErrorCode::InvalidArgument,
            "X-Delete-At is in the past",
        ));
    }
    u32::try_from(t).map_err(|_| {
        S3Error::new(
            S3ErrorCode::InvalidArgument,
            "X-Delete-At is too far in the future (after 2106)",
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn at_after_and_refusals() {
        assert_eq!(parse(None, None, 100), Ok(0));
        assert_eq!(parse(Some("150"), None, 100), Ok(150));
        assert_eq!(parse(None, Some("5"), 100), Ok(105));
        for (at, after) in [
            (Some("100"), None),
            (Some("x"), None),
            (None, Some("0")),
            (None, Some("-1")),
            (Some("200"), Some("5")),
            (Some("99999999999"), None),
        ] {
            assert_eq!(
                parse(at, after, 100).unwrap_err().code,
                S3ErrorCode::InvalidArgument
            );
        }
    }
}
