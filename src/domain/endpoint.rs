//! Endpoints: a tenant's webhook URL, its subscription and signing secrets.

use std::collections::BTreeMap;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use rand::RngCore;
use serde::{Deserialize, Serialize};
use url::{Host, Url};

use super::event_type;
use super::ids::EndpointId;
use super::time::Timestamp;

/// The longest endpoint URL accepted.
pub const MAX_URL_LEN: usize = 2048;
/// The longest description accepted.
pub const MAX_DESCRIPTION_LEN: usize = 1024;
/// The most subscription patterns on one endpoint.
pub const MAX_EVENTS: usize = 64;
/// Random bytes in a signing secret (the Standard Webhooks range is 24–64).
pub const SECRET_BYTES: usize = 24;
/// Prefix of signing secrets, as in Standard Webhooks.
pub const SECRET_PREFIX: &str = "whsec_";

/// A superseded secret that keeps signing until `expires_at`, so receivers
/// can roll over without dropping deliveries.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RetiredSecret {
    /// The old `whsec_…` secret.
    pub secret: String,
    /// When it stops signing.
    pub expires_at: Timestamp,
}

/// A webhook endpoint.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Endpoint {
    /// `ep_…`.
    pub id: EndpointId,
    /// The owning tenant.
    pub tenant_id: String,
    /// Where deliveries are POSTed.
    pub url: String,
    /// Subscription patterns: exact types, `category.*`, or `*`.
    pub events: Vec<String>,
    /// Free text for the tenant's own use.
    pub description: String,
    /// Whether it receives deliveries.
    pub active: bool,
    /// The current `whsec_…` secret.
    pub secret: String,
    /// Older secrets still inside their overlap window.
    pub previous_secrets: Vec<RetiredSecret>,
    /// Why Herald disabled it (e.g. a 410 Gone), if it did.
    pub disabled_reason: Option<String>,
    /// When it was created.
    pub created_at: Timestamp,
    /// When it last changed.
    pub updated_at: Timestamp,
    /// Bumped by the store at every update: an update names the revision
    /// it read and is refused if the endpoint changed since (optimistic
    /// concurrency, without comparing whole records).
    pub revision: u64,
    /// The tenant's own name for it (Svix's `uid`), unique within the
    /// tenant; it can stand for the id in the Svix-compatible API.
    pub uid: Option<String>,
    /// Headers sent with every attempt ([`validate_headers`]: never one
    /// Herald owns), keyed by the name as given; names are unique ignoring
    /// case.
    pub headers: BTreeMap<String, String>,
    /// The channels it listens to; empty means every event
    /// ([`channels_match`]).
    pub channels: Vec<String>,
    /// Free key/value pairs for the tenant's own use.
    pub metadata: BTreeMap<String, String>,
    /// Whether attempts also carry Svix's header names (`svix-id`,
    /// `svix-timestamp`, `svix-signature`) beside the Standard Webhooks
    /// ones, for receivers that read those by hand.
    pub svix_headers: bool,
    /// Where its deliveries go: POSTed to `url`, or handed to a client
    /// holding its stream (`herald listen`).
    pub kind: EndpointKind,
    /// When a client last polled its stream (written at most every
    /// [`super::stream::SEEN_EVERY_MS`]); `None` for URL endpoints and
    /// streams never polled.
    pub stream_seen_at: Option<Timestamp>,
}

/// How an endpoint receives its deliveries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum EndpointKind {
    /// Herald POSTs each attempt to the endpoint's URL.
    #[default]
    Url,
    /// A client polls them over `GET /api/v1/webhooks/{id}/stream` and
    /// acknowledges each one; the URL is a placeholder
    /// ([`super::stream::placeholder_url`]).
    Stream,
}

impl EndpointKind {
    /// `url` or `stream`.
    pub fn as_str(self) -> &'static str {
        match self {
            EndpointKind::Url => "url",
            EndpointKind::Stream => "stream",
        }
    }

    /// Parses [`Self::as_str`].
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "url" => Some(EndpointKind::Url),
            "stream" => Some(EndpointKind::Stream),
            _ => None,
        }
    }
}

impl Endpoint {
    /// Whether its deliveries go to a stream client instead of a URL.
    pub fn is_stream(&self) -> bool {
        self.kind == EndpointKind::Stream
    }

