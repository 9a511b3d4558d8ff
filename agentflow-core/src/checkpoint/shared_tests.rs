//! The cache of shared values across checkpoints: what it saves, and why it never hands back
//! stale bytes.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use serde::{Serialize, Serializer};

use super::super::msgpack::to_vec;
use super::{CACHE_BUDGET, Cache, scope_with};

/// A document large enough for the cache, which counts its encodings.
struct Doc {
    encoded: &'static AtomicUsize,
    lines: Vec<String>,
}

impl Doc {
    fn new(encoded: &'static AtomicUsize, tag: &str) -> Arc<Doc> {
        Arc::new(Doc {
            encoded,
            lines: (0..20).map(|i| format!("{tag} line {i}")).collect(),
        })
    }
}

impl Clone for Doc {
    fn clone(&self) -> Self {
        Doc {
            encoded: self.encoded,
            lines: self.lines.clone(),
        }
    }
}

impl Serialize for Doc {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.encoded.fetch_add(1, Ordering::SeqCst);
        self.lines.serialize(s)
    }
}

#[derive(Serialize)]
struct Holder {
    #[serde(serialize_with = "super::serialize")]
    doc: Arc<Doc>,
}

/// What `rmp_serde` makes of `holder`, without counting an encoding.
fn uncounted(holder: &Holder) -> Vec<u8> {
    #[derive(Serialize)]
    struct Plain<'a> {
        doc: &'a [String],
    }
    rmp_serde::to_vec_named(&Plain {
        doc: &holder.doc.lines,
    })
    .unwrap()
}

fn encode(cache: &Cache, holder: &Holder) -> Vec<u8> {
    scope_with(cache, || to_vec(holder).unwrap())
}

#[test]
fn a_large_value_is_encoded_once_while_it_lives() {
    static ENCODED: AtomicUsize = AtomicUsize::new(0);
    let cache = Cache::default();
    let holder = Holder {
        doc: Doc::new(&ENCODED, "a"),
    };
    let first = encode(&cache, &holder);
    let second = encode(&cache, &holder);
    assert_eq!(
        ENCODED.load(Ordering::SeqCst),
        1,
        "the second checkpoint reuses the bytes"
    );
    assert_eq!(first, second);
    // Another graph's cache knows nothing of it.
    encode(&Cache::default(), &holder);
    assert_eq!(ENCODED.load(Ordering::SeqCst), 2);
    assert_eq!(first, uncounted(&holder));
}

#[test]
fn a_changed_value_is_encoded_afresh() {
    static ENCODED: AtomicUsize = AtomicUsize::new(0);
    let cache = Cache::default();
    let mut holder = Holder {
        doc: Doc::new(&ENCODED, "before"),
    };
    encode(&cache, &holder);
    // The only strong reference: without the cache's weak one, `make_mut` would change the value
    // in place, at the address the cache knows.
    Arc::make_mut(&mut holder.doc).lines[0] = "after".into();
    let bytes = encode(&cache, &holder);
    assert_eq!(ENCODED.load(Ordering::SeqCst), 2);
    assert_eq!(bytes, uncounted(&holder));
    assert!(
        Arc::get_mut(&mut holder.doc).is_none(),
        "a cached value cannot be changed in place"
    );
}

#[test]
fn new_values_never_take_the_bytes_of_dropped_ones() {
    static ENCODED: AtomicUsize = AtomicUsize::new(0);
    let cache = Cache::default();
    // Fresh values, each dropped after its checkpoint: an allocator would hand the next one the
    // same address if nothing held it.
    for i in 0..200 {
        let holder = Holder {
            doc: Doc::new(&ENCODED, &format!("doc {i}")),
        };
        let bytes = encode(&cache, &holder);
        assert_eq!(bytes, uncounted(&holder), "doc {i}");
    }
    assert_eq!(ENCODED.load(Ordering::SeqCst), 200, "every new value is encoded");
}

#[test]
fn a_cache_in_use_is_skipped_not_waited_for() {
    static ENCODED: AtomicUsize = AtomicUsize::new(0);
    let cache = Cache::default();
    let holder = Holder {
        doc: Doc::new(&ENCODED, "a"),
    };
    // A scope inside a scope of the same cache (as a concurrent run would be) encodes without it.
    let (outer, inner) = scope_with(&cache, || (to_vec(&holder).unwrap(), encode(&cache, &holder)));
    assert_eq!(outer, inner);
    assert_eq!(ENCODED.load(Ordering::SeqCst), 2);
    // The outer scope's entries were kept.
    encode(&cache, &holder);
    assert_eq!(ENCODED.load(Ordering::SeqCst), 2);
}

#[test]
fn the_cache_stays_within_its_budget() {
    static ENCODED: AtomicUsize = AtomicUsize::new(0);
    let cache = Cache::default();
    let big = |tag: usize| {
        Arc::new(Doc {
            encoded: &ENCODED,
            lines: vec![format!("{tag:0>1000}"); 1000],
        })
    };
    // About 1 MB each: the live ones alone outgrow the budget.
    let live: Vec<Arc<Doc>> = (0..12).map(big).collect();
    for doc in &live {
        encode(&cache, &Holder { doc: doc.clone() });
        let held = cache.slot.lock().unwrap().as_ref().map(|e| e.held).unwrap();
        assert!(held <= CACHE_BUDGET, "{held} bytes held");
    }
    // Dead values are dropped first when room is needed.
    drop(live);
    for tag in 100..112 {
        encode(&cache, &Holder { doc: big(tag) });
    }
    let held = cache.slot.lock().unwrap().as_ref().map(|e| e.held).unwrap();
    assert!(held <= CACHE_BUDGET, "{held} bytes held");
}

#[test]
fn a_panic_while_encoding_leaves_a_working_cache() {
    static ENCODED: AtomicUsize = AtomicUsize::new(0);
    let cache = Cache::default();
    let panicked = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        scope_with(&cache, || panic!("a serializer panicked"))
    }));
    assert!(panicked.is_err());
    let holder = Holder {
        doc: Doc::new(&ENCODED, "a"),
    };
    encode(&cache, &holder);
    encode(&cache, &holder);
    assert_eq!(ENCODED.load(Ordering::SeqCst), 1, "the cache still keeps bytes");
}
