//! [`ModelConfig`]: which provider, model and settings a [`RigChatModel`] uses, readable from a
//! configuration file.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Deserializer, Serialize};

use crate::http::Secret;
use crate::model::ChatModel;
use crate::rig::RigChatModel;

/// The provider protocol a model speaks.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub enum Provider {
    /// OpenAI Chat Completions (`POST {base_url}/chat/completions`): OpenAI itself, or any
    /// compatible server (vLLM, llama.cpp, LiteLLM, a gateway...). Written `openai-compatible`
    /// or `openai`.
    #[serde(rename = "openai-compatible", alias = "openai")]
    OpenAiCompatible,
    /// Anthropic Messages (`POST {base_url}/v1/messages`).
    Anthropic,
    /// Ollama's native chat API (`POST {base_url}/api/chat`).
    Ollama,
}

impl Provider {
    /// The name rig gives the provider (the first half of [`ChatResponse::model`](crate::ChatResponse::model)).
    pub fn name(self) -> &'static str {
        match self {
            Provider::OpenAiCompatible => "openai",
            Provider::Anthropic => "anthropic",
            Provider::Ollama => "ollama",
        }
    }

    /// The environment variable read for the API key when the config names none.
    pub fn default_api_key_env(self) -> &'static str {
        match self {
            Provider::OpenAiCompatible => "OPENAI_API_KEY",
            Provider::Anthropic => "ANTHROPIC_API_KEY",
            Provider::Ollama => "OLLAMA_API_KEY",
        }
    }
}

impl fmt::Display for Provider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The whole-call timeout when the config sets none: generous, because a streamed answer
/// counts from the request to its last token.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(300);

/// How to reach a chat model through rig-core. Deserializable, for example from TOML:
///
/// ```toml
/// provider = "openai-compatible"     # or "anthropic", "ollama"
/// model = "gpt-4o-mini"
/// base_url = "http://localhost:8000/v1"  # optional; with `/v1` for OpenAI-compatible servers
/// api_key_env = "MY_GATEWAY_KEY"     # or api_key = "..." (never logged)
/// temperature = 0.2
/// max_tokens = 1024
/// timeout = "60s"                    # or a number of seconds; default 300 s
/// ```
///
/// The API key is, in order: `api_key`; the variable `api_key_env` names (which must be set);
/// the provider's usual variable (`OPENAI_API_KEY`, `ANTHROPIC_API_KEY`, `OLLAMA_API_KEY`).
/// Without any, OpenAI and Anthropic at their official addresses are refused, while a custom
/// `base_url` (a local server) and Ollama go without a key.
///
/// ```
/// use agentflow_tools::rig::{ModelConfig, Provider};
///
/// let config: ModelConfig = serde_json::from_value(serde_json::json!({
///     "provider": "openai-compatible",
///     "model": "gpt-4o-mini",
///     "base_url": "http://127.0.0.1:8000/v1",
///     "api_key": "sk-local",
///     "timeout": "2.5s"
/// }))?;
/// assert_eq!(config.provider, Provider::OpenAiCompatible);
/// assert_eq!(config.timeout, Some(std::time::Duration::from_millis(2500)));
/// assert!(!format!("{config:?}").contains("sk-local"));
/// let model = config.build()?; // an Arc<dyn ChatModel>; nothing is sent yet
/// # let _ = model;
/// # Ok::<_, Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelConfig {
    /// The protocol.
    pub provider: Provider,
    /// The model name the provider knows.
    pub model: String,
    /// Where the provider is, when not at its official address (OpenAI:
    /// `https://api.openai.com/v1`, Anthropic: `https://api.anthropic.com`, Ollama:
    /// `http://localhost:11434`).
    #[serde(default)]
    pub base_url: Option<String>,
    /// The API key.
    #[serde(default, deserialize_with = "secret")]
    pub api_key: Option<Secret>,
    /// The environment variable holding the API key.
    #[serde(default)]
    pub api_key_env: Option<String>,
    /// Sampling temperature.
    #[serde(default)]
    pub temperature: Option<f64>,
    /// The most tokens an answer may have (Anthropic requires one: rig's default for the model,
    /// else 4096).
    #[serde(default)]
    pub max_tokens: Option<u64>,
    /// The most a whole call (streamed or not) may take; a call that takes longer fails as
    /// retryable. Seconds, or a string such as `"500ms"`, `"30s"`, `"2m"`.
    #[serde(default, deserialize_with = "timeout")]
    pub timeout: Option<Duration>,
}

