//! The conformance kit for [`Store`] implementations (feature `testing`).
//!
//! Run it from a test of your store; every clause panics with its name on failure:
//!
//! ```
//! # tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap().block_on(async {
//! use std::sync::Arc;
//! use agentflow_core::store::InMemoryStore;
//!
//! agentflow_core::store::testing::run_all(Arc::new(InMemoryStore::new())).await;
//! # });
//! ```
//!
//! The clauses cover every operation: put/get/delete, validation, prefix search, filters (every
//! operator), pagination, text and vector ranking, TTL (hidden on read, swept) and namespace
//! listing by prefix, suffix and depth. Each clause works under a fresh root label, so one store
//! (one database) serves them all. The TTL clause sleeps about a second.
#![allow(clippy::unwrap_used, clippy::panic)]

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use serde_json::{Value, json};

use super::{ListNamespaces, PutOptions, SearchItem, SearchQuery, Store, StoreError};

/// A fresh root label.
fn root() -> String {
    format!("kit-{}", uuid::Uuid::new_v4().simple())
}

fn ns(labels: &[&str]) -> Vec<String> {
    labels.iter().map(|l| (*l).to_owned()).collect()
}

async fn put(store: &dyn Store, namespace: &[String], key: &str, value: Value) {
    store
        .put(namespace, key, value, PutOptions::new())
        .await
        .unwrap_or_else(|e| panic!("put {namespace:?}/{key}: {e}"));
}

async fn search(store: &dyn Store, query: SearchQuery) -> Vec<SearchItem> {
    let described = format!("{query:?}");
    store
        .search(query)
        .await
        .unwrap_or_else(|e| panic!("search {described}: {e}"))
}

fn keys(hits: &[SearchItem]) -> Vec<&str> {
    hits.iter().map(|h| h.item.key.as_str()).collect()
}

fn close(a: SystemTime, b: SystemTime, tolerance: Duration) -> bool {
    let d = a.duration_since(b).unwrap_or_else(|e| e.duration());
    d <= tolerance
}

/// Runs every clause against `store`.
pub async fn run_all(store: Arc<dyn Store>) {
    let s = &*store;
    put_get_delete(s).await;
    put_replaces_and_keeps_created_at(s).await;
    invalid_arguments_are_rejected(s).await;
    search_by_namespace_prefix(s).await;
    search_filters(s).await;
    search_pagination(s).await;
    text_query(s).await;
    vector_ranking(s).await;
    ttl(s).await;
    list_namespaces(s).await;
}

/// `put` then `get` returns the item; `delete` removes it; other keys and namespaces are apart.
pub async fn put_get_delete(store: &dyn Store) {
    let r = root();
    let a = ns(&[&r, "users", "ada"]);
    let b = ns(&[&r, "users", "bob"]);
    let before = SystemTime::now();
    let value = json!({"text": "likes tea", "n": 1, "nested": {"x": [1, 2, {"y": null}]}});
    put(store, &a, "k1", value.clone()).await;
    let item = store
        .get(&a, "k1")
        .await
        .unwrap()
        .expect("put_get_delete: item found");
    assert_eq!(item.namespace, a, "put_get_delete: namespace");
    assert_eq!(item.key, "k1", "put_get_delete: key");
    assert_eq!(item.value, value, "put_get_delete: value round-trips");
    assert_eq!(item.expires_at, None, "put_get_delete: no TTL, no expiry");
    assert!(
        item.created_at <= item.updated_at,
        "put_get_delete: created <= updated"
    );
    assert!(
        close(item.created_at, before, Duration::from_secs(60)),
        "put_get_delete: created_at is about now"
    );
    assert!(
        store.get(&a, "k2").await.unwrap().is_none(),
        "put_get_delete: other key"
    );
    assert!(
        store.get(&b, "k1").await.unwrap().is_none(),
        "put_get_delete: other namespace"
    );
    assert!(
        store.get(&a[..2], "k1").await.unwrap().is_none(),
        "put_get_delete: a parent namespace is another namespace"
    );
    put(store, &b, "k1", json!("bob's")).await;
    store.delete(&a, "k1").await.unwrap();
    assert!(
        store.get(&a, "k1").await.unwrap().is_none(),
        "put_get_delete: deleted"
    );
    assert_eq!(
        store.get(&b, "k1").await.unwrap().map(|i| i.value),
        Some(json!("bob's")),
        "put_get_delete: delete touches one item"
    );
    store
        .delete(&a, "k1")
        .await
        .expect("put_get_delete: deleting a missing item is fine");
    // Unusual but valid labels and keys.
    let odd = ns(&[&r, "50%_off", "a'b\\c", "ünï code", "*"]);
    put(store, &odd, "key with spaces/and.dots", json!(1)).await;
    assert!(
        store
            .get(&odd, "key with spaces/and.dots")
            .await
            .unwrap()
            .is_some(),
        "put_get_delete: odd labels and keys"
    );
}

