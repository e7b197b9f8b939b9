//! `scan --report FILE.html`: the report as one self-contained page (inline CSS and SVG, no
//! scripts, no external assets), so it can be attached to a ticket or mailed.

use std::fmt::Write as _;

use crate::inventory::{DayCount, Inventory};
use crate::report::{severity_breakdown, DetectionLine, ScanReport, TOP_EXAMPLES};

/// Escapes text for HTML element content and attribute values.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

const CSS: &str = "body{font-family:system-ui,-apple-system,Segoe UI,sans-serif;margin:2em;color:#1d1d1f}\
h1{font-size:1.5em}h2{font-size:1.2em;margin-top:2em;border-bottom:1px solid #ddd}\
table{border-collapse:collapse;margin:.5em 0;font-size:.9em}th,td{border:1px solid #ddd;padding:.3em .6em;text-align:left;vertical-align:top}\
th{background:#f4f4f6}td.n{text-align:right}.err{color:#b00020}.sev-critical{color:#7b1fa2;font-weight:bold}\
.sev-high{color:#c62828;font-weight:bold}.sev-medium{color:#ef6c00}.sev-low{color:#00838f}.muted{color:#777}\
li{margin:.3em 0}";

/// Width and height of the chart's plotting area, in SVG user units.
const CHART_W: f64 = 720.0;
const CHART_H: f64 = 160.0;

/// Per-day stacked bars (successes below, failures on top) of password-based logins.
pub fn day_chart(per_day: &std::collections::BTreeMap<chrono::NaiveDate, DayCount>) -> String {
    if per_day.is_empty() {
        return "<p class=\"muted\">No password-based logins to chart.</p>".into();
    }
    let max = per_day
        .values()
        .map(|d| d.successes + d.failures)
        .max()
        .unwrap_or(1)
        .max(1) as f64;
    let n = per_day.len() as f64;
    let slot = CHART_W / n;
    let bar = (slot * 0.8).max(1.0);
    let (left, top, bottom) = (40.0, 10.0, 30.0);
    let mut svg = String::new();
    let _ = write!(
        svg,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{w}\" height=\"{h}\" viewBox=\"0 0 {w} {h}\" role=\"img\" aria-label=\"Password-based logins per day\">",
        w = CHART_W + left + 10.0,
        h = CHART_H + top + bottom
    );
    let _ = write!(
        svg,
        "<line x1=\"{left}\" y1=\"{y}\" x2=\"{x2}\" y2=\"{y}\" stroke=\"#999\"/><text x=\"{tx}\" y=\"{ty}\" font-size=\"10\" text-anchor=\"end\">{max}</text><text x=\"{tx}\" y=\"{y}\" font-size=\"10\" text-anchor=\"end\">0</text>",
        y = top + CHART_H,
        x2 = left + CHART_W,
        tx = left - 4.0,
        ty = top + 8.0,
        max = max as u64
    );
    let label_every = (per_day.len() / 8).max(1);
    for (i, (day, c)) in per_day.iter().enumerate() {
        let x = left + i as f64 * slot + (slot - bar) / 2.0;
        let hs = c.successes as f64 / max * CHART_H;
        let hf = c.failures as f64 / max * CHART_H;
        let base = top + CHART_H;
        let _ = write!(
            svg,
            "<g><title>{day}: {s} successful, {f} failed</title><rect x=\"{x:.1}\" y=\"{ys:.1}\" width=\"{bar:.1}\" height=\"{hs:.1}\" fill=\"#c62828\"/><rect x=\"{x:.1}\" y=\"{yf:.1}\" width=\"{bar:.1}\" height=\"{hf:.1}\" fill=\"#ffab91\"/></g>",
            s = c.successes,
            f = c.failures,
            ys = base - hs,
            yf = base - hs - hf,
        );
        if i % label_every == 0 {
            let _ = write!(
                svg,
                "<text x=\"{:.1}\" y=\"{:.1}\" font-size=\"10\" text-anchor=\"middle\">{}</text>",
                x + bar / 2.0,
                base + 14.0,
                day.format("%m-%d")
            );
        }
    }
    svg.push_str("</svg>");
    svg.push_str("<p class=\"muted\">Dark: successful password-based logins; light: failed attempts (UTC days).</p>");
    svg
}

fn inventory_table(inv: &Inventory, out: &mut String) {
    if inv.is_empty() {
        out.push_str("<p>No OAuth Username-Password or SOAP login() logins in these exports.</p>");
        return;
    }
    out.push_str(
        "<table><tr><th>User</th><th>Application</th><th>Method</th><th>Logins</th><th>Successes</th><th>Failures</th>\
         <th>Source IPs</th><th>Countries</th><th>First seen (UTC)</th><th>Last seen (UTC)</th></tr>",
    );
    for e in inv.entries() {
        let countries = e.countries.iter().cloned().collect::<Vec<_>>().join(" ");
        let _ = write!(
            out,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td>\
             <td class=\"n\" title=\"{}\">{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            escape(&e.key.user),
            escape(&e.key.application),
            escape(e.key.auth_method.as_str()),
            e.logins,
            e.successes,
            e.failures,
            escape(&e.sample_ips(10).join(", ")),
            escape(&e.distinct_ips_text()),
            escape(&countries),
            e.first_seen.format("%Y-%m-%d %H:%M"),
            e.last_seen.format("%Y-%m-%d %H:%M"),
        );
    }
    out.push_str("</table><h3>Migration advice</h3><ul>");
    for e in inv.entries() {
        let _ = write!(out, "<li>{}</li>", escape(&e.advice()));
    }
    out.push_str("</ul>");
}

