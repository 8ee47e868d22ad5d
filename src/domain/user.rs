//! Admin panel users; passwords are stored as argon2id hashes.

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use rand::RngCore;
use serde::{Deserialize, Serialize};

use super::time::Timestamp;

/// The user created on first start.
pub const ADMIN_USER: &str = "admin";
/// The shortest password accepted.
pub const MIN_PASSWORD_LEN: usize = 8;

/// What a user may see.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Role {
    /// Sees and manages every tenant.
    Operator,
    /// Sees one tenant only.
    Tenant(String),
}

/// An admin panel user.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct User {
    /// The login name.
    pub username: String,
    /// The argon2id PHC string.
    pub password_hash: String,
    /// Operator or tenant-bound.
    pub role: Role,
    /// When it was created.
    pub created_at: Timestamp,
    /// When an operator disabled it: a disabled user cannot log in and has
    /// no session. `None` while enabled.
    pub disabled_at: Option<Timestamp>,
}

impl User {
    /// Whether it may log in.
    pub fn enabled(&self) -> bool {
        self.disabled_at.is_none()
    }

    /// Whether it is an operator that may log in.
    pub fn active_operator(&self) -> bool {
        self.enabled() && self.role == Role::Operator
    }
}

/// Why a change to the users is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UserRuleError {
    /// Disabling or removing this user would leave no operator who can
    /// log in, and nobody could manage the panel's users again (short of
    /// the CLI on the stopped data directory).
    #[error("{0} is the last active operator; add or enable another operator first")]
    LastOperator(String),
}

/// Checks that disabling or removing `target` leaves at least one enabled
/// operator among `users` (all of them, `target` included). A user that is
/// not an enabled operator can always go.
pub fn check_keeps_an_operator(users: &[User], target: &str) -> Result<(), UserRuleError> {
    let is_target = |u: &User| u.username == target;
    if !users.iter().any(|u| is_target(u) && u.active_operator()) {
        return Ok(());
    }
    if users.iter().any(|u| !is_target(u) && u.active_operator()) {
        Ok(())
    } else {
        Err(UserRuleError::LastOperator(target.to_string()))
    }
}

/// Hashes a password with argon2id and a random salt.
pub fn hash_password(password: &str) -> Result<String, argon2::password_hash::Error> {
    let mut salt_bytes = [0u8; 16];
    rand::rng().fill_bytes(&mut salt_bytes);
    let salt = SaltString::encode_b64(&salt_bytes)?;
    Ok(Argon2::default()
        .hash_password(password.as_bytes(), &salt)?
        .to_string())
}

/// Whether `password` matches the stored PHC string.
pub fn verify_password(password: &str, phc: &str) -> bool {
    PasswordHash::new(phc)
        .map(|h| {
            Argon2::default()
                .verify_password(password.as_bytes(), &h)
                .is_ok()
        })
        .unwrap_or(false)
}

/// The longest password accepted (argon2 hashes any length; this bounds
/// the work one request can ask for).
pub const MAX_PASSWORD_LEN: usize = 1024;
/// The longest username.
pub const MAX_USERNAME_LEN: usize = 64;

/// Whether `name` could be a stored username: 1 to 64 characters from
/// `A-Z a-z 0-9 _ - . @` (the rule before [`valid_username`] refused names
/// made only of dots, so users stored with such a name can still log in).
/// Checked on every login before anything else.
pub fn plausible_username(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= MAX_USERNAME_LEN
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.' | b'@'))
}

/// Whether `name` is a valid new username: 1 to 64 characters from
/// `A-Z a-z 0-9 _ - . @`, not only dots (so never `.` or `..`).
pub fn valid_username(name: &str) -> bool {
    plausible_username(name) && !name.bytes().all(|b| b == b'.')
}

/// Checks a new password's length; the message says what is needed.
pub fn check_new_password(password: &str) -> Result<(), String> {
    let n = password.chars().count();
    if n < MIN_PASSWORD_LEN {
        return Err(format!("use at least {MIN_PASSWORD_LEN} characters"));
    }
    if password.len() > MAX_PASSWORD_LEN {
        return Err(format!("use at most {MAX_PASSWORD_LEN} bytes"));
    }
    Ok(())
}

/// A random password for first start: 18 random bytes, base64url (24 chars).
pub fn generate_password() -> String {
    let mut bytes = [0u8; 18];
    rand::rng().fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(name: &str, role: Role, disabled: bool) -> User {
        User {
            username: name.into(),
            password_hash: String::new(),
            role,
            created_at: Timestamp::from_millis(0),
            disabled_at: disabled.then(|| Timestamp::from_millis(1)),
        }
    }

    #[test]
    fn the_last_enabled_operator_cannot_go() {
        let tenant = || Role::Tenant("acme".into());
        let users = vec![
            user("admin", Role::Operator, false),
            user("old", Role::Operator, true),
            user("t", tenant(), false),
        ];
        assert_eq!(
            check_keeps_an_operator(&users, "admin"),
            Err(UserRuleError::LastOperator("admin".into())),
            "a disabled operator and a tenant user do not count"
        );
        assert_eq!(check_keeps_an_operator(&users, "old"), Ok(()));
        assert_eq!(check_keeps_an_operator(&users, "t"), Ok(()));
        assert_eq!(check_keeps_an_operator(&users, "nobody"), Ok(()));
        let two = vec![
            user("admin", Role::Operator, false),
            user("ops", Role::Operator, false),
        ];
        assert_eq!(check_keeps_an_operator(&two, "admin"), Ok(()));
        assert_eq!(check_keeps_an_operator(&two, "ops"), Ok(()));
        assert!(two[0].active_operator() && !users[1].active_operator());
        assert!(!users[2].active_operator() && users[2].enabled());
        assert!(UserRuleError::LastOperator("admin".into())
            .to_string()
            .contains("last active operator"));
    }

    #[test]
    fn argon2id_round_trip() {
        let h = hash_password("correct horse").unwrap();
        assert!(h.starts_with("$argon2id$"), "{h}");
        assert!(verify_password("correct horse", &h));
        assert!(!verify_password("wrong horse", &h));
        assert!(!verify_password("x", "not a hash"));
        assert_eq!(generate_password().len(), 24);
        assert!(valid_username("ops.team@acme"));
        assert!(!valid_username(""));
        assert!(!valid_username("a b"));
        assert!(!valid_username(&"a".repeat(65)));
        assert!(valid_username("a.b") && valid_username(".a") && valid_username("a.."));
        for dots in [".", "..", "..."] {
            assert!(!valid_username(dots), "{dots}");
            assert!(plausible_username(dots), "{dots} may still log in");
        }
        assert!(!plausible_username(&"a".repeat(65)));
        assert!(check_new_password("short").is_err());
        assert!(check_new_password("long enough").is_ok());
    }
}
