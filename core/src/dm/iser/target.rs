//! The iSER target engine (RFC 7145 §7, §9): one per RDMA connection, sans-IO. It owns a
//! [`TargetConn`] running in RDMA mode and turns its work into [`DmOp`]s: control PDUs behind the
//! 28-byte iSER header in Sends (Send with Invalidate of the initiator's STag for a SCSI
//! Response, unless the peer's CM private data forbids it), read data by RDMA Write to the Read
//! STag, write data by RDMA Read from the Write STag, Hello answered with HelloReply.
//!
//! All buffers come from one registered region the adapter owns, carved into fixed-size pieces by
//! a [`PostedTable`]; the region is passed in as a byte slice on every call.
//!
//! Poll order for the caller: after every [`IserTarget::handle_event`], post what
//! [`IserTarget::poll_ops`] writes (until it writes less than it was given room for), or what
//! [`IserTarget::poll_op`] returns until it returns `None`, in order (RC ordering is what keeps a
//! SCSI Response behind its RDMA Writes).

use super::credit::{self, Credits};
use super::posted::PostedTable;
use super::stags::{StagTable, TaskStags};
use crate::conn::{AnyConn, ConnEvent, ConnParams};
use crate::dm::{BufRef, DmEvent, DmOp, RemoteBuf, WcStatus, WrId};
use crate::session::target::{TaskRef, Transmit};
use crate::session::{TargetBackend, TargetConfig, TargetConn};
use crate::time::{Duration, Instant};
use crate::wire::{
    CmPrivateData, HelloReplyRepr, HelloRepr, IserHeaderRepr, IserMessage, Opcode,
    ISCSI_CTRL_HEADER, ISER_HEADER_LEN, ISER_VERSION,
};

/// Sizing of an iSER connection's buffers and queues.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct IserConfig {
    /// Size of each registered buffer: it holds a whole control message (iSER header, BHS and a
    /// data segment of TargetRecvDataSegmentLength) and is the unit of RDMA data transfers.
    pub buf_size: u32,
    /// Receives kept posted, each sized for one control PDU of our receive data segment length
    /// (RFC 7145 §6.2, §6.5, §8.1): at least the MaxOutstandingUnexpectedPDUs the peer may have
    /// outstanding, plus the PDUs that answer our own. The CmdSN window granted is this less
    /// the receives kept for immediate PDUs.
    pub recv_depth: u16,
    /// RDMA Reads issued concurrently at most (our iSER-ORD, capped by the initiator's IRD).
    pub max_rdma_reads: u16,
    /// Sends posted and not yet completed at most (the send queue's depth). Whether the peer
    /// has a receive posted for each is the unexpected-PDU credit accounting's job
    /// (RFC 7145 §8.1): an initiator keeps its requests within its own posted receives and the
    /// negotiated MaxOutstandingUnexpectedPDUs, a target answers only what was asked.
    pub send_window: u16,
}

impl Default for IserConfig {
    fn default() -> Self {
        IserConfig {
            buf_size: 128 * 1024 + 512,
            recv_depth: 32,
            max_rdma_reads: 16,
            send_window: 16,
        }
    }
}

/// What a buffer is doing while its work request is posted.
#[derive(Clone, Copy, Debug)]
enum Usage {
    Recv,
    Send,
    Write,
    Read {
        task: TaskRef,
        offset: u32,
        len: u32,
    },
}

/// For a SCSI Command message shorter than its header announces (no data segment although
/// DataSegmentLength is set), the length of its header part (BHS and AHS).
#[cfg_attr(not(feature = "small-code"), inline)]
fn short_command(pdu: &[u8]) -> Option<usize> {
    let bhs = crate::wire::Bhs::new_checked(pdu).ok()?;
    if bhs.opcode() != Opcode::SCSI_COMMAND {
        return None;
    }
    let header_len = crate::wire::BHS_LEN.checked_add(bhs.ahs_len())?;
    let data_len = bhs.data_segment_length() as usize;
    (data_len > 0 && pdu.len() == header_len).then_some(header_len)
}

/// A SCSI Command message that is one whole PDU without AHS (RFC 7145 §7.2): its BHS and its
/// data segment, the message ending after the segment or after its padding. Anything else
/// (AHS, a segment announced but not sent, trailing bytes) takes the general path.
#[cfg_attr(not(feature = "small-code"), inline)]
fn whole_command(pdu: &[u8]) -> Option<(&[u8; crate::wire::BHS_LEN], &[u8])> {
    let (bhs, rest) = pdu.split_first_chunk::<{ crate::wire::BHS_LEN }>()?;
    if bhs[0] & Opcode::MASK != Opcode::SCSI_COMMAND.0 || bhs[4] != 0 {
        return None;
    }
    let data_len = u32::from_be_bytes([0, bhs[5], bhs[6], bhs[7]]) as usize;
    let data = rest.get(..data_len)?;
    let tail = rest.len().wrapping_sub(data_len);
    (tail == 0 || tail == crate::wire::pad_len(data_len)).then_some((bhs, data))
}

