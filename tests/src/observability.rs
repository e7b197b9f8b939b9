//! Shared by the observability tests: where the dashboards, Prometheus files and compose file are,
//! how to pull PromQL out of them, and which metric names a PromQL expression refers to.

use std::path::{Path, PathBuf};

use serde_json::Value;

/// The Grafana data source uid the provisioning file gives Prometheus and every panel refers to.
pub const PROVISIONED_DATASOURCE_UID: &str = "loginwatch-prometheus";

/// Standard metrics every service exports besides `loginwatch_*`: the `prometheus` crate's process
/// collector (Linux) and Prometheus's own `up`.
pub const STANDARD_METRICS: &[&str] = &[
    "up",
    "process_cpu_seconds_total",
    "process_resident_memory_bytes",
    "process_virtual_memory_bytes",
    "process_open_fds",
    "process_max_fds",
    "process_start_time_seconds",
    "process_threads",
];

/// Grafana's built-in variables a dashboard query may use without defining them.
pub const GRAFANA_BUILTIN_VARIABLES: &[&str] = &[
    "__rate_interval",
    "__range",
    "__interval",
    "__interval_ms",
    "__range_s",
];

/// The workspace root (the tests crate lives in `<root>/tests`).
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests crate has a parent directory")
        .to_path_buf()
}

