//! The streaming service: Kafka in, detections out, at least once.
//!
//! - A `StreamConsumer` in a consumer group reads `loginwatch.logins.v1`; each payload is decoded
//!   with serde into a [`LoginEvent`] (a bad record goes whole to `loginwatch.deadletter.v1` and
//!   is counted; it never poisons a batch). Events reach the [`Engine`] in micro-batches
//!   (`max_batch` records or every `trigger_interval`).
//! - Detections are produced by an idempotent producer, keyed by detection id. Input offsets are
//!   stored (`enable.auto.offset.store=false`) only after the detections of the trigger are
//!   acknowledged, and only up to the lowest offset still needed by an open window or an event
//!   the watermark has not passed yet; librdkafka commits what was stored.
//! - State survives restarts and rebalances by rebuilding from the retained topic: on every
//!   assignment the engine is rebuilt and warmed up by replaying each assigned partition from its
//!   beginning to the committed offset with detections suppressed (they were produced and
//!   acknowledged before that offset was committed); from the committed offset on, detections
//!   are produced again. Deterministic detection ids make the overlap harmless. Retention of the
//!   logins topic must cover the longest learning period and baseline horizon you care about.
//! - SIGTERM: the current micro-batch is evaluated, detections are acknowledged, offsets stored
//!   and committed synchronously. Open windows are not force-closed (that would emit partial
//!   windows); they resume from the retained topic after a restart.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::future::join_all;
use loginwatch_shared::kafka::{DeadLetter, KafkaSettings};
use loginwatch_shared::metrics::metrics;
use loginwatch_shared::ops::Readiness;
use loginwatch_shared::{Detection, LoginEvent};
use rdkafka::consumer::{
    BaseConsumer, CommitMode, Consumer, ConsumerContext, Rebalance, StreamConsumer,
};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::Message;
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::statistics::Statistics;
use rdkafka::util::Timeout;
use rdkafka::{ClientContext, Offset, TopicPartitionList};
use serde::{Deserialize, Serialize};

use crate::duration::Span;
use crate::engine::{Admission, Engine, EngineConfig, EngineError};
use crate::rules::{load_dir, Rule};

/// `loginwatch analyze --config FILE`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AnalyzerConfig {
    pub kafka: KafkaSettings,
    /// Consumer group. Default `loginwatch-analyzer`.
    pub group_id: String,
    /// Folder of rule files. Default `rules`.
    pub rules_dir: PathBuf,
    /// `/metrics`, `/healthz`, `/readyz`. Default `0.0.0.0:9102`.
    pub ops_listen: SocketAddr,
    /// Evaluate at least this often. Default `100ms` (per-event rules alert well within a second).
    pub trigger_interval: Span,
    /// Evaluate after this many records even before `trigger_interval`. Default 5000.
    pub max_batch: usize,
    /// Create the topics when missing. Default true; brokers without CreateTopics (librdkafka's
    /// mock cluster) make the attempt wait for the admin timeout, so tests turn it off.
    pub create_topics: bool,
    pub engine: EngineConfig,
}

