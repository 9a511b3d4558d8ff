//! The shapes by name, for the `shapes` binary: each can be prepared (graph compiled, input
//! built: outside the timing), verified once against BENCHMARKS.md, and run for timing.

use futures::FutureExt;
use futures::future::BoxFuture;

use agentflow_core::CompiledGraph;

use crate::{BenchError, concurrent, fanout, react, sequential, wide_state};

/// A prepared shape: its graph is compiled and its input built.
pub trait Bench: Send + Sync {
    /// Runs once and checks the counts against BENCHMARKS.md; returns a description of them.
    fn verify(&self) -> BoxFuture<'_, Result<String, BenchError>>;
    /// One timed run.
    fn run(&self) -> BoxFuture<'_, Result<(), BenchError>>;
    /// For shapes that report a figure instead of a time (`storage_growth_1000`): the figure.
    fn measure(&self) -> BoxFuture<'_, Result<Option<f64>, BenchError>> {
        Box::pin(async { Ok(None) })
    }
}

/// What preparing a shape may need from the command line.
#[derive(Clone, Debug, Default)]
pub struct Env {
    /// `--database-url`, for the persistence shapes.
    pub database_url: Option<String>,
}

/// A named shape.
#[derive(Clone, Copy)]
pub struct Shape {
    /// The name the `shapes` binary prints and `--only` selects.
    pub name: &'static str,
    /// Compiles the graph and builds the input.
    pub prepare: fn(&Env) -> Result<Box<dyn Bench>, BenchError>,
    /// Runs only with `--database-url`.
    pub needs_database: bool,
}

/// The implemented shapes, in BENCHMARKS.md order.
pub fn shapes() -> Vec<Shape> {
    vec![
        Shape {
            name: "sequential_10",
            prepare: |_| Sequential::prepare(10),
            needs_database: false,
        },
        Shape {
            name: "sequential_1000",
            prepare: |_| Sequential::prepare(1000),
            needs_database: false,
        },
        Shape {
            name: "wide_state_25x300",
            prepare: |_| Wide::prepare(wide_state::SIZE_25X300),
            needs_database: false,
        },
        Shape {
            name: "wide_state_15x600",
            prepare: |_| Wide::prepare(wide_state::SIZE_15X600),
            needs_database: false,
        },
        Shape {
            name: "wide_state_9x1200",
            prepare: |_| Wide::prepare(wide_state::SIZE_9X1200),
            needs_database: false,
        },
        Shape {
            name: "wide_state_25x300_checkpoint",
            prepare: |_| Wide::prepare_checkpointed(wide_state::SIZE_25X300),
            needs_database: false,
        },
        Shape {
            name: "wide_state_15x600_checkpoint",
            prepare: |_| Wide::prepare_checkpointed(wide_state::SIZE_15X600),
            needs_database: false,
        },
        Shape {
            name: "wide_state_9x1200_checkpoint",
            prepare: |_| Wide::prepare_checkpointed(wide_state::SIZE_9X1200),
            needs_database: false,
        },
        Shape {
            name: "fanout_to_subgraph_10x",
            prepare: |_| Fanout::prepare(10),
            needs_database: false,
        },
        Shape {
            name: "fanout_to_subgraph_100x",
            prepare: |_| Fanout::prepare(100),
            needs_database: false,
        },
        Shape {
            name: "fanout_to_subgraph_10x_checkpoint",
            prepare: |_| Fanout::prepare_checkpointed(10),
            needs_database: false,
        },
        Shape {
            name: "fanout_to_subgraph_100x_checkpoint",
            prepare: |_| Fanout::prepare_checkpointed(100),
            needs_database: false,
        },
        Shape {
            name: "react_agent_10x",
            prepare: |_| React::prepare(10, false),
            needs_database: false,
        },
        Shape {
            name: "react_agent_100x",
            prepare: |_| React::prepare(100, false),
            needs_database: false,
        },
        Shape {
            name: "react_agent_10x_checkpoint",
            prepare: |_| React::prepare(10, true),
            needs_database: false,
        },
        Shape {
            name: "react_agent_100x_checkpoint",
            prepare: |_| React::prepare(100, true),
            needs_database: false,
        },
        Shape {
            name: "pg_loop_200",
            prepare: |env| crate::pg::prepare_loop(env, 1),
            needs_database: true,
        },
        Shape {
            name: "pg_concurrent_8x200",
            prepare: |env| crate::pg::prepare_loop(env, 8),
            needs_database: true,
        },
        Shape {
            name: "storage_growth_1000",
            prepare: |env| crate::pg::prepare_growth(env, 1000),
            needs_database: true,
        },
        Shape {
            name: "concurrent_10k",
            prepare: |_| Concurrent::prepare(concurrent::INVOCATIONS),
            needs_database: false,
        },
    ]
}

