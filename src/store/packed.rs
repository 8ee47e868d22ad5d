//! Packed header lists: the stored form of an attempt's request and
//! response headers (attempt format 2, `codec`).
//!
//! An attempt's headers are most of its bytes, and most of them have a
//! shape known in advance: the same names on every attempt, signatures
//! that are hex or base64 of 32 bytes, a timestamp that is the attempt's
//! start, an HTTP date. A header is stored as a name code and a value in
//! the smallest shape that gives back **exactly** the same text; anything
//! else is stored as text. Packing is lossless for every input: `unpack`
//! of `pack` is the identity (a property test checks it).
//!
//! **Invariant:** the tables [`NAMES`] and [`VALUES`] only ever grow at
//! the end: a stored record names entries by their index.

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use serde::{Deserialize, Serialize};

/// Header names stored as their index. Append only.
pub const NAMES: &[&str] = &[
    "Content-Type",
    "User-Agent",
    "X-BrainSAIT-Signature",
    "X-BrainSAIT-Event",
    "webhook-id",
    "webhook-timestamp",
    "webhook-signature",
    "svix-id",
    "svix-timestamp",
    "svix-signature",
    "content-type",
    "content-length",
    "date",
    "server",
    "connection",
    "retry-after",
    "cache-control",
    "vary",
    "x-request-id",
    "transfer-encoding",
    "keep-alive",
];

/// Header values stored as their index. Append only; constants only
/// (never a value that changes between builds, such as the user agent).
pub const VALUES: &[&str] = &[
    "application/json",
    "text/plain",
    "text/plain; charset=utf-8",
    "application/json; charset=utf-8",
    "text/html; charset=utf-8",
    "keep-alive",
    "close",
    "0",
    "chunked",
];

/// A header name as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Name {
    /// `NAMES[i]`.
    Known(u8),
    /// Any other name.
    Text(String),
}

/// A header value as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Value {
    /// The text itself.
    Text(String),
    /// `VALUES[i]`.
    Known(u8),
    /// Lowercase hex of these bytes.
    Hex(Vec<u8>),
    /// `v1,` ‖ standard base64 (padded) of each, space-separated.
    V1(Vec<Vec<u8>>),
    /// The decimal Unix seconds of the attempt's start.
    StartSecs,
    /// An IMF-fixdate (`Tue, 15 Jan 2024 10:30:00 GMT`) of these Unix seconds.
    HttpDate(u64),
}

/// One header as stored.
pub type Packed = (Name, Value);

/// Packs `headers` of an attempt started at Unix second `start_secs`.
pub fn pack(headers: &[(String, String)], start_secs: i64) -> Vec<Packed> {
    headers
        .iter()
        .map(|(n, v)| (pack_name(n), pack_value(v, start_secs)))
        .collect()
}

/// The headers [`pack`] was given.
pub fn unpack(packed: &[Packed], start_secs: i64) -> Vec<(String, String)> {
    packed
        .iter()
        .map(|(n, v)| (unpack_name(n), unpack_value(v, start_secs)))
        .collect()
}

fn index_in(table: &[&str], s: &str) -> Option<u8> {
    table
        .iter()
        .position(|t| *t == s)
        .and_then(|i| u8::try_from(i).ok())
}

fn pack_name(n: &str) -> Name {
    index_in(NAMES, n).map_or_else(|| Name::Text(n.to_string()), Name::Known)
}

fn unpack_name(n: &Name) -> String {
    match n {
        Name::Known(i) => NAMES.get(*i as usize).copied().unwrap_or("").to_string(),
        Name::Text(s) => s.clone(),
    }
}

fn pack_value(v: &str, start_secs: i64) -> Value {
    if let Some(i) = index_in(VALUES, v) {
        return Value::Known(i);
    }
    if v == start_secs.to_string() {
        return Value::StartSecs;
    }
    if let Some(bytes) = hex_of(v) {
        return Value::Hex(bytes);
    }
    if let Some(sigs) = v1_of(v) {
        return Value::V1(sigs);
    }
    if let Some(secs) = http_date_of(v) {
        return Value::HttpDate(secs);
    }
    Value::Text(v.to_string())
}

fn unpack_value(v: &Value, start_secs: i64) -> String {
    match v {
        Value::Text(s) => s.clone(),
        Value::Known(i) => VALUES.get(*i as usize).copied().unwrap_or("").to_string(),
        Value::Hex(b) => to_hex(b),
        Value::V1(sigs) => sigs
            .iter()
            .map(|s| format!("v1,{}", STANDARD.encode(s)))
            .collect::<Vec<_>>()
            .join(" "),
        Value::StartSecs => start_secs.to_string(),
        Value::HttpDate(secs) => http_date(*secs),
    }
}

fn to_hex(b: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(b.len() * 2);
    for x in b {
        s.push(DIGITS[(x >> 4) as usize] as char);
        s.push(DIGITS[(x & 15) as usize] as char);
    }
    s
}

