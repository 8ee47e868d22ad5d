//! Paused deliveries (`herald serve --paused`, `POST /api/v1/admin/pause`
//! and `/resume`, the panel's banner button): the API and the panel work,
//! ingest still accepts and stores events, but the engine hands no
//! delivery to its workers and the alert watcher sends nothing, so a
//! restored or copied data directory can be inspected without reaching
//! customers' receivers. Deliveries stay pending in the due index and go
//! out once resumed.

use super::{Caller, Herald, Result};

impl Herald {
    /// Whether deliveries (and alerts) are paused.
    pub fn paused(&self) -> bool {
        self.dispatch.paused()
    }

    /// Pauses deliveries and alerts (platform key or operator); the
    /// attempts already under way finish. Answers the state after.
    pub fn pause_deliveries(&self, caller: &Caller) -> Result<bool> {
        self.require_platform(caller)?;
        if !self.paused() {
            self.dispatch.pause();
            log::warn!("deliveries and alerts paused: nothing is sent until resumed");
        }
        Ok(self.paused())
    }

    /// Resumes deliveries and alerts (platform key or operator): what is
    /// due goes out now. Answers the state after.
    pub fn resume_deliveries(&self, caller: &Caller) -> Result<bool> {
        self.require_platform(caller)?;
        if self.paused() {
            self.dispatch.resume();
            log::info!("deliveries and alerts resumed");
        }
        Ok(self.paused())
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
    use std::sync::Arc;

    use super::*;
    use crate::clock::ManualClock;
    use crate::delivery::Dispatch;
    use crate::domain::time::Timestamp;
    use crate::service::{NewKey, ServiceError, Settings};
    use crate::store::Due;

    /// A dispatcher that only records the pause state and wakes.
    #[derive(Default)]
    struct Switch {
        paused: AtomicBool,
        resumed: AtomicUsize,
    }

    impl Dispatch for Switch {
        fn dispatch(&self, _: Vec<Due>) {}
        fn wake(&self) {}
        fn pause(&self) {
            self.paused.store(true, Ordering::SeqCst);
        }
        fn resume(&self) {
            self.paused.store(false, Ordering::SeqCst);
            self.resumed.fetch_add(1, Ordering::SeqCst);
        }
        fn paused(&self) -> bool {
            self.paused.load(Ordering::SeqCst)
        }
    }

    #[test]
    fn only_the_platform_pauses_and_resumes_and_readiness_says_so() {
        let clock = Arc::new(ManualClock::new(Timestamp::from_millis(1_705_314_600_000)));
        let switch = Arc::new(Switch::default());
        let h = Herald::new(crate::store::temporary(), clock, Settings::offline())
            .with_dispatch(switch.clone());
        let local = Caller::Local { tenant: None };
        h.create_tenant(
            &local,
            crate::service::NewTenant {
                id: "acme".into(),
                name: None,
                metadata: Default::default(),
            },
        )
        .unwrap();
        let tenant_key = h
            .create_key(
                &local,
                NewKey {
                    name: "acme".into(),
                    tenant_id: Some("acme".into()),
                    scope: None,
                },
            )
            .unwrap();
        let tenant = Caller::Api {
            bearer: Some(tenant_key.text),
            tenant: None,
        };
        assert!(matches!(
            h.pause_deliveries(&tenant),
            Err(ServiceError::Forbidden(_))
        ));
        assert!(!h.paused());
        let ready_before = h.readiness().0;
        assert!(h.pause_deliveries(&local).unwrap());
        assert!(h.pause_deliveries(&local).unwrap(), "idempotent");
        assert_eq!(h.readiness().1["paused"], true);
        assert_eq!(
            h.readiness().0,
            ready_before,
            "pausing does not change readiness"
        );
        assert!(matches!(
            h.resume_deliveries(&tenant),
            Err(ServiceError::Forbidden(_))
        ));
        assert!(!h.resume_deliveries(&local).unwrap());
        assert!(!h.resume_deliveries(&local).unwrap());
        assert_eq!(switch.resumed.load(Ordering::SeqCst), 1, "resumed once");
        assert_eq!(h.readiness().1["paused"], false);
    }
}
