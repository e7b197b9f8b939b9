//! The operations endpoint every service serves: `/metrics`, `/healthz`, `/readyz`.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;

/// Named readiness conditions (`kafka`, `org:00D…`, …). Ready when every registered condition is true.
#[derive(Clone, Default)]
pub struct Readiness {
    conditions: Arc<Mutex<BTreeMap<String, bool>>>,
}

impl Readiness {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn set(&self, name: &str, ready: bool) {
        self.conditions
            .lock()
            .expect("readiness lock")
            .insert(name.to_string(), ready);
    }

    pub fn is_ready(&self) -> bool {
        let c = self.conditions.lock().expect("readiness lock");
        !c.is_empty() && c.values().all(|v| *v)
    }

    /// `name: ready|not ready` lines, for the `/readyz` body.
    pub fn report(&self) -> String {
        let c = self.conditions.lock().expect("readiness lock");
        c.iter()
            .map(|(k, v)| format!("{k}: {}\n", if *v { "ready" } else { "not ready" }))
            .collect()
    }
}

pub fn router(readiness: Readiness) -> Router {
    Router::new()
        .route("/metrics", get(metrics))
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(readyz))
        .with_state(readiness)
}

async fn metrics() -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        crate::metrics::metrics().render(),
    )
}

async fn readyz(State(r): State<Readiness>) -> impl IntoResponse {
    let status = if r.is_ready() {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, r.report())
}

/// Binds `addr` and serves the ops endpoints until `shutdown` resolves. Returns the bound address
/// (useful with port 0).
pub async fn serve(
    addr: SocketAddr,
    readiness: Readiness,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<SocketAddr> {
    let listener = tokio::net::TcpListener::bind(addr).await?;
    let bound = listener.local_addr()?;
    tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, router(readiness))
            .with_graceful_shutdown(shutdown)
            .await
        {
            tracing::error!(error = %e, "ops server failed");
        }
    });
    Ok(bound)
}
