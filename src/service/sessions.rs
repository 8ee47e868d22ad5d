//! Admin panel logins and sessions.
//!
//! A login checks the password with argon2id under a small semaphore (so a
//! flood of logins cannot take every core of a small VM) and answers the
//! same for an unknown user as for a wrong password. Input no user can
//! match (a username of no stored shape, an over-long password) fails at
//! once, costing nothing. Failures are throttled by the rules of
//! [`crate::domain::throttle`]: per client address, per (username, client),
//! per device cookie, with a user under attack leaving one try per client
//! and a browser that logged in before (its device cookie) unaffected by
//! anyone else's failures. The tracker is bounded: at most
//! [`MAX_TRACKED_CLIENTS`] clients (evicted oldest first, never a user's
//! record), and records only for usernames that exist. Logged usernames
//! go through [`log_text`].
//!
//! A session is a random 256-bit
//! id in a cookie; only its SHA-256 is stored, with a CSRF token, the
//! operator's chosen tenant and an idle expiry. Logging in always makes a
//! new id (and drops the one the browser came with), so a session id fixed
//! before login is worthless after it.

use std::collections::hash_map::RandomState;
use std::collections::{HashMap, VecDeque};
use std::hash::BuildHasher;
use std::sync::{Condvar, Mutex, OnceLock};
use std::time::Duration;

use super::{Caller, Herald, Result, ServiceError};
use crate::domain::logtext::log_text;
use crate::domain::portal::{Portal, Stage};
use crate::domain::session::{generate_token, hash_session_id, Session};
use crate::domain::tenant::well_formed_tenant_id;
use crate::domain::throttle::{
    client_bucket, verdict, History, Verdict, DEVICE_TTL_MS, MAX_FAILURES_PER_DEVICE,
    USER_UNDER_ATTACK,
};
pub use crate::domain::throttle::{
    FAILURE_WINDOW_MS, MAX_FAILURES_PER_CLIENT, MAX_FAILURES_PER_USER,
};
use crate::domain::time::Timestamp;
use crate::domain::user::{
    hash_password, plausible_username, verify_password, Role, User, MAX_PASSWORD_LEN,
};

/// The most clients (addresses, IPv6 /64s) whose failures are kept; when
/// full, clients whose failures aged out go first, then the client whose
/// last failure is oldest. Users' own records are never dropped for room.
/// A client costs at most ~400 bytes (20 failures of 16 bytes, its key, the
/// table's slot), so the clients take at most ~2 MB; each existing user
/// that failed or logged in since start ~1.5 KB more.
pub const MAX_TRACKED_CLIENTS: usize = 4096;
/// The most device cookies trusted per user; a new one replaces the one
/// issued longest ago.
pub const MAX_DEVICES_PER_USER: usize = 8;
/// How long a login waits for a hashing slot before answering "busy".
const HASH_WAIT: Duration = Duration::from_secs(10);

/// What every failed login says, whichever part was wrong.
pub const BAD_LOGIN: &str = "invalid username or password";
/// What the right password of a disabled user is told.
pub const DISABLED_LOGIN: &str = "this user is disabled; an operator can enable it again";

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

/// One client's failed logins without a device cookie: time and a keyed
/// hash of the username, oldest first, at most [`MAX_FAILURES_PER_CLIENT`].
struct ClientFailures(VecDeque<(i64, u64)>);

/// A device cookie a user logged in with (only its SHA-256 is kept).
struct Device {
    hash: [u8; 32],
    /// When the login that issued it succeeded.
    issued_at: i64,
    /// Failures with this cookie, oldest first.
    failures: VecDeque<i64>,
}

/// What is kept for a username that exists.
#[derive(Default)]
struct UserRecord {
    /// Failures from every client without a device cookie, oldest first,
    /// at most [`USER_UNDER_ATTACK`].
    untrusted: VecDeque<i64>,
    /// Trusted device cookies, at most [`MAX_DEVICES_PER_USER`].
    devices: Vec<Device>,
}

#[derive(Default)]
struct Tracker {
    clients: HashMap<String, ClientFailures>,
    users: HashMap<String, UserRecord>,
}

/// Appends `v`, dropping the oldest first so `q` never holds more than
/// `cap` (nor, made with that capacity, grows).
fn push_capped<T>(q: &mut VecDeque<T>, v: T, cap: usize) {
    while q.len() >= cap.max(1) {
        q.pop_front();
    }
    q.push_back(v);
}

