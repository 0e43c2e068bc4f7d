//! The work requests an iSER engine has posted, each holding one buffer of the registered region
//! until its completion (RFC 7145 §5: every Send, receive, RDMA Read and RDMA Write names a
//! local buffer). The [`WrId`] of a work request is its buffer's index, so a completion finds
//! its buffer and what the buffer was for in one step.

use crate::dm::{BufRef, WrId};
use crate::pool::{BufHandle, RegionPool};

/// A posted work request: its buffer and what the engine posted it for.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Posted<U> {
    pub(crate) handle: BufHandle,
    pub(crate) usage: U,
    /// Region offset of the buffer.
    pub(crate) offset: usize,
}

impl<U> Posted<U> {
    /// The first `len` bytes of the buffer.
    pub(crate) fn bytes<'r>(&self, len: u32, region: &'r [u8]) -> Option<&'r [u8]> {
        region.get(self.offset..self.offset.checked_add(len as usize)?)
    }
}

/// `N` buffers of one size at the start of the region, and the work request each is posted for.
#[derive(Clone, Debug)]
pub(crate) struct PostedTable<U, const N: usize> {
    pool: RegionPool<N>,
    posted: [Option<Posted<U>>; N],
}

impl<U: Copy, const N: usize> PostedTable<U, N> {
    /// `N` free buffers of `buf_size` bytes.
    pub(crate) fn new(buf_size: u32) -> Self {
        PostedTable {
            pool: RegionPool::new(buf_size as usize),
            posted: [None; N],
        }
    }

    /// Bytes of region the buffers span, `None` on overflow.
    pub(crate) fn region_len(&self) -> Option<usize> {
        self.pool.region_len()
    }

    /// Buffers in use (posted, or taken back and not yet freed).
    pub(crate) fn in_use(&self) -> usize {
        self.pool.in_use()
    }

    /// Free buffers.
    pub(crate) fn available(&self) -> usize {
        self.pool.available()
    }

    /// Takes a whole buffer for a work request posted for `usage`: its id and where it is.
    pub(crate) fn alloc(&mut self, usage: U) -> Option<(WrId, BufRef)> {
        let size = self.pool.buf_size();
        let (handle, offset) = self.pool.alloc_whole().ok()?;
        let index = handle.index();
        match self.posted.get_mut(index) {
            Some(slot) => {
                *slot = Some(Posted {
                    handle,
                    usage,
                    offset,
                })
            }
            None => {
                let _ = self.pool.free(handle);
                return None;
            }
        }
        Some((
            WrId(index as u64),
            BufRef {
                offset: u32::try_from(offset).ok()?,
                len: u32::try_from(size).ok()?,
            },
        ))
    }

    /// The work request `id` completed: what it was, its buffer still held (free it with
    /// [`Self::free`]). `None` for an id not posted (a stale or forged completion).
    pub(crate) fn take(&mut self, id: WrId) -> Option<Posted<U>> {
        self.posted.get_mut(usize::try_from(id.0).ok()?)?.take()
    }

    /// What work request `id` was posted for, if it is posted.
    #[cfg_attr(not(feature = "small-code"), inline)]
    pub(crate) fn usage(&self, id: WrId) -> Option<U> {
        let posted = self.posted.get(usize::try_from(id.0).ok()?)?.as_ref()?;
        Some(posted.usage)
    }

    /// Gives a buffer back.
    pub(crate) fn free(&mut self, handle: BufHandle) {
        let _ = self.pool.free(handle);
    }

    /// Forgets work request `id` and gives its buffer back (it was never posted after all).
    pub(crate) fn release(&mut self, id: WrId) {
        if let Some(posted) = self.take(id) {
            self.free(posted.handle);
        }
    }

    /// Region offset of a buffer in use.
    pub(crate) fn offset(&self, handle: &BufHandle) -> Option<usize> {
        self.pool.offset(handle).ok()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn test_posted_table_ids_find_their_buffer_once() {
        let mut t: PostedTable<char, 2> = PostedTable::new(100);
        let (a, buf_a) = t.alloc('r').unwrap();
        let (b, buf_b) = t.alloc('s').unwrap();
        assert_eq!((buf_a.offset, buf_b.offset, buf_b.len), (0, 100, 100));
        assert!(t.alloc('x').is_none(), "exhausted");
        assert_eq!(
            (t.usage(a), t.usage(b), t.usage(WrId(7))),
            (Some('r'), Some('s'), None)
        );
        let posted = t.take(b).unwrap();
        assert_eq!(posted.usage, 's');
        assert!(t.take(b).is_none(), "a second completion finds nothing");
        assert_eq!(t.usage(b), None, "taken: no longer posted");
        assert_eq!(t.in_use(), 2, "taken, not yet freed");
        t.free(posted.handle);
        t.release(a);
        t.release(WrId(7));
        assert_eq!((t.in_use(), t.available()), (0, 2));
    }
}
