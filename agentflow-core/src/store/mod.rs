//! Long-term memory: the [`Store`] trait (LangGraph's `BaseStore`), its types, and
//! [`InMemoryStore`].
//!
//! A store keeps JSON documents ([`Item`]s) under a *namespace* (a path of labels such as
//! `["memories", "user-42"]`) and a key. Unlike checkpoints, items outlive threads: a node
//! reaches the graph's store through [`Context::store`](crate::Context::store) and remembers
//! facts across conversations.
//!
//! - [`Store::put`], [`Store::get`], [`Store::delete`]: one item. [`PutOptions`] give an item a
//!   time to live, an embedding, and which of its fields are text-indexed.
//! - [`Store::search`]: the items under a namespace prefix, narrowed by a metadata filter
//!   (equality and `$eq $ne $gt $gte $lt $lte`, as in LangGraph), ranked by a text query or by
//!   cosine similarity to an embedding ([`SearchQuery`]).
//! - [`Store::list_namespaces`]: the namespaces in use, by prefix, suffix and depth.
//! - Expired items are never returned; [`Store::sweep_expired`] deletes them.
//!
//! Implementations: [`InMemoryStore`] here and `PostgresStore` in `agentflow-postgres`. Check an
//! implementation with the kit in `agentflow_core::store::testing` (feature `testing`).
//!
//! ```
//! use agentflow_core::store::{InMemoryStore, PutOptions, SearchQuery, Store, namespace};
//!
//! # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
//! let store = InMemoryStore::new();
//! let ns = namespace(["memories", "ada"]);
//! store.put(&ns, "food", serde_json::json!({"text": "Ada likes pizza", "kind": "pref"}), PutOptions::new()).await?;
//! store.put(&ns, "pet", serde_json::json!({"text": "Ada has a cat", "kind": "fact"}), PutOptions::new()).await?;
//!
//! let hits = store.search(SearchQuery::new(["memories"]).query("pizza")).await?;
//! assert_eq!(hits[0].item.key, "food");
//! let facts = store.search(SearchQuery::new(["memories"]).filter("kind", "fact")).await?;
//! assert_eq!(facts.len(), 1);
//! # Ok::<_, agentflow_core::store::StoreError>(())
//! # }).unwrap();
//! ```

mod memory;
#[cfg(feature = "testing")]
pub mod testing;

use std::cmp::Ordering;
use std::collections::BTreeMap;
use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use serde_json::Value;

pub use memory::InMemoryStore;

/// The default `limit` of [`SearchQuery`] (as in LangGraph).
pub const DEFAULT_SEARCH_LIMIT: usize = 10;
/// The default `limit` of [`ListNamespaces`] (as in LangGraph).
pub const DEFAULT_LIST_LIMIT: usize = 100;

/// A namespace from labels: `namespace(["memories", user_id])`.
pub fn namespace<I, L>(labels: I) -> Vec<String>
where
    I: IntoIterator<Item = L>,
    L: Into<String>,
{
    labels.into_iter().map(Into::into).collect()
}

/// A stored document.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Item {
    /// Where it lives.
    pub namespace: Vec<String>,
    /// Its key, unique within the namespace.
    pub key: String,
    /// The document.
    pub value: Value,
    /// When the key was first written (or rewritten after it expired).
    pub created_at: SystemTime,
    /// When it was last written.
    pub updated_at: SystemTime,
    /// When it expires, if it has a time to live.
    pub expires_at: Option<SystemTime>,
}

/// A search result: the item and its relevance.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SearchItem {
    /// The item.
    pub item: Item,
    /// Cosine similarity to the query embedding, or the text rank of the query; `None` without
    /// either, or for an item that has no embedding comparable with the query's. Text ranks are
    /// comparable only within one search and one backend.
    pub score: Option<f64>,
}

