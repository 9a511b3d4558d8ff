//! Stream modes and the events a run emits.
//!
//! [`CompiledGraph::stream`](crate::CompiledGraph::stream) yields [`StreamEvent`]s for any
//! combination of modes. With [`StreamModes::with_subgraphs`], subgraph events arrive in the same
//! stream with a non-root [`Namespace`]; their state and updates are of the subgraph's own types, so they are carried
//! type-erased ([`EventData::SubgraphValues`], [`EventData::SubgraphUpdates`]).

use std::any::Any;
use std::fmt;
use std::ops::BitOr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context as TaskContext, Poll};
use std::time::Duration;

use futures::Stream;
use tokio::sync::mpsc;

use crate::checkpoint::CheckpointRef;
use crate::error::GraphError;
use crate::ids::{Namespace, TaskId};
use crate::state::State;

/// One kind of stream output.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum StreamMode {
    /// The whole state after each superstep.
    Values,
    /// Each node's update, as it finishes.
    Updates,
    /// Values nodes emit through their [`StreamWriter`].
    Custom,
    /// Token chunks from model calls.
    Messages,
    /// Task start and end, with timing.
    Tasks,
    /// What LangGraph's `debug` mode streams: the `Tasks` events, and an
    /// [`EventData::Checkpoint`] for each checkpoint the run writes (with a checkpointer).
    Debug,
}

/// A set of [`StreamMode`]s. Build it from one mode, an array of modes, or `mode | mode`.
#[derive(Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct StreamModes(u8);

impl StreamModes {
    /// No output (what `invoke` uses).
    pub const NONE: StreamModes = StreamModes(0);

    fn bit(mode: StreamMode) -> u8 {
        match mode {
            StreamMode::Values => 1,
            StreamMode::Updates => 2,
            StreamMode::Custom => 4,
            StreamMode::Messages => 8,
            StreamMode::Tasks => 16,
            // Debug includes the task events.
            StreamMode::Debug => 16 | DEBUG,
        }
    }

    /// True when `mode` is in the set.
    pub fn contains(self, mode: StreamMode) -> bool {
        let bits = Self::bit(mode);
        self.0 & bits == bits
    }

    /// True when no mode is set.
    pub fn is_empty(self) -> bool {
        self.0 & !SUBGRAPHS == 0
    }

    /// Also stream the events of subgraphs (off by default, as LangGraph's `subgraphs=False`);
    /// they carry the subgraph's namespace.
    pub fn with_subgraphs(self) -> Self {
        StreamModes(self.0 | SUBGRAPHS)
    }

    /// True when subgraph events are streamed.
    pub fn includes_subgraphs(self) -> bool {
        self.0 & SUBGRAPHS != 0
    }
}

/// The flag bit of [`StreamModes::with_subgraphs`].
const SUBGRAPHS: u8 = 32;
/// The bit of [`StreamMode::Debug`]'s own events (checkpoints).
const DEBUG: u8 = 64;

impl fmt::Debug for StreamModes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let all = [
            StreamMode::Values,
            StreamMode::Updates,
            StreamMode::Custom,
            StreamMode::Messages,
            StreamMode::Tasks,
            StreamMode::Debug,
        ];
        let mut set = f.debug_set();
        set.entries(all.into_iter().filter(|m| self.contains(*m)));
        if self.includes_subgraphs() {
            set.entry(&"subgraphs");
        }
        set.finish()
    }
}

impl From<StreamMode> for StreamModes {
    fn from(mode: StreamMode) -> Self {
        StreamModes(Self::bit(mode))
    }
}

impl<const N: usize> From<[StreamMode; N]> for StreamModes {
    fn from(modes: [StreamMode; N]) -> Self {
        modes.into_iter().fold(StreamModes::NONE, |acc, m| acc | m)
    }
}

impl<M: Into<StreamModes>> BitOr<M> for StreamModes {
    type Output = StreamModes;
    fn bitor(self, rhs: M) -> StreamModes {
        StreamModes(self.0 | rhs.into().0)
    }
}

