//! Serialization of checkpointed values: serde-typed, through a pluggable [`Codec`].
//!
//! Every value is encoded from, and decoded into, a concrete Rust type. There is no dynamic type
//! information in the bytes and no way for stored data to pick the type it becomes: a stored
//! value that does not fit the expected type is a [`CodecError`], never code execution (the
//! class of bug behind LangGraph's msgpack CVE-2026-28277).

use std::fmt;

use serde::Serialize;
use serde::de::DeserializeOwned;

/// An encoding failed, or stored bytes do not fit the expected type.
#[derive(Debug, thiserror::Error)]
#[error("{codec} codec: {message}")]
pub struct CodecError {
    codec: &'static str,
    message: String,
}

impl CodecError {
    /// A codec error with a message.
    pub fn new(codec: &'static str, message: impl fmt::Display) -> Self {
        CodecError {
            codec,
            message: message.to_string(),
        }
    }
}

/// A serde data format for checkpoint values. Implementations wrap a serde format crate; see
/// [`JsonCodec`] and [`MsgPackCodec`] (and the opt-in [`FastMsgPackCodec`]).
pub trait Codec: Send + Sync + 'static {
    /// A short name stored with checkpoints (`"json"`, `"msgpack"`).
    fn name(&self) -> &'static str;

    /// For the codecs of this crate: which one, so that encoding skips the type erasure a
    /// pluggable codec needs (several times faster on large lists). Leave the default.
    #[doc(hidden)]
    fn builtin(&self) -> Option<Builtin> {
        None
    }

    /// Encodes a value.
    fn encode(&self, value: &dyn erased_serde::Serialize) -> Result<Vec<u8>, CodecError>;

    /// Runs `visit` with a deserializer over `bytes`.
    fn decode(
        &self,
        bytes: &[u8],
        visit: &mut dyn FnMut(&mut dyn erased_serde::Deserializer<'_>) -> Result<(), erased_serde::Error>,
    ) -> Result<(), CodecError>;
}

/// The codecs of this crate (see [`Codec::builtin`]).
#[doc(hidden)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Builtin {
    Json,
    #[cfg(feature = "msgpack")]
    MsgPack,
    #[cfg(feature = "msgpack")]
    FastMsgPack,
}

impl dyn Codec {
    /// Encodes `value`.
    pub fn to_bytes<T: Serialize>(&self, value: &T) -> Result<Vec<u8>, CodecError> {
        match self.builtin() {
            Some(Builtin::Json) => serde_json::to_vec(value).map_err(|e| CodecError::new("json", e)),
            #[cfg(feature = "msgpack")]
            Some(Builtin::MsgPack) => {
                rmp_serde::to_vec_named(value).map_err(|e| CodecError::new("msgpack", e))
            }
            #[cfg(feature = "msgpack")]
            Some(Builtin::FastMsgPack) => {
                super::msgpack::to_vec(value).map_err(|e| CodecError::new("msgpack", e))
            }
            None => self.encode(value),
        }
    }

    /// Decodes bytes into a `T`; bytes of another shape are an error.
    pub fn from_bytes<T: DeserializeOwned>(&self, bytes: &[u8]) -> Result<T, CodecError> {
        match self.builtin() {
            Some(Builtin::Json) => {
                return serde_json::from_slice(bytes).map_err(|e| CodecError::new("json", e));
            }
            #[cfg(feature = "msgpack")]
            Some(Builtin::MsgPack | Builtin::FastMsgPack) => {
                return rmp_serde::from_slice(bytes).map_err(|e| CodecError::new("msgpack", e));
            }
            None => {}
        }
        let mut out = None;
        self.decode(bytes, &mut |de| {
            out = Some(erased_serde::deserialize::<T>(de)?);
            Ok(())
        })?;
        out.ok_or_else(|| CodecError::new(self.name(), "the decoder produced no value"))
    }

