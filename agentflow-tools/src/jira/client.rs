//! The Jira Cloud REST v3 client: configuration, Basic auth, bounded responses and the typed
//! calls the tools make.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use reqwest::Method;
use reqwest::header::ACCEPT;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use url::Url;

use super::adf::AdfDoc;
use super::error::{BACKEND, JiraError};
use super::types::{
    Comment, CommentPage, CreatedIssue, EntityProperty, Issue, Myself, NewIssue, RawSearchPage, SearchPage,
    SearchRequest, Transition, Transitions,
};
use crate::http::{self, Secret};

/// The default whole-request timeout.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

/// The default response size limit (4 MiB): a page of issues with large fields fits, a
/// runaway body does not.
pub const DEFAULT_MAX_RESPONSE_BYTES: usize = 4 * 1024 * 1024;

/// How to reach a Jira Cloud site. `Debug` never shows the API token.
///
/// ```
/// use std::time::Duration;
/// use agentflow_tools::jira::JiraConfig;
///
/// let config = JiraConfig::new("https://your-domain.atlassian.net", "agent@example.com", "api-token")?
///     .with_timeout(Duration::from_secs(10));
/// assert!(!format!("{config:?}").contains("api-token"));
/// assert_eq!(config.timeout(), Duration::from_secs(10));
/// # Ok::<_, agentflow_tools::jira::JiraError>(())
/// ```
#[derive(Clone, Debug)]
pub struct JiraConfig {
    base_url: Url,
    email: String,
    api_token: Secret,
    timeout: Duration,
    max_response_bytes: usize,
}

impl JiraConfig {
    /// A config for the site at `base_url` (e.g. `https://your-domain.atlassian.net`; a path
    /// prefix is kept), authenticating as `email` with an Atlassian API token.
    ///
    /// The URL must be `https` (or `http` to a loopback host: `localhost`, `127.0.0.0/8`,
    /// `[::1]`, for a local fake or proxy) and must not carry credentials, a query or a
    /// fragment.
    pub fn new(
        base_url: &str,
        email: impl Into<String>,
        api_token: impl Into<Secret>,
    ) -> Result<Self, JiraError> {
        let base_url = Url::parse(base_url)
            .map_err(|e| JiraError::Config(format!("the base URL {base_url:?} is not a URL: {e}")))?;
        if !matches!(base_url.scheme(), "http" | "https") || base_url.cannot_be_a_base() {
            return Err(JiraError::Config(format!(
                "the base URL {base_url} must be http(s)"
            )));
        }
        if !base_url.username().is_empty() || base_url.password().is_some() {
            // The URL shows up in error messages; credentials belong in the token.
            return Err(JiraError::Config(
                "the base URL must not contain credentials".into(),
            ));
        }
        http::check_credential_url(&base_url).map_err(JiraError::Config)?;
        if base_url.query().is_some() || base_url.fragment().is_some() {
            return Err(JiraError::Config(format!(
                "the base URL {base_url} must not have a query or fragment"
            )));
        }
        let email = email.into();
        if email.trim().is_empty() {
            return Err(JiraError::Config("the account email is empty".into()));
        }
        Ok(JiraConfig {
            base_url,
            email,
            api_token: api_token.into(),
            timeout: DEFAULT_TIMEOUT,
            max_response_bytes: DEFAULT_MAX_RESPONSE_BYTES,
        })
    }

    /// Sets the whole-request timeout (default [`DEFAULT_TIMEOUT`]).
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Sets the largest response body accepted (default [`DEFAULT_MAX_RESPONSE_BYTES`]).
    pub fn with_max_response_bytes(mut self, limit: usize) -> Self {
        self.max_response_bytes = limit;
        self
    }

    /// The site's base URL.
    pub fn base_url(&self) -> &Url {
        &self.base_url
    }

    /// The account email.
    pub fn email(&self) -> &str {
        &self.email
    }

    /// The whole-request timeout.
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// The response size limit in bytes.
    pub fn max_response_bytes(&self) -> usize {
        self.max_response_bytes
    }
}

