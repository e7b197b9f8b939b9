//! consume → detect → produce → offsets, against librdkafka's mock cluster.

mod common;

use std::time::Duration;

use common::*;
use loginwatch_analyzer::duration::Span;
use loginwatch_analyzer::service::{Analyzer, AnalyzerConfig};
use loginwatch_analyzer::{batch, EngineConfig};
use loginwatch_shared::kafka::DeadLetter;
use loginwatch_shared::ops::Readiness;
use rdkafka::mocking::MockCluster;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn consumes_detects_produces_and_commits_only_what_closed_windows_released() {
    let cluster = MockCluster::new(1).unwrap();
    cluster.create_topic(LOGINS, 2, 1).unwrap();
    cluster.create_topic(DETECTIONS, 1, 1).unwrap();
    cluster.create_topic(DEADLETTER, 1, 1).unwrap();
    let bootstrap = cluster.bootstrap_servers();

    let p0 = [
        oauth_password(login("e0", day(0, 10, 0, 0), "u1")),
        oauth_password(login("e1", day(0, 10, 5, 0), "u1")),
        login("e3", day(0, 18, 30, 0), "u9"),
    ];
    let soap = {
        let mut e = login("f0", day(0, 10, 2, 0), "u2");
        e.login_type = Some("Other Apex API".into());
        e.application = Some("N/A".into());
        e.auth_method = loginwatch_shared::AuthMethod::SoapPassword;
        e
    };
    let p1 = [soap, login("f1", day(0, 18, 31, 0), "u8")];
    let records = vec![
        (0, json(&p0[0])),
        (0, json(&p0[1])),
        (0, b"{\"event_id\": \"broken".to_vec()),
        (0, json(&p0[2])),
        (1, json(&p1[0])),
        (1, json(&p1[1])),
    ];
    produce(&bootstrap, &records);
    let all: Vec<_> = p0.iter().chain(p1.iter()).cloned().collect();
    let expected = detection_ids(
        &batch::run(
            loginwatch_analyzer::rules::load_dir(&rules_dir()).unwrap(),
            EngineConfig::default(),
            all,
        )
        .await
        .unwrap()
        .iter()
        .map(|d| serde_json::to_vec(d).unwrap())
        .collect::<Vec<_>>(),
    );
    // LW-001 alert + hourly summary, LW-002 alert.
    assert_eq!(expected.len(), 3, "{expected:?}");

    let mut cfg = AnalyzerConfig::default();
    cfg.kafka.bootstrap_servers = bootstrap.clone();
    cfg.kafka
        .properties
        .insert("session.timeout.ms".into(), "6000".into());
    cfg.create_topics = false;
    cfg.group_id = "analyzer-mock-test".into();
    cfg.rules_dir = rules_dir();
    cfg.trigger_interval = Span::millis(50);
    let analyzer = Analyzer::new(cfg, Readiness::new()).await.unwrap();
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(analyzer.run(async move {
        let _ = stop_rx.await;
    }));

    let b = bootstrap.clone();
    let exp = expected.clone();
    let got = tokio::task::spawn_blocking(move || {
        detection_ids(&read_topic(&b, DETECTIONS, Duration::from_secs(30), |r| {
            detection_ids(r).is_superset(&exp)
        }))
    })
    .await
    .unwrap();
    assert_eq!(
        got, expected,
        "the analyzer produced exactly the batch run's detections"
    );

    let b = bootstrap.clone();
    let dead = tokio::task::spawn_blocking(move || {
        read_topic(&b, DEADLETTER, Duration::from_secs(10), |r| !r.is_empty())
    })
    .await
    .unwrap();
    assert_eq!(dead.len(), 1);
    let dl: DeadLetter = serde_json::from_slice(&dead[0]).unwrap();
    assert!(
        dl.origin.contains("[0]@2") && dl.raw.contains("broken"),
        "{dl:?}"
    );

    // Watermark = 18:25 (p0 18:30, p1 18:31, 5 min lateness); the 6h15m session horizon keeps
    // everything after 12:09, so only the 10:0x logins (and the dead letter) are released.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    stop_tx.send(()).unwrap();
    task.await.unwrap().unwrap();
    let b = bootstrap.clone();
    let offsets = tokio::task::spawn_blocking(move || committed(&b, "analyzer-mock-test", 2))
        .await
        .unwrap();
    assert_eq!(
        offsets,
        vec![3, 1],
        "offsets stop at the first record an open window still needs"
    );
    drop(cluster);
}
