//! What the user configures for one SIP account, validated into the parts the
//! registration needs (address, server URL, trust settings).

use std::fmt;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::error::SipError;

/// One SIP account as the user configured it. Plain data: safe to store in the
/// settings file (the password is never part of it, see [`Secret`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Account {
    /// The SIP address, `alice@example.com` or `sip:alice@example.com`.
    pub address: String,
    /// The user name for digest authentication when it differs from the address's user.
    #[serde(default)]
    pub auth_user: Option<String>,
    #[serde(default)]
    pub display_name: Option<String>,
    /// `wss://host[:port][/path]`; `ws://` works but is unencrypted (the UI warns).
    pub server: String,
    /// A WebSocket URL to connect to instead of `server` (the registrar stays
    /// the address's domain).
    #[serde(default)]
    pub outbound_proxy: Option<String>,
    /// Registration lifetime to ask for, in seconds.
    #[serde(default = "default_expires")]
    pub expires: u32,
    #[serde(default)]
    pub tls: TlsTrust,
}

fn default_expires() -> u32 {
    600
}

/// Extra trust for a server whose certificate the system roots do not cover.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TlsTrust {
    /// A PEM file with CA certificates trusted in addition to the system roots.
    #[serde(default)]
    pub ca_file: Option<PathBuf>,
    /// SHA-256 fingerprint of the server certificate; when set, only that
    /// certificate is accepted (CA and name checks are replaced by the pin).
    #[serde(default)]
    pub fingerprint_sha256: Option<String>,
}

/// The account's password. Never printed, never serialized.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(password: impl Into<String>) -> Self {
        Secret(password.into())
    }
    pub(crate) fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

/// The per-install RFC 5626 instance id: a UUID kept in the settings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InstanceId(pub String);

impl InstanceId {
    /// `+sip.instance` value: `<urn:uuid:…>`.
    pub(crate) fn urn(&self) -> String {
        let id = self.0.trim();
        if id.starts_with("urn:") {
            format!("<{id}>")
        } else {
            format!("<urn:uuid:{id}>")
        }
    }
}

/// `user@domain` split out of the account's address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SipAddress {
    pub user: String,
    pub domain: String,
}

impl SipAddress {
    pub fn parse(text: &str) -> Result<SipAddress, SipError> {
        let bad = || SipError::BadAddress(text.to_string());
        let t = text.trim();
        let t = t.strip_prefix('<').and_then(|s| s.strip_suffix('>')).unwrap_or(t);
        let t = t
            .strip_prefix("sips:")
            .or_else(|| t.strip_prefix("sip:"))
            .unwrap_or(t);
        // Drop URI parameters and headers; the address is user@host[:port].
        let t = t.split([';', '?']).next().unwrap_or_default();
        let (user, domain) = t.split_once('@').ok_or_else(bad)?;
        let ok = |s: &str| {
            !s.is_empty()
                && s.chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-_.!~*'()&=+$,%:[]".contains(c))
        };
        if !ok(user) || !ok(domain) || domain.contains('@') {
            return Err(bad());
        }
        Ok(SipAddress { user: user.to_string(), domain: domain.to_string() })
    }

    /// The address of record, `sip:user@domain`.
    pub fn aor(&self) -> String {
        format!("sip:{}@{}", self.user, self.domain)
    }
}

impl fmt::Display for SipAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}@{}", self.user, self.domain)
    }
}

/// A `ws://` or `wss://` URL taken apart.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerUrl {
    pub secure: bool,
    pub host: String,
    pub port: u16,
    pub path: String,
}

impl ServerUrl {
    pub fn parse(text: &str) -> Result<ServerUrl, SipError> {
        let bad = || SipError::BadServerUrl(text.to_string());
        let t = text.trim();
        let (secure, rest) = if let Some(r) = strip_prefix_ci(t, "wss://") {
            (true, r)
        } else if let Some(r) = strip_prefix_ci(t, "ws://") {
            (false, r)
        } else {
            return Err(bad());
        };
        let (authority, path) = match rest.find('/') {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, "/"),
        };
        if authority.contains('@') || authority.is_empty() {
            return Err(bad());
        }
        let default_port = if secure { 443 } else { 80 };
        let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
            let (h, after) = v6.split_once(']').ok_or_else(bad)?;
            let port = match after.strip_prefix(':') {
                Some(p) => p.parse().map_err(|_| bad())?,
                None if after.is_empty() => default_port,
                None => return Err(bad()),
            };
            (h.to_string(), port)
        } else {
            match authority.rsplit_once(':') {
                Some((h, p)) => (h.to_string(), p.parse().map_err(|_| bad())?),
                None => (authority.to_string(), default_port),
            }
        };
        if host.is_empty()
            || !host.chars().all(|c| c.is_ascii_alphanumeric() || "-.:".contains(c))
            || port == 0
        {
            return Err(bad());
        }
        Ok(ServerUrl { secure, host, port, path: path.to_string() })
    }

    /// The URL again, normalised (what the WebSocket handshake requests).
    pub fn url(&self) -> String {
        let scheme = if self.secure { "wss" } else { "ws" };
        let host = if self.host.contains(':') { format!("[{}]", self.host) } else { self.host.clone() };
        format!("{scheme}://{host}:{}{}", self.port, self.path)
    }
}

