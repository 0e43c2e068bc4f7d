//! One iSCSI session over one connection (TCP or iSER, [`crate::link`]), driven from one thread:
//! a blocking loop around the core's sans-IO [`InitiatorConn`](iser_core::session::initiator::InitiatorConn) (PDUs or iSER messages in and
//! out, timers), with synchronous commands and a pipeline that keeps up to a queue depth of
//! reads and writes in flight.

use std::fmt;
use std::io::{self, Read};
use std::time::{Duration, Instant};

use iser_core::session::initiator::{
    CloseCause, InitiatorConfig, InitiatorEvent, InitiatorSink, LoginError, ScsiRequest, TaskError,
    TaskHandle, WriteSource,
};
use iser_core::session::ChapCredentials;
use iser_core::wire::{LoginStatus, Lun, Residual, ScsiResponseCode, ScsiStatus, StatusClass};

use crate::link::{wake, Link, SubmitFail};
use crate::scsi;
use crate::url::Transport;

/// Tasks one session can have in flight (and the largest queue depth).
pub const MAX_TASKS: usize = 256;

/// How a session logs in.
#[derive(Clone, Debug)]
pub struct Options {
    pub initiator_name: String,
    /// CHAP name and secret we answer with.
    pub chap: Option<(String, String)>,
    /// Mutual CHAP: what the target must answer with.
    pub mutual: Option<(String, String)>,
    pub header_digest: bool,
    pub data_digest: bool,
    /// Connect, login and per-command timeout.
    pub timeout: Duration,
    /// iSCSI over TCP or iSER (from the URL's scheme).
    pub transport: Transport,
}

/// What went wrong, worded for the user.
#[derive(Debug)]
pub enum Error {
    /// TCP connect failed.
    Connect { portal: String, source: io::Error },
    /// A socket call failed.
    Io {
        verb: &'static str,
        source: io::Error,
    },
    /// The target refused the login.
    LoginRefused { target: String, status: LoginStatus },
    /// The login failed on our side.
    Login { target: String, error: LoginError },
    /// Nothing happened for too long.
    Timeout { what: String },
    /// The connection ended.
    Closed { why: String },
    /// A SCSI command ended with a status other than GOOD.
    Scsi {
        what: String,
        status: ScsiStatus,
        response: ScsiResponseCode,
        sense: Vec<u8>,
    },
    /// A task ended without status.
    Task { what: String, error: TaskError },
    /// The LUN of the URL does not exist.
    LunMissing {
        lun: u16,
        target: String,
        available: Vec<u16>,
    },
    /// Anything else.
    Other(String),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Connect { portal, source } => {
                write!(f, "cannot connect to portal {portal}: {source}")
            }
            Error::Io { verb, source } => write!(f, "{verb} failed: {source}"),
            Error::LoginRefused { target, status } => write!(
                f,
                "login to {target} refused by the target: {} / {} (status {:#06x})",
                class_text(status.class),
                detail_text(*status),
                status.to_u16()
            ),
            Error::Login { target, error } => {
                write!(f, "login to {target} failed: {}", login_error_text(error))
            }
            Error::Timeout { what } => write!(f, "timed out waiting for {what}"),
            Error::Closed { why } => write!(f, "connection closed: {why}"),
            Error::Scsi {
                what,
                status,
                response,
                sense,
            } => {
                if *response != ScsiResponseCode::COMMAND_COMPLETED {
                    write!(
                        f,
                        "{what}: target failure (iSCSI response {:#04x})",
                        response.0
                    )
                } else if *status == ScsiStatus::CHECK_CONDITION {
                    write!(
                        f,
                        "{what}: CHECK CONDITION: {}",
                        scsi::describe_sense(sense)
                    )
                } else {
                    write!(f, "{what}: SCSI status {status:?}")
                }
            }
            Error::Task { what, error } => write!(f, "{what}: {error:?}"),
            Error::LunMissing {
                lun,
                target,
                available,
            } => {
                write!(f, "LUN {lun} does not exist on {target}")?;
                if available.is_empty() {
                    write!(f, " (it reports no LUNs)")
                } else {
                    let list: Vec<String> = available.iter().map(u16::to_string).collect();
                    write!(f, " (LUNs: {})", list.join(", "))
                }
            }
            Error::Other(s) => f.write_str(s),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Connect { source, .. } | Error::Io { source, .. } => Some(source),
            _ => None,
        }
    }
}

