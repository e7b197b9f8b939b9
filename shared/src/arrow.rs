//! The one Arrow schema of [`LoginEvent`] and fast conversions between event slices and `RecordBatch`es.
//!
//! Column names equal the JSON field names; timestamps are `Timestamp(Millisecond, "UTC")`,
//! enums are their snake_case text, so SQL rules read `auth_method = 'oauth_username_password'`.

use std::sync::{Arc, LazyLock};

use arrow::array::{
    Array, ArrayRef, AsArray, Float64Array, Float64Builder, RecordBatch, StringArray,
    StringBuilder, TimestampMillisecondArray, TimestampMillisecondBuilder,
};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit, TimestampMillisecondType};

use crate::event::{AuthMethod, LoginEvent, Outcome, Source};

fn ts() -> DataType {
    DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into()))
}

static SCHEMA: LazyLock<SchemaRef> = LazyLock::new(|| {
    use DataType::{Float64, Utf8};
    Arc::new(Schema::new(vec![
        Field::new("event_id", Utf8, false),
        Field::new("org_id", Utf8, false),
        Field::new("source", Utf8, false),
        Field::new("event_time", ts(), false),
        Field::new("ingested_at", ts(), false),
        Field::new("user_id", Utf8, true),
        Field::new("username", Utf8, true),
        Field::new("login_type", Utf8, true),
        Field::new("login_sub_type", Utf8, true),
        Field::new("auth_method", Utf8, false),
        Field::new("status", Utf8, true),
        Field::new("outcome", Utf8, false),
        Field::new("failure_reason", Utf8, true),
        Field::new("application", Utf8, true),
        Field::new("source_ip", Utf8, true),
        Field::new("country_iso", Utf8, true),
        Field::new("city", Utf8, true),
        Field::new("latitude", Float64, true),
        Field::new("longitude", Float64, true),
        Field::new("api_type", Utf8, true),
        Field::new("api_version", Utf8, true),
        Field::new("client_version", Utf8, true),
        Field::new("browser", Utf8, true),
        Field::new("platform", Utf8, true),
        Field::new("login_url", Utf8, true),
        Field::new("tls_protocol", Utf8, true),
        Field::new("cipher_suite", Utf8, true),
        Field::new("login_history_id", Utf8, true),
        Field::new("login_key", Utf8, true),
        Field::new("user_type", Utf8, true),
        Field::new("session_level", Utf8, true),
    ]))
});

/// The Arrow schema of the `logins` table.
pub fn login_schema() -> SchemaRef {
    SCHEMA.clone()
}

