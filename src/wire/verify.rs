//! `herald verify`'s diagnosis: does a captured request carry valid
//! signatures for a secret, and if not, why — in words.
//!
//! A pure function of the body bytes, the headers, the secret, "now" and a
//! tolerance. The signature checks themselves are `wire::signing`'s (the one
//! implementation); this module only chooses what to try. When the given
//! body and secret do not verify, it tries the mistakes receivers make:
//!
//! * the body re-serialised after signing (pretty-printed, keys reordered,
//!   numbers or escapes rewritten): Herald's compact form of it, with the
//!   envelope's keys in Herald's order, is tried in its place;
//! * the secret used the other way: `X-BrainSAIT-Signature` is keyed with
//!   the secret *string* (its `whsec_` prefix included), `webhook-signature`
//!   with the base64-decoded bytes after `whsec_`;
//!
//! and it reports a stale `webhook-timestamp` and missing or malformed
//! headers. Whatever it finds is a [`Cause`], a closed set.

use std::fmt;

use serde_json::{Map, Value};

use super::json::{parse, write_compact, DEPTH_CEILING};
use super::signing::{
    has_v1_entry, is_brainsait_shaped, standard_key_bytes, verify_brainsait_with_key,
    verify_standard_with_key, SECRET_PREFIX,
};

/// The envelope's keys in the order Herald writes them (`wire::envelope`).
pub const ENVELOPE_KEYS: [&str; 6] = ["id", "event", "created", "data", "tenant_id", "api_version"];

/// The default `webhook-timestamp` tolerance: the Standard Webhooks
/// libraries' five minutes.
pub const DEFAULT_TOLERANCE_SECS: u64 = 300;

/// A signature scheme Herald signs every delivery with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scheme {
    /// The seed's `X-BrainSAIT-Signature`: hex HMAC-SHA256 of the body,
    /// keyed with the secret string.
    BrainSait,
    /// Standard Webhooks' `webhook-id`/`webhook-timestamp`/`webhook-signature`
    /// (or Svix's `svix-*` names), keyed with the decoded secret.
    Standard,
}

impl Scheme {
    /// The header carrying this scheme's signature.
    pub fn header(self) -> &'static str {
        match self {
            Scheme::BrainSait => "X-BrainSAIT-Signature",
            Scheme::Standard => "webhook-signature",
        }
    }
}

/// Which way a secret keyed an HMAC.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyForm {
    /// The secret string's UTF-8 bytes, exactly as given.
    String,
    /// The string with its `whsec_` prefix removed.
    WithoutPrefix,
    /// The string with a `whsec_` prefix put in front (it was given bare).
    WithPrefix,
    /// The base64 after `whsec_`, decoded.
    Decoded,
}

impl fmt::Display for KeyForm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            KeyForm::String => "the secret string's bytes",
            KeyForm::WithoutPrefix => "the secret string without its whsec_ prefix",
            KeyForm::WithPrefix => "the secret string with a whsec_ prefix in front",
            KeyForm::Decoded => "the base64-decoded bytes after whsec_",
        })
    }
}

/// How a body differs from the bytes Herald would have sent for it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Changes {
    /// Whitespace was added between tokens (pretty-printing).
    pub whitespace: bool,
    /// The envelope's keys are not in Herald's order
    /// (`id, event, created, data, tenant_id, api_version`).
    pub key_order: bool,
    /// Numbers or string escapes are written differently from
    /// `JSON.stringify` (`100.0` for `100`, `\u00e9` for `é`, `\/`), or a
    /// key is repeated.
    pub formatting: bool,
}

impl Changes {
    /// True when the body is exactly what Herald would send.
    pub fn none(&self) -> bool {
        !(self.whitespace || self.key_order || self.formatting)
    }
}

impl fmt::Display for Changes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let parts: Vec<&str> = [
            (self.whitespace, "whitespace added"),
            (self.key_order, "keys reordered"),
            (self.formatting, "numbers or escapes rewritten"),
        ]
        .iter()
        .filter(|(on, _)| *on)
        .map(|(_, what)| *what)
        .collect();
        f.write_str(&parts.join(", "))
    }
}

