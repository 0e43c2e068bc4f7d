//! `Conn<HelloSent>`: the initiator sent an iSER Hello (RFC 7145 §9.3) and waits at most
//! [`HELLO_TIMEOUT`](super::HELLO_TIMEOUT) for the HelloReply (§9.4).

use super::hello::{check_reply, HelloError};
use super::stage::{Closing, HelloSent, LoggedIn};
use super::{Conn, Step};
use crate::time::Instant;
use crate::wire::{HelloReplyRepr, HelloRepr};

impl<R> Conn<HelloSent, R> {
    /// The Hello to send.
    pub const fn hello_to_send(&self) -> HelloRepr {
        self.params.local_hello()
    }

    /// When the HelloReply is due.
    #[must_use]
    pub const fn poll_timeout(&self) -> Option<Instant> {
        self.hello_deadline
    }

    fn expired(&self, now: Instant) -> bool {
        match self.hello_deadline {
            Some(d) => now >= d,
            None => false,
        }
    }

    /// The HelloReply arrived. Accepted → `LoggedIn`, recording the version and the target's
    /// iSER-ORD. Rejected (RFC 7145 §9.4 Reject flag), an unoffered CurVer, or a reply at/after
    /// the deadline → `Closing` with the reason.
    #[allow(clippy::type_complexity)]
    pub fn handle_hello_reply(
        mut self,
        reply: HelloReplyRepr,
        now: Instant,
    ) -> Result<Conn<LoggedIn, R>, (Conn<Closing, R>, HelloError)> {
        let checked = if self.expired(now) {
            Err(HelloError::Late)
        } else {
            check_reply(&self.params, reply)
        };
        match checked {
            Ok(outcome) => {
                self.hello = Some(outcome);
                self.hello_deadline = None;
                Ok(self.into_stage())
            }
            Err(e) => {
                warn!("conn {}: Hello exchange failed", self.params.conn_id);
                self.hello_deadline = None;
                Err((self.into_stage(), e))
            }
        }
    }

    /// Time passed. Before the deadline nothing happens; at or after it the connection goes to
    /// `Closing` with [`HelloError::HelloTimeout`].
    pub fn handle_timeout(
        mut self,
        now: Instant,
    ) -> Step<Conn<HelloSent, R>, (Conn<Closing, R>, HelloError)> {
        if self.expired(now) {
            warn!("conn {}: no HelloReply in time", self.params.conn_id);
            self.hello_deadline = None;
            Step::Next((self.into_stage(), HelloError::HelloTimeout))
        } else {
            Step::Stay(self)
        }
    }

    /// Give up waiting and disconnect.
    pub fn close(mut self) -> Conn<Closing, R> {
        self.hello_deadline = None;
        self.into_stage()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::panic)]
mod tests {
    use super::super::*;
    use crate::time::{Duration, Instant};
    use crate::wire::{CmPrivateData, HelloReplyRepr};

    const T0: Instant = Instant(10_000);

    fn hello_sent() -> Conn<HelloSent, &'static str> {
        let mut p = ConnParams::initiator(3);
        p.send_hello = true;
        p.ird = 8;
        match Conn::new(p, "qp")
            .connect(CmPrivateData::default())
            .enable_datamover(T0)
        {
            Enabled::HelloSent(c) => c,
            Enabled::LoggedIn(_) => panic!("expected HelloSent"),
        }
    }

    fn ok_reply() -> HelloReplyRepr {
        HelloReplyRepr {
            reject: false,
            max_ver: ISER_VERSION,
            cur_ver: ISER_VERSION,
            iser_ord: 4,
        }
    }

    #[test]
    fn test_hello_sent_reply_ok() {
        let c = hello_sent()
            .handle_hello_reply(ok_reply(), T0 + Duration::from_millis(10))
            .unwrap();
        assert_eq!(c.stage(), StageKind::LoggedIn);
        assert_eq!(
            c.hello_outcome(),
            Some(HelloOutcome {
                version: ISER_VERSION,
                peer_ord: 4
            })
        );
    }

    #[test]
    fn test_hello_sent_reply_rejected() {
        let reply = HelloReplyRepr {
            reject: true,
            ..ok_reply()
        };
        let (c, e) = hello_sent().handle_hello_reply(reply, T0).unwrap_err();
        assert_eq!(e, HelloError::HelloRejected);
        assert_eq!(c.stage(), StageKind::Closing);
        assert_eq!(c.into_resources().unwrap(), "qp");
    }

    #[test]
    fn test_hello_sent_reply_bad_version() {
        for cur in [0u8, 2, 15] {
            let reply = HelloReplyRepr {
                cur_ver: cur,
                max_ver: 15,
                ..ok_reply()
            };
            let (c, e) = hello_sent().handle_hello_reply(reply, T0).unwrap_err();
            assert_eq!(e, HelloError::BadVersion, "CurVer {cur}");
            assert_eq!(c.stage(), StageKind::Closing);
        }
    }

    #[test]
    fn test_hello_sent_reply_late() {
        let (c, e) = hello_sent()
            .handle_hello_reply(ok_reply(), T0 + HELLO_TIMEOUT)
            .unwrap_err();
        assert_eq!(e, HelloError::Late);
        assert_eq!(c.stage(), StageKind::Closing);
    }

    #[test]
    fn test_hello_sent_timeout_before_deadline_stays() {
        let c = hello_sent();
        let just_before = Instant(T0.0 + HELLO_TIMEOUT.0 - 1);
        match c.handle_timeout(just_before) {
            Step::Stay(c) => assert_eq!(c.poll_timeout(), Some(T0 + HELLO_TIMEOUT)),
            Step::Next(_) => panic!("fired early"),
        }
    }

    #[test]
    fn test_hello_sent_timeout_at_deadline_closes() {
        match hello_sent().handle_timeout(T0 + HELLO_TIMEOUT) {
            Step::Next((c, e)) => {
                assert_eq!(e, HelloError::HelloTimeout);
                assert_eq!(c.into_resources().unwrap(), "qp");
            }
            Step::Stay(_) => panic!("did not fire"),
        }
    }

    #[test]
    fn test_hello_sent_close() {
        let c = hello_sent().close();
        assert!(c.drain_done());
    }
}
