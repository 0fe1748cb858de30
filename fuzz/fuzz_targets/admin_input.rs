//! What operators and admin clients send: a config file (with variables
//! and flags over it), admin API JSON bodies, sizes on the command line.
//! None of the parsers panics; an accepted config is valid.
#![no_main]

use std::collections::BTreeMap;

use libfuzzer_sys::fuzz_target;
use shale::admin::types::{CreateKey, CreateUser, ModifyUser, SetQuota};

fuzz_target!(|data: &[u8]| {
    let Some((&which, rest)) = data.split_first() else {
        return;
    };
    let text = String::from_utf8_lossy(rest);
    match which % 4 {
        0 => {
            if let Ok(c) = shale::config::from_parts("fuzz", &text, &BTreeMap::new(), &[]) {
                assert!(c.validate().is_ok());
            }
        }
        1 => {
            // The same text as an environment variable of each kind.
            let mut env = BTreeMap::new();
            env.insert("SHALE_THREADS".to_string(), text.to_string());
            env.insert("SHALE_LOG_ACCESS_LOG".to_string(), text.to_string());
            env.insert("SHALE_REGION".to_string(), text.to_string());
            let _ = shale::config::from_parts("fuzz", "", &env, &[]);
        }
        2 => {
            let _ = serde_json::from_slice::<CreateUser>(rest);
            let _ = serde_json::from_slice::<ModifyUser>(rest);
            let _ = serde_json::from_slice::<CreateKey>(rest);
            let _ = serde_json::from_slice::<SetQuota>(rest);
        }
        _ => {
            let _ = shale::admin::parse_size(&text);
        }
    }
});
