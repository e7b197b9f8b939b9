//! The common crate of loginwatch: the canonical login event and its Arrow schema, the parsers and
//! normalisation of every Salesforce source, detections, configuration, Kafka and metrics plumbing.

pub mod arrow;
pub mod config;
pub mod detection;
pub mod event;
pub mod kafka;
pub mod metrics;
pub mod ops;
pub mod runtime;
pub mod time;

pub use detection::{Category, Detection, Severity};
pub use event::{AuthMethod, LoginEvent, Outcome, Source};
