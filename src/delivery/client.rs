//! The outbound HTTP client that delivers webhooks.
//!
//! Endpoint URLs are tenant-controlled and receivers are untrusted, so this
//! client is built defensively around one shared [`ureq::Agent`]:
//!
//! - **SSRF guard at connect time.** A custom resolver resolves the host and
//!   refuses the whole request if *any* address it would dial is refused by
//!   the [`IpPolicy`]. Checking the addresses actually dialled (rather than
//!   the URL text) closes DNS-rebinding and odd IPv4 spellings
//!   (`2130706433`, `0x7f000001`, `0177.0.0.1`, `127.1`), which ureq's URL
//!   parser keeps as host *names* and the system resolver turns into
//!   127.0.0.1.
//! - **No redirects.** A 3xx is the receiver's answer, recorded and never
//!   followed: following would re-POST signed tenant data to whatever host
//!   the receiver names (the resolver would still refuse internal ones).
//! - **No proxies from the environment.** A proxy resolves the target itself,
//!   so it would bypass the resolver check.
//! - **Bounded time and memory.** One deadline covers the whole attempt
//!   (resolve, connect, send, headers, body excerpt) and at most
//!   `max_response_bytes` of the body are kept; the rest is never read.
//! - **Keep-alive that works.** ureq's pool defaults (3 idle per host) are far
//!   below a worker count, which makes every request open a new connection.

use crate::domain::netguard::{Forbidden, IpPolicy};

use std::fmt;
use std::io::{self, Read};
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use ureq::config::Config;
use ureq::http::{HeaderValue, Uri};
use ureq::unversioned::resolver::{DefaultResolver, ResolvedSocketAddrs, Resolver};
use ureq::unversioned::transport::{DefaultConnector, NextTimeout};
use ureq::Agent;

/// Settings of the delivery client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientConfig {
    /// Deadline for the whole attempt: resolving, connecting, sending the
    /// request, receiving the headers and reading the body excerpt.
    pub request_timeout: Duration,
    /// Deadline for resolving the host and for establishing the TCP (and TLS)
    /// connection; `request_timeout` still applies on top.
    pub connect_timeout: Duration,
    /// How much of a response body is kept (and read) at most.
    pub max_response_bytes: usize,
    /// Idle keep-alive connections kept, in total and per host. Set it to at
    /// least the number of worker threads sharing the client, or workers
    /// will keep opening fresh connections to the same receiver.
    pub pool_size: usize,
    /// The `User-Agent` sent with every request.
    pub user_agent: String,
    /// Which addresses may be connected to.
    pub policy: IpPolicy,
}

impl Default for ClientConfig {
    fn default() -> Self {
        Self {
            request_timeout: Duration::from_secs(15),
            connect_timeout: Duration::from_secs(5),
            max_response_bytes: 16 * 1024,
            pool_size: 16,
            user_agent: crate::wire::headers::USER_AGENT.to_string(),
            policy: IpPolicy::default(),
        }
    }
}

/// A [`ClientConfig`] that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ClientConfigError {
    /// The user agent is not a valid HTTP header value. Checked up front
    /// because ureq unwraps it on every request and would panic.
    #[error("invalid user agent {0:?}: not a valid HTTP header value")]
    UserAgent(String),
    /// A zero timeout would fail every request immediately.
    #[error("{0} must be greater than zero")]
    ZeroTimeout(&'static str),
}

/// What kind of failure a delivery attempt hit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorKind {
    /// The attempt ran out of time (any phase, including reading the body).
    Timeout,
    /// The TCP connection could not be established (refused, unreachable) or
    /// was lost (reset, closed) before the response was complete.
    Connect,
    /// The host name did not resolve.
    Dns,
    /// TLS handshake or certificate failure.
    Tls,
    /// The host resolves to an address the IP policy refuses; nothing was
    /// dialled.
    BlockedAddress,
    /// The response headers exceed ureq's 64 KiB cap. (A large *body* is not
    /// an error: it is truncated, see [`Response::truncated`].)
    TooLarge,
    /// The receiver did not speak valid HTTP/1.1.
    Protocol,
    /// Anything else, e.g. an invalid URL or request header.
    Other,
}

impl ErrorKind {
    /// A stable snake_case name, for storage, metrics and the UI.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::Timeout => "timeout",
            ErrorKind::Connect => "connect",
            ErrorKind::Dns => "dns",
            ErrorKind::Tls => "tls",
            ErrorKind::BlockedAddress => "blocked_address",
            ErrorKind::TooLarge => "too_large",
            ErrorKind::Protocol => "protocol",
            ErrorKind::Other => "other",
        }
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a delivery attempt failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{kind}: {message}")]
pub struct SendError {
    /// The category, for retry decisions and statistics.
    pub kind: ErrorKind,
    /// A human-readable detail, for the attempt log.
    pub message: String,
}

