//! The simulator's shared state: per-org logins (history + live + recorded API logins), users,
//! labels, stream positions, tokens, query cursors, faults and the simulated clock.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Instant;

use chrono::{DateTime, Duration, Utc};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::config::{Mode, SimConfig};
use crate::faults::{FaultSpec, StandingFaults};
use crate::generate::{Generator, Label};
use crate::model::{SimLogin, SimUser, UserKind};
use crate::render::on_stream;

/// Simulated time: it starts at the end of the history and runs with real elapsed time (replay
/// mode) or `speed` times faster (live mode). Every time the simulator serves, stamps or checks
/// (LoginTime of new logins, `issued_at`, JWT `exp`, the CometD replay window) is read from it,
/// never from the wall clock.
pub struct SimClock(loginwatch_shared::time::Clock);

impl SimClock {
    pub fn new(sim_anchor: DateTime<Utc>, mode: Mode, speed: f64) -> Self {
        let speed = if mode == Mode::Live { speed } else { 1.0 };
        SimClock(loginwatch_shared::time::Clock::starting_at_speed(
            sim_anchor, speed,
        ))
    }

    pub fn now(&self) -> DateTime<Utc> {
        self.0.now()
    }

    pub fn clock(&self) -> loginwatch_shared::time::Clock {
        self.0
    }
}

/// One org's data.
pub struct OrgData {
    pub logins: Vec<SimLogin>,
    /// LoginHistory rows hidden by the late-rows fault: index → query count at which they appear.
    pub hidden: HashMap<usize, u64>,
    /// `(replayId, index into logins)` of every login published on the stream, in publish order.
    pub stream: Vec<(i64, usize)>,
    pub next_replay_id: i64,
    pub users: Vec<Arc<SimUser>>,
    pub labels: Vec<Label>,
    /// `/query` calls so far (drives the late-rows fault).
    pub queries: u64,
    pub recorded: u64,
}

impl OrgData {
    /// Appends logins (history, live or recorded) and publishes the ones the stream carries.
    pub fn append(
        &mut self,
        logins: impl IntoIterator<Item = SimLogin>,
        omit_integration_users: bool,
    ) -> usize {
        let mut n = 0;
        for l in logins {
            let idx = self.logins.len();
            if on_stream(&l, omit_integration_users) {
                // Replay ids grow but are not contiguous (reference §2.4).
                self.next_replay_id += 1 + (idx as i64 % 3);
                self.stream.push((self.next_replay_id, idx));
            }
            self.logins.push(l);
            n += 1;
        }
        n
    }

    pub fn visible(&self, idx: usize) -> bool {
        match self.hidden.get(&idx) {
            Some(&at) => self.queries >= at,
            None => true,
        }
    }

    pub fn user_by_name(&self, username: &str) -> Option<Arc<SimUser>> {
        self.users
            .iter()
            .find(|u| u.username.eq_ignore_ascii_case(username))
            .cloned()
    }
}

pub struct OrgState {
    pub org_id: String,
    pub my_domain: String,
    pub pod: String,
    pub data: RwLock<OrgData>,
    pub generator: Mutex<Generator>,
    pub api_used: AtomicU64,
    /// The user the default client-credentials app runs as, and the JWT bearer user for tests.
    pub api_user: Arc<SimUser>,
}

#[derive(Clone)]
pub struct TokenInfo {
    pub org: usize,
    pub user: Arc<SimUser>,
    pub expires: Instant,
}

/// An open query cursor (`nextRecordsUrl` locator).
pub struct Cursor {
    pub org: usize,
    pub plan: Arc<crate::query::Plan>,
    pub rows: Arc<Vec<usize>>,
    /// The batch size asked for with the query; later pages keep it unless they ask again.
    pub batch: usize,
    pub expires: Instant,
}

