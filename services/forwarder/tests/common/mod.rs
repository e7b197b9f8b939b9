//! Local receivers implementing the contracts of the real APIs (Splunk HEC with indexer acks,
//! Elasticsearch `_bulk` with per-item statuses, syslog over TCP/UDP, a signed webhook), plus a
//! harness to drive one sink worker. Shared by the sink tests, the delivery tests and the bench.
#![allow(dead_code)]

use std::collections::{BTreeMap, HashMap, HashSet};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use loginwatch_forwarder::config::SinkConfig;
use loginwatch_forwarder::sink::Sink;
use loginwatch_forwarder::worker::{Ack, CircuitBreaker, DeadLetters, Envelope, SinkWorker};
use loginwatch_shared::kafka::DeadLetter;
use loginwatch_shared::Detection;
use serde_json::{json, Value};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, BufReader};
use tokio::net::{TcpListener, UdpSocket};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

/// Marker a test puts in a detection's message to make receivers reject it as malformed.
pub const POISON: &str = "POISON";

// ---------------------------------------------------------------------------------------------
// A restartable HTTP server on a fixed (once chosen) loopback port.

pub struct HttpServer {
    pub addr: SocketAddr,
    router: Router,
    running: Option<(oneshot::Sender<()>, JoinHandle<()>)>,
}

impl HttpServer {
    pub async fn start(router: Router) -> HttpServer {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let mut s = HttpServer {
            addr,
            router,
            running: None,
        };
        s.serve(listener);
        s
    }

