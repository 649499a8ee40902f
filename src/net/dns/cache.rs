//! Answers kept for their TTL, five minutes at most, so a burst of connections to one
//! host asks the network once. Bounded: when full, the oldest entry makes room.

use std::net::IpAddr;
use std::time::{Duration, Instant};

pub const CAPACITY: usize = 64;
/// Longer than this and a moved service (or a phone changing networks) is noticed late.
pub const MAX_TTL_SECS: u32 = 300;

struct Entry {
    host: String,
    addrs: Vec<IpAddr>,
    expires: Instant,
}

/// Entries in the order they were stored, oldest first.
pub struct Cache {
    entries: Vec<Entry>,
}

impl Cache {
    pub const fn new() -> Self {
        Self { entries: Vec::new() }
    }

    /// `host`'s addresses if stored and not yet expired at `now`.
    pub fn get(&mut self, host: &str, now: Instant) -> Option<Vec<IpAddr>> {
        self.entries.retain(|entry| entry.expires > now);
        self.entries.iter().find(|entry| entry.host == host).map(|entry| entry.addrs.clone())
    }

    /// Keeps `addrs` for `ttl` seconds (capped); a zero TTL or no address is not kept.
    pub fn put(&mut self, host: String, addrs: Vec<IpAddr>, ttl: u32, now: Instant) {
        if ttl == 0 || addrs.is_empty() {
            return;
        }
        self.entries.retain(|entry| entry.host != host);
        if self.entries.len() >= CAPACITY {
            self.entries.remove(0);
        }
        let expires = now + Duration::from_secs(u64::from(ttl.min(MAX_TTL_SECS)));
        self.entries.push(Entry { host, addrs, expires });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(last: u8) -> Vec<IpAddr> {
        vec![IpAddr::from([192, 0, 2, last])]
    }

    #[test]
    fn answers_live_for_their_ttl_capped_at_five_minutes() {
        let t0 = Instant::now();
        let mut cache = Cache::new();
        cache.put("a.test".into(), ip(1), 60, t0);
        cache.put("b.test".into(), ip(2), 86_400, t0);
        assert_eq!(cache.get("a.test", t0 + Duration::from_secs(59)), Some(ip(1)));
        assert_eq!(cache.get("a.test", t0 + Duration::from_secs(60)), None);
        assert_eq!(cache.get("b.test", t0 + Duration::from_secs(299)), Some(ip(2)));
        assert_eq!(cache.get("b.test", t0 + Duration::from_secs(300)), None);
        assert!(cache.entries.is_empty(), "expired entries are dropped");
    }

    #[test]
    fn zero_ttls_and_empty_answers_are_not_kept_and_a_new_answer_replaces_the_old() {
        let t0 = Instant::now();
        let mut cache = Cache::new();
        cache.put("a.test".into(), ip(1), 0, t0);
        cache.put("b.test".into(), Vec::new(), 60, t0);
        assert!(cache.entries.is_empty());
        cache.put("a.test".into(), ip(1), 60, t0);
        cache.put("a.test".into(), ip(9), 60, t0);
        assert_eq!(cache.get("a.test", t0), Some(ip(9)));
        assert_eq!(cache.entries.len(), 1);
    }

    #[test]
    fn a_full_cache_evicts_its_oldest_entry() {
        let t0 = Instant::now();
        let mut cache = Cache::new();
        for n in 0..=CAPACITY {
            cache.put(format!("h{n}.test"), ip(n as u8), 60, t0);
        }
        assert_eq!(cache.entries.len(), CAPACITY);
        assert_eq!(cache.get("h0.test", t0), None);
        assert_eq!(cache.get("h1.test", t0), Some(ip(1)));
        assert_eq!(cache.get(&format!("h{CAPACITY}.test"), t0), Some(ip(CAPACITY as u8)));
    }
}
