//! Small view models the templates share: times, status badges, safe
//! links, the event-type checkboxes.

use crate::domain::delivery::{Delivery, Status};
use crate::domain::event_type::Catalog;
use crate::domain::time::Timestamp;

/// A time: machine-readable for `<time datetime>`, UTC text for people
/// (the script rewrites it in the reader's locale and keeps UTC on hover).
#[derive(Debug, Clone)]
pub struct When {
    /// RFC 3339 with milliseconds.
    pub iso: String,
    /// `2024-01-15 10:30:00 UTC`.
    pub utc: String,
}

impl When {
    /// The view of `t`.
    pub fn new(t: Timestamp) -> Self {
        let iso = t.to_rfc3339_millis();
        let utc = format!("{} {} UTC", &iso[..10], &iso[11..19]);
        Self { iso, utc }
    }

    /// The view of an optional time.
    pub fn opt(t: Option<Timestamp>) -> Option<Self> {
        t.map(Self::new)
    }
}

/// The CSS class of an HTTP status a receiver answered: `http-ok` for
/// 2xx, `http-bad` for 4xx and 5xx (a failed attempt, shown like a
/// connection error), none otherwise.
pub fn http_tone(status: u16) -> &'static str {
    match status {
        200..=299 => "http-ok",
        400..=599 => "http-bad",
        _ => "",
    }
}

/// A status shown with colour, an icon and a word (never colour alone).
#[derive(Debug, Clone, Copy)]
pub struct Badge {
    /// CSS modifier: `ok`, `bad`, `warn`, `wait`, `held`, `off`.
    pub tone: &'static str,
    /// A symbol for the word.
    pub icon: &'static str,
    /// The word.
    pub label: &'static str,
}

impl Badge {
    /// A delivery's status.
    pub fn delivery(d: &Delivery) -> Self {
        match d.status() {
            Status::Succeeded => Self::OK,
            Status::Failed => Badge {
                tone: "bad",
                icon: "✕",
                label: "Failed",
            },
            // Failing now, not yet given up: never shown as calm.
            Status::Retrying => Badge {
                tone: "warn",
                icon: "↻",
                label: "Retrying",
            },
            Status::Held => Badge {
                tone: "held",
                icon: "⏸",
                label: "Held",
            },
            Status::Pending => Badge {
                tone: "wait",
                icon: "…",
                label: "Pending",
            },
        }
    }

    /// Succeeded.
    pub const OK: Badge = Badge {
        tone: "ok",
        icon: "✓",
        label: "Succeeded",
    };

    /// An endpoint's state; `failing`: its last attempt failed (an active
    /// endpoint that fails is never shown as calm).
    pub fn endpoint(active: bool, auto_disabled: bool, failing: bool) -> Self {
        match (active, auto_disabled) {
            (true, _) if failing => Badge {
                tone: "bad",
                icon: "●",
                label: "Failing",
            },
            (true, _) => Badge {
                tone: "ok",
                icon: "●",
                label: "Active",
            },
            (false, true) => Badge {
                tone: "bad",
                icon: "■",
                label: "Auto-disabled",
            },
            (false, false) => Badge {
                tone: "off",
                icon: "○",
                label: "Disabled",
            },
        }
    }

    /// A tenant's state.
    pub fn tenant(suspended: bool) -> Self {
        if suspended {
            Badge {
                tone: "held",
                icon: "⏸",
                label: "Suspended",
            }
        } else {
            Badge {
                tone: "ok",
                icon: "●",
                label: "Active",
            }
        }
    }

    /// An attempt's verdict.
    pub fn verdict(v: &str) -> Self {
        match v {
            "success" => Self::OK,
            "retry" => Badge {
                tone: "wait",
                icon: "↻",
                label: "Will retry",
            },
            _ => Badge {
                tone: "bad",
                icon: "✕",
                label: "Gave up",
            },
        }
    }
}

