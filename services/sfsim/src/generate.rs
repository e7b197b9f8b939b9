//! The seeded traffic generator: a simulated org's users, their everyday logins, and injected,
//! labelled incidents covering every detection category of docs/contracts.md.
//!
//! Time advances in slots of an hour (shorter under heavy load). Each slot asks every actor (interactive user or integration) for
//! its logins in that hour and adds the events of incidents that start in it; a heap keeps the
//! output in time order, so the generator streams any number of logins in constant memory
//! (apart from the labels). Everything is drawn from ChaCha8 seeded by the caller: the same seed
//! and [`GenConfig`] give the same logins, ids and labels.

use std::cmp::Ordering;
use std::collections::BinaryHeap;
use std::sync::Arc;

use chrono::{DateTime, Datelike, Duration, TimeZone, Timelike, Utc, Weekday};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use crate::geo::{Place, DATACENTERS, FOREIGN_PLACES, HOME_PLACES};
use crate::ids::make_id;
use crate::model::{status, LoginSubType, LoginType, SimLogin, SimUser, UserKind};

/// What to generate for one org.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GenConfig {
    /// 18-character org id (`00D…`).
    pub org_id: String,
    /// My Domain name: logins go to `<my_domain>.my.salesforce.com`.
    pub my_domain: String,
    /// Time of the first simulated hour (truncated to the hour).
    pub start: DateTime<Utc>,
    /// Interactive (human) users; at least 20 (the spray needs them).
    pub interactive_users: u32,
    /// Integration users; at least 6, one of each kind (JWT bearer, client credentials, refresh
    /// token, password grant allowed, password grant blocked, SOAP "Other Apex API").
    pub integrations: u32,
    /// Days of clean baseline before the first incident.
    pub learning_days: u32,
    /// Minutes between the starts of consecutive incidents.
    pub incident_spacing_mins: u32,
    /// Whether to inject incidents at all.
    pub incidents: bool,
    /// Logins per hour of each JWT / client-credentials / refresh-token integration.
    pub integration_logins_per_hour: f64,
    /// Share of interactive logins preceded by an ordinary "Invalid Password".
    pub failure_rate: f64,
    /// Logins in the login-rate spike before "Login Rate Exceeded" (Salesforce's limit: 3,600/h).
    pub rate_spike_logins: u32,
}

impl GenConfig {
    /// Defaults for an org; `start` as given.
    pub fn new(org_id: &str, my_domain: &str, start: DateTime<Utc>) -> Self {
        GenConfig {
            org_id: org_id.to_string(),
            my_domain: my_domain.to_string(),
            start,
            interactive_users: 40,
            integrations: 6,
            learning_days: 7,
            incident_spacing_mins: 240,
            incidents: true,
            integration_logins_per_hour: 6.0,
            failure_rate: 0.03,
            rate_spike_logins: 3600,
        }
    }

    /// Checks the parts the generator relies on; the message names the key and the fix.
    pub fn validate(&self) -> Result<(), String> {
        if !crate::ids::is_valid_18(&self.org_id) || !self.org_id.starts_with("00D") {
            return Err(format!(
                "org_id `{}` is not an 18-character org id starting with 00D (with a valid checksum suffix)",
                self.org_id
            ));
        }
        if self.my_domain.is_empty()
            || !self
                .my_domain
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-')
        {
            return Err(
                "my_domain must be a non-empty My Domain name of letters, digits and '-'".into(),
            );
        }
        if self.interactive_users < 20 {
            return Err("interactive_users must be at least 20 (the password-spray incident needs 15+ users)".into());
        }
        if self.integrations < 6 {
            return Err("integrations must be at least 6 so every integration kind exists".into());
        }
        if !(0.0..=1.0).contains(&self.failure_rate) {
            return Err("failure_rate must be between 0 and 1".into());
        }
        if !(self.integration_logins_per_hour >= 0.0
            && self.integration_logins_per_hour.is_finite())
        {
            return Err("integration_logins_per_hour must be a finite number >= 0".into());
        }
        Ok(())
    }
}

/// One labelled piece of ground truth: the logins a detector should flag under `category`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Label {
    /// Stable id, e.g. `00D…:inc03:password_spray`.
    pub id: String,
    /// The incident (or ongoing behaviour) this label belongs to.
    pub incident: String,
    /// A docs/contracts.md detection category (`rule.category`).
    pub category: String,
    /// False for secondary signals an incident also produces (e.g. a new country during a brute force).
    pub primary: bool,
    pub org_id: String,
    pub user_id: Option<String>,
    pub username: Option<String>,
    pub source_ip: Option<String>,
    #[serde(with = "loginwatch_shared::time::rfc3339_millis")]
    pub start: DateTime<Utc>,
    #[serde(with = "loginwatch_shared::time::rfc3339_millis")]
    pub end: DateTime<Utc>,
    /// `LoginHistory.Id` of every login involved.
    pub login_history_ids: Vec<String>,
    /// `EventIdentifier` of every login involved (stream / LoginEvent key).
    pub event_identifiers: Vec<String>,
    pub description: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum IntegrationKind {
    JwtBearer,
    ClientCredentials,
    RefreshToken,
    PasswordAllowed,
    PasswordBlocked,
    Soap,
}

const INTEGRATION_KINDS: [IntegrationKind; 6] = [
    IntegrationKind::JwtBearer,
    IntegrationKind::ClientCredentials,
    IntegrationKind::RefreshToken,
    IntegrationKind::PasswordAllowed,
    IntegrationKind::PasswordBlocked,
    IntegrationKind::Soap,
];

impl IntegrationKind {
    fn app(self) -> &'static str {
        match self {
            IntegrationKind::JwtBearer => "MuleSoft Anypoint Connector",
            IntegrationKind::ClientCredentials => "Reporting Warehouse Sync",
            IntegrationKind::RefreshToken => "Marketing Cloud Connect",
            IntegrationKind::PasswordAllowed => "Legacy ETL Connector",
            IntegrationKind::PasswordBlocked => "Old Backup Tool",
            IntegrationKind::Soap => "N/A",
        }
    }

    fn user_stem(self) -> &'static str {
        match self {
            IntegrationKind::JwtBearer => "integration.mulesoft",
            IntegrationKind::ClientCredentials => "integration.warehouse",
            IntegrationKind::RefreshToken => "integration.marketing",
            IntegrationKind::PasswordAllowed => "integration.etl",
            IntegrationKind::PasswordBlocked => "integration.backup",
            IntegrationKind::Soap => "integration.invoices",
        }
    }
}

