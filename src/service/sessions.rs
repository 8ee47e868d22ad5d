//! Admin panel logins and sessions.
//!
//! A login checks the password with argon2id under a small semaphore (so a
//! flood of logins cannot take every core of a small VM), throttles
//! failures per client address and per username, and answers the same for
//! an unknown user as for a wrong password. A session is a random 256-bit
//! id in a cookie; only its SHA-256 is stored, with a CSRF token, the
//! operator's chosen tenant and an idle expiry. Logging in always makes a
//! new id (and drops the one the browser came with), so a session id fixed
//! before login is worthless after it.

use std::collections::{HashMap, VecDeque};
use std::sync::{Condvar, Mutex, OnceLock};
use std::time::Duration;

use super::{Caller, Herald, Result, ServiceError};
use crate::domain::session::{generate_token, hash_session_id, Session};
use crate::domain::tenant::well_formed_tenant_id;
use crate::domain::time::Timestamp;
use crate::domain::user::{hash_password, verify_password, Role, User, MAX_PASSWORD_LEN};

/// Failed logins counted per username within [`FAILURE_WINDOW_MS`] before
/// further attempts for it are refused.
pub const MAX_FAILURES_PER_USER: usize = 5;
/// Failed logins counted per client address within the window.
pub const MAX_FAILURES_PER_CLIENT: usize = 20;
/// How long a failed login counts (15 minutes).
pub const FAILURE_WINDOW_MS: i64 = 15 * 60_000;
/// The most failure records kept in memory; older ones are dropped first.
const MAX_TRACKED: usize = 10_000;
/// How long a login waits for a hashing slot before answering "busy".
const HASH_WAIT: Duration = Duration::from_secs(10);

/// What every failed login says, whichever part was wrong.
pub const BAD_LOGIN: &str = "invalid username or password";

/// A counting semaphore: at most `max` password hashes at once.
struct Permits {
    used: Mutex<usize>,
    freed: Condvar,
    max: usize,
}

struct Permit<'a>(&'a Permits);

impl Permits {
    fn acquire(&self) -> Result<Permit<'_>> {
        let guard = self.used.lock().unwrap_or_else(|p| p.into_inner());
        let (mut used, timeout) = self
            .freed
            .wait_timeout_while(guard, HASH_WAIT, |used| *used >= self.max)
            .unwrap_or_else(|p| p.into_inner());
        if timeout.timed_out() && *used >= self.max {
            return Err(ServiceError::Throttled {
                message: "the server is busy checking passwords; try again in a moment".into(),
                retry_after_secs: 5,
            });
        }
        *used += 1;
        Ok(Permit(self))
    }
}

impl Drop for Permit<'_> {
    fn drop(&mut self) {
        let mut used = self.0.used.lock().unwrap_or_else(|p| p.into_inner());
        *used = used.saturating_sub(1);
        self.0.freed.notify_one();
    }
}

/// Login throttling and the password-hashing cap, shared by every request.
pub struct LoginGuard {
    permits: Permits,
    /// Failure times by `user:NAME` and `client:ADDR`, oldest first.
    failures: Mutex<HashMap<String, VecDeque<i64>>>,
}

impl Default for LoginGuard {
    fn default() -> Self {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        Self {
            permits: Permits {
                used: Mutex::new(0),
                freed: Condvar::new(),
                max: cores.clamp(1, 2),
            },
            failures: Mutex::new(HashMap::new()),
        }
    }
}

impl LoginGuard {
    /// Seconds until `key` may try again, if it is over `limit`.
    fn blocked(&self, key: &str, limit: usize, now: i64) -> Option<u64> {
        let mut map = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        let times = map.get_mut(key)?;
        while times.front().is_some_and(|t| now - t >= FAILURE_WINDOW_MS) {
            times.pop_front();
        }
        if times.len() < limit {
            return None;
        }
        let oldest = times.front().copied().unwrap_or(now);
        Some(((oldest + FAILURE_WINDOW_MS - now).max(1000) as u64).div_ceil(1000))
    }

