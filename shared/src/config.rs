//! Configuration loading: a TOML file, every key overridable by `LOGINWATCH_*` environment variables
//! (`LOGINWATCH_KAFKA__BOOTSTRAP_SERVERS` sets `kafka.bootstrap_servers`; `__` separates levels),
//! and secrets that never print.

use std::path::{Path, PathBuf};

use figment::providers::{Env, Format, Toml};
use figment::Figment;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

/// A config problem the operator must fix; the message names the key and the fix.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("config file {path}: {message}")]
    File { path: PathBuf, message: String },
    #[error("config key `{key}`: {message}")]
    Key { key: String, message: String },
}

impl ConfigError {
    pub fn key(key: impl Into<String>, message: impl Into<String>) -> Self {
        ConfigError::Key {
            key: key.into(),
            message: message.into(),
        }
    }
}

/// Loads `T` from an optional TOML file plus `LOGINWATCH_*` environment overrides.
/// Unknown keys are rejected when `T` uses `#[serde(deny_unknown_fields)]`.
pub fn load<T: DeserializeOwned>(path: Option<&Path>) -> Result<T, ConfigError> {
    let mut figment = Figment::new();
    if let Some(path) = path {
        if !path.exists() {
            return Err(ConfigError::File {
                path: path.to_path_buf(),
                message: "does not exist; pass an existing TOML file to --config".into(),
            });
        }
        figment = figment.merge(Toml::file(path));
    }
    load_from(
        figment.merge(Env::prefixed("LOGINWATCH_").split("__")),
        path,
    )
}

/// Loads `T` from TOML text (tests, embedded defaults) plus environment overrides.
pub fn load_str<T: DeserializeOwned>(toml: &str) -> Result<T, ConfigError> {
    load_from(
        Figment::new()
            .merge(Toml::string(toml))
            .merge(Env::prefixed("LOGINWATCH_").split("__")),
        None,
    )
}

fn load_from<T: DeserializeOwned>(figment: Figment, path: Option<&Path>) -> Result<T, ConfigError> {
    figment.extract::<T>().map_err(|errors| {
        let e = errors
            .into_iter()
            .next()
            .expect("figment reports at least one error");
        let key = e.path.join(".");
        let message = match &e.kind {
            figment::error::Kind::UnknownField(field, expected) => format!(
                "unknown key `{field}`; expected one of: {}",
                expected.join(", ")
            ),
            figment::error::Kind::MissingField(field) => {
                format!("missing required key `{field}`; add it to the config file")
            }
            other => other.to_string(),
        };
        match (key.is_empty(), path) {
            (true, Some(p)) => ConfigError::File {
                path: p.to_path_buf(),
                message,
            },
            (true, None) => ConfigError::key("(root)", message),
            (false, _) => ConfigError::key(key, message),
        }
    })
}

/// A secret value (token, key, password). Its `Debug` and `Display` never show the value.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }

    /// The value, for the one place that must send it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret([redacted])")
    }
}

impl std::fmt::Display for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("[redacted]")
    }
}

/// Where a secret comes from in a config file: `{ env = "NAME" }`, `{ file = "/path" }` or,
/// for tests only, `{ value = "…" }`.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SecretRef {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub env: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file: Option<PathBuf>,
    #[serde(default, skip_serializing)]
    pub value: Option<String>,
}

impl std::fmt::Debug for SecretRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SecretRef")
            .field("env", &self.env)
            .field("file", &self.file)
            .field("value", &self.value.as_ref().map(|_| "[redacted]"))
            .finish()
    }
}

impl SecretRef {
    pub fn from_env(name: &str) -> Self {
        SecretRef {
            env: Some(name.into()),
            file: None,
            value: None,
        }
    }

    pub fn from_value(value: &str) -> Self {
        SecretRef {
            env: None,
            file: None,
            value: Some(value.into()),
        }
    }

    /// Reads the secret. `key` is the config key, named in errors (the value never is).
    pub fn resolve(&self, key: &str) -> Result<Secret, ConfigError> {
        let set = [
            self.env.is_some(),
            self.file.is_some(),
            self.value.is_some(),
        ];
        if set.iter().filter(|s| **s).count() != 1 {
            return Err(ConfigError::key(
                key,
                "set exactly one of `env` (environment variable name), `file` (path) or `value`",
            ));
        }
        if let Some(name) = &self.env {
            return match std::env::var(name) {
                Ok(v) if !v.trim().is_empty() => Ok(Secret(v)),
                _ => Err(ConfigError::key(
                    key,
                    format!("environment variable {name} is not set or empty; export it before starting"),
                )),
            };
        }
        if let Some(path) = &self.file {
            return match std::fs::read_to_string(path) {
                Ok(v) if !v.trim().is_empty() => {
                    Ok(Secret(v.trim_end_matches(['\n', '\r']).to_string()))
                }
                Ok(_) => Err(ConfigError::key(
                    key,
                    format!("file {} is empty", path.display()),
                )),
                Err(e) => Err(ConfigError::key(
                    key,
                    format!(
                        "cannot read file {}: {e}; check the path and permissions",
                        path.display()
                    ),
                )),
            };
        }
        Ok(Secret(self.value.clone().unwrap_or_default()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Demo {
        #[serde(default)]
        name: String,
        #[serde(default)]
        nested: Nested,
    }

    #[derive(Debug, Default, Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Nested {
        #[serde(default)]
        count: u32,
    }

    #[test]
    fn unknown_key_is_named() {
        let err = load_str::<Demo>("[nested]\ncuont = 3\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("cuont"), "{err}");
        assert!(err.contains("count"), "{err}");
    }

    #[test]
    fn wrong_type_names_key() {
        let err = load_str::<Demo>("[nested]\ncount = \"many\"\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("nested.count"), "{err}");
    }

    #[test]
    fn parses_values() {
        let d: Demo = load_str("name = \"x\"\n[nested]\ncount = 3\n").unwrap();
        assert_eq!((d.name.as_str(), d.nested.count), ("x", 3));
    }

    #[test]
    fn secrets_never_print() {
        let s = SecretRef::from_value("hunter2");
        assert!(!format!("{s:?}").contains("hunter2"));
        let v = s.resolve("k").unwrap();
        assert!(!format!("{v:?} {v}").contains("hunter2"));
        assert_eq!(v.expose(), "hunter2");
    }

    #[test]
    fn missing_env_secret_names_key_not_value() {
        let err = SecretRef::from_env("LOGINWATCH_TEST_SURELY_UNSET_VAR")
            .resolve("sinks.splunk.token")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("sinks.splunk.token") && err.contains("LOGINWATCH_TEST_SURELY_UNSET_VAR")
        );
    }
}
