//! LoginHistory polling for one org.
//!
//! Each cycle queries one bounded window `[watermark − overlap, min(watermark + max_window,
//! now − settle))`, filtering on `LoginTime` only (the filterable field) in ascending order, and
//! follows `nextRecordsUrl` page by page. Rows whose `Id` was already delivered inside the overlap
//! are skipped, so rows that share a `LoginTime` across a page boundary or land late are neither
//! lost nor duplicated. After Kafka acknowledged a page, the watermark moves to the newest
//! `LoginTime` of that page and the cursor file is replaced; when the window is exhausted it moves
//! to the window's end. A restart resumes from the file exactly.

use std::time::Duration;

use chrono::{DateTime, SecondsFormat, Utc};
use loginwatch_shared::kafka::DeadLetter;
use loginwatch_shared::metrics::metrics;
use loginwatch_shared::ops::Readiness;
use loginwatch_shared::parse::{self, ParseContext};
use tokio_util::sync::CancellationToken;

use crate::budget::Pace;
use crate::config::LoginHistorySettings;
use crate::enrich::Enricher;
use crate::salesforce::{SalesforceClient, SfError};
use crate::sink::{KafkaSink, Outgoing, SinkError};
use crate::state::{LoginHistoryCursor, StateError, StateStore};

pub const SOURCE: &str = "login_history";

/// Every documented LoginHistory field the canonical event uses (API 61.0+ for ForwardedForIp).
pub const FIELDS: &str = "Id, UserId, LoginTime, LoginType, LoginSubType, LoginUrl, SourceIp, Status, Application, \
Browser, Platform, ApiType, ApiVersion, ClientVersion, CipherSuite, TlsProtocol, CountryIso, LoginGeoId, \
AuthenticationServiceId, AuthMethodReference, NetworkId, OptionsIsGet, OptionsIsPost";

