//! The SSRF guard for merchant `notify_url`s: a URL is accepted only if it is http(s), at most
//! 256 characters, and every address its host resolves to is one the platform may connect to.
//!
//! The same check runs twice: when a merchant hands us the URL (the open API refuses it with a
//! `resp_desc` naming the rule) and again at delivery, after resolution, where the dispatcher then
//! connects only to the addresses vetted here, so a DNS answer that changes in between (rebinding)
//! cannot reach an internal host.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;

use url::{Host, Url};

/// The longest `notify_url` accepted, in characters (API.md "jspay"; WeChat Pay v2 takes no
/// longer one either).
const MAX_NOTIFY_URL_CHARS: usize = 256;

/// How long a host name may take to resolve before the URL is refused.
const RESOLVE_TIMEOUT: Duration = Duration::from_secs(5);

/// Which non-public destinations configuration allows. Link-local and cloud metadata addresses,
/// multicast, broadcast and unspecified addresses are refused whatever the policy says.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
pub struct UrlPolicy {
    /// 127.0.0.0/8 and ::1 (tests, `nkpay demo`).
    #[serde(default)]
    pub allow_loopback: bool,
    /// RFC 1918, shared address space (CGNAT 100.64.0.0/10) and IPv6 unique-local addresses
    /// (a platform deployed next to its merchants inside one private network).
    #[serde(default)]
    pub allow_private: bool,
}

impl UrlPolicy {
    /// Public addresses only: the production default.
    pub const PUBLIC_ONLY: UrlPolicy = UrlPolicy {
        allow_loopback: false,
        allow_private: false,
    };

    /// Public and loopback addresses: tests and the demo.
    pub const WITH_LOOPBACK: UrlPolicy = UrlPolicy {
        allow_loopback: true,
        allow_private: false,
    };
}

/// The kind of non-public address a host resolved to; names the rule in messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum AddressClass {
    Loopback,
    Private,
    SharedCgnat,
    UniqueLocal,
    LinkLocal,
    CloudMetadata,
    Multicast,
    Broadcast,
    Unspecified,
    Reserved,
}

impl AddressClass {
    fn describe(self) -> &'static str {
        match self {
            AddressClass::Loopback => "a loopback address",
            AddressClass::Private => "a private address",
            AddressClass::SharedCgnat => "a shared (CGNAT) address",
            AddressClass::UniqueLocal => "an IPv6 unique-local address",
            AddressClass::LinkLocal => "a link-local address",
            AddressClass::CloudMetadata => "a cloud metadata address",
            AddressClass::Multicast => "a multicast address",
            AddressClass::Broadcast => "the broadcast address",
            AddressClass::Unspecified => "an unspecified address",
            AddressClass::Reserved => "a reserved address",
        }
    }

    /// Whether `policy` lets a notification go to an address of this class.
    fn allowed_by(self, policy: &UrlPolicy) -> bool {
        match self {
            AddressClass::Loopback => policy.allow_loopback,
            AddressClass::Private | AddressClass::SharedCgnat | AddressClass::UniqueLocal => {
                policy.allow_private
            }
            AddressClass::LinkLocal
            | AddressClass::CloudMetadata
            | AddressClass::Multicast
            | AddressClass::Broadcast
            | AddressClass::Unspecified
            | AddressClass::Reserved => false,
        }
    }
}

/// Why a `notify_url` was refused. `Display` starts with `notify_url不合法: ` and names the rule,
/// ready for a `resp_desc`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum UrlRefusal {
    #[error("notify_url不合法: longer than {MAX_NOTIFY_URL_CHARS} characters ({0})")]
    TooLong(usize),
    #[error("notify_url不合法: not an absolute URL ({0})")]
    Malformed(String),
    #[error("notify_url不合法: scheme must be http or https, not {0}")]
    Scheme(String),
    #[error("notify_url不合法: has no host")]
    NoHost,
    #[error("notify_url不合法: host {host} could not be resolved ({reason})")]
    Unresolvable { host: String, reason: String },
    #[error("notify_url不合法: host {0} resolves to no address")]
    NoAddress(String),
    #[error("notify_url不合法: resolves to {} ({addr})", .class.describe())]
    Forbidden { addr: IpAddr, class: AddressClass },
}

