//! The data area of an iSER connection's registered region: first-fit allocation of page-aligned
//! pieces, one per command in flight (the buffer its STag names).

/// Alignment of every piece.
pub const ALIGN: u32 = 4096;

/// Pieces handed out from `start..start + len`.
#[derive(Debug)]
pub struct DataArea {
    start: u32,
    len: u32,
    /// (offset, length) of the pieces in use, sorted by offset.
    used: Vec<(u32, u32)>,
}

impl DataArea {
    /// An area of `len` bytes at offset `start` of the region.
    pub fn new(start: u32, len: u32) -> DataArea {
        DataArea {
            start,
            len,
            used: Vec::new(),
        }
    }

    /// Bytes of the area.
    pub fn len(&self) -> u32 {
        self.len
    }

    /// Whether the area has no room at all.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// A piece of at least `len` bytes (rounded up to [`ALIGN`]), or `None` while none is free.
    pub fn alloc(&mut self, len: u32) -> Option<u32> {
        let len = len.max(1).checked_next_multiple_of(ALIGN)?;
        let end = self.start.checked_add(self.len)?;
        let mut at = self.start.checked_next_multiple_of(ALIGN)?;
        let mut slot = self.used.len();
        for (i, &(o, l)) in self.used.iter().enumerate() {
            if at.checked_add(len)? <= o {
                slot = i;
                break;
            }
            at = o + l;
        }
        if at.checked_add(len)? > end {
            return None;
        }
        self.used.insert(slot, (at, len));
        Some(at)
    }

    /// Returns the piece at `offset`.
    pub fn free(&mut self, offset: u32) {
        if let Some(i) = self.used.iter().position(|&(o, _)| o == offset) {
            self.used.remove(i);
        }
    }

    /// Pieces in use.
    pub fn in_use(&self) -> usize {
        self.used.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_fit_aligned_and_reused() {
        let mut a = DataArea::new(8192, 5 * ALIGN);
        let x = a.alloc(100).unwrap();
        let y = a.alloc(ALIGN + 1).unwrap();
        let z = a.alloc(ALIGN).unwrap();
        assert_eq!((x, y, z), (8192, 8192 + ALIGN, 8192 + 3 * ALIGN));
        assert_eq!(a.alloc(2 * ALIGN), None);
        a.free(y);
        assert_eq!(a.alloc(2 * ALIGN), Some(y));
        assert_eq!(a.alloc(ALIGN), Some(8192 + 4 * ALIGN));
        assert_eq!(a.alloc(1), None);
        assert_eq!(a.in_use(), 4);
        for o in [x, y, z, 8192 + 4 * ALIGN] {
            a.free(o);
        }
        assert_eq!(a.in_use(), 0);
        assert_eq!(a.alloc(5 * ALIGN), Some(8192));
        assert_eq!(DataArea::new(0, 0).alloc(1), None);
    }
}
