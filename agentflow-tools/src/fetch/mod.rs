//! An HTTP fetch tool limited to an allowlist of hosts (feature `fetch`).
//!
//! [`FetchTool`] lets a model GET pages and API responses from the hosts you list, and nothing
//! else: the URL and every redirect hop must be http(s), carry no credentials and name an
//! allowed host (and port); [`HostAllowlist`] does the checking with the same URL parser reqwest
//! sends with. Bodies are bounded (an error past the byte limit), text is truncated to a
//! character limit, and binary content is described rather than returned.
//!
//! ```
//! use agentflow_tools::ToolRegistry;
//! use agentflow_tools::fetch::FetchTool;
//!
//! let mut tools = ToolRegistry::new();
//! tools.add(FetchTool::new(["docs.rs", "api.github.com"])?);
//! assert_eq!(tools.specs()[0].name, "fetch_url");
//! # Ok::<_, agentflow_tools::fetch::FetchConfigError>(())
//! ```
//!
//! See `docs/backends/fetch.md` for the rules in full.

mod allowlist;
mod tool;

pub use allowlist::{AllowedHost, FetchConfigError, HostAllowlist, UrlRejection};
pub use tool::{
    DEFAULT_MAX_REDIRECTS, DEFAULT_MAX_RESPONSE_BYTES, DEFAULT_MAX_TEXT_CHARS, DEFAULT_TIMEOUT, FetchArgs,
    FetchOutput, FetchTool, FetchToolBuilder,
};
