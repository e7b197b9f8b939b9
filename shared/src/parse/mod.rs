//! Parsers of every Salesforce login source into the canonical [`LoginEvent`].
//!
//! Each parser is a pure function of its input and a [`ParseContext`]. A malformed record becomes
//! a [`RecordError`] (naming the source, the record, the field and the offending value, and
//! carrying the raw record for the dead-letter topic); the other records of the page or file are
//! still returned. Nothing here panics on input. The streaming CSV readers store at most
//! [`MAX_FIELD_BYTES`] per field and [`MAX_RECORD_BYTES`] per row: a longer one is read past and
//! becomes an error for its row (naming the line, the column and the size), so memory stays
//! bounded whatever the file holds.
//!
//! | source | entry point |
//! |---|---|
//! | LoginHistory REST query pages | [`login_history::parse_page`], [`login_history::parse_record`] |
//! | `/event/LoginEventStream` CometD data messages | [`stream::parse_message`] |
//! | LoginEvent SOQL pages | [`login_event::parse_page`], [`login_event::parse_record`] |
//! | EventLogFile `Login` CSV | [`elf::reader`] (streaming) |
//! | Login History CSV export from Setup | [`setup_csv::reader`] (streaming) |

use std::borrow::Cow;
use std::fmt;

use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};

use crate::event::{LoginEvent, Source};
use crate::normalize::{self, AuthHints};

mod csv_rows;
pub mod elf;
mod json;
pub mod login_event;
pub mod login_history;
pub mod setup_csv;
pub mod stream;

/// Longest field a streaming reader stores (bytes as in the file): a longer CSV cell or JSON
/// string makes its record an error (the record is skipped, counted and named) instead of
/// being held in memory. Real login fields are far shorter (user agents are < 1 KiB).
pub const MAX_FIELD_BYTES: usize = 64 * 1024;

/// Longest record (one CSV row, one JSON record) a streaming reader stores, in bytes.
pub const MAX_RECORD_BYTES: usize = 1024 * 1024;

/// What a parser needs besides the record itself.
#[derive(Debug, Clone, PartialEq)]
pub struct ParseContext {
    /// The 18-character organisation id the records belong to (EventLogFile rows carry their own).
    pub org_id: String,
    /// Stamped on every event as `ingested_at`.
    pub ingested_at: DateTime<Utc>,
    /// Time zone of Setup CSV exports whose `Login Time` header names none.
    pub time_zone: chrono_tz::Tz,
    /// Day/month order of Setup CSV dates written `01/02/2026`; `None` infers it per file
    /// (see [`setup_csv`]).
    pub date_order: Option<setup_csv::DateOrder>,
}

impl ParseContext {
    /// Context for `org_id`, ingested now (millisecond precision), Setup CSV times in UTC.
    pub fn new(org_id: impl Into<String>) -> Self {
        ParseContext {
            org_id: org_id.into(),
            ingested_at: crate::time::truncate_to_millis(Utc::now()),
            time_zone: chrono_tz::UTC,
            date_order: None,
        }
    }

    pub fn with_ingested_at(mut self, ingested_at: DateTime<Utc>) -> Self {
        self.ingested_at = crate::time::truncate_to_millis(ingested_at);
        self
    }

    pub fn with_time_zone(mut self, time_zone: chrono_tz::Tz) -> Self {
        self.time_zone = time_zone;
        self
    }

    pub fn with_date_order(mut self, order: setup_csv::DateOrder) -> Self {
        self.date_order = Some(order);
        self
    }
}

/// One malformed value: which source, which record (id, or line/position), which field, what value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError {
    pub source: Source,
    /// `Id 0Ya…`, `EventIdentifier …`, `line 7`, `record 3`, `header`, `message`.
    pub record: String,
    /// The field as the source names it (`LoginTime`, `TIMESTAMP`, `Login Time (Eastern Daylight Time)`).
    pub field: String,
    /// The offending value as found (empty when the field is missing).
    pub value: String,
    /// What is wrong with it, and when it helps, what would be right.
    pub problem: String,
}

/// Longest value quoted in an error message (values can be whole records).
const MAX_VALUE_IN_MESSAGE: usize = 200;

fn excerpt(s: &str) -> Cow<'_, str> {
    if s.len() <= MAX_VALUE_IN_MESSAGE {
        return Cow::Borrowed(s);
    }
    let mut end = MAX_VALUE_IN_MESSAGE;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    Cow::Owned(format!("{}… ({} bytes)", &s[..end], s.len()))
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {}: field `{}` ",
            self.source, self.record, self.field
        )?;
        if !self.value.is_empty() {
            write!(f, "value {:?} ", excerpt(&self.value))?;
        }
        f.write_str(&self.problem)
    }
}

impl std::error::Error for ParseError {}

