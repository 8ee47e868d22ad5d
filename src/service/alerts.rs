//! Alerting: watches what the engine reports, runs each rule's state
//! machine per endpoint, stores every transition, and sends operational
//! events (`alert.firing`, `alert.resolved`, `endpoint.disabled`) to the
//! operator's URLs through the ordinary signed, retried delivery path, as
//! the deliveries of an internal tenant.

use std::collections::HashMap;
use std::time::Duration;

use crossbeam_channel::{Receiver, Sender};
use serde_json::{json, Value};

use super::events::{build_event, jobs_of};
use super::{Caller, Herald, Result, ServiceError, StoreFault};
use crate::delivery::EngineEvent;
use crate::domain::alert::{
    evaluate, Alert, Observation, Rule, State, Thresholds, Transition, HERALD_ITSELF,
};
use crate::domain::endpoint::{generate_secret, validate_url, Endpoint};
use crate::domain::ids::{new_ulid, EndpointId};
use crate::domain::stats::Grain;
use crate::domain::stats::Stats;
use crate::domain::tenant::Tenant;
use crate::domain::time::Timestamp;

/// The tenant whose endpoints receive operational events. Its id starts
/// with `_`, which API and CLI callers may not use for their tenants.
pub const INTERNAL_TENANT: &str = "_herald";
/// Firing alerts, each with its endpoint's URL, and recent transitions.
type AlertsWithUrls = (Vec<(Alert, String)>, Vec<Transition>);
/// How often rules are re-evaluated without new attempts.
const TICK: Duration = Duration::from_secs(30);
/// The window rules are evaluated at most this often per endpoint.
const WINDOW_EVERY_MS: i64 = 10_000;

impl Herald {
    /// Makes the internal tenant's endpoints match the operator's alert
    /// URLs: one active endpoint per URL (subscribed to everything), and
    /// any other internal endpoint disabled. With `secret`, every one signs
    /// with it, so the operator can verify without reading it back.
    pub fn sync_alert_endpoints(&self, urls: &[String], secret: Option<&str>) -> Result<()> {
        match self.sync_alert_endpoints_once(urls, secret) {
            // Nodes sharing a store and started together may both add the
            // same endpoint; the one that lost the race finds it made the
            // second time and only brings it in line.
            Err(ServiceError::Store {
                fault: StoreFault::UrlTaken,
                ..
            }) => self.sync_alert_endpoints_once(urls, secret),
            other => other,
        }
    }

    fn sync_alert_endpoints_once(&self, urls: &[String], secret: Option<&str>) -> Result<()> {
        let now = self.clock.now();
        if self.store.tenant(INTERNAL_TENANT)?.is_none() && !urls.is_empty() {
            self.store.insert_tenant(&Tenant {
                id: INTERNAL_TENANT.into(),
                name: "Herald operational events".into(),
                suspended: false,
                created_at: now,
                updated_at: now,
                metadata: Default::default(),
            })?;
        }
        let existing = self
            .store
            .list_endpoints(INTERNAL_TENANT, None, usize::MAX)?;
        let mut wanted = Vec::new();
        for raw in urls {
            let url = validate_url(raw, true)?.to_string();
            wanted.push(url.clone());
            match existing.iter().find(|e| e.url == url) {
                None => {
                    let ep = Endpoint {
                        id: EndpointId::new(now),
                        tenant_id: INTERNAL_TENANT.into(),
                        url,
                        events: vec!["*".into()],
                        description: "operator alerts (--alert-url)".into(),
                        active: true,
                        secret: secret.map_or_else(generate_secret, str::to_string),
                        previous_secrets: vec![],
                        disabled_reason: None,
                        revision: 0,
                        created_at: now,
                        updated_at: now,
                        uid: None,
                        headers: Default::default(),
                        channels: Vec::new(),
                        metadata: Default::default(),
                        svix_headers: false,
                        rate_limit: None,
                        ordered: false,
                        kind: crate::domain::endpoint::EndpointKind::Url,
                        stream_seen_at: None,
                    };
                    self.store.insert_endpoint(&ep)?;
                }
                Some(e) => {
                    let mut after = e.clone();
                    after.active = true;
                    if let Some(s) = secret {
                        after.secret = s.to_string();
                    }
                    if &after != e {
                        self.store.update_endpoint(&after)?;
                    }
                }
            }
        }
        for e in existing
            .iter()
            .filter(|e| e.active && !wanted.contains(&e.url))
        {
            let after = Endpoint {
                active: false,
                ..e.clone()
            };
            self.store.update_endpoint(&after)?;
        }
        Ok(())
    }

