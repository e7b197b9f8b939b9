//! Sinks: one delivery attempt of a batch to one destination, reporting per item what happened.
//! Retrying, batching, circuit breaking and dead-lettering are the worker's job ([`crate::worker`]).

use std::sync::Arc;

use loginwatch_shared::config::ConfigError;
use loginwatch_shared::Detection;

use crate::config::{SinkConfig, SinkType};

pub mod elasticsearch;
pub mod http;
pub mod splunk_hec;
pub mod stdout;
pub mod syslog;
pub mod tls;
pub mod webhook;

/// Why an item must be tried again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RetryKind {
    /// The sink as a whole is unavailable (connection refused, 5xx, timeout): retried without
    /// limit; counts towards the circuit breaker.
    SinkUnavailable,
    /// The sink asked us to slow down (429): retried without limit.
    Throttled,
    /// The sink failed this one item (per-item 5xx in a bulk response): retried up to
    /// `retry.max_item_attempts`, then dead-lettered.
    ItemFailed,
}

/// The fate of one detection in one attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ItemOutcome {
    /// The sink confirmed it (HTTP 2xx, bulk item 2xx/409-on-create, HEC ack, written to the socket).
    Delivered,
    Retry {
        kind: RetryKind,
        reason: String,
    },
    /// The sink will never accept it (mapping error, invalid data): dead letter.
    Rejected {
        reason: String,
    },
}

/// The result of sending one batch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SendResult {
    /// One outcome per item, in order.
    Items(Vec<ItemOutcome>),
    /// The sink refused the request as a whole as malformed (HEC 400, 413): the worker resends the
    /// items one by one to find the bad one.
    RequestRejected(String),
}

impl SendResult {
    /// Every item retried for the same reason.
    pub fn all(n: usize, kind: RetryKind, reason: impl Into<String>) -> SendResult {
        let reason = reason.into();
        SendResult::Items(vec![
            ItemOutcome::Retry {
                kind,
                reason: reason.clone()
            };
            n
        ])
    }

    pub fn all_delivered(n: usize) -> SendResult {
        SendResult::Items(vec![ItemOutcome::Delivered; n])
    }
}

/// A configured destination.
pub enum Sink {
    SplunkHec(splunk_hec::HecSink),
    Elasticsearch(elasticsearch::BulkSink),
    Syslog(syslog::SyslogSink),
    Webhook(webhook::WebhookSink),
    Stdout(stdout::StdoutSink),
}

impl Sink {
    /// Builds the sink from its config, resolving credentials (errors name the key, never the value).
    pub fn from_config(index: usize, config: &SinkConfig) -> Result<Sink, ConfigError> {
        Ok(match config.kind {
            SinkType::SplunkHec => {
                Sink::SplunkHec(splunk_hec::HecSink::from_config(index, config)?)
            }
            SinkType::Elasticsearch => {
                Sink::Elasticsearch(elasticsearch::BulkSink::from_config(index, config)?)
            }
            SinkType::Syslog => Sink::Syslog(syslog::SyslogSink::from_config(index, config)?),
            SinkType::Webhook => Sink::Webhook(webhook::WebhookSink::from_config(index, config)?),
            SinkType::Stdout => Sink::Stdout(stdout::StdoutSink::new(config.color)),
        })
    }

    /// One attempt to deliver `batch`.
    pub async fn send(&mut self, batch: &[Arc<Detection>]) -> SendResult {
        match self {
            Sink::SplunkHec(s) => s.send(batch).await,
            Sink::Elasticsearch(s) => s.send(batch).await,
            Sink::Syslog(s) => s.send(batch).await,
            Sink::Webhook(s) => s.send(batch).await,
            Sink::Stdout(s) => s.send(batch).await,
        }
    }
}
