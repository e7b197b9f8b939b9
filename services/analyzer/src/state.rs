//! Baseline state: what the analyzer has learnt about each user and org, exposed to rules as
//! DataFusion tables.
//!
//! | table | columns | fed by |
//! |---|---|---|
//! | `user_profile` | org_id, user_id, first_seen, last_seen, logins, successes | every on-time login |
//! | `org_profile` | org_id, first_seen, last_seen, logins | every on-time login |
//! | `known_ips` | org_id, user_id, application (`''` when none), source_ip, first_seen, last_seen, logins | successes |
//! | `user_countries` | org_id, user_id, country_iso, first_seen, last_seen, logins | successes |
//! | `org_apps` | org_id, application, first_seen, last_seen, logins | every login with an application |
//! | `user_hours` | org_id, user_id, hour_of_week (0 = Monday 00:00 UTC … 167), logins | successes |
//! | `user_day_hours` | org_id, user_id, hour_of_day (0 … 23 UTC), logins | `user_hours` summed over the days of the week |
//! | `last_location` | org_id, user_id, event_time, latitude, longitude, country_iso, city, source_ip, event_id | last success with coordinates |
//! | `hourly_logins` | org_id, user_id, hour_start, logins, prior_hours, prior_logins | every login; the last `hourly_history` hours per user, from the hour of the first evaluated row on; `prior_*` count and sum the user's stored hours before `hour_start` |
//!
//! State is folded in event-time order as the watermark passes events, so a rule always sees the
//! baseline as it was just before the events it evaluates. Late events (older than the
//! watermark) are not folded.
//!
//! Bounds ([`StateBounds`]): at most `max_users` users (least recently seen evicted first), per
//! user at most `max_ips_per_user` (ip, application) pairs and `max_countries_per_user` countries
//! (oldest last-seen evicted), at most `max_orgs` orgs and `max_apps_per_org` applications per org.
//! With the defaults a user costs at most ~40 KB, so 100,000 users stay under ~4 GB in the worst
//! case and ~100 MB typically (a few IPs and one country per user).
//!
//! Persistence: the state is rebuilt from the retained `loginwatch.logins.v1` topic on start and
//! on every partition assignment (see `service.rs`), so it survives restarts and rebalances
//! without a second source of truth.
//!
//! Rules see only the rows for the users and orgs present in the rows they evaluate (state
//! tables are materialised per execution for those keys): join state on `org_id`/`user_id`.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use arrow::array::{
    ArrayRef, Float64Builder, Int64Builder, RecordBatch, StringBuilder, TimestampMillisecondBuilder,
};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use chrono::{Datelike, TimeZone, Timelike, Utc};
use serde::{Deserialize, Serialize};

/// Caps on the baseline state (see the module docs).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StateBounds {
    /// Users tracked; least recently seen evicted beyond it. Default 100000.
    pub max_users: usize,
    /// (application, IP) pairs per user. Default 256.
    pub max_ips_per_user: usize,
    /// Countries per user. Default 64.
    pub max_countries_per_user: usize,
    /// Orgs tracked. Default 1000.
    pub max_orgs: usize,
    /// Applications per org. Default 5000.
    pub max_apps_per_org: usize,
    /// Hourly login counts kept per user (hours). Default 168 (one week).
    pub hourly_history: usize,
}

impl Default for StateBounds {
    fn default() -> Self {
        StateBounds {
            max_users: 100_000,
            max_ips_per_user: 256,
            max_countries_per_user: 64,
            max_orgs: 1000,
            max_apps_per_org: 5000,
            hourly_history: 168,
        }
    }
}

/// The state tables rules may reference.
pub const TABLES: [&str; 9] = [
    "user_profile",
    "org_profile",
    "known_ips",
    "user_countries",
    "org_apps",
    "user_hours",
    "user_day_hours",
    "last_location",
    "hourly_logins",
];

/// What one on-time login contributes to the baselines.
#[derive(Debug, Clone)]
pub struct FoldRecord {
    pub org_id: String,
    pub user_id: Option<String>,
    pub event_id: String,
    pub event_time: i64,
    pub success: bool,
    pub application: Option<String>,
    pub source_ip: Option<String>,
    pub country_iso: Option<String>,
    pub city: Option<String>,
    pub latitude: Option<f64>,
    pub longitude: Option<f64>,
}

