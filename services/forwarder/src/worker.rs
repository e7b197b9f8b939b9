//! One task per sink: a bounded queue in, batches out, retries with exponential backoff and
//! jitter, a circuit breaker, dead letters for what the sink will never take, and an
//! acknowledgement per detection once it is delivered or dead-lettered.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, Instant};

use loginwatch_shared::kafka::DeadLetter;
use loginwatch_shared::metrics::metrics;
use loginwatch_shared::Detection;
use rand::Rng;
use rdkafka::producer::{FutureProducer, FutureRecord};
use tokio::sync::mpsc;

use crate::config::{BatchConfig, CircuitBreakerConfig, RetryConfig};
use crate::sink::{ItemOutcome, RetryKind, SendResult, Sink};

/// Where a detection came from, so its acknowledgement can store the right Kafka offset.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Origin {
    pub partition: i32,
    pub offset: i64,
}

/// A detection on its way to one sink.
#[derive(Debug, Clone)]
pub struct Envelope {
    pub detection: Arc<Detection>,
    /// The Kafka message as received, for the dead letter.
    pub raw: Arc<str>,
    pub origin: Option<Origin>,
}

/// A sink is done with a detection (delivered or dead-lettered).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ack {
    pub sink: usize,
    pub origin: Option<Origin>,
    pub detection_id: String,
    pub dead_lettered: bool,
}

/// Where rejected detections go.
#[derive(Clone)]
pub enum DeadLetters {
    /// The dead-letter topic; the write is awaited before the detection is acknowledged.
    Kafka {
        producer: FutureProducer,
        topic: String,
    },
    /// Collected in memory (tests of single sinks).
    Channel(mpsc::UnboundedSender<DeadLetter>),
}

impl DeadLetters {
    /// Writes one dead letter, retrying until Kafka takes it: losing it would lose the detection.
    pub async fn write(&self, letter: DeadLetter, key: &str) {
        match self {
            DeadLetters::Channel(tx) => {
                let _ = tx.send(letter);
            }
            DeadLetters::Kafka { producer, topic } => {
                let payload = letter.to_json();
                let mut backoff = Duration::from_millis(100);
                loop {
                    let record = FutureRecord::to(topic).key(key).payload(&payload);
                    match producer.send(record, Duration::from_secs(30)).await {
                        Ok(_) => return,
                        Err((e, _)) => {
                            tracing::warn!(error = %e, topic, "dead letter not written yet; retrying");
                            tokio::time::sleep(backoff).await;
                            backoff = (backoff * 2).min(Duration::from_secs(10));
                        }
                    }
                }
            }
        }
    }
}

/// Exponential backoff with full jitter over the upper half: `[b/2, b]`, `b` doubling to the cap.
#[derive(Debug, Clone)]
pub struct Backoff {
    initial: Duration,
    max: Duration,
    current: Duration,
}

impl Backoff {
    pub fn new(retry: &RetryConfig) -> Backoff {
        Backoff {
            initial: retry.initial_backoff(),
            max: retry.max_backoff(),
            current: retry.initial_backoff(),
        }
    }

    /// The next wait; doubles the base for the time after.
    pub fn next_delay(&mut self) -> Duration {
        let base = self.current;
        self.current = (self.current * 2).min(self.max);
        let half = base / 2;
        half + rand::thread_rng().gen_range(Duration::ZERO..=half)
    }

    pub fn reset(&mut self) {
        self.current = self.initial;
    }
}

/// Consecutive-failure circuit breaker: open after `failure_threshold` failed requests, then one
/// trial request after `open_secs` (half-open); a success closes it.
#[derive(Debug)]
pub struct CircuitBreaker {
    threshold: u32,
    open_for: Duration,
    consecutive_failures: u32,
    open_until: Option<Instant>,
    sink: String,
}

impl CircuitBreaker {
    pub fn new(config: &CircuitBreakerConfig, sink: &str) -> CircuitBreaker {
        CircuitBreaker {
            threshold: config.failure_threshold.max(1),
            open_for: Duration::from_secs(config.open_secs),
            consecutive_failures: 0,
            open_until: None,
            sink: sink.into(),
        }
    }

    pub fn is_open(&self) -> bool {
        self.open_until.is_some()
    }

