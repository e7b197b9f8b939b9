//! Normalisation: the one place that knows every spelling Salesforce uses for the same thing.
//!
//! - LoginType arrives as a label (`Remote Access 2.0`), an API name (`Oauth2`) or an EventLogFile
//!   code (`i`; codes are case-sensitive: `I` is `Other Apex API`). It becomes the canonical label.
//! - LoginSubType arrives as a label (`OAuth Username-Password`), an API name (`OauthUsernamePassword`)
//!   or an EventLogFile code (`oauthpassword`). It becomes the canonical label.
//! - Status is free text in any case, or an EventLogFile `LOGIN_STATUS` code; it becomes an
//!   [`Outcome`] (success strictly for `Success` / `LOGIN_NO_ERROR`) and a [`FailureReason`].
//! - [`derive_auth_method`] turns type + sub-type (+ hints) into the [`AuthMethod`] rules use. A
//!   missing sub-type never reads as "not password": it gives `oauth_other` or `unknown`.
//! - TLS versions, source IPs (and the literal `Salesforce.com IP`), ELF API type letters, timestamps.
//!
//! Values nobody has seen yet (a new picklist entry) are kept as given and map to `other`.

use std::collections::HashMap;
use std::fmt;
use std::net::IpAddr;
use std::sync::LazyLock;

use chrono::{DateTime, NaiveDate, NaiveDateTime, NaiveTime, TimeZone, Utc};

use crate::event::{AuthMethod, Outcome};

/// Lower-case ASCII letters and digits only: `Remote Access 2.0` → `remoteaccess20`.
fn loose_key(s: &str) -> String {
    s.chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .map(|c| c.to_ascii_lowercase())
        .collect()
}

/// Trimmed text, `None` when empty (the "`""` is `None`" rule of the canonical event).
pub fn non_empty(s: &str) -> Option<&str> {
    let t = s.trim();
    (!t.is_empty()).then_some(t)
}

// ---------------------------------------------------------------------------------------------
// LoginType

macro_rules! picklist {
    (
        $(#[$meta:meta])*
        pub enum $name:ident {
            $( $variant:ident => ($api:literal, $label:literal, $code:expr, [$($alias:literal),*]) ),* $(,)?
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum $name { $($variant),* }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant),*];

            /// The API name (`Oauth2`, `OauthUsernamePassword`, …).
            pub fn api_name(self) -> &'static str {
                match self { $($name::$variant => $api),* }
            }

            /// The canonical label (`Remote Access 2.0`, `OAuth Username-Password`, …): what the
            /// canonical event carries.
            pub fn label(self) -> &'static str {
                match self { $($name::$variant => $label),* }
            }

            /// The EventLogFile code, when one is documented.
            pub fn elf_code(self) -> Option<&'static str> {
                match self { $($name::$variant => $code),* }
            }

            fn aliases(self) -> &'static [&'static str] {
                match self { $($name::$variant => &[$($alias),*]),* }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.label())
            }
        }
    };
}

picklist! {
    /// `LoginHistory.LoginType` / `LoginEvent[Stream].LoginType` / ELF `LOGIN_TYPE` (reference §3.1).
    pub enum LoginType {
        AppExchange => ("AppExchange", "AppExchange", Some("7"), []),
        Application => ("Application", "Application", Some("A"), ["Application (UI login)"]),
        Certificate => ("Certificate", "Certificate-based login", Some("s"), []),
        ChatterCommunityPortalUnPwd => ("ChatterCommunityPortalUnPwd", "Chatter Communities External User", Some("k"), []),
        ChatterCommunityThirdPartySso => ("ChatterCommunityThirdPartySso", "Chatter Communities External User Third Party SSO", Some("n"), []),
        CrossTenantLogin => ("CrossTenantLogin", "Cross Tenant Login", Some("x"), ["Cross Tenant Login (internal use)"]),
        EmployeeLoginToCommunity => ("EmployeeLoginToCommunity", "Employee Login to Community", Some("r"), []),
        HelpAndTraining => ("HelpAndTraining", "Help And Training", None, []),
        IeOfflineClient => ("IeOfflineClient", "Offline Client", None, []),
        LightningLogin => ("LightningLogin", "Lightning Login", Some("z"), []),
        NetworksPortalApiOnly => ("NetworksPortalApiOnly", "Networks Portal API Only", Some("l"), []),
        Oauth => ("Oauth", "Remote Access Client", Some("6"), ["Remote Access Client (OAuth 1.0)"]),
        Oauth2 => ("Oauth2", "Remote Access 2.0", Some("i"), []),
        OtherApi => ("OtherApi", "Other Apex API", Some("I"), []),
        Partner => ("Partner", "Partner Product", Some("R"), []),
        PasswordlessLogin => ("PasswordlessLogin", "Passwordless Login", Some("w"), []),
        PasswordlessPasskeyLogin => ("PasswordlessPasskeyLogin", "Passwordless Login via Passkeys", None, ["Passwordless Login via Passkeys (beta)"]),
        Portal => ("Portal", "Customer Service Portal", Some("3"), []),
        PortalThirdPartySso => ("PortalThirdPartySso", "Customer Service Portal Third-Party SSO", None, []),
        PrmPortalThirdPartySso => ("PrmPortalThirdPartySso", "Partner Portal Third-Party SSO", Some("q"), []),
        PrmPortal => ("PrmPortal", "Partner Portal", Some("9"), []),
        Saml => ("Saml", "SAML Idp Initiated SSO", Some("5"), []),
        SamlChatterNetworks => ("SamlChatterNetworks", "SAML Chatter Communities External User SSO", Some("m"), []),
        SamlCspPortal => ("SamlCspPortal", "SAML Customer Service Portal SSO", Some("b"), []),
        SamlPrmPortal => ("SamlPrmPortal", "SAML Partner Portal SSO", Some("c"), []),
        SamlSite => ("SamlSite", "SAML Site SSO", Some("h"), []),
        Saml2 => ("Saml2", "SAML Sfdc Initiated SSO", Some("8"), []),
        SelfService => ("SelfService", "SelfService", Some("E"), []),
        ThirdPartySso => ("ThirdPartySso", "Third Party SSO", Some("j"), []),
    }
}

