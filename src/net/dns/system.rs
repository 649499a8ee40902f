//! Where the resolver's settings come from: `ALPI_DNS`, then `resolv.conf` (Termux keeps
//! its own under `$PREFIX`; Android itself has none), then public resolvers; and the
//! `/etc/hosts`-style files consulted before any query.

use std::fs::{self, File};
use std::io::{BufRead, BufReader};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use super::{ip_literal, split_host_port};

pub const DNS_PORT: u16 = 53;
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(2);
pub const DEFAULT_ATTEMPTS: u32 = 2;
/// glibc's caps for `options timeout:` and `attempts:`.
const MAX_TIMEOUT_SECS: u64 = 30;
const MAX_ATTEMPTS: u32 = 5;

/// Asked only when nothing names a nameserver: Cloudflare, Google, Quad9.
const FALLBACK_NAMESERVERS: [IpAddr; 6] = [
    IpAddr::V4(Ipv4Addr::new(1, 1, 1, 1)),
    IpAddr::V4(Ipv4Addr::new(8, 8, 8, 8)),
    IpAddr::V4(Ipv4Addr::new(9, 9, 9, 9)),
    IpAddr::V6(Ipv6Addr::new(0x2606, 0x4700, 0x4700, 0, 0, 0, 0, 0x1111)),
    IpAddr::V6(Ipv6Addr::new(0x2001, 0x4860, 0x4860, 0, 0, 0, 0, 0x8888)),
    IpAddr::V6(Ipv6Addr::new(0x2620, 0xfe, 0, 0, 0, 0, 0, 0xfe)),
];

/// Termux's `$PREFIX`, for when the variable was not passed down (adb, cron wrappers).
const TERMUX_PREFIX: &str = "/data/data/com.termux/files/usr";

/// How to resolve: which servers, how patiently, and which hosts files come first.
#[derive(Debug, Clone)]
pub struct ResolverConfig {
    /// Asked in order until one gives an answer.
    pub nameservers: Vec<SocketAddr>,
    /// How long each UDP attempt (and each TCP step) waits.
    pub timeout: Duration,
    /// UDP sends to each nameserver before moving on to the next.
    pub attempts: u32,
    /// Consulted before DNS; the first file that lists the host wins.
    pub hosts_files: Vec<PathBuf>,
}

impl ResolverConfig {
    /// Nameservers from `ALPI_DNS` (comma-separated `ip`, `ip:port` or `[v6]:port`) if
    /// set, else from `$PREFIX/etc/resolv.conf` and `/etc/resolv.conf`, else the public
    /// fallbacks; `options timeout:N attempts:N` from the first resolv.conf that sets them;
    /// hosts files `$PREFIX/etc/hosts`, then `/etc/hosts`. Tailscale MagicDNS names
    /// resolve when `100.100.100.100` is listed in one of those (Termux's resolv.conf does
    /// not get it from the Tailscale app: add it, or set `ALPI_DNS=100.100.100.100`).
    pub fn from_system() -> Self {
        let resolv_confs: Vec<String> =
            etc_dirs().iter().filter_map(|dir| fs::read_to_string(dir.join("resolv.conf")).ok()).collect();
        let alpi_dns = std::env::var("ALPI_DNS").ok();
        Self { hosts_files: hosts_files(), ..Self::from_texts(alpi_dns.as_deref(), &resolv_confs) }
    }

    fn from_texts(alpi_dns: Option<&str>, resolv_confs: &[String]) -> Self {
        let confs: Vec<ResolvConf> = resolv_confs.iter().map(|text| ResolvConf::parse(text)).collect();
        let mut nameservers = alpi_dns.map(parse_server_list).unwrap_or_default();
        if nameservers.is_empty() {
            for &server in confs.iter().flat_map(|conf| &conf.nameservers) {
                push_new(&mut nameservers, server);
            }
        }
        if nameservers.is_empty() {
            nameservers = FALLBACK_NAMESERVERS.iter().map(|&ip| SocketAddr::new(ip, DNS_PORT)).collect();
        }
        Self {
            nameservers,
            timeout: confs.iter().find_map(|conf| conf.timeout).unwrap_or(DEFAULT_TIMEOUT),
            attempts: confs.iter().find_map(|conf| conf.attempts).unwrap_or(DEFAULT_ATTEMPTS),
            hosts_files: Vec::new(),
        }
    }
}

/// `$PREFIX/etc/hosts` (Termux), then `/etc/hosts`.
pub fn hosts_files() -> Vec<PathBuf> {
    etc_dirs().into_iter().map(|dir| dir.join("hosts")).collect()
}

