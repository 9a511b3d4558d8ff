//! rig's [`ProviderError`] as a [`ModelError`]: what rig classifies as retryable (408, 425, 429,
//! 5xx, dropped connections, cut-off replies) becomes [`ModelError::Retryable`] with the
//! provider's `Retry-After`; everything else (400, 401, 403, 404, malformed replies, requests
//! that cannot be built) becomes [`ModelError::Terminal`].
//!
//! rig never retries a call itself, so the agent's retry loop is the only one.

use std::time::Duration;

use reqwest::header::HeaderMap;
use rig_core::error::ProviderError;

use crate::model::ModelError;

/// How much of a provider's error text goes into the message: a rejected reply's body is kept
/// whole by rig (up to 1 MiB), which would flood logs.
const MESSAGE_LIMIT: usize = 2_000;

/// The [`ModelError`] for a failed rig call to `provider`.
pub(crate) fn model_error(provider: &str, error: &ProviderError) -> ModelError {
    // rig's Display shows the status and the body, never the request's headers, so the
    // credential cannot leak through it.
    let message = truncate(format!("{provider}: {error}"));
    if error.is_retryable() {
        ModelError::Retryable {
            message,
            retry_after: error.provider_response_headers().and_then(retry_after),
        }
    } else {
        ModelError::Terminal(message)
    }
}

/// The [`ModelError`] for a call that took longer than `timeout`: retryable, as a slow
/// provider may answer the next attempt in time.
pub(crate) fn timed_out(provider: &str, timeout: Duration) -> ModelError {
    ModelError::Retryable {
        message: format!("{provider}: no complete answer within {timeout:?}"),
        retry_after: None,
    }
}

/// The wait a rejected reply asks for: OpenAI's millisecond `retry-after-ms` when present (it
/// is more precise), else the standard `Retry-After`.
fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let millis = headers
        .get("retry-after-ms")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<f64>().ok())
        .filter(|ms| ms.is_finite() && *ms >= 0.0)
        .map(|ms| Duration::from_micros((ms * 1_000.0) as u64));
    millis.or_else(|| crate::http::retry_after(headers))
}

fn truncate(mut message: String) -> String {
    if message.len() > MESSAGE_LIMIT {
        let mut end = MESSAGE_LIMIT;
        while !message.is_char_boundary(end) {
            end -= 1;
        }
        message.truncate(end);
        message.push_str("...");
    }
    message
}

#[cfg(test)]
mod tests {
    use super::*;
    use agentflow_core::Failure;
    use reqwest::StatusCode;
    use reqwest::header::HeaderValue;

    fn rejected(status: StatusCode, headers: &[(&'static str, &'static str)]) -> ProviderError {
        let mut map = HeaderMap::new();
        for (name, value) in headers {
            map.insert(*name, HeaderValue::from_static(value));
        }
        ProviderError::from_http_response(status, "{\"error\":{\"message\":\"no\"}}")
            .with_response_headers(Some(map))
    }

    #[test]
    fn statuses_classify_and_carry_retry_after() {
        let limited = model_error(
            "openai",
            &rejected(StatusCode::TOO_MANY_REQUESTS, &[("retry-after", "7")]),
        );
        assert!(
            matches!(limited, ModelError::Retryable { retry_after: Some(d), .. } if d == Duration::from_secs(7)),
            "{limited:?}"
        );
        let precise = model_error(
            "openai",
            &rejected(
                StatusCode::TOO_MANY_REQUESTS,
                &[("retry-after", "1"), ("retry-after-ms", "250")],
            ),
        );
        assert!(
            matches!(precise, ModelError::Retryable { retry_after: Some(d), .. } if d == Duration::from_millis(250))
        );
        let overloaded = model_error("openai", &rejected(StatusCode::SERVICE_UNAVAILABLE, &[]));
        assert!(matches!(
            overloaded,
            ModelError::Retryable {
                retry_after: None,
                ..
            }
        ));
        for status in [
            StatusCode::BAD_REQUEST,
            StatusCode::UNAUTHORIZED,
            StatusCode::NOT_FOUND,
        ] {
            assert!(
                !model_error("openai", &rejected(status, &[])).is_retryable(),
                "{status}"
            );
        }
        let malformed = ProviderError::Response("not a completion".into());
        assert!(
            matches!(model_error("openai", &malformed), ModelError::Terminal(m) if m.contains("not a completion"))
        );
        assert!(model_error("openai", &ProviderError::Truncated).is_retryable());
    }

    #[test]
    fn long_bodies_are_cut() {
        let body = "é".repeat(MESSAGE_LIMIT);
        let error = ProviderError::from_http_response(StatusCode::BAD_REQUEST, body);
        let ModelError::Terminal(message) = model_error("openai", &error) else {
            panic!("400 is terminal");
        };
        assert!(message.len() <= MESSAGE_LIMIT + 3 && message.ends_with("..."));
    }
}
