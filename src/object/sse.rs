//! Server-side encryption of object data (SSE-S3 and SSE-C), pure: the
//! head's SSE section (`format-spec/object.md`, "SSE section"), the
//! per-object data key and how it is wrapped, chunk sealing and opening,
//! the SSE-C key check, and the node's master key file's text.
//!
//! Every encrypted object has its own random 256-bit data key. It is
//! wrapped (AES-256-GCM) by the node's master key (SSE-S3, the key's id
//! kept beside it) or by the customer's key (SSE-C, which is never
//! stored: only a salted HMAC of it, to tell a wrong key from damage).
//! Each data chunk is sealed on its own with AES-256-GCM under the data
//! key: a random 96-bit nonce, and as associated data the object's random
//! id, the part number (0 for a single PUT) and the chunk's index in its
//! part, so chunks cannot be swapped or moved between objects unnoticed.
//! A chunk record's payload is `nonce(12) ciphertext tag(16)`; the
//! segment record's CRC32C still covers those stored bytes.
//!
//! The crypto is RustCrypto's `aes-gcm`, `hmac` and `sha2`; nothing here
//! is hand-rolled beyond laying out bytes.

use aes_gcm::aead::{AeadInOut, KeyInit};
use aes_gcm::{Aes256Gcm, Key, Nonce, Tag};
use hmac::{Hmac, Mac};
use sha2::Sha256;
use thiserror::Error;

use crate::le::{put, u32_at};

pub const KEY_LEN: usize = 32;
pub const NONCE_LEN: usize = 12;
pub const TAG_LEN: usize = 16;
/// Bytes a sealed chunk has more than its plaintext.
pub const CHUNK_OVERHEAD: usize = NONCE_LEN + TAG_LEN;
pub const OBJECT_ID_LEN: usize = 16;
/// A wrapped data key: the key's ciphertext and its tag.
pub const WRAPPED_LEN: usize = KEY_LEN + TAG_LEN;
pub const SALT_LEN: usize = 16;
pub const CHECK_LEN: usize = 32;
/// The SSE section without its part numbers.
pub const SSE_FIXED_LEN: usize = 132;

const MODE_S3: u8 = 1;
const MODE_CUSTOMER: u8 = 2;
/// Associated data of a wrapped key starts with this.
const WRAP_LABEL: &[u8] = b"shale-sse-key-v1";
/// The SSE-C key check: HMAC-SHA256 keyed by the customer key over this
/// and the salt.
const CHECK_LABEL: &[u8] = b"shale-sse-c-check-v1";
/// An SSE-C object's ETag: HMAC-SHA256 keyed by the data key over this
/// and the MD5, cut to 16 bytes.
const ETAG_LABEL: &[u8] = b"shale-sse-etag-v1";

type HmacSha256 = Hmac<Sha256>;

/// Who holds the key that wraps an object's data key.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SseMode {
    /// SSE-S3 (`x-amz-server-side-encryption: AES256`): the node's master
    /// key.
    S3,
    /// SSE-C: the customer's key, sent with every request.
    Customer,
}

/// The head's SSE section.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SseInfo {
    pub mode: SseMode,
    /// SSE-S3: the id (>= 1) of the master key that wrapped the data key;
    /// SSE-C: 0.
    pub key_id: u32,
    /// Random; part of every chunk's associated data.
    pub object_id: [u8; OBJECT_ID_LEN],
    pub wrap_nonce: [u8; NONCE_LEN],
    pub wrapped_key: [u8; WRAPPED_LEN],
    /// SSE-C: the salt of `key_check`; SSE-S3: zero.
    pub salt: [u8; SALT_LEN],
    /// SSE-C: HMAC-SHA256(customer key, label || salt); SSE-S3: zero.
    pub key_check: [u8; CHECK_LEN],
    /// A multipart object's part numbers, one per head part entry, in
    /// order (ascending, >= 1); empty for a single PUT (part number 0).
    pub part_numbers: Vec<u32>,
}

