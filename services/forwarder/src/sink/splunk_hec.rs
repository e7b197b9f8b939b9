//! Splunk HTTP Event Collector: `POST /services/collector/event` with concatenated envelopes,
//! optional indexer acknowledgements (`X-Splunk-Request-Channel`, `POST /services/collector/ack`).

use std::sync::Arc;
use std::time::{Duration, Instant};

use loginwatch_shared::config::{ConfigError, Secret};
use loginwatch_shared::Detection;
use reqwest::StatusCode;
use serde::Deserialize;

use super::http::{describe, excerpt, join};
use super::{ItemOutcome, RetryKind, SendResult};
use crate::config::SinkConfig;
use crate::render::{self, HecMeta, PayloadFormat};

pub const EVENT_PATH: &str = "services/collector/event";
pub const ACK_PATH: &str = "services/collector/ack";

pub struct HecSink {
    name: String,
    client: reqwest::Client,
    event_url: String,
    ack_url: String,
    token: Secret,
    meta: HecMeta,
    format: PayloadFormat,
    /// `Some(channel)` when indexer acknowledgements are on.
    ack_channel: Option<String>,
    ack_poll_interval: Duration,
    ack_timeout: Duration,
}

#[derive(Deserialize)]
struct HecResponse {
    #[serde(default)]
    text: String,
    #[serde(default)]
    code: Option<i64>,
    #[serde(default, rename = "ackId")]
    ack_id: Option<u64>,
}

#[derive(Deserialize)]
struct AckResponse {
    acks: std::collections::HashMap<String, bool>,
}

impl HecSink {
    pub fn from_config(index: usize, config: &SinkConfig) -> Result<HecSink, ConfigError> {
        let url = config.resolve_url(index)?;
        let token = config
            .token
            .as_ref()
            .ok_or_else(|| {
                ConfigError::key(format!("sinks[{index}].token"), "required for splunk_hec")
            })?
            .resolve(&format!("sinks[{index}].token"))?;
        Ok(HecSink {
            name: config.name.clone(),
            client: super::http::client(index, config)?,
            event_url: join(&url, EVENT_PATH),
            ack_url: join(&url, ACK_PATH),
            token,
            meta: HecMeta {
                host: config.host_or_default(),
                source: config.source.clone().unwrap_or_else(|| "loginwatch".into()),
                sourcetype: config
                    .sourcetype
                    .clone()
                    .unwrap_or_else(|| "loginwatch:detection".into()),
                index: config.index.clone(),
            },
            format: config.format,
            ack_channel: config
                .acknowledgements
                .then(|| uuid::Uuid::new_v4().to_string()),
            ack_poll_interval: Duration::from_millis(config.ack_poll_interval_ms.max(10)),
            ack_timeout: Duration::from_secs(config.ack_timeout_secs.max(1)),
        })
    }

    /// The request body: envelopes concatenated, newline-separated (HEC accepts any whitespace).
    pub fn body(&self, batch: &[Arc<Detection>]) -> String {
        let mut body = String::new();
        for d in batch {
            body.push_str(&render::hec_envelope(d, &self.meta, self.format).to_string());
            body.push('\n');
        }
        body
    }

    fn request(&self, url: &str) -> reqwest::RequestBuilder {
        let mut req = self
            .client
            .post(url)
            .header("Authorization", format!("Splunk {}", self.token.expose()));
        if let Some(channel) = &self.ack_channel {
            req = req.header("X-Splunk-Request-Channel", channel);
        }
        req
    }

    pub async fn send(&mut self, batch: &[Arc<Detection>]) -> SendResult {
        let n = batch.len();
        let response = match self
            .request(&self.event_url)
            .header("Content-Type", "application/json")
            .body(self.body(batch))
            .send()
            .await
        {
            Ok(r) => r,
            Err(e) => return SendResult::all(n, RetryKind::SinkUnavailable, describe(&e)),
        };
        let status = response.status();
        let text = response.text().await.unwrap_or_default();
        let parsed: Option<HecResponse> = serde_json::from_str(&text).ok();
        let hec_code = parsed.as_ref().and_then(|p| p.code);
        if status.is_success() {
            let Some(channel) = self.ack_channel.clone() else {
                return SendResult::all_delivered(n);
            };
            let Some(ack_id) = parsed.and_then(|p| p.ack_id) else {
                return SendResult::all(
                    n,
                    RetryKind::SinkUnavailable,
                    "acknowledgements are on but HEC returned no ackId; enable indexer acknowledgement on the token or set acknowledgements = false",
                );
            };
            return self.await_ack(&channel, ack_id, n).await;
        }
        let reason = format!(
            "HEC {status}: {}",
            parsed
                .as_ref()
                .map(|p| p.text.clone())
                .unwrap_or_else(|| excerpt(&text))
        );
        match (status, hec_code) {
            // 5 no data, 6 invalid data format, 12 event field required, 13 event field blank.
            (StatusCode::BAD_REQUEST, Some(5 | 6 | 12 | 13))
            | (StatusCode::PAYLOAD_TOO_LARGE, _) => SendResult::RequestRejected(reason),
            (StatusCode::TOO_MANY_REQUESTS, _) => SendResult::all(n, RetryKind::Throttled, reason),
            (StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN, _) => {
                // Not the detection's fault: keep it and tell the operator.
                tracing::error!(sink = %self.name, %reason, "Splunk rejected the HEC token; fix the sink's token (detections are kept and retried)");
                SendResult::all(n, RetryKind::SinkUnavailable, reason)
            }
            (s, _)
                if s.is_client_error()
                    && s != StatusCode::BAD_REQUEST
                    && s != StatusCode::REQUEST_TIMEOUT =>
            {
                SendResult::RequestRejected(reason)
            }
            _ => SendResult::all(n, RetryKind::SinkUnavailable, reason),
        }
    }

    /// Polls `/services/collector/ack` until the indexers confirm `ack_id` or the timeout passes.
    async fn await_ack(&self, channel: &str, ack_id: u64, n: usize) -> SendResult {
        let deadline = Instant::now() + self.ack_timeout;
        let body = serde_json::json!({ "acks": [ack_id] }).to_string();
        let url = format!("{}?channel={channel}", self.ack_url);
        loop {
            tokio::time::sleep(self.ack_poll_interval).await;
            match self
                .request(&url)
                .header("Content-Type", "application/json")
                .body(body.clone())
                .send()
                .await
            {
                Ok(r) if r.status().is_success() => {
                    if let Ok(ack) = r.json::<AckResponse>().await {
                        if ack.acks.get(&ack_id.to_string()).copied().unwrap_or(false) {
                            return SendResult::all_delivered(n);
                        }
                    }
                }
                Ok(r) => {
                    tracing::debug!(sink = %self.name, status = %r.status(), "HEC ack poll failed")
                }
                Err(e) => {
                    tracing::debug!(sink = %self.name, error = %describe(&e), "HEC ack poll failed")
                }
            }
            if Instant::now() >= deadline {
                // At-least-once: resend; the detection id lets Splunk searches drop the duplicate.
                return SendResult::Items(vec![
                    ItemOutcome::Retry {
                        kind: RetryKind::SinkUnavailable,
                        reason: format!(
                            "no indexer acknowledgement for ackId {ack_id} within {:?}",
                            self.ack_timeout
                        ),
                    };
                    n
                ]);
            }
        }
    }
}
