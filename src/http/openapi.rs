//! The OpenAPI 3.1 document of Herald's native API, served at
//! `GET /api/v1/openapi.json` and rendered by the panel's API reference
//! page (`ui::api_reference`).
//!
//! It is built from the code, in two halves that meet in
//! [`document`]:
//!
//! - each handler's `#[utoipa::path]` (summary, tag, parameters, request
//!   body, success answers) and the `ToSchema` derives of the shapes it
//!   reads and answers (`api::json`, the service's request bodies);
//! - the route table (`super::routes`), whose every native entry names
//!   the error codes its handler can answer ([`Fault`] families, each
//!   code with its one status in [`CODES`]). From them come every error
//!   response (a schema whose `code` is an `enum` of exactly those
//!   codes), the Bearer security requirement (a route that can answer
//!   `unauthorized` takes a key) and the `X-Tenant-ID` header (a route
//!   that can answer `tenant_mismatch` reads it).
//!
//! A test compares the table with the document both ways: a route
//! without a documented operation, or an operation without a route,
//! fails. Routes that belong to another API (the Svix-compatible one)
//! are marked [`Doc::Elsewhere`] in the table, or registered outside it,
//! and [`NOT_NATIVE`] lists the path prefixes this document never holds.

use std::sync::OnceLock;

use actix_web::http::Method;
use actix_web::HttpResponse;
use serde::Serialize;
use serde_json::{json, Map, Value};
use utoipa::{OpenApi, ToSchema};

use super::api;
use super::health;

/// Path prefixes (whole segments) of routes that are not Herald's native
/// API and are never in this document: the Svix-compatible API.
pub const NOT_NATIVE: &[&str] = &[
    "/api/v1/app",
    "/api/v1/auth",
    "/api/v1/event-type",
    "/api/v1/health",
];

/// Whether `path` is under one of [`NOT_NATIVE`]'s prefixes, segment by
/// segment (`/api/v1/event-types` is native; `/api/v1/event-type/x` is
/// not).
pub fn not_native(path: &str) -> bool {
    NOT_NATIVE.iter().any(|p| {
        path.strip_prefix(p)
            .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
    })
}

/// How a route table entry is documented.
#[derive(Debug, Clone, Copy)]
pub enum Doc {
    /// In the native document, answering these error families.
    Native(&'static [Fault]),
    /// Part of another API (named), documented elsewhere if at all.
    Elsewhere(&'static str),
}

/// A family of error codes a handler can answer.
pub type Fault = &'static [&'static str];

/// Families of error codes, by what a handler does.
pub mod fault {
    use super::Fault;