/// Checks `url` and resolves its host; returns the vetted socket addresses.
pub(crate) async fn check_notify_url(
    url: &str,
    policy: &UrlPolicy,
) -> Result<Vec<SocketAddr>, UrlRefusal> {
    let parsed = parse_notify_url(url)?;
    let port = parsed.port_or_known_default().ok_or(UrlRefusal::NoHost)?;
    let addrs = match parsed.host() {
        None => return Err(UrlRefusal::NoHost),
        Some(Host::Ipv4(ip)) => vec![SocketAddr::new(IpAddr::V4(ip), port)],
        Some(Host::Ipv6(ip)) => vec![SocketAddr::new(IpAddr::V6(ip), port)],
        Some(Host::Domain(name)) => resolve_vetted(name, port, policy).await?,
    };
    for addr in &addrs {
        check_ip(addr.ip(), policy)?;
    }
    Ok(addrs)
}

/// The checks that need no resolution: length, syntax, scheme, host present.
pub(crate) fn parse_notify_url(url: &str) -> Result<Url, UrlRefusal> {
    let chars = url.chars().count();
    if chars > MAX_NOTIFY_URL_CHARS {
        return Err(UrlRefusal::TooLong(chars));
    }
    let parsed = Url::parse(url).map_err(|e| UrlRefusal::Malformed(e.to_string()))?;
    match parsed.scheme() {
        "http" | "https" => {}
        other => return Err(UrlRefusal::Scheme(other.to_string())),
    }
    if parsed.host().is_none() {
        return Err(UrlRefusal::NoHost);
    }
    Ok(parsed)
}

/// Resolves a host name and checks every address it gives. Every address must pass: a name
/// that also resolves to an internal address is refused, rather than hoping the client picks
/// the public one.
pub(crate) async fn resolve_vetted(
    host: &str,
    port: u16,
    policy: &UrlPolicy,
) -> Result<Vec<SocketAddr>, UrlRefusal> {
    let addrs = resolve(host, port).await?;
    if addrs.is_empty() {
        return Err(UrlRefusal::NoAddress(host.to_string()));
    }
    for addr in &addrs {
        check_ip(addr.ip(), policy)?;
    }
    Ok(addrs)
}

async fn resolve(host: &str, port: u16) -> Result<Vec<SocketAddr>, UrlRefusal> {
    let lookup = tokio::net::lookup_host((host, port));
    match tokio::time::timeout(RESOLVE_TIMEOUT, lookup).await {
        Ok(Ok(addrs)) => {
            let mut addrs: Vec<SocketAddr> = addrs.collect();
            addrs.dedup();
            Ok(addrs)
        }
        Ok(Err(e)) => Err(UrlRefusal::Unresolvable {
            host: host.to_string(),
            reason: e.to_string(),
        }),
        Err(_) => Err(UrlRefusal::Unresolvable {
            host: host.to_string(),
            reason: format!("no answer within {}s", RESOLVE_TIMEOUT.as_secs()),
        }),
    }
}

/// Refuses `ip` unless it is public or its class is allowed by `policy`.
pub(crate) fn check_ip(ip: IpAddr, policy: &UrlPolicy) -> Result<(), UrlRefusal> {
    match classify(ip) {
        Some(class) if !class.allowed_by(policy) => Err(UrlRefusal::Forbidden { addr: ip, class }),
        _ => Ok(()),
    }
}

/// The class of a non-public address, `None` for a public one.
fn classify(ip: IpAddr) -> Option<AddressClass> {
    match ip {
        IpAddr::V4(v4) => classify_v4(v4),
        IpAddr::V6(v6) => classify_v6(v6),
    }
}

fn classify_v4(ip: Ipv4Addr) -> Option<AddressClass> {
    let [a, b, _, _] = ip.octets();
    if ip == Ipv4Addr::new(169, 254, 169, 254) {
        Some(AddressClass::CloudMetadata)
    } else if ip.is_broadcast() {
        Some(AddressClass::Broadcast)
    } else if a == 0 {
        // 0.0.0.0/8, "this network": connecting to it reaches the local host on most systems.
        Some(AddressClass::Unspecified)
    } else if ip.is_loopback() {
        Some(AddressClass::Loopback)
    } else if ip.is_private() {
        Some(AddressClass::Private)
    } else if a == 100 && (b & 0xc0) == 64 {
        Some(AddressClass::SharedCgnat)
    } else if ip.is_link_local() {
        Some(AddressClass::LinkLocal)
    } else if ip.is_multicast() {
        Some(AddressClass::Multicast)
    } else if a >= 240
        || (a == 192 && b == 0 && ip.octets()[2] == 0)
        || (a == 198 && (b & 0xfe) == 18)
    {
        // 240/4 future use, 192.0.0.0/24 protocol assignments, 198.18/15 benchmarking.
        Some(AddressClass::Reserved)
    } else {
        None
    }
}

