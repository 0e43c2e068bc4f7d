//! Initiator address ranges for a target's access list: `ADDR` or `ADDR/PREFIX` (CIDR,
//! RFC 4632 / RFC 4291 §2.3), IPv4 and IPv6; an IPv4 initiator reaching a `[::]` listener
//! (`::ffff:a.b.c.d`, RFC 4291 §2.5.5.2) matches IPv4 ranges.

use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

/// An address range: every address whose first `prefix` bits equal those of `network`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AddressRange {
    network: IpAddr,
    prefix: u8,
}

impl AddressRange {
    /// Whether `addr` lies in the range.
    pub fn contains(&self, addr: IpAddr) -> bool {
        match (self.network, addr.to_canonical()) {
            (IpAddr::V4(n), IpAddr::V4(a)) => {
                masked(u128::from(u32::from(n)), self.prefix, 32)
                    == masked(u128::from(u32::from(a)), self.prefix, 32)
            }
            (IpAddr::V6(n), IpAddr::V6(a)) => {
                masked(u128::from(n), self.prefix, 128) == masked(u128::from(a), self.prefix, 128)
            }
            _ => false,
        }
    }
}

/// The top `prefix` bits of a `width`-bit address.
fn masked(bits: u128, prefix: u8, width: u32) -> u128 {
    let keep = u32::from(prefix).min(width);
    let drop = width.saturating_sub(keep);
    bits.checked_shr(drop).unwrap_or(0)
}

impl FromStr for AddressRange {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let (addr, prefix) = match s.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (s, None),
        };
        let network: IpAddr = addr
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse()
            .map_err(|_| format!("`{s}` is not an IPv4 or IPv6 address or ADDR/PREFIX"))?;
        let width: u8 = if network.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            None => width,
            Some(p) => match p.parse::<u8>() {
                Ok(n) if n <= width => n,
                _ => return Err(format!("`{s}`: the prefix length must be 0..={width}")),
            },
        };
        // `::ffff:a.b.c.d/PREFIX` is the IPv4 range `a.b.c.d/(PREFIX - 96)`.
        match (network, network.to_canonical()) {
            (IpAddr::V6(_), v4 @ IpAddr::V4(_)) if prefix >= 96 => Ok(AddressRange {
                network: v4,
                prefix: prefix.saturating_sub(96),
            }),
            _ => Ok(AddressRange { network, prefix }),
        }
    }
}

impl fmt::Display for AddressRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.network, self.prefix)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn r(s: &str) -> AddressRange {
        s.parse().unwrap()
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn ipv4_cidr() {
        let n = r("10.1.0.0/16");
        assert!(n.contains(ip("10.1.200.3")));
        assert!(!n.contains(ip("10.2.0.1")));
        assert!(!n.contains(ip("::1")));
        assert!(r("0.0.0.0/0").contains(ip("203.0.113.9")));
        assert!(r("127.0.0.1").contains(ip("127.0.0.1")));
        assert!(!r("127.0.0.1").contains(ip("127.0.0.2")));
    }

    #[test]
    fn ipv6_cidr_and_mapped_ipv4() {
        let n = r("fd00:1::/32");
        assert!(n.contains(ip("fd00:1:ffff::7")));
        assert!(!n.contains(ip("fd00:2::7")));
        assert!(r("[::1]").contains(ip("::1")));
        assert!(r("::/0").contains(ip("2001:db8::1")));
        assert!(!r("::/0").contains(ip("192.0.2.1")));
        // An IPv4 client on a dual-stack socket.
        assert!(r("192.0.2.0/24").contains(ip("::ffff:192.0.2.77")));
        assert!(r("::ffff:192.0.2.0/120").contains(ip("192.0.2.77")));
    }

    #[test]
    fn bad_ranges_are_refused() {
        for bad in [
            "10.0.0.0/33",
            "::/129",
            "10.0.0/8",
            "host",
            "10.0.0.1/x",
            "",
        ] {
            assert!(bad.parse::<AddressRange>().is_err(), "{bad}");
        }
        assert_eq!(r("10.9.0.0/8").to_string(), "10.9.0.0/8");
    }
}
