//! A small synchronous SIP client for tests: it speaks SIP over WebSocket
//! (RFC 7118, plain or TLS) or UDP, answers digest challenges (MD5 and
//! SHA-256, qop=auth) and can send and receive raw requests and responses.
//!
//! It is a probe, not a user agent: no transactions, no retransmissions, no
//! dialog state beyond what a test writes itself. Every read has a deadline,
//! so a silent server fails the test instead of hanging it.

use std::fmt::Write as _;
use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream, UdpSocket};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use md5::Md5;
use sha2::{Digest as _, Sha256};
use tungstenite::client::IntoClientRequest;
use tungstenite::http::HeaderValue;
use tungstenite::{Message, WebSocket};

#[derive(Debug, thiserror::Error)]
pub enum ProbeError {
    #[error("could not connect to {target}: {source}")]
    Connect { target: String, #[source] source: io::Error },
    #[error("TLS set-up failed: {0}")]
    Tls(String),
    #[error("WebSocket error: {0}")]
    WebSocket(String),
    #[error("no SIP message within {0:?}")]
    Timeout(Duration),
    #[error("bad SIP message: {0}")]
    Parse(String),
    #[error("unexpected SIP exchange: {0}")]
    Protocol(String),
    #[error("I/O error: {0}")]
    Io(#[from] io::Error),
}

/// Digest hash algorithms a challenge may ask for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DigestAlgorithm {
    Md5,
    Sha256,
}

impl DigestAlgorithm {
    /// The token used in `algorithm=` (and in Kamailio's auth module parameter).
    pub fn token(self) -> &'static str {
        match self {
            DigestAlgorithm::Md5 => "MD5",
            DigestAlgorithm::Sha256 => "SHA-256",
        }
    }

    fn hash_hex(self, input: &str) -> String {
        let bytes: Vec<u8> = match self {
            DigestAlgorithm::Md5 => Md5::digest(input.as_bytes()).to_vec(),
            DigestAlgorithm::Sha256 => Sha256::digest(input.as_bytes()).to_vec(),
        };
        bytes.iter().fold(String::with_capacity(bytes.len() * 2), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        })
    }
}

/// A parsed SIP request or response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SipMessage {
    pub start: StartLine,
    /// Header names in their full form (compact forms are expanded), in order.
    pub headers: Vec<(String, String)>,
    pub body: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StartLine {
    Request { method: String, uri: String },
    Response { status: u16, reason: String },
}

impl SipMessage {
    pub fn parse(text: &str) -> Result<SipMessage, ProbeError> {
        let (head, body) = text.split_once("\r\n\r\n").unwrap_or((text, ""));
        let mut lines = head.split("\r\n");
        let first = lines.next().unwrap_or_default();
        let start = parse_start_line(first)?;
        let mut headers: Vec<(String, String)> = Vec::new();
        for line in lines {
            if line.starts_with([' ', '\t']) {
                // Folded continuation of the previous header (RFC 3261 7.3.1).
                match headers.last_mut() {
                    Some((_, value)) => {
                        value.push(' ');
                        value.push_str(line.trim());
                    }
                    None => return Err(ProbeError::Parse(format!("continuation line first: {line:?}"))),
                }
                continue;
            }
            let (name, value) = line
                .split_once(':')
                .ok_or_else(|| ProbeError::Parse(format!("header line without a colon: {line:?}")))?;
            headers.push((full_header_name(name.trim()).to_string(), value.trim().to_string()));
        }
        Ok(SipMessage { start, headers, body: body.to_string() })
    }

