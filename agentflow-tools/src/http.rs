//! HTTP plumbing shared by the network backends: secrets that never print, one client per
//! backend with a timeout, bounded response bodies, and the mapping of HTTP failures onto
//! [`ToolError`] (429 and 5xx retryable, honouring `Retry-After`; everything else terminal).

use std::fmt;
use std::time::{Duration, SystemTime};

use reqwest::header::{HeaderMap, RETRY_AFTER};
use reqwest::{Response, StatusCode};

use crate::tool::ToolError;

/// A credential (bot token, API token, API key). Its `Debug` and `Display` never show the
/// value, so a config can be logged safely.
///
/// ```
/// use agentflow_tools::Secret;
///
/// let token = Secret::new("xoxb-123");
/// assert_eq!(format!("{token:?}"), "Secret(***)");
/// assert_eq!(token.expose(), "xoxb-123");
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a credential.
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }

    /// The credential itself, for the one place that sends it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

impl From<String> for Secret {
    fn from(value: String) -> Self {
        Secret(value)
    }
}

impl From<&str> for Secret {
    fn from(value: &str) -> Self {
        Secret(value.to_owned())
    }
}

/// Refuses a base URL that would send credentials in clear text: `https` is accepted, `http`
/// only when the host is the loopback interface (`localhost`, `127.0.0.0/8`, `[::1]`), where
/// a local fake or proxy listens; any other scheme is refused too. The host is the one the
/// URL parser resolved, so `http://127.0.0.1.evil.example` or `http://127.0.0.1@evil.example`
/// are refused.
pub fn check_credential_url(url: &url::Url) -> Result<(), String> {
    match url.scheme() {
        "https" => Ok(()),
        "http" if is_loopback(url) => Ok(()),
        "http" => Err(format!(
            "refusing {}: plain http would send the credentials unencrypted; use https (http is accepted only for a loopback host)",
            redacted(url)
        )),
        other => Err(format!("the base URL must be https, not {other}:")),
    }
}

fn is_loopback(url: &url::Url) -> bool {
    match url.host() {
        Some(url::Host::Domain(domain)) => domain.eq_ignore_ascii_case("localhost"),
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => {
            ip.is_loopback() || ip.to_ipv4_mapped().is_some_and(|v4| v4.is_loopback())
        }
        None => false,
    }
}

/// The URL without its user info, for an error message.
fn redacted(url: &url::Url) -> String {
    let mut shown = url.clone();
    let _ = shown.set_username("");
    let _ = shown.set_password(None);
    shown.to_string()
}

/// Builds a client with a whole-request `timeout`, no redirects followed (a backend that
/// redirects is misconfigured, and following would forward credentials elsewhere).
pub fn client(timeout: Duration) -> Result<reqwest::Client, ToolError> {
    reqwest::Client::builder()
        .timeout(timeout)
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("agentflow-tools/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| ToolError::terminal(format!("could not build the HTTP client: {e}")))
}

/// The delay a `Retry-After` header asks for: delta-seconds or an HTTP date (in the past
/// means now). `None` when absent or unreadable.
pub fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let value = headers.get(RETRY_AFTER)?.to_str().ok()?.trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let at = httpdate::parse_http_date(value).ok()?;
    Some(at.duration_since(SystemTime::now()).unwrap_or(Duration::ZERO))
}

/// The error for a response with a failing `status`: 429 and 408 are retryable, 5xx
/// ambiguous (retryable, but the server may have acted before failing), all with the
/// `Retry-After` delay when given; anything else terminal. `detail` is what the body said.
pub fn status_error(backend: &str, status: StatusCode, headers: &HeaderMap, detail: &str) -> ToolError {
    let message = if detail.is_empty() {
        format!("{backend} answered HTTP {status}")
    } else {
        format!("{backend} answered HTTP {status}: {detail}")
    };
    let delay = retry_after(headers);
    if status.is_server_error() {
        ToolError::ambiguous(message, delay)
    } else if is_retryable_status(status) {
        ToolError::Retryable {
            message,
            retry_after: delay,
        }
    } else {
        ToolError::terminal(message)
    }
}

/// True for the statuses worth retrying: 429, 408 and 5xx.
pub fn is_retryable_status(status: StatusCode) -> bool {
    status == StatusCode::TOO_MANY_REQUESTS
        || status == StatusCode::REQUEST_TIMEOUT
        || status.is_server_error()
}

/// A body as one line for an error message: whitespace collapsed, cut after `max_chars`
/// characters (marked with `…`).
pub fn snippet(body: &[u8], max_chars: usize) -> String {
    let text = String::from_utf8_lossy(body);
    let mut out: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if let Some((cut, _)) = out.char_indices().nth(max_chars) {
        out.truncate(cut);
        out.push('…');
    }
    out
}

/// What a failing response's body says: at most `max_bytes` of it, as a [`snippet`] of
/// `max_chars`; empty when the body cannot be read (the status says enough then).
pub async fn error_detail(backend: &str, response: Response, max_bytes: usize, max_chars: usize) -> String {
    match read_limited(backend, response, max_bytes).await {
        Ok(body) => snippet(&body, max_chars),
        Err(_) => String::new(),
    }
}