/// Why a signature does not verify. A closed set: every failure
/// [`diagnose`] reports is one of these.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Cause {
    /// A header the scheme needs is absent.
    HeaderMissing {
        /// Its name.
        header: &'static str,
    },
    /// A header is present but cannot be what Herald sends.
    HeaderMalformed {
        /// Its name.
        header: &'static str,
        /// What is wrong with it.
        problem: &'static str,
    },
    /// The secret is not `whsec_` + base64, so it cannot key a
    /// `webhook-signature` (and no other reading of it matched).
    SecretNotBase64,
    /// The body is not the bytes that were signed: it was re-serialised.
    BodyReserialised {
        /// What differs from Herald's form of the same JSON.
        changes: Changes,
        /// True when Herald's compact form of the body verifies: only the
        /// serialisation changed.
        restored: bool,
    },
    /// The signature matches the secret used as base64-decoded bytes where
    /// the scheme keys with the string (`X-BrainSAIT-Signature`).
    SecretUsedAsBase64,
    /// The signature matches the secret string (`form`) used as the key
    /// where the scheme keys with the decoded bytes (`webhook-signature`).
    SecretUsedAsString {
        /// The string form that matched.
        form: KeyForm,
    },
    /// The signature matches the secret with its `whsec_` prefix removed
    /// or added (`form`), where `X-BrainSAIT-Signature` keys with the whole
    /// string Herald issued, prefix included.
    SecretPrefix {
        /// The form that matched.
        form: KeyForm,
    },
    /// `webhook-timestamp` is further from now than the tolerance.
    TimestampOutsideTolerance {
        /// The header's unix seconds.
        timestamp: i64,
        /// The clock's unix seconds.
        now: i64,
        /// The tolerance in seconds.
        tolerance: u64,
    },
    /// Nothing matched: another secret signed this body (or its content
    /// changed).
    WrongSecret,
}

impl Cause {
    /// A stable snake_case name, for scripts.
    pub fn code(&self) -> &'static str {
        match self {
            Cause::HeaderMissing { .. } => "header_missing",
            Cause::HeaderMalformed { .. } => "header_malformed",
            Cause::SecretNotBase64 => "secret_not_base64",
            Cause::BodyReserialised { .. } => "body_reserialised",
            Cause::SecretUsedAsBase64 => "secret_used_as_base64",
            Cause::SecretUsedAsString { .. } => "secret_used_as_string",
            Cause::SecretPrefix { .. } => "secret_prefix",
            Cause::TimestampOutsideTolerance { .. } => "timestamp_outside_tolerance",
            Cause::WrongSecret => "wrong_secret",
        }
    }
}

