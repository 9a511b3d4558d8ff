//! [`SlackClient`]: typed calls to the Slack Web API with a bot token.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use reqwest::StatusCode;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;
use url::Url;

use super::error::{ApiError, BACKEND, SlackError};
use super::types::{
    AuthTest, HistoryRequest, MessagePage, Paged, PostMessage, PostedMessage, RepliesRequest, SlackMessage,
    UpdateMessage, UpdatedMessage, User,
};
use crate::http::{self, Secret};

/// Slack's Web API root.
pub const DEFAULT_BASE_URL: &str = "https://slack.com/api/";
/// The default whole-request timeout.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);
/// The default limit on a response body (4 MiB).
pub const DEFAULT_MAX_RESPONSE_BYTES: usize = 4 * 1024 * 1024;

/// The page size the `*_all` helpers ask for when the request sets none.
const DEFAULT_PAGE_SIZE: u32 = 200;
/// A backstop against a server that keeps handing out cursors.
const MAX_PAGES: usize = 1000;
/// How much of an error body is kept for diagnostics.
const DETAIL_BYTES: usize = 1024;
const DETAIL_CHARS: usize = 200;

/// A Slack Web API client authenticated with a bot token (`xoxb-…`).
///
/// Cheap to clone (the connection pool is shared). Its `Debug` never shows the token.
///
/// ```no_run
/// use agentflow_tools::slack::{PostMessage, SlackClient};
///
/// # async fn demo() -> Result<(), agentflow_tools::slack::SlackError> {
/// let slack = SlackClient::builder(std::env::var("SLACK_BOT_TOKEN").unwrap_or_default())
///     .timeout(std::time::Duration::from_secs(10))
///     .build()?;
/// let me = slack.auth_test().await?;
/// let posted = slack
///     .chat_post_message(&PostMessage::new("C0123456789", "Deploy finished").in_thread("1515449522.000016"))
///     .await?;
/// println!("{} posted {}", me.user_id, posted.ts);
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct SlackClient {
    inner: Arc<Inner>,
}

struct Inner {
    http: reqwest::Client,
    base_url: Url,
    token: Secret,
    timeout: Duration,
    max_response_bytes: usize,
}

impl fmt::Debug for SlackClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SlackClient")
            .field("base_url", &self.inner.base_url.as_str())
            .field("token", &self.inner.token)
            .field("timeout", &self.inner.timeout)
            .field("max_response_bytes", &self.inner.max_response_bytes)
            .finish()
    }
}

/// Configures a [`SlackClient`]; see [`SlackClient::builder`].
#[derive(Clone)]
pub struct SlackClientBuilder {
    base_url: String,
    token: Secret,
    timeout: Duration,
    max_response_bytes: usize,
}

impl fmt::Debug for SlackClientBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SlackClientBuilder")
            .field("base_url", &self.base_url)
            .field("token", &self.token)
            .field("timeout", &self.timeout)
            .field("max_response_bytes", &self.max_response_bytes)
            .finish()
    }
}

impl SlackClientBuilder {
    /// The Web API root, [`DEFAULT_BASE_URL`] by default (point it at a fake server in tests).
    /// A missing trailing `/` is added.
    pub fn base_url(mut self, base_url: impl Into<String>) -> Self {
        self.base_url = base_url.into();
        self
    }

    /// The whole-request timeout, [`DEFAULT_TIMEOUT`] by default.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// The largest response body accepted, [`DEFAULT_MAX_RESPONSE_BYTES`] by default.
    pub fn max_response_bytes(mut self, limit: usize) -> Self {
        self.max_response_bytes = limit;
        self
    }

    /// Builds the client: [`SlackError::Config`] for an empty token, or a base URL that is not
    /// an absolute http(s) URL, carries user info, or is plain `http` to a host other than
    /// loopback (the token would travel unencrypted).
    pub fn build(self) -> Result<SlackClient, SlackError> {
        if self.token.expose().trim().is_empty() {
            return Err(SlackError::Config("the bot token is empty".into()));
        }
        let mut raw = self.base_url;
        if !raw.ends_with('/') {
            // Without it `Url::join` would replace the last path segment instead of appending.
            raw.push('/');
        }
        let base_url =
            Url::parse(&raw).map_err(|e| SlackError::Config(format!("invalid base URL {raw:?}: {e}")))?;
        if !matches!(base_url.scheme(), "http" | "https") || base_url.cannot_be_a_base() {
            return Err(SlackError::Config(format!(
                "the base URL {raw:?} is not an http(s) URL"
            )));
        }
        if !base_url.username().is_empty() || base_url.password().is_some() {
            return Err(SlackError::Config(
                "the base URL must not contain credentials".into(),
            ));
        }
        http::check_credential_url(&base_url).map_err(SlackError::Config)?;
        let http = http::client(self.timeout).map_err(|e| SlackError::Config(e.to_string()))?;
        Ok(SlackClient {
            inner: Arc::new(Inner {
                http,
                base_url,
                token: self.token,
                timeout: self.timeout,
                max_response_bytes: self.max_response_bytes,
            }),
        })
    }
}

