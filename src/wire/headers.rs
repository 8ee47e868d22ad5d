//! The headers of a delivery request.

/// The `User-Agent` of every request Herald sends.
pub const USER_AGENT: &str = concat!("Herald/", env!("CARGO_PKG_VERSION"));
