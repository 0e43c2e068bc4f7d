//! The memory one connection registers: a zeroed, page-aligned allocation that never moves or
//! grows while the memory region over it exists.

use std::alloc::{alloc_zeroed, dealloc, Layout};
use std::ptr::NonNull;

use crate::error::Error;

/// Alignment of a [`Region`]: one page, so no other heap object shares its pages.
pub const REGION_ALIGN: usize = 4096;

/// A fixed, page-aligned byte buffer for registration with the adapter.
#[derive(Debug)]
pub struct Region {
    ptr: NonNull<u8>,
    layout: Layout,
}

// SAFETY: `Region` owns its allocation exclusively (like a `Box<[u8]>`); nothing about it is
// tied to the thread that made it.
unsafe impl Send for Region {}

impl Region {
    /// A zeroed region of `len` bytes (`len > 0`).
    pub fn new(len: usize) -> Result<Region, Error> {
        if len == 0 {
            return Err(Error::Invalid("empty memory region"));
        }
        let layout = Layout::from_size_align(len, REGION_ALIGN)
            .map_err(|_| Error::Invalid("memory region too large"))?;
        // SAFETY: `layout` has a non-zero size (checked above).
        let raw = unsafe { alloc_zeroed(layout) };
        let ptr = NonNull::new(raw).ok_or(Error::Verb {
            verb: "alloc",
            source: std::io::Error::from(std::io::ErrorKind::OutOfMemory),
        })?;
        Ok(Region { ptr, layout })
    }

    /// Its length in bytes.
    pub fn len(&self) -> usize {
        self.layout.size()
    }

    /// Never true: regions are not empty.
    pub fn is_empty(&self) -> bool {
        false
    }

    /// The address of its first byte (what the memory region registers, and what local SGEs
    /// point into).
    pub fn addr(&self) -> u64 {
        self.ptr.as_ptr() as u64
    }

    pub(crate) fn as_mut_ptr(&mut self) -> *mut u8 {
        self.ptr.as_ptr()
    }

    /// The bytes. The adapter writes into posted receive and RDMA Read buffers behind this view;
    /// the engine only reads a buffer after its work request completed.
    pub fn as_mut_slice(&mut self) -> &mut [u8] {
        // SAFETY: `ptr` points to `layout.size()` initialised (zeroed) bytes we own, and the
        // `&mut self` borrow makes this the only Rust reference to them while it lives.
        unsafe { std::slice::from_raw_parts_mut(self.ptr.as_ptr(), self.layout.size()) }
    }

    /// Whether `offset..offset+len` lies inside the region.
    pub fn contains(&self, offset: u32, len: u32) -> bool {
        (offset as usize)
            .checked_add(len as usize)
            .is_some_and(|end| end <= self.len())
    }
}

impl Drop for Region {
    fn drop(&mut self) {
        // SAFETY: allocated in `new` with exactly this layout, freed once.
        unsafe { dealloc(self.ptr.as_ptr(), self.layout) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zeroed_aligned_and_bounded() {
        let mut r = Region::new(3 * 4096 + 17).unwrap();
        assert_eq!(r.addr() % REGION_ALIGN as u64, 0);
        assert_eq!(r.len(), 3 * 4096 + 17);
        assert!(r.as_mut_slice().iter().all(|b| *b == 0));
        r.as_mut_slice()[5] = 7;
        assert_eq!(r.as_mut_slice()[5], 7);
        assert!(r.contains(0, 3 * 4096 + 17));
        assert!(r.contains(3 * 4096 + 17, 0));
        assert!(!r.contains(1, 3 * 4096 + 17));
        assert!(!r.contains(u32::MAX, u32::MAX));
        assert!(Region::new(0).is_err());
    }
}