/// A record that could not be parsed, with its raw text for the dead-letter topic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordError {
    pub error: ParseError,
    /// The whole record as read (a JSON object, a CSV line).
    pub raw: String,
}

impl fmt::Display for RecordError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.error.fmt(f)
    }
}

impl std::error::Error for RecordError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.error)
    }
}

/// A whole query page that cannot be read (not JSON, truncated, no `records`); no record in it is usable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PageError {
    pub source: Source,
    pub problem: String,
}

impl fmt::Display for PageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} query page could not be read: {}",
            self.source, self.problem
        )
    }
}

impl std::error::Error for PageError {}

/// One REST query response page (`/services/data/vXX.X/query`).
#[derive(Debug, Clone, PartialEq)]
pub struct QueryPage {
    pub total_size: u64,
    pub done: bool,
    /// Relative URL of the next page (`/services/data/v62.0/query/0r8…-2000`) while `done` is false.
    pub next_records_url: Option<String>,
    pub events: Vec<LoginEvent>,
    /// The records of this page that could not be parsed (the others are in `events`).
    pub errors: Vec<RecordError>,
}

/// A `/event/LoginEventStream` data message.
#[derive(Debug, Clone, PartialEq)]
pub struct StreamEvent {
    pub event: LoginEvent,
    /// `data.event.replayId`: the position to resume from after a restart.
    pub replay_id: i64,
}

/// A deterministic id from a source's own key parts (hex of the first 16 bytes of their SHA-256).
pub fn hash_id(parts: &[&str]) -> String {
    let mut h = Sha256::new();
    for (i, part) in parts.iter().enumerate() {
        if i > 0 {
            h.update([0x1f]);
        }
        h.update(part.as_bytes());
    }
    hex::encode(&h.finalize()[..16])
}

/// Which record an error is about, rendered only when an error happens.
#[derive(Debug, Clone, Copy)]
pub(crate) enum RecordLabel<'a> {
    Field(&'a str, &'a str),
    Position(usize),
    Line(u64),
    Header,
    Message,
}

impl fmt::Display for RecordLabel<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RecordLabel::Field(name, value) => write!(f, "record {name} {}", excerpt(value)),
            RecordLabel::Position(i) => write!(f, "record #{i}"),
            RecordLabel::Line(n) => write!(f, "line {n}"),
            RecordLabel::Header => f.write_str("header"),
            RecordLabel::Message => f.write_str("message"),
        }
    }
}

/// Builds errors for one record.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Rec<'a> {
    pub source: Source,
    pub label: RecordLabel<'a>,
}

impl Rec<'_> {
    pub fn err(&self, field: &str, value: &str, problem: impl Into<String>) -> ParseError {
        ParseError {
            source: self.source,
            record: self.label.to_string(),
            field: field.to_string(),
            value: value.to_string(),
            problem: problem.into(),
        }
    }

    pub fn missing(&self, field: &str) -> ParseError {
        self.err(
            field,
            "",
            "is missing or empty; every record of this source carries it",
        )
    }

    /// An optional 15/18-character id, converted to 18 characters.
    pub fn id(&self, field: &str, value: Option<&str>) -> Result<Option<String>, ParseError> {
        match value.and_then(normalize::non_empty) {
            None => Ok(None),
            Some(v) => crate::ids::to_18(v)
                .map(Some)
                .map_err(|e| self.err(field, v, format!("is not a Salesforce id ({e})"))),
        }
    }

    pub fn time(&self, field: &str, value: Option<&str>) -> Result<DateTime<Utc>, ParseError> {
        let v = value
            .and_then(normalize::non_empty)
            .ok_or_else(|| self.missing(field))?;
        normalize::parse_timestamp(v).map_err(|e| self.err(field, v, e.0))
    }

    /// An optional coordinate (or other finite number).
    pub fn float(&self, field: &str, value: Option<&str>) -> Result<Option<f64>, ParseError> {
        match value.and_then(normalize::non_empty) {
            None => Ok(None),
            Some(v) => match v.parse::<f64>() {
                Ok(x) if x.is_finite() => Ok(Some(x)),
                _ => Err(self.err(field, v, "is not a finite number")),
            },
        }
    }
}