/// The error for a request that got no (complete) response: a failed connection is retryable
/// (nothing was sent); a timeout or a connection broken mid-request is ambiguous (the server
/// may have received the request and acted); anything else (a malformed URL, a body that
/// cannot be built) is terminal.
pub fn send_error(backend: &str, error: reqwest::Error) -> ToolError {
    // reqwest's Display includes the URL, never headers, so no credential leaks here.
    let message = format!("{backend} request failed: {error}");
    if error.is_connect() {
        ToolError::retryable(message)
    } else if error.is_timeout() || error.is_request() || error.is_body() || error.is_decode() {
        ToolError::ambiguous(message, None)
    } else {
        ToolError::terminal(message)
    }
}

/// Reads a response body, refusing one larger than `limit` bytes (checked while streaming, so
/// a lying or absent `Content-Length` cannot make it buffer more).
pub async fn read_limited(backend: &str, mut response: Response, limit: usize) -> Result<Vec<u8>, ToolError> {
    if let Some(length) = response.content_length()
        && length > limit as u64
    {
        return Err(too_large(backend, limit));
    }
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(|e| send_error(backend, e))? {
        if body.len() + chunk.len() > limit {
            return Err(too_large(backend, limit));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

fn too_large(backend: &str, limit: usize) -> ToolError {
    ToolError::terminal(format!(
        "{backend} response is larger than the {limit}-byte limit"
    ))
}

#[cfg(test)]
mod tests {
    #[test]
    fn credentials_travel_over_https_or_to_loopback_only() {
        let check = |u: &str| super::check_credential_url(&url::Url::parse(u).unwrap());
        assert!(check("https://example.com/").is_ok());
        assert!(check("http://127.0.0.1:8080/api/").is_ok());
        assert!(check("http://[::1]:8080/").is_ok());
        assert!(check("http://example.com/").is_err());
        assert!(check("http://127.0.0.1.evil.example/").is_err());
    }

    use super::*;
    use agentflow_core::Failure;
    use reqwest::header::HeaderValue;

    #[test]
    fn retry_after_reads_seconds_and_dates() {
        let mut headers = HeaderMap::new();
        assert_eq!(retry_after(&headers), None);
        headers.insert(RETRY_AFTER, HeaderValue::from_static("7"));
        assert_eq!(retry_after(&headers), Some(Duration::from_secs(7)));
        headers.insert(
            RETRY_AFTER,
            HeaderValue::from_static("Wed, 21 Oct 2015 07:28:00 GMT"),
        );
        assert_eq!(retry_after(&headers), Some(Duration::ZERO));
        let later = httpdate::fmt_http_date(SystemTime::now() + Duration::from_secs(120));
        headers.insert(RETRY_AFTER, HeaderValue::from_str(&later).unwrap());
        let delay = retry_after(&headers).unwrap();
        assert!(
            delay > Duration::from_secs(100) && delay <= Duration::from_secs(120),
            "{delay:?}"
        );
        headers.insert(RETRY_AFTER, HeaderValue::from_static("soon"));
        assert_eq!(retry_after(&headers), None);
    }

    #[test]
    fn statuses_map_to_retryable_or_terminal() {
        let mut headers = HeaderMap::new();
        headers.insert(RETRY_AFTER, HeaderValue::from_static("3"));
        let limited = status_error("slack", StatusCode::TOO_MANY_REQUESTS, &headers, "");
        assert_eq!(
            limited,
            ToolError::retry_after(
                "slack answered HTTP 429 Too Many Requests",
                Duration::from_secs(3)
            )
        );
        let down = status_error("jira", StatusCode::BAD_GATEWAY, &HeaderMap::new(), "upstream");
        assert!(down.is_retryable());
        let denied = status_error("jira", StatusCode::FORBIDDEN, &headers, "no permission");
        assert_eq!(
            denied,
            ToolError::terminal("jira answered HTTP 403 Forbidden: no permission")
        );
    }

    #[test]
    fn credential_urls_must_be_https_unless_loopback() {
        let check = |raw: &str| check_credential_url(&url::Url::parse(raw).unwrap());
        for accepted in [
            "https://slack.com/api/",
            "https://your-domain.atlassian.net",
            "http://127.0.0.1:9/api/",
            "http://127.1.2.3/",
            "http://localhost:8080/",
            "http://LOCALHOST/",
            "http://[::1]:8080/",
            "http://[::ffff:127.0.0.1]/",
            "HTTP://127.0.0.1:5/",
            // The decimal form of 127.0.0.1: the parser resolves it, so it is loopback.
            "http://2130706433/",
        ] {
            assert!(check(accepted).is_ok(), "{accepted} was refused");
        }
        for refused in [
            "http://example.com/",
            "HTTP://EXAMPLE.COM/",
            "http://127.0.0.1.evil.com/",
            "http://127.0.0.1@evil.com/",
            "http://localhost@evil.com:80/",
            "http://localhost.evil.com/",
            "http://evil.com/127.0.0.1/",
            "http://evil.com#@127.0.0.1/",
            "http://0.0.0.0/",
            "http://[::]/",
            "http://10.0.0.1/",
            "ftp://127.0.0.1/",
        ] {
            assert!(check(refused).is_err(), "{refused} was accepted");
        }
        let message = check("http://user:pw@example.com/").unwrap_err();
        assert!(message.contains("https") && !message.contains("pw"), "{message}");
    }

    #[test]
    fn secrets_do_not_print() {
        let secret = Secret::from("hunter2");
        assert!(!format!("{secret:?} {secret}").contains("hunter2"));
    }
}
