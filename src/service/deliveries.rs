//! The delivery log and manual operations: resend, replay, test events.

use serde::Deserialize;
use serde_json::json;

use super::events::{build_event, jobs_of};
use super::{Caller, Herald, IngestOutcome, IngestedEvent, Result, ServiceError};
use crate::domain::delivery::{Attempt, Delivery, DeliveryState, Status};
use crate::domain::endpoint::Endpoint;
use crate::domain::ids::{first_ulid_at, new_ulid, DeliveryId, EndpointId};
use crate::domain::samples::sample_object;
use crate::domain::time::Timestamp;
use crate::store::{CommitOutcome, DeliveryFilter, DeliveryPage, Due};

/// What "retry now" re-queued.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Requeued {
    /// Deliveries that had failed at least once and waited for a retry.
    pub retrying: usize,
    /// Failed (given-up) deliveries, when asked for.
    pub failed: usize,
}

/// Filters of `GET /api/v1/deliveries`, raw from the query string.
#[derive(Debug, Clone, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct LogQuery {
    /// `ep_…`.
    pub webhook_id: Option<String>,
    /// An event type.
    pub event: Option<String>,
    /// `pending`, `retrying`, `held`, `succeeded`, `failed`.
    pub status: Option<String>,
    /// RFC 3339.
    pub since: Option<String>,
    /// RFC 3339.
    pub until: Option<String>,
    /// Page size.
    pub limit: Option<String>,
    /// Opaque cursor.
    pub cursor: Option<String>,
}

fn time_param(name: &'static str, v: Option<&str>) -> Result<Option<Timestamp>> {
    v.filter(|s| !s.is_empty())
        .map(|s| {
            Timestamp::parse_rfc3339(s).ok_or_else(|| {
                ServiceError::bad_query(
                    name,
                    format!("{name} must be an RFC 3339 time, e.g. 2024-01-15T10:30:00Z"),
                )
            })
        })
        .transpose()
}

impl Herald {
    /// The delivery log of the caller's tenant, newest first.
    pub fn list_deliveries(&self, caller: &Caller, q: &LogQuery) -> Result<DeliveryPage> {
        let scope = self.tenant_scope(caller)?;
        let page = super::PageRequest::parse(q.limit.as_deref(), q.cursor.as_deref())?;
        let before = page.after_id()?.map(DeliveryId::from_bytes);
        let endpoint = match q.webhook_id.as_deref().filter(|s| !s.is_empty()) {
            None => None,
            Some(id) => {
                // Another tenant's endpoint id yields nothing, like an unknown one.
                let ep = self.endpoint_of(&scope.tenant_id, id).map_err(|_| {
                    ServiceError::bad_query(
                        "webhook_id",
                        format!("webhook_id {id:?} is not an endpoint of this tenant"),
                    )
                })?;
                Some(ep.id)
            }
        };
        let event_type = match q.event.as_deref().filter(|s| !s.is_empty()) {
            None => None,
            Some(e) if self.event_types()?.catalog().contains(e) => Some(e.to_string()),
            Some(e) => {
                return Err(ServiceError::bad_query(
                    "event",
                    format!("unknown event type {e:?}"),
                ))
            }
        };
        let status = match q.status.as_deref().filter(|s| !s.is_empty()) {
            None => None,
            Some(s) => Some(Status::parse(s).ok_or_else(|| {
                ServiceError::bad_query(
                    "status",
                    "status must be pending, retrying, held, succeeded or failed",
                )
            })?),
        };
        let filter = DeliveryFilter {
            tenant: scope.tenant_id,
            endpoint,
            event_type,
            status,
            since: time_param("since", q.since.as_deref())?,
            until: time_param("until", q.until.as_deref())?,
        };
        Ok(self.store.list_deliveries(&filter, before, page.limit)?)
    }

    /// "Find a delivery": a delivery id (`dlv_…`), an event id or an
    /// event's client id, as pasted from a customer's ticket, in the
    /// caller's tenant. Answers the delivery to show (an event's first),
    /// or `None` for an event that has no delivery (no endpoint
    /// subscribed); another tenant's id is not found.
    pub fn find_delivery(&self, caller: &Caller, text: &str) -> Result<Option<Delivery>> {
        let scope = self.tenant_scope(caller)?;
        let text = text.trim();
        if text.starts_with(DeliveryId::PREFIX) {
            return self.delivery_of(&scope.tenant_id, text).map(Some);
        }
        if text.is_empty() || text.len() > 200 {
            return Err(ServiceError::NotFound("delivery or event"));
        }
        let event = self
            .store
            .event_by_id(&scope.tenant_id, text)?
            .ok_or(ServiceError::NotFound("delivery or event"))?;
        match event.deliveries.first() {
            Some((d, _)) => Ok(self.store.delivery(DeliveryId::from_u128(*d))?),
            None => Ok(None),
        }
    }

    fn delivery_of(&self, tenant: &str, id: &str) -> Result<Delivery> {
        let id: DeliveryId = id.parse().map_err(|_| ServiceError::NotFound("delivery"))?;
        self.store
            .delivery(id)?
            .filter(|d| d.tenant_id == tenant)
            .ok_or(ServiceError::NotFound("delivery"))
    }

