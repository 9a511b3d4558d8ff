//! Circuit breakers, one per tool (or backend): after `failure_threshold` consecutive failures
//! the circuit opens and calls fail fast; after `cool_down` one probe call is let through
//! (half-open); its success closes the circuit, its failure opens it again.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::time::Instant;

/// When a circuit opens and for how long.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BreakerConfig {
    /// Consecutive failures (retryable errors and timeouts) that open the circuit.
    pub failure_threshold: u32,
    /// How long an open circuit fails fast before letting a probe through.
    pub cool_down: Duration,
}

impl Default for BreakerConfig {
    /// 5 failures, 30 s.
    fn default() -> Self {
        BreakerConfig {
            failure_threshold: 5,
            cool_down: Duration::from_secs(30),
        }
    }
}

/// The state of one circuit, for metrics and tests.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CircuitState {
    /// Calls go through; `failures` consecutive failures so far.
    Closed {
        /// Consecutive failures.
        failures: u32,
    },
    /// Calls fail fast until `until`.
    Open {
        /// When a probe may go through.
        until: Instant,
    },
    /// One probe call is in flight; other calls fail fast until it ends.
    HalfOpen,
}

/// Shared circuit breakers by key (the tool's name). Cloning shares the circuits, so keep a
/// clone to read their states while an agent runs.
///
/// ```
/// use std::time::Duration;
/// use agentflow_tools::{BreakerConfig, CircuitBreakers, CircuitState};
///
/// # tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap().block_on(async {
/// let breakers = CircuitBreakers::new(BreakerConfig { failure_threshold: 2, cool_down: Duration::from_secs(1) });
/// breakers.try_acquire("jira").unwrap();
/// breakers.record_failure("jira");
/// breakers.try_acquire("jira").unwrap();
/// breakers.record_failure("jira");
/// assert!(matches!(breakers.state("jira"), CircuitState::Open { .. }));
/// assert!(breakers.try_acquire("jira").is_err());
/// # });
/// ```
#[derive(Clone, Debug, Default)]
pub struct CircuitBreakers {
    config: BreakerConfig,
    circuits: Arc<Mutex<HashMap<String, CircuitState>>>,
}

impl CircuitBreakers {
    /// Breakers with `config`.
    pub fn new(config: BreakerConfig) -> Self {
        CircuitBreakers {
            config,
            circuits: Arc::default(),
        }
    }

    /// The configuration.
    pub fn config(&self) -> BreakerConfig {
        self.config
    }

    /// The state of `key`'s circuit (closed with no failures if it was never used). An open
    /// circuit whose cool-down has passed still reads as open until a call probes it.
    pub fn state(&self, key: &str) -> CircuitState {
        self.with(|c| c.get(key).copied())
            .flatten()
            .unwrap_or(CircuitState::Closed { failures: 0 })
    }

    /// Every circuit used so far, with its state.
    pub fn states(&self) -> Vec<(String, CircuitState)> {
        let mut all = self
            .with(|c| c.iter().map(|(k, v)| (k.clone(), *v)).collect::<Vec<_>>())
            .unwrap_or_default();
        all.sort_by(|a, b| a.0.cmp(&b.0));
        all
    }

    fn with<T>(&self, f: impl FnOnce(&mut HashMap<String, CircuitState>) -> T) -> Option<T> {
        self.circuits.lock().ok().map(|mut c| f(&mut c))
    }

    /// Asks to make a call through `key`'s circuit. `Err(wait)` means fail fast: the circuit is
    /// open (or half-open with a probe in flight) for about `wait` more.
    pub fn try_acquire(&self, key: &str) -> Result<(), Duration> {
        let now = Instant::now();
        let cool_down = self.config.cool_down;
        self.with(|circuits| {
            let state = circuits
                .entry(key.to_owned())
                .or_insert(CircuitState::Closed { failures: 0 });
            match *state {
                CircuitState::Closed { .. } => Ok(()),
                CircuitState::Open { until } if now >= until => {
                    *state = CircuitState::HalfOpen;
                    Ok(())
                }
                CircuitState::Open { until } => Err(until - now),
                CircuitState::HalfOpen => Err(cool_down),
            }
        })
        .unwrap_or(Ok(()))
    }

    /// Records a successful call: the circuit closes.
    pub fn record_success(&self, key: &str) {
        self.with(|c| c.insert(key.to_owned(), CircuitState::Closed { failures: 0 }));
    }

    /// Records a failed call: a half-open circuit opens again; a closed one opens when it
    /// reaches the threshold.
    pub fn record_failure(&self, key: &str) {
        let config = self.config;
        self.with(|circuits| {
            let state = circuits
                .entry(key.to_owned())
                .or_insert(CircuitState::Closed { failures: 0 });
            let open = CircuitState::Open {
                until: Instant::now() + config.cool_down,
            };
            *state = match *state {
                CircuitState::Closed { failures } if failures + 1 >= config.failure_threshold => open,
                CircuitState::Closed { failures } => CircuitState::Closed {
                    failures: failures + 1,
                },
                CircuitState::HalfOpen => open,
                CircuitState::Open { until } => CircuitState::Open { until },
            };
        });
    }

    /// Records a call that neither succeeded nor failed the backend (invalid arguments, a
    /// terminal refusal): a half-open probe gives its place back, nothing else changes.
    pub fn record_neutral(&self, key: &str) {
        self.with(|circuits| {
            if let Some(state) = circuits.get_mut(key)
                && *state == CircuitState::HalfOpen
            {
                *state = CircuitState::Closed { failures: 0 };
            }
        });
    }
}
