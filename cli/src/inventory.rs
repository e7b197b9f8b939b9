//! The inventory of password-based authentication: who still logs in with the OAuth
//! Username-Password flow or SOAP `login()`, through which application, from where, how often.
//!
//! Built incrementally from a stream of [`LoginEvent`]s (bounded memory: one entry per
//! (org, user, application, method), a capped set of IPs each), shared by `scan` and `demo`.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use chrono::{DateTime, NaiveDate, Utc};
use loginwatch_shared::{AuthMethod, LoginEvent, Outcome};
use serde::Serialize;

/// Distinct source IPs remembered per inventory entry; beyond it the count is shown as "≥ cap".
pub const DISTINCT_IP_CAP: usize = 1000;

/// The status Salesforce writes when the org has the flow switched off and a client still tries it.
const FLOW_DISABLED_REASON: &str = "username_password_flow_disabled";

#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub struct InventoryKey {
    pub org_id: String,
    /// Username when known, else the user id, else `(unknown user)`.
    pub user: String,
    pub application: String,
    pub auth_method: AuthMethod,
}

#[derive(Debug, Clone, Serialize)]
pub struct InventoryEntry {
    #[serde(flatten)]
    pub key: InventoryKey,
    pub user_id: Option<String>,
    pub login_type: Option<String>,
    pub api_type: Option<String>,
    pub logins: u64,
    pub successes: u64,
    pub failures: u64,
    /// Failures because the org already refuses the flow ("Username-Password Flow Disabled").
    pub blocked_by_flow_disabled: u64,
    #[serde(skip)]
    ips: BTreeSet<String>,
    /// True when more than [`DISTINCT_IP_CAP`] IPs were seen (then `distinct_ips` is a lower bound).
    pub ips_capped: bool,
    pub countries: BTreeSet<String>,
    pub first_seen: DateTime<Utc>,
    pub last_seen: DateTime<Utc>,
}

impl InventoryEntry {
    pub fn distinct_ips(&self) -> usize {
        self.ips.len()
    }

    /// The first few source IPs (sorted), for examples in reports.
    pub fn sample_ips(&self, n: usize) -> Vec<&str> {
        self.ips.iter().take(n).map(String::as_str).collect()
    }

    pub fn distinct_ips_text(&self) -> String {
        if self.ips_capped {
            format!("≥{}", self.ips.len())
        } else {
            self.ips.len().to_string()
        }
    }

    /// Concrete migration advice for this user and application.
    pub fn advice(&self) -> String {
        let user = &self.key.user;
        let app = &self.key.application;
        let blocked = if self.successes == 0 && self.blocked_by_flow_disabled > 0 {
            " The org already refuses the flow and every attempt failed: find the client still trying it and migrate or decommission it."
        } else {
            ""
        };
        match self.key.auth_method {
            AuthMethod::OauthUsernamePassword => format!(
                "Connected app \"{app}\" signs in as {user} with the OAuth Username-Password flow. Move it to the JWT bearer flow \
                 (certificate on the connected app, assertion with sub={user}) or to client credentials with a dedicated, \
                 minimally-permissioned integration user as run-as user; rotate {user}'s password and security token; then \
                 disable the flow in Setup > OAuth and OpenID Connect Settings.{blocked}"
            ),
            AuthMethod::SoapPassword => {
                let api = self.api_type.as_deref().unwrap_or("SOAP API");
                format!(
                    "{user} calls SOAP login() ({api}, application \"{app}\") with a password. Obtain a session through OAuth instead \
                     (JWT bearer for server-to-server jobs; SOAP clients accept an OAuth access token as session id), run it as a \
                     dedicated integration user with minimal permissions, rotate the password and security token, then disable \
                     SOAP API login() for the org.{blocked}"
                )
            }
            _ => loginwatch_shared::detection::PASSWORD_FLOW_REMEDIATION.to_string(),
        }
    }
}

/// Counts of password-based logins on one UTC day.
#[derive(Debug, Clone, Copy, Default, Serialize, PartialEq, Eq)]
pub struct DayCount {
    pub successes: u64,
    pub failures: u64,
}