impl<M: Into<StreamModes>> BitOr<M> for StreamMode {
    type Output = StreamModes;
    fn bitor(self, rhs: M) -> StreamModes {
        StreamModes::from(self) | rhs
    }
}

/// A chunk of a model's streamed output (fed by model integrations through
/// [`StreamWriter::message`]).
#[derive(Clone, Debug, PartialEq)]
pub struct MessageChunk {
    /// The id of the message being streamed, if the model gives one.
    pub message_id: Option<String>,
    /// The text of this chunk.
    pub content: String,
    /// Provider-specific extras (model name, token usage, ...).
    pub metadata: serde_json::Value,
}

/// An event of a run, from the graph itself or from a subgraph (see `namespace`).
pub struct StreamEvent<S: State> {
    /// Empty for the top-level graph; `node:task_id|...` for subgraphs.
    pub namespace: Namespace,
    /// What happened.
    pub data: EventData<S>,
}

/// The payload of a [`StreamEvent`].
#[non_exhaustive]
pub enum EventData<S: State> {
    /// The state after superstep `step` (mode `Values`).
    Values {
        /// The superstep.
        step: usize,
        /// The whole state.
        state: Arc<S>,
    },
    /// A node's update (mode `Updates`), emitted as the node finishes.
    Updates {
        /// The superstep.
        step: usize,
        /// The node.
        node: Arc<str>,
        /// What it wrote.
        update: Arc<S::Update>,
    },
    /// A subgraph's state after one of its supersteps (mode `Values`); downcast to the
    /// subgraph's state type.
    SubgraphValues {
        /// The subgraph's superstep.
        step: usize,
        /// The subgraph state.
        state: Arc<dyn Any + Send + Sync>,
    },
    /// A subgraph node's update (mode `Updates`); downcast to the subgraph's update type.
    SubgraphUpdates {
        /// The subgraph's superstep.
        step: usize,
        /// The subgraph node.
        node: Arc<str>,
        /// What it wrote.
        update: Arc<dyn Any + Send + Sync>,
    },
    /// A value a node emitted (mode `Custom`).
    Custom {
        /// The node.
        node: Arc<str>,
        /// The value.
        value: serde_json::Value,
    },
    /// A model token chunk (mode `Messages`).
    Message {
        /// The node.
        node: Arc<str>,
        /// The chunk.
        chunk: MessageChunk,
    },
    /// A task started (mode `Tasks`).
    TaskStart {
        /// The superstep.
        step: usize,
        /// The node.
        node: Arc<str>,
        /// The task's deterministic id.
        task_id: TaskId,
    },
    /// The run wrote a checkpoint (mode `Debug`). With async durability it may still be on its
    /// way to the saver; the run's end waits for it.
    Checkpoint {
        /// Where it is: pass it to `get_state`, or to `invoke` to run from it.
        checkpoint: CheckpointRef,
        /// Its step (-1 for the input checkpoint), as its metadata says.
        step: i64,
        /// The nodes the next superstep runs from it (none for the input checkpoint, whose input
        /// is not merged yet, nor once the run is done).
        next: Vec<Arc<str>>,
    },
    /// A task ended (mode `Tasks`).
    TaskEnd {
        /// The superstep.
        step: usize,
        /// The node.
        node: Arc<str>,
        /// The task's deterministic id.
        task_id: TaskId,
        /// Time from start to end, retries included.
        elapsed: Duration,
        /// The error, if it failed.
        error: Option<String>,
    },
}

impl<S: State> fmt::Debug for StreamEvent<S>
where
    S: fmt::Debug,
{
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("StreamEvent");
        d.field("namespace", &self.namespace);
        match &self.data {
            EventData::Values { step, state } => d.field("values", &(step, state)),
            EventData::Updates { step, node, update } => d.field("updates", &(step, node, update)),
            EventData::SubgraphValues { step, .. } => d.field("subgraph_values", step),
            EventData::SubgraphUpdates { step, node, .. } => d.field("subgraph_updates", &(step, node)),
            EventData::Custom { node, value } => d.field("custom", &(node, value)),
            EventData::Message { node, chunk } => d.field("message", &(node, chunk)),
            EventData::TaskStart { step, node, task_id } => d.field("task_start", &(step, node, task_id)),
            EventData::TaskEnd {
                step,
                node,
                task_id,
                elapsed,
                error,
            } => d.field("task_end", &(step, node, task_id, elapsed, error)),
            EventData::Checkpoint {
                checkpoint,
                step,
                next,
            } => d.field("checkpoint", &(checkpoint, step, next)),
        };
        d.finish()
    }
}