/// `dashboards/*.json`, sorted.
pub fn dashboard_files() -> Vec<PathBuf> {
    let dir = repo_root().join("dashboards");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", dir.display()))
        .map(|e| e.expect("directory entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    files.sort();
    files
}

pub fn load_dashboard(path: &Path) -> Value {
    let text = std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    serde_json::from_str(&text)
        .unwrap_or_else(|e| panic!("{} is not valid JSON: {e}", path.display()))
}

/// Every panel of a dashboard, rows' nested panels included, rows themselves excluded.
pub fn panels(dashboard: &Value) -> Vec<&Value> {
    fn walk<'a>(list: &'a Value, out: &mut Vec<&'a Value>) {
        for p in list.as_array().into_iter().flatten() {
            if p["type"] == "row" {
                walk(&p["panels"], out);
            } else {
                out.push(p);
            }
        }
    }
    let mut out = Vec::new();
    walk(&dashboard["panels"], &mut out);
    out
}

/// One PromQL expression found in a dashboard or an alert rule, with where it came from.
#[derive(Debug, Clone)]
pub struct FoundQuery {
    /// `dashboards/x.json / panel title / refId` or `alerts.yml / AlertName`.
    pub origin: String,
    pub expr: String,
}

/// Every `targets[].expr` of every panel of every dashboard.
pub fn dashboard_queries() -> Vec<FoundQuery> {
    let mut out = Vec::new();
    for file in dashboard_files() {
        let d = load_dashboard(&file);
        let name = file
            .file_name()
            .expect("file name")
            .to_string_lossy()
            .to_string();
        for p in panels(&d) {
            for t in p["targets"].as_array().into_iter().flatten() {
                if let Some(expr) = t["expr"].as_str() {
                    out.push(FoundQuery {
                        origin: format!(
                            "{name} / {} / {}",
                            p["title"].as_str().unwrap_or("?"),
                            t["refId"].as_str().unwrap_or("?")
                        ),
                        expr: expr.to_string(),
                    });
                }
            }
        }
    }
    out
}

/// Every alerting and recording rule expression in `deploy/prometheus/alerts.yml`.
pub fn alert_rule_queries() -> Vec<FoundQuery> {
    let path = repo_root().join("deploy/prometheus/alerts.yml");
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    let doc: serde_norway::Value = serde_norway::from_str(&text)
        .unwrap_or_else(|e| panic!("{} is not YAML: {e}", path.display()));
    let mut out = Vec::new();
    for group in doc["groups"].as_sequence().into_iter().flatten() {
        for rule in group["rules"].as_sequence().into_iter().flatten() {
            let name = rule["alert"]
                .as_str()
                .or(rule["record"].as_str())
                .unwrap_or("?");
            let expr = rule["expr"]
                .as_str()
                .unwrap_or_else(|| panic!("rule {name} in alerts.yml has no expr"));
            out.push(FoundQuery {
                origin: format!("alerts.yml / {name}"),
                expr: expr.to_string(),
            });
        }
    }
    out
}

/// True for names the dashboards and alerts may query: `loginwatch_shared::metrics::names::ALL`
/// (a histogram's `_bucket`/`_sum`/`_count` series included), `up` and the process metrics.
pub fn is_exported_metric(name: &str) -> bool {
    if STANDARD_METRICS.contains(&name) {
        return true;
    }
    if loginwatch_shared::metrics::names::ALL.contains(&name) {
        return true;
    }
    ["_bucket", "_sum", "_count"]
        .iter()
        .filter_map(|suffix| name.strip_suffix(suffix))
        .any(|base| histogram_names().iter().any(|h| h == base))
}

/// Names of the histograms in `loginwatch_shared::metrics` (only they have `_bucket`/`_sum`/`_count` series).
pub fn histogram_names() -> Vec<String> {
    use prometheus::core::Collector;
    let m = loginwatch_shared::metrics::metrics();
    [
        &m.salesforce_api_request_duration,
        &m.rule_evaluation_duration,
        &m.detection_latency,
        &m.forwarder_delivery_duration,
    ]
    .iter()
    .flat_map(|h| {
        h.desc()
            .into_iter()
            .map(|d| d.fq_name.clone())
            .collect::<Vec<_>>()
    })
    .collect()
}

/// PromQL words that are not metric names.
const PROMQL_KEYWORDS: &[&str] = &[
    "and",
    "or",
    "unless",
    "bool",
    "offset",
    "by",
    "without",
    "on",
    "ignoring",
    "group_left",
    "group_right",
    "inf",
    "nan",
    "atan2",
    // aggregation operators, which may be followed by `by (…)` instead of `(`
    "sum",
    "min",
    "max",
    "avg",
    "group",
    "stddev",
    "stdvar",
    "count",
    "count_values",
    "bottomk",
    "topk",
    "quantile",
    "limitk",
    "limit_ratio",
];
/// Keywords followed by a parenthesised label list (not an expression).
const LABEL_LIST_KEYWORDS: &[&str] = &[
    "by",
    "without",
    "on",
    "ignoring",
    "group_left",
    "group_right",
];

/// The metric names a PromQL expression selects, in order of appearance (duplicates kept out).
/// A small tokenizer, enough for hand-written dashboards: skips strings, label matchers `{…}`,
/// ranges `[…]`, Grafana variables, numbers and durations, function names (an identifier followed
/// by `(`), label lists after `by`/`without`/`on`/`ignoring`/`group_*`, and keywords.
pub fn metric_names(expr: &str) -> Vec<String> {
    let chars: Vec<char> = expr.chars().collect();
    let n = chars.len();
    let mut out: Vec<String> = Vec::new();
    let mut i = 0;
    // Skips a quoted string starting at `i` (the quote), returns the index after it.
    let skip_string = |mut i: usize| -> usize {
        let quote = chars[i];
        i += 1;
        while i < n && chars[i] != quote {
            if chars[i] == '\\' && quote != '`' {
                i += 1;
            }
            i += 1;
        }
        i + 1
    };
    let skip_until = |mut i: usize, close: char| -> usize {
        while i < n && chars[i] != close {
            if matches!(chars[i], '"' | '\'' | '`') {
                i = skip_string(i);
            } else {
                i += 1;
            }
        }
        i + 1
    };
    while i < n {
        let c = chars[i];
        match c {
            '"' | '\'' | '`' => i = skip_string(i),
            '{' => i = skip_until(i + 1, '}'),
            '[' => i = skip_until(i + 1, ']'),
            '#' => i = skip_until(i + 1, '\n'),
            '$' => {
                i += 1;
                if i < n && chars[i] == '{' {
                    i = skip_until(i + 1, '}');
                } else {
                    while i < n && (chars[i].is_alphanumeric() || chars[i] == '_') {
                        i += 1;
                    }
                }
            }
            c if c.is_ascii_digit() || (c == '.' && i + 1 < n && chars[i + 1].is_ascii_digit()) => {
                // Numbers, including 1e3, 0x1f and durations like 7d or 1h30m.
                while i < n && (chars[i].is_alphanumeric() || chars[i] == '.') {
                    i += 1;
                }
            }
            c if c.is_alphabetic() || c == '_' || c == ':' => {
                let start = i;
                while i < n && (chars[i].is_alphanumeric() || chars[i] == '_' || chars[i] == ':') {
                    i += 1;
                }
                let word: String = chars[start..i].iter().collect();
                let mut j = i;
                while j < n && chars[j].is_whitespace() {
                    j += 1;
                }
                let followed_by_paren = j < n && chars[j] == '(';
                let lower = word.to_ascii_lowercase();
                if LABEL_LIST_KEYWORDS.contains(&lower.as_str()) {
                    if followed_by_paren {
                        i = skip_until(j + 1, ')');
                    }
                } else if followed_by_paren || PROMQL_KEYWORDS.contains(&lower.as_str()) {
                    // function call or operator keyword
                } else if !out.contains(&word) {
                    out.push(word);
                }
            }
            _ => i += 1,
        }
    }
    out
}

/// Replaces Grafana variables (`$name`, `${name}`, `${name:format}`, `[[name]]`) using `values`;
/// unknown variables are left as they are (so a later check can report them).
pub fn substitute_variables(expr: &str, values: &[(&str, &str)]) -> String {
    let mut out = expr.to_string();
    // Longest names first so `$__range` is not replaced inside `$__range_s`.
    let mut sorted: Vec<&(&str, &str)> = values.iter().collect();
    sorted.sort_by_key(|(name, _)| std::cmp::Reverse(name.len()));
    for (name, value) in sorted {
        out = out.replace(&format!("${{{name}}}"), value);
        out = out.replace(&format!("[[{name}]]"), value);
        // `${name:regex}` style formats.
        while let Some(start) = out.find(&format!("${{{name}:")) {
            let Some(end) = out[start..].find('}') else {
                break;
            };
            out.replace_range(start..start + end + 1, value);
        }
        let pattern = format!("${name}");
        let mut result = String::with_capacity(out.len());
        let mut rest = out.as_str();
        while let Some(pos) = rest.find(&pattern) {
            let after = &rest[pos + pattern.len()..];
            let continues_name = after
                .chars()
                .next()
                .is_some_and(|c| c.is_alphanumeric() || c == '_');
            result.push_str(&rest[..pos]);
            if continues_name {
                result.push_str(&pattern);
            } else {
                result.push_str(value);
            }
            rest = after;
        }
        result.push_str(rest);
        out = result;
    }
    out
}

/// Names of the `$variables` an expression uses (without the `$`).
pub fn referenced_variables(expr: &str) -> Vec<String> {
    let chars: Vec<char> = expr.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        if chars[i] == '$' {
            let braced = chars.get(i + 1) == Some(&'{');
            let mut j = if braced { i + 2 } else { i + 1 };
            let start = j;
            while j < chars.len() && (chars[j].is_alphanumeric() || chars[j] == '_') {
                j += 1;
            }
            let name: String = chars[start..j].iter().collect();
            if !name.is_empty() && !out.contains(&name) {
                out.push(name);
            }
            i = j;
        } else {
            i += 1;
        }
    }
    out
}

