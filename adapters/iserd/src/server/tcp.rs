//! One iSCSI/TCP connection on its own thread: a blocking socket with TCP_NODELAY, a receive
//! buffer grown to what the next PDU needs, the core's `TargetConn` fed whole PDUs, output
//! batched into one large send buffer per `write_all`, read timeouts from the engine's timers.

use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::sync::Arc;
use std::time::Duration;

use iser_core::session::{CloseReason, TargetConfig, TargetConn, Transmit};

use crate::config::{self, Limits};
use crate::daemon::backend::ConnBackend;
use crate::daemon::registry::Closer;
use crate::daemon::Daemon;

/// Task table size of each connection: the deepest queue the config allows.
pub const TASKS: usize = config::MAX_QUEUE_DEPTH as usize;
/// Bytes of output gathered before one `write_all`.
pub const SEND_BATCH: usize = 1 << 20;
/// Initial receive buffer; grows to the largest PDU the engine asks for.
const RX_INITIAL: usize = 256 << 10;
/// Largest single PDU buffer we are willing to allocate (16 MiB data segment + headers).
const MAX_PDU_BUF: usize = (16 << 20) + (64 << 10);
/// Longest we block in `read` without looking at the shutdown flag.
const MAX_WAIT: Duration = Duration::from_millis(500);

fn us(d: Duration) -> iser_core::time::Duration {
    iser_core::time::Duration(u64::try_from(d.as_micros()).unwrap_or(u64::MAX))
}

/// The engine's configuration from the daemon's limits.
// The struct update keeps this compiling when the core adds fields with defaults.
#[allow(clippy::needless_update)]
pub fn target_config(l: &Limits) -> TargetConfig {
    TargetConfig {
        max_recv_data_segment_length: l.max_recv_data_segment_length,
        max_burst_length: l.max_burst_length,
        first_burst_length: l.first_burst_length,
        initial_r2t: l.initial_r2t,
        immediate_data: l.immediate_data,
        max_outstanding_r2t: l.max_outstanding_r2t,
        queue_depth: l.queue_depth,
        nop_in_interval: l.nop_in_interval.map(us),
        nop_in_timeout: us(l.nop_in_timeout),
        login_timeout: us(l.login_timeout),
        allow_digests: l.allow_digests,
        ..TargetConfig::default()
    }
}

/// 32 bytes from the kernel's random source, for CHAP challenges and the initial StatSN.
fn entropy() -> [u8; 32] {
    let mut e = [0u8; 32];
    let got = std::fs::File::open("/dev/urandom").and_then(|mut f| f.read_exact(&mut e));
    if let Err(err) = got {
        log::warn!("cannot read /dev/urandom ({err}); CHAP challenges fall back to clock entropy");
        let t = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        for (i, b) in e.iter_mut().enumerate() {
            *b = (t >> ((i % 16) * 8)) as u8 ^ (i as u8).wrapping_mul(0x9d);
        }
    }
    e
}

type Engine = TargetConn<TASKS>;

struct Conn {
    daemon: Arc<Daemon>,
    stream: TcpStream,
    peer: SocketAddr,
    engine: Box<Engine>,
    backend: ConnBackend,
    rx: Vec<u8>,
    rx_start: usize,
    rx_end: usize,
    tx: Vec<u8>,
    read_timeout: Option<Duration>,
}

/// Serves one accepted connection until it closes; returns when the socket is done.
pub fn serve(daemon: Arc<Daemon>, stream: TcpStream, group_tag: u16) {
    let peer = stream
        .peer_addr()
        .unwrap_or_else(|_| SocketAddr::from(([0, 0, 0, 0], 0)));
    let local = match stream.local_addr() {
        Ok(a) => a,
        Err(e) => {
            log::warn!("connection from {peer}: getsockname failed: {e}");
            return;
        }
    };
    if let Err(e) = stream.set_nodelay(true) {
        log::debug!("{peer}: TCP_NODELAY: {e}");
    }
    let for_closer = stream.try_clone().ok();
    let make_closer = move || -> Option<Closer> {
        let s = for_closer.as_ref()?.try_clone().ok()?;
        Some(Box::new(move || {
            let _ = s.shutdown(Shutdown::Both);
        }))
    };
    let backend = ConnBackend::new(
        daemon.clone(),
        local,
        group_tag,
        Some(Box::new(make_closer)),
    );
    let engine = Box::new(Engine::new(
        &target_config(&daemon.config.limits),
        entropy(),
        daemon.now(),
    ));
    log::debug!("connection from {peer} to {local}");
    let mut c = Conn {
        daemon,
        stream,
        peer,
        engine,
        backend,
        rx: vec![0u8; RX_INITIAL],
        rx_start: 0,
        rx_end: 0,
        tx: vec![0u8; SEND_BATCH],
        read_timeout: None,
    };
    let result = c.run();
    c.finish(result);
}

