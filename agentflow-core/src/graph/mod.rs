//! Building a graph: [`StateGraph`], its nodes ([`NodeSpec`]) and edges.

mod validate;

use std::future::Future;
use std::marker::PhantomData;
use std::sync::Arc;
use std::time::Duration;

use crate::compiled::CompiledGraph;
use crate::context::Context;
use crate::control::{Command, IntoRoutes, Route};
use crate::error::{BuildError, NodeError};
use crate::node::{ErasedNode, Node, SendNode, StateNode};
use crate::retry::RetryPolicy;
use crate::state::State;

pub(crate) type Router<S> = Arc<dyn Fn(&S) -> Vec<Route> + Send + Sync>;
pub(crate) type ErrorHandler<S> = Arc<dyn Fn(&NodeError, &S) -> Option<Command<S>> + Send + Sync>;

/// A graph under construction: nodes over state `S`, edges between them, and the runtime
/// context type `C` its nodes receive.
///
/// ```
/// use agentflow_core::{RunConfig, State, StateGraph, END, START};
///
/// #[derive(State, Clone, Default, Debug, serde::Serialize, serde::Deserialize)]
/// struct Doc {
///     #[state(append)]
///     log: Vec<String>,
/// }
///
/// # tokio_test_block_on(async {
/// let mut graph = StateGraph::<Doc>::new();
/// graph.add_node("draft", |_, _| async {
///     Ok(DocUpdate::default().log(vec!["drafted".into()]))
/// });
/// graph.add_node("review", |doc, _| async move {
///     let note = format!("reviewed {} entries", doc.log.len());
///     Ok(DocUpdate::default().log(vec![note]))
/// });
/// graph.add_edge(START, "draft");
/// graph.add_edge("draft", "review");
/// graph.add_edge("review", END);
/// let app = graph.compile().unwrap();
///
/// let out = app.invoke(DocUpdate::default(), RunConfig::new()).await.unwrap();
/// assert_eq!(out.state.log, ["drafted", "reviewed 1 entries"]);
/// # });
/// # fn tokio_test_block_on<F: std::future::Future>(f: F) -> F::Output {
/// #     tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(f)
/// # }
/// ```
pub struct StateGraph<S: State, C = ()> {
    pub(crate) nodes: Vec<NodeSpec<S, C>>,
    pub(crate) edges: Vec<(Arc<str>, Arc<str>)>,
    pub(crate) joins: Vec<(Vec<Arc<str>>, Arc<str>)>,
    pub(crate) branches: Vec<BranchSpec<S>>,
}

/// A conditional edge as declared.
pub(crate) struct BranchSpec<S> {
    pub(crate) source: Arc<str>,
    pub(crate) router: Router<S>,
    pub(crate) targets: Vec<Arc<str>>,
}

/// A node being added: set its retry policy, timeout, error handler and destinations.
pub struct NodeSpec<S: State, C> {
    pub(crate) name: Arc<str>,
    pub(crate) node: Arc<dyn ErasedNode<S, C>>,
    pub(crate) retry: Option<RetryPolicy>,
    pub(crate) timeout: Option<Duration>,
    pub(crate) on_error: Option<ErrorHandler<S>>,
    pub(crate) destinations: Vec<Arc<str>>,
}

impl<S: State, C> NodeSpec<S, C> {
    /// Retries the node on failure according to `policy`.
    pub fn retry(&mut self, policy: RetryPolicy) -> &mut Self {
        self.retry = Some(policy);
        self
    }

    /// Fails an attempt that runs longer than `timeout` (a retryable error).
    pub fn timeout(&mut self, timeout: Duration) -> &mut Self {
        self.timeout = Some(timeout);
        self
    }

