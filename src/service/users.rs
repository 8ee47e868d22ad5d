//! Admin panel users: operators (every tenant) and tenant-bound users.
//! Operators create users and set anyone's password; every user can change
//! their own with the current one. A changed password ends that user's
//! other sessions.

use super::{Caller, Herald, Principal, Result, ServiceError};
use crate::domain::logtext::log_text;
use crate::domain::time::Timestamp;
use crate::domain::user::{
    check_keeps_an_operator, check_new_password, generate_password, hash_password, valid_username,
    verify_password, Role, User, UserRuleError,
};

/// A user as listed: the record and its last login.
#[derive(Debug, Clone)]
pub struct UserInfo {
    /// The stored user.
    pub user: User,
    /// When it last logged in (`None`: never, or before this was recorded).
    pub last_login_at: Option<Timestamp>,
}

impl From<UserRuleError> for ServiceError {
    fn from(e: UserRuleError) -> Self {
        match e {
            UserRuleError::LastOperator(_) => ServiceError::LastOperator(e.to_string()),
        }
    }
}

/// A user to create.
#[derive(Debug, Clone)]
pub struct NewUser {
    /// The login name.
    pub username: String,
    /// The initial password.
    pub password: String,
    /// Bind the user to this tenant; `None` makes an operator.
    pub tenant_id: Option<String>,
}

impl Herald {
    fn hash_new_password(&self, field: &'static str, password: &str) -> Result<String> {
        check_new_password(password).map_err(|m| ServiceError::invalid(field, m))?;
        self.logins
            .hashing(|| hash_password(password))?
            .map_err(|e| ServiceError::invalid(field, format!("cannot hash: {e}")))
    }

    /// Creates a user (operators only).
    pub fn create_user(&self, caller: &Caller, input: NewUser) -> Result<User> {
        self.require_platform(caller)?;
        if !valid_username(&input.username) {
            return Err(ServiceError::invalid(
                "username",
                "use 1-64 characters from A-Z a-z 0-9 _ - . @, not only dots",
            ));
        }
        let role = match input.tenant_id.filter(|t| !t.is_empty()) {
            None => Role::Operator,
            Some(t) => {
                if self.store.tenant(&t)?.is_none() {
                    return Err(ServiceError::invalid(
                        "tenant_id",
                        format!("no tenant {t:?}; create it first"),
                    ));
                }
                Role::Tenant(t)
            }
        };
        if self.store.user(&input.username)?.is_some() {
            return Err(ServiceError::invalid("username", "this username is taken"));
        }
        let password_hash = self.hash_new_password("password", &input.password)?;
        let user = User {
            username: input.username,
            password_hash,
            role,
            created_at: self.clock.now(),
            disabled_at: None,
        };
        if !self.store.insert_user(&user)? {
            return Err(ServiceError::invalid("username", "this username is taken"));
        }
        log::info!("user {} created", user.username);
        Ok(user)
    }

    /// Every user, in name order, with its last login (operators only).
    pub fn list_users(&self, caller: &Caller) -> Result<Vec<UserInfo>> {
        self.require_platform(caller)?;
        self.store
            .list_users()?
            .into_iter()
            .map(|user| {
                let last_login_at = self.store.last_login(&user.username)?;
                Ok(UserInfo {
                    user,
                    last_login_at,
                })
            })
            .collect()
    }

    /// Disables a user (operators, platform key, the local CLI): it cannot
    /// log in and its sessions end; never the last enabled operator.
    /// Disabling a disabled user changes nothing.
    pub fn disable_user(&self, caller: &Caller, username: &str) -> Result<User> {
        self.require_platform(caller)?;
        let mut user = self.existing_user(username)?;
        if user.enabled() {
            check_keeps_an_operator(&self.store.list_users()?, username)?;
            user.disabled_at = Some(self.clock.now());
            self.store.put_user(&user)?;
        }
        // Also when it was disabled already: a session must not outlive it.
        let ended = self.end_sessions_of(username)?;
        log::info!(
            "user {} disabled; {ended} session(s) ended",
            log_text(username)
        );
        Ok(user)
    }

    /// Enables a disabled user again; enabling an enabled one changes
    /// nothing.
    pub fn enable_user(&self, caller: &Caller, username: &str) -> Result<User> {
        self.require_platform(caller)?;
        let mut user = self.existing_user(username)?;
        if !user.enabled() {
            user.disabled_at = None;
            self.store.put_user(&user)?;
            log::info!("user {} enabled", log_text(username));
        }
        Ok(user)
    }