    /// The first value of a header (case-insensitive name, compact forms accepted).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers_named(name).next()
    }

    /// All values of a header, in order.
    pub fn headers_named<'a>(&'a self, name: &str) -> impl Iterator<Item = &'a str> + 'a {
        let wanted = full_header_name(name).to_ascii_lowercase();
        self.headers
            .iter()
            .filter(move |(n, _)| n.eq_ignore_ascii_case(&wanted))
            .map(|(_, v)| v.as_str())
    }

    pub fn status(&self) -> Option<u16> {
        match self.start {
            StartLine::Response { status, .. } => Some(status),
            StartLine::Request { .. } => None,
        }
    }

    pub fn method(&self) -> Option<&str> {
        match &self.start {
            StartLine::Request { method, .. } => Some(method),
            StartLine::Response { .. } => None,
        }
    }

    /// The CSeq method (the method a response answers).
    pub fn cseq_method(&self) -> Option<&str> {
        self.header("CSeq").and_then(|c| c.split_whitespace().nth(1))
    }

    /// The first digest challenge of a 401 (WWW-Authenticate) or 407 (Proxy-Authenticate).
    pub fn digest_challenge(&self) -> Result<DigestChallenge, ProbeError> {
        let header = match self.status() {
            Some(407) => "Proxy-Authenticate",
            _ => "WWW-Authenticate",
        };
        let mut found: Vec<DigestChallenge> =
            self.headers_named(header).filter_map(|v| DigestChallenge::parse(v).ok()).collect();
        // Prefer the strongest algorithm offered, as a real UA would.
        found.sort_by_key(|c| c.algorithm == DigestAlgorithm::Md5);
        found
            .into_iter()
            .next()
            .ok_or_else(|| ProbeError::Protocol(format!("no usable {header} digest challenge in {:?}", self.start)))
    }

    /// Append a header (builder style).
    pub fn with_header(mut self, name: &str, value: impl Into<String>) -> SipMessage {
        self.headers.push((name.to_string(), value.into()));
        self
    }

    /// Set the body and its Content-Type (builder style).
    pub fn with_body(mut self, content_type: &str, body: impl Into<String>) -> SipMessage {
        self.headers.retain(|(n, _)| !n.eq_ignore_ascii_case("Content-Type"));
        self.headers.push(("Content-Type".into(), content_type.into()));
        self.body = body.into();
        self
    }

    /// The request URI, for requests.
    pub fn request_uri(&self) -> Option<&str> {
        match &self.start {
            StartLine::Request { uri, .. } => Some(uri),
            StartLine::Response { .. } => None,
        }
    }

    /// Serialise with a correct Content-Length.
    pub fn to_wire(&self) -> String {
        let mut out = match &self.start {
            StartLine::Request { method, uri } => format!("{method} {uri} SIP/2.0\r\n"),
            StartLine::Response { status, reason } => format!("SIP/2.0 {status} {reason}\r\n"),
        };
        for (name, value) in &self.headers {
            if !name.eq_ignore_ascii_case("Content-Length") {
                let _ = write!(out, "{name}: {value}\r\n");
            }
        }
        let _ = write!(out, "Content-Length: {}\r\n\r\n{}", self.body.len(), self.body);
        out
    }
}

/// The URI inside a name-addr (`"Bob" <sip:bob@x>;tag=1` → `sip:bob@x`), or the
/// addr-spec up to its header parameters.
pub fn uri_of(name_addr: &str) -> &str {
    match (name_addr.find('<'), name_addr.find('>')) {
        (Some(start), Some(end)) if start < end => &name_addr[start + 1..end],
        _ => name_addr.split(';').next().unwrap_or(name_addr).trim(),
    }
}

/// The hop-by-hop ACK for a non-2xx final response to `invite` (RFC 3261 17.1.1.3).
pub fn ack_for_failure(invite: &SipMessage, response: &SipMessage) -> SipMessage {
    let mut ack = SipMessage {
        start: StartLine::Request { method: "ACK".into(), uri: invite.request_uri().unwrap_or_default().to_string() },
        headers: Vec::new(),
        body: String::new(),
    };
    for name in ["Via", "Route", "From", "Call-ID"] {
        for value in invite.headers_named(name) {
            ack.headers.push((name.into(), value.into()));
        }
    }
    let cseq_number = invite.header("CSeq").and_then(|c| c.split_whitespace().next()).unwrap_or("1");
    ack.with_header("To", response.header("To").unwrap_or_default())
        .with_header("CSeq", format!("{cseq_number} ACK"))
        .with_header("Max-Forwards", "70")
}

fn parse_start_line(line: &str) -> Result<StartLine, ProbeError> {
    let bad = || ProbeError::Parse(format!("bad start line {line:?}"));
    if let Some(rest) = line.strip_prefix("SIP/2.0 ") {
        let (code, reason) = rest.split_once(' ').unwrap_or((rest, ""));
        let status = code.parse().map_err(|_| bad())?;
        return Ok(StartLine::Response { status, reason: reason.to_string() });
    }
    let mut parts = line.split(' ');
    match (parts.next(), parts.next(), parts.next()) {
        (Some(method), Some(uri), Some("SIP/2.0")) if !method.is_empty() => {
            Ok(StartLine::Request { method: method.to_string(), uri: uri.to_string() })
        }
        _ => Err(bad()),
    }
}