/// The whole inventory plus the per-day counts behind the chart.
#[derive(Debug, Clone, Default)]
pub struct Inventory {
    entries: HashMap<InventoryKey, InventoryEntry>,
    per_day: BTreeMap<NaiveDate, DayCount>,
    /// All events seen (password-based or not), by auth method: the context of the inventory.
    by_method: BTreeMap<AuthMethod, u64>,
    events: u64,
    first: Option<DateTime<Utc>>,
    last: Option<DateTime<Utc>>,
}

impl Inventory {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn observe(&mut self, e: &LoginEvent) {
        self.events += 1;
        *self.by_method.entry(e.auth_method).or_default() += 1;
        self.first = Some(self.first.map_or(e.event_time, |f| f.min(e.event_time)));
        self.last = Some(self.last.map_or(e.event_time, |l| l.max(e.event_time)));
        if !e.auth_method.is_password_based() {
            return;
        }
        let day = self.per_day.entry(e.event_time.date_naive()).or_default();
        match e.outcome {
            Outcome::Success => day.successes += 1,
            Outcome::Failure => day.failures += 1,
        }
        let user = e
            .username
            .clone()
            .or_else(|| e.user_id.clone())
            .unwrap_or_else(|| "(unknown user)".into());
        let key = InventoryKey {
            org_id: e.org_id.clone(),
            user,
            application: e.application.clone().unwrap_or_else(|| "N/A".into()),
            auth_method: e.auth_method,
        };
        let entry = self
            .entries
            .entry(key.clone())
            .or_insert_with(|| InventoryEntry {
                key,
                user_id: e.user_id.clone(),
                login_type: e.login_type.clone(),
                api_type: e.api_type.clone(),
                logins: 0,
                successes: 0,
                failures: 0,
                blocked_by_flow_disabled: 0,
                ips: BTreeSet::new(),
                ips_capped: false,
                countries: BTreeSet::new(),
                first_seen: e.event_time,
                last_seen: e.event_time,
            });
        entry.logins += 1;
        match e.outcome {
            Outcome::Success => entry.successes += 1,
            Outcome::Failure => entry.failures += 1,
        }
        if e.failure_reason.as_deref() == Some(FLOW_DISABLED_REASON)
            || e.status
                .as_deref()
                .is_some_and(|s| s.eq_ignore_ascii_case("Username-Password Flow Disabled"))
        {
            entry.blocked_by_flow_disabled += 1;
        }
        if entry.user_id.is_none() {
            entry.user_id = e.user_id.clone();
        }
        if entry.api_type.is_none() {
            entry.api_type = e.api_type.clone();
        }
        if let Some(ip) = &e.source_ip {
            if !entry.ips.contains(ip) {
                if entry.ips.len() < DISTINCT_IP_CAP {
                    entry.ips.insert(ip.clone());
                } else {
                    entry.ips_capped = true;
                }
            }
        }
        if let Some(c) = &e.country_iso {
            if entry.countries.len() < DISTINCT_IP_CAP {
                entry.countries.insert(c.clone());
            }
        }
        entry.first_seen = entry.first_seen.min(e.event_time);
        entry.last_seen = entry.last_seen.max(e.event_time);
    }

