//! loginwatch forwarder.
