//! Every Prometheus metric loginwatch exports, in one place so code and dashboards cannot drift.
//!
//! One registry per process ([`registry`]); services in the same process (the demo) share it.
//! Naming: prefix `loginwatch_`, counters end in `_total`, durations are `_seconds` histograms,
//! no user name, user id or IP is ever a label. `org` labels carry org ids (a handful per deployment).

use std::sync::LazyLock;

use prometheus::{
    exponential_buckets, Encoder, GaugeVec, HistogramOpts, HistogramVec, IntCounterVec,
    IntGaugeVec, Opts, Registry, TextEncoder,
};

/// Metric names, for dashboards, alert rules and the test that checks them against each other.
pub mod names {
    pub const BUILD_INFO: &str = "loginwatch_build_info";
    // ingester
    pub const INGEST_RECORDS: &str = "loginwatch_ingest_records_total";
    pub const INGEST_ERRORS: &str = "loginwatch_ingest_errors_total";
    pub const INGEST_LAG: &str = "loginwatch_ingest_lag_seconds";
    pub const INGEST_RETRIES: &str = "loginwatch_ingest_retries_total";
    pub const INGEST_POLLING_PAUSED: &str = "loginwatch_ingest_polling_paused";
    pub const STREAM_REPLAY_FALLBACKS: &str = "loginwatch_stream_replay_fallbacks_total";
    pub const SALESFORCE_API_REQUESTS: &str = "loginwatch_salesforce_api_requests_total";
    pub const SALESFORCE_API_REQUEST_DURATION: &str =
        "loginwatch_salesforce_api_request_duration_seconds";
    pub const SALESFORCE_API_DAILY_USED: &str = "loginwatch_salesforce_api_daily_requests_used";
    pub const SALESFORCE_API_DAILY_LIMIT: &str = "loginwatch_salesforce_api_daily_requests_limit";
    pub const SALESFORCE_API_DAILY_REMAINING: &str =
        "loginwatch_salesforce_api_daily_requests_remaining";
    // kafka (any service)
    pub const KAFKA_PRODUCER_QUEUE: &str = "loginwatch_kafka_producer_queue_messages";
    pub const KAFKA_CONSUMER_LAG: &str = "loginwatch_kafka_consumer_lag_messages";
    pub const DEADLETTER_RECORDS: &str = "loginwatch_deadletter_records_total";
    // analyzer
    pub const LOGINS: &str = "loginwatch_logins_total";
    pub const PASSWORD_LOGINS: &str = "loginwatch_password_logins_total";
    pub const PASSWORD_LOGIN_INVENTORY_USERS: &str = "loginwatch_password_login_inventory_users";
    pub const ANALYZER_EVENTS: &str = "loginwatch_analyzer_events_total";
    pub const ANALYZER_DUPLICATE_EVENTS: &str = "loginwatch_analyzer_duplicate_events_total";
    pub const LATE_EVENTS: &str = "loginwatch_late_events_total";
    pub const WATERMARK_LAG: &str = "loginwatch_watermark_lag_seconds";
    pub const RULE_EVALUATION_DURATION: &str = "loginwatch_rule_evaluation_duration_seconds";
    pub const DETECTIONS: &str = "loginwatch_detections_total";
    pub const DETECTION_LATENCY: &str = "loginwatch_detection_latency_seconds";
    pub const STATE_ENTRIES: &str = "loginwatch_state_entries";
    // forwarder
    pub const FORWARDER_DELIVERIES: &str = "loginwatch_forwarder_deliveries_total";
    pub const FORWARDER_RETRIES: &str = "loginwatch_forwarder_retries_total";
    pub const FORWARDER_DEADLETTERS: &str = "loginwatch_forwarder_deadletters_total";
    pub const FORWARDER_DELIVERY_DURATION: &str = "loginwatch_forwarder_delivery_duration_seconds";
    pub const FORWARDER_CIRCUIT_OPEN: &str = "loginwatch_forwarder_circuit_open";
    pub const FORWARDER_QUEUE: &str = "loginwatch_forwarder_queue_detections";

