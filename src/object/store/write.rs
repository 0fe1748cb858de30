//! Object writes: PUT and copy through the index transaction, the data
//! chunks and head records they append, retagging.

use std::collections::VecDeque;

use bytes::Bytes;
use md5::{Digest, Md5};

use super::{
    chunk_capacity, complete_checked, current_etag, internal, join_append, over_quota_if,
    write_failed, BodySource, FoundObject, HeldChunk, ObjectRange, ObjectStore, PutOptions,
    PutOutcome, StoredData, CHUNKS_IN_FLIGHT, PUT_BYTES_MAX,
};
use crate::index::bucket::BucketIndex;
use crate::index::entry::IndexEntry;
use crate::index::key::SortKey;
use crate::object::chunk_pool::{ChunkBuf, TakeError};
use crate::object::head::{Chunk, HeadChecksum, ObjectHead};
use crate::object::sse::{ObjectCipher, NONCE_LEN, TAG_LEN};
use crate::object::versioning::VersionId;
use crate::s3::checksum::{Algorithm, Expected};
use crate::s3::conditional::WriteCondition;
use crate::s3::{S3Error, S3ErrorCode};
use crate::segment::{PayloadCrc, RecordKind, RecordLoc, SegmentError};

impl ObjectStore {
    /// Stores an object: streams `body` into data chunks, then the head,
    /// inside one index transaction.
    pub async fn put_object<B: BodySource>(
        &self,
        bucket: &str,
        key: &[u8],
        put: PutOptions,
        body: &mut B,
    ) -> Result<PutOutcome, S3Error> {
        let PutOptions {
            meta,
            expected_len,
            content_md5,
            condition,
            checksum,
            expiry_secs,
            lock,
            sse,
        } = put;
        crate::s3::names::validate_object_key(key)?;
        if expected_len.is_some_and(|n| n > PUT_BYTES_MAX) {
            return Err(S3Error::new(
                S3ErrorCode::EntityTooLarge,
                "Your proposed upload exceeds the maximum allowed object size (5 GiB); use multipart upload",
            ));
        }
        let b = self.bucket(bucket)?;
        if let Some(c) = &condition {
            // Fails early, before the body is read; the check that counts
            // is the one made atomically with the completion.
            let current = b
                .index
                .current(key)
                .map_err(|e| internal("reading the index", e))?;
            c.check(current_etag(current.as_ref()).as_deref())?;
        }
        // Quotas bound the body whatever its framing (a chunked body has
        // no length to check up front).
        let room = self.quota_room(bucket, key)?;
        let limit = room.map_or(PUT_BYTES_MAX, |r| r.min(PUT_BYTES_MAX));
        let _gate = b.gate.read().await;
        // The prepare returns at once and reaches the log with the next
        // batch (at the latest with the complete). The last chunk is held
        // back to go to disk with the head, in one fsync.
        let (txn, stored) = tokio::join!(
            b.index.prepare(key),
            self.stream_data(
                body,
                limit,
                true,
                expected_len,
                checksum.as_ref().map(|c| c.algorithm),
                sse.as_ref().map(|s| (&s.cipher, 0)),
            )
        );
        let txn = txn.map_err(|e| crate::object::store::index_failed("preparing the index", e))?;
        let stored = match stored {
            Ok(s) => s,
            Err(e) => {
                let _ = b.index.cancel(txn).await;
                return Err(over_quota_if(e, room, PUT_BYTES_MAX));
            }
        };
        let check = || -> Result<(), S3Error> {
            if let Some(n) = expected_len {
                if n != stored.size {
                    return Err(S3Error::new(
                        S3ErrorCode::IncompleteBody,
                        format!("You did not provide the number of bytes specified by the Content-Length HTTP header ({} of {n})", stored.size),
                    ));
                }
            }
            if let Some(m) = content_md5 {
                if m != stored.md5 {
                    return Err(S3Error::new(
                        S3ErrorCode::BadDigest,
                        "The Content-MD5 you specified did not match what we received.",
                    ));
                }
            }
            if let (Some(c), Some(got)) = (&checksum, &stored.checksum) {
                c.verify(got, body.trailer(c.algorithm.header()))?;
            }
            // Again with what was stored: writes that committed meanwhile
            // count.
            if room.is_some() {
                self.check_quota(bucket, key, stored.size)?;
            }
            Ok(())
        };
        if let Err(e) = check() {
            let _ = b.index.cancel(txn).await;
            return Err(e);
        }
        let mtime = crate::clock::now_nanos();
        let (versioned, version_id, target) = match b.new_object_target(key, mtime) {
            Ok(t) => t,
            Err(e) => {
                let _ = b.index.cancel(txn).await;
                return Err(e);
            }
        };
        // SSE-C objects show an ETag that is not their MD5 (as on AWS).
        let etag = sse
            .as_ref()
            .map_or(stored.md5, |s| s.cipher.etag(stored.md5));
        let mut head = ObjectHead {
            tag: txn.tag(),
            mtime_nanos: mtime,
            versioned,
            version_id,
            expiry_secs,
            lock,
            sse: sse.map(|s| s.info),
            size: stored.size,
            etag,
            bucket: bucket.to_string(),
            key: key.to_vec(),
            meta,
            chunks: stored.chunks,
            checksum: checksum
                .zip(stored.checksum)
                .map(|(c, digest)| HeadChecksum {
                    algorithm: c.algorithm,
                    digest,
                    parts: 0,
                    part_digests: Vec::new(),
                }),
            ..ObjectHead::default()
        };
        let written = match stored.tail {
            Some(tail) => self.write_head_with_tail(&mut head, tail).await,
            None => self.write_head(&head).await,
        };
        let entry = match written {
            Ok(loc) => b.entry_for(&head, loc),
            Err(e) => {
                let _ = b.index.cancel(txn).await;
                return Err(e);
            }
        };
        complete_checked(&b.index, txn, target, entry, condition.as_ref()).await?;
        b.settle_versions(&self.segments, key).await;
        Ok(PutOutcome {
            etag,
            size: stored.size,
            mtime_nanos: mtime,
            expiration: b.rule_expiry(key, head.size, &head.meta, mtime),
            checksum: head.checksum.map(|c| c.digest),
            version_id: b.written_version(version_id),
        })
    }

