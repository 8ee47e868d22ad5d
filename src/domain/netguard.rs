//! Which IP addresses Herald may connect to (the SSRF guard's rules).
//!
//! Endpoint URLs are tenant-controlled. Without this guard a tenant could
//! make Herald POST into the operator's own network (loopback, RFC 1918,
//! cloud metadata at 169.254.169.254). Every resolved address is classified
//! here; the delivery client checks it at connect time and the endpoint API
//! checks it when a URL is saved. Ranges the operator lists in
//! `--allow-private-networks` are exempt.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::str::FromStr;

use ipnet::IpNet;

/// Why an address was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Forbidden {
    /// 127.0.0.0/8, ::1.
    Loopback,
    /// 0.0.0.0/8, ::.
    Unspecified,
    /// RFC 1918, fc00::/7.
    Private,
    /// 100.64.0.0/10 (carrier-grade NAT).
    Shared,
    /// 169.254.0.0/16 (incl. cloud metadata), fe80::/10.
    LinkLocal,
    /// fec0::/10 (deprecated, still routed by some stacks).
    SiteLocal,
    /// 224.0.0.0/4, ff00::/8.
    Multicast,
    /// 255.255.255.255.
    Broadcast,
    /// 240.0.0.0/4, documentation, benchmarking and other special ranges;
    /// the rest of ::/8 in IPv6.
    Reserved,
    /// IPv6 forms that carry an IPv4 address (mapped, compatible,
    /// translated, NAT64 incl. local-use 64:ff9b:1::/48, 6to4, Teredo):
    /// refused so v4 rules cannot be bypassed through v6.
    EmbeddedIpv4,
}

impl Forbidden {
    /// A stable lowercase name, for error messages and logs.
    pub fn as_str(self) -> &'static str {
        match self {
            Forbidden::Loopback => "loopback",
            Forbidden::Unspecified => "unspecified",
            Forbidden::Private => "private",
            Forbidden::Shared => "shared",
            Forbidden::LinkLocal => "link-local",
            Forbidden::SiteLocal => "site-local",
            Forbidden::Multicast => "multicast",
            Forbidden::Broadcast => "broadcast",
            Forbidden::Reserved => "reserved",
            Forbidden::EmbeddedIpv4 => "ipv4-embedded ipv6",
        }
    }
}

/// The operator's allow-list and the classification rules.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IpPolicy {
    allowed: Vec<IpNet>,
}

/// A CIDR in `--allow-private-networks` that does not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid network {0:?} (expected CIDR such as 127.0.0.0/8 or ::1/128)")]
pub struct BadNetwork(pub String);

impl IpPolicy {
    /// A policy allowing exactly the listed networks besides public space.
    pub fn new(allowed: Vec<IpNet>) -> Self {
        Self { allowed }
    }

    /// Parses a comma-separated CIDR list (a bare address means /32 or /128).
    pub fn parse_list(list: &str) -> Result<Vec<IpNet>, BadNetwork> {
        list.split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(|s| {
                IpNet::from_str(s)
                    .or_else(|_| IpAddr::from_str(s).map(IpNet::from))
                    .map_err(|_| BadNetwork(s.to_string()))
            })
            .collect()
    }

    /// The allowed networks.
    pub fn allowed(&self) -> &[IpNet] {
        &self.allowed
    }

    /// `Ok` if Herald may connect to `ip`.
    pub fn check(&self, ip: IpAddr) -> Result<(), Forbidden> {
        // NB: an allow-listed v4 range also covers its v4-mapped v6 form,
        // because `to_canonical` folds ::ffff:a.b.c.d into a.b.c.d first.
        let canonical = ip.to_canonical();
        if self
            .allowed
            .iter()
            .any(|n| n.contains(&canonical) || n.contains(&ip))
        {
            return Ok(());
        }
        match ip {
            IpAddr::V4(v4) => classify_v4(v4),
            IpAddr::V6(v6) => classify_v6(v6),
        }
    }
}

fn in_v4(ip: Ipv4Addr, net: [u8; 4], bits: u32) -> bool {
    let mask = if bits == 0 {
        0
    } else {
        u32::MAX << (32 - bits)
    };
    (u32::from(ip) & mask) == (u32::from(Ipv4Addr::from(net)) & mask)
}

