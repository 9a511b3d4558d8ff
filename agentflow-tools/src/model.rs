//! Chat models: the [`ChatModel`] trait (answers, optionally streamed token by token), what a
//! call used and cost ([`Usage`], [`Cost`], [`PriceTable`]), and the deterministic
//! [`ScriptedModel`].

use std::collections::BTreeMap;
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

/// Tokens used by model calls: the two counters every provider reports. Cache reads and the
/// money spent are in [`ChatResponse::cached_input_tokens`] and [`Cost`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Usage {
    /// Prompt tokens (cached ones included).
    pub input_tokens: u64,
    /// Completion tokens (reasoning included).
    pub output_tokens: u64,
}

impl Usage {
    /// Adds `other` to `self` (a merge rule: `#[state(reducer = Usage::accumulate)]`).
    pub fn accumulate(total: &mut Usage, other: Usage) {
        total.input_tokens = total.input_tokens.saturating_add(other.input_tokens);
        total.output_tokens = total.output_tokens.saturating_add(other.output_tokens);
    }

    /// Input plus output tokens.
    pub fn total_tokens(&self) -> u64 {
        self.input_tokens.saturating_add(self.output_tokens)
    }
}

/// Money spent on model calls, in billionths of a US dollar so that sums are exact (a price
/// per million tokens with up to three decimals is a whole number of nano-dollars per token).
///
/// ```
/// use agentflow_tools::Cost;
///
/// let mut total = Cost::from_usd(0.000_15);
/// Cost::accumulate(&mut total, Cost::from_usd(0.000_25));
/// Cost::accumulate(&mut total, Cost::unpriced());
/// assert_eq!(total.nano_usd, 400_000);
/// assert_eq!(total.usd(), 0.0004);
/// assert_eq!(total.unpriced_calls, 1);
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cost {
    /// The cost of the priced calls, in nano-USD (1e-9 USD).
    pub nano_usd: u64,
    /// Calls whose price was unknown: their tokens are in [`Usage`], their cost is not here,
    /// so a non-zero count means `nano_usd` is a lower bound.
    pub unpriced_calls: u64,
}

impl Cost {
    /// A priced call that cost `usd` dollars (rounded to the nano-dollar; negative or NaN
    /// amounts count as zero).
    pub fn from_usd(usd: f64) -> Cost {
        Cost {
            nano_usd: usd_to_nanos(usd),
            unpriced_calls: 0,
        }
    }

    /// One call whose price is unknown.
    pub fn unpriced() -> Cost {
        Cost {
            nano_usd: 0,
            unpriced_calls: 1,
        }
    }

    /// The cost in US dollars.
    pub fn usd(&self) -> f64 {
        self.nano_usd as f64 / 1e9
    }

    /// Adds `other` to `total` (a merge rule: `#[state(reducer = Cost::accumulate)]`).
    pub fn accumulate(total: &mut Cost, other: Cost) {
        total.nano_usd = total.nano_usd.saturating_add(other.nano_usd);
        total.unpriced_calls = total.unpriced_calls.saturating_add(other.unpriced_calls);
    }
}

/// Rounds dollars to nano-dollars; `as` saturates and maps NaN to 0, which is what we want for
/// prices that are misconfigured rather than a panic.
fn usd_to_nanos(usd: f64) -> u64 {
    (usd.max(0.0) * 1e9).round() as u64
}

/// The prices of one model, in US dollars per million tokens.
///
/// ```
/// use agentflow_tools::{Price, Usage};
///
/// let price = Price::per_million(0.15, 0.60).with_cached_input(0.075);
/// let usage = Usage { input_tokens: 1_000, output_tokens: 100 };
/// // 800 uncached input tokens, 200 cached ones, 100 output tokens.
/// let cost = price.cost(&usage, 200);
/// assert_eq!(cost.nano_usd, 800 * 150 + 200 * 75 + 100 * 600);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Price {
    /// Uncached input tokens (cache writes are charged at this price too).
    pub input: f64,
    /// Output tokens, reasoning included.
    pub output: f64,
    /// Input tokens read from the provider's prompt cache; `None` charges them as `input`.
    #[serde(default)]
    pub cached_input: Option<f64>,
}

