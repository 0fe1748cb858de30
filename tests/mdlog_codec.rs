//! The metadata log entry codec against `format-spec/mdlog.md` (its
//! vectors, every cut and byte change refused or re-encoded exactly), round
//! trips of every op, and the table against a model: replaying any prefix
//! of the log again changes nothing.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::BTreeMap;

use common::spec::{unhex, vectors};
use proptest::prelude::*;
use shale::meta::mdlog::{
    BucketRecord, KeyRecord, LeaseRecord, MdEntry, MdError, MdOp, Quota, UserRecord, MD_HEADER_LEN,
    MD_STRING_MAX, NO_QUOTA,
};
use shale::meta::table::MetaTable;

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn quota(max_objects: u64, max_bytes: u64) -> Quota {
    Quota {
        max_objects,
        max_bytes,
    }
}

/// The entries the page's vectors describe, in page order.
fn vector_entries() -> Vec<MdEntry> {
    let t = 1_795_312_496_000_000_000u64;
    vec![
        MdEntry {
            marker: 1,
            time_nanos: t + 1,
            source_zone: 3,
            op: MdOp::UserPut(UserRecord {
                uid: "alice".into(),
                display_name: "Alice".into(),
                email: "a@example.com".into(),
                ..UserRecord::default()
            }),
        },
        MdEntry {
            marker: 2,
            time_nanos: t + 2,
            source_zone: 3,
            op: MdOp::KeyPut(KeyRecord {
                access_key: "AKIDALICE0000000001".into(),
                uid: "alice".into(),
                secret: "c2VjcmV0".into(),
            }),
        },
        MdEntry {
            marker: 3,
            time_nanos: t + 3,
            source_zone: 3,
            op: MdOp::BucketPut(BucketRecord {
                name: "photos".into(),
                owner: "alice".into(),
                created_nanos: t,
                shards: 11,
                versioning: 1,
                quota: quota(1000, 10 << 30),
                location: "eu-west-1".into(),
            }),
        },
        MdEntry {
            marker: 4,
            time_nanos: t + 4,
            source_zone: 7,
            op: MdOp::UserRemove { uid: "bob".into() },
        },
        MdEntry {
            marker: 5,
            time_nanos: t + 5,
            source_zone: 3,
            op: MdOp::Zone {
                id: 3,
                name: "zone-a".into(),
            },
        },
        MdEntry {
            marker: 6,
            time_nanos: t + 6,
            source_zone: 3,
            op: MdOp::BucketConfig {
                name: "photos".into(),
                kind: 1,
                body: b"<L/>".to_vec(),
            },
        },
        MdEntry {
            marker: 7,
            time_nanos: t + 7,
            source_zone: 3,
            op: MdOp::LeasePut(LeaseRecord {
                name: "jobs".into(),
                owner: 0x0123_4567_89ab_0001,
                expires_nanos: t + 30_000_000_000,
            }),
        },
        MdEntry {
            marker: 8,
            time_nanos: t + 8,
            source_zone: 3,
            op: MdOp::LeaseRelease {
                name: "jobs".into(),
                owner: 0x0123_4567_89ab_0001,
            },
        },
    ]
}

#[test]
fn vectors_match_the_code() {
    let vs = vectors("mdlog.md");
    let want = vector_entries();
    assert_eq!(vs.len(), want.len(), "the page's vectors");
    for (v, e) in vs.iter().zip(&want) {
        let bytes = unhex(&v["hex"]);
        assert_eq!(hex(&e.encode().unwrap()), v["hex"], "{}", v["name"]);
        assert_eq!(&MdEntry::decode(&bytes).unwrap(), e, "{}", v["name"]);
        // Every cut is refused; so is a byte more.
        for n in 0..bytes.len() {
            assert!(
                MdEntry::decode(&bytes[..n]).is_err(),
                "{}: cut at {n}",
                v["name"]
            );
        }
        let mut longer = bytes.clone();
        longer.push(0);
        assert_eq!(MdEntry::decode(&longer), Err(MdError::TrailingBytes(1)));
        // Reserved bytes and unknown ops.
        for i in 1..4 {
            let mut c = bytes.clone();
            c[i] = 0x80;
            assert_eq!(MdEntry::decode(&c), Err(MdError::ReservedNotZero(i)));
        }
        for op in [0u8, 11, 0xff] {
            let mut c = bytes.clone();
            c[0] = op;
            assert_eq!(MdEntry::decode(&c), Err(MdError::UnknownOp(op)));
        }
    }
}

