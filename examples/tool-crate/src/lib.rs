//! A third-party tool crate: unit conversion for an agent.
//!
//! It depends on `agentflow-tools` only for the [`Tool`] trait and its error type: implement the
//! trait on your own type, derive the argument schema with `schemars`, and the tool plugs into
//! any [`ToolRegistry`](agentflow_tools::ToolRegistry), tool node or prebuilt agent.
//!
//! ```
//! use agentflow_example_tool::ConvertUnits;
//! use agentflow_tools::{ToolContext, ToolRegistry};
//!
//! # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
//! let mut tools = ToolRegistry::new();
//! tools.add(ConvertUnits);
//! let tool = tools.get("convert_units").unwrap();
//! let out = tool
//!     .call_json(serde_json::json!({"value": 10.0, "from": "km", "to": "mi"}), ToolContext::new("k"))
//!     .await
//!     .unwrap();
//! assert_eq!(out["text"], "10 km = 6.2137 mi");
//! # });
//! ```
#![warn(missing_docs)]

use agentflow_tools::{Tool, ToolContext, ToolError};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// A unit the tool knows.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Unit {
    /// Kilometres.
    Km,
    /// Miles.
    Mi,
    /// Kilograms.
    Kg,
    /// Pounds.
    Lb,
    /// Degrees Celsius.
    C,
    /// Degrees Fahrenheit.
    F,
}

impl Unit {
    fn name(self) -> &'static str {
        match self {
            Unit::Km => "km",
            Unit::Mi => "mi",
            Unit::Kg => "kg",
            Unit::Lb => "lb",
            Unit::C => "C",
            Unit::F => "F",
        }
    }
}

/// The arguments the model sends (their JSON schema, doc comments included, is what it sees).
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ConvertArgs {
    /// The quantity to convert.
    pub value: f64,
    /// The unit of `value`.
    pub from: Unit,
    /// The unit to convert to (same dimension: length, mass or temperature).
    pub to: Unit,
}

/// The result: the number and a sentence for the model.
#[derive(Debug, PartialEq, Serialize)]
pub struct Converted {
    /// The converted quantity, rounded to 4 decimals.
    pub value: f64,
    /// `"<value> <from> = <result> <to>"`.
    pub text: String,
}

/// Converts between a few units of length, mass and temperature.
#[derive(Clone, Copy, Debug, Default)]
pub struct ConvertUnits;

impl Tool for ConvertUnits {
    type Args = ConvertArgs;
    type Output = Converted;

    fn name(&self) -> &str {
        "convert_units"
    }

    fn description(&self) -> &str {
        "Converts a quantity between units of the same dimension (km/mi, kg/lb, C/F)."
    }

    async fn call(&self, args: ConvertArgs, _ctx: ToolContext) -> Result<Converted, ToolError> {
        if !args.value.is_finite() {
            return Err(ToolError::InvalidArguments(
                "value must be a finite number".into(),
            ));
        }
        let value = convert(args.value, args.from, args.to).ok_or_else(|| {
            ToolError::InvalidArguments(format!(
                "cannot convert {} to {}: they measure different things",
                args.from.name(),
                args.to.name()
            ))
        })?;
        let value = (value * 10_000.0).round() / 10_000.0;
        Ok(Converted {
            value,
            text: format!(
                "{} {} = {} {}",
                args.value,
                args.from.name(),
                value,
                args.to.name()
            ),
        })
    }
}

fn convert(value: f64, from: Unit, to: Unit) -> Option<f64> {
    use Unit::*;
    const KM_PER_MI: f64 = 1.609_344;
    const KG_PER_LB: f64 = 0.453_592_37;
    Some(match (from, to) {
        _ if from == to => value,
        (Km, Mi) => value / KM_PER_MI,
        (Mi, Km) => value * KM_PER_MI,
        (Kg, Lb) => value / KG_PER_LB,
        (Lb, Kg) => value * KG_PER_LB,
        (C, F) => value * 9.0 / 5.0 + 32.0,
        (F, C) => (value - 32.0) * 5.0 / 9.0,
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn run(args: serde_json::Value) -> Result<serde_json::Value, ToolError> {
        let mut tools = agentflow_tools::ToolRegistry::new();
        tools.add(ConvertUnits);
        let tool = tools.get("convert_units").expect("registered");
        tool.call_json(args, ToolContext::new("test")).await
    }

    #[tokio::test]
    async fn converts_within_a_dimension() {
        let out = run(serde_json::json!({"value": 100, "from": "c", "to": "f"}))
            .await
            .unwrap();
        assert_eq!(out["value"], 212.0);
        let out = run(serde_json::json!({"value": 1, "from": "lb", "to": "kg"}))
            .await
            .unwrap();
        assert_eq!(out["value"], 0.4536);
    }

    #[tokio::test]
    async fn bad_arguments_are_errors_the_model_can_read() {
        let across = run(serde_json::json!({"value": 1, "from": "km", "to": "kg"})).await;
        assert_eq!(
            across,
            Err(ToolError::InvalidArguments(
                "cannot convert km to kg: they measure different things".into()
            ))
        );
        let unknown = run(serde_json::json!({"value": 1, "from": "parsec", "to": "km"})).await;
        assert!(matches!(unknown, Err(ToolError::InvalidArguments(m)) if m.contains("parsec")));
        let extra = run(serde_json::json!({"value": 1, "from": "km", "to": "mi", "x": 1})).await;
        assert!(matches!(extra, Err(ToolError::InvalidArguments(_))));
    }

    #[test]
    fn the_schema_shows_the_units_and_docs() {
        let tools = {
            let mut t = agentflow_tools::ToolRegistry::new();
            t.add(ConvertUnits);
            t
        };
        let schema = serde_json::to_string(&tools.specs()[0].parameters).unwrap();
        assert!(
            schema.contains("\"km\"") && schema.contains("The unit to convert to"),
            "{schema}"
        );
    }
}
