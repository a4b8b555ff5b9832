//! TLS for `wss://`: the system roots plus an optional per-account CA file,
//! or a pinned certificate fingerprint. Certificate errors become sentences.

use std::io;
use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{CertificateError, ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};
use sha2::{Digest as _, Sha256};

use crate::account::ValidAccount;
use crate::error::SipError;

/// Builds the client configuration for one account. Reads the system roots
/// and the CA file, so build it once per account, not per connection.
pub fn client_config(account: &ValidAccount) -> Result<Arc<ClientConfig>, SipError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| SipError::Connect { host: account.connect_to.host.clone(), why: e.to_string() })?;
    if let Some(pin) = account.fingerprint {
        let verifier = PinVerifier { pin, provider };
        return Ok(Arc::new(
            builder.dangerous().with_custom_certificate_verifier(Arc::new(verifier)).with_no_client_auth(),
        ));
    }
    let mut roots = RootCertStore::empty();
    let native = rustls_native_certs::load_native_certs();
    for e in &native.errors {
        tracing::debug!(error = %e, "some system root certificates could not be read");
    }
    let (added, _ignored) = roots.add_parsable_certificates(native.certs);
    tracing::debug!(added, "system root certificates loaded");
    if let Some(path) = &account.account.tls.ca_file {
        let shown = path.display().to_string();
        let certs = CertificateDer::pem_file_iter(path)
            .map_err(|e| SipError::BadCaFile { path: shown.clone(), why: e.to_string() })?
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| SipError::BadCaFile { path: shown.clone(), why: e.to_string() })?;
        if certs.is_empty() {
            return Err(SipError::BadCaFile { path: shown, why: "it holds no PEM certificate".into() });
        }
        for cert in certs {
            roots
                .add(cert)
                .map_err(|e| SipError::BadCaFile { path: shown.clone(), why: e.to_string() })?;
        }
    }
    Ok(Arc::new(builder.with_root_certificates(roots).with_no_client_auth()))
}

/// Accepts exactly the certificate whose SHA-256 matches the pin (the pin is
/// the trust decision, so name and CA checks do not apply), while still
/// checking that the server holds the certificate's key.
#[derive(Debug)]
struct PinVerifier {
    pin: [u8; 32],
    provider: Arc<CryptoProvider>,
}

impl ServerCertVerifier for PinVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let digest: [u8; 32] = Sha256::digest(end_entity.as_ref()).into();
        if digest == self.pin {
            Ok(ServerCertVerified::assertion())
        } else {
            Err(rustls::Error::InvalidCertificate(CertificateError::ApplicationVerificationFailure))
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.provider.signature_verification_algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.provider.signature_verification_algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider.signature_verification_algorithms.supported_schemes()
    }
}

/// Turns a failed TLS handshake into an error a person can act on.
pub fn handshake_error(host: &str, err: &io::Error, pinned: bool) -> SipError {
    let inner = err.get_ref().and_then(|e| e.downcast_ref::<rustls::Error>());
    match inner {
        Some(rustls::Error::InvalidCertificate(cert)) => {
            SipError::Certificate { host: host.to_string(), why: certificate_words(cert, pinned) }
        }
        Some(other) => SipError::Connect { host: host.to_string(), why: format!("the secure connection failed ({other})") },
        None => SipError::Connect { host: host.to_string(), why: format!("the secure connection failed ({err})") },
    }
}

fn certificate_words(err: &CertificateError, pinned: bool) -> String {
    use CertificateError as C;
    match err {
        C::UnknownIssuer => "is signed by an authority this computer does not trust (add the company's CA file or a fingerprint to the account)".into(),
        C::Expired | C::ExpiredContext { .. } => "has expired".into(),
        C::NotValidYet | C::NotValidYetContext { .. } => "is not valid yet (check this computer's clock)".into(),
        C::NotValidForName | C::NotValidForNameContext { .. } => "was issued for a different server name".into(),
        C::Revoked => "has been revoked".into(),
        C::BadSignature => "has an invalid signature".into(),
        C::BadEncoding => "could not be read".into(),
        C::ApplicationVerificationFailure if pinned => "does not match the fingerprint pinned for this account".into(),
        other => format!("was not accepted ({other:?})"),
    }
}
