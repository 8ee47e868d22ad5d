//! The login throttle's rules: which failures a login is judged by, and
//! whether it may try now. Pure: the caller keeps the failure times (unix
//! ms, oldest first) and passes them in.
//!
//! - A login presenting a valid device cookie for its user (a browser that
//!   logged in as that user before) is judged only by that device's own
//!   failures: [`MAX_FAILURES_PER_DEVICE`] within the window and the device
//!   is trusted no more (until they age out); its failures count nowhere
//!   else. A flood from anywhere else cannot lock it out.
//! - Any other login is judged by its client (an IPv4 address, or an IPv6
//!   /64): [`MAX_FAILURES_PER_CLIENT`] failures within the window, whatever
//!   the usernames, and it waits; and by the (username, client) pair:
//!   [`MAX_FAILURES_PER_USER`] failures, or only [`MAX_FAILURES_UNDER_ATTACK`]
//!   while the user has [`USER_UNDER_ATTACK`] untrusted failures within the
//!   window from all clients together. A client that has not failed for a
//!   user is never refused for that user's sake.

use std::net::IpAddr;

/// How long a failed login counts (15 minutes).
pub const FAILURE_WINDOW_MS: i64 = 15 * 60_000;
/// Failed logins of one username from one client (without a device cookie)
/// within the window before that pair waits.
pub const MAX_FAILURES_PER_USER: usize = 5;
/// Failed logins from one client (without a device cookie), any usernames,
/// within the window before it waits.
pub const MAX_FAILURES_PER_CLIENT: usize = 20;
/// Failed logins with one device cookie within the window before the device
/// is judged like any other client.
pub const MAX_FAILURES_PER_DEVICE: usize = 5;
/// Untrusted failed logins of one user, from all clients, within the window
/// that put the user under attack.
pub const USER_UNDER_ATTACK: usize = 20;
/// The (username, client) limit while the user is under attack.
pub const MAX_FAILURES_UNDER_ATTACK: usize = 1;
/// How long a device cookie is trusted after the login that issued it (30
/// days).
pub const DEVICE_TTL_MS: i64 = 30 * 24 * 3_600_000;

/// The failures a login is judged by (each oldest first).
#[derive(Debug, Clone, Copy, Default)]
pub struct History<'a> {
    /// The failures of the device cookie presented, if it is a valid one
    /// for this user.
    pub device: Option<&'a [i64]>,
    /// The client's failures, any username, without a device cookie.
    pub client: &'a [i64],
    /// This username's failures from this client without a device cookie.
    pub pair: &'a [i64],
    /// This user's failures from every client without a device cookie
    /// (empty for a username that does not exist).
    pub user: &'a [i64],
}

/// What a login may do now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Check the password; a failure counts against the device only.
    Trusted,
    /// Check the password; a failure counts against the client, the pair
    /// and the user.
    Untrusted,
    /// Refuse without checking; try again in this many seconds.
    Wait(u64),
}

/// How many of `times` are within the window at `now`.
pub fn recent(times: &[i64], now: i64) -> usize {
    times
        .iter()
        .filter(|&&t| now - t < FAILURE_WINDOW_MS)
        .count()
}

/// Milliseconds until fewer than `limit` of `times` are within the window,
/// if `limit` are now.
fn wait_ms(times: &[i64], limit: usize, now: i64) -> Option<i64> {
    let live: Vec<i64> = times
        .iter()
        .copied()
        .filter(|&t| now - t < FAILURE_WINDOW_MS)
        .collect();
    if limit == 0 || live.len() < limit {
        return None;
    }
    Some(live[live.len() - limit] + FAILURE_WINDOW_MS - now)
}

/// Whether a login judged by `h` may try at `now`.
pub fn verdict(h: &History<'_>, now: i64) -> Verdict {
    if let Some(device) = h.device {
        if recent(device, now) < MAX_FAILURES_PER_DEVICE {
            return Verdict::Trusted;
        }
    }
    let pair_limit = if recent(h.user, now) >= USER_UNDER_ATTACK {
        MAX_FAILURES_UNDER_ATTACK
    } else {
        MAX_FAILURES_PER_USER
    };
    let wait = wait_ms(h.client, MAX_FAILURES_PER_CLIENT, now)
        .into_iter()
        .chain(wait_ms(h.pair, pair_limit, now))
        .max();
    match wait {
        Some(ms) => Verdict::Wait((ms.max(1000) as u64).div_ceil(1000)),
        None => Verdict::Untrusted,
    }
}

