//! The loginwatch analyzer: consumes `loginwatch.logins.v1`, evaluates the SQL rules of `rules/`
//! over event-time windows with DataFusion, keeps per-user and per-org baselines, and produces
//! ECS detections to `loginwatch.detections.v1`.
//!
//! - [`rules`]: rule files (TOML + SQL), loading, `explain`, recorded rule tests.
//! - [`engine`]: watermarks, windows, cached plans, state tables, detections.
//! - [`state`]: the bounded baselines exposed as tables.
//! - [`batch`]: the same engine over a finite set of events (`loginwatch scan`, rule tests).
//! - [`service`]: the Kafka consumer/producer loop with at-least-once offsets.

pub mod batch;
pub mod duration;
pub mod engine;
pub mod live_table;
pub mod rules;
pub mod service;
pub mod state;
pub mod udf;

pub use engine::{Admission, Engine, EngineConfig, EngineError};
