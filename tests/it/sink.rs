//! Loopback receivers for tests: a programmable in-process HTTP sink, and
//! the seed's receivers (Node, Python) as child processes.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Sender};

/// A request the sink received.
#[derive(Debug, Clone)]
pub struct Received {
    pub path: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Received {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// How the sink answers.
#[derive(Debug, Clone)]
pub enum Reply {
    /// Status, extra headers, body.
    Status(u16, Vec<(String, String)>, String),
    /// Accept the request, never answer.
    Tarpit,
    /// 200 with a body of this many bytes, written until the peer leaves.
    Huge(u64),
    /// Send the response one byte every 200 ms.
    Trickle,
}

type Behaviour = dyn Fn(&Received) -> Reply + Send + Sync;

/// An in-process HTTP/1.1 receiver on 127.0.0.1 with keep-alive.
pub struct Sink {
    pub port: u16,
    rx: Receiver<Received>,
    /// TCP connections accepted.
    pub connections: Arc<AtomicUsize>,
    /// Requests read (whatever the reply).
    pub requests: Arc<AtomicUsize>,
}

impl Sink {
    pub fn start(behaviour: impl Fn(&Received) -> Reply + Send + Sync + 'static) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind sink");
        let port = listener.local_addr().unwrap().port();
        let (tx, rx) = crossbeam_channel::unbounded();
        let behaviour: Arc<Behaviour> = Arc::new(behaviour);
        let connections = Arc::new(AtomicUsize::new(0));
        let requests = Arc::new(AtomicUsize::new(0));
        let (c, r) = (connections.clone(), requests.clone());
        std::thread::spawn(move || {
            for stream in listener.incoming().map_while(Result::ok) {
                c.fetch_add(1, Ordering::SeqCst);
                let (tx, b, r) = (tx.clone(), behaviour.clone(), r.clone());
                std::thread::spawn(move || serve(stream, tx, b, r));
            }
        });
        Sink {
            port,
            rx,
            connections,
            requests,
        }
    }

    /// Answers `status` to everything.
    pub fn status(code: u16) -> Self {
        Self::start(move |_| Reply::Status(code, vec![], "ok".into()))
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}/hook", self.port)
    }

    /// The next `n` requests (answered or not), or panics after `timeout`.
    pub fn take(&self, n: usize, timeout: Duration) -> Vec<Received> {
        let deadline = Instant::now() + timeout;
        let mut out = Vec::with_capacity(n);
        while out.len() < n {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.rx.recv_timeout(left) {
                Ok(r) => out.push(r),
                Err(_) => panic!("sink got {} of {n} requests in {timeout:?}", out.len()),
            }
        }
        out
    }

    /// Whatever arrives within `wait`.
    pub fn drain(&self, wait: Duration) -> Vec<Received> {
        let mut out = Vec::new();
        while let Ok(r) = self.rx.recv_timeout(wait) {
            out.push(r);
        }
        out
    }
}

fn read_request(reader: &mut BufReader<TcpStream>) -> Option<Received> {
    let mut line = String::new();
    if reader.read_line(&mut line).ok()? == 0 {
        return None;
    }
    let path = line.split_whitespace().nth(1).unwrap_or("/").to_string();
    let mut headers = Vec::new();
    loop {
        let mut h = String::new();
        if reader.read_line(&mut h).ok()? == 0 {
            return None;
        }
        let h = h.trim_end();
        if h.is_empty() {
            break;
        }
        if let Some((k, v)) = h.split_once(':') {
            headers.push((k.trim().to_string(), v.trim().to_string()));
        }
    }
    let len = headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("content-length"))
        .and_then(|(_, v)| v.parse::<usize>().ok())
        .unwrap_or(0);
    let mut body = vec![0; len];
    reader.read_exact(&mut body).ok()?;
    Some(Received {
        path,
        headers,
        body,
    })
}

