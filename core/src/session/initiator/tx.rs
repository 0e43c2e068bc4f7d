//! What an initiator connection sends (RFC 7143 §11), in this order: the Login Request, answers to
//! target pings (NOP-Out, §11.18), task management requests (§11.5), the SendTargets Text
//! Request (§11.10), our own ping, the Logout Request (§11.14), then SCSI Commands in submission
//! order inside the CmdSN window (§4.2.2.1) with immediate data (§11.3), then Data-Out round
//! robin over tasks: the unsolicited first burst and the answers to R2Ts (§11.7, §11.8).

use super::event::{TaskHandle, WriteSource};
use super::{Discovery, InitiatorConn, Logout, Ping, Stage};
use crate::negotiate::Role;
use crate::session::target::Transmit;
use crate::task::TaskSlot;
use crate::time::Instant;
use crate::wire::ahs::{emit_extended_cdb, extended_cdb_ahs_len, MAX_CDB_LEN};
use crate::wire::frame::{data_offset, emit_header_in_place, emit_pdu, EmitError};
use crate::wire::{
    DataOutRepr, LogoutReason, LogoutRequestRepr, Lun, NopOutRepr, PduRepr, ScsiCommandRepr,
    TaskMgmtFunction, TaskMgmtRequestRepr, RESERVED_TAG,
};

/// The smallest data segment worth sending when the buffer cannot hold a full one.
const MIN_SEGMENT: usize = 512;

fn emitted(r: Result<usize, EmitError>) -> Result<usize, Transmit> {
    match r {
        Ok(n) => Ok(n),
        Err(EmitError::BufferTooSmall { needed }) => Err(Transmit::NeedSpace(needed)),
        Err(_) => Err(Transmit::Idle),
    }
}

