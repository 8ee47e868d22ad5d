//! Herald's dump format: a backend-neutral, versioned file of the primary
//! records, written by `herald backup` and read by `herald restore` and
//! `herald check`.
//!
//! Layout (all integers big-endian):
//!
//! ```text
//! magic        "HERALD-DUMP\n"                      12 bytes
//! format       u32 (FORMAT_VERSION)                  4 bytes
//! header       u32 length ‖ JSON (Header)
//! frames       tag u8 ‖ u32 length ‖ payload         one per record
//! trailer      tag 0xFF ‖ u32 length ‖ JSON (per-table counts)
//! sha256       over every byte before it            32 bytes
//! end marker   "HERALD-DUMP-END\n"                  16 bytes
//! ```
//!
//! A record's payload is its store encoding (`codec`: a format-version
//! byte, then bincode), wrapped with its key fields for the rows whose
//! key is not inside the record (health, statistics, alert history,
//! idempotency). Derived indexes (due, held, by endpoint, by tenant, id
//! lookups, URL and key-hash indexes) are never in a dump: the importing
//! backend rebuilds them from the records, so a dump cannot carry an index
//! that disagrees with its records. Admin panel sessions are left out too:
//! they are short-lived logins, and a restored copy should make everyone
//! log in again rather than honour old cookies.
//! So are the remembered answers of idempotent requests (the
//! Svix-compatible API's `idempotency-key`): they live a day, and a
//! restored copy is the state as of the dump, so a client retrying a
//! request against it must have the request run again, not be told an
//! answer about records the restore may not hold.
//!
//! Reading is two steps: [`verify_checksum`] over the raw bytes (magic,
//! version, end marker, SHA-256: a flipped byte or a cut-off file is found
//! before anything is parsed), then [`Reader`], which decodes every record
//! and checks the trailer's counts.

use std::collections::BTreeMap;
use std::io::{Read, Write};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::codec::{decode_body, encode_with, split, unknown, Versioned};
use crate::domain::alert::{Alert, Transition};
use crate::domain::apikey::ApiKey;
use crate::domain::delivery::{Attempt, Delivery};
use crate::domain::endpoint::Endpoint;
use crate::domain::event::Event;
use crate::domain::event_type::CustomEventType;
use crate::domain::health::Health;
use crate::domain::ids::EndpointId;
use crate::domain::stats::{Grain, Stats};
use crate::domain::tenant::Tenant;
use crate::domain::time::Timestamp;
use crate::domain::user::User;

/// The first bytes of every dump.
pub const MAGIC: &[u8; 12] = b"HERALD-DUMP\n";
/// The last bytes of every whole dump.
pub const END_MARKER: &[u8; 16] = b"HERALD-DUMP-END\n";
/// The dump format this build writes (and the newest it reads).
pub const FORMAT_VERSION: u32 = 1;

const TRAILER_TAG: u8 = 0xFF;
/// No record comes near this; a larger length is damage, not data.
const MAX_FRAME: u32 = 256 << 20;
const FIXED_HEAD: usize = MAGIC.len() + 4;
const FIXED_TAIL: usize = 32 + END_MARKER.len();

/// One primary record, as every backend exports and imports it.
#[derive(Debug, Clone, PartialEq)]
pub enum Record {
    /// First-start initialisation ran (the admin user and platform key exist).
    Bootstrapped,
    /// A tenant.
    Tenant(Tenant),
    /// An API key (its hash; the text is never stored).
    Key(ApiKey),
    /// An admin panel user.
    User(User),
    /// An endpoint.
    Endpoint(Endpoint),
    /// An endpoint's health row.
    Health {
        /// The endpoint.
        endpoint: EndpointId,
        /// Its health.
        health: Health,
    },
    /// An alert rule's state for an endpoint.
    Alert(Alert),
    /// One alert history entry, with its key (time and sequence number).
    AlertHistory {
        /// The entry's time, unix ms (as keyed).
        at_ms: i64,
        /// Its sequence number.
        seq: u128,
        /// The transition.
        transition: Transition,
    },
    /// A statistics row.
    Stats {
        /// Its grain.
        grain: Grain,
        /// The tenant.
        tenant: String,
        /// The bucket start.
        start: Timestamp,
        /// The endpoint.
        endpoint: EndpointId,
        /// The counters.
        stats: Stats,
    },
    /// An `Idempotency-Key` and the events it answered.
    Idempotency {
        /// The tenant.
        tenant: String,
        /// The key.
        key: String,
        /// When it was recorded.
        at: Timestamp,
        /// The event keys of the original request.
        events: Vec<u128>,
    },
    /// An event (with its body and the list of its deliveries).
    Event(Event),
    /// A delivery's state.
    Delivery(Delivery),
    /// One attempt of a delivery.
    Attempt(Attempt),
    /// A platform's own event type.
    EventType(CustomEventType),
}

