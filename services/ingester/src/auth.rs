//! The ingester's own OAuth 2.0 authentication to an org: JWT bearer or client credentials.
//! Tokens are cached, renewed before the assumed lifetime ends and after `401 INVALID_SESSION_ID`.
//! No secret (private key, client secret, access token, assertion) is ever formatted into a log
//! line, error or panic message: they live in [`Secret`] / [`EncodingKey`] and errors carry only
//! what Salesforce said (`error`, `error_description`).

use std::sync::Arc;
use std::time::{Duration, Instant};

use jsonwebtoken::{Algorithm, EncodingKey, Header};
use loginwatch_shared::config::{ConfigError, Secret};
use loginwatch_shared::metrics::{metrics, status_class};
use loginwatch_shared::time::Clock;
use serde::{Deserialize, Serialize};
use tokio::sync::Mutex;

use crate::config::{AuthConfig, OrgConfig};

/// Grant material with secrets resolved, ready to request tokens.
#[derive(Clone)]
pub enum Credentials {
    JwtBearer {
        consumer_key: String,
        username: String,
        audience: String,
        key: Arc<EncodingKey>,
    },
    ClientCredentials {
        client_id: String,
        client_secret: Secret,
    },
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Credentials::JwtBearer {
                consumer_key, username, ..
            } => write!(f, "JwtBearer {{ consumer_key: {consumer_key}, username: {username}, key: [redacted] }}"),
            Credentials::ClientCredentials { client_id, .. } => {
                write!(f, "ClientCredentials {{ client_id: {client_id}, client_secret: [redacted] }}")
            }
        }
    }
}

impl Credentials {
    /// Resolves the secrets named by `org.auth`; `key_prefix` (`orgs[0]`) is used in errors.
    pub fn resolve(org: &OrgConfig, key_prefix: &str) -> Result<Credentials, ConfigError> {
        match &org.auth {
            AuthConfig::JwtBearer(j) => {
                let key_name = format!("{key_prefix}.auth.private_key");
                let pem = j.private_key.resolve(&key_name)?;
                // The jsonwebtoken error text never contains key material, but do not rely on it.
                let key = EncodingKey::from_rsa_pem(pem.expose().as_bytes()).map_err(|_| {
                    ConfigError::key(
                        &key_name,
                        "is not a PEM RSA private key (PKCS#1 `BEGIN RSA PRIVATE KEY` or PKCS#8 `BEGIN PRIVATE KEY`)",
                    )
                })?;
                Ok(Credentials::JwtBearer {
                    consumer_key: j.consumer_key.clone(),
                    username: j.username.clone(),
                    audience: j
                        .audience
                        .clone()
                        .unwrap_or_else(|| org.login_url.trim_end_matches('/').to_string()),
                    key: Arc::new(key),
                })
            }
            AuthConfig::ClientCredentials(c) => Ok(Credentials::ClientCredentials {
                client_id: c.client_id.clone(),
                client_secret: c
                    .client_secret
                    .resolve(&format!("{key_prefix}.auth.client_secret"))?,
            }),
            AuthConfig::Password(_) => Err(ConfigError::key(
                format!("{key_prefix}.auth.type"),
                crate::config::PASSWORD_GRANT_REFUSED,
            )),
        }
    }

    fn grant_name(&self) -> &'static str {
        match self {
            Credentials::JwtBearer { .. } => "jwt_bearer",
            Credentials::ClientCredentials { .. } => "client_credentials",
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error("org {org}: token request ({grant}) rejected with HTTP {status}: {error} {description} — check the connected app, the pre-authorised user/profile and the credentials in the config")]
    Rejected {
        org: String,
        grant: &'static str,
        status: u16,
        error: String,
        description: String,
    },
    #[error("org {org}: token endpoint unreachable or failing ({detail}); will retry")]
    Transport { org: String, detail: String },
    #[error("org {org}: cannot sign the JWT assertion; check the private key")]
    Signing { org: String },
}

impl AuthError {
    /// Whether retrying later can help without an operator (network, 5xx).
    pub fn is_transient(&self) -> bool {
        match self {
            AuthError::Transport { .. } => true,
            AuthError::Rejected { status, .. } => *status >= 500 || *status == 429,
            AuthError::Signing { .. } => false,
        }
    }
}

/// A cached access token. `generation` identifies it so that a 401 only drops the token that failed.
#[derive(Clone)]
pub struct AccessToken {
    pub token: Secret,
    pub instance_url: String,
    pub generation: u64,
    obtained: Instant,
}

impl std::fmt::Debug for AccessToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AccessToken")
            .field("token", &"[redacted]")
            .field("instance_url", &self.instance_url)
            .field("generation", &self.generation)
            .finish()
    }
}

#[derive(Serialize)]
struct JwtClaims<'a> {
    iss: &'a str,
    sub: &'a str,
    aud: &'a str,
    exp: i64,
}

#[derive(Deserialize)]
struct TokenResponse {
    access_token: String,
    #[serde(default)]
    instance_url: Option<String>,
}

#[derive(Deserialize, Default)]
struct TokenErrorBody {
    #[serde(default)]
    error: String,
    #[serde(default)]
    error_description: String,
}

/// Obtains and caches tokens for one org.
pub struct TokenProvider {
    org_id: String,
    token_url: String,
    instance_override: Option<String>,
    credentials: Credentials,
    http: reqwest::Client,
    lifetime: Duration,
    cached: Mutex<Option<AccessToken>>,
    generations: std::sync::atomic::AtomicU64,
    /// The org's notion of now: JWT `exp`, and every time the org's readers stamp or query.
    clock: Clock,
}

