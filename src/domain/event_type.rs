//! The event catalog of the seed and subscription patterns.
//!
//! A subscription is an exact type from the catalog, a `category.*` prefix
//! whose category exists, or `*` for everything.

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

/// Looks `name` up in the catalog.
pub fn lookup(name: &str) -> Option<&'static EventType> {
    CATALOG.iter().find(|e| e.name == name)
}

/// Whether `pattern` is a valid subscription.
pub fn is_valid_pattern(pattern: &str) -> bool {
    if pattern == "*" {
        return true;
    }
    if let Some(category) = pattern.strip_suffix(".*") {
        return CATALOG.iter().any(|e| e.category == category);
    }
    lookup(pattern).is_some()
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

    #[test]
    fn validates_patterns() {
        for ok in ["*", "payment.*", "order.shipped", "tenant.suspended"] {
            assert!(is_valid_pattern(ok), "{ok}");
        }
        for bad in [
            "",
            "payment",
            "payment.unknown",
            "invoice.*",
            "*.*",
            "payment.**",
        ] {
            assert!(!is_valid_pattern(bad), "{bad}");
        }
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
