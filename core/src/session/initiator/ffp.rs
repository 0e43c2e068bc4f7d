//! What an initiator connection receives in the full feature phase (RFC 7143 §4.2, §11): Data-In
//! placed by Buffer Offset (§11.7), status from a SCSI Response (§11.4) or on the last Data-In
//! (§11.7.4), R2Ts to answer (§11.8), NOP-In pings (§11.19), task management and logout
//! responses (§11.6, §11.15), Reject (§11.17) and Asynchronous Messages (§11.9); with the
//! StatSN and CmdSN window bookkeeping every target PDU carries (§4.2.2).

use super::event::{InitiatorEvent, InitiatorSink, LoginError, TaskError, TaskHandle, TaskStatus};
#[cfg(feature = "tcp")]
use super::task::R2t;
use super::{CloseCause, InitiatorConn, Logout, NopReply, Ping, Stage, TmfHandle};
use crate::task::{in_window, window_len, Itt, SerialNumber, TaskSlot};
use crate::time::Instant;
use crate::wire::frame::Pdu;
#[cfg(feature = "tcp")]
use crate::wire::{DataInRepr, R2tRepr, ScsiResponseCode};
use crate::wire::{
    LogoutResponse, LogoutResponseRepr, NopInRepr, Opcode, PduRepr, RejectRepr, ScsiResponseRepr,
    TaskMgmtFunction, TaskMgmtResponse, TaskMgmtResponseRepr, RESERVED_TAG,
};

