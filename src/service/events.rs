//! Ingest: validate, fan out, commit durably, hand to the engine.

use std::sync::Arc;

use serde_json::Value;

use super::{Caller, EventTypes, Herald, Result, ServiceError};
use crate::delivery::Dispatch;
use crate::domain::delivery::{Delivery, DeliveryState};
use crate::domain::endpoint::{channels_match, validate_channels, Endpoint};
use crate::domain::event::{
    generated_id, valid_client_id, validate_event_id, validate_tags, Event, MAX_CLIENT_ID,
};
use crate::domain::event_type;
use crate::domain::ids::{new_ulid, DeliveryId, EndpointId};
use crate::domain::time::Timestamp;
use crate::store::{CommitOutcome, Committed, Due, Idempotency, NewEvent, Store, Ticket};
use crate::wire::envelope::envelope;

/// The most events in one batch request.
pub const MAX_BATCH: usize = 1000;
/// How long an `Idempotency-Key` is remembered.
pub const IDEMPOTENCY_WINDOW_MS: i64 = 24 * 3_600_000;

/// An accepted event and the deliveries it fanned out to.
#[derive(Debug, Clone)]
pub struct IngestedEvent {
    /// The event.
    pub event: Event,
    /// Whether an event with the same client id was already stored, so
    /// this is that one (nothing new was created for it).
    pub duplicate: bool,
}

/// The answer to an ingest request.
#[derive(Debug, Clone)]
pub struct IngestOutcome {
    /// One per event, in request order.
    pub events: Vec<IngestedEvent>,
    /// Whether this answers a repeated `Idempotency-Key` (nothing created).
    pub replayed: bool,
}

/// What an event's body is made from.
enum Payload {
    /// Herald's `data`, compact: the body is the seed's envelope around
    /// it (built once the id is known).
    Data(Vec<u8>),
    /// A body delivered as it is, compact (the Svix-compatible API's
    /// message `payload`).
    Raw(Vec<u8>),
}

/// A validated event from a request.
struct Input {
    event_type: String,
    payload: Payload,
    id: Option<String>,
    created: Option<Timestamp>,
    channels: Vec<String>,
    tags: Vec<String>,
}

/// An event whose body is delivered exactly as given (no envelope): what
/// the Svix-compatible API's messages are. See [`BatchIngest::add_raw`].
#[derive(Debug, Clone)]
pub struct RawEvent {
    /// Its type (from the catalog).
    pub event_type: String,
    /// The body receivers get, re-serialised compact.
    pub payload: Value,
    /// The client's id for it (deduplicated per tenant), if any.
    pub id: Option<String>,
    /// The channels it is sent on.
    pub channels: Vec<String>,
    /// Free labels.
    pub tags: Vec<String>,
}

/// Parses an optional list of strings `field` of an event.
fn string_list(v: Option<Value>, field: &'static str, at: &str) -> Result<Vec<String>> {
    match v {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::Array(items)) => items
            .into_iter()
            .map(|i| match i {
                Value::String(s) => Ok(s),
                _ => Err(ServiceError::invalid(
                    field,
                    format!("{at}`{field}` must be a list of strings"),
                )),
            })
            .collect(),
        Some(_) => Err(ServiceError::invalid(
            field,
            format!("{at}`{field}` must be a list of strings"),
        )),
    }
}

