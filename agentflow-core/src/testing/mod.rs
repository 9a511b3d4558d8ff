//! The conformance kit for [`Checkpointer`] implementations (feature `testing`).
//!
//! Run it from a test of your saver; every clause panics with its name on failure:
//!
//! ```
//! # #[cfg(feature = "testing")]
//! # tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap().block_on(async {
//! use std::sync::Arc;
//! use agentflow_core::checkpoint::InMemorySaver;
//!
//! agentflow_core::testing::run_all(Arc::new(InMemorySaver::new())).await;
//! # });
//! ```
//!
//! The clauses follow LangGraph's checkpoint conformance suite (`put_*`, `put_writes_*`,
//! `get_tuple_*`, `list_*`, `delete_thread_*`), plus what it lacks: writer fencing (with real
//! concurrency), prune, copy and TTL-free retention, and the claims of journaled steps and the
//! fences that keep side effects to one runner ([`intents`]). Each clause uses fresh thread ids, so one
//! saver (one database) serves them all.
#![allow(clippy::unwrap_used, clippy::panic)]

pub mod corrupt;
pub mod crash;
pub mod effects;
pub mod intents;
pub mod wrap;

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::checkpoint::{
    CHECKPOINT_VERSION, Checkpoint, CheckpointError, CheckpointMetadata, CheckpointRef, CheckpointSource,
    CheckpointTuple, Checkpointer, ListOptions, PendingSend, PendingWrite, PruneStrategy, PutMode,
    next_checkpoint_id,
};

fn thread() -> String {
    format!("conformance-{}", uuid::Uuid::new_v4())
}

fn checkpoint(id: &str, values: &[(&str, u64, &str)]) -> Checkpoint {
    Checkpoint {
        v: CHECKPOINT_VERSION,
        id: id.to_owned(),
        ts_ms: 1_700_000_000_000,
        channel_values: values
            .iter()
            .map(|(k, _, v)| ((*k).to_owned(), v.as_bytes().to_vec()))
            .collect(),
        channel_deltas: BTreeMap::new(),
        channel_appends: BTreeMap::new(),
        channel_versions: values.iter().map(|(k, ver, _)| ((*k).to_owned(), *ver)).collect(),
        versions_seen: BTreeMap::from([("node".to_owned(), BTreeMap::from([("a".to_owned(), 1)]))]).into(),
        updated_channels: values.iter().map(|(k, _, _)| (*k).to_owned()).collect(),
        next: vec!["node".into()],
        sends: vec![PendingSend {
            node: "worker".into(),
            payload: b"{\"job\":1}".to_vec(),
        }],
        joins: BTreeMap::from([("join:a+b:c".to_owned(), vec!["a".to_owned()])]),
        codec: "json".into(),
    }
}

fn metadata(source: CheckpointSource, step: i64) -> CheckpointMetadata {
    CheckpointMetadata {
        source,
        step,
        parents: BTreeMap::new(),
        run_id: "run-1".into(),
        extra: BTreeMap::from([("user".to_owned(), serde_json::json!("ada"))]),
    }
}

fn versions(values: &[(&str, u64, &str)]) -> BTreeMap<String, u64> {
    values.iter().map(|(k, v, _)| ((*k).to_owned(), *v)).collect()
}

/// Puts a chain of `n` checkpoints on `thread`; returns their ids, oldest first.
async fn chain(saver: &dyn Checkpointer, thread: &str, n: usize) -> Vec<String> {
    let mut ids: Vec<String> = Vec::new();
    for i in 0..n {
        let id = next_checkpoint_id(ids.last().map(String::as_str));
        let value = format!("\"v{i}\"");
        let values = [("a", i as u64 + 1, value.as_str())];
        let parent = CheckpointRef {
            thread_id: thread.to_owned(),
            namespace: String::new(),
            checkpoint_id: ids.last().cloned(),
        };
        let source = if i == 0 {
            CheckpointSource::Input
        } else {
            CheckpointSource::Loop
        };
        saver
            .put(
                &parent,
                &checkpoint(&id, &values),
                &metadata(source, i as i64 - 1),
                &versions(&values),
                PutMode::Extend,
            )
            .await
            .unwrap();
        ids.push(id);
    }
    ids
}