picklist! {
    /// `LoginSubType` (reference §3.2). `OauthJwtBearer` is not documented by Salesforce; its
    /// spellings are accepted in case it appears (the simulator and some tools write it).
    pub enum LoginSubType {
        InternalSalesforceAuthentication => ("InternalSalesforceAuthentication", "Internal Salesforce Authentication", None, ["Internal Salesforce Authentication (internal use)"]),
        OauthClientCredentials => ("OauthClientCredentials", "OAuth Client Credentials", Some("oauthclientcredential"), ["oauthclientcredentials"]),
        OauthHybridRefreshToken => ("OauthHybridRefreshToken", "OAuth Refresh Token for Hybrid Apps", None, ["oauthhybridrefreshtoken"]),
        OauthHybridTokenExchange => ("OauthHybridTokenExchange", "OAuth Token Exchange for Hybrid Apps", None, []),
        OauthHybridUserAgent => ("OauthHybridUserAgent", "OAuth User-Agent for Hybrid Apps", Some("oauthhybridtoken"), []),
        OauthHybridWebServer => ("OauthHybridWebServer", "OAuth Web Server for Hybrid Apps", Some("oauthhybridauthcode"), []),
        OauthJwtBearer => ("OauthJwtBearer", "OAuth JWT Bearer", None, ["oauthjwt", "oauthjwtbearer", "OAuth JWT Bearer Token"]),
        OauthOtpLogin => ("OauthOtpLogin", "OAuth OTP Login", None, []),
        OauthRefreshToken => ("OauthRefreshToken", "OAuth Refresh Token", Some("oauthrefreshtoken"), []),
        OauthTokenExchange => ("OauthTokenExchange", "OAuth Token Exchange", None, ["oauthtokenexchange"]),
        OauthUserAgent => ("OauthUserAgent", "OAuth User-Agent", Some("oauthtoken"), []),
        OauthUserAgentIdToken => ("OauthUserAgentIdToken", "OAuth User-Agent with ID Token", Some("oauthtokenidtoken"), []),
        OauthUsernamePassword => ("OauthUsernamePassword", "OAuth Username-Password", Some("oauthpassword"), []),
        OauthWebServer => ("OauthWebServer", "OAuth Web Server", Some("oauthcode"), []),
        SoapApiLogin => ("SoapApiLogin", "SOAP API", None, ["SOAP API (internal use)"]),
        SoapApiLoginMobile => ("SoapApiLoginMobile", "SOAP API (Mobile)", None, ["SOAP API (Mobile) (internal use)"]),
        SoapApiLoginNetworksPortal => ("SoapApiLoginNetworksPortal", "SOAP API (Networks Portal)", None, ["SOAP API (Networks Portal) (internal use)"]),
        SoapApiLoginPortal => ("SoapApiLoginPortal", "SOAP API (Portal)", None, ["SOAP API (Portal) (internal use)"]),
        SoapApiLoginSelfService => ("SoapApiLoginSelfService", "SOAP API (Self-Service)", None, ["SOAP API (Self-Service) (internal use)"]),
        UiPasswordReset => ("UiPasswordReset", "UI Password Reset", None, []),
        UsernamePasswordUiLogin => ("UsernamePasswordUiLogin", "UI Username-Password", Some("uiup"), []),
    }
}

/// Lookup tables: exact spellings first (the common case costs one hash lookup, no allocation),
/// then the loose key (case, spaces and punctuation ignored).
struct Lookup<T: 'static> {
    exact: HashMap<&'static str, T>,
    loose: HashMap<String, T>,
}

impl<T: Copy> Lookup<T> {
    fn build(entries: impl Iterator<Item = (T, Vec<&'static str>)>) -> Self {
        let mut exact = HashMap::new();
        let mut loose = HashMap::new();
        for (value, spellings) in entries {
            for s in spellings {
                exact.insert(s, value);
                loose.insert(loose_key(s), value);
            }
        }
        Lookup { exact, loose }
    }

    fn find(&self, s: &str) -> Option<T> {
        self.exact
            .get(s)
            .copied()
            .or_else(|| self.loose.get(&loose_key(s)).copied())
    }
}

static LOGIN_TYPES: LazyLock<Lookup<LoginType>> = LazyLock::new(|| {
    // ELF codes are single characters and case-sensitive (`i` ≠ `I`): they are looked up
    // separately, never through the loose key.
    Lookup::build(LoginType::ALL.iter().map(|&t| {
        let mut spellings = vec![t.api_name(), t.label()];
        spellings.extend_from_slice(t.aliases());
        (t, spellings)
    }))
});

static LOGIN_SUB_TYPES: LazyLock<Lookup<LoginSubType>> = LazyLock::new(|| {
    Lookup::build(LoginSubType::ALL.iter().map(|&t| {
        let mut spellings = vec![t.api_name(), t.label()];
        spellings.extend(t.elf_code());
        spellings.extend_from_slice(t.aliases());
        (t, spellings)
    }))
});

impl LoginType {
    /// Recognises a label, an API name (any case, spacing) or a single-character ELF code (exact case).
    pub fn parse(s: &str) -> Option<LoginType> {
        let s = s.trim();
        if s.chars().count() == 1 {
            return LoginType::ALL
                .iter()
                .copied()
                .find(|t| t.elf_code() == Some(s));
        }
        LOGIN_TYPES.find(s)
    }

    /// Logins made by a program with credentials (what `new_source_ip` watches).
    pub fn is_api(self) -> bool {
        matches!(
            self,
            LoginType::Oauth2 | LoginType::OtherApi | LoginType::Partner | LoginType::Oauth
        )
    }
}

impl LoginSubType {
    /// Recognises a label, an API name or an ELF code, in any case.
    pub fn parse(s: &str) -> Option<LoginSubType> {
        LOGIN_SUB_TYPES.find(s.trim())
    }
}

/// Canonical LoginType label; unknown values are kept as given (trimmed); empty is `None`.
pub fn login_type(raw: Option<&str>) -> Option<String> {
    let raw = non_empty(raw?)?;
    Some(match LoginType::parse(raw) {
        Some(t) => t.label().to_string(),
        None => raw.to_string(),
    })
}

/// Canonical LoginSubType label; unknown values are kept as given (trimmed); empty is `None`.
pub fn login_sub_type(raw: Option<&str>) -> Option<String> {
    let raw = non_empty(raw?)?;
    Some(match LoginSubType::parse(raw) {
        Some(t) => t.label().to_string(),
        None => raw.to_string(),
    })
}

// ---------------------------------------------------------------------------------------------
// auth_method

/// Secondary evidence for [`derive_auth_method`], used only when type and sub-type do not decide.
#[derive(Debug, Clone, Copy, Default)]
pub struct AuthHints<'a> {
    /// `Application` (`N/A`, `Browser`, a connected-app name, …).
    pub application: Option<&'a str>,
    /// `ApiType` (`SOAP Partner`, …; ELF letters are understood too).
    pub api_type: Option<&'a str>,
    /// ELF `URI` (`/services/oauth2/token`, `/services/Soap/u/62.0`, …).
    pub uri: Option<&'a str>,
}

fn is_soap_api_type(api_type: Option<&str>) -> bool {
    api_type.is_some_and(|t| {
        let t = api_type_label(t);
        t.to_ascii_lowercase().contains("soap")
    })
}

fn is_soap_uri(uri: Option<&str>) -> bool {
    uri.is_some_and(|u| u.trim().to_ascii_lowercase().starts_with("/services/soap/"))
}

/// `true` when the application is absent or the literal `N/A` (what SOAP `login()` writes).
pub fn application_is_na(application: Option<&str>) -> bool {
    application
        .and_then(non_empty)
        .is_none_or(|a| a.eq_ignore_ascii_case("n/a"))
}