/// The outcome of one delivery attempt.
///
/// `status` is `Some` whenever response headers arrived. `error` may be set
/// together with a status when reading the body failed afterwards (e.g. a
/// receiver that answers 200 and then trickles its body past the deadline);
/// `body_excerpt` then holds what arrived in time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    /// The HTTP status code, if response headers were received.
    pub status: Option<u16>,
    /// Response headers in received order (values decoded lossily as UTF-8).
    pub headers: Vec<(String, String)>,
    /// The start of the response body, at most `max_response_bytes` long.
    pub body_excerpt: Vec<u8>,
    /// True if the body was longer than `max_response_bytes`; the rest was
    /// not read and the connection was closed.
    pub truncated: bool,
    /// Time from the start of the attempt until it finished (excerpt read or
    /// error).
    pub latency: Duration,
    /// Set if the attempt failed; see the type-level note.
    pub error: Option<SendError>,
}

/// The webhook sender: one shared ureq agent with the SSRF guard.
///
/// Cloning is cheap (the agent and its connection pool are reference
/// counted): give each worker thread a clone and they share keep-alive
/// connections.
#[derive(Clone)]
pub struct DeliveryClient {
    agent: Agent,
    max_response_bytes: usize,
}

impl fmt::Debug for DeliveryClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DeliveryClient")
            .field("max_response_bytes", &self.max_response_bytes)
            .finish_non_exhaustive()
    }
}

impl DeliveryClient {
    /// Builds the client and its agent.
    pub fn new(config: ClientConfig) -> Result<Self, ClientConfigError> {
        if HeaderValue::from_str(&config.user_agent).is_err() {
            return Err(ClientConfigError::UserAgent(config.user_agent));
        }
        if config.request_timeout.is_zero() {
            return Err(ClientConfigError::ZeroTimeout("request_timeout"));
        }
        if config.connect_timeout.is_zero() {
            return Err(ClientConfigError::ZeroTimeout("connect_timeout"));
        }

        let agent_config = Config::builder()
            // A 3xx is a result to record. With 0, ureq returns the 3xx as a
            // response (it never raises TooManyRedirects for 0); the second
            // setting only matters should someone raise the first.
            .max_redirects(0)
            .max_redirects_will_error(false)
            // Env proxies (HTTP(S)_PROXY, ALL_PROXY) would resolve the target
            // host themselves and bypass the resolver's policy check.
            .proxy(None)
            // 4xx/5xx are answers to record, not transport errors.
            .http_status_as_error(false)
            // ureq has no timeouts by default. `global` is the hard bound on
            // the attempt and keeps running while we read the body; the
            // others are explicit phase budgets under it.
            .timeout_global(Some(config.request_timeout))
            .timeout_resolve(Some(config.connect_timeout))
            .timeout_connect(Some(config.connect_timeout))
            .timeout_recv_body(Some(config.request_timeout))
            // Defaults are 10 idle in total and 3 per host: with more workers
            // than that, returned connections are evicted and every request
            // pays a new TCP (and TLS) handshake.
            .max_idle_connections(config.pool_size)
            .max_idle_connections_per_host(config.pool_size)
            .user_agent(config.user_agent.as_str())
            // We keep a raw excerpt for the attempt log; asking for gzip only
            // costs CPU and invites compression bombs.
            .accept_encoding(ureq::config::AutoHeaderValue::None)
            .build();

        let resolver = GuardedResolver {
            policy: config.policy,
            inner: DefaultResolver::default(),
        };
        let agent = Agent::with_parts(agent_config, DefaultConnector::new(), resolver);

        Ok(Self {
            agent,
            max_response_bytes: config.max_response_bytes,
        })
    }

    /// POSTs `body` with `headers` to `url` and reports what happened.
    ///
    /// Never panics on receiver behaviour and never takes longer than
    /// `request_timeout` (plus scheduling noise). A redirect is returned as
    /// is. At most `max_response_bytes` of the response body are read; a
    /// longer body is cut off and its connection closed rather than drained.
    pub fn send(&self, url: &str, headers: &[(&str, &str)], body: &[u8]) -> Response {
        let started = Instant::now();
        let mut request = self.agent.post(url);
        for (name, value) in headers {
            // Invalid names/values are reported by `send` as Error::Http.
            request = request.header(*name, *value);
        }

        let mut response = match request.send(body) {
            Ok(r) => r,
            Err(e) => {
                return Response {
                    status: None,
                    headers: Vec::new(),
                    body_excerpt: Vec::new(),
                    truncated: false,
                    latency: started.elapsed(),
                    error: Some(classify(e)),
                }
            }
        };

        let status = response.status().as_u16();
        let header_list = response
            .headers()
            .iter()
            .map(|(name, value)| {
                (
                    name.as_str().to_string(),
                    String::from_utf8_lossy(value.as_bytes()).into_owned(),
                )
            })
            .collect();

        let (body_excerpt, truncated, error) =
            read_excerpt(response.body_mut().as_reader(), self.max_response_bytes);
        // Dropping the response here closes the connection if the body was
        // not read to its end; a fully read body has already returned its
        // connection to the pool.
        drop(response);

        Response {
            status: Some(status),
            headers: header_list,
            body_excerpt,
            truncated,
            latency: started.elapsed(),
            error,
        }
    }
}

