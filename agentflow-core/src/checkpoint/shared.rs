//! Values shared by reference across a state, encoded once per checkpoint.
//!
//! A state often holds one large value in several places: the same document in the message list,
//! in a "last event" field and in a map of participants, each an [`Arc`] clone. Rust shares it for
//! free; a checkpoint would encode it once per place. Mark such `Arc` fields with
//! [`serialize`] and the opt-in MessagePack codec ([`FastMsgPackCodec`](super::FastMsgPackCodec))
//! encodes each shared allocation once per checkpoint and copies its bytes wherever it occurs
//! again. Nothing here runs with any other codec (the default ones included): the engine enters
//! a memo scope only for that codec, and other serializers see the mark as a plain newtype.
//!
//! The bytes are exactly what encoding it again would give, so every stored field stays
//! self-contained (fields are versioned and read separately) and decoding needs nothing special.
//!
//! ```
//! use std::sync::Arc;
//!
//! #[derive(serde::Serialize, serde::Deserialize)]
//! struct Event {
//!     #[serde(serialize_with = "agentflow_core::checkpoint::shared::serialize")]
//!     body: Arc<String>,
//! }
//! # let _ = Event { body: Arc::new("hello".into()) };
//! ```
//!
//! A compiled graph also keeps the bytes of large shared values *across* checkpoints (see
//! [`Cache`]): a document that a thread's state carries from step to step, or that every run
//! receives as input, is encoded once while it lives, not once per checkpoint.
//!
//! Identity is the allocation: a marked value must never change while it lives. That holds for
//! anything without interior mutability behind the `Arc`: the cache keeps a [`Weak`] to what it
//! encoded, so `Arc::get_mut` refuses it and `Arc::make_mut` moves the changed value to a new
//! allocation, which is encoded afresh. Do not mark an `Arc<Mutex<_>>` or the like.

// Only the MessagePack encoder reads the memo.
#![cfg_attr(not(feature = "msgpack"), allow(dead_code))]

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::{Arc, Mutex, Weak};

use serde::{Serialize, Serializer};

/// The newtype name that tells the MessagePack encoder a value is shared. Other serializers
/// treat it as any newtype struct: transparently.
pub(crate) const TOKEN: &str = "$agentflow::checkpoint::shared";

/// Serializes `value`, marked as shared (use with `#[serde(serialize_with = ...)]`). Decoding
/// needs no counterpart: the bytes are the value's own.
pub fn serialize<T, S>(value: &Arc<T>, serializer: S) -> Result<S::Ok, S::Error>
where
    T: ?Sized + Serialize + Send + Sync + 'static,
    S: Serializer,
{
    serializer.serialize_newtype_struct(TOKEN, &Marked(value))
}

/// A shared value as the encoder sees it inside the [`TOKEN`] newtype.
struct Marked<'a, T: ?Sized>(&'a Arc<T>);

impl<T: ?Sized + Serialize + Send + Sync + 'static> Serialize for Marked<'_, T> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        if PROBING.get() {
            let size = std::mem::size_of_val::<T>(self.0);
            let key = (Arc::as_ptr(self.0).cast::<u8>() as usize, size);
            // The clone pins the allocation for the memo's lifetime, so that no other value can
            // reuse its address while the memo maps that address to these bytes.
            PROBED.set(Some(Probe {
                key,
                pin: Box::new(Arc::clone(self.0)),
            }));
            return Err(serde::ser::Error::custom("probed"));
        }
        (**self.0).serialize(serializer)
    }
}

/// A marked value's identity (address and size) and the clone that keeps it alive.
pub(crate) struct Probe {
    key: (usize, usize),
    pin: Box<dyn Pin>,
}

/// A type-erased strong clone of a marked value.
trait Pin {
    /// A weak reference to the same allocation, for the [`Cache`].
    fn downgrade(&self) -> Box<dyn Held>;
}

impl<T: ?Sized + Send + Sync + 'static> Pin for Arc<T> {
    fn downgrade(&self) -> Box<dyn Held> {
        Box::new(Arc::downgrade(self))
    }
}

/// A type-erased weak reference: it keeps the allocation (not the value) from being freed, so
/// that no other value can take its address while the cache maps that address to bytes.
trait Held: Send {
    /// Whether the value still lives (a dead one can never be met again).
    fn alive(&self) -> bool;
}