/// RFC 7143 §11.13.5 status classes in words.
pub fn class_text(c: StatusClass) -> &'static str {
    match c.0 {
        0 => "success",
        1 => "redirection",
        2 => "initiator error",
        3 => "target error",
        _ => "unknown class",
    }
}

/// RFC 7143 §11.13.5 status details in words.
pub fn detail_text(s: LoginStatus) -> String {
    let known = [
        (
            LoginStatus::TARGET_MOVED_TEMPORARILY,
            "target moved temporarily",
        ),
        (
            LoginStatus::TARGET_MOVED_PERMANENTLY,
            "target moved permanently",
        ),
        (LoginStatus::INITIATOR_ERROR, "initiator error"),
        (
            LoginStatus::AUTHENTICATION_FAILURE,
            "authentication failure",
        ),
        (
            LoginStatus::AUTHORIZATION_FAILURE,
            "authorization failure (not allowed to access the target)",
        ),
        (LoginStatus::TARGET_NOT_FOUND, "target not found"),
        (LoginStatus::TARGET_REMOVED, "target removed"),
        (LoginStatus::UNSUPPORTED_VERSION, "unsupported version"),
        (LoginStatus::TOO_MANY_CONNECTIONS, "too many connections"),
        (LoginStatus::MISSING_PARAMETER, "missing parameter"),
        (
            LoginStatus::CANT_INCLUDE_IN_SESSION,
            "cannot include in session",
        ),
        (
            LoginStatus::SESSION_TYPE_NOT_SUPPORTED,
            "session type not supported",
        ),
        (
            LoginStatus::SESSION_DOES_NOT_EXIST,
            "session does not exist",
        ),
        (
            LoginStatus::INVALID_DURING_LOGIN,
            "invalid request during login",
        ),
        (LoginStatus::TARGET_ERROR, "target error"),
        (LoginStatus::SERVICE_UNAVAILABLE, "service unavailable"),
        (LoginStatus::OUT_OF_RESOURCES, "out of resources"),
    ];
    known.iter().find(|(k, _)| *k == s).map_or_else(
        || format!("detail {:#04x}", s.detail),
        |(_, t)| t.to_string(),
    )
}

fn login_error_text(e: &LoginError) -> String {
    use iser_core::session::initiator::AuthFailure;
    match e {
        LoginError::Refused(s) => format!("refused: {}", detail_text(*s)),
        LoginError::Negotiation(n) => format!("negotiation failed: {n:?}"),
        LoginError::Authentication(AuthFailure::TargetNotAuthenticated) => {
            "the target failed mutual CHAP authentication".to_string()
        }
        LoginError::Authentication(AuthFailure::NoCredentials) => {
            "the target requires CHAP: give user%secret@ in the URL".to_string()
        }
        LoginError::Authentication(a) => format!("CHAP failed: {a:?}"),
        LoginError::ProtocolError => "the target broke the login protocol".to_string(),
        LoginError::Timeout => "the login timed out".to_string(),
        LoginError::ConnectionLost => "the target closed the connection".to_string(),
        other => format!("{other:?}"),
    }
}

/// A command's outcome, owned.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Status {
    pub response: ScsiResponseCode,
    pub status: ScsiStatus,
    pub sense: Vec<u8>,
    pub residual: Residual,
    pub read_bytes: u32,
}

impl Status {
    pub fn is_good(&self) -> bool {
        self.response == ScsiResponseCode::COMMAND_COMPLETED && self.status == ScsiStatus::GOOD
    }
}

/// Events other than task completions, owned.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    LoggedIn,
    LoginFailed(LoginError),
    Discovered(String, Option<String>),
    DiscoveryDone,
    LoggedOut,
    Closed(CloseCause),
}

/// Per-task buffers and what the connection reported.
#[derive(Debug, Default)]
pub struct Host {
    /// Per task slot: the read buffer or the write data.
    pub bufs: Vec<Vec<u8>>,
    /// Completions since last taken: (slot, result).
    pub done: Vec<(usize, Result<Status, TaskError>)>,
    pub events: Vec<Event>,
    /// Count read data without keeping it (benchmarks).
    pub discard_reads: bool,
}