    fn record_failure(&self, key: String, now: i64) {
        let mut map = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        if map.len() >= MAX_TRACKED && !map.contains_key(&key) {
            map.retain(|_, t| t.back().is_some_and(|last| now - last < FAILURE_WINDOW_MS));
            if map.len() >= MAX_TRACKED {
                map.clear();
            }
        }
        let times = map.entry(key).or_default();
        times.push_back(now);
        if times.len() > MAX_FAILURES_PER_CLIENT {
            times.pop_front();
        }
    }

    fn clear(&self, key: &str) {
        self.failures
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(key);
    }

    /// Runs a password hash or check inside the concurrency cap.
    pub(super) fn hashing<T>(&self, f: impl FnOnce() -> T) -> Result<T> {
        let _permit = self.permits.acquire()?;
        Ok(f())
    }
}

/// A session just created by a login.
#[derive(Debug, Clone)]
pub struct Login {
    /// The session id, for the cookie. Shown nowhere else.
    pub token: String,
    /// The stored session.
    pub session: Session,
}

/// A live session and its user.
#[derive(Debug, Clone)]
pub struct SessionInfo {
    /// The session (its CSRF token, chosen tenant).
    pub session: Session,
    /// Who is logged in.
    pub user: User,
}

/// A hash to check unknown users' passwords against, so that a wrong
/// username takes as long as a wrong password.
fn dummy_hash() -> &'static str {
    static HASH: OnceLock<String> = OnceLock::new();
    HASH.get_or_init(|| hash_password(&generate_token()).unwrap_or_default())
}

impl Herald {
    /// Checks a username and password from `client` (its address) and opens
    /// a session. `replacing` is the session id the browser came with, if
    /// any: it is dropped, so the id always changes at login.
    pub fn login(
        &self,
        username: &str,
        password: &str,
        client: &str,
        replacing: Option<&str>,
    ) -> Result<Login> {
        let now = self.clock.now();
        let user_key = format!("user:{username}");
        let client_key = format!("client:{client}");
        let wait = self
            .logins
            .blocked(&user_key, MAX_FAILURES_PER_USER, now.as_millis())
            .into_iter()
            .chain(
                self.logins
                    .blocked(&client_key, MAX_FAILURES_PER_CLIENT, now.as_millis()),
            )
            .max();
        if let Some(secs) = wait {
            log::warn!("login throttled for user {username:?} from {client}");
            return Err(ServiceError::Throttled {
                message: format!(
                    "too many failed logins; try again in {} minute(s)",
                    secs.div_ceil(60)
                ),
                retry_after_secs: secs,
            });
        }
        let user = if password.len() > MAX_PASSWORD_LEN {
            None
        } else {
            self.store.user(username)?
        };
        let hash = user
            .as_ref()
            .map_or_else(|| dummy_hash().to_string(), |u| u.password_hash.clone());
        let ok = self.logins.hashing(|| verify_password(password, &hash))?;
        let Some(user) = user.filter(|_| ok) else {
            self.logins.record_failure(user_key, now.as_millis());
            self.logins.record_failure(client_key, now.as_millis());
            log::warn!("failed login for user {username:?} from {client}");
            return Err(ServiceError::Unauthorized(BAD_LOGIN));
        };
        self.logins.clear(&user_key);
        if let Some(old) = replacing {
            self.store.delete_session(&hash_session_id(old))?;
        }
        self.purge_sessions(now, None)?;
        let token = generate_token();
        let session = Session {
            id_hash: hash_session_id(&token),
            username: user.username.clone(),
            csrf: generate_token(),
            tenant: match &user.role {
                Role::Operator => None,
                Role::Tenant(t) => Some(t.clone()),
            },
            created_at: now,
            last_seen_at: now,
        };
        self.store.put_session(&session)?;
        log::info!("user {} logged in from {client}", user.username);
        Ok(Login { token, session })
    }

