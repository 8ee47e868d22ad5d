//! The HTTPS listener's certificate: read from the `--tls-cert` and
//! `--tls-key` PEM files at start and again at each SIGHUP.
//!
//! rustls asks [`CertResolver`] for the certificate at every handshake, so
//! a reload swaps what new connections get while connections already open
//! keep the session they negotiated: nothing is dropped. A pair that does
//! not load (unreadable, not PEM, a key that is not the certificate's) is
//! logged and the pair in use is kept, so a half-copied renewal never takes
//! the listener down.

use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;

/// Why a certificate and key pair could not be used.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// The certificate file could not be read or holds no PEM certificate.
    #[error("certificate {path}: {message}")]
    Cert {
        /// The file.
        path: String,
        /// Why.
        message: String,
    },
    /// The key file could not be read or holds no PEM private key.
    #[error("private key {path}: {message}")]
    Key {
        /// The file.
        path: String,
        /// Why.
        message: String,
    },
    /// The key is of a kind rustls cannot sign with, or is not the
    /// certificate's.
    #[error("{cert} with {key}: {message}")]
    Pair {
        /// The certificate file.
        cert: String,
        /// The key file.
        key: String,
        /// Why.
        message: String,
    },
    /// rustls refused the configuration (no protocol version in common
    /// with the provider; not expected with ring).
    #[error("TLS configuration: {0}")]
    Config(String),
    /// The SIGHUP handler could not be installed.
    #[error("cannot watch SIGHUP (the certificate reload): {0}")]
    Signal(std::io::Error),
}

/// The crypto provider of the listener: ring, the one ureq's client uses,
/// named explicitly so that no process-wide default has to be installed.
fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// Reads a certificate chain and its private key from PEM files and checks
/// that the key is the leaf certificate's.
pub fn load_pair(cert: &Path, key: &Path) -> Result<Arc<CertifiedKey>, TlsError> {
    let cert_err = |message: String| TlsError::Cert {
        path: cert.display().to_string(),
        message,
    };
    let chain = CertificateDer::pem_file_iter(cert)
        .map_err(|e| cert_err(e.to_string()))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| cert_err(e.to_string()))?;
    if chain.is_empty() {
        return Err(cert_err("no CERTIFICATE block".into()));
    }
    let private = PrivateKeyDer::from_pem_file(key).map_err(|e| TlsError::Key {
        path: key.display().to_string(),
        message: e.to_string(),
    })?;
    let pair = CertifiedKey::from_der(chain, private, &provider()).map_err(|e| TlsError::Pair {
        cert: cert.display().to_string(),
        key: key.display().to_string(),
        message: e.to_string(),
    })?;
    Ok(Arc::new(pair))
}

/// The certificate every handshake gets; [`CertResolver::reload`] replaces
/// it.
#[derive(Debug)]
pub struct CertResolver {
    cert: PathBuf,
    key: PathBuf,
    current: RwLock<Arc<CertifiedKey>>,
}

impl CertResolver {
    /// Loads the pair; an error means the server cannot start with it.
    pub fn load(cert: &Path, key: &Path) -> Result<Arc<CertResolver>, TlsError> {
        let pair = load_pair(cert, key)?;
        Ok(Arc::new(CertResolver {
            cert: cert.to_path_buf(),
            key: key.to_path_buf(),
            current: RwLock::new(pair),
        }))
    }

    /// Reads the files again; on success new handshakes get the new pair,
    /// on failure the old one stays (the caller logs the error).
    pub fn reload(&self) -> Result<(), TlsError> {
        let pair = load_pair(&self.cert, &self.key)?;
        // A poisoned lock only means a panic elsewhere while swapping an
        // Arc; the value inside is still a whole pair.
        *self.current.write().unwrap_or_else(|e| e.into_inner()) = pair;
        Ok(())
    }

