//! Initiator buffer placement: copy small transfers into pre-registered pool buffers, register
//! large ones in place (DESIGN §3: `it_buf_setup`).
//!
//! This is the illumos iSER initiator's buffer setup rule (`iser_buf_setup`): memory registration
//! is slow, so a transfer *below* `ISER_BCOPY_THRESHOLD` (128 KiB) is copied into a buffer from a
//! pre-registered cache; at or above it the caller's memory is registered for RDMA. When the cache
//! has no buffer, it falls back to dynamic registration. We also fall back when the transfer does
//! not fit one pool buffer, so a small pool buffer size can never fail a transfer.

use super::error::PoolError;
use super::slot::BufHandle;

/// Transfers shorter than this are copied (illumos `ISER_BCOPY_THRESHOLD`, `0x20000`).
pub const DEFAULT_COPY_THRESHOLD: usize = 128 * 1024;

/// Where the data of one initiator transfer lives while the target accesses it via RDMA.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum Placement {
    /// Copy to/from this pre-registered pool buffer; advertise the pool's STag. The caller frees
    /// the handle when the task ends.
    Copy(BufHandle),
    /// Register the caller's memory in place and advertise its own STag.
    Register,
}

/// A pool that can hand out a buffer for `len` bytes ([`BufPool`](super::BufPool),
/// [`RegionPool`](super::RegionPool), or an adapter's own pool).
pub trait BufAlloc {
    /// Take a buffer for `len` bytes.
    fn alloc_buf(&mut self, len: usize) -> Result<BufHandle, PoolError>;
}

/// Decide where a transfer of `len` bytes goes: [`Placement::Copy`] when `len < threshold` and
/// the pool has a buffer that fits, [`Placement::Register`] otherwise (at or above the threshold,
/// pool exhausted, or `len` above the pool's buffer size).
pub fn place<P: BufAlloc + ?Sized>(len: usize, threshold: usize, pool: &mut P) -> Placement {
    if len >= threshold {
        return Placement::Register;
    }
    match pool.alloc_buf(len) {
        Ok(h) => Placement::Copy(h),
        Err(_e) => {
            debug!(
                "placement: pool refused {} bytes, registering in place",
                len
            );
            Placement::Register
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::panic)]
mod tests {
    use super::super::BufPool;
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn test_place_below_threshold_copies() {
        let mut p: BufPool<2, 64> = BufPool::new();
        match place(10, 32, &mut p) {
            Placement::Copy(h) => assert_eq!(h.len(), 10),
            other => panic!("{other:?}"),
        }
        assert_eq!(p.in_use(), 1);
    }

    #[test]
    fn test_place_at_threshold_registers() {
        let mut p: BufPool<2, 64> = BufPool::new();
        assert_eq!(place(32, 32, &mut p), Placement::Register);
        assert_eq!(place(33, 32, &mut p), Placement::Register);
        assert_eq!(p.in_use(), 0, "no buffer taken when registering");
    }

    #[test]
    fn test_place_exhausted_falls_back_to_register() {
        let mut p: BufPool<1, 64> = BufPool::new();
        assert!(matches!(place(1, 32, &mut p), Placement::Copy(_)));
        assert_eq!(place(1, 32, &mut p), Placement::Register);
    }

    #[test]
    fn test_place_larger_than_pool_buffer_registers() {
        let mut p: BufPool<1, 16> = BufPool::new();
        assert_eq!(
            place(17, DEFAULT_COPY_THRESHOLD, &mut p),
            Placement::Register
        );
        assert_eq!(p.in_use(), 0);
    }

    proptest! {
        #[test]
        fn prop_place_rule(len in 0usize..200, threshold in 0usize..200, taken in 0usize..=3) {
            let mut p: BufPool<3, 100> = BufPool::new();
            for _ in 0..taken { p.alloc(0).unwrap(); }
            let before = p.in_use();
            let r = place(len, threshold, &mut p);
            let copy = len < threshold && len <= 100 && taken < 3;
            match r {
                Placement::Copy(h) => {
                    prop_assert!(copy);
                    prop_assert_eq!(h.len(), len);
                    prop_assert_eq!(p.in_use(), before + 1);
                }
                Placement::Register => {
                    prop_assert!(!copy);
                    prop_assert_eq!(p.in_use(), before);
                }
            }
        }
    }
}
