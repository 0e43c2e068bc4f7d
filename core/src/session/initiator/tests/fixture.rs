//! Test fixtures: a RAM-disk [`TargetBackend`], a recording [`InitiatorSink`] and [`WriteSource`],
//! and a [`Pair`] that joins an [`InitiatorConn`] to a [`TargetConn`] in memory with `drive()`.

use std::boxed::Box;
use std::collections::HashMap;
use std::string::{String, ToString};
use std::vec;
use std::vec::Vec;

use crate::scsi::{
    target as scsi_target, CommandRequest, Completion, Finish, LogicalUnit, LuConfig, LuIdentity,
    RamDisk, ScsiTask, Start, Ticket,
};
use crate::session::backend::{
    AuthPolicy, ChapCredentials, SessionRefused, TargetBackend, TargetId, TargetListing,
};
use crate::session::initiator::{
    InitiatorConfig, InitiatorConn, InitiatorEvent, InitiatorSink, LoginError, ScsiRequest,
    TaskError, TaskHandle, TmfHandle, WriteSource,
};
use crate::session::target::{TargetConfig, TargetConn, Transmit};
use crate::time::{Duration, Instant};
use crate::wire::{Lun, Residual, ScsiResponseCode, ScsiStatus, TaskMgmtResponse};

pub const INAME: &str = "iqn.2024-01.org.example:host";
pub const TNAME: &str = "iqn.2024-01.org.example:disk";
pub const BLOCK: u32 = 512;

/// One target with one RAM-disk LU at LUN 0.
pub struct RamBackend {
    pub lu: LogicalUnit<RamDisk<'static>>,
    pub auth: AuthPolicy<'static>,
    pub discovery_auth: AuthPolicy<'static>,
    pub sessions: u16,
    pub ended: Vec<u16>,
    pub address: &'static str,
}

const LUNS: [u64; 1] = [0];

impl RamBackend {
    pub fn new(bytes: usize) -> Self {
        let data: &'static mut [u8] = Box::leak(vec![0u8; bytes].into_boxed_slice());
        let disk = RamDisk::new(data, BLOCK).unwrap();
        let mut id = LuIdentity::new(0x1234_5678_9abc_def0);
        id.target_name = crate::scsi::FixedStr::new(TNAME).unwrap();
        RamBackend {
            lu: LogicalUnit::new(disk, id, LuConfig::default()),
            auth: AuthPolicy::None,
            discovery_auth: AuthPolicy::None,
            sessions: 0,
            ended: Vec::new(),
            address: "127.0.0.1:3260,1",
        }
    }

    #[cfg(feature = "chap")]
    pub fn with_chap(mut self, name: &'static str, secret: &'static str) -> Self {
        self.auth = AuthPolicy::Chap {
            initiator: ChapCredentials {
                name,
                secret: secret.as_bytes(),
            },
            target: None,
        };
        self
    }

    #[cfg(feature = "chap")]
    pub fn with_mutual(mut self, name: &'static str, secret: &'static str) -> Self {
        if let AuthPolicy::Chap { initiator, .. } = self.auth {
            self.auth = AuthPolicy::Chap {
                initiator,
                target: Some(ChapCredentials {
                    name,
                    secret: secret.as_bytes(),
                }),
            };
        }
        self
    }
}