/// Validates one `{event, data:{object}, id?, created?}`: its type is in
/// the catalog of `types`, its `data` matches the type's schema if it has
/// one. `at` names the event in a batch (`events[3]`) for error messages.
fn parse_input(v: Value, at: &str, max_size: usize, types: &EventTypes) -> Result<Input> {
    let field = |f: &'static str, m: String| ServiceError::invalid(f, format!("{at}{m}"));
    let Value::Object(mut obj) = v else {
        return Err(field("event", "must be a JSON object".into()));
    };
    if let Some(k) = obj
        .keys()
        .find(|k| !matches!(k.as_str(), "event" | "data" | "id" | "created" | "channels"))
    {
        return Err(field(
            "event",
            format!("unknown field {k:?} (expected event, data, id, created, channels)"),
        ));
    }
    let event_type = match obj.remove("event") {
        Some(Value::String(s)) => s,
        Some(_) => return Err(field("event", "`event` must be a string".into())),
        None => return Err(field("event", "`event` is required".into())),
    };
    if !types.catalog().contains(&event_type) {
        return Err(ServiceError::UnknownEventType(event_type));
    }
    let data = match obj.remove("data") {
        Some(Value::Object(d)) => d,
        Some(_) => return Err(field("data", "`data` must be an object".into())),
        None => {
            return Err(field(
                "data",
                "`data` is required: {\"object\": {…}}".into(),
            ))
        }
    };
    if !matches!(data.get("object"), Some(Value::Object(_))) {
        return Err(field("data", "`data.object` must be an object".into()));
    }
    let data = Value::Object(data);
    types.check(&event_type, &data, at, "data")?;
    let mut compact = Vec::new();
    crate::wire::write_compact(&data, &mut compact);
    if compact.len() > max_size {
        return Err(ServiceError::TooLarge(format!(
            "{at}event data is {} bytes; the limit is {max_size}",
            compact.len()
        )));
    }
    let id = match obj.remove("id") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => {
            validate_event_id(&s).map_err(|e| field("id", e.message))?;
            Some(s)
        }
        Some(_) => return Err(field("id", "`id` must be a string".into())),
    };
    let created = match obj.remove("created") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(Timestamp::parse_rfc3339(&s).ok_or_else(|| {
            field(
                "created",
                "`created` must be an RFC 3339 time, e.g. 2024-01-15T10:30:00Z".into(),
            )
        })?),
        Some(_) => return Err(field("created", "`created` must be a string".into())),
    };
    let channels = string_list(obj.remove("channels"), "channels", at)?;
    let channels = validate_channels(&channels).map_err(|e| field("channels", e.message))?;
    Ok(Input {
        event_type,
        payload: Payload::Data(compact),
        id,
        created,
        channels,
        tags: Vec::new(),
    })
}

/// Validates a [`RawEvent`] as [`parse_input`] does an event: the whole
/// payload is what its type's schema describes.
fn raw_input(e: RawEvent, at: &str, max_size: usize, types: &EventTypes) -> Result<Input> {
    let field = |f: &'static str, m: String| ServiceError::invalid(f, format!("{at}{m}"));
    if !types.catalog().contains(&e.event_type) {
        return Err(ServiceError::UnknownEventType(e.event_type));
    }
    types.check(&e.event_type, &e.payload, at, "payload")?;
    let mut compact = Vec::new();
    crate::wire::write_compact(&e.payload, &mut compact);
    if compact.len() > max_size {
        return Err(ServiceError::TooLarge(format!(
            "{at}the payload is {} bytes; the limit is {max_size}",
            compact.len()
        )));
    }
    if let Some(id) = &e.id {
        validate_event_id(id).map_err(|err| field("id", err.message))?;
    }
    let channels = validate_channels(&e.channels).map_err(|err| field("channels", err.message))?;
    let tags = validate_tags(&e.tags).map_err(|err| field("tags", err.message))?;
    Ok(Input {
        event_type: e.event_type,
        payload: Payload::Raw(compact),
        id: e.id,
        created: None,
        channels,
        tags,
    })
}

/// A batch being validated one event at a time
/// ([`Herald::batch_ingest`]): the caller is verified and the count and
/// Idempotency-Key checked; each [`BatchIngest::add`] keeps only the
/// event's validated, compact form.
pub struct BatchIngest<'a> {
    tenant_id: String,
    idempotency_key: Option<&'a str>,
    count: usize,
    max_size: usize,
    inputs: Vec<Input>,
    types: Arc<EventTypes>,
}

