//! Memory registrations of the in-memory fabric: STags (rkeys) granting a peer remote read
//! and/or write access to a piece of an endpoint's region, addressed by absolute virtual address
//! or zero-based offset (RFC 7145 §5.1, §9.2 Write/Read STag and Base Offset; RFC 5040 §2.1).

use std::fmt;

/// A Steering Tag (an InfiniBand rkey): names one valid registration of one endpoint.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Stag(pub u32);

impl fmt::Debug for Stag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Stag({:#010x})", self.0)
    }
}

impl From<Stag> for u32 {
    fn from(stag: Stag) -> u32 {
        stag.0
    }
}

/// Remote access rights of a registration (`IBV_ACCESS_REMOTE_READ` / `_WRITE`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Access {
    /// The peer may RDMA Read from it (an initiator's Write STag: data the target fetches).
    pub remote_read: bool,
    /// The peer may RDMA Write into it (an initiator's Read STag: data the target puts).
    pub remote_write: bool,
}

impl Access {
    /// No remote access at all.
    pub const NONE: Access = Access {
        remote_read: false,
        remote_write: false,
    };
    /// Remote read only.
    pub const READ: Access = Access {
        remote_read: true,
        remote_write: false,
    };
    /// Remote write only.
    pub const WRITE: Access = Access {
        remote_read: false,
        remote_write: true,
    };
    /// Remote read and write.
    pub const READ_WRITE: Access = Access {
        remote_read: true,
        remote_write: true,
    };
}

/// One valid registration: a piece of the owner's region and what the peer may do with it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Registration {
    /// Offset of the first registered byte in the owner's region.
    pub offset: u32,
    /// Registered length in bytes.
    pub len: u32,
    /// What the peer may do.
    pub access: Access,
}

impl Registration {
    /// The region offset of `[addr, addr + len)` when it lies wholly inside this registration,
    /// whose first byte has address `mr_addr` (the owner's base address plus `offset`, or 0 with
    /// zero-based addressing).
    pub(super) fn resolve(&self, mr_addr: u64, addr: u64, len: u32) -> Option<u32> {
        let start = addr.checked_sub(mr_addr)?;
        let end = start.checked_add(u64::from(len))?;
        if end > u64::from(self.len) {
            return None;
        }
        // `start < self.len` (or `len == 0` and `start == self.len`), and `offset + self.len` lies
        // inside a region of at most `u32::MAX` bytes, so the sum fits.
        u32::try_from(start).ok()?.checked_add(self.offset)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MR: Registration = Registration {
        offset: 100,
        len: 50,
        access: Access::READ,
    };

    #[test]
    fn test_resolve_inside() {
        assert_eq!(MR.resolve(1000, 1000, 50), Some(100));
        assert_eq!(MR.resolve(1000, 1010, 40), Some(110));
        assert_eq!(MR.resolve(1000, 1050, 0), Some(150));
    }

    #[test]
    fn test_resolve_outside() {
        assert_eq!(MR.resolve(1000, 999, 1), None);
        assert_eq!(MR.resolve(1000, 1000, 51), None);
        assert_eq!(MR.resolve(1000, 1049, 2), None);
        assert_eq!(MR.resolve(1000, 1051, 0), None);
        assert_eq!(MR.resolve(1000, u64::MAX, u32::MAX), None);
    }

    #[test]
    fn test_stag_debug_hex() {
        assert_eq!(format!("{:?}", Stag(0xab)), "Stag(0x000000ab)");
    }
}
