//! The rule engine as `scan` uses it: the analyzer's batch mode over the whole history, in
//! event-time order, with bounded memory.
//!
//! Exports are not necessarily in time order (several files, Setup downloads newest first), and
//! the engine needs the stream the streaming analyzer would see. Events are therefore sorted by
//! `(event_time, event_id)` — the order of `loginwatch_analyzer::batch::run` — with an external
//! merge sort: runs of [`RUN_EVENTS`] events are sorted and spilled to temporary Arrow IPC
//! files (the login schema, in batches of the engine's chunk size), then merged while feeding the
//! engine chunk by chunk. Small inputs never touch the disk.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};
use std::io::{BufReader, BufWriter};
use std::path::{Path, PathBuf};

use arrow::ipc::reader::StreamReader;
use arrow::ipc::writer::StreamWriter;
use loginwatch_shared::arrow::{from_record_batch, login_schema, to_record_batch};

use loginwatch_analyzer::batch::{Batch, CHUNK};
use loginwatch_analyzer::rules::{load_dir, Rule};
use loginwatch_analyzer::EngineConfig;
use loginwatch_shared::{Detection, LoginEvent};

/// Events held in memory before a sorted run is spilled to disk.
pub const RUN_EVENTS: usize = 100_000;

/// Where the rules come from.
#[derive(Debug, Clone)]
pub enum RuleSource {
    /// The repository's `rules/` directory as built into this binary.
    Embedded,
    /// A directory of rule files (`*.toml`, tests under `tests/<stem>/`).
    Dir(PathBuf),
}

mod embedded {
    include!(concat!(env!("OUT_DIR"), "/embedded_rules.rs"));
}

/// The embedded `rules/` files: (path relative to `rules/`, contents).
pub fn embedded_files() -> &'static [(&'static str, &'static str)] {
    embedded::EMBEDDED_RULES
}

impl RuleSource {
    /// Loads (parses, does not yet plan) the rules.
    pub fn load(&self) -> Result<Vec<Rule>, String> {
        match self {
            RuleSource::Dir(dir) => load_dir(dir).map_err(|e| e.to_string()),
            RuleSource::Embedded => {
                let mut rules = Vec::new();
                for (rel, text) in embedded_files() {
                    if rel.contains('/') || !rel.ends_with(".toml") {
                        continue;
                    }
                    let rule = Rule::from_toml(&Path::new("rules").join(rel), text)
                        .map_err(|e| e.to_string())?;
                    rules.push(rule);
                }
                if rules.is_empty() {
                    return Err("this binary was built without rule files (rules/ was empty); pass --rules DIR".into());
                }
                Ok(rules)
            }
        }
    }

    /// A directory holding the rules and their recorded tests (the embedded ones are written to a
    /// temporary directory, removed when the returned guard drops).
    pub fn materialize(&self) -> Result<(PathBuf, Option<tempfile::TempDir>), String> {
        match self {
            RuleSource::Dir(dir) => Ok((dir.clone(), None)),
            RuleSource::Embedded => {
                let tmp = tempfile::Builder::new()
                    .prefix("loginwatch-rules-")
                    .tempdir()
                    .map_err(|e| {
                        format!("cannot create a temporary directory for the built-in rules: {e}")
                    })?;
                for (rel, text) in embedded_files() {
                    let path = tmp.path().join(rel);
                    if let Some(parent) = path.parent() {
                        std::fs::create_dir_all(parent)
                            .map_err(|e| format!("{}: {e}", parent.display()))?;
                    }
                    std::fs::write(&path, text).map_err(|e| format!("{}: {e}", path.display()))?;
                }
                Ok((tmp.path().to_path_buf(), Some(tmp)))
            }
        }
    }

    pub fn describe(&self) -> String {
        match self {
            RuleSource::Embedded => "built-in rules".into(),
            RuleSource::Dir(d) => d.display().to_string(),
        }
    }
}

