//! SqliteSaver beyond the conformance kit: several pools on one file, one-transaction steps,
//! forks, deltas, a busy database, and databases it must refuse.

mod common;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use agentflow_core::checkpoint::{
    Checkpoint, CheckpointError, CheckpointMetadata, CheckpointRef, CheckpointSource, Checkpointer,
    ListOptions, PendingWrite, PruneStrategy, PutMode, next_checkpoint_id,
};
use agentflow_sqlite::sqlx::sqlite::{SqliteConnection, SqliteJournalMode};
use agentflow_sqlite::sqlx::{self, Connection};
use agentflow_sqlite::{SqliteError, SqliteSaver};
use common::TempDb;

fn checkpoint(id: &str, values: &[(&str, u64, &str)]) -> Checkpoint {
    Checkpoint {
        id: id.to_owned(),
        ts_ms: 1_700_000_000_000,
        channel_values: values
            .iter()
            .map(|(k, _, v)| ((*k).to_owned(), v.as_bytes().to_vec()))
            .collect(),
        channel_versions: values.iter().map(|(k, ver, _)| ((*k).to_owned(), *ver)).collect(),
        ..Checkpoint::default()
    }
}

fn metadata(step: i64) -> CheckpointMetadata {
    CheckpointMetadata {
        source: if step < 0 {
            CheckpointSource::Input
        } else {
            CheckpointSource::Loop
        },
        step,
        parents: BTreeMap::new(),
        run_id: "run".into(),
        extra: BTreeMap::new(),
    }
}

fn versions(values: &[(&str, u64, &str)]) -> BTreeMap<String, u64> {
    values.iter().map(|(k, v, _)| ((*k).to_owned(), *v)).collect()
}

/// Puts a checkpoint with `values` (all new) after `parent`; returns its id.
async fn put(
    saver: &dyn Checkpointer,
    thread: &str,
    parent: Option<&str>,
    values: &[(&str, u64, &str)],
    mode: PutMode,
) -> Result<String, CheckpointError> {
    let id = next_checkpoint_id(parent);
    let at = CheckpointRef {
        thread_id: thread.to_owned(),
        namespace: String::new(),
        checkpoint_id: parent.map(str::to_owned),
    };
    saver
        .put(
            &at,
            &checkpoint(&id, values),
            &metadata(0),
            &versions(values),
            mode,
        )
        .await?;
    Ok(id)
}

fn write(task: &str, value: &str) -> PendingWrite {
    PendingWrite {
        task_id: task.into(),
        task_path: "node".into(),
        channel: "__result__".into(),
        idx: 0,
        value: value.as_bytes().to_vec(),
    }
}

