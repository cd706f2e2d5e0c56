//! Where webhook rotators may send values: the operator's allowlist
//! (`rotation_webhook_allow`) and the address rules.
//!
//! **Owns**: the entry syntax and the two decisions built on it: whether a
//! URL's host is listed ([`Allowlist::check_url`]) and whether one address may
//! be connected to ([`Allowlist::check_address`]). An entry is
//!
//! - a host name, matched exactly: `hooks.example.com`;
//! - a wildcard, matching any name *under* the domain (not the domain itself):
//!   `*.example.com`;
//! - either of these with a port, matching only that port (the scheme's
//!   default port when the URL names none): `hooks.example.com:8443`;
//! - an IP network in CIDR form, matching URLs whose host is an IP address in
//!   it, on any port: `10.1.0.0/16`, `127.0.0.1/32`, `::1/128`.
//!
//! Host names are ASCII (write an international name in its `xn--` form) and
//! compared without regard to case. A bare IP address is not an entry (write
//! `192.0.2.7/32`), nor is a network with host bits set (`10.1.2.3/16`).
//!
//! Address rules: an address that is loopback, link-local, unspecified,
//! multicast or broadcast (IPv4-mapped IPv6 addresses count as their IPv4
//! address) is refused unless a CIDR entry lying *inside* that special range
//! covers it. `127.0.0.1/32` allows 127.0.0.1; `0.0.0.0/0` allows any public
//! or private address, but no loopback, link-local (cloud metadata at
//! 169.254.169.254) or other special one.
//!
//! **Knows nothing of**: DNS and HTTP (the webhook rotator resolves names and
//! applies [`Allowlist::check_address`] to every address it would connect to).
//!
//! **Must never**: put a URL's path, query or userinfo into an error (they may
//! carry a token); messages name the host, the port and the address only.

use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

use ipnet::IpNet;

use crate::{Error, Result};

/// The name of the server setting, as messages name it.
pub const SETTING: &str = "rotation_webhook_allow";

/// The destinations webhook rotators may use. Empty = webhook rotators are off.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Allowlist {
    entries: Vec<Entry>,
}

/// One parsed entry (see the module documentation for the syntax).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Entry {
    /// A host name (lower case), or every name under it when `wildcard`.
    Host {
        name: String,
        wildcard: bool,
        port: Option<u16>,
    },
    /// A network of IP addresses, any port.
    Network(IpNet),
}

impl Allowlist {
    /// Parses every entry; the error names the first entry that is not valid.
    pub fn parse<I, S>(entries: I) -> Result<Self>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let entries = entries
            .into_iter()
            .map(|e| e.as_ref().parse())
            .collect::<Result<Vec<Entry>>>()?;
        Ok(Self { entries })
    }

    /// Whether no entry is configured (webhook rotators are then refused).
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The entries, as parsed.
    pub fn entries(&self) -> &[Entry] {
        &self.entries
    }

    /// Checks that the URL's host is listed. A host name must match a host
    /// entry (its resolved addresses are checked when connecting); an IP
    /// address must lie in a CIDR entry and pass [`Allowlist::check_address`].
    pub fn check_url(&self, url: &url::Url) -> Result<()> {
        if self.is_empty() {
            return Err(refused(format!(
                "webhook rotators are off on this server: the operator must list the receivers' hosts in {SETTING}"
            )));
        }
        let port = url.port_or_known_default();
        match url.host() {
            Some(url::Host::Domain(name)) => {
                let name = name.to_ascii_lowercase();
                if self.entries.iter().any(|e| e.matches_name(&name, port)) {
                    Ok(())
                } else {
                    let shown = match url.port() {
                        Some(p) => format!("{name}:{p}"),
                        None => name,
                    };
                    Err(refused(format!("host {shown} is not listed in {SETTING}")))
                }
            }
            Some(url::Host::Ipv4(ip)) => self.check_literal(IpAddr::V4(ip)),
            Some(url::Host::Ipv6(ip)) => self.check_literal(IpAddr::V6(ip)),
            None => Err(refused("the url has no host".into())),
        }
    }

    fn check_literal(&self, ip: IpAddr) -> Result<()> {
        let ip = canonical(ip);
        if !self.networks().any(|n| n.contains(&ip)) {
            return Err(refused(format!(
                "address {ip} is not covered by a network in {SETTING} (an IP address needs a CIDR entry such as {})",
                single(ip)
            )));
        }
        self.check_address(ip)
    }

    /// Checks one address a webhook would connect to: a special address
    /// (loopback, link-local, unspecified, multicast, broadcast) needs a CIDR
    /// entry inside its special range that covers it.
    pub fn check_address(&self, ip: IpAddr) -> Result<()> {
        match self.address_problem(ip) {
            Some(problem) => Err(refused(problem)),
            None => Ok(()),
        }
    }

    /// Why `ip` may not be connected to, or `None` when it may.
    pub(super) fn address_problem(&self, ip: IpAddr) -> Option<String> {
        let ip = canonical(ip);
        let (range, kind) = special_range(ip)?;
        if self.networks().any(|n| n.contains(&ip) && range.contains(n)) {
            return None;
        }
        Some(format!(
            "address {ip} is {kind} and {SETTING} does not list it (add {} to allow it)",
            single(ip)
        ))
    }

    fn networks(&self) -> impl Iterator<Item = &IpNet> {
        self.entries.iter().filter_map(|e| match e {
            Entry::Network(n) => Some(n),
            Entry::Host { .. } => None,
        })
    }
}

