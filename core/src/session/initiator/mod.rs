//! The initiator side of one iSCSI connection over TCP, sans-IO (RFC 7143): login as initiator
//! (§6, §11.12–13) with AuthMethod None or CHAP (§12.1.3), discovery with SendTargets
//! (Appendix C), then the full feature phase: SCSI commands inside the CmdSN window (§4.2.2.1),
//! immediate and unsolicited data (§13.10–§13.14), Data-Out answering R2Ts (§11.8), Data-In and
//! status (§11.4, §11.7), NOP (§11.18–19), task management (§11.5) and logout (§11.14).
//!
//! Bytes in through [`InitiatorConn::handle_bytes`], which hands read data and events to an
//! [`InitiatorSink`]; PDUs out through [`InitiatorConn::poll_transmit`], which pulls write data
//! from a [`WriteSource`] straight into the caller's buffer.
//!
//! Poll order for the caller: after [`InitiatorConn::new`], after input and after
//! [`InitiatorConn::submit`] (or any other request), call `poll_transmit` until it returns
//! [`Transmit::Idle`]; then wait for input or until [`InitiatorConn::poll_timeout`], and call
//! [`InitiatorConn::handle_timeout`].

mod event;
mod ffp;
mod login;
mod task;
mod tx;

// The tests drive connections over iSCSI/TCP.
#[cfg(test)]
#[cfg(feature = "tcp")]
mod tests;

pub use event::{
    AuthFailure, CloseCause, InitiatorEvent, InitiatorSink, LoginError, NoWriteData, ScsiRequest,
    SubmitError, TaskError, TaskHandle, TaskStatus, TmfHandle, WriteSource,
};
pub use task::MAX_R2T;

pub use crate::session::target::Transmit;

use crate::negotiate::{Negotiated, Role};
use crate::session::backend::ChapCredentials;
use crate::task::{IttAllocator, TaskTable};
use crate::time::{Duration, Instant};
use crate::wire::frame::{Digests, FrameError, Pdu};
use crate::wire::{Cdb, Lun, TaskMgmtFunction, BHS_LEN, RESERVED_TAG};

use login::LoginState;
use task::{Task, Tmf};

/// Task management requests that may be outstanding at once.
pub const MAX_TMF: usize = 4;
/// Target pings (NOP-In) we hold answers for at once; more are answered as the queue drains.
const MAX_NOP_REPLIES: usize = 4;

/// What the initiator asks for and accepts in its login, with defaults close to open-iscsi's.
#[derive(Clone, Copy, Debug)]
pub struct InitiatorConfig<'a> {
    /// Our iSCSI name (RFC 7143 §13.5).
    pub initiator_name: &'a str,
    /// Our alias (§13.7), if any.
    pub initiator_alias: Option<&'a str>,
    /// The target to log in to; `None` opens a discovery session (§13.21).
    pub target_name: Option<&'a str>,
    /// CHAP name and secret we prove ourselves with (§12.1.3). With it we offer
    /// `AuthMethod=CHAP,None`; without it `None`. (Feature `chap`.)
    #[cfg(feature = "chap")]
    pub chap: Option<ChapCredentials<'a>>,
    /// Mutual CHAP: the name and secret the target must prove itself with. With it we offer
    /// only CHAP. (Feature `chap`.)
    #[cfg(feature = "chap")]
    pub mutual_chap: Option<ChapCredentials<'a>>,
    /// MaxRecvDataSegmentLength we declare (§13.12).
    pub max_recv_data_segment_length: u32,
    /// MaxBurstLength we offer (§13.13).
    pub max_burst_length: u32,
    /// FirstBurstLength we offer (§13.14).
    pub first_burst_length: u32,
    /// InitialR2T we offer (§13.10); `false` asks to send unsolicited Data-Out.
    pub initial_r2t: bool,
    /// ImmediateData we offer (§13.11).
    pub immediate_data: bool,
    /// MaxOutstandingR2T we accept at most (§13.17), 1..=[`MAX_R2T`].
    pub max_outstanding_r2t: u16,
    /// Offer HeaderDigest=CRC32C (preferred, None accepted).
    pub header_digest: bool,
    /// Offer DataDigest=CRC32C (preferred, None accepted).
    pub data_digest: bool,
    /// How long the login may take.
    pub login_timeout: Duration,
    /// Idle time after which we ping the target with a NOP-Out; `None` disables keepalive.
    pub nop_interval: Option<Duration>,
    /// How long the target has to answer a ping.
    pub nop_timeout: Duration,
}

