//! First-fit carving of aligned blocks out of address spans.

use std::net::IpAddr;

use ipnet::{IpNet, Ipv4Net, Ipv6Net};

use super::Family;

/// An inclusive range of addresses as integers (both families fit in u128).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(super) struct Span {
    pub(super) start: u128,
    pub(super) end: u128,
}

pub(super) fn span(net: &IpNet) -> Span {
    match net {
        IpNet::V4(n) => Span {
            start: u32::from(n.network()).into(),
            end: u32::from(n.broadcast()).into(),
        },
        IpNet::V6(n) => Span {
            start: u128::from(n.network()),
            end: u128::from(n.broadcast()),
        },
    }
}

fn to_net(family: Family, start: u128, prefix: u8) -> IpNet {
    match family {
        Family::V4 => IpNet::V4(Ipv4Net::new((start as u32).into(), prefix).unwrap()),
        Family::V6 => IpNet::V6(Ipv6Net::new(start.into(), prefix).unwrap()),
    }
}

pub(super) fn nth_ip(net: &IpNet, n: u128) -> IpAddr {
    match net {
        IpNet::V4(v) => IpAddr::V4((u32::from(v.network()) + n as u32).into()),
        IpNet::V6(v) => IpAddr::V6((u128::from(v.network()) + n).into()),
    }
}

/// Hands out aligned blocks that avoid every used span.
pub(super) struct Carver {
    pub(super) family: Family,
    pub(super) pools: Vec<Span>,
    /// Sorted by start; may overlap each other.
    pub(super) used: Vec<Span>,
}

impl Carver {
    /// Marks `nets` used when each is inside a pool and clear of every used
    /// span and of each other; otherwise marks nothing and says false.
    pub(super) fn reserve(&mut self, nets: &[IpNet]) -> bool {
        let spans: Vec<Span> = nets.iter().map(span).collect();
        let fits = nets.iter().zip(&spans).enumerate().all(|(i, (net, s))| {
            Family::of(net) == self.family
                && self
                    .pools
                    .iter()
                    .any(|p| p.start <= s.start && s.end <= p.end)
                && !self
                    .used
                    .iter()
                    .any(|u| u.start <= s.end && s.start <= u.end)
                && !spans[..i]
                    .iter()
                    .any(|o| o.start <= s.end && s.start <= o.end)
        });
        if fits {
            for s in spans {
                let at = self.used.partition_point(|u| u.start <= s.start);
                self.used.insert(at, s);
            }
        }
        fits
    }

    pub(super) fn take(&mut self, prefix: u8) -> Option<IpNet> {
        let host_bits = u32::from(self.family.bits() - prefix);
        // prefix >= 8 for v4 and >= 48 for v6, so the size fits in u128.
        let size: u128 = 1u128 << host_bits;
        for pool in &self.pools {
            let mut cand = align_up(pool.start, size)?;
            loop {
                let last = cand.checked_add(size - 1)?;
                if last > pool.end {
                    break;
                }
                // Used spans are sorted by start: the first one that overlaps,
                // or the largest end among those starting before `last`.
                let clash = self
                    .used
                    .iter()
                    .take_while(|u| u.start <= last)
                    .filter(|u| u.end >= cand)
                    .map(|u| u.end)
                    .max();
                match clash {
                    None => {
                        let s = Span {
                            start: cand,
                            end: last,
                        };
                        let at = self.used.partition_point(|u| u.start <= s.start);
                        self.used.insert(at, s);
                        return Some(to_net(self.family, cand, prefix));
                    }
                    Some(end) => match end.checked_add(1).and_then(|e| align_up(e, size)) {
                        Some(next) => cand = next,
                        None => break,
                    },
                }
            }
        }
        None
    }
}

fn align_up(x: u128, size: u128) -> Option<u128> {
    let rem = x % size;
    if rem == 0 {
        Some(x)
    } else {
        x.checked_add(size - rem)
    }
}
