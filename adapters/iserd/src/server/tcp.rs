//! One iSCSI/TCP connection on its own thread: a blocking socket with TCP_NODELAY, a receive
//! buffer grown to what the next PDU needs, the core's `TargetConn` fed whole PDUs, output
//! batched into one large send buffer per `write_all`, read timeouts from the engine's timers.

use std::io::{self, Read};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::sync::Arc;
use std::time::Duration;

use embedded_io_adapters::std::FromStd;
use iser_core::session::{CloseReason, TargetConfig, TargetConn};
use iser_tcp::{LinkError, TcpLink};

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
pub(crate) fn entropy() -> [u8; 32] {
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

/// One connection: the socket, the engine and its daemon backend; bytes move through
/// [`iser_tcp::TcpLink`].
struct Conn {
    daemon: Arc<Daemon>,
    stream: FromStd<TcpStream>,
    peer: SocketAddr,
    engine: Box<Engine>,
    backend: ConnBackend,
    read_timeout: Option<Duration>,
    /// Whether the login has completed (the Login Request limit applies before).
    logged_in: bool,
}

/// Serves one accepted connection until it ends (logout, error, peer gone, shutdown).
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
    let mut backend = ConnBackend::new(
        daemon.clone(),
        peer.ip(),
        local,
        group_tag,
        Some(Box::new(make_closer)),
    );
    if let Ok(probe) = stream.try_clone() {
        backend = backend.with_peer_gone(Arc::new(move || peer_closed(&probe)));
    }
    let engine = Box::new(Engine::new(
        &target_config(&daemon.config.limits),
        entropy(),
        daemon.now(),
    ));
    log::debug!("connection from {peer} to {local}");
    let mut rx = vec![0u8; engine.max_rx_pdu_len().clamp(RX_INITIAL, MAX_PDU_BUF)];
    let mut tx = vec![0u8; SEND_BATCH];
    let mut c = Conn {
        daemon,
        stream: FromStd::new(stream),
        peer,
        engine,
        backend,
        read_timeout: None,
        logged_in: false,
    };
    let mut link = TcpLink::new(&mut rx, &mut tx);
    let result = c.run(&mut link);
    c.finish(result);
}

impl Conn {
    fn run(&mut self, link: &mut TcpLink<'_>) -> io::Result<()> {
        loop {
            let now = self.daemon.now();
            let progressed = link.process_input(&mut self.engine, &mut self.backend, now);
            // Checked before answering: the request past the limit gets no response.
            self.logged_in |= self.engine.is_full_feature();
            let max_login = self.daemon.config.limits.max_login_requests;
            if !self.logged_in
                && !self.engine.is_closed()
                && self.engine.stats().pdus_in > u64::from(max_login)
            {
                return Err(io::Error::other(format!(
                    "login took more than {max_login} Login Requests (limits.max_login_requests)"
                )));
            }
            link.flush_to(&mut self.stream, &mut self.engine, &mut self.backend, now)
                .map_err(io_error)?;
            if self.engine.is_closed() || self.daemon.is_shutting_down() {
                return Ok(());
            }
            if progressed && link.input_ready(&self.engine) {
                continue;
            }
            self.set_read_timeout()?;
            match link.read_from(&mut self.stream, &self.engine) {
                Ok(_) => {}
                Err(LinkError::Io(e))
                    if matches!(
                        e.kind(),
                        io::ErrorKind::WouldBlock
                            | io::ErrorKind::TimedOut
                            | io::ErrorKind::Interrupted
                    ) => {}
                Err(e) => return Err(io_error(e)),
            }
            self.run_timers();
        }
    }

    /// The socket's read timeout follows the engine's next timer (keepalive, login timeout).
    fn set_read_timeout(&mut self) -> io::Result<()> {
        let wait = match self.engine.poll_timeout() {
            Some(t) => self
                .daemon
                .to_std(t)
                .saturating_duration_since(std::time::Instant::now())
                .clamp(Duration::from_millis(1), MAX_WAIT),
            None => MAX_WAIT,
        };
        if self.read_timeout != Some(wait) {
            self.stream.inner().set_read_timeout(Some(wait))?;
            self.read_timeout = Some(wait);
        }
        Ok(())
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
        let _ = self.stream.inner().shutdown(Shutdown::Both);
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

/// True when the peer has closed `stream` and nothing unread is left before its EOF (or the
/// connection was reset); never blocks and consumes nothing.
fn peer_closed(stream: &TcpStream) -> bool {
    use std::os::fd::AsRawFd;
    let mut byte = 0u8;
    // SAFETY: `byte` is a valid, writable one-byte buffer for the whole call, and the file
    // descriptor stays open because `stream` is borrowed for the call. MSG_PEEK leaves the
    // data to the connection's thread; MSG_DONTWAIT keeps the call from blocking.
    let n = unsafe {
        libc::recv(
            stream.as_raw_fd(),
            std::ptr::addr_of_mut!(byte).cast(),
            1,
            libc::MSG_PEEK | libc::MSG_DONTWAIT,
        )
    };
    match n {
        0 => true,
        n if n > 0 => false,
        _ => matches!(
            io::Error::last_os_error().raw_os_error(),
            Some(libc::ECONNRESET | libc::EPIPE | libc::ENOTCONN)
        ),
    }
}

/// A link error as an I/O error, for the log line.
fn io_error(e: LinkError<io::Error>) -> io::Error {
    match e {
        LinkError::Io(e) => e,
        LinkError::Eof => {
            io::Error::new(io::ErrorKind::UnexpectedEof, "peer closed the connection")
        }
        LinkError::PduTooLarge { needed, capacity } => io::Error::other(format!(
            "peer announced a {needed}-byte PDU (buffer {capacity})"
        )),
        LinkError::TxBufferTooSmall { needed } => {
            io::Error::other(format!("engine needs a {needed}-byte send buffer"))
        }
        _ => io::Error::other("link error"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;
    use std::net::TcpListener;

    #[test]
    fn peer_closed_sees_an_unread_eof_and_nothing_else() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let mut client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (mut server, _) = listener.accept().unwrap();
        assert!(!peer_closed(&server), "open and idle");
        client.write_all(b"x").unwrap();
        client.shutdown(Shutdown::Write).unwrap();
        std::thread::sleep(Duration::from_millis(20));
        assert!(!peer_closed(&server), "unread data before the EOF");
        let mut byte = [0u8; 1];
        server.read_exact(&mut byte).unwrap();
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        while !peer_closed(&server) {
            assert!(std::time::Instant::now() < deadline, "EOF not seen");
            std::thread::sleep(Duration::from_millis(1));
        }
        assert_eq!(
            server.read(&mut byte).unwrap(),
            0,
            "the EOF is still there to read"
        );
    }
}
