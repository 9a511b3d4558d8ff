//! Rebuilding a field's value from its stored segments: the one check of delta chains that
//! every saver shares.
//!
//! An append field is stored as a full value followed by deltas, each naming the version it
//! extends. A saver reads a field's segments newest first, at most [`MAX_DELTA_CHAIN`] + 1 of
//! them, and hands them to [`put_field_value`], which checks that they form one whole chain
//! before putting them in the checkpoint.

use std::collections::HashSet;

use super::{Checkpoint, Corruption};

/// The most values (one full value plus its deltas) a field's chain holds. The engine writes a
/// full value before a chain would grow longer, so a longer chain (or a loop) in storage is
/// damage; savers read at most one segment more than this, so a loop cannot run forever.
pub const MAX_DELTA_CHAIN: usize = 1000;

/// One stored value of a field: a full value (`base` is `None`) or a delta on version `base`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Segment {
    /// The version this value is stored at.
    pub version: u64,
    /// The version it extends, if it is a delta.
    pub base: Option<u64>,
    /// The encoded value.
    pub bytes: Vec<u8>,
}

impl Segment {
    /// A segment as a database row holds it (signed versions), checked with [`stored_version`].
    pub fn from_stored(
        field: &str,
        version: i64,
        base: Option<i64>,
        bytes: Vec<u8>,
    ) -> Result<Segment, Corruption> {
        Ok(Segment {
            version: stored_version(field, version)?,
            base: base.map(|b| stored_version(field, b)).transpose()?,
            bytes,
        })
    }
}

/// A version as a database stores it (a signed 64-bit integer), checked: the engine writes
/// only positive versions, so anything else is damage.
pub fn stored_version(field: &str, version: i64) -> Result<u64, Corruption> {
    u64::try_from(version)
        .ok()
        .filter(|v| *v > 0)
        .ok_or_else(|| Corruption::OutOfRange {
            what: format!("a stored version of field `{field}`"),
            value: version.to_string(),
            allowed: format!("1..={}", i64::MAX),
        })
}

/// Puts the value of `field` at `version` into `checkpoint` (as read from storage): the full
/// value in `channel_values`, the deltas after it in `channel_appends`, oldest first.
///
/// `segments` are what the saver found, newest first: the value at `version`, then the one it
/// extends, and so on. They must form one chain ending in a full value, with no version twice
/// and at most [`MAX_DELTA_CHAIN`] values; anything else is the [`Corruption`] it is.
pub fn put_field_value(
    checkpoint: &mut Checkpoint,
    field: &str,
    version: u64,
    mut segments: Vec<Segment>,
) -> Result<(), Corruption> {
    let linked = chain_length(field, version, &segments)?;
    // Anything after the full value is not part of this chain.
    segments.truncate(linked);
    let mut values = segments.into_iter().rev().map(|s| s.bytes);
    let first = values.next().unwrap_or_default();
    checkpoint.channel_values.insert(field.to_owned(), first);
    let deltas: Vec<Vec<u8>> = values.collect();
    if deltas.is_empty() {
        checkpoint.channel_appends.remove(field);
    } else {
        checkpoint.channel_appends.insert(field.to_owned(), deltas);
    }
    Ok(())
}