fn thread() -> String {
    format!("t-{}", uuid::Uuid::new_v4())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_savers_on_one_file_racing_to_extend_a_checkpoint_one_wins() {
    let db = TempDb::new("race");
    // Two pools on one file, as two processes would have.
    let one: Arc<dyn Checkpointer> = Arc::new(SqliteSaver::open(db.path()).await.unwrap());
    let two: Arc<dyn Checkpointer> = Arc::new(SqliteSaver::open(db.path()).await.unwrap());
    for round in 0..20 {
        let t = thread();
        let root = put(&*one, &t, None, &[("a", 1, "0")], PutMode::Extend)
            .await
            .unwrap();
        let barrier = Arc::new(tokio::sync::Barrier::new(2));
        let racer = |saver: Arc<dyn Checkpointer>, value: &'static str| {
            let (t, root, barrier) = (t.clone(), root.clone(), barrier.clone());
            tokio::spawn(async move {
                barrier.wait().await;
                put(&*saver, &t, Some(&root), &[("a", 2, value)], PutMode::Extend).await
            })
        };
        let (first, second) = (racer(one.clone(), "\"one\""), racer(two.clone(), "\"two\""));
        let results = [first.await.unwrap(), second.await.unwrap()];
        let winners: Vec<&String> = results.iter().filter_map(|r| r.as_ref().ok()).collect();
        assert_eq!(winners.len(), 1, "round {round}: {results:?}");
        let loser = results.iter().find_map(|r| r.as_ref().err()).unwrap();
        assert!(
            matches!(loser, CheckpointError::Conflict { parent: Some(p), .. } if *p == root),
            "round {round}: {loser}"
        );
        // Both savers see the winner as the head; the loser left nothing behind.
        for saver in [&one, &two] {
            let head = saver
                .get_tuple(&CheckpointRef::latest(&t))
                .await
                .unwrap()
                .unwrap();
            assert_eq!(&head.checkpoint.id, winners[0]);
            let all = saver
                .list(Some(&CheckpointRef::latest(&t)), &ListOptions::default())
                .await
                .unwrap();
            assert_eq!(all.len(), 2);
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn savers_opening_a_new_database_at_once_all_succeed() {
    let db = TempDb::new("open-race");
    let opens: Vec<_> = (0..4)
        .map(|_| {
            let path = db.path().to_owned();
            tokio::spawn(async move { SqliteSaver::open(path).await })
        })
        .collect();
    let mut savers = Vec::new();
    for open in opens {
        savers.push(open.await.unwrap().unwrap());
    }
    let applied: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM agentflow_migrations")
        .fetch_one(savers[0].pool())
        .await
        .unwrap();
    assert_eq!(
        applied,
        agentflow_sqlite::SCHEMA_VERSION,
        "each migration applied once"
    );
    let mode: String = sqlx::query_scalar("PRAGMA journal_mode")
        .fetch_one(savers[0].pool())
        .await
        .unwrap();
    assert_eq!(mode, "wal");
}

#[tokio::test]
async fn put_step_commits_the_writes_and_the_checkpoint_together() {
    let db = TempDb::new("put-step");
    let saver = SqliteSaver::open(db.path()).await.unwrap();
    let t = thread();
    let root = put(&saver, &t, None, &[("a", 1, "1")], PutMode::Extend)
        .await
        .unwrap();
    let at_root = CheckpointRef::at(&t, &root);
    let values = [("a", 2, "2")];
    let next = next_checkpoint_id(Some(&root));
    saver
        .put_step(
            &[write("task-1", "done")],
            &at_root,
            &checkpoint(&next, &values),
            &metadata(1),
            &versions(&values),
            PutMode::Extend,
        )
        .await
        .unwrap();
    let root_tuple = saver.get_tuple(&at_root).await.unwrap().unwrap();
    assert_eq!(root_tuple.pending_writes, [write("task-1", "done")]);
    assert_eq!(
        saver
            .get_tuple(&CheckpointRef::latest(&t))
            .await
            .unwrap()
            .unwrap()
            .checkpoint
            .id,
        next
    );

    // A step that loses the race stores nothing: not its checkpoint, not its writes.
    let stray = next_checkpoint_id(Some(&next));
    let err = saver
        .put_step(
            &[write("task-2", "stale"), write("task-1", "overwritten?")],
            &at_root,
            &checkpoint(&stray, &values),
            &metadata(1),
            &versions(&values),
            PutMode::Extend,
        )
        .await
        .unwrap_err();
    assert!(matches!(err, CheckpointError::Conflict { .. }), "{err}");
    let root_tuple = saver.get_tuple(&at_root).await.unwrap().unwrap();
    assert_eq!(
        root_tuple.pending_writes,
        [write("task-1", "done")],
        "the failed step's writes were rolled back"
    );
    assert!(
        saver
            .get_tuple(&CheckpointRef::at(&t, &stray))
            .await
            .unwrap()
            .is_none()
    );

    // Writes against a checkpoint that does not exist: not found, nothing stored.
    let missing = CheckpointRef::at(&t, "00000000-0000-7000-8000-000000000000");
    let err = saver
        .put_step(
            &[write("task-3", "x")],
            &missing,
            &checkpoint(&next_checkpoint_id(Some(&stray)), &values),
            &metadata(2),
            &versions(&values),
            PutMode::Extend,
        )
        .await
        .unwrap_err();
    assert!(matches!(err, CheckpointError::NotFound { .. }), "{err}");
}

#[tokio::test]
async fn forked_branches_keep_their_own_values_at_the_same_version() {
    let saver = SqliteSaver::in_memory().await.unwrap();
    let t = thread();
    let root = put(&saver, &t, None, &[("a", 1, "\"start\"")], PutMode::Extend)
        .await
        .unwrap();
    let old = put(&saver, &t, Some(&root), &[("a", 2, "\"old\"")], PutMode::Extend)
        .await
        .unwrap();
    // A fork of the root reaches version 2 of `a` with another value.
    let new = put(&saver, &t, Some(&root), &[("a", 2, "\"new\"")], PutMode::Fork)
        .await
        .unwrap();
    let value = |id: String| {
        let saver = &saver;
        let t = &t;
        async move {
            let tuple = saver.get_tuple(&CheckpointRef::at(t, id)).await.unwrap().unwrap();
            String::from_utf8(tuple.checkpoint.channel_values["a"].clone()).unwrap()
        }
    };
    assert_eq!(value(old.clone()).await, "\"old\"", "the old branch is intact");
    assert_eq!(
        value(new.clone()).await,
        "\"new\"",
        "the new branch has its own value"
    );
    // The same value at the same version is stored once (another run's fork: one run forks a
    // checkpoint once).
    let again_id = next_checkpoint_id(Some(&new));
    let values = [("a", 2, "\"new\"")];
    let mut by_another_run = metadata(0);
    by_another_run.run_id = "another run".into();
    saver
        .put(
            &CheckpointRef::at(&t, &root),
            &checkpoint(&again_id, &values),
            &by_another_run,
            &versions(&values),
            PutMode::Fork,
        )
        .await
        .unwrap();
    let again = again_id;
    assert_eq!(value(again).await, "\"new\"");
    let stored: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM blobs WHERE thread_id = ?1")
        .bind(&t)
        .fetch_one(saver.pool())
        .await
        .unwrap();
    assert_eq!(stored, 3, "start, old, new");
}

/// A checkpoint whose `log` value is a delta on `base`.
fn delta(id: &str, version: u64, base: u64, items: &str) -> Checkpoint {
    let mut cp = checkpoint(id, &[("log", version, items)]);
    cp.channel_deltas.insert("log".into(), base);
    cp
}

#[tokio::test]
async fn append_deltas_are_read_back_as_a_snapshot_and_segments() {
    let db = TempDb::new("deltas");
    let saver = SqliteSaver::open(db.path()).await.unwrap();
    let t = thread();
    let first = put(&saver, &t, None, &[("log", 1, "[1,2]")], PutMode::Extend)
        .await
        .unwrap();
    let second = next_checkpoint_id(Some(&first));
    saver
        .put(
            &CheckpointRef::at(&t, &first),
            &delta(&second, 2, 1, "[3]"),
            &metadata(1),
            &versions(&[("log", 2, "")]),
            PutMode::Extend,
        )
        .await
        .unwrap();
    let third = next_checkpoint_id(Some(&second));
    saver
        .put(
            &CheckpointRef::at(&t, &second),
            &delta(&third, 3, 2, "[4]"),
            &metadata(2),
            &versions(&[("log", 3, "")]),
            PutMode::Extend,
        )
        .await
        .unwrap();
    let read = |id: String| {
        let (saver, t) = (&saver, &t);
        async move {
            saver
                .get_tuple(&CheckpointRef::at(t, id))
                .await
                .unwrap()
                .unwrap()
                .checkpoint
        }
    };
    let cp = read(third.clone()).await;
    assert_eq!(cp.channel_values["log"], b"[1,2]");
    assert_eq!(cp.channel_appends["log"], [b"[3]".to_vec(), b"[4]".to_vec()]);
    assert!(cp.channel_deltas.is_empty());
    assert_eq!(
        read(second.clone()).await.channel_appends["log"],
        [b"[3]".to_vec()]
    );
    assert!(read(first.clone()).await.channel_appends.is_empty());

    // A fork of `second` appends to the same base as `third` did, with other items.
    let fork = next_checkpoint_id(Some(&third));
    saver
        .put(
            &CheckpointRef::at(&t, &second),
            &delta(&fork, 3, 2, "[40]"),
            &metadata(2),
            &versions(&[("log", 3, "")]),
            PutMode::Fork,
        )
        .await
        .unwrap();
    assert_eq!(
        read(fork.clone()).await.channel_appends["log"],
        [b"[3]".to_vec(), b"[40]".to_vec()]
    );
    assert_eq!(
        read(third.clone()).await.channel_appends["log"],
        [b"[3]".to_vec(), b"[4]".to_vec()]
    );

    // Copies and prunes keep the chain a checkpoint needs.
    let copy = thread();
    saver.copy_thread(&t, &copy).await.unwrap();
    saver
        .prune(std::slice::from_ref(&t), PruneStrategy::KeepLatest)
        .await
        .unwrap();
    let kept = read(fork.clone()).await;
    assert_eq!(kept.channel_values["log"], b"[1,2]");
    assert_eq!(kept.channel_appends["log"], [b"[3]".to_vec(), b"[40]".to_vec()]);
    let blobs: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM blobs WHERE thread_id = ?1")
        .bind(&t)
        .fetch_one(saver.pool())
        .await
        .unwrap();
    assert_eq!(blobs, 3, "pruned to the kept chain");
    let copied = saver
        .get_tuple(&CheckpointRef::at(&copy, &third))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        copied.checkpoint.channel_appends["log"],
        [b"[3]".to_vec(), b"[4]".to_vec()]
    );

    // A delta on a version that was never stored is refused, not silently dropped.
    let orphan = next_checkpoint_id(Some(&fork));
    let err = saver
        .put(
            &CheckpointRef::at(&t, &fork),
            &delta(&orphan, 9, 8, "[9]"),
            &metadata(3),
            &versions(&[("log", 9, "")]),
            PutMode::Extend,
        )
        .await
        .unwrap_err();
    assert!(
        matches!(err, CheckpointError::Backend { retryable: false, .. }),
        "{err}"
    );
}

#[tokio::test]
async fn a_busy_database_is_a_retryable_error_that_names_the_cause() {
    let db = TempDb::new("busy");
    let saver =
        SqliteSaver::from_options(SqliteSaver::options(db.path()).busy_timeout(Duration::from_millis(50)))
            .await
            .unwrap();
    let t = thread();
    let root = put(&saver, &t, None, &[("a", 1, "1")], PutMode::Extend)
        .await
        .unwrap();
    // Another "process" holds the write lock.
    let mut other = SqliteConnection::connect_with(&SqliteSaver::options(db.path()))
        .await
        .unwrap();
    let lock = other.begin_with("BEGIN IMMEDIATE").await.unwrap();
    let err = put(&saver, &t, Some(&root), &[("a", 2, "2")], PutMode::Extend)
        .await
        .unwrap_err();
    assert!(err.is_retryable(), "{err}");
    let message = format!("{err}");
    assert!(
        message.contains("another process is writing this database/thread"),
        "{message}"
    );
    // Reads go on in WAL mode while the lock is held.
    assert!(
        saver
            .get_tuple(&CheckpointRef::latest(&t))
            .await
            .unwrap()
            .is_some()
    );
    lock.rollback().await.unwrap();
    put(&saver, &t, Some(&root), &[("a", 2, "2")], PutMode::Extend)
        .await
        .expect("works again once the lock is released");
}

#[tokio::test]
async fn a_file_that_is_not_a_database_is_a_clear_error() {
    let db = TempDb::new("garbage");
    std::fs::write(db.path(), "this is a text file, not a database\n".repeat(200)).unwrap();
    let err = SqliteSaver::open(db.path()).await.unwrap_err();
    assert!(matches!(err, SqliteError::Corrupt { .. }), "{err:?}");
    assert!(
        err.to_string().contains("is not a usable SQLite database"),
        "{err}"
    );

    // A real database whose header was overwritten (written in rollback-journal mode, so the
    // file holds everything once the connection is closed).
    let damaged = TempDb::new("damaged");
    let mut conn = SqliteConnection::connect_with(
        &SqliteSaver::options(damaged.path()).journal_mode(SqliteJournalMode::Delete),
    )
    .await
    .unwrap();
    sqlx::raw_sql("CREATE TABLE t (x INTEGER); INSERT INTO t VALUES (1), (2), (3);")
        .execute(&mut conn)
        .await
        .unwrap();
    conn.close().await.unwrap();
    let mut bytes = std::fs::read(damaged.path()).unwrap();
    bytes[..16].copy_from_slice(b"definitely junk!");
    std::fs::write(damaged.path(), bytes).unwrap();
    let err = SqliteSaver::open(damaged.path()).await.unwrap_err();
    assert!(matches!(err, SqliteError::Corrupt { .. }), "{err:?}");
}

#[tokio::test]
async fn a_schema_from_a_newer_version_is_refused() {
    let db = TempDb::new("newer");
    let saver = SqliteSaver::open(db.path()).await.unwrap();
    sqlx::query("INSERT INTO agentflow_migrations (version, name, applied_at) VALUES (?1, ?2, 0)")
        .bind(agentflow_sqlite::SCHEMA_VERSION + 1)
        .bind("from the future")
        .execute(saver.pool())
        .await
        .unwrap();
    saver.close().await;
    let err = SqliteSaver::open(db.path()).await.unwrap_err();
    match &err {
        SqliteError::SchemaTooNew { found, supported } => {
            assert_eq!(
                (*found, *supported),
                (
                    agentflow_sqlite::SCHEMA_VERSION + 1,
                    agentflow_sqlite::SCHEMA_VERSION
                )
            );
        }
        other => panic!("expected SchemaTooNew, got {other:?}"),
    }
    assert!(
        err.to_string()
            .contains("newer than this agentflow-sqlite supports")
    );
}

#[tokio::test]
async fn a_saver_can_use_an_existing_pool() {
    let db = TempDb::new("pool");
    let pool = sqlx::sqlite::SqlitePoolOptions::new()
        .max_connections(2)
        .connect_with(SqliteSaver::options(db.path()))
        .await
        .unwrap();
    let saver = SqliteSaver::from_pool(pool).await.unwrap();
    let mode: String = sqlx::query_scalar("PRAGMA journal_mode")
        .fetch_one(saver.pool())
        .await
        .unwrap();
    assert_eq!(mode, "wal");
    agentflow_core::testing::put_roundtrip(&saver).await;
}

#[tokio::test]
async fn the_ttl_sweep_deletes_idle_threads_only() {
    use agentflow_core::checkpoint::{CheckpointRef, Checkpointer, SaverMaintenance};
    let db = common::TempDb::new("sweep");
    let saver = agentflow_sqlite::SqliteSaver::open(db.path()).await.unwrap();
    agentflow_core::testing::put_roundtrip(&saver).await;
    let threads: Vec<String> = sqlx::query_scalar("SELECT DISTINCT thread_id FROM checkpoints")
        .fetch_all(saver.pool())
        .await
        .unwrap();
    assert_eq!(threads.len(), 1);
    let stored = saver.stored_bytes(&threads[0]).await.unwrap();
    assert!(stored > 0, "stored_bytes counts the thread's rows");
    assert_eq!(saver.stored_bytes("no-such-thread").await.unwrap(), 0);
    assert_eq!(
        saver
            .sweep_idle(std::time::Duration::from_secs(3600))
            .await
            .unwrap(),
        0,
        "fresh threads stay"
    );
    sqlx::query("UPDATE checkpoints SET created_at = created_at - 86400000")
        .execute(saver.pool())
        .await
        .unwrap();
    assert_eq!(
        saver
            .sweep_idle(std::time::Duration::from_secs(3600))
            .await
            .unwrap(),
        1
    );
    assert!(
        saver
            .get_tuple(&CheckpointRef::latest(threads[0].clone()))
            .await
            .unwrap()
            .is_none()
    );
    assert_eq!(
        saver.stored_bytes(&threads[0]).await.unwrap(),
        0,
        "a swept thread stores nothing"
    );
    saver.close().await;
}
