//! The ingester against a controllable Salesforce stand-in and librdkafka's MockCluster:
//! paging, equal timestamps, late rows, restarts, token expiry, 5xx/slow responses, quota pause,
//! CometD reconnect/replay, dead letters, secret hygiene.

mod support;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use loginwatch_ingester::poller::{CycleOutcome, LoginHistoryPoller};
use loginwatch_ingester::state::{LoginHistoryCursor, StateStore, StreamCursor};
use loginwatch_ingester::stream::StreamSubscriber;
use loginwatch_ingester::{auth, budget, salesforce, sink, IngesterConfig};
use loginwatch_shared::kafka::{DEADLETTER_TOPIC, LOGINS_TOPIC};
use loginwatch_shared::metrics::metrics;
use loginwatch_shared::ops::Readiness;
use loginwatch_shared::time::Clock;
use rdkafka::mocking::MockCluster;
use rdkafka::producer::DefaultProducerContext;
use support::*;
use tokio_util::sync::CancellationToken;

const CC_SECRET: &str = "cc-secret-value-42";

/// The one clock of this test binary: it starts at a fixed instant (a Saturday 23:30 UTC, so a
/// 9-hour backfill crosses midnight into Sunday) and advances with real time. The rows of every
/// test are built from it and every ingester under test reads it, so nothing depends on the day
/// the suite runs.
fn clock() -> Clock {
    static CLOCK: std::sync::OnceLock<Clock> = std::sync::OnceLock::new();
    *CLOCK.get_or_init(|| Clock::starting_at("2026-03-07T23:30:00Z".parse().unwrap()))
}

fn mock_cluster() -> MockCluster<'static, DefaultProducerContext> {
    let c = MockCluster::new(1).expect("mock cluster");
    c.create_topic(LOGINS_TOPIC, 3, 1).unwrap();
    c.create_topic(DEADLETTER_TOPIC, 1, 1).unwrap();
    c
}

/// Config text for one org against the stub. `extra` is appended inside `[orgs.login_history]`.
fn config_text(
    org: &str,
    stub: &Stub,
    bootstrap: &str,
    state_dir: &std::path::Path,
    extra_lh: &str,
) -> String {
    format!(
        r#"
state_dir = "{state}"
[ops]
listen = "127.0.0.1:0"
[kafka]
bootstrap_servers = "{bootstrap}"
[producer]
shutdown_grace_secs = 5
ensure_topics_timeout_secs = 1
[[orgs]]
org_id = "{org}"
login_url = "{base}"
auth = {{ type = "client_credentials", client_id = "ck", client_secret = {{ value = "{CC_SECRET}" }} }}
request_timeout_secs = 1
[orgs.retry]
initial_backoff_ms = 10
max_backoff_ms = 100
max_attempts = 6
[orgs.budget]
pause_probe_secs = 1
[orgs.login_history]
poll_interval_secs = 1
overlap_secs = 300
max_window_secs = 3600
settle_secs = 0
initial_lookback_secs = 36000
batch_size = 200
enrich_geo = false
{extra_lh}
"#,
        state = state_dir.display(),
        base = stub.base_url(),
    )
}

fn parse_config(text: &str) -> IngesterConfig {
    IngesterConfig::from_toml(text).expect("test config is valid")
}

/// A poller wired exactly like `start()` does, for step-by-step driving.
fn poller(cfg: &IngesterConfig, cancel: &CancellationToken) -> LoginHistoryPoller {
    let org = &cfg.orgs[0];
    let creds = auth::Credentials::resolve(org, "orgs[0]").unwrap();
    let http = loginwatch_ingester::rest_client(Duration::from_secs(org.request_timeout_secs));
    let tokens = Arc::new(auth::TokenProvider::new(org, creds, http.clone()).with_clock(clock()));
    let budget = Arc::new(budget::ApiBudget::new(&org.org_id, org.budget.clone()));
    let client = salesforce::SalesforceClient::new(
        org,
        http,
        tokens,
        budget,
        cancel.clone(),
        "login_history",
    );
    let sink = sink::KafkaSink::new(&cfg.kafka, cfg.producer.max_in_flight).unwrap();
    let store = StateStore::new(&cfg.state_dir).unwrap();
    LoginHistoryPoller::new(
        client,
        sink,
        store,
        org.login_history.clone(),
        Readiness::new(),
    )
}