impl Conn {
    fn run(&mut self) -> io::Result<()> {
        loop {
            let progressed = self.process_input();
            self.flush()?;
            if self.engine.is_closed() || self.daemon.is_shutting_down() {
                return Ok(());
            }
            let buffered = self.rx_end.saturating_sub(self.rx_start);
            if progressed && buffered >= self.engine.rx_needed() && buffered > 0 {
                // A whole PDU is waiting that the engine could not take before its output
                // drained: offer it again before blocking.
                continue;
            }
            self.read()?;
            self.run_timers();
        }
    }

    /// Feeds buffered bytes to the engine; true if it consumed any.
    fn process_input(&mut self) -> bool {
        let mut any = false;
        while self.rx_start < self.rx_end {
            let now = self.daemon.now();
            let Some(bytes) = self.rx.get(self.rx_start..self.rx_end) else {
                break;
            };
            let n = self.engine.handle_bytes(bytes, &mut self.backend, now);
            if n == 0 {
                break;
            }
            any = true;
            self.rx_start = self.rx_start.saturating_add(n).min(self.rx_end);
        }
        if self.rx_start == self.rx_end {
            self.rx_start = 0;
            self.rx_end = 0;
        }
        any
    }

    /// Gathers every PDU the engine has into the send buffer, writing it out when full.
    fn flush(&mut self) -> io::Result<()> {
        let mut len = 0usize;
        loop {
            let now = self.daemon.now();
            let Some(room) = self.tx.get_mut(len..) else {
                break;
            };
            match self.engine.poll_transmit(&mut self.backend, now, room) {
                Transmit::Written(0) | Transmit::Idle => break,
                Transmit::Written(n) => len = len.saturating_add(n).min(self.tx.len()),
                Transmit::NeedSpace(n) => {
                    if len > 0 {
                        self.write_out(len)?;
                        len = 0;
                    } else if n > self.tx.len() && n <= MAX_PDU_BUF {
                        self.tx.resize(n, 0);
                    } else {
                        return Err(io::Error::other(format!(
                            "engine asked for {n} bytes of send buffer (have {})",
                            self.tx.len()
                        )));
                    }
                }
            }
        }
        if len > 0 {
            self.write_out(len)?;
        }
        Ok(())
    }

    fn write_out(&mut self, len: usize) -> io::Result<()> {
        let data = self.tx.get(..len).unwrap_or(&[]);
        self.stream.write_all(data)
    }

    /// One blocking read, bounded by the engine's next timer.
    fn read(&mut self) -> io::Result<()> {
        let need = self.engine.rx_needed().max(iser_core::wire::BHS_LEN);
        if need > MAX_PDU_BUF {
            return Err(io::Error::other(format!(
                "peer announced a {need}-byte PDU"
            )));
        }
        // Keep room for the next PDU: compact, then grow.
        if self.rx.len().saturating_sub(self.rx_start) < need || self.rx_end == self.rx.len() {
            self.rx.copy_within(self.rx_start..self.rx_end, 0);
            self.rx_end = self.rx_end.saturating_sub(self.rx_start);
            self.rx_start = 0;
        }
        if self.rx.len() < need {
            self.rx.resize(need, 0);
        }
        let wait = match self.engine.poll_timeout() {
            Some(t) => self
                .daemon
                .to_std(t)
                .saturating_duration_since(std::time::Instant::now())
                .clamp(Duration::from_millis(1), MAX_WAIT),
            None => MAX_WAIT,
        };
        if self.read_timeout != Some(wait) {
            self.stream.set_read_timeout(Some(wait))?;
            self.read_timeout = Some(wait);
        }
        let Some(room) = self.rx.get_mut(self.rx_end..) else {
            return Ok(());
        };
        match self.stream.read(room) {
            Ok(0) => Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "peer closed the connection",
            )),
            Ok(n) => {
                self.rx_end = self.rx_end.saturating_add(n).min(self.rx.len());
                Ok(())
            }
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock
                        | io::ErrorKind::TimedOut
                        | io::ErrorKind::Interrupted
                ) =>
            {
                Ok(())
            }
            Err(e) => Err(e),
        }
    }

    fn run_timers(&mut self) {
        let now = self.daemon.now();
        if self.engine.poll_timeout().is_some_and(|t| t <= now) {
            self.engine.handle_timeout(&mut self.backend, now);
        }
    }

    fn finish(mut self, result: io::Result<()>) {
        let reason = self.engine.close_reason();
        self.engine.connection_lost(&mut self.backend);
        let _ = self.stream.shutdown(Shutdown::Both);
        let peer = self.peer;
        match (reason, result) {
            (Some(CloseReason::Logout), _) => log::debug!("{peer}: closed after logout"),
            (Some(CloseReason::LoginFailed(status)), _) => {
                log::warn!("{peer}: login failed, status {status:#06x}")
            }
            (Some(r), _) => log::warn!("{peer}: connection closed: {r:?}"),
            (None, Err(e)) if e.kind() == io::ErrorKind::UnexpectedEof => {
                log::debug!("{peer}: peer closed the connection")
            }
            (None, Err(e)) => log::warn!("{peer}: connection lost: {e}"),
            (None, Ok(())) => log::debug!("{peer}: closed for shutdown"),
        }
        let s = self.engine.stats();
        log::debug!("{peer}: {s:?}");
    }
}
