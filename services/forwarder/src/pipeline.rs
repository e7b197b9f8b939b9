//! The forwarder process: Kafka consumer → per-sink workers → offsets stored once every sink is done.

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use loginwatch_shared::config::ConfigError;
use loginwatch_shared::kafka::DeadLetter;
use loginwatch_shared::metrics::metrics;
use loginwatch_shared::ops::Readiness;
use loginwatch_shared::Detection;
use rdkafka::client::ClientContext;
use rdkafka::consumer::{
    BaseConsumer, CommitMode, Consumer, ConsumerContext, Rebalance, StreamConsumer,
};
use rdkafka::producer::FutureProducer;
use rdkafka::{Message, Offset, TopicPartitionList};
use tokio::sync::mpsc;
use tokio::task::JoinSet;

use crate::config::ForwarderConfig;
use crate::offsets::{OffsetTracker, RecentIds};
use crate::sink::Sink;
use crate::worker::{Ack, CircuitBreaker, DeadLetters, Envelope, Origin, SinkWorker};

#[derive(Debug, thiserror::Error)]
pub enum ForwarderError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("Kafka: {0}; check [kafka] bootstrap_servers and properties")]
    Kafka(String),
}

/// What one run did, for logs and tests.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct RunSummary {
    /// Detections read from Kafka (duplicates included).
    pub consumed: u64,
    /// Redelivered detections dropped because their id was seen within the window.
    pub duplicates: u64,
    /// Messages that were not detections, sent to the dead-letter topic.
    pub malformed: u64,
    /// Per partition: the next offset to consume, as committed at shutdown.
    pub committed: BTreeMap<i32, i64>,
    /// Messages some sink still held when the drain timeout passed (redelivered on restart).
    pub undelivered_at_shutdown: usize,
}

/// Tells the consume loop which partitions a rebalance took away, so it neither tracks nor
/// commits offsets it no longer owns (a late commit would rewind the new owner).
struct RebalanceContext {
    revoked: mpsc::UnboundedSender<Vec<i32>>,
}

impl ClientContext for RebalanceContext {}

impl ConsumerContext for RebalanceContext {
    fn pre_rebalance(&self, _consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        if let Rebalance::Revoke(tpl) = rebalance {
            let partitions: Vec<i32> = tpl.elements().iter().map(|e| e.partition()).collect();
            tracing::info!(?partitions, "partitions revoked");
            let _ = self.revoked.send(partitions);
        }
    }
}

struct SinkHandle {
    name: String,
    queue: mpsc::Sender<Envelope>,
}