    /// CopyObject: writes `source` (a current object) as a new object
    /// `bucket`/`key` with `meta`, streaming its data chunk by chunk into
    /// new chunks (the copy owns its data: reclaiming one never touches
    /// the other). The ETag is the MD5 of the data, as for any PUT.
    /// `source_cipher` opens an encrypted source; `sse` is how the copy
    /// is encrypted (the source's encryption is not kept by itself).
    #[allow(clippy::too_many_arguments)]
    pub async fn copy_object(
        &self,
        source: &FoundObject,
        source_cipher: Option<crate::object::sse::ObjectCipher>,
        bucket: &str,
        key: &[u8],
        meta: Vec<(String, String)>,
        condition: Option<WriteCondition>,
        lock: crate::s3::object_lock::ObjectLock,
        sse: Option<super::SseWrite>,
    ) -> Result<PutOutcome, S3Error> {
        if source.head.size > PUT_BYTES_MAX {
            return Err(S3Error::new(
                S3ErrorCode::InvalidRequest,
                format!("The specified copy source is larger than the maximum allowable size for a copy source: {PUT_BYTES_MAX}"),
            ));
        }
        let mut body = ObjectRange::whole(self, &source.head).with_cipher(source_cipher);
        let put = PutOptions {
            meta,
            expected_len: Some(source.head.size),
            content_md5: None,
            condition,
            // The copy keeps the source's kind of checksum (a composite
            // one becomes a whole-object checksum: the copy is one part).
            checksum: source.head.checksum.as_ref().map(|c| Expected {
                algorithm: c.algorithm,
                value: None,
                trailer: false,
            }),
            // An expiry belongs to the object written, not to its copies.
            expiry_secs: 0,
            // So does a lock: the copy has the request's (or the
            // bucket's default).
            lock,
            sse,
        };
        self.put_object(bucket, key, put, &mut body).await
    }