fn classify_v6(ip: Ipv6Addr) -> Option<AddressClass> {
    let seg = ip.segments();
    if ip == Ipv6Addr::new(0xfd00, 0x0ec2, 0, 0, 0, 0, 0, 0x0254) {
        return Some(AddressClass::CloudMetadata);
    }
    if ip.is_unspecified() {
        return Some(AddressClass::Unspecified);
    }
    if ip.is_loopback() {
        return Some(AddressClass::Loopback);
    }
    // Forms that carry an IPv4 address inside: judge the IPv4 address, so that ::ffff:10.0.0.1,
    // ::10.0.0.1 or 64:ff9b::a9fe:a9fe cannot stand in for a refused IPv4 destination.
    if let Some(v4) = embedded_v4(&ip) {
        return classify_v4(v4);
    }
    if (seg[0] & 0xffc0) == 0xfe80 {
        return Some(AddressClass::LinkLocal);
    }
    if (seg[0] & 0xffc0) == 0xfec0 {
        // Deprecated site-local: private in practice.
        return Some(AddressClass::UniqueLocal);
    }
    if (seg[0] & 0xfe00) == 0xfc00 {
        return Some(AddressClass::UniqueLocal);
    }
    if (seg[0] & 0xff00) == 0xff00 {
        return Some(AddressClass::Multicast);
    }
    None
}

fn embedded_v4(ip: &Ipv6Addr) -> Option<Ipv4Addr> {
    let seg = ip.segments();
    let tail = || {
        Ipv4Addr::new(
            (seg[6] >> 8) as u8,
            seg[6] as u8,
            (seg[7] >> 8) as u8,
            seg[7] as u8,
        )
    };
    if let Some(v4) = ip.to_ipv4_mapped() {
        return Some(v4);
    }
    // IPv4-compatible ::a.b.c.d (deprecated but still routed by some stacks).
    if seg[..6] == [0, 0, 0, 0, 0, 0] {
        return Some(tail());
    }
    // NAT64 well-known prefix 64:ff9b::/96 and the local-use 64:ff9b:1::/48.
    if seg[..6] == [0x64, 0xff9b, 0, 0, 0, 0] || seg[..3] == [0x64, 0xff9b, 1] {
        return Some(tail());
    }
    // 6to4 2002:AABB:CCDD::/48 carries the IPv4 address in the second and third groups.
    if seg[0] == 0x2002 {
        return Some(Ipv4Addr::new(
            (seg[1] >> 8) as u8,
            seg[1] as u8,
            (seg[2] >> 8) as u8,
            seg[2] as u8,
        ));
    }
    None
}

