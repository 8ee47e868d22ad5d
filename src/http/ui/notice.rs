//! [`Notice`]: the confirmations an action leaves for the page it
//! redirects to. A closed set, carried in the URL as a short stable code
//! (`?notice=saved`, plus `&n=3` for a count) and decoded by the page it
//! belongs to; what a page does with one (say, open the new endpoint's
//! secret) is decided from the variant, never from its text.

use std::fmt;

use actix_web::HttpResponse;
use serde::Deserialize;

use super::layout::redirect;

/// The pages that show notices. A code means something only on its page
/// (`created` is an endpoint, a tenant or a user), so each page decodes
/// only its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NoticePage {
    /// `/login`.
    Login,
    /// `/webhooks`.
    Endpoints,
    /// `/webhooks/{id}`.
    Endpoint,
    /// `/deliveries/{id}`.
    Delivery,
    /// `/tenants`.
    Tenants,
    /// `/keys`.
    Keys,
    /// `/users`.
    Users,
    /// `/account`.
    Account,
    /// `/backups`.
    Backups,
    /// `/event-types`.
    EventTypes,
    /// `/event-types/{name}`.
    EventType,
}

/// A confirmation shown at the top of a page after an action.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Notice {
    /// The session ended (`/login`).
    LoggedOut,
    /// An endpoint was created; its page opens the signing secret.
    EndpointCreated,
    /// The endpoint's edit form was saved.
    EndpointSaved,
    /// The endpoint was enabled.
    EndpointEnabled,
    /// The endpoint was disabled.
    EndpointDisabled,
    /// The endpoint's secret was rotated.
    SecretRotated,
    /// A test event was sent to the endpoint.
    TestSent,
    /// This many failed deliveries were re-queued.
    Replayed(usize),
    /// "Back up now" wrote a verified dump.
    BackupWritten,
    /// "Back up now" failed (the page shows why).
    BackupFailed,
    /// "Back up now" without `--backup-dir`.
    BackupsOff,
    /// "Retry now": this many retrying and this many failed deliveries
    /// were made due at once.
    RetriedNow(usize, usize),
    /// An endpoint was deleted (`/webhooks`).
    EndpointDeleted,
    /// A delivery was resent.
    DeliveryResent,
    /// A tenant was created.
    TenantCreated,
    /// A tenant was suspended.
    TenantSuspended,
    /// A tenant was resumed.
    TenantResumed,
    /// An API key was revoked.
    KeyRevoked,
    /// A user was created.
    UserCreated,
    /// An operator set a user's password.
    UserPasswordSet,
    /// The logged-in user changed their own password.
    OwnPasswordChanged,
    /// An operator disabled a user.
    UserDisabled,
    /// An operator enabled a user.
    UserEnabled,
    /// An operator removed a user.
    UserRemoved,
    /// A custom event type was created.
    EventTypeCreated,
    /// A custom event type's form was saved.
    EventTypeSaved,
    /// A custom event type was archived.
    EventTypeArchived,
    /// A custom event type was unarchived.
    EventTypeUnarchived,
    /// A custom event type was deleted.
    EventTypeDeleted,
}

/// Every notice, with a placeholder count for [`Notice::Replayed`].
const ALL: [Notice; 29] = [
    Notice::LoggedOut,
    Notice::EndpointCreated,
    Notice::EndpointSaved,
    Notice::EndpointEnabled,
    Notice::EndpointDisabled,
    Notice::SecretRotated,
    Notice::TestSent,
    Notice::Replayed(0),
    Notice::RetriedNow(0, 0),
    Notice::BackupWritten,
    Notice::BackupFailed,
    Notice::BackupsOff,
    Notice::EndpointDeleted,
    Notice::DeliveryResent,
    Notice::TenantCreated,
    Notice::TenantSuspended,
    Notice::TenantResumed,
    Notice::KeyRevoked,
    Notice::UserCreated,
    Notice::UserPasswordSet,
    Notice::OwnPasswordChanged,
    Notice::UserDisabled,
    Notice::UserEnabled,
    Notice::UserRemoved,
    Notice::EventTypeCreated,
    Notice::EventTypeSaved,
    Notice::EventTypeArchived,
    Notice::EventTypeUnarchived,
    Notice::EventTypeDeleted,
];

