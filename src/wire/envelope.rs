//! The envelope a receiver gets, keys in the seed's order, byte for byte.

use super::json::write_json_string;
use crate::domain::event::API_VERSION;
use crate::domain::time::Timestamp;

/// Builds the envelope, keys in the seed's order:
/// `{"id","event","created","data","tenant_id","api_version"}`.
/// `data_json` must already be compact, JSON.stringify-stable JSON.
pub fn envelope(
    id: &str,
    event_type: &str,
    created: Timestamp,
    data_json: &[u8],
    tenant_id: &str,
) -> Vec<u8> {
    let mut out = Vec::with_capacity(data_json.len() + 160);
    out.extend_from_slice(b"{\"id\":");
    write_json_string(id, &mut out);
    out.extend_from_slice(b",\"event\":");
    write_json_string(event_type, &mut out);
    out.extend_from_slice(b",\"created\":\"");
    out.extend_from_slice(created.to_rfc3339_secs().as_bytes());
    out.extend_from_slice(b"\",\"data\":");
    out.extend_from_slice(data_json);
    out.extend_from_slice(b",\"tenant_id\":");
    write_json_string(tenant_id, &mut out);
    out.extend_from_slice(b",\"api_version\":\"");
    out.extend_from_slice(API_VERSION.as_bytes());
    out.extend_from_slice(b"\"}");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn envelope_matches_the_seed_byte_for_byte() {
        let data = br#"{"object":{"id":"pay_abc123","amount":29999,"currency":"USD","status":"completed","customer_email":"customer@example.com"}}"#;
        let body = envelope(
            "evt_1234567890",
            "payment.completed",
            Timestamp::from_millis(1_705_314_600_000),
            data,
            "company_xyz",
        );
        // The third known-answer vector's body (shared/vectors/signatures.json).
        let want = r#"{"id":"evt_1234567890","event":"payment.completed","created":"2024-01-15T10:30:00Z","data":{"object":{"id":"pay_abc123","amount":29999,"currency":"USD","status":"completed","customer_email":"customer@example.com"}},"tenant_id":"company_xyz","api_version":"2024-01-01"}"#;
        assert_eq!(String::from_utf8(body).unwrap(), want);
    }
}
