//! Issue 19, part 1: the embeddable tenant portal, at the HTTP level. A
//! platform key asks for a one-time link (`POST /api/v1/portal-sessions`);
//! the browser that opens it is in the panel for that tenant only, until
//! the session's `expires_in`; a link works once; `read_only` shows no
//! form and the server refuses every one (403 `read_only_session`); the
//! portal's pages may be framed by `--portal-frame-ancestors` only, and its
//! cookies are `SameSite=None; Secure` only in that mode over TLS.

use std::sync::Arc;

use herald::clock::ManualClock;
use herald::config::ServeArgs;
use herald::domain::time::Timestamp;
use serde_json::json;

use crate::support::*;
use crate::ui::{admin, endpoint_via_api, Browser};

/// The origin allowed to frame the portal in these tests.
const EMBEDDER: &str = "http://127.0.0.1:9";

fn link(s: &Server, body: serde_json::Value) -> String {
    let a = s.call("POST", "/api/v1/portal-sessions", None, Some(body));
    assert_eq!(a.status, 201, "{}", a.text);
    a.body["url"].as_str().unwrap().to_string()
}

/// The path of a link URL (`/portal/<token>`).
fn path_of(url: &str) -> String {
    url[url.find("/portal/").expect("a portal URL")..].to_string()
}

fn posts(body: &str) -> usize {
    body.matches("method=\"post\"").count()
}