    fn serve(&mut self, listener: TcpListener) {
        let (tx, rx) = oneshot::channel::<()>();
        let router = self.router.clone();
        let handle = tokio::spawn(async move {
            let _ = axum::serve(listener, router)
                .with_graceful_shutdown(async {
                    let _ = rx.await;
                })
                .await;
        });
        self.running = Some((tx, handle));
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Stops accepting and closes every connection: clients get "connection refused".
    pub async fn stop(&mut self) {
        if let Some((tx, handle)) = self.running.take() {
            let _ = tx.send(());
            let _ = tokio::time::timeout(Duration::from_secs(10), handle).await;
        }
    }

    /// Serves again on the same port.
    pub async fn restart(&mut self) {
        let listener = loop {
            match TcpListener::bind(self.addr).await {
                Ok(l) => break l,
                Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
            }
        };
        self.serve(listener);
    }
}

/// Fault injection shared by the receivers.
#[derive(Default)]
pub struct Faults {
    /// Fail this many upcoming requests with 503.
    pub unavailable: AtomicU32,
    /// Answer this many upcoming requests with 429.
    pub throttled: AtomicU32,
}

fn take_one(counter: &AtomicU32) -> bool {
    counter
        .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
        .is_ok()
}

// ---------------------------------------------------------------------------------------------
// Splunk HEC

pub const HEC_TOKEN: &str = "11111111-2222-3333-4444-555555555555";

#[derive(Default)]
pub struct HecState {
    pub faults: Faults,
    pub require_channel: bool,
    /// Envelopes accepted, in order.
    pub events: Mutex<Vec<Value>>,
    pub requests: AtomicU64,
    next_ack: AtomicU64,
    /// ackId → polls seen; acknowledged from the second poll on (so polling really happens).
    acks: Mutex<HashMap<u64, u32>>,
    pub ack_polls: AtomicU64,
}

impl HecState {
    pub fn detection_ids(&self) -> Vec<String> {
        self.events
            .lock()
            .unwrap()
            .iter()
            .map(|e| {
                e["event"]["event"]["id"]
                    .as_str()
                    .or(e["event"]["finding_info"]["uid"].as_str())
                    .unwrap()
                    .to_string()
            })
            .collect()
    }
}

fn hec_reply(status: StatusCode, body: Value) -> Response {
    (status, Json(body)).into_response()
}

async fn hec_event(State(s): State<Arc<HecState>>, headers: HeaderMap, body: String) -> Response {
    s.requests.fetch_add(1, Ordering::SeqCst);
    if headers.get("authorization").and_then(|v| v.to_str().ok())
        != Some(&format!("Splunk {HEC_TOKEN}"))
    {
        return hec_reply(
            StatusCode::UNAUTHORIZED,
            json!({"text": "Invalid token", "code": 4}),
        );
    }
    if s.require_channel && headers.get("x-splunk-request-channel").is_none() {
        return hec_reply(
            StatusCode::BAD_REQUEST,
            json!({"text": "Data channel is missing", "code": 10}),
        );
    }
    if take_one(&s.faults.unavailable) {
        return hec_reply(
            StatusCode::SERVICE_UNAVAILABLE,
            json!({"text": "Server is busy", "code": 9}),
        );
    }
    if take_one(&s.faults.throttled) {
        return hec_reply(
            StatusCode::TOO_MANY_REQUESTS,
            json!({"text": "Server is busy", "code": 9}),
        );
    }
    let mut envelopes = Vec::new();
    for (i, item) in serde_json::Deserializer::from_str(&body)
        .into_iter::<Value>()
        .enumerate()
    {
        let Ok(envelope) = item else {
            return hec_reply(
                StatusCode::BAD_REQUEST,
                json!({"text": "Invalid data format", "code": 6, "invalid-event-number": i}),
            );
        };
        let required = ["time", "host", "source", "sourcetype", "event", "fields"];
        if required.iter().any(|k| envelope.get(k).is_none())
            || envelope.to_string().contains(POISON)
        {
            return hec_reply(
                StatusCode::BAD_REQUEST,
                json!({"text": "Invalid data format", "code": 6, "invalid-event-number": i}),
            );
        }
        envelopes.push(envelope);
    }
    if envelopes.is_empty() {
        return hec_reply(
            StatusCode::BAD_REQUEST,
            json!({"text": "No data", "code": 5}),
        );
    }
    s.events.lock().unwrap().extend(envelopes);
    if s.require_channel {
        let id = s.next_ack.fetch_add(1, Ordering::SeqCst);
        s.acks.lock().unwrap().insert(id, 0);
        hec_reply(
            StatusCode::OK,
            json!({"text": "Success", "code": 0, "ackId": id}),
        )
    } else {
        hec_reply(StatusCode::OK, json!({"text": "Success", "code": 0}))
    }
}

async fn hec_ack(
    State(s): State<Arc<HecState>>,
    Query(q): Query<HashMap<String, String>>,
    headers: HeaderMap,
    Json(body): Json<Value>,
) -> Response {
    s.ack_polls.fetch_add(1, Ordering::SeqCst);
    if headers.get("authorization").and_then(|v| v.to_str().ok())
        != Some(&format!("Splunk {HEC_TOKEN}"))
    {
        return hec_reply(
            StatusCode::UNAUTHORIZED,
            json!({"text": "Invalid token", "code": 4}),
        );
    }
    if headers.get("x-splunk-request-channel").is_none() && !q.contains_key("channel") {
        return hec_reply(
            StatusCode::BAD_REQUEST,
            json!({"text": "Data channel is missing", "code": 10}),
        );
    }
    let mut acks = s.acks.lock().unwrap();
    let mut out = serde_json::Map::new();
    for id in body["acks"].as_array().cloned().unwrap_or_default() {
        let id = id.as_u64().unwrap_or(u64::MAX);
        let done = match acks.get_mut(&id) {
            Some(polls) => {
                *polls += 1;
                *polls >= 2
            }
            None => false,
        };
        out.insert(id.to_string(), json!(done));
    }
    hec_reply(StatusCode::OK, json!({ "acks": out }))
}

pub async fn hec_server(require_channel: bool) -> (HttpServer, Arc<HecState>) {
    let state = Arc::new(HecState {
        require_channel,
        ..Default::default()
    });
    let router = Router::new()
        .route("/services/collector/event", post(hec_event))
        .route("/services/collector/ack", post(hec_ack))
        .with_state(state.clone());
    (HttpServer::start(router).await, state)
}

// ---------------------------------------------------------------------------------------------
// Elasticsearch _bulk

#[derive(Default)]
pub struct BulkState {
    pub faults: Faults,
    /// `_id` → document (what a search would see).
    pub docs: Mutex<BTreeMap<String, Value>>,
    /// `_id` → successful writes (to prove nothing is written twice).
    pub writes: Mutex<HashMap<String, u32>>,
    /// Ids answered 429 once before being accepted.
    pub throttle_once: Mutex<HashSet<String>>,
    /// Ids answered 500 on every attempt (a shard that keeps failing this document).
    pub always_fail: Mutex<HashSet<String>>,
    pub requests: AtomicU64,
}

async fn bulk(State(s): State<Arc<BulkState>>, headers: HeaderMap, body: String) -> Response {
    s.requests.fetch_add(1, Ordering::SeqCst);
    if headers.get("content-type").and_then(|v| v.to_str().ok()) != Some("application/x-ndjson") {
        return (
            StatusCode::NOT_ACCEPTABLE,
            "Content-Type must be application/x-ndjson",
        )
            .into_response();
    }
    if take_one(&s.faults.unavailable) {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({"error": {"type": "cluster_block_exception"}, "status": 503})),
        )
            .into_response();
    }
    if take_one(&s.faults.throttled) {
        return (
            StatusCode::TOO_MANY_REQUESTS,
            Json(json!({"error": {"type": "es_rejected_execution_exception"}, "status": 429})),
        )
            .into_response();
    }
    let lines: Vec<&str> = body.lines().filter(|l| !l.trim().is_empty()).collect();
    if !lines.len().is_multiple_of(2) {
        return (StatusCode::BAD_REQUEST, Json(json!({"error": {"type": "illegal_argument_exception", "reason": "The bulk request must be terminated by a newline"}}))).into_response();
    }
    let mut items = Vec::new();
    let mut errors = false;
    for pair in lines.chunks(2) {
        let action: Value = serde_json::from_str(pair[0]).unwrap();
        let (op, meta) = action
            .as_object()
            .unwrap()
            .iter()
            .next()
            .map(|(k, v)| (k.clone(), v.clone()))
            .unwrap();
        let id = meta["_id"].as_str().unwrap().to_string();
        let index = meta["_index"].as_str().unwrap().to_string();
        let doc: Value = serde_json::from_str(pair[1]).unwrap();
        let (status, error) = if pair[1].contains(POISON) {
            (
                400,
                Some(
                    json!({"type": "mapper_parsing_exception", "reason": "failed to parse field [source.ip] of type [ip]"}),
                ),
            )
        } else if s.always_fail.lock().unwrap().contains(&id) {
            (
                500,
                Some(json!({"type": "shard_failure", "reason": "simulated shard failure"})),
            )
        } else if s.throttle_once.lock().unwrap().remove(&id) {
            (
                429,
                Some(
                    json!({"type": "es_rejected_execution_exception", "reason": "rejected execution of coordinating operation"}),
                ),
            )
        } else {
            let mut docs = s.docs.lock().unwrap();
            if op == "create" && docs.contains_key(&id) {
                (
                    409,
                    Some(
                        json!({"type": "version_conflict_engine_exception", "reason": format!("[{id}]: version conflict, document already exists")}),
                    ),
                )
            } else {
                docs.insert(id.clone(), doc);
                *s.writes.lock().unwrap().entry(id.clone()).or_insert(0) += 1;
                (201, None)
            }
        };
        let mut item = json!({"_index": index, "_id": id, "status": status});
        if let Some(e) = error {
            errors = true;
            item["error"] = e;
        }
        items.push(json!({ op: item }));
    }
    Json(json!({"took": 3, "errors": errors, "items": items})).into_response()
}

