//! The compiled graph and its run API: [`CompiledGraph::invoke`] and [`CompiledGraph::stream`].

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;

use crate::START;
use crate::checkpoint::{CheckpointRef, Checkpointer, Codec, JsonCodec};
use crate::config::{Durability, RunConfig};
use crate::context::Context;
use crate::control::{Command, Interrupt, RunInput};
use crate::error::{BuildError, GraphError, NodeError};
use crate::graph::{ErrorHandler, Router, StateGraph};
use crate::node::{ErasedNode, NodeFuture};
use crate::pregel::{DurableStart, Limits, Run, RunEnv};
use crate::render::Drawing;
use crate::retry::RetryPolicy;
use crate::state::State;
use crate::store::Store;
use crate::stream::{EventSink, EventStream, StreamModes};

/// A validated graph, ready to run. Cheap to clone and shareable across tasks and threads;
/// runs are independent of each other.
pub struct CompiledGraph<S: State, C = ()> {
    pub(crate) core: Arc<GraphCore<S, C>>,
    pub(crate) settings: Arc<Settings>,
}

/// How a compiled graph persists: its checkpointer, codec, durability and breakpoints, and the
/// long-term store its nodes see.
pub(crate) struct Settings {
    pub(crate) checkpointer: Option<Arc<dyn Checkpointer>>,
    pub(crate) store: Option<Arc<dyn Store>>,
    pub(crate) codec: Arc<dyn Codec>,
    pub(crate) durability: Durability,
    pub(crate) interrupt_before: Arc<[Arc<str>]>,
    pub(crate) interrupt_after: Arc<[Arc<str>]>,
    /// The lease of a journaled step's claim.
    pub(crate) intent_lease: Duration,
}

impl Clone for Settings {
    fn clone(&self) -> Self {
        Settings {
            checkpointer: self.checkpointer.clone(),
            store: self.store.clone(),
            codec: self.codec.clone(),
            durability: self.durability,
            interrupt_before: self.interrupt_before.clone(),
            interrupt_after: self.interrupt_after.clone(),
            intent_lease: self.intent_lease,
        }
    }
}

impl<S: State, C> Clone for CompiledGraph<S, C> {
    fn clone(&self) -> Self {
        CompiledGraph {
            core: self.core.clone(),
            settings: self.settings.clone(),
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
    /// Why the run paused, if it did: resume it with [`Command::resume`].
    pub interrupts: Vec<Interrupt>,
    /// The thread's checkpoint where the run ended (with a checkpointer).
    pub checkpoint: Option<CheckpointRef>,
}

impl<S> RunOutput<S> {
    /// True when the run paused at an interrupt instead of finishing.
    pub fn is_interrupted(&self) -> bool {
        !self.interrupts.is_empty()
    }
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
    /// `join:a+b:c`, as checkpoints name it.
    pub(crate) key: String,
    pub(crate) sources: Vec<Arc<str>>,
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
    /// Encodings of large shared values, kept from one checkpoint to the next.
    pub(crate) encoded: crate::checkpoint::shared::Cache,
    /// Where a node that declared no destinations may `goto`: every node, and END.
    pub(crate) goto_targets: Vec<Arc<str>>,
    /// What compiling accepted with a warning.
    pub(crate) warnings: Vec<BuildError>,
}

impl<S: State, C: Send + Sync + 'static> CompiledGraph<S, C> {
    pub(crate) fn from_builder(builder: StateGraph<S, C>, warnings: Vec<BuildError>) -> Self {
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
            let names: Vec<&str> = sources.iter().map(|s| &**s).collect();
            compiled_joins.push(Join {
                all,
                target,
                key: format!("join:{}:{to}", names.join("+")),
                sources: sources.iter().take(128).cloned().collect(),
            });
        }
        let goto_targets = compiled
            .iter()
            .map(|n| n.name.clone())
            .chain([Arc::from(crate::END)])
            .collect();
        CompiledGraph {
            core: Arc::new(GraphCore {
                goto_targets,
                nodes: compiled,
                by_name,
                start,
                joins: compiled_joins,
                drawing,
                encoded: Default::default(),
                warnings,
            }),
            settings: Arc::new(Settings {
                checkpointer: None,
                store: None,
                codec: Arc::new(JsonCodec),
                durability: Durability::default(),
                interrupt_before: Arc::from(Vec::new()),
                interrupt_after: Arc::from(Vec::new()),
                intent_lease: crate::checkpoint::DEFAULT_INTENT_LEASE,
            }),
        }
    }

    fn with_settings(mut self, change: impl FnOnce(&mut Settings)) -> Self {
        let mut settings = Settings::clone(&self.settings);
        change(&mut settings);
        self.settings = Arc::new(settings);
        self
    }

    /// Saves checkpoints with `saver`: runs need a thread id, and gain interrupts, resume,
    /// time travel and crash recovery.
    pub fn with_checkpointer(self, saver: impl Checkpointer) -> Self {
        self.with_shared_checkpointer(Arc::new(saver))
    }