/// The client a login is counted under: an IPv4 address, or the /64 of an
/// IPv6 one (one host usually holds a whole /64); an IPv4-mapped IPv6
/// address is its IPv4 address. Text that is no address is kept as it is.
pub fn client_bucket(addr: &str) -> String {
    match addr.parse::<IpAddr>() {
        Ok(IpAddr::V4(v4)) => v4.to_string(),
        Ok(IpAddr::V6(v6)) => match v6.to_ipv4_mapped() {
            Some(v4) => v4.to_string(),
            None => {
                let s = v6.segments();
                format!("{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3])
            }
        },
        Err(_) => addr.chars().take(64).collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const W: i64 = FAILURE_WINDOW_MS;

    fn times(n: usize, at: i64) -> Vec<i64> {
        vec![at; n]
    }

    #[test]
    fn the_pair_and_the_client_limits() {
        let none = History::default();
        assert_eq!(verdict(&none, 0), Verdict::Untrusted);
        let four = times(4, 0);
        let five = times(5, 0);
        let h = History {
            pair: &four,
            client: &four,
            ..none
        };
        assert_eq!(verdict(&h, 10), Verdict::Untrusted);
        let h = History {
            pair: &five,
            client: &five,
            ..none
        };
        assert_eq!(verdict(&h, 0), Verdict::Wait((W / 1000) as u64));
        assert_eq!(verdict(&h, W - 1), Verdict::Wait(1));
        assert_eq!(verdict(&h, W), Verdict::Untrusted, "aged out");
        let twenty = times(20, 0);
        let h = History {
            client: &twenty,
            ..none
        };
        assert_eq!(
            verdict(&h, 60_000),
            Verdict::Wait(((W - 60_000) / 1000) as u64)
        );
    }

    #[test]
    fn the_wait_ends_when_the_oldest_counting_failure_ages_out() {
        let pair = [0, 1000, 2000, 3000, 4000, 5000];
        let h = History {
            pair: &pair,
            client: &pair,
            ..History::default()
        };
        // Five of six count; the second one's expiry frees the pair.
        assert_eq!(
            verdict(&h, 6000),
            Verdict::Wait(((1000 + W - 6000) / 1000) as u64)
        );
    }

    #[test]
    fn a_device_is_judged_by_its_own_failures_only() {
        let flood = times(1000, 0);
        let four = times(4, 0);
        let h = History {
            device: Some(&four),
            client: &flood,
            pair: &flood,
            user: &flood,
        };
        assert_eq!(verdict(&h, 1), Verdict::Trusted);
        let five = times(5, 0);
        let h = History {
            device: Some(&five),
            ..h
        };
        assert!(
            matches!(verdict(&h, 1), Verdict::Wait(_)),
            "judged as a client"
        );
        let h = History {
            device: Some(&five),
            client: &[],
            pair: &[],
            user: &[],
        };
        assert_eq!(verdict(&h, 1), Verdict::Untrusted);
    }

    #[test]
    fn an_attacked_user_leaves_one_try_per_client_and_refuses_no_clean_one() {
        let attack = times(USER_UNDER_ATTACK, 0);
        let clean = History {
            user: &attack,
            ..History::default()
        };
        assert_eq!(verdict(&clean, 1), Verdict::Untrusted);
        let one = [0];
        let failed_once = History {
            pair: &one,
            ..clean
        };
        assert!(matches!(verdict(&failed_once, 1), Verdict::Wait(_)));
        let calm = History {
            pair: &one,
            ..History::default()
        };
        assert_eq!(verdict(&calm, 1), Verdict::Untrusted);
    }

    #[test]
    fn clients_are_addresses_or_ipv6_64s() {
        assert_eq!(client_bucket("192.0.2.7"), "192.0.2.7");
        assert_eq!(client_bucket("::ffff:192.0.2.7"), "192.0.2.7");
        assert_eq!(
            client_bucket("2001:db8:1:2:aaaa::1"),
            client_bucket("2001:db8:1:2:bbbb::9")
        );
        assert_eq!(client_bucket("2001:db8:1:2:aaaa::1"), "2001:db8:1:2::/64");
        assert_ne!(client_bucket("2001:db8:1:3::1"), "2001:db8:1:2::/64");
        assert_eq!(client_bucket("unknown"), "unknown");
    }
}
