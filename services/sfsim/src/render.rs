//! Renders a [`SimLogin`] in every Salesforce shape: LoginHistory REST record, LoginGeo record,
//! LoginEventStream CometD data message, LoginEvent SOQL row, EventLogFile Login CSV line and the
//! Setup "Login History" CSV export line (reference §1.4, §1.5, §2, §4, §6).

use chrono::{DateTime, Duration, Utc};
use serde_json::{json, Map, Value};

use crate::ids::to_15;
use crate::model::{status, SimLogin, SubTypeSpelling, UserKind};

/// REST dateTime: `2023-07-23T16:18:23.000+0000` (offset without colon).
pub fn rest_time(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%S%.3f+0000").to_string()
}

/// CometD / ISO dateTime: `2023-12-05T12:00:57.000Z`.
pub fn iso_time(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string()
}

/// ELF `TIMESTAMP`: `20231218054831.655`.
pub fn elf_time(t: DateTime<Utc>) -> String {
    t.format("%Y%m%d%H%M%S%.3f").to_string()
}

fn opt(v: Option<&str>) -> Value {
    v.map(|s| Value::String(s.to_string()))
        .unwrap_or(Value::Null)
}

fn sub_type(l: &SimLogin, spelling: SubTypeSpelling) -> Value {
    opt(l.sub_type.map(|s| s.spelled(spelling)))
}

/// The `attributes` object of a REST record.
pub fn attributes(object: &str, id: &str, api_version: &str) -> Value {
    json!({"type": object, "url": format!("/services/data/v{api_version}/sobjects/{object}/{id}")})
}

/// A full LoginHistory REST record (every field; the query layer projects the selected ones).
pub fn login_history_record(
    l: &SimLogin,
    api_version: &str,
    spelling: SubTypeSpelling,
) -> Map<String, Value> {
    let mut m = Map::new();
    m.insert(
        "attributes".into(),
        attributes("LoginHistory", &l.login_history_id, api_version),
    );
    m.insert("Id".into(), json!(l.login_history_id));
    m.insert("UserId".into(), json!(l.user.user_id));
    m.insert("LoginTime".into(), json!(rest_time(l.time)));
    m.insert("LoginType".into(), json!(l.login_type.label()));
    m.insert("LoginSubType".into(), sub_type(l, spelling));
    m.insert("LoginUrl".into(), json!(&*l.login_url));
    m.insert("SourceIp".into(), json!(l.source_ip));
    m.insert("Status".into(), json!(l.status));
    m.insert("Application".into(), json!(&*l.application));
    m.insert("Browser".into(), json!(l.browser));
    m.insert("Platform".into(), json!(l.platform));
    m.insert("ApiType".into(), opt(l.api_type));
    m.insert("ApiVersion".into(), opt(l.api_version));
    m.insert("ClientVersion".into(), Value::Null);
    m.insert("CipherSuite".into(), json!(l.cipher_suite));
    m.insert("TlsProtocol".into(), json!(l.tls_protocol));
    m.insert("CountryIso".into(), json!(l.place.country_iso));
    m.insert("LoginGeoId".into(), json!(l.login_geo_id));
    m.insert("AuthenticationServiceId".into(), Value::Null);
    m.insert("AuthMethodReference".into(), Value::Null);
    m.insert("NetworkId".into(), Value::Null);
    m.insert("OptionsIsGet".into(), json!(l.http_method == "GET"));
    m.insert("OptionsIsPost".into(), json!(l.http_method == "POST"));
    // Not populated for OAuth or SSO logins (reference §1.1).
    m.insert("ForwardedForIp".into(), Value::Null);
    m
}

/// A full LoginGeo record.
pub fn login_geo_record(l: &SimLogin, api_version: &str) -> Map<String, Value> {
    let mut m = Map::new();
    m.insert(
        "attributes".into(),
        attributes("LoginGeo", &l.login_geo_id, api_version),
    );
    m.insert("Id".into(), json!(l.login_geo_id));
    m.insert("City".into(), json!(l.place.city));
    m.insert("Country".into(), json!(l.place.country));
    m.insert("CountryIso".into(), json!(l.place.country_iso));
    m.insert("Latitude".into(), json!(l.place.latitude));
    m.insert("Longitude".into(), json!(l.place.longitude));
    m.insert("PostalCode".into(), json!(l.place.postal_code));
    m.insert("Subdivision".into(), json!(l.place.subdivision));
    m.insert("LoginTime".into(), json!(rest_time(l.time)));
    m.insert("CreatedDate".into(), json!(rest_time(l.time)));
    m
}