    /// Handles the node's failure once retries are exhausted: return a [`Command`] to use as the
    /// node's result (an update and, through `goto`, a fallback route), or `None` to fail the
    /// run. A fallback target must be among the node's [`destinations`](NodeSpec::destinations),
    /// if it declares any.
    pub fn on_error(
        &mut self,
        handler: impl Fn(&NodeError, &S) -> Option<Command<S>> + Send + Sync + 'static,
    ) -> &mut Self {
        self.on_error = Some(Arc::new(handler));
        self
    }

    /// Declares where the node's [`Command`]s may `goto` (checked at compile time and at run
    /// time, and drawn in diagrams). A node that declares none may `goto` any node, as in
    /// LangGraph; its targets are then unknown to the compile-time checks and the diagrams.
    pub fn destinations<I, N>(&mut self, targets: I) -> &mut Self
    where
        I: IntoIterator<Item = N>,
        N: Into<Arc<str>>,
    {
        self.destinations.extend(targets.into_iter().map(Into::into));
        self
    }
}

/// The sources of an edge: one node (a plain edge) or several (a join that waits for all).
pub trait EdgeSources {
    /// The source names.
    fn into_sources(self) -> Vec<Arc<str>>;
}
impl EdgeSources for &str {
    fn into_sources(self) -> Vec<Arc<str>> {
        vec![self.into()]
    }
}
impl EdgeSources for String {
    fn into_sources(self) -> Vec<Arc<str>> {
        vec![self.into()]
    }
}
impl<const N: usize> EdgeSources for [&str; N] {
    fn into_sources(self) -> Vec<Arc<str>> {
        self.into_iter().map(Into::into).collect()
    }
}
impl EdgeSources for Vec<&str> {
    fn into_sources(self) -> Vec<Arc<str>> {
        self.into_iter().map(Into::into).collect()
    }
}
impl EdgeSources for Vec<String> {
    fn into_sources(self) -> Vec<Arc<str>> {
        self.into_iter().map(Into::into).collect()
    }
}

impl<S: State, C: Send + Sync + 'static> Default for StateGraph<S, C> {
    fn default() -> Self {
        Self::new()
    }
}