impl<'a> InitiatorConfig<'a> {
    /// Defaults for `initiator_name` logging in to `target_name` (`None`: discovery).
    pub const fn new(initiator_name: &'a str, target_name: Option<&'a str>) -> Self {
        InitiatorConfig {
            initiator_name,
            initiator_alias: None,
            target_name,
            #[cfg(feature = "chap")]
            chap: None,
            #[cfg(feature = "chap")]
            mutual_chap: None,
            max_recv_data_segment_length: 262_144,
            max_burst_length: 16_776_192,
            first_burst_length: 262_144,
            initial_r2t: false,
            immediate_data: true,
            max_outstanding_r2t: 1,
            header_digest: false,
            data_digest: false,
            login_timeout: Duration::from_secs(15),
            nop_interval: None,
            nop_timeout: Duration::from_secs(15),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Stage {
    Login,
    FullFeature,
    Closed,
}

/// Where a logout stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Logout {
    None,
    Queued { itt: u32 },
    Sent { itt: u32 },
}

/// Where a SendTargets exchange stands (discovery sessions, RFC 7143 Appendix C).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Discovery {
    Idle,
    /// A Text Request is due: the first (`ttt` reserved) or a continuation.
    Queued {
        itt: u32,
        ttt: u32,
    },
    Sent {
        itt: u32,
    },
    Done,
}

/// A NOP-Out we owe: the answer to a target ping.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct NopReply {
    ttt: u32,
    lun: Lun,
}

/// Our own keepalive ping.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Ping {
    None,
    Queued { itt: u32, deadline: Instant },
    Sent { itt: u32, deadline: Instant },
}

/// The initiator side of one connection (one connection per session, ErrorRecoveryLevel 0).
/// `TASKS` bounds the SCSI commands in flight.
#[derive(Debug)]
pub struct InitiatorConn<'a, const TASKS: usize> {
    config: InitiatorConfig<'a>,
    /// iSER: solicited data moves by RDMA (the target reads and writes our buffers), so no
    /// Data-In or R2T arrives and only unsolicited data goes out as PDUs.
    rdma: bool,
    stage: Stage,
    login: LoginState<'a>,
    params: Negotiated,
    digests: Digests,
    isid: [u8; 6],
    tsih: u16,
    /// CmdSN of the next non-immediate command.
    cmd_sn: u32,
    exp_cmd_sn: u32,
    max_cmd_sn: u32,
    exp_stat_sn: u32,
    tasks: TaskTable<Task, TASKS>,
    tmfs: TaskTable<Tmf, MAX_TMF>,
    itts: IttAllocator,
    /// Submission counter: commands go out in this order.
    next_seq: u32,
    /// Round-robin cursor over tasks with Data-Out to send.
    next_task: usize,
    nop_replies: [Option<NopReply>; MAX_NOP_REPLIES],
    logout: Logout,
    discovery: Discovery,
    ping: Ping,
    last_rx: Instant,
    deadline: Option<Instant>,
    rx_needed: usize,
}

impl<'a, const TASKS: usize> InitiatorConn<'a, TASKS> {
    /// A new connection whose transport is up at `now`; the first Login Request is ready for
    /// [`Self::poll_transmit`]. `entropy` seeds the ISID (random format, RFC 7143 §11.12.5), the
    /// initial CmdSN, ITTs and our CHAP challenge: give each connection fresh random bytes.
    /// (Feature `tcp`.)
    #[cfg(feature = "tcp")]
    pub fn new(config: &InitiatorConfig<'a>, entropy: [u8; 32], now: Instant) -> Self {
        Self::with_mode(config, false, entropy, now)
    }

