//! The iSER initiator engine (RFC 7145 §7, §9): one per RDMA connection, sans-IO. It owns an
//! [`InitiatorConn`] running in RDMA mode, places each command's data by the copy-or-register
//! rule (DESIGN §3 `it_buf_setup`: below the copy threshold through a pre-registered copy
//! buffer, else the caller's buffer registered through a [`Registrar`]), advertises it in the
//! iSER header (Read STag for a read, Write STag for a write), sends control PDUs behind the
//! iSER header, and releases STags when the command ends: the target invalidated it already
//! with Send with Invalidate, or we invalidate it locally (copy buffers keep theirs).
//!
//! The adapter's registered region holds the engine's control buffers first, then its copy
//! buffers ([`IserInitiator::control_region_len`] bytes in all), then the caller's data buffers.

use super::copy::CopyCache;
use super::credit::{self, Credits};
use super::posted::PostedTable;
use super::target::recv_len;
use crate::conn::{AnyConn, ConnEvent, ConnParams, HelloError, StageKind, StepOutcome};
use crate::dm::iser::{IserConfig, IserError};
use crate::dm::{BufRef, DmEvent, DmOp, RemoteBuf, WcStatus};
use crate::pool::BufHandle;
use crate::session::initiator::{
    InitiatorConfig, InitiatorConn, InitiatorEvent, InitiatorSink, ScsiRequest, SubmitError,
    TaskHandle, WriteSource,
};
use crate::session::target::Transmit;
use crate::time::Instant;
use crate::wire::{
    CmPrivateData, HelloRepr, IserHeader, IserHeaderRepr, IserMessage, IserOpcode, Opcode,
    ISER_HEADER_LEN,
};

/// Registers the initiator's memory for remote access by the target (verbs: a memory region or
/// fast registration; tests: the in-memory fabric).
pub trait Registrar {
    /// Registers `buf` of the region for RDMA Write by the target (`target_writes`, a read
    /// command's buffer) or RDMA Read (a write command's buffer); `None` when it cannot.
    fn register(&mut self, buf: BufRef, target_writes: bool) -> Option<RemoteBuf>;
    /// Invalidates an STag the target did not invalidate itself.
    fn invalidate(&mut self, stag: u32);
}

/// Why a command could not be submitted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum IserSubmitError {
    /// The session refused it (window closed, not logged in, ...).
    Session(SubmitError),
    /// The data buffer overlaps the engine's control buffers or is shorter than the transfer.
    BadBuffer,
    /// The buffer could not be registered.
    Registration,
    /// No room to track another command.
    TooManyTasks,
    /// The iSER Hello exchange has not finished (commands wait for the HelloReply).
    HelloPending,
}

#[derive(Clone, Copy, Debug)]
enum Usage {
    Recv,
    Send,
}

/// A command's data buffer and its STag.
#[derive(Clone, Copy, Debug)]
struct DataBuf {
    task: TaskHandle,
    itt: u32,
    /// The caller's buffer; `len` is the transfer's length.
    data: BufRef,
    remote: Option<RemoteBuf>,
    target_writes: bool,
    /// The copy buffer the transfer goes through, if it was placed in one.
    copy: Option<BufHandle>,
    /// The command ended (successfully or not); its copy buffer waits to be emptied.
    done: Option<bool>,
}

/// Target pings tracked at once (our target sends one at a time; the key's minimum is 2).
const PINGS: usize = 4;

/// Receives kept back from our own requests' answers for the target's unexpected PDUs.
const RECV_RESERVE: u16 = 1;