fn order_key(e: &LoginEvent) -> (i64, &str) {
    (e.event_time.timestamp_millis(), e.event_id.as_str())
}

/// Collects events, then evaluates every rule over them in event-time order.
pub struct BatchRun {
    rules: Vec<Rule>,
    cfg: EngineConfig,
    buffer: Vec<LoginEvent>,
    runs: Vec<tempfile::NamedTempFile>,
    spill_error: Option<String>,
}

impl BatchRun {
    pub fn new(rules: &RuleSource) -> Result<BatchRun, String> {
        Ok(BatchRun {
            rules: rules.load()?,
            cfg: EngineConfig::default(),
            buffer: Vec::new(),
            runs: Vec::new(),
            spill_error: None,
        })
    }

    pub fn rule_count(&self) -> usize {
        self.rules.len()
    }

    pub fn push(&mut self, event: LoginEvent) {
        self.buffer.push(event);
        if self.buffer.len() >= RUN_EVENTS && self.spill_error.is_none() {
            if let Err(e) = self.spill() {
                // Keep going in memory rather than lose events; report at the end.
                self.spill_error = Some(e);
            }
        }
    }

    fn spill(&mut self) -> Result<(), String> {
        let run = write_run(&mut self.buffer)?;
        self.runs.push(run);
        Ok(())
    }

    /// Sorts/merges and runs the engine; returns every detection.
    pub fn finish(mut self) -> Result<Vec<Detection>, String> {
        if let Some(e) = self.spill_error.take() {
            tracing::warn!(error = %e, "sorted in memory instead");
        }
        self.buffer.sort_by(|a, b| order_key(a).cmp(&order_key(b)));
        // Worker threads run the rules of one step concurrently (see `Engine`).
        let rt = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .map_err(|e| format!("cannot start the rule engine runtime: {e}"))?;
        let rules = std::mem::take(&mut self.rules);
        let cfg = self.cfg.clone();
        rt.block_on(async move {
            let mut batch = Batch::new(rules, cfg).await.map_err(|e| e.to_string())?;
            let mut merged = Merge::new(&self.runs, std::mem::take(&mut self.buffer))?;
            let mut chunk = Vec::with_capacity(CHUNK);
            while let Some(e) = merged.next_event()? {
                chunk.push(e);
                if chunk.len() == CHUNK {
                    batch
                        .feed(std::mem::take(&mut chunk))
                        .await
                        .map_err(|e| e.to_string())?;
                    chunk.reserve(CHUNK);
                }
            }
            if !chunk.is_empty() {
                batch.feed(chunk).await.map_err(|e| e.to_string())?;
            }
            batch.finish().await.map_err(|e| e.to_string())
        })
    }
}

/// Sorts `events` and writes them to a temporary file as Arrow IPC; `events` is left empty.
fn write_run(events: &mut Vec<LoginEvent>) -> Result<tempfile::NamedTempFile, String> {
    let fail = |e: &dyn std::fmt::Display| format!("cannot spill sorted events: {e}");
    events.sort_by(|a, b| order_key(a).cmp(&order_key(b)));
    let file = tempfile::Builder::new()
        .prefix("loginwatch-scan-run-")
        .tempfile()
        .map_err(|e| format!("cannot create a temporary file to sort the input: {e}"))?;
    let out = BufWriter::with_capacity(1 << 20, file.as_file());
    let mut w = StreamWriter::try_new(out, &login_schema()).map_err(|e| fail(&e))?;
    for part in events.chunks(CHUNK) {
        let batch = to_record_batch(part).map_err(|e| fail(&e))?;
        w.write(&batch).map_err(|e| fail(&e))?;
    }
    w.finish().map_err(|e| fail(&e))?;
    w.into_inner()
        .map_err(|e| fail(&e))?
        .into_inner()
        .map_err(|e| fail(&e))?;
    events.clear();
    Ok(file)
}

