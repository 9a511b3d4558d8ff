//! [`HostAllowlist`]: which hosts the fetch tool may contact.
//!
//! Entries and URLs are both normalized by the WHATWG URL parser (the one reqwest sends with),
//! so there is no gap between what is checked and what is requested: case, IDNA, percent-escapes
//! and IPv4 spellings (`0x7f.1`, `2130706433`) all compare in their canonical form.

use std::fmt;

use url::{Host, Url};

/// A host the fetch tool may contact, with an optional port.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AllowedHost {
    /// Canonical host: lowercase punycode domain without a trailing dot, dotted IPv4, or
    /// bracketed IPv6.
    host: String,
    /// `None`: only the scheme's default port (80 or 443).
    port: Option<u16>,
}

impl AllowedHost {
    /// Parses `host` or `host:port` (`example.com`, `api.example.com:8443`, `127.0.0.1:3000`,
    /// `[::1]:8080`). A URL, a path or credentials are refused.
    pub fn parse(entry: &str) -> Result<Self, FetchConfigError> {
        let invalid = |reason: &str| FetchConfigError::InvalidHost {
            entry: entry.to_owned(),
            reason: reason.to_owned(),
        };
        let trimmed = entry.trim();
        if trimmed.is_empty() {
            return Err(invalid("it is empty"));
        }
        if trimmed.contains(['/', '@', '?', '#', '\\']) || trimmed.chars().any(char::is_whitespace) {
            return Err(invalid("give a host or host:port, not a URL"));
        }
        let https = Url::parse(&format!("https://{trimmed}/")).map_err(|e| invalid(&e.to_string()))?;
        let host = match https.host() {
            Some(host) => canonical(&host),
            None => return Err(invalid("it has no host")),
        };
        // The parser drops a port equal to the scheme's default, so ask both schemes to tell
        // `example.com` from `example.com:443`.
        let http = Url::parse(&format!("http://{trimmed}/")).map_err(|e| invalid(&e.to_string()))?;
        let port = https.port().or(http.port());
        Ok(AllowedHost { host, port })
    }

    /// The canonical host.
    pub fn host(&self) -> &str {
        &self.host
    }

    /// The port, or `None` for the scheme's default port only.
    pub fn port(&self) -> Option<u16> {
        self.port
    }

    fn matches(&self, host: &str, url: &Url) -> bool {
        if self.host != host {
            return false;
        }
        match self.port {
            // `Url::port` is `None` exactly when the port is the scheme's default.
            None => url.port().is_none(),
            Some(port) => url.port_or_known_default() == Some(port),
        }
    }
}

impl fmt::Display for AllowedHost {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.port {
            Some(port) => write!(f, "{}:{port}", self.host),
            None => f.write_str(&self.host),
        }
    }
}

fn canonical(host: &Host<&str>) -> String {
    match host {
        // Equivalent in DNS, so `example.com.` must not slip past or be refused.
        Host::Domain(domain) => domain.trim_end_matches('.').to_owned(),
        Host::Ipv4(ip) => ip.to_string(),
        Host::Ipv6(ip) => format!("[{ip}]"),
    }
}

/// A misconfigured fetch tool.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum FetchConfigError {
    /// An allowlist entry is not a `host` or `host:port`.
    #[error("invalid allowed host {entry:?}: {reason}")]
    InvalidHost {
        /// The entry as given.
        entry: String,
        /// What is wrong with it.
        reason: String,
    },
    /// No host is allowed, so the tool could fetch nothing.
    #[error("the fetch tool needs at least one allowed host")]
    EmptyAllowlist,
    /// The HTTP client could not be built.
    #[error("could not build the HTTP client: {0}")]
    Client(String),
}

/// Why a URL may not be fetched.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum UrlRejection {
    /// Not an absolute URL.
    #[error("{url:?} is not a valid absolute URL ({reason})")]
    Invalid {
        /// The URL as given.
        url: String,
        /// The parser's complaint.
        reason: String,
    },
    /// Not http or https.
    #[error("only http and https URLs can be fetched, not {scheme}:")]
    Scheme {
        /// The scheme.
        scheme: String,
    },
    /// The URL carries `user:password@`, which could smuggle credentials or disguise the host.
    #[error("URLs with credentials (user:password@) are not allowed")]
    UserInfo,
    /// The host (and port) is not in the allowlist.
    #[error("host {host} is not allowed; allowed hosts: {allowed}")]
    HostNotAllowed {
        /// The host and port of the URL.
        host: String,
        /// The allowlist, comma-separated.
        allowed: String,
    },
}

/// The hosts the fetch tool may contact: exact host match, and the port given in the entry or
/// else the scheme's default port.
///
/// ```
/// use agentflow_tools::fetch::HostAllowlist;
///
/// let allow = HostAllowlist::new(["docs.rs", "127.0.0.1:8080"])?;
/// assert!(allow.check("https://docs.rs/serde").is_ok());
/// assert!(allow.check("HTTPS://DOCS.RS./serde").is_ok());
/// assert!(allow.check("http://127.0.0.1:8080/health").is_ok());
/// assert!(allow.check("http://docs.rs.evil.example/").is_err());
/// assert!(allow.check("https://docs.rs@evil.example/").is_err());
/// assert!(allow.check("https://docs.rs:8443/").is_err());
/// assert!(allow.check("file:///etc/passwd").is_err());
/// # Ok::<_, agentflow_tools::fetch::FetchConfigError>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HostAllowlist {
    hosts: Vec<AllowedHost>,
}