fn etc_dirs() -> Vec<PathBuf> {
    termux_prefix().map(|prefix| prefix.join("etc")).into_iter().chain([PathBuf::from("/etc")]).collect()
}

fn termux_prefix() -> Option<PathBuf> {
    match std::env::var_os("PREFIX") {
        Some(prefix) if !prefix.is_empty() => Some(PathBuf::from(prefix)),
        _ => Some(PathBuf::from(TERMUX_PREFIX)).filter(|dir| dir.is_dir()),
    }
}

/// What this resolver reads from a `resolv.conf`.
#[derive(Debug, Default, PartialEq)]
struct ResolvConf {
    nameservers: Vec<SocketAddr>,
    timeout: Option<Duration>,
    attempts: Option<u32>,
}

impl ResolvConf {
    fn parse(text: &str) -> Self {
        let mut conf = Self::default();
        for line in text.lines() {
            let mut words = line.split(['#', ';']).next().unwrap_or("").split_whitespace();
            match words.next() {
                Some("nameserver") => {
                    if let Some(server) = words.next().and_then(|ip| ip_literal(ip, DNS_PORT)) {
                        conf.nameservers.push(server);
                    }
                }
                Some("options") => words.for_each(|option| conf.apply_option(option)),
                _ => {}
            }
        }
        conf
    }

    fn apply_option(&mut self, option: &str) {
        let number = |prefix: &str| option.strip_prefix(prefix).and_then(|n| n.parse::<u32>().ok());
        if let Some(secs) = number("timeout:") {
            self.timeout = Some(Duration::from_secs(u64::from(secs).clamp(1, MAX_TIMEOUT_SECS)));
        } else if let Some(attempts) = number("attempts:") {
            self.attempts = Some(attempts.clamp(1, MAX_ATTEMPTS));
        }
    }
}

fn parse_server_list(list: &str) -> Vec<SocketAddr> {
    let mut servers = Vec::new();
    for entry in list.split(',').map(str::trim).filter(|entry| !entry.is_empty()) {
        match parse_server(entry) {
            Some(server) => push_new(&mut servers, server),
            None => log::warn!("ALPI_DNS: {entry:?} is not an IP address with an optional port; ignored"),
        }
    }
    servers
}

fn parse_server(entry: &str) -> Option<SocketAddr> {
    ip_literal(entry, DNS_PORT).or_else(|| {
        let (host, port) = split_host_port(entry).ok()?;
        ip_literal(host, port)
    })
}

fn push_new<T: PartialEq>(list: &mut Vec<T>, item: T) {
    if !list.contains(&item) {
        list.push(item);
    }
}

/// What the first of `files` that lists `name` gives it, IPv4 first.
pub fn hosts_lookup(files: &[PathBuf], name: &str) -> Vec<IpAddr> {
    let mut found = files
        .iter()
        .filter_map(|path| File::open(path).ok())
        .map(|file| addresses_in_hosts(BufReader::new(file), name))
        .find(|ips| !ips.is_empty())
        .unwrap_or_default();
    found.sort_by_key(IpAddr::is_ipv6);
    found
}

