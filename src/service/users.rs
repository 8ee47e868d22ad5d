//! Admin panel users: operators (every tenant) and tenant-bound users.
//! Operators create users and set anyone's password; every user can change
//! their own with the current one. A changed password ends that user's
//! other sessions.

use super::{Caller, Herald, Principal, Result, ServiceError};
use crate::domain::user::{
    check_new_password, generate_password, hash_password, valid_username, verify_password, Role,
    User,
};

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
        };
        if !self.store.insert_user(&user)? {
            return Err(ServiceError::invalid("username", "this username is taken"));
        }
        log::info!("user {} created", user.username);
        Ok(user)
    }

    /// Every user, in name order (operators only).
    pub fn list_users(&self, caller: &Caller) -> Result<Vec<User>> {
        self.require_platform(caller)?;
        Ok(self.store.list_users()?)
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