/// Derives how the user authenticated (docs/contracts.md, the canonical event).
///
/// | login type | sub-type | → |
/// |---|---|---|
/// | any | OAuth Username-Password (`oauthpassword`) | `oauth_username_password` |
/// | any | OAuth Client Credentials / Refresh Token / Web Server / User-Agent / Token Exchange / JWT Bearer (and Hybrid variants) | the matching `oauth_*` |
/// | any | OAuth OTP Login | `oauth_other` |
/// | any | UI Username-Password, UI Password Reset | `ui_password` |
/// | any | SOAP API (…) | `soap_password` |
/// | any | Internal Salesforce Authentication | `other` |
/// | any | an unknown (future) value | `other` |
/// | Remote Access 2.0, Remote Access Client | missing | `oauth_other` (flow unknown — never "not password") |
/// | Other Apex API | missing | `soap_password` (SOAP `login()`, typically with application `N/A`) |
/// | Partner Product | missing, API type SOAP (or SOAP URI) | `soap_password` |
/// | Partner Product | missing, other API type | `other`; API type missing: `unknown` |
/// | SAML … SSO | missing | `saml_sso` |
/// | Third Party SSO variants | missing | `third_party_sso` |
/// | Passwordless, Lightning Login | missing | `passwordless` |
/// | Certificate-based login | missing | `certificate` |
/// | Application, Chatter Communities External User | missing | `unknown` (form login, but the sub-type is not there to say it) |
/// | other known types | missing | `other` |
/// | an unknown (future) type | missing | `other` |
/// | missing | missing | `unknown` |
///
/// Inputs may be canonical labels or any raw spelling.
pub fn derive_auth_method(
    login_type: Option<&str>,
    login_sub_type: Option<&str>,
    hints: &AuthHints<'_>,
) -> AuthMethod {
    use AuthMethod as M;
    use LoginSubType as S;
    use LoginType as T;

    if let Some(sub) = login_sub_type.and_then(non_empty) {
        return match LoginSubType::parse(sub) {
            Some(S::OauthUsernamePassword) => M::OauthUsernamePassword,
            Some(S::OauthClientCredentials) => M::OauthClientCredentials,
            Some(S::OauthJwtBearer) => M::OauthJwtBearer,
            Some(S::OauthRefreshToken | S::OauthHybridRefreshToken) => M::OauthRefreshToken,
            Some(S::OauthWebServer | S::OauthHybridWebServer) => M::OauthWebServer,
            Some(S::OauthUserAgent | S::OauthHybridUserAgent | S::OauthUserAgentIdToken) => {
                M::OauthUserAgent
            }
            Some(S::OauthTokenExchange | S::OauthHybridTokenExchange) => M::OauthTokenExchange,
            Some(S::OauthOtpLogin) => M::OauthOther,
            Some(S::UsernamePasswordUiLogin | S::UiPasswordReset) => M::UiPassword,
            Some(
                S::SoapApiLogin
                | S::SoapApiLoginMobile
                | S::SoapApiLoginNetworksPortal
                | S::SoapApiLoginPortal
                | S::SoapApiLoginSelfService,
            ) => M::SoapPassword,
            Some(S::InternalSalesforceAuthentication) => M::Other,
            None => M::Other,
        };
    }

    let Some(login_type) = login_type.and_then(non_empty) else {
        return M::Unknown;
    };
    match LoginType::parse(login_type) {
        Some(T::Oauth2 | T::Oauth) => M::OauthOther,
        Some(T::OtherApi) => M::SoapPassword,
        Some(T::Partner) => {
            if is_soap_api_type(hints.api_type) || is_soap_uri(hints.uri) {
                M::SoapPassword
            } else if hints.api_type.and_then(non_empty).is_none() {
                M::Unknown
            } else {
                M::Other
            }
        }
        Some(
            T::Saml
            | T::Saml2
            | T::SamlChatterNetworks
            | T::SamlCspPortal
            | T::SamlPrmPortal
            | T::SamlSite,
        ) => M::SamlSso,
        Some(
            T::ThirdPartySso
            | T::PortalThirdPartySso
            | T::PrmPortalThirdPartySso
            | T::ChatterCommunityThirdPartySso,
        ) => M::ThirdPartySso,
        Some(T::PasswordlessLogin | T::PasswordlessPasskeyLogin | T::LightningLogin) => {
            M::Passwordless
        }
        Some(T::Certificate) => M::Certificate,
        Some(T::Application | T::ChatterCommunityPortalUnPwd) => M::Unknown,
        Some(
            T::AppExchange
            | T::CrossTenantLogin
            | T::EmployeeLoginToCommunity
            | T::HelpAndTraining
            | T::IeOfflineClient
            | T::NetworksPortalApiOnly
            | T::Portal
            | T::PrmPortal
            | T::SelfService,
        ) => M::Other,
        None => M::Other,
    }
}

// ---------------------------------------------------------------------------------------------
// Status → outcome + failure reason

/// Normalised failure reasons (snake_case tokens in `failure_reason`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum FailureReason {
    InvalidPassword,
    InvalidUsername,
    ApiSecurityTokenRequired,
    PasswordLockout,
    UserFrozen,
    UserInactive,
    LoginRateExceeded,
    UsernamePasswordFlowDisabled,
    RestrictedIp,
    RestrictedTime,
    RestrictedDomain,
    RestrictedCountry,
    MissingConsumerKey,
    MfaRequired,
    ComputerActivationRequired,
    MobileLicenseRequired,
    ApiOnlyUser,
    ApiVersionRemoved,
    LoginsExceeded,
    TransactionSecurityPolicy,
    OrgUnavailable,
    PortalUnavailable,
    OauthError,
    SamlError,
    InvalidLogin,
    /// A failure status nobody classified (kept verbatim in `status`).
    Other,
    /// No status at all: the source did not say whether the login succeeded.
    Unknown,
}

impl FailureReason {
    pub const ALL: &'static [FailureReason] = &[
        FailureReason::InvalidPassword,
        FailureReason::InvalidUsername,
        FailureReason::ApiSecurityTokenRequired,
        FailureReason::PasswordLockout,
        FailureReason::UserFrozen,
        FailureReason::UserInactive,
        FailureReason::LoginRateExceeded,
        FailureReason::UsernamePasswordFlowDisabled,
        FailureReason::RestrictedIp,
        FailureReason::RestrictedTime,
        FailureReason::RestrictedDomain,
        FailureReason::RestrictedCountry,
        FailureReason::MissingConsumerKey,
        FailureReason::MfaRequired,
        FailureReason::ComputerActivationRequired,
        FailureReason::MobileLicenseRequired,
        FailureReason::ApiOnlyUser,
        FailureReason::ApiVersionRemoved,
        FailureReason::LoginsExceeded,
        FailureReason::TransactionSecurityPolicy,
        FailureReason::OrgUnavailable,
        FailureReason::PortalUnavailable,
        FailureReason::OauthError,
        FailureReason::SamlError,
        FailureReason::InvalidLogin,
        FailureReason::Other,
        FailureReason::Unknown,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            FailureReason::InvalidPassword => "invalid_password",
            FailureReason::InvalidUsername => "invalid_username",
            FailureReason::ApiSecurityTokenRequired => "api_security_token_required",
            FailureReason::PasswordLockout => "password_lockout",
            FailureReason::UserFrozen => "user_frozen",
            FailureReason::UserInactive => "user_inactive",
            FailureReason::LoginRateExceeded => "login_rate_exceeded",
            FailureReason::UsernamePasswordFlowDisabled => "username_password_flow_disabled",
            FailureReason::RestrictedIp => "restricted_ip",
            FailureReason::RestrictedTime => "restricted_time",
            FailureReason::RestrictedDomain => "restricted_domain",
            FailureReason::RestrictedCountry => "restricted_country",
            FailureReason::MissingConsumerKey => "missing_consumer_key",
            FailureReason::MfaRequired => "mfa_required",
            FailureReason::ComputerActivationRequired => "computer_activation_required",
            FailureReason::MobileLicenseRequired => "mobile_license_required",
            FailureReason::ApiOnlyUser => "api_only_user",
            FailureReason::ApiVersionRemoved => "api_version_removed",
            FailureReason::LoginsExceeded => "logins_exceeded",
            FailureReason::TransactionSecurityPolicy => "transaction_security_policy",
            FailureReason::OrgUnavailable => "org_unavailable",
            FailureReason::PortalUnavailable => "portal_unavailable",
            FailureReason::OauthError => "oauth_error",
            FailureReason::SamlError => "saml_error",
            FailureReason::InvalidLogin => "invalid_login",
            FailureReason::Other => "other",
            FailureReason::Unknown => "unknown",
        }
    }

    pub fn parse(s: &str) -> Option<FailureReason> {
        FailureReason::ALL.iter().copied().find(|r| r.as_str() == s)
    }

    /// Failures that mean "wrong or unusable credentials" (what brute-force and spray rules count).
    pub fn is_credential_failure(self) -> bool {
        matches!(
            self,
            FailureReason::InvalidPassword
                | FailureReason::InvalidUsername
                | FailureReason::ApiSecurityTokenRequired
                | FailureReason::PasswordLockout
                | FailureReason::InvalidLogin
        )
    }
}

