//! [`RetryPolicy`]: when and how often failing work runs again. One policy type serves node
//! retries in the engine, tool calls in `agentflow-tools`' tool node and the agent's model calls:
//! they all judge a [`Failure`] by its class and wait the same way.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::failure::Failure;

type RetryPredicate = Arc<dyn Fn(&dyn Failure) -> bool + Send + Sync>;

/// The longest wait a failure's [`retry_after`](Failure::retry_after) (a backend's
/// `Retry-After`) can impose by default: a server answering `Retry-After: 86400` must not park
/// a run for a day.
pub const DEFAULT_MAX_RETRY_AFTER: Duration = Duration::from_secs(60);

/// When and how often failing work runs again.
///
/// The defaults are LangGraph's: 3 attempts in all, 0.5 s before the first retry, doubling up to
/// 128 s, plus up to 1 s of random jitter, retrying every [retryable](Failure::class) failure
/// (ambiguous ones included). A failure that names its own delay
/// ([`Failure::retry_after`], a backend's `Retry-After`) is waited for instead of the backoff,
/// up to [`max_retry_after`](Self::max_retry_after) (60 s by default). Waits end early when the
/// run is cancelled ([`wait`](Self::wait)).
///
/// ```
/// use std::time::Duration;
/// use agentflow_core::{NodeError, RetryPolicy};
///
/// let policy = RetryPolicy::default()
///     .max_attempts(5)
///     .initial_interval(Duration::from_millis(100))
///     .jitter(false);
/// assert_eq!(policy.backoff(1), Duration::from_millis(100));
/// assert_eq!(policy.backoff(3), Duration::from_millis(400));
///
/// // A failure's own delay wins over the backoff, up to the cap.
/// let limited = NodeError::retryable("429").with_retry_after(Duration::from_secs(3));
/// assert_eq!(policy.delay(1, &limited), Duration::from_secs(3));
/// let greedy = NodeError::retryable("429").with_retry_after(Duration::from_secs(86_400));
/// assert_eq!(policy.delay(1, &greedy), Duration::from_secs(60));
/// ```
#[derive(Clone)]
pub struct RetryPolicy {
    max_attempts: u32,
    initial_interval: Duration,
    backoff_factor: f64,
    max_interval: Duration,
    jitter: bool,
    max_retry_after: Duration,
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
            max_retry_after: DEFAULT_MAX_RETRY_AFTER,
            retry_on: Arc::new(|_| true),
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

    /// The factor each wait grows by (values below 1 are treated as 1: a constant wait).
    pub fn backoff_factor(mut self, factor: f64) -> Self {
        self.backoff_factor = if factor.is_finite() { factor.max(1.0) } else { 1.0 };
        self
    }

    /// The longest computed wait.
    pub fn max_interval(mut self, interval: Duration) -> Self {
        self.max_interval = interval;
        self
    }

    /// Whether to add a random 0–1 s to each computed wait (spreads out retry storms).
    pub fn jitter(mut self, jitter: bool) -> Self {
        self.jitter = jitter;
        self
    }

    /// The longest wait a failure's own [`retry_after`](Failure::retry_after) is honoured for;
    /// a longer one is cut to this.
    pub fn max_retry_after(mut self, cap: Duration) -> Self {
        self.max_retry_after = cap;
        self
    }

    /// Which failures to retry (default: every retryable one). Terminal failures are never
    /// retried, whatever the predicate says. The predicate sees the node, tool or model error
    /// as a [`Failure`]; [`downcast_ref`](trait.Failure.html#method.downcast_ref) finds its type.
    pub fn retry_on(mut self, predicate: impl Fn(&dyn Failure) -> bool + Send + Sync + 'static) -> Self {
        self.retry_on = Arc::new(predicate);
        self
    }

    /// The configured attempt count.
    pub fn attempts(&self) -> u32 {
        self.max_attempts
    }

    /// Whether attempt number `attempt` (1-based) failing with `failure` should be retried.
    pub fn should_retry(&self, attempt: u32, failure: &dyn Failure) -> bool {
        attempt < self.max_attempts && failure.is_retryable() && (self.retry_on)(failure)
    }

    /// The computed wait after failed attempt number `attempt` (1-based), without jitter.
    pub fn backoff(&self, attempt: u32) -> Duration {
        let exponent = attempt.saturating_sub(1).min(i32::MAX as u32) as i32;
        let secs = self.initial_interval.as_secs_f64() * self.backoff_factor.powi(exponent);
        let capped = secs.min(self.max_interval.as_secs_f64());
        Duration::try_from_secs_f64(capped).unwrap_or(self.max_interval)
    }

    /// The wait after failed attempt `attempt`: the delay `failure` asked for, capped at
    /// [`max_retry_after`](Self::max_retry_after), or else the backoff (with jitter if enabled).
    pub fn delay(&self, attempt: u32, failure: &dyn Failure) -> Duration {
        if let Some(requested) = failure.retry_after() {
            return requested.min(self.max_retry_after);
        }
        let base = self.backoff(attempt);
        if self.jitter {
            base + Duration::from_secs_f64(fastrand::f64())
        } else {
            base
        }
    }

    /// Waits [`delay`](Self::delay) before the next attempt, unless `cancellation` fires first:
    /// true when the whole wait passed (go on and retry), false when cancelled (stop).
    ///
    /// The delay is chosen when this is called, so the returned future borrows nothing.
    pub fn wait(
        &self,
        attempt: u32,
        failure: &dyn Failure,
        cancellation: &CancellationToken,
    ) -> impl Future<Output = bool> + Send + 'static {
        let delay = self.delay(attempt, failure);
        let cancellation = cancellation.clone();
        async move {
            tokio::select! {
                biased;
                () = cancellation.cancelled() => false,
                () = tokio::time::sleep(delay) => true,
            }
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
            .field("max_retry_after", &self.max_retry_after)
            .finish_non_exhaustive()
    }
}
