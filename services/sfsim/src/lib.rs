//! loginwatch sfsim.
