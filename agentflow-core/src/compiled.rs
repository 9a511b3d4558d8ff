//! The compiled graph and its run API: [`CompiledGraph::invoke`] and [`CompiledGraph::stream`].

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;

use crate::START;
use crate::config::RunConfig;
use crate::context::Context;
use crate::control::Command;
use crate::error::{GraphError, NodeError};
use crate::graph::{ErrorHandler, Router, StateGraph};
use crate::node::{ErasedNode, NodeFuture};
use crate::pregel::{Limits, Run, RunEnv};
use crate::render::Drawing;
use crate::retry::RetryPolicy;
use crate::state::State;
use crate::stream::{EventSink, EventStream, StreamModes};

/// A validated graph, ready to run. Cheap to clone and shareable across tasks and threads;
/// runs are independent of each other.
pub struct CompiledGraph<S: State, C = ()> {
    pub(crate) core: Arc<GraphCore<S, C>>,
}

impl<S: State, C> Clone for CompiledGraph<S, C> {
    fn clone(&self) -> Self {
        CompiledGraph {
            core: self.core.clone(),
        }
    }
}

/// The result of a run.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct RunOutput<S> {
    /// The final state.
    pub state: S,
    /// How many supersteps ran.
    pub steps: usize,
    /// The run's id.
    pub run_id: uuid::Uuid,
}

/// What leaves a node (or START): static targets and conditional edges.
pub(crate) struct Outgoing<S> {
    pub(crate) next: Vec<usize>,
    pub(crate) branches: Vec<Branch<S>>,
}

pub(crate) struct Branch<S> {
    pub(crate) router: Router<S>,
    pub(crate) targets: Vec<Arc<str>>,
}

/// A join: `target` runs once every source has run since it last ran.
pub(crate) struct Join {
    pub(crate) all: u128,
    pub(crate) target: usize,
}

pub(crate) struct CompiledNode<S: State, C> {
    pub(crate) name: Arc<str>,
    pub(crate) node: Arc<dyn ErasedNode<S, C>>,
    pub(crate) retry: Option<RetryPolicy>,
    pub(crate) timeout: Option<Duration>,
    pub(crate) on_error: Option<ErrorHandler<S>>,
    pub(crate) out: Outgoing<S>,
    /// (join index, this node's bit in it)
    pub(crate) joins: Vec<(usize, u128)>,
    pub(crate) destinations: Vec<Arc<str>>,
}

/// The frozen graph. Node ids are positions in `nodes`, which is sorted by name, so that the
/// barrier's deterministic order (by node name) is simply id order.
pub(crate) struct GraphCore<S: State, C> {
    pub(crate) nodes: Vec<CompiledNode<S, C>>,
    pub(crate) by_name: HashMap<Arc<str>, usize>,
    pub(crate) start: Outgoing<S>,
    pub(crate) joins: Vec<Join>,
    pub(crate) drawing: Drawing,
}

