//! The analyzer process is killed with SIGKILL while windows are open (a brute-force burst half
//! way, an hourly OAuth summary pending, baselines learnt) and restarted: the set of detection
//! ids afterwards equals the uninterrupted run's (duplicates only with the same id), and a user
//! seen from an IP before the crash is not "new" after it.
//!
//! The broker is librdkafka's mock cluster served on loopback by this test process; the analyzer
//! runs as the real `loginwatch-analyzer` binary.

mod common;

use std::collections::BTreeSet;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::*;
use loginwatch_analyzer::{batch, EngineConfig};
use loginwatch_shared::LoginEvent;
use rdkafka::mocking::MockCluster;

const GROUP: &str = "analyzer-crash-test";

fn spawn_analyzer(config: &std::path::Path) -> Child {
    Command::new(env!("CARGO_BIN_EXE_loginwatch-analyzer"))
        .arg("--config")
        .arg(config)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start loginwatch-analyzer")
}

struct Killed(Child);
impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// (partition, event) in produce order.
type Partitioned = Vec<(i32, LoginEvent)>;

/// Before and after the crash: u1/uIP on partition 0, u5/filler on partition 1, as the org/user key would.
fn history() -> (Partitioned, Partitioned) {
    let mut before = Vec::new();
    for d in 0..4 {
        before.push((
            0,
            api_from(
                login(&format!("ip-a-{d}"), day(d, 9, 0, 0), "uIP"),
                "203.0.113.20",
            ),
        ));
        before.push((1, login(&format!("fill-{d}"), day(d, 9, 30, 0), "uF")));
    }
    before.push((0, oauth_password(login("pw-1", day(4, 8, 0, 0), "u1"))));
    before.push((0, oauth_password(login("pw-2", day(4, 8, 10, 0), "u1"))));
    for i in 0..6 {
        before.push((
            1,
            failed(login(&format!("bf-{i}"), day(4, 8, 0, 30 * i), "u5")),
        ));
    }
    before.push((
        0,
        api_from(login("ip-a-4", day(4, 9, 0, 0), "uIP"), "203.0.113.20"),
    ));

    let mut after = Vec::new();
    for i in 6..12 {
        after.push((
            1,
            failed(login(&format!("bf-{i}"), day(4, 8, 0, 30 * i), "u5")),
        ));
    }
    after.push((1, login("bf-success", day(4, 8, 7, 0), "u5")));
    after.push((0, oauth_password(login("pw-3", day(4, 8, 20, 0), "u1"))));
    after.push((0, oauth_password(login("pw-4", day(4, 8, 30, 0), "u1"))));
    after.push((
        0,
        api_from(login("ip-a-5", day(4, 10, 0, 0), "uIP"), "203.0.113.20"),
    ));
    after.push((
        0,
        api_from(login("ip-b", day(4, 11, 0, 0), "uIP"), "192.0.2.77"),
    ));
    after.push((0, login("end-0", day(4, 20, 0, 0), "uF0")));
    after.push((1, login("end-1", day(4, 20, 0, 0), "uF")));
    (before, after)
}