    /// The secrets that sign at `now`: the current one first, then any
    /// retired ones whose overlap has not yet ended.
    pub fn live_secrets(&self, now: Timestamp) -> impl Iterator<Item = &str> {
        std::iter::once(self.secret.as_str()).chain(
            self.previous_secrets
                .iter()
                .filter(move |r| r.expires_at > now)
                .map(|r| r.secret.as_str()),
        )
    }

    /// Replaces the secret; the old one signs on until `now + overlap_ms`.
    /// Retired secrets already past their expiry are dropped.
    pub fn rotate_secret(&mut self, now: Timestamp, overlap_ms: i64) -> &str {
        self.previous_secrets.retain(|r| r.expires_at > now);
        let old = std::mem::replace(&mut self.secret, generate_secret());
        if overlap_ms > 0 {
            self.previous_secrets.push(RetiredSecret {
                secret: old,
                expires_at: now.plus_millis(overlap_ms),
            });
        }
        self.updated_at = now;
        &self.secret
    }
}

/// A new `whsec_` secret: base64 of 24 random bytes.
pub fn generate_secret() -> String {
    let mut bytes = [0u8; SECRET_BYTES];
    rand::rng().fill_bytes(&mut bytes);
    format!("{SECRET_PREFIX}{}", STANDARD.encode(bytes))
}

/// Checks a signing secret given instead of a generated one: `whsec_`
/// then base64 of 24–64 bytes (the Standard Webhooks range; receivers
/// key HMAC with the decoded bytes).
pub fn validate_secret(s: &str) -> Result<(), FieldError> {
    let err = || {
        FieldError::new(
            "secret",
            "must be whsec_ followed by base64 of 24 to 64 random bytes",
        )
    };
    let b64 = s.strip_prefix(SECRET_PREFIX).ok_or_else(err)?;
    let bytes = STANDARD.decode(b64).map_err(|_| err())?;
    if !(24..=64).contains(&bytes.len()) {
        return Err(err());
    }
    Ok(())
}

/// A field that failed validation, with a message a person can act on.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct FieldError {
    /// The request field, e.g. `url` or `events`.
    pub field: &'static str,
    /// What is wrong and what would be right.
    pub message: String,
    /// The stable code: `validation_failed`, or `unknown_event_type` for
    /// an event type not in the catalog (the code an event with one gets,
    /// so one mistake has one code wherever it is made).
    pub code: &'static str,
}

impl FieldError {
    /// A new field error (`validation_failed`).
    pub fn new(field: &'static str, message: impl Into<String>) -> Self {
        Self {
            field,
            message: message.into(),
            code: "validation_failed",
        }
    }

    /// An event type (or pattern) that is not in the catalog.
    pub fn unknown_event_type(field: &'static str, message: impl Into<String>) -> Self {
        Self {
            code: "unknown_event_type",
            ..Self::new(field, message)
        }
    }
}

/// Parses and checks an endpoint URL: absolute http(s), https unless
/// `allow_http`, no credentials, a host, at most [`MAX_URL_LEN`] bytes.
/// Returns the normalised URL (the WHATWG parser turns `http://2130706433/`
/// into `http://127.0.0.1/`, which the address check then sees).
pub fn validate_url(raw: &str, allow_http: bool) -> Result<Url, FieldError> {
    let err = |m: &str| FieldError::new("url", m);
    if raw.len() > MAX_URL_LEN {
        return Err(err(&format!("must be at most {MAX_URL_LEN} bytes")));
    }
    let url = Url::parse(raw.trim()).map_err(|e| err(&format!("not an absolute URL ({e})")))?;
    match url.scheme() {
        "https" => {}
        "http" if allow_http => {}
        "http" => {
            return Err(err(
                "must use https (the operator has not enabled --allow-http)",
            ))
        }
        other => return Err(err(&format!("scheme {other:?} is not http(s)"))),
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(err("must not contain credentials"));
    }
    match url.host() {
        None => return Err(err("must name a host")),
        Some(Host::Domain("")) => return Err(err("must name a host")),
        Some(_) => {}
    }
    if url.as_str().len() > MAX_URL_LEN {
        return Err(err(&format!("must be at most {MAX_URL_LEN} bytes")));
    }
    Ok(url)
}

