//! Issue 6: the admin panel. Handler tests drive the real binary over HTTP
//! like a browser without JavaScript (a cookie jar, forms with their CSRF
//! token, no redirects followed); one test runs the whole flow in real
//! headless Chromium (`tests/ui/e2e.js`).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use herald::clock::ManualClock;
use herald::config::ServeArgs;
use herald::domain::time::Timestamp;
use herald::service::{MAX_FAILURES_PER_CLIENT, MAX_FAILURES_PER_USER};
use serde_json::json;

use crate::sink::*;
use crate::support::*;

/// An HTML answer.
#[derive(Debug)]
pub(crate) struct Page {
    pub(crate) status: u16,
    headers: Vec<(String, String)>,
    pub(crate) body: String,
}

impl Page {
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub(crate) fn set_cookies(&self) -> Vec<&str> {
        self.headers
            .iter()
            .filter(|(k, _)| k.eq_ignore_ascii_case("set-cookie"))
            .map(|(_, v)| v.as_str())
            .collect()
    }

    pub(crate) fn location(&self) -> &str {
        self.header("location").unwrap_or_default()
    }

    #[track_caller]
    pub(crate) fn assert(&self, status: u16, contains: &str) -> &Self {
        assert_eq!(self.status, status, "body:\n{}", self.body);
        assert!(
            self.body.contains(contains),
            "expected {contains:?} in:\n{}",
            self.body
        );
        self
    }

    #[track_caller]
    pub(crate) fn assert_redirect(&self, to_prefix: &str) -> &Self {
        assert_eq!(self.status, 303, "body:\n{}", self.body);
        assert!(
            self.location().starts_with(to_prefix),
            "redirect to {:?}, expected {to_prefix:?}",
            self.location()
        );
        self
    }

    /// The CSRF token of the first form on the page.
    fn csrf(&self) -> Option<String> {
        let i = self.body.find("name=\"csrf\" value=\"")? + "name=\"csrf\" value=\"".len();
        let end = self.body[i..].find('"')?;
        Some(self.body[i..i + end].to_string())
    }
}

/// A browser without JavaScript: a cookie jar and the last CSRF token.
pub(crate) struct Browser {
    base: String,
    agent: ureq::Agent,
    pub(crate) cookies: HashMap<String, String>,
    pub(crate) csrf: String,
    /// Extra headers on every request.
    pub(crate) extra: Vec<(String, String)>,
}

impl Browser {
    pub(crate) fn new(base: &str) -> Self {
        Self {
            base: base.to_string(),
            agent: test_agent(),
            cookies: HashMap::new(),
            csrf: String::new(),
            extra: Vec::new(),
        }
    }

    /// Goes on with the same cookies on another server (another node of
    /// a cluster).
    pub(crate) fn switch_to(&mut self, base: &str) {
        self.base = base.to_string();
    }

    fn cookie_header(&self) -> String {
        self.cookies
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ")
    }

    fn absorb(&mut self, res: ureq::http::Response<ureq::Body>) -> Page {
        let status = res.status().as_u16();
        let headers: Vec<(String, String)> = res
            .headers()
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_str().unwrap_or_default().to_string()))
            .collect();
        let mut res = res;
        let body = res.body_mut().read_to_string().unwrap_or_default();
        let page = Page {
            status,
            headers,
            body,
        };
        for c in page.set_cookies() {
            let first = c.split(';').next().unwrap_or_default();
            if let Some((k, v)) = first.split_once('=') {
                if v.is_empty() || c.contains("Max-Age=0") {
                    self.cookies.remove(k);
                } else {
                    self.cookies.insert(k.to_string(), v.to_string());
                }
            }
        }
        if let Some(t) = page.csrf() {
            self.csrf = t;
        }
        page
    }

    pub(crate) fn get(&mut self, path: &str) -> Page {
        let mut rb = self
            .agent
            .get(format!("{}{path}", self.base))
            .header("Cookie", self.cookie_header());
        for (k, v) in &self.extra {
            rb = rb.header(k, v);
        }
        let res = rb.call().unwrap_or_else(|e| panic!("GET {path}: {e}"));
        self.absorb(res)
    }

    /// Posts exactly `fields`, from this site's origin.
    pub(crate) fn post_raw(
        &mut self,
        path: &str,
        fields: &[(&str, &str)],
        origin: Option<&str>,
    ) -> Page {
        let body = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(fields)
            .finish();
        let mut rb = self
            .agent
            .post(format!("{}{path}", self.base))
            .header("Cookie", self.cookie_header())
            .header("Content-Type", "application/x-www-form-urlencoded");
        if let Some(o) = origin {
            rb = rb.header("Origin", o);
        }
        for (k, v) in &self.extra {
            rb = rb.header(k, v);
        }
        let res = rb
            .send(body.as_bytes())
            .unwrap_or_else(|e| panic!("POST {path}: {e}"));
        self.absorb(res)
    }

    /// Submits a form with the current CSRF token, like a browser would.
    pub(crate) fn submit(&mut self, path: &str, fields: &[(&str, &str)]) -> Page {
        let csrf = self.csrf.clone();
        let mut all = vec![("csrf", csrf.as_str())];
        all.extend_from_slice(fields);
        let origin = self.base.clone();
        self.post_raw(path, &all, Some(&origin))
    }

    pub(crate) fn login(&mut self, user: &str, password: &str) -> Page {
        self.get("/login").assert(200, "Log in to Herald");
        self.submit("/login", &[("username", user), ("password", password)])
    }

    pub(crate) fn login_ok(&mut self, user: &str, password: &str) {
        self.login(user, password).assert_redirect("/");
        assert!(self.cookies.contains_key("herald_session"));
    }
}

pub(crate) fn admin(s: &Server) -> Browser {
    let mut b = Browser::new(&s.base);
    b.login_ok("admin", ADMIN_PASSWORD);
    b
}

fn tenant(s: &Server, id: &str) {
    let a = s.call("POST", "/api/v1/tenants", None, Some(json!({"id": id})));
    assert_eq!(a.status, 201, "{}", a.text);
}

pub(crate) fn endpoint_via_api(s: &Server, tenant: &str, url: &str) -> String {
    let a = s.call(
        "POST",
        "/api/v1/webhooks",
        Some(tenant),
        Some(json!({"url": url, "events": ["*"]})),
    );
    assert_eq!(a.status, 201, "{}", a.text);
    a.body["id"].as_str().unwrap().to_string()
}

fn id_from(location: &str, prefix: &str) -> String {
    let rest = &location[location.find(prefix).expect("an id")..];
    rest.split(['?', '/']).next().unwrap().to_string()
}

