//! Realistic detections, one per category, for golden tests, sink tests, benchmarks and the demo.
//! Fixed times and ids so rendered payloads are reproducible.

use chrono::{DateTime, Duration, Utc};
use loginwatch_shared::detection::{
    detection_id, CloudAccount, CloudInfo, DetectionEvent, GeoInfo, LoginwatchInfo, RuleInfo,
    SalesforceInfo, SalesforceLogin, SourceInfo, Technique, Threat, UserInfo,
    PASSWORD_FLOW_REMEDIATION,
};
use loginwatch_shared::{Category, Detection, Severity};

const ORG: &str = "00D5g000004SzXyEAK";

struct Spec {
    rule_id: &'static str,
    rule_name: &'static str,
    description: &'static str,
    technique: (&'static str, &'static str),
    severity: Severity,
    user: Option<(&'static str, &'static str)>,
    ip: Option<&'static str>,
    country: Option<&'static str>,
    login_type: Option<&'static str>,
    sub_type: Option<&'static str>,
    application: Option<&'static str>,
    api_type: Option<&'static str>,
    auth_method: Option<&'static str>,
    window_minutes: i64,
    count: u64,
    message: &'static str,
    remediation: Option<&'static str>,
}

fn spec(category: Category) -> Spec {
    const VALID: (&str, &str) = ("T1078.004", "Valid Accounts: Cloud Accounts");
    const GUESS: (&str, &str) = ("T1110.001", "Brute Force: Password Guessing");
    match category {
        Category::OauthUsernamePassword => Spec {
            rule_id: "LW-AUTH-001",
            rule_name: "OAuth Username-Password flow login",
            description: "A login used the OAuth 2.0 Username-Password flow, which sends the user's password and security token to Salesforce.",
            technique: VALID,
            severity: Severity::High,
            user: Some(("0055g00000AbCdEAAZ", "integration@acme.example")),
            ip: Some("203.0.113.24"),
            country: Some("US"),
            login_type: Some("Remote Access 2.0"),
            sub_type: Some("OAuth Username-Password"),
            application: Some("Nightly ETL"),
            api_type: None,
            auth_method: Some("oauth_username_password"),
            window_minutes: 0,
            count: 1,
            message: "integration@acme.example logged in with the OAuth Username-Password flow through Nightly ETL from 203.0.113.24",
            remediation: Some(PASSWORD_FLOW_REMEDIATION),
        },
        Category::SoapPasswordLogin => Spec {
            rule_id: "LW-AUTH-002",
            rule_name: "SOAP API login() with a password",
            description: "A login through SOAP API login() (Other Apex API), which authenticates with username, password and security token.",
            technique: VALID,
            severity: Severity::High,
            user: Some(("0055g00000XyZwVAAV", "dataloader@acme.example")),
            ip: Some("198.51.100.7"),
            country: Some("DE"),
            login_type: Some("Other Apex API"),
            sub_type: None,
            application: Some("N/A"),
            api_type: Some("SOAP Partner"),
            auth_method: Some("soap_password"),
            window_minutes: 0,
            count: 1,
            message: "dataloader@acme.example logged in with SOAP login() (Other Apex API, SOAP Partner) from 198.51.100.7",
            remediation: Some(PASSWORD_FLOW_REMEDIATION),
        },
        Category::BruteForce => Spec {
            rule_id: "LW-ANOM-001",
            rule_name: "Brute force against one user",
            description: "At least 10 failed logins for one user within 15 minutes.",
            technique: GUESS,
            severity: Severity::Critical,
            user: Some(("0055g00000QrStUAAZ", "cfo@acme.example")),
            ip: Some("192.0.2.66"),
            country: Some("RU"),
            login_type: Some("Application"),
            sub_type: None,
            application: Some("Browser"),
            api_type: None,
            auth_method: Some("ui_password"),
            window_minutes: 15,
            count: 37,
            message: "37 failed logins for cfo@acme.example in 15 minutes, then a success from 192.0.2.66",
            remediation: Some("Reset the user's password, end their sessions, and review what the successful session did."),
        },
        Category::PasswordSpray => Spec {
            rule_id: "LW-ANOM-002",
            rule_name: "Password spray from one IP",
            description: "At least 15 distinct users with failed password logins from one IP within 5 minutes.",
            technique: ("T1110.003", "Brute Force: Password Spraying"),
            severity: Severity::High,
            user: None,
            ip: Some("192.0.2.199"),
            country: Some("NL"),
            login_type: Some("Application"),
            sub_type: None,
            application: Some("Browser"),
            api_type: None,
            auth_method: Some("ui_password"),
            window_minutes: 5,
            count: 42,
            message: "42 failed logins for 23 distinct users from 192.0.2.199 in 5 minutes",
            remediation: Some("Block the source IP (Network Access / Login IP Ranges) and require MFA for every user."),
        },
        Category::ImpossibleTravel => Spec {
            rule_id: "LW-ANOM-003",
            rule_name: "Impossible travel",
            description: "Two successful logins of one user farther apart than any plane could travel in the time between them.",
            technique: VALID,
            severity: Severity::High,
            user: Some(("0055g00000LmNoPAAZ", "j.doe@acme.example")),
            ip: Some("203.0.113.250"),
            country: Some("SG"),
            login_type: Some("Application"),
            sub_type: None,
            application: Some("Browser"),
            api_type: None,
            auth_method: Some("ui_password"),
            window_minutes: 40,
            count: 2,
            message: "j.doe@acme.example logged in from US then SG 40 minutes later (15,300 km, 22,950 km/h)",
            remediation: Some("Confirm with the user; if not them, reset the password and revoke sessions and OAuth tokens."),
        },
        Category::NewCountry => Spec {
            rule_id: "LW-ANOM-004",
            rule_name: "Login from a new country",
            description: "A successful login from a country never seen for this user after its learning period.",
            technique: VALID,
            severity: Severity::Medium,
            user: Some(("0055g00000LmNoPAAZ", "j.doe@acme.example")),
            ip: Some("198.51.100.90"),
            country: Some("BR"),
            login_type: Some("Application"),
            sub_type: None,
            application: Some("Browser"),
            api_type: None,
            auth_method: Some("saml_sso"),
            window_minutes: 0,
            count: 1,
            message: "j.doe@acme.example logged in from BR for the first time",
            remediation: None,
        },
        Category::NewSourceIp => Spec {
            rule_id: "LW-ANOM-005",
            rule_name: "API login from a new source IP",
            description: "An API login from an IP never seen for this user and application.",
            technique: VALID,
            severity: Severity::Medium,
            user: Some(("0055g00000AbCdEAAZ", "integration@acme.example")),
            ip: Some("2001:db8::1f"),
            country: Some("US"),
            login_type: Some("Remote Access 2.0"),
            sub_type: Some("OAuth JWT Bearer"),
            application: Some("Nightly ETL"),
            api_type: None,
            auth_method: Some("oauth_jwt_bearer"),
            window_minutes: 0,
            count: 1,
            message: "integration@acme.example used Nightly ETL from 2001:db8::1f, never seen for this user and application",
            remediation: None,
        },
        Category::NewApplication => Spec {
            rule_id: "LW-ANOM-006",
            rule_name: "New application in the org",
            description: "An application name never seen in the org after the learning period.",
            technique: ("T1550.001", "Use Alternate Authentication Material: Application Access Token"),
            severity: Severity::Low,
            user: Some(("005me0000001abcAAA", "ops\\admin@acme.example")),
            ip: Some("203.0.113.5"),
            country: Some("GB"),
            login_type: Some("Remote Access 2.0"),
            sub_type: Some("OAuth Web Server"),
            // Awkward characters on purpose: CEF must escape `=` and `\`, and `|` in headers.
            application: Some("Data|Sync = v2\\beta"),
            api_type: None,
            auth_method: Some("oauth_web_server"),
            window_minutes: 0,
            count: 1,
            message: "First login through connected app \"Data|Sync = v2\\beta\" in the org\nrequested by ops\\admin@acme.example",
            remediation: Some("Review the connected app's OAuth policies and scopes; block it if nobody owns it."),
        },
        Category::UnusualHour => Spec {
            rule_id: "LW-ANOM-007",
            rule_name: "Login at an unusual hour",
            description: "A successful login in an hour of the week where the user has almost never logged in.",
            technique: VALID,
            severity: Severity::Low,
            user: Some(("005me0000002defAAA", "m.rossi@acme.example")),
            ip: Some("198.51.100.33"),
            country: Some("IT"),
            login_type: Some("Application"),
            sub_type: None,
            application: Some("Salesforce for iOS"),
            api_type: None,
            auth_method: Some("ui_password"),
            window_minutes: 60,
            count: 1,
            message: "m.rossi@acme.example logged in on Sunday 03:00-04:00 UTC, an hour with 0 of 412 past logins",
            remediation: None,
        },
        Category::LoginRateSpike => Spec {
            rule_id: "LW-ANOM-008",
            rule_name: "Login rate spike",
            description: "A user's logins per hour far above its baseline, or Login Rate Exceeded.",
            technique: VALID,
            severity: Severity::Medium,
            user: Some(("005me0000003ghiAAA", "sync-bot@acme.example")),
            ip: Some("203.0.113.77"),
            country: Some("US"),
            login_type: Some("Remote Access 2.0"),
            sub_type: Some("OAuth Username-Password"),
            application: Some("Legacy Sync"),
            api_type: None,
            auth_method: Some("oauth_username_password"),
            window_minutes: 60,
            count: 3611,
            message: "sync-bot@acme.example logged in 3611 times in one hour (baseline 40/h); Login Rate Exceeded",
            remediation: Some("Cache the access token in Legacy Sync instead of logging in for every call."),
        },
    }
}