fn full_header_name(name: &str) -> &str {
    match name {
        "v" | "V" => "Via",
        "f" | "F" => "From",
        "t" | "T" => "To",
        "i" | "I" => "Call-ID",
        "m" | "M" => "Contact",
        "l" | "L" => "Content-Length",
        "c" | "C" => "Content-Type",
        "k" | "K" => "Supported",
        other => other,
    }
}

/// A digest challenge from WWW-Authenticate or Proxy-Authenticate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DigestChallenge {
    pub realm: String,
    pub nonce: String,
    pub opaque: Option<String>,
    /// The qop options offered (`auth`, `auth-int`), empty for RFC 2069 style.
    pub qop: Vec<String>,
    pub algorithm: DigestAlgorithm,
    pub stale: bool,
}

impl DigestChallenge {
    pub fn parse(value: &str) -> Result<DigestChallenge, ProbeError> {
        let rest = value
            .trim()
            .strip_prefix("Digest")
            .or_else(|| value.trim().strip_prefix("digest"))
            .ok_or_else(|| ProbeError::Parse(format!("not a Digest challenge: {value:?}")))?;
        let params = parse_auth_params(rest);
        let get = |key: &str| params.iter().find(|(k, _)| k.eq_ignore_ascii_case(key)).map(|(_, v)| v.clone());
        let algorithm = match get("algorithm").as_deref().map(str::to_ascii_uppercase).as_deref() {
            None | Some("MD5") => DigestAlgorithm::Md5,
            Some("SHA-256") => DigestAlgorithm::Sha256,
            Some(other) => return Err(ProbeError::Parse(format!("unsupported digest algorithm {other}"))),
        };
        Ok(DigestChallenge {
            realm: get("realm").ok_or_else(|| ProbeError::Parse("challenge without realm".into()))?,
            nonce: get("nonce").ok_or_else(|| ProbeError::Parse("challenge without nonce".into()))?,
            opaque: get("opaque"),
            qop: get("qop")
                .map(|q| q.split(',').map(|s| s.trim().to_string()).filter(|s| !s.is_empty()).collect())
                .unwrap_or_default(),
            algorithm,
            stale: get("stale").is_some_and(|s| s.eq_ignore_ascii_case("true")),
        })
    }

    /// The Authorization / Proxy-Authorization value answering this challenge.
    pub fn answer(&self, username: &str, password: &str, method: &str, uri: &str, cnonce: &str, nc: u32) -> String {
        let alg = self.algorithm;
        let ha1 = alg.hash_hex(&format!("{username}:{}:{password}", self.realm));
        let ha2 = alg.hash_hex(&format!("{method}:{uri}"));
        let use_qop = self.qop.iter().any(|q| q == "auth");
        let nc = format!("{nc:08x}");
        let response = if use_qop {
            alg.hash_hex(&format!("{ha1}:{}:{nc}:{cnonce}:auth:{ha2}", self.nonce))
        } else {
            alg.hash_hex(&format!("{ha1}:{}:{ha2}", self.nonce))
        };
        let mut out = format!(
            "Digest username=\"{username}\", realm=\"{}\", nonce=\"{}\", uri=\"{uri}\", response=\"{response}\", algorithm={}",
            self.realm,
            self.nonce,
            alg.token()
        );
        if use_qop {
            let _ = write!(out, ", qop=auth, nc={nc}, cnonce=\"{cnonce}\"");
        }
        if let Some(opaque) = &self.opaque {
            let _ = write!(out, ", opaque=\"{opaque}\"");
        }
        out
    }
}

/// `key=value, key="quoted, value"` pairs of an auth header.
fn parse_auth_params(text: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut rest = text.trim();
    while !rest.is_empty() {
        let Some((key, after)) = rest.split_once('=') else { break };
        let key = key.trim().trim_start_matches(',').trim().to_string();
        let after = after.trim_start();
        let (value, remaining) = if let Some(quoted) = after.strip_prefix('"') {
            match quoted.find('"') {
                Some(end) => (quoted[..end].to_string(), &quoted[end + 1..]),
                None => (quoted.to_string(), ""),
            }
        } else {
            match after.find(',') {
                Some(end) => (after[..end].trim().to_string(), &after[end..]),
                None => (after.trim().to_string(), ""),
            }
        };
        out.push((key, value));
        rest = remaining.trim_start().trim_start_matches(',').trim_start();
    }
    out
}

