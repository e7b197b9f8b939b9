//! Detection quality against sfsim's ground truth: recall and precision per category.
//!
//! [`score`] is pure: detections (as read from `loginwatch.detections.v1`) and sfsim's labels in,
//! a [`QualityReport`] out. Per docs/contracts.md category:
//! - recall = primary labels found / primary labels (secondary labels are side effects an
//!   incident also produces, e.g. the new country of a brute-forced login: finding them is
//!   welcome, missing them is not a miss);
//! - precision = detections that match a label of their category (primary or secondary) /
//!   detections.
//!
//! A detection of category C matches a label of category C of the same org when
//! 1. its evidence shares a login with the label: evidence holds `LoginEvent.event_id`, which is
//!    `LoginHistory.Id` for LoginHistory rows (= `Label.login_history_ids`) and `EventIdentifier`
//!    for stream / LoginEvent rows (= `Label.event_identifiers`); or, only when the evidence is
//!    incomplete (capped at [`EVIDENCE_CAP`] ids, fewer ids than `loginwatch.count`),
//! 2. it names the label's user (password_spray: the label's source IP) and its
//!    `[event.start, event.end]` overlaps the label's `[start, end]` widened by [`MATCH_SLACK`].
//!
//! Detections are counted once per `event.id` (delivery is at-least-once).

use std::collections::{BTreeMap, HashSet};
use std::fmt;

use chrono::Duration;
use loginwatch_sfsim::Label;
use loginwatch_shared::detection::{Category, Detection, EVIDENCE_CAP};

/// Slack on the time-overlap fallback: the longest tumbling window of the shipped rules
/// (login_rate_spike, 1 h) and the per-event rules' summary hour.
pub const MATCH_SLACK: Duration = Duration::hours(1);

/// Scores of one category.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CategoryScore {
    /// Primary labels of the category.
    pub labels: usize,
    /// Primary labels matched by at least one detection of the category.
    pub found: usize,
    /// Secondary labels of the category (counted for precision only).
    pub secondary_labels: usize,
    /// Distinct detections (by `event.id`) of the category.
    pub detections: usize,
    /// Detections that match a label (primary or secondary) of the category.
    pub matched: usize,
    /// Of `matched`, those matched only by user/IP and time (their capped evidence shares no
    /// login with a label); the rest share a login id with a label.
    pub matched_by_time: usize,
    /// Ids of primary labels no detection matched.
    pub missed: Vec<String>,
    /// A few unmatched detections (`event.start user/ip: message`), to explain low precision.
    pub false_positive_examples: Vec<String>,
}

impl CategoryScore {
    /// found / labels; `None` without primary labels.
    pub fn recall(&self) -> Option<f64> {
        (self.labels > 0).then(|| self.found as f64 / self.labels as f64)
    }

    /// matched / detections; `None` without detections.
    pub fn precision(&self) -> Option<f64> {
        (self.detections > 0).then(|| self.matched as f64 / self.detections as f64)
    }
}

/// Per-category scores, in docs/contracts.md order.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct QualityReport {
    pub categories: BTreeMap<Category, CategoryScore>,
    /// Labels whose category is not one of docs/contracts.md's (ignored, reported).
    pub unknown_label_categories: Vec<String>,
}

impl QualityReport {
    pub fn get(&self, c: Category) -> &CategoryScore {
        &self.categories[&c]
    }

    /// Sums over every category: (primary labels, found, detections, matched).
    pub fn totals(&self) -> (usize, usize, usize, usize) {
        self.categories.values().fold((0, 0, 0, 0), |t, s| {
            (
                t.0 + s.labels,
                t.1 + s.found,
                t.2 + s.detections,
                t.3 + s.matched,
            )
        })
    }
}

/// How many unmatched detections per category are kept as examples.
const EXAMPLES: usize = 5;

