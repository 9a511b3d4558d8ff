//! Jira failures: the `ErrorCollection` body, [`JiraError`], and its mapping onto
//! [`ToolError`].

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use agentflow_core::Failure;
use reqwest::StatusCode;
use reqwest::header::HeaderMap;
use serde::Serialize;
use serde_json::Value;

use crate::http;
use crate::tool::ToolError;

/// The name the shared HTTP helpers put in their messages.
pub(crate) const BACKEND: &str = "Jira";

/// How much of a non-JSON error body (an HTML error page, a proxy's text) is kept.
const RAW_DETAIL_CHARS: usize = 300;

/// Jira's error body: `{"errorMessages":[...],"errors":{"field":"message"}}`.
///
/// ```
/// use agentflow_tools::jira::ErrorCollection;
///
/// let body = br#"{"errorMessages":["Field 'priority' is required"],"errors":{"summary":"You must specify a summary of the issue."}}"#;
/// let errors = ErrorCollection::from_body(body);
/// assert_eq!(errors.error_messages, ["Field 'priority' is required"]);
/// assert_eq!(errors.errors["summary"], "You must specify a summary of the issue.");
/// assert_eq!(
///     errors.to_string(),
///     "Field 'priority' is required; summary: You must specify a summary of the issue."
/// );
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct ErrorCollection {
    /// Messages not tied to a field (`errorMessages`).
    #[serde(rename = "errorMessages")]
    pub error_messages: Vec<String>,
    /// Messages per field id (`errors`), e.g. `summary` or `description`.
    pub errors: BTreeMap<String, String>,
}

impl ErrorCollection {
    /// Reads an error body. It tolerates `errorMessages` as a single string and non-string
    /// field messages; a body that is not an `ErrorCollection` at all is kept (shortened) as
    /// the only message, and an empty body gives an empty collection.
    pub fn from_body(body: &[u8]) -> Self {
        let mut collection = ErrorCollection::default();
        match serde_json::from_slice::<Value>(body) {
            Ok(Value::Object(map)) if map.contains_key("errorMessages") || map.contains_key("errors") => {
                match map.get("errorMessages") {
                    Some(Value::Array(items)) => {
                        collection.error_messages = items.iter().map(text_of).collect();
                    }
                    Some(Value::String(message)) => collection.error_messages.push(message.clone()),
                    _ => {}
                }
                if let Some(Value::Object(fields)) = map.get("errors") {
                    collection.errors = fields.iter().map(|(k, v)| (k.clone(), text_of(v))).collect();
                }
            }
            _ => {
                let short = http::snippet(body, RAW_DETAIL_CHARS);
                if !short.is_empty() {
                    collection.error_messages.push(short);
                }
            }
        }
        collection
    }

    /// True when Jira said nothing.
    pub fn is_empty(&self) -> bool {
        self.error_messages.is_empty() && self.errors.is_empty()
    }
}

fn text_of(value: &Value) -> String {
    match value {
        Value::String(text) => text.clone(),
        other => other.to_string(),
    }
}

impl fmt::Display for ErrorCollection {
    /// The messages, then `field: message` per field, separated by `; `.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut first = true;
        let mut sep = |f: &mut fmt::Formatter<'_>| {
            let result = if first { Ok(()) } else { f.write_str("; ") };
            first = false;
            result
        };
        for message in &self.error_messages {
            sep(f)?;
            f.write_str(message)?;
        }
        for (field, message) in &self.errors {
            sep(f)?;
            write!(f, "{field}: {message}")?;
        }
        Ok(())
    }
}

/// `": <errors>"`, or nothing when the collection is empty (for error messages).
struct Detail<'a>(&'a ErrorCollection);

impl fmt::Display for Detail<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.is_empty() {
            Ok(())
        } else {
            write!(f, ": {}", self.0)
        }
    }
}

/// `", <reason>"` for a rate limit with a `RateLimit-Reason`.
struct Reason<'a>(&'a Option<String>);

impl fmt::Display for Reason<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Some(reason) => write!(f, ", {reason}"),
            None => Ok(()),
        }
    }
}