/// A second `put` replaces the value and options, keeps `created_at`, moves `updated_at`.
pub async fn put_replaces_and_keeps_created_at(store: &dyn Store) {
    let a = ns(&[&root(), "x"]);
    store
        .put(
            &a,
            "k",
            json!({"v": 1}),
            PutOptions::new().ttl(Duration::from_secs(3600)),
        )
        .await
        .unwrap();
    let first = store.get(&a, "k").await.unwrap().unwrap();
    assert!(first.expires_at.is_some(), "put_replaces: TTL set");
    tokio::time::sleep(Duration::from_millis(20)).await;
    put(store, &a, "k", json!({"v": 2})).await;
    let second = store.get(&a, "k").await.unwrap().unwrap();
    assert_eq!(second.value, json!({"v": 2}), "put_replaces: new value");
    assert_eq!(
        second.created_at, first.created_at,
        "put_replaces: created_at kept"
    );
    assert!(
        second.updated_at > first.updated_at,
        "put_replaces: updated_at moves"
    );
    assert_eq!(
        second.expires_at, None,
        "put_replaces: the new options apply (no TTL)"
    );
}

/// Bad namespaces, keys, filters, embeddings and depths are refused with clear errors.
pub async fn invalid_arguments_are_rejected(store: &dyn Store) {
    let r = root();
    let v = || json!(1);
    let bad_namespaces: [Vec<String>; 3] = [vec![], ns(&[&r, ""]), ns(&[&r, "a.b"])];
    for bad in &bad_namespaces {
        let err = store.put(bad, "k", v(), PutOptions::new()).await.unwrap_err();
        assert!(
            matches!(err, StoreError::InvalidNamespace { .. }),
            "invalid_arguments: put {bad:?}: {err}"
        );
        let err = store.get(bad, "k").await.unwrap_err();
        assert!(
            matches!(err, StoreError::InvalidNamespace { .. }),
            "invalid_arguments: get {bad:?}"
        );
        let err = store.delete(bad, "k").await.unwrap_err();
        assert!(
            matches!(err, StoreError::InvalidNamespace { .. }),
            "invalid_arguments: delete {bad:?}"
        );
    }
    let err = store
        .put(&ns(&[&r]), "", v(), PutOptions::new())
        .await
        .unwrap_err();
    assert!(
        matches!(err, StoreError::InvalidKey { .. }),
        "invalid_arguments: empty key: {err}"
    );
    let err = store
        .search(SearchQuery::new([r.as_str(), "a.b"]))
        .await
        .unwrap_err();
    assert!(
        matches!(err, StoreError::InvalidNamespace { .. }),
        "invalid_arguments: search prefix"
    );
    for filter in [
        json!({"$like": "x"}),
        json!({"$gt": true}),
        json!({"$lt": {"a": 1}}),
        json!({"$eq": 1, "x": 2}),
    ] {
        let err = store
            .search(SearchQuery::new([r.as_str()]).filter("f", filter.clone()))
            .await
            .unwrap_err();
        assert!(
            matches!(err, StoreError::InvalidFilter { .. }),
            "invalid_arguments: filter {filter}: {err}"
        );
    }
    for bad in [vec![], vec![1.0, f32::NAN], vec![f32::INFINITY]] {
        let err = store
            .put(&ns(&[&r]), "k", v(), PutOptions::new().embedding(bad.clone()))
            .await
            .unwrap_err();
        assert!(
            matches!(err, StoreError::InvalidEmbedding { .. }),
            "invalid_arguments: put embedding {bad:?}"
        );
        let err = store
            .search(SearchQuery::new([r.as_str()]).embedding(bad.clone()))
            .await
            .unwrap_err();
        assert!(
            matches!(err, StoreError::InvalidEmbedding { .. }),
            "invalid_arguments: search embedding {bad:?}"
        );
    }
    let err = store
        .list_namespaces(ListNamespaces::new().prefix([r.as_str()]).max_depth(0))
        .await
        .unwrap_err();
    assert!(
        matches!(err, StoreError::InvalidArgument { .. }),
        "invalid_arguments: max_depth 0"
    );
    let err = store
        .list_namespaces(ListNamespaces::new().suffix(["a.b"]))
        .await
        .unwrap_err();
    assert!(
        matches!(err, StoreError::InvalidNamespace { .. }),
        "invalid_arguments: suffix"
    );
    assert!(
        store.get(&ns(&[&r]), "k").await.unwrap().is_none(),
        "invalid_arguments: nothing stored"
    );
}