// ---------------------------------------------------------------------------------------------
// Processes for the live test: binaries, free ports, children that die with the test, HTTP.

/// Builds the `loginwatch` binary (debug, like the rest of the tests) and returns its path.
pub fn loginwatch_binary() -> PathBuf {
    cargo_binary("loginwatch", "loginwatch")
}

/// Builds binary `bin` of workspace package `package` (debug) and returns its path.
pub fn cargo_binary(package: &str, bin: &str) -> PathBuf {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let out = std::process::Command::new(cargo)
        .args([
            "build",
            "-p",
            package,
            "--bin",
            bin,
            "--message-format=short",
        ])
        .current_dir(repo_root())
        .output()
        .unwrap_or_else(|e| panic!("cannot run cargo build -p {package}: {e}"));
    assert!(
        out.status.success(),
        "cargo build -p {package} --bin {bin} failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let target = std::env::var("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|_| repo_root().join("target"));
    let path = target.join("debug").join(bin);
    assert!(
        path.is_file(),
        "{} missing after cargo build",
        path.display()
    );
    path
}

/// The subcommands `loginwatch --help` lists.
pub fn loginwatch_subcommands(bin: &Path) -> Vec<String> {
    let out = std::process::Command::new(bin)
        .arg("--help")
        .output()
        .expect("run loginwatch --help");
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    text.lines()
        .skip_while(|l| !l.starts_with("Commands:"))
        .skip(1)
        .take_while(|l| l.starts_with("  "))
        .filter_map(|l| l.split_whitespace().next().map(str::to_string))
        .collect()
}

