//! `loginwatch scan FILE…`: a one-off audit of exports with the same parsers and rule files as the
//! streaming pipeline.
//!
//! Files are streamed: each is read in buffered chunks, parsed record by record by the shared
//! parsers, folded into the inventory, and appended to the rule engine's input as Arrow batches
//! (no raw text or intermediate `LoginEvent` vectors are kept). The engine then evaluates every rule
//! over the whole history in event-time order ([`crate::engine`]).

use std::io::{BufRead, IsTerminal, Write};
use std::path::{Path, PathBuf};

use chrono::Utc;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use loginwatch_shared::parse::{self, ParseContext};
use loginwatch_shared::LoginEvent;
use serde::de::{DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::Value;

use crate::engine::{BatchRun, RuleSource};
use crate::format::{self, InputFormat};
use crate::report::{self, exit, FileOutcome, ScanReport, Style};

/// Inputs larger than this (bytes, all files together) get a progress bar on a terminal.
const PROGRESS_THRESHOLD_BYTES: u64 = 4 * 1024 * 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum OutputFormat {
    /// The readable report: inventory, then detections grouped by category.
    Text,
    /// Detections as JSON lines (ECS, the `loginwatch.detections.v1` format).
    Json,
}

/// `loginwatch scan`: audit exports for password-based logins and login anomalies.
///
/// Exit codes: 0 = clean, 1 = findings (at least one detection), 2 = errors (a file or record could
/// not be read, or the rules could not run; takes precedence over findings).
#[derive(Debug, Clone, clap::Args)]
pub struct ScanArgs {
    /// Export files: LoginHistory REST JSON pages or JSON lines of records, Setup Login History CSV
    /// (or its GZIP), EventLogFile Login CSV. Format is detected per file.
    #[arg(required = true, value_name = "FILE")]
    pub files: Vec<PathBuf>,
    /// Read every file as this format instead of detecting it.
    #[arg(long, value_enum, value_name = "FORMAT")]
    pub input_format: Option<InputFormat>,
    /// Output on stdout.
    #[arg(long, value_enum, default_value = "text")]
    pub format: OutputFormat,
    /// Also write the report as one self-contained HTML page.
    #[arg(long, value_name = "FILE.html")]
    pub report: Option<PathBuf>,
    /// Rule directory (default: the rules built into this binary).
    #[arg(long, value_name = "DIR")]
    pub rules: Option<PathBuf>,
    /// Organisation id for exports that do not carry one (LoginHistory JSON, Setup CSV).
    #[arg(long, default_value = UNKNOWN_ORG, value_name = "00D…")]
    pub org_id: String,
    /// Time zone of Setup CSV timestamps when the `Login Time (<zone>)` header names none (IANA name).
    #[arg(long, value_name = "ZONE")]
    pub time_zone: Option<String>,
    /// No progress bar.
    #[arg(long, short)]
    pub quiet: bool,
}

/// Placeholder org id for exports without one.
pub const UNKNOWN_ORG: &str = "00D000000000000AAA";

/// Options of the parse stage (shared with the benchmark).
#[derive(Debug, Clone)]
pub struct ParseOptions {
    pub input_format: Option<InputFormat>,
    pub org_id: String,
    pub time_zone: Option<String>,
}

impl ParseOptions {
    fn context(&self) -> Result<ParseContext, String> {
        let mut ctx = ParseContext::new(self.org_id.clone()).with_ingested_at(Utc::now());
        if let Some(tz) = &self.time_zone {
            let zone = parse::setup_csv::resolve_time_zone(tz).ok_or_else(|| {
                format!("--time-zone {tz:?} is not a time zone name (e.g. America/New_York or Eastern Daylight Time)")
            })?;
            ctx = ctx.with_time_zone(zone);
        }
        Ok(ctx)
    }
}

/// Parses one file, calling `sink` for every event. Never fails as a whole: problems are recorded in
/// the returned outcome (and the events read before a fatal problem are kept).
pub fn parse_file(
    path: &Path,
    opts: &ParseOptions,
    progress: &ProgressBar,
    sink: &mut dyn FnMut(LoginEvent),
) -> FileOutcome {
    let mut outcome = FileOutcome::new(&path.display().to_string());
    let ctx = match opts.context() {
        Ok(c) => c,
        Err(e) => {
            outcome.error = Some(e);
            return outcome;
        }
    };
    let mut reader = match format::open_counted(path, progress.clone()) {
        Ok(r) => r,
        Err(e) => {
            outcome.error = Some(format!("cannot read: {e}"));
            return outcome;
        }
    };
    let fmt = match opts.input_format {
        Some(f) => f,
        None => match format::detect(&mut *reader) {
            Ok(f) => f,
            Err(e) => {
                outcome.error = Some(e);
                return outcome;
            }
        },
    };
    outcome.format = Some(fmt);
    // The Setup export names users only by username: key them by it, so the per-user rules
    // (brute force, new IP, travel, …) still work on it.
    let key_users_by_name = fmt == InputFormat::SetupCsv;
    let mut on_event =
        |r: Result<LoginEvent, parse::RecordError>, outcome: &mut FileOutcome| match r {
            Ok(mut ev) => {
                outcome.events += 1;
                if key_users_by_name && ev.user_id.is_none() {
                    ev.user_id = ev.username.clone();
                }
                sink(ev)
            }
            Err(e) => outcome.record_error(e.error.to_string()),
        };
    match fmt {
        InputFormat::ElfCsv => match parse::elf::reader(reader, &ctx) {
            Ok(rows) => {
                for r in rows {
                    on_event(r, &mut outcome);
                }
            }
            Err(e) => outcome.error = Some(csv_problem(fmt, &e.to_string())),
        },
        InputFormat::SetupCsv => match parse::setup_csv::reader(reader, &ctx) {
            Ok(rows) => {
                for r in rows {
                    on_event(r, &mut outcome);
                }
            }
            Err(e) => outcome.error = Some(csv_problem(fmt, &e.to_string())),
        },
        InputFormat::LoginHistoryJson => {
            let mut on_record = |v: Value, outcome: &mut FileOutcome| {
                on_event(parse::login_history::parse_record(&v, &ctx), outcome)
            };
            if let Err(e) = stream_json_records(reader, &mut |v| on_record(v, &mut outcome)) {
                outcome.error = Some(e);
            }
        }
    }
    outcome
}

fn csv_problem(fmt: InputFormat, e: &str) -> String {
    format!("not a readable {fmt} file: {e}")
}

/// Streams LoginHistory records out of any JSON layout an export may have: one or more REST query
/// pages (`{"totalSize":…,"records":[…]}`, concatenated or one per line), JSON lines of records,
/// or an array of either. Only one record is in memory at a time, however large a page is.
pub fn stream_json_records(
    reader: impl BufRead,
    on_record: &mut dyn FnMut(Value),
) -> Result<(), String> {
    let mut de = serde_json::Deserializer::from_reader(reader);
    let mut items = 0u64;
    loop {
        let mut started = false;
        let seed = ItemSeed {
            on_record,
            started: &mut started,
        };
        match seed.deserialize(&mut de) {
            Ok(()) => items += 1,
            Err(e) if e.is_eof() && !started => break,
            Err(e) if e.is_eof() => {
                return Err(format!(
                    "truncated JSON: the file ends inside a value (line {}, column {})",
                    e.line(),
                    e.column()
                ))
            }
            Err(e) => {
                return Err(format!(
                    "malformed JSON after {items} complete value(s): {e}"
                ))
            }
        }
    }
    if items == 0 {
        return Err("the file is empty".into());
    }
    Ok(())
}

/// A top-level JSON item: a query page, a record, or an array of those.
struct ItemSeed<'a> {
    on_record: &'a mut dyn FnMut(Value),
    started: &'a mut bool,
}