/// The detection of `category` used by the golden files (fixed time, deterministic id).
pub fn detection(category: Category) -> Detection {
    let window_end: DateTime<Utc> = DateTime::parse_from_rfc3339("2026-11-02T14:03:11.417Z")
        .expect("valid constant")
        .with_timezone(&Utc);
    detection_at(category, window_end, 0)
}

/// A detection of `category` whose window ends at `window_end`; `serial` varies the key so many
/// distinct detections (distinct ids) can be generated for load and loss tests.
pub fn detection_at(category: Category, window_end: DateTime<Utc>, serial: u64) -> Detection {
    let s = spec(category);
    let start = window_end - Duration::minutes(s.window_minutes);
    let key = match (serial, s.user) {
        (0, Some((id, _))) => format!("{ORG}/{id}"),
        (0, None) => format!("{ORG}/{}", s.ip.unwrap_or("-")),
        (n, _) => format!("{ORG}/serial-{n}"),
    };
    let id = detection_id(s.rule_id, &key, start);
    let evidence = (0..s.count.min(3))
        .map(|i| format!("{}-{}", &id[..8], i + 1))
        .collect();
    Detection {
        timestamp: window_end,
        message: s.message.to_string(),
        event: DetectionEvent {
            kind: "alert".into(),
            id,
            category: vec!["authentication".into()],
            start,
            end: window_end,
            severity: s.severity.number(),
        },
        rule: RuleInfo {
            id: s.rule_id.into(),
            name: s.rule_name.into(),
            category,
            description: s.description.into(),
        },
        threat: Threat {
            framework: "MITRE ATT&CK".into(),
            technique: Technique {
                id: s.technique.0.into(),
                name: Some(s.technique.1.into()),
            },
        },
        user: s.user.map(|(id, name)| UserInfo {
            id: Some(id.into()),
            name: Some(name.into()),
        }),
        source: s.ip.map(|ip| SourceInfo {
            ip: Some(ip.into()),
            geo: s.country.map(|c| GeoInfo {
                country_iso_code: Some(c.into()),
            }),
        }),
        cloud: CloudInfo {
            account: CloudAccount { id: ORG.into() },
        },
        salesforce: SalesforceInfo {
            login: SalesforceLogin {
                login_type: s.login_type.map(Into::into),
                sub_type: s.sub_type.map(Into::into),
                application: s.application.map(Into::into),
                api_type: s.api_type.map(Into::into),
                auth_method: s.auth_method.map(Into::into),
            },
        },
        loginwatch: LoginwatchInfo {
            count: s.count,
            evidence,
            remediation: s.remediation.map(Into::into),
            severity: s.severity,
        },
    }
}

/// `n` distinct detections cycling through the categories, window ends one second apart.
pub fn many(n: usize) -> Vec<Detection> {
    let base = DateTime::parse_from_rfc3339("2026-11-02T00:00:00.000Z")
        .expect("valid constant")
        .with_timezone(&Utc);
    (0..n)
        .map(|i| {
            let category = Category::ALL[i % Category::ALL.len()];
            detection_at(category, base + Duration::seconds(i as i64), i as u64 + 1)
        })
        .collect()
}
