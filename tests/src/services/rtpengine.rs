//! rtpengine in userspace (no kernel forwarding table), controlled over the
//! ng protocol on a loopback UDP port. Kamailio's rtpengine module uses it to
//! bridge WebRTC (ICE, DTLS-SRTP, rtcp-mux) and plain RTP.

use std::net::{SocketAddr, UdpSocket};
use std::ops::RangeInclusive;
use std::process::Command;
use std::time::Duration;

use tempfile::TempDir;

use crate::process::{free_udp_port, require_program, retry_on_port_clash, HarnessError, Service};

/// Media ports per instance. Bases are drawn at random below the kernel's
/// ephemeral range (32768+) so parallel instances rarely share ports, and a
/// shared port is only skipped by rtpengine, never fatal.
const MEDIA_PORTS: u16 = 200;
const MEDIA_BASE_MIN: u16 = 12_000;
const MEDIA_BASE_MAX: u16 = 22_000;

/// A running rtpengine. Stops on drop.
#[derive(Debug)]
pub struct RtpEngine {
    // Declared before `dir`: the process stops before its directory goes.
    service: Service,
    dir: TempDir,
    ng: SocketAddr,
    media_ports: RangeInclusive<u16>,
}

/// Start rtpengine on 127.0.0.1 and wait until it answers an ng `ping`.
pub fn start() -> Result<RtpEngine, HarnessError> {
    let program = require_program("rtpengine", "rtpengine-daemon")?;
    retry_on_port_clash(3, || start_once(&program))
}

fn start_once(program: &std::path::Path) -> Result<RtpEngine, HarnessError> {
    let dir = tempfile::Builder::new()
        .prefix("homeline-rtpengine-")
        .tempdir()
        .map_err(HarnessError::io("creating rtpengine's temp dir"))?;
    let ng = SocketAddr::from(([127, 0, 0, 1], free_udp_port()));
    let base = rand::random_range(MEDIA_BASE_MIN..MEDIA_BASE_MAX) & !1;
    let media_ports = base..=base + MEDIA_PORTS - 1;

    let mut cmd = Command::new(program);
    cmd.current_dir(dir.path()).args([
        // Without this it reads /etc/rtpengine/rtpengine.conf, whose fixed
        // cli/http ports make a second instance fail.
        "--config-file=none",
        "--foreground",
        "--log-stderr",
        "--log-level=6",
        "--table=-1",
        "--no-redis-required",
        "--interface=127.0.0.1",
        "--num-threads=2",
        "--delete-delay=0",
    ]);
    cmd.arg(format!("--listen-ng={ng}"))
        .arg(format!("--port-min={}", media_ports.start()))
        .arg(format!("--port-max={}", media_ports.end()))
        .arg(format!("--pidfile={}", dir.path().join("rtpengine.pid").display()));
    let mut service = Service::spawn("rtpengine", cmd, &dir.path().join("rtpengine.log"))?;
    service.wait_ready(Duration::from_secs(5), || ng_ping(ng, Duration::from_millis(100)))?;
    Ok(RtpEngine { service, dir, ng, media_ports })
}

impl RtpEngine {
    /// The ng control address (`udp:IP:PORT` in Kamailio's `rtpengine_sock`).
    pub fn ng_addr(&self) -> SocketAddr {
        self.ng
    }

    /// The UDP ports rtpengine allocates media from.
    pub fn media_ports(&self) -> RangeInclusive<u16> {
        self.media_ports.clone()
    }

    /// True if rtpengine answers `ping` with `pong` within `timeout`.
    pub fn ping(&self, timeout: Duration) -> bool {
        ng_ping(self.ng, timeout)
    }

    /// Send one bencoded ng command and return the bencoded reply.
    pub fn ng_request(&self, bencoded: &[u8], timeout: Duration) -> std::io::Result<Vec<u8>> {
        ng_request(self.ng, bencoded, timeout)
    }

    pub fn log_path(&self) -> &std::path::Path {
        &self.service.log_path
    }

    pub fn log_tail(&self, lines: usize) -> String {
        self.service.log_tail(lines)
    }

    /// The instance's working directory.
    pub fn dir(&self) -> &std::path::Path {
        self.dir.path()
    }
}

/// Send `ping` over ng and expect `pong`.
pub fn ng_ping(ng: SocketAddr, timeout: Duration) -> bool {
    ng_request(ng, b"d7:command4:pinge", timeout).is_ok_and(|reply| reply == b"d6:result4:ponge")
}

/// One ng exchange: `COOKIE <bencoded>` out, `COOKIE <bencoded>` back.
pub fn ng_request(ng: SocketAddr, bencoded: &[u8], timeout: Duration) -> std::io::Result<Vec<u8>> {
    use std::io::{Error, ErrorKind};
    let socket = UdpSocket::bind("127.0.0.1:0")?;
    socket.set_read_timeout(Some(timeout))?;
    let cookie = crate::sip_probe::random_token(12);
    let mut datagram = format!("{cookie} ").into_bytes();
    datagram.extend_from_slice(bencoded);
    socket.send_to(&datagram, ng)?;
    let mut buf = vec![0u8; 65_535];
    loop {
        let (n, from) = socket.recv_from(&mut buf)?;
        // A late reply to an earlier cookie is not ours.
        let reply = &buf[..n];
        if from == ng && reply.starts_with(cookie.as_bytes()) {
            let payload = reply.get(cookie.len() + 1..).unwrap_or_default();
            return Ok(payload.to_vec());
        }
        if from != ng {
            return Err(Error::new(ErrorKind::InvalidData, format!("reply from unexpected {from}")));
        }
    }
}
