//! Detection quality through the real pipeline: sfsim (replay of a labelled 35-day history with
//! every incident kind) → `loginwatch-ingester` (LoginHistory polling from the first day) → tansu
//! → `loginwatch-analyzer` (the shipped `rules/`) → `loginwatch.detections.v1`, scored against
//! sfsim's labels with [`loginwatch_tests::quality::score`]. The table is printed (run with
//! `--nocapture`); it is the figure for the closing note of issue 5.
//!
//! Why this history:
//! - 35 days, incidents from day 32: the rules' learning periods (3 d; unusual_hour 7 d and at
//!   least 50 successes of the user, which an interactive sfsim user reaches after ~4.5 weeks).
//! - A fixed end (a Thursday) and seed: the incidents on humans land in their working hours on
//!   Monday/Tuesday, so every incident kind is inside the history, and the result is repeatable.
//! - The end of a finite replay: windows close only when the watermark (newest event − allowed
//!   lateness) passes them, and nothing arrives after the last replayed login. The history keeps
//!   ~45 h of clean background after the last incident (≫ the longest window, brute_force's 6 h
//!   session + 15 min gap). Labels that still could not have closed would be excluded and counted
//!   (the test prints the count, and requires it to be zero for this history).
//! - A small org (20 users, integrations at 1 login/hour) keeps the run short in debug builds.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use loginwatch_sfsim::config::{DEFAULT_ORG_ID, TEST_CLIENT_ID, TEST_CLIENT_SECRET};
use loginwatch_sfsim::Label;
use loginwatch_shared::detection::{Category, Detection};
use loginwatch_tests::observability::{http_get, wait_for};
use loginwatch_tests::quality::{score, QualityReport};
use loginwatch_tests::{build_binary, free_port, workspace_root, ChildGuard, TansuBroker};
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::Message;

const DETECTIONS_TOPIC: &str = "loginwatch.detections.v1";
const HISTORY_END: &str = "2026-11-05T00:00:00Z";
const HISTORY_DAYS: i64 = 35;
const LEARNING_DAYS: i64 = 32;
/// The longest window of the shipped rules: brute_force's session (max 6 h) plus its 15 min gap.
const LONGEST_WINDOW: chrono::Duration = chrono::Duration::minutes(6 * 60 + 15);
/// The engine's default allowed lateness (the watermark trails the newest event by this much).
const ALLOWED_LATENESS: chrono::Duration = chrono::Duration::minutes(5);
/// Upper bound for the whole pipeline to work through the history (not a speed assertion: a
/// stuck pipeline fails with the services' logs instead of hanging).
const PIPELINE_TIMEOUT: Duration = Duration::from_secs(420);

/// Precision floors. The password categories are exact: every OAuth Username-Password and SOAP
/// login sfsim writes belongs to a label (the ongoing integrations and the incidents). The
/// incident categories see no such pattern in sfsim's clean background, so all but one stray
/// detection must match: with the 1–4 detections each produces here (all matched when measured),
/// one stray gives 0.5 with 1 match (password_spray, impossible_travel, new_application,
/// unusual_hour, login_rate_spike), 0.66 with 2 (brute_force: the guessing burst and the failure
/// flood), 0.75 with 3 or 4 (new_source_ip, new_country). The former false-positive sources are
/// fixed in the rules and covered by their recorded cases: a user's first mobile-app login from
/// a known IP (new_source_ip now needs a user+application baseline or an IP new to the user),
/// round-the-clock integrations and people in a not-yet-used weekday slot (unusual_hour now uses
/// the hour of the day, for users whose logins are concentrated in a part of the day).
const PRECISION_FLOORS: [(Category, f64); 10] = [
    (Category::OauthUsernamePassword, 1.0),
    (Category::SoapPasswordLogin, 1.0),
    (Category::BruteForce, 0.66),
    (Category::PasswordSpray, 0.5),
    (Category::ImpossibleTravel, 0.5),
    (Category::NewCountry, 0.75),
    (Category::NewSourceIp, 0.75),
    (Category::NewApplication, 0.5),
    (Category::UnusualHour, 0.5),
    (Category::LoginRateSpike, 0.5),
];

