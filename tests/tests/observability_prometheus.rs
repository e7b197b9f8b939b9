//! The dashboards and alert rules against real data: a tansu broker, sfsim and the loginwatch
//! services as processes (`loginwatch sfsim|ingest|analyze|forward`), scraped every second by a
//! real Prometheus (Debian package `prometheus`) loaded with `deploy/prometheus/prometheus.yml`'s
//! jobs and `deploy/prometheus/alerts.yml`. Once the scenario has produced detections and
//! deliveries, EVERY PromQL expression of `dashboards/*.json` and of the alert rules is evaluated
//! through Prometheus's HTTP API: each must parse, and each must return data unless it only reads
//! metrics that this scenario legitimately never creates (listed below with the reason).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use loginwatch_tests::observability::*;
use serde_json::Value;

/// Metrics whose series only exist after an event this healthy scenario does not produce
/// (label children of a counter appear on first increment). A query that reads only such
/// metrics may return nothing; a query reading any other metric must return data.
const MAY_BE_ABSENT: &[(&str, &str)] = &[
    ("loginwatch_ingest_retries_total", "counts retried Salesforce data calls; the two 503s sfsim injects hit the token endpoint, whose back-off is the auth layer's"),
    ("loginwatch_stream_replay_fallbacks_total", "only when a stored replay id is older than the 72 h window; the stream starts fresh here"),
    ("loginwatch_ingest_errors_total", "only on parse/api/auth/produce errors; sfsim's records parse and its 5xx are retried successfully"),
    ("loginwatch_deadletter_records_total", "only for malformed records; sfsim produces none here"),
    ("loginwatch_forwarder_deadletters_total", "only when a sink rejects an item permanently; the broken sink here fails whole requests, which are retried forever"),
    ("loginwatch_late_events_total", "only for events older than the watermark; sfsim delivers LoginHistory in time order"),
    ("loginwatch_analyzer_duplicate_events_total", "only when a login arrives twice; one source per org here"),
    ("loginwatch_ingest_polling_paused", "set by the ingester only once quota protection engages; sfsim's allocation is ample"),
    ("loginwatch_detection_latency_seconds_bucket", "observed per category only when the analyzer measures arrival-to-detection; detections replayed during warm-up are not timed"),
    ("loginwatch_state_entries", "only reported by analyzers that keep baseline tables with rows"),
];

/// Alert expressions that must stay quiet in this scenario (nothing it does is that failure).
const QUIET_ALERTS: &[&str] = &[
    "LoginwatchTargetDown",
    "LoginwatchIngestStalled",
    "LoginwatchSalesforceAuthFailing",
    "LoginwatchSalesforceQuotaNearlySpent",
    "LoginwatchPollingPausedForQuota",
    "LoginwatchProducerQueueBacklog",
    "LoginwatchDeadLettersAppearing",
    // Not LoginwatchWatermarkStuck: sfsim replays two days of history as fast as it is read, so
    // the watermark trails the wall clock by the replay's age while events arrive; that is the
    // condition (without its `for: 10m`), correctly.
];

const ORG_ID: &str = "00D5j00000DgAYGEA3";
/// The simulated history is fixed in time (two days ending on a Sunday 00:00 UTC), so the data
/// are the same whatever day the test runs; it must lie before any date the suite runs at.
const HISTORY_END: &str = "2026-11-29T00:00:00Z";
/// The ingester's backfill starts a day before the history.
const INITIAL_START: &str = "2026-11-26T00:00:00Z";