#[derive(Clone, Debug, Error, PartialEq, Eq)]
pub enum SseError {
    #[error("unknown encryption mode {0}")]
    UnknownMode(u8),
    #[error("reserved SSE byte {0} is not zero")]
    ReservedNotZero(usize),
    #[error("SSE section is {have} bytes, {need} needed")]
    Truncated { need: usize, have: usize },
    #[error("SSE fields do not fit the mode: {0}")]
    ModeFields(&'static str),
    #[error("SSE part numbers must ascend from 1 and match the parts")]
    BadPartNumbers,
    #[error("the key does not open this object's data key")]
    WrongKey,
    #[error("a sealed chunk did not authenticate (damaged, or moved)")]
    ChunkAuth,
    #[error("no random numbers: {0}")]
    Random(String),
    #[error("master key {0} is not configured")]
    NoMasterKey(u32),
}

impl SseInfo {
    /// Bytes of the encoded section.
    pub fn encoded_len(&self) -> usize {
        section_len(self.part_numbers.len())
    }

    /// Everything the decoder refuses; `parts` is the head's part count.
    pub fn validate(&self, parts: usize) -> Result<(), SseError> {
        match self.mode {
            SseMode::S3 if self.key_id == 0 => {
                return Err(SseError::ModeFields("SSE-S3 needs a master key id"))
            }
            SseMode::S3 if self.salt != [0; SALT_LEN] || self.key_check != [0; CHECK_LEN] => {
                return Err(SseError::ModeFields("SSE-S3 has no key check"))
            }
            SseMode::Customer if self.key_id != 0 => {
                return Err(SseError::ModeFields("SSE-C has no master key id"))
            }
            _ => {}
        }
        let ascending = self
            .part_numbers
            .windows(2)
            .all(|w| matches!(w, [a, b] if a < b));
        if self.part_numbers.len() != parts
            || !ascending
            || self.part_numbers.first().is_some_and(|&n| n == 0)
        {
            return Err(SseError::BadPartNumbers);
        }
        Ok(())
    }

    pub fn encode(&self) -> Vec<u8> {
        let mut b = vec![0u8; SSE_FIXED_LEN];
        let mode = match self.mode {
            SseMode::S3 => MODE_S3,
            SseMode::Customer => MODE_CUSTOMER,
        };
        put(&mut b, 0, &[mode]);
        put(&mut b, 4, &self.key_id.to_le_bytes());
        put(&mut b, 8, &self.object_id);
        put(&mut b, 24, &self.wrap_nonce);
        put(&mut b, 36, &self.wrapped_key);
        put(&mut b, 84, &self.salt);
        put(&mut b, 100, &self.key_check);
        for n in &self.part_numbers {
            b.extend_from_slice(&n.to_le_bytes());
        }
        b
    }

    /// Decodes a section of exactly `section_len(parts)` bytes.
    pub fn decode(b: &[u8], parts: usize) -> Result<SseInfo, SseError> {
        let need = section_len(parts);
        if b.len() != need {
            return Err(SseError::Truncated {
                need,
                have: b.len(),
            });
        }
        let arr = |at: usize| -> Option<&[u8]> { b.get(at..) };
        let mode = match b.first().copied().unwrap_or_default() {
            MODE_S3 => SseMode::S3,
            MODE_CUSTOMER => SseMode::Customer,
            m => return Err(SseError::UnknownMode(m)),
        };
        if let Some(i) = b.get(1..4).and_then(|r| r.iter().position(|&x| x != 0)) {
            return Err(SseError::ReservedNotZero(1 + i));
        }
        let take = |at: usize, out: &mut [u8]| {
            if let Some(s) = arr(at).and_then(|s| s.get(..out.len())) {
                out.copy_from_slice(s);
            }
        };
        let mut info = SseInfo {
            mode,
            key_id: u32_at(b, 4).unwrap_or_default(),
            object_id: [0; OBJECT_ID_LEN],
            wrap_nonce: [0; NONCE_LEN],
            wrapped_key: [0; WRAPPED_LEN],
            salt: [0; SALT_LEN],
            key_check: [0; CHECK_LEN],
            part_numbers: (0..parts)
                .map(|i| u32_at(b, SSE_FIXED_LEN + 4 * i).unwrap_or_default())
                .collect(),
        };
        take(8, &mut info.object_id);
        take(24, &mut info.wrap_nonce);
        take(36, &mut info.wrapped_key);
        take(84, &mut info.salt);
        take(100, &mut info.key_check);
        info.validate(parts)?;
        Ok(info)
    }

