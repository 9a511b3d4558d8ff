//! Tools: typed functions a model can call, their JSON schemas, errors and the registry.

use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use agentflow_core::{CancellationToken, ErrorClass, Failure};
use futures::future::BoxFuture;
use schemars::JsonSchema;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use tokio::time::Instant;

/// Why a tool call failed. Every variant ends up as a tool message the model can read, and each
/// has its [`ErrorClass`] (see the [`Failure`] impl), which the tool node's
/// [`RetryPolicy`](agentflow_core::RetryPolicy) retries by.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum ToolError {
    /// The arguments do not fit the tool's schema; the message is meant for the model, so that
    /// it can correct its call.
    #[error("invalid arguments: {0}")]
    InvalidArguments(String),
    /// A transient failure (rate limit, unavailable backend): the tool node retries it, after
    /// `retry_after` when the backend says how long to wait.
    #[error("{message}")]
    Retryable {
        /// What went wrong.
        message: String,
        /// How long the backend asked to wait before trying again.
        retry_after: Option<Duration>,
    },
    /// A transient failure after the request may have reached the backend (a timeout after
    /// sending, a connection dropped mid-request, a 5xx): the backend may have acted. Retrying
    /// is safe for an [`Idempotency::Idempotent`] tool; for the others the tool node first asks
    /// [`Tool::reconcile`] whether the earlier attempt took effect (see [`Idempotency`]).
    #[error("{message}")]
    Ambiguous {
        /// What went wrong.
        message: String,
        /// How long the backend asked to wait before trying again.
        retry_after: Option<Duration>,
    },
    /// A permanent failure: retrying cannot help.
    #[error("{0}")]
    Terminal(String),
}

impl ToolError {
    /// A retryable failure without a backend-given delay.
    pub fn retryable(message: impl Into<String>) -> Self {
        ToolError::Retryable {
            message: message.into(),
            retry_after: None,
        }
    }

    /// A retryable failure the backend asked to retry after `delay`.
    pub fn retry_after(message: impl Into<String>, delay: Duration) -> Self {
        ToolError::Retryable {
            message: message.into(),
            retry_after: Some(delay),
        }
    }

    /// A transient failure after which the backend may have acted (see
    /// [`ToolError::Ambiguous`]).
    pub fn ambiguous(message: impl Into<String>, retry_after: Option<Duration>) -> Self {
        ToolError::Ambiguous {
            message: message.into(),
            retry_after,
        }
    }

    /// A permanent failure.
    pub fn terminal(message: impl Into<String>) -> Self {
        ToolError::Terminal(message.into())
    }

    /// The same error marked ambiguous when it is retryable (for a failure that happened after
    /// the request was sent); other variants are returned unchanged.
    pub fn into_ambiguous(self) -> Self {
        match self {
            ToolError::Retryable { message, retry_after } => ToolError::Ambiguous { message, retry_after },
            other => other,
        }
    }
}

/// A tool error in the one classification of failures: invalid arguments are terminal (the
/// model, not a retry, has to fix them).
impl Failure for ToolError {
    fn class(&self) -> ErrorClass {
        match self {
            ToolError::Retryable { .. } => ErrorClass::Retryable,
            ToolError::Ambiguous { .. } => ErrorClass::Ambiguous,
            ToolError::InvalidArguments(_) | ToolError::Terminal(_) => ErrorClass::Terminal,
        }
    }

    fn retry_after(&self) -> Option<Duration> {
        match self {
            ToolError::Retryable { retry_after, .. } | ToolError::Ambiguous { retry_after, .. } => {
                *retry_after
            }
            ToolError::InvalidArguments(_) | ToolError::Terminal(_) => None,
        }
    }

    fn error(&self) -> &(dyn std::error::Error + 'static) {
        self
    }
}

/// What calling a tool again does to the world, which decides how the tool node retries a call
/// whose earlier attempt failed ambiguously ([`ToolError::Ambiguous`]: a timeout or a dropped
/// connection after the request was sent, a 5xx).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Idempotency {
    /// Calling again has no further effect (reads, setting a value): retried freely. The
    /// default.
    Idempotent,
    /// Calling again could act twice, but [`Tool::reconcile`] can find the effect of an earlier
    /// attempt by the call's idempotency key: after an ambiguous failure the tool node
    /// reconciles first, and calls again (with the same key) only when nothing was found.
    Reconcilable,
    /// Calling again could act twice and nothing can tell whether it already did: after an
    /// ambiguous failure the call is not repeated, and the model is told that its outcome is
    /// unknown.
    NotIdempotent,
}

/// What a tool call receives besides its arguments.
#[derive(Clone, Debug)]
pub struct ToolContext {
    /// A deterministic key for this call, the same across retries and resumes: pass it to APIs
    /// that deduplicate requests.
    pub idempotency_key: String,
    /// When the tool node stops waiting for this attempt (its timeout), if it has one.
    pub deadline: Option<Instant>,
    /// Fires when the run is cancelled.
    pub cancellation: CancellationToken,
}