impl FoldRecord {
    pub fn from_event(e: &loginwatch_shared::LoginEvent) -> FoldRecord {
        FoldRecord {
            org_id: e.org_id.clone(),
            user_id: e.user_id.clone(),
            event_id: e.event_id.clone(),
            event_time: e.event_time.timestamp_millis(),
            success: e.is_success(),
            application: e.application.clone(),
            source_ip: e.source_ip.clone(),
            country_iso: e.country_iso.clone(),
            city: e.city.clone(),
            latitude: e.latitude,
            longitude: e.longitude,
        }
    }
}

#[derive(Debug, Clone, Copy)]
struct Seen {
    first: i64,
    last: i64,
    count: i64,
}

impl Seen {
    fn new(t: i64) -> Seen {
        Seen {
            first: t,
            last: t,
            count: 1,
        }
    }
    fn touch(&mut self, t: i64) {
        self.first = self.first.min(t);
        self.last = self.last.max(t);
        self.count += 1;
    }
}

#[derive(Debug, Clone)]
struct Location {
    event_time: i64,
    latitude: f64,
    longitude: f64,
    country_iso: Option<String>,
    city: Option<String>,
    source_ip: Option<String>,
    event_id: String,
}

#[derive(Debug, Clone)]
struct UserState {
    profile: Seen,
    successes: i64,
    ips: HashMap<(String, String), Seen>,
    countries: HashMap<String, Seen>,
    hours: Box<[i64; 168]>,
    /// (hour_start, logins), ascending by hour.
    hourly: Vec<(i64, i64)>,
    last_location: Option<Location>,
}

#[derive(Debug, Clone)]
struct OrgState {
    profile: Seen,
    apps: HashMap<String, Seen>,
}

/// Monday 00:00 UTC = 0 … Sunday 23:00 = 167.
pub fn hour_of_week(t_ms: i64) -> i64 {
    let t = Utc.timestamp_millis_opt(t_ms).single().unwrap_or_default();
    i64::from(t.weekday().num_days_from_monday()) * 24 + i64::from(t.hour())
}

fn evict_oldest<K: Clone + std::hash::Hash + Eq>(map: &mut HashMap<K, Seen>, cap: usize) {
    if map.len() <= cap {
        return;
    }
    let mut by_age: Vec<(i64, K)> = map.iter().map(|(k, s)| (s.last, k.clone())).collect();
    by_age.sort_by_key(|(t, _)| *t);
    for (_, k) in by_age.into_iter().take(map.len() - cap) {
        map.remove(&k);
    }
}

/// The baselines, bounded.
#[derive(Debug, Default)]
pub struct Baselines {
    bounds: StateBounds,
    users: HashMap<(String, String), UserState>,
    orgs: HashMap<String, OrgState>,
}

/// Which users and orgs a rule execution needs state for.
#[derive(Debug, Default)]
pub struct Keys {
    pub users: HashSet<(String, String)>,
    pub orgs: HashSet<String>,
    /// Earliest event time (ms) of the evaluated rows: per-hour rows before its hour are only
    /// needed as the `prior_*` sums, so they are not materialised.
    pub from: Option<i64>,
}

impl Baselines {
    pub fn new(bounds: StateBounds) -> Self {
        Baselines {
            bounds,
            users: HashMap::new(),
            orgs: HashMap::new(),
        }
    }