impl<T: ?Sized + Send + Sync> Held for Weak<T> {
    fn alive(&self) -> bool {
        self.strong_count() > 0
    }
}

thread_local! {
    static PROBING: Cell<bool> = const { Cell::new(false) };
    static PROBED: Cell<Option<Probe>> = const { Cell::new(None) };
    static MEMO: RefCell<Option<Memo>> = const { RefCell::new(None) };
}

/// Asks `value` (the content of a [`TOKEN`] newtype) for its identity, serializing it into
/// `scratch` only if it is not a [`Marked`] value (someone else's newtype of the same name).
pub(crate) fn probe<T, S>(value: &T, scratch: S) -> Option<Probe>
where
    T: ?Sized + Serialize,
    S: Serializer,
{
    struct Reset;
    impl Drop for Reset {
        fn drop(&mut self) {
            PROBING.set(false);
        }
    }
    PROBED.set(None);
    PROBING.set(true);
    let reset = Reset;
    let _ = value.serialize(scratch);
    drop(reset);
    PROBED.take()
}

type ByAddress<V> = HashMap<(usize, usize), V, BuildHasherDefault<AddressHasher>>;

/// The encoded bytes of the shared values met so far in one checkpoint.
#[derive(Default)]
pub(crate) struct Memo {
    /// Where each value's bytes are in `arena`.
    ranges: ByAddress<(usize, usize)>,
    /// The bytes of every value met, one after the other (one buffer, not one per value).
    arena: Vec<u8>,
    pins: Vec<Box<dyn Pin>>,
    /// The graph's bytes of large values from earlier checkpoints, if this scope has them.
    cache: Option<Entries>,
}

impl Memo {
    /// The bytes of a value already encoded, in this checkpoint or (if large) an earlier one.
    pub(crate) fn get(&self, probe: &Probe) -> Option<&[u8]> {
        if let Some(&(start, end)) = self.ranges.get(&probe.key) {
            return self.arena.get(start..end);
        }
        // A live value at a cached address is the value cached: the cache's weak reference kept
        // the allocation from being freed and reused, and a value whose strong count fell to
        // zero never lives again.
        let cached = self.cache.as_ref()?.map.get(&probe.key)?;
        Some(&cached.bytes)
    }

    /// Remembers a value's bytes: in the cache if it takes them (its weak reference then keeps
    /// the address), else in this checkpoint's arena.
    pub(crate) fn insert(&mut self, probe: Probe, bytes: &[u8]) {
        if let Some(cache) = self.cache.as_mut()
            && cache.insert(probe.key, &*probe.pin, bytes)
        {
            return;
        }
        let start = self.arena.len();
        self.arena.extend_from_slice(bytes);
        self.ranges.insert(probe.key, (start, self.arena.len()));
        self.pins.push(probe.pin);
    }
}

/// Values encoded to fewer bytes than this are not worth an entry in the [`Cache`].
const CACHE_MIN_BYTES: usize = 128;

/// What a [`Cache`] may hold (encoded bytes plus the allocations its weak references keep)
/// before it drops its dead entries, and then all of them.
const CACHE_BUDGET: usize = 8 << 20;

/// The bytes of large shared values, kept from one checkpoint to the next (one per compiled
/// graph). A value is found again by its allocation while it lives, so a large document that
/// stays in a thread's state, or that every run receives, is encoded once.
///
/// Memory is bounded: at most about [`CACHE_BUDGET`] bytes, counting both the encoded bytes and
/// the allocations of dead values that its weak references keep from being freed. Concurrent
/// runs do not wait for it: a scope that finds it in use encodes without it.
pub(crate) struct Cache {
    /// `None` while a scope uses the entries.
    slot: Mutex<Option<Entries>>,
}

impl Default for Cache {
    fn default() -> Self {
        Cache {
            slot: Mutex::new(Some(Entries::default())),
        }
    }
}

#[derive(Default)]
struct Entries {
    map: ByAddress<Cached>,
    /// Encoded bytes plus the sizes of the allocations held.
    held: usize,
}

struct Cached {
    bytes: Box<[u8]>,
    allocation: Box<dyn Held>,
    /// What this entry counts in [`Entries::held`].
    weight: usize,
}