impl TargetBackend for RamBackend {
    fn find_target(&self, name: &str) -> Option<TargetId> {
        (name == TNAME).then_some(TargetId(0))
    }
    fn may_access(&self, _target: TargetId, _initiator: &str) -> bool {
        true
    }
    fn auth_policy(&self, _target: TargetId) -> AuthPolicy<'_> {
        self.auth
    }
    fn discovery_auth_policy(&self) -> AuthPolicy<'_> {
        self.discovery_auth
    }
    fn for_each_target(&self, _initiator: &str, f: &mut dyn FnMut(TargetListing<'_>)) {
        f(TargetListing {
            name: TNAME,
            address: self.address,
        });
        f(TargetListing {
            name: "iqn.2024-01.org.example:other",
            address: "[::1]:3261,2",
        });
    }
    fn portal_group_tag(&self, _target: TargetId) -> u16 {
        1
    }
    fn new_session(
        &mut self,
        _initiator: &str,
        _isid: [u8; 6],
        _target: Option<TargetId>,
    ) -> Result<u16, SessionRefused> {
        self.sessions += 1;
        Ok(self.sessions)
    }
    fn end_session(&mut self, tsih: u16) {
        self.ended.push(tsih);
    }
    fn nexus(&mut self, _initiator: &str, _isid: [u8; 6], _target: TargetId) -> u16 {
        0
    }
    fn scsi_start(&mut self, _t: TargetId, lun: Lun, req: &CommandRequest<'_>) -> Start {
        if lun != Lun(0) || scsi_target::is_target_command(req.cdb) {
            scsi_target::start(req, &LUNS)
        } else {
            self.lu.start(req)
        }
    }
    fn scsi_read(
        &mut self,
        _t: TargetId,
        _lun: Lun,
        task: &ScsiTask,
        offset: u32,
        buf: &mut [u8],
    ) -> Result<usize, Completion> {
        if task.is_target_task() {
            scsi_target::read_data(task, &LUNS, offset, buf)
        } else {
            self.lu.read_data(task, offset, buf)
        }
    }
    fn scsi_write(
        &mut self,
        _t: TargetId,
        _lun: Lun,
        task: &mut ScsiTask,
        offset: u32,
        data: &[u8],
    ) -> Result<(), Completion> {
        self.lu.write_data(task, offset, data)
    }
    fn scsi_abort(&mut self, _t: TargetId, _lun: Lun, task: &ScsiTask) {
        if !task.is_target_task() {
            self.lu.abort(task);
        }
    }
    fn scsi_finish(&mut self, _t: TargetId, _lun: Lun, task: &ScsiTask) -> Finish {
        if task.is_target_task() {
            scsi_target::finish(task).into()
        } else {
            self.lu.finish(task).into()
        }
    }
    fn scsi_poll(
        &mut self,
        _: TargetId,
        _: Lun,
        t: &ScsiTask,
        ticket: Ticket,
    ) -> Option<Completion> {
        self.lu.deferred_status(t, ticket)
    }
    fn task_management(&mut self, _t: TargetId, lun: Lun, _function: u8, _nexus: u16) -> bool {
        lun == Lun(0)
    }
}

/// An owned copy of an event.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Ev {
    LoggedIn(u16),
    LoginFailed(LoginError),
    Discovered(String, Option<String>),
    DiscoveryDone,
    Done {
        task: TaskHandle,
        result: Result<Status, TaskError>,
    },
    Tmf(TmfHandle, TaskMgmtResponse),
    Rejected(crate::wire::RejectReason),
    Async(crate::wire::AsyncEvent),
    LoggedOut(bool),
    Closed(crate::session::initiator::CloseCause),
}

/// An owned [`crate::session::initiator::TaskStatus`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Status {
    pub response: ScsiResponseCode,
    pub status: ScsiStatus,
    pub sense: Vec<u8>,
    pub residual: Residual,
    pub read_bytes: u32,
}

/// Records events; places read data into per-task buffers; serves write data.
#[derive(Default)]
pub struct Host {
    pub events: Vec<Ev>,
    pub reads: HashMap<usize, Vec<u8>>,
    pub writes: HashMap<usize, Vec<u8>>,
    /// Every (task, offset, len) delivered, to check for overlaps.
    pub pieces: Vec<(usize, u32, usize)>,
}

impl InitiatorSink for Host {
    fn read_data(&mut self, task: TaskHandle, offset: u32, data: &[u8]) {
        let buf = self
            .reads
            .get_mut(&task.index())
            .expect("read data for a task without a buffer");
        let at = offset as usize;
        buf[at..at + data.len()].copy_from_slice(data);
        self.pieces.push((task.index(), offset, data.len()));
    }

    fn event(&mut self, event: InitiatorEvent<'_>) {
        let ev = match event {
            InitiatorEvent::LoggedIn { tsih } => Ev::LoggedIn(tsih),
            InitiatorEvent::LoginFailed(e) => Ev::LoginFailed(e),
            InitiatorEvent::Discovered {
                target_name,
                target_address,
            } => Ev::Discovered(
                target_name.to_string(),
                target_address.map(|a| a.to_string()),
            ),
            InitiatorEvent::DiscoveryDone => Ev::DiscoveryDone,
            InitiatorEvent::TaskDone { task, result } => Ev::Done {
                task,
                result: result.map(|s| Status {
                    response: s.response,
                    status: s.status,
                    sense: s.sense.to_vec(),
                    residual: s.residual,
                    read_bytes: s.read_bytes,
                }),
            },
            InitiatorEvent::TaskManagementDone { tmf, response } => Ev::Tmf(tmf, response),
            InitiatorEvent::Rejected { reason } => Ev::Rejected(reason),
            InitiatorEvent::AsyncMessage { event, .. } => Ev::Async(event),
            InitiatorEvent::LoggedOut { success } => Ev::LoggedOut(success),
            InitiatorEvent::Closed(c) => Ev::Closed(c),
        };
        self.events.push(ev);
    }
}