    /// Folds on-time logins (any order within the slice; callers pass one watermark step).
    pub fn fold(&mut self, records: &[FoldRecord]) {
        let b = self.bounds.clone();
        for r in records {
            let org = self
                .orgs
                .entry(r.org_id.clone())
                .or_insert_with(|| OrgState {
                    profile: Seen {
                        first: r.event_time,
                        last: r.event_time,
                        count: 0,
                    },
                    apps: HashMap::new(),
                });
            org.profile.touch(r.event_time);
            if let Some(app) = &r.application {
                org.apps
                    .entry(app.clone())
                    .and_modify(|s| s.touch(r.event_time))
                    .or_insert_with(|| Seen::new(r.event_time));
                evict_oldest(&mut org.apps, b.max_apps_per_org);
            }
            let Some(user_id) = &r.user_id else { continue };
            let u = self
                .users
                .entry((r.org_id.clone(), user_id.clone()))
                .or_insert_with(|| UserState {
                    profile: Seen {
                        first: r.event_time,
                        last: r.event_time,
                        count: 0,
                    },
                    successes: 0,
                    ips: HashMap::new(),
                    countries: HashMap::new(),
                    hours: Box::new([0; 168]),
                    hourly: Vec::new(),
                    last_location: None,
                });
            u.profile.touch(r.event_time);
            let hour = r.event_time.div_euclid(3_600_000) * 3_600_000;
            match u.hourly.binary_search_by_key(&hour, |(h, _)| *h) {
                Ok(i) => u.hourly[i].1 += 1,
                Err(i) => u.hourly.insert(i, (hour, 1)),
            }
            if u.hourly.len() > b.hourly_history {
                let drop = u.hourly.len() - b.hourly_history;
                u.hourly.drain(..drop);
            }
            if !r.success {
                continue;
            }
            u.successes += 1;
            u.hours[hour_of_week(r.event_time) as usize] += 1;
            if let Some(ip) = &r.source_ip {
                let key = (r.application.clone().unwrap_or_default(), ip.clone());
                u.ips
                    .entry(key)
                    .and_modify(|s| s.touch(r.event_time))
                    .or_insert_with(|| Seen::new(r.event_time));
                evict_oldest(&mut u.ips, b.max_ips_per_user);
            }
            if let Some(c) = &r.country_iso {
                u.countries
                    .entry(c.clone())
                    .and_modify(|s| s.touch(r.event_time))
                    .or_insert_with(|| Seen::new(r.event_time));
                evict_oldest(&mut u.countries, b.max_countries_per_user);
            }
            if let (Some(lat), Some(lon)) = (r.latitude, r.longitude) {
                let newer = u.last_location.as_ref().is_none_or(|l| {
                    (r.event_time, r.event_id.as_str()) > (l.event_time, l.event_id.as_str())
                });
                if newer {
                    u.last_location = Some(Location {
                        event_time: r.event_time,
                        latitude: lat,
                        longitude: lon,
                        country_iso: r.country_iso.clone(),
                        city: r.city.clone(),
                        source_ip: r.source_ip.clone(),
                        event_id: r.event_id.clone(),
                    });
                }
            }
        }
        self.enforce_caps();
    }

    fn enforce_caps(&mut self) {
        // Evict 10% below the cap at once so eviction (a sort) stays rare.
        if self.users.len() > self.bounds.max_users {
            let target = self.bounds.max_users - self.bounds.max_users / 10;
            let mut by_age: Vec<(i64, (String, String))> = self
                .users
                .iter()
                .map(|(k, u)| (u.profile.last, k.clone()))
                .collect();
            by_age.sort();
            for (_, k) in by_age.into_iter().take(self.users.len() - target) {
                self.users.remove(&k);
            }
        }
        if self.orgs.len() > self.bounds.max_orgs {
            let mut by_age: Vec<(i64, String)> = self
                .orgs
                .iter()
                .map(|(k, o)| (o.profile.last, k.clone()))
                .collect();
            by_age.sort();
            for (_, k) in by_age
                .into_iter()
                .take(self.orgs.len() - self.bounds.max_orgs)
            {
                self.orgs.remove(&k);
            }
        }
    }

    /// Rows per table, for the `loginwatch_state_entries` gauge.
    pub fn entries(&self) -> Vec<(&'static str, i64)> {
        let users = self.users.len() as i64;
        let sum =
            |f: &dyn Fn(&UserState) -> usize| self.users.values().map(|u| f(u) as i64).sum::<i64>();
        vec![
            ("user_profile", users),
            ("org_profile", self.orgs.len() as i64),
            ("known_ips", sum(&|u| u.ips.len())),
            ("user_countries", sum(&|u| u.countries.len())),
            (
                "org_apps",
                self.orgs.values().map(|o| o.apps.len() as i64).sum(),
            ),
            (
                "user_hours",
                sum(&|u| u.hours.iter().filter(|c| **c > 0).count()),
            ),
            (
                "last_location",
                sum(&|u| usize::from(u.last_location.is_some())),
            ),
            ("hourly_logins", sum(&|u| u.hourly.len())),
        ]
    }

    pub fn publish_metrics(&self) {
        let m = loginwatch_shared::metrics::metrics();
        for (table, n) in self.entries() {
            m.state_entries.with_label_values(&[table]).set(n);
        }
    }