/// The tables of a dump, by record tag (the order a backend writes them
/// in is its own: sled writes event types before endpoints).
pub const TABLES: [&str; 14] = [
    "meta",
    "tenants",
    "keys",
    "users",
    "endpoints",
    "health",
    "alerts",
    "alert_history",
    "stats",
    "idempotency",
    "events",
    "deliveries",
    "attempts",
    "event_types",
];

impl Record {
    /// The dump table this record belongs to (one of [`TABLES`]).
    pub fn table(&self) -> &'static str {
        TABLES[usize::from(self.tag() - 1)]
    }

    fn tag(&self) -> u8 {
        match self {
            Record::Bootstrapped => 1,
            Record::Tenant(_) => 2,
            Record::Key(_) => 3,
            Record::User(_) => 4,
            Record::Endpoint(_) => 5,
            Record::Health { .. } => 6,
            Record::Alert(_) => 7,
            Record::AlertHistory { .. } => 8,
            Record::Stats { .. } => 9,
            Record::Idempotency { .. } => 10,
            Record::Event(_) => 11,
            Record::Delivery(_) => 12,
            Record::Attempt(_) => 13,
            Record::EventType(_) => 14,
        }
    }

    fn payload(&self) -> Vec<u8> {
        match self {
            Record::Bootstrapped => vec![],
            Record::Tenant(t) => t.encode(),
            Record::Key(k) => k.encode(),
            Record::User(u) => u.encode(),
            Record::Endpoint(e) => e.encode(),
            Record::Health { endpoint, health } => encode_with(
                1,
                &HealthRowV1 {
                    endpoint: *endpoint,
                    health: health.encode(),
                },
            ),
            Record::Alert(a) => a.encode(),
            Record::AlertHistory {
                at_ms,
                seq,
                transition,
            } => encode_with(
                1,
                &AlertHistoryV1 {
                    at_ms: *at_ms,
                    seq: *seq,
                    transition: transition.encode(),
                },
            ),
            Record::Stats {
                grain,
                tenant,
                start,
                endpoint,
                stats,
            } => encode_with(
                1,
                &StatsRowV1 {
                    grain: grain_code(*grain),
                    tenant: tenant.clone(),
                    start_ms: start.as_millis(),
                    endpoint: *endpoint,
                    stats: stats.encode(),
                },
            ),
            Record::Idempotency {
                tenant,
                key,
                at,
                events,
            } => encode_with(
                1,
                &IdempotencyV1 {
                    tenant: tenant.clone(),
                    key: key.clone(),
                    at_ms: at.as_millis(),
                    events: events.clone(),
                },
            ),
            Record::Event(e) => e.encode(),
            Record::Delivery(d) => d.encode(),
            Record::Attempt(a) => a.encode(),
            Record::EventType(t) => t.encode(),
        }
    }

    fn decode(tag: u8, payload: &[u8]) -> Result<Record, DumpError> {
        let bad = |e: super::StoreError| DumpError::Record {
            table: TABLES
                .get(usize::from(tag.wrapping_sub(1)))
                .copied()
                .unwrap_or("?"),
            reason: e.to_string(),
        };
        Ok(match tag {
            1 => Record::Bootstrapped,
            2 => Record::Tenant(Tenant::decode(payload).map_err(bad)?),
            3 => Record::Key(ApiKey::decode(payload).map_err(bad)?),
            4 => Record::User(User::decode(payload).map_err(bad)?),
            5 => Record::Endpoint(Endpoint::decode(payload).map_err(bad)?),
            6 => {
                let r: HealthRowV1 = wrapped("health row", payload).map_err(bad)?;
                Record::Health {
                    endpoint: r.endpoint,
                    health: Health::decode(&r.health).map_err(bad)?,
                }
            }
            7 => Record::Alert(Alert::decode(payload).map_err(bad)?),
            8 => {
                let r: AlertHistoryV1 = wrapped("alert history", payload).map_err(bad)?;
                Record::AlertHistory {
                    at_ms: r.at_ms,
                    seq: r.seq,
                    transition: Transition::decode(&r.transition).map_err(bad)?,
                }
            }
            9 => {
                let r: StatsRowV1 = wrapped("stats row", payload).map_err(bad)?;
                Record::Stats {
                    grain: grain_of(r.grain).ok_or(DumpError::Record {
                        table: "stats",
                        reason: format!("unknown grain {}", r.grain),
                    })?,
                    tenant: r.tenant,
                    start: Timestamp::from_millis(r.start_ms),
                    endpoint: r.endpoint,
                    stats: Stats::decode(&r.stats).map_err(bad)?,
                }
            }
            10 => {
                let r: IdempotencyV1 = wrapped("idempotency", payload).map_err(bad)?;
                Record::Idempotency {
                    tenant: r.tenant,
                    key: r.key,
                    at: Timestamp::from_millis(r.at_ms),
                    events: r.events,
                }
            }
            11 => Record::Event(Event::decode(payload).map_err(bad)?),
            12 => Record::Delivery(Delivery::decode(payload).map_err(bad)?),
            13 => Record::Attempt(Attempt::decode(payload).map_err(bad)?),
            14 => Record::EventType(CustomEventType::decode(payload).map_err(bad)?),
            other => return Err(DumpError::UnknownTag(other)),
        })
    }
}

