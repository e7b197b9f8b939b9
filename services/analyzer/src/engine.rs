//! The rule engine: a long-lived DataFusion `SessionContext` per rule, the retained buffer of
//! on-time logins and the state tables in registered [`LiveTable`]s whose rows are swapped between
//! executions, and each rule's physical plan built once at start-up and re-executed (after a
//! state reset) when windows close: never planned per message or per window. The rules due in
//! one step run concurrently, each over its own tables.
//!
//! The same engine runs the streaming service ([`crate::service`]) and batch scans
//! ([`crate::batch`]): feed events with [`Engine::ingest`], call [`Engine::trigger`] after each
//! micro-batch, and [`Engine::finish`] at the end of a finite input.
//!
//! Event time: each input partition has a watermark (max event time − allowed lateness); the
//! global watermark is the minimum over partitions that received data within `idle_timeout`
//! (when all are idle, the maximum), and never moves back. An event older than the watermark
//! when it arrives is late: it is counted, still reaches per-event rules, and is neither added to
//! windows nor folded into the baselines. The watermark is processed in steps of at most
//! `max_step` so baseline rules see state at most one step old, whatever the arrival pattern.

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

use arrow::array::{
    Array, ArrayRef, AsArray, BooleanArray, RecordBatch, StringArray, TimestampMillisecondArray,
};
use arrow::compute::kernels::cmp::{gt_eq, lt};
use arrow::compute::{and, cast, concat_batches, filter_record_batch};
use arrow::datatypes::{DataType, Int64Type, TimeUnit, TimestampMillisecondType};
use chrono::{DateTime, Utc};
use datafusion::common::tree_node::TreeNodeRecursion;
use datafusion::execution::TaskContext;
use datafusion::logical_expr::LogicalPlan;
use datafusion::physical_plan::execution_plan::reset_plan_states;
use datafusion::physical_plan::{collect, ExecutionPlan};
use datafusion::prelude::{SessionConfig, SessionContext};
use loginwatch_shared::arrow::{login_schema, to_record_batch};
use loginwatch_shared::detection::{
    detection_id, CloudAccount, CloudInfo, Detection, DetectionEvent, GeoInfo, LoginwatchInfo,
    RuleInfo, SalesforceInfo, SalesforceLogin, SourceInfo, Technique, Threat, UserInfo,
    EVIDENCE_CAP,
};
use loginwatch_shared::metrics::{metrics, APPLICATION_LABEL_CAP};
use loginwatch_shared::{LoginEvent, Severity};
use serde::{Deserialize, Serialize};

use crate::duration::Span;
use crate::live_table::LiveTable;
use crate::rules::{Rule, RuleError, WindowSpec};
use crate::state::{Baselines, FoldRecord, Keys, StateBounds, TABLES};

/// `[engine]` settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EngineConfig {
    /// How far behind the newest event of a partition its watermark trails. Default `5m`
    /// (LoginHistory polling delivers minutes late; the stream is near real time).
    pub allowed_lateness: Span,
    /// A partition without data for this long (wall clock) no longer holds the watermark back. Default `30s`.
    pub idle_timeout: Span,
    /// Largest watermark advance processed at once (baseline rules see state at most this old). Default `1h`.
    pub max_step: Span,
    /// Login identities remembered for de-duplication (LoginHistory + stream copies, replays). Default 500000.
    pub dedupe_capacity: usize,
    /// DataFusion `target_partitions`. Default 1 (inputs per trigger are small).
    pub target_partitions: usize,
    /// Baseline state bounds.
    pub state: StateBounds,
    /// Where "now" is read for the watermark-lag metric: the system clock, or a simulated org's
    /// (demo). Not a config key.
    #[serde(skip)]
    pub clock: loginwatch_shared::time::Clock,
}

impl Default for EngineConfig {
    fn default() -> Self {
        EngineConfig {
            allowed_lateness: Span::minutes(5),
            idle_timeout: Span::seconds(30),
            max_step: Span::hours(1),
            dedupe_capacity: 500_000,
            target_partitions: 1,
            state: StateBounds::default(),
            clock: loginwatch_shared::time::Clock::system(),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error(transparent)]
    Rule(#[from] RuleError),
    #[error("rule {rule} ({file}): evaluation failed: {message}")]
    Evaluation {
        rule: String,
        file: String,
        message: String,
    },
    #[error("internal: {0}")]
    Internal(String),
}

/// What happened to one ingested event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admission {
    /// Newer than the watermark: windows, baselines and per-event rules.
    OnTime,
    /// Older than the watermark: counted in `loginwatch_late_events_total`, per-event rules only.
    Late,
    /// The same login was seen before (another source or a replay): dropped.
    Duplicate,
}

/// Per-partition event-time clocks.
#[derive(Debug, Default)]
struct Clocks {
    parts: BTreeMap<i32, (i64, Instant)>,
}

impl Clocks {
    fn observe(&mut self, partition: i32, t: i64, now: Instant) {
        let e = self.parts.entry(partition).or_insert((t, now));
        e.0 = e.0.max(t);
        e.1 = now;
    }

