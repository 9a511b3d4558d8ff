//! [`PriceTable`]: which [`Price`] a model call is charged at (configured prices, the
//! provider's own figure, rig's built-in catalog).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::{ChatResponse, Cost, Price};

/// Prices per model, used to put a [`Cost`] on every model call of the ReAct agent.
///
/// A call is priced, in this order: with the price configured here for its model (by the
/// `provider/model` name a [`ChatResponse`] reports, or the bare model name); with the cost the
/// model reported ([`ChatResponse::cost_usd`], which rig fills from the provider's figure or
/// its built-in catalog); with rig's built-in catalog (`rig_core::catalog::Catalog::builtin()`,
/// only with the `rig` feature, and not for Ollama, whose servers are usually local); otherwise
/// it counts as unpriced.
///
/// Catalog prices are standard-tier list prices: they leave out service tiers, long-context
/// tiers and hosted-tool fees, so they can be lower than the bill.
///
/// ```
/// use agentflow_tools::{ChatResponse, Message, Price, PriceTable, Usage};
///
/// let prices = PriceTable::new().with_price("my-model", Price::per_million(1.0, 2.0));
/// let usage = Usage { input_tokens: 1_000_000, output_tokens: 500_000 };
/// let response = ChatResponse::new(Message::assistant("hi"), usage).with_model("openai/my-model");
/// assert_eq!(prices.cost(&response).usd(), 2.0);
///
/// let unknown = ChatResponse::new(Message::assistant("hi"), usage).with_model("local/other");
/// assert_eq!(prices.cost(&unknown).unpriced_calls, 1);
/// ```
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PriceTable {
    /// Prices by model: `provider/model` (as in [`ChatResponse::model`]) or a bare model name.
    #[serde(default)]
    pub prices: BTreeMap<String, Price>,
    /// Whether to fall back to rig's built-in catalog (needs the `rig` feature; on by default).
    #[serde(default = "yes")]
    pub use_catalog: bool,
}

fn yes() -> bool {
    true
}

impl Default for PriceTable {
    fn default() -> Self {
        PriceTable::new()
    }
}

/// Vendors whose catalog prices do not describe what a call costs: an Ollama server is usually
/// local (the catalog's prices are Ollama Cloud's), ChatGPT and Copilot bill subscriptions. rig
/// leaves them unpriced for the same reason.
#[cfg(feature = "rig")]
const UNPRICED_VENDORS: [&str; 3] = ["ollama", "chatgpt", "copilot"];

impl PriceTable {
    /// No configured prices; the built-in catalog as the fallback.
    pub fn new() -> Self {
        PriceTable {
            prices: BTreeMap::new(),
            use_catalog: true,
        }
    }

    /// The same table, without the catalog fallback (unknown models stay unpriced).
    pub fn without_catalog(mut self) -> Self {
        self.use_catalog = false;
        self
    }

    /// The same table, with `price` for `model` (`provider/model` or a bare model name).
    pub fn with_price(mut self, model: impl Into<String>, price: Price) -> Self {
        self.prices.insert(model.into(), price);
        self
    }

    /// The price configured for `model`: by its full name, then by the part after the
    /// provider (`openai/gpt-4o` finds `gpt-4o`).
    pub fn configured(&self, model: &str) -> Option<Price> {
        self.prices
            .get(model)
            .or_else(|| model.split_once('/').and_then(|(_, bare)| self.prices.get(bare)))
            .copied()
    }

    /// The price rig's built-in catalog lists for `provider/model`, if any.
    #[cfg(feature = "rig")]
    pub fn catalog_price(model: &str) -> Option<Price> {
        let (vendor, _) = model.split_once('/')?;
        if UNPRICED_VENDORS.contains(&vendor) {
            return None;
        }
        let pricing = rig_core::catalog::Catalog::builtin().resolve(model)?.pricing?;
        Some(Price {
            input: pricing.input,
            output: pricing.output,
            cached_input: pricing.cache_read,
        })
    }

    fn catalog(&self, model: &str) -> Option<Price> {
        #[cfg(feature = "rig")]
        if self.use_catalog {
            return Self::catalog_price(model);
        }
        let _ = model;
        None
    }

    /// The cost of the call that produced `response` (see the type's documentation for the
    /// order of the sources).
    pub fn cost(&self, response: &ChatResponse) -> Cost {
        let model = response.model.as_deref();
        if let Some(price) = model.and_then(|m| self.configured(m)) {
            return price.cost(&response.usage, response.cached_input_tokens);
        }
        if let Some(usd) = response.cost_usd {
            return Cost::from_usd(usd);
        }
        match model.and_then(|m| self.catalog(m)) {
            Some(price) => price.cost(&response.usage, response.cached_input_tokens),
            None => Cost::unpriced(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Message;
    use crate::model::Usage;

    #[test]
    fn price_table_prefers_configured_then_reported_then_unpriced() {
        let usage = Usage {
            input_tokens: 2_000,
            output_tokens: 1_000,
        };
        let table = PriceTable::new()
            .without_catalog()
            .with_price("acme/big", Price::per_million(3.0, 15.0));
        let configured = ChatResponse::new(Message::assistant(""), usage)
            .with_model("acme/big")
            .with_cost_usd(99.0);
        assert_eq!(table.cost(&configured).nano_usd, 2_000 * 3_000 + 1_000 * 15_000);
        let reported = ChatResponse::new(Message::assistant(""), usage)
            .with_model("acme/small")
            .with_cost_usd(0.25);
        assert_eq!(table.cost(&reported), Cost::from_usd(0.25));
        let anonymous = ChatResponse::new(Message::assistant(""), usage);
        assert_eq!(table.cost(&anonymous), Cost::unpriced());
    }

    #[test]
    fn price_table_reads_from_json() {
        let table: PriceTable = serde_json::from_value(serde_json::json!({
            "prices": {"gpt-4o-mini": {"input": 0.15, "output": 0.6, "cached_input": 0.075}}
        }))
        .unwrap();
        assert!(table.use_catalog);
        assert_eq!(
            table.configured("openai/gpt-4o-mini"),
            Some(Price::per_million(0.15, 0.6).with_cached_input(0.075))
        );
    }

    #[cfg(feature = "rig")]
    #[test]
    fn catalog_prices_known_models_but_not_ollama() {
        assert!(PriceTable::catalog_price("anthropic/claude-haiku-4-5").is_some());
        assert!(PriceTable::catalog_price("ollama/qwen3").is_none());
        assert!(PriceTable::catalog_price("no-vendor").is_none());
    }
}