#[test]
fn login_sessions_logout_and_security_headers() {
    let s = Server::start();
    let mut b = Browser::new(&s.base);

    // Anonymous: to the login page, remembering where to return.
    let p = b.get("/webhooks");
    p.assert_redirect("/login?next=%2Fwebhooks");
    let p = b.get("/login");
    p.assert(200, "Log in to Herald");
    assert_eq!(
        p.header("content-security-policy"),
        Some("default-src 'self'; frame-ancestors 'none'; form-action 'self'; object-src 'none'")
    );
    assert_eq!(p.header("x-frame-options"), Some("DENY"));
    assert_eq!(p.header("x-content-type-options"), Some("nosniff"));
    assert_eq!(p.header("referrer-policy"), Some("same-origin"));
    assert_eq!(p.header("strict-transport-security"), None, "plain HTTP");
    assert_eq!(p.header("cache-control"), Some("no-store"));
    assert!(!p.body.contains("<script>"), "no inline script");
    assert!(!p.body.contains("style="), "no inline style");

    // The login form has its own CSRF token.
    let p = b.post_raw(
        "/login",
        &[("username", "admin"), ("password", ADMIN_PASSWORD)],
        None,
    );
    p.assert(403, "security token");
    assert!(!b.cookies.contains_key("herald_session"));

    // Same message for a wrong password and an unknown user.
    b.get("/login");
    let wrong = b.submit(
        "/login",
        &[("username", "admin"), ("password", "wrong-password")],
    );
    wrong.assert(401, "Invalid username or password");
    let nobody = b.submit(
        "/login",
        &[("username", "nobody"), ("password", "wrong-password")],
    );
    nobody.assert(401, "Invalid username or password");

    // Success: a session cookie with the right attributes, back to `next`.
    b.get("/login?next=/webhooks");
    let p = b.submit(
        "/login",
        &[
            ("username", "admin"),
            ("password", ADMIN_PASSWORD),
            ("next", "/webhooks"),
        ],
    );
    p.assert_redirect("/webhooks");
    let cookie = p
        .set_cookies()
        .into_iter()
        .find(|c| c.starts_with("herald_session="))
        .expect("session cookie")
        .to_string();
    assert!(cookie.contains("HttpOnly"), "{cookie}");
    assert!(cookie.contains("SameSite=Lax"), "{cookie}");
    assert!(cookie.contains("Path=/"), "{cookie}");
    assert!(!cookie.contains("Secure"), "plain HTTP: {cookie}");
    let first = b.cookies["herald_session"].clone();
    assert!(first.len() >= 43, "256 random bits");
    b.get("/").assert(200, "Dashboard");

    // `next` never leaves the site.
    b.get("/login");
    let mut other = Browser::new(&s.base);
    other.get("/login");
    other
        .submit(
            "/login",
            &[
                ("username", "admin"),
                ("password", ADMIN_PASSWORD),
                ("next", "//evil.test/x"),
            ],
        )
        .assert_redirect("/");
    assert_eq!(other.get("/").status, 200);

    // Logging in with a session cookie already set (one planted by
    // someone else, say) makes a new id and ends the old session.
    b.get("/login").assert_redirect("/");
    let mut fresh = Browser::new(&s.base);
    fresh.get("/login");
    fresh.cookies.insert("herald_session".into(), first.clone());
    let csrf = fresh.csrf.clone();
    fresh
        .post_raw(
            "/login",
            &[
                ("csrf", &csrf),
                ("username", "admin"),
                ("password", ADMIN_PASSWORD),
            ],
            Some(&s.base),
        )
        .assert_redirect("/");
    assert_ne!(fresh.cookies["herald_session"], first, "a new id at login");
    fresh.get("/").assert(200, "Dashboard");
    b.get("/").assert_redirect("/login");
    b.login_ok("admin", ADMIN_PASSWORD);

    // Over TLS (as a proxy reports it): __Host- cookies, Secure, HSTS.
    let mut tls = Browser::new(&s.base);
    tls.extra.push(("X-Forwarded-Proto".into(), "https".into()));
    let p = tls.get("/login");
    assert!(p.header("strict-transport-security").is_some());
    assert!(p
        .set_cookies()
        .iter()
        .any(|c| c.starts_with("__Host-herald_login=") && c.contains("Secure")));
    let csrf = tls.csrf.clone();
    let p = tls.post_raw(
        "/login",
        &[
            ("csrf", &csrf),
            ("username", "admin"),
            ("password", ADMIN_PASSWORD),
        ],
        Some(&s.base.replace("http://", "https://")),
    );
    p.assert_redirect("/");
    assert!(p
        .set_cookies()
        .iter()
        .any(|c| c.starts_with("__Host-herald_session=") && c.contains("Secure")));
    tls.get("/").assert(200, "Dashboard");

    // Logout ends the session and clears the cookie.
    b.get("/");
    let before = b.cookies["herald_session"].clone();
    let p = b.submit("/logout", &[]);
    p.assert_redirect("/login?notice=logged_out");
    assert!(!b.cookies.contains_key("herald_session"));
    b.cookies.insert("herald_session".into(), before);
    b.get("/").assert_redirect("/login");
}

#[test]
fn login_is_throttled_per_user_with_the_same_message() {
    let s = Server::start();
    let mut a = admin(&s);
    a.get("/users");
    a.submit(
        "/users",
        &[
            ("username", "ops"),
            ("password", "ops-password-1"),
            ("tenant_id", ""),
        ],
    )
    .assert_redirect("/users?notice=created");

    let mut b = Browser::new(&s.base);
    for _ in 0..5 {
        b.login("admin", "wrong-password")
            .assert(401, "Invalid username or password");
    }
    // Now even the right password waits.
    let p = b.login("admin", ADMIN_PASSWORD);
    p.assert(429, "Too many failed logins");
    assert!(p.header("retry-after").is_some());
    assert!(!b.cookies.contains_key("herald_session"));
    // The lock is per username: another user still gets in.
    let mut ops = Browser::new(&s.base);
    ops.login_ok("ops", "ops-password-1");
    ops.get("/").assert(200, "Dashboard");
    // A session opened before the lock keeps working.
    a.get("/").assert(200, "Dashboard");
}

/// One HTTP/1.1 exchange from a socket bound to `from` (any 127.0.0.0/8
/// address is local on Linux): status, head, body.
fn exchange_from(from: std::net::Ipv4Addr, base: &str, request: &str) -> (u16, String, String) {
    use socket2::{Domain, Socket, Type};
    use std::io::{Read, Write};
    let to: std::net::SocketAddr = base.trim_start_matches("http://").parse().unwrap();
    let sock = Socket::new(Domain::IPV4, Type::STREAM, None).unwrap();
    sock.bind(&std::net::SocketAddr::new(from.into(), 0).into())
        .unwrap();
    sock.connect(&to.into()).unwrap();
    let mut stream: std::net::TcpStream = sock.into();
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    stream.write_all(request.as_bytes()).unwrap();
    let mut out = Vec::new();
    stream.read_to_end(&mut out).unwrap();
    let text = String::from_utf8_lossy(&out).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    (status, head.to_string(), body.to_string())
}

/// A login through the panel's form from a client at `from`, without
/// cookies from earlier logins: the status of the `POST /login`.
fn login_from(from: std::net::Ipv4Addr, s: &Server, user: &str, password: &str) -> u16 {
    let host = s.base.trim_start_matches("http://");
    let (status, head, body) = exchange_from(
        from,
        &s.base,
        &format!("GET /login HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"),
    );
    assert_eq!(status, 200, "{head}");
    let cookie = head
        .lines()
        .filter_map(|l| l.strip_prefix("set-cookie: "))
        .find(|c| c.starts_with("herald_login="))
        .and_then(|c| c.split(';').next())
        .expect("login cookie")
        .to_string();
    let page = Page {
        status,
        headers: Vec::new(),
        body,
    };
    let csrf = page.csrf().expect("csrf token");
    let form = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs([
            ("csrf", csrf.as_str()),
            ("username", user),
            ("password", password),
        ])
        .finish();
    let (status, head, _) = exchange_from(
        from,
        &s.base,
        &format!(
            "POST /login HTTP/1.1\r\nHost: {host}\r\nOrigin: {}\r\nCookie: {cookie}\r\n\
             Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\
             Connection: close\r\n\r\n{form}",
            s.base,
            form.len()
        ),
    );
    assert!(status == 303 || status == 401 || status == 429, "{head}");
    status
}

fn loopback(n: u8) -> std::net::Ipv4Addr {
    std::net::Ipv4Addr::new(127, 0, 0, n)
}

