//! Slack Web API tools (feature `slack`), authenticated with a bot token.
//!
//! - [`SlackClient`]: typed calls (`auth.test`, `chat.postMessage`, `chat.update`,
//!   `conversations.history`, `conversations.replies`, `users.info`) with cursor paging,
//!   bounded responses and a timeout.
//! - [`SlackError`]: every failure, convertible into a [`ToolError`](crate::ToolError)
//!   (rate limits and Slack's transient codes retryable, with `Retry-After`; argument errors
//!   reported as such; auth, scope and channel errors terminal, naming Slack's code).
//! - [`tools`] / [`register`]: the tools for a model (`slack_post_message`,
//!   `slack_update_message`, `slack_channel_history`, `slack_thread_replies`,
//!   `slack_user_info`).
//!
//! ```no_run
//! use agentflow_tools::ToolRegistry;
//! use agentflow_tools::slack::{self, SlackClient};
//!
//! # fn demo() -> Result<(), agentflow_tools::slack::SlackError> {
//! let client = SlackClient::builder(std::env::var("SLACK_BOT_TOKEN").unwrap_or_default()).build()?;
//! let mut tools = ToolRegistry::new();
//! slack::register(&mut tools, client);
//! assert_eq!(tools.len(), 5);
//! # Ok(())
//! # }
//! ```
//!
//! See `docs/backends/slack.md` for the scopes each method needs.

mod client;
mod error;
mod tools;
mod types;

pub use client::{
    DEFAULT_BASE_URL, DEFAULT_MAX_RESPONSE_BYTES, DEFAULT_TIMEOUT, SlackClient, SlackClientBuilder,
};
pub use error::{ApiError, SlackError};
pub use tools::{
    ChannelHistoryArgs, ChannelHistoryTool, EFFECT_EVENT_TYPE, MessageRef, MessageSummary, Messages,
    PostMessageArgs, PostMessageTool, SlackToolOptions, ThreadRepliesArgs, ThreadRepliesTool,
    UpdateMessageArgs, UpdateMessageTool, UserInfoArgs, UserInfoTool, UserSummary, register, tools,
    tools_with_options,
};
pub use types::{
    AuthTest, HistoryRequest, MessagePage, PostMessage, PostedMessage, RepliesRequest, SlackMessage,
    UpdateMessage, UpdatedMessage, User, UserProfile,
};