    fn wrap_aad(&self) -> Vec<u8> {
        let mut aad = WRAP_LABEL.to_vec();
        aad.push(match self.mode {
            SseMode::S3 => MODE_S3,
            SseMode::Customer => MODE_CUSTOMER,
        });
        aad.extend_from_slice(&self.key_id.to_le_bytes());
        aad.extend_from_slice(&self.object_id);
        aad
    }

    /// Whether `key` is the SSE-C key this object was written with (a
    /// constant-time compare of the salted HMAC).
    pub fn customer_key_matches(&self, key: &[u8; KEY_LEN]) -> bool {
        self.mode == SseMode::Customer
            && key_check(key, &self.salt)
                .verify_slice(&self.key_check)
                .is_ok()
    }

    /// The object's cipher, its data key unwrapped by `kek` (the master
    /// key named by `key_id`, or the customer key).
    pub fn open(&self, kek: &[u8; KEY_LEN]) -> Result<ObjectCipher, SseError> {
        let aead = Aes256Gcm::new(&Key::<Aes256Gcm>::from(*kek));
        let mut dek = [0u8; KEY_LEN];
        let (ct, tag) = self.wrapped_key.split_at(KEY_LEN);
        dek.copy_from_slice(ct);
        let tag = Tag::try_from(tag).map_err(|_| SseError::WrongKey)?;
        aead.decrypt_inout_detached(
            &Nonce::from(self.wrap_nonce),
            &self.wrap_aad(),
            dek.as_mut_slice().into(),
            &tag,
        )
        .map_err(|_| SseError::WrongKey)?;
        Ok(ObjectCipher::new(self.mode, dek, self.object_id))
    }
}

/// Bytes of an SSE section for a head with `parts` part entries.
pub fn section_len(parts: usize) -> usize {
    SSE_FIXED_LEN.saturating_add(parts.saturating_mul(4))
}

fn key_check(key: &[u8; KEY_LEN], salt: &[u8; SALT_LEN]) -> HmacSha256 {
    // An HMAC takes a key of any length: this cannot fail.
    let mut mac = <HmacSha256 as Mac>::new_from_slice(key)
        .unwrap_or_else(|_| <HmacSha256 as Mac>::new(&Default::default()));
    mac.update(CHECK_LABEL);
    mac.update(salt);
    mac
}

fn random<const N: usize>() -> Result<[u8; N], SseError> {
    let mut b = [0u8; N];
    getrandom::getrandom(&mut b).map_err(|e| SseError::Random(e.to_string()))?;
    Ok(b)
}

/// A new object's SSE section (no part numbers yet) and its cipher: a
/// fresh data key wrapped by `kek`; `key_id` is the master key's id
/// (SSE-S3) or 0 (SSE-C).
pub fn new_object(
    mode: SseMode,
    key_id: u32,
    kek: &[u8; KEY_LEN],
) -> Result<(SseInfo, ObjectCipher), SseError> {
    let dek: [u8; KEY_LEN] = random()?;
    let (salt, key_check) = match mode {
        SseMode::S3 => ([0; SALT_LEN], [0; CHECK_LEN]),
        SseMode::Customer => {
            let salt: [u8; SALT_LEN] = random()?;
            let check: [u8; CHECK_LEN] = key_check(kek, &salt).finalize().into_bytes().into();
            (salt, check)
        }
    };
    let mut info = SseInfo {
        mode,
        key_id,
        object_id: random()?,
        wrap_nonce: random()?,
        wrapped_key: [0; WRAPPED_LEN],
        salt,
        key_check,
        part_numbers: Vec::new(),
    };
    let aead = Aes256Gcm::new(&Key::<Aes256Gcm>::from(*kek));
    let mut ct = dek;
    let tag = aead
        .encrypt_inout_detached(
            &Nonce::from(info.wrap_nonce),
            &info.wrap_aad(),
            ct.as_mut_slice().into(),
        )
        .map_err(|_| SseError::WrongKey)?;
    put(&mut info.wrapped_key, 0, &ct);
    put(&mut info.wrapped_key, KEY_LEN, &tag);
    info.validate(0)?;
    let cipher = ObjectCipher::new(mode, dek, info.object_id);
    Ok((info, cipher))
}

/// Seals and opens one object's chunks.
#[derive(Clone)]
pub struct ObjectCipher {
    mode: SseMode,
    aead: Aes256Gcm,
    /// Kept for the SSE-C ETag only.
    dek: [u8; KEY_LEN],
    object_id: [u8; OBJECT_ID_LEN],
}

impl std::fmt::Debug for ObjectCipher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ObjectCipher")
            .field("mode", &self.mode)
            .finish_non_exhaustive()
    }
}