/// A prefix matches whole labels: `[r, "a"]` covers `[r, "a"]` and `[r, "a", "b"]`, not
/// `[r, "ab"]`.
pub async fn search_by_namespace_prefix(store: &dyn Store) {
    let r = root();
    put(store, &ns(&[&r, "a"]), "1", json!({})).await;
    put(store, &ns(&[&r, "a", "b"]), "2", json!({})).await;
    put(store, &ns(&[&r, "ab"]), "3", json!({})).await;
    put(store, &ns(&[&r, "a_"]), "4", json!({})).await;
    put(store, &ns(&[&r, "a%"]), "5", json!({})).await;
    put(store, &ns(&[&r, "ab", "c"]), "6", json!({})).await;
    let mut got = keys(&search(store, SearchQuery::new([r.as_str(), "a"])).await)
        .into_iter()
        .map(str::to_owned)
        .collect::<Vec<_>>();
    got.sort();
    assert_eq!(
        got,
        ["1", "2"],
        "search_prefix: label-wise prefix (no LIKE wildcards)"
    );
    for (label, key) in [("a_", "4"), ("a%", "5")] {
        let hits = search(store, SearchQuery::new([r.as_str(), label])).await;
        assert_eq!(keys(&hits), [key], "search_prefix: `{label}` is a literal label");
    }
    let all = search(store, SearchQuery::new([r.as_str()])).await;
    assert_eq!(all.len(), 6, "search_prefix: the root covers all");
    assert!(
        all.iter().all(|h| h.score.is_none()),
        "search_prefix: no ranking, no score"
    );
    let exact = search(store, SearchQuery::new([r.as_str(), "a", "b"])).await;
    assert_eq!(keys(&exact), ["2"], "search_prefix: a full namespace");
    assert_eq!(
        exact[0].item.namespace,
        ns(&[&r, "a", "b"]),
        "search_prefix: namespace returned"
    );
    let everything = search(store, SearchQuery::new(Vec::<String>::new()).limit(1000)).await;
    assert!(
        everything.iter().filter(|h| h.item.namespace[0] == r).count() == 6,
        "search_prefix: an empty prefix covers every namespace"
    );
}

