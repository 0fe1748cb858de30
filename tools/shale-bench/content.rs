//! Object contents made from the key alone, so a reader can check every
//! byte it gets without anyone keeping the data: word `i` (8 bytes, little
//! endian) of the object stored under `key` is splitmix64's output mix of
//! `xxh64(key) + i * golden`. Being counter based, any range (a multipart
//! part, say) is made or checked on its own.

use xxhash_rust::xxh64::xxh64;

const GOLDEN: u64 = 0x9E37_79B9_7F4A_7C15;

/// The content seed of `key`.
pub fn seed(key: &str) -> u64 {
    xxh64(key.as_bytes(), 0)
}

fn word(seed: u64, index: u64) -> u64 {
    let mut z = seed.wrapping_add(index.wrapping_mul(GOLDEN));
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Fills `buf` with bytes `offset..offset + buf.len()` of the content of
/// the key whose seed is `seed`.
pub fn fill(seed: u64, offset: u64, buf: &mut [u8]) {
    let mut i = offset / 8;
    // An unaligned start: the tail of word i first.
    let skip = (offset % 8) as usize;
    let head_len = if skip == 0 {
        0
    } else {
        (8 - skip).min(buf.len())
    };
    let (head, body) = buf.split_at_mut(head_len);
    if skip != 0 {
        let w = word(seed, i).to_le_bytes();
        for (o, b) in head.iter_mut().zip(w.iter().skip(skip)) {
            *o = *b;
        }
        i += 1;
    }
    let mut words = body.chunks_exact_mut(8);
    for out in &mut words {
        out.copy_from_slice(&word(seed, i).to_le_bytes());
        i += 1;
    }
    let rest = words.into_remainder();
    for (o, b) in rest.iter_mut().zip(word(seed, i).to_le_bytes()) {
        *o = b;
    }
}

/// The first offset at which `data` differs from the content (from its
/// start) of the key whose seed is `seed`; None when it is all the same.
pub fn first_difference(seed: u64, data: &[u8]) -> Option<usize> {
    let mut words = data.chunks_exact(8);
    let mut i = 0u64;
    for got in &mut words {
        let want = word(seed, i).to_le_bytes();
        if got != want {
            let p = want.iter().zip(got).position(|(w, g)| w != g);
            return Some(i as usize * 8 + p.unwrap_or(0));
        }
        i += 1;
    }
    let want = word(seed, i).to_le_bytes();
    let rest = words.remainder();
    want.iter()
        .zip(rest)
        .position(|(w, g)| w != g)
        .map(|p| i as usize * 8 + p)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_agree_with_the_whole_and_differences_are_found() {
        let s = seed("run/0000000001");
        let mut whole = vec![0u8; 3 * 8 * 1024 + 5];
        let last = whole.len() - 1;
        fill(s, 0, &mut whole);
        assert_eq!(first_difference(s, &whole), None);
        let mut tail = vec![0u8; whole.len() - 8 * 1024];
        fill(s, 8 * 1024, &mut tail);
        assert_eq!(&whole[8 * 1024..], &tail[..]);
        for start in [1usize, 3, 7, 9] {
            for len in [0usize, 2, 5, 8, 13, 100] {
                let mut part = vec![0u8; len];
                fill(s, start as u64, &mut part);
                assert_eq!(&whole[start..start + len], &part[..], "{start}+{len}");
            }
        }
        assert!(first_difference(seed("run/0000000002"), &whole).is_some());
        whole[4097] ^= 1;
        assert_eq!(first_difference(s, &whole), Some(4097));
        whole[4097] ^= 1;
        whole[last] ^= 0x80;
        assert_eq!(first_difference(s, &whole), Some(last));
    }
}
