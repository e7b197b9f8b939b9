//! Benchmark of `loginwatch scan` on a 1,000,000-row generated export (EventLogFile Login CSV).
//!
//! `cargo bench -p loginwatch --bench scan` (env `SCAN_BENCH_ROWS` to change the size). Reports
//! rows per second of (a) the parse floor — the shared ELF parser alone, reading the same file —
//! and (b) the whole scan (parse, inventory, external sort, every rule in event-time order), their
//! ratio, and peak memory (VmHWM of this process) after each phase.

use std::path::PathBuf;
use std::time::Instant;

use chrono::{TimeZone, Utc};
use loginwatch::engine::RuleSource;
use loginwatch::scan::{scan, ParseOptions};
use loginwatch_sfsim::export::{export_file, ExportFormat, ExportOptions};
use loginwatch_sfsim::render::SetupZone;
use loginwatch_sfsim::{GenConfig, SubTypeSpelling};

/// mimalloc: the rule engine allocates many small, short-lived objects per execution.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn vm_hwm_mib() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<f64>().ok())
        })
        .map(|kb| kb / 1024.0)
        .unwrap_or(f64::NAN)
}

fn main() {
    let rows: u64 = std::env::var("SCAN_BENCH_ROWS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000);
    let dir = tempfile::tempdir().expect("tempdir");
    let file: PathBuf = dir.path().join("Login.csv");
    // A 2,000-user org (about 240 logins per hour): a million logins span about 170 days.
    let mut cfg = GenConfig::new(
        loginwatch_sfsim::config::DEFAULT_ORG_ID,
        "acme",
        Utc.with_ymd_and_hms(2026, 1, 5, 0, 0, 0).unwrap(),
    );
    cfg.interactive_users = 2000;
    cfg.integrations = 20;
    let opts = ExportOptions {
        format: ExportFormat::ElfCsv,
        rows: Some(rows),
        until: None,
        api_version: "62.0".into(),
        spelling: SubTypeSpelling::Label,
        setup_zone: SetupZone::UTC,
    };
    let t = Instant::now();
    let n = export_file(1, &cfg, &opts, &file, None).expect("export");
    let bytes = std::fs::metadata(&file).map(|m| m.len()).unwrap_or(0);
    println!(
        "generated {n} rows ({:.1} MiB) in {:.2?}; VmHWM {:.0} MiB",
        bytes as f64 / 1048576.0,
        t.elapsed(),
        vm_hwm_mib()
    );

    // Parse floor: the shared parser alone over the same bytes.
    let t = Instant::now();
    let reader = loginwatch::format::open(&file).expect("open");
    let ctx = loginwatch_shared::parse::ParseContext::new(loginwatch_sfsim::config::DEFAULT_ORG_ID);
    let mut parsed = 0u64;
    for r in loginwatch_shared::parse::elf::reader(reader, &ctx).expect("header") {
        if r.is_ok() {
            parsed += 1;
        }
    }
    let floor = t.elapsed().as_secs_f64();
    println!(
        "parse floor: {parsed} rows in {floor:.2} s = {:.0} rows/s; VmHWM {:.0} MiB",
        parsed as f64 / floor,
        vm_hwm_mib()
    );

    let t = Instant::now();
    let opts = ParseOptions {
        input_format: None,
        org_id: loginwatch_sfsim::config::DEFAULT_ORG_ID.into(),
        time_zone: None,
        date_order: None,
    };
    let report = scan(
        std::slice::from_ref(&file),
        &opts,
        &RuleSource::Embedded,
        &indicatif::ProgressBar::hidden(),
    );
    let total = t.elapsed().as_secs_f64();
    assert!(report.engine_error.is_none(), "{:?}", report.engine_error);
    println!(
        "scan: {} rows in {total:.2} s = {:.0} rows/s; {} detections; {} password-based logins; VmHWM {:.0} MiB",
        report.inventory.events(),
        report.inventory.events() as f64 / total,
        report.detections.len(),
        report.inventory.password_logins(),
        vm_hwm_mib()
    );
    println!("ratio scan time / parse floor: {:.1}x", total / floor);
    if let Some((first, last)) = report.inventory.time_range() {
        println!(
            "event time spanned: {first} .. {last} ({:.0} hours)",
            (last - first).num_minutes() as f64 / 60.0
        );
    }
    // Where the engine's time went: DataFusion executions per rule (the rest is parsing,
    // sorting, windows and baselines).
    let hist = &loginwatch_shared::metrics::metrics().rule_evaluation_duration;
    let mut in_rules = 0.0;
    for rule in RuleSource::Embedded.load().expect("embedded rules") {
        let rule = rule.spec.id;
        let h = hist.with_label_values(&[rule.as_str()]);
        in_rules += h.get_sample_sum();
        println!(
            "  rule {rule:<24} {:>6} executions {:>7.2} s",
            h.get_sample_count(),
            h.get_sample_sum()
        );
    }
    println!("  all rules: {in_rules:.2} s of {total:.2} s");
}
