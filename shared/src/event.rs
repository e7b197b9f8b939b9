//! The canonical login event: one shape for every Salesforce source (topic `loginwatch.logins.v1`).
//!
//! Field names are the contract in docs/contracts.md; JSON on the wire, one Arrow schema (see [`crate::arrow`]).
//! Parsers in [`crate::parse`] build these; rules only ever see this shape.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// Where a login record came from. Serialised in snake_case (`login_history`, …).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Source {
    /// `LoginHistory` rows from REST SOQL polling (dedupe key: `Id`).
    LoginHistory,
    /// `/event/LoginEventStream` over CometD (dedupe key: `EventIdentifier`).
    LoginEventStream,
    /// `LoginEvent` storage-object rows from SOQL (dedupe key: `EventIdentifier`).
    LoginEvent,
    /// EventLogFile `Login` CSV (dedupe key: `REQUEST_ID`+`LOGIN_KEY`+`TIMESTAMP`).
    EventLogFile,
    /// Login History CSV export from Setup (dedupe key: row hash).
    LoginHistoryCsv,
}

impl Source {
    pub const ALL: [Source; 5] = [
        Source::LoginHistory,
        Source::LoginEventStream,
        Source::LoginEvent,
        Source::EventLogFile,
        Source::LoginHistoryCsv,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Source::LoginHistory => "login_history",
            Source::LoginEventStream => "login_event_stream",
            Source::LoginEvent => "login_event",
            Source::EventLogFile => "event_log_file",
            Source::LoginHistoryCsv => "login_history_csv",
        }
    }

    pub fn parse(s: &str) -> Option<Source> {
        Source::ALL.into_iter().find(|v| v.as_str() == s)
    }
}

impl std::fmt::Display for Source {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How the user authenticated, derived from LoginType + LoginSubType (+ status/URI heuristics).
/// This is what rules use. A missing sub-type is never read as "not password": it becomes
/// `oauth_other` (OAuth login type, flow unknown) or `unknown`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AuthMethod {
    OauthUsernamePassword,
    SoapPassword,
    OauthClientCredentials,
    OauthJwtBearer,
    OauthRefreshToken,
    OauthWebServer,
    OauthUserAgent,
    OauthTokenExchange,
    OauthOther,
    UiPassword,
    SamlSso,
    ThirdPartySso,
    Passwordless,
    Certificate,
    Other,
    Unknown,
}

impl AuthMethod {
    pub const ALL: [AuthMethod; 16] = [
        AuthMethod::OauthUsernamePassword,
        AuthMethod::SoapPassword,
        AuthMethod::OauthClientCredentials,
        AuthMethod::OauthJwtBearer,
        AuthMethod::OauthRefreshToken,
        AuthMethod::OauthWebServer,
        AuthMethod::OauthUserAgent,
        AuthMethod::OauthTokenExchange,
        AuthMethod::OauthOther,
        AuthMethod::UiPassword,
        AuthMethod::SamlSso,
        AuthMethod::ThirdPartySso,
        AuthMethod::Passwordless,
        AuthMethod::Certificate,
        AuthMethod::Other,
        AuthMethod::Unknown,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            AuthMethod::OauthUsernamePassword => "oauth_username_password",
            AuthMethod::SoapPassword => "soap_password",
            AuthMethod::OauthClientCredentials => "oauth_client_credentials",
            AuthMethod::OauthJwtBearer => "oauth_jwt_bearer",
            AuthMethod::OauthRefreshToken => "oauth_refresh_token",
            AuthMethod::OauthWebServer => "oauth_web_server",
            AuthMethod::OauthUserAgent => "oauth_user_agent",
            AuthMethod::OauthTokenExchange => "oauth_token_exchange",
            AuthMethod::OauthOther => "oauth_other",
            AuthMethod::UiPassword => "ui_password",
            AuthMethod::SamlSso => "saml_sso",
            AuthMethod::ThirdPartySso => "third_party_sso",
            AuthMethod::Passwordless => "passwordless",
            AuthMethod::Certificate => "certificate",
            AuthMethod::Other => "other",
            AuthMethod::Unknown => "unknown",
        }
    }

    pub fn parse(s: &str) -> Option<AuthMethod> {
        AuthMethod::ALL.into_iter().find(|v| v.as_str() == s)
    }

    /// True for the methods the product exists to find: a reusable password crosses the wire.
    pub fn is_password_based(self) -> bool {
        matches!(
            self,
            AuthMethod::OauthUsernamePassword | AuthMethod::SoapPassword
        )
    }
}

