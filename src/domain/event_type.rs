//! The event catalog: the seed's built-in types, a platform's own (custom)
//! types, and subscription patterns.
//!
//! A subscription is an exact type from the catalog, a `category.*` prefix
//! whose category exists (the category is the part of a name before its
//! first `.`), or `*` for everything. The catalog is a value
//! ([`Catalog`]): the built-in types plus the custom ones the store holds,
//! so every rule here is a pure function of it.
//!
//! An archived custom type is still a type: events of it are accepted and
//! delivered to the subscriptions that name it, and patterns naming it
//! stay valid (an endpoint that subscribed before the archiving can be
//! saved unchanged); the panel only stops offering it for new
//! subscriptions. Unarchiving restores it.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::endpoint::FieldError;
use super::time::Timestamp;

/// The longest event type name (Svix's bound).
pub const MAX_NAME_LEN: usize = 256;
/// The longest custom type description, in characters.
pub const MAX_DESCRIPTION_LEN: usize = 1024;

/// One entry of the catalog.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EventType {
    /// `payment.completed`.
    pub name: &'static str,
    /// `payment`: the group the admin panel shows it under.
    pub category: &'static str,
    /// What it means, from the seed.
    pub description: &'static str,
}

const fn et(name: &'static str, category: &'static str, description: &'static str) -> EventType {
    EventType {
        name,
        category,
        description,
    }
}

/// Every event type a platform may post, in the seed's order.
pub const CATALOG: &[EventType] = &[
    et(
        "payment.completed",
        "payment",
        "Payment successfully processed",
    ),
    et("payment.failed", "payment", "Payment processing failed"),
    et("payment.refunded", "payment", "Payment refunded"),
    et("order.created", "order", "New order created"),
    et("order.updated", "order", "Order status changed"),
    et("order.cancelled", "order", "Order cancelled"),
    et("order.shipped", "order", "Order shipped"),
    et("user.created", "user", "New user registered"),
    et("user.updated", "user", "User profile updated"),
    et("user.deleted", "user", "User account deleted"),
    et("tenant.created", "tenant", "New tenant created"),
    et("tenant.updated", "tenant", "Tenant settings updated"),
    et("tenant.suspended", "tenant", "Tenant suspended"),
];

/// Looks `name` up among the built-in types.
pub fn lookup(name: &str) -> Option<&'static EventType> {
    CATALOG.iter().find(|e| e.name == name)
}

/// The category of a type name: the part before its first `.`.
pub fn category_of(name: &str) -> &str {
    name.split('.').next().unwrap_or(name)
}

/// A platform's own event type, as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CustomEventType {
    /// `invoice.paid`: `[A-Za-z0-9_.-]`, at most [`MAX_NAME_LEN`] bytes.
    pub name: String,
    /// What it means.
    pub description: String,
    /// The JSON Schema its events' `data` must match, as compact JSON
    /// text (bincode cannot store a `serde_json::Value`); `None`: any.
    pub schema: Option<String>,
    /// Not offered for new subscriptions in the panel (see the module
    /// comment for what else it means: nothing).
    pub archived: bool,
    /// When it was created.
    pub created_at: Timestamp,
    /// When it last changed (the compiled schema is cached under it).
    pub updated_at: Timestamp,
}

/// Checks a custom type's name: 1 to [`MAX_NAME_LEN`] bytes of
/// `A-Z a-z 0-9 _ . -` (Svix's rule, so the same names work through its
/// API), not only dots (browsers drop `.` and `..` path segments, so
/// such a type could not be addressed by URL).
pub fn validate_name(name: &str) -> Result<(), FieldError> {
    if name.is_empty() || name.len() > MAX_NAME_LEN {
        return Err(FieldError::new(
            "name",
            format!("must be 1 to {MAX_NAME_LEN} bytes"),
        ));
    }
    if !name
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'))
    {
        return Err(FieldError::new(
            "name",
            "may hold only A-Z a-z 0-9 _ . - (e.g. invoice.paid)",
        ));
    }
    if name.bytes().all(|b| b == b'.') {
        return Err(FieldError::new("name", "must not be only dots"));
    }
    Ok(())
}

