//! Multipart uploads. Parts are written as data chunks like any object
//! body; an upload's manifest (which parts exist, their sizes, MD5s and
//! chunks) is a small file `<data>/uploads/<upload id>.json`, replaced
//! atomically (write, fsync, rename, fsync dir) after each acknowledged
//! part (`format-spec/object.md`, "Multipart manifest"). Completing writes
//! one object head listing every part's chunks, in one index
//! transaction, then removes the manifest. Chunks of aborted uploads and
//! replaced parts are garbage for compaction to reclaim.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use md5::{Digest, Md5};
use parking_lot::Mutex;
use serde::{Deserialize, Serialize};

use super::head::{Chunk, HeadChecksum, ObjectHead, Part};
use super::quota::{note_upload_usage, UploadUsageMap};
use super::sse::{SseInfo, SseMode};
use super::store::{complete_checked, current_etag, BodySource, ObjectStore};
use super::versioning::VersionId;
use crate::io::Io;
use crate::s3::checksum::{self, Algorithm, Expected};
use crate::s3::conditional::WriteCondition;
use crate::s3::{S3Error, S3ErrorCode};
use crate::segment::RecordLoc;

/// Smallest part (all but the last), per S3.
pub const PART_BYTES_MIN: u64 = 5 * 1024 * 1024;
/// Largest part, per S3.
pub const PART_BYTES_MAX: u64 = 5 * 1024 * 1024 * 1024;
pub const PARTS_MAX: u32 = 10_000;

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct PartRecord {
    pub number: u32,
    pub size: u64,
    pub md5_hex: String,
    pub mtime_nanos: u64,
    /// (segment, offset, record length, payload length) per chunk.
    pub chunks: Vec<(u64, u64, u32, u32)>,
    /// The part's additional checksum (base64), when the upload has an
    /// algorithm.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub checksum: Option<String>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Manifest {
    pub version: u32,
    pub upload_id: String,
    pub bucket: String,
    /// The object key, hex (keys are arbitrary bytes).
    pub key_hex: String,
    pub initiated_nanos: u64,
    pub meta: Vec<(String, String)>,
    pub parts: Vec<PartRecord>,
    /// `x-amz-checksum-algorithm` of CreateMultipartUpload (`CRC32`, ...):
    /// every part gets one, and the object a composite of them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub checksum_algorithm: Option<String>,
    /// The Object Lock state the object gets (CreateMultipartUpload's
    /// lock headers or the bucket's default), as its 16 bytes in hex
    /// (`s3::object_lock`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub object_lock_hex: Option<String>,
    /// How the parts are encrypted: the object's SSE section without part
    /// numbers (`object::sse`), hex; absent for plain data.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sse_hex: Option<String>,
}

impl Manifest {
    pub fn key(&self) -> Vec<u8> {
        from_hex(&self.key_hex).unwrap_or_default()
    }
}

/// The Object Lock state a manifest carries (empty without one).
fn manifest_lock(m: &Manifest) -> Result<crate::s3::object_lock::ObjectLock, S3Error> {
    match &m.object_lock_hex {
        None => Ok(crate::s3::object_lock::ObjectLock::default()),
        Some(h) => from_hex(h)
            .and_then(|b| crate::s3::object_lock::ObjectLock::decode(&b).ok())
            .ok_or_else(|| internal("upload manifest", "bad object_lock_hex")),
    }
}

/// The SSE section a manifest carries (none for plain data).
fn manifest_sse(m: &Manifest) -> Result<Option<SseInfo>, S3Error> {
    match &m.sse_hex {
        None => Ok(None),
        Some(h) => from_hex(h)
            .and_then(|b| SseInfo::decode(&b, 0).ok())
            .map(Some)
            .ok_or_else(|| internal("upload manifest", "bad sse_hex")),
    }
}

fn to_hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn from_hex(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| s.get(i..i + 2).and_then(|h| u8::from_str_radix(h, 16).ok()))
        .collect()
}

fn internal(what: &str, e: impl std::fmt::Display) -> S3Error {
    S3Error::new(S3ErrorCode::InternalError, format!("{what}: {e}"))
}