    /// Appends the last data chunk and the head naming it in one batch
    /// (one fdatasync); returns where the head is. `head.chunks` gets the
    /// chunk's location.
    pub(super) async fn write_head_with_tail(
        &self,
        head: &mut ObjectHead,
        tail: HeldChunk,
    ) -> Result<RecordLoc, S3Error> {
        let len = tail.plain_len;
        // Encoded once with a stand-in location: a location's encoding
        // has a fixed width, so the head's length is known before the
        // chunk's place is.
        head.chunks.push(Chunk {
            loc: RecordLoc::default(),
            len,
        });
        let invalid = |e: crate::object::head::HeadError| {
            S3Error::new(S3ErrorCode::InvalidArgument, e.to_string())
        };
        let head_len = head.encode().map_err(invalid)?.len();
        let mut built = head.clone();
        let locs = self
            .segments
            .append_chained(
                vec![(RecordKind::DataChunk, tail.data, tail.crc)],
                vec![head_len],
                move |locs| {
                    if let (Some(c), Some(loc)) = (built.chunks.last_mut(), locs.first()) {
                        c.loc = *loc;
                    }
                    // Cannot fail: the same head encoded above.
                    let bytes = Bytes::from(built.encode().unwrap_or_default());
                    let crc = PayloadCrc::of(&bytes);
                    vec![(RecordKind::ObjectHead, bytes, crc)]
                },
            )
            .await
            .map_err(|e| write_failed("writing the object", e))?;
        match (locs.first(), locs.get(1)) {
            (Some(chunk), Some(head_loc)) => {
                if let Some(c) = head.chunks.last_mut() {
                    c.loc = *chunk;
                }
                Ok(*head_loc)
            }
            _ => Err(internal(
                "writing the object",
                "the store returned no location",
            )),
        }
    }

    /// Appends an object head (or tombstone); returns where it is.
    pub async fn write_head(&self, head: &ObjectHead) -> Result<RecordLoc, S3Error> {
        let bytes = head
            .encode()
            .map_err(|e| S3Error::new(S3ErrorCode::InvalidArgument, e.to_string()))?;
        let kind = if head.delete {
            RecordKind::Tombstone
        } else {
            RecordKind::ObjectHead
        };
        self.segments
            .append(kind, Bytes::from(bytes))
            .await
            .map_err(|e| write_failed("writing the object head", e))
    }

    /// Step 2 of an index transaction: appends `head`; if that fails, the
    /// transaction is cancelled and the error returned. Gives the
    /// transaction back for step 3.
    pub async fn write_head_or_cancel(
        &self,
        index: &BucketIndex,
        txn: crate::index::bucket::Txn,
        head: &ObjectHead,
    ) -> Result<(RecordLoc, crate::index::bucket::Txn), S3Error> {
        match self.write_head(head).await {
            Ok(loc) => Ok((loc, txn)),
            Err(e) => {
                let _ = index.cancel(txn).await;
                Err(e)
            }
        }
    }

    /// Streams `body` into data records (at most `limit` bytes).
    /// `seal`: the cipher and part number to encrypt the chunks with.
    pub async fn write_data<B: BodySource>(
        &self,
        body: &mut B,
        limit: u64,
        checksum: Option<Algorithm>,
        seal: Option<(&ObjectCipher, u32)>,
    ) -> Result<StoredData, S3Error> {
        self.stream_data(body, limit, false, None, checksum, seal)
            .await
    }

