//! `GET /api-reference` (every signed-in user): Herald's API, rendered
//! from the same OpenAPI document `GET /api/v1/openapi.json` serves
//! (`http::openapi`), so the page and the document never disagree. Grouped
//! by tag; each operation with its method, path, summary, parameters,
//! request body fields, responses and error codes. Nothing comes from a
//! CDN: it is one server-rendered page in the panel's style.

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use askama::Template;
use askama_web::WebTemplate;
use serde_json::Value;

use super::error::UiError;
use super::layout::{page, Layout};
use super::session::Ctx;
use crate::http::openapi;
use crate::service::Herald;

/// A tag's operations.
pub struct Group {
    name: String,
    description: String,
    ops: Vec<Op>,
}

/// One operation.
pub struct Op {
    method: String,
    /// The badge tone of its method.
    tone: &'static str,
    path: String,
    anchor: String,
    summary: String,
    /// Whether it needs `Authorization: Bearer`.
    auth: bool,
    params: Vec<Field>,
    body: Option<Body>,
    responses: Vec<Resp>,
}

/// A parameter or a field of a body.
pub struct Field {
    name: String,
    place: String,
    kind: String,
    required: bool,
    description: String,
}

/// A request body.
pub struct Body {
    content_type: String,
    kind: String,
    required: bool,
    fields: Vec<Field>,
}

/// One documented answer.
pub struct Resp {
    status: String,
    tone: &'static str,
    description: String,
    kind: String,
    fields: Vec<Field>,
    /// Error codes with their meanings.
    codes: Vec<(String, String)>,
}

/// The page.
#[derive(Template, WebTemplate)]
#[template(path = "api_reference.html")]
struct ApiReferencePage {
    layout: Layout,
    title: String,
    version: String,
    groups: Vec<Group>,
}

/// `GET /api-reference`.
pub async fn show(req: HttpRequest, h: web::Data<Herald>) -> Result<HttpResponse, UiError> {
    let ctx = Ctx::load(&req, &h, "api").await?;
    let doc = openapi::document();
    Ok(page(
        &req,
        StatusCode::OK,
        ApiReferencePage {
            layout: ctx.layout,
            title: text(&doc["info"]["title"]),
            version: text(&doc["info"]["version"]),
            groups: groups(doc),
        },
    ))
}

fn text(v: &Value) -> String {
    v.as_str().unwrap_or_default().to_string()
}

/// The schema `#/components/schemas/…` names, or `s` itself.
fn resolve<'a>(doc: &'a Value, s: &'a Value) -> &'a Value {
    match s["$ref"].as_str().and_then(|r| r.strip_prefix("#/")) {
        Some(path) => doc.pointer(&format!("/{path}")).unwrap_or(s),
        None => s,
    }
}

/// A schema as a short type: `EndpointView`, `string | null`, `array of
/// DeliveryView`, `map of integer`.
fn kind(s: &Value) -> String {
    if let Some(r) = s["$ref"].as_str() {
        return r.rsplit('/').next().unwrap_or(r).to_string();
    }
    if let Some(all) = s["allOf"].as_array() {
        return all.iter().map(kind).collect::<Vec<_>>().join(" + ");
    }
    if let Some(any) = s["oneOf"].as_array().or(s["anyOf"].as_array()) {
        return any.iter().map(kind).collect::<Vec<_>>().join(" | ");
    }
    let base = match &s["type"] {
        Value::String(t) => vec![t.clone()],
        Value::Array(ts) => ts.iter().map(text).collect(),
        _ => vec![],
    };
    let one = |t: &str| match t {
        "array" => format!("array of {}", kind(&s["items"])),
        "object" if s["additionalProperties"].is_object() => {
            format!("map of {}", kind(&s["additionalProperties"]))
        }
        "integer" | "number" => match (&s["minimum"], &s["maximum"]) {
            (Value::Number(a), Value::Number(b)) => format!("{t} ({a}–{b})"),
            _ => t.to_string(),
        },
        t => t.to_string(),
    };
    let mut out = base.iter().map(|t| one(t)).collect::<Vec<_>>().join(" | ");
    if let Some(values) = s["enum"].as_array() {
        let values: Vec<String> = values.iter().map(text).collect();
        out = format!(
            "{}: {}",
            if out.is_empty() { "one of" } else { &out },
            values.join(", ")
        );
    }
    if out.is_empty() {
        "any".into()
    } else {
        out
    }
}