/// A Jira Cloud REST v3 client (Basic auth with an account email and API token). Cheap to
/// clone; `Debug` never shows the token.
///
/// ```no_run
/// use agentflow_tools::jira::{AdfDoc, JiraClient, JiraConfig, NewIssue, SearchRequest};
///
/// # async fn run() -> Result<(), agentflow_tools::jira::JiraError> {
/// let config = JiraConfig::new("https://your-domain.atlassian.net", "agent@example.com", "api-token")?;
/// let jira = JiraClient::new(config)?;
/// let me = jira.myself().await?;
/// let created = jira
///     .create_issue(&NewIssue::new("ENG", "Task", "Rotate the keys").description_text("Before Friday."))
///     .await?;
/// jira.add_comment(&created.key, &AdfDoc::from_text("On it.")).await?;
/// let open = jira
///     .search_all(SearchRequest::new("project = ENG AND statusCategory != Done").fields(["summary"]), 100)
///     .await?;
/// println!("{} sees {} open issues", me.account_id, open.issues.len());
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct JiraClient {
    inner: Arc<Inner>,
}

struct Inner {
    config: JiraConfig,
    http: reqwest::Client,
}

impl fmt::Debug for JiraClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The config's Debug shows the token as `Secret(***)`.
        f.debug_struct("JiraClient")
            .field("config", &self.inner.config)
            .finish_non_exhaustive()
    }
}

impl JiraClient {
    /// A client for `config`.
    pub fn new(config: JiraConfig) -> Result<Self, JiraError> {
        let http = http::client(config.timeout).map_err(|e| JiraError::Config(e.to_string()))?;
        Ok(JiraClient {
            inner: Arc::new(Inner { config, http }),
        })
    }

    /// The configuration.
    pub fn config(&self) -> &JiraConfig {
        &self.inner.config
    }

    /// The browser URL of an issue (`{base}/browse/{key}`).
    pub fn browse_url(&self, key: &str) -> String {
        let mut url = self.inner.config.base_url.clone();
        if let Ok(mut segments) = url.path_segments_mut() {
            segments.pop_if_empty().extend(["browse", key]);
        }
        url.into()
    }

    /// The account the client authenticates as (`GET /rest/api/3/myself`); its `account_id`
    /// is what self-event filtering compares webhook actors with.
    pub async fn myself(&self) -> Result<Myself, JiraError> {
        let body = self.send(Method::GET, &["myself"], &[], None).await?;
        decode(&body, "myself")
    }

    /// Creates an issue (`POST /rest/api/3/issue`). Not idempotent: Jira has no request key,
    /// so retrying after a timeout can create a duplicate.
    pub async fn create_issue(&self, issue: &NewIssue) -> Result<CreatedIssue, JiraError> {
        let request = json!({ "fields": issue.to_fields() });
        let body = self.send(Method::POST, &["issue"], &[], Some(&request)).await?;
        decode(&body, "created issue")
    }

    /// Gets an issue (`GET /rest/api/3/issue/{key}`) with the given `fields` (empty: Jira's
    /// default, all navigable fields).
    pub async fn get_issue(&self, key: &str, fields: &[&str]) -> Result<Issue, JiraError> {
        check_issue_key(key)?;
        let query: Vec<(&str, String)> = if fields.is_empty() {
            Vec::new()
        } else {
            vec![("fields", fields.join(","))]
        };
        let body = self.send(Method::GET, &["issue", key], &query, None).await?;
        decode(&body, "issue")
    }

    /// Adds a comment (`POST /rest/api/3/issue/{key}/comment`). Not idempotent, like
    /// [`create_issue`](Self::create_issue).
    pub async fn add_comment(&self, key: &str, body: &AdfDoc) -> Result<Comment, JiraError> {
        check_issue_key(key)?;
        let request = json!({ "body": body });
        let body = self
            .send(Method::POST, &["issue", key, "comment"], &[], Some(&request))
            .await?;
        decode(&body, "comment")
    }

    /// Adds a comment carrying entity `properties` (set in the same request, so a comment
    /// never exists without them).
    pub async fn add_comment_with_properties(
        &self,
        key: &str,
        body: &AdfDoc,
        properties: &[EntityProperty],
    ) -> Result<Comment, JiraError> {
        check_issue_key(key)?;
        let request = json!({ "body": body, "properties": properties });
        let body = self
            .send(Method::POST, &["issue", key, "comment"], &[], Some(&request))
            .await?;
        decode(&body, "comment")
    }

