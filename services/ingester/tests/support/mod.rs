//! Test support: a small, fully controllable Salesforce stand-in (token endpoint, SOQL query with
//! paging, CometD) with fault injection, and a MockCluster reader.
#![allow(dead_code)]

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Form, Json, Router};
use chrono::{DateTime, Utc};
use serde_json::{json, Value};

pub const ORG: &str = "00D000000000001AAA";

#[derive(Default)]
pub struct StubState {
    /// LoginHistory rows, any order (the stub sorts by LoginTime per query).
    pub rows: Vec<Value>,
    pub valid_tokens: Vec<String>,
    pub tokens_issued: u64,
    /// Statuses returned (with a Salesforce error body) before serving query calls normally.
    pub fail_next: VecDeque<(u16, &'static str)>,
    /// Delay before answering each query call.
    pub delay: Duration,
    /// Expire the session after this many more successful query calls.
    pub expire_after_calls: Option<u32>,
    pub api_used: u64,
    pub api_max: u64,
    pub query_calls: u64,
    pub queries: Vec<String>,
    pub batch_sizes: Vec<Option<u32>>,
    cursors: HashMap<String, Vec<Value>>,
    next_cursor: u64,
    pub token_requests: Vec<HashMap<String, String>>,
    // CometD
    pub stream_events: Vec<Value>,
    pub oldest_retained_replay: i64,
    pub clients: HashMap<String, i64>,
    pub next_client: u64,
    pub forget_clients_after_connects: Option<u32>,
    pub subscribe_replays: Vec<i64>,
    pub handshakes: u64,
}

#[derive(Clone)]
pub struct Stub {
    pub state: Arc<Mutex<StubState>>,
    pub addr: SocketAddr,
}

impl Stub {
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }
    pub fn with<R>(&self, f: impl FnOnce(&mut StubState) -> R) -> R {
        f(&mut self.state.lock().unwrap())
    }
}

pub fn sf_time(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%S%.3f+0000").to_string()
}

pub fn row(id: &str, user: &str, t: DateTime<Utc>) -> Value {
    json!({
        "attributes": {"type": "LoginHistory", "url": format!("/services/data/v62.0/sobjects/LoginHistory/{id}")},
        "Id": id, "UserId": user, "LoginTime": sf_time(t), "LoginType": "Remote Access 2.0",
        "LoginSubType": "OAuth Username-Password", "LoginUrl": "login.salesforce.com", "SourceIp": "198.51.100.7",
        "Status": "Success", "Application": "Data Loader", "Browser": "Unknown", "Platform": "Unknown",
        "ApiType": null, "ApiVersion": null, "ClientVersion": null, "CipherSuite": "ECDHE-RSA-AES256-GCM-SHA384",
        "TlsProtocol": "TLS 1.2", "CountryIso": "US", "LoginGeoId": null, "AuthenticationServiceId": null,
        "AuthMethodReference": null, "NetworkId": null, "OptionsIsGet": false, "OptionsIsPost": true
    })
}

/// An 18-character LoginHistory id for test row `n`.
pub fn lh_id(n: usize) -> String {
    loginwatch_shared::ids::to_18(&format!("0Ya{n:012}")).unwrap()
}

/// A valid 18-character user id; users repeat every 7 rows.
pub fn user(n: usize) -> String {
    loginwatch_shared::ids::to_18(&format!("005{:012}", n % 7)).unwrap()
}

