//! Full feature phase of a target connection (RFC 7143 §4.2, §11): SCSI commands with the CmdSN
//! window, Data-In with phase-collapsed status, R2T/Data-Out, NOP, task management, logout, and
//! Reject for what we cannot accept.

#[cfg(feature = "tcp")]
use super::task::R2tState;
use super::task::{Phase, Task};
use super::tx::TxItem;
use super::{data_offset, header_of, pdu_len_for, seal_pdu, Emitted, Hints, Stage, TargetConn};
use crate::scsi::{CommandRequest, Completion, Finish, Started};
use crate::session::backend::TargetBackend;
use crate::task::{Itt, SerialNumber, TaskError, TaskSlot};
use crate::time::Instant;
use crate::wire::frame::Pdu;
#[cfg(feature = "tcp")]
use crate::wire::{DataInRepr, DataInStatus, R2tRepr};
use crate::wire::{
    DataOutRepr, LogoutReason, LogoutRequestRepr, LogoutResponse, LogoutResponseRepr, Lun,
    NopInRepr, NopOutRepr, Opcode, PduRepr, RejectReason, RejectRepr, Residual, ScsiCommandRepr,
    ScsiResponseCode, ScsiResponseRepr, ScsiStatus, TaskMgmtFunction, TaskMgmtRequestRepr,
    TaskMgmtResponse, TaskMgmtResponseRepr, BHS_LEN,
};

/// The reserved tag (RFC 7143 §11.1: 0xffffffff is never a valid ITT or TTT for a task).
const RESERVED_TAG: u32 = crate::wire::RESERVED_TAG;

/// ABORTED COMMAND, DATA PHASE ERROR (SPC-4 4Bh/00h): the initiator's Data-Out broke sequence.
const DATA_PHASE_ERROR: Completion = Completion::check(crate::scsi::Sense::new(
    crate::scsi::SenseKey::ABORTED_COMMAND,
    crate::scsi::AdditionalSense(0x4b00),
));

/// ABORTED COMMAND, INTERNAL TARGET FAILURE: the datamover could not move the task's data.
pub(super) const TRANSPORT_FAILURE: Completion = Completion::check(crate::scsi::Sense::new(
    crate::scsi::SenseKey::ABORTED_COMMAND,
    crate::scsi::AdditionalSense::INTERNAL_TARGET_FAILURE,
));

/// TASK SET FULL: no task slot left (the CmdSN window should have prevented it, SAM-5 §5.3.1).
const TASK_SET_FULL: Completion = Completion {
    status: crate::scsi::Status::TASK_SET_FULL,
    sense: None,
    residual: crate::scsi::Residual::None,
};

impl<const TASKS: usize> TargetConn<TASKS> {
    pub(super) fn handle_pdu<B: TargetBackend>(
        &mut self,
        pdu: &Pdu<'_>,
        backend: &mut B,
        now: Instant,
    ) {
        if self.stage == Stage::FullFeature
            && pdu.bhs.first().map(|b| Opcode(b & Opcode::MASK)) == Some(Opcode::SCSI_COMMAND)
            && !self.session.is_some_and(|s| s.discovery)
        {
            // The PDU of nearly every exchange, read without the general dispatch.
            if let Ok(cmd) = ScsiCommandRepr::parse(&crate::wire::Bhs::new_unchecked(pdu.bhs)) {
                let _ = self.handle_scsi_command(&cmd, pdu, backend);
                return;
            }
        }
        let repr = match PduRepr::parse(pdu.bhs) {
            Ok(r) => r,
            Err(crate::wire::WireError::UnknownOpcode(_)) => {
                // §11.17.1: an opcode we do not support is "command not supported".
                self.reject(RejectReason::COMMAND_NOT_SUPPORTED, header_of(pdu.bhs), 0);
                return;
            }
            Err(_) => {
                self.reject(RejectReason::INVALID_PDU_FIELD, header_of(pdu.bhs), 0);
                return;
            }
        };
        if self.stage == Stage::Login {
            match repr {
                PduRepr::LoginRequest(req) => self.handle_login(&req, pdu.data, backend, now),
                // §6.3: only Login Requests may flow before the full feature phase; anything else
                // ends the login with "initiator error".
                _ => self.fail_login_status(crate::wire::LoginStatus::INITIATOR_ERROR, backend),
            }
            return;
        }
        let discovery = self.session.map(|s| s.discovery).unwrap_or(false);
        match repr {
            PduRepr::ScsiCommand(cmd) if !discovery => {
                let _ = self.handle_scsi_command(&cmd, pdu, backend);
            }
            PduRepr::DataOut(d) if !discovery => self.handle_data_out(&d, pdu.data, backend),
            PduRepr::NopOut(nop) => self.handle_nop_out(&nop, pdu.data),
            PduRepr::TaskMgmtRequest(tmf) if !discovery => self.handle_tmf(&tmf, backend),
            PduRepr::TextRequest(req) => self.handle_text(&req, pdu.data, backend),
            PduRepr::LogoutRequest(req) => self.handle_logout(&req, backend),
            PduRepr::LoginRequest(_) => {
                // §11.12: a Login Request in the full feature phase is a protocol error.
                self.reject(RejectReason::PROTOCOL_ERROR, header_of(pdu.bhs), 0);
            }
            PduRepr::Snack(_) => {
                // ErrorRecoveryLevel 0 (§7.1.5): SNACK is not supported.
                self.reject(RejectReason::COMMAND_NOT_SUPPORTED, header_of(pdu.bhs), 0);
            }
            // Discovery sessions carry only Text, NOP and Logout (§4.3).
            _ => self.reject(RejectReason::PROTOCOL_ERROR, header_of(pdu.bhs), 0),
        }
    }

