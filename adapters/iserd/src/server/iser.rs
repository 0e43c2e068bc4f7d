//! iSER connections (RFC 7145): an RDMA CM listener beside a portal's TCP listener, and one
//! thread per RDMA connection driving the core's `IserTarget` through the verbs adapter
//! (`iser-verbs`): post what the engine asks for, feed it completions and CM events, run its
//! timers, and on the way out flush every posted work request back to it.

use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use iser_core::dm::iser::{IserConfig, IserError, IserTarget};
use iser_core::dm::{DmEvent, DmOp, WcStatus};
use iser_core::session::CloseReason;
use iser_core::time::Instant;
use iser_core::wire::CmPrivateData;
use iser_verbs::{AcceptParams, CompletionMode, ConnectRequest, Connection, Listener, QueueSpec};

use super::tcp::{entropy, target_config, TASKS};
use super::{lock, Connections};
use crate::daemon::backend::ConnBackend;
use crate::daemon::registry::Closer;
use crate::daemon::Daemon;

/// Registered buffers per connection: the receive ring, two kept for control messages, and the
/// rest for RDMA Reads and Writes in flight.
pub const BUFS: usize = 96;
/// Bytes of each registered buffer: the unit of RDMA Reads and Writes. The Linux initiator's
/// largest command is 512 KiB (ib_iser max_sectors 1024), so one of its commands moves with one
/// RDMA operation and one `pread`/`pwrite`; the 512 bytes hold a control message's headers.
const BUF_SIZE: u32 = (512 << 10) + 512;
/// Receives kept posted per connection. The engine grants a CmdSN window of this less the four
/// it keeps for immediate PDUs: 36 commands, so an initiator's queue depth of 32 is not held
/// back (the default 32 gave 28).
const RECV_DEPTH: u16 = 40;
/// Longest the connection thread sleeps without looking at the shutdown flag.
const MAX_WAIT: Duration = Duration::from_millis(200);
/// How long teardown waits for the device to hand back every posted work request.
const FLUSH_TIMEOUT: Duration = Duration::from_secs(5);
/// Pending connect requests the CM queues for us.
const BACKLOG: i32 = 64;
/// Stack of a connection thread (the engine is built on it before it is boxed).
const STACK: usize = 8 << 20;

type Engine = IserTarget<TASKS, BUFS>;

/// How connection threads wait for completions: `ISERD_RDMA_POLL=busy` spins (one CPU per
/// connection, lowest latency); anything else sleeps on a completion channel.
fn completion_mode() -> CompletionMode {
    match std::env::var("ISERD_RDMA_POLL").as_deref() {
        Ok("busy") => CompletionMode::BusyPoll,
        _ => CompletionMode::Event,
    }
}

/// An RDMA CM listener on `addr` (the TCP listener's address and port: the two port spaces are
/// separate).
pub fn listen(addr: SocketAddr) -> Result<Listener, iser_verbs::Error> {
    Listener::bind(addr, BACKLOG)
}

/// Takes connect requests until shutdown; each is served on its own thread.
pub(super) fn accept_loop(
    listener: Listener,
    tag: u16,
    daemon: Arc<Daemon>,
    conns: Arc<Connections>,
) {
    let addr = listener.local_addr();
    while !daemon.is_shutting_down() {
        let req = match listener.get_request(MAX_WAIT) {
            Ok(Some(r)) => r,
            Ok(None) => continue,
            Err(e) => {
                log::warn!("iSER listener {addr}: {e}");
                std::thread::sleep(Duration::from_millis(100));
                continue;
            }
        };
        let id = conns.next_id.fetch_add(1, Ordering::Relaxed);
        let d = daemon.clone();
        let spawned = std::thread::Builder::new()
            .name(format!("iser conn {id}"))
            .stack_size(STACK)
            .spawn(move || serve(d, req, tag));
        let mut threads = lock(&conns.threads);
        threads.retain(|h| !h.is_finished());
        match spawned {
            Ok(h) => threads.push(h),
            Err(e) => log::error!("cannot start an iSER connection thread: {e}"),
        }
    }
}

