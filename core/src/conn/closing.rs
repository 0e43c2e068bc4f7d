//! `Conn<Closing>`: disconnecting (DESIGN §3 `it_*_conn_disconnect`: CLOSING → close channel →
//! CLOSED). Outstanding tasks drain; then the resources are released.

use super::stage::Closing;
use super::{Conn, TaskToken};

impl<R> Conn<Closing, R> {
    /// A task finished while closing. A token from another connection is handed back.
    pub fn end_task(&mut self, token: TaskToken) -> Result<(), TaskToken> {
        self.retire(token)
    }

    /// Every task has ended; [`into_resources`](Self::into_resources) will succeed.
    pub const fn drain_done(&self) -> bool {
        self.outstanding == 0
    }

    /// Release the connection and get the resources back (`it_ini_conn_destroy`). While tasks
    /// are outstanding the connection is handed back unchanged.
    pub fn into_resources(self) -> Result<R, Self> {
        if self.drain_done() {
            debug!("conn {}: released", self.params.conn_id);
            Ok(self.resources)
        } else {
            Err(self)
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::panic)]
mod tests {
    use super::super::*;
    use crate::time::Instant;
    use crate::wire::CmPrivateData;

    #[test]
    fn test_closing_drains_then_releases() {
        let mut c = match Conn::new(ConnParams::target(5), 99u64)
            .connect(CmPrivateData::default())
            .enable_datamover(Instant(0))
        {
            Enabled::LoggedIn(c) => c,
            Enabled::HelloSent(_) => panic!(),
        };
        let t1 = c.begin_task().unwrap();
        let t2 = c.begin_task().unwrap();
        let mut c = c.close();
        assert_eq!(c.stage(), StageKind::Closing);
        c.end_task(t1).unwrap();
        let mut c = c.into_resources().unwrap_err();
        assert_eq!(c.outstanding(), 1);
        c.end_task(t2).unwrap();
        assert!(c.drain_done());
        assert_eq!(c.into_resources().unwrap(), 99);
    }
}