impl Price {
    /// Input and output prices in USD per million tokens.
    pub fn per_million(input: f64, output: f64) -> Self {
        Price {
            input,
            output,
            cached_input: None,
        }
    }

    /// The same prices, with cache reads at `cached_input` USD per million tokens.
    pub fn with_cached_input(mut self, cached_input: f64) -> Self {
        self.cached_input = Some(cached_input);
        self
    }

    /// What a call that used `usage`, `cached_input_tokens` of whose input came from the cache,
    /// costs at these prices.
    pub fn cost(&self, usage: &Usage, cached_input_tokens: u64) -> Cost {
        let cached = cached_input_tokens.min(usage.input_tokens);
        let uncached = usage.input_tokens - cached;
        // A price per million tokens is that many thousand nano-dollars per token.
        let nanos = |tokens: u64, per_million: f64| tokens as f64 * per_million.max(0.0) * 1_000.0;
        let total = nanos(uncached, self.input)
            + nanos(cached, self.cached_input.unwrap_or(self.input))
            + nanos(usage.output_tokens, self.output);
        Cost {
            nano_usd: total.round() as u64,
            unpriced_calls: 0,
        }
    }
}

/// Prices per model, used to put a [`Cost`] on every model call of the ReAct agent.
///
/// A call is priced, in this order: with the price configured here for its model (by the
/// `provider/model` name a [`ChatResponse`] reports, or the bare model name); with the cost the
/// model reported ([`ChatResponse::cost_usd`], which rig fills from the provider's figure or
/// its built-in catalog); with rig's built-in catalog (`rig_core::catalog::Catalog::builtin()`,
/// only with the `rig` feature, and not for Ollama, whose servers are usually local); otherwise
/// it counts as unpriced.
///
/// Catalog prices are standard-tier list prices: they leave out service tiers, long-context
/// tiers and hosted-tool fees, so they can be lower than the bill.
///
/// ```
/// use agentflow_tools::{ChatResponse, Message, Price, PriceTable, Usage};
///
/// let prices = PriceTable::new().with_price("my-model", Price::per_million(1.0, 2.0));
/// let usage = Usage { input_tokens: 1_000_000, output_tokens: 500_000 };
/// let response = ChatResponse::new(Message::assistant("hi"), usage).with_model("openai/my-model");
/// assert_eq!(prices.cost(&response).usd(), 2.0);
///
/// let unknown = ChatResponse::new(Message::assistant("hi"), usage).with_model("local/other");
/// assert_eq!(prices.cost(&unknown).unpriced_calls, 1);
/// ```
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PriceTable {
    /// Prices by model: `provider/model` (as in [`ChatResponse::model`]) or a bare model name.
    #[serde(default)]
    pub prices: BTreeMap<String, Price>,
    /// Whether to fall back to rig's built-in catalog (needs the `rig` feature; on by default).
    #[serde(default = "yes")]
    pub use_catalog: bool,
}

fn yes() -> bool {
    true
}

impl Default for PriceTable {
    fn default() -> Self {
        PriceTable::new()
    }
}

/// Vendors whose catalog prices do not describe what a call costs: an Ollama server is usually
/// local (the catalog's prices are Ollama Cloud's), ChatGPT and Copilot bill subscriptions. rig
/// leaves them unpriced for the same reason.
#[cfg(feature = "rig")]
const UNPRICED_VENDORS: [&str; 3] = ["ollama", "chatgpt", "copilot"];

impl PriceTable {
    /// No configured prices; the built-in catalog as the fallback.
    pub fn new() -> Self {
        PriceTable {
            prices: BTreeMap::new(),
            use_catalog: true,
        }
    }

    /// The same table, without the catalog fallback (unknown models stay unpriced).
    pub fn without_catalog(mut self) -> Self {
        self.use_catalog = false;
        self
    }

    /// The same table, with `price` for `model` (`provider/model` or a bare model name).
    pub fn with_price(mut self, model: impl Into<String>, price: Price) -> Self {
        self.prices.insert(model.into(), price);
        self
    }