/// `url` if it is an absolute http(s) URL, for an `href`; anything else
/// is shown as text only.
pub fn http_href(url: &str) -> Option<String> {
    match url::Url::parse(url) {
        Ok(u) if matches!(u.scheme(), "http" | "https") => Some(u.to_string()),
        _ => None,
    }
}

/// One event-type checkbox.
#[derive(Debug, Clone)]
pub struct EventOption {
    /// `payment.completed`.
    pub name: String,
    /// From the catalog.
    pub description: String,
    /// Whether it is checked.
    pub checked: bool,
    /// An archived custom type, shown only because it is checked.
    pub archived: bool,
}

/// A group of event-type checkboxes: one per category (Payment, Order,
/// User, Tenant, then the custom ones).
#[derive(Debug, Clone)]
pub struct EventGroup {
    /// `Payment`.
    pub label: String,
    /// `payment.*`.
    pub all: String,
    /// Whether `payment.*` is checked.
    pub all_checked: bool,
    /// Whether `payment.*` is offered: some type of the group has a `.`
    /// after the category (a custom `ping` alone makes `ping.*` match
    /// nothing).
    pub has_all: bool,
    /// The group's types.
    pub options: Vec<EventOption>,
}

/// The catalog as checkbox groups, with `selected` patterns checked:
/// built-in categories first in the seed's order, then custom ones by
/// name; a custom type of a built-in category joins that group. Archived
/// custom types are offered only where already selected, so a save keeps
/// them and nobody picks them anew.
pub fn event_groups(selected: &[String], catalog: &Catalog) -> Vec<EventGroup> {
    let mut groups: Vec<EventGroup> = Vec::new();
    for et in catalog.entries() {
        let checked = selected.iter().any(|s| s == et.name);
        if et.archived() && !checked {
            continue;
        }
        let all = format!("{}.*", et.category);
        let i = match groups.iter().position(|g| g.all == all) {
            Some(i) => i,
            None => {
                let mut label = et.category.to_string();
                if let Some(first) = label.get_mut(..1) {
                    first.make_ascii_uppercase();
                }
                groups.push(EventGroup {
                    label,
                    all_checked: selected.contains(&all),
                    all,
                    has_all: false,
                    options: Vec::new(),
                });
                groups.len() - 1
            }
        };
        let g = &mut groups[i];
        g.has_all |= crate::domain::event_type::pattern_matches(&g.all, et.name);
        g.options.push(EventOption {
            name: et.name.to_string(),
            description: et.description.to_string(),
            checked,
            archived: et.archived(),
        });
    }
    groups
}

/// Every event type name, for selects (archived ones too: events of them
/// are still sent and logged).
pub fn event_names(catalog: &Catalog) -> Vec<String> {
    catalog.entries().map(|e| e.name.to_string()).collect()
}

/// The catalog for a page: the service's snapshot, or only the built-in
/// types if the store cannot be read now (the page still renders; the
/// error is logged).
pub fn catalog_of(h: &crate::service::Herald) -> std::sync::Arc<crate::service::EventTypes> {
    h.event_types().unwrap_or_else(|e| {
        log::error!("admin panel: reading the event types: {e}");
        std::sync::Arc::default()
    })
}

/// A percentage with one decimal, or a dash.
pub fn percent(part: u64, whole: u64) -> String {
    if whole == 0 {
        "—".into()
    } else {
        format!("{:.1} %", part as f64 * 100.0 / whole as f64)
    }
}

/// A value for `<input type="datetime-local">` (UTC, minutes).
pub fn datetime_local(t: Timestamp) -> String {
    t.to_rfc3339_secs()[..16].to_string()
}