    /// min over active partitions of their max event time; all idle → max over all. `None`
    /// while an expected partition has delivered nothing yet (it holds the watermark).
    fn low(&self, now: Instant, idle: Duration) -> Option<i64> {
        let waiting = self
            .parts
            .values()
            .any(|(t, seen)| *t == i64::MIN && now.saturating_duration_since(*seen) < idle);
        if waiting {
            return None;
        }
        let active = self
            .parts
            .values()
            .filter(|(_, seen)| now.saturating_duration_since(*seen) < idle)
            .map(|(t, _)| *t)
            .min();
        active
            .or_else(|| self.parts.values().map(|(t, _)| *t).max())
            .filter(|t| *t != i64::MIN)
    }

    fn expect(&mut self, partition: i32, now: Instant) {
        self.parts.entry(partition).or_insert((i64::MIN, now));
    }

    fn forget(&mut self, partition: i32) {
        self.parts.remove(&partition);
    }
}

/// Bounded FIFO set of login identities.
#[derive(Debug)]
struct Dedupe {
    cap: usize,
    set: HashSet<String>,
    order: VecDeque<String>,
}

impl Dedupe {
    fn insert(&mut self, id: String) -> bool {
        if self.set.contains(&id) {
            return false;
        }
        if self.order.len() >= self.cap {
            if let Some(old) = self.order.pop_front() {
                self.set.remove(&old);
            }
        }
        self.set.insert(id.clone());
        self.order.push_back(id);
        true
    }
}

struct Compiled {
    rule: Rule,
    /// Planned once at start-up; each execution runs a state-reset copy over the live tables.
    physical: Arc<dyn ExecutionPlan>,
    /// This rule's own tables (each rule has its own session), so rules can run concurrently.
    logins: Arc<LiveTable>,
    tables: HashMap<&'static str, Arc<LiveTable>>,
    task_ctx: Arc<TaskContext>,
    state_tables: Vec<&'static str>,
    /// Watermark up to which this rule's windows were evaluated.
    evaluated_to: Option<i64>,
}

/// One row of a rule's output, in the output contract of [`crate::rules`].
#[derive(Debug, Clone, Default)]
struct OutRow {
    key: String,
    window_start: i64,
    window_end: Option<i64>,
    org_id: String,
    user_id: Option<String>,
    username: Option<String>,
    source_ip: Option<String>,
    country_iso: Option<String>,
    application: Option<String>,
    login_type: Option<String>,
    login_sub_type: Option<String>,
    api_type: Option<String>,
    auth_method: Option<String>,
    count: Option<i64>,
    evidence: Vec<String>,
    severity: Option<String>,
    message: Option<String>,
}

const MINUTE: i64 = 60_000;
/// Event-time span of one buffer bucket (the unit in which old rows are dropped).
const BUCKET: i64 = 3_600_000;

pub struct Engine {
    cfg: EngineConfig,
    rules: Vec<Compiled>,
    baselines: Baselines,
    clocks: Clocks,
    /// The processed watermark: everything before it has been evaluated.
    watermark: Option<i64>,
    /// On-time rows by hour bucket of event time.
    buffer: BTreeMap<i64, Vec<RecordBatch>>,
    /// On-time events not yet passed by the watermark, by event time.
    pending_fold: BTreeMap<i64, Vec<FoldRecord>>,
    /// Accepted since the last trigger: all (per-event rules) and on-time (buffer).
    arrivals: Vec<LoginEvent>,
    /// Parallel to `arrivals`: whether the event was on time.
    arrival_on_time: Vec<bool>,
    first_arrival: Option<Instant>,
    dedupe: Dedupe,
    /// Per-event alerts already raised: (rule index, key, window start).
    alerted: HashSet<(usize, String, i64)>,
    horizon: i64,
    max_event_time: Option<i64>,
    inventory: HashMap<(String, String, String), HashSet<String>>,
    app_labels: HashSet<String>,
}

fn ts_type() -> DataType {
    DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into()))
}

