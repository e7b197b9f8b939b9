//! Rules are data: one TOML file per rule under `rules/` (id, name, category, severity, MITRE
//! technique, window, parameters and the SQL DataFusion runs), each with recorded tests under
//! `rules/tests/<file stem>/`.
//!
//! The SQL reads the table `logins` ([`loginwatch_shared::arrow::login_schema`]) and may join the
//! baseline state tables of [`crate::state`]. It returns rows in the output contract below; the
//! engine turns each row into a [`loginwatch_shared::Detection`] with
//! `detection_id(rule id, key, window_start)`.
//!
//! Output contract (column: type; only `key`, `window_start` and `org_id` are required):
//! `key` Utf8 (what the detection is about, e.g. `org/user/app/ip`), `window_start` and
//! `window_end` Timestamp, `org_id`, `user_id`, `username`, `source_ip`, `country_iso`,
//! `application`, `login_type`, `login_sub_type`, `api_type`, `auth_method` Utf8,
//! `count` Int64, `evidence` List<Utf8> (or a comma-separated Utf8) of contributing `event_id`s,
//! `severity` Utf8 (`low`…`critical`, overrides the rule's), `message` Utf8 (one-line explanation).
//!
//! Placeholders `{{name}}` in the SQL are replaced at load time by the rule's `[params]` and by
//! the built-ins `{{window}}` (window size or per-event summary period, as an SQL interval),
//! `{{slide}}`, `{{gap}}` and `{{learning_period}}`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use loginwatch_shared::{Category, Severity};
use serde::{Deserialize, Serialize};

use crate::duration::Span;

/// The seed article's remediation, referenced from rule files as `remediation = "password_flow"`.
pub const PASSWORD_FLOW: &str = "password_flow";

/// How the engine feeds a rule and when it emits.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum WindowSpec {
    /// `logins` holds the events that just arrived (late ones included); a (key, window_start)
    /// alerts once, immediately. With `summary`, repeats are summarised once per summary period
    /// when that period closes (id of the summary: key + `#summary`).
    PerEvent {
        #[serde(default)]
        summary: Option<Span>,
    },
    /// Each on-time event once, in event-time order, when the watermark passes it; state tables
    /// hold everything before it. For baseline ("never seen before") rules.
    EventTime,
    /// `GROUP BY date_bin({{window}}, event_time)`; emitted when the window end passes the watermark.
    Tumbling { size: Span },
    /// Windows of `size` starting every `slide`; the SQL expands rows to windows itself.
    Hopping { size: Span, slide: Span },
    /// Per-key bursts separated by more than `gap`; the SQL computes sessions (LAG/SUM OVER) and
    /// returns `window_end` = last event + gap. `max_duration` bounds the retained rows.
    Session {
        gap: Span,
        #[serde(default = "default_max_session")]
        max_duration: Span,
    },
}

fn default_max_session() -> Span {
    Span::hours(6)
}

