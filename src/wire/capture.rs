//! A captured request, read back for `herald verify`: header lines
//! (`name: value`), a headers file, or a raw HTTP/1.1 request as a proxy or
//! `nc -l` saved it. Pure parsing, bounded: at most [`MAX_HEADERS`] headers.

/// The most headers one capture may hold.
pub const MAX_HEADERS: usize = 256;

/// Why a capture could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CaptureError {
    /// A header line has no `:` or an empty name.
    #[error("header line {line:?} is not `name: value`")]
    BadHeader {
        /// The line (cut to 80 characters).
        line: String,
    },
    /// More than [`MAX_HEADERS`] headers.
    #[error("more than {MAX_HEADERS} headers")]
    TooManyHeaders,
    /// The raw request has no blank line ending its headers.
    #[error("the request has no blank line after its headers (is it a whole HTTP request?)")]
    NoHeaderEnd,
    /// The request line is not `METHOD TARGET HTTP/1.x`.
    #[error("the first line {line:?} is not an HTTP request line (`POST /path HTTP/1.1`)")]
    BadRequestLine {
        /// The line (cut to 80 characters).
        line: String,
    },
    /// `Content-Length` is not a number, or more bytes were promised than
    /// the file holds.
    #[error("Content-Length {declared:?} does not fit the {present} body bytes in the file")]
    BadLength {
        /// The header's value.
        declared: String,
        /// The bytes after the headers.
        present: usize,
    },
    /// A chunked body that does not decode.
    #[error("the chunked body is malformed: {0}")]
    BadChunks(&'static str),
}

/// A raw request, parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// `POST`, usually.
    pub method: String,
    /// The request target, e.g. `/webhooks/brainsait`.
    pub target: String,
    /// The headers in received order.
    pub headers: Vec<(String, String)>,
    /// The body (de-chunked when it was sent chunked).
    pub body: Vec<u8>,
}

fn cut(line: &str) -> String {
    line.chars().take(80).collect()
}

/// One `name: value` line (surrounding whitespace trimmed).
pub fn header_line(line: &str) -> Result<(String, String), CaptureError> {
    match line.split_once(':') {
        Some((name, value)) if !name.trim().is_empty() && !name.trim().contains(' ') => {
            Ok((name.trim().to_string(), value.trim().to_string()))
        }
        _ => Err(CaptureError::BadHeader { line: cut(line) }),
    }
}

/// A headers file: one `name: value` per line; blank lines and `#`
/// comments are skipped, and so is a leading HTTP request or status line,
/// so `curl -D` output and a request's head both work.
pub fn headers_file(text: &str) -> Result<Vec<(String, String)>, CaptureError> {
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        if i == 0 && (line.contains(" HTTP/") || line.starts_with("HTTP/")) {
            continue;
        }
        if out.len() == MAX_HEADERS {
            return Err(CaptureError::TooManyHeaders);
        }
        out.push(header_line(line)?);
    }
    Ok(out)
}

/// A raw HTTP/1.x request: request line, headers, blank line, body. Lines
/// may end in CRLF or LF. The body is cut to `Content-Length` when one is
/// given and de-chunked when `Transfer-Encoding: chunked`.
pub fn raw_request(bytes: &[u8]) -> Result<Request, CaptureError> {
    let (head_len, sep_len) = find_head_end(bytes).ok_or(CaptureError::NoHeaderEnd)?;
    let head = String::from_utf8_lossy(&bytes[..head_len]);
    let rest = &bytes[head_len + sep_len..];
    let mut lines = head.lines();
    let first = lines.next().unwrap_or_default().trim();
    let mut parts = first.split_whitespace();
    let (Some(method), Some(target), Some(version)) = (parts.next(), parts.next(), parts.next())
    else {
        return Err(CaptureError::BadRequestLine { line: cut(first) });
    };
    if !version.starts_with("HTTP/1.") {
        return Err(CaptureError::BadRequestLine { line: cut(first) });
    }
    let mut headers = Vec::new();
    for line in lines {
        if headers.len() == MAX_HEADERS {
            return Err(CaptureError::TooManyHeaders);
        }
        headers.push(header_line(line)?);
    }
    let get = |name: &str| {
        headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    };
    let body = if get("transfer-encoding").is_some_and(|v| v.eq_ignore_ascii_case("chunked")) {
        dechunk(rest)?
    } else if let Some(declared) = get("content-length") {
        match declared.parse::<usize>() {
            Ok(n) if n <= rest.len() => rest[..n].to_vec(),
            _ => {
                return Err(CaptureError::BadLength {
                    declared: cut(declared),
                    present: rest.len(),
                })
            }
        }
    } else {
        rest.to_vec()
    };
    Ok(Request {
        method: method.to_string(),
        target: target.to_string(),
        headers,
        body,
    })
}

