//! Routing a WebRTC call through relays by rewriting ICE candidates in the SDP.
//!
//! Each side is told the other's candidate is a relay's listening address; the relay
//! forwards to the real candidate. Answers come back from the relay's upstream socket, so
//! the far side learns it as a peer-reflexive candidate, which again leads through the relay:
//! every path between the two sides crosses a relay (see README).

use std::net::SocketAddr;

/// The address of every UDP `a=candidate` line (host, srflx, relay alike).
pub fn candidate_addrs(sdp: &str) -> Vec<SocketAddr> {
    sdp.lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.trim().strip_prefix("a=candidate:")?.split(' ').collect();
            if !f.get(2)?.eq_ignore_ascii_case("udp") {
                return None;
            }
            let ip: std::net::IpAddr = f.get(4)?.parse().ok()?;
            let port: u16 = f.get(5)?.parse().ok()?;
            Some(SocketAddr::new(ip, port))
        })
        .collect()
}

/// Replaces the candidate address `old` with `new` (and drops candidates with any other
/// address, so the far side cannot reach around the relay).
pub fn route_candidate(sdp: &str, old: SocketAddr, new: SocketAddr) -> String {
    let mut out = String::with_capacity(sdp.len());
    for line in sdp.split_inclusive('\n') {
        let body = line.trim_end_matches(['\r', '\n']);
        let eol = &line[body.len()..];
        if let Some(rest) = body.strip_prefix("a=candidate:") {
            let mut f: Vec<String> = rest.split(' ').map(str::to_owned).collect();
            let addr = match (f.get(4), f.get(5)) {
                (Some(ip), Some(port)) => format!("{ip}:{port}").parse::<SocketAddr>().ok(),
                _ => None,
            };
            if addr != Some(old) {
                continue;
            }
            f[4] = new.ip().to_string();
            f[5] = new.port().to_string();
            out.push_str("a=candidate:");
            out.push_str(&f.join(" "));
            out.push_str(eol);
            continue;
        }
        out.push_str(line);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const SDP: &str = "v=0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\n\
a=candidate:1 1 udp 2130706431 127.0.0.1 40000 typ host\r\n\
a=candidate:2 1 udp 2130706431 127.0.0.1 40002 typ host\r\n\
a=end-of-candidates\r\n";

    #[test]
    fn a_candidate_is_pointed_at_the_relay_and_the_others_go() {
        let addrs = candidate_addrs(SDP);
        assert_eq!(addrs.len(), 2);
        let relay: SocketAddr = "127.0.0.1:5555".parse().unwrap();
        let out = route_candidate(SDP, addrs[0], relay);
        assert_eq!(candidate_addrs(&out), vec![relay]);
        assert!(out.contains("a=end-of-candidates\r\n"));
        assert!(out.contains("typ host\r\n"));
    }
}