#[derive(Debug, thiserror::Error)]
pub enum ArrowConversionError {
    #[error("arrow: {0}")]
    Arrow(#[from] arrow::error::ArrowError),
    #[error("record batch does not match the login schema: column `{column}` {problem}")]
    Schema { column: String, problem: String },
}

/// Converts a slice of events into one `RecordBatch` of [`login_schema`].
pub fn to_record_batch(events: &[LoginEvent]) -> Result<RecordBatch, ArrowConversionError> {
    let n = events.len();
    let text = |f: &dyn Fn(&LoginEvent) -> Option<&str>| -> ArrayRef {
        let bytes: usize = events.iter().map(|e| f(e).map_or(0, str::len)).sum();
        let mut b = StringBuilder::with_capacity(n, bytes);
        for e in events {
            b.append_option(f(e));
        }
        Arc::new(b.finish())
    };
    let time = |f: &dyn Fn(&LoginEvent) -> i64| -> ArrayRef {
        let mut b = TimestampMillisecondBuilder::with_capacity(n).with_timezone("UTC");
        for e in events {
            b.append_value(f(e));
        }
        Arc::new(b.finish())
    };
    let float = |f: &dyn Fn(&LoginEvent) -> Option<f64>| -> ArrayRef {
        let mut b = Float64Builder::with_capacity(n);
        for e in events {
            b.append_option(f(e));
        }
        Arc::new(b.finish())
    };
    let columns: Vec<ArrayRef> = vec![
        text(&|e| Some(&e.event_id)),
        text(&|e| Some(&e.org_id)),
        text(&|e| Some(e.source.as_str())),
        time(&|e| e.event_time.timestamp_millis()),
        time(&|e| e.ingested_at.timestamp_millis()),
        text(&|e| e.user_id.as_deref()),
        text(&|e| e.username.as_deref()),
        text(&|e| e.login_type.as_deref()),
        text(&|e| e.login_sub_type.as_deref()),
        text(&|e| Some(e.auth_method.as_str())),
        text(&|e| e.status.as_deref()),
        text(&|e| Some(e.outcome.as_str())),
        text(&|e| e.failure_reason.as_deref()),
        text(&|e| e.application.as_deref()),
        text(&|e| e.source_ip.as_deref()),
        text(&|e| e.country_iso.as_deref()),
        text(&|e| e.city.as_deref()),
        float(&|e| e.latitude),
        float(&|e| e.longitude),
        text(&|e| e.api_type.as_deref()),
        text(&|e| e.api_version.as_deref()),
        text(&|e| e.client_version.as_deref()),
        text(&|e| e.browser.as_deref()),
        text(&|e| e.platform.as_deref()),
        text(&|e| e.login_url.as_deref()),
        text(&|e| e.tls_protocol.as_deref()),
        text(&|e| e.cipher_suite.as_deref()),
        text(&|e| e.login_history_id.as_deref()),
        text(&|e| e.login_key.as_deref()),
        text(&|e| e.user_type.as_deref()),
        text(&|e| e.session_level.as_deref()),
    ];
    Ok(RecordBatch::try_new(login_schema(), columns)?)
}

struct Columns<'a> {
    batch: &'a RecordBatch,
}

impl<'a> Columns<'a> {
    fn column(&self, name: &str) -> Result<&'a ArrayRef, ArrowConversionError> {
        self.batch
            .column_by_name(name)
            .ok_or_else(|| ArrowConversionError::Schema {
                column: name.into(),
                problem: "is missing".into(),
            })
    }
    fn text(&self, name: &str) -> Result<&'a StringArray, ArrowConversionError> {
        self.column(name)?
            .as_string_opt::<i32>()
            .ok_or_else(|| ArrowConversionError::Schema {
                column: name.into(),
                problem: "is not Utf8".into(),
            })
    }
    fn time(&self, name: &str) -> Result<&'a TimestampMillisecondArray, ArrowConversionError> {
        self.column(name)?
            .as_primitive_opt::<TimestampMillisecondType>()
            .ok_or_else(|| ArrowConversionError::Schema {
                column: name.into(),
                problem: "is not Timestamp(Millisecond)".into(),
            })
    }
    fn float(&self, name: &str) -> Result<&'a Float64Array, ArrowConversionError> {
        self.column(name)?
            .as_primitive_opt::<arrow::datatypes::Float64Type>()
            .ok_or_else(|| ArrowConversionError::Schema {
                column: name.into(),
                problem: "is not Float64".into(),
            })
    }
}

fn opt(a: &StringArray, i: usize) -> Option<String> {
    a.is_valid(i).then(|| a.value(i).to_string())
}

fn required<'a>(a: &'a StringArray, i: usize, name: &str) -> Result<&'a str, ArrowConversionError> {
    if a.is_valid(i) {
        Ok(a.value(i))
    } else {
        Err(ArrowConversionError::Schema {
            column: name.into(),
            problem: format!("is null at row {i}"),
        })
    }
}

fn bad_value(name: &str, i: usize, v: &str) -> ArrowConversionError {
    ArrowConversionError::Schema {
        column: name.into(),
        problem: format!("has unknown value {v:?} at row {i}"),
    }
}

