//! POST Object's form and policy parsers: the multipart/form-data
//! scanner gives the same parts however the body is split across reads
//! (no panic, only its own error), and a policy found in the form
//! decodes and checks against the form's fields with only the
//! documented error codes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use shale::s3::form::{Event, FormScanner};
use shale::s3::post_policy::{check_policy, parse_policy, Fields};
use shale::s3::S3ErrorCode;

/// (name, data) of each part, and whether the form ended; `None` if the
/// scanner refused the body.
type Scan = Option<(Vec<(String, Vec<u8>)>, bool)>;

fn scan(body: &[u8], step: usize) -> Scan {
    let mut s = FormScanner::new("bnd");
    let mut parts: Vec<(String, Vec<u8>)> = Vec::new();
    let mut ended = false;
    let mut feed = body.chunks(step.max(1));
    loop {
        match s.next_event() {
            Err(_) => return None,
            Ok(Some(Event::Part(h))) => parts.push((h.name, Vec::new())),
            Ok(Some(Event::Data(d))) => {
                assert!(!d.is_empty());
                parts.last_mut()?.1.extend_from_slice(&d);
            }
            Ok(Some(Event::PartEnd)) => {}
            Ok(Some(Event::End)) => ended = true,
            Ok(None) => match feed.next() {
                Some(c) => s.push(c),
                None => break,
            },
        }
    }
    assert_eq!(s.finish().is_ok(), ended);
    Some((parts, ended))
}

fuzz_target!(|data: &[u8]| {
    let Some((&step, body)) = data.split_first() else {
        return;
    };
    let whole = scan(body, body.len());
    let pieces = scan(body, usize::from(step));
    // A refusal may come at a different point, never a different result.
    assert_eq!(whole.is_some(), pieces.is_some());
    assert_eq!(whole, pieces);
    let Some((parts, _)) = whole else {
        return;
    };
    let mut fields = Fields::default();
    for (name, value) in &parts {
        let _ = fields.add(name, String::from_utf8_lossy(value).into_owned());
    }
    if let Some(p) = fields.get("policy") {
        match parse_policy(p) {
            Ok(policy) => {
                if let Err(e) = check_policy(&policy, &fields, "bucket", 0) {
                    assert_eq!(e.code, S3ErrorCode::AccessDenied);
                }
            }
            Err(e) => assert_eq!(e.code, S3ErrorCode::InvalidPolicyDocument),
        }
    }
});