impl<'de> DeserializeSeed<'de> for ItemSeed<'_> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for ItemSeed<'_> {
    type Value = ();

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a LoginHistory query page, a LoginHistory record, or an array of them")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        *self.started = true;
        let mut fields = serde_json::Map::new();
        let mut page = false;
        while let Some(key) = map.next_key::<String>()? {
            if key == "records" {
                page = true;
                map.next_value_seed(RecordsSeed {
                    on_record: &mut *self.on_record,
                })?;
            } else {
                let v: Value = map.next_value()?;
                fields.insert(key, v);
            }
        }
        if !page {
            (self.on_record)(Value::Object(fields));
        }
        Ok(())
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        *self.started = true;
        loop {
            let mut inner = true;
            let item = ItemSeed {
                on_record: &mut *self.on_record,
                started: &mut inner,
            };
            if seq.next_element_seed(item)?.is_none() {
                return Ok(());
            }
        }
    }
}

/// The `records` array of a page, element by element.
struct RecordsSeed<'a> {
    on_record: &'a mut dyn FnMut(Value),
}

impl<'de> DeserializeSeed<'de> for RecordsSeed<'_> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for RecordsSeed<'_> {
    type Value = ();

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("an array of LoginHistory records")
    }

    fn visit_unit<E>(self) -> Result<(), E> {
        Ok(()) // `"records": null` on an empty page
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while let Some(v) = seq.next_element::<Value>()? {
            (self.on_record)(v);
        }
        Ok(())
    }
}

/// A progress bar over the bytes of all inputs, drawn on stderr only when it is a terminal.
pub fn progress_bar(total_bytes: u64, quiet: bool) -> ProgressBar {
    let visible =
        !quiet && std::io::stderr().is_terminal() && total_bytes >= PROGRESS_THRESHOLD_BYTES;
    let pb = ProgressBar::with_draw_target(
        Some(total_bytes),
        if visible {
            ProgressDrawTarget::stderr()
        } else {
            ProgressDrawTarget::hidden()
        },
    );
    if let Ok(style) = ProgressStyle::with_template(
        "{msg:30!} [{bar:30}] {binary_bytes}/{binary_total_bytes} {binary_bytes_per_sec} eta {eta}",
    ) {
        pb.set_style(style.progress_chars("=> "));
    }
    pb
}