pub async fn bulk_server() -> (HttpServer, Arc<BulkState>) {
    let state = Arc::new(BulkState::default());
    let router = Router::new()
        .route("/_bulk", post(bulk))
        .with_state(state.clone());
    (HttpServer::start(router).await, state)
}

// ---------------------------------------------------------------------------------------------
// Webhook

pub const WEBHOOK_KEY: &str = "webhook-shared-secret";

#[derive(Default)]
pub struct WebhookState {
    pub faults: Faults,
    pub received: Mutex<Vec<Value>>,
    pub bad_signatures: AtomicU64,
    /// The `Authorization` header of each accepted request, when it had one.
    pub authorizations: Mutex<Vec<String>>,
}

/// How a receiver verifies `X-Loginwatch-Signature: t=<unix seconds>,v1=<hex>` (as the README
/// shows), independently of the sink's helper: HMAC-SHA256 of `"<t>.<body>"` under the shared key,
/// compared in constant time, and `t` within 5 minutes of the receiver's clock (replays refused).
pub fn verify_webhook_signature(header: &str, body: &[u8], now: i64) -> bool {
    use hmac::{Hmac, Mac};
    const TOLERANCE_SECS: i64 = 300;
    let mut t = None;
    let mut v1 = Vec::new();
    for part in header.split(',') {
        match part.trim().split_once('=') {
            Some(("t", v)) => t = v.parse::<i64>().ok(),
            Some(("v1", v)) => v1.extend(hex::decode(v).ok()),
            _ => {}
        }
    }
    let Some(t) = t else { return false };
    if (now - t).abs() > TOLERANCE_SECS {
        return false;
    }
    v1.iter().any(|candidate| {
        let mut mac = Hmac::<sha2::Sha256>::new_from_slice(WEBHOOK_KEY.as_bytes()).unwrap();
        mac.update(t.to_string().as_bytes());
        mac.update(b".");
        mac.update(body);
        mac.verify_slice(candidate).is_ok()
    })
}

