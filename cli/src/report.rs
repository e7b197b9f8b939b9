//! The result of a scan and its readable text rendering (the HTML page is in [`crate::html`]).

use std::collections::BTreeMap;
use std::io::{self, Write};

use loginwatch_shared::terminal::escape;
use loginwatch_shared::{Category, Detection, Severity};

use crate::format::InputFormat;
use crate::inventory::Inventory;

/// Exit codes of `loginwatch scan`, so it can gate a CI job.
pub mod exit {
    /// Every file read completely; no detection.
    pub const CLEAN: i32 = 0;
    /// Every file read completely; at least one detection.
    pub const FINDINGS: i32 = 1;
    /// A file (or a record in it) could not be read, or the rules could not run. Takes precedence
    /// over findings: the audit is incomplete.
    pub const ERRORS: i32 = 2;
}

/// How many example detections are shown per category.
pub const TOP_EXAMPLES: usize = 5;
/// How many record-level errors are quoted per file (all are counted).
pub const QUOTED_RECORD_ERRORS: usize = 3;

/// What happened to one input file.
#[derive(Debug, Clone, Default)]
pub struct FileOutcome {
    pub path: String,
    pub format: Option<InputFormat>,
    /// Events parsed from the file.
    pub events: u64,
    /// Records that could not be parsed (the others were kept).
    pub record_errors: u64,
    pub quoted_errors: Vec<String>,
    /// The file could not be read at all (or stopped being readable part-way).
    pub error: Option<String>,
    /// What reading the file assumed or inferred (time zone, date order).
    pub notes: Vec<String>,
}

impl FileOutcome {
    pub fn new(path: &str) -> Self {
        FileOutcome {
            path: path.to_string(),
            ..Default::default()
        }
    }

    pub fn record_error(&mut self, message: String) {
        self.record_errors += 1;
        if self.quoted_errors.len() < QUOTED_RECORD_ERRORS {
            self.quoted_errors.push(message);
        }
    }

    pub fn failed(&self) -> bool {
        self.error.is_some() || self.record_errors > 0
    }

    /// One line for stderr: `FILE: problem`, terminal-safe (values from the file are escaped).
    pub fn problem_line(&self) -> Option<String> {
        let path = escape(&self.path);
        if let Some(e) = &self.error {
            return Some(format!("{path}: {}", escape(e)));
        }
        if self.record_errors > 0 {
            let first = self.quoted_errors.first().map(String::as_str).unwrap_or("");
            return Some(format!(
                "{path}: {} record(s) could not be parsed and were skipped (first: {})",
                self.record_errors,
                escape(first)
            ));
        }
        None
    }
}

/// Everything a scan found.
#[derive(Debug, Default)]
pub struct ScanReport {
    pub files: Vec<FileOutcome>,
    pub inventory: Inventory,
    pub detections: Vec<Detection>,
    /// Rules evaluated (0 when the engine could not run).
    pub rules: usize,
    /// The rule engine failed (message); detections may be incomplete.
    pub engine_error: Option<String>,
}

impl ScanReport {
    pub fn exit_code(&self) -> i32 {
        if self.engine_error.is_some() || self.files.iter().any(FileOutcome::failed) {
            exit::ERRORS
        } else if !self.detections.is_empty() {
            exit::FINDINGS
        } else {
            exit::CLEAN
        }
    }

    /// Detections grouped by category (fixed category order), each group sorted most severe first.
    pub fn by_category(&self) -> Vec<(Category, Vec<&Detection>)> {
        let mut groups: BTreeMap<Category, Vec<&Detection>> = BTreeMap::new();
        for d in &self.detections {
            groups.entry(d.rule.category).or_default().push(d);
        }
        let mut out: Vec<(Category, Vec<&Detection>)> = groups.into_iter().collect();
        for (_, ds) in &mut out {
            ds.sort_by(|a, b| {
                b.event
                    .severity
                    .cmp(&a.event.severity)
                    .then(b.loginwatch.count.cmp(&a.loginwatch.count))
                    .then(a.event.start.cmp(&b.event.start))
                    .then(a.event.id.cmp(&b.event.id))
            });
        }
        out
    }
}