/// `tansu` on PATH or in `~/.cargo/bin` (installed by .ci/run).
pub fn tansu_binary() -> PathBuf {
    which("tansu")
        .or_else(|| {
            let p = PathBuf::from(std::env::var("HOME").ok()?).join(".cargo/bin/tansu");
            p.is_file().then_some(p)
        })
        .unwrap_or_else(|| panic!("tansu not found on PATH or in ~/.cargo/bin: `cargo install tansu --locked`, as .ci/run does"))
}

pub fn which(program: &str) -> Option<PathBuf> {
    std::env::var_os("PATH")?
        .to_str()?
        .split(':')
        .map(|d| Path::new(d).join(program))
        .find(|p| p.is_file())
}

/// A free loopback TCP port (bound, then released for the child to take).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("bind an ephemeral port")
}

/// A child process killed when dropped; its output goes to `<dir>/<name>.log`, whose tail is
/// printed if the test fails while it runs.
pub struct ChildGuard {
    name: String,
    child: std::process::Child,
    log: PathBuf,
}

impl ChildGuard {
    pub fn spawn(name: &str, cmd: &mut std::process::Command, dir: &Path) -> ChildGuard {
        let log = dir.join(format!("{name}.log"));
        let file = std::fs::File::create(&log).expect("create log file");
        let child = cmd
            .stdout(file.try_clone().expect("clone log handle"))
            .stderr(file)
            .stdin(std::process::Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {name}: {e}"));
        ChildGuard {
            name: name.to_string(),
            child,
            log,
        }
    }

    /// `Some(status)` if the process has exited.
    pub fn exited(&mut self) -> Option<std::process::ExitStatus> {
        self.child.try_wait().ok().flatten()
    }
}

impl Drop for ChildGuard {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() {
            let text = std::fs::read_to_string(&self.log).unwrap_or_default();
            let tail: Vec<&str> = text.lines().rev().take(40).collect();
            eprintln!("---- last lines of {} ----", self.name);
            for l in tail.iter().rev() {
                eprintln!("{l}");
            }
        }
    }
}

/// Polls `ready` every 200 ms until it is true; panics naming `what` after `timeout`.
pub fn wait_for(timeout: std::time::Duration, what: &str, mut ready: impl FnMut() -> bool) {
    let deadline = std::time::Instant::now() + timeout;
    while !ready() {
        assert!(
            std::time::Instant::now() < deadline,
            "timed out after {timeout:?} waiting for {what}"
        );
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
}

/// Minimal HTTP/1.0 GET on loopback (no chunked encoding): `(status, body)`.
pub fn http_get(addr: &str, path_and_query: &str) -> std::io::Result<(u16, String)> {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(addr)?;
    s.set_read_timeout(Some(std::time::Duration::from_secs(10)))?;
    write!(
        s,
        "GET {path_and_query} HTTP/1.0\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )?;
    let mut raw = Vec::new();
    s.read_to_end(&mut raw)?;
    let text = String::from_utf8_lossy(&raw);
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .ok_or_else(|| std::io::Error::other(format!("no HTTP status in {head:?}")))?;
    Ok((status, body.to_string()))
}

/// Percent-encodes everything but RFC 3986 unreserved characters.
pub fn url_encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}