fn classify_v4(ip: Ipv4Addr) -> Result<(), Forbidden> {
    use Forbidden::*;
    let rules: &[([u8; 4], u32, Forbidden)] = &[
        ([0, 0, 0, 0], 8, Unspecified),
        ([127, 0, 0, 0], 8, Loopback),
        ([10, 0, 0, 0], 8, Private),
        ([172, 16, 0, 0], 12, Private),
        ([192, 168, 0, 0], 16, Private),
        ([100, 64, 0, 0], 10, Shared),
        ([169, 254, 0, 0], 16, LinkLocal),
        ([192, 0, 0, 0], 24, Reserved),
        ([192, 0, 2, 0], 24, Reserved),
        ([198, 18, 0, 0], 15, Reserved),
        ([198, 51, 100, 0], 24, Reserved),
        ([203, 0, 113, 0], 24, Reserved),
        ([192, 88, 99, 0], 24, Reserved),
        ([224, 0, 0, 0], 4, Multicast),
        ([255, 255, 255, 255], 32, Broadcast),
        ([240, 0, 0, 0], 4, Reserved),
    ];
    match rules.iter().find(|(net, bits, _)| in_v4(ip, *net, *bits)) {
        Some((_, _, why)) => Err(*why),
        None => Ok(()),
    }
}