/// The properties of an object schema (through one `$ref`, and each part
/// of an `allOf`).
fn fields(doc: &Value, s: &Value) -> Vec<Field> {
    let s = resolve(doc, s);
    let mut out = Vec::new();
    for part in s["allOf"].as_array().into_iter().flatten() {
        out.extend(fields(doc, part));
    }
    let required: Vec<&str> = s["required"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect();
    for (name, p) in s["properties"].as_object().into_iter().flatten() {
        out.push(Field {
            name: name.clone(),
            place: String::new(),
            kind: kind(p),
            required: required.contains(&name.as_str()),
            description: text(&p["description"]),
        });
    }
    out
}

fn media(content: &Value) -> Option<(String, &Value)> {
    content
        .as_object()
        .and_then(|c| c.iter().next())
        .map(|(t, m)| (t.clone(), &m["schema"]))
}

fn op(doc: &Value, method: &str, path: &str, o: &Value) -> Op {
    let params = o["parameters"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|p| Field {
            name: text(&p["name"]),
            place: text(&p["in"]),
            kind: kind(&p["schema"]),
            required: p["required"].as_bool().unwrap_or(false),
            description: text(&p["description"]),
        })
        .collect();
    let body = media(&o["requestBody"]["content"]).map(|(content_type, s)| Body {
        content_type,
        kind: kind(s),
        required: o["requestBody"]["required"].as_bool().unwrap_or(false),
        fields: fields(doc, s),
    });
    let responses = o["responses"]
        .as_object()
        .into_iter()
        .flatten()
        .map(|(status, r)| {
            let schema = media(&r["content"]);
            let codes: Vec<(String, String)> = schema
                .as_ref()
                .and_then(|(_, s)| {
                    s.pointer("/properties/error/properties/code/enum")
                        .and_then(Value::as_array)
                })
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .map(|c| {
                    let meaning = openapi::code(c).map_or("", |(_, m)| m);
                    (c.to_string(), meaning.to_string())
                })
                .collect();
            let error = !codes.is_empty();
            Resp {
                tone: match status.as_bytes().first() {
                    Some(b'2') => "ok",
                    Some(b'4') => "warn",
                    _ => "bad",
                },
                status: status.clone(),
                description: if error {
                    String::new()
                } else {
                    text(&r["description"])
                },
                kind: match &schema {
                    Some((t, s)) if !error => format!("{} ({t})", kind(s)),
                    _ => String::new(),
                },
                fields: match &schema {
                    Some((_, s)) if !error => fields(doc, s),
                    _ => Vec::new(),
                },
                codes,
            }
        })
        .collect();
    Op {
        tone: match method {
            "get" => "ok",
            "post" => "wait",
            "delete" => "bad",
            _ => "warn",
        },
        method: method.to_ascii_uppercase(),
        path: path.to_string(),
        anchor: text(&o["operationId"]),
        summary: text(&o["summary"]),
        auth: o["security"].is_array(),
        params,
        body,
        responses,
    }
}

/// The operations grouped by tag, in the document's tag order.
fn groups(doc: &Value) -> Vec<Group> {
    let mut groups: Vec<Group> = doc["tags"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|t| Group {
            name: text(&t["name"]),
            description: text(&t["description"]),
            ops: Vec::new(),
        })
        .collect();
    for (path, item) in doc["paths"].as_object().into_iter().flatten() {
        for (method, o) in item.as_object().into_iter().flatten() {
            let tag = o["tags"][0].as_str().unwrap_or("api");
            let i = match groups.iter().position(|g| g.name == tag) {
                Some(i) => i,
                None => {
                    groups.push(Group {
                        name: tag.to_string(),
                        description: String::new(),
                        ops: Vec::new(),
                    });
                    groups.len() - 1
                }
            };
            groups[i].ops.push(op(doc, method, path, o));
        }
    }
    groups.retain(|g| !g.ops.is_empty());
    groups
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every operation of the document is on the page, each error
    /// response with its codes and their meanings.
    #[test]
    fn the_page_holds_every_operation_with_its_error_codes() {
        let doc = openapi::document();
        let gs = groups(doc);
        let count: usize = gs.iter().map(|g| g.ops.len()).sum();
        let documented: usize = doc["paths"]
            .as_object()
            .map(|p| {
                p.values()
                    .filter_map(Value::as_object)
                    .map(|o| o.len())
                    .sum()
            })
            .unwrap_or(0);
        assert_eq!(count, documented);
        let create = gs
            .iter()
            .flat_map(|g| g.ops.iter())
            .find(|o| o.method == "POST" && o.path == "/api/v1/webhooks")
            .expect("POST /api/v1/webhooks");
        assert!(create.auth);
        let body = create.body.as_ref().expect("a body");
        assert!(body.fields.iter().any(|f| f.name == "events" && f.required));
        let r422 = create
            .responses
            .iter()
            .find(|r| r.status == "422")
            .expect("422");
        assert!(r422
            .codes
            .iter()
            .any(|(c, m)| c == "duplicate_url" && !m.is_empty()));
        assert!(create.params.iter().any(|p| p.name == "X-Tenant-ID"));
    }

    #[test]
    fn kinds_read_as_types() {
        let s = serde_json::json!({"type": ["string", "null"]});
        assert_eq!(kind(&s), "string | null");
        let s = serde_json::json!({"type": "array", "items": {"$ref": "#/components/schemas/X"}});
        assert_eq!(kind(&s), "array of X");
        let s = serde_json::json!({"type": "string", "enum": ["a", "b"]});
        assert_eq!(kind(&s), "string: a, b");
        assert_eq!(kind(&serde_json::json!({})), "any");
    }
}