impl Entries {
    /// Keeps `bytes` for the value `pin` holds; false when too small or too large to keep.
    fn insert(&mut self, key: (usize, usize), pin: &dyn Pin, bytes: &[u8]) -> bool {
        if bytes.len() < CACHE_MIN_BYTES {
            return false;
        }
        let weight = bytes.len() + key.1;
        if self.held + weight > CACHE_BUDGET {
            self.map.retain(|_, c| c.allocation.alive());
            self.held = self.map.values().map(|c| c.weight).sum();
            if self.held + weight > CACHE_BUDGET {
                self.map.clear();
                self.held = 0;
            }
        }
        if weight > CACHE_BUDGET {
            return false;
        }
        let cached = Cached {
            bytes: bytes.into(),
            allocation: pin.downgrade(),
            weight,
        };
        if let Some(old) = self.map.insert(key, cached) {
            self.held -= old.weight;
        }
        self.held += weight;
        true
    }
}

impl Cache {
    fn take(&self) -> Option<Entries> {
        self.slot.lock().ok().and_then(|mut slot| slot.take())
    }

    fn put_back(&self, entries: Entries) {
        if let Ok(mut slot) = self.slot.lock() {
            *slot = Some(entries);
        }
    }
}

/// Runs `f` (the encoding of one checkpoint's fields) with a memo of shared values.
#[cfg(test)]
pub(crate) fn scope<R>(f: impl FnOnce() -> R) -> R {
    with_memo(Memo::default(), f).0
}

/// [`scope`], with the bytes `cache` kept from earlier checkpoints, and keeping this one's.
pub(crate) fn scope_with<R>(cache: &Cache, f: impl FnOnce() -> R) -> R {
    /// Puts an empty cache back if `f` panics, so that later scopes still have one.
    struct Refill<'a>(Option<&'a Cache>);
    impl Drop for Refill<'_> {
        fn drop(&mut self) {
            if let Some(cache) = self.0.take() {
                cache.put_back(Entries::default());
            }
        }
    }
    // A cache another scope holds right now is not used here: this scope encodes without it.
    let entries = cache.take();
    let mut refill = Refill(entries.is_some().then_some(cache));
    let memo = Memo {
        cache: entries,
        ..Memo::default()
    };
    let (out, memo) = with_memo(memo, f);
    if refill.0.take().is_some() {
        cache.put_back(memo.and_then(|m| m.cache).unwrap_or_default());
    }
    out
}

/// Runs `f` with `memo` as the current memo; returns what `f` gave and the memo after it.
fn with_memo<R>(memo: Memo, f: impl FnOnce() -> R) -> (R, Option<Memo>) {
    struct Restore(Option<Option<Memo>>);
    impl Drop for Restore {
        fn drop(&mut self) {
            // On a panic in `f`: restore the outer memo all the same.
            if let Some(outer) = self.0.take() {
                MEMO.with(|memo| *memo.borrow_mut() = outer);
            }
        }
    }
    let outer = MEMO.with(|slot| slot.replace(Some(memo)));
    let mut restore = Restore(Some(outer));
    let out = f();
    let outer = restore.0.take().flatten();
    let ours = MEMO.with(|slot| slot.replace(outer));
    (out, ours)
}

/// Takes the current scope's memo, if any, for one encoding (see [`give_back`]).
pub(crate) fn take() -> Option<Memo> {
    MEMO.with(|memo| memo.borrow_mut().take())
}

/// Returns a memo taken with [`take`].
pub(crate) fn give_back(memo: Option<Memo>) {
    if memo.is_some() {
        MEMO.with(|slot| *slot.borrow_mut() = memo);
    }
}

/// A hasher for allocation addresses (for maps keyed by `Arc` identity), which are unique and
/// well spread already: one multiply mixes them, where SipHash's flood resistance would buy
/// nothing.
// Public only for the workspace's benches; hidden from the docs, not part of the API.
#[doc(hidden)]
#[derive(Default)]
pub struct AddressHasher(u64);

impl Hasher for AddressHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.write_u64(u64::from(b));
        }
    }

    fn write_usize(&mut self, n: usize) {
        self.write_u64(n as u64);
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = (self.0.rotate_left(5) ^ n).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    }
}

#[cfg(all(test, feature = "msgpack"))]
#[path = "shared_tests.rs"]
mod tests;
