//! Golden tests: the rendered HEC, ECS, OCSF and CEF payloads of one detection per category.
//! Regenerate with `LOGINWATCH_UPDATE_GOLDEN=1 cargo test -p loginwatch-forwarder --test golden`,
//! then review the diff by eye against the detection format in `docs/contracts.md`.

use std::path::PathBuf;

use loginwatch_forwarder::render::{self, HecMeta, PayloadFormat, SyslogMeta};
use loginwatch_forwarder::samples;
use loginwatch_shared::Category;

fn golden_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/golden")
}

fn check(name: &str, actual: &str) {
    let path = golden_dir().join(name);
    if std::env::var_os("LOGINWATCH_UPDATE_GOLDEN").is_some() {
        std::fs::create_dir_all(golden_dir()).unwrap();
        std::fs::write(&path, actual).unwrap();
        return;
    }
    let expected = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "{}: {e}; run with LOGINWATCH_UPDATE_GOLDEN=1 once",
            path.display()
        )
    });
    assert_eq!(actual, expected, "{name} differs from its golden file");
}

fn pretty(v: &serde_json::Value) -> String {
    serde_json::to_string_pretty(v).unwrap() + "\n"
}

fn hec_meta() -> HecMeta {
    HecMeta {
        host: "loginwatch-forwarder-1".into(),
        source: "loginwatch".into(),
        sourcetype: "loginwatch:detection".into(),
        index: Some("security".into()),
    }
}

#[test]
fn ecs_payloads_match_golden() {
    for c in Category::ALL {
        check(
            &format!("{c}.ecs.json"),
            &pretty(&render::ecs(&samples::detection(c))),
        );
    }
}

#[test]
fn hec_envelopes_match_golden() {
    for c in Category::ALL {
        let env = render::hec_envelope(&samples::detection(c), &hec_meta(), PayloadFormat::Ecs);
        check(&format!("{c}.hec.json"), &pretty(&env));
    }
}

#[test]
fn ocsf_findings_match_golden() {
    for c in Category::ALL {
        check(
            &format!("{c}.ocsf.json"),
            &pretty(&render::ocsf(&samples::detection(c))),
        );
    }
}

#[test]
fn cef_syslog_lines_match_golden() {
    let meta = SyslogMeta {
        facility: 10,
        hostname: "loginwatch-forwarder-1".into(),
        app_name: "loginwatch".into(),
    };
    for c in Category::ALL {
        check(
            &format!("{c}.cef.txt"),
            &(render::syslog_cef(&samples::detection(c), &meta) + "\n"),
        );
    }
}

#[test]
fn terminal_lines_match_golden() {
    let lines: String = Category::ALL
        .iter()
        .map(|c| render::terminal_line(&samples::detection(*c), false) + "\n")
        .collect();
    check("terminal.txt", &lines);
}

/// Properties every rendering must have whatever the golden files say.
#[test]
fn renderings_carry_the_detection_id_and_required_fields() {
    for c in Category::ALL {
        let d = samples::detection(c);
        let ecs = render::ecs(&d);
        assert_eq!(ecs["event"]["kind"], "alert");
        assert_eq!(ecs["rule"]["category"], c.as_str());
        let back: loginwatch_shared::Detection = serde_json::from_value(ecs).unwrap();
        assert_eq!(back, d, "ECS is the detection itself");

        let hec = render::hec_envelope(&d, &hec_meta(), PayloadFormat::Ocsf);
        assert_eq!(hec["event"]["class_uid"], 2004);
        assert_eq!(hec["fields"]["rule_id"], d.rule.id);
        assert_eq!(hec["fields"]["org_id"], d.cloud.account.id);
        let t = hec["time"].as_f64().unwrap();
        assert!((t * 1000.0 - d.timestamp.timestamp_millis() as f64).abs() < 1.0);

        let ocsf = render::ocsf(&d);
        assert_eq!(ocsf["type_uid"], 200401);
        assert_eq!(ocsf["category_uid"], 2);
        assert_eq!(ocsf["finding_info"]["uid"], d.event.id);
        assert_eq!(ocsf["severity_id"], d.event.severity);
        assert_eq!(
            ocsf["finding_info"]["related_events"]
                .as_array()
                .unwrap()
                .len(),
            d.loginwatch.evidence.len()
        );

        let cef = render::cef(&d);
        assert!(cef.starts_with("CEF:0|loginwatch|loginwatch|"));
        assert!(cef.contains(&format!("externalId={}", d.event.id)));
        assert!(!cef.contains('\n'), "CEF must be one line: {cef}");
    }
}