/// Addresses of `name` in one hosts file. Read line by line: ad-blocking hosts files
/// run to megabytes, and a line that is not UTF-8 is skipped, not fatal.
fn addresses_in_hosts(reader: impl BufRead, name: &str) -> Vec<IpAddr> {
    let name = name.strip_suffix('.').unwrap_or(name);
    let mut found = Vec::new();
    for line in reader.split(b'\n').map_while(Result::ok) {
        let Ok(line) = std::str::from_utf8(&line) else { continue };
        let mut words = line.split('#').next().unwrap_or("").split_whitespace();
        let Some(ip) = words.next().and_then(|word| word.parse::<IpAddr>().ok()) else { continue };
        if words.any(|alias| alias.strip_suffix('.').unwrap_or(alias).eq_ignore_ascii_case(name)) {
            push_new(&mut found, ip);
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(text: &str) -> SocketAddr {
        text.parse().unwrap()
    }

    #[test]
    fn resolv_conf_gives_nameservers_and_options() {
        let text = "\
# Generated by NetworkManager
search lan
nameserver 192.168.1.1   # the router
;nameserver 10.9.9.9
nameserver 2001:db8::53
nameserver not-an-ip
nameserver
options edns0 timeout:3 attempts:9 rotate
";
        let conf = ResolvConf::parse(text);
        assert_eq!(conf.nameservers, [addr("192.168.1.1:53"), addr("[2001:db8::53]:53")]);
        assert_eq!(conf.timeout, Some(Duration::from_secs(3)));
        assert_eq!(conf.attempts, Some(MAX_ATTEMPTS), "capped as glibc caps it");
        assert_eq!(ResolvConf::parse("options timeout:0 attempts:0").timeout, Some(Duration::from_secs(1)));
        assert_eq!(ResolvConf::parse(""), ResolvConf::default());
    }

    #[test]
    fn link_local_nameservers_keep_their_scope() {
        let conf = ResolvConf::parse("nameserver fe80::1%1\nnameserver fe80::2%no-such-interface0\n");
        let SocketAddr::V6(v6) = conf.nameservers[0] else { panic!("not v6") };
        assert_eq!((v6.scope_id(), v6.port()), (1, 53));
        assert_eq!(conf.nameservers.len(), 1, "an unknown interface name is skipped");
    }

    #[test]
    fn alpi_dns_overrides_every_resolv_conf() {
        let confs = ["nameserver 10.0.0.1\noptions timeout:4".to_string()];
        let config =
            ResolverConfig::from_texts(Some("127.0.0.1:5353, ::1 ,[::1]:5300,9.9.9.9,bogus,"), &confs);
        assert_eq!(
            config.nameservers,
            [addr("127.0.0.1:5353"), addr("[::1]:53"), addr("[::1]:5300"), addr("9.9.9.9:53")]
        );
        assert_eq!(config.timeout, Duration::from_secs(4), "options still come from resolv.conf");
    }

    #[test]
    fn termux_resolv_conf_comes_before_etc_and_duplicates_go() {
        let confs = [
            "nameserver 8.8.8.8\nnameserver 8.8.4.4".to_string(),
            "nameserver 8.8.8.8\nnameserver 100.100.100.100\noptions attempts:3".to_string(),
        ];
        let config = ResolverConfig::from_texts(None, &confs);
        assert_eq!(config.nameservers, [addr("8.8.8.8:53"), addr("8.8.4.4:53"), addr("100.100.100.100:53")]);
        assert_eq!((config.timeout, config.attempts), (DEFAULT_TIMEOUT, 3));
        let only_bogus = ResolverConfig::from_texts(Some("nope"), &confs);
        assert_eq!(only_bogus.nameservers, config.nameservers, "an unusable ALPI_DNS is ignored");
    }

    #[test]
    fn public_resolvers_when_nothing_is_configured() {
        let config = ResolverConfig::from_texts(None, &["search lan".to_string()]);
        assert_eq!(config.nameservers.len(), 6);
        assert_eq!(config.nameservers[0], addr("1.1.1.1:53"));
        assert!(config.nameservers[..3].iter().all(SocketAddr::is_ipv4), "IPv4 first");
        assert_eq!(config.nameservers[3], addr("[2606:4700:4700::1111]:53"));
        assert_eq!((config.timeout, config.attempts), (DEFAULT_TIMEOUT, DEFAULT_ATTEMPTS));
    }

    #[test]
    fn hosts_lines_match_any_alias_without_case() {
        let text = b"\
127.0.0.1\tlocalhost
# 10.0.0.9 printer.lan
fd00::5 printer.lan
10.0.0.5  nas.lan  Printer.LAN. printer   # office
10.0.0.5 printer.lan
\xff\xfe not utf-8 printer.lan
garbage printer.lan
10.0.0.6
";
        let found = addresses_in_hosts(&text[..], "printer.lan.");
        assert_eq!(found, ["fd00::5".parse::<IpAddr>().unwrap(), "10.0.0.5".parse().unwrap()]);
        assert!(addresses_in_hosts(&text[..], "printer.lan.example").is_empty());
        assert_eq!(addresses_in_hosts(&text[..], "printer").len(), 1);
    }

    #[test]
    fn the_first_hosts_file_that_knows_the_name_wins_and_ipv4_comes_first() {
        let dir = tempfile::tempdir().unwrap();
        let (termux, etc) = (dir.path().join("termux-hosts"), dir.path().join("etc-hosts"));
        fs::write(&termux, "fd00::7 box\n127.0.0.1 localhost\n10.0.0.7 box\n").unwrap();
        fs::write(&etc, "10.9.9.9 box\n10.9.9.8 other\n").unwrap();
        let files = [dir.path().join("missing"), termux, etc];
        assert_eq!(
            hosts_lookup(&files, "box"),
            ["10.0.0.7".parse::<IpAddr>().unwrap(), "fd00::7".parse().unwrap()]
        );
        assert_eq!(hosts_lookup(&files, "other"), ["10.9.9.8".parse::<IpAddr>().unwrap()]);
        assert!(hosts_lookup(&files, "nobody").is_empty());
    }
}