/// Renders the whole page.
pub fn render(report: &ScanReport) -> String {
    let inv = &report.inventory;
    let mut out = String::with_capacity(64 * 1024);
    let _ = write!(
        out,
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>loginwatch scan report</title><style>{CSS}</style></head><body>"
    );
    out.push_str("<h1>loginwatch scan report</h1><p>");
    let _ = write!(out, "{} login events", inv.events());
    if let Some((a, b)) = inv.time_range() {
        let _ = write!(
            out,
            " from {} to {} UTC",
            a.format("%Y-%m-%d %H:%M"),
            b.format("%Y-%m-%d %H:%M")
        );
    }
    let _ = write!(
        out,
        "; {} rules evaluated; {} detections.</p>",
        report.rules,
        report.detections.len()
    );

    out.push_str("<table><tr><th>File</th><th>Format</th><th>Events</th><th>Status</th></tr>");
    for f in &report.files {
        let status = match &f.error {
            Some(e) => format!("<span class=\"err\">{}</span>", escape(e)),
            None if f.record_errors > 0 => format!(
                "<span class=\"err\">{} record(s) skipped: {}</span>",
                f.record_errors,
                escape(&f.quoted_errors.join("; "))
            ),
            None => "ok".into(),
        };
        let notes: String = f
            .notes
            .iter()
            .map(|n| format!("<br><span class=\"muted\">note: {}</span>", escape(n)))
            .collect();
        let _ = write!(
            out,
            "<tr><td>{}</td><td>{}</td><td class=\"n\">{}</td><td>{status}{notes}</td></tr>",
            escape(&f.path),
            f.format.map(|f| f.as_str()).unwrap_or("?"),
            f.events
        );
    }
    out.push_str("</table>");
    if let Some(e) = &report.engine_error {
        let _ = write!(
            out,
            "<p class=\"err\">Rule engine failed: {}</p>",
            escape(e)
        );
    }

    out.push_str("<h2>Password-based authentication inventory</h2>");
    out.push_str(&day_chart(inv.per_day()));
    inventory_table(inv, &mut out);

    let _ = write!(out, "<h2>Detections ({})</h2>", report.detections.len());
    if report.detections.is_empty() {
        out.push_str("<p>None.</p>");
    }
    for (cat, ds) in report.by_category() {
        let _ = write!(
            out,
            "<h3>{} — {} ({})</h3><table><tr><th>Start (UTC)</th><th>Severity</th><th>User</th><th>Application</th><th>Source IP</th><th>Why</th></tr>",
            escape(cat.as_str()),
            ds.len(),
            escape(&severity_breakdown(&ds))
        );
        for d in ds.iter().take(TOP_EXAMPLES) {
            let l = DetectionLine::of(d);
            let _ = write!(
                out,
                "<tr><td>{}</td><td class=\"sev-{sev}\">{sev}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                escape(&l.time),
                escape(l.user),
                escape(l.application),
                escape(l.source_ip),
                escape(l.why),
                sev = l.severity,
            );
        }
        out.push_str("</table>");
        if ds.len() > TOP_EXAMPLES {
            let _ = write!(
                out,
                "<p class=\"muted\">… and {} more.</p>",
                ds.len() - TOP_EXAMPLES
            );
        }
    }
    out.push_str("</body></html>\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::tests::sample_report;

    #[test]
    fn page_is_self_contained_and_escaped() {
        let mut r = sample_report();
        r.detections[0].message = "<script>alert(1)</script>".into();
        r.files[0]
            .notes
            .push("dates read as dd/mm/yyyy, inferred from line 3 (<13/04>)".into());
        let page = render(&r);
        assert!(page.contains(
            "<br><span class=\"muted\">note: dates read as dd/mm/yyyy, inferred from line 3 \
             (&lt;13/04&gt;)</span></td></tr>"
        ));
        assert!(page.starts_with("<!DOCTYPE html>"));
        assert!(
            page.contains("<svg") && page.contains("<rect"),
            "inline chart"
        );
        assert!(!page.contains("<script"), "user data is escaped");
        assert!(
            !page.contains("src=") && !page.contains("href="),
            "no external assets"
        );
        assert!(page.contains("Legacy ETL") && page.contains("Migration advice"));
        assert!(page.contains("oauth_username_password — 8"));
    }

    #[test]
    fn chart_bar_heights_follow_the_counts() {
        let mut per_day = std::collections::BTreeMap::new();
        let d1 = chrono::NaiveDate::from_ymd_opt(2026, 11, 1).unwrap();
        per_day.insert(
            d1,
            DayCount {
                successes: 4,
                failures: 0,
            },
        );
        per_day.insert(
            d1.succ_opt().unwrap(),
            DayCount {
                successes: 2,
                failures: 2,
            },
        );
        let svg = day_chart(&per_day);
        // The tallest day fills the plot (160), the other day's successes half of it.
        assert!(svg.contains("height=\"160.0\""), "{svg}");
        assert!(svg.contains("height=\"80.0\""), "{svg}");
        assert!(svg.contains("2026-11-02: 2 successful, 2 failed"));
    }
}