/// Checks a custom type's description's length.
pub fn validate_description(d: &str) -> Result<(), FieldError> {
    if d.chars().count() > MAX_DESCRIPTION_LEN {
        return Err(FieldError::new(
            "description",
            format!("at most {MAX_DESCRIPTION_LEN} characters"),
        ));
    }
    Ok(())
}

/// One type of the catalog, built in or custom, for listing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Entry<'a> {
    /// Its name.
    pub name: &'a str,
    /// Its category ([`category_of`]).
    pub category: &'a str,
    /// What it means.
    pub description: &'a str,
    /// The custom type's record; `None` for a built-in one.
    pub custom: Option<&'a CustomEventType>,
}

impl Entry<'_> {
    /// Whether it is archived (built-in types never are).
    pub fn archived(&self) -> bool {
        self.custom.is_some_and(|c| c.archived)
    }
}

/// The whole catalog: the built-in types and the custom ones.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Catalog {
    custom: BTreeMap<String, CustomEventType>,
}

impl Catalog {
    /// The built-in types and `custom` (a custom type named like a
    /// built-in one is ignored: the built-in one wins).
    pub fn new(custom: impl IntoIterator<Item = CustomEventType>) -> Self {
        Self {
            custom: custom
                .into_iter()
                .filter(|c| lookup(&c.name).is_none())
                .map(|c| (c.name.clone(), c))
                .collect(),
        }
    }

    /// Whether `name` is a type of the catalog (archived ones included).
    pub fn contains(&self, name: &str) -> bool {
        lookup(name).is_some() || self.custom.contains_key(name)
    }

    /// The custom type `name`, if it is one.
    pub fn custom(&self, name: &str) -> Option<&CustomEventType> {
        self.custom.get(name)
    }

    /// The custom types, by name.
    pub fn customs(&self) -> impl Iterator<Item = &CustomEventType> {
        self.custom.values()
    }

    /// The type `name`, built in or custom.
    pub fn entry(&self, name: &str) -> Option<Entry<'_>> {
        self.entries().find(|e| e.name == name)
    }

    /// Every type: the built-in ones in the seed's order, then the custom
    /// ones by name.
    pub fn entries(&self) -> impl Iterator<Item = Entry<'_>> {
        CATALOG
            .iter()
            .map(|e| Entry {
                name: e.name,
                category: e.category,
                description: e.description,
                custom: None,
            })
            .chain(self.custom.values().map(|c| Entry {
                name: &c.name,
                category: category_of(&c.name),
                description: &c.description,
                custom: Some(c),
            }))
    }

    /// Whether `pattern` is a valid subscription over this catalog: `*`,
    /// a type of it, or `category.*` where some type of it has that
    /// category (and a `.` after it, so the pattern matches it).
    pub fn is_valid_pattern(&self, pattern: &str) -> bool {
        if pattern == "*" {
            return true;
        }
        if let Some(category) = pattern.strip_suffix(".*") {
            return !category.is_empty()
                && !category.contains('.')
                && self
                    .entries()
                    .any(|e| e.category == category && pattern_matches(pattern, e.name));
        }
        self.contains(pattern)
    }
}

/// Whether `pattern` is a valid subscription over `catalog`.
pub fn is_valid_pattern(pattern: &str, catalog: &Catalog) -> bool {
    catalog.is_valid_pattern(pattern)
}

/// Whether a subscription `pattern` matches the event type `event`.
pub fn pattern_matches(pattern: &str, event: &str) -> bool {
    if pattern == "*" {
        return true;
    }
    match pattern.strip_suffix(".*") {
        Some(category) => event
            .strip_prefix(category)
            .is_some_and(|rest| rest.starts_with('.')),
        None => pattern == event,
    }
}

