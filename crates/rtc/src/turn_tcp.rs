//! TURN over TCP and TLS for webrtc-rs, which speaks TURN over UDP only
//! (0.21.1 skips every `?transport=tcp` and `turns:` URL): a bridge on
//! 127.0.0.1 that the WebRTC stack uses as its TURN server over UDP, and that
//! carries each datagram as one framed message on a TCP connection — or a
//! TLS one for `turns:` (see `turn_tls`) — to the real server (RFC 5766
//! §2.1: STUN messages back to back; ChannelData padded to four bytes on
//! streams) — for the networks that block UDP and let only TCP out.
//!
//! The allocation still relays UDP on the server's side, so the other party
//! sees an ordinary relay candidate. The bridge changes nothing in the TURN
//! exchange itself (credentials, nonces, permissions pass through untouched).

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt as _, AsyncWrite, AsyncWriteExt as _};
use tokio::net::{TcpStream, UdpSocket};
use tokio::task::JoinHandle;

use crate::RtcError;

/// Largest message accepted from the stream (a ChannelData or STUN message
/// fits in 64 KiB by its 16-bit length).
const MAX_MESSAGE: usize = 4 + 0xFFFF + 3;

/// Longest wait for the TCP connection and (for TLS) the handshake: a
/// blocked port must not hold the call's set-up for the system's 2 minutes.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// A TURN server webrtc-rs cannot reach by itself: `turn:…?transport=tcp`,
/// or `turns:` (TLS over TCP).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamTurnServer {
    /// The host as written in the URL (a name, an IPv4 address, or an IPv6
    /// one without its brackets): TLS checks the certificate against it.
    pub host: String,
    pub port: u16,
    pub tls: bool,
}

impl StreamTurnServer {
    /// `turn:HOST[:PORT]?transport=tcp` (port 3478 by default) or
    /// `turns:HOST[:PORT][?transport=tcp]` (5349); `None` for every other
    /// URL: `stun:`, TURN over UDP (webrtc-rs's own), `turns:…?transport=udp`
    /// (DTLS, which nothing here speaks), and anything malformed (RFC 7065).
    pub fn parse(url: &str) -> Option<StreamTurnServer> {
        let (scheme, rest) = url.split_once(':')?;
        let (tls, default_port) = match scheme.to_ascii_lowercase().as_str() {
            "turn" => (false, 3478),
            "turns" => (true, 5349),
            _ => return None,
        };
        let (hostport, query) = match rest.split_once('?') {
            Some((h, q)) => (h, Some(q)),
            None => (rest, None),
        };
        let mut transport = None;
        for param in query.into_iter().flat_map(|q| q.split('&')) {
            let (key, value) = param.split_once('=')?;
            if key.eq_ignore_ascii_case("transport") {
                transport = Some(value.to_ascii_lowercase());
            }
        }
        match transport.as_deref() {
            Some("tcp") => {}
            None if tls => {}
            _ => return None,
        }
        let (host, port) = split_host_port(hostport)?;
        Some(StreamTurnServer { host: host.to_owned(), port: port.unwrap_or(default_port), tls })
    }

    /// How the server is named in messages: `turns:HOST:PORT`.
    pub fn label(&self) -> String {
        let scheme = if self.tls { "turns" } else { "turn" };
        if self.host.contains(':') {
            format!("{scheme}:[{}]:{}", self.host, self.port)
        } else {
            format!("{scheme}:{}:{}", self.host, self.port)
        }
    }
}

/// `host`, `host:port`, `[v6]` or `[v6]:port`; `None` when malformed.
fn split_host_port(hostport: &str) -> Option<(&str, Option<u16>)> {
    let (host, port) = if let Some(bracketed) = hostport.strip_prefix('[') {
        let (host, after) = bracketed.split_once(']')?;
        match after {
            "" => (host, None),
            _ => (host, Some(after.strip_prefix(':')?)),
        }
    } else {
        match hostport.split_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (hostport, None),
        }
    };
    let valid_host = !host.is_empty() && !host.contains(|c: char| c.is_whitespace() || "/@[]".contains(c));
    let port = match port {
        Some(p) => Some(p.parse::<u16>().ok().filter(|p| *p != 0)?),
        None => None,
    };
    valid_host.then_some((host, port))
}

/// Splits a TCP byte stream into TURN messages. Pure.
#[derive(Debug, Default)]
pub struct Deframer {
    buf: Vec<u8>,
}

/// How long the message at the start of `data` is on the stream, padding
/// included, once its header is there; `Err` for bytes that are neither
/// STUN nor ChannelData (the stream is out of step: drop the connection).
pub fn framed_len(data: &[u8]) -> Result<Option<usize>, RtcError> {
    if data.len() < 4 {
        return Ok(None);
    }
    let length = usize::from(u16::from_be_bytes([data[2], data[3]]));
    match data[0] >> 6 {
        // STUN: 20-byte header, the length counts the attributes (always a multiple of 4).
        0 => Ok(Some(20 + length)),
        // ChannelData (0x4000–0x7FFF): 4-byte header, data padded to 4 on streams.
        1 => Ok(Some(4 + length.div_ceil(4) * 4)),
        _ => Err(RtcError::Setup("the TURN server sent something that is neither STUN nor ChannelData".into())),
    }
}