impl Entry {
    fn matches_name(&self, host: &str, port: Option<u16>) -> bool {
        let Entry::Host {
            name,
            wildcard,
            port: wanted,
        } = self
        else {
            return false;
        };
        if wanted.is_some() && *wanted != port {
            return false;
        }
        // One trailing dot (an absolute name) names the same host.
        let host = host.strip_suffix('.').unwrap_or(host);
        if *wildcard {
            host.strip_suffix(name.as_str())
                .is_some_and(|below| below.len() > 1 && below.ends_with('.'))
        } else {
            host == name
        }
    }
}

impl FromStr for Entry {
    type Err = Error;

    fn from_str(entry: &str) -> Result<Self> {
        let invalid = |why: &str| Error::Config(format!("{SETTING} entry {entry:?}: {why}"));
        if entry.is_empty() {
            return Err(invalid("an entry must not be empty"));
        }
        if entry.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(invalid("an entry must not contain spaces"));
        }
        if entry.contains('/') {
            let net: IpNet = entry
                .parse()
                .map_err(|_| invalid("not a network in CIDR form like 10.1.0.0/16 or ::1/128"))?;
            if net.trunc() != net {
                return Err(invalid(&format!(
                    "the address has bits set beyond the prefix length; write {}",
                    net.trunc()
                )));
            }
            if let IpNet::V6(v6) = net
                && v6.addr().to_ipv4_mapped().is_some()
                && v6.prefix_len() >= 96
            {
                return Err(invalid("an IPv4-mapped network; write the IPv4 network instead"));
            }
            return Ok(Entry::Network(net));
        }
        if entry.parse::<IpAddr>().is_ok() || entry.starts_with('[') || entry.matches(':').count() > 1 {
            return Err(invalid(
                "an IP address must be written as a network, like 192.0.2.7/32 or ::1/128",
            ));
        }
        let (host, port) = match entry.rsplit_once(':') {
            Some((host, port)) => {
                let port: u16 = port
                    .parse()
                    .ok()
                    .filter(|p| *p != 0)
                    .ok_or_else(|| invalid("the port must be a number from 1 to 65535"))?;
                (host, Some(port))
            }
            None => (entry, None),
        };
        if host.parse::<IpAddr>().is_ok() {
            return Err(invalid(
                "an IP address must be written as a network, like 192.0.2.7/32 (a network matches any port)",
            ));
        }
        let (name, wildcard) = match host.strip_prefix("*.") {
            Some(rest) => (rest, true),
            None => (host, false),
        };
        check_host_name(name).map_err(invalid)?;
        Ok(Entry::Host {
            name: name.to_ascii_lowercase(),
            wildcard,
            port,
        })
    }
}

impl fmt::Display for Entry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Entry::Host { name, wildcard, port } => {
                if *wildcard {
                    f.write_str("*.")?;
                }
                f.write_str(name)?;
                match port {
                    Some(p) => write!(f, ":{p}"),
                    None => Ok(()),
                }
            }
            Entry::Network(net) => write!(f, "{net}"),
        }
    }
}

