#![cfg(all(feature = "slack", feature = "jira"))]
//! Exactly-once Slack messages and Jira issues with real processes, through the real tools.
//!
//! A worker process (`examples/effects_tools_worker.rs`) runs a graph whose one node is a
//! `ToolNode` making two calls, `slack_post_message` and `jira_create_issue`, checkpointed in
//! PostgreSQL (a fresh database per test) or SQLite. The stateful fakes of `fakes/` run in this
//! test process and keep what they accepted (messages with their metadata, issues with their
//! labels). In every durability mode:
//!
//! - a worker is SIGKILLed after both vendors accepted the calls and before they answered; a new
//!   process resumes the thread once the dead worker's intent lease expired;
//! - two processes resume one paused checkpoint at once;
//! - both vendors accept the calls and stall past the tool node's timeout (in-step retry).
//!
//! Each ends with exactly one message and one issue, carrying the keys of one journaled step.

mod fakes;

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use agentflow_core::Durability;
use agentflow_core::testing::crash::Worker;
use agentflow_core::testing::effects::{
    Ended, WORKER_LEASE, durability_name, kill_process_when, run_process,
};
use agentflow_tools::jira::effect_label;
use fakes::{jira, slack};
use serde_json::{Value, json};
use sqlx::PgPool;

const MODES: [Durability; 3] = [Durability::Sync, Durability::Async, Durability::Exit];
/// The tool node's timeout when the test, not the timeout, ends the calls.
const NO_TIMEOUT_MS: u64 = 60_000;
/// The tool node's timeout when the vendors stall past it.
const SHORT_TIMEOUT_MS: u64 = 300;
/// How long the vendors take to answer racing workers: long enough for both to reach the step.
const SLOW_ANSWER: Duration = Duration::from_millis(1500);
/// A stall that outlasts any test.
const FOREVER: Duration = Duration::from_secs(3600);

/// The fake Slack and Jira, on loopback.
struct Vendors {
    slack: slack::Fake,
    slack_base: String,
    jira: jira::Fake,
    jira_base: String,
}

impl Vendors {
    async fn start() -> Self {
        let (slack, slack_base) = slack::start_fake().await;
        let (jira, jira_base) = jira::start_fake().await;
        Vendors {
            slack,
            slack_base,
            jira,
            jira_base,
        }
    }

    /// What the vendors do with the next post and the next write.
    fn misbehave(&self, post: slack::Fault, write: jira::Fault) {
        self.slack.fail_next_posts(&[post]);
        self.jira.fail_next_writes(&[write]);
    }

    /// Whether Slack stored a message and Jira created an issue.
    fn both_accepted(&self) -> bool {
        !self.slack.stored().is_empty() && !self.jira.site(|s| s.issues.is_empty())
    }

    /// Asserts that Slack holds exactly one message and Jira exactly one issue, both marked
    /// with the keys of one journaled step (`<step>:slack-call`, `<step>:jira-call`), and that
    /// each was sent once. Returns the message's `ts` and the issue's key.
    fn assert_exactly_once(&self, label: &str) -> (String, String) {
        let messages = self.slack.stored();
        assert_eq!(messages.len(), 1, "{label}: one Slack message: {messages:#?}");
        let message = &messages[0];
        assert_eq!(
            (message.channel.as_str(), message.text.as_str()),
            (slack::CHANNEL, "Deploy finished")
        );
        let metadata = message.metadata.clone().unwrap_or(Value::Null);
        assert_eq!(metadata["event_type"], "agentflow_effect", "{label}: {metadata}");
        let key = metadata["event_payload"]["key"].as_str().unwrap_or_default();
        let step = key
            .strip_suffix(":slack-call")
            .unwrap_or_else(|| panic!("{label}: the message's key `{key}` is not a tool call's"));
        assert_eq!(self.slack.posts().len(), 1, "{label}: posted once");

        let issues = self.jira.site(|s| s.issues.clone());
        assert_eq!(issues.len(), 1, "{label}: one Jira issue: {issues:#?}");
        assert_eq!(issues[0].summary, "Verify the deploy");
        assert_eq!(
            issues[0].labels,
            [effect_label(&format!("{step}:jira-call"))],
            "{label}: the issue carries the key of the same step"
        );
        assert_eq!(self.jira.writes_to("issue"), 1, "{label}: created once");
        (message.ts.clone(), issues[0].key.clone())
    }
}

/// How to start the worker on one saver.
struct ToolsWorker {
    program: PathBuf,
    /// `postgres <url>` or `sqlite <path>`.
    saver: [String; 2],
}

impl ToolsWorker {
    fn new(saver: [String; 2]) -> Self {
        ToolsWorker {
            program: Worker::example("agentflow-tools", "effects_tools_worker"),
            saver,
        }
    }