impl fmt::Display for FailureReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The outcome of a status, and why it failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StatusClass {
    pub outcome: Outcome,
    pub failure_reason: Option<FailureReason>,
}

impl StatusClass {
    const SUCCESS: StatusClass = StatusClass {
        outcome: Outcome::Success,
        failure_reason: None,
    };
    fn failure(reason: FailureReason) -> StatusClass {
        StatusClass {
            outcome: Outcome::Failure,
            failure_reason: Some(reason),
        }
    }
}

/// ELF `LOGIN_STATUS` codes (reference §4.3) with a reason of their own.
fn login_status_code(code: &str) -> Option<FailureReason> {
    use FailureReason as R;
    Some(match code {
        "LOGIN_ERROR_INVALID_PASSWORD"
        | "LOGIN_ERROR_SSO_PWD_INVALID"
        | "LOGIN_ERROR_PASSWORD_EMPTY" => R::InvalidPassword,
        "LOGIN_ERROR_INVALID_USERNAME"
        | "LOGIN_ERROR_USERNAME_EMPTY"
        | "LOGIN_ERROR_DUPLICATE_USERNAME" => R::InvalidUsername,
        "LOGIN_ERROR_MUST_USE_API_TOKEN" => R::ApiSecurityTokenRequired,
        "LOGIN_ERROR_PASSWORD_LOCKOUT" | "LOGIN_ERROR_CSS_PW_LOCKOUT" => R::PasswordLockout,
        "LOGIN_ERROR_USER_FROZEN" | "LOGIN_ERROR_CSS_FROZEN" => R::UserFrozen,
        "LOGIN_ERROR_USER_INACTIVE" => R::UserInactive,
        "LOGIN_ERROR_RATE_EXCEEDED" => R::LoginRateExceeded,
        "OAUTH_UN_PW_FLOW_DISABLED" | "LOGIN_OAUTH_UN_PW_FLOW_DISABLED" => {
            R::UsernamePasswordFlowDisabled
        }
        "LOGIN_ERROR_RESTRICTED_DOMAIN" | "LOGIN_OAUTH_INVALID_IP" => R::RestrictedIp,
        "LOGIN_ERROR_RESTRICTED_TIME" => R::RestrictedTime,
        "LOGIN_ERROR_GLOBAL_BLOCK_DOMAIN" | "LOGIN_ERROR_ORG_DOMAIN_ONLY" => R::RestrictedDomain,
        "LOGIN_ERROR_EXPORT_RESTRICTED" => R::RestrictedCountry,
        "LOGIN_OAUTH_NO_CONSUMER" => R::MissingConsumerKey,
        "LOGIN_TWOFACTOR_REQ" | "LOGIN_LIGHTNING_LOGIN" => R::MfaRequired,
        "LOGIN_CHALLENGE_ISSUED" | "LOGIN_CHALLENGE_PENDING" => R::ComputerActivationRequired,
        "LOGIN_ERROR_USER_NON_MOBILE" => R::MobileLicenseRequired,
        "LOGIN_ERROR_USER_API_ONLY" => R::ApiOnlyUser,
        "LOGIN_ERROR_API_TOO_OLD" => R::ApiVersionRemoved,
        "LOGIN_ERROR_LOGINS_EXCEEDED" => R::LoginsExceeded,
        "LOGIN_END_SESSION_TXN_SECURITY_POLICY" => R::TransactionSecurityPolicy,
        "LOGIN_ERROR_UNKNOWN_ERROR" => R::InvalidLogin,
        "LOGIN_ERROR_ORG_CLOSED"
        | "LOGIN_ERROR_ORG_INACTIVE"
        | "LOGIN_ERROR_ORG_LOCKOUT"
        | "LOGIN_ERROR_ORG_SUSPENDED"
        | "LOGIN_ERROR_ORG_IN_MAINTENANCE"
        | "LOGIN_ERROR_ORG_SIGNING_UP"
        | "LOGIN_ERROR_ORG_IS_DOT_ORG"
        | "LOGIN_ORG_TRIAL_EXP" => R::OrgUnavailable,
        "LOGIN_ERROR_PORTAL_INACTIVE"
        | "LOGIN_ERROR_NETWORK_INACTIVE"
        | "LOGIN_ERROR_NO_NETWORK_ACCESS"
        | "LOGIN_ERROR_NO_PORTAL_ACCESS" => R::PortalUnavailable,
        _ if code.starts_with("LOGIN_OAUTH_") => R::OauthError,
        _ if code.starts_with("LOGIN_SAML_") => R::SamlError,
        _ => return None,
    })
}

/// Free-text statuses, matched on lower-case text; first match wins, so the specific come first.
const STATUS_PHRASES: &[(&str, FailureReason)] = &[
    (
        "username-password flow",
        FailureReason::UsernamePasswordFlowDisabled,
    ),
    (
        "username password flow",
        FailureReason::UsernamePasswordFlowDisabled,
    ),
    ("security token", FailureReason::ApiSecurityTokenRequired),
    ("lockout", FailureReason::PasswordLockout),
    ("locked out", FailureReason::PasswordLockout),
    ("frozen", FailureReason::UserFrozen),
    ("user is inactive", FailureReason::UserInactive),
    ("inactive user", FailureReason::UserInactive),
    ("user inactive", FailureReason::UserInactive),
    ("rate exceeded", FailureReason::LoginRateExceeded),
    ("rate limit", FailureReason::LoginRateExceeded),
    ("invalid password", FailureReason::InvalidPassword),
    ("password invalid", FailureReason::InvalidPassword),
    ("restricted ip", FailureReason::RestrictedIp),
    ("ip address not allowed", FailureReason::RestrictedIp),
    ("restricted time", FailureReason::RestrictedTime),
    ("restricted domain", FailureReason::RestrictedDomain),
    ("restricted country", FailureReason::RestrictedCountry),
    ("consumer key", FailureReason::MissingConsumerKey),
    ("multi-factor", FailureReason::MfaRequired),
    ("two-factor", FailureReason::MfaRequired),
    ("identity verification", FailureReason::MfaRequired),
    ("lightning login required", FailureReason::MfaRequired),
    (
        "computer activation",
        FailureReason::ComputerActivationRequired,
    ),
    ("mobile license", FailureReason::MobileLicenseRequired),
    ("api-only user", FailureReason::ApiOnlyUser),
    ("api only user", FailureReason::ApiOnlyUser),
    ("api version removed", FailureReason::ApiVersionRemoved),
    ("maximum logins exceeded", FailureReason::LoginsExceeded),
    (
        "transaction security",
        FailureReason::TransactionSecurityPolicy,
    ),
    ("invalid username", FailureReason::InvalidUsername),
    ("username invalid", FailureReason::InvalidUsername),
    ("organization", FailureReason::OrgUnavailable),
    ("trial expired", FailureReason::OrgUnavailable),
    ("portal disabled", FailureReason::PortalUnavailable),
    ("experience cloud site", FailureReason::PortalUnavailable),
    ("profile association", FailureReason::PortalUnavailable),
    ("saml", FailureReason::SamlError),
    ("assertion", FailureReason::SamlError),
    ("oauth", FailureReason::OauthError),
    ("consumer deleted", FailureReason::OauthError),
    ("nonce", FailureReason::OauthError),
    ("login invalid", FailureReason::InvalidLogin),
];

