//! Syslog RFC 5424 carrying CEF, over TCP (octet-counting or newline framing, RFC 6587),
//! TLS (RFC 5425) or UDP (RFC 5426, one message per datagram).
//!
//! "Delivered" means written and flushed to the connection (TCP/TLS) or handed to the kernel
//! (UDP): syslog has no application-level acknowledgement. Before each write the connection is
//! checked for a close by the peer, so a receiver that went away is noticed and reconnected
//! instead of writing into a dead socket.

use std::sync::Arc;

use futures::FutureExt;
use loginwatch_shared::config::ConfigError;
use loginwatch_shared::Detection;
use rustls_pki_types::ServerName;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpStream, UdpSocket};
use tokio_rustls::TlsConnector;

use super::{RetryKind, SendResult};
use crate::config::{SinkConfig, SyslogFraming, SyslogProtocol};
use crate::render::{self, SyslogMeta};

trait Stream: AsyncRead + AsyncWrite + Unpin + Send + Sync {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send + Sync> Stream for T {}

pub struct SyslogSink {
    address: String,
    protocol: SyslogProtocol,
    framing: SyslogFraming,
    meta: SyslogMeta,
    timeout: std::time::Duration,
    tls: Option<(TlsConnector, ServerName<'static>)>,
    stream: Option<Box<dyn Stream>>,
    udp: Option<UdpSocket>,
}

/// Frames one message for a stream transport.
pub fn frame(message: &str, framing: SyslogFraming) -> Vec<u8> {
    match framing {
        SyslogFraming::OctetCounting => format!("{} {message}", message.len()).into_bytes(),
        SyslogFraming::Newline => format!("{message}\n").into_bytes(),
    }
}

impl SyslogSink {
    pub fn from_config(index: usize, config: &SinkConfig) -> Result<SyslogSink, ConfigError> {
        let address = config.address.clone().unwrap_or_default();
        let tls = if config.protocol == SyslogProtocol::Tls {
            let host = config.tls.server_name.clone().unwrap_or_else(|| {
                address
                    .rsplit_once(':')
                    .map(|(h, _)| h)
                    .unwrap_or(&address)
                    .trim_matches(['[', ']'])
                    .to_string()
            });
            let client = super::tls::client_config(index, &config.name, &config.tls)?;
            Some((
                TlsConnector::from(client),
                super::tls::server_name(index, &host)?,
            ))
        } else {
            None
        };
        Ok(SyslogSink {
            address,
            protocol: config.protocol,
            framing: config.framing,
            meta: SyslogMeta {
                facility: config.facility,
                hostname: config.host_or_default(),
                app_name: "loginwatch".into(),
            },
            timeout: config.request_timeout(),
            tls,
            stream: None,
            udp: None,
        })
    }

    async fn connect(&self) -> Result<Box<dyn Stream>, String> {
        let tcp = tokio::time::timeout(self.timeout, TcpStream::connect(&self.address))
            .await
            .map_err(|_| format!("connect to {} timed out", self.address))?
            .map_err(|e| format!("connect to {}: {e}", self.address))?;
        let _ = tcp.set_nodelay(true);
        match &self.tls {
            None => Ok(Box::new(tcp)),
            Some((connector, name)) => {
                let tls = tokio::time::timeout(self.timeout, connector.connect(name.clone(), tcp))
                    .await
                    .map_err(|_| format!("TLS handshake with {} timed out", self.address))?
                    .map_err(|e| format!("TLS handshake with {}: {e}", self.address))?;
                Ok(Box::new(tls))
            }
        }
    }

    pub async fn send(&mut self, batch: &[Arc<Detection>]) -> SendResult {
        let n = batch.len();
        let messages: Vec<String> = batch
            .iter()
            .map(|d| render::syslog_cef(d, &self.meta))
            .collect();
        let result = match self.protocol {
            SyslogProtocol::Udp => self.send_udp(&messages).await,
            SyslogProtocol::Tcp | SyslogProtocol::Tls => self.send_stream(&messages).await,
        };
        match result {
            Ok(()) => SendResult::all_delivered(n),
            Err(reason) => SendResult::all(n, RetryKind::SinkUnavailable, reason),
        }
    }

    async fn send_udp(&mut self, messages: &[String]) -> Result<(), String> {
        if self.udp.is_none() {
            let bind = if self.address.starts_with('[') {
                "[::]:0"
            } else {
                "0.0.0.0:0"
            };
            let socket = UdpSocket::bind(bind)
                .await
                .map_err(|e| format!("bind UDP socket: {e}"))?;
            socket
                .connect(&self.address)
                .await
                .map_err(|e| format!("UDP {}: {e}", self.address))?;
            self.udp = Some(socket);
        }
        let socket = self.udp.as_ref().expect("set above");
        for m in messages {
            if let Err(e) = socket.send(m.as_bytes()).await {
                self.udp = None;
                return Err(format!("UDP send to {}: {e}", self.address));
            }
        }
        Ok(())
    }

    async fn send_stream(&mut self, messages: &[String]) -> Result<(), String> {
        if let Some(stream) = self.stream.as_mut() {
            // A syslog receiver never talks back: readable means closed (EOF) or broken.
            let mut probe = [0u8; 64];
            if let Some(r) = stream.read(&mut probe).now_or_never() {
                tracing::debug!(address = %self.address, result = ?r, "syslog receiver closed the connection; reconnecting");
                self.stream = None;
            }
        }
        if self.stream.is_none() {
            self.stream = Some(self.connect().await?);
        }
        let mut bytes = Vec::new();
        for m in messages {
            bytes.extend(frame(m, self.framing));
        }
        let stream = self.stream.as_mut().expect("connected above");
        let write = async {
            stream.write_all(&bytes).await?;
            stream.flush().await
        };
        match tokio::time::timeout(self.timeout, write).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => {
                self.stream = None;
                Err(format!("write to {}: {e}", self.address))
            }
            Err(_) => {
                self.stream = None;
                Err(format!("write to {} timed out", self.address))
            }
        }
    }
}