/// The latest checkpoint of `thread` (the kit's savers never fail a read).
async fn latest(saver: &dyn Checkpointer, thread: &str) -> Option<CheckpointTuple> {
    saver.get_tuple(&CheckpointRef::latest(thread)).await.unwrap()
}

fn write(task: &str, channel: &str, idx: i64, value: &str) -> PendingWrite {
    PendingWrite {
        task_id: task.into(),
        task_path: "node".into(),
        channel: channel.into(),
        idx,
        value: value.as_bytes().to_vec(),
    }
}

/// put: a checkpoint reads back exactly, with metadata, parent and all fields.
pub async fn put_roundtrip(saver: &dyn Checkpointer) {
    let t = thread();
    let ids = chain(saver, &t, 2).await;
    let tuple = latest(saver, &t).await.expect("put_roundtrip: latest");
    let values = [("a", 2, "\"v1\"")];
    assert_eq!(
        tuple.checkpoint,
        checkpoint(&ids[1], &values),
        "put_roundtrip: checkpoint"
    );
    assert_eq!(
        tuple.metadata,
        metadata(CheckpointSource::Loop, 0),
        "put_roundtrip: metadata"
    );
    assert_eq!(
        tuple.parent,
        Some(CheckpointRef::at(&t, &ids[0])),
        "put_roundtrip: parent"
    );
    assert_eq!(
        tuple.config,
        CheckpointRef::at(&t, &ids[1]),
        "put_roundtrip: config"
    );
}

/// put: only new versions are sent; unchanged fields keep their older values.
pub async fn put_incremental_values(saver: &dyn Checkpointer) {
    let t = thread();
    let first = next_checkpoint_id(None);
    let both = [("a", 1, "\"a1\""), ("b", 1, "\"b1\"")];
    saver
        .put(
            &CheckpointRef::latest(&t),
            &checkpoint(&first, &both),
            &metadata(CheckpointSource::Input, -1),
            &versions(&both),
            PutMode::Extend,
        )
        .await
        .unwrap();
    let second = next_checkpoint_id(Some(&first));
    let mut cp = checkpoint(&second, &[("b", 2, "\"b2\"")]);
    cp.channel_versions.insert("a".into(), 1);
    saver
        .put(
            &CheckpointRef::at(&t, &first),
            &cp,
            &metadata(CheckpointSource::Loop, 0),
            &versions(&[("b", 2, "")]),
            PutMode::Extend,
        )
        .await
        .unwrap();
    let tuple = latest(saver, &t).await.unwrap();
    assert_eq!(
        tuple.checkpoint.channel_values["a"], b"\"a1\"",
        "put_incremental_values: unchanged field"
    );
    assert_eq!(
        tuple.checkpoint.channel_values["b"], b"\"b2\"",
        "put_incremental_values: new version"
    );
    let old = saver
        .get_tuple(&CheckpointRef::at(&t, &first))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        old.checkpoint.channel_values["b"], b"\"b1\"",
        "put_incremental_values: old version kept"
    );
}

/// put: namespaces of one thread are independent.
pub async fn put_namespaces_are_isolated(saver: &dyn Checkpointer) {
    let t = thread();
    chain(saver, &t, 1).await;
    let child = CheckpointRef {
        thread_id: t.clone(),
        namespace: "sub:1".into(),
        checkpoint_id: None,
    };
    assert!(
        saver.get_tuple(&child).await.unwrap().is_none(),
        "put_namespaces_are_isolated: empty child"
    );
    let id = next_checkpoint_id(None);
    let values = [("x", 1, "1")];
    saver
        .put(
            &child,
            &checkpoint(&id, &values),
            &metadata(CheckpointSource::Input, -1),
            &versions(&values),
            PutMode::Extend,
        )
        .await
        .unwrap();
    let got = saver.get_tuple(&child).await.unwrap().unwrap();
    assert_eq!(
        got.config.namespace, "sub:1",
        "put_namespaces_are_isolated: namespace"
    );
    let root = latest(saver, &t).await.unwrap();
    assert_ne!(
        root.checkpoint.id, id,
        "put_namespaces_are_isolated: root untouched"
    );
}

