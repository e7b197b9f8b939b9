//! Event-time behaviour of the engine: lateness, late events, idle partitions, hopping windows,
//! and streaming = batch on the same history.

use std::collections::BTreeSet;
use std::path::Path;
use std::time::{Duration, Instant};

use chrono::{TimeZone, Utc};
use loginwatch_analyzer::rules::{load_dir, Rule};
use loginwatch_analyzer::{batch, Admission, Engine, EngineConfig};
use loginwatch_shared::metrics::metrics;
use loginwatch_shared::{AuthMethod, Detection, LoginEvent, Outcome, Source};

fn at(h: u32, m: u32, s: u32) -> chrono::DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 2, h, m, s).unwrap()
}

fn login(id: &str, t: chrono::DateTime<Utc>, user: &str) -> LoginEvent {
    LoginEvent {
        event_id: id.into(),
        org_id: "00D000000000001AAA".into(),
        source: Source::LoginEventStream,
        event_time: t,
        ingested_at: t,
        user_id: Some(user.into()),
        username: Some(format!("{user}@example.com")),
        login_type: Some("Remote Access 2.0".into()),
        login_sub_type: Some("OAuth Username-Password".into()),
        auth_method: AuthMethod::OauthUsernamePassword,
        status: Some("Success".into()),
        outcome: Outcome::Success,
        failure_reason: None,
        application: Some("Sync".into()),
        source_ip: Some("203.0.113.5".into()),
        country_iso: None,
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

fn rule(id: &str, window: &str, sql: &str) -> Rule {
    let text = format!(
        r#"
id = "{id}"
name = "{id}"
category = "login_rate_spike"
severity = "low"
description = "test rule"
mitre = {{ technique_id = "T1110" }}
window = {window}
sql = """{sql}"""
"#
    );
    Rule::from_toml(Path::new("test.toml"), &text).unwrap()
}

/// Logins per user per 5-minute tumbling window.
fn per_window_count() -> Rule {
    rule(
        "W-5M",
        r#"{ type = "tumbling", size = "5m" }"#,
        "SELECT concat(org_id, '/', user_id) AS key, date_bin({{window}}, event_time) AS window_start, org_id, user_id,
                count(*) AS count, array_agg(event_id ORDER BY event_id) AS evidence
         FROM logins GROUP BY org_id, user_id, date_bin({{window}}, event_time)",
    )
}

fn per_event() -> Rule {
    rule(
        "W-PE",
        r#"{ type = "per_event" }"#,
        "SELECT concat(event_id) AS key, event_time AS window_start, org_id, user_id FROM logins",
    )
}

fn cfg(idle: Duration) -> EngineConfig {
    EngineConfig {
        idle_timeout: loginwatch_analyzer::duration::Span::millis(idle.as_millis() as i64),
        ..EngineConfig::default()
    }
}

fn of_rule<'a>(d: &'a [Detection], id: &str) -> Vec<&'a Detection> {
    d.iter().filter(|d| d.rule.id == id).collect()
}

#[tokio::test]
async fn out_of_order_within_lateness_lands_in_its_window_and_late_events_are_counted() {
    let mut e = Engine::new(
        vec![per_window_count(), per_event()],
        cfg(Duration::from_secs(60)),
    )
    .await
    .unwrap();
    let now = Instant::now();
    let mut out = Vec::new();
    // Arrival order differs from event time; all within the 5-minute lateness.
    for (id, t) in [
        ("a", at(10, 1, 0)),
        ("c", at(10, 3, 0)),
        ("b", at(10, 2, 0)),
        ("d", at(10, 6, 0)),
        ("e", at(10, 4, 59)),
    ] {
        assert_eq!(
            e.ingest(0, login(id, t, "u1"), now),
            Admission::OnTime,
            "{id}"
        );
        out.extend(e.trigger(now).await.unwrap());
    }
    assert!(
        of_rule(&out, "W-5M").is_empty(),
        "window [10:00,10:05) must stay open until the watermark passes 10:05"
    );
    // 10:12 moves the watermark to 10:07: the first window closes with the out-of-order rows.
    e.ingest(0, login("f", at(10, 12, 0), "u1"), now);
    out.extend(e.trigger(now).await.unwrap());
    let closed = of_rule(&out, "W-5M");
    assert_eq!(closed.len(), 1, "{closed:?}");
    assert_eq!(closed[0].event.start, at(10, 0, 0));
    assert_eq!(closed[0].loginwatch.count, 4);
    assert_eq!(closed[0].loginwatch.evidence, vec!["a", "b", "c", "e"]);

    // Beyond the lateness: counted late, not added to the closed window, still seen per event.
    let late_before = metrics()
        .late_events
        .with_label_values(&[] as &[&str])
        .get();
    assert_eq!(
        e.ingest(0, login("late", at(10, 3, 30), "u1"), now),
        Admission::Late
    );
    assert!(
        metrics()
            .late_events
            .with_label_values(&[] as &[&str])
            .get()
            > late_before
    );
    let after = e.trigger(now).await.unwrap();
    assert!(
        of_rule(&after, "W-5M").is_empty(),
        "a closed window is never re-emitted"
    );
    assert_eq!(
        of_rule(&after, "W-PE").len(),
        1,
        "late events still reach per-event rules"
    );
    assert_eq!(of_rule(&after, "W-PE")[0].loginwatch.count, 1);

    // A duplicate (same login identity) is dropped.
    assert_eq!(
        e.ingest(0, login("late", at(10, 3, 30), "u1"), now),
        Admission::Duplicate
    );
}

