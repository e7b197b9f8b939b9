//! Generic webhook: one `POST` of a JSON object per detection, optionally signed with
//! `X-Loginwatch-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>">`.
//!
//! The timestamp is signed with the body, so a receiver that checks it against its own clock
//! (within a tolerance, e.g. 5 minutes) refuses a captured request replayed later. Each attempt
//! (retries included) is signed afresh with the time it is sent. How a receiver verifies it:
//! `services/forwarder/README.md`.
//!
//! The URL and header values may carry tokens (Slack, Teams): they are resolved once at start-up
//! and never logged; transport errors show only the URL's origin.

use std::sync::Arc;

use hmac::{Hmac, Mac};
use loginwatch_shared::config::{ConfigError, Secret};
use loginwatch_shared::Detection;
use reqwest::header::{HeaderMap, HeaderName, HeaderValue, CONTENT_TYPE};
use reqwest::StatusCode;
use sha2::Sha256;

use super::http::{describe, excerpt};
use super::{ItemOutcome, RetryKind, SendResult};
use crate::config::SinkConfig;
use crate::render::{self, PayloadFormat};

pub const SIGNATURE_HEADER: &str = "X-Loginwatch-Signature";

pub struct WebhookSink {
    client: reqwest::Client,
    /// May hold a token: never logged.
    url: reqwest::Url,
    format: PayloadFormat,
    hmac_key: Option<Secret>,
    /// Values marked sensitive (hidden from `Debug` by the `http` crate).
    headers: HeaderMap,
}

/// `t=<timestamp>,v1=<hex>`, the hex being the HMAC-SHA256 under `key` of `"<timestamp>.<body>"`:
/// what a receiver recomputes to authenticate the request and bound its age.
pub fn signature(key: &[u8], timestamp: i64, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC accepts keys of any length");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    format!(
        "t={timestamp},v1={}",
        hex::encode(mac.finalize().into_bytes())
    )
}

impl WebhookSink {
    pub fn from_config(index: usize, config: &SinkConfig) -> Result<WebhookSink, ConfigError> {
        let hmac_key = config
            .hmac_secret
            .as_ref()
            .map(|s| s.resolve(&format!("sinks[{index}].hmac_secret")))
            .transpose()?;
        let url_key = format!("sinks[{index}].url");
        let url = reqwest::Url::parse(&config.resolve_url(index)?).map_err(|e| {
            ConfigError::key(
                &url_key,
                format!("not a URL ({e}); e.g. https://soar.example/hooks/loginwatch"),
            )
        })?;
        let mut headers = HeaderMap::new();
        for (name, value) in &config.headers {
            let key = format!("sinks[{index}].headers.{name}");
            let header = HeaderName::from_bytes(name.as_bytes()).map_err(|_| {
                ConfigError::key(
                    &key,
                    "not a valid HTTP header name (letters, digits and `-`)",
                )
            })?;
            let mut v = HeaderValue::from_str(value.resolve(&key)?.expose()).map_err(|_| {
                ConfigError::key(
                    &key,
                    "not a valid HTTP header value: visible ASCII and spaces only, no line breaks (the value is not shown)",
                )
            })?;
            v.set_sensitive(true);
            headers.insert(header, v);
        }
        Ok(WebhookSink {
            client: super::http::client(index, config)?,
            url,
            format: config.format,
            hmac_key,
            headers,
        })
    }