    /// Every call with a key: no or a bad key, over its request budget,
    /// the store unable to write, a failure of Herald's own.
    pub const AUTH: Fault = &[
        "unauthorized",
        "rate_limited",
        "store_unavailable",
        "internal",
    ];
    /// Platform key only.
    pub const PLATFORM: Fault = &["forbidden"];
    /// Names a tenant in its body (`tenant_id`).
    pub const TENANT_ID: Fault = &["invalid_tenant_id"];
    /// Acts for one tenant, named by `X-Tenant-ID` for a platform key.
    pub const TENANT: Fault = &["tenant_required", "invalid_tenant_id", "tenant_mismatch"];
    /// Acts for one tenant, or every tenant for a platform key naming
    /// none.
    pub const TENANT_OPTIONAL: Fault = &["invalid_tenant_id", "tenant_mismatch"];
    /// Reads a JSON body.
    pub const BODY: Fault = &[
        "invalid_json",
        "invalid_body",
        "payload_too_large",
        "unsupported_media_type",
        "unsupported_encoding",
        "validation_failed",
    ];
    /// Reads query parameters.
    pub const QUERY: Fault = &["invalid_query"];
    /// Names a record in its path.
    pub const FOUND: Fault = &["not_found"];
    /// Refuses the operation on the record's state (a suspended tenant,
    /// a deleted endpoint).
    pub const STATE: Fault = &["validation_failed"];
    /// Changes a record another request may change at once.
    pub const CONFLICT: Fault = &["conflict"];
    /// Names event types.
    pub const EVENT_TYPES: Fault = &["unknown_event_type"];
    /// Creates or changes an endpoint's URL or uid (each unique in its
    /// tenant).
    pub const UNIQUE: Fault = &["duplicate_url", "duplicate_uid"];
    /// Creates a custom event type.
    pub const TYPE_EXISTS: Fault = &["event_type_exists"];
    /// Changes or deletes an event type (never a built-in one).
    pub const BUILT_IN: Fault = &["built_in_event_type"];
    /// Checks events against their type's JSON Schema.
    pub const SCHEMA: Fault = &["schema_mismatch"];
    /// Creates a tenant.
    pub const TENANT_EXISTS: Fault = &["tenant_exists"];
    /// Disables or removes a user.
    pub const LAST_OPERATOR: Fault = &["last_operator"];
    /// Ingests events: an `Idempotency-Key`, nesting, the memory budget
    /// and the disk reserve.
    pub const INGEST: Fault = &["invalid_header", "nesting_too_deep", "insufficient_storage"];
    /// A stream endpoint's routes: refused for a URL endpoint.
    pub const STREAM: Fault = &["not_a_stream"];
    /// Acknowledges a streamed delivery.
    pub const ACK: Fault = &["delivery_ended"];
    /// A batch: the ingest memory budget.
    pub const BATCH: Fault = &["key_busy", "server_busy"];
}

/// Every stable error code: its status and what it means.
pub const CODES: &[(&str, u16, &str)] = &[
    ("invalid_json", 400, "the body is not valid JSON"),
    ("invalid_body", 400, "the body could not be read"),
    ("invalid_query", 400, "a query parameter is malformed"),
    (
        "invalid_header",
        400,
        "a header is malformed (Idempotency-Key: visible ASCII)",
    ),
    (
        "nesting_too_deep",
        400,
        "the JSON nests deeper than 64 levels",
    ),
    (
        "tenant_required",
        400,
        "a platform key must name the tenant with X-Tenant-ID",
    ),
    (
        "invalid_tenant_id",
        400,
        "X-Tenant-ID is not a valid tenant id",
    ),
    (
        "unauthorized",
        401,
        "no API key, or an unknown or revoked one",
    ),
    (
        "forbidden",
        403,
        "the key may not do this: it needs a platform key",
    ),
    (
        "tenant_mismatch",
        403,
        "a tenant key named another tenant in X-Tenant-ID",
    ),
    (
        "not_found",
        404,
        "no such record (or it belongs to another tenant)",
    ),
    (
        "conflict",
        409,
        "the record changed meanwhile; read it again and retry",
    ),
    ("tenant_exists", 409, "a tenant with this id exists"),
    (
        "not_a_stream",
        409,
        "the endpoint delivers to a URL; only stream endpoints are polled",
    ),
    (
        "delivery_ended",
        409,
        "the delivery already ended (acknowledged before); nothing to acknowledge",
    ),
    ("last_operator", 409, "it would leave no enabled operator"),
    (
        "event_type_exists",
        409,
        "an event type with this name exists (built in or custom)",
    ),
    (
        "built_in_event_type",
        409,
        "a built-in event type cannot be changed or deleted",
    ),
    (
        "duplicate_uid",
        409,
        "the tenant has an endpoint with this uid",
    ),
    (
        "payload_too_large",
        413,
        "the body or an event is over its size limit",
    ),
    (
        "unsupported_media_type",
        415,
        "send Content-Type: application/json",
    ),
    ("unsupported_encoding", 415, "send the body uncompressed"),
    (
        "validation_failed",
        422,
        "a field is invalid; `field` names it",
    ),
    (
        "unknown_event_type",
        422,
        "an event type that is not in the catalog",
    ),
    (
        "duplicate_url",
        422,
        "the tenant has an endpoint with this URL",
    ),
    (
        "schema_mismatch",
        422,
        "the event's data does not match its type's JSON Schema; the message names the path",
    ),
    (
        "rate_limited",
        429,
        "the key is over its request budget; see Retry-After and RateLimit-*",
    ),
    (
        "key_busy",
        429,
        "the key's batches in flight hold its share of the ingest memory budget; see Retry-After",
    ),
    (
        "internal",
        500,
        "a failure of Herald's own; see the server log",
    ),
    (
        "server_busy",
        503,
        "the ingest memory budget is taken; see Retry-After",
    ),
    (
        "store_unavailable",
        503,
        "the store cannot write now (a full disk); see Retry-After",
    ),
    (
        "insufficient_storage",
        507,
        "the disk is below its reserve: events are refused; see Retry-After",
    ),
];

/// The status and meaning of a code (`None`: not a code of [`CODES`]).
pub fn code(code: &str) -> Option<(u16, &'static str)> {
    CODES
        .iter()
        .find(|(c, _, _)| *c == code)
        .map(|&(_, s, m)| (s, m))
}

/// The envelope every endpoint receives, in this key order.
#[derive(Serialize, ToSchema)]
pub struct Envelope {
    /// The event's public id (`evt_…` when Herald chose it).
    pub id: String,
    /// The event type.
    pub event: String,
    /// RFC 3339 UTC with a `Z`.
    pub created: String,
    /// `{object: {…}}`: what the platform sent.
    pub data: EventData,
    /// The tenant.
    pub tenant_id: String,
    /// `2024-01-01`.
    pub api_version: String,
}

/// An event's `data`.
#[derive(Serialize, serde::Deserialize, ToSchema)]
pub struct EventData {
    /// The object the event is about: any JSON object.
    pub object: Map<String, Value>,
}

/// `POST /api/v1/events`: one event.
#[derive(Serialize, serde::Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewEvent {
    /// Its type: one of the catalog (`GET /api/v1/event-types`).
    pub event: String,
    /// `{object: {…}}`; other keys beside `object` are kept.
    pub data: EventData,
    /// The public id (1-255 visible ASCII characters); generated
    /// (`evt_…`) when left out. A repeat of the same id is the same event.
    pub id: Option<String>,
    /// RFC 3339; the time Herald accepts it when left out.
    pub created: Option<String>,
}