pub async fn start_stub(api_max: u64) -> Stub {
    let state = Arc::new(Mutex::new(StubState {
        api_max,
        ..Default::default()
    }));
    let app = Router::new()
        .route("/services/oauth2/token", post(token))
        .route("/services/data/v62.0/query", get(query))
        .route("/services/data/v62.0/query/{locator}", get(query_more))
        .route("/services/data/v62.0/limits", get(limits))
        .route("/cometd/62.0", post(cometd))
        .with_state(state.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    Stub { state, addr }
}

type S = State<Arc<Mutex<StubState>>>;

async fn token(
    State(s): S,
    headers: HeaderMap,
    Form(form): Form<HashMap<String, String>>,
) -> Response {
    let mut st = s.lock().unwrap();
    st.token_requests.push(form.clone());
    let host = headers
        .get("host")
        .and_then(|h| h.to_str().ok())
        .unwrap_or("")
        .to_string();
    let ok = match form.get("grant_type").map(String::as_str) {
        Some("urn:ietf:params:oauth:grant-type:jwt-bearer") => form
            .get("assertion")
            .is_some_and(|a| a.split('.').count() == 3),
        Some("client_credentials") => form
            .get("client_secret")
            .is_some_and(|s| s == "cc-secret-value-42"),
        _ => false,
    };
    if !ok {
        return (
            StatusCode::BAD_REQUEST,
            Json(json!({"error": "invalid_grant", "error_description": "authentication failure"})),
        )
            .into_response();
    }
    st.tokens_issued += 1;
    let tok = format!("00Dtok!{}-secret-access-token", st.tokens_issued);
    st.valid_tokens.push(tok.clone());
    Json(json!({"access_token": tok, "instance_url": format!("http://{host}"), "token_type": "Bearer",
                "id": format!("http://{host}/id/{ORG}/005000000000001AAA"), "issued_at": "1700000000000"}))
    .into_response()
}

fn limit_header(st: &mut StubState) -> [(String, String); 1] {
    st.api_used += 1;
    [(
        "Sforce-Limit-Info".to_string(),
        format!("api-usage={}/{}", st.api_used, st.api_max),
    )]
}

fn sf_error(status: u16, code: &str, msg: &str, st: &mut StubState) -> Response {
    let h = limit_header(st);
    let mut r = (
        StatusCode::from_u16(status).unwrap(),
        Json(json!([{"message": msg, "errorCode": code}])),
    )
        .into_response();
    for (k, v) in h {
        r.headers_mut().insert(
            axum::http::HeaderName::from_bytes(k.as_bytes()).unwrap(),
            v.parse().unwrap(),
        );
    }
    r
}

/// Common checks for query calls: faults, auth, delay. Returns Err(response) to short-circuit.
async fn precheck(s: &Arc<Mutex<StubState>>, headers: &HeaderMap) -> Result<(), Response> {
    let delay = s.lock().unwrap().delay;
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    let mut st = s.lock().unwrap();
    st.query_calls += 1;
    if let Some((status, code)) = st.fail_next.pop_front() {
        return Err(sf_error(status, code, "injected fault", &mut st));
    }
    let auth = headers
        .get("authorization")
        .and_then(|h| h.to_str().ok())
        .unwrap_or("");
    let tok = auth.strip_prefix("Bearer ").unwrap_or("");
    if !st.valid_tokens.iter().any(|t| t == tok) {
        return Err(sf_error(
            401,
            "INVALID_SESSION_ID",
            "Session expired or invalid",
            &mut st,
        ));
    }
    if let Some(n) = st.expire_after_calls {
        if n == 0 {
            st.valid_tokens.clear();
            st.expire_after_calls = None;
            return Err(sf_error(
                401,
                "INVALID_SESSION_ID",
                "Session expired or invalid",
                &mut st,
            ));
        }
        st.expire_after_calls = Some(n - 1);
    }
    Ok(())
}

fn batch_size(headers: &HeaderMap) -> Option<u32> {
    headers
        .get("sforce-query-options")
        .and_then(|h| h.to_str().ok())
        .and_then(|v| v.strip_prefix("batchSize="))
        .and_then(|v| v.parse().ok())
}

fn between<'a>(q: &'a str, after: &str, before: &str) -> Option<&'a str> {
    let start = q.find(after)? + after.len();
    let rest = &q[start..];
    Some(rest[..rest.find(before).unwrap_or(rest.len())].trim())
}

