//! Server-side encryption in the object store: the node's master keys,
//! a bucket's default encryption (metadata log config kind 8), the
//! cipher a new object is written with, the cipher a stored object is
//! read with (checking the SSE-C key), and opening a chunk record.

use std::sync::Arc;

use bytes::Bytes;

use super::ObjectStore;
use crate::meta::mdlog::CONFIG_ENCRYPTION;
use crate::object::head::Chunk;
use crate::object::sse::{self, MasterKeys, ObjectCipher, SseInfo, SseMode, CHUNK_OVERHEAD};
use crate::s3::sse::{CustomerKey, SseRequest};
use crate::s3::{xml, S3Error, S3ErrorCode};

/// How a new object (or upload) is encrypted: its SSE section (part
/// numbers filled in at completion) and the cipher its chunks are sealed
/// with.
#[derive(Clone, Debug)]
pub struct SseWrite {
    pub info: SseInfo,
    pub cipher: ObjectCipher,
}

fn internal(what: &str, e: impl std::fmt::Display) -> S3Error {
    S3Error::new(S3ErrorCode::InternalError, format!("{what}: {e}"))
}

/// The error for a key given to an object that was not written with one.
pub fn not_applicable() -> S3Error {
    S3Error::new(
        S3ErrorCode::InvalidRequest,
        "The encryption parameters are not applicable to this object.",
    )
}

impl ObjectStore {
    /// Sets the node's SSE-S3 master keys (`serve` loads them from the
    /// master key file).
    pub fn set_master_keys(&mut self, keys: MasterKeys) {
        self.master_keys = Some(Arc::new(keys));
    }

    /// Whether `bucket` encrypts new objects with SSE-S3 by default.
    pub fn bucket_encryption(&self, bucket: &str) -> Result<bool, S3Error> {
        Ok(self
            .bucket_config(bucket, CONFIG_ENCRYPTION)?
            .is_some_and(|d| !d.is_empty()))
    }

    /// Turns the bucket's default encryption (SSE-S3) on or off.
    pub async fn set_bucket_encryption(&self, bucket: &str, on: bool) -> Result<(), S3Error> {
        let doc = if on {
            xml::bucket_encryption().into_bytes()
        } else {
            Vec::new()
        };
        self.set_bucket_config(bucket, CONFIG_ENCRYPTION, doc).await
    }

    /// The encryption a new object of `bucket` gets: what the request
    /// asks for, else the bucket's default; `None`: stored as sent.
    pub fn new_sse(&self, bucket: &str, req: &SseRequest) -> Result<Option<SseWrite>, S3Error> {
        let (mode, key_id, kek) = match req {
            SseRequest::Customer(c) => (SseMode::Customer, 0, c.key),
            SseRequest::S3 => self.active_master_key()?,
            SseRequest::None if self.bucket_encryption(bucket)? => self.active_master_key()?,
            SseRequest::None => return Ok(None),
        };
        let (info, cipher) =
            sse::new_object(mode, key_id, &kek).map_err(|e| internal("encryption", e))?;
        Ok(Some(SseWrite { info, cipher }))
    }

    fn active_master_key(&self) -> Result<(SseMode, u32, [u8; sse::KEY_LEN]), S3Error> {
        self.master_keys
            .as_ref()
            .and_then(|k| k.active())
            .map(|(id, key)| (SseMode::S3, id, *key))
            .ok_or_else(|| internal("SSE-S3", "this node has no master key loaded"))
    }

    /// The cipher to read an object (or continue an upload) encrypted as
    /// `info` says, given the request's SSE-C key: `None` for plain data.
    /// An SSE-C object without its key is `InvalidRequest` (400), with
    /// another key `AccessDenied` (403); a key given for an object not
    /// written with one is `InvalidRequest`, as AWS answers.
    pub fn unlock(
        &self,
        info: Option<&SseInfo>,
        customer: Option<&CustomerKey>,
    ) -> Result<Option<ObjectCipher>, S3Error> {
        let Some(info) = info else {
            return match customer {
                Some(_) => Err(not_applicable()),
                None => Ok(None),
            };
        };
        let kek = match (info.mode, customer) {
            (SseMode::S3, Some(_)) => return Err(not_applicable()),
            (SseMode::S3, None) => *self
                .master_keys
                .as_ref()
                .ok_or_else(|| internal("SSE-S3", "this node has no master key loaded"))?
                .get(info.key_id)
                .map_err(|e| internal("SSE-S3", e))?,
            (SseMode::Customer, None) => {
                return Err(S3Error::new(
                    S3ErrorCode::InvalidRequest,
                    "The object was stored using a form of Server Side Encryption. The correct parameters must be provided to retrieve the object.",
                ))
            }
            (SseMode::Customer, Some(c)) if !info.customer_key_matches(&c.key) => {
                return Err(S3Error::new(
                    S3ErrorCode::AccessDenied,
                    "Access Denied: the SSE-C key provided does not match the key the object was encrypted with.",
                ))
            }
            (SseMode::Customer, Some(c)) => c.key,
        };
        info.open(&kek)
            .map(Some)
            .map_err(|e| internal("opening the object's data key", e))
    }
}

/// The object bytes of a chunk record's payload: the payload itself for
/// plain data, the opened chunk for encrypted data (`pos` = part number,
/// index in the part). A payload whose length is not what the head says
/// is an error, never data.
pub fn open_chunk(
    payload: Bytes,
    c: &Chunk,
    pos: (u32, u32),
    cipher: Option<&ObjectCipher>,
) -> Result<Bytes, String> {
    let overhead = if cipher.is_some() { CHUNK_OVERHEAD } else { 0 };
    if payload.len() != (c.len as usize).saturating_add(overhead) {
        return Err("chunk length differs from its head".into());
    }
    let Some(k) = cipher else {
        return Ok(payload);
    };
    // A record read for this request alone is opened where it is.
    match payload.try_into_mut() {
        Ok(mut m) => {
            k.open_in_place(pos.0, pos.1, &mut m)
                .map_err(|e| e.to_string())?;
            let plain = sse::NONCE_LEN..sse::NONCE_LEN + c.len as usize;
            Ok(m.freeze().slice(plain))
        }
        Err(shared) => k
            .open_chunk(pos.0, pos.1, &shared)
            .map(Bytes::from)
            .map_err(|e| e.to_string()),
    }
}

/// (part number, index in part) of each chunk of a head.
pub fn positions(head: &crate::object::head::ObjectHead) -> Vec<(u32, u32)> {
    let parts: Vec<u32> = head.parts.iter().map(|p| p.chunks).collect();
    let numbers = head
        .sse
        .as_ref()
        .map(|s| s.part_numbers.clone())
        .unwrap_or_default();
    sse::chunk_positions(head.chunks.len(), &parts, &numbers)
}