/// `POST /api/v1/events/batch`.
#[derive(Serialize, serde::Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewEventBatch {
    /// 1 to 1,000 events, written durably at once.
    pub events: Vec<NewEvent>,
}

/// `POST /api/v1/events/batch` → 202.
#[derive(Serialize, ToSchema)]
pub struct BatchAcceptedView {
    /// One answer per event, in order.
    pub events: Vec<api::json::AcceptedView>,
}

/// What fails now (not windowed), in `GET /api/v1/metrics`.
#[derive(Serialize, ToSchema)]
pub struct NowView {
    /// Endpoints counted.
    pub endpoints: u64,
    /// Endpoints failing now.
    pub failing_endpoints: Vec<FailingEndpointView>,
    /// Deliveries waiting for a retry.
    pub retrying_deliveries: u64,
    /// Whether the count stopped at its cap (there are at least that many).
    pub retrying_at_least: bool,
    /// Alerts firing now.
    pub alerts_firing: u64,
}

/// A failing endpoint.
#[derive(Serialize, ToSchema)]
pub struct FailingEndpointView {
    /// `ep_…`.
    pub webhook_id: String,
    /// Its URL.
    pub url: String,
    /// Whether it receives deliveries.
    pub active: bool,
    /// Why Herald disabled it, if it did.
    pub disabled_reason: Option<String>,
    /// Failed attempts since the last success.
    pub consecutive_failures: u32,
    /// RFC 3339: start of the current run of failures.
    pub failing_since: Option<String>,
}

/// Response-time percentiles, ms (histogram bucket upper bounds; null
/// without responses).
#[derive(Serialize, ToSchema)]
pub struct LatencyView {
    /// Median.
    pub p50: Option<u64>,
    /// 95th percentile.
    pub p95: Option<u64>,
    /// 99th percentile.
    pub p99: Option<u64>,
}

/// `GET /healthz`.
#[derive(Serialize, ToSchema)]
pub struct LiveView {
    /// `ok`.
    pub status: String,
}

/// `GET /readyz`: the checks, each `{ok, …}`.
#[derive(Serialize, ToSchema)]
pub struct ReadyView {
    /// `ready` or `unavailable`.
    pub status: String,
    /// Whether deliveries are paused (still ready).
    pub paused: Option<bool>,
    /// `store`, `workers`, `scheduler`, `disk`: each `{ok: bool, …}`.
    pub checks: Option<Map<String, Value>>,
    /// Queue figures.
    pub delivery: Option<Map<String, Value>>,
    /// The last scheduled backup, if any.
    pub backup: Option<Value>,
    /// Why the check could not run.
    pub error: Option<String>,
}

/// The error body every non-2xx answer of the API has.
#[derive(Serialize, ToSchema)]
pub struct ErrorBody {
    /// The error.
    pub error: ErrorDetail,
}

/// An error: a stable code, a message for people, the field at fault.
#[derive(Serialize, ToSchema)]
pub struct ErrorDetail {
    /// The stable code (see each response for the codes it may carry).
    pub code: String,
    /// A message for people.
    pub message: String,
    /// The request field at fault, for validation errors.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
}

