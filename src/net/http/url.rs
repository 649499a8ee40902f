//! `http://` and `https://` URLs split into what a request needs: the host to reach,
//! the port, and the request target (path and query; the fragment is dropped).

use std::fmt::Write as _;
use std::net::Ipv6Addr;

use super::HttpError;

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Url {
    pub tls: bool,
    /// A name, an IPv4 address or a bare IPv6 address (no brackets).
    pub host: String,
    pub port: u16,
    /// Path and query in origin form, always starting with `/`.
    pub target: String,
}

impl Url {
    pub fn parse(url: &str) -> Result<Url, HttpError> {
        let bad = |why: &str| HttpError::BadUrl(format!("{url:?}: {why}"));
        let (tls, rest) = match url.split_once("://") {
            Some((scheme, rest)) if scheme.eq_ignore_ascii_case("https") => (true, rest),
            Some((scheme, rest)) if scheme.eq_ignore_ascii_case("http") => (false, rest),
            _ => return Err(bad("only http:// and https:// URLs are supported")),
        };
        let rest = rest.split('#').next().unwrap_or_default();
        let split = rest.find(['/', '?']).unwrap_or(rest.len());
        let (authority, target) = rest.split_at(split);
        if authority.contains('@') {
            return Err(bad("credentials in URLs are not supported"));
        }
        let default_port = if tls { 443 } else { 80 };
        let (host, port) = split_authority(authority, default_port).ok_or_else(|| bad("bad host or port"))?;
        Ok(Url { tls, host: host.to_string(), port, target: origin_form(target) })
    }

    pub fn default_port(&self) -> u16 {
        if self.tls { 443 } else { 80 }
    }

    /// `host:port` as a `Host` header or a CONNECT target names it: IPv6 bracketed, and
    /// the port left out when `omit_default` and it is the scheme's.
    pub fn authority(&self, omit_default: bool) -> String {
        let mut out = match self.host.contains(':') {
            true => format!("[{}]", self.host),
            false => self.host.clone(),
        };
        if !omit_default || self.port != self.default_port() {
            let _ = write!(out, ":{}", self.port);
        }
        out
    }

    /// The absolute form a forward proxy needs: `http://host:port/path`.
    pub fn absolute(&self) -> String {
        format!("{}://{}{}", if self.tls { "https" } else { "http" }, self.authority(true), self.target)
    }
}

/// `host[:port]` or `[v6][:port]`; `None` if either part is malformed.
pub(crate) fn split_authority(authority: &str, default_port: u16) -> Option<(&str, u16)> {
    let (host, port) = match authority.strip_prefix('[') {
        Some(rest) => {
            let (v6, after) = rest.split_once(']')?;
            v6.parse::<Ipv6Addr>().ok()?;
            (v6, after.strip_prefix(':').or(after.is_empty().then_some("")))
        }
        None => {
            let (host, port) = authority.rsplit_once(':').unwrap_or((authority, ""));
            let name_ok =
                !host.is_empty() && host.bytes().all(|b| b.is_ascii_graphic() && !b":/?#[]@".contains(&b));
            (host, name_ok.then_some(port))
        }
    };
    let port = match port? {
        "" => default_port,
        p if p.bytes().all(|b| b.is_ascii_digit()) => p.parse().ok().filter(|&p| p != 0)?,
        _ => return None,
    };
    Some((host, port))
}

/// The path and query as sent on the request line: spaces, controls and non-ASCII
/// bytes percent-encoded, so nothing can break out of the line.
fn origin_form(target: &str) -> String {
    let mut out = String::with_capacity(target.len() + 1);
    if !target.starts_with('/') {
        out.push('/');
    }
    for b in target.bytes() {
        match b {
            0x21..=0x7e => out.push(char::from(b)),
            _ => {
                let _ = write!(out, "%{b:02X}");
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url(tls: bool, host: &str, port: u16, target: &str) -> Url {
        Url { tls, host: host.into(), port, target: target.into() }
    }

    #[test]
    fn parses_hosts_ports_and_targets() {
        let cases = [
            ("https://api.openai.com/v1/chat?x=1#frag", url(true, "api.openai.com", 443, "/v1/chat?x=1")),
            ("http://127.0.0.1:8080", url(false, "127.0.0.1", 8080, "/")),
            ("HTTP://[::1]:11434/api", url(false, "::1", 11434, "/api")),
            ("https://[2001:db8::1]", url(true, "2001:db8::1", 443, "/")),
            ("http://h?q=a b", url(false, "h", 80, "/?q=a%20b")),
            ("http://h:/p\r\nX: y", url(false, "h", 80, "/p%0D%0AX:%20y")),
            ("https://h/ü", url(true, "h", 443, "/%C3%BC")),
        ];
        for (text, want) in cases {
            assert_eq!(Url::parse(text).unwrap(), want, "{text}");
        }
    }

    #[test]
    fn refuses_what_it_cannot_reach() {
        for bad in [
            "ftp://h/",
            "h/path",
            "http://",
            "http://:80/",
            "http://u:p@h/",
            "http://h:99999/",
            "http://h:0/",
            "http://h:8x/",
            "http://[::1/",
            "http://[nope]/",
            "http://::1/",
            "http://a b/",
        ] {
            assert!(matches!(Url::parse(bad), Err(HttpError::BadUrl(_))), "{bad}");
        }
    }

    #[test]
    fn authority_brackets_v6_and_drops_default_ports() {
        assert_eq!(url(true, "::1", 443, "/").authority(true), "[::1]");
        assert_eq!(url(true, "::1", 443, "/").authority(false), "[::1]:443");
        assert_eq!(url(false, "h", 8080, "/x").absolute(), "http://h:8080/x");
    }
}