/// The initiator side of one iSER connection.
#[derive(Debug)]
pub struct IserInitiator<'a, const TASKS: usize, const BUFS: usize> {
    conn: InitiatorConn<'a, TASKS>,
    config: IserConfig,
    posted: PostedTable<Usage, BUFS>,
    data: [Option<DataBuf>; TASKS],
    copy: CopyCache<BUFS>,
    /// Bytes of each posted receive: iSER header, BHS and our receive data segment length.
    recv_len: u32,
    /// Our unexpected PDUs (requests) the target has not answered.
    tx_credits: Credits<TASKS>,
    /// The target's unexpected PDUs (pings) we have not answered.
    rx_credits: Credits<PINGS>,
    recv_posted: u16,
    sends_in_flight: u16,
    failed: bool,
    error: Option<IserError>,
    disconnect_sent: bool,
    /// The connection's iSER stage (Connected → [HelloSent] → LoggedIn → Closing).
    stage: Option<AnyConn<()>>,
    hello_to_send: Option<HelloRepr>,
    hello_error: Option<HelloError>,
}

/// Immediate and unsolicited write data comes from the caller's data buffers in the region.
struct RegionSource<'r, const TASKS: usize> {
    data_area: &'r [u8],
    base: usize,
    bufs: &'r [Option<DataBuf>; TASKS],
}

impl<const TASKS: usize> WriteSource for RegionSource<'_, TASKS> {
    fn write_data(&mut self, task: TaskHandle, offset: u32, buf: &mut [u8]) {
        let src = self
            .bufs
            .iter()
            .flatten()
            .find(|d| d.task == task)
            .and_then(|d| {
                let start = (d.data.offset as usize)
                    .checked_sub(self.base)?
                    .checked_add(offset as usize)?;
                self.data_area.get(start..start.checked_add(buf.len())?)
            });
        match src {
            Some(src) => buf.copy_from_slice(src),
            None => buf.fill(0),
        }
    }
}

/// Passes events on, releasing each finished command's STag on the way; a command that went
/// through a copy buffer is marked done, the buffer emptied and given back afterwards.
struct ReleasingSink<'s, S, R, const TASKS: usize, const BUFS: usize> {
    sink: &'s mut S,
    registrar: &'s mut R,
    bufs: &'s mut [Option<DataBuf>; TASKS],
    copy: &'s mut CopyCache<BUFS>,
    invalidated: Option<u32>,
}

impl<S: InitiatorSink, R: Registrar, const TASKS: usize, const BUFS: usize> InitiatorSink
    for ReleasingSink<'_, S, R, TASKS, BUFS>
{
    fn read_data(&mut self, task: TaskHandle, offset: u32, data: &[u8]) {
        self.sink.read_data(task, offset, data);
    }

    fn event(&mut self, event: InitiatorEvent<'_>) {
        if let InitiatorEvent::TaskDone { task, result } = &event {
            for slot in self.bufs.iter_mut() {
                let Some(d) = slot else {
                    continue;
                };
                if d.task != *task || d.done.is_some() {
                    continue;
                }
                let remote = d.remote.map(|r| r.stag);
                if d.copy.is_some() {
                    if let Some(stag) = remote.filter(|s| self.invalidated == Some(*s)) {
                        self.copy.invalidated(stag);
                    }
                    d.done = Some(result.is_ok());
                    continue;
                }
                if let Some(stag) = remote.filter(|s| self.invalidated != Some(*s)) {
                    self.registrar.invalidate(stag);
                }
                *slot = None;
            }
        }
        self.sink.event(event);
    }
}

impl<'a, const TASKS: usize, const BUFS: usize> IserInitiator<'a, TASKS, BUFS> {
    /// A connection whose channel was just established; the first Login Request is ready.
    pub fn new(
        config: &InitiatorConfig<'a>,
        iser: IserConfig,
        entropy: [u8; 32],
        now: Instant,
    ) -> Self {
        let mut config = *config;
        let overhead = ISER_HEADER_LEN.saturating_add(crate::session::target::pdu_overhead());
        let max_data = iser.buf_size.saturating_sub(overhead as u32);
        config.max_recv_data_segment_length =
            config.max_recv_data_segment_length.min(max_data).max(512);
        config.header_digest = false;
        config.data_digest = false;
        let recv_len = recv_len(config.max_recv_data_segment_length, iser.buf_size);
        let posted = PostedTable::new(iser.buf_size);
        let copy_base = posted.region_len().unwrap_or(usize::MAX);
        IserInitiator {
            conn: InitiatorConn::new_iser(&config, entropy, now),
            config: iser,
            posted,
            data: [None; TASKS],
            copy: CopyCache::new(copy_base, 0, 0, 0),
            recv_len,
            tx_credits: Credits::new(),
            rx_credits: Credits::new(),
            recv_posted: 0,
            sends_in_flight: 0,
            failed: false,
            error: None,
            disconnect_sent: false,
            stage: Some(AnyConn::Allocated(crate::conn::Conn::new(
                ConnParams::initiator(0),
                (),
            ))),
            hello_to_send: None,
            hello_error: None,
        }
    }

