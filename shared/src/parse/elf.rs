//! EventLogFile `Login` CSV (reference §4.2): header-driven (column order is not stable across
//! releases), all values quoted, 15-character `ORGANIZATION_ID`/`USER_ID`, single-letter
//! `LOGIN_TYPE` codes, lowercase `LOGIN_SUB_TYPE` codes, `LOGIN_STATUS` codes and
//! `TIMESTAMP` as `yyyyMMddHHmmss.SSS` (GMT).
//!
//! `event_id` is a hash of `REQUEST_ID` + `LOGIN_KEY` + `TIMESTAMP`; the org is the row's
//! `ORGANIZATION_ID` (the context's org when the column is absent). Reading streams: one row in
//! memory at a time.

use std::io::Read;

use super::csv_rows::{Row, Rows};
use super::{hash_id, text, Draft, Key, ParseContext, ParseError, RecordError};
use crate::event::{LoginEvent, Source};

const SOURCE: Source = Source::EventLogFile;

/// Column positions, found by name in the header.
#[derive(Debug, Clone, Default)]
struct Columns {
    event_type: Option<usize>,
    timestamp: Option<usize>,
    timestamp_derived: Option<usize>,
    request_id: Option<usize>,
    login_key: Option<usize>,
    organization_id: Option<usize>,
    user_id: Option<usize>,
    user_id_derived: Option<usize>,
    user_name: Option<usize>,
    user_type: Option<usize>,
    login_type: Option<usize>,
    login_sub_type: Option<usize>,
    login_status: Option<usize>,
    request_status: Option<usize>,
    source_ip: Option<usize>,
    client_ip: Option<usize>,
    country_code: Option<usize>,
    api_type: Option<usize>,
    api_version: Option<usize>,
    browser_type: Option<usize>,
    tls_protocol: Option<usize>,
    cipher_suite: Option<usize>,
    login_url: Option<usize>,
    uri: Option<usize>,
}

fn header_key(h: &str) -> String {
    h.trim().to_ascii_uppercase()
}

/// Streaming reader of an EventLogFile `Login` CSV; yields one result per data row.
pub struct ElfReader<R: Read> {
    rows: Rows<R>,
    columns: Columns,
    ctx: ParseContext,
}

/// Opens an EventLogFile `Login` CSV. Fails only when the header is unusable (no `TIMESTAMP` or
/// `TIMESTAMP_DERIVED` column: not a Login event log); row problems come out of the iterator.
pub fn reader<R: Read>(input: R, ctx: &ParseContext) -> Result<ElfReader<R>, ParseError> {
    let rows = Rows::open(input, SOURCE)?;
    let col = |name: &str| rows.column(header_key, &[name]);
    let columns = Columns {
        event_type: col("EVENT_TYPE"),
        timestamp: col("TIMESTAMP"),
        timestamp_derived: col("TIMESTAMP_DERIVED"),
        request_id: col("REQUEST_ID"),
        login_key: col("LOGIN_KEY"),
        organization_id: col("ORGANIZATION_ID"),
        user_id: col("USER_ID"),
        user_id_derived: col("USER_ID_DERIVED"),
        user_name: col("USER_NAME"),
        user_type: col("USER_TYPE"),
        login_type: col("LOGIN_TYPE"),
        login_sub_type: col("LOGIN_SUB_TYPE"),
        login_status: col("LOGIN_STATUS"),
        request_status: col("REQUEST_STATUS"),
        source_ip: col("SOURCE_IP"),
        client_ip: col("CLIENT_IP"),
        country_code: col("COUNTRY_CODE"),
        api_type: col("API_TYPE"),
        api_version: col("API_VERSION"),
        browser_type: col("BROWSER_TYPE"),
        tls_protocol: col("TLS_PROTOCOL"),
        cipher_suite: col("CIPHER_SUITE"),
        login_url: col("LOGIN_URL"),
        uri: col("URI"),
    };
    if columns.timestamp.is_none() && columns.timestamp_derived.is_none() {
        let rec = super::Rec {
            source: SOURCE,
            label: super::RecordLabel::Header,
        };
        return Err(rec.err(
            "TIMESTAMP",
            &rows.header.join(","),
            "is not in the header (nor TIMESTAMP_DERIVED): this is not an EventLogFile Login CSV",
        ));
    }
    Ok(ElfReader {
        rows,
        columns,
        ctx: ctx.clone(),
    })
}