impl HostAllowlist {
    /// An allowlist of `host` / `host:port` entries (at least one).
    pub fn new<I>(entries: I) -> Result<Self, FetchConfigError>
    where
        I: IntoIterator,
        I::Item: AsRef<str>,
    {
        let mut hosts = Vec::new();
        for entry in entries {
            let host = AllowedHost::parse(entry.as_ref())?;
            if !hosts.contains(&host) {
                hosts.push(host);
            }
        }
        if hosts.is_empty() {
            return Err(FetchConfigError::EmptyAllowlist);
        }
        Ok(HostAllowlist { hosts })
    }

    /// The entries.
    pub fn hosts(&self) -> &[AllowedHost] {
        &self.hosts
    }

    /// Parses `url` and checks it.
    pub fn check(&self, url: &str) -> Result<Url, UrlRejection> {
        let parsed = Url::parse(url.trim()).map_err(|e| UrlRejection::Invalid {
            url: url.to_owned(),
            reason: e.to_string(),
        })?;
        self.check_url(&parsed)?;
        Ok(parsed)
    }

    /// Checks an already parsed URL (a redirect target, say).
    pub fn check_url(&self, url: &Url) -> Result<(), UrlRejection> {
        if !matches!(url.scheme(), "http" | "https") {
            return Err(UrlRejection::Scheme {
                scheme: url.scheme().to_owned(),
            });
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(UrlRejection::UserInfo);
        }
        let host = url.host().map(|h| canonical(&h)).unwrap_or_default();
        if self.hosts.iter().any(|allowed| allowed.matches(&host, url)) {
            return Ok(());
        }
        let shown = match url.port() {
            Some(port) => format!("{host}:{port}"),
            None => host,
        };
        Err(UrlRejection::HostNotAllowed {
            host: shown,
            allowed: self.to_string(),
        })
    }
}

impl fmt::Display for HostAllowlist {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, host) in self.hosts.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            write!(f, "{host}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn list(entries: &[&str]) -> HostAllowlist {
        HostAllowlist::new(entries).unwrap()
    }

    #[test]
    fn entries_are_parsed_and_normalized() {
        let host = AllowedHost::parse("API.Example.COM.").unwrap();
        assert_eq!((host.host(), host.port()), ("api.example.com", None));
        assert_eq!(AllowedHost::parse("example.com:443").unwrap().port(), Some(443));
        assert_eq!(AllowedHost::parse("example.com:80").unwrap().port(), Some(80));
        assert_eq!(
            AllowedHost::parse("[::1]:8080").unwrap().to_string(),
            "[::1]:8080"
        );
        assert_eq!(AllowedHost::parse("0x7f.1").unwrap().host(), "127.0.0.1");
        assert_eq!(
            AllowedHost::parse("bücher.example").unwrap().host(),
            "xn--bcher-kva.example"
        );
        for bad in [
            "",
            " ",
            "https://example.com",
            "example.com/path",
            "user@example.com",
            "exa mple.com",
        ] {
            assert!(AllowedHost::parse(bad).is_err(), "{bad:?}");
        }
        assert_eq!(
            HostAllowlist::new(Vec::<String>::new()),
            Err(FetchConfigError::EmptyAllowlist)
        );
    }

    #[test]
    fn only_exact_hosts_pass() {
        let allow = list(&["example.com"]);
        for ok in [
            "https://example.com/",
            "http://example.com/a?b=c#d",
            "https://EXAMPLE.com./x",
            "https://example.com:443/",
            "https://ex%61mple.com/",
        ] {
            assert!(allow.check(ok).is_ok(), "{ok}");
        }
        for bad in [
            "https://www.example.com/",
            "https://example.com.evil.test/",
            "https://evilexample.com/",
            "https://evil.test/?u=https://example.com",
            "https://evil.test#@example.com",
            "https://evil.test\\@example.com/",
            "https://93.184.216.34/",
            "https://example.com:8443/",
        ] {
            assert!(
                matches!(allow.check(bad), Err(UrlRejection::HostNotAllowed { .. })),
                "{bad}: {:?}",
                allow.check(bad)
            );
        }
    }

    #[test]
    fn credentials_schemes_and_garbage_are_refused() {
        let allow = list(&["example.com"]);
        // The real host here is evil.test; userinfo is refused before the host is even looked at.
        assert_eq!(
            allow.check("https://example.com@evil.test/"),
            Err(UrlRejection::UserInfo)
        );
        assert_eq!(
            allow.check("https://user:pw@example.com/"),
            Err(UrlRejection::UserInfo)
        );
        assert_eq!(
            allow.check("https://user@example.com/"),
            Err(UrlRejection::UserInfo)
        );
        assert!(matches!(
            allow.check("file:///etc/passwd"),
            Err(UrlRejection::Scheme { .. })
        ));
        assert!(matches!(
            allow.check("ftp://example.com/"),
            Err(UrlRejection::Scheme { .. })
        ));
        assert!(matches!(
            allow.check("example.com/page"),
            Err(UrlRejection::Invalid { .. })
        ));
    }

    #[test]
    fn ports_must_match() {
        let allow = list(&["127.0.0.1:8080", "example.com:443"]);
        assert!(allow.check("http://127.0.0.1:8080/").is_ok());
        // The same address spelled differently is the same host.
        assert!(allow.check("http://2130706433:8080/").is_ok());
        assert!(allow.check("http://127.0.0.1/").is_err());
        assert!(allow.check("http://127.0.0.1:8081/").is_err());
        assert!(allow.check("http://localhost:8080/").is_err());
        assert!(allow.check("http://[::ffff:127.0.0.1]:8080/").is_err());
        assert!(allow.check("https://example.com/").is_ok());
        assert!(allow.check("http://example.com/").is_err());
        assert_eq!(allow.to_string(), "127.0.0.1:8080, example.com:443");
    }
}