fn no_upload() -> S3Error {
    S3Error::new(
        S3ErrorCode::NoSuchUpload,
        "The specified upload does not exist. The upload ID may be invalid, or the upload may have been aborted or completed.",
    )
}

/// An upload in progress: what never changes, and its manifest.
struct Slot {
    bucket: String,
    key: Vec<u8>,
    initiated_nanos: u64,
    checksum: Option<Algorithm>,
    manifest: tokio::sync::Mutex<Manifest>,
    /// Bytes of its parts, as its manifest last saved says.
    bytes: std::sync::atomic::AtomicU64,
}

/// How long a completed upload is remembered, so a CompleteMultipartUpload
/// retried after its response was lost (same upload id, same part list,
/// the object still the one it made) answers success again, as AWS does.
/// Kept in memory only: a restart forgets them (the retry then gets
/// NoSuchUpload).
pub const COMPLETED_KEEP: std::time::Duration = std::time::Duration::from_secs(15 * 60);
/// Most completed uploads remembered at once (the oldest go first).
pub const COMPLETED_MAX: usize = 10_000;

/// What a completed upload made, for a retried completion.
#[derive(Clone, Debug)]
struct Completed {
    bucket: String,
    key: Vec<u8>,
    /// (part number, ETag lowercase without quotes) as completed.
    parts: Vec<(u32, String)>,
    at: std::time::Instant,
    outcome: CompleteOutcome,
}

/// What CompleteMultipartUpload made.
#[derive(Clone, Debug)]
pub struct CompleteOutcome {
    pub etag: [u8; 16],
    pub parts: u16,
    /// The version id to show (versioning enabled).
    pub version: Option<VersionId>,
    /// The version written (null when not versioned).
    pub version_id: VersionId,
    /// The object's composite checksum, if the upload had an algorithm.
    pub checksum: Option<checksum::Stored>,
    /// How the object is encrypted.
    pub sse: Option<SseMode>,
}

fn normalized_etag(e: &str) -> String {
    e.trim().trim_matches('"').to_ascii_lowercase()
}

/// Open uploads one bucket may have, by default.
pub const UPLOADS_PER_BUCKET_MAX_DEFAULT: u64 = 10_000;
/// Open uploads one user may have over all its buckets, by default.
pub const UPLOADS_PER_USER_MAX_DEFAULT: u64 = 10_000;

pub struct Uploads {
    io: Io,
    dir: PathBuf,
    open: Mutex<HashMap<String, Arc<Slot>>>,
    /// Per bucket: open uploads and their part bytes (shared with the
    /// object store, which counts the bytes in quotas).
    usage: UploadUsageMap,
    /// (per bucket, per user) open uploads allowed.
    limits: Mutex<(u64, u64)>,
    /// Where loading the manifests after a restart stands.
    loading: Mutex<Loading>,
    /// Signalled when loading ends.
    loaded: parking_lot::Condvar,
    /// Recently completed uploads, by id (see [`COMPLETED_KEEP`]).
    completed: Mutex<HashMap<String, Completed>>,
}

/// Where loading the manifests found at open stands.
enum Loading {
    /// Manifests not read yet.
    Left(usize),
    Done,
    /// Stopped at a manifest that cannot be read.
    Failed(String),
}

fn parts_bytes(m: &Manifest) -> u64 {
    m.parts.iter().map(|p| p.size).sum()
}

