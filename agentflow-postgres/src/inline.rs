//! Small field values kept in the checkpoint row instead of the `blobs` table.
//!
//! A counter or a status flag costs a heap row and an index entry per version in `blobs`, more
//! than the value itself; in the checkpoint row it costs a few bytes. So a full value of at most
//! [`INLINE_MAX`] bytes lives in the row's `inline` column (a JSONB object from field name to
//! `"version:hex bytes"`), and each later checkpoint carries it forward, server-side, until the
//! field changes. A value is read only where its version is the row's version of the field.
//!
//! A row thus holds its small values itself and stays readable alone (prune and copy need no
//! references between rows). What is carried per field is bounded like the version map each row
//! already holds. Deltas of append fields always go to `blobs`, where their chains are read; a
//! delta whose base is inline moves that base there first (see the superstep statement).

use std::collections::BTreeMap;

use agentflow_core::checkpoint::Corruption;

/// The largest value, in encoded bytes, kept in the checkpoint row.
pub(crate) const INLINE_MAX: usize = 64;

/// Whether a new value goes in the row: small and complete (not a delta).
pub(crate) fn fits(value: &[u8], is_delta: bool) -> bool {
    !is_delta && value.len() <= INLINE_MAX
}

/// The inline entry of a value: `"version:hex"`.
pub(crate) fn entry(version: u64, value: &[u8]) -> String {
    format!("{version}:{}", to_hex(value))
}

/// `bytes` in lowercase hex (what PostgreSQL's `decode(text, 'hex')` reads).
pub(crate) fn to_hex(bytes: &[u8]) -> String {
    hex::encode(bytes)
}

/// The bytes of a hex string; an error names the field whose stored value is damaged.
pub(crate) fn from_hex(field: &str, hex: &str) -> Result<Vec<u8>, Corruption> {
    hex::decode(hex).map_err(|_| damaged(field, "not valid hex"))
}

fn damaged(field: &str, detail: &str) -> Corruption {
    Corruption::Unreadable {
        what: format!("the inline value of field `{field}`"),
        detail: detail.to_owned(),
    }
}

/// The values of a row's `inline` column (absent in rows written before it existed) that hold
/// the row's version of their field.
pub(crate) fn read(
    column: Option<serde_json::Value>,
    versions: &BTreeMap<String, u64>,
) -> Result<BTreeMap<String, Vec<u8>>, Corruption> {
    let Some(column) = column else {
        return Ok(BTreeMap::new());
    };
    let serde_json::Value::Object(fields) = column else {
        return Err(Corruption::Unreadable {
            what: "the inline values of the checkpoint".into(),
            detail: "not a JSON object".into(),
        });
    };
    let mut out = BTreeMap::new();
    for (field, entry) in fields {
        let serde_json::Value::String(entry) = entry else {
            return Err(damaged(&field, "not a string"));
        };
        let (version, hex) = entry
            .split_once(':')
            .ok_or_else(|| damaged(&field, "not `version:hex`"))?;
        let version: u64 = version
            .parse()
            .map_err(|_| damaged(&field, "the version is not a number"))?;
        if versions.get(&field) == Some(&version) {
            let bytes = from_hex(&field, hex)?;
            out.insert(field, bytes);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_round_trips_every_byte() {
        let all: Vec<u8> = (0..=255).collect();
        assert_eq!(from_hex("f", &to_hex(&all)).unwrap(), all);
        assert_eq!(to_hex(b"\x00\x1f\xff"), "001fff");
    }

    #[test]
    fn damaged_values_are_errors_that_name_the_field() {
        for bad in ["abc", "zz", "0g"] {
            let err = from_hex("count", bad).unwrap_err().to_string();
            assert!(err.contains("count"), "{err}");
        }
        let versions = BTreeMap::from([("count".to_owned(), 7)]);
        for bad in [
            serde_json::json!(1),
            serde_json::json!("31"),
            serde_json::json!("x:31"),
        ] {
            let err = read(Some(serde_json::json!({ "count": bad })), &versions).unwrap_err();
            assert!(err.to_string().contains("count"), "{err}");
        }
        assert!(read(Some(serde_json::json!([1])), &versions).is_err());
        assert!(read(None, &versions).unwrap().is_empty());
    }

    #[test]
    fn a_value_is_read_only_at_its_version() {
        let column = serde_json::json!({ "count": entry(7, b"1"), "gone": entry(3, b"2") });
        let versions = BTreeMap::from([("count".to_owned(), 7), ("gone".to_owned(), 4)]);
        let values = read(Some(column), &versions).unwrap();
        assert_eq!(values, BTreeMap::from([("count".to_owned(), b"1".to_vec())]));
    }

    #[test]
    fn only_small_complete_values_fit() {
        assert!(fits(&[0; INLINE_MAX], false));
        assert!(!fits(&[0; INLINE_MAX + 1], false));
        assert!(!fits(b"[1]", true));
    }
}