/// The iSER CM private data we answer with: absolute addressing (every real initiator sets
/// "zero-based virtual addressing not supported"), and Send with Invalidate unless the peer
/// cannot take it.
fn accept_private_data(peer: &CmPrivateData) -> [u8; 4] {
    let ours = CmPrivateData {
        zbva_not_supported: true,
        send_inv_not_supported: peer.send_inv_not_supported,
    };
    let mut buf = [0u8; 4];
    let _ = ours.emit(&mut buf);
    buf
}

fn hex(b: &[u8]) -> String {
    b.iter().take(8).map(|x| format!("{x:02x}")).collect()
}

/// Serves one connect request until the connection ends.
pub fn serve(daemon: Arc<Daemon>, req: ConnectRequest, group_tag: u16) {
    let peer = req.peer_addr();
    let local = req.local_addr();
    let who = peer.map_or_else(|| "?".to_owned(), |p| p.to_string());
    let peer_cm = match CmPrivateData::parse(req.private_data()) {
        Ok(p) => p,
        Err(e) => {
            log::warn!(
                "iSER connect from {who}: bad CM private data [{}] ({e:?}); rejected",
                hex(req.private_data())
            );
            let _ = req.reject(&[]);
            return;
        }
    };
    let config = IserConfig {
        max_rdma_reads: IserConfig::default()
            .max_rdma_reads
            .min(u16::from(req.initiator_depth()))
            .max(1),
        recv_depth: RECV_DEPTH,
        buf_size: BUF_SIZE,
        ..IserConfig::default()
    };
    let region_len = BUFS.saturating_mul(config.buf_size as usize);
    let spec = QueueSpec {
        region_len,
        send_depth: BUFS as u32,
        recv_depth: u32::from(config.recv_depth),
        remote_access: false,
        mode: completion_mode(),
    };
    let mut conn = match Connection::new(req, &spec) {
        Ok(c) => c,
        Err(e) => {
            log::warn!("iSER connect from {who}: {e}; rejected");
            return;
        }
    };
    let config = IserConfig {
        max_rdma_reads: config
            .max_rdma_reads
            .min(u16::from(conn.max_init_rd_atom()).max(1)),
        ..config
    };
    let engine = Box::new(Engine::new(
        &target_config(&daemon.config.limits),
        config,
        peer_cm,
        entropy(),
        daemon.now(),
    ));
    if engine.region_len() > conn.region().len() {
        log::error!("iSER connect from {who}: engine wants a larger region; rejected");
        return;
    }
    let close = Arc::new(AtomicBool::new(false));
    let for_closer = close.clone();
    let make_closer = move || -> Option<Closer> {
        let flag = for_closer.clone();
        Some(Box::new(move || flag.store(true, Ordering::SeqCst)))
    };
    let local = local.unwrap_or_else(|| SocketAddr::from(([0, 0, 0, 0], 0)));
    let backend = ConnBackend::new(
        daemon.clone(),
        peer.map_or(IpAddr::from([0, 0, 0, 0]), |p| p.ip()),
        local,
        group_tag,
        Some(Box::new(make_closer)),
    );
    let mut c = IserConn {
        daemon,
        conn,
        engine,
        backend,
        close,
        who,
        events: Vec::new(),
        ops: Vec::new(),
        recvs: std::collections::HashMap::new(),
        logged_in: false,
        linger_until: None,
    };
    if let Err(e) = c.start(&peer_cm, config.max_rdma_reads) {
        log::warn!("iSER connect from {}: {e}", c.who);
        return;
    }
    log::debug!(
        "iSER connection from {} to {local} (CM flags [{}], RDMA Reads {})",
        c.who,
        hex(&accept_private_data(&peer_cm)),
        config.max_rdma_reads
    );
    let result = c.run();
    c.finish(result);
}

