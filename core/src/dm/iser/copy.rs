//! The initiator's pre-registered copy buffers (DESIGN §3 `it_buf_setup`, illumos
//! `iser_buf_setup`): a transfer below the copy threshold goes through one of these buffers,
//! whose STag stays registered from one command to the next, instead of registering the caller's
//! memory; at or above the threshold, when it does not fit a buffer, or when every buffer is
//! taken, the caller's memory is registered in place ([`crate::pool::place`]).
//!
//! Half the buffers serve reads (the target writes them), half writes (the target reads them),
//! so a buffer keeps one registration with one access right. A copy buffer's STag outlives its
//! command, as illumos' pre-registered buffer cache does: the
//! target may touch the buffer between commands, never the caller's memory. When the target
//! invalidates it (Send with Invalidate, RFC 7145 §7.3.4), the buffer is registered again on its
//! next use; when the connection ends, every copy STag is invalidated locally.

use super::Registrar;
use crate::dm::{BufRef, RemoteBuf};
use crate::pool::{place, BufAlloc, BufHandle, Placement, PoolError, RegionPool};

/// Copy buffers of one direction, each with the STag it keeps between commands.
#[derive(Clone, Debug)]
struct Half<const N: usize> {
    pool: RegionPool<N>,
    /// Buffers in use at most (at most `N`).
    count: usize,
    /// Region offset of the first buffer.
    base: usize,
    stags: [Option<RemoteBuf>; N],
}

/// Up to `N` copy buffers of one size for each direction, after the control buffers.
#[derive(Clone, Debug)]
pub(crate) struct CopyCache<const N: usize> {
    /// Read commands' buffers (the target writes them).
    reads: Half<N>,
    /// Write commands' buffers (the target reads them).
    writes: Half<N>,
    /// Transfers shorter than this are copied.
    threshold: u32,
}

/// A half's pool, refusing beyond `count` buffers in use.
struct Limited<'p, const N: usize> {
    pool: &'p mut RegionPool<N>,
    count: usize,
}

impl<const N: usize> BufAlloc for Limited<'_, N> {
    fn alloc_buf(&mut self, len: usize) -> Result<BufHandle, PoolError> {
        if self.pool.in_use() >= self.count {
            return Err(PoolError::Exhausted);
        }
        self.pool.alloc(len)
    }
}

impl<const N: usize> Half<N> {
    fn new(base: usize, count: usize, size: u32) -> Self {
        Half {
            pool: RegionPool::new(size as usize),
            count: count.min(N),
            base,
            stags: [None; N],
        }
    }

    fn region_len(&self) -> usize {
        self.count.saturating_mul(self.pool.buf_size())
    }

    fn offset(&self, handle: &BufHandle) -> Option<usize> {
        self.base.checked_add(self.pool.offset(handle).ok()?)
    }
}

impl<const N: usize> CopyCache<N> {
    /// `count` buffers of `size` bytes from region offset `base`, half for each direction
    /// (at most `N` each); transfers below `threshold` bytes are copied.
    pub(crate) fn new(base: usize, count: usize, size: u32, threshold: u32) -> Self {
        let reads = Half::new(base, count.div_ceil(2), size);
        let writes = Half::new(base.saturating_add(reads.region_len()), count / 2, size);
        CopyCache {
            reads,
            writes,
            threshold,
        }
    }

    fn half(&mut self, target_writes: bool) -> &mut Half<N> {
        if target_writes {
            &mut self.reads
        } else {
            &mut self.writes
        }
    }

    /// Bytes of region the buffers span.
    pub(crate) fn region_len(&self) -> usize {
        self.reads
            .region_len()
            .saturating_add(self.writes.region_len())
    }

    /// Buffers holding a command's data.
    pub(crate) fn in_use(&self) -> usize {
        self.reads
            .pool
            .in_use()
            .saturating_add(self.writes.pool.in_use())
    }

    /// Region offset of a buffer in use for a transfer of this direction.
    pub(crate) fn offset(&self, handle: &BufHandle, target_writes: bool) -> Option<usize> {
        if target_writes {
            self.reads.offset(handle)
        } else {
            self.writes.offset(handle)
        }
    }

    /// A copy buffer and its STag for a transfer of `len` bytes, or `None`: register the
    /// caller's memory in place.
    pub(crate) fn place<R: Registrar>(
        &mut self,
        len: u32,
        target_writes: bool,
        registrar: &mut R,
    ) -> Option<(BufHandle, RemoteBuf)> {
        let threshold = self.threshold as usize;
        let half = self.half(target_writes);
        let mut limited = Limited {
            pool: &mut half.pool,
            count: half.count,
        };
        let Placement::Copy(handle) = place(len as usize, threshold, &mut limited) else {
            return None;
        };
        if let Some(remote) = half.stags.get(handle.index()).copied().flatten() {
            return Some((handle, remote));
        }
        let buf = half.offset(&handle).and_then(|offset| {
            Some(BufRef {
                offset: u32::try_from(offset).ok()?,
                len: u32::try_from(half.pool.buf_size()).ok()?,
            })
        });
        let registered = buf.and_then(|buf| registrar.register(buf, target_writes));
        match (registered, half.stags.get_mut(handle.index())) {
            (Some(remote), Some(slot)) => {
                *slot = Some(remote);
                Some((handle, remote))
            }
            (registered, _) => {
                if let Some(remote) = registered {
                    registrar.invalidate(remote.stag);
                }
                let _ = half.pool.free(handle);
                None
            }
        }
    }

    /// The target invalidated `stag` (Send with Invalidate): register that buffer afresh next
    /// time.
    pub(crate) fn invalidated(&mut self, stag: u32) {
        for slot in self
            .reads
            .stags
            .iter_mut()
            .chain(self.writes.stags.iter_mut())
        {
            if slot.is_some_and(|r| r.stag == stag) {
                *slot = None;
            }
        }
    }

    /// Gives a buffer back; its registration stays for the next command.
    pub(crate) fn release(&mut self, handle: BufHandle, target_writes: bool) {
        let _ = self.half(target_writes).pool.free(handle);
    }

    /// Invalidates every copy STag (the connection ended).
    pub(crate) fn invalidate_all<R: Registrar>(&mut self, registrar: &mut R) {
        for slot in self
            .reads
            .stags
            .iter_mut()
            .chain(self.writes.stags.iter_mut())
        {
            if let Some(remote) = slot.take() {
                registrar.invalidate(remote.stag);
            }
        }
    }

    /// The copy STags registered now.
    pub(crate) fn stags(&self) -> impl Iterator<Item = u32> + '_ {
        self.reads
            .stags
            .iter()
            .chain(self.writes.stags.iter())
            .flatten()
            .map(|r| r.stag)
    }
}
