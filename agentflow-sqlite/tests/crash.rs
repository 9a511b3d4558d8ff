//! A real crash: the `crash_worker` process is killed (SIGKILL) mid-superstep, then a new
//! process resumes the thread from the SQLite file.

mod common;

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use agentflow_core::checkpoint::{CheckpointRef, Checkpointer, channels};
use agentflow_sqlite::SqliteSaver;
use common::TempDb;

const WORKER: &str = env!("CARGO_BIN_EXE_crash_worker");
const THREAD: &str = "order-1";

fn worker(db: &TempDb, mode: &str, slow_ms: u64) -> Command {
    let mut cmd = Command::new(WORKER);
    cmd.arg(db.path())
        .arg(db.sibling(".exec.log"))
        .arg(db.sibling(".effects.log"))
        .arg(THREAD)
        .arg(mode)
        .arg(slow_ms.to_string())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    cmd
}

/// Runs the worker to completion; returns its final state.
fn run_to_end(db: &TempDb, mode: &str) -> serde_json::Value {
    let Output {
        status,
        stdout,
        stderr,
    } = worker(db, mode, 0).output().expect("spawn crash_worker");
    assert!(
        status.success(),
        "crash_worker {mode} failed: {}",
        String::from_utf8_lossy(&stderr)
    );
    let text = String::from_utf8_lossy(&stdout);
    let line = text.lines().last().expect("crash_worker printed no state");
    serde_json::from_str(line).expect("crash_worker printed JSON")
}

/// How many times each line occurs in a log file.
fn counts(path: &Path) -> BTreeMap<String, usize> {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let mut out = BTreeMap::new();
    for line in text.lines() {
        let key = line.split_whitespace().next().unwrap_or_default().to_owned();
        *out.entry(key).or_default() += 1;
    }
    out
}

fn expected(pairs: &[(&str, usize)]) -> BTreeMap<String, usize> {
    pairs.iter().map(|(k, v)| ((*k).to_owned(), *v)).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_process_killed_mid_superstep_resumes_without_repeating_finished_work() {
    // The reference: an uninterrupted run.
    let clean = TempDb::new("crash-clean");
    let uninterrupted = run_to_end(&clean, "start");
    assert_eq!(
        counts(&clean.sibling(".exec.log")),
        expected(&[
            ("prepare", 1),
            ("fast", 1),
            ("slow", 1),
            ("slow:charged", 1),
            ("finish", 1)
        ])
    );

    // The crash: `slow` sleeps after its journaled charge; kill the process once `fast`'s
    // result and the charge are durable.
    let db = TempDb::new("crash");
    let mut child = worker(&db, "start", 60_000).spawn().expect("spawn crash_worker");
    // A second process (this one) opens the database while the worker may be creating it.
    let observer = SqliteSaver::open(db.path()).await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        if let Ok(Some(status)) = child.try_wait() {
            panic!("crash_worker exited early: {status}");
        }
        let tuple = observer.get_tuple(&CheckpointRef::latest(THREAD)).await.unwrap();
        let ready = tuple.as_ref().is_some_and(|t| {
            let has = |path: &str, channel: &str| {
                t.pending_writes
                    .iter()
                    .any(|w| w.task_path == path && w.channel == channel)
            };
            has("fast", channels::RESULT) && has("slow", "__step__:charge-card")
        });
        if ready && counts(&db.sibling(".exec.log")).contains_key("slow:charged") {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the worker never reached the slow node"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    child.kill().expect("SIGKILL crash_worker");
    let status = child.wait().unwrap();
    assert!(!status.success(), "killed, not finished: {status}");

    // What the crash left: the superstep of `fast` and `slow`, with `fast` finished.
    let paused = observer
        .get_tuple(&CheckpointRef::latest(THREAD))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(paused.checkpoint.next, ["fast", "slow"]);
    assert!(
        !paused
            .pending_writes
            .iter()
            .any(|w| w.task_path == "slow" && w.channel == channels::RESULT),
        "slow did not finish"
    );
    assert_eq!(counts(&db.sibling(".effects.log")), expected(&[("charged", 1)]));
    observer.close().await;

    // A new process resumes the thread.
    let resumed = run_to_end(&db, "resume");
    assert_eq!(
        resumed, uninterrupted,
        "the final state equals an uninterrupted run"
    );
    assert_eq!(
        counts(&db.sibling(".exec.log")),
        expected(&[
            ("prepare", 1),
            ("fast", 1),
            // `slow` ran again (it had not finished), but its charge came from the journal.
            ("slow", 2),
            ("slow:charged", 2),
            ("finish", 1)
        ]),
        "finished tasks did not run again"
    );
    assert_eq!(
        counts(&db.sibling(".effects.log")),
        expected(&[("charged", 1)]),
        "the journaled side effect happened exactly once"
    );
}
