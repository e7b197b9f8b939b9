//! loginwatch forwarder: consumes `loginwatch.detections.v1` and delivers every detection to the
//! configured sinks (Splunk HEC, Elasticsearch/OpenSearch `_bulk`, syslog CEF, webhook, terminal).
//!
//! Delivery is at-least-once with per-sink acknowledgements: a Kafka offset is stored only after
//! every sink confirmed (or dead-lettered) the detection at that offset.

pub mod app;
pub mod config;
pub mod offsets;
pub mod pipeline;
pub mod render;
pub mod samples;
pub mod sink;
pub mod worker;
