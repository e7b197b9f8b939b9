//! Throughput of decode → windows → all rules → detections, against the parse floor (serde_json
//! of the same bytes), and p50/p99 latency of per-event detections: inside the engine (arrival →
//! detection) and end to end through Kafka (login produced → detection consumed, the analyzer
//! service with its default 100 ms trigger interval on librdkafka's mock cluster).
//!
//! `cargo bench -p loginwatch-analyzer --bench pipeline`

use std::time::{Duration, Instant};

use chrono::{TimeZone, Utc};
use criterion::{BenchmarkId, Criterion, Throughput};
use loginwatch_analyzer::rules::load_dir;
use loginwatch_analyzer::{Engine, EngineConfig};
use loginwatch_shared::{AuthMethod, LoginEvent, Outcome, Source};

/// mimalloc: the rule engine allocates many small, short-lived objects per execution.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

const EVENTS: usize = 20_000;
const MICRO_BATCH: usize = 1000;

fn event(i: usize) -> LoginEvent {
    let t = Utc.with_ymd_and_hms(2026, 11, 2, 0, 0, 0).unwrap()
        + chrono::Duration::milliseconds(i as i64 * 250);
    let user = format!("0055g0000{:09}", i % 500);
    let password = i.is_multiple_of(10);
    LoginEvent {
        event_id: format!("ev-{i}"),
        org_id: "00D000000000001AAA".into(),
        source: Source::LoginEventStream,
        event_time: t,
        ingested_at: t,
        user_id: Some(user.clone()),
        username: Some(format!("{user}@example.com")),
        login_type: Some(
            if password {
                "Remote Access 2.0"
            } else {
                "Application"
            }
            .into(),
        ),
        login_sub_type: password.then(|| "OAuth Username-Password".into()),
        auth_method: if password {
            AuthMethod::OauthUsernamePassword
        } else {
            AuthMethod::UiPassword
        },
        status: Some(
            if i.is_multiple_of(37) {
                "Invalid Password"
            } else {
                "Success"
            }
            .into(),
        ),
        outcome: if i.is_multiple_of(37) {
            Outcome::Failure
        } else {
            Outcome::Success
        },
        failure_reason: (i.is_multiple_of(37)).then(|| "invalid_password".into()),
        application: Some(if password { "Legacy Sync" } else { "Browser" }.into()),
        source_ip: Some(format!("198.51.100.{}", i % 200)),
        country_iso: Some("US".into()),
        city: Some("Boston".into()),
        latitude: Some(42.36),
        longitude: Some(-71.06),
        api_type: None,
        api_version: Some("62.0".into()),
        client_version: None,
        browser: Some("Chrome 130".into()),
        platform: Some("Mac OSX".into()),
        login_url: Some("login.salesforce.com".into()),
        tls_protocol: Some("TLS 1.3".into()),
        cipher_suite: Some("TLS_AES_256_GCM_SHA384".into()),
        login_history_id: Some(format!("0Ya{i:015}")),
        login_key: Some(format!("key{i}")),
        user_type: Some("Standard".into()),
        session_level: Some("STANDARD".into()),
    }
}

fn payloads() -> Vec<Vec<u8>> {
    (0..EVENTS)
        .map(|i| serde_json::to_vec(&event(i)).unwrap())
        .collect()
}

async fn engine() -> Engine {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../rules");
    Engine::new(load_dir(&dir).unwrap(), EngineConfig::default())
        .await
        .unwrap()
}

async fn pipeline(mut e: Engine, payloads: &[Vec<u8>]) -> usize {
    let now = Instant::now();
    let mut detections = 0;
    for chunk in payloads.chunks(MICRO_BATCH) {
        for p in chunk {
            let ev: LoginEvent = serde_json::from_slice(p).unwrap();
            e.ingest(0, ev, now);
        }
        detections += e.trigger(now).await.unwrap().len();
    }
    detections + e.finish().await.unwrap().len()
}

fn latency_report(rt: &tokio::runtime::Runtime) {
    rt.block_on(async {
        let mut e = engine().await;
        let now = Instant::now();
        // Steady state: an hour of history already in the windows.
        for i in 0..EVENTS / 2 {
            e.ingest(0, event(i), now);
        }
        e.trigger(now).await.unwrap();
        let mut samples: Vec<Duration> = Vec::new();
        for k in 0..300 {
            let mut ev = event(EVENTS / 2 + k * 10); // every 10th is a password login
            ev.user_id = Some(format!("005lat{k:012}"));
            let arrived = Instant::now();
            e.ingest(0, ev, now);
            let d = e.trigger(now).await.unwrap();
            assert!(d.iter().any(|d| d.rule.id == "LW-001"), "the per-event rule must fire");
            samples.push(arrived.elapsed());
        }
        let n = samples.len();
        let (p50, p99) = percentiles(samples);
        eprintln!(
            "per-event detection latency inside the analyzer (arrival → detection, {n} samples): p50 {p50:?}, p99 {p99:?}"
        );
    });
}

fn percentiles(mut samples: Vec<Duration>) -> (Duration, Duration) {
    samples.sort();
    let pct = |p: f64| samples[((samples.len() as f64 - 1.0) * p) as usize];
    (pct(0.50), pct(0.99))
}

