//! TURN over TCP for webrtc-rs, which speaks TURN over UDP only (0.21.1
//! skips every `?transport=tcp` URL): a bridge on 127.0.0.1 that the WebRTC
//! stack uses as its TURN server over UDP, and that carries each datagram as
//! one framed message on a TCP connection to the real server (RFC 5766
//! §2.1: STUN messages back to back; ChannelData padded to four bytes on
//! streams) — for the networks that block UDP and let only TCP out.
//!
//! The allocation still relays UDP on the server's side, so the other party
//! sees an ordinary relay candidate. The bridge changes nothing in the TURN
//! exchange itself (credentials, nonces, permissions pass through untouched).
//! `turns:` (TLS) would wrap the same stream in rustls; not done yet.

use std::net::SocketAddr;

use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpStream, UdpSocket};
use tokio::task::JoinHandle;

use crate::RtcError;

/// Largest message accepted from the stream (a ChannelData or STUN message
/// fits in 64 KiB by its 16-bit length).
const MAX_MESSAGE: usize = 4 + 0xFFFF + 3;

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
        loop {
            let Some(len) = framed_len(&self.buf)? else { break };
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
    /// Connect to `server` over TCP and open the local UDP end.
    pub async fn start(server: SocketAddr) -> Result<TurnTcpBridge, RtcError> {
        let stream = TcpStream::connect(server)
            .await
            .map_err(|e| RtcError::Setup(format!("the TURN server {server} could not be reached over TCP: {e}")))?;
        let _ = stream.set_nodelay(true);
        let udp = UdpSocket::bind("127.0.0.1:0").await.map_err(RtcError::setup)?;
        let local = udp.local_addr().map_err(RtcError::setup)?;
        let task = tokio::spawn(pump(udp, stream));
        Ok(TurnTcpBridge { local, task })
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
async fn pump(udp: UdpSocket, stream: TcpStream) {
    let (mut reader, mut writer) = stream.into_split();
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
                    tracing::info!("the TURN server closed the TCP connection");
                    return;
                }
            }
            read = reader.read(&mut chunk) => {
                let n = match read {
                    Ok(0) | Err(_) => {
                        tracing::info!("the TURN server closed the TCP connection");
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

/// `turn:HOST[:PORT]?transport=tcp` → the server's address (resolved), or
/// `None` for any other URL.
pub async fn tcp_turn_server(url: &str) -> Option<SocketAddr> {
    let rest = url.strip_prefix("turn:")?;
    let (hostport, query) = rest.split_once('?')?;
    if !query.split('&').any(|p| p.eq_ignore_ascii_case("transport=tcp")) {
        return None;
    }
    let hostport = if hostport.contains(':') { hostport.to_owned() } else { format!("{hostport}:3478") };
    tokio::net::lookup_host(hostport).await.ok()?.next()
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

    #[test]
    fn only_tcp_turn_urls_are_bridged() {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        rt.block_on(async {
            assert_eq!(tcp_turn_server("turn:127.0.0.1:3479?transport=tcp").await, Some("127.0.0.1:3479".parse().unwrap()));
            assert_eq!(tcp_turn_server("turn:127.0.0.1?transport=tcp").await, Some("127.0.0.1:3478".parse().unwrap()));
            assert_eq!(tcp_turn_server("turn:127.0.0.1:3479?transport=udp").await, None);
            assert_eq!(tcp_turn_server("turn:127.0.0.1:3479").await, None);
            assert_eq!(tcp_turn_server("stun:127.0.0.1:3479").await, None);
        });
    }
}