impl InitiatorSink for Host {
    fn read_data(&mut self, task: TaskHandle, offset: u32, data: &[u8]) {
        if self.discard_reads {
            return;
        }
        if let Some(buf) = self.bufs.get_mut(task.index()) {
            let at = offset as usize;
            if let Some(dst) = buf.get_mut(at..at + data.len()) {
                dst.copy_from_slice(data);
            }
        }
    }

    fn event(&mut self, event: InitiatorEvent<'_>) {
        let ev = match event {
            InitiatorEvent::TaskDone { task, result } => {
                self.done.push((
                    task.index(),
                    result.map(|s| Status {
                        response: s.response,
                        status: s.status,
                        sense: s.sense.to_vec(),
                        residual: s.residual,
                        read_bytes: s.read_bytes,
                    }),
                ));
                return;
            }
            InitiatorEvent::LoggedIn { .. } => Event::LoggedIn,
            InitiatorEvent::LoginFailed(e) => Event::LoginFailed(e),
            InitiatorEvent::Discovered {
                target_name,
                target_address,
            } => Event::Discovered(target_name.to_string(), target_address.map(str::to_string)),
            InitiatorEvent::DiscoveryDone => Event::DiscoveryDone,
            InitiatorEvent::LoggedOut { .. } => Event::LoggedOut,
            InitiatorEvent::Closed(c) => Event::Closed(c),
            _ => return,
        };
        self.events.push(ev);
    }
}

impl WriteSource for Host {
    fn write_data(&mut self, task: TaskHandle, offset: u32, buf: &mut [u8]) {
        let at = offset as usize;
        match self
            .bufs
            .get(task.index())
            .and_then(|b| b.get(at..at + buf.len()))
        {
            Some(src) => buf.copy_from_slice(src),
            None => buf.fill(0),
        }
    }
}

/// One logged-in session.
pub struct Session {
    link: Link,
    pub host: Host,
    epoch: Instant,
    target: String,
    timeout: Duration,
}

impl fmt::Debug for Session {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Session")
            .field("target", &self.target)
            .finish()
    }
}

/// Microseconds since `epoch`, the core's clock.
fn clock(epoch: Instant) -> iser_core::time::Instant {
    iser_core::time::Instant(epoch.elapsed().as_micros() as u64)
}

/// Keeps a string for the life of the process: the core's configuration borrows its names and
/// secrets, and a CLI run opens a handful of sessions at most.
fn keep(s: &str) -> &'static str {
    Box::leak(s.to_string().into_boxed_str())
}

fn random_bytes() -> [u8; 32] {
    let mut e = [0u8; 32];
    if let Ok(mut f) = std::fs::File::open("/dev/urandom") {
        let _ = f.read_exact(&mut e);
    }
    // Mix in the time and a counter so that sessions of one process differ even without
    // /dev/urandom.
    static COUNTER: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64);
    for (i, b) in (t ^ n.rotate_left(32)).to_le_bytes().iter().enumerate() {
        e[i] ^= b;
        e[i + 16] ^= b.rotate_left(3);
    }
    e
}