/// Why a [`ModelConfig`] does not give a model.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// No API key was found for a provider that needs one.
    #[error("no API key for {provider}: set `api_key`, `api_key_env` or the {env} environment variable")]
    MissingApiKey {
        /// The provider.
        provider: Provider,
        /// The variable that was looked up.
        env: &'static str,
    },
    /// `api_key_env` names a variable that is not set (or not Unicode).
    #[error("the environment variable `{0}` named by `api_key_env` is not set")]
    MissingEnv(String),
    /// A setting is out of range or malformed.
    #[error("invalid model config: {0}")]
    Invalid(String),
}

impl ModelConfig {
    /// A config for `model` at `provider`'s official address, with defaults for the rest.
    pub fn new(provider: Provider, model: impl Into<String>) -> Self {
        ModelConfig {
            provider,
            model: model.into(),
            base_url: None,
            api_key: None,
            api_key_env: None,
            temperature: None,
            max_tokens: None,
            timeout: None,
        }
    }

    /// The same config, at `base_url`.
    pub fn with_base_url(mut self, base_url: impl Into<String>) -> Self {
        self.base_url = Some(base_url.into());
        self
    }

    /// The same config, with `api_key`.
    pub fn with_api_key(mut self, api_key: impl Into<Secret>) -> Self {
        self.api_key = Some(api_key.into());
        self
    }

    /// The same config, reading the API key from the environment variable `name`.
    pub fn with_api_key_env(mut self, name: impl Into<String>) -> Self {
        self.api_key_env = Some(name.into());
        self
    }

    /// The same config, with a sampling temperature.
    pub fn with_temperature(mut self, temperature: f64) -> Self {
        self.temperature = Some(temperature);
        self
    }

    /// The same config, with a cap on the answer's tokens.
    pub fn with_max_tokens(mut self, max_tokens: u64) -> Self {
        self.max_tokens = Some(max_tokens);
        self
    }

    /// The same config, with a whole-call timeout.
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// The model this config describes, ready for [`react_agent`](crate::react_agent). Nothing
    /// is sent until the first call.
    pub fn build(&self) -> Result<Arc<dyn ChatModel>, ConfigError> {
        Ok(Arc::new(RigChatModel::from_config(self)?))
    }

    /// Checks the settings that can be checked without a request.
    pub(crate) fn validate(&self) -> Result<(), ConfigError> {
        if self.model.trim().is_empty() {
            return Err(ConfigError::Invalid("`model` is empty".into()));
        }
        if let Some(base_url) = &self.base_url {
            let parsed = url::Url::parse(base_url)
                .map_err(|e| ConfigError::Invalid(format!("`base_url` {base_url:?} is not a URL: {e}")))?;
            if !matches!(parsed.scheme(), "http" | "https") {
                return Err(ConfigError::Invalid(format!(
                    "`base_url` {base_url:?} is not http(s)"
                )));
            }
        }
        if let Some(t) = self.temperature
            && !(0.0..=2.0).contains(&t)
        {
            return Err(ConfigError::Invalid(format!(
                "`temperature` {t} is outside 0..=2"
            )));
        }
        if self.timeout == Some(Duration::ZERO) {
            return Err(ConfigError::Invalid("`timeout` is zero".into()));
        }
        Ok(())
    }

    /// The API key, looked up as the type's documentation says; empty when the provider can do
    /// without one.
    pub(crate) fn resolve_api_key(&self) -> Result<Secret, ConfigError> {
        if let Some(key) = &self.api_key {
            return Ok(key.clone());
        }
        if let Some(name) = &self.api_key_env {
            return std::env::var(name)
                .map(Secret::new)
                .map_err(|_| ConfigError::MissingEnv(name.clone()));
        }
        let env = self.provider.default_api_key_env();
        if let Ok(key) = std::env::var(env)
            && !key.is_empty()
        {
            return Ok(Secret::new(key));
        }
        let needs_key = self.base_url.is_none() && self.provider != Provider::Ollama;
        if needs_key {
            return Err(ConfigError::MissingApiKey {
                provider: self.provider,
                env,
            });
        }
        Ok(Secret::new(""))
    }
}

