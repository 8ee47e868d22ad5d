//! Issue 15, item 5: users disabled, enabled and removed (never the last
//! enabled operator) from the API, the panel and the CLI; keys and users
//! show their last use.

use serde_json::{json, Value};

use crate::support::*;
use crate::ui::Browser;

fn add_user(s: &Server, name: &str, tenant: &str) {
    let mut b = Browser::new(&s.base);
    b.login_ok("admin", ADMIN_PASSWORD);
    b.get("/users");
    b.submit(
        "/users",
        &[
            ("username", name),
            ("password", "ops-password-1"),
            ("tenant_id", tenant),
        ],
    )
    .assert_redirect("/users?notice=created");
}

fn user<'a>(list: &'a Value, name: &str) -> &'a Value {
    list["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["username"] == name)
        .unwrap_or_else(|| panic!("{name} in {list}"))
}

#[test]
fn the_api_disables_enables_and_removes_users_but_never_the_last_operator() {
    let s = Server::start();
    add_user(&s, "ops", "");
    let mut ops = Browser::new(&s.base);
    ops.login_ok("ops", "ops-password-1");

    let list = s.call("GET", "/api/v1/users", None, None);
    assert_eq!(list.status, 200, "{}", list.text);
    let admin = user(&list.body, "admin");
    assert_eq!(admin["kind"], "operator");
    assert!(
        admin["last_login_at"].is_string(),
        "admin logged in: {admin}"
    );
    assert!(admin.get("password_hash").is_none());
    assert_eq!(user(&list.body, "ops")["disabled"], false);

    let d = s.call("POST", "/api/v1/users/ops/disable", None, None);
    assert_eq!(d.status, 200, "{}", d.text);
    assert_eq!(d.body["disabled"], true);
    assert!(d.body["disabled_at"].is_string());
    ops.get("/").assert_redirect("/login");
    ops.login("ops", "ops-password-1")
        .assert(401, "This user is disabled");

    // ops is disabled: admin is the last enabled operator.
    for (method, path) in [
        ("POST", "/api/v1/users/admin/disable"),
        ("DELETE", "/api/v1/users/admin"),
    ] {
        let a = s.call(method, path, None, None);
        assert_error(&a, 409, "last_operator");
        assert!(a.text.contains("last active operator"), "{}", a.text);
    }
    let mut admin_browser = Browser::new(&s.base);
    admin_browser.login_ok("admin", ADMIN_PASSWORD);

    let e = s.call("POST", "/api/v1/users/ops/enable", None, None);
    assert_eq!(e.status, 200, "{}", e.text);
    assert_eq!(e.body["disabled"], false);
    ops.login_ok("ops", "ops-password-1");
    assert_eq!(
        s.call("DELETE", "/api/v1/users/ops", None, None).status,
        204
    );
    ops.get("/").assert_redirect("/login");
    assert_error(
        &s.call("DELETE", "/api/v1/users/ops", None, None),
        404,
        "not_found",
    );
    assert_error(
        &s.call("POST", "/api/v1/users/nobody/disable", None, None),
        404,
        "not_found",
    );
    let list = s.call("GET", "/api/v1/users", None, None).body;
    assert_eq!(list["data"].as_array().unwrap().len(), 1, "{list}");

    // Only the platform manages users.
    let tenant_key = s.tenant_key("acme");
    for (method, path) in [
        ("GET", "/api/v1/users"),
        ("POST", "/api/v1/users/admin/disable"),
        ("POST", "/api/v1/users/admin/enable"),
        ("DELETE", "/api/v1/users/admin"),
    ] {
        assert_error(
            &s.call_as(Some(&tenant_key), method, path, None, None),
            403,
            "forbidden",
        );
    }
}

#[test]
fn keys_list_their_last_use() {
    let s = Server::start();
    let tenant_key = s.tenant_key("acme");
    let keys = s.call("GET", "/api/v1/keys", None, None).body;
    let find = |keys: &Value, kind: &str| {
        keys["data"]
            .as_array()
            .unwrap()
            .iter()
            .find(|k| k["kind"] == kind)
            .unwrap()
            .clone()
    };
    assert!(
        find(&keys, "platform")["last_used_at"].is_string(),
        "the platform key authenticated this very request: {keys}"
    );
    assert_eq!(find(&keys, "tenant")["last_used_at"], Value::Null, "{keys}");
    let a = s.call_as(Some(&tenant_key), "GET", "/api/v1/webhooks", None, None);
    assert_eq!(a.status, 200, "{}", a.text);
    let keys = s.call("GET", "/api/v1/keys", None, None).body;
    let used = find(&keys, "tenant")["last_used_at"].clone();
    assert!(used.is_string(), "{keys}");
    // A second request within the minute does not move it (it is not
    // written again).
    s.call_as(Some(&tenant_key), "GET", "/api/v1/webhooks", None, None);
    let keys = s.call("GET", "/api/v1/keys", None, None).body;
    assert_eq!(find(&keys, "tenant")["last_used_at"], used);
    // The panel shows it.
    let mut b = Browser::new(&s.base);
    b.login_ok("admin", ADMIN_PASSWORD);
    let page = b.get("/keys");
    page.assert(200, "Last used");
    assert!(
        page.body
            .contains(&format!("datetime=\"{}\"", used.as_str().unwrap())),
        "{}",
        page.body
    );
}