/// The generated half of the document: handlers and shapes.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "Herald API",
        description = "Herald's native API: tenants, API keys, endpoints (webhooks), events, \
            deliveries, metrics, alerts, users and backups. Every `/api/v1` call but this \
            document takes `Authorization: Bearer <key>`; a platform key acts for any tenant \
            and names it with `X-Tenant-ID`, a tenant key for its own. Errors are \
            `{\"error\":{\"code\",\"message\",\"field\"?}}` with a stable code."
    ),
    paths(
        health::healthz,
        health::readyz,
        api::metrics::prometheus,
        serve,
        api::event_types::list,
        api::event_types::create,
        api::event_types::get,
        api::event_types::update,
        api::event_types::delete,
        api::events::create,
        api::events::create_batch,
        api::events::get,
        api::tenants::create,
        api::portal::create,
        api::tenants::list,
        api::tenants::get,
        api::tenants::update,
        api::keys::create,
        api::keys::list,
        api::keys::revoke,
        api::users::list,
        api::users::remove,
        api::users::reset_password,
        api::users::disable,
        api::users::enable,
        api::admin::pause,
        api::admin::resume,
        api::webhooks::create,
        api::webhooks::list,
        api::webhooks::get,
        api::webhooks::update,
        api::webhooks::delete,
        api::webhooks::rotate_secret,
        api::webhooks::replay,
        api::webhooks::retry,
        api::webhooks::test,
        api::streams::poll,
        api::streams::ack,
        api::metrics::get,
        api::alerts::list,
        api::backup::get,
        api::deliveries::list,
        api::deliveries::get,
        api::deliveries::resend,
    ),
    components(schemas(ErrorBody)),
    tags(
        (name = "health", description = "Probes and Prometheus."),
        (name = "api", description = "This description."),
        (name = "event-types", description = "The event type catalog."),
        (name = "events", description = "Ingest (acknowledged means durable) and read events."),
        (name = "webhooks", description = "A tenant's endpoints: URL, subscription, secret."),
        (name = "deliveries", description = "The delivery log, attempts and resend."),
        (name = "metrics", description = "Delivery figures in the seed's shape."),
        (name = "alerts", description = "Alerts firing and their history."),
        (name = "tenants", description = "Tenants (platform key)."),
        (name = "portal", description = "One-time links into the embeddable tenant portal (platform key)."),
        (name = "keys", description = "API keys (platform key)."),
        (name = "users", description = "Admin panel users (platform key)."),
        (name = "admin", description = "Pause and resume deliveries (platform key)."),
        (name = "backup", description = "An online backup of the whole store (platform key)."),
    )
)]
struct NativeApi;

/// `GET /api/v1/openapi.json`: this document (no key needed).
#[utoipa::path(
    get,
    path = "/api/v1/openapi.json",
    tag = "api",
    summary = "The OpenAPI 3.1 document of this API",
    responses((status = 200, description = "The document.", body = Object))
)]
pub async fn serve() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/json")
        .body(text())
}

/// The document as JSON text (built once).
pub fn text() -> &'static str {
    static TEXT: OnceLock<String> = OnceLock::new();
    TEXT.get_or_init(|| serde_json::to_string_pretty(document()).unwrap_or_default())
}

/// The whole document: the generated half completed from the route
/// table (built once).
pub fn document() -> &'static Value {
    static DOC: OnceLock<Value> = OnceLock::new();
    DOC.get_or_init(|| build(&super::table()))
}

fn method_key(m: &Method) -> String {
    m.as_str().to_ascii_lowercase()
}

/// The generated document completed with the routes' error answers,
/// security and tenant header.
fn build(routes: &[super::Route]) -> Value {
    let mut doc = serde_json::to_value(NativeApi::openapi()).unwrap_or_default();
    doc["components"]["securitySchemes"] = json!({
        "bearer": {
            "type": "http",
            "scheme": "bearer",
            "description": "A Herald API key: a platform key (any tenant, named by X-Tenant-ID) or a tenant key."
        }
    });
    // utoipa names an operation after its handler (`list`, `get`), which
    // repeats across resources: the tag makes it unique (`webhooks_list`).
    for item in doc["paths"]
        .as_object_mut()
        .into_iter()
        .flat_map(|p| p.values_mut())
    {
        for op in item
            .as_object_mut()
            .into_iter()
            .flat_map(|i| i.values_mut())
        {
            let tag = op["tags"][0].as_str().unwrap_or("api").replace('-', "_");
            let id = op["operationId"].as_str().unwrap_or("").to_string();
            op["operationId"] = json!(format!("{tag}_{id}"));
        }
    }
    for r in routes {
        let Doc::Native(faults) = r.doc else { continue };
        let Some(op) = doc
            .pointer_mut(&format!(
                "/paths/{}/{}",
                r.path.replace('~', "~0").replace('/', "~1"),
                method_key(&r.method)
            ))
            .and_then(Value::as_object_mut)
        else {
            // The check in this module's tests reports it.
            continue;
        };
        complete(op, faults);
    }
    doc
}

