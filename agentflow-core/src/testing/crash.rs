//! A real crash for any saver: a worker process is killed with SIGKILL in the middle of a
//! superstep, and a new process resumes the thread.
//!
//! The saver's crate provides a tiny worker binary that opens its saver and calls
//! [`worker_main`], and a test that calls [`kill_and_resume`]. The scenario checks what durable
//! execution promises: finished tasks do not run again, a journaled side effect happens once,
//! and the final state equals an uninterrupted run's.
//!
//! The graph: `prepare`, then `fast` and `slow` in one superstep, then `finish` (a join).
//! `slow` charges a card in a journaled step, then sleeps so the test can kill the process.

use std::collections::BTreeMap;
use std::fs::OpenOptions;
use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::checkpoint::{CheckpointRef, Checkpointer, channels};
use crate::{BoxError, Durability, END, NodeError, RunConfig, RunInput, START, State, StateGraph};

/// The order the crash graph processes.
#[derive(State, Clone, Default, Debug, PartialEq, Serialize, Deserialize)]
pub struct Order {
    /// What is ordered.
    pub item: String,
    /// What happened, in merge order.
    #[state(append)]
    pub log: Vec<String>,
    /// The card charge's receipt.
    pub receipt: String,
    /// Log length when finished.
    pub total: u64,
}

fn append(path: &Path, line: &str) -> std::io::Result<()> {
    let mut file = OpenOptions::new().create(true).append(true).open(path)?;
    writeln!(file, "{line}")?;
    file.sync_data()
}

fn line_count(path: &Path) -> usize {
    std::fs::File::open(path)
        .map(|f| std::io::BufReader::new(f).lines().count())
        .unwrap_or(0)
}

/// How many times each first word occurs in a log file.
pub fn counts(path: &Path) -> BTreeMap<String, usize> {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let mut out = BTreeMap::new();
    for line in text.lines() {
        let key = line.split_whitespace().next().unwrap_or_default().to_owned();
        *out.entry(key).or_default() += 1;
    }
    out
}

/// The crash graph; every node appends its name to `exec_log`, the charge appends to
/// `effects_log`, and `slow` sleeps `slow` after charging.
pub fn order_graph(exec_log: PathBuf, effects_log: PathBuf, slow: Duration) -> StateGraph<Order> {
    let exec = Arc::new(exec_log);
    let effects = Arc::new(effects_log);
    let ran = |exec: &Path, node: &str| append(exec, node).map_err(NodeError::terminal);
    let mut graph = StateGraph::<Order>::new();
    let e = exec.clone();
    graph.add_node("prepare", move |state, _| {
        let e = e.clone();
        async move {
            ran(&e, "prepare")?;
            Ok(OrderUpdate::default().log(vec![format!("prepared {}", state.item)]))
        }
    });
    let e = exec.clone();
    graph.add_node("fast", move |_, _| {
        let e = e.clone();
        async move {
            ran(&e, "fast")?;
            Ok(OrderUpdate::default().log(vec!["packed".into()]))
        }
    });
    let e = exec.clone();
    graph.add_node("slow", move |_, ctx| {
        let (e, effects) = (e.clone(), effects.clone());
        async move {
            ran(&e, "slow")?;
            let receipt: String = ctx
                .step("charge-card", |key| async move {
                    append(&effects, &format!("charged {key}")).map_err(NodeError::terminal)?;
                    Ok(format!("receipt-{}", line_count(&effects)))
                })
                .await?;
            ran(&e, "slow:charged")?;
            tokio::time::sleep(slow).await;
            Ok(OrderUpdate::default()
                .log(vec![format!("charged: {receipt}")])
                .receipt(receipt))
        }
    });
    let e = exec;
    graph.add_node("finish", move |state, _| {
        let e = e.clone();
        async move {
            ran(&e, "finish")?;
            Ok(OrderUpdate::default()
                .log(vec!["shipped".into()])
                .total(state.log.len() as u64 + 1))
        }
    });
    graph.add_edge(START, "prepare");
    graph.add_edge("prepare", "fast");
    graph.add_edge("prepare", "slow");
    graph.add_edge(["fast", "slow"], "finish");
    graph.add_edge("finish", END);
    graph
}

/// The worker's body: `args` are `<exec-log> <effects-log> <thread> <start|resume> <slow-ms>`.
/// Runs the graph on `saver` with `Durability::Sync`; returns the final state as JSON.
pub async fn worker_main(saver: Arc<dyn Checkpointer>, args: &[String]) -> Result<String, BoxError> {
    let [exec, effects, thread, mode, slow_ms] = args else {
        return Err("usage: <exec-log> <effects-log> <thread> <start|resume> <slow-ms>".into());
    };
    let slow = Duration::from_millis(slow_ms.parse()?);
    let graph = order_graph(exec.into(), effects.into(), slow)
        .compile()?
        .with_shared_checkpointer(saver)
        .with_durability(Durability::Sync);
    let config = RunConfig::new().thread_id(thread.as_str());
    let out = match mode.as_str() {
        "start" => {
            graph
                .invoke(OrderUpdate::default().item("book".into()), config)
                .await?
        }
        "resume" => graph.invoke(RunInput::Continue, config).await?,
        other => return Err(format!("unknown mode `{other}`").into()),
    };
    Ok(serde_json::to_string(&out.state)?)
}