#[test]
fn the_panel_disables_enables_and_removes_users_with_a_confirmation() {
    let s = Server::start();
    tenant(&s, "acme");
    add_user(&s, "ops", "");
    add_user(&s, "viewer", "acme");
    let mut viewer = Browser::new(&s.base);
    viewer.login_ok("viewer", "ops-password-1");
    let mut b = Browser::new(&s.base);
    b.login_ok("admin", ADMIN_PASSWORD);
    let page = b.get("/users");
    page.assert(200, "Last login")
        .assert(200, "data-confirm=\"Disable viewer?")
        .assert(200, "data-confirm=\"Remove viewer?");
    assert!(page.body.contains("Never"), "ops never logged in");

    b.submit("/users/viewer/disable", &[])
        .assert_redirect("/users?notice=disabled");
    b.get("/users?notice=disabled")
        .assert(200, "User disabled")
        .assert(200, "action=\"/users/viewer/enable\"");
    viewer.get("/").assert_redirect("/login");
    viewer
        .login("viewer", "ops-password-1")
        .assert(401, "disabled");
    b.get("/users");
    b.submit("/users/viewer/enable", &[])
        .assert_redirect("/users?notice=enabled");
    viewer.login_ok("viewer", "ops-password-1");
    b.get("/users");
    b.submit("/users/viewer/remove", &[])
        .assert_redirect("/users?notice=deleted");
    viewer.get("/").assert_redirect("/login");
    assert!(!b.get("/users").body.contains("viewer"));

    // The last enabled operator stays.
    b.submit("/users/ops/disable", &[])
        .assert_redirect("/users?notice=disabled");
    b.get("/users");
    b.submit("/users/admin/disable", &[])
        .assert(409, "admin is the last active operator");
    b.get("/users");
    b.submit("/users/admin/remove", &[])
        .assert(409, "last active operator");
    b.get("/users").assert(200, "(you)");

    // Tenant users may not.
    let mut t = Browser::new(&s.base);
    add_user(&s, "viewer2", "acme");
    t.login_ok("viewer2", "ops-password-1");
    t.get("/");
    assert_eq!(t.submit("/users/ops/enable", &[]).status, 403);
    let list = s.call("GET", "/api/v1/users", None, None).body;
    assert_eq!(user(&list, "ops")["disabled"], true);
}

fn tenant(s: &Server, id: &str) {
    let a = s.call("POST", "/api/v1/tenants", None, Some(json!({"id": id})));
    assert_eq!(a.status, 201, "{}", a.text);
}

#[test]
fn the_cli_manages_users_on_a_stopped_directory_and_through_the_server() {
    let mut s = Server::start();
    add_user(&s, "ops", "");
    let through = |args: &[&str]| {
        let mut all = args.to_vec();
        all.extend(["--server", &s.base, "--key", PLATFORM_KEY]);
        std::process::Command::new(bin())
            .args(&all)
            .output()
            .unwrap()
    };
    let o = through(&["users", "disable", "ops", "--json"]);
    assert!(o.status.success(), "{:?}", texts(&o));
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["disabled"], true);
    let o = through(&["users", "remove", "admin"]);
    assert!(!o.status.success());
    assert!(
        texts(&o).1.contains("last active operator"),
        "{:?}",
        texts(&o)
    );
    let o = through(&["users", "list"]);
    let (out, err) = texts(&o);
    assert!(o.status.success(), "{err}");
    assert!(
        out.contains("LAST LOGIN") && out.contains("disabled"),
        "{out}"
    );

    s.stop();
    let o = s.cli(&["users", "enable", "ops", "--json"]);
    assert!(o.status.success(), "{:?}", texts(&o));
    let o = s.cli(&["users", "disable", "admin"]);
    assert!(o.status.success(), "ops is enabled again: {:?}", texts(&o));
    let o = s.cli(&["users", "remove", "ops"]);
    assert!(!o.status.success(), "ops is now the last enabled operator");
    assert!(texts(&o).1.contains("last active operator"));
    let o = s.cli(&["users", "enable", "admin"]);
    assert!(o.status.success());
    let o = s.cli(&["users", "remove", "ops"]);
    assert!(o.status.success(), "{:?}", texts(&o));
    let o = s.cli(&["users", "list", "--json"]);
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["data"].as_array().unwrap().len(), 1, "{v}");
    let o = s.cli(&["users", "remove", "nobody"]);
    assert!(!o.status.success());
    s.start_again();
    Browser::new(&s.base).login_ok("admin", ADMIN_PASSWORD);
}
