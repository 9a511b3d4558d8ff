//! The MessagePack encoder of the opt-in [`FastMsgPackCodec`](super::FastMsgPackCodec)
//! ([`MsgPackCodec`](super::MsgPackCodec) uses plain `rmp_serde`).
//!
//! It writes byte for byte what `rmp_serde::to_vec_named` writes (structs as maps with field
//! names, enums as `{variant: value}`, the smallest integer and length markers), so
//! `rmp_serde` decodes it, and it adds one thing: values marked with
//! [`shared::serialize`](super::shared::serialize) are encoded once per checkpoint and copied
//! after that. It is also leaner per value than `rmp_serde`, which matters on large states.

use std::cell::Cell;
use std::fmt;

use serde::Serialize;
use serde::ser;

use super::shared::{self, Memo};

/// The name `rmp_serde` gives its extension-type newtype.
const RMP_EXT: &str = "_ExtStruct";

/// The largest scratch buffer a thread keeps between encodings.
const SCRATCH_KEPT: usize = 1 << 20;

thread_local! {
    /// The buffer encodings grow in: kept, so that a large value does not grow a new one by
    /// doubling each time (a chain of reallocations, each a copy, in the allocator's slow path).
    static SCRATCH: Cell<Vec<u8>> = const { Cell::new(Vec::new()) };
}

/// Encodes `value`, with the memo of the current [`shared::scope`] if there is one.
pub(crate) fn to_vec<T: Serialize + ?Sized>(value: &T) -> Result<Vec<u8>, Error> {
    let mut out = SCRATCH.take();
    out.clear();
    let mut encoder = Encoder {
        out,
        memo: shared::take(),
    };
    let result = value.serialize(&mut encoder);
    shared::give_back(encoder.memo.take());
    result?;
    if encoder.out.capacity() > SCRATCH_KEPT {
        // Too large to keep: hand the buffer over rather than copy megabytes.
        return Ok(encoder.out);
    }
    // One allocation of the exact size.
    let bytes = encoder.out.as_slice().to_vec();
    SCRATCH.set(encoder.out);
    Ok(bytes)
}

/// An encoding error: a value the format cannot hold.
#[derive(Debug)]
pub(crate) struct Error(String);

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Error {}

impl ser::Error for Error {
    fn custom<T: fmt::Display>(msg: T) -> Self {
        Error(msg.to_string())
    }
}

struct Encoder {
    out: Vec<u8>,
    memo: Option<Memo>,
}

fn len32(len: usize) -> Result<u32, Error> {
    u32::try_from(len).map_err(|_| Error(format!("a length of {len} does not fit MessagePack")))
}

impl Encoder {
    #[inline]
    fn uint(&mut self, v: u64) {
        if v < 128 {
            self.out.push(v as u8);
        } else if v < 256 {
            self.out.extend_from_slice(&[0xcc, v as u8]);
        } else if v < 65_536 {
            self.out.push(0xcd);
            self.out.extend_from_slice(&(v as u16).to_be_bytes());
        } else if v < 4_294_967_296 {
            self.out.push(0xce);
            self.out.extend_from_slice(&(v as u32).to_be_bytes());
        } else {
            self.out.push(0xcf);
            self.out.extend_from_slice(&v.to_be_bytes());
        }
    }

    fn sint(&mut self, v: i64) {
        if v >= 0 {
            return self.uint(v as u64);
        }
        if v >= -32 {
            self.out.push(v as i8 as u8);
        } else if v >= -128 {
            self.out.extend_from_slice(&[0xd0, v as i8 as u8]);
        } else if v >= -32_768 {
            self.out.push(0xd1);
            self.out.extend_from_slice(&(v as i16).to_be_bytes());
        } else if v >= -2_147_483_648 {
            self.out.push(0xd2);
            self.out.extend_from_slice(&(v as i32).to_be_bytes());
        } else {
            self.out.push(0xd3);
            self.out.extend_from_slice(&v.to_be_bytes());
        }
    }

