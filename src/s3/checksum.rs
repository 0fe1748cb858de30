//! S3's additional checksums: `x-amz-checksum-{crc32,crc32c,crc64nvme,
//! sha1,sha256}` sent as a header or as an aws-chunked trailer
//! (`x-amz-trailer`), or announced by `x-amz-sdk-checksum-algorithm`.
//! Values are base64 of the big-endian digest. Pure: which checksum a
//! request asks for, the hashers, and the composite checksum of a
//! multipart object (the checksum of the parts' checksums, shown `-N`).

use base64::Engine;
use sha1::Sha1;
use sha2::{Digest, Sha256};

use super::{S3Error, S3ErrorCode};

/// The algorithms, with their on-disk codes (`format-spec/object.md`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Algorithm {
    Crc32 = 1,
    Crc32c = 2,
    Crc64Nvme = 3,
    Sha1 = 4,
    Sha256 = 5,
}

pub const ALGORITHMS: [Algorithm; 5] = [
    Algorithm::Crc32,
    Algorithm::Crc32c,
    Algorithm::Crc64Nvme,
    Algorithm::Sha1,
    Algorithm::Sha256,
];

impl Algorithm {
    /// `CRC32`, as `x-amz-sdk-checksum-algorithm` and XML spell it.
    pub fn name(self) -> &'static str {
        match self {
            Algorithm::Crc32 => "CRC32",
            Algorithm::Crc32c => "CRC32C",
            Algorithm::Crc64Nvme => "CRC64NVME",
            Algorithm::Sha1 => "SHA1",
            Algorithm::Sha256 => "SHA256",
        }
    }

    /// `x-amz-checksum-crc32`.
    pub fn header(self) -> &'static str {
        match self {
            Algorithm::Crc32 => "x-amz-checksum-crc32",
            Algorithm::Crc32c => "x-amz-checksum-crc32c",
            Algorithm::Crc64Nvme => "x-amz-checksum-crc64nvme",
            Algorithm::Sha1 => "x-amz-checksum-sha1",
            Algorithm::Sha256 => "x-amz-checksum-sha256",
        }
    }

    /// `ChecksumCRC32`, the element of XML bodies.
    pub fn xml_element(self) -> &'static str {
        match self {
            Algorithm::Crc32 => "ChecksumCRC32",
            Algorithm::Crc32c => "ChecksumCRC32C",
            Algorithm::Crc64Nvme => "ChecksumCRC64NVME",
            Algorithm::Sha1 => "ChecksumSHA1",
            Algorithm::Sha256 => "ChecksumSHA256",
        }
    }

    pub fn digest_len(self) -> usize {
        match self {
            Algorithm::Crc32 | Algorithm::Crc32c => 4,
            Algorithm::Crc64Nvme => 8,
            Algorithm::Sha1 => 20,
            Algorithm::Sha256 => 32,
        }
    }

    pub fn code(self) -> u8 {
        self as u8
    }

    pub fn from_code(code: u8) -> Option<Algorithm> {
        ALGORITHMS.into_iter().find(|a| a.code() == code)
    }

    /// From its name, any case.
    pub fn from_name(name: &str) -> Option<Algorithm> {
        ALGORITHMS
            .into_iter()
            .find(|a| a.name().eq_ignore_ascii_case(name.trim()))
    }

    fn from_header(header: &str) -> Option<Algorithm> {
        ALGORITHMS.into_iter().find(|a| a.header() == header)
    }

    pub fn hasher(self) -> Hasher {
        match self {
            Algorithm::Crc32 => Hasher::Crc32(crc32fast::Hasher::new()),
            Algorithm::Crc32c => Hasher::Crc32c(0),
            Algorithm::Crc64Nvme => Hasher::Crc64Nvme(crc64fast_nvme::Digest::new()),
            Algorithm::Sha1 => Hasher::Sha1(Sha1::new()),
            Algorithm::Sha256 => Hasher::Sha256(Sha256::new()),
        }
    }

    /// The digest of `data` in one call.
    pub fn digest(self, data: &[u8]) -> Vec<u8> {
        let mut h = self.hasher();
        h.update(data);
        h.finish()
    }

    /// A base64 value of this algorithm's length, or `InvalidRequest`.
    pub fn parse_value(self, value: &str) -> Result<Vec<u8>, S3Error> {
        base64::engine::general_purpose::STANDARD
            .decode(value.trim())
            .ok()
            .filter(|d| d.len() == self.digest_len())
            .ok_or_else(|| {
                S3Error::new(
                    S3ErrorCode::InvalidRequest,
                    format!("Value for {} header is invalid.", self.header()),
                )
            })
    }
}

/// A running checksum.
#[derive(Clone)]
pub enum Hasher {
    Crc32(crc32fast::Hasher),
    Crc32c(u32),
    Crc64Nvme(crc64fast_nvme::Digest),
    Sha1(Sha1),
    Sha256(Sha256),
}

