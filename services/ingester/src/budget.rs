//! The org's daily API allocation, read from `Sforce-Limit-Info: api-usage=used/max` on every
//! REST response, exported as metrics and turned into a polling decision: normal, slower, paused.

use std::sync::atomic::{AtomicU64, Ordering};

use loginwatch_shared::metrics::metrics;

use crate::config::BudgetSettings;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pace {
    Normal,
    /// Multiply the poll interval by this factor.
    Slow(u32),
    /// Do not poll; probe the usage now and then.
    Paused,
}

pub struct ApiBudget {
    org_id: String,
    settings: BudgetSettings,
    used: AtomicU64,
    max: AtomicU64,
}

/// Parses `api-usage=18/15000` (other comma-separated entries such as `per-app-api-usage` ignored).
pub fn parse_limit_info(value: &str) -> Option<(u64, u64)> {
    value.split(',').find_map(|part| {
        let rest = part.trim().strip_prefix("api-usage=")?;
        let (used, max) = rest.split_once('/')?;
        Some((used.trim().parse().ok()?, max.trim().parse().ok()?))
    })
}

impl ApiBudget {
    pub fn new(org_id: &str, settings: BudgetSettings) -> ApiBudget {
        ApiBudget {
            org_id: org_id.to_string(),
            settings,
            used: AtomicU64::new(0),
            max: AtomicU64::new(0),
        }
    }

    /// Records the usage reported by Salesforce.
    pub fn observe(&self, used: u64, max: u64) {
        self.used.store(used, Ordering::Relaxed);
        self.max.store(max, Ordering::Relaxed);
        let m = metrics();
        let org = [self.org_id.as_str()];
        m.salesforce_api_daily_used
            .with_label_values(&org)
            .set(used as i64);
        m.salesforce_api_daily_limit
            .with_label_values(&org)
            .set(max as i64);
        m.salesforce_api_daily_remaining
            .with_label_values(&org)
            .set(max.saturating_sub(used) as i64);
    }

    /// Salesforce said the allocation is used up (`REQUEST_LIMIT_EXCEEDED`).
    pub fn observe_exhausted(&self) {
        let max = self.max.load(Ordering::Relaxed).max(1);
        self.observe(max, max);
    }

    pub fn usage_share(&self) -> Option<f64> {
        let max = self.max.load(Ordering::Relaxed);
        (max > 0).then(|| self.used.load(Ordering::Relaxed) as f64 / max as f64)
    }

    pub fn pace(&self) -> Pace {
        match self.usage_share() {
            Some(s) if s >= self.settings.pause_at => Pace::Paused,
            Some(s) if s >= self.settings.slow_down_at => {
                Pace::Slow(self.settings.slow_down_factor.max(1))
            }
            _ => Pace::Normal,
        }
    }

    pub fn settings(&self) -> &BudgetSettings {
        &self.settings
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_limit_info() {
        assert_eq!(parse_limit_info("api-usage=18/15000"), Some((18, 15000)));
        assert_eq!(
            parse_limit_info("per-app-api-usage=2/250(appName=x), api-usage=7/100"),
            Some((7, 100))
        );
        assert_eq!(parse_limit_info("api-usage=x/100"), None);
        assert_eq!(parse_limit_info(""), None);
    }

    #[test]
    fn pace_follows_shares() {
        let b = ApiBudget::new("00Dbudgettest", BudgetSettings::default());
        assert_eq!(b.pace(), Pace::Normal);
        b.observe(10, 100);
        assert_eq!(b.pace(), Pace::Normal);
        b.observe(60, 100);
        assert_eq!(b.pace(), Pace::Slow(4));
        b.observe(85, 100);
        assert_eq!(b.pace(), Pace::Paused);
        assert_eq!(
            metrics()
                .salesforce_api_daily_remaining
                .with_label_values(&["00Dbudgettest"])
                .get(),
            15
        );
        b.observe(20, 100);
        assert_eq!(b.pace(), Pace::Normal);
    }
}
