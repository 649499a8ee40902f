//! Per-sender rate limits (ALP spec §3): a sliding 60-second window per pinned peer,
//! capped by `rate_limit.per_minute` (default 60), and a separate 600/min lane for
//! `workgroup.pull` and file-chunk continuations. Rejected requests are not counted.
//!
//! Each window is a ring of sixty 1-second counters, so memory per peer is fixed
//! whatever the cap; the window slides in 1-second steps.

use std::collections::HashMap;

use crate::alp::identity::Identity;

pub const WINDOW_SECONDS: i64 = 60;
pub const DEFAULT_PER_MINUTE: u32 = 60;
pub const BULK_PER_MINUTE: u32 = 600;

/// Which window a request counts against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lane {
    Normal,
    /// `workgroup.pull` and chunk continuations (offset > 0).
    Bulk,
}

/// Requests admitted in each of the last 60 seconds.
#[derive(Debug, Clone)]
struct Window {
    counts: [u16; WINDOW_SECONDS as usize],
    /// The second the newest counter belongs to.
    newest: i64,
}

impl Window {
    fn new(now_sec: i64) -> Self {
        Self { counts: [0; WINDOW_SECONDS as usize], newest: now_sec }
    }

    fn advance(&mut self, now_sec: i64) {
        let gap = (now_sec - self.newest).clamp(0, WINDOW_SECONDS);
        for s in 1..=gap {
            self.counts[slot(self.newest + s)] = 0;
        }
        self.newest = self.newest.max(now_sec);
    }

    fn admit(&mut self, now_sec: i64, cap: u32) -> bool {
        self.advance(now_sec);
        let used: u32 = self.counts.iter().map(|&c| u32::from(c)).sum();
        if used >= cap {
            return false;
        }
        let c = &mut self.counts[slot(self.newest)];
        *c = c.saturating_add(1);
        true
    }

    fn idle(&self, now_sec: i64) -> bool {
        now_sec - self.newest >= WINDOW_SECONDS
    }
}

fn slot(sec: i64) -> usize {
    sec.rem_euclid(WINDOW_SECONDS) as usize
}

/// All senders' windows. Only pinned peers reach it, so its size is bounded by
/// `peers.yaml`; idle senders are pruned.
#[derive(Debug, Default)]
pub struct RateLimiter {
    windows: HashMap<(Identity, LaneKey), Window>,
    last_prune: i64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum LaneKey {
    Normal,
    Bulk,
}

impl RateLimiter {
    pub fn new() -> Self {
        Self::default()
    }

    /// Counts one request from `sender` and says whether it fits under `cap` per minute
    /// (`None` = the default for the lane).
    pub fn admit(&mut self, sender: &Identity, lane: Lane, cap: Option<u32>, now_micros: i64) -> bool {
        let now_sec = now_micros.div_euclid(1_000_000);
        self.prune(now_sec);
        let (key, cap) = match lane {
            Lane::Normal => (LaneKey::Normal, cap.unwrap_or(DEFAULT_PER_MINUTE)),
            Lane::Bulk => (LaneKey::Bulk, BULK_PER_MINUTE),
        };
        self.windows.entry((sender.clone(), key)).or_insert_with(|| Window::new(now_sec)).admit(now_sec, cap)
    }

    fn prune(&mut self, now_sec: i64) {
        if now_sec - self.last_prune >= WINDOW_SECONDS {
            self.windows.retain(|_, w| !w.idle(now_sec));
            self.last_prune = now_sec;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alp::identity::Keypair;

    const SEC: i64 = 1_000_000;

    fn who(n: u8) -> Identity {
        Keypair::from_seed([n; 32]).identity().clone()
    }

    #[test]
    fn sixty_admitted_then_the_sixty_first_refused() {
        let mut rl = RateLimiter::new();
        let a = who(1);
        let t0 = 1_000 * SEC;
        for i in 0..60 {
            assert!(rl.admit(&a, Lane::Normal, None, t0 + i * 10_000), "request {i}");
        }
        assert!(!rl.admit(&a, Lane::Normal, None, t0 + 700_000));
        // Refusals are not counted: once the window has slid past, requests flow again.
        for _ in 0..100 {
            assert!(!rl.admit(&a, Lane::Normal, None, t0 + 30 * SEC));
        }
        assert!(!rl.admit(&a, Lane::Normal, None, t0 + 59 * SEC));
        assert!(rl.admit(&a, Lane::Normal, None, t0 + 60 * SEC));
    }

    #[test]
    fn caps_are_per_sender_and_per_peer_configurable() {
        let mut rl = RateLimiter::new();
        let (a, b) = (who(1), who(2));
        for _ in 0..5 {
            assert!(rl.admit(&a, Lane::Normal, Some(5), 0));
        }
        assert!(!rl.admit(&a, Lane::Normal, Some(5), 0));
        assert!(rl.admit(&b, Lane::Normal, Some(5), 0), "another sender has its own window");
    }

    #[test]
    fn the_window_slides_rather_than_resetting() {
        let mut rl = RateLimiter::new();
        let a = who(1);
        for _ in 0..30 {
            assert!(rl.admit(&a, Lane::Normal, None, 10 * SEC));
        }
        for _ in 0..30 {
            assert!(rl.admit(&a, Lane::Normal, None, 40 * SEC));
        }
        assert!(!rl.admit(&a, Lane::Normal, None, 69 * SEC));
        // At 70 s the first 30 (from t=10 s) have left the window; the later 30 remain.
        for _ in 0..30 {
            assert!(rl.admit(&a, Lane::Normal, None, 70 * SEC));
        }
        assert!(!rl.admit(&a, Lane::Normal, None, 70 * SEC));
    }

    #[test]
    fn bulk_lane_is_separate_and_allows_600() {
        let mut rl = RateLimiter::new();
        let a = who(1);
        for _ in 0..600 {
            assert!(rl.admit(&a, Lane::Bulk, Some(1), 0));
        }
        assert!(!rl.admit(&a, Lane::Bulk, None, 0));
        assert!(rl.admit(&a, Lane::Normal, None, 0), "bulk traffic does not eat the normal budget");
    }
}