/// The ITT of a SCSI Command PDU.
fn command_itt(pdu: &[u8]) -> Option<u32> {
    if pdu.first().map(|b| Opcode(b & Opcode::MASK)) != Some(Opcode::SCSI_COMMAND) {
        return None;
    }
    pdu.get(16..20)
        .and_then(|b| <[u8; 4]>::try_from(b).ok())
        .map(u32::from_be_bytes)
}

/// The most AHS a PDU can carry: TotalAHSLength is one byte of 4-byte words (RFC 7143 §11.2.1.4).
const MAX_AHS_LEN: u32 = 255 * 4;

/// Bytes of a receive that holds one control message: the iSER header and a PDU with any AHS
/// whose data segment is at most `max_data` (at least the 8192 bytes login PDUs may carry,
/// RFC 7145 §6.2, §6.3), capped by the buffer size.
pub(crate) fn recv_len(max_data: u32, buf_size: u32) -> u32 {
    let overhead = ISER_HEADER_LEN.saturating_add(crate::session::target::pdu_overhead()) as u32;
    overhead
        .saturating_add(MAX_AHS_LEN)
        .saturating_add(max_data.max(8192))
        .min(buf_size)
}

/// Receives kept for PDUs outside the CmdSN window: immediate NOP-Out pings, task management,
/// Logout, and the NOP-Out answering our own ping.
const IMMEDIATE_RECVS: u16 = 4;

/// Longest the oldest outstanding RDMA Read or Write may go without a completion before the
/// connection is given up. A completion must come, in error at least, once the HCA's transport
/// retries end (RFC 7145 §5.1: RDMA errors end the connection); a peer or adapter that never
/// completes one would otherwise hold the task and its buffers for as long as the initiator
/// answers NOP-In pings.
pub const RDMA_TIMEOUT: Duration = Duration::from_secs(30);

/// Why the engine ended a connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum IserError {
    /// A message the RFC does not allow here (HelloReply at a target, a malformed iSER header,
    /// a PDU longer than its message).
    Protocol,
    /// A SCSI command needs an STag its iSER header did not carry (RFC 7145 §7.3.3).
    MissingStag,
    /// A work request failed (the queue pair is in the error state).
    WorkRequest(WcStatus),
    /// The buffer pool or the op queue ran dry where the engine cannot wait.
    Resources,
    /// The peer sent more unexpected PDUs than MaxOutstandingUnexpectedPDUs allows
    /// (RFC 7145 §6.5, §8.1); the connection ends.
    UnexpectedPduLimit,
    /// An RDMA Read or Write went [`RDMA_TIMEOUT`] without completing.
    RdmaTimeout,
}

/// The target side of one iSER connection. `TASKS` bounds the commands in flight, `BUFS` the
/// registered buffers.
#[derive(Debug)]
pub struct IserTarget<const TASKS: usize, const BUFS: usize> {
    conn: TargetConn<TASKS>,
    stage: Option<AnyConn<()>>,
    config: IserConfig,
    peer_cm: CmPrivateData,
    posted: PostedTable<Usage, BUFS>,
    stags: StagTable<TASKS>,
    /// Bytes of each posted receive: iSER header, BHS and our receive data segment length.
    recv_len: u32,
    /// The initiator's unexpected PDUs we have not answered yet.
    rx_credits: Credits<TASKS>,
    recv_posted: u16,
    reads_in_flight: u16,
    sends_in_flight: u16,
    /// RDMA Reads and Writes posted and not completed.
    rdma_in_flight: u16,
    /// When the oldest outstanding RDMA operation was posted or the last one completed: their
    /// completions come in posting order, so nothing completing since is a stuck operation.
    rdma_progress: Instant,
    hello_reply: Option<HelloReplyRepr>,
    ord: u16,
    error: Option<IserError>,
    disconnect_sent: bool,
    /// The typestate has moved to LoggedIn (see [`Self::track_login`]).
    logged_in: bool,
    /// Logged in, no error, no HelloReply to send: only receives, the session's work and
    /// sends remain for [`Self::poll_op`] to look at.
    steady: bool,
}