impl ObjectCipher {
    fn new(mode: SseMode, dek: [u8; KEY_LEN], object_id: [u8; OBJECT_ID_LEN]) -> ObjectCipher {
        ObjectCipher {
            mode,
            aead: Aes256Gcm::new(&Key::<Aes256Gcm>::from(dek)),
            dek,
            object_id,
        }
    }

    pub fn mode(&self) -> SseMode {
        self.mode
    }

    fn aad(&self, part: u32, index: u32) -> [u8; OBJECT_ID_LEN + 8] {
        let mut aad = [0u8; OBJECT_ID_LEN + 8];
        put(&mut aad, 0, &self.object_id);
        put(&mut aad, OBJECT_ID_LEN, &part.to_le_bytes());
        put(&mut aad, OBJECT_ID_LEN + 4, &index.to_le_bytes());
        aad
    }

    /// Seals chunk `index` of part `part` in place: `buf` is
    /// `NONCE_LEN` bytes of room followed by the plaintext; the nonce is
    /// written there and the plaintext encrypted. Returns the tag, to be
    /// appended.
    pub fn seal_in_place(
        &self,
        part: u32,
        index: u32,
        buf: &mut [u8],
    ) -> Result<[u8; TAG_LEN], SseError> {
        let nonce: [u8; NONCE_LEN] = random()?;
        let (head, plain) = buf.split_at_mut(NONCE_LEN.min(buf.len()));
        head.copy_from_slice(nonce.get(..head.len()).unwrap_or_default());
        let tag = self
            .aead
            .encrypt_inout_detached(&Nonce::from(nonce), &self.aad(part, index), plain.into())
            .map_err(|_| SseError::ChunkAuth)?;
        Ok(tag.into())
    }

    /// Opens a sealed chunk (`nonce ciphertext tag`); its plaintext.
    pub fn open_chunk(&self, part: u32, index: u32, sealed: &[u8]) -> Result<Vec<u8>, SseError> {
        let mut copy = sealed.to_vec();
        self.open_in_place(part, index, &mut copy)?;
        Ok(copy
            .get(NONCE_LEN..copy.len().saturating_sub(TAG_LEN))
            .unwrap_or_default()
            .to_vec())
    }

    /// Opens a sealed chunk where it is: afterwards bytes
    /// `NONCE_LEN..len - TAG_LEN` of `sealed` are the plaintext.
    pub fn open_in_place(&self, part: u32, index: u32, sealed: &mut [u8]) -> Result<(), SseError> {
        if sealed.len() < CHUNK_OVERHEAD {
            return Err(SseError::ChunkAuth);
        }
        let (nonce, rest) = sealed.split_at_mut(NONCE_LEN);
        let at = rest.len() - TAG_LEN;
        let (ct, tag) = rest.split_at_mut(at);
        let nonce = Nonce::try_from(&*nonce).map_err(|_| SseError::ChunkAuth)?;
        let tag = Tag::try_from(&*tag).map_err(|_| SseError::ChunkAuth)?;
        self.aead
            .decrypt_inout_detached(&nonce, &self.aad(part, index), ct.into(), &tag)
            .map_err(|_| SseError::ChunkAuth)
    }

