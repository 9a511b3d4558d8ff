//! [`ToolNode`]: runs the model's tool calls with timeouts, retries, circuit breakers and
//! journaling, and turns every outcome into a tool message.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use agentflow_core::{
    CancellationToken, Command, Context, ErrorClass, Failure, Node, NodeError, RetryPolicy,
};
use tokio::time::Instant;

use crate::agent_state::{AgentState, AgentStateUpdate};
use crate::breaker::CircuitBreakers;
use crate::message::{Message, ToolCall};
use crate::tool::{DynTool, Idempotency, ToolContext, ToolError, ToolRegistry};

/// How a [`ToolNode`] runs calls.
#[derive(Clone, Debug)]
pub struct ToolNodeOptions {
    /// The per-attempt timeout of every tool (`None`: no limit). A timeout counts as an
    /// ambiguous failure ([`ToolError::Ambiguous`]: the tool may have acted).
    pub timeout: Option<Duration>,
    /// Per-tool timeouts, overriding `timeout`.
    pub timeouts: HashMap<String, Duration>,
    /// How retryable and ambiguous failures are retried: attempts per call, the backoff, and
    /// how long a tool's `retry_after` (a backend's `Retry-After`) is honoured for (the same
    /// policy type as node retries).
    pub retry: RetryPolicy,
    /// The circuit breakers, one per backend ([`Tool::backend`](crate::Tool::backend), the
    /// tool's name unless it says otherwise; clone it first to read their states).
    pub breakers: CircuitBreakers,
}

impl Default for ToolNodeOptions {
    /// No timeout, [`ToolNodeOptions::default_retry`], default breakers (5 failures, 30 s
    /// cool-down).
    fn default() -> Self {
        ToolNodeOptions {
            timeout: None,
            timeouts: HashMap::new(),
            retry: ToolNodeOptions::default_retry(),
            breakers: CircuitBreakers::default(),
        }
    }
}

impl ToolNodeOptions {
    /// The default retry policy of tool calls: 3 attempts, 0.5 s doubling up to 30 s, no
    /// jitter (add it with `.jitter(true)` when many parallel calls hit one backend),
    /// `Retry-After` honoured up to 60 s.
    pub fn default_retry() -> RetryPolicy {
        RetryPolicy::default()
            .max_interval(Duration::from_secs(30))
            .jitter(false)
    }
}

/// Runs tool calls (LangGraph's `ToolNode`).
///
/// Each call: fails fast while its tool's circuit is open; runs with the tool's timeout;
/// retries retryable errors and timeouts as its [`RetryPolicy`] says (the tool's `retry_after`,
/// capped, or the policy's backoff), reconciling first when an earlier attempt may have taken
/// effect (see [`execute`](Self::execute)); and ends as a [`Message::Tool`]. Failures (unknown tool, invalid
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

/// The idempotency key of one call of a batch run as the step keyed `step_key`.
fn call_key(step_key: &str, call: &ToolCall) -> String {
    format!("{step_key}:{}", call.id)
}

/// Adds, when an earlier attempt may have taken effect, a warning not to repeat it blindly.
fn with_unknown_outcome(message: String, outcome_unknown: bool) -> String {
    if outcome_unknown {
        format!("{message} (an earlier attempt may have taken effect: check before calling again)")
    } else {
        message
    }
}

