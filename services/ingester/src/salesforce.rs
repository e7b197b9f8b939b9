//! Authenticated REST calls to one org with the failure handling Salesforce needs: token renewal
//! on `401 INVALID_SESSION_ID`, exponential back-off with jitter on 5xx, timeouts and
//! `REQUEST_LIMIT_EXCEEDED`, and `Sforce-Limit-Info` bookkeeping on every response.

use std::sync::Arc;
use std::time::Instant;

use loginwatch_shared::metrics::{metrics, status_class};
use serde::Deserialize;
use tokio_util::sync::CancellationToken;

use crate::auth::{describe_transport_error, AuthError, TokenProvider};
use crate::budget::{parse_limit_info, ApiBudget};
use crate::config::{OrgConfig, RetrySettings};

#[derive(Debug, thiserror::Error)]
pub enum SfError {
    #[error(transparent)]
    Auth(#[from] AuthError),
    #[error("org {org}: {endpoint} call failed with HTTP {status} {code}: {message}")]
    Api {
        org: String,
        endpoint: &'static str,
        status: u16,
        code: String,
        message: String,
    },
    #[error("org {org}: {endpoint} call still failing after {attempts} attempts: {last}")]
    RetriesExhausted {
        org: String,
        endpoint: &'static str,
        attempts: u32,
        last: String,
    },
    #[error("shutting down")]
    Cancelled,
}

impl SfError {
    pub fn code(&self) -> Option<&str> {
        match self {
            SfError::Api { code, .. } => Some(code),
            _ => None,
        }
    }
    pub fn kind(&self) -> &'static str {
        match self {
            SfError::Auth(_) => "auth",
            _ => "api",
        }
    }
}

#[derive(Deserialize)]
struct ApiErrorBody {
    #[serde(default, rename = "errorCode")]
    error_code: String,
    #[serde(default)]
    message: String,
}

/// Reads `[{"errorCode":…,"message":…}]` (REST error shape).
pub fn api_error(body: &[u8]) -> (String, String) {
    match serde_json::from_slice::<Vec<ApiErrorBody>>(body) {
        Ok(v) if !v.is_empty() => (
            v[0].error_code.clone(),
            v[0].message.chars().take(300).collect(),
        ),
        _ => (
            String::new(),
            String::from_utf8_lossy(&body[..body.len().min(200)]).into_owned(),
        ),
    }
}

/// REST client of one org.
#[derive(Clone)]
pub struct SalesforceClient {
    pub org_id: String,
    pub api_version: String,
    http: reqwest::Client,
    pub auth: Arc<TokenProvider>,
    pub budget: Arc<ApiBudget>,
    retry: RetrySettings,
    cancel: CancellationToken,
    /// `source` label for retry metrics.
    source: &'static str,
}

impl SalesforceClient {
    pub fn new(
        org: &OrgConfig,
        http: reqwest::Client,
        auth: Arc<TokenProvider>,
        budget: Arc<ApiBudget>,
        cancel: CancellationToken,
        source: &'static str,
    ) -> SalesforceClient {
        SalesforceClient {
            org_id: org.org_id.clone(),
            api_version: org.api_version.clone(),
            http,
            auth,
            budget,
            retry: org.retry.clone(),
            cancel,
            source,
        }
    }

    /// The org's clock (the token provider's).
    pub fn clock(&self) -> &loginwatch_shared::time::Clock {
        self.auth.clock()
    }

    pub fn http(&self) -> &reqwest::Client {
        &self.http
    }

    pub fn cancel_token(&self) -> &CancellationToken {
        &self.cancel
    }

    /// `GET /services/data/vXX.X/query?q=…` — first page.
    pub async fn query(
        &self,
        soql: &str,
        batch_size: Option<u32>,
    ) -> Result<bytes_body::Body, SfError> {
        let path = format!(
            "/services/data/v{}/query?q={}",
            self.api_version,
            url::form_urlencoded::byte_serialize(soql.as_bytes()).collect::<String>()
        );
        self.get("query", &path, batch_size).await
    }

    /// `GET {nextRecordsUrl}` — following pages.
    pub async fn query_more(
        &self,
        next_records_url: &str,
        batch_size: Option<u32>,
    ) -> Result<bytes_body::Body, SfError> {
        self.get("query_more", next_records_url, batch_size).await
    }

