//! The service entry point shared by `loginwatch-forwarder` and `loginwatch forward`.

use std::path::Path;

use loginwatch_shared::ops::{self, Readiness};
use loginwatch_shared::runtime::shutdown_signal;

use crate::config::ForwarderConfig;
use crate::pipeline;

/// Loads the config (`path` plus `LOGINWATCH_*` overrides), serves `/metrics` `/healthz` `/readyz`
/// and forwards until SIGTERM / Ctrl-C, then drains the sinks and commits.
pub async fn serve(path: Option<&Path>) -> anyhow::Result<()> {
    let config: ForwarderConfig = loginwatch_shared::config::load(path)?;
    config.validate()?;
    let readiness = Readiness::new();
    let (stop_ops, ops_stopped) = tokio::sync::oneshot::channel::<()>();
    let ops_addr = ops::serve(config.ops_listen, readiness.clone(), async {
        let _ = ops_stopped.await;
    })
    .await
    .map_err(|e| {
        anyhow::anyhow!(
            "cannot listen on ops_listen {}: {e}; pick a free address",
            config.ops_listen
        )
    })?;
    tracing::info!(%ops_addr, "ops endpoint: /metrics /healthz /readyz");
    let summary = pipeline::run(config, readiness, shutdown_signal()).await?;
    let _ = stop_ops.send(());
    tracing::info!(
        consumed = summary.consumed,
        duplicates = summary.duplicates,
        undelivered = summary.undelivered_at_shutdown,
        "forwarder exited"
    );
    Ok(())
}