#[test]
fn a_flood_of_wrong_passwords_cannot_lock_the_admin_out() {
    let s = Server::start();
    // A browser admin logged in with before carries a device cookie.
    let mut trusted = admin(&s);
    assert!(trusted.cookies.contains_key("herald_device"));
    trusted.cookies.remove("herald_session");

    // Four addresses hammer admin's password: five failures each, then
    // each waits, even with the right password.
    for n in 2..=5 {
        for _ in 0..MAX_FAILURES_PER_USER {
            assert_eq!(login_from(loopback(n), &s, "admin", "wrong-password"), 401);
        }
        assert_eq!(login_from(loopback(n), &s, "admin", ADMIN_PASSWORD), 429);
    }
    // Twenty failures put admin under attack: one try per client now.
    assert_eq!(login_from(loopback(6), &s, "admin", "wrong-password"), 401);
    assert_eq!(login_from(loopback(6), &s, "admin", ADMIN_PASSWORD), 429);
    let mut attacker = Browser::new(&s.base);
    attacker
        .login("admin", "wrong-password")
        .assert(401, "Invalid username or password");
    attacker
        .login("admin", ADMIN_PASSWORD)
        .assert(429, "Too many failed logins");
    // … a clean client gets in with the right password …
    assert_eq!(login_from(loopback(7), &s, "admin", ADMIN_PASSWORD), 303);
    // … and so does the browser with the device cookie, from the very
    // address the attacker is failing from.
    trusted.login_ok("admin", ADMIN_PASSWORD);
    trusted.get("/").assert(200, "Dashboard");
    // That success did not clear the attacker's failures.
    attacker
        .login("admin", ADMIN_PASSWORD)
        .assert(429, "Too many failed logins");
    let mut clean_same_address = Browser::new(&s.base);
    clean_same_address
        .login("admin", ADMIN_PASSWORD)
        .assert(429, "Too many failed logins");
}

#[test]
fn login_is_throttled_per_address_whatever_the_usernames() {
    let s = Server::start();
    let mut trusted = admin(&s);
    trusted.cookies.remove("herald_session");
    let mut b = Browser::new(&s.base);
    for i in 0..MAX_FAILURES_PER_CLIENT {
        b.login(&format!("nobody{i}"), "wrong-password")
            .assert(401, "Invalid username or password");
    }
    b.login("nobody-else", "wrong-password")
        .assert(429, "Too many failed logins");
    // Every login from the address waits, a real user's right password
    // included (unknown and known usernames count alike) …
    let p = Browser::new(&s.base).login("admin", ADMIN_PASSWORD);
    p.assert(429, "Too many failed logins");
    assert!(p.header("retry-after").is_some());
    // … but not from another address, nor with a device cookie.
    assert_eq!(login_from(loopback(2), &s, "admin", ADMIN_PASSWORD), 303);
    trusted.login_ok("admin", ADMIN_PASSWORD);
}

#[test]
fn an_over_long_username_is_a_cheap_failed_login_with_a_bounded_log_line() {
    let s = Server::start();
    let mut b = Browser::new(&s.base);
    let huge = format!("ad\nmin [forged] {}", "x".repeat(60 * 1024));
    let p = b.login(&huge, "wrong-password");
    p.assert(401, "Invalid username or password");
    assert!(
        p.body.len() < 16 * 1024,
        "the form shows a bounded username"
    );
    for _ in 0..MAX_FAILURES_PER_CLIENT {
        b.login(&huge, "wrong-password")
            .assert(401, "Invalid username or password");
    }
    let log = s.stderr_when(|e| e.matches("failed login for user \"ad\\nmin").count() > 6);
    assert!(
        log.matches("failed login for user \"ad\\nmin").count() > 6,
        "{log}"
    );
    for line in log.lines() {
        assert!(line.len() < 512, "a bounded line: {} bytes", line.len());
        assert!(!line.starts_with("min [forged]"), "no forged line");
    }
    // They counted as no failure: the address was never made to wait.
    b.login_ok("admin", ADMIN_PASSWORD);
}

