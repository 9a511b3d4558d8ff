//! Values shared by reference across a state, encoded once per checkpoint.
//!
//! A state often holds one large value in several places: the same document in the message list,
//! in a "last event" field and in a map of participants, each an [`Arc`] clone. Rust shares it for
//! free; a checkpoint would encode it once per place. Mark such `Arc` fields with
//! [`serialize`] and the MessagePack codec ([`MsgPackCodec`](super::MsgPackCodec)) encodes each
//! shared allocation once per checkpoint and copies its bytes wherever it occurs again.
//!
//! The bytes are exactly what encoding it again would give, so every stored field stays
//! self-contained (fields are versioned and read separately) and decoding needs nothing special.
//! Other codecs encode the value as usual: the marking is transparent to them.
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
//! Identity is the allocation: a marked value must not change while a checkpoint is encoded,
//! which holds for anything without interior mutability behind the `Arc`.

// Only the MessagePack encoder reads the memo.
#![cfg_attr(not(feature = "msgpack"), allow(dead_code))]

use std::any::Any;
use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::Arc;

use serde::{Serialize, Serializer};

/// The newtype name that tells the MessagePack encoder a value is shared. Other serializers
/// treat it as any newtype struct: transparently.
pub(crate) const TOKEN: &str = "$agentflow::checkpoint::shared";

/// Serializes `value`, marked as shared (use with `#[serde(serialize_with = ...)]`). Decoding
/// needs no counterpart: the bytes are the value's own.
pub fn serialize<T, S>(value: &Arc<T>, serializer: S) -> Result<S::Ok, S::Error>
where
    T: ?Sized + Serialize + 'static,
    S: Serializer,
{
    serializer.serialize_newtype_struct(TOKEN, &Marked(value))
}

/// A shared value as the encoder sees it inside the [`TOKEN`] newtype.
struct Marked<'a, T: ?Sized>(&'a Arc<T>);

impl<T: ?Sized + Serialize + 'static> Serialize for Marked<'_, T> {
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
    pin: Box<dyn Any>,
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

/// The encoded bytes of the shared values met so far in one checkpoint.
#[derive(Default)]
pub(crate) struct Memo {
    /// Where each value's bytes are in `arena`.
    ranges: HashMap<(usize, usize), (usize, usize), BuildHasherDefault<AddressHasher>>,
    /// The bytes of every value met, one after the other (one buffer, not one per value).
    arena: Vec<u8>,
    pins: Vec<Box<dyn Any>>,
}

impl Memo {
    /// The bytes of a value already encoded.
    pub(crate) fn get(&self, probe: &Probe) -> Option<&[u8]> {
        let &(start, end) = self.ranges.get(&probe.key)?;
        self.arena.get(start..end)
    }

    /// Remembers a value's bytes.
    pub(crate) fn insert(&mut self, probe: Probe, bytes: &[u8]) {
        let start = self.arena.len();
        self.arena.extend_from_slice(bytes);
        self.ranges.insert(probe.key, (start, self.arena.len()));
        self.pins.push(probe.pin);
    }
}

/// Runs `f` (the encoding of one checkpoint's fields) with a memo of shared values.
pub(crate) fn scope<R>(f: impl FnOnce() -> R) -> R {
    struct Restore(Option<Memo>);
    impl Drop for Restore {
        fn drop(&mut self) {
            let outer = self.0.take();
            MEMO.with(|memo| *memo.borrow_mut() = outer);
        }
    }
    let outer = MEMO.with(|memo| memo.replace(Some(Memo::default())));
    let _restore = Restore(outer);
    f()
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