    /// The ETag an object (or part) with this body MD5 gets: the MD5 for
    /// SSE-S3 (as AWS documents); for SSE-C an opaque value that does
    /// not reveal the MD5 of the plaintext (a keyed hash of it).
    pub fn etag(&self, md5: [u8; 16]) -> [u8; 16] {
        match self.mode {
            SseMode::S3 => md5,
            SseMode::Customer => {
                let mut mac = <HmacSha256 as Mac>::new_from_slice(&self.dek)
                    .unwrap_or_else(|_| <HmacSha256 as Mac>::new(&Default::default()));
                mac.update(ETAG_LABEL);
                mac.update(&md5);
                let full = mac.finalize().into_bytes();
                let mut out = [0u8; 16];
                out.copy_from_slice(full.get(..16).unwrap_or(&[0; 16]));
                out
            }
        }
    }
}

/// Where each of a head's chunks is in the object's parts: (part number,
/// index in the part). A single PUT is part 0; a multipart object's
/// `parts` (chunk counts) and `part_numbers` come from its head.
pub fn chunk_positions(chunk_count: usize, parts: &[u32], part_numbers: &[u32]) -> Vec<(u32, u32)> {
    if parts.is_empty() || part_numbers.is_empty() {
        return (0..chunk_count).map(|i| (0, i as u32)).collect();
    }
    parts
        .iter()
        .zip(part_numbers)
        .flat_map(|(&n, &number)| (0..n).map(move |i| (number, i)))
        .collect()
}

/// The node's SSE-S3 master keys, from the master key file: lines of
/// `<id> <64 hex digits>` (id 1..2^32-1, each once); blank lines and `#`
/// comments ignored. The last line's key wraps new objects; every listed
/// key opens the objects it wrapped.
#[derive(Clone)]
pub struct MasterKeys {
    keys: Vec<(u32, [u8; KEY_LEN])>,
}

impl std::fmt::Debug for MasterKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let ids: Vec<u32> = self.keys.iter().map(|(id, _)| *id).collect();
        f.debug_struct("MasterKeys").field("ids", &ids).finish()
    }
}

impl MasterKeys {
    pub fn parse(text: &str) -> Result<MasterKeys, String> {
        let mut keys: Vec<(u32, [u8; KEY_LEN])> = Vec::new();
        for (n, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let bad = |why: &str| format!("line {}: {why}", n + 1);
            let mut words = line.split_whitespace();
            let (Some(id), Some(hex), None) = (words.next(), words.next(), words.next()) else {
                return Err(bad("expected `<id> <64 hex digits>`"));
            };
            let id: u32 = id
                .parse()
                .ok()
                .filter(|&i| i > 0)
                .ok_or_else(|| bad("the key id must be a number from 1 to 4294967295"))?;
            let key = from_hex32(hex).ok_or_else(|| bad("the key must be 64 hex digits"))?;
            if keys.iter().any(|(k, _)| *k == id) {
                return Err(bad("this key id is listed twice"));
            }
            keys.push((id, key));
        }
        if keys.is_empty() {
            return Err("no key in the master key file".into());
        }
        Ok(MasterKeys { keys })
    }

    /// A new file's text: one random key, id 1.
    pub fn generate() -> Result<String, SseError> {
        let key: [u8; KEY_LEN] = random()?;
        let hex: String = key.iter().map(|b| format!("{b:02x}")).collect();
        Ok(format!(
            "# shale SSE-S3 master keys: `<id> <64 hex digits>` per line. The last\n\
             # line's key wraps new objects' data keys; keep every line whose key\n\
             # may have wrapped an object still stored (see README, SSE).\n\
             1 {hex}\n"
        ))
    }

    /// The key that wraps new objects: (id, key).
    pub fn active(&self) -> Option<(u32, &[u8; KEY_LEN])> {
        self.keys.last().map(|(id, k)| (*id, k))
    }

    pub fn get(&self, id: u32) -> Result<&[u8; KEY_LEN], SseError> {
        self.keys
            .iter()
            .find(|(k, _)| *k == id)
            .map(|(_, key)| key)
            .ok_or(SseError::NoMasterKey(id))
    }

    pub fn ids(&self) -> Vec<u32> {
        self.keys.iter().map(|(id, _)| *id).collect()
    }
}

