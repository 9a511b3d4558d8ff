//! Waiting before a retry: a backend's `Retry-After` is honoured up to a cap, and every wait
//! ends as soon as the run is cancelled.

use std::time::Duration;

use agentflow_core::CancellationToken;

/// The longest wait a backend's `Retry-After` (or `retry-after-ms`) can impose by default: a
/// server answering `Retry-After: 86400` must not park a run for a day.
pub const DEFAULT_MAX_RETRY_AFTER: Duration = Duration::from_secs(60);

/// The wait before the next attempt: the backend's `requested` delay capped at `cap`, or
/// `fallback` (the caller's own backoff) when the backend named none.
///
/// ```
/// use std::time::Duration;
/// use agentflow_tools::wait::retry_delay;
///
/// let cap = Duration::from_secs(60);
/// assert_eq!(retry_delay(Some(Duration::from_secs(86_400)), Duration::from_secs(1), cap), cap);
/// assert_eq!(retry_delay(Some(Duration::from_secs(2)), Duration::from_secs(1), cap), Duration::from_secs(2));
/// assert_eq!(retry_delay(None, Duration::from_secs(1), cap), Duration::from_secs(1));
/// ```
pub fn retry_delay(requested: Option<Duration>, fallback: Duration, cap: Duration) -> Duration {
    match requested {
        Some(delay) => delay.min(cap),
        None => fallback,
    }
}

/// Sleeps for `wait` unless `cancellation` fires first; true when the whole wait passed.
pub async fn sleep_unless_cancelled(wait: Duration, cancellation: &CancellationToken) -> bool {
    tokio::select! {
        biased;
        () = cancellation.cancelled() => false,
        () = tokio::time::sleep(wait) => true,
    }
}