/// How to store an item.
#[derive(Clone, Debug, Default, PartialEq)]
#[non_exhaustive]
pub struct PutOptions {
    /// The item expires this long after the put (`None`: never). Expired items are never
    /// returned; [`Store::sweep_expired`] deletes them.
    pub ttl: Option<Duration>,
    /// An embedding of the item, for [`SearchQuery::embedding`] (finite values, not empty).
    pub embedding: Option<Vec<f32>>,
    /// Which fields are text-indexed for [`SearchQuery::query`]: `None` indexes every string in
    /// the value; `Some(paths)` only the strings under these dotted field paths (`"a.b"`);
    /// `Some(vec![])` none.
    pub index: Option<Vec<String>>,
}

impl PutOptions {
    /// No TTL, no embedding, every string text-indexed.
    pub fn new() -> Self {
        Self::default()
    }

    /// Expire the item `ttl` after the put.
    pub fn ttl(mut self, ttl: Duration) -> Self {
        self.ttl = Some(ttl);
        self
    }

    /// Store an embedding with the item.
    pub fn embedding(mut self, embedding: Vec<f32>) -> Self {
        self.embedding = Some(embedding);
        self
    }

    /// Text-index only the strings under these dotted field paths (none: not text-indexed).
    pub fn index<I, P>(mut self, paths: I) -> Self
    where
        I: IntoIterator<Item = P>,
        P: Into<String>,
    {
        self.index = Some(paths.into_iter().map(Into::into).collect());
        self
    }
}

/// What [`Store::search`] looks for.
///
/// Results are ordered by score (highest first, items without one last), then most recently
/// updated first, then by namespace and key.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct SearchQuery {
    /// Only items whose namespace starts with these labels (empty: every item).
    pub namespace_prefix: Vec<String>,
    /// Conditions on the value's top-level fields, all of which must hold. A plain value means
    /// equality (numbers compare by value: `1` equals `1.0`; arrays and objects must be equal as
    /// a whole); an object whose keys start with `$` applies operators: `$eq`, `$ne` (also true
    /// when the field is missing), and `$gt $gte $lt $lte` (a number or a string operand; the
    /// field must have the same type; strings compare by code point).
    pub filter: BTreeMap<String, Value>,
    /// A text query: only items whose indexed text contains every term (case-insensitive words)
    /// match, ranked by relevance. A query without terms is ignored.
    pub query: Option<String>,
    /// Rank by cosine similarity to this embedding. Items without an embedding of the same
    /// length come after the others, with no score. With a text query as well, the query only
    /// selects and the embedding ranks.
    pub embedding: Option<Vec<f32>>,
    /// At most this many results (default [`DEFAULT_SEARCH_LIMIT`]).
    pub limit: usize,
    /// Skip this many results first.
    pub offset: usize,
}

impl Default for SearchQuery {
    fn default() -> Self {
        SearchQuery {
            namespace_prefix: Vec::new(),
            filter: BTreeMap::new(),
            query: None,
            embedding: None,
            limit: DEFAULT_SEARCH_LIMIT,
            offset: 0,
        }
    }
}

impl SearchQuery {
    /// Items under `prefix` (no labels: every item).
    pub fn new<I, L>(prefix: I) -> Self
    where
        I: IntoIterator<Item = L>,
        L: Into<String>,
    {
        SearchQuery {
            namespace_prefix: namespace(prefix),
            ..Self::default()
        }
    }

    /// Adds a filter condition on a top-level field (see [`filter`](Self#structfield.filter)):
    /// `.filter("kind", "fact")`, `.filter("age", json!({"$gte": 18}))`.
    pub fn filter(mut self, field: impl Into<String>, condition: impl Into<Value>) -> Self {
        self.filter.insert(field.into(), condition.into());
        self
    }

    /// Matches and ranks by a text query.
    pub fn query(mut self, text: impl Into<String>) -> Self {
        self.query = Some(text.into());
        self
    }

    /// Ranks by cosine similarity to `embedding`.
    pub fn embedding(mut self, embedding: Vec<f32>) -> Self {
        self.embedding = Some(embedding);
        self
    }

    /// At most `limit` results.
    pub fn limit(mut self, limit: usize) -> Self {
        self.limit = limit;
        self
    }

    /// Skips `offset` results.
    pub fn offset(mut self, offset: usize) -> Self {
        self.offset = offset;
        self
    }

