//! The target side of one iSCSI connection over TCP, sans-IO: bytes in through
//! [`TargetConn::handle_bytes`], PDUs out through [`TargetConn::poll_transmit`], time through
//! `now`. Login (RFC 7143 §6, §11.12–13), full feature phase (§4.2, §11), logout (§11.14–15).
//!
//! Poll order for the caller: after input, call `poll_transmit` until it returns
//! [`Transmit::Idle`]; then wait for input or until `poll_timeout`, and call `handle_timeout`.

mod ffp;
mod login;
mod rdma;
mod task;
// The tests drive connections over iSCSI/TCP.
#[cfg(test)]
#[cfg(feature = "tcp")]
mod tests;
mod tx;

pub use rdma::{GetData, PutData, TaskRef};
pub use task::MAX_R2T_PER_TASK;
pub use tx::PING_DATA_MAX;

/// How often a connection asks the backend for the status of a deferred task
/// ([`crate::scsi::Finish::Deferred`]).
pub const DEFERRED_POLL: Duration = Duration::from_millis(50);

use crate::negotiate::Negotiated;
use crate::session::backend::{TargetBackend, TargetId};
use crate::task::TaskTable;
use crate::time::{Duration, Instant};
use crate::wire::digest::crc32c;
use crate::wire::frame::{Digests, FrameError, Pdu};
use crate::wire::{pad_len, BHS_LEN};

use login::LoginState;
use task::Task;
use tx::{TxItem, TxQueue};

/// Limits and timers of the target role, with production defaults.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TargetConfig {
    /// MaxRecvDataSegmentLength we declare (RFC 7143 §13.12).
    pub max_recv_data_segment_length: u32,
    /// MaxBurstLength we accept at most (§13.13).
    pub max_burst_length: u32,
    /// FirstBurstLength we accept at most (§13.14).
    pub first_burst_length: u32,
    /// Whether we require InitialR2T=Yes (§13.10).
    pub initial_r2t: bool,
    /// Whether we accept ImmediateData=Yes (§13.11).
    pub immediate_data: bool,
    /// MaxOutstandingR2T we accept at most (§13.17), ≤ [`MAX_R2T_PER_TASK`].
    pub max_outstanding_r2t: u16,
    /// Commands the initiator may have outstanding (the CmdSN window, §4.2.2.1).
    pub queue_depth: u32,
    /// Idle time after which we send a NOP-In ping; `None` disables keepalive.
    pub nop_in_interval: Option<Duration>,
    /// How long the initiator has to answer a ping before the connection is dropped.
    pub nop_in_timeout: Duration,
    /// How long a login may take before the connection is dropped.
    pub login_timeout: Duration,
    /// Whether header and data digests (CRC32C) may be negotiated.
    pub allow_digests: bool,
}

impl Default for TargetConfig {
    fn default() -> Self {
        TargetConfig {
            max_recv_data_segment_length: 262_144,
            max_burst_length: 1_048_576,
            first_burst_length: 262_144,
            initial_r2t: false,
            immediate_data: true,
            max_outstanding_r2t: 1,
            queue_depth: 128,
            nop_in_interval: Some(Duration::from_secs(15)),
            nop_in_timeout: Duration::from_secs(15),
            login_timeout: Duration::from_secs(15),
            allow_digests: true,
        }
    }
}

/// What [`TargetConn::poll_transmit`] did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[must_use]
pub enum Transmit {
    /// One PDU of this many bytes was written at the start of the buffer.
    Written(usize),
    /// The next PDU needs a buffer of at least this many bytes.
    NeedSpace(usize),
    /// Nothing to send now.
    Idle,
}

/// Connection counters, for logs and the daemon's status.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct ConnStats {
    /// PDUs received.
    pub pdus_in: u64,
    /// PDUs sent.
    pub pdus_out: u64,
    /// SCSI commands received.
    pub commands: u64,
    /// PDUs rejected.
    pub rejects: u64,
    /// Digest errors seen.
    pub digest_errors: u64,
}