impl ToolContext {
    /// A context with `key`, no deadline and a fresh cancellation token (for calling a tool
    /// outside a graph, in tests).
    pub fn new(key: impl Into<String>) -> Self {
        ToolContext {
            idempotency_key: key.into(),
            deadline: None,
            cancellation: CancellationToken::new(),
        }
    }
}

/// A typed tool.
///
/// The arguments are a serde type whose JSON schema (derived with `schemars`) is shown to the
/// model; the output is any serializable value (a string output becomes the tool message as is,
/// anything else its JSON text).
///
/// ```
/// use agentflow_tools::{Tool, ToolContext, ToolError};
///
/// #[derive(serde::Deserialize, schemars::JsonSchema)]
/// struct Search {
///     /// What to look for.
///     query: String,
/// }
///
/// struct SearchTool;
///
/// impl Tool for SearchTool {
///     type Args = Search;
///     type Output = String;
///     fn name(&self) -> &str {
///         "search"
///     }
///     fn description(&self) -> &str {
///         "Searches the knowledge base."
///     }
///     async fn call(&self, args: Search, _ctx: ToolContext) -> Result<String, ToolError> {
///         if args.query.is_empty() {
///             return Err(ToolError::InvalidArguments("query must not be empty".into()));
///         }
///         Ok(format!("3 results for {}", args.query))
///     }
/// }
/// ```
pub trait Tool: Send + Sync + 'static {
    /// The arguments, deserialized from the model's JSON.
    type Args: DeserializeOwned + JsonSchema + Send;
    /// The result, serialized for the model.
    type Output: Serialize + Send;

    /// The name the model calls the tool by (unique in a registry).
    fn name(&self) -> &str;

    /// What the tool does, for the model.
    fn description(&self) -> &str;

    /// The service the tool calls (`"slack"`, `"jira"`, ...): the tool node keeps one circuit
    /// breaker per backend, so that tools sharing a failing service stop calling it together.
    /// Defaults to the tool's own name.
    fn backend(&self) -> &str {
        self.name()
    }

    /// Runs the tool.
    fn call(
        &self,
        args: Self::Args,
        ctx: ToolContext,
    ) -> impl Future<Output = Result<Self::Output, ToolError>> + Send;

    /// What calling the tool twice does ([`Idempotency::Idempotent`] unless the tool says
    /// otherwise). A tool with side effects that are not idempotent says
    /// [`Idempotency::Reconcilable`] (and implements [`reconcile`](Self::reconcile)) or
    /// [`Idempotency::NotIdempotent`].
    fn idempotency(&self) -> Idempotency {
        Idempotency::Idempotent
    }

    /// Looks for the effect of an earlier call with the same `args` and
    /// `ctx.idempotency_key` whose outcome is unknown (it failed ambiguously, or the process
    /// died while it ran): `Some(output)` when that call took effect (the output it would have
    /// returned), `None` when it did not or the tool cannot tell (the default). Called only for
    /// [`Idempotency::Reconcilable`] tools, before calling again.
    fn reconcile(
        &self,
        args: Self::Args,
        ctx: ToolContext,
    ) -> impl Future<Output = Result<Option<Self::Output>, ToolError>> + Send {
        let _ = (args, ctx);
        std::future::ready(Ok(None))
    }
}

/// What a model is told about a tool: name, description and the JSON schema of its arguments.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ToolSpec {
    /// The tool's name.
    pub name: String,
    /// The tool's description.
    pub description: String,
    /// The JSON schema of the arguments.
    pub parameters: serde_json::Value,
}

/// A tool with its types erased: JSON in, JSON out. Every [`Tool`] becomes one through
/// [`ToolRegistry::add`] (or [`erase`]).
pub trait DynTool: Send + Sync + 'static {
    /// The tool's name.
    fn name(&self) -> &str;
    /// The tool's description.
    fn description(&self) -> &str;
    /// The JSON schema of the arguments.
    fn parameters(&self) -> &serde_json::Value;
    /// The service the tool calls (see [`Tool::backend`]).
    fn backend(&self) -> &str {
        self.name()
    }
    /// Deserializes `args` (a [`ToolError::InvalidArguments`] with serde's message if they do
    /// not fit), runs the tool and serializes its output.
    fn call_json(
        &self,
        args: serde_json::Value,
        ctx: ToolContext,
    ) -> BoxFuture<'_, Result<serde_json::Value, ToolError>>;

    /// What calling the tool twice does (see [`Tool::idempotency`]).
    fn idempotency(&self) -> Idempotency {
        Idempotency::Idempotent
    }

    /// Looks for the effect of an earlier call (see [`Tool::reconcile`]); its output as JSON.
    fn reconcile_json(
        &self,
        args: serde_json::Value,
        ctx: ToolContext,
    ) -> BoxFuture<'_, Result<Option<serde_json::Value>, ToolError>> {
        let _ = (args, ctx);
        Box::pin(std::future::ready(Ok(None)))
    }

    /// The tool's spec for a model.
    fn spec(&self) -> ToolSpec {
        ToolSpec {
            name: self.name().to_owned(),
            description: self.description().to_owned(),
            parameters: self.parameters().clone(),
        }
    }
}

