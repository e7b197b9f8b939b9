//! `LoginEvent` SOQL rows (the storage object, reference §2.2) and the payload shape they share
//! with `/event/LoginEventStream` messages ([`super::stream`]).
//!
//! `event_id` is `EventIdentifier` (the `Id` of LoginEvent query rows is always the dummy
//! `000000000000000AAA` and is ignored). Geo is inline: `City`, `CountryIso`, `LoginLatitude`,
//! `LoginLongitude`. `LoginHistoryId` joins the row to its LoginHistory record.

use serde::Deserialize;

use super::json::{self, Scalar};
use super::{
    Draft, Key, PageError, ParseContext, ParseError, QueryPage, Rec, RecordError, RecordLabel,
};
use crate::event::{LoginEvent, Source};

/// The fields of a LoginEvent / LoginEventStream payload that the canonical event uses.
#[derive(Deserialize, Default)]
#[serde(rename_all = "PascalCase", default)]
pub(crate) struct RawLoginEvent<'a> {
    #[serde(borrow)]
    event_identifier: Scalar<'a>,
    #[serde(borrow)]
    event_date: Scalar<'a>,
    #[serde(borrow)]
    created_date: Scalar<'a>,
    #[serde(borrow)]
    user_id: Scalar<'a>,
    #[serde(borrow)]
    username: Scalar<'a>,
    #[serde(borrow)]
    login_type: Scalar<'a>,
    #[serde(borrow)]
    login_sub_type: Scalar<'a>,
    #[serde(borrow)]
    status: Scalar<'a>,
    #[serde(borrow)]
    source_ip: Scalar<'a>,
    #[serde(borrow)]
    application: Scalar<'a>,
    #[serde(borrow)]
    browser: Scalar<'a>,
    #[serde(borrow)]
    platform: Scalar<'a>,
    #[serde(borrow)]
    login_url: Scalar<'a>,
    #[serde(borrow)]
    login_history_id: Scalar<'a>,
    #[serde(borrow)]
    login_key: Scalar<'a>,
    #[serde(borrow)]
    tls_protocol: Scalar<'a>,
    #[serde(borrow)]
    cipher_suite: Scalar<'a>,
    #[serde(borrow)]
    session_level: Scalar<'a>,
    #[serde(borrow)]
    user_type: Scalar<'a>,
    #[serde(borrow)]
    api_type: Scalar<'a>,
    #[serde(borrow)]
    api_version: Scalar<'a>,
    #[serde(borrow)]
    client_version: Scalar<'a>,
    #[serde(borrow)]
    city: Scalar<'a>,
    #[serde(borrow)]
    country_iso: Scalar<'a>,
    #[serde(borrow)]
    login_latitude: Scalar<'a>,
    #[serde(borrow)]
    login_longitude: Scalar<'a>,
}

impl RawLoginEvent<'_> {
    pub(crate) fn event_identifier(&self) -> Option<&str> {
        self.event_identifier.as_str()
    }
}

/// Converts a payload; `field_prefix` (`data.payload.` for stream messages) makes error fields exact.
pub(crate) fn convert(
    raw: &RawLoginEvent<'_>,
    source: Source,
    fallback_label: RecordLabel<'_>,
    field_prefix: &str,
    ctx: &ParseContext,
) -> Result<LoginEvent, ParseError> {
    let label = match raw.event_identifier.as_str() {
        Some(id) if !id.trim().is_empty() => RecordLabel::Field("EventIdentifier", id),
        _ => fallback_label,
    };
    let rec = Rec { source, label };
    // Field names are only rendered into errors; no allocation unless a prefix is needed.
    let f = |name: &'static str| -> std::borrow::Cow<'static, str> {
        if field_prefix.is_empty() {
            std::borrow::Cow::Borrowed(name)
        } else {
            std::borrow::Cow::Owned(format!("{field_prefix}{name}"))
        }
    };
    let event_id = raw
        .event_identifier
        .text(&rec, &f("EventIdentifier"))?
        .ok_or_else(|| rec.missing(&f("EventIdentifier")))?
        .into_owned();
    // EventDate is the login time; CreatedDate (when the event was written) only stands in when it is null.
    let event_time = match raw.event_date {
        Scalar::Null => raw.created_date.time(&rec, &f("EventDate"))?,
        ref d => d.time(&rec, &f("EventDate"))?,
    };
    let draft = Draft {
        user_id: raw.user_id.id(&rec, &f("UserId"))?,
        username: raw.username.text(&rec, &f("Username"))?,
        login_type: raw.login_type.text(&rec, &f("LoginType"))?,
        login_sub_type: raw.login_sub_type.text(&rec, &f("LoginSubType"))?,
        status: raw.status.text(&rec, &f("Status"))?,
        application: raw.application.text(&rec, &f("Application"))?,
        source_ip: raw.source_ip.text(&rec, &f("SourceIp"))?,
        country_iso: raw.country_iso.text(&rec, &f("CountryIso"))?,
        city: raw.city.text(&rec, &f("City"))?,
        latitude: raw.login_latitude.float(&rec, &f("LoginLatitude"))?,
        longitude: raw.login_longitude.float(&rec, &f("LoginLongitude"))?,
        api_type: raw.api_type.text(&rec, &f("ApiType"))?,
        api_version: raw.api_version.text(&rec, &f("ApiVersion"))?,
        client_version: raw.client_version.text(&rec, &f("ClientVersion"))?,
        browser: raw.browser.text(&rec, &f("Browser"))?,
        platform: raw.platform.text(&rec, &f("Platform"))?,
        login_url: raw.login_url.text(&rec, &f("LoginUrl"))?,
        tls_protocol: raw.tls_protocol.text(&rec, &f("TlsProtocol"))?,
        cipher_suite: raw.cipher_suite.text(&rec, &f("CipherSuite"))?,
        login_history_id: raw.login_history_id.id(&rec, &f("LoginHistoryId"))?,
        login_key: raw.login_key.text(&rec, &f("LoginKey"))?,
        user_type: raw.user_type.text(&rec, &f("UserType"))?,
        session_level: raw.session_level.text(&rec, &f("SessionLevel"))?,
        uri: None,
    };
    let key = Key {
        event_id,
        org_id: ctx.org_id.clone(),
        source,
        event_time,
    };
    Ok(draft.finish(key, ctx))
}

const SOURCE: Source = Source::LoginEvent;

fn parse_raw(raw: &str, position: usize, ctx: &ParseContext) -> Result<LoginEvent, ParseError> {
    let record: RawLoginEvent<'_> =
        serde_json::from_str(raw).map_err(|e| json::shape_error(SOURCE, position, &e))?;
    convert(&record, SOURCE, RecordLabel::Position(position), "", ctx)
}

/// Parses one REST query response page of `LoginEvent` rows.
pub fn parse_page(body: &[u8], ctx: &ParseContext) -> Result<QueryPage, PageError> {
    json::parse_page(body, SOURCE, |raw, position| parse_raw(raw, position, ctx))
}

/// Parses one `LoginEvent` row (an element of `records`).
// The error carries the raw record for the dead-letter topic; failures are rare, so its size
// on the error path does not matter and the shape stays the documented contract.
#[allow(clippy::result_large_err)]
pub fn parse_record(
    record: &serde_json::Value,
    ctx: &ParseContext,
) -> Result<LoginEvent, RecordError> {
    RawLoginEvent::deserialize(record)
        .map_err(|e| json::shape_error(SOURCE, 1, &e))
        .and_then(|r| convert(&r, SOURCE, RecordLabel::Position(1), "", ctx))
        .map_err(|error| RecordError {
            error,
            raw: record.to_string(),
        })
}