fn event_fields(
    l: &SimLogin,
    spelling: SubTypeSpelling,
    time: fn(DateTime<Utc>) -> String,
) -> Map<String, Value> {
    let created = l.time + Duration::milliseconds(l.created_delay_ms as i64);
    let na = |v: Option<&str>| json!(v.unwrap_or("N/A"));
    let mut m = Map::new();
    m.insert("EventDate".into(), json!(time(l.time)));
    m.insert("CreatedDate".into(), json!(time(created)));
    m.insert("CreatedById".into(), json!(l.user.user_id));
    m.insert("EventIdentifier".into(), json!(l.event_identifier));
    m.insert("LoginType".into(), json!(l.login_type.label()));
    m.insert("LoginSubType".into(), sub_type(l, spelling));
    m.insert("Status".into(), json!(l.status));
    m.insert("SourceIp".into(), json!(l.source_ip));
    m.insert("Username".into(), json!(l.user.username));
    m.insert("UserId".into(), json!(l.user.user_id));
    m.insert("Application".into(), json!(&*l.application));
    m.insert("Browser".into(), json!(l.browser));
    m.insert("Platform".into(), json!(l.platform));
    m.insert("LoginUrl".into(), json!(&*l.login_url));
    m.insert("LoginHistoryId".into(), json!(l.login_history_id));
    m.insert("LoginGeoId".into(), json!(l.login_geo_id));
    m.insert("LoginKey".into(), json!(l.login_key));
    m.insert("SessionKey".into(), Value::Null);
    m.insert("TlsProtocol".into(), json!(l.tls_protocol));
    m.insert("CipherSuite".into(), json!(l.cipher_suite));
    m.insert("HttpMethod".into(), json!(l.http_method));
    m.insert("SessionLevel".into(), json!("STANDARD"));
    m.insert("UserType".into(), json!(l.user.user_type));
    m.insert("ApiType".into(), na(l.api_type));
    m.insert("ApiVersion".into(), na(l.api_version));
    m.insert("ClientVersion".into(), json!("N/A"));
    m.insert("EvaluationTime".into(), json!(0));
    m.insert("AdditionalInfo".into(), json!("{}"));
    m.insert("City".into(), json!(l.place.city));
    m.insert("Country".into(), json!(l.place.country));
    m.insert("CountryIso".into(), json!(l.place.country_iso));
    m.insert("Subdivision".into(), json!(l.place.subdivision));
    m.insert("PostalCode".into(), json!(l.place.postal_code));
    m.insert("LoginLatitude".into(), json!(l.place.latitude));
    m.insert("LoginLongitude".into(), json!(l.place.longitude));
    m.insert("AuthServiceId".into(), Value::Null);
    m.insert("AuthMethodReference".into(), Value::Null);
    m.insert("ForwardedForIp".into(), Value::Null);
    m.insert("NetworkId".into(), Value::Null);
    m.insert("PolicyId".into(), Value::Null);
    m.insert("PolicyOutcome".into(), Value::Null);
    m.insert("RelatedEventIdentifier".into(), Value::Null);
    m
}

/// Schema id of the simulated LoginEventStream (an opaque fingerprint in Salesforce).
pub const STREAM_SCHEMA_ID: &str = "VEb7_SnuXFTJ7g1PLe_aYw";

/// The CometD data message of a login on `/event/LoginEventStream` (reference §6).
pub fn stream_message(l: &SimLogin, replay_id: i64, spelling: SubTypeSpelling) -> Value {
    let payload = event_fields(l, spelling, iso_time);
    json!({
        "channel": "/event/LoginEventStream",
        "data": {
            "schema": STREAM_SCHEMA_ID,
            "payload": payload,
            "event": {"EventUuid": l.event_uuid, "replayId": replay_id}
        }
    })
}

/// The id every LoginEvent row carries in query results (reference §2.2).
pub const LOGIN_EVENT_DUMMY_ID: &str = "000000000000000AAA";