/// Shapes BENCHMARKS.md specifies that are not implemented yet (none left).
pub const NOT_YET_IMPLEMENTED: &[&str] = &[];

struct Sequential {
    graph: CompiledGraph<sequential::Messages>,
    n: usize,
}

impl Sequential {
    fn prepare(n: usize) -> Result<Box<dyn Bench>, BenchError> {
        Ok(Box::new(Sequential {
            graph: sequential::build(n)?,
            n,
        }))
    }
}

impl Bench for Sequential {
    fn verify(&self) -> BoxFuture<'_, Result<String, BenchError>> {
        sequential::verify(&self.graph, self.n).boxed()
    }
    fn run(&self) -> BoxFuture<'_, Result<(), BenchError>> {
        sequential::run(&self.graph).map(|r| r.map(drop)).boxed()
    }
}

struct Wide {
    graph: CompiledGraph<wide_state::WideState>,
    size: wide_state::Size,
    input: wide_state::WideStateUpdate,
}

impl Wide {
    fn prepare(size: wide_state::Size) -> Result<Box<dyn Bench>, BenchError> {
        Ok(Box::new(Wide {
            graph: wide_state::build(size.n)?,
            size,
            input: wide_state::input(size),
        }))
    }

    fn prepare_checkpointed(size: wide_state::Size) -> Result<Box<dyn Bench>, BenchError> {
        Ok(Box::new(Wide {
            graph: crate::checkpointed(wide_state::build(size.n)?),
            size,
            input: wide_state::input(size),
        }))
    }
}

impl Bench for Wide {
    fn verify(&self) -> BoxFuture<'_, Result<String, BenchError>> {
        wide_state::verify(&self.graph, self.size).boxed()
    }
    fn run(&self) -> BoxFuture<'_, Result<(), BenchError>> {
        wide_state::run(&self.graph, &self.input)
            .map(|r| r.map(drop))
            .boxed()
    }
}

struct Fanout {
    graph: CompiledGraph<fanout::Overall>,
    n: usize,
    input: fanout::OverallUpdate,
}

impl Fanout {
    fn prepare(n: usize) -> Result<Box<dyn Bench>, BenchError> {
        Ok(Box::new(Fanout {
            graph: fanout::build()?,
            n,
            input: fanout::input(n),
        }))
    }

    fn prepare_checkpointed(n: usize) -> Result<Box<dyn Bench>, BenchError> {
        Ok(Box::new(Fanout {
            graph: crate::checkpointed(fanout::build()?),
            n,
            input: fanout::input(n),
        }))
    }
}

impl Bench for Fanout {
    fn verify(&self) -> BoxFuture<'_, Result<String, BenchError>> {
        fanout::verify(&self.graph, self.n).boxed()
    }
    fn run(&self) -> BoxFuture<'_, Result<(), BenchError>> {
        fanout::run(&self.graph, &self.input).map(|r| r.map(drop)).boxed()
    }
}

struct Concurrent {
    graph: CompiledGraph<concurrent::Trail>,
    count: usize,
}

impl Concurrent {
    fn prepare(count: usize) -> Result<Box<dyn Bench>, BenchError> {
        Ok(Box::new(Concurrent {
            graph: concurrent::build()?,
            count,
        }))
    }
}

impl Bench for Concurrent {
    fn verify(&self) -> BoxFuture<'_, Result<String, BenchError>> {
        concurrent::verify(&self.graph, self.count).boxed()
    }
    fn run(&self) -> BoxFuture<'_, Result<(), BenchError>> {
        // Every run checks every trail, as LangGraph's side does.
        concurrent::run(&self.graph, self.count)
            .map(|r| r.map(drop))
            .boxed()
    }
}

struct React {
    graph: CompiledGraph<agentflow_tools::AgentState>,
    k: usize,
}

impl React {
    fn prepare(k: usize, checkpoint: bool) -> Result<Box<dyn Bench>, BenchError> {
        let graph = react::build(k)?;
        let graph = if checkpoint {
            crate::checkpointed(graph)
        } else {
            graph
        };
        Ok(Box::new(React { graph, k }))
    }
}

impl Bench for React {
    fn verify(&self) -> BoxFuture<'_, Result<String, BenchError>> {
        react::verify(&self.graph, self.k).boxed()
    }
    fn run(&self) -> BoxFuture<'_, Result<(), BenchError>> {
        react::run(&self.graph).map(|r| r.map(drop)).boxed()
    }
}
