//! TLS settings: client configurations (which roots to trust, a CA of
//! your own, the system's store, libpq's looser modes) and server
//! configurations (a certificate and key, from PEM or in memory).

use std::io;
use std::path::Path;
use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use rustls::{ClientConfig, ServerConfig};

// `ring`, as the project chooses (see the decision log): it builds with
// cargo and a C compiler alone. rustls marks it deprecated because its key
// exchange has no post-quantum hybrid (aws-lc-rs has one).
#[allow(deprecated)]
pub(super) fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

pub(super) fn invalid(e: impl std::fmt::Display) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, e.to_string())
}

/// A client configuration that trusts the Mozilla roots (`webpki-roots`),
/// TLS 1.2 and 1.3, no client certificate.
///
/// ```
/// let config = yieldfrom::tls::client_config();
/// assert!(config.alpn_protocols.is_empty());
/// ```
pub fn client_config() -> Arc<ClientConfig> {
    let mut roots = rustls::RootCertStore::empty();
    roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    client_config_with_roots(roots)
}

/// A client configuration that trusts only the CA certificates in the PEM
/// file at `path` (a private CA, a test CA).
pub fn client_config_with_ca(path: impl AsRef<Path>) -> io::Result<Arc<ClientConfig>> {
    Ok(client_config_with_roots(roots_from_pem(path.as_ref())?))
}

/// A client configuration that trusts `roots`.
pub fn client_config_with_roots(roots: rustls::RootCertStore) -> Arc<ClientConfig> {
    Arc::new(
        ClientConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .expect("ring supports the default protocol versions")
            .with_root_certificates(roots)
            .with_no_client_auth(),
    )
}

/// A client configuration that trusts the operating system's roots (the
/// store `rustls-native-certs` finds: `/etc/ssl/certs` and the like, or
/// the files `SSL_CERT_FILE`/`SSL_CERT_DIR` name). An error if it finds
/// none.
pub fn client_config_system() -> io::Result<Arc<ClientConfig>> {
    Ok(client_config_with_roots(system_roots()?))
}

/// The operating system's trusted roots; an error if there are none.
pub(crate) fn system_roots() -> io::Result<rustls::RootCertStore> {
    let found = rustls_native_certs::load_native_certs();
    let mut roots = rustls::RootCertStore::empty();
    let (added, _ignored) = roots.add_parsable_certificates(found.certs);
    if added == 0 {
        let why = match found.errors.first() {
            Some(e) => format!(": {e}"),
            None => String::new(),
        };
        return Err(io::Error::new(
            io::ErrorKind::NotFound,
            format!("no trusted root certificate found in the system's store{why}"),
        ));
    }
    Ok(roots)
}

/// The roots in the PEM file at `path`.
pub(crate) fn roots_from_pem(path: &Path) -> io::Result<rustls::RootCertStore> {
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_file_iter(path)
        .map_err(|e| invalid(format!("{}: {e}", path.display())))?
    {
        roots
            .add(cert.map_err(|e| invalid(format!("{}: {e}", path.display())))?)
            .map_err(|e| invalid(format!("{}: {e}", path.display())))?;
    }
    if roots.is_empty() {
        return Err(invalid(format!(
            "{}: no certificate in the PEM file",
            path.display()
        )));
    }
    Ok(roots)
}

/// How much of the server's certificate a client checks (libpq's
/// `sslmode` levels, which other protocols can use as well).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Verify {
    /// Nothing: the connection is encrypted, but the peer may be anyone
    /// (libpq's `require`, `prefer` and `allow`). The handshake's
    /// signatures are still checked, so the peer holds the certificate's key.
    Nothing,
    /// The chain up to a trusted root, not the name (`verify-ca`).
    Chain,
    /// The chain and the name (`verify-full`, and every HTTPS client).
    Full,
}

/// A client configuration that checks `verify` of the server's
/// certificate against `roots`, with SNI on or off.
pub(crate) fn client_config_verifying(
    roots: rustls::RootCertStore,
    verify: Verify,
    sni: bool,
) -> io::Result<Arc<ClientConfig>> {
    let provider = provider();
    let builder = ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .expect("ring supports the default protocol versions");
    let mut config = match verify {
        Verify::Full => builder.with_root_certificates(roots).with_no_client_auth(),
        Verify::Chain | Verify::Nothing => {
            let webpki = if verify == Verify::Chain {
                Some(
                    rustls::client::WebPkiServerVerifier::builder_with_provider(
                        Arc::new(roots),
                        provider.clone(),
                    )
                    .build()
                    .map_err(invalid)?,
                )
            } else {
                None
            };
            builder
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(LooseVerifier { webpki, provider }))
                .with_no_client_auth()
        }
    };
    config.enable_sni = sni;
    Ok(Arc::new(config))
}

/// The verifier of the two weaker levels: the chain only (with `webpki`),
/// or nothing. The handshake signatures are always checked.
#[derive(Debug)]
struct LooseVerifier {
    /// The chain verifier (certificate level), if the chain is checked.
    webpki: Option<Arc<rustls::client::WebPkiServerVerifier>>,
    /// The crypto provider, which checks the handshake's signatures.
    provider: Arc<rustls::crypto::CryptoProvider>,
}

impl rustls::client::danger::ServerCertVerifier for LooseVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: rustls::pki_types::UnixTime,
    ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        let Some(webpki) = &self.webpki else {
            return Ok(rustls::client::danger::ServerCertVerified::assertion());
        };
        // webpki checks the chain before the name: a name error means the
        // chain was good.
        match webpki.verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now)
        {
            Err(rustls::Error::InvalidCertificate(
                rustls::CertificateError::NotValidForName
                | rustls::CertificateError::NotValidForNameContext { .. },
            )) => Ok(rustls::client::danger::ServerCertVerified::assertion()),
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

/// A server configuration from a certificate chain and its private key,
/// PEM files (the leaf first, then intermediates), with ALPN `alpn` (say
/// `[b"http/1.1"]`; empty for none).
pub fn server_config_from_pem(
    cert_chain: impl AsRef<Path>,
    key: impl AsRef<Path>,
    alpn: &[&[u8]],
) -> io::Result<Arc<ServerConfig>> {
    let chain = CertificateDer::pem_file_iter(cert_chain.as_ref())
        .map_err(invalid)?
        .collect::<Result<Vec<_>, _>>()
        .map_err(invalid)?;
    if chain.is_empty() {
        return Err(invalid(format!(
            "{}: no certificate in the PEM file",
            cert_chain.as_ref().display()
        )));
    }
    let key = PrivateKeyDer::from_pem_file(key.as_ref()).map_err(invalid)?;
    server_config(chain, key, alpn)
}

/// A server configuration from a certificate chain and key already parsed.
pub fn server_config(
    chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
    alpn: &[&[u8]],
) -> io::Result<Arc<ServerConfig>> {
    let mut config = ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .expect("ring supports the default protocol versions")
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .map_err(invalid)?;
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    Ok(Arc::new(config))
}
