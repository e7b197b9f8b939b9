//! Pure renderers: one [`Detection`] → the wire format a SIEM expects.
//!
//! Field names follow the detection format in `docs/contracts.md`: the ECS document is the
//! detection itself; Splunk HEC wraps a payload in its envelope; OCSF is the Detection Finding
//! class (2004); CEF rides in an RFC 5424 syslog message.

use chrono::{DateTime, SecondsFormat, Utc};
use loginwatch_shared::{Detection, Severity};
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

/// Product version carried in OCSF `metadata.product.version` and the CEF header.
pub const PRODUCT_VERSION: &str = env!("CARGO_PKG_VERSION");
/// OCSF schema version the Detection Finding follows (the reference's schema).
pub const OCSF_SCHEMA_VERSION: &str = "1.9.0-dev";

/// The document format an HTTP sink sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PayloadFormat {
    /// The detection as is (ECS).
    #[default]
    Ecs,
    /// OCSF Detection Finding, class 2004.
    Ocsf,
}

/// The payload object in the chosen format.
pub fn payload(d: &Detection, format: PayloadFormat) -> Value {
    match format {
        PayloadFormat::Ecs => ecs(d),
        PayloadFormat::Ocsf => ocsf(d),
    }
}

/// ECS: the detection document unchanged.
pub fn ecs(d: &Detection) -> Value {
    serde_json::to_value(d).expect("a Detection always serialises")
}

/// Fixed parts of a Splunk HEC envelope (from the sink's config).
#[derive(Debug, Clone, PartialEq)]
pub struct HecMeta {
    pub host: String,
    pub source: String,
    pub sourcetype: String,
    /// `None`: the token's default index.
    pub index: Option<String>,
}

/// One Splunk HEC envelope for the `/services/collector/event` endpoint.
/// `time` is epoch seconds with a millisecond fraction; `fields` are indexed fields.
pub fn hec_envelope(d: &Detection, meta: &HecMeta, format: PayloadFormat) -> Value {
    let mut envelope = Map::new();
    envelope.insert("time".into(), epoch_seconds_with_millis(d.timestamp));
    envelope.insert("host".into(), Value::String(meta.host.clone()));
    envelope.insert("source".into(), Value::String(meta.source.clone()));
    envelope.insert("sourcetype".into(), Value::String(meta.sourcetype.clone()));
    if let Some(index) = &meta.index {
        envelope.insert("index".into(), Value::String(index.clone()));
    }
    envelope.insert("event".into(), payload(d, format));
    envelope.insert(
        "fields".into(),
        json!({
            "rule_id": d.rule.id,
            "rule_category": d.rule.category.as_str(),
            "severity": d.loginwatch.severity.as_str(),
            "org_id": d.cloud.account.id,
            "detection_id": d.event.id,
        }),
    );
    Value::Object(envelope)
}

/// `1724250000.123`: whole seconds plus exactly the milliseconds, as a JSON number.
fn epoch_seconds_with_millis(t: DateTime<Utc>) -> Value {
    let ms = t.timestamp_millis();
    let text = format!("{}.{:03}", ms.div_euclid(1000), ms.rem_euclid(1000));
    // Parsing our own decimal text keeps the exact digits (no binary float rounding surprises).
    serde_json::from_str(&text).expect("decimal text is a JSON number")
}

fn ocsf_severity_name(s: Severity) -> &'static str {
    match s {
        Severity::Low => "Low",
        Severity::Medium => "Medium",
        Severity::High => "High",
        Severity::Critical => "Critical",
    }
}