#[test]
fn the_encoder_refuses_what_the_decoder_would() {
    let long = "x".repeat(MD_STRING_MAX + 1);
    let e = MdEntry {
        marker: 1,
        time_nanos: 0,
        source_zone: 0,
        op: MdOp::UserRemove { uid: long },
    };
    assert!(matches!(e.encode(), Err(MdError::TooLong { .. })));
    let e = MdEntry {
        op: MdOp::BucketPut(BucketRecord {
            versioning: 3,
            ..BucketRecord::default()
        }),
        ..e
    };
    assert_eq!(e.encode(), Err(MdError::BadVersioning(3)));
    // A user's unknown flag bit is refused on decode.
    let mut b = vector_entries()[0].encode().unwrap();
    let flags_at = MD_HEADER_LEN + 2 + 5 + 2 + 5 + 2 + 13;
    b[flags_at] = 4;
    assert!(matches!(
        MdEntry::decode(&b),
        Err(MdError::UnknownFlags(4, _))
    ));
}

fn name() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("alice".to_string()),
        Just("bob".to_string()),
        "[a-z]{1,3}",
        ".{0,20}"
    ]
}

fn quotas() -> impl Strategy<Value = Quota> {
    (
        prop_oneof![Just(NO_QUOTA), any::<u64>()],
        prop_oneof![Just(NO_QUOTA), any::<u64>()],
    )
        .prop_map(|(o, b)| quota(o, b))
}

fn op() -> impl Strategy<Value = MdOp> {
    prop_oneof![
        (any::<u64>(), name()).prop_map(|(id, name)| MdOp::Zone { id, name }),
        (
            name(),
            name(),
            name(),
            any::<bool>(),
            any::<bool>(),
            quotas()
        )
            .prop_map(
                |(uid, display_name, email, suspended, system, quota)| MdOp::UserPut(UserRecord {
                    uid,
                    display_name,
                    email,
                    suspended,
                    system,
                    quota,
                })
            ),
        name().prop_map(|uid| MdOp::UserRemove { uid }),
        (name(), name(), name()).prop_map(|(access_key, uid, secret)| MdOp::KeyPut(KeyRecord {
            access_key,
            uid,
            secret,
        })),
        name().prop_map(|access_key| MdOp::KeyRemove { access_key }),
        (
            name(),
            name(),
            any::<u64>(),
            any::<u32>(),
            0u8..=2,
            quotas(),
            name(),
        )
            .prop_map(
                |(name, owner, created_nanos, shards, versioning, quota, location)| {
                    MdOp::BucketPut(BucketRecord {
                        name,
                        owner,
                        created_nanos,
                        shards,
                        versioning,
                        quota,
                        location,
                    })
                },
            ),
        name().prop_map(|name| MdOp::BucketRemove { name }),
        (name(), any::<u64>(), any::<u64>()).prop_map(|(name, owner, expires_nanos)| {
            MdOp::LeasePut(LeaseRecord {
                name,
                owner,
                expires_nanos,
            })
        }),
        (name(), any::<u64>()).prop_map(|(name, owner)| MdOp::LeaseRelease { name, owner }),
        (name(), prop::collection::vec(any::<u8>(), 0..64)).prop_map(|(name, body)| {
            MdOp::BucketConfig {
                name,
                kind: 1,
                body,
            }
        }),
    ]
}

