//! `web_fetch`: GET a URL the model chose and return its text, HTML stripped. Every
//! address it connects to — after DNS, on every redirect — must be public: loopback,
//! private, link-local, CGNAT/Tailscale and metadata addresses are refused (SSRF),
//! unless `tools.web_fetch.allow_local` is set.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::Duration;

use super::{Outcome, ToolEnv, schema, text_arg};
use crate::agent::provider::ToolSpec;
use crate::json::Object;
use crate::net::http::{Client, HttpError, Request, Timeouts};

/// Redirects followed at most.
const MAX_REDIRECTS: usize = 5;
/// Bytes of a page read at most.
const MAX_BODY: usize = 2 * 1024 * 1024;

pub fn spec() -> ToolSpec {
    super::spec(
        "web_fetch",
        "Fetch a web page or file over http(s) and return its text (HTML reduced to text). \
         Addresses on this machine or the local network are refused.",
        schema(&[("url", "string", "http:// or https:// URL")], &["url"]),
    )
}

pub fn run(args: &Object, env: &mut ToolEnv<'_>) -> Outcome {
    let url = match text_arg(args, "url") {
        Ok(u) => u.trim().to_owned(),
        Err(e) => return e,
    };
    if !(url.starts_with("http://") || url.starts_with("https://")) {
        return Outcome::fail("only http:// and https:// URLs can be fetched");
    }
    let client = match Client::new() {
        Ok(c) => match env.fetch_filter {
            Some(filter) => c.with_address_filter(filter),
            None => c,
        },
        Err(e) => return Outcome::fail(e.to_string()),
    };
    match fetch(&client, &url) {
        Ok(text) => Outcome::ok(text),
        Err(e) => Outcome::fail(e),
    }
}

fn fetch(client: &Client, start: &str) -> Result<String, String> {
    let timeouts = Timeouts { total: Some(Duration::from_secs(60)), ..Timeouts::default() };
    let mut url = start.to_owned();
    for _ in 0..=MAX_REDIRECTS {
        let response = client.send(&Request::get(&url), &timeouts).map_err(describe)?;
        if (300..400).contains(&response.status) {
            let location = response.header("location").ok_or("a redirect without a Location")?;
            url = join(&url, location)?;
            continue;
        }
        let status = response.status;
        let html = response.header("content-type").is_some_and(|t| t.contains("html"));
        let bytes = response.bytes(MAX_BODY).map_err(describe)?;
        let text = String::from_utf8_lossy(&bytes);
        let text = if html { html_to_text(&text) } else { text.into_owned() };
        return if status == 200 { Ok(text) } else { Err(format!("HTTP {status} from {url}\n{text}")) };
    }
    Err(format!("more than {MAX_REDIRECTS} redirects from {start}"))
}

fn describe(e: HttpError) -> String {
    match e {
        HttpError::Blocked { .. } => format!("refused: {e} (set tools.web_fetch.allow_local to allow it)"),
        other => other.to_string(),
    }
}

/// `location` made absolute against `base`.
fn join(base: &str, location: &str) -> Result<String, String> {
    if location.starts_with("http://") || location.starts_with("https://") {
        return Ok(location.to_owned());
    }
    let scheme_end = base.find("://").map(|i| i + 3).ok_or("bad base URL")?;
    let origin_end = base[scheme_end..].find('/').map_or(base.len(), |i| scheme_end + i);
    match location.strip_prefix("//") {
        Some(rest) => Ok(format!("{}{rest}", &base[..scheme_end])),
        None if location.starts_with('/') => Ok(format!("{}{location}", &base[..origin_end])),
        None => Err(format!("a relative redirect ({location}) is not followed")),
    }
}

/// Whether `ip` is a public address a fetched URL may reach.
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_public_v4(v4),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => is_public_v4(v4),
            None => is_public_v6(v6),
        },
    }
}

fn is_public_v4(ip: Ipv4Addr) -> bool {
    let [a, b, ..] = ip.octets();
    let cgnat = a == 100 && (64..128).contains(&b); // 100.64/10: carrier NAT and Tailscale
    !(ip.is_private()
        || ip.is_loopback()
        || ip.is_link_local()
        || ip.is_unspecified()
        || ip.is_broadcast()
        || ip.is_multicast()
        || ip.is_documentation()
        || a == 0
        || cgnat
        || a >= 240)
}

fn is_public_v6(ip: Ipv6Addr) -> bool {
    let first = ip.segments()[0];
    let unique_local = first & 0xfe00 == 0xfc00;
    let link_local = first & 0xffc0 == 0xfe80;
    !(ip.is_loopback() || ip.is_unspecified() || ip.is_multicast() || unique_local || link_local)
}

/// Visible text of an HTML page: scripts and styles dropped, tags removed, common
/// entities decoded, blank runs collapsed.
pub fn html_to_text(html: &str) -> String {
    let mut out = String::with_capacity(html.len() / 2);
    let lower = html.to_ascii_lowercase();
    let mut i = 0;
    while i < html.len() {
        let rest = &lower[i..];
        if let Some(skip) = ["<script", "<style", "<noscript"].iter().find(|t| rest.starts_with(*t)) {
            let close = format!("</{}", &skip[1..]);
            i = lower[i..].find(&close).map_or(html.len(), |e| i + e);
            i = lower[i..].find('>').map_or(html.len(), |e| i + e + 1);
            continue;
        }
        if rest.starts_with('<') {
            let block = ["<p", "<br", "<div", "<li", "<h1", "<h2", "<h3", "<tr", "</p", "</div", "</li"];
            if block.iter().any(|t| rest.starts_with(t)) {
                out.push('\n');
            }
            i = lower[i..].find('>').map_or(html.len(), |e| i + e + 1);
            continue;
        }
        let next = html[i..].find('<').map_or(html.len(), |e| i + e);
        out.push_str(&decode_entities(&html[i..next]));
        i = next;
    }
    let lines: Vec<String> = out
        .lines()
        .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
        .filter(|l| !l.is_empty())
        .collect();
    lines.join("\n")
}

fn decode_entities(text: &str) -> String {
    text.replace("&nbsp;", " ")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&amp;", "&")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_public_addresses_pass() {
        for private in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.2",
            "0.0.0.0",
            "::1",
            "fe80::1",
            "fd00::1",
            "::ffff:127.0.0.1",
            "224.0.0.1",
            "255.255.255.255",
        ] {
            assert!(!is_public(private.parse().unwrap()), "{private}");
        }
        for public in ["1.1.1.1", "93.184.216.34", "2606:4700:4700::1111"] {
            assert!(is_public(public.parse().unwrap()), "{public}");
        }
    }

    #[test]
    fn html_becomes_text() {
        let html = "<html><head><style>p{x}</style><script>alert(1)</script></head>\
                    <body><h1>Title</h1><p>One &amp; two</p><p>3 &lt; 4</p></body></html>";
        assert_eq!(html_to_text(html), "Title\nOne & two\n3 < 4");
    }

    #[test]
    fn redirects_are_made_absolute() {
        assert_eq!(join("https://a.example/x/y", "/z").unwrap(), "https://a.example/z");
        assert_eq!(join("https://a.example/x", "//b.example/q").unwrap(), "https://b.example/q");
        assert_eq!(join("http://a.example", "https://c.example/").unwrap(), "https://c.example/");
        assert!(join("http://a.example/x", "rel").is_err());
    }
}
