//! On-demand memory registration for the initiator (RFC 7145 §7.3.3): each command's buffer gets
//! a memory region of its own, whose rkey is the STag the iSER header advertises — remote write
//! for a read command's buffer (the target RDMA Writes the data), remote read for a write
//! command's (the target RDMA Reads it) — and is deregistered when the command ends.

use std::collections::HashMap;

use iser_core::dm::iser::Registrar;
use iser_core::dm::{BufRef, RemoteBuf};
use rdma_sys::{ibv_access_flags, ibv_mr, ibv_pd};

use crate::conn::Connection;

/// Registers pieces of one connection's region for the target's RDMA ([`Connection::split`]).
#[derive(Debug)]
pub struct MemoryRegistrar<'c> {
    pd: *mut ibv_pd,
    base: *mut u8,
    len: usize,
    mrs: &'c mut HashMap<u32, *mut ibv_mr>,
}

impl Connection {
    /// The registered bytes and a [`Registrar`] over them, borrowed together (the engine needs
    /// both at once).
    pub fn split(&mut self) -> (&mut [u8], MemoryRegistrar<'_>) {
        let base = self.region.as_mut_ptr();
        let len = self.region.len();
        let registrar = MemoryRegistrar {
            pd: self.pd,
            base,
            len,
            mrs: &mut self.remote_mrs,
        };
        (self.region.as_mut_slice(), registrar)
    }

    /// Memory regions registered for the peer and not yet deregistered.
    pub fn registrations(&self) -> usize {
        self.remote_mrs.len()
    }
}

impl Registrar for MemoryRegistrar<'_> {
    fn register(&mut self, buf: BufRef, target_writes: bool) -> Option<RemoteBuf> {
        let start = buf.offset as usize;
        let end = start.checked_add(buf.len as usize)?;
        if buf.len == 0 || end > self.len || self.pd.is_null() {
            return None;
        }
        // Remote write needs local write too (verbs rule).
        let access = if target_writes {
            ibv_access_flags::IBV_ACCESS_LOCAL_WRITE.0 | ibv_access_flags::IBV_ACCESS_REMOTE_WRITE.0
        } else {
            ibv_access_flags::IBV_ACCESS_REMOTE_READ.0
        };
        // SAFETY: `start..end` lies inside the connection's region (checked), which stays
        // allocated and unmoved until after every memory region over it is deregistered (the
        // connection's drop deregisters what is left before it frees the region); the PD is
        // live for the connection's lifetime, which this borrow is within. Rust never reads
        // the bytes through this pointer.
        let mr = unsafe {
            rdma_sys::ibv_reg_mr(
                self.pd,
                self.base.add(start).cast(),
                buf.len as usize,
                access as libc::c_int,
            )
        };
        if mr.is_null() {
            log::warn!(
                "ibv_reg_mr({} bytes at offset {start}): {}",
                buf.len,
                std::io::Error::last_os_error()
            );
            return None;
        }
        // SAFETY: a live MR.
        let rkey = unsafe { (*mr).rkey };
        if let Some(old) = self.mrs.insert(rkey, mr).filter(|old| *old != mr) {
            // Live MRs never share an rkey; should the device reuse one anyway, the older
            // region is unreachable now: free it rather than leak it.
            log::warn!("rkey {rkey:#x} registered twice");
            // SAFETY: an MR registered earlier by this registrar, no longer in the map, so
            // deregistered exactly once here.
            unsafe { rdma_sys::ibv_dereg_mr(old) };
        }
        Some(RemoteBuf {
            stag: rkey,
            addr: self.base as u64 + start as u64,
        })
    }

    fn invalidate(&mut self, stag: u32) {
        let Some(mr) = self.mrs.remove(&stag) else {
            log::warn!("invalidating unknown STag {stag:#x}");
            return;
        };
        // SAFETY: an MR registered above and deregistered once (removed from the map).
        let ret = unsafe { rdma_sys::ibv_dereg_mr(mr) };
        if ret != 0 {
            log::warn!(
                "ibv_dereg_mr(STag {stag:#x}): {}",
                std::io::Error::from_raw_os_error(ret)
            );
        }
    }
}
