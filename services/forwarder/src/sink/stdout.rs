//! One line per detection on standard output (`type = "stdout"` or `"terminal"`), for the demo.

use std::io::Write;
use std::sync::Arc;

use loginwatch_shared::Detection;

use super::{RetryKind, SendResult};
use crate::render;

pub struct StdoutSink {
    color: bool,
}

impl StdoutSink {
    pub fn new(color: bool) -> StdoutSink {
        StdoutSink { color }
    }

    pub async fn send(&mut self, batch: &[Arc<Detection>]) -> SendResult {
        let mut text = String::new();
        for d in batch {
            text.push_str(&render::terminal_line(d, self.color));
            text.push('\n');
        }
        let mut out = std::io::stdout().lock();
        match out.write_all(text.as_bytes()).and_then(|_| out.flush()) {
            Ok(()) => SendResult::all_delivered(batch.len()),
            Err(e) => SendResult::all(
                batch.len(),
                RetryKind::SinkUnavailable,
                format!("stdout: {e}"),
            ),
        }
    }
}