    /// Whether a SCSI Command with a data segment of `data_len` bytes, whole and alone, may go
    /// to [`Self::handle_scsi_command_pdu`]: the full feature phase of a normal session, and a
    /// data segment within our MaxRecvDataSegmentLength (beyond it the general path rejects it).
    #[cfg_attr(not(feature = "small-code"), inline)]
    pub fn takes_scsi_command(&self, data_len: usize) -> bool {
        self.stage == Stage::FullFeature
            && self.session.is_some_and(|s| !s.discovery)
            && data_len <= self.max_rx_data()
    }

    /// A whole SCSI Command PDU without AHS, delivered on its own (an iSER control message,
    /// RFC 7145 §7.2), after [`Self::takes_scsi_command`] said yes: what [`Self::handle_bytes`]
    /// does with it, without framing a byte stream or dispatching on the opcode again. Returns
    /// the task that holds the command, if one does (until its SCSI Response is sent).
    #[cfg_attr(not(feature = "small-code"), inline(always))]
    pub fn handle_scsi_command_pdu<B: TargetBackend>(
        &mut self,
        bhs: &[u8; BHS_LEN],
        data: &[u8],
        backend: &mut B,
        now: Instant,
    ) -> Option<super::TaskRef> {
        self.last_rx = now;
        self.stats.pdus_in = self.stats.pdus_in.wrapping_add(1);
        self.rx_needed = BHS_LEN;
        let pdu = Pdu {
            bhs: &bhs[..],
            ahs: &[],
            data,
        };
        match ScsiCommandRepr::parse(&crate::wire::Bhs::new_unchecked(&bhs[..])) {
            Ok(cmd) => self
                .handle_scsi_command(&cmd, &pdu, backend)
                .map(super::TaskRef),
            Err(_) => {
                self.reject(RejectReason::INVALID_PDU_FIELD, *bhs, 0);
                None
            }
        }
    }

    /// RFC 7143 §4.2.2.1: decides whether a (non-immediate) command is in order and advances
    /// ExpCmdSN. Returns false for a command outside the window, which is dropped silently.
    fn accept_cmd_sn(&mut self, immediate: bool, cmd_sn: u32) -> bool {
        if immediate {
            return true;
        }
        if cmd_sn == self.exp_cmd_sn {
            self.exp_cmd_sn = self.exp_cmd_sn.wrapping_add(1);
            return true;
        }
        false
    }

    #[cfg_attr(not(feature = "small-code"), inline(always))]
    fn handle_scsi_command<B: TargetBackend>(
        &mut self,
        cmd: &ScsiCommandRepr,
        pdu: &Pdu<'_>,
        backend: &mut B,
    ) -> Option<TaskSlot> {
        if !self.accept_cmd_sn(cmd.immediate, cmd.cmd_sn) {
            return None;
        }
        self.stats.commands = self.stats.commands.wrapping_add(1);
        let session = self.session?;
        let target = session.target?;
        let ahs;
        let cdb: &[u8] = if pdu.ahs.is_empty() {
            &cmd.cdb
        } else {
            match crate::wire::CommandAhs::parse(&cmd.cdb, pdu.ahs) {
                Ok(a) => {
                    ahs = a;
                    ahs.cdb.as_bytes()
                }
                Err(_) => {
                    self.reject(RejectReason::INVALID_PDU_FIELD, header_of(pdu.bhs), 0);
                    return None;
                }
            }
        };
        let immediate_data = pdu.data;
        if !immediate_data.is_empty() && (!self.params.immediate_data || !cmd.write) {
            // §11.3: immediate data with ImmediateData=No, or on a command without W, is a
            // protocol error (a task tag in use is found first, as below).
            let reason = if cmd.itt == RESERVED_TAG || self.tasks.contains_itt(Itt(cmd.itt)) {
                RejectReason::INVALID_PDU_FIELD
            } else {
                RejectReason::PROTOCOL_ERROR
            };
            self.reject(reason, header_of(pdu.bhs), 0);
            return None;
        }
        let edtl = cmd.expected_data_transfer_length;
        let req = CommandRequest {
            cdb,
            expected_read_len: if cmd.read { edtl } else { 0 },
            expected_write_len: if cmd.write { edtl } else { 0 },
            nexus: crate::scsi::NexusId(session.nexus),
        };
        // The task's entry is taken first and the SCSI layer starts the command straight into
        // it: the SCSI task is never copied.
        let (slot, task) = match self
            .tasks
            .insert_mut(Itt(cmd.itt), Task::starting(cmd.itt, cmd.lun))
        {
            Ok(entry) => entry,
            Err((TaskError::Full, _)) => {
                // Not reachable: the CmdSN window follows free task slots.
                let mut scsi = None;
                let started = backend.scsi_start_in(target, cmd.lun, &req, &mut scsi);
                if let Started::Done(completion) = started {
                    return self.queue_response(cmd.itt, completion, 0);
                }
                if let Some(scsi) = &scsi {
                    backend.scsi_abort(target, cmd.lun, scsi);
                }
                return self.queue_response(cmd.itt, TASK_SET_FULL, 0);
            }
            Err(_) => {
                // §11.17.1: a task tag in use is "invalid PDU field".
                self.reject(RejectReason::INVALID_PDU_FIELD, header_of(pdu.bhs), 0);
                return None;
            }
        };
        match backend.scsi_start_in(target, cmd.lun, &req, &mut task.scsi) {
            Started::DataIn { len } => {
                task.len = len;
                if len != 0 {
                    self.hints.data_in(self.mode);
                    return Some(slot);
                }
                let finish = match &task.scsi {
                    Some(scsi) => backend.scsi_finish(target, cmd.lun, scsi),
                    // A backend that began a data phase without its task (as `Started::with_task`).
                    None => Finish::Done(Completion::check(crate::scsi::Sense::new(
                        crate::scsi::SenseKey::HARDWARE_ERROR,
                        crate::scsi::AdditionalSense::INTERNAL_TARGET_FAILURE,
                    ))),
                };
                match finish {
                    Finish::Deferred(ticket) => {
                        self.finish_task(slot, Finish::Deferred(ticket), 0);
                        Some(slot)
                    }
                    Finish::Done(completion) => {
                        self.tasks.discard(slot);
                        self.queue_response(cmd.itt, completion, 0)
                    }
                }
            }
            Started::DataOut { len } => {
                // §13.10 / §13.14: the initiator sends the first burst of the Expected Data
                // Transfer Length unsolicited, even when the command moves less (`len`); the
                // surplus is accepted and discarded, not rejected.
                let unsolicited = if self.params.initial_r2t {
                    immediate_data.len() as u32
                } else {
                    self.params.first_burst_length.min(edtl)
                };
                task.phase = Phase::Write;
                task.len = len;
                task.unsolicited = unsolicited;
                task.solicited_to = unsolicited;
                if !immediate_data.is_empty() {
                    self.accept_write_data(slot, 0, immediate_data, backend);
                }
                self.progress_write(slot, backend);
                Some(slot)
            }
            Started::Done(completion) => {
                self.tasks.discard(slot);
                self.queue_response(cmd.itt, completion, 0)
            }
        }
    }