/// A one-line picture of an iSER message for trace logs: the iSER opcode, and for iSCSI
/// control PDUs the opcode, flags, ITT and (for Login/Text) the keys.
fn describe(msg: &[u8]) -> String {
    let iser_op = msg.first().map_or(0, |b| b >> 4);
    let Some(bhs) = msg.get(28..76) else {
        return format!("iSER op {iser_op:#x}, {} bytes", msg.len());
    };
    let op = bhs[0] & 0x3f;
    let flags = bhs[1];
    let dlen = u32::from_be_bytes([0, bhs[5], bhs[6], bhs[7]]) as usize;
    let itt = u32::from_be_bytes([bhs[16], bhs[17], bhs[18], bhs[19]]);
    let sn = |i: usize| u32::from_be_bytes([bhs[i], bhs[i + 1], bhs[i + 2], bhs[i + 3]]);
    let mut s = format!(
        "iSER {:#04x} op {op:#04x} flags {flags:#04x} itt {itt:#x} dlen {dlen} sn {} {} {}",
        msg[0],
        sn(24),
        sn(28),
        sn(32)
    );
    if matches!(op, 0x03 | 0x04 | 0x23 | 0x24) {
        let data = msg.get(76..76 + dlen).unwrap_or_default();
        let text: Vec<String> = data
            .split(|b| *b == 0)
            .filter(|k| !k.is_empty())
            .map(|k| String::from_utf8_lossy(k).into_owned())
            .collect();
        s.push_str(&format!(" [{}]", text.join(" ")));
    }
    s
}

struct IserConn {
    daemon: Arc<Daemon>,
    conn: Connection,
    engine: Box<Engine>,
    backend: ConnBackend,
    close: Arc<AtomicBool>,
    who: String,
    events: Vec<DmEvent>,
    /// Work requests gathered for one post.
    ops: Vec<DmOp>,
    /// Posted receive buffers by work request id (for trace logs).
    recvs: std::collections::HashMap<u64, iser_core::dm::BufRef>,
    /// Whether the login has completed (the Login Request limit applies before).
    logged_in: bool,
    /// After a Logout Response: when we stop waiting for the initiator to disconnect first.
    linger_until: Option<Instant>,
}

impl IserConn {
    /// Posts the first receives, then accepts: the initiator sends its Login Request as soon
    /// as it sees the connection established.
    fn start(&mut self, peer_cm: &CmPrivateData, reads: u16) -> Result<(), iser_verbs::Error> {
        self.post_ops(self.daemon.now());
        let private = accept_private_data(peer_cm);
        let reads = u8::try_from(reads).unwrap_or(u8::MAX);
        self.conn.accept(&AcceptParams {
            private_data: &private,
            initiator_depth: reads,
            responder_resources: 0,
        })
    }

    /// Posts everything the engine has, in order, in one go (one doorbell for the send queue).
    fn post_ops(&mut self, now: Instant) {
        let mut ops = std::mem::take(&mut self.ops);
        ops.clear();
        let mut batch = [DmOp::Disconnect; 32];
        loop {
            let n = self
                .engine
                .poll_ops(self.conn.region(), &mut self.backend, now, &mut batch);
            ops.extend_from_slice(&batch[..n]);
            if n < batch.len() {
                break;
            }
        }
        self.defer_disconnect(&mut ops, now);
        if log::log_enabled!(log::Level::Trace) {
            for op in &ops {
                self.trace_op(op);
            }
        }
        if let Err(e) = self.conn.post_all(&ops) {
            log::warn!(
                "iSER {}: posting {} work requests: {e}",
                self.who,
                ops.len()
            );
        }
        self.ops = ops;
    }

    /// The peer and the daemon's clock in ms, for trace lines.
    fn stamp(&self) -> String {
        let us = self.daemon.now().0;
        format!("{} @{}.{:03}ms", self.who, us / 1000, us % 1000)
    }