/// Fencing: a second first checkpoint, or a second child of one checkpoint, is a conflict;
/// a fork may branch; an unknown parent is not found.
pub async fn put_fencing(saver: &dyn Checkpointer) {
    let t = thread();
    let ids = chain(saver, &t, 2).await;
    let values = [("a", 9, "9")];
    let stray = next_checkpoint_id(ids.last().map(String::as_str));
    let err = saver
        .put(
            &CheckpointRef::latest(&t),
            &checkpoint(&stray, &values),
            &metadata(CheckpointSource::Input, -1),
            &versions(&values),
            PutMode::Extend,
        )
        .await
        .unwrap_err();
    assert!(
        matches!(err, CheckpointError::Conflict { .. }),
        "put_fencing: second root: {err}"
    );
    let err = saver
        .put(
            &CheckpointRef::at(&t, &ids[0]),
            &checkpoint(&stray, &values),
            &metadata(CheckpointSource::Loop, 0),
            &versions(&values),
            PutMode::Extend,
        )
        .await
        .unwrap_err();
    assert!(
        matches!(err, CheckpointError::Conflict { .. }),
        "put_fencing: extended twice: {err}"
    );
    saver
        .put(
            &CheckpointRef::at(&t, &ids[0]),
            &checkpoint(&stray, &values),
            &metadata(CheckpointSource::Fork, 0),
            &versions(&values),
            PutMode::Fork,
        )
        .await
        .expect("put_fencing: a fork may branch");
    let missing = next_checkpoint_id(None);
    let err = saver
        .put(
            &CheckpointRef::at(&t, "00000000-0000-7000-8000-000000000000"),
            &checkpoint(&missing, &values),
            &metadata(CheckpointSource::Loop, 0),
            &versions(&values),
            PutMode::Extend,
        )
        .await
        .unwrap_err();
    assert!(
        matches!(err, CheckpointError::NotFound { .. }),
        "put_fencing: unknown parent: {err}"
    );
}

/// Fencing under real concurrency: of many writers extending one checkpoint, exactly one wins.
pub async fn put_fencing_concurrent(saver: Arc<dyn Checkpointer>) {
    let t = thread();
    let ids = chain(&*saver, &t, 1).await;
    let mut tasks = Vec::new();
    for i in 0..8u64 {
        let (saver, t, parent) = (saver.clone(), t.clone(), ids[0].clone());
        tasks.push(tokio::spawn(async move {
            let id = next_checkpoint_id(Some(&parent));
            let value = i.to_string();
            let values = [("a", 2 + i, value.as_str())];
            saver
                .put(
                    &CheckpointRef::at(&t, &parent),
                    &checkpoint(&id, &values),
                    &metadata(CheckpointSource::Loop, 0),
                    &versions(&values),
                    PutMode::Extend,
                )
                .await
        }));
    }
    let mut wins = 0;
    for task in tasks {
        match task.await.unwrap() {
            Ok(_) => wins += 1,
            Err(CheckpointError::Conflict { .. }) => {}
            Err(other) => panic!("put_fencing_concurrent: unexpected error {other}"),
        }
    }
    assert_eq!(wins, 1, "put_fencing_concurrent: exactly one writer wins");
}

