//! Node metadata: the metadata log's entries (`format-spec/mdlog.md`),
//! the table they build, the store that keeps both, and the rules for
//! what may be written (`ops`).

pub mod mdlog;
pub mod ops;
pub mod store;
pub mod table;
