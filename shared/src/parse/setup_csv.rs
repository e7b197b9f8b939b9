//! Login History CSV export from Setup (reference §1.5). The exact header is not documented, so
//! the reader is header-driven: names are matched case-insensitively, extra columns are ignored,
//! and the time column's zone comes from its name, `Login Time (Eastern Daylight Time)` (Windows-
//! style names, IANA names and `GMT`/`UTC` offsets are understood); a plain `Login Time` column
//! uses the context's time zone ([`SetupCsvReader::time_zone_in_header`] tells which). Times are
//! converted to UTC.
//!
//! Dates written with slashes and the year last (`03/04/2026`) are day-first in most locales and
//! month-first in the US one, and the file does not say which. The order is the context's
//! ([`ParseContext::with_date_order`], `loginwatch scan --date-order dmy|mdy`) or is inferred per
//! file from the values: a first number above 12 (`13/04/2026`) decides day-first, a second number
//! above 12 (`04/13/2026`) decides month-first. Rows are held back (up to
//! [`MAX_LOOKAHEAD_BYTES`]) until a value decides; a file whose slash dates are all ambiguous
//! (both numbers ≤ 12 everywhere) is refused, and so is a file with evidence for both orders: the
//! reader then yields one last error and [`SetupCsvReader::stopped`] returns it. ISO dates
//! (`2026-04-03 …`), `yyyy/mm/dd` and `dd.mm.yyyy` are read the same way whatever the order.
//!
//! `event_id` is a hash of the row's normalised values (org, UTC time, user, IP, type, status, …),
//! so the same login exported twice — even in another time zone or column order — has one id.

use std::collections::VecDeque;
use std::fmt;
use std::io::Read;
use std::str::FromStr;

use chrono::{DateTime, LocalResult, NaiveDateTime, TimeZone, Utc};
use chrono_tz::Tz;

use super::csv_rows::{RecordBuf, Row, Rows};
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

/// Order of day and month in dates written `03/04/2026`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DateOrder {
    /// `dd/mm/yyyy` (most locales outside the US).
    Dmy,
    /// `mm/dd/yyyy` (the US locale, Salesforce's default).
    Mdy,
}

impl DateOrder {
    /// `dmy` / `mdy`, as `--date-order` spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            DateOrder::Dmy => "dmy",
            DateOrder::Mdy => "mdy",
        }
    }

    /// `dd/mm/yyyy` / `mm/dd/yyyy`.
    pub fn pattern(self) -> &'static str {
        match self {
            DateOrder::Dmy => "dd/mm/yyyy",
            DateOrder::Mdy => "mm/dd/yyyy",
        }
    }

    fn first(self) -> &'static str {
        match self {
            DateOrder::Dmy => "day-first",
            DateOrder::Mdy => "month-first",
        }
    }

    fn formats(self) -> &'static [&'static str] {
        match self {
            DateOrder::Dmy => DMY_FORMATS,
            DateOrder::Mdy => MDY_FORMATS,
        }
    }
}

impl fmt::Display for DateOrder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How a file's slash dates are read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DateOrderSource {
    /// The context's order (`--date-order`).
    Given(DateOrder),
    /// Inferred from the first value that decides it.
    Inferred {
        order: DateOrder,
        line: u64,
        value: String,
    },
}

impl DateOrderSource {
    pub fn order(&self) -> DateOrder {
        match self {
            DateOrderSource::Given(o) | DateOrderSource::Inferred { order: o, .. } => *o,
        }
    }
}

/// Rows held back while the date order is undecided, at most (bytes of the rows as stored).
/// Past it the file is refused with the same advice as an ambiguous one.
pub const MAX_LOOKAHEAD_BYTES: usize = 64 * 1024 * 1024;

/// Local date-time spellings whose reading does not depend on the day/month order.
const FIXED_FORMATS: &[&str] = &[
    "%Y-%m-%d %H:%M:%S%.f",
    "%Y-%m-%dT%H:%M:%S%.f",
    "%Y-%m-%d %H:%M",
    "%Y/%m/%d %H:%M:%S",
    "%Y/%m/%d %H:%M",
    "%d.%m.%Y %H:%M:%S",
    "%d.%m.%Y %H:%M",
];