    /// A length header: the fix form below `fix_limit`, else the 8-bit form if there is one
    /// (`m8`), else 16 or 32 bits.
    #[inline]
    fn header(&mut self, len: u32, fix: u8, fix_limit: u32, m8: Option<u8>, m16: u8) {
        if len < fix_limit {
            self.out.push(fix | len as u8);
        } else if let (Some(m8), true) = (m8, len < 256) {
            self.out.extend_from_slice(&[m8, len as u8]);
        } else if len < 65_536 {
            self.out.push(m16);
            self.out.extend_from_slice(&(len as u16).to_be_bytes());
        } else {
            self.out.push(m16 + 1);
            self.out.extend_from_slice(&len.to_be_bytes());
        }
    }

    fn array_len(&mut self, len: u32) {
        self.header(len, 0x90, 16, None, 0xdc);
    }

    fn map_len(&mut self, len: u32) {
        self.header(len, 0x80, 16, None, 0xde);
    }

    #[inline]
    fn str(&mut self, s: &str) -> Result<(), Error> {
        // Lists of one-letter strings are common: their path is a fixed-size copy, inlined into
        // the caller, with no call to memcpy or to the general header.
        match *s.as_bytes() {
            [a] => self.out.extend_from_slice(&[0xa1, a]),
            [a, b] => self.out.extend_from_slice(&[0xa2, a, b]),
            _ => return self.any_str(s.as_bytes()),
        }
        Ok(())
    }

    #[inline(never)]
    fn any_str(&mut self, bytes: &[u8]) -> Result<(), Error> {
        self.header(len32(bytes.len())?, 0xa0, 32, Some(0xd9), 0xda);
        self.out.extend_from_slice(bytes);
        Ok(())
    }

    fn bin(&mut self, b: &[u8]) -> Result<(), Error> {
        // bin has no fix form: a limit of 0 skips it.
        self.header(len32(b.len())?, 0, 0, Some(0xc4), 0xc5);
        self.out.extend_from_slice(b);
        Ok(())
    }

    /// The start of an enum variant with data: `{variant: data}`, as `rmp_serde` writes it.
    fn variant(&mut self, variant: &str) -> Result<&mut Self, Error> {
        self.map_len(1);
        self.str(variant)?;
        Ok(self)
    }

    /// A container whose length is known now, or counted and written in front at the end.
    fn compound(&mut self, len: Option<usize>, map: bool) -> Result<Compound<'_>, Error> {
        let unknown = match len {
            Some(len) => {
                // At least a byte per item: saves most of the buffer's regrowth on long lists.
                self.out.reserve(len);
                let len = len32(len)?;
                if map {
                    self.map_len(len)
                } else {
                    self.array_len(len)
                }
                None
            }
            None => Some((self.out.len(), 0)),
        };
        Ok(Compound {
            enc: self,
            unknown,
            map,
        })
    }

    /// A value marked shared: copied from the memo when this checkpoint encoded it already.
    fn shared<T: ?Sized + Serialize>(&mut self, value: &T) -> Result<(), Error> {
        let scratch = &mut Encoder {
            out: Vec::new(),
            memo: None,
        };
        let Some(probe) = shared::probe(value, scratch) else {
            return value.serialize(self);
        };
        if let Some(bytes) = self.memo.as_ref().and_then(|memo| memo.get(&probe)) {
            self.out.extend_from_slice(bytes);
            return Ok(());
        }
        let start = self.out.len();
        value.serialize(&mut *self)?;
        if let Some(memo) = self.memo.as_mut() {
            memo.insert(probe, &self.out[start..]);
        }
        Ok(())
    }
}

/// A sequence, tuple, map or struct being written.
struct Compound<'a> {
    enc: &'a mut Encoder,
    /// For a length not known up front: where the container starts, and the items so far.
    unknown: Option<(usize, u32)>,
    map: bool,
}

