//! iSER (RFC 7145) through the verbs adapter: an RDMA CM connection carrying the core's
//! [`IserInitiator`]. Commands' data live in the connection's registered region, after the
//! engine's control buffers: write data is copied in before the command goes out (the target
//! RDMA Reads it), read data is copied out when the command ends (the target RDMA Wrote it).

use std::collections::VecDeque;
use std::net::{SocketAddr, ToSocketAddrs};
use std::time::Duration;

use iser_core::dm::iser::{IserConfig, IserInitiator, IserSubmitError};
use iser_core::dm::{BufRef, DmEvent, DmOp};
use iser_core::session::initiator::{InitiatorConfig, InitiatorConn, ScsiRequest, TaskHandle};
use iser_core::time::Instant;
use iser_core::wire::{CmPrivateData, Residual};
use iser_verbs::{CompletionMode, ConnectParams, Connection, QueueSpec};

use super::area::DataArea;
use crate::session::{Error, Host, MAX_TASKS};

/// Control buffers of the engine: its receive ring and send window, with room to spare.
pub const BUFS: usize = 64;
/// Bytes for commands' data: with `--bs 1m --qd 8` the pipeline needs 8 MiB; larger queues
/// wait for room.
pub const DATA_AREA: u32 = 32 << 20;
/// Largest transfer `read`, `write` and `verify` put in one command over iSER: the Linux iSER
/// initiator's default (`iser_max_sectors` = 1024 sectors); tgt refuses larger RDMA transfers
/// and drops the connection.
pub const ISER_MAX_IO: u64 = 512 * 1024;
/// Longest a pump waits for a completion.
const MAX_WAIT: Duration = Duration::from_millis(200);

type Engine = IserInitiator<'static, MAX_TASKS, BUFS>;

/// Why a command could not go out now.
#[derive(Debug)]
pub enum SubmitFail {
    /// No room in the data area until commands in flight finish.
    Busy,
    Failed(Error),
}

/// A command's piece of the data area.
#[derive(Clone, Copy, Debug)]
struct Piece {
    buf: BufRef,
    read: bool,
}

/// One iSER connection and its engine.
#[derive(Debug)]
pub struct IserLink {
    conn: Connection,
    engine: Box<Engine>,
    area: DataArea,
    pieces: Vec<Option<Piece>>,
    events: Vec<DmEvent>,
    who: String,
}

/// The error for a machine without RDMA, in the words the user needs.
fn verbs_error(portal: &str, e: iser_verbs::Error) -> Error {
    if e.is_no_device() {
        return Error::Other(format!(
            "no RDMA device: iser:// needs one ({e}); use iscsi:// for iSCSI over TCP"
        ));
    }
    Error::Other(format!("iser://{portal}: {e}"))
}

impl IserLink {
    /// Resolves `portal`, connects with the iSER CM private data and hands the engine the
    /// target's; the engine's Login Request is ready to go.
    pub fn open(
        portal: &str,
        cfg: &InitiatorConfig<'static>,
        entropy: [u8; 32],
        now: impl Fn() -> Instant,
        timeout: Duration,
    ) -> Result<IserLink, Error> {
        let addr: SocketAddr = portal
            .to_socket_addrs()
            .map_err(|e| Error::Connect {
                portal: portal.to_string(),
                source: e,
            })?
            .next()
            .ok_or_else(|| Error::Other(format!("{portal}: no address")))?;
        let iser = IserConfig::default();
        let engine = Box::new(Engine::new(cfg, iser, entropy, now()));
        let control = engine.control_region_len();
        let control = u32::try_from(control)
            .ok()
            .filter(|c| c.checked_add(DATA_AREA).is_some())
            .ok_or_else(|| Error::Other("iSER control region too large".into()))?;
        let spec = QueueSpec {
            region_len: (control + DATA_AREA) as usize,
            send_depth: u32::from(iser.send_window) * 2,
            recv_depth: u32::from(iser.recv_depth),
            remote_access: false,
            mode: CompletionMode::Event,
        };
        let conn = Connection::resolve(addr, &spec, timeout).map_err(|e| verbs_error(portal, e))?;
        let mut link = IserLink {
            conn,
            engine,
            area: DataArea::new(control, DATA_AREA),
            pieces: vec![None; MAX_TASKS],
            events: Vec::new(),
            who: portal.to_string(),
        };
        // The receives go first: the target may send as soon as it accepted. Anything else the
        // engine has waits for the connection.
        let mut later = VecDeque::new();
        let t = now();
        while let Some(op) = link.engine.poll_op(link.conn.region(), t) {
            match op {
                DmOp::PostRecv { .. } => link.post(op),
                other => later.push_back(other),
            }
        }
        let mut ours = [0u8; 4];
        let _ = CmPrivateData::LINUX_INITIATOR.emit(&mut ours);
        let responder = link.conn.max_rd_atom().max(1);
        let accepted = link
            .conn
            .connect(
                &ConnectParams {
                    private_data: &ours,
                    initiator_depth: 1,
                    responder_resources: responder,
                },
                timeout,
            )
            .map_err(|e| verbs_error(portal, e))?;
        // A target that sends no iSER CM header answers with absolute addressing as well.
        let peer = CmPrivateData::parse(&accepted.private_data).unwrap_or(CmPrivateData {
            zbva_not_supported: true,
            send_inv_not_supported: false,
        });
        log::debug!(
            "iser://{portal}: connected (target CM flags {peer:?}, {} RDMA Reads towards us)",
            accepted.responder_resources
        );
        link.engine.connected(peer, now());
        for op in later {
            link.post(op);
        }
        Ok(link)
    }