    fn trace_op(&mut self, op: &DmOp) {
        match *op {
            DmOp::PostRecv { id, buf } => {
                self.recvs.insert(id.0, buf);
            }
            DmOp::Send {
                buf, invalidate, ..
            } => {
                let stamp = self.stamp();
                let start = buf.offset as usize;
                let msg = self
                    .conn
                    .region()
                    .get(start..start + buf.len as usize)
                    .unwrap_or_default();
                log::trace!(
                    "iSER {} -> {} (invalidate {invalidate:x?})",
                    stamp,
                    describe(msg)
                );
            }
            other => log::trace!("iSER {}: {other:?}", self.stamp()),
        }
    }

    fn deliver(&mut self, now: Instant) -> Result<(), iser_verbs::Error> {
        let mut events = std::mem::take(&mut self.events);
        events.clear();
        let polled = self.conn.poll(&mut events);
        for ev in events.drain(..) {
            if log::log_enabled!(log::Level::Trace) {
                let stamp = self.stamp();
                if let DmEvent::Recv { id, len, .. } = ev {
                    if let Some(b) = self.recvs.remove(&id.0) {
                        let start = b.offset as usize;
                        let msg = self
                            .conn
                            .region()
                            .get(start..start + len as usize)
                            .unwrap_or_default();
                        log::trace!("iSER {stamp} <- {}", describe(msg));
                    }
                } else {
                    log::trace!("iSER {stamp}: {ev:?}");
                }
            }
            self.engine
                .handle_event(ev, self.conn.region(), &mut self.backend, now);
        }
        self.events = events;
        polled.map(|_| ())
    }

    /// `limits.max_login_requests`, as for iSCSI/TCP: past it, the connection is closed before
    /// anything more is posted.
    fn check_login_requests(&mut self) {
        let session = self.engine.session();
        self.logged_in |= session.is_full_feature();
        let max = self.daemon.config.limits.max_login_requests;
        if !self.logged_in && !session.is_closed() && session.stats().pdus_in > u64::from(max) {
            log::warn!(
                "iSER {}: login took more than {max} Login Requests (limits.max_login_requests)",
                self.who
            );
            self.close.store(true, Ordering::SeqCst);
        }
    }

    /// After a Logout, holds back the engine's Disconnect for `limits.logout_linger`: the
    /// initiator disconnects first (RFC 7143 §11.15: both ends close), as with tgt. libiscsi
    /// 1.19's iSER transport frees its connection at logout without disconnecting, and a
    /// disconnect event arriving after that is written into freed memory (a heap corruption in
    /// the initiator's process, fixed in libiscsi 1.20); it disconnects only when its process
    /// exits, which the linger waits for.
    fn defer_disconnect(&mut self, ops: &mut Vec<DmOp>, now: Instant) {
        let linger = self.daemon.config.limits.logout_linger;
        if linger.is_zero()
            || self.linger_until.is_some()
            || !ops.iter().any(|op| matches!(op, DmOp::Disconnect))
            || self.engine.session().close_reason() != Some(CloseReason::Logout)
        {
            return;
        }
        ops.retain(|op| !matches!(op, DmOp::Disconnect));
        log::debug!(
            "iSER {}: logged out; the initiator has {} s to disconnect",
            self.who,
            linger.as_secs()
        );
        let micros = u64::try_from(linger.as_micros()).unwrap_or(u64::MAX);
        self.linger_until = Some(Instant(now.0.saturating_add(micros)));
    }

    /// Whether a held-back Disconnect still waits; disconnects when the time is up.
    fn lingers(&mut self, now: Instant) -> bool {
        let Some(until) = self.linger_until else {
            return false;
        };
        if self.conn.is_disconnected() {
            self.linger_until = None;
            log::debug!(
                "iSER {}: the initiator disconnected {} us before its time was up",
                self.who,
                until.saturating_since(now).0
            );
            return false;
        }
        if now < until {
            return true;
        }
        self.linger_until = None;
        log::debug!(
            "iSER {}: the initiator did not disconnect; disconnecting",
            self.who
        );
        let _ = self.conn.disconnect();
        false
    }

