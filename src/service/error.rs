//! The service layer's error: one variant per outcome a caller must handle.

use crate::domain::endpoint::FieldError;
use crate::store::{Conflict, StoreError};

/// What a service call can fail with. Each has a stable `code`.
#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    /// No key, an unknown key or a revoked key.
    #[error("{0}")]
    Unauthorized(&'static str),
    /// The key is valid but may not do this.
    #[error("{0}")]
    Forbidden(String),
    /// A read-only portal session tried to change something.
    #[error("this portal session is read-only: nothing can be changed here")]
    ReadOnly,
    /// A tenant key named another tenant in `X-Tenant-ID`.
    #[error("this key is bound to tenant {bound:?} and cannot act for {asked:?}")]
    TenantMismatch {
        /// The key's tenant.
        bound: String,
        /// The tenant asked for.
        asked: String,
    },
    /// A platform key called a tenant route without `X-Tenant-ID`.
    #[error("a platform key must name the tenant with the X-Tenant-ID header")]
    TenantRequired,
    /// `X-Tenant-ID` (or a tenant id in a body) is malformed.
    #[error("invalid tenant id {0:?}: use 1-64 characters from A-Z a-z 0-9 _ - ., not only dots")]
    InvalidTenantId(String),
    /// The thing does not exist (or belongs to another tenant).
    #[error("{0} not found")]
    NotFound(&'static str),
    /// A field failed validation.
    #[error("{0}")]
    Invalid(FieldError),
    /// The tenant already has an endpoint with this URL.
    #[error("this tenant already has an endpoint with URL {0}")]
    DuplicateUrl(String),
    /// The tenant already has an endpoint with this `uid`.
    #[error("this tenant already has an endpoint with uid {0:?}")]
    DuplicateUid(String),
    /// The request collides with what exists or is under way (a
    /// duplicate event id, a repeated idempotent request still running);
    /// `code` says which.
    #[error("{message}")]
    Conflict {
        /// The stable code.
        code: &'static str,
        /// What collided.
        message: String,
    },
    /// A tenant with this id exists.
    #[error("tenant {0:?} already exists")]
    TenantExists(String),
    /// An event type that is not in the catalog.
    #[error("unknown event type {0:?}; see GET /api/v1/event-types")]
    UnknownEventType(String),
    /// An event type with this name exists (built in, or custom).
    #[error("{}", if *built_in { format!("{name:?} is a built-in event type") } else { format!("event type {name:?} already exists") })]
    EventTypeExists {
        /// The name.
        name: String,
        /// Whether it is one of the built-in types.
        built_in: bool,
    },
    /// A change or removal of a built-in event type.
    #[error("{0:?} is a built-in event type; only custom types can be changed or deleted")]
    BuiltInEventType(String),
    /// A payload does not match its event type's JSON Schema.
    #[error("{at}{what} does not match the schema of event type {event_type:?} at {}: {message}", if path.is_empty() { "/" } else { path })]
    SchemaMismatch {
        /// Which event of a batch (`events[3]: `), or empty.
        at: String,
        /// What was checked: `data`, or `payload`.
        what: &'static str,
        /// The event type.
        event_type: String,
        /// The failing place in the payload, a JSON Pointer (empty: the
        /// payload itself).
        path: String,
        /// Why it fails.
        message: String,
    },
    /// An event or request is over its size limit.
    #[error("{0}")]
    TooLarge(String),
    /// Too many attempts (logins) or too much work at once (password
    /// hashing): try again later.
    #[error("{message}")]
    Throttled {
        /// What to tell the person.
        message: String,
        /// Seconds until trying again makes sense.
        retry_after_secs: u64,
    },
    /// An API key went over its request budget (`--ingest-rate`,
    /// `--management-rate`); what the `RateLimit-*` headers say.
    #[error("this API key is over its {budget} request budget; retry after {retry_after_secs} s")]
    RateLimited {
        /// `ingest` or `management`.
        budget: &'static str,
        /// The bucket's size (requests at once).
        limit: u32,
        /// Requests left (0).
        remaining: u32,
        /// Seconds until the bucket is full again.
        reset_secs: u64,
        /// Seconds until a request would be allowed.
        retry_after_secs: u64,
    },
    /// The key's share of the ingest memory budget (`--ingest-memory-mb`)
    /// is taken by its batches in flight.
    #[error("this API key's batches in flight hold its share of the ingest memory budget; retry after {retry_after_secs} s")]
    KeyBusy {
        /// Seconds until trying again makes sense.
        retry_after_secs: u64,
    },
    /// The ingest memory budget (`--ingest-memory-mb`) is taken by the
    /// batches in flight.
    #[error("the server is parsing as many batches as its memory budget allows; retry after {retry_after_secs} s")]
    ServerBusy {
        /// Seconds until trying again makes sense.
        retry_after_secs: u64,
    },
    /// The data directory's disk is below its reserve (`--disk-reserve-mb`):
    /// new events are refused so that what is stored can still be
    /// delivered and recorded.
    #[error("the data directory's disk has {} MiB free, below the reserve of {} MiB (--disk-reserve-mb): events are refused until space is freed; deliveries go on", free_bytes >> 20, reserve_bytes >> 20)]
    DiskFull {
        /// Bytes free now.
        free_bytes: u64,
        /// The reserve.
        reserve_bytes: u64,
    },
    /// Disabling or removing this user would leave no operator who can
    /// log in.
    #[error("{0}")]
    LastOperator(String),
    /// A query parameter is malformed.
    #[error("{message}")]
    BadQuery {
        /// The parameter at fault (`limit`, `cursor`, `status`, …).
        param: &'static str,
        /// What is wrong with it.
        message: String,
    },
    /// The store failed or refused a write; `fault` says how, so callers
    /// tell a concurrent change from a broken disk without knowing the
    /// store's types.
    #[error("{message}")]
    Store {
        /// What kind of failure.
        fault: StoreFault,
        /// The store's description (for the log or the caller).
        message: String,
    },
}

/// How a store call failed, as far as a caller must tell the cases apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoreFault {
    /// The record changed between read and write; re-reading and retrying
    /// may succeed.
    Changed,
    /// A uniqueness rule refused the write (an endpoint URL taken).
    UrlTaken,
    /// A uniqueness rule refused the write (an endpoint uid taken).
    UidTaken,
    /// Another process holds the data directory.
    Locked,
    /// The store cannot write now (a full disk); it recovers by itself
    /// once there is room.
    Unavailable,
    /// The disk or a record failed, or the directory is too new: an
    /// internal error.
    Failed,
}