/// A failed Jira call.
///
/// Converts into [`ToolError`]: a rate limit, 5xx, 408 and transport failures (timeouts,
/// refused connections) are retryable, 400 and invalid input become
/// [`ToolError::InvalidArguments`] (with Jira's field errors, so the model can fix its call),
/// everything else is terminal.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum JiraError {
    /// The client configuration is unusable (base URL, HTTP client).
    #[error("invalid Jira configuration: {0}")]
    Config(String),
    /// An argument was refused before anything was sent (e.g. a malformed issue key).
    #[error("{0}")]
    InvalidInput(String),
    /// HTTP 400: Jira refused the request (missing or invalid fields, invalid JQL, a transition
    /// that is not available).
    #[error("Jira rejected the request (HTTP 400){}", Detail(errors))]
    BadRequest {
        /// What Jira said.
        errors: ErrorCollection,
    },
    /// HTTP 401: the email or API token is wrong, or the token was revoked.
    #[error(
        "Jira rejected the credentials (HTTP 401): check the account email and API token{}",
        Detail(errors)
    )]
    Unauthorized {
        /// What Jira said.
        errors: ErrorCollection,
    },
    /// HTTP 403: the account lacks a permission for this operation.
    #[error(
        "Jira denied the operation (HTTP 403): the account lacks the permission for it{}",
        Detail(errors)
    )]
    Forbidden {
        /// What Jira said.
        errors: ErrorCollection,
    },
    /// HTTP 404: no such issue, or the account may not see it (Jira does not tell them apart).
    #[error(
        "Jira found no such resource, or the account may not see it (HTTP 404){}",
        Detail(errors)
    )]
    NotFound {
        /// What Jira said.
        errors: ErrorCollection,
    },
    /// HTTP 429: a rate limit.
    #[error("Jira rate limit hit (HTTP 429{}){}", Reason(reason), Detail(errors))]
    RateLimited {
        /// The `Retry-After` delay, when given (not every 429 carries one).
        retry_after: Option<Duration>,
        /// The `RateLimit-Reason` header, e.g. `jira-burst-based`.
        reason: Option<String>,
        /// What Jira said.
        errors: ErrorCollection,
    },
    /// Any other failing status (5xx, 409, 413, 422, an unexpected redirect...).
    #[error("Jira answered HTTP {status}{}", Detail(errors))]
    Status {
        /// The status.
        status: StatusCode,
        /// The `Retry-After` delay, when given (some 503s carry one).
        retry_after: Option<Duration>,
        /// What Jira said.
        errors: ErrorCollection,
    },
    /// No usable response: the connection failed or timed out, or the body was larger than the
    /// configured limit. Holds the shared HTTP layer's classification.
    #[error("{0}")]
    Transport(ToolError),
    /// A success status with a body that is not the documented JSON.
    #[error("Jira sent a malformed response: {0}")]
    Malformed(String),
}

impl JiraError {
    /// The error for a failing `status` with its headers and body.
    pub(crate) fn from_response(status: StatusCode, headers: &HeaderMap, body: &[u8]) -> Self {
        let errors = ErrorCollection::from_body(body);
        match status {
            StatusCode::BAD_REQUEST => JiraError::BadRequest { errors },
            StatusCode::UNAUTHORIZED => JiraError::Unauthorized { errors },
            StatusCode::FORBIDDEN => JiraError::Forbidden { errors },
            StatusCode::NOT_FOUND => JiraError::NotFound { errors },
            StatusCode::TOO_MANY_REQUESTS => JiraError::RateLimited {
                retry_after: http::retry_after(headers),
                reason: headers
                    .get("ratelimit-reason")
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_owned),
                errors,
            },
            status => JiraError::Status {
                status,
                retry_after: http::retry_after(headers),
                errors,
            },
        }
    }

    /// Jira's error body, for the variants that have one.
    pub fn errors(&self) -> Option<&ErrorCollection> {
        match self {
            JiraError::BadRequest { errors }
            | JiraError::Unauthorized { errors }
            | JiraError::Forbidden { errors }
            | JiraError::NotFound { errors }
            | JiraError::RateLimited { errors, .. }
            | JiraError::Status { errors, .. } => Some(errors),
            _ => None,
        }
    }

    /// The HTTP status, for the variants that got a response.
    pub fn status(&self) -> Option<StatusCode> {
        match self {
            JiraError::BadRequest { .. } => Some(StatusCode::BAD_REQUEST),
            JiraError::Unauthorized { .. } => Some(StatusCode::UNAUTHORIZED),
            JiraError::Forbidden { .. } => Some(StatusCode::FORBIDDEN),
            JiraError::NotFound { .. } => Some(StatusCode::NOT_FOUND),
            JiraError::RateLimited { .. } => Some(StatusCode::TOO_MANY_REQUESTS),
            JiraError::Status { status, .. } => Some(*status),
            _ => None,
        }
    }

    /// True for a retryable failure (see [`From<JiraError> for ToolError`](ToolError)).
    pub fn is_retryable(&self) -> bool {
        ToolError::from(self.clone()).is_retryable()
    }
}

