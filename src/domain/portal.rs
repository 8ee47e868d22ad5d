//! The embeddable tenant portal's rules: one-time links, their sessions'
//! lifetime, what a read-only session may do, and the operator's portal
//! settings (framing origins, theme) as validated values.
//!
//! A portal link is a random 256-bit token that the platform hands to a
//! browser; Herald stores only a hash of it, taken in a domain of its own
//! ([`hash_link`]), so a link token is never a session id and a session id
//! never a link. Exchanging it removes the stored link in the same store
//! call that reads it, so of two uses only one finds it.

use sha2::{Digest, Sha256};

use super::endpoint::FieldError;
use super::time::Timestamp;

/// How long a link may wait for its one use (five minutes).
pub const LINK_TTL_MS: i64 = 5 * 60_000;
/// The portal session's lifetime when the platform names none (one hour,
/// or the operator's maximum if that is shorter).
pub const DEFAULT_SESSION_SECS: u64 = 3_600;
/// The shortest session a platform may ask for.
pub const MIN_SESSION_SECS: u64 = 1;
/// The longest `return_url`, in bytes.
pub const MAX_RETURN_URL: usize = 2_048;
/// The longest product name of the theme.
pub const MAX_PRODUCT_NAME: usize = 60;
/// The most origins that may frame the portal.
pub const MAX_FRAME_ANCESTORS: usize = 32;
/// The product name shown when the operator sets none.
pub const DEFAULT_PRODUCT_NAME: &str = "Webhooks";

/// The panel's sections a portal session may open (the page frame's
/// `nav` names; `""` is the frame's own actions and the charts): the
/// tenant's dashboard (metrics), endpoints (with their tests, secrets,
/// retries) and delivery logs — nothing else.
pub const PORTAL_SECTIONS: &[&str] = &["", "dashboard", "webhooks", "deliveries"];

/// Whether a portal session may open the panel section `nav`.
pub fn section_in_portal(nav: &str) -> bool {
    PORTAL_SECTIONS.contains(&nav)
}

/// What a portal session (or the link that opens one) carries besides an
/// ordinary session.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Portal {
    /// Every action is refused (and hidden): the tenant may only look.
    pub read_only: bool,
    /// Where the portal's "back" link leads (the platform's own page).
    pub return_url: Option<String>,
    /// When the link (while [`Stage::Link`]) or the session ends.
    pub ends_at: Timestamp,
    /// A link not yet used, or the session it opened.
    pub stage: Stage,
}

/// The two lives of a portal record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Stage {
    /// A one-time link, waiting for its use; the session it opens lasts
    /// `session_ms`.
    Link {
        /// The lifetime of the session the link opens, in milliseconds.
        session_ms: i64,
    },
    /// A browser session opened with a link.
    Session,
}

impl Portal {
    /// Whether a session with this portal scope may change anything.
    pub fn may_write(&self) -> bool {
        !self.read_only
    }

    /// Whether the link or session is over at `now`.
    pub fn ended(&self, now: Timestamp) -> bool {
        now.as_millis() >= self.ends_at.as_millis()
    }

    /// The session a link opens at `now`, or `None` if this is no link or
    /// it has expired.
    pub fn open(&self, now: Timestamp) -> Option<Portal> {
        match self.stage {
            Stage::Link { session_ms } if !self.ended(now) => Some(Portal {
                read_only: self.read_only,
                return_url: self.return_url.clone(),
                ends_at: Timestamp::from_millis(now.as_millis().saturating_add(session_ms)),
                stage: Stage::Session,
            }),
            _ => None,
        }
    }
}

/// The stored form of a link token: SHA-256 over a label and the token, so
/// it never equals a session id's hash.
pub fn hash_link(token: &str) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(b"herald portal link\0");
    h.update(token.as_bytes());
    h.finalize().into()
}

