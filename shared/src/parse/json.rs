//! JSON plumbing shared by the REST and CometD parsers: a borrowed scalar that never fails to
//! deserialize (so a wrong type becomes a precise field error instead of a lost record) and the
//! query-page walker that isolates bad records.

use std::borrow::Cow;
use std::fmt;

use chrono::{DateTime, Utc};
use serde::de::{self, Deserialize, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::value::RawValue;

use super::{PageError, ParseError, QueryPage, Rec, RecordError, RecordLabel};
use crate::event::{LoginEvent, Source};
use crate::normalize;

/// Any JSON value, strings borrowed from the input where possible; objects and arrays are skipped
/// and only their kind is remembered.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) enum Scalar<'a> {
    #[default]
    Null,
    Str(Cow<'a, str>),
    Int(i64),
    Float(f64),
    Bool(bool),
    Object,
    Array,
}

impl<'de: 'a, 'a> Deserialize<'de> for Scalar<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<'a>(std::marker::PhantomData<&'a ()>);
        impl<'de: 'a, 'a> Visitor<'de> for V<'a> {
            type Value = Scalar<'a>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("any JSON value")
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Scalar<'a>, E> {
                Ok(Scalar::Str(Cow::Borrowed(v)))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Scalar<'a>, E> {
                Ok(Scalar::Str(Cow::Owned(v.to_string())))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<Scalar<'a>, E> {
                Ok(Scalar::Str(Cow::Owned(v)))
            }
            fn visit_bool<E: de::Error>(self, v: bool) -> Result<Scalar<'a>, E> {
                Ok(Scalar::Bool(v))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Scalar<'a>, E> {
                Ok(Scalar::Int(v))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Scalar<'a>, E> {
                Ok(i64::try_from(v).map_or(Scalar::Float(v as f64), Scalar::Int))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Scalar<'a>, E> {
                Ok(Scalar::Float(v))
            }
            fn visit_unit<E: de::Error>(self) -> Result<Scalar<'a>, E> {
                Ok(Scalar::Null)
            }
            fn visit_none<E: de::Error>(self) -> Result<Scalar<'a>, E> {
                Ok(Scalar::Null)
            }
            fn visit_some<D2: Deserializer<'de>>(self, d: D2) -> Result<Scalar<'a>, D2::Error> {
                Scalar::deserialize(d)
            }
            fn visit_map<M: MapAccess<'de>>(self, mut m: M) -> Result<Scalar<'a>, M::Error> {
                while m.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
                Ok(Scalar::Object)
            }
            fn visit_seq<S: SeqAccess<'de>>(self, mut s: S) -> Result<Scalar<'a>, S::Error> {
                while s.next_element::<IgnoredAny>()?.is_some() {}
                Ok(Scalar::Array)
            }
        }
        d.deserialize_any(V(std::marker::PhantomData))
    }
}

