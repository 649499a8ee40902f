//! Name resolution without libc's resolver: a static musl binary on Android finds no
//! `/etc/resolv.conf`, so every outbound connection resolves host names here.

mod cache;
mod exchange;
mod system;
mod wire;

use std::ffi::CString;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV6};
use std::path::PathBuf;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Instant;

pub use system::ResolverConfig;
pub use wire::{Answer, TYPE_A, TYPE_AAAA, decode_response, encode_query};

#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum DnsError {
    #[error("invalid host name {0:?}")]
    InvalidName(String),
    #[error("no such host {0:?}")]
    NotFound(String),
    /// The host, then each server tried and what happened there.
    #[error("no DNS server answered for {0:?} (tried {1})")]
    Timeout(String, String),
    #[error("bad DNS answer: {0}")]
    Malformed(String),
}

static CACHE: Mutex<cache::Cache> = Mutex::new(cache::Cache::new());

/// `host`'s addresses with `port`, IPv4 first. IP literals and `localhost` need no
/// query; hosts files come next, then the system's nameservers
/// ([`ResolverConfig::from_system`]). DNS answers are cached for their TTL (≤ 5 min).
pub fn resolve(host: &str, port: u16) -> Result<Vec<SocketAddr>, DnsError> {
    if let Some(addr) = ip_literal(host, port) {
        return Ok(vec![addr]);
    }
    let ips = match known_locally(host, &system::hosts_files())? {
        Some(ips) => ips,
        None => cached_lookup(host)?,
    };
    Ok(with_port(&ips, port))
}

/// [`resolve`] with explicit settings and no cache.
pub fn resolve_with(host: &str, port: u16, config: &ResolverConfig) -> Result<Vec<SocketAddr>, DnsError> {
    if let Some(addr) = ip_literal(host, port) {
        return Ok(vec![addr]);
    }
    let ips = match known_locally(host, &config.hosts_files)? {
        Some(ips) => ips,
        None => exchange::lookup(host, config)?.addrs,
    };
    Ok(with_port(&ips, port))
}

/// `host:port` (with `[v6]:port`), as peers.yaml addresses are written.
pub fn resolve_address(address: &str) -> Result<Vec<SocketAddr>, DnsError> {
    let (host, port) = split_host_port(address)?;
    resolve(host, port)
}

/// `host:port` or `[v6]:port` split in two; an IPv6 address must be bracketed.
pub fn split_host_port(address: &str) -> Result<(&str, u16), DnsError> {
    let invalid = || DnsError::InvalidName(address.to_string());
    let (host, port) = match address.strip_prefix('[') {
        Some(rest) => rest.split_once("]:").ok_or_else(invalid)?,
        None => address.rsplit_once(':').filter(|(host, _)| !host.contains(':')).ok_or_else(invalid)?,
    };
    let port = port.parse().ok().filter(|_| !host.is_empty() && port.bytes().all(|b| b.is_ascii_digit()));
    Ok((host, port.ok_or_else(invalid)?))
}

/// `host` as an IP address: `192.0.2.1`, `2001:db8::1`, `[2001:db8::1]`, or a
/// link-local `fe80::1%wlan0` (interface name or index).
fn ip_literal(host: &str, port: u16) -> Option<SocketAddr> {
    let bare = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')).unwrap_or(host);
    if let Ok(ip) = bare.parse::<IpAddr>() {
        return Some(SocketAddr::new(ip, port));
    }
    let (ip, zone) = bare.split_once('%')?;
    Some(SocketAddr::V6(SocketAddrV6::new(ip.parse().ok()?, port, 0, scope_id(zone)?)))
}

fn scope_id(zone: &str) -> Option<u32> {
    if let Ok(index) = zone.parse() {
        return Some(index);
    }
    let name = CString::new(zone).ok()?;
    // SAFETY: `name` is a NUL-terminated string that outlives the call.
    let index = unsafe { libc::if_nametoindex(name.as_ptr()) };
    (index != 0).then_some(index)
}

/// Addresses that need no query (`localhost`, hosts-file entries); refuses bad names.
fn known_locally(host: &str, hosts_files: &[PathBuf]) -> Result<Option<Vec<IpAddr>>, DnsError> {
    let name = wire::validate_name(host)?;
    if is_localhost(name) {
        return Ok(Some(vec![Ipv4Addr::LOCALHOST.into(), Ipv6Addr::LOCALHOST.into()]));
    }
    let ips = system::hosts_lookup(hosts_files, name);
    Ok((!ips.is_empty()).then_some(ips))
}

/// `localhost` and its subdomains are loopback (RFC 6761 §6.3).
fn is_localhost(name: &str) -> bool {
    let name = name.to_ascii_lowercase();
    name == "localhost" || name.ends_with(".localhost")
}