    /// Every name above (histograms without their `_bucket`/`_sum`/`_count` suffixes).
    pub const ALL: &[&str] = &[
        BUILD_INFO,
        INGEST_RECORDS,
        INGEST_ERRORS,
        INGEST_LAG,
        INGEST_RETRIES,
        INGEST_POLLING_PAUSED,
        STREAM_REPLAY_FALLBACKS,
        SALESFORCE_API_REQUESTS,
        SALESFORCE_API_REQUEST_DURATION,
        SALESFORCE_API_DAILY_USED,
        SALESFORCE_API_DAILY_LIMIT,
        SALESFORCE_API_DAILY_REMAINING,
        KAFKA_PRODUCER_QUEUE,
        KAFKA_CONSUMER_LAG,
        DEADLETTER_RECORDS,
        LOGINS,
        PASSWORD_LOGINS,
        PASSWORD_LOGIN_INVENTORY_USERS,
        ANALYZER_EVENTS,
        ANALYZER_DUPLICATE_EVENTS,
        LATE_EVENTS,
        WATERMARK_LAG,
        RULE_EVALUATION_DURATION,
        DETECTIONS,
        DETECTION_LATENCY,
        STATE_ENTRIES,
        FORWARDER_DELIVERIES,
        FORWARDER_RETRIES,
        FORWARDER_DEADLETTERS,
        FORWARDER_DELIVERY_DURATION,
        FORWARDER_CIRCUIT_OPEN,
        FORWARDER_QUEUE,
    ];
}

/// Cap on distinct `application` label values of the password-login metrics; further apps are
/// counted under `application="other"` so a misbehaving org cannot explode cardinality.
pub const APPLICATION_LABEL_CAP: usize = 50;

pub struct Metrics {
    pub registry: Registry,
    pub build_info: IntGaugeVec,
    /// {org, source}: records acknowledged by Kafka.
    pub ingest_records: IntCounterVec,
    /// {org, source, kind}: kind = parse | api | auth | produce.
    pub ingest_errors: IntCounterVec,
    /// {org, source}: now − newest event time ingested.
    pub ingest_lag: GaugeVec,
    /// {org, source}: retried Salesforce calls (5xx, timeouts, REQUEST_LIMIT_EXCEEDED).
    pub ingest_retries: IntCounterVec,
    /// {org}: 1 while polling is paused for API quota.
    pub ingest_polling_paused: IntGaugeVec,
    /// {org}: replay id older than retention, fell back to -2.
    pub stream_replay_fallbacks: IntCounterVec,
    /// {org, endpoint, status_class}: endpoint = token | query | query_more | cometd | logfile.
    pub salesforce_api_requests: IntCounterVec,
    /// {org, endpoint}.
    pub salesforce_api_request_duration: HistogramVec,
    /// {org}: from `Sforce-Limit-Info`.
    pub salesforce_api_daily_used: IntGaugeVec,
    pub salesforce_api_daily_limit: IntGaugeVec,
    pub salesforce_api_daily_remaining: IntGaugeVec,
    /// {service}: messages waiting in librdkafka's producer queue.
    pub kafka_producer_queue: IntGaugeVec,
    /// {service, topic, partition}.
    pub kafka_consumer_lag: IntGaugeVec,
    /// {service, reason}.
    pub deadletter_records: IntCounterVec,
    /// {org, login_type, auth_method, outcome}: unique logins seen by the analyzer.
    pub logins: IntCounterVec,
    /// {org, auth_method, application, outcome}: password-based logins (application capped).
    pub password_logins: IntCounterVec,
    /// {org, auth_method, application}: distinct users still using a password flow per app.
    pub password_login_inventory_users: IntGaugeVec,
    /// {partition}: records consumed by the analyzer.
    pub analyzer_events: IntCounterVec,
    /// {}: the same login seen twice (two sources or a replay), dropped.
    pub analyzer_duplicate_events: IntCounterVec,
    /// {}: events older than the watermark (still evaluated by per-event rules).
    pub late_events: IntCounterVec,
    /// {}: now − watermark.
    pub watermark_lag: GaugeVec,
    /// {rule}.
    pub rule_evaluation_duration: HistogramVec,
    /// {category, severity}.
    pub detections: IntCounterVec,
    /// {category}: event arrival at the analyzer → detection produced.
    pub detection_latency: HistogramVec,
    /// {table}: rows held in baseline state tables.
    pub state_entries: IntGaugeVec,
    /// {sink}.
    pub forwarder_deliveries: IntCounterVec,
    pub forwarder_retries: IntCounterVec,
    pub forwarder_deadletters: IntCounterVec,
    pub forwarder_delivery_duration: HistogramVec,
    pub forwarder_circuit_open: IntGaugeVec,
    pub forwarder_queue: IntGaugeVec,
}

fn counter(r: &Registry, name: &str, help: &str, labels: &[&str]) -> IntCounterVec {
    let c = IntCounterVec::new(Opts::new(name, help), labels).expect("valid metric definition");
    r.register(Box::new(c.clone()))
        .expect("metric registered once");
    c
}

