//! `/event/LoginEventStream` over the Streaming API (CometD long polling) for one org.
//!
//! handshake → subscribe (with the replay extension) → connect, connect, … Each batch of data
//! messages is delivered to Kafka and only then is its newest replay id saved, so a restart or a
//! reconnect resumes right after the last acknowledged event. A saved replay id older than the
//! retention window is refused by Salesforce (`400::The replayId … was invalid`): the subscriber
//! warns, counts `stream_replay_fallbacks` and resubscribes with -2 (everything retained).
//! `403::Unknown client` (session expired, server restarted) means: handshake again.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use loginwatch_shared::kafka::DeadLetter;
use loginwatch_shared::metrics::{metrics, status_class};
use loginwatch_shared::ops::Readiness;
use loginwatch_shared::parse::{self, ParseContext};
use serde_json::{json, Value};
use tokio_util::sync::CancellationToken;

use crate::auth::{describe_transport_error, AccessToken};
use crate::config::StreamSettings;
use crate::salesforce::{SalesforceClient, SfError};
use crate::sink::{KafkaSink, Outgoing};
use crate::state::{StateStore, StreamCursor};

pub const SOURCE: &str = "login_event_stream";

#[derive(Debug, thiserror::Error)]
pub enum StreamError {
    #[error(transparent)]
    Salesforce(#[from] SfError),
    #[error("org {org}: CometD {step} failed: {detail}")]
    Protocol {
        org: String,
        step: &'static str,
        detail: String,
    },
    #[error("org {org}: CometD session no longer known to the server; handshaking again")]
    Rehandshake { org: String },
    #[error("org {org}: Kafka delivery failed: {0}", org = .1)]
    Sink(crate::sink::SinkError, String),
    #[error(transparent)]
    State(#[from] crate::state::StateError),
    #[error("shutting down")]
    Cancelled,
}

/// One CometD session: client id and the cookies the server pinned it to.
struct Session {
    client_id: String,
    cookies: BTreeMap<String, String>,
    token: AccessToken,
}

pub struct StreamSubscriber {
    client: SalesforceClient,
    /// Long-poll client: its timeout exceeds the server's 110 s connect hold.
    long_poll: reqwest::Client,
    sink: KafkaSink,
    store: StateStore,
    settings: StreamSettings,
    readiness: Readiness,
    cancel: CancellationToken,
    replay_id: i64,
}

impl StreamSubscriber {
    pub fn new(
        client: SalesforceClient,
        long_poll: reqwest::Client,
        sink: KafkaSink,
        store: StateStore,
        settings: StreamSettings,
        readiness: Readiness,
    ) -> StreamSubscriber {
        let cancel = client.cancel_token().clone();
        StreamSubscriber {
            client,
            long_poll,
            sink,
            store,
            replay_id: settings.initial_replay_id,
            settings,
            readiness,
            cancel,
        }
    }

    fn org(&self) -> &str {
        &self.client.org_id
    }

    fn readiness_key(&self) -> String {
        format!("org:{}:{SOURCE}", self.org())
    }

    fn endpoint(&self, token: &AccessToken) -> String {
        format!("{}/cometd/{}", token.instance_url, self.client.api_version)
    }

    /// The replay id the next subscription starts from.
    pub fn replay_id(&self) -> i64 {
        self.replay_id
    }

    /// Runs until cancelled; every failure leads to a new handshake after a back-off.
    pub async fn run(mut self) {
        let org = self.org().to_string();
        self.readiness.set(&self.readiness_key(), false);
        match self.store.load::<StreamCursor>(&org, SOURCE) {
            Ok(Some(c)) => self.replay_id = c.replay_id,
            Ok(None) => {}
            Err(e) => {
                tracing::error!(%org, error = %e, "cannot read the stream replay id; not subscribing until fixed");
                return;
            }
        }
        let mut failures: u32 = 0;
        while !self.cancel.is_cancelled() {
            match self.session().await {
                Err(StreamError::Cancelled) | Err(StreamError::Salesforce(SfError::Cancelled)) => {
                    break
                }
                Err(StreamError::Rehandshake { .. }) => {
                    tracing::info!(%org, replay_id = self.replay_id, "CometD client unknown to the server; handshaking again");
                    failures = 0;
                }
                Err(e) => {
                    failures += 1;
                    self.readiness.set(&self.readiness_key(), false);
                    let wait = (Duration::from_millis(250) * 2u32.saturating_pow(failures.min(10)))
                        .min(Duration::from_secs(60));
                    tracing::warn!(%org, error = %e, retry_in = ?wait, "LoginEventStream session ended; reconnecting");
                    tokio::select! {
                        _ = tokio::time::sleep(wait) => {},
                        _ = self.cancel.cancelled() => break,
                    }
                }
                Ok(()) => {}
            }
        }
        tracing::info!(%org, replay_id = self.replay_id, "LoginEventStream subscriber stopped");
    }

    async fn session(&mut self) -> Result<(), StreamError> {
        let mut session = self.handshake().await?;
        self.subscribe(&mut session).await?;
        self.readiness.set(&self.readiness_key(), true);
        loop {
            if self.cancel.is_cancelled() {
                return Err(StreamError::Cancelled);
            }
            let connect = json!([{
                "channel": "/meta/connect",
                "clientId": session.client_id,
                "connectionType": "long-polling",
            }]);
            let messages = tokio::select! {
                r = self.post(&mut session, "connect", &connect) => r?,
                _ = self.cancel.cancelled() => return Err(StreamError::Cancelled),
            };
            let mut data = Vec::new();
            for msg in messages {
                let channel = msg
                    .get("channel")
                    .and_then(Value::as_str)
                    .unwrap_or_default();
                if channel == "/meta/connect" {
                    if msg.get("successful").and_then(Value::as_bool) != Some(true) {
                        let error = msg.get("error").and_then(Value::as_str).unwrap_or_default();
                        let reconnect = msg
                            .pointer("/advice/reconnect")
                            .and_then(Value::as_str)
                            .unwrap_or_default();
                        if error.starts_with("403") || reconnect == "handshake" {
                            return Err(StreamError::Rehandshake {
                                org: self.org().to_string(),
                            });
                        }
                        return Err(StreamError::Protocol {
                            org: self.org().to_string(),
                            step: "connect",
                            detail: error.to_string(),
                        });
                    }
                    if let Some(ms) = msg.pointer("/advice/interval").and_then(Value::as_u64) {
                        if ms > 0 {
                            tokio::time::sleep(Duration::from_millis(ms.min(10_000))).await;
                        }
                    }
                } else if channel == self.settings.channel {
                    data.push(msg);
                }
            }
            if !data.is_empty() {
                self.deliver(data).await?;
            }
        }
    }

    async fn deliver(&mut self, data: Vec<Value>) -> Result<(), StreamError> {
        let org = self.org().to_string();
        let ctx = ParseContext::new(org.clone()).with_ingested_at(self.client.clock().now());
        let mut newest = self.replay_id;
        let mut outgoing = Vec::with_capacity(data.len());
        let (mut ok, mut dead) = (0u64, 0u64);
        let mut newest_time = None;
        for msg in &data {
            if let Some(r) = msg.pointer("/data/event/replayId").and_then(Value::as_i64) {
                newest = newest.max(r);
            }
            match parse::stream::parse_message(msg, &ctx) {
                Ok(se) => {
                    newest = newest.max(se.replay_id);
                    newest_time = newest_time.max(Some(se.event.event_time));
                    ok += 1;
                    outgoing.push(Outgoing::Login(Box::new(se.event)));
                }
                Err(err) => {
                    dead += 1;
                    tracing::warn!(%org, error = %err.error, "LoginEventStream message does not parse; sending it to the dead-letter topic");
                    outgoing.push(Outgoing::Dead(
                        DeadLetter::new("ingester", SOURCE, err.error.to_string(), err.raw)
                            .with_org(&org),
                    ));
                }
            }
        }
        if let Err(e) = self.sink.deliver(outgoing).await {
            metrics()
                .ingest_errors
                .with_label_values(&[&org, SOURCE, "produce"])
                .inc();
            return Err(StreamError::Sink(e, org));
        }
        let m = metrics();
        m.ingest_records
            .with_label_values(&[&org, SOURCE])
            .inc_by(ok);
        if dead > 0 {
            m.ingest_errors
                .with_label_values(&[&org, SOURCE, "parse"])
                .inc_by(dead);
        }
        if let Some(t) = newest_time {
            m.ingest_lag
                .with_label_values(&[&org, SOURCE])
                .set((self.client.clock().now() - t).num_milliseconds().max(0) as f64 / 1000.0);
        }
        self.replay_id = newest;
        self.store
            .save(&org, SOURCE, &StreamCursor { replay_id: newest })?;
        Ok(())
    }

    async fn handshake(&mut self) -> Result<Session, StreamError> {
        let mut attempts = 0;
        loop {
            attempts += 1;
            let token = self.client.auth.token().await.map_err(SfError::from)?;
            let mut session = Session {
                client_id: String::new(),
                cookies: BTreeMap::new(),
                token,
            };
            let hs = json!([{
                "channel": "/meta/handshake",
                "version": "1.0",
                "minimumVersion": "1.0",
                "supportedConnectionTypes": ["long-polling"],
                "ext": {"replay": true},
            }]);
            let reply = self.post(&mut session, "handshake", &hs).await?;
            let msg = reply
                .into_iter()
                .find(|m| m.get("channel").and_then(Value::as_str) == Some("/meta/handshake"))
                .ok_or_else(|| self.protocol("handshake", "no /meta/handshake reply"))?;
            if msg.get("successful").and_then(Value::as_bool) == Some(true) {
                session.client_id = msg
                    .get("clientId")
                    .and_then(Value::as_str)
                    .ok_or_else(|| self.protocol("handshake", "no clientId"))?
                    .to_string();
                return Ok(session);
            }
            let reason = msg
                .pointer("/ext/sfdc/failureReason")
                .and_then(Value::as_str)
                .unwrap_or_default();
            let error = msg.get("error").and_then(Value::as_str).unwrap_or_default();
            if reason.starts_with("401") && attempts == 1 {
                // Token no longer valid: renew once and try again.
                self.client.auth.invalidate(session.token.generation).await;
                continue;
            }
            return Err(self.protocol("handshake", &format!("{error} {reason}")));
        }
    }

    async fn subscribe(&mut self, session: &mut Session) -> Result<(), StreamError> {
        let channel = self.settings.channel.clone();
        for fallback in [false, true] {
            let replay = if fallback { -2 } else { self.replay_id };
            let sub = json!([{
                "channel": "/meta/subscribe",
                "clientId": session.client_id,
                "subscription": channel,
                "ext": {"replay": {channel.as_str(): replay}},
            }]);
            let reply = self.post(session, "subscribe", &sub).await?;
            let msg = reply
                .into_iter()
                .find(|m| m.get("channel").and_then(Value::as_str) == Some("/meta/subscribe"))
                .ok_or_else(|| self.protocol("subscribe", "no /meta/subscribe reply"))?;
            if msg.get("successful").and_then(Value::as_bool) == Some(true) {
                tracing::info!(org = %self.org(), %channel, replay_id = replay, "subscribed");
                return Ok(());
            }
            let error = msg
                .get("error")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string();
            if error.starts_with("403") {
                return Err(StreamError::Rehandshake {
                    org: self.org().to_string(),
                });
            }
            if !fallback && error.to_ascii_lowercase().contains("replayid") {
                tracing::warn!(
                    org = %self.org(), replay_id = self.replay_id, %error,
                    "saved replay id is no longer retained (older than the 72 h window?); replaying all retained events (-2). Events between may be missing from the stream; LoginHistory polling covers them"
                );
                metrics()
                    .stream_replay_fallbacks
                    .with_label_values(&[self.org()])
                    .inc();
                self.replay_id = -2;
                continue;
            }
            return Err(self.protocol("subscribe", &error));
        }
        Err(self.protocol("subscribe", "refused even with replay id -2"))
    }

    fn protocol(&self, step: &'static str, detail: &str) -> StreamError {
        StreamError::Protocol {
            org: self.org().to_string(),
            step,
            detail: detail.chars().take(300).collect(),
        }
    }

    /// POSTs one Bayeux message array with the session's cookies; returns the reply array.
    async fn post(
        &self,
        session: &mut Session,
        step: &'static str,
        body: &Value,
    ) -> Result<Vec<Value>, StreamError> {
        let org = self.org().to_string();
        let mut req = self
            .long_poll
            .post(self.endpoint(&session.token))
            .header(
                "Authorization",
                format!("OAuth {}", session.token.token.expose()),
            )
            .json(body);
        if !session.cookies.is_empty() {
            let cookie = session
                .cookies
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>()
                .join("; ");
            req = req.header("Cookie", cookie);
        }
        let started = Instant::now();
        let result = req.send().await;
        let m = metrics();
        m.salesforce_api_request_duration
            .with_label_values(&[&org, "cometd"])
            .observe(started.elapsed().as_secs_f64());
        let resp = match result {
            Ok(r) => r,
            Err(e) => {
                m.salesforce_api_requests
                    .with_label_values(&[&org, "cometd", status_class(None)])
                    .inc();
                return Err(self.protocol(step, &describe_transport_error(&e)));
            }
        };
        let status = resp.status().as_u16();
        m.salesforce_api_requests
            .with_label_values(&[&org, "cometd", status_class(Some(status))])
            .inc();
        for v in resp.headers().get_all("set-cookie") {
            if let Some((name, value)) = v
                .to_str()
                .ok()
                .and_then(|s| s.split(';').next())
                .and_then(|nv| nv.split_once('='))
            {
                session
                    .cookies
                    .insert(name.trim().to_string(), value.trim().to_string());
            }
        }
        let bytes = resp
            .bytes()
            .await
            .map_err(|e| self.protocol(step, &describe_transport_error(&e)))?;
        if status == 401 {
            self.client.auth.invalidate(session.token.generation).await;
            return Err(StreamError::Rehandshake { org });
        }
        if status == 403 && step != "handshake" {
            return Err(StreamError::Rehandshake { org });
        }
        if !(200..300).contains(&status) {
            return Err(self.protocol(step, &format!("HTTP {status}")));
        }
        match serde_json::from_slice::<Value>(&bytes) {
            Ok(Value::Array(v)) => Ok(v),
            Ok(other) => Ok(vec![other]),
            Err(e) => Err(self.protocol(step, &format!("reply is not JSON: {e}"))),
        }
    }
}