    /// The filter as conditions, validated. Backends call this first.
    pub fn conditions(&self) -> Result<Vec<Condition>, StoreError> {
        let mut out = Vec::new();
        for (field, condition) in &self.filter {
            match condition {
                Value::Object(ops) if ops.keys().any(|k| k.starts_with('$')) => {
                    for (op, operand) in ops {
                        let op = FilterOp::parse(op).ok_or_else(|| StoreError::InvalidFilter {
                            field: field.clone(),
                            reason: format!(
                                "unknown operator `{op}` (use $eq, $ne, $gt, $gte, $lt or $lte; an \
                                 object mixing operators and plain keys is not allowed)"
                            ),
                        })?;
                        if op.is_ordering() && !(operand.is_number() || operand.is_string()) {
                            return Err(StoreError::InvalidFilter {
                                field: field.clone(),
                                reason: format!("{} needs a number or a string, not {operand}", op.as_str()),
                            });
                        }
                        out.push(Condition {
                            field: field.clone(),
                            op,
                            operand: operand.clone(),
                        });
                    }
                }
                plain => out.push(Condition {
                    field: field.clone(),
                    op: FilterOp::Eq,
                    operand: plain.clone(),
                }),
            }
        }
        Ok(out)
    }

    /// The query's terms (see [`text_terms`]), if it has any.
    pub fn query_terms(&self) -> Option<Vec<String>> {
        let mut terms = text_terms(self.query.as_deref()?);
        terms.sort();
        terms.dedup();
        (!terms.is_empty()).then_some(terms)
    }
}

/// A comparison operator of a search filter.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum FilterOp {
    /// `$eq` (or a plain value).
    Eq,
    /// `$ne`: differs, or the field is missing.
    Ne,
    /// `$gt`.
    Gt,
    /// `$gte`.
    Gte,
    /// `$lt`.
    Lt,
    /// `$lte`.
    Lte,
}

impl FilterOp {
    fn parse(op: &str) -> Option<Self> {
        Some(match op {
            "$eq" => FilterOp::Eq,
            "$ne" => FilterOp::Ne,
            "$gt" => FilterOp::Gt,
            "$gte" => FilterOp::Gte,
            "$lt" => FilterOp::Lt,
            "$lte" => FilterOp::Lte,
            _ => return None,
        })
    }

    /// The operator as written in a filter (`"$gte"`).
    pub fn as_str(self) -> &'static str {
        match self {
            FilterOp::Eq => "$eq",
            FilterOp::Ne => "$ne",
            FilterOp::Gt => "$gt",
            FilterOp::Gte => "$gte",
            FilterOp::Lt => "$lt",
            FilterOp::Lte => "$lte",
        }
    }

    /// `$gt $gte $lt $lte`.
    pub fn is_ordering(self) -> bool {
        matches!(self, FilterOp::Gt | FilterOp::Gte | FilterOp::Lt | FilterOp::Lte)
    }

    /// The SQL operator (`>=`).
    pub fn sql(self) -> &'static str {
        match self {
            FilterOp::Eq => "=",
            FilterOp::Ne => "<>",
            FilterOp::Gt => ">",
            FilterOp::Gte => ">=",
            FilterOp::Lt => "<",
            FilterOp::Lte => "<=",
        }
    }
}

/// One validated condition of a search filter, from [`SearchQuery::conditions`].
#[derive(Clone, Debug, PartialEq)]
pub struct Condition {
    /// The top-level field of the value.
    pub field: String,
    /// The comparison.
    pub op: FilterOp,
    /// What the field is compared with.
    pub operand: Value,
}

impl Condition {
    /// Whether `value` (an item's document) satisfies this condition.
    pub fn matches(&self, value: &Value) -> bool {
        let field = value.get(&self.field);
        match self.op {
            FilterOp::Eq => field.is_some_and(|f| json_eq(f, &self.operand)),
            FilterOp::Ne => !field.is_some_and(|f| json_eq(f, &self.operand)),
            op => {
                let Some(order) = field.and_then(|f| json_order(f, &self.operand)) else {
                    return false;
                };
                match op {
                    FilterOp::Gt => order == Ordering::Greater,
                    FilterOp::Gte => order != Ordering::Less,
                    FilterOp::Lt => order == Ordering::Less,
                    _ => order != Ordering::Greater,
                }
            }
        }
    }
}

