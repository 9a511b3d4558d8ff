//! [`SlackError`]: what can go wrong calling the Slack Web API, and how each failure maps onto
//! [`ToolError`] (retry or not).

use std::time::Duration;

use agentflow_core::Failure;
use reqwest::StatusCode;
use reqwest::header::{HeaderMap, HeaderValue, RETRY_AFTER};

use crate::http;
use crate::tool::ToolError;

/// The name HTTP plumbing errors are reported under.
pub(crate) const BACKEND: &str = "slack";

/// A failed Slack Web API call.
///
/// Convert it with `ToolError::from` (or `?` in a tool): rate limits, server errors, timeouts
/// and Slack's transient error codes become [`ToolError::Retryable`], error codes that mean the
/// arguments were wrong become [`ToolError::InvalidArguments`], and everything else (bad token,
/// missing scope, unknown channel…) [`ToolError::Terminal`], with a message that names the code.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SlackError {
    /// Slack answered `{"ok": false, "error": "<code>"}` (usually with HTTP 200).
    #[error(transparent)]
    Api(Box<ApiError>),
    /// HTTP 429: the method's rate limit for this workspace was hit.
    #[error("slack {method} is rate limited{}", wait_suffix(.retry_after))]
    RateLimited {
        /// The Web API method.
        method: String,
        /// The `Retry-After` delay, when Slack gave one.
        retry_after: Option<Duration>,
    },
    /// Any other non-2xx HTTP status (Slack sends 5xx when it is unavailable).
    #[error("slack {method} answered HTTP {status}{}", detail_suffix(.detail))]
    Status {
        /// The Web API method.
        method: String,
        /// The HTTP status.
        status: StatusCode,
        /// The `Retry-After` delay, when given.
        retry_after: Option<Duration>,
        /// The start of the response body, for diagnostics.
        detail: String,
    },
    /// No response: connection refused, DNS, TLS, timeout.
    #[error("slack {method} request failed: {source}")]
    Transport {
        /// The Web API method.
        method: String,
        /// What reqwest reported (it never includes headers, so never the token).
        #[source]
        source: reqwest::Error,
    },
    /// The response body could not be read: larger than the configured limit, or the
    /// connection broke while reading it.
    #[error("slack {method}: {source}")]
    Body {
        /// The Web API method.
        method: String,
        /// The error from [`http::read_limited`].
        #[source]
        source: ToolError,
    },
    /// The response was not the JSON Slack documents (not JSON, no `ok`, a missing field).
    #[error("slack {method} sent a malformed response: {detail}")]
    Malformed {
        /// The Web API method.
        method: String,
        /// What was wrong with it.
        detail: String,
    },
    /// The client could not be built (bad base URL, TLS setup).
    #[error("slack client configuration: {0}")]
    Config(String),
}

/// The details of an `{"ok": false}` answer.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
#[error("{}", api_message(.method, .error, .needed.as_deref(), .provided.as_deref(), .messages))]
#[non_exhaustive]
pub struct ApiError {
    /// The Web API method, e.g. `chat.postMessage`.
    pub method: String,
    /// Slack's error code, e.g. `channel_not_found`.
    pub error: String,
    /// The scope(s) the method needs (given with `missing_scope`).
    pub needed: Option<String>,
    /// The scopes the token has (given with `missing_scope`).
    pub provided: Option<String>,
    /// `warning` and `response_metadata.warnings`.
    pub warnings: Vec<String>,
    /// `response_metadata.messages`: details, e.g. which block was invalid.
    pub messages: Vec<String>,
}

impl ApiError {
    /// An error with just the `method` and Slack's `error` code.
    pub fn new(method: impl Into<String>, error: impl Into<String>) -> Self {
        ApiError {
            method: method.into(),
            error: error.into(),
            needed: None,
            provided: None,
            warnings: Vec::new(),
            messages: Vec::new(),
        }
    }
}

impl SlackError {
    /// Slack's error code for a [`SlackError::Api`] error (`"ratelimited"` for HTTP 429).
    pub fn code(&self) -> Option<&str> {
        match self {
            SlackError::Api(api) => Some(&api.error),
            SlackError::RateLimited { .. } => Some("ratelimited"),
            _ => None,
        }
    }