    /// How long to wait before the next request is allowed (zero when closed or half-open).
    pub fn wait_time(&self, now: Instant) -> Duration {
        self.open_until
            .map(|t| t.saturating_duration_since(now))
            .unwrap_or_default()
    }

    pub fn record_success(&mut self) {
        if self.open_until.take().is_some() {
            tracing::info!(sink = %self.sink, "sink recovered; circuit closed");
            metrics()
                .forwarder_circuit_open
                .with_label_values(&[&self.sink])
                .set(0);
        }
        self.consecutive_failures = 0;
    }

    pub fn record_failure(&mut self, now: Instant) {
        self.consecutive_failures += 1;
        if self.consecutive_failures >= self.threshold {
            if self.open_until.is_none() {
                tracing::warn!(sink = %self.sink, failures = self.consecutive_failures, open_for = ?self.open_for, "sink keeps failing; circuit open");
                metrics()
                    .forwarder_circuit_open
                    .with_label_values(&[&self.sink])
                    .set(1);
            }
            self.open_until = Some(now + self.open_for);
        }
    }
}

struct Pending {
    envelope: Envelope,
    attempts: u32,
}

pub struct SinkWorker {
    pub index: usize,
    pub name: String,
    pub sink: Sink,
    pub batch: BatchConfig,
    pub retry: RetryConfig,
    pub breaker: CircuitBreaker,
    pub dead_letters: DeadLetters,
    pub acks: mpsc::UnboundedSender<Ack>,
}

impl SinkWorker {
    /// Runs until the queue is closed and everything in it is delivered or dead-lettered.
    pub async fn run(mut self, mut queue: mpsc::Receiver<Envelope>) {
        let linger = Duration::from_millis(self.batch.linger_ms);
        let max = self.batch.max_events.max(1);
        let mut batch: Vec<Envelope> = Vec::with_capacity(max);
        loop {
            // Wait for the first detection, then linger for more up to the batch size.
            match queue.recv().await {
                Some(e) => batch.push(e),
                None => break,
            }
            let deadline = tokio::time::Instant::now() + linger;
            while batch.len() < max {
                match tokio::time::timeout_at(deadline, queue.recv()).await {
                    Ok(Some(e)) => batch.push(e),
                    Ok(None) | Err(_) => break,
                }
            }
            self.deliver(std::mem::take(&mut batch)).await;
        }
        tracing::debug!(sink = %self.name, "sink queue drained");
    }

