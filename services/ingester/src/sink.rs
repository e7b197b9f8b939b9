//! The Kafka side: an idempotent `FutureProducer` writing login events (key `org_id/user_id`) and
//! dead letters. A batch is complete only when Kafka acknowledged every record in it; callers
//! advance their cursor after that. A shared bound on unacknowledged records applies
//! backpressure: when the broker is slow or down, `deliver` waits, so readers stop reading from
//! Salesforce. Nothing is dropped: librdkafka retries until delivered (`message.timeout.ms=0`).

use std::sync::Arc;
use std::time::Duration;

use futures::stream::{FuturesUnordered, StreamExt};
use loginwatch_shared::kafka::{DeadLetter, KafkaSettings};
use loginwatch_shared::metrics::metrics;
use loginwatch_shared::LoginEvent;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::producer::{FutureProducer, FutureRecord, Producer};
use rdkafka::util::Timeout;
use tokio::sync::Semaphore;

#[derive(Debug, thiserror::Error)]
pub enum SinkError {
    #[error("cannot create the Kafka producer (check [kafka] settings): {0}")]
    Create(String),
    #[error("Kafka rejected a record for {topic}: {error}")]
    Delivery { topic: String, error: String },
    #[error("cannot serialise a login event: {0}")]
    Serialise(String),
}

/// One record to write.
pub enum Outgoing {
    Login(Box<LoginEvent>),
    Dead(DeadLetter),
}

#[derive(Clone)]
pub struct KafkaSink {
    producer: FutureProducer,
    logins_topic: String,
    deadletter_topic: String,
    in_flight: Arc<Semaphore>,
}

impl KafkaSink {
    pub fn new(settings: &KafkaSettings, max_in_flight: usize) -> Result<KafkaSink, SinkError> {
        let producer: FutureProducer = settings
            .producer_config()
            .create()
            .map_err(|e| SinkError::Create(e.to_string()))?;
        Ok(KafkaSink {
            producer,
            logins_topic: settings.logins_topic.clone(),
            deadletter_topic: settings.deadletter_topic.clone(),
            in_flight: Arc::new(Semaphore::new(max_in_flight.max(1))),
        })
    }

    pub fn producer(&self) -> &FutureProducer {
        &self.producer
    }

    /// Writes every record and returns once Kafka acknowledged all of them (in any order).
    pub async fn deliver(&self, records: Vec<Outgoing>) -> Result<(), SinkError> {
        let mut pending = FuturesUnordered::new();
        for record in records {
            let (topic, key, payload, is_dead) = match record {
                Outgoing::Login(ev) => (
                    self.logins_topic.as_str(),
                    ev.kafka_key(),
                    serde_json::to_string(&ev).map_err(|e| SinkError::Serialise(e.to_string()))?,
                    false,
                ),
                Outgoing::Dead(d) => (
                    self.deadletter_topic.as_str(),
                    d.org_id.clone().unwrap_or_default(),
                    d.to_json(),
                    true,
                ),
            };
            let permit = self
                .in_flight
                .clone()
                .acquire_owned()
                .await
                .expect("in-flight semaphore is never closed");
            let delivery = self.enqueue(topic, &key, &payload).await;
            pending.push(async move {
                let result = match delivery {
                    Ok(fut) => match fut.await {
                        Ok(Ok(_)) => Ok(()),
                        Ok(Err((e, _))) => Err(SinkError::Delivery {
                            topic: topic.to_string(),
                            error: e.to_string(),
                        }),
                        Err(_) => Err(SinkError::Delivery {
                            topic: topic.to_string(),
                            error: "producer dropped the record".into(),
                        }),
                    },
                    Err(e) => Err(e),
                };
                drop(permit);
                (result, is_dead)
            });
        }
        let mut first_error = None;
        while let Some((result, is_dead)) = pending.next().await {
            match result {
                Ok(()) if is_dead => {
                    metrics()
                        .deadletter_records
                        .with_label_values(&["ingester", "parse"])
                        .inc();
                }
                Ok(()) => {}
                Err(e) => {
                    first_error.get_or_insert(e);
                }
            }
        }
        metrics()
            .kafka_producer_queue
            .with_label_values(&["ingester"])
            .set(self.producer.in_flight_count() as i64);
        match first_error {
            None => Ok(()),
            Some(e) => Err(e),
        }
    }

    /// Hands one record to librdkafka, waiting while its local queue is full.
    async fn enqueue(
        &self,
        topic: &str,
        key: &str,
        payload: &str,
    ) -> Result<rdkafka::producer::DeliveryFuture, SinkError> {
        loop {
            let record = FutureRecord::to(topic).key(key).payload(payload);
            match self.producer.send_result(record) {
                Ok(fut) => return Ok(fut),
                Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), _)) => {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                Err((e, _)) => {
                    return Err(SinkError::Delivery {
                        topic: topic.to_string(),
                        error: e.to_string(),
                    })
                }
            }
        }
    }

    /// Waits up to `timeout` for queued records to be delivered.
    pub fn flush(&self, timeout: Duration) -> bool {
        self.producer.flush(Timeout::After(timeout)).is_ok()
    }
}