    /// The rustls configuration of the listener: TLS 1.2 and 1.3, no
    /// client certificates, the certificate from this resolver, HTTP/1.1
    /// over ALPN (the server speaks no HTTP/2).
    pub fn server_config(self: &Arc<Self>) -> Result<rustls::ServerConfig, TlsError> {
        let mut config = rustls::ServerConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .map_err(|e| TlsError::Config(e.to_string()))?
            .with_no_client_auth()
            .with_cert_resolver(self.clone());
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(config)
    }
}

impl ResolvesServerCert for CertResolver {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(
            self.current
                .read()
                .unwrap_or_else(|e| e.into_inner())
                .clone(),
        )
    }
}

/// Reloads `resolver`'s pair at each SIGHUP, logging the outcome; without
/// TLS a SIGHUP is logged and ignored (its default action would end the
/// process, and `systemctl reload` sends it). The handler is installed
/// before this returns, so a SIGHUP right after start is never fatal; the
/// loop runs as a task of the current actix system. Call it inside that
/// system.
#[cfg(unix)]
pub fn reload_on_sighup(resolver: Option<Arc<CertResolver>>) -> Result<(), TlsError> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut hangups = signal(SignalKind::hangup()).map_err(TlsError::Signal)?;
    actix_web::rt::spawn(async move {
        while hangups.recv().await.is_some() {
            let Some(r) = &resolver else {
                log::info!("SIGHUP: no TLS certificate to reload (serving plain HTTP)");
                continue;
            };
            match r.reload() {
                Ok(()) => log::info!(
                    "SIGHUP: TLS certificate reloaded from {}; new connections use it",
                    r.cert.display()
                ),
                Err(e) => {
                    log::error!("SIGHUP: TLS certificate not reloaded, the one in use is kept: {e}")
                }
            }
        }
    });
    Ok(())
}

/// No SIGHUP here: the pair is read once, at start.
#[cfg(not(unix))]
pub fn reload_on_sighup(_resolver: Option<Arc<CertResolver>>) -> Result<(), TlsError> {
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write_pair(dir: &Path, name: &str) -> (PathBuf, PathBuf) {
        let c = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
        let cert = dir.join(format!("{name}.crt"));
        let key = dir.join(format!("{name}.key"));
        std::fs::write(&cert, c.cert.pem()).unwrap();
        std::fs::write(&key, c.key_pair.serialize_pem()).unwrap();
        (cert, key)
    }

    fn leaf(r: &CertResolver) -> Vec<u8> {
        r.current.read().unwrap().cert[0].to_vec()
    }

    #[test]
    fn a_pair_loads_and_a_bad_reload_keeps_the_old_one() {
        let dir = tempfile::tempdir().unwrap();
        let (cert, key) = write_pair(dir.path(), "a");
        let r = CertResolver::load(&cert, &key).unwrap();
        r.server_config().unwrap();
        let first = leaf(&r);

        // A key that is not the certificate's.
        let (_, other_key) = write_pair(dir.path(), "b");
        std::fs::copy(&other_key, &key).unwrap();
        assert!(matches!(r.reload(), Err(TlsError::Pair { .. })));
        // Not PEM at all.
        std::fs::write(&key, "garbage").unwrap();
        assert!(matches!(r.reload(), Err(TlsError::Key { .. })));
        std::fs::write(&cert, "garbage").unwrap();
        assert!(matches!(r.reload(), Err(TlsError::Cert { .. })));
        assert_eq!(leaf(&r), first, "the pair in use is kept");

        let (new_cert, new_key) = write_pair(dir.path(), "c");
        std::fs::copy(&new_cert, &cert).unwrap();
        std::fs::copy(&new_key, &key).unwrap();
        r.reload().unwrap();
        assert_ne!(leaf(&r), first, "the new pair is served");
    }

    #[test]
    fn missing_files_are_named() {
        let err = CertResolver::load(Path::new("/nonexistent/c.pem"), Path::new("k.pem"))
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("certificate /nonexistent/c.pem: "), "{err}");
    }
}