#[test]
fn webhook_pages_forms_validation_csrf_and_escaping() {
    let s = Server::start_delivering(&[]);
    let mut b = admin(&s);
    // No tenant yet: an empty state that says what to do.
    b.get("/webhooks").assert(200, "Create a tenant");
    tenant(&s, "acme");
    b.get("/webhooks")
        .assert(200, "No endpoints yet")
        .assert(200, "Add Webhook Endpoint");

    let p = b.get("/webhooks/new");
    p.assert(200, "Add Webhook Endpoint");
    for label in ["Payment", "Order", "User", "Tenant", "All events"] {
        assert!(p.body.contains(label), "{label}");
    }
    for et in [
        "payment.completed",
        "order.shipped",
        "user.deleted",
        "tenant.suspended",
    ] {
        assert!(p.body.contains(&format!("value=\"{et}\"")), "{et}");
    }

    // Validation errors come back next to their field, with the input kept.
    let p = b.submit(
        "/webhooks/new",
        &[
            ("url", "ftp://nope.test/x"),
            ("events", "payment.completed"),
        ],
    );
    p.assert(422, "id=\"url-error\"")
        .assert(422, "value=\"ftp://nope.test/x\"");
    let p = b.submit("/webhooks/new", &[("url", "http://127.0.0.1:9/x")]);
    p.assert(422, "id=\"events-error\"");
    let p = b.submit(
        "/webhooks/new",
        &[
            ("url", "http://127.0.0.1:9/x"),
            ("events", "*"),
            ("description", &"d".repeat(1100)),
        ],
    );
    p.assert(422, "id=\"description-error\"");
    // Custom headers: one per line; Herald's own names are refused.
    let p = b.submit(
        "/webhooks/new",
        &[
            ("url", "http://127.0.0.1:9/x"),
            ("events", "*"),
            ("headers", "X-Api-Key: k1\r\nContent-Type: text/plain"),
        ],
    );
    p.assert(422, "id=\"headers-error\"")
        .assert(422, "Content-Type");
    let p = b.submit(
        "/webhooks/new",
        &[
            ("url", "http://127.0.0.1:9/hdr"),
            ("events", "*"),
            ("active", "true"),
            ("headers", "X-Api-Key: k1\r\n\r\nX-Team: billing"),
        ],
    );
    p.assert_redirect("/webhooks/ep_");
    let hid = id_from(p.location(), "ep_");
    let api = s.call(
        "GET",
        &format!("/api/v1/webhooks/{hid}"),
        Some("acme"),
        None,
    );
    assert_eq!(
        api.body["headers"],
        json!({"X-Api-Key": "k1", "X-Team": "billing"})
    );
    b.get(&format!("/webhooks/{hid}"))
        .assert(200, "X-Api-Key: k1\nX-Team: billing");
    let p = b.submit(
        &format!("/webhooks/{hid}"),
        &[
            ("url", "http://127.0.0.1:9/hdr"),
            ("events", "*"),
            ("active", "true"),
            ("headers", "X-Team: ops"),
        ],
    );
    assert!(p.status == 303 || p.status == 302, "{}", p.status);
    let api = s.call(
        "GET",
        &format!("/api/v1/webhooks/{hid}"),
        Some("acme"),
        None,
    );
    assert_eq!(api.body["headers"], json!({"X-Team": "ops"}));
    assert_eq!(
        s.call(
            "DELETE",
            &format!("/api/v1/webhooks/{hid}"),
            Some("acme"),
            None
        )
        .status,
        204
    );

    // CSRF: no token, a wrong token, or another origin is 403 and changes nothing.
    let fields = [
        ("url", "http://127.0.0.1:9/hook"),
        ("events", "*"),
        ("active", "true"),
    ];
    let base = s.base.clone();
    b.post_raw("/webhooks/new", &fields, Some(&base))
        .assert(403, "security token");
    let mut with_bad = vec![("csrf", "forged")];
    with_bad.extend_from_slice(&fields);
    b.post_raw("/webhooks/new", &with_bad, Some(&base))
        .assert(403, "security token");
    let csrf = b.csrf.clone();
    let mut cross = vec![("csrf", csrf.as_str())];
    cross.extend_from_slice(&fields);
    b.post_raw("/webhooks/new", &cross, Some("http://evil.test"))
        .assert(403, "another site");
    let list = s.call("GET", "/api/v1/webhooks", Some("acme"), None);
    assert_eq!(
        list.body["data"].as_array().unwrap().len(),
        0,
        "nothing created"
    );

    // Happy path, with a description a tenant could abuse.
    let p = b.submit(
        "/webhooks/new",
        &[
            ("url", "http://127.0.0.1:9/hook"),
            ("events", "payment.completed"),
            ("events", "order.*"),
            ("description", "<script>alert(1)</script>"),
            ("active", "true"),
        ],
    );
    p.assert_redirect("/webhooks/ep_");
    let id = id_from(p.location(), "ep_");
    let page = b.get(&format!("/webhooks/{id}?notice=created"));
    page.assert(200, "Endpoint created")
        .assert(200, "whsec_")
        .assert(200, &html("<script>alert(1)</script>"));
    assert!(!page.body.contains("<script>alert(1)</script>"));
    assert!(page.body.contains("value=\"order.*\" checked"));
    let secret1 = between(&page.body, "id=\"secret-value\" class=\"mono\">", "<");
    let api = s.call("GET", &format!("/api/v1/webhooks/{id}"), Some("acme"), None);
    assert_eq!(api.body["events"], json!(["payment.completed", "order.*"]));
    assert_eq!(api.body["description"], "<script>alert(1)</script>");
    let list = b.get("/webhooks");
    list.assert(200, "http://127.0.0.1:9/hook")
        .assert(200, &html("<script>alert(1)</script>"));
    assert!(!list.body.contains("<script>alert"));

    // Edit: a validation error re-renders the page with the field marked.
    b.submit(
        &format!("/webhooks/{id}"),
        &[("url", "not a url"), ("events", "*")],
    )
    .assert(422, "id=\"url-error\"");
    b.submit(
        &format!("/webhooks/{id}"),
        &[
            ("url", "http://127.0.0.1:9/other"),
            ("events", "*"),
            ("description", "renamed"),
            ("active", "true"),
        ],
    )
    .assert_redirect(&format!("/webhooks/{id}?notice=saved"));
    let api = s.call("GET", &format!("/api/v1/webhooks/{id}"), Some("acme"), None);
    assert_eq!(api.body["url"], "http://127.0.0.1:9/other");
    assert_eq!(api.body["events"], json!(["*"]));

    // Disable; a test event is then refused next to its form; enable.
    b.submit(&format!("/webhooks/{id}/toggle"), &[("active", "false")])
        .assert_redirect(&format!("/webhooks/{id}?notice=disabled"));
    let api = s.call("GET", &format!("/api/v1/webhooks/{id}"), Some("acme"), None);
    assert_eq!(api.body["active"], false);
    b.get(&format!("/webhooks/{id}")).assert(200, "Disabled");
    b.submit(
        &format!("/webhooks/{id}/test"),
        &[("event", "payment.completed")],
    )
    .assert(422, "id=\"test-error\"");
    b.submit(&format!("/webhooks/{id}/toggle"), &[("active", "true")])
        .assert_redirect(&format!("/webhooks/{id}?notice=enabled"));
    b.submit(&format!("/webhooks/{id}/test"), &[("event", "no.such")])
        .assert(422, "id=\"test-error\"");
    b.submit(
        &format!("/webhooks/{id}/test"),
        &[("event", "order.created")],
    )
    .assert_redirect(&format!("/webhooks/{id}?notice=test_sent"));
    b.get(&format!("/webhooks/{id}"))
        .assert(200, "order.created")
        .assert(200, "evt_test_");

    // Rotate: a new secret, and the old one's overlap is shown.
    b.submit(&format!("/webhooks/{id}/rotate"), &[])
        .assert_redirect(&format!("/webhooks/{id}?notice=rotated"));
    let page = b.get(&format!("/webhooks/{id}?notice=rotated"));
    page.assert(200, "The previous secret keeps signing until");
    let secret2 = between(&page.body, "id=\"secret-value\" class=\"mono\">", "<");
    assert!(secret2.starts_with("whsec_") && secret2 != secret1);

    // Replay: a bad time is reported next to its field.
    b.submit(&format!("/webhooks/{id}/replay"), &[("since", "soon")])
        .assert(422, "id=\"since-error\"");
    b.submit(
        &format!("/webhooks/{id}/replay"),
        &[("since", "2024-01-15T10:30")],
    )
    .assert_redirect(&format!("/webhooks/{id}?notice=replayed&n=0"));

    // Delete after the confirmation page.
    b.get(&format!("/webhooks/{id}/delete"))
        .assert(200, "Delete this endpoint?");
    b.submit(&format!("/webhooks/{id}/delete"), &[])
        .assert_redirect("/webhooks?notice=deleted");
    let api = s.call("GET", &format!("/api/v1/webhooks/{id}"), Some("acme"), None);
    assert_eq!(api.status, 404);
    b.get(&format!("/webhooks/{id}")).assert(404, "Not found");
}

/// `text` as the templates escape it.
fn html(text: &str) -> String {
    text.replace('&', "&#38;")
        .replace('<', "&#60;")
        .replace('>', "&#62;")
        .replace('"', "&#34;")
        .replace('\'', "&#39;")
}

/// An `href` as the browser reads it.
fn unescape(href: &str) -> String {
    href.replace("&#38;", "&").replace("&amp;", "&")
}

fn between(body: &str, start: &str, end: &str) -> String {
    let i = body.find(start).expect("start marker") + start.len();
    let j = body[i..].find(end).expect("end marker");
    body[i..i + j].to_string()
}

