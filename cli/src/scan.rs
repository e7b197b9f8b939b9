//! `loginwatch scan FILE…`: a one-off audit of exports with the same parsers and rule files as the
//! streaming pipeline.
//!
//! Files are streamed: each is read in buffered chunks, parsed record by record by the shared
//! parsers, folded into the inventory, and appended to the rule engine's input as Arrow batches
//! (no raw text or intermediate `LoginEvent` vectors are kept). The engine then evaluates every rule
//! over the whole history in event-time order ([`crate::engine`]).

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};

use chrono::Utc;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use loginwatch_shared::parse::setup_csv::{DateOrder, DateOrderSource};
use loginwatch_shared::parse::{self, ParseContext, RecordError};
use loginwatch_shared::LoginEvent;

pub use crate::json_records::stream_json_records;

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
    /// Day/month order of Setup CSV dates like 03/04/2026 (default: inferred per file from a
    /// day above 12; a file where every date reads both ways is refused until this is given).
    #[arg(long, value_enum, value_name = "ORDER")]
    pub date_order: Option<DateOrderArg>,
    /// No progress bar.
    #[arg(long, short)]
    pub quiet: bool,
}

/// `--date-order`: how Setup CSV dates written with slashes are read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum DateOrderArg {
    /// Day first: dd/mm/yyyy (most locales outside the US).
    Dmy,
    /// Month first: mm/dd/yyyy (the US locale, Salesforce's default).
    Mdy,
}

impl From<DateOrderArg> for DateOrder {
    fn from(a: DateOrderArg) -> DateOrder {
        match a {
            DateOrderArg::Dmy => DateOrder::Dmy,
            DateOrderArg::Mdy => DateOrder::Mdy,
        }
    }
}

/// Placeholder org id for exports without one.
pub const UNKNOWN_ORG: &str = "00D000000000000AAA";

/// Options of the parse stage (shared with the benchmark).
#[derive(Debug, Clone)]
pub struct ParseOptions {
    pub input_format: Option<InputFormat>,
    pub org_id: String,
    pub time_zone: Option<String>,
    /// Setup CSV day/month order; `None` infers it per file.
    pub date_order: Option<DateOrder>,
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
        if let Some(order) = self.date_order {
            ctx = ctx.with_date_order(order);
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
    let (mut reader, watch) = match format::open_watched(path, progress.clone()) {
        Ok(r) => r,
        Err(e) => {
            outcome.error = Some(format!("cannot read: {e}"));
            return outcome;
        }
    };
    let fmt = match opts.input_format {
        Some(f) => Some(f),
        None => match format::detect(&mut *reader) {
            Ok(f) => Some(f),
            Err(e) => {
                outcome.error = Some(e);
                None
            }
        },
    };
    outcome.format = fmt;
    if let Some(fmt) = fmt {
        parse_records(fmt, reader, &ctx, opts, &watch, &mut outcome, sink);
    }
    // A read error (a truncated gzip stream) is the file's problem, whatever the parser made of it.
    if let Some(problem) = watch.problem(outcome.events + outcome.record_errors) {
        outcome.error = Some(problem);
    }
    outcome
}

/// Parses the records of an open file in format `fmt` into `sink` and `outcome`.
fn parse_records(
    fmt: InputFormat,
    reader: Box<dyn std::io::BufRead + Send>,
    ctx: &ParseContext,
    opts: &ParseOptions,
    watch: &format::InputWatch,
    outcome: &mut FileOutcome,
    sink: &mut dyn FnMut(LoginEvent),
) {
    // The Setup export names users only by username: key them by it, so the per-user rules
    // (brute force, new IP, travel, …) still work on it.
    let key_users_by_name = fmt == InputFormat::SetupCsv;
    let mut on_event = |r: Result<LoginEvent, RecordError>, outcome: &mut FileOutcome| match r {
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
        InputFormat::ElfCsv => match parse::elf::reader(reader, ctx) {
            Ok(rows) => {
                for r in rows {
                    if r.is_err() && watch.error().is_some() {
                        break; // the read error, reported for the whole file
                    }
                    on_event(r, outcome);
                }
            }
            Err(e) => outcome.error = Some(csv_problem(fmt, &e.to_string())),
        },
        InputFormat::SetupCsv => match parse::setup_csv::reader(reader, ctx) {
            Ok(mut rows) => {
                while let Some(r) = rows.next() {
                    if r.is_err() && watch.error().is_some() {
                        break;
                    }
                    if let (Err(_), Some(stop)) = (&r, rows.stopped()) {
                        // Ambiguous or conflicting dates: the file cannot be read correctly.
                        outcome.error = Some(stop.to_string());
                        break;
                    }
                    on_event(r, outcome);
                }
                setup_csv_notes(&rows, opts, outcome);
            }
            Err(e) => outcome.error = Some(csv_problem(fmt, &e.to_string())),
        },
        InputFormat::LoginHistoryJson => {
            let result = stream_json_records(reader, &mut |r| {
                let r = match r {
                    Ok(v) => parse::login_history::parse_record(&v, ctx),
                    // Over a size limit: the record was not kept, only its place.
                    Err(error) => Err(RecordError {
                        error,
                        raw: String::new(),
                    }),
                };
                on_event(r, outcome)
            });
            if let Err(e) = result {
                outcome.error = Some(e);
            }
        }
    }
}

/// What the reader of a Setup CSV had to assume: the time zone, the day/month order.
fn setup_csv_notes<R: std::io::Read>(
    rows: &parse::setup_csv::SetupCsvReader<R>,
    opts: &ParseOptions,
    outcome: &mut FileOutcome,
) {
    if !rows.time_zone_in_header() {
        let zone = rows.time_zone().name();
        outcome.notes.push(match &opts.time_zone {
            Some(_) => format!(
                "the Login Time header names no time zone: times read in {zone} (--time-zone)"
            ),
            None => format!(
                "the Login Time header names no time zone: times assumed to be {zone}; pass \
                 --time-zone ZONE if the export was made in another zone"
            ),
        });
    }
    match rows.date_order() {
        Some(DateOrderSource::Given(order)) => outcome.notes.push(format!(
            "dates read as {} (--date-order {order})",
            order.pattern()
        )),
        Some(DateOrderSource::Inferred { order, line, value }) => outcome.notes.push(format!(
            "dates read as {}, inferred from line {line} ({value}); --date-order overrides",
            order.pattern()
        )),
        None => {}
    }
}

fn csv_problem(fmt: InputFormat, e: &str) -> String {
    format!("not a readable {fmt} file: {e}")
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
        date_order: args.date_order.map(DateOrder::from),
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
        eprintln!(
            "loginwatch scan: rules could not run: {}",
            loginwatch_shared::terminal::escape(e)
        );
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
