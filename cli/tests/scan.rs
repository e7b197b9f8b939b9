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
use loginwatch_shared::parse::setup_csv::DateOrder;
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
    // sfsim writes Setup CSV dates month-first, and its day and a half in March (2nd-3rd) never
    // has a day above 12: the order must be given (other formats ignore the flag).
    let out = bin()
        .args(["scan", "--format", "json", "--date-order", "mdy"])
        .args(["--org-id", ORG, "--rules"])
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
        date_order: Some(DateOrder::Mdy),
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
        .args(["scan", "--format", "json", "--date-order", "mdy"])
        .args(["--org-id", ORG, "--report"])
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

/// `loginwatch scan` over `files` with the repository's rules: (exit code, stdout, stderr).
fn run_scan(args: &[&str], files: &[&Path]) -> (Option<i32>, String, String) {
    let out = bin()
        .arg("scan")
        .args(args)
        .arg("--rules")
        .arg(rules_dir())
        .args(files)
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    (
        out.status.code(),
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
    )
}

/// The lines of the text report about one file: its status line and the indented lines below it.
fn file_section(stdout: &str, path: &Path) -> Vec<String> {
    let head = format!("  {}  ", path.display());
    let mut lines = stdout.lines().skip_while(|l| !l.starts_with(&head));
    let mut out: Vec<String> = lines.next().into_iter().map(String::from).collect();
    out.extend(
        lines
            .take_while(|l| l.starts_with("      "))
            .map(String::from),
    );
    out
}

#[test]
fn a_crafted_user_name_cannot_forge_the_report_or_change_colours() {
    let dir = tempfile::tempdir().unwrap();
    // Mid-value, so that no trimming of surrounding white space is involved.
    let name = "\x1b[2J\rResult: clean (exit 0)\nmallory@acme.example";
    let app = "<b>Evil</b>\x1b]11;#ff0000\x07";
    let file = dir.path().join("crafted.csv");
    std::fs::write(
        &file,
        format!(
            "Username,Login Time (UTC),Source IP,Login Type,Status,Application,Browser\n\
             \"{name}\",2026-04-03 10:00:00,203.0.113.9,Other Apex API,Success,\"{app}\",Mozilla\u{202e}gnp.exe\n"
        ),
    )
    .unwrap();
    let escaped_name = r"\u{1b}[2J\rResult: clean (exit 0)\nmallory@acme.example";
    let escaped_app = r"<b>Evil</b>\u{1b}]11;#ff0000\u{7}";

    let (code, stdout, stderr) = run_scan(&["--org-id", ORG], &[&file]);
    assert_eq!(
        code,
        Some(1),
        "a SOAP password login is a finding\n{stdout}\n{stderr}"
    );
    for raw in ['\x1b', '\r', '\u{7}', '\u{202e}'] {
        assert!(
            !stdout.contains(raw),
            "raw {raw:?} in the report:\n{stdout}"
        );
        assert!(!stderr.contains(raw), "raw {raw:?} on stderr:\n{stderr}");
    }
    let verdicts: Vec<&str> = stdout
        .lines()
        .filter(|l| l.starts_with("Result:"))
        .collect();
    assert_eq!(verdicts, ["Result: 1 finding(s) (exit 1)"], "{stdout}");
    assert_eq!(stdout.lines().last(), Some("Result: 1 finding(s) (exit 1)"));
    // The name is shown, escaped, where the report quotes it in full.
    let advice = stdout
        .lines()
        .find(|l| l.starts_with("  - "))
        .expect("migration advice");
    assert_eq!(
        advice,
        format!(
            "  - {escaped_name} calls SOAP login() (SOAP API, application \"{escaped_app}\") with a \
             password. Obtain a session through OAuth instead (JWT bearer for server-to-server \
             jobs; SOAP clients accept an OAuth access token as session id), run it as a dedicated \
             integration user with minimal permissions, rotate the password and security token, \
             then disable SOAP API login() for the org."
        )
    );
    let example = stdout
        .lines()
        .find(|l| l.starts_with("    2026-04-03 10:00:00  high"))
        .expect("the detection example");
    assert!(
        example.contains(r"\u{1b}[2J\rResult: clean (e…") && example.contains(escaped_name),
        "{example}"
    );

    // JSON stays exact JSON: the value round-trips unchanged.
    let (code, stdout, _) = run_scan(&["--format", "json", "--org-id", ORG], &[&file]);
    assert_eq!(code, Some(1));
    let d: Detection = serde_json::from_str(stdout.lines().next().unwrap()).unwrap();
    assert_eq!(d.user.unwrap().name.as_deref(), Some(name));
    assert_eq!(d.salesforce.login.application.as_deref(), Some(app));

    // The HTML report stays HTML-escaped.
    let html = dir.path().join("r.html");
    let (code, _, _) = run_scan(
        &["--org-id", ORG, "--report", html.to_str().unwrap()],
        &[&file],
    );
    assert_eq!(code, Some(1));
    let page = std::fs::read_to_string(&html).unwrap();
    assert!(page.contains("&lt;b&gt;Evil&lt;/b&gt;") && !page.contains("<b>Evil"));
}