/// An event before it is given its typed form: subgraphs of any state type share one sink.
pub(crate) enum RawData {
    Values {
        step: usize,
        state: Arc<dyn Any + Send + Sync>,
    },
    Updates {
        step: usize,
        node: Arc<str>,
        update: Arc<dyn Any + Send + Sync>,
    },
    Custom {
        node: Arc<str>,
        value: serde_json::Value,
    },
    Message {
        node: Arc<str>,
        chunk: MessageChunk,
    },
    TaskStart {
        step: usize,
        node: Arc<str>,
        task_id: TaskId,
    },
    TaskEnd {
        step: usize,
        node: Arc<str>,
        task_id: TaskId,
        elapsed: Duration,
        error: Option<String>,
    },
    Checkpoint {
        checkpoint: CheckpointRef,
        step: i64,
        next: Vec<Arc<str>>,
    },
}

pub(crate) struct RawEvent {
    namespace: Namespace,
    data: RawData,
}

impl RawEvent {
    /// The typed form: root values and updates are downcast to the graph's own types.
    fn into_typed<S: State>(self) -> StreamEvent<S> {
        let root = self.namespace.is_root();
        let data = match self.data {
            RawData::Values { step, state } => match state.downcast::<S>() {
                Ok(state) if root => EventData::Values { step, state },
                Ok(state) => EventData::SubgraphValues { step, state },
                Err(state) => EventData::SubgraphValues { step, state },
            },
            RawData::Updates { step, node, update } => match update.downcast::<S::Update>() {
                Ok(update) if root => EventData::Updates { step, node, update },
                Ok(update) => EventData::SubgraphUpdates { step, node, update },
                Err(update) => EventData::SubgraphUpdates { step, node, update },
            },
            RawData::Custom { node, value } => EventData::Custom { node, value },
            RawData::Message { node, chunk } => EventData::Message { node, chunk },
            RawData::TaskStart { step, node, task_id } => EventData::TaskStart { step, node, task_id },
            RawData::TaskEnd {
                step,
                node,
                task_id,
                elapsed,
                error,
            } => EventData::TaskEnd {
                step,
                node,
                task_id,
                elapsed,
                error,
            },
            RawData::Checkpoint {
                checkpoint,
                step,
                next,
            } => EventData::Checkpoint {
                checkpoint,
                step,
                next,
            },
        };
        StreamEvent {
            namespace: self.namespace,
            data,
        }
    }
}

/// Where a run (and its subgraphs) send events. Cheap to clone; a no-op without modes.
#[derive(Clone, Default)]
pub(crate) struct EventSink {
    tx: Option<mpsc::UnboundedSender<RawEvent>>,
    modes: StreamModes,
    namespace: Namespace,
}

impl EventSink {
    pub(crate) fn new(tx: mpsc::UnboundedSender<RawEvent>, modes: StreamModes) -> Self {
        EventSink {
            tx: Some(tx),
            modes,
            namespace: Namespace::ROOT,
        }
    }

    pub(crate) fn wants(&self, mode: StreamMode) -> bool {
        self.tx.is_some() && self.modes.contains(mode)
    }

    pub(crate) fn namespace(&self) -> &Namespace {
        &self.namespace
    }

    /// The sink of a subgraph run inside task `task` of node `node` (silent unless subgraph
    /// events were asked for).
    pub(crate) fn child(&self, node: &str, task: TaskId) -> EventSink {
        EventSink {
            tx: self.tx.clone().filter(|_| self.modes.includes_subgraphs()),
            modes: self.modes,
            namespace: self.namespace.child(node, task),
        }
    }

