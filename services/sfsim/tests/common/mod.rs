//! Helpers shared by the HTTP tests: a small simulator config, tokens, a plain reqwest client.
#![allow(dead_code)]

use loginwatch_sfsim::config::{testdata_dir, TEST_CONSUMER_KEY};
use loginwatch_sfsim::{SimConfig, SimHandle};
use serde_json::Value;

/// Where every test history ends: fixed, so a test's data are the same on any day, hour and
/// time zone of the machine (a Monday 00:00 UTC, the day after the US switch to daylight time).
pub fn history_end() -> chrono::DateTime<chrono::Utc> {
    "2026-03-09T00:00:00Z".parse().unwrap()
}

/// A small, fast org: 4 days of history ending at [`history_end`], incidents from day 1, a short CometD hold.
pub fn config() -> SimConfig {
    SimConfig {
        history_end: Some(history_end()),
        interactive_users: 20,
        history_days: 4,
        learning_days: 1,
        incident_spacing_mins: 60,
        rate_spike_logins: 600,
        cometd: loginwatch_sfsim::config::CometdConfig {
            hold_ms: 300,
            ..Default::default()
        },
        ..SimConfig::default()
    }
}

pub async fn start(cfg: SimConfig) -> SimHandle {
    loginwatch_sfsim::start(cfg).await.expect("sfsim starts")
}

pub fn client() -> reqwest::Client {
    reqwest::Client::builder().build().unwrap()
}

/// The simulator's current time in epoch seconds (JWT `exp` is checked against it).
pub fn now_secs(sim: &SimHandle) -> u64 {
    sim.now().timestamp().max(0) as u64
}

/// An RS256 assertion signed with `key_file` (in testdata).
pub fn assertion(key_file: &str, iss: &str, sub: &str, aud: &str, exp: u64) -> String {
    let pem = std::fs::read(testdata_dir().join(key_file)).unwrap();
    let key = jsonwebtoken::EncodingKey::from_rsa_pem(&pem).unwrap();
    let claims = serde_json::json!({"iss": iss, "sub": sub, "aud": aud, "exp": exp});
    jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::RS256),
        &claims,
        &key,
    )
    .unwrap()
}

pub async fn post_token(sim: &SimHandle, form: &[(&str, &str)]) -> reqwest::Response {
    client()
        .post(format!("{}/services/oauth2/token", sim.base_url()))
        .form(form)
        .send()
        .await
        .unwrap()
}

/// A JWT bearer access token for the org's api user.
pub async fn token(sim: &SimHandle) -> String {
    let user = sim.api_username(&sim.org_ids()[0]).unwrap();
    let a = assertion(
        "jwt_test_private.pem",
        TEST_CONSUMER_KEY,
        &user,
        "https://login.salesforce.com",
        now_secs(sim) + 120,
    );
    let r = post_token(
        sim,
        &[
            ("grant_type", "urn:ietf:params:oauth:grant-type:jwt-bearer"),
            ("assertion", &a),
        ],
    )
    .await;
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.unwrap();
    v["access_token"].as_str().unwrap().to_string()
}

pub async fn query(
    sim: &SimHandle,
    token: &str,
    soql: &str,
    batch: Option<usize>,
) -> reqwest::Response {
    let mut req = client()
        .get(format!("{}/services/data/v62.0/query", sim.base_url()))
        .query(&[("q", soql)])
        .bearer_auth(token);
    if let Some(b) = batch {
        req = req.header("Sforce-Query-Options", format!("batchSize={b}"));
    }
    req.send().await.unwrap()
}

pub async fn get(sim: &SimHandle, token: &str, path: &str) -> reqwest::Response {
    client()
        .get(format!("{}{}", sim.base_url(), path))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
}

pub async fn error_code(r: reqwest::Response) -> (u16, String, String) {
    let status = r.status().as_u16();
    let v: Value = r.json().await.unwrap();
    (
        status,
        v[0]["errorCode"].as_str().unwrap_or("").to_string(),
        v[0]["message"].as_str().unwrap_or("").to_string(),
    )
}

pub async fn admin_faults(sim: &SimHandle, spec: Value) {
    let r = client()
        .post(format!("{}/__admin/faults", sim.base_url()))
        .json(&spec)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "{:?}", r.text().await);
}

/// Reads every page of a query; returns the records.
pub async fn query_all(
    sim: &SimHandle,
    token: &str,
    soql: &str,
    batch: Option<usize>,
) -> (Vec<Value>, usize) {
    let r = query(sim, token, soql, batch).await;
    assert_eq!(r.status(), 200);
    let mut body: Value = r.json().await.unwrap();
    let mut records = Vec::new();
    let mut pages = 1;
    loop {
        records.extend(body["records"].as_array().unwrap().iter().cloned());
        if body["done"] == Value::Bool(true) {
            assert!(body.get("nextRecordsUrl").is_none());
            break;
        }
        let next = body["nextRecordsUrl"].as_str().unwrap().to_string();
        let r = get(sim, token, &next).await;
        assert_eq!(r.status(), 200);
        body = r.json().await.unwrap();
        pages += 1;
    }
    (records, pages)
}