/// A DNS name as URLs carry it: dot-separated labels of letters, digits, `-`
/// and `_`, each 1–63 long, not starting or ending with `-`; at most 253 in
/// all. A name whose last label is a number is an IPv4 address to a URL parser.
fn check_host_name(name: &str) -> Result<(), &'static str> {
    if name.contains('*') {
        return Err("a wildcard is only allowed as the first label, like *.example.com");
    }
    if name.is_empty() || name.len() > 253 {
        return Err("a host name must be 1 to 253 characters");
    }
    for label in name.split('.') {
        if label.is_empty() || label.len() > 63 {
            return Err("every label of a host name must be 1 to 63 characters (no empty labels, no trailing dot)");
        }
        if !label
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        {
            return Err(
                "a host name may hold only ASCII letters, digits, '-', '_' and '.' (write an international name in its xn-- form)",
            );
        }
        if label.starts_with('-') || label.ends_with('-') {
            return Err("a label of a host name must not start or end with '-'");
        }
    }
    let last = name.rsplit('.').next().unwrap_or(name);
    let hex = last
        .strip_prefix("0x")
        .or_else(|| last.strip_prefix("0X"))
        .is_some_and(|h| h.bytes().all(|b| b.is_ascii_hexdigit()));
    if last.bytes().all(|b| b.is_ascii_digit()) || hex {
        return Err("this is an IP address to a URL parser; write it as a network, like 192.0.2.7/32");
    }
    Ok(())
}

/// IPv4-mapped IPv6 addresses (`::ffff:127.0.0.1`) reach their IPv4 address.
pub fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

/// The special range an address lies in, and what it is called.
fn special_range(ip: IpAddr) -> Option<(IpNet, &'static str)> {
    const RANGES: &[(&str, &str)] = &[
        ("0.0.0.0/8", "unspecified"),
        ("127.0.0.0/8", "a loopback address"),
        ("169.254.0.0/16", "link-local"),
        ("224.0.0.0/4", "multicast"),
        ("255.255.255.255/32", "the broadcast address"),
        ("::/128", "unspecified"),
        ("::1/128", "a loopback address"),
        ("fe80::/10", "link-local"),
        ("ff00::/8", "multicast"),
    ];
    RANGES.iter().find_map(|(net, kind)| {
        let net: IpNet = net.parse().ok()?;
        net.contains(&ip).then_some((net, *kind))
    })
}

/// The one-address network of `ip`, as an entry would spell it.
fn single(ip: IpAddr) -> String {
    match ip {
        IpAddr::V4(_) => format!("{ip}/32"),
        IpAddr::V6(_) => format!("{ip}/128"),
    }
}