fn cached_lookup(host: &str) -> Result<Vec<IpAddr>, DnsError> {
    let key = wire::validate_name(host)?.to_ascii_lowercase();
    if let Some(ips) = lock_cache().get(&key, Instant::now()) {
        return Ok(ips);
    }
    let found = exchange::lookup(host, &ResolverConfig::from_system())?;
    lock_cache().put(key, found.addrs.clone(), found.ttl, Instant::now());
    Ok(found.addrs)
}

fn lock_cache() -> MutexGuard<'static, cache::Cache> {
    // Every update is a single push or removal, so a panic mid-update cannot leave the
    // cache half-written: a poisoned lock is safe to keep using.
    CACHE.lock().unwrap_or_else(PoisonError::into_inner)
}

fn with_port(ips: &[IpAddr], port: u16) -> Vec<SocketAddr> {
    ips.iter().map(|&ip| SocketAddr::new(ip, port)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addrs(list: &[&str]) -> Vec<SocketAddr> {
        list.iter().map(|a| a.parse().unwrap()).collect()
    }

    /// Settings under which any query would fail: no server, no hosts file.
    fn offline() -> ResolverConfig {
        ResolverConfig {
            nameservers: Vec::new(),
            timeout: std::time::Duration::from_millis(1),
            attempts: 1,
            hosts_files: Vec::new(),
        }
    }

    #[test]
    fn ip_literals_return_themselves() {
        let cfg = offline();
        assert_eq!(resolve_with("192.0.2.1", 80, &cfg).unwrap(), addrs(&["192.0.2.1:80"]));
        assert_eq!(resolve_with("2001:db8::1", 443, &cfg).unwrap(), addrs(&["[2001:db8::1]:443"]));
        assert_eq!(resolve_with("[2001:db8::1]", 443, &cfg).unwrap(), addrs(&["[2001:db8::1]:443"]));
        let SocketAddr::V6(scoped) = resolve_with("[fe80::1%3]", 7, &cfg).unwrap()[0] else { panic!() };
        assert_eq!((scoped.scope_id(), scoped.port()), (3, 7));
        if let Some(lo) = scope_id("lo") {
            assert_eq!(
                ip_literal("fe80::1%lo", 1),
                Some(SocketAddr::V6(SocketAddrV6::new("fe80::1".parse().unwrap(), 1, 0, lo)))
            );
        }
        for not_literal in ["192.0.2", "[192.0.2.1", "fe80::1%", "fe80::1%no-such-if0", "1.2.3.4%1"] {
            assert_eq!(ip_literal(not_literal, 1), None, "{not_literal}");
        }
    }

    #[test]
    fn localhost_is_loopback_without_a_query() {
        let cfg = offline();
        let loopback = addrs(&["127.0.0.1:8080", "[::1]:8080"]);
        for name in ["localhost", "LocalHost.", "api.localhost"] {
            assert_eq!(resolve_with(name, 8080, &cfg).unwrap(), loopback, "{name}");
        }
        assert!(!is_localhost("localhost.example"));
        assert!(!is_localhost("notlocalhost"));
    }

    #[test]
    fn bad_names_fail_before_any_query() {
        for bad in ["exämple.com", "a..b", "", "[a.test]", "host name"] {
            assert_eq!(resolve_with(bad, 1, &offline()), Err(DnsError::InvalidName(bad.into())));
        }
    }

    #[test]
    fn no_nameserver_is_a_timeout_that_says_so() {
        assert_eq!(
            resolve_with("example.test", 1, &offline()),
            Err(DnsError::Timeout("example.test".into(), "no nameservers".into()))
        );
    }

    #[test]
    fn addresses_split_into_host_and_port() {
        assert_eq!(split_host_port("example.com:443"), Ok(("example.com", 443)));
        assert_eq!(split_host_port("[2001:db8::1]:7423"), Ok(("2001:db8::1", 7423)));
        assert_eq!(split_host_port("100.64.0.2:7423"), Ok(("100.64.0.2", 7423)));
        for bad in [
            "example.com",
            "2001:db8::1:7423",
            "[2001:db8::1]",
            "host:99999",
            "host:+1",
            ":80",
            "[]:80",
            "host:",
        ] {
            assert_eq!(split_host_port(bad), Err(DnsError::InvalidName(bad.into())), "{bad}");
        }
        assert_eq!(resolve_address("[::1]:7423").unwrap(), addrs(&["[::1]:7423"]));
        assert_eq!(resolve_address("localhost:1").unwrap(), addrs(&["127.0.0.1:1", "[::1]:1"]));
    }
}
