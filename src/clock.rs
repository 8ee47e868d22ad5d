//! Time as an injected dependency.
//!
//! Nothing in Herald reads the wall clock directly: the scheduler, the retry
//! policy and the recorder take a [`Clock`], so tests can run a 24-hour retry
//! schedule in milliseconds with a [`ManualClock`].
//!
//! Threads that wait for a time (the retention purge; later the store's
//! write-behind timer) wait on the clock too, with an [`Alarm`]: a channel
//! that receives once the clock reads a deadline. Being a channel, it
//! selects with whatever else the thread waits for (a stop channel, a job
//! queue). [`Clock::wait_until`] is the common case: a deadline or a stop.

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crossbeam_channel::{Receiver, Sender};

use crate::domain::time::Timestamp;

/// A one-shot timer from [`Clock::alarm`]: it receives one message (an
/// `Instant` of no meaning) once the clock reads its deadline or later,
/// and nothing before. Dropping it cancels it.
pub type Alarm = Receiver<Instant>;

/// A source of "now", and of alarms against it.
pub trait Clock: Send + Sync + 'static {
    /// The current time.
    fn now(&self) -> Timestamp;

    /// An alarm for `deadline` (one already past fires at once). Select
    /// on it with other channels: `crossbeam_channel::select!`.
    fn alarm(&self, deadline: Timestamp) -> Alarm;

    /// Blocks until the clock reads `deadline` or later (`true`), or until
    /// `stop` receives a message or is disconnected (`false`), whichever
    /// comes first. Returns `true` only once `now() >= deadline`.
    fn wait_until(&self, deadline: Timestamp, stop: &Receiver<()>) -> bool {
        // A loop, because a wall clock set back after the alarm was armed
        // may read earlier than the deadline when it fires.
        while self.now() < deadline {
            let alarm = self.alarm(deadline);
            crossbeam_channel::select! {
                recv(stop) -> _ => return false,
                recv(alarm) -> _ => {}
            }
        }
        true
    }
}

/// The operating system's wall clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    // The one wall-clock read in Herald (clippy.toml bans it elsewhere).
    #[allow(clippy::disallowed_methods)]
    fn now(&self) -> Timestamp {
        let ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_millis() as i64)
            .unwrap_or(0);
        Timestamp::from_millis(ms)
    }

    /// Fires after the time from now until `deadline` has passed on the
    /// monotonic clock: a wall clock stepped meanwhile moves the deadline
    /// with it (and `wait_until` re-arms if it fired early).
    fn alarm(&self, deadline: Timestamp) -> Alarm {
        let ms = deadline.as_millis().saturating_sub(self.now().as_millis());
        let wait = Duration::from_millis(ms.max(0) as u64);
        match Instant::now().checked_add(wait) {
            Some(at) => crossbeam_channel::at(at),
            // Beyond what an `Instant` can say: never, in practice.
            None => crossbeam_channel::never(),
        }
    }
}

/// A clock that only moves when told to; for tests. Moving it fires the
/// alarms it reaches before `advance_ms`/`set` return, so a thread waiting
/// on it wakes at once.
#[derive(Debug)]
pub struct ManualClock {
    now_ms: AtomicI64,
    /// Armed alarms, by deadline (ms).
    ///
    /// **Invariant:** every alarm here has a deadline after `now_ms` as
    /// last seen under this lock: `alarm` reads the time under it, and a
    /// move stores the time before it takes the lock to fire, so no alarm
    /// is armed late and missed.
    alarms: Mutex<Vec<(i64, Sender<Instant>)>>,
}

impl ManualClock {
    /// A manual clock reading `start`.
    pub fn new(start: Timestamp) -> Self {
        Self {
            now_ms: AtomicI64::new(start.as_millis()),
            alarms: Mutex::new(Vec::new()),
        }
    }

    /// Moves the clock forward by `ms` milliseconds.
    pub fn advance_ms(&self, ms: i64) {
        self.now_ms.fetch_add(ms, Ordering::SeqCst);
        self.fire();
    }

    /// Sets the clock to `to`.
    pub fn set(&self, to: Timestamp) {
        self.now_ms.store(to.as_millis(), Ordering::SeqCst);
        self.fire();
    }

    /// The deadlines of the alarms armed and not yet reached, earliest
    /// first: lets a test see that a thread is waiting, and for when.
    /// (An alarm dropped unfired stays listed until the clock reaches it.)
    pub fn alarms(&self) -> Vec<Timestamp> {
        let mut v: Vec<Timestamp> = self
            .armed()
            .iter()
            .map(|(at, _)| Timestamp::from_millis(*at))
            .collect();
        v.sort();
        v
    }

