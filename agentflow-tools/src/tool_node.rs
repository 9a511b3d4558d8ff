//! [`ToolNode`]: runs the model's tool calls with timeouts, retries, circuit breakers and
//! journaling, and turns every outcome into a tool message.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use agentflow_core::{CancellationToken, Command, Context, Node, NodeError};
use tokio::time::Instant;

use crate::breaker::CircuitBreakers;
use crate::message::{Message, ToolCall};
use crate::react::{AgentState, AgentStateUpdate};
use crate::tool::{ToolContext, ToolError, ToolRegistry};

/// How a [`ToolNode`] runs calls.
#[derive(Clone, Debug)]
pub struct ToolNodeOptions {
    /// The per-attempt timeout of every tool (`None`: no limit). A timeout counts as a
    /// retryable failure.
    pub timeout: Option<Duration>,
    /// Per-tool timeouts, overriding `timeout`.
    pub timeouts: HashMap<String, Duration>,
    /// Attempts per call for retryable failures (at least 1).
    pub max_attempts: u32,
    /// The wait before the second attempt when the tool gives no `retry_after`; doubled for
    /// each further attempt, up to `max_backoff`.
    pub initial_backoff: Duration,
    /// The longest computed wait (a tool's own `retry_after` is honoured as given).
    pub max_backoff: Duration,
    /// The circuit breakers, one per backend ([`Tool::backend`](crate::Tool::backend), the
    /// tool's name unless it says otherwise; clone it first to read their states).
    pub breakers: CircuitBreakers,
}

impl Default for ToolNodeOptions {
    /// No timeout, 3 attempts, 0.5 s backoff doubling up to 30 s, default breakers (5
    /// failures, 30 s cool-down).
    fn default() -> Self {
        ToolNodeOptions {
            timeout: None,
            timeouts: HashMap::new(),
            max_attempts: 3,
            initial_backoff: Duration::from_millis(500),
            max_backoff: Duration::from_secs(30),
            breakers: CircuitBreakers::default(),
        }
    }
}

/// Runs tool calls (LangGraph's `ToolNode`).
///
/// Each call: fails fast while its tool's circuit is open; runs with the tool's timeout;
/// retries retryable errors and timeouts up to `max_attempts`, waiting the tool's `retry_after`
/// or an exponential backoff; and ends as a [`Message::Tool`]. Failures (unknown tool, invalid
/// arguments, terminal errors, exhausted retries, open circuit) become a tool message whose
/// content starts with `error: `, so the model can read it and react.
///
/// Inside a graph, [`run_call`](Self::run_call) and [`run_calls`](Self::run_calls) wrap the work
/// in a journaled step ([`Context::step`]): a node that runs again (retry, resume after an
/// interrupt or a crash) gets the saved result instead of calling the tool again.
///
/// `ToolNode` is also a [`Node`] over [`AgentState`]: it runs every tool call of the last
/// assistant message in parallel and appends the results in tool-call order.
///
/// ```
/// use agentflow_tools::{Message, ToolCall, ToolNode, ToolNodeOptions, ToolRegistry};
///
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// let node = ToolNode::new(ToolRegistry::new(), ToolNodeOptions::default());
/// let call = ToolCall::new("c1", "nope", serde_json::json!({}));
/// let answer = node.execute(&call, "key".into(), Default::default()).await;
/// assert!(answer.content().starts_with("error: unknown tool `nope`"));
/// # });
/// ```
#[derive(Clone, Debug)]
pub struct ToolNode {
    tools: ToolRegistry,
    options: ToolNodeOptions,
}

/// A tool result as text: strings as they are, anything else as JSON.
fn into_text(value: serde_json::Value) -> String {
    match value {
        serde_json::Value::String(s) => s,
        other => other.to_string(),
    }
}

impl ToolNode {
    /// A tool node over `tools`.
    pub fn new(tools: ToolRegistry, options: ToolNodeOptions) -> Self {
        ToolNode { tools, options }
    }

    /// The tools.
    pub fn tools(&self) -> &ToolRegistry {
        &self.tools
    }

    /// The options.
    pub fn options(&self) -> &ToolNodeOptions {
        &self.options
    }

    /// The circuit breakers.
    pub fn breakers(&self) -> &CircuitBreakers {
        &self.options.breakers
    }

    fn backoff(&self, attempt: u32) -> Duration {
        let factor = 2u32.saturating_pow(attempt.saturating_sub(1));
        self.options
            .initial_backoff
            .saturating_mul(factor)
            .min(self.options.max_backoff)
    }