    /// Like [`write_data`](Self::write_data); with `hold_tail` the last
    /// chunk is not appended but returned, to go to disk with the head
    /// record under one fdatasync.
    pub(super) async fn stream_data<B: BodySource>(
        &self,
        body: &mut B,
        limit: u64,
        hold_tail: bool,
        expected_len: Option<u64>,
        checksum: Option<Algorithm>,
        seal: Option<(&ObjectCipher, u32)>,
    ) -> Result<StoredData, S3Error> {
        // A sealed chunk is `nonce plaintext tag`: room for the nonce is
        // taken when the buffer is, for the tag kept free at its end.
        let (lead, trail) = match seal {
            Some(_) => (NONCE_LEN, TAG_LEN),
            None => (0, 0),
        };
        let mut index = 0u32;
        // Compaction leaves the segments this write may land in alone
        // until what it writes is referenced (see `WritePin`).
        let pin = self.pin_writes();
        let owner = body.owner().map(str::to_owned);
        let mut md5 = Md5::new();
        // The additional checksum, in the same pass as the MD5 and the
        // record CRC (chunk by chunk, while the chunk is in cache).
        let mut hasher = checksum.map(Algorithm::hasher);
        let mut size = 0u64;
        // Bytes in chunks already cut.
        let mut cut = 0u64;
        let mut in_flight: VecDeque<tokio::task::JoinHandle<Result<Vec<RecordLoc>, SegmentError>>> =
            VecDeque::new();
        let mut chunks = Vec::new();
        let mut lens = Vec::new();
        // The chunk being filled (taken under a budget permit).
        let mut filling: Option<ChunkBuf> = None;
        let mut tail = None;
        loop {
            let frame = match body.next().await {
                Some(Ok(frame)) => Some(frame),
                Some(Err(e)) => return Err(e),
                None => None,
            };
            let ended = frame.is_none();
            let frame = frame.unwrap_or_default();
            size += frame.len() as u64;
            if size > limit {
                return Err(S3Error::new(
                    S3ErrorCode::EntityTooLarge,
                    "Your proposed upload exceeds the maximum allowed size",
                ));
            }
            let mut rest = &frame[..];
            while !rest.is_empty() || (ended && filling.is_some()) {
                let mut buf = match filling.take() {
                    Some(b) => b,
                    None => {
                        let want = chunk_capacity(expected_len, cut)
                            .saturating_add(lead + trail)
                            .min(super::CHUNK_BYTES);
                        let mut b = self.chunk_buffer(owner.as_deref(), want).await?;
                        if lead > 0 {
                            b.extend_from_slice(&[0u8; NONCE_LEN]);
                        }
                        b
                    }
                };
                let room = buf.room().saturating_sub(trail);
                let (now, later) = rest.split_at(room.min(rest.len()));
                buf.extend_from_slice(now);
                rest = later;
                if buf.room().saturating_sub(trail) > 0 && !ended {
                    filling = Some(buf);
                    continue;
                }
                if buf.len() <= lead {
                    break;
                }
                let plain_len = buf.len() - lead;
                cut += plain_len as u64;
                let plain = buf.as_ref().get(lead..).unwrap_or_default();
                md5.update(plain);
                if let Some(h) = &mut hasher {
                    h.update(plain);
                }
                if let Some((cipher, part)) = seal {
                    let tag = cipher
                        .seal_in_place(part, index, buf.as_mut())
                        .map_err(|e| internal("encrypting object data", e))?;
                    buf.extend_from_slice(&tag);
                }
                index = index.saturating_add(1);
                let chunk = buf.freeze();
                let crc = PayloadCrc::of(&chunk);
                if hold_tail && ended {
                    tail = Some(HeldChunk {
                        data: chunk,
                        crc,
                        plain_len: plain_len as u32,
                    });
                    break;
                }
                lens.push(plain_len as u32);
                let segments = self.segments.clone();
                // The buffer (and its budget permit) is free once the
                // writer has written it and dropped its reference.
                in_flight.push_back(tokio::task::spawn_local(async move {
                    segments
                        .append_many_checksummed(vec![(RecordKind::DataChunk, chunk, crc)])
                        .await
                }));
                if in_flight.len() >= CHUNKS_IN_FLIGHT {
                    if let Some(h) = in_flight.pop_front() {
                        chunks.extend(join_append(h).await?);
                    }
                }
                if ended {
                    break;
                }
            }
            if ended {
                break;
            }
        }
        while let Some(h) = in_flight.pop_front() {
            chunks.extend(join_append(h).await?);
        }
        let chunks = chunks
            .into_iter()
            .zip(lens)
            .map(|(loc, len)| Chunk { loc, len })
            .collect();
        Ok(StoredData {
            size,
            md5: md5.finalize().into(),
            checksum: hasher.map(|h| h.finish()),
            chunks,
            tail,
            _pin: pin,
        })
    }

    /// A buffer for the next chunk (`want` bytes expected), counted
    /// against `owner`'s share; waits while the node-wide upload budget is
    /// spent. An owner whose uploads hold their whole share too long is
    /// told to slow down (the upload fails like a vanished client's).
    pub(super) async fn chunk_buffer(
        &self,
        owner: Option<&str>,
        want: usize,
    ) -> Result<ChunkBuf, S3Error> {
        self.chunk_pool
            .take_for(owner, want)
            .await
            .map_err(|e| match e {
                TakeError::Closed => internal("upload buffer budget", "closed"),
                TakeError::UserShareSpent => S3Error::new(
                    S3ErrorCode::SlowDown,
                    "Please reduce your request rate: your uploads in progress hold your whole share of this node's upload buffers.",
                ),
            })
    }