async fn webhook(State(s): State<Arc<WebhookState>>, headers: HeaderMap, body: Bytes) -> Response {
    let sig = headers
        .get("x-loginwatch-signature")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    let ok = verify_webhook_signature(&sig, &body, chrono::Utc::now().timestamp());
    if !ok {
        s.bad_signatures.fetch_add(1, Ordering::SeqCst);
        return (StatusCode::UNAUTHORIZED, "bad signature").into_response();
    }
    if take_one(&s.faults.unavailable) {
        return (StatusCode::BAD_GATEWAY, "upstream down").into_response();
    }
    if take_one(&s.faults.throttled) {
        return (StatusCode::TOO_MANY_REQUESTS, "slow down").into_response();
    }
    let Ok(v) = serde_json::from_slice::<Value>(&body) else {
        return (StatusCode::BAD_REQUEST, "not JSON").into_response();
    };
    if v.to_string().contains(POISON) {
        return (StatusCode::UNPROCESSABLE_ENTITY, "schema validation failed").into_response();
    }
    if let Some(auth) = headers.get("authorization").and_then(|v| v.to_str().ok()) {
        s.authorizations.lock().unwrap().push(auth.to_string());
    }
    s.received.lock().unwrap().push(v);
    StatusCode::NO_CONTENT.into_response()
}

pub async fn webhook_server() -> (HttpServer, Arc<WebhookState>) {
    let state = Arc::new(WebhookState::default());
    let router = Router::new()
        .route("/hooks/loginwatch", post(webhook))
        .with_state(state.clone());
    (HttpServer::start(router).await, state)
}

// ---------------------------------------------------------------------------------------------
// Syslog receivers and a CEF parser

