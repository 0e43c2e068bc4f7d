//! The transports under a session: iSCSI over TCP ([`tcp`]) or iSER over RDMA ([`iser`]), behind
//! one [`Link`] so that everything above the datamover is the same code for both.

pub mod area;
pub mod iser;
pub mod tcp;
pub mod wake;

use std::time::Duration;

use iser_core::session::initiator::{InitiatorConfig, InitiatorConn, ScsiRequest, TaskHandle};
use iser_core::time::Instant;

use crate::session::{Error, Host, MAX_TASKS};
use crate::url::Transport;

pub use self::iser::SubmitFail;

/// A connection with its session engine.
#[derive(Debug)]
pub enum Link {
    Tcp(tcp::TcpLink),
    Iser(Box<iser::IserLink>),
}

impl Link {
    /// Connects to `portal` over `transport`; the login starts at once.
    pub fn open(
        transport: Transport,
        portal: &str,
        cfg: &InitiatorConfig<'static>,
        entropy: [u8; 32],
        now: impl Fn() -> Instant,
        timeout: Duration,
    ) -> Result<Link, Error> {
        Ok(match transport {
            Transport::Tcp => Link::Tcp(tcp::TcpLink::open(portal, cfg, entropy, timeout)?),
            Transport::Iser => Link::Iser(Box::new(iser::IserLink::open(
                portal, cfg, entropy, now, timeout,
            )?)),
        })
    }

    /// The session engine.
    pub fn session(&self) -> &InitiatorConn<'static, MAX_TASKS> {
        match self {
            Link::Tcp(l) => &l.conn,
            Link::Iser(l) => l.session(),
        }
    }

    /// The session engine, for logout.
    pub fn session_mut(&mut self) -> &mut InitiatorConn<'static, MAX_TASKS> {
        match self {
            Link::Tcp(l) => &mut l.conn,
            Link::Iser(l) => l.session_mut(),
        }
    }

    /// Submits a command. TCP takes the write data from `host.bufs` when the PDUs go out (the
    /// caller puts it there right after); iSER copies `write` into its registered region now.
    pub fn submit(
        &mut self,
        req: &ScsiRequest<'_>,
        write: Option<&[u8]>,
    ) -> Result<TaskHandle, SubmitFail> {
        match self {
            Link::Tcp(l) => l.submit(req).map_err(SubmitFail::Failed),
            Link::Iser(l) => l.submit(req, write),
        }
    }

    /// Lets the next reads sleep until some of `in_flight` tasks, none answering with fewer
    /// than `smallest_answer` bytes, can have been answered (TCP, [`wake`]; iSER completions
    /// need no such hint). 0 tasks: wake for any input.
    pub fn wake_after(&mut self, in_flight: usize, smallest_answer: usize) {
        if let Link::Tcp(l) = self {
            l.wake_after(in_flight, smallest_answer);
        }
    }

    /// Moves data both ways once, waiting a little for input; runs timers.
    pub fn pump(&mut self, host: &mut Host, now: impl Fn() -> Instant) -> Result<(), Error> {
        match self {
            Link::Tcp(l) => l.pump(host, now),
            Link::Iser(l) => l.pump(host, now),
        }
    }
}