#[test]
fn delivery_log_filters_pages_details_and_resend() {
    let s = Server::start_delivering(&[]);
    let sink = Sink::status(200);
    tenant(&s, "acme");
    let ep = endpoint_via_api(&s, "acme", &sink.url());
    let mut b = admin(&s);
    b.get("/deliveries").assert(200, "No deliveries yet");

    // 27 events: more than one page of 25.
    for i in 0..27 {
        let event = if i == 0 {
            "order.created"
        } else {
            "payment.completed"
        };
        let a = s.call(
            "POST",
            "/api/v1/events",
            Some("acme"),
            Some(json!({"event": event, "data": {"object": {"n": i, "note": "<b>bold</b>"}}})),
        );
        assert_eq!(a.status, 202, "{}", a.text);
    }
    sink.take(27, Duration::from_secs(20));
    // The sink has seen every request; wait until every attempt is also
    // recorded (a record becomes durable a moment after the receiver got it).
    eventually(Duration::from_secs(20), "all recorded", || {
        let r = s.call(
            "GET",
            "/api/v1/deliveries?status=succeeded&limit=100",
            Some("acme"),
            None,
        );
        let n = serde_json::from_str::<serde_json::Value>(&r.text).ok()?["data"]
            .as_array()?
            .len();
        (n == 27).then_some(())
    });
    let p = eventually(Duration::from_secs(20), "all delivered", || {
        let p = b.get("/deliveries?status=succeeded");
        (p.body.matches("badge-ok").count() == 25).then_some(p)
    });
    p.assert(200, "Older →");
    let older = unescape(&between(&p.body, "class=\"btn\" href=\"", "\""));
    assert!(
        older.starts_with("/deliveries?status=succeeded&cursor="),
        "{older}"
    );
    let p2 = b.get(&older);
    p2.assert(200, "← Newest");
    assert_eq!(p2.body.matches("badge-ok").count(), 2, "the last two");

    // Filters.
    let p = b.get("/deliveries?event=order.created");
    assert_eq!(p.body.matches("<tr>").count() - 1, 1, "{}", p.body);
    b.get(&format!("/deliveries?webhook_id={ep}&status=failed"))
        .assert(200, "No deliveries match");
    b.get("/deliveries?since=2999-01-01T00:00")
        .assert(200, "No deliveries match");
    b.get("/deliveries?since=yesterday")
        .assert(422, "id=\"since-error\"");
    b.get("/deliveries?status=bogus")
        .assert(422, "id=\"status-error\"");

    // One delivery: envelope (escaped), attempt, then resend.
    let a = s.call("GET", "/api/v1/deliveries?limit=1", Some("acme"), None);
    let dlv = a.body["data"][0]["id"].as_str().unwrap().to_string();
    let p = b.get(&format!("/deliveries/{dlv}"));
    p.assert(200, "Attempt 1")
        .assert(200, "HTTP 200")
        .assert(200, &html("\"api_version\""))
        .assert(200, &html("<b>bold</b>"));
    assert!(p.body.contains("X-BrainSAIT-Signature"), "request headers");
    b.submit(&format!("/deliveries/{dlv}/resend"), &[])
        .assert_redirect(&format!("/deliveries/{dlv}?notice=resent"));
    sink.take(1, Duration::from_secs(10));
    eventually(Duration::from_secs(10), "a second attempt", || {
        b.get(&format!("/deliveries/{dlv}"))
            .body
            .contains("Attempt 2")
            .then_some(())
    });
    b.get("/deliveries/dlv_01HM7ZQ3X2K8Y4T6V9B0C1D2E3")
        .assert(404, "Not found");
    b.get("/deliveries/nonsense").assert(404, "Not found");

    // The dashboard: 24-hour figures from the metrics service, charts,
    // per-endpoint rows, the latest deliveries.
    let home = b.get("/");
    home.assert(200, "Last 24 hours")
        .assert(200, "Success rate")
        .assert(200, "src=\"/charts/success.svg?window=24h\"")
        .assert(200, "src=\"/charts/p95.svg?window=7d\"")
        .assert(200, "Last 7 days")
        .assert(200, "The numbers behind the charts")
        .assert(200, "Per day, last 7 days")
        .assert(200, "Endpoints, last 24 hours")
        .assert(200, "Latest deliveries");
    b.get("/webhooks").assert(200, "Success (24 h)");
    for chart in ["deliveries", "success", "latency", "p95"] {
        let c = b.get(&format!("/charts/{chart}.svg"));
        assert_eq!(c.status, 200, "{}", c.body);
        assert_eq!(c.header("content-type"), Some("image/svg+xml"));
        assert!(c.body.starts_with("<svg") && c.body.contains("<title>"));
        let w = b.get(&format!("/charts/{chart}.svg?window=7d"));
        assert!(w.body.contains("last 7 days"), "{}", w.body);
    }
    let c = b.get(&format!("/charts/success.svg?endpoint={ep}"));
    assert_eq!(c.status, 200);
    // The endpoint page has its own charts and the numbers behind them.
    b.get(&format!("/webhooks/{ep}"))
        .assert(
            200,
            &format!("src=\"/charts/p95.svg?endpoint={ep}&#38;window=24h\""),
        )
        .assert(200, "Per hour, last 24 hours");
    b.get("/charts/nope.svg").assert(404, "Not found");
}

#[test]
fn tenant_bound_users_see_only_their_tenant() {
    let s = Server::start_delivering(&[]);
    let sink = Sink::status(200);
    tenant(&s, "alpha");
    tenant(&s, "beta");
    let own = endpoint_via_api(&s, "alpha", &format!("{}/alpha", sink.url()));
    let theirs = endpoint_via_api(&s, "beta", &format!("{}/beta", sink.url()));
    let a = s.call(
        "POST",
        "/api/v1/events",
        Some("beta"),
        Some(json!({"event": "user.created", "data": {"object": {}}})),
    );
    let their_dlv = a.body["deliveries"][0]["id"].as_str().unwrap().to_string();

    let mut op = admin(&s);
    op.get("/users");
    // Validation next to the field.
    op.submit(
        "/users",
        &[
            ("username", "al ice"),
            ("password", "alice-password"),
            ("tenant_id", "alpha"),
        ],
    )
    .assert(422, "id=\"username-error\"");
    op.submit(
        "/users",
        &[
            ("username", "alice"),
            ("password", "short"),
            ("tenant_id", "alpha"),
        ],
    )
    .assert(422, "id=\"password-error\"");
    op.submit(
        "/users",
        &[
            ("username", "alice"),
            ("password", "alice-password"),
            ("tenant_id", "alpha"),
        ],
    )
    .assert_redirect("/users?notice=created");
    op.get("/users").assert(200, "alice");

    let mut alice = Browser::new(&s.base);
    alice.login_ok("alice", "alice-password");
    let home = alice.get("/");
    home.assert(200, "alpha");
    assert!(
        !home.body.contains("href=\"/tenants\""),
        "no operator navigation"
    );
    assert!(!home.body.contains("tenant-switch"), "no switcher");
    let list = alice.get("/webhooks");
    list.assert(200, "/alpha");
    assert!(!list.body.contains("/beta"));
    alice.get(&format!("/webhooks/{own}")).assert(200, "/alpha");

    // Another tenant's ids are "not found", for pages and actions.
    alice
        .get(&format!("/webhooks/{theirs}"))
        .assert(404, "Not found");
    alice
        .get(&format!("/webhooks/{theirs}/delete"))
        .assert(404, "Not found");
    alice
        .get(&format!("/deliveries/{their_dlv}"))
        .assert(404, "Not found");
    alice.get(&format!("/webhooks/{own}"));
    alice
        .submit(&format!("/webhooks/{theirs}/rotate"), &[])
        .assert(404, "Not found");
    alice
        .submit(&format!("/webhooks/{theirs}/delete"), &[])
        .assert(404, "Not found");
    alice
        .submit(&format!("/deliveries/{their_dlv}/resend"), &[])
        .assert(404, "Not found");
    alice
        .get(&format!("/charts/success.svg?endpoint={theirs}"))
        .assert(404, "Not found");
    alice
        .get(&format!("/deliveries?webhook_id={theirs}"))
        .assert(422, "not an endpoint of this tenant");
    let api = s.call(
        "GET",
        &format!("/api/v1/webhooks/{theirs}"),
        Some("beta"),
        None,
    );
    assert_eq!(api.status, 200, "still there");

    // Operator pages and the switcher are not for tenant users.
    for page in ["/tenants", "/keys", "/users"] {
        alice.get(page).assert(403, "Not allowed");
    }
    alice.get("/");
    alice
        .submit("/tenant", &[("tenant", "beta"), ("next", "/webhooks")])
        .assert(403, "Not allowed");
    assert!(!alice.get("/webhooks").body.contains("/beta"));

    // The operator switches tenants and sees beta's endpoint.
    op.get("/");
    op.submit("/tenant", &[("tenant", "beta"), ("next", "/webhooks")])
        .assert_redirect("/webhooks");
    op.get("/webhooks").assert(200, "/beta");
    op.get(&format!("/webhooks/{theirs}")).assert(200, "/beta");
    op.submit("/tenant", &[("tenant", "nope"), ("next", "/")])
        .assert(404, "Not found");
}