impl Engine {
    /// Plans and validates every rule; a rule that does not plan (bad SQL, unknown table or
    /// column, missing output column) is an error naming its file and DataFusion's message.
    pub async fn new(rules: Vec<Rule>, cfg: EngineConfig) -> Result<Engine, EngineError> {
        let mut config = SessionConfig::new()
            .with_target_partitions(cfg.target_partitions.max(1))
            .with_information_schema(false);
        // Plans are re-executed after `reset_plan_states`, which does not support dynamic filters.
        let optimizer = &mut config.options_mut().optimizer;
        optimizer.enable_dynamic_filter_pushdown = false;
        optimizer.enable_join_dynamic_filter_pushdown = false;
        optimizer.enable_topk_dynamic_filter_pushdown = false;
        optimizer.enable_aggregate_dynamic_filter_pushdown = false;
        let mut compiled = Vec::with_capacity(rules.len());
        for rule in rules {
            // A session per rule: its tables are its own, so rules execute concurrently.
            let ctx = SessionContext::new_with_config(config.clone());
            for udf in crate::udf::all() {
                ctx.register_udf(udf);
            }
            let internal =
                |e: datafusion::error::DataFusionError| EngineError::Internal(e.to_string());
            let logins = Arc::new(LiveTable::new(login_schema()));
            ctx.register_table("logins", logins.clone())
                .map_err(internal)?;
            let mut tables = HashMap::new();
            for t in TABLES {
                let table = Arc::new(LiveTable::new(crate::state::schema(t)));
                ctx.register_table(t, table.clone()).map_err(internal)?;
                tables.insert(t, table);
            }
            let state = ctx.state();
            let sql_err = |message: String| RuleError::Sql {
                file: rule.file.clone(),
                message,
            };
            let plan = state
                .create_logical_plan(&rule.sql)
                .await
                .map_err(|e| sql_err(e.to_string()))?;
            validate_output(&plan).map_err(sql_err)?;
            let plan = state.optimize(&plan).map_err(|e| sql_err(e.to_string()))?;
            // Physical planning also catches type errors the logical plan lets through.
            let physical = state
                .query_planner()
                .create_physical_plan(&plan, &state)
                .await
                .map_err(|e| sql_err(e.to_string()))?;
            let mut used = Vec::new();
            plan.apply_with_subqueries(|node| {
                if let LogicalPlan::TableScan(scan) = node {
                    let name = scan.table_name.table().to_string();
                    if let Some(t) = TABLES.iter().find(|t| **t == name) {
                        if !used.contains(t) {
                            used.push(*t);
                        }
                    }
                }
                Ok(TreeNodeRecursion::Continue)
            })
            .map_err(|e| sql_err(e.to_string()))?;
            compiled.push(Compiled {
                rule,
                physical,
                logins,
                tables,
                task_ctx: state.task_ctx(),
                state_tables: used,
                evaluated_to: None,
            });
        }
        let horizon = compiled
            .iter()
            .map(|c| c.rule.spec.window.retention().as_millis())
            .max()
            .unwrap_or(0)
            + MINUTE;
        Ok(Engine {
            baselines: Baselines::new(cfg.state.clone()),
            dedupe: Dedupe {
                cap: cfg.dedupe_capacity.max(1),
                set: HashSet::new(),
                order: VecDeque::new(),
            },
            cfg,
            rules: compiled,
            clocks: Clocks::default(),
            watermark: None,
            buffer: BTreeMap::new(),
            pending_fold: BTreeMap::new(),
            arrivals: Vec::new(),
            arrival_on_time: Vec::new(),
            first_arrival: None,
            alerted: HashSet::new(),
            horizon,
            max_event_time: None,
            inventory: HashMap::new(),
            app_labels: HashSet::new(),
        })
    }

    pub fn rules(&self) -> impl Iterator<Item = &Rule> {
        self.rules.iter().map(|c| &c.rule)
    }

    /// The processed watermark (ms since the epoch).
    pub fn watermark(&self) -> Option<i64> {
        self.watermark
    }

    /// Events with an event time at or after this are still needed by open windows or not yet
    /// evaluated; their input offsets must not be committed. `None` = nothing processed yet.
    pub fn retain_from(&self) -> Option<i64> {
        self.watermark.map(|w| w - self.horizon)
    }

    /// `partition` has data on its way (e.g. a replay): hold the watermark until it delivers some
    /// or goes idle.
    pub fn expect_partition(&mut self, partition: i32, now: Instant) {
        self.clocks.expect(partition, now);
    }

    /// A partition was revoked: it no longer holds the watermark back.
    pub fn forget_partition(&mut self, partition: i32) {
        self.clocks.forget(partition);
    }

    /// Admits one decoded event from `partition`.
    pub fn ingest(&mut self, partition: i32, event: LoginEvent, now: Instant) -> Admission {
        let m = metrics();
        if !self.dedupe.insert(event.login_identity()) {
            m.analyzer_duplicate_events
                .with_label_values(&[] as &[&str])
                .inc();
            return Admission::Duplicate;
        }
        self.count_login(&event);
        let t = event.event_time.timestamp_millis();
        self.clocks.observe(partition, t, now);
        self.max_event_time = Some(self.max_event_time.map_or(t, |m| m.max(t)));
        self.first_arrival.get_or_insert(now);
        let late = self.watermark.is_some_and(|w| t < w);
        if late {
            m.late_events.with_label_values(&[] as &[&str]).inc();
        } else {
            self.pending_fold
                .entry(t)
                .or_default()
                .push(FoldRecord::from_event(&event));
        }
        self.arrivals.push(event);
        self.arrival_on_time.push(!late);
        if late {
            Admission::Late
        } else {
            Admission::OnTime
        }
    }