fn int_gauge(r: &Registry, name: &str, help: &str, labels: &[&str]) -> IntGaugeVec {
    let g = IntGaugeVec::new(Opts::new(name, help), labels).expect("valid metric definition");
    r.register(Box::new(g.clone()))
        .expect("metric registered once");
    g
}

fn gauge(r: &Registry, name: &str, help: &str, labels: &[&str]) -> GaugeVec {
    let g = GaugeVec::new(Opts::new(name, help), labels).expect("valid metric definition");
    r.register(Box::new(g.clone()))
        .expect("metric registered once");
    g
}

fn histogram(
    r: &Registry,
    name: &str,
    help: &str,
    labels: &[&str],
    buckets: Vec<f64>,
) -> HistogramVec {
    let h = HistogramVec::new(HistogramOpts::new(name, help).buckets(buckets), labels)
        .expect("valid metric definition");
    r.register(Box::new(h.clone()))
        .expect("metric registered once");
    h
}

impl Metrics {
    fn new() -> Metrics {
        use names::*;
        let r = Registry::new();
        #[cfg(target_os = "linux")]
        {
            let _ = r.register(Box::new(
                prometheus::process_collector::ProcessCollector::for_self(),
            ));
        }
        // 1 ms … ~33 s
        let latency = exponential_buckets(0.001, 2.0, 16).expect("valid buckets");
        let m = Metrics {
            build_info: int_gauge(
                &r,
                BUILD_INFO,
                "Build information; always 1.",
                &["version", "service"],
            ),
            ingest_records: counter(
                &r,
                INGEST_RECORDS,
                "Login records ingested and acknowledged by Kafka.",
                &["org", "source"],
            ),
            ingest_errors: counter(
                &r,
                INGEST_ERRORS,
                "Ingest errors by kind (parse, api, auth, produce).",
                &["org", "source", "kind"],
            ),
            ingest_lag: gauge(
                &r,
                INGEST_LAG,
                "Seconds between now and the newest event time ingested.",
                &["org", "source"],
            ),
            ingest_retries: counter(
                &r,
                INGEST_RETRIES,
                "Salesforce calls retried after 5xx, timeouts or REQUEST_LIMIT_EXCEEDED.",
                &["org", "source"],
            ),
            ingest_polling_paused: int_gauge(
                &r,
                INGEST_POLLING_PAUSED,
                "1 while LoginHistory polling is paused to protect the daily API quota.",
                &["org"],
            ),
            stream_replay_fallbacks: counter(
                &r,
                STREAM_REPLAY_FALLBACKS,
                "Stored replay ids older than the retention window; resubscribed with -2.",
                &["org"],
            ),
            salesforce_api_requests: counter(
                &r,
                SALESFORCE_API_REQUESTS,
                "Salesforce API requests by endpoint and HTTP status class.",
                &["org", "endpoint", "status_class"],
            ),
            salesforce_api_request_duration: histogram(
                &r,
                SALESFORCE_API_REQUEST_DURATION,
                "Salesforce API request duration.",
                &["org", "endpoint"],
                latency.clone(),
            ),
            salesforce_api_daily_used: int_gauge(
                &r,
                SALESFORCE_API_DAILY_USED,
                "Daily API requests used, from Sforce-Limit-Info.",
                &["org"],
            ),
            salesforce_api_daily_limit: int_gauge(
                &r,
                SALESFORCE_API_DAILY_LIMIT,
                "Daily API request allocation, from Sforce-Limit-Info.",
                &["org"],
            ),
            salesforce_api_daily_remaining: int_gauge(
                &r,
                SALESFORCE_API_DAILY_REMAINING,
                "Daily API requests remaining.",
                &["org"],
            ),
            kafka_producer_queue: int_gauge(
                &r,
                KAFKA_PRODUCER_QUEUE,
                "Messages waiting in the Kafka producer queue.",
                &["service"],
            ),
            kafka_consumer_lag: int_gauge(
                &r,
                KAFKA_CONSUMER_LAG,
                "Kafka consumer lag in messages per partition.",
                &["service", "topic", "partition"],
            ),
            deadletter_records: counter(
                &r,
                DEADLETTER_RECORDS,
                "Records sent to the dead-letter topic.",
                &["service", "reason"],
            ),
            logins: counter(
                &r,
                LOGINS,
                "Unique logins analysed, by login type, auth method and outcome.",
                &["org", "login_type", "auth_method", "outcome"],
            ),
            password_logins: counter(
                &r,
                PASSWORD_LOGINS,
                "Password-based logins (OAuth username-password, SOAP) by application (capped).",
                &["org", "auth_method", "application", "outcome"],
            ),
            password_login_inventory_users: int_gauge(
                &r,
                PASSWORD_LOGIN_INVENTORY_USERS,
                "Distinct users seen with a password-based login per application.",
                &["org", "auth_method", "application"],
            ),
            analyzer_events: counter(
                &r,
                ANALYZER_EVENTS,
                "Records consumed by the analyzer.",
                &["partition"],
            ),
            analyzer_duplicate_events: counter(
                &r,
                ANALYZER_DUPLICATE_EVENTS,
                "Logins seen twice (two sources or a replay) and dropped.",
                &[],
            ),
            late_events: counter(
                &r,
                LATE_EVENTS,
                "Events older than the watermark; still evaluated by per-event rules.",
                &[],
            ),
            watermark_lag: gauge(
                &r,
                WATERMARK_LAG,
                "Seconds between now and the analyzer's event-time watermark.",
                &[],
            ),
            rule_evaluation_duration: histogram(
                &r,
                RULE_EVALUATION_DURATION,
                "Time to evaluate one rule over closed windows.",
                &["rule"],
                latency.clone(),
            ),
            detections: counter(
                &r,
                DETECTIONS,
                "Detections produced.",
                &["category", "severity"],
            ),
            detection_latency: histogram(
                &r,
                DETECTION_LATENCY,
                "Event arrival at the analyzer to detection produced.",
                &["category"],
                latency.clone(),
            ),
            state_entries: int_gauge(
                &r,
                STATE_ENTRIES,
                "Rows held in baseline state tables.",
                &["table"],
            ),
            forwarder_deliveries: counter(
                &r,
                FORWARDER_DELIVERIES,
                "Detections confirmed delivered by a sink.",
                &["sink"],
            ),
            forwarder_retries: counter(
                &r,
                FORWARDER_RETRIES,
                "Delivery attempts retried.",
                &["sink"],
            ),
            forwarder_deadletters: counter(
                &r,
                FORWARDER_DEADLETTERS,
                "Detections a sink kept rejecting, sent to the dead-letter topic.",
                &["sink"],
            ),
            forwarder_delivery_duration: histogram(
                &r,
                FORWARDER_DELIVERY_DURATION,
                "Time to deliver one batch to a sink.",
                &["sink"],
                latency,
            ),
            forwarder_circuit_open: int_gauge(
                &r,
                FORWARDER_CIRCUIT_OPEN,
                "1 while a sink's circuit breaker is open.",
                &["sink"],
            ),
            forwarder_queue: int_gauge(
                &r,
                FORWARDER_QUEUE,
                "Detections buffered for a sink.",
                &["sink"],
            ),
            registry: r,
        };
        m.build_info
            .with_label_values(&[env!("CARGO_PKG_VERSION"), "loginwatch"])
            .set(1);
        m
    }