fn classify_v6(ip: Ipv6Addr) -> Result<(), Forbidden> {
    use Forbidden::*;
    let s = ip.segments();
    if ip.is_unspecified() {
        return Err(Unspecified);
    }
    if ip.is_loopback() {
        return Err(Loopback);
    }
    // ::ffff:a.b.c.d (mapped), ::a.b.c.d (compatible), 64:ff9b::/96 and
    // 64:ff9b:1::/48 (NAT64), 2002::/16 (6to4), 2001::/32 (Teredo).
    let mapped_or_compatible = s[..5] == [0; 5] && (s[5] == 0xffff || s[5] == 0);
    let nat64 = s[0] == 0x64 && s[1] == 0xff9b && (s[2..6] == [0; 4] || s[2] == 1);
    if mapped_or_compatible || nat64 || s[0] == 0x2002 || (s[0] == 0x2001 && s[1] == 0) {
        return Err(EmbeddedIpv4);
    }
    // ::ffff:0:a.b.c.d (IPv4-translated, RFC 2765) carries an IPv4 address
    // too; the rest of ::/8 (IETF reserved: ::ff:…, ::1:…, …) is never a
    // legitimate destination.
    if s[..4] == [0; 4] && s[4] == 0xffff && s[5] == 0 {
        return Err(EmbeddedIpv4);
    }
    if s[0] & 0xff00 == 0 {
        return Err(Reserved);
    }
    match s[0] {
        x if x & 0xfe00 == 0xfc00 => Err(Private),
        x if x & 0xffc0 == 0xfe80 => Err(LinkLocal),
        x if x & 0xffc0 == 0xfec0 => Err(SiteLocal),
        x if x & 0xff00 == 0xff00 => Err(Multicast),
        // 2001:db8::/32 documentation, 100::/64 discard-only.
        0x2001 if s[1] == 0x0db8 => Err(Reserved),
        0x0100 if s[1..4] == [0; 3] => Err(Reserved),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(policy: &IpPolicy, s: &str) -> Result<(), Forbidden> {
        policy.check(s.parse().unwrap())
    }

    #[test]
    fn refuses_every_internal_form() {
        let p = IpPolicy::default();
        let table = [
            ("127.0.0.1", Forbidden::Loopback),
            ("127.255.255.254", Forbidden::Loopback),
            ("0.0.0.0", Forbidden::Unspecified),
            ("10.1.2.3", Forbidden::Private),
            ("172.16.0.1", Forbidden::Private),
            ("172.31.255.255", Forbidden::Private),
            ("192.168.1.1", Forbidden::Private),
            ("100.64.0.1", Forbidden::Shared),
            ("169.254.169.254", Forbidden::LinkLocal),
            ("224.0.0.1", Forbidden::Multicast),
            ("255.255.255.255", Forbidden::Broadcast),
            ("240.0.0.1", Forbidden::Reserved),
            ("::1", Forbidden::Loopback),
            ("::", Forbidden::Unspecified),
            ("fc00::1", Forbidden::Private),
            ("fd12:3456::1", Forbidden::Private),
            ("fe80::1", Forbidden::LinkLocal),
            ("fec0::1", Forbidden::SiteLocal),
            ("ff02::1", Forbidden::Multicast),
            ("::ffff:127.0.0.1", Forbidden::Loopback),
            ("::ffff:169.254.169.254", Forbidden::LinkLocal),
            ("::ffff:8.8.8.8", Forbidden::EmbeddedIpv4),
            ("::127.0.0.1", Forbidden::EmbeddedIpv4),
            ("64:ff9b::7f00:1", Forbidden::EmbeddedIpv4),
            ("2002:7f00:1::1", Forbidden::EmbeddedIpv4),
            ("2001:0:4136:e378::1", Forbidden::EmbeddedIpv4),
            // ::/8 beyond ::, ::1, mapped and compatible.
            ("::ffff:0:7f00:1", Forbidden::EmbeddedIpv4),
            ("::ffff:0:a9fe:a9fe", Forbidden::EmbeddedIpv4),
            ("::ffff:0:808:808", Forbidden::EmbeddedIpv4),
            ("::ff:7f00:1", Forbidden::Reserved),
            ("::1:7f00:1", Forbidden::Reserved),
            ("::1:0:0:7f00:1", Forbidden::Reserved),
            ("0:1::1", Forbidden::Reserved),
            ("ff::1", Forbidden::Reserved),
            ("64:ff9b:2::1", Forbidden::Reserved),
            // NAT64: well-known /96 and local-use /48 (RFC 8215).
            ("64:ff9b::a9fe:a9fe", Forbidden::EmbeddedIpv4),
            ("64:ff9b:1::7f00:1", Forbidden::EmbeddedIpv4),
            (
                "64:ff9b:1:ffff:ffff:ffff:ffff:ffff",
                Forbidden::EmbeddedIpv4,
            ),
            ("100::1", Forbidden::Reserved),
            ("2001:db8::1", Forbidden::Reserved),
        ];
        for (addr, why) in table {
            let got = check(&p, addr);
            // Mapped v4 is judged by the v4 address it carries when that is
            // itself internal; otherwise refused as an embedded form.
            if addr.starts_with("::ffff:") && why != Forbidden::EmbeddedIpv4 {
                assert!(got.is_err(), "{addr} must be refused");
            } else {
                assert_eq!(got, Err(why), "{addr}");
            }
        }
    }

    #[test]
    fn allows_public_addresses() {
        let p = IpPolicy::default();
        for addr in ["8.8.8.8", "1.1.1.1", "172.32.0.1", "2606:4700:4700::1111"] {
            assert_eq!(check(&p, addr), Ok(()), "{addr}");
        }
    }

    #[test]
    fn allow_list_exempts_ranges_including_mapped_forms() {
        let nets = IpPolicy::parse_list("127.0.0.0/8, ::1").unwrap();
        let p = IpPolicy::new(nets);
        assert_eq!(check(&p, "127.0.0.1"), Ok(()));
        assert_eq!(check(&p, "::ffff:127.0.0.1"), Ok(()));
        assert_eq!(check(&p, "::1"), Ok(()));
        assert_eq!(check(&p, "10.0.0.1"), Err(Forbidden::Private));
        assert!(IpPolicy::parse_list("127.0.0.0/33").is_err());
    }

    #[test]
    fn allow_list_exempts_the_new_v6_forms() {
        let forms = [
            "::ffff:0:7f00:1",
            "::ff:7f00:1",
            "::1:7f00:1",
            "64:ff9b:1::7f00:1",
        ];
        let p = IpPolicy::default();
        for addr in forms {
            assert!(check(&p, addr).is_err(), "{addr} refused by default");
        }
        let p = IpPolicy::new(
            IpPolicy::parse_list("::ffff:0:0:0/96, ::ff:0:0/96, ::1:0:0/96, 64:ff9b:1::/48")
                .unwrap(),
        );
        for addr in forms {
            assert_eq!(check(&p, addr), Ok(()), "{addr} allow-listed");
        }
        // Exempting one range leaves the others refused.
        let p = IpPolicy::new(IpPolicy::parse_list("64:ff9b:1::/48").unwrap());
        assert_eq!(check(&p, "::ffff:0:7f00:1"), Err(Forbidden::EmbeddedIpv4));
        assert_eq!(check(&p, "::1:7f00:1"), Err(Forbidden::Reserved));
        assert!(IpPolicy::parse_list("localhost").is_err());
    }
}
