//! [`RigChatModel`]: a [`ChatModel`] over a rig-core completion model.

use std::fmt;
use std::time::Duration;

use futures::StreamExt;
use rig_core::DynModel;
use rig_core::operation::Completion;
use rig_core::providers::anthropic::AnthropicConfig;
use rig_core::providers::ollama::OllamaConfig;
use rig_core::providers::openai::OpenAIConfig;
use rig_core::streaming::{Item, StreamEvent};

use crate::model::{ChatModel, ChatRequest, ChatResponse, ModelError, TokenChunk};
use crate::rig::config::{ConfigError, DEFAULT_TIMEOUT, ModelConfig, Provider};
use crate::rig::convert::{Sampling, from_rig_response, to_rig_request};
use crate::rig::error::{model_error, timed_out};

/// `max_tokens` for Anthropic models rig has no default for (the API requires the field).
const ANTHROPIC_DEFAULT_MAX_TOKENS: u64 = 4_096;

/// A chat model reached through rig-core: OpenAI Chat Completions (and compatible servers),
/// Anthropic Messages or Ollama, chosen by a [`ModelConfig`].
///
/// - [`chat`](ChatModel::chat) sends one request and reads the whole answer;
///   [`chat_stream`](ChatModel::chat_stream) streams it (SSE or NDJSON) and hands each text
///   delta over as it arrives.
/// - Usage comes from the provider (with the cache reads), and the cost rig knows (the
///   provider's figure or its catalog's price) is reported in [`ChatResponse::cost_usd`].
/// - Failures are classified for the agent's retry loop (rig itself never retries): 408, 429
///   (with `Retry-After`), 5xx, timeouts and dropped connections are retryable; other 4xx and
///   malformed replies are terminal.
///
/// ```no_run
/// use agentflow_tools::rig::{ModelConfig, Provider, RigChatModel};
/// use agentflow_tools::{ChatModel, ChatRequest, Message};
///
/// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
/// let model = RigChatModel::from_config(
///     &ModelConfig::new(Provider::OpenAiCompatible, "gpt-4o-mini").with_api_key_env("OPENAI_API_KEY"),
/// )?;
/// let request = ChatRequest { messages: vec![Message::user("Say hi")], ..Default::default() };
/// let answer = model.chat_stream(&request, &mut |chunk| print!("{}", chunk.text)).await?;
/// println!("\n{} tokens in, {} out", answer.usage.input_tokens, answer.usage.output_tokens);
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct RigChatModel {
    model: DynModel<Completion>,
    provider: String,
    name: String,
    sampling: Sampling,
    timeout: Duration,
}

impl fmt::Debug for RigChatModel {
    // The rig model holds the credential; show only what identifies the model.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RigChatModel")
            .field("provider", &self.provider)
            .field("model", &self.name)
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

impl RigChatModel {
    /// The model `config` describes, on rig's shared HTTP client. OpenAI-compatible providers
    /// are driven through Chat Completions (`.chat(model)`): rig's `.completion(model)` would
    /// use OpenAI's Responses API, which compatible servers do not have.
    pub fn from_config(config: &ModelConfig) -> Result<Self, ConfigError> {
        config.validate()?;
        let key = config.resolve_api_key()?;
        let name = config.model.clone();
        let model: DynModel<Completion> = match config.provider {
            Provider::OpenAiCompatible => {
                let mut provider = OpenAIConfig::new(key.expose());
                if let Some(base_url) = &config.base_url {
                    provider = provider.with_base_url(base_url.trim_end_matches('/'));
                }
                provider.client().chat(name.clone()).erase()
            }
            Provider::Anthropic => {
                let mut provider = AnthropicConfig::new(key.expose());
                if let Some(base_url) = &config.base_url {
                    provider = provider.with_base_url(base_url);
                }
                let mut model = provider.client().completion(name.clone());
                if model.wire.default_max_tokens.is_none() {
                    model.wire = model.wire.with_default_max_tokens(ANTHROPIC_DEFAULT_MAX_TOKENS);
                }
                model.erase()
            }
            Provider::Ollama => {
                let mut provider = OllamaConfig::new();
                if let Some(base_url) = &config.base_url {
                    provider = provider.with_base_url(base_url);
                }
                if !key.expose().is_empty() {
                    provider = provider.with_api_key(key.expose());
                }
                provider.client().native_completion(name.clone()).erase()
            }
        };
        Ok(Self::from_rig(model)
            .with_sampling(config.temperature, config.max_tokens)
            .with_timeout(config.timeout.unwrap_or(DEFAULT_TIMEOUT)))
    }

    /// A model over any rig completion model: another of rig's providers, a custom transport,
    /// rig's test mocks. The default timeout applies; no sampling settings are sent.
    pub fn from_rig(model: impl Into<DynModel<Completion>>) -> Self {
        let model = model.into();
        RigChatModel {
            provider: model.name().to_owned(),
            name: model.id().unwrap_or_default().to_owned(),
            model,
            sampling: Sampling::default(),
            timeout: DEFAULT_TIMEOUT,
        }
    }

    /// The same model, sending `temperature` and `max_tokens` with every request.
    pub fn with_sampling(mut self, temperature: Option<f64>, max_tokens: Option<u64>) -> Self {
        self.sampling = Sampling {
            temperature,
            max_tokens,
        };
        self
    }

    /// The same model, failing (as retryable) calls that take longer than `timeout` in all.
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// The provider's name, as rig gives it (`openai`, `anthropic`, `ollama`, ...).
    pub fn provider(&self) -> &str {
        &self.provider
    }

    /// The model's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    async fn call(&self, request: &ChatRequest) -> Result<ChatResponse, ModelError> {
        let rig_request = to_rig_request(request, self.sampling)?;
        let response = self
            .model
            .call(rig_request)
            .await
            .map_err(|e| model_error(self.provider(), &e))?;
        from_rig_response(self.provider(), &response)
    }

    async fn stream(
        &self,
        request: &ChatRequest,
        on_token: &mut (dyn FnMut(TokenChunk) + Send),
    ) -> Result<ChatResponse, ModelError> {
        let provider = self.provider();
        let rig_request = to_rig_request(request, self.sampling)?;
        let mut stream = self
            .model
            .stream(rig_request)
            .map_err(|e| model_error(provider, &e))?;
        while let Some(item) = stream.next().await {
            match item {
                Ok(Item::Event(StreamEvent::Text { text, .. })) if !text.is_empty() => {
                    on_token(TokenChunk::new(text));
                }
                // Tool-call arguments, reasoning and part boundaries are folded into the
                // final response by rig; only answer text is streamed to listeners.
                Ok(_) => {}
                Err(e) => return Err(model_error(provider, &e)),
            }
        }
        let response = stream.finish().await.map_err(|e| model_error(provider, &e))?;
        from_rig_response(provider, &response)
    }
}

#[async_trait::async_trait]
impl ChatModel for RigChatModel {
    async fn chat(&self, request: &ChatRequest) -> Result<ChatResponse, ModelError> {
        tokio::time::timeout(self.timeout, self.call(request))
            .await
            .unwrap_or_else(|_| Err(timed_out(self.provider(), self.timeout)))
    }

    async fn chat_stream(
        &self,
        request: &ChatRequest,
        on_token: &mut (dyn FnMut(TokenChunk) + Send),
    ) -> Result<ChatResponse, ModelError> {
        tokio::time::timeout(self.timeout, self.stream(request, on_token))
            .await
            .unwrap_or_else(|_| Err(timed_out(self.provider(), self.timeout)))
    }
}
