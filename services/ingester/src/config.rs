//! Ingester configuration: one TOML file for every org (`loginwatch ingest --config FILE`), every
//! key overridable by `LOGINWATCH_*` environment variables. Unknown keys are rejected; every
//! default is documented on its field.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use chrono::{DateTime, Utc};
use loginwatch_shared::config::{ConfigError, SecretRef};
use loginwatch_shared::kafka::KafkaSettings;
use serde::{Deserialize, Serialize};

/// Why the ingester refuses to authenticate itself with the OAuth username-password grant.
pub const PASSWORD_GRANT_REFUSED: &str = "the OAuth username-password grant is not supported for the ingester's own \
authentication: a leaked password plus security token gives the whole user account (UI, every API) and cannot be \
revoked like a refresh token or a certificate, and Salesforce is retiring the flow (blocked by default in new orgs). \
Use `type = \"jwt_bearer\"` (consumer_key, username, private_key = { file = \"…\" }) or \
`type = \"client_credentials\"` (client_id, client_secret = { env = \"…\" }) instead";

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IngesterConfig {
    /// Directory holding one small JSON cursor file per org and source. Default `./state/ingester`.
    #[serde(default = "default_state_dir")]
    pub state_dir: PathBuf,
    #[serde(default)]
    pub ops: OpsSettings,
    #[serde(default)]
    pub kafka: KafkaSettings,
    #[serde(default)]
    pub producer: ProducerSettings,
    /// One entry per Salesforce org (`[[orgs]]`).
    #[serde(default)]
    pub orgs: Vec<OrgConfig>,
}

fn default_state_dir() -> PathBuf {
    PathBuf::from("./state/ingester")
}

/// `[ops]`: the `/metrics`, `/healthz`, `/readyz` endpoint.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct OpsSettings {
    /// Listen address. Default `127.0.0.1:9101`; port 0 picks a free port.
    pub listen: SocketAddr,
}

impl Default for OpsSettings {
    fn default() -> Self {
        OpsSettings {
            listen: SocketAddr::from(([127, 0, 0, 1], 9101)),
        }
    }
}

/// `[producer]`: backpressure towards Kafka.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ProducerSettings {
    /// Records handed to Kafka but not yet acknowledged, across all orgs. When reached, readers
    /// wait (and stop reading from Salesforce). Default 20000.
    pub max_in_flight: usize,
    /// On shutdown, how long to wait for outstanding deliveries. Default 15 s.
    pub shutdown_grace_secs: u64,
    /// How long start-up waits for `loginwatch.logins.v1` / dead-letter topic creation. Default 15 s.
    pub ensure_topics_timeout_secs: u64,
}

impl Default for ProducerSettings {
    fn default() -> Self {
        ProducerSettings {
            max_in_flight: 20_000,
            shutdown_grace_secs: 15,
            ensure_topics_timeout_secs: 15,
        }
    }
}

/// `[[orgs]]`: one Salesforce org.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OrgConfig {
    /// 18-character org id (`00D…`); the Kafka key prefix and the metric label.
    pub org_id: String,
    /// Token endpoint base and JWT audience: `https://login.salesforce.com`,
    /// `https://test.salesforce.com` or the My Domain URL (required for client credentials).
    /// Default `https://login.salesforce.com`.
    #[serde(default = "default_login_url")]
    pub login_url: String,
    /// Overrides the `instance_url` returned with the token (rarely needed). Default: none.
    #[serde(default)]
    pub instance_url: Option<String>,
    /// REST/Streaming API version. Default `62.0`.
    #[serde(default = "default_api_version")]
    pub api_version: String,
    pub auth: AuthConfig,
    /// Salesforce token responses carry no `expires_in`; the token is renewed after this long
    /// (and whenever Salesforce answers `401 INVALID_SESSION_ID`). Default 3600 s.
    #[serde(default = "default_token_lifetime")]
    pub token_lifetime_secs: u64,
    /// Per-request timeout. Default 30 s.
    #[serde(default = "default_request_timeout")]
    pub request_timeout_secs: u64,
    #[serde(default)]
    pub login_history: LoginHistorySettings,
    #[serde(default)]
    pub stream: StreamSettings,
    #[serde(default)]
    pub budget: BudgetSettings,
    #[serde(default)]
    pub retry: RetrySettings,
}