impl<S: State, C: Send + Sync + 'static> StateGraph<S, C> {
    /// An empty graph.
    pub fn new() -> Self {
        StateGraph {
            nodes: Vec::new(),
            edges: Vec::new(),
            joins: Vec::new(),
            branches: Vec::new(),
        }
    }

    fn push_node(&mut self, name: Arc<str>, node: Arc<dyn ErasedNode<S, C>>) -> &mut NodeSpec<S, C> {
        self.nodes.push(NodeSpec {
            name,
            node,
            retry: None,
            timeout: None,
            on_error: None,
            destinations: Vec::new(),
        });
        let last = self.nodes.len() - 1;
        &mut self.nodes[last]
    }

    /// Adds a node over the graph state: an async function or closure taking the state snapshot
    /// and the [`Context`], and returning an update or a [`Command`]. Names must be unique
    /// (checked by [`compile`](Self::compile)).
    ///
    /// The closure's argument and error types are inferred from the graph: `|state, ctx| async
    /// move { Ok(update) }` needs no annotations. A reusable node type goes through
    /// [`add_node_impl`](Self::add_node_impl).
    pub fn add_node<F, Fut, O>(&mut self, name: impl Into<Arc<str>>, node: F) -> &mut NodeSpec<S, C>
    where
        F: Fn(Arc<S>, Context<C>) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<O, NodeError>> + Send,
        O: Into<Command<S>>,
    {
        self.add_node_impl(name, node)
    }

    /// Adds a node of a type that implements [`Node`] (such as a tool-calling node), where
    /// [`add_node`](Self::add_node) takes a function or closure.
    pub fn add_node_impl(&mut self, name: impl Into<Arc<str>>, node: impl Node<S, C>) -> &mut NodeSpec<S, C> {
        self.push_node(name.into(), Arc::new(StateNode(Arc::new(node))))
    }

    /// Adds a node that runs only through [`Send`](crate::Send), with the send's payload of type
    /// `I` as its input (map-reduce workers, fan-out to a subgraph).
    pub fn add_send_node<I, F, Fut, O>(&mut self, name: impl Into<Arc<str>>, node: F) -> &mut NodeSpec<S, C>
    where
        I: Clone + serde::Serialize + serde::de::DeserializeOwned + Send + Sync + 'static,
        F: Fn(I, Context<C>) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<O, NodeError>> + Send + 'static,
        O: Into<Command<S>> + 'static,
    {
        let node = SendNode {
            f: Arc::new(node),
            _input: PhantomData,
        };
        self.push_node(name.into(), Arc::new(node))
    }

    /// Adds an edge. With one source, `to` runs in the superstep after `from`; with several
    /// (`add_edge(["a", "b"], "c")`), `to` waits until every source has run (a join).
    pub fn add_edge(&mut self, from: impl EdgeSources, to: impl Into<Arc<str>>) -> &mut Self {
        let mut sources = from.into_sources();
        let to = to.into();
        if sources.len() == 1 {
            if let Some(from) = sources.pop() {
                self.edges.push((from, to));
            }
        } else {
            self.joins.push((sources, to));
        }
        self
    }

    /// Adds a chain of edges through `nodes`, in order.
    pub fn add_sequence<I, N>(&mut self, nodes: I) -> &mut Self
    where
        I: IntoIterator<Item = N>,
        N: Into<Arc<str>>,
    {
        let names: Vec<Arc<str>> = nodes.into_iter().map(Into::into).collect();
        for pair in names.windows(2) {
            self.edges.push((pair[0].clone(), pair[1].clone()));
        }
        self
    }

    /// Adds a conditional edge: after `source` runs, `router` reads the state (with `source`'s
    /// own writes applied, not its siblings') and returns where to go: one or more node names,
    /// [`END`](crate::END), or [`Send`](crate::Send)s. Every possible destination must be in
    /// `targets`; that is validated at compile time and at run time.
    pub fn add_conditional_edges<R, I, N>(
        &mut self,
        source: impl Into<Arc<str>>,
        router: impl Fn(&S) -> R + Send + Sync + 'static,
        targets: I,
    ) -> &mut Self
    where
        R: IntoRoutes,
        I: IntoIterator<Item = N>,
        N: Into<Arc<str>>,
    {
        self.branches.push(BranchSpec {
            source: source.into(),
            router: Arc::new(move |state| router(state).into_routes()),
            targets: targets.into_iter().map(Into::into).collect(),
        });
        self
    }

    /// Validates the graph and freezes it for running.
    ///
    /// Fails on duplicate or reserved node names, edges naming unknown nodes, a missing entry
    /// edge, and static edges into send-only nodes. Nodes that no declared edge reaches from
    /// START ([`BuildError::Unreachable`]) and nodes with no declared way to END
    /// ([`BuildError::NoPathToEnd`]) are accepted, as LangGraph accepts them (a node reached
    /// only through an undeclared `Command` goto; a loop stopped by the recursion limit): they
    /// are logged as warnings and kept in [`CompiledGraph::warnings`].
    /// [`compile_strict`](Self::compile_strict) refuses them.
    pub fn compile(self) -> Result<CompiledGraph<S, C>, BuildError> {
        let warnings = validate::validate(&self)?;
        for warning in &warnings {
            tracing::warn!(%warning, "graph compiled with a warning (compile_strict refuses it)");
        }
        Ok(CompiledGraph::from_builder(self, warnings))
    }

    /// [`compile`](Self::compile), refusing the graphs it only warns about: nodes unreachable
    /// from START and nodes that can never reach END.
    pub fn compile_strict(self) -> Result<CompiledGraph<S, C>, BuildError> {
        let mut warnings = validate::validate(&self)?;
        if !warnings.is_empty() {
            return Err(warnings.swap_remove(0));
        }
        Ok(CompiledGraph::from_builder(self, warnings))
    }
}