    fn command(
        &self,
        vendors: &Vendors,
        thread: &str,
        action: &str,
        mode: Durability,
        timeout_ms: u64,
    ) -> Command {
        let mut cmd = Command::new(&self.program);
        cmd.args(&self.saver)
            .args([&vendors.slack_base, &vendors.jira_base, thread, action])
            .arg(durability_name(mode))
            .arg(timeout_ms.to_string());
        cmd
    }

    async fn run(
        &self,
        vendors: &Vendors,
        thread: &str,
        action: &str,
        mode: Durability,
        timeout_ms: u64,
    ) -> Ended {
        run_process(self.command(vendors, thread, action, mode, timeout_ms)).await
    }
}

fn fresh_thread(mode: Durability) -> String {
    format!("tools-{}-{}", durability_name(mode), uuid::Uuid::new_v4())
}

/// Asserts that a worker finished and its tool messages report the message `ts` and the issue
/// `key` the vendors hold.
fn assert_reports(ended: &Ended, label: &str, ts: &str, key: &str) {
    assert!(ended.success, "{label}: the worker failed: {}", ended.stderr);
    let messages: Vec<Value> = serde_json::from_str(ended.stdout.trim())
        .unwrap_or_else(|e| panic!("{label}: not the thread's messages ({e}): {}", ended.stdout));
    let result = |call: &str| -> Value {
        let message = messages
            .iter()
            .find(|m| m["role"] == "tool" && m["tool_call_id"] == call)
            .unwrap_or_else(|| panic!("{label}: no result of {call}: {messages:#?}"));
        let content = message["content"].as_str().unwrap_or_default();
        serde_json::from_str(content).unwrap_or_else(|_| panic!("{label}: {call} failed: {content}"))
    };
    assert_eq!(result("slack-call")["ts"], json!(ts), "{label}");
    assert_eq!(result("jira-call")["key"], json!(key), "{label}");
    let tool_results = messages.iter().filter(|m| m["role"] == "tool").count();
    assert_eq!(tool_results, 2, "{label}: one result per call: {messages:#?}");
}

/// Killed after both vendors accepted the calls and before they answered: the resumed run
/// (once the dead worker's lease expired) finds both by their keys and sends nothing again.
async fn killed_between_the_effects_and_their_result(worker: &ToolsWorker, mode: Durability) {
    let label = format!("killed, {mode:?}");
    let vendors = Vendors::start().await;
    let thread = fresh_thread(mode);
    vendors.misbehave(
        slack::Fault::AnswerAfterStoring(FOREVER),
        jira::Fault::AnswerAfterApplying(FOREVER),
    );
    let start = worker.command(&vendors, &thread, "start", mode, NO_TIMEOUT_MS);
    kill_process_when(start, &label, || vendors.both_accepted()).await;
    tokio::time::sleep(WORKER_LEASE + Duration::from_millis(200)).await;

    let resumed = worker.run(&vendors, &thread, "resume", mode, NO_TIMEOUT_MS).await;
    let (ts, key) = vendors.assert_exactly_once(&label);
    assert_reports(&resumed, &label, &ts, &key);
    assert!(!vendors.slack.reads().is_empty(), "{label}: Slack was asked");
    assert_eq!(
        vendors.jira.site(|s| s.searches.len()),
        1,
        "{label}: Jira was asked"
    );

    // Completed: resuming again sends nothing.
    let again = worker.run(&vendors, &thread, "resume", mode, NO_TIMEOUT_MS).await;
    assert_reports(&again, &label, &ts, &key);
    vendors.assert_exactly_once(&label);
}

/// Two processes resume one paused checkpoint at once while the vendors take their time: one
/// message and one issue; one process finishes, the other fails with a conflict.
async fn two_resumers_race(worker: &ToolsWorker, mode: Durability) {
    let label = format!("race, {mode:?}");
    let vendors = Vendors::start().await;
    let thread = fresh_thread(mode);
    let paused = worker.run(&vendors, &thread, "pause", mode, NO_TIMEOUT_MS).await;
    assert!(paused.success, "{label}: {}", paused.stderr);
    assert!(vendors.slack.posts().is_empty() && vendors.jira.writes_to("issue") == 0);
    vendors.misbehave(
        slack::Fault::AnswerAfterStoring(SLOW_ANSWER),
        jira::Fault::AnswerAfterApplying(SLOW_ANSWER),
    );
    let (a, b) = tokio::join!(
        worker.run(&vendors, &thread, "resume", mode, NO_TIMEOUT_MS),
        worker.run(&vendors, &thread, "resume", mode, NO_TIMEOUT_MS)
    );
    let (ts, key) = vendors.assert_exactly_once(&label);
    // Both reach the step while the vendors hold their answers: one wins, and the other finds
    // the step claimed (or, later, its checkpoint fenced) and fails.
    let (winner, loser) = match (a.success, b.success) {
        (true, false) => (&a, &b),
        (false, true) => (&b, &a),
        _ => panic!("{label}: exactly one runner finishes: {a:?} {b:?}"),
    };
    assert_reports(winner, &label, &ts, &key);
    assert!(
        loser.stderr.contains("conflict"),
        "{label}: lost with a conflict: {loser:?}"
    );
}