fn serve(
    stream: TcpStream,
    tx: Sender<Received>,
    behaviour: Arc<Behaviour>,
    requests: Arc<AtomicUsize>,
) {
    let _ = stream.set_nodelay(true);
    let mut writer = stream.try_clone().expect("clone stream");
    let mut reader = BufReader::new(stream);
    while let Some(req) = read_request(&mut reader) {
        requests.fetch_add(1, Ordering::SeqCst);
        let reply = behaviour(&req);
        let _ = tx.send(req);
        match reply {
            Reply::Status(code, headers, body) => {
                let mut head = format!("HTTP/1.1 {code} X\r\nContent-Length: {}\r\n", body.len());
                for (k, v) in headers {
                    head.push_str(&format!("{k}: {v}\r\n"));
                }
                head.push_str("\r\n");
                if writer.write_all(head.as_bytes()).is_err()
                    || writer.write_all(body.as_bytes()).is_err()
                {
                    return;
                }
            }
            Reply::Tarpit => {
                // Hold the connection until the client gives up.
                let mut buf = [0u8; 64];
                while matches!(reader.get_mut().read(&mut buf), Ok(n) if n > 0) {}
                return;
            }
            Reply::Huge(n) => {
                let head = format!("HTTP/1.1 200 OK\r\nContent-Length: {n}\r\n\r\n");
                if writer.write_all(head.as_bytes()).is_err() {
                    return;
                }
                let chunk = vec![b'x'; 64 * 1024];
                let mut sent = 0u64;
                while sent < n {
                    if writer.write_all(&chunk).is_err() {
                        return;
                    }
                    sent += chunk.len() as u64;
                }
                return;
            }
            Reply::Trickle => {
                for b in b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok" {
                    if writer.write_all(&[*b]).is_err() {
                        return;
                    }
                    std::thread::sleep(Duration::from_millis(200));
                }
                return;
            }
        }
    }
}

/// A plain reply with `code` and a short body.
pub fn status(code: u16) -> Reply {
    Reply::Status(code, vec![], format!("status {code}"))
}

/// A sink answering from a script, one reply per request in order; the
/// last reply repeats.
pub fn scripted(replies: Vec<Reply>) -> Sink {
    let n = AtomicUsize::new(0);
    Sink::start(move |_| {
        let i = n.fetch_add(1, Ordering::SeqCst);
        replies[i.min(replies.len() - 1)].clone()
    })
}

/// One of the seed's receivers, as a child process.
pub struct SeedReceiver {
    child: Child,
    pub port: u16,
    lines: Receiver<String>,
}

/// Which receiver.
#[derive(Debug, Clone, Copy)]
pub enum Kind {
    Express,
    Flask,
    NextjsCheck,
    StandardCheck,
}

impl SeedReceiver {
    /// Starts `kind` with `secret` on `port` (0: any).
    pub fn start(kind: Kind, secret: &str, port: u16) -> Self {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/receivers");
        let (prog, script, secret_var) = match kind {
            Kind::Express => ("node", "express/server.js", "BRAINSAIT_WEBHOOK_SECRET"),
            Kind::Flask => ("python3", "flask/app.py", "BRAINSAIT_WEBHOOK_SECRET"),
            Kind::NextjsCheck => ("node", "nextjs_check.js", "BRAINSAIT_WEBHOOK_SECRET"),
            Kind::StandardCheck => ("python3", "standard_check.py", "STANDARD_WEBHOOK_SECRET"),
        };
        let mut child = Command::new(prog)
            .arg(format!("{dir}/{script}"))
            .current_dir(dir)
            .env(secret_var, secret)
            .env("PORT", port.to_string())
            .env("PYTHONUNBUFFERED", "1")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| {
                panic!("start {prog} {script}: {e} (run tests/receivers/install.sh)")
            });
        let out = child.stdout.take().unwrap();
        let (tx, rx) = crossbeam_channel::unbounded();
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
        let first = rx
            .recv_timeout(Duration::from_secs(30))
            .unwrap_or_else(|_| panic!("{script} did not start"));
        let port = first
            .strip_prefix("LISTENING ")
            .and_then(|p| p.trim().parse().ok())
            .unwrap_or_else(|| panic!("{script}: unexpected first line {first:?}"));
        SeedReceiver {
            child,
            port,
            lines: rx,
        }
    }

    /// Waits for `n` verdict lines; returns them.
    pub fn verdicts(&self, n: usize, timeout: Duration) -> Vec<String> {
        let deadline = Instant::now() + timeout;
        let mut out = Vec::new();
        while out.len() < n {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(l) if l.starts_with("VERIFIED") || l.starts_with("REJECTED") => out.push(l),
                Ok(_) => {}
                Err(_) => panic!("got {} of {n} verdicts: {out:?}", out.len()),
            }
        }
        out
    }
}

impl Drop for SeedReceiver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Polls `f` until it returns `Some`, for state another process reaches
/// asynchronously (its own log is what we wait on); panics after `timeout`.
pub fn eventually<T>(timeout: Duration, what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = f() {
            return v;
        }
        if Instant::now() > deadline {
            panic!("timed out waiting for {what}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}