pub(super) fn refused(message: String) -> Error {
    Error::Config(format!("url: {message}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn list(entries: &[&str]) -> Allowlist {
        Allowlist::parse(entries).unwrap()
    }

    /// `expected`: `Ok(())`, or `Err(words the refusal must contain)`.
    fn check(entries: &[&str], url: &str, expected: Result<(), &str>) {
        let url = url::Url::parse(url).unwrap();
        match (list(entries).check_url(&url), expected) {
            (Ok(()), Ok(())) => {}
            (Err(e), Err(words)) => {
                let message = e.to_string();
                assert!(message.contains(words), "{entries:?} {url}: {message}");
                assert!(!message.contains("t0ken"), "{message}");
            }
            (got, want) => panic!("{entries:?} {url}: got {got:?}, want {want:?}"),
        }
    }

    #[test]
    fn host_entries_match_exactly_wildcards_only_below() {
        let hooks = &["hooks.example.com"];
        check(hooks, "https://hooks.example.com/rotate?token=t0ken", Ok(()));
        check(hooks, "https://HOOKS.Example.com/", Ok(()));
        check(hooks, "https://hooks.example.com./", Ok(()));
        check(hooks, "https://hooks.example.com:8443/", Ok(()));
        check(
            hooks,
            "https://user:t0ken@evil.example/?t0ken",
            Err("host evil.example is not listed"),
        );
        check(hooks, "https://a.hooks.example.com/", Err("not listed"));
        check(hooks, "https://hooks.example.com.evil.example/", Err("not listed"));
        check(hooks, "https://xhooks.example.com/", Err("not listed"));
        let wild = &["*.example.com"];
        check(wild, "https://a.example.com/", Ok(()));
        check(wild, "https://a.b.example.com/", Ok(()));
        check(wild, "https://example.com/", Err("not listed"));
        check(wild, "https://badexample.com/", Err("not listed"));
        check(wild, "https://.example.com/", Err("not listed"));
    }

    #[test]
    fn a_port_in_an_entry_must_match_the_urls_port_or_its_schemes_default() {
        let entries = &["hooks.example.com:8443", "plain.example.com:80"];
        check(entries, "https://hooks.example.com:8443/", Ok(()));
        check(entries, "https://hooks.example.com/", Err("not listed"));
        check(
            entries,
            "https://hooks.example.com:9443/",
            Err("hooks.example.com:9443 is not listed"),
        );
        check(entries, "http://plain.example.com/", Ok(()));
        check(entries, "https://plain.example.com/", Err("not listed"));
    }

    #[test]
    fn ip_literals_need_a_cidr_entry_and_special_ones_one_inside_their_range() {
        check(
            &["hooks.example.com"],
            "http://10.1.2.3/",
            Err("needs a CIDR entry such as 10.1.2.3/32"),
        );
        check(&["10.1.0.0/16"], "http://10.1.2.3:9000/", Ok(()));
        check(&["10.1.0.0/16"], "http://10.2.0.1/", Err("not covered"));
        check(&["0.0.0.0/0"], "http://203.0.113.9/", Ok(()));
        check(
            &["0.0.0.0/0"],
            "http://127.0.0.1/",
            Err("127.0.0.1 is a loopback address"),
        );
        check(&["0.0.0.0/0"], "http://169.254.169.254/latest", Err("link-local"));
        check(&["0.0.0.0/0"], "http://0.0.0.0/", Err("unspecified"));
        check(&["127.0.0.1/32"], "http://127.0.0.1:8080/", Ok(()));
        check(&["127.0.0.0/8"], "http://127.0.0.2/", Ok(()));
        check(&["127.0.0.1/32"], "http://127.0.0.2/", Err("not covered"));
        check(&["127.0.0.1/32"], "http://[::ffff:127.0.0.1]/", Ok(()));
        check(&["0.0.0.0/0"], "http://[::ffff:127.0.0.1]/", Err("loopback"));
        check(&["::/0"], "http://[::1]/", Err("::1 is a loopback address"));
        check(&["::1/128"], "http://[::1]:8080/", Ok(()));
        check(&["::/0"], "http://[fe80::1]/", Err("link-local"));
        check(&["::/0"], "http://[2001:db8::1]/", Ok(()));
        // A URL parser reads these as 127.0.0.1.
        check(&["0.0.0.0/0"], "http://2130706433/", Err("loopback"));
        check(&["0.0.0.0/0"], "http://0x7f.1/", Err("loopback"));
    }

    #[test]
    fn an_empty_list_turns_webhooks_off() {
        check(&[], "https://hooks.example.com/", Err("rotation_webhook_allow"));
    }

    #[test]
    fn resolved_addresses_follow_the_address_rules() {
        let names = list(&["localhost"]);
        for ip in [
            "127.0.0.1",
            "::1",
            "169.254.169.254",
            "fe80::1",
            "0.0.0.0",
            "::",
            "224.0.0.1",
            "ff02::1",
            "::ffff:127.0.0.1",
        ] {
            let err = names.check_address(ip.parse().unwrap()).unwrap_err().to_string();
            assert!(err.contains("does not list it"), "{ip}: {err}");
        }
        for ip in ["10.0.0.1", "192.168.1.1", "203.0.113.9", "2001:db8::1", "fd00::1"] {
            names.check_address(ip.parse().unwrap()).unwrap();
        }
        let local = list(&["localhost", "127.0.0.1/32"]);
        local.check_address("127.0.0.1".parse().unwrap()).unwrap();
        local.check_address("::ffff:127.0.0.1".parse().unwrap()).unwrap();
        assert!(local.check_address("::1".parse().unwrap()).is_err());
        assert!(local.check_address("127.0.0.2".parse().unwrap()).is_err());
        // A wide network is not an explicit allowance of special addresses.
        let wide = list(&["0.0.0.0/0", "::/0"]);
        assert!(wide.check_address("127.0.0.1".parse().unwrap()).is_err());
        assert!(wide.check_address("::1".parse().unwrap()).is_err());
        let metadata = list(&["169.254.169.254/32"]);
        metadata.check_address("169.254.169.254".parse().unwrap()).unwrap();
    }

    fn entry(text: &str, expected: Result<Entry, &str>) {
        match (text.parse::<Entry>(), expected) {
            (Ok(got), Ok(want)) => {
                assert_eq!(got, want, "{text}");
                assert_eq!(got.to_string(), text.to_ascii_lowercase());
            }
            (Err(e), Err(words)) => {
                let message = e.to_string();
                assert!(message.contains(words), "{text}: {message}");
                assert!(message.contains(&format!("{text:?}")), "names the entry: {message}");
            }
            (got, want) => panic!("{text}: got {got:?}, want {want:?}"),
        }
    }

    fn host(name: &str, wildcard: bool, port: Option<u16>) -> Entry {
        Entry::Host {
            name: name.into(),
            wildcard,
            port,
        }
    }

    #[test]
    fn entries_parse_into_hosts_wildcards_and_networks() {
        entry("hooks.example.com", Ok(host("hooks.example.com", false, None)));
        entry("Hooks.Example.COM", Ok(host("hooks.example.com", false, None)));
        entry("*.example.com", Ok(host("example.com", true, None)));
        entry(
            "hooks.example.com:8443",
            Ok(host("hooks.example.com", false, Some(8443))),
        );
        entry("*.internal:443", Ok(host("internal", true, Some(443))));
        entry("localhost", Ok(host("localhost", false, None)));
        entry("my_host.corp", Ok(host("my_host.corp", false, None)));
        entry("10.1.0.0/16", Ok(Entry::Network("10.1.0.0/16".parse().unwrap())));
        entry("::1/128", Ok(Entry::Network("::1/128".parse().unwrap())));
        entry("0.0.0.0/0", Ok(Entry::Network("0.0.0.0/0".parse().unwrap())));
    }

    #[test]
    fn invalid_entries_are_refused_with_the_reason() {
        entry("", Err("empty"));
        entry("hooks example", Err("spaces"));
        entry("127.0.0.1", Err("as a network"));
        entry("127.0.0.1:8080", Err("as a network"));
        entry("::1", Err("as a network"));
        entry("[::1]:8080", Err("as a network"));
        entry("10.1.2.3/16", Err("write 10.1.0.0/16"));
        entry("10.1.0.0/33", Err("CIDR"));
        entry("hooks/x", Err("CIDR"));
        entry("::ffff:127.0.0.1/128", Err("IPv4-mapped"));
        entry("hooks.example.com:0", Err("port"));
        entry("hooks.example.com:http", Err("port"));
        entry("hooks.example.com:", Err("port"));
        entry("*", Err("wildcard"));
        entry("*.", Err("1 to 253"));
        entry("a.*.example.com", Err("wildcard"));
        entry("*example.com", Err("wildcard"));
        entry("hooks..example.com", Err("label"));
        entry("hooks.example.com.", Err("label"));
        entry("-hooks.example.com", Err("'-'"));
        entry("bücher.example", Err("xn--"));
        entry("hooks.example.com/path", Err("CIDR"));
        entry("https://hooks.example.com", Err("CIDR"));
        entry("2130706433", Err("IP address"));
        entry("10.1.2", Err("IP address"));
        entry("0x7f.1", Err("IP address"));
        entry(&"a".repeat(64), Err("1 to 63"));
    }

    #[test]
    fn the_error_names_the_first_bad_entry() {
        let err = Allowlist::parse(["hooks.example.com", "10.0.0.1"])
            .unwrap_err()
            .to_string();
        assert!(err.contains("\"10.0.0.1\""), "{err}");
        assert!(err.contains(SETTING), "{err}");
    }

    mod properties {
        use std::net::{Ipv4Addr, Ipv6Addr};

        use proptest::prelude::*;

        use super::*;

        fn loopback() -> impl Strategy<Value = IpAddr> {
            prop_oneof![
                any::<[u8; 3]>().prop_map(|[a, b, c]| IpAddr::V4(Ipv4Addr::new(127, a, b, c))),
                Just(IpAddr::V6(Ipv6Addr::LOCALHOST)),
                any::<[u8; 3]>().prop_map(|[a, b, c]| IpAddr::V6(Ipv4Addr::new(127, a, b, c).to_ipv6_mapped())),
            ]
        }

        /// Entries that parse: host names, wildcards, ports, and networks outside loopback.
        fn entries() -> impl Strategy<Value = Vec<String>> {
            let entry = prop_oneof![
                "[a-z]([a-z0-9-]{0,9}[a-z0-9])?(\\.[a-z][a-z0-9]{0,10}){0,3}",
                "\\*\\.[a-z][a-z0-9]{0,10}\\.[a-z]{2,5}",
                "[a-z][a-z0-9]{0,10}\\.[a-z]{2,5}:[1-9][0-9]{0,3}",
                (any::<u32>(), 0u8..=32).prop_filter_map("outside 127.0.0.0/8", |(a, p)| {
                    let net = ipnet::Ipv4Net::new(Ipv4Addr::from(a), p).ok()?.trunc();
                    let loopback: ipnet::Ipv4Net = "127.0.0.0/8".parse().ok()?;
                    (!loopback.contains(&net)).then(|| net.to_string())
                }),
                (any::<u128>(), 0u8..=128).prop_filter_map("not ::1/128", |(a, p)| {
                    let net = ipnet::Ipv6Net::new(Ipv6Addr::from(a), p).ok()?.trunc();
                    (net.prefix_len() < 128 || net.addr() != Ipv6Addr::LOCALHOST).then(|| net.to_string())
                }),
            ];
            proptest::collection::vec(entry, 0..6)
        }

        proptest! {
            #[test]
            fn arbitrary_text_never_panics(text in "\\PC{0,80}", raw in ".{0,80}") {
                let _ = text.parse::<Entry>();
                let _ = raw.parse::<Entry>();
                let _ = Allowlist::parse([&text, &raw]);
            }

            #[test]
            fn arbitrary_urls_never_panic(text in "(https?://)?[a-zA-Z0-9.:\\[\\]@/?%*_-]{0,60}") {
                if let Ok(url) = url::Url::parse(&text) {
                    let _ = Allowlist::parse(["*.example.com", "10.0.0.0/8", "hooks:8443"])
                        .map(|l| l.check_url(&url));
                }
            }

            #[test]
            fn loopback_is_refused_without_a_covering_cidr(entries in entries(), ip in loopback()) {
                let list = Allowlist::parse(&entries).map_err(|e| TestCaseError::fail(e.to_string()))?;
                prop_assert!(list.check_address(ip).is_err(), "{ip} allowed by {entries:?}");
                let literal = match ip {
                    IpAddr::V4(v4) => format!("http://{v4}:8080/"),
                    IpAddr::V6(v6) => format!("http://[{v6}]:8080/"),
                };
                let url = url::Url::parse(&literal).map_err(|e| TestCaseError::fail(e.to_string()))?;
                prop_assert!(list.check_url(&url).is_err(), "{literal} allowed by {entries:?}");
            }

            #[test]
            fn a_loopback_cidr_allows_exactly_the_addresses_it_covers(
                a in any::<[u8; 3]>(), b in any::<[u8; 3]>(), prefix in 8u8..=32,
            ) {
                let a = Ipv4Addr::new(127, a[0], a[1], a[2]);
                let b = Ipv4Addr::new(127, b[0], b[1], b[2]);
                let net = ipnet::Ipv4Net::new(a, prefix).map_err(|e| TestCaseError::fail(e.to_string()))?.trunc();
                let list = Allowlist::parse([net.to_string()]).map_err(|e| TestCaseError::fail(e.to_string()))?;
                prop_assert!(list.check_address(IpAddr::V4(a)).is_ok());
                prop_assert!(list.check_address(IpAddr::V6(a.to_ipv6_mapped())).is_ok());
                prop_assert_eq!(list.check_address(IpAddr::V4(b)).is_ok(), net.contains(&b));
            }
        }
    }
}