/// Why a connection ended, when it did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum CloseReason {
    /// Orderly logout.
    Logout,
    /// Login failed; the final Login Response carried this status (class << 8 | detail).
    LoginFailed(u16),
    /// The login took too long.
    LoginTimeout,
    /// The initiator did not answer a NOP-In ping.
    PingTimeout,
    /// A header digest error or an unparseable header (RFC 7143 §7.8: nothing after it can be trusted).
    FramingError,
    /// The initiator broke a protocol rule that leaves no way to carry on.
    ProtocolError,
    /// The peer went away.
    ConnectionLost,
    /// TARGET COLD RESET: the connection ends after its response (RFC 7143 §11.5.1).
    TargetColdReset,
}

/// How SCSI data crosses the wire.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum DataMode {
    /// In Data-In, R2T and Data-Out PDUs (iSCSI/TCP).
    #[cfg(feature = "tcp")]
    Pdus,
    /// By RDMA Write and Read, asked for through [`TargetConn::next_put`] and [`TargetConn::next_get`] (iSER).
    Rdma,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Stage {
    Login,
    FullFeature,
    /// Logout Response queued: send it, then close.
    LoggingOut,
    Closed(CloseReason),
}

/// Which task scans may find work, one bit per scan. A scan that finds nothing clears its bit;
/// whatever gives a task work sets the bit of the scan that finds it (all of them where that is
/// not known). Saves scanning the task table on every poll, and one test says "none".
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Hints(u8);

impl Hints {
    /// `poll_transmit`: a task has a PDU to send.
    pub(crate) const TX: u8 = 1;
    /// `next_put`: a read task has data to put.
    pub(crate) const PUT: u8 = 2;
    /// `next_get`: a write task has data to get.
    pub(crate) const GET: u8 = 4;

    pub(crate) const fn has(self, bit: u8) -> bool {
        self.0 & bit != 0
    }

    pub(crate) fn set(&mut self, bit: u8, on: bool) {
        if on {
            self.insert(bit);
        } else {
            self.remove(bit);
        }
    }

    pub(crate) fn insert(&mut self, bit: u8) {
        self.0 |= bit;
    }

    pub(crate) fn remove(&mut self, bit: u8) {
        self.0 &= !bit;
    }

    /// No scan may find work.
    pub(crate) const fn none(self) -> bool {
        self.0 == 0
    }

    /// A task has Data-In to move: by RDMA Write (`next_put`) or in Data-In PDUs.
    pub(crate) fn data_in(&mut self, mode: DataMode) {
        self.insert(match mode {
            DataMode::Rdma => Self::PUT,
            #[cfg(feature = "tcp")]
            DataMode::Pdus => Self::TX,
        });
    }

    /// A write task may want data: by RDMA Read (`next_get`) or by R2T PDUs.
    pub(crate) fn data_out(&mut self, mode: DataMode) {
        self.insert(match mode {
            DataMode::Rdma => Self::GET,
            #[cfg(feature = "tcp")]
            DataMode::Pdus => Self::TX,
        });
    }

    pub(crate) fn touch(&mut self) {
        self.0 = Self::TX | Self::PUT | Self::GET;
    }
}

/// Session facts fixed at login.
#[derive(Clone, Copy, Debug)]
pub(crate) struct SessionInfo {
    pub tsih: u16,
    pub target: Option<TargetId>,
    pub nexus: u16,
    pub discovery: bool,
}