#[test]
fn portal_links_open_one_tenant_once_and_read_only_changes_nothing() {
    let s = Server::start_with(
        &[
            "--allow-http",
            "--portal-frame-ancestors",
            EMBEDDER,
            "--portal-name",
            "BrainSAIT Store",
        ],
        &[],
    );
    let a_ep = endpoint_via_api(&s, "tenant_a", "https://a.example/hooks");
    let b_ep = endpoint_via_api(&s, "tenant_b", "https://b.example/hooks");
    let ev = s.call(
        "POST",
        "/api/v1/events",
        Some("tenant_b"),
        Some(json!({"event": "order.created", "data": {"object": {"id": 1}}})),
    );
    assert_eq!(ev.status, 202, "{}", ev.text);
    let dl = s.call("GET", "/api/v1/deliveries", Some("tenant_b"), None);
    let b_delivery = dl.body["data"][0]["id"]
        .as_str()
        .expect("a delivery")
        .to_string();

    // The API: platform key only, bad input refused with a stable code.
    let a = s.call(
        "POST",
        "/api/v1/portal-sessions",
        None,
        Some(json!({"tenant_id": "tenant_a", "read_only": true, "expires_in": 900, "return_url": "https://store.example/settings"})),
    );
    assert_eq!(a.status, 201, "{}", a.text);
    assert_eq!(a.body["tenant_id"], "tenant_a");
    assert_eq!(a.body["session_expires_in"], 900);
    assert_eq!(a.body["read_only"], true);
    let url = a.body["url"].as_str().unwrap();
    assert!(url.starts_with(&format!("{}/portal/", s.base)), "{url}");
    assert_eq!(
        a.body["token"].as_str().unwrap().len(),
        43,
        "256 bits, base64url"
    );
    let read_only_link = path_of(url);
    let tenant_key = s.tenant_key("tenant_a");
    let a = s.call_as(
        Some(&tenant_key),
        "POST",
        "/api/v1/portal-sessions",
        None,
        Some(json!({"tenant_id": "tenant_a"})),
    );
    assert_error(&a, 403, "forbidden");
    for (body, status, code) in [
        (
            json!({"tenant_id": "tenant_a", "expires_in": 13 * 3600}),
            422,
            "validation_failed",
        ),
        (
            json!({"tenant_id": "tenant_a", "expires_in": 0}),
            422,
            "validation_failed",
        ),
        (
            json!({"tenant_id": "tenant_a", "return_url": "javascript:alert(1)"}),
            422,
            "validation_failed",
        ),
        (json!({"tenant_id": "_herald"}), 400, "invalid_tenant_id"),
        (json!({"tenant_id": "a b"}), 400, "invalid_tenant_id"),
    ] {
        let a = s.call("POST", "/api/v1/portal-sessions", None, Some(body.clone()));
        assert_error(&a, status, code);
        assert!(a.text.len() < 1000, "{body}");
    }
    let a = s.call(
        "POST",
        "/api/v1/portal-sessions",
        None,
        Some(json!({"tenant": "x"})),
    );
    assert!(a.status == 400 || a.status == 422, "{}", a.text);

    // Opening a link: cookies, then the tenant's endpoints.
    let url = link(&s, json!({"tenant_id": "tenant_a"}));
    let mut p = Browser::new(&s.base);
    let opened = p.get(&path_of(&url));
    opened.assert_redirect("/webhooks");
    let cookies = opened.set_cookies().join("\n");
    assert!(
        cookies.contains("herald_session=") && cookies.contains("SameSite=Lax"),
        "plain HTTP keeps Lax: {cookies}"
    );
    assert!(!cookies.contains("SameSite=None"), "{cookies}");
    assert!(p.cookies.contains_key("herald_portal"));
    let list = p.get("/webhooks");
    list.assert(200, "https://a.example/hooks");
    assert!(
        !list.body.contains("b.example"),
        "another tenant's endpoint"
    );
    assert!(list.body.contains("BrainSAIT Store"), "the theme's name");
    for operator in [
        "href=\"/tenants\"",
        "href=\"/keys\"",
        "href=\"/users\"",
        "href=\"/account\"",
        "tenant-switch",
        "/logout",
    ] {
        assert!(!list.body.contains(operator), "{operator} in the portal");
    }
    assert_eq!(
        list.header("content-security-policy"),
        Some(format!("default-src 'self'; frame-ancestors {EMBEDDER}; form-action 'self'; object-src 'none'").as_str())
    );
    assert_eq!(
        list.header("x-frame-options"),
        None,
        "frame-ancestors decides"
    );

    // The same link again, from another browser or the same: refused.
    let mut again = Browser::new(&s.base);
    again.get(&path_of(&url)).assert(401, "already used");
    p.get(&path_of(&url)).assert(401, "already used");

    // It can add an endpoint …
    p.get("/webhooks/new").assert(200, "Add");
    let made = p.submit(
        "/webhooks/new",
        &[
            ("url", "https://a.example/second"),
            ("events", "*"),
            ("active", "true"),
        ],
    );
    assert_eq!(made.status, 303, "{}", made.body);
    p.get("/webhooks").assert(200, "https://a.example/second");
    let listed = s.call("GET", "/api/v1/webhooks", Some("tenant_a"), None);
    assert!(listed.text.contains("https://a.example/second"));
    // … see its own endpoint and metrics …
    p.get(&format!("/webhooks/{a_ep}"))
        .assert(200, "https://a.example/hooks");
    p.get("/").assert(200, "Dashboard");
    p.get("/deliveries").assert(200, "Delivery logs");
    // … but not another tenant's records by changing ids …
    p.get(&format!("/webhooks/{b_ep}")).assert(404, "Not found");
    p.get(&format!("/deliveries/{b_delivery}"))
        .assert(404, "Not found");
    let rotate = p.submit(&format!("/webhooks/{b_ep}/rotate"), &[]);
    assert_eq!(rotate.status, 404, "{}", rotate.body);
    // … nor operator, account or other pages, nor the tenant switcher.
    for page in [
        "/tenants",
        "/keys",
        "/users",
        "/account",
        "/backups",
        "/event-types",
        "/alerts",
        "/api-reference",
    ] {
        let got = p.get(page);
        assert_eq!(got.status, 403, "{page}: {}", got.body);
        assert!(got.body.contains("not part of the portal"), "{page}");
    }
    p.submit("/tenant", &[("tenant", "tenant_b"), ("next", "/webhooks")]);
    let still = p.get("/webhooks");
    still.assert(200, "https://a.example/hooks");
    assert!(!still.body.contains("b.example"));
    // A form posted from the embedding page's origin is cross-site.
    let csrf = p.csrf.clone();
    let forged = p.post_raw(
        &format!("/webhooks/{a_ep}/rotate"),
        &[("csrf", &csrf)],
        Some(EMBEDDER),
    );
    forged.assert(403, "another site");

    // An operator's own pages are never frameable.
    let mut op = admin(&s);
    let own = op.get("/webhooks");
    assert!(own
        .header("content-security-policy")
        .unwrap()
        .contains("frame-ancestors 'none'"));
    assert_eq!(own.header("x-frame-options"), Some("DENY"));

    // Read-only: no form anywhere, and every post refused.
    let secret_before = s
        .call(
            "GET",
            &format!("/api/v1/webhooks/{a_ep}"),
            Some("tenant_a"),
            None,
        )
        .body["secret"]
        .clone();
    let mut r = Browser::new(&s.base);
    r.get(&read_only_link).assert_redirect("/webhooks");
    let list = r.get("/webhooks");
    list.assert(200, "https://a.example/hooks");
    assert!(list.body.contains("Back"), "the return link");
    assert!(!list.body.contains("/webhooks/new"));
    for page in [
        "/webhooks".to_string(),
        format!("/webhooks/{a_ep}"),
        "/".into(),
        "/deliveries".into(),
    ] {
        let got = r.get(&page);
        assert_eq!(got.status, 200, "{page}");
        assert_eq!(posts(&got.body), 0, "a form on {page}:\n{}", got.body);
    }
    r.get("/webhooks/new").assert(403, "read_only_session");
    r.get(&format!("/webhooks/{a_ep}/delete"))
        .assert(403, "read_only_session");
    // Posts are refused as read-only whatever they carry (the pages hold
    // no form, so no CSRF token either).
    let csrf = r.csrf.clone();
    for action in ["rotate", "toggle", "test", "replay", "retry", "delete"] {
        let got = r.post_raw(
            &format!("/webhooks/{a_ep}/{action}"),
            &[
                ("csrf", &csrf),
                ("active", "false"),
                ("event", "order.created"),
            ],
            Some(&s.base),
        );
        got.assert(403, "read_only_session");
    }
    let after = s.call(
        "GET",
        &format!("/api/v1/webhooks/{a_ep}"),
        Some("tenant_a"),
        None,
    );
    assert_eq!(after.body["secret"], secret_before, "nothing rotated");
    assert_eq!(after.body["active"], true, "nothing disabled");
}

