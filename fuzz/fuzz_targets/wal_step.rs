//! The node log's index step and replay point decoders never panic on any
//! bytes, and what decodes re-encodes to the same bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use shale::index::wal::{decode_replay_point, encode_replay_point, WalStep};

fuzz_target!(|data: &[u8]| {
    if let Ok(step) = WalStep::decode(data) {
        let mut again = Vec::new();
        step.encode(&mut again).unwrap();
        assert_eq!(again, data);
    }
    if let Ok((segment, offset)) = decode_replay_point(data) {
        assert_eq!(&encode_replay_point(segment, offset)[..], data);
    }
});