    /// Takes in-order write data for a task; data beyond what the command moves is discarded.
    #[cfg_attr(not(feature = "small-code"), inline(always))]
    pub(super) fn accept_write_data<B: TargetBackend>(
        &mut self,
        slot: TaskSlot,
        offset: u32,
        data: &[u8],
        backend: &mut B,
    ) {
        let Some(session) = self.session else { return };
        let Some(target) = session.target else { return };
        let Some(task) = self.tasks.get_mut(slot) else {
            return;
        };
        if offset != task.done {
            // DataPDUInOrder and DataSequenceInOrder are Yes: data arrives in offset order.
            return;
        }
        let room = task.len.saturating_sub(task.done) as usize;
        let take = data.get(..room.min(data.len())).unwrap_or_default();
        let lun = task.lun;
        // The SCSI task is written in place (it is large; no copy out and back).
        let Some(scsi) = task.scsi.as_mut() else {
            return;
        };
        let result = if take.is_empty() {
            Ok(())
        } else {
            backend.scsi_write(target, lun, scsi, offset, take)
        };
        match result {
            Ok(()) => {
                task.done = task.done.saturating_add(take.len() as u32);
                task.retire_r2ts();
            }
            Err(completion) => {
                // The status goes now; later Data-Out for this task finds no task and is dropped.
                self.set_response(slot, completion, 0);
            }
        }
    }

    /// After write data arrived: finish the task, or issue R2Ts up to MaxOutstandingR2T.
    #[cfg_attr(not(feature = "small-code"), inline(always))]
    pub(super) fn progress_write<B: TargetBackend>(&mut self, slot: TaskSlot, backend: &mut B) {
        self.hints.data_out(self.mode);
        let Some(task) = self.tasks.get(slot) else {
            return;
        };
        if task.response.is_some() {
            return;
        }
        if task.done >= task.len {
            let (lun, scsi) = (task.lun, task.scsi);
            if let (Some(target), Some(scsi)) = (self.session.and_then(|s| s.target), scsi) {
                let finish = backend.scsi_finish(target, lun, &scsi);
                self.finish_task(slot, finish, 0);
            }
            return;
        }
        if self.mode == super::DataMode::Rdma {
            // The iSER datamover fetches the rest by RDMA Read (`next_get`).
            return;
        }
        let max_r2t = self
            .params
            .max_outstanding_r2t
            .clamp(1, super::MAX_R2T_PER_TASK as u16) as usize;
        if let Some(task) = self.tasks.get_mut(slot) {
            // Unsolicited data still to come is not solicited again.
            while task.solicited_to < task.len
                && task
                    .outstanding_r2ts()
                    .saturating_add(usize::from(task.r2ts_unsent))
                    < max_r2t
            {
                task.r2ts_unsent = task.r2ts_unsent.saturating_add(1);
                let burst = self.params.max_burst_length.max(512);
                task.solicited_to = task.solicited_to.saturating_add(burst).min(task.len);
            }
        }
    }

