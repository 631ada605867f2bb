//! TLS for what memsoak connects to: `wss://` collab clients, `https://`
//! agents, the readiness check and Prometheus.
//!
//! rustls with the ring provider (installed once, process-wide), trusting
//! the system's certificate store, plus a CA file the profile names
//! (`[tls] ca_file`, `--tls-ca`) for a backend with its own CA, or —
//! explicitly, for a local server with a self-signed certificate — any
//! certificate at all (`[tls] insecure = true`, `--tls-insecure`). Plain
//! `ws://` and `http://` never touch it.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Once};

use anyhow::Context;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};

/// Which servers' certificates are trusted.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Trust {
    /// A PEM file of CA certificates trusted beside the system's.
    pub ca_file: Option<PathBuf>,
    /// Any certificate is accepted (a local self-signed server): no
    /// verification at all.
    pub insecure: bool,
}

/// Installs the ring provider as rustls' process default (once).
pub fn install_provider() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        // Fails only when another provider was installed first, which then
        // serves as well.
        let _ = rustls::crypto::ring::default_provider().install_default();
    });
}

impl Trust {
    /// Checks the CA file now (it exists and holds certificates), so a
    /// wrong path is a usage error before the run starts.
    pub fn check(&self) -> anyhow::Result<()> {
        if let Some(path) = &self.ca_file {
            read_certificates(path)?;
        }
        Ok(())
    }

    /// A reqwest client builder trusting what this trust does.
    pub fn http_client(&self) -> anyhow::Result<reqwest::ClientBuilder> {
        install_provider();
        let mut builder = reqwest::Client::builder();
        if let Some(path) = &self.ca_file {
            for der in read_certificates(path)? {
                let cert = reqwest::Certificate::from_der(&der).with_context(|| {
                    format!("'{}' holds a certificate that is not valid", path.display())
                })?;
                builder = builder.add_root_certificate(cert);
            }
        }
        if self.insecure {
            builder = builder.danger_accept_invalid_certs(true);
        }
        Ok(builder)
    }

    /// The rustls configuration of a `wss://` connection.
    pub fn client_config(&self) -> anyhow::Result<Arc<ClientConfig>> {
        install_provider();
        let config = if self.insecure {
            ClientConfig::builder()
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(AnyCertificate::new()))
                .with_no_client_auth()
        } else {
            let mut roots = RootCertStore::empty();
            // Unreadable system certificates are skipped; a CA file given
            // still counts.
            for cert in rustls_native_certs::load_native_certs().certs {
                let _ = roots.add(cert);
            }
            if let Some(path) = &self.ca_file {
                for der in read_certificates(path)? {
                    roots.add(der).with_context(|| {
                        format!("'{}' holds a certificate that is not valid", path.display())
                    })?;
                }
            }
            ClientConfig::builder()
                .with_root_certificates(roots)
                .with_no_client_auth()
        };
        Ok(Arc::new(config))
    }
}

/// The certificates of a PEM file; none is an error.
fn read_certificates(path: &Path) -> anyhow::Result<Vec<CertificateDer<'static>>> {
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(path)
        .with_context(|| format!("could not read the CA file '{}'", path.display()))?
        .collect::<Result<_, _>>()
        .with_context(|| format!("'{}' is not a PEM file of certificates", path.display()))?;
    if certs.is_empty() {
        anyhow::bail!(
            "'{}' holds no certificate (expected PEM: -----BEGIN CERTIFICATE-----)",
            path.display()
        );
    }
    Ok(certs)
}

/// Accepts every certificate: only with `insecure`, for a local server
/// with a self-signed one. Signatures are still checked with the
/// provider's algorithms, so the handshake itself is sound.
#[derive(Debug)]
struct AnyCertificate(Arc<rustls::crypto::CryptoProvider>);

impl AnyCertificate {
    fn new() -> AnyCertificate {
        AnyCertificate(Arc::new(rustls::crypto::ring::default_provider()))
    }
}

impl ServerCertVerifier for AnyCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}
