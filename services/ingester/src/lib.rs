//! loginwatch ingester: LoginHistory polling and LoginEventStream streaming from many Salesforce
//! orgs into Kafka (`loginwatch.logins.v1`, key `org_id/user_id`), losing nothing.
//!
//! One task per org and source; a failing org never stops the others. Positions (LoginHistory
//! cursor, stream replay id) are saved in `state_dir` only after Kafka acknowledged the records
//! before them, so a restart resumes exactly.

pub mod auth;
pub mod budget;
pub mod config;
pub mod enrich;
pub mod poller;
pub mod salesforce;
pub mod sink;
pub mod state;
pub mod stream;

use std::sync::Arc;
use std::time::Duration;

use loginwatch_shared::ops::Readiness;
use loginwatch_shared::time::Clock;
use tokio_util::sync::CancellationToken;

pub use config::IngesterConfig;

/// Builds the HTTP client used for REST calls (bounded per-request timeout).
pub fn rest_client(timeout: Duration) -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(timeout)
        .connect_timeout(Duration::from_secs(10))
        .user_agent(concat!("loginwatch-ingester/", env!("CARGO_PKG_VERSION")))
        .build()
        .expect("HTTP client builds (TLS roots available)")
}

/// A running ingester: its ops address and the handle to stop it.
pub struct Running {
    pub ops_addr: std::net::SocketAddr,
    pub readiness: Readiness,
    cancel: CancellationToken,
    tasks: tokio::task::JoinSet<()>,
    sink: sink::KafkaSink,
    grace: Duration,
}

impl Running {
    /// Stops readers (each finishes or abandons its current batch without advancing its cursor),
    /// then flushes the producer.
    pub async fn shutdown(mut self) {
        self.cancel.cancel();
        let deadline = tokio::time::Instant::now() + self.grace;
        while !self.tasks.is_empty() {
            match tokio::time::timeout_at(deadline, self.tasks.join_next()).await {
                Ok(_) => {}
                Err(_) => {
                    tracing::warn!("readers did not stop within the shutdown grace period; aborting them (their cursors were not advanced)");
                    self.tasks.abort_all();
                    break;
                }
            }
        }
        let sink = self.sink.clone();
        let grace = self.grace;
        let flushed = tokio::task::spawn_blocking(move || sink.flush(grace))
            .await
            .unwrap_or(false);
        if !flushed {
            tracing::warn!("Kafka producer did not flush within the grace period; unacknowledged records will be read again after restart");
        }
        tracing::info!("ingester stopped");
    }

    pub fn cancel_token(&self) -> CancellationToken {
        self.cancel.clone()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    Config(#[from] loginwatch_shared::config::ConfigError),
    #[error(transparent)]
    State(#[from] state::StateError),
    #[error(transparent)]
    Sink(#[from] sink::SinkError),
    #[error("cannot bind the ops endpoint {addr}: {source}; change [ops] listen")]
    Ops {
        addr: std::net::SocketAddr,
        #[source]
        source: std::io::Error,
    },
}

/// Validates the config, resolves every org's secrets, creates topics and the producer, serves
/// the ops endpoint and starts one task per org and source.
pub async fn start(cfg: IngesterConfig) -> Result<Running, StartError> {
    start_with_clock(cfg, Clock::system()).await
}

/// [`start`] with every org reading time from `clock` (a simulated org's clock in tests and demos).
pub async fn start_with_clock(cfg: IngesterConfig, clock: Clock) -> Result<Running, StartError> {
    cfg.validate()?;
    let creds = cfg
        .orgs
        .iter()
        .enumerate()
        .map(|(i, org)| auth::Credentials::resolve(org, &format!("orgs[{i}]")))
        .collect::<Result<Vec<_>, _>>()?;
    let store = state::StateStore::new(&cfg.state_dir)?;
    let readiness = Readiness::new();
    readiness.set("kafka", false);
    let cancel = CancellationToken::new();
    let ops_cancel = cancel.clone();
    let ops_addr = loginwatch_shared::ops::serve(cfg.ops.listen, readiness.clone(), async move {
        ops_cancel.cancelled().await
    })
    .await
    .map_err(|source| StartError::Ops {
        addr: cfg.ops.listen,
        source,
    })?;
    // Best effort: brokers without CreateTopics (librdkafka's mock cluster) auto-create instead,
    // and an unreachable broker must not block start-up (records wait in the producer).
    let topics = [
        cfg.kafka.logins_topic.as_str(),
        cfg.kafka.deadletter_topic.as_str(),
    ];
    let ensure = tokio::time::timeout(
        Duration::from_secs(cfg.producer.ensure_topics_timeout_secs),
        cfg.kafka.ensure_topics(&topics),
    );
    if ensure.await.is_err() {
        tracing::warn!("topic creation did not finish in time; relying on existing topics or broker auto-creation");
    }
    let sink = sink::KafkaSink::new(&cfg.kafka, cfg.producer.max_in_flight)?;
    readiness.set("kafka", true);
    let mut tasks = tokio::task::JoinSet::new();
    for (org, creds) in cfg.orgs.iter().zip(creds) {
        let http = rest_client(Duration::from_secs(org.request_timeout_secs));
        let tokens = Arc::new(auth::TokenProvider::new(org, creds, http.clone()).with_clock(clock));
        let budget = Arc::new(budget::ApiBudget::new(&org.org_id, org.budget.clone()));
        if org.login_history.enabled {
            let client = salesforce::SalesforceClient::new(
                org,
                http.clone(),
                tokens.clone(),
                budget.clone(),
                cancel.child_token(),
                poller::SOURCE,
            );
            let p = poller::LoginHistoryPoller::new(
                client,
                sink.clone(),
                store.clone(),
                org.login_history.clone(),
                readiness.clone(),
            );
            tasks.spawn(p.run());
        }
        if org.stream.enabled {
            let client = salesforce::SalesforceClient::new(
                org,
                http.clone(),
                tokens.clone(),
                budget.clone(),
                cancel.child_token(),
                stream::SOURCE,
            );
            // Long polls are held up to 110 s by Salesforce.
            let long_poll = rest_client(Duration::from_secs(org.request_timeout_secs.max(130)));
            let s = stream::StreamSubscriber::new(
                client,
                long_poll,
                sink.clone(),
                store.clone(),
                org.stream.clone(),
                readiness.clone(),
            );
            tasks.spawn(s.run());
        }
        tracing::info!(org = %org.org_id, login_history = org.login_history.enabled, stream = org.stream.enabled, "org started");
    }
    Ok(Running {
        ops_addr,
        readiness,
        cancel,
        tasks,
        sink,
        grace: Duration::from_secs(cfg.producer.shutdown_grace_secs),
    })
}

/// `loginwatch ingest --config FILE` / `loginwatch-ingester --config FILE`: runs until SIGTERM or Ctrl-C.
pub async fn run_until_signal(config_path: Option<&std::path::Path>) -> anyhow::Result<()> {
    let cfg = IngesterConfig::load(config_path)?;
    let running = start(cfg).await?;
    tracing::info!(ops = %running.ops_addr, "ingester running");
    loginwatch_shared::runtime::shutdown_signal().await;
    tracing::info!("shutdown requested; finishing current batches and flushing");
    running.shutdown().await;
    Ok(())
}