/// Equality (numbers by value, whole arrays and objects) and `$eq $ne $gt $gte $lt $lte`.
pub async fn search_filters(store: &dyn Store) {
    let r = root();
    let n = ns(&[&r, "f"]);
    put(
        store,
        &n,
        "a",
        json!({"age": 30, "name": "ada", "tags": ["x", "y"], "meta": {"k": 1}, "ok": true}),
    )
    .await;
    put(
        store,
        &n,
        "b",
        json!({"age": 17.5, "name": "bob", "tags": ["x"], "ok": false}),
    )
    .await;
    put(
        store,
        &n,
        "c",
        json!({"age": 45, "name": "cy", "meta": {"k": 1, "j": 2}}),
    )
    .await;
    put(store, &n, "d", json!({"name": "dee", "age": "unknown"})).await;
    let check = |filter: Value, expected: &'static [&'static str]| {
        let n = &r;
        async move {
            let mut q = SearchQuery::new([n.as_str()]);
            for (field, cond) in filter.as_object().unwrap() {
                q = q.filter(field.clone(), cond.clone());
            }
            let hits = search(store, q).await;
            let mut got = keys(&hits);
            got.sort();
            assert_eq!(got, expected, "search_filters: {filter}");
        }
    };
    check(json!({"name": "ada"}), &["a"]).await;
    check(json!({"age": 30.0}), &["a"]).await;
    check(json!({"age": 30, "name": "bob"}), &[]).await;
    check(json!({"ok": false}), &["b"]).await;
    check(json!({"tags": ["x"]}), &["b"]).await;
    check(json!({"meta": {"k": 1}}), &["a"]).await;
    check(json!({"missing": null}), &[]).await;
    check(json!({"name": {"$eq": "cy"}}), &["c"]).await;
    check(json!({"name": {"$ne": "cy"}}), &["a", "b", "d"]).await;
    check(json!({"ok": {"$ne": true}}), &["b", "c", "d"]).await;
    check(json!({"age": {"$gt": 30}}), &["c"]).await;
    check(json!({"age": {"$gte": 30}}), &["a", "c"]).await;
    check(json!({"age": {"$lt": 30}}), &["b"]).await;
    check(json!({"age": {"$lte": 30}}), &["a", "b"]).await;
    check(json!({"age": {"$gt": 17, "$lt": 40}}), &["a", "b"]).await;
    check(json!({"age": {"$gte": 17.5, "$lte": 17.5}}), &["b"]).await;
    check(json!({"name": {"$gt": "b"}}), &["b", "c", "d"]).await;
    check(json!({"name": {"$lte": "bob"}}), &["a", "b"]).await;
    check(json!({"age": {"$gte": "a"}}), &["d"]).await;
}

/// `limit` and `offset` page through one stable order.
pub async fn search_pagination(store: &dyn Store) {
    let r = root();
    for i in 0..7 {
        put(
            store,
            &ns(&[&r, &format!("p{}", i % 2)]),
            &format!("k{i}"),
            json!({"i": i}),
        )
        .await;
    }
    let all = search(store, SearchQuery::new([r.as_str()]).limit(100)).await;
    assert_eq!(all.len(), 7, "pagination: all");
    let mut paged = Vec::new();
    for page in 0..4 {
        let hits = search(store, SearchQuery::new([r.as_str()]).limit(2).offset(page * 2)).await;
        assert!(hits.len() <= 2, "pagination: limit");
        paged.extend(hits);
    }
    assert_eq!(
        keys(&paged),
        keys(&all),
        "pagination: pages concatenate to the whole"
    );
    let updated: Vec<_> = all.iter().map(|h| h.item.updated_at).collect();
    let sorted = {
        let mut s = updated.clone();
        s.sort_by(|a, b| b.cmp(a));
        s
    };
    assert_eq!(updated, sorted, "pagination: most recently updated first");
    assert!(
        search(store, SearchQuery::new([r.as_str()]).offset(7))
            .await
            .is_empty(),
        "pagination: past the end"
    );
    assert!(
        search(store, SearchQuery::new([r.as_str()]).limit(0))
            .await
            .is_empty(),
        "pagination: limit 0"
    );
    assert_eq!(
        search(store, SearchQuery::new([r.as_str()])).await.len(),
        7,
        "pagination: default limit is 10"
    );
}

