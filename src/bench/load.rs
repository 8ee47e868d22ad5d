//! A lean HTTP/1.1 keep-alive client for the load generator.
//!
//! The generator shares the machine's cores with the server it measures;
//! a general-purpose client (ureq, serde_json per request) cost the
//! generator as much CPU per request as the server spent serving it, so
//! the figures measured the generator. This one writes a prepared request
//! into one buffer and reads only the status line, `Content-Length` and
//! the body it must skip — what `wrk` does.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::time::Duration;

/// One keep-alive connection; reconnects after an error.
pub struct RawClient {
    addr: String,
    auth: String,
    conn: Option<(TcpStream, BufReader<TcpStream>)>,
    request: Vec<u8>,
    line: String,
    sink: Vec<u8>,
}

impl RawClient {
    /// A client for `base` (`http://host:port`) sending `Bearer {key}`.
    pub fn new(base: &str, key: &str) -> Self {
        Self {
            addr: base.trim_start_matches("http://").to_string(),
            auth: format!("Bearer {key}"),
            conn: None,
            request: Vec::with_capacity(4096),
            line: String::new(),
            sink: Vec::new(),
        }
    }

    fn connect(&mut self) -> std::io::Result<()> {
        if self.conn.is_none() {
            let s = TcpStream::connect(&self.addr)?;
            s.set_nodelay(true)?;
            s.set_read_timeout(Some(Duration::from_secs(60)))?;
            let r = BufReader::with_capacity(16 * 1024, s.try_clone()?);
            self.conn = Some((s, r));
        }
        Ok(())
    }

    /// POSTs a JSON `body` to `path` (as `tenant` if given); returns the
    /// status. On an I/O error the connection is dropped and reopened by
    /// the next call.
    pub fn post(&mut self, path: &str, tenant: Option<&str>, body: &[u8]) -> std::io::Result<u16> {
        let r = self.exchange(path, tenant, body);
        if r.is_err() {
            self.conn = None;
        }
        r
    }

    fn exchange(&mut self, path: &str, tenant: Option<&str>, body: &[u8]) -> std::io::Result<u16> {
        self.connect()?;
        self.request.clear();
        let r = &mut self.request;
        write!(
            r,
            "POST {path} HTTP/1.1\r\nHost: {}\r\nAuthorization: {}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n",
            self.addr,
            self.auth,
            body.len()
        )?;
        if let Some(t) = tenant {
            write!(r, "X-Tenant-ID: {t}\r\n")?;
        }
        r.extend_from_slice(b"\r\n");
        r.extend_from_slice(body);
        let Some((w, rd)) = self.conn.as_mut() else {
            return Err(std::io::ErrorKind::NotConnected.into());
        };
        w.write_all(&self.request)?;
        // Status line, then headers up to the blank line.
        self.line.clear();
        rd.read_line(&mut self.line)?;
        let status = self
            .line
            .split(' ')
            .nth(1)
            .and_then(|s| s.parse::<u16>().ok())
            .ok_or_else(|| bad(&self.line))?;
        let mut length = 0usize;
        let mut close = false;
        loop {
            self.line.clear();
            if rd.read_line(&mut self.line)? == 0 {
                return Err(std::io::ErrorKind::UnexpectedEof.into());
            }
            let l = self.line.trim_end();
            if l.is_empty() {
                break;
            }
            if let Some((k, v)) = l.split_once(':') {
                if k.eq_ignore_ascii_case("content-length") {
                    length = v.trim().parse().map_err(|_| bad(l))?;
                } else if k.eq_ignore_ascii_case("connection") && v.trim() == "close" {
                    close = true;
                } else if k.eq_ignore_ascii_case("transfer-encoding") {
                    return Err(bad("chunked responses are not expected"));
                }
            }
        }
        self.sink.resize(length, 0);
        rd.read_exact(&mut self.sink)?;
        if close {
            self.conn = None;
        }
        Ok(status)
    }
}

fn bad(what: &str) -> std::io::Error {
    std::io::Error::new(
        std::io::ErrorKind::InvalidData,
        format!("bad response: {what}"),
    )
}
