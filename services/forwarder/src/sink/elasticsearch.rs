//! Elasticsearch / OpenSearch `_bulk`: one action per detection with `_id` = detection id, so a
//! redelivery overwrites (or, with `create`, is answered 409 and counted as delivered) instead of
//! duplicating. Per-item statuses decide each detection's fate.

use std::sync::Arc;

use loginwatch_shared::config::{ConfigError, Secret};
use loginwatch_shared::Detection;
use reqwest::StatusCode;
use serde::Deserialize;
use serde_json::Value;

use super::http::{describe, excerpt, join};
use super::{ItemOutcome, RetryKind, SendResult};
use crate::config::{BulkAction, SinkConfig};
use crate::render::{self, PayloadFormat};

/// Default target: an ECS data stream following the `logs-<dataset>-<namespace>` scheme.
pub const DEFAULT_INDEX: &str = "logs-loginwatch.detections-default";

enum Auth {
    None,
    Basic(String, Secret),
    ApiKey(Secret),
}

pub struct BulkSink {
    name: String,
    client: reqwest::Client,
    bulk_url: String,
    index: String,
    action: BulkAction,
    format: PayloadFormat,
    auth: Auth,
}

#[derive(Deserialize)]
struct BulkResponse {
    #[serde(default)]
    items: Vec<serde_json::Map<String, Value>>,
}

impl BulkSink {
    pub fn from_config(index: usize, config: &SinkConfig) -> Result<BulkSink, ConfigError> {
        let auth = match (&config.username, &config.password, &config.api_key) {
            (_, _, Some(key)) => Auth::ApiKey(key.resolve(&format!("sinks[{index}].api_key"))?),
            (Some(user), Some(pw), None) => Auth::Basic(
                user.clone(),
                pw.resolve(&format!("sinks[{index}].password"))?,
            ),
            _ => Auth::None,
        };
        Ok(BulkSink {
            name: config.name.clone(),
            client: super::http::client(index, config)?,
            bulk_url: join(&config.resolve_url(index)?, "_bulk"),
            index: config.index.clone().unwrap_or_else(|| DEFAULT_INDEX.into()),
            action: config.action,
            format: config.format,
            auth,
        })
    }

    /// NDJSON: an action line and a document line per detection.
    pub fn body(&self, batch: &[Arc<Detection>]) -> String {
        let action = match self.action {
            BulkAction::Create => "create",
            BulkAction::Index => "index",
        };
        let mut body = String::new();
        for d in batch {
            let meta = serde_json::json!({ action: { "_index": self.index, "_id": d.id() } });
            body.push_str(&meta.to_string());
            body.push('\n');
            body.push_str(&render::payload(d, self.format).to_string());
            body.push('\n');
        }
        body
    }

    pub async fn send(&mut self, batch: &[Arc<Detection>]) -> SendResult {
        let n = batch.len();
        let mut req = self
            .client
            .post(&self.bulk_url)
            .header("Content-Type", "application/x-ndjson")
            .body(self.body(batch));
        req = match &self.auth {
            Auth::None => req,
            Auth::Basic(user, pw) => req.basic_auth(user, Some(pw.expose())),
            Auth::ApiKey(key) => req.header("Authorization", format!("ApiKey {}", key.expose())),
        };
        let response = match req.send().await {
            Ok(r) => r,
            Err(e) => return SendResult::all(n, RetryKind::SinkUnavailable, describe(&e)),
        };
        let status = response.status();
        let text = response.text().await.unwrap_or_default();
        if !status.is_success() {
            let reason = format!("bulk request {status}: {}", excerpt(&text));
            return match status {
                StatusCode::TOO_MANY_REQUESTS => SendResult::all(n, RetryKind::Throttled, reason),
                StatusCode::PAYLOAD_TOO_LARGE | StatusCode::BAD_REQUEST => {
                    SendResult::RequestRejected(reason)
                }
                StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => {
                    tracing::error!(sink = %self.name, %reason, "Elasticsearch refused the credentials; fix the sink's username/password or api_key (detections are kept and retried)");
                    SendResult::all(n, RetryKind::SinkUnavailable, reason)
                }
                _ => SendResult::all(n, RetryKind::SinkUnavailable, reason),
            };
        }
        let parsed: BulkResponse = match serde_json::from_str(&text) {
            Ok(p) => p,
            Err(e) => {
                return SendResult::all(
                    n,
                    RetryKind::SinkUnavailable,
                    format!("unreadable bulk response ({e}): {}", excerpt(&text)),
                )
            }
        };
        if parsed.items.len() != n {
            return SendResult::all(
                n,
                RetryKind::SinkUnavailable,
                format!(
                    "bulk response has {} items for {n} actions",
                    parsed.items.len()
                ),
            );
        }
        SendResult::Items(
            parsed
                .items
                .iter()
                .map(|item| self.item_outcome(item))
                .collect(),
        )
    }

    fn item_outcome(&self, item: &serde_json::Map<String, Value>) -> ItemOutcome {
        let Some(result) = item.values().next() else {
            return ItemOutcome::Retry {
                kind: RetryKind::ItemFailed,
                reason: "empty bulk item".into(),
            };
        };
        let status = result.get("status").and_then(Value::as_u64).unwrap_or(0);
        let error = result
            .get("error")
            .map(|e| {
                match (
                    e.get("type").and_then(Value::as_str),
                    e.get("reason").and_then(Value::as_str),
                ) {
                    (Some(t), Some(r)) => format!("{t}: {r}"),
                    _ => e.to_string(),
                }
            })
            .unwrap_or_default();
        match status {
            200..=299 => ItemOutcome::Delivered,
            // `create` of an `_id` that exists: this very detection was delivered before.
            409 if self.action == BulkAction::Create => ItemOutcome::Delivered,
            429 => ItemOutcome::Retry {
                kind: RetryKind::Throttled,
                reason: format!("bulk item 429: {error}"),
            },
            500..=599 | 0 => ItemOutcome::Retry {
                kind: RetryKind::ItemFailed,
                reason: format!("bulk item {status}: {error}"),
            },
            _ => ItemOutcome::Rejected {
                reason: format!("bulk item {status}: {error}"),
            },
        }
    }
}
