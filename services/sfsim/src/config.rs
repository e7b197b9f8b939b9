//! sfsim configuration (`loginwatch sfsim --config FILE`, TOML; `LOGINWATCH_*` env overrides).

use std::net::SocketAddr;
use std::path::PathBuf;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::faults::FaultSpec;
use crate::model::SubTypeSpelling;

/// Replay a fixed history as fast as clients read it, or keep generating logins in (scaled) real time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    #[default]
    Replay,
    Live,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OrgConfig {
    /// 18-character org id (`00D…`, valid checksum suffix).
    pub org_id: String,
    /// My Domain name (`acme` → `acme.my.salesforce.com`; usernames end in `@acme.example.com`).
    pub my_domain: String,
}

/// A connected app that may use the JWT bearer grant.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JwtAppConfig {
    /// The consumer key (`iss` of the assertion).
    pub consumer_key: String,
    /// PEM file of the RSA public key (from the app's certificate).
    pub public_key_pem: PathBuf,
    /// Connected app name written to LoginHistory.Application.
    #[serde(default = "default_jwt_app_name")]
    pub app_name: String,
}

fn default_jwt_app_name() -> String {
    "loginwatch".into()
}

/// A connected app enabled for the client credentials flow.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClientCredentialsConfig {
    pub client_id: String,
    pub client_secret: String,
    /// Org (default: the first) and its "run as" user (default: the org's `loginwatch.ingester` user).
    #[serde(default)]
    pub org_id: Option<String>,
    #[serde(default)]
    pub run_as: Option<String>,
    #[serde(default = "default_jwt_app_name")]
    pub app_name: String,
}

/// A username + password the password grant accepts when `allow_password_grant` is on.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PasswordUserConfig {
    pub username: String,
    pub password: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LiveConfig {
    /// Simulated seconds per real second.
    pub speed: f64,
    /// Total logins per simulated second from JWT / client-credentials / refresh-token
    /// integrations (none = their normal rate). Tested up to 50,000/s generated.
    pub rate_per_sec: Option<f64>,
    /// How often the live clock ticks, in ms.
    pub tick_ms: u64,
}

impl Default for LiveConfig {
    fn default() -> Self {
        LiveConfig {
            speed: 1.0,
            rate_per_sec: None,
            tick_ms: 200,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CometdConfig {
    /// Replay retention of the event bus (Salesforce: 72 h).
    pub retention_hours: u32,
    /// How long a `/meta/connect` is held open without events, in ms (Salesforce: 110,000; tests: short).
    pub hold_ms: u64,
    /// `advice.timeout` sent to clients, in ms.
    pub advice_timeout_ms: u64,
    /// A client that sends nothing for this long is forgotten (`403::Unknown client`).
    pub client_timeout_ms: u64,
    /// At most this many data messages per `/meta/connect` response.
    pub max_batch: usize,
    /// Leave integration users' logins off the stream (the documented gap; UNCONFIRMED meaning).
    /// Default off: the stream only leaves out "Login Rate Exceeded".
    pub omit_integration_users: bool,
}

impl Default for CometdConfig {
    fn default() -> Self {
        CometdConfig {
            retention_hours: 72,
            hold_ms: 110_000,
            advice_timeout_ms: 110_000,
            client_timeout_ms: 120_000,
            max_batch: 1000,
            omit_integration_users: false,
        }
    }
}

/// Everything sfsim needs. Every key has a default; `loginwatch sfsim` with no file starts a
/// working one-org simulator with the test JWT key in `services/sfsim/testdata/`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SimConfig {
    /// Listen address (default `127.0.0.1:0`: any free port; see `SimHandle::base_url`).
    pub listen: SocketAddr,
    /// Seed of the traffic generator.
    pub seed: u64,
    /// API version used in URLs sfsim writes (`/services/data/v62.0/…`); any `vNN.N` is accepted.
    pub api_version: String,
    pub orgs: Vec<OrgConfig>,
    pub interactive_users: u32,
    pub integrations: u32,
    /// Days of history before the end time.
    pub history_days: u32,
    /// Days of clean baseline before the first incident.
    pub learning_days: u32,
    /// Minutes between incidents.
    pub incident_spacing_mins: u32,
    pub incidents: bool,
    /// Logins per hour of each JWT / client-credentials / refresh-token integration.
    pub integration_logins_per_hour: f64,
    /// Logins in the rate spike before "Login Rate Exceeded".
    pub rate_spike_logins: u32,
    /// End of the history (default: start-up time). In live mode, the live clock starts here.
    pub history_end: Option<DateTime<Utc>>,
    pub mode: Mode,
    pub live: LiveConfig,
    /// Access token lifetime in seconds (then `401 INVALID_SESSION_ID`).
    pub token_lifetime_secs: u64,
    /// Daily API request allocation per org (then `403 REQUEST_LIMIT_EXCEEDED`).
    pub api_daily_limit: u64,
    /// Query batch size when the client sends no `Sforce-Query-Options` (Salesforce: 2000).
    pub default_batch_size: usize,
    /// How long a query locator stays valid, in seconds (Salesforce: 2 days).
    pub locator_ttl_secs: u64,
    /// Answer the OAuth password grant (default: refuse it like an org with the flow blocked).
    pub allow_password_grant: bool,
    pub password_users: Vec<PasswordUserConfig>,
    pub jwt_apps: Vec<JwtAppConfig>,
    /// Allowed `aud` values of JWT assertions (besides the server's own base URL).
    pub jwt_audiences: Vec<String>,
    /// Clock skew tolerated on `exp`, in seconds.
    pub jwt_skew_secs: u64,
    pub client_credentials: Vec<ClientCredentialsConfig>,
    pub cometd: CometdConfig,
    /// LoginSubType spelling in REST and stream records (UNCONFIRMED in real data).
    pub login_sub_type_spelling: SubTypeSpelling,
    /// Record token-endpoint logins (every grant) as LoginHistory rows, like Salesforce.
    pub record_api_logins: bool,
    /// Write the incident labels here at start-up (JSON array).
    pub labels_path: Option<PathBuf>,
    /// Faults active from the start.
    pub faults: FaultSpec,
}

/// The test-only key pair shipped in `services/sfsim/testdata/`.
pub fn testdata_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("testdata")
}

pub const TEST_CONSUMER_KEY: &str = "sfsim-test-consumer-key";
pub const TEST_CLIENT_ID: &str = "sfsim-test-client-id";
pub const TEST_CLIENT_SECRET: &str = "sfsim-test-client-secret";
pub const DEFAULT_ORG_ID: &str = "00D5j00000DgAYGEA3";

impl Default for SimConfig {
    fn default() -> Self {
        SimConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            seed: 42,
            api_version: "62.0".into(),
            orgs: vec![OrgConfig {
                org_id: DEFAULT_ORG_ID.into(),
                my_domain: "acme".into(),
            }],
            interactive_users: 40,
            integrations: 6,
            history_days: 10,
            learning_days: 7,
            incident_spacing_mins: 240,
            incidents: true,
            integration_logins_per_hour: 6.0,
            rate_spike_logins: 3600,
            history_end: None,
            mode: Mode::Replay,
            live: LiveConfig::default(),
            token_lifetime_secs: 7200,
            api_daily_limit: 100_000,
            default_batch_size: 2000,
            locator_ttl_secs: 2 * 24 * 3600,
            allow_password_grant: false,
            password_users: Vec::new(),
            jwt_apps: vec![JwtAppConfig {
                consumer_key: TEST_CONSUMER_KEY.into(),
                public_key_pem: testdata_dir().join("jwt_test_public.pem"),
                app_name: "loginwatch".into(),
            }],
            jwt_audiences: vec![
                "https://login.salesforce.com".into(),
                "https://test.salesforce.com".into(),
            ],
            jwt_skew_secs: 180,
            client_credentials: vec![ClientCredentialsConfig {
                client_id: TEST_CLIENT_ID.into(),
                client_secret: TEST_CLIENT_SECRET.into(),
                org_id: None,
                run_as: None,
                app_name: "loginwatch".into(),
            }],
            cometd: CometdConfig::default(),
            login_sub_type_spelling: SubTypeSpelling::Label,
            record_api_logins: true,
            labels_path: None,
            faults: FaultSpec::default(),
        }
    }
}