    fn count_login(&mut self, e: &LoginEvent) {
        let m = metrics();
        m.logins
            .with_label_values(&[
                e.org_id.as_str(),
                e.login_type.as_deref().unwrap_or("unknown"),
                e.auth_method.as_str(),
                e.outcome.as_str(),
            ])
            .inc();
        if e.auth_method.is_password_based() {
            let app = e.application.clone().unwrap_or_else(|| "N/A".into());
            let label = if self.app_labels.contains(&app)
                || self.app_labels.len() < APPLICATION_LABEL_CAP
            {
                self.app_labels.insert(app.clone());
                app
            } else {
                "other".to_string()
            };
            m.password_logins
                .with_label_values(&[
                    e.org_id.as_str(),
                    e.auth_method.as_str(),
                    &label,
                    e.outcome.as_str(),
                ])
                .inc();
            if let Some(user) = &e.user_id {
                let users = self
                    .inventory
                    .entry((
                        e.org_id.clone(),
                        e.auth_method.as_str().to_string(),
                        label.clone(),
                    ))
                    .or_default();
                if users.len() < self.cfg.state.max_users && users.insert(user.clone()) {
                    m.password_login_inventory_users
                        .with_label_values(&[e.org_id.as_str(), e.auth_method.as_str(), &label])
                        .set(users.len() as i64);
                }
            }
        }
    }

    /// Evaluates per-event rules on what arrived since the last trigger, then advances the
    /// watermark and evaluates what it closed. Call after each micro-batch (never per message).
    pub async fn trigger(&mut self, now: Instant) -> Result<Vec<Detection>, EngineError> {
        let mut out = Vec::new();
        self.absorb_arrivals(&mut out).await?;
        let idle = self.cfg.idle_timeout.as_std();
        if let Some(low) = self.clocks.low(now, idle) {
            let target = low.saturating_sub(self.cfg.allowed_lateness.as_millis());
            self.advance_to(target, false, &mut out).await?;
        }
        if let Some(w) = self.watermark {
            let lag = (self.cfg.clock.now().timestamp_millis() - w) as f64 / 1000.0;
            metrics()
                .watermark_lag
                .with_label_values(&[] as &[&str])
                .set(lag);
        }
        self.baselines.publish_metrics();
        Ok(out)
    }

    /// End of a finite input: closes every window.
    pub async fn finish(&mut self) -> Result<Vec<Detection>, EngineError> {
        let mut out = Vec::new();
        self.absorb_arrivals(&mut out).await?;
        if let Some(max) = self.max_event_time {
            // Past the last event by the longest window, so everything closes.
            let end = max + self.horizon + self.cfg.max_step.as_millis() + 1;
            self.advance_to(end, true, &mut out).await?;
        }
        Ok(out)
    }

    async fn absorb_arrivals(&mut self, out: &mut Vec<Detection>) -> Result<(), EngineError> {
        let arrivals = std::mem::take(&mut self.arrivals);
        let on_time = std::mem::take(&mut self.arrival_on_time);
        let arrived_at = self.first_arrival.take();
        if arrivals.is_empty() {
            return Ok(());
        }
        // One conversion: per-event rules see every arrival, the window buffer the on-time ones.
        let batch = to_record_batch(&arrivals).map_err(|e| EngineError::Internal(e.to_string()))?;
        let mut buckets: BTreeMap<i64, Vec<bool>> = BTreeMap::new();
        for (i, e) in arrivals.iter().enumerate() {
            if on_time[i] {
                let b = e.event_time.timestamp_millis().div_euclid(BUCKET);
                buckets
                    .entry(b)
                    .or_insert_with(|| vec![false; arrivals.len()])[i] = true;
            }
        }
        let whole = buckets.len() == 1 && on_time.iter().all(|t| *t);
        for (bucket, mask) in buckets {
            let part = if whole {
                batch.clone()
            } else {
                filter_record_batch(&batch, &BooleanArray::from(mask))
                    .map_err(|e| EngineError::Internal(e.to_string()))?
            };
            self.buffer.entry(bucket).or_default().push(part);
        }
        let jobs: Vec<(usize, Vec<RecordBatch>)> = (0..self.rules.len())
            .filter(|i| matches!(self.rules[*i].rule.spec.window, WindowSpec::PerEvent { .. }))
            .map(|i| (i, vec![batch.clone()]))
            .collect();
        for (i, rows) in self.run_all(jobs, None).await? {
            for row in rows {
                if self.alerted.insert((i, row.key.clone(), row.window_start)) {
                    let d = self.detection(i, &row, false);
                    if let Some(at) = arrived_at {
                        metrics()
                            .detection_latency
                            .with_label_values(&[d.rule.category.as_str()])
                            .observe(at.elapsed().as_secs_f64());
                    }
                    out.push(d);
                }
            }
        }
        Ok(())
    }

    async fn advance_to(
        &mut self,
        target: i64,
        flushing: bool,
        out: &mut Vec<Detection>,
    ) -> Result<(), EngineError> {
        let start = match self.watermark {
            Some(w) if target <= w => return Ok(()),
            Some(w) => w,
            // First advance: start at the earliest pending event.
            None => match self.pending_fold.keys().next() {
                Some(first) => (*first).min(target),
                None => {
                    self.watermark = Some(target);
                    return Ok(());
                }
            },
        };
        let step = self.cfg.max_step.as_millis().max(1);
        let mut lo = start;
        while lo < target {
            let hi = (lo + step).min(target);
            self.step(lo, hi, flushing && hi == target, out).await?;
            lo = hi;
            self.watermark = Some(hi);
        }
        Ok(())
    }