    async fn deliver(&mut self, batch: Vec<Envelope>) {
        let labels = [self.name.as_str()];
        let m = metrics();
        let mut queue: VecDeque<Pending> = batch
            .into_iter()
            .map(|envelope| Pending {
                envelope,
                attempts: 0,
            })
            .collect();
        let mut chunk = self.batch.max_events.max(1);
        let mut backoff = Backoff::new(&self.retry);
        while !queue.is_empty() {
            let wait = self.breaker.wait_time(Instant::now());
            if !wait.is_zero() {
                tokio::time::sleep(wait).await;
            }
            let take = chunk.min(queue.len());
            let items: Vec<Pending> = queue.drain(..take).collect();
            let detections: Vec<Arc<Detection>> =
                items.iter().map(|p| p.envelope.detection.clone()).collect();
            let started = Instant::now();
            let result = self.sink.send(&detections).await;
            m.forwarder_delivery_duration
                .with_label_values(&labels)
                .observe(started.elapsed().as_secs_f64());

            let outcomes = match result {
                SendResult::RequestRejected(reason) if take > 1 => {
                    // Some item poisons the whole request: find it by sending one at a time.
                    tracing::warn!(sink = %self.name, %reason, "request rejected; resending its {take} detections one by one");
                    chunk = 1;
                    for p in items.into_iter().rev() {
                        queue.push_front(p);
                    }
                    continue;
                }
                SendResult::RequestRejected(reason) => vec![ItemOutcome::Rejected { reason }],
                SendResult::Items(outcomes) if outcomes.len() == items.len() => outcomes,
                SendResult::Items(outcomes) => {
                    // A sink bug must not lose anything: treat as unavailable.
                    tracing::error!(sink = %self.name, got = outcomes.len(), want = items.len(), "sink returned the wrong number of outcomes");
                    vec![
                        ItemOutcome::Retry {
                            kind: RetryKind::SinkUnavailable,
                            reason: "internal: outcome count mismatch".into()
                        };
                        items.len()
                    ]
                }
            };

            let mut retry_later = Vec::new();
            let mut sink_failed = false;
            let mut last_reason = String::new();
            for (mut p, outcome) in items.into_iter().zip(outcomes) {
                match outcome {
                    ItemOutcome::Delivered => {
                        m.forwarder_deliveries.with_label_values(&labels).inc();
                        self.ack(&p.envelope, false);
                    }
                    ItemOutcome::Rejected { reason } => self.dead_letter(p.envelope, &reason).await,
                    ItemOutcome::Retry { kind, reason } => {
                        p.attempts += 1;
                        match kind {
                            RetryKind::SinkUnavailable => sink_failed = true,
                            RetryKind::Throttled => {}
                            RetryKind::ItemFailed
                                if p.attempts >= self.retry.max_item_attempts.max(1) =>
                            {
                                let why =
                                    format!("gave up after {} attempts: {reason}", p.attempts);
                                self.dead_letter(p.envelope, &why).await;
                                continue;
                            }
                            RetryKind::ItemFailed => {}
                        }
                        last_reason = reason;
                        retry_later.push(p);
                    }
                }
            }
            if sink_failed {
                self.breaker.record_failure(Instant::now());
            } else {
                self.breaker.record_success();
            }
            if retry_later.is_empty() {
                backoff.reset();
                continue;
            }
            m.forwarder_retries
                .with_label_values(&labels)
                .inc_by(retry_later.len() as u64);
            let delay = backoff.next_delay();
            tracing::warn!(sink = %self.name, detections = retry_later.len(), reason = %last_reason, retry_in = ?delay, "delivery failed; will retry");
            for p in retry_later.into_iter().rev() {
                queue.push_front(p);
            }
            if !self.breaker.is_open() {
                tokio::time::sleep(delay).await;
            }
        }
    }

    async fn dead_letter(&self, envelope: Envelope, reason: &str) {
        let d = &envelope.detection;
        tracing::warn!(sink = %self.name, detection_id = %d.id(), %reason, "sink rejected detection; sending it to the dead-letter topic");
        let letter = DeadLetter::new(
            "forwarder",
            format!("sink:{}", self.name),
            reason,
            envelope.raw.to_string(),
        )
        .with_org(d.cloud.account.id.clone());
        self.dead_letters.write(letter, d.id()).await;
        let m = metrics();
        m.forwarder_deadletters
            .with_label_values(&[&self.name])
            .inc();
        m.deadletter_records
            .with_label_values(&["forwarder", "sink_rejected"])
            .inc();
        self.ack(&envelope, true);
    }

    fn ack(&self, envelope: &Envelope, dead_lettered: bool) {
        metrics()
            .forwarder_queue
            .with_label_values(&[&self.name])
            .dec();
        let _ = self.acks.send(Ack {
            sink: self.index,
            origin: envelope.origin,
            detection_id: envelope.detection.id().to_string(),
            dead_lettered,
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_within_jitter_and_caps() {
        let mut b = Backoff::new(&RetryConfig {
            initial_backoff_ms: 100,
            max_backoff_ms: 400,
            max_item_attempts: 5,
        });
        let bounds = [(50, 100), (100, 200), (200, 400), (200, 400)];
        for (lo, hi) in bounds {
            let d = b.next_delay().as_millis() as u64;
            assert!((lo..=hi).contains(&d), "{d} not in {lo}..={hi}");
        }
        b.reset();
        assert!(b.next_delay() <= Duration::from_millis(100));
    }

    #[test]
    fn breaker_opens_after_threshold_and_closes_on_success() {
        let mut cb = CircuitBreaker::new(
            &CircuitBreakerConfig {
                failure_threshold: 3,
                open_secs: 10,
            },
            "unit",
        );
        let now = Instant::now();
        cb.record_failure(now);
        cb.record_failure(now);
        assert!(!cb.is_open());
        cb.record_failure(now);
        assert!(cb.is_open());
        assert_eq!(cb.wait_time(now), Duration::from_secs(10));
        assert!(cb.wait_time(now + Duration::from_secs(11)).is_zero());
        cb.record_success();
        assert!(!cb.is_open());
    }
}