/// Classifies a status. Success is strictly `Success` (as LoginHistory and the stream write it) or
/// the ELF code `LOGIN_NO_ERROR`; everything else is a failure. No status at all is a failure with
/// reason `unknown` (the source did not say the login succeeded).
pub fn classify_status(status: Option<&str>) -> StatusClass {
    let Some(status) = status.and_then(non_empty) else {
        return StatusClass::failure(FailureReason::Unknown);
    };
    if status == "Success" || status == "LOGIN_NO_ERROR" {
        return StatusClass::SUCCESS;
    }
    if let Some(reason) = login_status_code(status) {
        return StatusClass::failure(reason);
    }
    let lower = status.to_ascii_lowercase();
    if lower.contains("un_pw_flow") {
        return StatusClass::failure(FailureReason::UsernamePasswordFlowDisabled);
    }
    let reason = STATUS_PHRASES
        .iter()
        .find(|(phrase, _)| lower.contains(phrase))
        .map_or(FailureReason::Other, |&(_, reason)| reason);
    StatusClass::failure(reason)
}

// ---------------------------------------------------------------------------------------------
// TLS, IP, API type, country

/// `TLS 1.2`, `TLSv1.2`, `tls1.2`, `1.2` → `TLS 1.2`; `unknown` → `Unknown`; other values kept.
pub fn tls_protocol(raw: &str) -> Option<String> {
    let raw = non_empty(raw)?;
    let lower = raw.to_ascii_lowercase();
    if lower == "unknown" {
        return Some("Unknown".into());
    }
    let version = lower
        .strip_prefix("tls")
        .unwrap_or(&lower)
        .trim_start_matches(['v', ' ', '_'])
        .replace('_', ".");
    match version.as_str() {
        "1" | "1.0" => Some("TLS 1.0".into()),
        "1.1" => Some("TLS 1.1".into()),
        "1.2" => Some("TLS 1.2".into()),
        "1.3" => Some("TLS 1.3".into()),
        _ => Some(raw.to_string()),
    }
}

/// The literal Salesforce writes for its own internal origins.
pub const SALESFORCE_IP: &str = "Salesforce.com IP";

/// Canonical IP text (`2001:DB8::1` → `2001:db8::1`), the literal `Salesforce.com IP` in any case →
/// exactly [`SALESFORCE_IP`]; text that is not an IP is kept as given (Salesforce owns the field).
pub fn source_ip(raw: &str) -> Option<String> {
    let raw = non_empty(raw)?;
    if raw.eq_ignore_ascii_case(SALESFORCE_IP) {
        return Some(SALESFORCE_IP.to_string());
    }
    match raw.parse::<IpAddr>() {
        Ok(ip) => Some(ip.to_string()),
        Err(_) => Some(raw.to_string()),
    }
}

/// ELF `API_TYPE` letters (reference §3.3) → the labels the objects use; other values kept.
pub fn api_type_label(raw: &str) -> &str {
    match raw.trim() {
        "D" => "Apex Class",
        "E" => "SOAP Enterprise",
        "M" => "SOAP Metadata",
        "P" => "SOAP Partner",
        "S" => "SOAP Apex",
        "T" => "SOAP Tooling",
        "f" => "Feed",
        "l" => "Live Agent",
        "p" => "SOAP ClientSync",
        "I" => "SOAP Cross Instance",
        "O" => "Old SOAP",
        "X" => "XmlRPC",
        other => other,
    }
}

/// ISO country code, upper-cased.
pub fn country_iso(raw: &str) -> Option<String> {
    non_empty(raw).map(str::to_ascii_uppercase)
}

// ---------------------------------------------------------------------------------------------
// Timestamps

/// Why a timestamp could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TimestampError(pub String);

impl fmt::Display for TimestampError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for TimestampError {}

fn digits(b: &[u8]) -> Option<u32> {
    if b.is_empty() || !b.iter().all(u8::is_ascii_digit) {
        return None;
    }
    Some(
        b.iter()
            .fold(0u32, |acc, &d| acc * 10 + u32::from(d - b'0')),
    )
}

/// Milliseconds from a fraction's digits (`5` → 500, `973` → 973, `973456` → 973).
fn fraction_millis(b: &[u8]) -> Option<u32> {
    if b.is_empty() || b.len() > 9 || !b.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let mut ms = 0;
    for i in 0..3 {
        ms = ms * 10 + b.get(i).map_or(0, |&d| u32::from(d - b'0'));
    }
    Some(ms)
}

fn naive(y: u32, mo: u32, d: u32, h: u32, mi: u32, s: u32, ms: u32) -> Option<NaiveDateTime> {
    let date = NaiveDate::from_ymd_opt(i32::try_from(y).ok()?, mo, d)?;
    let time = NaiveTime::from_hms_milli_opt(h, mi, s, ms)?;
    Some(NaiveDateTime::new(date, time))
}

/// `YYYY-MM-DDTHH:MM:SS[.fff][Z|±HHMM|±HH:MM|±HH]` without allocating (REST and CometD timestamps).
fn iso(s: &str) -> Option<DateTime<Utc>> {
    let b = s.as_bytes();
    if b.len() < 19
        || b[4] != b'-'
        || b[7] != b'-'
        || !matches!(b[10], b'T' | b't' | b' ')
        || b[13] != b':'
        || b[16] != b':'
    {
        return None;
    }
    let (y, mo, d) = (digits(&b[0..4])?, digits(&b[5..7])?, digits(&b[8..10])?);
    let (h, mi, sec) = (
        digits(&b[11..13])?,
        digits(&b[14..16])?,
        digits(&b[17..19])?,
    );
    let mut rest = &b[19..];
    let mut ms = 0;
    if let Some(frac) = rest.strip_prefix(b".") {
        let end = frac
            .iter()
            .position(|c| !c.is_ascii_digit())
            .unwrap_or(frac.len());
        ms = fraction_millis(&frac[..end])?;
        rest = &frac[end..];
    }
    let offset_seconds: i64 = match rest {
        b"Z" | b"z" => 0,
        [sign @ (b'+' | b'-'), zone @ ..] => {
            let (oh, om) = match zone {
                [h1, h2] => (digits(&[*h1, *h2])?, 0),
                [h1, h2, m1, m2] => (digits(&[*h1, *h2])?, digits(&[*m1, *m2])?),
                [h1, h2, b':', m1, m2] => (digits(&[*h1, *h2])?, digits(&[*m1, *m2])?),
                _ => return None,
            };
            if oh > 23 || om > 59 {
                return None;
            }
            let secs = i64::from(oh * 3600 + om * 60);
            if *sign == b'-' {
                -secs
            } else {
                secs
            }
        }
        _ => return None,
    };
    let local = naive(y, mo, d, h, mi, sec, ms)?;
    let utc = local.checked_sub_signed(chrono::Duration::seconds(offset_seconds))?;
    Some(Utc.from_utc_datetime(&utc))
}