    /// Runs one call, without journaling: breaker, timeout, retries. Never fails: every
    /// failure is a tool message starting with `error: `.
    pub async fn execute(
        &self,
        call: &ToolCall,
        idempotency_key: String,
        cancellation: CancellationToken,
    ) -> Message {
        let name = call.name.as_str();
        let Some(tool) = self.tools.get(name) else {
            let known: Vec<&str> = self.tools.names().collect();
            return Message::tool_error(
                call.id.as_str(),
                format!(
                    "unknown tool `{name}`; the available tools are: {}",
                    known.join(", ")
                ),
            );
        };
        let breakers = &self.options.breakers;
        let circuit = tool.backend();
        let timeout = self.options.timeouts.get(name).copied().or(self.options.timeout);
        let max_attempts = self.options.max_attempts.max(1);
        let mut attempt = 0;
        loop {
            attempt += 1;
            if let Err(wait) = breakers.try_acquire(circuit) {
                return Message::tool_error(
                    call.id.as_str(),
                    format!(
                        "tool `{name}` is unavailable (circuit open for `{circuit}` after repeated failures; try again in {wait:?})"
                    ),
                );
            }
            let ctx = ToolContext {
                idempotency_key: idempotency_key.clone(),
                deadline: timeout.map(|t| Instant::now() + t),
                cancellation: cancellation.clone(),
            };
            let call_fut = tool.call_json(call.arguments.clone(), ctx);
            let result = match timeout {
                Some(limit) => tokio::time::timeout(limit, call_fut).await.unwrap_or_else(|_| {
                    Err(ToolError::Retryable {
                        message: format!("tool `{name}` timed out after {limit:?}"),
                        retry_after: None,
                    })
                }),
                None => call_fut.await,
            };
            match result {
                Ok(value) => {
                    breakers.record_success(circuit);
                    return Message::tool(call.id.as_str(), into_text(value));
                }
                Err(ToolError::Retryable { message, retry_after }) => {
                    breakers.record_failure(circuit);
                    if attempt >= max_attempts {
                        return Message::tool_error(
                            call.id.as_str(),
                            format!("{message} (gave up after {attempt} attempt(s))"),
                        );
                    }
                    let wait = retry_after.unwrap_or_else(|| self.backoff(attempt));
                    tracing::debug!(tool = name, attempt, ?wait, "retrying tool call: {message}");
                    tokio::select! {
                        () = tokio::time::sleep(wait) => {}
                        () = cancellation.cancelled() => {
                            return Message::tool_error(call.id.as_str(), format!("{message} (cancelled while waiting to retry)"));
                        }
                    }
                }
                Err(ToolError::InvalidArguments(message)) => {
                    breakers.record_neutral(circuit);
                    return Message::tool_error(
                        call.id.as_str(),
                        format!("invalid arguments for tool `{name}`: {message}"),
                    );
                }
                Err(ToolError::Terminal(message)) => {
                    breakers.record_neutral(circuit);
                    return Message::tool_error(call.id.as_str(), message);
                }
            }
        }
    }

    /// Runs one call as a journaled step of the node: a node that runs again gets the saved
    /// tool message instead of calling the tool again.
    pub async fn run_call<C>(&self, call: &ToolCall, ctx: &Context<C>) -> Result<Message, NodeError> {
        let cancellation = ctx.cancellation().clone();
        ctx.step("tool_call", |key| async move {
            Ok(self.execute(call, key, cancellation).await)
        })
        .await
    }

    /// Runs `calls` in parallel as one journaled step; the results are in the order of `calls`
    /// whatever order they finish in.
    pub async fn run_calls<C>(
        &self,
        calls: &[ToolCall],
        ctx: &Context<C>,
    ) -> Result<Vec<Message>, NodeError> {
        if calls.is_empty() {
            return Ok(Vec::new());
        }
        let cancellation = ctx.cancellation().clone();
        ctx.step("tool_calls", |key| async move {
            let runs = calls
                .iter()
                .map(|call| self.execute(call, format!("{key}:{}", call.id), cancellation.clone()));
            Ok(futures::future::join_all(runs).await)
        })
        .await
    }
}

impl<C: Send + Sync + 'static> Node<AgentState, C> for ToolNode {
    async fn run(&self, state: Arc<AgentState>, ctx: Context<C>) -> Result<Command<AgentState>, NodeError> {
        let calls = state
            .messages
            .iter()
            .rev()
            .find(|m| m.is_assistant())
            .map(Message::tool_calls)
            .unwrap_or_default();
        let messages = self.run_calls(calls, &ctx).await?;
        Ok(AgentStateUpdate::default().messages(messages).into())
    }
}