    fn handle_data_out<B: TargetBackend>(&mut self, d: &DataOutRepr, data: &[u8], backend: &mut B) {
        let Some(slot) = self.tasks.slot_of(Itt(d.itt)) else {
            // §7.? ERL 0: data for a task we no longer know (e.g. ended early with an error) is dropped.
            return;
        };
        let Some(task) = self.tasks.get_mut(slot) else {
            return;
        };
        if task.phase != Phase::Write || task.response.is_some() {
            return;
        }
        let end = d.buffer_offset.saturating_add(data.len() as u32);
        let in_order = d.buffer_offset == task.done;
        // (in range, DataSN as expected) for the sequence the PDU belongs to.
        let (in_range, data_sn_ok) = if d.ttt == RESERVED_TAG {
            let ok = d.data_sn == task.unsolicited_sn;
            task.unsolicited_sn = task.unsolicited_sn.wrapping_add(1);
            (end <= task.unsolicited, ok)
        } else {
            match task.r2t_by_ttt_mut(d.ttt) {
                Some(r) => {
                    let ok = d.data_sn == r.next_data_sn;
                    r.next_data_sn = r.next_data_sn.wrapping_add(1);
                    (
                        d.buffer_offset >= r.offset && end <= r.offset.saturating_add(r.len),
                        ok,
                    )
                }
                None => (false, true),
            }
        };
        if !data_sn_ok || (in_range && !in_order) {
            // DataSN out of sequence, or data out of order under DataPDUInOrder=Yes. Recovering
            // within the command needs ErrorRecoveryLevel ≥ 1 (RFC 7143 §7.1.5, §7.2.2); at level
            // 0 the command fails and the connection carries on. Later Data-Out of the task is
            // dropped.
            debug!("Data-Out out of sequence: failing the task");
            self.fail_task(slot, DATA_PHASE_ERROR, 0, backend);
            return;
        }
        if !in_range {
            // §11.7.? a Data-Out outside what was solicited is a protocol error.
            let mut header = [0u8; BHS_LEN];
            let mut bhs = crate::wire::Bhs::new_unchecked(&mut header[..]);
            let _ = PduRepr::DataOut(*d).emit_bhs(&mut bhs);
            self.reject(RejectReason::PROTOCOL_ERROR, header, 0);
            return;
        }
        self.accept_write_data(slot, d.buffer_offset, data, backend);
        self.progress_write(slot, backend);
    }

    fn handle_nop_out(&mut self, nop: &NopOutRepr, data: &[u8]) {
        if nop.itt == RESERVED_TAG {
            // The answer to our ping (§11.18): no response.
            if let Some((ttt, _)) = self.ping {
                if ttt == nop.ttt {
                    self.ping = None;
                }
            }
            return;
        }
        if !self.accept_cmd_sn(nop.immediate, nop.cmd_sn) {
            return;
        }
        let len = data.len().min(self.ping_data.len());
        if let (Some(dst), Some(src)) = (self.ping_data.get_mut(..len), data.get(..len)) {
            dst.copy_from_slice(src);
        }
        self.enqueue(TxItem::NopInEcho {
            itt: nop.itt,
            lun: nop.lun,
            data_len: len as u16,
        });
    }

    // Rare next to SCSI commands: kept out of `handle_pdu` (firmware size, docs/firmware.md).
    #[cold]
    #[inline(never)]
    fn handle_tmf<B: TargetBackend>(&mut self, tmf: &TaskMgmtRequestRepr, backend: &mut B) {
        if !self.accept_cmd_sn(tmf.immediate, tmf.cmd_sn) {
            return;
        }
        let Some(session) = self.session else { return };
        let Some(target) = session.target else { return };
        let f = tmf.function;
        let response = if f == TaskMgmtFunction::ABORT_TASK {
            // §11.5.1: abort the task with the referenced tag on this connection.
            match self.tasks.slot_of(Itt(tmf.referenced_task_tag)) {
                Some(slot) => {
                    self.drop_task(slot, backend);
                    TaskMgmtResponse::FUNCTION_COMPLETE
                }
                // §11.5.1 b/c: a task we do not hold is "function complete" only when its
                // command may still be on its way (RefCmdSN inside the window and before the TMF's
                // own CmdSN); a task already answered is "task does not exist".
                None => {
                    let reference = SerialNumber(tmf.ref_cmd_sn);
                    let pending = reference.ge(SerialNumber(self.exp_cmd_sn))
                        && reference.lt(SerialNumber(tmf.cmd_sn));
                    if pending {
                        TaskMgmtResponse::FUNCTION_COMPLETE
                    } else {
                        TaskMgmtResponse::TASK_DOES_NOT_EXIST
                    }
                }
            }
        } else if f == TaskMgmtFunction::ABORT_TASK_SET
            || f == TaskMgmtFunction::CLEAR_TASK_SET
            || f == TaskMgmtFunction::LOGICAL_UNIT_RESET
        {
            if !backend.task_management(target, tmf.lun, f.0, session.nexus) {
                TaskMgmtResponse::LUN_DOES_NOT_EXIST
            } else {
                self.abort_tasks(|t| t.lun == tmf.lun, backend);
                TaskMgmtResponse::FUNCTION_COMPLETE
            }
        } else if f == TaskMgmtFunction::TARGET_WARM_RESET
            || f == TaskMgmtFunction::TARGET_COLD_RESET
        {
            let _ = backend.task_management(target, tmf.lun, f.0, session.nexus);
            self.abort_tasks(|_| true, backend);
            if f == TaskMgmtFunction::TARGET_COLD_RESET {
                // §11.5.1: after a cold reset the target drops its connections; the response
                // goes out first.
                self.close_after_tmf = Some(tmf.itt);
            }
            TaskMgmtResponse::FUNCTION_COMPLETE
        } else {
            TaskMgmtResponse::FUNCTION_NOT_SUPPORTED
        };
        self.enqueue(TxItem::TmfResponse {
            itt: tmf.itt,
            response: response.0,
        });
    }

