//! TEMPORARY mirror of `iser_core::scsi::{BlockDevice, IoError, LbaStatus, Provisioning}` until
//! the SCSI layer lands on main; replaced by a re-export at merge time.
#![allow(dead_code, missing_docs)]

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum IoError {
    Medium,
    OutOfRange,
    NoSpace,
    Unsupported,
    Other,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum Provisioning {
    #[default]
    Full,
    Thin {
        lbprz: bool,
    },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum LbaStatus {
    Mapped,
    Deallocated,
    Anchored,
}

pub trait BlockDevice {
    fn block_size(&self) -> u32;
    fn num_blocks(&self) -> u64;
    fn read_at(&mut self, byte_offset: u64, buf: &mut [u8]) -> Result<(), IoError>;
    fn write_at(&mut self, byte_offset: u64, data: &[u8], fua: bool) -> Result<(), IoError>;
    fn flush(&mut self) -> Result<(), IoError>;
    fn write_protected(&self) -> bool {
        false
    }
    fn has_volatile_cache(&self) -> bool {
        true
    }
    fn physical_block_exponent(&self) -> u8 {
        0
    }
    fn provisioning(&self) -> Provisioning {
        Provisioning::Full
    }
    fn discard(&mut self, byte_offset: u64, len: u64) -> Result<(), IoError> {
        let _ = (byte_offset, len);
        Err(IoError::Unsupported)
    }
    fn lba_status(&mut self, lba: u64, max_blocks: u64) -> Result<(LbaStatus, u64), IoError> {
        let _ = lba;
        Ok((LbaStatus::Mapped, max_blocks.max(1)))
    }
}