impl Session {
    /// Connects to `portal` and logs in to `target` (`None`: a discovery session).
    pub fn open(portal: &str, target: Option<&str>, opts: &Options) -> Result<Session, Error> {
        let mut cfg = InitiatorConfig::new(keep(&opts.initiator_name), target.map(keep));
        cfg.chap = opts.chap.as_ref().map(|(n, s)| ChapCredentials {
            name: keep(n),
            secret: keep(s).as_bytes(),
        });
        cfg.mutual_chap = opts.mutual.as_ref().map(|(n, s)| ChapCredentials {
            name: keep(n),
            secret: keep(s).as_bytes(),
        });
        cfg.header_digest = opts.header_digest;
        cfg.data_digest = opts.data_digest;
        cfg.login_timeout = iser_core::time::Duration(opts.timeout.as_micros() as u64);
        cfg.max_outstanding_r2t = 4;
        let epoch = Instant::now();
        let link = Link::open(
            opts.transport,
            portal,
            &cfg,
            random_bytes(),
            || clock(epoch),
            opts.timeout,
        )?;
        let mut s = Session {
            link,
            host: Host {
                bufs: vec![Vec::new(); MAX_TASKS],
                ..Host::default()
            },
            epoch,
            target: target.unwrap_or(portal).to_string(),
            timeout: opts.timeout,
        };
        let what = "the login";
        s.wait_for(what, |h| {
            h.events
                .iter()
                .any(|e| matches!(e, Event::LoggedIn | Event::LoginFailed(_)))
        })?;
        if let Some(Event::LoginFailed(e)) = s
            .host
            .events
            .iter()
            .find(|e| matches!(e, Event::LoginFailed(_)))
        {
            return Err(match *e {
                LoginError::Refused(status) => Error::LoginRefused {
                    target: s.target.clone(),
                    status,
                },
                error => Error::Login {
                    target: s.target.clone(),
                    error,
                },
            });
        }
        s.host.events.retain(|e| *e != Event::LoggedIn);
        Ok(s)
    }

    /// The negotiated parameters.
    pub fn negotiated(&self) -> &iser_core::negotiate::Negotiated {
        self.link.session().negotiated()
    }

    /// Moves data both ways once, waiting a little for input; runs timers.
    fn pump(&mut self) -> Result<(), Error> {
        let epoch = self.epoch;
        self.link.pump(&mut self.host, || clock(epoch))
    }

    fn is_closed(&self) -> bool {
        self.link.session().is_closed()
    }

    /// Submits `req`; `write` is its data.
    fn submit(
        &mut self,
        req: &ScsiRequest<'_>,
        write: Option<&[u8]>,
    ) -> Result<TaskHandle, SubmitFail> {
        self.link.submit(req, write)
    }

    /// Pumps until `done` holds, the connection closes, or nothing happens for the timeout.
    fn wait_for(&mut self, what: &str, done: impl Fn(&Host) -> bool) -> Result<(), Error> {
        let start = Instant::now();
        loop {
            if done(&self.host) {
                return Ok(());
            }
            if self.is_closed() {
                if done(&self.host) {
                    return Ok(());
                }
                return Err(self.closed_error());
            }
            if start.elapsed() > self.timeout {
                return Err(Error::Timeout {
                    what: what.to_string(),
                });
            }
            self.pump()?;
        }
    }

    fn closed_error(&self) -> Error {
        for e in self.host.events.iter().rev() {
            match e {
                Event::Closed(c) => {
                    return Error::Closed {
                        why: format!("{c:?}"),
                    }
                }
                Event::LoginFailed(error) => {
                    return Error::Login {
                        target: self.target.clone(),
                        error: *error,
                    }
                }
                _ => {}
            }
        }
        Error::Closed {
            why: "the target closed the connection".to_string(),
        }
    }

    /// Runs SendTargets (in a discovery session) and returns (name, address) pairs.
    pub fn send_targets(&mut self) -> Result<Vec<(String, Option<String>)>, Error> {
        self.wait_for("the SendTargets response", |h| {
            h.events.contains(&Event::DiscoveryDone)
        })?;
        Ok(self
            .host
            .events
            .iter()
            .filter_map(|e| match e {
                Event::Discovered(n, a) => Some((n.clone(), a.clone())),
                _ => None,
            })
            .collect())
    }

