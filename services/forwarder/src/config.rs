//! Forwarder configuration (TOML, every key overridable by `LOGINWATCH_*` environment variables).
//!
//! ```toml
//! group_id = "loginwatch-forwarder"      # default
//! ops_listen = "127.0.0.1:9103"          # default; /metrics /healthz /readyz
//! dedupe_window = 100000                 # default; detection ids remembered to drop redeliveries
//! drain_timeout_secs = 30                # default; how long shutdown waits for sinks to drain
//!
//! [kafka]
//! bootstrap_servers = "kafka:9092"
//!
//! [[sinks]]
//! name = "splunk"                        # metric label and dead-letter origin (`sink:splunk`)
//! type = "splunk_hec"                    # splunk_hec | elasticsearch | syslog | webhook | stdout
//! url = "https://splunk.example:8088"
//! token = { env = "SPLUNK_HEC_TOKEN" }
//! index = "security"
//! acknowledgements = true
//! batch = { max_events = 100, linger_ms = 1000 }
//! ```
//!
//! Secrets (`token`, `password`, `api_key`, `hmac_secret`) are written `{ env = "VAR" }` or
//! `{ file = "/path" }`; a plain string is refused, naming the key but never the value. A sink's
//! `url` and webhook `headers` values may be plain strings or take the same forms (Slack- and
//! Teams-style webhook URLs and `Authorization` headers carry tokens); either way they are never
//! logged or shown in `Debug` output or errors.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use loginwatch_shared::config::{ConfigError, SecretRef, Sensitive};
use loginwatch_shared::kafka::KafkaSettings;
use serde::{Deserialize, Serialize};

use crate::render::PayloadFormat;

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ForwarderConfig {
    #[serde(default)]
    pub kafka: KafkaSettings,
    /// Kafka consumer group. Default `loginwatch-forwarder`.
    #[serde(default = "default_group_id")]
    pub group_id: String,
    /// Ops endpoint address. Default `127.0.0.1:9103`.
    #[serde(default = "default_ops_listen")]
    pub ops_listen: SocketAddr,
    /// How many recent detection ids are remembered to drop a redelivered message. Default 100000.
    #[serde(default = "default_dedupe_window")]
    pub dedupe_window: usize,
    /// Seconds shutdown waits for the sinks to deliver what they hold. Default 30.
    #[serde(default = "default_drain_timeout_secs")]
    pub drain_timeout_secs: u64,
    /// Where detections go; at least one.
    #[serde(default)]
    pub sinks: Vec<SinkConfig>,
}

fn default_group_id() -> String {
    "loginwatch-forwarder".into()
}
fn default_ops_listen() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 9103))
}
fn default_dedupe_window() -> usize {
    100_000
}
fn default_drain_timeout_secs() -> u64 {
    30
}

