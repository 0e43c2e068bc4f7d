//! Fixed-capacity buffer pools with generation-checked handles, and the initiator's
//! copy-or-register placement rule (DESIGN §3: `it_buf_alloc`/`it_buf_setup`).
//!
//! - [`SlotPool`]: storage-free bookkeeping (index + generation), for memory that lives
//!   elsewhere, e.g. one RDMA memory region registered at start-up.
//! - [`RegionPool`]: a [`SlotPool`] plus a run-time buffer size, mapping handles to offsets in
//!   such a region.
//! - [`BufPool`]: a [`SlotPool`] with inline storage, `N` buffers of `SIZE` bytes.
//! - [`place`]: below a threshold copy into a pool buffer, otherwise register in place.
//!
//! Exhaustion, oversize requests, double frees and stale handles are error values, never panics.

mod buf;
mod error;
pub mod placement;
mod region;
mod slot;

pub use buf::BufPool;
pub use error::PoolError;
pub use placement::{place, BufAlloc, Placement, DEFAULT_COPY_THRESHOLD};
pub use region::RegionPool;
pub use slot::{BufHandle, SlotHandle, SlotPool};