impl SlackClient {
    /// A builder with the bot `token` and the defaults.
    pub fn builder(token: impl Into<Secret>) -> SlackClientBuilder {
        SlackClientBuilder {
            base_url: DEFAULT_BASE_URL.to_owned(),
            token: token.into(),
            timeout: DEFAULT_TIMEOUT,
            max_response_bytes: DEFAULT_MAX_RESPONSE_BYTES,
        }
    }

    /// A client for slack.com with the bot `token` and the defaults.
    pub fn new(token: impl Into<Secret>) -> Result<Self, SlackError> {
        Self::builder(token).build()
    }

    /// The Web API root this client calls.
    pub fn base_url(&self) -> &Url {
        &self.inner.base_url
    }

    /// `auth.test`: checks the token and says who the bot is.
    pub async fn auth_test(&self) -> Result<AuthTest, SlackError> {
        self.call_get("auth.test", &[]).await
    }

    /// `chat.postMessage` (scope `chat:write`). Not idempotent: Slack has no deduplication key,
    /// so a retry after a timeout may post twice.
    pub async fn chat_post_message(&self, message: &PostMessage) -> Result<PostedMessage, SlackError> {
        self.call_post("chat.postMessage", message).await
    }

    /// `chat.update` (scope `chat:write`): replaces the text (and blocks) of a bot message.
    pub async fn chat_update(&self, update: &UpdateMessage) -> Result<UpdatedMessage, SlackError> {
        self.call_post("chat.update", update).await
    }

    /// One page of `conversations.history` (newest first); continue with its `next_cursor`.
    pub async fn conversations_history(&self, request: &HistoryRequest) -> Result<MessagePage, SlackError> {
        self.one_page(request).await
    }

    /// `conversations.history`, following cursors until `max_messages` messages are collected
    /// or there are no more. The result's `next_cursor` says where to continue.
    pub async fn conversations_history_all(
        &self,
        request: &HistoryRequest,
        max_messages: usize,
    ) -> Result<MessagePage, SlackError> {
        self.all_pages(request, max_messages).await
    }

    /// One page of `conversations.replies`: the parent first, then replies oldest first.
    pub async fn conversations_replies(&self, request: &RepliesRequest) -> Result<MessagePage, SlackError> {
        self.one_page(request).await
    }

    /// `conversations.replies`, following cursors until `max_messages` messages are collected
    /// or there are no more.
    pub async fn conversations_replies_all(
        &self,
        request: &RepliesRequest,
        max_messages: usize,
    ) -> Result<MessagePage, SlackError> {
        self.all_pages(request, max_messages).await
    }

    async fn one_page<R: Paged>(&self, request: &R) -> Result<MessagePage, SlackError> {
        let mut query = request.query();
        if let Some(cursor) = request.cursor() {
            query.push(("cursor", cursor.to_owned()));
        }
        self.page(R::METHOD, &query).await
    }

    async fn all_pages<R: Paged>(&self, request: &R, max_messages: usize) -> Result<MessagePage, SlackError> {
        let cursor = request.cursor().map(str::to_owned);
        self.collect(R::METHOD, request.query(), request.limit(), cursor, max_messages)
            .await
    }

    /// `users.info` (scope `users:read`; the email needs `users:read.email`).
    pub async fn users_info(&self, user: &str) -> Result<User, SlackError> {
        #[derive(serde::Deserialize)]
        struct Response {
            user: User,
        }
        let response: Response = self.call_get("users.info", &[("user", user.to_owned())]).await?;
        Ok(response.user)
    }

    /// Calls any read method with query arguments and deserializes the `ok` response into `T`
    /// (for methods this client has no typed call for).
    pub async fn call_get<T: DeserializeOwned>(
        &self,
        method: &str,
        query: &[(&str, String)],
    ) -> Result<T, SlackError> {
        let url = self.url(method)?;
        self.send(method, self.inner.http.get(url).query(query)).await
    }

