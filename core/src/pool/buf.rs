//! `BufPool`: `N` inline buffers of `SIZE` bytes (DESIGN §3: `it_buf_alloc` / `it_buf_free`).

use super::error::PoolError;
use super::placement::BufAlloc;
use super::slot::{BufHandle, SlotPool};

/// `N` buffers of `SIZE` bytes stored inline, handed out by generation-checked [`BufHandle`]s.
///
/// Buffers are not cleared between uses: fill all `len` bytes before sending one.
#[derive(Debug)]
pub struct BufPool<const N: usize, const SIZE: usize> {
    slots: SlotPool<N>,
    bufs: [[u8; SIZE]; N],
}

impl<const N: usize, const SIZE: usize> Default for BufPool<N, SIZE> {
    fn default() -> Self {
        Self::new()
    }
}

impl<const N: usize, const SIZE: usize> BufPool<N, SIZE> {
    /// All buffers free. `const`, so the pool can live in a `static` / `StaticCell`.
    pub const fn new() -> Self {
        BufPool {
            slots: SlotPool::new(),
            bufs: [[0; SIZE]; N],
        }
    }

    /// Number of buffers (`N`).
    pub const fn capacity(&self) -> usize {
        N
    }

    /// Bytes per buffer (`SIZE`).
    pub const fn buf_size(&self) -> usize {
        SIZE
    }

    /// Take a buffer for `len` bytes: [`PoolError::TooLarge`] above `SIZE`,
    /// [`PoolError::Exhausted`] when none is free.
    pub fn alloc(&mut self, len: usize) -> Result<BufHandle, PoolError> {
        self.slots.alloc_buf(len, SIZE)
    }

    /// The first `handle.len()` bytes of a live buffer.
    pub fn get(&self, handle: &BufHandle) -> Result<&[u8], PoolError> {
        if !self.slots.is_live_buf(handle) {
            return Err(PoolError::StaleHandle);
        }
        self.bufs
            .get(handle.index())
            .and_then(|b| b.get(..handle.len()))
            .ok_or(PoolError::StaleHandle)
    }

    /// The first `handle.len()` bytes of a live buffer, mutably.
    pub fn get_mut(&mut self, handle: &BufHandle) -> Result<&mut [u8], PoolError> {
        if !self.slots.is_live_buf(handle) {
            return Err(PoolError::StaleHandle);
        }
        self.bufs
            .get_mut(handle.index())
            .and_then(|b| b.get_mut(..handle.len()))
            .ok_or(PoolError::StaleHandle)
    }

    /// Return a buffer. A double free or stale handle is [`PoolError::StaleHandle`].
    pub fn free(&mut self, handle: BufHandle) -> Result<(), PoolError> {
        self.slots.free_buf(handle)
    }

    /// Free buffers.
    pub const fn available(&self) -> usize {
        self.slots.available()
    }

    /// Buffers in use. `available() + in_use() == N` always.
    pub const fn in_use(&self) -> usize {
        self.slots.in_use()
    }
}

impl<const N: usize, const SIZE: usize> BufAlloc for BufPool<N, SIZE> {
    fn alloc_buf(&mut self, len: usize) -> Result<BufHandle, PoolError> {
        self.alloc(len)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::panic)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::vec::Vec;

    #[test]
    fn test_bufpool_alloc_get_free() {
        let mut p: BufPool<2, 16> = BufPool::new();
        let a = p.alloc(4).unwrap();
        p.get_mut(&a).unwrap().copy_from_slice(b"abcd");
        assert_eq!(p.get(&a).unwrap(), b"abcd");
        let b = p.alloc(16).unwrap();
        assert_eq!(p.get(&b).unwrap().len(), 16);
        assert_eq!(p.alloc(1), Err(PoolError::Exhausted));
        p.free(a).unwrap();
        assert_eq!(p.get(&a), Err(PoolError::StaleHandle));
        assert_eq!(p.get_mut(&a), Err(PoolError::StaleHandle));
        assert_eq!(p.free(a), Err(PoolError::StaleHandle));
        assert_eq!((p.available(), p.in_use()), (1, 1));
    }

    #[test]
    fn test_bufpool_too_large() {
        let mut p: BufPool<1, 8> = BufPool::new();
        assert_eq!(
            p.alloc(9),
            Err(PoolError::TooLarge {
                requested: 9,
                max: 8
            })
        );
        assert_eq!(p.available(), 1);
    }

    #[derive(Debug, Clone)]
    enum Op {
        Alloc(usize),
        Free(usize),
        FreeDead(usize),
        Write(usize),
    }

    proptest! {
        /// Buffers are never shared: each live buffer keeps the bytes its owner wrote, whatever
        /// else happens; the count is conserved and dead handles are rejected.
        #[test]
        fn prop_bufpool_isolated_and_conserved(ops in proptest::collection::vec(prop_oneof![
            (0usize..12).prop_map(Op::Alloc),
            any::<usize>().prop_map(Op::Free),
            any::<usize>().prop_map(Op::FreeDead),
            any::<usize>().prop_map(Op::Write),
        ], 0..300)) {
            let mut p: BufPool<4, 8> = BufPool::new();
            let mut live: Vec<(BufHandle, u8)> = Vec::new();
            let mut dead: Vec<BufHandle> = Vec::new();
            let mut stamp = 0u8;
            for op in ops {
                match op {
                    Op::Alloc(len) => match p.alloc(len) {
                        Ok(h) => {
                            prop_assert_eq!(h.len(), len);
                            stamp = stamp.wrapping_add(1);
                            p.get_mut(&h).unwrap().fill(stamp);
                            live.push((h, stamp));
                        }
                        Err(PoolError::TooLarge { requested, max }) => {
                            prop_assert_eq!((requested, max), (len, 8));
                            prop_assert!(len > 8);
                        }
                        Err(e) => {
                            prop_assert_eq!(e, PoolError::Exhausted);
                            prop_assert_eq!(live.len(), 4);
                        }
                    },
                    Op::Free(k) if !live.is_empty() => {
                        let (h, _) = live.swap_remove(k % live.len());
                        prop_assert_eq!(p.free(h), Ok(()));
                        dead.push(h);
                    }
                    Op::FreeDead(k) if !dead.is_empty() => {
                        let h = dead[k % dead.len()];
                        prop_assert_eq!(p.free(h), Err(PoolError::StaleHandle));
                        prop_assert_eq!(p.get(&h), Err(PoolError::StaleHandle));
                    }
                    Op::Write(k) if !live.is_empty() => {
                        let i = k % live.len();
                        stamp = stamp.wrapping_add(1);
                        p.get_mut(&live[i].0).unwrap().fill(stamp);
                        live[i].1 = stamp;
                    }
                    _ => {}
                }
                prop_assert_eq!(p.available() + p.in_use(), 4);
                prop_assert_eq!(p.in_use(), live.len());
                for (h, s) in &live {
                    let data = p.get(h).unwrap();
                    prop_assert_eq!(data.len(), h.len());
                    prop_assert!(data.iter().all(|b| b == s), "buffer shared or clobbered");
                }
            }
        }
    }
}