impl BatchIngest<'_> {
    /// Validates the next event (`events[i]: …` in messages when the
    /// batch has more than one) and keeps its compact form; the tree is
    /// dropped here.
    pub fn add(&mut self, v: Value) -> Result<()> {
        if self.inputs.len() >= self.count {
            return Err(ServiceError::invalid(
                "events",
                format!("send 1 to {MAX_BATCH} events"),
            ));
        }
        let at = if self.count > 1 {
            format!("events[{}]: ", self.inputs.len())
        } else {
            String::new()
        };
        let input = parse_input(v, &at, self.max_size, &self.types)?;
        self.inputs.push(input);
        Ok(())
    }

    /// As [`BatchIngest::add`], for an event whose body is delivered as
    /// given ([`RawEvent`]).
    pub fn add_raw(&mut self, e: RawEvent) -> Result<()> {
        if self.inputs.len() >= self.count {
            return Err(ServiceError::invalid(
                "events",
                format!("send 1 to {MAX_BATCH} events"),
            ));
        }
        let at = if self.count > 1 {
            format!("events[{}]: ", self.inputs.len())
        } else {
            String::new()
        };
        let input = raw_input(e, &at, self.max_size, &self.types)?;
        self.inputs.push(input);
        Ok(())
    }
}

/// An event and one pending (or, if `held`, held) delivery per target,
/// its body the seed's envelope around `data`.
#[allow(clippy::too_many_arguments)]
pub(super) fn build_event(
    key: u128,
    id: String,
    tenant_id: &str,
    event_type: String,
    created: Timestamp,
    data: &[u8],
    targets: &[&Endpoint],
    held: bool,
    now: Timestamp,
) -> NewEvent {
    let body = envelope(&id, &event_type, created, data, tenant_id);
    let draft = Draft {
        key,
        id,
        event_type,
        created,
        body,
        channels: Vec::new(),
        tags: Vec::new(),
    };
    build_from(draft, tenant_id, targets, held, now)
}

/// Everything of an event but its tenant and deliveries.
pub(super) struct Draft {
    key: u128,
    id: String,
    event_type: String,
    created: Timestamp,
    body: Vec<u8>,
    channels: Vec<String>,
    tags: Vec<String>,
}

/// The event of `draft` and one pending (or, if `held`, held) delivery
/// per target.
fn build_from(
    draft: Draft,
    tenant_id: &str,
    targets: &[&Endpoint],
    held: bool,
    now: Timestamp,
) -> NewEvent {
    let Draft {
        key,
        id,
        event_type,
        created,
        body,
        channels,
        tags,
    } = draft;
    let deliveries: Vec<Delivery> = targets
        .iter()
        .map(|e| Delivery {
            id: DeliveryId::new(now),
            event_key: key,
            event_id: id.clone(),
            event_type: event_type.clone(),
            endpoint_id: e.id,
            tenant_id: tenant_id.to_string(),
            state: DeliveryState::Pending,
            attempts: 0,
            next_attempt_at: (!held).then_some(now),
            held,
            last_status: None,
            last_error: None,
            created_at: now,
            updated_at: now,
        })
        .collect();
    let event = Event {
        key,
        id,
        tenant_id: tenant_id.to_string(),
        event_type,
        created,
        received_at: now,
        body,
        deliveries: deliveries
            .iter()
            .map(|d| (d.id.as_u128(), d.endpoint_id.as_u128()))
            .collect(),
        channels,
        tags,
    };
    NewEvent { event, deliveries }
}

/// The jobs for a new event's deliveries that are not held.
pub(super) fn jobs_of(n: &NewEvent, now: Timestamp) -> Vec<Due> {
    n.deliveries
        .iter()
        .filter(|d| !d.held)
        .map(|d| Due {
            due: now,
            delivery: d.id,
            endpoint: d.endpoint_id,
        })
        .collect()
}

/// An ingest on its way to disk: the caller awaits it
/// ([`Ingesting::outcome`], holding no thread while the group commit
/// happens) or waits for it ([`Ingesting::wait`]). Either way the new
/// deliveries reach the engine only once their records are durable.
#[must_use = "an ingest is answered only once its outcome is awaited"]
pub struct Ingesting {
    state: IngestState,
}