/// Converts a `RecordBatch` of [`login_schema`] back into events (used by tests and by the scan report).
pub fn from_record_batch(batch: &RecordBatch) -> Result<Vec<LoginEvent>, ArrowConversionError> {
    let c = Columns { batch };
    let (event_id, org_id, source) = (c.text("event_id")?, c.text("org_id")?, c.text("source")?);
    let (event_time, ingested_at) = (c.time("event_time")?, c.time("ingested_at")?);
    let (user_id, username) = (c.text("user_id")?, c.text("username")?);
    let (login_type, login_sub_type) = (c.text("login_type")?, c.text("login_sub_type")?);
    let (auth_method, status, outcome) = (
        c.text("auth_method")?,
        c.text("status")?,
        c.text("outcome")?,
    );
    let (failure_reason, application) = (c.text("failure_reason")?, c.text("application")?);
    let (source_ip, country_iso, city) = (
        c.text("source_ip")?,
        c.text("country_iso")?,
        c.text("city")?,
    );
    let (latitude, longitude) = (c.float("latitude")?, c.float("longitude")?);
    let (api_type, api_version) = (c.text("api_type")?, c.text("api_version")?);
    let (client_version, browser, platform) = (
        c.text("client_version")?,
        c.text("browser")?,
        c.text("platform")?,
    );
    let (login_url, tls_protocol, cipher_suite) = (
        c.text("login_url")?,
        c.text("tls_protocol")?,
        c.text("cipher_suite")?,
    );
    let (login_history_id, login_key) = (c.text("login_history_id")?, c.text("login_key")?);
    let (user_type, session_level) = (c.text("user_type")?, c.text("session_level")?);

    let millis = |a: &TimestampMillisecondArray, i: usize, name: &str| {
        if a.is_null(i) {
            return Err(ArrowConversionError::Schema {
                column: name.into(),
                problem: format!("is null at row {i}"),
            });
        }
        crate::time::from_millis(a.value(i))
            .ok_or_else(|| bad_value(name, i, &a.value(i).to_string()))
    };
    let float = |a: &Float64Array, i: usize| a.is_valid(i).then(|| a.value(i));

    (0..batch.num_rows())
        .map(|i| {
            let src = required(source, i, "source")?;
            let am = required(auth_method, i, "auth_method")?;
            let oc = required(outcome, i, "outcome")?;
            Ok(LoginEvent {
                event_id: required(event_id, i, "event_id")?.to_string(),
                org_id: required(org_id, i, "org_id")?.to_string(),
                source: Source::parse(src).ok_or_else(|| bad_value("source", i, src))?,
                event_time: millis(event_time, i, "event_time")?,
                ingested_at: millis(ingested_at, i, "ingested_at")?,
                user_id: opt(user_id, i),
                username: opt(username, i),
                login_type: opt(login_type, i),
                login_sub_type: opt(login_sub_type, i),
                auth_method: AuthMethod::parse(am)
                    .ok_or_else(|| bad_value("auth_method", i, am))?,
                status: opt(status, i),
                outcome: Outcome::parse(oc).ok_or_else(|| bad_value("outcome", i, oc))?,
                failure_reason: opt(failure_reason, i),
                application: opt(application, i),
                source_ip: opt(source_ip, i),
                country_iso: opt(country_iso, i),
                city: opt(city, i),
                latitude: float(latitude, i),
                longitude: float(longitude, i),
                api_type: opt(api_type, i),
                api_version: opt(api_version, i),
                client_version: opt(client_version, i),
                browser: opt(browser, i),
                platform: opt(platform, i),
                login_url: opt(login_url, i),
                tls_protocol: opt(tls_protocol, i),
                cipher_suite: opt(cipher_suite, i),
                login_history_id: opt(login_history_id, i),
                login_key: opt(login_key, i),
                user_type: opt(user_type, i),
                session_level: opt(session_level, i),
            })
        })
        .collect()
}