    /// A new connection whose datamover is iSER (RFC 7145): the login negotiates
    /// RDMAExtensions=Yes under the iSER key policy; the datamover advertises STags for each
    /// command's buffer and the target moves solicited data by RDMA.
    pub fn new_iser(config: &InitiatorConfig<'a>, entropy: [u8; 32], now: Instant) -> Self {
        Self::with_mode(config, true, entropy, now)
    }

    /// The Initiator Task Tag of a task in flight, which keys its STags in the iSER header.
    pub fn itt_of(&self, task: TaskHandle) -> Option<u32> {
        self.tasks.itt_of(task.0).map(|itt| itt.0)
    }

    /// Bytes of a write task sent unsolicited (immediate data plus unsolicited Data-Out), fixed
    /// once its command has gone out.
    pub fn unsolicited_len(&self, task: TaskHandle) -> Option<u32> {
        self.tasks.get(task.0).map(|t| t.unsolicited_end)
    }

    fn with_mode(
        config: &InitiatorConfig<'a>,
        rdma: bool,
        entropy: [u8; 32],
        now: Instant,
    ) -> Self {
        let mut config = *config;
        config.max_outstanding_r2t = config.max_outstanding_r2t.clamp(1, MAX_R2T as u16);
        // ISID type 10b "random" (§11.12.5): A reserved, B and C random, D a qualifier.
        let isid = [
            0x80, entropy[0], entropy[1], entropy[2], entropy[3], entropy[4],
        ];
        let cmd_sn = u32::from_be_bytes([entropy[5], entropy[6], entropy[7], entropy[8]]);
        let first_itt = u32::from_be_bytes([entropy[9], entropy[10], entropy[11], entropy[12]]);
        let mut conn = InitiatorConn {
            login: LoginState::new(entropy),
            config,
            rdma,
            stage: Stage::Login,
            params: Negotiated::new(),
            digests: Digests::NONE,
            isid,
            tsih: 0,
            cmd_sn,
            exp_cmd_sn: cmd_sn,
            max_cmd_sn: cmd_sn,
            exp_stat_sn: 0,
            tasks: TaskTable::new(),
            tmfs: TaskTable::new(),
            itts: IttAllocator::starting_at(first_itt),
            next_seq: 0,
            next_task: 0,
            nop_replies: [None; MAX_NOP_REPLIES],
            logout: Logout::None,
            discovery: Discovery::Idle,
            ping: Ping::None,
            last_rx: now,
            deadline: Some(now.plus(config.login_timeout)),
            rx_needed: BHS_LEN,
        };
        if let Err(e) = conn.start_login() {
            conn.login.failed = Some(e);
        }
        conn
    }

    /// The negotiated parameters (meaningful once logged in).
    pub fn negotiated(&self) -> &Negotiated {
        &self.params
    }

    /// The digests of this connection (RFC 7143 §13.1); none without `tcp` (iSER, RFC 7145 §6.4).
    fn digests(&self) -> Digests {
        if cfg!(feature = "tcp") {
            self.digests
        } else {
            Digests::NONE
        }
    }

    /// The ISID of this session.
    pub fn isid(&self) -> [u8; 6] {
        self.isid
    }

    /// The TSIH the target assigned (0 before the login completes).
    pub fn tsih(&self) -> u16 {
        self.tsih
    }

    /// Whether SCSI commands may be submitted.
    pub fn is_full_feature(&self) -> bool {
        self.stage == Stage::FullFeature && self.logout == Logout::None && !self.is_discovery()
    }

    /// Whether this is a discovery session.
    pub fn is_discovery(&self) -> bool {
        self.config.target_name.is_none()
    }

    /// Whether the connection has ended; the caller closes the socket once output is flushed.
    pub fn is_closed(&self) -> bool {
        self.stage == Stage::Closed
    }

    /// SCSI tasks outstanding (submitted and not yet completed).
    pub fn tasks_in_flight(&self) -> usize {
        self.tasks.len()
    }

    /// Commands the CmdSN window admits now beyond those queued (RFC 7143 §4.2.2.1).
    pub fn window(&self) -> u32 {
        let len = crate::task::window_len(
            crate::task::SerialNumber(self.exp_cmd_sn),
            crate::task::SerialNumber(self.max_cmd_sn),
        )
        .unwrap_or(0);
        let used = self.cmd_sn.wrapping_sub(self.exp_cmd_sn);
        len.saturating_sub(used)
    }

