//! sfsim: a faithful imitation of the Salesforce APIs loginwatch talks to, fed by a seeded
//! traffic generator with labelled incidents.
//!
//! - [`start`] runs the HTTP server (OAuth token endpoint, REST query, EventLogFile download,
//!   CometD `/event/LoginEventStream`, `/__admin` faults and labels) and returns a [`SimHandle`].
//! - [`generate::Generator`] is the pure, seeded login generator; [`render`] turns its
//!   [`SimLogin`]s into every Salesforce shape; [`export`] writes histories to files.
//!
//! Shapes, status codes and error bodies follow Salesforce's documentation (listed in the crate
//! README); where a behaviour is not confirmed, sfsim makes it configurable or picks the stricter reading.

pub mod cometd;
pub mod config;
pub mod export;
pub mod faults;
pub mod generate;
pub mod geo;
mod http;
pub mod ids;
pub mod model;
pub mod query;
pub mod render;
pub mod soql;
mod state;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex, RwLock};

use anyhow::Context;
use chrono::{DateTime, Duration, Utc};

pub use config::{Mode, SimConfig};
pub use faults::FaultSpec;
pub use generate::{GenConfig, Generator, Label};
pub use model::{SimLogin, SimUser, SubTypeSpelling};

use state::{AppState, OrgData, OrgState, SimClock};

/// The generator config of org `index` of `cfg`, for a history ending at `end`.
pub fn gen_config(cfg: &SimConfig, index: usize, end: DateTime<Utc>) -> GenConfig {
    let org = &cfg.orgs[index];
    GenConfig {
        org_id: org.org_id.clone(),
        my_domain: org.my_domain.clone(),
        start: end - Duration::days(cfg.history_days as i64),
        interactive_users: cfg.interactive_users,
        integrations: cfg.integrations,
        learning_days: cfg.learning_days,
        incident_spacing_mins: cfg.incident_spacing_mins,
        incidents: cfg.incidents,
        integration_logins_per_hour: cfg.integration_logins_per_hour,
        failure_rate: 0.03,
        rate_spike_logins: cfg.rate_spike_logins,
    }
}

/// The generator seed of org `index` (org 0 uses the configured seed as is).
pub fn org_seed(seed: u64, index: usize) -> u64 {
    seed.wrapping_add((index as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15))
}

/// Switches faults on a running simulator.
#[derive(Clone)]
pub struct Faults {
    state: Arc<AppState>,
}

impl Faults {
    /// Standing faults replace the current ones; one-shot actions run now.
    pub fn apply(&self, spec: &FaultSpec) -> Result<(), String> {
        self.state.apply_faults(spec)
    }

    /// Switches standing faults off.
    pub fn clear(&self) {
        let _ = self.state.apply_faults(&FaultSpec::default());
    }
}

/// A running simulator. Shuts down on [`SimHandle::shutdown`] or drop.
pub struct SimHandle {
    state: Arc<AppState>,
    addr: SocketAddr,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    server: Option<tokio::task::JoinHandle<()>>,
    live: Option<tokio::task::JoinHandle<()>>,
}

