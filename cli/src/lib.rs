//! The `loginwatch` CLI as a library: `scan` (batch audit of exports), `demo` (the whole pipeline
//! in one process), `rules` (list, test, explain), and the renderings they share.

pub mod broker;
pub mod demo;
pub mod engine;
pub mod format;
pub mod html;
pub mod inventory;
pub mod json_records;
pub mod report;
pub mod rules_cmd;
pub mod scan;