impl WindowSpec {
    pub fn type_name(&self) -> &'static str {
        match self {
            WindowSpec::PerEvent { .. } => "per_event",
            WindowSpec::EventTime => "event_time",
            WindowSpec::Tumbling { .. } => "tumbling",
            WindowSpec::Hopping { .. } => "hopping",
            WindowSpec::Session { .. } => "session",
        }
    }

    /// How far back (event time) rows must be retained for this rule's windows.
    pub fn retention(&self) -> Span {
        match self {
            WindowSpec::PerEvent { summary } => summary.unwrap_or(Span(0)),
            WindowSpec::EventTime => Span(0),
            WindowSpec::Tumbling { size } => *size,
            WindowSpec::Hopping { size, .. } => *size,
            WindowSpec::Session { gap, max_duration } => Span(gap.0 + max_duration.0),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Mitre {
    /// e.g. `T1078.004`.
    pub technique_id: String,
    #[serde(default)]
    pub technique_name: Option<String>,
}

/// One rule file, as written.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleSpec {
    pub id: String,
    pub name: String,
    pub category: Category,
    pub severity: Severity,
    pub description: String,
    /// Text, or `password_flow` for the seed article's remediation.
    #[serde(default)]
    pub remediation: Option<String>,
    pub mitre: Mitre,
    pub window: WindowSpec,
    /// Baseline rules stay quiet until the entity has this much history.
    #[serde(default)]
    pub learning_period: Option<Span>,
    /// Named thresholds substituted into the SQL as `{{name}}`.
    #[serde(default)]
    pub params: BTreeMap<String, toml::Value>,
    pub sql: String,
}

/// A loaded rule: its spec, the file it came from and its SQL with placeholders expanded.
#[derive(Debug, Clone)]
pub struct Rule {
    pub spec: RuleSpec,
    pub file: PathBuf,
    pub sql: String,
}

impl Rule {
    pub fn id(&self) -> &str {
        &self.spec.id
    }

    pub fn remediation(&self) -> Option<String> {
        self.spec.remediation.as_ref().map(|r| {
            if r == PASSWORD_FLOW {
                loginwatch_shared::detection::PASSWORD_FLOW_REMEDIATION.to_string()
            } else {
                r.clone()
            }
        })
    }

    /// The file stem (`oauth_username_password`), which names the rule's test folder.
    pub fn stem(&self) -> String {
        self.file
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_else(|| self.spec.id.clone())
    }

    /// Parses and expands one rule from TOML text; `file` is used in errors.
    pub fn from_toml(file: &Path, text: &str) -> Result<Rule, RuleError> {
        let spec: RuleSpec = toml::from_str(text).map_err(|e| RuleError::Parse {
            file: file.to_path_buf(),
            message: e.to_string(),
        })?;
        let bad = |message: String| RuleError::Invalid {
            file: file.to_path_buf(),
            message,
        };
        if spec.id.trim().is_empty() {
            return Err(bad(
                "`id` is empty; give the rule an id such as LW-011".into()
            ));
        }
        match &spec.window {
            WindowSpec::Tumbling { size } if size.0 <= 0 => {
                return Err(bad("window.size must be positive".into()))
            }
            WindowSpec::Hopping { size, slide }
                if slide.0 <= 0 || size.0 <= 0 || size.0 % slide.0 != 0 =>
            {
                return Err(bad(
                    "window.size must be a positive multiple of window.slide".into(),
                ))
            }
            WindowSpec::Session { gap, .. } if gap.0 <= 0 => {
                return Err(bad("window.gap must be positive".into()))
            }
            WindowSpec::PerEvent { summary: Some(s) } if s.0 <= 0 => {
                return Err(bad("window.summary must be positive".into()))
            }
            _ => {}
        }
        let sql = expand(&spec).map_err(bad)?;
        Ok(Rule {
            spec,
            file: file.to_path_buf(),
            sql,
        })
    }

    pub fn load(file: &Path) -> Result<Rule, RuleError> {
        let text = std::fs::read_to_string(file).map_err(|e| RuleError::Io {
            path: file.to_path_buf(),
            message: e.to_string(),
        })?;
        Rule::from_toml(file, &text)
    }
}

fn param_text(v: &toml::Value) -> Result<String, String> {
    Ok(match v {
        toml::Value::Integer(i) => i.to_string(),
        toml::Value::Float(f) => format!("{f:?}"),
        toml::Value::Boolean(b) => b.to_string(),
        // Strings are substituted as written (they may be SQL fragments such as a list of values).
        toml::Value::String(s) => s.clone(),
        other => {
            return Err(format!(
                "parameter value {other} must be a number, boolean or string"
            ))
        }
    })
}

fn expand(spec: &RuleSpec) -> Result<String, String> {
    let mut values: BTreeMap<String, String> = BTreeMap::new();
    for (k, v) in &spec.params {
        values.insert(
            k.clone(),
            param_text(v).map_err(|e| format!("params.{k}: {e}"))?,
        );
    }
    // `{{name}}` is an SQL interval, `{{name_ms}}` the same span in milliseconds (for arithmetic on
    // `CAST(event_time AS BIGINT)`).
    let builtin = |name: &str, span: Option<Span>, values: &mut BTreeMap<String, String>| {
        if let Some(s) = span {
            values
                .entry(name.to_string())
                .or_insert_with(|| s.sql_interval());
            values
                .entry(format!("{name}_ms"))
                .or_insert_with(|| s.as_millis().to_string());
        }
    };
    match &spec.window {
        WindowSpec::PerEvent { summary } => builtin(
            "window",
            Some(summary.unwrap_or(Span::hours(1))),
            &mut values,
        ),
        WindowSpec::EventTime => {}
        WindowSpec::Tumbling { size } => builtin("window", Some(*size), &mut values),
        WindowSpec::Hopping { size, slide } => {
            builtin("window", Some(*size), &mut values);
            builtin("slide", Some(*slide), &mut values);
        }
        WindowSpec::Session { gap, .. } => builtin("gap", Some(*gap), &mut values),
    }
    builtin("learning_period", spec.learning_period, &mut values);

    let mut out = String::with_capacity(spec.sql.len());
    let mut rest = spec.sql.as_str();
    while let Some(start) = rest.find("{{") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let end = after
            .find("}}")
            .ok_or_else(|| "unterminated `{{` in sql".to_string())?;
        let name = after[..end].trim();
        let value = values.get(name).ok_or_else(|| {
            format!(
                "sql uses {{{{{name}}}}} but the rule defines no such parameter; add it under [params] (known: {})",
                values.keys().cloned().collect::<Vec<_>>().join(", ")
            )
        })?;
        out.push_str(value);
        rest = &after[end + 2..];
    }
    out.push_str(rest);
    Ok(out)
}