#[test]
fn concurrent_uses_of_one_link_open_one_session() {
    one_of_many_wins(&Server::start());
}

#[test]
fn concurrent_uses_of_one_link_open_one_session_on_postgres() {
    let s = Server::start_postgres(&[]);
    one_of_many_wins(&s);
    // The session it opened is the database's, like every session.
    let mut b = Browser::new(&s.base);
    b.get(&path_of(&link(&s, json!({"tenant_id": "tenant_a"}))))
        .assert_redirect("/webhooks");
    b.get("/webhooks").assert(200, "Webhooks");
}

/// Eight browsers open one link at once: exactly one gets in.
fn one_of_many_wins(s: &Server) {
    let url = link(s, json!({"tenant_id": "tenant_a"}));
    let path = path_of(&url);
    let statuses: Vec<u16> = std::thread::scope(|sc| {
        let hs: Vec<_> = (0..8)
            .map(|_| {
                let (base, path) = (s.base.clone(), path.clone());
                sc.spawn(move || Browser::new(&base).get(&path).status)
            })
            .collect();
        hs.into_iter().map(|h| h.join().unwrap()).collect()
    });
    assert_eq!(
        statuses.iter().filter(|&&c| c == 303).count(),
        1,
        "{statuses:?}"
    );
    assert_eq!(
        statuses.iter().filter(|&&c| c == 401).count(),
        7,
        "{statuses:?}"
    );
}

