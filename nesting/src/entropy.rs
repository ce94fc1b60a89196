//! What a plan's secrets are made from: a seed and the time certificates
//! start from. The same entropy gives the same plan, byte for byte.

use std::fmt;
use std::time::SystemTime;

use rand::rngs::StdRng;
use rand::{Rng as _, SeedableRng as _};
use sha2::{Digest as _, Sha256};

/// A seed for every key, serial number and token of a plan, and the clock
/// reading their certificates are valid from. `Debug` hides the seed.
#[derive(Clone, PartialEq, Eq)]
pub struct Entropy {
    seed: [u8; 32],
    now: SystemTime,
}

impl Entropy {
    /// Fixed entropy: for tests and reproducible plans.
    pub fn new(seed: [u8; 32], now: SystemTime) -> Self {
        Entropy { seed, now }
    }

    /// Fresh entropy: a seed from the operating system's randomness and the
    /// current time. What the plugin plans with.
    pub fn from_system() -> Self {
        let mut seed = [0u8; 32];
        rand::rng().fill(&mut seed);
        Entropy {
            seed,
            now: SystemTime::now(),
        }
    }

    /// The time certificates are made at.
    pub fn now(&self) -> SystemTime {
        self.now
    }

    /// The entropy of one part (a cluster, a key): independent of every
    /// other label's, and the same for the same label.
    pub fn derive(&self, label: &str) -> Entropy {
        let mut h = Sha256::new();
        h.update(self.seed);
        h.update((label.len() as u64).to_be_bytes());
        h.update(label.as_bytes());
        Entropy {
            seed: h.finalize().into(),
            now: self.now,
        }
    }

    /// A random number generator seeded from this entropy.
    pub(crate) fn rng(&self) -> StdRng {
        StdRng::from_seed(self.seed)
    }
}

impl fmt::Debug for Entropy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Entropy")
            .field("seed", &"<redacted>")
            .field("now", &self.now)
            .finish()
    }
}

#[cfg(test)]
mod tests;
