//! The media half of the pre-call network check (issue 8): what a STUN
//! server sees of us (public address, round trip, which kind of NAT) and
//! whether a TURN server hands out a relay. The decoding and the NAT
//! classification are pure; the socket work is at the edges.

use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use rtc::stun::message::{Getter as _, Message, TransactionId, BINDING_REQUEST, BINDING_SUCCESS};
use rtc::stun::xoraddr::XorMappedAddress;
use serde::Serialize;

use crate::{IceServer, MediaIo, RtcError, Session, SessionConfig};

/// One STUN binding: from which local socket, to which server, what it saw.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Binding {
    pub server: SocketAddr,
    pub mapped: SocketAddr,
    pub rtt: Duration,
}

/// What the bindings say about the way out.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase", tag = "kind")]
pub enum Nat {
    /// The servers saw one of our own addresses: no NAT in between.
    None { public: IpAddr },
    /// Behind a NAT that keeps one public port per socket (direct media usually works).
    EndpointIndependent { public: IpAddr },
    /// Behind a NAT that picks a new port per destination: direct media
    /// often fails; calls need TURN.
    Symmetric { public: IpAddr },
    /// No STUN server answered (or none is configured).
    Unknown,
}

/// A binding request (RFC 5389) and its transaction id.
pub fn binding_request() -> Result<(Vec<u8>, TransactionId), RtcError> {
    let mut m = Message::new();
    m.build(&[Box::new(BINDING_REQUEST), Box::new(TransactionId::new())]).map_err(RtcError::setup)?;
    Ok((m.raw.clone(), m.transaction_id))
}

/// The mapped address in a binding success for `transaction`; `None` for
/// anything else (another transaction, an error, garbage).
pub fn parse_binding_success(data: &[u8], transaction: TransactionId) -> Option<SocketAddr> {
    let mut m = Message::new();
    m.unmarshal_binary(data).ok()?;
    if m.transaction_id != transaction || m.typ != BINDING_SUCCESS {
        return None;
    }
    let mut xor = XorMappedAddress::default();
    xor.get_from(&m).ok()?;
    Some(SocketAddr::new(xor.ip, xor.port))
}

/// Classify from bindings made from ONE local socket to different servers.
pub fn classify(local_ips: &[IpAddr], bindings: &[Binding]) -> Nat {
    let Some(first) = bindings.first() else { return Nat::Unknown };
    let public = first.mapped.ip();
    if local_ips.contains(&public) {
        return Nat::None { public };
    }
    // Two servers at different addresses seeing different ports: the NAT maps
    // per destination.
    let distinct_servers = bindings.iter().any(|b| b.server.ip() != first.server.ip() || b.server.port() != first.server.port());
    if distinct_servers && bindings.iter().any(|b| b.mapped != first.mapped) {
        Nat::Symmetric { public }
    } else {
        Nat::EndpointIndependent { public }
    }
}

/// One binding from `socket` to `server`, retransmitted (RFC 5389 §7.2.1,
/// shortened) until `timeout`.
pub async fn binding(socket: &tokio::net::UdpSocket, server: SocketAddr, timeout: Duration) -> Result<Binding, RtcError> {
    let (request, transaction) = binding_request()?;
    let started = Instant::now();
    let deadline = started + timeout;
    let mut wait = Duration::from_millis(100);
    let mut buf = [0u8; 1500];
    while Instant::now() < deadline {
        socket.send_to(&request, server).await.map_err(|e| RtcError::Setup(format!("could not reach {server}: {e}")))?;
        let until = (Instant::now() + wait).min(deadline);
        while let Ok(Ok((n, from))) = tokio::time::timeout_at(until.into(), socket.recv_from(&mut buf)).await {
            if from != server {
                continue;
            }
            if let Some(mapped) = parse_binding_success(&buf[..n], transaction) {
                return Ok(Binding { server, mapped, rtt: started.elapsed() });
            }
        }
        wait = (wait * 2).min(Duration::from_millis(800));
    }
    Err(RtcError::Setup(format!("the STUN server {server} did not answer within {timeout:?}")))
}