    /// Materialises `table` for the given keys.
    pub fn table(&self, table: &str, keys: &Keys) -> RecordBatch {
        let schema = schema(table);
        let users: Vec<(&(String, String), &UserState)> = {
            let mut v: Vec<_> = keys
                .users
                .iter()
                .filter_map(|k| self.users.get_key_value(k))
                .collect();
            v.sort_by(|a, b| a.0.cmp(b.0));
            v
        };
        let orgs: Vec<(&String, &OrgState)> = {
            let mut v: Vec<_> = keys
                .orgs
                .iter()
                .filter_map(|k| self.orgs.get_key_value(k))
                .collect();
            v.sort_by(|a, b| a.0.cmp(b.0));
            v
        };
        let mut cols = Cols::new(&schema);
        match table {
            "user_profile" => {
                for ((org, user), u) in &users {
                    cols.s(0, Some(org));
                    cols.s(1, Some(user));
                    cols.t(2, u.profile.first);
                    cols.t(3, u.profile.last);
                    cols.i(4, Some(u.profile.count));
                    cols.i(5, Some(u.successes));
                }
            }
            "org_profile" => {
                for (org, o) in &orgs {
                    cols.s(0, Some(org));
                    cols.t(1, o.profile.first);
                    cols.t(2, o.profile.last);
                    cols.i(3, Some(o.profile.count));
                }
            }
            "known_ips" => {
                for ((org, user), u) in &users {
                    let mut ips: Vec<_> = u.ips.iter().collect();
                    ips.sort_by(|a, b| a.0.cmp(b.0));
                    for ((app, ip), s) in ips {
                        cols.s(0, Some(org));
                        cols.s(1, Some(user));
                        cols.s(2, Some(app));
                        cols.s(3, Some(ip));
                        cols.t(4, s.first);
                        cols.t(5, s.last);
                        cols.i(6, Some(s.count));
                    }
                }
            }
            "user_countries" => {
                for ((org, user), u) in &users {
                    let mut cs: Vec<_> = u.countries.iter().collect();
                    cs.sort_by(|a, b| a.0.cmp(b.0));
                    for (c, s) in cs {
                        cols.s(0, Some(org));
                        cols.s(1, Some(user));
                        cols.s(2, Some(c));
                        cols.t(3, s.first);
                        cols.t(4, s.last);
                        cols.i(5, Some(s.count));
                    }
                }
            }
            "org_apps" => {
                for (org, o) in &orgs {
                    let mut apps: Vec<_> = o.apps.iter().collect();
                    apps.sort_by(|a, b| a.0.cmp(b.0));
                    for (app, s) in apps {
                        cols.s(0, Some(org));
                        cols.s(1, Some(app));
                        cols.t(2, s.first);
                        cols.t(3, s.last);
                        cols.i(4, Some(s.count));
                    }
                }
            }
            "user_hours" => {
                for ((org, user), u) in &users {
                    for (h, n) in u.hours.iter().enumerate().filter(|(_, n)| **n > 0) {
                        cols.s(0, Some(org));
                        cols.s(1, Some(user));
                        cols.i(2, Some(h as i64));
                        cols.i(3, Some(*n));
                    }
                }
            }
            "user_day_hours" => {
                for ((org, user), u) in &users {
                    let mut day = [0i64; 24];
                    for (h, n) in u.hours.iter().enumerate() {
                        day[h % 24] += n;
                    }
                    for (h, n) in day.iter().enumerate().filter(|(_, n)| **n > 0) {
                        cols.s(0, Some(org));
                        cols.s(1, Some(user));
                        cols.i(2, Some(h as i64));
                        cols.i(3, Some(*n));
                    }
                }
            }
            "last_location" => {
                for ((org, user), u) in &users {
                    if let Some(l) = &u.last_location {
                        cols.s(0, Some(org));
                        cols.s(1, Some(user));
                        cols.t(2, l.event_time);
                        cols.f(3, Some(l.latitude));
                        cols.f(4, Some(l.longitude));
                        cols.s(5, l.country_iso.as_deref());
                        cols.s(6, l.city.as_deref());
                        cols.s(7, l.source_ip.as_deref());
                        cols.s(8, Some(&l.event_id));
                    }
                }
            }
            "hourly_logins" => {
                let first_hour = keys.from.map(|t| t.div_euclid(3_600_000) * 3_600_000);
                for ((org, user), u) in &users {
                    let (mut prior_hours, mut prior_logins) = (0i64, 0i64);
                    for (h, n) in &u.hourly {
                        if first_hour.is_none_or(|first| *h >= first) {
                            cols.s(0, Some(org));
                            cols.s(1, Some(user));
                            cols.t(2, *h);
                            cols.i(3, Some(*n));
                            cols.i(4, Some(prior_hours));
                            cols.i(5, Some(prior_logins));
                        }
                        prior_hours += 1;
                        prior_logins += n;
                    }
                }
            }
            _ => {}
        }
        cols.finish(schema)
    }
}

