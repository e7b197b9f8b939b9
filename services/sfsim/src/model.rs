//! The one internal shape of a simulated login ([`SimLogin`]) and the Salesforce vocabularies it
//! is rendered with (LoginType, LoginSubType in their label / API-name / EventLogFile spellings).

use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::geo::Place;

/// LoginType picklist entries the simulated org produces.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LoginType {
    Application,
    RemoteAccess2,
    OtherApex,
}

impl LoginType {
    /// What the REST API and the stream return (the label; see reference §3.1).
    pub fn label(self) -> &'static str {
        match self {
            LoginType::Application => "Application",
            LoginType::RemoteAccess2 => "Remote Access 2.0",
            LoginType::OtherApex => "Other Apex API",
        }
    }

    pub fn api_name(self) -> &'static str {
        match self {
            LoginType::Application => "Application",
            LoginType::RemoteAccess2 => "Oauth2",
            LoginType::OtherApex => "OtherApi",
        }
    }

    /// The single-character EventLogFile code.
    pub fn elf_code(self) -> &'static str {
        match self {
            LoginType::Application => "A",
            LoginType::RemoteAccess2 => "i",
            LoginType::OtherApex => "I",
        }
    }
}

/// LoginSubType picklist entries the simulated org produces. JWT bearer logins carry none
/// (reference §3.2: no JWT sub-type is documented).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LoginSubType {
    UiUsernamePassword,
    OauthUsernamePassword,
    OauthClientCredentials,
    OauthRefreshToken,
    OauthWebServer,
}

impl LoginSubType {
    pub fn label(self) -> &'static str {
        match self {
            LoginSubType::UiUsernamePassword => "UI Username-Password",
            LoginSubType::OauthUsernamePassword => "OAuth Username-Password",
            LoginSubType::OauthClientCredentials => "OAuth Client Credentials",
            LoginSubType::OauthRefreshToken => "OAuth Refresh Token",
            LoginSubType::OauthWebServer => "OAuth Web Server",
        }
    }

    pub fn api_name(self) -> &'static str {
        match self {
            LoginSubType::UiUsernamePassword => "UsernamePasswordUiLogin",
            LoginSubType::OauthUsernamePassword => "OauthUsernamePassword",
            LoginSubType::OauthClientCredentials => "OauthClientCredentials",
            LoginSubType::OauthRefreshToken => "OauthRefreshToken",
            LoginSubType::OauthWebServer => "OauthWebServer",
        }
    }

    /// The lowercase EventLogFile code; refresh tokens have none documented (empty in the CSV).
    pub fn elf_code(self) -> &'static str {
        match self {
            LoginSubType::UiUsernamePassword => "uiup",
            LoginSubType::OauthUsernamePassword => "oauthpassword",
            LoginSubType::OauthClientCredentials => "oauthclientcredential",
            LoginSubType::OauthRefreshToken => "",
            LoginSubType::OauthWebServer => "oauthcode",
        }
    }

    pub fn spelled(self, spelling: SubTypeSpelling) -> &'static str {
        match spelling {
            SubTypeSpelling::Label => self.label(),
            SubTypeSpelling::ApiName => self.api_name(),
        }
    }
}

/// Which spelling of LoginSubType the REST API and stream return. Real data is UNCONFIRMED
/// (reference §3.2), so it is configurable; the default is the label, like LoginType.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SubTypeSpelling {
    #[default]
    Label,
    ApiName,
}

/// Status strings the simulated org writes (free text in Salesforce; these are observed values).
pub mod status {
    pub const SUCCESS: &str = "Success";
    pub const INVALID_PASSWORD: &str = "Invalid Password";
    pub const API_TOKEN_REQUIRED: &str = "Failed: API security token required";
    pub const RATE_EXCEEDED: &str = "Login Rate Exceeded";
    /// Wording UNCONFIRMED (reference §1.3 c).
    pub const UN_PW_FLOW_DISABLED: &str = "Username-Password Flow Disabled";

    /// The EventLogFile LOGIN_STATUS code of a status string.
    pub fn elf_code(status: &str) -> &'static str {
        match status {
            SUCCESS => "LOGIN_NO_ERROR",
            INVALID_PASSWORD => "LOGIN_ERROR_INVALID_PASSWORD",
            API_TOKEN_REQUIRED => "LOGIN_ERROR_MUST_USE_API_TOKEN",
            RATE_EXCEEDED => "LOGIN_ERROR_RATE_EXCEEDED",
            // Undocumented code: UNCONFIRMED spelling.
            UN_PW_FLOW_DISABLED => "LOGIN_OAUTH_UN_PW_FLOW_DISABLED",
            _ => "LOGIN_ERROR_UNKNOWN_ERROR",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UserKind {
    Interactive,
    Integration,
}

/// A user of the simulated org.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SimUser {
    pub user_id: String,
    pub username: String,
    pub name: String,
    pub kind: UserKind,
    pub user_type: &'static str,
    #[serde(with = "loginwatch_shared::time::rfc3339_millis")]
    pub created: DateTime<Utc>,
}

/// One simulated login attempt: the single source every Salesforce shape is rendered from, so
/// the LoginHistory row, the stream event, the LoginEvent row and the ELF line of one login agree.
#[derive(Debug, Clone)]
pub struct SimLogin {
    /// Position in the org's login sequence (0-based, time order).
    pub seq: u64,
    pub org_id: Arc<str>,
    /// `LoginHistory.Id` (`0Ya…`); also `LoginHistoryId` on the stream event.
    pub login_history_id: String,
    pub login_geo_id: String,
    pub event_identifier: String,
    pub event_uuid: String,
    pub login_key: String,
    /// ELF `REQUEST_ID`.
    pub request_id: String,
    /// `LoginTime` / `EventDate` (whole seconds, like the observed data).
    pub time: DateTime<Utc>,
    /// Stream `CreatedDate` − `EventDate`, in ms.
    pub created_delay_ms: u32,
    pub user: Arc<SimUser>,
    pub login_type: LoginType,
    pub sub_type: Option<LoginSubType>,
    pub status: &'static str,
    pub application: Arc<str>,
    pub source_ip: String,
    pub place: Place,
    pub browser: &'static str,
    pub platform: &'static str,
    /// ELF `BROWSER_TYPE` (the user agent).
    pub user_agent: &'static str,
    pub api_type: Option<&'static str>,
    pub api_version: Option<&'static str>,
    pub login_url: Arc<str>,
    pub tls_protocol: &'static str,
    pub cipher_suite: &'static str,
    pub http_method: &'static str,
    /// ELF `URI`.
    pub uri: &'static str,
    /// Indexes into the generator's labels this login belongs to.
    pub labels: Vec<u32>,
}

impl SimLogin {
    pub fn is_success(&self) -> bool {
        self.status == status::SUCCESS
    }

    pub fn is_integration(&self) -> bool {
        self.user.kind == UserKind::Integration
    }
}