struct Erased<T> {
    tool: T,
    parameters: serde_json::Value,
}

/// Erases a typed tool (its schema is derived once, here).
pub fn erase<T: Tool>(tool: T) -> Arc<dyn DynTool> {
    let parameters = serde_json::to_value(schemars::schema_for!(T::Args)).unwrap_or_default();
    Arc::new(Erased { tool, parameters })
}

impl<T: Tool> DynTool for Erased<T> {
    fn name(&self) -> &str {
        self.tool.name()
    }

    fn description(&self) -> &str {
        self.tool.description()
    }

    fn parameters(&self) -> &serde_json::Value {
        &self.parameters
    }

    fn backend(&self) -> &str {
        self.tool.backend()
    }

    fn call_json(
        &self,
        args: serde_json::Value,
        ctx: ToolContext,
    ) -> BoxFuture<'_, Result<serde_json::Value, ToolError>> {
        Box::pin(async move {
            let args: T::Args =
                serde_json::from_value(args).map_err(|e| ToolError::InvalidArguments(e.to_string()))?;
            let output = self.tool.call(args, ctx).await?;
            to_json(output)
        })
    }

    fn idempotency(&self) -> Idempotency {
        self.tool.idempotency()
    }

    fn reconcile_json(
        &self,
        args: serde_json::Value,
        ctx: ToolContext,
    ) -> BoxFuture<'_, Result<Option<serde_json::Value>, ToolError>> {
        Box::pin(async move {
            let args: T::Args =
                serde_json::from_value(args).map_err(|e| ToolError::InvalidArguments(e.to_string()))?;
            match self.tool.reconcile(args, ctx).await? {
                Some(output) => to_json(output).map(Some),
                None => Ok(None),
            }
        })
    }
}

fn to_json(output: impl Serialize) -> Result<serde_json::Value, ToolError> {
    serde_json::to_value(output)
        .map_err(|e| ToolError::Terminal(format!("the tool's output could not be serialized: {e}")))
}

/// The tools an agent may call, by name.
///
/// ```
/// # use agentflow_tools::{Tool, ToolContext, ToolError, ToolRegistry};
/// # #[derive(serde::Deserialize, schemars::JsonSchema)]
/// # struct Args { city: String }
/// # struct Weather;
/// # impl Tool for Weather {
/// #     type Args = Args;
/// #     type Output = String;
/// #     fn name(&self) -> &str { "weather" }
/// #     fn description(&self) -> &str { "Current weather in a city." }
/// #     async fn call(&self, a: Args, _: ToolContext) -> Result<String, ToolError> { Ok(format!("sunny in {}", a.city)) }
/// # }
/// let mut tools = ToolRegistry::new();
/// tools.add(Weather);
/// let spec = &tools.specs()[0];
/// assert_eq!(spec.name, "weather");
/// assert_eq!(spec.parameters["properties"]["city"]["type"], "string");
/// assert!(tools.get("weather").is_some());
/// ```
#[derive(Clone, Default)]
pub struct ToolRegistry {
    tools: Vec<Arc<dyn DynTool>>,
    by_name: HashMap<String, usize>,
}

impl ToolRegistry {
    /// An empty registry.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a typed tool. A tool with the same name is replaced.
    pub fn add<T: Tool>(&mut self, tool: T) -> &mut Self {
        self.add_dyn(erase(tool))
    }

    /// Adds an erased tool. A tool with the same name is replaced.
    pub fn add_dyn(&mut self, tool: Arc<dyn DynTool>) -> &mut Self {
        match self.by_name.get(tool.name()) {
            Some(&i) => self.tools[i] = tool,
            None => {
                self.by_name.insert(tool.name().to_owned(), self.tools.len());
                self.tools.push(tool);
            }
        }
        self
    }

    /// The tool called `name`.
    pub fn get(&self, name: &str) -> Option<&Arc<dyn DynTool>> {
        self.by_name.get(name).map(|&i| &self.tools[i])
    }

    /// The tools' names, in the order they were added.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.tools.iter().map(|t| t.name())
    }

    /// The specs of every tool, in the order they were added.
    pub fn specs(&self) -> Vec<ToolSpec> {
        self.tools.iter().map(|t| t.spec()).collect()
    }

    /// How many tools there are.
    pub fn len(&self) -> usize {
        self.tools.len()
    }

    /// True when there are none.
    pub fn is_empty(&self) -> bool {
        self.tools.is_empty()
    }
}

impl fmt::Debug for ToolRegistry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.names()).finish()
    }
}