impl SimConfig {
    /// Checks the values; the message names the key and what to do.
    pub fn validate(&self) -> Result<(), loginwatch_shared::config::ConfigError> {
        use loginwatch_shared::config::ConfigError;
        if self.orgs.is_empty() {
            return Err(ConfigError::key(
                "orgs",
                "configure at least one org ([[orgs]] org_id = \"00D…\", my_domain = \"…\")",
            ));
        }
        for (i, o) in self.orgs.iter().enumerate() {
            if !(o.org_id.starts_with("00D") && crate::ids::is_valid_18(&o.org_id)) {
                return Err(ConfigError::key(
                    format!("orgs[{i}].org_id"),
                    format!("`{}` is not an 18-character org id starting with 00D with a valid checksum suffix", o.org_id),
                ));
            }
        }
        if self.learning_days > self.history_days {
            return Err(ConfigError::key(
                "learning_days",
                "must not exceed history_days",
            ));
        }
        if !(200..=2000).contains(&self.default_batch_size) {
            return Err(ConfigError::key(
                "default_batch_size",
                "must be between 200 and 2000 (Salesforce's range)",
            ));
        }
        if self.token_lifetime_secs == 0 {
            return Err(ConfigError::key(
                "token_lifetime_secs",
                "must be at least 1",
            ));
        }
        if !(self.live.speed > 0.0 && self.live.speed.is_finite()) {
            return Err(ConfigError::key("live.speed", "must be a positive number"));
        }
        if let Some(r) = self.live.rate_per_sec {
            if !(r >= 0.0 && r.is_finite()) {
                return Err(ConfigError::key(
                    "live.rate_per_sec",
                    "must be a number >= 0",
                ));
            }
        }
        if self.interactive_users < 20 {
            return Err(ConfigError::key(
                "interactive_users",
                "must be at least 20 (the password-spray incident needs 15+ users)",
            ));
        }
        if self.integrations < 6 {
            return Err(ConfigError::key(
                "integrations",
                "must be at least 6 so every integration kind exists",
            ));
        }
        for (i, a) in self.jwt_apps.iter().enumerate() {
            if !a.public_key_pem.exists() {
                return Err(ConfigError::key(
                    format!("jwt_apps[{i}].public_key_pem"),
                    format!(
                        "{} does not exist; point it at the connected app's RSA public key (PEM)",
                        a.public_key_pem.display()
                    ),
                ));
            }
        }
        Ok(())
    }
}
