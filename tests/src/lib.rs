//! Helpers for the end-to-end tests: free ports, child processes that die with the test, broker start-up.

/// Dashboards, Prometheus files and compose: locating them and reading PromQL out of them.
pub mod observability;