    /// Total bytes the next PDU needs in the receive buffer.
    pub fn rx_needed(&self) -> usize {
        self.rx_needed
    }

    /// Largest PDU this connection may receive, for sizing the receive buffer.
    pub fn max_rx_pdu_len(&self) -> usize {
        crate::session::target::pdu_overhead()
            .saturating_add(self.config.max_recv_data_segment_length.max(8192) as usize)
    }

    /// Largest PDU [`Self::poll_transmit`] writes once logged in (a Data-Out or a command with
    /// immediate data and an Extended CDB AHS), for sizing the transmit buffer.
    pub fn max_tx_pdu_len(&self) -> usize {
        let seg = self
            .params
            .max_send_data_segment_length(Role::Initiator)
            .max(8192) as usize;
        crate::session::target::pdu_overhead()
            .saturating_add(crate::wire::ahs::extended_cdb_ahs_len(
                crate::wire::ahs::MAX_CDB_LEN,
            ))
            .saturating_add(seg)
    }

    /// Queues a SCSI command. It is sent, in submission order, when the CmdSN window admits it;
    /// its data and status come back through the sink.
    pub fn submit(&mut self, req: &ScsiRequest<'_>) -> Result<TaskHandle, SubmitError> {
        if !self.is_full_feature() {
            return Err(SubmitError::NotReady);
        }
        if req.read_len > 0 && req.write_len > 0 {
            return Err(SubmitError::Bidirectional);
        }
        if req.cdb.is_empty() {
            return Err(SubmitError::BadCdb);
        }
        let cdb = Cdb::new(req.cdb).map_err(|_| SubmitError::BadCdb)?;
        let itt = self.alloc_itt()?;
        let seq = self.next_seq;
        self.next_seq = self.next_seq.wrapping_add(1);
        let task = Task::new(req.lun, cdb, req.attr, req.read_len, req.write_len, seq);
        match self.tasks.insert(itt, task) {
            Ok(slot) => Ok(TaskHandle(slot)),
            Err(_) => Err(SubmitError::TableFull),
        }
    }

    /// Drops a task whose command has not been sent yet (no event follows). Returns false when
    /// the task is unknown or already on the wire (use [`Self::abort_task`] then).
    pub fn cancel(&mut self, task: TaskHandle) -> bool {
        match self.tasks.get(task.0) {
            Some(t) if t.cmd_sn.is_none() => self.tasks.remove(task.0).is_some(),
            _ => false,
        }
    }

    /// Asks the target to abort a task already sent (ABORT TASK, RFC 7143 §11.5.1). The task
    /// ends with [`TaskError::Aborted`] unless its status arrives first.
    pub fn abort_task(&mut self, task: TaskHandle) -> Result<TmfHandle, SubmitError> {
        if self.stage != Stage::FullFeature || self.is_discovery() {
            return Err(SubmitError::NotReady);
        }
        let (lun, cmd_sn) = match self.tasks.get(task.0) {
            Some(t) => match t.cmd_sn {
                Some(sn) => (t.lun, sn),
                None => return Err(SubmitError::NoSuchTask),
            },
            None => return Err(SubmitError::NoSuchTask),
        };
        let itt = self.tasks.itt_of(task.0).ok_or(SubmitError::NoSuchTask)?;
        self.queue_tmf(Tmf {
            function: TaskMgmtFunction::ABORT_TASK,
            lun,
            referenced: Some((task.0, itt.0, cmd_sn)),
            sent: false,
        })
    }

    /// Asks the target to reset a logical unit (LOGICAL UNIT RESET, RFC 7143 §11.5.1); every
    /// task sent to it ends with [`TaskError::Aborted`] when the target confirms.
    pub fn lun_reset(&mut self, lun: Lun) -> Result<TmfHandle, SubmitError> {
        self.task_management(TaskMgmtFunction::LOGICAL_UNIT_RESET, lun)
    }

