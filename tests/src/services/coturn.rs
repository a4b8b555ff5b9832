//! coturn as a STUN/TURN server on loopback (UDP and TCP; TLS too when asked,
//! with a certificate from a test CA made for it), with one static
//! long-term-credential user.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, TcpStream, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use tempfile::TempDir;

use crate::process::{free_tcp_port, free_udp_port, require_program, retry_on_port_clash, HarnessError, Service};

pub const REALM: &str = "homeline.test";
pub const USERNAME: &str = "homeline";
pub const PASSWORD: &str = "relay-secret";

/// Relay ports per instance, drawn at random below the ephemeral range and
/// above rtpengine's bases (see rtpengine.rs).
const RELAY_PORTS: u16 = 200;
const RELAY_BASE_MIN: u16 = 22_000;
const RELAY_BASE_MAX: u16 = 32_000;

/// STUN magic cookie (RFC 5389).
const MAGIC_COOKIE: u32 = 0x2112_A442;

/// A running turnserver. Stops on drop.
#[derive(Debug)]
pub struct Coturn {
    // Declared before `dir`: the process stops before its directory goes.
    service: Service,
    dir: TempDir,
    addr: SocketAddr,
    tls: Option<Tls>,
}

/// The TLS listener (`turns:`) and the CA that signed its certificate.
#[derive(Debug)]
struct Tls {
    addr: SocketAddr,
    ca_pem: PathBuf,
}

/// Start turnserver on 127.0.0.1 and wait until it answers a STUN binding request.
pub fn start() -> Result<Coturn, HarnessError> {
    start_on(IpAddr::V4(Ipv4Addr::LOCALHOST))
}

/// Start turnserver listening and relaying on `ip` (a veth address in a
/// network namespace test: call this from inside that namespace).
pub fn start_on(ip: IpAddr) -> Result<Coturn, HarnessError> {
    let program = require_program("turnserver", "coturn")?;
    retry_on_port_clash(3, || start_once(&program, ip, false))
}

/// [`start_on`] with a TLS listener too (`turns:`), its certificate for
/// `ip` signed by a test CA made for this instance ([`Coturn::ca_pem`]).
pub fn start_with_tls_on(ip: IpAddr) -> Result<Coturn, HarnessError> {
    let program = require_program("turnserver", "coturn")?;
    require_program("openssl", "openssl")?;
    retry_on_port_clash(3, || start_once(&program, ip, true))
}

fn start_once(program: &Path, ip: IpAddr, with_tls: bool) -> Result<Coturn, HarnessError> {
    let dir = tempfile::Builder::new()
        .prefix("homeline-coturn-")
        .tempdir()
        .map_err(HarnessError::io("creating coturn's temp dir"))?;
    let addr = SocketAddr::new(ip, free_udp_port());
    let base = rand::random_range(RELAY_BASE_MIN..RELAY_BASE_MAX);

    let tls = if with_tls {
        let ca_pem = crate::services::kamailio::make_certificates(dir.path(), ip, "Homeline Test TURN CA")?;
        Some(Tls { addr: SocketAddr::new(ip, free_tcp_port()), ca_pem })
    } else {
        None
    };

    let mut cmd = Command::new(program);
    cmd.current_dir(dir.path()).args([
        // No /etc/turnserver.conf (it would send the log to syslog).
        "-n",
        "--no-dtls",
        "--no-cli",
        "--lt-cred-mech",
        "--fingerprint",
        // Every peer in a loopback test is 127.0.0.1, which coturn refuses by default.
        "--allow-loopback-peers",
        "--relay-threads=1",
        "--log-file=stdout",
        "--simple-log",
    ]);
    cmd.arg(format!("--listening-ip={ip}"))
        .arg(format!("--relay-ip={ip}"))
        .arg(format!("--listening-port={}", addr.port()))
        .arg(format!("--min-port={base}"))
        .arg(format!("--max-port={}", base + RELAY_PORTS - 1))
        .arg(format!("--realm={REALM}"))
        .arg(format!("--user={USERNAME}:{PASSWORD}"))
        // Both default to /var paths, shared between instances or not writable.
        .arg(format!("--userdb={}", dir.path().join("turndb").display()))
        .arg(format!("--pidfile={}", dir.path().join("turnserver.pid").display()));
    match &tls {
        Some(tls) => {
            cmd.arg(format!("--tls-listening-port={}", tls.addr.port()))
                .arg(format!("--cert={}", dir.path().join("server.pem").display()))
                .arg(format!("--pkey={}", dir.path().join("server.key").display()));
        }
        None => {
            cmd.arg("--no-tls");
        }
    }
    let mut service = Service::spawn("coturn", cmd, &dir.path().join("turnserver.log"))?;
    // coturn keeps running when it cannot bind, and whoever holds the port
    // would not answer STUN: watch the log to fail (and retry) at once.
    let mut port_taken = false;
    let log = service.log_path.clone();
    service.wait_ready(Duration::from_secs(5), || {
        port_taken = std::fs::read_to_string(&log).is_ok_and(|text| text.contains("Address already in use"));
        let tls_up = tls.as_ref().is_none_or(|t| TcpStream::connect_timeout(&t.addr, Duration::from_millis(100)).is_ok());
        port_taken || (tls_up && stun_binding(addr, Duration::from_millis(100)).is_ok())
    })?;
    if port_taken {
        return Err(service.failed(format!("port {} (or its TLS port) is already in use", addr.port())));
    }
    Ok(Coturn { service, dir, addr, tls })
}

