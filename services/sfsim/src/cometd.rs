//! Streaming API (CometD / Bayeux long polling) for `/event/LoginEventStream` (reference §6).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration as StdDuration, Instant};

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use chrono::Duration;
use serde_json::{json, Value};

use crate::render::stream_message;
use crate::state::AppState;

pub const CHANNEL: &str = "/event/LoginEventStream";
const MAX_BODY: usize = 32_768;

struct Client {
    org: usize,
    browser_cookie: String,
    /// Next index into the org's stream, once subscribed.
    position: Option<usize>,
    last_seen: Instant,
    connected_once: bool,
}

/// The handshaken CometD clients.
#[derive(Default)]
pub struct Clients {
    inner: Mutex<HashMap<String, Client>>,
}

impl Clients {
    pub fn drop_all(&self) {
        self.inner.lock().expect("cometd lock").clear();
    }

    pub fn len(&self) -> usize {
        self.inner.lock().expect("cometd lock").len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

fn bearer(headers: &HeaderMap) -> Option<String> {
    let v = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = v.split_once(' ')?;
    (scheme.eq_ignore_ascii_case("OAuth") || scheme.eq_ignore_ascii_case("Bearer"))
        .then(|| token.trim().to_string())
}

fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .find_map(|kv| {
            let (k, v) = kv.trim().split_once('=')?;
            (k == name).then(|| v.to_string())
        })
}

fn unknown_client(channel: &str, client_id: Option<&str>, id: Option<&Value>) -> Value {
    let mut m = json!({
        "channel": channel,
        "successful": false,
        "error": "403::Unknown client",
        "advice": {"reconnect": "handshake", "interval": 0}
    });
    if let Some(c) = client_id {
        m["clientId"] = json!(c);
    }
    if let Some(id) = id {
        m["id"] = id.clone();
    }
    m
}

fn invalid_replay(replay: i64) -> String {
    format!("400::The replayId {{{replay}}} you provided was invalid.  Please provide a valid ID, -2 to replay all events, or -1 to replay only new events.")
}

/// `POST /cometd/{version}`.
pub async fn handle(
    State(state): State<Arc<AppState>>,
    Path(_version): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if body.len() > MAX_BODY {
        return (StatusCode::PAYLOAD_TOO_LARGE, "Request body too large").into_response();
    }
    let messages: Vec<Value> = match serde_json::from_slice::<Value>(&body) {
        Ok(Value::Array(a)) => a,
        Ok(v @ Value::Object(_)) => vec![v],
        _ => return (StatusCode::BAD_REQUEST, Json400::body()).into_response(),
    };
    let token = bearer(&headers);
    let browser = cookie(&headers, "BAYEUX_BROWSER");
    let mut replies: Vec<Value> = Vec::new();
    let mut set_cookies: Vec<String> = Vec::new();
    purge_idle(&state);
    for msg in messages {
        let channel = msg
            .get("channel")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string();
        let id = msg.get("id").cloned();
        let with_id = |mut v: Value| {
            if let Some(id) = &id {
                v["id"] = id.clone();
            }
            v
        };
        if channel == "/meta/handshake" {
            let auth = token.as_deref().and_then(|t| state.check_token(t));
            let Some(auth) = auth else {
                replies.push(with_id(json!({
                    "channel": "/meta/handshake",
                    "successful": false,
                    "error": "403::Handshake denied",
                    "advice": {"reconnect": "none"},
                    "ext": {"sfdc": {"failureReason": "401::Authentication invalid"}, "replay": true, "payload.format": true}
                })));
                continue;
            };
            let client_id = state.random_id(26);
            let browser_cookie = browser.clone().unwrap_or_else(|| state.random_id(22));
            state.cometd.inner.lock().expect("cometd lock").insert(
                client_id.clone(),
                Client {
                    org: auth.org,
                    browser_cookie: browser_cookie.clone(),
                    position: None,
                    last_seen: Instant::now(),
                    connected_once: false,
                },
            );
            set_cookies.push(format!("BAYEUX_BROWSER={browser_cookie}; Path=/; HttpOnly"));
            set_cookies.push(format!("sfdc-stream=!{}; Path=/", state.random_id(40)));
            replies.push(with_id(json!({
                "channel": "/meta/handshake",
                "clientId": client_id,
                "version": "1.0",
                "minimumVersion": "1.0",
                "supportedConnectionTypes": ["long-polling"],
                "successful": true,
                "ext": {"replay": true, "payload.format": true}
            })));
            continue;
        }
        let client_id = msg
            .get("clientId")
            .and_then(Value::as_str)
            .map(str::to_string);
        // Known client, same browser cookie, session still valid; anything else is unknown.
        let session_ok = token
            .as_deref()
            .and_then(|t| state.check_token(t))
            .is_some();
        let known = client_id.as_deref().is_some_and(|c| {
            let mut clients = state.cometd.inner.lock().expect("cometd lock");
            match clients.get_mut(c) {
                Some(cl)
                    if session_ok && browser.as_deref() == Some(cl.browser_cookie.as_str()) =>
                {
                    cl.last_seen = Instant::now();
                    true
                }
                Some(_) => {
                    clients.remove(c);
                    false
                }
                None => false,
            }
        });
        if !known {
            replies.push(unknown_client(&channel, client_id.as_deref(), id.as_ref()));
            continue;
        }
        let client_id = client_id.expect("known implies present");
        match channel.as_str() {
            "/meta/subscribe" => replies.push(with_id(subscribe(&state, &client_id, &msg))),
            "/meta/unsubscribe" => {
                let sub = msg.get("subscription").cloned().unwrap_or(Value::Null);
                if let Some(c) = state
                    .cometd
                    .inner
                    .lock()
                    .expect("cometd lock")
                    .get_mut(&client_id)
                {
                    c.position = None;
                }
                replies.push(with_id(json!({"channel": "/meta/unsubscribe", "clientId": client_id, "subscription": sub, "successful": true})));
            }
            "/meta/disconnect" => {
                state
                    .cometd
                    .inner
                    .lock()
                    .expect("cometd lock")
                    .remove(&client_id);
                replies.push(with_id(json!({"channel": "/meta/disconnect", "clientId": client_id, "successful": true})));
            }
            "/meta/connect" => {
                let (mut data, reply) = connect(&state, &client_id).await;
                replies.append(&mut data);
                replies.push(with_id(reply));
            }
            other => replies.push(with_id(json!({
                "channel": other,
                "clientId": client_id,
                "successful": false,
                "error": format!("400::Unsupported channel {other}")
            }))),
        }
    }
    let mut resp = (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "application/json;charset=UTF-8")],
        Value::Array(replies).to_string(),
    )
        .into_response();
    for c in set_cookies {
        if let Ok(v) = HeaderValue::from_str(&c) {
            resp.headers_mut().append(header::SET_COOKIE, v);
        }
    }
    resp
}

