//! `Conn<Connected>`: channel up, login in progress; `enable_datamover` after the final Login
//! Response (DESIGN §3: `it_ini_enable_datamover`, `it_tgt_enable_datamover`).

use super::stage::{Closing, Connected, HelloSent, LoggedIn};
use super::{Conn, Role, HELLO_TIMEOUT};
use crate::time::Instant;
use crate::wire::HelloRepr;

/// Where `enable_datamover` leads.
#[derive(Debug)]
#[must_use]
pub enum Enabled<R> {
    /// Full feature phase right away (target; initiator without Hello).
    LoggedIn(Conn<LoggedIn, R>),
    /// Initiator: send [`Conn::hello_to_send`], then wait for the HelloReply.
    HelloSent(Conn<HelloSent, R>),
}

impl<R> Conn<Connected, R> {
    /// Login succeeded: start the datamover. An initiator with [`send_hello`] goes to `HelloSent`
    /// with a deadline of `now + HELLO_TIMEOUT` (0.5 s); a target, or an initiator without
    /// `send_hello` (as real initiators), goes straight to `LoggedIn`.
    ///
    /// [`send_hello`]: super::ConnParams::send_hello
    pub fn enable_datamover(mut self, now: Instant) -> Enabled<R> {
        if self.params.role == Role::Initiator && self.params.send_hello {
            self.hello_deadline = Some(Instant(now.0.saturating_add(HELLO_TIMEOUT.0)));
            Enabled::HelloSent(self.into_stage())
        } else {
            Enabled::LoggedIn(self.into_stage())
        }
    }

    /// The Hello an initiator will send if it is configured to.
    pub const fn hello_to_send(&self) -> HelloRepr {
        self.params.local_hello()
    }

    /// Login failed or was given up: disconnect. Nothing is outstanding yet, so the `Closing`
    /// connection is drained at once.
    pub fn close(self) -> Conn<Closing, R> {
        self.into_stage()
    }

    /// Tear down at once (e.g. the channel broke during login); the resources come back.
    pub fn abort(self) -> R {
        self.resources
    }
}

impl<R> Enabled<R> {
    /// The stage reached.
    pub const fn stage(&self) -> super::StageKind {
        match self {
            Enabled::LoggedIn(_) => super::StageKind::LoggedIn,
            Enabled::HelloSent(_) => super::StageKind::HelloSent,
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::panic)]
mod tests {
    use super::super::*;
    use crate::wire::CmPrivateData;

    fn connected(params: ConnParams) -> Conn<Connected, u8> {
        Conn::new(params, 7).connect(CmPrivateData::default())
    }

    #[test]
    fn test_connected_enable_target_goes_logged_in() {
        let mut p = ConnParams::target(1);
        p.send_hello = true; // ignored for targets
        match connected(p).enable_datamover(Instant(0)) {
            Enabled::LoggedIn(c) => assert_eq!(c.stage(), StageKind::LoggedIn),
            Enabled::HelloSent(_) => panic!("target never sends Hello"),
        }
    }

    #[test]
    fn test_connected_enable_initiator_without_hello_goes_logged_in() {
        let e = connected(ConnParams::initiator(1)).enable_datamover(Instant(0));
        assert_eq!(e.stage(), StageKind::LoggedIn);
    }

    #[test]
    fn test_connected_enable_initiator_with_hello_goes_hello_sent() {
        let mut p = ConnParams::initiator(1);
        p.send_hello = true;
        let c = connected(p);
        assert_eq!(c.hello_to_send(), p.local_hello());
        match c.enable_datamover(Instant(1_000)) {
            Enabled::HelloSent(c) => {
                assert_eq!(c.poll_timeout(), Some(Instant(1_000 + 500_000)));
                assert_eq!(c.hello_to_send(), p.local_hello());
            }
            Enabled::LoggedIn(_) => panic!("configured to send Hello"),
        }
    }

    #[test]
    fn test_connected_close_is_drained() {
        let c = connected(ConnParams::target(1)).close();
        assert!(c.drain_done());
        assert_eq!(c.into_resources().unwrap(), 7);
    }

    #[test]
    fn test_connected_abort_returns_resources() {
        assert_eq!(connected(ConnParams::target(1)).abort(), 7);
    }

    #[test]
    fn test_allocated_connect_records_peer_flags() {
        let flags = CmPrivateData {
            zbva_not_supported: true,
            send_inv_not_supported: true,
        };
        let c = Conn::new(ConnParams::target(9), ()).connect(flags);
        assert_eq!(c.peer_cm_flags(), flags);
        assert!(!c.peer_cm_flags().zero_based_va());
        assert!(!c.peer_cm_flags().send_with_invalidate());
        assert_eq!(c.conn_id(), 9);
        assert_eq!(c.role(), Role::Target);
    }

    #[test]
    fn test_allocated_abort_returns_resources() {
        let c = Conn::new(ConnParams::initiator(1), [1u8, 2, 3]);
        assert_eq!(c.stage(), StageKind::Allocated);
        assert_eq!(c.abort(), [1, 2, 3]);
    }
}