impl From<JiraError> for ToolError {
    fn from(error: JiraError) -> Self {
        let message = error.to_string();
        match error {
            JiraError::InvalidInput(_) | JiraError::BadRequest { .. } => ToolError::InvalidArguments(message),
            JiraError::RateLimited { retry_after, .. } => ToolError::Retryable { message, retry_after },
            // The shared classification (5xx and 408 retryable, the rest terminal), keeping the
            // delay read when the response arrived.
            JiraError::Status {
                status,
                retry_after,
                errors,
            } => match http::status_error(BACKEND, status, &HeaderMap::new(), &errors.to_string()) {
                ToolError::Retryable { message, .. } => ToolError::Retryable { message, retry_after },
                ToolError::Ambiguous { message, .. } => ToolError::Ambiguous { message, retry_after },
                other => other,
            },
            JiraError::Transport(error) => error,
            JiraError::Config(_)
            | JiraError::Unauthorized { .. }
            | JiraError::Forbidden { .. }
            | JiraError::NotFound { .. }
            | JiraError::Malformed(_) => ToolError::Terminal(message),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderValue;

    #[test]
    fn error_bodies_are_read_leniently() {
        let single = ErrorCollection::from_body(br#"{"errorMessages":"one","errors":{"n":5}}"#);
        assert_eq!(single.error_messages, ["one"]);
        assert_eq!(single.errors["n"], "5");
        let html = ErrorCollection::from_body(b"<html>\n  <body>Bad   gateway</body></html>");
        assert_eq!(html.error_messages, ["<html> <body>Bad gateway</body></html>"]);
        assert!(ErrorCollection::from_body(b"").is_empty());
        let long = ErrorCollection::from_body("x".repeat(1000).as_bytes());
        assert_eq!(long.error_messages[0].chars().count(), RAW_DETAIL_CHARS + 1);
    }

    #[test]
    fn statuses_map_to_variants_and_tool_errors() {
        let mut headers = HeaderMap::new();
        headers.insert("retry-after", HeaderValue::from_static("4"));
        headers.insert("ratelimit-reason", HeaderValue::from_static("jira-burst-based"));
        let limited = JiraError::from_response(StatusCode::TOO_MANY_REQUESTS, &headers, b"");
        assert_eq!(
            limited.to_string(),
            "Jira rate limit hit (HTTP 429, jira-burst-based)"
        );
        assert_eq!(
            ToolError::from(limited),
            ToolError::retry_after(
                "Jira rate limit hit (HTTP 429, jira-burst-based)",
                Duration::from_secs(4)
            )
        );

        let unavailable = JiraError::from_response(StatusCode::SERVICE_UNAVAILABLE, &headers, b"down");
        assert_eq!(
            ToolError::from(unavailable),
            ToolError::ambiguous(
                "Jira answered HTTP 503 Service Unavailable: down",
                Some(Duration::from_secs(4))
            )
        );
        let conflict = JiraError::from_response(StatusCode::CONFLICT, &HeaderMap::new(), b"");
        assert_eq!(
            ToolError::from(conflict),
            ToolError::terminal("Jira answered HTTP 409 Conflict")
        );

        let bad = JiraError::from_response(
            StatusCode::BAD_REQUEST,
            &HeaderMap::new(),
            br#"{"errorMessages":[],"errors":{"summary":"required"}}"#,
        );
        assert_eq!(bad.status(), Some(StatusCode::BAD_REQUEST));
        assert!(!bad.is_retryable());
        assert_eq!(
            ToolError::from(bad),
            ToolError::InvalidArguments("Jira rejected the request (HTTP 400): summary: required".into())
        );
    }
}
