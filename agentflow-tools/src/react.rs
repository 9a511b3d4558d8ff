//! The prebuilt ReAct agent (LangGraph's `create_react_agent`, version "v2").

use std::sync::Arc;
use std::time::Duration;

use agentflow_core::{
    BuildError, CancellationToken, CompiledGraph, Context, END, Failure, MessageChunk, NodeError,
    RetryPolicy, Route, START, Send, StateGraph, StreamMode, StreamWriter,
};
use serde::{Deserialize, Serialize};

use crate::agent_state::{AgentState, AgentStateUpdate};
use crate::message::{Message, ToolCall, new_id};
use crate::model::{ChatModel, ChatRequest, ChatResponse, Cost, ModelError, PriceTable, TokenChunk};
use crate::tool::ToolRegistry;
use crate::tool_node::{ToolNode, ToolNodeOptions};

/// The payload of the `Send` that runs one tool call in the `tools` node.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ToolInvocation {
    /// The call.
    pub call: ToolCall,
}

/// How [`react_agent`] builds the agent.
#[derive(Clone, Debug)]
pub struct ReactOptions {
    /// A system message put before the conversation on every model call (not stored in the
    /// state).
    pub system_prompt: Option<String>,
    /// How tool calls run (timeouts, retries, circuit breakers).
    pub tools: ToolNodeOptions,
    /// How a model call that fails with a retryable [`ModelError`] is retried: attempts, the
    /// wait when the provider gives no `retry_after`, and how long a provider's `retry_after`
    /// (`Retry-After`, `retry-after-ms`) is honoured for (the same policy type as tool and
    /// node retries). The wait ends early when the run is cancelled.
    pub model_retry: RetryPolicy,
    /// How model calls are priced into [`AgentState::cost`].
    pub prices: PriceTable,
    /// The most tokens (input + output, [`AgentState::usage`]) the thread may use: once
    /// reached, the next model call fails the run with [`BudgetExceeded`].
    pub max_total_tokens: Option<u64>,
    /// The most USD ([`AgentState::cost`]) the thread may spend: once reached, the next model
    /// call fails the run with [`BudgetExceeded`]. Unpriced calls count as free.
    pub max_cost_usd: Option<f64>,
}

impl Default for ReactOptions {
    /// No system prompt, default tool options, [`ReactOptions::default_model_retry`], catalog
    /// prices, no budget.
    fn default() -> Self {
        ReactOptions {
            system_prompt: None,
            tools: ToolNodeOptions::default(),
            model_retry: ReactOptions::default_model_retry(),
            prices: PriceTable::default(),
            max_total_tokens: None,
            max_cost_usd: None,
        }
    }
}

impl ReactOptions {
    /// The default retry policy of model calls: 3 attempts 1 s apart, no jitter, a provider's
    /// `Retry-After` honoured up to 60 s.
    pub fn default_model_retry() -> RetryPolicy {
        RetryPolicy::default()
            .initial_interval(Duration::from_secs(1))
            .backoff_factor(1.0)
            .jitter(false)
    }
}

/// The agent's budget ([`ReactOptions::max_total_tokens`], [`ReactOptions::max_cost_usd`]) is
/// spent; the `agent` node fails with this terminal error instead of calling the model again.
/// Find it with `NodeError::downcast_ref` or in the `source` of `GraphError::Node`.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum BudgetExceeded {
    /// The token budget is spent.
    #[error("token budget exceeded: the thread used {used} tokens of the {limit} allowed")]
    Tokens {
        /// Tokens used so far.
        used: u64,
        /// The budget.
        limit: u64,
    },
    /// The cost budget is spent.
    #[error("cost budget exceeded: the thread spent ${used_usd:.6} of the ${limit_usd:.6} allowed")]
    Cost {
        /// USD spent so far.
        used_usd: f64,
        /// The budget.
        limit_usd: f64,
    },
}

/// The budget error if `state` has reached `max_tokens` or `max_usd`.
fn check_budget(
    state: &AgentState,
    max_tokens: Option<u64>,
    max_usd: Option<f64>,
) -> Result<(), BudgetExceeded> {
    let used = state.usage.total_tokens();
    if let Some(limit) = max_tokens
        && used >= limit
    {
        return Err(BudgetExceeded::Tokens { used, limit });
    }
    let used_usd = state.cost.usd();
    if let Some(limit_usd) = max_usd
        && used_usd >= limit_usd
    {
        return Err(BudgetExceeded::Cost { used_usd, limit_usd });
    }
    Ok(())
}