fn grain_code(g: Grain) -> u8 {
    match g {
        Grain::Minute => 1,
        Grain::Hour => 2,
        Grain::Day => 3,
    }
}

fn grain_of(c: u8) -> Option<Grain> {
    match c {
        1 => Some(Grain::Minute),
        2 => Some(Grain::Hour),
        3 => Some(Grain::Day),
        _ => None,
    }
}

/// A wrapped row of format 1, frozen: key fields and the row's own
/// versioned encoding.
fn wrapped<T: serde::de::DeserializeOwned>(kind: &'static str, bytes: &[u8]) -> super::Result<T> {
    match split(kind, bytes)? {
        (1, body) => decode_body(kind, body),
        (v, _) => Err(unknown(kind, v)),
    }
}

#[derive(Serialize, Deserialize)]
struct HealthRowV1 {
    endpoint: EndpointId,
    health: Vec<u8>,
}

#[derive(Serialize, Deserialize)]
struct AlertHistoryV1 {
    at_ms: i64,
    seq: u128,
    transition: Vec<u8>,
}

#[derive(Serialize, Deserialize)]
struct StatsRowV1 {
    grain: u8,
    tenant: String,
    start_ms: i64,
    endpoint: EndpointId,
    stats: Vec<u8>,
}

#[derive(Serialize, Deserialize)]
struct IdempotencyV1 {
    tenant: String,
    key: String,
    at_ms: i64,
    events: Vec<u128>,
}

/// What a dump says about itself, first thing in the file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Header {
    /// The Herald version that wrote it.
    pub herald_version: String,
    /// When the dump started, RFC 3339.
    pub created_at: String,
    /// The same, unix ms.
    pub created_at_ms: i64,
    /// The backend it was exported from (`sled`), for the record.
    pub source: String,
    /// The source's schema version.
    pub schema_version: u32,
    /// The format version of each record kind as this build writes it
    /// (records carry their own version byte too).
    pub record_versions: BTreeMap<String, u8>,
}

impl Header {
    /// A header for a dump this build writes now.
    pub fn new(created: Timestamp, source: &str, schema_version: u32) -> Self {
        let versions = [
            (Tenant::KIND, Tenant::VERSION),
            (ApiKey::KIND, ApiKey::VERSION),
            (User::KIND, User::VERSION),
            (Endpoint::KIND, Endpoint::VERSION),
            (Health::KIND, Health::VERSION),
            (Alert::KIND, Alert::VERSION),
            (Transition::KIND, Transition::VERSION),
            (Stats::KIND, Stats::VERSION),
            (Event::KIND, Event::VERSION),
            (Delivery::KIND, Delivery::VERSION),
            (Attempt::KIND, Attempt::VERSION),
            (CustomEventType::KIND, CustomEventType::VERSION),
            ("wrapped rows", 1),
        ];
        Self {
            herald_version: env!("CARGO_PKG_VERSION").to_string(),
            created_at: created.to_rfc3339_millis(),
            created_at_ms: created.as_millis(),
            source: source.to_string(),
            schema_version,
            record_versions: versions
                .into_iter()
                .map(|(k, v)| (k.to_string(), v))
                .collect(),
        }
    }
}

