//! [`ScriptedModel`]: a deterministic chat model for tests and benchmarks.

use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use super::{ChatModel, ChatRequest, ChatResponse, ModelError, TokenChunk, Usage};
use crate::message::Message;

/// A model that returns scripted answers in order, whatever it is asked, and starts over after
/// the last one (as LangGraph's fake chat models do). Deterministic; for tests and benchmarks.
/// Streamed, it emits its answers word by word.
///
/// ```
/// use agentflow_tools::{ChatModel, ChatRequest, Message, ScriptedModel};
///
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// let model = ScriptedModel::new([Message::assistant("one two"), Message::assistant("three")]);
/// let first = model.chat(&ChatRequest::default()).await.unwrap();
/// assert_eq!(first.message.content(), "one two");
/// let mut chunks = Vec::new();
/// model.chat_stream(&ChatRequest::default(), &mut |c| chunks.push(c.text)).await.unwrap();
/// assert_eq!(chunks, ["three"]);
/// assert_eq!(model.calls(), 2);
/// # });
/// ```
pub struct ScriptedModel {
    script: Vec<Result<Message, ModelError>>,
    next: AtomicUsize,
    usage: Usage,
    model_name: Option<String>,
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
            model_name: None,
            requests: None,
        }
    }

    /// Reports `usage` for every answer.
    pub fn with_usage(mut self, usage: Usage) -> Self {
        self.usage = usage;
        self
    }

    /// Reports `name` (`provider/model`) as the answering model, so a [`PriceTable`](super::PriceTable) can
    /// price the answers.
    pub fn with_model_name(mut self, name: impl Into<String>) -> Self {
        self.model_name = Some(name.into());
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

    fn answer(&self, request: &ChatRequest) -> Result<ChatResponse, ModelError> {
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
        let response = ChatResponse::new(message, self.usage);
        Ok(match &self.model_name {
            Some(name) => response.with_model(name.clone()),
            None => response,
        })
    }
}

#[async_trait::async_trait]
impl ChatModel for ScriptedModel {
    async fn chat(&self, request: &ChatRequest) -> Result<ChatResponse, ModelError> {
        self.answer(request)
    }

    async fn chat_stream(
        &self,
        request: &ChatRequest,
        on_token: &mut (dyn FnMut(TokenChunk) + Send),
    ) -> Result<ChatResponse, ModelError> {
        let response = self.answer(request)?;
        // Each word keeps its trailing whitespace, so the chunks join back into the text.
        for word in response.message.content().split_inclusive(char::is_whitespace) {
            on_token(TokenChunk::new(word));
        }
        Ok(response)
    }
}