impl Notice {
    /// The page that shows it.
    pub fn page(self) -> NoticePage {
        use Notice::*;
        match self {
            LoggedOut => NoticePage::Login,
            EndpointCreated | EndpointSaved | EndpointEnabled | EndpointDisabled
            | SecretRotated | TestSent | Replayed(_) | RetriedNow(..) => NoticePage::Endpoint,
            EndpointDeleted => NoticePage::Endpoints,
            DeliveryResent => NoticePage::Delivery,
            TenantCreated | TenantSuspended | TenantResumed => NoticePage::Tenants,
            KeyRevoked => NoticePage::Keys,
            UserCreated | UserPasswordSet | UserDisabled | UserEnabled | UserRemoved => {
                NoticePage::Users
            }
            OwnPasswordChanged => NoticePage::Account,
            BackupWritten | BackupFailed | BackupsOff => NoticePage::Backups,
            EventTypeCreated | EventTypeArchived | EventTypeUnarchived | EventTypeDeleted => {
                NoticePage::EventTypes
            }
            EventTypeSaved => NoticePage::EventType,
        }
    }

    /// Its code in the URL, unique on its page.
    pub fn code(self) -> &'static str {
        use Notice::*;
        match self {
            LoggedOut => "logged_out",
            EndpointCreated | TenantCreated | UserCreated | EventTypeCreated => "created",
            EndpointSaved | EventTypeSaved => "saved",
            EventTypeArchived => "archived",
            EventTypeUnarchived => "unarchived",
            EndpointEnabled | UserEnabled => "enabled",
            EndpointDisabled | UserDisabled => "disabled",
            SecretRotated => "rotated",
            TestSent => "test_sent",
            Replayed(_) => "replayed",
            RetriedNow(..) => "retried",
            BackupWritten => "written",
            BackupFailed => "failed",
            BackupsOff => "off",
            EndpointDeleted | UserRemoved | EventTypeDeleted => "deleted",
            DeliveryResent => "resent",
            TenantSuspended => "suspended",
            TenantResumed => "resumed",
            KeyRevoked => "revoked",
            UserPasswordSet | OwnPasswordChanged => "password",
        }
    }

    /// Whether the endpoint page opens the signing secret (right after the
    /// endpoint was created, so it can be copied into the receiver).
    pub fn reveals_secret(self) -> bool {
        self == Notice::EndpointCreated
    }

    /// Its query string: `notice=<code>`, and `&n=<count>` for a count.
    pub fn query(self) -> String {
        match self {
            Notice::Replayed(n) => format!("notice={}&n={n}", self.code()),
            Notice::RetriedNow(n, m) => format!("notice={}&n={n}&m={m}", self.code()),
            _ => format!("notice={}", self.code()),
        }
    }

    /// A `303` to `path` (the notice's page) showing this notice.
    pub fn redirect(self, path: &str) -> HttpResponse {
        redirect(&format!("{path}?{}", self.query()))
    }

    /// The notice `code` means on `page` (with `n`, the count some carry);
    /// `None` for a code that is not one of that page's.
    pub fn decode(
        page: NoticePage,
        code: &str,
        n: Option<usize>,
        m: Option<usize>,
    ) -> Option<Notice> {
        ALL.into_iter()
            .find(|c| c.page() == page && c.code() == code)
            .map(|c| match c {
                Notice::Replayed(_) => Notice::Replayed(n.unwrap_or_default()),
                Notice::RetriedNow(..) => {
                    Notice::RetriedNow(n.unwrap_or_default(), m.unwrap_or_default())
                }
                other => other,
            })
    }

    /// The flash's tone: `ok` for something done, `info` for an action
    /// that found nothing to do (never green for "0 re-queued").
    pub fn tone(self) -> &'static str {
        match self {
            Notice::Replayed(0) | Notice::RetriedNow(0, 0) | Notice::BackupsOff => "info",
            Notice::BackupFailed => "bad",
            _ => "ok",
        }
    }
}