pub struct AppState {
    pub cfg: SimConfig,
    pub base_url: String,
    pub orgs: Vec<OrgState>,
    pub clock: SimClock,
    pub tokens: Mutex<HashMap<String, TokenInfo>>,
    pub cursors: Mutex<HashMap<String, Cursor>>,
    pub faults: Mutex<StandingFaults>,
    pub fault_rng: Mutex<ChaCha8Rng>,
    pub token_rng: Mutex<ChaCha8Rng>,
    pub cometd: crate::cometd::Clients,
    pub jwt_keys: Vec<(String, jsonwebtoken::DecodingKey, String)>,
    /// Woken whenever logins are appended (CometD long polls wait on it).
    pub new_events: tokio::sync::Notify,
    pub locator_counter: AtomicU64,
    pub generated: AtomicU64,
}

impl AppState {
    pub fn org_index(&self, org_id: &str) -> Option<usize> {
        self.orgs.iter().position(|o| o.org_id == org_id)
    }

    pub fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }

    /// A fresh access token: `<org id>!<random>` like Salesforce's session ids.
    pub fn issue_token(&self, org: usize, user: Arc<SimUser>) -> String {
        let secret: String = {
            let mut rng = self.token_rng.lock().expect("token rng lock");
            const A: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._";
            (0..96)
                .map(|_| A[rng.gen_range(0..A.len())] as char)
                .collect()
        };
        let token = format!("{}!{}", &self.orgs[org].org_id[..15], secret);
        let expires = Instant::now() + std::time::Duration::from_secs(self.cfg.token_lifetime_secs);
        self.tokens
            .lock()
            .expect("tokens lock")
            .insert(token.clone(), TokenInfo { org, user, expires });
        token
    }

    pub fn check_token(&self, token: &str) -> Option<TokenInfo> {
        let mut tokens = self.tokens.lock().expect("tokens lock");
        match tokens.get(token) {
            Some(t) if t.expires > Instant::now() => Some(t.clone()),
            Some(_) => {
                tokens.remove(token);
                None
            }
            None => None,
        }
    }

    pub fn random_id(&self, len: usize) -> String {
        let mut rng = self.token_rng.lock().expect("token rng lock");
        const A: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
        (0..len)
            .map(|_| A[rng.gen_range(0..A.len())] as char)
            .collect()
    }

    pub fn random_uuid(&self) -> String {
        let bytes: [u8; 16] = self.token_rng.lock().expect("token rng lock").gen();
        uuid::Builder::from_random_bytes(bytes)
            .into_uuid()
            .to_string()
    }

    /// Total logins in every org.
    pub fn login_count(&self) -> u64 {
        self.orgs
            .iter()
            .map(|o| o.data.read().expect("org lock").logins.len() as u64)
            .sum()
    }

    /// Applies a fault spec: standing faults replace the current ones; one-shot actions run now.
    pub fn apply_faults(&self, spec: &FaultSpec) -> Result<(), String> {
        spec.validate()?;
        self.faults.lock().expect("faults lock").set(spec);
        if spec.expire_locators {
            self.cursors.lock().expect("cursors lock").clear();
        }
        if spec.revoke_tokens {
            self.tokens.lock().expect("tokens lock").clear();
        }
        if spec.exhaust_quota {
            for o in &self.orgs {
                o.api_used.store(self.cfg.api_daily_limit, Ordering::SeqCst);
            }
        }
        if spec.cometd_disconnect || spec.revoke_tokens {
            self.cometd.drop_all();
            self.new_events.notify_waiters();
        }
        if spec.late_rows > 0 {
            for o in &self.orgs {
                let mut d = o.data.write().expect("org lock");
                let reveal = d.queries + spec.late_rows_after_queries.unwrap_or(1).max(1) as u64;
                let mut order: Vec<usize> = (0..d.logins.len()).filter(|&i| d.visible(i)).collect();
                order.sort_by_key(|&i| (d.logins[i].time, i));
                // Every other row among the newest, never the newest itself.
                let picks: Vec<usize> = order
                    .iter()
                    .rev()
                    .skip(1)
                    .step_by(2)
                    .take(spec.late_rows as usize)
                    .copied()
                    .collect();
                for i in picks {
                    d.hidden.insert(i, reveal);
                }
            }
        }
        if spec.equal_time_groups >= 2 {
            let g = spec.equal_time_groups as usize;
            for o in &self.orgs {
                let mut d = o.data.write().expect("org lock");
                let mut order: Vec<usize> = (0..d.logins.len()).collect();
                order.sort_by_key(|&i| (d.logins[i].time, i));
                for chunk in order.chunks(g) {
                    let t = d.logins[chunk[0]].time;
                    for &i in chunk {
                        d.logins[i].time = t;
                    }
                }
            }
        }
        Ok(())
    }

    /// Records a token-endpoint login as a LoginHistory row (and stream event), like Salesforce.
    #[allow(clippy::too_many_arguments)]
    pub fn record_login(
        &self,
        org: usize,
        user: Arc<SimUser>,
        sub_type: Option<crate::model::LoginSubType>,
        status: &'static str,
        application: &str,
        source_ip: &str,
    ) {
        if !self.cfg.record_api_logins {
            return;
        }
        let o = &self.orgs[org];
        let now = self.now();
        let time = now - Duration::milliseconds(now.timestamp_subsec_millis() as i64);
        let mut d = o.data.write().expect("org lock");
        d.recorded += 1;
        let n = d.recorded;
        let login = SimLogin {
            seq: d.logins.len() as u64,
            org_id: Arc::from(o.org_id.as_str()),
            login_history_id: crate::ids::make_id("0Ya", &o.pod, 40_000_000 + n),
            login_geo_id: crate::ids::make_id("04F", &o.pod, 40_000_000 + n),
            event_identifier: self.random_uuid(),
            event_uuid: self.random_uuid(),
            login_key: self.random_id(16),
            request_id: self.random_id(22),
            time,
            created_delay_ms: 350,
            user,
            login_type: crate::model::LoginType::RemoteAccess2,
            sub_type,
            status,
            application: Arc::from(application),
            source_ip: source_ip.to_string(),
            place: crate::geo::DATACENTERS[0],
            browser: "Unknown",
            platform: "Unknown",
            user_agent: "loginwatch",
            api_type: None,
            api_version: None,
            login_url: Arc::from(format!(
                "{}.my.salesforce.com",
                o.my_domain.to_ascii_lowercase()
            )),
            tls_protocol: "TLS 1.3",
            cipher_suite: "TLS_AES_256_GCM_SHA384",
            http_method: "POST",
            uri: "/services/oauth2/token",
            labels: Vec::new(),
        };
        d.append([login], self.cfg.cometd.omit_integration_users);
        drop(d);
        self.new_events.notify_waiters();
    }

    /// Moves the live clock: appends every generated login up to now.
    pub fn live_tick(&self) {
        let now = self.now();
        let mut added = 0u64;
        for o in &self.orgs {
            let mut gen = o.generator.lock().expect("generator lock");
            let mut batch = Vec::new();
            while let Some(l) = gen.next_before(now) {
                batch.push(l);
            }
            if batch.is_empty() {
                continue;
            }
            added += batch.len() as u64;
            let labels = gen.labels();
            drop(gen);
            let mut d = o.data.write().expect("org lock");
            d.append(batch, self.cfg.cometd.omit_integration_users);
            d.labels = labels;
        }
        if added > 0 {
            self.generated.fetch_add(added, Ordering::Relaxed);
            self.new_events.notify_waiters();
        }
    }
}

/// The dedicated user loginwatch itself authenticates as in each org.
pub fn api_user(org_pod: &str, my_domain: &str) -> Arc<SimUser> {
    Arc::new(SimUser {
        user_id: crate::ids::make_id("005", org_pod, 30_000),
        username: format!(
            "loginwatch.ingester@{}.example.com",
            my_domain.to_ascii_lowercase()
        ),
        name: "loginwatch Ingester".into(),
        kind: UserKind::Integration,
        user_type: "Standard",
        created: DateTime::<Utc>::from_timestamp(1_700_000_000, 0).expect("valid constant"),
    })
}

pub fn seeded_rng(seed: u64) -> ChaCha8Rng {
    ChaCha8Rng::seed_from_u64(seed)
}
