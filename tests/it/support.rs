//! Test support: the real `herald` binary on port 0 with a temp data dir,
//! and a small JSON HTTP client.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{mpsc, Arc, Mutex};
use std::time::Duration;

use serde_json::Value;

/// The platform key every test server starts with.
pub const PLATFORM_KEY: &str = "hpk_test_platform_key_0123456789abcdefghijkl";
/// The admin password every test server starts with.
pub const ADMIN_PASSWORD: &str = "correct-horse-battery";

/// Path of the binary under test.
pub fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_herald")
}

/// A running `herald serve`.
pub struct Server {
    child: Option<Child>,
    /// `http://127.0.0.1:PORT` (`https://` when started with `--tls-cert`).
    pub base: String,
    /// The data directory (kept across restarts).
    pub data_dir: PathBuf,
    _tmp: Option<tempfile::TempDir>,
    extra_args: Vec<String>,
    env: Vec<(String, String)>,
    /// Soft and hard open-file limit to run under (through `prlimit`).
    nofile: Option<u64>,
    /// Everything the process printed on stdout.
    pub stdout: Arc<Mutex<String>>,
    /// Everything the process printed on stderr (the log).
    pub stderr: Arc<Mutex<String>>,
    agent: ureq::Agent,
}

/// An HTTP answer: status and JSON body (Null when empty or not JSON).
#[derive(Debug, Clone)]
pub struct Answer {
    pub status: u16,
    pub body: Value,
    pub text: String,
}

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .max_redirects(0)
        // The server closes an idle keep-alive connection after 5 s; a
        // pooled one older than that may be closed just as it is reused
        // ("Peer disconnected" on a request the server never saw).
        .max_idle_age(Duration::from_secs(2))
        .timeout_global(Some(Duration::from_secs(30)))
        .build()
        .into()
}

impl Server {
    /// Starts a server that may deliver to loopback receivers.
    pub fn start_delivering(extra: &[&str]) -> Self {
        let mut args = vec!["--allow-http", "--allow-private-networks", "127.0.0.0/8"];
        args.extend_from_slice(extra);
        Self::start_with(&args, &[])
    }

    /// Starts a server on a fresh temp dir with `--allow-http`.
    pub fn start() -> Self {
        Self::start_with(&["--allow-http"], &[])
    }

    /// Starts a server on a fresh temp dir with these extra args and env.
    pub fn start_with(args: &[&str], env: &[(&str, &str)]) -> Self {
        let mut s = Self::unstarted(args, env);
        s.spawn();
        s
    }