/// The datagram form of a framed message: ChannelData loses its stream padding.
pub fn unframe(message: &[u8]) -> &[u8] {
    if message.first().is_some_and(|b| b >> 6 == 1) && message.len() >= 4 {
        let length = usize::from(u16::from_be_bytes([message[2], message[3]]));
        &message[..(4 + length).min(message.len())]
    } else {
        message
    }
}

/// The stream form of a datagram: ChannelData padded to four bytes.
pub fn frame(datagram: &[u8]) -> Vec<u8> {
    let mut out = datagram.to_vec();
    if datagram.first().is_some_and(|b| b >> 6 == 1) {
        out.resize(datagram.len().div_ceil(4) * 4, 0);
    }
    out
}

impl Deframer {
    /// Add bytes read from the stream; returns every complete message (as a datagram).
    pub fn push(&mut self, bytes: &[u8]) -> Result<Vec<Vec<u8>>, RtcError> {
        self.buf.extend_from_slice(bytes);
        let mut out = Vec::new();
        while let Some(len) = framed_len(&self.buf)? {
            if len > MAX_MESSAGE {
                return Err(RtcError::Setup("a TURN message longer than 64 KiB".into()));
            }
            if self.buf.len() < len {
                break;
            }
            let message: Vec<u8> = self.buf.drain(..len).collect();
            out.push(unframe(&message).to_vec());
        }
        Ok(out)
    }
}

/// A running bridge: a UDP socket on 127.0.0.1 ⇄ one TCP connection to the
/// TURN server. Stops when dropped.
#[derive(Debug)]
pub struct TurnTcpBridge {
    local: SocketAddr,
    task: JoinHandle<()>,
}

impl TurnTcpBridge {
    /// Connect to `server` over TCP (and TLS for `turns:`, trusting the
    /// system roots plus `ca_file`) and open the local UDP end. The error
    /// is a sentence naming the server and what went wrong.
    pub async fn start(server: &StreamTurnServer, ca_file: Option<&Path>) -> Result<TurnTcpBridge, RtcError> {
        let label = server.label();
        let cannot = |why: String| RtcError::Setup(format!("The TURN server {label} could not be used: {why}."));
        // A bad CA file is said before any network wait.
        let tls = if server.tls { Some(crate::turn_tls::client_config(ca_file).map_err(cannot)?) } else { None };
        let started = std::time::Instant::now();
        let connected = tokio::time::timeout(CONNECT_TIMEOUT, async {
            let addr = tokio::net::lookup_host((server.host.as_str(), server.port))
                .await
                .ok()
                .and_then(|mut a| a.next())
                .ok_or_else(|| format!("the name {} could not be resolved", server.host))?;
            let tcp = TcpStream::connect(addr).await.map_err(|e| format!("it could not be reached over TCP ({e})"))?;
            let _ = tcp.set_nodelay(true);
            let udp = UdpSocket::bind("127.0.0.1:0").await.map_err(|e| e.to_string())?;
            let local = udp.local_addr().map_err(|e| e.to_string())?;
            let task = match tls {
                Some(config) => tokio::spawn(pump(udp, crate::turn_tls::connect(tcp, &server.host, config).await?)),
                None => tokio::spawn(pump(udp, tcp)),
            };
            Ok::<_, String>(TurnTcpBridge { local, task })
        })
        .await;
        match connected {
            Ok(Ok(bridge)) => {
                tracing::info!(server = %label, took_ms = started.elapsed().as_secs_f64() * 1000.0, "TURN bridge connected");
                Ok(bridge)
            }
            Ok(Err(why)) => Err(cannot(why)),
            Err(_) => Err(cannot(format!("it did not answer within {} s", CONNECT_TIMEOUT.as_secs()))),
        }
    }

    /// The UDP address the WebRTC stack should use as its TURN server.
    pub fn local_addr(&self) -> SocketAddr {
        self.local
    }
}

