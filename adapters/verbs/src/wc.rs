//! Work completions as iser-core sees them: the status mapping, and the tag that tells a receive
//! completion from a send-queue one even when the device reports an error (a failed
//! completion's opcode is undefined, IB spec 11.4.2.1).

use iser_core::dm::{DmEvent, WcStatus, WrId};
use rdma_sys::ibv_wc_status as s;

/// Set in the 64-bit work request id of every receive the adapter posts.
pub const RECV_TAG: u64 = 1 << 63;

/// The core's view of a verbs completion status.
pub fn status_of(status: u32) -> WcStatus {
    match status {
        s::IBV_WC_SUCCESS => WcStatus::Success,
        s::IBV_WC_WR_FLUSH_ERR => WcStatus::Flushed,
        s::IBV_WC_REM_ACCESS_ERR
        | s::IBV_WC_LOC_PROT_ERR
        | s::IBV_WC_LOC_ACCESS_ERR
        | s::IBV_WC_REM_INV_REQ_ERR
        | s::IBV_WC_MW_BIND_ERR => WcStatus::RemoteAccess,
        s::IBV_WC_RNR_RETRY_EXC_ERR => WcStatus::ReceiverNotReady,
        _ => WcStatus::Other,
    }
}

/// The fields of one `ibv_wc` the mapping needs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Completion {
    pub wr_id: u64,
    pub status: u32,
    pub byte_len: u32,
    /// `IBV_WC_WITH_INV` was set; then `invalidated_rkey` is meaningful.
    pub with_inv: bool,
    pub invalidated_rkey: u32,
}

impl Completion {
    /// Whether it completes a receive.
    pub fn is_recv(&self) -> bool {
        self.wr_id & RECV_TAG != 0
    }

    /// The event the engine gets.
    pub fn event(&self) -> DmEvent {
        let id = WrId(self.wr_id & !RECV_TAG);
        let status = status_of(self.status);
        match (self.is_recv(), status) {
            (true, WcStatus::Success) => DmEvent::Recv {
                id,
                len: self.byte_len,
                invalidated: self.with_inv.then_some(self.invalidated_rkey),
            },
            (true, status) => DmEvent::RecvError { id, status },
            (false, status) => DmEvent::Done { id, status },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wc(wr_id: u64, status: u32) -> Completion {
        Completion {
            wr_id,
            status,
            byte_len: 76,
            with_inv: false,
            invalidated_rkey: 0,
        }
    }

    #[test]
    fn receives_sends_and_errors() {
        assert_eq!(
            wc(RECV_TAG | 3, s::IBV_WC_SUCCESS).event(),
            DmEvent::Recv {
                id: WrId(3),
                len: 76,
                invalidated: None
            }
        );
        let mut inv = wc(RECV_TAG | 4, s::IBV_WC_SUCCESS);
        inv.with_inv = true;
        inv.invalidated_rkey = 0x1234;
        assert_eq!(
            inv.event(),
            DmEvent::Recv {
                id: WrId(4),
                len: 76,
                invalidated: Some(0x1234)
            }
        );
        assert_eq!(
            wc(RECV_TAG | 5, s::IBV_WC_WR_FLUSH_ERR).event(),
            DmEvent::RecvError {
                id: WrId(5),
                status: WcStatus::Flushed
            }
        );
        assert_eq!(
            wc(6, s::IBV_WC_SUCCESS).event(),
            DmEvent::Done {
                id: WrId(6),
                status: WcStatus::Success
            }
        );
        assert_eq!(
            wc(7, s::IBV_WC_REM_ACCESS_ERR).event(),
            DmEvent::Done {
                id: WrId(7),
                status: WcStatus::RemoteAccess
            }
        );
    }

    #[test]
    fn statuses() {
        assert_eq!(
            status_of(s::IBV_WC_RNR_RETRY_EXC_ERR),
            WcStatus::ReceiverNotReady
        );
        assert_eq!(status_of(s::IBV_WC_RETRY_EXC_ERR), WcStatus::Other);
        assert_eq!(status_of(9999), WcStatus::Other);
    }
}
