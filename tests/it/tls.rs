//! HTTPS without a proxy: `--tls-cert`/`--tls-key` with a self-signed
//! certificate made here, a client that trusts only that certificate, the
//! API and the panel over it (HSTS, `__Host-` `Secure` cookies), and a
//! SIGHUP that swaps the certificate for new connections while an open
//! one keeps working.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use rustls::pki_types::{CertificateDer, ServerName};
use rustls::{ClientConfig, ClientConnection, RootCertStore, StreamOwned};

use crate::support::{texts, Server, ADMIN_PASSWORD, PLATFORM_KEY};

/// A fresh self-signed certificate for `localhost` and 127.0.0.1, written
/// to `cert` and `key`; returns the certificate.
fn write_pair(cert: &Path, key: &Path) -> CertificateDer<'static> {
    let made = rcgen::generate_simple_self_signed(vec!["localhost".into(), "127.0.0.1".into()])
        .expect("a self-signed certificate");
    std::fs::write(cert, made.cert.pem()).unwrap();
    std::fs::write(key, made.key_pair.serialize_pem()).unwrap();
    made.cert.der().clone()
}

/// An HTTP/1.1 keep-alive connection over TLS.
struct Conn {
    tls: StreamOwned<ClientConnection, TcpStream>,
    host: String,
    buf: Vec<u8>,
}

/// One answer.
struct Resp {
    status: u16,
    headers: Vec<(String, String)>,
    body: String,
}

impl Resp {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    fn set_cookies(&self) -> Vec<&str> {
        self.headers
            .iter()
            .filter(|(k, _)| k == "set-cookie")
            .map(|(_, v)| v.as_str())
            .collect()
    }

    /// The value of the `Set-Cookie` named `name`, asserting it is `Secure`.
    fn secure_cookie(&self, name: &str) -> String {
        let c = self
            .set_cookies()
            .into_iter()
            .find(|c| c.starts_with(&format!("{name}=")))
            .unwrap_or_else(|| panic!("no {name} cookie in {:?}", self.headers));
        assert!(c.contains("; Secure"), "{c}");
        assert!(c.contains("; HttpOnly") && c.contains("; Path=/"), "{c}");
        assert!(!c.contains("Domain="), "{c}");
        c[name.len() + 1..]
            .split(';')
            .next()
            .unwrap_or_default()
            .to_string()
    }
}

/// Connects to `addr` (`127.0.0.1:PORT`) as `localhost`, trusting only
/// `trusted`. The handshake happens at the first request.
fn connect(addr: &str, trusted: &CertificateDer<'static>) -> Conn {
    let mut roots = RootCertStore::empty();
    roots.add(trusted.clone()).expect("a usable root");
    let config =
        ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth();
    let name = ServerName::try_from("localhost").unwrap();
    let conn = ClientConnection::new(Arc::new(config), name).unwrap();
    let tcp = TcpStream::connect(addr).expect("connect");
    tcp.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    Conn {
        tls: StreamOwned::new(conn, tcp),
        host: addr.to_string(),
        buf: Vec::new(),
    }
}

impl Conn {
    /// Sends one request and reads its answer (by `Content-Length`).
    fn request(
        &mut self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> std::io::Result<Resp> {
        let mut head = format!(
            "{method} {path} HTTP/1.1\r\nHost: {}\r\nContent-Length: {}\r\n",
            self.host,
            body.len()
        );
        for (k, v) in headers {
            head.push_str(&format!("{k}: {v}\r\n"));
        }
        head.push_str("\r\n");
        self.tls.write_all(head.as_bytes())?;
        self.tls.write_all(body)?;
        self.tls.flush()?;
        let end = loop {
            if let Some(i) = self.buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break i;
            }
            self.fill()?;
        };
        let text = String::from_utf8_lossy(&self.buf[..end]).into_owned();
        self.buf.drain(..end + 4);
        let mut lines = text.split("\r\n");
        let status = lines
            .next()
            .and_then(|l| l.split(' ').nth(1))
            .and_then(|s| s.parse().ok())
            .expect("a status line");
        let headers: Vec<(String, String)> = lines
            .filter_map(|l| l.split_once(':'))
            .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
            .collect();
        let len: usize = headers
            .iter()
            .find(|(k, _)| k == "content-length")
            .and_then(|(_, v)| v.parse().ok())
            .unwrap_or(0);
        while self.buf.len() < len {
            self.fill()?;
        }
        let body = String::from_utf8_lossy(&self.buf[..len]).into_owned();
        self.buf.drain(..len);
        Ok(Resp {
            status,
            headers,
            body,
        })
    }