    /// Sends an iSER Hello after login and waits up to 500 ms for the HelloReply before any
    /// command (RFC 7145 §9.3; illumos `it_ini_enable_datamover`). Real targets do not need it;
    /// iWARP peers may.
    pub fn with_hello(mut self, enabled: bool) -> Self {
        let mut params = ConnParams::initiator(0);
        params.send_hello = enabled;
        params.ird = self.config.max_rdma_reads;
        self.stage = Some(AnyConn::Allocated(crate::conn::Conn::new(params, ())));
        self
    }

    /// Sends transfers shorter than `threshold` bytes through `count` copy buffers (half for
    /// reads, half for writes, at most `BUFS` each) of `size` bytes that stay registered (DESIGN §3 `it_buf_setup`); longer ones, and
    /// any when every copy buffer is taken, are registered in place. Without this call every
    /// transfer is registered in place. The copy buffers follow the control buffers in the
    /// region: call before [`Self::control_region_len`].
    pub fn with_copy_buffers(mut self, count: usize, size: u32, threshold: u32) -> Self {
        let base = self.posted.region_len().unwrap_or(usize::MAX);
        self.copy = CopyCache::new(base, count, size, threshold);
        self
    }

    /// The STags of copy buffers registered now (they outlive commands).
    pub fn copy_stags(&self) -> impl Iterator<Item = u32> + '_ {
        self.copy.stags()
    }

    /// Why the engine ended the connection, if it ended it for an iSER reason.
    pub fn error(&self) -> Option<IserError> {
        self.error
    }

    /// Our unexpected PDUs (requests) the target has not answered yet.
    pub fn unexpected_outstanding(&self) -> usize {
        self.tx_credits.outstanding()
    }

    /// How many unexpected PDUs we may have outstanding (RFC 7145 §6.5, §8.1): the negotiated
    /// MaxOutstandingUnexpectedPDUs, and never more than our posted receives can take answers
    /// for, less one kept for the target's own unexpected PDUs (its pings).
    pub fn unexpected_limit(&self) -> u32 {
        let depth = u32::from(self.config.recv_depth.saturating_sub(RECV_RESERVE).max(1));
        match self.conn.negotiated().max_outstanding_unexpected_pdus {
            0 => depth,
            n => n.min(depth),
        }
    }

    /// Bytes of each receive the engine posts.
    pub fn recv_len(&self) -> u32 {
        self.recv_len
    }

    /// Why the Hello exchange failed, if it did.
    pub fn hello_error(&self) -> Option<HelloError> {
        self.hello_error
    }

    /// The connection's iSER stage.
    pub fn stage(&self) -> Option<StageKind> {
        self.stage.as_ref().map(|s| s.stage())
    }

    /// The channel is up; `peer_cm` is the target's CM private data.
    pub fn connected(&mut self, peer_cm: CmPrivateData, now: Instant) {
        self.step(ConnEvent::Connect(peer_cm), now);
    }

    /// When [`Self::handle_timeout`] wants to run (the Hello deadline, the session's timers).
    pub fn poll_timeout(&self) -> Option<Instant> {
        let hello = self.stage.as_ref().and_then(|s| s.poll_timeout());
        match (hello, self.conn.poll_timeout()) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Runs timers due at `now`.
    pub fn handle_timeout<S: InitiatorSink, R: Registrar>(
        &mut self,
        now: Instant,
        registrar: &mut R,
        sink: &mut S,
    ) {
        self.step(ConnEvent::Timeout, now);
        if self.hello_error.is_some() && !self.failed {
            self.fail(registrar, sink);
            return;
        }
        let mut wrapped = ReleasingSink {
            sink,
            registrar,
            bufs: &mut self.data,
            copy: &mut self.copy,
            invalidated: None,
        };
        self.conn.handle_timeout(now, &mut wrapped);
        self.finish_copies(None);
    }

    fn step(&mut self, event: ConnEvent, now: Instant) {
        let Some(stage) = self.stage.take() else {
            return;
        };
        let (next, outcome) = stage.step(event, now);
        self.stage = next;
        match outcome {
            StepOutcome::SendHello(h) => self.hello_to_send = Some(h),
            StepOutcome::HelloFailed(e) => self.hello_error = Some(e),
            _ => {}
        }
    }

    /// Moves the stage on once the login completes: straight to LoggedIn, or HelloSent.
    fn track_login(&mut self, now: Instant) {
        if self.conn.is_full_feature() && self.stage() == Some(StageKind::Allocated) {
            self.step(ConnEvent::Connect(CmPrivateData::default()), now);
        }
        if self.conn.is_full_feature() && self.stage() == Some(StageKind::Connected) {
            self.step(ConnEvent::EnableDatamover, now);
        }
    }

    /// Bytes at the start of the region the engine uses for control messages; data buffers go
    /// after them.
    pub fn control_region_len(&self) -> usize {
        self.posted
            .region_len()
            .and_then(|n| n.checked_add(self.copy.region_len()))
            .unwrap_or(usize::MAX)
    }

    /// The session engine.
    pub fn session(&self) -> &InitiatorConn<'a, TASKS> {
        &self.conn
    }

    /// The session engine, for logout and task management.
    pub fn session_mut(&mut self) -> &mut InitiatorConn<'a, TASKS> {
        &mut self.conn
    }

    /// Commands whose STags are still registered.
    pub fn tasks_with_stags(&self) -> usize {
        self.data
            .iter()
            .flatten()
            .filter(|d| d.remote.is_some())
            .count()
    }

    /// Submits a SCSI command whose data lives in `data` (in the region, after the control
    /// buffers): read data lands there, write data is taken from there.
    pub fn submit<R: Registrar>(
        &mut self,
        req: &ScsiRequest<'_>,
        data: BufRef,
        registrar: &mut R,
    ) -> Result<TaskHandle, IserSubmitError> {
        if self.stage() == Some(StageKind::HelloSent) {
            return Err(IserSubmitError::HelloPending);
        }
        let len = req.read_len.max(req.write_len);
        if len > 0 && ((data.offset as usize) < self.control_region_len() || data.len < len) {
            return Err(IserSubmitError::BadBuffer);
        }
        let free = self
            .data
            .iter()
            .position(|d| d.is_none())
            .ok_or(IserSubmitError::TooManyTasks)?;
        let target_writes = req.read_len > 0;
        let (remote, copy) = match len {
            0 => (None, None),
            _ => match self.copy.place(len, target_writes, registrar) {
                Some((handle, remote)) => (Some(remote), Some(handle)),
                None => {
                    let buf = BufRef {
                        offset: data.offset,
                        len,
                    };
                    let remote = registrar
                        .register(buf, target_writes)
                        .ok_or(IserSubmitError::Registration)?;
                    (Some(remote), None)
                }
            },
        };
        let task = match self.conn.submit(req) {
            Ok(t) => t,
            Err(e) => {
                match (copy, remote) {
                    (Some(handle), _) => self.copy.release(handle, target_writes),
                    (None, Some(r)) => registrar.invalidate(r.stag),
                    (None, None) => {}
                }
                return Err(IserSubmitError::Session(e));
            }
        };
        let itt = self.conn.itt_of(task).unwrap_or(u32::MAX);
        if let Some(slot) = self.data.get_mut(free) {
            *slot = Some(DataBuf {
                task,
                itt,
                data: BufRef {
                    offset: data.offset,
                    len,
                },
                remote,
                target_writes,
                copy,
                done: None,
            });
        }
        Ok(task)
    }

    /// Whether the connection is over and every buffer is back.
    pub fn is_closed(&self) -> bool {
        (self.conn.is_closed() || self.failed)
            && self.posted.in_use() == 0
            && self.copy.in_use() == 0
    }

    /// Handles a completion or connection event.
    pub fn handle_event<S: InitiatorSink, R: Registrar>(
        &mut self,
        event: DmEvent,
        region: &mut [u8],
        registrar: &mut R,
        sink: &mut S,
        now: Instant,
    ) {
        match event {
            DmEvent::Recv {
                id,
                len,
                invalidated,
            } => {
                let Some(posted) = self.posted.take(id) else {
                    return;
                };
                self.recv_posted = self.recv_posted.saturating_sub(1);
                self.handle_message(
                    posted.handle,
                    len,
                    invalidated,
                    region,
                    registrar,
                    sink,
                    now,
                );
                self.posted.free(posted.handle);
            }
            DmEvent::Done { id, status } => {
                if let Some(posted) = self.posted.take(id) {
                    if matches!(posted.usage, Usage::Send) {
                        self.sends_in_flight = self.sends_in_flight.saturating_sub(1);
                    }
                    self.posted.free(posted.handle);
                }
                if status != WcStatus::Success {
                    self.fail(registrar, sink);
                }
            }
            DmEvent::RecvError { id, .. } => {
                if let Some(posted) = self.posted.take(id) {
                    self.recv_posted = self.recv_posted.saturating_sub(1);
                    self.posted.free(posted.handle);
                }
                self.fail(registrar, sink);
            }
            DmEvent::Disconnected => self.fail(registrar, sink),
        }
        if self.conn.is_closed() {
            self.copy.invalidate_all(registrar);
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn handle_message<S: InitiatorSink, R: Registrar>(
        &mut self,
        handle: BufHandle,
        len: u32,
        invalidated: Option<u32>,
        region: &mut [u8],
        registrar: &mut R,
        sink: &mut S,
        now: Instant,
    ) {
        let Some(start) = self.posted.offset(&handle) else {
            return;
        };
        let Some(msg) = region.get(start..start.saturating_add(len as usize)) else {
            return;
        };
        match IserMessage::parse(msg) {
            Ok(IserMessage::Control { pdu, .. }) => {
                let pdu_len = pdu.len();
                if let Some(answer) = credit::response(pdu) {
                    self.tx_credits.retire(answer);
                }
                if self.conn.is_full_feature() {
                    if let Some(wait) = credit::ping(pdu) {
                        let limit = self.conn.negotiated().max_outstanding_unexpected_pdus;
                        if self.rx_credits.charge(wait, limit).is_err() {
                            self.error = Some(IserError::UnexpectedPduLimit);
                            return self.fail(registrar, sink);
                        }
                    }
                }
                let padded = crate::wire::padded_len(pdu_len);
                if padded.saturating_add(ISER_HEADER_LEN) > self.config.buf_size as usize {
                    self.error = Some(IserError::Protocol);
                    return self.fail(registrar, sink);
                }
                let pdu_start = start.saturating_add(ISER_HEADER_LEN);
                if let Some(pad) = region
                    .get_mut(pdu_start.saturating_add(pdu_len)..pdu_start.saturating_add(padded))
                {
                    pad.fill(0);
                }
                let Some(pdu) = region.get(pdu_start..pdu_start.saturating_add(padded)) else {
                    return;
                };
                let mut wrapped = ReleasingSink {
                    sink,
                    registrar,
                    bufs: &mut self.data,
                    copy: &mut self.copy,
                    invalidated,
                };
                let used = self.conn.handle_bytes(pdu, now, &mut wrapped);
                self.finish_copies(Some(region));
                if used < pdu_len && !self.conn.is_closed() {
                    self.failed = true;
                }
            }
            Ok(IserMessage::HelloReply(reply)) => {
                self.step(ConnEvent::HelloReply(reply), now);
                if self.hello_error.is_some() {
                    self.fail(registrar, sink);
                }
            }
            _ => self.failed = true,
        }
    }

    /// The next work request to post, or `None`.
    pub fn poll_op(&mut self, region: &mut [u8], now: Instant) -> Option<DmOp> {
        if self.failed || self.conn.is_closed() {
            if self.sends_in_flight > 0 || self.disconnect_sent {
                return None;
            }
            self.disconnect_sent = true;
            return Some(DmOp::Disconnect);
        }
        if self.recv_posted < self.config.recv_depth {
            if let Some((id, buf)) = self.posted.alloc(Usage::Recv) {
                self.recv_posted = self.recv_posted.saturating_add(1);
                return Some(DmOp::PostRecv {
                    id,
                    buf: BufRef {
                        offset: buf.offset,
                        len: self.recv_len,
                    },
                });
            }
        }
        self.track_login(now);
        if let Some(hello) = self.hello_to_send {
            if self.sends_in_flight < self.config.send_window {
                let (id, buf) = self.posted.alloc(Usage::Send)?;
                let n = region
                    .get_mut(buf.offset as usize..)
                    .and_then(|dst| hello.emit(dst).ok());
                let Some(n) = n else {
                    self.posted.release(id);
                    self.failed = true;
                    return None;
                };
                self.hello_to_send = None;
                self.sends_in_flight = self.sends_in_flight.saturating_add(1);
                return Some(DmOp::Send {
                    id,
                    buf: BufRef {
                        offset: buf.offset,
                        len: n as u32,
                    },
                    invalidate: None,
                });
            }
            return None;
        }
        self.poll_control(region, now)
    }

    fn poll_control(&mut self, region: &mut [u8], now: Instant) -> Option<DmOp> {
        if self.sends_in_flight >= self.config.send_window {
            return None;
        }
        // The next PDU may be a request: send only while the target can take one more and we
        // can take its answer (RFC 7145 §8.1).
        if self.conn.is_full_feature() && !self.tx_credits.can_send(self.unexpected_limit()) {
            return None;
        }
        let (id, buf) = self.posted.alloc(Usage::Send)?;
        let control_len = self.control_region_len().min(region.len());
        let (control, data_area) = region.split_at_mut(control_len);
        let start = buf.offset as usize;
        let pdu_start = start.saturating_add(ISER_HEADER_LEN);
        let end = start.saturating_add(buf.len as usize);
        let mut source = RegionSource {
            data_area,
            base: control_len,
            bufs: &self.data,
        };
        let written = match control.get_mut(pdu_start..end) {
            Some(dst) => self.conn.poll_transmit(now, dst, &mut source),
            None => Transmit::Idle,
        };
        let Transmit::Written(n) = written else {
            self.posted.release(id);
            if matches!(written, Transmit::NeedSpace(_)) {
                self.failed = true;
            }
            return None;
        };
        // A SCSI Command carries its buffer's STag: Read STag for a read, Write STag for a write
        // (RFC 7145 §7.3.3).
        let mut header = IserHeaderRepr {
            opcode: IserOpcode::ISCSI_CTRL,
            write_stag: None,
            read_stag: None,
        };
        let pdu = control
            .get(pdu_start..pdu_start.saturating_add(n))
            .unwrap_or_default();
        if self.conn.is_full_feature() {
            if let Some(wait) = credit::request(pdu) {
                // Room was checked above.
                let _ = self.tx_credits.charge(wait, 0);
            }
        }
        if let Some(answer) = credit::echo(pdu) {
            self.rx_credits.retire(answer);
        }
        if pdu.first().map(|b| Opcode(b & 0x3f)) == Some(Opcode::SCSI_COMMAND) {
            let itt = pdu
                .get(16..20)
                .and_then(|b| <[u8; 4]>::try_from(b).ok())
                .map(u32::from_be_bytes);
            if let Some(d) = self.data.iter().flatten().find(|d| Some(d.itt) == itt) {
                if let (Some(handle), false) = (d.copy, d.target_writes) {
                    // Write data goes into its copy buffer before the target may read it.
                    let from = (d.data.offset as usize).saturating_sub(control_len);
                    let to = self.copy.offset(&handle, false).unwrap_or(usize::MAX);
                    let len = d.data.len as usize;
                    let src = data_area.get(from..from.saturating_add(len));
                    let dst = src.and_then(|s| control.get_mut(to..)?.get_mut(..s.len()));
                    if let (Some(src), Some(dst)) = (src, dst) {
                        dst.copy_from_slice(src);
                    }
                }
                if let Some(r) = d.remote {
                    if d.target_writes {
                        header.read_stag = Some((r.stag, r.addr));
                    } else {
                        // The Write Base Offset names the first solicited byte, after the
                        // unsolicited data (as Linux and libiscsi send it).
                        let unsolicited = self.conn.unsolicited_len(d.task).unwrap_or(0);
                        header.write_stag =
                            Some((r.stag, r.addr.wrapping_add(u64::from(unsolicited))));
                    }
                }
            }
        }
        let emitted = control
            .get_mut(start..pdu_start)
            .map(|dst| header.emit(&mut IserHeader::new_unchecked(dst)).is_ok());
        if emitted != Some(true) {
            self.posted.release(id);
            self.failed = true;
            return None;
        }
        self.sends_in_flight = self.sends_in_flight.saturating_add(1);
        Some(DmOp::Send {
            id,
            buf: BufRef {
                offset: buf.offset,
                len: (ISER_HEADER_LEN.saturating_add(n)) as u32,
            },
            invalidate: None,
        })
    }

    fn fail<S: InitiatorSink, R: Registrar>(&mut self, registrar: &mut R, sink: &mut S) {
        self.failed = true;
        self.tx_credits.clear();
        self.rx_credits.clear();
        let mut wrapped = ReleasingSink {
            sink,
            registrar,
            bufs: &mut self.data,
            copy: &mut self.copy,
            invalidated: None,
        };
        self.conn.connection_lost(&mut wrapped);
        // Anything the session did not report still holds its STag.
        for slot in self.data.iter_mut() {
            if let Some(d) = slot {
                match (d.copy, d.remote) {
                    (Some(handle), _) => self.copy.release(handle, d.target_writes),
                    (None, Some(r)) => registrar.invalidate(r.stag),
                    (None, None) => {}
                }
            }
            *slot = None;
        }
        self.copy.invalidate_all(registrar);
    }

    /// Empties the copy buffers of ended commands: a successful read's data goes to the
    /// caller's buffer (when the region is at hand), and the buffer back to the cache.
    fn finish_copies(&mut self, mut region: Option<&mut [u8]>) {
        let control_len = self.control_region_len();
        for slot in self.data.iter_mut() {
            let Some(d) = slot else {
                continue;
            };
            let (Some(ok), Some(handle)) = (d.done, d.copy) else {
                continue;
            };
            if let (true, true, Some(region)) = (ok, d.target_writes, region.as_deref_mut()) {
                let (control, data_area) = region.split_at_mut(control_len.min(region.len()));
                let from = self.copy.offset(&handle, true).unwrap_or(usize::MAX);
                let to = (d.data.offset as usize).saturating_sub(control_len);
                let len = d.data.len as usize;
                let src = control.get(from..from.saturating_add(len));
                let dst = src.and_then(|s| data_area.get_mut(to..)?.get_mut(..s.len()));
                if let (Some(src), Some(dst)) = (src, dst) {
                    dst.copy_from_slice(src);
                }
            }
            self.copy.release(handle, d.target_writes);
            *slot = None;
        }
    }
}