/// put_writes: writes read back with their checkpoint, sorted, upserted by (task, idx), and
/// only on that checkpoint.
pub async fn put_writes_roundtrip(saver: &dyn Checkpointer) {
    let t = thread();
    let ids = chain(saver, &t, 1).await;
    let at = CheckpointRef::at(&t, &ids[0]);
    saver
        .put_writes(
            &at,
            &[
                write("task-b", "__result__", 0, "1"),
                write("task-b", "__routes__", -2, "[]"),
            ],
        )
        .await
        .unwrap();
    saver
        .put_writes(&at, &[write("task-a", "__result__", 0, "first")])
        .await
        .unwrap();
    saver
        .put_writes(&at, &[write("task-a", "__result__", 0, "second")])
        .await
        .unwrap();
    let tuple = saver.get_tuple(&at).await.unwrap().unwrap();
    let got: Vec<(&str, i64, &[u8])> = tuple
        .pending_writes
        .iter()
        .map(|w| (w.task_id.as_str(), w.idx, w.value.as_slice()))
        .collect();
    assert_eq!(
        got,
        [
            ("task-a", 0, &b"second"[..]),
            ("task-b", -2, b"[]"),
            ("task-b", 0, b"1")
        ],
        "put_writes_roundtrip: sorted by (task, idx), upserted"
    );
    let next = chain_on(saver, &t, &ids[0]).await;
    let later = saver
        .get_tuple(&CheckpointRef::at(&t, &next))
        .await
        .unwrap()
        .unwrap();
    assert!(
        later.pending_writes.is_empty(),
        "put_writes_roundtrip: writes stay with their checkpoint"
    );
    let err = saver
        .put_writes(
            &CheckpointRef::at(&t, "00000000-0000-7000-8000-000000000000"),
            &[write("x", "__result__", 0, "1")],
        )
        .await
        .unwrap_err();
    assert!(
        matches!(err, CheckpointError::NotFound { .. }),
        "put_writes_roundtrip: unknown checkpoint: {err}"
    );
}

/// put_step: a step's writes replace writes already stored for the same (task, idx) (a task run
/// again), and a fork may carry a field version that is already stored.
pub async fn put_step_over_stored_writes(saver: &dyn Checkpointer) {
    let t = thread();
    let ids = chain(saver, &t, 1).await;
    let at = CheckpointRef::at(&t, &ids[0]);
    saver
        .put_writes(&at, &[write("task-a", "__result__", 0, "first")])
        .await
        .unwrap();
    let values = [("a", 60, "60")];
    let step = |id: &str, value: &str, mode| {
        let (id, value) = (id.to_owned(), value.to_owned());
        let at = at.clone();
        async move {
            saver
                .put_step(
                    &[write("task-a", "__result__", 0, &value)],
                    &at,
                    &checkpoint(&id, &values),
                    &metadata(CheckpointSource::Loop, 1),
                    &versions(&values),
                    mode,
                )
                .await
        }
    };
    let extended = next_checkpoint_id(Some(&ids[0]));
    step(&extended, "second", PutMode::Extend)
        .await
        .expect("put_step_over_stored_writes: a stored write is replaced");
    let writes_of = |tuple: CheckpointTuple| {
        tuple
            .pending_writes
            .into_iter()
            .map(|w| (w.task_id, w.value))
            .collect::<Vec<_>>()
    };
    let parent = saver.get_tuple(&at).await.unwrap().unwrap();
    assert_eq!(
        writes_of(parent),
        [("task-a".to_owned(), b"second".to_vec())],
        "put_step_over_stored_writes: the step's write replaced the stored one"
    );
    let fork = next_checkpoint_id(Some(&extended));
    step(&fork, "third", PutMode::Fork)
        .await
        .expect("put_step_over_stored_writes: a stored field version is kept");
    let forked = saver
        .get_tuple(&CheckpointRef::at(&t, &fork))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        forked.checkpoint.channel_values["a"], b"60",
        "put_step_over_stored_writes: the fork reads the stored version"
    );
    let parent = saver.get_tuple(&at).await.unwrap().unwrap();
    assert_eq!(
        writes_of(parent),
        [("task-a".to_owned(), b"third".to_vec())],
        "put_step_over_stored_writes: the fork's write replaced the stored one"
    );
}

async fn chain_on(saver: &dyn Checkpointer, t: &str, parent: &str) -> String {
    let id = next_checkpoint_id(Some(parent));
    let values = [("a", 50, "50")];
    saver
        .put(
            &CheckpointRef::at(t, parent),
            &checkpoint(&id, &values),
            &metadata(CheckpointSource::Loop, 5),
            &versions(&values),
            PutMode::Extend,
        )
        .await
        .unwrap();
    id
}