impl<const TASKS: usize> InitiatorConn<'_, TASKS> {
    pub(super) fn handle_pdu<S: InitiatorSink>(
        &mut self,
        pdu: &Pdu<'_>,
        now: Instant,
        sink: &mut S,
    ) {
        let _ = now;
        let repr = match PduRepr::parse(pdu.bhs) {
            Ok(r) => r,
            Err(_) => {
                warn!("unparseable PDU from the target");
                match self.stage {
                    Stage::Login => self.fail_login(LoginError::ProtocolError, sink),
                    _ => self.close(CloseCause::ProtocolError, sink),
                }
                return;
            }
        };
        if self.stage == Stage::Login {
            match repr {
                PduRepr::LoginResponse(r) => self.handle_login_response(&r, pdu.data, sink),
                _ => self.fail_login(LoginError::ProtocolError, sink),
            }
            return;
        }
        match repr {
            // RFC 7145 §7.3: under iSER the target moves SCSI data by RDMA and sends neither
            // Data-In nor R2T; without `tcp` they end the connection as any unexpected PDU.
            #[cfg(feature = "tcp")]
            PduRepr::DataIn(d) => {
                self.update_window(d.exp_cmd_sn, d.max_cmd_sn);
                self.handle_data_in(&d, pdu.data, sink);
            }
            PduRepr::ScsiResponse(r) => {
                self.update_window(r.exp_cmd_sn, r.max_cmd_sn);
                self.saw_stat_sn(r.stat_sn);
                self.handle_scsi_response(&r, pdu.data, sink);
            }
            #[cfg(feature = "tcp")]
            PduRepr::R2t(r) => {
                self.update_window(r.exp_cmd_sn, r.max_cmd_sn);
                self.handle_r2t(&r, sink);
            }
            PduRepr::NopIn(n) => {
                self.update_window(n.exp_cmd_sn, n.max_cmd_sn);
                self.handle_nop_in(&n);
            }
            PduRepr::TaskMgmtResponse(r) => {
                self.update_window(r.exp_cmd_sn, r.max_cmd_sn);
                self.saw_stat_sn(r.stat_sn);
                self.handle_tmf_response(&r, sink);
            }
            PduRepr::TextResponse(r) => {
                self.update_window(r.exp_cmd_sn, r.max_cmd_sn);
                self.saw_stat_sn(r.stat_sn);
                self.handle_text_response(&r, pdu.data, sink);
            }
            PduRepr::LogoutResponse(r) => {
                self.update_window(r.exp_cmd_sn, r.max_cmd_sn);
                self.saw_stat_sn(r.stat_sn);
                self.handle_logout_response(&r, sink);
            }
            PduRepr::Reject(r) => {
                self.update_window(r.exp_cmd_sn, r.max_cmd_sn);
                self.saw_stat_sn(r.stat_sn);
                self.handle_reject(&r, pdu.data, sink);
            }
            PduRepr::AsyncMessage(m) => {
                self.update_window(m.exp_cmd_sn, m.max_cmd_sn);
                self.saw_stat_sn(m.stat_sn);
                sink.event(InitiatorEvent::AsyncMessage {
                    event: m.event,
                    parameter3: m.parameter3,
                });
            }
            // An initiator-side opcode, or a Login Response after login.
            _ => self.close(CloseCause::ProtocolError, sink),
        }
    }

    /// RFC 7143 §4.2.2.1: take ExpCmdSN and MaxCmdSN when they move forward; ignore both when
    /// MaxCmdSN < ExpCmdSN - 1.
    pub(super) fn update_window(&mut self, exp_cmd_sn: u32, max_cmd_sn: u32) {
        if window_len(SerialNumber(exp_cmd_sn), SerialNumber(max_cmd_sn)).is_none() {
            return;
        }
        if SerialNumber(exp_cmd_sn).gt(SerialNumber(self.exp_cmd_sn)) {
            self.exp_cmd_sn = exp_cmd_sn;
        }
        if SerialNumber(max_cmd_sn).gt(SerialNumber(self.max_cmd_sn)) {
            self.max_cmd_sn = max_cmd_sn;
        }
    }

    /// RFC 7143 §4.2.2.2: ExpStatSN acknowledges every status up to the one seen.
    pub(super) fn saw_stat_sn(&mut self, stat_sn: u32) {
        let next = stat_sn.wrapping_add(1);
        if SerialNumber(next).gt(SerialNumber(self.exp_stat_sn)) {
            self.exp_stat_sn = next;
        }
    }

    /// Whether a non-immediate request may take the next CmdSN now (§4.2.2.1).
    pub(super) fn window_open(&self) -> bool {
        in_window(
            SerialNumber(self.cmd_sn),
            SerialNumber(self.exp_cmd_sn),
            SerialNumber(self.max_cmd_sn),
        )
    }

    /// Ends a task: removes it and reports it.
    fn complete<S: InitiatorSink>(
        &mut self,
        slot: TaskSlot,
        result: Result<TaskStatus<'_>, TaskError>,
        sink: &mut S,
    ) {
        let Some((_, task)) = self.tasks.remove(slot) else {
            return;
        };
        let result = if task.broken {
            Err(TaskError::ProtocolError)
        } else {
            result.map(|mut s| {
                s.read_bytes = task.read_bytes;
                s
            })
        };
        sink.event(InitiatorEvent::TaskDone {
            task: TaskHandle(slot),
            result,
        });
    }

    #[cfg(feature = "tcp")]
    fn handle_data_in<S: InitiatorSink>(&mut self, d: &DataInRepr, data: &[u8], sink: &mut S) {
        if let Some(st) = d.status {
            self.saw_stat_sn(st.stat_sn);
        }
        let Some(slot) = self.tasks.slot_of(Itt(d.itt)) else {
            // A task we ended already (aborted): its data are dropped.
            return;
        };
        let Some(task) = self.tasks.get_mut(slot) else {
            return;
        };
        let len = u32::try_from(data.len()).unwrap_or(u32::MAX);
        let end = d.buffer_offset.checked_add(len);
        let fits = task.cmd_sn.is_some() && end.is_some_and(|e| e <= task.read_len);
        if !data.is_empty() {
            if fits {
                if d.data_sn != task.data_sn {
                    // ErrorRecoveryLevel 0 cannot ask for the gap again (§7.1.5); the data are
                    // placed by offset, so a reordering within the buffer is harmless.
                    debug!("Data-In DataSN out of sequence");
                }
                task.data_sn = d.data_sn.wrapping_add(1);
                task.read_bytes = task.read_bytes.saturating_add(len);
                sink.read_data(TaskHandle(slot), d.buffer_offset, data);
            } else {
                warn!("Data-In outside the command's buffer");
                task.broken = true;
            }
        }
        if let Some(st) = d.status {
            let status = TaskStatus {
                response: ScsiResponseCode::COMMAND_COMPLETED,
                status: st.status,
                sense: &[],
                residual: st.residual,
                read_bytes: 0,
            };
            self.complete(slot, Ok(status), sink);
        }
    }

    fn handle_scsi_response<S: InitiatorSink>(
        &mut self,
        r: &ScsiResponseRepr,
        data: &[u8],
        sink: &mut S,
    ) {
        let Some(slot) = self.tasks.slot_of(Itt(r.itt)) else {
            return;
        };
        // §11.4.7: SenseLength, then the sense data (or response data).
        let sense = match data.split_first_chunk::<2>() {
            Some((len, rest)) => {
                let n = usize::from(u16::from_be_bytes(*len)).min(rest.len());
                rest.get(..n).unwrap_or_default()
            }
            None => &[],
        };
        let status = TaskStatus {
            response: r.response,
            status: r.status,
            sense,
            residual: r.residual,
            read_bytes: 0,
        };
        self.complete(slot, Ok(status), sink);
    }

    #[cfg(feature = "tcp")]
    fn handle_r2t<S: InitiatorSink>(&mut self, r: &R2tRepr, sink: &mut S) {
        let Some(slot) = self.tasks.slot_of(Itt(r.itt)) else {
            // The task ended already; the R2T is moot.
            return;
        };
        let Some(task) = self.tasks.get_mut(slot) else {
            return;
        };
        let end = r.buffer_offset.checked_add(r.desired_data_transfer_length);
        let valid = task.cmd_sn.is_some()
            && r.desired_data_transfer_length > 0
            && r.ttt != RESERVED_TAG
            && end.is_some_and(|e| e <= task.write_len);
        if !valid {
            warn!("R2T outside the command's write buffer");
            task.broken = true;
            return;
        }
        let added = task.add_r2t(R2t {
            ttt: r.ttt,
            next: r.buffer_offset,
            end: end.unwrap_or(r.buffer_offset),
            data_sn: 0,
        });
        if !added {
            // More R2Ts than MaxOutstandingR2T allows (§13.17).
            warn!("target exceeded MaxOutstandingR2T");
            self.close(CloseCause::ProtocolError, sink);
        }
    }

    fn handle_nop_in(&mut self, n: &NopInRepr) {
        if n.itt == RESERVED_TAG {
            if n.ttt != RESERVED_TAG {
                // A ping (§11.19): answer with a NOP-Out carrying its TTT. StatSN did not advance.
                let reply = NopReply {
                    ttt: n.ttt,
                    lun: n.lun,
                };
                if let Some(slot) = self.nop_replies.iter_mut().find(|s| s.is_none()) {
                    *slot = Some(reply);
                } else {
                    warn!("too many target pings outstanding: one is not answered");
                }
            }
            return;
        }
        self.saw_stat_sn(n.stat_sn);
        if let Ping::Sent { itt, .. } | Ping::Queued { itt, .. } = self.ping {
            if itt == n.itt {
                self.ping = Ping::None;
            }
        }
    }

    fn handle_tmf_response<S: InitiatorSink>(&mut self, r: &TaskMgmtResponseRepr, sink: &mut S) {
        let Some(slot) = self.tmfs.slot_of(Itt(r.itt)) else {
            return;
        };
        let Some((_, tmf)) = self.tmfs.remove(slot) else {
            return;
        };
        let done = r.response == TaskMgmtResponse::FUNCTION_COMPLETE;
        let f = tmf.function;
        if f == TaskMgmtFunction::ABORT_TASK {
            // §11.6.1: "function complete" and "task does not exist" both mean the task is gone.
            if done || r.response == TaskMgmtResponse::TASK_DOES_NOT_EXIST {
                if let Some((task, itt, _)) = tmf.referenced {
                    if self.tasks.itt_of(task) == Some(Itt(itt)) {
                        self.complete(task, Err(TaskError::Aborted), sink);
                    }
                }
            }
        } else if done
            && (f == TaskMgmtFunction::ABORT_TASK_SET
                || f == TaskMgmtFunction::CLEAR_TASK_SET
                || f == TaskMgmtFunction::LOGICAL_UNIT_RESET)
        {
            self.abort_sent_tasks(|t| t.lun == tmf.lun, sink);
        } else if done
            && (f == TaskMgmtFunction::TARGET_WARM_RESET
                || f == TaskMgmtFunction::TARGET_COLD_RESET)
        {
            self.abort_sent_tasks(|_| true, sink);
        }
        sink.event(InitiatorEvent::TaskManagementDone {
            tmf: TmfHandle(slot),
            response: r.response,
        });
    }

    /// Ends, as aborted, every task already sent that `matches` selects.
    fn abort_sent_tasks<S: InitiatorSink>(
        &mut self,
        matches: impl Fn(&super::task::Task) -> bool,
        sink: &mut S,
    ) {
        // Completing a task removes it, so each search finds the next one.
        while let Some((slot, _)) = self
            .tasks
            .next_where(0, |t| t.cmd_sn.is_some() && matches(t))
        {
            self.complete(slot, Err(TaskError::Aborted), sink);
        }
    }

    fn handle_logout_response<S: InitiatorSink>(&mut self, r: &LogoutResponseRepr, sink: &mut S) {
        let Logout::Sent { itt } = self.logout else {
            return;
        };
        if r.itt != itt {
            return;
        }
        self.end_all_tasks(TaskError::Aborted, sink);
        self.stage = Stage::Closed;
        self.deadline = None;
        sink.event(InitiatorEvent::LoggedOut {
            success: r.response == LogoutResponse::SUCCESS,
        });
    }

    fn handle_reject<S: InitiatorSink>(&mut self, r: &RejectRepr, data: &[u8], sink: &mut S) {
        // §11.17: the data segment is the rejected PDU's header.
        let opcode = data.first().map(|b| Opcode(b & 0x3f));
        let itt = data
            .get(16..20)
            .and_then(|b| <[u8; 4]>::try_from(b).ok())
            .map(u32::from_be_bytes);
        if let (Some(op), Some(itt)) = (opcode, itt) {
            if op == Opcode::SCSI_COMMAND || op == Opcode::DATA_OUT {
                if let Some(slot) = self.tasks.slot_of(Itt(itt)) {
                    self.complete(slot, Err(TaskError::Rejected(r.reason)), sink);
                    return;
                }
            }
            if op == Opcode::LOGOUT_REQUEST {
                if let Logout::Sent { itt: ours } = self.logout {
                    if ours == itt {
                        self.close(CloseCause::ProtocolError, sink);
                        return;
                    }
                }
            }
        }
        sink.event(InitiatorEvent::Rejected { reason: r.reason });
    }
}