/// The target side of one connection. `TASKS` bounds the commands in flight; it should be at least
/// the configured queue depth.
#[derive(Debug)]
pub struct TargetConn<const TASKS: usize> {
    config: TargetConfig,
    mode: DataMode,
    stage: Stage,
    login: LoginState,
    session: Option<SessionInfo>,
    params: Negotiated,
    rx_digests: Digests,
    tx_digests: Digests,
    stat_sn: u32,
    exp_cmd_sn: u32,
    tasks: TaskTable<Task, TASKS>,
    /// Control PDUs (login, text, NOP, TMF, logout, reject); task PDUs come from the task table.
    txq: TxQueue<32>,
    /// Where the round-robin over tasks with output resumes.
    next_task: usize,
    /// Where the round-robin over tasks with RDMA data to move resumes.
    next_data: usize,
    hints: Hints,
    /// Under RDMA, a task whose status is due (set where its status is set), so the datamover
    /// takes its SCSI Response without a scan ([`Self::poll_status`]); others are found by the
    /// `TX` scan.
    status_due: Option<crate::task::TaskSlot>,
    /// The task whose SCSI Response [`Self::poll_transmit`] wrote last (see
    /// [`Self::take_status_sent`]).
    status_sent: Option<TaskRef>,
    /// A TARGET COLD RESET response whose transmission ends the connection.
    close_after_tmf: Option<u32>,
    ping_data: [u8; PING_DATA_MAX],
    next_ttt: u32,
    last_rx: Instant,
    /// When to ask the backend again for the status of deferred tasks (none deferred: `None`).
    deferred_due: Option<Instant>,
    ping: Option<(u32, Instant)>,
    deadline: Option<Instant>,
    rx_needed: usize,
    stats: ConnStats,
}

impl<const TASKS: usize> TargetConn<TASKS> {
    /// A new iSCSI/TCP connection accepted at `now`. `entropy` seeds CHAP challenges and the
    /// initial StatSN. (Feature `tcp`.)
    #[cfg(feature = "tcp")]
    pub fn new(config: &TargetConfig, entropy: [u8; 32], now: Instant) -> Self {
        Self::with_mode(config, DataMode::Pdus, entropy, now)
    }

    /// A new connection whose datamover is iSER: the login negotiates RDMAExtensions=Yes under
    /// the iSER key policy, and SCSI data moves by RDMA (see [`Self::next_put`], [`Self::next_get`]).
    pub fn new_iser(config: &TargetConfig, entropy: [u8; 32], now: Instant) -> Self {
        Self::with_mode(config, DataMode::Rdma, entropy, now)
    }

    fn with_mode(config: &TargetConfig, mode: DataMode, entropy: [u8; 32], now: Instant) -> Self {
        let mut config = *config;
        config.max_outstanding_r2t = config.max_outstanding_r2t.clamp(1, MAX_R2T_PER_TASK as u16);
        config.queue_depth = config.queue_depth.clamp(1, TASKS.max(1) as u32);
        let stat_sn = u32::from_be_bytes([entropy[28], entropy[29], entropy[30], entropy[31]]);
        TargetConn {
            login: LoginState::new(entropy),
            config,
            mode,
            stage: Stage::Login,
            session: None,
            params: Negotiated::new(),
            rx_digests: Digests::NONE,
            tx_digests: Digests::NONE,
            stat_sn,
            exp_cmd_sn: 0,
            tasks: TaskTable::new(),
            txq: TxQueue::new(),
            next_task: 0,
            next_data: 0,
            close_after_tmf: None,
            hints: Hints(0),
            status_due: None,
            status_sent: None,
            ping_data: [0; PING_DATA_MAX],
            next_ttt: 1,
            last_rx: now,
            deferred_due: None,
            ping: None,
            deadline: Some(now.plus(config.login_timeout)),
            rx_needed: BHS_LEN,
            stats: ConnStats::default(),
        }
    }

    /// The negotiated parameters (meaningful once logged in).
    pub fn negotiated(&self) -> &Negotiated {
        &self.params
    }

    /// The digests on received PDUs (RFC 7143 §13.1); none without `tcp` (iSER, RFC 7145 §6.4).
    fn rx_digests(&self) -> Digests {
        if cfg!(feature = "tcp") {
            self.rx_digests
        } else {
            Digests::NONE
        }
    }

    /// The digests on PDUs we send; none without `tcp`.
    fn tx_digests(&self) -> Digests {
        if cfg!(feature = "tcp") {
            self.tx_digests
        } else {
            Digests::NONE
        }
    }