fn complete(op: &mut Map<String, Value>, faults: &[Fault]) {
    let codes: Vec<&str> = faults.iter().flat_map(|f| f.iter().copied()).collect();
    if codes.contains(&"unauthorized") {
        op.insert("security".into(), json!([{ "bearer": [] }]));
    }
    if codes.contains(&"tenant_mismatch") {
        let required = codes.contains(&"tenant_required");
        let params = op
            .entry("parameters")
            .or_insert_with(|| json!([]))
            .as_array_mut();
        if let Some(params) = params {
            params.push(json!({
                "name": "X-Tenant-ID",
                "in": "header",
                "required": false,
                "description": if required {
                    "The tenant to act for: required with a platform key; a tenant key may leave it out or name its own tenant."
                } else {
                    "The tenant to act for; a platform key leaving it out sees every tenant."
                },
                "schema": { "type": "string", "minLength": 1, "maxLength": 64, "pattern": "^[A-Za-z0-9_.-]+$" }
            }));
        }
    }
    let mut by_status: std::collections::BTreeMap<u16, Vec<&str>> = Default::default();
    for c in &codes {
        if let Some((status, _)) = code(c) {
            let list = by_status.entry(status).or_default();
            if !list.contains(c) {
                list.push(c);
            }
        }
    }
    let responses = op
        .entry("responses")
        .or_insert_with(|| json!({}))
        .as_object_mut();
    let Some(responses) = responses else { return };
    for (status, list) in by_status {
        let description = list
            .iter()
            .map(|c| format!("`{c}`: {}", code(c).map_or("", |(_, m)| m)))
            .collect::<Vec<_>>()
            .join("; ");
        let mut response = json!({
            "description": description,
            "content": { "application/json": { "schema": error_schema(&list) } }
        });
        if status == 429 || status == 503 || status == 507 {
            let mut headers = json!({
                "Retry-After": { "description": "Seconds to wait.", "schema": { "type": "integer" } }
            });
            if list.contains(&"rate_limited") {
                for (h, d) in [
                    ("RateLimit-Limit", "Requests the key's bucket holds."),
                    ("RateLimit-Remaining", "Requests left."),
                    ("RateLimit-Reset", "Seconds until the bucket is full again."),
                ] {
                    headers[h] = json!({ "description": d, "schema": { "type": "integer" } });
                }
            }
            response["headers"] = headers;
        }
        if status == 401 {
            response["headers"] = json!({
                "WWW-Authenticate": { "description": "`Bearer`.", "schema": { "type": "string" } }
            });
        }
        responses.insert(status.to_string(), response);
    }
}