#[test]
fn embedded_over_tls_the_cookies_are_samesite_none_and_secure() {
    let s = Server::start_with(&["--allow-http", "--portal-frame-ancestors", EMBEDDER], &[]);
    let url = link(&s, json!({"tenant_id": "tenant_a"}));
    let mut b = Browser::new(&s.base);
    b.extra.push(("X-Forwarded-Proto".into(), "https".into()));
    let opened = b.get(&path_of(&url));
    opened.assert_redirect("/webhooks");
    let cookies = opened.set_cookies();
    let session = cookies
        .iter()
        .find(|c| c.starts_with("__Host-herald_session="))
        .expect("the session cookie, __Host- over TLS");
    assert!(
        session.contains("SameSite=None")
            && session.contains("Secure")
            && session.contains("HttpOnly"),
        "{session}"
    );
}

/// An in-process server on a manual clock.
fn on_clock(
    extra: impl FnOnce(&mut ServeArgs),
) -> (herald::app::Running, Arc<ManualClock>, tempfile::TempDir) {
    let tmp = tempfile::tempdir().unwrap();
    let mut args = ServeArgs {
        listen: Some("127.0.0.1:0".into()),
        data_dir: Some(tmp.path().join("data")),
        ..Default::default()
    };
    extra(&mut args);
    let mut cfg = args.resolve().unwrap();
    cfg.admin_password = Some(ADMIN_PASSWORD.into());
    cfg.platform_key = Some(PLATFORM_KEY.into());
    let clock = Arc::new(ManualClock::new(Timestamp::from_millis(1_705_314_600_000)));
    let running = herald::app::start(cfg, clock.clone()).unwrap();
    (running, clock, tmp)
}

#[test]
fn portal_sessions_and_unused_links_expire_on_time() {
    let (running, clock, _tmp) = on_clock(|a| a.portal_max_session = Some("10m".into()));
    let base = format!("http://{}", running.addr);
    let agent = test_agent();
    let make = |body: serde_json::Value| {
        let a = call_json(
            &agent,
            &base,
            "POST",
            "/api/v1/portal-sessions",
            None,
            Some(body),
        );
        assert_eq!(a.status, 201, "{}", a.text);
        path_of(a.body["url"].as_str().unwrap())
    };
    let a = call_json(
        &agent,
        &base,
        "POST",
        "/api/v1/portal-sessions",
        None,
        Some(json!({"tenant_id": "tenant_a"})),
    );
    assert_eq!(
        a.body["session_expires_in"], 600,
        "the default cut to --portal-max-session"
    );
    let short = make(json!({"tenant_id": "tenant_a", "expires_in": 60}));
    let unused = make(json!({"tenant_id": "tenant_a"}));
    let mut b = Browser::new(&base);
    // Without embedding the cookie stays Lax, even over TLS.
    b.extra.push(("X-Forwarded-Proto".into(), "https".into()));
    let opened = b.get(&short);
    opened.assert_redirect("/webhooks");
    assert!(opened
        .set_cookies()
        .iter()
        .all(|c| c.contains("SameSite=Lax") && c.contains("Secure")));
    assert!(opened
        .header("content-security-policy")
        .unwrap()
        .contains("frame-ancestors 'none'"));
    b.get("/webhooks").assert(200, "Webhooks");
    clock.advance_ms(59_000);
    b.get("/webhooks").assert(200, "Webhooks");
    clock.advance_ms(1_000);
    // Ended: the page asks for a new link, not for a password.
    b.get("/webhooks").assert(401, "open the portal again");
    // A link not used within five minutes is gone too.
    clock.advance_ms(4 * 60_000);
    Browser::new(&base)
        .get(&unused)
        .assert(401, "already used or has expired");
    running.stop();
}