/// The bytes of `v` if it is lowercase hex of 16 bytes or more (shorter
/// hex, e.g. a content length, is shorter as text).
fn hex_of(v: &str) -> Option<Vec<u8>> {
    if v.len() < 32 || v.len() % 2 != 0 {
        return None;
    }
    let digit = |c: u8| match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        _ => None,
    };
    v.as_bytes()
        .chunks(2)
        .map(|p| Some(digit(p[0])? << 4 | digit(p[1])?))
        .collect()
}

/// The signatures of a `v1,…` list, if it re-encodes to exactly `v`.
fn v1_of(v: &str) -> Option<Vec<Vec<u8>>> {
    let sigs = v
        .split(' ')
        .map(|s| STANDARD.decode(s.strip_prefix("v1,")?).ok())
        .collect::<Option<Vec<_>>>()?;
    let back = unpack_value(&Value::V1(sigs.clone()), 0);
    (back == v).then_some(sigs)
}

fn http_date(secs: u64) -> String {
    httpdate::fmt_http_date(std::time::UNIX_EPOCH + std::time::Duration::from_secs(secs))
}

/// The seconds of an IMF-fixdate, if it formats back to exactly `v`.
fn http_date_of(v: &str) -> Option<u64> {
    if v.len() != 29 {
        return None;
    }
    let at = httpdate::parse_http_date(v).ok()?;
    let secs = at.duration_since(std::time::UNIX_EPOCH).ok()?.as_secs();
    (http_date(secs) == v).then_some(secs)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn a_delivery_s_headers_pack_small_and_come_back_exactly() {
        let start = 1_705_314_600;
        let headers = h(&[
            ("X-Custom", "yes"),
            ("Content-Type", "application/json"),
            ("User-Agent", "Herald/0.1.0"),
            (
                "X-BrainSAIT-Signature",
                "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
            ),
            ("X-BrainSAIT-Event", "order.created"),
            ("webhook-id", "evt_1234567890"),
            ("webhook-timestamp", "1705314600"),
            (
                "webhook-signature",
                "v1,K5oZfzN95Z9UVu1EsfQmfVNQhnkZ2pj9o9NDN/H/pI4= v1,AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=",
            ),
            ("date", "Mon, 15 Jan 2024 10:30:00 GMT"),
            ("content-length", "2"),
        ]);
        let packed = pack(&headers, start);
        assert_eq!(unpack(&packed, start), headers);
        assert_eq!(packed[6].1, Value::StartSecs);
        assert!(matches!(packed[3].1, Value::Hex(ref b) if b.len() == 32));
        assert!(matches!(packed[7].1, Value::V1(ref s) if s.len() == 2));
        assert_eq!(packed[8].1, Value::HttpDate(1_705_314_600));
        assert_eq!(packed[0].0, Name::Text("X-Custom".into()));
    }

    #[test]
    fn values_that_only_look_packable_stay_text() {
        let start = 1_000;
        for v in [
            // Uppercase hex, odd length, short hex.
            "9F86D081884C7D659A2FEAA0C55AD015A3BF4F1B2B0B822CD15D6C15B0F00A08",
            "9f86d081884c7d659a2feaa0c55ad015a",
            "beef",
            // Base64 without padding, an unknown scheme, a trailing space.
            "v1,K5oZfzN95Z9UVu1EsfQmfVNQhnkZ2pj9o9NDN/H/pI4",
            "v2,K5oZfzN95Z9UVu1EsfQmfVNQhnkZ2pj9o9NDN/H/pI4=",
            "v1,K5oZfzN95Z9UVu1EsfQmfVNQhnkZ2pj9o9NDN/H/pI4= ",
            // Dates in other formats, a wrong weekday.
            "Monday, 15-Jan-24 10:30:00 GMT",
            "Tue, 15 Jan 2024 10:30:00 GMT",
            "",
            "1001",
            "application/JSON",
        ] {
            let headers = h(&[("x", v)]);
            let packed = pack(&headers, start);
            assert_eq!(unpack(&packed, start), headers, "{v:?}");
            assert!(
                matches!(packed[0].1, Value::Text(_)),
                "{v:?} packed as {:?}",
                packed[0].1
            );
        }
    }

    #[test]
    fn any_header_list_comes_back_exactly() {
        // A small deterministic generator over the shapes that matter.
        let parts = [
            "",
            "v1,",
            "=",
            " ",
            "0",
            "a",
            "f",
            "9f86d081884c7d659a2feaa0c55ad015",
            "GMT",
            "Mon, 15 Jan 2024 10:30:00 GMT",
            "application/json",
            "1000",
            "é",
            "AAEC",
        ];
        let mut seed = 7u64;
        for _ in 0..2000 {
            let mut v = String::new();
            for _ in 0..(seed % 4) {
                seed = seed
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                v.push_str(parts[(seed >> 33) as usize % parts.len()]);
            }
            seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1);
            let name = NAMES[(seed >> 40) as usize % NAMES.len()];
            let headers = h(&[(name, &v), ("other", &v)]);
            assert_eq!(unpack(&pack(&headers, 1000), 1000), headers, "{v:?}");
        }
    }
}