/// Severity counts of a group: `3 high, 1 medium`.
pub fn severity_breakdown(ds: &[&Detection]) -> String {
    let mut counts: BTreeMap<std::cmp::Reverse<Severity>, usize> = BTreeMap::new();
    for d in ds {
        *counts
            .entry(std::cmp::Reverse(d.loginwatch.severity))
            .or_default() += 1;
    }
    counts
        .into_iter()
        .map(|(s, n)| format!("{n} {}", s.0))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The fields of a detection shown in one line, with `-` for what it does not carry. Values are
/// as in the detection: text renderings pass them through [`escape`], HTML through its own.
pub struct DetectionLine<'a> {
    pub time: String,
    pub category: &'a str,
    pub severity: &'a str,
    pub user: &'a str,
    pub application: &'a str,
    pub source_ip: &'a str,
    pub why: &'a str,
}

impl<'a> DetectionLine<'a> {
    pub fn of(d: &'a Detection) -> Self {
        DetectionLine {
            time: d.event.start.format("%Y-%m-%d %H:%M:%S").to_string(),
            category: d.rule.category.as_str(),
            severity: d.loginwatch.severity.as_str(),
            user: d
                .user
                .as_ref()
                .and_then(|u| u.name.as_deref().or(u.id.as_deref()))
                .unwrap_or("-"),
            application: d.salesforce.login.application.as_deref().unwrap_or("-"),
            source_ip: d
                .source
                .as_ref()
                .and_then(|s| s.ip.as_deref())
                .unwrap_or("-"),
            why: &d.message,
        }
    }
}

/// ANSI styling that is a no-op when colour is off.
#[derive(Clone, Copy)]
pub struct Style {
    pub color: bool,
}

impl Style {
    fn wrap(self, code: &str, s: &str) -> String {
        if self.color {
            format!("\x1b[{code}m{s}\x1b[0m")
        } else {
            s.to_string()
        }
    }
    pub fn bold(self, s: &str) -> String {
        self.wrap("1", s)
    }
    pub fn dim(self, s: &str) -> String {
        self.wrap("2", s)
    }
    pub fn severity(self, sev: Severity, s: &str) -> String {
        let code = match sev {
            Severity::Critical => "1;35",
            Severity::High => "1;31",
            Severity::Medium => "33",
            Severity::Low => "36",
        };
        self.wrap(code, s)
    }
}

/// Whether to colour a stream: it is a terminal and `NO_COLOR` is unset (https://no-color.org).
pub fn want_color(is_terminal: bool) -> bool {
    is_terminal && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
}

fn pad(s: &str, width: usize) -> String {
    let n = s.chars().count();
    if n >= width {
        s.to_string()
    } else {
        format!("{s}{}", " ".repeat(width - n))
    }
}

fn truncate(s: &str, width: usize) -> String {
    if s.chars().count() <= width {
        s.to_string()
    } else {
        let mut t: String = s.chars().take(width.saturating_sub(1)).collect();
        t.push('…');
        t
    }
}

/// What the Setup Login History export cannot tell (it has neither user ids nor login sub-types).
pub const SETUP_CSV_LIMITS: &str = "note: this export has no login sub-type, so OAuth Username-Password logins show as oauth_other (SOAP login() is still recognised); users are keyed by username. Scan an EventLogFile Login CSV or the LoginHistory API for the flow of each OAuth login.";

