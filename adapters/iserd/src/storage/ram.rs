//! [`RamDevice`]: a [`BlockDevice`] in heap memory, allocated lazily in 1 MiB chunks so a large
//! RAM LUN costs only what is written, and thin provisioned on request (SBC-3 §4.7: unmapped
//! blocks read as zeros, LBPRZ).

use super::{BlockDevice, IoError, LbaStatus, Provisioning};

/// Bytes per allocation chunk.
pub const CHUNK: usize = 1 << 20;
const CHUNK_U64: u64 = CHUNK as u64;

/// A RAM-backed logical unit's storage.
#[derive(Debug)]
pub struct RamDevice {
    chunks: Vec<Option<Box<[u8]>>>,
    block_size: u32,
    num_blocks: u64,
    read_only: bool,
    thin: bool,
    physical_exponent: u8,
}

impl RamDevice {
    /// A zeroed device of `size` bytes (rounded down to whole blocks) with `block_size`-byte
    /// blocks (a power of two, at least 512).
    pub fn new(size: u64, block_size: u32, read_only: bool, thin: bool) -> RamDevice {
        let bs = u64::from(block_size.max(512));
        let num_blocks = size / bs;
        let bytes = num_blocks.saturating_mul(bs);
        let n = usize::try_from(bytes.div_ceil(CHUNK_U64)).unwrap_or(usize::MAX);
        let mut chunks = Vec::new();
        chunks.resize_with(n, || None);
        RamDevice {
            chunks,
            block_size: block_size.max(512),
            num_blocks,
            read_only,
            thin,
            physical_exponent: 0,
        }
    }

    fn len(&self) -> u64 {
        self.num_blocks.saturating_mul(u64::from(self.block_size))
    }

    fn check(&self, offset: u64, len: usize) -> Result<(), IoError> {
        let end = offset
            .checked_add(u64::try_from(len).map_err(|_| IoError::OutOfRange)?)
            .ok_or(IoError::OutOfRange)?;
        if end > self.len() {
            return Err(IoError::OutOfRange);
        }
        Ok(())
    }

    /// Reports 2^`exponent` logical blocks per physical block (a larger physical block).
    pub fn set_physical_exponent(&mut self, exponent: u8) {
        self.physical_exponent = exponent.min(15);
    }

    /// Bytes of memory actually allocated.
    pub fn allocated(&self) -> u64 {
        let n = self.chunks.iter().filter(|c| c.is_some()).count();
        u64::try_from(n)
            .unwrap_or(u64::MAX)
            .saturating_mul(CHUNK_U64)
    }
}

/// Splits `[offset, offset+len)` into (chunk index, offset in chunk, length) pieces.
fn pieces(offset: u64, len: usize) -> impl Iterator<Item = (usize, usize, usize)> {
    let mut pos = offset;
    let mut left = len;
    std::iter::from_fn(move || {
        if left == 0 {
            return None;
        }
        let idx = usize::try_from(pos / CHUNK_U64).ok()?;
        let within = usize::try_from(pos % CHUNK_U64).ok()?;
        let n = left.min(CHUNK.saturating_sub(within));
        pos = pos.saturating_add(u64::try_from(n).ok()?);
        left = left.saturating_sub(n);
        Some((idx, within, n))
    })
}

impl BlockDevice for RamDevice {
    fn block_size(&self) -> u32 {
        self.block_size
    }

    fn num_blocks(&self) -> u64 {
        self.num_blocks
    }

    fn read_at(&mut self, byte_offset: u64, buf: &mut [u8]) -> Result<(), IoError> {
        self.check(byte_offset, buf.len())?;
        let mut at = 0usize;
        for (idx, within, n) in pieces(byte_offset, buf.len()) {
            let end = at.saturating_add(n);
            let out = buf.get_mut(at..end).ok_or(IoError::OutOfRange)?;
            match self.chunks.get(idx).ok_or(IoError::OutOfRange)? {
                Some(chunk) => out.copy_from_slice(
                    chunk
                        .get(within..within.saturating_add(n))
                        .ok_or(IoError::OutOfRange)?,
                ),
                None => out.fill(0),
            }
            at = end;
        }
        Ok(())
    }

    fn write_at(&mut self, byte_offset: u64, data: &[u8], _fua: bool) -> Result<(), IoError> {
        if self.read_only {
            return Err(IoError::Other);
        }
        self.check(byte_offset, data.len())?;
        let mut at = 0usize;
        for (idx, within, n) in pieces(byte_offset, data.len()) {
            let end = at.saturating_add(n);
            let src = data.get(at..end).ok_or(IoError::OutOfRange)?;
            let slot = self.chunks.get_mut(idx).ok_or(IoError::OutOfRange)?;
            if slot.is_none() {
                if src.iter().all(|b| *b == 0) {
                    // Writing zeros to an unallocated chunk changes nothing.
                    at = end;
                    continue;
                }
                let mut v = Vec::new();
                v.try_reserve_exact(CHUNK).map_err(|_| IoError::NoSpace)?;
                v.resize(CHUNK, 0u8);
                *slot = Some(v.into_boxed_slice());
            }
            if let Some(chunk) = slot {
                chunk
                    .get_mut(within..within.saturating_add(n))
                    .ok_or(IoError::OutOfRange)?
                    .copy_from_slice(src);
            }
            at = end;
        }
        Ok(())
    }