    /// GET `path` (relative to the instance URL) with retries; returns the body of a 2xx answer.
    pub async fn get(
        &self,
        endpoint: &'static str,
        path: &str,
        batch_size: Option<u32>,
    ) -> Result<bytes_body::Body, SfError> {
        let m = metrics();
        let mut attempt: u32 = 0;
        let mut auth_retried = false;
        loop {
            attempt += 1;
            if self.cancel.is_cancelled() {
                return Err(SfError::Cancelled);
            }
            let token = match self.auth.token().await {
                Ok(t) => t,
                Err(e) if e.is_transient() && attempt < self.retry.max_attempts => {
                    tracing::warn!(org = %self.org_id, error = %e, "token request failed; backing off");
                    self.backoff(attempt).await?;
                    continue;
                }
                Err(e) => {
                    m.ingest_errors
                        .with_label_values(&[&self.org_id, self.source, "auth"])
                        .inc();
                    return Err(e.into());
                }
            };
            let mut req = self
                .http
                .get(format!("{}{}", token.instance_url, path))
                .bearer_auth(token.token.expose());
            if let Some(n) = batch_size {
                req = req.header("Sforce-Query-Options", format!("batchSize={n}"));
            }
            let started = Instant::now();
            let result = req.send().await;
            let outcome = match result {
                Ok(resp) => {
                    let status = resp.status().as_u16();
                    if let Some((used, max)) = resp
                        .headers()
                        .get("sforce-limit-info")
                        .and_then(|v| v.to_str().ok())
                        .and_then(parse_limit_info)
                    {
                        self.budget.observe(used, max);
                    }
                    match resp.bytes().await {
                        Ok(body) => Ok((status, body)),
                        Err(e) => Err(describe_transport_error(&e)),
                    }
                }
                Err(e) => Err(describe_transport_error(&e)),
            };
            m.salesforce_api_request_duration
                .with_label_values(&[&self.org_id, endpoint])
                .observe(started.elapsed().as_secs_f64());
            let status = outcome.as_ref().ok().map(|(s, _)| *s);
            m.salesforce_api_requests
                .with_label_values(&[&self.org_id, endpoint, status_class(status)])
                .inc();
            let retry_reason = match outcome {
                Ok((200..=299, body)) => return Ok(bytes_body::Body(Vec::from(body))),
                Ok((401, body)) => {
                    let (code, message) = api_error(&body);
                    if auth_retried {
                        m.ingest_errors
                            .with_label_values(&[&self.org_id, self.source, "auth"])
                            .inc();
                        return Err(SfError::Api {
                            org: self.org_id.clone(),
                            endpoint,
                            status: 401,
                            code,
                            message,
                        });
                    }
                    // INVALID_SESSION_ID: the token expired or was revoked; renew once, right away.
                    auth_retried = true;
                    self.auth.invalidate(token.generation).await;
                    attempt -= 1;
                    continue;
                }
                Ok((status, body)) => {
                    let (code, message) = api_error(&body);
                    if code == "REQUEST_LIMIT_EXCEEDED" {
                        self.budget.observe_exhausted();
                        format!("HTTP {status} REQUEST_LIMIT_EXCEEDED")
                    } else if status >= 500 || status == 429 {
                        format!("HTTP {status} {code}")
                    } else {
                        m.ingest_errors
                            .with_label_values(&[&self.org_id, self.source, "api"])
                            .inc();
                        return Err(SfError::Api {
                            org: self.org_id.clone(),
                            endpoint,
                            status,
                            code,
                            message,
                        });
                    }
                }
                Err(transport) => transport,
            };
            if attempt >= self.retry.max_attempts {
                m.ingest_errors
                    .with_label_values(&[&self.org_id, self.source, "api"])
                    .inc();
                return Err(SfError::RetriesExhausted {
                    org: self.org_id.clone(),
                    endpoint,
                    attempts: attempt,
                    last: retry_reason,
                });
            }
            tracing::warn!(org = %self.org_id, endpoint, attempt, reason = %retry_reason, "Salesforce call failed; backing off");
            m.ingest_retries
                .with_label_values(&[&self.org_id, self.source])
                .inc();
            self.backoff(attempt).await?;
        }
    }

    async fn backoff(&self, attempt: u32) -> Result<(), SfError> {
        let wait = self.retry.backoff(attempt);
        tokio::select! {
            _ = tokio::time::sleep(wait) => Ok(()),
            _ = self.cancel.cancelled() => Err(SfError::Cancelled),
        }
    }
}

/// A response body.
pub mod bytes_body {
    pub struct Body(pub(crate) Vec<u8>);
    impl std::ops::Deref for Body {
        type Target = [u8];
        fn deref(&self) -> &[u8] {
            &self.0
        }
    }
}