    /// Evaluates the event-time range [lo, hi).
    async fn step(
        &mut self,
        lo: i64,
        hi: i64,
        last: bool,
        out: &mut Vec<Detection>,
    ) -> Result<(), EngineError> {
        // 1. Baseline rules: each on-time event of [lo, hi) against state as of lo.
        let fresh = self.rows_between(lo, hi);
        if !fresh.is_empty() {
            // The baseline rules share one state snapshot: each table is built once per step.
            let mut tables = StateSnapshot::new(keys_of(&fresh));
            let jobs: Vec<(usize, Vec<RecordBatch>)> = (0..self.rules.len())
                .filter(|i| matches!(self.rules[*i].rule.spec.window, WindowSpec::EventTime))
                .map(|i| (i, fresh.clone()))
                .collect();
            for (i, rows) in self.run_all(jobs, Some(&mut tables)).await? {
                for row in rows {
                    out.push(self.detection(i, &row, false));
                }
            }
        }
        // 2. Fold [lo, hi) into the baselines.
        let later = self.pending_fold.split_off(&hi);
        let done = std::mem::replace(&mut self.pending_fold, later);
        let records: Vec<FoldRecord> = done.into_values().flatten().collect();
        if !records.is_empty() {
            self.baselines.fold(&records);
        }
        // 3. Windows whose end passed: what each rule evaluates, then all of them at once.
        let mut jobs = Vec::new();
        // Parallel to `jobs`: (evaluated_to before this step, default window length, summary).
        let mut closing = Vec::new();
        for i in 0..self.rules.len() {
            let window = self.rules[i].rule.spec.window.clone();
            let evaluated = self.rules[i].evaluated_to.unwrap_or(lo);
            let (from, to, summary) = match window {
                WindowSpec::EventTime | WindowSpec::PerEvent { summary: None } => continue,
                WindowSpec::PerEvent {
                    summary: Some(size),
                }
                | WindowSpec::Tumbling { size } => {
                    let size = size.as_millis();
                    let (first_end, last_end) = (
                        evaluated.div_euclid(size) * size + size,
                        hi.div_euclid(size) * size,
                    );
                    if first_end > last_end {
                        continue;
                    }
                    (
                        first_end - size,
                        last_end,
                        matches!(window, WindowSpec::PerEvent { .. }),
                    )
                }
                WindowSpec::Hopping { size, slide } => {
                    let (size, slide) = (size.as_millis(), slide.as_millis());
                    let (first_end, last_end) = (
                        evaluated.div_euclid(slide) * slide + slide,
                        hi.div_euclid(slide) * slide,
                    );
                    if first_end > last_end {
                        continue;
                    }
                    (first_end - size, last_end, false)
                }
                WindowSpec::Session { gap, max_duration } => {
                    // Sessions are checked once per minute of event time (and at the end).
                    if !last && hi.div_euclid(MINUTE) == evaluated.div_euclid(MINUTE) {
                        continue;
                    }
                    (
                        evaluated - gap.as_millis() - max_duration.as_millis(),
                        hi,
                        false,
                    )
                }
            };
            self.rules[i].evaluated_to = Some(hi);
            let rows_in = self.rows_between(from, to);
            if rows_in.is_empty() {
                continue;
            }
            let default_len = match window {
                WindowSpec::PerEvent { summary: Some(s) } | WindowSpec::Tumbling { size: s } => {
                    s.as_millis()
                }
                WindowSpec::Hopping { size, .. } => size.as_millis(),
                _ => 0,
            };
            closing.push((evaluated, default_len, summary));
            jobs.push((i, rows_in));
        }
        let outputs = self.run_all(jobs, None).await?;
        for ((i, rows), (evaluated, default_len, summary)) in outputs.into_iter().zip(closing) {
            for row in rows {
                let end = row.window_end.unwrap_or(row.window_start + default_len);
                let end = if summary {
                    row.window_start + default_len
                } else {
                    end
                };
                if end <= evaluated || end > hi {
                    continue;
                }
                if summary && row.count.unwrap_or(1) < 2 {
                    continue;
                }
                out.push(self.detection(i, &row, summary));
            }
        }
        // 4. Forget what no window needs any more.
        let keep_from = hi - self.horizon;
        let first_kept_bucket = keep_from.div_euclid(BUCKET);
        self.buffer = self.buffer.split_off(&first_kept_bucket);
        let lateness = self.cfg.allowed_lateness.as_millis();
        let summaries: HashMap<usize, i64> = self
            .rules
            .iter()
            .enumerate()
            .map(|(i, c)| match c.rule.spec.window {
                WindowSpec::PerEvent { summary } => {
                    (i, summary.unwrap_or(Span::hours(1)).as_millis())
                }
                _ => (i, 0),
            })
            .collect();
        self.alerted.retain(|(i, _, ws)| {
            *ws + summaries.get(i).copied().unwrap_or(0) + lateness + self.horizon >= hi
        });
        Ok(())
    }

