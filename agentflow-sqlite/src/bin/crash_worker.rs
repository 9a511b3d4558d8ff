//! A test helper for `tests/crash.rs`: runs a small order-processing graph on a SQLite
//! checkpointer with `Durability::Sync`, so that the test can kill the process mid-superstep and
//! resume the thread in a new process.
//!
//! ```text
//! crash_worker <db> <exec-log> <effects-log> <thread> <start|resume> <slow-ms>
//! ```
//!
//! Graph: `prepare`, then `fast` and `slow` in one superstep, then `finish`. Every node appends
//! its name to `exec-log` when it runs. `slow` charges a card through a journaled step (the
//! charge appends a line to `effects-log`), appends `slow:charged` to `exec-log`, then sleeps
//! `slow-ms`. On success the final state is printed to stdout as one JSON line.

use std::fs::OpenOptions;
use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use agentflow_core::{Context, Durability, END, NodeError, RunConfig, RunInput, START, State, StateGraph};
use agentflow_sqlite::SqliteSaver;
use serde::{Deserialize, Serialize};

#[derive(State, Clone, Default, Debug, Serialize, Deserialize)]
struct Order {
    item: String,
    #[state(append)]
    log: Vec<String>,
    receipt: String,
    total: u64,
}

struct Files {
    exec: PathBuf,
    effects: PathBuf,
}

fn append(path: &Path, line: &str) -> std::io::Result<()> {
    let mut file = OpenOptions::new().create(true).append(true).open(path)?;
    writeln!(file, "{line}")?;
    file.sync_data()
}

fn lines(path: &Path) -> usize {
    std::fs::File::open(path)
        .map(|f| std::io::BufReader::new(f).lines().count())
        .unwrap_or(0)
}

impl Files {
    fn ran(&self, node: &str) -> Result<(), NodeError> {
        append(&self.exec, node).map_err(NodeError::terminal)
    }
}

async fn run(args: &[String]) -> Result<(), Box<dyn std::error::Error>> {
    let [db, exec, effects, thread, mode, slow_ms] = args else {
        return Err(
            "usage: crash_worker <db> <exec-log> <effects-log> <thread> <start|resume> <slow-ms>".into(),
        );
    };
    let files = Arc::new(Files {
        exec: exec.into(),
        effects: effects.into(),
    });
    let slow = Duration::from_millis(slow_ms.parse()?);

    let mut graph = StateGraph::<Order>::new();
    let f = files.clone();
    graph.add_node("prepare", move |state: Arc<Order>, _: Context| {
        let f = f.clone();
        async move {
            f.ran("prepare")?;
            Ok::<_, NodeError>(OrderUpdate::default().log(vec![format!("prepared {}", state.item)]))
        }
    });
    let f = files.clone();
    graph.add_node("fast", move |_: Arc<Order>, _: Context| {
        let f = f.clone();
        async move {
            f.ran("fast")?;
            Ok::<_, NodeError>(OrderUpdate::default().log(vec!["packed".into()]))
        }
    });
    let f = files.clone();
    graph.add_node("slow", move |_: Arc<Order>, ctx: Context| {
        let f = f.clone();
        async move {
            f.ran("slow")?;
            let charge = f.clone();
            let receipt: String = ctx
                .step("charge-card", |key| async move {
                    append(&charge.effects, &format!("charged {key}")).map_err(NodeError::terminal)?;
                    Ok(format!("receipt-{}", lines(&charge.effects)))
                })
                .await?;
            // The journaled result is saved by now (sync durability).
            f.ran("slow:charged")?;
            tokio::time::sleep(slow).await;
            Ok::<_, NodeError>(
                OrderUpdate::default()
                    .log(vec![format!("charged: {receipt}")])
                    .receipt(receipt),
            )
        }
    });
    let f = files.clone();
    graph.add_node("finish", move |state: Arc<Order>, _: Context| {
        let f = f.clone();
        async move {
            f.ran("finish")?;
            Ok::<_, NodeError>(
                OrderUpdate::default()
                    .log(vec!["shipped".into()])
                    .total(state.log.len() as u64 + 1),
            )
        }
    });
    graph.add_edge(START, "prepare");
    graph.add_edge("prepare", "fast");
    graph.add_edge("prepare", "slow");
    graph.add_edge(["fast", "slow"], "finish");
    graph.add_edge("finish", END);

    let saver = SqliteSaver::open(db).await?;
    let graph = graph
        .compile()?
        .with_checkpointer(saver.clone())
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
    saver.close().await;
    let mut stdout = std::io::stdout().lock();
    writeln!(stdout, "{}", serde_json::to_string(&out.state)?)?;
    Ok(())
}

#[tokio::main]
async fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match run(&args).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            let _ = writeln!(std::io::stderr(), "crash_worker: {e}");
            ExitCode::FAILURE
        }
    }
}