/// How to start the worker: the program and the arguments that open its saver (a file, a URL).
#[derive(Clone, Debug)]
pub struct Worker {
    /// The worker binary.
    pub program: PathBuf,
    /// Arguments before the scenario's own.
    pub saver_args: Vec<String>,
    /// A directory for the logs.
    pub dir: PathBuf,
}

impl Worker {
    /// The example binary `name` of package `package` (a crate's worker is one of its
    /// examples, so that it may use dev-dependencies). `cargo test` builds examples; when a test
    /// runs alone (`--test`), it is built here.
    pub fn example(package: &str, name: &str) -> PathBuf {
        let exe = std::env::current_exe().expect("the test binary's path");
        let profile_dir = exe.parent().and_then(Path::parent).expect("target/<profile>");
        let path = profile_dir.join("examples").join(name);
        if !path.exists() {
            let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
            let mut build = Command::new(cargo);
            build.args(["build", "--quiet", "-p", package, "--example", name]);
            if profile_dir.file_name().is_some_and(|p| p == "release") {
                build.arg("--release");
            }
            let status = build.status().expect("run cargo build");
            assert!(
                status.success(),
                "could not build the {name} example of {package}"
            );
        }
        path
    }

    fn command(&self, run: &str, thread: &str, mode: &str, slow_ms: u64) -> Command {
        let mut cmd = Command::new(&self.program);
        cmd.args(&self.saver_args)
            .arg(self.dir.join(format!("{run}.exec.log")))
            .arg(self.dir.join(format!("{run}.effects.log")))
            .arg(thread)
            .arg(mode)
            .arg(slow_ms.to_string())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        cmd
    }

    fn run_to_end(&self, run: &str, thread: &str, mode: &str) -> serde_json::Value {
        let out = self
            .command(run, thread, mode, 0)
            .output()
            .expect("spawn the worker");
        assert!(
            out.status.success(),
            "worker {mode} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let text = String::from_utf8_lossy(&out.stdout);
        let line = text.lines().last().expect("the worker printed no state");
        serde_json::from_str(line).expect("the worker printed JSON")
    }

    fn log(&self, run: &str, kind: &str) -> PathBuf {
        self.dir.join(format!("{run}.{kind}.log"))
    }
}

fn expected(pairs: &[(&str, usize)]) -> BTreeMap<String, usize> {
    pairs.iter().map(|(k, v)| ((*k).to_owned(), *v)).collect()
}

/// The scenario: an uninterrupted reference run, then a run killed with SIGKILL once `fast` has
/// finished and `slow`'s charge is durable, then a new process resuming it. `observer` reads the
/// same storage as the worker.
pub async fn kill_and_resume(worker: &Worker, observer: Arc<dyn Checkpointer>) {
    std::fs::create_dir_all(&worker.dir).expect("log directory");
    let id = uuid::Uuid::new_v4();
    let (clean, crash) = (format!("clean-{id}"), format!("crash-{id}"));
    let uninterrupted = worker.run_to_end(&clean, &clean, "start");
    let all_once = expected(&[
        ("prepare", 1),
        ("fast", 1),
        ("slow", 1),
        ("slow:charged", 1),
        ("finish", 1),
    ]);
    assert_eq!(counts(&worker.log(&clean, "exec")), all_once);

    let mut child = worker
        .command(&crash, &crash, "start", 60_000)
        .spawn()
        .expect("spawn the worker");
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Ok(Some(status)) = child.try_wait() {
            panic!("the worker exited early: {status}");
        }
        let tuple = observer
            .get_tuple(&CheckpointRef::latest(crash.clone()))
            .await
            .ok()
            .flatten();
        let ready = tuple.as_ref().is_some_and(|t| {
            let has = |path: &str, channel: &str| {
                t.pending_writes
                    .iter()
                    .any(|w| w.task_path == path && w.channel == channel)
            };
            has("fast", channels::RESULT) && has("slow", "__step__:charge-card")
        });
        if ready && counts(&worker.log(&crash, "exec")).contains_key("slow:charged") {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the worker never reached the slow node"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    child.kill().expect("SIGKILL the worker");
    let status = child.wait().expect("reap the worker");
    assert!(!status.success(), "killed, not finished: {status}");

    let paused = observer
        .get_tuple(&CheckpointRef::latest(crash.clone()))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        paused.checkpoint.next,
        ["fast", "slow"],
        "the crash left the superstep unfinished"
    );
    assert!(
        !paused
            .pending_writes
            .iter()
            .any(|w| w.task_path == "slow" && w.channel == channels::RESULT),
        "slow did not finish"
    );
    assert_eq!(
        counts(&worker.log(&crash, "effects")),
        expected(&[("charged", 1)])
    );

    let resumed = worker.run_to_end(&crash, &crash, "resume");
    assert_eq!(
        resumed, uninterrupted,
        "the final state equals an uninterrupted run"
    );
    assert_eq!(
        counts(&worker.log(&crash, "exec")),
        // `slow` ran again (it had not finished), but its charge came from the journal.
        expected(&[
            ("prepare", 1),
            ("fast", 1),
            ("slow", 2),
            ("slow:charged", 2),
            ("finish", 1)
        ]),
        "finished tasks did not run again"
    );
    assert_eq!(
        counts(&worker.log(&crash, "effects")),
        expected(&[("charged", 1)]),
        "the journaled side effect happened exactly once"
    );
}