    /// Buffered on-time rows with event time in [lo, hi), as one batch: the buffer holds one small
    /// batch per minute and trigger, and DataFusion's cost per batch dwarfs the copy.
    fn rows_between(&self, lo: i64, hi: i64) -> Vec<RecordBatch> {
        let parts = self.batches_between(lo, hi);
        if parts.len() < 2 {
            return parts;
        }
        match concat_batches(&parts[0].schema(), &parts) {
            Ok(one) => vec![one],
            Err(_) => parts,
        }
    }

    fn batches_between(&self, lo: i64, hi: i64) -> Vec<RecordBatch> {
        if hi <= lo {
            return Vec::new();
        }
        let mut out = Vec::new();
        let (b_lo, b_hi) = (lo.div_euclid(BUCKET), (hi - 1).div_euclid(BUCKET));
        for (bucket, batches) in self.buffer.range(b_lo..=b_hi) {
            let whole = *bucket * BUCKET >= lo && (*bucket + 1) * BUCKET <= hi;
            for b in batches {
                if whole {
                    out.push(b.clone());
                } else if let Some(f) = filter_time(b, lo, hi) {
                    out.push(f);
                }
            }
        }
        out
    }

    /// Executes each `(rule, rows)` job, concurrently (each rule has its own tables), and returns
    /// the outputs of every job in job order, or the first error once every started execution has
    /// finished. State tables come from `shared` when given (the jobs then share its keys), else
    /// from a snapshot of each job's own rows.
    async fn run_all(
        &mut self,
        jobs: Vec<(usize, Vec<RecordBatch>)>,
        mut shared: Option<&mut StateSnapshot>,
    ) -> Result<Vec<(usize, Vec<OutRow>)>, EngineError> {
        let mut running = Vec::with_capacity(jobs.len());
        let mut failure = None;
        for (i, rows) in jobs {
            let c = &self.rules[i];
            let mut own = None;
            let tables = match shared.as_deref_mut() {
                Some(t) => t,
                None => own.insert(StateSnapshot::new(if c.state_tables.is_empty() {
                    Keys::default()
                } else {
                    keys_of(&rows)
                })),
            };
            for t in &c.state_tables {
                let batch = tables
                    .built
                    .entry(t)
                    .or_insert_with(|| self.baselines.table(t, &tables.keys));
                c.tables[t].set(vec![batch.clone()]);
            }
            // Fresh operator state (hash-join build sides, sort buffers) over the same plan.
            let physical = match reset_plan_states(c.physical.clone()) {
                Ok(p) => p,
                Err(e) => {
                    failure.get_or_insert(self.evaluation_error(i, e.to_string()));
                    break;
                }
            };
            c.logins.set(rows);
            let task_ctx = c.task_ctx.clone();
            let started = Instant::now();
            let handle = tokio::spawn(async move {
                let result = collect(physical, task_ctx).await;
                (result, started.elapsed())
            });
            running.push((i, handle));
        }
        let mut out = Vec::with_capacity(running.len());
        for (i, handle) in running {
            let joined = handle.await;
            self.rules[i].logins.clear();
            let result = match joined {
                Ok((Ok(batches), took)) => {
                    metrics()
                        .rule_evaluation_duration
                        .with_label_values(&[self.rules[i].rule.spec.id.as_str()])
                        .observe(took.as_secs_f64());
                    parse_output(&batches).map_err(|m| self.evaluation_error(i, m))
                }
                Ok((Err(e), _)) => Err(self.evaluation_error(i, e.to_string())),
                Err(e) => Err(self.evaluation_error(i, format!("execution task failed: {e}"))),
            };
            // Wait for every task before reporting, so no execution outlives this call.
            match result {
                Ok(rows) => out.push((i, rows)),
                Err(e) => {
                    failure.get_or_insert(e);
                }
            }
        }
        match failure {
            Some(e) => Err(e),
            None => Ok(out),
        }
    }

    fn evaluation_error(&self, i: usize, message: String) -> EngineError {
        let rule = &self.rules[i].rule;
        EngineError::Evaluation {
            rule: rule.spec.id.clone(),
            file: rule.file.display().to_string(),
            message,
        }
    }

