//! Kafka plumbing shared by the services: settings, client construction, topic creation and the
//! dead-letter record. Everything goes through `rdkafka`; tests use librdkafka's mock cluster or a
//! real broker on loopback with the same code.

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::{DateTime, Utc};
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::error::RDKafkaErrorCode;
use rdkafka::producer::{BaseProducer, Producer};
use serde::{Deserialize, Serialize};

pub const LOGINS_TOPIC: &str = "loginwatch.logins.v1";
pub const DETECTIONS_TOPIC: &str = "loginwatch.detections.v1";
pub const DEADLETTER_TOPIC: &str = "loginwatch.deadletter.v1";

/// `[kafka]` section of every service config.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct KafkaSettings {
    /// Comma-separated `host:port` list. Default `127.0.0.1:9092`.
    pub bootstrap_servers: String,
    /// Login events topic. Default `loginwatch.logins.v1`.
    pub logins_topic: String,
    /// Detections topic. Default `loginwatch.detections.v1`.
    pub detections_topic: String,
    /// Dead-letter topic. Default `loginwatch.deadletter.v1`.
    pub deadletter_topic: String,
    /// Partitions for topics this service creates when missing. Default 6.
    pub partitions: i32,
    /// Replication factor for created topics. Default 1.
    pub replication_factor: i32,
    /// Extra librdkafka properties (e.g. `security.protocol`, `sasl.mechanism`), passed as is.
    pub properties: BTreeMap<String, String>,
}

impl Default for KafkaSettings {
    fn default() -> Self {
        KafkaSettings {
            bootstrap_servers: "127.0.0.1:9092".into(),
            logins_topic: LOGINS_TOPIC.into(),
            detections_topic: DETECTIONS_TOPIC.into(),
            deadletter_topic: DEADLETTER_TOPIC.into(),
            partitions: 6,
            replication_factor: 1,
            properties: BTreeMap::new(),
        }
    }
}

impl KafkaSettings {
    /// Base client config: bootstrap servers plus the extra properties.
    pub fn client_config(&self) -> ClientConfig {
        let mut c = ClientConfig::new();
        c.set("bootstrap.servers", &self.bootstrap_servers);
        for (k, v) in &self.properties {
            c.set(k, v);
        }
        c
    }

    /// Idempotent producer settings (acks=all, ordered retries, bounded queue).
    pub fn producer_config(&self) -> ClientConfig {
        let mut c = self.client_config();
        c.set("enable.idempotence", "true")
            .set("acks", "all")
            .set("linger.ms", "10")
            .set("message.timeout.ms", "0") // retry until delivered; backpressure stops reading instead
            .set("queue.buffering.max.messages", "100000");
        for (k, v) in &self.properties {
            c.set(k, v);
        }
        c
    }

    /// At-least-once consumer settings: offsets stored by the application only after the work
    /// depending on them is durable; librdkafka commits what was stored.
    pub fn consumer_config(&self, group_id: &str) -> ClientConfig {
        let mut c = self.client_config();
        c.set("group.id", group_id)
            .set("enable.auto.commit", "true")
            .set("enable.auto.offset.store", "false")
            .set("auto.commit.interval.ms", "1000")
            .set("auto.offset.reset", "earliest")
            .set("enable.partition.eof", "false")
            .set("session.timeout.ms", "10000");
        for (k, v) in &self.properties {
            c.set(k, v);
        }
        c
    }

    /// Creates the named topics when missing. Brokers without the CreateTopics API (librdkafka's
    /// mock cluster) auto-create topics instead, so "not supported" is not an error here.
    pub async fn ensure_topics(&self, topics: &[&str]) -> Result<(), KafkaSetupError> {
        // Ask the metadata first: topics that exist need no CreateTopics, which some brokers
        // (librdkafka's mock cluster) never answer and restricted principals may not send.
        let missing = self.missing_topics(topics).await;
        if missing.is_empty() {
            return Ok(());
        }
        let admin: AdminClient<DefaultClientContext> = self
            .client_config()
            .create()
            .map_err(|e| KafkaSetupError::Client(e.to_string()))?;
        let new: Vec<NewTopic> = missing
            .iter()
            .map(|t| {
                NewTopic::new(
                    t,
                    self.partitions,
                    TopicReplication::Fixed(self.replication_factor),
                )
            })
            .collect();
        let opts = AdminOptions::new()
            .operation_timeout(Some(Duration::from_secs(10)))
            .request_timeout(Some(Duration::from_secs(15)));
        match admin.create_topics(new.iter(), &opts).await {
            Ok(results) => {
                for r in results {
                    match r {
                        Ok(_) => {}
                        Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {}
                        Err((topic, code)) => {
                            tracing::warn!(%topic, error = %code, "could not create topic; relying on broker auto-creation")
                        }
                    }
                }
                Ok(())
            }
            Err(e) => {
                tracing::warn!(error = %e, "CreateTopics failed; relying on broker auto-creation");
                Ok(())
            }
        }
    }
}

impl KafkaSettings {
    /// The subset of `topics` the cluster's metadata does not list (all of them when the metadata
    /// cannot be read within 10 s).
    async fn missing_topics(&self, topics: &[&str]) -> Vec<String> {
        let wanted: Vec<String> = topics.iter().map(|t| t.to_string()).collect();
        let config = self.client_config();
        let all = wanted.clone();
        tokio::task::spawn_blocking(move || {
            let Ok(client) = config.create::<BaseProducer>() else {
                return wanted;
            };
            match client
                .client()
                .fetch_metadata(None, Duration::from_secs(10))
            {
                Ok(md) => wanted
                    .into_iter()
                    .filter(|t| {
                        !md.topics().iter().any(|m| {
                            m.name() == t && m.error().is_none() && !m.partitions().is_empty()
                        })
                    })
                    .collect(),
                Err(_) => wanted,
            }
        })
        .await
        .unwrap_or(all)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum KafkaSetupError {
    #[error("cannot create Kafka client (check [kafka] settings): {0}")]
    Client(String),
}

/// A record that could not be processed, written whole to `loginwatch.deadletter.v1`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeadLetter {
    /// `ingester`, `analyzer`, `forwarder`.
    pub service: String,
    /// Where the record came from (`login_history`, `loginwatch.logins.v1[3]@1042`, `sink:splunk`, …).
    pub origin: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub org_id: Option<String>,
    /// What went wrong, naming the field and value when known.
    pub error: String,
    /// The record exactly as received (text; binary payloads are lossily decoded).
    pub raw: String,
    #[serde(with = "crate::time::rfc3339_millis")]
    pub at: DateTime<Utc>,
}

impl DeadLetter {
    pub fn new(
        service: &str,
        origin: impl Into<String>,
        error: impl Into<String>,
        raw: impl Into<String>,
    ) -> Self {
        DeadLetter {
            service: service.into(),
            origin: origin.into(),
            org_id: None,
            error: error.into(),
            raw: raw.into(),
            at: crate::time::truncate_to_millis(Utc::now()),
        }
    }

    pub fn with_org(mut self, org_id: impl Into<String>) -> Self {
        self.org_id = Some(org_id.into());
        self
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("dead letter serialises")
    }
}