impl Drop for TurnTcpBridge {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Datagrams from the (single) local client go to the stream; messages from
/// the stream go back to the last client address seen.
async fn pump<S: AsyncRead + AsyncWrite + Send + 'static>(udp: UdpSocket, stream: S) {
    let (mut reader, mut writer) = tokio::io::split(stream);
    let mut client: Option<SocketAddr> = None;
    let mut deframer = Deframer::default();
    let mut datagram = vec![0u8; 1 << 16];
    let mut chunk = vec![0u8; 1 << 16];
    loop {
        tokio::select! {
            received = udp.recv_from(&mut datagram) => {
                let Ok((n, from)) = received else { return };
                client = Some(from);
                if writer.write_all(&frame(&datagram[..n])).await.is_err() {
                    tracing::info!("the TURN server closed the stream");
                    return;
                }
            }
            read = reader.read(&mut chunk) => {
                let n = match read {
                    Ok(0) | Err(_) => {
                        tracing::info!("the TURN server closed the stream");
                        return;
                    }
                    Ok(n) => n,
                };
                let messages = match deframer.push(&chunk[..n]) {
                    Ok(m) => m,
                    Err(e) => {
                        tracing::info!(error = %e, "dropping the TURN/TCP connection");
                        return;
                    }
                };
                if let Some(to) = client {
                    for m in messages {
                        let _ = udp.send_to(&m, to).await;
                    }
                }
            }
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    const STUN: [u8; 24] = [0x01, 0x01, 0x00, 0x04, 0x21, 0x12, 0xA4, 0x42, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 0xAA, 0xBB, 0xCC, 0xDD];

    #[test]
    fn channel_data_is_padded_on_the_stream_and_unpadded_back() {
        let channel = [0x40, 0x00, 0x00, 0x05, 1, 2, 3, 4, 5];
        let framed = frame(&channel);
        assert_eq!(framed.len(), 12);
        assert_eq!(unframe(&framed), &channel[..]);
        assert_eq!(frame(&STUN), STUN.to_vec(), "STUN is never padded (its length is a multiple of 4)");
    }

    #[test]
    fn messages_split_across_reads_and_glued_together_come_out_whole() {
        let channel = frame(&[0x40, 0x01, 0x00, 0x03, 9, 9, 9]);
        let stream: Vec<u8> = [&STUN[..], &channel, &STUN].concat();
        for cut in 0..stream.len() {
            let mut d = Deframer::default();
            let mut out = d.push(&stream[..cut]).unwrap();
            out.extend(d.push(&stream[cut..]).unwrap());
            assert_eq!(out, vec![STUN.to_vec(), vec![0x40, 0x01, 0x00, 0x03, 9, 9, 9], STUN.to_vec()], "cut at {cut}");
        }
    }

    #[test]
    fn bytes_that_are_neither_stun_nor_channel_data_break_the_stream() {
        assert!(Deframer::default().push(&[0xC0, 0, 0, 0]).is_err());
        assert!(Deframer::default().push(&[0x80, 0, 0, 0]).is_err());
    }

    fn server(host: &str, port: u16, tls: bool) -> Option<StreamTurnServer> {
        Some(StreamTurnServer { host: host.into(), port, tls })
    }

    #[test]
    fn tcp_and_tls_turn_urls_are_bridged_and_the_others_are_left_alone() {
        let parse = StreamTurnServer::parse;
        assert_eq!(parse("turn:127.0.0.1:3479?transport=tcp"), server("127.0.0.1", 3479, false));
        assert_eq!(parse("turn:127.0.0.1?transport=TCP"), server("127.0.0.1", 3478, false));
        assert_eq!(parse("turn:127.0.0.1:3479?transport=udp"), None, "webrtc-rs's own");
        assert_eq!(parse("turn:127.0.0.1:3479"), None, "UDP by default");
        assert_eq!(parse("stun:127.0.0.1:3479"), None);
        // turns: is TLS over TCP, port 5349 unless given; ?transport=tcp is implied.
        assert_eq!(parse("turns:turn.example.com"), server("turn.example.com", 5349, true));
        assert_eq!(parse("turns:10.77.1.1:443"), server("10.77.1.1", 443, true));
        assert_eq!(parse("TURNS:10.77.1.1:443?transport=tcp"), server("10.77.1.1", 443, true));
        assert_eq!(parse("turns:[2001:db8::1]:5350"), server("2001:db8::1", 5350, true));
        assert_eq!(parse("turns:[2001:db8::1]"), server("2001:db8::1", 5349, true));
        assert_eq!(parse("turns:10.77.1.1?transport=udp"), None, "DTLS: not spoken here");
    }

    #[test]
    fn malformed_turn_urls_are_refused_without_a_panic() {
        for url in [
            "turns:", "turns::5349", "turns:host:", "turns:host:0", "turns:host:70000", "turns:host:port",
            "turns:2001:db8::1", "turns:[2001:db8::1", "turns:[::1]5349", "turns:user@host", "turns:host/path",
            "turns:host?transport", "turn:host?transport=tcp&", "turns", "", "turns:ho st",
        ] {
            assert_eq!(StreamTurnServer::parse(url), None, "{url:?}");
        }
    }

    #[test]
    fn servers_are_named_as_urls_in_messages() {
        assert_eq!(StreamTurnServer::parse("turns:10.77.1.1").map(|s| s.label()).as_deref(), Some("turns:10.77.1.1:5349"));
        assert_eq!(StreamTurnServer::parse("turns:[::1]:5").map(|s| s.label()).as_deref(), Some("turns:[::1]:5"));
        assert_eq!(
            StreamTurnServer::parse("turn:a.example?transport=tcp").map(|s| s.label()).as_deref(),
            Some("turn:a.example:3478")
        );
    }
}
