//! `herald tenants …`, `herald keys …` and `herald users …`, locally or
//! through the API.
//!
//! Both paths produce the API's JSON shapes (`crate::views`), so the output
//! is the same whichever way the command ran.

use std::sync::Arc;

use serde_json::{json, Value};

use super::Target;
use crate::clock::SystemClock;
use crate::domain::apikey::ScopeAsked;
use crate::http::api::json::{KeyView, PageView, PasswordResetView, TenantView, UserView};
use crate::service::{Caller, Herald, NewKey, NewTenant, PageRequest, Settings, TenantPatch};
use crate::store::{Location, StoreError};

/// A management operation.
#[derive(Debug, Clone)]
pub enum Op {
    CreateTenant {
        id: String,
        name: Option<String>,
    },
    ListTenants,
    SetSuspended {
        id: String,
        suspended: bool,
    },
    CreateKey {
        name: String,
        tenant: Option<String>,
        /// `--platform`: the explicit ask for a key of every tenant.
        platform: bool,
    },
    ListKeys,
    RevokeKey {
        id: String,
    },
    ResetPassword {
        username: String,
    },
    ListUsers,
    DisableUser {
        username: String,
    },
    EnableUser {
        username: String,
    },
    RemoveUser {
        username: String,
    },
}

/// Runs `op` against `target` and prints the result.
pub fn run(op: Op, target: &Target) -> Result<(), String> {
    let value = match &target.server {
        Some(server) => remote(&op, server, target.key.as_deref())?,
        None => local(&op, target)?,
    };
    print(&op, &value, target.json);
    Ok(())
}

fn to_value<T: serde::Serialize>(v: T) -> Value {
    serde_json::to_value(v).unwrap_or(Value::Null)
}

fn local(op: &Op, target: &Target) -> Result<Value, String> {
    let location = match target.store.as_deref() {
        Some(text) => Location::parse(text, 16 << 20)
            .ok_or_else(|| format!("--store {text}: must be sled:DIR or a postgres://… URL"))?,
        None => Location::Sled {
            dir: target.data_dir.clone(),
            cache_bytes: 16 << 20,
        },
    };
    let store = crate::app::open_store(&location, Arc::new(SystemClock)).map_err(|e| match e {
        StoreError::Locked { path } => format!(
            "the data directory {path} is locked by a running herald server; \
             stop it, or run this command through its API with --server http://ADDR --key PLATFORM_KEY"
        ),
        other => match &location {
            Location::Sled { dir, .. } => crate::app::open_failure(dir, &other),
            Location::Postgres { .. } => format!(
                "cannot open the PostgreSQL store at {}: {other}",
                location.describe()
            ),
        },
    })?;
    let herald = Herald::new(store, Arc::new(SystemClock), Settings::offline());
    let me = Caller::Local { tenant: None };
    let all = PageRequest {
        limit: usize::MAX - 1,
        after: None,
    };
    let result = match op {
        Op::CreateTenant { id, name } => herald
            .create_tenant(
                &me,
                NewTenant {
                    id: id.clone(),
                    name: name.clone(),
                    metadata: Default::default(),
                },
            )
            .map(|t| to_value(TenantView::new(&t))),
        Op::ListTenants => herald
            .list_tenants(&me, &all)
            .map(|p| to_value(PageView::map(&p, TenantView::new))),
        Op::SetSuspended { id, suspended } => herald
            .update_tenant(
                &me,
                id,
                TenantPatch {
                    name: None,
                    suspended: Some(*suspended),
                    metadata: None,
                },
            )
            .map(|t| to_value(TenantView::new(&t))),
        Op::CreateKey {
            name,
            tenant,
            platform,
        } => herald
            .create_key(
                &me,
                NewKey {
                    name: name.clone(),
                    tenant_id: tenant.clone(),
                    scope: platform.then_some(ScopeAsked::Platform),
                },
            )
            .map(|k| to_value(KeyView::new(&k.key, Some(&k.text)))),
        Op::ListKeys => herald
            .list_keys(&me, &all)
            .map(|p| to_value(PageView::map(&p, KeyView::listed))),
        Op::RevokeKey { id } => herald
            .revoke_key(&me, id)
            .map(|k| to_value(KeyView::new(&k, None))),
        Op::ResetPassword { username } => herald.reset_password(&me, username).map(|password| {
            to_value(PasswordResetView {
                username: username.clone(),
                password,
            })
        }),
        Op::ListUsers => herald.list_users(&me).map(|users| {
            let data: Vec<UserView> = users.iter().map(UserView::listed).collect();
            json!({ "data": data })
        }),
        Op::DisableUser { username } => herald
            .disable_user(&me, username)
            .map(|u| to_value(UserView::new(&u))),
        Op::EnableUser { username } => herald
            .enable_user(&me, username)
            .map(|u| to_value(UserView::new(&u))),
        Op::RemoveUser { username } => herald
            .remove_user(&me, username)
            .map(|()| json!({"username": username, "removed": true})),
    };
    result.map_err(|e| e.to_string())
}