struct Interactive {
    user: Arc<SimUser>,
    home: Place,
    home_ip: String,
    office_ip: String,
    browser: (&'static str, &'static str, &'static str),
    start_hour: u32,
    end_hour: u32,
    quiet: Vec<(DateTime<Utc>, DateTime<Utc>)>,
}

struct Integration {
    user: Arc<SimUser>,
    kind: IntegrationKind,
    app: Arc<str>,
    dc: Place,
    ips: Vec<String>,
    per_hour: f64,
    quiet: Vec<(DateTime<Utc>, DateTime<Utc>)>,
    ongoing_label: Option<u32>,
}

fn is_quiet(quiet: &[(DateTime<Utc>, DateTime<Utc>)], t: DateTime<Utc>) -> bool {
    quiet.iter().any(|(a, b)| t >= *a && t < *b)
}

/// (browser, platform, user agent) of desktop users.
const BROWSERS: [(&str, &str, &str); 4] = [
    ("Chrome 131", "Windows 10", "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36"),
    ("Chrome 131", "Mac OSX", "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36"),
    ("Firefox 133", "Windows 10", "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:133.0) Gecko/20100101 Firefox/133.0"),
    ("Safari 18", "Mac OSX", "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Safari/605.1.15"),
];
const MOBILE: (&str, &str, &str) = (
    "Unknown",
    "iOS/Mac",
    "SalesforceMobileSDK/12.1.0 iOS/17.5 (iPhone) Salesforce/250.010",
);
const API_CLIENT: (&str, &str, &str) = (
    "Unknown",
    "Unknown",
    "Apache-HttpClient/4.5.14 (Java/17.0.9)",
);
const SCRIPT_CLIENT: (&str, &str, &str) = ("Unknown", "Unknown", "python-requests/2.31.0");

const FIRST_NAMES: [&str; 24] = [
    "ava", "ben", "chloe", "daniel", "emma", "felix", "grace", "hiro", "isla", "jonas", "kavya",
    "liam", "mia", "noah", "olivia", "priya", "quinn", "rafael", "sofia", "tom", "uma", "victor",
    "wen", "yusuf",
];
const LAST_NAMES: [&str; 16] = [
    "adams", "becker", "chen", "dubois", "evans", "fischer", "garcia", "hoffmann", "ito", "jones",
    "kumar", "lopez", "mueller", "nakamura", "okafor", "patel",
];

/// A login being built: everything but the ids, which are assigned in output order.
struct Pending {
    time_ms: i64,
    order: u64,
    login: SimLogin,
}

impl PartialEq for Pending {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}
impl Eq for Pending {}
impl PartialOrd for Pending {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Pending {
    // Reversed: BinaryHeap is a max-heap and we want the earliest first.
    fn cmp(&self, other: &Self) -> Ordering {
        (other.time_ms, other.order).cmp(&(self.time_ms, self.order))
    }
}

enum IncidentKind {
    StolenPasswordGrant { victim: usize, place: Place },
    SoapNewIp,
    PasswordSpray { victims: Vec<usize>, place: Place },
    BruteForce { victim: usize, place: Place },
    FailureFlood,
    ImpossibleTravel { victim: usize, far: Place },
    UnusualHour { victim: usize },
    NewCountry { victim: usize, place: Place },
    NewSourceIp,
    NewApplication { victim: usize },
    LoginRateSpike,
}

struct Incident {
    start: DateTime<Utc>,
    kind: IncidentKind,
    /// Label indexes: [primary, secondary…] in the order the kind's generator uses them.
    labels: Vec<u32>,
}

/// The seeded login generator of one org. Iterate it for logins in time order.
pub struct Generator {
    cfg: GenConfig,
    org_id: Arc<str>,
    login_url: Arc<str>,
    browser_app: Arc<str>,
    mobile_app: Arc<str>,
    pod: String,
    users: Vec<Arc<SimUser>>,
    interactive: Vec<Interactive>,
    integrations: Vec<Integration>,
    incidents: Vec<Incident>,
    labels: Vec<Label>,
    rng: ChaCha8Rng,
    id_rng: ChaCha8Rng,
    heap: BinaryHeap<Pending>,
    generated_until: DateTime<Utc>,
    next_order: u64,
    next_seq: u64,
    /// Overrides the per-hour rate of JWT / client-credentials / refresh-token integrations from
    /// the given time on (live mode's configurable rate).
    rate_override: Option<(DateTime<Utc>, f64)>,
}

impl Generator {
    /// A generator for `cfg`; the same `seed` and `cfg` always give the same output.
    pub fn new(seed: u64, cfg: &GenConfig) -> Result<Generator, String> {
        cfg.validate()?;
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let id_rng = ChaCha8Rng::seed_from_u64(seed ^ 0x05ee_d1d5_u64);
        let start = Utc
            .timestamp_opt(
                cfg.start.timestamp() - cfg.start.timestamp().rem_euclid(3600),
                0,
            )
            .single()
            .ok_or("start is out of range")?;
        let pod = cfg.org_id[3..7].to_string();
        let org_id: Arc<str> = Arc::from(cfg.org_id.as_str());
        let domain = format!("{}.example.com", cfg.my_domain.to_ascii_lowercase());
        let mut users = Vec::new();
        let mut interactive = Vec::new();
        let created = start - Duration::days(400);
        for i in 0..cfg.interactive_users {
            let first = FIRST_NAMES[(i as usize) % FIRST_NAMES.len()];
            let last =
                LAST_NAMES[(i as usize / FIRST_NAMES.len() + i as usize * 7) % LAST_NAMES.len()];
            let user = Arc::new(SimUser {
                user_id: make_id("005", &pod, 10_000 + i as u64),
                username: format!("{first}.{last}{i}@{domain}"),
                name: format!("{} {}", capitalise(first), capitalise(last)),
                kind: UserKind::Interactive,
                user_type: "Standard",
                created,
            });
            let home = HOME_PLACES[rng.gen_range(0..HOME_PLACES.len())];
            let home_ip = home.ip(rng.gen_range(0..60_000));
            let office_ip = home.ip(rng.gen_range(0..60_000));
            users.push(user.clone());
            interactive.push(Interactive {
                user,
                home,
                home_ip,
                office_ip,
                browser: BROWSERS[rng.gen_range(0..BROWSERS.len())],
                start_hour: rng.gen_range(7..10),
                end_hour: rng.gen_range(16..19),
                quiet: Vec::new(),
            });
        }
        let mut labels = Vec::new();
        let mut integrations = Vec::new();
        for i in 0..cfg.integrations {
            let kind = INTEGRATION_KINDS[i as usize % INTEGRATION_KINDS.len()];
            let round = i as usize / INTEGRATION_KINDS.len();
            let suffix = if round == 0 {
                String::new()
            } else {
                format!(" {}", round + 1)
            };
            let app: Arc<str> = if kind == IntegrationKind::Soap {
                Arc::from("N/A")
            } else {
                Arc::from(format!("{}{suffix}", kind.app()))
            };
            let user = Arc::new(SimUser {
                user_id: make_id("005", &pod, 20_000 + i as u64),
                username: format!(
                    "{}{}@{domain}",
                    kind.user_stem(),
                    if round == 0 {
                        String::new()
                    } else {
                        (round + 1).to_string()
                    }
                ),
                name: format!(
                    "Integration {}",
                    kind.user_stem().trim_start_matches("integration.")
                ),
                kind: UserKind::Integration,
                user_type: "Standard",
                created,
            });
            let dc = DATACENTERS[rng.gen_range(0..DATACENTERS.len())];
            let n_ips = rng.gen_range(1..=2);
            let ips = (0..n_ips)
                .map(|_| dc.ip(rng.gen_range(0..30_000)))
                .collect();
            let per_hour = match kind {
                IntegrationKind::JwtBearer
                | IntegrationKind::ClientCredentials
                | IntegrationKind::RefreshToken => cfg.integration_logins_per_hour,
                IntegrationKind::PasswordAllowed | IntegrationKind::Soap => 2.0,
                IntegrationKind::PasswordBlocked => 1.0,
            };
            let ongoing_label = match kind {
                IntegrationKind::PasswordAllowed | IntegrationKind::PasswordBlocked => Some(push_label(
                    &mut labels,
                    &cfg.org_id,
                    &format!("ongoing-{}", user.username.split('@').next().unwrap_or("")),
                    "oauth_username_password",
                    true,
                    Some(&user),
                    None,
                    start,
                    format!(
                        "Integration user {} authenticates with the OAuth Username-Password flow through connected app \"{}\"{}; migrate it to JWT bearer or client credentials.",
                        user.username,
                        app,
                        if kind == IntegrationKind::PasswordBlocked { " and is blocked (\"Username-Password Flow Disabled\")" } else { "" }
                    ),
                )),
                IntegrationKind::Soap => Some(push_label(
                    &mut labels,
                    &cfg.org_id,
                    &format!("ongoing-{}", user.username.split('@').next().unwrap_or("")),
                    "soap_password_login",
                    true,
                    Some(&user),
                    None,
                    start,
                    format!(
                        "Integration user {} logs in with SOAP login() (Other Apex API, SOAP Partner, Application N/A): a password crosses the wire.",
                        user.username
                    ),
                )),
                _ => None,
            };
            users.push(user.clone());
            integrations.push(Integration {
                user,
                kind,
                app,
                dc,
                ips,
                per_hour,
                quiet: Vec::new(),
                ongoing_label,
            });
        }
        let mut gen = Generator {
            org_id,
            login_url: Arc::from(format!(
                "{}.my.salesforce.com",
                cfg.my_domain.to_ascii_lowercase()
            )),
            browser_app: Arc::from("Browser"),
            mobile_app: Arc::from("Salesforce for iOS"),
            pod,
            users,
            interactive,
            integrations,
            incidents: Vec::new(),
            labels,
            rng,
            id_rng,
            heap: BinaryHeap::new(),
            generated_until: start,
            next_order: 0,
            next_seq: 0,
            rate_override: None,
            cfg: GenConfig {
                start,
                ..cfg.clone()
            },
        };
        if cfg.incidents {
            gen.plan_incidents();
        }
        Ok(gen)
    }