/// The model: what each key's last put or remove left.
#[derive(Default, PartialEq, Eq, Debug)]
struct Model {
    users: BTreeMap<String, UserRecord>,
    keys: BTreeMap<String, KeyRecord>,
    buckets: BTreeMap<String, BucketRecord>,
    configs: BTreeMap<(String, u8), Vec<u8>>,
    leases: BTreeMap<String, LeaseRecord>,
}

proptest! {
    #[test]
    fn every_op_round_trips(op in op(), marker in any::<u64>(), t in any::<u64>(), zone in any::<u64>()) {
        let e = MdEntry { marker, time_nanos: t, source_zone: zone, op };
        let b = e.encode().unwrap();
        prop_assert_eq!(MdEntry::decode(&b).unwrap(), e);
    }

    #[test]
    fn a_damaged_entry_never_panics_and_what_decodes_re_encodes(
        op in op(),
        hits in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..6),
    ) {
        let e = MdEntry { marker: 9, time_nanos: 1, source_zone: 2, op };
        let mut b = e.encode().unwrap();
        for (at, x) in &hits {
            let i = at.index(b.len());
            b[i] = *x;
        }
        if let Ok(d) = MdEntry::decode(&b) {
            prop_assert_eq!(d.encode().unwrap(), b);
        }
    }

    #[test]
    fn the_table_is_the_model_and_replays_change_nothing(
        ops in prop::collection::vec(op(), 0..60),
        replay_from in any::<prop::sample::Index>(),
    ) {
        let entries: Vec<MdEntry> = ops
            .into_iter()
            .enumerate()
            .map(|(i, op)| MdEntry { marker: i as u64 + 1, time_nanos: i as u64, source_zone: 1, op })
            .collect();
        let mut table = MetaTable::default();
        let mut m = Model::default();
        for e in &entries {
            table.apply(e);
            match &e.op {
                MdOp::Zone { .. } => {}
                MdOp::UserPut(u) => { m.users.insert(u.uid.clone(), u.clone()); }
                MdOp::UserRemove { uid } => {
                    m.users.remove(uid);
                    m.keys.retain(|_, k| k.uid != *uid);
                }
                MdOp::KeyPut(k) => { m.keys.insert(k.access_key.clone(), k.clone()); }
                MdOp::KeyRemove { access_key } => { m.keys.remove(access_key); }
                MdOp::BucketPut(b) => { m.buckets.insert(b.name.clone(), b.clone()); }
                MdOp::BucketRemove { name } => {
                    m.buckets.remove(name);
                    m.configs.retain(|(b, _), _| b != name);
                }
                MdOp::BucketConfig { name, kind, body } => {
                    if body.is_empty() {
                        m.configs.remove(&(name.clone(), *kind));
                    } else {
                        m.configs.insert((name.clone(), *kind), body.clone());
                    }
                }
                MdOp::LeasePut(l) => { m.leases.insert(l.name.clone(), l.clone()); }
                MdOp::LeaseRelease { name, owner } => {
                    if m.leases.get(name).is_some_and(|l| l.owner == *owner) {
                        m.leases.remove(name);
                    }
                }
            }
        }
        prop_assert_eq!(&table.leases, &m.leases);
        prop_assert_eq!(&table.users, &m.users);
        prop_assert_eq!(&table.keys, &m.keys);
        prop_assert_eq!(&table.buckets, &m.buckets);
        prop_assert_eq!(&table.bucket_configs, &m.configs);
        prop_assert_eq!(table.applied, entries.len() as u64);
        // A crash replays the log from some point again: same table.
        let again = {
            let mut t = table.clone();
            if !entries.is_empty() {
                let from = replay_from.index(entries.len());
                for e in &entries[from..] {
                    t.apply(e);
                }
            }
            t
        };
        prop_assert_eq!(&again, &table);
        // Rebuilt from scratch through the codec: same table.
        let mut rebuilt = MetaTable::default();
        for e in &entries {
            rebuilt.apply(&MdEntry::decode(&e.encode().unwrap()).unwrap());
        }
        prop_assert_eq!(&rebuilt, &table);
    }
}