    /// Removes a user and ends its sessions; never the last enabled
    /// operator.
    pub fn remove_user(&self, caller: &Caller, username: &str) -> Result<()> {
        self.require_platform(caller)?;
        self.existing_user(username)?;
        check_keeps_an_operator(&self.store.list_users()?, username)?;
        // Sessions first: a request between the two finds no session
        // rather than a session without a user.
        let ended = self.end_sessions_of(username)?;
        if !self.store.delete_user(username)? {
            return Err(ServiceError::NotFound("user"));
        }
        log::info!(
            "user {} removed; {ended} session(s) ended",
            log_text(username)
        );
        Ok(())
    }

    fn existing_user(&self, username: &str) -> Result<User> {
        self.store
            .user(username)?
            .ok_or(ServiceError::NotFound("user"))
    }

    /// Ends every session of `username` and forgets its device cookies.
    fn end_sessions_of(&self, username: &str) -> Result<usize> {
        let ended = self.purge_sessions(self.clock.now(), Some(username))?;
        self.logins.forget_devices(username);
        Ok(ended)
    }

    /// Sets another user's password (operators only), ends that user's
    /// sessions and forgets its device cookies.
    pub fn set_password(&self, caller: &Caller, username: &str, password: &str) -> Result<()> {
        self.require_platform(caller)?;
        let mut user = self
            .store
            .user(username)?
            .ok_or(ServiceError::NotFound("user"))?;
        user.password_hash = self.hash_new_password("password", password)?;
        self.store.put_user(&user)?;
        let ended = self.purge_sessions(self.clock.now(), Some(username))?;
        self.logins.forget_devices(username);
        log::info!("password of user {username} set; {ended} session(s) ended");
        Ok(())
    }

    /// Gives a user a new random password (platform key, operator or the
    /// local CLI: the way back in when a password is lost) and answers it;
    /// like [`Herald::set_password`], the user's sessions end.
    pub fn reset_password(&self, caller: &Caller, username: &str) -> Result<String> {
        let password = generate_password();
        self.set_password(caller, username, &password)?;
        Ok(password)
    }

    /// Changes the calling user's own password after checking the current
    /// one; the user's other sessions end, this one stays.
    pub fn change_own_password(&self, caller: &Caller, current: &str, new: &str) -> Result<()> {
        let Caller::Session { token } = caller else {
            return Err(ServiceError::Forbidden(
                "only an admin panel user has a password".into(),
            ));
        };
        let (session, mut user) = self.live_session(token)?;
        let hash = user.password_hash.clone();
        if !self.logins.hashing(|| verify_password(current, &hash))? {
            return Err(ServiceError::invalid(
                "current_password",
                "this is not your current password",
            ));
        }
        user.password_hash = self.hash_new_password("new_password", new)?;
        self.store.put_user(&user)?;
        for s in self.store.list_sessions()? {
            if s.username == user.username && s.id_hash != session.id_hash {
                self.store.delete_session(&s.id_hash)?;
            }
        }
        log::info!("user {} changed their password", user.username);
        Ok(())
    }