/// OCSF Detection Finding (class_uid 2004, category Findings 2, activity Create 1).
pub fn ocsf(d: &Detection) -> Value {
    let start_ms = d.event.start.timestamp_millis();
    let end_ms = d.event.end.timestamp_millis();
    let severity = Severity::from_number(d.event.severity).unwrap_or(d.loginwatch.severity);

    let mut attack_technique = Map::new();
    attack_technique.insert("uid".into(), json!(d.threat.technique.id));
    if let Some(name) = &d.threat.technique.name {
        attack_technique.insert("name".into(), json!(name));
    }

    let finding_info = json!({
        "uid": d.event.id,
        "title": d.rule.name,
        "desc": d.rule.description,
        "analytic": {
            "name": d.rule.name,
            "uid": d.rule.id,
            "type_id": 1,
            "type": "Rule",
            "category": d.rule.category.as_str(),
        },
        "types": [d.rule.category.as_str()],
        "first_seen_time": start_ms,
        "last_seen_time": end_ms,
        "related_events": d.loginwatch.evidence.iter().map(|id| json!({"uid": id})).collect::<Vec<_>>(),
        "attacks": [{ "technique": Value::Object(attack_technique) }],
    });

    // One evidence artifact: who, from where, through which connected app.
    let mut evidence = Map::new();
    if let Some(user) = &d.user {
        let mut u = Map::new();
        if let Some(id) = &user.id {
            u.insert("uid".into(), json!(id));
        }
        if let Some(name) = &user.name {
            u.insert("name".into(), json!(name));
        }
        if !u.is_empty() {
            evidence.insert("user".into(), Value::Object(u));
        }
    }
    if let Some(src) = &d.source {
        let mut e = Map::new();
        if let Some(ip) = &src.ip {
            e.insert("ip".into(), json!(ip));
        }
        if let Some(country) = src.geo.as_ref().and_then(|g| g.country_iso_code.as_ref()) {
            e.insert("location".into(), json!({ "country": country }));
        }
        if !e.is_empty() {
            evidence.insert("src_endpoint".into(), Value::Object(e));
        }
    }
    if let Some(app) = &d.salesforce.login.application {
        evidence.insert("actor".into(), json!({ "app_name": app }));
    }

    let mut finding = Map::new();
    finding.insert("class_uid".into(), json!(2004));
    finding.insert("class_name".into(), json!("Detection Finding"));
    finding.insert("category_uid".into(), json!(2));
    finding.insert("category_name".into(), json!("Findings"));
    finding.insert("activity_id".into(), json!(1));
    finding.insert("activity_name".into(), json!("Create"));
    finding.insert("type_uid".into(), json!(200401));
    finding.insert("type_name".into(), json!("Detection Finding: Create"));
    finding.insert("time".into(), json!(d.timestamp.timestamp_millis()));
    finding.insert("start_time".into(), json!(start_ms));
    finding.insert("end_time".into(), json!(end_ms));
    finding.insert("count".into(), json!(d.loginwatch.count));
    finding.insert("severity_id".into(), json!(severity.number()));
    finding.insert("severity".into(), json!(ocsf_severity_name(severity)));
    finding.insert("status_id".into(), json!(1));
    finding.insert("status".into(), json!("New"));
    finding.insert("is_alert".into(), json!(true));
    finding.insert("message".into(), json!(d.message));
    finding.insert(
        "metadata".into(),
        json!({
            "version": OCSF_SCHEMA_VERSION,
            "uid": d.event.id,
            "tenant_uid": d.cloud.account.id,
            "log_name": loginwatch_shared::kafka::DETECTIONS_TOPIC,
            "product": {
                "name": "loginwatch",
                "vendor_name": "loginwatch",
                "version": PRODUCT_VERSION,
            },
        }),
    );
    finding.insert("finding_info".into(), finding_info);
    if !evidence.is_empty() {
        finding.insert("evidences".into(), json!([Value::Object(evidence)]));
    }
    if let Some(remediation) = &d.loginwatch.remediation {
        finding.insert("remediation".into(), json!({ "desc": remediation }));
    }
    finding.insert(
        "cloud".into(),
        json!({ "provider": "Salesforce", "account": { "uid": d.cloud.account.id } }),
    );
    // Salesforce login attributes OCSF has no place for.
    let login = serde_json::to_value(&d.salesforce.login).expect("login info serialises");
    if login.as_object().is_some_and(|m| !m.is_empty()) {
        finding.insert(
            "unmapped".into(),
            json!({ "salesforce": { "login": login } }),
        );
    }
    Value::Object(finding)
}

/// CEF severity 0-10: low 3, medium 5, high 8, critical 10.
pub fn cef_severity(s: Severity) -> u8 {
    match s {
        Severity::Low => 3,
        Severity::Medium => 5,
        Severity::High => 8,
        Severity::Critical => 10,
    }
}

