//! Generic webhook: one `POST` of a JSON object per detection, optionally signed with
//! `X-Loginwatch-Signature: sha256=<hex HMAC-SHA256 of the body>`.

use std::sync::Arc;

use hmac::{Hmac, Mac};
use loginwatch_shared::config::{ConfigError, Secret};
use loginwatch_shared::Detection;
use reqwest::StatusCode;
use sha2::Sha256;

use super::http::{describe, excerpt};
use super::{ItemOutcome, RetryKind, SendResult};
use crate::config::SinkConfig;
use crate::render::{self, PayloadFormat};

pub const SIGNATURE_HEADER: &str = "X-Loginwatch-Signature";

pub struct WebhookSink {
    client: reqwest::Client,
    url: String,
    format: PayloadFormat,
    hmac_key: Option<Secret>,
    headers: Vec<(String, String)>,
}

/// `sha256=<hex>` of `body` under `key`: what a receiver recomputes to authenticate the request.
pub fn signature(key: &[u8], body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC accepts keys of any length");
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

impl WebhookSink {
    pub fn from_config(index: usize, config: &SinkConfig) -> Result<WebhookSink, ConfigError> {
        let hmac_key = config
            .hmac_secret
            .as_ref()
            .map(|s| s.resolve(&format!("sinks[{index}].hmac_secret")))
            .transpose()?;
        Ok(WebhookSink {
            client: super::http::client(index, config)?,
            url: config.url.clone().unwrap_or_default(),
            format: config.format,
            hmac_key,
            headers: config
                .headers
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
        })
    }

    pub async fn send(&mut self, batch: &[Arc<Detection>]) -> SendResult {
        let mut outcomes = Vec::with_capacity(batch.len());
        for (i, d) in batch.iter().enumerate() {
            let body = render::payload(d, self.format).to_string();
            let mut req = self
                .client
                .post(&self.url)
                .header("Content-Type", "application/json");
            for (k, v) in &self.headers {
                req = req.header(k, v);
            }
            if let Some(key) = &self.hmac_key {
                req = req.header(
                    SIGNATURE_HEADER,
                    signature(key.expose().as_bytes(), body.as_bytes()),
                );
            }
            let outcome = match req.body(body).send().await {
                Err(e) => Err((RetryKind::SinkUnavailable, describe(&e))),
                Ok(r) => {
                    let status = r.status();
                    if status.is_success() {
                        Ok(ItemOutcome::Delivered)
                    } else {
                        let reason = format!(
                            "webhook {status}: {}",
                            excerpt(&r.text().await.unwrap_or_default())
                        );
                        match status {
                            StatusCode::TOO_MANY_REQUESTS => Err((RetryKind::Throttled, reason)),
                            s if s.is_client_error()
                                && !matches!(
                                    s,
                                    StatusCode::REQUEST_TIMEOUT
                                        | StatusCode::UNAUTHORIZED
                                        | StatusCode::FORBIDDEN
                                ) =>
                            {
                                Ok(ItemOutcome::Rejected { reason })
                            }
                            _ => Err((RetryKind::SinkUnavailable, reason)),
                        }
                    }
                }
            };
            match outcome {
                Ok(o) => outcomes.push(o),
                Err((kind, reason)) => {
                    // The endpoint is failing: do not hammer it with the rest of the batch.
                    outcomes.extend(std::iter::repeat_n(
                        ItemOutcome::Retry { kind, reason },
                        batch.len() - i,
                    ));
                    break;
                }
            }
        }
        SendResult::Items(outcomes)
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn signature_matches_rfc4231_case_2() {
        // RFC 4231 test case 2: key "Jefe", data "what do ya want for nothing?".
        assert_eq!(
            super::signature(b"Jefe", b"what do ya want for nothing?"),
            "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }
}
