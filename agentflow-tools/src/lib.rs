//! # agentflow-tools
//!
//! Tools, chat models and the prebuilt ReAct agent for agentflow (LangGraph's `ToolNode` and
//! `create_react_agent`, typed).
//!
//! - [`tool`]: the [`Tool`] trait (typed arguments with a JSON schema derived by `schemars`),
//!   [`ToolError`] (invalid arguments, retryable, ambiguous, terminal: classed like every failure
//!   by `agentflow_core::Failure`) and the [`ToolRegistry`].
//! - [`message`]: the chat [`Message`] type and the [`add_messages`] reducer (append, replace by
//!   id), usable as `#[state(reducer = add_messages)]`.
//! - [`model`]: the [`ChatModel`] trait, what calls use and cost ([`Usage`], [`Cost`], the
//!   [`PriceTable`]) and the deterministic [`ScriptedModel`].
//! - [`agent_state`]: [`AgentState`], the conversation the tool node and the agent share.
//! - [`breaker`]: per-tool circuit breakers.
//! - [`tool_node`]: [`ToolNode`], which runs tool calls with timeouts, retries, circuit breakers
//!   and journaling, turning every failure into a tool message the model can read.
//! - [`react`]: [`react_agent`], the prebuilt agent graph (`agent` <-> `tools` until the model
//!   answers without tool calls), one `Send` per tool call.
//!
//! ```
//! use std::sync::Arc;
//! use agentflow_core::RunConfig;
//! use agentflow_tools::{
//!     AgentStateUpdate, Message, ReactOptions, ScriptedModel, Tool, ToolCall, ToolContext,
//!     ToolError, ToolRegistry, react_agent,
//! };
//!
//! #[derive(serde::Deserialize, schemars::JsonSchema)]
//! struct AddArgs {
//!     a: i64,
//!     b: i64,
//! }
//!
//! struct Add;
//!
//! impl Tool for Add {
//!     type Args = AddArgs;
//!     type Output = i64;
//!     fn name(&self) -> &str {
//!         "add"
//!     }
//!     fn description(&self) -> &str {
//!         "Adds two integers."
//!     }
//!     async fn call(&self, args: AddArgs, _ctx: ToolContext) -> Result<i64, ToolError> {
//!         Ok(args.a + args.b)
//!     }
//! }
//!
//! # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
//! let model = ScriptedModel::new([
//!     Message::assistant_with_calls("", vec![ToolCall::new("call-1", "add", serde_json::json!({"a": 2, "b": 3}))]),
//!     Message::assistant("2 + 3 = 5"),
//! ]);
//! let mut tools = ToolRegistry::new();
//! tools.add(Add);
//! let agent = react_agent(Arc::new(model), tools, ReactOptions::default())?;
//! let out = agent
//!     .invoke(AgentStateUpdate::default().messages(vec![Message::user("what is 2 + 3?")]), RunConfig::new())
//!     .await?;
//! assert_eq!(out.state.messages.len(), 4);
//! assert_eq!(out.state.messages[2].content(), "5");
//! assert_eq!(out.state.messages[3].content(), "2 + 3 = 5");
//! # Ok::<_, Box<dyn std::error::Error>>(())
//! # }).unwrap();
//! ```
#![warn(missing_docs)]
#![cfg_attr(not(test), warn(clippy::unwrap_used))]

pub mod agent_state;
pub mod breaker;
#[cfg(feature = "fetch")]
pub mod fetch;
// Crate-private: its signatures carry reqwest types, which are not part of this crate's API.
#[cfg(feature = "http-client")]
mod http;
#[cfg(feature = "jira")]
pub mod jira;
pub mod message;
pub mod model;
pub mod react;
#[cfg(feature = "rig")]
pub mod rig;
#[cfg(feature = "slack")]
pub mod slack;
#[cfg(feature = "sql")]
pub mod sql;
pub mod tool;
pub mod tool_node;

pub use agent_state::{AgentState, AgentStateUpdate};
pub use breaker::{BreakerConfig, CircuitBreakers, CircuitState};
pub use message::{Message, ToolCall, add_messages};
pub use model::{ChatModel, ChatRequest, ChatResponse, ModelError, ScriptedModel, Usage};
pub use model::{Cost, Price, PriceTable, TokenChunk};
pub use react::{ReactOptions, ToolInvocation, react_agent};
pub use tool::{DynTool, Idempotency, Tool, ToolContext, ToolError, ToolRegistry, ToolSpec};
pub use tool_node::{ToolNode, ToolNodeOptions};

#[cfg(feature = "http-client")]
pub use http::Secret;
