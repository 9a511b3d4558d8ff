//! Chat models: the [`ChatModel`] trait (answers, optionally streamed token by token), what a
//! call used and cost ([`Usage`], [`Cost`], [`PriceTable`]), and the deterministic
//! [`ScriptedModel`].

mod cost;
mod prices;
mod scripted;

use std::time::Duration;

use agentflow_core::{ErrorClass, Failure};

use crate::message::Message;
use crate::tool::ToolSpec;

pub use cost::{Cost, Price, Usage};
pub use prices::PriceTable;
pub use scripted::ScriptedModel;

/// What a model is asked: the conversation and the tools it may call.
#[derive(Clone, Debug, Default)]
pub struct ChatRequest {
    /// The conversation so far.
    pub messages: Vec<Message>,
    /// The tools the model may call.
    pub tools: Vec<ToolSpec>,
}

/// What a model answered.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct ChatResponse {
    /// The answer: an [`Message::Assistant`].
    pub message: Message,
    /// Tokens used.
    pub usage: Usage,
    /// The part of `usage.input_tokens` read from the provider's prompt cache (0 when not
    /// reported).
    pub cached_input_tokens: u64,
    /// The model that answered, as `provider/model` when the provider is known (for pricing
    /// and stream metadata).
    pub model: Option<String>,
    /// What the call cost in USD, when the model knows (a provider's own figure, or rig's
    /// catalog price).
    pub cost_usd: Option<f64>,
}

impl ChatResponse {
    /// An answer that used `usage`, with nothing else reported.
    pub fn new(message: Message, usage: Usage) -> Self {
        ChatResponse {
            message,
            usage,
            cached_input_tokens: 0,
            model: None,
            cost_usd: None,
        }
    }

    /// The same answer, reported as coming from `model` (`provider/model`).
    pub fn with_model(mut self, model: impl Into<String>) -> Self {
        self.model = Some(model.into());
        self
    }

    /// The same answer, `tokens` of whose input came from the prompt cache.
    pub fn with_cached_input_tokens(mut self, tokens: u64) -> Self {
        self.cached_input_tokens = tokens;
        self
    }

    /// The same answer, with the cost the provider reported.
    pub fn with_cost_usd(mut self, usd: f64) -> Self {
        self.cost_usd = Some(usd);
        self
    }
}

/// A piece of an answer's text, as a streaming model produces it. The pieces of one answer,
/// joined, are its text.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct TokenChunk {
    /// The text of this piece.
    pub text: String,
}

impl TokenChunk {
    /// A piece of text.
    pub fn new(text: impl Into<String>) -> Self {
        TokenChunk { text: text.into() }
    }
}

/// Why a model call failed, in the one classification of failures (see the [`Failure`] impl):
/// a model call has no side effects, so none is ambiguous.
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

impl Failure for ModelError {
    fn class(&self) -> ErrorClass {
        match self {
            ModelError::Retryable { .. } => ErrorClass::Retryable,
            ModelError::Terminal(_) => ErrorClass::Terminal,
        }
    }

    fn retry_after(&self) -> Option<Duration> {
        match self {
            ModelError::Retryable { retry_after, .. } => *retry_after,
            ModelError::Terminal(_) => None,
        }
    }

    fn error(&self) -> &(dyn std::error::Error + 'static) {
        self
    }
}

/// A chat model that can call tools.
///
/// Only [`chat`](Self::chat) is required. [`chat_stream`](Self::chat_stream) streams the
/// answer's text as it is generated; its default calls `chat` and hands over the whole text
/// as one chunk, so every model can be used where streaming is asked for.
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
///         Ok(ChatResponse::new(Message::assistant(last), Usage::default()))
///     }
/// }
///
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// let request = ChatRequest { messages: vec![Message::user("hi")], ..Default::default() };
/// let mut chunks = Vec::new();
/// let response = Echo.chat_stream(&request, &mut |chunk| chunks.push(chunk.text)).await.unwrap();
/// assert_eq!(chunks, ["hi"]);
/// assert_eq!(response.message.content(), "hi");
/// # });
/// ```
#[async_trait::async_trait]
pub trait ChatModel: Send + Sync + 'static {
    /// Answers the conversation (taken by reference, so that a retry can send it again).
    async fn chat(&self, request: &ChatRequest) -> Result<ChatResponse, ModelError>;

    /// Answers the conversation, calling `on_token` with each piece of the answer's text as it
    /// arrives; the pieces joined are the returned message's text. A failed call may already
    /// have emitted pieces.
    async fn chat_stream(
        &self,
        request: &ChatRequest,
        on_token: &mut (dyn FnMut(TokenChunk) + Send),
    ) -> Result<ChatResponse, ModelError> {
        let response = self.chat(request).await?;
        let text = response.message.content();
        if !text.is_empty() {
            on_token(TokenChunk::new(text));
        }
        Ok(response)
    }
}