    /// Calls any write method with a JSON body (`application/json; charset=utf-8`) and
    /// deserializes the `ok` response into `T`.
    pub async fn call_post<T: DeserializeOwned>(
        &self,
        method: &str,
        body: &impl Serialize,
    ) -> Result<T, SlackError> {
        let url = self.url(method)?;
        let body = serde_json::to_vec(body).map_err(|e| SlackError::Malformed {
            method: method.to_owned(),
            detail: format!("the request could not be serialized: {e}"),
        })?;
        let request = self
            .inner
            .http
            .post(url)
            // Slack warns (`missing_charset`) when the charset is left out.
            .header(reqwest::header::CONTENT_TYPE, "application/json; charset=utf-8")
            .body(body);
        self.send(method, request).await
    }

    fn url(&self, method: &str) -> Result<Url, SlackError> {
        // Method names are dotted words; anything else could walk the path out of the API root.
        let well_formed = method.starts_with(|c: char| c.is_ascii_alphanumeric())
            && method
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '_');
        if !well_formed {
            return Err(SlackError::Config(format!(
                "invalid Web API method name {method:?}"
            )));
        }
        self.inner
            .base_url
            .join(method)
            .map_err(|e| SlackError::Config(format!("invalid method URL for {method}: {e}")))
    }

    async fn page(&self, method: &str, query: &[(&str, String)]) -> Result<MessagePage, SlackError> {
        #[derive(serde::Deserialize)]
        struct Metadata {
            #[serde(default)]
            next_cursor: Option<String>,
        }
        #[derive(serde::Deserialize)]
        struct Page {
            messages: Vec<SlackMessage>,
            #[serde(default)]
            response_metadata: Option<Metadata>,
        }
        let page: Page = self.call_get(method, query).await?;
        // An empty string is how Slack says "no more pages".
        let next_cursor = page
            .response_metadata
            .and_then(|m| m.next_cursor)
            .filter(|c| !c.is_empty());
        Ok(MessagePage {
            messages: page.messages,
            next_cursor,
        })
    }

    async fn collect(
        &self,
        method: &str,
        query: Vec<(&'static str, String)>,
        page_size: Option<u32>,
        mut cursor: Option<String>,
        max_messages: usize,
    ) -> Result<MessagePage, SlackError> {
        let mut out = MessagePage {
            messages: Vec::new(),
            next_cursor: cursor.clone(),
        };
        let page_size = page_size.unwrap_or(DEFAULT_PAGE_SIZE).max(1);
        let mut seen = std::collections::HashSet::new();
        for _ in 0..MAX_PAGES {
            let remaining = max_messages - out.messages.len();
            if remaining == 0 {
                break;
            }
            // Never ask for more than is still wanted, so no message is skipped between pages.
            let limit = page_size.min(u32::try_from(remaining).unwrap_or(u32::MAX));
            let mut page_query: Vec<(&str, String)> =
                query.iter().filter(|(k, _)| *k != "limit").cloned().collect();
            page_query.push(("limit", limit.to_string()));
            if let Some(cursor) = &cursor {
                page_query.push(("cursor", cursor.clone()));
            }
            let mut page = self.page(method, &page_query).await?;
            page.messages.truncate(remaining);
            out.messages.append(&mut page.messages);
            out.next_cursor = page.next_cursor.clone();
            match page.next_cursor {
                // A cursor seen before would loop forever.
                Some(next) if seen.insert(next.clone()) => cursor = Some(next),
                _ => break,
            }
        }
        Ok(out)
    }

    async fn send<T: DeserializeOwned>(
        &self,
        method: &str,
        request: reqwest::RequestBuilder,
    ) -> Result<T, SlackError> {
        tracing::debug!(method, "slack web api call");
        let response = request
            .bearer_auth(self.inner.token.expose())
            .send()
            .await
            .map_err(|source| SlackError::Transport {
                method: method.to_owned(),
                source,
            })?;
        let status = response.status();
        tracing::debug!(method, %status, "slack web api response");
        if status == StatusCode::TOO_MANY_REQUESTS {
            return Err(SlackError::RateLimited {
                method: method.to_owned(),
                retry_after: http::retry_after(response.headers()),
            });
        }
        if !status.is_success() {
            let retry_after = http::retry_after(response.headers());
            let detail = http::error_detail(BACKEND, response, DETAIL_BYTES, DETAIL_CHARS).await;
            return Err(SlackError::Status {
                method: method.to_owned(),
                status,
                retry_after,
                detail,
            });
        }
        let body = http::read_limited(BACKEND, response, self.inner.max_response_bytes)
            .await
            .map_err(|source| SlackError::Body {
                method: method.to_owned(),
                source,
            })?;
        let value: Value = serde_json::from_slice(&body).map_err(|e| SlackError::Malformed {
            method: method.to_owned(),
            detail: format!("not JSON ({e}): {}", http::snippet(&body, DETAIL_CHARS)),
        })?;
        let Some(ok) = value.get("ok").and_then(Value::as_bool) else {
            return Err(SlackError::Malformed {
                method: method.to_owned(),
                detail: "no boolean `ok` field".into(),
            });
        };
        let warnings = warnings(&value);
        if !ok {
            let text = |key: &str| value.get(key).and_then(Value::as_str).map(str::to_owned);
            return Err(SlackError::Api(Box::new(ApiError {
                method: method.to_owned(),
                error: text("error").unwrap_or_else(|| "unknown_error".into()),
                needed: text("needed"),
                provided: text("provided"),
                warnings,
                messages: strings(value.pointer("/response_metadata/messages")),
            })));
        }
        if !warnings.is_empty() {
            tracing::warn!(method, ?warnings, "slack web api warnings");
        }
        T::deserialize(&value).map_err(|e| SlackError::Malformed {
            method: method.to_owned(),
            detail: e.to_string(),
        })
    }
}