    /// Runs one command and waits for it: `read_len` bytes in, or `write` out.
    pub fn command(
        &mut self,
        lun: u16,
        cdb: &[u8],
        read_len: u32,
        write: Option<Vec<u8>>,
    ) -> Result<(Status, Vec<u8>), Error> {
        let lun = Lun::from_index(lun).unwrap_or(Lun(0));
        let req = match &write {
            Some(w) => ScsiRequest::write(lun, cdb, w.len() as u32),
            None if read_len > 0 => ScsiRequest::read(lun, cdb, read_len),
            None => ScsiRequest::no_data(lun, cdb),
        };
        let h = match self.submit(&req, write.as_deref()) {
            Ok(h) => h,
            // Nothing else is in flight to wait for.
            Err(SubmitFail::Busy) => {
                return Err(Error::Other("no room for the command's data".into()))
            }
            Err(SubmitFail::Failed(e)) => return Err(e),
        };
        let slot = h.index();
        self.host.bufs[slot] = match write {
            Some(w) => w,
            None => vec![0u8; read_len as usize],
        };
        self.wait_for(
            &format!("command {:#04x}", cdb.first().copied().unwrap_or(0)),
            |host| host.done.iter().any(|(s, _)| *s == slot),
        )?;
        let at = self
            .host
            .done
            .iter()
            .position(|(s, _)| *s == slot)
            .ok_or_else(|| Error::Other("lost completion".into()))?;
        let (_, result) = self.host.done.remove(at);
        let mut data = std::mem::take(&mut self.host.bufs[slot]);
        let what = format!("SCSI command {:#04x}", cdb.first().copied().unwrap_or(0));
        let status = result.map_err(|error| Error::Task { what, error })?;
        data.truncate(status.read_bytes as usize);
        Ok((status, data))
    }

    /// Runs a command that must end GOOD, retrying twice through unit attentions.
    pub fn command_ok(
        &mut self,
        what: &str,
        lun: u16,
        cdb: &[u8],
        read_len: u32,
    ) -> Result<Vec<u8>, Error> {
        for attempt in 0..3 {
            let (s, data) = self.command(lun, cdb, read_len, None)?;
            if s.is_good() {
                return Ok(data);
            }
            if attempt < 2 && scsi::is_unit_attention(&s.sense) {
                continue;
            }
            return Err(Error::Scsi {
                what: what.to_string(),
                status: s.status,
                response: s.response,
                sense: s.sense,
            });
        }
        Err(Error::Other(format!(
            "{what}: unit attention did not clear"
        )))
    }

    /// LUNs the target reports.
    pub fn report_luns(&mut self) -> Result<Vec<u16>, Error> {
        let data = self.command_ok("REPORT LUNS", 0, &scsi::report_luns(4096), 4096)?;
        Ok(scsi::parse_report_luns(&data))
    }

    /// Checks the LUN exists and clears its unit attentions; returns (blocks, block length).
    pub fn open_lun(&mut self, lun: u16) -> Result<(u64, u32), Error> {
        for _ in 0..3 {
            let (s, _) = self.command(lun, &scsi::TEST_UNIT_READY, 0, None)?;
            if s.is_good() {
                break;
            }
            if scsi::is_lun_not_supported(&s.sense) {
                let available = self.report_luns().unwrap_or_default();
                return Err(Error::LunMissing {
                    lun,
                    target: self.target.clone(),
                    available,
                });
            }
            if !scsi::is_unit_attention(&s.sense) {
                return Err(Error::Scsi {
                    what: format!("TEST UNIT READY on LUN {lun}"),
                    status: s.status,
                    response: s.response,
                    sense: s.sense,
                });
            }
        }
        let data = self.command_ok("READ CAPACITY(16)", lun, &scsi::read_capacity16(), 32)?;
        let (blocks, block_len) = scsi::parse_capacity16(&data)
            .ok_or_else(|| Error::Other("READ CAPACITY(16): short data".into()))?;
        if block_len == 0 {
            return Err(Error::Other("READ CAPACITY(16): block length 0".into()));
        }
        Ok((blocks, block_len))
    }

    /// Keeps up to `qd` reads and writes of `job` in flight until it has no more. Reads sleep
    /// until a quarter of the I/Os in flight can have been answered ([`wake`]).
    pub fn pipeline<J: Job>(
        &mut self,
        lun: u16,
        block_len: u32,
        qd: usize,
        job: &mut J,
    ) -> Result<(), Error> {
        let r = self.run_pipeline(lun, block_len, qd, job);
        self.link.wake_after(0, usize::MAX);
        r
    }

