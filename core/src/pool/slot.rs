//! Storage-free slot bookkeeping: which of `N` slots are in use, with generation-checked handles.

use super::error::PoolError;

/// One allocated slot: its index and the generation it was handed out with.
///
/// Handles are `Copy` so adapters can stash them (e.g. in a work request id); a copy kept after
/// `free` is rejected as [`PoolError::StaleHandle`]. Generations are 32-bit and wrap, so a handle
/// kept across 2^32 reuses of one slot would match again. Handles carry no pool identity: do not
/// mix handles between pools.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct SlotHandle {
    index: usize,
    generation: u32,
}

impl SlotHandle {
    /// Slot index, `0..N`: lets an adapter map the handle to its memory (address, lkey).
    pub const fn index(&self) -> usize {
        self.index
    }

    /// Generation of the slot when this handle was handed out.
    pub const fn generation(&self) -> u32 {
        self.generation
    }
}

/// An allocated buffer: a slot plus the number of bytes requested (at most the buffer size).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct BufHandle {
    slot: SlotHandle,
    len: usize,
}

impl BufHandle {
    /// Buffer index, `0..N`: lets an adapter map the handle to (address, lkey).
    pub const fn index(&self) -> usize {
        self.slot.index
    }

    /// Requested length in bytes.
    pub const fn len(&self) -> usize {
        self.len
    }

    /// Requested length is zero.
    pub const fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The underlying slot handle.
    pub const fn slot(&self) -> SlotHandle {
        self.slot
    }
}

/// Bookkeeping for `N` slots whose memory lives elsewhere. Allocation and free are O(1).
#[derive(Clone, Debug)]
pub struct SlotPool<const N: usize> {
    generation: [u32; N],
    in_use: [bool; N],
    /// Stack of free indices; `free[..free_len]` are valid, the top is `free[free_len - 1]`.
    free: [usize; N],
    free_len: usize,
}

impl<const N: usize> Default for SlotPool<N> {
    fn default() -> Self {
        Self::new()
    }
}

impl<const N: usize> SlotPool<N> {
    /// All `N` slots free; the first `alloc` returns index 0. `const`, so it can sit in a static.
    #[allow(clippy::indexing_slicing, clippy::arithmetic_side_effects)] // i < N in the loop
    pub const fn new() -> Self {
        let mut free = [0usize; N];
        let mut i = 0;
        while i < N {
            // Top of the stack is index 0.
            free[i] = N - 1 - i;
            i += 1;
        }
        SlotPool {
            generation: [0; N],
            in_use: [false; N],
            free,
            free_len: N,
        }
    }

    /// Number of slots (`N`).
    pub const fn capacity(&self) -> usize {
        N
    }

    /// Free slots.
    pub const fn available(&self) -> usize {
        self.free_len
    }

    /// Slots handed out and not yet freed. `available() + in_use() == N` always.
    pub const fn in_use(&self) -> usize {
        N.saturating_sub(self.free_len)
    }

    /// Take a free slot.
    pub fn alloc(&mut self) -> Result<SlotHandle, PoolError> {
        let top = self.free_len.checked_sub(1).ok_or(PoolError::Exhausted)?;
        let index = *self.free.get(top).ok_or(PoolError::Exhausted)?;
        let generation = *self.generation.get(index).ok_or(PoolError::Exhausted)?;
        let used = self.in_use.get_mut(index).ok_or(PoolError::Exhausted)?;
        *used = true;
        self.free_len = top;
        Ok(SlotHandle { index, generation })
    }

    /// Whether `handle` names a slot that is currently allocated under that generation.
    pub fn is_live(&self, handle: &SlotHandle) -> bool {
        self.in_use.get(handle.index) == Some(&true)
            && self.generation.get(handle.index) == Some(&handle.generation)
    }

    /// Return a slot. A double free or stale handle is [`PoolError::StaleHandle`] and changes
    /// nothing.
    pub fn free(&mut self, handle: SlotHandle) -> Result<(), PoolError> {
        if !self.is_live(&handle) {
            return Err(PoolError::StaleHandle);
        }
        let (Some(used), Some(gen), Some(top)) = (
            self.in_use.get_mut(handle.index),
            self.generation.get_mut(handle.index),
            self.free.get_mut(self.free_len),
        ) else {
            // Unreachable while the invariants hold: a live slot is not on the free stack, so
            // the stack has room for it.
            return Err(PoolError::StaleHandle);
        };
        *used = false;
        *gen = gen.wrapping_add(1);
        *top = handle.index;
        self.free_len = self.free_len.saturating_add(1);
        Ok(())
    }