#[test]
fn operator_pages_tenants_keys_users_and_account() {
    let s = Server::start();
    let mut b = admin(&s);

    // Tenants: validation, create, suspend, resume.
    b.get("/tenants").assert(200, "No tenants yet");
    b.submit("/tenants", &[("id", "bad id!"), ("name", "")])
        .assert(422, "id=\"id-error\"");
    b.submit("/tenants", &[("id", "acme"), ("name", "Acme <Corp>")])
        .assert_redirect("/tenants?notice=created");
    b.submit("/tenants", &[("id", "acme"), ("name", "")])
        .assert(422, "a tenant with this id exists");
    b.get("/tenants")
        .assert(200, &html("Acme <Corp>"))
        .assert(200, "Active");
    b.submit("/tenants/acme/suspend", &[])
        .assert_redirect("/tenants?notice=suspended");
    b.get("/tenants").assert(200, "Suspended");
    let api = s.call("GET", "/api/v1/tenants/acme", None, None);
    assert_eq!(api.body["suspended"], true);
    b.submit("/tenants/acme/resume", &[])
        .assert_redirect("/tenants?notice=resumed");
    b.submit("/tenants/nope/resume", &[])
        .assert(404, "Not found");

    // Keys: created and shown once, usable, revoked.
    b.get("/keys").assert(200, "bootstrap platform key");
    b.submit("/keys", &[("name", ""), ("tenant_id", "acme")])
        .assert(422, "id=\"name-error\"");
    // The scope is a choice: nothing chosen is refused, not a platform key.
    b.submit("/keys", &[("name", "unscoped"), ("tenant_id", "")])
        .assert(422, "All tenants (platform)” for a key of every tenant");
    let p = b.submit("/keys", &[("name", "everything"), ("tenant_id", "*")]);
    p.assert(201, "It is a platform key");
    let p = b.submit("/keys", &[("name", "acme backend"), ("tenant_id", "acme")]);
    p.assert(201, "will not show it again");
    let key = between(&p.body, "id=\"new-key\" class=\"mono\">", "<");
    let a = s.call_as(Some(&key), "GET", "/api/v1/webhooks", None, None);
    assert_eq!(a.status, 200, "{}", a.text);
    let listed = b.get("/keys");
    assert!(!listed.body.contains(&key), "never shown again");
    let key_id = s.call("GET", "/api/v1/keys", None, None).body["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["name"] == "acme backend")
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    b.submit(&format!("/keys/{key_id}/revoke"), &[])
        .assert_redirect("/keys?notice=revoked");
    let a = s.call_as(Some(&key), "GET", "/api/v1/webhooks", None, None);
    assert_eq!(a.status, 401);

    // Users: an operator sets another user's password; its sessions end.
    b.get("/users");
    b.submit(
        "/users",
        &[
            ("username", "ops"),
            ("password", "first-password"),
            ("tenant_id", ""),
        ],
    )
    .assert_redirect("/users?notice=created");
    b.submit(
        "/users",
        &[
            ("username", "ops"),
            ("password", "first-password"),
            ("tenant_id", ""),
        ],
    )
    .assert(422, "this username is taken");
    let mut ops = Browser::new(&s.base);
    ops.login_ok("ops", "first-password");
    b.get("/users");
    b.submit("/users/ops/password", &[("password", "short")])
        .assert(422, "id=\"set_password-error\"");
    b.submit("/users/ops/password", &[("password", "second-password")])
        .assert_redirect("/users?notice=password");
    ops.get("/").assert_redirect("/login");
    ops.login("ops", "first-password")
        .assert(401, "Invalid username or password");
    ops.login_ok("ops", "second-password");

    // Account: change one's own password.
    ops.get("/account").assert(200, "Change your password");
    ops.submit(
        "/account",
        &[
            ("current_password", "wrong"),
            ("new_password", "third-password"),
            ("confirm_password", "third-password"),
        ],
    )
    .assert(422, "id=\"current_password-error\"");
    ops.submit(
        "/account",
        &[
            ("current_password", "second-password"),
            ("new_password", "third-password"),
            ("confirm_password", "third-passwort"),
        ],
    )
    .assert(422, "id=\"confirm_password-error\"");
    ops.submit(
        "/account",
        &[
            ("current_password", "second-password"),
            ("new_password", "third-password"),
            ("confirm_password", "third-password"),
        ],
    )
    .assert_redirect("/account?notice=password");
    ops.get("/").assert(200, "Dashboard");
    let mut again = Browser::new(&s.base);
    again.login_ok("ops", "third-password");
}

/// Puts tenants straight into a stopped server's data directory, as data
/// written before a rule changed would be.
fn store_tenants_directly(s: &mut Server, ids: &[&str]) {
    s.stop();
    let location = herald::store::Location::Sled {
        dir: s.data_dir.clone(),
        cache_bytes: 16 << 20,
    };
    let clock: Arc<dyn herald::clock::Clock> = Arc::new(herald::clock::SystemClock);
    let store = herald::app::open_store(&location, clock).expect("open the data directory");
    for id in ids {
        let tenant = herald::domain::tenant::Tenant {
            id: id.to_string(),
            name: format!("legacy {id}"),
            suspended: false,
            created_at: Timestamp::from_millis(1_700_000_000_000),
            updated_at: Timestamp::from_millis(1_700_000_000_000),
            metadata: Default::default(),
        };
        assert!(store.insert_tenant(&tenant).expect("insert"), "{id}");
    }
    store.flush().expect("flush");
    drop(store);
    s.start_again();
}

#[test]
fn tenant_ids_made_only_of_dots_are_refused_but_stored_ones_can_be_acted_on() {
    let mut s = Server::start();
    tenant(&s, "acme");

    // New tenants: the API, implicit creation, the panel form.
    for id in [".", "..", "..."] {
        let a = s.call("POST", "/api/v1/tenants", None, Some(json!({"id": id})));
        assert_error(&a, 422, "validation_failed");
        assert!(a.text.contains("not only dots"), "{}", a.text);
        let a = s.call(
            "POST",
            "/api/v1/webhooks",
            Some(id),
            Some(json!({"url": "https://hooks.example.com/a", "events": ["*"]})),
        );
        assert_error(&a, 400, "invalid_tenant_id");
        let a = s.call(
            "POST",
            "/api/v1/events",
            Some(id),
            Some(json!({"event": "order.created", "data": {"object": {}}})),
        );
        assert_error(&a, 400, "invalid_tenant_id");
    }
    let mut b = admin(&s);
    b.get("/tenants");
    b.submit("/tenants", &[("id", ".."), ("name", "")])
        .assert(422, "not only dots");
    let ids = |s: &Server| -> Vec<(String, bool)> {
        let a = s.call("GET", "/api/v1/tenants", None, None);
        a.body["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| {
                (
                    t["id"].as_str().unwrap().to_string(),
                    t["suspended"].as_bool().unwrap(),
                )
            })
            .collect()
    };
    assert_eq!(
        ids(&s),
        vec![("acme".to_string(), false)],
        "nothing created"
    );

    // The CLI (offline, on the stopped server's directory) refuses it too.
    s.stop();
    let out = s.cli(&["tenants", "create", ".."]);
    assert!(!out.status.success(), "{:?}", texts(&out));
    s.start_again();

    // Tenants stored before the rule still load and can be acted on.
    store_tenants_directly(&mut s, &["..", "."]);
    assert_eq!(
        ids(&s),
        vec![
            (".".to_string(), false),
            ("..".to_string(), false),
            ("acme".to_string(), false)
        ]
    );
    let mut b = admin(&s);
    let page = b.get("/tenants");
    page.assert(200, "legacy ..")
        .assert(200, "action=\"/tenants/suspend\"")
        .assert(200, "name=\"id\" value=\"..\"");
    b.submit("/tenants/suspend", &[("id", "..")])
        .assert_redirect("/tenants?notice=suspended");
    assert_eq!(
        ids(&s),
        vec![
            (".".to_string(), false),
            ("..".to_string(), true),
            ("acme".to_string(), false)
        ]
    );
    b.get("/tenants").assert(200, "action=\"/tenants/resume\"");
    b.submit("/tenants/resume", &[("id", "..")])
        .assert_redirect("/tenants?notice=resumed");
    b.submit("/tenants/suspend", &[("id", ".")])
        .assert_redirect("/tenants?notice=suspended");
    assert_eq!(
        ids(&s),
        vec![
            (".".to_string(), true),
            ("..".to_string(), false),
            ("acme".to_string(), false)
        ]
    );
    // The body forms keep the CSRF check; an unknown tenant is not found.
    let forged = b.post_raw("/tenants/suspend", &[("id", "..")], Some(&s.base));
    assert_eq!(forged.status, 403, "{}", forged.body);
    b.submit("/tenants/suspend", &[("id", "nope")])
        .assert(404, "Not found");
    b.submit("/tenants/suspend", &[]).assert(404, "Not found");

    // The switcher selects it, and a platform key can still name it.
    b.submit("/tenant", &[("tenant", ".."), ("next", "/webhooks")])
        .assert_redirect("/webhooks");
    let a = s.call(
        "POST",
        "/api/v1/webhooks",
        Some(".."),
        Some(json!({"url": "https://hooks.example.com/a", "events": ["*"]})),
    );
    assert_eq!(a.status, 201, "{}", a.text);
    b.get("/webhooks").assert(200, "hooks.example.com");
    assert_eq!(ids(&s).len(), 3, "still three tenants");

    // The API and the CLI's --server mode reach it too (the server never
    // removes dot segments; an encoded id is decoded).
    for path in ["/api/v1/tenants/..", "/api/v1/tenants/%2E%2E"] {
        let a = s.call("GET", path, None, None);
        assert_eq!(a.status, 200, "{path}: {}", a.text);
        assert_eq!(a.body["id"], "..", "{path}");
    }
    let out = s.cli(&[
        "tenants",
        "suspend",
        "..",
        "--server",
        &s.base,
        "--key",
        PLATFORM_KEY,
    ]);
    assert!(out.status.success(), "{:?}", texts(&out));
    let a = s.call("GET", "/api/v1/tenants/..", None, None);
    assert_eq!(a.body["suspended"], true, "{}", a.text);
}