/// ELF `TIMESTAMP`: `yyyyMMddHHmmss[.SSS]`, GMT.
fn elf_timestamp(s: &str) -> Option<DateTime<Utc>> {
    let b = s.as_bytes();
    if b.len() < 14 {
        return None;
    }
    let ms = match &b[14..] {
        [] => 0,
        [b'.', frac @ ..] => fraction_millis(frac)?,
        _ => return None,
    };
    let local = naive(
        digits(&b[0..4])?,
        digits(&b[4..6])?,
        digits(&b[6..8])?,
        digits(&b[8..10])?,
        digits(&b[10..12])?,
        digits(&b[12..14])?,
        ms,
    )?;
    Some(Utc.from_utc_datetime(&local))
}

/// Epoch milliseconds (Pub/Sub, some exports).
pub fn from_epoch_millis(ms: i64) -> Result<DateTime<Utc>, TimestampError> {
    crate::time::from_millis(ms)
        .ok_or_else(|| TimestampError(format!("{ms} is out of range for epoch milliseconds")))
}

/// Reads every timestamp spelling Salesforce uses, to UTC with millisecond precision:
/// `2026-11-02T14:03:11.000+0000` (REST), `2023-12-05T12:00:57.000Z` (CometD, ELF `TIMESTAMP_DERIVED`),
/// `+00:00` offsets, `20231218054831.655` (ELF `TIMESTAMP`) and epoch milliseconds as digits.
pub fn parse_timestamp(raw: &str) -> Result<DateTime<Utc>, TimestampError> {
    let s = raw.trim();
    if s.is_empty() {
        return Err(TimestampError("is empty".into()));
    }
    if let Some(t) = iso(s) {
        return Ok(t);
    }
    let b = s.as_bytes();
    // 14 digits (+ optional fraction) is an ELF TIMESTAMP; shorter digit strings are epoch ms.
    if b.len() >= 14 && b[..14].iter().all(u8::is_ascii_digit) && (b.len() == 14 || b[14] == b'.') {
        return elf_timestamp(s)
            .ok_or_else(|| TimestampError("is not a valid yyyyMMddHHmmss.SSS timestamp".into()));
    }
    if let Ok(ms) = s.parse::<i64>() {
        return from_epoch_millis(ms);
    }
    DateTime::parse_from_rfc3339(s)
        .map(|t| crate::time::truncate_to_millis(t.with_timezone(&Utc)))
        .map_err(|_| {
            TimestampError(
                "is not a timestamp (expected 2026-11-02T14:03:11.000+0000, an ISO time with Z, \
                 yyyyMMddHHmmss.SSS or epoch milliseconds)"
                    .into(),
            )
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn login_type_every_spelling() {
        for t in LoginType::ALL {
            assert_eq!(LoginType::parse(t.label()), Some(*t), "label {}", t.label());
            assert_eq!(
                LoginType::parse(t.api_name()),
                Some(*t),
                "api name {}",
                t.api_name()
            );
            assert_eq!(LoginType::parse(&t.label().to_uppercase()), Some(*t));
            if let Some(code) = t.elf_code() {
                assert_eq!(LoginType::parse(code), Some(*t), "code {code}");
            }
        }
        assert_eq!(
            login_type(Some("Remote Access 2.0")).as_deref(),
            Some("Remote Access 2.0")
        );
        assert_eq!(
            login_type(Some("Oauth2")).as_deref(),
            Some("Remote Access 2.0")
        );
        assert_eq!(login_type(Some("i")).as_deref(), Some("Remote Access 2.0"));
        assert_eq!(login_type(Some("I")).as_deref(), Some("Other Apex API"));
        assert_eq!(
            login_type(Some("OtherApi")).as_deref(),
            Some("Other Apex API")
        );
        assert_eq!(login_type(Some("R")).as_deref(), Some("Partner Product"));
        assert_eq!(login_type(Some("A")).as_deref(), Some("Application"));
        assert_eq!(
            login_type(Some(" remote access 2.0 ")).as_deref(),
            Some("Remote Access 2.0")
        );
    }

    #[test]
    fn login_type_codes_are_case_sensitive() {
        assert_eq!(LoginType::parse("i"), Some(LoginType::Oauth2));
        assert_eq!(LoginType::parse("I"), Some(LoginType::OtherApi));
        assert_eq!(
            LoginType::parse("a"),
            None,
            "`a` is no code; `A` is Application"
        );
        assert_eq!(
            LoginType::parse("r"),
            Some(LoginType::EmployeeLoginToCommunity)
        );
        assert_eq!(LoginType::parse("R"), Some(LoginType::Partner));
    }

    #[test]
    fn login_sub_type_every_spelling() {
        for t in LoginSubType::ALL {
            assert_eq!(
                LoginSubType::parse(t.label()),
                Some(*t),
                "label {}",
                t.label()
            );
            assert_eq!(
                LoginSubType::parse(t.api_name()),
                Some(*t),
                "api name {}",
                t.api_name()
            );
            assert_eq!(LoginSubType::parse(&t.api_name().to_lowercase()), Some(*t));
            if let Some(code) = t.elf_code() {
                assert_eq!(LoginSubType::parse(code), Some(*t), "code {code}");
                assert_eq!(
                    LoginSubType::parse(&code.to_uppercase()),
                    Some(*t),
                    "code {code} upper"
                );
            }
        }
        for raw in [
            "OAuth Username-Password",
            "OauthUsernamePassword",
            "oauthpassword",
        ] {
            assert_eq!(
                login_sub_type(Some(raw)).as_deref(),
                Some("OAuth Username-Password"),
                "{raw}"
            );
        }
        assert_eq!(
            login_sub_type(Some("uiup")).as_deref(),
            Some("UI Username-Password")
        );
        assert_eq!(
            login_sub_type(Some("oauthtoken")).as_deref(),
            Some("OAuth User-Agent")
        );
        assert_eq!(
            login_sub_type(Some("oauthhybridtoken")).as_deref(),
            Some("OAuth User-Agent for Hybrid Apps")
        );
        assert_eq!(
            login_sub_type(Some("oauthtokenidtoken")).as_deref(),
            Some("OAuth User-Agent with ID Token")
        );
        assert_eq!(
            login_sub_type(Some("oauthclientcredential")).as_deref(),
            Some("OAuth Client Credentials")
        );
        assert_eq!(
            login_sub_type(Some("oauthcode")).as_deref(),
            Some("OAuth Web Server")
        );
        assert_eq!(
            login_sub_type(Some("oauthhybridauthcode")).as_deref(),
            Some("OAuth Web Server for Hybrid Apps")
        );
        assert_eq!(
            login_sub_type(Some("oauthrefreshtoken")).as_deref(),
            Some("OAuth Refresh Token")
        );
    }

    #[test]
    fn empty_and_unknown_picklist_values() {
        assert_eq!(login_type(None), None);
        assert_eq!(login_type(Some("")), None);
        assert_eq!(login_type(Some("   ")), None);
        assert_eq!(login_sub_type(Some("")), None);
        assert_eq!(
            login_type(Some("Quantum Login 3.0")).as_deref(),
            Some("Quantum Login 3.0")
        );
        assert_eq!(
            login_sub_type(Some(" OAuthDevice ")).as_deref(),
            Some("OAuthDevice")
        );
        assert_eq!(
            login_type(Some("Z")).as_deref(),
            Some("Z"),
            "unknown single letter kept"
        );
    }

    fn am(t: Option<&str>, s: Option<&str>) -> AuthMethod {
        derive_auth_method(t, s, &AuthHints::default())
    }

    #[test]
    fn auth_method_table() {
        use AuthMethod as M;
        assert_eq!(
            am(Some("Remote Access 2.0"), Some("OAuth Username-Password")),
            M::OauthUsernamePassword
        );
        assert_eq!(
            am(Some("i"), Some("oauthpassword")),
            M::OauthUsernamePassword
        );
        assert_eq!(
            am(Some("Oauth2"), Some("OauthUsernamePassword")),
            M::OauthUsernamePassword
        );
        assert_eq!(am(Some("Remote Access 2.0"), None), M::OauthOther);
        assert_eq!(am(Some("Remote Access 2.0"), Some("")), M::OauthOther);
        assert_eq!(
            am(Some("Remote Access 2.0"), Some("OAuth Client Credentials")),
            M::OauthClientCredentials
        );
        assert_eq!(
            am(Some("i"), Some("oauthclientcredential")),
            M::OauthClientCredentials
        );
        assert_eq!(am(Some("i"), Some("oauthcode")), M::OauthWebServer);
        assert_eq!(
            am(Some("i"), Some("oauthhybridauthcode")),
            M::OauthWebServer
        );
        assert_eq!(am(Some("i"), Some("oauthtoken")), M::OauthUserAgent);
        assert_eq!(am(Some("i"), Some("oauthtokenidtoken")), M::OauthUserAgent);
        assert_eq!(
            am(Some("i"), Some("oauthrefreshtoken")),
            M::OauthRefreshToken
        );
        assert_eq!(
            am(Some("i"), Some("OAuth Token Exchange")),
            M::OauthTokenExchange
        );
        assert_eq!(am(Some("i"), Some("OAuth JWT Bearer")), M::OauthJwtBearer);
        assert_eq!(am(Some("i"), Some("OAuth OTP Login")), M::OauthOther);
        assert_eq!(
            am(Some("Application"), Some("UI Username-Password")),
            M::UiPassword
        );
        assert_eq!(am(Some("A"), Some("uiup")), M::UiPassword);
        assert_eq!(am(Some("Application"), None), M::Unknown);
        assert_eq!(am(Some("Other Apex API"), None), M::SoapPassword);
        assert_eq!(am(Some("I"), None), M::SoapPassword);
        assert_eq!(
            am(Some("Other Apex API"), Some("SoapApiLogin")),
            M::SoapPassword
        );
        assert_eq!(am(Some("SAML Idp Initiated SSO"), None), M::SamlSso);
        assert_eq!(am(Some("8"), None), M::SamlSso);
        assert_eq!(am(Some("Third Party SSO"), None), M::ThirdPartySso);
        assert_eq!(am(Some("Passwordless Login"), None), M::Passwordless);
        assert_eq!(am(Some("z"), None), M::Passwordless);
        assert_eq!(am(Some("s"), None), M::Certificate);
        assert_eq!(am(Some("AppExchange"), None), M::Other);
        assert_eq!(am(None, None), M::Unknown);
        // Unknown future values are kept elsewhere and map to `other`.
        assert_eq!(am(Some("Remote Access 2.0"), Some("OAuthDevice")), M::Other);
        assert_eq!(am(Some("Quantum Login 3.0"), None), M::Other);
    }

    #[test]
    fn partner_product_needs_soap_evidence() {
        use AuthMethod as M;
        let soap = AuthHints {
            api_type: Some("SOAP Partner"),
            ..Default::default()
        };
        assert_eq!(
            derive_auth_method(Some("Partner Product"), None, &soap),
            M::SoapPassword
        );
        let elf = AuthHints {
            api_type: Some("P"),
            ..Default::default()
        };
        assert_eq!(derive_auth_method(Some("R"), None, &elf), M::SoapPassword);
        let uri = AuthHints {
            uri: Some("/services/Soap/u/62.0"),
            ..Default::default()
        };
        assert_eq!(derive_auth_method(Some("R"), None, &uri), M::SoapPassword);
        let rest = AuthHints {
            api_type: Some("REST API"),
            ..Default::default()
        };
        assert_eq!(
            derive_auth_method(Some("Partner Product"), None, &rest),
            M::Other
        );
        assert_eq!(
            derive_auth_method(Some("Partner Product"), None, &AuthHints::default()),
            M::Unknown
        );
        assert!(application_is_na(None));
        assert!(application_is_na(Some("n/a")));
        assert!(application_is_na(Some("")));
        assert!(!application_is_na(Some("Browser")));
    }

    fn reason(s: &str) -> Option<&'static str> {
        let c = classify_status(Some(s));
        assert_eq!(c.outcome == Outcome::Success, c.failure_reason.is_none());
        c.failure_reason.map(FailureReason::as_str)
    }

    #[test]
    fn status_success_is_strict() {
        assert_eq!(classify_status(Some("Success")).outcome, Outcome::Success);
        assert_eq!(classify_status(Some(" Success ")).outcome, Outcome::Success);
        assert_eq!(
            classify_status(Some("LOGIN_NO_ERROR")).outcome,
            Outcome::Success
        );
        assert_eq!(reason("Successful?"), Some("other"));
        assert_eq!(reason("success"), Some("other"));
        assert_eq!(
            classify_status(None).failure_reason,
            Some(FailureReason::Unknown)
        );
        assert_eq!(
            classify_status(Some("")).failure_reason,
            Some(FailureReason::Unknown)
        );
    }

    #[test]
    fn status_free_text_any_case() {
        assert_eq!(reason("Invalid Password"), Some("invalid_password"));
        assert_eq!(reason("Invalid password"), Some("invalid_password"));
        assert_eq!(reason("INVALID PASSWORD"), Some("invalid_password"));
        assert_eq!(
            reason("Failed: API security token required"),
            Some("api_security_token_required")
        );
        assert_eq!(reason("Password Lockout"), Some("password_lockout"));
        assert_eq!(reason("User is Inactive"), Some("user_inactive"));
        assert_eq!(reason("User Is Frozen"), Some("user_frozen"));
        assert_eq!(reason("User is frozen"), Some("user_frozen"));
        assert_eq!(reason("Login Rate Exceeded"), Some("login_rate_exceeded"));
        assert_eq!(reason("Login rate exceeded"), Some("login_rate_exceeded"));
        assert_eq!(
            reason("Username-Password Flow Disabled"),
            Some("username_password_flow_disabled")
        );
        assert_eq!(reason("Restricted IP"), Some("restricted_ip"));
        assert_eq!(reason("Restricted time"), Some("restricted_time"));
        assert_eq!(
            reason("Failed: Missing Consumer Key Parameter"),
            Some("missing_consumer_key")
        );
        assert_eq!(
            reason("Missing Consumer Key Parameter"),
            Some("missing_consumer_key")
        );
        assert_eq!(
            reason("Failed: Computer activation required"),
            Some("computer_activation_required")
        );
        assert_eq!(
            reason("Failed: Mobile License Required"),
            Some("mobile_license_required")
        );
        assert_eq!(
            reason("Failed: Mobile license required"),
            Some("mobile_license_required")
        );
        assert_eq!(
            reason("Multi-factor (formerly called two-factor) is required"),
            Some("mfa_required")
        );
        assert_eq!(
            reason("Invalid - Portal disabled"),
            Some("portal_unavailable")
        );
        assert_eq!(reason("Organization is inactive"), Some("org_unavailable"));
        assert_eq!(
            reason("Failed: IP Address Not Allowed"),
            Some("restricted_ip")
        );
        assert_eq!(reason("Login invalid"), Some("invalid_login"));
        assert_eq!(reason("Something brand new"), Some("other"));
    }

    #[test]
    fn status_elf_codes() {
        assert_eq!(
            reason("LOGIN_ERROR_INVALID_PASSWORD"),
            Some("invalid_password")
        );
        assert_eq!(
            reason("LOGIN_ERROR_INVALID_USERNAME"),
            Some("invalid_username")
        );
        assert_eq!(
            reason("LOGIN_ERROR_MUST_USE_API_TOKEN"),
            Some("api_security_token_required")
        );
        assert_eq!(
            reason("LOGIN_ERROR_PASSWORD_LOCKOUT"),
            Some("password_lockout")
        );
        assert_eq!(reason("LOGIN_ERROR_USER_FROZEN"), Some("user_frozen"));
        assert_eq!(reason("LOGIN_ERROR_USER_INACTIVE"), Some("user_inactive"));
        assert_eq!(
            reason("LOGIN_ERROR_RATE_EXCEEDED"),
            Some("login_rate_exceeded")
        );
        assert_eq!(
            reason("OAUTH_UN_PW_FLOW_DISABLED"),
            Some("username_password_flow_disabled")
        );
        assert_eq!(
            reason("oauth_un_pw_flow_disabled"),
            Some("username_password_flow_disabled")
        );
        assert_eq!(
            reason("LOGIN_ERROR_RESTRICTED_DOMAIN"),
            Some("restricted_ip")
        );
        assert_eq!(
            reason("LOGIN_ERROR_RESTRICTED_TIME"),
            Some("restricted_time")
        );
        assert_eq!(
            reason("LOGIN_OAUTH_NO_CONSUMER"),
            Some("missing_consumer_key")
        );
        assert_eq!(reason("LOGIN_TWOFACTOR_REQ"), Some("mfa_required"));
        assert_eq!(
            reason("LOGIN_ERROR_SSO_PWD_INVALID"),
            Some("invalid_password")
        );
        assert_eq!(
            reason("LOGIN_ERROR_LOGINS_EXCEEDED"),
            Some("logins_exceeded")
        );
        assert_eq!(reason("LOGIN_OAUTH_INVALID_TOKEN"), Some("oauth_error"));
        assert_eq!(reason("LOGIN_SAML_INVALID_AUDIENCE"), Some("saml_error"));
        assert_eq!(reason("LOGIN_DATA_DOWNLOAD_ONLY"), Some("other"));
        for r in FailureReason::ALL {
            assert_eq!(FailureReason::parse(r.as_str()), Some(*r));
        }
    }

    #[test]
    fn tls_spellings() {
        for raw in ["TLS 1.2", "TLSv1.2", "1.2", "tlsv1.2", "TLS1.2", "TLSv1_2"] {
            assert_eq!(tls_protocol(raw).as_deref(), Some("TLS 1.2"), "{raw}");
        }
        assert_eq!(tls_protocol("TLSv1.3").as_deref(), Some("TLS 1.3"));
        assert_eq!(tls_protocol("1.0").as_deref(), Some("TLS 1.0"));
        assert_eq!(tls_protocol("TLS 1.1").as_deref(), Some("TLS 1.1"));
        assert_eq!(tls_protocol("unknown").as_deref(), Some("Unknown"));
        assert_eq!(tls_protocol("").as_deref(), None);
        assert_eq!(tls_protocol("SSLv3").as_deref(), Some("SSLv3"));
    }

    #[test]
    fn source_ips() {
        assert_eq!(source_ip("198.51.100.1").as_deref(), Some("198.51.100.1"));
        assert_eq!(
            source_ip(" 2001:DB8:0:0::1 ").as_deref(),
            Some("2001:db8::1")
        );
        for raw in [
            "Salesforce.com IP",
            "salesforce.com ip",
            "SALESFORCE.COM IP",
        ] {
            assert_eq!(source_ip(raw).as_deref(), Some(SALESFORCE_IP));
        }
        assert_eq!(source_ip("").as_deref(), None);
        assert_eq!(source_ip("not-an-ip").as_deref(), Some("not-an-ip"));
    }

    #[test]
    fn api_type_letters() {
        assert_eq!(api_type_label("E"), "SOAP Enterprise");
        assert_eq!(api_type_label("P"), "SOAP Partner");
        assert_eq!(api_type_label("f"), "Feed");
        assert_eq!(api_type_label("SOAP Partner"), "SOAP Partner");
        assert_eq!(country_iso(" us ").as_deref(), Some("US"));
    }

    #[test]
    fn timestamps_every_spelling() {
        let t = |s: &str| parse_timestamp(s).map(|t| crate::time::to_rfc3339_millis(&t));
        assert_eq!(
            t("2026-11-02T14:03:11.000+0000").unwrap(),
            "2026-11-02T14:03:11.000Z"
        );
        assert_eq!(
            t("2023-07-23T16:18:23.000+0000").unwrap(),
            "2023-07-23T16:18:23.000Z"
        );
        assert_eq!(
            t("2023-12-05T12:00:57.000Z").unwrap(),
            "2023-12-05T12:00:57.000Z"
        );
        assert_eq!(
            t("2023-12-05T12:00:57Z").unwrap(),
            "2023-12-05T12:00:57.000Z"
        );
        assert_eq!(
            t("2023-12-05T12:00:57.5Z").unwrap(),
            "2023-12-05T12:00:57.500Z"
        );
        assert_eq!(
            t("2023-12-05T12:00:57.123456789Z").unwrap(),
            "2023-12-05T12:00:57.123Z"
        );
        assert_eq!(
            t("2023-12-05T14:00:57.000+02:00").unwrap(),
            "2023-12-05T12:00:57.000Z"
        );
        assert_eq!(
            t("2023-12-05T07:00:57.000-0500").unwrap(),
            "2023-12-05T12:00:57.000Z"
        );
        assert_eq!(t("20231218054831.655").unwrap(), "2023-12-18T05:48:31.655Z");
        assert_eq!(t("20130715233322.670").unwrap(), "2013-07-15T23:33:22.670Z");
        assert_eq!(t("20130715233322").unwrap(), "2013-07-15T23:33:22.000Z");
        assert_eq!(t("1701777657000").unwrap(), "2023-12-05T12:00:57.000Z");
        assert_eq!(t("0").unwrap(), "1970-01-01T00:00:00.000Z");
    }

    #[test]
    fn bad_timestamps_are_errors() {
        for bad in [
            "",
            "yesterday",
            "2026-13-02T14:03:11.000+0000",
            "2026-02-30T14:03:11.000+0000",
            "2026-11-02T14:03:11.000",
            "2026-11-02T14:03:11.000+2500",
            "2026-11-02T25:03:11.000Z",
            "20231318054831.655",
            "20231218054831.6x5",
            "99999999999999999999999",
            "2026-11-02T14:03:11.Z",
            "२०२६-११-०२",
        ] {
            assert!(parse_timestamp(bad).is_err(), "{bad:?} should not parse");
        }
    }
}