struct Json400;
impl Json400 {
    fn body() -> String {
        json!([{"channel": "", "successful": false, "error": "400::Bad request: body must be a JSON array of Bayeux messages"}]).to_string()
    }
}

fn purge_idle(state: &AppState) {
    let timeout = StdDuration::from_millis(state.cfg.cometd.client_timeout_ms);
    state
        .cometd
        .inner
        .lock()
        .expect("cometd lock")
        .retain(|_, c| c.last_seen.elapsed() < timeout);
}

fn subscribe(state: &AppState, client_id: &str, msg: &Value) -> Value {
    let sub = msg
        .get("subscription")
        .and_then(Value::as_str)
        .unwrap_or("");
    let base = |ok: bool| json!({"channel": "/meta/subscribe", "clientId": client_id, "subscription": sub, "successful": ok});
    if sub != CHANNEL {
        let mut v = base(false);
        v["error"] = json!(format!("403::Unknown channel: {sub}"));
        return v;
    }
    let replay = msg
        .pointer("/ext/replay")
        .and_then(|r| r.get(CHANNEL))
        .and_then(Value::as_i64)
        .unwrap_or(-1);
    let mut clients = state.cometd.inner.lock().expect("cometd lock");
    let Some(client) = clients.get_mut(client_id) else {
        return unknown_client("/meta/subscribe", Some(client_id), None);
    };
    let data = state.orgs[client.org].data.read().expect("org lock");
    let cutoff = state.now() - Duration::hours(state.cfg.cometd.retention_hours as i64);
    let retained_from = data
        .stream
        .partition_point(|&(_, i)| data.logins[i].time < cutoff);
    let position = match replay {
        -1 => Some(data.stream.len()),
        -2 => Some(retained_from),
        n => data
            .stream
            .binary_search_by_key(&n, |&(r, _)| r)
            .ok()
            .filter(|&p| p >= retained_from)
            .map(|p| p + 1),
    };
    match position {
        Some(p) => {
            client.position = Some(p);
            base(true)
        }
        None => {
            let mut v = base(false);
            v["error"] = json!(invalid_replay(replay));
            v
        }
    }
}

/// Takes up to `max_batch` pending data messages of a client; None if the client is gone.
fn take_pending(state: &AppState, client_id: &str) -> Option<Vec<Value>> {
    let mut clients = state.cometd.inner.lock().expect("cometd lock");
    let client = clients.get_mut(client_id)?;
    let Some(pos) = client.position else {
        return Some(Vec::new());
    };
    let data = state.orgs[client.org].data.read().expect("org lock");
    let cutoff = state.now() - Duration::hours(state.cfg.cometd.retention_hours as i64);
    let mut out = Vec::new();
    let mut p = pos;
    while p < data.stream.len() && out.len() < state.cfg.cometd.max_batch {
        let (replay, idx) = data.stream[p];
        let l = &data.logins[idx];
        if l.time >= cutoff {
            out.push(stream_message(l, replay, state.cfg.login_sub_type_spelling));
        }
        p += 1;
    }
    client.position = Some(p);
    client.last_seen = Instant::now();
    Some(out)
}

async fn connect(state: &Arc<AppState>, client_id: &str) -> (Vec<Value>, Value) {
    let advice =
        json!({"interval": 0, "timeout": state.cfg.cometd.advice_timeout_ms, "reconnect": "retry"});
    let ok = |advice: &Value| json!({"channel": "/meta/connect", "clientId": client_id, "successful": true, "advice": advice});
    let first = {
        let mut clients = state.cometd.inner.lock().expect("cometd lock");
        match clients.get_mut(client_id) {
            Some(c) => !std::mem::replace(&mut c.connected_once, true),
            None => {
                return (
                    Vec::new(),
                    unknown_client("/meta/connect", Some(client_id), None),
                )
            }
        }
    };
    let deadline = Instant::now() + StdDuration::from_millis(state.cfg.cometd.hold_ms);
    loop {
        let notified = state.new_events.notified();
        tokio::pin!(notified);
        notified.as_mut().enable();
        match take_pending(state, client_id) {
            None => {
                return (
                    Vec::new(),
                    unknown_client("/meta/connect", Some(client_id), None),
                )
            }
            Some(msgs) if !msgs.is_empty() || first => return (msgs, ok(&advice)),
            Some(_) => {}
        }
        let now = Instant::now();
        if now >= deadline {
            return (Vec::new(), ok(&advice));
        }
        let _ = tokio::time::timeout(deadline - now, notified).await;
    }
}
