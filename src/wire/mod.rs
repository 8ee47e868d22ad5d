//! Everything a receiver sees, as pure functions: the compact JSON that
//! survives `JSON.stringify(JSON.parse(body))` (`json`), the envelope in
//! the seed's key order (`envelope`), the signatures (`signing`) and the
//! request headers of a delivery with Herald's one `User-Agent`
//! (`headers`). No I/O: the delivery worker sends what these produce.
//! `herald verify` reads a captured request back (`capture`) and says why
//! its signatures do or do not verify (`verify`).

pub mod capture;
pub mod envelope;
pub mod headers;
pub mod json;
pub mod signing;
pub mod verify;

pub use json::{parse, write_compact, write_json_string, WireError};