/// A text query keeps the items containing every term (case-insensitive) and ranks the ones
/// that mention them more first; `PutOptions::index` limits what is indexed.
pub async fn text_query(store: &dyn Store) {
    let r = root();
    let n = ns(&[&r, "mem"]);
    put(
        store,
        &n,
        "many",
        json!({"text": "Rust, rust and more RUST with tokio"}),
    )
    .await;
    put(
        store,
        &n,
        "once",
        json!({"text": "rust appears once among many other quite ordinary words here"}),
    )
    .await;
    put(store, &n, "none", json!({"text": "python only"})).await;
    put(
        store,
        &n,
        "nested",
        json!({"notes": ["tokio", {"deep": "Rust"}], "n": 5}),
    )
    .await;
    store
        .put(
            &n,
            "title-only",
            json!({"title": "gardening", "body": "rust on the tools"}),
            PutOptions::new().index(["title"]),
        )
        .await
        .unwrap();
    store
        .put(
            &n,
            "unindexed",
            json!({"text": "rust"}),
            PutOptions::new().index(Vec::<String>::new()),
        )
        .await
        .unwrap();

    let hits = search(store, SearchQuery::new([r.as_str()]).query("rust")).await;
    let got = keys(&hits);
    assert_eq!(got.len(), 3, "text_query: matches {got:?}");
    assert_eq!(got[0], "many", "text_query: most mentions first: {got:?}");
    assert!(
        got.contains(&"once") && got.contains(&"nested"),
        "text_query: nested strings indexed: {got:?}"
    );
    assert!(
        hits.iter().all(|h| h.score.is_some_and(|s| s > 0.0)),
        "text_query: scored"
    );
    assert!(
        hits.windows(2).all(|w| w[0].score >= w[1].score),
        "text_query: best first"
    );
    let both = search(store, SearchQuery::new([r.as_str()]).query("TOKIO rust")).await;
    let mut got = keys(&both);
    got.sort();
    assert_eq!(got, ["many", "nested"], "text_query: every term must match");
    let title = search(store, SearchQuery::new([r.as_str()]).query("gardening")).await;
    assert_eq!(keys(&title), ["title-only"], "text_query: an indexed field");
    let none = search(store, SearchQuery::new([r.as_str()]).query("nothing-like-this")).await;
    assert!(none.is_empty(), "text_query: no match");
    let filtered = search(store, SearchQuery::new([r.as_str()]).query("rust").filter("n", 5)).await;
    assert_eq!(keys(&filtered), ["nested"], "text_query: with a filter");
    let blank = search(store, SearchQuery::new([r.as_str()]).query("  ,. ").limit(100)).await;
    assert_eq!(blank.len(), 6, "text_query: a query without terms is ignored");
}