impl WriteSource for Host {
    fn write_data(&mut self, task: TaskHandle, offset: u32, buf: &mut [u8]) {
        let data = self
            .writes
            .get(&task.index())
            .expect("write data for a task without a buffer");
        let at = offset as usize;
        buf.copy_from_slice(&data[at..at + buf.len()]);
    }
}

impl Host {
    /// Removes and returns the completion of `task`, if it came.
    pub fn take_done(&mut self, task: TaskHandle) -> Option<Result<Status, TaskError>> {
        let at = self
            .events
            .iter()
            .position(|e| matches!(e, Ev::Done { task: t, .. } if *t == task))?;
        match self.events.remove(at) {
            Ev::Done { result, .. } => Some(result),
            _ => None,
        }
    }
}

/// An initiator and a target joined by two in-memory byte pipes.
pub struct Pair<const T: usize> {
    pub ini: InitiatorConn<'static, T>,
    pub tgt: TargetConn<T>,
    pub backend: RamBackend,
    pub host: Host,
    pub now: Instant,
    pub to_tgt: Vec<u8>,
    pub to_ini: Vec<u8>,
    /// Largest number of bytes handed to `handle_bytes` at once (to cut PDUs), 0 = all.
    pub chunk: usize,
    /// Transmit buffer size.
    pub tx_buf: usize,
    /// PDUs the initiator sent.
    pub pdus_to_target: usize,
    ibuf: Vec<u8>,
    tbuf: Vec<u8>,
}

pub fn entropy(seed: u8) -> [u8; 32] {
    let mut e = [0u8; 32];
    for (i, b) in e.iter_mut().enumerate() {
        *b = seed.wrapping_mul(31).wrapping_add(i as u8).wrapping_mul(7);
    }
    e
}

impl<const T: usize> Pair<T> {
    pub fn new(icfg: InitiatorConfig<'static>, tcfg: TargetConfig, backend: RamBackend) -> Self {
        Self::with_entropy(icfg, tcfg, backend, entropy(1), entropy(2))
    }

    pub fn with_entropy(
        icfg: InitiatorConfig<'static>,
        tcfg: TargetConfig,
        backend: RamBackend,
        ie: [u8; 32],
        te: [u8; 32],
    ) -> Self {
        let now = Instant(1_000_000);
        Pair {
            ini: InitiatorConn::new(&icfg, ie, now),
            tgt: TargetConn::new(&tcfg, te, now),
            backend,
            host: Host::default(),
            now,
            to_tgt: Vec::new(),
            to_ini: Vec::new(),
            chunk: 0,
            tx_buf: 1 << 20,
            pdus_to_target: 0,
            ibuf: Vec::new(),
            tbuf: Vec::new(),
        }
    }