impl<S: State, C: Send + Sync + 'static> CompiledGraph<S, C> {
    pub(crate) fn from_builder(builder: StateGraph<S, C>) -> Self {
        let drawing = Drawing::from_builder(&builder);
        let StateGraph {
            mut nodes,
            edges,
            joins,
            branches,
        } = builder;
        nodes.sort_by(|a, b| a.name.cmp(&b.name));
        let by_name: HashMap<Arc<str>, usize> = nodes
            .iter()
            .enumerate()
            .map(|(i, n)| (n.name.clone(), i))
            .collect();
        let mut compiled: Vec<CompiledNode<S, C>> = nodes
            .into_iter()
            .map(|spec| CompiledNode {
                name: spec.name,
                node: spec.node,
                retry: spec.retry,
                timeout: spec.timeout,
                on_error: spec.on_error,
                out: Outgoing {
                    next: Vec::new(),
                    branches: Vec::new(),
                },
                joins: Vec::new(),
                destinations: spec.destinations,
            })
            .collect();
        let mut start = Outgoing {
            next: Vec::new(),
            branches: Vec::new(),
        };
        // Validation has checked every name, so the lookups below only skip START and END.
        for (from, to) in &edges {
            let Some(&to) = by_name.get(to) else { continue };
            let out = match by_name.get(from) {
                Some(&i) => &mut compiled[i].out,
                None if &**from == START => &mut start,
                None => continue,
            };
            if !out.next.contains(&to) {
                out.next.push(to);
            }
        }
        for branch in branches {
            let out = match by_name.get(&branch.source) {
                Some(&i) => &mut compiled[i].out,
                None => &mut start,
            };
            out.branches.push(Branch {
                router: branch.router,
                targets: branch.targets,
            });
        }
        let mut compiled_joins = Vec::new();
        for (sources, to) in &joins {
            // A join into END changes nothing: the run ends when no task is left.
            let Some(&target) = by_name.get(to) else { continue };
            let index = compiled_joins.len();
            let mut all = 0u128;
            for (bit, source) in sources.iter().take(128).enumerate() {
                if let Some(&s) = by_name.get(source) {
                    compiled[s].joins.push((index, 1u128 << bit));
                    all |= 1u128 << bit;
                }
            }
            compiled_joins.push(Join { all, target });
        }
        CompiledGraph {
            core: Arc::new(GraphCore {
                nodes: compiled,
                by_name,
                start,
                joins: compiled_joins,
                drawing,
            }),
        }
    }

    /// Runs the graph to completion on `input` (merged into the default state with each field's
    /// rule) and returns the final state. Equivalent to draining [`stream`](Self::stream).
    pub async fn invoke(&self, input: S::Update, config: RunConfig<C>) -> Result<RunOutput<S>, GraphError> {
        self.run(input, config, EventSink::default()).await
    }

    /// Runs the graph, yielding events for `modes` as they happen (see [`StreamModes`]).
    ///
    /// ```
    /// use std::sync::Arc;
    /// use futures::StreamExt;
    /// use agentflow_core::{Context, EventData, NodeError, RunConfig, State, StateGraph, StreamMode, START};
    ///
    /// #[derive(State, Clone, Default, serde::Serialize, serde::Deserialize)]
    /// struct S {
    ///     #[state(add)]
    ///     n: i32,
    /// }
    ///
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// let mut g = StateGraph::<S>::new();
    /// g.add_node("inc", |_: Arc<S>, _: Context| async { Ok::<_, NodeError>(SUpdate::default().n(1)) });
    /// g.add_edge(START, "inc");
    /// let g = g.compile().unwrap();
    ///
    /// let mut events = g.stream(SUpdate::default(), RunConfig::new(), StreamMode::Updates);
    /// let mut nodes = Vec::new();
    /// while let Some(event) = events.next().await {
    ///     if let EventData::Updates { node, .. } = event.unwrap().data {
    ///         nodes.push(node.to_string());
    ///     }
    /// }
    /// assert_eq!(nodes, ["inc"]);
    /// assert_eq!(events.output().unwrap().state.n, 1);
    /// # });
    /// ```
    pub fn stream(
        &self,
        input: S::Update,
        config: RunConfig<C>,
        modes: impl Into<StreamModes>,
    ) -> EventStream<S> {
        let (tx, rx) = mpsc::unbounded_channel();
        let sink = EventSink::new(tx, modes.into());
        let graph = self.clone();
        EventStream::new(Box::pin(async move { graph.run(input, config, sink).await }), rx)
    }

    async fn run(
        &self,
        input: S::Update,
        config: RunConfig<C>,
        sink: EventSink,
    ) -> Result<RunOutput<S>, GraphError> {
        let run_id = config.run_id.unwrap_or_else(uuid::Uuid::now_v7);
        let env = RunEnv {
            run_id,
            thread_id: config.thread_id,
            runtime: config.context,
            sink,
            cancel: config.cancel.unwrap_or_default(),
            limits: Limits {
                recursion_limit: config.recursion_limit,
                max_concurrency: config.max_concurrency,
            },
        };
        Run::new(self.core.clone(), env, input)?.run_to_end().await
    }

    /// Turns this graph into a node of a parent graph with state `P`: `map_in` builds this
    /// graph's input from the node's input `I` (the parent state `Arc<P>` for an ordinary node,
    /// or a `Send` payload for [`add_send_node`](crate::StateGraph::add_send_node)), and `map_out`
    /// turns this graph's final state into the parent's update. The subgraph shares the parent's
    /// run: its runtime context, cancellation and stream, where its events carry the namespace
    /// `node:task_id`.
    pub fn as_node<I, P, In, Out>(
        &self,
        map_in: In,
        map_out: Out,
    ) -> impl Fn(I, Context<C>) -> NodeFuture<P> + Send + Sync + 'static
    where
        I: Send + 'static,
        P: State,
        In: Fn(I) -> S::Update + Send + Sync + 'static,
        Out: Fn(S) -> P::Update + Send + Sync + 'static,
    {
        let graph = self.clone();
        let map_in = Arc::new(map_in);
        let map_out = Arc::new(map_out);
        move |input: I, ctx: Context<C>| -> NodeFuture<P> {
            let graph = graph.clone();
            let child_input = map_in(input);
            let map_out = map_out.clone();
            Box::pin(async move {
                let env = RunEnv {
                    run_id: ctx.inner.run_id,
                    thread_id: ctx.inner.thread_id.clone(),
                    runtime: ctx.runtime.clone(),
                    sink: ctx.sink.child(&ctx.inner.node, ctx.inner.task_id),
                    cancel: ctx.cancel.clone(),
                    limits: ctx.limits,
                };
                let out = Run::new(graph.core.clone(), env, child_input)?
                    .run_to_end()
                    .await
                    .map_err(NodeError::from)?;
                Ok::<_, NodeError>(Command::update(map_out(out.state)))
            })
        }
    }

    /// The graph as a Mermaid flowchart (the layout LangGraph's `draw_mermaid` produces).
    pub fn to_mermaid(&self) -> String {
        self.core.drawing.mermaid()
    }

    /// The graph in Graphviz DOT.
    pub fn to_dot(&self) -> String {
        self.core.drawing.dot()
    }

    /// The node names, sorted.
    pub fn node_names(&self) -> impl Iterator<Item = &str> {
        self.core.nodes.iter().map(|n| &*n.name)
    }
}

impl<S: State, C> fmt::Debug for CompiledGraph<S, C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CompiledGraph")
            .field(
                "nodes",
                &self.core.nodes.iter().map(|n| &*n.name).collect::<Vec<_>>(),
            )
            .finish_non_exhaustive()
    }
}
