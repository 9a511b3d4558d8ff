//! The encoder against `rmp_serde`, byte for byte, and the shared-value memo.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use serde::{Deserialize, Serialize, Serializer};

use super::to_vec;
use crate::checkpoint::shared;

fn same_as_rmp<T: Serialize + ?Sized>(value: &T) {
    let ours = to_vec(value).unwrap();
    let theirs = rmp_serde::to_vec_named(value).unwrap();
    assert_eq!(ours, theirs, "encodings differ");
}

#[derive(Serialize)]
struct Unit;

#[derive(Serialize)]
struct Newtype(u32);

#[derive(Serialize)]
struct Pair(i8, String);

#[derive(Serialize)]
enum Kind {
    Plain,
    Wrapped(u8),
    Tuple(u8, bool),
    Fields { a: u8, b: Option<u8> },
}

#[derive(Serialize)]
struct Inner {
    x: u8,
}

#[derive(Serialize)]
struct Outer {
    name: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    skipped: Option<u8>,
    #[serde(flatten)]
    inner: Inner,
}

struct Bytes(Vec<u8>);

impl Serialize for Bytes {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_bytes(&self.0)
    }
}

/// A sequence whose length serde does not know up front.
struct Evens(u32);

impl Serialize for Evens {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq((0..self.0).filter(|n| n % 2 == 0))
    }
}

#[test]
fn integers_at_every_marker_boundary() {
    let ints: Vec<i64> = vec![
        0,
        1,
        127,
        128,
        255,
        256,
        65_535,
        65_536,
        4_294_967_295,
        4_294_967_296,
        i64::MAX,
        -1,
        -32,
        -33,
        -128,
        -129,
        -32_768,
        -32_769,
        -2_147_483_648,
        -2_147_483_649,
        i64::MIN,
    ];
    same_as_rmp(&ints);
    same_as_rmp(&[u64::MAX, 200, 70_000]);
    same_as_rmp(&(i8::MIN, i16::MIN, i32::MIN, u8::MAX, u16::MAX, u32::MAX));
    same_as_rmp(&(i128::MIN, u128::MAX));
    same_as_rmp(&(1.5f32, -2.25f64, f64::NAN.is_nan()));
}

#[test]
fn strings_bytes_and_containers_at_every_length_boundary() {
    // 1 and 2 have their own fast path.
    for len in [0, 1, 2, 3, 15, 16, 31, 32, 255, 256, 65_535, 65_536] {
        same_as_rmp(&"x".repeat(len));
        same_as_rmp(&Bytes(vec![7; len]));
        same_as_rmp(&vec![true; len]);
        let map: BTreeMap<u32, ()> = (0..len as u32).map(|k| (k, ())).collect();
        same_as_rmp(&map);
    }
    same_as_rmp(&'é');
    same_as_rmp(&vec!["a", "é", "bc", "", "xyz"]);
}

#[test]
fn structs_enums_options_and_unknown_lengths() {
    same_as_rmp(&Unit);
    same_as_rmp(&());
    same_as_rmp(&Newtype(9));
    same_as_rmp(&Pair(-5, "p".into()));
    same_as_rmp(&vec![
        Kind::Plain,
        Kind::Wrapped(3),
        Kind::Tuple(1, false),
        Kind::Fields { a: 1, b: None },
        Kind::Fields { a: 2, b: Some(4) },
    ]);
    same_as_rmp(&Outer {
        name: "o",
        skipped: None,
        inner: Inner { x: 3 },
    });
    same_as_rmp(&Evens(10));
    same_as_rmp(&Evens(100));
    same_as_rmp(&Evens(0));
    same_as_rmp(&(Some(1u8), None::<u8>, Some(Some(())), vec![vec![1u8], vec![]]));
}

#[test]
fn extension_types_are_refused_not_mangled() {
    #[derive(Serialize)]
    #[serde(rename = "_ExtStruct")]
    struct Ext((i8, Vec<u8>));
    let err = to_vec(&Ext((1, vec![1, 2]))).unwrap_err();
    assert!(err.to_string().contains("extension"), "{err}");
}