    /// [`with_checkpointer`](Self::with_checkpointer) with a saver shared with other graphs.
    pub fn with_shared_checkpointer(self, saver: Arc<dyn Checkpointer>) -> Self {
        self.with_settings(|s| s.checkpointer = Some(saver))
    }

    /// The saver, if any.
    pub fn checkpointer(&self) -> Option<&Arc<dyn Checkpointer>> {
        self.settings.checkpointer.as_ref()
    }

    /// Gives the graph's nodes a long-term memory store, reached through
    /// [`Context::store`](crate::Context::store) (subgraphs run as nodes share it).
    pub fn with_store(self, store: impl Store) -> Self {
        self.with_shared_store(Arc::new(store))
    }

    /// [`with_store`](Self::with_store) with a store shared with other graphs.
    pub fn with_shared_store(self, store: Arc<dyn Store>) -> Self {
        self.with_settings(|s| s.store = Some(store))
    }

    /// The long-term store, if any.
    pub fn store(&self) -> Option<&Arc<dyn Store>> {
        self.settings.store.as_ref()
    }

    /// Encodes checkpointed values with `codec` (default: [`JsonCodec`]).
    pub fn with_codec(self, codec: impl Codec) -> Self {
        self.with_settings(|s| s.codec = Arc::new(codec))
    }

    /// The default durability of runs (default: [`Durability::Async`]).
    pub fn with_durability(self, durability: Durability) -> Self {
        self.with_settings(|s| s.durability = durability)
    }

    /// How long a journaled step's claim stays live while its effect runs (default:
    /// [`DEFAULT_INTENT_LEASE`](crate::checkpoint::DEFAULT_INTENT_LEASE), 60 s). Another runner
    /// reaching the step within the lease gets a conflict and runs nothing; after it, the
    /// earlier runner counts as gone and the step's outcome as ambiguous
    /// ([`Context::step_reconciled`](crate::Context::step_reconciled)). Make it longer than
    /// the slowest effect, and as short as that allows: a run resumed after a crash waits it out.
    pub fn with_intent_lease(self, lease: Duration) -> Self {
        self.with_settings(|s| s.intent_lease = lease)
    }

    /// Pauses every run before these nodes (a static breakpoint; needs a checkpointer).
    pub fn interrupt_before<I, N>(self, nodes: I) -> Result<Self, BuildError>
    where
        I: IntoIterator<Item = N>,
        N: Into<Arc<str>>,
    {
        let nodes = self.known_nodes(nodes, "interrupt_before")?;
        Ok(self.with_settings(|s| s.interrupt_before = nodes))
    }

    /// Pauses every run after these nodes ran (a static breakpoint; needs a checkpointer).
    pub fn interrupt_after<I, N>(self, nodes: I) -> Result<Self, BuildError>
    where
        I: IntoIterator<Item = N>,
        N: Into<Arc<str>>,
    {
        let nodes = self.known_nodes(nodes, "interrupt_after")?;
        Ok(self.with_settings(|s| s.interrupt_after = nodes))
    }

    fn known_nodes<I, N>(&self, nodes: I, context: &str) -> Result<Arc<[Arc<str>]>, BuildError>
    where
        I: IntoIterator<Item = N>,
        N: Into<Arc<str>>,
    {
        nodes
            .into_iter()
            .map(Into::into)
            .map(|n: Arc<str>| match self.core.by_name.get_key_value(&n) {
                Some((name, _)) => Ok(name.clone()),
                None => Err(BuildError::UnknownNode {
                    context: context.to_owned(),
                    name: n.to_string(),
                }),
            })
            .collect()
    }

    /// Runs the graph until it finishes or pauses, and returns the final state.
    ///
    /// The input is an update (merged with each field's rule into the default state, or into the
    /// thread's state with a checkpointer), a [`Command`] that resumes a paused thread, or
    /// [`RunInput::Continue`]. Equivalent to draining [`stream`](Self::stream).
    ///
    /// `config` is a [`RunConfig`], or a [`CheckpointRef`] to run from: a thread's latest
    /// checkpoint, or any other, such as the fork [`update_state`](Self::update_state) returns
    /// (`invoke(RunInput::Continue, &fork)`).
    pub async fn invoke(
        &self,
        input: impl Into<RunInput<S>>,
        config: impl Into<RunConfig<C>>,
    ) -> Result<RunOutput<S>, GraphError> {
        self.run(input.into(), config.into(), EventSink::default()).await
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
    /// g.add_node("inc", |_, _| async { Ok(SUpdate::default().n(1)) });
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
        input: impl Into<RunInput<S>>,
        config: impl Into<RunConfig<C>>,
        modes: impl Into<StreamModes>,
    ) -> EventStream<S> {
        let config = config.into();
        let (tx, rx) = mpsc::unbounded_channel();
        let sink = EventSink::new(tx, modes.into());
        let graph = self.clone();
        let input = input.into();
        EventStream::new(Box::pin(async move { graph.run(input, config, sink).await }), rx)
    }