impl<const TASKS: usize> InitiatorConn<'_, TASKS> {
    /// Writes the next PDU into `buf`, pulling write data from `source`.
    pub fn poll_transmit<W: WriteSource>(
        &mut self,
        now: Instant,
        buf: &mut [u8],
        source: &mut W,
    ) -> Transmit {
        let _ = now;
        match self.stage {
            Stage::Closed => return Transmit::Idle,
            Stage::Login => return self.emit_login_request(buf),
            Stage::FullFeature => {}
        }
        if let Some(t) = self.emit_nop_reply(buf) {
            return t;
        }
        if let Some(t) = self.emit_tmf(buf) {
            return t;
        }
        if matches!(self.discovery, Discovery::Queued { .. }) {
            match self.emit_text_request(buf) {
                Transmit::Idle => {}
                t => return t,
            }
        }
        if let Some(t) = self.emit_ping(buf) {
            return t;
        }
        match self.logout {
            Logout::Queued { itt } => return self.emit_logout(itt, buf),
            // Nothing more for the tasks once the session is being closed.
            Logout::Sent { .. } => return Transmit::Idle,
            Logout::None => {}
        }
        if let Some(t) = self.emit_next_command(buf, source) {
            return t;
        }
        self.emit_next_data_out(buf, source)
    }

    fn emit_nop_reply(&mut self, buf: &mut [u8]) -> Option<Transmit> {
        let at = self.nop_replies.iter().position(|r| r.is_some())?;
        let reply = self.nop_replies.get(at).copied().flatten()?;
        // §11.18: the answer to a ping has the reserved ITT, the ping's TTT and LUN, I=1, and
        // does not advance CmdSN.
        let repr = NopOutRepr {
            immediate: true,
            lun: reply.lun,
            itt: RESERVED_TAG,
            ttt: reply.ttt,
            cmd_sn: self.cmd_sn,
            exp_stat_sn: self.exp_stat_sn,
        };
        Some(
            match emitted(emit_pdu(
                &PduRepr::NopOut(repr),
                &[],
                &[],
                self.digests(),
                buf,
            )) {
                Ok(n) => {
                    if let Some(s) = self.nop_replies.get_mut(at) {
                        *s = None;
                    }
                    Transmit::Written(n)
                }
                Err(t) => t,
            },
        )
    }

    fn emit_ping(&mut self, buf: &mut [u8]) -> Option<Transmit> {
        let Ping::Queued { itt, deadline } = self.ping else {
            return None;
        };
        let repr = NopOutRepr {
            immediate: true,
            lun: Lun(0),
            itt,
            ttt: RESERVED_TAG,
            cmd_sn: self.cmd_sn,
            exp_stat_sn: self.exp_stat_sn,
        };
        Some(
            match emitted(emit_pdu(
                &PduRepr::NopOut(repr),
                &[],
                &[],
                self.digests(),
                buf,
            )) {
                Ok(n) => {
                    self.ping = Ping::Sent { itt, deadline };
                    Transmit::Written(n)
                }
                Err(t) => t,
            },
        )
    }

    fn emit_tmf(&mut self, buf: &mut [u8]) -> Option<Transmit> {
        let (slot, _) = self.tmfs.next_where(0, |t| !t.sent)?;
        let itt = self.tmfs.itt_of(slot)?;
        let tmf = *self.tmfs.get(slot)?;
        let (referenced_task_tag, ref_cmd_sn) = match tmf.referenced {
            Some((_, itt, cmd_sn)) => (itt, cmd_sn),
            None => (RESERVED_TAG, 0),
        };
        // §11.5: task management goes as an immediate command (it must not queue behind the
        // tasks it acts on), carrying the next CmdSN without taking it.
        let repr = TaskMgmtRequestRepr {
            immediate: true,
            function: tmf.function,
            lun: if tmf.function == TaskMgmtFunction::TARGET_WARM_RESET
                || tmf.function == TaskMgmtFunction::TARGET_COLD_RESET
            {
                Lun(0)
            } else {
                tmf.lun
            },
            itt: itt.0,
            referenced_task_tag,
            cmd_sn: self.cmd_sn,
            exp_stat_sn: self.exp_stat_sn,
            ref_cmd_sn,
            exp_data_sn: 0,
        };
        Some(
            match emitted(emit_pdu(
                &PduRepr::TaskMgmtRequest(repr),
                &[],
                &[],
                self.digests(),
                buf,
            )) {
                Ok(n) => {
                    if let Some(t) = self.tmfs.get_mut(slot) {
                        t.sent = true;
                    }
                    Transmit::Written(n)
                }
                Err(t) => t,
            },
        )
    }

    fn emit_logout(&mut self, itt: u32, buf: &mut [u8]) -> Transmit {
        let repr = LogoutRequestRepr {
            immediate: true,
            reason: LogoutReason::CLOSE_SESSION,
            itt,
            cid: 0,
            cmd_sn: self.cmd_sn,
            exp_stat_sn: self.exp_stat_sn,
        };
        match emitted(emit_pdu(
            &PduRepr::LogoutRequest(repr),
            &[],
            &[],
            self.digests(),
            buf,
        )) {
            Ok(n) => {
                self.logout = Logout::Sent { itt };
                Transmit::Written(n)
            }
            Err(t) => t,
        }
    }

    /// The oldest unsent command, if the CmdSN window admits it.
    fn emit_next_command<W: WriteSource>(
        &mut self,
        buf: &mut [u8],
        source: &mut W,
    ) -> Option<Transmit> {
        if !self.window_open() {
            return None;
        }
        let slot = self.oldest_unsent()?;
        Some(self.emit_command(slot, buf, source))
    }

    fn oldest_unsent(&self) -> Option<TaskSlot> {
        let base = self.next_seq;
        self.tasks
            .iter()
            .filter(|(_, _, t)| t.cmd_sn.is_none())
            // Age in submission order, robust to the counter wrapping.
            .max_by_key(|(_, _, t)| base.wrapping_sub(t.seq))
            .map(|(slot, _, _)| slot)
    }

    fn emit_command<W: WriteSource>(
        &mut self,
        slot: TaskSlot,
        buf: &mut [u8],
        source: &mut W,
    ) -> Transmit {
        let Some(itt) = self.tasks.itt_of(slot) else {
            return Transmit::Idle;
        };
        let Some(task) = self.tasks.get(slot).copied() else {
            return Transmit::Idle;
        };
        let p = &self.params;
        let max_seg = p.max_send_data_segment_length(Role::Initiator).max(512);
        let write = task.write_len > 0;
        // §13.11 / §13.14: immediate data up to FirstBurstLength and the target's
        // MaxRecvDataSegmentLength.
        let immediate = if write && p.immediate_data {
            task.write_len.min(p.first_burst_length).min(max_seg)
        } else {
            0
        };
        // §13.10: with InitialR2T=No the first burst (immediate data included) goes unsolicited.
        let unsolicited_end = if write && !p.initial_r2t {
            task.write_len.min(p.first_burst_length)
        } else {
            immediate
        };
        let mut ahs = [0u8; 4 + MAX_CDB_LEN];
        let ahs_len = extended_cdb_ahs_len(task.cdb.len());
        let Some(ahs_area) = ahs.get_mut(..ahs_len) else {
            return Transmit::Idle;
        };
        if emit_extended_cdb(task.cdb.as_bytes(), ahs_area).is_err() {
            return Transmit::Idle;
        }
        let repr = ScsiCommandRepr {
            immediate: false,
            // §11.3.1: F is set when no unsolicited Data-Out follows.
            final_: unsolicited_end <= immediate,
            read: task.read_len > 0,
            write,
            attr: task.attr,
            lun: task.lun,
            itt: itt.0,
            expected_data_transfer_length: task.read_len.max(task.write_len),
            cmd_sn: self.cmd_sn,
            exp_stat_sn: self.exp_stat_sn,
            cdb: task.cdb.bhs_part(),
        };
        let start = data_offset(ahs_len, self.digests());
        let imm = immediate as usize;
        let Some(dst) = buf.get_mut(start..start.saturating_add(imm)) else {
            let needed =
                crate::wire::frame::padded_len(start.saturating_add(imm)).saturating_add(8);
            return Transmit::NeedSpace(needed);
        };
        if imm > 0 {
            source.write_data(TaskHandle(slot), 0, dst);
        }
        let n = match emitted(emit_header_in_place(
            &PduRepr::ScsiCommand(repr),
            ahs.get(..ahs_len).unwrap_or_default(),
            imm,
            self.digests(),
            buf,
        )) {
            Ok(n) => n,
            Err(t) => return t,
        };
        let cmd_sn = self.cmd_sn;
        self.cmd_sn = self.cmd_sn.wrapping_add(1);
        if let Some(t) = self.tasks.get_mut(slot) {
            t.cmd_sn = Some(cmd_sn);
            t.unsolicited_next = immediate;
            t.unsolicited_end = unsolicited_end;
        }
        Transmit::Written(n)
    }

    /// One Data-Out of the next task (round robin) with data to send: unsolicited first, then
    /// R2T answers in arrival order.
    fn emit_next_data_out<W: WriteSource>(&mut self, buf: &mut [u8], source: &mut W) -> Transmit {
        let Some((slot, cursor)) = self.tasks.next_where(self.next_task, |t| t.has_data_out())
        else {
            return Transmit::Idle;
        };
        let Some(itt) = self.tasks.itt_of(slot) else {
            return Transmit::Idle;
        };
        let Some(task) = self.tasks.get(slot).copied() else {
            return Transmit::Idle;
        };
        // (TTT, next offset, end of sequence, DataSN, R2T index).
        let (ttt, next, end, data_sn, r2t): (u32, u32, u32, u32, Option<usize>) =
            if task.unsolicited_next < task.unsolicited_end {
                (
                    RESERVED_TAG,
                    task.unsolicited_next,
                    task.unsolicited_end,
                    task.unsolicited_sn,
                    None,
                )
            } else {
                // Without `tcp` (iSER only) no R2T arrives: unsolicited data is all that goes out.
                #[cfg(not(feature = "tcp"))]
                return Transmit::Idle;
                #[cfg(feature = "tcp")]
                {
                    let Some((i, r)) = task
                        .r2ts
                        .iter()
                        .enumerate()
                        .find_map(|(i, r)| r.filter(|r| r.next < r.end).map(|r| (i, r)))
                    else {
                        return Transmit::Idle;
                    };
                    (r.ttt, r.next, r.end, r.data_sn, Some(i))
                }
            };
        let max_seg = self
            .params
            .max_send_data_segment_length(Role::Initiator)
            .max(512) as usize;
        let start = data_offset(0, self.digests());
        let room = buf.len().saturating_sub(start).saturating_sub(3 + 4) & !3;
        let want = (end.saturating_sub(next) as usize).min(max_seg);
        if want > room && room < MIN_SEGMENT {
            return Transmit::NeedSpace(
                start
                    .saturating_add(crate::wire::frame::padded_len(want))
                    .saturating_add(4),
            );
        }
        let seg = want.min(room);
        let Some(dst) = buf.get_mut(start..start.saturating_add(seg)) else {
            return Transmit::NeedSpace(start.saturating_add(seg).saturating_add(7));
        };
        source.write_data(TaskHandle(slot), next, dst);
        let after = next.saturating_add(seg as u32);
        let repr = DataOutRepr {
            // §11.7.1: F marks the last PDU of the unsolicited burst or of an R2T's sequence.
            final_: after >= end,
            lun: task.lun,
            itt: itt.0,
            ttt,
            exp_stat_sn: self.exp_stat_sn,
            data_sn,
            buffer_offset: next,
        };
        let n = match emitted(emit_header_in_place(
            &PduRepr::DataOut(repr),
            &[],
            seg,
            self.digests(),
            buf,
        )) {
            Ok(n) => n,
            Err(t) => return t,
        };
        if let Some(t) = self.tasks.get_mut(slot) {
            match r2t {
                None => {
                    t.unsolicited_next = after;
                    t.unsolicited_sn = t.unsolicited_sn.wrapping_add(1);
                }
                Some(i) => {
                    if let Some(entry) = t.r2ts.get_mut(i) {
                        match entry {
                            Some(r) if after >= r.end => *entry = None,
                            Some(r) => {
                                r.next = after;
                                r.data_sn = r.data_sn.wrapping_add(1);
                            }
                            None => {}
                        }
                    }
                }
            }
            if !t.has_data_out() {
                self.next_task = cursor;
            }
        }
        Transmit::Written(n)
    }
}