/// Reads at most `cap` bytes of body, plus one byte to learn whether more
/// follows. Returns (excerpt, truncated, error).
///
/// Reading to the end of a short body matters: only a body read to its end
/// lets ureq return the connection to the pool.
fn read_excerpt(reader: impl Read, cap: usize) -> (Vec<u8>, bool, Option<SendError>) {
    let limit = u64::try_from(cap).unwrap_or(u64::MAX).saturating_add(1);
    let mut excerpt = Vec::new();
    // `read_to_end` keeps the bytes read before an error in `excerpt`, so a
    // trickling receiver still leaves what it sent before the deadline.
    let error = match reader.take(limit).read_to_end(&mut excerpt) {
        Ok(_) => None,
        // ureq wraps its own errors in io::Error for the Read impl; From
        // unwraps them again so timeouts keep their kind.
        Err(e) => Some(classify(ureq::Error::from(e))),
    };
    let truncated = excerpt.len() > cap;
    excerpt.truncate(cap);
    (excerpt, truncated, error)
}

/// Maps a ureq error onto our stable kinds.
fn classify(err: ureq::Error) -> SendError {
    use ureq::Error as E;
    let kind = match &err {
        E::Timeout(_) => ErrorKind::Timeout,
        E::HostNotFound => ErrorKind::Dns,
        E::Other(inner) => match inner.downcast_ref::<GuardError>() {
            Some(GuardError::Blocked { .. }) => ErrorKind::BlockedAddress,
            Some(GuardError::Dns { .. }) => ErrorKind::Dns,
            None => ErrorKind::Other,
        },
        E::Io(io_err) => classify_io(io_err.kind()),
        // The connector chain produced nothing: nothing was connected.
        E::ConnectionFailed => ErrorKind::Connect,
        E::Tls(_) | E::Rustls(_) | E::Pem(_) | E::TlsRequired => ErrorKind::Tls,
        // Malformed status line, headers or chunking, a body that stops
        // producing data, or a broken gzip stream the receiver sent unasked.
        E::Protocol(_) | E::BodyStalled | E::Decompress(..) => ErrorKind::Protocol,
        // Response headers over ureq's 64 KiB cap. Reported as too_large
        // rather than protocol: it is the one size limit that fails an
        // attempt (an oversized body is truncated instead), and a receiver
        // sending 64 KiB of headers is a size problem, not malformed HTTP.
        E::LargeResponseHeader(..) => ErrorKind::TooLarge,
        // Invalid URL or header, or settings we never enable (status as
        // error, https only, redirects, proxies, body limits).
        _ => ErrorKind::Other,
    };
    let message = match &err {
        E::Other(inner) => inner.to_string(),
        other => other.to_string(),
    };
    SendError { kind, message }
}

fn classify_io(kind: io::ErrorKind) -> ErrorKind {
    use io::ErrorKind as K;
    match kind {
        // ureq normalises socket timeouts to Error::Timeout; these are a
        // fallback should one slip through as plain io.
        K::TimedOut | K::WouldBlock => ErrorKind::Timeout,
        // Could not connect, or the connection died under us (including the
        // receiver closing it before a complete response: "Peer
        // disconnected" is UnexpectedEof).
        K::ConnectionRefused
        | K::ConnectionReset
        | K::ConnectionAborted
        | K::NotConnected
        | K::BrokenPipe
        | K::UnexpectedEof
        | K::HostUnreachable
        | K::NetworkUnreachable
        | K::NetworkDown
        | K::AddrNotAvailable
        | K::AddrInUse => ErrorKind::Connect,
        K::InvalidData => ErrorKind::Protocol,
        _ => ErrorKind::Other,
    }
}

/// Errors raised by [`GuardedResolver`], carried through ureq as
/// `Error::Other` and recognised again by [`classify`].
#[derive(Debug, thiserror::Error)]
enum GuardError {
    #[error("{host}: address {addr} is {}, which the IP policy does not allow", reason.as_str())]
    Blocked {
        host: String,
        addr: IpAddr,
        reason: Forbidden,
    },
    // The default resolver reports lookup failures as plain io errors,
    // indistinguishable from socket errors later on; wrapping them keeps
    // them classified as DNS.
    #[error("cannot resolve {host}: {detail}")]
    Dns { host: String, detail: String },
}

/// ureq resolver that applies the [`IpPolicy`] to every address it hands
/// to the connector.
///
/// The connector only dials what the resolver returns and ureq resolves
/// before every request (pooled or not), so this is the single choke point.
/// Built on ureq's `unversioned` API, which may change in minor releases:
/// hence the `~3.5` pin.
#[derive(Debug)]
struct GuardedResolver {
    policy: IpPolicy,
    inner: DefaultResolver,
}