fn default_login_url() -> String {
    "https://login.salesforce.com".into()
}
fn default_api_version() -> String {
    "62.0".into()
}
fn default_token_lifetime() -> u64 {
    3600
}
fn default_request_timeout() -> u64 {
    30
}

/// How the ingester itself authenticates to one org.
#[derive(Clone, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum AuthConfig {
    /// OAuth 2.0 JWT bearer: RS256 assertion signed with the connected app's certificate key.
    JwtBearer(JwtBearerConfig),
    /// OAuth 2.0 client credentials (token issued for the app's "run as" integration user).
    ClientCredentials(ClientCredentialsConfig),
    /// Accepted by the parser only so validation can explain why it is refused.
    #[serde(alias = "username_password", alias = "oauth_username_password")]
    Password(#[serde(skip_serializing)] serde::de::IgnoredAny),
}

impl std::fmt::Debug for AuthConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            AuthConfig::JwtBearer(c) => f.debug_tuple("JwtBearer").field(c).finish(),
            AuthConfig::ClientCredentials(c) => {
                f.debug_tuple("ClientCredentials").field(c).finish()
            }
            AuthConfig::Password(_) => f.write_str("Password([refused])"),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JwtBearerConfig {
    /// Connected app consumer key (`iss`).
    pub consumer_key: String,
    /// Salesforce username the token is issued for (`sub`).
    pub username: String,
    /// PEM RSA private key: `{ file = "/path/key.pem" }` or `{ env = "VAR" }`.
    pub private_key: SecretRef,
    /// JWT `aud`. Default: `login_url`.
    #[serde(default)]
    pub audience: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClientCredentialsConfig {
    pub client_id: String,
    /// `{ env = "VAR" }` or `{ file = "/path" }`.
    pub client_secret: SecretRef,
}

/// `[orgs.login_history]`: LoginHistory polling.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LoginHistorySettings {
    /// Default true.
    pub enabled: bool,
    /// Pause between polls once caught up. Default 60 s.
    pub poll_interval_secs: u64,
    /// Each query re-reads this much before the cursor; rows seen are skipped by `Id`, so rows
    /// that share a timestamp or land late are neither lost nor duplicated. Default 300 s.
    pub overlap_secs: u64,
    /// Longest time span of one query while catching up (never one unbounded query). Default 3600 s.
    pub max_window_secs: u64,
    /// Rows younger than this are left for the next poll (Salesforce writes them with a delay). Default 2 s.
    pub settle_secs: u64,
    /// Where a new org (no saved cursor) starts, back from now. Default 86400 s (1 day).
    pub initial_lookback_secs: u64,
    /// Where a new org (no saved cursor) starts, as an RFC 3339 instant: a backfill from a
    /// date. Wins over `initial_lookback_secs`. Default: unset.
    #[serde(
        default,
        with = "loginwatch_shared::time::rfc3339_millis_opt",
        skip_serializing_if = "Option::is_none"
    )]
    pub initial_start: Option<DateTime<Utc>>,
    /// `Sforce-Query-Options: batchSize` (200–2000). Default 2000.
    pub batch_size: u32,
    /// Look up user names (`User`, cached by Id): LoginHistory has only `UserId`. Default true.
    pub enrich_username: bool,
    /// Look up city/latitude/longitude (`LoginGeo`, cached by LoginGeoId). Default true.
    pub enrich_geo: bool,
    /// Cap on ids remembered inside the overlap window. Default 500000.
    pub max_seen_ids: usize,
}

impl Default for LoginHistorySettings {
    fn default() -> Self {
        LoginHistorySettings {
            enabled: true,
            poll_interval_secs: 60,
            overlap_secs: 300,
            max_window_secs: 3600,
            settle_secs: 2,
            initial_lookback_secs: 86_400,
            initial_start: None,
            batch_size: 2000,
            enrich_username: true,
            enrich_geo: true,
            max_seen_ids: 500_000,
        }
    }
}

/// `[orgs.stream]`: `/event/LoginEventStream` over CometD (needs Shield / Event Monitoring).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StreamSettings {
    /// Default false (the org needs the Event Monitoring add-on).
    pub enabled: bool,
    /// Default `/event/LoginEventStream`.
    pub channel: String,
    /// Replay position when no replay id was saved yet: -2 = everything retained (72 h),
    /// -1 = new events only. Default -2.
    pub initial_replay_id: i64,
}

impl Default for StreamSettings {
    fn default() -> Self {
        StreamSettings {
            enabled: false,
            channel: "/event/LoginEventStream".into(),
            initial_replay_id: -2,
        }
    }
}