impl Compound<'_> {
    #[inline]
    fn item<T: ?Sized + Serialize>(&mut self, value: &T) -> Result<(), Error> {
        if let Some((_, count)) = &mut self.unknown {
            *count = count
                .checked_add(1)
                .ok_or_else(|| Error("too many items for MessagePack".into()))?;
        }
        value.serialize(&mut *self.enc)
    }

    fn finish(self) -> Result<(), Error> {
        if let Some((start, count)) = self.unknown {
            // Write the header at the end of the buffer, then rotate it in front of the items.
            let end = self.enc.out.len();
            if self.map {
                self.enc.map_len(count / 2);
            } else {
                self.enc.array_len(count);
            }
            let header = self.enc.out.len() - end;
            self.enc.out[start..].rotate_right(header);
        }
        Ok(())
    }
}

impl ser::SerializeSeq for Compound<'_> {
    type Ok = ();
    type Error = Error;

    fn serialize_element<T: ?Sized + Serialize>(&mut self, value: &T) -> Result<(), Error> {
        self.item(value)
    }

    fn end(self) -> Result<(), Error> {
        self.finish()
    }
}

macro_rules! elements {
    ($($trait:ident :: $method:ident),*) => {$(
        impl ser::$trait for Compound<'_> {
            type Ok = ();
            type Error = Error;

            fn $method<T: ?Sized + Serialize>(&mut self, value: &T) -> Result<(), Error> {
                self.item(value)
            }

            fn end(self) -> Result<(), Error> {
                self.finish()
            }
        }
    )*};
}

elements!(
    SerializeTuple::serialize_element,
    SerializeTupleStruct::serialize_field,
    SerializeTupleVariant::serialize_field
);

impl ser::SerializeMap for Compound<'_> {
    type Ok = ();
    type Error = Error;

    fn serialize_key<T: ?Sized + Serialize>(&mut self, key: &T) -> Result<(), Error> {
        self.item(key)
    }

    fn serialize_value<T: ?Sized + Serialize>(&mut self, value: &T) -> Result<(), Error> {
        self.item(value)
    }

    fn end(self) -> Result<(), Error> {
        self.finish()
    }
}

macro_rules! fields {
    ($($trait:ident),*) => {$(
        impl ser::$trait for Compound<'_> {
            type Ok = ();
            type Error = Error;

            fn serialize_field<T: ?Sized + Serialize>(&mut self, key: &'static str, value: &T) -> Result<(), Error> {
                self.enc.str(key)?;
                value.serialize(&mut *self.enc)
            }

            fn end(self) -> Result<(), Error> {
                Ok(())
            }
        }
    )*};
}

fields!(SerializeStruct, SerializeStructVariant);

/// Narrow integers are written as their widened value (MessagePack picks the smallest form).
macro_rules! widen {
    ($($method:ident($ty:ty) => $wide_method:ident($wide:ty)),* $(,)?) => {$(
        fn $method(self, v: $ty) -> Result<(), Error> {
            self.$wide_method(<$wide>::from(v))
        }
    )*};
}

impl<'a> ser::Serializer for &'a mut Encoder {
    type Ok = ();
    type Error = Error;
    type SerializeSeq = Compound<'a>;
    type SerializeTuple = Compound<'a>;
    type SerializeTupleStruct = Compound<'a>;
    type SerializeTupleVariant = Compound<'a>;
    type SerializeMap = Compound<'a>;
    type SerializeStruct = Compound<'a>;
    type SerializeStructVariant = Compound<'a>;

    fn is_human_readable(&self) -> bool {
        false
    }

    fn serialize_bool(self, v: bool) -> Result<(), Error> {
        self.out.push(if v { 0xc3 } else { 0xc2 });
        Ok(())
    }