    /// The user behind an admin panel session.
    pub fn current_user(&self, caller: &Caller) -> Result<User> {
        match (caller, self.authenticate(caller)?) {
            (Caller::Session { token }, Principal::User { .. }) => Ok(self.live_session(token)?.1),
            _ => Err(ServiceError::Forbidden(
                "only an admin panel session has a user".into(),
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::clock::{Clock, ManualClock};
    use crate::service::{Login, NewKey, Settings, BAD_LOGIN, DISABLED_LOGIN};

    const LOCAL: Caller = Caller::Local { tenant: None };

    fn herald() -> (Herald, Arc<ManualClock>) {
        let clock = Arc::new(ManualClock::new(Timestamp::from_millis(1_700_000_000_000)));
        let h = Herald::new(
            crate::store::temporary(),
            clock.clone(),
            Settings::offline(),
        );
        for name in ["admin", "ops"] {
            h.create_user(
                &LOCAL,
                NewUser {
                    username: name.into(),
                    password: "right-password".into(),
                    tenant_id: None,
                },
            )
            .unwrap();
        }
        (h, clock)
    }

    fn login(h: &Herald, name: &str) -> crate::service::Result<Login> {
        h.login(name, "right-password", "192.0.2.1", None, None)
    }

    fn session_of(l: &Login) -> Caller {
        Caller::Session {
            token: l.token.clone(),
        }
    }

    #[test]
    fn a_disabled_user_cannot_log_in_and_its_sessions_end_until_enabled() {
        let (h, clock) = herald();
        let ops = login(&h, "ops").unwrap();
        assert!(h.authenticate(&session_of(&ops)).is_ok());
        clock.advance_ms(1_000);
        let u = h.disable_user(&LOCAL, "ops").unwrap();
        assert_eq!(u.disabled_at, Some(clock.now()));
        assert!(
            h.session(&ops.token).unwrap().is_none(),
            "its session ended"
        );
        assert!(matches!(
            h.authenticate(&session_of(&ops)),
            Err(ServiceError::Unauthorized(_))
        ));
        assert!(matches!(
            login(&h, "ops"),
            Err(ServiceError::Unauthorized(DISABLED_LOGIN))
        ));
        assert!(
            matches!(
                h.login("ops", "wrong-password", "192.0.2.1", None, None),
                Err(ServiceError::Unauthorized(BAD_LOGIN))
            ),
            "a wrong password learns nothing about the user"
        );
        // Disabling again changes nothing (not even the time).
        clock.advance_ms(1_000);
        let again = h.disable_user(&LOCAL, "ops").unwrap();
        assert_eq!(again.disabled_at, u.disabled_at);
        let enabled = h.enable_user(&LOCAL, "ops").unwrap();
        assert!(enabled.enabled());
        login(&h, "ops").unwrap();
        assert!(matches!(
            h.disable_user(&LOCAL, "nobody"),
            Err(ServiceError::NotFound("user"))
        ));
    }

    #[test]
    fn the_last_enabled_operator_is_neither_disabled_nor_removed() {
        let (h, _) = herald();
        h.disable_user(&LOCAL, "ops").unwrap();
        let refused = h.disable_user(&LOCAL, "admin").unwrap_err();
        assert_eq!(refused.code(), "last_operator");
        assert!(refused.to_string().contains("admin"), "{refused}");
        let refused = h.remove_user(&LOCAL, "admin").unwrap_err();
        assert_eq!(refused.code(), "last_operator");
        assert!(h.store.user("admin").unwrap().unwrap().enabled());
        // A disabled operator can go; then with ops enabled, admin can too.
        h.enable_user(&LOCAL, "ops").unwrap();
        h.remove_user(&LOCAL, "admin").unwrap();
        assert_eq!(h.store.user("admin").unwrap(), None);
        assert_eq!(
            h.remove_user(&LOCAL, "ops").unwrap_err().code(),
            "last_operator"
        );
        assert!(matches!(
            h.remove_user(&LOCAL, "admin"),
            Err(ServiceError::NotFound("user"))
        ));
    }

    #[test]
    fn removing_a_user_ends_its_sessions_and_forgets_its_last_login() {
        let (h, clock) = herald();
        let ops = login(&h, "ops").unwrap();
        let listed = h.list_users(&LOCAL).unwrap();
        let ops_row = listed.iter().find(|u| u.user.username == "ops").unwrap();
        assert_eq!(ops_row.last_login_at, Some(clock.now()));
        let admin_row = listed.iter().find(|u| u.user.username == "admin").unwrap();
        assert_eq!(admin_row.last_login_at, None, "never logged in");
        // An operator removes it from the panel.
        let admin = login(&h, "admin").unwrap();
        h.remove_user(&session_of(&admin), "ops").unwrap();
        assert!(h.session(&ops.token).unwrap().is_none());
        assert!(login(&h, "ops").is_err());
        assert_eq!(h.store.last_login("ops").unwrap(), None);
        assert!(
            h.session(&admin.token).unwrap().is_some(),
            "not the caller's"
        );
    }

    #[test]
    fn only_operators_and_platform_keys_manage_users() {
        let (h, _) = herald();
        h.create_tenant(
            &LOCAL,
            crate::service::NewTenant {
                id: "acme".into(),
                name: None,
                metadata: Default::default(),
            },
        )
        .unwrap();
        h.create_user(
            &LOCAL,
            NewUser {
                username: "t".into(),
                password: "right-password".into(),
                tenant_id: Some("acme".into()),
            },
        )
        .unwrap();
        let t = session_of(&login(&h, "t").unwrap());
        for r in [
            h.disable_user(&t, "ops").map(|_| ()),
            h.enable_user(&t, "ops").map(|_| ()),
            h.remove_user(&t, "ops"),
            h.list_users(&t).map(|_| ()),
        ] {
            assert!(matches!(r, Err(ServiceError::Forbidden(_))), "{r:?}");
        }
        let key = h
            .create_key(
                &LOCAL,
                NewKey {
                    name: "acme".into(),
                    tenant_id: Some("acme".into()),
                    scope: None,
                },
            )
            .unwrap();
        let tenant_key = Caller::Api {
            bearer: Some(key.text),
            tenant: None,
        };
        assert!(matches!(
            h.remove_user(&tenant_key, "ops"),
            Err(ServiceError::Forbidden(_))
        ));
        // A tenant user may be disabled whatever the operators.
        h.disable_user(&LOCAL, "t").unwrap();
    }
}