    /// True when trying again later may succeed (what `ToolError::from` makes retryable).
    pub fn is_retryable(&self) -> bool {
        match self {
            SlackError::Api(api) => is_transient_code(&api.error),
            SlackError::RateLimited { .. } => true,
            SlackError::Status { status, .. } => is_retryable_status(*status),
            SlackError::Transport { source, .. } => {
                source.is_timeout() || source.is_connect() || source.is_request()
            }
            SlackError::Body { source, .. } => source.is_retryable(),
            SlackError::Malformed { .. } | SlackError::Config(_) => false,
        }
    }
}

/// Error codes Slack documents as temporary: the same call may succeed later.
const TRANSIENT_CODES: &[&str] = &[
    "ratelimited",
    "rate_limited",
    "internal_error",
    "fatal_error",
    "service_unavailable",
    "request_timeout",
    "team_added_to_org",
];

/// Transient codes after which Slack documents that "some aspect of the operation" may have
/// succeeded: a retry of a post could post twice.
const AMBIGUOUS_CODES: &[&str] = &["internal_error", "fatal_error"];

/// Error codes that mean the call itself was wrong: the model can fix its arguments.
const ARGUMENT_CODES: &[&str] = &[
    "no_text",
    "msg_too_long",
    "msg_blocks_too_long",
    "invalid_blocks",
    "invalid_blocks_format",
    "invalid_attachments",
    "too_many_attachments",
    "markdown_text_conflict",
    "invalid_cursor",
    "invalid_ts_latest",
    "invalid_ts_oldest",
    "invalid_arguments",
    "invalid_arg_name",
    "invalid_array_arg",
    "invalid_limit",
];

fn is_transient_code(code: &str) -> bool {
    TRANSIENT_CODES.contains(&code)
}

fn is_retryable_status(status: StatusCode) -> bool {
    status == StatusCode::TOO_MANY_REQUESTS
        || status == StatusCode::REQUEST_TIMEOUT
        || status.is_server_error()
}

/// A short explanation of the common error codes, so the model (or the operator reading the
/// tool message) knows what to do about it.
fn hint(code: &str) -> Option<&'static str> {
    Some(match code {
        "invalid_auth" | "not_authed" => "the bot token is missing or invalid",
        "token_revoked" | "token_expired" => "the bot token was revoked or has expired",
        "account_inactive" => "the bot's workspace account is deactivated",
        "missing_scope" => "the bot token lacks a required OAuth scope",
        "not_allowed_token_type" => "this method needs a different token type",
        "channel_not_found" => {
            "no such channel, or the bot cannot see it; pass a channel ID such as C0123456789"
        }
        "not_in_channel" => "the bot is not a member of the channel; invite it first",
        "is_archived" => "the channel is archived",
        "restricted_action" => "the workspace forbids the bot from posting here",
        "thread_not_found" => "no thread with that ts in the channel",
        "message_not_found" => "no message with that ts in the channel",
        "cant_update_message" => "the bot can only update its own messages",
        "edit_window_closed" => "the message is too old to be edited",
        "user_not_found" => "no such user; pass a user ID such as U0123456789",
        "user_not_visible" => "the bot is not allowed to see this user",
        "no_text" => "give a text (or blocks)",
        "msg_too_long" => "the text is too long (Slack truncates at 40,000 characters)",
        "invalid_blocks" | "invalid_blocks_format" => "the blocks are not valid Block Kit JSON",
        "invalid_cursor" => "the cursor is not one Slack returned",
        "invalid_ts_latest" | "invalid_ts_oldest" => "timestamps look like 1512085950.000216",
        "ratelimited" | "rate_limited" => "too many requests; wait before retrying",
        "internal_error" | "fatal_error" | "service_unavailable" | "request_timeout" => {
            "a temporary problem on Slack's side"
        }
        _ => return None,
    })
}

fn api_message(
    method: &str,
    code: &str,
    needed: Option<&str>,
    provided: Option<&str>,
    messages: &[String],
) -> String {
    let mut out = format!("slack {method} failed: {code}");
    if let Some(hint) = hint(code) {
        out.push_str(" (");
        out.push_str(hint);
        out.push(')');
    }
    if let Some(needed) = needed {
        out.push_str("; needed scope: ");
        out.push_str(needed);
    }
    if let Some(provided) = provided {
        out.push_str("; token has: ");
        out.push_str(provided);
    }
    if !messages.is_empty() {
        out.push_str("; ");
        out.push_str(&messages.join("; "));
    }
    out
}

