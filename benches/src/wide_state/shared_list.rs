//! Checkpoint encoding of the wide state's lists, whose items repeat by reference.

/// Checkpoint encoding of a list whose items repeat by reference (the lists re-append each
/// other): each shared item is written once, then referred to by index, the way `pickle`'s memo
/// keeps Python references. Decoding restores the sharing. Scalars are written as they are.
pub(super) mod shared {
    use std::collections::HashMap;
    use std::hash::BuildHasherDefault;

    use agentflow_core::checkpoint::shared::AddressHasher;

    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    use super::super::Val;

    #[derive(Serialize)]
    struct Out<'a> {
        unique: Vec<&'a Val>,
        order: Indices,
    }

    #[derive(Deserialize)]
    struct In {
        unique: Vec<Val>,
        order: Indices,
    }

    /// Indices into `unique`, written as one byte string of LEB128 varints: most are below
    /// 128, so one byte each and one copy for the lot, where a list of numbers costs a call per
    /// index to encode and to decode.
    #[derive(Default)]
    struct Indices(Vec<u8>);

    impl Indices {
        fn push(&mut self, mut index: u32) {
            while index >= 0x80 {
                self.0.push((index as u8) | 0x80);
                index >>= 7;
            }
            self.0.push(index as u8);
        }

        fn iter(&self) -> impl Iterator<Item = Result<u32, &'static str>> + '_ {
            let mut bytes = self.0.iter();
            std::iter::from_fn(move || {
                let mut value = 0u32;
                for shift in (0..35).step_by(7) {
                    let Some(&b) = bytes.next() else {
                        return (shift > 0).then_some(Err("truncated index"));
                    };
                    value |= u32::from(b & 0x7f).checked_shl(shift).unwrap_or(0);
                    if b & 0x80 == 0 {
                        return Some(Ok(value));
                    }
                }
                Some(Err("index longer than five bytes"))
            })
        }
    }

    impl Serialize for Indices {
        fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
            serializer.serialize_bytes(&self.0)
        }
    }

    impl<'de> Deserialize<'de> for Indices {
        fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
            struct Visit;
            impl<'de> serde::de::Visitor<'de> for Visit {
                type Value = Indices;
                fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                    f.write_str("a byte string of indices")
                }
                fn visit_bytes<E: serde::de::Error>(self, v: &[u8]) -> Result<Indices, E> {
                    Ok(Indices(v.to_vec()))
                }
                fn visit_byte_buf<E: serde::de::Error>(self, v: Vec<u8>) -> Result<Indices, E> {
                    Ok(Indices(v))
                }
                // Formats without a byte type (JSON) write bytes as a list of numbers.
                fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Indices, A::Error> {
                    let mut bytes = Vec::with_capacity(seq.size_hint().unwrap_or(0));
                    while let Some(b) = seq.next_element::<u8>()? {
                        bytes.push(b);
                    }
                    Ok(Indices(bytes))
                }
            }
            deserializer.deserialize_bytes(Visit)
        }
    }

    /// Identity of a shared value: its allocation (and length, for slices).
    fn identity(value: &Val) -> Option<(usize, usize)> {
        match value {
            Val::Str(s) => Some((s.as_ptr() as usize, s.len())),
            Val::List(l) => Some((l.as_ptr() as usize, l.len())),
            Val::Map(m) => Some((std::sync::Arc::as_ptr(m) as usize, 0)),
            _ => None,
        }
    }

    pub fn serialize<S: Serializer>(list: &[Val], serializer: S) -> Result<S::Ok, S::Error> {
        let mut seen: HashMap<(usize, usize), u32, BuildHasherDefault<AddressHasher>> = HashMap::default();
        let mut out = Out {
            unique: Vec::new(),
            order: Indices(Vec::with_capacity(list.len())),
        };
        // Runs of one item are common (a list re-appended to itself): skip the lookup for them.
        let mut last: Option<((usize, usize), u32)> = None;
        for value in list {
            let next = out.unique.len() as u32;
            let index = match (identity(value), last) {
                (Some(id), Some((last_id, index))) if last_id == id => index,
                (Some(id), _) => {
                    let index = *seen.entry(id).or_insert_with(|| {
                        out.unique.push(value);
                        next
                    });
                    last = Some((id, index));
                    index
                }
                (None, _) => {
                    out.unique.push(value);
                    next
                }
            };
            out.order.push(index);
        }
        out.serialize(serializer)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<Val>, D::Error> {
        let In { unique, order } = In::deserialize(deserializer)?;
        order
            .iter()
            .map(|i| {
                let i = i.map_err(serde::de::Error::custom)?;
                unique
                    .get(i as usize)
                    .cloned()
                    .ok_or_else(|| serde::de::Error::custom(format!("shared index {i} out of range")))
            })
            .collect()
    }
}

/// [`shared`] for optional lists.
pub(super) mod shared_opt {
    use serde::{Deserialize, Deserializer, Serializer};

    use super::super::Val;

    pub fn serialize<S: Serializer>(list: &Option<Vec<Val>>, serializer: S) -> Result<S::Ok, S::Error> {
        match list {
            Some(list) => super::shared::serialize(list, serializer),
            None => serializer.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<Vec<Val>>, D::Error> {
        #[derive(Deserialize)]
        struct Wrap(#[serde(with = "super::shared")] Vec<Val>);
        Ok(Option::<Wrap>::deserialize(deserializer)?.map(|w| w.0))
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::super::Val;

    #[derive(serde::Serialize, serde::Deserialize, PartialEq, Debug)]
    struct Lists(#[serde(with = "super::shared")] Vec<Val>);

    #[test]
    fn lists_roundtrip_with_their_sharing_in_json_and_msgpack() {
        // 300 distinct items (indices past one varint byte), each repeated.
        let items: Vec<Val> = (0..300)
            .map(|i| Val::Str(Arc::from(format!("item {i}"))))
            .collect();
        let list: Vec<Val> = items.iter().chain(&items).chain(&items[..5]).cloned().collect();
        let lists = Lists(list);
        let json = serde_json::to_vec(&lists).unwrap();
        assert_eq!(serde_json::from_slice::<Lists>(&json).unwrap(), lists);
        let packed = rmp_serde::to_vec_named(&lists).unwrap();
        let back: Lists = rmp_serde::from_slice(&packed).unwrap();
        assert_eq!(back, lists);
        let (Val::Str(a), Val::Str(b)) = (&back.0[0], &back.0[300]) else {
            panic!("strings expected")
        };
        assert!(Arc::ptr_eq(a, b), "a repeated item decodes as one shared value");
    }

    #[test]
    fn corrupt_indices_are_an_error() {
        // unique = ["x"], order = [5]: out of range; order = [0x80]: truncated varint.
        for order in [vec![5u8], vec![0x80]] {
            let bytes = rmp_serde::to_vec_named(
                &serde_json::json!({"unique": ["x"], "order": serde_bytes_of(&order)}),
            )
            .unwrap();
            assert!(rmp_serde::from_slice::<Lists>(&bytes).is_err());
        }
    }

    /// The JSON value a byte string becomes.
    fn serde_bytes_of(bytes: &[u8]) -> serde_json::Value {
        serde_json::Value::from(bytes.to_vec())
    }
}