impl fmt::Display for Cause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Cause::HeaderMissing { header } => write!(
                f,
                "the {header} header is missing (Herald sends it on every delivery: \
                 was the whole request captured?)"
            ),
            Cause::HeaderMalformed { header, problem } => {
                write!(f, "the {header} header is malformed: {problem}")
            }
            Cause::SecretNotBase64 => f.write_str(
                "the secret is not a Standard Webhooks secret (after whsec_ it must be base64), \
                 so it cannot check webhook-signature: is it the endpoint's whole secret?",
            ),
            Cause::BodyReserialised {
                changes,
                restored: true,
            } => write!(
                f,
                "the body was re-serialised after signing ({changes}); the signature matches \
                 Herald's compact form of the same JSON, so verify the raw request bytes, \
                 before any JSON parsing or pretty-printing"
            ),
            Cause::BodyReserialised {
                changes,
                restored: false,
            } => write!(
                f,
                "the body is not the bytes Herald sent ({changes}) and its compact form does \
                 not match either: verify the raw request bytes, before any JSON parsing or \
                 pretty-printing"
            ),
            Cause::SecretUsedAsBase64 => f.write_str(
                "the signature was made with the secret base64-decoded (the Standard Webhooks \
                 way), but X-BrainSAIT-Signature is keyed with the secret string itself, \
                 whsec_ prefix included",
            ),
            Cause::SecretUsedAsString { form } => write!(
                f,
                "the signature was made with {form} as the key, but webhook-signature is keyed \
                 with the base64-decoded bytes after whsec_ (as the Standard Webhooks \
                 libraries do)"
            ),
            Cause::SecretPrefix { form } => write!(
                f,
                "the signature matches {form}, but X-BrainSAIT-Signature is keyed with the \
                 whole secret Herald issued, whsec_ prefix included"
            ),
            Cause::TimestampOutsideTolerance {
                timestamp,
                now,
                tolerance,
            } => {
                let (age, way) = if now >= timestamp {
                    (now.saturating_sub(*timestamp), "old")
                } else {
                    (timestamp.saturating_sub(*now), "in the future")
                };
                write!(
                    f,
                    "webhook-timestamp {timestamp} is {age} s {way}, outside the tolerance of \
                     {tolerance} s: receivers reject it as a possible replay (sign again, or \
                     check this machine's clock)"
                )
            }
            Cause::WrongSecret => f.write_str(
                "the signature does not match this body with this secret, whichever way the \
                 secret is used: it was signed with another secret (another endpoint's, or one \
                 rotated away), or the body's content changed",
            ),
        }
    }
}

/// The verdict on one scheme: valid when `causes` is empty.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Check {
    /// The scheme checked.
    pub scheme: Scheme,
    /// Why it does not verify; empty when it does.
    pub causes: Vec<Cause>,
}

impl Check {
    /// True when the scheme verified.
    pub fn valid(&self) -> bool {
        self.causes.is_empty()
    }
}

/// What to check, and against which clock.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Options {
    /// Check `X-BrainSAIT-Signature`.
    pub brainsait: bool,
    /// Check the Standard Webhooks headers.
    pub standard: bool,
    /// The clock's unix seconds.
    pub now: i64,
    /// How far `webhook-timestamp` may be from `now`, in seconds.
    pub tolerance_secs: u64,
}

/// Checks `body` and `headers` (names in any case; Svix's `svix-*` names
/// stand in for absent `webhook-*` ones) against `secret`, scheme by
/// scheme, and names every cause of a failure.
pub fn diagnose(
    secret: &str,
    body: &[u8],
    headers: &[(String, String)],
    options: &Options,
) -> Vec<Check> {
    let restored = Restored::of(body);
    let mut out = Vec::with_capacity(2);
    if options.brainsait {
        out.push(Check {
            scheme: Scheme::BrainSait,
            causes: brainsait(secret, body, headers, &restored),
        });
    }
    if options.standard {
        out.push(Check {
            scheme: Scheme::Standard,
            causes: standard(secret, body, headers, &restored, options),
        });
    }
    out
}

/// The body as Herald would have sent it, when it is JSON.
struct Restored {
    /// How the given body differs from Herald's form (`None`: not JSON).
    changes: Option<Changes>,
    /// Bodies to try instead of the given one, most likely first.
    candidates: Vec<Vec<u8>>,
}

impl Restored {
    fn of(body: &[u8]) -> Restored {
        let Ok(value) = parse(body, DEPTH_CEILING) else {
            return Restored {
                changes: None,
                candidates: Vec::new(),
            };
        };
        let mut compact = Vec::with_capacity(body.len());
        write_compact(&value, &mut compact);
        let herald = match &value {
            Value::Object(map) => {
                let mut out = Vec::with_capacity(compact.len());
                write_compact(&Value::Object(in_envelope_order(map)), &mut out);
                out
            }
            _ => compact.clone(),
        };
        let stripped = strip_whitespace(body);
        let changes = Changes {
            whitespace: stripped.len() != body.len(),
            key_order: herald != compact,
            formatting: stripped != compact,
        };
        let mut candidates = Vec::with_capacity(2);
        for c in [herald, compact] {
            if c != body && !candidates.contains(&c) {
                candidates.push(c);
            }
        }
        Restored {
            changes: Some(changes),
            candidates,
        }
    }

