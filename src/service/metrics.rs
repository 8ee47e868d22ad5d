//! The seed's delivery metrics over a window, from the statistics rows.

use std::collections::BTreeMap;

use super::{Caller, Herald, Result, ServiceError};
use crate::domain::ids::EndpointId;
use crate::domain::stats::Grain;
use crate::domain::stats::Stats;
use crate::domain::time::Timestamp;

/// The longest window answered.
pub const MAX_WINDOW_MS: i64 = 90 * 86_400_000;

/// One endpoint's figures.
#[derive(Debug, Clone)]
pub struct EndpointMetrics {
    /// The endpoint.
    pub endpoint_id: EndpointId,
    /// Its tenant.
    pub tenant_id: String,
    /// Its URL now (`None` if it was deleted).
    pub url: Option<String>,
    /// Its counters over the window.
    pub stats: Stats,
}

/// Figures over a window.
#[derive(Debug, Clone)]
pub struct MetricsReport {
    /// The window asked for, ms.
    pub window_ms: i64,
    /// The first bucket counted.
    pub from: Timestamp,
    /// The end of the window (now).
    pub to: Timestamp,
    /// The bucket size used.
    pub grain: Grain,
    /// Everything summed.
    pub totals: Stats,
    /// Per endpoint, by endpoint id.
    pub endpoints: Vec<EndpointMetrics>,
}

/// What is wrong now, beside the window's figures: what an operator
/// must see first (the ended-delivery figures can read 100 % while every
/// endpoint fails).
#[derive(Debug, Clone, Default)]
pub struct FailingNow {
    /// Endpoints of the tenants looked at.
    pub endpoints: usize,
    /// Active endpoints whose last attempt failed, or endpoints Herald
    /// disabled, with their health.
    pub failing: Vec<(
        crate::domain::endpoint::Endpoint,
        crate::domain::health::Health,
    )>,
    /// Deliveries waiting for a retry after a failed attempt.
    pub retrying: usize,
    /// Whether `retrying` stopped counting at [`RETRYING_COUNT_MAX`]
    /// (then it is "at least").
    pub retrying_capped: bool,
    /// Alerts firing for these tenants.
    pub alerts_firing: usize,
}

/// How many retrying deliveries [`Herald::failing_now`] counts before it
/// answers "at least this many" (bounds the log scan of a busy tenant).
pub const RETRYING_COUNT_MAX: usize = 10_000;

/// The bucket size that answers a window from a few hundred rows per
/// endpoint: minutes up to 6 h, hours up to 14 days, days beyond.
pub fn grain_for(window_ms: i64) -> Grain {
    if window_ms <= 6 * 3_600_000 {
        Grain::Minute
    } else if window_ms <= 14 * 86_400_000 {
        Grain::Hour
    } else {
        Grain::Day
    }
}

/// Parses `24h`, `90m`, `7d` into ms, within (0, 90 days].
pub fn parse_window(s: &str) -> Result<i64> {
    let d = humantime::parse_duration(s.trim()).map_err(|_| {
        ServiceError::bad_query(
            "window",
            format!("window {s:?} is not a duration like 1h, 24h, 7d"),
        )
    })?;
    let ms = d.as_millis() as i64;
    if !(60_000..=MAX_WINDOW_MS).contains(&ms) {
        return Err(ServiceError::bad_query(
            "window",
            "window must be 1m to 90d",
        ));
    }
    Ok(ms)
}

impl Herald {
    /// The tenants a metrics call covers: the caller's, or every tenant
    /// for a platform key that names none.
    fn metric_tenants(&self, caller: &Caller) -> Result<Vec<String>> {
        match self.tenant_scope(caller) {
            Ok(scope) => Ok(vec![scope.tenant_id]),
            // Only a platform key or an operator (already authenticated
            // by `tenant_scope`) may name no tenant: it sees them all.
            Err(ServiceError::TenantRequired) => {
                let mut out = Vec::new();
                let mut after: Option<String> = None;
                loop {
                    let page = self.store.list_tenants(after.as_deref(), 500)?;
                    let Some(last) = page.last() else { break };
                    after = Some(last.id.clone());
                    out.extend(page.into_iter().map(|t| t.id));
                }
                Ok(out)
            }
            Err(e) => Err(e),
        }
    }

    /// Rows of the window `(now - window, now]`, aligned to `grain`.
    fn window_rows(
        &self,
        tenants: &[String],
        window_ms: i64,
        grain: Grain,
    ) -> Result<(Timestamp, Timestamp, Vec<crate::store::StatsRow>)> {
        let now = self.clock.now();
        let last = grain.floor(now);
        let from = Timestamp::from_millis(last.as_millis() - window_ms + grain.ms());
        let mut rows = Vec::new();
        for t in tenants {
            rows.extend(self.store.stats_rows(t, grain, from, last)?);
        }
        Ok((from, now, rows))
    }

