//! Static checks of what a SOC deploys and looks at: the Grafana dashboards, the Prometheus scrape
//! configuration and alert rules (through `promtool`), the docker-compose stack and its Dockerfile.
//! No Docker engine runs here, so the compose file is checked structurally.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::Command;

use loginwatch_tests::observability::*;
use serde_json::Value;
use serde_norway::Value as Yaml;

fn read(rel: &str) -> String {
    let p = repo_root().join(rel);
    std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("cannot read {}: {e}", p.display()))
}

fn yaml(rel: &str) -> Yaml {
    let mut v: Yaml = serde_norway::from_str(&read(rel))
        .unwrap_or_else(|e| panic!("{rel} is not valid YAML: {e}"));
    v.apply_merge()
        .unwrap_or_else(|e| panic!("{rel}: bad `<<` merge key: {e}"));
    v
}

// ---------------------------------------------------------------------------------------------
// PromQL metric-name extraction (the checks below rely on it, so it is tested first).

#[test]
fn metric_name_extraction_handles_promql_syntax() {
    let expr = r#"histogram_quantile(0.95, sum by (le, rule) (rate(loginwatch_rule_evaluation_duration_seconds_bucket{rule=~"a|b", x='}'}[$__rate_interval])))"#;
    assert_eq!(
        metric_names(expr),
        vec!["loginwatch_rule_evaluation_duration_seconds_bucket"]
    );

    let expr = "sum(increase(a_total[7d])) - (sum(increase(a_total[7d] offset 7d)) or vector(0)) / on (org) group_left(app) b_info > bool 3";
    assert_eq!(metric_names(expr), vec!["a_total", "b_info"]);

    let expr = "max by (org) (x{org=~\"$org\"}) / max without(instance) (y) unless topk(10, z) and up{job=~\"loginwatch-.*\"} == 0";
    assert_eq!(metric_names(expr), vec!["x", "y", "z", "up"]);

    assert!(metric_names("vector(1) + 2e3 * scalar(time())").is_empty());
}

#[test]
fn metric_name_check_accepts_histogram_series_and_rejects_unknown_names() {
    assert!(is_exported_metric("loginwatch_ingest_records_total"));
    assert!(is_exported_metric(
        "loginwatch_rule_evaluation_duration_seconds_bucket"
    ));
    assert!(is_exported_metric(
        "loginwatch_rule_evaluation_duration_seconds_count"
    ));
    assert!(is_exported_metric("process_resident_memory_bytes"));
    assert!(is_exported_metric("up"));
    assert!(!is_exported_metric("loginwatch_ingest_records"));
    assert!(!is_exported_metric("loginwatch_made_up_total"));
    assert!(!is_exported_metric("process_made_up"));
    assert!(!is_exported_metric(
        "loginwatch_ingest_records_total_bucket"
    ));
}

