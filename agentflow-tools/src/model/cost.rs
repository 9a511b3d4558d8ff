//! What model calls use and cost: [`Usage`] (tokens), [`Cost`] (exact nano-dollars) and
//! [`Price`] (dollars per million tokens).

use serde::{Deserialize, Serialize};

/// Tokens used by model calls: the two counters every provider reports. Cache reads and the
/// money spent are in [`ChatResponse::cached_input_tokens`](super::ChatResponse::cached_input_tokens) and [`Cost`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Usage {
    /// Prompt tokens (cached ones included).
    pub input_tokens: u64,
    /// Completion tokens (reasoning included).
    pub output_tokens: u64,
}

impl Usage {
    /// Adds `other` to `self` (a merge rule: `#[state(reducer = Usage::accumulate)]`).
    pub fn accumulate(total: &mut Usage, other: Usage) {
        total.input_tokens = total.input_tokens.saturating_add(other.input_tokens);
        total.output_tokens = total.output_tokens.saturating_add(other.output_tokens);
    }

    /// Input plus output tokens.
    pub fn total_tokens(&self) -> u64 {
        self.input_tokens.saturating_add(self.output_tokens)
    }
}

/// Money spent on model calls, in billionths of a US dollar so that sums are exact (a price
/// per million tokens with up to three decimals is a whole number of nano-dollars per token).
///
/// ```
/// use agentflow_tools::Cost;
///
/// let mut total = Cost::from_usd(0.000_15);
/// Cost::accumulate(&mut total, Cost::from_usd(0.000_25));
/// Cost::accumulate(&mut total, Cost::unpriced());
/// assert_eq!(total.nano_usd, 400_000);
/// assert_eq!(total.usd(), 0.0004);
/// assert_eq!(total.unpriced_calls, 1);
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cost {
    /// The cost of the priced calls, in nano-USD (1e-9 USD).
    pub nano_usd: u64,
    /// Calls whose price was unknown: their tokens are in [`Usage`], their cost is not here,
    /// so a non-zero count means `nano_usd` is a lower bound.
    pub unpriced_calls: u64,
}

impl Cost {
    /// A priced call that cost `usd` dollars (rounded to the nano-dollar; negative or NaN
    /// amounts count as zero).
    pub fn from_usd(usd: f64) -> Cost {
        Cost {
            nano_usd: usd_to_nanos(usd),
            unpriced_calls: 0,
        }
    }

    /// One call whose price is unknown.
    pub fn unpriced() -> Cost {
        Cost {
            nano_usd: 0,
            unpriced_calls: 1,
        }
    }

    /// The cost in US dollars.
    pub fn usd(&self) -> f64 {
        self.nano_usd as f64 / 1e9
    }

    /// Adds `other` to `total` (a merge rule: `#[state(reducer = Cost::accumulate)]`).
    pub fn accumulate(total: &mut Cost, other: Cost) {
        total.nano_usd = total.nano_usd.saturating_add(other.nano_usd);
        total.unpriced_calls = total.unpriced_calls.saturating_add(other.unpriced_calls);
    }
}

/// Rounds dollars to nano-dollars; `as` saturates and maps NaN to 0, which is what we want for
/// prices that are misconfigured rather than a panic.
fn usd_to_nanos(usd: f64) -> u64 {
    (usd.max(0.0) * 1e9).round() as u64
}

/// The prices of one model, in US dollars per million tokens.
///
/// ```
/// use agentflow_tools::{Price, Usage};
///
/// let price = Price::per_million(0.15, 0.60).with_cached_input(0.075);
/// let usage = Usage { input_tokens: 1_000, output_tokens: 100 };
/// // 800 uncached input tokens, 200 cached ones, 100 output tokens.
/// let cost = price.cost(&usage, 200);
/// assert_eq!(cost.nano_usd, 800 * 150 + 200 * 75 + 100 * 600);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Price {
    /// Uncached input tokens (cache writes are charged at this price too).
    pub input: f64,
    /// Output tokens, reasoning included.
    pub output: f64,
    /// Input tokens read from the provider's prompt cache; `None` charges them as `input`.
    #[serde(default)]
    pub cached_input: Option<f64>,
}

impl Price {
    /// Input and output prices in USD per million tokens.
    pub fn per_million(input: f64, output: f64) -> Self {
        Price {
            input,
            output,
            cached_input: None,
        }
    }

    /// The same prices, with cache reads at `cached_input` USD per million tokens.
    pub fn with_cached_input(mut self, cached_input: f64) -> Self {
        self.cached_input = Some(cached_input);
        self
    }

    /// What a call that used `usage`, `cached_input_tokens` of whose input came from the cache,
    /// costs at these prices.
    pub fn cost(&self, usage: &Usage, cached_input_tokens: u64) -> Cost {
        let cached = cached_input_tokens.min(usage.input_tokens);
        let uncached = usage.input_tokens - cached;
        // A price per million tokens is that many thousand nano-dollars per token.
        let nanos = |tokens: u64, per_million: f64| tokens as f64 * per_million.max(0.0) * 1_000.0;
        let total = nanos(uncached, self.input)
            + nanos(cached, self.cached_input.unwrap_or(self.input))
            + nanos(usage.output_tokens, self.output);
        Cost {
            nano_usd: total.round() as u64,
            unpriced_calls: 0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cached_tokens_never_exceed_input() {
        let usage = Usage {
            input_tokens: 10,
            output_tokens: 0,
        };
        let cost = Price::per_million(1.0, 1.0)
            .with_cached_input(0.5)
            .cost(&usage, 50);
        assert_eq!(cost.nano_usd, 10 * 500);
        assert_eq!(Cost::from_usd(f64::NAN), Cost::default());
        assert_eq!(Cost::from_usd(-1.0), Cost::default());
    }
}
