//! Proxy settings from the environment: `https_proxy`/`HTTPS_PROXY` for https://,
//! `http_proxy`/`HTTP_PROXY` for http://, and `no_proxy`/`NO_PROXY` exceptions.
//! Only `http://` proxies are spoken to: CONNECT tunnels for https, forwarding for http.

use std::net::IpAddr;

use base64ct::{Base64, Encoding};

use super::url::{Url, split_authority};

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Proxy {
    pub host: String,
    pub port: u16,
    /// `Basic …` for `Proxy-Authorization`, from `http://user:pass@host:port`.
    pub auth: Option<String>,
}

#[derive(Debug, Clone, Default)]
pub(crate) struct Proxies {
    /// The variable's name and value, or why the value is unusable.
    https: Option<Result<Proxy, String>>,
    http: Option<Result<Proxy, String>>,
    no_proxy: Vec<String>,
}

impl Proxies {
    pub fn from_env() -> Proxies {
        Proxies::from_lookup(|name| std::env::var(name).ok())
    }

    pub fn from_lookup(var: impl Fn(&str) -> Option<String>) -> Proxies {
        let first = |names: [&'static str; 2]| {
            names.into_iter().find_map(|n| var(n).filter(|v| !v.trim().is_empty()).map(|v| (n, v)))
        };
        let setting = |names| {
            let (name, value) = first(names)?;
            Some(parse_proxy(value.trim()).map_err(|why| format!("{name}={value:?}: {why}")))
        };
        let no_proxy = first(["no_proxy", "NO_PROXY"]).map(|(_, v)| v).unwrap_or_default();
        Proxies {
            https: setting(["https_proxy", "HTTPS_PROXY"]),
            http: setting(["http_proxy", "HTTP_PROXY"]),
            no_proxy: no_proxy
                .split(',')
                .map(|e| e.trim().trim_start_matches('.').to_ascii_lowercase())
                .filter(|e| !e.is_empty())
                .collect(),
        }
    }

    /// The proxy for `url`, if any; `Err` says why the configured one is unusable.
    pub fn for_url(&self, url: &Url) -> Result<Option<&Proxy>, String> {
        let setting = if url.tls { &self.https } else { &self.http };
        match setting {
            Some(_) if bypass(&url.host, &self.no_proxy) => Ok(None),
            Some(Ok(proxy)) => Ok(Some(proxy)),
            Some(Err(why)) => Err(why.clone()),
            None => Ok(None),
        }
    }
}

/// Loopback never goes through a proxy (as in Go); otherwise `NO_PROXY` entries match
/// the host itself or any name under it, and `*` matches everything.
fn bypass(host: &str, no_proxy: &[String]) -> bool {
    let host = host.trim_end_matches('.').to_ascii_lowercase();
    let loopback = host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback());
    loopback
        || host == "localhost"
        || host.ends_with(".localhost")
        || no_proxy.iter().any(|entry| {
            let entry = entry.trim_matches(['[', ']']);
            entry == "*" || host == entry || host.strip_suffix(entry).is_some_and(|head| head.ends_with('.'))
        })
}

/// `http://[user:pass@]host[:port][/]`, or the same without the scheme.
fn parse_proxy(value: &str) -> Result<Proxy, String> {
    let rest = match value.split_once("://") {
        Some((scheme, rest)) if scheme.eq_ignore_ascii_case("http") => rest,
        Some(_) => return Err("only http:// proxies are supported".into()),
        None => value,
    };
    let authority = rest.strip_suffix('/').unwrap_or(rest);
    let (userinfo, hostport) = match authority.rsplit_once('@') {
        Some((user, hostport)) => (Some(user), hostport),
        None => (None, authority),
    };
    let (host, port) = split_authority(hostport, 80).ok_or("bad proxy host or port")?;
    let auth = userinfo.map(|u| format!("Basic {}", Base64::encode_string(&percent_decode(u))));
    Ok(Proxy { host: host.to_string(), port, auth })
}

fn percent_decode(text: &str) -> Vec<u8> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex =
            bytes.get(i + 1..i + 3).and_then(|h| u8::from_str_radix(std::str::from_utf8(h).ok()?, 16).ok());
        match (bytes[i], hex) {
            (b'%', Some(byte)) => {
                out.push(byte);
                i += 3;
            }
            (b, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn proxies(vars: &[(&str, &str)]) -> Proxies {
        let vars: Vec<(String, String)> = vars.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        Proxies::from_lookup(|name| vars.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone()))
    }

    fn via(p: &Proxies, url: &str) -> Option<String> {
        p.for_url(&Url::parse(url).unwrap()).unwrap().map(|p| format!("{}:{}", p.host, p.port))
    }

    #[test]
    fn picks_the_proxy_by_scheme_lowercase_first() {
        let p = proxies(&[
            ("https_proxy", "http://low:3128"),
            ("HTTPS_PROXY", "http://up:3128"),
            ("HTTP_PROXY", "plain.example"),
        ]);
        assert_eq!(via(&p, "https://api.example.com/").as_deref(), Some("low:3128"));
        assert_eq!(via(&p, "http://api.example.com/").as_deref(), Some("plain.example:80"));
        assert_eq!(via(&proxies(&[]), "https://api.example.com/"), None);
    }

    #[test]
    fn no_proxy_matches_suffixes_star_and_loopback() {
        let p = proxies(&[
            ("HTTPS_PROXY", "http://[::1]:8080/"),
            ("NO_PROXY", " .corp.example, 10.0.0.7,[fd00::1]"),
        ]);
        assert_eq!(via(&p, "https://x.com/").as_deref(), Some("::1:8080"));
        for direct in [
            "https://corp.example/",
            "https://a.b.corp.example/",
            "https://10.0.0.7/",
            "https://[fd00::1]/",
            "https://localhost/",
            "https://db.localhost:5432/",
            "https://127.0.0.5/",
            "https://[::1]/",
        ] {
            assert_eq!(via(&p, direct), None, "{direct}");
        }
        assert_eq!(via(&p, "https://notcorp.example/").as_deref(), Some("::1:8080"));
        let all = proxies(&[("https_proxy", "http://p:1"), ("no_proxy", "*")]);
        assert_eq!(via(&all, "https://x.com/"), None);
    }

    #[test]
    fn credentials_become_basic_auth() {
        let p = parse_proxy("http://user:p%40ss@proxy:3128").unwrap();
        assert_eq!(p.auth.as_deref(), Some("Basic dXNlcjpwQHNz"));
        assert_eq!((p.host.as_str(), p.port), ("proxy", 3128));
    }

    #[test]
    fn unusable_proxies_are_reported_when_used() {
        let p = proxies(&[("HTTPS_PROXY", "socks5://p:1080"), ("HTTP_PROXY", "http://bad host:1")]);
        let err = p.for_url(&Url::parse("https://x.com/").unwrap()).unwrap_err();
        assert!(err.starts_with("HTTPS_PROXY=\"socks5://p:1080\": only http://"), "{err}");
        assert!(p.for_url(&Url::parse("http://x.com/").unwrap()).is_err());
    }
}