/// Column builders addressed by position, one per schema field (built in schema order).
struct Cols {
    builders: Vec<ColBuilder>,
}

enum ColBuilder {
    Text(StringBuilder),
    Int(Int64Builder),
    Float(Float64Builder),
    Time(TimestampMillisecondBuilder),
}

impl Cols {
    fn new(schema: &SchemaRef) -> Cols {
        let builders = schema
            .fields()
            .iter()
            .map(|f| match f.data_type() {
                DataType::Utf8 => ColBuilder::Text(StringBuilder::new()),
                DataType::Int64 => ColBuilder::Int(Int64Builder::new()),
                DataType::Float64 => ColBuilder::Float(Float64Builder::new()),
                _ => ColBuilder::Time(TimestampMillisecondBuilder::new()),
            })
            .collect();
        Cols { builders }
    }
    // A call that does not match the schema is a bug in `Baselines::table`; the column then
    // comes out short and `finish` reports it.
    fn s(&mut self, i: usize, v: Option<&str>) {
        if let Some(ColBuilder::Text(b)) = self.builders.get_mut(i) {
            b.append_option(v);
        }
    }
    fn i(&mut self, i: usize, v: Option<i64>) {
        if let Some(ColBuilder::Int(b)) = self.builders.get_mut(i) {
            b.append_option(v);
        }
    }
    fn f(&mut self, i: usize, v: Option<f64>) {
        if let Some(ColBuilder::Float(b)) = self.builders.get_mut(i) {
            b.append_option(v);
        }
    }
    fn t(&mut self, i: usize, v: i64) {
        if let Some(ColBuilder::Time(b)) = self.builders.get_mut(i) {
            b.append_value(v);
        }
    }
    fn finish(self, schema: SchemaRef) -> RecordBatch {
        let columns: Vec<ArrayRef> = self
            .builders
            .into_iter()
            .map(|b| -> ArrayRef {
                match b {
                    ColBuilder::Text(mut b) => Arc::new(b.finish()),
                    ColBuilder::Int(mut b) => Arc::new(b.finish()),
                    ColBuilder::Float(mut b) => Arc::new(b.finish()),
                    ColBuilder::Time(mut b) => Arc::new(b.finish().with_timezone("UTC")),
                }
            })
            .collect();
        RecordBatch::try_new(schema, columns).expect("state table columns match their schema")
    }
}

fn ts() -> DataType {
    DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into()))
}