/// Counts how often it is serialized.
struct Counted(&'static AtomicUsize, u32);

impl Serialize for Counted {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.0.fetch_add(1, Ordering::SeqCst);
        s.serialize_u32(self.1)
    }
}

#[derive(Serialize)]
struct Holder {
    #[serde(serialize_with = "shared::serialize")]
    a: Arc<Counted>,
    #[serde(serialize_with = "shared::serialize")]
    b: Arc<Counted>,
}

#[test]
fn a_shared_value_is_encoded_once_per_scope_with_identical_bytes() {
    static COUNT: AtomicUsize = AtomicUsize::new(0);
    let value = Arc::new(Counted(&COUNT, 70_000));
    let holder = Holder {
        a: value.clone(),
        b: value.clone(),
    };
    let plain = to_vec(&holder).unwrap();
    assert_eq!(
        COUNT.swap(0, Ordering::SeqCst),
        2,
        "without a scope every place encodes"
    );
    assert_eq!(plain, rmp_serde::to_vec_named(&holder).unwrap());
    COUNT.store(0, Ordering::SeqCst);

    let (first, second) = shared::scope(|| (to_vec(&holder).unwrap(), to_vec(&*value).unwrap()));
    assert_eq!(
        COUNT.load(Ordering::SeqCst),
        2,
        "once for the holder, once unmarked"
    );
    assert_eq!(first, plain);
    assert_eq!(second, to_vec(&70_000u32).unwrap());

    // JSON sees the marking as a transparent newtype.
    assert_eq!(
        serde_json::to_string(&holder).unwrap(),
        r#"{"a":70000,"b":70000}"#
    );
}

/// Serializes fresh, short-lived `Arc`s: without pinning, a freed address would be reused by
/// the next one and the memo would hand back the previous value's bytes.
struct Temporaries(u32);

impl Serialize for Temporaries {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        struct One(u32);
        impl Serialize for One {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                shared::serialize(&Arc::new(format!("value {}", self.0)), s)
            }
        }
        s.collect_seq((0..self.0).map(One))
    }
}

#[test]
fn temporary_arcs_never_alias_in_the_memo() {
    let bytes = shared::scope(|| to_vec(&Temporaries(200)).unwrap());
    let back: Vec<String> = rmp_serde::from_slice(&bytes).unwrap();
    let want: Vec<String> = (0..200).map(|i| format!("value {i}")).collect();
    assert_eq!(back, want);
}

#[derive(Serialize, Deserialize, Debug, PartialEq)]
struct Doc {
    title: String,
    tags: Vec<String>,
}

#[test]
fn shared_slices_and_nested_shares_roundtrip() {
    #[derive(Serialize)]
    struct State {
        #[serde(serialize_with = "shared::serialize")]
        docs: Arc<[Doc]>,
        #[serde(serialize_with = "shared::serialize")]
        same: Arc<[Doc]>,
        #[serde(serialize_with = "shared::serialize")]
        prefix: Arc<[Doc]>,
    }
    let docs: Arc<[Doc]> = (0..3)
        .map(|i| Doc {
            title: format!("t{i}"),
            tags: vec!["a".into(); i],
        })
        .collect();
    // A different slice at a different address with other contents.
    let prefix: Arc<[Doc]> = docs[..1]
        .iter()
        .map(|d| Doc {
            title: d.title.clone(),
            tags: d.tags.clone(),
        })
        .collect();
    let state = State {
        docs: docs.clone(),
        same: docs,
        prefix,
    };
    let bytes = shared::scope(|| to_vec(&state).unwrap());
    assert_eq!(bytes, rmp_serde::to_vec_named(&state).unwrap());
}

#[test]
fn large_and_small_values_in_turn_encode_as_rmp_does() {
    // Past the kept scratch buffer's size, then within it, then past it again.
    let large = "x".repeat(3 << 20);
    let list: Vec<String> = (0..50_000).map(|i| format!("item {i}")).collect();
    for _ in 0..2 {
        same_as_rmp(&large);
        same_as_rmp(&Pair(-1, "small".into()));
        same_as_rmp(&list);
    }
}
