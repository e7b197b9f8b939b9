//! Throughput of decode → windows → all rules → detections, against the parse floor (serde_json
//! of the same bytes), and p50/p99 latency from a per-event rule's event arriving to its detection.
//!
//! `cargo bench -p loginwatch-analyzer --bench pipeline`

use std::time::{Duration, Instant};

use chrono::{TimeZone, Utc};
use criterion::{BenchmarkId, Criterion, Throughput};
use loginwatch_analyzer::rules::load_dir;
use loginwatch_analyzer::{Engine, EngineConfig};
use loginwatch_shared::{AuthMethod, LoginEvent, Outcome, Source};

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
        samples.sort();
        let pct = |p: f64| samples[((samples.len() as f64 - 1.0) * p) as usize];
        eprintln!(
            "per-event detection latency inside the analyzer (arrival → detection, {} samples): p50 {:?}, p99 {:?}",
            samples.len(),
            pct(0.50),
            pct(0.99)
        );
    });
}

fn main() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    latency_report(&rt);
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