/// Checks and normalises a subscription list: non-empty, every pattern
/// valid over `catalog`, duplicates removed (first occurrence kept).
pub fn validate_events(
    events: &[String],
    catalog: &event_type::Catalog,
) -> Result<Vec<String>, FieldError> {
    if events.is_empty() {
        return Err(FieldError::new(
            "events",
            "must list at least one event type (or \"*\")",
        ));
    }
    if events.len() > MAX_EVENTS {
        return Err(FieldError::new(
            "events",
            format!("at most {MAX_EVENTS} entries"),
        ));
    }
    let mut out: Vec<String> = Vec::with_capacity(events.len());
    for e in events {
        if !event_type::is_valid_pattern(e, catalog) {
            return Err(FieldError::unknown_event_type(
                "events",
                format!(
                    "unknown event type {:?}; see GET /api/v1/event-types (\"category.*\" and \"*\" also work)",
                    truncate(e, 80)
                ),
            ));
        }
        if !out.contains(e) {
            out.push(e.clone());
        }
    }
    Ok(out)
}

/// Checks a description's length.
pub fn validate_description(d: &str) -> Result<(), FieldError> {
    if d.chars().count() > MAX_DESCRIPTION_LEN {
        return Err(FieldError::new(
            "description",
            format!("at most {MAX_DESCRIPTION_LEN} characters"),
        ));
    }
    Ok(())
}

/// The most custom headers on one endpoint.
pub const MAX_HEADERS: usize = 20;
/// The longest header value accepted (Svix's limit too).
pub const MAX_HEADER_VALUE: usize = 4096;
/// The longest header name accepted.
pub const MAX_HEADER_NAME: usize = 128;
/// The most channels on one endpoint or event (Svix's limit).
pub const MAX_CHANNELS: usize = 10;
/// The longest channel name (Svix's limit).
pub const MAX_CHANNEL_LEN: usize = 128;
/// The longest `uid` (Svix's limit).
pub const MAX_UID_LEN: usize = 256;
/// The most metadata pairs on one record.
pub const MAX_METADATA: usize = 50;
/// The longest metadata key or value.
pub const MAX_METADATA_LEN: usize = 1024;

/// Header names Herald sets itself or that belong to the connection, so a
/// custom header may not name them: the signatures and their companions,
/// the body's framing and type, the host, and the hop-by-hop headers.
const OWNED_HEADERS: &[&str] = &[
    "x-brainsait-signature",
    "x-brainsait-event",
    "content-type",
    "content-length",
    "content-encoding",
    "transfer-encoding",
    "host",
    "user-agent",
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "proxy-connection",
    "te",
    "trailer",
    "trailers",
    "upgrade",
    "expect",
];

/// Prefixes Herald's signing headers use (Standard Webhooks and Svix's
/// names), which no custom header may take.
const OWNED_PREFIXES: &[&str] = &["webhook-", "svix-", "x-svix-"];

/// Why Herald refuses `name` as a custom header name, if it does.
pub fn owned_header(name: &str) -> Option<&'static str> {
    let lower = name.to_ascii_lowercase();
    if OWNED_HEADERS.contains(&lower.as_str()) {
        return Some("is set by Herald or by the connection");
    }
    if OWNED_PREFIXES.iter().any(|p| lower.starts_with(p)) {
        return Some("uses a prefix of Herald's signing headers");
    }
    None
}