#[test]
fn setup_csv_dates_are_read_day_first_when_a_day_says_so_and_ambiguous_files_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let header = "Username,Login Time,Source IP,Login Type,Status\n";
    let day_first = dir.path().join("day-first.csv");
    std::fs::write(
        &day_first,
        format!(
            "{header}a@x.example,03/04/2026 10:00,198.51.100.1,Application,Success\n\
             b@x.example,13/04/2026 09:30,198.51.100.2,Application,Success\n"
        ),
    )
    .unwrap();
    let zone_note = "      note: the Login Time header names no time zone: times assumed to be \
                     UTC; pass --time-zone ZONE if the export was made in another zone";
    let limits = format!("      {}", loginwatch::report::SETUP_CSV_LIMITS);

    let (code, stdout, stderr) = run_scan(&[], &[&day_first]);
    assert_eq!(code, Some(0), "{stdout}\n{stderr}");
    assert!(
        stdout.contains("2 login events from 2026-04-03 10:00 to 2026-04-13 09:30 UTC"),
        "{stdout}"
    );
    assert_eq!(
        file_section(&stdout, &day_first),
        [
            format!("  {}  [setup-csv]  2 events  ok", day_first.display()),
            zone_note.to_string(),
            "      note: dates read as dd/mm/yyyy, inferred from line 3 (13/04/2026 09:30); \
             --date-order overrides"
                .to_string(),
            limits.clone(),
        ]
    );

    // Every date reads both ways: refused, naming the flag.
    let ambiguous = dir.path().join("ambiguous.csv");
    std::fs::write(
        &ambiguous,
        format!(
            "{header}a@x.example,03/04/2026 10:00,198.51.100.1,Application,Success\n\
             b@x.example,12/04/2026 09:30,198.51.100.2,Application,Success\n"
        ),
    )
    .unwrap();
    let (code, stdout, stderr) = run_scan(&[], &[&ambiguous]);
    assert_eq!(code, Some(2), "{stdout}");
    let problem = "login_history_csv line 2: field `Login Time` value \"03/04/2026 10:00\" is \
                   ambiguous, like all 2 dates of the file: neither number is above 12, so it could \
                   be day 3 of month 4 or month 3, day 4, and the file does not say which; pass \
                   `loginwatch scan --date-order dmy` (dd/mm/yyyy) or `--date-order mdy` (mm/dd/yyyy)";
    assert_eq!(
        stderr,
        format!("loginwatch scan: {}: {problem}\n", ambiguous.display())
    );
    assert_eq!(
        file_section(&stdout, &ambiguous),
        [
            format!(
                "  {}  [setup-csv]  0 events  ERROR: {problem}",
                ambiguous.display()
            ),
            zone_note.to_string(),
        ]
    );

    // The flag decides, both ways.
    for (order, from, to, pattern) in [
        ("dmy", "2026-04-03 10:00", "2026-04-12 09:30", "dd/mm/yyyy"),
        ("mdy", "2026-03-04 10:00", "2026-12-04 09:30", "mm/dd/yyyy"),
    ] {
        let (code, stdout, stderr) = run_scan(&["--date-order", order], &[&ambiguous]);
        assert_eq!(code, Some(0), "{stdout}\n{stderr}");
        assert!(
            stdout.contains(&format!("2 login events from {from} to {to} UTC")),
            "{stdout}"
        );
        assert_eq!(
            file_section(&stdout, &ambiguous),
            [
                format!("  {}  [setup-csv]  2 events  ok", ambiguous.display()),
                zone_note.to_string(),
                format!("      note: dates read as {pattern} (--date-order {order})"),
                limits.clone(),
            ]
        );
    }
}