    /// Replaces the tag set of the current object of `key` (or of version
    /// `version`): a new head record with the same data, time and version
    /// (the index updates a version in place), completed only if the
    /// object is still the one read.
    pub async fn retag(
        &self,
        bucket: &str,
        key: &[u8],
        version: Option<VersionId>,
        tags: &[(String, String)],
    ) -> Result<FoundObject, S3Error> {
        self.rewrite_meta(bucket, key, version, |meta| {
            crate::s3::tagging::with_tags(meta, tags)
        })
        .await
    }

    /// Replaces the metadata of the current object of `key` (or of
    /// version `version`) by `change` of it (tags, ACL), as [`Self::retag`]
    /// says.
    pub async fn rewrite_meta(
        &self,
        bucket: &str,
        key: &[u8],
        version: Option<VersionId>,
        change: impl Fn(&[(String, String)]) -> Vec<(String, String)>,
    ) -> Result<FoundObject, S3Error> {
        self.rewrite_head(bucket, key, version, |h| {
            Ok(ObjectHead {
                meta: change(&h.meta),
                ..h.clone()
            })
        })
        .await
    }

    /// Replaces the head of the current object of `key` (or of version
    /// `version`) by `change` of it (metadata, Object Lock state; never
    /// its data, time or version), as [`Self::retag`] says. `change` may
    /// refuse, seeing the head as it is each time it is read.
    pub async fn rewrite_head(
        &self,
        bucket: &str,
        key: &[u8],
        version: Option<VersionId>,
        change: impl Fn(&ObjectHead) -> Result<ObjectHead, S3Error>,
    ) -> Result<FoundObject, S3Error> {
        let b = self.bucket(bucket)?;
        for _ in 0..8 {
            let found = match version {
                Some(v) => self.get_object_version(bucket, key, v).await?,
                None => self.get_object(bucket, key).await?,
            };
            let changed = change(&found.head)?;
            let _gate = b.gate.read().await;
            let txn = b
                .index
                .prepare(key)
                .await
                .map_err(|e| crate::object::store::index_failed("preparing the index", e))?;
            let head = ObjectHead {
                tag: txn.tag(),
                ..changed
            };
            let (loc, txn) = self.write_head_or_cancel(&b.index, txn, &head).await?;
            let target = if head.versioned {
                SortKey::Version {
                    key: key.to_vec(),
                    version: head.version_id,
                }
            } else {
                SortKey::Head { key: key.to_vec() }
            };
            // A noncurrent version keeps its expiry until its versions
            // are settled again below (its tags may change which rule
            // applies), but a lock defers it at once.
            let current = version.is_none()
                || b.index
                    .get(&SortKey::Head { key: key.to_vec() })
                    .map_err(|e| internal("index lookup", e))?
                    .is_some_and(|h| h.version_id == head.version_id || !h.versioned);
            let entry = if current {
                b.entry_for(&head, loc)
            } else {
                let own = u64::from(head.expiry_secs);
                let slot = if head.lock == found.head.lock {
                    found.entry.expiry_slot
                } else {
                    own
                };
                IndexEntry {
                    head: loc,
                    pending: Vec::new(),
                    current: false,
                    versioned: false,
                    lock: head.lock,
                    expiry_slot: head.lock.defer_expiry(slot),
                    ..found.entry.clone()
                }
            };
            let was = found.entry.clone();
            let done = b
                .index
                .complete_if_target(txn, target, Some(entry.clone()), |e| {
                    e.is_some_and(|e| {
                        e.head == was.head
                            && e.expiry_slot == was.expiry_slot
                            && e.expires_to_marker == was.expires_to_marker
                    })
                })
                .await
                .map_err(|e| internal("completing the index", e))?;
            if done {
                b.settle_versions(&self.segments, key).await;
                return Ok(FoundObject { entry, head });
            }
            // A write came in between: read again.
        }
        Err(S3Error::new(
            S3ErrorCode::SlowDown,
            "The object kept changing while its metadata was set; try again",
        ))
    }
}