fn remote(op: &Op, server: &str, key: Option<&str>) -> Result<Value, String> {
    let key = key.ok_or("--server needs --key (or HERALD_API_KEY) with a platform key")?;
    let base = server.trim_end_matches('/');
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .max_redirects(0)
        .timeout_global(Some(std::time::Duration::from_secs(30)))
        .build()
        .into();
    let call = |method: &str, path: &str, body: Option<Value>| -> Result<Value, String> {
        let url = format!("{base}{path}");
        let auth = format!("Bearer {key}");
        let res = match (method, body) {
            ("GET", _) => agent.get(&url).header("Authorization", &auth).call(),
            ("DELETE", _) => agent.delete(&url).header("Authorization", &auth).call(),
            ("POST", b) => agent
                .post(&url)
                .header("Authorization", &auth)
                .send_json(b.unwrap_or(json!({}))),
            (_, b) => agent
                .patch(&url)
                .header("Authorization", &auth)
                .send_json(b.unwrap_or(json!({}))),
        };
        let mut res = res.map_err(|e| format!("cannot reach {base}: {e}"))?;
        let status = res.status().as_u16();
        let text = res.body_mut().read_to_string().unwrap_or_default();
        let value: Value = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).map_err(|_| format!("{status} from {url}: {text}"))?
        };
        if status >= 400 {
            let msg = value["error"]["message"].as_str().unwrap_or(&text);
            return Err(format!("{status}: {msg}"));
        }
        Ok(value)
    };
    let list_all = |path: &str| -> Result<Value, String> {
        let mut data = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let q = match &cursor {
                Some(c) => format!("{path}?limit=100&cursor={c}"),
                None => format!("{path}?limit=100"),
            };
            let page = call("GET", &q, None)?;
            data.extend(page["data"].as_array().cloned().unwrap_or_default());
            match page["next_cursor"].as_str() {
                Some(c) => cursor = Some(c.to_string()),
                None => return Ok(json!({ "data": data, "next_cursor": null })),
            }
        }
    };
    match op {
        Op::CreateTenant { id, name } => call(
            "POST",
            "/api/v1/tenants",
            Some(json!({"id": id, "name": name})),
        ),
        Op::ListTenants => list_all("/api/v1/tenants"),
        Op::SetSuspended { id, suspended } => call(
            "PATCH",
            &format!("/api/v1/tenants/{id}"),
            Some(json!({ "suspended": suspended })),
        ),
        Op::CreateKey {
            name,
            tenant,
            platform,
        } => {
            let mut body = json!({"name": name, "tenant_id": tenant});
            if *platform {
                body["scope"] = json!("platform");
            }
            call("POST", "/api/v1/keys", Some(body))
        }
        Op::ListKeys => list_all("/api/v1/keys"),
        Op::RevokeKey { id } => call("DELETE", &format!("/api/v1/keys/{id}"), None)
            .map(|_| json!({"id": id, "revoked": true})),
        Op::ResetPassword { username } => call(
            "POST",
            &format!("/api/v1/users/{}/reset-password", path_segment(username)),
            None,
        ),
        Op::ListUsers => call("GET", "/api/v1/users", None),
        Op::DisableUser { username } => call(
            "POST",
            &format!("/api/v1/users/{}/disable", path_segment(username)),
            None,
        ),
        Op::EnableUser { username } => call(
            "POST",
            &format!("/api/v1/users/{}/enable", path_segment(username)),
            None,
        ),
        Op::RemoveUser { username } => call(
            "DELETE",
            &format!("/api/v1/users/{}", path_segment(username)),
            None,
        )
        .map(|_| json!({"username": username, "removed": true})),
    }
}

