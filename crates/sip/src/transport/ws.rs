//! Opening the WebSocket: TCP, our TLS, then the RFC 7118 handshake with the
//! `sip` subprotocol.

use std::sync::Arc;
use std::time::Duration;

use rustls::pki_types::ServerName;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::WebSocketStream;

use crate::account::ServerUrl;
use crate::error::SipError;
use crate::message::MAX_MESSAGE_BYTES;
use crate::transport::tls::handshake_error;

pub trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}

pub type WsStream = WebSocketStream<Box<dyn Io>>;

const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Connects to `url`. `tls` is required for `wss://`.
pub async fn connect(url: &ServerUrl, tls: Option<Arc<rustls::ClientConfig>>, pinned: bool) -> Result<WsStream, SipError> {
    match tokio::time::timeout(CONNECT_TIMEOUT, connect_inner(url, tls, pinned)).await {
        Ok(result) => result,
        Err(_) => Err(SipError::Connect { host: url.host.clone(), why: "the server did not answer within 10 seconds".into() }),
    }
}

async fn connect_inner(url: &ServerUrl, tls: Option<Arc<rustls::ClientConfig>>, pinned: bool) -> Result<WsStream, SipError> {
    let host = url.host.clone();
    let tcp = TcpStream::connect((url.host.as_str(), url.port))
        .await
        .map_err(|e| SipError::Connect { host: format!("{}:{}", url.host, url.port), why: e.to_string() })?;
    // SIP messages are small and latency matters more than packing.
    let _ = tcp.set_nodelay(true);
    let stream: Box<dyn Io> = if url.secure {
        let config = tls.ok_or_else(|| SipError::Connect { host: host.clone(), why: "no TLS configuration".into() })?;
        let name = ServerName::try_from(host.clone())
            .map_err(|_| SipError::Connect { host: host.clone(), why: "the host name is not valid for TLS".into() })?;
        let tls_stream = tokio_rustls::TlsConnector::from(config)
            .connect(name, tcp)
            .await
            .map_err(|e| handshake_error(&host, &e, pinned))?;
        Box::new(tls_stream)
    } else {
        Box::new(tcp)
    };
    let mut request = url
        .url()
        .into_client_request()
        .map_err(|e| SipError::WebSocket { host: host.clone(), why: e.to_string() })?;
    request.headers_mut().insert("Sec-WebSocket-Protocol", HeaderValue::from_static("sip"));
    let config = WebSocketConfig::default()
        .max_message_size(Some(MAX_MESSAGE_BYTES))
        .max_frame_size(Some(MAX_MESSAGE_BYTES));
    let (ws, response) = tokio_tungstenite::client_async_with_config(request, stream, Some(config))
        .await
        .map_err(|e| SipError::WebSocket { host: host.clone(), why: e.to_string() })?;
    let protocol = response.headers().get("Sec-WebSocket-Protocol").and_then(|v| v.to_str().ok());
    if !protocol.is_some_and(|p| p.eq_ignore_ascii_case("sip")) {
        return Err(SipError::WebSocket { host, why: "the server does not speak SIP over WebSocket (no `sip` subprotocol)".into() });
    }
    Ok(ws)
}