/// An embedding ranks by cosine similarity; items without a comparable embedding come last,
/// unscored.
pub async fn vector_ranking(store: &dyn Store) {
    let r = root();
    let n = ns(&[&r, "vec"]);
    let with = |e: Vec<f32>| PutOptions::new().embedding(e);
    store
        .put(
            &n,
            "same",
            json!({"kind": "a", "text": "alpha"}),
            with(vec![1.0, 0.0, 0.0]),
        )
        .await
        .unwrap();
    store
        .put(
            &n,
            "near",
            json!({"kind": "b", "text": "beta"}),
            with(vec![2.0, 2.0, 0.0]),
        )
        .await
        .unwrap();
    store
        .put(
            &n,
            "far",
            json!({"kind": "a", "text": "gamma"}),
            with(vec![0.0, 0.0, 3.0]),
        )
        .await
        .unwrap();
    store
        .put(
            &n,
            "opposite",
            json!({"kind": "b", "text": "alpha"}),
            with(vec![-1.0, 0.0, 0.0]),
        )
        .await
        .unwrap();
    store
        .put(&n, "other-dims", json!({"kind": "a"}), with(vec![1.0, 0.0]))
        .await
        .unwrap();
    put(store, &n, "plain", json!({"kind": "b"})).await;

    let hits = search(
        store,
        SearchQuery::new([r.as_str()])
            .embedding(vec![1.0, 0.0, 0.0])
            .limit(100),
    )
    .await;
    let got = keys(&hits);
    assert_eq!(
        &got[..4],
        ["same", "near", "far", "opposite"],
        "vector_ranking: order {got:?}"
    );
    let mut tail = got[4..].to_vec();
    tail.sort();
    assert_eq!(tail, ["other-dims", "plain"], "vector_ranking: incomparable last");
    let expected = [1.0, std::f64::consts::FRAC_1_SQRT_2, 0.0, -1.0];
    for (hit, want) in hits.iter().zip(expected) {
        let score = hit
            .score
            .unwrap_or_else(|| panic!("vector_ranking: {} scored", hit.item.key));
        assert!(
            (score - want).abs() < 1e-6,
            "vector_ranking: {} scored {score}, want {want}",
            hit.item.key
        );
    }
    assert!(
        hits[4..].iter().all(|h| h.score.is_none()),
        "vector_ranking: no score without embedding"
    );

    let top = search(
        store,
        SearchQuery::new([r.as_str()])
            .embedding(vec![0.0, 1.0, 0.0])
            .limit(1),
    )
    .await;
    assert_eq!(keys(&top), ["near"], "vector_ranking: limit keeps the best");
    let page = search(
        store,
        SearchQuery::new([r.as_str()])
            .embedding(vec![1.0, 0.0, 0.0])
            .limit(2)
            .offset(1),
    )
    .await;
    assert_eq!(keys(&page), ["near", "far"], "vector_ranking: offset");
    let filtered = search(
        store,
        SearchQuery::new([r.as_str()])
            .embedding(vec![1.0, 0.0, 0.0])
            .filter("kind", "b"),
    )
    .await;
    assert_eq!(
        keys(&filtered),
        ["near", "opposite", "plain"],
        "vector_ranking: with a filter"
    );
    let texted = search(
        store,
        SearchQuery::new([r.as_str()])
            .embedding(vec![-1.0, 0.0, 0.0])
            .query("alpha"),
    )
    .await;
    assert_eq!(
        keys(&texted),
        ["opposite", "same"],
        "vector_ranking: the text selects, the vector ranks"
    );
    assert!(
        (texted[0].score.unwrap() - 1.0).abs() < 1e-6,
        "vector_ranking: the score is the cosine"
    );
}

/// A TTL hides the item from every read once it passes; `sweep_expired` deletes it.
pub async fn ttl(store: &dyn Store) {
    let r = root();
    let n = ns(&[&r, "short"]);
    let keep = ns(&[&r, "long"]);
    let before = SystemTime::now();
    store
        .put(
            &n,
            "brief",
            json!({"text": "ephemeral"}),
            PutOptions::new().ttl(Duration::from_millis(300)),
        )
        .await
        .unwrap();
    store
        .put(
            &keep,
            "lasting",
            json!({"text": "ephemeral too"}),
            PutOptions::new().ttl(Duration::from_secs(3600)),
        )
        .await
        .unwrap();
    let brief = store
        .get(&n, "brief")
        .await
        .unwrap()
        .expect("ttl: live before expiry");
    let expires = brief.expires_at.expect("ttl: expires_at set");
    assert!(
        close(
            expires,
            before + Duration::from_millis(300),
            Duration::from_secs(30)
        ),
        "ttl: expires_at is put time + ttl"
    );
    let lasting = store.get(&keep, "lasting").await.unwrap().unwrap();
    let left = lasting
        .expires_at
        .unwrap()
        .duration_since(SystemTime::now())
        .expect("ttl: a long TTL is in the future");
    assert!(
        left > Duration::from_secs(3500),
        "ttl: about an hour left ({left:?})"
    );

    tokio::time::sleep(Duration::from_millis(1000)).await;
    assert!(
        store.get(&n, "brief").await.unwrap().is_none(),
        "ttl: get hides expired"
    );
    let hits = search(store, SearchQuery::new([r.as_str()]).query("ephemeral")).await;
    assert_eq!(keys(&hits), ["lasting"], "ttl: search hides expired");
    let listed = store
        .list_namespaces(ListNamespaces::new().prefix([r.as_str()]))
        .await
        .unwrap();
    assert_eq!(
        listed,
        std::slice::from_ref(&keep),
        "ttl: list_namespaces hides expired"
    );

    let swept = store.sweep_expired().await.unwrap();
    assert!(swept >= 1, "ttl: sweep deletes the expired item ({swept})");
    assert!(
        store.get(&n, "brief").await.unwrap().is_none(),
        "ttl: still gone after sweep"
    );
    assert!(
        store.get(&keep, "lasting").await.unwrap().is_some(),
        "ttl: live items survive the sweep"
    );

    // Rewriting an expired key starts a new item.
    store
        .put(
            &n,
            "again",
            json!(1),
            PutOptions::new().ttl(Duration::from_millis(50)),
        )
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    let t = SystemTime::now();
    put(store, &n, "again", json!(2)).await;
    let again = store.get(&n, "again").await.unwrap().unwrap();
    assert!(
        close(again.created_at, t, Duration::from_secs(30)) && again.created_at == again.updated_at,
        "ttl: a put over an expired item creates it anew"
    );
}