/// Both vendors accept the calls and stall past the tool node's timeout: the in-step retry
/// reconciles, finds both, and sends nothing again. One process, no kill.
async fn vendors_stall_past_the_timeout(worker: &ToolsWorker, mode: Durability) {
    let label = format!("timeout, {mode:?}");
    let vendors = Vendors::start().await;
    let thread = fresh_thread(mode);
    vendors.misbehave(slack::Fault::StallAfterStoring, jira::Fault::StallAfterApplying);
    let ended = worker
        .run(&vendors, &thread, "start", mode, SHORT_TIMEOUT_MS)
        .await;
    let (ts, key) = vendors.assert_exactly_once(&label);
    assert_reports(&ended, &label, &ts, &key);
    let (method, query) = vendors.slack.reads().pop().expect("a reconciling read of Slack");
    assert_eq!(method, "conversations.history", "{label}");
    assert_eq!(
        query.get("include_all_metadata").map(String::as_str),
        Some("true")
    );
    let searches = vendors.jira.site(|s| s.searches.clone());
    assert_eq!(
        searches.len(),
        1,
        "{label}: one reconciling search of Jira: {searches:?}"
    );
}

// PostgreSQL: a fresh database per test (`#[sqlx::test]`), migrated before any worker starts.

/// The worker on the database `#[sqlx::test]` made for this test, migrated.
async fn postgres_worker(pool: &PgPool) -> ToolsWorker {
    agentflow_postgres::PostgresSaver::new(pool.clone())
        .migrate()
        .await
        .expect("migrate the test database");
    let db: String = sqlx::query_scalar("SELECT current_database()")
        .fetch_one(pool)
        .await
        .expect("the test database's name");
    let base = std::env::var("DATABASE_URL").expect("DATABASE_URL is set for the tests");
    let (server, _) = base
        .rsplit_once('/')
        .expect("a database URL ends with /<database>");
    ToolsWorker::new(["postgres".into(), format!("{server}/{db}")])
}

#[sqlx::test(migrations = false)]
async fn postgres_killed_between_the_effects_and_their_result_one_message_one_issue(pool: PgPool) {
    let worker = postgres_worker(&pool).await;
    for mode in MODES {
        killed_between_the_effects_and_their_result(&worker, mode).await;
    }
}

#[sqlx::test(migrations = false)]
async fn postgres_two_processes_resuming_one_paused_checkpoint_one_message_one_issue(pool: PgPool) {
    let worker = postgres_worker(&pool).await;
    for mode in MODES {
        two_resumers_race(&worker, mode).await;
    }
}

#[sqlx::test(migrations = false)]
async fn postgres_vendors_stalling_past_the_timeout_one_message_one_issue(pool: PgPool) {
    let worker = postgres_worker(&pool).await;
    for mode in MODES {
        vendors_stall_past_the_timeout(&worker, mode).await;
    }
}

// SQLite: a fresh database file per test, migrated before any worker opens it.

/// A database file (removed on drop) and the worker that uses it.
struct SqliteFile {
    dir: PathBuf,
}

impl SqliteFile {
    async fn new() -> (Self, ToolsWorker) {
        let dir = std::env::temp_dir().join(format!("agentflow-tools-effects-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).expect("a temporary directory");
        let path = dir.join("checkpoints.db");
        agentflow_sqlite::SqliteSaver::open(&path)
            .await
            .expect("create and migrate the database")
            .close()
            .await;
        let worker = ToolsWorker::new(["sqlite".into(), path.display().to_string()]);
        (SqliteFile { dir }, worker)
    }
}

impl Drop for SqliteFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_killed_between_the_effects_and_their_result_one_message_one_issue() {
    let (_db, worker) = SqliteFile::new().await;
    for mode in MODES {
        killed_between_the_effects_and_their_result(&worker, mode).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_two_processes_resuming_one_paused_checkpoint_one_message_one_issue() {
    let (_db, worker) = SqliteFile::new().await;
    for mode in MODES {
        two_resumers_race(&worker, mode).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_vendors_stalling_past_the_timeout_one_message_one_issue() {
    let (_db, worker) = SqliteFile::new().await;
    for mode in MODES {
        vendors_stall_past_the_timeout(&worker, mode).await;
    }
}
