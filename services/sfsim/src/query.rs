//! REST query execution over the simulated org: schema checks with Salesforce's error codes,
//! filtering, ordering, and rendering of result pages.

use chrono::{DateTime, Duration, TimeZone, Utc};
use serde_json::{json, Map, Value as Json};

use crate::model::SubTypeSpelling;
use crate::render;
use crate::soql::{self, Cond, Op, Select, Value};
use crate::state::OrgData;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Object {
    LoginHistory,
    LoginGeo,
    LoginEvent,
    User,
    EventLogFile,
}

impl Object {
    fn parse(name: &str) -> Option<Object> {
        Some(match name.to_ascii_lowercase().as_str() {
            "loginhistory" => Object::LoginHistory,
            "logingeo" => Object::LoginGeo,
            "loginevent" => Object::LoginEvent,
            "user" => Object::User,
            "eventlogfile" => Object::EventLogFile,
            _ => return None,
        })
    }

    pub fn name(self) -> &'static str {
        match self {
            Object::LoginHistory => "LoginHistory",
            Object::LoginGeo => "LoginGeo",
            Object::LoginEvent => "LoginEvent",
            Object::User => "User",
            Object::EventLogFile => "EventLogFile",
        }
    }

    fn fields(self) -> &'static [&'static str] {
        match self {
            Object::LoginHistory => &[
                "Id",
                "UserId",
                "LoginTime",
                "LoginType",
                "LoginSubType",
                "LoginUrl",
                "SourceIp",
                "Status",
                "Application",
                "Browser",
                "Platform",
                "ApiType",
                "ApiVersion",
                "ClientVersion",
                "CipherSuite",
                "TlsProtocol",
                "CountryIso",
                "LoginGeoId",
                "AuthenticationServiceId",
                "AuthMethodReference",
                "NetworkId",
                "OptionsIsGet",
                "OptionsIsPost",
                "ForwardedForIp",
            ],
            Object::LoginGeo => &[
                "Id",
                "City",
                "Country",
                "CountryIso",
                "Latitude",
                "Longitude",
                "PostalCode",
                "Subdivision",
                "LoginTime",
                "CreatedDate",
            ],
            Object::LoginEvent => &[
                "Id",
                "EventDate",
                "CreatedDate",
                "CreatedById",
                "EventIdentifier",
                "LoginType",
                "LoginSubType",
                "Status",
                "SourceIp",
                "Username",
                "UserId",
                "Application",
                "Browser",
                "Platform",
                "LoginUrl",
                "LoginHistoryId",
                "LoginGeoId",
                "LoginKey",
                "SessionKey",
                "TlsProtocol",
                "CipherSuite",
                "HttpMethod",
                "SessionLevel",
                "UserType",
                "ApiType",
                "ApiVersion",
                "ClientVersion",
                "EvaluationTime",
                "AdditionalInfo",
                "City",
                "Country",
                "CountryIso",
                "Subdivision",
                "PostalCode",
                "LoginLatitude",
                "LoginLongitude",
                "AuthServiceId",
                "AuthMethodReference",
                "ForwardedForIp",
                "NetworkId",
                "PolicyId",
                "PolicyOutcome",
                "RelatedEventIdentifier",
                "HttpReferer",
                "UseApiToken",
            ],
            Object::User => &[
                "Id",
                "Username",
                "Name",
                "Email",
                "UserType",
                "IsActive",
                "CreatedDate",
                "LastLoginDate",
            ],
            Object::EventLogFile => &[
                "Id",
                "EventType",
                "LogDate",
                "CreatedDate",
                "Interval",
                "LogFile",
                "LogFileLength",
                "LogFileContentType",
                "LogFileFieldNames",
                "LogFileFieldTypes",
                "Sequence",
                "ApiVersion",
            ],
        }
    }

    /// Fields that may appear in WHERE (LoginHistory: the documented Usage list, reference §1.1).
    fn filterable(self, field: &str) -> bool {
        match self {
            Object::LoginHistory => [
                "AuthenticationServiceId",
                "CipherSuite",
                "CountryIso",
                "Id",
                "LoginTime",
                "LoginType",
                "LoginUrl",
                "NetworkId",
                "OptionsIsGet",
                "OptionsIsPost",
                "TlsProtocol",
                "UserId",
            ]
            .contains(&field),
            Object::LoginEvent => ["EventDate", "EventIdentifier"].contains(&field),
            Object::LoginGeo => !["Latitude", "Longitude"].contains(&field),
            Object::User => true,
            Object::EventLogFile => {
                !["LogFile", "LogFileFieldNames", "LogFileFieldTypes"].contains(&field)
            }
        }
    }

    fn datetime_field(self, field: &str) -> bool {
        matches!(
            (self, field),
            (Object::LoginHistory, "LoginTime")
                | (Object::LoginGeo, "LoginTime" | "CreatedDate")
                | (Object::LoginEvent, "EventDate" | "CreatedDate")
                | (Object::User, "CreatedDate" | "LastLoginDate")
                | (Object::EventLogFile, "LogDate" | "CreatedDate")
        )
    }

    fn canonical(self, field: &str) -> Option<&'static str> {
        self.fields()
            .iter()
            .find(|f| f.eq_ignore_ascii_case(field))
            .copied()
    }
}