    /// Entries, most logins first (then by user and application, so output is stable).
    pub fn entries(&self) -> Vec<&InventoryEntry> {
        let mut v: Vec<&InventoryEntry> = self.entries.values().collect();
        v.sort_by(|a, b| b.logins.cmp(&a.logins).then_with(|| a.key.cmp(&b.key)));
        v
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    pub fn per_day(&self) -> &BTreeMap<NaiveDate, DayCount> {
        &self.per_day
    }

    pub fn by_method(&self) -> &BTreeMap<AuthMethod, u64> {
        &self.by_method
    }

    pub fn events(&self) -> u64 {
        self.events
    }

    pub fn time_range(&self) -> Option<(DateTime<Utc>, DateTime<Utc>)> {
        Some((self.first?, self.last?))
    }

    pub fn password_logins(&self) -> u64 {
        self.entries.values().map(|e| e.logins).sum()
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use chrono::TimeZone;
    use loginwatch_shared::Source;

    pub fn event(
        n: i64,
        method: AuthMethod,
        user: &str,
        app: &str,
        ip: &str,
        ok: bool,
    ) -> LoginEvent {
        let t = Utc.with_ymd_and_hms(2026, 11, 2, 8, 0, 0).unwrap() + chrono::Duration::minutes(n);
        LoginEvent {
            event_id: format!("ev{n}"),
            org_id: "00D000000000001AAA".into(),
            source: Source::LoginHistory,
            event_time: t,
            ingested_at: t,
            user_id: Some("005000000000001AAA".into()),
            username: Some(user.into()),
            login_type: Some("Remote Access 2.0".into()),
            login_sub_type: None,
            auth_method: method,
            status: Some(if ok { "Success" } else { "Invalid Password" }.into()),
            outcome: if ok {
                Outcome::Success
            } else {
                Outcome::Failure
            },
            failure_reason: if ok {
                None
            } else {
                Some("invalid_password".into())
            },
            application: Some(app.into()),
            source_ip: Some(ip.into()),
            country_iso: Some("US".into()),
            city: None,
            latitude: None,
            longitude: None,
            api_type: None,
            api_version: None,
            client_version: None,
            browser: None,
            platform: None,
            login_url: None,
            tls_protocol: None,
            cipher_suite: None,
            login_history_id: None,
            login_key: None,
            user_type: None,
            session_level: None,
        }
    }

    #[test]
    fn counts_only_password_logins_per_user_and_application() {
        let mut inv = Inventory::new();
        inv.observe(&event(
            0,
            AuthMethod::OauthUsernamePassword,
            "etl@acme.com",
            "Legacy ETL",
            "198.51.100.1",
            true,
        ));
        inv.observe(&event(
            1,
            AuthMethod::OauthUsernamePassword,
            "etl@acme.com",
            "Legacy ETL",
            "198.51.100.2",
            false,
        ));
        inv.observe(&event(
            2,
            AuthMethod::OauthUsernamePassword,
            "etl@acme.com",
            "Legacy ETL",
            "198.51.100.1",
            true,
        ));
        inv.observe(&event(
            3,
            AuthMethod::OauthJwtBearer,
            "svc@acme.com",
            "Good App",
            "198.51.100.9",
            true,
        ));
        inv.observe(&event(
            4,
            AuthMethod::SoapPassword,
            "soap@acme.com",
            "N/A",
            "203.0.113.5",
            true,
        ));
        let entries = inv.entries();
        assert_eq!(
            entries.len(),
            2,
            "the JWT bearer login is not password-based"
        );
        let etl = entries[0];
        assert_eq!(
            (etl.logins, etl.successes, etl.failures, etl.distinct_ips()),
            (3, 2, 1, 2)
        );
        assert_eq!(
            etl.first_seen,
            event(0, AuthMethod::Other, "", "", "", true).event_time
        );
        assert_eq!(
            etl.last_seen,
            event(2, AuthMethod::Other, "", "", "", true).event_time
        );
        assert!(etl.advice().contains("JWT bearer") && etl.advice().contains("etl@acme.com"));
        assert!(entries[1].advice().contains("SOAP login()"));
        assert_eq!(inv.events(), 5);
        assert_eq!(inv.password_logins(), 4);
        let day = inv.per_day().values().next().unwrap();
        assert_eq!((day.successes, day.failures), (3, 1));
    }

    #[test]
    fn flow_disabled_failures_change_the_advice() {
        let mut inv = Inventory::new();
        let mut e = event(
            0,
            AuthMethod::OauthUsernamePassword,
            "old@acme.com",
            "Old App",
            "198.51.100.1",
            false,
        );
        e.status = Some("Username-Password Flow Disabled".into());
        inv.observe(&e);
        let entry = inv.entries()[0];
        assert_eq!(entry.blocked_by_flow_disabled, 1);
        assert!(
            entry.advice().contains("already refuses"),
            "{}",
            entry.advice()
        );
    }

    #[test]
    fn distinct_ips_are_capped() {
        let mut inv = Inventory::new();
        for i in 0..(DISTINCT_IP_CAP + 5) {
            let ip = format!("10.{}.{}.{}", i / 65536, (i / 256) % 256, i % 256);
            inv.observe(&event(
                0,
                AuthMethod::SoapPassword,
                "soap@acme.com",
                "N/A",
                &ip,
                true,
            ));
        }
        let entry = inv.entries()[0];
        assert!(entry.ips_capped);
        assert_eq!(entry.distinct_ips(), DISTINCT_IP_CAP);
        assert!(entry.distinct_ips_text().starts_with('≥'));
    }
}