/// `host:port` of a `stun:`/`turn:` URL, resolved (first address). STUN
/// bindings go over UDP, so `turns:` (TLS) has no address here.
pub async fn server_address(url: &str) -> Option<SocketAddr> {
    let (scheme, rest) = url.split_once(':')?;
    if scheme.eq_ignore_ascii_case("turns") {
        return None;
    }
    let hostport = rest.split('?').next()?;
    let hostport = if hostport.contains(':') { hostport.to_owned() } else { format!("{hostport}:3478") };
    tokio::net::lookup_host(hostport).await.ok()?.next()
}

/// Does `server` (a `turn:` or `turns:` entry with credentials) give us a
/// relay? Gathers with that server alone, as a call would. A TURN server
/// over TCP/TLS that cannot be used at all (a certificate not trusted, a
/// failed handshake) is an `Err` saying why.
pub async fn turn_gives_relay(server: &IceServer, timeout: Duration) -> Result<bool, RtcError> {
    let config = SessionConfig { ice_servers: vec![server.clone()], gather_timeout: timeout, ..SessionConfig::default() };
    let media = MediaIo { source: Box::new(homeline_media::frame::SilenceSource), sink: Box::new(homeline_media::frame::NullSink::default()) };
    let (session, _events) = Session::new(config, media).await?;
    let problem = session.turn_problems().first().cloned();
    let offer = session.create_offer().await;
    session.close().await;
    let relay = offer?.lines().any(|l| l.starts_with("a=candidate:") && l.contains(" typ relay"));
    match problem {
        Some(words) if !relay => Err(RtcError::Setup(words)),
        _ => Ok(relay),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn b(server: &str, mapped: &str) -> Binding {
        Binding { server: server.parse().unwrap(), mapped: mapped.parse().unwrap(), rtt: Duration::from_millis(20) }
    }

    #[test]
    fn nat_kinds_from_what_the_servers_saw() {
        let local: Vec<IpAddr> = vec!["192.168.1.20".parse().unwrap()];
        assert_eq!(classify(&local, &[]), Nat::Unknown);
        let public: IpAddr = "203.0.113.7".parse().unwrap();
        assert_eq!(classify(&local, &[b("198.51.100.1:3478", "192.168.1.20:5000")]), Nat::None { public: local[0] });
        assert_eq!(
            classify(&local, &[b("198.51.100.1:3478", "203.0.113.7:40000"), b("198.51.100.2:3478", "203.0.113.7:40000")]),
            Nat::EndpointIndependent { public }
        );
        assert_eq!(
            classify(&local, &[b("198.51.100.1:3478", "203.0.113.7:40000"), b("198.51.100.2:3478", "203.0.113.7:40001")]),
            Nat::Symmetric { public }
        );
        // One server only: symmetric cannot be told apart; say the kinder thing.
        assert_eq!(classify(&local, &[b("198.51.100.1:3478", "203.0.113.7:40000")]), Nat::EndpointIndependent { public });
    }

    #[test]
    fn binding_responses_are_matched_to_their_request_and_garbage_is_refused() {
        let (request, transaction) = binding_request().unwrap();
        assert_eq!(request.len(), 20, "a bare binding request is a 20-byte header");
        let mut response = Message::new();
        let mapped = XorMappedAddress { ip: "203.0.113.7".parse().unwrap(), port: 40000 };
        response.build(&[Box::new(BINDING_SUCCESS), Box::new(transaction), Box::new(mapped)]).unwrap();
        assert_eq!(parse_binding_success(&response.raw, transaction), Some("203.0.113.7:40000".parse().unwrap()));
        assert_eq!(parse_binding_success(&response.raw, TransactionId::new()), None, "another transaction");
        for garbage in [&b""[..], &[0u8; 19], &[0xffu8; 64], &response.raw[..response.raw.len() - 3]] {
            assert_eq!(parse_binding_success(garbage, transaction), None);
        }
    }

    #[test]
    fn server_addresses_from_stun_and_turn_urls() {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        rt.block_on(async {
            assert_eq!(server_address("stun:127.0.0.1:3479").await, Some("127.0.0.1:3479".parse().unwrap()));
            assert_eq!(server_address("turn:127.0.0.1?transport=udp").await, Some("127.0.0.1:3478".parse().unwrap()));
            assert_eq!(server_address("nonsense").await, None);
            assert_eq!(server_address("turns:127.0.0.1:5349").await, None, "TLS: no STUN binding over UDP there");
        });
    }
}