    async fn run(
        &self,
        input: RunInput<S>,
        config: RunConfig<C>,
        sink: EventSink,
    ) -> Result<RunOutput<S>, GraphError> {
        let run_id = config.run_id.unwrap_or_else(crate::ids::uuid_v7);
        let settings = &self.settings;
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
            codec: settings.codec.clone(),
            store: settings.store.clone(),
            interrupt_before: config
                .interrupt_before
                .map_or_else(|| settings.interrupt_before.clone(), Arc::from),
            interrupt_after: config
                .interrupt_after
                .map_or_else(|| settings.interrupt_after.clone(), Arc::from),
        };
        let run = match (&settings.checkpointer, input) {
            (None, RunInput::Update(update)) => Run::new(self.core.clone(), env, update)?,
            (None, _) => {
                return Err(GraphError::InvalidResume(
                    "resuming or continuing a run needs a checkpointer (with_checkpointer)".into(),
                ));
            }
            (Some(saver), input) => {
                let start = DurableStart {
                    saver: saver.clone(),
                    durability: config.durability.unwrap_or(settings.durability),
                    checkpoint_id: config.checkpoint_id,
                    metadata: config.metadata,
                    intent_lease: config.intent_lease.unwrap_or(settings.intent_lease),
                };
                Run::start_durable(self.core.clone(), env, input, start).await?
            }
        };
        run.run_to_end().await
    }

    /// Turns this graph into a node of a parent graph with state `P`: `map_in` builds this
    /// graph's input from the node's input `I` (the parent state `Arc<P>` for an ordinary node,
    /// or a `Send` payload for [`add_send_node`](crate::StateGraph::add_send_node)), and `map_out`
    /// turns this graph's final state into the parent's update. The subgraph shares the parent's
    /// run: its runtime context, cancellation, long-term store and stream, where its events carry
    /// the namespace `node:task_id`.
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
                    codec: ctx.inner.codec.clone(),
                    // The parent's store; the subgraph's own only if the parent has none.
                    store: ctx.inner.store.clone().or_else(|| graph.settings.store.clone()),
                    interrupt_before: Arc::from(Vec::new()),
                    interrupt_after: Arc::from(Vec::new()),
                };
                let out = Run::new(graph.core.clone(), env, child_input)?
                    .run_to_end()
                    .await
                    .map_err(NodeError::from)?;
                Ok(Command::update(map_out(out.state)))
            })
        }
    }

    /// Turns this graph into a node of a parent graph over the same state, with no mappings:
    /// the subgraph starts from the parent's state, and its final state becomes the parent's
    /// (every field overwritten with the subgraph's value, so an appended list is not appended
    /// twice). Like [`as_node`](Self::as_node), it shares the parent's run. A sibling that writes
    /// the same fields in the same superstep conflicts with it: give such a subgraph its own step.
    ///
    /// ```
    /// use agentflow_core::{RunConfig, State, StateGraph, END, START};
    ///
    /// #[derive(State, Clone, Default, serde::Serialize, serde::Deserialize)]
    /// struct Doc {
    ///     #[state(append)]
    ///     log: Vec<String>,
    /// }
    ///
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// let mut review = StateGraph::<Doc>::new();
    /// review.add_node("check", |doc, _| async move {
    ///     Ok(DocUpdate::default().log(vec![format!("checked {} entries", doc.log.len())]))
    /// });
    /// review.add_edge(START, "check");
    ///
    /// let mut parent = StateGraph::<Doc>::new();
    /// parent.add_node("draft", |_, _| async { Ok(DocUpdate::default().log(vec!["draft".into()])) });
    /// parent.add_node("review", review.compile().unwrap().as_same_state_node());
    /// parent.add_sequence([START, "draft", "review", END]);
    /// let out = parent.compile().unwrap().invoke(DocUpdate::default(), RunConfig::new()).await.unwrap();
    /// assert_eq!(out.state.log, ["draft", "checked 1 entries"]);
    /// # });
    /// ```
    pub fn as_same_state_node(&self) -> impl Fn(Arc<S>, Context<C>) -> NodeFuture<S> + Send + Sync + 'static
    where
        S: crate::state::IntoOverwrite,
        S::Update: From<S>,
    {
        self.as_node(
            |parent: Arc<S>| S::Update::from(Arc::unwrap_or_clone(parent)),
            S::into_overwrite,
        )
    }

    /// The graph as a Mermaid flowchart (the layout LangGraph's `draw_mermaid` produces).
    pub fn to_mermaid(&self) -> String {
        self.core.drawing.mermaid()
    }

    /// The graph in Graphviz DOT.
    pub fn to_dot(&self) -> String {
        self.core.drawing.dot()
    }

    /// What [`compile`](StateGraph::compile) accepted with a warning (and
    /// [`compile_strict`](StateGraph::compile_strict) refuses): nodes unreachable from START,
    /// nodes that can never reach END.
    pub fn warnings(&self) -> &[BuildError] {
        &self.core.warnings
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
