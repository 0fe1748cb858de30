//! shale: a lightweight, S3-compatible object storage node.
//!
//! Layers, top to bottom: `server` (HTTP) -> `segment` (segment store)
//! -> `io` (the disk seam). `cli` holds the operator commands.
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