    /// One delivery with its attempts (oldest first).
    pub fn get_delivery(&self, caller: &Caller, id: &str) -> Result<(Delivery, Vec<Attempt>)> {
        let scope = self.tenant_scope(caller)?;
        let d = self.delivery_of(&scope.tenant_id, id)?;
        // An attempt and its delivery's new state are applied together, so
        // the delivery read after the attempts is at least as new as the
        // last of them: the view never shows an attempt with the state from
        // before it (reads are not one snapshot). An attempt recorded
        // between the two reads would leave the state newer than the list
        // (say `succeeded` with only the failure listed): then the list is
        // read again, a few times at most.
        let mut attempts = self.store.attempts(d.id)?;
        let mut d = self.store.delivery(d.id)?.unwrap_or(d);
        for _ in 0..3 {
            if attempts.len() >= d.attempts as usize {
                break;
            }
            attempts = self.store.attempts(d.id)?;
            d = self.store.delivery(d.id)?.unwrap_or(d);
        }
        Ok((d, attempts))
    }

    /// Writes `after` and waits until it is durable.
    fn put_delivery(&self, after: &Delivery) -> Result<()> {
        Ok(self.store.update_delivery(after, None).wait()?)
    }

    fn ready_endpoint(&self, ep: &Endpoint) -> Result<()> {
        if !ep.active {
            return Err(ServiceError::invalid(
                "webhook_id",
                "the endpoint is disabled; enable it first",
            ));
        }
        if self
            .store
            .tenant(&ep.tenant_id)?
            .is_some_and(|t| t.suspended)
        {
            return Err(ServiceError::invalid("tenant", "the tenant is suspended"));
        }
        Ok(())
    }

    /// Makes a delivery due now: pending, not held; `then` dispatches it.
    fn requeue(&self, d: &Delivery, now: Timestamp) -> Result<Due> {
        let after = Delivery {
            state: DeliveryState::Pending,
            held: false,
            next_attempt_at: Some(now),
            updated_at: now,
            ..d.clone()
        };
        self.put_delivery(&after)?;
        Ok(Due {
            due: now,
            delivery: d.id,
            endpoint: d.endpoint_id,
        })
    }

    /// One more attempt now, same event and body; counted in its history.
    pub fn resend(&self, caller: &Caller, id: &str) -> Result<Delivery> {
        let scope = self.tenant_scope(caller)?;
        let d = self.delivery_of(&scope.tenant_id, id)?;
        let ep = self
            .store
            .endpoint(d.endpoint_id)?
            .ok_or_else(|| ServiceError::invalid("id", "its endpoint was deleted"))?;
        self.ready_endpoint(&ep)?;
        let now = self.clock.now();
        let due = self.requeue(&d, now)?;
        self.dispatch.dispatch(vec![due]);
        log::info!("delivery {} resent", d.id);
        Ok(self.store.delivery(d.id)?.unwrap_or(d))
    }

    /// Re-queues every failed delivery of an endpoint created since
    /// `since`. Idempotent: re-queued deliveries are pending, not failed.
    pub fn replay(&self, caller: &Caller, endpoint: &str, since: &str) -> Result<usize> {
        let scope = self.tenant_scope(caller)?;
        let ep = self.endpoint_of(&scope.tenant_id, endpoint)?;
        self.ready_endpoint(&ep)?;
        let since = Timestamp::parse_rfc3339(since).ok_or_else(|| {
            ServiceError::invalid(
                "since",
                "must be an RFC 3339 time, e.g. 2024-01-15T10:30:00Z",
            )
        })?;
        let now = self.clock.now();
        // Ids embed their creation time: start the scan at `since`.
        let mut after = Some(DeliveryId::from_u128(
            first_ulid_at(since.max(Timestamp::from_millis(1))) - 1,
        ));
        let mut due = Vec::new();
        loop {
            let page = self.store.endpoint_deliveries(ep.id, after, 1000)?;
            let Some(last) = page.last() else { break };
            after = Some(last.id);
            for d in page.iter().filter(|d| d.state == DeliveryState::Failed) {
                due.push(self.requeue(d, now)?);
            }
        }
        let n = due.len();
        self.dispatch.dispatch(due);
        log::info!("endpoint {}: {n} failed deliveries replayed", ep.id);
        Ok(n)
    }