    fn fill(&mut self) -> std::io::Result<()> {
        let mut chunk = [0u8; 16 * 1024];
        let n = self.tls.read(&mut chunk)?;
        if n == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        self.buf.extend_from_slice(&chunk[..n]);
        Ok(())
    }

    /// The certificate the server presented.
    fn peer(&self) -> Vec<u8> {
        self.tls.conn.peer_certificates().expect("handshake done")[0].to_vec()
    }
}

fn sighup(s: &Server) {
    let ok = Command::new("kill")
        .arg("-HUP")
        .arg(s.pid().to_string())
        .status()
        .expect("kill")
        .success();
    assert!(ok, "kill -HUP");
}

fn paths(dir: &Path) -> (PathBuf, PathBuf) {
    (dir.join("cert.pem"), dir.join("key.pem"))
}

#[test]
fn https_serves_the_api_and_the_panel_and_reloads_the_certificate_on_sighup() {
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = paths(dir.path());
    let first = write_pair(&cert, &key);
    let s = Server::start_with(
        &[
            "--allow-http",
            "--tls-cert",
            cert.to_str().unwrap(),
            "--tls-key",
            key.to_str().unwrap(),
        ],
        &[],
    );
    let addr = s
        .base
        .strip_prefix("https://")
        .unwrap_or_else(|| panic!("an https listener: {}", s.base))
        .to_string();

    // The API, authenticated and not, with HSTS.
    let mut c = connect(&addr, &first);
    let r = c.request("GET", "/healthz", &[], b"").unwrap();
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(c.peer(), first.to_vec());
    assert_eq!(
        r.header("strict-transport-security"),
        Some("max-age=31536000")
    );
    let bearer = format!("Bearer {PLATFORM_KEY}");
    let r = c
        .request(
            "POST",
            "/api/v1/tenants",
            &[
                ("Authorization", &bearer),
                ("Content-Type", "application/json"),
            ],
            br#"{"id": "over_tls"}"#,
        )
        .unwrap();
    assert_eq!(r.status, 201, "{}", r.body);
    let r = c
        .request("GET", "/api/v1/tenants", &[("Authorization", &bearer)], b"")
        .unwrap();
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(r.body.contains("over_tls"), "{}", r.body);
    let r = c.request("GET", "/api/v1/tenants", &[], b"").unwrap();
    assert_eq!(r.status, 401, "{}", r.body);

    // The panel: the login page's CSRF cookie, then a login, all __Host-
    // and Secure.
    let r = c.request("GET", "/login", &[], b"").unwrap();
    assert_eq!(r.status, 200);
    assert!(r.body.contains("Log in to Herald"));
    assert!(r.header("strict-transport-security").is_some());
    let login = r.secure_cookie("__Host-herald_login");
    let marker = "name=\"csrf\" value=\"";
    let at = r.body.find(marker).expect("a CSRF field") + marker.len();
    let csrf = r.body[at..].split('"').next().unwrap().to_string();
    let form = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs([
            ("csrf", csrf.as_str()),
            ("username", "admin"),
            ("password", ADMIN_PASSWORD),
        ])
        .finish();
    let cookie = format!("__Host-herald_login={login}");
    let r = c
        .request(
            "POST",
            "/login",
            &[
                ("Cookie", &cookie),
                ("Origin", &s.base),
                ("Content-Type", "application/x-www-form-urlencoded"),
            ],
            form.as_bytes(),
        )
        .unwrap();
    assert_eq!(r.status, 303, "{}", r.body);
    let session = r.secure_cookie("__Host-herald_session");
    r.secure_cookie("__Host-herald_device");
    assert!(
        !r.set_cookies().iter().any(|c| c.starts_with("herald_")),
        "no unprefixed cookie over TLS: {:?}",
        r.set_cookies()
    );
    let cookie = format!("__Host-herald_session={session}");
    let r = c.request("GET", "/", &[("Cookie", &cookie)], b"").unwrap();
    assert_eq!(r.status, 200);
    assert!(r.body.contains("Dashboard"));

    // Renewal: new files, SIGHUP. New connections get the new certificate
    // (a client trusting only the old one is refused); the connection
    // opened before goes on with the session it negotiated.
    let second = write_pair(&cert, &key);
    sighup(&s);
    let log = s.stderr_when(|e| e.contains("TLS certificate reloaded"));
    assert!(log.contains("TLS certificate reloaded"), "{log}");
    let mut fresh = connect(&addr, &second);
    let r = fresh.request("GET", "/healthz", &[], b"").unwrap();
    assert_eq!(r.status, 200);
    assert_eq!(fresh.peer(), second.to_vec(), "the new certificate");
    assert!(
        connect(&addr, &first)
            .request("GET", "/healthz", &[], b"")
            .is_err(),
        "the old certificate is no longer served"
    );
    let r = c.request("GET", "/healthz", &[], b"").unwrap();
    assert_eq!(r.status, 200, "the open connection survived the reload");
    assert_eq!(c.peer(), first.to_vec());

    // A broken renewal (a key that does not parse) is logged and the
    // certificate in use is kept.
    std::fs::write(&key, "not a key").unwrap();
    sighup(&s);
    let log = s.stderr_when(|e| e.contains("TLS certificate not reloaded"));
    assert!(log.contains("the one in use is kept"), "{log}");
    let mut after = connect(&addr, &second);
    let r = after.request("GET", "/healthz", &[], b"").unwrap();
    assert_eq!(r.status, 200);
    assert_eq!(after.peer(), second.to_vec());
}

