//! A SCSI task as the target connection tracks it between command and status: its data phase
//! progress for Data-In (RFC 7143 §11.7), and for writes the unsolicited burst and the R2Ts in
//! flight (§11.8, §4.2.? "Data transfer"), with the DataSequenceInOrder/DataPDUInOrder rules
//! that make write data arrive in increasing offset order.

use crate::scsi::{Completion, ScsiTask, Ticket};
use crate::wire::Lun;

/// Most R2Ts one task can have outstanding; MaxOutstandingR2T is negotiated no higher.
pub const MAX_R2T_PER_TASK: usize = 4;

/// Direction of a task's data phase.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Phase {
    /// Data flows to the initiator.
    Read,
    /// Data flows from the initiator.
    Write,
}

/// One outstanding R2T.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct R2tState {
    pub ttt: u32,
    pub offset: u32,
    pub len: u32,
    /// DataSN the next Data-Out of this R2T's sequence must carry (RFC 7143 §11.7.5).
    pub next_data_sn: u32,
}

/// Target-side state of one task.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Task {
    pub itt: u32,
    pub lun: Lun,
    /// The SCSI layer's task; `None` for a command that ended before it had one.
    pub scsi: Option<ScsiTask>,
    pub phase: Phase,
    /// Bytes the data phase moves: the SCSI layer's length capped by the Expected Data Transfer Length.
    pub len: u32,
    /// Bytes moved so far (read: sent; write: received in order).
    pub done: u32,
    /// Read: next DataSN. Write: next R2TSN.
    #[cfg_attr(not(feature = "tcp"), allow(dead_code))]
    pub sn: u32,
    /// Write: bytes the initiator may send unsolicited (immediate data included).
    pub unsolicited: u32,
    /// Write: offset up to which R2Ts were issued (or unsolicited data is expected).
    pub solicited_to: u32,
    /// Write: DataSN the next unsolicited Data-Out must carry.
    pub unsolicited_sn: u32,
    /// Write: outstanding R2Ts.
    pub r2ts: [Option<R2tState>; MAX_R2T_PER_TASK],
    /// Write: R2Ts queued for transmit but not yet sent.
    pub r2ts_unsent: u8,
    /// Status to send, with the ExpDataSN for the SCSI Response; the task leaves the table once
    /// it is sent.
    pub response: Option<(Completion, u32)>,
    /// The data phase is over and the backend works out the status in the background
    /// ([`crate::scsi::Finish::Deferred`]); the ExpDataSN for the response.
    pub deferred: Option<(Ticket, u32)>,
}

impl Task {
    /// A task whose command the SCSI layer is about to start into `scsi`.
    #[cfg_attr(not(feature = "small-code"), inline)]
    pub(crate) fn starting(itt: u32, lun: Lun) -> Task {
        Task {
            itt,
            lun,
            scsi: None,
            phase: Phase::Read,
            len: 0,
            done: 0,
            sn: 0,
            unsolicited: 0,
            solicited_to: 0,
            unsolicited_sn: 0,
            r2ts: [None; MAX_R2T_PER_TASK],
            r2ts_unsent: 0,
            response: None,
            deferred: None,
        }
    }

    /// A task that only waits for its SCSI Response to go out.
    pub(crate) fn responding(
        itt: u32,
        lun: Lun,
        scsi: Option<ScsiTask>,
        completion: Completion,
        exp_data_sn: u32,
    ) -> Task {
        Task {
            scsi,
            response: Some((completion, exp_data_sn)),
            ..Task::starting(itt, lun)
        }
    }

    /// Whether the task has a PDU to send. Under RDMA only its status goes as a PDU.
    pub(crate) fn wants_transmit(&self, rdma: bool) -> bool {
        self.response.is_some()
            || (!rdma
                && match self.phase {
                    Phase::Read => self.done < self.len,
                    Phase::Write => self.r2ts_unsent > 0,
                })
    }

    pub(crate) fn outstanding_r2ts(&self) -> usize {
        self.r2ts.iter().filter(|r| r.is_some()).count()
    }

    pub(crate) fn r2t_by_ttt_mut(&mut self, ttt: u32) -> Option<&mut R2tState> {
        self.r2ts.iter_mut().flatten().find(|r| r.ttt == ttt)
    }

    /// Retires R2Ts whose whole range has arrived.
    pub(crate) fn retire_r2ts(&mut self) {
        let done = self.done;
        for slot in self.r2ts.iter_mut() {
            if let Some(r) = slot {
                if r.offset.saturating_add(r.len) <= done {
                    *slot = None;
                }
            }
        }
    }

    #[cfg(feature = "tcp")]
    pub(crate) fn add_r2t(&mut self, r: R2tState) -> bool {
        match self.r2ts.iter_mut().find(|s| s.is_none()) {
            Some(slot) => {
                *slot = Some(r);
                true
            }
            None => false,
        }
    }
}