    /// Re-queues every failed delivery of an endpoint created at or after
    /// `since` and, with `until`, before it (Svix's "recover"). Idempotent,
    /// as [`Herald::replay`].
    pub fn replay_between(
        &self,
        caller: &Caller,
        endpoint: &str,
        since: Timestamp,
        until: Option<Timestamp>,
    ) -> Result<usize> {
        let scope = self.tenant_scope(caller)?;
        let ep = self.endpoint_of(&scope.tenant_id, endpoint)?;
        self.ready_endpoint(&ep)?;
        if until.is_some_and(|u| u <= since) {
            return Err(ServiceError::invalid("until", "must be later than since"));
        }
        let now = self.clock.now();
        let mut after = Some(DeliveryId::from_u128(
            first_ulid_at(since.max(Timestamp::from_millis(1))) - 1,
        ));
        let mut due = Vec::new();
        'scan: loop {
            let page = self.store.endpoint_deliveries(ep.id, after, 1000)?;
            let Some(last) = page.last() else { break };
            after = Some(last.id);
            for d in &page {
                if until.is_some_and(|u| d.created_at >= u) {
                    break 'scan;
                }
                if d.state == DeliveryState::Failed && d.created_at >= since {
                    due.push(self.requeue(d, now)?);
                }
            }
        }
        let n = due.len();
        self.dispatch.dispatch(due);
        log::info!("endpoint {}: {n} failed deliveries recovered", ep.id);
        Ok(n)
    }

    /// "Retry now": every retrying delivery of an endpoint is made due at
    /// once, and with `failed_since` every failed one created since then
    /// too (as [`Herald::replay`]). Idempotent: a second call finds them
    /// due already and makes them due again, nothing more. They go through
    /// the dispatcher like any job, so the endpoint's in-flight cap keeps a
    /// recovered receiver from being stampeded.
    pub fn retry_now(
        &self,
        caller: &Caller,
        endpoint: &str,
        failed_since: Option<&str>,
    ) -> Result<Requeued> {
        let scope = self.tenant_scope(caller)?;
        let ep = self.endpoint_of(&scope.tenant_id, endpoint)?;
        self.ready_endpoint(&ep)?;
        // A field of the request's body, not of its query: a bad one is a
        // validation failure (422), like every other body field.
        let failed_since = time_param("failed_since", failed_since).map_err(|e| match e {
            ServiceError::BadQuery { .. } => ServiceError::invalid(
                "failed_since",
                "failed_since must be an RFC 3339 time, e.g. 2024-01-15T10:30:00Z",
            ),
            other => other,
        })?;
        let now = self.clock.now();
        let mut out = Requeued::default();
        let mut due = Vec::new();
        let mut after = None;
        loop {
            let page = self.store.endpoint_deliveries(ep.id, after, 1000)?;
            let Some(last) = page.last() else { break };
            after = Some(last.id);
            for d in &page {
                let take = match d.status() {
                    Status::Retrying => {
                        out.retrying += 1;
                        true
                    }
                    Status::Failed if failed_since.is_some_and(|t| d.created_at >= t) => {
                        out.failed += 1;
                        true
                    }
                    _ => false,
                };
                if take {
                    due.push(self.requeue(d, now)?);
                }
            }
        }
        self.dispatch.dispatch(due);
        log::info!(
            "endpoint {}: retry now: {} retrying and {} failed deliveries re-queued",
            ep.id,
            out.retrying,
            out.failed
        );
        Ok(out)
    }

    /// Sends a sample event of `event_type` to one endpoint (whatever it
    /// subscribes to). Its id is `evt_test_…`; it shows in the log like any.
    pub fn send_test(
        &self,
        caller: &Caller,
        endpoint: &str,
        event_type: &str,
    ) -> Result<IngestOutcome> {
        let scope = self.tenant_scope(caller)?;
        let ep = self.endpoint_of(&scope.tenant_id, endpoint)?;
        if !self.event_types()?.catalog().contains(event_type) {
            return Err(ServiceError::UnknownEventType(event_type.to_string()));
        }
        self.ready_endpoint(&ep)?;
        let now = self.clock.now();
        let key = new_ulid(now).0;
        let id = format!("evt_test_{}", ulid::Ulid(key));
        let mut data = Vec::new();
        crate::wire::write_compact(&json!({ "object": sample_object(event_type) }), &mut data);
        let ne = build_event(
            key,
            id,
            &ep.tenant_id,
            event_type.to_string(),
            now,
            &data,
            &[&ep],
            false,
            now,
        );
        let jobs = jobs_of(&ne, now);
        let event = ne.event.clone();
        match self.store.commit_events(vec![ne], None).wait()? {
            CommitOutcome::Done(_) | CommitOutcome::Replayed(_) => {}
        }
        self.dispatch.dispatch(jobs);
        Ok(IngestOutcome {
            events: vec![IngestedEvent {
                event,
                duplicate: false,
            }],
            replayed: false,
        })
    }

    /// Fails every pending delivery of an endpoint (it is being deleted).
    pub(super) fn cancel_pending(&self, endpoint: EndpointId, reason: &str) -> Result<usize> {
        let now = self.clock.now();
        let mut after = None;
        let mut n = 0;
        loop {
            let page = self.store.endpoint_deliveries(endpoint, after, 1000)?;
            let Some(last) = page.last() else { break };
            after = Some(last.id);
            for d in page.iter().filter(|d| d.state == DeliveryState::Pending) {
                let failed = Delivery {
                    state: DeliveryState::Failed,
                    held: false,
                    next_attempt_at: None,
                    last_error: Some(reason.to_string()),
                    updated_at: now,
                    ..d.clone()
                };
                self.put_delivery(&failed)?;
                n += 1;
            }
        }
        Ok(n)
    }
}
