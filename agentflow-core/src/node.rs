//! Nodes: the [`Node`] trait, and the adapters that let closures and subgraphs be nodes.

use std::any::Any;
use std::future::Future;
use std::marker::PhantomData;
use std::pin::Pin;
use std::sync::Arc;

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::checkpoint::{Codec, CodecError};
use crate::context::Context;
use crate::control::{self, Command};
use crate::error::{GraphError, NodeError};
use crate::state::State;

/// The future a node returns once boxed.
pub type NodeFuture<S> = Pin<Box<dyn Future<Output = Result<Command<S>, NodeError>> + Send>>;

/// A step of a graph: reads the state snapshot of its superstep and returns an update (or a
/// [`Command`]).
///
/// Any `async` closure or function `Fn(Arc<S>, Context<C>) -> Result<impl Into<Command<S>>,
/// NodeError>` is a node, added with [`StateGraph::add_node`](crate::StateGraph::add_node);
/// implement the trait for a reusable node type, added with
/// [`StateGraph::add_node_impl`](crate::StateGraph::add_node_impl).
///
/// ```
/// use std::sync::Arc;
/// use agentflow_core::{Command, Context, Node, NodeError, State};
///
/// #[derive(State, Clone, Default, serde::Serialize, serde::Deserialize)]
/// struct Count {
///     #[state(add)]
///     n: u64,
/// }
///
/// /// Adds a fixed amount.
/// struct AddBy(u64);
///
/// impl Node<Count, ()> for AddBy {
///     async fn run(&self, _state: Arc<Count>, _ctx: Context) -> Result<Command<Count>, NodeError> {
///         Ok(CountUpdate::default().n(self.0).into())
///     }
/// }
/// ```
pub trait Node<S: State, C>: Send + Sync + 'static {
    /// Runs the node on the snapshot `state`.
    fn run(
        &self,
        state: Arc<S>,
        ctx: Context<C>,
    ) -> impl Future<Output = Result<Command<S>, NodeError>> + Send;
}

impl<S, C, F, Fut, O> Node<S, C> for F
where
    S: State,
    C: Send + Sync + 'static,
    F: Fn(Arc<S>, Context<C>) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<O, NodeError>> + Send,
    O: Into<Command<S>>,
{
    async fn run(&self, state: Arc<S>, ctx: Context<C>) -> Result<Command<S>, NodeError> {
        (self)(state, ctx).await.map(Into::into)
    }
}

/// What a task runs on: the state snapshot, or the payload of a `Send`.
#[derive(Clone)]
pub(crate) enum TaskInput<S> {
    State(Arc<S>),
    Payload(control::Send),
}

/// A node with its input type erased, as the engine stores it.
pub(crate) trait ErasedNode<S: State, C>: Send + Sync {
    /// Starts the node, or says why the input does not fit.
    fn start(&self, input: TaskInput<S>, ctx: Context<C>) -> Result<NodeFuture<S>, GraphError>;
    /// True when edges may trigger the node (it takes the state).
    fn takes_state(&self) -> bool;
    /// Rebuilds a `Send` to this node from a checkpoint.
    fn decode_send(
        &self,
        node: Arc<str>,
        payload: &[u8],
        codec: &dyn Codec,
    ) -> Result<control::Send, CodecError>;
}

/// A node over the graph state; a `Send` to it must carry a value of the state type.
pub(crate) struct StateNode<N>(pub(crate) Arc<N>);

impl<S: State, C: Send + Sync + 'static, N: Node<S, C>> ErasedNode<S, C> for StateNode<N> {
    fn start(&self, input: TaskInput<S>, ctx: Context<C>) -> Result<NodeFuture<S>, GraphError> {
        let state = match input {
            TaskInput::State(state) => state,
            TaskInput::Payload(send) => downcast_payload::<S>(send)?.into(),
        };
        let node = self.0.clone();
        Ok(Box::pin(async move { node.run(state, ctx).await }))
    }

    fn takes_state(&self) -> bool {
        true
    }

    fn decode_send(
        &self,
        node: Arc<str>,
        payload: &[u8],
        codec: &dyn Codec,
    ) -> Result<control::Send, CodecError> {
        Ok(control::Send::new(node, codec.from_bytes::<S>(payload)?))
    }
}

/// A node whose input is the payload of a `Send` (of type `I`).
pub(crate) struct SendNode<I, F> {
    pub(crate) f: Arc<F>,
    pub(crate) _input: PhantomData<fn(I)>,
}

impl<S, C, I, F, Fut, O> ErasedNode<S, C> for SendNode<I, F>
where
    S: State,
    C: Send + Sync + 'static,
    I: Clone + Serialize + DeserializeOwned + Send + Sync + 'static,
    F: Fn(I, Context<C>) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<O, NodeError>> + Send + 'static,
    O: Into<Command<S>>,
{
    fn start(&self, input: TaskInput<S>, ctx: Context<C>) -> Result<NodeFuture<S>, GraphError> {
        let payload = match input {
            TaskInput::Payload(send) => downcast_payload::<I>(send)?,
            TaskInput::State(_) => {
                return Err(GraphError::SendPayloadType {
                    node: ctx.node().to_owned(),
                    expected: std::any::type_name::<I>(),
                    found: "the graph state (an edge, not a Send)",
                });
            }
        };
        let fut = (self.f)(payload, ctx);
        Ok(Box::pin(async move { fut.await.map(Into::into) }))
    }

    fn takes_state(&self) -> bool {
        false
    }

    fn decode_send(
        &self,
        node: Arc<str>,
        payload: &[u8],
        codec: &dyn Codec,
    ) -> Result<control::Send, CodecError> {
        Ok(control::Send::new(node, codec.from_bytes::<I>(payload)?))
    }
}

/// The payload of `send` as a `T`, cloned only if another holder still shares it.
fn downcast_payload<T: Clone + Any + Send + Sync>(send: control::Send) -> Result<T, GraphError> {
    let control::Send {
        node,
        payload,
        type_name,
        ..
    } = send;
    payload
        .downcast::<T>()
        .map(Arc::unwrap_or_clone)
        .map_err(|_| GraphError::SendPayloadType {
            node: node.to_string(),
            expected: std::any::type_name::<T>(),
            found: type_name,
        })
}