/// Parses every file and evaluates the rules: the whole scan without output.
pub fn scan(
    files: &[PathBuf],
    opts: &ParseOptions,
    rules: &RuleSource,
    progress: &ProgressBar,
) -> ScanReport {
    let mut report = ScanReport::default();
    let mut run = match BatchRun::new(rules) {
        Ok(r) => Some(r),
        Err(e) => {
            report.engine_error = Some(e);
            None
        }
    };
    for path in files {
        progress.set_message(path.display().to_string());
        let inventory = &mut report.inventory;
        let outcome = parse_file(path, opts, progress, &mut |ev| {
            inventory.observe(&ev);
            if let Some(run) = run.as_mut() {
                run.push(ev);
            }
        });
        report.files.push(outcome);
    }
    progress.set_message("evaluating rules");
    if let Some(run) = run {
        report.rules = run.rule_count();
        match run.finish() {
            Ok(ds) => report.detections = ds,
            Err(e) => report.engine_error = Some(e),
        }
    }
    progress.finish_and_clear();
    report
}

/// Runs `loginwatch scan` and returns the exit code.
pub fn run(args: ScanArgs) -> i32 {
    let rules = match &args.rules {
        Some(dir) => RuleSource::Dir(dir.clone()),
        None => RuleSource::Embedded,
    };
    let opts = ParseOptions {
        input_format: args.input_format,
        org_id: args.org_id.clone(),
        time_zone: args.time_zone.clone(),
    };
    let total: u64 = args
        .files
        .iter()
        .filter_map(|p| std::fs::metadata(p).ok())
        .map(|m| m.len())
        .sum();
    let progress = progress_bar(total, args.quiet);
    let report = scan(&args.files, &opts, &rules, &progress);

    // Problems go to stderr, naming the file, whatever the output format.
    for f in &report.files {
        if let Some(line) = f.problem_line() {
            eprintln!("loginwatch scan: {line}");
        }
    }
    if let Some(e) = &report.engine_error {
        eprintln!("loginwatch scan: rules could not run: {e}");
    }

    let stdout = std::io::stdout();
    let color = report::want_color(stdout.is_terminal());
    let mut out = std::io::BufWriter::new(stdout.lock());
    let written = match args.format {
        OutputFormat::Text => report::render_text(&report, &mut out, Style { color }),
        OutputFormat::Json => report.detections.iter().try_for_each(|d| {
            serde_json::to_writer(&mut out, d).map_err(std::io::Error::other)?;
            out.write_all(b"\n")
        }),
    }
    .and_then(|_| out.flush());
    if let Err(e) = written {
        if e.kind() != std::io::ErrorKind::BrokenPipe {
            eprintln!("loginwatch scan: cannot write the report to stdout: {e}");
            return exit::ERRORS;
        }
    }
    if let Some(path) = &args.report {
        if let Err(e) = std::fs::write(path, crate::html::render(&report)) {
            eprintln!(
                "loginwatch scan: cannot write the HTML report {}: {e}",
                path.display()
            );
            return exit::ERRORS;
        }
    }
    report.exit_code()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn records(text: &str) -> Result<Vec<Value>, String> {
        let mut out = Vec::new();
        stream_json_records(text.as_bytes(), &mut |v| out.push(v))?;
        Ok(out)
    }

    #[test]
    fn json_layouts_all_yield_their_records() {
        let page = r#"{"totalSize":2,"done":true,"records":[{"Id":"a"},{"Id":"b"}]}"#;
        assert_eq!(records(page).unwrap().len(), 2);
        assert_eq!(
            records(&format!("{page}\n{page}\n")).unwrap().len(),
            4,
            "concatenated pages"
        );
        assert_eq!(
            records("{\"Id\":\"a\"}\n{\"Id\":\"b\"}\n{\"Id\":\"c\"}")
                .unwrap()
                .len(),
            3,
            "JSON lines"
        );
        assert_eq!(
            records(&format!("[{page},{{\"Id\":\"c\"}}]"))
                .unwrap()
                .len(),
            3,
            "array of pages and records"
        );
        assert_eq!(
            records(r#"{"totalSize":0,"done":true,"records":[]}"#)
                .unwrap()
                .len(),
            0
        );
        assert_eq!(records(&format!("{page}\n")).unwrap()[0]["Id"], "a");
    }

    #[test]
    fn truncated_and_malformed_json_are_named_and_keep_what_was_read() {
        let mut seen = 0;
        let e = stream_json_records(
            &br#"{"totalSize":3,"records":[{"Id":"a"},{"Id":"b"},{"Id":"#[..],
            &mut |_| seen += 1,
        )
        .unwrap_err();
        assert!(e.contains("truncated"), "{e}");
        assert_eq!(seen, 2, "records before the cut are kept");
        let e = records("{\"Id\":\"a\"}\nnot json\n").unwrap_err();
        assert!(e.contains("malformed JSON after 1"), "{e}");
        assert!(records("").unwrap_err().contains("empty"));
        assert!(records("42").unwrap_err().contains("malformed"));
    }
}