/// One sorted run read back a batch at a time.
struct RunReader {
    batches: StreamReader<BufReader<std::fs::File>>,
    path: PathBuf,
    pending: VecDeque<LoginEvent>,
}

impl RunReader {
    fn next(&mut self) -> Result<Option<LoginEvent>, String> {
        while self.pending.is_empty() {
            match self.batches.next() {
                None => return Ok(None),
                Some(batch) => {
                    let corrupt = |e: &dyn std::fmt::Display| {
                        format!("corrupt sorted run {}: {e}", self.path.display())
                    };
                    let batch = batch.map_err(|e| corrupt(&e))?;
                    self.pending = from_record_batch(&batch).map_err(|e| corrupt(&e))?.into();
                }
            }
        }
        Ok(self.pending.pop_front())
    }
}

/// K-way merge of the spilled runs and the in-memory remainder.
struct Merge {
    readers: Vec<RunReader>,
    heads: Vec<Option<LoginEvent>>,
    heap: BinaryHeap<Reverse<(i64, String, usize)>>,
    memory: std::vec::IntoIter<LoginEvent>,
}

impl Merge {
    fn new(runs: &[tempfile::NamedTempFile], memory: Vec<LoginEvent>) -> Result<Merge, String> {
        let mut m = Merge {
            readers: Vec::new(),
            heads: Vec::new(),
            heap: BinaryHeap::new(),
            memory: memory.into_iter(),
        };
        for run in runs {
            let path = run.path().to_path_buf();
            let f = run
                .reopen()
                .map_err(|e| format!("cannot reread a sorted run: {e}"))?;
            let batches = StreamReader::try_new(BufReader::with_capacity(1 << 20, f), None)
                .map_err(|e| format!("corrupt sorted run {}: {e}", path.display()))?;
            m.readers.push(RunReader {
                batches,
                path,
                pending: VecDeque::new(),
            });
            m.heads.push(None);
        }
        // Source `runs.len()` is the in-memory remainder.
        m.heads.push(None);
        for i in 0..=runs.len() {
            m.advance(i)?;
        }
        Ok(m)
    }

    fn advance(&mut self, i: usize) -> Result<(), String> {
        let next = if i == self.readers.len() {
            self.memory.next()
        } else {
            self.readers[i].next()?
        };
        if let Some(e) = &next {
            let (t, id) = order_key(e);
            self.heap.push(Reverse((t, id.to_string(), i)));
        }
        self.heads[i] = next;
        Ok(())
    }

    fn next_event(&mut self) -> Result<Option<LoginEvent>, String> {
        let Some(Reverse((_, _, i))) = self.heap.pop() else {
            return Ok(None);
        };
        let e = self.heads[i].take();
        self.advance(i)?;
        Ok(e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::inventory::tests::event;
    use loginwatch_shared::AuthMethod;

    #[test]
    fn merge_yields_every_event_in_order_across_runs_and_memory() {
        let mut runs = Vec::new();
        // Three "runs" of interleaved times plus a memory remainder.
        for r in 0..3 {
            let mut evs: Vec<LoginEvent> = (0..50)
                .map(|i| {
                    event(
                        i * 3 + r,
                        AuthMethod::UiPassword,
                        "u",
                        "Browser",
                        "10.0.0.1",
                        true,
                    )
                })
                .rev()
                .collect();
            runs.push(write_run(&mut evs).unwrap());
            assert!(evs.is_empty());
        }
        let memory: Vec<LoginEvent> = (0..10)
            .map(|i| {
                event(
                    i * 7,
                    AuthMethod::UiPassword,
                    "v",
                    "Browser",
                    "10.0.0.2",
                    true,
                )
            })
            .collect();
        let mut m = Merge::new(&runs, memory).unwrap();
        let mut out = Vec::new();
        while let Some(e) = m.next_event().unwrap() {
            out.push(e);
        }
        assert_eq!(out.len(), 160);
        assert!(out.windows(2).all(|w| order_key(&w[0]) <= order_key(&w[1])));
    }
}
