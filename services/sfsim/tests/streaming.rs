//! CometD `/event/LoginEventStream`: handshake, subscribe with replay, long-poll connect,
//! replay after a disconnect, the Salesforce error texts, and live mode.

mod common;

use std::collections::HashSet;

use common::*;
use loginwatch_sfsim::{Mode, SimHandle};
use loginwatch_shared::parse::{self, ParseContext};
use serde_json::{json, Value};

const CHANNEL: &str = "/event/LoginEventStream";

/// A minimal Bayeux client over reqwest that keeps the cookies.
struct Bayeux {
    url: String,
    token: String,
    cookies: Vec<String>,
    client_id: String,
}

impl Bayeux {
    async fn post(&mut self, msgs: Value) -> (u16, Vec<Value>) {
        let mut req = client()
            .post(&self.url)
            .header("Authorization", format!("OAuth {}", self.token))
            .json(&msgs);
        if !self.cookies.is_empty() {
            req = req.header("Cookie", self.cookies.join("; "));
        }
        let r = req.send().await.unwrap();
        let status = r.status().as_u16();
        for c in r.headers().get_all("set-cookie") {
            let kv = c.to_str().unwrap().split(';').next().unwrap().to_string();
            let name = kv.split('=').next().unwrap().to_string();
            self.cookies.retain(|x| !x.starts_with(&format!("{name}=")));
            self.cookies.push(kv);
        }
        let body: Value = r.json().await.unwrap();
        (status, body.as_array().cloned().unwrap_or_default())
    }

    async fn handshake(sim: &SimHandle, token: &str) -> (Bayeux, Value) {
        let mut b = Bayeux {
            url: format!("{}/cometd/62.0", sim.base_url()),
            token: token.to_string(),
            cookies: Vec::new(),
            client_id: String::new(),
        };
        let (_, replies) = b
            .post(json!([{"channel": "/meta/handshake", "version": "1.0", "supportedConnectionTypes": ["long-polling"], "ext": {"replay": true}}]))
            .await;
        let reply = replies[0].clone();
        if let Some(id) = reply["clientId"].as_str() {
            b.client_id = id.to_string();
        }
        (b, reply)
    }

    async fn subscribe(&mut self, replay: i64) -> Value {
        let msg = json!([{"channel": "/meta/subscribe", "clientId": self.client_id, "subscription": CHANNEL, "ext": {"replay": {CHANNEL: replay}}}]);
        self.post(msg).await.1[0].clone()
    }

    /// One connect: (data messages, the /meta/connect reply).
    async fn connect(&mut self) -> (Vec<Value>, Value) {
        let (_, replies) = self.post(json!([{"channel": "/meta/connect", "clientId": self.client_id, "connectionType": "long-polling"}])).await;
        let (data, meta): (Vec<Value>, Vec<Value>) =
            replies.into_iter().partition(|m| m["channel"] == CHANNEL);
        (data, meta.into_iter().next().unwrap())
    }

    /// Connects until a connect returns no data; returns every data message.
    async fn drain(&mut self) -> Vec<Value> {
        let mut all = Vec::new();
        loop {
            let (data, meta) = self.connect().await;
            assert_eq!(meta["successful"], true, "{meta}");
            if data.is_empty() && !all.is_empty() {
                return all;
            }
            if data.is_empty() {
                // The first connect after a handshake returns at once; poll once more.
                let (more, _) = self.connect().await;
                if more.is_empty() {
                    return all;
                }
                all.extend(more);
                continue;
            }
            all.extend(data);
        }
    }
}

fn replay_id(m: &Value) -> i64 {
    m["data"]["event"]["replayId"].as_i64().unwrap()
}

