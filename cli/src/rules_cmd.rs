//! `loginwatch rules list | test | explain ID`: the rule library as a detection engineer sees it.

use std::io::Write;
use std::path::PathBuf;

use loginwatch_analyzer::rules::{explain, Rule, WindowSpec};
use loginwatch_analyzer::state::TABLES;

use crate::engine::RuleSource;

#[derive(Debug, Clone, clap::Args)]
pub struct RulesArgs {
    /// Rule directory (default: the rules built into this binary).
    #[arg(long, global = true, value_name = "DIR")]
    pub rules: Option<PathBuf>,
    #[command(subcommand)]
    pub command: RulesCommand,
}

#[derive(Debug, Clone, clap::Subcommand)]
pub enum RulesCommand {
    /// List the rules with category, window and severity.
    List,
    /// Run every rule's recorded test cases (exit 0 all pass, 1 a case fails, 2 the rules cannot load).
    Test,
    /// Show a rule's description, parameters, SQL and the columns and state tables it needs.
    Explain {
        /// Rule id (e.g. LW-001) or file stem.
        id: String,
    },
}

/// `tumbling 15m`, `hopping 1h/5m`, `per_event (summary 1h)`…
pub fn window_text(w: &WindowSpec) -> String {
    match w {
        WindowSpec::PerEvent { summary: Some(s) } => {
            format!("per_event (repeats summarised per {s})")
        }
        WindowSpec::PerEvent { summary: None } => "per_event".into(),
        WindowSpec::EventTime => "event_time".into(),
        WindowSpec::Tumbling { size } => format!("tumbling {size}"),
        WindowSpec::Hopping { size, slide } => format!("hopping {size} every {slide}"),
        WindowSpec::Session { gap, max_duration } => {
            format!("session gap {gap} (max {max_duration})")
        }
    }
}

fn contains_word(sql: &str, word: &str) -> bool {
    let bytes = sql.as_bytes();
    let is_ident = |b: u8| b.is_ascii_alphanumeric() || b == b'_';
    let lower = sql.to_ascii_lowercase();
    let mut from = 0;
    while let Some(pos) = lower[from..].find(word) {
        let start = from + pos;
        let end = start + word.len();
        let before_ok = start == 0 || !is_ident(bytes[start - 1]);
        let after_ok = end >= bytes.len() || !is_ident(bytes[end]);
        if before_ok && after_ok {
            return true;
        }
        from = end;
    }
    false
}

/// The `logins` columns and the state tables a rule's SQL refers to.
pub fn needs(rule: &Rule) -> (Vec<String>, Vec<&'static str>) {
    let columns = loginwatch_shared::arrow::login_schema()
        .fields()
        .iter()
        .map(|f| f.name().clone())
        .filter(|name| contains_word(&rule.sql, name))
        .collect();
    let tables = TABLES
        .iter()
        .copied()
        .filter(|t| contains_word(&rule.sql, t))
        .collect();
    (columns, tables)
}

pub fn run(args: RulesArgs) -> i32 {
    let source = match &args.rules {
        Some(d) => RuleSource::Dir(d.clone()),
        None => RuleSource::Embedded,
    };
    let rules = match source.load() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("loginwatch rules: {e}");
            return 2;
        }
    };
    let mut out = std::io::stdout().lock();
    match args.command {
        RulesCommand::List => {
            let _ = writeln!(
                out,
                "{:<8} {:<24} {:<34} {:<9} {:<10} NAME",
                "ID", "CATEGORY", "WINDOW", "SEVERITY", "MITRE"
            );
            for r in &rules {
                let s = &r.spec;
                let _ = writeln!(
                    out,
                    "{:<8} {:<24} {:<34} {:<9} {:<10} {}",
                    s.id,
                    s.category.as_str(),
                    window_text(&s.window),
                    s.severity.as_str(),
                    s.mitre.technique_id,
                    s.name
                );
            }
            let _ = writeln!(out, "{} rules from {}", rules.len(), source.describe());
            0
        }
        RulesCommand::Explain { id } => match explain(&rules, &id) {
            Some(text) => {
                let rule = rules
                    .iter()
                    .find(|r| r.spec.id.eq_ignore_ascii_case(&id) || r.stem() == id)
                    .expect("explain found it");
                let (columns, tables) = needs(rule);
                let _ = write!(out, "{text}");
                let _ = writeln!(
                    out,
                    "\nneeds columns of `logins`: {}",
                    if columns.is_empty() {
                        "-".into()
                    } else {
                        columns.join(", ")
                    }
                );
                let _ = writeln!(
                    out,
                    "needs state tables: {}",
                    if tables.is_empty() {
                        "-".into()
                    } else {
                        tables.join(", ")
                    }
                );
                0
            }
            None => {
                let known: Vec<&str> = rules.iter().map(|r| r.spec.id.as_str()).collect();
                eprintln!(
                    "loginwatch rules explain: no rule {id:?} (known: {})",
                    known.join(", ")
                );
                2
            }
        },
        RulesCommand::Test => {
            let (dir, _guard) = match source.materialize() {
                Ok(d) => d,
                Err(e) => {
                    eprintln!("loginwatch rules test: {e}");
                    return 2;
                }
            };
            let rt = match tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                Ok(rt) => rt,
                Err(e) => {
                    eprintln!("loginwatch rules test: cannot start a runtime: {e}");
                    return 2;
                }
            };
            match rt.block_on(loginwatch_analyzer::batch::run_tests(&dir)) {
                Ok(report) => {
                    let _ = writeln!(out, "{report}");
                    if report.passed() {
                        0
                    } else {
                        1
                    }
                }
                Err(e) => {
                    eprintln!("loginwatch rules test: {e}");
                    2
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_whole_words_only() {
        assert!(contains_word("SELECT user_id FROM logins", "user_id"));
        assert!(!contains_word("SELECT user_id_x FROM logins", "user_id"));
        assert!(contains_word("JOIN known_ips k ON", "known_ips"));
        assert!(!contains_word("SELECT source_ip_count", "source_ip"));
    }
}
