//! Batch mode: the streaming engine over a finite set of events (`loginwatch scan`, rule tests).
//!
//! Events may come in any order: they are sorted by event time and fed in chunks, each chunk
//! followed by a trigger, exactly as the streaming analyzer would see a well-ordered stream, so
//! the detections (and their ids) equal what the streaming analyzer produces on the same history.

use std::path::{Path, PathBuf};
use std::time::Instant;

use loginwatch_shared::{Detection, LoginEvent};
use serde::{Deserialize, Serialize};

use crate::engine::{Engine, EngineConfig, EngineError};
use crate::rules::{load_dir, Rule};

/// Events per trigger in batch mode.
pub const CHUNK: usize = 4096;

/// Incremental batch runner: feed event-time-ordered chunks (each at most `allowed_lateness`
/// out of order with the previous ones), then [`Batch::finish`]. Memory holds only the open
/// windows and the baselines, not the whole input.
pub struct Batch {
    engine: Engine,
    started: Instant,
    detections: Vec<Detection>,
}

impl Batch {
    pub async fn new(rules: Vec<Rule>, cfg: EngineConfig) -> Result<Batch, EngineError> {
        Ok(Batch {
            engine: Engine::new(rules, cfg).await?,
            started: Instant::now(),
            detections: Vec::new(),
        })
    }

    pub async fn feed(&mut self, events: Vec<LoginEvent>) -> Result<(), EngineError> {
        let mut in_chunk = 0;
        for e in events {
            // One partition whose clock never idles: the watermark follows the data.
            self.engine.ingest(0, e, self.started);
            in_chunk += 1;
            if in_chunk == CHUNK {
                let d = self.engine.trigger(self.started).await?;
                self.detections.extend(d);
                in_chunk = 0;
            }
        }
        if in_chunk > 0 {
            let d = self.engine.trigger(self.started).await?;
            self.detections.extend(d);
        }
        Ok(())
    }

    pub async fn finish(mut self) -> Result<Vec<Detection>, EngineError> {
        let d = self.engine.finish().await?;
        self.detections.extend(d);
        Ok(self.detections)
    }
}

/// Runs `rules` over `events` (any order) and returns every detection.
pub async fn run(
    rules: Vec<Rule>,
    cfg: EngineConfig,
    mut events: Vec<LoginEvent>,
) -> Result<Vec<Detection>, EngineError> {
    events.sort_by(|a, b| (a.event_time, &a.event_id).cmp(&(b.event_time, &b.event_id)));
    let mut batch = Batch::new(rules, cfg).await?;
    batch.feed(events).await?;
    batch.finish().await
}

/// One expected detection of a rule test (`<case>.expected.jsonl`); absent fields are not compared.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Expected {
    /// `event.start`, RFC 3339.
    pub start: String,
    pub severity: String,
    pub count: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_ip: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub application: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub country_iso: Option<String>,
    /// Contributing event ids (order ignored).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub evidence: Option<Vec<String>>,
    /// A fragment the one-line explanation must contain.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message_contains: Option<String>,
}

impl Expected {
    /// What a detection looks like in the expected-file shape (used to print surprises).
    pub fn observed(d: &Detection) -> Expected {
        let mut evidence = d.loginwatch.evidence.clone();
        evidence.sort();
        Expected {
            start: loginwatch_shared::time::to_rfc3339_millis(&d.event.start),
            severity: d.loginwatch.severity.as_str().to_string(),
            count: d.loginwatch.count,
            user_id: d.user.as_ref().and_then(|u| u.id.clone()),
            source_ip: d.source.as_ref().and_then(|s| s.ip.clone()),
            application: d.salesforce.login.application.clone(),
            country_iso: d
                .source
                .as_ref()
                .and_then(|s| s.geo.as_ref())
                .and_then(|g| g.country_iso_code.clone()),
            evidence: Some(evidence),
            message_contains: None,
        }
    }

    fn matches(&self, d: &Detection) -> bool {
        let o = Expected::observed(d);
        let start_ok = chrono::DateTime::parse_from_rfc3339(&self.start)
            .map(|t| t.with_timezone(&chrono::Utc) == d.event.start)
            .unwrap_or(false);
        let eq = |want: &Option<String>, got: &Option<String>| want.is_none() || want == got;
        start_ok
            && self.severity == o.severity
            && self.count == o.count
            && eq(&self.user_id, &o.user_id)
            && eq(&self.source_ip, &o.source_ip)
            && eq(&self.application, &o.application)
            && eq(&self.country_iso, &o.country_iso)
            && self.evidence.as_ref().is_none_or(|e| {
                let mut e = e.clone();
                e.sort();
                Some(e) == o.evidence
            })
            && self
                .message_contains
                .as_ref()
                .is_none_or(|m| d.message.contains(m.as_str()))
    }
}

/// The outcome of one recorded case.
#[derive(Debug, Clone)]
pub struct CaseResult {
    pub rule_id: String,
    pub case: String,
    pub input: PathBuf,
    pub detections: usize,
    pub problems: Vec<String>,
}