    fn detection(&self, i: usize, row: &OutRow, summary: bool) -> Detection {
        let rule = &self.rules[i].rule;
        let spec = &rule.spec;
        let severity = row
            .severity
            .as_deref()
            .and_then(Severity::parse)
            .unwrap_or(spec.severity);
        let key = if summary {
            format!("{}#summary", row.key)
        } else {
            row.key.clone()
        };
        let start = millis(row.window_start);
        let end = match (summary, &spec.window) {
            (true, WindowSpec::PerEvent { summary: Some(s) }) => {
                millis(row.window_start + s.as_millis())
            }
            _ => millis(row.window_end.unwrap_or(row.window_start)),
        };
        let count = row.count.unwrap_or(1).max(0) as u64;
        let base_message = row.message.clone().unwrap_or_else(|| spec.name.clone());
        let message = if summary {
            format!(
                "{count} logins in this {} window (first alerted earlier): {base_message}",
                self.summary_len(i)
            )
        } else {
            base_message
        };
        let mut evidence = row.evidence.clone();
        evidence.truncate(EVIDENCE_CAP);
        let m = metrics();
        m.detections
            .with_label_values(&[spec.category.as_str(), severity.as_str()])
            .inc();
        Detection {
            timestamp: end,
            message,
            event: DetectionEvent {
                kind: "alert".into(),
                id: detection_id(&spec.id, &key, start),
                category: vec!["authentication".into()],
                start,
                end,
                severity: severity.number(),
            },
            rule: RuleInfo {
                id: spec.id.clone(),
                name: spec.name.clone(),
                category: spec.category,
                description: spec.description.trim().to_string(),
            },
            threat: Threat {
                framework: "MITRE ATT&CK".into(),
                technique: Technique {
                    id: spec.mitre.technique_id.clone(),
                    name: spec.mitre.technique_name.clone(),
                },
            },
            user: (row.user_id.is_some() || row.username.is_some()).then(|| UserInfo {
                id: row.user_id.clone(),
                name: row.username.clone(),
            }),
            source: (row.source_ip.is_some() || row.country_iso.is_some()).then(|| SourceInfo {
                ip: row.source_ip.clone(),
                geo: row.country_iso.as_ref().map(|c| GeoInfo {
                    country_iso_code: Some(c.clone()),
                }),
            }),
            cloud: CloudInfo {
                account: CloudAccount {
                    id: row.org_id.clone(),
                },
            },
            salesforce: SalesforceInfo {
                login: SalesforceLogin {
                    login_type: row.login_type.clone(),
                    sub_type: row.login_sub_type.clone(),
                    application: row.application.clone(),
                    api_type: row.api_type.clone(),
                    auth_method: row.auth_method.clone(),
                },
            },
            loginwatch: LoginwatchInfo {
                count,
                evidence,
                remediation: rule.remediation(),
                severity,
            },
        }
    }

    fn summary_len(&self, i: usize) -> String {
        match self.rules[i].rule.spec.window {
            WindowSpec::PerEvent { summary: Some(s) } => s.to_string(),
            _ => String::new(),
        }
    }
}

fn millis(ms: i64) -> DateTime<Utc> {
    loginwatch_shared::time::from_millis(ms).unwrap_or_default()
}

fn filter_time(b: &RecordBatch, lo: i64, hi: i64) -> Option<RecordBatch> {
    let t = b
        .column_by_name("event_time")?
        .as_primitive_opt::<TimestampMillisecondType>()?;
    let lo_s = TimestampMillisecondArray::new_scalar(lo);
    let hi_s = TimestampMillisecondArray::new_scalar(hi);
    // Compare without the time zone (the scalars carry none); same values, no copy.
    let plain = t.clone().with_timezone_opt(None::<Arc<str>>);
    let mask: BooleanArray = and(&gt_eq(&plain, &lo_s).ok()?, &lt(&plain, &hi_s).ok()?).ok()?;
    if mask.true_count() == 0 {
        return None;
    }
    filter_record_batch(b, &mask).ok()
}

/// State tables built for one set of keys, valid until the baselines next change.
struct StateSnapshot {
    keys: Keys,
    built: HashMap<&'static str, RecordBatch>,
}

impl StateSnapshot {
    fn new(keys: Keys) -> Self {
        StateSnapshot {
            keys,
            built: HashMap::new(),
        }
    }
}

fn keys_of(rows: &[RecordBatch]) -> Keys {
    // Borrowed first: most rows repeat a user already seen, and owning each would allocate.
    let mut orgs: HashSet<&str> = HashSet::new();
    let mut users: HashSet<(&str, &str)> = HashSet::new();
    let mut from: Option<i64> = None;
    for b in rows {
        if let Some(times) = b
            .column_by_name("event_time")
            .and_then(|c| c.as_primitive_opt::<TimestampMillisecondType>())
        {
            if let Some(min) = arrow::compute::min(times) {
                from = Some(from.map_or(min, |f| f.min(min)));
            }
        }
        let (Some(org), Some(user)) = (
            b.column_by_name("org_id")
                .and_then(|c| c.as_string_opt::<i32>()),
            b.column_by_name("user_id")
                .and_then(|c| c.as_string_opt::<i32>()),
        ) else {
            continue;
        };
        for i in 0..b.num_rows() {
            if org.is_null(i) {
                continue;
            }
            let o = org.value(i);
            orgs.insert(o);
            if user.is_valid(i) {
                users.insert((o, user.value(i)));
            }
        }
    }
    Keys {
        orgs: orgs.into_iter().map(str::to_string).collect(),
        users: users
            .into_iter()
            .map(|(o, u)| (o.to_string(), u.to_string()))
            .collect(),
        from,
    }
}

