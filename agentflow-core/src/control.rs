//! Control flow values nodes and routers return: [`Route`], [`Send`] and [`Command`].

use std::any::Any;
use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::checkpoint::{Codec, CodecError};
use crate::state::State;
use crate::{END, START};

// This module defines LangGraph's `Send`, which shadows the marker trait here: the trait is
// spelled `std::marker::Send` in this file only.
type EncodeFn = fn(&(dyn Any + std::marker::Send + Sync), &dyn Codec) -> Result<Vec<u8>, CodecError>;

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
    encode: EncodeFn,
}

impl Send {
    /// A task for `node` with input `payload` (serializable, so that a checkpoint can hold the
    /// task until it runs).
    pub fn new<T: Any + Serialize + std::marker::Send + Sync>(node: impl Into<Arc<str>>, payload: T) -> Self {
        Send {
            node: node.into(),
            payload: Arc::new(payload),
            type_name: std::any::type_name::<T>(),
            encode: encode_payload::<T>,
        }
    }

    /// Encodes the payload for a checkpoint.
    pub(crate) fn encode(&self, codec: &dyn Codec) -> Result<Vec<u8>, CodecError> {
        (self.encode)(&*self.payload, codec)
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

fn encode_payload<T: Any + Serialize>(
    payload: &(dyn Any + std::marker::Send + Sync),
    codec: &dyn Codec,
) -> Result<Vec<u8>, CodecError> {
    let value = payload
        .downcast_ref::<T>()
        .ok_or_else(|| CodecError::new(codec.name(), "Send payload changed type"))?;
    codec.to_bytes(value)
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
/// #[derive(State, Clone, Default, serde::Serialize, serde::Deserialize)]
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
    pub(crate) resume: Option<Resume>,
}

impl<S: State> Command<S> {
    /// A command that only updates the state.
    pub fn update(update: S::Update) -> Self {
        Command {
            update,
            goto: Vec::new(),
            resume: None,
        }
    }

    /// Resumes a run stopped at an interrupt, with the value the interrupted node's
    /// [`Context::interrupt`](crate::Context::interrupt) call returns. With several interrupts
    /// pending, use [`Command::resume_by_id`].
    pub fn resume(value: impl Into<serde_json::Value>) -> Self {
        Command {
            resume: Some(Resume::Value(value.into())),
            ..Command::default()
        }
    }

    /// Resumes specific interrupts, each by its [`Interrupt::id`].
    pub fn resume_by_id<I, K, V>(values: I) -> Self
    where
        I: IntoIterator<Item = (K, V)>,
        K: Into<String>,
        V: Into<serde_json::Value>,
    {
        Command {
            resume: Some(Resume::ById(
                values.into_iter().map(|(k, v)| (k.into(), v.into())).collect(),
            )),
            ..Command::default()
        }
    }

    /// Adds a state update (applied at the end of the resumed superstep, after the tasks').
    pub fn with_update(mut self, update: S::Update) -> Self {
        self.update = update;
        self
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
            .field("resume", &self.resume)
            .finish()
    }
}

/// Resume values for interrupts.
#[derive(Clone, Debug, PartialEq)]
pub enum Resume {
    /// One value for the one pending interrupt.
    Value(serde_json::Value),
    /// Values by interrupt id.
    ById(BTreeMap<String, serde_json::Value>),
}

/// Why a run paused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum InterruptKind {
    /// A node called [`Context::interrupt`](crate::Context::interrupt).
    Dynamic,
    /// A static breakpoint before a node (`interrupt_before`).
    Before,
    /// A static breakpoint after a node (`interrupt_after`).
    After,
}

/// A pause waiting for a human (or another system): what is asked, and where.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Interrupt {
    /// Deterministic id: resume this interrupt with [`Command::resume_by_id`].
    pub id: String,
    /// The node that paused (or is about to run, for `Before`).
    pub node: String,
    /// The task that paused.
    pub task_id: String,
    /// What the node asked (the payload given to `interrupt`; null for static breakpoints).
    pub value: serde_json::Value,
    /// Dynamic, or a static breakpoint.
    pub kind: InterruptKind,
}

/// The input of a run: a new input, a resume, or "continue where the thread stopped".
pub enum RunInput<S: State> {
    /// New input, merged into the thread's state (or the default state) with each field's rule.
    Update(S::Update),
    /// Resume from the thread's latest checkpoint with resume values, and optionally an update
    /// and a `goto`.
    Resume(Command<S>),
    /// Continue from the thread's latest (or the configured) checkpoint.
    Continue,
}

impl<S: State> From<Command<S>> for RunInput<S> {
    fn from(command: Command<S>) -> Self {
        RunInput::Resume(command)
    }
}

impl<S: State> fmt::Debug for RunInput<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RunInput::Update(u) => f.debug_tuple("Update").field(u).finish(),
            RunInput::Resume(c) => f.debug_tuple("Resume").field(c).finish(),
            RunInput::Continue => f.write_str("Continue"),
        }
    }
}

/// True when `name` is one of the reserved names [`START`] and [`END`].
pub(crate) fn is_reserved(name: &str) -> bool {
    name == START || name == END
}
