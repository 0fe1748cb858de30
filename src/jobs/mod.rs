//! Deferred jobs and leases (issue 8): the job log and the table it
//! builds (`record`, `table`, `store`; `format-spec/jobs.md`), leases on
//! background work kept in the metadata log (`lease`), and what every
//! background worker shares: slots, worker leases, the schedule clock
//! (`worker`). The runner that carries jobs out is `node::runner`: it
//! calls node operations (purges, scrubs, compaction).

pub mod lease;
pub mod record;
pub mod store;
pub mod table;
pub mod worker;