    /// Sends an operational event to the operator's alert URLs, if any.
    fn emit_operational(&self, event_type: &str, object: Value) -> Result<()> {
        let targets: Vec<Endpoint> = self
            .store
            .list_endpoints(INTERNAL_TENANT, None, usize::MAX)?
            .into_iter()
            .filter(|e| e.active)
            .collect();
        if targets.is_empty() {
            return Ok(());
        }
        let now = self.clock.now();
        let key = new_ulid(now).0;
        let mut data = Vec::new();
        crate::wire::write_compact(&json!({ "object": object }), &mut data);
        let refs: Vec<&Endpoint> = targets.iter().collect();
        let ne = build_event(
            key,
            format!("evt_{}", ulid::Ulid(key)),
            INTERNAL_TENANT,
            event_type.to_string(),
            now,
            &data,
            &refs,
            false,
            now,
        );
        let jobs = jobs_of(&ne, now);
        self.store.commit_events(vec![ne], None).wait()?;
        self.dispatch.dispatch(jobs);
        Ok(())
    }

    /// Firing alerts and recent transitions the caller may see: its
    /// tenant's, or everything for a platform key naming no tenant.
    pub fn alerts_view(
        &self,
        caller: &Caller,
        limit: usize,
    ) -> Result<(Vec<Alert>, Vec<Transition>)> {
        let tenant = match self.tenant_scope(caller) {
            Ok(s) => Some(s.tenant_id),
            Err(ServiceError::TenantRequired) => None,
            Err(e) => return Err(e),
        };
        let mine = |t: &str| tenant.as_deref().is_none_or(|x| x == t);
        let firing = self
            .store
            .alerts()?
            .into_iter()
            .filter(|a| a.state == State::Firing && mine(&a.tenant_id))
            .collect();
        let history = self
            .store
            .alert_history(limit.saturating_mul(4).max(100))?
            .into_iter()
            .filter(|t| mine(&t.tenant_id))
            .take(limit)
            .collect();
        Ok((firing, history))
    }

    /// [`Herald::alerts_view`] with each firing alert's endpoint URL
    /// (empty when the endpoint is gone), as the admin panel lists them.
    pub fn alerts_with_urls(&self, caller: &Caller, limit: usize) -> Result<AlertsWithUrls> {
        let (firing, history) = self.alerts_view(caller, limit)?;
        let firing = firing
            .into_iter()
            .map(|a| {
                let url = self
                    .store
                    .endpoint(a.endpoint_id)
                    .ok()
                    .flatten()
                    .map(|e| e.url)
                    .unwrap_or_default();
                (a, url)
            })
            .collect();
        Ok((firing, history))
    }

    /// An endpoint's statistics over the alert window.
    fn window_stats(&self, ep: &Endpoint, window_ms: i64, now: Timestamp) -> Result<Stats> {
        let grain = Grain::Minute;
        let last = grain.floor(now);
        let from = Timestamp::from_millis(last.as_millis() - window_ms + grain.ms());
        let mut s = Stats::default();
        for r in self.store.stats_rows(&ep.tenant_id, grain, from, last)? {
            if r.endpoint == ep.id {
                s.merge(&r.stats);
            }
        }
        Ok(s)
    }

