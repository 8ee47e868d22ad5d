//! Timestamps: unix milliseconds, formatted as RFC 3339 UTC with a `Z`.

use serde::{Deserialize, Serialize};
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

/// A point in time, as milliseconds since the unix epoch (UTC).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Timestamp(i64);

impl Timestamp {
    /// From unix milliseconds.
    pub const fn from_millis(ms: i64) -> Self {
        Self(ms)
    }

    /// Unix milliseconds.
    pub const fn as_millis(self) -> i64 {
        self.0
    }

    /// Unix seconds (floor).
    pub const fn as_secs(self) -> i64 {
        self.0.div_euclid(1000)
    }

    /// This time plus `ms` milliseconds (saturating).
    pub const fn plus_millis(self, ms: i64) -> Self {
        Self(self.0.saturating_add(ms))
    }

    /// `2024-01-15T10:30:00Z`: second precision, as in the seed's envelope.
    pub fn to_rfc3339_secs(self) -> String {
        format_utc(self.as_secs() * 1000, false)
    }

    /// `2024-01-15T10:30:00.123Z`: millisecond precision, for API records.
    pub fn to_rfc3339_millis(self) -> String {
        format_utc(self.0, true)
    }

    /// Parses RFC 3339 with any offset; the result is normalised to UTC.
    pub fn parse_rfc3339(s: &str) -> Option<Self> {
        let dt = OffsetDateTime::parse(s, &Rfc3339).ok()?;
        let ms = dt.unix_timestamp_nanos() / 1_000_000;
        i64::try_from(ms).ok().map(Self)
    }
}

fn format_utc(ms: i64, with_millis: bool) -> String {
    let dt = OffsetDateTime::from_unix_timestamp_nanos(ms as i128 * 1_000_000)
        .unwrap_or(OffsetDateTime::UNIX_EPOCH);
    let (y, mo, d) = (dt.year(), dt.month() as u8, dt.day());
    let (h, mi, s) = (dt.hour(), dt.minute(), dt.second());
    if with_millis {
        format!(
            "{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}.{:03}Z",
            dt.millisecond()
        )
    } else {
        format!("{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}Z")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_like_the_seed() {
        let t = Timestamp::from_millis(1_705_314_600_000);
        assert_eq!(t.to_rfc3339_secs(), "2024-01-15T10:30:00Z");
        assert_eq!(
            t.plus_millis(42).to_rfc3339_millis(),
            "2024-01-15T10:30:00.042Z"
        );
    }

    #[test]
    fn parses_offsets_to_utc() {
        let t = Timestamp::parse_rfc3339("2024-01-15T12:30:00+02:00").unwrap();
        assert_eq!(t.to_rfc3339_secs(), "2024-01-15T10:30:00Z");
        assert!(Timestamp::parse_rfc3339("yesterday").is_none());
        assert!(Timestamp::parse_rfc3339("2024-01-15 10:30:00").is_none());
    }
}