    /// Runs `f` (the encoding of one checkpoint's values or of one task's writes) with the
    /// shared-value memo and the graph's `cache` when this is the [`FastMsgPackCodec`]; with any
    /// other codec, just runs `f`: the default path touches none of the cache's machinery.
    pub(crate) fn encoding_scope<R>(&self, cache: &super::shared::Cache, f: impl FnOnce() -> R) -> R {
        match self.builtin() {
            #[cfg(feature = "msgpack")]
            Some(Builtin::FastMsgPack) => super::shared::scope_with(cache, f),
            _ => {
                let _ = cache;
                f()
            }
        }
    }
}

/// JSON (the default): readable in a database console, and what PostgreSQL's `jsonb` takes.
#[derive(Debug, Clone, Copy, Default)]
pub struct JsonCodec;

impl Codec for JsonCodec {
    fn name(&self) -> &'static str {
        "json"
    }

    fn builtin(&self) -> Option<Builtin> {
        Some(Builtin::Json)
    }

    fn encode(&self, value: &dyn erased_serde::Serialize) -> Result<Vec<u8>, CodecError> {
        serde_json::to_vec(value).map_err(|e| CodecError::new("json", e))
    }

    fn decode(
        &self,
        bytes: &[u8],
        visit: &mut dyn FnMut(&mut dyn erased_serde::Deserializer<'_>) -> Result<(), erased_serde::Error>,
    ) -> Result<(), CodecError> {
        let mut de = serde_json::Deserializer::from_slice(bytes);
        let mut erased = <dyn erased_serde::Deserializer>::erase(&mut de);
        visit(&mut erased).map_err(|e| CodecError::new("json", e))?;
        de.end().map_err(|e| CodecError::new("json", e))
    }
}

/// MessagePack through plain `rmp_serde` (`to_vec_named`): compact, with field names kept so
/// that a state type may gain fields.
#[cfg(feature = "msgpack")]
#[derive(Debug, Clone, Copy, Default)]
pub struct MsgPackCodec;

#[cfg(feature = "msgpack")]
impl Codec for MsgPackCodec {
    fn name(&self) -> &'static str {
        "msgpack"
    }

    fn builtin(&self) -> Option<Builtin> {
        Some(Builtin::MsgPack)
    }

    fn encode(&self, value: &dyn erased_serde::Serialize) -> Result<Vec<u8>, CodecError> {
        rmp_serde::to_vec_named(value).map_err(|e| CodecError::new("msgpack", e))
    }

    fn decode(
        &self,
        bytes: &[u8],
        visit: &mut dyn FnMut(&mut dyn erased_serde::Deserializer<'_>) -> Result<(), erased_serde::Error>,
    ) -> Result<(), CodecError> {
        let mut de = rmp_serde::Deserializer::from_read_ref(bytes);
        let mut erased = <dyn erased_serde::Deserializer>::erase(&mut de);
        visit(&mut erased).map_err(|e| CodecError::new("msgpack", e))
    }
}

/// Opt-in MessagePack for states that hold large values shared by reference: the same bytes as
/// [`MsgPackCodec`] (it stores under the same name, and either reads what the other wrote),
/// written by a hand-written encoder that encodes each `Arc` marked with
/// [`shared::serialize`](super::shared::serialize) once per checkpoint, and a large one once
/// while it lives (a per-graph cache keyed by allocation address).
///
/// Invariant (yours to keep): a marked value never changes while it lives. Identity is the
/// allocation, so a value mutated in place behind its `Arc` (an `Arc<Mutex<_>>`, an atomic, any
/// interior mutability) would be stored with its old bytes. Plain `Arc<T>` keeps it by itself:
/// `Arc::make_mut` moves a changed value to a new allocation. See docs/persistence.md.
#[cfg(feature = "msgpack")]
#[derive(Debug, Clone, Copy, Default)]
pub struct FastMsgPackCodec;

