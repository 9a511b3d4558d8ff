//! The persistence shapes on PostgreSQL: `pg_loop_200`, `pg_concurrent_8x200` (durability sync,
//! one durable commit per superstep) and `storage_growth_1000` (bytes stored per raw byte).

use agentflow_core::checkpoint::{CheckpointRef, Checkpointer, ListOptions, SaverMaintenance};
use agentflow_core::{CompiledGraph, Durability, END, RunConfig, START, State, StateGraph};
use agentflow_postgres::PostgresSaver;
use futures::FutureExt;
use futures::future::BoxFuture;

use crate::registry::{Bench, Env};
use crate::{BenchError, expect_eq};

/// The schema the benchmarks write to.
const SCHEMA: &str = "agentflow_bench";

/// The loop's state: a counter.
#[derive(State, Clone, Default, Debug, serde::Serialize, serde::Deserialize)]
pub struct Counter {
    /// Incremented once per superstep.
    pub count: u64,
}

fn saver(env: &Env, connections: u32) -> Result<PostgresSaver, BenchError> {
    let url = env
        .database_url
        .as_deref()
        .ok_or_else(|| BenchError::new("this shape needs --database-url"))?;
    let pool = sqlx::postgres::PgPoolOptions::new()
        .max_connections(connections)
        // No ping before each checkout: a dead connection fails its statement, which the saver
        // reports as retryable, and the pool replaces it (psycopg's pool does not check either).
        .test_before_acquire(false)
        .connect_lazy(url)
        .map_err(|e| BenchError::new(format!("database url: {e}")))?;
    PostgresSaver::new(pool)
        .schema(SCHEMA)
        .map_err(|e| BenchError::new(e.to_string()))
}

/// One node that increments the counter and loops to itself until 200, durability sync.
pub fn build_loop(saver: PostgresSaver, limit: u64) -> Result<CompiledGraph<Counter>, BenchError> {
    let mut graph = StateGraph::<Counter>::new();
    graph.add_node("inc", |s, _| {
        let next = s.count + 1;
        async move { Ok(CounterUpdate::default().count(next)) }
    });
    graph.add_edge(START, "inc");
    graph.add_conditional_edges(
        "inc",
        move |s: &Counter| if s.count < limit { "inc" } else { END },
        ["inc", END],
    );
    Ok(graph
        .compile()?
        .with_checkpointer(saver)
        .with_durability(Durability::Sync))
}

/// Migrates the bench schema and empties its tables, as the Python side truncates its own: runs
/// of earlier sessions would otherwise grow the indexes every insert goes through.
async fn fresh_tables(saver: &PostgresSaver) -> Result<(), BenchError> {
    saver
        .migrate()
        .await
        .map_err(|e| BenchError::new(e.to_string()))?;
    let truncate = format!("TRUNCATE {SCHEMA}.checkpoints, {SCHEMA}.blobs, {SCHEMA}.writes");
    sqlx::query(&truncate)
        .execute(saver.pool())
        .await
        .map_err(|e| BenchError::new(e.to_string()))?;
    Ok(())
}

struct Loop {
    graph: CompiledGraph<Counter>,
    saver: PostgresSaver,
    threads: usize,
}

/// `pg_loop_200` (`threads` = 1) and `pg_concurrent_8x200` (`threads` = 8).
pub fn prepare_loop(env: &Env, threads: usize) -> Result<Box<dyn Bench>, BenchError> {
    let saver = saver(env, threads as u32 + 2)?;
    Ok(Box::new(Loop {
        graph: build_loop(saver.clone(), 200)?,
        saver,
        threads,
    }))
}

impl Loop {
    async fn run_all(&self) -> Result<Vec<(String, u64)>, BenchError> {
        let runs: Vec<_> = (0..self.threads)
            .map(|_| {
                let graph = self.graph.clone();
                let thread = uuid::Uuid::new_v4().to_string();
                tokio::spawn(async move {
                    let out = graph
                        .invoke(
                            CounterUpdate::default(),
                            RunConfig::new().thread_id(thread.clone()),
                        )
                        .await?;
                    Ok::<_, BenchError>((thread, out.state.count))
                })
            })
            .collect();
        let mut out = Vec::with_capacity(runs.len());
        for run in runs {
            out.push(run.await.map_err(|e| BenchError::Join(e.to_string()))??);
        }
        Ok(out)
    }
}