#[tokio::test]
async fn handshake_needs_a_valid_session() {
    let sim = start(config()).await;
    let (_, reply) = Bayeux::handshake(&sim, "not-a-token").await;
    assert_eq!(reply["successful"], false);
    assert_eq!(reply["error"], "403::Handshake denied");
    assert_eq!(
        reply["ext"]["sfdc"]["failureReason"],
        "401::Authentication invalid"
    );
    assert_eq!(reply["advice"]["reconnect"], "none");

    let t = token(&sim).await;
    let (mut b, reply) = Bayeux::handshake(&sim, &t).await;
    assert_eq!(reply["successful"], true);
    assert_eq!(reply["ext"]["replay"], true);
    assert!(b.cookies.iter().any(|c| c.starts_with("BAYEUX_BROWSER=")));
    // Without the cookie the client is unknown.
    let saved = std::mem::take(&mut b.cookies);
    let (_, meta) = b.connect().await;
    assert_eq!(meta["error"], "403::Unknown client");
    assert_eq!(meta["advice"]["reconnect"], "handshake");
    b.cookies = saved;
    // The client was forgotten: even with the cookie it must handshake again.
    let (_, meta) = b.connect().await;
    assert_eq!(meta["error"], "403::Unknown client");
    // An unknown client id.
    let (mut b2, _) = Bayeux::handshake(&sim, &t).await;
    b2.client_id = "nosuchclient".into();
    assert_eq!(b2.subscribe(-1).await["error"], "403::Unknown client");
    // Unsubscribe and disconnect end a client's session.
    let (mut b3, _) = Bayeux::handshake(&sim, &t).await;
    assert_eq!(b3.subscribe(-1).await["successful"], true);
    let id = b3.client_id.clone();
    let (_, r) = b3
        .post(json!([{"channel": "/meta/unsubscribe", "clientId": id, "subscription": CHANNEL}]))
        .await;
    assert_eq!(r[0]["successful"], true);
    let (_, r) = b3
        .post(json!([{"channel": "/meta/disconnect", "clientId": id}]))
        .await;
    assert_eq!(r[0]["successful"], true);
    assert_eq!(b3.connect().await.1["error"], "403::Unknown client");
    let stats: Value = client()
        .get(format!("{}/__admin/stats", sim.base_url()))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(stats["logins"].as_u64(), Some(sim.login_count()));
}