/// JSON equality where numbers compare by value (as PostgreSQL's `jsonb` does).
fn json_eq(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(_), Value::Number(_)) => json_order(a, b) == Some(Ordering::Equal),
        (Value::Array(a), Value::Array(b)) => {
            a.len() == b.len() && a.iter().zip(b).all(|(a, b)| json_eq(a, b))
        }
        (Value::Object(a), Value::Object(b)) => {
            a.len() == b.len() && a.iter().all(|(k, v)| b.get(k).is_some_and(|w| json_eq(v, w)))
        }
        _ => a == b,
    }
}

/// The order of two numbers or two strings; `None` for anything else.
fn json_order(a: &Value, b: &Value) -> Option<Ordering> {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => {
            if let (Some(x), Some(y)) = (x.as_i64(), y.as_i64()) {
                Some(x.cmp(&y))
            } else if let (Some(x), Some(y)) = (x.as_u64(), y.as_u64()) {
                Some(x.cmp(&y))
            } else {
                x.as_f64()?.partial_cmp(&y.as_f64()?)
            }
        }
        (Value::String(x), Value::String(y)) => Some(x.cmp(y)),
        _ => None,
    }
}

/// What [`Store::list_namespaces`] lists. Namespaces come sorted (label by label).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct ListNamespaces {
    /// Only namespaces that start with these labels.
    pub prefix: Vec<String>,
    /// Only namespaces that end with these labels.
    pub suffix: Vec<String>,
    /// Truncate namespaces to this many labels (then deduplicate); at least 1.
    pub max_depth: Option<usize>,
    /// At most this many (default [`DEFAULT_LIST_LIMIT`]).
    pub limit: usize,
    /// Skip this many first.
    pub offset: usize,
}

impl Default for ListNamespaces {
    fn default() -> Self {
        ListNamespaces {
            prefix: Vec::new(),
            suffix: Vec::new(),
            max_depth: None,
            limit: DEFAULT_LIST_LIMIT,
            offset: 0,
        }
    }
}

impl ListNamespaces {
    /// Every namespace (up to the default limit).
    pub fn new() -> Self {
        Self::default()
    }

    /// Only namespaces that start with `labels`.
    pub fn prefix<I, L>(mut self, labels: I) -> Self
    where
        I: IntoIterator<Item = L>,
        L: Into<String>,
    {
        self.prefix = namespace(labels);
        self
    }

    /// Only namespaces that end with `labels`.
    pub fn suffix<I, L>(mut self, labels: I) -> Self
    where
        I: IntoIterator<Item = L>,
        L: Into<String>,
    {
        self.suffix = namespace(labels);
        self
    }

    /// Truncate namespaces to `depth` labels.
    pub fn max_depth(mut self, depth: usize) -> Self {
        self.max_depth = Some(depth);
        self
    }

    /// At most `limit` namespaces.
    pub fn limit(mut self, limit: usize) -> Self {
        self.limit = limit;
        self
    }

    /// Skips `offset` namespaces.
    pub fn offset(mut self, offset: usize) -> Self {
        self.offset = offset;
        self
    }

    /// Checks the prefix, suffix and depth. Backends call this first.
    pub fn validate(&self) -> Result<(), StoreError> {
        validate_labels(&self.prefix)?;
        validate_labels(&self.suffix)?;
        if self.max_depth == Some(0) {
            return Err(StoreError::InvalidArgument {
                reason: "max_depth must be at least 1".into(),
            });
        }
        Ok(())
    }
}