    /// Every user of the org (interactive first, then integrations).
    pub fn users(&self) -> &[Arc<SimUser>] {
        &self.users
    }

    /// Labels of the incidents emitted so far (those with at least one login), ids filled in.
    pub fn labels(&self) -> Vec<Label> {
        self.labels
            .iter()
            .filter(|l| !l.login_history_ids.is_empty())
            .cloned()
            .collect()
    }

    /// When the first incident starts (the end of the learning period).
    pub fn learning_end(&self) -> DateTime<Utc> {
        self.cfg.start + Duration::days(self.cfg.learning_days as i64)
    }

    pub fn config(&self) -> &GenConfig {
        &self.cfg
    }

    /// From `from` on, JWT / client-credentials / refresh-token integrations log in at
    /// `total_per_sec` logins per second between them (live mode's rate).
    pub fn set_rate_from(&mut self, from: DateTime<Utc>, total_per_sec: f64) {
        let n = self
            .integrations
            .iter()
            .filter(|i| {
                matches!(
                    i.kind,
                    IntegrationKind::JwtBearer
                        | IntegrationKind::ClientCredentials
                        | IntegrationKind::RefreshToken
                )
            })
            .count()
            .max(1);
        self.rate_override = Some((from, total_per_sec * 3600.0 / n as f64));
    }

    /// The next login, if its time is before `until`; generates more hours as needed.
    pub fn next_before(&mut self, until: DateTime<Utc>) -> Option<SimLogin> {
        loop {
            if let Some(top) = self.heap.peek() {
                if top.time_ms < self.generated_until.timestamp_millis() {
                    if top.time_ms >= until.timestamp_millis() {
                        return None;
                    }
                    let p = self.heap.pop().expect("peeked");
                    return Some(self.finish(p.login));
                }
            }
            if self.generated_until >= until {
                return None;
            }
            self.generate_slot();
        }
    }