    /// Drops every task `matches` selects, releasing what they hold in the SCSI layer.
    pub(super) fn abort_tasks<B: TargetBackend>(
        &mut self,
        mut matches: impl FnMut(&Task) -> bool,
        backend: &mut B,
    ) {
        let target = self.session.and_then(|s| s.target);
        self.tasks.retain(
            |_, t| !matches(t),
            |_, t| {
                if let (Some(target), Some(scsi)) = (target, t.scsi) {
                    backend.scsi_abort(target, t.lun, &scsi);
                }
            },
        );
    }

    /// Drops one task, releasing what it holds in the SCSI layer.
    fn drop_task<B: TargetBackend>(&mut self, slot: TaskSlot, backend: &mut B) {
        if let (Some(target), Some((_, t))) =
            (self.session.and_then(|s| s.target), self.tasks.remove(slot))
        {
            if let Some(scsi) = t.scsi {
                backend.scsi_abort(target, t.lun, &scsi);
            }
        }
    }

    // Rare next to SCSI commands: kept out of `handle_pdu` (firmware size, docs/firmware.md).
    #[cold]
    #[inline(never)]
    fn handle_logout<B: TargetBackend>(&mut self, req: &LogoutRequestRepr, backend: &mut B) {
        if !self.accept_cmd_sn(req.immediate, req.cmd_sn) {
            return;
        }
        // §11.14: closing the session or this connection ends our connection either way; with one
        // connection per session there is no other connection to close. Recovery removal needs
        // ERL 2.
        let response = if req.reason == LogoutReason::CLOSE_SESSION
            || req.reason == LogoutReason::CLOSE_CONNECTION
        {
            LogoutResponse::SUCCESS
        } else {
            LogoutResponse::RECOVERY_NOT_SUPPORTED
        };
        self.abort_tasks(|_| true, backend);
        self.enqueue(TxItem::LogoutResponse {
            itt: req.itt,
            response: response.0,
        });
        if response == LogoutResponse::SUCCESS {
            self.stage = Stage::LoggingOut;
        }
    }

    /// Queues the SCSI Response of a command that holds no task slot (it ended at once). It takes
    /// a slot so that responses are bounded by the task table; when none is free (an immediate
    /// command beyond the window) the control queue carries it.
    pub(super) fn queue_response(
        &mut self,
        itt: u32,
        completion: Completion,
        exp_data_sn: u32,
    ) -> Option<TaskSlot> {
        let task = Task::responding(itt, Lun(0), None, completion, exp_data_sn);
        self.hints.insert(Hints::TX);
        match self.tasks.insert(Itt(itt), task) {
            Ok(slot) => {
                if self.mode == super::DataMode::Rdma && self.status_due.is_none() {
                    self.status_due = Some(slot);
                }
                Some(slot)
            }
            Err(_) => {
                self.enqueue(TxItem::ScsiResponse {
                    itt,
                    completion,
                    exp_data_sn,
                });
                None
            }
        }
    }

    /// Sets the status of a task in the table; its data phase ends. A task that had started in
    /// the SCSI layer and did not reach `scsi_finish` is aborted there.
    pub(super) fn fail_task<B: TargetBackend>(
        &mut self,
        slot: TaskSlot,
        completion: Completion,
        exp_data_sn: u32,
        backend: &mut B,
    ) {
        if let (Some(target), Some(t)) = (self.session.and_then(|s| s.target), self.tasks.get(slot))
        {
            if let Some(scsi) = t.scsi {
                backend.scsi_abort(target, t.lun, &scsi);
            }
        }
        self.set_response(slot, completion, exp_data_sn);
    }

    /// Ends a task whose data phase is over with what `scsi_finish` said: its status now, or
    /// later, when [`TargetConn::handle_timeout`] finds the backend has it.
    #[cfg_attr(not(feature = "small-code"), inline)]
    pub(super) fn finish_task(&mut self, slot: TaskSlot, finish: Finish, exp_data_sn: u32) {
        match finish {
            Finish::Done(completion) => self.set_response(slot, completion, exp_data_sn),
            Finish::Deferred(ticket) => {
                if let Some(t) = self.tasks.get_mut(slot) {
                    t.deferred = Some((ticket, exp_data_sn));
                    t.r2ts_unsent = 0;
                    t.len = t.done;
                }
                self.deferred_due
                    .get_or_insert(self.last_rx.plus(super::DEFERRED_POLL));
            }
        }
    }

    /// Asks the backend for the status of every deferred task.
    pub(super) fn poll_deferred<B: TargetBackend>(&mut self, backend: &mut B, now: Instant) {
        let Some(target) = self.session.and_then(|s| s.target) else {
            return;
        };
        let (mut waiting, mut answered) = (false, false);
        for (_, _, t) in self.tasks.iter_mut() {
            let (Some(scsi), Some((ticket, exp_data_sn))) = (t.scsi, t.deferred) else {
                continue;
            };
            match backend.scsi_poll(target, t.lun, &scsi, ticket) {
                Some(completion) => {
                    t.deferred = None;
                    t.response = Some((completion, exp_data_sn));
                    answered = true;
                }
                None => waiting = true,
            }
        }
        if answered {
            self.hints.touch();
        }
        self.deferred_due = waiting.then(|| now.plus(super::DEFERRED_POLL));
    }