/// Categories whose every labelled incident must be found: the password flows (every such login
/// is labelled) and brute_force (the guessing burst and the slow failure flood after a rotation).
const FULL_RECALL: [Category; 3] = [
    Category::OauthUsernamePassword,
    Category::SoapPasswordLogin,
    Category::BruteForce,
];

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).expect("write config");
    p
}

/// A service process with its stderr in `dir/<name>.log`; the test's `LOGINWATCH_*` variables
/// must not leak into the services' configuration.
fn service(dir: &Path, name: &str, bin: &Path, args: &[&str], envs: &[(&str, &str)]) -> ChildGuard {
    let log = std::fs::File::create(dir.join(format!("{name}.log"))).expect("log file");
    let mut cmd = Command::new(bin);
    cmd.args(args)
        .envs(envs.iter().copied())
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::from(log));
    for (k, _) in std::env::vars() {
        if k.starts_with("LOGINWATCH_") {
            cmd.env_remove(k);
        }
    }
    ChildGuard::spawn(name, &mut cmd)
}

fn log_tails(dir: &Path) -> String {
    ["sfsim", "ingester", "analyzer"]
        .iter()
        .map(|n| {
            let text = std::fs::read_to_string(dir.join(format!("{n}.log"))).unwrap_or_default();
            let lines: Vec<&str> = text.lines().collect();
            let tail = lines[lines.len().saturating_sub(15)..].join("\n");
            format!("--- {n}.log (last lines) ---\n{tail}")
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// The analyzer's event-time watermark, from `loginwatch_watermark_lag_seconds` (now − watermark).
fn analyzer_watermark(ops: &str) -> Option<DateTime<Utc>> {
    let (status, body) = http_get(ops, "/metrics").ok()?;
    if status != 200 {
        return None;
    }
    let lag: f64 = body
        .lines()
        .find_map(|l| l.strip_prefix("loginwatch_watermark_lag_seconds "))?
        .trim()
        .parse()
        .ok()?;
    Some(Utc::now() - chrono::Duration::milliseconds((lag * 1000.0) as i64))
}

#[test]
fn recall_and_precision_per_category_through_the_pipeline() {
    let work = tempfile::tempdir().unwrap();
    let d = work.path();
    let sfsim_bin = build_binary("loginwatch-sfsim", "loginwatch-sfsim");
    let ingester_bin = build_binary("loginwatch-ingester", "loginwatch-ingester");
    let analyzer_bin = build_binary("loginwatch-analyzer", "loginwatch-analyzer");
    // Timed from here: the pipeline, not the builds.
    let started = Instant::now();
    let broker = TansuBroker::memory();
    let bootstrap = broker.bootstrap_servers();

    let history_end: DateTime<Utc> = HISTORY_END.parse().unwrap();
    let history_start = history_end - chrono::Duration::days(HISTORY_DAYS);

    // sfsim: the labelled history, replayed as fast as the ingester reads it. Token-endpoint
    // logins of the ingester itself are not recorded: they are not part of the labelled history.
    let sfsim_port = free_port();
    let labels_path = d.join("labels.json");
    let sfsim_cfg = write(
        d,
        "sfsim.toml",
        &format!(
            r#"listen = "127.0.0.1:{sfsim_port}"
seed = 42
mode = "replay"
history_end = "{HISTORY_END}"
history_days = {HISTORY_DAYS}
learning_days = {LEARNING_DAYS}
incident_spacing_mins = 60
incidents = true
interactive_users = 20
integrations = 6
integration_logins_per_hour = 1.0
rate_spike_logins = 300
record_api_logins = false
labels_path = "{labels}"
[[orgs]]
org_id = "{DEFAULT_ORG_ID}"
my_domain = "acme"
"#,
            labels = labels_path.display()
        ),
    );
    let _sfsim = service(
        d,
        "sfsim",
        &sfsim_bin,
        &["serve", "--config", sfsim_cfg.to_str().unwrap()],
        &[],
    );
    let sfsim_addr = format!("127.0.0.1:{sfsim_port}");
    wait_for(Duration::from_secs(60), "sfsim to listen", || {
        http_get(&sfsim_addr, "/__admin/stats").is_ok()
    });
    let labels: Vec<Label> =
        serde_json::from_slice(&std::fs::read(&labels_path).expect("sfsim wrote the labels"))
            .expect("labels JSON");

    // Analyzer with the shipped rules. Watermark steps of 6 h instead of 1 h: baseline rules then
    // compare a step's logins with state at most 6 h old (the learning periods are days), and a
    // debug build gets through 35 days of history six times faster.
    let analyzer_ops = format!("127.0.0.1:{}", free_port());
    let analyzer_cfg = write(
        d,
        "analyzer.toml",
        &format!(
            r#"ops_listen = "{analyzer_ops}"
rules_dir = "{rules}"
group_id = "quality-test-analyzer"
[kafka]
bootstrap_servers = "{bootstrap}"
partitions = 3
[engine]
max_step = "6h"
"#,
            rules = workspace_root().join("rules").display()
        ),
    );
    let mut analyzer = service(
        d,
        "analyzer",
        &analyzer_bin,
        &["--config", analyzer_cfg.to_str().unwrap()],
        &[],
    );
    wait_for(Duration::from_secs(60), "analyzer /readyz", || {
        http_get(&analyzer_ops, "/readyz").is_ok_and(|(s, _)| s == 200)
    });

    // Ingester: LoginHistory from a day before the first simulated hour, in week-long windows.
    let initial_start = history_start - chrono::Duration::days(1);
    let ingester_cfg = write(
        d,
        "ingester.toml",
        &format!(
            r#"state_dir = "{state}"
[ops]
listen = "127.0.0.1:{ops}"
[kafka]
bootstrap_servers = "{bootstrap}"
partitions = 3
[[orgs]]
org_id = "{DEFAULT_ORG_ID}"
login_url = "http://{sfsim_addr}"
auth = {{ type = "client_credentials", client_id = "{TEST_CLIENT_ID}", client_secret = {{ env = "QUALITY_SF_CLIENT_SECRET" }} }}
[orgs.login_history]
poll_interval_secs = 1
overlap_secs = 300
max_window_secs = 604800
settle_secs = 0
initial_start = "{initial_start}"
batch_size = 2000
"#,
            state = d.join("ingester-state").display(),
            ops = free_port(),
            initial_start = initial_start.to_rfc3339(),
        ),
    );
    let mut ingester = service(
        d,
        "ingester",
        &ingester_bin,
        &["--config", ingester_cfg.to_str().unwrap()],
        &[("QUALITY_SF_CLIENT_SECRET", TEST_CLIENT_SECRET)],
    );

    // Read the detections while the pipeline works. Done when the analyzer's watermark passed
    // the newest login (minus its lateness; the newest login is within the history's last hour)
    // and no detection arrived for 5 s.
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", &bootstrap)
        .set("group.id", format!("quality-reader-{}", std::process::id()))
        .set("auto.offset.reset", "earliest")
        .set("enable.auto.commit", "false")
        .set("session.timeout.ms", "10000")
        .set("topic.metadata.refresh.interval.ms", "1000")
        .create()
        .expect("consumer");
    consumer.subscribe(&[DETECTIONS_TOPIC]).expect("subscribe");
    let closed_until = history_end - chrono::Duration::hours(1) - ALLOWED_LATENESS;
    let deadline = Instant::now() + PIPELINE_TIMEOUT;
    let mut detections: Vec<Detection> = Vec::new();
    let mut last_arrival = Instant::now();
    let mut last_check = Instant::now();
    let mut watermark = None;
    loop {
        assert!(
            Instant::now() < deadline,
            "the pipeline did not get through the history within {PIPELINE_TIMEOUT:?}: analyzer watermark {watermark:?} (needs {closed_until}), {} detections so far\n{}",
            detections.len(),
            log_tails(d)
        );
        assert!(ingester.is_running(), "ingester exited\n{}", log_tails(d));
        assert!(analyzer.is_running(), "analyzer exited\n{}", log_tails(d));
        match consumer.poll(Duration::from_millis(200)) {
            Some(Ok(m)) => {
                let d: Detection = serde_json::from_slice(m.payload().unwrap_or_default())
                    .expect("detection JSON in the ECS shape");
                detections.push(d);
                last_arrival = Instant::now();
            }
            Some(Err(e)) => eprintln!("detections consumer: {e}"),
            None => {}
        }
        if last_check.elapsed() >= Duration::from_secs(1) {
            last_check = Instant::now();
            watermark = analyzer_watermark(&analyzer_ops);
        }
        if watermark.is_some_and(|w| w >= closed_until)
            && last_arrival.elapsed() >= Duration::from_secs(5)
        {
            break;
        }
    }
    let pipeline_time = started.elapsed();
    assert!(
        ingester
            .terminate(Duration::from_secs(20))
            .is_some_and(|s| s.success()),
        "ingester: clean shutdown on SIGTERM"
    );
    assert!(
        analyzer
            .terminate(Duration::from_secs(20))
            .is_some_and(|s| s.success()),
        "analyzer: clean shutdown on SIGTERM"
    );

    // Labels whose first login is too close to the end for every window over it to have closed.
    let (scored, excluded): (Vec<Label>, Vec<Label>) = labels
        .into_iter()
        .partition(|l| l.start + LONGEST_WINDOW <= closed_until);
    let report = score(&detections, &scored);
    println!(
        "\nDetection quality, sfsim seed 42, {HISTORY_DAYS} days ending {HISTORY_END} ({LEARNING_DAYS} learning), \
         20 users + 6 integrations, through sfsim → ingester → tansu → analyzer ({} detections read, \
         {} labels scored, {} excluded as not closable, {:.0} s):\n{report}",
        detections.len(),
        scored.len(),
        excluded.len(),
        pipeline_time.as_secs_f64()
    );
    check(&report, &excluded);
}

fn check(report: &QualityReport, excluded: &[Label]) {
    assert!(
        excluded.is_empty(),
        "this history leaves ~45 h after the last incident; labels that cannot have closed: {:?}",
        excluded.iter().map(|l| &l.id).collect::<Vec<_>>()
    );
    // The history holds every incident kind: a primary label in every category.
    let unlabelled: Vec<Category> = Category::ALL
        .into_iter()
        .filter(|c| report.get(*c).labels == 0)
        .collect();
    assert!(
        unlabelled.is_empty(),
        "categories without a primary label in the history: {unlabelled:?}"
    );
    let mut failures = Vec::new();
    for c in Category::ALL {
        let s = report.get(c);
        if s.found == 0 {
            failures.push(format!(
                "{c}: no labelled incident found (missed {:?})",
                s.missed
            ));
        }
    }
    for c in FULL_RECALL {
        let s = report.get(c);
        if s.recall() != Some(1.0) {
            failures.push(format!(
                "{c}: recall must be 1.0, is {:?} (missed {:?})",
                s.recall(),
                s.missed
            ));
        }
    }
    let floors: BTreeMap<Category, f64> = PRECISION_FLOORS.into_iter().collect();
    for (c, floor) in &floors {
        let p = report.get(*c).precision().unwrap_or(0.0);
        if p < *floor {
            failures.push(format!(
                "{c}: precision {p:.2} below the floor {floor} (unmatched: {:?})",
                report.get(*c).false_positive_examples
            ));
        }
    }
    assert!(failures.is_empty(), "{}\n{report}", failures.join("\n"));
}