/// A page on another loopback origin (its own port) that frames its `?src=`
/// in `<iframe id="portal">`, and serves `/logo.svg`: the platform's page
/// embedding the portal. Answers its base URL; the thread lives as long as
/// the test process.
fn embedder(name: &'static str) -> String {
    use std::io::{Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(mut conn) = conn else { continue };
            let mut head = Vec::new();
            let mut buf = [0u8; 1024];
            while !head.windows(4).any(|w| w == b"\r\n\r\n") && head.len() < 16 * 1024 {
                match conn.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => head.extend_from_slice(&buf[..n]),
                }
            }
            let head = String::from_utf8_lossy(&head);
            let target = head.split_whitespace().nth(1).unwrap_or("/").to_string();
            let parsed = url::Url::parse(&format!("http://x{target}")).unwrap();
            let (ctype, body) = if parsed.path() == "/logo.svg" {
                (
                    "image/svg+xml",
                    "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"24\" height=\"24\"><circle cx=\"12\" cy=\"12\" r=\"11\" fill=\"#0a7cff\"/></svg>".to_string(),
                )
            } else {
                let src = parsed
                    .query_pairs()
                    .find(|(k, _)| k == "src")
                    .map(|(_, v)| v.into_owned())
                    .unwrap_or_default();
                let attr: String = src
                    .chars()
                    .map(|c| match c {
                        '"' => "&quot;".to_string(),
                        '&' => "&amp;".to_string(),
                        '<' => "&lt;".to_string(),
                        c => c.to_string(),
                    })
                    .collect();
                (
                    "text/html; charset=utf-8",
                    format!("<!doctype html><html><head><title>{name}</title></head><body style=\"margin:0;font-family:sans-serif;background:#eef2f7\"><div style=\"padding:12px 24px;background:#0b1f3a;color:#fff\"><strong>{name}</strong> · Settings → Webhooks</div><iframe id=\"portal\" src=\"{attr}\" style=\"border:0;width:100%;height:1400px\"></iframe></body></html>"),
                )
            };
            let _ = write!(
                conn,
                "HTTP/1.1 200 OK\r\nContent-Type: {ctype}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    base
}

#[test]
fn embedded_in_headless_chromium() {
    let chromium = std::env::var("CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
    assert!(
        std::path::Path::new(&chromium).exists(),
        "{chromium} is missing: install Debian's chromium (.ci/run does)"
    );
    let root = env!("CARGO_MANIFEST_DIR");
    let allowed = embedder("BrainSAIT Store");
    let refused = embedder("Somewhere else");
    let logo = format!("{allowed}/logo.svg");
    let s = Server::start_with(
        &[
            "--allow-http",
            "--portal-frame-ancestors",
            &allowed,
            "--portal-name",
            "BrainSAIT Store",
            "--portal-accent",
            "#0A7CFF",
            "--portal-logo-url",
            &logo,
        ],
        &[],
    );
    let out = std::process::Command::new("node")
        .arg(format!("{root}/tests/ui/portal.js"))
        .arg(&s.base)
        .arg(PLATFORM_KEY)
        .arg(&allowed)
        .arg(&refused)
        .env(
            "SCREENSHOT_DIR",
            format!("{root}/target/ui-screenshots/portal"),
        )
        .env("CHROMIUM", &chromium)
        .output()
        .expect("run node tests/ui/portal.js (run tests/ui/install.sh first)");
    let (stdout, stderr) = texts(&out);
    assert!(
        out.status.success() && stdout.contains("PORTAL OK"),
        "portal.js failed ({}):\nstdout:\n{stdout}\nstderr:\n{stderr}\nserver log:\n{}",
        out.status,
        s.stderr.lock().unwrap()
    );
}
