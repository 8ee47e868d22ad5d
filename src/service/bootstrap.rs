//! First start of an empty data directory: the admin user and a platform key.

use super::{Herald, Result};
use crate::domain::apikey::{generate_key_text, KeyScope};
use crate::domain::user::{generate_password, hash_password, Role, User, ADMIN_USER};

/// What first start created. A secret appears here only if Herald generated
/// it; one the operator supplied is not echoed back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FirstRun {
    /// The generated admin password, if it was generated.
    pub generated_password: Option<String>,
    /// The generated platform key, if it was generated.
    pub generated_platform_key: Option<String>,
}

impl Herald {
    /// Creates the admin user and a platform key unless this data directory
    /// was initialised before; returns what it created.
    pub fn bootstrap(
        &self,
        admin_password: Option<&str>,
        platform_key: Option<&str>,
    ) -> Result<Option<FirstRun>> {
        if self.store.is_bootstrapped()? {
            return Ok(None);
        }
        if !self.bootstrap_turn()? {
            return Ok(None);
        }
        let generated_password = admin_password.is_none().then(generate_password);
        let password = admin_password
            .or(generated_password.as_deref())
            .unwrap_or_default();
        let hash = hash_password(password).map_err(|e| {
            super::ServiceError::invalid("HERALD_ADMIN_PASSWORD", format!("cannot hash: {e}"))
        })?;
        let user = User {
            username: ADMIN_USER.to_string(),
            password_hash: hash,
            role: Role::Operator,
            created_at: self.clock.now(),
            disabled_at: None,
        };
        if !self.store.insert_user(&user)? {
            self.store.put_user(&user)?;
        }
        let generated_platform_key = platform_key
            .is_none()
            .then(|| generate_key_text(&KeyScope::Platform));
        let key_text = platform_key
            .map(str::to_string)
            .or(generated_platform_key.clone())
            .unwrap_or_default();
        self.insert_key("bootstrap platform key", KeyScope::Platform, key_text)
            .map_err(|e| match e {
                super::ServiceError::Invalid(mut f) => {
                    f.field = "HERALD_PLATFORM_KEY";
                    super::ServiceError::Invalid(f)
                }
                other => other,
            })?;
        self.store.mark_bootstrapped()?;
        Ok(Some(FirstRun {
            generated_password,
            generated_platform_key,
        }))
    }

    /// Whether this process makes the first-start credentials. On a store
    /// several nodes share, nodes started together on an empty database
    /// take turns through the `bootstrap` role: one makes (and prints)
    /// them, the others wait until it has, and print nothing — so no node
    /// prints a password another node's write has replaced.
    fn bootstrap_turn(&self) -> Result<bool> {
        if self.store.cluster().is_none() {
            return Ok(true);
        }
        for _ in 0..BOOTSTRAP_WAIT_STEPS {
            let now = self.clock.now();
            if self.holds_role("bootstrap", now, now.plus_millis(BOOTSTRAP_ROLE_MS)) {
                // The holder before this one may have finished meanwhile.
                return Ok(!self.store.is_bootstrapped()?);
            }
            std::thread::sleep(std::time::Duration::from_millis(200));
            if self.store.is_bootstrapped()? {
                return Ok(false);
            }
        }
        // The holder is stuck (or died holding it): the role lapses after
        // BOOTSTRAP_ROLE_MS, long before this; go ahead.
        Ok(!self.store.is_bootstrapped()?)
    }
}

/// How long the `bootstrap` role lasts (a node that died holding it
/// gives it up after this).
const BOOTSTRAP_ROLE_MS: i64 = 30_000;
/// Looks, 200 ms apart, before a waiting node goes ahead (longer than
/// the role lasts).
const BOOTSTRAP_WAIT_STEPS: usize = 200;
