//! The whole forwarder against librdkafka's mock cluster: a sink down for 30 seconds loses
//! nothing and duplicates nothing, other sinks keep flowing, offsets are committed only for what
//! every sink finished, and a restart resumes exactly there.

mod common;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::time::{Duration, Instant};

use common::*;
use loginwatch_forwarder::config::ForwarderConfig;
use loginwatch_forwarder::pipeline::{self, RunSummary};
use loginwatch_forwarder::samples;
use loginwatch_shared::kafka::DeadLetter;
use loginwatch_shared::metrics::metrics;
use loginwatch_shared::ops::Readiness;
use loginwatch_shared::Detection;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::mocking::MockCluster;
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::Message;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

const DETECTIONS: &str = "loginwatch.detections.v1";
const DEADLETTER: &str = "loginwatch.deadletter.v1";

fn forwarder_config(
    bootstrap: &str,
    group: &str,
    hec_url: &str,
    bulk_url: &str,
    drain_secs: u64,
) -> ForwarderConfig {
    let toml = format!(
        r#"
group_id = "{group}"
drain_timeout_secs = {drain_secs}
[kafka]
bootstrap_servers = "{bootstrap}"
properties = {{ "session.timeout.ms" = "6000", "heartbeat.interval.ms" = "500" }}

[[sinks]]
name = "splunk-{group}"
type = "splunk_hec"
url = "{hec_url}"
token = {{ value = "{HEC_TOKEN}" }}
acknowledgements = true
ack_poll_interval_ms = 20
batch = {{ max_events = 20, linger_ms = 50, queue_capacity = 1000 }}
retry = {{ initial_backoff_ms = 50, max_backoff_ms = 1000 }}
circuit_breaker = {{ failure_threshold = 3, open_secs = 2 }}

[[sinks]]
name = "es-{group}"
type = "elasticsearch"
url = "{bulk_url}"
batch = {{ max_events = 50, linger_ms = 50 }}
retry = {{ initial_backoff_ms = 50, max_backoff_ms = 1000 }}
"#
    );
    let c: ForwarderConfig = loginwatch_shared::config::load_str(&toml).unwrap();
    c.validate().unwrap();
    c
}

fn start(config: ForwarderConfig) -> (oneshot::Sender<()>, JoinHandle<RunSummary>) {
    let (tx, rx) = oneshot::channel::<()>();
    let handle = tokio::spawn(async move {
        pipeline::run(config, Readiness::new(), async {
            let _ = rx.await;
        })
        .await
        .expect("forwarder runs")
    });
    (tx, handle)
}

async fn stop(forwarder: (oneshot::Sender<()>, JoinHandle<RunSummary>)) -> RunSummary {
    let _ = forwarder.0.send(());
    tokio::time::timeout(Duration::from_secs(30), forwarder.1)
        .await
        .unwrap()
        .unwrap()
}

/// Produces each payload (key = detection id) and returns, per partition, the offset after the last one.
async fn produce(bootstrap: &str, payloads: &[(String, String)]) -> BTreeMap<i32, i64> {
    let producer: FutureProducer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("message.timeout.ms", "10000")
        .create()
        .unwrap();
    let mut ends = BTreeMap::new();
    for (key, payload) in payloads {
        let (partition, offset) = producer
            .send(
                FutureRecord::to(DETECTIONS).key(key).payload(payload),
                Duration::from_secs(10),
            )
            .await
            .map(|d| (d.partition, d.offset))
            .unwrap();
        let end = ends.entry(partition).or_insert(0);
        *end = (*end).max(offset + 1);
    }
    ends
}

async fn read_dead_letters(bootstrap: &str, want: usize) -> Vec<DeadLetter> {
    let consumer: StreamConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("group.id", "dl-reader")
        .set("auto.offset.reset", "earliest")
        .set("session.timeout.ms", "6000")
        .create()
        .unwrap();
    consumer.subscribe(&[DEADLETTER]).unwrap();
    let mut out = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(20);
    while out.len() < want && Instant::now() < deadline {
        if let Ok(Ok(m)) = tokio::time::timeout(Duration::from_secs(1), consumer.recv()).await {
            out.push(serde_json::from_slice(m.payload().unwrap()).unwrap());
        }
    }
    out
}