    /// Sends a task management function that names no single task (ABORT TASK SET, CLEAR TASK
    /// SET, LOGICAL UNIT RESET, TARGET WARM/COLD RESET, ...).
    pub fn task_management(
        &mut self,
        function: TaskMgmtFunction,
        lun: Lun,
    ) -> Result<TmfHandle, SubmitError> {
        if self.stage != Stage::FullFeature || self.is_discovery() {
            return Err(SubmitError::NotReady);
        }
        self.queue_tmf(Tmf {
            function,
            lun,
            referenced: None,
            sent: false,
        })
    }

    fn queue_tmf(&mut self, tmf: Tmf) -> Result<TmfHandle, SubmitError> {
        let itt = self.alloc_itt()?;
        self.tmfs
            .insert(itt, tmf)
            .map(TmfHandle)
            .map_err(|_| SubmitError::TableFull)
    }

    /// Ends the session (Logout, reason "close the session", RFC 7143 §11.14). No commands are
    /// sent after it; tasks still open end with [`TaskError::Aborted`] when the response comes.
    pub fn logout(&mut self) -> Result<(), SubmitError> {
        if self.stage != Stage::FullFeature || self.logout != Logout::None {
            return Err(SubmitError::NotReady);
        }
        let itt = self.alloc_itt()?;
        self.logout = Logout::Queued { itt: itt.0 };
        Ok(())
    }

    /// A tag unused by any task, TMF or control request in flight.
    fn alloc_itt(&mut self) -> Result<crate::task::Itt, SubmitError> {
        let tasks = &self.tasks;
        let tmfs = &self.tmfs;
        let reserved = self.control_itts();
        self.itts
            .allocate_with(
                |itt| {
                    tasks.contains_itt(itt) || tmfs.contains_itt(itt) || reserved.contains(&itt.0)
                },
                tasks
                    .len()
                    .saturating_add(tmfs.len())
                    .saturating_add(reserved.len()),
            )
            .map_err(|_| SubmitError::TableFull)
    }

    /// ITTs held by the login, logout, discovery and ping exchanges.
    fn control_itts(&self) -> [u32; 4] {
        let logout = match self.logout {
            Logout::Queued { itt } | Logout::Sent { itt } => itt,
            Logout::None => RESERVED_TAG,
        };
        let text = match self.discovery {
            Discovery::Queued { itt, .. } | Discovery::Sent { itt } => itt,
            _ => RESERVED_TAG,
        };
        let ping = match self.ping {
            Ping::Queued { itt, .. } | Ping::Sent { itt, .. } => itt,
            Ping::None => RESERVED_TAG,
        };
        [self.login.itt, logout, text, ping]
    }

    /// Consumes whole PDUs from the front of `bytes`; returns how many bytes were consumed. When
    /// it returns less than `bytes.len()`, the rest is an incomplete PDU ([`Self::rx_needed`] says
    /// how long it is in total).
    pub fn handle_bytes<S: InitiatorSink>(
        &mut self,
        bytes: &[u8],
        now: Instant,
        sink: &mut S,
    ) -> usize {
        if let Some(e) = self.login.failed.take() {
            self.fail_login(e, sink);
        }
        let mut consumed = 0usize;
        while !self.is_closed() {
            let rest = bytes.get(consumed..).unwrap_or_default();
            if rest.is_empty() {
                self.rx_needed = BHS_LEN;
                break;
            }
            let max_data = self.max_rx_data();
            match Pdu::parse(rest, self.digests(), max_data) {
                Ok((pdu, used)) => {
                    consumed = consumed.saturating_add(used);
                    self.last_rx = now;
                    self.handle_pdu(&pdu, now, sink);
                }
                Err(FrameError::Incomplete { needed }) => {
                    self.rx_needed = needed;
                    break;
                }
                Err(FrameError::DataDigest { consumed: used, .. }) => {
                    // RFC 7143 §7.8: the header is sound, the data are not. At ErrorRecoveryLevel
                    // 0 the affected task cannot be recovered; drop the connection.
                    consumed = consumed.saturating_add(used);
                    warn!("data digest error from the target");
                    self.close(CloseCause::ProtocolError, sink);
                }
                Err(FrameError::DataSegmentTooLong { .. }) => {
                    warn!("target sent a data segment above our MaxRecvDataSegmentLength");
                    self.close(CloseCause::ProtocolError, sink);
                }
                Err(_) => self.close(CloseCause::FramingError, sink),
            }
        }
        consumed
    }

