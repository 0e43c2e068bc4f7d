//! `Conn<LoggedIn>`: full feature phase (RFC 7143 §4.2 "Full Feature Phase"). Only here can
//! tasks begin; a target answers a late iSER Hello here (RFC 7145 §9.4).

use super::hello::answer_hello;
use super::stage::{Closing, LoggedIn};
use super::{Conn, TaskToken};
use crate::wire::{HelloReplyRepr, HelloRepr};

/// `begin_task` refused: the connection already has `max_tasks` outstanding.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct TooManyTasks;

impl<R> Conn<LoggedIn, R> {
    /// Start a task (a SCSI command, TMF, ...) on this connection. The token must come back to
    /// [`end_task`](Self::end_task) (here or after `close`) before the connection can be
    /// released.
    pub fn begin_task(&mut self) -> Result<TaskToken, TooManyTasks> {
        if self.outstanding >= self.params.max_tasks {
            return Err(TooManyTasks);
        }
        self.outstanding = self.outstanding.checked_add(1).ok_or(TooManyTasks)?;
        Ok(TaskToken {
            conn_id: self.params.conn_id,
        })
    }

    /// A task finished. A token from another connection is handed back.
    pub fn end_task(&mut self, token: TaskToken) -> Result<(), TaskToken> {
        self.retire(token)
    }

    /// Target side: the answer to a Hello that arrived in full feature phase (RFC 7145 §9.4):
    /// the highest common version and an iSER-ORD capped by the initiator's iSER-IRD, or a
    /// reject when no version is common. An initiator never receives a Hello; the session layer
    /// treats one as a protocol error before calling this.
    pub const fn answer_hello(&self, peer: HelloRepr) -> HelloReplyRepr {
        answer_hello(&self.params, peer)
    }

    /// Start disconnecting (`it_*_conn_disconnect`): no new tasks; outstanding ones drain.
    pub fn close(self) -> Conn<Closing, R> {
        self.into_stage()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::panic)]
mod tests {
    use super::super::*;
    use super::TooManyTasks;
    use crate::time::Instant;
    use crate::wire::{CmPrivateData, HelloReplyRepr, HelloRepr};

    fn logged_in(mut p: ConnParams) -> Conn<LoggedIn, u32> {
        p.send_hello = false;
        match Conn::new(p, 42)
            .connect(CmPrivateData::default())
            .enable_datamover(Instant(0))
        {
            Enabled::LoggedIn(c) => c,
            Enabled::HelloSent(_) => panic!("expected LoggedIn"),
        }
    }

    #[test]
    fn test_logged_in_begin_end_task() {
        let mut c = logged_in(ConnParams::target(1));
        let a = c.begin_task().unwrap();
        let b = c.begin_task().unwrap();
        assert_eq!(c.outstanding(), 2);
        c.end_task(a).unwrap();
        c.end_task(b).unwrap();
        assert_eq!(c.outstanding(), 0);
    }

    #[test]
    fn test_logged_in_begin_task_limit() {
        let mut p = ConnParams::target(1);
        p.max_tasks = 1;
        let mut c = logged_in(p);
        let t = c.begin_task().unwrap();
        assert_eq!(c.begin_task(), Err(TooManyTasks));
        c.end_task(t).unwrap();
        assert!(c.begin_task().is_ok());
    }

    #[test]
    fn test_logged_in_end_task_foreign_token() {
        let mut a = logged_in(ConnParams::target(1));
        let mut b = logged_in(ConnParams::target(2));
        let t = b.begin_task().unwrap();
        let t = a.end_task(t).unwrap_err();
        assert_eq!(a.outstanding(), 0);
        assert_eq!(b.outstanding(), 1);
        b.end_task(t).unwrap();
    }

    #[test]
    fn test_logged_in_answer_hello_common_version() {
        let c = logged_in(ConnParams {
            min_version: 1,
            max_version: 2,
            ord: 16,
            ..ConnParams::target(1)
        });
        let r = c.answer_hello(HelloRepr {
            max_ver: 3,
            min_ver: 1,
            iser_ird: 4,
        });
        assert_eq!(
            r,
            HelloReplyRepr {
                reject: false,
                max_ver: 2,
                cur_ver: 2,
                iser_ord: 4
            }
        );
    }

    #[test]
    fn test_logged_in_answer_hello_no_common_version_rejects() {
        let c = logged_in(ConnParams::target(1));
        let r = c.answer_hello(HelloRepr {
            max_ver: 3,
            min_ver: 2,
            iser_ird: 4,
        });
        assert!(r.reject);
        assert_eq!(r.max_ver, ISER_VERSION);
        assert_eq!(c.stage(), StageKind::LoggedIn, "answering changes nothing");
    }

    #[test]
    fn test_logged_in_close_keeps_outstanding() {
        let mut c = logged_in(ConnParams::target(1));
        let t = c.begin_task().unwrap();
        let c = c.close();
        assert_eq!(c.outstanding(), 1);
        assert!(!c.drain_done());
        drop(t);
    }
}