/// How many of `segments` (newest first) make the whole chain of `field` at `version`, down to
/// its full value; an error if they do not make one.
fn chain_length(field: &str, version: u64, segments: &[Segment]) -> Result<usize, Corruption> {
    let mut seen = HashSet::with_capacity(segments.len().min(MAX_DELTA_CHAIN));
    let mut expected = version;
    for (i, segment) in segments.iter().enumerate() {
        if segment.version != expected {
            return Err(match i.checked_sub(1).and_then(|p| segments.get(p)) {
                None => Corruption::MissingValue {
                    field: field.to_owned(),
                    version,
                },
                Some(previous) => Corruption::MissingDeltaBase {
                    field: field.to_owned(),
                    version: previous.version,
                    base: expected,
                },
            });
        }
        if !seen.insert(segment.version) {
            return Err(Corruption::DeltaChainLoops {
                field: field.to_owned(),
                version: segment.version,
            });
        }
        if i >= MAX_DELTA_CHAIN {
            return Err(Corruption::DeltaChainTooLong {
                field: field.to_owned(),
                limit: MAX_DELTA_CHAIN,
            });
        }
        match segment.base {
            Some(base) => expected = base,
            None => return Ok(i + 1),
        }
    }
    Err(match segments.last() {
        None => Corruption::MissingValue {
            field: field.to_owned(),
            version,
        },
        // The deepest segment found is a delta: its base is gone.
        Some(last) => Corruption::MissingDeltaBase {
            field: field.to_owned(),
            version: last.version,
            base: expected,
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn full(version: u64, bytes: &str) -> Segment {
        Segment {
            version,
            base: None,
            bytes: bytes.as_bytes().to_vec(),
        }
    }

    fn delta(version: u64, base: u64, bytes: &str) -> Segment {
        Segment {
            version,
            base: Some(base),
            bytes: bytes.as_bytes().to_vec(),
        }
    }

    #[test]
    fn a_whole_chain_is_put_oldest_first() {
        let mut cp = Checkpoint::default();
        let chain = vec![delta(9, 4, "[3]"), delta(4, 7, "[2]"), full(7, "[1]")];
        put_field_value(&mut cp, "log", 9, chain).unwrap();
        assert_eq!(cp.channel_values["log"], b"[1]");
        assert_eq!(cp.channel_appends["log"], vec![b"[2]".to_vec(), b"[3]".to_vec()]);
        put_field_value(&mut cp, "n", 2, vec![full(2, "5")]).unwrap();
        assert!(!cp.channel_appends.contains_key("n"));
    }

    #[test]
    fn every_broken_chain_is_its_own_error() {
        let mut cp = Checkpoint::default();
        let err = |segments: Vec<Segment>| put_field_value(&mut Checkpoint::default(), "log", 9, segments);
        assert_eq!(
            err(vec![]),
            Err(Corruption::MissingValue {
                field: "log".into(),
                version: 9
            })
        );
        assert_eq!(
            err(vec![full(8, "[1]")]),
            Err(Corruption::MissingValue {
                field: "log".into(),
                version: 9
            })
        );
        // The deepest delta is not a snapshot: refused, not read as one.
        assert_eq!(
            err(vec![delta(9, 4, "[3]"), delta(4, 7, "[2]")]),
            Err(Corruption::MissingDeltaBase {
                field: "log".into(),
                version: 4,
                base: 7
            })
        );
        // A segment that does not continue the chain.
        assert_eq!(
            err(vec![delta(9, 4, "[3]"), full(5, "[1]")]),
            Err(Corruption::MissingDeltaBase {
                field: "log".into(),
                version: 9,
                base: 4
            })
        );
        assert_eq!(
            err(vec![delta(9, 4, "a"), delta(4, 9, "b"), delta(9, 4, "a")]),
            Err(Corruption::DeltaChainLoops {
                field: "log".into(),
                version: 9
            })
        );
        // A chain one value longer than the bound: versions 10_000, 9_999, ...
        let long: Vec<Segment> = (0..=MAX_DELTA_CHAIN as u64)
            .map(|i| delta(10_000 - i, 9_999 - i, "x"))
            .collect();
        let err_long = put_field_value(&mut Checkpoint::default(), "log", 10_000, long);
        assert_eq!(
            err_long,
            Err(Corruption::DeltaChainTooLong {
                field: "log".into(),
                limit: MAX_DELTA_CHAIN
            })
        );
        assert!(cp.channel_values.is_empty());
        put_field_value(&mut cp, "log", 1, vec![full(1, "[]")]).unwrap();
    }
}