/// A parsed RFC 5424 message carrying CEF.
#[derive(Debug, Clone, PartialEq)]
pub struct SyslogCef {
    pub pri: u16,
    pub timestamp: String,
    pub hostname: String,
    pub app_name: String,
    pub msgid: String,
    /// Header fields after `CEF:0`: vendor, product, version, signature id, name, severity.
    pub header: Vec<String>,
    pub extension: BTreeMap<String, String>,
}

/// Parses `<PRI>1 TS HOST APP PROCID MSGID SD CEF:0|…`, undoing CEF escaping.
pub fn parse_syslog_cef(line: &str) -> SyslogCef {
    let rest = line.strip_prefix('<').expect("PRI");
    let (pri, rest) = rest.split_once(">1 ").expect("version 1");
    let mut parts = rest.splitn(7, ' ');
    let timestamp = parts.next().unwrap().to_string();
    let hostname = parts.next().unwrap().to_string();
    let app_name = parts.next().unwrap().to_string();
    let _procid = parts.next().unwrap();
    let msgid = parts.next().unwrap().to_string();
    let sd = parts.next().unwrap();
    assert_eq!(sd, "-");
    let msg = parts.next().unwrap();
    let cef = msg.strip_prefix("CEF:0|").expect("CEF:0 prefix");
    // Header: split on unescaped pipes, 6 fields then the extension.
    let mut header = Vec::new();
    let mut field = String::new();
    let mut chars = cef.chars();
    while header.len() < 6 {
        match chars.next().expect("complete CEF header") {
            '\\' => field.push(chars.next().unwrap()),
            '|' => header.push(std::mem::take(&mut field)),
            c => field.push(c),
        }
    }
    let ext: String = chars.collect();
    SyslogCef {
        pri: pri.parse().unwrap(),
        timestamp,
        hostname,
        app_name,
        msgid,
        header,
        extension: parse_cef_extension(&ext),
    }
}

/// `k=v k2=v with spaces` → map; a key starts after a space and ends at an unescaped `=`.
pub fn parse_cef_extension(ext: &str) -> BTreeMap<String, String> {
    let chars: Vec<char> = ext.chars().collect();
    // Positions of unescaped '='.
    let mut eqs = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        match chars[i] {
            '\\' => i += 2,
            '=' => {
                eqs.push(i);
                i += 1
            }
            _ => i += 1,
        }
    }
    let key_start = |eq: usize| {
        chars[..eq]
            .iter()
            .rposition(|c| *c == ' ')
            .map_or(0, |p| p + 1)
    };
    let mut out = BTreeMap::new();
    for (n, &eq) in eqs.iter().enumerate() {
        let key: String = chars[key_start(eq)..eq].iter().collect();
        let end = eqs
            .get(n + 1)
            .map_or(chars.len(), |&next| key_start(next).saturating_sub(1));
        let raw: String = chars[eq + 1..end].iter().collect();
        let mut value = String::new();
        let mut it = raw.chars();
        while let Some(c) = it.next() {
            if c == '\\' {
                match it.next() {
                    Some('n') => value.push('\n'),
                    Some('r') => value.push('\r'),
                    Some(other) => value.push(other),
                    None => value.push('\\'),
                }
            } else {
                value.push(c);
            }
        }
        out.insert(key, value);
    }
    out
}

pub struct TcpSyslogServer {
    pub addr: SocketAddr,
    pub messages: Arc<Mutex<Vec<String>>>,
    pub connections: Arc<AtomicU64>,
    tasks: Arc<Mutex<Vec<JoinHandle<()>>>>,
    octet_counting: bool,
}

impl TcpSyslogServer {
    pub async fn start(octet_counting: bool) -> TcpSyslogServer {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let s = TcpSyslogServer {
            addr,
            messages: Arc::default(),
            connections: Arc::default(),
            tasks: Arc::default(),
            octet_counting,
        };
        s.accept(listener);
        s
    }