/// A Salesforce REST error: HTTP status, `errorCode`, `message`.
#[derive(Debug, Clone, PartialEq)]
pub struct ApiError {
    pub status: u16,
    pub code: &'static str,
    pub message: String,
}

impl ApiError {
    pub fn new(status: u16, code: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            status,
            code,
            message: message.into(),
        }
    }

    pub fn body(&self) -> Json {
        json!([{"message": self.message, "errorCode": self.code}])
    }
}

#[derive(Debug, Clone, PartialEq)]
enum FieldSel {
    Direct(&'static str),
    Geo(&'static str),
}

/// A checked query.
#[derive(Debug)]
pub struct Plan {
    pub object: Object,
    fields: Option<Vec<FieldSel>>,
    conds: Vec<(&'static str, Cond)>,
    order_by: Option<(&'static str, bool)>,
    limit: Option<usize>,
    pub api_version: String,
    spelling: SubTypeSpelling,
}

fn no_such_column(field: &str, object: Object) -> ApiError {
    ApiError::new(
        400,
        "INVALID_FIELD",
        format!(
            "\n{field}\n^\nERROR at Row:1:Column:1\nNo such column '{field}' on entity '{}'. If you are attempting to use a custom field, be sure to append the '__c' after the custom field name. Please reference your WSDL or the describe call for the appropriate names.",
            object.name()
        ),
    )
}

/// Parses and checks `q` against the object schemas.
pub fn plan(q: &str, api_version: &str, spelling: SubTypeSpelling) -> Result<Plan, ApiError> {
    let parsed = soql::parse(q).map_err(|e| {
        ApiError::new(
            400,
            "MALFORMED_QUERY",
            format!(
                "\n{q}\n{}^\nERROR at Row:1:Column:{}\n{}",
                " ".repeat(e.column.saturating_sub(1)),
                e.column,
                e.message
            ),
        )
    })?;
    let object = Object::parse(&parsed.object).ok_or_else(|| {
        ApiError::new(
            400,
            "INVALID_TYPE",
            format!("\n{q}\n^\nERROR at Row:1:Column:1\nsObject type '{}' is not supported. If you are attempting to use a custom object, be sure to append the '__c' after the entity name. Please reference your WSDL or the describe call for the appropriate names.", parsed.object),
        )
    })?;
    let fields = match &parsed.select {
        Select::All { standard } => {
            if !standard && parsed.limit.is_none_or(|l| l > 200) {
                return Err(ApiError::new(
                    400,
                    "MALFORMED_QUERY",
                    "The SOQL FIELDS function must have a LIMIT of at most 200",
                ));
            }
            None
        }
        Select::Fields(list) => {
            let mut out = Vec::new();
            for f in list {
                if let Some((rel, name)) = f.split_once('.') {
                    if object == Object::LoginHistory && rel.eq_ignore_ascii_case("LoginGeo") {
                        let c = Object::LoginGeo
                            .canonical(name)
                            .ok_or_else(|| no_such_column(name, Object::LoginGeo))?;
                        out.push(FieldSel::Geo(c));
                        continue;
                    }
                    return Err(ApiError::new(
                        400,
                        "INVALID_FIELD",
                        format!("\n{f}\n^\nERROR at Row:1:Column:1\nDidn't understand relationship '{rel}' in field path. If you are attempting to use a custom relationship, be sure to append the '__r' after the custom relationship name. Please reference your WSDL or the describe call for the appropriate names."),
                    ));
                }
                out.push(FieldSel::Direct(
                    object
                        .canonical(f)
                        .ok_or_else(|| no_such_column(f, object))?,
                ));
            }
            Some(out)
        }
    };
    let mut conds = Vec::new();
    for c in parsed.conds {
        let field = match &c {
            Cond::Cmp { field, .. } | Cond::In { field, .. } => field.clone(),
        };
        let canon = object
            .canonical(&field)
            .ok_or_else(|| no_such_column(&field, object))?;
        if !object.filterable(canon) {
            return Err(ApiError::new(
                400,
                "INVALID_FIELD",
                format!("field '{canon}' can not be filtered in query call"),
            ));
        }
        let is_dt = object.datetime_field(canon);
        match &c {
            Cond::Cmp {
                value: Value::DateTime(_),
                ..
            } if !is_dt => {
                return Err(ApiError::new(400, "INVALID_FIELD", format!("value of filter criterion for field '{canon}' must be of type string and should be enclosed in quotes")));
            }
            Cond::Cmp {
                value,
                quoted_datetime,
                ..
            } if is_dt && !matches!(value, Value::DateTime(_) | Value::Null) => {
                let _ = quoted_datetime;
                return Err(ApiError::new(400, "INVALID_FIELD", format!("value of filter criterion for field '{canon}' must be of type dateTime and should not be enclosed in quotes")));
            }
            Cond::In { .. } if is_dt => {
                return Err(ApiError::new(400, "INVALID_FIELD", format!("value of filter criterion for field '{canon}' must be of type dateTime and should not be enclosed in quotes")));
            }
            _ => {}
        }
        conds.push((canon, c));
    }
    let order_by = match parsed.order_by {
        Some((f, asc)) => Some((
            object
                .canonical(&f)
                .ok_or_else(|| no_such_column(&f, object))?,
            asc,
        )),
        None => None,
    };
    Ok(Plan {
        object,
        fields,
        conds,
        order_by,
        limit: parsed.limit,
        api_version: api_version.to_string(),
        spelling,
    })
}

/// An EventLogFile row: one daily Login file per UTC day (index = days since the epoch).
fn elf_day_start(day: usize) -> DateTime<Utc> {
    Utc.timestamp_opt(day as i64 * 86_400, 0)
        .single()
        .expect("day in range")
}

fn day_of(t: DateTime<Utc>) -> usize {
    t.timestamp().div_euclid(86_400) as usize
}

/// Daily Login files that exist at `now`: a day with logins, published at 03:00 the next day.
pub fn elf_days(data: &OrgData, now: DateTime<Utc>) -> Vec<usize> {
    let mut days: Vec<usize> = data.logins.iter().map(|l| day_of(l.time)).collect();
    days.sort_unstable();
    days.dedup();
    days.retain(|&d| elf_created(d) <= now);
    days
}

fn elf_created(day: usize) -> DateTime<Utc> {
    elf_day_start(day) + Duration::hours(27) + Duration::minutes((day % 7) as i64)
}

pub fn elf_id(pod: &str, day: usize) -> String {
    crate::ids::make_id("0AT", pod, day as u64)
}

/// The Login CSV of one day's file.
pub fn elf_csv(data: &OrgData, day: usize) -> String {
    let mut idx: Vec<usize> = (0..data.logins.len())
        .filter(|&i| day_of(data.logins[i].time) == day)
        .collect();
    idx.sort_by_key(|&i| (data.logins[i].time, i));
    let mut w = render::elf_writer(Vec::new());
    w.write_record(render::ELF_HEADER)
        .expect("writing to memory");
    for i in idx {
        w.write_record(render::elf_row(&data.logins[i]))
            .expect("writing to memory");
    }
    String::from_utf8(w.into_inner().expect("flush to memory")).expect("csv is utf-8")
}

fn row_time(object: Object, data: &OrgData, row: usize, field: &str) -> Option<DateTime<Utc>> {
    match object {
        Object::LoginHistory | Object::LoginGeo => Some(data.logins[row].time),
        Object::LoginEvent => {
            let l = &data.logins[row];
            Some(if field == "CreatedDate" {
                l.time + Duration::milliseconds(l.created_delay_ms as i64)
            } else {
                l.time
            })
        }
        Object::User => match field {
            "CreatedDate" => Some(data.users[row].created),
            _ => None,
        },
        Object::EventLogFile => Some(if field == "LogDate" {
            elf_day_start(row)
        } else {
            elf_created(row)
        }),
    }
}

fn full_record(plan: &Plan, data: &OrgData, row: usize, pod: &str) -> Map<String, Json> {
    let v = &plan.api_version;
    match plan.object {
        Object::LoginHistory => render::login_history_record(&data.logins[row], v, plan.spelling),
        Object::LoginGeo => render::login_geo_record(&data.logins[row], v),
        Object::LoginEvent => render::login_event_record(&data.logins[row], v, plan.spelling),
        Object::User => {
            let u = &data.users[row];
            let mut m = Map::new();
            m.insert(
                "attributes".into(),
                render::attributes("User", &u.user_id, v),
            );
            m.insert("Id".into(), json!(u.user_id));
            m.insert("Username".into(), json!(u.username));
            m.insert("Name".into(), json!(u.name));
            m.insert("Email".into(), json!(u.username));
            m.insert("UserType".into(), json!(u.user_type));
            m.insert("IsActive".into(), json!(true));
            m.insert("CreatedDate".into(), json!(render::rest_time(u.created)));
            m.insert("LastLoginDate".into(), Json::Null);
            m
        }
        Object::EventLogFile => {
            let id = elf_id(pod, row);
            let csv_len = elf_csv(data, row).len();
            let mut m = Map::new();
            m.insert(
                "attributes".into(),
                render::attributes("EventLogFile", &id, v),
            );
            m.insert("Id".into(), json!(id));
            m.insert("EventType".into(), json!("Login"));
            m.insert(
                "LogDate".into(),
                json!(render::rest_time(elf_day_start(row))),
            );
            m.insert(
                "CreatedDate".into(),
                json!(render::rest_time(elf_created(row))),
            );
            m.insert("Interval".into(), json!("Daily"));
            m.insert(
                "LogFile".into(),
                json!(format!(
                    "/services/data/v{v}/sobjects/EventLogFile/{id}/LogFile"
                )),
            );
            m.insert("LogFileLength".into(), json!(csv_len as f64));
            m.insert("LogFileContentType".into(), json!("CSV"));
            m.insert(
                "LogFileFieldNames".into(),
                json!(render::ELF_HEADER.join(",")),
            );
            m.insert(
                "LogFileFieldTypes".into(),
                json!(render::ELF_HEADER
                    .iter()
                    .map(|_| "String")
                    .collect::<Vec<_>>()
                    .join(",")),
            );
            m.insert("Sequence".into(), json!(0));
            m.insert("ApiVersion".into(), json!(62.0));
            m
        }
    }
}

fn cmp_json(a: &Json, b: &Value) -> Option<std::cmp::Ordering> {
    match (a, b) {
        (Json::Null, Value::Null) => Some(std::cmp::Ordering::Equal),
        (Json::String(s), Value::Str(v)) => {
            Some(s.to_ascii_lowercase().cmp(&v.to_ascii_lowercase()))
        }
        (Json::Bool(x), Value::Bool(y)) => Some(x.cmp(y)),
        (Json::Number(n), Value::Number(y)) => n.as_f64().and_then(|x| x.partial_cmp(y)),
        _ => None,
    }
}

fn op_holds(op: Op, ord: Option<std::cmp::Ordering>) -> bool {
    use std::cmp::Ordering::*;
    match (op, ord) {
        (_, None) => op == Op::Ne,
        (Op::Eq, Some(o)) => o == Equal,
        (Op::Ne, Some(o)) => o != Equal,
        (Op::Lt, Some(o)) => o == Less,
        (Op::Le, Some(o)) => o != Greater,
        (Op::Gt, Some(o)) => o == Greater,
        (Op::Ge, Some(o)) => o != Less,
    }
}

/// The rows of `plan` in result order.
pub fn execute(
    plan: &Plan,
    data: &OrgData,
    now: DateTime<Utc>,
    pod: &str,
    omit_integration_users: bool,
) -> Vec<usize> {
    let candidates: Vec<usize> = match plan.object {
        Object::LoginHistory | Object::LoginGeo => (0..data.logins.len())
            .filter(|&i| data.visible(i))
            .collect(),
        Object::LoginEvent => data
            .stream
            .iter()
            .map(|&(_, i)| i)
            .filter(|&i| render::on_stream(&data.logins[i], omit_integration_users))
            .collect(),
        Object::User => (0..data.users.len()).collect(),
        Object::EventLogFile => elf_days(data, now),
    };
    let needs_record = plan
        .conds
        .iter()
        .any(|(f, _)| !plan.object.datetime_field(f))
        || plan
            .order_by
            .is_some_and(|(f, _)| !plan.object.datetime_field(f));
    let mut rows: Vec<(usize, Option<Map<String, Json>>)> = Vec::new();
    for row in candidates {
        let rec = if needs_record {
            Some(full_record(plan, data, row, pod))
        } else {
            None
        };
        let keep = plan.conds.iter().all(|(field, cond)| match cond {
            Cond::Cmp {
                op,
                value: Value::DateTime(v),
                ..
            } => {
                let t = row_time(plan.object, data, row, field);
                op_holds(*op, t.map(|t| t.cmp(v)))
            }
            Cond::Cmp { op, value, .. } => {
                if plan.object.datetime_field(field) {
                    // `= NULL` on a dateTime.
                    let is_null = row_time(plan.object, data, row, field).is_none();
                    return if *op == Op::Eq { is_null } else { !is_null };
                }
                let got = rec
                    .as_ref()
                    .and_then(|r| r.get(*field))
                    .cloned()
                    .unwrap_or(Json::Null);
                op_holds(*op, cmp_json(&got, value))
            }
            Cond::In { values, .. } => {
                let got = rec
                    .as_ref()
                    .and_then(|r| r.get(*field))
                    .cloned()
                    .unwrap_or(Json::Null);
                values
                    .iter()
                    .any(|v| cmp_json(&got, v) == Some(std::cmp::Ordering::Equal))
            }
        });
        if keep {
            rows.push((row, rec));
        }
    }
    if let Some((field, asc)) = plan.order_by {
        if plan.object.datetime_field(field) {
            rows.sort_by_key(|(r, _)| (row_time(plan.object, data, *r, field), *r));
        } else {
            rows.sort_by(|(ra, a), (rb, b)| {
                let ka = a
                    .as_ref()
                    .and_then(|m| m.get(field))
                    .map(|v| v.to_string())
                    .unwrap_or_default();
                let kb = b
                    .as_ref()
                    .and_then(|m| m.get(field))
                    .map(|v| v.to_string())
                    .unwrap_or_default();
                ka.cmp(&kb).then(ra.cmp(rb))
            });
        }
        if !asc {
            rows.reverse();
        }
    }
    let mut out: Vec<usize> = rows.into_iter().map(|(r, _)| r).collect();
    if let Some(l) = plan.limit {
        out.truncate(l);
    }
    out
}

/// The records of `rows` with the selected fields, in SELECT order.
pub fn render_records(plan: &Plan, data: &OrgData, rows: &[usize], pod: &str) -> Vec<Json> {
    rows.iter()
        .map(|&row| {
            let full = full_record(plan, data, row, pod);
            let Some(fields) = &plan.fields else {
                return Json::Object(full);
            };
            let mut m = Map::new();
            m.insert(
                "attributes".into(),
                full.get("attributes").cloned().unwrap_or(Json::Null),
            );
            let mut geo: Option<Map<String, Json>> = None;
            for f in fields {
                match f {
                    FieldSel::Direct(name) => {
                        m.insert(
                            (*name).to_string(),
                            full.get(*name).cloned().unwrap_or(Json::Null),
                        );
                    }
                    FieldSel::Geo(name) => {
                        let g = geo.get_or_insert_with(|| {
                            let full_geo =
                                render::login_geo_record(&data.logins[row], &plan.api_version);
                            let mut g = Map::new();
                            g.insert(
                                "attributes".into(),
                                full_geo.get("attributes").cloned().unwrap_or(Json::Null),
                            );
                            g.insert("__full".into(), Json::Object(full_geo));
                            g
                        });
                        let value = g
                            .get("__full")
                            .and_then(|f| f.get(*name))
                            .cloned()
                            .unwrap_or(Json::Null);
                        g.insert((*name).to_string(), value);
                    }
                }
            }
            if let Some(mut g) = geo {
                g.remove("__full");
                m.insert("LoginGeo".into(), Json::Object(g));
            }
            Json::Object(m)
        })
        .collect()
}