/// Records per table ([`TABLES`]), as the trailer states them.
pub type Counts = BTreeMap<String, u64>;

/// What was found in (or written to) a whole dump.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Summary {
    /// The header.
    pub header: Header,
    /// Records per table.
    pub counts: Counts,
    /// Bytes of the whole file.
    pub bytes: u64,
}

/// Why a dump was refused.
#[derive(Debug, thiserror::Error)]
pub enum DumpError {
    /// Reading or writing the file failed.
    #[error("I/O error: {0}")]
    Io(#[from] std::io::Error),
    /// It does not start with the dump magic.
    #[error(
        "not a Herald dump (it does not start with {:?})",
        String::from_utf8_lossy(MAGIC)
    )]
    NotADump,
    /// Written by a newer Herald.
    #[error(
        "dump format version {found} is newer than this herald reads ({known}); upgrade herald"
    )]
    TooNew {
        /// The version in the file.
        found: u32,
        /// The newest this build reads.
        known: u32,
    },
    /// A format version that never existed.
    #[error("unknown dump format version {0}")]
    UnknownVersion(u32),
    /// The file ends early.
    #[error("the dump is truncated: {0}")]
    Truncated(String),
    /// The SHA-256 does not match.
    #[error("checksum mismatch: the dump's SHA-256 is {stored} but its contents hash to {computed}; the file is damaged")]
    Checksum {
        /// The checksum the file carries, hex.
        stored: String,
        /// The checksum of its contents, hex.
        computed: String,
    },
    /// The header is unreadable.
    #[error("the dump header is unreadable: {0}")]
    Header(String),
    /// A frame with a tag this build does not know.
    #[error("unknown record tag {0} in the dump")]
    UnknownTag(u8),
    /// A frame longer than any record.
    #[error("a record of {0} bytes: the dump is damaged")]
    FrameTooLong(u32),
    /// A record does not decode.
    #[error("a {table} record does not decode: {reason}")]
    Record {
        /// Its table.
        table: &'static str,
        /// The decoder's complaint.
        reason: String,
    },
    /// The trailer's counts disagree with the records.
    #[error("the trailer counts {stated} {table}, the dump holds {found}")]
    Counts {
        /// The table.
        table: String,
        /// What the trailer says.
        stated: u64,
        /// What was read.
        found: u64,
    },
    /// Bytes after the trailer's checksum and end marker, or the like.
    #[error("the dump is malformed: {0}")]
    Malformed(String),
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// Writes a dump to `W`, hashing as it goes.
pub struct Writer<W: Write> {
    out: W,
    hash: Sha256,
    counts: Counts,
    bytes: u64,
    header: Header,
}

impl<W: Write> Writer<W> {
    /// Writes the magic, the format version and `header`.
    pub fn new(out: W, header: Header) -> Result<Self, DumpError> {
        let mut w = Self {
            out,
            hash: Sha256::new(),
            counts: TABLES.iter().map(|t| (t.to_string(), 0)).collect(),
            bytes: 0,
            header,
        };
        let json = serde_json::to_vec(&w.header).map_err(|e| DumpError::Header(e.to_string()))?;
        w.put(MAGIC)?;
        w.put(&FORMAT_VERSION.to_be_bytes())?;
        w.put(&(json.len() as u32).to_be_bytes())?;
        w.put(&json)?;
        Ok(w)
    }

    fn put(&mut self, b: &[u8]) -> Result<(), DumpError> {
        self.hash.update(b);
        self.out.write_all(b)?;
        self.bytes += b.len() as u64;
        Ok(())
    }

    fn frame(&mut self, tag: u8, payload: &[u8]) -> Result<(), DumpError> {
        let len = u32::try_from(payload.len())
            .ok()
            .filter(|l| *l <= MAX_FRAME)
            .ok_or(DumpError::FrameTooLong(u32::MAX))?;
        self.put(&[tag])?;
        self.put(&len.to_be_bytes())?;
        self.put(payload)
    }

    /// Appends one record.
    pub fn record(&mut self, r: &Record) -> Result<(), DumpError> {
        self.frame(r.tag(), &r.payload())?;
        *self.counts.entry(r.table().to_string()).or_default() += 1;
        Ok(())
    }