    /// The live session behind `token` and its user, or `Unauthorized`.
    /// Reads only; see [`Herald::session`] for the request-level check.
    pub(super) fn live_session(&self, token: &str) -> Result<(Session, User)> {
        const GONE: ServiceError =
            ServiceError::Unauthorized("your session has ended; log in again");
        let session = self.store.session(&hash_session_id(token))?.ok_or(GONE)?;
        if session.expired(self.clock.now()) {
            return Err(GONE);
        }
        let user = self.store.user(&session.username)?.ok_or(GONE)?;
        Ok((session, user))
    }

    /// The session behind a cookie, if it is live; refreshes its idle timer
    /// and removes it if it has expired.
    pub fn session(&self, token: &str) -> Result<Option<SessionInfo>> {
        let now = self.clock.now();
        let id_hash = hash_session_id(token);
        let Some(mut session) = self.store.session(&id_hash)? else {
            return Ok(None);
        };
        if session.expired(now) {
            self.store.delete_session(&id_hash)?;
            return Ok(None);
        }
        let Some(user) = self.store.user(&session.username)? else {
            self.store.delete_session(&id_hash)?;
            return Ok(None);
        };
        if session.needs_touch(now) {
            session.last_seen_at = now;
            self.store.put_session(&session)?;
        }
        Ok(Some(SessionInfo { session, user }))
    }

    /// Ends a session (logout). An unknown id is fine.
    pub fn logout(&self, token: &str) -> Result<()> {
        let id_hash = hash_session_id(token);
        if let Some(s) = self.store.session(&id_hash)? {
            log::info!("user {} logged out", s.username);
        }
        self.store.delete_session(&id_hash)?;
        Ok(())
    }

    /// The tenant switcher: an operator's session acts for `tenant` from
    /// now on. Tenant-bound users cannot switch.
    pub fn select_tenant(&self, caller: &Caller, tenant: &str) -> Result<()> {
        let Caller::Session { token } = caller else {
            return Err(ServiceError::Forbidden(
                "only an admin panel session has a tenant switcher".into(),
            ));
        };
        let (mut session, user) = self.live_session(token)?;
        if user.role != Role::Operator {
            return Err(ServiceError::Forbidden(
                "this user is bound to one tenant".into(),
            ));
        }
        if !well_formed_tenant_id(tenant) || self.store.tenant(tenant)?.is_none() {
            return Err(ServiceError::NotFound("tenant"));
        }
        session.tenant = Some(tenant.to_string());
        self.store.put_session(&session)?;
        Ok(())
    }

    /// Removes expired sessions, and every session of `user` if given.
    pub(super) fn purge_sessions(&self, now: Timestamp, user: Option<&str>) -> Result<usize> {
        let mut n = 0;
        for s in self.store.list_sessions()? {
            if s.expired(now) || user.is_some_and(|u| u == s.username) {
                self.store.delete_session(&s.id_hash)?;
                n += 1;
            }
        }
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failures_expire_after_the_window() {
        let g = LoginGuard::default();
        for i in 0..MAX_FAILURES_PER_USER {
            assert_eq!(g.blocked("user:a", MAX_FAILURES_PER_USER, i as i64), None);
            g.record_failure("user:a".into(), i as i64);
        }
        let wait = g.blocked("user:a", MAX_FAILURES_PER_USER, 10).unwrap();
        assert_eq!(wait, (FAILURE_WINDOW_MS / 1000) as u64);
        assert_eq!(g.blocked("user:b", MAX_FAILURES_PER_USER, 10), None);
        assert_eq!(
            g.blocked("user:a", MAX_FAILURES_PER_USER, FAILURE_WINDOW_MS + 5),
            None,
            "the oldest failures aged out"
        );
        g.clear("user:a");
        assert!(g.failures.lock().unwrap().is_empty());
    }

    #[test]
    fn the_hash_cap_admits_up_to_max_at_once() {
        let g = LoginGuard::default();
        let a = g.permits.acquire().unwrap();
        drop(a);
        assert_eq!(*g.permits.used.lock().unwrap(), 0);
        assert_eq!(g.hashing(|| 7).unwrap(), 7);
    }
}