fn parse_t(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

fn row_time(r: &Value) -> DateTime<Utc> {
    let t = r.get("_stub_time").unwrap_or(&r["LoginTime"]);
    DateTime::parse_from_str(t.as_str().unwrap(), "%Y-%m-%dT%H:%M:%S%.f%z")
        .unwrap()
        .with_timezone(&Utc)
}

fn page(st: &mut StubState, locator: &str, offset: usize, batch: usize) -> Response {
    let all = st.cursors.get(locator).cloned().unwrap_or_default();
    let end = (offset + batch).min(all.len());
    let done = end >= all.len();
    let records: Vec<Value> = all[offset..end]
        .iter()
        .map(|r| {
            let mut r = r.clone();
            if let Some(o) = r.as_object_mut() {
                o.remove("_stub_time");
            }
            r
        })
        .collect();
    let mut body = json!({"totalSize": all.len(), "done": done, "records": records});
    if !done {
        body["nextRecordsUrl"] = json!(format!("/services/data/v62.0/query/{locator}-{end}"));
    }
    let h = limit_header(st);
    (h, Json(body)).into_response()
}

async fn query(
    State(s): S,
    headers: HeaderMap,
    Query(params): Query<HashMap<String, String>>,
) -> Response {
    if let Err(r) = precheck(&s, &headers).await {
        return r;
    }
    let mut st = s.lock().unwrap();
    let q = params.get("q").cloned().unwrap_or_default();
    st.queries.push(q.clone());
    let bs = batch_size(&headers);
    if q.contains("FROM LoginHistory") {
        st.batch_sizes.push(bs);
    }
    let results: Vec<Value> = if q.contains("FROM LoginHistory") {
        let from = parse_t(between(&q, "LoginTime >= ", " AND").unwrap());
        let to = parse_t(between(&q, "LoginTime < ", " ORDER").unwrap());
        let mut rows: Vec<Value> = st
            .rows
            .iter()
            .filter(|r| {
                let t = row_time(r);
                t >= from && t < to
            })
            .cloned()
            .collect();
        rows.sort_by_key(row_time);
        rows
    } else if q.contains("FROM User") {
        let ids = between(&q, "IN (", ")").unwrap_or("");
        ids.split(',')
            .map(|i| i.trim().trim_matches('\''))
            .filter(|i| !i.is_empty())
            .map(|i| json!({"attributes": {"type": "User"}, "Id": i, "Username": format!("user-{i}@example.com")}))
            .collect()
    } else {
        return sf_error(400, "MALFORMED_QUERY", "unsupported in stub", &mut st);
    };
    st.next_cursor += 1;
    let loc = format!("0r8stub{:011}", st.next_cursor);
    st.cursors.insert(loc.clone(), results);
    page(&mut st, &loc, 0, bs.unwrap_or(2000) as usize)
}

async fn query_more(State(s): S, headers: HeaderMap, Path(locator): Path<String>) -> Response {
    if let Err(r) = precheck(&s, &headers).await {
        return r;
    }
    let mut st = s.lock().unwrap();
    let (loc, off) = locator.rsplit_once('-').unwrap();
    let bs = batch_size(&headers);
    st.batch_sizes.push(bs);
    if !st.cursors.contains_key(loc) {
        return sf_error(
            400,
            "INVALID_QUERY_LOCATOR",
            "invalid query locator",
            &mut st,
        );
    }
    page(
        &mut st,
        loc,
        off.parse().unwrap(),
        bs.unwrap_or(2000) as usize,
    )
}

async fn limits(State(s): S) -> Response {
    let mut st = s.lock().unwrap();
    let h = limit_header(&mut st);
    let (used, max) = (st.api_used, st.api_max);
    (
        h,
        Json(json!({"DailyApiRequests": {"Max": max, "Remaining": max.saturating_sub(used)}})),
    )
        .into_response()
}

pub fn stream_event(replay: i64, id: &str, user: &str, t: DateTime<Utc>) -> Value {
    json!({"channel": "/event/LoginEventStream", "data": {"schema": "s1", "event": {"replayId": replay, "EventUuid": format!("uuid-{replay}")},
        "payload": {"EventIdentifier": id, "EventDate": t.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string(), "UserId": user,
                    "Username": "u@example.com", "LoginType": "Remote Access 2.0", "LoginSubType": "OAuth Username-Password",
                    "Status": "Success", "SourceIp": "198.51.100.9", "Application": "Data Loader", "LoginHistoryId": null}}})
}

async fn cometd(State(s): S, headers: HeaderMap, Json(body): Json<Value>) -> Response {
    let (response, idle) = {
        let mut st = s.lock().unwrap();
        cometd_sync(&mut st, &headers, &body)
    };
    if idle {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    response
}

/// Returns the reply and whether a connect found nothing to deliver (the handler then holds it briefly).
fn cometd_sync(st: &mut StubState, headers: &HeaderMap, body: &Value) -> (Response, bool) {
    let msg = body
        .as_array()
        .and_then(|a| a.first())
        .cloned()
        .unwrap_or(Value::Null);
    let channel = msg["channel"].as_str().unwrap_or_default().to_string();
    let cookie = headers
        .get("cookie")
        .and_then(|c| c.to_str().ok())
        .unwrap_or("")
        .to_string();
    let auth = headers
        .get("authorization")
        .and_then(|h| h.to_str().ok())
        .unwrap_or("")
        .to_string();
    let tok = auth.strip_prefix("OAuth ").unwrap_or("");
    if !st.valid_tokens.iter().any(|t| t == tok) {
        return (
            (
                StatusCode::UNAUTHORIZED,
                Json(json!([{"error": "401::Authentication invalid"}])),
            )
                .into_response(),
            false,
        );
    }
    match channel.as_str() {
        "/meta/handshake" => {
            st.handshakes += 1;
            st.next_client += 1;
            let id = format!("client{}", st.next_client);
            st.clients.insert(id.clone(), i64::MIN);
            let mut r = Json(json!([{"channel": "/meta/handshake", "clientId": id, "version": "1.0", "successful": true,
                                    "supportedConnectionTypes": ["long-polling"], "ext": {"replay": true}}]))
            .into_response();
            r.headers_mut().insert(
                "set-cookie",
                format!("BAYEUX_BROWSER={id}; Path=/").parse().unwrap(),
            );
            (r, false)
        }
        "/meta/subscribe" | "/meta/connect" => {
            let id = msg["clientId"].as_str().unwrap_or_default().to_string();
            let cookie_ok = cookie.contains(&format!("BAYEUX_BROWSER={id}"));
            if !st.clients.contains_key(&id) || !cookie_ok {
                return (Json(json!([{"channel": channel, "successful": false, "error": "403::Unknown client",
                                    "advice": {"reconnect": "handshake"}}]))
                .into_response(), false);
            }
            if channel == "/meta/subscribe" {
                let replay = msg["ext"]["replay"]["/event/LoginEventStream"]
                    .as_i64()
                    .unwrap();
                st.subscribe_replays.push(replay);
                if replay >= 0 && replay < st.oldest_retained_replay {
                    return (Json(json!([{"channel": "/meta/subscribe", "successful": false,
                        "error": format!("400::The replayId {{{replay}}} you provided was invalid.  Please provide a valid ID, -2 to replay all events, or -1 to replay only new events.")}]))
                    .into_response(), false);
                }
                let pos = if replay == -1 {
                    st.stream_events.len() as i64
                } else {
                    replay
                };
                st.clients.insert(id, pos);
                return (Json(json!([{"channel": "/meta/subscribe", "subscription": "/event/LoginEventStream", "successful": true}]))
                    .into_response(), false);
            }
            if let Some(n) = st.forget_clients_after_connects {
                if n == 0 {
                    st.clients.clear();
                    st.forget_clients_after_connects = None;
                    return (Json(json!([{"channel": "/meta/connect", "successful": false, "error": "403::Unknown client",
                                        "advice": {"reconnect": "handshake"}}]))
                    .into_response(), false);
                }
                st.forget_clients_after_connects = Some(n - 1);
            }
            let after = st.clients[&id];
            // Deliver at most 3 events per connect so several batches happen.
            let batch: Vec<Value> = st
                .stream_events
                .iter()
                .filter(|e| {
                    let r = e["data"]["event"]["replayId"].as_i64().unwrap();
                    r > after && r >= st.oldest_retained_replay
                })
                .take(3)
                .cloned()
                .collect();
            if let Some(last) = batch.last() {
                st.clients
                    .insert(id, last["data"]["event"]["replayId"].as_i64().unwrap());
            }
            let idle = batch.is_empty();
            let mut out = vec![
                json!({"channel": "/meta/connect", "successful": true, "advice": {"interval": 0, "timeout": 110000, "reconnect": "retry"}}),
            ];
            out.extend(batch);
            (Json(Value::Array(out)).into_response(), idle)
        }
        _ => (
            Json(
                json!([{"channel": channel, "successful": false, "error": "400::unknown channel"}]),
            )
            .into_response(),
            false,
        ),
    }
}

/// Reads every message currently in `topic` from a MockCluster (or any broker): (key, payload).
pub fn read_topic(
    bootstrap: &str,
    topic: &str,
    expect_at_least: usize,
    timeout: Duration,
) -> Vec<(String, String)> {
    use rdkafka::config::ClientConfig;
    use rdkafka::consumer::{BaseConsumer, Consumer};
    use rdkafka::Message;
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("group.id", format!("test-{}", rand::random::<u64>()))
        .set("auto.offset.reset", "earliest")
        .set("enable.auto.commit", "false")
        .set("session.timeout.ms", "6000")
        .create()
        .unwrap();
    consumer.subscribe(&[topic]).unwrap();
    let deadline = std::time::Instant::now() + timeout;
    let mut out = Vec::new();
    let mut quiet_since = std::time::Instant::now();
    while std::time::Instant::now() < deadline {
        match consumer.poll(Duration::from_millis(100)) {
            Some(Ok(m)) => {
                out.push((
                    String::from_utf8_lossy(m.key().unwrap_or_default()).into_owned(),
                    String::from_utf8_lossy(m.payload().unwrap_or_default()).into_owned(),
                ));
                quiet_since = std::time::Instant::now();
            }
            _ => {
                if out.len() >= expect_at_least
                    && quiet_since.elapsed() > Duration::from_millis(700)
                {
                    break;
                }
            }
        }
    }
    out
}

/// event_id → count, from login topic payloads.
pub fn count_event_ids(msgs: &[(String, String)]) -> BTreeMap<String, usize> {
    let mut m = BTreeMap::new();
    for (_, p) in msgs {
        let v: Value = serde_json::from_str(p).unwrap();
        *m.entry(v["event_id"].as_str().unwrap().to_string())
            .or_insert(0) += 1;
    }
    m
}