enum IngestState {
    /// Answered without a write (rejected, or a replayed Idempotency-Key).
    Answered(Result<IngestOutcome>),
    /// Waiting for the group commit.
    Committing(Ticket<CommitOutcome>, Commit),
}

/// What turns a durable commit into the answer.
struct Commit {
    store: Arc<dyn Store>,
    dispatch: Arc<dyn Dispatch>,
    submitted: Vec<Event>,
    jobs: Vec<Vec<Due>>,
}

impl Commit {
    fn finish(self, committed: crate::store::Result<CommitOutcome>) -> Result<IngestOutcome> {
        finish_ingest(
            self.store.as_ref(),
            self.dispatch.as_ref(),
            committed?,
            self.submitted,
            self.jobs,
        )
    }
}

impl Ingesting {
    /// The answer, once the events are durable (or the write failed).
    pub async fn outcome(self) -> Result<IngestOutcome> {
        match self.state {
            IngestState::Answered(r) => r,
            IngestState::Committing(ticket, commit) => commit.finish(ticket.await),
        }
    }

    /// Blocks until the answer is there. Never on an async executor's thread.
    pub fn wait(self) -> Result<IngestOutcome> {
        match self.state {
            IngestState::Answered(r) => r,
            IngestState::Committing(ticket, commit) => commit.finish(ticket.wait()),
        }
    }
}

/// An ingest request after validation and fan-out.
enum Prepared {
    /// Answered without a write (a replayed Idempotency-Key).
    Answer(IngestOutcome),
    /// The write to make durable.
    Write(PreparedWrite),
}

struct PreparedWrite {
    new_events: Vec<NewEvent>,
    idem: Option<Idempotency>,
    submitted: Vec<Event>,
    jobs: Vec<Vec<Due>>,
}

fn load_event(store: &dyn Store, key: u128) -> Result<Event> {
    store.event(key)?.ok_or(ServiceError::NotFound("event"))
}

