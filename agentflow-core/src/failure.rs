//! The one classification of failures: whether trying again may help ([`ErrorClass`]) and how
//! long the failure asks to wait first ([`Failure`]). Node errors, tool errors and model errors
//! all answer these two questions, and one [`RetryPolicy`](crate::RetryPolicy) decides from the
//! answers.

use std::error::Error;
use std::time::Duration;

/// Whether a failure may succeed if tried again.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorClass {
    /// Transient and without effect (a rate limit, a refused connection): trying again is safe.
    Retryable,
    /// Transient, but the failed attempt may have acted (a timeout after the request was sent,
    /// a connection dropped mid-request): trying again is safe only for work that is
    /// idempotent or can be reconciled first (see `ctx.step_reconciled` and the tool node's
    /// `Idempotency`). Retry policies treat it as retryable.
    Ambiguous,
    /// Permanent: retrying cannot help.
    Terminal,
}

impl ErrorClass {
    /// True for [`Retryable`](Self::Retryable) and [`Ambiguous`](Self::Ambiguous): trying
    /// again later may succeed.
    pub fn is_retryable(self) -> bool {
        matches!(self, ErrorClass::Retryable | ErrorClass::Ambiguous)
    }
}

/// A classified failure: what a [`RetryPolicy`](crate::RetryPolicy) needs to know to retry it.
///
/// Implemented by [`NodeError`](crate::NodeError) and by the tool and model errors of
/// `agentflow-tools`, so that one policy retries all three the same way.
///
/// ```
/// use std::time::Duration;
/// use agentflow_core::{ErrorClass, Failure, NodeError};
///
/// let error = NodeError::retryable("rate limited").with_retry_after(Duration::from_secs(2));
/// assert_eq!(error.class(), ErrorClass::Retryable);
/// assert_eq!(error.retry_after(), Some(Duration::from_secs(2)));
/// ```
pub trait Failure {
    /// Whether trying again may help.
    fn class(&self) -> ErrorClass;

    /// How long the failing service asked to wait before trying again (a `Retry-After`), if
    /// it did. A [`RetryPolicy`](crate::RetryPolicy) honours it up to its cap.
    fn retry_after(&self) -> Option<Duration> {
        None
    }

    /// The error itself, for predicates that look at its type
    /// ([`RetryPolicy::retry_on`](crate::RetryPolicy::retry_on)).
    fn error(&self) -> &(dyn Error + 'static);

    /// True when trying again may help (the class is retryable or ambiguous).
    fn is_retryable(&self) -> bool {
        self.class().is_retryable()
    }

    /// True when the failed attempt may have acted ([`ErrorClass::Ambiguous`]).
    fn is_ambiguous(&self) -> bool {
        self.class() == ErrorClass::Ambiguous
    }
}

impl dyn Failure + '_ {
    /// The underlying error, if it has type `E`.
    pub fn downcast_ref<E: Error + 'static>(&self) -> Option<&E> {
        self.error().downcast_ref()
    }
}