/// `warning` (comma-separated) and `response_metadata.warnings`, deduplicated.
fn warnings(value: &Value) -> Vec<String> {
    let mut out: Vec<String> = value
        .get("warning")
        .and_then(Value::as_str)
        .map(|w| {
            w.split(',')
                .map(|s| s.trim().to_owned())
                .filter(|s| !s.is_empty())
                .collect()
        })
        .unwrap_or_default();
    for warning in strings(value.pointer("/response_metadata/warnings")) {
        if !out.contains(&warning) {
            out.push(warning);
        }
    }
    out
}

fn strings(value: Option<&Value>) -> Vec<String> {
    value
        .and_then(Value::as_array)
        .map(|items| {
            items
                .iter()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base_url_gets_a_trailing_slash_and_methods_append() {
        let client = SlackClient::builder("xoxb-1")
            .base_url("http://127.0.0.1:9/api")
            .build()
            .unwrap();
        assert_eq!(
            client.url("chat.postMessage").unwrap().as_str(),
            "http://127.0.0.1:9/api/chat.postMessage"
        );
        assert!(client.url("../admin").is_err());
        assert!(client.url("..").is_err());
        assert!(client.url("https://evil.example/x").is_err());
    }

    #[test]
    fn bad_configs_are_refused() {
        assert!(matches!(SlackClient::new(""), Err(SlackError::Config(_))));
        let bad = SlackClient::builder("xoxb-1")
            .base_url("ftp://example.com/")
            .build();
        assert!(matches!(bad, Err(SlackError::Config(_))));
        let bad = SlackClient::builder("xoxb-1").base_url("not a url").build();
        assert!(matches!(bad, Err(SlackError::Config(_))));
    }

    #[test]
    fn plain_http_is_refused_unless_loopback() {
        let build = |url: &str| SlackClient::builder("xoxb-1").base_url(url).build();
        for refused in [
            "http://example.com/api/",
            "HTTP://slack.com/api/",
            "http://127.0.0.1.evil.com/api/",
            "http://127.0.0.1@evil.com/api/",
            "https://user:secret@slack.com/api/",
        ] {
            match build(refused) {
                Err(SlackError::Config(message)) => assert!(!message.contains("secret"), "{message}"),
                other => panic!("{refused}: {other:?}"),
            }
        }
        for accepted in [
            "https://slack.com/api/",
            "http://127.0.0.1:9/api/",
            "http://[::1]:9/api/",
            "http://localhost:9/",
        ] {
            assert!(build(accepted).is_ok(), "{accepted}");
        }
    }

    #[test]
    fn warnings_merge_both_places() {
        let value = serde_json::json!({
            "ok": true,
            "warning": "missing_charset,superfluous_charset",
            "response_metadata": {"warnings": ["missing_charset", "other"]}
        });
        assert_eq!(
            warnings(&value),
            ["missing_charset", "superfluous_charset", "other"]
        );
    }

    #[test]
    fn snippets_are_short_and_single_line() {
        assert_eq!(
            http::snippet(b"<html>\n  <body>oops</body>\n</html>", DETAIL_CHARS),
            "<html> <body>oops</body> </html>"
        );
        let long = "x".repeat(500);
        assert_eq!(
            http::snippet(long.as_bytes(), DETAIL_CHARS).chars().count(),
            DETAIL_CHARS + 1
        );
    }
}