    fn post(&mut self, op: DmOp) {
        log::trace!("iser://{}: post {op:?}", self.who);
        if let Err(e) = self.conn.post(op) {
            log::warn!("iser://{}: posting {op:?}: {e}", self.who);
        }
    }

    /// The session engine.
    pub fn session(&self) -> &InitiatorConn<'static, MAX_TASKS> {
        self.engine.session()
    }

    /// The session engine, for logout.
    pub fn session_mut(&mut self) -> &mut InitiatorConn<'static, MAX_TASKS> {
        self.engine.session_mut()
    }

    /// Submits a command: takes a piece of the data area, copies `write` into it, registers it
    /// (the STag goes in the iSER header).
    pub fn submit(
        &mut self,
        req: &ScsiRequest<'_>,
        write: Option<&[u8]>,
    ) -> Result<TaskHandle, SubmitFail> {
        let len = req.read_len.max(req.write_len);
        let buf = if len > 0 {
            if len > self.area.len() {
                return Err(SubmitFail::Failed(Error::Other(format!(
                    "an I/O of {len} bytes is larger than the iSER data area ({} bytes)",
                    self.area.len()
                ))));
            }
            let offset = self.area.alloc(len).ok_or(SubmitFail::Busy)?;
            BufRef { offset, len }
        } else {
            BufRef { offset: 0, len: 0 }
        };
        if let Some(w) = write {
            let at = buf.offset as usize;
            if let Some(dst) = self.conn.region().get_mut(at..at + w.len()) {
                dst.copy_from_slice(w);
            }
        }
        let (_, mut registrar) = self.conn.split();
        match self.engine.submit(req, buf, &mut registrar) {
            Ok(task) => {
                if len == 0 {
                    return Ok(task);
                }
                if let Some(p) = self.pieces.get_mut(task.index()) {
                    *p = Some(Piece {
                        buf,
                        read: req.read_len > 0,
                    });
                }
                Ok(task)
            }
            Err(e) => {
                if len > 0 {
                    self.area.free(buf.offset);
                }
                Err(match e {
                    IserSubmitError::TooManyTasks => SubmitFail::Busy,
                    e => SubmitFail::Failed(Error::Other(format!("submit: {e:?}"))),
                })
            }
        }
    }

    /// Posts what the engine has, waits a little for completions and hands them over, runs
    /// timers; read data of finished commands goes to `host`.
    pub fn pump(&mut self, host: &mut Host, now: impl Fn() -> Instant) -> Result<(), Error> {
        let t = now();
        while let Some(op) = self.engine.poll_op(self.conn.region(), t) {
            self.post(op);
        }
        let mut events = std::mem::take(&mut self.events);
        events.clear();
        self.conn
            .poll(&mut events)
            .map_err(|e| verbs_error(&self.who, e))?;
        if events.is_empty() && !self.conn.is_disconnected() {
            let wait = match self.engine.poll_timeout() {
                Some(due) => Duration::from_micros(due.0.saturating_sub(t.0)).min(MAX_WAIT),
                None => MAX_WAIT,
            };
            self.conn
                .wait(wait.max(Duration::from_micros(100)))
                .map_err(|e| verbs_error(&self.who, e))?;
            self.conn
                .poll(&mut events)
                .map_err(|e| verbs_error(&self.who, e))?;
        }
        let before = host.done.len();
        for ev in events.drain(..) {
            log::trace!("iser://{}: {ev:?}", self.who);
            let t = now();
            let (region, mut registrar) = self.conn.split();
            self.engine
                .handle_event(ev, region, &mut registrar, host, t);
        }
        self.events = events;
        let t = now();
        if self.engine.poll_timeout().is_some_and(|due| due <= t) {
            let (_, mut registrar) = self.conn.split();
            self.engine.handle_timeout(t, &mut registrar, host);
        }
        self.collect(host, before);
        if self.conn.is_disconnected() && !self.engine.session().is_closed() {
            let (region, mut registrar) = self.conn.split();
            self.engine
                .handle_event(DmEvent::Disconnected, region, &mut registrar, host, now());
            self.collect(host, before);
        }
        Ok(())
    }

    /// Moves the read data of commands finished since `host.done[from]` out of the region and
    /// returns their pieces. Over iSER no Data-In PDU counts the bytes: the target RDMA Wrote
    /// the expected length less the SCSI Response's underflow residual (RFC 7145 §7.3.5).
    fn collect(&mut self, host: &mut Host, from: usize) {
        for (slot, result) in host.done.iter_mut().skip(from) {
            let Some(piece) = self.pieces.get_mut(*slot).and_then(Option::take) else {
                continue;
            };
            if piece.read {
                let n = match result {
                    Ok(s) => {
                        let missing = match s.residual {
                            Residual::Underflow(u) => u,
                            _ => 0,
                        };
                        s.read_bytes = piece.buf.len.saturating_sub(missing);
                        s.read_bytes as usize
                    }
                    Err(_) => 0,
                };
                if host.discard_reads {
                    self.area.free(piece.buf.offset);
                    continue;
                }
                let at = piece.buf.offset as usize;
                if let (Some(dst), Some(src)) =
                    (host.bufs.get_mut(*slot), self.conn.region().get(at..at + n))
                {
                    dst.clear();
                    dst.extend_from_slice(src);
                }
            }
            self.area.free(piece.buf.offset);
        }
    }

    /// Memory regions still registered for the target (0 once every command ended).
    pub fn registrations(&self) -> usize {
        self.conn.registrations()
    }
}