/// Renders the readable report. Every value that comes from the inputs (paths, user names,
/// applications, IPs, messages, quoted errors) is passed through [`escape`] first, so a crafted
/// login field cannot move the cursor, recolour the terminal or print lines of its own.
pub fn render_text(report: &ScanReport, w: &mut dyn Write, style: Style) -> io::Result<()> {
    let inv = &report.inventory;
    writeln!(w, "{}", style.bold("loginwatch scan report"))?;
    let read_ok = report.files.iter().filter(|f| f.error.is_none()).count();
    write!(
        w,
        "{} file(s), {} read; {} login events",
        report.files.len(),
        read_ok,
        inv.events()
    )?;
    if let Some((a, b)) = inv.time_range() {
        write!(
            w,
            " from {} to {}",
            a.format("%Y-%m-%d %H:%M"),
            b.format("%Y-%m-%d %H:%M UTC")
        )?;
    }
    writeln!(w, "; {} rule(s) evaluated", report.rules)?;
    for f in &report.files {
        let fmt = f.format.map(|f| f.as_str()).unwrap_or("?");
        let status = match (&f.error, f.record_errors) {
            (Some(e), _) => style.severity(Severity::High, &format!("ERROR: {}", escape(e))),
            (None, 0) => "ok".to_string(),
            (None, n) => style.severity(Severity::Medium, &format!("{n} record(s) skipped")),
        };
        writeln!(
            w,
            "  {}  [{fmt}]  {} events  {status}",
            escape(&f.path),
            f.events
        )?;
        for q in &f.quoted_errors {
            writeln!(w, "      {}", style.dim(&escape(q)))?;
        }
        for n in &f.notes {
            writeln!(w, "      {}", style.dim(&format!("note: {}", escape(n))))?;
        }
        if f.format == Some(InputFormat::SetupCsv) && f.error.is_none() {
            writeln!(w, "      {}", style.dim(SETUP_CSV_LIMITS))?;
        }
    }
    if let Some(e) = &report.engine_error {
        writeln!(
            w,
            "  {}",
            style.severity(
                Severity::High,
                &format!("rule engine failed: {}", escape(e))
            )
        )?;
    }

    writeln!(w)?;
    writeln!(
        w,
        "{}",
        style.bold("Password-based authentication inventory")
    )?;
    if inv.is_empty() {
        writeln!(
            w,
            "  No OAuth Username-Password or SOAP login() logins in these exports. (A missing login sub-type is never counted as \"not password\": see auth_method oauth_other/unknown below.)"
        )?;
    } else {
        writeln!(
            w,
            "  {} password-based login(s) by {} user/application pair(s):",
            inv.password_logins(),
            inv.entries().len()
        )?;
        writeln!(
            w,
            "  {} {} {} {:>7} {:>7} {:>7} {:>5} {:<10} {:<16} {:<16}",
            pad("USER", 28),
            pad("APPLICATION", 22),
            pad("METHOD", 23),
            "LOGINS",
            "OK",
            "FAILED",
            "IPS",
            "COUNTRIES",
            "FIRST SEEN",
            "LAST SEEN"
        )?;
        for e in inv.entries() {
            let countries = e.countries.iter().cloned().collect::<Vec<_>>().join(" ");
            let countries = escape(&countries);
            writeln!(
                w,
                "  {} {} {} {:>7} {:>7} {:>7} {:>5} {:<10} {:<16} {:<16}",
                pad(&truncate(&escape(&e.key.user), 28), 28),
                pad(&truncate(&escape(&e.key.application), 22), 22),
                pad(e.key.auth_method.as_str(), 23),
                e.logins,
                e.successes,
                e.failures,
                e.distinct_ips_text(),
                truncate(
                    if countries.is_empty() {
                        "-"
                    } else {
                        &countries
                    },
                    10
                ),
                e.first_seen.format("%Y-%m-%d %H:%M"),
                e.last_seen.format("%Y-%m-%d %H:%M"),
            )?;
        }
        writeln!(w)?;
        writeln!(w, "  {}", style.bold("Migration advice"))?;
        for e in inv.entries() {
            writeln!(w, "  - {}", escape(&e.advice()))?;
        }
    }
    let methods: Vec<String> = inv
        .by_method()
        .iter()
        .map(|(m, n)| format!("{m} {n}"))
        .collect();
    if !methods.is_empty() {
        writeln!(w, "  All logins by auth method: {}", methods.join(", "))?;
    }

    writeln!(w)?;
    writeln!(
        w,
        "{}",
        style.bold(&format!("Detections: {}", report.detections.len()))
    )?;
    if report.detections.is_empty() {
        writeln!(w, "  none")?;
    }
    for (cat, ds) in report.by_category() {
        writeln!(
            w,
            "  {} {} ({})",
            style.bold(cat.as_str()),
            ds.len(),
            severity_breakdown(&ds)
        )?;
        for d in ds.iter().take(TOP_EXAMPLES) {
            let l = DetectionLine::of(d);
            writeln!(
                w,
                "    {}  {}  {}  {}  {}  {}",
                l.time,
                style.severity(d.loginwatch.severity, &pad(l.severity, 8)),
                pad(&truncate(&escape(l.user), 28), 28),
                pad(&truncate(&escape(l.application), 20), 20),
                pad(&escape(l.source_ip), 15),
                escape(l.why)
            )?;
        }
        if ds.len() > TOP_EXAMPLES {
            writeln!(
                w,
                "    … and {} more (--format json lists all)",
                ds.len() - TOP_EXAMPLES
            )?;
        }
    }
    writeln!(w)?;
    let verdict = match report.exit_code() {
        exit::CLEAN => "clean (exit 0)".to_string(),
        exit::FINDINGS => format!("{} finding(s) (exit 1)", report.detections.len()),
        _ => "errors: the audit is incomplete (exit 2)".to_string(),
    };
    writeln!(w, "Result: {verdict}")?;
    Ok(())
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::inventory::tests::event;
    use chrono::{TimeZone, Utc};
    use loginwatch_shared::detection::*;
    use loginwatch_shared::AuthMethod;

    pub fn detection(n: i64, cat: Category, sev: Severity, user: &str) -> Detection {
        let t = Utc.with_ymd_and_hms(2026, 11, 2, 9, 0, 0).unwrap() + chrono::Duration::minutes(n);
        Detection {
            timestamp: t,
            message: format!("{cat} by {user}"),
            event: DetectionEvent {
                kind: "alert".into(),
                id: detection_id("r", &format!("{user}{n}"), t),
                category: vec!["authentication".into()],
                start: t,
                end: t,
                severity: sev.number(),
            },
            rule: RuleInfo {
                id: format!("lw-{cat}"),
                name: cat.to_string(),
                category: cat,
                description: String::new(),
            },
            threat: Threat {
                framework: "MITRE ATT&CK".into(),
                technique: Technique {
                    id: "T1078.004".into(),
                    name: None,
                },
            },
            user: Some(UserInfo {
                id: None,
                name: Some(user.into()),
            }),
            source: Some(SourceInfo {
                ip: Some("198.51.100.1".into()),
                geo: None,
            }),
            cloud: CloudInfo {
                account: CloudAccount {
                    id: "00D000000000001AAA".into(),
                },
            },
            salesforce: SalesforceInfo {
                login: SalesforceLogin {
                    application: Some("Legacy ETL".into()),
                    ..Default::default()
                },
            },
            loginwatch: LoginwatchInfo {
                count: 1,
                evidence: vec![],
                remediation: None,
                severity: sev,
            },
        }
    }

    pub fn sample_report() -> ScanReport {
        let mut r = ScanReport {
            rules: 10,
            ..Default::default()
        };
        let mut f = FileOutcome::new("a.json");
        f.format = Some(InputFormat::LoginHistoryJson);
        f.events = 3;
        r.files.push(f);
        for (i, ok) in [true, false, true].into_iter().enumerate() {
            let e = event(
                i as i64,
                AuthMethod::OauthUsernamePassword,
                "etl@acme.com",
                "Legacy ETL",
                "198.51.100.1",
                ok,
            );
            r.inventory.observe(&e);
        }
        for i in 0..7 {
            r.detections.push(detection(
                i,
                Category::OauthUsernamePassword,
                Severity::High,
                "etl@acme.com",
            ));
        }
        r.detections.push(detection(
            9,
            Category::OauthUsernamePassword,
            Severity::Critical,
            "etl@acme.com",
        ));
        r.detections.push(detection(
            10,
            Category::BruteForce,
            Severity::Medium,
            "bob@acme.com",
        ));
        r
    }

    #[test]
    fn text_report_has_inventory_then_grouped_detections() {
        let r = sample_report();
        let mut out = Vec::new();
        render_text(&r, &mut out, Style { color: false }).unwrap();
        let text = String::from_utf8(out).unwrap();
        let inv = text
            .find("Password-based authentication inventory")
            .unwrap();
        let det = text.find("Detections: 9").unwrap();
        assert!(inv < det, "{text}");
        assert!(text.contains("etl@acme.com") && text.contains("Legacy ETL"));
        assert!(
            text.contains("oauth_username_password 8 (1 critical, 7 high)"),
            "{text}"
        );
        assert!(text.contains("brute_force 1 (1 medium)"), "{text}");
        assert!(text.contains("… and 3 more"), "{text}");
        assert!(text.contains("Result: 9 finding(s) (exit 1)"));
        assert!(!text.contains('\x1b'), "no colour when asked for none");
        // Most severe example first.
        let crit = text.find("critical").unwrap();
        let high = text[det..].find("high  ").unwrap() + det;
        assert!(crit < high);
    }

    #[test]
    fn values_from_the_inputs_are_escaped_and_notes_are_shown() {
        let mut r = ScanReport::default();
        let mut f = FileOutcome::new("evil\x1b[31m.csv");
        f.format = Some(InputFormat::ElfCsv);
        f.events = 1;
        f.record_error("line 2: value \"\r\x1b]0;x\x07\"".into());
        f.notes.push("from line 3 (\u{202e}13/04)".into());
        r.files.push(f);
        r.engine_error = Some("bad\nline".into());
        let mut out = Vec::new();
        render_text(&r, &mut out, Style { color: false }).unwrap();
        let text = String::from_utf8(out).unwrap();
        let lines: Vec<&str> = text.lines().skip(2).take(4).collect();
        assert_eq!(
            lines,
            [
                "  evil\\u{1b}[31m.csv  [elf-csv]  1 events  1 record(s) skipped",
                "      line 2: value \"\\r\\u{1b}]0;x\\u{7}\"",
                "      note: from line 3 (\\u{202e}13/04)",
                "  rule engine failed: bad\\nline",
            ]
        );
        assert!(!text.contains(['\x1b', '\r', '\u{7}', '\u{202e}']));
        assert_eq!(
            r.files[0].problem_line().unwrap(),
            "evil\\u{1b}[31m.csv: 1 record(s) could not be parsed and were skipped (first: line 2: \
             value \"\\r\\u{1b}]0;x\\u{7}\")"
        );
    }

    #[test]
    fn exit_codes_follow_the_documented_precedence() {
        let mut r = ScanReport::default();
        assert_eq!(r.exit_code(), exit::CLEAN);
        r.detections
            .push(detection(0, Category::BruteForce, Severity::Medium, "bob"));
        assert_eq!(r.exit_code(), exit::FINDINGS);
        let mut f = FileOutcome::new("bad.csv");
        f.record_error("line 3: bad".into());
        r.files.push(f);
        assert_eq!(r.exit_code(), exit::ERRORS);
        assert!(r.files[0]
            .problem_line()
            .unwrap()
            .starts_with("bad.csv: 1 record(s)"));
    }
}