impl Bench for Loop {
    fn verify(&self) -> BoxFuture<'_, Result<String, BenchError>> {
        async move {
            fresh_tables(&self.saver).await?;
            let results = self.run_all().await?;
            for (thread, count) in &results {
                expect_eq("final count", count, &200)?;
                let checkpoints = self
                    .saver
                    .list(
                        Some(&CheckpointRef::latest(thread.clone())),
                        // Every checkpoint: more than the saver's default limit.
                        &ListOptions {
                            limit: Some(usize::MAX),
                            ..ListOptions::default()
                        },
                    )
                    .await
                    .map_err(|e| BenchError::new(e.to_string()))?;
                expect_eq("checkpoints per run (input + 201 loop)", &checkpoints.len(), &202)?;
            }
            Ok(format!(
                "{} thread(s) counted to 200 with 202 checkpoints each",
                results.len()
            ))
        }
        .boxed()
    }

    fn run(&self) -> BoxFuture<'_, Result<(), BenchError>> {
        self.run_all().map(|r| r.map(drop)).boxed()
    }
}

/// A chat thread: each turn appends one message.
#[derive(State, Clone, Default, Debug, serde::Serialize, serde::Deserialize)]
pub struct Chat {
    /// The messages.
    #[state(append)]
    pub messages: Vec<String>,
}

struct Growth {
    graph: CompiledGraph<Chat>,
    saver: PostgresSaver,
    turns: usize,
}

/// `storage_growth_1000`: `turns` turns of one ~400-character message, one checkpoint per turn.
pub fn prepare_growth(env: &Env, turns: usize) -> Result<Box<dyn Bench>, BenchError> {
    let saver = saver(env, 2)?;
    let mut graph = StateGraph::<Chat>::new();
    graph.add_node("reply", |_, _| async { Ok(()) });
    graph.add_edge(START, "reply");
    // Durability exit: per turn (invoke), the fence put before any node runs and the end.
    let graph = graph
        .compile()?
        .with_checkpointer(saver.clone())
        .with_durability(Durability::Exit);
    Ok(Box::new(Growth { graph, saver, turns }))
}

fn message() -> String {
    (0..400).map(|_| fastrand::lowercase()).collect()
}

impl Growth {
    /// Runs a thread of `turns` turns; returns (stored bytes / raw message bytes, checkpoints).
    async fn ratio(&self, turns: usize) -> Result<(f64, usize), BenchError> {
        let thread = uuid::Uuid::new_v4().to_string();
        let mut raw = 0usize;
        for _ in 0..turns {
            let m = message();
            raw += m.len();
            self.graph
                .invoke(
                    ChatUpdate::default().messages(vec![m]),
                    RunConfig::new().thread_id(thread.clone()),
                )
                .await?;
        }
        let stored = self
            .saver
            .stored_bytes(&thread)
            .await
            .map_err(|e| BenchError::new(e.to_string()))?;
        let checkpoints = self
            .saver
            .list(
                Some(&CheckpointRef::latest(thread.clone())),
                &ListOptions {
                    limit: Some(usize::MAX),
                    ..ListOptions::default()
                },
            )
            .await
            .map_err(|e| BenchError::new(e.to_string()))?
            .len();
        Ok((stored as f64 / raw as f64, checkpoints))
    }
}

impl Bench for Growth {
    fn verify(&self) -> BoxFuture<'_, Result<String, BenchError>> {
        async move {
            fresh_tables(&self.saver).await?;
            let (small, checkpoints) = self.ratio(100).await?;
            // Each turn (durability exit) puts its fence before any node runs, then its end.
            expect_eq("checkpoints after 100 turns", &checkpoints, &200)?;
            Ok(format!(
                "two checkpoints per turn (fence and end); ratio after 100 turns: {small:.3}"
            ))
        }
        .boxed()
    }

    fn run(&self) -> BoxFuture<'_, Result<(), BenchError>> {
        async { Ok(()) }.boxed()
    }

    fn measure(&self) -> BoxFuture<'_, Result<Option<f64>, BenchError>> {
        async move { Ok(Some(self.ratio(self.turns).await?.0)) }.boxed()
    }
}
