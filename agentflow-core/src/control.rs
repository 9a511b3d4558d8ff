//! Control flow values nodes and routers return: [`Route`], [`Send`] and [`Command`].

use std::any::Any;
use std::fmt;
use std::sync::Arc;

use crate::state::State;
use crate::{END, START};

/// A dynamic task for the next superstep: run `node` with `payload` as its input.
///
/// The payload may be a different type from the graph's state (map-reduce, fan-out to a
/// subgraph); the target node declares which type it accepts (see
/// [`StateGraph::add_send_node`](crate::StateGraph::add_send_node)). A payload of the wrong type
/// is a clear error when the task starts.
#[derive(Clone)]
pub struct Send {
    pub(crate) node: Arc<str>,
    pub(crate) payload: Arc<dyn Any + std::marker::Send + Sync>,
    pub(crate) type_name: &'static str,
}

impl Send {
    /// A task for `node` with input `payload`.
    pub fn new<T: Any + std::marker::Send + Sync>(node: impl Into<Arc<str>>, payload: T) -> Self {
        Send {
            node: node.into(),
            payload: Arc::new(payload),
            type_name: std::any::type_name::<T>(),
        }
    }

    /// The target node.
    pub fn node(&self) -> &str {
        &self.node
    }

    /// The payload, if it has type `T`.
    pub fn payload<T: Any>(&self) -> Option<&T> {
        self.payload.downcast_ref()
    }
}

impl fmt::Debug for Send {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Send")
            .field("node", &self.node)
            .field("payload_type", &self.type_name)
            .finish()
    }
}

/// Where to go next: a node by name, the end of the graph, or a [`Send`].
#[derive(Clone, Debug)]
pub enum Route {
    /// Run this node in the next superstep (or finish the branch if it is [`END`]).
    To(Arc<str>),
    /// Run a dynamic task in the next superstep.
    Send(Send),
}

impl Route {
    /// The node this route targets (for a `Send`, its node).
    pub fn target(&self) -> &str {
        match self {
            Route::To(name) => name,
            Route::Send(send) => &send.node,
        }
    }

    /// True when this route ends the branch.
    pub fn is_end(&self) -> bool {
        matches!(self, Route::To(name) if &**name == END)
    }
}

impl From<&str> for Route {
    fn from(name: &str) -> Self {
        Route::To(name.into())
    }
}
impl From<String> for Route {
    fn from(name: String) -> Self {
        Route::To(name.into())
    }
}
impl From<Arc<str>> for Route {
    fn from(name: Arc<str>) -> Self {
        Route::To(name)
    }
}
impl From<Send> for Route {
    fn from(send: Send) -> Self {
        Route::Send(send)
    }
}

/// What routers return: one or more [`Route`]s. Implemented for names, `Send`s, and vectors,
/// arrays and options of them.
pub trait IntoRoutes {
    /// Converts into a list of routes.
    fn into_routes(self) -> Vec<Route>;
}

macro_rules! single_route {
    ($($t:ty),*) => {$(
        impl IntoRoutes for $t {
            fn into_routes(self) -> Vec<Route> {
                vec![self.into()]
            }
        }
    )*};
}
single_route!(&str, String, Arc<str>, Send, Route);

impl<T: Into<Route>> IntoRoutes for Vec<T> {
    fn into_routes(self) -> Vec<Route> {
        self.into_iter().map(Into::into).collect()
    }
}
impl<T: Into<Route>, const N: usize> IntoRoutes for [T; N] {
    fn into_routes(self) -> Vec<Route> {
        self.into_iter().map(Into::into).collect()
    }
}
impl<T: Into<Route>> IntoRoutes for Option<T> {
    fn into_routes(self) -> Vec<Route> {
        self.into_iter().map(Into::into).collect()
    }
}

/// A node's result: a state update, and optionally where to go next.
///
/// Nodes usually return their state's update type, which converts into a `Command` with no
/// `goto`. Return a `Command` to route dynamically; the targets must be declared with
/// [`NodeSpec::destinations`](crate::NodeSpec::destinations).
///
/// ```
/// use agentflow_core::{Command, State};
///
/// #[derive(State, Clone, Default)]
/// struct Ticket {
///     status: String,
/// }
///
/// let cmd: Command<Ticket> = Command::update(TicketUpdate::default().status("triaged".into()))
///     .goto("assign");
/// assert_eq!(cmd.routes()[0].target(), "assign");
/// ```
pub struct Command<S: State> {
    pub(crate) update: S::Update,
    pub(crate) goto: Vec<Route>,
}

impl<S: State> Command<S> {
    /// A command that only updates the state.
    pub fn update(update: S::Update) -> Self {
        Command {
            update,
            goto: Vec::new(),
        }
    }

    /// A command that writes nothing and goes to `routes`.
    pub fn goto_only(routes: impl IntoRoutes) -> Self {
        Command::update(S::Update::default()).goto(routes)
    }

    /// Adds destinations for the next superstep.
    pub fn goto(mut self, routes: impl IntoRoutes) -> Self {
        self.goto.extend(routes.into_routes());
        self
    }

    /// The state update.
    pub fn update_ref(&self) -> &S::Update {
        &self.update
    }

    /// The routes.
    pub fn routes(&self) -> &[Route] {
        &self.goto
    }
}

impl<S: State> Default for Command<S> {
    fn default() -> Self {
        Command::update(S::Update::default())
    }
}

impl<S: State> From<()> for Command<S> {
    fn from((): ()) -> Self {
        Command::default()
    }
}

impl<S: State> fmt::Debug for Command<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Command")
            .field("update", &self.update)
            .field("goto", &self.goto)
            .finish()
    }
}

/// True when `name` is one of the reserved names [`START`] and [`END`].
pub(crate) fn is_reserved(name: &str) -> bool {
    name == START || name == END
}