    fn finish(&mut self, mut login: SimLogin) -> SimLogin {
        let seq = self.next_seq;
        self.next_seq += 1;
        login.seq = seq;
        login.login_history_id = make_id("0Ya", &self.pod, 1_000_000 + seq);
        login.login_geo_id = make_id("04F", &self.pod, 1_000_000 + seq);
        login.event_identifier = uuid::Builder::from_random_bytes(self.id_rng.gen())
            .into_uuid()
            .to_string();
        login.event_uuid = uuid::Builder::from_random_bytes(self.id_rng.gen())
            .into_uuid()
            .to_string();
        login.login_key = random_token(&mut self.id_rng, 16, false);
        login.request_id = random_token(&mut self.id_rng, 22, true);
        login.created_delay_ms = self.id_rng.gen_range(200..9_000);
        for &l in &login.labels {
            let label = &mut self.labels[l as usize];
            if label.login_history_ids.is_empty() || login.time < label.start {
                label.start = login.time;
            }
            if label.login_history_ids.is_empty() || login.time > label.end {
                label.end = login.time;
            }
            label.login_history_ids.push(login.login_history_id.clone());
            label.event_identifiers.push(login.event_identifier.clone());
        }
        login
    }

    fn push(&mut self, login: SimLogin) {
        let order = self.next_order;
        self.next_order += 1;
        self.heap.push(Pending {
            time_ms: login.time.timestamp_millis(),
            order,
            login,
        });
    }