impl Tracker {
    /// The device behind `device` (a cookie's SHA-256) for `user`, if it
    /// is one still trusted at `now`.
    fn device(&mut self, user: &str, device: Option<&[u8; 32]>, now: i64) -> Option<&mut Device> {
        let hash = device?;
        self.users
            .get_mut(user)?
            .devices
            .iter_mut()
            .find(|d| &d.hash == hash && now - d.issued_at < DEVICE_TTL_MS)
    }

    /// Records a failure of the username hashed `name_hash`; `user` is the
    /// name if it exists.
    fn record_failure(
        &mut self,
        user: Option<&str>,
        name_hash: u64,
        client: &str,
        verdict: Verdict,
        device: Option<&[u8; 32]>,
        now: i64,
    ) {
        if let (Verdict::Trusted, Some(name)) = (verdict, user) {
            if let Some(d) = self.device(name, device, now) {
                push_capped(&mut d.failures, now, MAX_FAILURES_PER_DEVICE);
                return;
            }
        }
        if let Some(name) = user {
            let rec = self.users.entry(name.to_string()).or_default();
            push_capped(&mut rec.untrusted, now, USER_UNDER_ATTACK);
        }
        if !self.clients.contains_key(client) && self.clients.len() >= MAX_TRACKED_CLIENTS {
            self.clients
                .retain(|_, f| f.0.back().is_some_and(|(t, _)| now - t < FAILURE_WINDOW_MS));
            if self.clients.len() >= MAX_TRACKED_CLIENTS {
                let oldest = self
                    .clients
                    .iter()
                    .min_by_key(|(_, f)| f.0.back().map_or(i64::MIN, |(t, _)| *t))
                    .map(|(k, _)| k.clone());
                if let Some(k) = oldest {
                    self.clients.remove(&k);
                }
            }
        }
        let f = self
            .clients
            .entry(client.to_string())
            .or_insert_with(|| ClientFailures(VecDeque::with_capacity(MAX_FAILURES_PER_CLIENT)));
        push_capped(&mut f.0, (now, name_hash), MAX_FAILURES_PER_CLIENT);
    }

    /// A successful login judged `verdict`: after an untrusted one the
    /// pair's failures go (a trusted one says nothing about who failed
    /// from its address); the device cookie presented (if any) is replaced
    /// by `new_device`.
    #[allow(clippy::too_many_arguments)]
    fn record_success(
        &mut self,
        name: &str,
        name_hash: u64,
        client: &str,
        verdict: Verdict,
        device: Option<&[u8; 32]>,
        new_device: [u8; 32],
        now: i64,
    ) {
        if verdict == Verdict::Untrusted {
            if let Some(f) = self.clients.get_mut(client) {
                f.0.retain(|(_, h)| *h != name_hash);
                if f.0.is_empty() {
                    self.clients.remove(client);
                }
            }
        }
        let rec = self.users.entry(name.to_string()).or_default();
        rec.devices
            .retain(|d| Some(&d.hash) != device && now - d.issued_at < DEVICE_TTL_MS);
        if rec.devices.len() >= MAX_DEVICES_PER_USER {
            if let Some(i) = (0..rec.devices.len()).min_by_key(|&i| rec.devices[i].issued_at) {
                rec.devices.swap_remove(i);
            }
        }
        rec.devices.push(Device {
            hash: new_device,
            issued_at: now,
            failures: VecDeque::new(),
        });
    }
}

/// Login throttling and the password-hashing cap, shared by every request.
pub struct LoginGuard {
    permits: Permits,
    /// Failures by client and by user, and users' device cookies.
    tracker: Mutex<Tracker>,
    /// Keys the username hashes kept per client.
    hasher: RandomState,
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
            tracker: Mutex::new(Tracker::default()),
            hasher: RandomState::new(),
        }
    }
}

impl LoginGuard {
    fn tracker(&self) -> std::sync::MutexGuard<'_, Tracker> {
        self.tracker.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn name_hash(&self, name: &str) -> u64 {
        self.hasher.hash_one(name)
    }