async fn wait_until(what: &str, limit: Duration, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for: {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn json(d: &Detection) -> (String, String) {
    (d.id().to_string(), serde_json::to_string(d).unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn splunk_down_for_30_seconds_loses_nothing_and_duplicates_nothing() {
    let cluster = MockCluster::new(1).unwrap();
    cluster.create_topic(DETECTIONS, 3, 1).unwrap();
    cluster.create_topic(DEADLETTER, 1, 1).unwrap();
    let bootstrap = cluster.bootstrap_servers();

    let (mut hec, hec_state) = hec_server(true).await;
    hec.stop().await; // Splunk is down from the start.
    let down_since = Instant::now();
    let (bulk, bulk_state) = bulk_server().await;

    let detections = samples::many(150);
    let poison = poisoned(samples::many(151)[150].clone());
    let mut payloads: Vec<(String, String)> = detections.iter().map(json).collect();
    // Redeliveries: the same detections again (as after a producer retry or analyzer replay).
    payloads.extend(detections[40..50].iter().map(json));
    payloads.push(("garbage".into(), "this is not a detection".into()));
    payloads.push(json(&poison));
    let ends = produce(&bootstrap, &payloads).await;

    let forwarder = start(forwarder_config(
        &bootstrap,
        "fw-outage",
        &hec.url(),
        &bulk.url(),
        30,
    ));

    // Elasticsearch is not held back by Splunk being down.
    wait_until(
        "Elasticsearch has every detection",
        Duration::from_secs(25),
        || bulk_state.docs.lock().unwrap().len() == 150,
    )
    .await;
    assert!(hec_state.detection_ids().is_empty());
    wait_until("Splunk circuit opens", Duration::from_secs(10), || {
        metrics()
            .forwarder_circuit_open
            .with_label_values(&["splunk-fw-outage"])
            .get()
            == 1
    })
    .await;

    // 30 seconds of outage, then Splunk comes back.
    let remaining = Duration::from_secs(30).saturating_sub(down_since.elapsed());
    tokio::time::sleep(remaining).await;
    assert!(
        hec_state.detection_ids().is_empty(),
        "nothing reached Splunk while it was down"
    );
    hec.restart().await;
    wait_until(
        "Splunk has every detection",
        Duration::from_secs(30),
        || hec_state.detection_ids().len() >= 150,
    )
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let summary = stop(forwarder).await;

    // Zero lost, none twice.
    let expected: HashSet<String> = detections.iter().map(|d| d.id().to_string()).collect();
    let splunk_ids = hec_state.detection_ids();
    assert_eq!(splunk_ids.len(), 150, "no detection sent to Splunk twice");
    assert_eq!(splunk_ids.into_iter().collect::<HashSet<_>>(), expected);
    assert_eq!(
        bulk_state
            .docs
            .lock()
            .unwrap()
            .keys()
            .cloned()
            .collect::<HashSet<_>>(),
        expected
    );
    assert!(bulk_state.writes.lock().unwrap().values().all(|n| *n == 1));
    assert_eq!(
        metrics()
            .forwarder_circuit_open
            .with_label_values(&["splunk-fw-outage"])
            .get(),
        0
    );

    assert_eq!(summary.consumed as usize, payloads.len());
    assert_eq!(summary.duplicates, 10);
    assert_eq!(summary.malformed, 1);
    assert_eq!(summary.undelivered_at_shutdown, 0);
    assert_eq!(
        summary.committed, ends,
        "every offset committed, after every sink finished"
    );

    // The malformed message and the poison detection (once per sink) are in the dead-letter topic.
    let letters = read_dead_letters(&bootstrap, 3).await;
    let origins: HashMap<String, &DeadLetter> =
        letters.iter().map(|l| (l.origin.clone(), l)).collect();
    assert_eq!(letters.len(), 3, "{letters:?}");
    assert!(
        origins
            .keys()
            .any(|o| o.starts_with("loginwatch.detections.v1[")),
        "{origins:?}"
    );
    assert!(origins["sink:splunk-fw-outage"].raw.contains(poison.id()));
    assert!(origins["sink:es-fw-outage"]
        .error
        .contains("mapper_parsing_exception"));

    // A restart in the same group resumes after the committed offsets: nothing is resent.
    let again = start(forwarder_config(
        &bootstrap,
        "fw-outage",
        &hec.url(),
        &bulk.url(),
        5,
    ));
    tokio::time::sleep(Duration::from_secs(8)).await;
    let summary = stop(again).await;
    assert_eq!(summary.consumed, 0, "{summary:?}");
    assert_eq!(hec_state.detection_ids().len(), 150);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_while_a_sink_is_down_commits_nothing_it_holds_and_a_restart_delivers_it() {
    let cluster = MockCluster::new(1).unwrap();
    cluster.create_topic(DETECTIONS, 2, 1).unwrap();
    cluster.create_topic(DEADLETTER, 1, 1).unwrap();
    let bootstrap = cluster.bootstrap_servers();
    let (mut hec, hec_state) = hec_server(true).await;
    hec.stop().await;
    let (bulk, bulk_state) = bulk_server().await;

    let detections = samples::many(20);
    let ends = produce(&bootstrap, &detections.iter().map(json).collect::<Vec<_>>()).await;

    let first = start(forwarder_config(
        &bootstrap,
        "fw-restart",
        &hec.url(),
        &bulk.url(),
        1,
    ));
    wait_until(
        "Elasticsearch has every detection",
        Duration::from_secs(25),
        || bulk_state.docs.lock().unwrap().len() == 20,
    )
    .await;
    let summary = stop(first).await;
    assert_eq!(summary.consumed, 20);
    assert_eq!(
        summary.undelivered_at_shutdown, 20,
        "Splunk still held all of them"
    );
    for (p, end) in &ends {
        assert!(
            summary.committed.get(p).is_none_or(|c| c < end),
            "partition {p} committed past undelivered work: {summary:?}"
        );
    }

    hec.restart().await;
    let second = start(forwarder_config(
        &bootstrap,
        "fw-restart",
        &hec.url(),
        &bulk.url(),
        10,
    ));
    wait_until(
        "Splunk has every detection",
        Duration::from_secs(30),
        || hec_state.detection_ids().len() >= 20,
    )
    .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let summary = stop(second).await;
    assert_eq!(
        summary.consumed, 20,
        "redelivered from the last committed offsets"
    );
    assert_eq!(summary.committed, ends);
    let expected: HashSet<String> = detections.iter().map(|d| d.id().to_string()).collect();
    assert_eq!(hec_state.detection_ids().len(), 20);
    assert_eq!(
        hec_state
            .detection_ids()
            .into_iter()
            .collect::<HashSet<_>>(),
        expected
    );
    // Elasticsearch saw the redelivery too, and `create` with `_id` kept one document per id.
    assert!(bulk_state.writes.lock().unwrap().values().all(|n| *n == 1));
    assert_eq!(bulk_state.docs.lock().unwrap().len(), 20);
}
