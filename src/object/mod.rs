//! Objects and buckets on top of the segment store and the bucket index
//! (`format-spec/object.md`).

pub mod bucket_meta;
pub mod chunk_pool;
pub mod compact;
pub mod expiry;
pub mod head;
pub mod lifecycle_eval;
pub mod multipart;
pub mod noncurrent;
pub mod orphans;
pub mod quota;
pub mod references;
pub mod scrub;
pub mod sse;
pub mod store;
pub mod versioning;

pub use store::{BodySource, ObjectStore};