    /// Whether a login of `name` (an existing user if `user`) from `client`
    /// with device cookie hash `device` may try at `now`.
    fn verdict(
        &self,
        name: &str,
        user: bool,
        client: &str,
        device: Option<&[u8; 32]>,
        now: i64,
    ) -> Verdict {
        let h = self.name_hash(name);
        let mut t = self.tracker();
        let device_failures: Option<Vec<i64>> = t
            .device(name, device, now)
            .map(|d| d.failures.iter().copied().collect());
        let (client_times, pair): (Vec<i64>, Vec<i64>) = t
            .clients
            .get(client)
            .map(|f| {
                (
                    f.0.iter().map(|(t, _)| *t).collect(),
                    f.0.iter()
                        .filter(|(_, n)| *n == h)
                        .map(|(t, _)| *t)
                        .collect(),
                )
            })
            .unwrap_or_default();
        let untrusted: Vec<i64> = if user {
            t.users
                .get(name)
                .map(|r| r.untrusted.iter().copied().collect())
                .unwrap_or_default()
        } else {
            Vec::new()
        };
        verdict(
            &History {
                device: device_failures.as_deref(),
                client: &client_times,
                pair: &pair,
                user: &untrusted,
            },
            now,
        )
    }

    /// Forgets `name`'s device cookies (its password was reset).
    pub(super) fn forget_devices(&self, name: &str) {
        if let Some(rec) = self.tracker().users.get_mut(name) {
            rec.devices.clear();
        }
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
    /// A new device cookie value for this browser and user (replacing the
    /// one presented): its logins are judged by its own failures only.
    pub device: String,
}

/// A live session and its user.
#[derive(Debug, Clone)]
pub struct SessionInfo {
    /// The session (its CSRF token, chosen tenant, portal scope).
    pub session: Session,
    /// Who is logged in; `None` for a portal session (`session.portal`).
    pub user: Option<User>,
}

/// A live session, as [`Herald::live`] finds it.
pub(super) enum Live {
    /// A user's session.
    User(Session, User),
    /// A portal session: its tenant and scope.
    Portal(String, Portal),
}

/// A hash to check unknown users' passwords against, so that a wrong
/// username takes as long as a wrong password.
fn dummy_hash() -> &'static str {
    static HASH: OnceLock<String> = OnceLock::new();
    HASH.get_or_init(|| hash_password(&generate_token()).unwrap_or_default())
}