/// Slash dates, month first (Salesforce's default US locale: `11/2/2026 9:03:11 AM`).
const MDY_FORMATS: &[&str] = &[
    "%m/%d/%Y %I:%M:%S %p",
    "%m/%d/%Y %I:%M %p",
    "%m/%d/%Y %H:%M:%S",
    "%m/%d/%Y %H:%M",
];

/// Slash dates, day first (`02/11/2026 09:03:11`, `2/11/2026 9:03:11 am`).
const DMY_FORMATS: &[&str] = &[
    "%d/%m/%Y %I:%M:%S %p",
    "%d/%m/%Y %I:%M %p",
    "%d/%m/%Y %H:%M:%S",
    "%d/%m/%Y %H:%M",
];

/// `a/b/yyyy…` → `(a, b)` for a value starting with a slash date whose year comes last.
fn slash_date(value: &str) -> Option<(u32, u32)> {
    let date = value.trim().split([' ', 'T']).next()?;
    let mut parts = date.split('/');
    let (a, b, year) = (parts.next()?, parts.next()?, parts.next()?);
    let digits = |s: &str, n: std::ops::RangeInclusive<usize>| {
        n.contains(&s.len()) && s.bytes().all(|c| c.is_ascii_digit())
    };
    if parts.next().is_some() || !digits(a, 1..=2) || !digits(b, 1..=2) || !digits(year, 4..=4) {
        return None;
    }
    Some((a.parse().ok()?, b.parse().ok()?))
}

/// What one `Login Time` value says about the file's date order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Evidence {
    /// Not a slash date: read the same way in either order.
    Irrelevant,
    /// Both numbers ≤ 12: a valid date either way.
    Ambiguous,
    Decides(DateOrder),
    /// Not a date in either order (`13/13/2026`): an error for its row, no evidence.
    Invalid,
}

fn evidence(value: &str) -> Evidence {
    let Some((a, b)) = slash_date(value) else {
        return Evidence::Irrelevant;
    };
    let (day, month) = (1..=31, 1..=12);
    match (month.contains(&a), month.contains(&b)) {
        (true, true) => Evidence::Ambiguous,
        (false, true) if day.contains(&a) => Evidence::Decides(DateOrder::Dmy),
        (true, false) if day.contains(&b) => Evidence::Decides(DateOrder::Mdy),
        _ => Evidence::Invalid,
    }
}