/// A username as one URL path segment: everything but letters and digits
/// escaped, dots too, so a stored `..` never becomes a dot segment.
fn path_segment(username: &str) -> String {
    username
        .bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

fn print(op: &Op, value: &Value, as_json: bool) {
    let s = |v: &Value| v.as_str().unwrap_or("-").to_string();
    if as_json {
        println!(
            "{}",
            serde_json::to_string_pretty(value).unwrap_or_default()
        );
        return;
    }
    match op {
        Op::ListTenants => {
            println!("{:<32} {:<10} {:<26} NAME", "ID", "STATE", "CREATED");
            for t in value["data"].as_array().into_iter().flatten() {
                let state = if t["suspended"].as_bool() == Some(true) {
                    "suspended"
                } else {
                    "active"
                };
                println!(
                    "{:<32} {:<10} {:<26} {}",
                    s(&t["id"]),
                    state,
                    s(&t["created_at"]),
                    s(&t["name"])
                );
            }
        }
        Op::ListUsers => {
            println!(
                "{:<32} {:<9} {:<20} {:<9} {:<26} CREATED",
                "USERNAME", "KIND", "TENANT", "STATE", "LAST LOGIN"
            );
            for u in value["data"].as_array().into_iter().flatten() {
                let state = if u["disabled"].as_bool() == Some(true) {
                    "disabled"
                } else {
                    "active"
                };
                println!(
                    "{:<32} {:<9} {:<20} {:<9} {:<26} {}",
                    s(&u["username"]),
                    s(&u["kind"]),
                    s(&u["tenant_id"]),
                    state,
                    s(&u["last_login_at"]),
                    s(&u["created_at"])
                );
            }
        }
        Op::ListKeys => {
            println!(
                "{:<30} {:<9} {:<20} {:<14} {:<9} {:<26} NAME",
                "ID", "KIND", "TENANT", "HINT", "STATE", "LAST USED"
            );
            for k in value["data"].as_array().into_iter().flatten() {
                let state = if k["revoked_at"].is_null() {
                    "active"
                } else {
                    "revoked"
                };
                println!(
                    "{:<30} {:<9} {:<20} {:<14} {:<9} {:<26} {}",
                    s(&k["id"]),
                    s(&k["kind"]),
                    s(&k["tenant_id"]),
                    s(&k["hint"]),
                    state,
                    s(&k["last_used_at"]),
                    s(&k["name"])
                );
            }
        }
        Op::ResetPassword { .. } => {
            println!(
                "user: {}   password: {}",
                s(&value["username"]),
                s(&value["password"])
            );
            eprintln!("Store the password now: it is shown only once. The user's sessions ended.");
        }
        Op::CreateKey { .. } => {
            println!(
                "{}",
                serde_json::to_string_pretty(value).unwrap_or_default()
            );
            eprintln!("Store the key now: it is shown only once.");
        }
        _ => println!(
            "{}",
            serde_json::to_string_pretty(value).unwrap_or_default()
        ),
    }
}