fn wait_until(what: &str, timeout: Duration, mut f: impl FnMut() -> bool) {
    let start = Instant::now();
    while !f() {
        assert!(start.elapsed() < timeout, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn sigkill_mid_window_then_restart_yields_the_uninterrupted_detection_ids() {
    let cluster = MockCluster::new(1).unwrap();
    cluster.create_topic(LOGINS, 2, 1).unwrap();
    cluster.create_topic(DETECTIONS, 1, 1).unwrap();
    cluster.create_topic(DEADLETTER, 1, 1).unwrap();
    let bootstrap = cluster.bootstrap_servers();

    let (before, after) = history();
    let all: Vec<LoginEvent> = before
        .iter()
        .chain(after.iter())
        .map(|(_, e)| e.clone())
        .collect();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let reference = rt.block_on(batch::run(
        loginwatch_analyzer::rules::load_dir(&rules_dir()).unwrap(),
        EngineConfig::default(),
        all,
    ));
    let reference = reference.unwrap();
    let expected: BTreeSet<String> = reference.iter().map(|d| d.event.id.clone()).collect();
    let cats: BTreeSet<&str> = reference.iter().map(|d| d.rule.category.as_str()).collect();
    for c in ["oauth_username_password", "brute_force", "new_source_ip"] {
        assert!(cats.contains(c), "the scenario must exercise {c}: {cats:?}");
    }

    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("analyzer.toml");
    std::fs::write(
        &config,
        format!(
            r#"group_id = "{GROUP}"
rules_dir = "{rules}"
ops_listen = "127.0.0.1:0"
trigger_interval = "50ms"
create_topics = false
[kafka]
bootstrap_servers = "{bootstrap}"
[kafka.properties]
"session.timeout.ms" = "6000"
"#,
            rules = rules_dir().display()
        ),
    )
    .unwrap();

    produce(
        &bootstrap,
        &before
            .iter()
            .map(|(p, e)| (*p, json(e)))
            .collect::<Vec<_>>(),
    );
    let first = Killed(spawn_analyzer(&config));
    // Mid-window: the per-event OAuth alert is out, offsets of the learnt days are committed,
    // the burst (6 of 12 failures) and the 08:00 hour are still open.
    let pw_alert = reference
        .iter()
        .find(|d| d.rule.id == "LW-001" && !d.message.contains("window"))
        .map(|d| d.event.id.clone())
        .unwrap();
    wait_until("the first per-event alert", Duration::from_secs(60), || {
        detection_ids(&read_topic(
            &bootstrap,
            DETECTIONS,
            Duration::from_millis(500),
            |r| detection_ids(r).contains(&pw_alert),
        ))
        .contains(&pw_alert)
    });
    wait_until("committed offsets", Duration::from_secs(30), || {
        committed(&bootstrap, GROUP, 2).iter().all(|o| *o > 0)
    });
    let mut first = first;
    first.0.kill().expect("SIGKILL"); // Child::kill sends SIGKILL on Unix
    first.0.wait().unwrap();
    let before_restart = detection_ids(&read_topic(
        &bootstrap,
        DETECTIONS,
        Duration::from_millis(500),
        |_| false,
    ));
    assert!(
        before_restart.len() < expected.len(),
        "the crash must happen before every detection was out"
    );

    produce(
        &bootstrap,
        &after.iter().map(|(p, e)| (*p, json(e))).collect::<Vec<_>>(),
    );
    let second = Killed(spawn_analyzer(&config));
    let describe = |ids: &BTreeSet<String>| -> Vec<String> {
        reference
            .iter()
            .filter(|d| ids.contains(&d.event.id))
            .map(|d| format!("{} {} {}", d.rule.id, d.event.start, d.message))
            .collect()
    };
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        let got = detection_ids(&read_topic(
            &bootstrap,
            DETECTIONS,
            Duration::from_secs(2),
            |r| detection_ids(r).is_superset(&expected),
        ));
        if got.is_superset(&expected) {
            break;
        }
        if Instant::now() >= deadline {
            let missing: BTreeSet<String> = expected.difference(&got).cloned().collect();
            let extra: Vec<String> =
                read_topic(&bootstrap, DETECTIONS, Duration::from_secs(1), |_| false)
                    .iter()
                    .filter_map(|r| serde_json::from_slice::<loginwatch_shared::Detection>(r).ok())
                    .filter(|d| !expected.contains(&d.event.id))
                    .map(|d| format!("{} {} {}", d.rule.id, d.event.start, d.message))
                    .collect();
            panic!(
                "after the restart these detections never appeared: {:#?}\nunexpected ones: {extra:#?}",
                describe(&missing)
            );
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    // Let any stray extra detection surface before comparing.
    std::thread::sleep(Duration::from_secs(1));
    let got = detection_ids(&read_topic(
        &bootstrap,
        DETECTIONS,
        Duration::from_secs(1),
        |_| false,
    ));
    assert_eq!(
        got, expected,
        "detection ids after SIGKILL + restart equal the uninterrupted run"
    );
    drop(second);
    drop(cluster);
}