fn replayed(store: &dyn Store, keys: Vec<u128>) -> Result<IngestOutcome> {
    let events = keys
        .into_iter()
        .map(|k| {
            load_event(store, k).map(|event| IngestedEvent {
                event,
                duplicate: false,
            })
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(IngestOutcome {
        events,
        replayed: true,
    })
}

/// Turns a durable commit into the answer, and hands the new deliveries
/// to the engine (only now: a job must never run ahead of its record).
fn finish_ingest(
    store: &dyn Store,
    dispatch: &dyn Dispatch,
    committed: CommitOutcome,
    submitted: Vec<Event>,
    jobs: Vec<Vec<Due>>,
) -> Result<IngestOutcome> {
    let results = match committed {
        CommitOutcome::Replayed(keys) => return replayed(store, keys),
        CommitOutcome::Done(results) => results,
    };
    let mut out = Vec::with_capacity(results.len());
    let mut due = Vec::new();
    let mut created = 0u64;
    for ((result, event), jobs) in results.into_iter().zip(submitted).zip(jobs) {
        match result {
            Committed::Created => {
                created += 1;
                due.extend(jobs);
                out.push(IngestedEvent {
                    event,
                    duplicate: false,
                });
            }
            Committed::Duplicate(k) => out.push(IngestedEvent {
                event: load_event(store, k)?,
                duplicate: true,
            }),
        }
    }
    crate::telemetry::EVENTS_INGESTED.fetch_add(created, std::sync::atomic::Ordering::Relaxed);
    crate::telemetry::DELIVERIES_CREATED
        .fetch_add(due.len() as u64, std::sync::atomic::Ordering::Relaxed);
    dispatch.dispatch(due);
    Ok(IngestOutcome {
        events: out,
        replayed: false,
    })
}

impl Herald {
    /// Accepts events: validates all, fans each out to the tenant's
    /// matching active endpoints, writes events and deliveries durably in
    /// one group-committed write, then hands due deliveries to the engine.
    /// Answers only once everything is on disk.
    pub fn ingest(
        &self,
        caller: &Caller,
        events: Vec<Value>,
        idempotency_key: Option<&str>,
    ) -> Result<IngestOutcome> {
        self.ingest_start(caller, events, idempotency_key).wait()
    }

    /// As [`Herald::ingest`], without waiting for the disk: everything
    /// before the write runs on the calling thread (it only reads, but
    /// for creating a tenant on its first event); the write is handed to
    /// the group committer, and the returned [`Ingesting`] answers once it
    /// is durable. An async caller thus holds no thread while the flush
    /// happens.
    pub fn ingest_start(
        &self,
        caller: &Caller,
        events: Vec<Value>,
        idempotency_key: Option<&str>,
    ) -> Ingesting {
        self.start_prepared(self.prepare_ingest(caller, events, idempotency_key))
    }

    fn start_prepared(&self, prepared: Result<Prepared>) -> Ingesting {
        let prepared = match prepared {
            Ok(Prepared::Answer(outcome)) => {
                return Ingesting {
                    state: IngestState::Answered(Ok(outcome)),
                }
            }
            Ok(Prepared::Write(w)) => w,
            Err(e) => {
                return Ingesting {
                    state: IngestState::Answered(Err(e)),
                }
            }
        };
        let PreparedWrite {
            new_events,
            idem,
            submitted,
            jobs,
        } = prepared;
        Ingesting {
            state: IngestState::Committing(
                self.store.commit_events(new_events, idem),
                Commit {
                    store: self.store.clone(),
                    dispatch: self.dispatch.clone(),
                    submitted,
                    jobs,
                },
            ),
        }
    }

    fn prepare_ingest(
        &self,
        caller: &Caller,
        events: Vec<Value>,
        idempotency_key: Option<&str>,
    ) -> Result<Prepared> {
        let mut batch = self.batch_ingest(caller, events.len(), idempotency_key)?;
        for v in events {
            batch.add(v)?;
        }
        self.prepare_inputs(batch)
    }

    /// Starts a batch ingest whose events come one at a time
    /// ([`BatchIngest::add`]), so each event's JSON tree can be dropped
    /// once it is validated and canonicalised: a batch costs its compact
    /// bytes, not the tree of the whole body. [`Herald::batch_start`]
    /// then makes it durable exactly as [`Herald::ingest_start`] does.
    pub fn batch_ingest<'a>(
        &self,
        caller: &Caller,
        count: usize,
        idempotency_key: Option<&'a str>,
    ) -> Result<BatchIngest<'a>> {
        // Who is calling comes first: a bad key is 401 whatever the body.
        let scope = self.tenant_scope(caller)?;
        // Then whether there is room: a full disk refuses before any work.
        self.room_for_events()?;
        if count == 0 || count > MAX_BATCH {
            return Err(ServiceError::invalid(
                "events",
                format!("send 1 to {MAX_BATCH} events"),
            ));
        }
        if let Some(k) = idempotency_key {
            if !valid_client_id(k) {
                return Err(ServiceError::invalid(
                    "Idempotency-Key",
                    format!("must be 1-{MAX_CLIENT_ID} characters from A-Z a-z 0-9 _ - . :"),
                ));
            }
        }
        Ok(BatchIngest {
            tenant_id: scope.tenant_id,
            idempotency_key,
            count,
            max_size: self.settings.max_event_size,
            inputs: Vec::with_capacity(count),
            types: self.event_types()?,
        })
    }

    /// Hands a batch whose every event was added to the group committer
    /// (see [`Herald::ingest_start`]).
    pub fn batch_start(&self, batch: BatchIngest<'_>) -> Ingesting {
        if batch.inputs.len() != batch.count {
            return Ingesting {
                state: IngestState::Answered(Err(ServiceError::invalid(
                    "events",
                    format!("send 1 to {MAX_BATCH} events"),
                ))),
            };
        }
        self.start_prepared(self.prepare_inputs(batch))
    }

    fn prepare_inputs(&self, batch: BatchIngest<'_>) -> Result<Prepared> {
        let BatchIngest {
            tenant_id,
            idempotency_key,
            inputs,
            ..
        } = batch;
        let suspended = self.ensure_tenant(&tenant_id)?.suspended;
        let now = self.clock.now();
        let not_before = now.plus_millis(-IDEMPOTENCY_WINDOW_MS);
        if let Some(k) = idempotency_key {
            if let Some(keys) = self.store.idempotent_events(&tenant_id, k, not_before)? {
                return replayed(self.store.as_ref(), keys).map(Prepared::Answer);
            }
        }

        let endpoints: Vec<_> = self
            .store
            .list_endpoints(&tenant_id, None, usize::MAX)?
            .into_iter()
            .filter(|e| e.active)
            .collect();
        let mut new_events = Vec::with_capacity(inputs.len());
        for input in inputs {
            let key = new_ulid(now).0;
            let id = input.id.unwrap_or_else(|| generated_id(key));
            let targets: Vec<&Endpoint> = endpoints
                .iter()
                .filter(|e| {
                    event_type::subscribed(&e.events, &input.event_type)
                        && channels_match(&e.channels, &input.channels)
                })
                .collect();
            let created = input.created.unwrap_or(now);
            let body = match input.payload {
                Payload::Data(data) => envelope(&id, &input.event_type, created, &data, &tenant_id),
                Payload::Raw(body) => body,
            };
            let draft = Draft {
                key,
                id,
                event_type: input.event_type,
                created,
                body,
                channels: input.channels,
                tags: input.tags,
            };
            new_events.push(build_from(draft, &tenant_id, &targets, suspended, now));
        }

        let idem = idempotency_key.map(|k| Idempotency {
            key: k.to_string(),
            tenant_id: tenant_id.clone(),
            now,
            not_before,
        });
        let submitted: Vec<Event> = new_events.iter().map(|n| n.event.clone()).collect();
        let jobs: Vec<Vec<Due>> = new_events.iter().map(|n| jobs_of(n, now)).collect();
        Ok(Prepared::Write(PreparedWrite {
            new_events,
            idem,
            submitted,
            jobs,
        }))
    }

    /// One event of the caller's tenant, by its public id, with its deliveries.
    pub fn get_event(&self, caller: &Caller, id: &str) -> Result<(Event, Vec<Delivery>)> {
        let scope = self.tenant_scope(caller)?;
        let event = self
            .store
            .event_by_id(&scope.tenant_id, id)?
            .ok_or(ServiceError::NotFound("event"))?;
        let deliveries = event
            .deliveries
            .iter()
            .map(|(d, _)| self.store.delivery(DeliveryId::from_u128(*d)))
            .collect::<std::result::Result<Vec<_>, _>>()?
            .into_iter()
            .flatten()
            .collect();
        Ok((event, deliveries))
    }

    /// Puts an endpoint's held deliveries back in the due index (due now)
    /// and hands them to the engine. Called when an endpoint is enabled or
    /// its tenant resumed.
    pub(super) fn release_held(&self, endpoint: EndpointId) -> Result<usize> {
        let now = self.clock.now();
        let held = self.store.held_deliveries(endpoint)?;
        let n = held.len();
        let mut waiting = Vec::with_capacity(n);
        for id in held {
            let Some(before) = self.store.delivery(id)? else {
                continue;
            };
            let after = Delivery {
                held: false,
                next_attempt_at: Some(now),
                updated_at: now,
                ..before
            };
            let due = Due {
                due: now,
                delivery: id,
                endpoint,
            };
            // Submitted together, so they share a group commit.
            waiting.push((self.store.update_delivery(&after, None), due));
        }
        let mut due = Vec::with_capacity(waiting.len());
        for (ticket, d) in waiting {
            ticket.wait()?;
            due.push(d);
        }
        self.dispatch.dispatch(due);
        if n > 0 {
            log::info!("endpoint {endpoint}: {n} held deliveries released");
        }
        Ok(n)
    }
}