#[test]
fn static_assets_are_content_hashed_and_cached_forever() {
    let s = Server::start();
    let mut b = Browser::new(&s.base);
    let p = b.get("/login");
    let css = between(&p.body, "<link rel=\"stylesheet\" href=\"", "\"");
    let js = between(&p.body, "<script src=\"", "\"");
    assert!(
        css.starts_with("/static/") && css.ends_with("/app.css"),
        "{css}"
    );
    for (url, ct) in [(&css, "text/css"), (&js, "text/javascript")] {
        let a = b.get(url);
        assert_eq!(a.status, 200);
        assert!(a.header("content-type").unwrap().starts_with(ct));
        assert_eq!(
            a.header("cache-control"),
            Some("public, max-age=31536000, immutable")
        );
    }
    let stale = css.replace("/static/", "/static/0000");
    assert_eq!(b.get(&stale).status, 404);
    assert_eq!(b.get("/static/0123456789abcdef/app.css").status, 404);
    // Unknown pages are HTML 404s; the API keeps its JSON ones.
    b.get("/no-such-page").assert(404, "Not found");
    let a = s.call("GET", "/api/v1/no-such-route", None, None);
    assert_error(&a, 404, "not_found");
}

#[test]
fn sessions_expire_when_idle() {
    let tmp = tempfile::tempdir().unwrap();
    let args = ServeArgs {
        listen: Some("127.0.0.1:0".into()),
        data_dir: Some(tmp.path().join("data")),
        ..Default::default()
    };
    let mut cfg = args.resolve().unwrap();
    cfg.admin_password = Some(ADMIN_PASSWORD.into());
    cfg.platform_key = Some(PLATFORM_KEY.into());
    let clock = Arc::new(ManualClock::new(Timestamp::from_millis(1_705_314_600_000)));
    let running = herald::app::start(cfg, clock.clone()).unwrap();
    let base = format!("http://{}", running.addr);
    let mut b = Browser::new(&base);
    b.login_ok("admin", ADMIN_PASSWORD);
    // Used within the idle timeout: still logged in, and the timer restarts.
    clock.advance_ms(90 * 60_000);
    b.get("/").assert(200, "Dashboard");
    clock.advance_ms(90 * 60_000);
    b.get("/").assert(200, "Dashboard");
    // Two idle hours: over.
    clock.advance_ms(2 * 3_600_000);
    b.get("/").assert_redirect("/login");
    b.login_ok("admin", ADMIN_PASSWORD);
    b.get("/").assert(200, "Dashboard");
    running.stop();
}

