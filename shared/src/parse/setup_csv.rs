//! Login History CSV export from Setup (reference §1.5). The exact header is not documented, so
//! the reader is header-driven: names are matched case-insensitively, extra columns are ignored,
//! and the time column's zone comes from its name, `Login Time (Eastern Daylight Time)` (Windows-
//! style names, IANA names and `GMT`/`UTC` offsets are understood); a plain `Login Time` column
//! uses the context's time zone. Times are converted to UTC.
//!
//! `event_id` is a hash of the row's normalised values (org, UTC time, user, IP, type, status, …),
//! so the same login exported twice — even in another time zone or column order — has one id.

use std::io::Read;
use std::str::FromStr;

use chrono::{DateTime, LocalResult, NaiveDateTime, TimeZone, Utc};
use chrono_tz::Tz;

use super::csv_rows::{Row, Rows};
use super::{hash_id, text, Draft, Key, ParseContext, ParseError, Rec, RecordError, RecordLabel};
use crate::event::{LoginEvent, Source};

const SOURCE: Source = Source::LoginHistoryCsv;

/// Lower case, `_` as space, runs of spaces collapsed: `Login  Sub_Type` → `login sub type`.
fn header_key(h: &str) -> String {
    let lower = h.trim().to_lowercase().replace('_', " ");
    lower.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Windows-style and long time-zone names (as Salesforce prints them) → IANA zones.
const ZONE_NAMES: &[(&str, Tz)] = &[
    ("coordinated universal time", chrono_tz::UTC),
    ("universal time", chrono_tz::UTC),
    ("greenwich mean time", chrono_tz::UTC),
    ("utc", chrono_tz::UTC),
    ("gmt", chrono_tz::UTC),
    ("z", chrono_tz::UTC),
    ("eastern standard time", chrono_tz::America::New_York),
    ("eastern daylight time", chrono_tz::America::New_York),
    ("eastern time", chrono_tz::America::New_York),
    ("est", chrono_tz::America::New_York),
    ("edt", chrono_tz::America::New_York),
    ("central standard time", chrono_tz::America::Chicago),
    ("central daylight time", chrono_tz::America::Chicago),
    ("central time", chrono_tz::America::Chicago),
    ("cst", chrono_tz::America::Chicago),
    ("cdt", chrono_tz::America::Chicago),
    ("mountain standard time", chrono_tz::America::Denver),
    ("mountain daylight time", chrono_tz::America::Denver),
    ("mountain time", chrono_tz::America::Denver),
    ("mst", chrono_tz::America::Denver),
    ("mdt", chrono_tz::America::Denver),
    ("pacific standard time", chrono_tz::America::Los_Angeles),
    ("pacific daylight time", chrono_tz::America::Los_Angeles),
    ("pacific time", chrono_tz::America::Los_Angeles),
    ("pst", chrono_tz::America::Los_Angeles),
    ("pdt", chrono_tz::America::Los_Angeles),
    ("alaska standard time", chrono_tz::America::Anchorage),
    ("alaska daylight time", chrono_tz::America::Anchorage),
    (
        "hawaii-aleutian standard time",
        chrono_tz::Pacific::Honolulu,
    ),
    ("hawaii standard time", chrono_tz::Pacific::Honolulu),
    ("atlantic standard time", chrono_tz::America::Halifax),
    ("atlantic daylight time", chrono_tz::America::Halifax),
    ("newfoundland standard time", chrono_tz::America::St_Johns),
    ("newfoundland daylight time", chrono_tz::America::St_Johns),
    ("british summer time", chrono_tz::Europe::London),
    ("gmt standard time", chrono_tz::Europe::London),
    ("irish standard time", chrono_tz::Europe::Dublin),
    ("western european time", chrono_tz::Europe::Lisbon),
    ("western european summer time", chrono_tz::Europe::Lisbon),
    ("central european time", chrono_tz::Europe::Paris),
    ("central european standard time", chrono_tz::Europe::Paris),
    ("central european summer time", chrono_tz::Europe::Paris),
    ("romance standard time", chrono_tz::Europe::Paris),
    ("w. europe standard time", chrono_tz::Europe::Berlin),
    ("cet", chrono_tz::Europe::Paris),
    ("cest", chrono_tz::Europe::Paris),
    ("eastern european time", chrono_tz::Europe::Athens),
    ("eastern european standard time", chrono_tz::Europe::Athens),
    ("eastern european summer time", chrono_tz::Europe::Athens),
    ("eet", chrono_tz::Europe::Athens),
    ("eest", chrono_tz::Europe::Athens),
    ("moscow standard time", chrono_tz::Europe::Moscow),
    ("israel standard time", chrono_tz::Asia::Jerusalem),
    ("israel daylight time", chrono_tz::Asia::Jerusalem),
    ("gulf standard time", chrono_tz::Asia::Dubai),
    ("arabian standard time", chrono_tz::Asia::Dubai),
    ("india standard time", chrono_tz::Asia::Kolkata),
    ("china standard time", chrono_tz::Asia::Shanghai),
    ("singapore standard time", chrono_tz::Asia::Singapore),
    ("japan standard time", chrono_tz::Asia::Tokyo),
    ("tokyo standard time", chrono_tz::Asia::Tokyo),
    ("korean standard time", chrono_tz::Asia::Seoul),
    ("korea standard time", chrono_tz::Asia::Seoul),
    (
        "australian eastern standard time",
        chrono_tz::Australia::Sydney,
    ),
    (
        "australian eastern daylight time",
        chrono_tz::Australia::Sydney,
    ),
    ("aus eastern standard time", chrono_tz::Australia::Sydney),
    (
        "australian central standard time",
        chrono_tz::Australia::Adelaide,
    ),
    (
        "australian central daylight time",
        chrono_tz::Australia::Adelaide,
    ),
    (
        "australian western standard time",
        chrono_tz::Australia::Perth,
    ),
    ("new zealand standard time", chrono_tz::Pacific::Auckland),
    ("new zealand daylight time", chrono_tz::Pacific::Auckland),
    ("brasilia standard time", chrono_tz::America::Sao_Paulo),
    (
        "south africa standard time",
        chrono_tz::Africa::Johannesburg,
    ),
];

/// `GMT+02:00`, `UTC-5`, `GMT` → a fixed whole-hour zone (`Etc/GMT-2`: the Etc sign is inverted).
fn fixed_offset_zone(name: &str) -> Option<Tz> {
    let lower = name.to_ascii_lowercase();
    let rest = lower
        .strip_prefix("gmt")
        .or_else(|| lower.strip_prefix("utc"))?
        .trim();
    if rest.is_empty() {
        return Some(chrono_tz::UTC);
    }
    let (sign, digits) = match rest.as_bytes()[0] {
        b'+' => ("-", &rest[1..]),
        b'-' => ("+", &rest[1..]),
        _ => return None,
    };
    let (hours, minutes) = match digits.split_once(':') {
        Some((h, m)) => (h.parse::<u32>().ok()?, m.parse::<u32>().ok()?),
        None => (digits.parse::<u32>().ok()?, 0),
    };
    if minutes != 0 || hours > 14 {
        return None;
    }
    if hours == 0 {
        return Some(chrono_tz::UTC);
    }
    Tz::from_str(&format!("Etc/GMT{sign}{hours}")).ok()
}

/// Resolves a time-zone name as Salesforce writes it in the `Login Time (…)` header, or as a
/// user configures it: IANA (`America/New_York`, any case), Windows-style long names
/// (`Eastern Daylight Time`), common abbreviations, `GMT`/`UTC` with a whole-hour offset, and
/// Salesforce's picker form `(GMT-04:00) Eastern Daylight Time (America/New_York)`.
pub fn resolve_time_zone(name: &str) -> Option<Tz> {
    let name = name.trim().trim_matches(['(', ')']).trim();
    if name.is_empty() {
        return None;
    }
    // `(GMT-04:00) Eastern Daylight Time (America/New_York)`: the last parenthesised part first.
    if let Some(open) = name.rfind('(') {
        if let Some(tz) = resolve_time_zone(&name[open + 1..]) {
            return Some(tz);
        }
        if let Some(tz) = resolve_time_zone(&name[..open]) {
            return Some(tz);
        }
    }
    if let Some(close) = name.find(')') {
        if let Some(tz) = resolve_time_zone(&name[close + 1..]) {
            return Some(tz);
        }
    }
    if let Ok(tz) = Tz::from_str(name) {
        return Some(tz);
    }
    let lower = name.to_lowercase();
    if let Some((_, tz)) = ZONE_NAMES.iter().find(|(n, _)| *n == lower) {
        return Some(*tz);
    }
    if let Some(tz) = fixed_offset_zone(name) {
        return Some(tz);
    }
    chrono_tz::TZ_VARIANTS
        .iter()
        .copied()
        .find(|tz| tz.name().eq_ignore_ascii_case(name))
}

/// Local date-time spellings seen in exports (US locale first: Salesforce's default).
const LOCAL_FORMATS: &[&str] = &[
    "%Y-%m-%d %H:%M:%S%.f",
    "%Y-%m-%dT%H:%M:%S%.f",
    "%Y-%m-%d %H:%M",
    "%m/%d/%Y %I:%M:%S %p",
    "%m/%d/%Y %I:%M %p",
    "%m/%d/%Y %H:%M:%S",
    "%m/%d/%Y %H:%M",
    "%Y/%m/%d %H:%M:%S",
    "%d.%m.%Y %H:%M:%S",
    "%d.%m.%Y %H:%M",
];

/// A `Login Time` value: local time in `tz` (or a timestamp with its own offset) → UTC.
fn local_time(value: &str, tz: Tz) -> Result<DateTime<Utc>, String> {
    let naive = LOCAL_FORMATS
        .iter()
        .find_map(|f| NaiveDateTime::parse_from_str(value, f).ok());
    let Some(naive) = naive else {
        // Values that carry their own zone (ISO with Z/offset, epoch ms).
        return crate::normalize::parse_timestamp(value).map_err(|_| {
            format!(
                "is not a date-time (expected e.g. 11/2/2026 9:03:11 AM, 2026-11-02 09:03:11 \
                 or an ISO time; read in time zone {})",
                tz.name()
            )
        });
    };
    let local = match tz.from_local_datetime(&naive) {
        LocalResult::Single(t) => t,
        // The repeated hour when clocks go back: the earlier instant (the first occurrence).
        LocalResult::Ambiguous(earlier, _) => earlier,
        LocalResult::None => {
            return Err(format!(
                "does not exist in time zone {} (clocks skipped it); check the export's time zone",
                tz.name()
            ))
        }
    };
    Ok(crate::time::truncate_to_millis(local.with_timezone(&Utc)))
}

#[derive(Debug, Clone, Default)]
struct Columns {
    login_time: Option<usize>,
    username: Option<usize>,
    user_id: Option<usize>,
    source_ip: Option<usize>,
    login_type: Option<usize>,
    login_sub_type: Option<usize>,
    status: Option<usize>,
    browser: Option<usize>,
    platform: Option<usize>,
    application: Option<usize>,
    client_version: Option<usize>,
    api_type: Option<usize>,
    api_version: Option<usize>,
    login_url: Option<usize>,
    tls_protocol: Option<usize>,
    cipher_suite: Option<usize>,
    country_code: Option<usize>,
    country: Option<usize>,
    city: Option<usize>,
    latitude: Option<usize>,
    longitude: Option<usize>,
    login_history_id: Option<usize>,
}

/// Streaming reader of a Setup Login History CSV export; yields one result per data row.
pub struct SetupCsvReader<R: Read> {
    rows: Rows<R>,
    columns: Columns,
    time_zone: Tz,
    ctx: ParseContext,
}

impl<R: Read> SetupCsvReader<R> {
    /// The zone `Login Time` values are read in (from the header, else the context).
    pub fn time_zone(&self) -> Tz {
        self.time_zone
    }
}

/// Opens a Login History CSV export. Fails when the header has no `Login Time` column or names
/// a time zone that cannot be resolved (the error says how to fix it).
pub fn reader<R: Read>(input: R, ctx: &ParseContext) -> Result<SetupCsvReader<R>, ParseError> {
    let rows = Rows::open(input, SOURCE)?;
    let header_rec = Rec {
        source: SOURCE,
        label: RecordLabel::Header,
    };

    let mut login_time = None;
    let mut time_zone = ctx.time_zone;
    for (i, h) in rows.header.iter().enumerate() {
        let key = header_key(h);
        let Some(rest) = key.strip_prefix("login time") else {
            continue;
        };
        let rest = rest.trim();
        if rest.is_empty() {
            login_time = Some(i);
            break;
        }
        if rest.starts_with('(') && rest.ends_with(')') {
            let original = h.trim();
            let zone_name = original.find('(').map_or(rest, |open| {
                original[open + 1..].trim_end().trim_end_matches(')')
            });
            time_zone = resolve_time_zone(zone_name).ok_or_else(|| {
                header_rec.err(
                    h,
                    zone_name,
                    "names a time zone loginwatch does not know; rename the column to \
                     `Login Time (<IANA zone, e.g. America/New_York>)` or to `Login Time` and \
                     pass the zone explicitly",
                )
            })?;
            login_time = Some(i);
            break;
        }
    }
    let Some(login_time) = login_time else {
        return Err(header_rec.err(
            "Login Time",
            &rows.header.join(","),
            "is not in the header: this is not a Login History CSV export",
        ));
    };
    let col = |names: &[&str]| rows.column(header_key, names);
    let columns = Columns {
        login_time: Some(login_time),
        username: col(&["username", "user name", "user"]),
        user_id: col(&["user id", "userid"]),
        source_ip: col(&["source ip", "source ip address", "sourceip", "ip address"]),
        login_type: col(&["login type", "logintype"]),
        login_sub_type: col(&[
            "login subtype",
            "login sub type",
            "login sub-type",
            "loginsubtype",
        ]),
        status: col(&["status"]),
        browser: col(&["browser"]),
        platform: col(&["platform"]),
        application: col(&["application"]),
        client_version: col(&["client version", "clientversion"]),
        api_type: col(&["api type", "apitype"]),
        api_version: col(&["api version", "apiversion"]),
        login_url: col(&["login url", "loginurl"]),
        tls_protocol: col(&["tls protocol", "tlsprotocol"]),
        cipher_suite: col(&["cipher suite", "ciphersuite"]),
        country_code: col(&["country code", "countrycode", "country iso", "countryiso"]),
        country: col(&["country"]),
        city: col(&["city"]),
        latitude: col(&["latitude"]),
        longitude: col(&["longitude"]),
        login_history_id: col(&["login history id", "loginhistoryid"]),
    };
    Ok(SetupCsvReader {
        rows,
        columns,
        time_zone,
        ctx: ctx.clone(),
    })
}

/// A `Country` value is used as `country_iso` only when it is a 2–3 letter code, not a name.
fn iso_like(value: &str) -> bool {
    (2..=3).contains(&value.len()) && value.bytes().all(|b| b.is_ascii_alphabetic())
}

fn convert(
    row: &Row<'_>,
    c: &Columns,
    tz: Tz,
    ctx: &ParseContext,
) -> Result<LoginEvent, ParseError> {
    let rec = row.rec;
    let time_field = row.name(c.login_time, "Login Time");
    let time_value = row
        .get(c.login_time)?
        .ok_or_else(|| rec.missing(time_field))?;
    let event_time =
        local_time(time_value, tz).map_err(|problem| rec.err(time_field, time_value, problem))?;
    let country = match row.get(c.country_code)? {
        Some(code) => Some(code),
        None => row.get(c.country)?.filter(|v| iso_like(v)),
    };
    let draft = Draft {
        user_id: rec.id(row.name(c.user_id, "User ID"), row.get(c.user_id)?)?,
        username: text(row.get(c.username)?),
        login_type: text(row.get(c.login_type)?),
        login_sub_type: text(row.get(c.login_sub_type)?),
        status: text(row.get(c.status)?),
        application: text(row.get(c.application)?),
        source_ip: text(row.get(c.source_ip)?),
        country_iso: text(country),
        city: text(row.get(c.city)?),
        latitude: rec.float(row.name(c.latitude, "Latitude"), row.get(c.latitude)?)?,
        longitude: rec.float(row.name(c.longitude, "Longitude"), row.get(c.longitude)?)?,
        api_type: text(row.get(c.api_type)?),
        api_version: text(row.get(c.api_version)?),
        client_version: text(row.get(c.client_version)?),
        browser: text(row.get(c.browser)?),
        platform: text(row.get(c.platform)?),
        login_url: text(row.get(c.login_url)?),
        tls_protocol: text(row.get(c.tls_protocol)?),
        cipher_suite: text(row.get(c.cipher_suite)?),
        login_history_id: rec.id(
            row.name(c.login_history_id, "Id"),
            row.get(c.login_history_id)?,
        )?,
        ..Draft::default()
    };
    let key = Key {
        event_id: String::new(),
        org_id: ctx.org_id.clone(),
        source: SOURCE,
        event_time,
    };
    let mut event = draft.finish(key, ctx);
    let millis = event.event_time.timestamp_millis().to_string();
    fn o(v: &Option<String>) -> &str {
        v.as_deref().unwrap_or("")
    }
    event.event_id = hash_id(&[
        "setup_csv",
        &event.org_id,
        &millis,
        o(&event.username),
        o(&event.user_id),
        o(&event.source_ip),
        o(&event.login_type),
        o(&event.login_sub_type),
        o(&event.status),
        o(&event.application),
        o(&event.browser),
        o(&event.platform),
        o(&event.login_url),
        o(&event.api_type),
        o(&event.api_version),
        o(&event.client_version),
        o(&event.tls_protocol),
        o(&event.cipher_suite),
        o(&event.login_history_id),
    ]);
    Ok(event)
}

impl<R: Read> Iterator for SetupCsvReader<R> {
    type Item = Result<LoginEvent, RecordError>;

    fn next(&mut self) -> Option<Self::Item> {
        let (columns, tz, ctx) = (&self.columns, self.time_zone, &self.ctx);
        self.rows.next_with(|row| convert(row, columns, tz, ctx))
    }
}