    fn armed(&self) -> std::sync::MutexGuard<'_, Vec<(i64, Sender<Instant>)>> {
        // Nothing panics while holding the lock; tolerate it anyway.
        self.alarms.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn fire(&self) {
        let mut armed = self.armed();
        let now = self.now_ms.load(Ordering::SeqCst);
        armed.retain(|(at, tx)| {
            if *at > now {
                return true;
            }
            // Bounded(1) and sent once: never full. A dropped alarm's
            // send fails, which is fine.
            let _ = tx.try_send(Instant::now());
            false
        });
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Timestamp {
        Timestamp::from_millis(self.now_ms.load(Ordering::SeqCst))
    }

    fn alarm(&self, deadline: Timestamp) -> Alarm {
        let (tx, rx) = crossbeam_channel::bounded(1);
        let mut armed = self.armed();
        if deadline.as_millis() <= self.now_ms.load(Ordering::SeqCst) {
            let _ = tx.try_send(Instant::now());
        } else {
            armed.push((deadline.as_millis(), tx));
        }
        rx
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn manual_clock_moves_only_when_told() {
        let c = ManualClock::new(Timestamp::from_millis(1_000));
        assert_eq!(c.now().as_millis(), 1_000);
        c.advance_ms(300_000);
        assert_eq!(c.now().as_millis(), 301_000);
        c.set(Timestamp::from_millis(5));
        assert_eq!(c.now().as_millis(), 5);
    }

    #[test]
    fn system_clock_is_after_2024() {
        assert!(SystemClock.now().as_millis() > 1_704_067_200_000);
    }

    #[test]
    fn a_manual_alarm_fires_when_the_clock_reaches_it_and_not_before() {
        let c = ManualClock::new(Timestamp::from_millis(1_000));
        let past = c.alarm(Timestamp::from_millis(1_000));
        assert!(past.try_recv().is_ok(), "a deadline reached fires at once");
        let a = c.alarm(Timestamp::from_millis(2_000));
        let b = c.alarm(Timestamp::from_millis(3_000));
        assert_eq!(
            c.alarms(),
            vec![Timestamp::from_millis(2_000), Timestamp::from_millis(3_000)]
        );
        c.advance_ms(999);
        assert!(a.try_recv().is_err(), "1 ms early");
        c.advance_ms(1);
        assert!(a.try_recv().is_ok());
        assert!(a.try_recv().is_err(), "one message only");
        assert!(b.try_recv().is_err());
        c.set(Timestamp::from_millis(10_000));
        assert!(b.try_recv().is_ok(), "set fires too");
        assert!(c.alarms().is_empty());
    }

    #[test]
    fn wait_until_wakes_on_a_move_or_a_stop() {
        let c = Arc::new(ManualClock::new(Timestamp::from_millis(0)));
        let (stop_tx, stop) = crossbeam_channel::bounded::<()>(0);
        let waiter = {
            let (c, stop) = (c.clone(), stop.clone());
            std::thread::spawn(move || c.wait_until(Timestamp::from_millis(60_000), &stop))
        };
        // No sleeping: wait for the waiter to arm its alarm, then move.
        while c.alarms().is_empty() {
            std::thread::yield_now();
        }
        c.advance_ms(60_000);
        assert!(waiter.join().unwrap(), "reached the deadline");

        let waiter = {
            let c = c.clone();
            std::thread::spawn(move || c.wait_until(Timestamp::from_millis(120_000), &stop))
        };
        while c.alarms().is_empty() {
            std::thread::yield_now();
        }
        drop(stop_tx);
        assert!(!waiter.join().unwrap(), "stopped");
        assert_eq!(c.now().as_millis(), 60_000);
    }

    #[test]
    fn system_alarms_fire_on_real_time() {
        let (_keep, stop) = crossbeam_channel::bounded::<()>(0);
        let t = SystemClock.now().plus_millis(20);
        assert!(SystemClock.wait_until(t, &stop));
        assert!(SystemClock.now() >= t);
        let (tx, stop) = crossbeam_channel::bounded::<()>(1);
        tx.send(()).unwrap();
        let far = SystemClock.now().plus_millis(3_600_000);
        assert!(!SystemClock.wait_until(far, &stop), "a stop ends the wait");
        assert!(SystemClock
            .alarm(Timestamp::from_millis(0))
            .try_recv()
            .is_ok());
        let never = SystemClock.alarm(Timestamp::from_millis(i64::MAX));
        assert!(never.try_recv().is_err());
    }
}
