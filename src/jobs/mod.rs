//! Deferred jobs and leases (issue 8): the job log and the table it
//! builds (`record`, `table`, `store`; `format-spec/jobs.md`), leases on
//! background work kept in the metadata log (`lease`), and the runner that
//! carries jobs out when they are due (`runner`).

pub mod lease;
pub mod record;
pub mod runner;
pub mod store;
pub mod table;