impl<const TASKS: usize, const BUFS: usize> IserTarget<TASKS, BUFS> {
    /// A connection whose channel was just established; `peer_cm` is the initiator's CM private
    /// data (RFC 7145 §9.1 / Linux `iser_cm_hdr`).
    pub fn new(
        target: &TargetConfig,
        config: IserConfig,
        peer_cm: CmPrivateData,
        entropy: [u8; 32],
        now: Instant,
    ) -> Self {
        let mut target = *target;
        // Control PDUs must fit a buffer after the iSER header.
        let overhead = ISER_HEADER_LEN.saturating_add(crate::session::target::pdu_overhead());
        let max_data = config.buf_size.saturating_sub(overhead as u32);
        target.max_recv_data_segment_length =
            target.max_recv_data_segment_length.min(max_data).max(512);
        target.allow_digests = false;
        // RFC 7145 §8.1: each Send the initiator posts must find a posted receive, and initiators
        // do not wait for one (Linux backs off on receiver-not-ready and its NOP-Out ping waits
        // behind). Unsolicited Data-Out would cost a receive per segment of every write's first
        // burst: answer InitialR2T=Yes, so a command is one message (its immediate data inside)
        // and the rest comes by RDMA Read; and grant no more CmdSN window than receives kept
        // posted beyond those for immediate PDUs.
        target.initial_r2t = true;
        let for_commands = config.recv_depth.saturating_sub(IMMEDIATE_RECVS).max(1);
        target.queue_depth = target.queue_depth.min(u32::from(for_commands));
        let recv_len = recv_len(target.max_recv_data_segment_length, config.buf_size);
        let mut params = ConnParams::target(0);
        params.ord = config.max_rdma_reads;
        let stage = AnyConn::Allocated(crate::conn::Conn::new(params, ()));
        let (stage, _) = stage.step(ConnEvent::Connect(peer_cm), now);
        IserTarget {
            conn: TargetConn::new_iser(&target, entropy, now),
            stage,
            config,
            peer_cm,
            posted: PostedTable::new(config.buf_size),
            stags: StagTable::new(),
            recv_len,
            rx_credits: Credits::new(),
            recv_posted: 0,
            reads_in_flight: 0,
            sends_in_flight: 0,
            rdma_in_flight: 0,
            rdma_progress: now,
            hello_reply: None,
            ord: config.max_rdma_reads,
            error: None,
            disconnect_sent: false,
            logged_in: false,
            steady: false,
        }
    }

    /// Bytes of registered memory the adapter must provide: `BUFS` buffers of `buf_size`.
    pub fn region_len(&self) -> usize {
        self.posted.region_len().unwrap_or(usize::MAX)
    }

    /// The session engine (negotiated parameters, counters).
    pub fn session(&self) -> &TargetConn<TASKS> {
        &self.conn
    }

    /// The connection's stage in the iSER lifecycle.
    pub fn stage(&self) -> Option<crate::conn::StageKind> {
        self.stage.as_ref().map(|s| s.stage())
    }

    /// Why the engine ended the connection, if it did.
    pub fn error(&self) -> Option<IserError> {
        self.error
    }

    /// Whether the connection is over and every buffer is back.
    pub fn is_closed(&self) -> bool {
        (self.conn.is_closed() || self.error.is_some()) && self.posted.in_use() == 0
    }