/// A `Login Time` value: local time in `tz` (or a timestamp with its own offset) → UTC. Slash
/// dates are read in `order`; without one only an unambiguous slash date can be read.
fn local_time(value: &str, tz: Tz, order: Option<DateOrder>) -> Result<DateTime<Utc>, String> {
    let slash = slash_date(value).is_some();
    let formats = match (slash, order) {
        (false, _) => FIXED_FORMATS,
        (true, Some(order)) => order.formats(),
        (true, None) => match evidence(value) {
            Evidence::Decides(order) => order.formats(),
            _ => return Err(
                "is not a date in either day/month (dd/mm/yyyy) or month/day (mm/dd/yyyy) order"
                    .into(),
            ),
        },
    };
    let naive = formats
        .iter()
        .find_map(|f| NaiveDateTime::parse_from_str(value, f).ok());
    let Some(naive) = naive else {
        if let (true, Some(order)) = (slash, order) {
            return Err(format!(
                "is not a {} date-time ({} dates in this file; expected e.g. {}, with a 12-hour \
                 AM/PM or a 24-hour time)",
                order.pattern(),
                order.first(),
                match order {
                    DateOrder::Dmy => "23/07/2026 12:18:23 PM or 23/07/2026 12:18",
                    DateOrder::Mdy => "07/23/2026 12:18:23 PM or 07/23/2026 12:18",
                }
            ));
        }
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
    zone_in_header: bool,
    ctx: ParseContext,
    order: Option<DateOrderSource>,
    /// Rows read while the order is undecided, in file order (failed rows included).
    pending: VecDeque<Pending>,
    pending_bytes: usize,
    /// Rows with an ambiguous date held back, and the first of them (line, value).
    ambiguous_rows: u64,
    first_ambiguous: Option<(u64, String)>,
    stopped: Option<ParseError>,
    done: bool,
}

enum Pending {
    Row(RecordBuf),
    Failed(RecordError),
}

impl<R: Read> SetupCsvReader<R> {
    /// The zone `Login Time` values are read in (from the header, else the context).
    pub fn time_zone(&self) -> Tz {
        self.time_zone
    }

    /// Whether the `Login Time (<zone>)` header named the zone (else the context's was assumed).
    pub fn time_zone_in_header(&self) -> bool {
        self.zone_in_header
    }

    /// How slash dates are read: given by the context, inferred so far, or `None` while no
    /// value has decided (none seen yet, or the file has none).
    pub fn date_order(&self) -> Option<&DateOrderSource> {
        self.order.as_ref()
    }

    /// The problem that stopped the reader before the end of the file (ambiguous or conflicting
    /// dates); it was also the last item yielded. Rows yielded before it were read correctly.
    pub fn stopped(&self) -> Option<&ParseError> {
        self.stopped.as_ref()
    }

    fn stop(&mut self, error: ParseError) -> RecordError {
        self.done = true;
        self.pending.clear();
        self.pending_bytes = 0;
        self.stopped = Some(error.clone());
        RecordError {
            error,
            raw: String::new(),
        }
    }

    fn time_field(&self) -> String {
        self.columns
            .login_time
            .and_then(|i| self.rows.header.get(i))
            .cloned()
            .unwrap_or_else(|| "Login Time".into())
    }

    /// The refusal of a file whose slash dates all read both ways.
    fn ambiguous(&self, complete: bool) -> ParseError {
        let (line, value) = self.first_ambiguous.clone().unwrap_or_default();
        let (a, b) = slash_date(&value).unwrap_or((1, 2));
        let scope = if complete {
            format!("like all {} dates of the file", self.ambiguous_rows)
        } else {
            format!(
                "like the first {} dates of the file ({} MiB read ahead without a day or month \
                 above 12)",
                self.ambiguous_rows,
                MAX_LOOKAHEAD_BYTES / (1024 * 1024)
            )
        };
        ParseError {
            source: SOURCE,
            record: format!("line {line}"),
            field: self.time_field(),
            value,
            problem: format!(
                "is ambiguous, {scope}: neither number is above 12, so it could be day {a} of \
                 month {b} or month {a}, day {b}, and the file does not say which; pass \
                 `loginwatch scan --date-order dmy` (dd/mm/yyyy) or `--date-order mdy` \
                 (mm/dd/yyyy)"
            ),
        }
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
    let mut zone_in_header = false;
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
            zone_in_header = true;
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
        zone_in_header,
        ctx: ctx.clone(),
        order: ctx.date_order.map(DateOrderSource::Given),
        pending: VecDeque::new(),
        pending_bytes: 0,
        ambiguous_rows: 0,
        first_ambiguous: None,
        stopped: None,
        done: false,
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
    order: Option<DateOrder>,
    ctx: &ParseContext,
) -> Result<LoginEvent, ParseError> {
    let rec = row.rec;
    let time_field = row.name(c.login_time, "Login Time");
    let time_value = row
        .get(c.login_time)?
        .ok_or_else(|| rec.missing(time_field))?;
    let event_time = local_time(time_value, tz, order)
        .map_err(|problem| rec.err(time_field, time_value, problem))?;
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

/// [`convert`] with the raw row for the error (the iterator's item type; see `stream::parse_message`
/// on the size of its error).
#[allow(clippy::result_large_err)]
fn converted(
    row: &Row<'_>,
    c: &Columns,
    tz: Tz,
    order: Option<DateOrder>,
    ctx: &ParseContext,
) -> Result<LoginEvent, RecordError> {
    convert(row, c, tz, order, ctx).map_err(|error| RecordError {
        error,
        raw: row.raw(),
    })
}

impl<R: Read> Iterator for SetupCsvReader<R> {
    type Item = Result<LoginEvent, RecordError>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            // Rows held back are released, in file order, once the order is known.
            if let Some(order) = self.order.as_ref().map(DateOrderSource::order) {
                if let Some(p) = self.pending.pop_front() {
                    return Some(match p {
                        Pending::Failed(e) => Err(e),
                        Pending::Row(r) => {
                            self.pending_bytes -= r.owned_size();
                            let row = Row::new(&r, &self.rows.header, SOURCE);
                            converted(&row, &self.columns, self.time_zone, Some(order), &self.ctx)
                        }
                    });
                }
            }
            if self.done {
                return None;
            }
            let Some(next) = self.rows.next_row() else {
                self.done = true;
                if self.pending.is_empty() {
                    return None;
                }
                // Still undecided at the end: every slash date reads both ways.
                let e = self.ambiguous(true);
                return Some(Err(self.stop(e)));
            };
            let row = match next {
                Ok(row) => row,
                Err(e) => {
                    if self.rows.io_failed() {
                        // The input broke off: rows held back can no longer be dated reliably.
                        self.done = true;
                        self.pending.clear();
                        self.pending_bytes = 0;
                        return Some(Err(e));
                    }
                    if self.pending.is_empty() {
                        return Some(Err(e));
                    }
                    self.pending.push_back(Pending::Failed(e));
                    continue;
                }
            };
            let value = row.get(self.columns.login_time).ok().flatten();
            let found = value.map_or(Evidence::Irrelevant, evidence);
            let (c, tz, ctx) = (&self.columns, self.time_zone, &self.ctx);
            match (&self.order, found) {
                (
                    Some(DateOrderSource::Inferred {
                        order,
                        line,
                        value: first,
                    }),
                    Evidence::Decides(other),
                ) if other != *order => {
                    let e = row.rec.err(
                        row.name(c.login_time, "Login Time"),
                        value.unwrap_or(""),
                        format!(
                            "is a {} date, but line {line} ({first}) is {}: the file mixes both \
                             orders, so neither can be trusted; pass `loginwatch scan --date-order \
                             dmy` (dd/mm/yyyy) or `--date-order mdy` (mm/dd/yyyy) to read every \
                             date one way",
                            other.first(),
                            order.first(),
                        ),
                    );
                    return Some(Err(self.stop(e)));
                }
                (Some(source), _) => {
                    return Some(converted(&row, c, tz, Some(source.order()), ctx));
                }
                (None, Evidence::Decides(order)) => {
                    let source = DateOrderSource::Inferred {
                        order,
                        line: row.record.line,
                        value: value.unwrap_or("").to_string(),
                    };
                    if self.pending.is_empty() {
                        let result = converted(&row, c, tz, Some(order), ctx);
                        self.order = Some(source);
                        return Some(result);
                    }
                    let held = row.record.to_owned_row();
                    self.order = Some(source);
                    self.pending_bytes += held.owned_size();
                    self.pending.push_back(Pending::Row(held));
                }
                (None, Evidence::Ambiguous) => {
                    let held = row.record.to_owned_row();
                    if self.first_ambiguous.is_none() {
                        self.first_ambiguous = Some((held.line, value.unwrap_or("").to_string()));
                    }
                    self.ambiguous_rows += 1;
                    self.pending_bytes += held.owned_size();
                    self.pending.push_back(Pending::Row(held));
                    if self.pending_bytes > MAX_LOOKAHEAD_BYTES {
                        let e = self.ambiguous(false);
                        return Some(Err(self.stop(e)));
                    }
                }
                (None, _) if self.pending.is_empty() => {
                    return Some(converted(&row, c, tz, None, ctx));
                }
                (None, _) => {
                    let held = row.record.to_owned_row();
                    self.pending_bytes += held.owned_size();
                    self.pending.push_back(Pending::Row(held));
                }
            }
        }
    }
}
