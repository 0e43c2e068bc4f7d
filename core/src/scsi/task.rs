//! The interface between the iSCSI session and SCSI emulation: a [`CommandRequest`] in, a
//! [`Start`] out, and the [`ScsiTask`] the session holds during the data phase
//! (RFC 7143 §11.3 SCSI Command: Expected Data Transfer Length, R/W bits).

use super::commands::{Cmd, Opcode};
use super::completion::{Completion, Residual};
use super::sense::{AdditionalSense, Sense, SenseKey};

/// Index of an I_T nexus (one iSCSI session = initiator port × target port), assigned by the
/// session layer. Unit attentions and reservations are kept per nexus, so indices must be
/// stable for the session's life and below the logical unit's `NEXUS` capacity.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct NexusId(pub u16);

/// A SCSI command as the session received it.
#[derive(Clone, Copy, Debug)]
pub struct CommandRequest<'c> {
    /// The CDB (16 bytes from the BHS, more with an Extended CDB AHS); trailing bytes past the
    /// command's CDB length are ignored.
    pub cdb: &'c [u8],
    /// Expected Data Transfer Length when the R bit is set, else 0.
    pub expected_read_len: u32,
    /// Expected Data Transfer Length when the W bit is set, else 0.
    pub expected_write_len: u32,
    /// The I_T nexus the command arrived on.
    pub nexus: NexusId,
}

/// What the session does next with a command.
#[derive(Clone, Copy, Debug)]
#[must_use]
#[non_exhaustive]
pub enum Start {
    /// No data phase: send this completion now.
    Done(Completion),
    /// Send `len` bytes to the initiator, produced by `read_data`, then `finish`.
    DataIn {
        /// Hold this until `finish`.
        task: ScsiTask,
        /// Bytes to send: never more than the Expected Data Transfer Length.
        len: u32,
    },
    /// Receive `len` bytes from the initiator and pass them to `write_data`, then `finish`.
    DataOut {
        /// Hold this until `finish`.
        task: ScsiTask,
        /// Bytes to fetch: never more than the Expected Data Transfer Length.
        len: u32,
    },
}

impl Start {
    /// The completion if the command finished at once.
    pub fn done(self) -> Option<Completion> {
        match self {
            Start::Done(c) => Some(c),
            _ => None,
        }
    }
}

/// A CDB shorter than 16 bytes, zero-padded to 16.
#[cold]
#[inline(never)]
fn short_cdb(cdb: &[u8]) -> [u8; 16] {
    let mut c = [0u8; 16];
    for (d, s) in c.iter_mut().zip(cdb) {
        *d = *s;
    }
    c
}

/// What the session does next with a command begun in place
/// ([`LogicalUnit::start_in`](super::LogicalUnit::start_in)): as [`Start`], with the SCSI task of
/// a data phase already written into the caller's slot instead of returned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[must_use]
#[non_exhaustive]
pub enum Started {
    /// No data phase: send this completion now (the slot holds nothing the session needs).
    Done(Completion),
    /// Send `len` bytes to the initiator; the slot holds the task until `finish`.
    DataIn {
        /// Bytes to send: never more than the Expected Data Transfer Length.
        len: u32,
    },
    /// Receive `len` bytes from the initiator; the slot holds the task until `finish`.
    DataOut {
        /// Bytes to fetch: never more than the Expected Data Transfer Length.
        len: u32,
    },
}

impl Start {
    /// Moves the SCSI task of a data phase into `slot`.
    pub fn place(self, slot: &mut Option<ScsiTask>) -> Started {
        match self {
            Start::Done(c) => Started::Done(c),
            Start::DataIn { task, len } => {
                *slot = Some(task);
                Started::DataIn { len }
            }
            Start::DataOut { task, len } => {
                *slot = Some(task);
                Started::DataOut { len }
            }
        }
    }
}