impl Default for ForwarderConfig {
    fn default() -> Self {
        ForwarderConfig {
            kafka: KafkaSettings::default(),
            group_id: default_group_id(),
            ops_listen: default_ops_listen(),
            dedupe_window: default_dedupe_window(),
            drain_timeout_secs: default_drain_timeout_secs(),
            sinks: Vec::new(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SinkType {
    SplunkHec,
    /// Elasticsearch or OpenSearch `_bulk`.
    #[serde(alias = "opensearch")]
    Elasticsearch,
    Syslog,
    Webhook,
    /// One line per detection on standard output (the demo).
    #[serde(alias = "terminal")]
    Stdout,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SyslogProtocol {
    #[default]
    Tcp,
    Udp,
    Tls,
}

/// TCP framing (RFC 6587): `octet_counting` (`LEN SP MSG`, default) or `newline`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SyslogFraming {
    #[default]
    OctetCounting,
    Newline,
}

/// Elasticsearch bulk action: `create` (default; required for data streams; an existing `_id`
/// counts as delivered) or `index` (overwrite).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BulkAction {
    #[default]
    Create,
    Index,
}

/// One sink. Options that do not apply to `type` are rejected by [`ForwarderConfig::validate`].
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SinkConfig {
    /// Unique name: metric label `sink`, dead-letter origin `sink:<name>`.
    pub name: String,
    #[serde(rename = "type")]
    pub kind: SinkType,
    /// HTTP sinks: base URL (`https://splunk:8088`, `https://es:9200`) or, for webhooks, the full URL.
    /// A plain string or a secret form (`{ env = "SLACK_WEBHOOK_URL" }`); never logged: errors show
    /// only its scheme, host and port.
    #[serde(default)]
    pub url: Option<Sensitive>,
    /// Syslog: `host:port`.
    #[serde(default)]
    pub address: Option<String>,
    /// HTTP sinks: `ecs` (default) or `ocsf`.
    #[serde(default)]
    pub format: PayloadFormat,
    /// Splunk HEC token.
    #[serde(default)]
    pub token: Option<SecretRef>,
    /// Splunk index or Elasticsearch index / data stream (ES default `logs-loginwatch.detections-default`).
    #[serde(default)]
    pub index: Option<String>,
    /// Splunk `source`. Default `loginwatch`.
    #[serde(default)]
    pub source: Option<String>,
    /// Splunk `sourcetype`. Default `loginwatch:detection`.
    #[serde(default)]
    pub sourcetype: Option<String>,
    /// Splunk `host` / syslog HOSTNAME. Default: `$HOSTNAME`, else `loginwatch`.
    #[serde(default)]
    pub host: Option<String>,
    /// Splunk indexer acknowledgements (the token must have them enabled). Default false.
    #[serde(default)]
    pub acknowledgements: bool,
    /// How often to poll `/services/collector/ack`. Default 500 ms.
    #[serde(default = "default_ack_poll_ms")]
    pub ack_poll_interval_ms: u64,
    /// Give up waiting for an ack and resend after this long. Default 60 s.
    #[serde(default = "default_ack_timeout_secs")]
    pub ack_timeout_secs: u64,
    /// Elasticsearch bulk action. Default `create`.
    #[serde(default)]
    pub action: BulkAction,
    /// Elasticsearch basic auth user (with `password`).
    #[serde(default)]
    pub username: Option<String>,
    #[serde(default)]
    pub password: Option<SecretRef>,
    /// Elasticsearch `Authorization: ApiKey …` (base64 id:key).
    #[serde(default)]
    pub api_key: Option<SecretRef>,
    /// Webhook: HMAC-SHA256 key; adds `X-Loginwatch-Signature: t=<unix seconds>,v1=<hex>`
    /// (see [`crate::sink::webhook`]).
    #[serde(default)]
    pub hmac_secret: Option<SecretRef>,
    /// Webhook: extra request headers. Values are plain strings or secret forms
    /// (`Authorization = { env = "SOAR_TOKEN" }`); never logged.
    #[serde(default)]
    pub headers: BTreeMap<String, Sensitive>,
    /// Syslog transport. Default `tcp`.
    #[serde(default)]
    pub protocol: SyslogProtocol,
    /// Syslog TCP/TLS framing. Default `octet_counting`.
    #[serde(default)]
    pub framing: SyslogFraming,
    /// Syslog facility 0-23. Default 10 (authpriv).
    #[serde(default = "default_facility")]
    pub facility: u8,
    /// Stdout: ANSI colours. Default false.
    #[serde(default)]
    pub color: bool,
    /// Request / connect timeout. Default 10 s.
    #[serde(default = "default_request_timeout_secs")]
    pub request_timeout_secs: u64,
    #[serde(default)]
    pub batch: BatchConfig,
    #[serde(default)]
    pub retry: RetryConfig,
    #[serde(default)]
    pub circuit_breaker: CircuitBreakerConfig,
    #[serde(default)]
    pub tls: TlsConfig,
}

fn default_ack_poll_ms() -> u64 {
    500
}
fn default_ack_timeout_secs() -> u64 {
    60
}
fn default_facility() -> u8 {
    10
}
fn default_request_timeout_secs() -> u64 {
    10
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BatchConfig {
    /// Detections per request. Default 100.
    pub max_events: usize,
    /// How long a partial batch waits for more. Default 1000 ms.
    pub linger_ms: u64,
    /// Detections buffered for this sink before the consumer waits (bounded memory). Default 1000.
    pub queue_capacity: usize,
}

impl Default for BatchConfig {
    fn default() -> Self {
        BatchConfig {
            max_events: 100,
            linger_ms: 1000,
            queue_capacity: 1000,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RetryConfig {
    /// First backoff. Default 200 ms.
    pub initial_backoff_ms: u64,
    /// Backoff cap. Default 30000 ms.
    pub max_backoff_ms: u64,
    /// Attempts for an item the sink itself fails (per-item 5xx) before it is dead-lettered.
    /// Whole-request failures (sink down) and throttling (429) are retried without limit. Default 5.
    pub max_item_attempts: u32,
}

impl Default for RetryConfig {
    fn default() -> Self {
        RetryConfig {
            initial_backoff_ms: 200,
            max_backoff_ms: 30_000,
            max_item_attempts: 5,
        }
    }
}

impl RetryConfig {
    pub fn initial_backoff(&self) -> Duration {
        Duration::from_millis(self.initial_backoff_ms.max(1))
    }
    pub fn max_backoff(&self) -> Duration {
        Duration::from_millis(self.max_backoff_ms.max(self.initial_backoff_ms.max(1)))
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CircuitBreakerConfig {
    /// Consecutive failed requests that open the circuit. Default 5.
    pub failure_threshold: u32,
    /// How long the circuit stays open before one trial request. Default 30 s.
    pub open_secs: u64,
}

impl Default for CircuitBreakerConfig {
    fn default() -> Self {
        CircuitBreakerConfig {
            failure_threshold: 5,
            open_secs: 30,
        }
    }
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TlsConfig {
    /// PEM file of CA certificates to trust (in addition to the built-in roots for HTTP sinks).
    pub ca_file: Option<PathBuf>,
    /// PEM client certificate chain (mutual TLS), with `client_key_file`.
    pub client_cert_file: Option<PathBuf>,
    pub client_key_file: Option<PathBuf>,
    /// Accept any server certificate. Insecure: for lab use only; logged loudly at start.
    pub insecure_skip_verify: bool,
    /// Name to verify the server certificate against (default: the host of `url`/`address`).
    pub server_name: Option<String>,
}

impl ForwarderConfig {
    /// Checks what serde cannot: required options per sink type, options that do not apply,
    /// unique names. Errors name the key and the fix.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.sinks.is_empty() {
            return Err(ConfigError::key(
                "sinks",
                "no sinks configured; add at least one [[sinks]] table (type = splunk_hec | elasticsearch | syslog | webhook | stdout)",
            ));
        }
        if self.dedupe_window == 0 {
            return Err(ConfigError::key("dedupe_window", "must be at least 1"));
        }
        let mut names = std::collections::BTreeSet::new();
        for (i, s) in self.sinks.iter().enumerate() {
            let key = |field: &str| format!("sinks[{i}].{field}");
            if s.name.trim().is_empty() || !names.insert(s.name.clone()) {
                return Err(ConfigError::key(
                    key("name"),
                    "must be set and unique across sinks",
                ));
            }
            if s.batch.max_events == 0 {
                return Err(ConfigError::key(
                    key("batch.max_events"),
                    "must be at least 1",
                ));
            }
            if s.batch.queue_capacity == 0 {
                return Err(ConfigError::key(
                    key("batch.queue_capacity"),
                    "must be at least 1",
                ));
            }
            if s.facility > 23 {
                return Err(ConfigError::key(
                    key("facility"),
                    "syslog facility must be 0-23",
                ));
            }
            let http = matches!(
                s.kind,
                SinkType::SplunkHec | SinkType::Elasticsearch | SinkType::Webhook
            );
            if http {
                match &s.url {
                    None => {
                        return Err(ConfigError::key(key("url"), "required for this sink type"))
                    }
                    Some(u) => {
                        // Read now (start-up) when given in a secret form; never quoted.
                        let u = u.resolve(&key("url"))?;
                        let parsed = reqwest::Url::parse(u.expose()).map_err(|e| {
                            ConfigError::key(
                                key("url"),
                                format!("not a URL ({e}); e.g. https://host:8088"),
                            )
                        })?;
                        if !matches!(parsed.scheme(), "http" | "https") {
                            return Err(ConfigError::key(
                                key("url"),
                                "scheme must be http or https",
                            ));
                        }
                    }
                }
            } else if s.url.is_some() {
                return Err(ConfigError::key(
                    key("url"),
                    "does not apply to this sink type",
                ));
            }
            if s.kind == SinkType::Syslog {
                let Some(address) = &s.address else {
                    return Err(ConfigError::key(
                        key("address"),
                        "required for syslog: host:port",
                    ));
                };
                if address
                    .rsplit_once(':')
                    .and_then(|(_, p)| p.parse::<u16>().ok())
                    .is_none()
                {
                    return Err(ConfigError::key(key("address"), "must be host:port"));
                }
            } else if s.address.is_some() {
                return Err(ConfigError::key(
                    key("address"),
                    "only syslog sinks take an address; HTTP sinks use url",
                ));
            }
            let only = |present: bool, field: &str, kind: SinkType| -> Result<(), ConfigError> {
                if present && s.kind != kind {
                    return Err(ConfigError::key(
                        key(field),
                        format!("applies only to type {kind:?} sinks"),
                    ));
                }
                Ok(())
            };
            only(s.token.is_some(), "token", SinkType::SplunkHec)?;
            only(s.acknowledgements, "acknowledgements", SinkType::SplunkHec)?;
            only(s.sourcetype.is_some(), "sourcetype", SinkType::SplunkHec)?;
            only(s.username.is_some(), "username", SinkType::Elasticsearch)?;
            only(s.password.is_some(), "password", SinkType::Elasticsearch)?;
            only(s.api_key.is_some(), "api_key", SinkType::Elasticsearch)?;
            only(s.hmac_secret.is_some(), "hmac_secret", SinkType::Webhook)?;
            only(!s.headers.is_empty(), "headers", SinkType::Webhook)?;
            only(s.color, "color", SinkType::Stdout)?;
            if s.kind == SinkType::SplunkHec && s.token.is_none() {
                return Err(ConfigError::key(
                    key("token"),
                    "Splunk HEC needs a token, e.g. token = { env = \"SPLUNK_HEC_TOKEN\" }",
                ));
            }
            if s.kind == SinkType::Elasticsearch && s.username.is_some() != s.password.is_some() {
                return Err(ConfigError::key(
                    key("password"),
                    "set both username and password, or neither",
                ));
            }
            if s.tls.client_cert_file.is_some() != s.tls.client_key_file.is_some() {
                return Err(ConfigError::key(
                    key("tls.client_key_file"),
                    "set both client_cert_file and client_key_file, or neither",
                ));
            }
        }
        Ok(())
    }
}

impl SinkConfig {
    /// The sink's URL, read from its secret form if it has one; `index` names the key in errors.
    pub fn resolve_url(&self, index: usize) -> Result<String, ConfigError> {
        let key = format!("sinks[{index}].url");
        match &self.url {
            Some(u) => Ok(u.resolve(&key)?.expose().to_string()),
            None => Err(ConfigError::key(key, "required for this sink type")),
        }
    }

    /// `$HOSTNAME` or `loginwatch` when `host` is not set.
    pub fn host_or_default(&self) -> String {
        self.host
            .clone()
            .or_else(|| {
                std::env::var("HOSTNAME")
                    .ok()
                    .filter(|h| !h.trim().is_empty())
            })
            .unwrap_or_else(|| "loginwatch".into())
    }

    pub fn request_timeout(&self) -> Duration {
        Duration::from_secs(self.request_timeout_secs.max(1))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use loginwatch_shared::config::load_str;

    #[test]
    fn minimal_config_gets_documented_defaults() {
        let c: ForwarderConfig =
            load_str("[[sinks]]\nname = \"t\"\ntype = \"terminal\"\n").unwrap();
        c.validate().unwrap();
        assert_eq!(c.group_id, "loginwatch-forwarder");
        assert_eq!(c.sinks[0].kind, SinkType::Stdout);
        assert_eq!(c.sinks[0].batch.max_events, 100);
        assert_eq!(c.sinks[0].retry.max_item_attempts, 5);
    }

    #[test]
    fn unknown_sink_key_is_named() {
        let err = load_str::<ForwarderConfig>(
            "[[sinks]]\nname = \"s\"\ntype = \"syslog\"\nadress = \"x:1\"\n",
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("adress") && err.contains("address"), "{err}");
    }

    #[test]
    fn options_of_another_sink_type_are_rejected_with_the_key() {
        let c: ForwarderConfig = load_str(
            "[[sinks]]\nname = \"s\"\ntype = \"syslog\"\naddress = \"127.0.0.1:514\"\ntoken = { value = \"x\" }\n",
        )
        .unwrap();
        let err = c.validate().unwrap_err().to_string();
        assert!(err.contains("sinks[0].token"), "{err}");
    }

    #[test]
    fn hec_without_token_says_how_to_fix() {
        let c: ForwarderConfig = load_str(
            "[[sinks]]\nname = \"s\"\ntype = \"splunk_hec\"\nurl = \"http://127.0.0.1:8088\"\n",
        )
        .unwrap();
        let err = c.validate().unwrap_err().to_string();
        assert!(
            err.contains("sinks[0].token") && err.contains("env"),
            "{err}"
        );
    }

    #[test]
    fn example_config_is_valid() {
        let text = include_str!("../forwarder.example.toml");
        let c: ForwarderConfig = load_str(text).unwrap();
        c.validate().unwrap();
        assert_eq!(c.sinks.len(), 5);
    }

    #[test]
    fn plain_string_secrets_are_refused_naming_the_key_never_the_value() {
        for (field, extra) in [
            (
                "token",
                "type = \"splunk_hec\"\nurl = \"http://127.0.0.1:8088\"",
            ),
            (
                "hmac_secret",
                "type = \"webhook\"\nurl = \"http://127.0.0.1:8080/h\"",
            ),
            (
                "api_key",
                "type = \"elasticsearch\"\nurl = \"http://127.0.0.1:9200\"",
            ),
            (
                "password",
                "type = \"elasticsearch\"\nurl = \"http://127.0.0.1:9200\"\nusername = \"u\"",
            ),
        ] {
            let err = load_str::<ForwarderConfig>(&format!(
                "[[sinks]]\nname = \"s\"\n{extra}\n{field} = \"SUPERSECRET123\"\n"
            ))
            .unwrap_err()
            .to_string();
            assert!(!err.contains("SUPERSECRET123"), "value leaked: {err}");
            assert!(err.contains(&format!("sinks.0.{field}")), "{err}");
            assert!(err.contains("{ env = \"VAR\" }"), "{err}");
        }
    }

    #[test]
    fn webhook_url_and_header_secrets_do_not_show_in_debug_or_errors() {
        let c: ForwarderConfig = load_str(
            "[[sinks]]\nname = \"w\"\ntype = \"webhook\"\nurl = \"https://hooks.slack.example/services/T0/B0/URL-TOKEN\"\nheaders = { Authorization = { value = \"Bearer HDR-TOKEN\" }, X-Plain = \"PLAIN-TOKEN\" }\n",
        )
        .unwrap();
        c.validate().unwrap();
        let debug = format!("{c:?}");
        for token in ["URL-TOKEN", "HDR-TOKEN", "PLAIN-TOKEN"] {
            assert!(!debug.contains(token), "{debug}");
        }
        // A URL from an unset variable: the key and the variable are named.
        let c: ForwarderConfig = load_str(
            "[[sinks]]\nname = \"w\"\ntype = \"webhook\"\nurl = { env = \"LW_TEST_SURELY_UNSET_WEBHOOK_URL\" }\n",
        )
        .unwrap();
        let err = c.validate().unwrap_err().to_string();
        assert!(
            err.contains("sinks[0].url") && err.contains("LW_TEST_SURELY_UNSET_WEBHOOK_URL"),
            "{err}"
        );
        // A malformed URL is named, not quoted.
        let c: ForwarderConfig = load_str(
            "[[sinks]]\nname = \"w\"\ntype = \"webhook\"\nurl = { value = \"hooks.example/URL-TOKEN\" }\n",
        )
        .unwrap();
        let err = c.validate().unwrap_err().to_string();
        assert!(
            err.contains("sinks[0].url") && !err.contains("URL-TOKEN"),
            "{err}"
        );
    }

    #[test]
    fn secrets_do_not_show_in_debug() {
        let c: ForwarderConfig = load_str(
            "[[sinks]]\nname = \"s\"\ntype = \"splunk_hec\"\nurl = \"http://127.0.0.1:8088\"\ntoken = { value = \"hunter2-token\" }\n",
        )
        .unwrap();
        assert!(!format!("{c:?}").contains("hunter2-token"));
    }
}