    /// Counters.
    pub fn stats(&self) -> ConnStats {
        self.stats
    }

    /// Whether the login has completed and the full feature phase runs.
    pub fn is_full_feature(&self) -> bool {
        self.stage == Stage::FullFeature
    }

    /// Whether the connection has ended; the caller closes the socket once output is flushed.
    pub fn is_closed(&self) -> bool {
        matches!(self.stage, Stage::Closed(_))
    }

    /// Why the connection ended, once it has.
    pub fn close_reason(&self) -> Option<CloseReason> {
        match self.stage {
            Stage::Closed(r) => Some(r),
            _ => None,
        }
    }

    /// The session's TSIH once one exists.
    pub fn tsih(&self) -> Option<u16> {
        self.session.map(|s| s.tsih)
    }

    /// Whether [`Self::poll_transmit`] may have something to send (cheap; may say yes when a scan
    /// then finds nothing).
    pub fn may_transmit(&self) -> bool {
        !self.txq.is_empty() || self.hints.has(Hints::TX)
    }

    /// Whether a datamover polling this connection may find anything to do: outside the full
    /// feature phase always; in it, when a control PDU is queued or a task scan may find work
    /// (flags only, no scan).
    pub fn may_have_work(&self) -> bool {
        self.stage != Stage::FullFeature || !self.txq.is_empty() || !self.hints.none()
    }

    /// Whether [`Self::poll_transmit`] has a PDU to write now. Unlike [`Self::may_transmit`]
    /// it looks (a scan of the held tasks when the hint is set) and clears a stale hint, so a
    /// datamover can skip taking a send buffer for nothing.
    #[cfg_attr(not(feature = "small-code"), inline)]
    pub fn has_transmit(&mut self) -> bool {
        if !self.txq.is_empty() {
            return true;
        }
        if !self.hints.has(Hints::TX) {
            return false;
        }
        let found = self.next_transmit_task().is_some();
        self.hints.set(Hints::TX, found);
        found
    }

    /// The next task with a PDU to send, round robin from `next_task`, and the cursor after it.
    fn next_transmit_task(&self) -> Option<(crate::task::TaskSlot, usize)> {
        let rdma = self.mode == DataMode::Rdma;
        self.tasks
            .next_where(self.next_task, |t| t.wants_transmit(rdma))
    }

    /// Whether a task with this ITT is held (in its data phase, or waiting for its status).
    pub fn holds_task(&self, itt: u32) -> bool {
        self.tasks.contains_itt(crate::task::Itt(itt))
    }

    /// Total bytes the next PDU needs in the receive buffer.
    pub fn rx_needed(&self) -> usize {
        self.rx_needed
    }

    /// Largest PDU this connection may receive, for sizing the receive buffer.
    pub fn max_rx_pdu_len(&self) -> usize {
        pdu_overhead()
            .saturating_add(crate::wire::frame::MAX_AHS_LEN)
            .saturating_add(self.config.max_recv_data_segment_length as usize)
    }