#[tokio::test]
async fn an_idle_partition_does_not_hold_windows_open() {
    let t0 = Instant::now();
    for (idle, expect_closed) in [
        (Duration::from_millis(500), true),
        (Duration::from_secs(600), false),
    ] {
        let mut e = Engine::new(vec![per_window_count()], cfg(idle))
            .await
            .unwrap();
        e.ingest(0, login("p0", at(10, 1, 0), "u1"), t0);
        let mut out = e.trigger(t0).await.unwrap();
        let later = t0 + Duration::from_secs(2);
        e.ingest(1, login("p1", at(10, 30, 0), "u2"), later);
        out.extend(e.trigger(later).await.unwrap());
        let closed = of_rule(&out, "W-5M");
        if expect_closed {
            assert_eq!(
                closed.len(),
                1,
                "partition 0 is idle: the watermark follows partition 1"
            );
            assert_eq!(closed[0].event.start, at(10, 0, 0));
        } else {
            assert!(
                closed.is_empty(),
                "an active partition 0 at 10:01 holds the watermark"
            );
        }
    }
}

#[tokio::test]
async fn hopping_windows_emit_every_window_a_row_falls_in() {
    let hop = rule(
        "W-HOP",
        r#"{ type = "hopping", size = "10m", slide = "5m" }"#,
        "SELECT concat(org_id, '/', user_id) AS key, ws AS window_start, org_id, user_id, count(*) AS count
         FROM (SELECT org_id, user_id,
                 date_bin({{slide}}, event_time) - CASE WHEN o.n = 0 THEN INTERVAL '0 minutes' ELSE {{slide}} END AS ws
               FROM logins CROSS JOIN (VALUES (0), (1)) AS o(n)) x
         GROUP BY ws, org_id, user_id",
    );
    let events = vec![
        login("h1", at(10, 7, 0), "u1"),
        login("h2", at(10, 12, 0), "u1"),
    ];
    let out = batch::run(vec![hop], EngineConfig::default(), events)
        .await
        .unwrap();
    let mut windows: Vec<(String, u64)> = out
        .iter()
        .map(|d| {
            (
                d.event.start.format("%H:%M").to_string(),
                d.loginwatch.count,
            )
        })
        .collect();
    windows.sort();
    assert_eq!(
        windows,
        vec![
            ("10:00".into(), 1),
            ("10:05".into(), 2),
            ("10:10".into(), 1)
        ],
        "each row counts in both 10-minute windows that contain it"
    );
}

/// The recorded rule inputs, streamed over three partitions with triggers every few events,
/// produce the same detection ids as the batch run.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn streaming_and_batch_produce_the_same_detection_ids() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../rules");
    let rules = load_dir(&dir).unwrap();
    let mut events: Vec<LoginEvent> = Vec::new();
    for case in [
        "brute_force/failures_then_success",
        "new_country/new_country_after_learning",
        "impossible_travel/paris_then_new_york",
        "oauth_username_password/success_repeats_and_blocked",
        "password_spray/sixteen_users_from_one_ip",
        "new_source_ip/api_login_from_new_ip",
    ] {
        events.extend(batch::read_events(&dir.join(format!("tests/{case}.input.jsonl"))).unwrap());
    }
    let expected: BTreeSet<String> =
        batch::run(rules.clone(), EngineConfig::default(), events.clone())
            .await
            .unwrap()
            .into_iter()
            .map(|d| d.event.id)
            .collect();
    assert!(expected.len() >= 8, "{expected:?}");

    events.sort_by_key(|e| (e.event_time, e.event_id.clone()));
    let mut engine = Engine::new(rules, EngineConfig::default()).await.unwrap();
    let now = Instant::now();
    let mut got = BTreeSet::new();
    for (i, chunk) in events.chunks(7).enumerate() {
        // Swap neighbours inside a chunk: out of order, but well within the lateness.
        let mut chunk = chunk.to_vec();
        if i % 2 == 0 {
            chunk.reverse();
        }
        for ev in chunk {
            let p = (ev.user_id.as_deref().unwrap_or("").len() + ev.event_id.len()) as i32 % 3;
            engine.ingest(p, ev, now);
        }
        got.extend(
            engine
                .trigger(now)
                .await
                .unwrap()
                .into_iter()
                .map(|d| d.event.id),
        );
    }
    got.extend(
        engine
            .finish()
            .await
            .unwrap()
            .into_iter()
            .map(|d| d.event.id),
    );
    assert_eq!(got, expected);
}