    /// The price configured for `model`: by its full name, then by the part after the
    /// provider (`openai/gpt-4o` finds `gpt-4o`).
    pub fn configured(&self, model: &str) -> Option<Price> {
        self.prices
            .get(model)
            .or_else(|| model.split_once('/').and_then(|(_, bare)| self.prices.get(bare)))
            .copied()
    }

    /// The price rig's built-in catalog lists for `provider/model`, if any.
    #[cfg(feature = "rig")]
    pub fn catalog_price(model: &str) -> Option<Price> {
        let (vendor, _) = model.split_once('/')?;
        if UNPRICED_VENDORS.contains(&vendor) {
            return None;
        }
        let pricing = rig_core::catalog::Catalog::builtin().resolve(model)?.pricing?;
        Some(Price {
            input: pricing.input,
            output: pricing.output,
            cached_input: pricing.cache_read,
        })
    }

    fn catalog(&self, model: &str) -> Option<Price> {
        #[cfg(feature = "rig")]
        if self.use_catalog {
            return Self::catalog_price(model);
        }
        let _ = model;
        None
    }

    /// The cost of the call that produced `response` (see the type's documentation for the
    /// order of the sources).
    pub fn cost(&self, response: &ChatResponse) -> Cost {
        let model = response.model.as_deref();
        if let Some(price) = model.and_then(|m| self.configured(m)) {
            return price.cost(&response.usage, response.cached_input_tokens);
        }
        if let Some(usd) = response.cost_usd {
            return Cost::from_usd(usd);
        }
        match model.and_then(|m| self.catalog(m)) {
            Some(price) => price.cost(&response.usage, response.cached_input_tokens),
            None => Cost::unpriced(),
        }
    }
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

    /// Reports `name` (`provider/model`) as the answering model, so a [`PriceTable`] can
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn price_table_prefers_configured_then_reported_then_unpriced() {
        let usage = Usage {
            input_tokens: 2_000,
            output_tokens: 1_000,
        };
        let table = PriceTable::new()
            .without_catalog()
            .with_price("acme/big", Price::per_million(3.0, 15.0));
        let configured = ChatResponse::new(Message::assistant(""), usage)
            .with_model("acme/big")
            .with_cost_usd(99.0);
        assert_eq!(table.cost(&configured).nano_usd, 2_000 * 3_000 + 1_000 * 15_000);
        let reported = ChatResponse::new(Message::assistant(""), usage)
            .with_model("acme/small")
            .with_cost_usd(0.25);
        assert_eq!(table.cost(&reported), Cost::from_usd(0.25));
        let anonymous = ChatResponse::new(Message::assistant(""), usage);
        assert_eq!(table.cost(&anonymous), Cost::unpriced());
    }

    #[test]
    fn cached_tokens_never_exceed_input() {
        let usage = Usage {
            input_tokens: 10,
            output_tokens: 0,
        };
        let cost = Price::per_million(1.0, 1.0)
            .with_cached_input(0.5)
            .cost(&usage, 50);
        assert_eq!(cost.nano_usd, 10 * 500);
        assert_eq!(Cost::from_usd(f64::NAN), Cost::default());
        assert_eq!(Cost::from_usd(-1.0), Cost::default());
    }

    #[test]
    fn price_table_reads_from_json() {
        let table: PriceTable = serde_json::from_value(serde_json::json!({
            "prices": {"gpt-4o-mini": {"input": 0.15, "output": 0.6, "cached_input": 0.075}}
        }))
        .unwrap();
        assert!(table.use_catalog);
        assert_eq!(
            table.configured("openai/gpt-4o-mini"),
            Some(Price::per_million(0.15, 0.6).with_cached_input(0.075))
        );
    }

    #[cfg(feature = "rig")]
    #[test]
    fn catalog_prices_known_models_but_not_ollama() {
        assert!(PriceTable::catalog_price("anthropic/claude-haiku-4-5").is_some());
        assert!(PriceTable::catalog_price("ollama/qwen3").is_none());
        assert!(PriceTable::catalog_price("no-vendor").is_none());
    }
}