/// `[orgs.budget]`: protect the org's daily API allocation (shared with its other integrations).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BudgetSettings {
    /// From this share of the daily allocation used, polls are spaced `slow_down_factor` times
    /// further apart. Default 0.5.
    pub slow_down_at: f64,
    /// Default 4.
    pub slow_down_factor: u32,
    /// From this share, polling pauses until usage drops below it again. Default 0.8.
    pub pause_at: f64,
    /// While paused, how often one cheap call re-reads the usage. Default 300 s.
    pub pause_probe_secs: u64,
}

impl Default for BudgetSettings {
    fn default() -> Self {
        BudgetSettings {
            slow_down_at: 0.5,
            slow_down_factor: 4,
            pause_at: 0.8,
            pause_probe_secs: 300,
        }
    }
}

/// `[orgs.retry]`: exponential back-off with full jitter on 5xx, timeouts and `REQUEST_LIMIT_EXCEEDED`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RetrySettings {
    /// Default 500 ms.
    pub initial_backoff_ms: u64,
    /// Default 60000 ms.
    pub max_backoff_ms: u64,
    /// Attempts per call before the poll cycle gives up (and retries from its cursor later). Default 8.
    pub max_attempts: u32,
}

impl Default for RetrySettings {
    fn default() -> Self {
        RetrySettings {
            initial_backoff_ms: 500,
            max_backoff_ms: 60_000,
            max_attempts: 8,
        }
    }
}

impl RetrySettings {
    /// Back-off before attempt `attempt` (1-based retry count): full jitter in `[base/2, base]`.
    pub fn backoff(&self, attempt: u32) -> Duration {
        let exp = self
            .initial_backoff_ms
            .saturating_mul(1u64 << attempt.saturating_sub(1).min(20))
            .min(self.max_backoff_ms)
            .max(1);
        let jittered = exp / 2 + rand::random::<u64>() % (exp / 2 + 1);
        Duration::from_millis(jittered)
    }
}

impl IngesterConfig {
    /// Loads and validates the file (plus `LOGINWATCH_*` overrides).
    pub fn load(path: Option<&Path>) -> Result<IngesterConfig, ConfigError> {
        let cfg: IngesterConfig = loginwatch_shared::config::load(path)?;
        cfg.validate()?;
        Ok(cfg)
    }

    pub fn from_toml(text: &str) -> Result<IngesterConfig, ConfigError> {
        let cfg: IngesterConfig = loginwatch_shared::config::load_str(text)?;
        cfg.validate()?;
        Ok(cfg)
    }