    /// Sets the status of a task in the table; its data phase ends.
    pub(super) fn set_response(
        &mut self,
        slot: TaskSlot,
        completion: Completion,
        exp_data_sn: u32,
    ) {
        self.hints.insert(Hints::TX);
        if self.mode == super::DataMode::Rdma && self.status_due.is_none() {
            self.status_due = Some(slot);
        }
        if let Some(t) = self.tasks.get_mut(slot) {
            t.response = Some((completion, exp_data_sn));
            t.r2ts_unsent = 0;
            t.len = t.done;
        }
    }

    /// Writes the next PDU of the task in `slot`.
    pub(super) fn emit_task<B: TargetBackend>(
        &mut self,
        slot: TaskSlot,
        backend: &mut B,
        buf: &mut [u8],
    ) -> Emitted {
        let Some((itt, phase, response)) =
            self.tasks.get(slot).map(|t| (t.itt, t.phase, t.response))
        else {
            return Emitted::Skip;
        };
        if let Some((completion, exp_data_sn)) = response {
            let r = self.emit_scsi_response(itt, &completion, exp_data_sn, buf);
            if matches!(r, Emitted::Done(_)) {
                self.status_sent = Some(super::TaskRef(slot));
                self.tasks.discard(slot);
                if self.tasks.is_empty() {
                    self.hints.remove(Hints::TX);
                }
            }
            return r;
        }
        // Under iSER a task without status has nothing to send as a PDU (`wants_transmit`).
        #[cfg(not(feature = "tcp"))]
        let _ = (phase, backend);
        #[cfg(not(feature = "tcp"))]
        return Emitted::Skip;
        #[cfg(feature = "tcp")]
        match phase {
            Phase::Read => self.emit_data_in(slot, backend, buf),
            Phase::Write => self.emit_r2t(slot, buf),
        }
    }

    // ---- transmit side ----

    #[cfg(feature = "tcp")]
    pub(super) fn emit_data_in<B: TargetBackend>(
        &mut self,
        slot: TaskSlot,
        backend: &mut B,
        buf: &mut [u8],
    ) -> Emitted {
        let Some(target) = self.session.and_then(|s| s.target) else {
            return Emitted::Skip;
        };
        let Some(task) = self.tasks.get(slot).copied() else {
            return Emitted::Skip;
        };
        let Some(scsi) = task.scsi else {
            return Emitted::Skip;
        };
        let digests = self.tx_digests();
        let max_seg = self
            .params
            .max_send_data_segment_length(crate::negotiate::Role::Target)
            .max(512) as usize;
        let room = buf
            .len()
            .saturating_sub(pdu_len_for(0, digests))
            .saturating_sub(3 + 4);
        let remaining = task.len.saturating_sub(task.done) as usize;
        // Data-In sequences end at MaxBurstLength boundaries (§11.7.1, F bit).
        let burst = self.params.max_burst_length.max(512) as usize;
        let to_burst_end =
            burst.saturating_sub((task.done as usize).checked_rem(burst).unwrap_or(0));
        let seg = remaining.min(max_seg).min(to_burst_end);
        if seg > room && room < 512 {
            return Emitted::NeedSpace(pdu_len_for(seg.min(max_seg), digests));
        }
        let seg = seg.min(room);
        let start = data_offset(digests);
        let Some(dst) = buf.get_mut(start..start.saturating_add(seg)) else {
            return Emitted::NeedSpace(pdu_len_for(seg, digests));
        };
        if seg > 0 {
            match backend.scsi_read(target, task.lun, &scsi, task.done, dst) {
                Ok(_) => {}
                Err(completion) => {
                    self.fail_task(slot, completion, task.sn, backend);
                    return Emitted::Skip;
                }
            }
        }
        let done = task.done.saturating_add(seg as u32);
        let last = done >= task.len;
        let end_of_burst = last || (done as usize).checked_rem(burst) == Some(0);
        let mut status = None;
        // How the task ends after its last Data-In when the status does not ride on it.
        let mut after_last: Option<Finish> = None;
        if last {
            match backend.scsi_finish(target, task.lun, &scsi) {
                // §11.7.4: status may ride on the last Data-In only when there is no sense data.
                Finish::Done(c) if c.sense.is_none() && c.status == crate::scsi::Status::GOOD => {
                    status = Some(DataInStatus {
                        status: ScsiStatus(c.status.0),
                        stat_sn: self.take_stat_sn(),
                        residual: wire_residual(&c),
                    });
                }
                finish => after_last = Some(finish),
            }
        }
        let repr = DataInRepr {
            final_: end_of_burst,
            ack: false,
            lun: task.lun,
            itt: task.itt,
            ttt: RESERVED_TAG,
            exp_cmd_sn: self.exp_cmd_sn,
            max_cmd_sn: self.max_cmd_sn(),
            data_sn: task.sn,
            buffer_offset: task.done,
            status,
        };
        let mut bhs = crate::wire::Bhs::new_unchecked(buf.get_mut(..BHS_LEN).unwrap_or_default());
        if PduRepr::DataIn(repr).emit_bhs(&mut bhs).is_err() {
            return Emitted::NeedSpace(pdu_len_for(seg, digests));
        }
        let n = seal_pdu(buf, seg, digests);
        if let Some(t) = self.tasks.get_mut(slot) {
            t.done = done;
            t.sn = t.sn.wrapping_add(1);
        }
        if last {
            match after_last {
                Some(finish) => self.finish_task(slot, finish, task.sn.wrapping_add(1)),
                None => {
                    self.tasks.discard(slot);
                }
            }
        }
        Emitted::Done(n)
    }

