//! The session side of an RDMA datamover (iSER, RFC 7145 §7.3): instead of Data-In and R2T
//! PDUs, a task's data is put to the initiator (RDMA Write, illumos `it_buf_tx_to_ini`) and got
//! from it (RDMA Read, `it_buf_rx_from_ini`) through these calls. Immediate and unsolicited
//! Data-Out still arrive as PDUs. The SCSI Response goes as a PDU once the data phase is over.

use super::task::Phase;
use super::{DataMode, Emitted, Hints, TargetConn};
use crate::session::backend::TargetBackend;
use crate::task::TaskSlot;

/// A task, as the datamover refers to it between a request and its completion.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct TaskRef(pub(super) TaskSlot);

impl TaskRef {
    /// The task's slot in the connection's task table, `0..TASKS`: stable while the task lives,
    /// so a datamover can keep per-task state in an array by it.
    pub const fn index(&self) -> usize {
        self.0.index()
    }
}

/// Read data placed in the datamover's buffer, to be RDMA-written to the initiator's Read STag
/// at its base offset plus `offset`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct PutData {
    /// The task.
    pub task: TaskRef,
    /// Initiator Task Tag, which keys the STags the command advertised.
    pub itt: u32,
    /// Offset of the data in the task's buffer.
    pub offset: u32,
    /// Bytes placed at the start of the buffer.
    pub len: u32,
}

/// Write data to fetch by RDMA Read from the initiator's Write STag at its base offset plus
/// `offset`; hand it to [`TargetConn::got_data`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct GetData {
    /// The task.
    pub task: TaskRef,
    /// Initiator Task Tag, which keys the STags the command advertised.
    pub itt: u32,
    /// Offset of the data in the task's buffer.
    pub offset: u32,
    /// Offset from the Write STag's base: the initiator's Write Base Offset names the first
    /// byte after the unsolicited data (RFC 7145 §7.3.3; Linux and libiscsi set
    /// `write_va = buffer + unsolicited`).
    pub solicited_offset: u32,
    /// Bytes to fetch.
    pub len: u32,
}

/// What [`TargetConn::next_put`] reads of a task (not the whole task: it is large).
struct PutTask {
    itt: u32,
    lun: crate::wire::Lun,
    scsi: Option<crate::scsi::ScsiTask>,
    len: u32,
    done: u32,
}

impl<const TASKS: usize> TargetConn<TASKS> {
    /// Fills `buf` with the next piece of some read task's data (round robin over tasks) and says
    /// where it goes. After the last piece of a task its status is queued for
    /// [`Self::poll_transmit`], so the caller must post the RDMA Write before it sends that PDU
    /// (the RC queue pair keeps the order). `None` when no read data is pending.
    #[cfg_attr(not(feature = "small-code"), inline)]
    pub fn next_put<B: TargetBackend>(
        &mut self,
        buf: &mut [u8],
        backend: &mut B,
    ) -> Option<PutData> {
        if self.mode != DataMode::Rdma || buf.is_empty() || !self.hints.has(Hints::PUT) {
            return None;
        }
        let target = self.session.and_then(|s| s.target)?;
        loop {
            let Some((slot, cursor)) = self.tasks.next_where(self.next_data, |t| {
                t.phase == Phase::Read && t.response.is_none() && t.done < t.len
            }) else {
                self.hints.remove(Hints::PUT);
                return None;
            };
            self.next_data = cursor;
            let task = self.tasks.get(slot).map(|t| PutTask {
                itt: t.itt,
                lun: t.lun,
                scsi: t.scsi,
                len: t.len,
                done: t.done,
            })?;
            let scsi = task.scsi?;
            let len = (task.len.saturating_sub(task.done) as usize).min(buf.len());
            let dst = buf.get_mut(..len)?;
            if let Err(completion) = backend.scsi_read(target, task.lun, &scsi, task.done, dst) {
                self.fail_task(slot, completion, 0, backend);
                continue;
            }
            let put = PutData {
                task: TaskRef(slot),
                itt: task.itt,
                offset: task.done,
                len: len as u32,
            };
            let done = task.done.saturating_add(len as u32);
            if let Some(t) = self.tasks.get_mut(slot) {
                t.done = done;
            }
            if done >= task.len {
                let finish = backend.scsi_finish(target, task.lun, &scsi);
                self.finish_task(slot, finish, 0);
                if self.tasks.len() == 1 {
                    // The only task has no data left to put: the next scan would find nothing.
                    self.hints.remove(Hints::PUT);
                }
            }
            return Some(put);
        }
    }

    /// Whether [`Self::poll_status`] has a SCSI Response ready without a scan (cheap): no
    /// control PDU queued ahead of it and a task whose status is due remembered.
    pub fn status_ready(&self) -> bool {
        self.txq.is_empty() && self.status_due.is_some()
    }