    /// Consumes whole PDUs from the front of `bytes`; returns how many bytes were consumed. When it
    /// returns less than `bytes.len()`, the rest is an incomplete PDU ([`Self::rx_needed`] says how
    /// long it is in total).
    pub fn handle_bytes<B: TargetBackend>(
        &mut self,
        bytes: &[u8],
        backend: &mut B,
        now: Instant,
    ) -> usize {
        let mut consumed = 0usize;
        while !self.is_closed() && self.stage != Stage::LoggingOut {
            let rest = bytes.get(consumed..).unwrap_or_default();
            if rest.is_empty() {
                self.rx_needed = BHS_LEN;
                break;
            }
            let max_data = self.max_rx_data();
            match Pdu::parse(rest, self.rx_digests(), max_data) {
                Ok((pdu, used)) => {
                    consumed = consumed.saturating_add(used);
                    self.last_rx = now;
                    self.stats.pdus_in = self.stats.pdus_in.wrapping_add(1);
                    self.handle_pdu(&pdu, backend, now);
                }
                Err(FrameError::Incomplete { needed }) => {
                    self.rx_needed = needed;
                    break;
                }
                Err(FrameError::DataDigest { .. }) => {
                    // RFC 7143 §7.8 / §11.17: reject the PDU, keep the connection at ERL 0 only
                    // when the header can be trusted (it can: its digest passed).
                    self.stats.digest_errors = self.stats.digest_errors.wrapping_add(1);
                    let used = crate::wire::frame::pdu_len(
                        &crate::wire::Bhs::new_unchecked(rest),
                        self.rx_digests(),
                    )
                    .min(rest.len());
                    let header = header_of(rest);
                    self.reject(crate::wire::RejectReason::DATA_DIGEST_ERROR, header, 0);
                    consumed = consumed.saturating_add(used);
                }
                Err(FrameError::DataSegmentTooLong { .. }) => {
                    // §11.17.1: protocol error; the stream cannot be resynchronised without reading
                    // the oversized segment, so the connection ends after the Reject.
                    self.reject(
                        crate::wire::RejectReason::PROTOCOL_ERROR,
                        header_of(rest),
                        0,
                    );
                    self.close(backend, CloseReason::ProtocolError);
                }
                Err(_) => {
                    self.stats.digest_errors = self.stats.digest_errors.wrapping_add(1);
                    self.close(backend, CloseReason::FramingError);
                }
            }
        }
        consumed
    }

    /// Writes the next PDU into `buf`.
    pub fn poll_transmit<B: TargetBackend>(
        &mut self,
        backend: &mut B,
        now: Instant,
        buf: &mut [u8],
    ) -> Transmit {
        let _ = now;
        let Some(item) = self.txq.front() else {
            return self.poll_task_transmit(backend, buf);
        };
        let result = match item {
            TxItem::LoginResponse => self.emit_login_response(buf),
            TxItem::TextResponse => self.emit_text_response(buf),
            TxItem::ScsiResponse {
                itt,
                completion,
                exp_data_sn,
            } => self.emit_scsi_response(itt, &completion, exp_data_sn, buf),
            TxItem::NopInEcho { itt, lun, data_len } => {
                self.emit_nop_in_echo(itt, lun, data_len, buf)
            }
            TxItem::NopInPing { ttt } => self.emit_nop_in_ping(ttt, buf),
            TxItem::TmfResponse { itt, response } => self.emit_tmf_response(itt, response, buf),
            TxItem::LogoutResponse { itt, response } => {
                self.emit_logout_response(itt, response, buf)
            }
            TxItem::Reject {
                reason,
                header,
                data_sn,
            } => self.emit_reject(reason, &header, data_sn, buf),
        };
        match result {
            Emitted::Done(n) => {
                self.txq.pop();
                self.after_transmit(item, backend);
                self.stats.pdus_out = self.stats.pdus_out.wrapping_add(1);
                Transmit::Written(n)
            }
            Emitted::Skip => {
                self.txq.pop();
                self.poll_transmit(backend, now, buf)
            }
            Emitted::NeedSpace(n) => Transmit::NeedSpace(n),
        }
    }

    fn poll_task_transmit<B: TargetBackend>(
        &mut self,
        backend: &mut B,
        buf: &mut [u8],
    ) -> Transmit {
        if !self.hints.has(Hints::TX) {
            return Transmit::Idle;
        }
        loop {
            let Some((slot, cursor)) = self.next_transmit_task() else {
                self.hints.remove(Hints::TX);
                return Transmit::Idle;
            };
            self.next_task = cursor;
            match self.emit_task(slot, backend, buf) {
                Emitted::Done(n) => {
                    self.stats.pdus_out = self.stats.pdus_out.wrapping_add(1);
                    return Transmit::Written(n);
                }
                Emitted::NeedSpace(n) => return Transmit::NeedSpace(n),
                Emitted::Skip => continue,
            }
        }
    }

