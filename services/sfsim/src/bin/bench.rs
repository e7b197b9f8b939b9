//! `sfsim-bench`: how fast sfsim generates and renders logins.
//!
//! `cargo run --release -p loginwatch-sfsim --bin sfsim-bench [-- ROWS]`
//! Prints logins per second for: generation alone at live load (the ≥ 50,000/s requirement),
//! and generation + rendering to each export shape (written to a sink).

use std::time::Instant;

use chrono::{DateTime, Utc};
use loginwatch_sfsim::config::DEFAULT_ORG_ID;
use loginwatch_sfsim::export::{export, ExportFormat, ExportOptions};
use loginwatch_sfsim::render::SetupZone;
use loginwatch_sfsim::{GenConfig, Generator, SubTypeSpelling};

fn main() -> anyhow::Result<()> {
    let rows: u64 = std::env::args()
        .nth(1)
        .map(|a| a.parse())
        .transpose()?
        .unwrap_or(1_000_000);
    let start: DateTime<Utc> = "2026-01-05T00:00:00Z".parse()?;
    const TARGET: f64 = 50_000.0;

    // Live load: JWT / client-credentials / refresh-token integrations at 50,000 logins/s in total.
    let cfg = GenConfig {
        incidents: false,
        ..GenConfig::new(DEFAULT_ORG_ID, "acme", start)
    };
    let mut gen = Generator::new(42, &cfg).map_err(anyhow::Error::msg)?;
    gen.set_rate_from(start, TARGET);
    let t = Instant::now();
    let mut n = 0u64;
    for _ in gen.by_ref().take(rows as usize) {
        n += 1;
    }
    let rate = n as f64 / t.elapsed().as_secs_f64();
    println!("generate (live load, incidents off): {n} logins in {:.2?} = {rate:.0} logins/s = {:.1}x the 50,000/s target", t.elapsed(), rate / TARGET);

    for format in [
        ExportFormat::ElfCsv,
        ExportFormat::SetupCsv,
        ExportFormat::LoginHistoryJson,
        ExportFormat::StreamJson,
    ] {
        let mut cfg = GenConfig::new(DEFAULT_ORG_ID, "acme", start);
        cfg.interactive_users = 2000;
        cfg.integration_logins_per_hour = 2000.0;
        let mut gen = Generator::new(42, &cfg).map_err(anyhow::Error::msg)?;
        let opts = ExportOptions {
            format,
            rows: Some(rows),
            until: None,
            api_version: "62.0".into(),
            spelling: SubTypeSpelling::Label,
            setup_zone: SetupZone::UTC,
        };
        let t = Instant::now();
        let (n, labels) = export(&mut gen, &opts, std::io::sink())?;
        let rate = n as f64 / t.elapsed().as_secs_f64();
        println!(
            "export {format:?}: {n} logins ({} labels) in {:.2?} = {rate:.0} logins/s",
            labels.len(),
            t.elapsed()
        );
    }
    Ok(())
}
