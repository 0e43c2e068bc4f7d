//! Bookkeeping for `N` equal buffers carved out of one externally owned memory region (e.g. an
//! RDMA memory region registered once at start-up, as illumos' iSER keeps pre-registered buffer
//! caches per HCA).

use super::error::PoolError;
use super::placement::BufAlloc;
use super::slot::{BufHandle, SlotPool};

/// `N` buffers of `buf_size` bytes at offsets `index * buf_size` in a region the adapter owns.
#[derive(Clone, Debug)]
pub struct RegionPool<const N: usize> {
    slots: SlotPool<N>,
    buf_size: usize,
}

impl<const N: usize> RegionPool<N> {
    /// A pool of `N` free buffers of `buf_size` bytes each.
    pub const fn new(buf_size: usize) -> Self {
        RegionPool {
            slots: SlotPool::new(),
            buf_size,
        }
    }

    /// Bytes per buffer.
    pub const fn buf_size(&self) -> usize {
        self.buf_size
    }

    /// Bytes the region must span: `N * buf_size`, `None` on overflow.
    pub const fn region_len(&self) -> Option<usize> {
        N.checked_mul(self.buf_size)
    }

    /// Take a buffer for `len` bytes.
    pub fn alloc(&mut self, len: usize) -> Result<BufHandle, PoolError> {
        self.slots.alloc_buf(len, self.buf_size)
    }

    /// Take a whole buffer: its handle and its byte offset in the region (what
    /// [`Self::alloc`] with `buf_size` and [`Self::offset`] give, without checking again the
    /// handle just made).
    #[cfg_attr(not(feature = "small-code"), inline)]
    pub fn alloc_whole(&mut self) -> Result<(BufHandle, usize), PoolError> {
        let handle = self.slots.alloc_buf(self.buf_size, self.buf_size)?;
        let offset = handle
            .index()
            .checked_mul(self.buf_size)
            .ok_or(PoolError::Exhausted)?;
        Ok((handle, offset))
    }

    /// Return a buffer; stale or double frees are [`PoolError::StaleHandle`].
    pub fn free(&mut self, handle: BufHandle) -> Result<(), PoolError> {
        self.slots.free_buf(handle)
    }

    /// Byte offset of a live buffer in the region.
    pub fn offset(&self, handle: &BufHandle) -> Result<usize, PoolError> {
        if !self.slots.is_live_buf(handle) {
            return Err(PoolError::StaleHandle);
        }
        handle
            .index()
            .checked_mul(self.buf_size)
            .ok_or(PoolError::StaleHandle)
    }

    /// Free buffers.
    pub const fn available(&self) -> usize {
        self.slots.available()
    }

    /// Buffers in use.
    pub const fn in_use(&self) -> usize {
        self.slots.in_use()
    }
}

impl<const N: usize> BufAlloc for RegionPool<N> {
    fn alloc_buf(&mut self, len: usize) -> Result<BufHandle, PoolError> {
        self.alloc(len)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn test_region_offsets() {
        let mut r: RegionPool<4> = RegionPool::new(4096);
        assert_eq!(r.region_len(), Some(16384));
        let a = r.alloc(10).unwrap();
        let b = r.alloc(4096).unwrap();
        assert_eq!(r.offset(&a), Ok(0));
        assert_eq!(r.offset(&b), Ok(4096));
        assert_eq!(
            r.alloc(4097),
            Err(PoolError::TooLarge {
                requested: 4097,
                max: 4096
            })
        );
        r.free(a).unwrap();
        assert_eq!(r.offset(&a), Err(PoolError::StaleHandle));
        assert_eq!((r.available(), r.in_use()), (3, 1));
    }

    #[test]
    fn test_alloc_whole_gives_what_alloc_and_offset_give() {
        let mut r: RegionPool<2> = RegionPool::new(4096);
        let (a, at) = r.alloc_whole().unwrap();
        let (b, bt) = r.alloc_whole().unwrap();
        assert_eq!((r.offset(&a), r.offset(&b)), (Ok(at), Ok(bt)));
        assert_eq!((at, bt, a.len(), b.len()), (0, 4096, 4096, 4096));
        assert_eq!(r.alloc_whole(), Err(PoolError::Exhausted));
        r.free(b).unwrap();
        assert_eq!(
            r.alloc_whole().map(|(_, at)| at),
            Ok(4096),
            "the freed one again"
        );
    }
}
