//! The common crate of loginwatch: the canonical login event and its Arrow schema, the parsers and
//! normalisation of every Salesforce source, detections, configuration, Kafka and metrics plumbing.

pub mod arrow;
pub mod config;
pub mod detection;
pub mod event;
pub mod ids;
pub mod kafka;
pub mod metrics;
pub mod normalize;
pub mod ops;
pub mod parse;
pub mod runtime;
pub mod terminal;
pub mod time;

pub use detection::{Category, Detection, Severity};
pub use event::{AuthMethod, LoginEvent, Outcome, Source};