/// Namespaces by prefix, suffix and depth, sorted label by label, paged.
pub async fn list_namespaces(store: &dyn Store) {
    let r = root();
    let rs = r.as_str();
    for labels in [
        &[rs, "users", "ada", "prefs"][..],
        &[rs, "users", "ada", "facts"],
        &[rs, "users", "bob", "prefs"],
        &[rs, "users", "bob"],
        &[rs, "users-x"],
        &[rs, "teams", "core", "prefs"],
    ] {
        put(store, &ns(labels), "k", json!(1)).await;
        put(store, &ns(labels), "k2", json!(2)).await;
    }
    let list = |o: ListNamespaces| async move { store.list_namespaces(o).await.unwrap() };
    let all = list(ListNamespaces::new().prefix([rs])).await;
    assert_eq!(
        all,
        [
            ns(&[rs, "teams", "core", "prefs"]),
            ns(&[rs, "users", "ada", "facts"]),
            ns(&[rs, "users", "ada", "prefs"]),
            ns(&[rs, "users", "bob"]),
            ns(&[rs, "users", "bob", "prefs"]),
            ns(&[rs, "users-x"]),
        ],
        "list_namespaces: all under the root, sorted label by label, once each"
    );
    assert_eq!(
        list(ListNamespaces::new().prefix([rs, "users"])).await.len(),
        4,
        "list_namespaces: a label-wise prefix"
    );
    assert_eq!(
        list(ListNamespaces::new().prefix([rs]).max_depth(2)).await,
        [ns(&[rs, "teams"]), ns(&[rs, "users"]), ns(&[rs, "users-x"])],
        "list_namespaces: max_depth truncates and deduplicates"
    );
    assert_eq!(
        list(ListNamespaces::new().prefix([rs, "users"]).max_depth(3)).await,
        [ns(&[rs, "users", "ada"]), ns(&[rs, "users", "bob"])],
        "list_namespaces: prefix and depth"
    );
    assert_eq!(
        list(ListNamespaces::new().prefix([rs]).suffix(["prefs"])).await,
        [
            ns(&[rs, "teams", "core", "prefs"]),
            ns(&[rs, "users", "ada", "prefs"]),
            ns(&[rs, "users", "bob", "prefs"]),
        ],
        "list_namespaces: suffix"
    );
    assert_eq!(
        list(
            ListNamespaces::new()
                .prefix([rs])
                .suffix(["bob", "prefs"])
                .max_depth(2)
        )
        .await,
        [ns(&[rs, "users"])],
        "list_namespaces: suffix applies before truncation"
    );
    assert_eq!(
        list(ListNamespaces::new().suffix([rs, "users-x"])).await,
        [ns(&[rs, "users-x"])],
        "list_namespaces: suffix alone"
    );
    assert_eq!(
        list(ListNamespaces::new().prefix([rs]).limit(2).offset(3)).await,
        all[3..5].to_vec(),
        "list_namespaces: limit and offset"
    );
    assert!(
        list(ListNamespaces::new().prefix([rs, "nobody"]))
            .await
            .is_empty(),
        "list_namespaces: unknown prefix"
    );
    let everything = list(ListNamespaces::new().limit(100_000)).await;
    assert!(
        everything.iter().filter(|n| n[0] == r).count() == 6,
        "list_namespaces: no prefix lists every namespace"
    );
}