/// What the person reads.
impl fmt::Display for Notice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use Notice::*;
        let text = match self {
            LoggedOut => "You are logged out.",
            EndpointCreated => "Endpoint created. Copy its signing secret below into your receiver.",
            EndpointSaved => "Changes saved.",
            EndpointEnabled => "Endpoint enabled. Deliveries that waited for it are on their way.",
            EndpointDisabled => "Endpoint disabled. New events skip it; pending deliveries wait.",
            SecretRotated => "Secret rotated. Update your receiver; the previous secret keeps signing until the time shown below.",
            TestSent => "Test event sent. It shows under Recent deliveries.",
            Replayed(0) => "No failed delivery of this endpoint was created since then: nothing was re-queued.",
            Replayed(n) => return write!(f, "{n} failed deliveries re-queued."),
            RetriedNow(0, 0) => "Nothing was waiting: no delivery of this endpoint is retrying.",
            RetriedNow(n, 0) => {
                return write!(f, "{n} retrying deliveries are being sent now.")
            }
            RetriedNow(n, m) => {
                return write!(
                    f,
                    "{n} retrying and {m} failed deliveries are being sent now."
                )
            }
            EndpointDeleted => "The endpoint was deleted; its pending deliveries were cancelled.",
            DeliveryResent => {
                "Resent: one more attempt is on its way, with the same event id and body."
            }
            TenantCreated => {
                "Tenant created. Switch to it with the tenant selector to add its endpoints."
            }
            TenantSuspended => "Tenant suspended: its events are accepted and wait.",
            TenantResumed => "Tenant resumed: waiting deliveries are on their way.",
            KeyRevoked => "Key revoked: requests with it are refused from now on.",
            UserCreated => "User created. Give them their password through a safe channel.",
            UserPasswordSet => "Password changed; that user's sessions were ended.",
            OwnPasswordChanged => "Password changed. Your other sessions were logged out.",
            BackupWritten => "Backup written and verified. It is listed below.",
            BackupFailed => "The backup failed; the last run below says why.",
            BackupsOff => "Scheduled backups are off: start Herald with --backup-dir to use this.",
            UserDisabled => "User disabled: they cannot log in, and their sessions were ended.",
            UserEnabled => "User enabled: they can log in again.",
            UserRemoved => "User removed; their sessions were ended.",
            EventTypeCreated => "Event type created. Endpoints can subscribe to it now.",
            EventTypeSaved => "Changes saved.",
            EventTypeArchived => "Event type archived: no longer offered for new subscriptions; its events are still accepted and delivered.",
            EventTypeUnarchived => "Event type unarchived: offered for subscriptions again.",
            EventTypeDeleted => "Event type deleted: events of it are refused from now on.",
        };
        f.write_str(text)
    }
}

/// The notice part of a page's query string, as sent.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct NoticeQuery {
    /// The code.
    #[serde(default)]
    pub notice: Option<String>,
    /// The count, for notices that carry one.
    #[serde(default)]
    pub n: Option<usize>,
    /// A second count.
    #[serde(default)]
    pub m: Option<usize>,
}

impl NoticeQuery {
    /// The notice this query shows on `page`, if any.
    pub fn on(&self, page: NoticePage) -> Option<Notice> {
        Notice::decode(page, self.notice.as_deref()?, self.n, self.m)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_notice_decodes_from_its_own_query_on_its_own_page_only() {
        for n in ALL
            .into_iter()
            .chain([Notice::Replayed(7), Notice::RetriedNow(3, 2)])
        {
            let q: NoticeQuery = serde_html_form::from_str(&n.query()).unwrap();
            assert_eq!(q.on(n.page()), Some(n), "{n:?}");
            for other in [NoticePage::Login, NoticePage::Keys, NoticePage::Account] {
                if other != n.page() {
                    assert_ne!(q.on(other), Some(n), "{n:?} on {other:?}");
                }
            }
        }
    }

    #[test]
    fn codes_are_unique_per_page_and_only_creation_reveals_the_secret() {
        for a in ALL {
            for b in ALL {
                if a != b && a.page() == b.page() {
                    assert_ne!(a.code(), b.code(), "{a:?} and {b:?}");
                }
            }
            assert_eq!(a.reveals_secret(), a == Notice::EndpointCreated);
        }
        assert_eq!(
            Notice::decode(NoticePage::Endpoint, "bogus", None, None),
            None
        );
        assert_eq!(
            Notice::decode(NoticePage::Keys, "created", None, None),
            None
        );
        assert_eq!(
            Notice::decode(NoticePage::Users, "password", None, None),
            Some(Notice::UserPasswordSet)
        );
        assert_eq!(
            Notice::Replayed(3).to_string(),
            "3 failed deliveries re-queued."
        );
    }
}
