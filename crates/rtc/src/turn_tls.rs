//! TLS for `turns:` servers (TURN over TLS, RFC 5766 §2.1 / RFC 7065): the
//! TCP bridge of `turn_tcp` with its stream wrapped in rustls. The server's
//! certificate must chain to the system roots or to a CA from the account's
//! CA file, for the name (or address) written in the URL. A refused
//! certificate or a failed handshake becomes a sentence, never a panic.

use std::path::Path;
use std::sync::{Arc, OnceLock};

use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, ServerName};
use rustls::{CertificateError, ClientConfig, RootCertStore};
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;
use tokio_rustls::TlsConnector;

/// The system's root certificates, read once per process (a few hundred files).
fn system_roots() -> &'static [CertificateDer<'static>] {
    static ROOTS: OnceLock<Vec<CertificateDer<'static>>> = OnceLock::new();
    ROOTS.get_or_init(|| {
        let native = rustls_native_certs::load_native_certs();
        for e in &native.errors {
            tracing::debug!(error = %e, "some system root certificates could not be read");
        }
        native.certs
    })
}

/// The client configuration: system roots plus the certificates in
/// `ca_file` (PEM). Errors are sentences about the file.
pub fn client_config(ca_file: Option<&Path>) -> Result<Arc<ClientConfig>, String> {
    let mut roots = RootCertStore::empty();
    roots.add_parsable_certificates(system_roots().iter().cloned());
    if let Some(path) = ca_file {
        let unreadable = |why: String| format!("the CA file {} could not be read: {why}", path.display());
        let certs = CertificateDer::pem_file_iter(path)
            .map_err(|e| unreadable(e.to_string()))?
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| unreadable(e.to_string()))?;
        if certs.is_empty() {
            return Err(unreadable("it holds no PEM certificate".into()));
        }
        for cert in certs {
            roots.add(cert).map_err(|e| unreadable(e.to_string()))?;
        }
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS could not be set up ({e})"))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(config))
}

/// The name the certificate is checked against: the URL's host (a DNS name
/// or an IP address, IPv6 without brackets).
pub fn server_name(host: &str) -> Result<ServerName<'static>, String> {
    ServerName::try_from(host.to_owned()).map_err(|_| format!("{host:?} is not a valid server name"))
}

/// TLS handshake over `tcp` with the server called `host`.
pub async fn connect(tcp: TcpStream, host: &str, config: Arc<ClientConfig>) -> Result<TlsStream<TcpStream>, String> {
    let name = server_name(host)?;
    TlsConnector::from(config).connect(name, tcp).await.map_err(|e| handshake_words(&e))
}

/// What went wrong in the handshake, in words (without the server's name:
/// the caller says which server).
pub fn handshake_words(err: &std::io::Error) -> String {
    match err.get_ref().and_then(|e| e.downcast_ref::<rustls::Error>()) {
        Some(rustls::Error::InvalidCertificate(cert)) => format!("its certificate is not trusted: it {}", certificate_words(cert)),
        Some(other) => format!("the TLS handshake failed ({other})"),
        None => format!("the TLS handshake failed ({err})"),
    }
}

fn certificate_words(err: &CertificateError) -> String {
    use CertificateError as C;
    match err {
        C::UnknownIssuer => {
            "is signed by an authority this computer does not trust (add that CA to the account's CA file)".into()
        }
        C::Expired | C::ExpiredContext { .. } => "has expired".into(),
        C::NotValidYet | C::NotValidYetContext { .. } => "is not valid yet (check this computer's clock)".into(),
        C::NotValidForName | C::NotValidForNameContext { .. } => {
            "was issued for another name than the one in the TURN URL".into()
        }
        other => format!("was refused ({other:?})"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn io(e: rustls::Error) -> std::io::Error {
        std::io::Error::new(std::io::ErrorKind::InvalidData, e)
    }

    #[test]
    fn refused_certificates_and_failed_handshakes_are_told_in_words() {
        let unknown = handshake_words(&io(rustls::Error::InvalidCertificate(CertificateError::UnknownIssuer)));
        assert_eq!(
            unknown,
            "its certificate is not trusted: it is signed by an authority this computer does not trust \
             (add that CA to the account's CA file)"
        );
        let name = handshake_words(&io(rustls::Error::InvalidCertificate(CertificateError::NotValidForName)));
        assert!(name.contains("another name than the one in the TURN URL"), "{name}");
        let alert = handshake_words(&io(rustls::Error::AlertReceived(rustls::AlertDescription::HandshakeFailure)));
        assert!(alert.starts_with("the TLS handshake failed ("), "{alert}");
        let reset = handshake_words(&std::io::Error::from(std::io::ErrorKind::ConnectionReset));
        assert!(reset.starts_with("the TLS handshake failed ("), "{reset}");
    }

    #[test]
    fn server_names_are_dns_names_or_addresses() {
        assert!(matches!(server_name("turn.example.com"), Ok(ServerName::DnsName(_))));
        assert!(matches!(server_name("10.77.1.1"), Ok(ServerName::IpAddress(_))));
        assert!(matches!(server_name("::1"), Ok(ServerName::IpAddress(_))));
        assert!(server_name("not a name").is_err());
    }

    #[test]
    fn a_ca_file_that_is_missing_or_holds_no_certificate_is_named() {
        let missing = client_config(Some(Path::new("/nonexistent/ca.pem"))).err().unwrap_or_default();
        assert!(missing.starts_with("the CA file /nonexistent/ca.pem could not be read"), "{missing}");
        let dir = std::env::temp_dir().join(format!("homeline-turn-tls-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let empty = dir.join("empty.pem");
        std::fs::write(&empty, "not a certificate\n").unwrap();
        let none = client_config(Some(&empty)).err().unwrap_or_default();
        assert!(none.ends_with("it holds no PEM certificate"), "{none}");
        let _ = std::fs::remove_dir_all(&dir);
        assert!(client_config(None).is_ok(), "the system roots alone make a configuration");
    }
}