#[test]
fn tls_flags_come_in_pairs_and_a_bad_pair_stops_the_start() {
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = paths(dir.path());
    write_pair(&cert, &key);
    let data = dir.path().join("data");
    let serve = |args: &[&str]| {
        let out = Command::new(crate::support::bin())
            .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
            .arg(&data)
            .args(args)
            .env_remove("HERALD_TLS_CERT")
            .env_remove("HERALD_TLS_KEY")
            .output()
            .expect("run herald");
        assert!(!out.status.success(), "{args:?} must not start");
        texts(&out)
    };
    let (_, err) = serve(&["--tls-cert", cert.to_str().unwrap()]);
    assert!(
        err.contains("invalid --tls-key: missing: --tls-cert needs it"),
        "{err}"
    );
    let (_, err) = serve(&["--tls-key", key.to_str().unwrap()]);
    assert!(err.contains("invalid --tls-cert"), "{err}");

    // A key that is not the certificate's: refused before anything opens,
    // so no first-start credentials are made or printed.
    let other = dir.path().join("other");
    std::fs::create_dir(&other).unwrap();
    let (_, other_key) = paths(&other);
    write_pair(&other.join("c.pem"), &other_key);
    let (out, err) = serve(&[
        "--tls-cert",
        cert.to_str().unwrap(),
        "--tls-key",
        other_key.to_str().unwrap(),
    ]);
    assert!(err.contains("TLS: "), "{err}");
    assert!(!out.contains("first start"), "{out}");
    assert!(!data.exists(), "the data directory was not created");
}

#[test]
fn plain_http_is_served_without_tls_flags() {
    let s = Server::start();
    assert!(s.base.starts_with("http://"), "{}", s.base);
    let r = s.call_as(None, "GET", "/healthz", None, None);
    assert_eq!(r.status, 200);
}