    /// Applies a rule's verdict for an endpoint: stores, logs and sends it.
    fn alert_transition(&self, rule: Rule, ep: &Endpoint, to: State, detail: String) -> Result<()> {
        let now = self.clock.now();
        let alert = Alert {
            rule,
            endpoint_id: ep.id,
            tenant_id: ep.tenant_id.clone(),
            state: to,
            since: now,
            detail: detail.clone(),
        };
        let t = Transition {
            rule,
            endpoint_id: ep.id,
            tenant_id: ep.tenant_id.clone(),
            url: ep.url.clone(),
            to,
            at: now,
            detail: detail.clone(),
        };
        if !self.store.put_alert(&alert, &t)? {
            return Ok(()); // another node made this transition
        }
        let (event, word) = match to {
            State::Firing => ("alert.firing", "firing"),
            State::Ok => ("alert.resolved", "resolved"),
        };
        log::warn!(
            "alert {word}: {} for endpoint {} ({}): {detail}",
            rule.as_str(),
            ep.id,
            ep.url
        );
        self.emit_operational(
            event,
            json!({
                "rule": rule.as_str(),
                "state": word,
                "tenant_id": ep.tenant_id,
                "webhook_id": ep.id.to_string(),
                "url": ep.url,
                "detail": detail,
                "at": now.to_rfc3339_secs(),
            }),
        )
    }
}

impl Herald {
    /// Stores, logs and sends a change of the `storage` alert (about Herald
    /// itself: its data directory's disk and store).
    pub(super) fn storage_transition(&self, to: State, detail: String) -> Result<()> {
        let dir = self
            .settings
            .data_dir
            .as_ref()
            .map(|d| d.display().to_string())
            .unwrap_or_default();
        self.herald_transition(Rule::Storage, to, detail, &dir)
    }

    /// Stores, logs and sends a change of an alert about Herald itself
    /// (`storage`, `backup`); `place` is what it is about (a directory),
    /// kept as the transition's URL.
    pub(super) fn herald_transition(
        &self,
        rule: Rule,
        to: State,
        detail: String,
        place: &str,
    ) -> Result<()> {
        let now = self.clock.now();
        let alert = Alert {
            rule,
            endpoint_id: HERALD_ITSELF,
            tenant_id: INTERNAL_TENANT.into(),
            state: to,
            since: now,
            detail: detail.clone(),
        };
        let t = Transition {
            rule,
            endpoint_id: HERALD_ITSELF,
            tenant_id: INTERNAL_TENANT.into(),
            url: place.to_string(),
            to,
            at: now,
            detail: detail.clone(),
        };
        if !self.store.put_alert(&alert, &t)? {
            return Ok(()); // another node made this transition
        }
        let word = match to {
            State::Firing => "firing",
            State::Ok => "resolved",
        };
        log::warn!("alert {word}: {} for {place}: {detail}", rule.as_str());
        self.emit_operational(
            if to == State::Firing {
                "alert.firing"
            } else {
                "alert.resolved"
            },
            json!({
                "rule": rule.as_str(),
                "state": word,
                "place": place,
                "detail": detail,
                "at": now.to_rfc3339_secs(),
            }),
        )
    }
}

/// The alert watcher's state.
struct Watcher {
    herald: Herald,
    thresholds: Thresholds,
    last_window: HashMap<EndpointId, Timestamp>,
}

impl Watcher {
    fn evaluate(&mut self, ep: &Endpoint, obs: &mut Observation, window: bool) -> Result<()> {
        let now = self.herald.clock.now();
        if window {
            obs.window = Some(
                self.herald
                    .window_stats(ep, self.thresholds.window_ms, now)?,
            );
            self.last_window.insert(ep.id, now);
        }
        for rule in Rule::ALL {
            if obs.window.is_none() && matches!(rule, Rule::FailureRate | Rule::SlowResponses) {
                continue;
            }
            let current = self
                .herald
                .store
                .alert(rule, ep.id)?
                .map_or(State::Ok, |a| a.state);
            if let Some((to, detail)) = evaluate(rule, current, obs, &self.thresholds) {
                self.herald.alert_transition(rule, ep, to, detail)?;
            }
        }
        Ok(())
    }

