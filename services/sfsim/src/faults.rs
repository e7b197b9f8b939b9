//! Fault injection, switchable at start-up (`[faults]` in the config) or at run time
//! (`POST /__admin/faults` with the same JSON, or [`crate::Faults`] in-process).

use serde::{Deserialize, Serialize};

/// Faults to switch on. Standing faults (5xx, slow, truncated JSON) replace the current ones;
/// one-shot actions (`expire_locators`, `revoke_tokens`, `exhaust_quota`, `cometd_disconnect`,
/// `late_rows`, `equal_time_groups`) happen once when the spec is applied.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FaultSpec {
    /// Answer the next N REST / OAuth requests with `http_5xx_status`.
    pub http_5xx_count: u32,
    /// Probability (0–1) that any REST / OAuth request gets `http_5xx_status`.
    pub http_5xx_probability: f64,
    /// 500 (`UNKNOWN_EXCEPTION`) or 503 (`SERVER_UNAVAILABLE`); default 503.
    pub http_5xx_status: Option<u16>,
    /// Delay every REST / OAuth response by this many ms.
    pub slow_ms: u64,
    /// Cut the body of the next N successful query responses in half (invalid JSON, status 200).
    pub truncate_json_count: u32,
    /// Invalidate every open query locator now (`INVALID_QUERY_LOCATOR`).
    pub expire_locators: bool,
    /// Revoke every access token now (`401 INVALID_SESSION_ID`; CometD clients get `403::Unknown client`).
    pub revoke_tokens: bool,
    /// Use up every org's daily API allocation now (`403 REQUEST_LIMIT_EXCEEDED`).
    pub exhaust_quota: bool,
    /// Drop every CometD client now (next message: `403::Unknown client`, advice `handshake`).
    pub cometd_disconnect: bool,
    /// Hide this many of the newest LoginHistory rows (never the very newest) until
    /// `late_rows_after_queries` more queries have run: they then appear with a LoginTime
    /// earlier than rows already returned.
    pub late_rows: u32,
    /// Queries (`/query` calls, not `nextRecordsUrl` pages) before late rows appear; default 1.
    pub late_rows_after_queries: Option<u32>,
    /// Give every run of N consecutive logins the same LoginTime, so equal times straddle page
    /// boundaries (N ≥ 2; 0 = off).
    pub equal_time_groups: u32,
}

impl FaultSpec {
    pub fn validate(&self) -> Result<(), String> {
        if !(0.0..=1.0).contains(&self.http_5xx_probability) {
            return Err("http_5xx_probability must be between 0 and 1".into());
        }
        if let Some(s) = self.http_5xx_status {
            if !(500..=599).contains(&s) {
                return Err("http_5xx_status must be a 5xx status code".into());
            }
        }
        if self.equal_time_groups == 1 {
            return Err("equal_time_groups must be 0 (off) or at least 2".into());
        }
        Ok(())
    }
}

/// The standing faults currently in force.
#[derive(Debug, Clone, Default, Serialize)]
pub struct StandingFaults {
    pub http_5xx_remaining: u32,
    pub http_5xx_probability: f64,
    pub http_5xx_status: u16,
    pub slow_ms: u64,
    pub truncate_json_remaining: u32,
}

impl StandingFaults {
    pub fn set(&mut self, spec: &FaultSpec) {
        self.http_5xx_remaining = spec.http_5xx_count;
        self.http_5xx_probability = spec.http_5xx_probability;
        self.http_5xx_status = spec.http_5xx_status.unwrap_or(503);
        self.slow_ms = spec.slow_ms;
        self.truncate_json_remaining = spec.truncate_json_count;
    }
}
