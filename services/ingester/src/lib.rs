//! loginwatch ingester.