    fn run_pipeline<J: Job>(
        &mut self,
        lun: u16,
        block_len: u32,
        qd: usize,
        job: &mut J,
    ) -> Result<(), Error> {
        let qd = qd.clamp(1, MAX_TASKS);
        let lun_field = Lun::from_index(lun).unwrap_or(Lun(0));
        let mut slots: Vec<Option<(IoReq, Instant)>> = vec![None; MAX_TASKS];
        let mut inflight = 0usize;
        let mut spare: Vec<u8> = Vec::new();
        let mut exhausted = false;
        let mut last_progress = Instant::now();
        // An I/O that waits for room in the iSER data area.
        let mut held: Option<IoReq> = None;
        // The shortest answer any I/O of this pipeline gets: a lower bound for those in flight.
        let mut smallest_answer = usize::MAX;
        loop {
            while !exhausted && inflight < qd {
                let req = match held.take() {
                    Some(r) => r,
                    None => {
                        spare.clear();
                        let Some(req) = job.next(&mut spare) else {
                            exhausted = true;
                            break;
                        };
                        req
                    }
                };
                let bytes = req.blocks.saturating_mul(block_len);
                let cdb = scsi::rw16(req.write, req.lba, req.blocks);
                let r = if req.write {
                    ScsiRequest::write(lun_field, &cdb, bytes)
                } else {
                    ScsiRequest::read(lun_field, &cdb, bytes)
                };
                let h = match self.link.submit(&r, req.write.then_some(spare.as_slice())) {
                    Ok(h) => h,
                    Err(SubmitFail::Busy) if inflight > 0 => {
                        held = Some(req);
                        break;
                    }
                    Err(SubmitFail::Busy) => {
                        return Err(Error::Other("no room for an I/O's data".into()))
                    }
                    Err(SubmitFail::Failed(e)) => return Err(e),
                };
                let buf = &mut self.host.bufs[h.index()];
                if req.write {
                    std::mem::swap(buf, &mut spare);
                } else if !self.host.discard_reads {
                    buf.clear();
                    buf.resize(bytes as usize, 0);
                }
                slots[h.index()] = Some((req, Instant::now()));
                inflight += 1;
                smallest_answer = smallest_answer.min(wake::answer_len(req.write, bytes));
            }
            if inflight == 0 && held.is_none() {
                return Ok(());
            }
            self.link.wake_after(inflight, smallest_answer);
            self.pump()?;
            if !self.host.done.is_empty() {
                last_progress = Instant::now();
            }
            for (slot, result) in std::mem::take(&mut self.host.done) {
                let Some((req, started)) = slots[slot].take() else {
                    continue;
                };
                inflight -= 1;
                let what = || {
                    format!(
                        "{} of {} blocks at LBA {}",
                        if req.write { "WRITE(16)" } else { "READ(16)" },
                        req.blocks,
                        req.lba
                    )
                };
                let status = result.map_err(|error| Error::Task {
                    what: what(),
                    error,
                })?;
                if !status.is_good() {
                    return Err(Error::Scsi {
                        what: what(),
                        status: status.status,
                        response: status.response,
                        sense: status.sense,
                    });
                }
                job.complete(&req, &self.host.bufs[slot], started.elapsed())?;
            }
            if self.is_closed() {
                return Err(self.closed_error());
            }
            if last_progress.elapsed() > self.timeout {
                return Err(Error::Timeout {
                    what: format!("{inflight} I/Os"),
                });
            }
        }
    }

    /// Logs out and closes the connection.
    pub fn logout(mut self) -> Result<(), Error> {
        if self.is_closed() {
            return Ok(());
        }
        self.link
            .session_mut()
            .logout()
            .map_err(|e| Error::Other(format!("logout: {e:?}")))?;
        self.wait_for("the logout response", |h| {
            h.events
                .iter()
                .any(|e| matches!(e, Event::LoggedOut | Event::Closed(_)))
        })
    }
}

/// One read or write of the pipeline.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IoReq {
    pub write: bool,
    pub lba: u64,
    pub blocks: u32,
    /// The job's own tag.
    pub tag: u64,
}

/// A stream of I/Os for [`Session::pipeline`].
pub trait Job {
    /// The next I/O, or `None` when there are no more. For a write, fills `buf` with its data.
    fn next(&mut self, buf: &mut Vec<u8>) -> Option<IoReq>;
    /// An I/O ended GOOD; `data` is the read data (empty when reads are discarded).
    fn complete(&mut self, req: &IoReq, data: &[u8], latency: Duration) -> Result<(), Error>;
}