/// Login produced to `loginwatch.logins.v1` → its detection consumed from `loginwatch.detections.v1`.
fn kafka_latency_report() {
    use loginwatch_analyzer::service::{Analyzer, AnalyzerConfig};
    use loginwatch_shared::kafka::KafkaSettings;
    use loginwatch_shared::ops::Readiness;
    use loginwatch_shared::Detection;
    use rdkafka::consumer::{Consumer, StreamConsumer};
    use rdkafka::message::Message;
    use rdkafka::mocking::MockCluster;
    use rdkafka::producer::{FutureProducer, FutureRecord};

    const SAMPLES: usize = 200;
    // The mock cluster is !Send: it lives on this thread, the runtime's workers do the rest.
    let cluster = MockCluster::new(1).unwrap();
    let mut kafka = KafkaSettings {
        bootstrap_servers: cluster.bootstrap_servers(),
        ..Default::default()
    };
    kafka
        .properties
        .insert("session.timeout.ms".into(), "6000".into());
    // The mock broker answers an empty fetch only after `fetch.wait.max.ms` (and the client then
    // backs off), which would add up to ~1 s per hop; a real broker answers as soon as a record
    // arrives. Short waits make the figure the pipeline's, not the mock's pacing.
    for (k, v) in [("fetch.wait.max.ms", "5"), ("fetch.error.backoff.ms", "5")] {
        kafka.properties.insert(k.into(), v.into());
    }
    for t in [
        &kafka.logins_topic,
        &kafka.detections_topic,
        &kafka.deadletter_topic,
    ] {
        cluster.create_topic(t, 1, 1).unwrap();
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let samples = rt.block_on(async {
        let cfg = AnalyzerConfig {
            kafka: kafka.clone(),
            group_id: "latency-bench".into(),
            rules_dir: std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../rules"),
            create_topics: false,
            ..Default::default()
        };
        let analyzer = Analyzer::new(cfg, Readiness::new()).await.unwrap();
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(analyzer.run(async {
            let _ = stop_rx.await;
        }));
        let producer: FutureProducer = kafka.producer_config().create().unwrap();
        let consumer: StreamConsumer = kafka
            .consumer_config("latency-bench-reader")
            .create()
            .unwrap();
        consumer.subscribe(&[&kafka.detections_topic]).unwrap();
        let mut samples = Vec::with_capacity(SAMPLES);
        // Sample 0 warms up (group joins, metadata) and is not counted.
        for k in 0..=SAMPLES {
            let mut e = event(k * 10); // a password login
            let user = format!("005lat{k:012}");
            e.user_id = Some(user.clone());
            e.event_time = chrono::Utc::now();
            let payload = serde_json::to_vec(&e).unwrap();
            // De-phase from the trigger ticks so the samples cover the whole interval.
            tokio::time::sleep(Duration::from_millis((k as u64 * 37) % 100)).await;
            let sent = Instant::now();
            producer
                .send(
                    FutureRecord::to(&kafka.logins_topic)
                        .key(&e.kafka_key())
                        .payload(&payload),
                    Duration::from_secs(10),
                )
                .await
                .unwrap();
            loop {
                let m = tokio::time::timeout(Duration::from_secs(60), consumer.recv())
                    .await
                    .expect("a detection within 60 s")
                    .unwrap();
                let d: Detection = serde_json::from_slice(m.payload().unwrap()).unwrap();
                if d.user.and_then(|u| u.id).as_deref() == Some(user.as_str()) {
                    break;
                }
            }
            if k > 0 {
                samples.push(sent.elapsed());
            }
        }
        let _ = stop_tx.send(());
        task.await.unwrap().unwrap();
        samples
    });
    let (p50, p99) = percentiles(samples);
    eprintln!(
        "per-event detection latency end to end (login produced → detection consumed, Kafka mock cluster, trigger interval 100 ms, fetch wait 5 ms, {SAMPLES} samples): p50 {p50:?}, p99 {p99:?}"
    );
    drop(cluster);
}

fn main() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    latency_report(&rt);
    kafka_latency_report();
    let data = payloads();
    let bytes: usize = data.iter().map(Vec::len).sum();
    eprintln!("{EVENTS} events, {} bytes on average", bytes / EVENTS);
    let mut c = Criterion::default()
        .configure_from_args()
        .sample_size(10)
        .measurement_time(Duration::from_secs(20));
    let mut g = c.benchmark_group("analyzer");
    g.throughput(Throughput::Elements(EVENTS as u64));
    g.bench_function(BenchmarkId::new("parse_floor_serde_json", EVENTS), |b| {
        b.iter(|| {
            data.iter()
                .map(|p| {
                    serde_json::from_slice::<LoginEvent>(p)
                        .unwrap()
                        .event_time
                        .timestamp_millis()
                })
                .sum::<i64>()
        })
    });
    g.bench_function(
        BenchmarkId::new("decode_windows_all_rules_detections", EVENTS),
        |b| {
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    let e = rt.block_on(engine());
                    let start = Instant::now();
                    let n = rt.block_on(pipeline(e, &data));
                    total += start.elapsed();
                    assert!(n > 0);
                }
                total
            })
        },
    );
    g.finish();
    c.final_summary();
}
