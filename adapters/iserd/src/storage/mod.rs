//! The storage behind logical units: [`RamDevice`] and [`FileDevice`], both implementing the
//! core's `BlockDevice` (SBC-3 §4), and [`Device`], the one type the daemon's logical units hold.

mod file;
mod mapped;
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

/// log2 of logical blocks per physical block (READ CAPACITY(16) LOGICAL BLOCKS PER PHYSICAL
/// BLOCK EXPONENT, SBC-3 §5.16.2) for `physical`-byte physical and `block_size`-byte logical
/// blocks; 0 when the physical block is not a larger power of two.
pub fn physical_exponent(block_size: u32, physical: u32) -> u8 {
    let per = physical.checked_div(block_size).unwrap_or(1).max(1);
    if per.is_power_of_two() {
        u8::try_from(per.trailing_zeros()).unwrap_or(0)
    } else {
        0
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
        let exponent = physical_exponent(
            lun.block_size,
            lun.physical_block_size.unwrap_or(lun.block_size),
        );
        let mut dev = match &lun.backing {
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
        };
        match &mut dev {
            Device::Ram(d) => d.set_physical_exponent(exponent),
            Device::File(d) => {
                d.set_physical_exponent(exponent);
                if lun.direct {
                    d.set_direct()?;
                }
            }
        }
        Ok(dev)
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