impl Started {
    /// The [`Start`] of a command begun into `slot`. A data phase without a task in the slot
    /// (a backend that broke its promise) ends with INTERNAL TARGET FAILURE.
    pub fn with_task(self, slot: Option<ScsiTask>) -> Start {
        match (self, slot) {
            (Started::Done(c), _) => Start::Done(c),
            (Started::DataIn { len }, Some(task)) => Start::DataIn { task, len },
            (Started::DataOut { len }, Some(task)) => Start::DataOut { task, len },
            (_, None) => Start::Done(Completion::check(Sense::new(
                SenseKey::HARDWARE_ERROR,
                AdditionalSense::INTERNAL_TARGET_FAILURE,
            ))),
        }
    }
}

/// A block transfer a session may perform itself against an asynchronous backend
/// (see [`BlockDevice`](super::BlockDevice)).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct BlockIo {
    /// Device byte offset of the first byte of the data buffer.
    pub byte_offset: u64,
    /// Bytes to transfer.
    pub len: u32,
    /// Data-Out (write to the device) rather than Data-In.
    pub write: bool,
    /// Force Unit Access: the write must be stable before completion.
    pub fua: bool,
}

/// What a task does with its data, decided at `start`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub(crate) enum Op {
    /// Data-In generated from the CDB and logical-unit state (INQUIRY, MODE SENSE, ...).
    Generated,
    /// Data-In from the device starting at this byte offset.
    Read { offset: u64 },
    /// Data-Out to the device starting at this byte offset.
    Write { offset: u64, fua: bool },
    /// Data-Out compared with the device from this byte offset (VERIFY BYTCHK=01b); with
    /// `repeat` > 0 one block of data is compared with each of `repeat` blocks (BYTCHK=11b).
    Compare { offset: u64, repeat: u32 },
    /// Data-Out ORed into the device from this byte offset (ORWRITE).
    OrWrite { offset: u64, fua: bool },
    /// Data-Out collected in the logical unit's scratch buffer, acted on in `finish`.
    Buffered,
}

/// A command in its data phase. Small and `Copy`: the session stores it with its own task
/// state (ITT, buffers) and hands it back to `read_data` / `write_data` / `finish`.
#[derive(Clone, Copy, Debug)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct ScsiTask {
    pub(crate) cmd: Cmd,
    pub(crate) op: Op,
    /// First 16 CDB bytes, for regenerating parameter data.
    pub(crate) cdb: [u8; 16],
    pub(crate) nexus: NexusId,
    /// Bytes the command wants to move (SCSI view: allocation or transfer length).
    pub(crate) want: u64,
    /// iSCSI Expected Data Transfer Length in the data direction.
    pub(crate) expected: u32,
    /// Bytes actually moved: `min(want, expected)`.
    pub(crate) len: u32,
    /// Sense carried from `start` (REQUEST SENSE data) or the first failure of the data phase.
    pub(crate) sense: Option<Sense>,
    /// Lowest miscomparing Data-Out offset seen so far.
    pub(crate) miscompare: Option<u32>,
    /// Identifies the task to the logical unit (scratch buffer ownership).
    pub(crate) tag: u32,
}

impl ScsiTask {
    /// Whether the target rather than a logical unit answers this task (REPORT LUNS, SPC-4
    /// §6.33): route its `read_data`/`finish` to [`super::target`] even when its LUN exists.
    pub fn is_target_task(&self) -> bool {
        matches!(self.cmd, Cmd::ReportLuns)
    }

    #[cfg_attr(not(feature = "small-code"), inline)]
    pub(crate) fn new(cmd: Cmd, op: Op, cdb: &[u8], nexus: NexusId) -> ScsiTask {
        // The short CDB case stays out of line: merged with the 16-byte copy it turned both
        // into a call to memcpy.
        let c = match cdb.first_chunk::<16>() {
            Some(c) => *c,
            None => short_cdb(cdb),
        };
        ScsiTask {
            cmd,
            op,
            cdb: c,
            nexus,
            want: 0,
            expected: 0,
            len: 0,
            sense: None,
            miscompare: None,
            tag: 0,
        }
    }

    /// The command's OPERATION CODE, e.g. for a backend that persists state after
    /// PERSISTENT RESERVE OUT or lets EXTENDED COPY reach other logical units.
    pub fn opcode(&self) -> Opcode {
        Opcode(self.cdb[0])
    }