    /// Sends an event; a dropped receiver (the caller stopped listening) is not an error.
    pub(crate) fn emit(&self, data: RawData) {
        if let Some(tx) = &self.tx {
            let _ = tx.send(RawEvent {
                namespace: self.namespace.clone(),
                data,
            });
        }
    }
}

/// Lets a node emit custom values and model token chunks into the run's stream.
#[derive(Clone)]
pub struct StreamWriter {
    sink: EventSink,
    node: Arc<str>,
}

impl StreamWriter {
    pub(crate) fn new(sink: EventSink, node: Arc<str>) -> Self {
        StreamWriter { sink, node }
    }

    /// Emits a value in mode `Custom` (a no-op if nobody streams that mode).
    pub fn custom(&self, value: impl Into<serde_json::Value>) {
        if self.sink.wants(StreamMode::Custom) {
            self.sink.emit(RawData::Custom {
                node: self.node.clone(),
                value: value.into(),
            });
        }
    }

    /// Emits a model token chunk in mode `Messages`.
    pub fn message(&self, chunk: MessageChunk) {
        if self.sink.wants(StreamMode::Messages) {
            self.sink.emit(RawData::Message {
                node: self.node.clone(),
                chunk,
            });
        }
    }

    /// True when someone streams `mode` (to skip building costly payloads).
    pub fn is_streaming(&self, mode: StreamMode) -> bool {
        self.sink.wants(mode)
    }
}

impl fmt::Debug for StreamWriter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StreamWriter")
            .field("node", &self.node)
            .field("modes", &self.sink.modes)
            .finish()
    }
}

type RunFuture<S> = Pin<Box<dyn Future<Output = Result<crate::RunOutput<S>, GraphError>> + Send>>;

/// The stream of a run's events, returned by [`CompiledGraph::stream`](crate::CompiledGraph::stream).
///
/// The run advances only while the stream is polled. It ends after the run finishes; if the run
/// fails, the last item is the error. Dropping the stream cancels the run.
pub struct EventStream<S: State> {
    run: Option<RunFuture<S>>,
    rx: mpsc::UnboundedReceiver<RawEvent>,
    error: Option<GraphError>,
    output: Option<crate::RunOutput<S>>,
}

impl<S: State> EventStream<S> {
    pub(crate) fn new(run: RunFuture<S>, rx: mpsc::UnboundedReceiver<RawEvent>) -> Self {
        EventStream {
            run: Some(run),
            rx,
            error: None,
            output: None,
        }
    }

    /// The run's output, once the stream has ended without error.
    pub fn output(&self) -> Option<&crate::RunOutput<S>> {
        self.output.as_ref()
    }

    /// Takes the run's output, once the stream has ended without error.
    pub fn into_output(self) -> Option<crate::RunOutput<S>> {
        self.output
    }
}

// Nothing in the stream is pinned in place: the run future is boxed.
impl<S: State> Unpin for EventStream<S> {}

impl<S: State> Stream for EventStream<S> {
    type Item = Result<StreamEvent<S>, GraphError>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        // Deliver what is queued before advancing the run: that is the backpressure.
        if let Ok(event) = this.rx.try_recv() {
            return Poll::Ready(Some(Ok(event.into_typed())));
        }
        if let Some(run) = this.run.as_mut() {
            match run.as_mut().poll(cx) {
                Poll::Ready(result) => {
                    this.run = None;
                    match result {
                        Ok(output) => this.output = Some(output),
                        Err(error) => this.error = Some(error),
                    }
                }
                Poll::Pending => {
                    return match this.rx.poll_recv(cx) {
                        Poll::Ready(Some(event)) => Poll::Ready(Some(Ok(event.into_typed()))),
                        _ => Poll::Pending,
                    };
                }
            }
        }
        if let Ok(event) = this.rx.try_recv() {
            return Poll::Ready(Some(Ok(event.into_typed())));
        }
        Poll::Ready(this.error.take().map(Err))
    }
}

impl<S: State> fmt::Debug for EventStream<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EventStream")
            .field("running", &self.run.is_some())
            .finish_non_exhaustive()
    }
}
