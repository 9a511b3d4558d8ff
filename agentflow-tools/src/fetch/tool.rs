//! [`FetchTool`]: HTTP GET limited to allowlisted hosts, with bounded, text-only output.

use std::time::Duration;

use reqwest::StatusCode;
use reqwest::header::{ACCEPT, CONTENT_TYPE, HeaderMap, LOCATION};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use url::Url;

use super::allowlist::{FetchConfigError, HostAllowlist};
use crate::http;
use crate::tool::{Tool, ToolContext, ToolError};

/// The name HTTP errors are reported under.
const BACKEND: &str = "fetch";
/// The default whole-request timeout (per hop).
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(20);
/// The default limit on a downloaded body (2 MiB): larger bodies are an error.
pub const DEFAULT_MAX_RESPONSE_BYTES: usize = 2 * 1024 * 1024;
/// The default limit on the text returned to the model: longer text is truncated.
pub const DEFAULT_MAX_TEXT_CHARS: usize = 20_000;
/// The default number of redirects followed.
pub const DEFAULT_MAX_REDIRECTS: usize = 5;
/// How much of an error body goes into a retryable error's message.
const DETAIL_BYTES: usize = 512;

/// Configures a [`FetchTool`]; see [`FetchTool::builder`].
#[derive(Clone, Debug)]
pub struct FetchToolBuilder {
    name: String,
    hosts: Vec<String>,
    timeout: Duration,
    max_response_bytes: usize,
    max_text_chars: usize,
    max_redirects: usize,
}

impl FetchToolBuilder {
    /// Allows `host` or `host:port` (without a port, only the scheme's default port).
    pub fn allow_host(mut self, host: impl Into<String>) -> Self {
        self.hosts.push(host.into());
        self
    }

    /// Allows several hosts.
    pub fn allow_hosts<I>(mut self, hosts: I) -> Self
    where
        I: IntoIterator,
        I::Item: Into<String>,
    {
        self.hosts.extend(hosts.into_iter().map(Into::into));
        self
    }

    /// The tool's name, `fetch_url` by default (to register several fetch tools).
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = name.into();
        self
    }

    /// The timeout of each request, [`DEFAULT_TIMEOUT`] by default.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// The largest body downloaded, [`DEFAULT_MAX_RESPONSE_BYTES`] by default; a larger one
    /// fails the call.
    pub fn max_response_bytes(mut self, limit: usize) -> Self {
        self.max_response_bytes = limit;
        self
    }

    /// The most characters of text returned, [`DEFAULT_MAX_TEXT_CHARS`] by default; the rest
    /// is cut off and `truncated` set.
    pub fn max_text_chars(mut self, limit: usize) -> Self {
        self.max_text_chars = limit;
        self
    }

    /// How many redirects (each to an allowed host) are followed, [`DEFAULT_MAX_REDIRECTS`] by
    /// default; 0 returns redirects as results.
    pub fn max_redirects(mut self, limit: usize) -> Self {
        self.max_redirects = limit;
        self
    }

    /// Builds the tool: an error for an empty allowlist or an entry that is not `host[:port]`.
    pub fn build(self) -> Result<FetchTool, FetchConfigError> {
        let allowlist = HostAllowlist::new(&self.hosts)?;
        let http = http::client(self.timeout).map_err(|e| FetchConfigError::Client(e.to_string()))?;
        let description = format!(
            "Fetches a URL with HTTP GET and returns the status, the content type and the text \
             of the body (cut after {} characters; binary content is only described). Only these \
             hosts can be fetched: {allowlist}.",
            self.max_text_chars
        );
        Ok(FetchTool {
            name: self.name,
            description,
            allowlist,
            http,
            max_response_bytes: self.max_response_bytes,
            max_text_chars: self.max_text_chars,
            max_redirects: self.max_redirects,
        })
    }
}

/// A tool that GETs URLs on allowlisted hosts only.
///
/// Every URL, including each redirect target, must be http(s), carry no credentials, and name
/// an allowed host and port; redirects are followed by hand (the client follows none) up to a
/// hop limit. Bodies larger than the byte limit fail the call; text is truncated to a character
/// limit; binary content types are described, not returned.
///
/// ```
/// use agentflow_tools::ToolRegistry;
/// use agentflow_tools::fetch::FetchTool;
///
/// let fetch = FetchTool::builder()
///     .allow_host("docs.rs")
///     .allow_host("api.example.com:8443")
///     .max_text_chars(10_000)
///     .build()?;
/// let mut tools = ToolRegistry::new();
/// tools.add(fetch);
/// assert!(tools.specs()[0].description.contains("docs.rs, api.example.com:8443"));
/// # Ok::<_, agentflow_tools::fetch::FetchConfigError>(())
/// ```
#[derive(Clone, Debug)]
pub struct FetchTool {
    name: String,
    description: String,
    allowlist: HostAllowlist,
    http: reqwest::Client,
    max_response_bytes: usize,
    max_text_chars: usize,
    max_redirects: usize,
}