/// Scores `detections` against `labels` (see the module documentation for the matching rule).
pub fn score(detections: &[Detection], labels: &[Label]) -> QualityReport {
    let mut report = QualityReport {
        categories: Category::ALL
            .into_iter()
            .map(|c| (c, CategoryScore::default()))
            .collect(),
        unknown_label_categories: Vec::new(),
    };
    let mut by_category: BTreeMap<Category, Vec<&Label>> = BTreeMap::new();
    for l in labels {
        match Category::parse(&l.category) {
            Some(c) => {
                by_category.entry(c).or_default().push(l);
                let s = report.categories.get_mut(&c).expect("every category");
                if l.primary {
                    s.labels += 1;
                } else {
                    s.secondary_labels += 1;
                }
            }
            None => report.unknown_label_categories.push(l.category.clone()),
        }
    }
    let mut seen_ids = HashSet::new();
    let mut found: HashSet<&str> = HashSet::new();
    for d in detections {
        if !seen_ids.insert(d.event.id.as_str()) {
            continue;
        }
        let c = d.rule.category;
        let candidates = by_category.get(&c).map(Vec::as_slice).unwrap_or(&[]);
        let mut matched = None;
        for l in candidates {
            if let Some(how) = match_kind(d, l) {
                found.insert(l.id.as_str());
                matched = matched.max(Some(how));
            }
        }
        let s = report.categories.get_mut(&c).expect("every category");
        s.detections += 1;
        if let Some(how) = matched {
            s.matched += 1;
            if how == MatchKind::UserAndTime {
                s.matched_by_time += 1;
            }
        } else if s.false_positive_examples.len() < EXAMPLES {
            s.false_positive_examples.push(describe(d));
        }
    }
    for (c, ls) in &by_category {
        let s = report.categories.get_mut(c).expect("every category");
        for l in ls.iter().filter(|l| l.primary) {
            if found.contains(l.id.as_str()) {
                s.found += 1;
            } else {
                s.missed.push(l.id.clone());
            }
        }
    }
    report
}

/// How a detection matched a label (ordered: a shared login beats the fallback).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum MatchKind {
    /// Capped evidence; same user (password_spray: source IP) and overlapping time.
    UserAndTime,
    /// The evidence shares a login id with the label.
    Evidence,
}

/// Whether detection `d` matches label `l`.
pub fn matches(d: &Detection, l: &Label) -> bool {
    match_kind(d, l).is_some()
}

/// How detection `d` matches label `l`, if it does (same category and org required).
pub fn match_kind(d: &Detection, l: &Label) -> Option<MatchKind> {
    if d.rule.category.as_str() != l.category || d.cloud.account.id != l.org_id {
        return None;
    }
    let evidence = &d.loginwatch.evidence;
    if evidence
        .iter()
        .any(|id| l.login_history_ids.contains(id) || l.event_identifiers.contains(id))
    {
        return Some(MatchKind::Evidence);
    }
    // The evidence names every login of the detection: no shared login, no match.
    let complete = evidence.len() < EVIDENCE_CAP && (d.loginwatch.count as usize) <= evidence.len();
    if complete {
        return None;
    }
    let same_subject = if d.rule.category == Category::PasswordSpray {
        let ip = d.source.as_ref().and_then(|s| s.ip.as_deref());
        ip.is_some() && ip == l.source_ip.as_deref()
    } else {
        let user = d.user.as_ref().and_then(|u| u.id.as_deref());
        user.is_some() && user == l.user_id.as_deref()
    };
    (same_subject && d.event.start <= l.end + MATCH_SLACK && d.event.end + MATCH_SLACK >= l.start)
        .then_some(MatchKind::UserAndTime)
}

fn describe(d: &Detection) -> String {
    let who = d
        .user
        .as_ref()
        .and_then(|u| u.name.clone().or_else(|| u.id.clone()))
        .or_else(|| d.source.as_ref().and_then(|s| s.ip.clone()))
        .unwrap_or_else(|| "?".into());
    format!(
        "{} {}: {}",
        d.event.start.format("%Y-%m-%dT%H:%M"),
        who,
        d.message
    )
}

fn ratio(r: Option<f64>) -> String {
    r.map_or_else(|| "-".to_string(), |v| format!("{v:.2}"))
}