    widen! {
        serialize_i8(i8) => serialize_i64(i64),
        serialize_i16(i16) => serialize_i64(i64),
        serialize_i32(i32) => serialize_i64(i64),
        serialize_u8(u8) => serialize_u64(u64),
        serialize_u16(u16) => serialize_u64(u64),
        serialize_u32(u32) => serialize_u64(u64),
    }

    fn serialize_i64(self, v: i64) -> Result<(), Error> {
        self.sint(v);
        Ok(())
    }

    fn serialize_i128(self, v: i128) -> Result<(), Error> {
        self.bin(&v.to_be_bytes())
    }

    fn serialize_u64(self, v: u64) -> Result<(), Error> {
        self.uint(v);
        Ok(())
    }

    fn serialize_u128(self, v: u128) -> Result<(), Error> {
        self.bin(&v.to_be_bytes())
    }

    fn serialize_f32(self, v: f32) -> Result<(), Error> {
        self.out.push(0xca);
        self.out.extend_from_slice(&v.to_be_bytes());
        Ok(())
    }

    fn serialize_f64(self, v: f64) -> Result<(), Error> {
        self.out.push(0xcb);
        self.out.extend_from_slice(&v.to_be_bytes());
        Ok(())
    }

    fn serialize_char(self, v: char) -> Result<(), Error> {
        self.str(v.encode_utf8(&mut [0; 4]))
    }

    fn serialize_str(self, v: &str) -> Result<(), Error> {
        self.str(v)
    }

    fn serialize_bytes(self, v: &[u8]) -> Result<(), Error> {
        self.bin(v)
    }

    fn serialize_none(self) -> Result<(), Error> {
        self.serialize_unit()
    }

    fn serialize_some<T: ?Sized + Serialize>(self, value: &T) -> Result<(), Error> {
        value.serialize(self)
    }

    fn serialize_unit(self) -> Result<(), Error> {
        self.out.push(0xc0);
        Ok(())
    }

    fn serialize_unit_struct(self, _name: &'static str) -> Result<(), Error> {
        self.array_len(0);
        Ok(())
    }

    fn serialize_unit_variant(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
    ) -> Result<(), Error> {
        self.str(variant)
    }

    fn serialize_newtype_struct<T: ?Sized + Serialize>(
        self,
        name: &'static str,
        value: &T,
    ) -> Result<(), Error> {
        match name {
            shared::TOKEN if self.memo.is_some() => self.shared(value),
            RMP_EXT => Err(Error(
                "MessagePack extension types are not supported in checkpoints".into(),
            )),
            _ => value.serialize(self),
        }
    }

    fn serialize_newtype_variant<T: ?Sized + Serialize>(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
        value: &T,
    ) -> Result<(), Error> {
        value.serialize(self.variant(variant)?)
    }

    fn serialize_seq(self, len: Option<usize>) -> Result<Compound<'a>, Error> {
        self.compound(len, false)
    }

    fn serialize_tuple(self, len: usize) -> Result<Compound<'a>, Error> {
        self.compound(Some(len), false)
    }

    fn serialize_tuple_struct(self, _name: &'static str, len: usize) -> Result<Compound<'a>, Error> {
        self.compound(Some(len), false)
    }

    fn serialize_tuple_variant(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
        len: usize,
    ) -> Result<Compound<'a>, Error> {
        self.variant(variant)?.compound(Some(len), false)
    }

    fn serialize_map(self, len: Option<usize>) -> Result<Compound<'a>, Error> {
        self.compound(len, true)
    }

    fn serialize_struct(self, _name: &'static str, len: usize) -> Result<Compound<'a>, Error> {
        self.compound(Some(len), true)
    }

    fn serialize_struct_variant(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
        len: usize,
    ) -> Result<Compound<'a>, Error> {
        self.variant(variant)?.compound(Some(len), true)
    }
}

#[cfg(test)]
#[path = "msgpack_tests.rs"]
mod tests;