async fn poll_until_caught_up(
    p: &mut LoginHistoryPoller,
    cursor: &mut LoginHistoryCursor,
) -> usize {
    for cycles in 1..200 {
        if p.poll_once(cursor).await.expect("poll cycle") == CycleOutcome::CaughtUp {
            return cycles;
        }
    }
    panic!("never caught up");
}

fn logins(bootstrap: &str, expect: usize) -> BTreeMap<String, usize> {
    let msgs = tokio::task::block_in_place(|| {
        read_topic(bootstrap, LOGINS_TOPIC, expect, Duration::from_secs(20))
    });
    count_event_ids(&msgs)
}

fn assert_exactly_once(
    counts: &BTreeMap<String, usize>,
    expected: impl IntoIterator<Item = String>,
) {
    let expected: Vec<String> = expected.into_iter().collect();
    let dups: Vec<_> = counts.iter().filter(|(_, n)| **n > 1).collect();
    assert!(dups.is_empty(), "duplicates: {dups:?}");
    let missing: Vec<_> = expected
        .iter()
        .filter(|id| !counts.contains_key(*id))
        .collect();
    assert!(
        missing.is_empty(),
        "{} missing, e.g. {:?}",
        missing.len(),
        missing.first()
    );
    assert_eq!(counts.len(), expected.len(), "unexpected extra events");
}

