//! Node metadata (issue 6, in progress): the metadata log's entries
//! (`format-spec/mdlog.md`) and the table they build. The log file (the
//! segment store's framing, like the bucket index logs) and its use by
//! the server and admin API come next.

pub mod mdlog;
pub mod store;
pub mod table;