    /// The cause to report when no candidate matched either, if the body
    /// was visibly re-serialised.
    fn unrestored(&self) -> Option<Cause> {
        self.changes
            .filter(|c| !c.none())
            .map(|changes| Cause::BodyReserialised {
                changes,
                restored: false,
            })
    }

    fn restored(&self) -> Cause {
        Cause::BodyReserialised {
            changes: self.changes.unwrap_or_default(),
            restored: true,
        }
    }
}

/// `map` with the envelope's keys first, in Herald's order, then any
/// others in their given order.
fn in_envelope_order(map: &Map<String, Value>) -> Map<String, Value> {
    let mut out = Map::with_capacity(map.len());
    for key in ENVELOPE_KEYS {
        if let Some(v) = map.get(key) {
            out.insert(key.to_string(), v.clone());
        }
    }
    for (k, v) in map {
        if !out.contains_key(k) {
            out.insert(k.clone(), v.clone());
        }
    }
    out
}

/// `body` without JSON whitespace outside strings.
fn strip_whitespace(body: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(body.len());
    let (mut in_string, mut escaped) = (false, false);
    for &b in body {
        if in_string {
            out.push(b);
            if escaped {
                escaped = false;
            } else if b == b'\\' {
                escaped = true;
            } else if b == b'"' {
                in_string = false;
            }
        } else if !matches!(b, b' ' | b'\t' | b'\n' | b'\r') {
            in_string = b == b'"';
            out.push(b);
        }
    }
    out
}

fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.trim())
}

/// The keys to try for one scheme: the right one (`None` when the secret
/// cannot be read that way), then the wrong readings with their causes.
type Keys = (Option<Vec<u8>>, Vec<(Vec<u8>, Cause)>);

fn brainsait_keys(secret: &str) -> Keys {
    let mut wrong = Vec::new();
    if let Ok(decoded) = standard_key_bytes(secret) {
        wrong.push((decoded, Cause::SecretUsedAsBase64));
    }
    match secret.strip_prefix(SECRET_PREFIX) {
        Some(bare) => wrong.push((
            bare.as_bytes().to_vec(),
            Cause::SecretPrefix {
                form: KeyForm::WithoutPrefix,
            },
        )),
        None => wrong.push((
            format!("{SECRET_PREFIX}{secret}").into_bytes(),
            Cause::SecretPrefix {
                form: KeyForm::WithPrefix,
            },
        )),
    }
    (Some(secret.as_bytes().to_vec()), wrong)
}

fn standard_keys(secret: &str) -> Keys {
    let mut wrong = vec![(
        secret.as_bytes().to_vec(),
        Cause::SecretUsedAsString {
            form: KeyForm::String,
        },
    )];
    if let Some(bare) = secret.strip_prefix(SECRET_PREFIX) {
        wrong.push((
            bare.as_bytes().to_vec(),
            Cause::SecretUsedAsString {
                form: KeyForm::WithoutPrefix,
            },
        ));
    }
    (standard_key_bytes(secret).ok(), wrong)
}

/// Tries the right key on the given body, then on the restored bodies,
/// then the wrong keys likewise; returns the causes of the first match, or
/// of no match.
fn search(
    keys: Keys,
    body: &[u8],
    restored: &Restored,
    verifies: impl Fn(&[u8], &[u8]) -> bool,
    no_right_key: Option<Cause>,
) -> Vec<Cause> {
    let (right, wrong) = keys;
    if let Some(key) = &right {
        if verifies(key, body) {
            return Vec::new();
        }
        if restored.candidates.iter().any(|c| verifies(key, c)) {
            return vec![restored.restored()];
        }
    }
    for (key, cause) in wrong {
        if verifies(&key, body) {
            return vec![cause];
        }
        if restored.candidates.iter().any(|c| verifies(&key, c)) {
            return vec![restored.restored(), cause];
        }
    }
    if let Some(cause) = no_right_key {
        return vec![cause];
    }
    match restored.unrestored() {
        Some(cause) => vec![cause],
        None => vec![Cause::WrongSecret],
    }
}

