//! [`InMemoryStore`]: long-term memory in process memory, for tests, examples and single-process
//! agents.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::SystemTime;

use async_trait::async_trait;
use serde_json::Value;

use super::{
    Item, ListNamespaces, PutOptions, SearchItem, SearchQuery, Store, StoreError, cosine_similarity,
    indexed_text, text_terms, validate_embedding, validate_item_address, validate_search,
};

/// Keeps items in memory, in one map behind a read-write lock.
///
/// Text queries match items whose indexed strings contain every query term (case-insensitive),
/// scored by term frequency over the square root of the text's length in words. Vector queries
/// rank by cosine similarity. Expired items are hidden from every read and deleted by
/// [`sweep_expired`](Store::sweep_expired) (nothing sweeps in the background).
///
/// ```
/// use agentflow_core::store::{InMemoryStore, PutOptions, Store, namespace};
///
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// let store = InMemoryStore::new();
/// let ns = namespace(["prefs", "ada"]);
/// store.put(&ns, "lang", serde_json::json!({"value": "rust"}), PutOptions::new()).await.unwrap();
/// assert_eq!(store.get(&ns, "lang").await.unwrap().unwrap().value["value"], "rust");
/// # });
/// ```
#[derive(Debug, Default)]
pub struct InMemoryStore {
    items: RwLock<BTreeMap<(Vec<String>, String), Stored>>,
}

#[derive(Debug, Clone)]
struct Stored {
    item: Item,
    embedding: Option<Vec<f32>>,
    /// Term -> occurrences in the indexed text.
    terms: HashMap<String, u32>,
    /// Words in the indexed text.
    words: usize,
}

impl Stored {
    fn live(&self, now: SystemTime) -> bool {
        self.item.expires_at.is_none_or(|t| t > now)
    }

    /// The text score for `terms`, if the item contains all of them.
    fn text_score(&self, terms: &[String]) -> Option<f64> {
        let mut hits = 0u32;
        for term in terms {
            hits += *self.terms.get(term)?;
        }
        Some(f64::from(hits) / (self.words.max(1) as f64).sqrt())
    }
}

impl InMemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// How many items are held, expired ones included.
    pub fn len(&self) -> usize {
        self.read().len()
    }

    /// True when no item is held.
    pub fn is_empty(&self) -> bool {
        self.read().is_empty()
    }

    // A panic while holding the lock leaves each entry whole, so keep going with the data.
    fn read(&self) -> RwLockReadGuard<'_, BTreeMap<(Vec<String>, String), Stored>> {
        self.items.read().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn write(&self) -> RwLockWriteGuard<'_, BTreeMap<(Vec<String>, String), Stored>> {
        self.items
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

#[async_trait]
impl Store for InMemoryStore {
    async fn put(
        &self,
        namespace: &[String],
        key: &str,
        value: Value,
        options: PutOptions,
    ) -> Result<(), StoreError> {
        validate_item_address(namespace, key)?;
        if let Some(e) = &options.embedding {
            validate_embedding(e)?;
        }
        let words = text_terms(&indexed_text(&value, options.index.as_deref()));
        let mut terms = HashMap::new();
        for word in &words {
            *terms.entry(word.clone()).or_insert(0) += 1;
        }
        let now = SystemTime::now();
        let mut items = self.write();
        let id = (namespace.to_vec(), key.to_owned());
        let created_at = match items.get(&id) {
            Some(old) if old.live(now) => old.item.created_at,
            _ => now,
        };
        let item = Item {
            namespace: id.0.clone(),
            key: id.1.clone(),
            value,
            created_at,
            updated_at: now,
            expires_at: options.ttl.and_then(|ttl| now.checked_add(ttl)),
        };
        items.insert(
            id,
            Stored {
                item,
                embedding: options.embedding,
                terms,
                words: words.len(),
            },
        );
        Ok(())
    }

    async fn get(&self, namespace: &[String], key: &str) -> Result<Option<Item>, StoreError> {
        validate_item_address(namespace, key)?;
        let now = SystemTime::now();
        let items = self.read();
        Ok(items
            .get(&(namespace.to_vec(), key.to_owned()))
            .filter(|s| s.live(now))
            .map(|s| s.item.clone()))
    }

    async fn delete(&self, namespace: &[String], key: &str) -> Result<(), StoreError> {
        validate_item_address(namespace, key)?;
        self.write().remove(&(namespace.to_vec(), key.to_owned()));
        Ok(())
    }

    async fn search(&self, query: SearchQuery) -> Result<Vec<SearchItem>, StoreError> {
        let conditions = validate_search(&query)?;
        let terms = query.query_terms();
        let now = SystemTime::now();
        let items = self.read();
        let mut hits: Vec<SearchItem> = Vec::new();
        for stored in items.values() {
            let item = &stored.item;
            if !stored.live(now)
                || !item.namespace.starts_with(&query.namespace_prefix)
                || !conditions.iter().all(|c| c.matches(&item.value))
            {
                continue;
            }
            let text_score = match &terms {
                Some(terms) => match stored.text_score(terms) {
                    Some(score) => Some(score),
                    None => continue,
                },
                None => None,
            };
            let score = match &query.embedding {
                Some(q) => stored.embedding.as_deref().and_then(|e| cosine_similarity(q, e)),
                None => text_score,
            };
            hits.push(SearchItem {
                item: item.clone(),
                score,
            });
        }
        drop(items);
        hits.sort_by(|a, b| {
            let by_score = match (a.score, b.score) {
                (Some(x), Some(y)) => y.total_cmp(&x),
                (Some(_), None) => std::cmp::Ordering::Less,
                (None, Some(_)) => std::cmp::Ordering::Greater,
                (None, None) => std::cmp::Ordering::Equal,
            };
            by_score
                .then_with(|| b.item.updated_at.cmp(&a.item.updated_at))
                .then_with(|| a.item.namespace.cmp(&b.item.namespace))
                .then_with(|| a.item.key.cmp(&b.item.key))
        });
        Ok(hits.into_iter().skip(query.offset).take(query.limit).collect())
    }

    async fn list_namespaces(&self, options: ListNamespaces) -> Result<Vec<Vec<String>>, StoreError> {
        options.validate()?;
        let now = SystemTime::now();
        let items = self.read();
        let mut found = BTreeSet::new();
        for stored in items.values().filter(|s| s.live(now)) {
            let ns = &stored.item.namespace;
            if !ns.starts_with(&options.prefix) || !ns.ends_with(&options.suffix) {
                continue;
            }
            let depth = options.max_depth.map_or(ns.len(), |d| d.min(ns.len()));
            if !found.contains(&ns[..depth]) {
                found.insert(ns[..depth].to_vec());
            }
        }
        Ok(found
            .into_iter()
            .skip(options.offset)
            .take(options.limit)
            .collect())
    }

    async fn sweep_expired(&self) -> Result<u64, StoreError> {
        let now = SystemTime::now();
        let mut items = self.write();
        let before = items.len();
        items.retain(|_, s| s.live(now));
        Ok((before - items.len()) as u64)
    }
}
