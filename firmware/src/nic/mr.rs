//! Memory registrations of a firmware NIC endpoint: STags (rkeys) granting the peer remote read
//! or write access to a piece of the endpoint's region, addressed by absolute virtual address
//! (RFC 7145 §5.1, §9.2 Write/Read STag and Base Offset; RFC 5040 §2.1). An STag is
//! `slot << 8 | key`, the key changing on every reuse of a slot, so a stale STag never resolves.

use iser_core::dm::iser::Registrar;
use iser_core::dm::{BufRef, RemoteBuf};

/// One valid registration.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Mr {
    /// The STag naming it.
    pub stag: u32,
    /// Offset of its first byte in the owner's region.
    pub offset: u32,
    /// Length in bytes.
    pub len: u32,
    /// The peer may RDMA Read it (a write command's data).
    pub remote_read: bool,
    /// The peer may RDMA Write it (a read command's buffer).
    pub remote_write: bool,
}

/// What a remote operation wants to do with a registration.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RemoteAccess {
    /// RDMA Read from it.
    Read,
    /// RDMA Write into it.
    Write,
}

/// The registration table of one endpoint: `MRS` slots.
#[derive(Debug)]
pub struct MrTable<const MRS: usize> {
    slots: [Option<Mr>; MRS],
    keys: [u8; MRS],
    /// Address of region offset 0 (what the peer puts in RDMA operations).
    base_addr: u64,
    region_len: u32,
    /// Registrations refused because every slot was taken.
    pub exhausted: u32,
    /// Registrations invalidated (locally or by Send with Invalidate).
    pub invalidations: u32,
}

impl<const MRS: usize> MrTable<MRS> {
    /// An empty table for a region of `region_len` bytes whose offset 0 has address `base_addr`.
    pub fn new(base_addr: u64, region_len: u32) -> Self {
        MrTable {
            slots: [None; MRS],
            keys: [0; MRS],
            base_addr,
            region_len,
            exhausted: 0,
            invalidations: 0,
        }
    }

    /// Valid registrations.
    pub fn valid(&self) -> usize {
        self.slots.iter().flatten().count()
    }

    /// Registers `buf` for the given remote access; `None` when it lies outside the region or
    /// every slot is taken.
    pub fn register(
        &mut self,
        buf: BufRef,
        remote_read: bool,
        remote_write: bool,
    ) -> Option<RemoteBuf> {
        let end = buf.offset.checked_add(buf.len)?;
        if end > self.region_len {
            return None;
        }
        let Some(slot) = self.slots.iter().position(Option::is_none) else {
            self.exhausted = self.exhausted.saturating_add(1);
            return None;
        };
        let key = self.keys.get_mut(slot)?;
        *key = key.wrapping_add(1);
        let stag = u32::try_from(slot)
            .ok()?
            .checked_mul(256)?
            .checked_add(u32::from(*key))?;
        *self.slots.get_mut(slot)? = Some(Mr {
            stag,
            offset: buf.offset,
            len: buf.len,
            remote_read,
            remote_write,
        });
        Some(RemoteBuf {
            stag,
            addr: self.base_addr.checked_add(u64::from(buf.offset))?,
        })
    }

    fn slot_of(&self, stag: u32) -> Option<usize> {
        let slot = (stag / 256) as usize;
        let mr = self.slots.get(slot)?.as_ref()?;
        (mr.stag == stag).then_some(slot)
    }

    /// Removes the registration `stag`; false when it is not valid.
    pub fn invalidate(&mut self, stag: u32) -> bool {
        match self.slot_of(stag).and_then(|s| self.slots.get_mut(s)) {
            Some(slot) => {
                *slot = None;
                self.invalidations = self.invalidations.saturating_add(1);
                true
            }
            None => false,
        }
    }

    /// The region piece `[addr, addr + len)` of registration `stag`, when it is valid, allows
    /// `access`, and holds the whole range.
    pub fn resolve(&self, stag: u32, addr: u64, len: u32, access: RemoteAccess) -> Option<BufRef> {
        let mr = self.slots.get(self.slot_of(stag)?)?.as_ref()?;
        let allowed = match access {
            RemoteAccess::Read => mr.remote_read,
            RemoteAccess::Write => mr.remote_write,
        };
        if !allowed {
            return None;
        }
        let mr_addr = self.base_addr.checked_add(u64::from(mr.offset))?;
        let start = addr.checked_sub(mr_addr)?;
        if start.checked_add(u64::from(len))? > u64::from(mr.len) {
            return None;
        }
        Some(BufRef {
            offset: mr.offset.checked_add(u32::try_from(start).ok()?)?,
            len,
        })
    }
}

impl<const MRS: usize> Registrar for MrTable<MRS> {
    fn register(&mut self, buf: BufRef, target_writes: bool) -> Option<RemoteBuf> {
        MrTable::register(self, buf, !target_writes, target_writes)
    }

    fn invalidate(&mut self, stag: u32) {
        let _ = MrTable::invalidate(self, stag);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BASE: u64 = 0x1_0000;

    #[test]
    fn test_register_resolve_bounds() {
        let mut t: MrTable<2> = MrTable::new(BASE, 1000);
        let r = t
            .register(
                BufRef {
                    offset: 100,
                    len: 50,
                },
                true,
                false,
            )
            .unwrap();
        assert_eq!(r.addr, BASE + 100);
        let at = |a: u64, l: u32| t.resolve(r.stag, a, l, RemoteAccess::Read);
        assert_eq!(
            at(BASE + 100, 50),
            Some(BufRef {
                offset: 100,
                len: 50
            })
        );
        assert_eq!(
            at(BASE + 110, 40),
            Some(BufRef {
                offset: 110,
                len: 40
            })
        );
        assert_eq!(at(BASE + 99, 1), None);
        assert_eq!(at(BASE + 110, 41), None);
        assert_eq!(at(u64::MAX, u32::MAX), None);
        assert_eq!(
            t.resolve(r.stag, BASE + 100, 1, RemoteAccess::Write),
            None,
            "read-only"
        );
    }

    #[test]
    fn test_register_outside_region_or_full() {
        let mut t: MrTable<1> = MrTable::new(BASE, 1000);
        assert!(t
            .register(
                BufRef {
                    offset: 990,
                    len: 11
                },
                true,
                true
            )
            .is_none());
        assert!(t
            .register(
                BufRef {
                    offset: u32::MAX,
                    len: 2
                },
                true,
                true
            )
            .is_none());
        assert!(t
            .register(BufRef { offset: 0, len: 10 }, true, true)
            .is_some());
        assert!(t
            .register(BufRef { offset: 0, len: 10 }, true, true)
            .is_none());
        assert_eq!(t.exhausted, 1);
    }

    #[test]
    fn test_stale_stag_never_resolves() {
        let mut t: MrTable<1> = MrTable::new(BASE, 1000);
        let a = t
            .register(BufRef { offset: 0, len: 10 }, true, true)
            .unwrap();
        assert!(t.invalidate(a.stag));
        assert!(!t.invalidate(a.stag));
        let b = t
            .register(BufRef { offset: 0, len: 10 }, true, true)
            .unwrap();
        assert_ne!(a.stag, b.stag, "same slot, new key");
        assert_eq!(t.resolve(a.stag, BASE, 1, RemoteAccess::Read), None);
        assert!(t.resolve(b.stag, BASE, 1, RemoteAccess::Read).is_some());
    }
}