/// A byte stream that is either plain TCP or TLS over TCP.
#[derive(Debug)]
enum Stream {
    Plain(TcpStream),
    Tls(Box<rustls::StreamOwned<rustls::ClientConnection, TcpStream>>),
}

impl Stream {
    fn tcp(&self) -> &TcpStream {
        match self {
            Stream::Plain(s) => s,
            Stream::Tls(s) => &s.sock,
        }
    }
}

impl Read for Stream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Stream::Plain(s) => s.read(buf),
            Stream::Tls(s) => s.read(buf),
        }
    }
}

impl Write for Stream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Stream::Plain(s) => s.write(buf),
            Stream::Tls(s) => s.write(buf),
        }
    }
    fn flush(&mut self) -> io::Result<()> {
        match self {
            Stream::Plain(s) => s.flush(),
            Stream::Tls(s) => s.flush(),
        }
    }
}

#[derive(Debug)]
enum Transport {
    Ws(Box<WebSocket<Stream>>),
    Udp { socket: UdpSocket, server: SocketAddr },
}

/// What a REGISTER with credentials went through.
#[derive(Debug, Clone)]
pub struct RegisterOutcome {
    /// The first answer (normally 401 with the challenge).
    pub challenge: SipMessage,
    /// The answer to the authenticated REGISTER; None if the first was final without a challenge.
    pub final_response: Option<SipMessage>,
}

impl RegisterOutcome {
    /// The status the registration ended with.
    pub fn status(&self) -> Option<u16> {
        self.final_response.as_ref().unwrap_or(&self.challenge).status()
    }
}

/// A SIP probe connected to one server over one transport.
#[derive(Debug)]
pub struct SipProbe {
    transport: Transport,
    /// What goes in Via's sent-by and Contact's host.
    local_host: String,
    /// `WS`, `WSS` or `UDP`, for the Via header.
    via_transport: &'static str,
    /// URI parameter for the Contact (`;transport=ws` or empty).
    contact_param: &'static str,
    /// Default wait for a message.
    pub timeout: Duration,
    cseq: u32,
    nc: u32,
    call_id: String,
    from_tag: String,
}

impl SipProbe {
    /// Connect to `ws://host:port` with the `sip` subprotocol.
    pub fn connect_ws(url: &str, timeout: Duration) -> Result<SipProbe, ProbeError> {
        let (addr, _) = split_ws_url(url, "ws://")?;
        let tcp = connect_tcp(&addr, timeout)?;
        Self::websocket(url, Stream::Plain(tcp), "WS", timeout)
    }

    /// Connect to `wss://host:port`, trusting only the CA certificates in `ca_pem`.
    pub fn connect_wss(url: &str, ca_pem: &Path, timeout: Duration) -> Result<SipProbe, ProbeError> {
        let config = tls_config_trusting(ca_pem)?;
        Self::connect_wss_with(url, config, timeout)
    }

    /// Connect to `wss://host:port` with a caller-built rustls configuration.
    pub fn connect_wss_with(
        url: &str,
        config: Arc<rustls::ClientConfig>,
        timeout: Duration,
    ) -> Result<SipProbe, ProbeError> {
        let (addr, host) = split_ws_url(url, "wss://")?;
        let tcp = connect_tcp(&addr, timeout)?;
        let name = rustls::pki_types::ServerName::try_from(host.clone())
            .map_err(|e| ProbeError::Tls(format!("bad server name {host:?}: {e}")))?;
        let conn = rustls::ClientConnection::new(config, name).map_err(|e| ProbeError::Tls(e.to_string()))?;
        let mut tls = rustls::StreamOwned::new(conn, tcp);
        // Drive the handshake now so a certificate problem surfaces as a TLS error.
        while tls.conn.is_handshaking() {
            tls.conn
                .complete_io(&mut tls.sock)
                .map_err(|e| ProbeError::Tls(format!("handshake with {addr}: {e}")))?;
        }
        Self::websocket(url, Stream::Tls(Box::new(tls)), "WSS", timeout)
    }

