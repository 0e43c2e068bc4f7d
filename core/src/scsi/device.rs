//! The storage behind a logical unit: a byte-addressed [`BlockDevice`] (SBC-3 §4.3 logical
//! blocks, §4.7 logical block provisioning) and how its errors become sense data.

use super::sense::{AdditionalSense, Sense, SenseKey};

/// Why a [`BlockDevice`] operation failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum IoError {
    /// The medium could not be read or written (bad sector, checksum failure, lost object).
    Medium,
    /// The range lies outside the device (should not happen: the LU checks ranges first).
    OutOfRange,
    /// A thin-provisioned backend ran out of space.
    NoSpace,
    /// The operation is not supported by this backend (e.g. discard).
    Unsupported,
    /// The medium is write protected.
    WriteProtected,
    /// The medium is not ready (stopped, ejected, being sanitized).
    NotReady,
    /// Anything else (connection to a network backend lost, internal error).
    Other,
}

/// Which kind of access failed, to pick the right sense code for an [`IoError`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Access {
    Read,
    Write,
}

impl IoError {
    /// The sense data for this error during `access` (SBC-3 §4.15 and SPC-4 table 49):
    /// MEDIUM ERROR 11/00 on read or 0C/00 on write, DATA PROTECT 27/07 when out of space or
    /// 27/00 when write protected, NOT READY 04/02, ILLEGAL REQUEST 21/00 out of range,
    /// HARDWARE ERROR 44/00 otherwise.
    pub(crate) fn sense(self, access: Access) -> Sense {
        match (self, access) {
            (IoError::Medium, Access::Read) => Sense::new(
                SenseKey::MEDIUM_ERROR,
                AdditionalSense::UNRECOVERED_READ_ERROR,
            ),
            (IoError::Medium, Access::Write) => {
                Sense::new(SenseKey::MEDIUM_ERROR, AdditionalSense::WRITE_ERROR)
            }
            (IoError::NoSpace, _) => Sense::new(
                SenseKey::DATA_PROTECT,
                AdditionalSense::SPACE_ALLOCATION_FAILED_WRITE_PROTECT,
            ),
            (IoError::OutOfRange, _) => Sense::illegal_request(AdditionalSense::LBA_OUT_OF_RANGE),
            (IoError::Unsupported, _) => {
                Sense::illegal_request(AdditionalSense::INVALID_COMMAND_OPERATION_CODE)
            }
            (IoError::WriteProtected, _) => {
                Sense::new(SenseKey::DATA_PROTECT, AdditionalSense::WRITE_PROTECTED)
            }
            (IoError::NotReady, _) => Sense::new(
                SenseKey::NOT_READY,
                AdditionalSense::NOT_READY_INITIALIZING_COMMAND_REQUIRED,
            ),
            (IoError::Other, _) => Sense::new(
                SenseKey::HARDWARE_ERROR,
                AdditionalSense::INTERNAL_TARGET_FAILURE,
            ),
        }
    }
}

/// How the device provisions its blocks (SBC-3 §4.7).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum Provisioning {
    /// Fully provisioned: every block is mapped; no UNMAP.
    #[default]
    Full,
    /// Thin provisioned: blocks can be unmapped with UNMAP / WRITE SAME (UNMAP=1) and
    /// [`BlockDevice::discard`]. `lbprz`: unmapped blocks read as zeros (LBPRZ bit).
    Thin {
        /// Unmapped blocks read back as zeros.
        lbprz: bool,
    },
}

/// The provisioning state of a run of blocks, as GET LBA STATUS reports it (SBC-3 §5.5,
/// PROVISIONING STATUS).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum LbaStatus {
    /// Mapped (or unknown).
    Mapped,
    /// Deallocated: unmapped, reads return the LBPRZ pattern.
    Deallocated,
    /// Anchored: unmapped but with resources reserved.
    Anchored,
}

/// A block store behind a logical unit, addressed in bytes so streamed pieces of any size and
/// alignment go straight to or from the transport buffers without bounce buffers.
///
/// The logical unit only asks for ranges inside `num_blocks() * block_size()`, and the pieces
/// of one command together always cover whole blocks, but a single `read_at`/`write_at` call
/// may start or end inside a block (iSCSI PDUs and RDMA fragments need not be block multiples).
///
/// The trait is synchronous and assumes nothing about local files: a network backend (librbd,
/// NVMe-oF, an object store) fits. A backend that completes later does not implement this
/// trait on the hot path; instead the session takes the [`BlockIo`](super::BlockIo) plan from
/// [`ScsiTask::block_io`](super::ScsiTask::block_io), performs the transfer asynchronously
/// while holding the task, and ends it with
/// [`LogicalUnit::complete_io`](super::LogicalUnit::complete_io). All command decoding,
/// range checks, residuals and sense mapping stay in the logical unit either way.
pub trait BlockDevice {
    /// Logical block size in bytes (a power of two, at least 512).
    fn block_size(&self) -> u32;

    /// Number of logical blocks.
    fn num_blocks(&self) -> u64;

    /// Fills `buf` with the bytes starting at `byte_offset`.
    fn read_at(&mut self, byte_offset: u64, buf: &mut [u8]) -> Result<(), IoError>;

    /// Writes `data` at `byte_offset`. With `fua` the data must be on stable storage before
    /// returning (Force Unit Access).
    fn write_at(&mut self, byte_offset: u64, data: &[u8], fua: bool) -> Result<(), IoError>;

    /// Makes all completed writes stable (SYNCHRONIZE CACHE).
    fn flush(&mut self) -> Result<(), IoError>;

    /// True when the medium is read-only; writes then fail with DATA PROTECT, WRITE PROTECTED.
    fn write_protected(&self) -> bool {
        false
    }

    /// True when the device has a volatile write cache (reported as WCE and made changeable).
    fn has_volatile_cache(&self) -> bool {
        true
    }

    /// log2 of logical blocks per physical block (LOGICAL BLOCKS PER PHYSICAL BLOCK EXPONENT).
    fn physical_block_exponent(&self) -> u8 {
        0
    }

    /// Provisioning type. Thin devices must implement [`discard`](BlockDevice::discard).
    fn provisioning(&self) -> Provisioning {
        Provisioning::Full
    }

    /// Unmaps `len` bytes at `byte_offset` (whole blocks). After this, reads of the range
    /// return zeros if the device reports `lbprz`.
    fn discard(&mut self, byte_offset: u64, len: u64) -> Result<(), IoError> {
        let _ = (byte_offset, len);
        Err(IoError::Unsupported)
    }

    /// Provisioning state of block `lba` and how many consecutive blocks from `lba` (at least
    /// 1, at most `max_blocks`) share it. The default reports everything mapped.
    fn lba_status(&mut self, lba: u64, max_blocks: u64) -> Result<(LbaStatus, u64), IoError> {
        let _ = lba;
        Ok((LbaStatus::Mapped, max_blocks.max(1)))
    }
}
