//! Helpers shared by the Kafka tests.
#![allow(dead_code)]

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use chrono::{DateTime, TimeZone, Utc};
use loginwatch_shared::{AuthMethod, Detection, LoginEvent, Outcome, Source};
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message;
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use rdkafka::{Offset, TopicPartitionList};

pub const LOGINS: &str = "loginwatch.logins.v1";
pub const DETECTIONS: &str = "loginwatch.detections.v1";
pub const DEADLETTER: &str = "loginwatch.deadletter.v1";

pub fn day(d: i64, h: u32, m: u32, s: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 2, 0, 0, 0).unwrap()
        + chrono::Duration::days(d)
        + chrono::Duration::hours(h.into())
        + chrono::Duration::minutes(m.into())
        + chrono::Duration::seconds(s.into())
}

pub fn login(id: &str, t: DateTime<Utc>, user: &str) -> LoginEvent {
    LoginEvent {
        event_id: id.into(),
        org_id: "00D000000000001AAA".into(),
        source: Source::LoginEventStream,
        event_time: t,
        ingested_at: t,
        user_id: Some(user.into()),
        username: Some(format!("{user}@example.com")),
        login_type: Some("Application".into()),
        login_sub_type: None,
        auth_method: AuthMethod::UiPassword,
        status: Some("Success".into()),
        outcome: Outcome::Success,
        failure_reason: None,
        application: Some("Browser".into()),
        source_ip: Some("198.51.100.1".into()),
        country_iso: Some("US".into()),
        city: None,
        latitude: None,
        longitude: None,
        api_type: None,
        api_version: None,
        client_version: None,
        browser: None,
        platform: None,
        login_url: None,
        tls_protocol: None,
        cipher_suite: None,
        login_history_id: None,
        login_key: None,
        user_type: None,
        session_level: None,
    }
}

pub fn oauth_password(mut e: LoginEvent) -> LoginEvent {
    e.login_type = Some("Remote Access 2.0".into());
    e.login_sub_type = Some("OAuth Username-Password".into());
    e.auth_method = AuthMethod::OauthUsernamePassword;
    e.application = Some("Legacy Sync".into());
    e.source_ip = Some("203.0.113.10".into());
    e
}

pub fn failed(mut e: LoginEvent) -> LoginEvent {
    e.outcome = Outcome::Failure;
    e.status = Some("Invalid Password".into());
    e.failure_reason = Some("invalid_password".into());
    e
}

pub fn api_from(mut e: LoginEvent, ip: &str) -> LoginEvent {
    e.login_type = Some("Remote Access 2.0".into());
    e.login_sub_type = Some("OAuth JWT Bearer".into());
    e.auth_method = AuthMethod::OauthJwtBearer;
    e.application = Some("Billing Sync".into());
    e.source_ip = Some(ip.into());
    e
}

pub fn produce(bootstrap: &str, records: &[(i32, Vec<u8>)]) {
    let p: BaseProducer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .create()
        .expect("producer");
    for (partition, payload) in records {
        p.send(
            BaseRecord::<(), _>::to(LOGINS)
                .partition(*partition)
                .payload(payload),
        )
        .expect("enqueue");
    }
    p.flush(Duration::from_secs(10)).expect("flush");
}

pub fn json(e: &LoginEvent) -> Vec<u8> {
    serde_json::to_vec(e).unwrap()
}

/// Reads every record of `topic` from the beginning until `done` holds or `timeout` passes.
pub fn read_topic(
    bootstrap: &str,
    topic: &str,
    timeout: Duration,
    done: impl Fn(&[Vec<u8>]) -> bool,
) -> Vec<Vec<u8>> {
    let c: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("group.id", format!("reader-{}", uuid_like()))
        .set("enable.auto.commit", "false")
        .create()
        .expect("reader");
    let md = c
        .fetch_metadata(Some(topic), Duration::from_secs(5))
        .expect("metadata");
    let parts = md.topics()[0].partitions().len() as i32;
    let mut tpl = TopicPartitionList::new();
    for p in 0..parts {
        tpl.add_partition_offset(topic, p, Offset::Beginning)
            .unwrap();
    }
    c.assign(&tpl).unwrap();
    let start = Instant::now();
    let mut out = Vec::new();
    while start.elapsed() < timeout {
        if let Some(Ok(m)) = c.poll(Duration::from_millis(100)) {
            out.push(m.payload().unwrap_or_default().to_vec());
        }
        if done(&out) {
            break;
        }
    }
    out
}

pub fn detection_ids(records: &[Vec<u8>]) -> BTreeSet<String> {
    records
        .iter()
        .filter_map(|r| serde_json::from_slice::<Detection>(r).ok())
        .map(|d| d.event.id)
        .collect()
}

pub fn committed(bootstrap: &str, group: &str, partitions: i32) -> Vec<i64> {
    let c: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("group.id", group)
        .create()
        .expect("offset reader");
    let mut tpl = TopicPartitionList::new();
    for p in 0..partitions {
        tpl.add_partition(LOGINS, p);
    }
    match c.committed_offsets(tpl, Duration::from_secs(5)) {
        Ok(t) => t
            .elements()
            .iter()
            .map(|e| match e.offset() {
                Offset::Offset(o) => o,
                _ => -1,
            })
            .collect(),
        Err(_) => vec![-1; partitions as usize],
    }
}

fn uuid_like() -> String {
    format!("{:?}{}", Instant::now(), std::process::id())
        .replace(|c: char| !c.is_ascii_alphanumeric(), "")
}

pub fn rules_dir() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../rules")
}