#[tokio::test]
async fn replay_all_retained_events_and_resume_after_a_disconnect() {
    let sim = start(config()).await;
    let org = sim.org_ids()[0].clone();
    let t = token(&sim).await;
    let (mut b, _) = Bayeux::handshake(&sim, &t).await;
    let sub = b.subscribe(-2).await;
    assert_eq!(sub["successful"], true, "{sub}");

    // Read a little, then the server drops every client.
    let (mut got, meta) = b.connect().await;
    assert_eq!(meta["advice"]["reconnect"], "retry");
    assert!(meta["advice"]["timeout"].is_number());
    if got.is_empty() {
        got = b.connect().await.0;
    }
    assert!(!got.is_empty());
    admin_faults(&sim, json!({"cometd_disconnect": true})).await;
    let (data, meta) = b.connect().await;
    assert!(data.is_empty());
    assert_eq!(meta["error"], "403::Unknown client");

    // Re-handshake and re-subscribe from the last replay id: nothing lost, nothing repeated.
    let last = replay_id(got.last().unwrap());
    let (mut b, _) = Bayeux::handshake(&sim, &t).await;
    assert_eq!(b.subscribe(last).await["successful"], true);
    got.extend(b.drain().await);

    // Everything from the first retained event on, in order; what came before was past the
    // 72-hour window when we subscribed (the window moves with the clock, hence the minute).
    let all: Vec<_> = sim
        .logins(&org)
        .into_iter()
        .filter(|l| l.status != "Login Rate Exceeded")
        .collect();
    let received: Vec<String> = got
        .iter()
        .map(|m| {
            m["data"]["payload"]["EventIdentifier"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    let first = all
        .iter()
        .position(|l| l.event_identifier == received[0])
        .unwrap();
    let expected: Vec<String> = all[first..]
        .iter()
        .map(|l| l.event_identifier.clone())
        .collect();
    assert_eq!(received.len(), expected.len(), "every retained event once");
    assert_eq!(
        received.iter().collect::<HashSet<_>>().len(),
        received.len(),
        "no duplicates"
    );
    assert_eq!(received, expected);
    let edge = sim.now() - chrono::Duration::hours(72);
    assert!(
        first > 0
            && all[..first]
                .iter()
                .all(|l| l.time < edge + chrono::Duration::minutes(1))
    );
    assert!(all[first].time >= edge - chrono::Duration::minutes(1));
    assert!(got.windows(2).all(|w| replay_id(&w[0]) < replay_id(&w[1])));

    // Every message parses; LoginHistoryId joins to LoginHistory.
    let ctx = ParseContext::new(org.clone());
    let ids: HashSet<String> = sim
        .logins(&org)
        .into_iter()
        .map(|l| l.login_history_id)
        .collect();
    for m in &got {
        let ev = parse::stream::parse_message(m, &ctx).unwrap();
        assert!(ids.contains(ev.event.login_history_id.as_deref().unwrap()));
    }
}

#[tokio::test]
async fn replay_id_errors_and_new_events_only() {
    let sim = start(config()).await;
    let t = token(&sim).await;
    let (mut b, _) = Bayeux::handshake(&sim, &t).await;
    let bad = b.subscribe(123).await;
    assert_eq!(bad["successful"], false);
    assert_eq!(
        bad["error"],
        "400::The replayId {123} you provided was invalid.  Please provide a valid ID, -2 to replay all events, or -1 to replay only new events."
    );
    // A real id older than the 72-hour retention is invalid too.
    let org = sim.org_ids()[0].clone();
    let edge = sim.now() - chrono::Duration::hours(72) - chrono::Duration::minutes(1);
    let times: std::collections::HashMap<String, chrono::DateTime<chrono::Utc>> = sim
        .logins(&org)
        .into_iter()
        .map(|l| (l.login_history_id, l.time))
        .collect();
    let expired_id = sim
        .stream(&org)
        .into_iter()
        .rev()
        .find(|(_, id)| times[id] < edge)
        .unwrap()
        .0;
    let expired = b.subscribe(expired_id).await;
    assert_eq!(expired["successful"], false, "{expired}");
    assert!(expired["error"]
        .as_str()
        .unwrap()
        .contains(&format!("{{{expired_id}}}")));
    // A retained id is accepted.
    let retained_id = sim
        .stream(&org)
        .into_iter()
        .find(|(_, id)| times[id] > edge + chrono::Duration::minutes(5))
        .unwrap()
        .0;
    assert_eq!(b.subscribe(retained_id).await["successful"], true);

    // -1: only new events. A token-endpoint login is a new event.
    assert_eq!(b.subscribe(-1).await["successful"], true);
    let (first, _) = b.connect().await;
    assert!(first.is_empty());
    let (quiet, meta) = b.connect().await;
    assert!(
        quiet.is_empty() && meta["successful"] == true,
        "held, then empty"
    );
    let _ = token(&sim).await;
    let mut data = Vec::new();
    for _ in 0..20 {
        data.extend(b.connect().await.0);
        if !data.is_empty() {
            break;
        }
    }
    assert_eq!(data.len(), 1, "{data:?}");
    assert_eq!(
        data[0]["data"]["payload"]["Username"],
        json!(sim.api_username(&org).unwrap())
    );
}

#[tokio::test]
async fn expired_session_ends_the_stream_client() {
    let mut cfg = config();
    cfg.token_lifetime_secs = 1;
    let sim = start(cfg).await;
    let t = token(&sim).await;
    let (mut b, _) = Bayeux::handshake(&sim, &t).await;
    assert_eq!(b.subscribe(-1).await["successful"], true);
    tokio::time::sleep(std::time::Duration::from_millis(1200)).await;
    let (_, meta) = b.connect().await;
    assert_eq!(meta["error"], "403::Unknown client");
}

#[tokio::test]
async fn live_mode_adds_logins_to_history_and_stream() {
    let mut cfg = config();
    cfg.mode = Mode::Live;
    cfg.live.speed = 600.0; // ten simulated minutes per second
    cfg.live.tick_ms = 50;
    cfg.cometd.hold_ms = 2000;
    let sim = start(cfg).await;
    let t = token(&sim).await;
    let start_count = sim.login_count();
    let (mut b, _) = Bayeux::handshake(&sim, &t).await;
    assert_eq!(b.subscribe(-1).await["successful"], true);
    let mut got = Vec::new();
    for _ in 0..20 {
        let (data, _) = b.connect().await;
        got.extend(data);
        if got.len() >= 3 {
            break;
        }
    }
    assert!(got.len() >= 3, "live events arrive on the stream");
    assert!(sim.login_count() > start_count);
    // They are in LoginHistory too, newer than the history's end.
    let newest = got.last().unwrap()["data"]["payload"]["LoginHistoryId"]
        .as_str()
        .unwrap()
        .to_string();
    let (rows, _) = query_all(
        &sim,
        &t,
        &format!("SELECT Id FROM LoginHistory WHERE Id = '{newest}'"),
        None,
    )
    .await;
    assert_eq!(rows.len(), 1);
}