/// Where the head ends: (its length, the separator's length).
fn find_head_end(bytes: &[u8]) -> Option<(usize, usize)> {
    let crlf = bytes.windows(4).position(|w| w == b"\r\n\r\n");
    let lf = bytes.windows(2).position(|w| w == b"\n\n");
    match (crlf, lf) {
        (Some(c), Some(l)) if l < c => Some((l, 2)),
        (Some(c), _) => Some((c, 4)),
        (None, Some(l)) => Some((l, 2)),
        (None, None) => None,
    }
}

fn dechunk(mut rest: &[u8]) -> Result<Vec<u8>, CaptureError> {
    let mut out = Vec::with_capacity(rest.len());
    loop {
        let line_end = rest
            .windows(2)
            .position(|w| w == b"\r\n")
            .ok_or(CaptureError::BadChunks("a chunk size line has no CRLF"))?;
        let size_text = std::str::from_utf8(&rest[..line_end])
            .map_err(|_| CaptureError::BadChunks("a chunk size is not text"))?;
        // Chunk extensions (`;name=value`) carry nothing we need.
        let size_text = size_text.split(';').next().unwrap_or_default().trim();
        let size = usize::from_str_radix(size_text, 16)
            .map_err(|_| CaptureError::BadChunks("a chunk size is not hexadecimal"))?;
        rest = &rest[line_end + 2..];
        if size == 0 {
            return Ok(out);
        }
        if rest.len() < size + 2 || &rest[size..size + 2] != b"\r\n" {
            return Err(CaptureError::BadChunks("a chunk is shorter than its size"));
        }
        out.extend_from_slice(&rest[..size]);
        rest = &rest[size + 2..];
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_lines_and_files() {
        assert_eq!(
            header_line(" webhook-id :  evt_1 ").unwrap(),
            ("webhook-id".to_string(), "evt_1".to_string())
        );
        assert!(header_line("no colon").is_err());
        assert!(header_line(": empty name").is_err());
        let h = headers_file("HTTP/1.1 200 OK\n# a comment\n\nA: 1\r\nB: x:y\n").unwrap();
        assert_eq!(
            h,
            vec![("A".into(), "1".into()), ("B".into(), "x:y".into())]
        );
        let many = "A: 1\n".repeat(MAX_HEADERS + 1);
        assert_eq!(headers_file(&many), Err(CaptureError::TooManyHeaders));
    }

    #[test]
    fn raw_requests() {
        let r = raw_request(
            b"POST /webhooks/brainsait HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{}trailing",
        )
        .unwrap();
        assert_eq!(r.method, "POST");
        assert_eq!(r.target, "/webhooks/brainsait");
        assert_eq!(r.headers.len(), 2);
        assert_eq!(r.body, b"{}");
        // LF line ends, no length: the rest is the body.
        let r = raw_request(b"POST / HTTP/1.1\nA: b\n\n{\"a\":1}").unwrap();
        assert_eq!(r.body, b"{\"a\":1}");
        // Chunked.
        let r = raw_request(
            b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3\r\n{\"a\r\n4;x=y\r\n\":1}\r\n0\r\n\r\n",
        )
        .unwrap();
        assert_eq!(r.body, b"{\"a\":1}");
        assert_eq!(
            raw_request(b"POST / HTTP/1.1\r\nContent-Length: 9\r\n\r\n{}"),
            Err(CaptureError::BadLength {
                declared: "9".into(),
                present: 2
            })
        );
        assert_eq!(raw_request(b"{}"), Err(CaptureError::NoHeaderEnd));
        assert!(matches!(
            raw_request(b"hello\r\n\r\n"),
            Err(CaptureError::BadRequestLine { .. })
        ));
        assert!(matches!(
            raw_request(b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n"),
            Err(CaptureError::BadChunks(_))
        ));
    }
}
