//! Shared HTTP plumbing: the client (timeouts, TLS options) and how a status maps to an outcome.

use loginwatch_shared::config::ConfigError;

use crate::config::SinkConfig;

/// Builds the reqwest client of an HTTP sink with its TLS options.
pub fn client(index: usize, config: &SinkConfig) -> Result<reqwest::Client, ConfigError> {
    let key = |f: &str| format!("sinks[{index}].tls.{f}");
    let mut builder = reqwest::Client::builder()
        .timeout(config.request_timeout())
        .connect_timeout(config.request_timeout())
        .pool_max_idle_per_host(4)
        .use_rustls_tls();
    if let Some(ca) = &config.tls.ca_file {
        let pem = read(ca, &key("ca_file"))?;
        let certs = reqwest::Certificate::from_pem_bundle(&pem).map_err(|e| {
            ConfigError::key(key("ca_file"), format!("not a PEM certificate bundle: {e}"))
        })?;
        for cert in certs {
            builder = builder.add_root_certificate(cert);
        }
    }
    if let (Some(cert), Some(key_file)) =
        (&config.tls.client_cert_file, &config.tls.client_key_file)
    {
        let mut pem = read(cert, &key("client_cert_file"))?;
        pem.extend_from_slice(b"\n");
        pem.extend(read(key_file, &key("client_key_file"))?);
        let identity = reqwest::Identity::from_pem(&pem).map_err(|e| {
            ConfigError::key(
                key("client_cert_file"),
                format!("cannot use client certificate and key: {e}"),
            )
        })?;
        builder = builder.identity(identity);
    }
    if config.tls.insecure_skip_verify {
        super::tls::warn_insecure(&config.name);
        builder = builder.danger_accept_invalid_certs(true);
    }
    builder.build().map_err(|e| {
        ConfigError::key(
            format!("sinks[{index}]"),
            format!("cannot build HTTP client: {e}"),
        )
    })
}

pub(crate) fn read(path: &std::path::Path, key: &str) -> Result<Vec<u8>, ConfigError> {
    std::fs::read(path).map_err(|e| {
        ConfigError::key(
            key,
            format!(
                "cannot read {}: {e}; check the path and permissions",
                path.display()
            ),
        )
    })
}

/// `base` + `path` without doubling the slash.
pub fn join(base: &str, path: &str) -> String {
    format!(
        "{}/{}",
        base.trim_end_matches('/'),
        path.trim_start_matches('/')
    )
}

/// A short, single-line excerpt of a response body for logs and dead letters.
pub fn excerpt(body: &str) -> String {
    let one_line: String = body
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    match one_line.char_indices().nth(300) {
        Some((i, _)) => format!("{}…", &one_line[..i]),
        None => one_line,
    }
}

/// How a transport error reads in logs and dead letters. reqwest errors embed the URL, whose
/// path, query or user info may hold a token (Slack/Teams webhook URLs): only its origin is shown.
pub fn describe(e: &reqwest::Error) -> String {
    let kind = if e.is_timeout() {
        "timeout"
    } else if e.is_connect() {
        "connection failed"
    } else {
        "request failed"
    };
    let mut text = e.to_string();
    if let Some(url) = e.url() {
        text = text.replace(url.as_str(), &redacted_url(url));
    }
    format!("{kind}: {text}")
}

/// `scheme://host:port/…` of `url`: enough to tell which endpoint failed, without the path, query
/// or credentials that may carry a token.
pub fn redacted_url(url: &reqwest::Url) -> String {
    format!("{}/…", url.origin().ascii_serialization())
}

#[cfg(test)]
mod tests {
    #[tokio::test]
    async fn transport_errors_show_the_origin_not_the_path_or_credentials() {
        // Nothing listens on port 1 of loopback: the connection is refused.
        let url = "http://user:pw-TOKEN@127.0.0.1:1/services/T000/B000/XXXX-TOKEN?sig=TOKEN";
        let e = reqwest::Client::new()
            .post(url)
            .send()
            .await
            .expect_err("nothing listens on port 1");
        let text = super::describe(&e);
        assert!(!text.contains("TOKEN"), "{text}");
        assert!(text.contains("http://127.0.0.1:1"), "{text}");
    }
}