/// CEF header field escaping: `\` and `|`; line breaks are not allowed in the header.
pub fn cef_escape_header(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '|' => out.push_str("\\|"),
            '\r' | '\n' => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

/// CEF extension value escaping: `\`, `=`, and line breaks as `\n` / `\r`.
pub fn cef_escape_extension(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '=' => out.push_str("\\="),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            c => out.push(c),
        }
    }
    out
}

/// The CEF line: `CEF:0|loginwatch|loginwatch|VERSION|rule.id|rule.name|severity|extension`.
pub fn cef(d: &Detection) -> String {
    let severity = Severity::from_number(d.event.severity).unwrap_or(d.loginwatch.severity);
    let mut ext: Vec<(&str, String)> = vec![
        ("rt", d.timestamp.timestamp_millis().to_string()),
        ("start", d.event.start.timestamp_millis().to_string()),
        ("end", d.event.end.timestamp_millis().to_string()),
        ("cnt", d.loginwatch.count.to_string()),
    ];
    if let Some(user) = &d.user {
        if let Some(name) = &user.name {
            ext.push(("suser", name.clone()));
        }
        if let Some(id) = &user.id {
            ext.push(("suid", id.clone()));
        }
    }
    if let Some(ip) = d.source.as_ref().and_then(|s| s.ip.as_ref()) {
        ext.push(("src", ip.clone()));
    }
    // CEF `app` is the application-level protocol: the Salesforce API type (SOAP Partner, REST…).
    if let Some(api_type) = &d.salesforce.login.api_type {
        ext.push(("app", api_type.clone()));
    }
    ext.push(("deviceExternalId", d.cloud.account.id.clone()));
    ext.push(("externalId", d.event.id.clone()));
    ext.push(("msg", d.message.clone()));
    ext.push(("cat", d.rule.category.as_str().to_string()));
    let login = &d.salesforce.login;
    let country = d
        .source
        .as_ref()
        .and_then(|s| s.geo.as_ref())
        .and_then(|g| g.country_iso_code.clone());
    let custom = [
        ("cs1", "cs1Label", "loginType", login.login_type.clone()),
        ("cs2", "cs2Label", "loginSubType", login.sub_type.clone()),
        ("cs3", "cs3Label", "application", login.application.clone()),
        ("cs4", "cs4Label", "country", country),
        ("cs5", "cs5Label", "authMethod", login.auth_method.clone()),
        (
            "cs6",
            "cs6Label",
            "mitreTechnique",
            Some(d.threat.technique.id.clone()),
        ),
    ];
    for (key, label_key, label, value) in custom {
        if let Some(value) = value {
            ext.push((key, value));
            ext.push((label_key, label.to_string()));
        }
    }
    let extension = ext
        .iter()
        .map(|(k, v)| format!("{k}={}", cef_escape_extension(v)))
        .collect::<Vec<_>>()
        .join(" ");
    format!(
        "CEF:0|loginwatch|loginwatch|{}|{}|{}|{}|{}",
        cef_escape_header(PRODUCT_VERSION),
        cef_escape_header(&d.rule.id),
        cef_escape_header(&d.rule.name),
        cef_severity(severity),
        extension
    )
}

/// Fixed parts of an RFC 5424 header (from the sink's config).
#[derive(Debug, Clone, PartialEq)]
pub struct SyslogMeta {
    /// Facility code 0-23; default 10 (authpriv).
    pub facility: u8,
    pub hostname: String,
    pub app_name: String,
}

/// Syslog severity for a detection: critical 2 (crit), high 3 (err), medium 4 (warning), low 5 (notice).
pub fn syslog_severity(s: Severity) -> u8 {
    match s {
        Severity::Critical => 2,
        Severity::High => 3,
        Severity::Medium => 4,
        Severity::Low => 5,
    }
}

/// RFC 5424 header field: printable US-ASCII without spaces, at most `max` characters, `-` when empty.
fn syslog_header_field(s: &str, max: usize) -> String {
    let cleaned: String = s
        .chars()
        .filter(|c| c.is_ascii_graphic())
        .take(max)
        .collect();
    if cleaned.is_empty() {
        "-".into()
    } else {
        cleaned
    }
}