    /// What is failing now for the caller's tenant (or every tenant for a
    /// platform key naming none): failing endpoints, retrying deliveries
    /// (counted up to [`RETRYING_COUNT_MAX`]), alerts firing.
    pub fn failing_now(&self, caller: &Caller) -> Result<FailingNow> {
        use crate::domain::alert::State;
        use crate::domain::delivery::Status;
        let tenants = self.metric_tenants(caller)?;
        // A caller that sees every tenant sees the alerts about Herald
        // itself too (they belong to no tenant of the platform's).
        let everything = matches!(self.tenant_scope(caller), Err(ServiceError::TenantRequired));
        let mut out = FailingNow::default();
        for t in &tenants {
            for ep in self.store.list_endpoints(t, None, usize::MAX)? {
                out.endpoints += 1;
                let health = self.store.endpoint_health(ep.id)?;
                if (ep.active && health.consecutive_failures > 0) || ep.disabled_reason.is_some() {
                    out.failing.push((ep, health));
                }
            }
            let mut before = None;
            loop {
                let filter = crate::store::DeliveryFilter {
                    tenant: t.clone(),
                    status: Some(Status::Retrying),
                    ..Default::default()
                };
                let page = self.store.list_deliveries(&filter, before, 1000)?;
                out.retrying += page.items.len();
                if out.retrying >= RETRYING_COUNT_MAX {
                    out.retrying_capped = true;
                    break;
                }
                match page.next {
                    Some(n) => before = Some(n),
                    None => break,
                }
            }
        }
        out.alerts_firing = self
            .store
            .alerts()?
            .iter()
            .filter(|a| a.state == State::Firing && (everything || tenants.contains(&a.tenant_id)))
            .count();
        Ok(out)
    }

    /// The seed's metrics over the last `window_ms`.
    pub fn metrics(&self, caller: &Caller, window_ms: i64) -> Result<MetricsReport> {
        let tenants = self.metric_tenants(caller)?;
        let grain = grain_for(window_ms);
        let (from, to, rows) = self.window_rows(&tenants, window_ms, grain)?;
        let mut totals = Stats::default();
        let mut per: BTreeMap<EndpointId, Stats> = BTreeMap::new();
        for r in &rows {
            totals.merge(&r.stats);
            per.entry(r.endpoint).or_default().merge(&r.stats);
        }
        let mut endpoints = Vec::with_capacity(per.len());
        for (id, stats) in per {
            let ep = self.store.endpoint(id)?;
            endpoints.push(EndpointMetrics {
                endpoint_id: id,
                tenant_id: ep.as_ref().map(|e| e.tenant_id.clone()).unwrap_or_default(),
                url: ep.map(|e| e.url),
                stats,
            });
        }
        Ok(MetricsReport {
            window_ms,
            from,
            to,
            grain,
            totals,
            endpoints,
        })
    }

    /// Per-bucket figures over the window, for charts: one entry per
    /// bucket (empty buckets included), summed over the tenant's
    /// endpoints, or one endpoint's if given.
    pub fn metrics_series(
        &self,
        caller: &Caller,
        endpoint: Option<&str>,
        window_ms: i64,
        grain: Grain,
    ) -> Result<Vec<(Timestamp, Stats)>> {
        let scope = self.tenant_scope(caller)?;
        let only = endpoint
            .map(|id| self.endpoint_of(&scope.tenant_id, id).map(|e| e.id))
            .transpose()?;
        let (from, now, rows) = self.window_rows(&[scope.tenant_id], window_ms, grain)?;
        let mut buckets: BTreeMap<i64, Stats> = BTreeMap::new();
        let mut t = from.as_millis();
        while t <= grain.floor(now).as_millis() {
            buckets.insert(t, Stats::default());
            t += grain.ms();
        }
        for r in rows.iter().filter(|r| only.is_none_or(|o| o == r.endpoint)) {
            buckets
                .entry(r.start.as_millis())
                .or_default()
                .merge(&r.stats);
        }
        Ok(buckets
            .into_iter()
            .map(|(t, s)| (Timestamp::from_millis(t), s))
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_pick_a_grain_that_keeps_rows_few() {
        assert_eq!(grain_for(3_600_000), Grain::Minute);
        assert_eq!(grain_for(86_400_000), Grain::Hour);
        assert_eq!(grain_for(90 * 86_400_000), Grain::Day);
        assert_eq!(parse_window("24h").unwrap(), 86_400_000);
        assert!(parse_window("91d").is_err());
        assert!(parse_window("soon").is_err());
    }
}