/// The arguments of the fetch tool.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FetchArgs {
    /// The absolute http(s) URL to fetch, e.g. `https://docs.rs/serde/latest/serde/`. Its host
    /// must be one of the allowed hosts listed in the tool description.
    pub url: String,
}

/// What the fetch tool returns.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[non_exhaustive]
pub struct FetchOutput {
    /// The URL finally fetched (after redirects).
    pub url: String,
    /// The HTTP status code (4xx statuses are results too: the body often says why).
    pub status: u16,
    /// The `Content-Type` header, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub content_type: Option<String>,
    /// The text of the body, or a short description of non-text content.
    pub body: String,
    /// True when `body` was cut at the character limit.
    pub truncated: bool,
    /// The redirects followed, in order.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub redirects: Vec<String>,
    /// For a redirect returned as the result (redirects disabled): where it points.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub location: Option<String>,
}

impl FetchTool {
    /// A builder with no allowed host yet and the defaults.
    pub fn builder() -> FetchToolBuilder {
        FetchToolBuilder {
            name: "fetch_url".to_owned(),
            hosts: Vec::new(),
            timeout: DEFAULT_TIMEOUT,
            max_response_bytes: DEFAULT_MAX_RESPONSE_BYTES,
            max_text_chars: DEFAULT_MAX_TEXT_CHARS,
            max_redirects: DEFAULT_MAX_REDIRECTS,
        }
    }

    /// A tool allowing `hosts`, with the defaults.
    pub fn new<I>(hosts: I) -> Result<Self, FetchConfigError>
    where
        I: IntoIterator,
        I::Item: Into<String>,
    {
        Self::builder().allow_hosts(hosts).build()
    }

    /// The allowed hosts.
    pub fn allowlist(&self) -> &HostAllowlist {
        &self.allowlist
    }

    /// Fetches `url` (the typed entry point behind [`Tool::call`]).
    pub async fn fetch(&self, url: &str) -> Result<FetchOutput, ToolError> {
        let mut url = self
            .allowlist
            .check(url)
            .map_err(|e| ToolError::InvalidArguments(e.to_string()))?;
        let mut redirects = Vec::new();
        loop {
            tracing::debug!(host = url.host_str(), hop = redirects.len(), "fetch request");
            let response = self
                .http
                .get(url.clone())
                .header(
                    ACCEPT,
                    "text/*, application/json, application/xml;q=0.9, */*;q=0.5",
                )
                .send()
                .await
                .map_err(|e| http::send_error(BACKEND, e))?;
            let status = response.status();
            if is_redirect(status)
                && self.max_redirects > 0
                && let Some(location) = response.headers().get(LOCATION)
            {
                if redirects.len() >= self.max_redirects {
                    return Err(ToolError::terminal(format!(
                        "{url} redirected more than {} times",
                        self.max_redirects
                    )));
                }
                let next = location
                    .to_str()
                    .ok()
                    .and_then(|l| url.join(l).ok())
                    .ok_or_else(|| ToolError::terminal(format!("{url} redirected to an invalid Location")))?;
                // Every hop is checked, so an allowed host cannot bounce the request elsewhere.
                self.allowlist.check_url(&next).map_err(|e| {
                    ToolError::terminal(format!("{url} redirected to {next}, which is refused: {e}"))
                })?;
                redirects.push(next.to_string());
                url = next;
                continue;
            }
            if http::is_retryable_status(status) {
                let headers = response.headers().clone();
                // At most DETAIL_BYTES bytes, so never more characters: nothing is cut.
                let detail = http::error_detail(BACKEND, response, DETAIL_BYTES, DETAIL_BYTES).await;
                return Err(http::status_error(
                    &format!("{BACKEND} {url}"),
                    status,
                    &headers,
                    &detail,
                ));
            }
            return self.read(url, status, response, redirects).await;
        }
    }

    async fn read(
        &self,
        url: Url,
        status: StatusCode,
        response: reqwest::Response,
        redirects: Vec<String>,
    ) -> Result<FetchOutput, ToolError> {
        let content_type = header_text(response.headers(), CONTENT_TYPE);
        let location = if is_redirect(status) {
            header_text(response.headers(), LOCATION)
                .and_then(|l| url.join(&l).ok())
                .map(String::from)
        } else {
            None
        };
        let kind = content_type.as_deref().map(classify).unwrap_or(Kind::Unknown);
        let body = match kind {
            Kind::Binary => {
                // Not downloaded at all: the model cannot use the bytes.
                let size = match response.content_length() {
                    Some(n) => format!("{n} bytes"),
                    None => "unknown size".to_owned(),
                };
                let ty = content_type.as_deref().unwrap_or("binary");
                return Ok(FetchOutput {
                    url: url.to_string(),
                    status: status.as_u16(),
                    body: format!("[{ty} content, {size}, not shown]"),
                    content_type,
                    truncated: false,
                    redirects,
                    location,
                });
            }
            Kind::Text { latin1 } => {
                let bytes = http::read_limited(BACKEND, response, self.max_response_bytes).await?;
                decode(&bytes, latin1)
            }
            Kind::Unknown => {
                let bytes = http::read_limited(BACKEND, response, self.max_response_bytes).await?;
                // No type given: show it only if it looks like text.
                match std::str::from_utf8(&bytes) {
                    Ok(text) if !text.contains('\0') => text.to_owned(),
                    _ => format!("[binary content, {} bytes, not shown]", bytes.len()),
                }
            }
        };
        let (body, truncated) = truncate(body, self.max_text_chars);
        Ok(FetchOutput {
            url: url.to_string(),
            status: status.as_u16(),
            content_type,
            body,
            truncated,
            redirects,
            location,
        })
    }
}