/// A full LoginEvent SOQL row (REST time format, dummy Id, no replay id / EventUuid).
pub fn login_event_record(
    l: &SimLogin,
    api_version: &str,
    spelling: SubTypeSpelling,
) -> Map<String, Value> {
    let mut m = Map::new();
    m.insert(
        "attributes".into(),
        attributes("LoginEvent", LOGIN_EVENT_DUMMY_ID, api_version),
    );
    m.insert("Id".into(), json!(LOGIN_EVENT_DUMMY_ID));
    m.extend(event_fields(l, spelling, rest_time));
    m.insert("HttpReferer".into(), Value::Null);
    m.insert("UseApiToken".into(), Value::Null);
    m
}

/// Whether the stream (and the LoginEvent storage object) carries this login. Salesforce leaves
/// out logins over the rate limit; leaving out integration users is configurable because the
/// documentation's meaning of "integration users" is UNCONFIRMED (reference §2.1).
pub fn on_stream(l: &SimLogin, omit_integration_users: bool) -> bool {
    l.status != status::RATE_EXCEEDED
        && !(omit_integration_users && l.user.kind == UserKind::Integration)
}

/// EventLogFile Login CSV header, in the observed order plus the newer documented columns.
pub const ELF_HEADER: [&str; 32] = [
    "EVENT_TYPE",
    "TIMESTAMP",
    "REQUEST_ID",
    "ORGANIZATION_ID",
    "USER_ID",
    "RUN_TIME",
    "CPU_TIME",
    "URI",
    "SESSION_KEY",
    "LOGIN_KEY",
    "USER_TYPE",
    "REQUEST_STATUS",
    "DB_TOTAL_TIME",
    "LOGIN_TYPE",
    "BROWSER_TYPE",
    "API_TYPE",
    "API_VERSION",
    "USER_NAME",
    "TLS_PROTOCOL",
    "CIPHER_SUITE",
    "AUTHENTICATION_METHOD_REFERENCE",
    "LOGIN_SUB_TYPE",
    "TIMESTAMP_DERIVED",
    "USER_ID_DERIVED",
    "CLIENT_IP",
    "URI_ID_DERIVED",
    "LOGIN_STATUS",
    "SOURCE_IP",
    "COUNTRY_CODE",
    "LOGIN_URL",
    "USE_API_TOKEN",
    "FORWARDED_FOR_IP",
];

/// ELF single-letter API_TYPE codes for the API types the generator uses.
fn elf_api_type(api_type: Option<&str>) -> &'static str {
    match api_type {
        Some("SOAP Partner") => "P",
        Some("SOAP Enterprise") => "E",
        _ => "",
    }
}

/// One EventLogFile Login CSV line (same column order as [`ELF_HEADER`]).
pub fn elf_row(l: &SimLogin) -> [String; 32] {
    let tls = l.tls_protocol.replace("TLS ", "TLSv");
    let ok = l.status == status::SUCCESS;
    let (api_type, api_version) = match l.login_type {
        crate::model::LoginType::Application => ("f".to_string(), "9998.0".to_string()),
        _ => (
            elf_api_type(l.api_type).to_string(),
            l.api_version.unwrap_or("").to_string(),
        ),
    };
    let use_api_token = if l.login_type == crate::model::LoginType::OtherApex {
        "T"
    } else {
        ""
    };
    [
        "Login".into(),
        elf_time(l.time),
        l.request_id.clone(),
        to_15(&l.org_id).to_string(),
        to_15(&l.user.user_id).to_string(),
        (200 + l.seq % 900).to_string(),
        (20 + l.seq % 150).to_string(),
        l.uri.to_string(),
        String::new(),
        l.login_key.clone(),
        l.user.user_type.to_string(),
        if ok { "Success".into() } else { String::new() },
        (1_000_000 + (l.seq % 9_000) * 1000).to_string(),
        l.login_type.elf_code().to_string(),
        l.user_agent.to_string(),
        api_type,
        api_version,
        l.user.username.clone(),
        tls,
        l.cipher_suite.to_string(),
        String::new(),
        l.sub_type.map(|s| s.elf_code()).unwrap_or("").to_string(),
        iso_time(l.time),
        l.user.user_id.clone(),
        l.source_ip.clone(),
        String::new(),
        status::elf_code(l.status).to_string(),
        l.source_ip.clone(),
        l.place.country_iso.to_string(),
        l.login_url.to_string(),
        use_api_token.to_string(),
        String::new(),
    ]
}