impl CaseResult {
    pub fn passed(&self) -> bool {
        self.problems.is_empty()
    }
}

/// The outcome of `loginwatch rules test`.
#[derive(Debug, Clone, Default)]
pub struct TestReport {
    pub cases: Vec<CaseResult>,
    /// Rules without any recorded case.
    pub untested: Vec<String>,
}

impl TestReport {
    pub fn passed(&self) -> bool {
        self.untested.is_empty() && self.cases.iter().all(CaseResult::passed)
    }
}

impl std::fmt::Display for TestReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for c in &self.cases {
            let status = if c.passed() { "ok" } else { "FAILED" };
            writeln!(
                f,
                "{status:6} {} {} ({} detections)",
                c.rule_id, c.case, c.detections
            )?;
            for p in &c.problems {
                writeln!(f, "         {p}")?;
            }
        }
        for r in &self.untested {
            writeln!(
                f,
                "FAILED {r}: no recorded test under tests/<rule file stem>/"
            )?;
        }
        let failed = self.cases.iter().filter(|c| !c.passed()).count() + self.untested.len();
        write!(
            f,
            "{} passed, {failed} failed",
            self.cases.len() + self.untested.len() - failed
        )
    }
}

#[derive(Debug, thiserror::Error)]
pub enum RuleTestError {
    #[error(transparent)]
    Engine(#[from] EngineError),
    #[error(transparent)]
    Rule(#[from] crate::rules::RuleError),
    #[error("{}: line {line}: {message}", path.display())]
    Data {
        path: PathBuf,
        line: usize,
        message: String,
    },
}

fn read_jsonl<T: serde::de::DeserializeOwned>(path: &Path) -> Result<Vec<T>, RuleTestError> {
    let text = std::fs::read_to_string(path).map_err(|e| RuleTestError::Data {
        path: path.to_path_buf(),
        line: 0,
        message: e.to_string(),
    })?;
    text.lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty() && !l.trim_start().starts_with("//"))
        .map(|(i, l)| {
            serde_json::from_str(l).map_err(|e| RuleTestError::Data {
                path: path.to_path_buf(),
                line: i + 1,
                message: e.to_string(),
            })
        })
        .collect()
}

/// Reads a JSON-lines file of [`LoginEvent`]s.
pub fn read_events(path: &Path) -> Result<Vec<LoginEvent>, RuleTestError> {
    read_jsonl(path)
}

/// Runs every rule's recorded cases: `<dir>/tests/<rule file stem>/<case>.input.jsonl` through
/// the whole rule set in batch mode, comparing that rule's detections with
/// `<case>.expected.jsonl` (an empty file asserts the rule stays quiet).
pub async fn run_tests(dir: &Path) -> Result<TestReport, RuleTestError> {
    let rules = load_dir(dir)?;
    // Validate once up front so a broken rule is reported as such, not as a failing case.
    Engine::new(rules.clone(), EngineConfig::default()).await?;
    let mut report = TestReport::default();
    for rule in &rules {
        let folder = dir.join("tests").join(rule.stem());
        let mut inputs: Vec<PathBuf> = std::fs::read_dir(&folder)
            .map(|rd| {
                rd.filter_map(|e| e.ok().map(|e| e.path()))
                    .filter(|p| p.to_string_lossy().ends_with(".input.jsonl"))
                    .collect()
            })
            .unwrap_or_default();
        inputs.sort();
        if inputs.is_empty() {
            report
                .untested
                .push(format!("{} ({})", rule.spec.id, rule.file.display()));
            continue;
        }
        for input in inputs {
            let name = input
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            let case = name.trim_end_matches(".input.jsonl").to_string();
            let expected_path = folder.join(format!("{case}.expected.jsonl"));
            let events = read_events(&input)?;
            let expected: Vec<Expected> = if expected_path.exists() {
                read_jsonl(&expected_path)?
            } else {
                report.cases.push(CaseResult {
                    rule_id: rule.spec.id.clone(),
                    case,
                    input: input.clone(),
                    detections: 0,
                    problems: vec![format!("missing {}", expected_path.display())],
                });
                continue;
            };
            let all = run(rules.clone(), EngineConfig::default(), events).await?;
            let mine: Vec<&Detection> = all.iter().filter(|d| d.rule.id == rule.spec.id).collect();
            let mut unmatched: Vec<&Detection> = mine.clone();
            let mut problems = Vec::new();
            for exp in &expected {
                match unmatched.iter().position(|d| exp.matches(d)) {
                    Some(i) => {
                        unmatched.remove(i);
                    }
                    None => problems.push(format!(
                        "expected but not produced: {}",
                        serde_json::to_string(exp).unwrap_or_default()
                    )),
                }
            }
            for d in unmatched {
                problems.push(format!(
                    "produced but not expected: {} ({})",
                    serde_json::to_string(&Expected::observed(d)).unwrap_or_default(),
                    d.message
                ));
            }
            report.cases.push(CaseResult {
                rule_id: rule.spec.id.clone(),
                case,
                input,
                detections: mine.len(),
                problems,
            });
        }
    }
    Ok(report)
}