impl std::fmt::Display for AuthMethod {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Success,
    Failure,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Success => "success",
            Outcome::Failure => "failure",
        }
    }

    pub fn parse(s: &str) -> Option<Outcome> {
        match s {
            "success" => Some(Outcome::Success),
            "failure" => Some(Outcome::Failure),
            _ => None,
        }
    }
}

impl std::fmt::Display for Outcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One login attempt, normalised. Optional fields are `None` when the source did not carry them
/// (never an empty string: parsers map `""` and null to `None`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LoginEvent {
    /// Deterministic id from the source's own key (LoginHistory `Id`, `EventIdentifier`,
    /// a hash of ELF `REQUEST_ID`+`LOGIN_KEY`+`TIMESTAMP`, a hash of a CSV row).
    pub event_id: String,
    /// 18-character organisation id (`00D…`).
    pub org_id: String,
    pub source: Source,
    /// When the login happened, UTC, millisecond precision.
    #[serde(with = "crate::time::rfc3339_millis")]
    pub event_time: DateTime<Utc>,
    /// When loginwatch read the record, UTC, millisecond precision.
    #[serde(with = "crate::time::rfc3339_millis")]
    pub ingested_at: DateTime<Utc>,
    /// 18-character user id (`005…`); 15-character ids are converted.
    pub user_id: Option<String>,
    pub username: Option<String>,
    /// Canonical LoginType label (`Remote Access 2.0`, `Other Apex API`, …); unknown values kept as given.
    pub login_type: Option<String>,
    /// Canonical LoginSubType label (`OAuth Username-Password`, …); unknown values kept as given.
    pub login_sub_type: Option<String>,
    pub auth_method: AuthMethod,
    /// The status text as Salesforce wrote it (`Success`, `Invalid Password`, …).
    pub status: Option<String>,
    pub outcome: Outcome,
    /// Normalised failure reason (snake_case token, see [`crate::normalize::FailureReason`]); `None` on success.
    pub failure_reason: Option<String>,
    pub application: Option<String>,
    /// Canonical IP text, or the literal `Salesforce.com IP` for Salesforce-internal origins.
    pub source_ip: Option<String>,
    pub country_iso: Option<String>,
    pub city: Option<String>,
    pub latitude: Option<f64>,
    pub longitude: Option<f64>,
    pub api_type: Option<String>,
    pub api_version: Option<String>,
    pub client_version: Option<String>,
    pub browser: Option<String>,
    pub platform: Option<String>,
    pub login_url: Option<String>,
    /// Canonical `TLS 1.2` form.
    pub tls_protocol: Option<String>,
    pub cipher_suite: Option<String>,
    /// `LoginHistory.Id` of this login (`0Ya…`): joins stream and history rows of the same login.
    pub login_history_id: Option<String>,
    pub login_key: Option<String>,
    pub user_type: Option<String>,
    pub session_level: Option<String>,
}

impl LoginEvent {
    /// Kafka key: `org_id/user_id`, so every per-user window lives in one partition.
    pub fn kafka_key(&self) -> String {
        format!("{}/{}", self.org_id, self.user_id.as_deref().unwrap_or(""))
    }

    /// The identity of the *login* across sources: the same login read from LoginHistory and
    /// from LoginEventStream has two `event_id`s but one `login_history_id`.
    pub fn login_identity(&self) -> String {
        match &self.login_history_id {
            Some(id) => format!("{}/lh/{}", self.org_id, id),
            None => format!("{}/ev/{}", self.org_id, self.event_id),
        }
    }

    pub fn is_success(&self) -> bool {
        self.outcome == Outcome::Success
    }
}
