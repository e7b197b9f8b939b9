//! `LoginHistory` REST query pages (reference §1.4): `totalSize`, `done`, `nextRecordsUrl`,
//! `records[]` with `attributes`; timestamps like `2026-11-02T14:03:11.000+0000`.
//!
//! `event_id` and `login_history_id` are the record `Id` (18 characters). Geo comes from the
//! `LoginGeo` relationship (`SELECT …, LoginGeo.City, LoginGeo.Latitude, LoginGeo.Longitude …`)
//! when the query asked for it.

use serde::Deserialize;

use super::json::{self, Scalar};
use super::{
    Draft, Key, PageError, ParseContext, ParseError, QueryPage, Rec, RecordError, RecordLabel,
};
use crate::event::{LoginEvent, Source};

const SOURCE: Source = Source::LoginHistory;

/// The `LoginGeo` relationship object.
#[derive(Deserialize, Default)]
#[serde(rename_all = "PascalCase", default)]
struct RawGeo<'a> {
    #[serde(borrow)]
    city: Scalar<'a>,
    #[serde(borrow)]
    country_iso: Scalar<'a>,
    #[serde(borrow)]
    latitude: Scalar<'a>,
    #[serde(borrow)]
    longitude: Scalar<'a>,
}

/// One `LoginHistory` record; unknown fields (`attributes`, `LoginGeoId`, `NetworkId`, …) are ignored.
#[derive(Deserialize, Default)]
#[serde(rename_all = "PascalCase", default)]
struct RawLoginHistory<'a> {
    #[serde(borrow)]
    id: Scalar<'a>,
    #[serde(borrow)]
    user_id: Scalar<'a>,
    #[serde(borrow)]
    login_time: Scalar<'a>,
    #[serde(borrow)]
    login_type: Scalar<'a>,
    #[serde(borrow)]
    login_sub_type: Scalar<'a>,
    #[serde(borrow)]
    login_url: Scalar<'a>,
    #[serde(borrow)]
    source_ip: Scalar<'a>,
    #[serde(borrow)]
    status: Scalar<'a>,
    #[serde(borrow)]
    application: Scalar<'a>,
    #[serde(borrow)]
    browser: Scalar<'a>,
    #[serde(borrow)]
    platform: Scalar<'a>,
    #[serde(borrow)]
    api_type: Scalar<'a>,
    #[serde(borrow)]
    api_version: Scalar<'a>,
    #[serde(borrow)]
    client_version: Scalar<'a>,
    #[serde(borrow)]
    cipher_suite: Scalar<'a>,
    #[serde(borrow)]
    tls_protocol: Scalar<'a>,
    #[serde(borrow)]
    country_iso: Scalar<'a>,
    #[serde(borrow)]
    login_geo: Option<RawGeo<'a>>,
}

fn convert(
    raw: &RawLoginHistory<'_>,
    position: usize,
    ctx: &ParseContext,
) -> Result<LoginEvent, ParseError> {
    let label = match raw.id.as_str() {
        Some(id) => RecordLabel::Field("Id", id),
        None => RecordLabel::Position(position),
    };
    let rec = Rec {
        source: SOURCE,
        label,
    };
    let id = raw.id.id(&rec, "Id")?.ok_or_else(|| rec.missing("Id"))?;
    let event_time = raw.login_time.time(&rec, "LoginTime")?;
    let geo = raw.login_geo.as_ref();
    let mut country_iso = raw.country_iso.text(&rec, "CountryIso")?;
    if country_iso.is_none() {
        if let Some(g) = geo {
            country_iso = g.country_iso.text(&rec, "LoginGeo.CountryIso")?;
        }
    }
    let draft = Draft {
        user_id: raw.user_id.id(&rec, "UserId")?,
        login_type: raw.login_type.text(&rec, "LoginType")?,
        login_sub_type: raw.login_sub_type.text(&rec, "LoginSubType")?,
        status: raw.status.text(&rec, "Status")?,
        application: raw.application.text(&rec, "Application")?,
        source_ip: raw.source_ip.text(&rec, "SourceIp")?,
        country_iso,
        city: geo
            .map(|g| g.city.text(&rec, "LoginGeo.City"))
            .transpose()?
            .flatten(),
        latitude: geo
            .map(|g| g.latitude.float(&rec, "LoginGeo.Latitude"))
            .transpose()?
            .flatten(),
        longitude: geo
            .map(|g| g.longitude.float(&rec, "LoginGeo.Longitude"))
            .transpose()?
            .flatten(),
        api_type: raw.api_type.text(&rec, "ApiType")?,
        api_version: raw.api_version.text(&rec, "ApiVersion")?,
        client_version: raw.client_version.text(&rec, "ClientVersion")?,
        browser: raw.browser.text(&rec, "Browser")?,
        platform: raw.platform.text(&rec, "Platform")?,
        login_url: raw.login_url.text(&rec, "LoginUrl")?,
        tls_protocol: raw.tls_protocol.text(&rec, "TlsProtocol")?,
        cipher_suite: raw.cipher_suite.text(&rec, "CipherSuite")?,
        login_history_id: Some(id.clone()),
        ..Draft::default()
    };
    let key = Key {
        event_id: id,
        org_id: ctx.org_id.clone(),
        source: SOURCE,
        event_time,
    };
    Ok(draft.finish(key, ctx))
}

fn parse_raw(raw: &str, position: usize, ctx: &ParseContext) -> Result<LoginEvent, ParseError> {
    let record: RawLoginHistory<'_> =
        serde_json::from_str(raw).map_err(|e| json::shape_error(SOURCE, position, &e))?;
    convert(&record, position, ctx)
}

/// Parses one REST query response page of `LoginHistory` records. A page that is not a query
/// response (not JSON, truncated) is a [`PageError`]; a bad record lands in `errors`, the rest in `events`.
pub fn parse_page(body: &[u8], ctx: &ParseContext) -> Result<QueryPage, PageError> {
    json::parse_page(body, SOURCE, |raw, position| parse_raw(raw, position, ctx))
}

/// Parses one `LoginHistory` record (an element of `records`).
// The error carries the raw record for the dead-letter topic; failures are rare, so its size
// on the error path does not matter and the shape stays the documented contract.
#[allow(clippy::result_large_err)]
pub fn parse_record(
    record: &serde_json::Value,
    ctx: &ParseContext,
) -> Result<LoginEvent, RecordError> {
    let raw = || record.to_string();
    let parsed = RawLoginHistory::deserialize(record)
        .map_err(|e| json::shape_error(SOURCE, 1, &e))
        .and_then(|r| convert(&r, 1, ctx));
    parsed.map_err(|error| RecordError { error, raw: raw() })
}