    #[allow(clippy::too_many_arguments)]
    fn login(
        &self,
        time: DateTime<Utc>,
        user: &Arc<SimUser>,
        login_type: LoginType,
        sub_type: Option<LoginSubType>,
        status: &'static str,
        application: Arc<str>,
        source_ip: String,
        place: Place,
        client: (&'static str, &'static str, &'static str),
    ) -> SimLogin {
        let (api_type, api_version, uri, http_method) = match login_type {
            LoginType::Application => (None, None, "/index.jsp", "POST"),
            LoginType::RemoteAccess2 => (None, None, "/services/oauth2/token", "POST"),
            LoginType::OtherApex => (
                Some("SOAP Partner"),
                Some("52.0"),
                "/services/Soap/u/52.0",
                "POST",
            ),
        };
        let tls13 = (time.timestamp() / 7) % 5 == 0;
        SimLogin {
            seq: 0,
            org_id: self.org_id.clone(),
            login_history_id: String::new(),
            login_geo_id: String::new(),
            event_identifier: String::new(),
            event_uuid: String::new(),
            login_key: String::new(),
            request_id: String::new(),
            time,
            created_delay_ms: 0,
            user: user.clone(),
            login_type,
            sub_type,
            status,
            application,
            source_ip,
            place,
            browser: client.0,
            platform: client.1,
            user_agent: client.2,
            api_type,
            api_version,
            login_url: self.login_url.clone(),
            tls_protocol: if tls13 { "TLS 1.3" } else { "TLS 1.2" },
            cipher_suite: if tls13 {
                "TLS_AES_256_GCM_SHA384"
            } else {
                "ECDHE-RSA-AES256-GCM-SHA384"
            },
            http_method,
            uri,
            labels: Vec::new(),
        }
    }

    fn random_second(&mut self, slot: DateTime<Utc>, len_secs: i64) -> DateTime<Utc> {
        slot + Duration::seconds(self.rng.gen_range(0..len_secs))
    }

    /// Per-hour rate of integration `i` at time `t`.
    fn integration_rate(&self, i: usize, t: DateTime<Utc>) -> f64 {
        let integ = &self.integrations[i];
        match self.rate_override {
            Some((from, rate))
                if t >= from
                    && matches!(
                        integ.kind,
                        IntegrationKind::JwtBearer
                            | IntegrationKind::ClientCredentials
                            | IntegrationKind::RefreshToken
                    ) =>
            {
                rate
            }
            _ => integ.per_hour,
        }
    }

    /// Slots are an hour long, shorter under heavy load so one slot holds about 20,000 logins
    /// (memory stays flat at 50,000 logins/s).
    fn slot_secs(&self, t: DateTime<Utc>) -> i64 {
        let total: f64 = (0..self.integrations.len())
            .map(|i| self.integration_rate(i, t))
            .sum();
        if total <= 20_000.0 {
            return 3600;
        }
        let secs = (3600.0 * 20_000.0 / total) as i64;
        // A divisor of 3600 keeps slots aligned to the hour.
        [
            3600, 1800, 1200, 900, 600, 300, 120, 60, 30, 20, 10, 5, 2, 1,
        ]
        .into_iter()
        .find(|d| *d <= secs.max(1))
        .unwrap_or(1)
    }

    fn generate_slot(&mut self) {
        let hour = self.generated_until;
        let len = self.slot_secs(hour);
        let end = hour + Duration::seconds(len);
        let slot_share = len as f64 / 3600.0;
        // Interactive users: working hours in their own time zone.
        for i in 0..self.interactive.len() {
            let (tz, start_h, end_h) = {
                let u = &self.interactive[i];
                (u.home.tz, u.start_hour, u.end_hour)
            };
            let local = hour.with_timezone(&tz);
            let weekend = matches!(local.weekday(), Weekday::Sat | Weekday::Sun);
            let h = local.hour();
            let p = if !weekend && h >= start_h && h < end_h {
                0.3
            } else if weekend && (10..16).contains(&h) {
                0.01
            } else {
                0.0
            };
            if p == 0.0 || !self.rng.gen_bool(p * slot_share) {
                continue;
            }
            let t = self.random_second(hour, len);
            if is_quiet(&self.interactive[i].quiet, t) {
                continue;
            }
            let mobile = self.rng.gen_bool(0.12);
            let at_office = self.rng.gen_bool(0.6);
            let fail_first = self.rng.gen_bool(self.cfg.failure_rate);
            let u = &self.interactive[i];
            let (user, home, ip) = (
                u.user.clone(),
                u.home,
                if at_office {
                    u.office_ip.clone()
                } else {
                    u.home_ip.clone()
                },
            );
            let browser = u.browser;
            if mobile {
                let login = self.login(
                    t,
                    &user,
                    LoginType::RemoteAccess2,
                    Some(LoginSubType::OauthRefreshToken),
                    status::SUCCESS,
                    self.mobile_app.clone(),
                    self.interactive[i].home_ip.clone(),
                    home,
                    MOBILE,
                );
                self.push(login);
                continue;
            }
            if fail_first {
                let before = t - Duration::seconds(self.rng.gen_range(15..90));
                let login = self.login(
                    before,
                    &user,
                    LoginType::Application,
                    Some(LoginSubType::UiUsernamePassword),
                    status::INVALID_PASSWORD,
                    self.browser_app.clone(),
                    ip.clone(),
                    home,
                    browser,
                );
                self.push(login);
            }
            let login = self.login(
                t,
                &user,
                LoginType::Application,
                Some(LoginSubType::UiUsernamePassword),
                status::SUCCESS,
                self.browser_app.clone(),
                ip,
                home,
                browser,
            );
            self.push(login);
        }
        // Integrations: around the clock.
        for i in 0..self.integrations.len() {
            let kind = self.integrations[i].kind;
            let per_hour = self.integration_rate(i, hour);
            let n = poisson(&mut self.rng, per_hour * slot_share);
            for _ in 0..n {
                let t = if per_hour > 3600.0 {
                    hour + Duration::milliseconds(self.rng.gen_range(0..len * 1000))
                } else {
                    self.random_second(hour, len)
                };
                if is_quiet(&self.integrations[i].quiet, t) {
                    continue;
                }
                let integ = &self.integrations[i];
                let ip = integ.ips[self.rng.gen_range(0..integ.ips.len())].clone();
                let (user, app, dc, label) = (
                    integ.user.clone(),
                    integ.app.clone(),
                    integ.dc,
                    integ.ongoing_label,
                );
                let (lt, st, status) = match kind {
                    IntegrationKind::JwtBearer => (LoginType::RemoteAccess2, None, status::SUCCESS),
                    IntegrationKind::ClientCredentials => (
                        LoginType::RemoteAccess2,
                        Some(LoginSubType::OauthClientCredentials),
                        status::SUCCESS,
                    ),
                    IntegrationKind::RefreshToken => (
                        LoginType::RemoteAccess2,
                        Some(LoginSubType::OauthRefreshToken),
                        status::SUCCESS,
                    ),
                    IntegrationKind::PasswordAllowed => {
                        let s = if self.rng.gen_bool(0.01) {
                            status::INVALID_PASSWORD
                        } else {
                            status::SUCCESS
                        };
                        (
                            LoginType::RemoteAccess2,
                            Some(LoginSubType::OauthUsernamePassword),
                            s,
                        )
                    }
                    IntegrationKind::PasswordBlocked => (
                        LoginType::RemoteAccess2,
                        Some(LoginSubType::OauthUsernamePassword),
                        status::UN_PW_FLOW_DISABLED,
                    ),
                    IntegrationKind::Soap => (LoginType::OtherApex, None, status::SUCCESS),
                };
                let mut login = self.login(t, &user, lt, st, status, app, ip, dc, API_CLIENT);
                login.labels.extend(label);
                self.push(login);
            }
        }
        // Incidents starting in this hour.
        let starting: Vec<usize> = (0..self.incidents.len())
            .filter(|&k| self.incidents[k].start >= hour && self.incidents[k].start < end)
            .collect();
        for k in starting {
            self.run_incident(k);
        }
        self.generated_until = end;
    }

    fn plan_incidents(&mut self) {
        let org = self.cfg.org_id.clone();
        let spacing = Duration::minutes(self.cfg.incident_spacing_mins.max(1) as i64);
        let mut at = self.learning_end();
        let n = self.interactive.len();
        // Distinct victims, drawn once.
        let mut order: Vec<usize> = (0..n).collect();
        for i in (1..n).rev() {
            let j = self.rng.gen_range(0..=i);
            order.swap(i, j);
        }
        let mut victims = order.into_iter();
        let mut next_victim = || {
            victims
                .next()
                .expect("interactive_users >= 20 gives enough victims")
        };
        let integration_of = |g: &Generator, kind: IntegrationKind| {
            g.integrations
                .iter()
                .position(|i| i.kind == kind)
                .expect("validate() guarantees every kind")
        };
        let foreign = |k: usize| FOREIGN_PLACES[k % FOREIGN_PLACES.len()];
        let mut plans: Vec<(DateTime<Utc>, IncidentKind)> = Vec::new();
        let mut take = |kind: IncidentKind, at: &mut DateTime<Utc>| {
            plans.push((*at, kind));
            *at += spacing;
        };
        take(
            IncidentKind::StolenPasswordGrant {
                victim: next_victim(),
                place: foreign(0),
            },
            &mut at,
        );
        take(IncidentKind::SoapNewIp, &mut at);
        take(
            IncidentKind::PasswordSpray {
                victims: Vec::new(),
                place: foreign(1),
            },
            &mut at,
        );
        take(
            IncidentKind::BruteForce {
                victim: next_victim(),
                place: foreign(2),
            },
            &mut at,
        );
        take(IncidentKind::FailureFlood, &mut at);
        take(
            IncidentKind::ImpossibleTravel {
                victim: next_victim(),
                far: foreign(3),
            },
            &mut at,
        );
        take(
            IncidentKind::UnusualHour {
                victim: next_victim(),
            },
            &mut at,
        );
        take(
            IncidentKind::NewCountry {
                victim: next_victim(),
                place: foreign(4),
            },
            &mut at,
        );
        take(IncidentKind::NewSourceIp, &mut at);
        take(
            IncidentKind::NewApplication {
                victim: next_victim(),
            },
            &mut at,
        );
        take(IncidentKind::LoginRateSpike, &mut at);

        for (idx, (planned, mut kind)) in plans.into_iter().enumerate() {
            let inc = format!("inc{:02}", idx + 1);
            let mut labels = Vec::new();
            let mut label = |g: &mut Generator,
                             cat: &str,
                             primary: bool,
                             user: Option<Arc<SimUser>>,
                             ip: Option<String>,
                             desc: String| {
                let l = push_label(
                    &mut g.labels,
                    &org,
                    &inc,
                    cat,
                    primary,
                    user.as_ref(),
                    ip,
                    planned,
                    desc,
                );
                labels.push(l);
            };
            let quiet_user = |g: &mut Generator, v: usize, t: DateTime<Utc>| {
                g.interactive[v]
                    .quiet
                    .push((t - Duration::hours(24), t + Duration::hours(48)));
            };
            let working =
                |g: &Generator, v: usize| next_working_time(planned, g.interactive[v].home.tz);
            let start;
            match &mut kind {
                IncidentKind::StolenPasswordGrant { victim, place } => {
                    start = working(self, *victim);
                    quiet_user(self, *victim, start);
                    let u = self.interactive[*victim].user.clone();
                    let ip = place.ip(7);
                    label(self, "oauth_username_password", true, Some(u.clone()), Some(ip.clone()), format!(
                        "Stolen credential: {}'s password used through the OAuth Username-Password flow (connected app \"{}\") from {} ({}), a country the user never logged in from.",
                        u.username, IntegrationKind::PasswordAllowed.app(), ip, place.country));
                    label(
                        self,
                        "new_country",
                        false,
                        Some(u.clone()),
                        Some(ip.clone()),
                        format!(
                            "{} logged in from {} for the first time.",
                            u.username, place.country
                        ),
                    );
                    label(
                        self,
                        "new_source_ip",
                        false,
                        Some(u),
                        Some(ip),
                        "API login from an IP never seen for this user and application.".into(),
                    );
                }
                IncidentKind::SoapNewIp => {
                    start = planned;
                    let k = integration_of(self, IntegrationKind::Soap);
                    let integ = &self.integrations[k];
                    let (u, ip) = (integ.user.clone(), integ.dc.ip(30_500));
                    label(
                        self,
                        "soap_password_login",
                        true,
                        Some(u.clone()),
                        Some(ip.clone()),
                        format!(
                            "SOAP login() (Other Apex API) for {} from a new IP {}.",
                            u.username, ip
                        ),
                    );
                    label(
                        self,
                        "new_source_ip",
                        false,
                        Some(u),
                        Some(ip),
                        "SOAP API login from an IP never seen for this user and application."
                            .into(),
                    );
                }
                IncidentKind::PasswordSpray { victims, place } => {
                    start = planned;
                    let mut pool: Vec<usize> = (0..n).collect();
                    for i in (1..n).rev() {
                        let j = self.rng.gen_range(0..=i);
                        pool.swap(i, j);
                    }
                    victims.extend(pool.into_iter().take(20));
                    let ip = place.ip(99);
                    label(self, "password_spray", true, None, Some(ip.clone()), format!(
                        "Password spray: {} distinct users failed with \"Invalid Password\" from {} ({}) within 4 minutes.", victims.len(), ip, place.country));
                }
                IncidentKind::BruteForce { victim, place } => {
                    start = working(self, *victim);
                    quiet_user(self, *victim, start);
                    let u = self.interactive[*victim].user.clone();
                    let ip = place.ip(55);
                    label(self, "brute_force", true, Some(u.clone()), Some(ip.clone()), format!(
                        "Brute force: 12 \"Invalid Password\" failures for {} from {} in 10 minutes, then a success.", u.username, ip));
                    label(self, "new_country", false, Some(u), Some(ip), format!("The brute-forced login succeeded from {}, a country never seen for the user.", place.country));
                }
                IncidentKind::FailureFlood => {
                    start = planned;
                    let k = integration_of(self, IntegrationKind::PasswordAllowed);
                    self.integrations[k]
                        .quiet
                        .push((start, start + Duration::minutes(61)));
                    let integ = &self.integrations[k];
                    let (u, ip) = (integ.user.clone(), integ.ips[0].clone());
                    label(self, "brute_force", true, Some(u.clone()), Some(ip), format!(
                        "Failure flood after a password rotation: {} kept failing (\"Invalid Password\", then \"Failed: API security token required\") every 2 minutes for an hour.", u.username));
                }
                IncidentKind::ImpossibleTravel { victim, far } => {
                    start = working(self, *victim);
                    quiet_user(self, *victim, start);
                    let v = &self.interactive[*victim];
                    let (u, home) = (v.user.clone(), v.home);
                    let ip = far.ip(31);
                    label(self, "impossible_travel", true, Some(u.clone()), Some(ip.clone()), format!(
                        "Impossible travel: {} logged in from {} and 40 minutes later from {} ({:.0} km).", u.username, home.city, far.city, home.distance_km(far)));
                    label(
                        self,
                        "new_country",
                        false,
                        Some(u),
                        Some(ip),
                        format!(
                            "Success from {}, a country never seen for the user.",
                            far.country
                        ),
                    );
                }
                IncidentKind::UnusualHour { victim } => {
                    let tz = self.interactive[*victim].home.tz;
                    start = next_local_hour(planned, tz, 3);
                    quiet_user(self, *victim, start);
                    let u = self.interactive[*victim].user.clone();
                    let ip = self.interactive[*victim].home_ip.clone();
                    label(self, "unusual_hour", true, Some(u.clone()), Some(ip), format!(
                        "{} logged in at 03:xx local time, an hour of the week with no previous logins.", u.username));
                }
                IncidentKind::NewCountry { victim, place } => {
                    start = working(self, *victim);
                    quiet_user(self, *victim, start);
                    let u = self.interactive[*victim].user.clone();
                    let ip = place.ip(12);
                    label(self, "new_country", true, Some(u.clone()), Some(ip), format!(
                        "{} logged in from {} for the first time (no login in the 24 h before or 48 h after).", u.username, place.country));
                }
                IncidentKind::NewSourceIp => {
                    start = planned;
                    let k = integration_of(self, IntegrationKind::JwtBearer);
                    let integ = &self.integrations[k];
                    let (u, ip) = (integ.user.clone(), integ.dc.ip(31_000));
                    label(self, "new_source_ip", true, Some(u.clone()), Some(ip.clone()), format!(
                        "JWT bearer integration {} logged in from a new IP {} (same data centre, never seen before).", u.username, ip));
                }
                IncidentKind::NewApplication { victim } => {
                    start = working(self, *victim);
                    quiet_user(self, *victim, start);
                    let u = self.interactive[*victim].user.clone();
                    let ip = self.interactive[*victim].home_ip.clone();
                    label(self, "new_application", true, Some(u.clone()), Some(ip.clone()), format!(
                        "Connected app \"Shadow Sync Tool\", never seen in the org, authorised by {}.", u.username));
                    label(
                        self,
                        "new_source_ip",
                        false,
                        Some(u),
                        Some(ip),
                        "First API login for this user and application.".into(),
                    );
                }
                IncidentKind::LoginRateSpike => {
                    start = planned;
                    let k = integration_of(self, IntegrationKind::ClientCredentials);
                    self.integrations[k]
                        .quiet
                        .push((start - Duration::hours(1), start + Duration::hours(2)));
                    let integ = &self.integrations[k];
                    let (u, ip) = (integ.user.clone(), integ.ips[0].clone());
                    label(self, "login_rate_spike", true, Some(u.clone()), Some(ip), format!(
                        "Login-rate spike: {} logged in {} times within an hour, ending in \"Login Rate Exceeded\".", u.username, self.cfg.rate_spike_logins));
                }
            }
            self.incidents.push(Incident {
                start,
                kind,
                labels,
            });
        }
    }

    fn run_incident(&mut self, k: usize) {
        let start = self.incidents[k].start;
        let labels = self.incidents[k].labels.clone();
        let kind = std::mem::replace(&mut self.incidents[k].kind, IncidentKind::SoapNewIp);
        let all = |n: usize| labels[..n].to_vec();
        match &kind {
            IncidentKind::StolenPasswordGrant { victim, place } => {
                let u = self.interactive[*victim].user.clone();
                let ip = place.ip(7);
                let app: Arc<str> = Arc::from(IntegrationKind::PasswordAllowed.app());
                let mut l = self.login(
                    start,
                    &u,
                    LoginType::RemoteAccess2,
                    Some(LoginSubType::OauthUsernamePassword),
                    status::SUCCESS,
                    app,
                    ip,
                    *place,
                    SCRIPT_CLIENT,
                );
                l.labels = all(3);
                self.push(l);
            }
            IncidentKind::SoapNewIp => {
                let kk = self
                    .integrations
                    .iter()
                    .position(|i| i.kind == IntegrationKind::Soap)
                    .expect("soap integration");
                let (u, dc) = (self.integrations[kk].user.clone(), self.integrations[kk].dc);
                for m in 0..3 {
                    let mut l = self.login(
                        start + Duration::minutes(m * 20),
                        &u,
                        LoginType::OtherApex,
                        None,
                        status::SUCCESS,
                        Arc::from("N/A"),
                        dc.ip(30_500),
                        dc,
                        API_CLIENT,
                    );
                    // Also part of the ongoing SOAP label.
                    l.labels = all(2);
                    l.labels.extend(self.integrations[kk].ongoing_label);
                    self.push(l);
                }
            }
            IncidentKind::PasswordSpray { victims, place } => {
                let ip = place.ip(99);
                for (j, &v) in victims.iter().enumerate() {
                    let u = self.interactive[v].user.clone();
                    let t = start + Duration::seconds(j as i64 * 11 + self.rng.gen_range(0..5));
                    let mut l = self.login(
                        t,
                        &u,
                        LoginType::Application,
                        Some(LoginSubType::UiUsernamePassword),
                        status::INVALID_PASSWORD,
                        self.browser_app.clone(),
                        ip.clone(),
                        *place,
                        SCRIPT_CLIENT,
                    );
                    l.labels = all(1);
                    self.push(l);
                }
            }
            IncidentKind::BruteForce { victim, place } => {
                let u = self.interactive[*victim].user.clone();
                let ip = place.ip(55);
                for j in 0..12 {
                    let mut l = self.login(
                        start + Duration::seconds(j * 50),
                        &u,
                        LoginType::Application,
                        Some(LoginSubType::UiUsernamePassword),
                        status::INVALID_PASSWORD,
                        self.browser_app.clone(),
                        ip.clone(),
                        *place,
                        SCRIPT_CLIENT,
                    );
                    l.labels = all(1);
                    self.push(l);
                }
                let mut l = self.login(
                    start + Duration::seconds(620),
                    &u,
                    LoginType::Application,
                    Some(LoginSubType::UiUsernamePassword),
                    status::SUCCESS,
                    self.browser_app.clone(),
                    ip,
                    *place,
                    SCRIPT_CLIENT,
                );
                l.labels = all(2);
                self.push(l);
            }
            IncidentKind::FailureFlood => {
                let kk = self
                    .integrations
                    .iter()
                    .position(|i| i.kind == IntegrationKind::PasswordAllowed)
                    .expect("password integration");
                let integ = &self.integrations[kk];
                let (u, app, ip, dc, ongoing) = (
                    integ.user.clone(),
                    integ.app.clone(),
                    integ.ips[0].clone(),
                    integ.dc,
                    integ.ongoing_label,
                );
                for j in 0..30 {
                    let st = if j < 18 {
                        status::INVALID_PASSWORD
                    } else {
                        status::API_TOKEN_REQUIRED
                    };
                    let mut l = self.login(
                        start + Duration::seconds(j * 120),
                        &u,
                        LoginType::RemoteAccess2,
                        Some(LoginSubType::OauthUsernamePassword),
                        st,
                        app.clone(),
                        ip.clone(),
                        dc,
                        API_CLIENT,
                    );
                    l.labels = all(1);
                    l.labels.extend(ongoing);
                    self.push(l);
                }
            }
            IncidentKind::ImpossibleTravel { victim, far } => {
                let v = &self.interactive[*victim];
                let (u, home, home_ip, browser) =
                    (v.user.clone(), v.home, v.office_ip.clone(), v.browser);
                let mut a = self.login(
                    start,
                    &u,
                    LoginType::Application,
                    Some(LoginSubType::UiUsernamePassword),
                    status::SUCCESS,
                    self.browser_app.clone(),
                    home_ip,
                    home,
                    browser,
                );
                a.labels = all(1);
                self.push(a);
                let mut b = self.login(
                    start + Duration::minutes(40),
                    &u,
                    LoginType::Application,
                    Some(LoginSubType::UiUsernamePassword),
                    status::SUCCESS,
                    self.browser_app.clone(),
                    far.ip(31),
                    *far,
                    browser,
                );
                b.labels = all(2);
                self.push(b);
            }
            IncidentKind::UnusualHour { victim } => {
                let v = &self.interactive[*victim];
                let (u, home, ip, browser) = (v.user.clone(), v.home, v.home_ip.clone(), v.browser);
                let mut l = self.login(
                    start,
                    &u,
                    LoginType::Application,
                    Some(LoginSubType::UiUsernamePassword),
                    status::SUCCESS,
                    self.browser_app.clone(),
                    ip,
                    home,
                    browser,
                );
                l.labels = all(1);
                self.push(l);
            }
            IncidentKind::NewCountry { victim, place } => {
                let v = &self.interactive[*victim];
                let (u, browser) = (v.user.clone(), v.browser);
                let mut l = self.login(
                    start,
                    &u,
                    LoginType::Application,
                    Some(LoginSubType::UiUsernamePassword),
                    status::SUCCESS,
                    self.browser_app.clone(),
                    place.ip(12),
                    *place,
                    browser,
                );
                l.labels = all(1);
                self.push(l);
            }
            IncidentKind::NewSourceIp => {
                let kk = self
                    .integrations
                    .iter()
                    .position(|i| i.kind == IntegrationKind::JwtBearer)
                    .expect("jwt integration");
                let integ = &self.integrations[kk];
                let (u, app, dc) = (integ.user.clone(), integ.app.clone(), integ.dc);
                for m in 0..2 {
                    let mut l = self.login(
                        start + Duration::minutes(m * 15),
                        &u,
                        LoginType::RemoteAccess2,
                        None,
                        status::SUCCESS,
                        app.clone(),
                        dc.ip(31_000),
                        dc,
                        API_CLIENT,
                    );
                    l.labels = all(1);
                    self.push(l);
                }
            }
            IncidentKind::NewApplication { victim } => {
                let v = &self.interactive[*victim];
                let (u, home, ip) = (v.user.clone(), v.home, v.home_ip.clone());
                let mut l = self.login(
                    start,
                    &u,
                    LoginType::RemoteAccess2,
                    Some(LoginSubType::OauthWebServer),
                    status::SUCCESS,
                    Arc::from("Shadow Sync Tool"),
                    ip,
                    home,
                    SCRIPT_CLIENT,
                );
                l.labels = all(2);
                self.push(l);
            }
            IncidentKind::LoginRateSpike => {
                let kk = self
                    .integrations
                    .iter()
                    .position(|i| i.kind == IntegrationKind::ClientCredentials)
                    .expect("client credentials integration");
                let integ = &self.integrations[kk];
                let (u, app, ip, dc) = (
                    integ.user.clone(),
                    integ.app.clone(),
                    integ.ips[0].clone(),
                    integ.dc,
                );
                let n = self.cfg.rate_spike_logins.max(1) as i64;
                // Spread over 50 minutes; several per second share a LoginTime, like real bursts.
                for j in 0..n {
                    let t = start + Duration::seconds(j * 3000 / n);
                    let mut l = self.login(
                        t,
                        &u,
                        LoginType::RemoteAccess2,
                        Some(LoginSubType::OauthClientCredentials),
                        status::SUCCESS,
                        app.clone(),
                        ip.clone(),
                        dc,
                        API_CLIENT,
                    );
                    l.labels = all(1);
                    self.push(l);
                }
                // Rate limiting writes few rows (reference §1): three, 20 s apart.
                for j in 0..3 {
                    let t = start + Duration::seconds(3000 + j * 20);
                    let mut l = self.login(
                        t,
                        &u,
                        LoginType::RemoteAccess2,
                        Some(LoginSubType::OauthClientCredentials),
                        status::RATE_EXCEEDED,
                        app.clone(),
                        ip.clone(),
                        dc,
                        API_CLIENT,
                    );
                    l.labels = all(1);
                    self.push(l);
                }
            }
        }
        self.incidents[k].kind = kind;
    }
}

impl Iterator for Generator {
    type Item = SimLogin;