#[test]
fn grafana_variable_substitution() {
    let vars = [("org", ".*"), ("__range", "5m"), ("__rate_interval", "30s")];
    assert_eq!(
        substitute_variables(
            r#"increase(x{org=~"$org"}[$__range]) + rate(y{org=~"${org}"}[$__rate_interval]) + $__range_s"#,
            &vars
        ),
        r#"increase(x{org=~".*"}[5m]) + rate(y{org=~".*"}[30s]) + $__range_s"#
    );
    assert_eq!(
        referenced_variables(r#"x{a=~"$org", b="${sink:regex}"}[$__range]"#),
        vec!["org", "sink", "__range"]
    );
}

// ---------------------------------------------------------------------------------------------
// Dashboards.

fn provisioned_datasource_uid() -> String {
    let ds = yaml("deploy/grafana/provisioning/datasources/prometheus.yaml");
    let list = ds["datasources"].as_sequence().expect("datasources list");
    let prom: Vec<&Yaml> = list
        .iter()
        .filter(|d| d["type"].as_str() == Some("prometheus"))
        .collect();
    assert_eq!(
        prom.len(),
        1,
        "exactly one Prometheus data source is provisioned"
    );
    let uid = prom[0]["uid"]
        .as_str()
        .expect("provisioned data source has a fixed uid")
        .to_string();
    assert_eq!(uid, PROVISIONED_DATASOURCE_UID);
    assert_eq!(
        prom[0]["url"].as_str(),
        Some("http://prometheus:9090"),
        "points at the compose service"
    );
    uid
}

/// Resolves a panel/target datasource to a uid: either the uid itself or a `${var}` whose
/// default (current) value is a uid.
fn resolve_datasource(ds: &Value, variables: &BTreeMap<String, Value>) -> Option<String> {
    let uid = ds["uid"].as_str()?;
    let vars = referenced_variables(uid);
    if vars.is_empty() {
        return Some(uid.to_string());
    }
    assert_eq!(vars.len(), 1, "data source uid {uid} names one variable");
    let var = variables.get(&vars[0])?;
    assert_eq!(
        var["type"], "datasource",
        "variable {} used as data source must be of type datasource",
        vars[0]
    );
    assert_eq!(var["query"], "prometheus");
    var["current"]["value"].as_str().map(str::to_string)
}

#[test]
fn every_dashboard_panel_has_description_unit_thresholds_and_the_provisioned_datasource() {
    let uid = provisioned_datasource_uid();
    let files = dashboard_files();
    let names: BTreeSet<String> = files
        .iter()
        .map(|f| f.file_name().unwrap().to_string_lossy().to_string())
        .collect();
    for expected in [
        "password-logins.json",
        "detections.json",
        "pipeline-health.json",
    ] {
        assert!(
            names.contains(expected),
            "dashboards/{expected} is missing (have {names:?})"
        );
    }
    let mut uids = BTreeSet::new();
    for file in &files {
        let name = file.display().to_string();
        let d = load_dashboard(file);
        let schema = d["schemaVersion"].as_u64().unwrap_or(0);
        assert!(
            (36..=41).contains(&schema),
            "{name}: schemaVersion {schema}"
        );
        let duid = d["uid"]
            .as_str()
            .unwrap_or_else(|| panic!("{name}: fixed dashboard uid"));
        assert!(
            uids.insert(duid.to_string()),
            "{name}: uid {duid} used twice"
        );
        assert!(
            d["title"].as_str().is_some_and(|t| !t.is_empty()),
            "{name}: title"
        );

        let variables: BTreeMap<String, Value> = d["templating"]["list"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|v| {
                (
                    v["name"].as_str().expect("variable name").to_string(),
                    v.clone(),
                )
            })
            .collect();
        assert!(
            variables.contains_key("datasource"),
            "{name}: needs a data source template variable"
        );
        for (vname, v) in &variables {
            if v["type"] == "query" {
                assert_eq!(
                    resolve_datasource(&v["datasource"], &variables).as_deref(),
                    Some(uid.as_str()),
                    "{name}: variable {vname}"
                );
                let q = v["query"]["query"]
                    .as_str()
                    .or(v["query"].as_str())
                    .unwrap_or_default();
                let inner = q
                    .strip_prefix("label_values(")
                    .and_then(|r| r.strip_suffix(')'))
                    .unwrap_or_else(|| panic!("{name}: variable {vname} should be label_values(metric, label), is {q}"));
                let (metric, label) = inner.split_once(',').expect("label_values(metric, label)");
                for m in metric_names(metric) {
                    assert!(
                        is_exported_metric(&m),
                        "{name}: variable {vname} queries unknown metric {m}"
                    );
                }
                assert_eq!(
                    label.trim(),
                    vname,
                    "{name}: variable {vname} lists label {label}"
                );
            }
        }

        let panels = panels(&d);
        assert!(panels.len() >= 5, "{name}: only {} panels", panels.len());
        let mut ids = BTreeSet::new();
        for p in panels {
            let title = p["title"].as_str().unwrap_or_default();
            let at = format!("{name} / panel {title:?}");
            assert!(!title.is_empty(), "{name}: a panel without title");
            assert!(
                ids.insert(p["id"].as_u64().expect("panel id")),
                "{at}: duplicate id"
            );
            assert!(
                p["description"].as_str().is_some_and(|s| s.len() >= 20),
                "{at}: needs a description"
            );
            let defaults = &p["fieldConfig"]["defaults"];
            assert!(
                defaults["unit"].as_str().is_some_and(|u| !u.is_empty()),
                "{at}: needs a unit"
            );
            let steps = defaults["thresholds"]["steps"]
                .as_array()
                .map(Vec::len)
                .unwrap_or(0);
            assert!(steps >= 1, "{at}: needs thresholds");
            assert_eq!(
                resolve_datasource(&p["datasource"], &variables).as_deref(),
                Some(uid.as_str()),
                "{at}: data source"
            );
            let targets = p["targets"]
                .as_array()
                .unwrap_or_else(|| panic!("{at}: no targets"));
            assert!(!targets.is_empty(), "{at}: no targets");
            for t in targets {
                assert_eq!(
                    resolve_datasource(&t["datasource"], &variables).as_deref(),
                    Some(uid.as_str()),
                    "{at}: target data source"
                );
                let expr = t["expr"].as_str().unwrap_or_default();
                assert!(!expr.trim().is_empty(), "{at}: empty expr");
                for var in referenced_variables(expr) {
                    assert!(
                        variables.contains_key(&var)
                            || GRAFANA_BUILTIN_VARIABLES.contains(&var.as_str()),
                        "{at}: uses ${var}, which the dashboard does not define"
                    );
                }
            }
        }
    }
}

#[test]
fn org_dashboards_filter_by_org() {
    for file in ["password-logins.json", "pipeline-health.json"] {
        let d = load_dashboard(&repo_root().join("dashboards").join(file));
        let org = d["templating"]["list"]
            .as_array()
            .unwrap()
            .iter()
            .find(|v| v["name"] == "org")
            .unwrap_or_else(|| panic!("{file}: org variable"));
        assert_eq!(org["includeAll"], true);
        assert_eq!(
            org["allValue"], ".*",
            "{file}: All must match every org in =~ matchers"
        );
        let filtered = panels(&d)
            .iter()
            .flat_map(|p| p["targets"].as_array().unwrap().iter())
            .filter(|t| t["expr"].as_str().unwrap().contains("org=~\"$org\""))
            .count();
        assert!(
            filtered >= 5,
            "{file}: only {filtered} queries filter by $org"
        );
    }
}

#[test]
fn every_queried_metric_is_exported() {
    let queries: Vec<FoundQuery> = dashboard_queries()
        .into_iter()
        .chain(alert_rule_queries())
        .collect();
    assert!(queries.len() >= 40, "found only {} queries", queries.len());
    let mut used = BTreeSet::new();
    for q in &queries {
        let names = metric_names(&q.expr);
        assert!(!names.is_empty(), "{}: no metric in {:?}", q.origin, q.expr);
        for n in names {
            assert!(
                is_exported_metric(&n),
                "{}: queries `{n}`, which is not in loginwatch_shared::metrics::names::ALL (nor up/process_*)",
                q.origin
            );
            used.insert(n);
        }
    }
    // The metrics the issue asks the dashboards to show are all queried somewhere.
    use loginwatch_shared::metrics::names::*;
    for required in [
        PASSWORD_LOGINS,
        PASSWORD_LOGIN_INVENTORY_USERS,
        DETECTIONS,
        INGEST_RECORDS,
        INGEST_LAG,
        SALESFORCE_API_DAILY_USED,
        SALESFORCE_API_DAILY_REMAINING,
        KAFKA_CONSUMER_LAG,
        WATERMARK_LAG,
        LATE_EVENTS,
        DEADLETTER_RECORDS,
        FORWARDER_DELIVERIES,
        FORWARDER_RETRIES,
        FORWARDER_CIRCUIT_OPEN,
        "loginwatch_rule_evaluation_duration_seconds_bucket",
        "process_cpu_seconds_total",
        "process_resident_memory_bytes",
    ] {
        assert!(
            used.contains(required),
            "no dashboard or alert queries {required}"
        );
    }
}

#[test]
fn readme_documents_every_panel() {
    let readme = read("dashboards/README.md");
    for file in dashboard_files() {
        let d = load_dashboard(&file);
        let fname = file.file_name().unwrap().to_string_lossy().to_string();
        assert!(
            readme.contains(&fname),
            "dashboards/README.md does not mention {fname}"
        );
        for p in panels(&d) {
            let title = p["title"].as_str().unwrap();
            assert!(
                readme.contains(title),
                "dashboards/README.md does not document panel {title:?} of {fname}"
            );
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Prometheus.

fn promtool(args: &[&str], dir: &Path) -> String {
    let out = Command::new("promtool").args(args).current_dir(dir).output().unwrap_or_else(|e| {
        panic!(
            "cannot run promtool ({e}). It ships with Prometheus: install the Debian package `prometheus` \
             (apt-get install prometheus), as .ci/run does"
        )
    });
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.success(),
        "promtool {} failed:\n{text}",
        args.join(" ")
    );
    text
}

#[test]
fn promtool_accepts_config_and_rules_and_the_alert_unit_tests_pass() {
    let dir = repo_root().join("deploy/prometheus");
    let config = promtool(&["check", "config", "prometheus.yml"], &dir);
    assert!(config.contains("SUCCESS"), "{config}");
    let rules = promtool(&["check", "rules", "alerts.yml"], &dir);
    assert!(rules.contains("SUCCESS"), "{rules}");
    // Every alert fires on the synthetic failure it describes (alerts_test.yml).
    let tests = promtool(&["test", "rules", "alerts_test.yml"], &dir);
    assert!(tests.contains("SUCCESS"), "{tests}");
}

#[test]
fn every_alert_is_unit_tested_and_covers_the_issue() {
    let alerts: BTreeSet<String> = alert_rule_queries()
        .iter()
        .map(|q| q.origin.trim_start_matches("alerts.yml / ").to_string())
        .collect();
    for required in [
        "LoginwatchIngestStalled",
        "LoginwatchSalesforceQuotaNearlySpent",
        "LoginwatchConsumerLagGrowing",
        "LoginwatchDeadLettersAppearing",
        "LoginwatchForwarderCircuitOpen",
        "LoginwatchForwarderRetryingWithoutDelivering",
        "LoginwatchWatermarkStuck",
    ] {
        assert!(alerts.contains(required), "alerts.yml lacks {required}");
    }
    let tests = yaml("deploy/prometheus/alerts_test.yml");
    let tested: BTreeSet<String> = tests["tests"]
        .as_sequence()
        .unwrap()
        .iter()
        .flat_map(|t| t["alert_rule_test"].as_sequence().unwrap().iter())
        .filter(|a| a["exp_alerts"].as_sequence().is_some_and(|e| !e.is_empty()))
        .map(|a| a["alertname"].as_str().unwrap().to_string())
        .collect();
    for a in &alerts {
        assert!(
            tested.contains(a),
            "alert {a} has no firing case in alerts_test.yml"
        );
    }
    let doc = yaml("deploy/prometheus/alerts.yml");
    for group in doc["groups"].as_sequence().unwrap() {
        for rule in group["rules"].as_sequence().unwrap() {
            let name = rule["alert"].as_str().unwrap();
            assert!(
                rule["labels"]["severity"]
                    .as_str()
                    .is_some_and(|s| ["warning", "critical"].contains(&s)),
                "{name}: severity"
            );
            assert!(
                rule["annotations"]["summary"].as_str().is_some(),
                "{name}: summary"
            );
            assert!(
                rule["annotations"]["description"].as_str().is_some(),
                "{name}: description"
            );
        }
    }
}

/// `host:port` targets of each scrape job.
fn scrape_targets() -> BTreeMap<String, Vec<String>> {
    let prom = yaml("deploy/prometheus/prometheus.yml");
    let mut out = BTreeMap::new();
    for job in prom["scrape_configs"]
        .as_sequence()
        .expect("scrape_configs")
    {
        let name = job["job_name"].as_str().unwrap().to_string();
        let targets = job["static_configs"]
            .as_sequence()
            .into_iter()
            .flatten()
            .flat_map(|s| s["targets"].as_sequence().unwrap().iter())
            .map(|t| t.as_str().unwrap().to_string())
            .collect();
        out.insert(name, targets);
    }
    out
}

// ---------------------------------------------------------------------------------------------
// docker-compose.yml and the Dockerfile.

const LOGINWATCH_SERVICES: &[(&str, &str)] = &[
    ("ingester", "ingest"),
    ("analyzer", "analyze"),
    ("forwarder", "forward"),
    ("sfsim", "sfsim"),
];

fn as_strings(v: &Yaml) -> Vec<String> {
    match v {
        Yaml::String(s) => vec![s.clone()],
        Yaml::Sequence(s) => s
            .iter()
            .map(|x| x.as_str().expect("string item").to_string())
            .collect(),
        _ => Vec::new(),
    }
}

/// The port a container listens on for a `ports:` entry (`[ip:]host:container[/proto]`).
fn container_port(entry: &str) -> u16 {
    let parts: Vec<&str> = entry.split(':').collect();
    assert!(
        (2..=3).contains(&parts.len()),
        "port mapping {entry} should be [ip:]host:container"
    );
    if parts.len() == 3 {
        assert!(
            parts[0].parse::<std::net::IpAddr>().is_ok(),
            "{entry}: bad bind address"
        );
    }
    let host: u16 = parts[parts.len() - 2]
        .parse()
        .unwrap_or_else(|_| panic!("{entry}: host port"));
    assert!(host > 0);
    parts[parts.len() - 1]
        .split('/')
        .next()
        .unwrap()
        .parse()
        .unwrap_or_else(|_| panic!("{entry}: container port"))
}

#[test]
fn compose_stack_is_complete_and_consistent() {
    let compose = yaml("docker-compose.yml");
    let services = compose["services"].as_mapping().expect("services");
    let service_names: BTreeSet<String> = services
        .keys()
        .map(|k| k.as_str().unwrap().to_string())
        .collect();
    for required in [
        "kafka",
        "ingester",
        "analyzer",
        "forwarder",
        "sfsim",
        "prometheus",
        "grafana",
    ] {
        assert!(
            service_names.contains(required),
            "docker-compose.yml lacks service {required}"
        );
    }
    let named_volumes: BTreeSet<String> = compose["volumes"]
        .as_mapping()
        .map(|m| m.keys().map(|k| k.as_str().unwrap().to_string()).collect())
        .unwrap_or_default();

    for (name, svc) in services {
        let name = name.as_str().unwrap();
        let at = format!("service {name}");
        // image or build
        let has_image = svc["image"].as_str().is_some();
        let build = &svc["build"];
        assert!(has_image || !build.is_null(), "{at}: needs image or build");
        if !build.is_null() {
            let context = build["context"]
                .as_str()
                .or(build.as_str())
                .expect("build context");
            let dockerfile = build["dockerfile"].as_str().unwrap_or("Dockerfile");
            assert!(
                repo_root().join(context).join(dockerfile).is_file(),
                "{at}: {context}/{dockerfile} missing"
            );
        }
        if let Some(image) = svc["image"].as_str() {
            if build.is_null() {
                let tag = image.rsplit_once(':').map(|(_, t)| t).unwrap_or("");
                assert!(
                    !tag.is_empty() && tag != "latest",
                    "{at}: pin the image version ({image})"
                );
            }
        }
        assert!(
            matches!(
                svc["restart"].as_str(),
                Some("unless-stopped" | "always" | "on-failure")
            ),
            "{at}: needs a restart policy"
        );
        // healthcheck
        let test = as_strings(&svc["healthcheck"]["test"]);
        assert!(
            test.len() >= 2 && matches!(test[0].as_str(), "CMD" | "CMD-SHELL"),
            "{at}: needs a healthcheck"
        );
        // ports
        for p in svc["ports"].as_sequence().into_iter().flatten() {
            let entry = p
                .as_str()
                .unwrap_or_else(|| panic!("{at}: use the short port syntax"));
            container_port(entry);
            assert!(
                entry.starts_with("127.0.0.1:"),
                "{at}: {entry} should bind to loopback only"
            );
        }
        // volumes: bind sources exist, named volumes declared
        for v in svc["volumes"].as_sequence().into_iter().flatten() {
            let spec = v
                .as_str()
                .unwrap_or_else(|| panic!("{at}: use the short volume syntax"));
            let source = spec.split(':').next().unwrap();
            if source.starts_with("./") || source.starts_with('/') {
                let p = repo_root().join(source.trim_start_matches("./"));
                assert!(
                    p.exists(),
                    "{at}: mounts {source}, which does not exist in the repository"
                );
            } else {
                assert!(
                    named_volumes.contains(source),
                    "{at}: volume {source} is not declared under top-level volumes"
                );
            }
        }
        // depends_on
        let deps: Vec<String> = match &svc["depends_on"] {
            Yaml::Sequence(s) => s.iter().map(|x| x.as_str().unwrap().to_string()).collect(),
            Yaml::Mapping(m) => m.keys().map(|k| k.as_str().unwrap().to_string()).collect(),
            _ => Vec::new(),
        };
        for d in deps {
            assert!(
                service_names.contains(&d),
                "{at}: depends_on {d}, which is not a service"
            );
            assert_ne!(d, name, "{at}: depends on itself");
        }
        // Secrets only by reference.
        if let Some(env) = svc["environment"].as_mapping() {
            for (k, v) in env {
                let k = k.as_str().unwrap();
                let secretish = ["PASSWORD", "SECRET", "TOKEN", "API_KEY", "PRIVATE_KEY"]
                    .iter()
                    .any(|s| k.contains(s));
                if secretish {
                    let v = v.as_str().unwrap_or_default();
                    assert!(v.starts_with("${"), "{at}: {k} must come from .env (${{…}}), not be written in the compose file");
                }
            }
        }
    }

    // Kafka: official image, KRaft (no ZooKeeper), advertised to the compose network.
    let kafka = &compose["services"]["kafka"];
    assert!(kafka["image"]
        .as_str()
        .unwrap()
        .starts_with("apache/kafka:"));
    let roles = kafka["environment"]["KAFKA_PROCESS_ROLES"]
        .as_str()
        .unwrap_or_default();
    assert!(
        roles.contains("broker") && roles.contains("controller"),
        "Kafka runs in KRaft combined mode"
    );
    assert!(kafka["environment"]
        .get("KAFKA_ZOOKEEPER_CONNECT")
        .is_none());
    assert!(kafka["environment"]["KAFKA_ADVERTISED_LISTENERS"]
        .as_str()
        .unwrap()
        .contains("kafka:9092"));

    assert!(compose["services"]["prometheus"]["image"]
        .as_str()
        .unwrap()
        .starts_with("prom/prometheus:"));
    assert!(compose["services"]["grafana"]["image"]
        .as_str()
        .unwrap()
        .starts_with("grafana/grafana:"));
    assert_eq!(
        as_strings(&compose["services"]["sfsim"]["profiles"]),
        vec!["sfsim"],
        "sfsim is an optional profile"
    );

    // The loginwatch services: one image built here, started as `loginwatch <subcommand> --config FILE`
    // with that file mounted; scraped by Prometheus on the port their health check uses.
    let targets = scrape_targets();
    for (svc_name, subcommand) in LOGINWATCH_SERVICES {
        let svc = &compose["services"][*svc_name];
        let scraped = *svc_name != "sfsim"; // the test double has no ops endpoint
        assert!(
            !svc["build"].is_null(),
            "{svc_name} is built from the repository Dockerfile"
        );
        let cmd = as_strings(&svc["command"]);
        assert_eq!(
            cmd.first().map(String::as_str),
            Some(*subcommand),
            "{svc_name}: command {cmd:?}"
        );
        let config_pos = cmd
            .iter()
            .position(|a| a == "--config")
            .unwrap_or_else(|| panic!("{svc_name}: --config"));
        let config_in_container = &cmd[config_pos + 1];
        let mounted = svc["volumes"]
            .as_sequence()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap())
            .find(|v| v.split(':').nth(1) == Some(config_in_container.as_str()))
            .unwrap_or_else(|| panic!("{svc_name}: {config_in_container} is not mounted"));
        let source = mounted.split(':').next().unwrap().trim_start_matches("./");
        assert!(
            source.starts_with("deploy/config/") && source.ends_with(".toml"),
            "{svc_name}: {source}"
        );

        if !scraped {
            continue;
        }
        let health = as_strings(&svc["healthcheck"]["test"]).join(" ");
        assert!(
            health.contains("/healthz") && health.contains("/readyz"),
            "{svc_name}: health check uses /healthz and /readyz"
        );
        let job = format!("loginwatch-{svc_name}");
        let target = targets
            .get(&job)
            .and_then(|t| t.first())
            .unwrap_or_else(|| panic!("prometheus.yml has no job {job}"));
        let (host, port) = target.split_once(':').unwrap();
        assert_eq!(host, *svc_name, "job {job} scrapes the compose service");
        assert!(
            health.contains(&format!("127.0.0.1:{port}/")),
            "{svc_name}: health check and scrape target {target} disagree"
        );
        let published: Vec<u16> = svc["ports"]
            .as_sequence()
            .unwrap()
            .iter()
            .map(|p| container_port(p.as_str().unwrap()))
            .collect();
        assert!(
            published.contains(&port.parse().unwrap()),
            "{svc_name}: ops port {port} not published"
        );
        // The config file listens on that port on all interfaces (so Prometheus can reach it).
        let config = read(source);
        assert!(
            config.contains(&format!("\"0.0.0.0:{port}\"")),
            "{source}: the ops listen address should be \"0.0.0.0:{port}\" (scraped as {target})"
        );
    }

    // Prometheus gets its config and rules, Grafana its provisioning and the dashboards.
    let prom_volumes = as_strings(&compose["services"]["prometheus"]["volumes"]).join("\n");
    assert!(
        prom_volumes.contains("./deploy/prometheus/prometheus.yml:/etc/prometheus/prometheus.yml")
    );
    assert!(prom_volumes.contains("./deploy/prometheus/alerts.yml:/etc/prometheus/alerts.yml"));
    let grafana_volumes = as_strings(&compose["services"]["grafana"]["volumes"]).join("\n");
    assert!(grafana_volumes.contains(
        "./deploy/grafana/provisioning/datasources:/etc/grafana/provisioning/datasources"
    ));
    assert!(grafana_volumes
        .contains("./deploy/grafana/provisioning/dashboards:/etc/grafana/provisioning/dashboards"));
    let provider = yaml("deploy/grafana/provisioning/dashboards/loginwatch.yaml");
    let dash_path = provider["providers"][0]["options"]["path"]
        .as_str()
        .expect("dashboard provider path");
    assert!(
        grafana_volumes.contains(&format!("./dashboards:{dash_path}")),
        "Grafana's dashboard provider reads {dash_path}; mount ./dashboards there"
    );
}

#[test]
fn compose_secrets_come_from_an_uncommitted_env_file() {
    let compose = read("docker-compose.yml");
    let example = read(".env.example");
    let gitignore = read(".gitignore");
    assert!(
        gitignore
            .lines()
            .any(|l| l.trim() == ".env" || l.trim() == "/.env"),
        ".env must be git-ignored"
    );
    assert!(
        !repo_root().join(".env").exists() || !tracked(".env"),
        ".env must not be committed"
    );
    // Every ${VAR} without a default that compose needs is documented in .env.example.
    let mut rest = compose.as_str();
    while let Some(start) = rest.find("${") {
        let end = rest[start..].find('}').expect("closing brace") + start;
        let inner = &rest[start + 2..end];
        let var = inner.split([':', '-', '?']).next().unwrap();
        let after = &inner[var.len()..];
        let has_default = after.starts_with(":-") || after.starts_with('-');
        if !has_default {
            assert!(
                example.lines().any(|l| l.starts_with(&format!("{var}="))),
                ".env.example does not document {var}"
            );
        }
        rest = &rest[end..];
    }
    let dockerignore = read(".dockerignore");
    assert!(
        dockerignore.lines().any(|l| l.trim() == ".env"),
        ".dockerignore keeps .env out of the image"
    );
    assert!(
        dockerignore
            .lines()
            .any(|l| l.trim().trim_end_matches('/') == "target"),
        ".dockerignore skips target/"
    );
}

fn tracked(path: &str) -> bool {
    Command::new("git")
        .args(["ls-files", "--error-unmatch", path])
        .current_dir(repo_root())
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false)
}

#[test]
fn dockerfile_is_multi_stage_with_one_loginwatch_binary() {
    let dockerfile = read("Dockerfile");
    let froms: Vec<&str> = dockerfile
        .lines()
        .filter(|l| l.trim_start().to_ascii_uppercase().starts_with("FROM "))
        .collect();
    assert!(
        froms.len() >= 2,
        "multi-stage build expected, got {froms:?}"
    );
    assert!(
        froms[0].contains("rust:") && froms[0].to_ascii_lowercase().contains(" as builder"),
        "{}",
        froms[0]
    );
    assert!(
        froms.last().unwrap().contains("debian:") && froms.last().unwrap().contains("-slim"),
        "runtime is debian-slim"
    );
    assert!(dockerfile.contains("cargo build --release --locked -p loginwatch"));
    assert!(dockerfile.contains("COPY --from=builder"));
    let entry = dockerfile
        .lines()
        .find(|l| l.starts_with("ENTRYPOINT"))
        .expect("ENTRYPOINT");
    assert!(entry.contains("/usr/local/bin/loginwatch"), "{entry}");
    assert!(
        dockerfile
            .lines()
            .any(|l| l.starts_with("USER ") && !l.contains("root")),
        "runs as a non-root user"
    );
    // The compose health checks use curl: it must be in the runtime image.
    let runtime = &dockerfile[dockerfile.rfind("FROM ").unwrap()..];
    assert!(
        runtime.contains("curl"),
        "runtime image needs curl for the health checks"
    );
}

#[test]
fn deploy_configs_load_with_the_services_config_types() {
    let dir = repo_root().join("deploy/config");
    let ingester =
        loginwatch_ingester::config::IngesterConfig::load(Some(&dir.join("ingester.toml")))
            .unwrap_or_else(|e| panic!("deploy/config/ingester.toml: {e}"));
    assert_eq!(ingester.kafka.bootstrap_servers, "kafka:9092");
    let analyzer: loginwatch_analyzer::service::AnalyzerConfig =
        loginwatch_shared::config::load(Some(&dir.join("analyzer.toml")))
            .unwrap_or_else(|e| panic!("deploy/config/analyzer.toml: {e}"));
    assert_eq!(analyzer.kafka.bootstrap_servers, "kafka:9092");
    let forwarder: loginwatch_forwarder::config::ForwarderConfig =
        loginwatch_shared::config::load(Some(&dir.join("forwarder.toml")))
            .unwrap_or_else(|e| panic!("deploy/config/forwarder.toml: {e}"));
    forwarder
        .validate()
        .unwrap_or_else(|e| panic!("deploy/config/forwarder.toml: {e}"));
    let sfsim: loginwatch_sfsim::config::SimConfig =
        loginwatch_shared::config::load(Some(&dir.join("sfsim.toml")))
            .unwrap_or_else(|e| panic!("deploy/config/sfsim.toml: {e}"));
    sfsim
        .validate()
        .unwrap_or_else(|e| panic!("deploy/config/sfsim.toml: {e}"));
    // The compose ingester reads the compose sfsim org with the credentials sfsim accepts.
    assert_eq!(ingester.orgs[0].org_id, sfsim.orgs[0].org_id);
}
