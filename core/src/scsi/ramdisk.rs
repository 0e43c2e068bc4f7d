//! [`RamDisk`]: a [`BlockDevice`] over a caller's byte slice, optionally thin provisioned with a
//! caller's bitmap (SBC-3 §4.7). Works in firmware (static buffers) and in tests.

use super::device::{BlockDevice, IoError, LbaStatus, Provisioning};

/// A RAM-backed block device. Unmapped blocks (thin mode) read as zeros (LBPRZ).
#[derive(Debug)]
pub struct RamDisk<'a> {
    data: &'a mut [u8],
    block_size: u32,
    num_blocks: u64,
    /// One bit per block, set when mapped; `None` for a fully provisioned disk.
    map: Option<&'a mut [u8]>,
    read_only: bool,
}

/// Why a [`RamDisk`] could not be built.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum RamDiskError {
    /// Block size is not a power of two between 512 and 65536.
    BadBlockSize,
    /// The provisioning bitmap has fewer bits than the disk has blocks.
    BitmapTooSmall,
}

impl<'a> RamDisk<'a> {
    /// A fully provisioned disk over `data`; a trailing partial block is unused.
    pub fn new(data: &'a mut [u8], block_size: u32) -> Result<RamDisk<'a>, RamDiskError> {
        if !block_size.is_power_of_two() || !(512..=65536).contains(&block_size) {
            return Err(RamDiskError::BadBlockSize);
        }
        let num_blocks = (data.len() as u64)
            .checked_div(u64::from(block_size))
            .unwrap_or(0);
        Ok(RamDisk {
            data,
            block_size,
            num_blocks,
            map: None,
            read_only: false,
        })
    }

    /// Makes the disk thin provisioned, tracking mapped blocks in `bitmap` (bit `n % 8` of byte
    /// `n / 8` for block `n`, set = mapped). The bitmap's current contents are kept, so a
    /// zeroed bitmap starts fully unmapped; the data of unmapped blocks is zeroed now.
    pub fn with_thin_provisioning(mut self, bitmap: &'a mut [u8]) -> Result<Self, RamDiskError> {
        let bits = (bitmap.len() as u64).saturating_mul(8);
        if bits < self.num_blocks {
            return Err(RamDiskError::BitmapTooSmall);
        }
        self.map = Some(bitmap);
        for lba in 0..self.num_blocks {
            if !self.is_mapped(lba) {
                self.zero_blocks(lba, 1);
            }
        }
        Ok(self)
    }

    /// Sets or clears the write-protect switch.
    pub fn set_write_protected(&mut self, on: bool) {
        self.read_only = on;
    }

    /// True when block `lba` is mapped (always true when fully provisioned).
    pub fn is_mapped(&self, lba: u64) -> bool {
        match &self.map {
            None => true,
            Some(map) => {
                let byte = usize::try_from(lba / 8).ok().and_then(|i| map.get(i));
                byte.is_some_and(|b| b & (1u8 << (lba % 8)) != 0)
            }
        }
    }

    fn set_mapped(&mut self, lba: u64, mapped: bool) {
        if let Some(map) = &mut self.map {
            if let Some(b) = usize::try_from(lba / 8).ok().and_then(|i| map.get_mut(i)) {
                let bit = 1u8 << (lba % 8);
                if mapped {
                    *b |= bit;
                } else {
                    *b &= !bit;
                }
            }
        }
    }

    fn zero_blocks(&mut self, lba: u64, count: u64) {
        let bs = u64::from(self.block_size);
        if let Some(r) = self.range(lba.saturating_mul(bs), count.saturating_mul(bs)) {
            if let Some(s) = self.data.get_mut(r) {
                s.fill(0);
            }
        }
    }

    /// The byte range `[offset, offset + len)` as `usize`s if it lies inside the disk.
    fn range(&self, offset: u64, len: u64) -> Option<core::ops::Range<usize>> {
        let end = offset.checked_add(len)?;
        if end > self.num_blocks.saturating_mul(u64::from(self.block_size)) {
            return None;
        }
        Some(usize::try_from(offset).ok()?..usize::try_from(end).ok()?)
    }

    /// Blocks touched by the byte range `[offset, offset + len)`, as (first, count).
    fn blocks_of(&self, offset: u64, len: u64) -> (u64, u64) {
        let bs = u64::from(self.block_size);
        let first = offset.checked_div(bs).unwrap_or(0);
        let end = offset.saturating_add(len).div_ceil(bs);
        (first, end.saturating_sub(first))
    }
}

impl BlockDevice for RamDisk<'_> {
    fn block_size(&self) -> u32 {
        self.block_size
    }

    fn num_blocks(&self) -> u64 {
        self.num_blocks
    }

