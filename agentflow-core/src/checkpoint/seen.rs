//! [`VersionsSeen`]: for each node, the field versions it saw when it last ran.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use serde::de::Deserializer;
use serde::ser::{SerializeMap, Serializer};
use serde::{Deserialize, Serialize};

/// For each node, the field versions it saw when it last ran (LangGraph's `versions_seen`). It
/// serializes as a map of maps, node to field to version, and equality compares those maps.
///
/// A run records one shared slice of versions per superstep against its state type's list of
/// field names, so that writing a checkpoint copies no name: on a wide state that is a hundred
/// strings per checkpoint.
///
/// ```
/// use std::collections::BTreeMap;
/// use agentflow_core::checkpoint::VersionsSeen;
///
/// let seen = VersionsSeen::from(BTreeMap::from([(
///     "agent".to_owned(),
///     BTreeMap::from([("messages".to_owned(), 7)]),
/// )]));
/// assert_eq!(seen.version("agent", "messages"), Some(7));
/// assert_eq!(seen.version("agent", "other"), None);
/// assert_eq!(serde_json::to_string(&seen).unwrap(), r#"{"agent":{"messages":7}}"#);
/// ```
#[derive(Clone, Default)]
pub struct VersionsSeen {
    nodes: BTreeMap<Arc<str>, Seen>,
}

/// What one node saw: a version per name (0: none).
#[derive(Clone)]
struct Seen {
    names: Names,
    versions: Arc<[u64]>,
}

#[derive(Clone)]
enum Names {
    /// A state type's field names.
    Fields(&'static [&'static str]),
    /// Names read back from a saver.
    Read(Arc<[String]>),
}

impl Names {
    fn get(&self, i: usize) -> Option<&str> {
        match self {
            Names::Fields(names) => names.get(i).copied(),
            Names::Read(names) => names.get(i).map(String::as_str),
        }
    }
}

impl Seen {
    /// The fields in name order.
    fn sorted(&self) -> Vec<(&str, u64)> {
        let mut fields: Vec<(&str, u64)> = self.iter().collect();
        fields.sort_unstable();
        fields
    }

    fn iter(&self) -> impl Iterator<Item = (&str, u64)> {
        self.versions
            .iter()
            .enumerate()
            .filter(|(_, v)| **v > 0)
            .filter_map(|(i, v)| Some((self.names.get(i)?, *v)))
    }
}

impl VersionsSeen {
    /// True when no node has run.
    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }

    /// The nodes that have run, in name order.
    pub fn nodes(&self) -> impl Iterator<Item = &str> {
        self.nodes.keys().map(|k| &**k)
    }

    /// The fields `node` saw, with their versions.
    pub fn fields<'a>(&'a self, node: &str) -> impl Iterator<Item = (&'a str, u64)> + 'a {
        self.nodes.get(node).into_iter().flat_map(Seen::iter)
    }

    /// The version of `field` that `node` saw when it last ran, if it saw one.
    pub fn version(&self, node: &str, field: &str) -> Option<u64> {
        self.fields(node).find(|(f, _)| *f == field).map(|(_, v)| v)
    }

    /// The map of maps it serializes as.
    pub fn to_map(&self) -> BTreeMap<String, BTreeMap<String, u64>> {
        self.nodes
            .iter()
            .map(|(node, seen)| {
                let fields = seen.iter().map(|(f, v)| (f.to_owned(), v)).collect();
                (node.to_string(), fields)
            })
            .collect()
    }

    /// Records that `node` saw `versions` of the state's `fields` (in the same order).
    pub(crate) fn record(&mut self, node: &Arc<str>, fields: &'static [&'static str], versions: Arc<[u64]>) {
        let seen = Seen {
            names: Names::Fields(fields),
            versions,
        };
        match self.nodes.get_mut(node) {
            Some(slot) => *slot = seen,
            None => {
                self.nodes.insert(node.clone(), seen);
            }
        }
    }
}

impl From<BTreeMap<String, BTreeMap<String, u64>>> for VersionsSeen {
    fn from(map: BTreeMap<String, BTreeMap<String, u64>>) -> Self {
        let nodes = map
            .into_iter()
            .map(|(node, fields)| {
                let (names, versions): (Vec<String>, Vec<u64>) = fields.into_iter().unzip();
                let seen = Seen {
                    names: Names::Read(names.into()),
                    versions: versions.into(),
                };
                (Arc::from(node), seen)
            })
            .collect();
        VersionsSeen { nodes }
    }
}

impl PartialEq for VersionsSeen {
    fn eq(&self, other: &Self) -> bool {
        self.nodes.len() == other.nodes.len()
            && self
                .nodes
                .iter()
                .zip(&other.nodes)
                .all(|((a, sa), (b, sb))| a == b && sa.sorted() == sb.sorted())
    }
}

impl Eq for VersionsSeen {}

impl fmt::Debug for VersionsSeen {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map()
            .entries(self.nodes.iter().map(|(node, seen)| (node, SeenFields(seen))))
            .finish()
    }
}

/// One node's fields, as a map.
struct SeenFields<'a>(&'a Seen);

impl fmt::Debug for SeenFields<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map().entries(self.0.iter()).finish()
    }
}

impl Serialize for SeenFields<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let count = self.0.iter().count();
        let mut map = serializer.serialize_map(Some(count))?;
        for (field, version) in self.0.iter() {
            map.serialize_entry(field, &version)?;
        }
        map.end()
    }
}

impl Serialize for VersionsSeen {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(self.nodes.len()))?;
        for (node, seen) in &self.nodes {
            map.serialize_entry(&**node, &SeenFields(seen))?;
        }
        map.end()
    }
}

impl<'de> Deserialize<'de> for VersionsSeen {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        BTreeMap::<String, BTreeMap<String, u64>>::deserialize(deserializer).map(Self::from)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FIELDS: &[&str] = &["b", "a", "c"];

    #[test]
    fn recorded_and_read_back_forms_are_equal_and_serialize_alike() {
        let mut recorded = VersionsSeen::default();
        let node: Arc<str> = "n".into();
        recorded.record(&node, FIELDS, Arc::from([5u64, 0, 9].as_slice()));
        let json = serde_json::to_string(&recorded).unwrap();
        assert_eq!(json, r#"{"n":{"b":5,"c":9}}"#, "unset versions are left out");
        let read: VersionsSeen = serde_json::from_str(&json).unwrap();
        assert_eq!(read, recorded);
        assert_eq!(read.to_map(), recorded.to_map());
        assert_eq!(recorded.version("n", "c"), Some(9));
        assert_eq!(recorded.version("n", "a"), None);
        assert_eq!(recorded.nodes().collect::<Vec<_>>(), ["n"]);

        // A later run of the node replaces what it saw.
        recorded.record(&node, FIELDS, Arc::from([6u64, 1, 9].as_slice()));
        assert_ne!(read, recorded);
        assert_eq!(recorded.version("n", "a"), Some(1));
        assert_eq!(format!("{recorded:?}"), r#"{"n": {"b": 6, "a": 1, "c": 9}}"#);
    }
}