impl fmt::Display for AddressClass {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.describe())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().expect("test literal")
    }

    #[test]
    fn public_addresses_pass_the_strictest_policy() {
        for s in [
            "8.8.8.8",
            "203.0.114.1",
            "2001:4860:4860::8888",
            "::ffff:1.2.3.4",
        ] {
            assert_eq!(check_ip(ip(s), &UrlPolicy::PUBLIC_ONLY), Ok(()), "{s}");
        }
    }

    #[test]
    fn each_non_public_range_is_named() {
        let cases = [
            ("127.0.0.1", AddressClass::Loopback),
            ("127.255.0.9", AddressClass::Loopback),
            ("::1", AddressClass::Loopback),
            ("10.1.2.3", AddressClass::Private),
            ("172.16.0.1", AddressClass::Private),
            ("172.31.255.255", AddressClass::Private),
            ("192.168.1.1", AddressClass::Private),
            ("100.64.0.1", AddressClass::SharedCgnat),
            ("100.127.255.254", AddressClass::SharedCgnat),
            ("169.254.1.1", AddressClass::LinkLocal),
            ("169.254.169.254", AddressClass::CloudMetadata),
            ("fd00:ec2::254", AddressClass::CloudMetadata),
            ("fe80::1", AddressClass::LinkLocal),
            ("febf::1", AddressClass::LinkLocal),
            ("fc00::1", AddressClass::UniqueLocal),
            ("fd12:3456::1", AddressClass::UniqueLocal),
            ("224.0.0.1", AddressClass::Multicast),
            ("ff02::1", AddressClass::Multicast),
            ("255.255.255.255", AddressClass::Broadcast),
            ("0.0.0.0", AddressClass::Unspecified),
            ("0.1.2.3", AddressClass::Unspecified),
            ("::", AddressClass::Unspecified),
            ("240.0.0.1", AddressClass::Reserved),
            ("::ffff:127.0.0.1", AddressClass::Loopback),
            ("::ffff:10.0.0.1", AddressClass::Private),
            ("::ffff:169.254.169.254", AddressClass::CloudMetadata),
            ("::ffff:169.254.0.1", AddressClass::LinkLocal),
            ("::10.0.0.1", AddressClass::Private),
            ("64:ff9b::a9fe:a9fe", AddressClass::CloudMetadata),
            ("2002:c0a8:0101::1", AddressClass::Private),
        ];
        for (s, class) in cases {
            assert_eq!(classify(ip(s)), Some(class), "{s}");
        }
        assert_eq!(classify(ip("100.128.0.1")), None);
        assert_eq!(classify(ip("172.32.0.1")), None);
    }

    #[test]
    fn policy_opens_loopback_and_private_but_never_link_local_or_metadata() {
        let all = UrlPolicy {
            allow_loopback: true,
            allow_private: true,
        };
        for s in ["127.0.0.1", "::1", "10.0.0.1", "100.64.0.1", "fd12::1"] {
            assert_eq!(check_ip(ip(s), &all), Ok(()), "{s}");
        }
        for s in [
            "169.254.169.254",
            "fd00:ec2::254",
            "169.254.3.3",
            "fe80::1",
            "::ffff:169.254.169.254",
            "224.0.0.1",
            "0.0.0.0",
        ] {
            assert!(check_ip(ip(s), &all).is_err(), "{s}");
        }
        assert!(check_ip(ip("10.0.0.1"), &UrlPolicy::WITH_LOOPBACK).is_err());
        assert!(check_ip(ip("127.0.0.1"), &UrlPolicy::PUBLIC_ONLY).is_err());
    }

    #[test]
    fn refusal_names_the_rule_for_resp_desc() {
        let e = check_ip(ip("192.168.0.7"), &UrlPolicy::PUBLIC_ONLY).unwrap_err();
        assert_eq!(
            e.to_string(),
            "notify_url不合法: resolves to a private address (192.168.0.7)"
        );
    }

    #[tokio::test]
    async fn scheme_length_and_syntax_are_checked_before_resolution() {
        let p = UrlPolicy::PUBLIC_ONLY;
        assert!(matches!(
            check_notify_url("ftp://example.com/x", &p).await,
            Err(UrlRefusal::Scheme(s)) if s == "ftp"
        ));
        assert!(matches!(
            check_notify_url("not a url", &p).await,
            Err(UrlRefusal::Malformed(_))
        ));
        let long = format!("https://example.com/{}", "a".repeat(240));
        assert!(matches!(
            check_notify_url(&long, &p).await,
            Err(UrlRefusal::TooLong(260))
        ));
        assert!(matches!(
            check_notify_url("file:///etc/passwd", &p).await,
            Err(UrlRefusal::Scheme(_))
        ));
    }

    #[tokio::test]
    async fn literal_addresses_in_odd_spellings_are_caught() {
        let p = UrlPolicy::WITH_LOOPBACK;
        for u in [
            "http://169.254.169.254/latest/meta-data",
            "http://0xa9fea9fe/",
            "http://2852039166/",
            "http://[::ffff:a9fe:a9fe]/",
            "http://[fd00:ec2::254]/",
            "http://0/",
            "http://10.0.0.1:8080/n",
        ] {
            assert!(
                matches!(
                    check_notify_url(u, &p).await,
                    Err(UrlRefusal::Forbidden { .. })
                ),
                "{u}"
            );
        }
        let ok = check_notify_url("http://127.0.0.1:9000/n", &p).await;
        assert_eq!(ok, Ok(vec!["127.0.0.1:9000".parse().expect("literal")]));
    }

    #[tokio::test]
    async fn localhost_name_resolves_and_is_refused_without_loopback_permission() {
        let r = check_notify_url("http://localhost:9/n", &UrlPolicy::PUBLIC_ONLY).await;
        assert!(
            matches!(
                r,
                Err(UrlRefusal::Forbidden {
                    class: AddressClass::Loopback,
                    ..
                })
            ),
            "{r:?}"
        );
        let ok = check_notify_url("http://localhost:9/n", &UrlPolicy::WITH_LOOPBACK)
            .await
            .expect("localhost allowed");
        assert!(ok.iter().all(|a| a.ip().is_loopback() && a.port() == 9));
    }
}