/// The session lifetime a platform asked for (seconds, `None`: the
/// default), checked against the operator's maximum.
pub fn session_secs(asked: Option<u64>, max_secs: u64) -> Result<u64, FieldError> {
    match asked {
        None => Ok(DEFAULT_SESSION_SECS.min(max_secs)),
        Some(s) if (MIN_SESSION_SECS..=max_secs).contains(&s) => Ok(s),
        Some(_) => Err(FieldError::new(
            "expires_in",
            format!(
                "must be {MIN_SESSION_SECS} to {max_secs} seconds (the operator's --portal-max-session)"
            ),
        )),
    }
}

/// Whether `s` is an absolute http(s) URL of a reasonable length without
/// credentials.
fn web_url(s: &str, max: usize) -> bool {
    s.len() <= max
        && url::Url::parse(s).is_ok_and(|u| {
            matches!(u.scheme(), "http" | "https")
                && u.host_str().is_some()
                && u.username().is_empty()
                && u.password().is_none()
        })
}

/// Checks a link's `return_url`: an absolute http(s) URL.
pub fn validate_return_url(s: &str) -> Result<(), FieldError> {
    if web_url(s, MAX_RETURN_URL) {
        Ok(())
    } else {
        Err(FieldError::new(
            "return_url",
            format!("must be an absolute http(s) URL of at most {MAX_RETURN_URL} bytes"),
        ))
    }
}

/// An origin that may frame the portal, as `frame-ancestors` names it:
/// `scheme://host[:port]`, http(s), nothing after it. Answers the
/// normalised origin.
pub fn parse_frame_ancestor(s: &str) -> Result<String, String> {
    let err = || {
        format!("{s:?} is not an origin: write scheme://host[:port], http or https, with no path")
    };
    let u = url::Url::parse(s.trim()).map_err(|_| err())?;
    let bare = u.path() == "/" && u.query().is_none() && u.fragment().is_none();
    if !matches!(u.scheme(), "http" | "https")
        || u.host_str().is_none()
        || !u.username().is_empty()
        || u.password().is_some()
        || !bare
    {
        return Err(err());
    }
    Ok(u.origin().ascii_serialization())
}

/// The operator's portal settings, validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortalConfig {
    /// Origins allowed to frame portal pages (`frame-ancestors`); empty:
    /// none may.
    pub frame_ancestors: Vec<String>,
    /// The product name in the portal's header.
    pub name: String,
    /// The accent colour, `#rrggbb`.
    pub accent: Option<String>,
    /// The logo's URL, served by the platform.
    pub logo_url: Option<String>,
    /// The longest portal session a link may ask for, in seconds.
    pub max_session_secs: u64,
}

impl Default for PortalConfig {
    fn default() -> Self {
        Self {
            frame_ancestors: Vec::new(),
            name: DEFAULT_PRODUCT_NAME.to_string(),
            accent: None,
            logo_url: None,
            max_session_secs: 12 * 3_600,
        }
    }
}

impl PortalConfig {
    /// Whether some origin may frame the portal.
    pub fn embeddable(&self) -> bool {
        !self.frame_ancestors.is_empty()
    }

    /// The logo's origin, which the portal's pages must allow images from.
    pub fn logo_origin(&self) -> Option<String> {
        let u = url::Url::parse(self.logo_url.as_deref()?).ok()?;
        Some(u.origin().ascii_serialization())
    }
}

/// Checks the theme's product name: 1 to [`MAX_PRODUCT_NAME`] characters,
/// no control characters.
pub fn validate_product_name(s: &str) -> Result<(), String> {
    let n = s.chars().count();
    if n == 0 || n > MAX_PRODUCT_NAME || s.chars().any(char::is_control) || s.trim() != s {
        return Err(format!(
            "must be 1 to {MAX_PRODUCT_NAME} characters, no control characters or surrounding spaces"
        ));
    }
    Ok(())
}

/// Checks an accent colour (`#rrggbb`) and answers it in lower case. Only
/// this shape ever reaches the portal's stylesheet, so no setting can
/// inject CSS.
pub fn parse_accent(s: &str) -> Result<String, String> {
    let hex = s.strip_prefix('#').unwrap_or("");
    if hex.len() == 6 && hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        Ok(format!("#{}", hex.to_ascii_lowercase()))
    } else {
        Err(format!("{s:?} is not a colour: write #rrggbb"))
    }
}