#[derive(Debug, thiserror::Error)]
pub enum PollError {
    #[error(transparent)]
    Salesforce(#[from] SfError),
    #[error(transparent)]
    Sink(#[from] SinkError),
    #[error(transparent)]
    State(#[from] StateError),
    #[error(
        "org {org}: a LoginHistory page is not a query result ({detail}); the window is retried"
    )]
    Page { org: String, detail: String },
    #[error("shutting down")]
    Cancelled,
}

/// SOQL dateTime literal (unquoted, UTC, milliseconds).
pub fn soql_datetime(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

pub fn window_query(start: DateTime<Utc>, end: DateTime<Utc>) -> String {
    format!(
        "SELECT {FIELDS} FROM LoginHistory WHERE LoginTime >= {} AND LoginTime < {} ORDER BY LoginTime ASC",
        soql_datetime(start),
        soql_datetime(end)
    )
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CycleOutcome {
    /// The window reached `now − settle`: wait for the poll interval.
    CaughtUp,
    /// More history remains: poll again right away.
    Behind,
}

pub struct LoginHistoryPoller {
    pub client: SalesforceClient,
    pub sink: KafkaSink,
    pub store: StateStore,
    pub settings: LoginHistorySettings,
    pub readiness: Readiness,
    pub enricher: Enricher,
    cancel: CancellationToken,
}

impl LoginHistoryPoller {
    pub fn new(
        client: SalesforceClient,
        sink: KafkaSink,
        store: StateStore,
        settings: LoginHistorySettings,
        readiness: Readiness,
    ) -> LoginHistoryPoller {
        let enricher = Enricher::new(settings.enrich_username, settings.enrich_geo);
        let cancel = client.cancel_token().clone();
        LoginHistoryPoller {
            client,
            sink,
            store,
            settings,
            readiness,
            enricher,
            cancel,
        }
    }

    fn org(&self) -> &str {
        &self.client.org_id
    }

    fn readiness_key(&self) -> String {
        format!("org:{}:{SOURCE}", self.org())
    }

    /// The saved cursor, or a new one at `initial_start` (or `initial_lookback_secs` back from now).
    pub fn load_cursor(&self) -> Result<LoginHistoryCursor, StateError> {
        Ok(self
            .store
            .load(self.org(), SOURCE)?
            .unwrap_or_else(|| LoginHistoryCursor {
                watermark: self.settings.initial_start.unwrap_or_else(|| {
                    self.client.clock().now_millis()
                        - chrono::Duration::seconds(self.settings.initial_lookback_secs as i64)
                }),
                seen: Default::default(),
            }))
    }

    /// Polls until cancelled. Errors are logged and retried with back-off; they never end the loop.
    pub async fn run(mut self) {
        let org = self.org().to_string();
        self.readiness.set(&self.readiness_key(), false);
        let mut cursor = loop {
            match self.load_cursor() {
                Ok(c) => break c,
                Err(e) => {
                    tracing::error!(%org, error = %e, "cannot read the LoginHistory cursor; not polling this org until fixed");
                    if self
                        .sleep(Duration::from_secs(self.settings.poll_interval_secs))
                        .await
                    {
                        return;
                    }
                }
            }
        };
        let paused_gauge = metrics().ingest_polling_paused.with_label_values(&[&org]);
        let mut failures: u32 = 0;
        while !self.cancel.is_cancelled() {
            let pace = self.client.budget.pace();
            if pace == Pace::Paused {
                paused_gauge.set(1);
                tracing::warn!(%org, share = ?self.client.budget.usage_share(), "daily API allocation nearly used; LoginHistory polling paused");
                if self
                    .sleep(Duration::from_secs(
                        self.client.budget.settings().pause_probe_secs,
                    ))
                    .await
                {
                    break;
                }
                self.probe_limits().await;
                continue;
            }
            paused_gauge.set(0);
            match self.poll_once(&mut cursor).await {
                Ok(outcome) => {
                    failures = 0;
                    self.readiness.set(&self.readiness_key(), true);
                    let base = Duration::from_secs(self.settings.poll_interval_secs);
                    let wait = match (outcome, pace) {
                        (CycleOutcome::CaughtUp, Pace::Slow(f)) => base * f,
                        (CycleOutcome::CaughtUp, _) => base,
                        // Catching up but asked to slow down: space the windows out too.
                        (CycleOutcome::Behind, Pace::Slow(f)) => base * f / 4,
                        (CycleOutcome::Behind, _) => Duration::ZERO,
                    };
                    if self.sleep(wait).await {
                        break;
                    }
                }
                Err(PollError::Cancelled) | Err(PollError::Salesforce(SfError::Cancelled)) => break,
                Err(e) => {
                    failures += 1;
                    if matches!(e, PollError::Salesforce(SfError::Auth(_))) {
                        self.readiness.set(&self.readiness_key(), false);
                    }
                    let wait = self.client_retry_backoff(failures);
                    tracing::warn!(%org, error = %e, retry_in = ?wait, "LoginHistory poll failed; retrying from the saved cursor");
                    if self.sleep(wait).await {
                        break;
                    }
                }
            }
        }
        tracing::info!(%org, watermark = %soql_datetime(cursor.watermark), "LoginHistory poller stopped");
    }

    fn client_retry_backoff(&self, failures: u32) -> Duration {
        // Between failed cycles wait at least a bit, at most the poll interval (x4 after many failures).
        let max = Duration::from_secs(self.settings.poll_interval_secs.max(1) * 4);
        (Duration::from_millis(500) * 2u32.saturating_pow(failures.min(16))).min(max)
    }

    /// Returns true when cancelled during the sleep.
    async fn sleep(&self, d: Duration) -> bool {
        if d.is_zero() {
            return self.cancel.is_cancelled();
        }
        tokio::select! {
            _ = tokio::time::sleep(d) => false,
            _ = self.cancel.cancelled() => true,
        }
    }

    /// One cheap call while paused, only to read `Sforce-Limit-Info` again: an empty-window
    /// LoginHistory query (every org and every API version answers it; `/limits` needs more permissions).
    async fn probe_limits(&self) {
        let now = self.client.clock().now_millis();
        if let Err(e) = self.client.query(&window_query(now, now), None).await {
            tracing::debug!(org = %self.org(), error = %e, "API usage probe failed");
        }
    }

    /// One bounded window, all its pages. The cursor is saved after every acknowledged page.
    pub async fn poll_once(
        &mut self,
        cursor: &mut LoginHistoryCursor,
    ) -> Result<CycleOutcome, PollError> {
        let overlap = chrono::Duration::seconds(self.settings.overlap_secs as i64);
        let now = self.client.clock().now();
        let limit = loginwatch_shared::time::truncate_to_millis(
            now - chrono::Duration::seconds(self.settings.settle_secs as i64),
        );
        let start = cursor.watermark - overlap;
        let end = (cursor.watermark
            + chrono::Duration::seconds(self.settings.max_window_secs as i64))
        .min(limit);
        if end <= start {
            return Ok(CycleOutcome::CaughtUp);
        }
        let batch = Some(self.settings.batch_size);
        let mut body = self.client.query(&window_query(start, end), batch).await?;
        loop {
            let next = self.process_page(&body, cursor).await?;
            match next {
                Some(url) => {
                    if self.cancel.is_cancelled() {
                        return Err(PollError::Cancelled);
                    }
                    body = self.client.query_more(&url, batch).await?;
                }
                None => break,
            }
        }
        if end > cursor.watermark {
            cursor.watermark = end;
        }
        self.prune(cursor);
        self.store.save(self.org(), SOURCE, cursor)?;
        Ok(if end >= limit {
            CycleOutcome::CaughtUp
        } else {
            CycleOutcome::Behind
        })
    }

    fn prune(&self, cursor: &mut LoginHistoryCursor) {
        let horizon =
            cursor.watermark - chrono::Duration::seconds(self.settings.overlap_secs as i64);
        cursor.seen.retain(|_, t| *t >= horizon);
        if cursor.seen.len() > self.settings.max_seen_ids {
            tracing::warn!(org = %self.org(), ids = cursor.seen.len(), "more ids inside the overlap window than max_seen_ids; shrinking (raise max_seen_ids or lower overlap_secs)");
            let excess = cursor.seen.len() - self.settings.max_seen_ids;
            let mut by_time: Vec<(String, DateTime<Utc>)> =
                cursor.seen.iter().map(|(k, v)| (k.clone(), *v)).collect();
            by_time.sort_by_key(|(_, t)| *t);
            for (id, _) in by_time.into_iter().take(excess) {
                cursor.seen.remove(&id);
            }
        }
    }

    /// Parses, dedupes, enriches and delivers one page; advances and saves the cursor. Returns the next page URL.
    async fn process_page(
        &mut self,
        body: &[u8],
        cursor: &mut LoginHistoryCursor,
    ) -> Result<Option<String>, PollError> {
        let org = self.org().to_string();
        let ctx = ParseContext::new(org.clone()).with_ingested_at(self.client.clock().now());
        let page = parse::login_history::parse_page(body, &ctx).map_err(|e| PollError::Page {
            org: org.clone(),
            detail: e.to_string(),
        })?;
        let next = if page.done {
            None
        } else {
            page.next_records_url.clone()
        };
        let mut fresh = Vec::with_capacity(page.events.len());
        let mut newest: Option<DateTime<Utc>> = None;
        let mut delivered_ids: Vec<(String, DateTime<Utc>)> = Vec::new();
        for ev in page.events {
            let id = ev
                .login_history_id
                .clone()
                .unwrap_or_else(|| ev.event_id.clone());
            newest = newest.max(Some(ev.event_time));
            if cursor.seen.contains_key(&id) {
                continue;
            }
            delivered_ids.push((id, ev.event_time));
            fresh.push(ev);
        }
        let mut outgoing: Vec<Outgoing> = Vec::with_capacity(fresh.len() + page.errors.len());
        let mut dead = 0u64;
        for err in page.errors {
            let (id, time) = raw_id_and_time(&err.raw);
            if let Some(id) = &id {
                if cursor.seen.contains_key(id) {
                    continue;
                }
            }
            if let Some(id) = id {
                delivered_ids.push((id, time.unwrap_or(cursor.watermark)));
            }
            if let Some(t) = time {
                newest = newest.max(Some(t));
            }
            dead += 1;
            tracing::warn!(%org, error = %err.error, "LoginHistory record does not parse; sending it to the dead-letter topic");
            outgoing.push(Outgoing::Dead(
                DeadLetter::new("ingester", SOURCE, err.error.to_string(), err.raw).with_org(&org),
            ));
        }
        if !fresh.is_empty() {
            let geo_ids = self.enricher.geo_ids(body);
            self.enricher
                .enrich(&self.client, &mut fresh, &geo_ids)
                .await;
        }
        let delivered = fresh.len() as u64;
        let newest_event = fresh.iter().map(|e| e.event_time).max();
        outgoing.extend(fresh.into_iter().map(|e| Outgoing::Login(Box::new(e))));
        if !outgoing.is_empty() {
            if let Err(e) = self.sink.deliver(outgoing).await {
                metrics()
                    .ingest_errors
                    .with_label_values(&[&org, SOURCE, "produce"])
                    .inc();
                return Err(e.into());
            }
        }
        let m = metrics();
        m.ingest_records
            .with_label_values(&[&org, SOURCE])
            .inc_by(delivered);
        if dead > 0 {
            m.ingest_errors
                .with_label_values(&[&org, SOURCE, "parse"])
                .inc_by(dead);
        }
        if let Some(t) = newest_event {
            m.ingest_lag
                .with_label_values(&[&org, SOURCE])
                .set((self.client.clock().now() - t).num_milliseconds().max(0) as f64 / 1000.0);
        }
        // Everything up to `newest` on this page is acknowledged: ascending order means every
        // row before it was on this or an earlier page (later stragglers fall in the overlap).
        cursor.seen.extend(delivered_ids);
        if let Some(t) = newest {
            if t > cursor.watermark {
                cursor.watermark = t;
            }
        }
        self.prune(cursor);
        self.store.save(&org, SOURCE, cursor)?;
        Ok(next)
    }
}

/// `Id` and `LoginTime` of a raw record that failed to parse, when they can still be read.
fn raw_id_and_time(raw: &str) -> (Option<String>, Option<DateTime<Utc>>) {
    let Ok(v) = serde_json::from_str::<serde_json::Value>(raw) else {
        return (None, None);
    };
    let id = v.get("Id").and_then(|x| x.as_str()).map(str::to_string);
    let time = v
        .get("LoginTime")
        .and_then(|x| x.as_str())
        .and_then(|s| DateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S%.f%z").ok())
        .map(|t| t.with_timezone(&Utc));
    (id, time)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn window_query_filters_on_login_time_only_and_orders_ascending() {
        let s = DateTime::parse_from_rfc3339("2026-01-01T00:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        let q = window_query(s, s + chrono::Duration::hours(1));
        assert!(q.ends_with(
            "FROM LoginHistory WHERE LoginTime >= 2026-01-01T00:00:00.000Z AND LoginTime < 2026-01-01T01:00:00.000Z ORDER BY LoginTime ASC"
        ), "{q}");
    }

    #[test]
    fn raw_id_and_time_reads_salesforce_offsets() {
        let (id, t) = raw_id_and_time(
            r#"{"Id":"0Ya000000000001AAA","LoginTime":"2026-01-01T10:00:00.000+0000"}"#,
        );
        assert_eq!(id.as_deref(), Some("0Ya000000000001AAA"));
        assert_eq!(t.unwrap().to_rfc3339(), "2026-01-01T10:00:00+00:00");
        assert_eq!(raw_id_and_time("not json"), (None, None));
    }
}