    pub async fn send(&mut self, batch: &[Arc<Detection>]) -> SendResult {
        let mut outcomes = Vec::with_capacity(batch.len());
        for (i, d) in batch.iter().enumerate() {
            let body = render::payload(d, self.format).to_string();
            let mut req = self
                .client
                .post(self.url.clone())
                .header(CONTENT_TYPE, "application/json")
                .headers(self.headers.clone());
            if let Some(key) = &self.hmac_key {
                let now = chrono::Utc::now().timestamp();
                req = req.header(
                    SIGNATURE_HEADER,
                    signature(key.expose().as_bytes(), now, body.as_bytes()),
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
    use super::*;
    use crate::config::ForwarderConfig;

    #[test]
    fn signature_is_hmac_sha256_of_timestamp_dot_body() {
        // Expected values computed independently with Python's hmac module:
        // hmac.new(b"Jefe", b"1700000000.what do ya want for nothing?", hashlib.sha256).hexdigest()
        assert_eq!(
            signature(b"Jefe", 1_700_000_000, b"what do ya want for nothing?"),
            "t=1700000000,v1=1cdd0650c8be1cb0974b1788d458b1e781206cfef59b85faafc582d2e182c57e"
        );
        assert_eq!(
            signature(b"k", 1_700_000_000, br#"{"a":1}"#),
            "t=1700000000,v1=1b6ad1bc9bf48c52ce01939866d5877c6cc4e87ddad27e16673cb8c4964394a3"
        );
        // The timestamp is signed: the same body at another time has another signature.
        let mac = |t| {
            signature(b"k", t, b"x")
                .split_once(",v1=")
                .unwrap()
                .1
                .to_string()
        };
        assert_ne!(mac(1_700_000_000), mac(1_700_000_001));
    }

    fn sink(toml: &str) -> Result<WebhookSink, ConfigError> {
        let c: ForwarderConfig = loginwatch_shared::config::load_str(toml)?;
        c.validate()?;
        WebhookSink::from_config(0, &c.sinks[0])
    }

    #[test]
    fn url_and_headers_take_secret_forms() {
        let dir = tempfile::tempdir().unwrap();
        let url_file = dir.path().join("url");
        std::fs::write(
            &url_file,
            "https://hooks.example/services/T0/B0/XXXX-TOKEN\n",
        )
        .unwrap();
        let s = sink(&format!(
            "[[sinks]]\nname = \"w\"\ntype = \"webhook\"\nurl = {{ file = {:?} }}\nheaders = {{ Authorization = {{ value = \"Bearer HDR-TOKEN\" }}, X-Team = \"soc\" }}\n",
            url_file.display().to_string()
        ))
        .unwrap();
        assert_eq!(
            s.url.as_str(),
            "https://hooks.example/services/T0/B0/XXXX-TOKEN"
        );
        assert_eq!(s.headers["authorization"], "Bearer HDR-TOKEN");
        assert!(s.headers["authorization"].is_sensitive());
        assert_eq!(s.headers["x-team"], "soc");
        assert!(!format!("{:?}", s.headers).contains("HDR-TOKEN"));
    }

    #[tokio::test]
    async fn transport_errors_do_not_show_the_url_path() {
        // Nothing listens on port 1 of loopback: connection refused.
        let mut s = sink(
            "[[sinks]]\nname = \"w\"\ntype = \"webhook\"\nurl = \"http://127.0.0.1:1/services/T0/B0/XXXX-TOKEN\"\n",
        )
        .unwrap();
        let d = Arc::new(crate::samples::detection(
            loginwatch_shared::Category::BruteForce,
        ));
        let SendResult::Items(items) = s.send(&[d]).await else {
            panic!("a transport error is a per-item retry");
        };
        let ItemOutcome::Retry { reason, .. } = &items[0] else {
            panic!("{:?}", items[0]);
        };
        assert!(!reason.contains("TOKEN"), "{reason}");
        assert!(reason.contains("127.0.0.1:1"), "{reason}");
    }

    #[test]
    fn bad_header_value_is_named_without_the_value() {
        let err = sink(
            "[[sinks]]\nname = \"w\"\ntype = \"webhook\"\nurl = \"https://h.example/x\"\nheaders = { Authorization = \"Bearer TOKEN\\nX: y\" }\n",
        )
        .err()
        .expect("a header value with a line break is refused")
        .to_string();
        assert!(err.contains("sinks[0].headers.Authorization"), "{err}");
        assert!(!err.contains("TOKEN"), "{err}");
    }
}
