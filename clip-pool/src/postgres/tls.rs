//! TLS for PostgreSQL with rustls, honouring libpq's `sslmode` semantics and a custom root
//! certificate (managed providers such as Supabase ship their own CA).

use std::sync::Arc;

use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, verify_tls12_signature, verify_tls13_signature};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{
    CertificateError, ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme,
};
use tokio_postgres_rustls::MakeRustlsConnect;

use super::options::{PgOptions, RootCerts, SslMode};
use crate::ConfigError;

/// The TLS connector for these options; `None` for `sslmode=disable`.
///
/// As libpq: a root certificate file makes every mode that uses TLS check the chain (libpq
/// turns on peer verification whenever a root file is present); only `verify-full` checks
/// the host name; without a root certificate nothing is checked. `PgOptions::parse` has
/// already refused the combinations libpq refuses (`verify-*` without a root,
/// `sslrootcert=system` with anything but `verify-full`).
pub(crate) fn connector(opts: &PgOptions) -> Result<Option<MakeRustlsConnect>, ConfigError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let verifier: Arc<dyn ServerCertVerifier> = match opts.ssl_mode {
        SslMode::Disable => return Ok(None),
        SslMode::VerifyFull => webpki(&opts.root_certs, provider.clone())?,
        _ if opts.root_certs_given => {
            Arc::new(IgnoreHostName(webpki(&opts.root_certs, provider.clone())?))
        }
        _ => Arc::new(AcceptAnyCertificate(provider.clone())),
    };
    let config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| tls_error(&e.to_string()))?
        .dangerous()
        .with_custom_certificate_verifier(verifier)
        .with_no_client_auth();
    Ok(Some(MakeRustlsConnect::new(config)))
}

fn webpki(
    roots: &RootCerts,
    provider: Arc<CryptoProvider>,
) -> Result<Arc<WebPkiServerVerifier>, ConfigError> {
    let mut store = RootCertStore::empty();
    match roots {
        RootCerts::File(path) => {
            let certs = CertificateDer::pem_file_iter(path)
                .map_err(|e| root_error(path.display(), &e.to_string()))?;
            for cert in certs {
                let cert = cert.map_err(|e| root_error(path.display(), &e.to_string()))?;
                store
                    .add(cert)
                    .map_err(|e| root_error(path.display(), &e.to_string()))?;
            }
            if store.is_empty() {
                return Err(root_error(path.display(), "holds no PEM certificate"));
            }
        }
        RootCerts::System => {
            let found = rustls_native_certs::load_native_certs();
            store.add_parsable_certificates(found.certs);
            if store.is_empty() {
                return Err(tls_error(
                    "the system trust store holds no certificate: install ca-certificates or set \
                     sslrootcert=/path/to/ca.pem",
                ));
            }
        }
    }
    WebPkiServerVerifier::builder_with_provider(Arc::new(store), provider)
        .build()
        .map_err(|e| tls_error(&e.to_string()))
}

fn root_error(path: impl std::fmt::Display, reason: &str) -> ConfigError {
    ConfigError::Invalid {
        variable: "DATABASE_URL",
        value: format!("sslrootcert={path}"),
        reason: format!("cannot use the root certificate file: {reason}"),
    }
}

fn tls_error(reason: &str) -> ConfigError {
    ConfigError::Invalid {
        variable: "DATABASE_URL",
        value: String::new(),
        reason: format!("TLS setup: {reason}"),
    }
}

/// `verify-ca`: the chain must lead to a trusted root; the name is not checked.
#[derive(Debug)]
struct IgnoreHostName(Arc<WebPkiServerVerifier>);

impl ServerCertVerifier for IgnoreHostName {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        match self
            .0
            .verify_server_cert(end_entity, intermediates, server_name, ocsp, now)
        {
            Err(rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) => Ok(ServerCertVerified::assertion()),
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.supported_verify_schemes()
    }
}

/// `prefer` / `require` without a root certificate: encrypted, not authenticated (libpq's
/// behaviour; the handshake signatures are still checked).
#[derive(Debug)]
struct AcceptAnyCertificate(Arc<CryptoProvider>);

impl ServerCertVerifier for AcceptAnyCertificate {
    fn verify_server_cert(
        &self,
        _: &CertificateDer<'_>,
        _: &[CertificateDer<'_>],
        _: &ServerName<'_>,
        _: &[u8],
        _: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(
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
        verify_tls13_signature(
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