#[test]
fn a_truncated_gzip_is_reported_as_truncated_with_the_rows_read() {
    use std::io::{Read, Write};
    let dir = tempfile::tempdir().unwrap();
    let csv = std::fs::read(export(dir.path(), ExportFormat::ElfCsv, "Login.csv")).unwrap();
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(&csv).unwrap();
    let gz = gz.finish().unwrap();
    let cut = &gz[..gz.len() * 3 / 5];
    let file = dir.path().join("Login.csv.gz");
    std::fs::write(&file, cut).unwrap();

    // What a reader gets out of the cut stream: the complete rows before it breaks off.
    let mut text = Vec::new();
    let mut dec = flate2::bufread::MultiGzDecoder::new(cut);
    let mut chunk = [0u8; 8192];
    let e = loop {
        match dec.read(&mut chunk) {
            Ok(0) => panic!("the cut stream must end with an error"),
            Ok(n) => text.extend_from_slice(&chunk[..n]),
            Err(e) => break e,
        }
    };
    assert_eq!(e.kind(), std::io::ErrorKind::UnexpectedEof);
    let rows = text.iter().filter(|b| **b == b'\n').count() - 1;
    let total = csv.iter().filter(|b| **b == b'\n').count() - 1;
    assert!(rows > 100 && rows < total, "{rows} of {total}");

    let (code, stdout, stderr) = run_scan(&["--org-id", ORG], &[&file]);
    assert_eq!(code, Some(2), "{stdout}");
    let problem = format!("truncated gzip: {rows} rows read before the stream ended");
    assert_eq!(
        stderr,
        format!("loginwatch scan: {}: {problem}\n", file.display())
    );
    assert_eq!(
        file_section(&stdout, &file),
        [format!(
            "  {}  [elf-csv]  {rows} events  ERROR: {problem}",
            file.display()
        )]
    );
    assert!(
        stdout.contains(&format!("; {rows} login events from ")),
        "{stdout}"
    );
}

#[test]
fn an_oversized_field_is_one_skipped_record_and_the_other_rows_still_parse() {
    let dir = tempfile::tempdir().unwrap();
    let big = "A".repeat(300_000);
    let csv = dir.path().join("big.csv");
    std::fs::write(
        &csv,
        format!(
            "Username,Login Time (UTC),Source IP,Login Type,Status,Browser\n\
             a@x.example,2026-04-03 10:00:00,198.51.100.1,Application,Success,Firefox\n\
             b@x.example,2026-04-03 10:00:01,198.51.100.1,Application,Success,{big}\n\
             c@x.example,2026-04-03 10:00:02,198.51.100.1,Application,Success,Chrome\n"
        ),
    )
    .unwrap();
    let json = dir.path().join("big.json");
    std::fs::write(
        &json,
        format!(
            "{{\"Id\":\"0YaHn0000EUyGdA\",\"LoginTime\":\"2026-04-03T10:00:00.000+0000\",\"Status\":\"Success\"}}\n\
             {{\"Id\":\"0YaHn0000EUyGdB\",\"LoginTime\":\"2026-04-03T10:00:01.000+0000\",\"Status\":\"Success\",\n \"Browser\":\"{big}\"}}\n\
             {{\"Id\":\"0YaHn0000EUyGdC\",\"LoginTime\":\"2026-04-03T10:00:02.000+0000\",\"Status\":\"Success\"}}\n"
        ),
    )
    .unwrap();
    let (code, stdout, stderr) = run_scan(&["--org-id", ORG], &[&csv, &json]);
    assert_eq!(code, Some(2), "{stdout}");
    let csv_error =
        "login_history_csv line 3: field `Browser` is 300000 bytes long, over the limit \
                     of 65536 bytes per field; the row is skipped";
    let json_error = "login_history line 3: field `Browser` is 300000 bytes long, over the limit \
                      of 65536 bytes per field; the record is skipped";
    assert_eq!(
        stderr,
        format!(
            "loginwatch scan: {}: 1 record(s) could not be parsed and were skipped (first: {csv_error})\n\
             loginwatch scan: {}: 1 record(s) could not be parsed and were skipped (first: {json_error})\n",
            csv.display(),
            json.display()
        )
    );
    assert_eq!(
        file_section(&stdout, &csv)[..2],
        [
            format!(
                "  {}  [setup-csv]  2 events  1 record(s) skipped",
                csv.display()
            ),
            format!("      {csv_error}"),
        ]
    );
    assert_eq!(
        file_section(&stdout, &json),
        [
            format!(
                "  {}  [login-history-json]  2 events  1 record(s) skipped",
                json.display()
            ),
            format!("      {json_error}"),
        ]
    );
    assert!(
        !stdout.contains("AAAAAAAAAA"),
        "the value is not copied into the report"
    );
}
