//! iSCSI over TCP (RFC 7143): a blocking socket with a short read timeout around the core's
//! [`InitiatorConn`], which frames and parses the PDUs; reads coalesce answers ([`super::wake`]).

use std::io::{self, Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::time::Duration;

use iser_core::session::initiator::{InitiatorConfig, InitiatorConn, ScsiRequest, TaskHandle};
use iser_core::session::Transmit;
use iser_core::time::Instant;

use super::wake;
use crate::session::{Error, Host, MAX_TASKS};

/// How long a read waits when no answers are expected soon (timers run between reads).
const IDLE_READ_TIMEOUT: Duration = Duration::from_millis(200);

/// One TCP connection and its session engine.
#[derive(Debug)]
pub struct TcpLink {
    stream: TcpStream,
    pub(crate) conn: Box<InitiatorConn<'static, MAX_TASKS>>,
    rx: Vec<u8>,
    rx_len: usize,
    tx: Vec<u8>,
    /// Tasks on the wire and the fewest bytes any of them answers with ([`Self::wake_after`]).
    in_flight: usize,
    smallest_answer: usize,
    /// The socket's receive low-water mark now.
    rcvlowat: usize,
    /// The socket's receive buffer when it opened (autotuning only grows it).
    rcvbuf: usize,
}

impl TcpLink {
    /// Connects to `portal`; the engine starts its login at once.
    pub fn open(
        portal: &str,
        cfg: &InitiatorConfig<'static>,
        entropy: [u8; 32],
        timeout: Duration,
    ) -> Result<TcpLink, Error> {
        let addrs: Vec<_> = portal
            .to_socket_addrs()
            .map_err(|e| Error::Connect {
                portal: portal.to_string(),
                source: e,
            })?
            .collect();
        let mut last = None;
        let mut stream = None;
        for a in addrs {
            match TcpStream::connect_timeout(&a, timeout) {
                Ok(s) => {
                    stream = Some(s);
                    break;
                }
                Err(e) => last = Some(e),
            }
        }
        let stream = stream.ok_or_else(|| Error::Connect {
            portal: portal.to_string(),
            source: last.unwrap_or_else(|| io::Error::other("no address")),
        })?;
        stream.set_nodelay(true).map_err(|e| Error::Io {
            verb: "setsockopt(TCP_NODELAY)",
            source: e,
        })?;
        stream
            .set_read_timeout(Some(IDLE_READ_TIMEOUT))
            .map_err(|e| Error::Io {
                verb: "setsockopt(SO_RCVTIMEO)",
                source: e,
            })?;
        let rcvbuf = wake::rcvbuf(&stream).map_err(|e| Error::Io {
            verb: "getsockopt(SO_RCVBUF)",
            source: e,
        })?;
        let conn = Box::new(InitiatorConn::new(cfg, entropy, Instant(0)));
        let rx_len = conn.max_rx_pdu_len().max(1 << 20);
        Ok(TcpLink {
            stream,
            conn,
            rx: vec![0u8; rx_len],
            rx_len: 0,
            tx: vec![0u8; 1 << 20],
            in_flight: 0,
            smallest_answer: usize::MAX,
            rcvlowat: 1,
            rcvbuf,
        })
    }

    /// Lets reads sleep until some of `in_flight` tasks, none answering with fewer than
    /// `smallest_answer` bytes ([`wake::answer_len`]), can have been answered ([`wake::lowat`]);
    /// 0 tasks: wake for any byte.
    pub fn wake_after(&mut self, in_flight: usize, smallest_answer: usize) {
        self.in_flight = in_flight;
        self.smallest_answer = smallest_answer;
    }

    /// Sets the low-water mark for the next read, once the commands are on the wire: only when
    /// the CmdSN window has room, since a full window may hold commands back (RFC 7143
    /// §4.2.2.1) whose answers the mark would then wait for in vain.
    fn set_wake(&mut self) -> Result<(), Error> {
        let want = if self.conn.window() == 0 {
            1
        } else {
            wake::lowat(
                self.in_flight,
                self.smallest_answer,
                self.rx_len,
                self.rcvbuf,
            )
        };
        if want == self.rcvlowat {
            return Ok(());
        }
        let io = |verb| move |source| Error::Io { verb, source };
        wake::set_rcvlowat(&self.stream, want).map_err(io("setsockopt(SO_RCVLOWAT)"))?;
        if (want > 1) != (self.rcvlowat > 1) {
            let timeout = if want > 1 {
                wake::COALESCE_TIMEOUT
            } else {
                IDLE_READ_TIMEOUT
            };
            self.stream
                .set_read_timeout(Some(timeout))
                .map_err(io("setsockopt(SO_RCVTIMEO)"))?;
        }
        self.rcvlowat = want;
        Ok(())
    }

    /// Submits a command; write data is taken from `host` when its PDUs go out.
    pub fn submit(&mut self, req: &ScsiRequest<'_>) -> Result<TaskHandle, Error> {
        self.conn
            .submit(req)
            .map_err(|e| Error::Other(format!("submit: {e:?}")))
    }

    /// Writes every PDU the connection has ready.
    fn flush(&mut self, host: &mut Host, now: Instant) -> Result<(), Error> {
        let mut len = 0usize;
        loop {
            match self.conn.poll_transmit(now, &mut self.tx[len..], host) {
                Transmit::Written(n) => len += n,
                Transmit::NeedSpace(n) => {
                    if len > 0 {
                        self.write_out(len, host)?;
                        len = 0;
                    }
                    if n > self.tx.len() {
                        self.tx.resize(n, 0);
                    }
                }
                Transmit::Idle => break,
            }
        }
        if len > 0 {
            self.write_out(len, host)?;
        }
        Ok(())
    }

    fn write_out(&mut self, len: usize, host: &mut Host) -> Result<(), Error> {
        self.stream.write_all(&self.tx[..len]).map_err(|e| {
            self.conn.connection_lost(host);
            Error::Io {
                verb: "send",
                source: e,
            }
        })
    }

    /// Sends what is pending, waits a little for input and handles it, runs timers.
    pub fn pump(&mut self, host: &mut Host, now: impl Fn() -> Instant) -> Result<(), Error> {
        self.flush(host, now())?;
        if self.conn.is_closed() {
            return Ok(());
        }
        self.set_wake()?;
        if self.rx_len == self.rx.len() {
            let need = self.conn.rx_needed().max(self.rx.len() * 2);
            self.rx.resize(need, 0);
        }
        match self.stream.read(&mut self.rx[self.rx_len..]) {
            Ok(0) => {
                self.conn.connection_lost(host);
                return Ok(());
            }
            Ok(n) => self.rx_len += n,
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock
                        | io::ErrorKind::TimedOut
                        | io::ErrorKind::Interrupted
                ) => {}
            Err(e) => {
                self.conn.connection_lost(host);
                return Err(Error::Io {
                    verb: "recv",
                    source: e,
                });
            }
        }
        let now = now();
        let used = self.conn.handle_bytes(&self.rx[..self.rx_len], now, host);
        self.rx.copy_within(used..self.rx_len, 0);
        self.rx_len -= used;
        if self.conn.rx_needed() > self.rx.len() {
            self.rx.resize(self.conn.rx_needed(), 0);
        }
        if let Some(t) = self.conn.poll_timeout() {
            if t <= now {
                self.conn.handle_timeout(now, host);
            }
        }
        Ok(())
    }
}