    /// Writes the trailer (counts), the checksum and the end marker;
    /// answers what was written and the writer.
    pub fn finish(mut self) -> Result<(Summary, W), DumpError> {
        let json =
            serde_json::to_vec(&self.counts).map_err(|e| DumpError::Header(e.to_string()))?;
        self.frame(TRAILER_TAG, &json)?;
        let sum: [u8; 32] = std::mem::take(&mut self.hash).finalize().into();
        self.out.write_all(&sum)?;
        self.out.write_all(END_MARKER)?;
        self.out.flush()?;
        let bytes = self.bytes + FIXED_TAIL as u64;
        Ok((
            Summary {
                header: self.header,
                counts: self.counts,
                bytes,
            },
            self.out,
        ))
    }
}

fn read_exact_or(r: &mut impl Read, buf: &mut [u8], what: &str) -> Result<(), DumpError> {
    r.read_exact(buf).map_err(|e| match e.kind() {
        std::io::ErrorKind::UnexpectedEof => DumpError::Truncated(format!("it ends inside {what}")),
        _ => DumpError::Io(e),
    })
}

/// Checks the fixed parts and the SHA-256 of a whole dump of `len` bytes
/// read from `r`, without parsing its records: magic, format version,
/// end marker, checksum — in that order, so a file cut short says so.
pub fn verify_checksum(mut r: impl Read, len: u64) -> Result<(), DumpError> {
    let mut head = [0u8; FIXED_HEAD];
    if len < FIXED_HEAD as u64 {
        let mut some = vec![0u8; len as usize];
        read_exact_or(&mut r, &mut some, "the magic")?;
        if !MAGIC.starts_with(&some) {
            return Err(DumpError::NotADump);
        }
        return Err(DumpError::Truncated(format!("it is {len} bytes long")));
    }
    read_exact_or(&mut r, &mut head, "the magic")?;
    check_head(&head)?;
    if len < (FIXED_HEAD + FIXED_TAIL) as u64 {
        return Err(DumpError::Truncated(format!("it is {len} bytes long")));
    }
    let mut hash = Sha256::new();
    hash.update(head);
    let mut left = len - (FIXED_HEAD + FIXED_TAIL) as u64;
    let mut buf = vec![0u8; 256 << 10];
    while left > 0 {
        let n = left.min(buf.len() as u64) as usize;
        read_exact_or(&mut r, &mut buf[..n], "its records")?;
        hash.update(&buf[..n]);
        left -= n as u64;
    }
    let mut tail = [0u8; FIXED_TAIL];
    read_exact_or(&mut r, &mut tail, "its end")?;
    if &tail[32..] != END_MARKER {
        return Err(DumpError::Truncated(
            "it does not end with the end marker (cut short, or not a whole dump)".into(),
        ));
    }
    let computed: [u8; 32] = hash.finalize().into();
    if computed[..] != tail[..32] {
        return Err(DumpError::Checksum {
            stored: hex(&tail[..32]),
            computed: hex(&computed),
        });
    }
    Ok(())
}

fn check_head(head: &[u8; FIXED_HEAD]) -> Result<(), DumpError> {
    if &head[..MAGIC.len()] != MAGIC {
        return Err(DumpError::NotADump);
    }
    let mut v = [0u8; 4];
    v.copy_from_slice(&head[MAGIC.len()..]);
    match u32::from_be_bytes(v) {
        FORMAT_VERSION => Ok(()),
        found if found > FORMAT_VERSION => Err(DumpError::TooNew {
            found,
            known: FORMAT_VERSION,
        }),
        other => Err(DumpError::UnknownVersion(other)),
    }
}

/// Reads a dump's records in order; at the end checks the trailer's
/// counts. (It does not check the SHA-256: that is [`verify_checksum`],
/// run over the file first.)
pub struct Reader<R: Read> {
    input: R,
    /// The dump's header.
    pub header: Header,
    counts: Counts,
    done: bool,
}

