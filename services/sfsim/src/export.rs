//! Streaming export of a generated history to a file in any supported shape (for `loginwatch
//! scan` tests and the scan benchmark: a 1,000,000-row file in seconds).

use std::io::Write;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::generate::{GenConfig, Generator, Label};
use crate::model::SubTypeSpelling;
use crate::render;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ExportFormat {
    /// REST query pages of LoginHistory (`{"totalSize",…,"records":[…]}`), one page per line (NDJSON)
    /// of at most 2,000 records each.
    LoginHistoryJson,
    /// LoginEvent SOQL pages, same framing as `login-history-json`.
    LoginEventJson,
    /// CometD `/event/LoginEventStream` data messages, one per line.
    StreamJson,
    /// EventLogFile Login CSV.
    ElfCsv,
    /// Setup "Login History" CSV export.
    SetupCsv,
}

impl std::str::FromStr for ExportFormat {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Ok(match s {
            "login-history-json" => ExportFormat::LoginHistoryJson,
            "login-event-json" => ExportFormat::LoginEventJson,
            "stream-json" => ExportFormat::StreamJson,
            "elf-csv" => ExportFormat::ElfCsv,
            "setup-csv" => ExportFormat::SetupCsv,
            other => {
                return Err(format!(
                    "unknown format `{other}`; use login-history-json, login-event-json, stream-json, elf-csv or setup-csv"
                ))
            }
        })
    }
}

/// What to export.
#[derive(Debug, Clone)]
pub struct ExportOptions {
    pub format: ExportFormat,
    /// Stop after this many logins (None: until `until`).
    pub rows: Option<u64>,
    /// Stop at this time (None: only `rows` limits).
    pub until: Option<DateTime<Utc>>,
    pub api_version: String,
    pub spelling: SubTypeSpelling,
    /// Zone of the Setup CSV (named in its header).
    pub setup_zone: render::SetupZone,
}

/// Page size of the JSON page formats (Salesforce's maximum batch).
pub const PAGE: usize = 2000;

/// Writes `gen`'s logins to `out` in `opts.format`; returns (rows written, labels of them).
pub fn export<W: Write>(
    gen: &mut Generator,
    opts: &ExportOptions,
    out: W,
) -> anyhow::Result<(u64, Vec<Label>)> {
    if opts.rows.is_none() && opts.until.is_none() {
        anyhow::bail!("export needs a row count or an end time, or it would never finish");
    }
    let until = opts.until.unwrap_or(DateTime::<Utc>::MAX_UTC);
    let max = opts.rows.unwrap_or(u64::MAX);
    let mut out = std::io::BufWriter::with_capacity(1 << 20, out);
    let mut n = 0u64;
    let next = |gen: &mut Generator, n: &mut u64| {
        if *n >= max {
            return None;
        }
        let l = gen.next_before(until)?;
        *n += 1;
        Some(l)
    };
    match opts.format {
        ExportFormat::LoginHistoryJson | ExportFormat::LoginEventJson => {
            let mut page = Vec::with_capacity(PAGE);
            loop {
                let l = next(gen, &mut n);
                let end = l.is_none();
                if let Some(l) = l {
                    if opts.format == ExportFormat::LoginEventJson && !render::on_stream(&l, false)
                    {
                        continue;
                    }
                    page.push(serde_json::Value::Object(match opts.format {
                        ExportFormat::LoginHistoryJson => {
                            render::login_history_record(&l, &opts.api_version, opts.spelling)
                        }
                        _ => render::login_event_record(&l, &opts.api_version, opts.spelling),
                    }));
                }
                if (page.len() == PAGE || end) && !page.is_empty() {
                    let body =
                        serde_json::json!({"totalSize": page.len(), "done": true, "records": page});
                    serde_json::to_writer(&mut out, &body)?;
                    out.write_all(b"\n")?;
                    page = Vec::with_capacity(PAGE);
                }
                if end {
                    break;
                }
            }
        }
        ExportFormat::StreamJson => {
            let mut replay = 1000i64;
            while let Some(l) = next(gen, &mut n) {
                if !render::on_stream(&l, false) {
                    continue;
                }
                replay += 1 + (l.seq as i64 % 3);
                serde_json::to_writer(
                    &mut out,
                    &render::stream_message(&l, replay, opts.spelling),
                )?;
                out.write_all(b"\n")?;
            }
        }
        ExportFormat::ElfCsv => {
            let mut w = render::elf_writer(&mut out);
            w.write_record(render::ELF_HEADER)?;
            while let Some(l) = next(gen, &mut n) {
                w.write_record(render::elf_row(&l))?;
            }
            w.flush()?;
        }
        ExportFormat::SetupCsv => {
            let mut w = csv::Writer::from_writer(&mut out);
            w.write_record(render::setup_header(opts.setup_zone))?;
            while let Some(l) = next(gen, &mut n) {
                w.write_record(render::setup_row(&l, opts.setup_zone))?;
            }
            w.flush()?;
        }
    }
    out.flush()?;
    Ok((n, gen.labels()))
}

/// Convenience: a generator for `cfg` exported straight to a file; labels optionally to `labels_path`.
pub fn export_file(
    seed: u64,
    cfg: &GenConfig,
    opts: &ExportOptions,
    path: &std::path::Path,
    labels_path: Option<&std::path::Path>,
) -> anyhow::Result<u64> {
    let mut gen =
        Generator::new(seed, cfg).map_err(|e| anyhow::anyhow!("generator config: {e}"))?;
    let file = std::fs::File::create(path)
        .map_err(|e| anyhow::anyhow!("cannot create {}: {e}", path.display()))?;
    let (n, labels) = export(&mut gen, opts, file)?;
    if let Some(lp) = labels_path {
        std::fs::write(lp, serde_json::to_vec_pretty(&labels)?)
            .map_err(|e| anyhow::anyhow!("cannot write {}: {e}", lp.display()))?;
    }
    Ok(n)
}
