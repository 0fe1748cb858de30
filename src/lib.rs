//! shale: a lightweight, S3-compatible object storage node.
//!
//! # Layers
//!
//! Top to bottom; a module may import its own layer and the layers below
//! it, never one above (`tests/layers.rs` reads this list and checks
//! every `crate::` and escaping `super::` path in `src/`). Within a layer
//! (and within one module) imports may go both ways. `ARCHITECTURE.md`
//! maps the folders and the data paths.
//!
//! ```text
//! cli                   the operator commands; `serve` builds the node, then the server
//! server, client        HTTP: serving S3, admin and metrics; calling them (signing client)
//! node, config, admin   the assembled node and its workers; the config file; admin API wire types
//! object, jobs          objects, buckets, uploads, lifecycle, scrub, compaction; the job log, leases
//! meta                  the metadata log: users, keys, buckets
//! index                 the sharded B-tree bucket index
//! segment               the segment store (append-only record files)
//! io, datadir           the disk seam (io_uring, portable, simulator); the data dir's layout
//! s3, le, clock, metrics  pure S3 protocol and formats, little-endian codecs, clocks, static instruments
//! ```
//!
//! Library code must not panic on anything input, disk or network can
//! produce: no `unwrap`/`expect`, no unchecked indexing (tests may).
#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)
)]

pub mod admin;
pub mod cli;
pub mod client;
pub mod clock;
pub mod config;
pub mod datadir;
pub mod index;
pub mod io;
pub mod jobs;
pub mod le;
pub mod meta;
pub mod metrics;
pub mod node;
pub mod object;
pub mod s3;
pub mod segment;
pub mod server;
