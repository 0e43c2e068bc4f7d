//! A SCSI task as the initiator tracks it from submission to status (RFC 7143 §11.3–§11.8): the
//! command waiting for a CmdSN, the unsolicited first burst (immediate data and unsolicited
//! Data-Out, §11.3.4 / §13.10–§13.14), the R2Ts it must answer (§11.8), and Data-In progress.

use crate::wire::{Cdb, Lun, TaskAttribute, TaskMgmtFunction};

/// Most R2Ts one task may have outstanding; MaxOutstandingR2T is negotiated no higher.
pub const MAX_R2T: usize = 4;

/// One R2T to answer: Data-Out for `[next, end)` with Target Transfer Tag `ttt`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct R2t {
    pub ttt: u32,
    /// Next offset to send.
    pub next: u32,
    /// End of the solicited range.
    pub end: u32,
    /// DataSN of the next Data-Out of this sequence (RFC 7143 §11.7.5: from 0 per R2T).
    pub data_sn: u32,
}

/// Initiator-side state of one SCSI task.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Task {
    pub lun: Lun,
    pub cdb: Cdb,
    pub attr: TaskAttribute,
    pub read_len: u32,
    pub write_len: u32,
    /// Submission order: commands go out in it.
    pub seq: u32,
    /// CmdSN once the command was sent.
    pub cmd_sn: Option<u32>,
    /// Next offset of unsolicited Data-Out.
    pub unsolicited_next: u32,
    /// End of the unsolicited burst (immediate data included).
    pub unsolicited_end: u32,
    /// DataSN of the next unsolicited Data-Out.
    pub unsolicited_sn: u32,
    pub r2ts: [Option<R2t>; MAX_R2T],
    /// Read bytes delivered.
    pub read_bytes: u32,
    /// DataSN the next Data-In should carry.
    #[cfg_attr(not(feature = "tcp"), allow(dead_code))]
    pub data_sn: u32,
    /// The target broke a data-phase rule for this task; its completion reports it.
    pub broken: bool,
}

impl Task {
    pub(crate) fn new(
        lun: Lun,
        cdb: Cdb,
        attr: TaskAttribute,
        read_len: u32,
        write_len: u32,
        seq: u32,
    ) -> Self {
        Task {
            lun,
            cdb,
            attr,
            read_len,
            write_len,
            seq,
            cmd_sn: None,
            unsolicited_next: 0,
            unsolicited_end: 0,
            unsolicited_sn: 0,
            r2ts: [None; MAX_R2T],
            read_bytes: 0,
            data_sn: 0,
            broken: false,
        }
    }

    /// Whether the command is sent and Data-Out is ready to go.
    pub(crate) fn has_data_out(&self) -> bool {
        self.cmd_sn.is_some()
            && (self.unsolicited_next < self.unsolicited_end
                || self.r2ts.iter().flatten().any(|r| r.next < r.end))
    }

    /// Records an R2T; false when MAX_R2T are already outstanding.
    #[cfg(feature = "tcp")]
    pub(crate) fn add_r2t(&mut self, r: R2t) -> bool {
        match self.r2ts.iter_mut().find(|s| s.is_none()) {
            Some(slot) => {
                *slot = Some(r);
                true
            }
            None => false,
        }
    }
}

/// A task management request waiting to be sent or answered.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Tmf {
    pub function: TaskMgmtFunction,
    pub lun: Lun,
    /// ABORT TASK: the task and its ITT and CmdSN.
    pub referenced: Option<(crate::task::TaskSlot, u32, u32)>,
    pub sent: bool,
}