/// Whether `name` is an HTTP header name (RFC 9110 token).
fn is_token(name: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

/// Checks custom headers: at most [`MAX_HEADERS`], names HTTP tokens of at
/// most [`MAX_HEADER_NAME`] bytes and unique ignoring case, none that
/// Herald owns ([`owned_header`]), values of visible ASCII, spaces and
/// tabs (no CR or LF: no header injection) of at most
/// [`MAX_HEADER_VALUE`] bytes.
pub fn validate_headers(headers: &BTreeMap<String, String>) -> Result<(), FieldError> {
    let err = |m: String| FieldError::new("headers", m);
    if headers.len() > MAX_HEADERS {
        return Err(err(format!("at most {MAX_HEADERS} headers")));
    }
    let mut seen: Vec<String> = Vec::with_capacity(headers.len());
    for (name, value) in headers {
        let shown = truncate(name, 80);
        if name.len() > MAX_HEADER_NAME || !is_token(name) {
            return Err(err(format!(
                "{shown:?} is not a header name (letters, digits and !#$%&'*+-.^_`|~, at most {MAX_HEADER_NAME} bytes)"
            )));
        }
        if let Some(why) = owned_header(name) {
            return Err(err(format!(
                "{shown:?} {why}; it cannot be a custom header"
            )));
        }
        let lower = name.to_ascii_lowercase();
        if seen.contains(&lower) {
            return Err(err(format!("{shown:?} is given twice (names ignore case)")));
        }
        seen.push(lower);
        if value.len() > MAX_HEADER_VALUE {
            return Err(err(format!(
                "the value of {shown:?} is longer than {MAX_HEADER_VALUE} bytes"
            )));
        }
        if !value
            .bytes()
            .all(|b| b == b'\t' || (b' '..=b'~').contains(&b))
        {
            return Err(err(format!(
                "the value of {shown:?} may hold only visible ASCII, spaces and tabs"
            )));
        }
    }
    Ok(())
}

/// Reads custom headers written one per line as `Name: value` (how the
/// admin panel's form takes them; blank lines are skipped), then checks
/// them with [`validate_headers`].
pub fn parse_header_lines(text: &str) -> Result<BTreeMap<String, String>, FieldError> {
    let mut out = BTreeMap::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        let Some((name, value)) = line.split_once(':') else {
            return Err(FieldError::new(
                "headers",
                format!("line {}: write each header as Name: value", i + 1),
            ));
        };
        let name = name.trim().to_string();
        if out.keys().any(|k: &String| k.eq_ignore_ascii_case(&name)) {
            return Err(FieldError::new(
                "headers",
                format!(
                    "line {}: {:?} is given twice (names ignore case)",
                    i + 1,
                    truncate(&name, 80)
                ),
            ));
        }
        out.insert(name, value.trim().to_string());
    }
    validate_headers(&out)?;
    Ok(out)
}

