//! Detections (topic `loginwatch.detections.v1`): ECS-style JSON, one object per detection.
//!
//! Nested objects as ECS prescribes (`{"event":{"kind":"alert",…}}`); the forwarder renders the
//! same struct as Splunk HEC, OCSF Detection Finding or CEF.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// The fixed vocabulary of `rule.category` (docs/contracts.md, "Detection categories").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Category {
    OauthUsernamePassword,
    SoapPasswordLogin,
    BruteForce,
    PasswordSpray,
    ImpossibleTravel,
    NewCountry,
    NewSourceIp,
    NewApplication,
    UnusualHour,
    LoginRateSpike,
}

impl Category {
    pub const ALL: [Category; 10] = [
        Category::OauthUsernamePassword,
        Category::SoapPasswordLogin,
        Category::BruteForce,
        Category::PasswordSpray,
        Category::ImpossibleTravel,
        Category::NewCountry,
        Category::NewSourceIp,
        Category::NewApplication,
        Category::UnusualHour,
        Category::LoginRateSpike,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Category::OauthUsernamePassword => "oauth_username_password",
            Category::SoapPasswordLogin => "soap_password_login",
            Category::BruteForce => "brute_force",
            Category::PasswordSpray => "password_spray",
            Category::ImpossibleTravel => "impossible_travel",
            Category::NewCountry => "new_country",
            Category::NewSourceIp => "new_source_ip",
            Category::NewApplication => "new_application",
            Category::UnusualHour => "unusual_hour",
            Category::LoginRateSpike => "login_rate_spike",
        }
    }

    pub fn parse(s: &str) -> Option<Category> {
        Category::ALL.into_iter().find(|c| c.as_str() == s)
    }
}

impl std::fmt::Display for Category {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Severity labels; `event.severity` carries [`Severity::number`] (OCSF `severity_id` scale).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    Low,
    Medium,
    High,
    Critical,
}

impl Severity {
    pub const ALL: [Severity; 4] = [
        Severity::Low,
        Severity::Medium,
        Severity::High,
        Severity::Critical,
    ];

    /// 2 low, 3 medium, 4 high, 5 critical: OCSF `severity_id`, also ECS `event.severity`.
    pub fn number(self) -> u8 {
        match self {
            Severity::Low => 2,
            Severity::Medium => 3,
            Severity::High => 4,
            Severity::Critical => 5,
        }
    }

    pub fn from_number(n: u8) -> Option<Severity> {
        Severity::ALL.into_iter().find(|s| s.number() == n)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Low => "low",
            Severity::Medium => "medium",
            Severity::High => "high",
            Severity::Critical => "critical",
        }
    }

    pub fn parse(s: &str) -> Option<Severity> {
        Severity::ALL.into_iter().find(|v| v.as_str() == s)
    }
}

impl std::fmt::Display for Severity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Detection {
    #[serde(rename = "@timestamp", with = "crate::time::rfc3339_millis")]
    pub timestamp: DateTime<Utc>,
    /// One-line explanation (ECS `message`).
    pub message: String,
    pub event: DetectionEvent,
    pub rule: RuleInfo,
    pub threat: Threat,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<UserInfo>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<SourceInfo>,
    pub cloud: CloudInfo,
    pub salesforce: SalesforceInfo,
    pub loginwatch: LoginwatchInfo,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DetectionEvent {
    /// Always `alert`.
    pub kind: String,
    /// Deterministic: see [`detection_id`].
    pub id: String,
    /// Always `["authentication"]`.
    pub category: Vec<String>,
    #[serde(with = "crate::time::rfc3339_millis")]
    pub start: DateTime<Utc>,
    #[serde(with = "crate::time::rfc3339_millis")]
    pub end: DateTime<Utc>,
    /// [`Severity::number`].
    pub severity: u8,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RuleInfo {
    pub id: String,
    pub name: String,
    pub category: Category,
    pub description: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Threat {
    /// Always `MITRE ATT&CK`.
    pub framework: String,
    pub technique: Technique,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Technique {
    /// e.g. `T1078.004`.
    pub id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UserInfo {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SourceInfo {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ip: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub geo: Option<GeoInfo>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GeoInfo {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub country_iso_code: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CloudInfo {
    pub account: CloudAccount,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CloudAccount {
    /// Salesforce org id.
    pub id: String,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct SalesforceInfo {
    pub login: SalesforceLogin,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct SalesforceLogin {
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub login_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sub_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub application: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth_method: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LoginwatchInfo {
    /// How many logins the detection covers.
    pub count: u64,
    /// Contributing `event_id`s, capped at [`EVIDENCE_CAP`].
    pub evidence: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remediation: Option<String>,
    /// `low` … `critical`, the label of `event.severity`.
    pub severity: Severity,
}

/// At most this many evidence event ids are carried per detection.
pub const EVIDENCE_CAP: usize = 20;

/// Deterministic detection id: rule + key + window start, so a replay after a crash produces the
/// same id and the SIEM (or the forwarder) can drop the duplicate.
pub fn detection_id(rule_id: &str, key: &str, window_start: DateTime<Utc>) -> String {
    let mut h = Sha256::new();
    h.update(rule_id.as_bytes());
    h.update([0]);
    h.update(key.as_bytes());
    h.update([0]);
    h.update(window_start.timestamp_millis().to_be_bytes());
    hex::encode(&h.finalize()[..16])
}

/// The remediation of the seed article for password-based integrations.
pub const PASSWORD_FLOW_REMEDIATION: &str = "Move this integration to the OAuth 2.0 JWT bearer or client credentials flow; run it as a dedicated integration user with minimal permissions; rotate the user's password and security token; then disable the OAuth Username-Password flow (Setup > OAuth and OpenID Connect Settings) and SOAP API login() for the org.";

impl Detection {
    pub fn category(&self) -> Category {
        self.rule.category
    }

    pub fn id(&self) -> &str {
        &self.event.id
    }
}