    /// Checks what serde cannot: refused grants, ranges, duplicates.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.orgs.is_empty() {
            return Err(ConfigError::key(
                "orgs",
                "no org configured; add at least one [[orgs]] section",
            ));
        }
        if self.producer.max_in_flight == 0 {
            return Err(ConfigError::key(
                "producer.max_in_flight",
                "must be at least 1",
            ));
        }
        let mut ids = std::collections::BTreeSet::new();
        for (i, org) in self.orgs.iter().enumerate() {
            let k = |field: &str| format!("orgs[{i}].{field}");
            if org.org_id.trim().is_empty() || org.org_id.contains(['/', '\\', '.']) {
                return Err(ConfigError::key(
                    k("org_id"),
                    "must be the org's 15/18-character id (`00D…`)",
                ));
            }
            if !ids.insert(org.org_id.clone()) {
                return Err(ConfigError::key(
                    k("org_id"),
                    format!("org {} is configured twice", org.org_id),
                ));
            }
            if url::Url::parse(&org.login_url).is_err() {
                return Err(ConfigError::key(
                    k("login_url"),
                    "must be an absolute URL such as https://login.salesforce.com",
                ));
            }
            if let Some(u) = &org.instance_url {
                if url::Url::parse(u).is_err() {
                    return Err(ConfigError::key(
                        k("instance_url"),
                        "must be an absolute URL",
                    ));
                }
            }
            match &org.auth {
                AuthConfig::Password(_) => {
                    return Err(ConfigError::key(k("auth.type"), PASSWORD_GRANT_REFUSED))
                }
                AuthConfig::JwtBearer(j) => {
                    if j.consumer_key.is_empty() || j.username.is_empty() {
                        return Err(ConfigError::key(
                            k("auth"),
                            "jwt_bearer needs consumer_key and username",
                        ));
                    }
                }
                AuthConfig::ClientCredentials(c) => {
                    if c.client_id.is_empty() {
                        return Err(ConfigError::key(k("auth.client_id"), "must not be empty"));
                    }
                }
            }
            if org.token_lifetime_secs < 60 {
                return Err(ConfigError::key(
                    k("token_lifetime_secs"),
                    "must be at least 60",
                ));
            }
            let lh = &org.login_history;
            if !(200..=2000).contains(&lh.batch_size) {
                return Err(ConfigError::key(
                    k("login_history.batch_size"),
                    "Salesforce accepts 200..=2000",
                ));
            }
            if lh.max_window_secs == 0 || lh.poll_interval_secs == 0 {
                return Err(ConfigError::key(
                    k("login_history.max_window_secs"),
                    "max_window_secs and poll_interval_secs must be positive",
                ));
            }
            let b = &org.budget;
            if !(0.0..=1.0).contains(&b.slow_down_at)
                || !(0.0..=1.0).contains(&b.pause_at)
                || b.slow_down_at > b.pause_at
            {
                return Err(ConfigError::key(
                    k("budget"),
                    "need 0 <= slow_down_at <= pause_at <= 1 (shares of the daily API allocation)",
                ));
            }
            if !org.login_history.enabled && !org.stream.enabled {
                return Err(ConfigError::key(
                    k("login_history.enabled"),
                    "enable login_history or stream (or remove the org)",
                ));
            }
            if org.stream.initial_replay_id < -2 {
                return Err(ConfigError::key(
                    k("stream.initial_replay_id"),
                    "use -2 (all retained), -1 (new only) or a replay id",
                ));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const JWT_ORG: &str = r#"
[[orgs]]
org_id = "00D000000000001AAA"
auth = { type = "jwt_bearer", consumer_key = "ck", username = "int@example.com", private_key = { file = "/k.pem" } }
"#;

    #[test]
    fn minimal_config_gets_documented_defaults() {
        let c = IngesterConfig::from_toml(JWT_ORG).unwrap();
        let o = &c.orgs[0];
        assert_eq!(o.login_url, "https://login.salesforce.com");
        assert_eq!(o.login_history.overlap_secs, 300);
        assert_eq!(o.login_history.batch_size, 2000);
        assert!(o.login_history.enabled && !o.stream.enabled);
        assert_eq!(c.state_dir, PathBuf::from("./state/ingester"));
    }

    #[test]
    fn password_grant_is_refused_with_reason_and_alternative() {
        let text = r#"
[[orgs]]
org_id = "00D000000000001AAA"
auth = { type = "password", username = "u", password = { value = "hunter2-secret" }, client_id = "x" }
"#;
        let err = IngesterConfig::from_toml(text).unwrap_err().to_string();
        assert!(err.contains("orgs[0].auth.type"), "{err}");
        assert!(
            err.contains("revoked")
                && err.contains("jwt_bearer")
                && err.contains("client_credentials"),
            "{err}"
        );
        assert!(!err.contains("hunter2-secret"));
    }

    #[test]
    fn unknown_key_is_rejected_and_named() {
        let text = format!("{JWT_ORG}[orgs.login_history]\noverlap_sec = 3\n");
        let err = IngesterConfig::from_toml(&text).unwrap_err().to_string();
        assert!(err.contains("overlap_sec"), "{err}");
    }

    #[test]
    fn bad_batch_size_names_key() {
        let text = format!("{JWT_ORG}[orgs.login_history]\nbatch_size = 5000\n");
        let err = IngesterConfig::from_toml(&text).unwrap_err().to_string();
        assert!(err.contains("orgs[0].login_history.batch_size"), "{err}");
    }

    #[test]
    fn shipped_deploy_config_is_valid() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../deploy/config/ingester.toml");
        let c = IngesterConfig::load(Some(&path)).unwrap_or_else(|e| panic!("{e}"));
        assert!(!c.orgs.is_empty());
    }

    #[test]
    fn backoff_grows_and_is_capped() {
        let r = RetrySettings {
            initial_backoff_ms: 100,
            max_backoff_ms: 1000,
            max_attempts: 5,
        };
        for _ in 0..50 {
            let b1 = r.backoff(1).as_millis();
            assert!((50..=100).contains(&b1), "{b1}");
            let b10 = r.backoff(10).as_millis();
            assert!((500..=1000).contains(&b10), "{b10}");
        }
    }
}