/// Columns: primary labels, found, recall, secondary labels ("2nd"), distinct detections,
/// matched detections, of which matched by user/IP and time only ("by-time"), precision.
/// Then every missed primary label and a few unmatched detections per category.
impl fmt::Display for QualityReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "{:<24} {:>7} {:>6} {:>7} {:>6} {:>11} {:>8} {:>8} {:>10}",
            "category",
            "labels",
            "found",
            "recall",
            "2nd",
            "detections",
            "matched",
            "by-time",
            "precision"
        )?;
        for (c, s) in &self.categories {
            writeln!(
                f,
                "{:<24} {:>7} {:>6} {:>7} {:>6} {:>11} {:>8} {:>8} {:>10}",
                c.as_str(),
                s.labels,
                s.found,
                ratio(s.recall()),
                s.secondary_labels,
                s.detections,
                s.matched,
                s.matched_by_time,
                ratio(s.precision())
            )?;
        }
        let (labels, found, detections, matched) = self.totals();
        writeln!(
            f,
            "{:<24} {:>7} {:>6} {:>7} {:>6} {:>11} {:>8} {:>8} {:>10}",
            "all",
            labels,
            found,
            ratio((labels > 0).then(|| found as f64 / labels as f64)),
            "",
            detections,
            matched,
            "",
            ratio((detections > 0).then(|| matched as f64 / detections as f64))
        )?;
        for (c, s) in &self.categories {
            for m in &s.missed {
                writeln!(f, "missed {c}: {m}")?;
            }
            for e in &s.false_positive_examples {
                writeln!(f, "unmatched {c}: {e}")?;
            }
        }
        if !self.unknown_label_categories.is_empty() {
            writeln!(
                f,
                "labels with unknown categories (ignored): {:?}",
                self.unknown_label_categories
            )?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{DateTime, TimeZone, Utc};
    use loginwatch_shared::detection::{
        CloudAccount, CloudInfo, DetectionEvent, LoginwatchInfo, RuleInfo, SalesforceInfo,
        Severity, SourceInfo, Technique, Threat, UserInfo,
    };

    const ORG: &str = "00D5j00000DgAYGEA3";

    fn t(min: i64) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 1, 12, 12, 0, 0).unwrap() + Duration::minutes(min)
    }

    fn label(id: &str, category: Category, primary: bool, user: &str, lh: &[&str]) -> Label {
        Label {
            id: id.into(),
            incident: id.into(),
            category: category.as_str().into(),
            primary,
            org_id: ORG.into(),
            user_id: Some(user.into()),
            username: None,
            source_ip: Some("203.0.113.7".into()),
            start: t(0),
            end: t(10),
            login_history_ids: lh.iter().map(|s| s.to_string()).collect(),
            event_identifiers: lh.iter().map(|s| format!("ev-{s}")).collect(),
            description: String::new(),
        }
    }

    fn detection(
        id: &str,
        category: Category,
        user: &str,
        evidence: &[&str],
        count: u64,
        start: i64,
    ) -> Detection {
        Detection {
            timestamp: t(start),
            message: format!("test detection {id}"),
            event: DetectionEvent {
                kind: "alert".into(),
                id: id.into(),
                category: vec!["authentication".into()],
                start: t(start),
                end: t(start + 1),
                severity: 3,
            },
            rule: RuleInfo {
                id: "LW-TEST".into(),
                name: "test".into(),
                category,
                description: String::new(),
            },
            threat: Threat {
                framework: "MITRE ATT&CK".into(),
                technique: Technique {
                    id: "T1110".into(),
                    name: None,
                },
            },
            user: Some(UserInfo {
                id: Some(user.into()),
                name: None,
            }),
            source: Some(SourceInfo {
                ip: Some("203.0.113.7".into()),
                geo: None,
            }),
            cloud: CloudInfo {
                account: CloudAccount { id: ORG.into() },
            },
            salesforce: SalesforceInfo::default(),
            loginwatch: LoginwatchInfo {
                count,
                evidence: evidence.iter().map(|s| s.to_string()).collect(),
                remediation: None,
                severity: Severity::Medium,
            },
        }
    }

    #[test]
    fn a_hit_by_login_history_id_and_by_event_identifier() {
        let labels = [
            label("bf", Category::BruteForce, true, "005A", &["0Ya1", "0Ya2"]),
            label("nc", Category::NewCountry, true, "005B", &["0Ya3"]),
        ];
        let ds = [
            detection("d1", Category::BruteForce, "005A", &["0Ya9", "0Ya2"], 2, 0),
            // The stream's id for the same login (EventIdentifier).
            detection("d2", Category::NewCountry, "005B", &["ev-0Ya3"], 1, 0),
        ];
        let r = score(&ds, &labels);
        let bf = r.get(Category::BruteForce);
        assert_eq!(
            (bf.labels, bf.found, bf.detections, bf.matched),
            (1, 1, 1, 1)
        );
        assert_eq!(bf.matched_by_time, 0);
        assert_eq!(bf.recall(), Some(1.0));
        assert_eq!(r.get(Category::NewCountry).recall(), Some(1.0));
        assert_eq!(r.get(Category::NewCountry).precision(), Some(1.0));
    }

    #[test]
    fn a_miss_when_only_another_category_or_another_user_fires() {
        let labels = [label("bf", Category::BruteForce, true, "005A", &["0Ya1"])];
        let ds = [
            // Right login, wrong category.
            detection("d1", Category::NewCountry, "005A", &["0Ya1"], 1, 0),
            // Right category and time, another user's complete evidence.
            detection("d2", Category::BruteForce, "005Z", &["0Ya5"], 1, 0),
        ];
        let r = score(&ds, &labels);
        let bf = r.get(Category::BruteForce);
        assert_eq!((bf.labels, bf.found), (1, 0));
        assert_eq!(bf.recall(), Some(0.0));
        assert_eq!(bf.missed, vec!["bf".to_string()]);
        assert_eq!(bf.precision(), Some(0.0));
        // The new_country detection has no label to match: a false positive, not a hit.
        let nc = r.get(Category::NewCountry);
        assert_eq!((nc.labels, nc.detections, nc.matched), (0, 1, 0));
        assert_eq!(nc.recall(), None);
        assert_eq!(nc.false_positive_examples.len(), 1);
    }

    #[test]
    fn complete_evidence_without_a_shared_login_is_a_false_positive_even_at_the_same_time() {
        let labels = [label("uh", Category::UnusualHour, true, "005A", &["0Ya1"])];
        let ds = [detection(
            "d1",
            Category::UnusualHour,
            "005A",
            &["0Ya2"],
            1,
            5,
        )];
        let r = score(&ds, &labels);
        let s = r.get(Category::UnusualHour);
        assert_eq!((s.found, s.detections, s.matched), (0, 1, 0));
    }

    #[test]
    fn capped_evidence_falls_back_to_user_and_time_overlap_with_slack() {
        let labels = [label(
            "rs",
            Category::LoginRateSpike,
            true,
            "005A",
            &["0Ya1"],
        )];
        let cap: Vec<String> = (0..EVIDENCE_CAP).map(|i| format!("other{i}")).collect();
        let cap: Vec<&str> = cap.iter().map(String::as_str).collect();
        let ds = [
            // Starts 50 min after the label ends: within the 1 h slack.
            detection("near", Category::LoginRateSpike, "005A", &cap, 300, 60),
            // A day later: no overlap.
            detection("far", Category::LoginRateSpike, "005A", &cap, 300, 24 * 60),
            // Same time, another user.
            detection("other", Category::LoginRateSpike, "005B", &cap, 300, 0),
        ];
        let r = score(&ds, &labels);
        let s = r.get(Category::LoginRateSpike);
        assert_eq!((s.found, s.detections, s.matched), (1, 3, 1));
        assert_eq!(s.matched_by_time, 1);
    }

    #[test]
    fn password_spray_falls_back_to_the_source_ip() {
        let mut spray = label("ps", Category::PasswordSpray, true, "", &["0Ya1"]);
        spray.user_id = None;
        let cap: Vec<String> = (0..EVIDENCE_CAP).map(|i| format!("x{i}")).collect();
        let cap: Vec<&str> = cap.iter().map(String::as_str).collect();
        let mut d = detection("d", Category::PasswordSpray, "", &cap, 20, 2);
        d.user = None;
        let r = score(&[d.clone()], std::slice::from_ref(&spray));
        assert_eq!(r.get(Category::PasswordSpray).found, 1);
        d.source = Some(SourceInfo {
            ip: Some("198.51.100.1".into()),
            geo: None,
        });
        let r = score(&[d], &[spray]);
        assert_eq!(r.get(Category::PasswordSpray).found, 0);
    }

    #[test]
    fn a_secondary_label_counts_for_precision_only() {
        let labels = [
            label("bf:nc", Category::NewCountry, false, "005A", &["0Ya1"]),
            label("nc", Category::NewCountry, true, "005B", &["0Ya2"]),
        ];
        let ds = [detection(
            "d1",
            Category::NewCountry,
            "005A",
            &["0Ya1"],
            1,
            0,
        )];
        let r = score(&ds, &labels);
        let s = r.get(Category::NewCountry);
        assert_eq!((s.labels, s.secondary_labels), (1, 1));
        // The detection is right (precision) but the primary label is still missed (recall).
        assert_eq!((s.detections, s.matched), (1, 1));
        assert_eq!((s.found, s.missed.clone()), (0, vec!["nc".to_string()]));
    }

    #[test]
    fn duplicate_deliveries_count_once_and_the_table_names_every_category() {
        let labels = [label(
            "op",
            Category::OauthUsernamePassword,
            true,
            "005A",
            &["0Ya1"],
        )];
        let d = detection(
            "d1",
            Category::OauthUsernamePassword,
            "005A",
            &["0Ya1"],
            1,
            0,
        );
        let r = score(&[d.clone(), d], &labels);
        assert_eq!(r.get(Category::OauthUsernamePassword).detections, 1);
        assert_eq!(r.totals(), (1, 1, 1, 1));
        let table = r.to_string();
        for c in Category::ALL {
            assert!(table.contains(c.as_str()), "{c} missing from\n{table}");
        }
        assert!(table.contains("1.00"));
    }
}