    #[cfg_attr(not(feature = "small-code"), inline)]
    fn read_at(&mut self, byte_offset: u64, buf: &mut [u8]) -> Result<(), IoError> {
        let r = self
            .range(byte_offset, buf.len() as u64)
            .ok_or(IoError::OutOfRange)?;
        let src = self.data.get(r).ok_or(IoError::OutOfRange)?;
        buf.copy_from_slice(src);
        Ok(())
    }

    #[cfg_attr(not(feature = "small-code"), inline)]
    fn write_at(&mut self, byte_offset: u64, data: &[u8], _fua: bool) -> Result<(), IoError> {
        if self.read_only {
            return Err(IoError::Other);
        }
        let r = self
            .range(byte_offset, data.len() as u64)
            .ok_or(IoError::OutOfRange)?;
        let dst = self.data.get_mut(r).ok_or(IoError::OutOfRange)?;
        dst.copy_from_slice(data);
        if self.map.is_some() && !data.is_empty() {
            let (first, count) = self.blocks_of(byte_offset, data.len() as u64);
            for lba in first..first.saturating_add(count) {
                self.set_mapped(lba, true);
            }
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

    fn provisioning(&self) -> Provisioning {
        if self.map.is_some() {
            Provisioning::Thin { lbprz: true }
        } else {
            Provisioning::Full
        }
    }

    fn discard(&mut self, byte_offset: u64, len: u64) -> Result<(), IoError> {
        if self.map.is_none() {
            return Err(IoError::Unsupported);
        }
        self.range(byte_offset, len).ok_or(IoError::OutOfRange)?;
        let (first, count) = self.blocks_of(byte_offset, len);
        self.zero_blocks(first, count);
        for lba in first..first.saturating_add(count) {
            self.set_mapped(lba, false);
        }
        Ok(())
    }

    fn lba_status(&mut self, lba: u64, max_blocks: u64) -> Result<(LbaStatus, u64), IoError> {
        if lba >= self.num_blocks {
            return Err(IoError::OutOfRange);
        }
        let mapped = self.is_mapped(lba);
        let limit = max_blocks.max(1).min(self.num_blocks.saturating_sub(lba));
        let mut run = 1u64;
        while run < limit && self.is_mapped(lba.saturating_add(run)) == mapped {
            run = run.saturating_add(1);
        }
        let status = if mapped {
            LbaStatus::Mapped
        } else {
            LbaStatus::Deallocated
        };
        Ok((status, run))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_rejects_bad_block_size() {
        let mut d = [0u8; 4096];
        assert_eq!(
            RamDisk::new(&mut d, 1000).err(),
            Some(RamDiskError::BadBlockSize)
        );
        assert_eq!(
            RamDisk::new(&mut d, 256).err(),
            Some(RamDiskError::BadBlockSize)
        );
    }

    #[test]
    fn test_read_write_unaligned() {
        let mut d = [0u8; 4096];
        let mut r = RamDisk::new(&mut d, 512).unwrap();
        assert_eq!(r.num_blocks(), 8);
        r.write_at(700, &[1, 2, 3], false).unwrap();
        let mut b = [0u8; 5];
        r.read_at(699, &mut b).unwrap();
        assert_eq!(b, [0, 1, 2, 3, 0]);
        assert_eq!(r.read_at(4095, &mut b), Err(IoError::OutOfRange));
        assert_eq!(r.write_at(u64::MAX, &[1], false), Err(IoError::OutOfRange));
    }

    #[test]
    fn test_thin_map_and_discard() {
        let mut d = [0xaau8; 4096];
        let mut map = [0u8; 1];
        let mut r = RamDisk::new(&mut d, 512)
            .unwrap()
            .with_thin_provisioning(&mut map)
            .unwrap();
        let mut b = [0xffu8; 4];
        r.read_at(0, &mut b).unwrap();
        assert_eq!(b, [0; 4], "unmapped reads as zero");
        assert_eq!(r.lba_status(0, 100), Ok((LbaStatus::Deallocated, 8)));
        r.write_at(600, &[7; 100], false).unwrap();
        assert!(r.is_mapped(1));
        assert!(!r.is_mapped(2));
        assert_eq!(r.lba_status(0, 100), Ok((LbaStatus::Deallocated, 1)));
        assert_eq!(r.lba_status(1, 100), Ok((LbaStatus::Mapped, 1)));
        r.discard(512, 512).unwrap();
        assert!(!r.is_mapped(1));
        r.read_at(1000, &mut b).unwrap();
        assert_eq!(b, [0; 4]);
    }

    #[test]
    fn test_bitmap_too_small() {
        let mut d = [0u8; 512 * 9];
        let mut map = [0u8; 1];
        let r = RamDisk::new(&mut d, 512).unwrap();
        assert_eq!(
            r.with_thin_provisioning(&mut map).err(),
            Some(RamDiskError::BitmapTooSmall)
        );
    }
}