fn minutes_ago(m: i64) -> DateTime<Utc> {
    loginwatch_shared::time::truncate_to_millis(clock().now() - chrono::Duration::minutes(m))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn multi_page_backfill_uses_bounded_windows_and_paging() {
    let cluster = mock_cluster();
    let stub = start_stub(1_000_000).await;
    // 3000 rows spread over the last 9 hours.
    let rows: Vec<_> = (0..3000)
        .map(|i| {
            row(
                &lh_id(i),
                &user(i),
                minutes_ago(540 - (i as i64 * 540 / 3000)),
            )
        })
        .collect();
    stub.with(|s| s.rows = rows);
    let dir = tempfile::tempdir().unwrap();
    let org = "00D000000000002AAA";
    let cfg = parse_config(&config_text(
        org,
        &stub,
        &cluster.bootstrap_servers(),
        dir.path(),
        "",
    ));
    let cancel = CancellationToken::new();
    let mut p = poller(&cfg, &cancel);
    let mut cursor = p.load_cursor().unwrap();
    let cycles = poll_until_caught_up(&mut p, &mut cursor).await;
    assert!(
        cycles >= 9,
        "a 10 h backlog with 1 h windows needs many cycles, got {cycles}"
    );

    let counts = logins(&cluster.bootstrap_servers(), 3000);
    assert_exactly_once(&counts, (0..3000).map(lh_id));
    stub.with(|s| {
        assert!(
            s.batch_sizes.iter().all(|b| *b == Some(200)),
            "batchSize header on every page"
        );
        let lh_queries: Vec<&String> = s
            .queries
            .iter()
            .filter(|q| q.contains("FROM LoginHistory"))
            .collect();
        assert!(lh_queries.len() >= 9);
        assert!(
            s.queries
                .iter()
                .any(|q| q.starts_with("SELECT Id, Username FROM User WHERE Id IN (")),
            "user names looked up"
        );
        for q in lh_queries {
            let from = q
                .split("LoginTime >= ")
                .nth(1)
                .unwrap()
                .split(' ')
                .next()
                .unwrap();
            let to = q
                .split("LoginTime < ")
                .nth(1)
                .unwrap()
                .split(' ')
                .next()
                .unwrap();
            let span = DateTime::parse_from_rfc3339(to).unwrap()
                - DateTime::parse_from_rfc3339(from).unwrap();
            assert!(
                span <= chrono::Duration::seconds(3600 + 300),
                "unbounded window {q}"
            );
            assert!(q.ends_with("ORDER BY LoginTime ASC"));
        }
        assert!(
            s.query_calls as usize > s.queries.len(),
            "nextRecordsUrl pages were followed"
        );
    });
    // The cursor on disk is the one in memory.
    let saved: LoginHistoryCursor = StateStore::new(dir.path())
        .unwrap()
        .load(org, "login_history")
        .unwrap()
        .unwrap();
    assert_eq!(saved, cursor);
    assert_eq!(
        metrics()
            .ingest_records
            .with_label_values(&[org, "login_history"])
            .get(),
        3000
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn equal_login_time_across_page_boundary_is_neither_skipped_nor_duplicated() {
    let cluster = mock_cluster();
    let stub = start_stub(1_000_000).await;
    let same = minutes_ago(30);
    // 450 rows share one LoginTime: they span pages of 200 and the cursor stops inside the group.
    let mut rows: Vec<_> = (0..450).map(|i| row(&lh_id(i), &user(i), same)).collect();
    rows.push(row(&lh_id(450), &user(1), minutes_ago(40)));
    rows.push(row(&lh_id(451), &user(2), minutes_ago(20)));
    stub.with(|s| s.rows = rows);
    let dir = tempfile::tempdir().unwrap();
    let cfg = parse_config(&config_text(
        "00D000000000003AAA",
        &stub,
        &cluster.bootstrap_servers(),
        dir.path(),
        "",
    ));
    let cancel = CancellationToken::new();
    let mut p = poller(&cfg, &cancel);
    let mut cursor = p.load_cursor().unwrap();
    poll_until_caught_up(&mut p, &mut cursor).await;
    // A second and third cycle re-read the overlap (which contains the whole group) and deliver nothing new.
    p.poll_once(&mut cursor).await.unwrap();
    p.poll_once(&mut cursor).await.unwrap();
    let counts = logins(&cluster.bootstrap_servers(), 452);
    assert_exactly_once(&counts, (0..452).map(lh_id));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn late_row_inside_overlap_is_delivered_once() {
    let cluster = mock_cluster();
    let stub = start_stub(1_000_000).await;
    stub.with(|s| {
        s.rows = (0..50)
            .map(|i| row(&lh_id(i), &user(i), minutes_ago(60 - i as i64)))
            .collect()
    });
    let dir = tempfile::tempdir().unwrap();
    let cfg = parse_config(&config_text(
        "00D000000000004AAA",
        &stub,
        &cluster.bootstrap_servers(),
        dir.path(),
        "",
    ));
    let cancel = CancellationToken::new();
    let mut p = poller(&cfg, &cancel);
    let mut cursor = p.load_cursor().unwrap();
    poll_until_caught_up(&mut p, &mut cursor).await;
    // Salesforce writes a row late: its LoginTime is 2 minutes before the cursor (overlap is 5 min).
    let late_time = loginwatch_shared::time::truncate_to_millis(
        cursor.watermark - chrono::Duration::minutes(2),
    );
    stub.with(|s| s.rows.push(row(&lh_id(50), &user(3), late_time)));
    p.poll_once(&mut cursor).await.unwrap();
    p.poll_once(&mut cursor).await.unwrap();
    let counts = logins(&cluster.bootstrap_servers(), 51);
    assert_exactly_once(&counts, (0..51).map(lh_id));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restart_mid_backfill_resumes_with_zero_loss_and_zero_duplicates() {
    let cluster = mock_cluster();
    let bootstrap = cluster.bootstrap_servers();
    let stub = start_stub(1_000_000).await;
    stub.with(|s| {
        s.rows = (0..3000)
            .map(|i| row(&lh_id(i), &user(i), minutes_ago(590 - (i as i64 / 6))))
            .collect();
        s.delay = Duration::from_millis(30);
    });
    let dir = tempfile::tempdir().unwrap();
    let org = "00D000000000005AAA";
    let cfg = parse_config(&config_text(org, &stub, &bootstrap, dir.path(), ""));

    let running = loginwatch_ingester::start_with_clock(cfg.clone(), clock())
        .await
        .unwrap();
    // Stop while the backfill is in the middle of it (some pages fetched, far from done).
    for _ in 0..500 {
        if stub.with(|s| s.query_calls) >= 4 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    running.shutdown().await;
    let saved: LoginHistoryCursor = StateStore::new(dir.path())
        .unwrap()
        .load(org, "login_history")
        .unwrap()
        .unwrap();
    let first_run = logins(&bootstrap, 1);
    assert!(
        !first_run.is_empty() && first_run.len() < 3000,
        "stopped mid-backfill: {}",
        first_run.len()
    );
    assert!(
        saved.watermark < minutes_ago(60),
        "cursor saved mid-backfill"
    );

    stub.with(|s| s.delay = Duration::ZERO);
    let running = loginwatch_ingester::start_with_clock(cfg, clock())
        .await
        .unwrap();
    for _ in 0..1000 {
        if metrics()
            .ingest_records
            .with_label_values(&[org, "login_history"])
            .get()
            >= 3000
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // The ops endpoint: ready once the org authenticated and delivered; metrics exported.
    let ops = format!("http://{}", running.ops_addr);
    let ready = reqwest::get(format!("{ops}/readyz")).await.unwrap();
    let ready_status = ready.status().as_u16();
    let ready_body = ready.text().await.unwrap();
    assert_eq!(ready_status, 200, "{ready_body}");
    assert!(
        ready_body.contains(&format!("org:{org}:login_history: ready")),
        "{ready_body}"
    );
    let exported = reqwest::get(format!("{ops}/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(exported.contains("loginwatch_ingest_records_total"));
    assert!(exported.contains("loginwatch_salesforce_api_daily_requests_remaining"));
    running.shutdown().await;
    let counts = logins(&bootstrap, 3000);
    assert_exactly_once(&counts, (0..3000).map(lh_id));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn token_expiry_mid_paging_renews_the_token_and_continues() {
    let cluster = mock_cluster();
    let stub = start_stub(1_000_000).await;
    stub.with(|s| {
        s.rows = (0..700)
            .map(|i| row(&lh_id(i), &user(i), minutes_ago(50)))
            .collect();
        // The session dies after two calls: in the middle of the 4-page result.
        s.expire_after_calls = Some(2);
    });
    let dir = tempfile::tempdir().unwrap();
    let cfg = parse_config(&config_text(
        "00D000000000006AAA",
        &stub,
        &cluster.bootstrap_servers(),
        dir.path(),
        "",
    ));
    let cancel = CancellationToken::new();
    let mut p = poller(&cfg, &cancel);
    let mut cursor = p.load_cursor().unwrap();
    poll_until_caught_up(&mut p, &mut cursor).await;
    let counts = logins(&cluster.bootstrap_servers(), 700);
    assert_exactly_once(&counts, (0..700).map(lh_id));
    assert_eq!(
        stub.with(|s| s.tokens_issued),
        2,
        "one renewal after INVALID_SESSION_ID"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_errors_request_limit_and_slow_responses_are_retried_with_backoff() {
    let cluster = mock_cluster();
    let stub = start_stub(1_000_000).await;
    stub.with(|s| {
        s.rows = (0..300)
            .map(|i| row(&lh_id(i), &user(i), minutes_ago(45)))
            .collect();
        s.fail_next.extend([
            (500, "UNKNOWN_EXCEPTION"),
            (503, "SERVER_UNAVAILABLE"),
            (403, "REQUEST_LIMIT_EXCEEDED"),
        ]);
    });
    let dir = tempfile::tempdir().unwrap();
    let org = "00D000000000007AAA";
    let cfg = parse_config(&config_text(
        org,
        &stub,
        &cluster.bootstrap_servers(),
        dir.path(),
        "",
    ));
    let cancel = CancellationToken::new();
    let mut p = poller(&cfg, &cancel);
    let mut cursor = p.load_cursor().unwrap();
    p.poll_once(&mut cursor)
        .await
        .expect("retries absorb 5xx and REQUEST_LIMIT_EXCEEDED");
    assert!(
        metrics()
            .ingest_retries
            .with_label_values(&[org, "login_history"])
            .get()
            >= 3
    );

    // Slow responses: longer than the 1 s request timeout, then normal again.
    stub.with(|s| {
        s.rows
            .extend((300..400).map(|i| row(&lh_id(i), &user(i), minutes_ago(44))));
        s.delay = Duration::from_millis(1500);
    });
    let restore = {
        let stub = stub.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(2500)).await;
            stub.with(|s| s.delay = Duration::ZERO);
        })
    };
    poll_until_caught_up(&mut p, &mut cursor).await;
    restore.await.unwrap();
    assert!(
        metrics()
            .salesforce_api_requests
            .with_label_values(&[org, "query", "error"])
            .get()
            >= 1,
        "timeouts were counted"
    );
    let counts = logins(&cluster.bootstrap_servers(), 400);
    assert_exactly_once(&counts, (0..400).map(lh_id));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quota_pause_and_resume() {
    let cluster = mock_cluster();
    let stub = start_stub(1000).await;
    stub.with(|s| {
        s.rows = (0..20)
            .map(|i| row(&lh_id(i), &user(i), minutes_ago(30)))
            .collect();
        s.api_used = 850; // 85 % of the daily allocation: above pause_at (80 %)
    });
    let dir = tempfile::tempdir().unwrap();
    let org = "00D000000000008AAA";
    let cfg = parse_config(&config_text(
        org,
        &stub,
        &cluster.bootstrap_servers(),
        dir.path(),
        "",
    ));
    let running = loginwatch_ingester::start_with_clock(cfg, clock())
        .await
        .unwrap();
    let paused = metrics().ingest_polling_paused.with_label_values(&[org]);
    let mut saw_pause = false;
    for _ in 0..300 {
        if paused.get() == 1 {
            saw_pause = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(saw_pause, "polling paused at 85 % usage");
    assert_eq!(
        metrics()
            .salesforce_api_daily_limit
            .with_label_values(&[org])
            .get(),
        1000
    );
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(
        metrics()
            .ingest_records
            .with_label_values(&[org, "login_history"])
            .get(),
        0,
        "nothing polled while paused (only usage probes)"
    );
    // The rolling 24 h window frees capacity: the next probe sees it and polling resumes.
    stub.with(|s| s.api_used = 100);
    let mut resumed = false;
    for _ in 0..500 {
        if paused.get() == 0
            && metrics()
                .ingest_records
                .with_label_values(&[org, "login_history"])
                .get()
                >= 20
        {
            resumed = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    running.shutdown().await;
    assert!(resumed, "polling resumed after usage dropped");
    assert!(
        metrics()
            .salesforce_api_daily_remaining
            .with_label_values(&[org])
            .get()
            > 800
    );
    let counts = logins(&cluster.bootstrap_servers(), 20);
    assert_exactly_once(&counts, (0..20).map(lh_id));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_record_lands_in_deadletter_while_neighbours_are_delivered() {
    let cluster = mock_cluster();
    let stub = start_stub(1_000_000).await;
    let mut rows: Vec<_> = (0..5)
        .map(|i| row(&lh_id(i), &user(i), minutes_ago(30 - i as i64)))
        .collect();
    // Its LoginTime is not a timestamp; the stub still serves it in position via `_stub_time`.
    rows[2]["_stub_time"] = rows[2]["LoginTime"].clone();
    rows[2]["LoginTime"] = serde_json::json!("yesterday-ish");
    let bad_raw_marker = lh_id(2);
    stub.with(|s| s.rows = rows);
    let dir = tempfile::tempdir().unwrap();
    let org = "00D000000000009AAA";
    let cfg = parse_config(&config_text(
        org,
        &stub,
        &cluster.bootstrap_servers(),
        dir.path(),
        "",
    ));
    let cancel = CancellationToken::new();
    let mut p = poller(&cfg, &cancel);
    let mut cursor = p.load_cursor().unwrap();
    poll_until_caught_up(&mut p, &mut cursor).await;
    p.poll_once(&mut cursor).await.unwrap(); // the overlap re-read must not dead-letter it twice
    let counts = logins(&cluster.bootstrap_servers(), 4);
    assert_exactly_once(&counts, [0, 1, 3, 4].map(lh_id));
    let dead = tokio::task::block_in_place(|| {
        read_topic(
            &cluster.bootstrap_servers(),
            DEADLETTER_TOPIC,
            1,
            Duration::from_secs(10),
        )
    });
    assert_eq!(dead.len(), 1, "{dead:?}");
    let d: loginwatch_shared::kafka::DeadLetter = serde_json::from_str(&dead[0].1).unwrap();
    assert!(
        d.raw.contains(&bad_raw_marker),
        "the whole record is kept: {}",
        d.raw
    );
    assert_eq!(d.org_id.as_deref(), Some(org));
    assert!(!d.error.is_empty());
    assert_eq!(
        metrics()
            .ingest_errors
            .with_label_values(&[org, "login_history", "parse"])
            .get(),
        1
    );
}

fn stream_config(org: &str, stub: &Stub, bootstrap: &str, dir: &std::path::Path) -> IngesterConfig {
    let text = config_text(org, stub, bootstrap, dir, "enabled = false").replace(
        "[orgs.login_history]",
        "[orgs.stream]\nenabled = true\n[orgs.login_history]",
    );
    parse_config(&text)
}

fn subscriber(cfg: &IngesterConfig, cancel: &CancellationToken) -> StreamSubscriber {
    let org = &cfg.orgs[0];
    let creds = auth::Credentials::resolve(org, "orgs[0]").unwrap();
    let http = loginwatch_ingester::rest_client(Duration::from_secs(5));
    let tokens = Arc::new(auth::TokenProvider::new(org, creds, http.clone()).with_clock(clock()));
    let budget = Arc::new(budget::ApiBudget::new(&org.org_id, org.budget.clone()));
    let client = salesforce::SalesforceClient::new(
        org,
        http.clone(),
        tokens,
        budget,
        cancel.clone(),
        "login_event_stream",
    );
    let sink = sink::KafkaSink::new(&cfg.kafka, 100).unwrap();
    StreamSubscriber::new(
        client,
        http,
        sink,
        StateStore::new(&cfg.state_dir).unwrap(),
        org.stream.clone(),
        Readiness::new(),
    )
}

fn event_uuid(n: i64) -> String {
    format!("8a1b3218-6405-451b-be62-{n:012}")
}

async fn run_stream_until(cfg: &IngesterConfig, stub: &Stub, replay_reached: i64) {
    let cancel = CancellationToken::new();
    let task = tokio::spawn(subscriber(cfg, &cancel).run());
    let store = StateStore::new(&cfg.state_dir).unwrap();
    for _ in 0..500 {
        let saved: Option<StreamCursor> = store
            .load(&cfg.orgs[0].org_id, "login_event_stream")
            .unwrap();
        if saved.is_some_and(|c| c.replay_id >= replay_reached) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    cancel.cancel();
    task.await.unwrap();
    let _ = stub;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cometd_disconnect_rehandshakes_and_resumes_from_the_saved_replay_id() {
    let cluster = mock_cluster();
    let stub = start_stub(1_000_000).await;
    stub.with(|s| {
        s.stream_events = (1..=10)
            .map(|r| stream_event(r * 10, &event_uuid(r), &user(r as usize), minutes_ago(5)))
            .collect();
        // After two connects the server forgets the client: `403::Unknown client`.
        s.forget_clients_after_connects = Some(2);
    });
    let dir = tempfile::tempdir().unwrap();
    let org = "00D00000000000AAAA";
    let cfg = stream_config(org, &stub, &cluster.bootstrap_servers(), dir.path());
    run_stream_until(&cfg, &stub, 100).await;
    let (handshakes, replays) = stub.with(|s| (s.handshakes, s.subscribe_replays.clone()));
    assert!(handshakes >= 2, "re-handshake after 403::Unknown client");
    assert_eq!(
        replays[0], -2,
        "first subscription replays everything retained"
    );
    assert!(
        replays[1] > 0 && replays[1] < 100,
        "resubscribed from the saved replay id: {replays:?}"
    );

    // Restart: new events since; only they arrive.
    stub.with(|s| {
        s.stream_events.extend(
            (11..=13).map(|r| stream_event(r * 10, &event_uuid(r), &user(1), minutes_ago(1))),
        )
    });
    run_stream_until(&cfg, &stub, 130).await;
    assert_eq!(stub.with(|s| *s.subscribe_replays.last().unwrap()), 100);
    let counts = logins(&cluster.bootstrap_servers(), 13);
    assert_exactly_once(&counts, (1..=13).map(event_uuid));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expired_replay_id_falls_back_to_all_retained_with_a_metric() {
    let cluster = mock_cluster();
    let stub = start_stub(1_000_000).await;
    stub.with(|s| {
        s.stream_events = (1..=6)
            .map(|r| stream_event(r, &event_uuid(r), &user(2), minutes_ago(3)))
            .collect();
        s.oldest_retained_replay = 4;
    });
    let dir = tempfile::tempdir().unwrap();
    let org = "00D00000000000BAAA";
    let cfg = stream_config(org, &stub, &cluster.bootstrap_servers(), dir.path());
    StateStore::new(dir.path())
        .unwrap()
        .save(org, "login_event_stream", &StreamCursor { replay_id: 2 })
        .unwrap();
    run_stream_until(&cfg, &stub, 6).await;
    assert_eq!(
        stub.with(|s| s.subscribe_replays[..2].to_vec()),
        vec![2, -2]
    );
    assert_eq!(
        metrics()
            .stream_replay_fallbacks
            .with_label_values(&[org])
            .get(),
        1
    );
    let counts = logins(&cluster.bootstrap_servers(), 3);
    assert_exactly_once(&counts, (4..=6).map(event_uuid));
}

/// A `tracing` writer capturing everything logged, to search it for secrets.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);
impl std::io::Write for Captured {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn secrets_never_reach_logs_errors_or_metrics() {
    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_writer(move || writer.clone())
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    let cluster = mock_cluster();
    let stub = start_stub(1_000_000).await;
    stub.with(|s| {
        s.rows = (0..30)
            .map(|i| row(&lh_id(i), &user(i), minutes_ago(20)))
            .collect();
        s.expire_after_calls = Some(0);
        s.fail_next.push_back((500, "UNKNOWN_EXCEPTION"));
    });
    let dir = tempfile::tempdir().unwrap();
    let org = "00D00000000000CAAA";
    let cfg = parse_config(&config_text(
        org,
        &stub,
        &cluster.bootstrap_servers(),
        dir.path(),
        "",
    ));
    let cancel = CancellationToken::new();
    let mut p = poller(&cfg, &cancel);
    let mut cursor = p.load_cursor().unwrap();
    poll_until_caught_up(&mut p, &mut cursor).await;

    // A wrong client secret: the error names the org and what to check, never the value.
    let wrong = "wrong-secret-value-77";
    let bad = parse_config(
        &config_text(org, &stub, &cluster.bootstrap_servers(), dir.path(), "")
            .replace(CC_SECRET, wrong),
    );
    let mut bp = poller(&bad, &cancel);
    let mut c2 = bp.load_cursor().unwrap();
    let err = bp.poll_once(&mut c2).await.unwrap_err();
    let err_text = format!("{err} {err:?}");
    assert!(err_text.contains("invalid_grant"), "{err_text}");

    // The JWT bearer private key: a config that points at it, resolved and debug-printed.
    let key_path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../sfsim/testdata/jwt_test_private.pem"
    );
    let pem = std::fs::read_to_string(key_path).unwrap_or_default();
    let jwt_cfg = cfg.orgs[0].clone();
    let creds_text = if pem.is_empty() {
        String::new()
    } else {
        let mut o = jwt_cfg.clone();
        o.auth = loginwatch_ingester::config::AuthConfig::JwtBearer(
            loginwatch_ingester::config::JwtBearerConfig {
                consumer_key: "ck".into(),
                username: "int@example.com".into(),
                private_key: loginwatch_shared::config::SecretRef::from_value(&pem),
                audience: None,
            },
        );
        format!(
            "{:?} {:?}",
            auth::Credentials::resolve(&o, "orgs[0]").unwrap(),
            o
        )
    };

    let issued: Vec<String> = stub.with(|s| {
        (1..=s.tokens_issued)
            .map(|n| format!("00Dtok!{n}-secret-access-token"))
            .collect()
    });
    assert!(!issued.is_empty());
    let logs = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    assert!(
        logs.contains("Salesforce call failed"),
        "logs were captured: {logs}"
    );
    let haystacks = [
        logs,
        err_text,
        metrics().render(),
        creds_text,
        format!("{cfg:?}"),
    ];
    let pem_line = pem
        .lines()
        .nth(1)
        .unwrap_or("unused-marker-never-present")
        .to_string();
    for h in &haystacks {
        for secret in issued
            .iter()
            .map(String::as_str)
            .chain([CC_SECRET, wrong, pem_line.as_str()])
        {
            assert!(!h.contains(secret), "secret {secret:?} leaked into: {h}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jwt_bearer_assertion_carries_the_documented_claims() {
    let key_path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../sfsim/testdata/jwt_test_private.pem"
    );
    let pub_path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../sfsim/testdata/jwt_test_public.pem"
    );
    let stub = start_stub(1_000_000).await;
    let text = format!(
        r#"
[[orgs]]
org_id = "00D00000000000DAAA"
login_url = "{base}"
auth = {{ type = "jwt_bearer", consumer_key = "3MVG9-consumer", username = "integration@acme.example.com", private_key = {{ file = "{key_path}" }} }}
"#,
        base = stub.base_url()
    );
    let cfg = parse_config(&text);
    let org = &cfg.orgs[0];
    let creds = auth::Credentials::resolve(org, "orgs[0]").unwrap();
    let tokens = auth::TokenProvider::new(
        org,
        creds,
        loginwatch_ingester::rest_client(Duration::from_secs(5)),
    )
    .with_clock(clock());
    let t1 = tokens.token().await.unwrap();
    let t2 = tokens.token().await.unwrap();
    assert_eq!(t1.generation, t2.generation, "token cached");
    assert_eq!(t1.instance_url, stub.base_url());
    tokens.invalidate(t1.generation).await;
    assert_ne!(
        tokens.token().await.unwrap().generation,
        t1.generation,
        "renewed after invalidation"
    );

    let form = stub.with(|s| s.token_requests[0].clone());
    assert_eq!(
        form["grant_type"],
        "urn:ietf:params:oauth:grant-type:jwt-bearer"
    );
    let public = std::fs::read(pub_path).unwrap();
    let mut v = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::RS256);
    v.set_audience(&[stub.base_url()]);
    // `exp` is the ingester clock's, checked below against that clock (not the wall clock).
    v.validate_exp = false;
    let claims = jsonwebtoken::decode::<serde_json::Value>(
        &form["assertion"],
        &jsonwebtoken::DecodingKey::from_rsa_pem(&public).unwrap(),
        &v,
    )
    .expect("assertion verifies with the app certificate's public key")
    .claims;
    assert_eq!(claims["iss"], "3MVG9-consumer");
    assert_eq!(claims["sub"], "integration@acme.example.com");
    let exp = claims["exp"].as_i64().unwrap() - clock().now().timestamp();
    assert!(
        (120..=200).contains(&exp),
        "exp about 3 minutes ahead: {exp}"
    );
}