impl Herald {
    /// Checks a username and password from `client` (its address) and opens
    /// a session. `device` is the device cookie the browser came with, if
    /// any; `replacing` the session id it came with: it is dropped, so the
    /// id always changes at login.
    ///
    /// Input that no login can match (a username that is no stored
    /// username's shape, a password over [`MAX_PASSWORD_LEN`]) fails at
    /// once, before any lookup, count or hash. The rest is judged by
    /// [`crate::domain::throttle::verdict`].
    pub fn login(
        &self,
        username: &str,
        password: &str,
        client: &str,
        device: Option<&str>,
        replacing: Option<&str>,
    ) -> Result<Login> {
        if !plausible_username(username) || password.len() > MAX_PASSWORD_LEN {
            log::warn!(
                "failed login for user {} from {}: no such username or password shape",
                log_text(username),
                log_text(client)
            );
            return Err(ServiceError::Unauthorized(BAD_LOGIN));
        }
        let now = self.clock.now();
        let ms = now.as_millis();
        let bucket = client_bucket(client);
        let device = device.map(hash_session_id);
        let user = self.store.user(username)?;
        let exists = user.is_some();
        let judge = || {
            self.logins
                .verdict(username, exists, &bucket, device.as_ref(), ms)
        };
        let throttled = |secs: u64| {
            log::warn!(
                "login throttled for user {} from {}",
                log_text(username),
                log_text(client)
            );
            ServiceError::Throttled {
                message: format!(
                    "too many failed logins; try again in {} minute(s)",
                    secs.div_ceil(60)
                ),
                retry_after_secs: secs,
            }
        };
        if let Verdict::Wait(secs) = judge() {
            return Err(throttled(secs));
        }
        let hash = user
            .as_ref()
            .map_or_else(|| dummy_hash().to_string(), |u| u.password_hash.clone());
        let name_hash = self.logins.name_hash(username);
        // Judged again, and a failure recorded, while the hashing slot is
        // ours: logins that waited for a slot together must not all pass
        // on the same count.
        let checked = self.logins.hashing(|| {
            let judged = judge();
            if let Verdict::Wait(secs) = judged {
                return Err(secs);
            }
            let ok = verify_password(password, &hash) && exists;
            if !ok {
                self.logins.tracker().record_failure(
                    exists.then_some(username),
                    name_hash,
                    &bucket,
                    judged,
                    device.as_ref(),
                    ms,
                );
            }
            Ok((judged, ok))
        })?;
        let (judged, ok) = checked.map_err(throttled)?;
        let Some(user) = user.filter(|_| ok) else {
            log::warn!(
                "failed login for user {} from {}",
                log_text(username),
                log_text(client)
            );
            return Err(ServiceError::Unauthorized(BAD_LOGIN));
        };
        // Said only to whoever knows the password, so it tells an
        // outsider nothing a wrong password would not.
        if !user.enabled() {
            log::warn!(
                "login of disabled user {} from {} refused",
                log_text(username),
                log_text(client)
            );
            return Err(ServiceError::Unauthorized(DISABLED_LOGIN));
        }
        let new_device = generate_token();
        self.logins.tracker().record_success(
            username,
            name_hash,
            &bucket,
            judged,
            device.as_ref(),
            hash_session_id(&new_device),
            ms,
        );
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
            portal: None,
        };
        self.store.put_session(&session)?;
        // Logins are rare (throttled, argon2): each one is written.
        self.store.record_login(&user.username, now)?;
        log::info!(
            "user {} logged in from {}",
            log_text(&user.username),
            log_text(client)
        );
        Ok(Login {
            token,
            session,
            device: new_device,
        })
    }

    /// The live session behind `token` and its user, or `Unauthorized`
    /// (`Forbidden` for a portal session, which has no user).
    /// Reads only; see [`Herald::session`] for the request-level check.
    pub(super) fn live_session(&self, token: &str) -> Result<(Session, User)> {
        match self.live(token)? {
            Live::User(session, user) => Ok((session, user)),
            Live::Portal(..) => Err(ServiceError::Forbidden(
                "a portal session has no user account".into(),
            )),
        }
    }

    /// The live session behind `token`: a user's (enabled) or a portal's.
    /// An unused portal link is never a session.
    pub(super) fn live(&self, token: &str) -> Result<Live> {
        const GONE: ServiceError =
            ServiceError::Unauthorized("your session has ended; log in again");
        let session = self.store.session(&hash_session_id(token))?.ok_or(GONE)?;
        if session.expired(self.clock.now()) {
            return Err(GONE);
        }
        if let Some(portal) = session.portal {
            return match (portal.stage, session.tenant) {
                (Stage::Session, Some(tenant)) => Ok(Live::Portal(tenant, portal)),
                _ => Err(GONE),
            };
        }
        let user = self
            .store
            .user(&session.username)?
            .filter(User::enabled)
            .ok_or(GONE)?;
        Ok(Live::User(session, user))
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
        let user = match &session.portal {
            // A link's record is keyed by another hash; this one is not
            // a session whatever it holds.
            Some(p) if p.stage != Stage::Session || session.tenant.is_none() => return Ok(None),
            Some(_) => None,
            // A removed or disabled user's session ends here too, should
            // one have been written after its sessions were purged.
            None => match self.store.user(&session.username)?.filter(User::enabled) {
                Some(u) => Some(u),
                None => {
                    self.store.delete_session(&id_hash)?;
                    return Ok(None);
                }
            },
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
            match (&s.portal, &s.tenant) {
                (Some(_), Some(t)) => log::info!("portal session of tenant {} ended", log_text(t)),
                _ => log::info!("user {} logged out", log_text(&s.username)),
            }
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
    use std::sync::Arc;

    use super::*;
    use crate::clock::{Clock, ManualClock};

    fn fail(g: &LoginGuard, name: &str, user: bool, client: &str, now: i64) -> Verdict {
        let v = g.verdict(name, user, client, None, now);
        if v != Verdict::Untrusted {
            return v;
        }
        let h = g.name_hash(name);
        g.tracker()
            .record_failure(user.then_some(name), h, client, v, None, now);
        v
    }

    #[test]
    fn failures_expire_after_the_window() {
        let g = LoginGuard::default();
        for i in 0..MAX_FAILURES_PER_USER {
            assert_eq!(
                fail(&g, "a", true, "192.0.2.1", i as i64),
                Verdict::Untrusted
            );
        }
        let wait = g.verdict("a", true, "192.0.2.1", None, 10);
        assert_eq!(wait, Verdict::Wait((FAILURE_WINDOW_MS / 1000) as u64));
        assert_eq!(
            g.verdict("b", true, "192.0.2.1", None, 10),
            Verdict::Untrusted
        );
        assert_eq!(
            g.verdict("a", true, "192.0.2.2", None, 10),
            Verdict::Untrusted
        );
        assert_eq!(
            g.verdict("a", true, "192.0.2.1", None, FAILURE_WINDOW_MS + 5),
            Verdict::Untrusted,
            "the oldest failures aged out"
        );
    }

    fn addr(i: usize) -> String {
        format!("10.{}.{}.{}", (i >> 16) & 255, (i >> 8) & 255, i & 255)
    }

    #[test]
    fn a_flood_of_usernames_and_addresses_evicts_no_users_state() {
        let g = LoginGuard::default();
        let admin_client = "192.0.2.1";
        for i in 0..MAX_FAILURES_PER_USER {
            fail(&g, "admin", true, admin_client, i as i64);
        }
        // A device cookie admin logged in with before.
        let device = hash_session_id("device-token");
        g.tracker().record_success(
            "admin",
            g.name_hash("admin"),
            "198.51.100.1",
            Verdict::Untrusted,
            None,
            device,
            0,
        );
        for i in 0..MAX_FAILURES_PER_USER - 1 {
            let v = g.verdict("admin", true, "198.51.100.1", Some(&device), 1);
            assert_eq!(v, Verdict::Trusted);
            let h = g.name_hash("admin");
            g.tracker().record_failure(
                Some("admin"),
                h,
                "198.51.100.1",
                v,
                Some(&device),
                i as i64,
            );
        }
        // Far more distinct usernames and addresses than the bound.
        let flood = MAX_TRACKED_CLIENTS * 5;
        for i in 0..flood {
            let client = addr(i);
            let name = format!("nobody{i}");
            fail(&g, &name, false, &client, 10);
            fail(&g, "admin", true, &client, 10);
        }
        let t = g.tracker();
        assert!(
            t.clients.len() <= MAX_TRACKED_CLIENTS,
            "{}",
            t.clients.len()
        );
        assert_eq!(t.users.len(), 1, "no state for usernames that do not exist");
        let admin = &t.users["admin"];
        assert_eq!(admin.devices.len(), 1, "the device survived");
        assert_eq!(admin.devices[0].failures.len(), MAX_FAILURES_PER_USER - 1);
        assert_eq!(admin.untrusted.len(), USER_UNDER_ATTACK);
        drop(t);
        // The device is still trusted (one failure left), the flood
        // clients are refused, a clean client still gets a try.
        assert_eq!(
            g.verdict("admin", true, "10.0.0.1", Some(&device), 20),
            Verdict::Trusted
        );
        assert!(matches!(
            g.verdict("admin", true, &addr(flood - 1), None, 20),
            Verdict::Wait(_)
        ));
        assert_eq!(
            g.verdict("admin", true, "203.0.113.9", None, 20),
            Verdict::Untrusted
        );
    }

    #[test]
    fn the_client_limit_counts_every_username_and_a_success_clears_only_its_pair() {
        let g = LoginGuard::default();
        for i in 0..MAX_FAILURES_PER_CLIENT - 1 {
            fail(&g, &format!("u{i}"), false, "192.0.2.1", 0);
        }
        fail(&g, "admin", true, "192.0.2.1", 0);
        assert!(matches!(
            g.verdict("ops", true, "192.0.2.1", None, 1),
            Verdict::Wait(_)
        ));
        assert_eq!(
            g.verdict("ops", true, "192.0.2.2", None, 1),
            Verdict::Untrusted
        );
        g.tracker().record_success(
            "admin",
            g.name_hash("admin"),
            "192.0.2.1",
            Verdict::Untrusted,
            None,
            [1; 32],
            2,
        );
        assert_eq!(
            g.tracker().clients["192.0.2.1"].0.len(),
            MAX_FAILURES_PER_CLIENT - 1
        );
        let device = [1; 32];
        assert_eq!(
            g.verdict("admin", true, "192.0.2.1", None, 3),
            Verdict::Untrusted,
            "the address is one try below its limit again"
        );
        assert_eq!(
            g.verdict("admin", true, "192.0.2.1", Some(&device), 3),
            Verdict::Trusted,
            "the device cookie of that login"
        );
        assert_eq!(
            g.verdict("ops", true, "192.0.2.1", Some(&device), 3),
            Verdict::Untrusted,
            "admin's device is no device for ops"
        );
    }

    #[test]
    fn devices_per_user_are_bounded_least_recently_used_first() {
        let g = LoginGuard::default();
        for i in 0..MAX_DEVICES_PER_USER + 3 {
            g.tracker().record_success(
                "admin",
                0,
                "192.0.2.1",
                Verdict::Untrusted,
                None,
                [i as u8; 32],
                i as i64,
            );
        }
        let t = g.tracker();
        assert_eq!(t.users["admin"].devices.len(), MAX_DEVICES_PER_USER);
        assert!(t.users["admin"].devices.iter().all(|d| d.hash[0] >= 3));
        drop(t);
        let old = [0u8; 32];
        assert_eq!(
            g.verdict("admin", true, "192.0.2.9", Some(&old), 20),
            Verdict::Untrusted
        );
        let fresh = [10u8; 32];
        assert_eq!(
            g.verdict("admin", true, "192.0.2.9", Some(&fresh), 20),
            Verdict::Trusted
        );
        assert_eq!(
            g.verdict("admin", true, "192.0.2.9", Some(&fresh), 20 + DEVICE_TTL_MS),
            Verdict::Untrusted,
            "a device cookie is trusted for DEVICE_TTL_MS"
        );
    }

    fn herald() -> (Herald, Arc<ManualClock>) {
        let clock = Arc::new(ManualClock::new(Timestamp::from_millis(1_700_000_000_000)));
        let h = Herald::new(
            crate::store::temporary(),
            clock.clone(),
            super::super::Settings {
                retention: Duration::from_secs(3600),
                ..super::super::Settings::offline()
            },
        );
        for name in ["admin", ".."] {
            let user = User {
                username: name.into(),
                password_hash: hash_password("right-password").unwrap(),
                role: Role::Operator,
                created_at: clock.now(),
                disabled_at: None,
            };
            assert!(h.store.insert_user(&user).unwrap());
        }
        (h, clock)
    }

    fn throttled(r: Result<Login>) -> bool {
        matches!(r, Err(ServiceError::Throttled { .. }))
    }

    fn refused(r: Result<Login>) -> bool {
        matches!(r, Err(ServiceError::Unauthorized(BAD_LOGIN)))
    }

    #[test]
    fn logins_on_the_injected_clock_pairs_devices_and_cheap_refusals() {
        let (h, clock) = herald();
        let (a, b) = ("192.0.2.1", "192.0.2.2");
        // A user stored under a name made of dots still logs in.
        h.login("..", "right-password", a, None, None).unwrap();
        for _ in 0..MAX_FAILURES_PER_USER {
            assert!(refused(h.login("admin", "wrong", a, None, None)));
        }
        assert!(throttled(h.login("admin", "right-password", a, None, None)));
        let ok = h.login("admin", "right-password", b, None, None).unwrap();
        // With its device cookie, the browser at b gets in from a too …
        let again = h
            .login("admin", "right-password", a, Some(&ok.device), None)
            .unwrap();
        assert!(
            throttled(h.login("admin", "right-password", a, Some(&ok.device), None)),
            "a device cookie is replaced at each login"
        );
        // … until its own failures run out.
        for _ in 0..MAX_FAILURES_PER_DEVICE {
            assert!(refused(h.login(
                "admin",
                "wrong",
                a,
                Some(&again.device),
                None
            )));
        }
        assert!(throttled(h.login(
            "admin",
            "right-password",
            a,
            Some(&again.device),
            None
        )));
        clock.advance_ms(FAILURE_WINDOW_MS);
        h.login("admin", "right-password", a, Some(&again.device), None)
            .unwrap();
        // Input no user can have fails at once and counts nowhere.
        let huge = "x".repeat(60 * 1024);
        let long_password = "p".repeat(MAX_PASSWORD_LEN + 1);
        for _ in 0..MAX_FAILURES_PER_CLIENT + 1 {
            assert!(refused(h.login(&huge, "wrong", b, None, None)));
            assert!(refused(h.login("admin", &long_password, b, None, None)));
        }
        assert!(!h.logins.tracker().clients.contains_key(b));
        h.login("admin", "right-password", b, None, None).unwrap();
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