    /// When [`Self::handle_timeout`] wants to be called next.
    pub fn poll_timeout(&self) -> Option<Instant> {
        if self.login.failed.is_some() {
            // A failure found while building a request waits to be reported: at once.
            return Some(Instant(0));
        }
        if self.is_closed() {
            return None;
        }
        let ping = match (self.stage, self.ping, self.config.nop_interval) {
            (_, Ping::Queued { deadline, .. } | Ping::Sent { deadline, .. }, _) => Some(deadline),
            (Stage::FullFeature, Ping::None, Some(interval)) => Some(self.last_rx.plus(interval)),
            _ => None,
        };
        match (self.deadline, ping) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Runs timers due at `now`.
    pub fn handle_timeout<S: InitiatorSink>(&mut self, now: Instant, sink: &mut S) {
        if let Some(e) = self.login.failed.take() {
            self.fail_login(e, sink);
        }
        if self.is_closed() {
            return;
        }
        if let Some(deadline) = self.deadline {
            if now >= deadline && self.stage == Stage::Login {
                self.fail_login(LoginError::Timeout, sink);
                return;
            }
        }
        if self.stage != Stage::FullFeature {
            return;
        }
        match self.ping {
            Ping::Queued { deadline, .. } | Ping::Sent { deadline, .. } if now >= deadline => {
                if now.saturating_since(self.last_rx) >= self.config.nop_timeout {
                    self.close(CloseCause::PingTimeout, sink);
                } else {
                    // Something arrived meanwhile: the target is alive.
                    self.ping = Ping::None;
                }
            }
            Ping::None => {
                if let Some(interval) = self.config.nop_interval {
                    if now.saturating_since(self.last_rx) >= interval {
                        if let Ok(itt) = self.alloc_itt() {
                            self.ping = Ping::Queued {
                                itt: itt.0,
                                deadline: now.plus(self.config.nop_timeout),
                            };
                        }
                    }
                }
            }
            _ => {}
        }
    }

    /// The transport is gone: every task ends with [`TaskError::ConnectionLost`] and the
    /// connection closes (a login in progress fails). Safe to call more than once.
    pub fn connection_lost<S: InitiatorSink>(&mut self, sink: &mut S) {
        if let Some(e) = self.login.failed.take() {
            self.fail_login(e, sink);
        }
        match self.stage {
            Stage::Closed => {}
            Stage::Login => self.fail_login(LoginError::ConnectionLost, sink),
            Stage::FullFeature => self.close(CloseCause::ConnectionLost, sink),
        }
    }

    /// Ends the connection: every open task and TMF is reported, then `Closed`.
    fn close<S: InitiatorSink>(&mut self, cause: CloseCause, sink: &mut S) {
        if self.stage == Stage::Closed {
            return;
        }
        let error = match cause {
            CloseCause::ConnectionLost | CloseCause::PingTimeout => TaskError::ConnectionLost,
            _ => TaskError::ProtocolError,
        };
        self.end_all_tasks(error, sink);
        self.stage = Stage::Closed;
        self.deadline = None;
        sink.event(InitiatorEvent::Closed(cause));
    }

    /// Reports and drops every task; open task management requests are dropped (the `Closed`
    /// or `LoggedOut` event that follows ends them).
    fn end_all_tasks<S: InitiatorSink>(&mut self, error: TaskError, sink: &mut S) {
        while let Some((slot, _)) = self.tasks.next_where(0, |_| true) {
            let _ = self.tasks.remove(slot);
            sink.event(InitiatorEvent::TaskDone {
                task: TaskHandle(slot),
                result: Err(error),
            });
        }
        self.tmfs.retain(|_, _| false, |_, _| {});
    }

    fn max_rx_data(&self) -> usize {
        match self.stage {
            // RFC 7143 §13.12: during login the default 8192 applies.
            Stage::Login => 8192,
            _ => self
                .params
                .max_recv_data_segment_length(Role::Initiator)
                .max(8192) as usize,
        }
    }
}