    fn accept(&self, listener: TcpListener) {
        let (messages, tasks, connections, octet) = (
            self.messages.clone(),
            self.tasks.clone(),
            self.connections.clone(),
            self.octet_counting,
        );
        let acceptor = tokio::spawn(async move {
            while let Ok((socket, _)) = listener.accept().await {
                connections.fetch_add(1, Ordering::SeqCst);
                let messages = messages.clone();
                let conn = tokio::spawn(async move {
                    let mut reader = BufReader::new(socket);
                    loop {
                        let message = if octet {
                            let mut len = Vec::new();
                            if reader.read_until(b' ', &mut len).await.unwrap_or(0) == 0 {
                                return;
                            }
                            let n: usize = std::str::from_utf8(&len[..len.len() - 1])
                                .unwrap()
                                .parse()
                                .expect("octet count");
                            let mut buf = vec![0; n];
                            if reader.read_exact(&mut buf).await.is_err() {
                                return;
                            }
                            String::from_utf8(buf).unwrap()
                        } else {
                            let mut line = String::new();
                            if reader.read_line(&mut line).await.unwrap_or(0) == 0 {
                                return;
                            }
                            line.trim_end_matches('\n').to_string()
                        };
                        messages.lock().unwrap().push(message);
                    }
                });
                tasks.lock().unwrap().push(conn);
            }
        });
        self.tasks.lock().unwrap().push(acceptor);
    }

    /// Closes the listener and every connection, and waits until they are closed.
    pub async fn stop(&self) {
        let tasks: Vec<JoinHandle<()>> = self.tasks.lock().unwrap().drain(..).collect();
        for t in tasks {
            t.abort();
            let _ = t.await;
        }
    }

    pub async fn restart(&self) {
        let listener = loop {
            match TcpListener::bind(self.addr).await {
                Ok(l) => break l,
                Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
            }
        };
        self.accept(listener);
    }

    pub fn parsed(&self) -> Vec<SyslogCef> {
        self.messages
            .lock()
            .unwrap()
            .iter()
            .map(|m| parse_syslog_cef(m))
            .collect()
    }
}

pub struct UdpSyslogServer {
    pub addr: SocketAddr,
    pub messages: Arc<Mutex<Vec<String>>>,
    task: JoinHandle<()>,
}

impl UdpSyslogServer {
    pub async fn start() -> UdpSyslogServer {
        let socket = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let addr = socket.local_addr().unwrap();
        let messages: Arc<Mutex<Vec<String>>> = Arc::default();
        let sink = messages.clone();
        let task = tokio::spawn(async move {
            let mut buf = vec![0u8; 65536];
            while let Ok(n) = socket.recv(&mut buf).await {
                sink.lock()
                    .unwrap()
                    .push(String::from_utf8_lossy(&buf[..n]).into_owned());
            }
        });
        UdpSyslogServer {
            addr,
            messages,
            task,
        }
    }

    pub fn parsed(&self) -> Vec<SyslogCef> {
        self.messages
            .lock()
            .unwrap()
            .iter()
            .map(|m| parse_syslog_cef(m))
            .collect()
    }
}

impl Drop for UdpSyslogServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

// ---------------------------------------------------------------------------------------------
// Driving one sink worker without Kafka

pub struct WorkerRun {
    pub acks: Vec<Ack>,
    pub dead_letters: Vec<DeadLetter>,
}

/// Sink config from TOML text (the same path as the service's config).
pub fn sink_config(toml: &str) -> SinkConfig {
    let config: loginwatch_forwarder::config::ForwarderConfig =
        loginwatch_shared::config::load_str(toml).expect("test config parses");
    config.validate().expect("test config is valid");
    config.sinks.into_iter().next().unwrap()
}