    /// Starts a server on an existing data directory (kept by the
    /// caller), with these extra args and env.
    pub fn start_on(data_dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Self {
        let mut s = Self::unstarted(args, env);
        s._tmp = None;
        s.data_dir = data_dir.to_path_buf();
        s.spawn();
        s
    }

    /// Starts a delivering server (see [`Server::start_delivering`]) on a
    /// fresh PostgreSQL database of the test cluster ([`fresh_database`]).
    pub fn start_postgres(extra: &[&str]) -> Self {
        let url = fresh_database();
        Self::start_postgres_at(&url, extra)
    }

    /// Starts a delivering server on the PostgreSQL database at `url`.
    pub fn start_postgres_at(url: &str, extra: &[&str]) -> Self {
        let mut args = vec![
            "--allow-http",
            "--allow-private-networks",
            "127.0.0.0/8",
            "--store",
            url,
        ];
        args.extend_from_slice(extra);
        Self::start_with(&args, &[])
    }

    /// The server `start_with` would start, not yet started.
    fn unstarted(args: &[&str], env: &[(&str, &str)]) -> Self {
        let tmp = tempfile::tempdir().expect("tempdir");
        let data_dir = tmp.path().join("data");
        let mut env: Vec<(String, String)> = env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        if !env.iter().any(|(k, _)| k == "HERALD_PLATFORM_KEY") {
            env.push(("HERALD_PLATFORM_KEY".into(), PLATFORM_KEY.into()));
        }
        if !env.iter().any(|(k, _)| k == "HERALD_ADMIN_PASSWORD") {
            env.push(("HERALD_ADMIN_PASSWORD".into(), ADMIN_PASSWORD.into()));
        }
        // The tests must not depend on how full this machine's disk is
        // (the default reserve is 256 MiB); the disk test sets its own.
        if !env.iter().any(|(k, _)| k == "HERALD_DISK_RESERVE_MB") {
            env.push(("HERALD_DISK_RESERVE_MB".into(), "1".into()));
        }
        env.retain(|(_, v)| !v.is_empty());
        Server {
            child: None,
            base: String::new(),
            data_dir,
            _tmp: Some(tmp),
            extra_args: args.iter().map(|a| a.to_string()).collect(),
            env,
            nofile: None,
            stdout: Default::default(),
            stderr: Default::default(),
            agent: agent(),
        }
    }

    /// Starts a delivering server (see [`Server::start_delivering`]) whose
    /// soft and hard open-file limits are both `nofile`.
    pub fn start_with_nofile(nofile: u64, extra: &[&str]) -> Self {
        let mut args = vec!["--allow-http", "--allow-private-networks", "127.0.0.0/8"];
        args.extend_from_slice(extra);
        let mut s = Self::unstarted(&args, &[]);
        s.nofile = Some(nofile);
        s.spawn();
        s
    }

    fn spawn(&mut self) {
        // prlimit execs the program, so the pid is still Herald's.
        let mut cmd = match self.nofile {
            Some(n) => {
                let mut c = Command::new("prlimit");
                c.arg(format!("--nofile={n}:{n}")).arg("--").arg(bin());
                c
            }
            None => Command::new(bin()),
        };
        cmd.arg("serve")
            .arg("--listen")
            .arg("127.0.0.1:0")
            .arg("--data-dir")
            .arg(&self.data_dir)
            .args(&self.extra_args)
            .env_remove("HERALD_PLATFORM_KEY")
            .env_remove("HERALD_ADMIN_PASSWORD")
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        for (k, v) in &self.env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().expect("spawn herald");
        let (tx, rx) = mpsc::channel::<String>();
        let out = child.stdout.take().expect("stdout");
        let err = child.stderr.take().expect("stderr");
        let stdout = self.stdout.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines().map_while(Result::ok) {
                let mut s = stdout.lock().unwrap();
                s.push_str(&line);
                s.push('\n');
            }
        });
        let stderr = self.stderr.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(err).lines().map_while(Result::ok) {
                // http://… or, with --tls-cert, https://…
                if let Some(i) = line.find("listening on http") {
                    let _ = tx.send(line[i + "listening on ".len()..].trim().to_string());
                }
                let mut s = stderr.lock().unwrap();
                s.push_str(&line);
                s.push('\n');
            }
        });
        match rx.recv_timeout(Duration::from_secs(60)) {
            Ok(base) => self.base = base,
            Err(_) => {
                let _ = child.kill();
                panic!(
                    "herald did not report its address; stderr:\n{}",
                    self.stderr.lock().unwrap()
                );
            }
        }
        self.child = Some(child);
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.as_ref().map(|c| c.id()).unwrap_or(0)
    }

    /// SIGTERM and wait: a clean shutdown.
    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = Command::new("kill")
                .arg("-TERM")
                .arg(c.id().to_string())
                .status();
            let _ = c.wait();
        }
    }

    /// SIGKILL: a crash.
    pub fn kill9(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Waits (bounded) until stdout satisfies `cond`; returns stdout. The
    /// reader thread may lag the process, so tests wait rather than peek.
    pub fn stdout_when(&self, cond: impl Fn(&str) -> bool) -> String {
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        loop {
            let out = self.stdout.lock().unwrap().clone();
            if cond(&out) || std::time::Instant::now() > deadline {
                return out;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    /// Waits (bounded) until stderr (the log) satisfies `cond`; returns it.
    pub fn stderr_when(&self, cond: impl Fn(&str) -> bool) -> String {
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        loop {
            let err = self.stderr.lock().unwrap().clone();
            if cond(&err) || std::time::Instant::now() > deadline {
                return err;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    /// Stops (cleanly) and starts again on the same data directory.
    pub fn restart(&mut self) {
        self.stop();
        self.spawn();
    }

    /// Stops and starts again with other extra arguments.
    pub fn restart_with(&mut self, args: &[&str]) {
        self.stop();
        self.extra_args = args.iter().map(|a| a.to_string()).collect();
        self.spawn();
    }

    /// Starts again after `stop`/`kill9`.
    pub fn start_again(&mut self) {
        assert!(self.child.is_none(), "still running");
        self.spawn();
    }

    /// A request with the platform key and optional tenant.
    /// A key bound to tenant `tenant`, created (or found) first.
    pub fn tenant_key(&self, tenant: &str) -> String {
        let t = self.call(
            "POST",
            "/api/v1/tenants",
            None,
            Some(serde_json::json!({"id": tenant})),
        );
        assert!(t.status == 201 || t.status == 409, "{}", t.text);
        let k = self.call(
            "POST",
            "/api/v1/keys",
            None,
            Some(serde_json::json!({"name": format!("{tenant} key"), "tenant_id": tenant})),
        );
        assert_eq!(k.status, 201, "{}", k.text);
        k.body["key"].as_str().unwrap_or_default().to_string()
    }

    pub fn call(
        &self,
        method: &str,
        path: &str,
        tenant: Option<&str>,
        body: Option<Value>,
    ) -> Answer {
        self.call_as(Some(PLATFORM_KEY), method, path, tenant, body)
    }

    /// Posts `events` to the batch endpoint as the platform for `tenant`,
    /// which must accept them all (202); the answer.
    pub fn post_batch(&self, tenant: Option<&str>, events: Vec<Value>) -> Answer {
        let a = self.call(
            "POST",
            "/api/v1/events/batch",
            tenant,
            Some(serde_json::json!({ "events": events })),
        );
        assert_eq!(a.status, 202, "{}", a.text);
        a
    }

    /// A request with an explicit key (or none).
    pub fn call_as(
        &self,
        key: Option<&str>,
        method: &str,
        path: &str,
        tenant: Option<&str>,
        body: Option<Value>,
    ) -> Answer {
        let raw = body.map(|b| b.to_string());
        self.raw(
            key,
            method,
            path,
            tenant,
            raw.as_deref().map(str::as_bytes),
            Some("application/json"),
        )
    }

    /// A request with a raw body and content type.
    pub fn raw(
        &self,
        key: Option<&str>,
        method: &str,
        path: &str,
        tenant: Option<&str>,
        body: Option<&[u8]>,
        content_type: Option<&str>,
    ) -> Answer {
        http(
            &self.agent,
            &self.base,
            key,
            method,
            path,
            tenant,
            body,
            content_type,
        )
    }

    /// Runs the CLI with `args` against this server's data dir (or not).
    pub fn cli(&self, args: &[&str]) -> std::process::Output {
        cli(args, &self.data_dir)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill9();
    }
}

/// The test cluster's URL (`tests/pg/start.sh` sets `HERALD_TEST_PG`; the
/// suite runs through it, so a missing one is a failure, not a skip).
pub fn test_pg() -> String {
    std::env::var("HERALD_TEST_PG").expect(
        "HERALD_TEST_PG is not set: run the tests through `bash tests/run.sh` \
         (or `bash tests/pg/start.sh cargo test …`), which starts a PostgreSQL cluster",
    )
}

/// A new, empty database in the test cluster; its URL. (Dropped with the
/// cluster when the run ends.)
pub fn fresh_database() -> String {
    let base = test_pg();
    // Unique within this run (the cluster lives for one run): the process
    // id and a counter.
    static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let name = format!(
        "herald_it_{}_{}",
        std::process::id(),
        NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
    );
    let mut admin =
        postgres::Client::connect(&base, postgres::NoTls).expect("connect to the test cluster");
    admin
        .batch_execute(&format!("CREATE DATABASE {name}"))
        .expect("create a test database");
    match base.rfind('/') {
        Some(i) => format!("{}/{name}", &base[..i]),
        None => panic!("HERALD_TEST_PG {base} has no database part"),
    }
}

/// Runs `herald <args> --data-dir <dir>`.
pub fn cli(args: &[&str], data_dir: &Path) -> std::process::Output {
    Command::new(bin())
        .args(args)
        .arg("--data-dir")
        .arg(data_dir)
        .env_remove("HERALD_SERVER")
        .env_remove("HERALD_API_KEY")
        .output()
        .expect("run herald cli")
}

/// stdout and stderr of an output, as text.
pub fn texts(o: &std::process::Output) -> (String, String) {
    (
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

/// Asserts an error answer's status and code.
#[track_caller]
pub fn assert_error(a: &Answer, status: u16, code: &str) {
    assert_eq!(a.status, status, "body: {}", a.text);
    assert_eq!(a.body["error"]["code"], code, "body: {}", a.text);
    assert!(
        a.body["error"]["message"]
            .as_str()
            .is_some_and(|m| !m.is_empty()),
        "a message: {}",
        a.text
    );
}

/// One HTTP request to a Herald at `base`.
#[allow(clippy::too_many_arguments)]
pub fn http(
    agent: &ureq::Agent,
    base: &str,
    key: Option<&str>,
    method: &str,
    path: &str,
    tenant: Option<&str>,
    body: Option<&[u8]>,
    content_type: Option<&str>,
) -> Answer {
    let url = format!("{base}{path}");
    let mut headers: Vec<(&str, String)> = Vec::new();
    if let Some(k) = key {
        headers.push(("Authorization", format!("Bearer {k}")));
    }
    if let Some(t) = tenant {
        headers.push(("X-Tenant-ID", t.to_string()));
    }
    if let (Some(ct), Some(_)) = (content_type, body) {
        headers.push(("Content-Type", ct.to_string()));
    }
    macro_rules! with_headers {
        ($rb:expr) => {{
            let mut rb = $rb;
            for (k, v) in &headers {
                rb = rb.header(*k, v);
            }
            rb
        }};
    }
    let res = match method {
        "GET" => with_headers!(agent.get(&url)).call(),
        "DELETE" => with_headers!(agent.delete(&url)).call(),
        "POST" => with_headers!(agent.post(&url)).send(body.unwrap_or_default()),
        "PATCH" => with_headers!(agent.patch(&url)).send(body.unwrap_or_default()),
        "PUT" => with_headers!(agent.put(&url)).send(body.unwrap_or_default()),
        other => panic!("method {other}"),
    };
    let mut res = res.unwrap_or_else(|e| panic!("{method} {url}: {e}"));
    let status = res.status().as_u16();
    let text = res.body_mut().read_to_string().unwrap_or_default();
    let body = serde_json::from_str(&text).unwrap_or(Value::Null);
    Answer { status, body, text }
}

/// A JSON call with the platform key.
pub fn call_json(
    agent: &ureq::Agent,
    base: &str,
    method: &str,
    path: &str,
    tenant: Option<&str>,
    body: Option<Value>,
) -> Answer {
    let raw = body.map(|b| b.to_string());
    http(
        agent,
        base,
        Some(PLATFORM_KEY),
        method,
        path,
        tenant,
        raw.as_deref().map(str::as_bytes),
        Some("application/json"),
    )
}

/// A client agent for tests.
pub fn test_agent() -> ureq::Agent {
    agent()
}