    fn handle(&mut self, ev: EngineEvent) -> Result<()> {
        if self.herald.paused() {
            return Ok(()); // paused: no alert state changes, nothing sent
        }
        match ev {
            EngineEvent::Attempted {
                endpoint,
                health,
                at,
            } => {
                let Some(ep) = self.herald.store.endpoint(endpoint)? else {
                    return Ok(());
                };
                if ep.tenant_id == INTERNAL_TENANT {
                    return Ok(()); // alerts about alert delivery would loop
                }
                let window = self
                    .last_window
                    .get(&endpoint)
                    .is_none_or(|t| at.as_millis() - t.as_millis() >= WINDOW_EVERY_MS);
                let mut obs = Observation {
                    health,
                    window: None,
                    disabled: (!ep.active).then(|| ep.disabled_reason.clone()).flatten(),
                };
                self.evaluate(&ep, &mut obs, window)
            }
            EngineEvent::Disabled {
                endpoint,
                reason,
                at,
            } => {
                let Some(ep) = self.herald.store.endpoint(endpoint)? else {
                    return Ok(());
                };
                if ep.tenant_id == INTERNAL_TENANT {
                    return Ok(());
                }
                self.herald.emit_operational(
                    "endpoint.disabled",
                    json!({
                        "tenant_id": ep.tenant_id,
                        "webhook_id": ep.id.to_string(),
                        "url": ep.url,
                        "reason": reason,
                        "at": at.to_rfc3339_secs(),
                    }),
                )?;
                let mut obs = Observation {
                    health: self.herald.store.endpoint_health(endpoint)?,
                    window: None,
                    disabled: Some(reason),
                };
                self.evaluate(&ep, &mut obs, false)
            }
        }
    }

    /// Re-evaluates every endpoint with a firing alert, so alerts resolve
    /// (re-enabled, traffic recovered) without waiting for an attempt.
    fn tick(&mut self) -> Result<()> {
        if self.herald.paused() {
            return Ok(());
        }
        let firing: Vec<EndpointId> = self
            .herald
            .store
            .alerts()?
            .into_iter()
            .filter(|a| a.state == State::Firing)
            .map(|a| a.endpoint_id)
            .collect();
        for id in firing {
            let Some(ep) = self.herald.store.endpoint(id)? else {
                continue;
            };
            let mut obs = Observation {
                health: self.herald.store.endpoint_health(id)?,
                window: None,
                disabled: (!ep.active).then(|| ep.disabled_reason.clone()).flatten(),
            };
            self.evaluate(&ep, &mut obs, true)?;
        }
        Ok(())
    }
}

/// The alert watcher thread; stops (and is joined) when dropped.
#[must_use = "dropping the handle stops the watcher"]
pub struct AlertWatcher {
    stop: Option<Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Drop for AlertWatcher {
    fn drop(&mut self) {
        // Disconnecting the stop channel ends the thread once it has
        // handled the reports already queued.
        self.stop.take();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Starts the alert watcher on its own thread. It ends when the returned
/// handle is dropped (after the reports already in `events`) or when
/// every sender of `events` is gone.
pub fn start_alerts(
    herald: Herald,
    events: Receiver<EngineEvent>,
    thresholds: Thresholds,
) -> AlertWatcher {
    let (stop_tx, stop) = crossbeam_channel::bounded::<()>(0);
    let mut w = Watcher {
        herald,
        thresholds,
        last_window: HashMap::new(),
    };
    let thread = std::thread::Builder::new()
        .name("herald-alerts".into())
        .spawn(move || loop {
            let r = crossbeam_channel::select! {
                recv(events) -> ev => match ev {
                    Ok(ev) => w.handle(ev),
                    Err(_) => return,
                },
                recv(stop) -> _ => {
                    // The engine has stopped before this: what it reported
                    // is all queued, so handle it and end.
                    for ev in events.try_iter() {
                        if let Err(e) = w.handle(ev) {
                            log::error!("alerting: {e}");
                        }
                    }
                    return;
                },
                default(TICK) => w.tick(),
            };
            if let Err(e) = r {
                log::error!("alerting: {e}");
            }
        })
        .expect("spawning the alert thread");
    AlertWatcher {
        stop: Some(stop_tx),
        thread: Some(thread),
    }
}
