//! `loginwatch scan` as a user runs it: the built binary over sfsim-generated exports.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use chrono::{TimeZone, Utc};
use loginwatch::broker::EmbeddedBroker;
use loginwatch::format::InputFormat;
use loginwatch::scan::{parse_file, ParseOptions};
use loginwatch_sfsim::export::{export_file, ExportFormat, ExportOptions};
use loginwatch_sfsim::render::SetupZone;
use loginwatch_sfsim::{GenConfig, SubTypeSpelling};
use loginwatch_shared::kafka::KafkaSettings;
use loginwatch_shared::{Detection, LoginEvent};
use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::Message;

const ORG: &str = loginwatch_sfsim::config::DEFAULT_ORG_ID;
/// Org of the event that pushes the streaming analyzer's watermark past every window.
const SENTINEL_ORG: &str = "00D0000000SENTINEL";

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_loginwatch"))
}

fn rules_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../rules")
}

/// A day and a half of a small org: a baseline day, then an incident every half hour.
fn gen_config() -> GenConfig {
    let mut cfg = GenConfig::new(
        ORG,
        "acme",
        Utc.with_ymd_and_hms(2026, 3, 2, 0, 0, 0).unwrap(),
    );
    cfg.interactive_users = 20;
    cfg.learning_days = 1;
    cfg.incident_spacing_mins = 30;
    cfg.integration_logins_per_hour = 2.0;
    cfg.rate_spike_logins = 300;
    cfg
}

fn export(dir: &Path, format: ExportFormat, name: &str) -> PathBuf {
    let path = dir.join(name);
    let opts = ExportOptions {
        format,
        rows: None,
        until: Some(Utc.with_ymd_and_hms(2026, 3, 3, 12, 0, 0).unwrap()),
        api_version: "62.0".into(),
        spelling: SubTypeSpelling::Label,
        setup_zone: SetupZone::UTC,
    };
    export_file(7, &gen_config(), &opts, &path, None).expect("export");
    path
}

fn scan_ids(file: &Path) -> BTreeSet<String> {
    let out = bin()
        .args(["scan", "--format", "json", "--org-id", ORG, "--rules"])
        .arg(rules_dir())
        .arg(file)
        .output()
        .expect("run loginwatch");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        out.status.code(),
        Some(1),
        "findings expected for {}; stderr: {stderr}",
        file.display()
    );
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| {
            serde_json::from_str::<Detection>(l)
                .expect("ECS detection line")
                .event
                .id
        })
        .collect()
}

/// The same file through the streaming analyzer service: parsed events produced to a mock
/// cluster in event-time order (as the ingester delivers them), consumed by `Analyzer::run`.
fn streaming_ids(file: &Path) -> BTreeSet<String> {
    let mut events: Vec<LoginEvent> = Vec::new();
    let opts = ParseOptions {
        input_format: None,
        org_id: ORG.into(),
        time_zone: None,
    };
    let outcome = parse_file(file, &opts, &indicatif::ProgressBar::hidden(), &mut |e| {
        events.push(e)
    });
    assert!(!outcome.failed(), "{:?}", outcome.problem_line());
    events.sort_by(|a, b| (a.event_time, &a.event_id).cmp(&(b.event_time, &b.event_id)));
    // One success over the password flow a day after the end: its per-event detection tells us
    // the analyzer has read everything, and its watermark closes every real window.
    let mut sentinel = events.last().unwrap().clone();
    sentinel.org_id = SENTINEL_ORG.into();
    sentinel.event_id = "sentinel".into();
    sentinel.login_history_id = None;
    sentinel.event_time += chrono::Duration::days(1);
    sentinel.auth_method = loginwatch_shared::AuthMethod::OauthUsernamePassword;
    sentinel.outcome = loginwatch_shared::Outcome::Success;
    events.push(sentinel);

    let broker = EmbeddedBroker::start(&["logins", "detections", "deadletter"], 1).unwrap();
    let mut kafka = KafkaSettings {
        bootstrap_servers: broker.bootstrap_servers().into(),
        logins_topic: "logins".into(),
        detections_topic: "detections".into(),
        deadletter_topic: "deadletter".into(),
        partitions: 1,
        ..Default::default()
    };
    kafka
        .properties
        .insert("session.timeout.ms".into(), "6000".into());
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async move {
        let producer: FutureProducer = kafka.producer_config().create().unwrap();
        for e in &events {
            let payload = serde_json::to_string(e).unwrap();
            producer
                .send(
                    FutureRecord::to("logins")
                        .key(&e.kafka_key())
                        .payload(&payload),
                    Duration::from_secs(10),
                )
                .await
                .unwrap();
        }
        let cfg = loginwatch_analyzer::service::AnalyzerConfig {
            kafka: kafka.clone(),
            group_id: "scan-equality".into(),
            rules_dir: rules_dir(),
            ..Default::default()
        };
        let analyzer = loginwatch_analyzer::service::Analyzer::new(cfg, Default::default())
            .await
            .unwrap();
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(analyzer.run(async {
            let _ = stop_rx.await;
        }));
        let consumer: StreamConsumer = kafka
            .consumer_config("scan-equality-reader")
            .create()
            .unwrap();
        consumer.subscribe(&["detections"]).unwrap();
        let mut ids = BTreeSet::new();
        let mut seen_sentinel = false;
        let deadline = tokio::time::Instant::now() + Duration::from_secs(240);
        while !seen_sentinel {
            let m = tokio::time::timeout_at(deadline, consumer.recv())
                .await
                .expect("the streaming analyzer reached the sentinel in time")
                .unwrap();
            let d: Detection = serde_json::from_slice(m.payload().unwrap()).unwrap();
            if d.cloud.account.id == SENTINEL_ORG {
                seen_sentinel = true;
            } else {
                ids.insert(d.event.id);
            }
        }
        // Stop the analyzer (it evaluates once more and returns after every produce was acked),
        // then read the topic to its end.
        let _ = stop_tx.send(());
        task.await.unwrap().unwrap();
        let (_, high) = consumer
            .fetch_watermarks("detections", 0, Duration::from_secs(10))
            .unwrap();
        let mut position = consumer.position().unwrap().elements()[0]
            .offset()
            .to_raw()
            .unwrap_or(0);
        while position < high {
            let m = tokio::time::timeout(Duration::from_secs(30), consumer.recv())
                .await
                .unwrap()
                .unwrap();
            position = m.offset() + 1;
            let d: Detection = serde_json::from_slice(m.payload().unwrap()).unwrap();
            if d.cloud.account.id != SENTINEL_ORG {
                ids.insert(d.event.id);
            }
        }
        ids
    })
}