impl Default for AnalyzerConfig {
    fn default() -> Self {
        AnalyzerConfig {
            kafka: KafkaSettings::default(),
            group_id: "loginwatch-analyzer".into(),
            rules_dir: PathBuf::from("rules"),
            ops_listen: SocketAddr::from(([0, 0, 0, 0], 9102)),
            trigger_interval: Span::millis(100),
            max_batch: 5000,
            create_topics: true,
            engine: EngineConfig::default(),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    #[error(transparent)]
    Config(#[from] loginwatch_shared::config::ConfigError),
    #[error(transparent)]
    Rules(#[from] crate::rules::RuleError),
    #[error(transparent)]
    Engine(#[from] EngineError),
    #[error("kafka: {0} (check the [kafka] settings and that the broker is reachable)")]
    Kafka(String),
    #[error("ops endpoint {addr}: {message}")]
    Ops { addr: SocketAddr, message: String },
}

fn kafka<E: std::fmt::Display>(e: E) -> ServiceError {
    ServiceError::Kafka(e.to_string())
}

/// Rebalance notifications and librdkafka statistics.
struct AnalyzerContext {
    assignment: Arc<Mutex<Option<Vec<i32>>>>,
    topic: String,
}

impl ClientContext for AnalyzerContext {
    fn stats(&self, statistics: Statistics) {
        let m = metrics();
        for (topic, t) in &statistics.topics {
            for (p, s) in &t.partitions {
                if *p >= 0 && s.consumer_lag >= 0 {
                    m.kafka_consumer_lag
                        .with_label_values(&["analyzer", topic.as_str(), &p.to_string()])
                        .set(s.consumer_lag);
                }
            }
        }
    }
}

impl ConsumerContext for AnalyzerContext {
    fn post_rebalance(&self, _c: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        let parts = match rebalance {
            Rebalance::Assign(tpl) => tpl
                .elements()
                .iter()
                .filter(|e| e.topic() == self.topic)
                .map(|e| e.partition())
                .collect(),
            Rebalance::Revoke(_) => Vec::new(),
            Rebalance::Error(e) => {
                tracing::warn!(error = %e, "rebalance error");
                return;
            }
        };
        *self.assignment.lock().expect("assignment lock") = Some(parts);
    }
}

/// Offsets of one partition still needed (event not passed by the watermark or in an open window).
#[derive(Debug, Default)]
struct PartitionOffsets {
    by_time: BTreeSet<(i64, i64)>,
    by_offset: BTreeMap<i64, i64>,
    /// Next offset after the last record handled.
    next: i64,
}

impl PartitionOffsets {
    fn hold(&mut self, offset: i64, event_time: i64) {
        self.by_time.insert((event_time, offset));
        self.by_offset.insert(offset, event_time);
    }
    fn release_before(&mut self, t: i64) {
        while let Some(&(et, off)) = self.by_time.first() {
            if et >= t {
                break;
            }
            self.by_time.pop_first();
            self.by_offset.remove(&off);
        }
    }
    /// The offset to commit: the lowest still needed, else everything handled.
    fn committable(&self) -> i64 {
        self.by_offset.keys().next().copied().unwrap_or(self.next)
    }
}

/// The analyzer service over an already-validated rule set.
pub struct Analyzer {
    cfg: AnalyzerConfig,
    rules: Vec<Rule>,
    consumer: StreamConsumer<AnalyzerContext>,
    producer: FutureProducer,
    assignment: Arc<Mutex<Option<Vec<i32>>>>,
    engine: Engine,
    offsets: HashMap<i32, PartitionOffsets>,
    pending: usize,
    readiness: Readiness,
}

impl Analyzer {
    /// Loads and validates the rules (refusing to start on a bad one), connects to Kafka and subscribes.
    pub async fn new(cfg: AnalyzerConfig, readiness: Readiness) -> Result<Analyzer, ServiceError> {
        let rules = load_dir(&cfg.rules_dir)?;
        let engine = Engine::new(rules.clone(), cfg.engine.clone()).await?;
        readiness.set("rules", true);
        readiness.set("kafka", false);
        if cfg.create_topics {
            cfg.kafka
                .ensure_topics(&[
                    &cfg.kafka.logins_topic,
                    &cfg.kafka.detections_topic,
                    &cfg.kafka.deadletter_topic,
                ])
                .await
                .map_err(kafka)?;
        }
        let producer: FutureProducer = cfg.kafka.producer_config().create().map_err(kafka)?;
        let assignment = Arc::new(Mutex::new(None));
        let mut consumer_config = cfg.kafka.consumer_config(&cfg.group_id);
        consumer_config.set("statistics.interval.ms", "5000");
        for (k, v) in &cfg.kafka.properties {
            consumer_config.set(k, v);
        }
        let consumer: StreamConsumer<AnalyzerContext> = consumer_config
            .create_with_context(AnalyzerContext {
                assignment: assignment.clone(),
                topic: cfg.kafka.logins_topic.clone(),
            })
            .map_err(kafka)?;
        consumer
            .subscribe(&[&cfg.kafka.logins_topic])
            .map_err(kafka)?;
        Ok(Analyzer {
            cfg,
            rules,
            consumer,
            producer,
            assignment,
            engine,
            offsets: HashMap::new(),
            pending: 0,
            readiness,
        })
    }

    /// Runs until `shutdown` resolves, then flushes and commits.
    pub async fn run(
        mut self,
        shutdown: impl std::future::Future<Output = ()>,
    ) -> Result<(), ServiceError> {
        tokio::pin!(shutdown);
        let mut ticker = tokio::time::interval(
            self.cfg
                .trigger_interval
                .as_std()
                .max(Duration::from_millis(10)),
        );
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            self.apply_new_assignment().await?;
            tokio::select! {
                biased;
                _ = &mut shutdown => break,
                msg = self.consumer.recv() => match msg {
                    Ok(m) => {
                        // The rebalance callback runs inside `recv`, so the first record of a new
                        // assignment can arrive in the same call: rebuild before handling it.
                        let (p, off) = (m.partition(), m.offset());
                        let payload = m.payload().unwrap_or_default().to_vec();
                        drop(m);
                        self.apply_new_assignment().await?;
                        self.handle(p, off, &payload).await;
                        if self.pending >= self.cfg.max_batch {
                            self.evaluate().await?;
                        }
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "kafka consume error");
                        tokio::time::sleep(Duration::from_millis(100)).await;
                    }
                },
                _ = ticker.tick() => self.evaluate().await?,
            }
        }
        tracing::info!("shutting down: evaluating the last micro-batch and committing offsets");
        self.evaluate().await?;
        match self.consumer.commit_consumer_state(CommitMode::Sync) {
            Ok(()) => {}
            // Nothing new stored since the last commit (or nothing consumed): nothing to do.
            Err(KafkaError::ConsumerCommit(RDKafkaErrorCode::NoOffset)) => {}
            Err(e) => {
                tracing::warn!(error = %e, "final offset commit failed; the next start replays a little more")
            }
        }
        Ok(())
    }

    async fn handle(&mut self, partition: i32, offset: i64, payload: &[u8]) {
        let m = metrics();
        m.analyzer_events
            .with_label_values(&[&partition.to_string()])
            .inc();
        let po = self.offsets.entry(partition).or_default();
        if offset < po.next {
            return; // already handled (warm-up overlap)
        }
        po.next = offset + 1;
        self.pending += 1;
        match serde_json::from_slice::<LoginEvent>(payload) {
            Ok(event) => {
                let t = event.event_time.timestamp_millis();
                if self.engine.ingest(partition, event, Instant::now()) == Admission::OnTime {
                    self.offsets.entry(partition).or_default().hold(offset, t);
                }
            }
            Err(e) => {
                let origin = format!("{}[{partition}]@{offset}", self.cfg.kafka.logins_topic);
                let dl = DeadLetter::new(
                    "analyzer",
                    origin,
                    format!("not a login event: {e}"),
                    String::from_utf8_lossy(payload),
                );
                let json = dl.to_json();
                let key = format!("analyzer/{partition}/{offset}");
                // Awaited: the record's offset is stored only after its dead letter is durable.
                match self
                    .producer
                    .send(
                        FutureRecord::to(&self.cfg.kafka.deadletter_topic)
                            .key(&key)
                            .payload(&json),
                        Timeout::Never,
                    )
                    .await
                {
                    Ok(_) => {
                        m.deadletter_records
                            .with_label_values(&["analyzer", "decode"])
                            .inc();
                    }
                    Err((e, _)) => {
                        tracing::error!(error = %e, "dead-letter produce failed; holding the offset");
                        self.offsets
                            .entry(partition)
                            .or_default()
                            .hold(offset, i64::MIN);
                    }
                }
            }
        }
    }

    /// Triggers the engine, produces its detections, waits for their acks, stores offsets.
    async fn evaluate(&mut self) -> Result<(), ServiceError> {
        let detections = self.engine.trigger(Instant::now()).await?;
        self.pending = 0;
        produce(
            &self.producer,
            &self.cfg.kafka.detections_topic,
            &detections,
        )
        .await?;
        if let Some(keep) = self.engine.retain_from() {
            let mut tpl = TopicPartitionList::new();
            for (p, po) in self.offsets.iter_mut() {
                po.release_before(keep);
                let off = po.committable();
                if off > 0 {
                    tpl.add_partition_offset(&self.cfg.kafka.logins_topic, *p, Offset::Offset(off))
                        .map_err(kafka)?;
                }
            }
            if tpl.count() > 0 {
                if let Err(e) = self.consumer.store_offsets(&tpl) {
                    // A partition revoked in the meantime; the new owner replays it.
                    tracing::debug!(error = %e, "offset store skipped");
                }
            }
        }
        Ok(())
    }

    /// Rebuilds the engine if the consumer got a new assignment since the last call.
    async fn apply_new_assignment(&mut self) -> Result<(), ServiceError> {
        let reassigned = self.assignment.lock().expect("assignment lock").take();
        match reassigned {
            Some(parts) => self.rebuild(parts).await,
            None => Ok(()),
        }
    }

    /// New assignment: rebuild the engine and warm it up from the retained topic.
    async fn rebuild(&mut self, parts: Vec<i32>) -> Result<(), ServiceError> {
        self.readiness.set("kafka", false);
        self.engine = Engine::new(self.rules.clone(), self.cfg.engine.clone()).await?;
        self.offsets.clear();
        self.pending = 0;
        if parts.is_empty() {
            self.readiness.set("kafka", true);
            return Ok(());
        }
        let topic = self.cfg.kafka.logins_topic.clone();
        let mut asked = TopicPartitionList::new();
        for p in &parts {
            asked.add_partition(&topic, *p);
        }
        let committed = self
            .consumer
            .committed_offsets(asked, Duration::from_secs(10))
            .map_err(kafka)?;
        let mut ends: BTreeMap<i32, i64> = BTreeMap::new();
        for e in committed.elements() {
            if let Offset::Offset(o) = e.offset() {
                if o > 0 {
                    ends.insert(e.partition(), o);
                }
            }
        }
        tracing::info!(partitions = ?parts, warm_up = ?ends, "assignment: rebuilding state from the retained topic");
        if !ends.is_empty() {
            self.warm_up(&ends).await?;
        }
        for (p, end) in &ends {
            self.offsets.entry(*p).or_default().next = *end;
        }
        // A partition that has not delivered yet must not let the others' data close its
        // windows early (its records would arrive late); it holds the watermark until it
        // delivers or stays quiet for `idle_timeout`.
        let now = Instant::now();
        for p in &parts {
            self.engine.expect_partition(*p, now);
        }
        self.readiness.set("kafka", true);
        Ok(())
    }

    /// Replays [beginning, committed) of each partition through the engine, detections suppressed.
    async fn warm_up(&mut self, ends: &BTreeMap<i32, i64>) -> Result<(), ServiceError> {
        let topic = self.cfg.kafka.logins_topic.clone();
        let mut cc = self.cfg.kafka.client_config();
        cc.set("group.id", format!("{}-warmup", self.cfg.group_id))
            .set("enable.auto.commit", "false")
            .set("enable.partition.eof", "false");
        let reader: StreamConsumer = cc.create().map_err(kafka)?;
        let mut tpl = TopicPartitionList::new();
        for p in ends.keys() {
            tpl.add_partition_offset(&topic, *p, Offset::Beginning)
                .map_err(kafka)?;
        }
        reader.assign(&tpl).map_err(kafka)?;
        // Every partition with history holds the watermark until it has delivered data.
        let started = Instant::now();
        let mut remaining: BTreeMap<i32, i64> = ends.clone();
        for p in ends.keys() {
            self.engine.expect_partition(*p, started);
        }
        let mut since_trigger = 0usize;
        let mut replayed = 0u64;
        while !remaining.is_empty() {
            let msg = tokio::time::timeout(Duration::from_secs(30), reader.recv())
                .await
                .map_err(|_| {
                    ServiceError::Kafka(format!(
                        "warm-up stalled with partitions {remaining:?} unread"
                    ))
                })?
                .map_err(kafka)?;
            let (p, off) = (msg.partition(), msg.offset());
            let Some(end) = remaining.get(&p).copied() else {
                continue;
            };
            if off >= end {
                remaining.remove(&p);
                continue;
            }
            if off + 1 >= end {
                remaining.remove(&p);
            }
            replayed += 1;
            if let Ok(event) =
                serde_json::from_slice::<LoginEvent>(msg.payload().unwrap_or_default())
            {
                self.engine.ingest(p, event, started);
            }
            since_trigger += 1;
            if since_trigger >= self.cfg.max_batch {
                self.engine.trigger(started).await?;
                since_trigger = 0;
            }
        }
        // Suppressed: these detections were acknowledged before the offsets were committed.
        self.engine.trigger(started).await?;
        tracing::info!(replayed, "warm-up done");
        Ok(())
    }
}

/// Produces detections (key = detection id) and waits until Kafka acknowledged all of them.
pub async fn produce(
    producer: &FutureProducer,
    topic: &str,
    detections: &[Detection],
) -> Result<(), ServiceError> {
    if detections.is_empty() {
        return Ok(());
    }
    let payloads: Vec<(String, String)> = detections
        .iter()
        .map(|d| {
            (
                d.event.id.clone(),
                serde_json::to_string(d).expect("detections serialise"),
            )
        })
        .collect();
    let sends = payloads
        .iter()
        .map(|(k, v)| producer.send(FutureRecord::to(topic).key(k).payload(v), Timeout::Never));
    for r in join_all(sends).await {
        r.map_err(|(e, _)| kafka(e))?;
    }
    Ok(())
}

/// `loginwatch analyze --config FILE` / `loginwatch-analyzer --config FILE`: ops endpoints,
/// the service, graceful shutdown on SIGTERM.
pub async fn run_from_config(path: Option<&Path>) -> Result<(), ServiceError> {
    let cfg: AnalyzerConfig = loginwatch_shared::config::load(path)?;
    let readiness = Readiness::new();
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let mut ops_stop = stop_rx.clone();
    let bound = loginwatch_shared::ops::serve(cfg.ops_listen, readiness.clone(), async move {
        let _ = ops_stop.changed().await;
    })
    .await
    .map_err(|e| ServiceError::Ops {
        addr: cfg.ops_listen,
        message: format!("{e}; choose a free ops_listen address"),
    })?;
    tracing::info!(%bound, "ops endpoint listening");
    let analyzer = Analyzer::new(cfg, readiness).await?;
    let result = analyzer
        .run(loginwatch_shared::runtime::shutdown_signal())
        .await;
    let _ = stop_tx.send(true);
    result
}