    /// When [`Self::handle_timeout`] wants to run.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let session = self.conn.poll_timeout();
        match self.rdma_deadline() {
            Some(rdma) => Some(session.map_or(rdma, |t| t.min(rdma))),
            None => session,
        }
    }

    /// Runs the session's timers and gives up on a stuck RDMA operation.
    pub fn handle_timeout<B: TargetBackend>(&mut self, backend: &mut B, now: Instant) {
        if self.rdma_deadline().is_some_and(|t| t <= now) {
            self.fail(IserError::RdmaTimeout, backend);
            return;
        }
        self.conn.handle_timeout(backend, now);
    }

    fn rdma_done(&mut self, now: Instant) {
        self.rdma_in_flight = self.rdma_in_flight.saturating_sub(1);
        self.rdma_progress = now;
    }

    fn rdma_deadline(&self) -> Option<Instant> {
        (self.rdma_in_flight > 0 && self.error.is_none())
            .then(|| self.rdma_progress.plus(RDMA_TIMEOUT))
    }

    /// The initiator's unexpected PDUs not answered yet (RFC 7145 §6.5).
    pub fn unexpected_outstanding(&self) -> usize {
        self.rx_credits.outstanding()
    }

    /// Bytes of each receive the engine posts.
    pub fn recv_len(&self) -> u32 {
        self.recv_len
    }

    /// Buffers in use (posted or holding data).
    pub fn buffers_in_use(&self) -> usize {
        self.posted.in_use()
    }

    /// Handles a completion or connection event.
    #[cfg_attr(not(feature = "small-code"), inline)]
    pub fn handle_event<B: TargetBackend>(
        &mut self,
        event: DmEvent,
        region: &mut [u8],
        backend: &mut B,
        now: Instant,
    ) {
        // A Send or an RDMA Write completing well, two of an I/O's three completions, is
        // bookkeeping only: done here, without entering the general handler.
        if let DmEvent::Done { id, status } = event {
            if status == WcStatus::Success {
                let done = match self.posted.usage(id) {
                    Some(Usage::Send) => {
                        self.sends_in_flight = self.sends_in_flight.saturating_sub(1);
                        true
                    }
                    Some(Usage::Write) => {
                        self.rdma_done(now);
                        true
                    }
                    _ => false,
                };
                if done {
                    if let Some(posted) = self.posted.take(id) {
                        self.posted.free(posted.handle);
                    }
                    return;
                }
            }
        }
        self.handle_any_event(event, region, backend, now);
    }

    /// [`Self::handle_event`] for every event.
    #[inline(never)]
    fn handle_any_event<B: TargetBackend>(
        &mut self,
        event: DmEvent,
        region: &mut [u8],
        backend: &mut B,
        now: Instant,
    ) {
        match event {
            DmEvent::Recv {
                id,
                len,
                invalidated: _,
            } => {
                let Some(posted) = self.posted.take(id) else {
                    return;
                };
                self.recv_posted = self.recv_posted.saturating_sub(1);
                self.handle_message(posted.offset, len, region, backend, now);
                self.posted.free(posted.handle);
            }
            DmEvent::Done { id, status } => {
                let Some(posted) = self.posted.take(id) else {
                    return;
                };
                match posted.usage {
                    Usage::Send => self.sends_in_flight = self.sends_in_flight.saturating_sub(1),
                    Usage::Read { task, offset, len } => {
                        self.rdma_done(now);
                        self.reads_in_flight = self.reads_in_flight.saturating_sub(1);
                        if status == WcStatus::Success {
                            if let Some(data) = posted.bytes(len, region) {
                                self.conn.got_data(task, offset, data, backend);
                            }
                        } else {
                            self.conn.get_failed(task, backend);
                        }
                    }
                    Usage::Write => self.rdma_done(now),
                    Usage::Recv => {}
                }
                self.posted.free(posted.handle);
                if status != WcStatus::Success {
                    self.fail(IserError::WorkRequest(status), backend);
                }
            }
            DmEvent::RecvError { id, status } => {
                if let Some(posted) = self.posted.take(id) {
                    self.recv_posted = self.recv_posted.saturating_sub(1);
                    self.posted.free(posted.handle);
                }
                self.fail(IserError::WorkRequest(status), backend);
            }
            DmEvent::Disconnected => {
                self.conn.connection_lost(backend);
                self.close_stage(now);
            }
        }
    }

    /// The next work request to post, or `None`.
    #[cfg_attr(not(feature = "small-code"), inline)]
    pub fn poll_op<B: TargetBackend>(
        &mut self,
        region: &mut [u8],
        backend: &mut B,
        now: Instant,
    ) -> Option<DmOp> {
        if self.idle() {
            return None;
        }
        self.poll_work(region, backend, now)
    }

    /// The work requests ready now, written to `ops` in order: what calling
    /// [`Self::poll_op`] until `None` gives, in one call. Returns how many were written; when
    /// that is `ops.len()`, call again for the rest.
    #[cfg_attr(not(feature = "small-code"), inline)]
    pub fn poll_ops<B: TargetBackend>(
        &mut self,
        region: &mut [u8],
        backend: &mut B,
        now: Instant,
        ops: &mut [DmOp],
    ) -> usize {
        if self.idle() {
            return 0;
        }
        self.poll_all_work(region, backend, now, ops)
    }

    /// Whether [`Self::poll_op`] has nothing to give: every part it would visit says so
    /// (readiness flags only; no scan). The caller polls until `None`, so this is the answer
    /// of most calls.
    fn idle(&self) -> bool {
        self.steady && self.recv_posted >= self.config.recv_depth && !self.conn.may_have_work()
    }

    /// [`Self::poll_op`] when some part may have work: the first op [`Self::poll_all_work`]
    /// would write. Out of line, so that the idle answer stays a few instructions wherever
    /// `poll_op` is inlined.
    #[inline(never)]
    fn poll_work<B: TargetBackend>(
        &mut self,
        region: &mut [u8],
        backend: &mut B,
        now: Instant,
    ) -> Option<DmOp> {
        if !self.steady || self.conn.is_closed() {
            if let Some(op) = self.poll_unsteady(region, backend, now) {
                return Some(op);
            }
            if self.error.is_some() || self.conn.is_closed() {
                return None;
            }
        }
        if self.recv_posted < self.config.recv_depth {
            if let Some(op) = self.poll_recv() {
                return Some(op);
            }
        }
        if self.hello_reply.is_some() {
            if let Some(op) = self.poll_hello_reply(region) {
                return Some(op);
            }
        }
        let rdma = if self.conn.may_put() {
            self.poll_put(region, backend)
        } else {
            None
        };
        let rdma = match rdma {
            None if self.conn.may_get() => self.poll_get(backend),
            other => other,
        };
        if let Some(op) = rdma {
            if self.rdma_in_flight == 0 {
                self.rdma_progress = now;
            }
            self.rdma_in_flight = self.rdma_in_flight.saturating_add(1);
            return Some(op);
        }
        let mut op = DmOp::Disconnect;
        (self.conn.may_transmit() && self.poll_control(region, backend, now, &mut op)).then_some(op)
    }

    /// [`Self::poll_ops`] when some part may have work.
    /// Priority order (as [`Self::poll_work`]'s): a failed or ended connection's last PDUs and
    /// shutdown alone, then receives, HelloReply, RDMA Writes and Reads, control PDUs. Each
    /// kind is taken until it has no more before the next, without starting over from the top
    /// after each op: none of them gives work to a kind before it. A failure or the session's
    /// end stops the batch, so the next call starts with them. Out of line, so that the idle
    /// answer stays a few instructions wherever `poll_ops` is inlined.
    #[inline(never)]
    fn poll_all_work<B: TargetBackend>(
        &mut self,
        region: &mut [u8],
        backend: &mut B,
        now: Instant,
        ops: &mut [DmOp],
    ) -> usize {
        let mut slots = ops.iter_mut();
        let Some(mut at) = slots.next() else {
            return 0;
        };
        if !self.steady || self.conn.is_closed() {
            if let Some(op) = self.poll_unsteady(region, backend, now) {
                *at = op;
                return 1;
            }
            if self.error.is_some() || self.conn.is_closed() {
                return 0;
            }
        }
        let mut n = 0usize;
        macro_rules! put {
            ($op:expr) => {{
                *at = $op;
                n = n.wrapping_add(1);
                match slots.next() {
                    Some(next) => at = next,
                    None => return n,
                }
            }};
        }
        while self.recv_posted < self.config.recv_depth {
            let Some(op) = self.poll_recv() else {
                break;
            };
            put!(op);
        }
        if self.hello_reply.is_some() {
            if let Some(op) = self.poll_hello_reply(region) {
                put!(op);
            }
        }
        while self.conn.may_put() || self.conn.may_get() {
            let rdma = if self.conn.may_put() {
                self.poll_put(region, backend)
            } else {
                None
            };
            let rdma = match rdma {
                None if self.conn.may_get() => self.poll_get(backend),
                other => other,
            };
            let Some(op) = rdma else {
                break;
            };
            if self.rdma_in_flight == 0 {
                self.rdma_progress = now;
            }
            self.rdma_in_flight = self.rdma_in_flight.saturating_add(1);
            put!(op);
        }
        while self.conn.may_transmit() {
            if !self.poll_control(region, backend, now, at) {
                break;
            }
            n = n.wrapping_add(1);
            match slots.next() {
                Some(next) => at = next,
                None => return n,
            }
            if self.error.is_some() || self.conn.is_closed() {
                break;
            }
        }
        n
    }

    /// [`Self::poll_all_work`] off the steady state: a failed connection's shutdown, an ended
    /// session's last PDUs and shutdown, or the login completing (`None`, then the usual
    /// order).
    #[cold]
    #[cfg_attr(not(feature = "small-code"), inline(never))]
    fn poll_unsteady<B: TargetBackend>(
        &mut self,
        region: &mut [u8],
        backend: &mut B,
        now: Instant,
    ) -> Option<DmOp> {
        if self.error.is_some() {
            return self.poll_shutdown(now);
        }
        if self.conn.is_closed() {
            // The session's last PDU (a Reject of the PDU that ended it) goes out first.
            let mut op = DmOp::Disconnect;
            if self.poll_control(region, backend, now, &mut op) {
                return Some(op);
            }
            return self.poll_shutdown(now);
        }
        if !self.logged_in {
            self.track_login(now);
        }
        None
    }

    // ---- receive side ----

    fn handle_message<B: TargetBackend>(
        &mut self,
        start: usize,
        len: u32,
        region: &mut [u8],
        backend: &mut B,
        now: Instant,
    ) {
        let end = start.saturating_add(len as usize);
        let Some(msg) = region.get(start..end) else {
            return self.fail(IserError::Protocol, backend);
        };
        match IserMessage::parse(msg) {
            Ok(IserMessage::Hello(hello)) => self.answer_hello(hello),
            Ok(IserMessage::Control { header, pdu }) => {
                if let Some((bhs, data)) = whole_command(pdu) {
                    if self.conn.takes_scsi_command(data.len()) {
                        // The message of nearly every exchange: its ITT read once for the
                        // credit it takes and the STags it brings.
                        let itt = u32::from_be_bytes([bhs[16], bhs[17], bhs[18], bhs[19]]);
                        let wait = credit::Wait::Response {
                            itt,
                            task: true,
                            tmf: None,
                        };
                        let limit = self.conn.negotiated().max_outstanding_unexpected_pdus;
                        if self.rx_credits.charge(wait, limit).is_err() {
                            return self.fail(IserError::UnexpectedPduLimit, backend);
                        }
                        if let Some(task) =
                            self.conn.handle_scsi_command_pdu(bhs, data, backend, now)
                        {
                            self.note_stags(&header, task, itt);
                        }
                        return;
                    }
                }
                let mut pdu_len = pdu.len();
                if self.conn.is_full_feature() {
                    if let Some(wait) = credit::request(pdu) {
                        let limit = self.conn.negotiated().max_outstanding_unexpected_pdus;
                        if self.rx_credits.charge(wait, limit).is_err() {
                            return self.fail(IserError::UnexpectedPduLimit, backend);
                        }
                    }
                }
                let command_itt = command_itt(pdu);
                let pdu_start = start.saturating_add(ISER_HEADER_LEN);
                if let Some(header_len) = short_command(pdu) {
                    // libiscsi's iser:// announces its immediate data in DataSegmentLength but
                    // sends none (its Write Base Offset is the buffer start); like LIO and tgt,
                    // take the command without immediate data and fetch everything by RDMA.
                    if let Some(dsl) =
                        region.get_mut(pdu_start.saturating_add(5)..pdu_start.saturating_add(8))
                    {
                        dsl.fill(0);
                    }
                    pdu_len = header_len;
                }
                // Peers may leave the data segment unpadded; pad it in place (the buffer is
                // larger than any message) so the PDU parser sees a whole PDU.
                let padded = crate::wire::padded_len(pdu_len);
                if padded.saturating_add(ISER_HEADER_LEN) > self.config.buf_size as usize {
                    return self.fail(IserError::Protocol, backend);
                }
                let Some(pad) = region
                    .get_mut(pdu_start.saturating_add(pdu_len)..pdu_start.saturating_add(padded))
                else {
                    return self.fail(IserError::Protocol, backend);
                };
                pad.fill(0);
                let Some(pdu) = region.get(pdu_start..pdu_start.saturating_add(padded)) else {
                    return;
                };
                let used = self.conn.handle_bytes(pdu, backend, now);
                if let Some(itt) = command_itt {
                    if let Some(task) = self.conn.task_of(itt) {
                        self.note_stags(&header, task, itt);
                    }
                }
                if used < pdu_len && !self.conn.is_closed() {
                    // One message carries exactly one whole PDU (RFC 7145 §7.2).
                    self.fail(IserError::Protocol, backend);
                }
            }
            _ => self.fail(IserError::Protocol, backend),
        }
    }

    /// RFC 7145 §9.3–9.4: reject when no version is common; otherwise agree on ours and answer
    /// with our ORD capped by the initiator's IRD.
    #[cold]
    #[inline(never)]
    fn answer_hello(&mut self, hello: HelloRepr) {
        let ok = hello.min_ver <= ISER_VERSION && hello.max_ver >= ISER_VERSION;
        self.ord = self.config.max_rdma_reads.min(hello.iser_ird.max(1));
        self.steady = false;
        self.hello_reply = Some(HelloReplyRepr {
            reject: !ok,
            max_ver: ISER_VERSION,
            cur_ver: if ok { ISER_VERSION } else { 0 },
            iser_ord: if ok { self.ord } else { 0 },
        });
    }

    /// Records the STags of the SCSI Command with this ITT that `task` now holds (RFC 7145
    /// §7.3.3: R with a read, W with a write beyond the unsolicited data).
    #[cfg_attr(not(feature = "small-code"), inline)]
    fn note_stags(&mut self, header: &IserHeaderRepr, task: TaskRef, itt: u32) {
        let entry = TaskStags {
            itt,
            read: header
                .read_stag
                .map(|(stag, addr)| RemoteBuf { stag, addr }),
            write: header
                .write_stag
                .map(|(stag, addr)| RemoteBuf { stag, addr }),
        };
        self.stags.set(task.index(), entry);
    }

    // ---- transmit side ----

    #[cfg_attr(not(feature = "small-code"), inline)]
    fn poll_recv(&mut self) -> Option<DmOp> {
        if self.recv_posted >= self.config.recv_depth {
            return None;
        }
        let (id, buf) = self.posted.alloc(Usage::Recv)?;
        self.recv_posted = self.recv_posted.saturating_add(1);
        Some(DmOp::PostRecv {
            id,
            buf: BufRef {
                offset: buf.offset,
                len: self.recv_len,
            },
        })
    }

    #[cold]
    #[inline(never)]
    fn poll_hello_reply(&mut self, region: &mut [u8]) -> Option<DmOp> {
        let reply = self.hello_reply?;
        if self.sends_in_flight >= self.config.send_window {
            return None;
        }
        let (id, buf) = self.posted.alloc(Usage::Send)?;
        let dst = region.get_mut(buf.offset as usize..)?;
        let n = reply.emit(dst).ok()?;
        self.hello_reply = None;
        self.update_steady();
        Some(self.send(id, buf.offset, n, None))
    }

    /// Buffers kept back from data transfers so control messages and receives always find one.
    fn data_buffers_left(&self) -> bool {
        let reserve =
            usize::from(self.config.recv_depth.saturating_sub(self.recv_posted)).saturating_add(2);
        self.posted.available() > reserve
    }

    fn poll_put<B: TargetBackend>(&mut self, region: &mut [u8], backend: &mut B) -> Option<DmOp> {
        if !self.conn.may_put() || !self.data_buffers_left() {
            return None;
        }
        let (id, buf) = self.posted.alloc(Usage::Write)?;
        let put = region
            .get_mut(buf.offset as usize..(buf.offset as usize).saturating_add(buf.len as usize))
            .and_then(|dst| self.conn.next_put(dst, backend));
        let Some(put) = put else {
            self.posted.release(id);
            return None;
        };
        let Some(remote) = self
            .stags
            .get(put.task.index(), put.itt)
            .and_then(|s| s.read)
        else {
            self.posted.release(id);
            self.fail(IserError::MissingStag, backend);
            return None;
        };
        Some(DmOp::RdmaWrite {
            id,
            buf: BufRef {
                offset: buf.offset,
                len: put.len,
            },
            remote: RemoteBuf {
                stag: remote.stag,
                addr: remote.addr.wrapping_add(u64::from(put.offset)),
            },
        })
    }

    fn poll_get<B: TargetBackend>(&mut self, backend: &mut B) -> Option<DmOp> {
        if self.reads_in_flight >= self.ord || !self.data_buffers_left() {
            return None;
        }
        let get = self.conn.next_get(self.config.buf_size)?;
        let remote = self
            .stags
            .get(get.task.index(), get.itt)
            .and_then(|s| s.write);
        let usage = Usage::Read {
            task: get.task,
            offset: get.offset,
            len: get.len,
        };
        let (id, buf) = self.posted.alloc(usage)?;
        let Some(remote) = remote else {
            // RFC 7145 §7.3.3: solicited write data needs the Write STag; without one the
            // data cannot be fetched and the connection ends.
            self.posted.release(id);
            self.fail(IserError::MissingStag, backend);
            return None;
        };
        self.reads_in_flight = self.reads_in_flight.saturating_add(1);
        Some(DmOp::RdmaRead {
            id,
            buf: BufRef {
                offset: buf.offset,
                len: get.len,
            },
            remote: RemoteBuf {
                stag: remote.stag,
                addr: remote.addr.wrapping_add(u64::from(get.solicited_offset)),
            },
        })
    }

    /// The next control message to send (a SCSI Response first), written to `at`; false when
    /// there is none. Written in place: no copy of the op through the stack.
    fn poll_control<B: TargetBackend>(
        &mut self,
        region: &mut [u8],
        backend: &mut B,
        now: Instant,
        at: &mut DmOp,
    ) -> bool {
        if self.sends_in_flight >= self.config.send_window {
            return false;
        }
        if self.conn.status_ready() {
            if let Some(op) = self.poll_status(region) {
                *at = op;
                return true;
            }
        }
        if !self.conn.has_transmit() {
            return false;
        }
        let Some((id, buf)) = self.posted.alloc(Usage::Send) else {
            return false;
        };
        let start = buf.offset as usize;
        let pdu_start = start.saturating_add(ISER_HEADER_LEN);
        let end = start.saturating_add(buf.len as usize);
        let written = match region.get_mut(pdu_start..end) {
            Some(dst) => self.conn.poll_transmit(backend, now, dst),
            None => Transmit::Idle,
        };
        let n = match written {
            Transmit::Written(n) => n,
            Transmit::Idle => {
                self.posted.release(id);
                return false;
            }
            Transmit::NeedSpace(_) => {
                self.posted.release(id);
                self.fail(IserError::Resources, backend);
                return false;
            }
        };
        let Some(dst) = region
            .get_mut(start..pdu_start)
            .and_then(|d| d.first_chunk_mut())
        else {
            self.posted.release(id);
            self.fail(IserError::Resources, backend);
            return false;
        };
        *dst = ISCSI_CTRL_HEADER;
        // A SCSI Response ends its task: its STags are invalidated remotely (Send with
        // Invalidate, RFC 7145 §7.3.4) unless the initiator said it cannot take that.
        let mut invalidate = None;
        let pdu = region
            .get(pdu_start..pdu_start.saturating_add(n))
            .unwrap_or_default();
        if let Some(answer) = credit::response(pdu) {
            self.rx_credits.retire(answer);
        }
        if pdu.first().map(|b| Opcode(b & 0x3f)) == Some(Opcode::SCSI_RESPONSE) {
            let itt = pdu
                .get(16..20)
                .and_then(|b| <[u8; 4]>::try_from(b).ok())
                .map(u32::from_be_bytes);
            let task = self.conn.take_status_sent();
            let taken = itt
                .zip(task)
                .and_then(|(itt, task)| self.stags.take_invalidate(task.index(), itt));
            if let Some(stag) = taken {
                if !self.peer_cm.send_inv_not_supported {
                    invalidate = stag;
                }
            }
        }
        *at = self.send(
            id,
            buf.offset,
            ISER_HEADER_LEN.saturating_add(n),
            invalidate,
        );
        true
    }

    /// A SCSI Response the session hands over with its ITT: no PDU to look at again for the
    /// credit it answers and the STags it ends.
    fn poll_status(&mut self, region: &mut [u8]) -> Option<DmOp> {
        let (id, buf) = self.posted.alloc(Usage::Send)?;
        let start = buf.offset as usize;
        let end = start.saturating_add(buf.len as usize);
        let sent = region
            .get_mut(start..end)
            .and_then(|dst| dst.split_at_mut_checked(ISER_HEADER_LEN))
            .and_then(|(header, pdu)| {
                header.copy_from_slice(&ISCSI_CTRL_HEADER);
                self.conn.poll_status(pdu)
            });
        let Some((n, itt, task)) = sent else {
            self.posted.release(id);
            return None;
        };
        self.rx_credits.retire(credit::Answer::Itt(itt));
        // The Response ends its task: its STags are invalidated remotely (Send with
        // Invalidate, RFC 7145 §7.3.4) unless the initiator said it cannot take that.
        let invalidate = self
            .stags
            .take_invalidate(task.index(), itt)
            .flatten()
            .filter(|_| !self.peer_cm.send_inv_not_supported);
        Some(self.send(
            id,
            buf.offset,
            ISER_HEADER_LEN.saturating_add(n),
            invalidate,
        ))
    }

    /// The Send of the first `len` bytes of the send buffer at `offset`, counted in flight.
    #[cfg_attr(not(feature = "small-code"), inline(always))]
    fn send(&mut self, id: WrId, offset: u32, len: usize, invalidate: Option<u32>) -> DmOp {
        self.sends_in_flight = self.sends_in_flight.saturating_add(1);
        DmOp::Send {
            id,
            buf: BufRef {
                offset,
                len: len as u32,
            },
            invalidate,
        }
    }

    #[cold]
    #[inline(never)]
    fn poll_shutdown(&mut self, now: Instant) -> Option<DmOp> {
        // Let the last Sends (a Logout Response) complete before tearing down.
        if self.sends_in_flight > 0 && self.error.is_none() {
            return None;
        }
        if self.disconnect_sent {
            return None;
        }
        self.disconnect_sent = true;
        self.close_stage(now);
        Some(DmOp::Disconnect)
    }

    // ---- bookkeeping ----

    /// Moves the typestate to LoggedIn once the login completes (the target side never waits
    /// for a Hello: real initiators do not send one).
    #[cold]
    #[inline(never)]
    fn track_login(&mut self, now: Instant) {
        if !self.conn.is_full_feature() {
            return;
        }
        self.logged_in = true;
        self.update_steady();
        if self.stage.as_ref().map(|s| s.stage()) == Some(crate::conn::StageKind::Connected) {
            if let Some(stage) = self.stage.take() {
                let (next, _) = stage.step(ConnEvent::EnableDatamover, now);
                self.stage = next;
            }
        }
    }

    fn update_steady(&mut self) {
        self.steady = self.logged_in && self.error.is_none() && self.hello_reply.is_none();
    }

    fn close_stage(&mut self, now: Instant) {
        if let Some(stage) = self.stage.take() {
            let (next, _) = stage.step(ConnEvent::Close, now);
            self.stage = next;
        }
    }

    #[cold]
    #[inline(never)]
    fn fail<B: TargetBackend>(&mut self, error: IserError, backend: &mut B) {
        // Work requests flushed after we asked for the disconnect (logout) are the teardown
        // itself, not a failure.
        if self.disconnect_sent && error == IserError::WorkRequest(WcStatus::Flushed) {
            self.conn.connection_lost(backend);
            return;
        }
        if self.error.is_none() {
            warn!("iSER connection failed: {:?}", error);
            self.error = Some(error);
            self.steady = false;
        }
        self.conn.connection_lost(backend);
    }
}

