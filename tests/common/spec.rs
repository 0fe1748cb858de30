//! Test vectors written in the `format-spec/` pages, read by the tests
//! that check the code against them.

use std::collections::HashMap;

/// Bytes of a hex string (even length, no separators).
pub fn unhex(s: &str) -> Vec<u8> {
    assert!(s.len().is_multiple_of(2), "odd hex length");
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

/// Every ```` ```vector ```` block of `format-spec/<page>`, as its
/// `name: value` lines.
pub fn vectors(page: &str) -> Vec<HashMap<String, String>> {
    let path = format!("{}/format-spec/{page}", env!("CARGO_MANIFEST_DIR"));
    let spec = std::fs::read_to_string(&path).unwrap();
    let mut out = Vec::new();
    let mut cur: Option<HashMap<String, String>> = None;
    for line in spec.lines() {
        match (line.trim(), cur.as_mut()) {
            ("```vector", _) => cur = Some(HashMap::new()),
            ("```", Some(_)) => out.extend(cur.take()),
            (l, Some(v)) => {
                let (k, val) = l.split_once(':').unwrap();
                v.insert(k.trim().to_string(), val.trim().to_string());
            }
            _ => {}
        }
    }
    out
}

/// The Object Lock state of a vector's `lock_mode` (0 none, 1
/// GOVERNANCE, 2 COMPLIANCE), `lock_until` and `lock_legal_hold`
/// fields; empty without them.
pub fn lock_of(v: &HashMap<String, String>) -> shale::s3::object_lock::ObjectLock {
    use shale::s3::object_lock::{LockMode, ObjectLock, Retention};
    let mode = v.get("lock_mode").map_or(0, |m| m.parse::<u8>().unwrap());
    let until = v.get("lock_until").map_or(0, |t| t.parse::<u64>().unwrap());
    ObjectLock {
        retention: match mode {
            0 => None,
            m => Some(Retention {
                mode: if m == 1 {
                    LockMode::Governance
                } else {
                    LockMode::Compliance
                },
                until_secs: until,
            }),
        },
        legal_hold: v.get("lock_legal_hold").is_some_and(|h| h == "1"),
    }
}