/// The lines [`parse_header_lines`] reads back as `headers`.
pub fn header_lines(headers: &BTreeMap<String, String>) -> String {
    headers
        .iter()
        .map(|(k, v)| format!("{k}: {v}"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Checks and normalises channels (of an endpoint or an event): at most
/// [`MAX_CHANNELS`], each 1–[`MAX_CHANNEL_LEN`] bytes of
/// `[A-Za-z0-9_.:-]` (Svix's rule), duplicates removed.
pub fn validate_channels(channels: &[String]) -> Result<Vec<String>, FieldError> {
    if channels.len() > MAX_CHANNELS {
        return Err(FieldError::new(
            "channels",
            format!("at most {MAX_CHANNELS} channels"),
        ));
    }
    let mut out: Vec<String> = Vec::with_capacity(channels.len());
    for c in channels {
        let ok = !c.is_empty()
            && c.len() <= MAX_CHANNEL_LEN
            && c.bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b':' | b'-'));
        if !ok {
            return Err(FieldError::new(
                "channels",
                format!(
                    "{:?} is not a channel (1–{MAX_CHANNEL_LEN} of A–Z a–z 0–9 _ . : -)",
                    truncate(c, 80)
                ),
            ));
        }
        if !out.contains(c) {
            out.push(c.clone());
        }
    }
    Ok(out)
}

/// Whether an endpoint listening on `endpoint` channels receives an event
/// sent on `event` channels: an endpoint without channels receives every
/// event; one with channels only events sharing at least one of them (an
/// event without channels does not reach it). Svix's rule.
pub fn channels_match(endpoint: &[String], event: &[String]) -> bool {
    endpoint.is_empty() || endpoint.iter().any(|c| event.contains(c))
}

/// Checks a `uid`: 1–[`MAX_UID_LEN`] bytes of `[A-Za-z0-9_.-]` (Svix's
/// rule), and not of the form of Herald's own ids (`ep_…`), so a uid can
/// never be taken for an id.
pub fn validate_uid(uid: &str) -> Result<(), FieldError> {
    let ok = !uid.is_empty()
        && uid.len() <= MAX_UID_LEN
        && uid
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'));
    if !ok {
        return Err(FieldError::new(
            "uid",
            format!("must be 1–{MAX_UID_LEN} of A–Z a–z 0–9 _ . -"),
        ));
    }
    if uid.starts_with("ep_") {
        return Err(FieldError::new(
            "uid",
            "must not start with \"ep_\" (the prefix of endpoint ids)",
        ));
    }
    Ok(())
}

/// Checks metadata: at most [`MAX_METADATA`] pairs, keys non-empty, keys
/// and values at most [`MAX_METADATA_LEN`] bytes.
pub fn validate_metadata(metadata: &BTreeMap<String, String>) -> Result<(), FieldError> {
    if metadata.len() > MAX_METADATA {
        return Err(FieldError::new(
            "metadata",
            format!("at most {MAX_METADATA} entries"),
        ));
    }
    for (k, v) in metadata {
        if k.is_empty() || k.len() > MAX_METADATA_LEN || v.len() > MAX_METADATA_LEN {
            return Err(FieldError::new(
                "metadata",
                format!("keys must be non-empty; keys and values at most {MAX_METADATA_LEN} bytes"),
            ));
        }
    }
    Ok(())
}

fn truncate(s: &str, n: usize) -> String {
    s.chars().take(n).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_rules() {
        assert!(validate_url("https://example.com/hook", false).is_ok());
        assert!(validate_url("http://example.com/hook", false).is_err());
        assert!(validate_url("http://example.com/hook", true).is_ok());
        assert!(validate_url("/relative", true).is_err());
        assert!(validate_url("ftp://example.com/", true).is_err());
        assert!(validate_url("https://user:pw@example.com/", false).is_err());
        assert!(validate_url("https://user@example.com/", false).is_err());
        let long = format!("https://example.com/{}", "a".repeat(MAX_URL_LEN));
        assert!(validate_url(&long, false).is_err());
        let n = validate_url("http://2130706433/x", true).unwrap();
        assert_eq!(n.host_str(), Some("127.0.0.1"));
        let o = validate_url("http://0177.0.0.1/x", true).unwrap();
        assert_eq!(o.host_str(), Some("127.0.0.1"));
    }

    #[test]
    fn event_rules() {
        let v = |xs: &[&str]| xs.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let c = event_type::Catalog::default();
        assert!(validate_events(&[], &c).is_err());
        assert_eq!(
            validate_events(&v(&["payment.nope"]), &c).unwrap_err().code,
            "unknown_event_type"
        );
        assert_eq!(
            validate_events(&[], &c).unwrap_err().code,
            "validation_failed"
        );
        assert_eq!(
            validate_events(&v(&["order.*", "order.*", "*"]), &c).unwrap(),
            v(&["order.*", "*"])
        );
        // Custom types count once the catalog holds them.
        let custom = event_type::Catalog::new([event_type::CustomEventType {
            name: "invoice.paid".into(),
            description: String::new(),
            schema: None,
            archived: false,
            created_at: Timestamp::from_millis(1),
            updated_at: Timestamp::from_millis(1),
        }]);
        assert!(validate_events(&v(&["invoice.*"]), &c).is_err());
        assert_eq!(
            validate_events(&v(&["invoice.*", "invoice.paid"]), &custom).unwrap(),
            v(&["invoice.*", "invoice.paid"])
        );
    }

    #[test]
    fn custom_headers_never_take_what_herald_owns() {
        let h = |pairs: &[(&str, &str)]| {
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect::<BTreeMap<_, _>>()
        };
        assert!(validate_headers(&h(&[("X-Api-Key", "abc 123"), ("X-Trace", "\tok")])).is_ok());
        for bad in [
            "Content-Type",
            "content-length",
            "Host",
            "X-BrainSAIT-Signature",
            "webhook-id",
            "Webhook-Signature",
            "svix-id",
            "Connection",
            "Transfer-Encoding",
            "User-Agent",
        ] {
            let e = validate_headers(&h(&[(bad, "x")])).unwrap_err();
            assert_eq!(e.field, "headers", "{bad}");
            assert!(e.message.contains(bad), "{bad}: {}", e.message);
        }
        assert!(validate_headers(&h(&[("X-A", "a\r\nX-Injected: 1")])).is_err());
        assert!(validate_headers(&h(&[("X A", "x")])).is_err());
        assert!(validate_headers(&h(&[("", "x")])).is_err());
        assert!(validate_headers(&h(&[("X-A", "x"), ("x-a", "y")])).is_err());
        assert!(validate_headers(&h(&[("X-A", &"v".repeat(MAX_HEADER_VALUE + 1))])).is_err());
        let many: BTreeMap<_, _> = (0..=MAX_HEADERS)
            .map(|i| (format!("X-{i}"), "v".to_string()))
            .collect();
        assert!(validate_headers(&many).is_err());
    }

    #[test]
    fn header_lines_round_trip() {
        let h =
            parse_header_lines("X-Api-Key: k: with colon\n\n  Authorization:Bearer x  \n").unwrap();
        assert_eq!(h["X-Api-Key"], "k: with colon");
        assert_eq!(h["Authorization"], "Bearer x");
        assert_eq!(parse_header_lines(&header_lines(&h)).unwrap(), h);
        assert!(parse_header_lines("no colon here").is_err());
        assert!(parse_header_lines("X-A: 1\nx-a: 2").is_err());
        assert!(parse_header_lines("Host: evil").is_err());
        assert_eq!(parse_header_lines("").unwrap(), BTreeMap::new());
    }

    #[test]
    fn channels_follow_svix_rules() {
        let v = |xs: &[&str]| xs.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(
            validate_channels(&v(&["project:1", "eu.west", "project:1"])).unwrap(),
            v(&["project:1", "eu.west"])
        );
        assert!(validate_channels(&v(&["a b"])).is_err());
        assert!(validate_channels(&v(&[""])).is_err());
        assert!(validate_channels(
            &v(&["x"; 11])
                .iter()
                .enumerate()
                .map(|(i, _)| i.to_string())
                .collect::<Vec<_>>()
        )
        .is_err());
        // No channels on the endpoint: everything; otherwise an overlap.
        assert!(channels_match(&[], &[]));
        assert!(channels_match(&[], &v(&["a"])));
        assert!(!channels_match(&v(&["a"]), &[]));
        assert!(!channels_match(&v(&["a"]), &v(&["b"])));
        assert!(channels_match(&v(&["a", "b"]), &v(&["c", "b"])));
    }

    #[test]
    fn uids_and_metadata() {
        assert!(validate_uid("billing-hook.1").is_ok());
        assert!(validate_uid("").is_err());
        assert!(validate_uid("a/b").is_err());
        assert!(validate_uid("ep_01H").is_err());
        assert!(validate_uid(&"u".repeat(MAX_UID_LEN + 1)).is_err());
        let mut m = BTreeMap::new();
        m.insert("team".to_string(), "billing".to_string());
        assert!(validate_metadata(&m).is_ok());
        m.insert(String::new(), "x".to_string());
        assert!(validate_metadata(&m).is_err());
    }

    #[test]
    fn secrets_and_rotation_overlap() {
        let s = generate_secret();
        assert!(s.starts_with("whsec_"));
        assert_eq!(STANDARD.decode(&s[6..]).unwrap().len(), SECRET_BYTES);
        let t0 = Timestamp::from_millis(1_000_000);
        let mut ep = Endpoint {
            id: EndpointId::new(t0),
            tenant_id: "t".into(),
            url: "https://example.com".into(),
            events: vec!["*".into()],
            description: String::new(),
            active: true,
            secret: s.clone(),
            previous_secrets: vec![],
            disabled_reason: None,
            revision: 0,
            created_at: t0,
            updated_at: t0,
            uid: None,
            headers: BTreeMap::new(),
            channels: vec![],
            metadata: BTreeMap::new(),
            svix_headers: false,
            kind: crate::domain::endpoint::EndpointKind::Url,
            stream_seen_at: None,
        };
        let new = ep.rotate_secret(t0, 1000).to_string();
        assert_ne!(new, s);
        let live: Vec<_> = ep.live_secrets(t0.plus_millis(999)).collect();
        assert_eq!(live, vec![new.as_str(), s.as_str()]);
        let live: Vec<_> = ep.live_secrets(t0.plus_millis(1000)).collect();
        assert_eq!(live, vec![new.as_str()]);
        // A later rotation drops retired secrets that have expired.
        ep.rotate_secret(t0.plus_millis(2000), 1000);
        assert_eq!(ep.previous_secrets.len(), 1);
        assert_eq!(ep.previous_secrets[0].secret, new);
    }
}
