//! What a target connection has to send, queued in order, and how each item becomes a PDU in the
//! caller's buffer (RFC 7143 §11: BHS, data segment, padding, digests).

use crate::scsi::Completion;
use crate::wire::{Lun, RejectReason, BHS_LEN};

/// Longest NOP-Out ping data we echo (RFC 7143 §11.19: the NOP-In carries the NOP-Out's data).
pub const PING_DATA_MAX: usize = 4096;

/// One thing to send. Items that carry status take the next StatSN when they are written.
#[derive(Clone, Copy, Debug)]
pub(crate) enum TxItem {
    /// The pending Login Response (its text lives in the login state).
    LoginResponse,
    /// The pending Text Response (its text lives in the text state).
    TextResponse,
    /// SCSI Response for a command that found no free task slot.
    ScsiResponse {
        itt: u32,
        completion: Completion,
        /// Bytes of the data phase done, for ExpDataSN (reads: Data-In PDUs sent).
        exp_data_sn: u32,
    },
    /// NOP-In answering a NOP-Out (data echoed from the ping buffer).
    NopInEcho { itt: u32, lun: Lun, data_len: u16 },
    /// NOP-In ping asking the initiator for a NOP-Out (keepalive).
    NopInPing { ttt: u32 },
    /// Task Management Function Response.
    TmfResponse { itt: u32, response: u8 },
    /// Logout Response; the connection closes once it is written.
    LogoutResponse { itt: u32, response: u8 },
    /// Reject, carrying the offending PDU's header.
    Reject {
        reason: RejectReason,
        header: [u8; BHS_LEN],
        data_sn: u32,
    },
}

/// Fixed-capacity FIFO of [`TxItem`]s.
#[derive(Debug)]
pub(crate) struct TxQueue<const N: usize> {
    items: [Option<TxItem>; N],
    head: usize,
    len: usize,
}

impl<const N: usize> TxQueue<N> {
    pub(crate) fn new() -> Self {
        TxQueue {
            items: [None; N],
            head: 0,
            len: 0,
        }
    }

    /// Appends `item`; false when full.
    pub(crate) fn push(&mut self, item: TxItem) -> bool {
        if self.len >= N {
            return false;
        }
        let at = self.head.wrapping_add(self.len).checked_rem(N).unwrap_or(0);
        if let Some(slot) = self.items.get_mut(at) {
            *slot = Some(item);
            self.len = self.len.wrapping_add(1);
            true
        } else {
            false
        }
    }

    pub(crate) fn front(&self) -> Option<TxItem> {
        if self.len == 0 {
            return None;
        }
        self.items.get(self.head).copied().flatten()
    }

    pub(crate) fn pop(&mut self) -> Option<TxItem> {
        let item = self.front()?;
        if let Some(slot) = self.items.get_mut(self.head) {
            *slot = None;
        }
        self.head = self.head.wrapping_add(1).checked_rem(N).unwrap_or(0);
        self.len = self.len.wrapping_sub(1);
        Some(item)
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.len == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queue_is_fifo_and_bounded() {
        let mut q = TxQueue::<2>::new();
        assert!(q.push(TxItem::LoginResponse));
        assert!(q.push(TxItem::TextResponse));
        assert!(!q.push(TxItem::LoginResponse));
        assert!(matches!(q.pop(), Some(TxItem::LoginResponse)));
        assert!(q.push(TxItem::NopInPing { ttt: 7 }));
        assert!(matches!(q.pop(), Some(TxItem::TextResponse)));
        assert!(matches!(q.pop(), Some(TxItem::NopInPing { ttt: 7 })));
        assert!(q.pop().is_none());
        assert!(q.is_empty());
    }
}