impl<R: Read> Reader<R> {
    /// Reads the magic, the version and the header.
    pub fn new(mut input: R) -> Result<Self, DumpError> {
        let mut head = [0u8; FIXED_HEAD];
        read_exact_or(&mut input, &mut head, "the magic")?;
        check_head(&head)?;
        let mut len = [0u8; 4];
        read_exact_or(&mut input, &mut len, "the header")?;
        let len = u32::from_be_bytes(len);
        if len > MAX_FRAME {
            return Err(DumpError::FrameTooLong(len));
        }
        let mut json = vec![0u8; len as usize];
        read_exact_or(&mut input, &mut json, "the header")?;
        let header = serde_json::from_slice(&json).map_err(|e| DumpError::Header(e.to_string()))?;
        Ok(Self {
            input,
            header,
            counts: TABLES.iter().map(|t| (t.to_string(), 0)).collect(),
            done: false,
        })
    }

    /// The next record, or `None` after the trailer (whose counts agreed).
    pub fn next_record(&mut self) -> Result<Option<Record>, DumpError> {
        if self.done {
            return Ok(None);
        }
        let mut tag = [0u8; 1];
        let n: u64 = self.counts.values().sum();
        read_exact_or(
            &mut self.input,
            &mut tag,
            &format!("the records (after {n} of them, before the trailer)"),
        )?;
        let mut len = [0u8; 4];
        read_exact_or(&mut self.input, &mut len, "a record")?;
        let len = u32::from_be_bytes(len);
        if len > MAX_FRAME {
            return Err(DumpError::FrameTooLong(len));
        }
        let mut payload = vec![0u8; len as usize];
        read_exact_or(&mut self.input, &mut payload, "a record")?;
        if tag[0] == TRAILER_TAG {
            self.done = true;
            let stated: Counts = serde_json::from_slice(&payload)
                .map_err(|e| DumpError::Malformed(format!("trailer: {e}")))?;
            for t in TABLES {
                let (s, f) = (
                    stated.get(t).copied().unwrap_or(0),
                    self.counts.get(t).copied().unwrap_or(0),
                );
                if s != f {
                    return Err(DumpError::Counts {
                        table: t.to_string(),
                        stated: s,
                        found: f,
                    });
                }
            }
            if let Some(t) = stated.keys().find(|t| !TABLES.contains(&t.as_str())) {
                return Err(DumpError::Malformed(format!("trailer names table {t:?}")));
            }
            let mut tail = [0u8; FIXED_TAIL];
            read_exact_or(&mut self.input, &mut tail, "the checksum")?;
            let mut extra = [0u8; 1];
            if self.input.read(&mut extra)? != 0 {
                return Err(DumpError::Malformed("bytes after the end marker".into()));
            }
            return Ok(None);
        }
        let r = Record::decode(tag[0], &payload)?;
        *self.counts.entry(r.table().to_string()).or_default() += 1;
        Ok(Some(r))
    }