impl Hasher {
    pub fn update(&mut self, data: &[u8]) {
        match self {
            Hasher::Crc32(h) => h.update(data),
            Hasher::Crc32c(c) => *c = crc32c::crc32c_append(*c, data),
            Hasher::Crc64Nvme(h) => h.write(data),
            Hasher::Sha1(h) => h.update(data),
            Hasher::Sha256(h) => h.update(data),
        }
    }

    /// The big-endian digest.
    pub fn finish(self) -> Vec<u8> {
        match self {
            Hasher::Crc32(h) => h.finalize().to_be_bytes().to_vec(),
            Hasher::Crc32c(c) => c.to_be_bytes().to_vec(),
            Hasher::Crc64Nvme(h) => h.sum64().to_be_bytes().to_vec(),
            Hasher::Sha1(h) => h.finalize().to_vec(),
            Hasher::Sha256(h) => h.finalize().to_vec(),
        }
    }
}

/// Base64, as headers and XML carry a checksum.
pub fn encode(digest: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(digest)
}

/// A stored checksum: a full-object digest, or the composite of `parts`
/// part digests (shown with `-parts`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Stored {
    pub algorithm: Option<Algorithm>,
    pub digest: Vec<u8>,
    /// 0: of the whole object; n > 0: composite of n parts.
    pub parts: u16,
}

impl Stored {
    /// The header value (`base64`, or `base64-N` for a composite).
    pub fn value(&self) -> String {
        if self.parts > 0 {
            format!("{}-{}", encode(&self.digest), self.parts)
        } else {
            encode(&self.digest)
        }
    }

    /// `FULL_OBJECT` or `COMPOSITE` (`x-amz-checksum-type`).
    pub fn kind(&self) -> &'static str {
        if self.parts > 0 {
            "COMPOSITE"
        } else {
            "FULL_OBJECT"
        }
    }
}

/// The composite checksum of a multipart object: the algorithm over the
/// concatenated part digests.
pub fn composite(algorithm: Algorithm, part_digests: &[Vec<u8>]) -> Vec<u8> {
    let mut h = algorithm.hasher();
    for d in part_digests {
        h.update(d);
    }
    h.finish()
}

/// What checksum a request's body must carry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Expected {
    pub algorithm: Algorithm,
    /// From a header; `None` when it comes as a trailer or not at all.
    pub value: Option<Vec<u8>>,
    /// `x-amz-trailer` promised it after the body.
    pub trailer: bool,
}