    /// Bytes of the data phase.
    pub fn len(&self) -> u32 {
        self.len
    }

    /// True when the data phase is empty.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The I_T nexus the command came from.
    pub fn nexus(&self) -> NexusId {
        self.nexus
    }

    /// Residual against the Expected Data Transfer Length.
    #[cfg_attr(not(feature = "small-code"), inline)]
    pub fn residual(&self) -> Residual {
        Residual::of(self.want, self.expected)
    }

    /// For plain READ and WRITE commands, the device transfer the data phase amounts to, so an
    /// asynchronous backend can perform it (then call
    /// [`LogicalUnit::complete_io`](super::LogicalUnit::complete_io) instead of
    /// `read_data`/`write_data`/`finish`). `None` for every other command.
    pub fn block_io(&self) -> Option<BlockIo> {
        match self.op {
            Op::Read { offset } => Some(BlockIo {
                byte_offset: offset,
                len: self.len,
                write: false,
                fua: false,
            }),
            Op::Write { offset, fua } => Some(BlockIo {
                byte_offset: offset,
                len: self.len,
                write: true,
                fua,
            }),
            _ => None,
        }
    }

    /// Bytes of a piece at `offset` of length `len` that lie inside the data phase.
    #[cfg_attr(not(feature = "small-code"), inline)]
    pub(crate) fn clip(&self, offset: u32, len: usize) -> usize {
        let room = self.len.saturating_sub(offset);
        len.min(usize::try_from(room).unwrap_or(usize::MAX))
    }

    /// Sets `want`/`expected`/`len`: the bytes to move, at most what the initiator expects.
    #[cfg_attr(not(feature = "small-code"), inline)]
    fn size(&mut self, want: u64, expected: u32) -> u32 {
        self.want = want;
        self.expected = expected;
        self.len = u32::try_from(want.min(u64::from(expected))).unwrap_or(expected);
        self.len
    }

    /// GOOD with the residual, for a transfer in which no bytes move.
    fn nothing_moves(&self) -> Completion {
        Completion::GOOD.with_residual(self.residual())
    }

    /// Sizes the Data-In transfer and returns the matching `Start` (`Done` when no bytes move).
    #[cfg_attr(not(feature = "small-code"), inline)]
    pub(crate) fn data_in(mut self, want: u64, expected: u32) -> Start {
        match self.size(want, expected) {
            0 => Start::Done(self.nothing_moves()),
            len => Start::DataIn { task: self, len },
        }
    }

    /// As [`data_in`](Self::data_in), for a task already in its slot.
    #[cfg_attr(not(feature = "small-code"), inline)]
    pub(crate) fn begin_data_in(&mut self, want: u64, expected: u32) -> Started {
        match self.size(want, expected) {
            0 => Started::Done(self.nothing_moves()),
            len => Started::DataIn { len },
        }
    }

    /// As [`data_in`](Self::data_in) for the Data-Out direction, in its slot.
    #[cfg_attr(not(feature = "small-code"), inline)]
    pub(crate) fn begin_data_out(&mut self, want: u64, expected: u32) -> Started {
        match self.size(want, expected) {
            0 => Started::Done(self.nothing_moves()),
            len => Started::DataOut { len },
        }
    }

    /// As [`data_in`](Self::data_in) for the Data-Out direction.
    #[cfg_attr(not(feature = "small-code"), inline)]
    pub(crate) fn data_out(mut self, want: u64, expected: u32) -> Start {
        match self.size(want, expected) {
            0 => Start::Done(self.nothing_moves()),
            len => Start::DataOut { task: self, len },
        }
    }

    /// The completion for this task given its recorded state.
    #[cfg_attr(not(feature = "small-code"), inline)]
    pub(crate) fn completion(&self) -> Completion {
        match self.sense {
            Some(s) if self.cmd != Cmd::RequestSense => Completion::check(s),
            _ => Completion::GOOD,
        }
        .with_residual(self.residual())
    }
}