const REQUIRED: [&str; 3] = ["key", "window_start", "org_id"];
const TEXT_COLUMNS: [&str; 13] = [
    "key",
    "org_id",
    "user_id",
    "username",
    "source_ip",
    "country_iso",
    "application",
    "login_type",
    "login_sub_type",
    "api_type",
    "auth_method",
    "severity",
    "message",
];

fn validate_output(plan: &LogicalPlan) -> Result<(), String> {
    let schema = plan.schema();
    for col in REQUIRED {
        if schema.field_with_unqualified_name(col).is_err() {
            return Err(format!(
                "the query must return a column `{col}` (output contract: key, window_start, org_id, …)"
            ));
        }
    }
    for f in schema.fields() {
        let name = f.name().as_str();
        let ok = match name {
            "window_start" | "window_end" => matches!(f.data_type(), DataType::Timestamp(_, _)),
            "count" => f.data_type().is_integer(),
            "evidence" => matches!(
                f.data_type(),
                DataType::List(_)
                    | DataType::LargeList(_)
                    | DataType::Utf8
                    | DataType::Utf8View
                    | DataType::LargeUtf8
            ),
            n if TEXT_COLUMNS.contains(&n) => matches!(
                f.data_type(),
                DataType::Utf8 | DataType::Utf8View | DataType::LargeUtf8 | DataType::Null
            ),
            _ => true,
        };
        if !ok {
            return Err(format!(
                "output column `{name}` has type {} which the output contract does not accept",
                f.data_type()
            ));
        }
    }
    Ok(())
}

fn text_col(b: &RecordBatch, name: &str) -> Result<Option<StringArray>, String> {
    match b.column_by_name(name) {
        None => Ok(None),
        Some(c) => {
            let c = cast(c, &DataType::Utf8).map_err(|e| format!("column {name}: {e}"))?;
            Ok(Some(c.as_string::<i32>().clone()))
        }
    }
}

fn parse_output(batches: &[RecordBatch]) -> Result<Vec<OutRow>, String> {
    let mut rows = Vec::new();
    for b in batches {
        let t = |name: &str| -> Result<Option<ArrayRef>, String> {
            b.column_by_name(name)
                .map(|c| cast(c, &ts_type()).map_err(|e| format!("column {name}: {e}")))
                .transpose()
        };
        let ws = t("window_start")?.ok_or("missing window_start")?;
        let ws = ws.as_primitive::<TimestampMillisecondType>();
        let we = t("window_end")?;
        let we = we
            .as_ref()
            .map(|a| a.as_primitive::<TimestampMillisecondType>());
        let count = b
            .column_by_name("count")
            .map(|c| cast(c, &DataType::Int64).map_err(|e| format!("column count: {e}")))
            .transpose()?;
        let count = count.as_ref().map(|c| c.as_primitive::<Int64Type>());
        let texts: HashMap<&str, Option<StringArray>> = TEXT_COLUMNS
            .iter()
            .map(|n| text_col(b, n).map(|c| (*n, c)))
            .collect::<Result<_, _>>()?;
        let evidence = b.column_by_name("evidence");
        for i in 0..b.num_rows() {
            let get = |n: &str| -> Option<String> {
                texts
                    .get(n)
                    .and_then(|c| c.as_ref())
                    .and_then(|c| c.is_valid(i).then(|| c.value(i).to_string()))
            };
            let (Some(key), Some(org_id)) = (get("key"), get("org_id")) else {
                continue;
            };
            if ws.is_null(i) {
                continue;
            }
            rows.push(OutRow {
                key,
                window_start: ws.value(i),
                window_end: we.and_then(|a| a.is_valid(i).then(|| a.value(i))),
                org_id,
                user_id: get("user_id"),
                username: get("username"),
                source_ip: get("source_ip"),
                country_iso: get("country_iso"),
                application: get("application"),
                login_type: get("login_type"),
                login_sub_type: get("login_sub_type"),
                api_type: get("api_type"),
                auth_method: get("auth_method"),
                count: count.and_then(|c| c.is_valid(i).then(|| c.value(i))),
                evidence: evidence.map(|e| evidence_at(e, i)).unwrap_or_default(),
                severity: get("severity"),
                message: get("message"),
            });
        }
    }
    Ok(rows)
}

fn evidence_at(col: &ArrayRef, i: usize) -> Vec<String> {
    if col.is_null(i) {
        return Vec::new();
    }
    let values: Option<ArrayRef> = match col.data_type() {
        DataType::List(_) => Some(col.as_list::<i32>().value(i)),
        DataType::LargeList(_) => Some(col.as_list::<i64>().value(i)),
        _ => None,
    };
    match values {
        Some(v) => match cast(&v, &DataType::Utf8) {
            Ok(v) => v
                .as_string::<i32>()
                .iter()
                .flatten()
                .map(str::to_string)
                .collect(),
            Err(_) => Vec::new(),
        },
        None => match cast(col, &DataType::Utf8) {
            Ok(c) => c
                .as_string::<i32>()
                .value(i)
                .split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_string)
                .collect(),
            Err(_) => Vec::new(),
        },
    }
}