/// Feeds `detections` to a worker for `config`, waits until every one is acknowledged (delivered
/// or dead-lettered) or `timeout` passes, and returns what happened.
pub async fn run_worker(
    config: &SinkConfig,
    detections: &[Detection],
    timeout: Duration,
) -> WorkerRun {
    let (ack_tx, mut ack_rx) = mpsc::unbounded_channel();
    let (dl_tx, mut dl_rx) = mpsc::unbounded_channel();
    let (tx, rx) = mpsc::channel(config.batch.queue_capacity);
    let worker = SinkWorker {
        index: 0,
        name: config.name.clone(),
        sink: Sink::from_config(0, config).expect("sink builds"),
        batch: config.batch.clone(),
        retry: config.retry.clone(),
        breaker: CircuitBreaker::new(&config.circuit_breaker, &config.name),
        dead_letters: DeadLetters::Channel(dl_tx),
        acks: ack_tx,
    };
    let task = tokio::spawn(worker.run(rx));
    let feeder = {
        let detections = detections.to_vec();
        tokio::spawn(async move {
            for d in detections {
                let raw: Arc<str> = Arc::from(serde_json::to_string(&d).unwrap());
                tx.send(Envelope {
                    detection: Arc::new(d),
                    raw,
                    origin: None,
                })
                .await
                .unwrap();
            }
        })
    };
    let mut acks = Vec::new();
    let _ = tokio::time::timeout(timeout, async {
        while acks.len() < detections.len() {
            match ack_rx.recv().await {
                Some(a) => acks.push(a),
                None => break,
            }
        }
    })
    .await;
    feeder.abort();
    task.abort();
    let mut dead_letters = Vec::new();
    while let Ok(d) = dl_rx.try_recv() {
        dead_letters.push(d);
    }
    WorkerRun { acks, dead_letters }
}

/// A copy of `d` that receivers reject as malformed.
pub fn poisoned(mut d: Detection) -> Detection {
    d.message = format!("{POISON} {}", d.message);
    d
}

// ---------------------------------------------------------------------------------------------
// Syslog over TLS (RFC 5425) with a self-signed certificate for `localhost`

pub struct TlsSyslogServer {
    pub addr: SocketAddr,
    pub messages: Arc<Mutex<Vec<String>>>,
    /// PEM of the server's self-signed certificate (the CA file a client must trust).
    pub ca_pem: String,
    pub handshake_failures: Arc<AtomicU64>,
    task: JoinHandle<()>,
}

impl TlsSyslogServer {
    pub async fn start() -> TlsSyslogServer {
        use tokio_rustls::rustls;
        let certified = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap();
        let key = rustls_pki_types::PrivatePkcs8KeyDer::from(certified.key_pair.serialize_der());
        let config = rustls::ServerConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(vec![certified.cert.der().clone()], key.into())
        .unwrap();
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let messages: Arc<Mutex<Vec<String>>> = Arc::default();
        let handshake_failures: Arc<AtomicU64> = Arc::default();
        let (sink, failures) = (messages.clone(), handshake_failures.clone());
        let task = tokio::spawn(async move {
            while let Ok((socket, _)) = listener.accept().await {
                let (acceptor, sink, failures) = (acceptor.clone(), sink.clone(), failures.clone());
                tokio::spawn(async move {
                    let Ok(tls) = acceptor.accept(socket).await else {
                        failures.fetch_add(1, Ordering::SeqCst);
                        return;
                    };
                    let mut reader = BufReader::new(tls);
                    loop {
                        let mut len = Vec::new();
                        if reader.read_until(b' ', &mut len).await.unwrap_or(0) == 0 {
                            return;
                        }
                        let n: usize = std::str::from_utf8(&len[..len.len() - 1])
                            .unwrap()
                            .parse()
                            .unwrap();
                        let mut buf = vec![0; n];
                        if reader.read_exact(&mut buf).await.is_err() {
                            return;
                        }
                        sink.lock().unwrap().push(String::from_utf8(buf).unwrap());
                    }
                });
            }
        });
        TlsSyslogServer {
            addr,
            messages,
            ca_pem: certified.cert.pem(),
            handshake_failures,
            task,
        }
    }
}

impl Drop for TlsSyslogServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}