    /// Send SIP over UDP to `server` from an ephemeral loopback port.
    pub fn connect_udp(server: SocketAddr, timeout: Duration) -> Result<SipProbe, ProbeError> {
        let socket = UdpSocket::bind("127.0.0.1:0")?;
        socket.set_read_timeout(Some(timeout))?;
        let local = socket.local_addr()?;
        Ok(SipProbe {
            transport: Transport::Udp { socket, server },
            local_host: local.to_string(),
            via_transport: "UDP",
            contact_param: "",
            timeout,
            cseq: 0,
            nc: 0,
            call_id: random_token(16),
            from_tag: random_token(10),
        })
    }

    fn websocket(url: &str, stream: Stream, via: &'static str, timeout: Duration) -> Result<SipProbe, ProbeError> {
        let mut request = url.into_client_request().map_err(|e| ProbeError::WebSocket(e.to_string()))?;
        request.headers_mut().insert("Sec-WebSocket-Protocol", HeaderValue::from_static("sip"));
        let (ws, response) =
            tungstenite::client(request, stream).map_err(|e| ProbeError::WebSocket(format!("handshake: {e}")))?;
        let agreed = response.headers().get("Sec-WebSocket-Protocol").and_then(|v| v.to_str().ok());
        if agreed != Some("sip") {
            return Err(ProbeError::WebSocket(format!("server did not agree to the sip subprotocol ({agreed:?})")));
        }
        Ok(SipProbe {
            transport: Transport::Ws(Box::new(ws)),
            // RFC 7118: a WebSocket client has no reachable address of its own.
            local_host: format!("{}.invalid", random_token(12)),
            via_transport: via,
            contact_param: ";transport=ws",
            timeout,
            cseq: 0,
            nc: 0,
            call_id: random_token(16),
            from_tag: random_token(10),
        })
    }

    /// The Contact URI this probe registers for `user`.
    pub fn contact_uri(&self, user: &str) -> String {
        format!("sip:{user}@{}{}", self.local_host, self.contact_param)
    }

    /// A Via header value with a fresh branch.
    pub fn via(&self) -> String {
        let rport = if self.via_transport == "UDP" { ";rport" } else { "" };
        format!("SIP/2.0/{} {};branch=z9hG4bK{}{rport}", self.via_transport, self.local_host, random_token(12))
    }

    /// Build a REGISTER for `user@domain` (no credentials).
    pub fn register_request(&mut self, user: &str, domain: &str, expires: u32) -> SipMessage {
        self.cseq += 1;
        let aor = format!("sip:{user}@{domain}");
        SipMessage {
            start: StartLine::Request { method: "REGISTER".into(), uri: format!("sip:{domain}") },
            headers: vec![
                ("Via".into(), self.via()),
                ("Max-Forwards".into(), "70".into()),
                ("From".into(), format!("<{aor}>;tag={}", self.from_tag)),
                ("To".into(), format!("<{aor}>")),
                ("Call-ID".into(), self.call_id.clone()),
                ("CSeq".into(), format!("{} REGISTER", self.cseq)),
                ("Contact".into(), format!("<{}>", self.contact_uri(user))),
                ("Expires".into(), expires.to_string()),
                ("User-Agent".into(), "homeline-sip-probe".into()),
            ],
            body: String::new(),
        }
    }

    /// REGISTER `user@domain`; answer one digest challenge with `password`.
    pub fn register(
        &mut self,
        user: &str,
        password: &str,
        domain: &str,
        expires: u32,
    ) -> Result<RegisterOutcome, ProbeError> {
        let request = self.register_request(user, domain, expires);
        let challenge = self.transact(&request)?;
        if !matches!(challenge.status(), Some(401 | 407)) {
            return Ok(RegisterOutcome { challenge, final_response: None });
        }
        let mut retry = self.register_request(user, domain, expires);
        self.add_credentials(&mut retry, &challenge, user, password)?;
        let final_response = self.transact(&retry)?;
        Ok(RegisterOutcome { challenge, final_response: Some(final_response) })
    }