#[test]
fn scan_of_each_format_finds_the_streaming_analyzers_detection_ids() {
    let dir = tempfile::tempdir().unwrap();
    for (format, name, expect) in [
        (
            ExportFormat::LoginHistoryJson,
            "history.json",
            InputFormat::LoginHistoryJson,
        ),
        (
            ExportFormat::SetupCsv,
            "LoginHistory.csv",
            InputFormat::SetupCsv,
        ),
        (ExportFormat::ElfCsv, "Login.csv", InputFormat::ElfCsv),
    ] {
        let file = export(dir.path(), format, name);
        let head = std::fs::read(&file).unwrap();
        assert_eq!(
            loginwatch::format::detect_bytes(&head[..head.len().min(4096)]).unwrap(),
            expect
        );
        let scanned = scan_ids(&file);
        let streamed = streaming_ids(&file);
        assert!(
            scanned.len() >= 5,
            "{name}: a history with incidents yields detections ({})",
            scanned.len()
        );
        let only_scan: Vec<_> = scanned.difference(&streamed).collect();
        let only_stream: Vec<_> = streamed.difference(&scanned).collect();
        assert!(
            only_scan.is_empty() && only_stream.is_empty(),
            "{name}: {} ids only in scan {:?}…, {} only in the streaming analyzer {:?}…",
            only_scan.len(),
            only_scan.iter().take(3).collect::<Vec<_>>(),
            only_stream.len(),
            only_stream.iter().take(3).collect::<Vec<_>>()
        );
    }
}

#[test]
fn a_corrupted_file_is_named_exit_2_and_the_other_files_are_still_reported() {
    let dir = tempfile::tempdir().unwrap();
    let good = export(dir.path(), ExportFormat::ElfCsv, "good.csv");
    let truncated = dir.path().join("truncated.json");
    let full = std::fs::read(export(
        dir.path(),
        ExportFormat::LoginHistoryJson,
        "full.json",
    ))
    .unwrap();
    std::fs::write(&truncated, &full[..full.len() / 2]).unwrap();
    let unknown = dir.path().join("notes.txt");
    std::fs::write(&unknown, "name,age\nbob,3\n").unwrap();
    let missing_columns = dir.path().join("elf-without-timestamp.csv");
    std::fs::write(
        &missing_columns,
        "\"EVENT_TYPE\",\"REQUEST_ID\",\"LOGIN_KEY\"\n\"Login\",\"r1\",\"k1\"\n",
    )
    .unwrap();
    let absent = dir.path().join("absent.csv");

    let out = bin()
        .args(["scan", "--org-id", ORG, "--rules"])
        .arg(rules_dir())
        .args([&good, &truncated, &unknown, &missing_columns, &absent])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        out.status.code(),
        Some(2),
        "stdout:\n{stdout}\nstderr:\n{stderr}"
    );
    let problem = |path: &Path, what: &str| {
        let line = stderr
            .lines()
            .find(|l| l.contains(&*path.display().to_string()))
            .unwrap_or_else(|| panic!("no message names {}: {stderr}", path.display()));
        assert!(line.contains(what), "{line}");
    };
    problem(&truncated, "truncated JSON");
    problem(&unknown, "unknown format");
    problem(&missing_columns, "TIMESTAMP");
    problem(&absent, "cannot read");
    // The good file and the readable part of the truncated one are still audited.
    let good_line = stdout
        .lines()
        .find(|l| l.contains("good.csv"))
        .expect("good file listed");
    assert!(good_line.contains("ok"), "{good_line}");
    assert!(stdout.contains("Password-based authentication inventory"));
    assert!(stdout.contains("oauth_username_password"), "{stdout}");
    assert!(stdout.contains("errors: the audit is incomplete (exit 2)"));
}

#[test]
fn html_report_is_written_and_json_output_is_ecs_lines() {
    let dir = tempfile::tempdir().unwrap();
    let file = export(dir.path(), ExportFormat::SetupCsv, "LoginHistory.csv");
    let html = dir.path().join("report.html");
    let out = bin()
        .args(["scan", "--format", "json", "--org-id", ORG, "--report"])
        .arg(&html)
        .arg(&file)
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let lines: Vec<serde_json::Value> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert!(lines
        .iter()
        .all(|d| d["event"]["kind"] == "alert" && d["@timestamp"].is_string()));
    assert!(lines
        .iter()
        .any(|d| d["rule"]["category"] == "soap_password_login"));
    let page = std::fs::read_to_string(&html).unwrap();
    assert!(page.contains("<svg") && page.contains("soap_password"));
    assert!(
        !page.contains("<link") && !page.contains("<script") && !page.contains("src="),
        "self-contained"
    );
}
