//! shale: a lightweight, S3-compatible object storage node.
//!
//! Layers, top to bottom: `server` (HTTP) -> `segment` (segment store)
//! -> `io` (the disk seam). `cli` holds the operator commands.

pub mod cli;
pub mod datadir;
pub mod io;
pub mod segment;
pub mod server;