impl SimHandle {
    /// `http://127.0.0.1:PORT` — the instance URL, token URL host and CometD host.
    pub fn base_url(&self) -> String {
        self.state.base_url.clone()
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn org_ids(&self) -> Vec<String> {
        self.state.orgs.iter().map(|o| o.org_id.clone()).collect()
    }

    /// Labels of every injected incident (and ongoing password-based integration) emitted so far.
    pub fn labels(&self) -> Vec<Label> {
        self.state
            .orgs
            .iter()
            .flat_map(|o| o.data.read().expect("org lock").labels.clone())
            .collect()
    }

    pub fn faults(&self) -> Faults {
        Faults {
            state: self.state.clone(),
        }
    }

    /// Logins in every org (history, live and recorded token-endpoint logins).
    pub fn login_count(&self) -> u64 {
        self.state.login_count()
    }

    /// The username loginwatch authenticates as in org `org_id` (JWT `sub`, client-credentials run-as).
    pub fn api_username(&self, org_id: &str) -> Option<String> {
        self.state
            .org_index(org_id)
            .map(|i| self.state.orgs[i].api_user.username.clone())
    }

    /// Every user of an org (generated users, then the api user).
    pub fn users(&self, org_id: &str) -> Vec<Arc<SimUser>> {
        self.state
            .org_index(org_id)
            .map(|i| {
                self.state.orgs[i]
                    .data
                    .read()
                    .expect("org lock")
                    .users
                    .clone()
            })
            .unwrap_or_default()
    }

    /// A copy of an org's logins, in storage order (tests compare them with what they read).
    pub fn logins(&self, org_id: &str) -> Vec<SimLogin> {
        self.state
            .org_index(org_id)
            .map(|i| {
                self.state.orgs[i]
                    .data
                    .read()
                    .expect("org lock")
                    .logins
                    .clone()
            })
            .unwrap_or_default()
    }

    /// The stream of an org: `(replayId, LoginHistory Id)` of every published event, in order
    /// (including events already past the retention window).
    pub fn stream(&self, org_id: &str) -> Vec<(i64, String)> {
        self.state
            .org_index(org_id)
            .map(|i| {
                let d = self.state.orgs[i].data.read().expect("org lock");
                d.stream
                    .iter()
                    .map(|&(r, idx)| (r, d.logins[idx].login_history_id.clone()))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// The simulator's current (simulated) time.
    pub fn now(&self) -> DateTime<Utc> {
        self.state.now()
    }

    /// The simulated clock, for clients that must share the org's notion of now (an ingester
    /// polling up to "now" against a history that ends at a fixed date or runs faster than real time).
    pub fn clock(&self) -> loginwatch_shared::time::Clock {
        self.state.clock.clock()
    }

    /// Stops the server and the live clock and waits for the server task to end.
    pub async fn shutdown(mut self) {
        self.stop_all();
        if let Some(s) = self.server.take() {
            let _ = s.await;
        }
    }

    fn stop_all(&mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        if let Some(l) = self.live.take() {
            l.abort();
        }
    }
}

impl Drop for SimHandle {
    fn drop(&mut self) {
        self.stop_all();
    }
}

/// Builds the history, binds the listener and serves. Must run inside a Tokio runtime.
pub async fn start(config: SimConfig) -> anyhow::Result<SimHandle> {
    config.validate().map_err(|e| anyhow::anyhow!("{e}"))?;
    config
        .faults
        .validate()
        .map_err(|e| anyhow::anyhow!("config key `faults`: {e}"))?;
    // The one wall-clock read: a simulator without `history_end` imitates an org whose history
    // ends at start-up. Everything after reads the simulated clock.
    let now = loginwatch_shared::time::Clock::system().now();
    let end = config
        .history_end
        .unwrap_or_else(|| loginwatch_shared::time::truncate_to_millis(now));

    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .with_context(|| {
            format!(
                "config key `listen`: cannot bind {}; pick a free address or 127.0.0.1:0",
                config.listen
            )
        })?;
    let addr = listener.local_addr()?;
    let base_url = format!("http://{addr}");

    let mut jwt_keys = Vec::new();
    for (i, app) in config.jwt_apps.iter().enumerate() {
        let pem = std::fs::read(&app.public_key_pem).with_context(|| {
            format!(
                "config key `jwt_apps[{i}].public_key_pem`: cannot read {}",
                app.public_key_pem.display()
            )
        })?;
        let key = jsonwebtoken::DecodingKey::from_rsa_pem(&pem).with_context(|| {
            format!(
                "config key `jwt_apps[{i}].public_key_pem`: {} is not an RSA public key in PEM",
                app.public_key_pem.display()
            )
        })?;
        jwt_keys.push((app.consumer_key.clone(), key, app.app_name.clone()));
    }

    let mut orgs = Vec::new();
    for (i, o) in config.orgs.iter().enumerate() {
        let gcfg = gen_config(&config, i, end);
        let mut gen = Generator::new(org_seed(config.seed, i), &gcfg)
            .map_err(|e| anyhow::anyhow!("config key `orgs[{i}]`: {e}"))?;
        let pod = o.org_id[3..7].to_string();
        let api_user = state::api_user(&pod, &o.my_domain);
        let mut data = OrgData {
            logins: Vec::new(),
            hidden: HashMap::new(),
            stream: Vec::new(),
            next_replay_id: 7_700_000,
            users: gen.users().to_vec(),
            labels: Vec::new(),
            queries: 0,
            recorded: 0,
        };
        data.users.push(api_user.clone());
        let mut history = Vec::new();
        while let Some(l) = gen.next_before(end) {
            history.push(l);
        }
        data.append(history, config.cometd.omit_integration_users);
        data.labels = gen.labels();
        if config.mode == Mode::Live {
            if let Some(rate) = config.live.rate_per_sec {
                gen.set_rate_from(end, rate);
            }
        }
        orgs.push(OrgState {
            org_id: o.org_id.clone(),
            my_domain: o.my_domain.clone(),
            pod,
            data: RwLock::new(data),
            generator: Mutex::new(gen),
            api_used: AtomicU64::new(0),
            api_user,
        });
    }

    let state = Arc::new(AppState {
        base_url,
        clock: SimClock::new(end, config.mode, config.live.speed),
        tokens: Mutex::new(HashMap::new()),
        cursors: Mutex::new(HashMap::new()),
        faults: Mutex::new(Default::default()),
        fault_rng: Mutex::new(state::seeded_rng(config.seed ^ 0xfa17)),
        token_rng: Mutex::new(state::seeded_rng(
            config.seed ^ 0x70c3 ^ now.timestamp_nanos_opt().unwrap_or(0) as u64,
        )),
        cometd: Default::default(),
        jwt_keys,
        new_events: tokio::sync::Notify::new(),
        locator_counter: AtomicU64::new(1),
        generated: AtomicU64::new(0),
        orgs,
        cfg: config,
    });
    state
        .apply_faults(&state.cfg.faults.clone())
        .map_err(|e| anyhow::anyhow!("config key `faults`: {e}"))?;

    if let Some(path) = &state.cfg.labels_path {
        let labels: Vec<Label> = state
            .orgs
            .iter()
            .flat_map(|o| o.data.read().expect("org lock").labels.clone())
            .collect();
        std::fs::write(path, serde_json::to_vec_pretty(&labels)?).with_context(|| {
            format!("config key `labels_path`: cannot write {}", path.display())
        })?;
    }

    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let app = http::router(state.clone()).into_make_service_with_connect_info::<SocketAddr>();
    let server = tokio::spawn(async move {
        let _ = axum::serve(listener, app)
            .with_graceful_shutdown(async move {
                let _ = stop_rx.await;
            })
            .await;
    });
    let live = (state.cfg.mode == Mode::Live).then(|| {
        let st = state.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(std::time::Duration::from_millis(
                st.cfg.live.tick_ms.max(10),
            ));
            loop {
                tick.tick().await;
                st.live_tick();
            }
        })
    });
    tracing::info!(base_url = %state.base_url, orgs = state.orgs.len(), logins = state.login_count(), mode = ?state.cfg.mode, "sfsim listening");
    Ok(SimHandle {
        state,
        addr,
        stop: Some(stop_tx),
        server: Some(server),
        live,
    })
}

/// Runs sfsim until SIGTERM / Ctrl-C (the `loginwatch sfsim` and `loginwatch-sfsim serve` entry point).
pub async fn run(config_path: Option<&std::path::Path>) -> anyhow::Result<()> {
    let config: SimConfig = loginwatch_shared::config::load(config_path)?;
    let handle = start(config).await?;
    eprintln!(
        "sfsim listening on {} (orgs: {})",
        handle.base_url(),
        handle.org_ids().join(", ")
    );
    loginwatch_shared::runtime::shutdown_signal().await;
    handle.shutdown().await;
    Ok(())
}