#[cfg(feature = "msgpack")]
impl Codec for FastMsgPackCodec {
    fn name(&self) -> &'static str {
        "msgpack"
    }

    fn builtin(&self) -> Option<Builtin> {
        Some(Builtin::FastMsgPack)
    }

    fn encode(&self, value: &dyn erased_serde::Serialize) -> Result<Vec<u8>, CodecError> {
        super::msgpack::to_vec(value).map_err(|e| CodecError::new("msgpack", e))
    }

    fn decode(
        &self,
        bytes: &[u8],
        visit: &mut dyn FnMut(&mut dyn erased_serde::Deserializer<'_>) -> Result<(), erased_serde::Error>,
    ) -> Result<(), CodecError> {
        MsgPackCodec.decode(bytes, visit)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(serde::Serialize, serde::Deserialize, Debug, PartialEq)]
    struct Msg {
        id: u32,
        text: String,
    }

    fn roundtrip(codec: &dyn Codec) {
        let msg = Msg {
            id: 7,
            text: "hi".into(),
        };
        let bytes = codec.to_bytes(&msg).unwrap();
        assert_eq!(codec.from_bytes::<Msg>(&bytes).unwrap(), msg);
        // Bytes of another shape are refused, not coerced.
        let err = codec.from_bytes::<Vec<u64>>(&bytes).unwrap_err();
        assert!(err.to_string().starts_with(codec.name()), "{err}");
        assert!(codec.from_bytes::<Msg>(b"\xff\x00garbage").is_err());
    }

    /// A codec outside this crate: goes through the type-erased path.
    struct Plugged;
    impl Codec for Plugged {
        fn name(&self) -> &'static str {
            "plugged"
        }
        fn encode(&self, value: &dyn erased_serde::Serialize) -> Result<Vec<u8>, CodecError> {
            JsonCodec.encode(value)
        }
        fn decode(
            &self,
            bytes: &[u8],
            visit: &mut dyn FnMut(&mut dyn erased_serde::Deserializer<'_>) -> Result<(), erased_serde::Error>,
        ) -> Result<(), CodecError> {
            JsonCodec.decode(bytes, visit)
        }
    }

    #[test]
    fn a_pluggable_codec_roundtrips_through_the_erased_path() {
        assert!(Plugged.builtin().is_none());
        let plugged: &dyn Codec = &Plugged;
        let msg = Msg {
            id: 3,
            text: "x".into(),
        };
        let bytes = plugged.to_bytes(&msg).unwrap();
        assert_eq!(plugged.from_bytes::<Msg>(&bytes).unwrap(), msg);
        assert!(plugged.from_bytes::<Vec<u64>>(&bytes).is_err());
    }

    #[test]
    fn json_roundtrips_and_refuses_wrong_types() {
        roundtrip(&JsonCodec);
        let json: &dyn Codec = &JsonCodec;
        assert!(
            json.from_bytes::<Msg>(br#"{"id":1,"text":"a"} trailing"#)
                .is_err()
        );
    }

    #[cfg(feature = "msgpack")]
    #[test]
    fn msgpack_roundtrips_and_is_smaller() {
        roundtrip(&MsgPackCodec);
        let msg = Msg {
            id: 1,
            text: "x".repeat(10),
        };
        let json = JsonCodec.encode(&msg).unwrap();
        let pack = MsgPackCodec.encode(&msg).unwrap();
        assert!(pack.len() < json.len());
    }

    #[cfg(feature = "msgpack")]
    #[test]
    fn the_opt_in_msgpack_writes_what_plain_msgpack_writes() {
        roundtrip(&FastMsgPackCodec);
        let msg = Msg {
            id: 300,
            text: "y".repeat(40),
        };
        let plain: &dyn Codec = &MsgPackCodec;
        let fast: &dyn Codec = &FastMsgPackCodec;
        assert_eq!(plain.name(), fast.name());
        let plain_bytes = plain.to_bytes(&msg).unwrap();
        assert_eq!(plain_bytes, rmp_serde::to_vec_named(&msg).unwrap());
        assert_eq!(fast.to_bytes(&msg).unwrap(), plain_bytes);
        assert_eq!(fast.encode(&msg).unwrap(), plain.encode(&msg).unwrap());
    }
}