/// Source-independent raw values of one login; [`Draft::finish`] normalises them into the event.
#[derive(Debug, Default)]
pub(crate) struct Draft<'b> {
    pub user_id: Option<String>,
    pub username: Option<Cow<'b, str>>,
    pub login_type: Option<Cow<'b, str>>,
    pub login_sub_type: Option<Cow<'b, str>>,
    pub status: Option<Cow<'b, str>>,
    pub application: Option<Cow<'b, str>>,
    pub source_ip: Option<Cow<'b, str>>,
    pub country_iso: Option<Cow<'b, str>>,
    pub city: Option<Cow<'b, str>>,
    pub latitude: Option<f64>,
    pub longitude: Option<f64>,
    pub api_type: Option<Cow<'b, str>>,
    pub api_version: Option<Cow<'b, str>>,
    pub client_version: Option<Cow<'b, str>>,
    pub browser: Option<Cow<'b, str>>,
    pub platform: Option<Cow<'b, str>>,
    pub login_url: Option<Cow<'b, str>>,
    pub tls_protocol: Option<Cow<'b, str>>,
    pub cipher_suite: Option<Cow<'b, str>>,
    pub login_history_id: Option<String>,
    pub login_key: Option<Cow<'b, str>>,
    pub user_type: Option<Cow<'b, str>>,
    pub session_level: Option<Cow<'b, str>>,
    /// ELF `URI` (a hint for `auth_method`; not part of the event).
    pub uri: Option<Cow<'b, str>>,
}

/// Trimmed, `None` when empty.
pub(crate) fn text(value: Option<&str>) -> Option<Cow<'_, str>> {
    value.and_then(normalize::non_empty).map(Cow::Borrowed)
}

fn owned(value: Option<Cow<'_, str>>) -> Option<String> {
    value.and_then(|v| normalize::non_empty(&v).map(str::to_string))
}

/// The key fields every event needs.
pub(crate) struct Key {
    pub event_id: String,
    pub org_id: String,
    pub source: Source,
    pub event_time: DateTime<Utc>,
}

impl Draft<'_> {
    pub fn finish(self, key: Key, ctx: &ParseContext) -> LoginEvent {
        let login_type = normalize::login_type(self.login_type.as_deref());
        let login_sub_type = normalize::login_sub_type(self.login_sub_type.as_deref());
        let api_type = self
            .api_type
            .as_deref()
            .and_then(normalize::non_empty)
            .map(|t| normalize::api_type_label(t).to_string());
        let application = owned(self.application);
        let auth_method = normalize::derive_auth_method(
            login_type.as_deref(),
            login_sub_type.as_deref(),
            &AuthHints {
                application: application.as_deref(),
                api_type: api_type.as_deref(),
                uri: self.uri.as_deref(),
            },
        );
        let status = owned(self.status);
        let class = normalize::classify_status(status.as_deref());
        LoginEvent {
            event_id: key.event_id,
            org_id: key.org_id,
            source: key.source,
            event_time: key.event_time,
            ingested_at: ctx.ingested_at,
            user_id: self.user_id,
            username: owned(self.username),
            login_type,
            login_sub_type,
            auth_method,
            status,
            outcome: class.outcome,
            failure_reason: class.failure_reason.map(|r| r.as_str().to_string()),
            application,
            source_ip: self.source_ip.as_deref().and_then(normalize::source_ip),
            country_iso: self.country_iso.as_deref().and_then(normalize::country_iso),
            city: owned(self.city),
            latitude: self.latitude,
            longitude: self.longitude,
            api_type,
            api_version: owned(self.api_version),
            client_version: owned(self.client_version),
            browser: owned(self.browser),
            platform: owned(self.platform),
            login_url: owned(self.login_url),
            tls_protocol: self
                .tls_protocol
                .as_deref()
                .and_then(normalize::tls_protocol),
            cipher_suite: owned(self.cipher_suite),
            login_history_id: self.login_history_id,
            login_key: owned(self.login_key),
            user_type: owned(self.user_type),
            session_level: owned(self.session_level),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_ids_are_deterministic_and_separated() {
        assert_eq!(hash_id(&["a", "b"]), hash_id(&["a", "b"]));
        assert_ne!(hash_id(&["ab", ""]), hash_id(&["a", "b"]));
        assert_eq!(hash_id(&["x"]).len(), 32);
    }

    #[test]
    fn error_messages_name_source_record_field_value() {
        let rec = Rec {
            source: Source::LoginHistory,
            label: RecordLabel::Field("Id", "0YaHn0000EUyGdHKQV"),
        };
        let e = rec.time("LoginTime", Some("yesterday")).unwrap_err();
        let text = e.to_string();
        for part in [
            "login_history",
            "0YaHn0000EUyGdHKQV",
            "LoginTime",
            "yesterday",
        ] {
            assert!(text.contains(part), "{text}");
        }
        let long = "x".repeat(10_000);
        let e = rec.err("Status", &long, "is odd");
        assert!(
            e.to_string().len() < 400,
            "values are abbreviated in messages"
        );
        assert_eq!(e.value.len(), 10_000, "but kept whole in the error");
    }

    #[test]
    fn context_defaults() {
        let ctx = ParseContext::new("00D5j00000DgAYGEA3");
        assert_eq!(ctx.time_zone, chrono_tz::UTC);
        assert_eq!(ctx.date_order, None, "inferred per file");
        assert_eq!(ctx.ingested_at.timestamp_subsec_nanos() % 1_000_000, 0);
    }
}