#[test]
fn every_dashboard_and_alert_query_returns_data_from_the_live_pipeline() {
    let loginwatch = loginwatch_binary();
    let subcommands = loginwatch_subcommands(&loginwatch);
    for needed in ["sfsim", "ingest", "analyze", "forward"] {
        assert!(
            subcommands.iter().any(|c| c == needed),
            "`loginwatch {needed}` is missing (have {subcommands:?})"
        );
    }
    let tansu = tansu_binary();
    let prometheus = which("prometheus").unwrap_or_else(|| {
        panic!("`prometheus` not found on PATH: install the Debian package `prometheus` (apt-get install prometheus), as .ci/run does")
    });
    let dir = tempfile::tempdir().expect("temp dir");
    let d = dir.path();

    // Broker.
    let kafka_port = free_port();
    let kafka = format!("127.0.0.1:{kafka_port}");
    let _broker = ChildGuard::spawn(
        "tansu",
        std::process::Command::new(&tansu).args([
            "broker",
            "--listener-url",
            &format!("tcp://{kafka}"),
            "--advertised-listener-url",
            &format!("tcp://{kafka}"),
            "--storage-engine",
            "memory://tansu/",
        ]),
        d,
    );
    wait_for(Duration::from_secs(30), "tansu to listen", || {
        std::net::TcpStream::connect(&kafka).is_ok()
    });

    // Simulated org: two days of history replayed as fast as the ingester reads, incidents in the
    // last day (password grant, SOAP, spray, brute force …), two 503s to make the ingester retry.
    let sfsim_port = free_port();
    let sfsim_url = format!("http://127.0.0.1:{sfsim_port}");
    let sfsim_cfg = write(
        d,
        "sfsim.toml",
        &format!(
            r#"listen = "127.0.0.1:{sfsim_port}"
history_end = "{HISTORY_END}"
history_days = 2
learning_days = 1
incident_spacing_mins = 90
rate_spike_logins = 300
jwt_apps = []
[[orgs]]
org_id = "{ORG_ID}"
my_domain = "acme"
[[client_credentials]]
client_id = "obs-test-client"
client_secret = "obs-test-secret"
[faults]
http_5xx_count = 2
"#
        ),
    );
    let _sfsim = ChildGuard::spawn(
        "sfsim",
        &mut loginwatch_cmd(&loginwatch, "sfsim", &sfsim_cfg),
        d,
    );
    wait_for(Duration::from_secs(30), "sfsim to listen", || {
        http_get(&format!("127.0.0.1:{sfsim_port}"), "/__admin/stats").is_ok()
    });

    let mut ops: BTreeMap<&str, u16> = BTreeMap::new();
    let mut guards = Vec::new();

    // Ingester.
    let port = free_port();
    ops.insert("ingester", port);
    let cfg = write(
        d,
        "ingester.toml",
        &format!(
            r#"state_dir = "{state}"
[ops]
listen = "127.0.0.1:{port}"
[kafka]
bootstrap_servers = "{kafka}"
partitions = 3
[[orgs]]
org_id = "{ORG_ID}"
login_url = "{sfsim_url}"
auth = {{ type = "client_credentials", client_id = "obs-test-client", client_secret = {{ value = "obs-test-secret" }} }}
[orgs.login_history]
poll_interval_secs = 1
initial_start = "{INITIAL_START}"
[orgs.retry]
initial_backoff_ms = 50
max_backoff_ms = 200
"#,
            state = d.join("ingester-state").display()
        ),
    );
    guards.push((
        "ingester",
        ChildGuard::spawn(
            "ingester",
            &mut loginwatch_cmd(&loginwatch, "ingest", &cfg),
            d,
        ),
    ));

    // Analyzer with the shipped rules.
    let port = free_port();
    ops.insert("analyzer", port);
    let cfg = write(
        d,
        "analyzer.toml",
        &format!(
            r#"ops_listen = "127.0.0.1:{port}"
rules_dir = "{rules}"
group_id = "obs-test-analyzer"
[kafka]
bootstrap_servers = "{kafka}"
partitions = 3
"#,
            rules = repo_root().join("rules").display()
        ),
    );
    guards.push((
        "analyzer",
        ChildGuard::spawn(
            "analyzer",
            &mut loginwatch_cmd(&loginwatch, "analyze", &cfg),
            d,
        ),
    ));

    // The forwarder subscribes to the detections topic, which the analyzer creates: start it once
    // the analyzer is ready (librdkafka otherwise only notices the topic at its next metadata refresh).
    let analyzer_addr = format!("127.0.0.1:{}", ops["analyzer"]);
    wait_for(Duration::from_secs(60), "analyzer /readyz", || {
        http_get(&analyzer_addr, "/readyz").is_ok_and(|(status, _)| status == 200)
    });

    // Forwarder: the terminal sink delivers; a webhook to a closed port fails, so retries and the
    // circuit breaker have data too.
    let port = free_port();
    ops.insert("forwarder", port);
    let closed_port = free_port();
    let cfg = write(
        d,
        "forwarder.toml",
        &format!(
            r#"ops_listen = "127.0.0.1:{port}"
group_id = "obs-test-forwarder"
drain_timeout_secs = 1
[kafka]
bootstrap_servers = "{kafka}"
partitions = 3
[[sinks]]
name = "stdout"
type = "stdout"
[[sinks]]
name = "broken-webhook"
type = "webhook"
url = "http://127.0.0.1:{closed_port}/hook"
request_timeout_secs = 1
retry = {{ initial_backoff_ms = 50, max_backoff_ms = 200 }}
circuit_breaker = {{ failure_threshold = 2, open_secs = 1 }}
"#
        ),
    );
    guards.push((
        "forwarder",
        ChildGuard::spawn(
            "forwarder",
            &mut loginwatch_cmd(&loginwatch, "forward", &cfg),
            d,
        ),
    ));

    for (service, guard) in &mut guards {
        let port = ops[*service];
        let addr = format!("127.0.0.1:{port}");
        wait_for(
            Duration::from_secs(60),
            &format!("{service} /healthz"),
            || {
                if let Some(status) = guard.exited() {
                    panic!("{service} exited ({status}) before serving /healthz");
                }
                http_get(&addr, "/healthz").is_ok_and(|(status, _)| status == 200)
            },
        );
    }

    // Prometheus: the repository's scrape jobs pointed at the processes, scraping every second,
    // with the repository's alert rules.
    let prom_port = free_port();
    let prom_addr = format!("127.0.0.1:{prom_port}");
    let prom_cfg = write(d, "prometheus.yml", &prometheus_config(&ops));
    let _prom = ChildGuard::spawn(
        "prometheus",
        std::process::Command::new(&prometheus).args([
            &format!("--config.file={}", prom_cfg.display()),
            &format!("--storage.tsdb.path={}", d.join("tsdb").display()),
            &format!("--web.listen-address={prom_addr}"),
            "--storage.tsdb.retention.time=1h",
        ]),
        d,
    );
    wait_for(Duration::from_secs(30), "Prometheus to be ready", || {
        http_get(&prom_addr, "/-/ready").is_ok_and(|(s, _)| s == 200)
    });

    // Wait until data has flowed end to end: logins ingested, password logins analysed,
    // detections produced and delivered, and Prometheus has scraped it (a few scrapes, so rate() works).
    let ready_checks = [
        "sum(loginwatch_ingest_records_total) > 0",
        "sum(loginwatch_password_logins_total) > 0",
        "sum(loginwatch_detections_total) > 0",
        r#"sum(loginwatch_forwarder_deliveries_total{sink="stdout"}) > 0"#,
        r#"sum(loginwatch_forwarder_retries_total{sink="broken-webhook"}) > 0"#,
        "count_over_time(up[1m]) > 5",
    ];
    let deadline = Instant::now() + Duration::from_secs(150);
    for check in ready_checks {
        loop {
            let r = query(&prom_addr, check);
            if r.as_ref().is_ok_and(|v| !v.is_empty()) {
                break;
            }
            if Instant::now() > deadline {
                let exported: Vec<String> = ops
                    .iter()
                    .map(|(svc, port)| {
                        let body = http_get(&format!("127.0.0.1:{port}"), "/metrics")
                            .map(|(_, b)| b)
                            .unwrap_or_default();
                        let lines: Vec<&str> = body
                            .lines()
                            .filter(|l| l.starts_with("loginwatch_"))
                            .collect();
                        format!("--- {svc} /metrics ---\n{}", lines.join("\n"))
                    })
                    .collect();
                panic!("the scenario did not produce `{check}` within 150 s (last answer {r:?}); the services export:\n{}", exported.join("\n"));
            }
            std::thread::sleep(Duration::from_millis(500));
        }
    }
    // Let every rate window see at least two samples after the data arrived.
    std::thread::sleep(Duration::from_secs(5));

    // Every job the repository's config scrapes (that runs here) is up.
    for job in ops.keys() {
        let up =
            query(&prom_addr, &format!(r#"up{{job="loginwatch-{job}"}} == 1"#)).expect("up query");
        assert_eq!(up.len(), 1, "job loginwatch-{job} is not up");
    }

    // Which metrics exist at all in Prometheus right now.
    let present: BTreeSet<String> = label_values(&prom_addr, "__name__").into_iter().collect();
    let absent_allowed: BTreeMap<&str, &str> = MAY_BE_ABSENT.iter().copied().collect();

    // The org variable lists the scenario's org.
    let orgs = label_values_of(&prom_addr, "org", "loginwatch_ingest_records_total");
    assert!(
        orgs.contains(&ORG_ID.to_string()),
        "label_values(loginwatch_ingest_records_total, org) = {orgs:?}"
    );
    let categories = label_values_of(&prom_addr, "category", "loginwatch_detections_total");
    assert!(!categories.is_empty(), "no detection categories");

    let all_orgs = [
        ("org", ".*"),
        ("category", ".*"),
        ("severity", ".*"),
        ("__rate_interval", "15s"),
        ("__interval", "5s"),
        ("__range", "10m"),
    ];
    let one_org = [
        ("org", ORG_ID),
        ("category", ".*"),
        ("severity", ".*"),
        ("__rate_interval", "15s"),
        ("__interval", "5s"),
        ("__range", "10m"),
    ];

    let mut failures = Vec::new();
    let mut evaluated = 0;
    let mut empty_allowed = Vec::new();
    for q in dashboard_queries() {
        for vars in [&all_orgs[..], &one_org[..]] {
            let expr = substitute_variables(&q.expr, vars);
            evaluated += 1;
            let result = match query(&prom_addr, &expr) {
                Ok(r) => r,
                Err(e) => {
                    failures.push(format!("{}: `{expr}` did not evaluate: {e}", q.origin));
                    continue;
                }
            };
            if !result.is_empty() {
                continue;
            }
            let names = metric_names(&q.expr);
            let missing: Vec<&String> = names.iter().filter(|n| !present.contains(*n)).collect();
            if !missing.is_empty()
                && missing
                    .iter()
                    .all(|m| absent_allowed.contains_key(m.as_str()))
            {
                empty_allowed.push(format!("{} (no series yet: {missing:?})", q.origin));
            } else {
                failures.push(format!(
                    "{}: `{expr}` returned no data (metrics not exported: {missing:?})",
                    q.origin
                ));
            }
        }
    }

    // Alert rules: each expression evaluates; each metric it reads is exported unless listed in
    // MAY_BE_ABSENT; and the failures this scenario does not have do not fire.
    for q in alert_rule_queries() {
        let name = q.origin.trim_start_matches("alerts.yml / ");
        evaluated += 1;
        match query(&prom_addr, &q.expr) {
            Err(e) => failures.push(format!("{}: did not evaluate: {e}", q.origin)),
            Ok(result) => {
                if QUIET_ALERTS.contains(&name) && !result.is_empty() {
                    failures.push(format!(
                        "{}: fires in a healthy scenario: {result:?}",
                        q.origin
                    ));
                }
            }
        }
        for m in metric_names(&q.expr) {
            if !present.contains(&m) && !absent_allowed.contains_key(m.as_str()) {
                failures.push(format!(
                    "{}: reads `{m}`, which no service exported",
                    q.origin
                ));
            }
        }
    }
    // The failing webhook is what the forwarder alerts describe: their expressions see it.
    let retrying = query(
        &prom_addr,
        r#"sum by (sink) (rate(loginwatch_forwarder_retries_total[1m])) > 0 unless sum by (sink) (rate(loginwatch_forwarder_deliveries_total[1m])) > 0"#,
    )
    .expect("retry query");
    assert!(
        retrying
            .iter()
            .any(|s| s["metric"]["sink"] == "broken-webhook"),
        "the retry-without-delivery condition does not see the broken sink: {retrying:?}"
    );

    // Prometheus loaded every rule of alerts.yml and evaluates them without errors.
    let (_, rules) = http_get(&prom_addr, "/api/v1/rules").expect("rules API");
    let rules: Value = serde_json::from_str(&rules).expect("rules JSON");
    let loaded: Vec<&Value> = rules["data"]["groups"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|g| g["rules"].as_array().unwrap())
        .collect();
    assert_eq!(
        loaded.len(),
        alert_rule_queries().len(),
        "Prometheus loaded {} rules",
        loaded.len()
    );
    for r in loaded {
        assert_ne!(
            r["health"], "err",
            "rule {} failed to evaluate: {}",
            r["name"], r["lastError"]
        );
    }

    eprintln!("evaluated {evaluated} expressions; allowed empty: {empty_allowed:#?}");
    assert!(
        failures.is_empty(),
        "{} problems:\n{}",
        failures.len(),
        failures.join("\n")
    );
    drop(guards);
}

// ---------------------------------------------------------------------------------------------

/// The repository's `prometheus.yml`, with targets pointing at the test processes, a 1 s scrape
/// interval and the absolute path of `alerts.yml`.
fn prometheus_config(ops: &BTreeMap<&str, u16>) -> String {
    let path = repo_root().join("deploy/prometheus/prometheus.yml");
    let mut doc: serde_norway::Value =
        serde_norway::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    doc["global"]["scrape_interval"] = "1s".into();
    doc["global"]["scrape_timeout"] = "1s".into();
    doc["global"]["evaluation_interval"] = "1s".into();
    let rules = repo_root().join("deploy/prometheus/alerts.yml");
    doc["rule_files"] = serde_norway::Value::Sequence(vec![rules.display().to_string().into()]);
    let jobs = doc["scrape_configs"]
        .as_sequence_mut()
        .expect("scrape_configs");
    jobs.retain(|j| {
        let name = j["job_name"].as_str().unwrap();
        name.strip_prefix("loginwatch-")
            .is_some_and(|s| ops.contains_key(s))
    });
    assert_eq!(
        jobs.len(),
        ops.len(),
        "prometheus.yml has a loginwatch-<service> job for each of {:?}",
        ops.keys()
    );
    for j in jobs.iter_mut() {
        let service = j["job_name"]
            .as_str()
            .unwrap()
            .trim_start_matches("loginwatch-")
            .to_string();
        let target = format!("127.0.0.1:{}", ops[service.as_str()]);
        j["static_configs"] =
            serde_norway::from_str(&format!("[{{targets: ['{target}']}}]")).unwrap();
    }
    serde_norway::to_string(&doc).unwrap()
}

/// Instant query; `Ok(result vector)` when Prometheus answers `status: success`.
fn query(prom: &str, expr: &str) -> Result<Vec<Value>, String> {
    let (status, body) = http_get(prom, &format!("/api/v1/query?query={}", url_encode(expr)))
        .map_err(|e| e.to_string())?;
    let v: Value =
        serde_json::from_str(&body).map_err(|e| format!("HTTP {status}, not JSON: {e}: {body}"))?;
    if v["status"] != "success" {
        return Err(format!("HTTP {status}: {} {}", v["errorType"], v["error"]));
    }
    match v["data"]["resultType"].as_str() {
        Some("vector") | Some("matrix") => {
            Ok(v["data"]["result"].as_array().cloned().unwrap_or_default())
        }
        Some("scalar") | Some("string") => Ok(vec![v["data"]["result"].clone()]),
        other => Err(format!("unexpected result type {other:?}")),
    }
}

fn label_values(prom: &str, label: &str) -> Vec<String> {
    let (_, body) = http_get(prom, &format!("/api/v1/label/{label}/values")).expect("label values");
    let v: Value = serde_json::from_str(&body).expect("JSON");
    v["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap().to_string())
        .collect()
}

/// What Grafana's `label_values(metric, label)` shows.
fn label_values_of(prom: &str, label: &str, metric: &str) -> Vec<String> {
    let (_, body) = http_get(
        prom,
        &format!(
            "/api/v1/label/{label}/values?match[]={}",
            url_encode(metric)
        ),
    )
    .expect("label values");
    let v: Value = serde_json::from_str(&body).expect("JSON");
    v["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap().to_string())
        .collect()
}

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).expect("write config");
    p
}

fn loginwatch_cmd(bin: &Path, sub: &str, config: &Path) -> std::process::Command {
    let mut c = std::process::Command::new(bin);
    c.args([sub, "--config"])
        .arg(config)
        .env("RUST_LOG", "info");
    // The test's own environment must not leak config overrides into the services.
    for (k, _) in std::env::vars() {
        if k.starts_with("LOGINWATCH_") {
            c.env_remove(k);
        }
    }
    c
}