/// Checks the logo URL: an absolute http(s) URL.
pub fn validate_logo_url(s: &str) -> Result<(), String> {
    if web_url(s, MAX_RETURN_URL) {
        Ok(())
    } else {
        Err("must be an absolute http(s) URL".to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(ms: i64) -> Timestamp {
        Timestamp::from_millis(ms)
    }

    #[test]
    fn a_link_opens_once_within_its_ttl_and_sessions_end_on_time() {
        let link = Portal {
            read_only: true,
            return_url: Some("https://store.example/settings".into()),
            ends_at: t(LINK_TTL_MS),
            stage: Stage::Link { session_ms: 60_000 },
        };
        let s = link.open(t(10)).expect("a fresh link opens");
        assert_eq!(s.stage, Stage::Session);
        assert_eq!(s.ends_at, t(60_010));
        assert!(s.read_only && !s.may_write());
        assert_eq!(s.return_url, link.return_url);
        assert!(!s.ended(t(60_009)) && s.ended(t(60_010)));
        assert_eq!(link.open(t(LINK_TTL_MS)), None, "an expired link");
        assert_eq!(s.open(t(20)), None, "a session is no link");
    }

    #[test]
    fn link_hashes_are_not_session_hashes() {
        let tok = "abc";
        assert_ne!(hash_link(tok), crate::domain::session::hash_session_id(tok));
        assert_eq!(hash_link(tok), hash_link(tok));
    }

    #[test]
    fn session_lifetimes_are_bounded_by_the_operator() {
        assert_eq!(session_secs(None, 12 * 3600), Ok(DEFAULT_SESSION_SECS));
        assert_eq!(session_secs(None, 600), Ok(600));
        assert_eq!(session_secs(Some(5), 600), Ok(5));
        assert!(session_secs(Some(0), 600).is_err());
        assert_eq!(
            session_secs(Some(601), 600).unwrap_err().field,
            "expires_in"
        );
    }

    #[test]
    fn urls_origins_colours_and_names() {
        assert!(validate_return_url("https://store.example/a?b=c").is_ok());
        for bad in [
            "javascript:alert(1)",
            "/relative",
            "https://u:p@x.example/",
            "ftp://x",
        ] {
            assert!(validate_return_url(bad).is_err(), "{bad}");
        }
        assert!(validate_return_url(&format!("https://x.example/{}", "a".repeat(3000))).is_err());
        assert_eq!(
            parse_frame_ancestor("https://Store.Example:8443").unwrap(),
            "https://store.example:8443"
        );
        assert_eq!(
            parse_frame_ancestor("http://127.0.0.2:9000/").unwrap(),
            "http://127.0.0.2:9000"
        );
        for bad in [
            "*",
            "https://x.example/path",
            "store.example",
            "'self'",
            "data:",
            "https://x.example/?q",
        ] {
            assert!(parse_frame_ancestor(bad).is_err(), "{bad}");
        }
        assert_eq!(parse_accent("#0A7CFF").unwrap(), "#0a7cff");
        for bad in ["0a7cff", "#0a7cf", "#0a7cfg", "red; background:url(x)"] {
            assert!(parse_accent(bad).is_err(), "{bad}");
        }
        assert!(validate_product_name("BrainSAIT Store").is_ok());
        assert!(validate_product_name("").is_err());
        assert!(validate_product_name(" x").is_err());
        assert!(validate_product_name(&"x".repeat(61)).is_err());
        assert!(validate_logo_url("https://cdn.example/logo.svg").is_ok());
        assert!(validate_logo_url("data:image/png;base64,xx").is_err());
        let cfg = PortalConfig {
            logo_url: Some("https://cdn.example:444/l.png".into()),
            ..PortalConfig::default()
        };
        assert_eq!(
            cfg.logo_origin().as_deref(),
            Some("https://cdn.example:444")
        );
        assert!(!cfg.embeddable());
    }
}