    fn run(&mut self) -> Result<(), iser_verbs::Error> {
        let mut told_gone = false;
        loop {
            // One clock read per pass: where the clock source has no vDSO reader (the QEMU
            // guest's HPET), every read is a system call.
            let now = self.daemon.now();
            self.deliver(now)?;
            self.check_login_requests();
            if self.engine.poll_timeout().is_some_and(|t| t <= now) {
                self.engine.handle_timeout(&mut self.backend, now);
            }
            let stop = self.daemon.is_shutting_down() || self.close.load(Ordering::SeqCst);
            if stop && !told_gone {
                told_gone = true;
                let _ = self.conn.disconnect();
                self.engine.handle_event(
                    DmEvent::Disconnected,
                    self.conn.region(),
                    &mut self.backend,
                    now,
                );
            }
            self.post_ops(now);
            if !stop && self.lingers(now) {
                let left = self.linger_until.map_or(0, |t| t.saturating_since(now).0);
                self.conn
                    .wait(Duration::from_micros(left).clamp(Duration::from_millis(1), MAX_WAIT))?;
                continue;
            }
            if self.engine.is_closed() && self.conn.outstanding() == 0 {
                return Ok(());
            }
            if self.engine.is_closed() || self.conn.is_disconnected() {
                // Everything posted comes back flushed; hand it to the engine, then leave.
                let _ = self.conn.disconnect();
                let mut events = Vec::new();
                let drained = self.conn.drain(&mut events, FLUSH_TIMEOUT);
                for ev in events {
                    let now = self.daemon.now();
                    self.engine
                        .handle_event(ev, self.conn.region(), &mut self.backend, now);
                }
                return drained;
            }
            let wait = match self.engine.poll_timeout() {
                Some(t) => Duration::from_micros(t.0.saturating_sub(now.0))
                    .clamp(Duration::from_millis(1), MAX_WAIT),
                None => MAX_WAIT,
            };
            self.conn.wait(wait)?;
        }
    }

    fn finish(mut self, result: Result<(), iser_verbs::Error>) {
        let reason = self.engine.session().close_reason();
        let error = self.engine.error();
        self.engine.handle_event(
            DmEvent::Disconnected,
            self.conn.region(),
            &mut self.backend,
            self.daemon.now(),
        );
        let who = &self.who;
        // Flushed work requests are how every RDMA connection ends, not a failure.
        let flushed = error == Some(IserError::WorkRequest(WcStatus::Flushed));
        let error = error.filter(|_| !flushed);
        match (reason, error, result) {
            (_, _, Err(e)) => log::warn!("iSER {who}: {e}"),
            (Some(CloseReason::Logout), None, _) => log::debug!("iSER {who}: closed after logout"),
            (None, None, _) if flushed => log::debug!("iSER {who}: peer disconnected"),
            (Some(CloseReason::LoginFailed(status)), _, _) => {
                log::warn!("iSER {who}: login failed, status {status:#06x}")
            }
            (_, Some(e), _) => log::warn!("iSER {who}: connection failed: {e:?}"),
            (Some(r), None, _) => log::info!("iSER {who}: connection closed: {r:?}"),
            (None, None, _) => log::debug!("iSER {who}: connection closed"),
        }
        if self.engine.buffers_in_use() != 0 || self.conn.outstanding() != 0 {
            log::warn!(
                "iSER {who}: {} buffers still in use, {} work requests outstanding at teardown",
                self.engine.buffers_in_use(),
                self.conn.outstanding()
            );
        }
        log::debug!("iSER {who}: {:?}", self.engine.session().stats());
    }
}