fn secret<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<Secret>, D::Error> {
    Ok(Option::<String>::deserialize(deserializer)?.map(Secret::new))
}

fn timeout<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<Duration>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Raw {
        Seconds(f64),
        Text(String),
    }
    let Some(raw) = Option::<Raw>::deserialize(deserializer)? else {
        return Ok(None);
    };
    let seconds = match raw {
        Raw::Seconds(seconds) => seconds,
        Raw::Text(text) => parse_duration(&text).ok_or_else(|| {
            serde::de::Error::custom(format!("invalid timeout {text:?}; write e.g. \"30s\""))
        })?,
    };
    Duration::try_from_secs_f64(seconds)
        .map(Some)
        .map_err(|_| serde::de::Error::custom(format!("invalid timeout of {seconds} seconds")))
}

/// Seconds in `"500ms"`, `"30s"`, `"2m"` or `"1.5"`.
fn parse_duration(text: &str) -> Option<f64> {
    let text = text.trim();
    let (number, scale) = if let Some(n) = text.strip_suffix("ms") {
        (n, 0.001)
    } else if let Some(n) = text.strip_suffix('s') {
        (n, 1.0)
    } else if let Some(n) = text.strip_suffix('m') {
        (n, 60.0)
    } else {
        (text, 1.0)
    };
    number.trim().parse::<f64>().ok().map(|n| n * scale)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(json: serde_json::Value) -> Result<ModelConfig, serde_json::Error> {
        serde_json::from_value(json)
    }

    #[test]
    fn reads_providers_and_timeouts() {
        let config = parse(serde_json::json!({"provider": "openai", "model": "m", "timeout": 1.5})).unwrap();
        assert_eq!(config.provider, Provider::OpenAiCompatible);
        assert_eq!(config.timeout, Some(Duration::from_millis(1500)));
        let config = parse(serde_json::json!({"provider": "openai-compatible", "model": "m"})).unwrap();
        assert_eq!(config.provider, Provider::OpenAiCompatible);
        assert_eq!(
            serde_json::to_value(Provider::OpenAiCompatible).unwrap(),
            "openai-compatible"
        );
        for (text, millis) in [("250ms", 250), ("2s", 2000), ("1m", 60_000), ("3", 3000)] {
            let config =
                parse(serde_json::json!({"provider": "ollama", "model": "m", "timeout": text})).unwrap();
            assert_eq!(config.timeout, Some(Duration::from_millis(millis)), "{text}");
        }
        assert!(parse(serde_json::json!({"provider": "ollama", "model": "m", "timeout": "soon"})).is_err());
        assert!(parse(serde_json::json!({"provider": "ollama", "model": "m", "timeout": -1})).is_err());
        assert!(parse(serde_json::json!({"provider": "bedrock", "model": "m"})).is_err());
        assert!(parse(serde_json::json!({"provider": "anthropic", "model": "m", "typo": 1})).is_err());
    }

    #[test]
    fn keys_resolve_in_order() {
        let with_key = ModelConfig::new(Provider::Anthropic, "m").with_api_key("k");
        assert_eq!(with_key.resolve_api_key().unwrap().expose(), "k");
        let missing_env =
            ModelConfig::new(Provider::Anthropic, "m").with_api_key_env("AGENTFLOW_TEST_UNSET_VAR");
        assert_eq!(
            missing_env.resolve_api_key(),
            Err(ConfigError::MissingEnv("AGENTFLOW_TEST_UNSET_VAR".into()))
        );
        let local = ModelConfig::new(Provider::OpenAiCompatible, "m").with_base_url("http://127.0.0.1:1/v1");
        assert!(local.resolve_api_key().is_ok());
        let ollama = ModelConfig::new(Provider::Ollama, "m");
        assert!(ollama.resolve_api_key().is_ok());
    }

    #[test]
    fn validation_rejects_bad_settings() {
        let base = || ModelConfig::new(Provider::OpenAiCompatible, "m").with_api_key("k");
        assert!(base().validate().is_ok());
        assert!(ModelConfig::new(Provider::Ollama, " ").validate().is_err());
        assert!(base().with_base_url("localhost:8000").validate().is_err());
        assert!(base().with_base_url("ftp://x").validate().is_err());
        assert!(base().with_temperature(3.0).validate().is_err());
        assert!(base().with_timeout(Duration::ZERO).validate().is_err());
    }
}