    /// Take a slot for a buffer of `len` bytes in a pool whose buffers hold `buf_size` bytes.
    pub fn alloc_buf(&mut self, len: usize, buf_size: usize) -> Result<BufHandle, PoolError> {
        if len > buf_size {
            return Err(PoolError::TooLarge {
                requested: len,
                max: buf_size,
            });
        }
        Ok(BufHandle {
            slot: self.alloc()?,
            len,
        })
    }

    /// Whether `handle` names a buffer that is currently allocated.
    pub fn is_live_buf(&self, handle: &BufHandle) -> bool {
        self.is_live(&handle.slot)
    }

    /// Return a buffer's slot.
    pub fn free_buf(&mut self, handle: BufHandle) -> Result<(), PoolError> {
        self.free(handle.slot)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::panic)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::HashSet;
    use std::vec::Vec;

    #[test]
    fn test_slots_alloc_until_exhausted() {
        let mut p: SlotPool<3> = SlotPool::new();
        let hs: Vec<_> = (0..3).map(|_| p.alloc().unwrap()).collect();
        assert_eq!(hs.iter().map(|h| h.index()).collect::<Vec<_>>(), [0, 1, 2]);
        assert_eq!(p.alloc(), Err(PoolError::Exhausted));
        assert_eq!((p.available(), p.in_use()), (0, 3));
        p.free(hs[1]).unwrap();
        assert_eq!(p.alloc().unwrap().index(), 1);
    }

    #[test]
    fn test_slots_double_free_and_stale() {
        let mut p: SlotPool<2> = SlotPool::new();
        let h = p.alloc().unwrap();
        p.free(h).unwrap();
        assert_eq!(p.free(h), Err(PoolError::StaleHandle));
        let h2 = p.alloc().unwrap();
        assert_eq!(h2.index(), h.index());
        assert!(!p.is_live(&h));
        assert_eq!(p.free(h), Err(PoolError::StaleHandle), "stale after reuse");
        assert!(p.is_live(&h2));
        assert_eq!(p.in_use(), 1);
    }

    #[test]
    fn test_slots_zero_capacity() {
        let mut p: SlotPool<0> = SlotPool::new();
        assert_eq!(p.alloc(), Err(PoolError::Exhausted));
        assert_eq!((p.available(), p.in_use()), (0, 0));
    }

    #[test]
    fn test_slots_alloc_buf_too_large() {
        let mut p: SlotPool<1> = SlotPool::new();
        assert_eq!(
            p.alloc_buf(9, 8),
            Err(PoolError::TooLarge {
                requested: 9,
                max: 8
            })
        );
        assert_eq!(p.in_use(), 0);
        let b = p.alloc_buf(8, 8).unwrap();
        assert_eq!(b.len(), 8);
        p.free_buf(b).unwrap();
        assert_eq!(p.free_buf(b), Err(PoolError::StaleHandle));
    }

    proptest! {
        /// Random alloc/free sequences (with double frees and stale handles mixed in) never hand
        /// out a slot twice, never lose one, and reject every dead handle.
        #[test]
        fn prop_slots_never_double_hand_out(ops in proptest::collection::vec((any::<bool>(), any::<usize>()), 0..300)) {
            let mut p: SlotPool<5> = SlotPool::new();
            let mut live: Vec<SlotHandle> = Vec::new();
            let mut dead: Vec<SlotHandle> = Vec::new();
            for (alloc, k) in ops {
                if alloc {
                    match p.alloc() {
                        Ok(h) => {
                            prop_assert!(live.iter().all(|l| l.index() != h.index()));
                            live.push(h);
                        }
                        Err(e) => {
                            prop_assert_eq!(e, PoolError::Exhausted);
                            prop_assert_eq!(live.len(), 5);
                        }
                    }
                } else if k % 3 == 0 && !dead.is_empty() {
                    let h = dead[k % dead.len()];
                    prop_assert_eq!(p.free(h), Err(PoolError::StaleHandle));
                } else if !live.is_empty() {
                    let h = live.swap_remove(k % live.len());
                    prop_assert_eq!(p.free(h), Ok(()));
                    dead.push(h);
                }
                prop_assert_eq!(p.available() + p.in_use(), 5);
                prop_assert_eq!(p.in_use(), live.len());
                let idx: HashSet<_> = live.iter().map(|h| h.index()).collect();
                prop_assert_eq!(idx.len(), live.len());
                for h in &live { prop_assert!(p.is_live(h)); }
                for h in &dead { prop_assert!(!p.is_live(h)); }
            }
        }
    }
}
