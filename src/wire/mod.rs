//! Everything a receiver sees, as pure functions: the compact JSON that
//! survives `JSON.stringify(JSON.parse(body))` (`json`), the envelope in
//! the seed's key order (`envelope`), the signatures (`signing`) and the
//! request headers of a delivery with Herald's one `User-Agent`
//! (`headers`). No I/O: the delivery worker sends what these produce.

pub mod envelope;
pub mod headers;
pub mod json;
pub mod signing;

pub use json::{parse, write_compact, write_json_string, WireError};