/// Runs `work` under `timeout`; running out of time is ambiguous (whatever the tool sent may
/// have been acted on).
async fn with_timeout<T>(
    name: &str,
    doing: &str,
    timeout: Option<Duration>,
    work: impl std::future::Future<Output = Result<T, ToolError>>,
) -> Result<T, ToolError> {
    let Some(limit) = timeout else {
        return work.await;
    };
    tokio::time::timeout(limit, work).await.unwrap_or_else(|_| {
        let doing = if doing.is_empty() {
            String::new()
        } else {
            format!(" {doing}")
        };
        Err(ToolError::ambiguous(
            format!("tool `{name}` timed out{doing} after {limit:?}"),
            None,
        ))
    })
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

    /// Runs one call, without journaling: breaker, timeout, retries. Never fails: every
    /// failure is a tool message starting with `error: `.
    ///
    /// After an ambiguous failure ([`ToolError::Ambiguous`], or this node's own timeout) the
    /// next attempt depends on the tool's [`Idempotency`]: an idempotent tool is simply called
    /// again; a reconcilable one is first asked ([`Tool::reconcile`](crate::Tool::reconcile))
    /// whether the earlier attempt took effect, and called again (with the same key) only if
    /// it did not; any other tool is not called again, and the message says the outcome is
    /// unknown.
    pub async fn execute(
        &self,
        call: &ToolCall,
        idempotency_key: String,
        cancellation: CancellationToken,
    ) -> Message {
        let name = call.name.as_str();
        let Some(tool) = self.tools.get(name) else {
            return self.unknown_tool(call);
        };
        let breakers = &self.options.breakers;
        let circuit = tool.backend();
        let idempotency = tool.idempotency();
        let retry = &self.options.retry;
        // Set while an earlier attempt may have taken effect and nothing has ruled it out.
        let mut outcome_unknown = false;
        let mut attempt = 0;
        loop {
            attempt += 1;
            if let Err(wait) = breakers.try_acquire(circuit) {
                return Message::tool_error(
                    call.id.as_str(),
                    with_unknown_outcome(
                        format!(
                            "tool `{name}` is unavailable (circuit open for `{circuit}` after repeated failures; try again in {wait:?})"
                        ),
                        outcome_unknown,
                    ),
                );
            }
            let result = self
                .attempt(
                    tool.as_ref(),
                    call,
                    &idempotency_key,
                    &cancellation,
                    &mut outcome_unknown,
                )
                .await;
            let error = match result {
                Ok(value) => {
                    breakers.record_success(circuit);
                    return Message::tool(call.id.as_str(), into_text(value));
                }
                Err(error) => error,
            };
            if let ToolError::InvalidArguments(message) = &error {
                breakers.record_neutral(circuit);
                return Message::tool_error(
                    call.id.as_str(),
                    format!("invalid arguments for tool `{name}`: {message}"),
                );
            }
            if error.class() == ErrorClass::Terminal {
                breakers.record_neutral(circuit);
                return Message::tool_error(
                    call.id.as_str(),
                    with_unknown_outcome(error.to_string(), outcome_unknown),
                );
            }
            breakers.record_failure(circuit);
            if outcome_unknown && idempotency == Idempotency::NotIdempotent {
                return Message::tool_error(
                    call.id.as_str(),
                    format!(
                        "{error} (the call may have taken effect, so it was not repeated: check before calling `{name}` again)"
                    ),
                );
            }
            if !retry.should_retry(attempt, &error) {
                return Message::tool_error(
                    call.id.as_str(),
                    with_unknown_outcome(
                        format!("{error} (gave up after {attempt} attempt(s))"),
                        outcome_unknown,
                    ),
                );
            }
            tracing::debug!(tool = name, attempt, "retrying tool call: {error}");
            if !retry.wait(attempt, &error, &cancellation).await {
                return Message::tool_error(
                    call.id.as_str(),
                    with_unknown_outcome(
                        format!("{error} (cancelled while waiting to retry)"),
                        outcome_unknown,
                    ),
                );
            }
        }
    }

    /// One attempt: when an earlier attempt may have taken effect, reconcile first (a found
    /// effect is the result); then call the tool. Each part runs under the tool's timeout,
    /// and running out of it is ambiguous (the request may have been sent).
    async fn attempt(
        &self,
        tool: &dyn DynTool,
        call: &ToolCall,
        idempotency_key: &str,
        cancellation: &CancellationToken,
        outcome_unknown: &mut bool,
    ) -> Result<serde_json::Value, ToolError> {
        let timeout = self.timeout_of(tool.name());
        if *outcome_unknown {
            let ctx = self.context(idempotency_key, timeout, cancellation);
            let lookup = tool.reconcile_json(call.arguments.clone(), ctx);
            // A lookup that times out is a plain retryable failure: it changed nothing.
            match with_timeout(tool.name(), "looking for the earlier attempt", timeout, lookup)
                .await
                .map_err(|e| match e {
                    ToolError::Ambiguous { message, retry_after } => {
                        ToolError::Retryable { message, retry_after }
                    }
                    other => other,
                })? {
                Some(found) => {
                    tracing::info!(
                        tool = tool.name(),
                        "an earlier attempt took effect; not calling again"
                    );
                    *outcome_unknown = false;
                    return Ok(found);
                }
                None => *outcome_unknown = false,
            }
        }
        let ctx = self.context(idempotency_key, timeout, cancellation);
        let result = with_timeout(
            tool.name(),
            "",
            timeout,
            tool.call_json(call.arguments.clone(), ctx),
        )
        .await;
        if let Err(error) = &result
            && error.is_ambiguous()
            && tool.idempotency() != Idempotency::Idempotent
        {
            *outcome_unknown = true;
        }
        result
    }

    fn timeout_of(&self, name: &str) -> Option<Duration> {
        self.options.timeouts.get(name).copied().or(self.options.timeout)
    }

    fn context(&self, key: &str, timeout: Option<Duration>, cancellation: &CancellationToken) -> ToolContext {
        ToolContext {
            idempotency_key: key.to_owned(),
            deadline: timeout.map(|t| Instant::now() + t),
            cancellation: cancellation.clone(),
        }
    }

    fn unknown_tool(&self, call: &ToolCall) -> Message {
        let known: Vec<&str> = self.tools.names().collect();
        Message::tool_error(
            call.id.as_str(),
            format!(
                "unknown tool `{}`; the available tools are: {}",
                call.name,
                known.join(", ")
            ),
        )
    }

    /// Looks for the effect of an earlier run of `call` with `idempotency_key` whose outcome is
    /// unknown (the process stopped after the call started and before its result was saved).
    ///
    /// - `Ok(Some(message))`: the result to use instead of calling again: the earlier effect's
    ///   result when a [reconcilable](Idempotency::Reconcilable) tool found it, or, for a
    ///   [not idempotent](Idempotency::NotIdempotent) tool, an error message saying that the
    ///   outcome is unknown and the call was not repeated (a terminal failure of the lookup
    ///   ends the same way).
    /// - `Ok(None)`: calling again is safe (an idempotent or unknown tool, or nothing found).
    /// - `Err`: the lookup kept failing transiently ([`NodeError::retryable`]); nothing was
    ///   called, so retrying the node later looks again.
    pub async fn reconcile_call(
        &self,
        call: &ToolCall,
        idempotency_key: &str,
        cancellation: &CancellationToken,
    ) -> Result<Option<Message>, NodeError> {
        let Some(tool) = self.tools.get(call.name.as_str()) else {
            return Ok(None);
        };
        let name = tool.name();
        match tool.idempotency() {
            Idempotency::Reconcilable => {}
            Idempotency::NotIdempotent => {
                return Ok(Some(Message::tool_error(
                    call.id.as_str(),
                    format!(
                        "an earlier run of this `{name}` call was interrupted and may have taken effect, so it was not repeated: check before calling `{name}` again"
                    ),
                )));
            }
            _ => return Ok(None),
        }
        let timeout = self.timeout_of(name);
        let retry = &self.options.retry;
        let mut attempt = 0;
        loop {
            attempt += 1;
            let ctx = self.context(idempotency_key, timeout, cancellation);
            let lookup = tool.reconcile_json(call.arguments.clone(), ctx);
            let error = match with_timeout(name, "looking for the earlier attempt", timeout, lookup).await {
                Ok(found) => return Ok(found.map(|value| Message::tool(call.id.as_str(), into_text(value)))),
                Err(error) => error,
            };
            if !error.is_retryable() {
                return Ok(Some(Message::tool_error(
                    call.id.as_str(),
                    with_unknown_outcome(error.to_string(), true),
                )));
            }
            // Nothing was called, so the node may retry the lookup later: retryable, not ambiguous.
            if !retry.should_retry(attempt, &error) || !retry.wait(attempt, &error, cancellation).await {
                return Err(NodeError::retryable(error));
            }
        }
    }

    /// Resumes one call whose earlier run may have taken effect: its reconciled result when
    /// [`reconcile_call`](Self::reconcile_call) has one, else the call run again with the same
    /// key. This is the recovery path of [`run_call`](Self::run_call)'s journaled step.
    pub async fn resume_call(
        &self,
        call: &ToolCall,
        idempotency_key: String,
        cancellation: CancellationToken,
    ) -> Result<Message, NodeError> {
        match self.reconcile_call(call, &idempotency_key, &cancellation).await? {
            Some(message) => Ok(message),
            None => Ok(self.execute(call, idempotency_key, cancellation).await),
        }
    }

    /// Resumes a batch of calls (the step of [`run_calls`](Self::run_calls) with `step_key`):
    /// each call is reconciled and run again only if needed, with the same per-call key as
    /// the first run.
    pub async fn resume_calls(
        &self,
        calls: &[ToolCall],
        step_key: &str,
        cancellation: CancellationToken,
    ) -> Result<Vec<Message>, NodeError> {
        let runs = calls
            .iter()
            .map(|call| self.resume_call(call, call_key(step_key, call), cancellation.clone()));
        futures::future::try_join_all(runs).await
    }

    /// Runs one call as a journaled step of the node: a node that runs again gets the saved
    /// tool message instead of calling the tool again.
    ///
    /// If an earlier attempt started the call and never saved its result (the process died, or
    /// another runner's claim on the step expired), the outcome is unknown: the call is first
    /// looked up with the vendor ([`reconcile_call`](Self::reconcile_call)) and run again, with
    /// the same key, only if it is not found.
    pub async fn run_call<C>(&self, call: &ToolCall, ctx: &Context<C>) -> Result<Message, NodeError> {
        let cancellation = ctx.cancellation().clone();
        let lookup = cancellation.clone();
        ctx.step_reconciled(
            "tool_call",
            |key| async move { self.reconcile_call(call, &key, &lookup).await },
            |key| async move { Ok(self.execute(call, key, cancellation).await) },
        )
        .await
    }

    /// Runs `calls` in parallel as one journaled step; the results are in the order of `calls`
    /// whatever order they finish in. Each call's idempotency key is the step's key followed
    /// by `:` and the call's id.
    ///
    /// If an earlier attempt of the step never saved its result, each call is looked up with
    /// the vendor and run again only if needed ([`resume_calls`](Self::resume_calls)).
    pub async fn run_calls<C>(
        &self,
        calls: &[ToolCall],
        ctx: &Context<C>,
    ) -> Result<Vec<Message>, NodeError> {
        if calls.is_empty() {
            return Ok(Vec::new());
        }
        let cancellation = ctx.cancellation().clone();
        let recovery = cancellation.clone();
        ctx.step_reconciled(
            "tool_calls",
            |key| async move { self.resume_calls(calls, &key, recovery).await.map(Some) },
            |key| async move {
                let runs = calls
                    .iter()
                    .map(|call| self.execute(call, call_key(&key, call), cancellation.clone()));
                Ok(futures::future::join_all(runs).await)
            },
        )
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