fn signed(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

fn slot(m: Manifest) -> Arc<Slot> {
    Arc::new(Slot {
        bucket: m.bucket.clone(),
        key: m.key(),
        initiated_nanos: m.initiated_nanos,
        checksum: m
            .checksum_algorithm
            .as_deref()
            .and_then(Algorithm::from_name),
        bytes: std::sync::atomic::AtomicU64::new(parts_bytes(&m)),
        manifest: tokio::sync::Mutex::new(m),
    })
}

impl Uploads {
    /// Opens the uploads directory and starts loading the manifests of
    /// uploads in progress on a thread of its own, so a restart does not
    /// wait for them however many there are. Until the loader is done an
    /// upload is loaded when first addressed, listings of uploads answer
    /// `SlowDown`, and the per-bucket counts and part bytes (in `usage`)
    /// grow as manifests are read. A manifest that cannot be read stops
    /// the loader with a logged error; then listings (and the compaction
    /// and orphan search that rely on them) refuse until it is fixed.
    pub fn open(io: &Io, data_dir: &Path, usage: UploadUsageMap) -> Result<Arc<Uploads>, String> {
        let dir = data_dir.join("uploads");
        io.create_dir_all(&dir)
            .map_err(|e| format!("creating {}: {e}", dir.display()))?;
        io.sync_dir(data_dir)
            .map_err(|e| format!("syncing {}: {e}", data_dir.display()))?;
        let mut ids = Vec::new();
        for name in io
            .list_dir(&dir)
            .map_err(|e| format!("listing {}: {e}", dir.display()))?
        {
            match name.strip_suffix(".json") {
                Some(id) => ids.push(id.to_string()),
                // The temporary file of a replace that did not finish.
                None if name.ends_with(".json.tmp") => {
                    let _ = io.remove_file(&dir.join(&name));
                }
                None => {}
            }
        }
        let uploads = Arc::new(Uploads {
            io: io.clone(),
            dir,
            open: Mutex::new(HashMap::new()),
            usage,
            limits: Mutex::new((UPLOADS_PER_BUCKET_MAX_DEFAULT, UPLOADS_PER_USER_MAX_DEFAULT)),
            loading: Mutex::new(if ids.is_empty() {
                Loading::Done
            } else {
                Loading::Left(ids.len())
            }),
            loaded: parking_lot::Condvar::new(),
            completed: Mutex::new(HashMap::new()),
        });
        if !ids.is_empty() {
            let u = Arc::clone(&uploads);
            std::thread::Builder::new()
                .name("shale-uploads-load".into())
                .spawn(move || u.load_all(ids))
                .map_err(|e| format!("starting the manifest loader: {e}"))?;
        }
        Ok(uploads)
    }

    /// The loader: reads every manifest listed at open. One that cannot be
    /// read is logged and skipped; the loader then ends `Failed`.
    fn load_all(&self, ids: Vec<String>) {
        let started = std::time::Instant::now();
        let n = ids.len();
        let mut failed = None;
        for id in ids {
            if let Err(e) = self.load(&id) {
                tracing::error!(error = %e, "a multipart manifest cannot be read; listings of uploads, compaction and orphan searches are refused until it is repaired or removed (shale fsck)");
                failed.get_or_insert(e);
            }
            if let Loading::Left(left) = &mut *self.loading.lock() {
                *left = left.saturating_sub(1);
            }
        }
        *self.loading.lock() = match failed {
            Some(e) => Loading::Failed(e),
            None => Loading::Done,
        };
        self.loaded.notify_all();
        tracing::info!(
            uploads = n,
            secs = started.elapsed().as_secs_f64(),
            "multipart manifests loaded"
        );
    }

    /// Reads upload `id`'s manifest into the table (once: the loader and a
    /// request addressing it may both try).
    fn load(&self, id: &str) -> Result<(), String> {
        if self.open.lock().contains_key(id) {
            return Ok(());
        }
        let path = self.path(id);
        let bytes = match self.io.read_file(&path) {
            Ok(b) => b,
            // Completed or aborted meanwhile.
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(format!("reading {}: {e}", path.display())),
        };
        let m: Manifest = serde_json::from_slice(&bytes)
            .map_err(|e| format!("{}: not a multipart manifest: {e}", path.display()))?;
        if from_hex(&m.key_hex).is_none() {
            return Err(format!("{}: key_hex is not hex", path.display()));
        }
        if m.version != 1 || m.upload_id != id {
            return Err(format!(
                "{}: unknown manifest version or id",
                path.display()
            ));
        }
        let mut open = self.open.lock();
        if !open.contains_key(id) {
            note_upload_usage(&self.usage, &m.bucket, 1, signed(parts_bytes(&m)));
            open.insert(id.to_string(), slot(m));
        }
        Ok(())
    }

    /// Whether every manifest is loaded: `SlowDown` while the loader runs,
    /// an internal error if it stopped on a bad manifest.
    fn all_loaded(&self) -> Result<(), S3Error> {
        match &*self.loading.lock() {
            Loading::Done => Ok(()),
            Loading::Left(n) => Err(S3Error::new(
                S3ErrorCode::SlowDown,
                format!(
                    "Multipart uploads are being loaded after a restart ({n} left); retry shortly."
                ),
            )),
            Loading::Failed(e) => Err(internal("a multipart manifest cannot be read", e)),
        }
    }

    /// Waits until the loader has finished (or stopped).
    fn wait_loaded(&self) {
        let mut state = self.loading.lock();
        while matches!(*state, Loading::Left(_)) {
            self.loaded.wait(&mut state);
        }
    }

    /// Sets the open uploads allowed per bucket and per user.
    pub fn set_limits(&self, per_bucket: u64, per_user: u64) {
        *self.limits.lock() = (per_bucket, per_user);
    }

    /// Refuses a new upload in `bucket` past the open-upload limits (per
    /// bucket and per owner), and with `SlowDown` while the manifests are
    /// loaded after a restart; call before [`create`](Self::create).
    /// Concurrent creates may pass it together, by their number at most.
    pub fn check_limits(&self, store: &ObjectStore, bucket: &str) -> Result<(), S3Error> {
        // The counts are whole only once every manifest is loaded (a
        // restart): until then new uploads get SlowDown.
        if matches!(*self.loading.lock(), Loading::Left(_)) {
            return Err(S3Error::new(
                S3ErrorCode::SlowDown,
                "Multipart uploads are being loaded after a restart; retry shortly.",
            ));
        }
        let (per_bucket, per_user) = *self.limits.lock();
        let owner = store.bucket(bucket)?.meta.owner.clone();
        let too_many = |what: String, n: u64, max: u64, key: &str| {
            S3Error::new(
                S3ErrorCode::QuotaExceeded,
                format!("{what} has {n} multipart uploads in progress, the most allowed ({key} = {max}); complete or abort some first."),
            )
        };
        let in_bucket = store.upload_usage(bucket).uploads;
        if in_bucket >= per_bucket {
            return Err(too_many(
                format!("Bucket {bucket}"),
                in_bucket,
                per_bucket,
                "multipart.uploads_per_bucket_max",
            ));
        }
        let of_user = store.upload_usage_of(&owner).uploads;
        if of_user >= per_user {
            return Err(too_many(
                format!("User {owner}"),
                of_user,
                per_user,
                "multipart.uploads_per_user_max",
            ));
        }
        Ok(())
    }

    fn path(&self, id: &str) -> PathBuf {
        self.dir.join(format!("{id}.json"))
    }

    fn save(&self, m: &Manifest) -> Result<(), S3Error> {
        let bytes = serde_json::to_vec(m).map_err(|e| internal("encoding the manifest", e))?;
        self.io
            .write_file_atomic(&self.path(&m.upload_id), &bytes, 0o600)
            .map_err(|e| internal("writing the multipart manifest", e))
    }

    fn get(&self, bucket: &str, key: &[u8], id: &str) -> Result<Arc<Slot>, S3Error> {
        // Ids are 32 lowercase hex digits; anything else names no file.
        let well_formed =
            id.len() == 32 && id.bytes().all(|c| matches!(c, b'0'..=b'9' | b'a'..=b'f'));
        if !well_formed {
            return Err(no_upload());
        }
        if !matches!(*self.loading.lock(), Loading::Done) {
            // Addressed before the loader reached it (or it stopped).
            self.load(id)
                .map_err(|e| internal("reading the multipart manifest", e))?;
        }
        self.open
            .lock()
            .get(id)
            .filter(|s| s.bucket == bucket && s.key == key)
            .cloned()
            .ok_or_else(no_upload)
    }

    /// Starts an upload; returns its id.
    pub fn create(
        &self,
        bucket: &str,
        key: &[u8],
        meta: Vec<(String, String)>,
        checksum: Option<Algorithm>,
        lock: crate::s3::object_lock::ObjectLock,
        sse: Option<&SseInfo>,
    ) -> Result<String, S3Error> {
        let mut raw = [0u8; 16];
        getrandom::getrandom(&mut raw).map_err(|e| internal("random upload id", e))?;
        let id = to_hex(&raw);
        let m = Manifest {
            version: 1,
            upload_id: id.clone(),
            bucket: bucket.to_string(),
            key_hex: to_hex(key),
            initiated_nanos: crate::clock::now_nanos(),
            meta,
            parts: Vec::new(),
            checksum_algorithm: checksum.map(|a| a.name().to_string()),
            object_lock_hex: (!lock.is_empty()).then(|| to_hex(&lock.encode())),
            sse_hex: sse.map(|s| to_hex(&s.encode())),
        };
        self.save(&m)?;
        note_upload_usage(&self.usage, bucket, 1, 0);
        self.open.lock().insert(id.clone(), slot(m));
        Ok(id)
    }

    /// Stores part `number`; returns its ETag (its MD5; for SSE-C an
    /// opaque value), its checksum and how it is encrypted. An encrypted
    /// upload's part is sealed with the upload's data key, opened with
    /// `customer` (SSE-C: the key CreateMultipartUpload had) or the
    /// master key.
    #[allow(clippy::too_many_arguments)]
    pub async fn upload_part<B: BodySource>(
        &self,
        store: &ObjectStore,
        bucket: &str,
        key: &[u8],
        id: &str,
        number: u32,
        expected_len: Option<u64>,
        content_md5: Option<[u8; 16]>,
        checksum: Option<Expected>,
        customer: Option<&crate::s3::sse::CustomerKey>,
        body: &mut B,
    ) -> Result<([u8; 16], Option<String>, Option<SseMode>), S3Error> {
        store.bucket(bucket)?;
        let upload = self.get(bucket, key, id)?;
        let sse = manifest_sse(&*upload.manifest.lock().await)?;
        let cipher = store.unlock(sse.as_ref(), customer)?;
        let upload_alg = upload.checksum;
        let algorithm = match (upload_alg, &checksum) {
            (Some(a), Some(c)) if a != c.algorithm => {
                return Err(S3Error::new(
                    S3ErrorCode::InvalidRequest,
                    format!(
                        "Checksum Type mismatch occurred, expected checksum Type: {}, actual checksum Type: {}",
                        a.name().to_lowercase(),
                        c.algorithm.name().to_lowercase()
                    ),
                ))
            }
            (Some(a), _) => Some(a),
            (None, c) => c.as_ref().map(|c| c.algorithm),
        };
        // Parts count in quotas: a part cannot outgrow the room left.
        let room = store.quota_room(bucket, key)?;
        let limit = room.map_or(PART_BYTES_MAX, |r| r.min(PART_BYTES_MAX));
        let stored = store
            .write_data(body, limit, algorithm, cipher.as_ref().map(|c| (c, number)))
            .await
            .map_err(|e| super::store::over_quota_if(e, room, PART_BYTES_MAX))?;
        if let (Some(c), Some(got)) = (&checksum, &stored.checksum) {
            c.verify(got, body.trailer(c.algorithm.header()))?;
        }
        if expected_len.is_some_and(|n| n != stored.size) {
            return Err(S3Error::new(
                S3ErrorCode::IncompleteBody,
                "You did not provide the number of bytes specified by the Content-Length HTTP header",
            ));
        }
        if content_md5.is_some_and(|m| m != stored.md5) {
            return Err(S3Error::new(
                S3ErrorCode::BadDigest,
                "The Content-MD5 you specified did not match what we received.",
            ));
        }
        let mut m = upload.manifest.lock().await;
        if !self.open.lock().contains_key(id) {
            return Err(no_upload()); // completed or aborted meanwhile
        }
        let etag = cipher.as_ref().map_or(stored.md5, |c| c.etag(stored.md5));
        let rec = PartRecord {
            number,
            size: stored.size,
            md5_hex: to_hex(&etag),
            mtime_nanos: crate::clock::now_nanos(),
            chunks: stored
                .chunks
                .iter()
                .map(|c| (c.loc.segment, c.loc.offset, c.loc.len, c.len))
                .collect(),
            // Kept only for the upload's own algorithm: the composite is
            // over those.
            checksum: stored
                .checksum
                .as_deref()
                .filter(|_| upload_alg.is_some())
                .map(checksum::encode),
        };
        let mut next = m.clone();
        next.parts.retain(|p| p.number != number);
        next.parts.push(rec);
        next.parts.sort_by_key(|p| p.number);
        self.save(&next)?;
        let bytes = parts_bytes(&next);
        let before = upload
            .bytes
            .swap(bytes, std::sync::atomic::Ordering::AcqRel);
        if self.open.lock().contains_key(id) {
            note_upload_usage(&self.usage, bucket, 0, signed(bytes) - signed(before));
        }
        *m = next;
        let shown = stored.checksum.as_deref().map(checksum::encode);
        Ok((etag, shown, sse.map(|s| s.mode)))
    }

    /// Completes the upload with `parts` (number, ETag as sent); returns
    /// the object's ETag bytes and part count.
    pub async fn complete(
        &self,
        store: &ObjectStore,
        bucket: &str,
        key: &[u8],
        id: &str,
        parts: &[crate::s3::xml::CompletePart],
        condition: Option<&WriteCondition>,
    ) -> Result<CompleteOutcome, S3Error> {
        let b = store.bucket(bucket)?;
        if let Some(done) = self.completed_before(&b, key, id, parts)? {
            return Ok(done);
        }
        if let Some(c) = condition {
            // Early; the check that counts is made with the completion.
            let current = b
                .index
                .current(key)
                .map_err(|e| internal("reading the index", e))?;
            c.check(current_etag(current.as_ref()).as_deref())?;
        }
        let upload = self.get(bucket, key, id)?;
        let m = upload.manifest.lock().await;
        if !self.open.lock().contains_key(id) {
            return Err(no_upload());
        }
        if parts.is_empty() {
            return Err(S3Error::new(
                S3ErrorCode::MalformedXML,
                "You must specify at least one part",
            ));
        }
        if parts
            .windows(2)
            .any(|w| matches!(w, [a, b] if a.number >= b.number))
        {
            return Err(S3Error::new(
                S3ErrorCode::InvalidPartOrder,
                "The list of parts was not in ascending order. Parts must be ordered by part number.",
            ));
        }
        let mut md5s = Md5::new();
        let mut part_digests = Vec::new();
        let mut chunks = Vec::new();
        let mut head_parts = Vec::new();
        let mut numbers = Vec::new();
        let mut size = 0u64;
        for (i, part) in parts.iter().enumerate() {
            let (number, etag) = (&part.number, &part.etag);
            let want = normalized_etag(etag);
            let p = m
                .parts
                .iter()
                .find(|p| p.number == *number && p.md5_hex == want)
                .ok_or_else(|| {
                    S3Error::new(
                        S3ErrorCode::InvalidPart,
                        format!("One or more of the specified parts could not be found (part {number})."),
                    )
                })?;
            if i + 1 < parts.len() && p.size < PART_BYTES_MIN {
                return Err(S3Error::new(
                    S3ErrorCode::EntityTooSmall,
                    format!("Your proposed upload is smaller than the minimum allowed size (part {number} is {} bytes; 5 MiB is the minimum for all but the last part)", p.size),
                ));
            }
            md5s.update(from_hex(&p.md5_hex).unwrap_or_default());
            if let Some(a) = upload.checksum {
                let d = p
                    .checksum
                    .as_deref()
                    .and_then(|c| a.parse_value(c).ok())
                    .ok_or_else(|| {
                        S3Error::new(
                            S3ErrorCode::InvalidPart,
                            format!("Part {number} has no {} checksum", a.name()),
                        )
                    })?;
                part_digests.push(d);
            }
            check_part_checksums(upload.checksum, p, &part.checksums)?;
            size += p.size;
            numbers.push(p.number);
            head_parts.push(Part {
                size: p.size,
                chunks: p.chunks.len() as u32,
            });
            chunks.extend(p.chunks.iter().map(|&(segment, offset, len, data)| Chunk {
                loc: RecordLoc {
                    segment,
                    offset,
                    len,
                },
                len: data,
            }));
        }
        let etag: [u8; 16] = md5s.finalize().into();
        let parts_n = parts.len() as u16;
        let _gate = b.gate_read().await;
        let txn = b
            .index
            .prepare(key)
            .await
            .map_err(|e| crate::object::store::index_failed("preparing the index", e))?;
        let now = crate::clock::now_nanos();
        let (versioned, version_id, target) = match b.new_object_target(key, now) {
            Ok(t) => t,
            Err(e) => {
                let _ = b.index.cancel(txn).await;
                return Err(e);
            }
        };
        let head = ObjectHead {
            tag: txn.tag(),
            mtime_nanos: now,
            versioned,
            version_id,
            size,
            etag,
            etag_parts: parts_n,
            bucket: bucket.to_string(),
            key: key.to_vec(),
            meta: m.meta.clone(),
            chunks,
            parts: head_parts,
            checksum: upload.checksum.map(|a| HeadChecksum {
                algorithm: a,
                digest: checksum::composite(a, &part_digests),
                parts: parts_n,
                part_digests,
            }),
            lock: manifest_lock(&m)?,
            sse: manifest_sse(&m)?.map(|s| SseInfo {
                part_numbers: numbers,
                ..s
            }),
            ..ObjectHead::default()
        };
        let (loc, txn) = store.write_head_or_cancel(&b.index, txn, &head).await?;
        // A refused condition leaves the upload open, to retry or abort.
        complete_checked(&b.index, txn, target, b.entry_for(&head, loc), condition).await?;
        b.settle_versions(store.segments(), key).await;
        if let Some(s) = self.open.lock().remove(id) {
            let bytes = s.bytes.load(std::sync::atomic::Ordering::Acquire);
            note_upload_usage(&self.usage, bucket, -1, -signed(bytes));
        }
        // The object is committed; a manifest left by a crash here is an
        // upload that still lists (and can be aborted).
        let _ = self.io.remove_file(&self.path(id));
        let outcome = CompleteOutcome {
            etag,
            parts: parts_n,
            version: b.written_version(version_id),
            version_id,
            checksum: head.checksum.as_ref().map(|c| c.stored()),
            sse: head.sse.as_ref().map(|s| s.mode),
        };
        self.remember_completed(
            Completed {
                bucket: bucket.to_string(),
                key: key.to_vec(),
                parts: parts
                    .iter()
                    .map(|p| (p.number, normalized_etag(&p.etag)))
                    .collect(),
                at: std::time::Instant::now(),
                outcome: outcome.clone(),
            },
            id,
        );
        Ok(outcome)
    }

    /// What a completion of upload `id` already made, if this one repeats
    /// it (same bucket, key and part list) and the key's current object is
    /// still that object; `None` to go on (the upload is then open, or
    /// answers NoSuchUpload).
    fn completed_before(
        &self,
        b: &super::store::Bucket,
        key: &[u8],
        id: &str,
        parts: &[crate::s3::xml::CompletePart],
    ) -> Result<Option<CompleteOutcome>, S3Error> {
        let Some(done) = self.completed.lock().get(id).cloned() else {
            return Ok(None);
        };
        let same_request = done.bucket == b.name
            && done.key == key
            && done.at.elapsed() < COMPLETED_KEEP
            && done.parts.len() == parts.len()
            && done
                .parts
                .iter()
                .zip(parts)
                .all(|((n, e), p)| *n == p.number && *e == normalized_etag(&p.etag));
        if !same_request {
            return Ok(None);
        }
        let current = b
            .index
            .current(key)
            .map_err(|e| internal("reading the index", e))?;
        let o = &done.outcome;
        let still = current.is_some_and(|e| {
            e.etag == o.etag && e.etag_parts == o.parts && e.version_id == o.version_id
        });
        Ok(still.then(|| o.clone()))
    }

    fn remember_completed(&self, c: Completed, id: &str) {
        let mut done = self.completed.lock();
        done.retain(|_, d| d.at.elapsed() < COMPLETED_KEEP);
        while done.len() >= COMPLETED_MAX {
            let Some(oldest) = done
                .iter()
                .min_by_key(|(_, d)| d.at)
                .map(|(k, _)| k.clone())
            else {
                break;
            };
            done.remove(&oldest);
        }
        done.insert(id.to_string(), c);
    }

    pub fn abort(&self, bucket: &str, key: &[u8], id: &str) -> Result<(), S3Error> {
        self.get(bucket, key, id)?;
        self.io
            .remove_file(&self.path(id))
            .map_err(|e| internal("removing the multipart manifest", e))?;
        let _ = self.io.sync_dir(&self.dir);
        if let Some(s) = self.open.lock().remove(id) {
            let bytes = s.bytes.load(std::sync::atomic::Ordering::Acquire);
            note_upload_usage(&self.usage, bucket, -1, -signed(bytes));
        }
        Ok(())
    }

    /// [`uploads_of`](Self::uploads_of) without waiting for the manifests
    /// to be loaded after a restart: `SlowDown` until they are (an error if
    /// one cannot be read), so nothing relies on an incomplete list.
    pub fn uploads_of_now(&self, bucket: &str) -> Result<Vec<(Vec<u8>, String, u64)>, S3Error> {
        self.all_loaded()?;
        Ok(self.listed(bucket))
    }

    /// (key, upload id, initiated) of the uploads of `bucket`, by key
    /// then initiation time; waits (background work only) for the
    /// manifests to be loaded after a restart.
    pub fn uploads_of(&self, bucket: &str) -> Vec<(Vec<u8>, String, u64)> {
        self.wait_loaded();
        self.listed(bucket)
    }

    fn listed(&self, bucket: &str) -> Vec<(Vec<u8>, String, u64)> {
        let mut v: Vec<(Vec<u8>, String, u64)> = self
            .open
            .lock()
            .iter()
            .filter(|(_, s)| s.bucket == bucket)
            .map(|(id, s)| (s.key.clone(), id.clone(), s.initiated_nanos))
            .collect();
        v.sort_by(|a, b| (&a.0, a.2, &a.1).cmp(&(&b.0, b.2, &b.1)));
        v
    }

    /// The parts of one upload.
    pub async fn manifest(&self, bucket: &str, key: &[u8], id: &str) -> Result<Manifest, S3Error> {
        let s = self.get(bucket, key, id)?;
        let g = s.manifest.lock().await;
        Ok(g.clone())
    }
}

/// Compares the checksums a CompleteMultipartUpload gives for a part with
/// the part's own: one of the upload's algorithm must equal it
/// (`InvalidPart` otherwise); one of another algorithm the upload does not
/// have is `InvalidRequest`
/// (<https://docs.aws.amazon.com/AmazonS3/latest/API/API_CompletedPart.html>).
fn check_part_checksums(
    algorithm: Option<Algorithm>,
    part: &PartRecord,
    given: &[(String, String)],
) -> Result<(), S3Error> {
    for (element, value) in given {
        let Some(a) = checksum::ALGORITHMS
            .into_iter()
            .find(|a| a.xml_element() == element)
        else {
            continue;
        };
        if algorithm != Some(a) {
            return Err(S3Error::new(
                S3ErrorCode::InvalidRequest,
                format!(
                    "The upload was created without a {} checksum; part {} cannot be completed with one.",
                    a.name(),
                    part.number
                ),
            ));
        }
        let stored = part.checksum.as_deref().and_then(|c| a.parse_value(c).ok());
        if stored.is_none() || a.parse_value(value).ok() != stored {
            return Err(S3Error::new(
                S3ErrorCode::InvalidPart,
                format!(
                    "One or more of the specified parts could not be found. The part may not have been uploaded, or the specified entity tag may not match the part's entity tag. (part {}: the {} checksum differs)",
                    part.number,
                    a.name()
                ),
            ));
        }
    }
    Ok(())
}