    /// Records per table read so far.
    pub fn counts(&self) -> &Counts {
        &self.counts
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Vec<Record> {
        let at = Timestamp::from_millis(1_700_000_000_000);
        let ep = EndpointId::new(at);
        vec![
            Record::Bootstrapped,
            Record::Tenant(Tenant {
                id: "acme".into(),
                name: "Acme".into(),
                suspended: false,
                created_at: at,
                updated_at: at,
                metadata: Default::default(),
            }),
            Record::Health {
                endpoint: ep,
                health: Health::default(),
            },
            Record::Stats {
                grain: Grain::Hour,
                tenant: "acme".into(),
                start: at,
                endpoint: ep,
                stats: Stats::default(),
            },
            Record::Idempotency {
                tenant: "acme".into(),
                key: "order-1".into(),
                at,
                events: vec![1, 2],
            },
            Record::Delivery(Delivery {
                event_id: "evt_1".into(),
                ..crate::store::conformance::delivery("acme", ep, 1, at)
            }),
        ]
    }

    fn dump(records: &[Record]) -> Vec<u8> {
        let header = Header::new(Timestamp::from_millis(1_700_000_000_000), "test", 1);
        let mut w = Writer::new(Vec::new(), header).unwrap();
        for r in records {
            w.record(r).unwrap();
        }
        let (summary, bytes) = w.finish().unwrap();
        assert_eq!(summary.bytes, bytes.len() as u64);
        bytes
    }

    fn read(bytes: &[u8]) -> Result<Vec<Record>, DumpError> {
        verify_checksum(bytes, bytes.len() as u64)?;
        let mut r = Reader::new(bytes)?;
        let mut out = Vec::new();
        while let Some(rec) = r.next_record()? {
            out.push(rec);
        }
        Ok(out)
    }

    #[test]
    fn round_trips_every_record_with_its_counts() {
        let records = sample();
        let bytes = dump(&records);
        assert!(bytes.starts_with(MAGIC) && bytes.ends_with(END_MARKER));
        assert_eq!(read(&bytes).unwrap(), records);
        let mut r = Reader::new(&bytes[..]).unwrap();
        assert_eq!(r.header.source, "test");
        while r.next_record().unwrap().is_some() {}
        assert_eq!(r.counts()["deliveries"], 1);
        assert_eq!(r.counts()["attempts"], 0);
    }

    #[test]
    fn a_flipped_byte_anywhere_is_refused() {
        let bytes = dump(&sample());
        for i in 0..bytes.len() {
            let mut bad = bytes.clone();
            bad[i] ^= 0x20;
            let err = read(&bad).expect_err("a damaged dump is refused");
            if i < MAGIC.len() {
                assert!(matches!(err, DumpError::NotADump), "{i}: {err}");
            } else if i < FIXED_HEAD {
                assert!(
                    matches!(err, DumpError::TooNew { .. } | DumpError::UnknownVersion(_)),
                    "{i}: {err}"
                );
            } else if i >= bytes.len() - END_MARKER.len() {
                assert!(matches!(err, DumpError::Truncated(_)), "{i}: {err}");
            } else {
                assert!(matches!(err, DumpError::Checksum { .. }), "{i}: {err}");
            }
        }
    }

    #[test]
    fn a_truncated_dump_says_so() {
        let bytes = dump(&sample());
        for cut in [0, 5, FIXED_HEAD, 40, bytes.len() / 2, bytes.len() - 1] {
            let err = read(&bytes[..cut]).expect_err("cut short");
            assert!(
                matches!(err, DumpError::Truncated(_)),
                "cut at {cut}: {err}"
            );
            assert!(err.to_string().contains("truncated"), "{err}");
        }
        // Even without the checksum pass, the reader notices the end.
        let mut r = Reader::new(&bytes[..bytes.len() / 2]).unwrap();
        let err = loop {
            match r.next_record() {
                Ok(Some(_)) => continue,
                Ok(None) => panic!("read to the end of half a dump"),
                Err(e) => break e,
            }
        };
        assert!(matches!(err, DumpError::Truncated(_)), "{err}");
    }

    #[test]
    fn wrong_magic_and_newer_versions_are_refused() {
        let mut bytes = dump(&sample());
        let mut other = bytes.clone();
        other[0] = b'X';
        assert!(matches!(read(&other), Err(DumpError::NotADump)));
        assert!(matches!(read(b"{\"json\": 1}"), Err(DumpError::NotADump)));
        // A newer format, with a valid checksum: refused for its version.
        bytes[MAGIC.len()..FIXED_HEAD].copy_from_slice(&2u32.to_be_bytes());
        let body = bytes.len() - FIXED_TAIL;
        let sum: [u8; 32] = Sha256::digest(&bytes[..body]).into();
        bytes[body..body + 32].copy_from_slice(&sum);
        let err = read(&bytes).unwrap_err();
        assert!(
            matches!(err, DumpError::TooNew { found: 2, known: 1 }),
            "{err}"
        );
        assert!(err.to_string().contains("upgrade herald"));
    }

    #[test]
    fn trailer_counts_must_agree() {
        let bytes = dump(&sample());
        // Drop the last record's frame but keep the trailer: the reader's
        // own count check (not only the checksum) refuses it.
        let records = sample();
        let mut shorter = dump(&records[..records.len() - 1]);
        let full_trailer_at = bytes.len()
            - FIXED_TAIL
            - 5
            - serde_json::to_vec(&{
                let mut c: Counts = TABLES.iter().map(|t| (t.to_string(), 0)).collect();
                for r in &records {
                    *c.get_mut(r.table()).unwrap() += 1;
                }
                c
            })
            .unwrap()
            .len();
        let short_trailer_at = shorter.len() - (bytes.len() - full_trailer_at);
        shorter.truncate(short_trailer_at);
        shorter.extend_from_slice(&bytes[full_trailer_at..]);
        let mut r = Reader::new(&shorter[..]).unwrap();
        let err = loop {
            match r.next_record() {
                Ok(Some(_)) => continue,
                Ok(None) => panic!("counts not checked"),
                Err(e) => break e,
            }
        };
        assert!(matches!(err, DumpError::Counts { .. }), "{err}");
    }
}