impl TokenProvider {
    pub fn new(org: &OrgConfig, credentials: Credentials, http: reqwest::Client) -> TokenProvider {
        TokenProvider {
            org_id: org.org_id.clone(),
            token_url: format!(
                "{}/services/oauth2/token",
                org.login_url.trim_end_matches('/')
            ),
            instance_override: org.instance_url.clone(),
            credentials,
            http,
            lifetime: Duration::from_secs(org.token_lifetime_secs),
            cached: Mutex::new(None),
            generations: std::sync::atomic::AtomicU64::new(0),
            clock: Clock::system(),
        }
    }

    /// Reads time from `clock` instead of the system clock (tests, simulated orgs).
    pub fn with_clock(mut self, clock: Clock) -> TokenProvider {
        self.clock = clock;
        self
    }

    pub fn clock(&self) -> &Clock {
        &self.clock
    }

    /// A valid token: the cached one unless it is older than 90 % of the assumed lifetime.
    pub async fn token(&self) -> Result<AccessToken, AuthError> {
        let mut cached = self.cached.lock().await;
        if let Some(t) = cached.as_ref() {
            if t.obtained.elapsed() < self.lifetime.mul_f64(0.9) {
                return Ok(t.clone());
            }
            tracing::debug!(org = %self.org_id, "access token near its assumed lifetime; renewing");
        }
        let fresh = self.request_token().await?;
        *cached = Some(fresh.clone());
        Ok(fresh)
    }

    /// Drops the token of `generation` after Salesforce rejected it (`INVALID_SESSION_ID`).
    pub async fn invalidate(&self, generation: u64) {
        let mut cached = self.cached.lock().await;
        if cached.as_ref().is_some_and(|t| t.generation == generation) {
            tracing::info!(org = %self.org_id, "session rejected by Salesforce; requesting a new token");
            *cached = None;
        }
    }

    async fn request_token(&self) -> Result<AccessToken, AuthError> {
        let grant = self.credentials.grant_name();
        let form: Vec<(&str, String)> = match &self.credentials {
            Credentials::JwtBearer {
                consumer_key,
                username,
                audience,
                key,
            } => {
                let claims = JwtClaims {
                    iss: consumer_key,
                    sub: username,
                    aud: audience,
                    exp: self.clock.now().timestamp() + 180,
                };
                let assertion = jsonwebtoken::encode(&Header::new(Algorithm::RS256), &claims, key)
                    .map_err(|_| AuthError::Signing {
                        org: self.org_id.clone(),
                    })?;
                vec![
                    (
                        "grant_type",
                        "urn:ietf:params:oauth:grant-type:jwt-bearer".to_string(),
                    ),
                    ("assertion", assertion),
                ]
            }
            Credentials::ClientCredentials {
                client_id,
                client_secret,
            } => vec![
                ("grant_type", "client_credentials".to_string()),
                ("client_id", client_id.clone()),
                ("client_secret", client_secret.expose().to_string()),
            ],
        };
        let started = Instant::now();
        let result = self.http.post(&self.token_url).form(&form).send().await;
        let m = metrics();
        m.salesforce_api_request_duration
            .with_label_values(&[&self.org_id, "token"])
            .observe(started.elapsed().as_secs_f64());
        let response = match result {
            Ok(r) => r,
            Err(e) => {
                m.salesforce_api_requests
                    .with_label_values(&[&self.org_id, "token", status_class(None)])
                    .inc();
                return Err(AuthError::Transport {
                    org: self.org_id.clone(),
                    detail: describe_transport_error(&e),
                });
            }
        };
        let status = response.status().as_u16();
        m.salesforce_api_requests
            .with_label_values(&[&self.org_id, "token", status_class(Some(status))])
            .inc();
        let body = response.bytes().await.map_err(|e| AuthError::Transport {
            org: self.org_id.clone(),
            detail: describe_transport_error(&e),
        })?;
        if !(200..300).contains(&status) {
            let err: TokenErrorBody = serde_json::from_slice(&body).unwrap_or_default();
            return Err(AuthError::Rejected {
                org: self.org_id.clone(),
                grant,
                status,
                error: truncate(&err.error, 100),
                description: truncate(&err.error_description, 200),
            });
        }
        let parsed: TokenResponse =
            serde_json::from_slice(&body).map_err(|_| AuthError::Rejected {
                org: self.org_id.clone(),
                grant,
                status,
                error: "unreadable_response".into(),
                description: "token response is not JSON with access_token".into(),
            })?;
        let instance_url = self
            .instance_override
            .clone()
            .or(parsed.instance_url)
            .unwrap_or_else(|| {
                self.token_url
                    .trim_end_matches("/services/oauth2/token")
                    .to_string()
            });
        let generation = self
            .generations
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed)
            + 1;
        tracing::info!(org = %self.org_id, grant, %instance_url, "authenticated to Salesforce");
        Ok(AccessToken {
            token: Secret::new(parsed.access_token),
            instance_url: instance_url.trim_end_matches('/').to_string(),
            generation,
            obtained: Instant::now(),
        })
    }
}

/// Transport errors without URL query strings (which could carry data) — only kind and host.
pub fn describe_transport_error(e: &reqwest::Error) -> String {
    let kind = if e.is_timeout() {
        "timeout"
    } else if e.is_connect() {
        "connection failed"
    } else if e.is_body() || e.is_decode() {
        "response body error"
    } else {
        "request error"
    };
    match e
        .url()
        .and_then(|u| u.host_str().map(|h| (h.to_string(), u.port())))
    {
        Some((host, Some(port))) => format!("{kind} talking to {host}:{port}"),
        Some((host, None)) => format!("{kind} talking to {host}"),
        None => kind.to_string(),
    }
}

fn truncate(s: &str, n: usize) -> String {
    s.chars().take(n).collect()
}