impl Resolver for GuardedResolver {
    fn resolve(
        &self,
        uri: &Uri,
        config: &Config,
        timeout: NextTimeout,
    ) -> Result<ResolvedSocketAddrs, ureq::Error> {
        let host = uri.host().unwrap_or_default();

        // Strict IP literals (dotted quad, bracketed v6) need no lookup.
        // Skipping the default resolver here avoids the thread it spawns per
        // lookup whenever a timeout is set. Anything std does not parse
        // (including `127.1` and `0x7f000001`) goes through the system
        // resolver and is checked below like any name.
        let literal = match (uri.scheme(), uri.authority()) {
            (Some(scheme), Some(authority)) => DefaultResolver::host_and_port(scheme, authority)
                .and_then(|s| s.parse::<SocketAddr>().ok()),
            _ => None,
        };

        let resolved = match literal {
            Some(addr) => {
                let mut one = self.empty();
                one.push(addr);
                one
            }
            None => match self.inner.resolve(uri, config, timeout) {
                Ok(addrs) => addrs,
                Err(e @ (ureq::Error::Timeout(_) | ureq::Error::BadUri(_))) => return Err(e),
                Err(e) => {
                    return Err(ureq::Error::Other(Box::new(GuardError::Dns {
                        host: host.to_string(),
                        detail: e.to_string(),
                    })))
                }
            },
        };

        let mut allowed = self.empty();
        for addr in resolved.iter() {
            // Fold ::ffff:a.b.c.d into a.b.c.d so the v4 rules judge it, and
            // dial the canonical form so what is checked is what connects.
            let ip = addr.ip().to_canonical();
            if let Err(reason) = self.policy.check(ip) {
                log::debug!("refusing {host}: {ip} is {}", reason.as_str());
                // One bad address refuses the whole request: otherwise a
                // tenant could list a public and an internal address and
                // reach the internal one whenever the public one fails.
                return Err(ureq::Error::Other(Box::new(GuardError::Blocked {
                    host: host.to_string(),
                    addr: ip,
                    reason,
                })));
            }
            allowed.push(SocketAddr::new(ip, addr.port()));
        }
        if allowed.is_empty() {
            // The Resolver contract: at least one address or HostNotFound.
            return Err(ureq::Error::HostNotFound);
        }
        Ok(allowed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{BufRead, BufReader, Write};
    use std::net::{TcpListener, TcpStream};
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::mpsc;
    use std::sync::{Arc, Mutex};
    use std::thread;

    fn loopback_policy() -> IpPolicy {
        IpPolicy::new(IpPolicy::parse_list("127.0.0.0/8, ::1").expect("valid list"))
    }

    fn client_with(policy: IpPolicy, timeout: Duration, max_bytes: usize) -> DeliveryClient {
        DeliveryClient::new(ClientConfig {
            request_timeout: timeout,
            connect_timeout: Duration::from_secs(2),
            max_response_bytes: max_bytes,
            pool_size: 8,
            user_agent: "Herald-test/1".to_string(),
            policy,
        })
        .expect("valid config")
    }

    fn kind(r: &Response) -> Option<ErrorKind> {
        r.error.as_ref().map(|e| e.kind)
    }

    /// A request as the test server saw it.
    #[derive(Debug, Clone)]
    struct SeenRequest {
        /// Request line and headers, lowercased for easy matching.
        head: String,
        path: String,
        body: Vec<u8>,
    }

    /// Reads one request; `None` on a clean EOF between requests.
    fn read_request(reader: &mut BufReader<TcpStream>) -> io::Result<Option<SeenRequest>> {
        let mut head = String::new();
        loop {
            let mut line = String::new();
            if reader.read_line(&mut line)? == 0 {
                return Ok(None);
            }
            if line == "\r\n" {
                break;
            }
            head.push_str(&line.to_ascii_lowercase());
        }
        let path = head
            .split_whitespace()
            .nth(1)
            .unwrap_or_default()
            .to_string();
        let length = head
            .lines()
            .find_map(|l| l.strip_prefix("content-length:"))
            .and_then(|v| v.trim().parse::<usize>().ok())
            .unwrap_or(0);
        let mut body = vec![0; length];
        reader.read_exact(&mut body)?;
        Ok(Some(SeenRequest { head, path, body }))
    }

    /// A keep-alive HTTP/1.1 server; `respond` builds the raw response bytes.
    struct TestServer {
        port: u16,
        connections: Arc<AtomicUsize>,
        requests: Arc<Mutex<Vec<SeenRequest>>>,
    }

    fn spawn_server(respond: fn(&SeenRequest) -> Vec<u8>) -> TestServer {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let connections = Arc::new(AtomicUsize::new(0));
        let requests = Arc::new(Mutex::new(Vec::new()));
        let (conns, reqs) = (connections.clone(), requests.clone());
        thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { continue };
                conns.fetch_add(1, Ordering::SeqCst);
                let reqs = reqs.clone();
                thread::spawn(move || {
                    let Ok(mut writer) = stream.try_clone() else {
                        return;
                    };
                    let mut reader = BufReader::new(stream);
                    while let Ok(Some(req)) = read_request(&mut reader) {
                        let out = respond(&req);
                        reqs.lock().expect("lock").push(req);
                        if writer.write_all(&out).is_err() {
                            return;
                        }
                    }
                });
            }
        });
        TestServer {
            port,
            connections,
            requests,
        }
    }

    #[test]
    fn error_kind_names_are_stable() {
        let table = [
            (ErrorKind::Timeout, "timeout"),
            (ErrorKind::Connect, "connect"),
            (ErrorKind::Dns, "dns"),
            (ErrorKind::Tls, "tls"),
            (ErrorKind::BlockedAddress, "blocked_address"),
            (ErrorKind::TooLarge, "too_large"),
            (ErrorKind::Protocol, "protocol"),
            (ErrorKind::Other, "other"),
        ];
        for (k, name) in table {
            assert_eq!(k.as_str(), name);
            assert_eq!(k.to_string(), name);
        }
    }

    #[test]
    fn rejects_unusable_config() {
        let bad_ua = ClientConfig {
            user_agent: "bad\nagent".to_string(),
            ..ClientConfig::default()
        };
        assert!(matches!(
            DeliveryClient::new(bad_ua),
            Err(ClientConfigError::UserAgent(_))
        ));
        let zero = ClientConfig {
            request_timeout: Duration::ZERO,
            ..ClientConfig::default()
        };
        assert!(matches!(
            DeliveryClient::new(zero),
            Err(ClientConfigError::ZeroTimeout("request_timeout"))
        ));
    }

    #[test]
    fn agent_settings_override_ureq_defaults() {
        let client = client_with(IpPolicy::default(), Duration::from_secs(3), 1024);
        let c = client.agent.config();
        assert!(c.proxy().is_none());
        assert_eq!(c.max_redirects(), 0);
        assert!(!c.http_status_as_error());
        assert_eq!(c.max_idle_connections(), 8);
        assert_eq!(c.max_idle_connections_per_host(), 8);
        let t = c.timeouts();
        assert_eq!(t.global, Some(Duration::from_secs(3)));
        assert_eq!(t.connect, Some(Duration::from_secs(2)));
        assert_eq!(t.recv_body, Some(Duration::from_secs(3)));
    }

    /// Test 1: headers and body arrive, status and excerpt come back, and
    /// keep-alive reuses connections.
    #[test]
    fn delivers_and_reuses_connections() {
        fn ok(_: &SeenRequest) -> Vec<u8> {
            b"HTTP/1.1 200 OK\r\nContent-Length: 8\r\nX-Receiver: yes\r\n\r\nreceived".to_vec()
        }
        let server = spawn_server(ok);
        let client = client_with(loopback_policy(), Duration::from_secs(5), 16 * 1024);
        let url = format!("http://127.0.0.1:{}/hook", server.port);
        let headers = [
            ("content-type", "application/json"),
            ("webhook-id", "msg_1"),
        ];

        let first = client.send(&url, &headers, br#"{"n":1}"#);
        assert_eq!(first.error, None);
        assert_eq!(first.status, Some(200));
        assert_eq!(first.body_excerpt, b"received");
        assert!(!first.truncated);
        assert!(first
            .headers
            .iter()
            .any(|(k, v)| k == "x-receiver" && v == "yes"));
        {
            let seen = server.requests.lock().expect("lock");
            let req = &seen[0];
            assert!(req.head.starts_with("post /hook http/1.1"), "{}", req.head);
            assert!(req.head.contains("content-type: application/json"));
            assert!(req.head.contains("webhook-id: msg_1"));
            assert!(req.head.contains("user-agent: herald-test/1"));
            assert!(!req.head.contains("accept-encoding"));
            assert_eq!(req.body, br#"{"n":1}"#);
        }

        // 199 more from one thread: all on the same connection.
        for _ in 0..199 {
            let r = client.send(&url, &headers, b"{}");
            assert_eq!((r.status, kind(&r)), (Some(200), None));
        }
        let sequential = server.connections.load(Ordering::SeqCst);
        eprintln!("200 sequential requests used {sequential} connection(s)");
        assert_eq!(sequential, 1);

        // 4 workers x 50 sharing clones of the client: bounded by pool size.
        let workers: Vec<_> = (0..4)
            .map(|_| {
                let (client, url) = (client.clone(), url.clone());
                thread::spawn(move || {
                    for _ in 0..50 {
                        let r = client.send(&url, &[], b"{}");
                        assert_eq!((r.status, kind(&r)), (Some(200), None));
                    }
                })
            })
            .collect();
        for w in workers {
            w.join().expect("worker");
        }
        let total = server.connections.load(Ordering::SeqCst);
        eprintln!("+200 requests from 4 threads: {total} connection(s) in total");
        assert!(total <= 1 + 4, "{total} connections");
        assert_eq!(server.requests.lock().expect("lock").len(), 400);
    }

    /// Test 2: a 3xx is returned as is and its Location never contacted.
    #[test]
    fn redirects_are_results_not_followed() {
        fn redirect(req: &SeenRequest) -> Vec<u8> {
            let code = req.path.trim_start_matches('/');
            // The target port travels in the query so the handler can stay a fn.
            let target = req.path.split('=').nth(1).unwrap_or("1");
            let code = code.split('?').next().unwrap_or("302");
            format!(
                "HTTP/1.1 {code} Moved\r\nLocation: http://127.0.0.1:{target}/\r\nContent-Length: 5\r\n\r\nmoved"
            )
            .into_bytes()
        }
        let canary = TcpListener::bind("127.0.0.1:0").expect("bind");
        let canary_port = canary.local_addr().expect("addr").port();
        let server = spawn_server(redirect);
        let client = client_with(loopback_policy(), Duration::from_secs(5), 1024);

        for code in [301u16, 302, 303, 307, 308] {
            let url = format!("http://127.0.0.1:{}/{code}?to={canary_port}", server.port);
            let r = client.send(&url, &[], b"payload");
            assert_eq!(r.error, None, "{code}");
            assert_eq!(r.status, Some(code));
            assert_eq!(r.body_excerpt, b"moved");
            let location = r.headers.iter().find(|(k, _)| k == "location");
            assert_eq!(
                location.map(|(_, v)| v.as_str()),
                Some(format!("http://127.0.0.1:{canary_port}/").as_str())
            );
        }
        canary.set_nonblocking(true).expect("nonblocking");
        let probe = canary.accept();
        assert!(
            matches!(&probe, Err(e) if e.kind() == io::ErrorKind::WouldBlock),
            "redirect target was contacted: {probe:?}"
        );
        // Redirect responses with bodies read to the end keep the connection.
        assert_eq!(server.connections.load(Ordering::SeqCst), 1);
    }

    /// Test 3: internal addresses in any spelling are refused before dialling.
    #[test]
    fn ssrf_guard_refuses_internal_addresses_before_connecting() {
        let canary = TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = canary.local_addr().expect("addr").port();
        let hosts = [
            "127.0.0.1",
            "localhost",
            "2130706433",
            "0x7f000001",
            "0177.0.0.1",
            "127.1",
            "[::1]",
            "[::ffff:127.0.0.1]",
            "0.0.0.0",
            "169.254.169.254",
            "10.0.0.1",
            "0",
            "0x7f.1",
            "[::]",
            "[0:0:0:0:0:ffff:7f00:1]",
            "[::127.0.0.1]",
            "[::ffff:0:7f00:1]",
            "[::ffff:0:a9fe:a9fe]",
            "[::ff:7f00:1]",
            "[::1:7f00:1]",
            "[64:ff9b:1::7f00:1]",
        ];
        let client = client_with(IpPolicy::default(), Duration::from_secs(5), 1024);
        for host in hosts {
            let url = format!("http://{host}:{port}/");
            let r = client.send(&url, &[], b"{}");
            assert_eq!(kind(&r), Some(ErrorKind::BlockedAddress), "{host}: {r:?}");
            assert_eq!(r.status, None);
            if let Some(e) = &r.error {
                eprintln!("{host:>20} -> {}", e.message);
            }
        }
        // Trailing-dot names resolve or not depending on the system resolver
        // (here they fail): either way they must not be dialled.
        for host in ["127.0.0.1.", "localhost."] {
            let r = client.send(&format!("http://{host}:{port}/"), &[], b"{}");
            let k = kind(&r);
            assert!(
                matches!(k, Some(ErrorKind::BlockedAddress | ErrorKind::Dns)),
                "{host}: {r:?}"
            );
            eprintln!("{host:>20} -> {k:?}");
        }
        canary.set_nonblocking(true).expect("nonblocking");
        let probe = canary.accept();
        assert!(
            matches!(&probe, Err(e) if e.kind() == io::ErrorKind::WouldBlock),
            "canary was contacted: {probe:?}"
        );

        // With loopback allowed, the same canary is reached, both through
        // the literal fast path and through the system resolver.
        canary.set_nonblocking(false).expect("blocking");
        let answered = thread::spawn(move || {
            let mut served = 0;
            for _ in 0..2 {
                let Ok((stream, _)) = canary.accept() else {
                    break;
                };
                let Ok(mut writer) = stream.try_clone() else {
                    break;
                };
                let mut reader = BufReader::new(stream);
                if let Ok(Some(_)) = read_request(&mut reader) {
                    let _ =
                        writer.write_all(b"HTTP/1.1 204 No Content\r\nConnection: close\r\n\r\n");
                    served += 1;
                }
            }
            served
        });
        let allowed = client_with(loopback_policy(), Duration::from_secs(5), 1024);
        for host in ["127.0.0.1", "2130706433"] {
            let r = allowed.send(&format!("http://{host}:{port}/"), &[], b"{}");
            assert_eq!((r.status, kind(&r)), (Some(204), None), "{host}: {r:?}");
        }
        assert_eq!(answered.join().expect("canary thread"), 2);
    }

    /// Test 4: a 1 GiB body is cut at the cap, not drained.
    #[test]
    fn huge_body_is_truncated_and_connection_dropped() {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let (done_tx, done_rx) = mpsc::channel();
        thread::spawn(move || {
            let Ok((stream, _)) = listener.accept() else {
                return;
            };
            let Ok(mut writer) = stream.try_clone() else {
                return;
            };
            let mut reader = BufReader::new(stream);
            let _ = read_request(&mut reader);
            const GIB: u64 = 1 << 30;
            let header = format!("HTTP/1.1 200 OK\r\nContent-Length: {GIB}\r\n\r\n");
            let chunk = vec![b'x'; 64 * 1024];
            let mut written = 0u64;
            let outcome = writer.write_all(header.as_bytes()).and_then(|_| {
                while written < GIB {
                    writer.write_all(&chunk)?;
                    written += chunk.len() as u64;
                }
                Ok(())
            });
            let _ = done_tx.send((written, outcome.map_err(|e| e.kind())));
        });

        let timeout = Duration::from_secs(5);
        let client = client_with(loopback_policy(), timeout, 16 * 1024);
        let started = Instant::now();
        let r = client.send(&format!("http://127.0.0.1:{port}/"), &[], b"{}");
        let elapsed = started.elapsed();
        assert_eq!(r.error, None);
        assert_eq!(r.status, Some(200));
        assert_eq!(r.body_excerpt.len(), 16 * 1024);
        assert!(r.truncated);
        assert!(elapsed < timeout, "took {elapsed:?}");

        let (written, outcome) = done_rx
            .recv_timeout(Duration::from_secs(5))
            .expect("server noticed the disconnect");
        eprintln!(
            "1 GiB body: send took {elapsed:?}; server wrote {written} bytes, then {outcome:?}"
        );
        assert!(outcome.is_err(), "server wrote the whole GiB");
        assert!(written < 64 << 20, "client read far too much: {written}");
    }

    fn assert_timeout_in_window(r: &Response, elapsed: Duration, what: &str) {
        eprintln!("{what}: {:?} after {elapsed:?}", r.error);
        assert_eq!(kind(r), Some(ErrorKind::Timeout), "{what}: {r:?}");
        assert!(
            elapsed >= Duration::from_millis(900) && elapsed < Duration::from_millis(2500),
            "{what} took {elapsed:?}"
        );
    }

    /// Test 5a: a receiver that accepts and never answers.
    #[test]
    fn tarpit_times_out() {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let (closed_tx, closed_rx) = mpsc::channel();
        thread::spawn(move || {
            let Ok((mut stream, _)) = listener.accept() else {
                return;
            };
            // Swallow the request and wait for the client to give up.
            let mut sink = [0u8; 4096];
            while matches!(stream.read(&mut sink), Ok(n) if n > 0) {}
            let _ = closed_tx.send(());
        });
        let client = client_with(loopback_policy(), Duration::from_secs(1), 1024);
        let started = Instant::now();
        let r = client.send(&format!("http://127.0.0.1:{port}/"), &[], b"{}");
        assert_timeout_in_window(&r, started.elapsed(), "tarpit");
        assert_eq!(r.status, None);
        closed_rx
            .recv_timeout(Duration::from_secs(2))
            .expect("client closed the tarpit connection");
    }

    /// Serves one connection, writing `prefix` at once and then `trickle`
    /// one byte per second until the client hangs up.
    fn spawn_trickler(prefix: &'static [u8], trickle: &'static [u8]) -> u16 {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().expect("addr").port();
        thread::spawn(move || {
            let Ok((stream, _)) = listener.accept() else {
                return;
            };
            let Ok(mut writer) = stream.try_clone() else {
                return;
            };
            let mut reader = BufReader::new(stream);
            let _ = read_request(&mut reader);
            if writer.write_all(prefix).is_err() {
                return;
            }
            for byte in trickle {
                if writer.write_all(std::slice::from_ref(byte)).is_err() {
                    return;
                }
                thread::sleep(Duration::from_secs(1));
            }
        });
        port
    }

    /// Test 5b: a receiver trickling its response one byte per second.
    #[test]
    fn trickled_response_times_out() {
        let port = spawn_trickler(b"", b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
        let client = client_with(loopback_policy(), Duration::from_secs(1), 1024);
        let started = Instant::now();
        let r = client.send(&format!("http://127.0.0.1:{port}/"), &[], b"{}");
        assert_timeout_in_window(&r, started.elapsed(), "trickled headers");
        assert_eq!(r.status, None);
    }

    /// Test 5c: prompt headers, then a body at one byte per second: the
    /// deadline covers the body too, and what arrived is kept.
    #[test]
    fn trickled_body_times_out_with_status() {
        let port = spawn_trickler(
            b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n",
            &[b'z'; 100],
        );
        let client = client_with(loopback_policy(), Duration::from_secs(1), 1024);
        let started = Instant::now();
        let r = client.send(&format!("http://127.0.0.1:{port}/"), &[], b"{}");
        assert_timeout_in_window(&r, started.elapsed(), "trickled body");
        assert_eq!(r.status, Some(200));
        assert!(!r.body_excerpt.is_empty() && r.body_excerpt.len() <= 3);
        assert!(!r.truncated);
    }

    /// Test 6a: nothing listening.
    #[test]
    fn refused_connection_is_connect() {
        let port = {
            let l = TcpListener::bind("127.0.0.1:0").expect("bind");
            l.local_addr().expect("addr").port()
        };
        let client = client_with(loopback_policy(), Duration::from_secs(2), 1024);
        let r = client.send(&format!("http://127.0.0.1:{port}/"), &[], b"{}");
        eprintln!("refused: {:?}", r.error);
        assert_eq!(kind(&r), Some(ErrorKind::Connect), "{r:?}");
    }

    /// Test 6b: a name that cannot resolve. `.invalid` fails at once in this
    /// sandbox; should a resolver hang instead, the deadline turns it into a
    /// timeout, which is accepted but reported.
    #[test]
    fn unresolvable_host_is_dns() {
        let timeout = Duration::from_secs(3);
        let client = client_with(IpPolicy::default(), timeout, 1024);
        let started = Instant::now();
        let r = client.send("http://nonexistent.invalid/", &[], b"{}");
        let elapsed = started.elapsed();
        eprintln!("nonexistent.invalid: {:?} after {elapsed:?}", r.error);
        match kind(&r) {
            Some(ErrorKind::Dns) => {}
            Some(ErrorKind::Timeout) => assert!(elapsed < timeout + Duration::from_secs(1)),
            other => panic!("expected dns, got {other:?}: {r:?}"),
        }
    }

    #[test]
    fn oversized_headers_are_too_large() {
        fn fat(_: &SeenRequest) -> Vec<u8> {
            let mut out = b"HTTP/1.1 200 OK\r\n".to_vec();
            for i in 0..100 {
                out.extend_from_slice(format!("X-Pad-{i}: {}\r\n", "a".repeat(1000)).as_bytes());
            }
            out.extend_from_slice(b"Content-Length: 0\r\n\r\n");
            out
        }
        let server = spawn_server(fat);
        let client = client_with(loopback_policy(), Duration::from_secs(5), 1024);
        let r = client.send(&format!("http://127.0.0.1:{}/", server.port), &[], b"{}");
        assert_eq!(kind(&r), Some(ErrorKind::TooLarge), "{r:?}");
    }

    #[test]
    fn garbage_response_is_protocol() {
        fn garbage(_: &SeenRequest) -> Vec<u8> {
            b"SSH-2.0-OpenSSH_9.6\r\n\r\n".to_vec()
        }
        let server = spawn_server(garbage);
        let client = client_with(loopback_policy(), Duration::from_secs(5), 1024);
        let r = client.send(&format!("http://127.0.0.1:{}/", server.port), &[], b"{}");
        assert_eq!(kind(&r), Some(ErrorKind::Protocol), "{r:?}");
    }

    #[test]
    fn bad_request_input_is_other_not_a_panic() {
        let client = client_with(loopback_policy(), Duration::from_secs(5), 1024);
        let r = client.send("http://127.0.0.1:9/", &[("bad header", "x")], b"");
        assert_eq!(kind(&r), Some(ErrorKind::Other), "{r:?}");
        let r = client.send("not a url", &[], b"");
        assert_eq!(kind(&r), Some(ErrorKind::Other), "{r:?}");
        let r = client.send("ftp://example.com/", &[], b"");
        assert_eq!(kind(&r), Some(ErrorKind::Other), "{r:?}");
    }

    #[test]
    fn body_exactly_at_cap_is_not_truncated() {
        fn exact(_: &SeenRequest) -> Vec<u8> {
            b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nabcd".to_vec()
        }
        let server = spawn_server(exact);
        let client = client_with(loopback_policy(), Duration::from_secs(5), 4);
        for _ in 0..3 {
            let r = client.send(&format!("http://127.0.0.1:{}/", server.port), &[], b"");
            assert_eq!((r.status, kind(&r)), (Some(200), None));
            assert_eq!(r.body_excerpt, b"abcd");
            assert!(!r.truncated);
        }
        // Read to the end, so the connection went back to the pool.
        assert_eq!(server.connections.load(Ordering::SeqCst), 1);
    }
}
