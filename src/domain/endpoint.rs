//! Endpoints: a tenant's webhook URL, its subscription and signing secrets.

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
}

impl Endpoint {
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
