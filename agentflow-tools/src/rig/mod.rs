//! Chat models through [rig-core](https://docs.rs/rig-core) 0.44 (feature `rig`): OpenAI Chat
//! Completions and compatible servers, Anthropic Messages and Ollama, chosen by configuration.
//!
//! - [`ModelConfig`] (serde-deserializable) says which provider, model, address, key and
//!   settings; [`ModelConfig::build`] gives an `Arc<dyn ChatModel>` for
//!   [`react_agent`](crate::react_agent).
//! - [`RigChatModel`] converts our conversation and tool specs to rig's request and rig's
//!   answer (text, tool calls, usage, cost) back, streams text deltas, and classifies
//!   provider errors for the agent's retries.
//!
//! ```no_run
//! use agentflow_tools::rig::ModelConfig;
//! use agentflow_tools::{ReactOptions, ToolRegistry, react_agent};
//!
//! # fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let config: ModelConfig = serde_json::from_str(
//!     r#"{"provider": "anthropic", "model": "claude-haiku-4-5", "api_key_env": "ANTHROPIC_API_KEY"}"#,
//! )?;
//! let agent = react_agent(config.build()?, ToolRegistry::new(), ReactOptions::default())?;
//! # let _ = agent;
//! # Ok(())
//! # }
//! ```

mod config;
mod convert;
mod error;
mod model;

pub use config::{ConfigError, DEFAULT_TIMEOUT, ModelConfig, Provider};
pub use model::RigChatModel;
