//! The in-memory saver's values, stored once by content across all threads.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::Arc;

use crate::checkpoint::shared::AddressHasher;

/// Values shorter than this are stored as they come: an entry would cost more than it saves.
const MIN_POOLED: usize = 64;

/// Distinct values kept per fingerprint. Values that share a fingerprint but differ are rare
/// (see [`fingerprint`]); past this many, a new one is stored unpooled, so that a put never
/// compares against more than a few candidates.
const BUCKET: usize = 4;

/// The bytes of stored values, each distinct value once, however many fields, versions and
/// threads hold it: threads that run the same workflow on the same documents store them once.
/// The pool holds one reference of its own, released when no checkpoint holds the value.
#[derive(Debug, Default)]
pub(super) struct Pool {
    buckets: HashMap<u64, Vec<Arc<[u8]>>, BuildHasherDefault<AddressHasher>>,
}

impl Pool {
    /// The stored copy of `bytes`: the pool's, if it holds equal bytes, else a new one.
    pub(super) fn intern(&mut self, bytes: &[u8]) -> Arc<[u8]> {
        if bytes.len() < MIN_POOLED {
            return Arc::from(bytes);
        }
        let bucket = self.buckets.entry(fingerprint(bytes)).or_default();
        // Equal fingerprints almost always mean equal bytes: one full comparison, usually.
        if let Some(found) = bucket.iter().find(|v| ***v == *bytes) {
            return found.clone();
        }
        let value: Arc<[u8]> = Arc::from(bytes);
        if bucket.len() < BUCKET {
            bucket.push(value.clone());
        }
        value
    }

    /// Forgets values that only the pool still holds, after checkpoints holding `released`
    /// were removed (their references are dropped here first).
    pub(super) fn release(&mut self, released: impl IntoIterator<Item = Arc<[u8]>>) {
        for value in released {
            if value.len() < MIN_POOLED {
                continue;
            }
            let key = fingerprint(&value);
            drop(value);
            if let Some(bucket) = self.buckets.get_mut(&key) {
                bucket.retain(|v| Arc::strong_count(v) > 1);
                if bucket.is_empty() {
                    self.buckets.remove(&key);
                }
            }
        }
    }

    /// Distinct values the pool holds.
    #[cfg(test)]
    pub(super) fn len(&self) -> usize {
        self.buckets.values().map(Vec::len).sum()
    }
}

/// A hash of a value's length and of eight evenly spaced 32-byte windows of it (all of it when
/// short): constant cost however large the value. It only picks candidates; equality is always
/// checked on the whole bytes, so a word-at-a-time mix is enough.
fn fingerprint(bytes: &[u8]) -> u64 {
    const WINDOW: usize = 32;
    const WINDOWS: usize = 8;
    let mut hasher = AddressHasher::default();
    hasher.write_usize(bytes.len());
    let mut mix = |window: &[u8]| {
        let mut words = window.chunks_exact(8);
        for word in &mut words {
            let mut buffer = [0u8; 8];
            buffer.copy_from_slice(word);
            hasher.write_u64(u64::from_le_bytes(buffer));
        }
        hasher.write(words.remainder());
    };
    if bytes.len() <= WINDOW * WINDOWS {
        mix(bytes);
    } else {
        let last = bytes.len() - WINDOW;
        for i in 0..WINDOWS {
            let start = last * i / (WINDOWS - 1);
            mix(&bytes[start..start + WINDOW]);
        }
    }
    hasher.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn equal_values_share_one_copy_until_released() {
        let mut pool = Pool::default();
        let a = pool.intern(&[1u8; 5000]);
        let b = pool.intern(&[1u8; 5000]);
        assert!(Arc::ptr_eq(&a, &b));
        assert_eq!(pool.len(), 1);
        pool.release([a]);
        assert_eq!(pool.len(), 1, "still held by b");
        pool.release([b]);
        assert_eq!(pool.len(), 0);
    }

    #[test]
    fn values_the_fingerprint_cannot_tell_apart_stay_distinct() {
        let mut pool = Pool::default();
        // Equal in length and in every sampled window: only the bytes between differ.
        let values: Vec<Vec<u8>> = (0..10u8)
            .map(|i| {
                let mut v = vec![0u8; 10_000];
                v[100] = i + 1;
                v
            })
            .collect();
        assert_eq!(fingerprint(&values[0]), fingerprint(&values[1]));
        let stored: Vec<Arc<[u8]>> = values.iter().map(|v| pool.intern(v)).collect();
        for (value, stored) in values.iter().zip(&stored) {
            assert_eq!(**stored, **value);
        }
        assert_eq!(pool.len(), BUCKET, "a full bucket stores the rest unpooled");
        // Still found again, whole-bytes equal.
        assert!(Arc::ptr_eq(&pool.intern(&values[0]), &stored[0]));
    }

    #[test]
    fn short_values_are_not_pooled() {
        let mut pool = Pool::default();
        let a = pool.intern(b"short");
        let b = pool.intern(b"short");
        assert!(!Arc::ptr_eq(&a, &b));
        assert_eq!(pool.len(), 0);
    }
}