impl From<StoreError> for ServiceError {
    fn from(e: StoreError) -> Self {
        let fault = match &e {
            StoreError::Conflict(Conflict::Changed) => StoreFault::Changed,
            StoreError::Conflict(Conflict::UrlTaken) => StoreFault::UrlTaken,
            StoreError::Conflict(Conflict::UidTaken) => StoreFault::UidTaken,
            StoreError::Locked { .. } => StoreFault::Locked,
            StoreError::Unavailable(_) => StoreFault::Unavailable,
            StoreError::Io(_) | StoreError::Corrupt { .. } | StoreError::TooNew { .. } => {
                StoreFault::Failed
            }
            StoreError::NotEmpty(_) => StoreFault::Failed,
        };
        ServiceError::Store {
            fault,
            message: e.to_string(),
        }
    }
}

impl ServiceError {
    /// The stable machine-readable code.
    pub fn code(&self) -> &'static str {
        match self {
            ServiceError::Unauthorized(_) => "unauthorized",
            ServiceError::Forbidden(_) => "forbidden",
            ServiceError::ReadOnly => "read_only_session",
            ServiceError::TenantMismatch { .. } => "tenant_mismatch",
            ServiceError::TenantRequired => "tenant_required",
            ServiceError::InvalidTenantId(_) => "invalid_tenant_id",
            ServiceError::NotFound(_) => "not_found",
            ServiceError::Invalid(f) => f.code,
            ServiceError::DuplicateUrl(_) => "duplicate_url",
            ServiceError::DuplicateUid(_) => "duplicate_uid",
            ServiceError::TenantExists(_) => "tenant_exists",
            ServiceError::Conflict { code, .. } => code,
            ServiceError::LastOperator(_) => "last_operator",
            ServiceError::BadQuery { .. } => "invalid_query",
            ServiceError::UnknownEventType(_) => "unknown_event_type",
            ServiceError::EventTypeExists { .. } => "event_type_exists",
            ServiceError::BuiltInEventType(_) => "built_in_event_type",
            ServiceError::SchemaMismatch { .. } => "schema_mismatch",
            ServiceError::TooLarge(_) => "payload_too_large",
            ServiceError::Throttled { .. } => "too_many_requests",
            ServiceError::RateLimited { .. } => "rate_limited",
            ServiceError::KeyBusy { .. } => "key_busy",
            ServiceError::ServerBusy { .. } => "server_busy",
            ServiceError::DiskFull { .. } => "insufficient_storage",
            ServiceError::Store { fault, .. } => match fault {
                StoreFault::Locked => "store_locked",
                StoreFault::Unavailable => "store_unavailable",
                StoreFault::Changed => "conflict",
                StoreFault::UrlTaken | StoreFault::UidTaken | StoreFault::Failed => "internal",
            },
        }
    }

    /// The field at fault, for validation errors.
    pub fn field(&self) -> Option<&'static str> {
        match self {
            ServiceError::Invalid(f) => Some(f.field),
            ServiceError::DuplicateUrl(_) => Some("url"),
            ServiceError::DuplicateUid(_) => Some("uid"),
            ServiceError::UnknownEventType(_) => Some("event"),
            ServiceError::EventTypeExists { .. } => Some("name"),
            ServiceError::SchemaMismatch { what, .. } => Some(what),
            _ => None,
        }
    }

    /// A malformed query parameter `param`.
    pub fn bad_query(param: &'static str, message: impl Into<String>) -> Self {
        ServiceError::BadQuery {
            param,
            message: message.into(),
        }
    }

    /// A validation error on `field`.
    pub fn invalid(field: &'static str, message: impl Into<String>) -> Self {
        ServiceError::Invalid(FieldError::new(field, message))
    }
}

impl From<FieldError> for ServiceError {
    fn from(f: FieldError) -> Self {
        ServiceError::Invalid(f)
    }
}