    /// Writes the SCSI Response of the task remembered as having its status due into `buf` and
    /// ends the task: what [`Self::poll_transmit`] would write next when [`Self::status_ready`],
    /// with the ITT and task the datamover needs to end the task's STags and unexpected-PDU
    /// credit.
    /// `None` (and the remembered task forgotten) when that task is gone or `buf` is too small;
    /// `poll_transmit` then finds what is left.
    #[cfg_attr(not(feature = "small-code"), inline)]
    pub fn poll_status(&mut self, buf: &mut [u8]) -> Option<(usize, u32, TaskRef)> {
        if !self.txq.is_empty() {
            return None;
        }
        let slot = self.status_due.take()?;
        let (itt, (completion, exp_data_sn)) = self
            .tasks
            .get(slot)
            .and_then(|t| Some((t.itt, t.response?)))?;
        let Emitted::Done(n) = self.emit_scsi_response(itt, &completion, exp_data_sn, buf) else {
            return None;
        };
        self.tasks.discard(slot);
        if self.tasks.is_empty() {
            self.hints.remove(Hints::TX);
        }
        self.stats.pdus_out = self.stats.pdus_out.wrapping_add(1);
        Some((n, itt, TaskRef(slot)))
    }

    /// The task that holds the command with this ITT, if one does.
    pub fn task_of(&self, itt: u32) -> Option<TaskRef> {
        self.tasks.slot_of(crate::task::Itt(itt)).map(TaskRef)
    }

    /// The task whose SCSI Response the last [`Self::poll_transmit`] wrote, once (a Response
    /// for a command that held no task names none).
    pub fn take_status_sent(&mut self) -> Option<TaskRef> {
        self.status_sent.take()
    }

    /// Whether [`Self::next_put`] may have read data to place (cheap).
    pub fn may_put(&self) -> bool {
        self.mode == DataMode::Rdma && self.hints.has(Hints::PUT)
    }

    /// Whether [`Self::next_get`] may have write data to fetch (cheap).
    pub fn may_get(&self) -> bool {
        self.mode == DataMode::Rdma && self.hints.has(Hints::GET)
    }

    /// The next piece of write data to fetch, at most `max_len` bytes (round robin over tasks).
    pub fn next_get(&mut self, max_len: u32) -> Option<GetData> {
        if self.mode != DataMode::Rdma || max_len == 0 || !self.hints.has(Hints::GET) {
            return None;
        }
        let Some((slot, cursor)) = self.tasks.next_where(self.next_data, |t| {
            // Unsolicited Data-Out (its own stream of Sends) must be in before RDMA Reads fetch
            // what follows it: data is taken in offset order.
            t.phase == Phase::Write
                && t.response.is_none()
                && t.solicited_to < t.len
                && t.done >= t.unsolicited
        }) else {
            self.hints.remove(Hints::GET);
            return None;
        };
        self.next_data = cursor;
        let task = self.tasks.get_mut(slot)?;
        let len = task.len.saturating_sub(task.solicited_to).min(max_len);
        let get = GetData {
            task: TaskRef(slot),
            itt: task.itt,
            offset: task.solicited_to,
            solicited_offset: task.solicited_to.saturating_sub(task.unsolicited),
            len,
        };
        task.solicited_to = task.solicited_to.saturating_add(len);
        if task.solicited_to >= task.len && self.tasks.len() == 1 {
            // The only task has nothing left to fetch: the next scan would find nothing.
            self.hints.remove(Hints::GET);
        }
        Some(get)
    }

    /// Data fetched for a [`GetData`] arrived. RDMA Reads on one queue pair complete in order,
    /// so pieces arrive in offset order.
    #[cfg_attr(not(feature = "small-code"), inline(always))]
    pub fn got_data<B: TargetBackend>(
        &mut self,
        task: TaskRef,
        offset: u32,
        data: &[u8],
        backend: &mut B,
    ) {
        let TaskRef(slot) = task;
        if self.tasks.get(slot).is_none() {
            // The task was aborted while its data was in flight.
            return;
        }
        self.accept_write_data(slot, offset, data, backend);
        self.progress_write(slot, backend);
    }

    /// A [`GetData`] failed (the RDMA Read did not complete): the task fails; the connection is
    /// normally on its way down anyway (a failed RDMA operation moves the queue pair to error).
    pub fn get_failed<B: TargetBackend>(&mut self, task: TaskRef, backend: &mut B) {
        let TaskRef(slot) = task;
        if self.tasks.get(slot).is_some() {
            self.fail_task(slot, super::ffp::TRANSPORT_FAILURE, 0, backend);
        }
    }
}