fn wait_suffix(retry_after: &Option<Duration>) -> String {
    match retry_after {
        Some(delay) => format!(" (retry after {}s)", delay.as_secs_f64()),
        None => String::new(),
    }
}

fn detail_suffix(detail: &str) -> String {
    if detail.is_empty() {
        String::new()
    } else {
        format!(": {detail}")
    }
}

impl From<SlackError> for ToolError {
    fn from(error: SlackError) -> Self {
        let message = error.to_string();
        match error {
            SlackError::Api(api) if AMBIGUOUS_CODES.contains(&api.error.as_str()) => {
                ToolError::ambiguous(message, None)
            }
            SlackError::Api(api) if is_transient_code(&api.error) => ToolError::retryable(message),
            SlackError::Api(api) if ARGUMENT_CODES.contains(&api.error.as_str()) => {
                ToolError::InvalidArguments(message)
            }
            SlackError::Api(_) | SlackError::Malformed { .. } | SlackError::Config(_) => {
                ToolError::terminal(message)
            }
            SlackError::RateLimited { retry_after, .. } => ToolError::Retryable { message, retry_after },
            SlackError::Status {
                method,
                status,
                retry_after,
                detail,
            } => {
                // Reuse the shared status policy; only the delay survives from the headers.
                let mut headers = HeaderMap::new();
                if let Some(delay) = retry_after {
                    let secs = delay.as_secs() + u64::from(delay.subsec_nanos() > 0);
                    headers.insert(RETRY_AFTER, HeaderValue::from(secs));
                }
                http::status_error(&format!("{BACKEND} {method}"), status, &headers, &detail)
            }
            SlackError::Transport { method, source } => {
                http::send_error(&format!("{BACKEND} {method}"), source)
            }
            SlackError::Body { source, .. } => source,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn api(code: &str) -> SlackError {
        SlackError::Api(Box::new(ApiError::new("chat.postMessage", code)))
    }

    #[test]
    fn codes_map_to_the_right_tool_error() {
        // Slack documents that part of the operation may have succeeded before these codes.
        for code in ["internal_error", "fatal_error"] {
            assert!(
                matches!(ToolError::from(api(code)), ToolError::Ambiguous { .. }),
                "{code}"
            );
        }
        assert!(matches!(
            ToolError::from(api("service_unavailable")),
            ToolError::Retryable { .. }
        ));
        assert!(matches!(
            ToolError::from(api("ratelimited")),
            ToolError::Retryable { .. }
        ));
        assert!(matches!(
            ToolError::from(api("invalid_blocks")),
            ToolError::InvalidArguments(_)
        ));
        for code in [
            "invalid_auth",
            "not_authed",
            "token_revoked",
            "channel_not_found",
            "some_new_code",
        ] {
            match ToolError::from(api(code)) {
                ToolError::Terminal(message) => assert!(message.contains(code), "{message}"),
                other => panic!("{code}: {other:?}"),
            }
        }
    }

    #[test]
    fn missing_scope_names_the_needed_scope() {
        let mut api = ApiError::new("conversations.history", "missing_scope");
        api.needed = Some("channels:history".into());
        api.provided = Some("chat:write".into());
        let error = SlackError::Api(Box::new(api));
        assert!(!error.is_retryable());
        assert_eq!(
            ToolError::from(error),
            ToolError::terminal(
                "slack conversations.history failed: missing_scope (the bot token lacks a required OAuth \
                 scope); needed scope: channels:history; token has: chat:write"
            )
        );
    }

    #[test]
    fn statuses_reuse_the_shared_policy() {
        let error = SlackError::Status {
            method: "auth.test".into(),
            status: StatusCode::SERVICE_UNAVAILABLE,
            retry_after: Some(Duration::from_millis(2500)),
            detail: String::new(),
        };
        assert!(error.is_retryable());
        // A 5xx came after the request was sent: Slack may have acted.
        assert_eq!(
            ToolError::from(error),
            ToolError::ambiguous(
                "slack auth.test answered HTTP 503 Service Unavailable",
                Some(Duration::from_secs(3))
            )
        );
        let error = SlackError::Status {
            method: "auth.test".into(),
            status: StatusCode::NOT_FOUND,
            retry_after: None,
            detail: "no such method".into(),
        };
        assert_eq!(
            ToolError::from(error),
            ToolError::terminal("slack auth.test answered HTTP 404 Not Found: no such method")
        );
    }
}
