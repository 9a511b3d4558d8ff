//! Jira Cloud REST v3 tools (feature `jira`).
//!
//! - [`JiraClient`] ([`JiraConfig`]: site URL, account email, API token as a
//!   [`Secret`](crate::Secret)): typed calls for creating issues, commenting, listing and
//!   taking transitions, JQL search (`/rest/api/3/search/jql`, token paging), reading issues and
//!   `myself` (the agent's account id, for ignoring its own webhook events).
//! - [`AdfDoc`]: plain text to the Atlassian Document Format REST v3 requires, and back
//!   ([`to_plain_text`]).
//! - [`JiraError`]: the failures, Jira's [`ErrorCollection`] included, and their mapping onto
//!   [`ToolError`](crate::ToolError) (429/5xx/timeouts retryable, 400 invalid arguments with the
//!   field errors, 401/403/404 terminal).
//! - The tools: [`tools`] or [`register`] add `jira_create_issue`, `jira_add_comment`,
//!   `jira_list_transitions`, `jira_transition_issue`, `jira_search` and `jira_get_issue`.
//!
//! ```no_run
//! use agentflow_tools::ToolRegistry;
//! use agentflow_tools::jira::{self, JiraClient, JiraConfig};
//!
//! # fn main() -> Result<(), jira::JiraError> {
//! let token = std::env::var("JIRA_API_TOKEN").unwrap_or_default();
//! let config = JiraConfig::new("https://your-domain.atlassian.net", "agent@example.com", token)?;
//! let mut registry = ToolRegistry::new();
//! jira::register(&mut registry, JiraClient::new(config)?);
//! assert!(registry.get("jira_transition_issue").is_some());
//! # Ok(())
//! # }
//! ```

mod adf;
mod client;
mod error;
mod tools;
mod types;

pub use adf::{AdfDoc, AdfError, is_doc, to_plain_text};
pub use client::{DEFAULT_MAX_RESPONSE_BYTES, DEFAULT_TIMEOUT, JiraClient, JiraConfig};
pub use error::{ErrorCollection, JiraError};
pub use tools::{
    AddCommentArgs, AddCommentTool, CommentAdded, CreateIssueArgs, CreateIssueTool, CreatedIssueView,
    EFFECT_LABEL_PREFIX, EFFECT_PROPERTY_KEY, GetIssueArgs, GetIssueTool, IssueKeyArgs, IssueView,
    ListTransitionsTool, SearchArgs, SearchIssuesTool, SearchOutput, TransitionDone, TransitionIssueArgs,
    TransitionIssueTool, TransitionView, effect_label, register, tools,
};
pub use types::{
    Comment, CreatedIssue, EntityProperty, Issue, Myself, NewIssue, SearchPage, SearchRequest, StatusRef,
    Transition, User, resolve_transition,
};