    fn flush(&mut self) -> Result<(), IoError> {
        Ok(())
    }

    fn write_protected(&self) -> bool {
        self.read_only
    }

    fn has_volatile_cache(&self) -> bool {
        false
    }

    fn physical_block_exponent(&self) -> u8 {
        self.physical_exponent
    }

    fn provisioning(&self) -> Provisioning {
        if self.thin {
            Provisioning::Thin { lbprz: true }
        } else {
            Provisioning::Full
        }
    }

    fn discard(&mut self, byte_offset: u64, len: u64) -> Result<(), IoError> {
        if !self.thin {
            return Err(IoError::Unsupported);
        }
        if self.read_only {
            return Err(IoError::Other);
        }
        let len = usize::try_from(len).map_err(|_| IoError::OutOfRange)?;
        self.check(byte_offset, len)?;
        for (idx, within, n) in pieces(byte_offset, len) {
            let slot = self.chunks.get_mut(idx).ok_or(IoError::OutOfRange)?;
            if within == 0 && n == CHUNK {
                *slot = None;
            } else if let Some(chunk) = slot {
                chunk
                    .get_mut(within..within.saturating_add(n))
                    .ok_or(IoError::OutOfRange)?
                    .fill(0);
            }
        }
        Ok(())
    }

    fn lba_status(&mut self, lba: u64, max_blocks: u64) -> Result<(LbaStatus, u64), IoError> {
        let bs = u64::from(self.block_size);
        let max_blocks = max_blocks
            .max(1)
            .min(self.num_blocks.saturating_sub(lba).max(1));
        if !self.thin {
            return Ok((LbaStatus::Mapped, max_blocks));
        }
        let chunk_of =
            |lba: u64| usize::try_from(lba.saturating_mul(bs) / CHUNK_U64).unwrap_or(usize::MAX);
        let mapped = |lba: u64| self.chunks.get(chunk_of(lba)).is_some_and(Option::is_some);
        let state = mapped(lba);
        let mut n = 1u64;
        while n < max_blocks && mapped(lba.saturating_add(n)) == state {
            n = n.saturating_add(1);
        }
        let status = if state {
            LbaStatus::Mapped
        } else {
            LbaStatus::Deallocated
        };
        Ok((status, n))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn read_back_across_chunks() {
        let mut d = RamDevice::new(3 * CHUNK_U64, 512, false, false);
        assert_eq!(d.num_blocks(), 3 * CHUNK_U64 / 512);
        let data: Vec<u8> = (0..CHUNK + 1024).map(|i| (i % 251) as u8).collect();
        let at = CHUNK_U64 - 512;
        d.write_at(at, &data, false).unwrap();
        let mut back = vec![0u8; data.len()];
        d.read_at(at, &mut back).unwrap();
        assert_eq!(back, data);
        let mut head = [1u8; 512];
        d.read_at(0, &mut head).unwrap();
        assert_eq!(head, [0u8; 512]);
        assert!(d.read_at(3 * CHUNK_U64 - 1, &mut [0u8; 2]).is_err());
    }

    #[test]
    fn zero_writes_do_not_allocate() {
        let mut d = RamDevice::new(4 * CHUNK_U64, 512, false, false);
        d.write_at(0, &vec![0u8; CHUNK], false).unwrap();
        assert_eq!(d.allocated(), 0);
        d.write_at(0, &[1], false).unwrap();
        assert_eq!(d.allocated(), CHUNK_U64);
    }

    #[test]
    fn thin_discard_frees_and_zeroes() {
        let mut d = RamDevice::new(4 * CHUNK_U64, 4096, false, true);
        d.write_at(0, &vec![7u8; 2 * CHUNK], false).unwrap();
        d.discard(4096, CHUNK_U64 * 2 - 4096).unwrap();
        assert_eq!(d.allocated(), CHUNK_U64);
        let mut b = vec![9u8; 8192];
        d.read_at(0, &mut b).unwrap();
        assert!(b[..4096].iter().all(|x| *x == 7) && b[4096..].iter().all(|x| *x == 0));
        let per_chunk = CHUNK_U64 / 4096;
        assert_eq!(
            d.lba_status(0, 1000).unwrap(),
            (LbaStatus::Mapped, per_chunk)
        );
        assert_eq!(
            d.lba_status(per_chunk, 10).unwrap(),
            (LbaStatus::Deallocated, 10)
        );
    }

    #[test]
    fn read_only_and_full_refuse() {
        let mut d = RamDevice::new(CHUNK_U64, 512, true, false);
        assert!(d.write_protected());
        assert!(d.write_at(0, &[1], false).is_err());
        let mut d = RamDevice::new(CHUNK_U64, 512, false, false);
        assert_eq!(d.discard(0, 512), Err(IoError::Unsupported));
    }
}