/// The Arrow schema of a state table.
pub fn schema(table: &str) -> SchemaRef {
    use DataType::{Float64, Int64, Utf8};
    let f = |n: &str, t: DataType| Field::new(n, t, true);
    let fields = match table {
        "user_profile" => vec![
            f("org_id", Utf8),
            f("user_id", Utf8),
            f("first_seen", ts()),
            f("last_seen", ts()),
            f("logins", Int64),
            f("successes", Int64),
        ],
        "org_profile" => vec![
            f("org_id", Utf8),
            f("first_seen", ts()),
            f("last_seen", ts()),
            f("logins", Int64),
        ],
        "known_ips" => vec![
            f("org_id", Utf8),
            f("user_id", Utf8),
            f("application", Utf8),
            f("source_ip", Utf8),
            f("first_seen", ts()),
            f("last_seen", ts()),
            f("logins", Int64),
        ],
        "user_countries" => vec![
            f("org_id", Utf8),
            f("user_id", Utf8),
            f("country_iso", Utf8),
            f("first_seen", ts()),
            f("last_seen", ts()),
            f("logins", Int64),
        ],
        "org_apps" => vec![
            f("org_id", Utf8),
            f("application", Utf8),
            f("first_seen", ts()),
            f("last_seen", ts()),
            f("logins", Int64),
        ],
        "user_hours" => vec![
            f("org_id", Utf8),
            f("user_id", Utf8),
            f("hour_of_week", Int64),
            f("logins", Int64),
        ],
        "user_day_hours" => vec![
            f("org_id", Utf8),
            f("user_id", Utf8),
            f("hour_of_day", Int64),
            f("logins", Int64),
        ],
        "last_location" => vec![
            f("org_id", Utf8),
            f("user_id", Utf8),
            f("event_time", ts()),
            f("latitude", Float64),
            f("longitude", Float64),
            f("country_iso", Utf8),
            f("city", Utf8),
            f("source_ip", Utf8),
            f("event_id", Utf8),
        ],
        "hourly_logins" => vec![
            f("org_id", Utf8),
            f("user_id", Utf8),
            f("hour_start", ts()),
            f("logins", Int64),
            f("prior_hours", Int64),
            f("prior_logins", Int64),
        ],
        _ => vec![],
    };
    Arc::new(Schema::new(fields))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(user: &str, t: i64, ip: &str, success: bool) -> FoldRecord {
        FoldRecord {
            org_id: "o".into(),
            user_id: Some(user.into()),
            event_id: format!("{user}-{t}"),
            event_time: t,
            success,
            application: Some("app".into()),
            source_ip: Some(ip.into()),
            country_iso: Some("US".into()),
            city: None,
            latitude: Some(1.0),
            longitude: Some(2.0),
        }
    }

    fn keys(users: &[&str]) -> Keys {
        Keys {
            users: users
                .iter()
                .map(|u| ("o".to_string(), u.to_string()))
                .collect(),
            orgs: ["o".to_string()].into(),
            from: None,
        }
    }

    #[test]
    fn folds_and_materialises_only_requested_keys() {
        let mut b = Baselines::new(StateBounds::default());
        b.fold(&[
            rec("u1", 1000, "1.1.1.1", true),
            rec("u2", 2000, "2.2.2.2", true),
            rec("u1", 3000, "3.3.3.3", false),
        ]);
        let t = b.table("known_ips", &keys(&["u1"]));
        assert_eq!(
            t.num_rows(),
            1,
            "failures are not known IPs; u2 not requested"
        );
        let p = b.table("user_profile", &keys(&["u1", "u2"]));
        assert_eq!(p.num_rows(), 2);
        assert_eq!(b.table("hourly_logins", &keys(&["u1"])).num_rows(), 1);
    }

    #[test]
    fn hourly_logins_carry_the_sums_of_the_hours_before_each_row() {
        let mut b = Baselines::new(StateBounds::default());
        let h = 3_600_000;
        b.fold(&[
            rec("u1", 10, "1.1.1.1", true),
            rec("u1", 20, "1.1.1.1", false),
            rec("u1", h + 5, "1.1.1.1", true),
            rec("u1", 3 * h, "1.1.1.1", true),
            rec("u1", 3 * h + 1, "1.1.1.1", true),
            rec("u1", 3 * h + 2, "1.1.1.1", true),
        ]);
        let all = b.table("hourly_logins", &keys(&["u1"]));
        assert_eq!(all.num_rows(), 3);
        let mut k = keys(&["u1"]);
        k.from = Some(3 * h + 2);
        let t = b.table("hourly_logins", &k);
        assert_eq!(
            t.num_rows(),
            1,
            "only the hour of the first evaluated row onwards"
        );
        let int = |name: &str| {
            t.column_by_name(name)
                .unwrap()
                .as_any()
                .downcast_ref::<arrow::array::Int64Array>()
                .unwrap()
                .value(0)
        };
        assert_eq!(
            (int("logins"), int("prior_hours"), int("prior_logins")),
            (3, 2, 3)
        );
    }

    #[test]
    fn caps_evict_least_recently_seen() {
        let mut b = Baselines::new(StateBounds {
            max_users: 10,
            max_ips_per_user: 2,
            ..StateBounds::default()
        });
        for i in 0..30 {
            b.fold(&[rec(&format!("u{i}"), i * 1000, "1.1.1.1", true)]);
        }
        assert!(b.users.len() <= 10);
        assert!(
            b.users.contains_key(&("o".to_string(), "u29".to_string())),
            "newest kept"
        );
        for i in 0..5 {
            b.fold(&[rec("u29", 100_000 + i, &format!("9.9.9.{i}"), true)]);
        }
        assert_eq!(b.users[&("o".to_string(), "u29".to_string())].ips.len(), 2);
    }

    #[test]
    fn hour_of_week_starts_monday() {
        // 2026-11-02 is a Monday.
        let monday = Utc
            .with_ymd_and_hms(2026, 11, 2, 0, 0, 0)
            .unwrap()
            .timestamp_millis();
        assert_eq!(hour_of_week(monday + 3 * 3_600_000), 3);
        assert_eq!(hour_of_week(monday + 6 * 86_400_000 + 23 * 3_600_000), 167);
    }
}
