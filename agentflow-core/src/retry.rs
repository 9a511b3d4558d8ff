//! Retry policies for nodes.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use crate::error::NodeError;

type RetryPredicate = Arc<dyn Fn(&NodeError) -> bool + Send + Sync>;

/// When and how often a failing node runs again.
///
/// The defaults are LangGraph's: 3 attempts in all, 0.5 s before the first retry, doubling up to
/// 128 s, plus up to 1 s of random jitter, retrying every [retryable](NodeError::is_retryable)
/// error. Writes of a failed attempt are discarded.
///
/// ```
/// use std::time::Duration;
/// use agentflow_core::RetryPolicy;
///
/// let policy = RetryPolicy::default()
///     .max_attempts(5)
///     .initial_interval(Duration::from_millis(100))
///     .jitter(false);
/// assert_eq!(policy.backoff(1), Duration::from_millis(100));
/// assert_eq!(policy.backoff(3), Duration::from_millis(400));
/// ```
#[derive(Clone)]
pub struct RetryPolicy {
    max_attempts: u32,
    initial_interval: Duration,
    backoff_factor: f64,
    max_interval: Duration,
    jitter: bool,
    retry_on: RetryPredicate,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_attempts: 3,
            initial_interval: Duration::from_millis(500),
            backoff_factor: 2.0,
            max_interval: Duration::from_secs(128),
            jitter: true,
            retry_on: Arc::new(NodeError::is_retryable),
        }
    }
}

impl RetryPolicy {
    /// Attempts in all, the first included (at least 1).
    pub fn max_attempts(mut self, attempts: u32) -> Self {
        self.max_attempts = attempts.max(1);
        self
    }

    /// The wait before the first retry.
    pub fn initial_interval(mut self, interval: Duration) -> Self {
        self.initial_interval = interval;
        self
    }

    /// The factor each wait grows by (values below 1 are treated as 1).
    pub fn backoff_factor(mut self, factor: f64) -> Self {
        self.backoff_factor = if factor.is_finite() { factor.max(1.0) } else { 1.0 };
        self
    }

    /// The longest wait.
    pub fn max_interval(mut self, interval: Duration) -> Self {
        self.max_interval = interval;
        self
    }

    /// Whether to add a random 0–1 s to each wait (spreads out retry storms).
    pub fn jitter(mut self, jitter: bool) -> Self {
        self.jitter = jitter;
        self
    }

    /// Which errors to retry (default: the retryable ones). Terminal errors are never retried,
    /// whatever the predicate says.
    pub fn retry_on(mut self, predicate: impl Fn(&NodeError) -> bool + Send + Sync + 'static) -> Self {
        self.retry_on = Arc::new(predicate);
        self
    }

    /// The configured attempt count.
    pub fn attempts(&self) -> u32 {
        self.max_attempts
    }

    /// Whether attempt number `attempt` (1-based) failing with `error` should be retried.
    pub fn should_retry(&self, attempt: u32, error: &NodeError) -> bool {
        attempt < self.max_attempts && error.is_retryable() && (self.retry_on)(error)
    }

    /// The wait after failed attempt number `attempt` (1-based), without jitter.
    pub fn backoff(&self, attempt: u32) -> Duration {
        let exponent = attempt.saturating_sub(1).min(i32::MAX as u32) as i32;
        let secs = self.initial_interval.as_secs_f64() * self.backoff_factor.powi(exponent);
        let capped = secs.min(self.max_interval.as_secs_f64());
        Duration::try_from_secs_f64(capped).unwrap_or(self.max_interval)
    }

    /// The wait after failed attempt `attempt`, with jitter if enabled.
    pub(crate) fn delay(&self, attempt: u32) -> Duration {
        let base = self.backoff(attempt);
        if self.jitter {
            base + Duration::from_secs_f64(fastrand::f64())
        } else {
            base
        }
    }
}

impl fmt::Debug for RetryPolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RetryPolicy")
            .field("max_attempts", &self.max_attempts)
            .field("initial_interval", &self.initial_interval)
            .field("backoff_factor", &self.backoff_factor)
            .field("max_interval", &self.max_interval)
            .field("jitter", &self.jitter)
            .finish_non_exhaustive()
    }
}