    /// Queues a control PDU. A full queue means the initiator floods us with requests that each
    /// want an answer; the connection ends rather than dropping one silently.
    fn enqueue(&mut self, item: TxItem) {
        if !self.txq.push(item) {
            warn!("control queue full: closing the connection");
            self.stage = Stage::Closed(CloseReason::ProtocolError);
        }
    }

    /// When [`Self::handle_timeout`] wants to be called next.
    pub fn poll_timeout(&self) -> Option<Instant> {
        if self.is_closed() {
            return None;
        }
        let ping_due = match (self.stage, self.config.nop_in_interval, self.ping) {
            (_, _, Some((_, deadline))) => Some(deadline),
            (Stage::FullFeature, Some(interval), None) => Some(self.last_rx.plus(interval)),
            _ => None,
        };
        [self.deadline, ping_due, self.deferred_due]
            .into_iter()
            .flatten()
            .min()
    }

    /// Runs timers due at `now`.
    pub fn handle_timeout<B: TargetBackend>(&mut self, backend: &mut B, now: Instant) {
        if self.is_closed() {
            return;
        }
        if let Some(deadline) = self.deadline {
            if now >= deadline && self.stage == Stage::Login {
                self.close(backend, CloseReason::LoginTimeout);
                return;
            }
        }
        if self.stage != Stage::FullFeature {
            return;
        }
        if self.deferred_due.is_some_and(|due| now >= due) {
            self.poll_deferred(backend, now);
        }
        match self.ping {
            Some((_, deadline)) if now >= deadline => {
                if self.last_rx.saturating_since(deadline).0 == 0
                    && now.saturating_since(self.last_rx) >= self.config.nop_in_timeout
                {
                    self.close(backend, CloseReason::PingTimeout);
                } else {
                    self.ping = None;
                }
            }
            None => {
                if let Some(interval) = self.config.nop_in_interval {
                    if now.saturating_since(self.last_rx) >= interval {
                        let ttt = self.alloc_ttt();
                        if self.txq.push(TxItem::NopInPing { ttt }) {
                            self.ping = Some((ttt, now.plus(self.config.nop_in_timeout)));
                        }
                    }
                }
            }
            Some(_) => {}
        }
    }

    /// The transport is gone (peer closed, error, or we closed it after [`Self::is_closed`]):
    /// abort every task and end the session. Call it once per connection, always.
    pub fn connection_lost<B: TargetBackend>(&mut self, backend: &mut B) {
        let reason = self.close_reason().unwrap_or(CloseReason::ConnectionLost);
        self.close(backend, reason);
    }

    fn close<B: TargetBackend>(&mut self, backend: &mut B, reason: CloseReason) {
        self.abort_tasks(|_| true, backend);
        if let Some(s) = self.session.take() {
            if s.tsih != 0 {
                backend.end_session(s.tsih);
            }
        }
        self.stage = Stage::Closed(reason);
        self.deadline = None;
        self.ping = None;
    }

    fn max_rx_data(&self) -> usize {
        match self.stage {
            // RFC 7143 §13.12: during login the default 8192 applies.
            Stage::Login => LOGIN_MAX_RECV_DATA_SEGMENT_LENGTH,
            _ => self
                .params
                .max_recv_data_segment_length(crate::negotiate::Role::Target)
                as usize,
        }
    }

    fn alloc_ttt(&mut self) -> u32 {
        let ttt = self.next_ttt;
        self.next_ttt = match self.next_ttt.wrapping_add(1) {
            0xffff_ffff | 0 => 1,
            n => n,
        };
        ttt
    }

    fn take_stat_sn(&mut self) -> u32 {
        let sn = self.stat_sn;
        self.stat_sn = self.stat_sn.wrapping_add(1);
        sn
    }

    /// MaxCmdSN: the window closes as task slots fill (RFC 7143 §4.2.2.1 flow control).
    fn max_cmd_sn(&self) -> u32 {
        let free = (TASKS.saturating_sub(self.tasks.len())) as u32;
        let window = self.config.queue_depth.min(free.max(1));
        self.exp_cmd_sn.wrapping_add(window).wrapping_sub(1)
    }