/// A store operation failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// A namespace (or prefix, or suffix) is not allowed.
    #[error("invalid namespace {namespace:?}: {reason}")]
    InvalidNamespace {
        /// The namespace.
        namespace: Vec<String>,
        /// What is wrong with it.
        reason: String,
    },
    /// A key is not allowed.
    #[error("invalid key {key:?}: {reason}")]
    InvalidKey {
        /// The key.
        key: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A search filter is malformed.
    #[error("invalid filter on field `{field}`: {reason}")]
    InvalidFilter {
        /// The filtered field.
        field: String,
        /// What is wrong with the condition.
        reason: String,
    },
    /// An embedding is empty or has a non-finite value.
    #[error("invalid embedding: {reason}")]
    InvalidEmbedding {
        /// What is wrong with it.
        reason: String,
    },
    /// Another argument is out of range.
    #[error("invalid argument: {reason}")]
    InvalidArgument {
        /// What is wrong.
        reason: String,
    },
    /// The storage backend failed; `retryable` says whether trying again may help.
    #[error("store backend failed: {source}")]
    Backend {
        /// Whether retrying may help (a lost connection) or not.
        retryable: bool,
        /// The backend's error.
        #[source]
        source: crate::BoxError,
    },
}

impl StoreError {
    /// True when retrying the operation may succeed.
    pub fn is_retryable(&self) -> bool {
        matches!(self, StoreError::Backend { retryable: true, .. })
    }
}

/// Checks every label of a namespace, prefix or suffix: not empty, no `.` (as in LangGraph, where
/// `.` joins labels in storage).
pub fn validate_labels(labels: &[String]) -> Result<(), StoreError> {
    let invalid = |reason: &str| StoreError::InvalidNamespace {
        namespace: labels.to_vec(),
        reason: reason.to_owned(),
    };
    for (i, label) in labels.iter().enumerate() {
        if label.is_empty() {
            return Err(invalid(&format!("label {i} is empty")));
        }
        if label.contains('.') {
            return Err(invalid(&format!(
                "label {i} (`{label}`) contains `.`, which is reserved"
            )));
        }
    }
    Ok(())
}

/// Checks the namespace and key of an item: at least one label, each valid
/// ([`validate_labels`]), and a non-empty key.
pub fn validate_item_address(namespace: &[String], key: &str) -> Result<(), StoreError> {
    if namespace.is_empty() {
        return Err(StoreError::InvalidNamespace {
            namespace: Vec::new(),
            reason: "a namespace needs at least one label".into(),
        });
    }
    validate_labels(namespace)?;
    if key.is_empty() {
        return Err(StoreError::InvalidKey {
            key: String::new(),
            reason: "keys must not be empty".into(),
        });
    }
    Ok(())
}

/// Checks an embedding: not empty, every value finite.
pub fn validate_embedding(embedding: &[f32]) -> Result<(), StoreError> {
    if embedding.is_empty() {
        return Err(StoreError::InvalidEmbedding {
            reason: "it is empty".into(),
        });
    }
    if let Some(i) = embedding.iter().position(|x| !x.is_finite()) {
        return Err(StoreError::InvalidEmbedding {
            reason: format!("value {i} is not finite ({})", embedding[i]),
        });
    }
    Ok(())
}

/// Checks a search: prefix labels, filter and embedding.
pub fn validate_search(query: &SearchQuery) -> Result<Vec<Condition>, StoreError> {
    validate_labels(&query.namespace_prefix)?;
    if let Some(e) = &query.embedding {
        validate_embedding(e)?;
    }
    query.conditions()
}

/// The words of a text, lowercased: maximal runs of alphanumeric characters.
pub fn text_terms(text: &str) -> Vec<String> {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_lowercase)
        .collect()
}

/// The text of `value` that a text query searches (see [`PutOptions::index`]): its strings (or
/// those under `paths`), one per line.
pub fn indexed_text(value: &Value, paths: Option<&[String]>) -> String {
    fn strings<'a>(value: &'a Value, out: &mut Vec<&'a str>) {
        match value {
            Value::String(s) => out.push(s),
            Value::Array(items) => items.iter().for_each(|v| strings(v, out)),
            Value::Object(fields) => fields.values().for_each(|v| strings(v, out)),
            _ => {}
        }
    }
    let mut out = Vec::new();
    match paths {
        None => strings(value, &mut out),
        Some(paths) => {
            for path in paths {
                let found = path
                    .split('.')
                    .try_fold(value, |v, part| v.get(part).filter(|_| !part.is_empty()));
                if let Some(v) = found {
                    strings(v, &mut out);
                }
            }
        }
    }
    out.join("\n")
}

