//! Every shipped rule plans; broken rules are refused with their file name.

use std::path::{Path, PathBuf};

use loginwatch_analyzer::rules::{load_dir, Rule};
use loginwatch_analyzer::{Engine, EngineConfig};
use loginwatch_shared::Category;

fn rules_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../rules")
}

#[tokio::test]
async fn shipped_rules_plan_and_cover_every_category() {
    let rules = load_dir(&rules_dir()).unwrap();
    for c in Category::ALL {
        assert!(
            rules.iter().any(|r| r.spec.category == c),
            "no rule for category {c}"
        );
    }
    if let Err(e) = Engine::new(rules, EngineConfig::default()).await {
        panic!("{e}");
    }
}

fn with_sql(sql: &str) -> Rule {
    let text = format!(
        r#"
id = "T-9"
name = "broken"
category = "brute_force"
severity = "low"
description = "d"
mitre = {{ technique_id = "T1110" }}
window = {{ type = "tumbling", size = "5m" }}
sql = """{sql}"""
"#
    );
    Rule::from_toml(Path::new("rules/broken.toml"), &text).unwrap()
}

#[tokio::test]
async fn unknown_column_is_refused_naming_the_file() {
    let rule = with_sql("SELECT 'k' AS key, event_time AS window_start, org_id FROM logins WHERE no_such_column = 1");
    let err = Engine::new(vec![rule], EngineConfig::default())
        .await
        .err()
        .expect("must refuse")
        .to_string();
    assert!(err.contains("rules/broken.toml"), "{err}");
    assert!(err.contains("no_such_column"), "{err}");
}

#[tokio::test]
async fn unknown_table_is_refused() {
    let rule = with_sql("SELECT 'k' AS key, event_time AS window_start, org_id FROM known_devices");
    let err = Engine::new(vec![rule], EngineConfig::default())
        .await
        .err()
        .expect("must refuse")
        .to_string();
    assert!(
        err.contains("rules/broken.toml") && err.contains("known_devices"),
        "{err}"
    );
}

#[tokio::test]
async fn bad_sql_and_missing_output_columns_are_refused() {
    let err = Engine::new(
        vec![with_sql("SELEC key FROM logins")],
        EngineConfig::default(),
    )
    .await
    .err()
    .expect("must refuse")
    .to_string();
    assert!(err.contains("rules/broken.toml"), "{err}");
    let err = Engine::new(
        vec![with_sql(
            "SELECT org_id, event_time AS window_start FROM logins",
        )],
        EngineConfig::default(),
    )
    .await
    .err()
    .expect("must refuse")
    .to_string();
    assert!(err.contains("`key`"), "{err}");
}
