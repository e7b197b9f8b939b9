//! End to end: sfsim → `loginwatch-ingester` process → real tansu broker on loopback. The broker is
//! stopped for 20 seconds and restarted while the ingester backfills; every generated login must
//! arrive in `loginwatch.logins.v1` exactly once (counted by `event_id`).

use std::collections::{BTreeMap, BTreeSet};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use loginwatch_tests::{build_binary, free_port, ChildGuard, TansuBroker};
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::Message;

const TOPIC: &str = "loginwatch.logins.v1";
/// The simulated history is fixed in time (two days ending on a Sunday 00:00 UTC), so its logins
/// are the same whatever day the test runs; it must lie before any date the suite runs at.
const HISTORY_END: &str = "2026-11-29T00:00:00Z";
/// The ingester's backfill starts a day before the history.
const INITIAL_START: &str = "2026-11-26T00:00:00Z";

/// Reads the topic from the beginning until `expected` distinct ids were seen or `timeout` passed.
fn read_all(
    bootstrap: &str,
    expected: &BTreeSet<String>,
    timeout: Duration,
) -> BTreeMap<String, usize> {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("group.id", format!("e2e-reader-{}", std::process::id()))
        .set("auto.offset.reset", "earliest")
        .set("enable.auto.commit", "false")
        .set("session.timeout.ms", "10000")
        .create()
        .expect("consumer");
    consumer.subscribe(&[TOPIC]).expect("subscribe");
    let deadline = Instant::now() + timeout;
    let mut counts: BTreeMap<String, usize> = BTreeMap::new();
    let mut complete_since: Option<Instant> = None;
    while Instant::now() < deadline {
        if let Some(Ok(m)) = consumer.poll(Duration::from_millis(200)) {
            let v: serde_json::Value =
                serde_json::from_slice(m.payload().unwrap_or_default()).expect("login JSON");
            *counts
                .entry(v["event_id"].as_str().unwrap_or_default().to_string())
                .or_default() += 1;
        }
        let have_all = expected.iter().all(|id| counts.contains_key(id));
        match (have_all, complete_since) {
            (true, None) => complete_since = Some(Instant::now()),
            // Keep reading a little after completion so late duplicates would be seen.
            (true, Some(t)) if t.elapsed() > Duration::from_secs(3) => break,
            (false, _) => complete_since = None,
            _ => {}
        }
    }
    counts
}

#[test]
fn every_login_arrives_exactly_once_across_a_20s_broker_outage() {
    let work = tempfile::tempdir().unwrap();
    let mut broker = TansuBroker::sqlite(work.path());
    let ingester_bin = build_binary("loginwatch-ingester", "loginwatch-ingester");

    let rt = tokio::runtime::Runtime::new().unwrap();
    let sim = rt
        .block_on(loginwatch_sfsim::start(loginwatch_sfsim::SimConfig {
            history_end: Some(HISTORY_END.parse().unwrap()),
            history_days: 2,
            learning_days: 1,
            incidents: false,
            record_api_logins: false,
            ..Default::default()
        }))
        .expect("sfsim starts");
    let org = sim.org_ids()[0].clone();
    let expected: BTreeSet<String> = sim
        .logins(&org)
        .iter()
        .map(|l| l.login_history_id.clone())
        .collect();
    assert!(
        expected.len() > 500,
        "sfsim generated {} logins",
        expected.len()
    );

    let config = work.path().join("ingester.toml");
    std::fs::write(
        &config,
        format!(
            r#"
state_dir = "{state}"
[ops]
listen = "127.0.0.1:{ops}"
[kafka]
bootstrap_servers = "{bootstrap}"
partitions = 3
[[orgs]]
org_id = "{org}"
login_url = "{base}"
auth = {{ type = "client_credentials", client_id = "{client_id}", client_secret = {{ env = "E2E_SF_CLIENT_SECRET" }} }}
[orgs.login_history]
poll_interval_secs = 1
overlap_secs = 300
max_window_secs = 3600
settle_secs = 0
initial_start = "{initial_start}"
batch_size = 200
"#,
            state = work.path().join("state").display(),
            ops = free_port(),
            bootstrap = broker.bootstrap_servers(),
            base = sim.base_url(),
            client_id = loginwatch_sfsim::config::TEST_CLIENT_ID,
            initial_start = INITIAL_START,
        ),
    )
    .unwrap();
    let mut ingester = ChildGuard::spawn(
        "loginwatch-ingester",
        Command::new(&ingester_bin)
            .args(["--config", config.to_str().unwrap()])
            .env(
                "E2E_SF_CLIENT_SECRET",
                loginwatch_sfsim::config::TEST_CLIENT_SECRET,
            )
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::inherit()),
    );

    // Let ingestion get going, then take the broker away for 20 s mid-backfill.
    std::thread::sleep(Duration::from_secs(3));
    assert!(ingester.is_running(), "ingester exited early");
    broker.stop();
    std::thread::sleep(Duration::from_secs(20));
    assert!(
        ingester.is_running(),
        "ingester must survive the broker outage"
    );
    broker.start();

    let counts = read_all(
        &broker.bootstrap_servers(),
        &expected,
        Duration::from_secs(240),
    );
    let status = ingester.terminate(Duration::from_secs(20));
    assert!(
        status.is_some_and(|s| s.success()),
        "clean shutdown on SIGTERM: {status:?}"
    );

    let missing: Vec<&String> = expected
        .iter()
        .filter(|id| !counts.contains_key(*id))
        .collect();
    let duplicated: Vec<(&String, &usize)> = counts.iter().filter(|(_, n)| **n > 1).collect();
    assert!(
        missing.is_empty(),
        "{} of {} logins missing, e.g. {:?}",
        missing.len(),
        expected.len(),
        missing.first()
    );
    assert!(
        duplicated.is_empty(),
        "{} logins duplicated, e.g. {:?}",
        duplicated.len(),
        duplicated.first()
    );
    assert_eq!(counts.len(), expected.len());
    rt.block_on(sim.shutdown());
}