#[derive(Debug, thiserror::Error)]
pub enum RuleError {
    #[error("rule file {}: cannot read: {message}", path.display())]
    Io { path: PathBuf, message: String },
    #[error("rule file {}: {message}", file.display())]
    Parse { file: PathBuf, message: String },
    #[error("rule file {}: {message}", file.display())]
    Invalid { file: PathBuf, message: String },
    #[error("rule file {}: the SQL does not plan: {message}", file.display())]
    Sql { file: PathBuf, message: String },
    #[error("rules directory {}: {message}", dir.display())]
    Dir { dir: PathBuf, message: String },
}

/// Loads every `*.toml` in `dir` (sorted by file name). Duplicate ids are an error.
/// This only parses; [`crate::engine::Engine::new`] plans and validates the SQL.
pub fn load_dir(dir: &Path) -> Result<Vec<Rule>, RuleError> {
    let entries = std::fs::read_dir(dir).map_err(|e| RuleError::Dir {
        dir: dir.to_path_buf(),
        message: format!("cannot read: {e}; point rules_dir at the folder holding the rule files"),
    })?;
    let mut files: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "toml") && p.is_file())
        .collect();
    files.sort();
    if files.is_empty() {
        return Err(RuleError::Dir {
            dir: dir.to_path_buf(),
            message: "holds no *.toml rule files".into(),
        });
    }
    let mut rules: Vec<Rule> = Vec::new();
    for f in files {
        let rule = Rule::load(&f)?;
        if let Some(other) = rules.iter().find(|r| r.spec.id == rule.spec.id) {
            return Err(RuleError::Invalid {
                file: f.clone(),
                message: format!(
                    "id {} is already used by {}",
                    rule.spec.id,
                    other.file.display()
                ),
            });
        }
        rules.push(rule);
    }
    Ok(rules)
}

/// A human explanation of one rule (for `loginwatch rules explain ID`).
pub fn explain(rules: &[Rule], id: &str) -> Option<String> {
    let r = rules
        .iter()
        .find(|r| r.spec.id.eq_ignore_ascii_case(id) || r.stem() == id)?;
    let s = &r.spec;
    let mut out = String::new();
    out.push_str(&format!("{} {} ({})\n", s.id, s.name, s.category));
    out.push_str(&format!("file:      {}\n", r.file.display()));
    out.push_str(&format!("severity:  {}\n", s.severity));
    out.push_str(&format!(
        "mitre:     {}{}\n",
        s.mitre.technique_id,
        s.mitre
            .technique_name
            .as_deref()
            .map(|n| format!(" {n}"))
            .unwrap_or_default()
    ));
    out.push_str(&format!(
        "window:    {}\n",
        toml::to_string(&s.window)
            .unwrap_or_default()
            .replace('\n', " ")
            .trim()
    ));
    if let Some(l) = s.learning_period {
        out.push_str(&format!("learning:  {l}\n"));
    }
    for (k, v) in &s.params {
        out.push_str(&format!("param:     {k} = {v}\n"));
    }
    out.push_str(&format!("\n{}\n", s.description.trim()));
    if let Some(rem) = r.remediation() {
        out.push_str(&format!("\nremediation: {rem}\n"));
    }
    out.push_str(&format!("\nSQL:\n{}\n", r.sql.trim()));
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINIMAL: &str = r#"
id = "T-1"
name = "test"
category = "brute_force"
severity = "high"
description = "d"
mitre = { technique_id = "T1110" }
window = { type = "tumbling", size = "15m" }
params = { min_failures = 10 }
sql = "SELECT 'k' AS key, date_bin({{window}}, event_time) AS window_start, org_id FROM logins GROUP BY 2, 3 HAVING count(*) >= {{min_failures}}"
"#;

    #[test]
    fn expands_params_and_builtins() {
        let r = Rule::from_toml(Path::new("t.toml"), MINIMAL).unwrap();
        assert!(
            r.sql.contains("INTERVAL '900000 milliseconds'"),
            "{}",
            r.sql
        );
        assert!(r.sql.contains(">= 10"), "{}", r.sql);
    }

    #[test]
    fn unknown_placeholder_names_file_and_param() {
        let text = MINIMAL.replace("{{min_failures}}", "{{min_fails}}");
        let e = Rule::from_toml(Path::new("rules/bf.toml"), &text)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("rules/bf.toml") && e.contains("min_fails"),
            "{e}"
        );
    }

    #[test]
    fn unknown_key_is_rejected() {
        let text = format!("{MINIMAL}\nthreshold = 3\n");
        let e = Rule::from_toml(Path::new("x.toml"), &text)
            .unwrap_err()
            .to_string();
        assert!(e.contains("x.toml") && e.contains("threshold"), "{e}");
    }

    #[test]
    fn bad_window_is_rejected() {
        let text = MINIMAL.replace(
            r#"{ type = "tumbling", size = "15m" }"#,
            r#"{ type = "hopping", size = "15m", slide = "7m" }"#,
        );
        let e = Rule::from_toml(Path::new("x.toml"), &text)
            .unwrap_err()
            .to_string();
        assert!(e.contains("multiple"), "{e}");
    }
}