/// Writes an ELF Login CSV (every value quoted, like Salesforce's files).
pub fn elf_writer<W: std::io::Write>(w: W) -> csv::Writer<W> {
    csv::WriterBuilder::new()
        .quote_style(csv::QuoteStyle::Always)
        .from_writer(w)
}

/// The time zone of a Setup CSV export: the column header names it (reference §1.5).
#[derive(Debug, Clone, Copy)]
pub struct SetupZone {
    pub tz: chrono_tz::Tz,
    /// Display name in the header, e.g. `Coordinated Universal Time`.
    pub display: &'static str,
}

impl SetupZone {
    pub const UTC: SetupZone = SetupZone {
        tz: chrono_tz::UTC,
        display: "Coordinated Universal Time",
    };

    /// Zones Salesforce names by their Windows-style display names. Only the ones sfsim knows.
    pub fn named(name: &str) -> Option<SetupZone> {
        let (tz, display) = match name {
            "UTC" | "GMT" | "Coordinated Universal Time" => {
                (chrono_tz::UTC, "Coordinated Universal Time")
            }
            "America/New_York" | "Eastern Standard Time" => {
                (chrono_tz::America::New_York, "Eastern Standard Time")
            }
            "America/Los_Angeles" | "Pacific Standard Time" => {
                (chrono_tz::America::Los_Angeles, "Pacific Standard Time")
            }
            "Europe/London" | "Greenwich Mean Time" => {
                (chrono_tz::Europe::London, "Greenwich Mean Time")
            }
            "Europe/Berlin" | "Central European Standard Time" => {
                (chrono_tz::Europe::Berlin, "Central European Standard Time")
            }
            "Asia/Tokyo" | "Japan Standard Time" => (chrono_tz::Asia::Tokyo, "Japan Standard Time"),
            _ => return None,
        };
        Some(SetupZone { tz, display })
    }
}

/// Setup "Login History" export header for `zone` (exact real header UNCONFIRMED; reference §1.5).
pub fn setup_header(zone: SetupZone) -> Vec<String> {
    let mut h = vec![
        "Username".to_string(),
        format!("Login Time ({})", zone.display),
    ];
    h.extend(
        [
            "Source IP",
            "Login Type",
            "Status",
            "Browser",
            "Platform",
            "Application",
            "Client Version",
            "API Type",
            "API Version",
            "Login URL",
            "TLS Protocol",
            "Cipher Suite",
            "Country Code",
            "Country",
            "Subdivision",
            "City",
            "PostalCode",
            "Latitude",
            "Longitude",
        ]
        .iter()
        .map(|s| s.to_string()),
    );
    h
}

/// Setup export time text: `M/D/YYYY h:mm:ss AM` in the export's zone (format UNCONFIRMED).
pub fn setup_time(t: DateTime<Utc>, zone: SetupZone) -> String {
    t.with_timezone(&zone.tz)
        .format("%-m/%-d/%Y %-I:%M:%S %p")
        .to_string()
}

/// One Setup export line (same order as [`setup_header`]).
pub fn setup_row(l: &SimLogin, zone: SetupZone) -> Vec<String> {
    vec![
        l.user.username.clone(),
        setup_time(l.time, zone),
        l.source_ip.clone(),
        l.login_type.label().to_string(),
        l.status.to_string(),
        l.browser.to_string(),
        l.platform.to_string(),
        l.application.to_string(),
        String::new(),
        l.api_type.unwrap_or("").to_string(),
        l.api_version.unwrap_or("").to_string(),
        l.login_url.to_string(),
        l.tls_protocol.to_string(),
        l.cipher_suite.to_string(),
        l.place.country_iso.to_string(),
        l.place.country.to_string(),
        l.place.subdivision.to_string(),
        l.place.city.to_string(),
        l.place.postal_code.to_string(),
        format!("{:.6}", l.place.latitude),
        format!("{:.6}", l.place.longitude),
    ]
}