    /// Moves bytes both ways until neither side has anything to say.
    pub fn drive(&mut self) {
        for _ in 0..1_000_000 {
            let mut progress = false;
            // Initiator → target.
            let mut buf = core::mem::take(&mut self.ibuf);
            buf.resize(self.tx_buf, 0);
            loop {
                match self.ini.poll_transmit(self.now, &mut buf, &mut self.host) {
                    Transmit::Written(n) => {
                        self.to_tgt.extend_from_slice(&buf[..n]);
                        self.pdus_to_target += 1;
                        progress = true;
                    }
                    Transmit::NeedSpace(n) => {
                        assert!(n > buf.len(), "NeedSpace({n}) with {} bytes", buf.len());
                        buf = vec![0u8; n];
                    }
                    Transmit::Idle => break,
                }
            }
            self.ibuf = buf;
            if !self.to_tgt.is_empty() {
                let end = self.cut(self.to_tgt.len());
                let used = self
                    .tgt
                    .handle_bytes(&self.to_tgt[..end], &mut self.backend, self.now);
                self.to_tgt.drain(..used);
                progress |= used > 0 || end < self.to_tgt.len() + used;
            }
            // Target → initiator.
            let mut tbuf = core::mem::take(&mut self.tbuf);
            tbuf.resize(1 << 20, 0);
            loop {
                match self
                    .tgt
                    .poll_transmit(&mut self.backend, self.now, &mut tbuf)
                {
                    Transmit::Written(n) => {
                        self.to_ini.extend_from_slice(&tbuf[..n]);
                        progress = true;
                    }
                    Transmit::NeedSpace(n) => tbuf = vec![0u8; n],
                    Transmit::Idle => break,
                }
            }
            self.tbuf = tbuf;
            if !self.to_ini.is_empty() {
                let end = self.cut(self.to_ini.len());
                let used = self
                    .ini
                    .handle_bytes(&self.to_ini[..end], self.now, &mut self.host);
                self.to_ini.drain(..used);
                progress |= used > 0 || end < self.to_ini.len() + used;
            }
            if !progress {
                return;
            }
        }
        panic!("pair did not settle");
    }

    /// How many of `len` pending bytes to hand over: everything, or a chunk that may cut a PDU
    /// (the receiver then waits; a later call hands over the rest).
    fn cut(&mut self, len: usize) -> usize {
        if self.chunk == 0 {
            len
        } else {
            // Grow each time so a PDU longer than the chunk still gets through eventually.
            let c = self.chunk;
            self.chunk = c.max(1) + 1;
            len.min(c.max(1))
        }
    }

    /// Advances time and runs both sides' timers.
    pub fn advance(&mut self, d: Duration) {
        self.now = self.now.plus(d);
        self.ini.handle_timeout(self.now, &mut self.host);
        self.tgt.handle_timeout(&mut self.backend, self.now);
    }

    /// Logs in and checks both sides agree.
    pub fn login(&mut self) {
        self.drive();
        assert_eq!(
            self.host.events.first(),
            Some(&Ev::LoggedIn(1)),
            "{:?}",
            self.host.events
        );
        self.host.events.clear();
        assert!(self.ini.is_full_feature());
        assert!(self.tgt.is_full_feature());
        assert_eq!(self.ini.negotiated(), self.tgt.negotiated());
    }

    /// Submits `req` with a read buffer of `read_len` or the write data given.
    pub fn submit(&mut self, req: &ScsiRequest<'_>, write: Option<Vec<u8>>) -> TaskHandle {
        let h = self.ini.submit(req).unwrap();
        if req.read_len > 0 {
            self.host
                .reads
                .insert(h.index(), vec![0xee; req.read_len as usize]);
        }
        if let Some(w) = write {
            self.host.writes.insert(h.index(), w);
        }
        h
    }

    /// Runs one command to completion.
    pub fn run(
        &mut self,
        req: &ScsiRequest<'_>,
        write: Option<Vec<u8>>,
    ) -> (Result<Status, TaskError>, Vec<u8>) {
        let h = self.submit(req, write);
        self.drive();
        let r = self.host.take_done(h).expect("command did not complete");
        let data = self.host.reads.remove(&h.index()).unwrap_or_default();
        self.host.writes.remove(&h.index());
        (r, data)
    }
}

/// READ(16) / WRITE(16) CDBs.
pub fn rw16(write: bool, lba: u64, blocks: u32) -> [u8; 16] {
    let mut c = [0u8; 16];
    c[0] = if write { 0x8a } else { 0x88 };
    c[2..10].copy_from_slice(&lba.to_be_bytes());
    c[10..14].copy_from_slice(&blocks.to_be_bytes());
    c
}

pub const TUR: [u8; 6] = [0; 6];

/// A default initiator config for TNAME.
pub fn icfg() -> InitiatorConfig<'static> {
    InitiatorConfig::new(INAME, Some(TNAME))
}

/// A pair logged in with default configs, the unit attention cleared.
pub fn ready<const T: usize>(icfg: InitiatorConfig<'static>, tcfg: TargetConfig) -> Pair<T> {
    let mut p = Pair::<T>::new(icfg, tcfg, RamBackend::new(1 << 20));
    p.login();
    // The first command after power-on reports a unit attention (SAM-5 §5.14).
    let _ = p.run(&ScsiRequest::no_data(Lun(0), &TUR), None);
    p
}
