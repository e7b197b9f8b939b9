//! TLS client configuration for the syslog sink (tokio-rustls, ring provider).

use std::sync::Arc;

use loginwatch_shared::config::ConfigError;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use tokio_rustls::rustls::client::danger::{
    HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier,
};
use tokio_rustls::rustls::crypto::{
    ring, verify_tls12_signature, verify_tls13_signature, CryptoProvider,
};
use tokio_rustls::rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};

use crate::config::TlsConfig;

/// Logged once per sink that turns certificate verification off.
pub fn warn_insecure(sink: &str) {
    tracing::warn!(
        sink,
        "!!! TLS certificate verification is DISABLED for this sink (tls.insecure_skip_verify = true): \
         anyone on the network path can read and forge detections. Use tls.ca_file instead. !!!"
    );
}

/// Builds the rustls client config: trusted roots (the `ca_file`, else the Mozilla roots),
/// optional client certificate, optional (loud) verification bypass.
pub fn client_config(
    index: usize,
    sink: &str,
    tls: &TlsConfig,
) -> Result<Arc<ClientConfig>, ConfigError> {
    let key = |f: &str| format!("sinks[{index}].tls.{f}");
    let provider = Arc::new(ring::default_provider());
    let builder = ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| ConfigError::key(key("ca_file"), format!("TLS set-up failed: {e}")))?;
    let builder = if tls.insecure_skip_verify {
        warn_insecure(sink);
        builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(AcceptAnyServerCert(provider)))
    } else {
        let mut roots = RootCertStore::empty();
        match &tls.ca_file {
            Some(path) => {
                let pem = super::http::read(path, &key("ca_file"))?;
                for cert in CertificateDer::pem_slice_iter(&pem) {
                    let cert = cert
                        .map_err(|e| ConfigError::key(key("ca_file"), format!("bad PEM: {e}")))?;
                    roots.add(cert).map_err(|e| {
                        ConfigError::key(key("ca_file"), format!("unusable CA certificate: {e}"))
                    })?;
                }
                if roots.is_empty() {
                    return Err(ConfigError::key(
                        key("ca_file"),
                        "contains no CERTIFICATE blocks",
                    ));
                }
            }
            None => roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned()),
        }
        builder.with_root_certificates(roots)
    };
    let config = match (&tls.client_cert_file, &tls.client_key_file) {
        (Some(cert), Some(key_file)) => {
            let certs =
                CertificateDer::pem_slice_iter(&super::http::read(cert, &key("client_cert_file"))?)
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(|e| {
                        ConfigError::key(key("client_cert_file"), format!("bad PEM: {e}"))
                    })?;
            let private = PrivateKeyDer::from_pem_slice(&super::http::read(
                key_file,
                &key("client_key_file"),
            )?)
            .map_err(|e| {
                ConfigError::key(
                    key("client_key_file"),
                    format!("no usable private key: {e}"),
                )
            })?;
            builder.with_client_auth_cert(certs, private).map_err(|e| {
                ConfigError::key(
                    key("client_cert_file"),
                    format!("certificate and key do not match: {e}"),
                )
            })?
        }
        _ => builder.with_no_client_auth(),
    };
    Ok(Arc::new(config))
}

pub fn server_name(index: usize, name: &str) -> Result<ServerName<'static>, ConfigError> {
    ServerName::try_from(name.to_string()).map_err(|e| {
        ConfigError::key(
            format!("sinks[{index}].tls.server_name"),
            format!("invalid server name {name:?}: {e}"),
        )
    })
}

/// Accepts any certificate but still checks handshake signatures (so the session is at least
/// bound to the presented key). Only reachable through `insecure_skip_verify`.
#[derive(Debug)]
struct AcceptAnyServerCert(Arc<CryptoProvider>);

impl ServerCertVerifier for AcceptAnyServerCert {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, tokio_rustls::rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, tokio_rustls::rustls::Error> {
        verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, tokio_rustls::rustls::Error> {
        verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}