/// get_tuple: none for an unknown thread or id; the latest is the newest id.
pub async fn get_tuple_cases(saver: &dyn Checkpointer) {
    let t = thread();
    assert!(latest(saver, &t).await.is_none(), "get_tuple: unknown thread");
    let ids = chain(saver, &t, 3).await;
    let latest = latest(saver, &t).await.unwrap();
    assert_eq!(latest.checkpoint.id, ids[2], "get_tuple: latest");
    let first = saver
        .get_tuple(&CheckpointRef::at(&t, &ids[0]))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(first.checkpoint.id, ids[0], "get_tuple: by id");
    assert!(first.parent.is_none(), "get_tuple: first has no parent");
    let missing = saver
        .get_tuple(&CheckpointRef::at(&t, "00000000-0000-7000-8000-000000000000"))
        .await
        .unwrap();
    assert!(missing.is_none(), "get_tuple: unknown id");
}

/// list: newest first, limit, before, metadata filter, across threads, with pending writes.
pub async fn list_cases(saver: &dyn Checkpointer) {
    let t = thread();
    let ids = chain(saver, &t, 4).await;
    saver
        .put_writes(
            &CheckpointRef::at(&t, &ids[3]),
            &[write("task", "__result__", 0, "1")],
        )
        .await
        .unwrap();
    let all = saver
        .list(Some(&CheckpointRef::latest(&t)), &ListOptions::default())
        .await
        .unwrap();
    let listed: Vec<&str> = all.iter().map(|c| c.checkpoint.id.as_str()).collect();
    let mut expected: Vec<&str> = ids.iter().map(String::as_str).collect();
    expected.reverse();
    assert_eq!(listed, expected, "list: newest first");
    assert_eq!(all[0].pending_writes.len(), 1, "list: includes pending writes");
    let limited = saver
        .list(
            Some(&CheckpointRef::latest(&t)),
            &ListOptions {
                limit: Some(2),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(limited.len(), 2, "list: limit");
    let before = saver
        .list(
            Some(&CheckpointRef::latest(&t)),
            &ListOptions {
                before: Some(ids[2].clone()),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(
        before.iter().map(|c| c.checkpoint.id.clone()).collect::<Vec<_>>(),
        [ids[1].clone(), ids[0].clone()],
        "list: before"
    );
    let filter = |k: &str, v: serde_json::Value| ListOptions {
        filter: BTreeMap::from([(k.to_owned(), v)]),
        ..Default::default()
    };
    let inputs = saver
        .list(
            Some(&CheckpointRef::latest(&t)),
            &filter("source", serde_json::json!("input")),
        )
        .await
        .unwrap();
    assert_eq!(inputs.len(), 1, "list: filter on source");
    let step = saver
        .list(
            Some(&CheckpointRef::latest(&t)),
            &filter("step", serde_json::json!(1)),
        )
        .await
        .unwrap();
    assert_eq!(step.len(), 1, "list: filter on step");
    let user = saver
        .list(
            Some(&CheckpointRef::latest(&t)),
            &filter("user", serde_json::json!("ada")),
        )
        .await
        .unwrap();
    assert_eq!(user.len(), 4, "list: filter on user metadata");
    let nobody = saver
        .list(
            Some(&CheckpointRef::latest(&t)),
            &filter("user", serde_json::json!("bob")),
        )
        .await
        .unwrap();
    assert!(nobody.is_empty(), "list: filter excludes");
    let other = thread();
    chain(saver, &other, 1).await;
    let everywhere = saver.list(None, &ListOptions::default()).await.unwrap();
    assert!(
        everywhere.iter().any(|c| c.config.thread_id == t),
        "list: all threads (1)"
    );
    assert!(
        everywhere.iter().any(|c| c.config.thread_id == other),
        "list: all threads (2)"
    );
}

/// list filter: user metadata holding arrays and objects matches by JSON equality (arrays in
/// order, objects by their whole key set, numbers by value), never by containment.
pub async fn list_filter_structured_values(saver: &dyn Checkpointer) {
    let t = thread();
    let id = next_checkpoint_id(None);
    let mut stored = metadata(CheckpointSource::Input, -1);
    stored.extra.insert("tags".into(), serde_json::json!(["a", "b"]));
    stored
        .extra
        .insert("owner".into(), serde_json::json!({"team": "x", "level": 2}));
    let values = [("a", 1, "1")];
    saver
        .put(
            &CheckpointRef::latest(&t),
            &checkpoint(&id, &values),
            &stored,
            &versions(&values),
            PutMode::Extend,
        )
        .await
        .unwrap();
    let count = async |key: &str, value: serde_json::Value| {
        let options = ListOptions {
            filter: BTreeMap::from([(key.to_owned(), value)]),
            ..Default::default()
        };
        saver
            .list(Some(&CheckpointRef::latest(&t)), &options)
            .await
            .unwrap()
            .len()
    };
    let cases = [
        ("tags", serde_json::json!(["a", "b"]), 1, "the same array"),
        ("tags", serde_json::json!(["a"]), 0, "a part of the array"),
        ("tags", serde_json::json!(["b", "a"]), 0, "the array reordered"),
        ("tags", serde_json::json!("a"), 0, "one element of the array"),
        (
            "owner",
            serde_json::json!({"level": 2, "team": "x"}),
            1,
            "the same object",
        ),
        (
            "owner",
            serde_json::json!({"level": 2.0, "team": "x"}),
            1,
            "a number by value",
        ),
        (
            "owner",
            serde_json::json!({"team": "x"}),
            0,
            "a part of the object",
        ),
        (
            "owner",
            serde_json::json!({"team": "x", "level": 2, "more": 1}),
            0,
            "a larger object",
        ),
    ];
    for (key, value, expected, what) in cases {
        assert_eq!(count(key, value).await, expected, "list filter: {what}");
    }
}

/// list: without a limit, at most [`DEFAULT_LIST_LIMIT`](crate::checkpoint::DEFAULT_LIST_LIMIT)
/// checkpoints, newest first; `Some(usize::MAX)` reads them all.
pub async fn list_default_limit(saver: &dyn Checkpointer) {
    let t = thread();
    let ids = chain(saver, &t, crate::checkpoint::DEFAULT_LIST_LIMIT + 1).await;
    let thread = CheckpointRef::latest(&t);
    let bounded = saver.list(Some(&thread), &ListOptions::default()).await.unwrap();
    assert_eq!(
        bounded.len(),
        crate::checkpoint::DEFAULT_LIST_LIMIT,
        "list: default limit"
    );
    assert_eq!(
        bounded[0].checkpoint.id,
        ids[ids.len() - 1],
        "list: default limit keeps the newest"
    );
    let every = ListOptions {
        limit: Some(usize::MAX),
        ..Default::default()
    };
    let all = saver.list(Some(&thread), &every).await.unwrap();
    assert_eq!(
        all.len(),
        ids.len(),
        "list: an explicit limit reads past the default"
    );
}

/// delete_thread: every namespace of the thread goes; other threads stay.
pub async fn delete_thread_cases(saver: &dyn Checkpointer) {
    let (t, other) = (thread(), thread());
    chain(saver, &t, 2).await;
    chain(saver, &other, 1).await;
    let child = CheckpointRef {
        thread_id: t.clone(),
        namespace: "sub:1".into(),
        checkpoint_id: None,
    };
    let values = [("x", 1, "1")];
    saver
        .put(
            &child,
            &checkpoint(&next_checkpoint_id(None), &values),
            &metadata(CheckpointSource::Input, -1),
            &versions(&values),
            PutMode::Extend,
        )
        .await
        .unwrap();
    saver.delete_thread(&t).await.unwrap();
    assert!(latest(saver, &t).await.is_none(), "delete_thread: root gone");
    assert!(
        saver.get_tuple(&child).await.unwrap().is_none(),
        "delete_thread: namespaces gone"
    );
    assert!(
        latest(saver, &other).await.is_some(),
        "delete_thread: others stay"
    );
    // A deleted thread starts again from nothing.
    chain(saver, &t, 1).await;
}

/// prune: keep-latest leaves one readable checkpoint that can be extended; delete removes all.
pub async fn prune_cases(saver: &dyn Checkpointer) {
    let (t, gone) = (thread(), thread());
    let ids = chain(saver, &t, 3).await;
    chain(saver, &gone, 2).await;
    saver
        .prune(std::slice::from_ref(&t), PruneStrategy::KeepLatest)
        .await
        .unwrap();
    let left = saver
        .list(Some(&CheckpointRef::latest(&t)), &ListOptions::default())
        .await
        .unwrap();
    assert_eq!(left.len(), 1, "prune: keep latest");
    assert_eq!(left[0].checkpoint.id, ids[2], "prune: the latest stays");
    assert_eq!(
        left[0].checkpoint.channel_values["a"], b"\"v2\"",
        "prune: its values stay"
    );
    chain_on(saver, &t, &ids[2]).await;
    saver
        .prune(std::slice::from_ref(&gone), PruneStrategy::Delete)
        .await
        .unwrap();
    assert!(latest(saver, &gone).await.is_none(), "prune: delete");
}

/// copy_thread: the copy reads the same; copying onto a used thread is a conflict.
pub async fn copy_thread_cases(saver: &dyn Checkpointer) {
    let (source, target) = (thread(), thread());
    let ids = chain(saver, &source, 2).await;
    saver
        .put_writes(
            &CheckpointRef::at(&source, &ids[1]),
            &[write("task", "__result__", 0, "1")],
        )
        .await
        .unwrap();
    saver.copy_thread(&source, &target).await.unwrap();
    let copied = latest(saver, &target).await.unwrap();
    assert_eq!(copied.checkpoint.id, ids[1], "copy_thread: same checkpoints");
    assert_eq!(copied.pending_writes.len(), 1, "copy_thread: with writes");
    assert_eq!(
        copied.checkpoint.channel_values["a"], b"\"v1\"",
        "copy_thread: with values"
    );
    let err = saver.copy_thread(&source, &target).await.unwrap_err();
    assert!(
        matches!(err, CheckpointError::Conflict { .. }),
        "copy_thread: onto a used thread: {err}"
    );
    // The copy is independent.
    saver.delete_thread(&source).await.unwrap();
    assert!(latest(saver, &target).await.is_some(), "copy_thread: independent");
}

/// put: append fields stored as deltas read back as their last snapshot followed by the deltas,
/// oldest first; prune keeps the whole chain a kept checkpoint needs.
pub async fn put_append_deltas(saver: &dyn Checkpointer) {
    let t = thread();
    let ids = corrupt::delta_chain(saver, &t).await;
    let read = |i: usize| {
        let at = CheckpointRef::at(&t, &ids[i]);
        async move { saver.get_tuple(&at).await.unwrap().unwrap().checkpoint }
    };
    let third = read(2).await;
    assert_eq!(
        third.channel_values["log"], b"[1,2]",
        "put_append_deltas: the snapshot"
    );
    assert_eq!(
        third.channel_appends["log"],
        vec![b"[3]".to_vec(), b"[4,5]".to_vec()],
        "put_append_deltas: the deltas, oldest first"
    );
    assert!(
        third.channel_deltas.is_empty(),
        "put_append_deltas: deltas are a put-side field"
    );
    let second = read(1).await;
    assert_eq!(
        second.channel_appends["log"],
        vec![b"[3]".to_vec()],
        "put_append_deltas: up to its version"
    );
    let first = read(0).await;
    assert!(
        first.channel_appends.is_empty(),
        "put_append_deltas: a snapshot alone"
    );
    saver
        .prune(std::slice::from_ref(&t), PruneStrategy::KeepLatest)
        .await
        .unwrap();
    let kept = read(2).await;
    assert_eq!(
        kept.channel_values["log"], b"[1,2]",
        "put_append_deltas: prune keeps the chain"
    );
    assert_eq!(
        kept.channel_appends["log"].len(),
        2,
        "put_append_deltas: prune keeps the chain"
    );
}

/// Runs every clause; panics with the first failing clause's name.
pub async fn run_all(saver: Arc<dyn Checkpointer>) {
    put_roundtrip(&*saver).await;
    put_incremental_values(&*saver).await;
    put_append_deltas(&*saver).await;
    put_namespaces_are_isolated(&*saver).await;
    put_fencing(&*saver).await;
    put_fencing_concurrent(saver.clone()).await;
    put_writes_roundtrip(&*saver).await;
    put_step_over_stored_writes(&*saver).await;
    get_tuple_cases(&*saver).await;
    list_cases(&*saver).await;
    list_filter_structured_values(&*saver).await;
    list_default_limit(&*saver).await;
    delete_thread_cases(&*saver).await;
    prune_cases(&*saver).await;
    copy_thread_cases(&*saver).await;
    intents::run_all(saver).await;
}