#[cfg(test)]
mod tests {
    use super::{short_command, whole_command};

    #[test]
    fn test_whole_command_takes_only_a_whole_scsi_command_without_ahs() {
        let mut msg = [0u8; 48 + 8];
        msg[0] = 0x01; // SCSI Command
        assert_eq!(
            whole_command(&msg[..48]).map(|(_, d)| d.len()),
            Some(0),
            "no data segment"
        );
        assert!(
            whole_command(&msg).is_none(),
            "trailing bytes beyond any padding"
        );
        msg[7] = 5; // DataSegmentLength 5: 3 bytes of padding may follow
        assert_eq!(whole_command(&msg[..53]).map(|(_, d)| d.len()), Some(5));
        assert_eq!(whole_command(&msg[..56]).map(|(_, d)| d.len()), Some(5));
        assert!(whole_command(&msg[..54]).is_none(), "part of the padding");
        assert!(
            whole_command(&msg[..48]).is_none(),
            "segment announced, not sent"
        );
        msg[7] = 0;
        msg[4] = 1; // one word of AHS
        assert!(
            whole_command(&msg[..48]).is_none(),
            "AHS takes the general path"
        );
        msg[4] = 0;
        msg[0] = 0x05; // Data-Out
        assert!(whole_command(&msg[..48]).is_none(), "only SCSI Commands");
    }

    #[test]
    fn test_short_command_detects_announced_but_missing_immediate_data() {
        let mut bhs = [0u8; 48];
        bhs[0] = 0x01; // SCSI Command
        bhs[7] = 0x02; // DataSegmentLength 512
        bhs[6] = 0x00;
        assert_eq!(
            short_command(&bhs),
            Some(48),
            "header only: no immediate data sent"
        );
        let mut with_data = bhs.to_vec();
        with_data.extend_from_slice(&[0u8; 512]);
        assert_eq!(short_command(&with_data), None, "the data is there");
        bhs[7] = 0;
        assert_eq!(short_command(&bhs), None, "nothing announced");
        bhs[0] = 0x00;
        bhs[7] = 2;
        assert_eq!(short_command(&bhs), None, "only SCSI Commands");
    }
}
