//! Kafka service (filled in below).
