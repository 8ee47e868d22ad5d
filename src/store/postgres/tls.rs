//! TLS to the database: `sslmode=require` (or libpq's `verify-full`) in
//! the store URL encrypts every connection with rustls, verifying the
//! server's certificate chain *and* its name, against the CA certificates
//! of `sslrootcert=FILE` if given, else the public web roots.
//!
//! The `postgres` crate knows `sslmode` (`disable`, `prefer`, `require`)
//! but neither `sslrootcert` nor libpq's `verify-ca` / `verify-full`, and
//! it refuses unknown parameters, so [`split`] takes those out of the URL
//! before it is parsed. `prefer` (the default) stays a plain connection,
//! as before: trying TLS there would make a server with a self-signed
//! certificate (Debian's default) refuse connections that work today.
//! `verify-ca` is taken as `verify-full`: rustls always checks the name.

use std::path::PathBuf;
use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::CertificateDer;

use crate::store::{Result, StoreError};

/// What the URL asks of TLS, beside what the `postgres` crate parses.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Wanted {
    /// `sslrootcert`: the CA certificates (PEM) the server's chain must
    /// lead to, instead of the public roots.
    pub root_cert: Option<PathBuf>,
}

/// The URL (either form: `postgres://…?k=v&…` or `k=v k=v …`) without
/// `sslrootcert` and with `verify-ca` / `verify-full` as `require`, and
/// what was taken out.
pub fn split(url: &str) -> Result<(String, Wanted)> {
    let mut wanted = Wanted::default();
    // What becomes of one parameter (its value decoded).
    let mut take = |k: &str, v: &str| -> Result<Param> {
        match (k, v) {
            ("sslrootcert", "") => Err(bad("sslrootcert is empty")),
            ("sslrootcert", v) => {
                wanted.root_cert = Some(PathBuf::from(v));
                Ok(Param::Drop)
            }
            ("sslmode", "verify-full" | "verify-ca") => Ok(Param::Set("require")),
            _ => Ok(Param::Keep),
        }
    };
    let mut kept = Vec::new();
    let out = if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        let Some((base, query)) = url.split_once('?') else {
            return Ok((url.to_string(), wanted));
        };
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            match take(k, &percent_decode(v)?)? {
                Param::Drop => {}
                Param::Keep => kept.push(pair.to_string()),
                Param::Set(v) => kept.push(format!("{k}={v}")),
            }
        }
        if kept.is_empty() {
            base.to_string()
        } else {
            format!("{base}?{}", kept.join("&"))
        }
    } else {
        for token in url.split_whitespace() {
            let Some((k, v)) = token.split_once('=') else {
                kept.push(token.to_string());
                continue;
            };
            if k == "sslrootcert" && v.starts_with('\'') {
                return Err(bad("write sslrootcert's path without quotes"));
            }
            match take(k, v)? {
                Param::Drop => {}
                Param::Keep => kept.push(token.to_string()),
                Param::Set(v) => kept.push(format!("{k}={v}")),
            }
        }
        kept.join(" ")
    };
    Ok((out, wanted))
}

/// What [`split`] does with one parameter.
enum Param {
    /// Passed on as written.
    Keep,
    /// Taken out (Herald's own).
    Drop,
    /// Passed on with this value.
    Set(&'static str),
}

fn percent_decode(v: &str) -> Result<String> {
    let b = v.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let hex = b
                .get(i + 1..i + 3)
                .and_then(|h| std::str::from_utf8(h).ok())
                .and_then(|h| u8::from_str_radix(h, 16).ok())
                .ok_or_else(|| bad("a malformed %-escape"))?;
            out.push(hex);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| bad("a %-escape that is not UTF-8"))
}

fn bad(why: &str) -> StoreError {
    StoreError::Io(format!("the PostgreSQL URL does not parse: {why}"))
}

/// The connector for `sslmode=require`: rustls with ring (the provider the
/// rest of Herald uses), verifying against `wanted`'s CA file or the
/// public roots.
pub fn connector(wanted: &Wanted) -> Result<tokio_postgres_rustls::MakeRustlsConnect> {
    let mut roots = rustls::RootCertStore::empty();
    match &wanted.root_cert {
        Some(path) => {
            let fail = |m: String| {
                StoreError::Io(format!(
                    "sslrootcert {}: {m} (a PEM file of CA certificates)",
                    path.display()
                ))
            };
            let certs = CertificateDer::pem_file_iter(path)
                .map_err(|e| fail(e.to_string()))?
                .collect::<std::result::Result<Vec<_>, _>>()
                .map_err(|e| fail(e.to_string()))?;
            if certs.is_empty() {
                return Err(fail("no CERTIFICATE block".into()));
            }
            for c in certs {
                roots.add(c).map_err(|e| fail(e.to_string()))?;
            }
        }
        None => roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned()),
    }
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(|e| StoreError::Io(format!("TLS to the database: {e}")))?
    .with_root_certificates(roots)
    .with_no_client_auth();
    Ok(tokio_postgres_rustls::MakeRustlsConnect::new(config))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_url_loses_what_the_postgres_crate_would_refuse() {
        let cases: &[(&str, &str, Option<&str>)] = &[
            ("postgres://u@h/db", "postgres://u@h/db", None),
            (
                "postgres://u@h/db?sslmode=verify-full&sslrootcert=/etc/ca.pem",
                "postgres://u@h/db?sslmode=require",
                Some("/etc/ca.pem"),
            ),
            (
                "postgresql://u@h:5/db?sslrootcert=%2Fa%20b%2Fca.pem&application_name=x%20y",
                "postgresql://u@h:5/db?application_name=x%20y",
                Some("/a b/ca.pem"),
            ),
            (
                "postgres://u@h/db?sslmode=verify-ca",
                "postgres://u@h/db?sslmode=require",
                None,
            ),
            (
                "host=h user=u sslmode=verify-full sslrootcert=/etc/ca.pem dbname=d",
                "host=h user=u sslmode=require dbname=d",
                Some("/etc/ca.pem"),
            ),
            ("host=h sslmode=prefer", "host=h sslmode=prefer", None),
        ];
        for (url, want, root) in cases {
            let (got, w) = split(url).unwrap();
            assert_eq!(&got, want, "{url}");
            assert_eq!(w.root_cert, root.map(PathBuf::from), "{url}");
            // What is left parses.
            assert!(got.parse::<postgres::Config>().is_ok(), "{got}");
        }
        for bad in [
            "postgres://u@h/db?sslrootcert=",
            "postgres://u@h/db?sslrootcert=%zz",
            "host=h sslrootcert='/a b'",
        ] {
            assert!(split(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_root_cert_file_must_hold_certificates() {
        let dir = std::env::temp_dir().join(format!("herald-pgtls-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let empty = dir.join("empty.pem");
        std::fs::write(&empty, "not a certificate\n").unwrap();
        let w = Wanted {
            root_cert: Some(empty.clone()),
        };
        let e = connector(&w).err().unwrap().to_string();
        assert!(e.contains("no CERTIFICATE block"), "{e}");
        let missing = Wanted {
            root_cert: Some(dir.join("missing.pem")),
        };
        assert!(connector(&missing).is_err());
        assert!(connector(&Wanted::default()).is_ok(), "the public roots");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