    #[cfg(feature = "tcp")]
    pub(super) fn emit_r2t(&mut self, slot: TaskSlot, buf: &mut [u8]) -> Emitted {
        let ttt = self.alloc_ttt();
        let exp_cmd_sn = self.exp_cmd_sn;
        let max_cmd_sn = self.max_cmd_sn();
        let stat_sn = self.stat_sn;
        let burst = self.params.max_burst_length.max(512);
        let Some(task) = self.tasks.get_mut(slot) else {
            return Emitted::Skip;
        };
        if task.r2ts_unsent == 0 {
            return Emitted::Skip;
        }
        // The next unsolicited-by-R2T range starts where the last R2T (or the unsolicited burst) ended.
        let offset = task
            .r2ts
            .iter()
            .flatten()
            .map(|r| r.offset.saturating_add(r.len))
            .max()
            .unwrap_or(task.unsolicited)
            .max(task.unsolicited)
            .max(task.done);
        let len = task.len.saturating_sub(offset).min(burst);
        if len == 0 {
            task.r2ts_unsent = task.r2ts_unsent.saturating_sub(1);
            return Emitted::Skip;
        }
        if buf.len() < BHS_LEN + 4 {
            return Emitted::NeedSpace(BHS_LEN + 4);
        }
        let r2t_sn = task.sn;
        let repr = R2tRepr {
            lun: task.lun,
            itt: task.itt,
            ttt,
            stat_sn,
            exp_cmd_sn,
            max_cmd_sn,
            r2t_sn,
            buffer_offset: offset,
            desired_data_transfer_length: len,
        };
        if !task.add_r2t(R2tState {
            ttt,
            offset,
            len,
            next_data_sn: 0,
        }) {
            return Emitted::Skip;
        }
        task.sn = task.sn.wrapping_add(1);
        task.r2ts_unsent = task.r2ts_unsent.saturating_sub(1);
        let mut bhs = crate::wire::Bhs::new_unchecked(buf.get_mut(..BHS_LEN).unwrap_or_default());
        if PduRepr::R2t(repr).emit_bhs(&mut bhs).is_err() {
            return Emitted::Skip;
        }
        Emitted::Done(seal_pdu(buf, 0, self.tx_digests()))
    }

    #[cfg_attr(not(feature = "small-code"), inline)]
    pub(super) fn emit_scsi_response(
        &mut self,
        itt: u32,
        completion: &Completion,
        exp_data_sn: u32,
        buf: &mut [u8],
    ) -> Emitted {
        let digests = self.tx_digests();
        if completion.sense.is_none() && !digests.header {
            // The status of nearly every command: the header alone (DataSegmentLength 0).
            let Some(header) = buf.first_chunk_mut::<BHS_LEN>() else {
                return Emitted::NeedSpace(BHS_LEN);
            };
            self.write_scsi_response_header(itt, completion, exp_data_sn, header);
            return Emitted::Done(BHS_LEN);
        }
        let mut sense_buf = [0u8; 2 + crate::scsi::Sense::LEN];
        let sense_len = match &completion.sense {
            Some(sense) => sense.emit_iscsi_segment(&mut sense_buf).unwrap_or(0),
            None => 0,
        };
        let need = pdu_len_for(sense_len, digests);
        if buf.len() < need {
            return Emitted::NeedSpace(need);
        }
        let Some(header) = buf.first_chunk_mut::<BHS_LEN>() else {
            return Emitted::NeedSpace(need);
        };
        self.write_scsi_response_header(itt, completion, exp_data_sn, header);
        if sense_len > 0 {
            let start = data_offset(digests);
            if let (Some(dst), Some(src)) = (
                buf.get_mut(start..start.saturating_add(sense_len)),
                sense_buf.get(..sense_len),
            ) {
                dst.copy_from_slice(src);
            }
        }
        Emitted::Done(seal_pdu(buf, sense_len, digests))
    }

    /// Writes the SCSI Response BHS for a completion (RFC 7143 §11.4) into `header`, in place
    /// (no copy of it through the stack); takes the next StatSN.
    #[cfg_attr(not(feature = "small-code"), inline)]
    fn write_scsi_response_header(
        &mut self,
        itt: u32,
        completion: &Completion,
        exp_data_sn: u32,
        header: &mut [u8; BHS_LEN],
    ) {
        *header = ScsiResponseRepr {
            response: ScsiResponseCode::COMMAND_COMPLETED,
            status: ScsiStatus(completion.status.0),
            itt,
            snack_tag: 0,
            stat_sn: self.take_stat_sn(),
            exp_cmd_sn: self.exp_cmd_sn,
            max_cmd_sn: self.max_cmd_sn(),
            exp_data_sn,
            bidi_read_residual: Residual::None,
            residual: wire_residual(completion),
        }
        .to_bytes();
    }

