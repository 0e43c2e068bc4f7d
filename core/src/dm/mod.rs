//! Datamovers: how a connection's PDUs and SCSI data cross the wire. The session layer asks for
//! data to be put to the initiator or got from it (the illumos IDM ops `it_buf_tx_to_ini` and
//! `it_buf_rx_from_ini`); the iSCSI/TCP datamover answers with Data-In and R2T/Data-Out PDUs
//! inside [`crate::session::TargetConn`], the iSER datamover ([`iser`]) with RDMA operations.
//!
//! The iSER engines speak to an RDMA adapter (verbs on hosts, NIC queues in firmware, an
//! in-memory fabric in tests) through [`DmOp`] out and [`DmEvent`] in. All buffers live in one
//! registered memory region the adapter owns and hands to the engine as a byte slice; a
//! [`BufRef`] names a piece of it by offset.

pub mod iser;

/// A piece of the adapter's registered memory region.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct BufRef {
    /// Byte offset of the piece in the region.
    pub offset: u32,
    /// Length in bytes.
    pub len: u32,
}

/// A remote buffer the peer advertised: STag (rkey) and the virtual address to use. Real
/// initiators set "zero-based virtual addressing not supported", so `addr` is absolute.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct RemoteBuf {
    /// The STag (rkey).
    pub stag: u32,
    /// Virtual address (or offset, with zero-based addressing) of the first byte.
    pub addr: u64,
}

/// Identifies a posted work request in its completion.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct WrId(pub u64);

/// Work an iSER engine asks its RDMA adapter to post.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum DmOp {
    /// Post a receive buffer on the QP's receive queue.
    PostRecv { id: WrId, buf: BufRef },
    /// Send a message (iSER header + iSCSI PDU, or Hello/HelloReply) from `buf`. With
    /// `invalidate`, use Send with Invalidate of that remote STag (RFC 7145 §7.3.4).
    Send {
        id: WrId,
        buf: BufRef,
        invalidate: Option<u32>,
    },
    /// RDMA Write `buf` to the remote buffer (SCSI read data to the initiator).
    RdmaWrite {
        id: WrId,
        buf: BufRef,
        remote: RemoteBuf,
    },
    /// RDMA Read from the remote buffer into `buf` (SCSI write data from the initiator).
    RdmaRead {
        id: WrId,
        buf: BufRef,
        remote: RemoteBuf,
    },
    /// Tear the connection down (disconnect, flush every posted work request).
    Disconnect,
}

/// Completion status of a work request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum WcStatus {
    /// Completed.
    Success,
    /// Flushed because the QP went to the error state (disconnect, earlier failure).
    Flushed,
    /// A remote access error: bad STag, out of bounds, wrong permissions.
    RemoteAccess,
    /// The peer had no receive posted (receiver not ready, retries exhausted).
    ReceiverNotReady,
    /// Any other failure.
    Other,
}

/// Something the RDMA adapter reports to an iSER engine.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum DmEvent {
    /// A receive completed: `len` bytes arrived in the posted buffer; `invalidated` is the STag
    /// the peer invalidated with Send with Invalidate, if any.
    Recv {
        id: WrId,
        len: u32,
        invalidated: Option<u32>,
    },
    /// A Send, RDMA Write or RDMA Read completed (successfully or not).
    Done { id: WrId, status: WcStatus },
    /// A receive completed with an error (flush on disconnect).
    RecvError { id: WrId, status: WcStatus },
    /// The connection is gone.
    Disconnected,
}