/// Where a streamed attempt goes: the run's writer, under the attempt's own message id (the
/// stored message takes the id of the attempt that succeeded).
struct TokenSink<'a> {
    writer: &'a StreamWriter,
    message_id: String,
}

impl TokenSink<'_> {
    fn chunk(&self, content: String, metadata: serde_json::Value) {
        self.writer.message(MessageChunk {
            message_id: Some(self.message_id.clone()),
            content,
            metadata,
        });
    }

    /// The closing chunk of a successful attempt: no text, the call's model, usage, cost and
    /// tool calls as metadata.
    fn finish(&self, response: &ChatResponse, cost: &Cost) {
        let metadata = serde_json::json!({
            "finished": true,
            "model": response.model,
            "usage": response.usage,
            "cached_input_tokens": response.cached_input_tokens,
            "cost_usd": (cost.unpriced_calls == 0).then(|| cost.usd()),
            "tool_calls": response.message.tool_calls(),
        });
        self.chunk(String::new(), metadata);
    }

    /// The closing chunk of a failed attempt, so that listeners drop what it streamed.
    fn fail(&self, error: &ModelError) {
        let metadata = serde_json::json!({
            "finished": true,
            "error": error.to_string(),
            "retryable": error.is_retryable(),
        });
        self.chunk(String::new(), metadata);
    }
}

/// Calls the model, retrying retryable errors (honouring `retry_after` up to the cap, and
/// giving up at once when `cancellation` fires during a wait). With a `writer`, each attempt
/// streams under a fresh message id, returned with the answer.
async fn call_model<'w>(
    model: &dyn ChatModel,
    request: &ChatRequest,
    retry: &RetryPolicy,
    cancellation: &CancellationToken,
    writer: Option<&'w StreamWriter>,
) -> Result<(ChatResponse, Option<TokenSink<'w>>), NodeError> {
    let mut attempt = 0;
    loop {
        attempt += 1;
        let sink = writer.map(|writer| TokenSink {
            writer,
            message_id: new_id(),
        });
        let result = match &sink {
            Some(sink) => {
                let mut on_token = |chunk: TokenChunk| sink.chunk(chunk.text, serde_json::json!({}));
                let result = model.chat_stream(request, &mut on_token).await;
                if let Err(error) = &result {
                    sink.fail(error);
                }
                result
            }
            None => model.chat(request).await,
        };
        match result {
            Ok(response) => return Ok((response, sink)),
            Err(error) if retry.should_retry(attempt, &error) => {
                tracing::debug!(attempt, "retrying model call: {error}");
                if !retry.wait(attempt, &error, cancellation).await {
                    return Err(NodeError::from_failure(cancelled_while_waiting(error)));
                }
            }
            Err(error) => return Err(NodeError::from_failure(error)),
        }
    }
}

/// A retryable model error, noted as given up because the run was cancelled during the wait.
fn cancelled_while_waiting(error: ModelError) -> ModelError {
    match error {
        ModelError::Retryable { message, retry_after } => ModelError::Retryable {
            message: format!("{message} (cancelled while waiting to retry)"),
            retry_after,
        },
        other => other,
    }
}

/// The tool calls of the last message, if it is an assistant message with some.
fn pending_calls(state: &AgentState) -> &[ToolCall] {
    state.messages.last().map(Message::tool_calls).unwrap_or_default()
}