/// One RFC 5424 message carrying the CEF line:
/// `<PRI>1 TIMESTAMP HOSTNAME APP-NAME - MSGID - CEF:0|…` (no framing; the transport adds it).
pub fn syslog_cef(d: &Detection, meta: &SyslogMeta) -> String {
    let severity = Severity::from_number(d.event.severity).unwrap_or(d.loginwatch.severity);
    let pri = u16::from(meta.facility.min(23)) * 8 + u16::from(syslog_severity(severity));
    format!(
        "<{pri}>1 {} {} {} - {} - {}",
        d.timestamp.to_rfc3339_opts(SecondsFormat::Millis, true),
        syslog_header_field(&meta.hostname, 255),
        syslog_header_field(&meta.app_name, 48),
        syslog_header_field(d.rule.category.as_str(), 32),
        cef(d)
    )
}

/// One terminal line: time, severity, category, user, application, source IP, why. Values from
/// the login records go through [`loginwatch_shared::terminal::escape`]: control characters
/// (ESC, CR, LF, …) and bidi overrides show as `\u{1b}`, `\r`, `\n`, … and the line stays one line.
pub fn terminal_line(d: &Detection, color: bool) -> String {
    use loginwatch_shared::terminal::escape;
    let severity = d.loginwatch.severity;
    let user = d
        .user
        .as_ref()
        .and_then(|u| u.name.as_deref().or(u.id.as_deref()))
        .unwrap_or("-");
    let app = d.salesforce.login.application.as_deref().unwrap_or("-");
    let ip = d
        .source
        .as_ref()
        .and_then(|s| s.ip.as_deref())
        .unwrap_or("-");
    let label = format!("{:<8}", severity.as_str().to_uppercase());
    let label = if color {
        let code = match severity {
            Severity::Low => "36",        // cyan
            Severity::Medium => "33",     // yellow
            Severity::High => "31",       // red
            Severity::Critical => "1;41", // bold on red
        };
        format!("\x1b[{code}m{label}\x1b[0m")
    } else {
        label
    };
    format!(
        "{} {} {:<23} user={} app={} src={} why: {}",
        d.timestamp.to_rfc3339_opts(SecondsFormat::Millis, true),
        label,
        d.rule.category.as_str(),
        escape(user),
        escape(app),
        escape(ip),
        escape(&d.message)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cef_header_escapes_pipes_and_backslashes() {
        assert_eq!(cef_escape_header(r"a|b\c"), r"a\|b\\c");
        assert_eq!(cef_escape_header("two\nlines"), "two lines");
    }

    #[test]
    fn cef_extension_escapes_equals_backslash_newlines() {
        assert_eq!(
            cef_escape_extension("a=b\\c\nd\re|f"),
            "a\\=b\\\\c\\nd\\re|f"
        );
    }

    #[test]
    fn terminal_lines_escape_control_characters_from_login_fields() {
        let mut d = crate::samples::detection(loginwatch_shared::Category::OauthUsernamePassword);
        let evil = "\x1b[2J\rResult: clean (exit 0)\n";
        d.user.as_mut().unwrap().name = Some(evil.into());
        d.salesforce.login.application = Some("App\x1b]0;pwned\x07\u{202e}".into());
        d.message = format!("{evil} logged in");
        let line = terminal_line(&d, true);
        assert_eq!(
            line,
            "2026-11-02T14:03:11.417Z \x1b[31mHIGH    \x1b[0m oauth_username_password \
             user=\\u{1b}[2J\\rResult: clean (exit 0)\\n \
             app=App\\u{1b}]0;pwned\\u{7}\\u{202e} src=203.0.113.24 \
             why: \\u{1b}[2J\\rResult: clean (exit 0)\\n logged in"
        );
        // The only ESC bytes are the severity colour's own.
        assert_eq!(line.matches('\x1b').count(), 2);
        assert!(!line.contains(['\r', '\n', '\u{7}', '\u{202e}']));
    }

    #[test]
    fn hec_time_keeps_exact_millis() {
        let t = DateTime::parse_from_rfc3339("2024-08-21T14:20:00.123Z")
            .unwrap()
            .with_timezone(&Utc);
        assert_eq!(epoch_seconds_with_millis(t).to_string(), "1724250000.123");
        let t = DateTime::parse_from_rfc3339("2024-08-21T14:20:00.007Z")
            .unwrap()
            .with_timezone(&Utc);
        assert_eq!(epoch_seconds_with_millis(t).to_string(), "1724250000.007");
    }
}
