//! The storage behind logical units: [`RamDevice`] and [`FileDevice`], both implementing the
//! core's `BlockDevice` (SBC-3 §4), and [`Device`], the one type the daemon's logical units hold.

mod file;
mod ram;

use std::fmt;
use std::io;
use std::path::PathBuf;

pub use file::FileDevice;
pub use iser_core::scsi::{BlockDevice, IoError, LbaStatus, Provisioning};
pub use ram::RamDevice;

use crate::config::{Backing, LunConfig};

/// Why a backing store could not be opened: the verb that failed, the path, and the OS error.
#[derive(Debug)]
pub struct StorageError {
    /// What we tried to do ("open", "create", ...).
    pub verb: &'static str,
    /// The file or device.
    pub path: PathBuf,
    /// The OS error.
    pub source: io::Error,
}

impl fmt::Display for StorageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "cannot {} {}: {}",
            self.verb,
            self.path.display(),
            self.source
        )
    }
}

impl std::error::Error for StorageError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.source)
    }
}

/// Any of the daemon's block devices.
#[derive(Debug)]
#[non_exhaustive]
pub enum Device {
    /// Heap memory.
    Ram(RamDevice),
    /// A file or block device.
    File(FileDevice),
}

impl Device {
    /// Opens the backing store `lun` describes.
    pub fn open(lun: &LunConfig) -> Result<Device, StorageError> {
        Ok(match &lun.backing {
            Backing::Ram { size } => Device::Ram(RamDevice::new(
                *size,
                lun.block_size,
                lun.read_only,
                lun.thin,
            )),
            Backing::File { path, create_size } => Device::File(FileDevice::open(
                path,
                *create_size,
                lun.block_size,
                lun.read_only,
                lun.thin,
            )?),
        })
    }
}

macro_rules! delegate {
    ($self:ident, $d:ident => $e:expr) => {
        match $self {
            Device::Ram($d) => $e,
            Device::File($d) => $e,
        }
    };
}

impl BlockDevice for Device {
    fn block_size(&self) -> u32 {
        delegate!(self, d => d.block_size())
    }
    fn num_blocks(&self) -> u64 {
        delegate!(self, d => d.num_blocks())
    }
    fn read_at(&mut self, byte_offset: u64, buf: &mut [u8]) -> Result<(), IoError> {
        delegate!(self, d => d.read_at(byte_offset, buf))
    }
    fn write_at(&mut self, byte_offset: u64, data: &[u8], fua: bool) -> Result<(), IoError> {
        delegate!(self, d => d.write_at(byte_offset, data, fua))
    }
    fn flush(&mut self) -> Result<(), IoError> {
        delegate!(self, d => d.flush())
    }
    fn write_protected(&self) -> bool {
        delegate!(self, d => d.write_protected())
    }
    fn has_volatile_cache(&self) -> bool {
        delegate!(self, d => d.has_volatile_cache())
    }
    fn physical_block_exponent(&self) -> u8 {
        delegate!(self, d => d.physical_block_exponent())
    }
    fn provisioning(&self) -> Provisioning {
        delegate!(self, d => d.provisioning())
    }
    fn discard(&mut self, byte_offset: u64, len: u64) -> Result<(), IoError> {
        delegate!(self, d => d.discard(byte_offset, len))
    }
    fn lba_status(&mut self, lba: u64, max_blocks: u64) -> Result<(LbaStatus, u64), IoError> {
        delegate!(self, d => d.lba_status(lba, max_blocks))
    }
}