/// The cosine similarity of two vectors of the same length; `None` if the lengths differ or a
/// vector is zero.
pub fn cosine_similarity(a: &[f32], b: &[f32]) -> Option<f64> {
    if a.len() != b.len() || a.is_empty() {
        return None;
    }
    let (mut dot, mut na, mut nb) = (0.0f64, 0.0f64, 0.0f64);
    for (&x, &y) in a.iter().zip(b) {
        let (x, y) = (f64::from(x), f64::from(y));
        dot += x * y;
        na += x * x;
        nb += y * y;
    }
    let norm = na.sqrt() * nb.sqrt();
    (norm > 0.0).then(|| dot / norm)
}

/// Long-term memory shared across threads and runs (LangGraph's `BaseStore`).
///
/// Give a graph a store with
/// [`CompiledGraph::with_store`](crate::CompiledGraph::with_store); its nodes (and its subgraphs'
/// nodes) reach it through [`Context::store`](crate::Context::store). Every method validates its
/// arguments ([`validate_item_address`], [`validate_search`], [`ListNamespaces::validate`]) and
/// never returns expired items.
#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// Creates or replaces the item `key` of `namespace`. A replaced item keeps its `created_at`
    /// and takes the new options (no TTL in `options` removes an earlier one).
    async fn put(
        &self,
        namespace: &[String],
        key: &str,
        value: Value,
        options: PutOptions,
    ) -> Result<(), StoreError>;

    /// The item, if it exists and has not expired.
    async fn get(&self, namespace: &[String], key: &str) -> Result<Option<Item>, StoreError>;

    /// Deletes the item, if it exists.
    async fn delete(&self, namespace: &[String], key: &str) -> Result<(), StoreError>;

    /// The items a query selects, best first (see [`SearchQuery`]).
    async fn search(&self, query: SearchQuery) -> Result<Vec<SearchItem>, StoreError>;

    /// The namespaces holding at least one live item, sorted (see [`ListNamespaces`]).
    async fn list_namespaces(&self, options: ListNamespaces) -> Result<Vec<Vec<String>>, StoreError>;

    /// Deletes every expired item; returns how many went.
    async fn sweep_expired(&self) -> Result<u64, StoreError>;
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn conditions_parse_and_match() {
        let q = SearchQuery::new(["a"])
            .filter("n", json!({"$gte": 2, "$lt": 5}))
            .filter("s", "x")
            .filter("gone", json!({"$ne": 1}));
        let conditions = q.conditions().unwrap();
        assert_eq!(conditions.len(), 4);
        let doc = json!({"n": 2.0, "s": "x"});
        assert!(conditions.iter().all(|c| c.matches(&doc)));
        let doc = json!({"n": 5, "s": "x"});
        assert!(!conditions.iter().all(|c| c.matches(&doc)));
        let bad = SearchQuery::new(["a"]).filter("n", json!({"$like": 1}));
        assert!(matches!(bad.conditions(), Err(StoreError::InvalidFilter { .. })));
        let bad = SearchQuery::new(["a"]).filter("n", json!({"$gt": [1]}));
        assert!(matches!(bad.conditions(), Err(StoreError::InvalidFilter { .. })));
    }

    #[test]
    fn text_and_vectors() {
        assert_eq!(text_terms("Hello, wörld! x-y"), ["hello", "wörld", "x", "y"]);
        let v = json!({"a": {"b": "deep"}, "c": ["one", 2, "three"], "d": "top"});
        assert_eq!(
            indexed_text(&v, Some(&["a.b".to_owned(), "c".to_owned()])),
            "deep\none\nthree"
        );
        assert_eq!(indexed_text(&v, Some(&[])), "");
        assert!(indexed_text(&v, None).contains("top"));
        assert_eq!(cosine_similarity(&[1.0, 0.0], &[2.0, 0.0]), Some(1.0));
        assert_eq!(cosine_similarity(&[1.0, 0.0], &[0.0, 0.0]), None);
        assert_eq!(cosine_similarity(&[1.0], &[1.0, 0.0]), None);
    }
}