    /// The newest `max_results` comments of an issue, newest first, with their entity
    /// properties (`GET /rest/api/3/issue/{key}/comment?orderBy=-created&expand=properties`).
    pub async fn recent_comments(&self, key: &str, max_results: u32) -> Result<Vec<Comment>, JiraError> {
        check_issue_key(key)?;
        let query = [
            ("orderBy", "-created".to_owned()),
            ("expand", "properties".to_owned()),
            ("maxResults", max_results.max(1).to_string()),
        ];
        let body = self
            .send(Method::GET, &["issue", key, "comment"], &query, None)
            .await?;
        Ok(decode::<CommentPage>(&body, "comments")?.comments)
    }

    /// The transitions the account may take on an issue now (`GET
    /// /rest/api/3/issue/{key}/transitions`). Empty when it lacks the *Transition issues*
    /// permission.
    pub async fn transitions(&self, key: &str) -> Result<Vec<Transition>, JiraError> {
        check_issue_key(key)?;
        let body = self
            .send(Method::GET, &["issue", key, "transitions"], &[], None)
            .await?;
        Ok(decode::<Transitions>(&body, "transitions")?.transitions)
    }

    /// Takes a transition by id (`POST /rest/api/3/issue/{key}/transitions`; Jira answers 204
    /// with no body). Ids are workflow specific: find them with [`transitions`](Self::transitions)
    /// and [`resolve_transition`](super::resolve_transition).
    pub async fn transition_issue(&self, key: &str, transition_id: &str) -> Result<(), JiraError> {
        check_issue_key(key)?;
        if transition_id.trim().is_empty() {
            return Err(JiraError::InvalidInput("the transition id is empty".into()));
        }
        let request = json!({ "transition": { "id": transition_id } });
        self.send(Method::POST, &["issue", key, "transitions"], &[], Some(&request))
            .await?;
        Ok(())
    }

    /// One page of a JQL search (`POST /rest/api/3/search/jql`, not the removed `/search`).
    pub async fn search_jql(&self, request: &SearchRequest) -> Result<SearchPage, JiraError> {
        if request.jql.trim().is_empty() {
            return Err(JiraError::InvalidInput("the JQL query is empty".into()));
        }
        let request = serde_json::to_value(request).map_err(|e| JiraError::InvalidInput(e.to_string()))?;
        let body = self
            .send(Method::POST, &["search", "jql"], &[], Some(&request))
            .await?;
        Ok(decode::<RawSearchPage>(&body, "search results")?.into())
    }

    /// Follows `nextPageToken` from `request` until the last page or `limit` issues. The
    /// result's `is_last` is true when everything was read; otherwise its `next_page_token`
    /// continues after the last page read (issues of that page beyond `limit` are dropped, so
    /// each page asks for at most the number still wanted). An empty page that is not the last
    /// one ends the walk too, so a misbehaving server cannot keep it going.
    pub async fn search_all(&self, request: SearchRequest, limit: usize) -> Result<SearchPage, JiraError> {
        let mut request = request;
        let page_size = request.max_results.unwrap_or(50).max(1);
        let mut issues = Vec::new();
        while issues.len() < limit {
            let wanted = u32::try_from(limit - issues.len()).unwrap_or(u32::MAX);
            request.max_results = Some(page_size.min(wanted));
            let page = self.search_jql(&request).await?;
            let empty = page.issues.is_empty();
            issues.extend(page.issues);
            if page.is_last || page.next_page_token.is_none() {
                let complete = page.is_last && issues.len() <= limit;
                issues.truncate(limit);
                return Ok(SearchPage {
                    issues,
                    next_page_token: None,
                    is_last: complete,
                });
            }
            if page.next_page_token == request.next_page_token {
                return Err(JiraError::Malformed(
                    "Jira returned the same nextPageToken twice".into(),
                ));
            }
            request.next_page_token = page.next_page_token;
            if empty {
                break;
            }
        }
        issues.truncate(limit);
        Ok(SearchPage {
            issues,
            next_page_token: request.next_page_token,
            is_last: false,
        })
    }