    /// Add the Authorization or Proxy-Authorization header answering `challenge` to `request`.
    pub fn add_credentials(
        &mut self,
        request: &mut SipMessage,
        challenge: &SipMessage,
        user: &str,
        password: &str,
    ) -> Result<(), ProbeError> {
        let digest = challenge.digest_challenge()?;
        let StartLine::Request { method, uri } = &request.start else {
            return Err(ProbeError::Protocol("credentials belong on a request".into()));
        };
        self.nc += 1;
        let value = digest.answer(user, password, method, uri, &random_token(16), self.nc);
        let header = if challenge.status() == Some(407) { "Proxy-Authorization" } else { "Authorization" };
        request.headers.push((header.into(), value));
        Ok(())
    }

    /// Send a request and return its first final response (provisional ones are skipped).
    pub fn transact(&mut self, request: &SipMessage) -> Result<SipMessage, ProbeError> {
        let call_id = request.header("Call-ID").unwrap_or_default().to_string();
        let cseq = request.header("CSeq").unwrap_or_default().to_string();
        self.send(request)?;
        let deadline = Instant::now() + self.timeout;
        loop {
            let message = self.recv_until(deadline)?;
            let matches = message.status().is_some()
                && message.header("Call-ID") == Some(call_id.as_str())
                && message.header("CSeq") == Some(cseq.as_str());
            if matches && message.status().is_some_and(|s| s >= 200) {
                return Ok(message);
            }
        }
    }

    /// A new request with a fresh Via and Max-Forwards; add the rest with
    /// [`SipMessage::with_header`].
    pub fn new_request(&self, method: &str, uri: &str) -> SipMessage {
        SipMessage {
            start: StartLine::Request { method: method.into(), uri: uri.into() },
            headers: vec![("Via".into(), self.via()), ("Max-Forwards".into(), "70".into())],
            body: String::new(),
        }
    }

    /// A dialog-forming INVITE from `from_user` to `to_uri` (SDP body).
    pub fn invite(&mut self, from_user: &str, domain: &str, to_uri: &str, sdp: &str) -> SipMessage {
        self.cseq += 1;
        self.new_request("INVITE", to_uri)
            .with_header("From", format!("<sip:{from_user}@{domain}>;tag={}", random_token(10)))
            .with_header("To", format!("<{to_uri}>"))
            .with_header("Call-ID", random_token(20))
            .with_header("CSeq", format!("{} INVITE", self.cseq))
            .with_header("Contact", format!("<{}>", self.contact_uri(from_user)))
            .with_body("application/sdp", sdp)
    }

    /// A request inside the dialog that `invite` created and `answer` (2xx)
    /// confirmed, from the caller's side: R-URI = remote Contact, Route = the
    /// Record-Route set reversed (RFC 3261 12.1.2).
    pub fn caller_in_dialog(&self, method: &str, invite: &SipMessage, answer: &SipMessage, cseq: u32) -> SipMessage {
        let target = uri_of(answer.header("Contact").unwrap_or_default()).to_string();
        let mut request = self.new_request(method, &target);
        let mut routes: Vec<&str> = answer.headers_named("Record-Route").flat_map(|v| v.split(',')).collect();
        routes.reverse();
        for route in routes {
            request.headers.push(("Route".into(), route.trim().to_string()));
        }
        request
            .with_header("From", invite.header("From").unwrap_or_default())
            .with_header("To", answer.header("To").unwrap_or_default())
            .with_header("Call-ID", invite.header("Call-ID").unwrap_or_default())
            .with_header("CSeq", format!("{cseq} {method}"))
    }

    /// Wait for the next final response (provisional ones and requests are skipped).
    pub fn recv_final(&mut self) -> Result<SipMessage, ProbeError> {
        let deadline = Instant::now() + self.timeout;
        loop {
            let message = self.recv_until(deadline)?;
            if message.status().is_some_and(|s| s >= 200) {
                return Ok(message);
            }
        }
    }

    /// Wait for the next request (responses are skipped).
    pub fn recv_request(&mut self) -> Result<SipMessage, ProbeError> {
        let deadline = Instant::now() + self.timeout;
        loop {
            let message = self.recv_until(deadline)?;
            if message.method().is_some() {
                return Ok(message);
            }
        }
    }

    /// Wait for the next request with this method; others (retransmissions
    /// included) and responses are skipped.
    pub fn recv_method(&mut self, method: &str) -> Result<SipMessage, ProbeError> {
        let deadline = Instant::now() + self.timeout;
        loop {
            let message = self.recv_until(deadline)?;
            if message.method() == Some(method) {
                return Ok(message);
            }
        }
    }