    #[cold]
    #[inline(never)]
    fn reject(&mut self, reason: crate::wire::RejectReason, header: [u8; BHS_LEN], data_sn: u32) {
        self.stats.rejects = self.stats.rejects.wrapping_add(1);
        self.enqueue(TxItem::Reject {
            reason,
            header,
            data_sn,
        });
    }

    fn after_transmit<B: TargetBackend>(&mut self, item: TxItem, backend: &mut B) {
        match item {
            TxItem::LoginResponse => self.login_response_sent(backend),
            TxItem::LogoutResponse { .. } => self.close(backend, CloseReason::Logout),
            TxItem::TmfResponse { itt, .. } if self.close_after_tmf == Some(itt) => {
                self.close(backend, CloseReason::TargetColdReset)
            }
            _ => {}
        }
    }
}

/// RFC 7143 §13.12: the default MaxRecvDataSegmentLength, which holds during login.
const LOGIN_MAX_RECV_DATA_SEGMENT_LENGTH: usize = 8192;

/// Bytes a PDU takes beyond its data segment at most: header, both digests, padding.
pub const fn pdu_overhead() -> usize {
    BHS_LEN + 4 + 4 + 3
}

/// The first 48 bytes of `buf`, zero-filled when shorter.
fn header_of(buf: &[u8]) -> [u8; BHS_LEN] {
    let mut h = [0u8; BHS_LEN];
    for (d, s) in h.iter_mut().zip(buf) {
        *d = *s;
    }
    h
}

/// Result of emitting one queue item.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Emitted {
    /// Wrote a PDU and the item is finished.
    Done(usize),
    /// The item has become moot (e.g. its task was aborted).
    Skip,
    /// The buffer is too small.
    NeedSpace(usize),
}

/// Completes a PDU whose BHS is in `buf[..48]` and whose data segment of `data_len` bytes follows
/// it (after the header digest when that is on): sets DataSegmentLength, pads, appends digests.
/// Returns the PDU length. The caller has checked that `buf` holds [`pdu_len_for`] bytes.
#[cfg_attr(not(feature = "small-code"), inline)]
fn seal_pdu(buf: &mut [u8], data_len: usize, digests: Digests) -> usize {
    if let Some(b) = buf.get_mut(5..8) {
        let len = (data_len as u32).to_be_bytes();
        b.copy_from_slice(&len[1..4]);
    }
    let mut at = BHS_LEN;
    if digests.header {
        let crc = crc32c(buf.get(..BHS_LEN).unwrap_or_default());
        if let Some(b) = buf.get_mut(at..at.saturating_add(4)) {
            b.copy_from_slice(&crc.to_le_bytes());
        }
        at = at.saturating_add(4);
    }
    if data_len == 0 {
        return at;
    }
    let data_start = at;
    at = at.saturating_add(data_len);
    let pad = pad_len(data_len);
    if let Some(p) = buf.get_mut(at..at.saturating_add(pad)) {
        p.fill(0);
    }
    at = at.saturating_add(pad);
    if digests.data {
        let crc = crc32c(buf.get(data_start..at).unwrap_or_default());
        if let Some(b) = buf.get_mut(at..at.saturating_add(4)) {
            b.copy_from_slice(&crc.to_le_bytes());
        }
        at = at.saturating_add(4);
    }
    at
}

/// Where the data segment starts in a PDU being built (the target sends no AHS).
const fn data_offset(digests: Digests) -> usize {
    crate::wire::frame::data_offset(0, digests)
}

/// Total PDU length for a data segment of `data_len` bytes.
fn pdu_len_for(data_len: usize, digests: Digests) -> usize {
    let mut n = data_offset(digests)
        .saturating_add(data_len)
        .saturating_add(pad_len(data_len));
    if digests.data && data_len > 0 {
        n = n.saturating_add(4);
    }
    n
}