impl Scalar<'_> {
    fn kind(&self) -> &'static str {
        match self {
            Scalar::Null => "null",
            Scalar::Str(_) => "a string",
            Scalar::Int(_) | Scalar::Float(_) => "a number",
            Scalar::Bool(_) => "a boolean",
            Scalar::Object => "an object",
            Scalar::Array => "an array",
        }
    }

    fn shown(&self) -> String {
        match self {
            Scalar::Str(s) => s.to_string(),
            Scalar::Int(i) => i.to_string(),
            Scalar::Float(x) => x.to_string(),
            Scalar::Bool(b) => b.to_string(),
            Scalar::Null => String::new(),
            Scalar::Object => "{…}".into(),
            Scalar::Array => "[…]".into(),
        }
    }

    fn wrong_type(&self, rec: &Rec<'_>, field: &str, expected: &str) -> ParseError {
        rec.err(
            field,
            &self.shown(),
            format!(
                "has the wrong type: expected {expected}, found {}",
                self.kind()
            ),
        )
    }

    /// The string, if this is one (for record labels).
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Scalar::Str(s) => Some(s),
            _ => None,
        }
    }

    /// Text: strings (trimmed, empty → `None`) and numbers (as written); null → `None`.
    pub fn text(&self, rec: &Rec<'_>, field: &str) -> Result<Option<Cow<'_, str>>, ParseError> {
        match self {
            Scalar::Null => Ok(None),
            Scalar::Str(s) => Ok(normalize::non_empty(s).map(Cow::Borrowed)),
            Scalar::Int(i) => Ok(Some(Cow::Owned(i.to_string()))),
            Scalar::Float(x) => Ok(Some(Cow::Owned(x.to_string()))),
            _ => Err(self.wrong_type(rec, field, "text")),
        }
    }

    /// A required timestamp: any string spelling of [`normalize::parse_timestamp`] or epoch ms.
    pub fn time(&self, rec: &Rec<'_>, field: &str) -> Result<DateTime<Utc>, ParseError> {
        match self {
            Scalar::Null => Err(rec.missing(field)),
            Scalar::Str(s) => rec.time(field, Some(s)),
            Scalar::Int(ms) => {
                normalize::from_epoch_millis(*ms).map_err(|e| rec.err(field, &self.shown(), e.0))
            }
            Scalar::Float(x) if x.fract() == 0.0 && x.abs() < 9.0e15 => {
                normalize::from_epoch_millis(*x as i64)
                    .map_err(|e| rec.err(field, &self.shown(), e.0))
            }
            _ => Err(self.wrong_type(rec, field, "a timestamp")),
        }
    }

    /// An optional finite number (numbers, or strings holding one).
    pub fn float(&self, rec: &Rec<'_>, field: &str) -> Result<Option<f64>, ParseError> {
        match self {
            Scalar::Null => Ok(None),
            Scalar::Int(i) => Ok(Some(*i as f64)),
            Scalar::Float(x) => Ok(Some(*x)),
            Scalar::Str(s) => rec.float(field, Some(s)),
            _ => Err(self.wrong_type(rec, field, "a number")),
        }
    }

    /// An optional Salesforce id (15 or 18 characters) as 18 characters.
    pub fn id(&self, rec: &Rec<'_>, field: &str) -> Result<Option<String>, ParseError> {
        match self {
            Scalar::Null => Ok(None),
            Scalar::Str(s) => rec.id(field, Some(s)),
            _ => Err(self.wrong_type(rec, field, "an id string")),
        }
    }
}

/// The envelope of a REST query response; records stay raw so each is parsed (and fails) alone.
#[derive(serde::Deserialize)]
struct RawPage<'a> {
    #[serde(rename = "totalSize")]
    total_size: u64,
    done: bool,
    #[serde(rename = "nextRecordsUrl", default, borrow)]
    next_records_url: Option<Cow<'a, str>>,
    #[serde(borrow)]
    records: Vec<&'a RawValue>,
}

/// Walks a query page: `parse_one(raw_json, position)` turns each record into an event.
pub(crate) fn parse_page<'a>(
    body: &'a [u8],
    source: Source,
    mut parse_one: impl FnMut(&'a str, usize) -> Result<LoginEvent, ParseError>,
) -> Result<QueryPage, PageError> {
    let page: RawPage<'a> = serde_json::from_slice(body).map_err(|e| PageError {
        source,
        problem: format!("{e} (expected a query response with totalSize, done and records)"),
    })?;
    let mut events = Vec::with_capacity(page.records.len());
    let mut errors = Vec::new();
    for (i, raw) in page.records.into_iter().enumerate() {
        match parse_one(raw.get(), i + 1) {
            Ok(event) => events.push(event),
            Err(error) => errors.push(RecordError {
                error,
                raw: raw.get().to_string(),
            }),
        }
    }
    Ok(QueryPage {
        total_size: page.total_size,
        done: page.done,
        next_records_url: page
            .next_records_url
            .and_then(|u| normalize::non_empty(&u).map(str::to_string)),
        events,
        errors,
    })
}

/// The error for a record whose JSON shape is wrong as a whole (not an object, duplicate keys, …).
pub(crate) fn shape_error(source: Source, position: usize, e: &serde_json::Error) -> ParseError {
    Rec {
        source,
        label: RecordLabel::Position(position),
    }
    .err("(record)", "", format!("is not a {source} record: {e}"))
}