    /// Logins without end (time keeps advancing).
    fn next(&mut self) -> Option<SimLogin> {
        self.next_before(DateTime::<Utc>::MAX_UTC)
    }
}

#[allow(clippy::too_many_arguments)]
fn push_label(
    labels: &mut Vec<Label>,
    org_id: &str,
    incident: &str,
    category: &str,
    primary: bool,
    user: Option<&Arc<SimUser>>,
    source_ip: Option<String>,
    start: DateTime<Utc>,
    description: String,
) -> u32 {
    labels.push(Label {
        id: format!("{org_id}:{incident}:{category}"),
        incident: incident.to_string(),
        category: category.to_string(),
        primary,
        org_id: org_id.to_string(),
        user_id: user.map(|u| u.user_id.clone()),
        username: user.map(|u| u.username.clone()),
        source_ip,
        start,
        end: start,
        login_history_ids: Vec::new(),
        event_identifiers: Vec::new(),
        description,
    });
    (labels.len() - 1) as u32
}

fn capitalise(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_uppercase().chain(c).collect(),
        None => String::new(),
    }
}

/// The first time at or after `t` (whole hour + 17 min) that is a weekday between 10:00 and
/// 15:59 in `tz`: incidents on humans happen in working hours, so they do not also look unusual.
fn next_working_time(t: DateTime<Utc>, tz: chrono_tz::Tz) -> DateTime<Utc> {
    let mut c = t;
    for _ in 0..24 * 8 {
        let local = c.with_timezone(&tz);
        if !matches!(local.weekday(), Weekday::Sat | Weekday::Sun)
            && (10..16).contains(&local.hour())
        {
            return c;
        }
        c = c - Duration::minutes(c.minute() as i64) + Duration::hours(1) + Duration::minutes(17);
    }
    t
}

/// The first time at or after `t` whose local hour in `tz` is `hour` (at minute 23).
fn next_local_hour(t: DateTime<Utc>, tz: chrono_tz::Tz, hour: u32) -> DateTime<Utc> {
    let mut c = t - Duration::minutes(t.minute() as i64) + Duration::minutes(23);
    if c < t {
        c += Duration::hours(1);
    }
    for _ in 0..48 {
        if c.with_timezone(&tz).hour() == hour {
            return c;
        }
        c += Duration::hours(1);
    }
    t
}

/// A Poisson draw (Knuth for small means, a normal approximation for large ones).
fn poisson(rng: &mut ChaCha8Rng, mean: f64) -> u64 {
    if mean <= 0.0 {
        return 0;
    }
    if mean < 30.0 {
        let l = (-mean).exp();
        let mut k = 0u64;
        let mut p = 1.0;
        loop {
            p *= rng.gen::<f64>();
            if p <= l {
                return k;
            }
            k += 1;
        }
    }
    let u1: f64 = rng.gen::<f64>().max(f64::MIN_POSITIVE);
    let u2: f64 = rng.gen();
    let z = (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos();
    (mean + z * mean.sqrt()).round().max(0.0) as u64
}

fn random_token(rng: &mut ChaCha8Rng, len: usize, url_safe_extra: bool) -> String {
    const A: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    const B: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let alphabet = if url_safe_extra { B } else { A };
    (0..len)
        .map(|_| alphabet[rng.gen_range(0..alphabet.len())] as char)
        .collect()
}