fn strip_prefix_ci<'a>(s: &'a str, prefix: &str) -> Option<&'a str> {
    let head = s.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix).then(|| &s[prefix.len()..])
}

/// An account checked once at start, so the state machine and the transport
/// never deal with unparsed text.
#[derive(Debug, Clone)]
pub struct ValidAccount {
    pub account: Account,
    pub address: SipAddress,
    /// Where the WebSocket connects (the outbound proxy when set).
    pub connect_to: ServerUrl,
    pub fingerprint: Option<[u8; 32]>,
}

impl ValidAccount {
    pub fn new(account: Account) -> Result<ValidAccount, SipError> {
        let address = SipAddress::parse(&account.address)?;
        let connect_to = ServerUrl::parse(account.outbound_proxy.as_deref().unwrap_or(&account.server))?;
        // The registrar URL is checked even with a proxy so a typo is caught now.
        ServerUrl::parse(&account.server)?;
        let fingerprint = match &account.tls.fingerprint_sha256 {
            Some(f) => Some(parse_fingerprint(f)?),
            None => None,
        };
        Ok(ValidAccount { account, address, connect_to, fingerprint })
    }

    /// The digest user name.
    pub fn auth_user(&self) -> &str {
        self.account.auth_user.as_deref().filter(|u| !u.is_empty()).unwrap_or(&self.address.user)
    }
}

/// `AB:CD:…` or `abcd…` → 32 bytes.
pub fn parse_fingerprint(text: &str) -> Result<[u8; 32], SipError> {
    let hex: String = text.chars().filter(|c| *c != ':' && !c.is_whitespace()).collect();
    let bad = || SipError::BadFingerprint(text.to_string());
    if hex.len() != 64 || !hex.is_ascii() {
        return Err(bad());
    }
    let mut out = [0u8; 32];
    for (i, byte) in out.iter_mut().enumerate() {
        let pair = hex.get(i * 2..i * 2 + 2).ok_or_else(bad)?;
        *byte = u8::from_str_radix(pair, 16).map_err(|_| bad())?;
    }
    Ok(out)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn addresses() {
        let a = SipAddress::parse("sip:alice@example.com").unwrap();
        assert_eq!(a.to_string(), "alice@example.com");
        assert_eq!(SipAddress::parse("<sips:bob@10.0.0.1:5060;transport=ws>").unwrap().domain, "10.0.0.1:5060");
        for bad in ["", "alice", "@x", "a@", "a b@c", "a@b@c"] {
            assert!(SipAddress::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn server_urls() {
        let u = ServerUrl::parse("wss://sip.example.com").unwrap();
        assert_eq!((u.secure, u.port, u.path.as_str()), (true, 443, "/"));
        let u = ServerUrl::parse("WS://127.0.0.1:8080/ws").unwrap();
        assert_eq!(u.url(), "ws://127.0.0.1:8080/ws");
        let u = ServerUrl::parse("wss://[::1]:9443").unwrap();
        assert_eq!(u.url(), "wss://[::1]:9443/");
        for bad in ["http://x", "wss://", "wss://a:b", "wss://u@h", "wss://h:0", "wss://[::1"] {
            assert!(ServerUrl::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn fingerprints() {
        let f = "AB:".repeat(31) + "AB";
        assert_eq!(parse_fingerprint(&f).unwrap(), [0xab; 32]);
        assert!(parse_fingerprint("abc").is_err());
        assert!(parse_fingerprint(&"zz".repeat(32)).is_err());
        assert!(parse_fingerprint(&"é".repeat(32)).is_err());
    }

    #[test]
    fn secret_is_redacted() {
        assert_eq!(format!("{:?}", Secret::new("hunter2")), "Secret(<redacted>)");
    }
}