/// Parses a time from a form: `datetime-local` (read as UTC) or RFC 3339.
pub fn parse_form_time(s: &str) -> Option<Timestamp> {
    let s = s.trim();
    Timestamp::parse_rfc3339(s)
        .or_else(|| Timestamp::parse_rfc3339(&format!("{s}:00Z")))
        .or_else(|| Timestamp::parse_rfc3339(&format!("{s}Z")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::event_type::CATALOG;

    #[test]
    fn http_statuses_have_tones() {
        assert_eq!(http_tone(200), "http-ok");
        assert_eq!(http_tone(204), "http-ok");
        assert_eq!(http_tone(404), "http-bad");
        assert_eq!(http_tone(500), "http-bad");
        assert_eq!(http_tone(302), "");
    }

    #[test]
    fn only_http_links() {
        assert!(http_href("https://a.test/x").is_some());
        assert!(http_href("http://a.test/x").is_some());
        assert!(http_href("javascript:alert(1)").is_none());
        assert!(http_href("data:text/html,x").is_none());
        assert!(http_href("/relative").is_none());
    }

    #[test]
    fn groups_follow_the_catalog() {
        let g = event_groups(
            &["payment.*".into(), "order.created".into()],
            &Catalog::default(),
        );
        let labels: Vec<_> = g.iter().map(|g| g.label.as_str()).collect();
        assert_eq!(labels, ["Payment", "Order", "User", "Tenant"]);
        assert!(g[0].all_checked);
        assert!(g[1]
            .options
            .iter()
            .any(|o| o.name == "order.created" && o.checked));
        assert_eq!(
            g.iter().map(|g| g.options.len()).sum::<usize>(),
            CATALOG.len()
        );
        assert!(g.iter().all(|g| g.has_all));
    }

    #[test]
    fn custom_types_join_groups_and_archived_ones_only_when_chosen() {
        use crate::domain::event_type::CustomEventType;
        let t = Timestamp::from_millis(1);
        let c = |name: &str, archived| CustomEventType {
            name: name.into(),
            description: format!("{name}!"),
            schema: None,
            archived,
            created_at: t,
            updated_at: t,
        };
        let catalog = Catalog::new([
            c("invoice.paid", false),
            c("invoice.voided", true),
            c("payment.disputed", false),
            c("ping", false),
        ]);
        let g = event_groups(&["invoice.*".into()], &catalog);
        let labels: Vec<_> = g.iter().map(|g| g.label.as_str()).collect();
        assert_eq!(
            labels,
            ["Payment", "Order", "User", "Tenant", "Invoice", "Ping"]
        );
        assert!(g[0].options.iter().any(|o| o.name == "payment.disputed"));
        let invoice: Vec<_> = g[4].options.iter().map(|o| o.name.as_str()).collect();
        assert_eq!(invoice, ["invoice.paid"], "archived and unchosen: hidden");
        assert!(g[4].all_checked && g[4].has_all);
        assert!(!g[5].has_all, "ping.* would match nothing");
        let g = event_groups(&["invoice.voided".into()], &catalog);
        let kept = g[4].options.iter().find(|o| o.name == "invoice.voided");
        assert!(kept.is_some_and(|o| o.checked && o.archived));
        assert_eq!(event_names(&catalog).len(), CATALOG.len() + 4);
    }

    #[test]
    fn form_times() {
        let t = parse_form_time("2024-01-15T10:30").unwrap();
        assert_eq!(t.to_rfc3339_secs(), "2024-01-15T10:30:00Z");
        assert_eq!(datetime_local(t), "2024-01-15T10:30");
        assert!(parse_form_time("2024-01-15T10:30:05Z").is_some());
        assert!(parse_form_time("soon").is_none());
        assert_eq!(When::new(t).utc, "2024-01-15 10:30:00 UTC");
        assert_eq!(percent(1, 3), "33.3 %");
        assert_eq!(percent(0, 0), "—");
    }
}

/// Validation messages by form field, shown next to the field.
#[derive(Debug, Clone, Default)]
pub struct Errors(pub Vec<(String, String)>);

impl Errors {
    /// The message for `field`.
    pub fn get(&self, field: &str) -> Option<&String> {
        self.0.iter().find(|(f, _)| f == field).map(|(_, m)| m)
    }

    /// Adds a message for `field`.
    pub fn add(&mut self, field: &str, message: impl Into<String>) {
        self.0.push((field.to_string(), message.into()));
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}