/// Whether any of `patterns` matches `event`.
pub fn subscribed(patterns: &[String], event: &str) -> bool {
    patterns.iter().any(|p| pattern_matches(p, event))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn custom(name: &str, archived: bool) -> CustomEventType {
        CustomEventType {
            name: name.into(),
            description: String::new(),
            schema: None,
            archived,
            created_at: Timestamp::from_millis(1),
            updated_at: Timestamp::from_millis(1),
        }
    }

    #[test]
    fn validates_patterns() {
        let builtin = Catalog::default();
        for ok in ["*", "payment.*", "order.shipped", "tenant.suspended"] {
            assert!(is_valid_pattern(ok, &builtin), "{ok}");
        }
        for bad in [
            "",
            "payment",
            "payment.unknown",
            "invoice.*",
            "*.*",
            "payment.**",
        ] {
            assert!(!is_valid_pattern(bad, &builtin), "{bad}");
        }
    }

    #[test]
    fn patterns_over_custom_types_and_categories() {
        let c = Catalog::new([
            custom("invoice.paid", false),
            custom("invoice.voided", true),
            custom("payment.disputed", false),
            custom("ping", false),
            custom("a.b.c", false),
        ]);
        for ok in [
            "invoice.*",
            "invoice.paid",
            "invoice.voided", // archived: still a valid subscription
            "payment.disputed",
            "payment.*",
            "ping",
            "a.*",
            "a.b.c",
        ] {
            assert!(c.is_valid_pattern(ok), "{ok}");
        }
        // `ping` has no `.`: `ping.*` would match nothing. `a.b.*` names
        // no category (a category is the part before the first `.`).
        for bad in ["ping.*", "a.b.*", "invoice.unknown", "invoice", ".*", "b.*"] {
            assert!(!c.is_valid_pattern(bad), "{bad}");
        }
        assert!(!Catalog::default().is_valid_pattern("invoice.*"));
        assert!(c.contains("invoice.voided") && c.contains("payment.failed"));
        assert!(!c.contains("invoice"));
        let names: Vec<&str> = c.entries().map(|e| e.name).collect();
        assert_eq!(names.len(), CATALOG.len() + 5);
        assert_eq!(names[0], "payment.completed");
        assert_eq!(
            &names[CATALOG.len()..CATALOG.len() + 2],
            &["a.b.c", "invoice.paid"]
        );
        let e = c.entry("invoice.voided").unwrap();
        assert!(e.archived() && e.custom.is_some());
        assert_eq!(e.category, "invoice");
        assert!(!c.entry("payment.failed").unwrap().archived());
        assert_eq!(category_of("ping"), "ping");
    }

    #[test]
    fn a_custom_type_never_shadows_a_built_in_one() {
        let c = Catalog::new([custom("payment.failed", true)]);
        assert!(c.custom("payment.failed").is_none());
        assert_eq!(c.entries().count(), CATALOG.len());
    }

    #[test]
    fn names_follow_svix_rules() {
        for ok in ["invoice.paid", "a", "A-b_c.d", &"x".repeat(MAX_NAME_LEN)] {
            assert!(validate_name(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "invoice paid",
            "invoice.*",
            "*",
            "é",
            "a/b",
            ".",
            "..",
            &"x".repeat(MAX_NAME_LEN + 1),
        ] {
            let e = validate_name(bad).unwrap_err();
            assert_eq!((e.field, e.code), ("name", "validation_failed"), "{bad}");
        }
        assert!(validate_description(&"d".repeat(MAX_DESCRIPTION_LEN)).is_ok());
        assert!(validate_description(&"d".repeat(MAX_DESCRIPTION_LEN + 1)).is_err());
    }

    #[test]
    fn matches_exact_prefix_and_star() {
        assert!(pattern_matches("*", "user.deleted"));
        assert!(pattern_matches("payment.*", "payment.failed"));
        assert!(!pattern_matches("payment.*", "paymentx.failed"));
        assert!(!pattern_matches("order.*", "payment.failed"));
        assert!(pattern_matches("order.created", "order.created"));
        assert!(!pattern_matches("order.created", "order.updated"));
        let subs = vec!["order.created".to_string(), "user.*".to_string()];
        assert!(subscribed(&subs, "user.updated"));
        assert!(!subscribed(&subs, "order.updated"));
    }
}