    /// Build a response to `request`, echoing what RFC 3261 8.2.6 requires.
    pub fn response_to(request: &SipMessage, status: u16, reason: &str, to_tag: Option<&str>) -> SipMessage {
        let mut headers: Vec<(String, String)> = Vec::new();
        for (name, value) in &request.headers {
            let copy = ["Via", "From", "Call-ID", "CSeq", "Record-Route"].iter().any(|h| name.eq_ignore_ascii_case(h));
            if copy {
                headers.push((name.clone(), value.clone()));
            } else if name.eq_ignore_ascii_case("To") {
                let to = match to_tag {
                    Some(tag) if !value.contains(";tag=") => format!("{value};tag={tag}"),
                    _ => value.clone(),
                };
                headers.push((name.clone(), to));
            }
        }
        SipMessage { start: StartLine::Response { status, reason: reason.into() }, headers, body: String::new() }
    }

    pub fn send(&mut self, message: &SipMessage) -> Result<(), ProbeError> {
        let wire = message.to_wire();
        match &mut self.transport {
            Transport::Ws(ws) => ws.send(Message::text(wire)).map_err(|e| ProbeError::WebSocket(e.to_string())),
            Transport::Udp { socket, server } => {
                socket.send_to(wire.as_bytes(), *server)?;
                Ok(())
            }
        }
    }

    /// Receive the next SIP message, waiting at most `self.timeout`.
    pub fn recv(&mut self) -> Result<SipMessage, ProbeError> {
        self.recv_until(Instant::now() + self.timeout)
    }

    fn recv_until(&mut self, deadline: Instant) -> Result<SipMessage, ProbeError> {
        let timeout = self.timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(ProbeError::Timeout(timeout));
            }
            let text = match &mut self.transport {
                Transport::Ws(ws) => {
                    ws.get_ref().tcp().set_read_timeout(Some(left))?;
                    match ws.read() {
                        Ok(Message::Text(t)) => t.as_str().to_string(),
                        Ok(Message::Binary(b)) => String::from_utf8_lossy(&b).into_owned(),
                        // Pings are answered by tungstenite on the next read/write.
                        Ok(_) => continue,
                        Err(tungstenite::Error::Io(e)) if is_timeout(&e) => return Err(ProbeError::Timeout(timeout)),
                        Err(e) => return Err(ProbeError::WebSocket(e.to_string())),
                    }
                }
                Transport::Udp { socket, .. } => {
                    socket.set_read_timeout(Some(left))?;
                    let mut buf = vec![0u8; 65_535];
                    match socket.recv_from(&mut buf) {
                        Ok((n, _)) => String::from_utf8_lossy(&buf[..n]).into_owned(),
                        Err(e) if is_timeout(&e) => return Err(ProbeError::Timeout(timeout)),
                        Err(e) => return Err(e.into()),
                    }
                }
            };
            // Keep-alive CRLFs (RFC 5626) carry no message.
            if text.trim().is_empty() {
                continue;
            }
            return SipMessage::parse(&text);
        }
    }

    /// Close the WebSocket politely (a no-op for UDP).
    pub fn close(mut self) {
        if let Transport::Ws(ws) = &mut self.transport {
            let _ = ws.close(None);
            let _ = ws.flush();
        }
    }
}

/// A rustls client configuration (ring provider) trusting only the certificates in `ca_pem`.
pub fn tls_config_trusting(ca_pem: &Path) -> Result<Arc<rustls::ClientConfig>, ProbeError> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::CertificateDer;
    let pem = std::fs::read(ca_pem).map_err(|e| ProbeError::Tls(format!("reading {}: {e}", ca_pem.display())))?;
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(&pem) {
        let cert = cert.map_err(|e| ProbeError::Tls(format!("parsing {}: {e}", ca_pem.display())))?;
        roots.add(cert).map_err(|e| ProbeError::Tls(format!("adding a CA from {}: {e}", ca_pem.display())))?;
    }
    if roots.is_empty() {
        return Err(ProbeError::Tls(format!("no certificate in {}", ca_pem.display())));
    }
    Ok(Arc::new(tls_builder()?.with_root_certificates(roots).with_no_client_auth()))
}

