//! A warning that repeats (a tunnel failing each time a wait asks again)
//! is shown once, then at most every [`EVERY`], with how often it came.

use std::collections::HashMap;
use std::time::{Duration, Instant};

/// How often a repeated message is shown again.
pub const EVERY: Duration = Duration::from_secs(30);

/// Whether to show a message, and how often it came unshown before.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Show it; it came this many times unshown since it last was.
    Show {
        repeated: u32,
    },
    Hide,
}

/// The messages seen, by text.
#[derive(Debug, Default)]
pub struct Repeats {
    seen: HashMap<String, Seen>,
}

#[derive(Debug)]
struct Seen {
    shown: Instant,
    hidden: u32,
}

impl Repeats {
    /// `message` came at `now`: show it or not.
    pub fn note(&mut self, message: &str, now: Instant) -> Verdict {
        match self.seen.get_mut(message) {
            None => {
                self.seen.insert(
                    message.to_string(),
                    Seen {
                        shown: now,
                        hidden: 0,
                    },
                );
                Verdict::Show { repeated: 0 }
            }
            Some(s) if now.duration_since(s.shown) >= EVERY => {
                let repeated = std::mem::take(&mut s.hidden);
                s.shown = now;
                Verdict::Show { repeated }
            }
            Some(s) => {
                s.hidden += 1;
                Verdict::Hide
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_repeated_message_shows_once_then_every_thirty_seconds_with_a_count() {
        let mut r = Repeats::default();
        let t0 = Instant::now();
        let warn = "port-forward to control-plane-0:6443 failed: refused";
        assert_eq!(r.note(warn, t0), Verdict::Show { repeated: 0 });
        let mut shown = Vec::new();
        // One a second for a minute and a half.
        for s in 1..=90 {
            if let Verdict::Show { repeated } = r.note(warn, t0 + Duration::from_secs(s)) {
                shown.push((s, repeated));
            }
        }
        assert_eq!(shown, [(30, 29), (60, 29), (90, 29)]);
        // Another message is not held back by the first.
        let other = "another warning";
        assert_eq!(
            r.note(other, t0 + Duration::from_secs(91)),
            Verdict::Show { repeated: 0 }
        );
        assert_eq!(r.note(other, t0 + Duration::from_secs(92)), Verdict::Hide);
    }
}
