//! loginwatch analyzer.