/// Validates the config, builds the sinks and runs until `shutdown` resolves, then drains
/// (up to `drain_timeout_secs`) and commits what every sink finished.
pub async fn run(
    config: ForwarderConfig,
    readiness: Readiness,
    shutdown: impl Future<Output = ()>,
) -> Result<RunSummary, ForwarderError> {
    config.validate()?;
    let sinks = config
        .sinks
        .iter()
        .enumerate()
        .map(|(i, s)| Sink::from_config(i, s))
        .collect::<Result<Vec<_>, _>>()?;

    let kafka = &config.kafka;
    let producer: FutureProducer = kafka
        .producer_config()
        .create()
        .map_err(|e| ForwarderError::Kafka(e.to_string()))?;
    let (revoked_tx, mut revoked_rx) = mpsc::unbounded_channel::<Vec<i32>>();
    let consumer: StreamConsumer<RebalanceContext> = kafka
        .consumer_config(&config.group_id)
        .create_with_context(RebalanceContext {
            revoked: revoked_tx,
        })
        .map_err(|e| ForwarderError::Kafka(e.to_string()))?;
    // Subscribing to a topic that does not exist yet (the analyzer has not created it) is only
    // retried at librdkafka's metadata refresh, minutes later: make sure it exists first (bounded:
    // a broker that is down at start must not hold the forwarder back).
    let topics = [
        kafka.detections_topic.as_str(),
        kafka.deadletter_topic.as_str(),
    ];
    if tokio::time::timeout(Duration::from_secs(5), kafka.ensure_topics(&topics))
        .await
        .is_err()
    {
        tracing::warn!("topic check did not finish in 5 s; subscribing anyway");
    }
    consumer
        .subscribe(&[&kafka.detections_topic])
        .map_err(|e| ForwarderError::Kafka(e.to_string()))?;
    let dead_letters = DeadLetters::Kafka {
        producer,
        topic: kafka.deadletter_topic.clone(),
    };

    let (ack_tx, mut ack_rx) = mpsc::unbounded_channel::<Ack>();
    let mut workers = JoinSet::new();
    let mut handles = Vec::new();
    for (i, (sink, sc)) in sinks.into_iter().zip(&config.sinks).enumerate() {
        let (tx, rx) = mpsc::channel(sc.batch.queue_capacity);
        metrics()
            .forwarder_queue
            .with_label_values(&[&sc.name])
            .set(0);
        metrics()
            .forwarder_circuit_open
            .with_label_values(&[&sc.name])
            .set(0);
        let worker = SinkWorker {
            index: i,
            name: sc.name.clone(),
            sink,
            batch: sc.batch.clone(),
            retry: sc.retry.clone(),
            breaker: CircuitBreaker::new(&sc.circuit_breaker, &sc.name),
            dead_letters: dead_letters.clone(),
            acks: ack_tx.clone(),
        };
        workers.spawn(worker.run(rx));
        handles.push(SinkHandle {
            name: sc.name.clone(),
            queue: tx,
        });
    }
    drop(ack_tx);
    readiness.set("kafka", true);
    tracing::info!(sinks = handles.len(), topic = %kafka.detections_topic, group = %config.group_id, "forwarder running");

    let topic = kafka.detections_topic.clone();
    let mut tracker = OffsetTracker::default();
    let mut recent = RecentIds::new(config.dedupe_window);
    let mut stored: BTreeMap<i32, i64> = BTreeMap::new();
    let mut summary = RunSummary::default();
    let store = |consumer: &StreamConsumer<RebalanceContext>,
                 stored: &mut BTreeMap<i32, i64>,
                 partition: i32,
                 next: i64| {
        let mut tpl = TopicPartitionList::new();
        if tpl
            .add_partition_offset(&topic, partition, Offset::Offset(next))
            .is_ok()
        {
            match consumer.store_offsets(&tpl) {
                Ok(()) => {
                    stored.insert(partition, next);
                }
                // Typically a partition revoked by a rebalance: its new owner redelivers.
                Err(e) => tracing::debug!(partition, next, error = %e, "offset not stored"),
            }
        }
    };

    tokio::pin!(shutdown);
    'consume: loop {
        tokio::select! {
            biased;
            _ = &mut shutdown => break 'consume,
            Some(partitions) = revoked_rx.recv() => {
                for p in partitions {
                    tracker.revoked(p);
                    stored.remove(&p);
                }
            }
            Some(ack) = ack_rx.recv() => {
                if let Some(o) = ack.origin {
                    if let Some(next) = tracker.done(o.partition, o.offset) {
                        store(&consumer, &mut stored, o.partition, next);
                    }
                }
            }
            message = consumer.recv() => {
                let message = match message {
                    Ok(m) => m,
                    Err(e) => {
                        tracing::warn!(error = %e, "Kafka consumer error; continuing");
                        tokio::time::sleep(Duration::from_millis(200)).await;
                        continue;
                    }
                };
                let origin = Origin { partition: message.partition(), offset: message.offset() };
                let raw: Arc<str> = Arc::from(String::from_utf8_lossy(message.payload().unwrap_or_default()).as_ref());
                drop(message);
                summary.consumed += 1;
                let detection: Detection = match serde_json::from_str(&raw) {
                    Ok(d) => d,
                    Err(e) => {
                        summary.malformed += 1;
                        let where_ = format!("{topic}[{}]@{}", origin.partition, origin.offset);
                        tracing::warn!(origin = %where_, error = %e, "not a detection; sending it to the dead-letter topic");
                        dead_letters
                            .write(DeadLetter::new("forwarder", where_, format!("not a detection: {e}"), raw.to_string()), "")
                            .await;
                        metrics().deadletter_records.with_label_values(&["forwarder", "malformed"]).inc();
                        if let Some(next) = tracker.received(origin.partition, origin.offset, 0) {
                            store(&consumer, &mut stored, origin.partition, next);
                        }
                        continue;
                    }
                };
                if !recent.insert(detection.id()) {
                    summary.duplicates += 1;
                    tracing::debug!(detection_id = %detection.id(), "duplicate detection dropped");
                    if let Some(next) = tracker.received(origin.partition, origin.offset, 0) {
                        store(&consumer, &mut stored, origin.partition, next);
                    }
                    continue;
                }
                if let Some(next) = tracker.received(origin.partition, origin.offset, handles.len()) {
                    store(&consumer, &mut stored, origin.partition, next);
                }
                let envelope = Envelope { detection: Arc::new(detection), raw, origin: Some(origin) };
                for h in &handles {
                    metrics().forwarder_queue.with_label_values(&[&h.name]).inc();
                    // A full queue waits here (backpressure) but never past a shutdown request.
                    tokio::select! {
                        biased;
                        _ = &mut shutdown => break 'consume,
                        sent = h.queue.send(envelope.clone()) => {
                            if sent.is_err() {
                                tracing::error!(sink = %h.name, "sink worker stopped unexpectedly");
                            }
                        }
                    }
                }
            }
        }
    }

    // Drain: no new detections; let every sink finish what it holds, storing offsets as acks come.
    readiness.set("kafka", false);
    tracing::info!(
        in_flight = tracker.in_flight(),
        "shutting down: draining sinks"
    );
    drop(handles);
    let drain = async {
        loop {
            tokio::select! {
                Some(ack) = ack_rx.recv() => {
                    if let Some(o) = ack.origin {
                        if let Some(next) = tracker.done(o.partition, o.offset) {
                            store(&consumer, &mut stored, o.partition, next);
                        }
                    }
                }
                joined = workers.join_next() => {
                    if joined.is_none() {
                        // Every worker is done; collect the acks they left behind.
                        while let Ok(ack) = ack_rx.try_recv() {
                            if let Some(o) = ack.origin {
                                if let Some(next) = tracker.done(o.partition, o.offset) {
                                    store(&consumer, &mut stored, o.partition, next);
                                }
                            }
                        }
                        break;
                    }
                }
            }
        }
    };
    if tokio::time::timeout(Duration::from_secs(config.drain_timeout_secs), drain)
        .await
        .is_err()
    {
        tracing::warn!(
            in_flight = tracker.in_flight(),
            "drain timeout: undelivered detections stay uncommitted and are redelivered on restart"
        );
        workers.abort_all();
    }
    summary.undelivered_at_shutdown = tracker.in_flight();

    // Commit exactly what was stored (not the consumer position, which may be ahead).
    if !stored.is_empty() {
        let mut tpl = TopicPartitionList::new();
        for (p, next) in &stored {
            let _ = tpl.add_partition_offset(&topic, *p, Offset::Offset(*next));
        }
        if let Err(e) = consumer.commit(&tpl, CommitMode::Sync) {
            tracing::warn!(error = %e, "final offset commit failed; the last detections may be redelivered (same ids)");
        }
    }
    summary.committed = stored;
    tracing::info!(?summary, "forwarder stopped");
    Ok(summary)
}