    /// Text exposition format, as served on `/metrics`.
    pub fn render(&self) -> String {
        let mut buf = Vec::new();
        let _ = TextEncoder::new().encode(&self.registry.gather(), &mut buf);
        String::from_utf8(buf).unwrap_or_default()
    }
}

static METRICS: LazyLock<Metrics> = LazyLock::new(Metrics::new);

/// The process-wide metrics.
pub fn metrics() -> &'static Metrics {
    &METRICS
}

/// `2xx`, `4xx`, `5xx`, or `error` when no HTTP status came back.
pub fn status_class(status: Option<u16>) -> &'static str {
    match status {
        Some(200..=299) => "2xx",
        Some(300..=399) => "3xx",
        Some(400..=499) => "4xx",
        Some(500..=599) => "5xx",
        _ => "error",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_conventions() {
        for n in names::ALL {
            assert!(n.starts_with("loginwatch_"), "{n}");
            assert!(!n.contains("milliseconds"), "{n}: use base units");
        }
        let text = metrics().render();
        assert!(text.contains("loginwatch_build_info"));
    }

    #[test]
    fn every_named_metric_is_registered() {
        let m = metrics();
        // Touch one child of each vec so it appears in the exposition.
        m.ingest_records
            .with_label_values(&["o", "login_history"])
            .inc_by(0);
        let families: Vec<String> = m
            .registry
            .gather()
            .iter()
            .map(|f| f.name().to_string())
            .collect();
        assert!(families.iter().any(|f| f == names::INGEST_RECORDS));
        for f in &families {
            if f.starts_with("loginwatch_") {
                assert!(
                    names::ALL.contains(&f.as_str()),
                    "{f} missing from names::ALL"
                );
            }
        }
    }
}