impl Tool for FetchTool {
    type Args = FetchArgs;
    type Output = FetchOutput;

    fn name(&self) -> &str {
        &self.name
    }

    fn description(&self) -> &str {
        &self.description
    }

    fn backend(&self) -> &str {
        "fetch"
    }

    async fn call(&self, args: FetchArgs, _ctx: ToolContext) -> Result<FetchOutput, ToolError> {
        self.fetch(&args.url).await
    }
}

fn is_redirect(status: StatusCode) -> bool {
    matches!(status.as_u16(), 301 | 302 | 303 | 307 | 308)
}

fn header_text(headers: &HeaderMap, name: reqwest::header::HeaderName) -> Option<String> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(|v| v.trim().to_owned())
        .filter(|v| !v.is_empty())
}

#[derive(Debug, PartialEq)]
enum Kind {
    /// Text; `latin1` when the charset maps bytes to chars one to one.
    Text {
        latin1: bool,
    },
    Binary,
    Unknown,
}

fn classify(content_type: &str) -> Kind {
    let mut parts = content_type.split(';');
    let essence = parts.next().unwrap_or_default().trim().to_ascii_lowercase();
    let charset = parts
        .filter_map(|p| p.split_once('='))
        .find(|(k, _)| k.trim().eq_ignore_ascii_case("charset"))
        .map(|(_, v)| v.trim().trim_matches('"').to_ascii_lowercase());
    let textual = essence.starts_with("text/")
        || essence.ends_with("+json")
        || essence.ends_with("+xml")
        || matches!(
            essence.as_str(),
            "application/json"
                | "application/xml"
                | "application/javascript"
                | "application/ecmascript"
                | "application/x-javascript"
                | "application/yaml"
                | "application/x-yaml"
                | "application/toml"
                | "application/x-ndjson"
                | "application/jsonl"
                | "application/csv"
                | "application/sql"
                | "application/graphql"
                | "application/x-www-form-urlencoded"
        );
    if essence.is_empty() {
        Kind::Unknown
    } else if textual {
        let latin1 = matches!(
            charset.as_deref(),
            Some("iso-8859-1" | "latin1" | "iso_8859-1" | "us-ascii" | "windows-1252" | "cp1252")
        );
        Kind::Text { latin1 }
    } else {
        Kind::Binary
    }
}

fn decode(bytes: &[u8], latin1: bool) -> String {
    if latin1 {
        // ISO-8859-1 maps each byte to the code point of the same value (close enough for
        // windows-1252 too, whose differences are punctuation in 0x80..0x9f).
        bytes.iter().map(|&b| char::from(b)).collect()
    } else {
        String::from_utf8_lossy(bytes).into_owned()
    }
}

fn truncate(mut text: String, max_chars: usize) -> (String, bool) {
    match text.char_indices().nth(max_chars) {
        Some((cut, _)) => {
            text.truncate(cut);
            (text, true)
        }
        None => (text, false),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_types_are_classified() {
        assert_eq!(classify("text/html; charset=UTF-8"), Kind::Text { latin1: false });
        assert_eq!(classify("application/problem+json"), Kind::Text { latin1: false });
        assert_eq!(
            classify("text/plain; charset=\"ISO-8859-1\""),
            Kind::Text { latin1: true }
        );
        assert_eq!(classify("image/png"), Kind::Binary);
        assert_eq!(classify("application/octet-stream"), Kind::Binary);
        assert_eq!(classify(""), Kind::Unknown);
    }

    #[test]
    fn text_is_decoded_and_truncated_on_char_boundaries() {
        assert_eq!(decode(b"caf\xe9", true), "café");
        assert_eq!(decode("café".as_bytes(), false), "café");
        assert_eq!(truncate("héllo".into(), 2), ("hé".into(), true));
        assert_eq!(truncate("héllo".into(), 5), ("héllo".into(), false));
        assert_eq!(truncate("héllo".into(), 0), (String::new(), true));
    }

    #[test]
    fn bad_configs_are_refused() {
        assert_eq!(
            FetchTool::builder().build().unwrap_err(),
            FetchConfigError::EmptyAllowlist
        );
        assert!(matches!(
            FetchTool::new(["https://example.com/"]),
            Err(FetchConfigError::InvalidHost { .. })
        ));
    }
}