#[test]
fn end_to_end_in_headless_chromium() {
    let chromium = std::env::var("CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
    assert!(
        std::path::Path::new(&chromium).exists(),
        "{chromium} is missing: install Debian's chromium (.ci/run does)"
    );
    let root = env!("CARGO_MANIFEST_DIR");
    // One failed attempt fires "endpoint down": the layout pass sees the
    // alert banner, the red count in the navigation and a 500 answer.
    let s = Server::start_delivering(&["--alert-down-after", "1"]);
    let sink = Sink::status(200);
    let failing = Sink::status(500);
    let out = std::process::Command::new("node")
        .arg(format!("{root}/tests/ui/e2e.js"))
        .arg(&s.base)
        .arg("admin")
        .arg(ADMIN_PASSWORD)
        .arg(sink.url())
        .arg(failing.url())
        .env("SCREENSHOT_DIR", format!("{root}/target/ui-screenshots"))
        .env("CHROMIUM", &chromium)
        .output()
        .expect("run node tests/ui/e2e.js (run tests/ui/install.sh first)");
    let (stdout, stderr) = texts(&out);
    assert!(
        out.status.success() && stdout.contains("E2E OK"),
        "e2e failed ({}):\nstdout:\n{stdout}\nstderr:\n{stderr}\nserver log:\n{}",
        out.status,
        s.stderr.lock().unwrap()
    );
    // The receiver got the test event and its resend, signed.
    let got = sink.drain(Duration::from_millis(200));
    assert!(got
        .iter()
        .all(|r| r.header("X-BrainSAIT-Signature").is_some()));
    // Every page of the panel at both widths (the layout pass).
    let pages = [
        "dashboard",
        "webhooks",
        "webhook-new",
        "webhook",
        "webhook-failing",
        "deliveries",
        "delivery",
        "delivery-500",
        "alerts",
        "tenants",
        "keys",
        "users",
        "account",
        "login",
    ];
    let widths = pages
        .iter()
        .flat_map(|p| [format!("w390-{p}"), format!("w1280-{p}")]);
    for name in [
        "login",
        "webhook-created",
        "deliveries",
        "delivery",
        "webhook-rotated",
    ]
    .into_iter()
    .map(String::from)
    .chain(widths)
    {
        let found = std::fs::read_dir(format!("{root}/target/ui-screenshots"))
            .unwrap()
            .filter_map(Result::ok)
            .any(|e| {
                e.file_name()
                    .to_string_lossy()
                    .ends_with(&format!("-{name}.png"))
                    || e.file_name().to_string_lossy() == format!("{name}.png")
            });
        assert!(found, "screenshot of {name}");
    }
}

#[test]
fn firing_alerts_show_as_a_banner_on_every_page_and_on_the_alerts_page() {
    let s = Server::start_delivering(&[]);
    let sink = Sink::status(503);
    tenant(&s, "acme");
    tenant(&s, "other");
    let ep = endpoint_via_api(&s, "acme", &sink.url());
    let mut b = admin(&s);
    b.get("/alerts").assert(200, "Nothing is firing");
    assert!(!b.get("/").body.contains("alert-banner"));
    for _ in 0..5 {
        let a = s.call(
            "POST",
            "/api/v1/events",
            Some("acme"),
            Some(json!({"event": "order.created", "data": {"object": {}}})),
        );
        assert_eq!(a.status, 202);
    }
    sink.take(5, Duration::from_secs(20));
    eventually(Duration::from_secs(20), "endpoint down to fire", || {
        let a = s.call("GET", "/api/v1/alerts", Some("acme"), None);
        (a.body["firing"].as_array().is_some_and(|f| f.len() == 1)).then_some(())
    });
    // The banner is on every page; the Alerts page says what and where.
    for path in ["/", "/webhooks", "/deliveries"] {
        b.get(path).assert(200, "1 alert firing.");
    }
    b.get("/alerts")
        .assert(200, "Endpoint down")
        .assert(200, "5 consecutive failed attempts")
        .assert(200, &format!("href=\"/webhooks/{ep}\""));
    // A user bound to another tenant sees none of it.
    b.get("/users");
    b.submit(
        "/users",
        &[
            ("username", "otheruser"),
            ("password", "other-password-1"),
            ("tenant_id", "other"),
        ],
    )
    .assert_redirect("/users?notice=created");
    let mut o = Browser::new(&s.base);
    o.login_ok("otheruser", "other-password-1");
    assert!(!o.get("/").body.contains("alert-banner"));
    o.get("/alerts").assert(200, "Nothing is firing");
}

/// Issue 15: with a receiver answering 500, the dashboard, the webhooks
/// list, the log and the API all say what is failing (endpoint, retrying
/// deliveries, attempt failure rate); "retry now" sends every waiting
/// delivery once after the receiver recovers, and the figures turn calm.
#[test]
fn a_failing_receiver_shows_everywhere_and_retry_now_sends_what_waits() {
    use std::sync::atomic::{AtomicBool, Ordering};
    let healthy = Arc::new(AtomicBool::new(false));
    let h2 = healthy.clone();
    let sink = Sink::start(move |_| {
        let code = if h2.load(Ordering::SeqCst) { 200 } else { 500 };
        Reply::Status(code, vec![], "x".into())
    });
    let other = Sink::status(200);
    let s = Server::start_delivering(&[]);
    tenant(&s, "acme");
    tenant(&s, "globex");
    let ep = endpoint_via_api(&s, "acme", &sink.url());
    let ok_ep = endpoint_via_api(&s, "acme", &other.url());
    for i in 0..5 {
        let a = s.call(
            "POST",
            "/api/v1/events",
            Some("acme"),
            Some(json!({"id": format!("ord_{i}"), "event": "order.created", "data": {"object": {"n": i}}})),
        );
        assert_eq!(a.status, 202, "{}", a.text);
    }
    // The first attempts fail; the retries wait 5 minutes.
    sink.take(5, Duration::from_secs(20));
    other.take(5, Duration::from_secs(20));
    let retrying = |s: &Server| {
        let a = s.call(
            "GET",
            "/api/v1/deliveries?status=retrying",
            Some("acme"),
            None,
        );
        assert_eq!(a.status, 200, "{}", a.text);
        a.body["data"].as_array().map_or(0, |d| d.len())
    };
    eventually(Duration::from_secs(10), "5 deliveries retrying", || {
        (retrying(&s) == 5).then_some(())
    });

    // The API: the log's words and the metrics' "now".
    let m = s.call("GET", "/api/v1/metrics", Some("acme"), None);
    assert_eq!(m.status, 200, "{}", m.text);
    assert_eq!(m.body["now"]["retrying_deliveries"], 5, "{}", m.text);
    assert_eq!(
        m.body["now"]["failing_endpoints"][0]["webhook_id"],
        ep.as_str()
    );
    assert_eq!(m.body["attempt_failure_rate"], 0.5, "{}", m.text);
    let d = s.call("GET", "/api/v1/events/ord_0", Some("acme"), None);
    let statuses: Vec<&str> = d.body["deliveries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["status"].as_str().unwrap())
        .collect();
    assert!(statuses.contains(&"retrying") && statuses.contains(&"succeeded"));

    // The panel: dashboard, webhooks list, log.
    let mut b = admin(&s);
    let dash = b.get("/");
    dash.assert(200, "Deliveries retrying");
    assert!(dash.body.contains("Failing"), "{}", dash.body);
    assert!(
        !dash.body.contains("No endpoint is failing"),
        "{}",
        dash.body
    );
    assert!(
        !dash.body.contains("No delivery has failed"),
        "{}",
        dash.body
    );
    let now = &dash.body[dash.body.find("id=\"now\"").unwrap()..];
    let value = |label: &str| {
        let i = now.find(label).unwrap();
        let v = &now[i..];
        let j = v.find("stat-value\">").unwrap() + "stat-value\">".len();
        v[j..j + v[j..].find('<').unwrap()].to_string()
    };
    assert_eq!(value("Failing endpoints"), "1");
    assert_eq!(value("Deliveries retrying"), "5");
    assert_eq!(value("Attempts failing"), "50.0 %");
    let list = b.get("/webhooks");
    list.assert(200, "5 failures in a row");
    assert!(list.body.contains("Failing"), "{}", list.body);
    // The failing endpoint is not shown as calm; the healthy one is.
    let badge = |label: &str| format!("</span> {label}</span>");
    assert_eq!(
        list.body.matches(&badge("Failing")).count(),
        1,
        "{}",
        list.body
    );
    assert_eq!(
        list.body.matches(&badge("Active")).count(),
        1,
        "{}",
        list.body
    );
    let log = b.get("/deliveries?status=retrying");
    log.assert(200, "Retrying");
    assert_eq!(log.body.matches("↻").count(), 5, "{}", log.body);
    assert_eq!(
        b.get("/deliveries?status=nonsense").status,
        422,
        "an unknown status is refused"
    );

    // Find a delivery: by delivery id, event id, client id; another
    // tenant's is not found.
    let dlv = d.body["deliveries"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["webhook_id"] == ep.as_str())
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    b.get(&format!("/deliveries?find={dlv}"))
        .assert_redirect(&format!("/deliveries/{dlv}"));
    let found = b.get("/deliveries?find=ord_0");
    assert_eq!(found.status, 303);
    let page = b.get(found.location());
    page.assert(200, "other deliveries");
    assert!(page.body.contains(&other.url()) || page.body.contains(&sink.url()));
    let g = s.call(
        "POST",
        "/api/v1/events",
        Some("globex"),
        Some(json!({"id": "globex_evt", "event": "order.created", "data": {"object": {}}})),
    );
    assert_eq!(g.status, 202);
    b.get("/deliveries?find=globex_evt")
        .assert(404, "no delivery or event has that id in this tenant");

    // The receiver recovers: "retry now" sends every retrying delivery
    // once, now, not in 5 minutes.
    healthy.store(true, Ordering::SeqCst);
    // A malformed time in the body is a validation failure of that field
    // (not a query error), and changes nothing.
    let bad = s.call(
        "POST",
        &format!("/api/v1/webhooks/{ep}/retry"),
        Some("acme"),
        Some(json!({"failed_since": "yesterday"})),
    );
    assert_error(&bad, 422, "validation_failed");
    assert!(bad.text.contains("failed_since"), "{}", bad.text);
    assert!(
        sink.drain(Duration::from_millis(300)).is_empty(),
        "nothing sent"
    );
    let r = s.call(
        "POST",
        &format!("/api/v1/webhooks/{ep}/retry"),
        Some("acme"),
        None,
    );
    assert_eq!(r.status, 202, "{}", r.text);
    assert_eq!(r.body, json!({"retrying": 5, "failed": 0}));
    let again = sink.take(5, Duration::from_secs(20));
    let ids: std::collections::HashSet<String> = again
        .iter()
        .map(|r| {
            serde_json::from_slice::<serde_json::Value>(&r.body).unwrap()["id"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    assert_eq!(ids.len(), 5, "each waiting delivery once");
    eventually(Duration::from_secs(10), "nothing retrying", || {
        (retrying(&s) == 0).then_some(())
    });
    assert!(
        sink.drain(Duration::from_millis(500)).is_empty(),
        "sent once"
    );
    // Idempotent: nothing waits now; the panel says so without green.
    b.get(&format!("/webhooks/{ep}")).assert(200, "Retry now");
    let done = b.submit(&format!("/webhooks/{ep}/retry"), &[]);
    done.assert_redirect(&format!("/webhooks/{ep}?notice=retried"));
    b.get(done.location())
        .assert(200, "Nothing was waiting")
        .assert(200, "flash-info");
    let m = s.call("GET", "/api/v1/metrics", Some("acme"), None);
    assert_eq!(m.body["now"]["retrying_deliveries"], 0, "{}", m.text);
    assert_eq!(m.body["now"]["failing_endpoints"], json!([]), "{}", m.text);
    let dash = b.get("/");
    dash.assert(200, "none waiting for a retry");
    assert!(dash.body.contains("No endpoint is failing now"));
    let _ = ok_ep;
}
