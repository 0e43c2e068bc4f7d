//! Errors of the buffer pools.

/// Why a pool operation failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum PoolError {
    /// The request is larger than one pool buffer. illumos' iSER target fails `it_buf_alloc` the
    /// same way for requests above its pool buffer size.
    TooLarge {
        /// Bytes asked for.
        requested: usize,
        /// Size of one pool buffer.
        max: usize,
    },
    /// Every buffer is in use.
    Exhausted,
    /// The handle was freed already (double free) or belongs to an earlier use of its slot.
    StaleHandle,
}
