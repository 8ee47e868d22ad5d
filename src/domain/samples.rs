//! Sample payloads for test events (the API's test send, `herald
//! send-test` and `herald trigger`), shaped like the seed's examples.

use serde_json::{json, Value};

/// A sample `data.object` for `event_type` (any catalog type).
pub fn sample_object(event_type: &str) -> Value {
    let category = event_type.split('.').next().unwrap_or("");
    let status = event_type.split('.').nth(1).unwrap_or("");
    match category {
        // The guide's payment.failed example: the decline in place of the
        // method and metadata.
        "payment" if status == "failed" => json!({
            "id": "pay_test_1234567890",
            "amount": 29999,
            "currency": "USD",
            "status": "failed",
            "error_code": "card_declined",
            "error_message": "Your card was declined",
            "customer_email": "customer@example.com",
            "order_id": "ord_test_1234567890"
        }),
        "payment" => json!({
            "id": "pay_test_1234567890",
            "amount": 29999,
            "currency": "USD",
            "status": status,
            "payment_method": "stripe",
            "customer_email": "customer@example.com",
            "order_id": "ord_test_1234567890",
            "created_at": "2024-01-15T10:30:00Z",
            "metadata": { "order_number": "ORD-2024-001" }
        }),
        "order" => json!({
            "id": "ord_test_1234567890",
            "number": "ORD-2024-001",
            "status": if status == "created" { "pending" } else { status },
            "total": 299.99,
            "currency": "USD",
            "customer": { "email": "customer@example.com", "name": "John Doe" },
            "items": [
                { "product_id": "prod_123", "name": "AI Marketing Tool", "quantity": 1, "price": 299.99 }
            ],
            "created_at": "2024-01-15T10:30:00Z"
        }),
        "user" => json!({
            "id": "usr_test_1234567890",
            "email": "customer@example.com",
            "name": "John Doe",
            "status": status,
            "created_at": "2024-01-15T10:30:00Z"
        }),
        _ => json!({
            "id": "ten_test_1234567890",
            "name": "Company XYZ",
            "status": status,
            "created_at": "2024-01-15T10:30:00Z"
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::event_type::CATALOG;

    #[test]
    fn every_type_has_an_object() {
        for t in CATALOG {
            assert!(sample_object(t.name).is_object(), "{}", t.name);
        }
        assert_eq!(sample_object("payment.failed")["status"], "failed");
        assert_eq!(
            sample_object("payment.failed")["error_code"],
            "card_declined"
        );
        assert_eq!(sample_object("order.created")["status"], "pending");
    }
}