    /// Sends a request to `/rest/api/3/{segments}` and returns the body of a success.
    async fn send(
        &self,
        method: Method,
        segments: &[&str],
        query: &[(&str, String)],
        body: Option<&Value>,
    ) -> Result<Vec<u8>, JiraError> {
        let config = &self.inner.config;
        let mut url = config.base_url.clone();
        url.path_segments_mut()
            .map_err(|()| JiraError::Config("the base URL cannot have a path".into()))?
            .pop_if_empty()
            .extend(["rest", "api", "3"])
            .extend(segments);
        if !query.is_empty() {
            url.query_pairs_mut().extend_pairs(query);
        }
        // Method and path only: the query can hold user data, the headers the token.
        tracing::debug!(method = %method, path = url.path(), "Jira request");
        let mut builder = self
            .inner
            .http
            .request(method, url)
            .basic_auth(&config.email, Some(config.api_token.expose()))
            .header(ACCEPT, "application/json");
        if let Some(body) = body {
            builder = builder.json(body);
        }
        let response = builder
            .send()
            .await
            .map_err(|e| JiraError::Transport(http::send_error(BACKEND, e)))?;
        let status = response.status();
        let headers = response.headers().clone();
        let body = http::read_limited(BACKEND, response, config.max_response_bytes)
            .await
            .map_err(JiraError::Transport)?;
        if status.is_success() {
            return Ok(body);
        }
        tracing::debug!(status = status.as_u16(), "Jira request failed");
        Err(JiraError::from_response(status, &headers, &body))
    }
}

/// Refuses what cannot be an issue key or id before it reaches a URL path (a model may send
/// `ENG 12`, a URL or `../..`).
fn check_issue_key(key: &str) -> Result<(), JiraError> {
    let valid = !key.is_empty()
        && key.len() <= 255
        && key
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if valid {
        Ok(())
    } else {
        Err(JiraError::InvalidInput(format!(
            "{key:?} is not a Jira issue key or id (expected something like ENG-123 or 10042)"
        )))
    }
}

fn decode<T: DeserializeOwned>(body: &[u8], what: &str) -> Result<T, JiraError> {
    serde_json::from_slice(body).map_err(|e| JiraError::Malformed(format!("{what}: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn configs_are_validated() {
        assert!(JiraConfig::new("not a url", "a@b", "t").is_err());
        assert!(JiraConfig::new("ftp://x.atlassian.net", "a@b", "t").is_err());
        assert!(JiraConfig::new("https://me:pw@x.atlassian.net", "a@b", "t").is_err());
        assert!(JiraConfig::new("https://x.atlassian.net/?a=1", "a@b", "t").is_err());
        assert!(JiraConfig::new("https://x.atlassian.net", " ", "t").is_err());
        let config =
            JiraConfig::new("https://x.atlassian.net/jira/", "a@b", "t").map(|c| c.base_url().clone());
        assert_eq!(
            config.map(String::from),
            Ok("https://x.atlassian.net/jira/".to_owned())
        );
    }

    #[test]
    fn plain_http_is_refused_unless_loopback() {
        for refused in [
            "http://example.com",
            "HTTP://x.atlassian.net",
            "http://127.0.0.1.evil.com",
            "http://127.0.0.1@evil.com",
        ] {
            assert!(
                matches!(JiraConfig::new(refused, "a@b", "t"), Err(JiraError::Config(_))),
                "{refused}"
            );
        }
        for accepted in [
            "https://x.atlassian.net",
            "http://127.0.0.1:8080",
            "http://[::1]:8080",
            "http://localhost",
        ] {
            assert!(JiraConfig::new(accepted, "a@b", "t").is_ok(), "{accepted}");
        }
    }

    #[test]
    fn issue_keys_are_checked() {
        assert!(check_issue_key("ENG-12").is_ok());
        assert!(check_issue_key("10042").is_ok());
        for bad in ["", "ENG 12", "../x", "ENG-1/comment", "https://x"] {
            assert!(
                matches!(check_issue_key(bad), Err(JiraError::InvalidInput(_))),
                "{bad}"
            );
        }
    }

    #[test]
    fn browse_urls_keep_a_path_prefix() -> Result<(), JiraError> {
        let client = JiraClient::new(JiraConfig::new("https://x.atlassian.net/jira", "a@b", "t")?)?;
        assert_eq!(
            client.browse_url("ENG-1"),
            "https://x.atlassian.net/jira/browse/ENG-1"
        );
        Ok(())
    }
}