fn from_hex32(s: &str) -> Option<[u8; KEY_LEN]> {
    if s.len() != 2 * KEY_LEN {
        return None;
    }
    let mut out = [0u8; KEY_LEN];
    for (i, o) in out.iter_mut().enumerate() {
        *o = u8::from_str_radix(s.get(2 * i..2 * i + 2)?, 16).ok()?;
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEK: [u8; 32] = [7; 32];

    #[test]
    fn a_sealed_chunk_opens_only_with_its_key_part_and_index() {
        let (info, c) = new_object(SseMode::S3, 1, &KEK).unwrap_or_else(|e| panic!("{e}"));
        let mut buf = vec![0u8; NONCE_LEN];
        buf.extend_from_slice(b"attack at dawn");
        let tag = c
            .seal_in_place(3, 1, &mut buf)
            .unwrap_or_else(|e| panic!("{e}"));
        buf.extend_from_slice(&tag);
        assert!(!buf.windows(6).any(|w| w == b"attack"));
        let again = info.open(&KEK).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            again.open_chunk(3, 1, &buf).ok().as_deref(),
            Some(&b"attack at dawn"[..])
        );
        assert_eq!(again.open_chunk(3, 2, &buf), Err(SseError::ChunkAuth));
        assert_eq!(again.open_chunk(4, 1, &buf), Err(SseError::ChunkAuth));
        assert_eq!(info.open(&[8; 32]).err(), Some(SseError::WrongKey));
        let (_, other) = new_object(SseMode::S3, 1, &KEK).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(other.open_chunk(3, 1, &buf), Err(SseError::ChunkAuth));
        let mut flipped = buf.clone();
        if let Some(b) = flipped.get_mut(NONCE_LEN) {
            *b ^= 1;
        }
        assert_eq!(again.open_chunk(3, 1, &flipped), Err(SseError::ChunkAuth));
    }

    #[test]
    fn the_customer_key_check_tells_the_right_key_and_the_etag_hides_the_md5() {
        let (info, c) = new_object(SseMode::Customer, 0, &KEK).unwrap_or_else(|e| panic!("{e}"));
        assert!(info.customer_key_matches(&KEK));
        assert!(!info.customer_key_matches(&[8; 32]));
        assert_ne!(c.etag([1; 16]), [1; 16]);
        let (_, s3) = new_object(SseMode::S3, 2, &KEK).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(s3.etag([1; 16]), [1; 16]);
    }

    #[test]
    fn sections_round_trip_and_refuse_what_does_not_fit_their_mode() {
        let (mut info, _) =
            new_object(SseMode::Customer, 0, &KEK).unwrap_or_else(|e| panic!("{e}"));
        info.part_numbers = vec![1, 4];
        let b = info.encode();
        assert_eq!(b.len(), section_len(2));
        assert_eq!(SseInfo::decode(&b, 2).as_ref(), Ok(&info));
        assert!(SseInfo::decode(&b, 1).is_err());
        for (at, want) in [
            (0, SseError::UnknownMode(3)),
            (2, SseError::ReservedNotZero(2)),
            (4, SseError::ModeFields("SSE-C has no master key id")),
            (SSE_FIXED_LEN, SseError::BadPartNumbers),
        ] {
            let mut bad = b.clone();
            if let Some(x) = bad.get_mut(at) {
                *x = if at == SSE_FIXED_LEN { 9 } else { 3 };
            }
            assert_eq!(SseInfo::decode(&bad, 2), Err(want), "byte {at}");
        }
    }

    #[test]
    fn master_key_files_parse_strictly() {
        let text = MasterKeys::generate().unwrap_or_else(|e| panic!("{e}"));
        let keys = MasterKeys::parse(&text).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(keys.ids(), vec![1]);
        let two = format!("{text}\n2 {}\n", "ab".repeat(32));
        let keys = MasterKeys::parse(&two).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(keys.active().map(|(id, k)| (id, k[0])), Some((2, 0xab)));
        assert!(keys.get(1).is_ok() && keys.get(3).is_err());
        for bad in ["", "# only\n", "0 00\n", "1 abc\n", "1 zz\n", "x y z\n"] {
            assert!(MasterKeys::parse(bad).is_err(), "{bad:?}");
        }
        let dup = format!("1 {0}\n1 {0}\n", "00".repeat(32));
        assert!(MasterKeys::parse(&dup).is_err());
    }
}