/// A config builder on the ring provider, chosen explicitly rather than via the
/// process-wide default (tests in one binary must not race to install it).
pub fn tls_builder() -> Result<rustls::ConfigBuilder<rustls::ClientConfig, rustls::WantsVerifier>, ProbeError> {
    rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .map_err(|e| ProbeError::Tls(e.to_string()))
}

fn is_timeout(e: &io::Error) -> bool {
    matches!(e.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut)
}

/// `ws://127.0.0.1:5066/path` → ("127.0.0.1:5066", "127.0.0.1").
fn split_ws_url(url: &str, scheme: &str) -> Result<(String, String), ProbeError> {
    let rest = url
        .strip_prefix(scheme)
        .ok_or_else(|| ProbeError::WebSocket(format!("{url:?} does not start with {scheme}")))?;
    let authority = rest.split('/').next().unwrap_or_default();
    let host = match authority.rsplit_once(':') {
        Some((host, port)) if port.parse::<u16>().is_ok() => host,
        _ => return Err(ProbeError::WebSocket(format!("{url:?} has no explicit port"))),
    };
    Ok((authority.to_string(), host.trim_start_matches('[').trim_end_matches(']').to_string()))
}

fn connect_tcp(addr: &str, timeout: Duration) -> Result<TcpStream, ProbeError> {
    let sock: SocketAddr = addr
        .parse()
        .map_err(|e| ProbeError::Connect { target: addr.into(), source: io::Error::new(io::ErrorKind::InvalidInput, e) })?;
    let stream = TcpStream::connect_timeout(&sock, timeout)
        .map_err(|source| ProbeError::Connect { target: addr.into(), source })?;
    stream.set_read_timeout(Some(timeout))?;
    stream.set_write_timeout(Some(timeout))?;
    stream.set_nodelay(true)?;
    Ok(stream)
}

/// Random lower-case alphanumerics, for tags, branches, Call-IDs and `.invalid` hosts.
pub fn random_token(len: usize) -> String {
    use rand::Rng;
    const CHARS: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
    let mut rng = rand::rng();
    (0..len).map(|_| char::from(CHARS[rng.random_range(0..CHARS.len())])).collect()
}

#[cfg(test)]
#[allow(clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn parses_a_challenge_and_answers_rfc2617_example() {
        // RFC 2617 section 3.5 example (HTTP, but the digest arithmetic is the same).
        let c = DigestChallenge::parse(
            r#"Digest realm="testrealm@host.com", qop="auth,auth-int", nonce="dcd98b7102dd2f0e8b11d0f600bfb0c093", opaque="5ccc069c403ebaf9f0171e9517f40e41""#,
        )
        .expect("challenge parses");
        assert_eq!(c.algorithm, DigestAlgorithm::Md5);
        assert_eq!(c.qop, vec!["auth".to_string(), "auth-int".to_string()]);
        let answer = c.answer("Mufasa", "Circle Of Life", "GET", "/dir/index.html", "0a4f113b", 1);
        assert!(answer.contains(r#"response="6629fae49393a05397450978507c4ef1""#), "{answer}");
        assert!(answer.contains("nc=00000001"), "{answer}");
    }

    #[test]
    fn answers_the_rfc7616_sha256_example() {
        let c = DigestChallenge::parse(
            r#"Digest realm="http-auth@example.org", qop="auth, auth-int", algorithm=SHA-256, nonce="7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v", opaque="FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS""#,
        )
        .expect("challenge parses");
        assert_eq!(c.algorithm, DigestAlgorithm::Sha256);
        let answer = c.answer("Mufasa", "Circle of Life", "GET", "/dir/index.html", "f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ", 1);
        assert!(answer.contains(r#"response="753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1""#), "{answer}");
    }

    #[test]
    fn parses_a_response_with_compact_and_folded_headers() {
        let text = "SIP/2.0 200 OK\r\nv: SIP/2.0/WS x.invalid;branch=z9hG4bK1\r\nm: <sip:a@x.invalid;transport=ws>\r\n ;expires=60\r\nCSeq: 2 REGISTER\r\n\r\n";
        let m = SipMessage::parse(text).expect("parses");
        assert_eq!(m.status(), Some(200));
        assert_eq!(m.header("contact"), Some("<sip:a@x.invalid;transport=ws> ;expires=60"));
        assert_eq!(m.cseq_method(), Some("REGISTER"));
    }
}