impl Coturn {
    /// The STUN/TURN listening address (UDP and TCP).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `stun:127.0.0.1:PORT`
    pub fn stun_url(&self) -> String {
        format!("stun:{}", self.addr)
    }

    /// `turn:127.0.0.1:PORT?transport=udp`
    pub fn turn_url(&self) -> String {
        format!("turn:{}?transport=udp", self.addr)
    }

    /// `turns:IP:PORT`, when started with [`start_with_tls_on`].
    pub fn turns_url(&self) -> Option<String> {
        self.tls.as_ref().map(|t| format!("turns:{}", t.addr))
    }

    /// The test CA that signed the TLS certificate (PEM), when there is one.
    pub fn ca_pem(&self) -> Option<&Path> {
        self.tls.as_ref().map(|t| t.ca_pem.as_path())
    }

    pub fn username(&self) -> &str {
        USERNAME
    }

    pub fn password(&self) -> &str {
        PASSWORD
    }

    pub fn realm(&self) -> &str {
        REALM
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

/// Send a STUN binding request to `server` and return the XOR-MAPPED-ADDRESS
/// of the success response (our own address as the server saw it).
pub fn stun_binding(server: SocketAddr, timeout: Duration) -> std::io::Result<SocketAddr> {
    let socket = UdpSocket::bind(SocketAddr::new(server.ip(), 0))?;
    stun_binding_from(&socket, server, timeout)
}

/// [`stun_binding`] from a given socket, so the caller can compare the mapped
/// address with the socket's own.
pub fn stun_binding_from(socket: &UdpSocket, server: SocketAddr, timeout: Duration) -> std::io::Result<SocketAddr> {
    let (transaction, response) = stun_exchange(socket, server, 0x0001, &[], timeout)?;
    let mapped = (stun_type(&response) == Some(0x0101))
        .then(|| stun_attributes(&response, &transaction))
        .flatten()
        .and_then(|attrs| attrs.into_iter().find(|(kind, _)| *kind == 0x0020))
        .and_then(|(_, value)| xor_mapped_address(&value, &transaction));
    mapped.ok_or_else(|| invalid(format!("not a binding success with XOR-MAPPED-ADDRESS: {response:02x?}")))
}

/// Send a TURN Allocate without credentials; a server with long-term
/// credentials answers 401 with its realm. Returns (error code, realm).
pub fn turn_allocate_unauthenticated(server: SocketAddr, timeout: Duration) -> std::io::Result<(u16, String)> {
    let socket = UdpSocket::bind("127.0.0.1:0")?;
    // REQUESTED-TRANSPORT (0x0019): UDP (17), three reserved bytes.
    let requested_transport = [0x00, 0x19, 0x00, 0x04, 17, 0, 0, 0];
    let (transaction, response) = stun_exchange(&socket, server, 0x0003, &requested_transport, timeout)?;
    if stun_type(&response) != Some(0x0113) {
        return Err(invalid(format!("not an Allocate error response: {response:02x?}")));
    }
    let attrs = stun_attributes(&response, &transaction).ok_or_else(|| invalid("malformed STUN attributes".into()))?;
    let code = attrs
        .iter()
        .find(|(kind, _)| *kind == 0x0009)
        .and_then(|(_, v)| Some(u16::from(*v.get(2)? & 0x07) * 100 + u16::from(*v.get(3)?)))
        .ok_or_else(|| invalid("no ERROR-CODE".into()))?;
    let realm = attrs
        .iter()
        .find(|(kind, _)| *kind == 0x0014)
        .map(|(_, v)| String::from_utf8_lossy(v).into_owned())
        .unwrap_or_default();
    Ok((code, realm))
}

fn invalid(message: String) -> std::io::Error {
    std::io::Error::new(std::io::ErrorKind::InvalidData, message)
}

/// One request/response: header (type, length, magic cookie, random
/// transaction id) + `attributes`; returns the transaction id and the reply.
fn stun_exchange(
    socket: &UdpSocket,
    server: SocketAddr,
    msg_type: u16,
    attributes: &[u8],
    timeout: Duration,
) -> std::io::Result<([u8; 12], Vec<u8>)> {
    socket.set_read_timeout(Some(timeout))?;
    let transaction: [u8; 12] = rand::random();
    let length = u16::try_from(attributes.len()).map_err(|_| invalid("attributes too long".into()))?;
    let mut request = Vec::with_capacity(20 + attributes.len());
    request.extend_from_slice(&msg_type.to_be_bytes());
    request.extend_from_slice(&length.to_be_bytes());
    request.extend_from_slice(&MAGIC_COOKIE.to_be_bytes());
    request.extend_from_slice(&transaction);
    request.extend_from_slice(attributes);
    socket.send_to(&request, server)?;
    let mut buf = [0u8; 1500];
    let (n, _) = socket.recv_from(&mut buf)?;
    Ok((transaction, buf[..n].to_vec()))
}

fn stun_type(msg: &[u8]) -> Option<u16> {
    Some(u16::from_be_bytes([*msg.first()?, *msg.get(1)?]))
}

/// The attributes of a STUN message answering `transaction`, or None if it does not.
fn stun_attributes(msg: &[u8], transaction: &[u8; 12]) -> Option<Vec<(u16, Vec<u8>)>> {
    let length = usize::from(u16::from_be_bytes([*msg.get(2)?, *msg.get(3)?]));
    if msg.get(4..8)? != MAGIC_COOKIE.to_be_bytes() || msg.get(8..20)? != transaction {
        return None;
    }
    let mut attrs = msg.get(20..20 + length)?;
    let mut out = Vec::new();
    while attrs.len() >= 4 {
        let kind = u16::from_be_bytes([attrs[0], attrs[1]]);
        let len = usize::from(u16::from_be_bytes([attrs[2], attrs[3]]));
        out.push((kind, attrs.get(4..4 + len)?.to_vec()));
        // Values are padded to 4 bytes.
        let padded = 4 + len.div_ceil(4) * 4;
        attrs = attrs.get(padded.min(attrs.len())..)?;
    }
    Some(out)
}

fn xor_mapped_address(value: &[u8], transaction: &[u8; 12]) -> Option<SocketAddr> {
    let cookie = MAGIC_COOKIE.to_be_bytes();
    let port = u16::from_be_bytes([*value.get(2)?, *value.get(3)?]) ^ (MAGIC_COOKIE >> 16) as u16;
    match value.get(1)? {
        0x01 => {
            let raw = value.get(4..8)?;
            let ip: [u8; 4] = std::array::from_fn(|i| raw[i] ^ cookie[i]);
            Some(SocketAddr::from((Ipv4Addr::from(ip), port)))
        }
        0x02 => {
            let raw = value.get(4..20)?;
            let key: Vec<u8> = cookie.iter().chain(transaction.iter()).copied().collect();
            let ip: [u8; 16] = std::array::from_fn(|i| raw[i] ^ key[i]);
            Some(SocketAddr::from((Ipv6Addr::from(ip), port)))
        }
        _ => None,
    }
}

#[cfg(test)]
#[allow(clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn decodes_the_rfc5769_ipv4_response() {
        // RFC 5769 2.2: sample IPv4 response (XOR-MAPPED-ADDRESS 192.0.2.1:32853).
        let hex = "0101003c2112a442b7e7a701bc34d686fa87dfae802200\
                   0b7465737420766563746f7220002000080001a147e112a643\
                   000800142b91f599fd9e90c38c7489f92af9ba53f06be7d780280004c07d4c96";
        let bytes: Vec<u8> = (0..hex.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).expect("valid hex"))
            .collect();
        let mut transaction = [0u8; 12];
        transaction.copy_from_slice(&bytes[8..20]);
        assert_eq!(stun_type(&bytes), Some(0x0101));
        let attrs = stun_attributes(&bytes, &transaction).expect("well-formed");
        let kinds: Vec<u16> = attrs.iter().map(|(k, _)| *k).collect();
        assert_eq!(kinds, vec![0x8022, 0x0020, 0x0008, 0x8028]);
        let (_, xor) = &attrs[1];
        assert_eq!(xor_mapped_address(xor, &transaction), Some(SocketAddr::from(([192, 0, 2, 1], 32853))));
    }
}