/// `REQUEST_STATUS` when a file predates `LOGIN_STATUS` (API < 39.0): `S`/`Success` is success.
fn status_from_request_status(value: &str) -> &str {
    match value {
        "S" | "Success" => "LOGIN_NO_ERROR",
        other => other,
    }
}

fn convert(row: &Row<'_>, c: &Columns, ctx: &ParseContext) -> Result<LoginEvent, ParseError> {
    let rec = row.rec;
    if let Some(event_type) = row.get(c.event_type)? {
        if !event_type.eq_ignore_ascii_case("Login") {
            return Err(rec.err(
                row.name(c.event_type, "EVENT_TYPE"),
                event_type,
                "is not Login: this reader only reads EventLogFile Login rows",
            ));
        }
    }
    let timestamp = row.get(c.timestamp)?;
    let (time_text, event_time) = match timestamp {
        Some(t) => (t, rec.time(row.name(c.timestamp, "TIMESTAMP"), Some(t))?),
        None => {
            let derived = row.get(c.timestamp_derived)?;
            let field = row.name(c.timestamp_derived, "TIMESTAMP");
            (derived.unwrap_or(""), rec.time(field, derived)?)
        }
    };
    let request_id = row.get(c.request_id)?;
    let login_key = row.get(c.login_key)?;
    let org_id = match rec.id(
        row.name(c.organization_id, "ORGANIZATION_ID"),
        row.get(c.organization_id)?,
    )? {
        Some(org) => org,
        None => ctx.org_id.clone(),
    };
    let user_id = match rec.id(row.name(c.user_id, "USER_ID"), row.get(c.user_id)?)? {
        Some(id) => Some(id),
        None => rec.id(
            row.name(c.user_id_derived, "USER_ID_DERIVED"),
            row.get(c.user_id_derived)?,
        )?,
    };
    let status = match row.get(c.login_status)? {
        Some(s) => Some(s),
        None => row.get(c.request_status)?.map(status_from_request_status),
    };
    let source_ip = match row.get(c.source_ip)? {
        Some(ip) => Some(ip),
        None => row.get(c.client_ip)?,
    };
    let draft = Draft {
        user_id,
        username: text(row.get(c.user_name)?),
        login_type: text(row.get(c.login_type)?),
        login_sub_type: text(row.get(c.login_sub_type)?),
        status: text(status),
        source_ip: text(source_ip),
        country_iso: text(row.get(c.country_code)?),
        api_type: text(row.get(c.api_type)?),
        api_version: text(row.get(c.api_version)?),
        browser: text(row.get(c.browser_type)?),
        login_url: text(row.get(c.login_url)?),
        tls_protocol: text(row.get(c.tls_protocol)?),
        cipher_suite: text(row.get(c.cipher_suite)?),
        login_key: text(login_key),
        user_type: text(row.get(c.user_type)?),
        uri: text(row.get(c.uri)?),
        ..Draft::default()
    };
    let event_id = hash_id(&[request_id.unwrap_or(""), login_key.unwrap_or(""), time_text]);
    Ok(draft.finish(
        Key {
            event_id,
            org_id,
            source: SOURCE,
            event_time,
        },
        ctx,
    ))
}

impl<R: Read> Iterator for ElfReader<R> {
    type Item = Result<LoginEvent, RecordError>;

    fn next(&mut self) -> Option<Self::Item> {
        let (columns, ctx) = (&self.columns, &self.ctx);
        self.rows.next_with(|row| convert(row, columns, ctx))
    }
}