fn brainsait(
    secret: &str,
    body: &[u8],
    headers: &[(String, String)],
    restored: &Restored,
) -> Vec<Cause> {
    let name = Scheme::BrainSait.header();
    let Some(signature) = header(headers, name) else {
        return vec![Cause::HeaderMissing { header: name }];
    };
    if !is_brainsait_shaped(signature) {
        return vec![Cause::HeaderMalformed {
            header: name,
            problem: "it must be 64 hex digits (HMAC-SHA256)",
        }];
    }
    search(
        brainsait_keys(secret),
        body,
        restored,
        |key, b| verify_brainsait_with_key(key, b, signature),
        None,
    )
}

fn standard(
    secret: &str,
    body: &[u8],
    headers: &[(String, String)],
    restored: &Restored,
    options: &Options,
) -> Vec<Cause> {
    let either = |ours: &'static str, svix: &str| header(headers, ours).or(header(headers, svix));
    let id = either("webhook-id", "svix-id");
    let timestamp = either("webhook-timestamp", "svix-timestamp");
    let signature = either("webhook-signature", "svix-signature");
    let mut causes = Vec::new();
    for (value, name) in [
        (id, "webhook-id"),
        (timestamp, "webhook-timestamp"),
        (signature, "webhook-signature"),
    ] {
        if value.is_none() {
            causes.push(Cause::HeaderMissing { header: name });
        }
    }
    let (Some(id), Some(timestamp), Some(signature)) = (id, timestamp, signature) else {
        return causes;
    };
    let Ok(timestamp) = timestamp.parse::<i64>() else {
        return vec![Cause::HeaderMalformed {
            header: "webhook-timestamp",
            problem: "it must be unix seconds, an integer",
        }];
    };
    if !has_v1_entry(signature) {
        return vec![Cause::HeaderMalformed {
            header: "webhook-signature",
            problem: "it holds no `v1,<base64 of 32 bytes>` entry",
        }];
    }
    if options.now.abs_diff(timestamp) > options.tolerance_secs {
        causes.push(Cause::TimestampOutsideTolerance {
            timestamp,
            now: options.now,
            tolerance: options.tolerance_secs,
        });
    }
    let keys = standard_keys(secret);
    let no_right_key = keys.0.is_none().then_some(Cause::SecretNotBase64);
    causes.extend(search(
        keys,
        body,
        restored,
        |key, b| verify_standard_with_key(key, id, timestamp, b, signature),
        no_right_key,
    ));
    causes
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::signing::{brainsait_signature, standard_signature};

    const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    const OTHER: &str = "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD";
    const ID: &str = "evt_1234567890";
    const TS: i64 = 1_705_314_600;
    /// The known-answer vector's envelope (shared/vectors/signatures.json).
    const BODY: &str = r#"{"id":"evt_1234567890","event":"payment.completed","created":"2024-01-15T10:30:00Z","data":{"object":{"id":"pay_abc123","amount":29999,"currency":"USD","status":"completed","customer_email":"customer@example.com"}},"tenant_id":"company_xyz","api_version":"2024-01-01"}"#;

    fn options() -> Options {
        Options {
            brainsait: true,
            standard: true,
            now: TS + 10,
            tolerance_secs: DEFAULT_TOLERANCE_SECS,
        }
    }

    /// Headers as Herald signs `body` with `secret` at `ts`.
    fn signed(secret: &str, body: &str, ts: i64) -> Vec<(String, String)> {
        vec![
            (
                "X-BrainSAIT-Signature".into(),
                brainsait_signature(secret, body.as_bytes()),
            ),
            ("webhook-id".into(), ID.into()),
            ("webhook-timestamp".into(), ts.to_string()),
            (
                "webhook-signature".into(),
                standard_signature(secret, ID, ts, body.as_bytes()).unwrap(),
            ),
        ]
    }

    /// Replaces (or removes, with `None`) header `name`.
    fn with(mut h: Vec<(String, String)>, name: &str, v: Option<String>) -> Vec<(String, String)> {
        h.retain(|(k, _)| !k.eq_ignore_ascii_case(name));
        if let Some(v) = v {
            h.push((name.to_string(), v));
        }
        h
    }

    fn pretty(body: &str) -> String {
        let v: Value = serde_json::from_str(body).unwrap();
        serde_json::to_string_pretty(&v).unwrap()
    }

    /// Herald's envelope with its top-level keys in reverse order.
    fn reordered(body: &str) -> String {
        let v: Map<String, Value> = serde_json::from_str(body).unwrap();
        let rev: Map<String, Value> = v.into_iter().rev().collect();
        serde_json::to_string(&rev).unwrap()
    }

    fn hmac_hex_with_decoded(secret: &str, body: &str) -> String {
        // The decoded key as a "string" secret would not be UTF-8; sign with
        // the key bytes through the one implementation instead: a BrainSAIT
        // signature keyed by the decoded bytes is the HMAC the Standard
        // scheme's key gives over the bare body.
        use hmac::{Hmac, Mac};
        let key = standard_key_bytes(secret).unwrap();
        let mut mac = <Hmac<sha2::Sha256> as Mac>::new_from_slice(&key).unwrap();
        mac.update(body.as_bytes());
        mac.finalize()
            .into_bytes()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    }

    fn standard_with_string_key(key: &str, body: &str, ts: i64) -> String {
        use base64::Engine as _;
        use hmac::{Hmac, Mac};
        let mut mac = <Hmac<sha2::Sha256> as Mac>::new_from_slice(key.as_bytes()).unwrap();
        mac.update(format!("{ID}.{ts}.{body}").as_bytes());
        format!(
            "v1,{}",
            base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
        )
    }

    fn causes(
        secret: &str,
        body: &str,
        headers: &[(String, String)],
        options: &Options,
    ) -> (Vec<Cause>, Vec<Cause>) {
        let checks = diagnose(secret, body.as_bytes(), headers, options);
        assert_eq!(checks.len(), 2);
        assert_eq!(checks[0].scheme, Scheme::BrainSait);
        assert_eq!(checks[1].scheme, Scheme::Standard);
        (checks[0].causes.clone(), checks[1].causes.clone())
    }

    #[test]
    fn a_request_signed_like_herald_verifies() {
        let (b, s) = causes(SECRET, BODY, &signed(SECRET, BODY, TS), &options());
        assert_eq!((b, s), (vec![], vec![]));
        // Header names in any case, and Svix's names, are accepted.
        let svix: Vec<(String, String)> = signed(SECRET, BODY, TS)
            .into_iter()
            .map(|(k, v)| (k.to_uppercase().replace("WEBHOOK-", "svix-"), v))
            .collect();
        let (b, s) = causes(SECRET, BODY, &svix, &options());
        assert_eq!((b, s), (vec![], vec![]));
    }

    #[test]
    fn every_cause_is_named() {
        let good = signed(SECRET, BODY, TS);
        let reshaped = Changes {
            whitespace: true,
            key_order: false,
            formatting: false,
        };
        let o = options();
        // (what, secret, body, headers, options, brainsait causes, standard causes)
        #[allow(clippy::type_complexity)]
        let table: Vec<(
            &str,
            &str,
            String,
            Vec<(String, String)>,
            Options,
            Vec<Cause>,
            Vec<Cause>,
        )> = vec![
            (
                "brainsait header missing",
                SECRET,
                BODY.into(),
                with(good.clone(), "x-brainsait-signature", None),
                o,
                vec![Cause::HeaderMissing {
                    header: "X-BrainSAIT-Signature",
                }],
                vec![],
            ),
            (
                "standard headers missing",
                SECRET,
                BODY.into(),
                with(
                    with(good.clone(), "webhook-id", None),
                    "webhook-signature",
                    None,
                ),
                o,
                vec![],
                vec![
                    Cause::HeaderMissing {
                        header: "webhook-id",
                    },
                    Cause::HeaderMissing {
                        header: "webhook-signature",
                    },
                ],
            ),
            (
                "malformed headers",
                SECRET,
                BODY.into(),
                with(
                    with(
                        good.clone(),
                        "x-brainsait-signature",
                        Some("sha256=abc".into()),
                    ),
                    "webhook-timestamp",
                    Some("yesterday".into()),
                ),
                o,
                vec![Cause::HeaderMalformed {
                    header: "X-BrainSAIT-Signature",
                    problem: "it must be 64 hex digits (HMAC-SHA256)",
                }],
                vec![Cause::HeaderMalformed {
                    header: "webhook-timestamp",
                    problem: "it must be unix seconds, an integer",
                }],
            ),
            (
                "no v1 entry",
                SECRET,
                BODY.into(),
                with(good.clone(), "webhook-signature", Some("v2,abc".into())),
                o,
                vec![],
                vec![Cause::HeaderMalformed {
                    header: "webhook-signature",
                    problem: "it holds no `v1,<base64 of 32 bytes>` entry",
                }],
            ),
            (
                "pretty-printed body",
                SECRET,
                pretty(BODY),
                good.clone(),
                o,
                vec![Cause::BodyReserialised {
                    changes: reshaped,
                    restored: true,
                }],
                vec![Cause::BodyReserialised {
                    changes: reshaped,
                    restored: true,
                }],
            ),
            (
                "keys reordered",
                SECRET,
                reordered(BODY),
                good.clone(),
                o,
                vec![Cause::BodyReserialised {
                    changes: Changes {
                        key_order: true,
                        ..Changes::default()
                    },
                    restored: true,
                }],
                vec![Cause::BodyReserialised {
                    changes: Changes {
                        key_order: true,
                        ..Changes::default()
                    },
                    restored: true,
                }],
            ),
            (
                "numbers rewritten and pretty-printed",
                SECRET,
                pretty(BODY).replace("29999", "29999.0"),
                good.clone(),
                o,
                vec![Cause::BodyReserialised {
                    changes: Changes {
                        whitespace: true,
                        formatting: true,
                        key_order: false,
                    },
                    restored: true,
                }],
                vec![Cause::BodyReserialised {
                    changes: Changes {
                        whitespace: true,
                        formatting: true,
                        key_order: false,
                    },
                    restored: true,
                }],
            ),
            (
                "nested keys reordered and pretty-printed: not restorable",
                SECRET,
                pretty(&BODY.replace(
                    r#""amount":29999,"currency":"USD""#,
                    r#""currency":"USD","amount":29999"#,
                )),
                good.clone(),
                o,
                vec![Cause::BodyReserialised {
                    changes: reshaped,
                    restored: false,
                }],
                vec![Cause::BodyReserialised {
                    changes: reshaped,
                    restored: false,
                }],
            ),
            (
                "secret used as base64 for the brainsait header",
                SECRET,
                BODY.into(),
                with(
                    good.clone(),
                    "x-brainsait-signature",
                    Some(hmac_hex_with_decoded(SECRET, BODY)),
                ),
                o,
                vec![Cause::SecretUsedAsBase64],
                vec![],
            ),
            (
                "secret used as a string for the standard header",
                SECRET,
                BODY.into(),
                with(
                    good.clone(),
                    "webhook-signature",
                    Some(standard_with_string_key(SECRET, BODY, TS)),
                ),
                o,
                vec![],
                vec![Cause::SecretUsedAsString {
                    form: KeyForm::String,
                }],
            ),
            (
                "secret's prefix dropped by the signer, body pretty-printed",
                SECRET,
                pretty(BODY),
                with(
                    good.clone(),
                    "x-brainsait-signature",
                    Some(brainsait_signature(
                        SECRET.trim_start_matches("whsec_"),
                        BODY.as_bytes(),
                    )),
                ),
                o,
                vec![
                    Cause::BodyReserialised {
                        changes: reshaped,
                        restored: true,
                    },
                    Cause::SecretPrefix {
                        form: KeyForm::WithoutPrefix,
                    },
                ],
                vec![Cause::BodyReserialised {
                    changes: reshaped,
                    restored: true,
                }],
            ),
            (
                "secret given without its prefix",
                SECRET.trim_start_matches("whsec_"),
                BODY.into(),
                good.clone(),
                o,
                vec![Cause::SecretPrefix {
                    form: KeyForm::WithPrefix,
                }],
                vec![],
            ),
            (
                "timestamp outside the tolerance",
                SECRET,
                BODY.into(),
                good.clone(),
                Options { now: TS + 301, ..o },
                vec![],
                vec![Cause::TimestampOutsideTolerance {
                    timestamp: TS,
                    now: TS + 301,
                    tolerance: 300,
                }],
            ),
            (
                "timestamp in the future, and a wider tolerance",
                SECRET,
                BODY.into(),
                good.clone(),
                Options {
                    now: TS - 100,
                    tolerance_secs: 60,
                    ..o
                },
                vec![],
                vec![Cause::TimestampOutsideTolerance {
                    timestamp: TS,
                    now: TS - 100,
                    tolerance: 60,
                }],
            ),
            (
                "wrong secret",
                OTHER,
                BODY.into(),
                good.clone(),
                o,
                vec![Cause::WrongSecret],
                vec![Cause::WrongSecret],
            ),
            (
                "content changed, compact",
                SECRET,
                BODY.replace("29999", "1"),
                good.clone(),
                o,
                vec![Cause::WrongSecret],
                vec![Cause::WrongSecret],
            ),
            (
                "not a Standard Webhooks secret",
                "my-plain-secret!",
                BODY.into(),
                signed(SECRET, BODY, TS),
                o,
                vec![Cause::WrongSecret],
                vec![Cause::SecretNotBase64],
            ),
        ];
        for (what, secret, body, headers, opts, want_b, want_s) in table {
            let (b, s) = causes(secret, &body, &headers, &opts);
            assert_eq!(b, want_b, "{what}: X-BrainSAIT-Signature");
            assert_eq!(s, want_s, "{what}: webhook-signature");
            for c in b.iter().chain(&s) {
                assert!(!c.to_string().is_empty() && !c.code().is_empty());
            }
        }
    }

    #[test]
    fn one_scheme_alone_and_bodies_that_are_not_json() {
        let body = "not json at all";
        let headers = signed(SECRET, body, TS);
        let only_b = Options {
            standard: false,
            ..options()
        };
        let checks = diagnose(SECRET, body.as_bytes(), &headers, &only_b);
        assert_eq!(checks.len(), 1);
        assert!(checks[0].valid());
        let checks = diagnose(OTHER, body.as_bytes(), &headers, &only_b);
        assert_eq!(checks[0].causes, vec![Cause::WrongSecret]);
    }

    #[test]
    fn whitespace_inside_strings_is_not_whitespace() {
        assert_eq!(
            strip_whitespace(b"{ \"a b\" : \"c\\\" d\" }"),
            b"{\"a b\":\"c\\\" d\"}".to_vec()
        );
        let r = Restored::of(br#"{"a b":"c d"}"#);
        assert_eq!(r.changes, Some(Changes::default()));
        assert!(r.candidates.is_empty());
    }

    #[test]
    fn causes_read_as_sentences() {
        let c = Cause::TimestampOutsideTolerance {
            timestamp: 100,
            now: 500,
            tolerance: 300,
        };
        assert_eq!(
            c.to_string(),
            "webhook-timestamp 100 is 400 s old, outside the tolerance of 300 s: receivers \
             reject it as a possible replay (sign again, or check this machine's clock)"
        );
        let c = Cause::BodyReserialised {
            changes: Changes {
                whitespace: true,
                key_order: true,
                formatting: false,
            },
            restored: true,
        };
        assert!(c.to_string().contains("(whitespace added, keys reordered)"));
    }
}