/// The error body whose code is one of `codes`.
fn error_schema(codes: &[&str]) -> Value {
    json!({
        "type": "object",
        "required": ["error"],
        "properties": {
            "error": {
                "type": "object",
                "required": ["code", "message"],
                "properties": {
                    "code": { "type": "string", "enum": codes },
                    "message": { "type": "string" },
                    "field": { "type": "string" }
                }
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    fn operations(doc: &Value) -> BTreeSet<(String, String)> {
        let mut out = BTreeSet::new();
        for (path, item) in doc["paths"].as_object().into_iter().flatten() {
            for method in item.as_object().into_iter().flatten().map(|(m, _)| m) {
                if [
                    "get", "put", "post", "delete", "patch", "head", "options", "trace",
                ]
                .contains(&method.as_str())
                {
                    out.insert((method.clone(), path.clone()));
                }
            }
        }
        out
    }

    type Ops = BTreeSet<(String, String)>;

    /// The native routes of `table` that `doc` lacks, and the operations
    /// of `doc` that `table` lacks.
    fn mismatches(table: &[super::super::Route], doc: &Value) -> (Ops, Ops) {
        let routes: Ops = table
            .iter()
            .filter(|r| matches!(r.doc, Doc::Native(_)))
            .map(|r| (method_key(&r.method), r.path.to_string()))
            .collect();
        let documented = operations(doc);
        (
            routes.difference(&documented).cloned().collect(),
            documented.difference(&routes).cloned().collect(),
        )
    }

    /// Every native route of the table is an operation of the document,
    /// and every operation a native route: a route added without its
    /// `#[utoipa::path]` (or an operation left behind) fails here.
    #[test]
    fn the_document_holds_exactly_the_native_routes() {
        let table = super::super::table();
        let doc = build(&table);
        let (missing, extra) = mismatches(&table, &doc);
        assert!(
            missing.is_empty(),
            "routes missing from the document: {missing:?}"
        );
        assert!(
            extra.is_empty(),
            "documented operations with no route: {extra:?}"
        );
        let mut ids = BTreeSet::new();
        for (m, p) in operations(&doc) {
            let id = doc["paths"][&p][&m]["operationId"].as_str().unwrap_or("");
            assert!(ids.insert(id.to_string()), "operationId {id} repeats");
        }
        for r in &table {
            if let Doc::Native(_) = r.doc {
                assert!(!not_native(r.path), "{} is under NOT_NATIVE", r.path);
            }
        }
    }

    /// The check above is not vacuous: a route the document lacks, and an
    /// operation the table lacks, are both told.
    #[test]
    fn the_route_check_sees_a_missing_and_an_extra_route() {
        let table = super::super::table();
        let mut doc = build(&table);
        if let Some(paths) = doc["paths"].as_object_mut() {
            paths.remove("/api/v1/keys/{id}");
        }
        let (missing, extra) = mismatches(&table, &doc);
        assert_eq!(
            missing,
            [("delete".into(), "/api/v1/keys/{id}".into())].into()
        );
        assert!(extra.is_empty());
        let mut fewer = super::super::table();
        fewer.retain(|r| r.path != "/api/v1/alerts");
        let (missing, extra) = mismatches(&fewer, &build(&table));
        assert!(missing.is_empty());
        assert_eq!(extra, [("get".into(), "/api/v1/alerts".into())].into());
        // A route of another API is neither missing nor extra.
        let mut other = super::super::table();
        other.push(super::super::route(
            Method::GET,
            "/api/v1/app",
            Doc::Elsewhere("svix"),
            || actix_web::web::route().to(serve),
        ));
        assert_eq!(mismatches(&other, &build(&other)), (Ops::new(), Ops::new()));
    }

    #[test]
    fn every_code_of_every_route_is_a_known_code_and_every_known_code_is_used() {
        let mut used = BTreeSet::new();
        for r in super::super::table() {
            if let Doc::Native(faults) = r.doc {
                for c in faults.iter().flat_map(|f| f.iter()) {
                    assert!(code(c).is_some(), "{} names an unknown code {c}", r.path);
                    used.insert(*c);
                }
            }
        }
        for (c, _, _) in CODES {
            assert!(used.contains(c), "{c} is answered by no route");
        }
    }

    #[test]
    fn svix_paths_are_not_native_but_the_catalog_is() {
        assert!(not_native("/api/v1/app"));
        assert!(not_native("/api/v1/app/{app_id}/msg"));
        assert!(not_native("/api/v1/event-type/{name}"));
        assert!(not_native("/api/v1/health"));
        assert!(!not_native("/api/v1/event-types"));
        assert!(!not_native("/api/v1/apps"));
        assert!(!not_native("/healthz"));
    }

    #[test]
    fn an_authenticated_route_has_security_errors_and_the_tenant_header() {
        let doc = document();
        assert_eq!(doc["openapi"], "3.1.0");
        let op = &doc["paths"]["/api/v1/webhooks"]["post"];
        assert_eq!(op["security"], json!([{ "bearer": [] }]));
        let codes = &op["responses"]["422"]["content"]["application/json"]["schema"]["properties"]
            ["error"]["properties"]["code"]["enum"];
        assert_eq!(
            codes,
            &json!(["validation_failed", "unknown_event_type", "duplicate_url"])
        );
        let params = op["parameters"].as_array().cloned().unwrap_or_default();
        assert!(params.iter().any(|p| p["name"] == "X-Tenant-ID"));
        let open = &doc["paths"]["/api/v1/openapi.json"]["get"];
        assert!(open.get("security").is_none());
        assert!(open["responses"].get("401").is_none());
    }
}