    pub(super) fn emit_nop_in_echo(
        &mut self,
        itt: u32,
        lun: Lun,
        data_len: u16,
        buf: &mut [u8],
    ) -> Emitted {
        let digests = self.tx_digests();
        let len = usize::from(data_len);
        let need = pdu_len_for(len, digests);
        if buf.len() < need {
            return Emitted::NeedSpace(need);
        }
        let repr = NopInRepr {
            lun,
            itt,
            ttt: RESERVED_TAG,
            stat_sn: self.take_stat_sn(),
            exp_cmd_sn: self.exp_cmd_sn,
            max_cmd_sn: self.max_cmd_sn(),
        };
        let mut bhs = crate::wire::Bhs::new_unchecked(buf.get_mut(..BHS_LEN).unwrap_or_default());
        if PduRepr::NopIn(repr).emit_bhs(&mut bhs).is_err() {
            return Emitted::Skip;
        }
        let start = data_offset(digests);
        if let (Some(dst), Some(src)) = (
            buf.get_mut(start..start.saturating_add(len)),
            self.ping_data.get(..len),
        ) {
            dst.copy_from_slice(src);
        }
        Emitted::Done(seal_pdu(buf, len, digests))
    }

    pub(super) fn emit_nop_in_ping(&mut self, ttt: u32, buf: &mut [u8]) -> Emitted {
        let need = pdu_len_for(0, self.tx_digests());
        if buf.len() < need {
            return Emitted::NeedSpace(need);
        }
        // §11.19: a ping carries the next StatSN without advancing it (ITT is reserved).
        let repr = NopInRepr {
            lun: Lun(0),
            itt: RESERVED_TAG,
            ttt,
            stat_sn: self.stat_sn,
            exp_cmd_sn: self.exp_cmd_sn,
            max_cmd_sn: self.max_cmd_sn(),
        };
        let mut bhs = crate::wire::Bhs::new_unchecked(buf.get_mut(..BHS_LEN).unwrap_or_default());
        if PduRepr::NopIn(repr).emit_bhs(&mut bhs).is_err() {
            return Emitted::Skip;
        }
        Emitted::Done(seal_pdu(buf, 0, self.tx_digests()))
    }

    pub(super) fn emit_tmf_response(&mut self, itt: u32, response: u8, buf: &mut [u8]) -> Emitted {
        let need = pdu_len_for(0, self.tx_digests());
        if buf.len() < need {
            return Emitted::NeedSpace(need);
        }
        let repr = TaskMgmtResponseRepr {
            response: TaskMgmtResponse(response),
            itt,
            stat_sn: self.take_stat_sn(),
            exp_cmd_sn: self.exp_cmd_sn,
            max_cmd_sn: self.max_cmd_sn(),
        };
        let mut bhs = crate::wire::Bhs::new_unchecked(buf.get_mut(..BHS_LEN).unwrap_or_default());
        if PduRepr::TaskMgmtResponse(repr).emit_bhs(&mut bhs).is_err() {
            return Emitted::Skip;
        }
        Emitted::Done(seal_pdu(buf, 0, self.tx_digests()))
    }

    pub(super) fn emit_logout_response(
        &mut self,
        itt: u32,
        response: u8,
        buf: &mut [u8],
    ) -> Emitted {
        let need = pdu_len_for(0, self.tx_digests());
        if buf.len() < need {
            return Emitted::NeedSpace(need);
        }
        let repr = LogoutResponseRepr {
            response: LogoutResponse(response),
            itt,
            stat_sn: self.take_stat_sn(),
            exp_cmd_sn: self.exp_cmd_sn,
            max_cmd_sn: self.max_cmd_sn(),
            time2wait: self.params.default_time2wait,
            time2retain: self.params.default_time2retain,
        };
        let mut bhs = crate::wire::Bhs::new_unchecked(buf.get_mut(..BHS_LEN).unwrap_or_default());
        if PduRepr::LogoutResponse(repr).emit_bhs(&mut bhs).is_err() {
            return Emitted::Skip;
        }
        Emitted::Done(seal_pdu(buf, 0, self.tx_digests()))
    }

    pub(super) fn emit_reject(
        &mut self,
        reason: RejectReason,
        header: &[u8; BHS_LEN],
        data_sn: u32,
        buf: &mut [u8],
    ) -> Emitted {
        let digests = self.tx_digests();
        let need = pdu_len_for(BHS_LEN, digests);
        if buf.len() < need {
            return Emitted::NeedSpace(need);
        }
        let repr = RejectRepr {
            reason,
            stat_sn: self.take_stat_sn(),
            exp_cmd_sn: self.exp_cmd_sn,
            max_cmd_sn: self.max_cmd_sn(),
            data_sn,
        };
        let mut bhs = crate::wire::Bhs::new_unchecked(buf.get_mut(..BHS_LEN).unwrap_or_default());
        if PduRepr::Reject(repr).emit_bhs(&mut bhs).is_err() {
            return Emitted::Skip;
        }
        let start = data_offset(digests);
        if let Some(dst) = buf.get_mut(start..start.saturating_add(BHS_LEN)) {
            dst.copy_from_slice(header);
        }
        Emitted::Done(seal_pdu(buf, BHS_LEN, digests))
    }
}

/// The iSCSI residual fields for a SCSI completion (RFC 7143 §11.4.5).
fn wire_residual(completion: &Completion) -> Residual {
    match completion.residual {
        crate::scsi::Residual::None => Residual::None,
        crate::scsi::Residual::Under(n) => Residual::Underflow(n),
        crate::scsi::Residual::Over(n) => Residual::Overflow(n),
    }
}