impl Expected {
    /// From a request's headers: at most one `x-amz-checksum-*` value
    /// header, or an `x-amz-trailer` naming one, or only
    /// `x-amz-sdk-checksum-algorithm` (then shale computes and stores it
    /// without a value to check). Disagreeing headers are refused.
    pub fn from_headers<'a>(
        names: impl Iterator<Item = &'a str>,
        get: impl Fn(&str) -> Option<&'a str>,
    ) -> Result<Option<Expected>, S3Error> {
        let invalid = |m: String| S3Error::new(S3ErrorCode::InvalidRequest, m);
        let mut value_header = None;
        for n in names {
            if let Some(a) = Algorithm::from_header(n) {
                if value_header.is_some_and(|b| b != a) {
                    return Err(invalid(
                        "Expecting a single x-amz-checksum- header. Multiple checksum Types are not allowed.".into(),
                    ));
                }
                value_header = Some(a);
            }
        }
        let trailer = match get("x-amz-trailer") {
            None => None,
            Some(t) => {
                let t = t.trim().to_ascii_lowercase();
                Some(Algorithm::from_header(&t).ok_or_else(|| {
                    invalid(format!(
                        "The value specified in the x-amz-trailer header is not supported: {t}"
                    ))
                })?)
            }
        };
        let sdk = match get("x-amz-sdk-checksum-algorithm") {
            None => None,
            Some(n) => Some(Algorithm::from_name(n).ok_or_else(|| {
                invalid(format!("Checksum algorithm provided is unsupported: {n}"))
            })?),
        };
        let chosen = [value_header, trailer, sdk]
            .into_iter()
            .flatten()
            .collect::<Vec<_>>();
        let Some(&algorithm) = chosen.first() else {
            return Ok(None);
        };
        if chosen.iter().any(|a| *a != algorithm) || (value_header.is_some() && trailer.is_some()) {
            return Err(invalid(
                "The checksum headers disagree: send one algorithm, as a header or as a trailer"
                    .into(),
            ));
        }
        let value = match value_header {
            Some(a) => Some(a.parse_value(get(a.header()).unwrap_or_default())?),
            None => None,
        };
        Ok(Some(Expected {
            algorithm,
            value,
            trailer: trailer.is_some(),
        }))
    }

    /// Checks the computed digest against the expected value (the header's,
    /// or `trailer` when it came as one): `BadDigest` if they differ,
    /// `InvalidRequest` if a promised trailer is missing or malformed.
    pub fn verify(&self, computed: &[u8], trailer: Option<&str>) -> Result<(), S3Error> {
        let want = match (&self.value, trailer) {
            (Some(v), _) => v.clone(),
            (None, Some(t)) => self.algorithm.parse_value(t)?,
            (None, None) if self.trailer => {
                return Err(S3Error::new(
                    S3ErrorCode::InvalidRequest,
                    format!(
                        "The {} trailer promised by x-amz-trailer did not come",
                        self.algorithm.header()
                    ),
                ))
            }
            (None, None) => return Ok(()),
        };
        if want != computed {
            return Err(S3Error::new(
                S3ErrorCode::BadDigest,
                format!(
                    "The {} you specified did not match the calculated checksum.",
                    self.algorithm.name()
                ),
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digests_match_published_check_values() {
        // The CRC catalogue's check values (of "123456789").
        let check = b"123456789";
        assert_eq!(Algorithm::Crc32.digest(check), 0xCBF4_3926u32.to_be_bytes());
        assert_eq!(
            Algorithm::Crc32c.digest(check),
            0xE306_9283u32.to_be_bytes()
        );
        assert_eq!(
            Algorithm::Crc64Nvme.digest(check),
            0xAE8B_1486_0A79_9888u64.to_be_bytes()
        );
        assert_eq!(
            encode(&Algorithm::Sha1.digest(b"abc")),
            "qZk+NkcGgWq6PiVxeFDCbJzQ2J0="
        );
        assert_eq!(
            encode(&Algorithm::Sha256.digest(b"")),
            "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU="
        );
        // Split updates agree with one call.
        for a in ALGORITHMS {
            let mut h = a.hasher();
            h.update(b"1234");
            h.update(b"56789");
            assert_eq!(h.finish(), a.digest(check), "{a:?}");
            assert_eq!(Algorithm::from_code(a.code()), Some(a));
            assert_eq!(Algorithm::from_name(&a.name().to_lowercase()), Some(a));
        }
    }

    fn expected(pairs: &[(&'static str, &'static str)]) -> Result<Option<Expected>, S3Error> {
        Expected::from_headers(pairs.iter().map(|(k, _)| *k), |n| {
            pairs.iter().find(|(k, _)| *k == n).map(|(_, v)| *v)
        })
    }

    #[test]
    fn requests_name_one_algorithm() {
        assert_eq!(expected(&[]), Ok(None));
        let crc = encode(&Algorithm::Crc32.digest(b"x"));
        let crc: &'static str = Box::leak(crc.into_boxed_str());
        let e = expected(&[("x-amz-checksum-crc32", crc)]).ok().flatten();
        let e = e.unwrap_or_else(|| panic!("no checksum"));
        assert_eq!(e.algorithm, Algorithm::Crc32);
        assert!(e.verify(&Algorithm::Crc32.digest(b"x"), None).is_ok());
        assert_eq!(
            e.verify(&Algorithm::Crc32.digest(b"y"), None)
                .map_err(|e| e.code),
            Err(S3ErrorCode::BadDigest)
        );
        let t = expected(&[
            ("x-amz-trailer", "x-amz-checksum-crc32c"),
            ("x-amz-sdk-checksum-algorithm", "CRC32C"),
        ]);
        let t = t.ok().flatten().unwrap_or_else(|| panic!("no checksum"));
        assert_eq!(
            (t.algorithm, t.value.clone(), t.trailer),
            (Algorithm::Crc32c, None, true)
        );
        assert_eq!(
            t.verify(&[0; 4], None).map_err(|e| e.code),
            Err(S3ErrorCode::InvalidRequest)
        );
        let good = encode(&Algorithm::Crc32c.digest(b"x"));
        assert!(t
            .verify(&Algorithm::Crc32c.digest(b"x"), Some(&good))
            .is_ok());
        assert_eq!(
            t.verify(&Algorithm::Crc32c.digest(b"x"), Some("!!"))
                .map_err(|e| e.code),
            Err(S3ErrorCode::InvalidRequest)
        );
        for bad in [
            vec![("x-amz-checksum-crc32", "AAAA")], // 3 bytes
            vec![("x-amz-checksum-crc32", crc), ("x-amz-checksum-sha1", "x")],
            vec![
                ("x-amz-checksum-crc32", crc),
                ("x-amz-sdk-checksum-algorithm", "SHA256"),
            ],
            vec![("x-amz-trailer", "x-amz-checksum-md5")],
            vec![("x-amz-sdk-checksum-algorithm", "MD5")],
        ] {
            assert_eq!(
                expected(&bad).map_err(|e| e.code),
                Err(S3ErrorCode::InvalidRequest),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn composites_are_the_checksum_of_part_checksums() {
        let parts = vec![Algorithm::Crc32.digest(b"a"), Algorithm::Crc32.digest(b"b")];
        let mut cat = parts[0].clone();
        cat.extend_from_slice(&parts[1]);
        let c = Stored {
            algorithm: Some(Algorithm::Crc32),
            digest: composite(Algorithm::Crc32, &parts),
            parts: 2,
        };
        assert_eq!(c.digest, Algorithm::Crc32.digest(&cat));
        assert!(c.value().ends_with("-2"));
        assert_eq!(c.kind(), "COMPOSITE");
    }
}
