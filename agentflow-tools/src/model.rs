//! Chat models: the [`ChatModel`] trait and the deterministic [`ScriptedModel`].

use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::message::Message;
use crate::tool::ToolSpec;

/// What a model is asked: the conversation and the tools it may call.
#[derive(Clone, Debug, Default)]
pub struct ChatRequest {
    /// The conversation so far.
    pub messages: Vec<Message>,
    /// The tools the model may call.
    pub tools: Vec<ToolSpec>,
}

/// Tokens used by model calls.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Usage {
    /// Prompt tokens.
    pub input_tokens: u64,
    /// Completion tokens.
    pub output_tokens: u64,
}

impl Usage {
    /// Adds `other` to `self` (a merge rule: `#[state(reducer = Usage::accumulate)]`).
    pub fn accumulate(total: &mut Usage, other: Usage) {
        total.input_tokens += other.input_tokens;
        total.output_tokens += other.output_tokens;
    }
}

/// What a model answered.
#[derive(Clone, Debug)]
pub struct ChatResponse {
    /// The answer: an [`Message::Assistant`].
    pub message: Message,
    /// Tokens used.
    pub usage: Usage,
}

/// Why a model call failed.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum ModelError {
    /// A transient failure (rate limit, overload, network): the agent retries it, after
    /// `retry_after` when the provider says how long to wait.
    #[error("model call failed (retryable): {message}")]
    Retryable {
        /// What went wrong.
        message: String,
        /// How long the provider asked to wait.
        retry_after: Option<Duration>,
    },
    /// A permanent failure (bad request, authentication, content policy).
    #[error("model call failed: {0}")]
    Terminal(String),
}

impl ModelError {
    /// True for [`ModelError::Retryable`].
    pub fn is_retryable(&self) -> bool {
        matches!(self, ModelError::Retryable { .. })
    }
}

/// A chat model that can call tools.
///
/// ```
/// use agentflow_tools::{ChatModel, ChatRequest, ChatResponse, Message, ModelError, Usage};
///
/// struct Echo;
///
/// #[async_trait::async_trait]
/// impl ChatModel for Echo {
///     async fn chat(&self, request: &ChatRequest) -> Result<ChatResponse, ModelError> {
///         let last = request.messages.last().map(|m| m.content().to_owned()).unwrap_or_default();
///         Ok(ChatResponse { message: Message::assistant(last), usage: Usage::default() })
///     }
/// }
/// ```
#[async_trait::async_trait]
pub trait ChatModel: Send + Sync + 'static {
    /// Answers the conversation (taken by reference, so that a retry can send it again).
    async fn chat(&self, request: &ChatRequest) -> Result<ChatResponse, ModelError>;
}

/// A model that returns scripted answers in order, whatever it is asked, and starts over after
/// the last one (as LangGraph's fake chat models do). Deterministic; for tests and benchmarks.
///
/// ```
/// use agentflow_tools::{ChatModel, ChatRequest, Message, ScriptedModel};
///
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// let model = ScriptedModel::new([Message::assistant("one"), Message::assistant("two")]);
/// let first = model.chat(&ChatRequest::default()).await.unwrap();
/// assert_eq!(first.message.content(), "one");
/// assert_eq!(model.calls(), 1);
/// # });
/// ```
pub struct ScriptedModel {
    script: Vec<Result<Message, ModelError>>,
    next: AtomicUsize,
    usage: Usage,
    requests: Option<Mutex<Vec<ChatRequest>>>,
}

impl ScriptedModel {
    /// A model answering `messages` in order (each should be an assistant message).
    pub fn new(messages: impl IntoIterator<Item = Message>) -> Self {
        Self::from_results(messages.into_iter().map(Ok))
    }

    /// A model whose script may include failures.
    pub fn from_results(script: impl IntoIterator<Item = Result<Message, ModelError>>) -> Self {
        ScriptedModel {
            script: script.into_iter().collect(),
            next: AtomicUsize::new(0),
            usage: Usage::default(),
            requests: None,
        }
    }

    /// Reports `usage` for every answer.
    pub fn with_usage(mut self, usage: Usage) -> Self {
        self.usage = usage;
        self
    }

    /// Keeps a copy of every request (see [`requests`](Self::requests)).
    pub fn recording(mut self) -> Self {
        self.requests = Some(Mutex::new(Vec::new()));
        self
    }

    /// How many times the model was called.
    pub fn calls(&self) -> usize {
        self.next.load(Ordering::Relaxed)
    }

    /// The recorded requests (empty unless built with [`recording`](Self::recording)).
    pub fn requests(&self) -> Vec<ChatRequest> {
        self.requests
            .as_ref()
            .and_then(|r| r.lock().ok().map(|r| r.clone()))
            .unwrap_or_default()
    }
}

#[async_trait::async_trait]
impl ChatModel for ScriptedModel {
    async fn chat(&self, request: &ChatRequest) -> Result<ChatResponse, ModelError> {
        if self.script.is_empty() {
            return Err(ModelError::Terminal(
                "the scripted model has an empty script".into(),
            ));
        }
        if let Some(requests) = &self.requests
            && let Ok(mut requests) = requests.lock()
        {
            requests.push(request.clone());
        }
        let index = self.next.fetch_add(1, Ordering::Relaxed) % self.script.len();
        let message = self.script[index].clone()?;
        Ok(ChatResponse {
            message,
            usage: self.usage,
        })
    }
}