/// Builds the ReAct agent: `agent` calls the model with the conversation and the tools' specs;
/// when its answer has tool calls, each call becomes a `Send("tools", ToolInvocation)` task (run
/// in parallel, their results merged in tool-call order), then `agent` runs again; an answer
/// without tool calls ends the run.
///
/// Tool calls are journaled, so the graph can be compiled with a checkpointer and interrupted
/// (for example `interrupt_before(["tools"])` to approve calls) without repeating a finished
/// call. Model failures that stay retryable after [`ReactOptions::model_retry`] fail the run with a
/// retryable error (resume it with `RunInput::Continue`).
///
/// Each model call's tokens and cost (priced with [`ReactOptions::prices`]) are added to
/// [`AgentState::usage`] and [`AgentState::cost`]; a spent budget fails the run with
/// [`BudgetExceeded`] before the next call. When the run is streamed in
/// [`StreamMode::Messages`], the model streams its answer: one [`MessageChunk`] per token chunk
/// under the id the stored message gets, then a closing chunk with no text whose metadata holds
/// `"finished": true` and the model, usage, cost and tool calls. Each attempt of a retried call
/// streams under its own id, and a failed attempt ends with a closing chunk whose metadata has
/// `"error"`: joined by id, the chunks of the stored message are exactly its text.
///
/// ```
/// use std::sync::Arc;
/// use agentflow_core::{RunConfig, checkpoint::InMemorySaver};
/// use agentflow_tools::{AgentStateUpdate, Message, ReactOptions, ScriptedModel, ToolRegistry, react_agent};
///
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// let model = Arc::new(ScriptedModel::new([Message::assistant("hello!")]));
/// let agent = react_agent(model, ToolRegistry::new(), ReactOptions::default())?
///     .with_checkpointer(InMemorySaver::new());
/// let input = AgentStateUpdate::default().messages(vec![Message::user("hi")]);
/// let out = agent.invoke(input, RunConfig::new().thread_id("t1")).await?;
/// assert_eq!(out.state.messages.last().unwrap().content(), "hello!");
/// # Ok::<_, Box<dyn std::error::Error>>(())
/// # }).unwrap();
/// ```
pub fn react_agent(
    model: Arc<dyn ChatModel>,
    tools: ToolRegistry,
    options: ReactOptions,
) -> Result<CompiledGraph<AgentState>, BuildError> {
    let specs = Arc::new(tools.specs());
    let system = options.system_prompt.map(Message::system);
    let retry = Arc::new(options.model_retry);
    let (max_tokens, max_usd) = (options.max_total_tokens, options.max_cost_usd);
    let prices = Arc::new(options.prices);
    let tool_node = Arc::new(ToolNode::new(tools, options.tools));

    let mut graph = StateGraph::<AgentState>::new();
    graph.add_node("agent", move |state, ctx| {
        let model = model.clone();
        let specs = specs.clone();
        let system = system.clone();
        let prices = prices.clone();
        let retry = retry.clone();
        async move {
            check_budget(&state, max_tokens, max_usd).map_err(NodeError::terminal)?;
            let mut messages = Vec::with_capacity(state.messages.len() + 1);
            messages.extend(system);
            messages.extend(state.messages.iter().cloned());
            let request = ChatRequest {
                messages,
                tools: specs.to_vec(),
            };
            let writer = ctx.writer();
            // Without a listener the model is called plainly: no id, no chunks, no overhead.
            let streaming = writer.is_streaming(StreamMode::Messages).then_some(&writer);
            let (response, sink) =
                call_model(&*model, &request, &retry, ctx.cancellation(), streaming).await?;
            if !response.message.is_assistant() {
                return Err(NodeError::terminal(ModelError::Terminal(
                    "the model answered with a message that is not an assistant message".into(),
                )));
            }
            let cost = prices.cost(&response);
            let (message, usage) = match &sink {
                Some(sink) => {
                    sink.finish(&response, &cost);
                    (response.message.with_id(sink.message_id.as_str()), response.usage)
                }
                None => (response.message, response.usage),
            };
            Ok(AgentStateUpdate::default()
                .messages(vec![message])
                .usage(usage)
                .cost(cost))
        }
    });
    graph.add_send_node("tools", move |invocation: ToolInvocation, ctx: Context| {
        let tool_node = tool_node.clone();
        async move {
            let message = tool_node.run_call(&invocation.call, &ctx).await?;
            Ok(AgentStateUpdate::default().messages(vec![message]))
        }
    });
    graph.add_edge(START, "agent");
    graph.add_conditional_edges(
        "agent",
        |state: &AgentState| -> Vec<Route> {
            let calls = pending_calls(state);
            if calls.is_empty() {
                return vec![Route::from(END)];
            }
            calls
                .iter()
                .map(|call| Route::Send(Send::new("tools", ToolInvocation { call: call.clone() })))
                .collect()
        },
        ["tools", END],
    );
    graph.add_edge("tools", "agent");
    graph.compile()
}
